// file:// as a sink: one output file.
//
// create / overwrite: everything goes to a temp file next to the target
// ("<path>.tmp-<pid>-<n>", FileOutputStream atomic mode) which Commit()
// renames into place; an un-committed sink removes it. Applied part ids are
// remembered in memory only: the file appears whole or not at all, so a
// re-run simply writes it again.
//
// append (CSV, JSONL): parts are appended in place, each as one transaction
// recorded in the ledger "<path>.sluice-ledger" (text, one record per line):
//
//   sluice-ledger 1                 first line
//   B <offset> <part id>            before the part's bytes are written at <offset>
//   C <end offset> <part id>        after they are all written (and fsynced with fsync=true)
//   A <offset>                      a B without C was rolled back to <offset>
//
// Open() finds the parts applied (C records) and rolls back an interrupted
// part (a last B without its C) by truncating the file to the B's offset, so
// after a crash the file holds whole parts only and a re-delivered part is
// skipped (kAlreadyApplied).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <unordered_set>

#include "connectors/file/file.h"
#include "connectors/file/file_internal.h"
#include "core/log.h"
#include "formats/csv/csv.h"
#include "formats/jsonl/jsonl.h"
#include "formats/part/part.h"
#include "formats/tdtp/tdtp.h"

namespace sluice {

namespace file {
namespace {

namespace fs = std::filesystem;
using internal::AppendFile;
using internal::WriteMode;

constexpr std::string_view kLedgerMagic = "sluice-ledger 1";
constexpr int64_t kDefaultMaxPartBytes = int64_t{1} << 30;
constexpr int64_t kMaxLedgerBytes = int64_t{1} << 30;

struct SinkConfig {
  std::string path;
  FileFormat format = FileFormat::kCsv;
  WriteMode mode = WriteMode::kCreate;
  bool fsync = false;
  csv::CsvOptions csv;
  part::Compression compression = part::Compression::kZstd;
  int part_compression_level = 1;
  bool tdtp_compress = false;
  int tdtp_compression_level = 3;
  std::string tdtp_table;
  int64_t max_part_bytes = kDefaultMaxPartBytes;
};

bool ParseI64(std::string_view s, int64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty() && *out >= 0;
}

// What the ledger says about the data file.
struct LedgerState {
  std::unordered_set<std::string> applied;
  int64_t committed_end = 0;            // end offset of the last C record
  std::optional<int64_t> pending;       // offset of a B without its C
  bool exists = false;
  bool has_magic = false;
  int64_t file_bytes = 0;
  int64_t valid_bytes = 0;  // through the last complete line
};

Result<LedgerState> ReadLedger(const std::string& ledger_path) {
  LedgerState st;
  struct stat sb;
  if (::stat(ledger_path.c_str(), &sb) != 0) {
    if (errno == ENOENT) return st;
    return Status::IOError("cannot stat ledger '" + ledger_path + "': " + std::strerror(errno));
  }
  st.exists = true;
  SLUICE_ASSIGN_OR_RETURN(auto buf, ReadFile(ledger_path, kMaxLedgerBytes));
  std::string_view text = buf->view();
  st.file_bytes = static_cast<int64_t>(text.size());
  int64_t line_no = 0;
  std::optional<std::pair<int64_t, std::string>> open_b;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    // A last line without its newline was being written when the process
    // died: it never happened.
    if (nl == std::string_view::npos) break;
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    st.valid_bytes += static_cast<int64_t>(nl) + 1;
    ++line_no;
    auto bad = [&](std::string why) {
      return Status::InvalidData("ledger '" + ledger_path + "' line " + std::to_string(line_no) +
                                 ": " + why + " (delete the ledger to start over)");
    };
    if (line_no == 1) {
      if (line != kLedgerMagic) return bad("not a sluice ledger (expected '" + std::string(kLedgerMagic) + "')");
      st.has_magic = true;
      continue;
    }
    if (line.size() < 3 || line[1] != ' ') return bad("malformed record");
    const char kind = line[0];
    std::string_view rest = line.substr(2);
    const size_t sp = rest.find(' ');
    int64_t offset = 0;
    if (!ParseI64(rest.substr(0, sp), &offset)) return bad("malformed offset");
    const std::string id = sp == std::string_view::npos ? std::string() : std::string(rest.substr(sp + 1));
    switch (kind) {
      case 'B':
        if (id.empty()) return bad("B record without a part id");
        open_b = std::make_pair(offset, id);
        break;
      case 'C':
        if (!open_b || open_b->second != id || offset < open_b->first) {
          return bad("C record without its B record");
        }
        st.applied.insert(id);
        st.committed_end = offset;
        open_b.reset();
        break;
      case 'A':
        open_b.reset();
        break;
      default:
        return bad(std::string("unknown record type '") + kind + "'");
    }
  }
  if (open_b) st.pending = open_b->first;
  return st;
}

class FileSink;

class FileSinkWriter final : public SinkWriter {
 public:
  explicit FileSinkWriter(FileSink* sink) : sink_(sink) {}
  Result<ApplyOutcome> ApplyPart(const PartInfo& part, const std::vector<RecordBatch>& batches) override;

