// file:// as a source: one split per file.
#include <mutex>

#include "connectors/file/file.h"
#include "connectors/file/file_internal.h"
#include "formats/csv/csv.h"
#include "formats/jsonl/jsonl.h"
#include "formats/part/part.h"
#include "formats/tdtp/tdtp.h"

namespace sluice {

namespace file {
namespace {

using internal::BatchQueue;
using internal::FileStat;

constexpr int64_t kDefaultMaxFileBytes = int64_t{1} << 30;

struct SourceConfig {
  std::string path;
  FileFormat format = FileFormat::kCsv;
  std::shared_ptr<const Schema> schema;  // schema= option, or null
  int64_t infer_rows = 1000;
  int64_t batch_rows = 0;  // 0 = the runtime's
  csv::CsvOptions csv;
  bool ignore_unknown_keys = false;
  bool empty_is_null = true;
  int64_t max_file_bytes = kDefaultMaxFileBytes;
};

// A text reader with the stream it reads (the reader points into it).
struct CsvState {
  std::unique_ptr<FileInputStream> in;
  std::unique_ptr<csv::CsvReader> reader;
};
struct JsonlState {
  std::unique_ptr<FileInputStream> in;
  std::unique_ptr<jsonl::JsonlReader> reader;
};

class CsvFileReader final : public SourceReader {
 public:
  explicit CsvFileReader(CsvState s) : s_(std::move(s)) {}
  Result<std::optional<RecordBatch>> Next() override {
    SLUICE_ASSIGN_OR_RETURN(std::optional<RecordBatch> b, s_.reader->Next());
    if (b) rows_ += b->num_rows();
    return b;
  }
  std::string position() const override { return std::to_string(rows_); }

 private:
  CsvState s_;
  int64_t rows_ = 0;
};

class JsonlFileReader final : public SourceReader {
 public:
  explicit JsonlFileReader(JsonlState s) : s_(std::move(s)) {}
  Result<std::optional<RecordBatch>> Next() override {
    SLUICE_ASSIGN_OR_RETURN(std::optional<RecordBatch> b, s_.reader->Next());
    if (b) rows_ += b->num_rows();
    return b;
  }
  std::string position() const override { return std::to_string(rows_); }

 private:
  JsonlState s_;
  int64_t rows_ = 0;
};

// Batches of a file decoded whole (.part, .tdtp.xml).
class DecodedFileReader final : public SourceReader {
 public:
  explicit DecodedFileReader(BatchQueue q) : q_(std::move(q)) {}
  Result<std::optional<RecordBatch>> Next() override { return q_.Next(); }
  std::string position() const override { return std::to_string(q_.rows_returned()); }

 private:
  BatchQueue q_;
};

class FileSource final : public Source {
 public:
  explicit FileSource(SourceConfig config) : config_(std::move(config)) {}

