#include "core/text.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "core/base64.h"
#include "core/temporal.h"
#include "core/utf8.h"

namespace sluice {

namespace {
template <typename T>
void AppendInteger(T v, std::string* out) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, p);
}

template <typename F>
void AppendFloating(F v, std::string* out) {
  if (std::isnan(v)) return out->append("NaN"), void();
  if (std::isinf(v)) return out->append(v < 0 ? "-Infinity" : "Infinity"), void();
  char buf[40];
  auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, p);
}

std::string Quote(std::string_view s) {
  std::string q = "'";
  q += s.substr(0, 64);
  if (s.size() > 64) q += "...";
  q += "'";
  return q;
}

template <typename T>
Status ParseIntegerAs(std::string_view s, ColumnBuilder* b) {
  T v{};
  std::string_view t = s;
  if (!t.empty() && t[0] == '+') t.remove_prefix(1);
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec == std::errc::result_out_of_range) {
    return Status::InvalidData("integer " + Quote(s) + " out of range for " + b->type().ToString());
  }
  if (ec != std::errc() || p != t.data() + t.size() || t.empty()) {
    return Status::InvalidData("invalid integer " + Quote(s));
  }
  b->AppendFixed<T>(v);
  return Status::OK();
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

template <typename F>
Status ParseFloatingAs(std::string_view s, ColumnBuilder* b) {
  std::string_view t = s;
  bool neg = false;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
    neg = t[0] == '-';
    t.remove_prefix(1);
  }
  F v;
  if (EqualsIgnoreCase(t, "nan")) {
    v = std::numeric_limits<F>::quiet_NaN();
  } else if (EqualsIgnoreCase(t, "inf") || EqualsIgnoreCase(t, "infinity")) {
    v = std::numeric_limits<F>::infinity();
  } else {
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec == std::errc::result_out_of_range) {
      return Status::InvalidData("number " + Quote(s) + " out of range for " + b->type().ToString());
    }
    if (ec != std::errc() || p != t.data() + t.size() || t.empty()) {
      return Status::InvalidData("invalid number " + Quote(s));
    }
  }
  b->AppendFixed<F>(neg ? -v : v);
  return Status::OK();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

void AppendDouble(double v, std::string* out) { AppendFloating(v, out); }
void AppendFloat(float v, std::string* out) { AppendFloating(v, out); }

void AppendUuid(const uint8_t* b, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out->push_back('-');
    out->push_back(kHex[b[i] >> 4]);
    out->push_back(kHex[b[i] & 15]);
  }
}

Status ParseUuid(std::string_view text, uint8_t* out) {
  std::string_view s = text;
  if (s.size() >= 2 && s.front() == '{' && s.back() == '}') s = s.substr(1, s.size() - 2);
  int n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '-') continue;
    int h = HexValue(s[i]);
    if (h < 0 || n >= 32) return Status::InvalidData("invalid uuid " + Quote(text));
    if (n % 2 == 0) out[n / 2] = static_cast<uint8_t>(h << 4);
    else out[n / 2] |= static_cast<uint8_t>(h);
    ++n;
  }
  if (n != 32) return Status::InvalidData("invalid uuid " + Quote(text));
  return Status::OK();
}

void AppendText(const Column& col, int64_t row, std::string* out) {
  switch (col.type.id) {
    case TypeId::kInt8: return AppendInteger(col.Value<int8_t>(row), out);
    case TypeId::kInt16: return AppendInteger(col.Value<int16_t>(row), out);
    case TypeId::kInt32: return AppendInteger(col.Value<int32_t>(row), out);
    case TypeId::kInt64: return AppendInteger(col.Value<int64_t>(row), out);
    case TypeId::kUInt8: return AppendInteger(col.Value<uint8_t>(row), out);
    case TypeId::kUInt16: return AppendInteger(col.Value<uint16_t>(row), out);
    case TypeId::kUInt32: return AppendInteger(col.Value<uint32_t>(row), out);
    case TypeId::kUInt64: return AppendInteger(col.Value<uint64_t>(row), out);
    case TypeId::kFloat32: return AppendFloating(col.Value<float>(row), out);
    case TypeId::kFloat64: return AppendFloating(col.Value<double>(row), out);
    case TypeId::kDecimal: return AppendDecimal(col.DecimalValue(row), col.type.scale, out);
    case TypeId::kBool: return out->append(col.BoolValue(row) ? "true" : "false"), void();
    case TypeId::kString: case TypeId::kJson: return out->append(col.StringValue(row)), void();
    case TypeId::kBinary: return AppendBase64(col.StringValue(row), out);
    case TypeId::kDate: return AppendDate(col.Value<int32_t>(row), out);
    case TypeId::kTime: return AppendTime(col.Value<int64_t>(row), out);
    case TypeId::kTimestamp:
      return AppendTimestamp(col.Value<int64_t>(row), col.type.with_zone, out);
    case TypeId::kUuid: return AppendUuid(col.FixedBytes(row, 16), out);
  }
}

