// Stream-level helpers: idempotency keys, the stream checksum, stream
// validation for importers, and the StreamPartEncoder that cuts batches into
// parts of a target size.

#include <algorithm>
#include <cstring>

#include "formats/part/part.h"
#include "formats/part/part_internal.h"

namespace sluice::part {

namespace {
using internal::Xxh3State;

void ChecksumRecord(int64_t part_number, uint64_t checksum, uint8_t out[16]) {
  // Little-endian on every host: write byte by byte.
  auto pn = static_cast<uint64_t>(part_number);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(pn >> (8 * i));
  for (int i = 0; i < 8; ++i) out[8 + i] = static_cast<uint8_t>(checksum >> (8 * i));
}
}  // namespace

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kLz4:
      return "lz4";
    case Compression::kZstd:
      return "zstd";
  }
  return "?";
}

Result<Compression> ParseCompression(std::string_view name) {
  if (name == "none") return Compression::kNone;
  if (name == "lz4") return Compression::kLz4;
  if (name == "zstd") return Compression::kZstd;
  return Status::InvalidArgument("unknown compression '" + std::string(name) +
                                 "' (expected none, lz4 or zstd)");
}

std::string_view PartKindName(PartKind k) { return k == PartKind::kEnd ? "end" : "data"; }

std::string IdempotencyKey(std::string_view source_fingerprint, int64_t part_number) {
  std::string input(source_fingerprint);
  auto pn = static_cast<uint64_t>(part_number);
  for (int i = 0; i < 8; ++i) input.push_back(static_cast<char>(pn >> (8 * i)));
  XXH128_hash_t h = XXH3_128bits(input.data(), input.size());
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);  // big-endian: high 64 bits first
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(32);
  for (unsigned char b : c.digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

uint64_t StreamChecksum(std::vector<PartChecksum> parts) {
  std::sort(parts.begin(), parts.end(), [](const PartChecksum& a, const PartChecksum& b) {
    return a.part_number < b.part_number;
  });
  std::string bytes(parts.size() * 16, '\0');
  for (size_t i = 0; i < parts.size(); ++i) {
    ChecksumRecord(parts[i].part_number, parts[i].checksum,
                   reinterpret_cast<uint8_t*>(bytes.data()) + i * 16);
  }
  return XXH3_64bits(bytes.data(), bytes.size());
}

Status ValidateStream(const std::vector<PartHeader>& headers, std::string_view stream_name) {
  const std::string prefix = "stream '" + std::string(stream_name) + "': ";
  auto invalid = [&](const std::string& m) { return Status::InvalidData(prefix + m); };
  const PartHeader* end = nullptr;
  std::vector<const PartHeader*> data;
  data.reserve(headers.size());
  for (const PartHeader& h : headers) {
    if (!h.has_sluice_header) return invalid("a part has no sluice header");
    if (h.kind == PartKind::kEnd) {
      if (end != nullptr) {
        return invalid("two end parts (numbers " + std::to_string(end->part_number) + " and " +
                       std::to_string(h.part_number) + ")");
      }
      end = &h;
    } else {
      data.push_back(&h);
    }
  }
  if (end == nullptr) return invalid("no end part: the stream is incomplete");
  for (const PartHeader& h : headers) {
    if (h.stream_id != end->stream_id) {
      return invalid("part " + std::to_string(h.part_number) + " belongs to stream '" +
                     h.stream_id + "', the end part to '" + end->stream_id + "'");
    }
  }
  const int64_t n = end->total_parts;
  if (end->part_number != n + 1) {
    return invalid("the end part is number " + std::to_string(end->part_number) + ", expected " +
                   std::to_string(n + 1) + " after " + std::to_string(n) + " data parts");
  }
  std::sort(data.begin(), data.end(), [](const PartHeader* a, const PartHeader* b) {
    return a->part_number < b->part_number;
  });
  int64_t expected = 1;
  int64_t rows = 0;
  std::vector<PartChecksum> sums;
  sums.reserve(data.size());
  for (const PartHeader* h : data) {
    if (h->part_number < expected) {
      return invalid("part " + std::to_string(h->part_number) + " appears more than once");
    }
    if (h->part_number > expected) {
      return invalid("part " + std::to_string(expected) + " of " + std::to_string(n) +
                     " is missing");
    }
    if (h->part_number > n) {
      return invalid("part " + std::to_string(h->part_number) + " is beyond the " +
                     std::to_string(n) + " parts the end part declares");
    }
    rows += h->rows;
    sums.push_back({h->part_number, h->checksum});
    ++expected;
  }
  if (expected <= n) {
    return invalid("part " + std::to_string(expected) + " of " + std::to_string(n) + " is missing");
  }
  if (rows != end->total_rows) {
    return invalid("the data parts hold " + std::to_string(rows) + " rows, the end part says " +
                   std::to_string(end->total_rows));
  }
  const uint64_t sum = StreamChecksum(std::move(sums));
  if (sum != end->stream_checksum) {
    return invalid("stream checksum mismatch: the end part says " +
                   internal::Hex64(end->stream_checksum) + ", the parts give " +
                   internal::Hex64(sum));
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------
// StreamPartEncoder

struct StreamPartEncoder::Impl {
  struct Pending {
    RecordBatch batch;  // shares the caller's buffers (no copy)
    int64_t offset = 0;
    int64_t length = 0;
    std::string position_start;
    std::string position_end;
  };

  std::shared_ptr<const Schema> schema;
  Options options;
  internal::Compressor compressor;
  Xxh3State stream_hash;
  std::vector<Pending> pending;
  State state;
  std::string stream_position_start;
  std::string stream_position_end;
  bool have_stream_start = false;

  Status Flush(std::vector<EncodedPart>* ready) {
    if (pending.empty()) return Status::OK();
    PartHeader h;
    h.stream_id = options.stream_id;
    h.part_number = state.parts + 1;
    h.position_start = pending.front().position_start;
    h.position_end = pending.back().position_end;
    h.source_fingerprint = options.source_fingerprint;
    std::vector<internal::RowRange> ranges;
    ranges.reserve(pending.size());
    for (const Pending& p : pending) ranges.push_back({&p.batch, p.offset, p.length});
    EncodeOptions eo;
    eo.compression = options.compression;
    eo.compression_level = options.compression_level;
    SLUICE_ASSIGN_OR_RETURN(std::string bytes,
                            internal::EncodeRanges(&h, *schema, ranges, eo, &compressor));
    uint8_t rec[16];
    ChecksumRecord(h.part_number, h.checksum, rec);
    XXH3_64bits_update(stream_hash.get(), rec, 16);
    state.parts += 1;
    state.rows += h.rows;
    state.stream_checksum = XXH3_64bits_digest(stream_hash.get());
    state.pending_rows = 0;
    state.pending_bytes = 0;
    pending.clear();
    ready->push_back({std::move(h), std::move(bytes)});
    return Status::OK();
  }
};

StreamPartEncoder::StreamPartEncoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StreamPartEncoder::~StreamPartEncoder() = default;

Result<std::unique_ptr<StreamPartEncoder>> StreamPartEncoder::Make(
    std::shared_ptr<const Schema> schema, Options options) {
  if (!schema) return Status::InvalidArgument("StreamPartEncoder needs a schema");
  SLUICE_RETURN_NOT_OK_CTX(schema->Validate(), "StreamPartEncoder schema");
  if (options.target_part_bytes < 1) {
    return Status::InvalidArgument("target_part_bytes must be positive");
  }
  auto impl = std::make_unique<Impl>();
  impl->schema = std::move(schema);
  impl->options = std::move(options);
  impl->stream_hash.reset(XXH3_createState());
  if (!impl->stream_hash) return Status::Internal("cannot allocate an XXH3 state");
  XXH3_64bits_reset(impl->stream_hash.get());
  impl->state.stream_checksum = XXH3_64bits_digest(impl->stream_hash.get());
  return std::unique_ptr<StreamPartEncoder>(new StreamPartEncoder(std::move(impl)));
}

const StreamPartEncoder::State& StreamPartEncoder::state() const { return impl_->state; }
const std::shared_ptr<const Schema>& StreamPartEncoder::schema() const { return impl_->schema; }

Status StreamPartEncoder::Append(const RecordBatch& batch, std::vector<EncodedPart>* ready) {
  return Append(batch, {}, {}, ready);
}

Status StreamPartEncoder::Append(const RecordBatch& batch, std::string_view position_start,
                                 std::string_view position_end, std::vector<EncodedPart>* ready) {
  Impl& s = *impl_;
  if (s.state.finished) return Status::InvalidArgument("Append after Finish");
  SLUICE_RETURN_NOT_OK_CTX(internal::CheckBatch(*s.schema, batch), "StreamPartEncoder::Append");
  if (!s.have_stream_start) {
    s.stream_position_start = std::string(position_start);
    s.have_stream_start = true;
  }
  s.stream_position_end = std::string(position_end);
  const int64_t n = batch.num_rows();
  const int64_t target = s.options.target_part_bytes;
  int64_t offset = 0;
  while (offset < n) {
    const int64_t budget = target - s.state.pending_bytes;
    const int64_t rest = std::min(n - offset, kMaxBatchRows);
    int64_t take;
    if (internal::RangeBodyBytes(batch, offset, rest) <= budget) {
      take = rest;
    } else {
      // Largest row count that fits the budget (the size grows with the count).
      int64_t lo = 0, hi = rest;
      while (lo < hi) {
        const int64_t mid = lo + (hi - lo + 1) / 2;
        if (internal::RangeBodyBytes(batch, offset, mid) <= budget)
          lo = mid;
        else
          hi = mid - 1;
      }
      take = lo;
      if (take == 0) {
        if (!s.pending.empty()) {  // this part is full: start the next one
          SLUICE_RETURN_NOT_OK(s.Flush(ready));
          continue;
        }
        take = 1;  // a single row larger than the target gets a part of its own
      }
    }
    const int64_t bytes = internal::RangeBodyBytes(batch, offset, take);
    s.pending.push_back(
        {batch, offset, take, std::string(position_start), std::string(position_end)});
    s.state.pending_rows += take;
    s.state.pending_bytes += bytes;
    offset += take;
    if (s.state.pending_bytes >= target) SLUICE_RETURN_NOT_OK(s.Flush(ready));
  }
  return Status::OK();
}

Status StreamPartEncoder::Flush(std::vector<EncodedPart>* ready) {
  if (impl_->state.finished) return Status::InvalidArgument("Flush after Finish");
  return impl_->Flush(ready);
}

Status StreamPartEncoder::Finish(std::vector<EncodedPart>* ready) {
  Impl& s = *impl_;
  if (s.state.finished) return Status::InvalidArgument("Finish called twice");
  SLUICE_RETURN_NOT_OK(s.Flush(ready));
  PartHeader h;
  h.kind = PartKind::kEnd;
  h.stream_id = s.options.stream_id;
  h.part_number = s.state.parts + 1;
  h.total_parts = s.state.parts;
  h.total_rows = s.state.rows;
  h.stream_checksum = s.state.stream_checksum;
  h.position_start = s.stream_position_start;
  h.position_end = s.stream_position_end;
  h.source_fingerprint = s.options.source_fingerprint;
  EncodeOptions eo;
  eo.compression = s.options.compression;
  eo.compression_level = s.options.compression_level;
  SLUICE_ASSIGN_OR_RETURN(std::string bytes,
                          internal::EncodeRanges(&h, *s.schema, {}, eo, &s.compressor));
  ready->push_back({std::move(h), std::move(bytes)});
  s.state.finished = true;
  return Status::OK();
}

}  // namespace sluice::part
