#include "connectors/sqlite/sqlite_types.h"

#include <sqlite3.h>

#include <charconv>
#include <vector>

namespace sluice::sqlite {

namespace {

struct ParsedDecl {
  std::string base;             // upper-case words joined by single spaces
  std::vector<std::string> words;
  std::vector<int64_t> args;    // the "(p, s)" numbers
  bool args_ok = true;          // false when the parentheses held something else
};

char Upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

ParsedDecl Parse(std::string_view decl) {
  ParsedDecl out;
  std::string_view name = decl;
  size_t paren = decl.find('(');
  if (paren != std::string_view::npos) {
    name = decl.substr(0, paren);
    std::string_view rest = decl.substr(paren + 1);
    size_t close = rest.find(')');
    std::string_view inner = close == std::string_view::npos ? rest : rest.substr(0, close);
    while (true) {
      size_t comma = inner.find(',');
      std::string_view part = Trim(inner.substr(0, comma));
      if (!part.empty() && part[0] == '+') part.remove_prefix(1);
      int64_t v = 0;
      auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
      if (ec != std::errc() || p != part.data() + part.size() || part.empty()) {
        out.args_ok = false;
        break;
      }
      out.args.push_back(v);
      if (comma == std::string_view::npos) break;
      inner.remove_prefix(comma + 1);
    }
  }
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    if (!out.base.empty()) out.base.push_back(' ');
    out.base += word;
    out.words.push_back(std::move(word));
    word.clear();
  };
  for (char c : name) {
    if (IsSpace(c)) flush();
    else word.push_back(Upper(c));
  }
  flush();
  return out;
}

bool In(std::string_view s, std::initializer_list<std::string_view> set) {
  for (auto x : set) {
    if (s == x) return true;
  }
  return false;
}

bool Contains(std::string_view s, std::string_view needle) {
  return s.find(needle) != std::string_view::npos;
}

// Bit width of a (signed) integer type name, or 0 when not one of ours.
int IntegerWidth(std::string_view base) {
  if (In(base, {"TINYINT", "INT1"})) return 8;
  if (In(base, {"SMALLINT", "INT2"})) return 16;
  if (In(base, {"INT4", "MEDIUMINT", "INT32"})) return 32;
  if (In(base, {"INTEGER", "INT", "BIGINT", "INT8", "INT64", "LONG", "BIG INT"})) return 64;
  return 0;
}

DataType SignedOfWidth(int w) {
  switch (w) {
    case 8: return DataType::Int8();
    case 16: return DataType::Int16();
    case 32: return DataType::Int32();
    default: return DataType::Int64();
  }
}

DataType UnsignedOfWidth(int w) {
  switch (w) {
    case 8: return DataType::UInt8();
    case 16: return DataType::UInt16();
    case 32: return DataType::UInt32();
    default: return DataType::UInt64();
  }
}

enum class Family { kInteger, kFloat, kDecimal, kBool, kString, kBinary, kDate, kTime,
                    kTimestamp, kUuid, kJson };

Family FamilyOf(TypeId id) {
  switch (id) {
    case TypeId::kInt8: case TypeId::kInt16: case TypeId::kInt32: case TypeId::kInt64:
    case TypeId::kUInt8: case TypeId::kUInt16: case TypeId::kUInt32: case TypeId::kUInt64:
      return Family::kInteger;
    case TypeId::kFloat32: case TypeId::kFloat64: return Family::kFloat;
    case TypeId::kDecimal: return Family::kDecimal;
    case TypeId::kBool: return Family::kBool;
    case TypeId::kString: return Family::kString;
    case TypeId::kBinary: return Family::kBinary;
    case TypeId::kDate: return Family::kDate;
    case TypeId::kTime: return Family::kTime;
    case TypeId::kTimestamp: return Family::kTimestamp;
    case TypeId::kUuid: return Family::kUuid;
    case TypeId::kJson: return Family::kJson;
  }
  return Family::kString;
}

struct IntRange {
  bool is_unsigned;
  int bits;
};

IntRange RangeOf(TypeId id) {
  switch (id) {
    case TypeId::kInt8: return {false, 8};
    case TypeId::kInt16: return {false, 16};
    case TypeId::kInt32: return {false, 32};
    case TypeId::kUInt8: return {true, 8};
    case TypeId::kUInt16: return {true, 16};
    case TypeId::kUInt32: return {true, 32};
    case TypeId::kUInt64: return {true, 64};
    default: return {false, 64};
  }
}

// Decimal digits needed for any value of an integer type.
int DigitsOf(TypeId id) {
  switch (id) {
    case TypeId::kInt8: case TypeId::kUInt8: return 3;
    case TypeId::kInt16: case TypeId::kUInt16: return 5;
    case TypeId::kInt32: case TypeId::kUInt32: return 10;
    case TypeId::kUInt64: return 20;
    default: return 19;
  }
}

// Whether a column the source reads back as `col` holds every value of
// `in` exactly. `text_kept`: the column's affinity leaves text untouched.
bool Holds(const DataType& col, const DataType& in, bool text_kept) {
  Family fc = FamilyOf(col.id), fi = FamilyOf(in.id);
  switch (fc) {
    case Family::kInteger: {
      if (fi == Family::kBool) return true;
      if (fi != Family::kInteger) return false;
      IntRange c = RangeOf(col.id), i = RangeOf(in.id);
      if (i.is_unsigned == c.is_unsigned) return i.bits <= c.bits;
      return i.is_unsigned && i.bits < c.bits;
    }
    case Family::kFloat:
      if (fi == Family::kFloat) return col.id == TypeId::kFloat64 || in.id == TypeId::kFloat32;
      if (fi == Family::kInteger) {
        // REAL affinity turns integers into doubles: exact up to 2^53 (2^24 for float32).
        return RangeOf(in.id).bits <= (col.id == TypeId::kFloat64 ? 32 : 16);
      }
      return false;
    case Family::kDecimal:
      if (fi == Family::kInteger) return col.precision - col.scale >= DigitsOf(in.id);
      if (fi != Family::kDecimal) return false;
      return in.scale <= col.scale && in.precision - in.scale <= col.precision - col.scale;
    case Family::kString:
      if (!text_kept) return false;
      return fi == Family::kString || fi == Family::kJson || fi == Family::kUuid ||
             fi == Family::kDate || fi == Family::kTime || fi == Family::kTimestamp;
    case Family::kJson:
      // An existing "JSON" column (NUMERIC affinity) is accepted: objects and
      // arrays are kept as text; only bare-number documents get normalized
      // (documented).
      return fi == Family::kJson;
    default:
      return fc == fi;
  }
}

}  // namespace

