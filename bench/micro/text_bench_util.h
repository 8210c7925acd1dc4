// Encode/decode loops shared by the text codec benchmarks (CSV, JSONL).
#pragma once

#include <string>

#include "bench_util.h"
#include "core/io.h"

namespace sluice::bench {

// Writes all mixed batches with `Writer` into one string; returns it.
template <typename Make>
std::string WriteText(const std::vector<RecordBatch>& batches, Make make_writer) {
  StringOutputStream out;
  auto w = make_writer(&out, batches.front().schema());
  if (!w.ok()) std::abort();
  for (const auto& b : batches) {
    if (!(*w)->Write(b).ok()) std::abort();
  }
  if (!(*w)->Finish().ok()) std::abort();
  return out.Release();
}

// Reads `text` back to batches with `Reader`; returns the row count.
template <typename Open>
int64_t ReadText(const std::string& text, Open open_reader) {
  MemoryInputStream in(text, "bench");
  auto r = open_reader(&in);
  if (!r.ok()) std::abort();
  int64_t rows = 0;
  while (true) {
    auto b = (*r)->Next();
    if (!b.ok()) std::abort();
    if (!b->has_value()) break;
    rows += (*b)->num_rows();
  }
  return rows;
}

template <typename Make>
void EncodeTextBench(benchmark::State& state, Make make_writer) {
  const auto& batches = MixedBatches();
  int64_t text_bytes = 0;
  for (auto _ : state) {
    text_bytes = static_cast<int64_t>(WriteText(batches, make_writer).size());
  }
  SetRates(state, BufferBytes(batches), kRows);
  state.counters["encoded_bytes"] = static_cast<double>(text_bytes);
}

template <typename Make, typename Open>
void DecodeTextBench(benchmark::State& state, Make make_writer, Open open_reader) {
  const auto& batches = MixedBatches();
  std::string text = WriteText(batches, make_writer);
  for (auto _ : state) {
    if (ReadText(text, open_reader) != kRows) std::abort();
  }
  SetRates(state, BufferBytes(batches), kRows);
  state.counters["encoded_bytes"] = static_cast<double>(text.size());
}

}  // namespace sluice::bench
