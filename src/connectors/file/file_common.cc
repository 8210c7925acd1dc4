#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "connectors/file/file.h"
#include "connectors/file/file_internal.h"
#include "formats/csv/csv.h"

namespace sluice {

namespace fs = std::filesystem;

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits at `sep` outside parentheses.
std::vector<std::string_view> SplitTopLevel(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '(') ++depth;
    else if (c == ')' && depth > 0) --depth;
    else if (c == sep && depth == 0) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(s.substr(start));
  return out;
}

bool EndsWithNoCase(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  s = s.substr(s.size() - suffix.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != suffix[i]) return false;
  }
  return true;
}

}  // namespace

Result<std::shared_ptr<const Schema>> ParseSchemaSpec(std::string_view text) {
  auto bad = [&](std::string_view item, std::string why) {
    return Status::InvalidArgument("schema '" + std::string(text) + "': column '" +
                                   std::string(item) + "': " + std::move(why) +
                                   " (expected name:type[:key][:notnull],...)");
  };
  std::vector<Field> fields;
  if (Trim(text).empty()) return Status::InvalidArgument("schema option is empty");
  for (std::string_view item : SplitTopLevel(text, ',')) {
    std::vector<std::string_view> parts = SplitTopLevel(item, ':');
    if (parts.size() < 2) return bad(Trim(item), "no ':type'");
    Field f;
    f.name = std::string(Trim(parts[0]));
    if (f.name.empty()) return bad(Trim(item), "empty name");
    auto type = ParseDataType(Trim(parts[1]));
    if (!type.ok()) return bad(Trim(item), type.status().message());
    f.type = std::move(*type);
    for (size_t i = 2; i < parts.size(); ++i) {
      const std::string_view flag = Trim(parts[i]);
      if (flag == "key" || flag == "pk") {
        f.primary_key = true;
        f.nullable = false;
      } else if (flag == "notnull" || flag == "not null" || flag == "!null") {
        f.nullable = false;
      } else {
        return bad(Trim(item), "unknown flag '" + std::string(flag) + "' (key, notnull)");
      }
    }
    fields.push_back(std::move(f));
  }
  auto schema = std::make_shared<const Schema>(std::move(fields));
  // A user's typo, not bad data: InvalidArgument whatever Validate() says.
  if (Status st = schema->Validate(); !st.ok()) {
    return Status::InvalidArgument("schema '" + std::string(text) + "': " + st.message());
  }
  return schema;
}

