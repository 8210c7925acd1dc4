#include "pipeline/part_codec.h"

#include "formats/tdtp/tdtp.h"

namespace sluice::pipeline {

bool LooksLikeXml(std::string_view bytes) {
  if (bytes.substr(0, 3) == "\xEF\xBB\xBF") bytes.remove_prefix(3);
  for (char c : bytes) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return c == '<';
  }
  return false;
}

std::string_view TdtpStreamId(std::string_view message_id) {
  const size_t p = message_id.rfind("-P");
  if (p == std::string_view::npos || p + 2 == message_id.size()) return message_id;
  for (char c : message_id.substr(p + 2)) {
    if (c < '0' || c > '9') return message_id;
  }
  return message_id.substr(0, p);
}

namespace {
bool SameColumns(const Schema& a, const Schema& b) {
  if (a.num_fields() != b.num_fields()) return false;
  for (int i = 0; i < a.num_fields(); ++i) {
    const Field& x = a.field(i);
    const Field& y = b.field(i);
    if (x.name != y.name || !(x.type == y.type) || x.nullable != y.nullable ||
        x.primary_key != y.primary_key) {
      return false;
    }
  }
  return true;
}
}  // namespace

Result<part::DecodedPart> DecodeAnyPart(std::shared_ptr<Buffer> bytes, std::string_view name,
                                        const part::DecodeOptions& options) {
  if (bytes == nullptr) return Status::InvalidData(std::string(name) + ": no bytes");
  if (!LooksLikeXml(bytes->view())) return part::DecodePart(std::move(bytes), name, options);
  tdtp::ReadOptions ro;
  ro.max_packet_bytes = options.max_uncompressed_bytes;
  ro.max_decompressed_bytes = options.max_uncompressed_bytes;
  SLUICE_ASSIGN_OR_RETURN(tdtp::Packet packet, tdtp::ReadPacket(bytes->view(), name, ro));
  if (options.expected_schema && !SameColumns(*options.expected_schema, *packet.schema)) {
    return Status::InvalidData(std::string(name) + ": TDTP schema " + packet.schema->ToString() +
                               " differs from the stream's " +
                               options.expected_schema->ToString());
  }
  part::DecodedPart out;
  const tdtp::PacketHeader& h = packet.header;
  std::string stream(TdtpStreamId(h.message_id));
  if (stream.empty()) stream = h.table_name.empty() ? "tdtp" : h.table_name;
  out.header.stream_id = stream;
  out.header.part_number = h.part_number > 0 ? h.part_number : 1;
  out.header.total_parts = h.total_parts;
  out.header.rows = packet.batch.num_rows();
  out.header.source_fingerprint = "tdtp:" + stream;
  out.header.idempotency_key = part::IdempotencyKey(out.header.source_fingerprint,
                                                    out.header.part_number);
  out.header.kind = part::PartKind::kData;
  out.schema = packet.schema;
  out.batches.push_back(std::move(packet.batch));
  return out;
}

}  // namespace sluice::pipeline
