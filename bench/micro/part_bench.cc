// Native part codec: encode and decode 1M rows, per compression.
#include "bench_util.h"
#include "formats/part/part.h"

namespace sluice::bench {
namespace {

using part::Compression;

std::string EncodeOne(const RecordBatch& b, Compression c) {
  part::PartHeader h;
  h.stream_id = "bench";
  h.source_fingerprint = "bench";
  auto bytes = part::EncodePart(&h, *b.schema(), {b}, {c, 1});
  if (!bytes.ok()) std::abort();
  return std::move(*bytes);
}

std::vector<std::string> EncodeAll(const std::vector<RecordBatch>& batches, Compression c) {
  std::vector<std::string> parts;
  for (const auto& b : batches) parts.push_back(EncodeOne(b, c));
  return parts;
}

// Like the export pipeline: each part is encoded, handed on and released
// before the next one (holding all 16 parts at once would mostly measure
// page faults on ~100 MB of fresh memory).
void Encode(benchmark::State& state, const std::vector<RecordBatch>& batches, Compression c) {
  int64_t out_bytes = 0;
  for (auto _ : state) {
    out_bytes = 0;
    for (const auto& b : batches) {
      std::string p = EncodeOne(b, c);
      out_bytes += static_cast<int64_t>(p.size());
      benchmark::DoNotOptimize(p.data());
    }
  }
  SetRates(state, BufferBytes(batches), kRows);
  state.counters["encoded_bytes"] = static_cast<double>(out_bytes);
}

void Decode(benchmark::State& state, const std::vector<RecordBatch>& batches, Compression c) {
  std::vector<std::shared_ptr<Buffer>> parts;
  for (const auto& p : EncodeAll(batches, c)) {
    parts.push_back(Buffer::Copy(p.data(), static_cast<int64_t>(p.size())));
  }
  for (auto _ : state) {
    for (const auto& p : parts) {
      auto d = part::DecodePart(p, "bench");
      if (!d.ok()) std::abort();
      benchmark::DoNotOptimize(d->batches.data());
    }
  }
  SetRates(state, BufferBytes(batches), kRows);
}

void BM_Part_Encode_Fixed_None(benchmark::State& s) { Encode(s, FixedBatches(), Compression::kNone); }
void BM_Part_Decode_Fixed_None(benchmark::State& s) { Decode(s, FixedBatches(), Compression::kNone); }
void BM_Part_Encode_Mixed_None(benchmark::State& s) { Encode(s, MixedBatches(), Compression::kNone); }
void BM_Part_Decode_Mixed_None(benchmark::State& s) { Decode(s, MixedBatches(), Compression::kNone); }
void BM_Part_Encode_Mixed_Lz4(benchmark::State& s) { Encode(s, MixedBatches(), Compression::kLz4); }
void BM_Part_Decode_Mixed_Lz4(benchmark::State& s) { Decode(s, MixedBatches(), Compression::kLz4); }
void BM_Part_Encode_Mixed_Zstd(benchmark::State& s) { Encode(s, MixedBatches(), Compression::kZstd); }
void BM_Part_Decode_Mixed_Zstd(benchmark::State& s) { Decode(s, MixedBatches(), Compression::kZstd); }
// The content digest behind export idempotency keys (RowsDigest), per
// 64K-row batch as the export computes it per part: compare with Encode.
void RowsDigest(benchmark::State& state, const std::vector<RecordBatch>& batches) {
  for (auto _ : state) {
    for (const auto& b : batches) {
      auto d = part::RowsDigest(*b.schema(), {b});
      if (!d.ok()) std::abort();
      benchmark::DoNotOptimize(d->data());
    }
  }
  SetRates(state, BufferBytes(batches), kRows);
}

void BM_Part_RowsDigest_Fixed(benchmark::State& s) { RowsDigest(s, FixedBatches()); }
void BM_Part_RowsDigest_Mixed(benchmark::State& s) { RowsDigest(s, MixedBatches()); }

BENCHMARK(BM_Part_Encode_Fixed_None)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Part_Decode_Fixed_None)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Part_Encode_Mixed_None)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Part_Decode_Mixed_None)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Part_Encode_Mixed_Lz4)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Part_Decode_Mixed_Lz4)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Part_Encode_Mixed_Zstd)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Part_Decode_Mixed_Zstd)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Part_RowsDigest_Fixed)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Part_RowsDigest_Mixed)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::bench