namespace file {

std::string_view FileFormatName(FileFormat f) {
  switch (f) {
    case FileFormat::kCsv: return "csv";
    case FileFormat::kJsonl: return "jsonl";
    case FileFormat::kTdtp: return "tdtp";
    case FileFormat::kPart: return "part";
  }
  return "?";
}

Result<FileFormat> ResolveFileFormat(const std::string& path, std::string_view format_option) {
  if (!format_option.empty()) {
    if (format_option == "csv") return FileFormat::kCsv;
    if (format_option == "jsonl") return FileFormat::kJsonl;
    if (format_option == "tdtp") return FileFormat::kTdtp;
    if (format_option == "part") return FileFormat::kPart;
    return Status::InvalidArgument("unknown file format '" + std::string(format_option) +
                                   "' (csv, jsonl, tdtp, part)");
  }
  if (EndsWithNoCase(path, ".csv") || EndsWithNoCase(path, ".tsv")) return FileFormat::kCsv;
  if (EndsWithNoCase(path, ".jsonl") || EndsWithNoCase(path, ".ndjson")) return FileFormat::kJsonl;
  if (EndsWithNoCase(path, ".tdtp.xml") || EndsWithNoCase(path, ".xml")) return FileFormat::kTdtp;
  if (EndsWithNoCase(path, ".part")) return FileFormat::kPart;
  const std::string name = fs::path(path).filename().string();
  const size_t dot = name.rfind('.');
  const std::string ext = dot == std::string::npos ? std::string() : name.substr(dot);
  return Status::InvalidArgument(
      "'" + path + "': " +
      (ext.empty() ? std::string("no file extension") : "unknown file extension '" + ext + "'") +
      " (known: .csv .tsv .jsonl .ndjson .tdtp.xml .xml .part); give the format with "
      "format=csv|jsonl|tdtp|part");
}

std::string PathOf(const Uri& uri) {
  if (uri.host.empty() || uri.host == "localhost") return uri.path;
  return uri.host + uri.path;  // file://rel/x.csv → "rel/x.csv"
}

std::string LedgerPath(const std::string& path) { return path + ".sluice-ledger"; }

namespace internal {

std::string StringOr(const Options& o, std::string_view name, std::string fallback) {
  return o.Has(name) ? o.GetString(name) : std::move(fallback);
}
int64_t IntOr(const Options& o, std::string_view name, int64_t fallback) {
  return o.Has(name) ? o.GetInt(name) : fallback;
}
int64_t SizeOr(const Options& o, std::string_view name, int64_t fallback) {
  return o.Has(name) ? o.GetSizeBytes(name) : fallback;
}
bool BoolOr(const Options& o, std::string_view name, bool fallback) {
  return o.Has(name) ? o.GetBool(name) : fallback;
}

Result<WriteMode> ParseWriteMode(std::string_view text) {
  if (text == "create") return WriteMode::kCreate;
  if (text == "overwrite") return WriteMode::kOverwrite;
  if (text == "append") return WriteMode::kAppend;
  return Status::InvalidArgument("unknown mode '" + std::string(text) +
                                 "' (create, overwrite, append)");
}

Result<FileStat> StatRegularFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return Status::NotFound("no such file '" + path + "'");
    return Status::IOError("cannot stat '" + path + "': " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("'" + path +
                                   "' is a directory (a directory of TDTP packets is read with "
                                   "parts:///dir?format=tdtp)");
  }
  FileStat out;
  out.size = static_cast<int64_t>(st.st_size);
  out.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return out;
}

std::string FileIdentity(const std::string& path) {
  std::error_code ec;
  const fs::path abs = fs::absolute(path, ec);
  return "file://" + (ec ? path : abs.lexically_normal().string());
}

std::string FileFingerprint(const std::string& path, const FileStat& st) {
  return FileIdentity(path) + "#size=" + std::to_string(st.size) +
         ",mtime=" + std::to_string(st.mtime_ns);
}

Status EnsureParentDirectory(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) return Status::OK();
  std::error_code ec;
  if (fs::is_directory(parent, ec)) return Status::OK();
  fs::create_directories(parent, ec);
  if (ec) return Status::IOError("cannot create directory '" + parent.string() + "': " + ec.message());
  return Status::OK();
}

Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("cannot open directory '" + dir + "': " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::IOError("fsync of directory '" + dir + "' failed: " + std::strerror(err));
  return Status::OK();
}

namespace {
Result<char> ParseDialectChar(std::string_view name, std::string_view text) {
  if (text == "tab" || text == "\\t") return '\t';
  if (text.size() == 1) return text[0];
  return Status::InvalidArgument("option '" + std::string(name) + "' must be one character or 'tab', got '" +
                                 std::string(text) + "'");
}

bool IsTsv(const std::string& path) {
  return path.size() >= 4 && (path.ends_with(".tsv") || path.ends_with(".TSV"));
}

}  // namespace

Result<csv::CsvOptions> CsvDialectFromOptions(const Options& o, const std::string& path) {
  csv::CsvOptions c;
  const std::string delim = o.GetString("delimiter");
  if (!delim.empty()) {
    SLUICE_ASSIGN_OR_RETURN(c.delimiter, ParseDialectChar("delimiter", delim));
  } else if (IsTsv(path)) {
    c.delimiter = '\t';
  }
  if (o.Has("quote")) {
    SLUICE_ASSIGN_OR_RETURN(c.quote, ParseDialectChar("quote", o.GetString("quote")));
  }
  c.header = internal::BoolOr(o, "header", true);
  if (o.Has("null") && !o.GetString("null").empty()) c.null_marker = o.GetString("null");
  return c;
}


