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
//   timestamp  "YYYY-MM-DDTHH:MM:SS[.ffffff]" (+ "Z" when the type has a zone)
//   binary     base64 string             uuid     canonical string
//   json       the value embedded as JSON (compact), not as a string
//   NULL       null
//
// Thread safety: a JsonlWriter / JsonlReader is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/batch.h"
#include "core/io.h"
#include "core/status.h"
#include "core/types.h"

namespace sluice::jsonl {

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
};

class JsonlWriter {
 public:
  static Result<std::unique_ptr<JsonlWriter>> Make(OutputStream* out,
                                                   std::shared_ptr<const Schema> schema);
  // Appends one line per row. Fails (writing nothing for that row) when a
  // json column holds text that is not a JSON value.
  Status Write(const RecordBatch& batch);
  // Flushes buffered text to the stream (and the stream). Required at the end.
  Status Finish();
  int64_t rows_written() const { return rows_written_; }

 private:
  JsonlWriter(OutputStream* out, std::shared_ptr<const Schema> schema);
  Status FlushBuffer();

  OutputStream* out_;
  std::shared_ptr<const Schema> schema_;
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
