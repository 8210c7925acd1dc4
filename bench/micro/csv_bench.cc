// CSV codec: write and read 1M mixed-type rows (schema given to the reader).
#include "formats/csv/csv.h"
#include "text_bench_util.h"

namespace sluice::bench {
namespace {

auto MakeCsv = [](OutputStream* out, std::shared_ptr<const Schema> schema) {
  return csv::CsvWriter::Make(out, std::move(schema), {});
};
auto OpenCsv = [](InputStream* in) {
  csv::CsvReadOptions o;
  o.schema = MixedBatches().front().schema();
  return csv::CsvReader::Open(in, o);
};

void BM_Csv_Encode_Mixed(benchmark::State& s) { EncodeTextBench(s, MakeCsv); }
void BM_Csv_Decode_Mixed(benchmark::State& s) { DecodeTextBench(s, MakeCsv, OpenCsv); }
BENCHMARK(BM_Csv_Encode_Mixed)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Csv_Decode_Mixed)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::bench
