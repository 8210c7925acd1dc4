// JSON Lines codec: one JSON object per line per row, keys in schema order.
// A streaming writer of RecordBatches and a streaming reader returning
// RecordBatches, with the schema given or inferred from a sample. Value
// conventions (specified in docs/FORMAT.md, section "JSON Lines"):
//
//   ints       JSON numbers (exact for every width)
//   floats     shortest round-trip numbers; NaN, Infinity, -Infinity as strings
//   decimal    string with the exact value ("123.4500")
//   bool       true / false              string   JSON string (RFC 8259 escapes)
//   date       "YYYY-MM-DD"              time     "HH:MM:SS[.ffffff]"
//   timestamp  "YYYY-MM-DDTHH:MM:SS[.ffffff]" (+ "Z" when the type has a zone);
//              or, with JsonlWriteOptions::timestamps, a number of seconds or
//              milliseconds since 1970-01-01 (exact: "1672531200.25")
//   binary     base64 string             uuid     canonical string
//   json       the value embedded as JSON (compact), not as a string
//   NULL       null
//
// Thread safety: a JsonlWriter / JsonlReader is used by one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/batch.h"
#include "core/io.h"
#include "core/status.h"
#include "core/types.h"

namespace sluice::jsonl {

// How timestamps are written: canonical ISO text (the default), or a JSON
// number of seconds / milliseconds since the Unix epoch (UTC; a timestamp
// without zone counts as UTC). Epoch numbers are exact decimals: whole
// numbers when the value has no smaller fraction, else digits to the microsecond.
enum class TimestampFormat { kIso, kEpochSeconds, kEpochMillis };

// "iso" | "epoch" | "epoch_ms".
Result<TimestampFormat> ParseTimestampFormat(std::string_view text);

struct JsonlWriteOptions {
  TimestampFormat timestamps = TimestampFormat::kIso;
};

// Appends micros-since-epoch as an exact decimal number of seconds
// (kEpochSeconds) or milliseconds (kEpochMillis).
void AppendEpochNumber(int64_t micros, TimestampFormat unit, std::string* out);

struct JsonlReadOptions {
  // Keys are matched to fields by name in any order; a missing key is NULL.
  // Without a schema, types are inferred from the first `infer_rows` lines.
  std::shared_ptr<const Schema> schema;
  // A key that names no column is an error by default; true skips its value
  // (which must still be valid JSON).
  bool ignore_unknown_keys = false;
  int64_t infer_rows = 1000;
  // Inference may pick decimal(p,s) for plain numbers that float64 cannot hold exactly.
  bool infer_decimal = true;
  // A batch ends after batch_rows rows or once the lines read reach batch_bytes.
  int64_t batch_rows = 64 * 1024;
  int64_t batch_bytes = int64_t{8} << 20;
  // Size of each InputStream::Read (the reader never holds the whole input).
  int64_t read_chunk_bytes = int64_t{1} << 20;
  // Longest accepted line.
  int64_t max_record_bytes = int64_t{64} << 20;
  // A JSON number read into a timestamp column counts this unit since the
  // Unix epoch (kIso: seconds). ISO strings are accepted either way.
  TimestampFormat epoch_unit = TimestampFormat::kEpochSeconds;
  // Names line `n` (1-based) in error messages instead of "line n" — e.g.
  // "message topic[2]@1207" when each line was one broker message.
  std::function<std::string(int64_t line)> describe_line;
};

class JsonlWriter {
 public:
  static Result<std::unique_ptr<JsonlWriter>> Make(OutputStream* out,
                                                   std::shared_ptr<const Schema> schema,
                                                   JsonlWriteOptions options = {});
  // Appends one line per row. Fails (writing nothing for that row) when a
  // json column holds text that is not a JSON value.
  Status Write(const RecordBatch& batch);
  // Flushes buffered text to the stream (and the stream). Required at the end.
  Status Finish();
  int64_t rows_written() const { return rows_written_; }

 private:
  JsonlWriter(OutputStream* out, std::shared_ptr<const Schema> schema, JsonlWriteOptions options);
  Status FlushBuffer();

  OutputStream* out_;
  std::shared_ptr<const Schema> schema_;
  JsonlWriteOptions options_;
  std::vector<std::string> key_prefix_;  // "{\"a\":", ",\"b\":", ...
  std::string buf_;
  int64_t rows_written_ = 0;
  bool finished_ = false;
};

class JsonlReader {
 public:
  // Without a schema, reads the inference sample (kept in memory and replayed).
  static Result<std::unique_ptr<JsonlReader>> Open(InputStream* in, JsonlReadOptions options = {});
  ~JsonlReader();

  const std::shared_ptr<const Schema>& schema() const;
  // The next batch (1..batch_rows rows), or nullopt at the end of the input.
  // After an error every later call returns the same error.
  Result<std::optional<RecordBatch>> Next();

 private:
  class Impl;
  explicit JsonlReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::jsonl
