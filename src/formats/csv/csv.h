// CSV (RFC 4180) codec: a streaming writer of RecordBatches and a streaming
// reader that returns RecordBatches, with the schema given or inferred from a
// sample. Conventions (NULL vs empty string, quoting, value text, inference
// rules, error messages) are specified in docs/FORMAT.md, section "CSV".
//
// In short: fields holding the delimiter, the quote, CR or LF are quoted and
// quotes inside are doubled; an unquoted empty field is NULL, a quoted empty
// field ("") is the empty string; values use the canonical text of
// core/text.h (binary as base64).
//
// Thread safety: a CsvWriter / CsvReader is used by one thread at a time.
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

namespace sluice::csv {

// The dialect, shared by the reader and the writer.
struct CsvOptions {
  char delimiter = ',';
  char quote = '"';
  // Reader: the first record holds the column names. Writer: write a header
  // line first (turn off when appending to an existing file).
  bool header = true;
  // When set, an unquoted field equal to this text is NULL too, and the
  // writer writes NULL as this text (e.g. "\\N"). Unquoted empty fields are
  // NULL either way; a quoted field is never NULL.
  std::optional<std::string> null_marker;
  // Writer: end lines with CRLF instead of LF (the reader accepts both).
  bool crlf = false;
};

struct CsvReadOptions : CsvOptions {
  // The expected columns. With a header, header names are matched to schema
  // fields by name (any order; every field must appear exactly once).
  // Without a schema, types are inferred from the first `infer_rows` rows.
  std::shared_ptr<const Schema> schema;
  // Names for a file without header and without schema ("column1".. otherwise).
  std::vector<std::string> column_names;
  int64_t infer_rows = 1000;
  // Inference may pick decimal(p,s) for plain numbers that float64 cannot hold exactly.
  bool infer_decimal = true;
  // A batch ends after batch_rows rows or once its field text reaches batch_bytes.
  int64_t batch_rows = 64 * 1024;
  int64_t batch_bytes = int64_t{8} << 20;
  // Size of each InputStream::Read (the reader never holds the whole input).
  int64_t read_chunk_bytes = int64_t{1} << 20;
  // Longest accepted record (guards memory against e.g. an unterminated quote).
  int64_t max_record_bytes = int64_t{64} << 20;
};

class CsvWriter {
 public:
  // Writes the header line (when options.header) into the output buffer.
  static Result<std::unique_ptr<CsvWriter>> Make(OutputStream* out,
                                                 std::shared_ptr<const Schema> schema,
                                                 CsvOptions options = {});
  // Appends the rows of `batch`, whose columns must match the schema's types.
  Status Write(const RecordBatch& batch);
  // Flushes buffered text to the stream (and the stream). Required at the end.
  Status Finish();
  int64_t rows_written() const { return rows_written_; }

 private:
  CsvWriter(OutputStream* out, std::shared_ptr<const Schema> schema, CsvOptions options);
  void AppendField(std::string_view text, bool force_quote);
  Status FlushBuffer();

  OutputStream* out_;
  std::shared_ptr<const Schema> schema_;
  CsvOptions options_;
  bool needs_quote_[256] = {};
  bool canonical_verbatim_ = false;
  std::string buf_;
  int64_t rows_written_ = 0;
  bool finished_ = false;
};

class CsvReader {
 public:
  // Reads the header and, without a schema, the inference sample.
  static Result<std::unique_ptr<CsvReader>> Open(InputStream* in, CsvReadOptions options = {});
  ~CsvReader();

  const std::shared_ptr<const Schema>& schema() const;
  // The next batch (1..batch_rows rows), or nullopt at the end of the input.
  // After an error every later call returns the same error.
  Result<std::optional<RecordBatch>> Next();

 private:
  class Impl;
  explicit CsvReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::csv
