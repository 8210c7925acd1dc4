#include "pipeline/bounded_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <numeric>
#include <thread>
#include <vector>

namespace sluice::pipeline {
namespace {

using namespace std::chrono_literals;

TEST(BoundedQueue, FifoOrder) {
  BoundedQueue<int> q(8);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(q.Push(i));
  EXPECT_EQ(q.size(), 5);
  for (int i = 0; i < 5; ++i) {
    auto v = q.Pop();
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(*v, i);
  }
  EXPECT_EQ(q.size(), 0);
}

TEST(BoundedQueue, PushBlocksWhileFullUntilPop) {
  BoundedQueue<int> q(2);
  ASSERT_TRUE(q.Push(1));
  ASSERT_TRUE(q.Push(2));
  std::atomic<bool> third_pushed{false};
  std::thread producer([&] {
    EXPECT_TRUE(q.Push(3));
    third_pushed = true;
  });
  // The queue is full: the third Push cannot have completed, however long we wait.
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(third_pushed.load());
  EXPECT_EQ(q.size(), 2);
  EXPECT_EQ(*q.Pop(), 1);
  producer.join();
  EXPECT_TRUE(third_pushed.load());
  EXPECT_EQ(*q.Pop(), 2);
  EXPECT_EQ(*q.Pop(), 3);
  EXPECT_EQ(q.peak_items(), 2);
}

TEST(BoundedQueue, WeightLimitAndOversizedItem) {
  BoundedQueue<int> q(10, /*max_weight=*/100);
  // An item heavier than the limit still enters an empty queue (no deadlock).
  ASSERT_TRUE(q.Push(1, 250));
  EXPECT_EQ(q.weight(), 250);
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    EXPECT_TRUE(q.Push(2, 60));
    EXPECT_TRUE(q.Push(3, 60));  // 60 + 60 > 100: waits for the first to leave
    pushed = true;
  });
  EXPECT_EQ(*q.Pop(), 1);  // frees 250
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(pushed.load());
  EXPECT_EQ(q.weight(), 60);
  EXPECT_EQ(*q.Pop(), 2);
  producer.join();
  EXPECT_EQ(*q.Pop(), 3);
  EXPECT_EQ(q.weight(), 0);
  EXPECT_LE(q.peak_weight(), 250);
}

TEST(BoundedQueue, CloseDrainsThenEnds) {
  BoundedQueue<int> q(4);
  ASSERT_TRUE(q.Push(7));
  ASSERT_TRUE(q.Push(8));
  q.Close();
  EXPECT_FALSE(q.Push(9));  // producers are done
  EXPECT_EQ(*q.Pop(), 7);
  EXPECT_EQ(*q.Pop(), 8);
  EXPECT_FALSE(q.Pop().has_value());
  EXPECT_FALSE(q.Pop().has_value());
}

TEST(BoundedQueue, CloseWakesBlockedConsumers) {
  BoundedQueue<int> q(4);
  std::vector<std::thread> consumers;
  std::atomic<int> ended{0};
  for (int i = 0; i < 3; ++i) {
    consumers.emplace_back([&] {
      if (!q.Pop().has_value()) ++ended;
    });
  }
  std::this_thread::sleep_for(20ms);
  q.Close();
  for (auto& t : consumers) t.join();
  EXPECT_EQ(ended.load(), 3);
}

TEST(BoundedQueue, CancelWakesEveryoneAndDropsItems) {
  BoundedQueue<std::unique_ptr<int>> q(1);
  ASSERT_TRUE(q.Push(std::make_unique<int>(1)));
  std::atomic<int> push_result{-1};
  std::thread producer([&] { push_result = q.Push(std::make_unique<int>(2)) ? 1 : 0; });
  std::this_thread::sleep_for(20ms);
  q.Cancel();
  producer.join();
  EXPECT_EQ(push_result.load(), 0);  // the blocked producer was released, item dropped
  EXPECT_TRUE(q.cancelled());
  EXPECT_FALSE(q.Pop().has_value());  // queued item dropped too
  EXPECT_EQ(q.size(), 0);

  BoundedQueue<int> empty(1);
  std::atomic<bool> consumer_released{false};
  std::thread consumer([&] {
    EXPECT_FALSE(empty.Pop().has_value());
    consumer_released = true;
  });
  std::this_thread::sleep_for(20ms);
  empty.Cancel();
  consumer.join();
  EXPECT_TRUE(consumer_released.load());
}

TEST(BoundedQueue, PopForTimesOut) {
  BoundedQueue<int> q(1);
  bool timed_out = false;
  EXPECT_FALSE(q.PopFor(5ms, &timed_out).has_value());
  EXPECT_TRUE(timed_out);
  ASSERT_TRUE(q.Push(4));
  auto v = q.PopFor(5ms, &timed_out);
  EXPECT_FALSE(timed_out);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, 4);
  q.Close();
  EXPECT_FALSE(q.PopFor(5ms, &timed_out).has_value());
  EXPECT_FALSE(timed_out);  // closed, not a timeout
}

TEST(BoundedQueue, ManyProducersManyConsumers) {
  constexpr int kProducers = 4, kConsumers = 3, kPerProducer = 20000;
  BoundedQueue<int64_t> q(16, 64);
  std::vector<std::thread> producers, consumers;
  std::atomic<int> left{kProducers};
  std::atomic<int64_t> sum{0}, count{0};
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        ASSERT_TRUE(q.Push(int64_t{p} * kPerProducer + i, 1 + i % 5));
      }
      if (left.fetch_sub(1) == 1) q.Close();
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&] {
      while (auto v = q.Pop()) {
        sum += *v;
        ++count;
      }
    });
  }
  for (auto& t : producers) t.join();
  for (auto& t : consumers) t.join();
  const int64_t n = int64_t{kProducers} * kPerProducer;
  EXPECT_EQ(count.load(), n);
  EXPECT_EQ(sum.load(), n * (n - 1) / 2);
  EXPECT_LE(q.peak_items(), 16);
  EXPECT_LE(q.peak_weight(), 64);
}

}  // namespace
}  // namespace sluice::pipeline