 private:
  FileSink* sink_;
};

class FileSink final : public Sink {
 public:
  explicit FileSink(SinkConfig config) : config_(std::move(config)) {}

  Status Open(std::shared_ptr<const Schema> schema) override {
    if (!schema) return Status::InvalidArgument("file sink: no schema");
    schema_ = std::move(schema);
    SLUICE_RETURN_NOT_OK(internal::EnsureParentDirectory(config_.path));
    auto st = internal::StatRegularFile(config_.path);
    const bool exists = st.ok();
    if (!st.ok() && st.status().code() != StatusCode::kNotFound) return st.status();
    if (config_.mode == WriteMode::kCreate && exists) {
      return Status::InvalidArgument("'" + config_.path +
                                     "' already exists (mode=overwrite replaces it, mode=append "
                                     "appends to CSV/JSONL files)");
    }
    Status s = config_.mode == WriteMode::kAppend ? OpenAppend() : OpenAtomic();
    return s.WithContext(config_.path);
  }

  Result<std::unique_ptr<SinkWriter>> NewWriter() override {
    if (!schema_) return Status::Internal("file sink: NewWriter before Open");
    return std::unique_ptr<SinkWriter>(std::make_unique<FileSinkWriter>(this));
  }

  int MaxWriters() const override { return 1; }

  Status Commit() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (committed_) return Status::OK();
    if (!failed_.ok()) return failed_;
    if (!schema_) return Status::Internal("file sink: Commit before Open");
    Status s = config_.mode == WriteMode::kAppend ? CommitAppend() : CommitAtomic();
    if (!s.ok()) {
      failed_ = s.WithContext(config_.path);
      return failed_;
    }
    committed_ = true;
    return Status::OK();
  }

  Status Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    // Without a Commit this drops the temp file (FileOutputStream's destructor).
    out_.reset();
    data_.reset();
    ledger_.reset();
    tdtp_.reset();
    part_batches_.clear();
    return Status::OK();
  }

  Result<ApplyOutcome> Apply(const PartInfo& part, const std::vector<RecordBatch>& batches);

 private:
  Status OpenAtomic();
  Status OpenAppend();
  Status CommitAtomic();
  Status CommitAppend();
  // CSV/JSONL text of `batches` into scratch_.
  Status Encode(const std::vector<RecordBatch>& batches, bool header);
  Status AppendTransaction(const std::string& part_id);
  Status WriteLedger(std::string_view record);

  SinkConfig config_;
  std::shared_ptr<const Schema> schema_;
  std::mutex mu_;
  Status failed_;  // a part failed half-way: the output cannot be committed
  bool committed_ = false;
  std::unordered_set<std::string> applied_;

  // create / overwrite
  std::unique_ptr<FileOutputStream> out_;
  std::unique_ptr<tdtp::PacketWriter> tdtp_;
  std::vector<RecordBatch> part_batches_;
  int64_t part_bytes_ = 0;

