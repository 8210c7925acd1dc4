// Reading ClickHouse RowBinary result streams into columnar batches (the
// source side; ch_rowbinary.h is the sink's encoder): column types as the
// server names them, the sluice type each becomes, the comment marker the
// sink leaves on the columns of tables it creates, and the incremental
// decoder with its detection of an exception the server appended mid-stream.
//
// Everything here decodes bytes from the network: it treats them as hostile
// and is fuzzed by tests/fuzz/chrowbinary_fuzz.cc. No network, no libcurl.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/batch.h"

namespace sluice {

// How one value travels in RowBinary (after the Nullable flag byte, if any).
enum class ChWire : uint8_t {
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kUInt8,
  kUInt16,
  kUInt32,
  kUInt64,
  kInt128,
  kUInt128,  // 16 bytes little-endian (20.x+)
  kFloat32,
  kFloat64,
  kDecimal32,
  kDecimal64,
  kDecimal128,   // the unscaled integer, 4 / 8 / 16 bytes
  kBool,         // one byte, 0 or 1 (21.12+)
  kString,       // LEB128 length + bytes
  kFixedString,  // exactly N bytes
  kUuid,         // two little-endian UInt64 halves, the first 8 bytes of the text first
  kDate,         // UInt16 days since 1970-01-01
  kDate32,       // Int32 days since 1970-01-01 (21.9+)
  kDateTime,     // UInt32 seconds since the epoch
  kDateTime64,   // Int64 ticks of 10^-precision seconds (20.1+)
  kEnum8,        // Int8 value of one of the named values
  kEnum16,       // Int16 value
  kNothing,      // the type of a bare NULL: only Nullable(Nothing) values occur
};

// A column type the decoder can read, parsed from the server's type name.
struct ChWireType {
  ChWire wire = ChWire::kString;
  bool nullable = false;
  bool low_cardinality = false;  // LowCardinality(T) travels in RowBinary as T
  int precision = 0;             // Decimal*: digits; DateTime64: sub-second digits
  int scale = 0;                 // Decimal*
  int fixed_size = 0;            // FixedString(N)
  std::string timezone;          // DateTime / DateTime64, when the type names one
  // Enum8 / Enum16: (value, name), sorted by value, values unique.
  std::vector<std::pair<int16_t, std::string>> enum_values;
  std::string text;  // the type as the server wrote it (for messages)
};

// Names longer than this are refused (an Enum with thousands of values is
// still far below it).
inline constexpr size_t kMaxChWireTypeBytes = 1 << 20;

// Parses a type name ("Nullable(Decimal(38, 9))", "LowCardinality(String)",
// "Enum8('a' = 1, 'b' = 2)", "DateTime64(3, 'UTC')"). Well-formed types the
// decoder cannot read (Array, Tuple, Map, Nested, AggregateFunction,
// Decimal256, Int256, IPv4, ...) give kUnsupported; malformed text
// kInvalidData. The caller adds the column's name.
Result<ChWireType> ParseChWireType(std::string_view text);

// The sluice type a ClickHouse type becomes when nothing else is said:
// integers and floats as such, Int128/UInt128 decimal(38,0), Decimal(P,S)
// decimal(P,S), Bool bool, String string, FixedString binary, UUID uuid,
// Date/Date32 date, DateTime/DateTime64 timestamptz(zone: the type's, else
// `server_timezone`), Enum8/Enum16 string (the value's name), Nothing string.
DataType DefaultChSourceType(const ChWireType& t, const std::string& server_timezone);

// Whether the decoder converts values of `wire` into `type` (beyond the
// default): integers into any integer type, bool, date (days), time and
// timestamp (microseconds), each value range-checked; String into any type
// (string/json as UTF-8, binary as raw bytes, other types parsed from their
// text, as the sink writes them with dates=string / timestamps=string);
// FixedString into binary, string (trailing zero bytes are padding) or uuid
// (N = 16); Date/Date32/DateTime/DateTime64 into date / timestamp(tz);
// Decimal into decimal of the same scale and enough precision.
bool ChCanConvert(const ChWireType& wire, const DataType& type);

// The comment the sink puts on each column of a table it creates, recording
// the sluice type behind the ClickHouse one ("sluice type: date" on an Int32
// column of days): "sluice type: <DataType::ToString()>[ primary key]".
inline constexpr std::string_view kChTypeMarkerPrefix = "sluice type: ";
std::string ChTypeMarker(const Field& field);
struct ChMarkedType {
  DataType type;
  bool primary_key = false;
};
// std::nullopt when `comment` is not a (readable) marker.
std::optional<ChMarkedType> ParseChTypeMarker(std::string_view comment);

// One column of the stream: how it travels and what it becomes.
struct ChReadColumn {
  std::string name;
  ChWireType wire;
  DataType type;  // the output type; ChCanConvert(wire, type) must hold
};

// Whether the bytes at a row boundary begin like the text ClickHouse appends
// to a response body when a query fails after the HTTP status was sent:
// "Code: 395, e.displayText() = DB::Exception: ..." (18.x..20.x),
// "Code: 395. DB::Exception: ..." (later), or a "__exception__" frame (25.x).
enum class ChExceptionMatch { kNo, kYes, kNeedMore };
ChExceptionMatch MatchChExceptionStart(std::string_view bytes);

// Decodes RowBinary rows into a BatchBuilder whose schema has the columns'
// types, in order. Incremental: each call decodes the whole rows at the
// front of the bytes it is given and reports how far it got; the caller
// keeps the rest and calls again with more bytes appended.
//
// A server that fails mid-stream appends its exception text where the next
// row would start: before decoding a row whose first bytes match
// MatchChExceptionStart, the decoder stops with kSuspect. The caller reads on:
// if the stream ends within kMaxChExceptionBytes the text is the server's
// error (ExceptionError); otherwise the row was data after all, and the
// caller calls AcceptSuspect() and decodes on.
//
// Thread safety: one decoder per stream, used by one thread.
inline constexpr size_t kMaxChExceptionBytes = 1 << 20;
// A single value (String) larger than this is refused.
inline constexpr uint64_t kMaxChValueBytes = uint64_t{256} << 20;

class RowBinaryDecoder {
 public:
  // `name` prefixes every error ("clickhouse 127.0.0.1:8123 table `db`.`t`").
  // Fails when a column's conversion is not one ChCanConvert allows.
  static Result<RowBinaryDecoder> Make(std::vector<ChReadColumn> columns, std::string name);

