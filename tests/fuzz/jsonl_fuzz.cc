// Fuzzes the JSONL reader with schema inference and with the fixed all-types
// schema (the first input byte picks batch and read-chunk sizes). Every batch
// must validate, and whatever was read must survive write -> read unchanged.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/io.h"
#include "core/testing.h"
#include "formats/jsonl/json_text.h"
#include "formats/jsonl/jsonl.h"

namespace {

using sluice::RecordBatch;
using sluice::jsonl::JsonlReadOptions;
using sluice::jsonl::JsonlReader;
using sluice::jsonl::JsonlWriter;

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "jsonl_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

void Append(sluice::BatchBuilder* bb, const RecordBatch& b) {
  for (int c = 0; c < b.num_columns(); ++c) {
    for (int64_t r = 0; r < b.num_rows(); ++r) bb->column(c).AppendFrom(b.column(c), r);
  }
  for (int64_t r = 0; b.num_columns() == 0 && r < b.num_rows(); ++r) bb->AddEmptyRow();
}

std::vector<RecordBatch> ReadBatches(std::string_view text, const JsonlReadOptions& options,
                                     std::shared_ptr<const sluice::Schema>* schema) {
  std::vector<RecordBatch> out;
  sluice::MemoryInputStream in(text, "fuzz.jsonl");
  auto reader = JsonlReader::Open(&in, options);
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

void RoundTrip(const std::vector<RecordBatch>& batches, const std::shared_ptr<const sluice::Schema>& schema) {
  if (batches.empty()) return;
  sluice::StringOutputStream out;
  auto writer = JsonlWriter::Make(&out, schema);
  if (!writer.ok()) Fail("writer", writer.status().ToString());
  sluice::BatchBuilder all(schema);
  for (const RecordBatch& b : batches) {
    sluice::Status st = (*writer)->Write(b);
    if (!st.ok()) Fail("write", st.ToString());
    Append(&all, b);
  }
  if (!(*writer)->Finish().ok()) Fail("finish", "");
  const RecordBatch expected = all.Finish();
  JsonlReadOptions ro;
  ro.schema = schema;
  sluice::MemoryInputStream in(out.str(), "roundtrip.jsonl");
  auto reader = JsonlReader::Open(&in, ro);
  if (!reader.ok()) Fail("reopen", reader.status().ToString());
  sluice::BatchBuilder got(schema);
  for (;;) {
    auto b = (*reader)->Next();
    if (!b.ok()) Fail("reread", b.status().ToString() + "\n" + out.str());
    if (!b->has_value()) break;
    Append(&got, **b);
  }
  std::string why;
  if (!expected.Equals(got.Finish(), &why)) Fail("round trip differs", why + "\n" + out.str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const uint8_t sel = size > 0 ? data[size - 1] : 0;
  JsonlReadOptions o;
  o.batch_rows = 1 + (sel & 7);
  o.read_chunk_bytes = 1 + (sel >> 3);
  o.batch_bytes = 64 + (sel & 0x70) * 4;
  o.max_record_bytes = 1 << 16;
  o.infer_rows = 1 + (sel % 11);
  o.ignore_unknown_keys = (sel & 0x80) != 0;

  std::shared_ptr<const sluice::Schema> schema;
  std::vector<RecordBatch> batches = ReadBatches(text, o, &schema);
  RoundTrip(batches, schema);

  static const auto kAllTypes = sluice::testing::AllTypesSchema();
  o.schema = kAllTypes;
  batches = ReadBatches(text, o, &schema);
  RoundTrip(batches, kAllTypes);

  // The compactor on its own: output must be valid and a fixed point.
  std::string compact;
  if (sluice::jsonl::AppendCompactJson(text, &compact).ok()) {
    std::string again;
    if (!sluice::jsonl::AppendCompactJson(compact, &again).ok() || again != compact) {
      Fail("compact not idempotent", compact);
    }
  }
  return 0;
}
