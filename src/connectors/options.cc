#include "connectors/options.h"

#include <charconv>

namespace sluice {

namespace {
bool ParseInt64(std::string_view s, int64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

Result<bool> ParseBoolText(std::string_view s) {
  if (s == "true" || s == "1" || s == "yes" || s == "on" || s.empty()) return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  return Status::InvalidArgument("expected true or false, got '" + std::string(s) + "'");
}

std::string_view TypeName(OptionType t) {
  switch (t) {
    case OptionType::kString: return "string";
    case OptionType::kInt: return "int";
    case OptionType::kBool: return "bool";
    case OptionType::kEnum: return "enum";
    case OptionType::kSize: return "size";
    case OptionType::kDuration: return "duration";
  }
  return "?";
}

Status CheckValue(const OptionSpec& spec, std::string_view value) {
  switch (spec.type) {
    case OptionType::kString: return Status::OK();
    case OptionType::kInt: {
      int64_t v;
      if (!ParseInt64(value, &v)) return Status::InvalidArgument("expected an integer, got '" + std::string(value) + "'");
      return Status::OK();
    }
    case OptionType::kBool: return ParseBoolText(value).status();
    case OptionType::kEnum:
      for (const auto& c : spec.choices) {
        if (c == value) return Status::OK();
      }
      {
        std::string list;
        for (const auto& c : spec.choices) list += (list.empty() ? "" : ", ") + c;
        return Status::InvalidArgument("expected one of " + list + ", got '" + std::string(value) + "'");
      }
    case OptionType::kSize: return ParseSize(value).status();
    case OptionType::kDuration: return ParseDurationMs(value).status();
  }
  return Status::OK();
}
}  // namespace

std::vector<std::string> SplitCommaList(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    if (comma > start) out.emplace_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

Result<int64_t> ParseSize(std::string_view text) {
  std::string_view s = text;
  int64_t mult = 1;
  auto strip = [&](std::string_view suffix, int64_t m) {
    if (s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix) {
      s.remove_suffix(suffix.size());
      mult = m;
      return true;
    }
    return false;
  };
  strip("KiB", 1 << 10) || strip("MiB", 1 << 20) || strip("GiB", int64_t{1} << 30) ||
      strip("KB", 1000) || strip("MB", 1000000) || strip("GB", 1000000000) ||
      strip("k", 1 << 10) || strip("K", 1 << 10) || strip("m", 1 << 20) || strip("M", 1 << 20) ||
      strip("g", int64_t{1} << 30) || strip("G", int64_t{1} << 30) || strip("B", 1);
  int64_t v;
  if (!ParseInt64(s, &v) || v < 0 || v > (int64_t{1} << 50) / mult) {
    return Status::InvalidArgument("invalid size '" + std::string(text) + "' (e.g. 2MB, 512KiB, 1048576)");
  }
  return v * mult;
}

Result<int64_t> ParseDurationMs(std::string_view text) {
  std::string_view s = text;
  int64_t mult = 1000;  // bare number = seconds
  auto strip = [&](std::string_view suffix, int64_t m) {
    if (s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix) {
      s.remove_suffix(suffix.size());
      mult = m;
      return true;
    }
    return false;
  };
  strip("ms", 1) || strip("s", 1000) || strip("m", 60000) || strip("h", 3600000) ||
      strip("d", 86400000);
  int64_t v;
  if (!ParseInt64(s, &v) || v < 0 || v > (int64_t{1} << 40)) {
    return Status::InvalidArgument("invalid duration '" + std::string(text) + "' (e.g. 250ms, 30s, 5m, 1h)");
  }
  return v * mult;
}

Result<Options> Options::Parse(const OptionSpecs& specs,
                               const std::vector<std::pair<std::string, std::string>>& given,
                               std::string_view context) {
  Options o;
  for (const auto& spec : specs) {
    o.types_[spec.name] = spec.type;
    if (!spec.default_value.empty()) o.values_[spec.name] = spec.default_value;
  }
  for (const auto& [name, value] : given) {
    const OptionSpec* spec = nullptr;
    for (const auto& s : specs) {
      if (s.name == name) spec = &s;
    }
    if (spec == nullptr) {
      std::string known;
      for (const auto& s : specs) known += (known.empty() ? "" : ", ") + s.name;
      return Status::InvalidArgument(std::string(context) + ": unknown option '" + name +
                                     "' (known: " + (known.empty() ? "none" : known) + ")");
    }
    SLUICE_RETURN_NOT_OK_CTX(CheckValue(*spec, value),
                             std::string(context) + ": option '" + name + "'");
    o.values_[name] = value;
  }
  for (const auto& spec : specs) {
    if (spec.required && !o.values_.contains(spec.name)) {
      return Status::InvalidArgument(std::string(context) + ": option '" + spec.name +
                                     "' is required (" + spec.doc + ")");
    }
  }
  return o;
}

bool Options::Has(std::string_view name) const { return values_.find(name) != values_.end(); }

std::string Options::GetString(std::string_view name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::string() : it->second;
}

int64_t Options::GetInt(std::string_view name) const {
  int64_t v = 0;
  auto s = GetString(name);
  return ParseInt64(s, &v) ? v : 0;
}

bool Options::GetBool(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return false;
  auto r = ParseBoolText(it->second);
  return r.ok() && *r;
}

int64_t Options::GetSizeBytes(std::string_view name) const {
  auto r = ParseSize(GetString(name));
  return r.ok() ? *r : 0;
}

int64_t Options::GetDurationMs(std::string_view name) const {
  auto r = ParseDurationMs(GetString(name));
  return r.ok() ? *r : 0;
}

std::string FormatOptionsHelp(const OptionSpecs& specs) {
  std::string out;
  for (const auto& s : specs) {
    std::string line = "  " + s.name + " (" + std::string(TypeName(s.type));
    if (s.type == OptionType::kEnum) {
      line += ": ";
      for (size_t i = 0; i < s.choices.size(); ++i) line += (i ? "|" : "") + s.choices[i];
    }
    if (!s.default_value.empty()) line += ", default " + s.default_value;
    if (s.required) line += ", required";
    line += ")";
    if (line.size() < 40) line.resize(40, ' ');
    else line += "  ";
    out += line + s.doc + "\n";
  }
  return out;
}

}  // namespace sluice
