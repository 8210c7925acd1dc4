#include "cli/args.h"

namespace sluice::cli {

int ParsedArgs::Count(std::string_view name) const {
  auto it = flags.find(name);
  return it == flags.end() ? 0 : static_cast<int>(it->second.size());
}

std::string ParsedArgs::Get(std::string_view name, std::string fallback) const {
  auto it = flags.find(name);
  return it == flags.end() || it->second.empty() ? fallback : it->second.back();
}

const std::vector<std::string>& ParsedArgs::All(std::string_view name) const {
  static const std::vector<std::string> kEmpty;
  auto it = flags.find(name);
  return it == flags.end() ? kEmpty : it->second;
}

namespace {
std::string KnownFlags(const std::vector<FlagSpec>& specs) {
  std::string out;
  for (const auto& s : specs) out += (out.empty() ? "--" : ", --") + s.name;
  return out;
}
}  // namespace

Result<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                             const std::vector<FlagSpec>& specs) {
  ParsedArgs out;
  auto record = [&](const FlagSpec& spec, std::string value) -> Status {
    auto& values = out.flags[spec.name];
    if (!values.empty() && !spec.repeatable) {
      return Status::InvalidArgument("flag --" + spec.name + " given more than once");
    }
    values.push_back(std::move(value));
    return Status::OK();
  };
  bool only_positionals = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (only_positionals || a.size() < 2 || a[0] != '-') {
      out.positionals.push_back(a);
      continue;
    }
    if (a == "--") {
      only_positionals = true;
      continue;
    }
    if (a[1] == '-') {  // --name[=value]
      const size_t eq = a.find('=');
      const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      const FlagSpec* spec = nullptr;
      for (const auto& s : specs) {
        if (s.name == name) spec = &s;
      }
      if (spec == nullptr) {
        return Status::InvalidArgument("unknown option '--" + name + "' (known: " +
                                       KnownFlags(specs) + ")");
      }
      if (spec->value_name.empty()) {
        if (eq != std::string::npos) {
          return Status::InvalidArgument("option '--" + name + "' takes no value");
        }
        SLUICE_RETURN_NOT_OK(record(*spec, ""));
        continue;
      }
      std::string value;
      if (eq != std::string::npos) {
        value = a.substr(eq + 1);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return Status::InvalidArgument("option '--" + name + "' needs a value (" +
                                       spec->value_name + ")");
      }
      SLUICE_RETURN_NOT_OK(record(*spec, std::move(value)));
      continue;
    }
    // -x, -xyz (switches), -x VALUE, -xVALUE
    for (size_t k = 1; k < a.size(); ++k) {
      const FlagSpec* spec = nullptr;
      for (const auto& s : specs) {
        if (s.short_name != 0 && s.short_name == a[k]) spec = &s;
      }
      if (spec == nullptr) {
        return Status::InvalidArgument("unknown option '-" + std::string(1, a[k]) + "' (known: " +
                                       KnownFlags(specs) + ")");
      }
      if (spec->value_name.empty()) {
        SLUICE_RETURN_NOT_OK(record(*spec, ""));
        continue;
      }
      std::string value;
      if (k + 1 < a.size()) {
        value = a.substr(k + 1);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return Status::InvalidArgument("option '-" + std::string(1, a[k]) + "' needs a value (" +
                                       spec->value_name + ")");
      }
      SLUICE_RETURN_NOT_OK(record(*spec, std::move(value)));
      break;
    }
  }
  return out;
}

std::string FormatFlagsHelp(const std::vector<FlagSpec>& specs) {
  std::string out;
  for (const auto& s : specs) {
    std::string line = "  ";
    line += s.short_name ? std::string("-") + s.short_name + ", " : "    ";
    line += "--" + s.name;
    if (!s.value_name.empty()) line += " " + s.value_name;
    if (line.size() < 30) line.resize(30, ' ');
    else line += "  ";
    out += line + s.help + "\n";
  }
  return out;
}

}  // namespace sluice::cli