  // append
  std::unique_ptr<AppendFile> data_;
  std::unique_ptr<AppendFile> ledger_;
  bool need_newline_ = false;  // the existing file does not end with a newline

  StringOutputStream scratch_;
};

Result<ApplyOutcome> FileSinkWriter::ApplyPart(const PartInfo& part,
                                               const std::vector<RecordBatch>& batches) {
  return sink_->Apply(part, batches);
}

Status FileSink::OpenAtomic() {
  FileOutputStream::Options o;
  o.atomic = true;
  o.fsync = config_.fsync;
  SLUICE_ASSIGN_OR_RETURN(out_, FileOutputStream::Open(config_.path, o));
  switch (config_.format) {
    case FileFormat::kCsv: {
      // Checks the dialect and schema now rather than at the first part; the
      // header (when on) is the file's first line even with no rows.
      csv::CsvOptions c = config_.csv;
      SLUICE_ASSIGN_OR_RETURN(auto w, csv::CsvWriter::Make(out_.get(), schema_, c));
      return w->Finish();
    }
    case FileFormat::kJsonl:
      return jsonl::JsonlWriter::Make(out_.get(), schema_).status();
    case FileFormat::kTdtp: {
      tdtp::WriteOptions w;
      w.table_name = config_.tdtp_table;
      w.compress = config_.tdtp_compress;
      w.compression_level = config_.tdtp_compression_level;
      // One file is one packet, whatever its size (directories split).
      w.max_part_bytes = std::numeric_limits<int64_t>::max();
      SLUICE_ASSIGN_OR_RETURN(tdtp_, tdtp::PacketWriter::Make(schema_, std::move(w)));
      return Status::OK();
    }
    case FileFormat::kPart:
      return Status::OK();
  }
  return Status::OK();
}

