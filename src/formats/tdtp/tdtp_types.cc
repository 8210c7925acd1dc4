// Type mapping between sluice and TDTP fields (docs/FORMAT.md, "TDTP").
//
// TDTP has nine base types; the framework refines them with `subtype`
// (MSSQL: tinyint/smallint/int/bigint/real, PostgreSQL: uuid/json/jsonb/
// time/timestamptz). We reuse that vocabulary where its meaning is exactly
// the sluice type, and use "sluice.*" subtypes (unknown to the framework's
// adapters, which fall back to their defaults) where no exact one exists.

#include <charconv>

#include "formats/tdtp/tdtp.h"
#include "formats/tdtp/tdtp_internal.h"

namespace sluice::tdtp {

using internal::ToLowerAscii;
using internal::ToUpperAscii;

namespace {

TdtpFieldType Make(std::string type, std::string subtype = {}) {
  TdtpFieldType t;
  t.type = std::move(type);
  t.subtype = std::move(subtype);
  return t;
}

TdtpFieldType Canonical(const DataType& dt) {
  switch (dt.id) {
    case TypeId::kInt8: return Make("INTEGER", "sluice.int8");
    case TypeId::kInt16: return Make("INTEGER", "smallint");
    case TypeId::kInt32: return Make("INTEGER", "int");
    case TypeId::kInt64: return Make("INTEGER");
    case TypeId::kUInt8: return Make("INTEGER", "tinyint");
    case TypeId::kUInt16: return Make("INTEGER", "sluice.uint16");
    case TypeId::kUInt32: return Make("INTEGER", "sluice.uint32");
    case TypeId::kUInt64: {
      // Values up to 2^64-1 do not fit the framework's int64 INTEGER.
      TdtpFieldType t = Make("DECIMAL", "sluice.uint64");
      t.precision = 20;
      t.has_precision = true;
      t.scale = 0;
      t.has_scale = true;
      return t;
    }
    case TypeId::kFloat32: return Make("REAL", "real");
    case TypeId::kFloat64: return Make("REAL");
    case TypeId::kDecimal: {
      TdtpFieldType t = Make("DECIMAL");
      t.precision = dt.precision;
      t.has_precision = true;
      t.scale = dt.scale;
      t.has_scale = true;
      return t;
    }
    case TypeId::kBool: return Make("BOOLEAN");
    case TypeId::kString: return Make("TEXT");
    case TypeId::kBinary: return Make("BLOB");
    case TypeId::kDate: return Make("DATE");
    case TypeId::kTime: return Make("TIMESTAMP", "time");
    case TypeId::kTimestamp: {
      if (!dt.with_zone) return Make("TIMESTAMP");
      TdtpFieldType t = Make("TIMESTAMP", "timestamptz");
      t.timezone = dt.timezone.empty() ? "UTC" : dt.timezone;
      return t;
    }
    case TypeId::kUuid: {
      TdtpFieldType t = Make("TEXT", "uuid");
      t.length = 36;
      t.has_length = true;
      return t;
    }
    case TypeId::kJson: return Make("TEXT", "json");
  }
  return Make("TEXT");
}

}  // namespace

DataType FromTdtpType(const TdtpFieldType& t) {
  const std::string type = ToUpperAscii(t.type);
  const std::string sub = ToLowerAscii(t.subtype);
  if (type == "INTEGER" || type == "INT") {
    if (sub == "sluice.int8") return DataType::Int8();
    if (sub == "smallint") return DataType::Int16();
    if (sub == "int") return DataType::Int32();
    if (sub == "tinyint") return DataType::UInt8();  // MSSQL TINYINT is 0..255
    if (sub == "sluice.uint16") return DataType::UInt16();
    if (sub == "sluice.uint32") return DataType::UInt32();
    if (sub == "sluice.uint64") return DataType::UInt64();
    return DataType::Int64();
  }
  if (type == "REAL" || type == "FLOAT" || type == "DOUBLE") {
    return sub == "real" ? DataType::Float32() : DataType::Float64();
  }
  if (type == "DECIMAL" || type == "NUMERIC") {
    if (sub == "sluice.uint64" && (!t.has_scale || t.scale == 0)) return DataType::UInt64();
    // Go omits zero attributes: precision without scale means scale 0; a
    // bare DECIMAL is the framework's default DECIMAL(18,2).
    int64_t p = t.has_precision && t.precision > 0 ? t.precision : 18;
    int64_t s = t.has_scale ? t.scale : (t.has_precision && t.precision > 0 ? 0 : 2);
    if (p > kMaxDecimalPrecision || s < 0 || s > p) {
      return DataType::String();  // kept exact as text (source_type says DECIMAL)
    }
    return DataType::Decimal(static_cast<int>(p), static_cast<int>(s));
  }
  if (type == "TEXT" || type == "VARCHAR" || type == "CHAR" || type == "STRING") {
    if (sub == "uuid" || sub == "uniqueidentifier") return DataType::Uuid();
    if (sub == "json" || sub == "jsonb") return DataType::Json();
    return DataType::String();
  }
  if (type == "BOOLEAN" || type == "BOOL") return DataType::Bool();
  if (type == "DATE") return DataType::Date();
  if (type == "TIME") return DataType::Time();
  if (type == "TIMESTAMP" || type == "DATETIME") {
    if (sub == "time") return DataType::Time();
    if (!t.timezone.empty()) return DataType::TimestampTz(t.timezone);
    if (sub == "timestamptz" || sub == "datetimeoffset") return DataType::TimestampTz("UTC");
    return DataType::Timestamp();
  }
  if (type == "BLOB") return DataType::Binary();
  return DataType::String();  // unknown type: the text as it is
}

std::string FormatSourceType(const TdtpFieldType& t) {
  std::string s = "TDTP:" + t.type;
  std::string attrs;
  auto add = [&](std::string_view k, std::string_view v) {
    if (!attrs.empty()) attrs += ',';
    attrs += k;
    attrs += '=';
    attrs += v;
  };
  if (t.has_length) add("length", std::to_string(t.length));
  if (t.has_precision) add("precision", std::to_string(t.precision));
  if (t.has_scale) add("scale", std::to_string(t.scale));
  if (!t.subtype.empty()) add("subtype", t.subtype);
  if (!t.timezone.empty()) add("timezone", t.timezone);
  if (!attrs.empty()) s += "(" + attrs + ")";
  return s;
}

namespace internal {

std::optional<TdtpFieldType> ParseSourceType(std::string_view s) {
  if (s.substr(0, 5) != "TDTP:") return std::nullopt;
  s.remove_prefix(5);
  TdtpFieldType t;
  size_t paren = s.find('(');
  t.type = std::string(s.substr(0, paren));
  if (t.type.empty()) return std::nullopt;
  if (paren == std::string_view::npos) return t;
  if (s.back() != ')') return std::nullopt;
  std::string_view body = s.substr(paren + 1, s.size() - paren - 2);
  auto to_int = [](std::string_view v, int64_t* out) {
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
    return ec == std::errc() && p == v.data() + v.size();
  };
  while (!body.empty()) {
    size_t comma = body.find(',');
    std::string_view kv = body.substr(0, comma);
    body = comma == std::string_view::npos ? std::string_view() : body.substr(comma + 1);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string_view k = kv.substr(0, eq), v = kv.substr(eq + 1);
    int64_t n = 0;
    if (k == "length") {
      if (!to_int(v, &n)) return std::nullopt;
      t.length = n;
      t.has_length = true;
    } else if (k == "precision") {
      if (!to_int(v, &n) || n < 0 || n > 1000) return std::nullopt;
      t.precision = static_cast<int>(n);
      t.has_precision = true;
    } else if (k == "scale") {
      if (!to_int(v, &n) || n < -1000 || n > 1000) return std::nullopt;
      t.scale = static_cast<int>(n);
      t.has_scale = true;
    } else if (k == "subtype") {
      t.subtype = std::string(v);
    } else if (k == "timezone") {
      t.timezone = std::string(v);
    } else {
      return std::nullopt;
    }
  }
  return t;
}

}  // namespace internal

TdtpFieldType ToTdtpType(const Field& field) {
  TdtpFieldType canon = Canonical(field.type);
  // A hint from a TDTP source (e.g. "TDTP:TEXT(length=100)") is written back
  // as it was, but only when it reads back as the very same sluice type.
  if (auto hint = internal::ParseSourceType(field.source_type)) {
    if (FromTdtpType(*hint) == field.type) return *hint;
  }
  return canon;
}

}  // namespace sluice::tdtp