std::optional<DataType> DeclTypeToDataType(std::string_view decl) {
  ParsedDecl d = Parse(decl);
  const std::string& b = d.base;
  if (b.empty()) return std::nullopt;
  for (const auto& w : d.words) {
    if (w == "JSON" || w == "JSONB") return DataType::Json();
  }
  if (In(b, {"UUID", "GUID", "UNIQUEIDENTIFIER"})) return DataType::Uuid();
  if (In(b, {"BOOL", "BOOLEAN"})) return DataType::Bool();
  if (In(b, {"TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE", "DATETIMEOFFSET"})) {
    return DataType::TimestampTz("UTC");
  }
  if (In(b, {"TIMESTAMP", "DATETIME", "TIMESTAMP WITHOUT TIME ZONE", "DATETIME2",
             "SMALLDATETIME"})) {
    return DataType::Timestamp();
  }
  if (b == "DATE") return DataType::Date();
  if (In(b, {"TIME", "TIME WITHOUT TIME ZONE"})) return DataType::Time();
  if (In(b, {"DECIMAL", "NUMERIC", "DEC", "NUMBER"})) {
    // Without (p, s) SQLite stores these as INTEGER or REAL: read them as float64.
    if (d.args.empty() || !d.args_ok || d.args.size() > 2) return DataType::Float64();
    int64_t p = d.args[0];
    int64_t s = d.args.size() > 1 ? d.args[1] : 0;
    if (p < 1 || p > kMaxDecimalPrecision || s < 0 || s > p) return DataType::Float64();
    return DataType::Decimal(static_cast<int>(p), static_cast<int>(s));
  }
  // Integers, with MySQL-style UNSIGNED anywhere in the name.
  {
    bool is_unsigned = false;
    std::string rest;
    for (const auto& w : d.words) {
      if (w == "UNSIGNED") {
        is_unsigned = true;
        continue;
      }
      if (!rest.empty()) rest.push_back(' ');
      rest += w;
    }
    if (int w = IntegerWidth(rest); w != 0) {
      return is_unsigned ? UnsignedOfWidth(w) : SignedOfWidth(w);
    }
    if (In(b, {"UTINYINT"})) return DataType::UInt8();
    if (In(b, {"USMALLINT", "UINT16"})) return DataType::UInt16();
    if (In(b, {"UINTEGER", "UINT", "UINT32"})) return DataType::UInt32();
    if (In(b, {"UBIGINT", "UINT64"})) return DataType::UInt64();
    if (is_unsigned && Contains(rest, "INT")) return DataType::UInt64();
  }
  if (In(b, {"FLOAT4", "FLOAT32"})) return DataType::Float32();
  if (In(b, {"REAL", "DOUBLE", "DOUBLE PRECISION", "FLOAT", "FLOAT8", "FLOAT64"})) {
    return DataType::Float64();
  }
  if (In(b, {"STRING", "NVARCHAR2", "VARCHAR2"})) return DataType::String();
  if (In(b, {"BYTEA", "BINARY", "VARBINARY"})) return DataType::Binary();
  // Anything else by SQLite's affinity rules.
  switch (AffinityOf(decl)) {
    case Affinity::kInteger: return DataType::Int64();
    case Affinity::kText: return DataType::String();
    case Affinity::kBlob: return DataType::Binary();
    case Affinity::kReal: return DataType::Float64();
    case Affinity::kNumeric: return std::nullopt;
  }
  return std::nullopt;
}

