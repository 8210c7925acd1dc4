// Decoder of PostgreSQL's binary COPY format ("PGCOPY\n\377\r\n\0" header,
// then tuples of int16 field count + per field int32 length (-1 = NULL) and
// the type's binary send() bytes, then an int16 -1 trailer), straight into
// ColumnBuilders.
//
// The bytes come from outside the process (a server, a proxy, a file), so the
// decoder treats them as hostile: every read is bounds-checked, every value
// is checked against its column type (lengths, numeric digits, utf8, date and
// timestamp ranges) and an error names the stream, the row and the column.
//
// Thread safety: none; one decoder per reader.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/batch.h"
#include "core/status.h"

namespace sluice {

// How one column's binary value is laid out on the wire. The DataType of the
// builder it feeds follows from it (kNumeric: decimal(p,s)).
enum class PgWire : uint8_t {
  kInt16,        // int2            -> int16
  kInt32,        // int4            -> int32
  kInt64,        // int8            -> int64
  kFloat32,      // float4          -> float32
  kFloat64,      // float8          -> float64
  kNumeric,      // numeric         -> decimal(p,s) (NaN/±Inf: error)
  kText,         // text-like       -> string (utf8 checked)
  kJson,         // json (text)     -> json (utf8 checked)
  kJsonb,        // jsonb (version byte 1 + text) -> json
  kBytea,        // bytea           -> binary
  kBool,         // bool            -> bool
  kDate,         // date            -> date (±infinity: error)
  kTime,         // time            -> time (micros; 24:00:00 kept)
  kTimestamp,    // timestamp       -> timestamp (±infinity: error)
  kTimestampTz,  // timestamptz     -> timestamptz(UTC)
  kUuid,         // uuid            -> uuid
};

struct PgCopyColumn {
  std::string name;
  PgWire wire = PgWire::kText;
  DataType type;  // the builder's type (decimal precision/scale for kNumeric)
};

// The builder type for a wire kind (`precision`/`scale` used for kNumeric).
DataType PgWireType(PgWire wire, int precision = 0, int scale = 0);

class PgCopyDecoder {
 public:
  // `name` prefixes errors ("postgres 127.0.0.1:55432/db table public.t split 2").
  PgCopyDecoder(std::vector<PgCopyColumn> columns, std::string name);

  // Decodes as many whole tuples of `data` (appended to any unconsumed tail of
  // earlier calls) as it holds into `out`, whose schema must have the
  // columns' types in order. Rows are appended only whole: a tuple split
  // across calls is kept until its rest arrives.
  Status Consume(std::string_view data, BatchBuilder* out);
  // Checks the stream ended cleanly: header seen, trailer seen, nothing after it.
  Status Finish() const;

  bool done() const { return done_; }
  int64_t rows() const { return rows_; }

 private:
  // Decodes tuples from [p, end); advances p past whole tuples.
  Status DecodeTuples(const uint8_t*& p, const uint8_t* end, BatchBuilder* out);
  Status DecodeValue(int col, const uint8_t* v, int32_t len, ColumnBuilder* b);
  Status Error(int col, const std::string& what) const;

  std::vector<PgCopyColumn> columns_;
  std::string name_;
  std::string pending_;  // an incomplete tuple (or header) carried to the next call
  bool header_done_ = false;
  bool done_ = false;
  int64_t rows_ = 0;
};

}  // namespace sluice