  Status Open(const SourceOptions& options) override {
    batch_rows_ = config_.batch_rows > 0 ? config_.batch_rows : std::max<int64_t>(1, options.batch_rows);
    SLUICE_ASSIGN_OR_RETURN(FileStat st, internal::StatRegularFile(config_.path));
    fingerprint_ = internal::FileFingerprint(config_.path, st);
    identity_ = internal::FileIdentity(config_.path);
    switch (config_.format) {
      case FileFormat::kCsv: {
        SLUICE_ASSIGN_OR_RETURN(CsvState s, OpenCsv(config_.schema));
        schema_ = s.reader->schema();
        pending_csv_ = std::move(s);
        break;
      }
      case FileFormat::kJsonl: {
        SLUICE_ASSIGN_OR_RETURN(JsonlState s, OpenJsonl(config_.schema));
        schema_ = s.reader->schema();
        pending_jsonl_ = std::move(s);
        break;
      }
      case FileFormat::kPart: {
        SLUICE_RETURN_NOT_OK(CheckSize(st));
        SLUICE_ASSIGN_OR_RETURN(auto bytes, ReadFile(config_.path, config_.max_file_bytes));
        part::DecodeOptions o;
        o.max_uncompressed_bytes = config_.max_file_bytes;
        // Plain Arrow IPC streams (pyarrow's .arrows) read too.
        o.require_sluice_header = false;
        SLUICE_ASSIGN_OR_RETURN(part::DecodedPart p, part::DecodePart(std::move(bytes), config_.path, o));
        schema_ = p.schema;
        estimated_rows_ = p.header.rows;
        decoded_ = std::move(p.batches);
        break;
      }
      case FileFormat::kTdtp: {
        SLUICE_RETURN_NOT_OK(CheckSize(st));
        SLUICE_ASSIGN_OR_RETURN(auto bytes, ReadFile(config_.path, config_.max_file_bytes));
        tdtp::ReadOptions o;
        o.max_packet_bytes = config_.max_file_bytes;
        o.legacy_empty_is_null = config_.empty_is_null;
        SLUICE_ASSIGN_OR_RETURN(tdtp::Packet p, tdtp::ReadPacket(bytes->view(), config_.path, o));
        schema_ = p.schema;
        estimated_rows_ = p.batch.num_rows();
        decoded_.clear();
        decoded_.push_back(std::move(p.batch));
        break;
      }
    }
    opened_ = true;
    return Status::OK();
  }

  std::shared_ptr<const Schema> schema() const override { return schema_; }

  Result<std::vector<Split>> Plan(int /*max_splits*/) override {
    if (!opened_) return Status::Internal("file source: Plan before Open");
    Split s;
    s.index = 0;
    s.description = config_.path;
    s.start = "0";
    s.end = "eof";
    s.estimated_rows = estimated_rows_.value_or(-1);
    return std::vector<Split>{std::move(s)};
  }

  Result<std::unique_ptr<SourceReader>> OpenSplit(const Split& split) override {
    if (!opened_) return Status::Internal("file source: OpenSplit before Open");
    if (split.index != 0) return Status::InvalidArgument("file source: no split " + std::to_string(split.index));
    std::lock_guard<std::mutex> lock(mu_);
    switch (config_.format) {
      case FileFormat::kCsv: {
        // The reader opened by Open() serves the first OpenSplit; a second
        // one (a retried split) reads the file again with the schema fixed.
        CsvState s;
        if (pending_csv_) {
          s = std::move(*pending_csv_);
          pending_csv_.reset();
        } else {
          SLUICE_ASSIGN_OR_RETURN(s, OpenCsv(schema_));
        }
        return std::unique_ptr<SourceReader>(std::make_unique<CsvFileReader>(std::move(s)));
      }
      case FileFormat::kJsonl: {
        JsonlState s;
        if (pending_jsonl_) {
          s = std::move(*pending_jsonl_);
          pending_jsonl_.reset();
        } else {
          SLUICE_ASSIGN_OR_RETURN(s, OpenJsonl(schema_));
        }
        return std::unique_ptr<SourceReader>(std::make_unique<JsonlFileReader>(std::move(s)));
      }
      case FileFormat::kPart:
      case FileFormat::kTdtp:
        // Copies share the buffers of the decoded batches.
        return std::unique_ptr<SourceReader>(
            std::make_unique<DecodedFileReader>(BatchQueue(decoded_, batch_rows_)));
    }
    return Status::Internal("file source: unknown format");
  }

  std::string Fingerprint() const override { return fingerprint_; }
  // Without size and mtime: a rewritten file with the same rows keeps its keys.
  std::string Identity() const override { return identity_; }
  std::optional<int64_t> EstimatedRows() const override { return estimated_rows_; }

  Status Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    pending_csv_.reset();
    pending_jsonl_.reset();
    decoded_.clear();
    return Status::OK();
  }

 private:
  Status CheckSize(const FileStat& st) const {
    if (st.size > config_.max_file_bytes) {
      return Status::InvalidArgument("'" + config_.path + "' is " + std::to_string(st.size) +
                                     " bytes, over max_file_bytes=" +
                                     std::to_string(config_.max_file_bytes) +
                                     " (.part and .tdtp.xml files are decoded whole)");
    }
    return Status::OK();
  }

