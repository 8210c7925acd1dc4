// part_interop: test helper for tests/python/test_part_pyarrow.py (not installed).
//
//   part_interop write FILE ROWS SEED COMPRESSION   testing::AllTypesBatch(ROWS, SEED) as one part
//   part_interop dump FILE                           rows of a part or plain Arrow stream as JSON
//   lines
//
// `dump` prints one JSON object per row, {"column": "<canonical text>" | null},
// using the canonical text forms of core/text.h.
#include <charconv>
#include <cstdio>
#include <iostream>
#include <string>

#include "core/io.h"
#include "core/testing.h"
#include "core/text.h"
#include "formats/part/part.h"

namespace {

using sluice::Status;

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

int Fail(const Status& st) {
  std::cerr << "part_interop: " << st.ToString() << "\n";
  return 1;
}

int Write(const std::string& path, int64_t rows, uint64_t seed, std::string_view compression) {
  auto comp = sluice::part::ParseCompression(compression);
  if (!comp.ok()) return Fail(comp.status());
  sluice::RecordBatch batch = sluice::testing::AllTypesBatch(rows, seed);
  sluice::part::PartHeader h;
  h.stream_id = "interop";
  h.part_number = 1;
  h.position_start = "0";
  h.position_end = std::to_string(rows);
  h.source_fingerprint = "interop-seed-" + std::to_string(seed);
  sluice::part::EncodeOptions options;
  options.compression = *comp;
  auto bytes = sluice::part::EncodePart(&h, *batch.schema(), {batch}, options);
  if (!bytes.ok()) return Fail(bytes.status());
  Status st = sluice::WriteFileAtomic(path, *bytes);
  if (!st.ok()) return Fail(st);
  return 0;
}

int Dump(const std::string& path) {
  auto buf = sluice::ReadFile(path);
  if (!buf.ok()) return Fail(buf.status());
  sluice::part::DecodeOptions options;
  options.require_sluice_header = false;
  auto part = sluice::part::DecodePart(*buf, path, options);
  if (!part.ok()) return Fail(part.status());
  const sluice::Schema& schema = *part->schema;
  std::string out;
  for (const sluice::RecordBatch& b : part->batches) {
    for (int64_t r = 0; r < b.num_rows(); ++r) {
      out.push_back('{');
      for (int c = 0; c < b.num_columns(); ++c) {
        if (c > 0) out.push_back(',');
        AppendJsonString(schema.field(c).name, &out);
        out.push_back(':');
        const sluice::Column& col = b.column(c);
        if (col.IsNull(r)) {
          out.append("null");
        } else {
          AppendJsonString(sluice::ValueToText(col, r), &out);
        }
      }
      out.append("}\n");
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

template <typename T>
bool ParseNumber(const char* s, T* out) {
  std::string_view v(s);
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
  return ec == std::errc() && p == v.data() + v.size();
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "write" && argc == 6) {
    int64_t rows;
    uint64_t seed;
    if (!ParseNumber(argv[3], &rows) || rows < 0 || !ParseNumber(argv[4], &seed)) {
      std::cerr << "part_interop: ROWS and SEED must be non-negative integers\n";
      return 2;
    }
    return Write(argv[2], rows, seed, argv[5]);
  }
  if (cmd == "dump" && argc == 3) return Dump(argv[2]);
  std::cerr << "usage: part_interop write FILE ROWS SEED none|lz4|zstd\n"
               "       part_interop dump FILE\n";
  return 2;
}