  enum class Stop {
    kNeedMore,   // the bytes end inside a row (or before the next one starts)
    kBatchFull,  // `max_rows` rows or `max_bytes` bytes are in the builder
    kSuspect,    // the next row starts like a server exception (see above)
  };
  struct Outcome {
    size_t consumed = 0;  // bytes of whole rows decoded, from the front
    Stop stop = Stop::kNeedMore;
  };
  // `at_end`: no bytes follow these (the check for an exception then needs
  // no more bytes than there are). Errors name the row (1-based in the
  // stream) and the column.
  Result<Outcome> Decode(std::string_view data, bool at_end, BatchBuilder* out, int64_t max_rows,
                         int64_t max_bytes);
  // The suspicious row start was data: decode it as a row.
  void AcceptSuspect() { accept_suspect_ = true; }

  // The error for a stream that ended with `rest` undecoded: the server's
  // exception when `rest` is one, else a truncated or malformed stream.
  Status EndError(std::string_view rest) const;

  int64_t rows() const { return rows_; }
  const std::vector<ChReadColumn>& columns() const { return columns_; }

 private:
  // How a column's values become the output type.
  enum class Conv : uint8_t {
    kCopy,        // same representation (integers, floats): the value bytes as they are
    kInt,         // an integer (any width, signed or not) into an integer-like type, range-checked
    kFloatWiden,  // Float32 -> float64
    kDecimal,     // Decimal32/64/128, Int128/UInt128 -> decimal (rescaled up, range-checked)
    kBool,        // Bool (0/1) -> bool
    kUtf8,        // String -> string / json (UTF-8 checked)
    kBytes,       // String -> binary
    kParse,       // String -> any other type, parsed from its text
    kFixedBytes,  // FixedString -> binary
    kFixedText,   // FixedString -> string, trailing zero bytes dropped
    kFixedUuid,   // FixedString(16) -> uuid (raw bytes)
    kUuid,        // UUID -> uuid
    kDate,        // Date (UInt16 days) -> date
    kDate32,      // Date32 (Int32 days) -> date, range-checked
    kDateTime,    // DateTime (UInt32 s) -> timestamp
    kDateTime64,  // DateTime64 ticks -> timestamp (exact), range-checked
    kEnum,        // Enum8/16 -> string (the value's name)
    kNothing,     // Nothing -> string (NULL only)
  };
  struct Plan {
    Conv conv = Conv::kCopy;
    bool nullable = false;
    int width = 0;  // bytes of a fixed-width value (0: String)
    bool wire_signed = false;
    int128_t lo = 0, hi = 0;  // kInt / kDecimal: the accepted range of the output
    int128_t factor = 1;      // kDecimal: rescale; kDateTime64: 10^|6 - precision|
    bool divide = false;      // kDateTime64: ticks finer than microseconds
  };
  RowBinaryDecoder(std::vector<ChReadColumn> columns, std::vector<Plan> plans, std::string name);
  Status Fail(int col, const std::string& what) const;
  // Bytes of the row at the front of `data`, or 0 when it is incomplete.
  Result<size_t> RowSize(std::string_view data) const;
  Status DecodeRow(const uint8_t* p, BatchBuilder* out);

  std::vector<ChReadColumn> columns_;
  std::vector<Plan> plans_;
  std::string name_;
  size_t fixed_row_size_ = 0;  // > 0 when every column is fixed-width and not Nullable
  int64_t rows_ = 0;
  bool accept_suspect_ = false;
};

}  // namespace sluice