Status FileSink::OpenAppend() {
  // Checks the dialect and schema before touching anything.
  {
    StringOutputStream probe;
    if (config_.format == FileFormat::kCsv) {
      SLUICE_RETURN_NOT_OK(csv::CsvWriter::Make(&probe, schema_, config_.csv).status());
    } else {
      SLUICE_RETURN_NOT_OK(jsonl::JsonlWriter::Make(&probe, schema_).status());
    }
  }
  const std::string ledger_path = LedgerPath(config_.path);
  SLUICE_ASSIGN_OR_RETURN(LedgerState ledger, ReadLedger(ledger_path));
  SLUICE_ASSIGN_OR_RETURN(data_, AppendFile::Open(config_.path));
  int64_t size = data_->position();
  bool reset_ledger = !ledger.exists || !ledger.has_magic;
  const int64_t must_have = std::max(ledger.committed_end, ledger.pending.value_or(0));
  if (size < must_have) {
    if (size == 0) {
      // The file was removed or emptied since: its ledger no longer applies.
      SLUICE_LOG(kWarn) << "file sink: '" << config_.path << "' is empty but its ledger '"
                        << ledger_path << "' lists " << ledger.applied.size()
                        << " applied part(s); starting a new ledger";
      ledger = LedgerState();
      reset_ledger = true;
    } else {
      return Status::InvalidData("the file is " + std::to_string(size) + " bytes but its ledger '" +
                                 ledger_path + "' recorded parts up to byte " +
                                 std::to_string(must_have) +
                                 " (the file was changed outside sluice; delete the ledger to "
                                 "append without exactly-once checks against earlier runs)");
    }
  }
  if (ledger.pending && size > *ledger.pending) {
    // An interrupted part: cut its partial bytes off. (Its B record stays the
    // last one until the A record below, so repeating this is harmless.)
    SLUICE_LOG(kWarn) << "file sink: rolling back an interrupted part in '" << config_.path << "' ("
                      << (size - *ledger.pending) << " bytes from offset " << *ledger.pending << ")";
    SLUICE_RETURN_NOT_OK(data_->Truncate(*ledger.pending));
    if (config_.fsync) SLUICE_RETURN_NOT_OK(data_->Sync());
    size = data_->position();
  }

  if (size > 0) {
    // Appended rows must start on a line of their own.
    char last = '\n';
    const int fd = ::open(config_.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::IOError("cannot open '" + config_.path + "': " + std::strerror(errno));
    const ssize_t n = ::pread(fd, &last, 1, static_cast<off_t>(size - 1));
    ::close(fd);
    if (n != 1) return Status::IOError("cannot read the end of '" + config_.path + "'");
    need_newline_ = last != '\n';
    if (config_.format == FileFormat::kCsv && config_.csv.header) {
      // The existing header must name the same columns in the same order,
      // or appended rows would land in the wrong columns.
      SLUICE_ASSIGN_OR_RETURN(auto hin, FileInputStream::Open(config_.path));
      csv::CsvReadOptions ro;
      static_cast<csv::CsvOptions&>(ro) = config_.csv;
      ro.infer_rows = 1;
      SLUICE_ASSIGN_OR_RETURN(auto reader, csv::CsvReader::Open(hin.get(), std::move(ro)));
      std::vector<std::string> have, want;
      for (const auto& f : reader->schema()->fields()) have.push_back(f.name);
      for (const auto& f : schema_->fields()) want.push_back(f.name);
      if (have != want) {
        auto join = [](const std::vector<std::string>& v) {
          std::string j;
          for (const auto& x : v) j += (j.empty() ? "" : ",") + x;
          return j;
        };
        return Status::InvalidArgument("cannot append: the file's header has columns [" + join(have) +
                                       "], the data has [" + join(want) + "]");
      }
    }
  }

  if (reset_ledger) {
    SLUICE_RETURN_NOT_OK(WriteFileAtomic(ledger_path, std::string(kLedgerMagic) + "\n"));
  }
  SLUICE_ASSIGN_OR_RETURN(ledger_, AppendFile::Open(ledger_path));
  if (!reset_ledger && ledger.file_bytes > ledger.valid_bytes) {
    // Drop a torn last record so the next one starts on its own line.
    SLUICE_RETURN_NOT_OK(ledger_->Truncate(ledger.valid_bytes));
  }
  if (ledger.pending) SLUICE_RETURN_NOT_OK(WriteLedger("A " + std::to_string(*ledger.pending) + "\n"));
  applied_ = std::move(ledger.applied);
  return Status::OK();
}

Status FileSink::WriteLedger(std::string_view record) {
  SLUICE_RETURN_NOT_OK(ledger_->Write(record));
  return config_.fsync ? ledger_->Sync() : ledger_->Flush();
}

Status FileSink::Encode(const std::vector<RecordBatch>& batches, bool header) {
  scratch_.str().clear();
  if (need_newline_) scratch_.str().push_back('\n');
  if (config_.format == FileFormat::kCsv) {
    csv::CsvOptions c = config_.csv;
    c.header = header;
    SLUICE_ASSIGN_OR_RETURN(auto w, csv::CsvWriter::Make(&scratch_, schema_, std::move(c)));
    for (const auto& b : batches) SLUICE_RETURN_NOT_OK(w->Write(b));
    return w->Finish();
  }
  SLUICE_ASSIGN_OR_RETURN(auto w, jsonl::JsonlWriter::Make(&scratch_, schema_));
  for (const auto& b : batches) SLUICE_RETURN_NOT_OK(w->Write(b));
  return w->Finish();
}

Status FileSink::AppendTransaction(const std::string& part_id) {
  const int64_t offset = data_->position();
  SLUICE_RETURN_NOT_OK(WriteLedger("B " + std::to_string(offset) + " " + part_id + "\n"));
  Status st = data_->Write(scratch_.str());
  if (st.ok()) st = config_.fsync ? data_->Sync() : data_->Flush();
  if (st.ok()) {
    st = WriteLedger("C " + std::to_string(data_->position()) + " " + part_id + "\n");
    if (st.ok()) {
      need_newline_ = false;
      return Status::OK();
    }
  }
  // Undo the partial part so the file keeps whole parts only; if even that
  // fails, the next Open() rolls it back from the B record.
  Status undo = data_->Truncate(offset);
  if (undo.ok()) undo = WriteLedger("A " + std::to_string(offset) + "\n");
  if (!undo.ok()) failed_ = st;
  return st;
}

Result<ApplyOutcome> FileSink::Apply(const PartInfo& part, const std::vector<RecordBatch>& batches) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!failed_.ok()) return failed_;
  if (committed_) return Status::Internal("file sink: part applied after Commit");
  if (applied_.contains(part.part_id)) return ApplyOutcome::kAlreadyApplied;
  for (const auto& b : batches) {
    std::string why;
    if (!b.schema() || !internal::SameColumns(*b.schema(), *schema_, &why)) {
      return Status::InvalidArgument("file sink '" + config_.path + "': a batch does not match the schema: " +
                                     (b.schema() ? why : "no schema"));
    }
  }
  switch (config_.format) {
    case FileFormat::kCsv:
    case FileFormat::kJsonl: {
      const bool header = config_.format == FileFormat::kCsv && config_.csv.header &&
                          config_.mode == WriteMode::kAppend && data_->position() == 0;
      // Encoding first and writing the text in one go keeps the part whole
      // in the file even when a value fails to encode half-way.
      SLUICE_RETURN_NOT_OK_CTX(Encode(batches, header), config_.path);
      if (config_.mode == WriteMode::kAppend) {
        SLUICE_RETURN_NOT_OK_CTX(AppendTransaction(part.part_id), config_.path);
      } else {
        Status st = out_->Write(scratch_.str());
        if (!st.ok()) {
          failed_ = st.WithContext(config_.path);
          return failed_;
        }
      }
      break;
    }
    case FileFormat::kTdtp:
      for (const auto& b : batches) {
        Status st = tdtp_->Append(b);
        if (!st.ok()) {
          // The packet may hold some of this part's rows now: no way back.
          failed_ = st.WithContext(config_.path);
          return failed_;
        }
      }
      break;
    case FileFormat::kPart: {
      int64_t bytes = 0;
      for (const auto& b : batches) bytes += b.ByteSize();
      if (part_bytes_ + bytes > config_.max_part_bytes) {
        return Status::InvalidArgument(
            "file sink '" + config_.path + "': the table is over max_part_bytes=" +
            std::to_string(config_.max_part_bytes) +
            " bytes; a .part file is one part built in memory (write larger tables to "
            "parts:///dir, or raise max_part_bytes)");
      }
      part_bytes_ += bytes;
      for (const auto& b : batches) {
        if (b.num_rows() > 0) part_batches_.push_back(internal::WithSchema(b, schema_));
      }
      break;
    }
  }
  applied_.insert(part.part_id);
  return ApplyOutcome::kApplied;
}

