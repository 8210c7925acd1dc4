// Logical types, fields and schemas. Physical layout follows the Arrow
// columnar format (see docs/FORMAT.md, "Type mapping"):
//
//   TypeId        Arrow type                       bytes/value  buffers
//   kInt8..64     int8..int64                      1..8         validity, values
//   kUInt8..64    uint8..uint64                    1..8         validity, values
//   kFloat32/64   float32/float64 (NaN, ±Inf kept) 4/8          validity, values
//   kDecimal      decimal128(precision<=38, scale) 16           validity, values (LE int128)
//   kBool         bool (bit-packed, LSB first)     1 bit        validity, values
//   kString       utf8 (int32 offsets)             var          validity, offsets, data
//   kBinary       binary (int32 offsets)           var          validity, offsets, data
//   kDate         date32 (days since 1970-01-01)   4            validity, values
//   kTime         time64[us] (micros since 00:00)  8            validity, values
//   kTimestamp    timestamp[us] (UTC micros), tz when with_zone 8  validity, values
//   kUuid         fixed_size_binary(16) + arrow.uuid extension   16  validity, values
//   kJson         utf8 + arrow.json extension      var          validity, offsets, data
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sluice {

enum class TypeId : uint8_t {
  kInt8, kInt16, kInt32, kInt64,
  kUInt8, kUInt16, kUInt32, kUInt64,
  kFloat32, kFloat64,
  kDecimal,
  kBool,
  kString, kBinary,
  kDate, kTime, kTimestamp,
  kUuid, kJson,
};

inline constexpr int kMaxDecimalPrecision = 38;

struct DataType {
  TypeId id = TypeId::kString;
  // kDecimal only: 1..38 digits, 0 <= scale <= precision.
  int precision = 0;
  int scale = 0;
  // kTimestamp only: true for "timestamp with time zone". Values are always
  // UTC microseconds; `timezone` names the zone the source declared ("UTC",
  // "+03:00", "Europe/Moscow"), kept for round trips and display.
  bool with_zone = false;
  std::string timezone;

  static DataType Int8() { return {TypeId::kInt8}; }
  static DataType Int16() { return {TypeId::kInt16}; }
  static DataType Int32() { return {TypeId::kInt32}; }
  static DataType Int64() { return {TypeId::kInt64}; }
  static DataType UInt8() { return {TypeId::kUInt8}; }
  static DataType UInt16() { return {TypeId::kUInt16}; }
  static DataType UInt32() { return {TypeId::kUInt32}; }
  static DataType UInt64() { return {TypeId::kUInt64}; }
  static DataType Float32() { return {TypeId::kFloat32}; }
  static DataType Float64() { return {TypeId::kFloat64}; }
  static DataType Decimal(int precision, int scale) { return {TypeId::kDecimal, precision, scale}; }
  static DataType Bool() { return {TypeId::kBool}; }
  static DataType String() { return {TypeId::kString}; }
  static DataType Binary() { return {TypeId::kBinary}; }
  static DataType Date() { return {TypeId::kDate}; }
  static DataType Time() { return {TypeId::kTime}; }
  static DataType Timestamp() { return {TypeId::kTimestamp}; }
  static DataType TimestampTz(std::string tz = "UTC") {
    return {TypeId::kTimestamp, 0, 0, true, std::move(tz)};
  }
  static DataType Uuid() { return {TypeId::kUuid}; }
  static DataType Json() { return {TypeId::kJson}; }

  bool operator==(const DataType& o) const {
    return id == o.id && precision == o.precision && scale == o.scale &&
           with_zone == o.with_zone && timezone == o.timezone;
  }
  // "int64", "decimal(38,9)", "timestamptz(UTC)", ...
  std::string ToString() const;
  // Checks parameters (decimal precision/scale).
  Status Validate() const;
};

// Parses the names ToString() produces (used by CLI schema options and tests).
Result<DataType> ParseDataType(std::string_view text);

bool IsInteger(TypeId id);
bool IsSignedInteger(TypeId id);
bool IsFloating(TypeId id);
bool IsVarWidth(TypeId id);  // string, binary, json: offsets + data buffers
// Bytes per value for fixed-width types (0 for bool and var-width types).
int FixedWidth(TypeId id);

struct Field {
  std::string name;
  DataType type;
  bool nullable = true;
  bool primary_key = false;
  // The type as the source system named it ("varchar(20)", "timestamptz",
  // "TDTP:INTEGER"), kept as a hint for sinks that can use it.
  std::string source_type;

  bool operator==(const Field& o) const {
    return name == o.name && type == o.type && nullable == o.nullable &&
           primary_key == o.primary_key && source_type == o.source_type;
  }
};

using KeyValueMetadata = std::vector<std::pair<std::string, std::string>>;

class Schema {
 public:
  Schema() = default;
  explicit Schema(std::vector<Field> fields, KeyValueMetadata metadata = {})
      : fields_(std::move(fields)), metadata_(std::move(metadata)) {}

  int num_fields() const { return static_cast<int>(fields_.size()); }
  const Field& field(int i) const { return fields_[static_cast<size_t>(i)]; }
  const std::vector<Field>& fields() const { return fields_; }
  const KeyValueMetadata& metadata() const { return metadata_; }
  std::optional<int> FieldIndex(std::string_view name) const;
  std::vector<int> PrimaryKeyIndices() const;

  // Field names unique and non-empty, types valid.
  Status Validate() const;
  // Same fields (names, types, nullability, keys); metadata ignored.
  bool Equals(const Schema& other) const { return fields_ == other.fields_; }
  std::string ToString() const;

 private:
  std::vector<Field> fields_;
  KeyValueMetadata metadata_;
};

}  // namespace sluice
