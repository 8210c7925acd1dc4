// Fuzzes the PostgreSQL COPY BINARY decoder with a schema holding every wire
// kind the connector decodes. The first input byte picks the column layout
// (which seed layout, or a rotated one) and the chunk size the stream is fed
// in, so tuples split across PQgetCopyData chunks are exercised too. Every
// batch produced must validate; errors are fine (input is hostile).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "connectors/postgres/pg_copy.h"

namespace {

using sluice::PgCopyColumn;
using sluice::PgWire;

std::vector<PgCopyColumn> Layout(int which) {
  // Layout 0 matches tests/fuzz/corpus/pgcopy/*_all (the all-types table of
  // postgres_test.cc); 1 is (id int4, v text); others rotate the full list.
  static const PgWire kAll[] = {
      PgWire::kInt16, PgWire::kInt32, PgWire::kInt64, PgWire::kFloat32, PgWire::kFloat64,
      PgWire::kNumeric, PgWire::kText, PgWire::kJson, PgWire::kJsonb, PgWire::kBytea,
      PgWire::kBool, PgWire::kDate, PgWire::kTime, PgWire::kTimestamp, PgWire::kTimestampTz,
      PgWire::kUuid};
  constexpr int n = static_cast<int>(sizeof(kAll) / sizeof(kAll[0]));
  std::vector<PgCopyColumn> cols;
  if (which == 1) {
    cols.push_back({"id", PgWire::kInt32, sluice::PgWireType(PgWire::kInt32)});
    cols.push_back({"v", PgWire::kText, sluice::PgWireType(PgWire::kText)});
    return cols;
  }
  int rot = which == 0 ? 0 : which % n;
  for (int i = 0; i < n; ++i) {
    PgWire w = kAll[(i + rot) % n];
    int p = (which & 4) ? 38 : 12, s = (which & 8) ? 9 : 2;
    cols.push_back({"c" + std::to_string(i), w, sluice::PgWireType(w, p, s)});
  }
  return cols;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  int which = (data[0] & 0x0F);
  size_t chunk = size_t{1} << ((data[0] >> 4) & 0x0F);  // 1 .. 32768 bytes per chunk
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

  std::vector<PgCopyColumn> cols = Layout(which);
  std::vector<sluice::Field> fields;
  for (const auto& c : cols) fields.push_back({c.name, c.type});
  auto schema = std::make_shared<sluice::Schema>(std::move(fields));
  sluice::PgCopyDecoder decoder(cols, "fuzz");
  sluice::BatchBuilder bb(schema);
  sluice::Status st;
  for (size_t off = 0; off < in.size() && st.ok(); off += chunk) {
    st = decoder.Consume(in.substr(off, chunk), &bb);
  }
  if (!st.ok()) return 0;  // rejected: fine (the builder may hold a partial row)
  (void)decoder.Finish();
  // Every row the decoder accepted must form a valid batch.
  sluice::RecordBatch batch = bb.Finish();
  sluice::Status v = batch.Validate();
  if (!v.ok() || batch.num_rows() != decoder.rows()) {
    std::fprintf(stderr, "pgcopy_fuzz: accepted input gave an invalid batch: %s\n",
                 v.ToString().c_str());
    std::abort();
  }
  return 0;
}
