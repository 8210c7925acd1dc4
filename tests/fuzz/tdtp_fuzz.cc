// libFuzzer target for the TDTP packet reader. Any input must give a packet
// or a Status — never a crash, a sanitizer report or an unbounded allocation.
// A packet that decodes is re-encoded and decoded again: the values must
// survive (NaN aside, RecordBatch::Equals treats NaN as equal).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "formats/tdtp/tdtp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sluice;
  tdtp::ReadOptions opts;
  opts.max_packet_bytes = 1 << 20;
  opts.max_decompressed_bytes = 4 << 20;
  auto packet = tdtp::ReadPacket(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz", opts);
  if (!packet.ok()) return 0;
  if (!packet->batch.Validate().ok()) std::abort();
  if (packet->batch.num_columns() == 0) return 0;
  for (bool compress : {false, true}) {
    tdtp::WriteOptions wopts;
    wopts.table_name = "fuzz";
    wopts.compress = compress;
    wopts.max_part_bytes = 4096;
    auto encoded = tdtp::WritePackets(packet->schema, {packet->batch}, wopts);
    if (!encoded.ok()) continue;  // e.g. control characters in a plain packet
    int64_t rows = 0;
    for (const auto& e : *encoded) {
      auto back = tdtp::ReadPacket(e.xml, e.file_name, opts);
      if (!back.ok()) std::abort();
      RecordBatch expected = packet->batch.Slice(rows, back->batch.num_rows());
      RecordBatch got(expected.schema(), back->batch.num_rows(), back->batch.columns());
      if (!got.Equals(expected)) std::abort();
      rows += back->batch.num_rows();
    }
    if (rows != packet->batch.num_rows()) std::abort();
  }
  return 0;
}
