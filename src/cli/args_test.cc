#include "cli/args.h"

#include <gtest/gtest.h>

namespace sluice::cli {
namespace {

const std::vector<FlagSpec> kSpecs = {
    {"workers", 'w', "N", "workers"},
    {"verbose", 'v', "", "more", true},
    {"quiet", 'q', "", "less"},
    {"src-opt", 0, "KEY=VALUE", "option", true},
    {"to", 0, "DEST", "destination"},
};

TEST(Args, LongShortAndPositionals) {
  auto a = ParseArgs({"gen:///", "--workers", "4", "--to=parts:///x", "-vv", "dst", "--src-opt",
                      "a=1", "--src-opt=b=2"},
                     kSpecs);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->positionals, (std::vector<std::string>{"gen:///", "dst"}));
  EXPECT_EQ(a->Get("workers"), "4");
  EXPECT_EQ(a->Get("to"), "parts:///x");
  EXPECT_EQ(a->Count("verbose"), 2);
  EXPECT_EQ(a->All("src-opt"), (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_FALSE(a->Has("quiet"));
  EXPECT_EQ(a->Get("quiet", "none"), "none");
}

TEST(Args, ShortWithAttachedValueAndDoubleDash) {
  auto a = ParseArgs({"-w8", "--", "--not-a-flag", "-"}, kSpecs);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->Get("workers"), "8");
  EXPECT_EQ(a->positionals, (std::vector<std::string>{"--not-a-flag", "-"}));
}

TEST(Args, ErrorsAreInvalidArgumentAndNameTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  for (const auto& c : std::vector<Case>{{{"--wokers", "2"}, "unknown option '--wokers'"},
                                         {{"-x"}, "unknown option '-x'"},
                                         {{"--workers"}, "needs a value"},
                                         {{"--quiet=yes"}, "takes no value"},
                                         {{"--to", "a", "--to", "b"}, "more than once"}}) {
    auto a = ParseArgs(c.args, kSpecs);
    ASSERT_FALSE(a.ok()) << c.expected;
    EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(a.status().message().find(c.expected), std::string::npos) << a.status().message();
  }
}

TEST(Args, HelpListsEveryFlag) {
  const std::string help = FormatFlagsHelp(kSpecs);
  EXPECT_NE(help.find("-w, --workers N"), std::string::npos) << help;
  EXPECT_NE(help.find("    --src-opt KEY=VALUE"), std::string::npos) << help;
}

}  // namespace
}  // namespace sluice::cli