  Result<CsvState> OpenCsv(std::shared_ptr<const Schema> schema) const {
    CsvState s;
    SLUICE_ASSIGN_OR_RETURN(s.in, FileInputStream::Open(config_.path));
    csv::CsvReadOptions o;
    static_cast<csv::CsvOptions&>(o) = config_.csv;
    o.schema = std::move(schema);
    o.infer_rows = config_.infer_rows;
    o.batch_rows = batch_rows_;
    SLUICE_ASSIGN_OR_RETURN(s.reader, csv::CsvReader::Open(s.in.get(), std::move(o)));
    return s;
  }

  Result<JsonlState> OpenJsonl(std::shared_ptr<const Schema> schema) const {
    JsonlState s;
    SLUICE_ASSIGN_OR_RETURN(s.in, FileInputStream::Open(config_.path));
    jsonl::JsonlReadOptions o;
    o.schema = std::move(schema);
    o.infer_rows = config_.infer_rows;
    o.batch_rows = batch_rows_;
    o.ignore_unknown_keys = config_.ignore_unknown_keys;
    SLUICE_ASSIGN_OR_RETURN(s.reader, jsonl::JsonlReader::Open(s.in.get(), std::move(o)));
    return s;
  }

  SourceConfig config_;
  bool opened_ = false;
  int64_t batch_rows_ = 65536;
  std::string fingerprint_;
  std::string identity_;
  std::shared_ptr<const Schema> schema_;
  std::optional<int64_t> estimated_rows_;
  std::mutex mu_;
  std::optional<CsvState> pending_csv_;
  std::optional<JsonlState> pending_jsonl_;
  std::vector<RecordBatch> decoded_;
};

}  // namespace

}  // namespace file

Result<std::unique_ptr<Source>> MakeFileSource(const Uri& uri, const Options& options) {
  file::SourceConfig c;
  c.path = file::PathOf(uri);
  if (c.path.empty()) {
    return Status::InvalidArgument("'" + uri.Redacted() + "' names no file (expected file:///path/to/file.csv)");
  }
  SLUICE_ASSIGN_OR_RETURN(c.format, file::ResolveFileFormat(c.path, options.GetString("format")));
  const std::string where = "file source '" + c.path + "'";
  if (options.Has("schema")) {
    if (c.format != file::FileFormat::kCsv && c.format != file::FileFormat::kJsonl) {
      return Status::InvalidArgument(where + ": option 'schema' applies to CSV and JSONL only (" +
                                     std::string(file::FileFormatName(c.format)) +
                                     " files carry their schema)");
    }
    SLUICE_ASSIGN_OR_RETURN(c.schema, ParseSchemaSpec(options.GetString("schema")));
  }
  c.infer_rows = file::internal::IntOr(options, "infer_rows", 1000);
  if (c.infer_rows < 0) return Status::InvalidArgument(where + ": infer_rows must be >= 0");
  c.batch_rows = file::internal::IntOr(options, "batch_rows", 0);
  if (c.batch_rows < 0) return Status::InvalidArgument(where + ": batch_rows must be >= 0");
  SLUICE_ASSIGN_OR_RETURN(c.csv, file::internal::CsvDialectFromOptions(options, c.path));
  c.ignore_unknown_keys = file::internal::BoolOr(options, "ignore_unknown_keys", false);
  c.empty_is_null = file::internal::BoolOr(options, "empty_is_null", true);
  c.max_file_bytes = file::internal::SizeOr(options, "max_file_bytes", file::kDefaultMaxFileBytes);
  if (c.max_file_bytes <= 0) return Status::InvalidArgument(where + ": max_file_bytes must be positive");
  return std::unique_ptr<Source>(std::make_unique<file::FileSource>(std::move(c)));
}

}  // namespace sluice
