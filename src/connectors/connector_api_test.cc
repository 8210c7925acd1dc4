#include <gtest/gtest.h>

#include "connectors/options.h"
#include "connectors/uri.h"

namespace sluice {
namespace {

TEST(Uri, ParsesEveryComponent) {
  auto u = Uri::Parse("amqp://guest:p%40ss@127.0.0.1:5672/vhost?queue=q1&prefetch=4&flag");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->scheme, "amqp");
  EXPECT_EQ(u->user, "guest");
  EXPECT_EQ(u->password, "p@ss");
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 5672);
  EXPECT_EQ(u->path, "/vhost");
  ASSERT_EQ(u->query.size(), 3u);
  EXPECT_EQ(u->query[0], (std::pair<std::string, std::string>{"queue", "q1"}));
  EXPECT_EQ(u->query[2], (std::pair<std::string, std::string>{"flag", ""}));
  EXPECT_EQ(u->Redacted(), "amqp://guest:***@127.0.0.1:5672/vhost?queue=q1&prefetch=4&flag");
}

TEST(Uri, LocalPathsAndQueries) {
  auto u = Uri::Parse("sqlite:///tmp/my%20db.sqlite?query=SELECT+a%2Cb+FROM+t");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "");
  EXPECT_EQ(u->path, "/tmp/my db.sqlite");
  EXPECT_EQ(u->query[0].second, "SELECT a,b FROM t");
  auto v6 = Uri::Parse("kafka://[::1]:9092/topic");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9092);
}

TEST(Uri, RejectsMalformed) {
  for (const char* bad : {"nocolon", "://x", "sqlite:/x", "a://h:99999/", "a://h:/", "a://h/%zz",
                          "a://h/x?=v", "a://[::1/x"}) {
    auto u = Uri::Parse(bad);
    EXPECT_FALSE(u.ok()) << bad;
    if (!u.ok()) {
      EXPECT_EQ(u.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(Options, ParseValidateAndHelp) {
  OptionSpecs specs = {
      {"table", OptionType::kString, "", "table to read", {}, true},
      {"mode", OptionType::kEnum, "append", "write mode", {"append", "replace", "upsert"}},
      {"batch", OptionType::kSize, "2MB", "part size"},
      {"lookback", OptionType::kDuration, "5m", "late-commit window"},
      {"workers", OptionType::kInt, "4", "threads"},
      {"header", OptionType::kBool, "true", "write a header"},
  };
  auto o = Options::Parse(specs, {{"table", "t"}, {"mode", "upsert"}, {"header", "no"}}, "test");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->GetString("table"), "t");
  EXPECT_EQ(o->GetString("mode"), "upsert");
  EXPECT_EQ(o->GetSizeBytes("batch"), 2000000);
  EXPECT_EQ(o->GetDurationMs("lookback"), 300000);
  EXPECT_EQ(o->GetInt("workers"), 4);
  EXPECT_FALSE(o->GetBool("header"));

  auto unknown = Options::Parse(specs, {{"table", "t"}, {"tabel", "x"}}, "sqlite source");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown option 'tabel'"), std::string::npos);
  EXPECT_NE(unknown.status().message().find("table, mode"), std::string::npos);
  EXPECT_FALSE(Options::Parse(specs, {}, "x").ok());  // required
  EXPECT_FALSE(Options::Parse(specs, {{"table", "t"}, {"mode", "merge"}}, "x").ok());
  EXPECT_FALSE(Options::Parse(specs, {{"table", "t"}, {"workers", "many"}}, "x").ok());
  EXPECT_FALSE(Options::Parse(specs, {{"table", "t"}, {"batch", "2XB"}}, "x").ok());
  std::string help = FormatOptionsHelp(specs);
  EXPECT_NE(help.find("mode (enum: append|replace|upsert, default append)"), std::string::npos);
}

TEST(Options, SizesAndDurations) {
  EXPECT_EQ(*ParseSize("512KiB"), 512 * 1024);
  EXPECT_EQ(*ParseSize("3"), 3);
  EXPECT_EQ(*ParseDurationMs("250ms"), 250);
  EXPECT_EQ(*ParseDurationMs("1h"), 3600000);
  EXPECT_FALSE(ParseSize("-1").ok());
  EXPECT_FALSE(ParseDurationMs("5 minutes").ok());
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

TEST(Options, SplitCommaList) {
  EXPECT_EQ(SplitCommaList("a,b"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(SplitCommaList(",a,,b,"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(SplitCommaList(" a "), (std::vector<std::string>{" a "}));  // names are not trimmed
  EXPECT_TRUE(SplitCommaList("").empty());
}

}  // namespace
}  // namespace sluice