std::string ValueToText(const Column& col, int64_t row) {
  std::string s;
  AppendText(col, row, &s);
  return s;
}

Status AppendParsedText(std::string_view s, ColumnBuilder* b) {
  switch (b->type().id) {
    case TypeId::kInt8: return ParseIntegerAs<int8_t>(s, b);
    case TypeId::kInt16: return ParseIntegerAs<int16_t>(s, b);
    case TypeId::kInt32: return ParseIntegerAs<int32_t>(s, b);
    case TypeId::kInt64: return ParseIntegerAs<int64_t>(s, b);
    case TypeId::kUInt8: return ParseIntegerAs<uint8_t>(s, b);
    case TypeId::kUInt16: return ParseIntegerAs<uint16_t>(s, b);
    case TypeId::kUInt32: return ParseIntegerAs<uint32_t>(s, b);
    case TypeId::kUInt64: return ParseIntegerAs<uint64_t>(s, b);
    case TypeId::kFloat32: return ParseFloatingAs<float>(s, b);
    case TypeId::kFloat64: return ParseFloatingAs<double>(s, b);
    case TypeId::kDecimal: {
      SLUICE_ASSIGN_OR_RETURN(int128_t v, ParseDecimal(s, b->type().precision, b->type().scale));
      b->AppendFixed<int128_t>(v);
      return Status::OK();
    }
    case TypeId::kBool: {
      if (EqualsIgnoreCase(s, "true") || EqualsIgnoreCase(s, "t") || s == "1" ||
          EqualsIgnoreCase(s, "yes") || EqualsIgnoreCase(s, "y")) {
        b->AppendBool(true);
      } else if (EqualsIgnoreCase(s, "false") || EqualsIgnoreCase(s, "f") || s == "0" ||
                 EqualsIgnoreCase(s, "no") || EqualsIgnoreCase(s, "n")) {
        b->AppendBool(false);
      } else {
        return Status::InvalidData("invalid boolean " + Quote(s));
      }
      return Status::OK();
    }
    case TypeId::kString: case TypeId::kJson:
      if (!IsValidUtf8(s)) return Status::InvalidData("invalid UTF-8 in text value");
      b->AppendBytes(s);
      return Status::OK();
    case TypeId::kBinary: {
      SLUICE_ASSIGN_OR_RETURN(std::string bytes, Base64Decode(s));
      b->AppendBytes(bytes);
      return Status::OK();
    }
    case TypeId::kDate: {
      SLUICE_ASSIGN_OR_RETURN(int32_t d, ParseDate(s));
      b->AppendFixed<int32_t>(d);
      return Status::OK();
    }
    case TypeId::kTime: {
      SLUICE_ASSIGN_OR_RETURN(int64_t t, ParseTime(s));
      b->AppendFixed<int64_t>(t);
      return Status::OK();
    }
    case TypeId::kTimestamp: {
      SLUICE_ASSIGN_OR_RETURN(int64_t t, ParseTimestamp(s));
      b->AppendFixed<int64_t>(t);
      return Status::OK();
    }
    case TypeId::kUuid: {
      uint8_t u[16];
      SLUICE_RETURN_NOT_OK(ParseUuid(s, u));
      b->AppendFixedBytes(u, 16);
      return Status::OK();
    }
  }
  return Status::Internal("unhandled type");
}

}  // namespace sluice
