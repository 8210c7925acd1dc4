// JSON-lines codec: write and read 1M mixed-type rows (schema given to the reader).
#include "formats/jsonl/jsonl.h"
#include "text_bench_util.h"

namespace sluice::bench {
namespace {

auto MakeJsonl = [](OutputStream* out, std::shared_ptr<const Schema> schema) {
  return jsonl::JsonlWriter::Make(out, std::move(schema));
};
auto OpenJsonl = [](InputStream* in) {
  jsonl::JsonlReadOptions o;
  o.schema = MixedBatches().front().schema();
  return jsonl::JsonlReader::Open(in, o);
};

void BM_Jsonl_Encode_Mixed(benchmark::State& s) { EncodeTextBench(s, MakeJsonl); }
void BM_Jsonl_Decode_Mixed(benchmark::State& s) { DecodeTextBench(s, MakeJsonl, OpenJsonl); }
BENCHMARK(BM_Jsonl_Encode_Mixed)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Jsonl_Decode_Mixed)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::bench