// ---------------------------------------------------------------------------

namespace {
constexpr size_t kAppendBuffer = size_t{1} << 20;
Status ErrnoStatus(std::string_view what, const std::string& path) {
  return Status::IOError(std::string(what) + " '" + path + "': " + std::strerror(errno));
}
}  // namespace

Result<std::unique_ptr<AppendFile>> AppendFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot open for appending", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    Status s = ErrnoStatus("cannot stat", path);
    ::close(fd);
    return s;
  }
  return std::unique_ptr<AppendFile>(new AppendFile(path, fd, static_cast<int64_t>(st.st_size)));
}

AppendFile::~AppendFile() {
  // Unflushed bytes are dropped on purpose: only Flush() decides what lands.
  if (fd_ >= 0) ::close(fd_);
}

Status AppendFile::Write(const void* data, int64_t size) {
  buf_.append(static_cast<const char*>(data), static_cast<size_t>(size));
  if (buf_.size() >= kAppendBuffer) return Flush();
  return Status::OK();
}

Status AppendFile::Flush() {
  const char* p = buf_.data();
  size_t left = buf_.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = ErrnoStatus("write failed", path_);
      buf_.clear();
      return s;
    }
    p += n;
    left -= static_cast<size_t>(n);
    size_ += n;
  }
  buf_.clear();
  return Status::OK();
}

Status AppendFile::Sync() {
  SLUICE_RETURN_NOT_OK(Flush());
  if (::fsync(fd_) != 0) return ErrnoStatus("fsync failed", path_);
  return Status::OK();
}

Status AppendFile::Truncate(int64_t size) {
  buf_.clear();
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return ErrnoStatus("truncate failed", path_);
  size_ = size;
  return Status::OK();
}

// ---------------------------------------------------------------------------

std::optional<RecordBatch> BatchQueue::Next() {
  while (index_ < batches_.size()) {
    const RecordBatch& b = batches_[index_];
    const int64_t left = b.num_rows() - offset_;
    if (left <= 0) {
      // Empty batches are skipped: the schema travels separately.
      ++index_;
      offset_ = 0;
      continue;
    }
    if (offset_ == 0 && left <= max_rows_) {
      RecordBatch out = std::move(batches_[index_]);
      batches_[index_] = RecordBatch();
      ++index_;
      rows_returned_ += out.num_rows();
      return out;
    }
    const int64_t n = std::min(left, max_rows_);
    RecordBatch out = b.Slice(offset_, n);
    offset_ += n;
    rows_returned_ += n;
    if (offset_ >= b.num_rows()) {
      batches_[index_] = RecordBatch();
      ++index_;
      offset_ = 0;
    }
    return out;
  }
  return std::nullopt;
}

RecordBatch WithSchema(const RecordBatch& batch, std::shared_ptr<const Schema> schema) {
  return RecordBatch(std::move(schema), batch.num_rows(), batch.columns());
}

bool SameColumns(const Schema& a, const Schema& b, std::string* why) {
  if (a.num_fields() != b.num_fields()) {
    if (why) {
      *why = std::to_string(a.num_fields()) + " columns instead of " + std::to_string(b.num_fields());
    }
    return false;
  }
  for (int i = 0; i < a.num_fields(); ++i) {
    const Field& x = a.field(i);
    const Field& y = b.field(i);
    if (x.name != y.name || !(x.type == y.type)) {
      if (why) {
        *why = "column " + std::to_string(i + 1) + " is '" + x.name + "' " + x.type.ToString() +
               " instead of '" + y.name + "' " + y.type.ToString();
      }
      return false;
    }
  }
  return true;
}

}  // namespace internal
}  // namespace file
}  // namespace sluice
