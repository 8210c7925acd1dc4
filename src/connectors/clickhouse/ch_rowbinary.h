// ClickHouse RowBinary built directly from columnar batches (no text round
// trip): which ClickHouse type a sluice field gets in a table the sink
// creates (per server capabilities and the sink's options), how a source
// column is written into an existing ClickHouse column, and the encoder.
//
// RowBinary, as ClickHouse 18.16 and later read it: rows one after another,
// each value in its column's binary form — integers and floats little-endian,
// Decimal as its unscaled 32/64/128-bit integer, String/FixedString as a
// LEB128 length + bytes, Date as UInt16 days, Date32 as Int32 days, DateTime
// as UInt32 seconds, DateTime64(p) as Int64 ticks, UUID as two little-endian
// UInt64 halves (the first 8 bytes of its text form first), Bool as one byte; Nullable(T) prefixes
// a byte (1 = NULL, then nothing; 0 = a value of T follows). LowCardinality(T) is written as T.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/clickhouse/ch_protocol.h"
#include "core/batch.h"

namespace sluice {

// What the server can store, from feature detection (see clickhouse_sink.cc):
// decides the types of created tables and the value ranges checked.
struct ChCapabilities {
  bool datetime64 = false;  // DateTime64 type (20.1+)
  bool date32 = false;      // Date32 type (21.9+)
  bool bool_type = false;   // Bool type (21.12+)
  // Date / DateTime end: 2105-12-31 on 18.x (the documented end of the
  // supported range; its functions break after it), 2149-06-06 / 2106-02-07
  // on 20.1+ where the full unsigned range is supported.
  bool wide_date = false;
  // Date32 / DateTime64 range: 1900-01-01 .. 2299-12-31 from 22.8, before
  // that 1925-01-01 .. 2283-11-11.
  bool extended_range = false;

  // Capabilities of the oldest server this connector supports (18.16).
  static ChCapabilities Legacy() { return {}; }
};

// Value ranges (days / seconds since the epoch) of the date-time kinds.
struct ChRanges {
  int32_t date_max;      // Date: 0 .. date_max
  int64_t datetime_max;  // DateTime: 0 .. datetime_max seconds
  int32_t date32_min, date32_max;
  int64_t dt64_min_seconds, dt64_max_seconds;  // DateTime64
  static ChRanges For(const ChCapabilities& caps);
};

// How the sink stores temporal types in tables it creates.
enum class ChDateMode { kAuto, kDate, kDate32, kDays, kString };
enum class ChTimestampMode { kAuto, kDateTime64, kDateTime, kMicros, kString };

struct ChMappingOptions {
  ChDateMode dates = ChDateMode::kAuto;
  ChTimestampMode timestamps = ChTimestampMode::kAuto;
};

// The ClickHouse type of `field` in a table the sink creates. `nullable`
// false forces a non-Nullable column (ORDER BY keys). Fails when the mode
// asks for a type the server lacks (timestamps=datetime64 on 18.16).
Result<ChType> ChTypeForField(const Field& field, bool nullable, const ChCapabilities& caps,
                              const ChMappingOptions& options);

// One source column mapped onto one ClickHouse column.
struct ChColumnPlan {
  std::string name;
  DataType source;
  ChType target;
  enum class Conv : uint8_t {
    kInt,  // any integer, bool, date (days), time / timestamp (µs) -> an integer or Bool column
    kFloat32,     // float32 -> Float32
    kFloatWiden,  // float32 -> Float64
    kFloat64,     // float64 -> Float64
    kDecimal,     // decimal(p,s) -> Decimal(P,S), S >= s (rescaled exactly)
    kBytes,       // string / binary / json -> String
    kFixed,       // string / binary / uuid -> FixedString(N) (shorter values zero-padded)
    kText,        // anything else -> String, as text (see ChTextValue)
    kUuid,        // uuid -> UUID
    kDate,        // date -> Date
    kDate32,      // date -> Date32
    kDateTime,    // timestamp -> DateTime (whole seconds only)
    kDateTime64,  // timestamp -> DateTime64(p)
  };
  Conv conv = Conv::kBytes;
  // kInt: the accepted range of the target; kDecimal: the rescale factor
  // and largest magnitude; kDateTime64: the tick factor.
  int128_t min_value = 0, max_value = 0;
  int128_t factor = 1;
  int128_t unscaled_limit = 0;  // kDecimal: max_value / factor (the largest source value)
  int width = 0;  // bytes of the target value (ints, decimals)
  ChRanges ranges{};
};

// Checks that values of `field` can be written into a column of type
// `target` exactly and plans how. The error names the column and both types.
Result<ChColumnPlan> PlanChColumn(const Field& field, const ChType& target,
                                  const ChCapabilities& caps);

// The text the sink stores for a value in a String column that holds a
// non-text type: dates "YYYY-MM-DD", times "HH:MM:SS.ffffff", timestamps
// "YYYY-MM-DD HH:MM:SS.ffffff" (fixed width: text order is time order for
// years 0001-9999, and ClickHouse's toDateTime64/parseDateTimeBestEffort read
// it), uuid 8-4-4-4-12, other types their canonical text (core/text.h).
void AppendChText(const Column& col, int64_t row, std::string* out);

// A column of one value in every row (the ledger's hidden columns): its
// name, type and the value's binary form.
struct NativeConstant {
  std::string name, type, value;
};

// Encodes batches for the planned columns as RowBinary rows or as one block
// of the Native format (columns one after another: what clickhouse-client
// sends, and far cheaper for the server to read than rows: 2.3x less server
// CPU than RowBinary on lineitem). Values have the same binary form in both;
// a Native block is VarUInt columns, VarUInt rows, then per column its name,
// its type and its values (Nullable: a byte per row, 1 = NULL, then a value
// per row, a default one under NULLs). Thread safety: immutable after
// construction; Append and AppendNativeBlock may run concurrently.
class RowBinaryEncoder {
 public:
  explicit RowBinaryEncoder(std::vector<ChColumnPlan> plans) : plans_(std::move(plans)) {}
  const std::vector<ChColumnPlan>& plans() const { return plans_; }

