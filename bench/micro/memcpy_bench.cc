// The physical limit: copying the same buffer bytes the codecs read or write.
#include <cstring>

#include "bench_util.h"

namespace sluice::bench {
namespace {

void CopyBuffers(benchmark::State& state, const std::vector<RecordBatch>& batches) {
  int64_t bytes = BufferBytes(batches);
  std::vector<char> dst(static_cast<size_t>(bytes));
  for (auto _ : state) {
    char* p = dst.data();
    for (const auto& b : batches) {
      for (const auto& c : b.columns()) {
        for (const auto* buf : {c.validity.get(), c.values.get(), c.data.get()}) {
          if (buf == nullptr) continue;
          std::memcpy(p, buf->data(), static_cast<size_t>(buf->size()));
          p += buf->size();
        }
      }
    }
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  SetRates(state, bytes, kRows);
}

void BM_Memcpy_Fixed(benchmark::State& state) { CopyBuffers(state, FixedBatches()); }
void BM_Memcpy_Mixed(benchmark::State& state) { CopyBuffers(state, MixedBatches()); }
BENCHMARK(BM_Memcpy_Fixed)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Memcpy_Mixed)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::bench
