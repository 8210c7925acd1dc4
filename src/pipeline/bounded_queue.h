// A blocking FIFO between pipeline stages, bounded both by item count and by
// total weight (bytes), so that memory in flight stays bounded whatever the
// table size: a fast reader blocks in Push until the slower stage catches up
// (backpressure).
//
// Thread safety: every member may be called concurrently from any number of
// producer and consumer threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

namespace sluice::pipeline {

template <typename T>
class BoundedQueue {
 public:
  // max_items >= 1. max_weight <= 0 means "count only". An item heavier than
  // max_weight is still admitted when the queue is empty, so an oversized
  // item slows the pipeline down instead of deadlocking it.
  explicit BoundedQueue(int64_t max_items, int64_t max_weight = 0)
      : max_items_(max_items < 1 ? 1 : max_items), max_weight_(max_weight) {}

  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Blocks while the queue is full. Returns false, dropping the item, when
  // the queue is closed or cancelled (the consumer side is gone).
  bool Push(T item, int64_t weight = 0) {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [&] { return closed_ || cancelled_ || HasRoom(weight); });
    if (closed_ || cancelled_) return false;
    items_.emplace_back(std::move(item), weight);
    weight_ += weight;
    if (static_cast<int64_t>(items_.size()) > peak_items_) peak_items_ = static_cast<int64_t>(items_.size());
    if (weight_ > peak_weight_) peak_weight_ = weight_;
    lock.unlock();
    not_empty_.notify_one();
    return true;
  }

  // Blocks until an item is available. Returns std::nullopt when the queue
  // is closed and drained, or cancelled.
  std::optional<T> Pop() {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait(lock, [&] { return cancelled_ || closed_ || !items_.empty(); });
    return TakeLocked(lock);
  }

  // Like Pop, but gives up after `timeout`; `*timed_out` tells a timeout
  // apart from the end of the queue.
  template <typename Rep, typename Period>
  std::optional<T> PopFor(std::chrono::duration<Rep, Period> timeout, bool* timed_out) {
    std::unique_lock<std::mutex> lock(mu_);
    *timed_out = !not_empty_.wait_for(lock, timeout,
                                      [&] { return cancelled_ || closed_ || !items_.empty(); });
    if (*timed_out) return std::nullopt;
    return TakeLocked(lock);
  }

  // The producers are done: consumers drain what is queued, then Pop
  // returns std::nullopt. Further Push calls return false.
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  // Abandons the queue: wakes every waiter, drops queued items; Push returns
  // false and Pop std::nullopt from now on.
  void Cancel() {
    std::deque<std::pair<T, int64_t>> dropped;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
      dropped.swap(items_);
      weight_ = 0;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
    // `dropped` is destroyed outside the lock.
  }

  bool cancelled() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }
  int64_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int64_t>(items_.size());
  }
  int64_t weight() const {
    std::lock_guard<std::mutex> lock(mu_);
    return weight_;
  }
  // High-water marks, for tests and debug logs.
  int64_t peak_items() const {
    std::lock_guard<std::mutex> lock(mu_);
    return peak_items_;
  }
  int64_t peak_weight() const {
    std::lock_guard<std::mutex> lock(mu_);
    return peak_weight_;
  }

 private:
  bool HasRoom(int64_t weight) const {
    if (items_.empty()) return true;
    if (static_cast<int64_t>(items_.size()) >= max_items_) return false;
    return max_weight_ <= 0 || weight_ + weight <= max_weight_;
  }

  std::optional<T> TakeLocked(std::unique_lock<std::mutex>& lock) {
    if (cancelled_ || items_.empty()) return std::nullopt;
    std::optional<T> out(std::move(items_.front().first));
    weight_ -= items_.front().second;
    items_.pop_front();
    lock.unlock();
    // Several producers may fit now (the freed weight can admit more than one).
    not_full_.notify_all();
    return out;
  }

  const int64_t max_items_;
  const int64_t max_weight_;
  mutable std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<std::pair<T, int64_t>> items_;
  int64_t weight_ = 0;
  int64_t peak_items_ = 0;
  int64_t peak_weight_ = 0;
  bool closed_ = false;
  bool cancelled_ = false;
};

}  // namespace sluice::pipeline
