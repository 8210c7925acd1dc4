#include "core/types.h"

#include <charconv>
#include <unordered_set>

namespace sluice {

namespace {
struct TypeName {
  TypeId id;
  std::string_view name;
};
constexpr TypeName kTypeNames[] = {
    {TypeId::kInt8, "int8"},       {TypeId::kInt16, "int16"},     {TypeId::kInt32, "int32"},
    {TypeId::kInt64, "int64"},     {TypeId::kUInt8, "uint8"},     {TypeId::kUInt16, "uint16"},
    {TypeId::kUInt32, "uint32"},   {TypeId::kUInt64, "uint64"},   {TypeId::kFloat32, "float32"},
    {TypeId::kFloat64, "float64"}, {TypeId::kDecimal, "decimal"}, {TypeId::kBool, "bool"},
    {TypeId::kString, "string"},   {TypeId::kBinary, "binary"},   {TypeId::kDate, "date"},
    {TypeId::kTime, "time"},       {TypeId::kTimestamp, "timestamp"}, {TypeId::kUuid, "uuid"},
    {TypeId::kJson, "json"},
};

std::string_view NameOf(TypeId id) {
  for (const auto& t : kTypeNames) {
    if (t.id == id) return t.name;
  }
  return "?";
}

bool ParseInt(std::string_view s, int* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}
}  // namespace

std::string DataType::ToString() const {
  std::string out(NameOf(id));
  if (id == TypeId::kDecimal) {
    out += "(" + std::to_string(precision) + "," + std::to_string(scale) + ")";
  } else if (id == TypeId::kTimestamp && with_zone) {
    out = "timestamptz(" + timezone + ")";
  }
  return out;
}

Status DataType::Validate() const {
  if (id == TypeId::kDecimal) {
    if (precision < 1 || precision > kMaxDecimalPrecision) {
      return Status::InvalidArgument("decimal precision " + std::to_string(precision) +
                                     " is outside 1..38");
    }
    if (scale < 0 || scale > precision) {
      return Status::InvalidArgument("decimal scale " + std::to_string(scale) +
                                     " is outside 0..precision (" + std::to_string(precision) +
                                     ")");
    }
  }
  return Status::OK();
}

Result<DataType> ParseDataType(std::string_view text) {
  auto bad = [&] { return Status::InvalidArgument("unknown type '" + std::string(text) + "'"); };
  if (text.starts_with("decimal(") && text.ends_with(")")) {
    auto inner = text.substr(8, text.size() - 9);
    auto comma = inner.find(',');
    int p = 0, s = 0;
    if (comma == std::string_view::npos) {
      if (!ParseInt(inner, &p)) return bad();
    } else if (!ParseInt(inner.substr(0, comma), &p) || !ParseInt(inner.substr(comma + 1), &s)) {
      return bad();
    }
    DataType t = DataType::Decimal(p, s);
    SLUICE_RETURN_NOT_OK(t.Validate());
    return t;
  }
  if (text == "timestamptz") return DataType::TimestampTz();
  if (text.starts_with("timestamptz(") && text.ends_with(")")) {
    return DataType::TimestampTz(std::string(text.substr(12, text.size() - 13)));
  }
  for (const auto& t : kTypeNames) {
    if (t.name == text && t.id != TypeId::kDecimal) return DataType{t.id};
  }
  return bad();
}

bool IsInteger(TypeId id) { return id >= TypeId::kInt8 && id <= TypeId::kUInt64; }
bool IsSignedInteger(TypeId id) { return id >= TypeId::kInt8 && id <= TypeId::kInt64; }
bool IsFloating(TypeId id) { return id == TypeId::kFloat32 || id == TypeId::kFloat64; }
bool IsVarWidth(TypeId id) {
  return id == TypeId::kString || id == TypeId::kBinary || id == TypeId::kJson;
}

int FixedWidth(TypeId id) {
  switch (id) {
    case TypeId::kInt8: case TypeId::kUInt8: return 1;
    case TypeId::kInt16: case TypeId::kUInt16: return 2;
    case TypeId::kInt32: case TypeId::kUInt32: case TypeId::kFloat32: case TypeId::kDate: return 4;
    case TypeId::kInt64: case TypeId::kUInt64: case TypeId::kFloat64: case TypeId::kTime:
    case TypeId::kTimestamp: return 8;
    case TypeId::kDecimal: case TypeId::kUuid: return 16;
    default: return 0;
  }
}

std::optional<int> Schema::FieldIndex(std::string_view name) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].name == name) return static_cast<int>(i);
  }
  return std::nullopt;
}

std::vector<int> Schema::PrimaryKeyIndices() const {
  std::vector<int> out;
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].primary_key) out.push_back(static_cast<int>(i));
  }
  return out;
}

Status Schema::Validate() const {
  std::unordered_set<std::string_view> seen;
  for (size_t i = 0; i < fields_.size(); ++i) {
    const Field& f = fields_[i];
    if (f.name.empty()) return Status::InvalidData("column " + std::to_string(i) + " has no name");
    if (!seen.insert(f.name).second) {
      return Status::InvalidData("duplicate column name '" + f.name + "'");
    }
    SLUICE_RETURN_NOT_OK_CTX(f.type.Validate(), "column '" + f.name + "'");
  }
  return Status::OK();
}

std::string Schema::ToString() const {
  std::string out;
  for (const Field& f : fields_) {
    out += f.name + ": " + f.type.ToString();
    if (!f.nullable) out += " not null";
    if (f.primary_key) out += " primary key";
    if (!f.source_type.empty()) out += " [" + f.source_type + "]";
    out += "\n";
  }
  return out;
}

}  // namespace sluice
