// Fuzzes the ClickHouse source's decoder (src/connectors/clickhouse/
// ch_rowbinary_reader.h): column type names as the server prints them, the
// sink's type-marker comments, and RowBinary result streams decoded
// incrementally into batches, with exception text appended mid-stream.
//
// Input: "<type>;<type>;...\n<selector byte><stream bytes>". Each type is
// parsed; the selector picks, per column, the default sluice type or another
// one the decoder converts into, the size of the pieces the stream arrives
// in, and the batch limits. Invariants checked: a decoder never consumes
// more than it is given, every batch it builds is structurally valid
// (RecordBatch::Validate: offsets, UTF-8, decimal magnitudes), rows add up,
// and a parsed marker prints back to itself.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/clickhouse/ch_rowbinary_reader.h"

namespace {

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "chrowbinary_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

// Sluice types a column may be asked for (types= overrides, markers).
const std::vector<sluice::DataType>& Candidates() {
  static const std::vector<sluice::DataType> types = {
      sluice::DataType::Int8(),
      sluice::DataType::Int64(),
      sluice::DataType::UInt16(),
      sluice::DataType::UInt64(),
      sluice::DataType::Float64(),
      sluice::DataType::Decimal(38, 6),
      sluice::DataType::Decimal(5, 2),
      sluice::DataType::Bool(),
      sluice::DataType::String(),
      sluice::DataType::Binary(),
      sluice::DataType::Json(),
      sluice::DataType::Date(),
      sluice::DataType::Time(),
      sluice::DataType::Timestamp(),
      sluice::DataType::TimestampTz("UTC"),
      sluice::DataType::Uuid(),
  };
  return types;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  if (nl == std::string_view::npos) {
    // Types and markers only.
    auto t = sluice::ParseChWireType(in);
    if (t.ok()) (void)sluice::DefaultChSourceType(*t, "UTC");
    auto m = sluice::ParseChTypeMarker(in);
    if (m) {
      sluice::Field f{"x", m->type, true, m->primary_key};
      auto again = sluice::ParseChTypeMarker(sluice::ChTypeMarker(f));
      if (!again || !(again->type == m->type) || again->primary_key != m->primary_key) {
        Fail("marker does not print back to itself", std::string(in));
      }
    }
    (void)sluice::MatchChExceptionStart(in);
    return 0;
  }
  std::string_view types = in.substr(0, nl);
  std::string_view rest = in.substr(nl + 1);
  if (rest.empty()) return 0;
  const uint8_t sel = static_cast<uint8_t>(rest[0]);
  const std::string_view stream = rest.substr(1);

  std::vector<sluice::ChReadColumn> cols;
  size_t start = 0;
  int index = 0;
  while (start <= types.size() && cols.size() < 16) {
    size_t end = types.find(';', start);
    if (end == std::string_view::npos) end = types.size();
    auto t = sluice::ParseChWireType(types.substr(start, end - start));
    start = end + 1;
    if (!t.ok()) continue;
    sluice::ChReadColumn c;
    c.name = "c" + std::to_string(index);
    c.type = sluice::DefaultChSourceType(*t, "UTC");
    // Every other column (by the selector's bits) asks for a conversion.
    if ((sel >> (index % 4)) & 1) {
      const auto& cand = Candidates();
      const auto& want = cand[static_cast<size_t>(index * 7 + sel) % cand.size()];
      if (sluice::ChCanConvert(*t, want)) c.type = want;
    }
    c.wire = std::move(*t);
    cols.push_back(std::move(c));
    ++index;
  }
  if (cols.empty()) return 0;
  auto dec = sluice::RowBinaryDecoder::Make(cols, "fuzz");
  if (!dec.ok()) return 0;
  std::vector<sluice::Field> fields;
  for (const auto& c : cols) fields.push_back({c.name, c.type, c.wire.nullable});
  auto schema = std::make_shared<const sluice::Schema>(std::move(fields));

  const size_t piece = 1 + (sel >> 4) * 5;
  const int64_t max_rows = 1 + (sel & 7) * 3;
  const int64_t max_bytes = (sel & 8) ? 48 : INT64_MAX;
  std::string buf;
  size_t fed = 0;
  int64_t rows = 0;
  sluice::BatchBuilder bb(schema);
  for (int guard = 0; guard < 1 << 20; ++guard) {
    const size_t add = std::min(piece, stream.size() - fed);
    buf.append(stream.substr(fed, add));
    fed += add;
    const bool at_end = fed == stream.size();
    auto o = dec->Decode(buf, at_end, &bb, max_rows, max_bytes);
    if (!o.ok()) return 0;
    if (o->consumed > buf.size()) Fail("consumed more than given", std::to_string(o->consumed));
    buf.erase(0, o->consumed);
    if (o->stop == sluice::RowBinaryDecoder::Stop::kBatchFull) {
      const sluice::RecordBatch b = bb.Finish();
      rows += b.num_rows();
      const sluice::Status st = b.Validate();
      if (!st.ok()) Fail("invalid batch", st.ToString());
      continue;
    }
    if (o->stop == sluice::RowBinaryDecoder::Stop::kSuspect) {
      if (buf.size() > 64) {  // (the reader waits for 1 MiB; the fuzzer does not)
        dec->AcceptSuspect();
        continue;
      }
      if (at_end) {
        (void)dec->EndError(buf);
        return 0;
      }
      continue;
    }
    if (at_end) {
      if (!buf.empty()) {
        (void)dec->EndError(buf);
        return 0;
      }
      break;
    }
  }
  const sluice::RecordBatch b = bb.Finish();
  const sluice::Status st = b.Validate();
  if (!st.ok()) Fail("invalid batch", st.ToString());
  rows += b.num_rows();
  if (rows != dec->rows())
    Fail("row count", std::to_string(rows) + " vs " + std::to_string(dec->rows()));
  return 0;
}
