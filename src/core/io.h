// Byte streams used by every codec. Files are written through a temp name
// and renamed on Commit() so a reader never sees a half-written file.
//
// Thread safety: a stream is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/buffer.h"
#include "core/status.h"

namespace sluice {

class OutputStream {
 public:
  virtual ~OutputStream() = default;
  virtual Status Write(const void* data, int64_t size) = 0;
  Status Write(std::string_view s) { return Write(s.data(), static_cast<int64_t>(s.size())); }
  virtual Status Flush() { return Status::OK(); }
  // Bytes written so far.
  virtual int64_t position() const = 0;
};

class InputStream {
 public:
  virtual ~InputStream() = default;
  // Reads up to `size` bytes; returns 0 at end of stream.
  virtual Result<int64_t> Read(void* out, int64_t size) = 0;
  // Name used in error messages (file path, "part 17", "<memory>").
  virtual const std::string& name() const = 0;
};

// Appends to a std::string (tests, in-memory parts, broker messages).
class StringOutputStream final : public OutputStream {
 public:
  using OutputStream::Write;
  Status Write(const void* data, int64_t size) override {
    buf_.append(static_cast<const char*>(data), static_cast<size_t>(size));
    return Status::OK();
  }
  int64_t position() const override { return static_cast<int64_t>(buf_.size()); }
  std::string& str() { return buf_; }
  std::string Release() { return std::move(buf_); }

 private:
  std::string buf_;
};

// Reads from memory it does not own (the owner must outlive the stream).
class MemoryInputStream final : public InputStream {
 public:
  explicit MemoryInputStream(std::string_view data, std::string name = "<memory>")
      : data_(data), name_(std::move(name)) {}
  Result<int64_t> Read(void* out, int64_t size) override;
  const std::string& name() const override { return name_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  std::string name_;
};

// Buffered file writer. With atomic=true it writes to "<path>.tmp-<pid>-<n>"
// and Commit() fsyncs and renames it into place; destroying it without
// Commit() removes the temp file. With append=true it appends to `path`.
class FileOutputStream final : public OutputStream {
 public:
  struct Options {
    bool atomic = true;
    bool append = false;
    bool fsync = false;  // fsync before rename (durability across power loss)
  };
  static Result<std::unique_ptr<FileOutputStream>> Open(const std::string& path, Options options);
  static Result<std::unique_ptr<FileOutputStream>> Open(const std::string& path) {
    return Open(path, Options{});
  }
  ~FileOutputStream() override;

  using OutputStream::Write;
  Status Write(const void* data, int64_t size) override;
  Status Flush() override;
  int64_t position() const override { return position_; }
  // Flushes, closes and (atomic mode) renames into place.
  Status Commit();
  const std::string& path() const { return path_; }

 private:
  FileOutputStream(std::string path, std::string write_path, int fd, Options options)
      : path_(std::move(path)), write_path_(std::move(write_path)), fd_(fd), options_(options) {}
  Status WriteRaw(const void* data, int64_t size);

  std::string path_, write_path_;
  int fd_;
  Options options_;
  std::string buf_;
  int64_t position_ = 0;
  bool committed_ = false;
};

class FileInputStream final : public InputStream {
 public:
  static Result<std::unique_ptr<FileInputStream>> Open(const std::string& path);
  ~FileInputStream() override;
  Result<int64_t> Read(void* out, int64_t size) override;
  const std::string& name() const override { return path_; }

 private:
  FileInputStream(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
};

// Reads a whole file into an aligned buffer (limit guards against huge inputs).
Result<std::shared_ptr<Buffer>> ReadFile(const std::string& path,
                                         int64_t max_bytes = int64_t{1} << 34);
// Reads a whole stream.
Result<std::string> ReadAll(InputStream* in, int64_t max_bytes = int64_t{1} << 34);
// Writes `data` to `path` atomically (temp file + rename).
Status WriteFileAtomic(const std::string& path, std::string_view data);

}  // namespace sluice
