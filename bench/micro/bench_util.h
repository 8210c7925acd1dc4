// Shared data for the codec micro benchmarks: a 1M-row batch set built once.
#pragma once

#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "core/testing.h"

namespace sluice::bench {

inline constexpr int64_t kRows = 1'000'000;
inline constexpr int64_t kBatchRows = 65'536;

// 1M rows as 64K-row batches (mixed types: ints, decimal, tz timestamps, strings, blobs, NULLs).
inline const std::vector<RecordBatch>& MixedBatches() {
  static const std::vector<RecordBatch> batches = [] {
    std::vector<RecordBatch> out;
    for (int64_t r = 0; r < kRows; r += kBatchRows) {
      out.push_back(testing::MixedBatch(std::min(kBatchRows, kRows - r), 7 + r, r));
    }
    return out;
  }();
  return batches;
}

// 1M rows of fixed-width, non-null columns (int64, int32, float64, date, timestamp).
inline const std::vector<RecordBatch>& FixedBatches() {
  static const std::vector<RecordBatch> batches = [] {
    std::vector<RecordBatch> out;
    for (int64_t r = 0; r < kRows; r += kBatchRows) {
      out.push_back(testing::FixedWidthBatch(std::min(kBatchRows, kRows - r), 3 + r));
    }
    return out;
  }();
  return batches;
}

inline int64_t BufferBytes(const std::vector<RecordBatch>& batches) {
  int64_t n = 0;
  for (const auto& b : batches) n += b.ByteSize();
  return n;
}

inline void SetRates(benchmark::State& state, int64_t bytes, int64_t rows) {
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["rows_per_s"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace sluice::bench
