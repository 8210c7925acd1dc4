#include "core/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace sluice {

namespace {
Status Errno(std::string_view what, const std::string& path) {
  return Status::IOError(std::string(what) + " '" + path + "': " + std::strerror(errno));
}
std::atomic<uint64_t> g_temp_counter{0};
constexpr size_t kWriteBuffer = 1 << 20;
}  // namespace

Result<int64_t> MemoryInputStream::Read(void* out, int64_t size) {
  size_t n = std::min(static_cast<size_t>(size), data_.size() - pos_);
  if (n > 0) std::memcpy(out, data_.data() + pos_, n);
  pos_ += n;
  return static_cast<int64_t>(n);
}

Result<std::unique_ptr<FileOutputStream>> FileOutputStream::Open(const std::string& path,
                                                                 Options options) {
  std::string write_path = path;
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC;
  if (options.append) {
    options.atomic = false;
    flags |= O_APPEND;
  } else if (options.atomic) {
    write_path = path + ".tmp-" + std::to_string(::getpid()) + "-" +
                 std::to_string(g_temp_counter.fetch_add(1));
    flags |= O_TRUNC | O_EXCL;
  } else {
    flags |= O_TRUNC;
  }
  int fd = ::open(write_path.c_str(), flags, 0644);
  if (fd < 0) return Errno("cannot open for writing", write_path);
  int64_t pos = 0;
  if (options.append) {
    struct stat st;
    if (::fstat(fd, &st) == 0) pos = st.st_size;
  }
  auto s = std::unique_ptr<FileOutputStream>(new FileOutputStream(path, write_path, fd, options));
  s->position_ = pos;
  return s;
}

FileOutputStream::~FileOutputStream() {
  if (fd_ >= 0) ::close(fd_);
  if (options_.atomic && !committed_) ::unlink(write_path_.c_str());
}

Status FileOutputStream::WriteRaw(const void* data, int64_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd_, p, static_cast<size_t>(size));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write failed", write_path_);
    }
    p += n;
    size -= n;
  }
  return Status::OK();
}

Status FileOutputStream::Write(const void* data, int64_t size) {
  if (fd_ < 0) return Status::Internal("write after commit to '" + path_ + "'");
  position_ += size;
  if (buf_.size() + static_cast<size_t>(size) > kWriteBuffer) {
    SLUICE_RETURN_NOT_OK(Flush());
    if (static_cast<size_t>(size) >= kWriteBuffer) return WriteRaw(data, size);
  }
  buf_.append(static_cast<const char*>(data), static_cast<size_t>(size));
  return Status::OK();
}

Status FileOutputStream::Flush() {
  if (buf_.empty()) return Status::OK();
  Status st = WriteRaw(buf_.data(), static_cast<int64_t>(buf_.size()));
  buf_.clear();
  return st;
}

Status FileOutputStream::Commit() {
  if (committed_) return Status::OK();
  SLUICE_RETURN_NOT_OK(Flush());
  if (options_.fsync && ::fsync(fd_) != 0) return Errno("fsync failed", write_path_);
  if (::close(fd_) != 0) {
    fd_ = -1;
    return Errno("close failed", write_path_);
  }
  fd_ = -1;
  if (options_.atomic && ::rename(write_path_.c_str(), path_.c_str()) != 0) {
    return Errno("rename failed", path_);
  }
  committed_ = true;
  return Status::OK();
}

Result<std::unique_ptr<FileInputStream>> FileInputStream::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("no such file '" + path + "'");
    return Errno("cannot open", path);
  }
  return std::unique_ptr<FileInputStream>(new FileInputStream(path, fd));
}

FileInputStream::~FileInputStream() {
  if (fd_ >= 0) ::close(fd_);
}

Result<int64_t> FileInputStream::Read(void* out, int64_t size) {
  while (true) {
    ssize_t n = ::read(fd_, out, static_cast<size_t>(size));
    if (n >= 0) return static_cast<int64_t>(n);
    if (errno != EINTR) return Errno("read failed", path_);
  }
}

Result<std::shared_ptr<Buffer>> ReadFile(const std::string& path, int64_t max_bytes) {
  SLUICE_ASSIGN_OR_RETURN(auto in, FileInputStream::Open(path));
  struct stat st;
  int64_t hint = 0;
  if (::stat(path.c_str(), &st) == 0) hint = st.st_size;
  if (hint > max_bytes) {
    return Status::InvalidData("file '" + path + "' is " + std::to_string(hint) +
                               " bytes, over the limit of " + std::to_string(max_bytes));
  }
  BufferBuilder b;
  b.Reserve(hint + 1);
  while (true) {
    b.Reserve(1 << 16);
    // Grow to the capacity before reading: Resize() zero-fills new bytes, so
    // growing after the read would erase what was just read.
    const int64_t old = b.size();
    b.Resize(b.capacity());
    SLUICE_ASSIGN_OR_RETURN(int64_t n, in->Read(b.data() + old, b.size() - old));
    b.Resize(old + n);
    if (n == 0) break;
    if (b.size() > max_bytes) return Status::InvalidData("file '" + path + "' is over the size limit");
  }
  return b.Finish();
}

Result<std::string> ReadAll(InputStream* in, int64_t max_bytes) {
  std::string out;
  char buf[1 << 16];
  while (true) {
    SLUICE_ASSIGN_OR_RETURN(int64_t n, in->Read(buf, sizeof(buf)));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (static_cast<int64_t>(out.size()) > max_bytes) {
      return Status::InvalidData("'" + in->name() + "' is over the size limit");
    }
  }
  return out;
}

Status WriteFileAtomic(const std::string& path, std::string_view data) {
  SLUICE_ASSIGN_OR_RETURN(auto out, FileOutputStream::Open(path));
  SLUICE_RETURN_NOT_OK(out->Write(data));
  return out->Commit();
}

}  // namespace sluice
