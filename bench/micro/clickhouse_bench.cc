// ClickHouse Native INSERT body (ChPartBody, what the sink streams), 1M rows.
// Baseline in the same run: the value-by-value path, which columns holding
// NULLs take and every column took before the column loops. The *_ValueByValue
// runs give every column a phantom NULL count (an all-valid bitmap) to force
// that path on the same bytes.
#include "bench_util.h"
#include "connectors/clickhouse/ch_rowbinary.h"

namespace sluice::bench {
namespace {

RowBinaryEncoder EncoderFor(const Schema& schema) {
  std::vector<ChColumnPlan> plans;
  for (const Field& f : schema.fields()) {
    auto t = ChTypeForField(f, f.nullable, ChCapabilities::Legacy(), {});
    if (!t.ok()) std::abort();
    auto p = PlanChColumn(f, *t, ChCapabilities::Legacy());
    if (!p.ok()) std::abort();
    plans.push_back(std::move(*p));
  }
  return RowBinaryEncoder(std::move(plans));
}

std::vector<RecordBatch> WithPhantomNulls(const std::vector<RecordBatch>& batches) {
  std::vector<RecordBatch> out;
  for (const RecordBatch& b : batches) out.push_back(testing::WithPhantomNulls(b));
  return out;
}

// Like the sink: one body per 64K-row batch, sent in 256 KiB pieces.
void Encode(benchmark::State& state, const std::vector<RecordBatch>& batches) {
  const RowBinaryEncoder enc = EncoderFor(*batches.front().schema());
  std::string piece;
  for (auto _ : state) {
    for (const RecordBatch& b : batches) {
      const std::vector<RecordBatch> one = {b};
      ChPartBody body = ChPartBody::Native(&enc, &one, {});
      while (true) {
        piece.clear();
        auto more = body.Next(&piece, 256 << 10);
        if (!more.ok()) std::abort();
        benchmark::DoNotOptimize(piece.data());
        if (!*more) break;
      }
    }
  }
  SetRates(state, BufferBytes(batches), kRows);
}

void BM_ChNative_Encode_Fixed(benchmark::State& s) { Encode(s, FixedBatches()); }
void BM_ChNative_Encode_Fixed_ValueByValue(benchmark::State& s) {
  static const auto batches = WithPhantomNulls(FixedBatches());
  Encode(s, batches);
}
void BM_ChNative_Encode_Mixed(benchmark::State& s) { Encode(s, MixedBatches()); }
void BM_ChNative_Encode_Mixed_ValueByValue(benchmark::State& s) {
  static const auto batches = WithPhantomNulls(MixedBatches());
  Encode(s, batches);
}

}  // namespace

BENCHMARK(BM_ChNative_Encode_Fixed)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ChNative_Encode_Fixed_ValueByValue)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ChNative_Encode_Mixed)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ChNative_Encode_Mixed_ValueByValue)->Unit(benchmark::kMillisecond);

}  // namespace sluice::bench
