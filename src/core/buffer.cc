#include "core/buffer.h"

#include <algorithm>
#include <cstdlib>
#include <new>

namespace sluice {

namespace {
uint8_t* AlignedAlloc(int64_t size) {
  int64_t rounded = std::max<int64_t>(kBufferAlignment,
                                      (size + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment);
  void* p = std::aligned_alloc(kBufferAlignment, static_cast<size_t>(rounded));
  if (p == nullptr) throw std::bad_alloc();
  return static_cast<uint8_t*>(p);
}
}  // namespace

std::shared_ptr<Buffer> Buffer::Allocate(int64_t size) {
  uint8_t* p = AlignedAlloc(size);
  std::memset(p, 0, static_cast<size_t>(size));
  return std::shared_ptr<Buffer>(new Buffer(p, size, true, nullptr));
}

std::shared_ptr<Buffer> Buffer::Copy(const void* data, int64_t size) {
  auto b = Allocate(size);
  if (size > 0) std::memcpy(b->mutable_data(), data, static_cast<size_t>(size));
  return b;
}

std::shared_ptr<Buffer> Buffer::Wrap(const uint8_t* data, int64_t size,
                                     std::shared_ptr<const void> owner) {
  return std::shared_ptr<Buffer>(new Buffer(data, size, false, std::move(owner)));
}

Buffer::~Buffer() {
  if (owned_) std::free(const_cast<uint8_t*>(data_));
}

BufferBuilder& BufferBuilder::operator=(BufferBuilder&& o) noexcept {
  if (this != &o) {
    std::free(data_);
    data_ = o.data_;
    size_ = o.size_;
    capacity_ = o.capacity_;
    o.data_ = nullptr;
    o.size_ = o.capacity_ = 0;
  }
  return *this;
}

BufferBuilder::~BufferBuilder() { std::free(data_); }

void BufferBuilder::Grow(int64_t min_capacity) {
  int64_t cap = std::max<int64_t>({min_capacity, capacity_ * 2, 256});
  uint8_t* p = AlignedAlloc(cap);
  if (size_ > 0) std::memcpy(p, data_, static_cast<size_t>(size_));
  std::free(data_);
  data_ = p;
  capacity_ = (cap + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
}

std::shared_ptr<Buffer> BufferBuilder::Finish() {
  if (data_ == nullptr) return Buffer::Allocate(0);
  auto b = std::shared_ptr<Buffer>(new Buffer(data_, size_, true, nullptr));
  data_ = nullptr;
  size_ = capacity_ = 0;
  return b;
}

}  // namespace sluice
