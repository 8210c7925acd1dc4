// A small command-line parser: flags declared in a table (which also drives
// --help), "--name value", "--name=value", "-x value", repeatable "-v", and
// "--" to end flags. Errors are InvalidArgument (exit code 2).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice::cli {

struct FlagSpec {
  std::string name;        // long name without dashes: "workers"
  char short_name = 0;     // 'v', or 0
  std::string value_name;  // "N", "FILE"; empty = a switch without value
  std::string help;
  bool repeatable = false;  // may be given several times (values accumulate)
};

struct ParsedArgs {
  std::vector<std::string> positionals;
  // Values of each flag given, in order (a switch records "" per use).
  std::map<std::string, std::vector<std::string>, std::less<>> flags;

  bool Has(std::string_view name) const { return flags.find(name) != flags.end(); }
  int Count(std::string_view name) const;
  // The last value given, or `fallback`.
  std::string Get(std::string_view name, std::string fallback = {}) const;
  const std::vector<std::string>& All(std::string_view name) const;
};

Result<ParsedArgs> ParseArgs(const std::vector<std::string>& args, const std::vector<FlagSpec>& specs);

// "  -v, --verbose        more output (repeat for more)" lines.
std::string FormatFlagsHelp(const std::vector<FlagSpec>& specs);

}  // namespace sluice::cli