  // Appends every row of `batch` (whose columns match the plans in order),
  // each followed by the bytes of `suffix` (hidden columns the caller
  // encoded). `first_row` is the 1-based number of the batch's first row
  // within its part, for error messages: "row 57 column \"d\": ...".
  Status Append(const RecordBatch& batch, int64_t first_row, std::string_view suffix,
                std::string* out) const;

  // Appends the rows of all `batches` as one Native block, followed by the
  // `hidden` constant columns. One block per part: the server writes it as
  // one data part per partition. (ChPartBody makes the same bytes piece by
  // piece.)
  Status AppendNativeBlock(const std::vector<RecordBatch>& batches,
                           const std::vector<NativeConstant>& hidden, std::string* out) const;

 private:
  friend class ChPartBody;
  static Status AppendValue(const Column& col, const ChColumnPlan& p, int64_t r, int64_t row,
                            std::string* text, std::string* out);
  // Rows [begin, end) of `col`, none of them NULL, exactly as AppendValue
  // writes them one by one (`row` numbers `begin`); the common conversions
  // run as column loops.
  static Status AppendValues(const Column& col, const ChColumnPlan& p, int64_t begin, int64_t end,
                             int64_t row, std::string* text, std::string* out);

  std::vector<ChColumnPlan> plans_;
};

// One part's INSERT body made piece by piece, so that the encoded part never
// exists whole in memory (the sink streams it to the server: ChBodySource):
// the Native block of AppendNativeBlock, or the RowBinary rows of Append
// with `suffix` after each. Borrows the encoder and the batches, which must
// outlive it. Rewind() starts over (a retry sends the same bytes again).
class ChPartBody {
 public:
  static ChPartBody Native(const RowBinaryEncoder* encoder,
                           const std::vector<RecordBatch>* batches,
                           std::vector<NativeConstant> hidden);
  static ChPartBody RowBinary(const RowBinaryEncoder* encoder,
                              const std::vector<RecordBatch>* batches, std::string suffix);

  void Rewind();
  // Appends the next piece to `out`: about `target` bytes (Native; a value
  // may overshoot it) or one batch's rows (RowBinary). false once the body
  // is complete (nothing appended). Errors name the row (1-based in the
  // part) and the column.
  Result<bool> Next(std::string* out, size_t target);

 private:
  enum class Stage { kHeader, kColumn, kNullMap, kValues, kHidden, kHiddenValues, kDone };
  ChPartBody(const RowBinaryEncoder* encoder, const std::vector<RecordBatch>* batches, bool native)
      : encoder_(encoder), batches_(batches), native_(native) {}
  Status NextNative(std::string* out, size_t limit);
  void NextColumn();

  const RowBinaryEncoder* encoder_;
  const std::vector<RecordBatch>* batches_;
  bool native_;
  std::vector<NativeConstant> hidden_;  // Native
  std::string suffix_;                  // RowBinary
  Stage stage_ = Stage::kHeader;
  size_t column_ = 0;   // planned column (kColumn..kValues) or hidden one
  size_t batch_ = 0;    // batch within the column
  int64_t row_ = 0;     // row within the batch
  int64_t row_number_ = 1;  // 1-based row within the part (messages)
  int64_t rows_ = 0;        // rows of the part (Native header)
  std::string text_;        // scratch for AppendValue
};

// RowBinary primitives (exposed for the hidden columns and tests).
void AppendVarUInt(uint64_t v, std::string* out);
void AppendRowBinaryString(std::string_view s, std::string* out);

}  // namespace sluice
