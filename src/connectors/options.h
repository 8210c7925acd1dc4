// Options are declared once per connector (name, type, default, doc). The same
// table drives parsing, validation, unknown-option errors and --help text.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice {

enum class OptionType {
  kString,
  kInt,       // 64-bit integer
  kBool,      // true/false/1/0/yes/no
  kEnum,      // one of `choices`
  kSize,      // bytes: "2MB", "512k", "1048576"
  kDuration,  // "5m", "30s", "250ms", "1h"; stored as milliseconds
};

struct OptionSpec {
  std::string name;
  OptionType type = OptionType::kString;
  std::string default_value;  // empty = no default (absent unless given)
  std::string doc;
  std::vector<std::string> choices;  // kEnum only
  bool required = false;
};

using OptionSpecs = std::vector<OptionSpec>;

// Validated option values. Getters return the default when not given; asking
// for an undeclared name is a programming error (returns empty/0).
class Options {
 public:
  // `given` comes from URI query parameters and CLI flags. `context` names the
  // endpoint in errors ("sqlite sink"). Unknown names, bad values and missing
  // required options are InvalidArgument errors listing what is accepted.
  static Result<Options> Parse(const OptionSpecs& specs,
                               const std::vector<std::pair<std::string, std::string>>& given,
                               std::string_view context);

  bool Has(std::string_view name) const;  // given explicitly or has a default
  std::string GetString(std::string_view name) const;
  int64_t GetInt(std::string_view name) const;
  bool GetBool(std::string_view name) const;
  int64_t GetSizeBytes(std::string_view name) const;
  int64_t GetDurationMs(std::string_view name) const;

 private:
  std::map<std::string, std::string, std::less<>> values_;
  std::map<std::string, OptionType, std::less<>> types_;
};

// "  name=VALUE  (type, default X)  doc" lines for --help.
std::string FormatOptionsHelp(const OptionSpecs& specs);

// "a,b,,c" -> {"a", "b", "c"}: comma-separated names (empty items dropped,
// no trimming), e.g. the key= option.
std::vector<std::string> SplitCommaList(std::string_view text);

Result<int64_t> ParseSize(std::string_view text);
Result<int64_t> ParseDurationMs(std::string_view text);

}  // namespace sluice