Status FileSink::CommitAtomic() {
  switch (config_.format) {
    case FileFormat::kCsv:
    case FileFormat::kJsonl:
      break;
    case FileFormat::kTdtp: {
      SLUICE_ASSIGN_OR_RETURN(std::vector<tdtp::EncodedPacket> packets, tdtp_->Finish());
      for (const auto& p : packets) SLUICE_RETURN_NOT_OK(out_->Write(p.xml));
      break;
    }
    case FileFormat::kPart: {
      part::PartHeader header;
      header.stream_id = fs::path(config_.path).filename().string();
      header.part_number = 1;
      header.total_parts = 0;
      part::EncodeOptions eo;
      eo.compression = config_.compression;
      eo.compression_level = config_.part_compression_level;
      SLUICE_ASSIGN_OR_RETURN(std::string bytes, part::EncodePart(&header, *schema_, part_batches_, eo));
      part_batches_.clear();
      SLUICE_RETURN_NOT_OK(out_->Write(bytes));
      break;
    }
  }
  if (config_.mode == WriteMode::kCreate) {
    // Do not replace a file that appeared while this run was writing.
    struct stat sb;
    if (::stat(config_.path.c_str(), &sb) == 0) {
      return Status::InvalidArgument("'" + config_.path +
                                     "' was created by someone else during the run; not replacing it");
    }
  }
  SLUICE_RETURN_NOT_OK(out_->Commit());
  // A ledger of an earlier append run describes a file that no longer exists.
  const std::string ledger = LedgerPath(config_.path);
  if (::unlink(ledger.c_str()) != 0 && errno != ENOENT) {
    return Status::IOError("cannot remove the stale ledger '" + ledger + "': " + std::strerror(errno));
  }
  if (config_.fsync) {
    SLUICE_RETURN_NOT_OK(internal::SyncDirectory(fs::path(config_.path).parent_path().string()));
  }
  return Status::OK();
}

