// Fuzzes the CSV reader: with schema inference and with the fixed all-types
// schema, across dialects, batch sizes and read-chunk sizes (the first input
// byte picks them). Every batch must validate, and whatever was read must
// survive write -> read with the same schema unchanged.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/io.h"
#include "core/testing.h"
#include "formats/csv/csv.h"

namespace {

using sluice::RecordBatch;
using sluice::csv::CsvOptions;
using sluice::csv::CsvReadOptions;
using sluice::csv::CsvReader;
using sluice::csv::CsvWriter;

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "csv_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

// Reads batches until the end or the first error (errors are fine: input is hostile).
std::vector<RecordBatch> ReadBatches(std::string_view text, const CsvReadOptions& options,
                                     std::shared_ptr<const sluice::Schema>* schema) {
  std::vector<RecordBatch> out;
  sluice::MemoryInputStream in(text, "fuzz.csv");
  auto reader = CsvReader::Open(&in, options);
  if (!reader.ok()) return out;
  *schema = (*reader)->schema();
  for (int guard = 0; guard < 1 << 20; ++guard) {
    auto b = (*reader)->Next();
    if (!b.ok() || !b->has_value()) break;
    sluice::Status st = (*b)->Validate();
    if (!st.ok()) Fail("invalid batch", st.ToString());
    if ((*b)->num_rows() < 1 || (*b)->num_rows() > options.batch_rows) Fail("bad batch size", "");
    out.push_back(std::move(**b));
  }
  return out;
}

void RoundTrip(const std::vector<RecordBatch>& batches, const std::shared_ptr<const sluice::Schema>& schema,
               const CsvOptions& dialect) {
  if (batches.empty() || schema->num_fields() == 0) return;
  sluice::StringOutputStream out;
  auto writer = CsvWriter::Make(&out, schema, dialect);
  if (!writer.ok()) Fail("writer", writer.status().ToString());
  sluice::BatchBuilder all(schema);
  for (const RecordBatch& b : batches) {
    sluice::Status st = (*writer)->Write(b);
    if (!st.ok()) Fail("write", st.ToString());
    for (int c = 0; c < b.num_columns(); ++c) {
      for (int64_t r = 0; r < b.num_rows(); ++r) all.column(c).AppendFrom(b.column(c), r);
    }
  }
  if (!(*writer)->Finish().ok()) Fail("finish", "");
  const RecordBatch expected = all.Finish();
  CsvReadOptions ro;
  static_cast<CsvOptions&>(ro) = dialect;
  ro.schema = schema;
  std::shared_ptr<const sluice::Schema> unused;
  sluice::MemoryInputStream in(out.str(), "roundtrip.csv");
  auto reader = CsvReader::Open(&in, ro);
  if (!reader.ok()) Fail("reopen", reader.status().ToString() + "\n" + out.str());
  sluice::BatchBuilder got(schema);
  for (;;) {
    auto b = (*reader)->Next();
    if (!b.ok()) Fail("reread", b.status().ToString() + "\n" + out.str());
    if (!b->has_value()) break;
    for (int c = 0; c < (*b)->num_columns(); ++c) {
      for (int64_t r = 0; r < (*b)->num_rows(); ++r) got.column(c).AppendFrom((*b)->column(c), r);
    }
  }
  std::string why;
  if (!expected.Equals(got.Finish(), &why)) Fail("round trip differs", why + "\n" + out.str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const uint8_t sel = size > 0 ? data[0] : 0;
  static const char kDelims[] = {',', ';', '\t', '|'};
  CsvReadOptions o;
  o.delimiter = kDelims[sel & 3];
  o.header = (sel & 4) == 0;
  if (sel & 8) o.null_marker = "\\N";
  o.batch_rows = 1 + ((sel >> 4) & 7);
  o.read_chunk_bytes = 1 + (sel >> 5);
  o.batch_bytes = 64 + (sel & 0x70) * 4;
  o.max_record_bytes = 1 << 16;
  o.infer_rows = 1 + (sel % 13);

  // 1. Inferred schema.
  std::shared_ptr<const sluice::Schema> schema;
  std::vector<RecordBatch> batches = ReadBatches(text, o, &schema);
  RoundTrip(batches, schema, o);

  // 2. The fixed all-types schema (mostly headerless: header names rarely match).
  static const auto kAllTypes = sluice::testing::AllTypesSchema();
  o.schema = kAllTypes;
  o.header = (sel & 0x80) != 0;
  batches = ReadBatches(text, o, &schema);
  RoundTrip(batches, kAllTypes, o);
  return 0;
}
