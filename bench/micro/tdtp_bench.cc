// TDTP XML codec: write 1M mixed-type rows as ~1.9 MB packets and read them back.
#include "bench_util.h"
#include "formats/tdtp/tdtp.h"

namespace sluice::bench {
namespace {

std::vector<tdtp::EncodedPacket> WriteAll(bool compress) {
  tdtp::WriteOptions o;
  o.table_name = "bench";
  o.compress = compress;
  o.timestamp = "2026-01-01T00:00:00Z";
  auto packets = tdtp::WritePackets(MixedBatches().front().schema(), MixedBatches(), o);
  if (!packets.ok()) std::abort();
  return std::move(*packets);
}

void Encode(benchmark::State& state, bool compress) {
  int64_t out = 0;
  for (auto _ : state) {
    out = 0;
    for (const auto& p : WriteAll(compress)) out += static_cast<int64_t>(p.xml.size());
  }
  SetRates(state, BufferBytes(MixedBatches()), kRows);
  state.counters["encoded_bytes"] = static_cast<double>(out);
}

void Decode(benchmark::State& state, bool compress) {
  auto packets = WriteAll(compress);
  for (auto _ : state) {
    int64_t rows = 0;
    for (const auto& p : packets) {
      auto r = tdtp::ReadPacket(p.xml, p.file_name);
      if (!r.ok()) std::abort();
      rows += r->batch.num_rows();
    }
    if (rows != kRows) std::abort();
  }
  SetRates(state, BufferBytes(MixedBatches()), kRows);
}

void BM_Tdtp_Encode_Mixed_Plain(benchmark::State& s) { Encode(s, false); }
void BM_Tdtp_Decode_Mixed_Plain(benchmark::State& s) { Decode(s, false); }
void BM_Tdtp_Encode_Mixed_Zstd(benchmark::State& s) { Encode(s, true); }
void BM_Tdtp_Decode_Mixed_Zstd(benchmark::State& s) { Decode(s, true); }
BENCHMARK(BM_Tdtp_Encode_Mixed_Plain)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Tdtp_Decode_Mixed_Plain)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Tdtp_Encode_Mixed_Zstd)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Tdtp_Decode_Mixed_Zstd)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::bench