std::string DataTypeToDeclType(const DataType& type, bool rowid_alias) {
  switch (type.id) {
    case TypeId::kInt8: return "TINYINT";
    case TypeId::kInt16: return "SMALLINT";
    case TypeId::kInt32: return "INT4";
    case TypeId::kInt64: return rowid_alias ? "INTEGER" : "BIGINT";
    case TypeId::kUInt8: return "UTINYINT";
    case TypeId::kUInt16: return "USMALLINT";
    case TypeId::kUInt32: return "UINTEGER";
    case TypeId::kUInt64: return "UBIGINT";
    case TypeId::kFloat32: return "FLOAT4";
    case TypeId::kFloat64: return "REAL";
    case TypeId::kDecimal:
      return "DECIMAL(" + std::to_string(type.precision) + "," + std::to_string(type.scale) + ")";
    case TypeId::kBool: return "BOOLEAN";
    case TypeId::kString: return "TEXT";
    case TypeId::kBinary: return "BLOB";
    case TypeId::kDate: return "DATE";
    case TypeId::kTime: return "TIME";
    case TypeId::kTimestamp: return type.with_zone ? "TIMESTAMPTZ" : "TIMESTAMP";
    case TypeId::kUuid: return "UUID";
    // TEXT affinity: a JSON scalar such as 1.50 must not become the REAL 1.5.
    case TypeId::kJson: return "JSON TEXT";
  }
  return "TEXT";
}

Affinity AffinityOf(std::string_view decl) {
  std::string u;
  u.reserve(decl.size());
  for (char c : decl) u.push_back(Upper(c));
  if (Contains(u, "INT")) return Affinity::kInteger;
  if (Contains(u, "CHAR") || Contains(u, "CLOB") || Contains(u, "TEXT")) return Affinity::kText;
  if (Contains(u, "BLOB") || Trim(u).empty()) return Affinity::kBlob;
  if (Contains(u, "REAL") || Contains(u, "FLOA") || Contains(u, "DOUB")) return Affinity::kReal;
  return Affinity::kNumeric;
}

Status CheckCompatible(const DataType& incoming, std::string_view decl, std::string_view table,
                       std::string_view column) {
  std::optional<DataType> declared = DeclTypeToDataType(decl);
  // No usable declaration: SQLite keeps whatever the sink binds. An unknown
  // name with NUMERIC affinity would turn number-like text into numbers,
  // which only matters for the text-like types.
  if (!declared) {
    if (AffinityOf(decl) == Affinity::kBlob) return Status::OK();
    Family f = FamilyOf(incoming.id);
    if (f == Family::kString || f == Family::kJson) {
      return Status::InvalidArgument("column '" + std::string(column) + "' of table '" +
                                     std::string(table) + "' is declared '" + std::string(decl) +
                                     "' (NUMERIC affinity: number-like text would be altered); "
                                     "cannot store " + incoming.ToString() + " values exactly");
    }
    return Status::OK();
  }
  Affinity aff = AffinityOf(decl);
  bool text_kept = aff == Affinity::kText || aff == Affinity::kBlob;
  if (!Holds(*declared, incoming, text_kept)) {
    return Status::InvalidArgument("column '" + std::string(column) + "' of table '" +
                                   std::string(table) + "' is declared '" + std::string(decl) +
                                   "' (read back as " + declared->ToString() +
                                   "), which cannot hold incoming " + incoming.ToString() +
                                   " values exactly");
  }
  return Status::OK();
}

void StorageClassTally::Add(int storage_class) {
  switch (storage_class) {
    case SQLITE_INTEGER: integer_ = true; break;
    case SQLITE_FLOAT: real_ = true; break;
    case SQLITE_TEXT: text_ = true; break;
    case SQLITE_BLOB: blob_ = true; break;
    default: break;
  }
}

DataType StorageClassTally::Result() const {
  if (blob_) return DataType::Binary();
  if (text_) return DataType::String();
  if (real_) return DataType::Float64();
  if (integer_) return DataType::Int64();
  return DataType::String();
}

}  // namespace sluice::sqlite