Status FileSink::CommitAppend() {
  if (config_.format == FileFormat::kCsv && config_.csv.header && data_->position() == 0) {
    // No rows at all into a new file: it still gets its header line.
    SLUICE_RETURN_NOT_OK(Encode({}, true));
    SLUICE_RETURN_NOT_OK(data_->Write(scratch_.str()));
  }
  SLUICE_RETURN_NOT_OK(config_.fsync ? data_->Sync() : data_->Flush());
  if (config_.fsync) {
    SLUICE_RETURN_NOT_OK(internal::SyncDirectory(fs::path(config_.path).parent_path().string()));
  }
  return Status::OK();
}

}  // namespace
}  // namespace file

Result<std::unique_ptr<Sink>> MakeFileSink(const Uri& uri, const Options& options) {
  using file::internal::BoolOr;
  file::SinkConfig c;
  c.path = file::PathOf(uri);
  if (c.path.empty() || c.path.back() == '/') {
    return Status::InvalidArgument("'" + uri.Redacted() + "' names no file (expected file:///path/to/file.csv)");
  }
  const std::string where = "file destination '" + c.path + "'";
  SLUICE_ASSIGN_OR_RETURN(c.format, file::ResolveFileFormat(c.path, options.GetString("format")));
  SLUICE_ASSIGN_OR_RETURN(c.mode, file::internal::ParseWriteMode(
                                      file::internal::StringOr(options, "mode", "create")));
  if (c.mode == file::internal::WriteMode::kAppend && c.format != file::FileFormat::kCsv &&
      c.format != file::FileFormat::kJsonl) {
    return Status::InvalidArgument(where + ": mode=append is supported for CSV and JSONL only (" +
                                   std::string(file::FileFormatName(c.format)) +
                                   " files are written whole: use create or overwrite)");
  }
  c.fsync = BoolOr(options, "fsync", false);
  SLUICE_ASSIGN_OR_RETURN(c.csv, file::internal::CsvDialectFromOptions(options, c.path));
  c.csv.crlf = BoolOr(options, "crlf", false);
  SLUICE_ASSIGN_OR_RETURN(c.compression,
                          part::ParseCompression(file::internal::StringOr(options, "compression", "zstd")));
  const bool has_level = options.Has("compression_level");
  const int64_t level = has_level ? options.GetInt("compression_level") : 0;
  if (has_level && (level < -100 || level > 22)) {
    return Status::InvalidArgument(where + ": compression_level must be within -100..22");
  }
  if (has_level) c.part_compression_level = static_cast<int>(level);
  c.tdtp_compress = BoolOr(options, "compress", false);
  if (has_level) {
    if (c.format == file::FileFormat::kTdtp && (level < 1 || level > 22)) {
      return Status::InvalidArgument(where + ": compression_level for TDTP must be within 1..22");
    }
    c.tdtp_compression_level = static_cast<int>(level);
  }
  c.tdtp_table = options.GetString("table");
  if (c.tdtp_table.empty()) {
    std::string name = std::filesystem::path(c.path).filename().string();
    for (std::string_view ext : {".tdtp.xml", ".xml"}) {
      if (name.size() > ext.size() && name.ends_with(ext)) {
        name.resize(name.size() - ext.size());
        break;
      }
    }
    c.tdtp_table = name;
  }
  c.max_part_bytes = file::internal::SizeOr(options, "max_part_bytes", file::kDefaultMaxPartBytes);
  if (c.max_part_bytes <= 0) return Status::InvalidArgument(where + ": max_part_bytes must be positive");
  return std::unique_ptr<Sink>(std::make_unique<file::FileSink>(std::move(c)));
}

}  // namespace sluice
