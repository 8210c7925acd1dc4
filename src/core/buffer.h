// Immutable byte buffers shared between columns, parts and foreign owners
// (a decoded part body, an ArrowArray imported from pyarrow). Owned memory is
// 64-byte aligned as the Arrow format recommends.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

namespace sluice {

inline constexpr int64_t kBufferAlignment = 64;

class Buffer {
 public:
  // Allocates `size` bytes (zeroed) owned by the buffer.
  static std::shared_ptr<Buffer> Allocate(int64_t size);
  // Copies `size` bytes into a new owned buffer.
  static std::shared_ptr<Buffer> Copy(const void* data, int64_t size);
  // Views memory owned by `owner` (kept alive as long as the view lives).
  static std::shared_ptr<Buffer> Wrap(const uint8_t* data, int64_t size,
                                      std::shared_ptr<const void> owner);

  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer();

  const uint8_t* data() const { return data_; }
  // Only for buffers from Allocate(), before they are shared.
  uint8_t* mutable_data() { return const_cast<uint8_t*>(data_); }
  int64_t size() const { return size_; }
  std::string_view view() const {
    return {reinterpret_cast<const char*>(data_), static_cast<size_t>(size_)};
  }
  template <typename T>
  const T* as() const { return reinterpret_cast<const T*>(data_); }

 private:
  friend class BufferBuilder;
  Buffer(const uint8_t* data, int64_t size, bool owned, std::shared_ptr<const void> owner)
      : data_(data), size_(size), owned_(owned), owner_(std::move(owner)) {}

  const uint8_t* data_;
  int64_t size_;
  bool owned_;
  std::shared_ptr<const void> owner_;
};

// Growable aligned byte buffer; Finish() hands its memory to a Buffer without copying.
class BufferBuilder {
 public:
  BufferBuilder() = default;
  BufferBuilder(const BufferBuilder&) = delete;
  BufferBuilder& operator=(const BufferBuilder&) = delete;
  BufferBuilder(BufferBuilder&& o) noexcept { *this = std::move(o); }
  BufferBuilder& operator=(BufferBuilder&& o) noexcept;
  ~BufferBuilder();

  void Reserve(int64_t additional) {
    if (size_ + additional > capacity_) Grow(size_ + additional);
  }
  void Append(const void* p, int64_t n) {
    Reserve(n);
    if (n > 0) std::memcpy(data_ + size_, p, static_cast<size_t>(n));
    size_ += n;
  }
  template <typename T>
  void AppendValue(T v) {
    Reserve(static_cast<int64_t>(sizeof(T)));
    std::memcpy(data_ + size_, &v, sizeof(T));
    size_ += static_cast<int64_t>(sizeof(T));
  }
  // Appends n zero bytes.
  void AppendZeros(int64_t n) {
    Reserve(n);
    if (n > 0) std::memset(data_ + size_, 0, static_cast<size_t>(n));
    size_ += n;
  }
  void Resize(int64_t n) {
    if (n > size_) AppendZeros(n - size_);
    else size_ = n;
  }
  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  int64_t size() const { return size_; }
  int64_t capacity() const { return capacity_; }
  void Clear() { size_ = 0; }
  // Returns the bytes as a Buffer and leaves the builder empty.
  std::shared_ptr<Buffer> Finish();

 private:
  void Grow(int64_t min_capacity);
  uint8_t* data_ = nullptr;
  int64_t size_ = 0;
  int64_t capacity_ = 0;
};

}  // namespace sluice
