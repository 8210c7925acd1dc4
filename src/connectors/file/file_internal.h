// Shared by the file:// source, sink and the TDTP directory endpoints; not installed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/connector.h"
#include "core/io.h"
#include "formats/csv/csv.h"

namespace sluice::file::internal {

// Option getters that fall back to `fallback` when the name is absent: a
// connector delegating to the TDTP directory endpoints may not declare all
// of our options (Options getters return 0/"" for undeclared names).
std::string StringOr(const Options& o, std::string_view name, std::string fallback);
int64_t IntOr(const Options& o, std::string_view name, int64_t fallback);
int64_t SizeOr(const Options& o, std::string_view name, int64_t fallback);
bool BoolOr(const Options& o, std::string_view name, bool fallback);

// The CSV dialect options (delimiter, quote, header, null); a .tsv path
// defaults to a tab delimiter.
Result<csv::CsvOptions> CsvDialectFromOptions(const Options& o, const std::string& path);

// "create" / "overwrite" / "append".
enum class WriteMode { kCreate, kOverwrite, kAppend };
Result<WriteMode> ParseWriteMode(std::string_view text);

// Size and modification time of a regular file. NotFound naming the path
// when it does not exist; InvalidArgument when it is a directory.
struct FileStat {
  int64_t size = 0;
  int64_t mtime_ns = 0;
};
Result<FileStat> StatRegularFile(const std::string& path);

// "file://<absolute path>#size=<bytes>,mtime=<ns>": names the file's version
// (export stream ids). Part ids use FileIdentity and the rows themselves, so a
// touched or rewritten file with the same rows keeps them.
std::string FileFingerprint(const std::string& path, const FileStat& st);
// "file:///abs/path": the fingerprint without size and mtime (Source::Identity).
std::string FileIdentity(const std::string& path);

// Creates the directories above `path` when missing.
Status EnsureParentDirectory(const std::string& path);
// fsync of a directory (makes renames into it durable).
Status SyncDirectory(const std::string& dir);

// A file written at its end: the append-mode data file and the ledger.
// Writes are buffered; Flush() hands them to the OS, Sync() also fsyncs.
// Not thread-safe.
class AppendFile final : public OutputStream {
 public:
  // Creates the file when missing.
  static Result<std::unique_ptr<AppendFile>> Open(const std::string& path);
  ~AppendFile() override;
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;

  using OutputStream::Write;
  Status Write(const void* data, int64_t size) override;
  Status Flush() override;
  Status Sync();
  // Drops buffered bytes and cuts the file to `size` bytes.
  Status Truncate(int64_t size);
  // The file size including buffered bytes.
  int64_t position() const override { return size_ + static_cast<int64_t>(buf_.size()); }
  const std::string& path() const { return path_; }

 private:
  AppendFile(std::string path, int fd, int64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}
  std::string path_;
  int fd_;
  int64_t size_;  // bytes in the file (without buf_)
  std::string buf_;
};

// Hands out the batches of a decoded file in pieces of at most `max_rows`
// rows (copying only batches that are larger).
class BatchQueue {
 public:
  BatchQueue() = default;
  BatchQueue(std::vector<RecordBatch> batches, int64_t max_rows)
      : batches_(std::move(batches)), max_rows_(max_rows < 1 ? 1 : max_rows) {}
  std::optional<RecordBatch> Next();
  int64_t rows_returned() const { return rows_returned_; }

 private:
  std::vector<RecordBatch> batches_;
  int64_t max_rows_ = 1;
  size_t index_ = 0;
  int64_t offset_ = 0;  // rows of batches_[index_] already returned
  int64_t rows_returned_ = 0;
};

// Batches read from elsewhere carry the writer's schema object; this gives
// them `schema` (same column types) without copying buffers.
RecordBatch WithSchema(const RecordBatch& batch, std::shared_ptr<const Schema> schema);

// Same column names and types in the same order (nullability, keys and
// source-type hints may differ); `why` says what differs.
bool SameColumns(const Schema& a, const Schema& b, std::string* why);

}  // namespace sluice::file::internal
