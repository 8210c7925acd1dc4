// Part encoder: Arrow IPC stream writer (schema message, record batch
// messages, end-of-stream marker) plus the sluice header and checksum.
//
// Uncompressed fast path: the output size is computed up front and reserved
// once, every buffer is appended with a single memcpy and hashed (XXH3) right
// after, while still in cache; the checksum digits are patched in at the end,
// which is why the checksum is defined over the part with its digits zeroed.
#include <lz4frame.h>
#include <zstd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <limits>

#include "arrow_ipc_generated.h"
#include "core/bitmap.h"
#include "core/temporal.h"
#include "formats/part/part.h"
#include "formats/part/part_internal.h"

namespace sluice::part {

namespace internal {

std::string Hex64(uint64_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i) {
    s[static_cast<size_t>(i)] = kHex[v & 15];
    v >>= 4;
  }
  return s;
}

bool ParseHex64(std::string_view s, uint64_t* out) {
  if (s.size() != 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return false;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

// ---------------------------------------------------------------------------
// Compression

struct Compressor::Contexts {
  ZSTD_CCtx* zstd = nullptr;
  ~Contexts() { ZSTD_freeCCtx(zstd); }
};

Compressor::Compressor() : ctx_(std::make_unique<Contexts>()) {}
Compressor::~Compressor() = default;

int64_t Compressor::MaxCompressedLength(Compression c, int64_t n) {
  switch (c) {
    case Compression::kLz4: {
      LZ4F_preferences_t prefs{};
      prefs.frameInfo.contentSize = static_cast<unsigned long long>(n);
      return static_cast<int64_t>(LZ4F_compressFrameBound(static_cast<size_t>(n), &prefs));
    }
    case Compression::kZstd:
      return static_cast<int64_t>(ZSTD_compressBound(static_cast<size_t>(n)));
    case Compression::kNone:
      break;
  }
  return n;
}

Result<int64_t> Compressor::Compress(Compression c, int level, const uint8_t* src, int64_t n,
                                     uint8_t* dst, int64_t cap) {
  if (c == Compression::kZstd) {
    if (ctx_->zstd == nullptr) {
      ctx_->zstd = ZSTD_createCCtx();
      if (ctx_->zstd == nullptr) return Status::Internal("cannot create a zstd context");
    }
    size_t r = ZSTD_compressCCtx(ctx_->zstd, dst, static_cast<size_t>(cap), src,
                                 static_cast<size_t>(n), level);
    if (ZSTD_isError(r)) {
      return Status::Internal(std::string("zstd compression failed: ") + ZSTD_getErrorName(r));
    }
    return static_cast<int64_t>(r);
  }
  if (c == Compression::kLz4) {
    LZ4F_preferences_t prefs{};
    // The content size in the frame header lets readers size their output.
    prefs.frameInfo.contentSize = static_cast<unsigned long long>(n);
    prefs.compressionLevel = level;
    size_t r =
        LZ4F_compressFrame(dst, static_cast<size_t>(cap), src, static_cast<size_t>(n), &prefs);
    if (LZ4F_isError(r)) {
      return Status::Internal(std::string("lz4 compression failed: ") + LZ4F_getErrorName(r));
    }
    return static_cast<int64_t>(r);
  }
  return Status::Internal("no compression codec selected");
}

namespace {

// ---------------------------------------------------------------------------
// Buffer plans: how one Arrow buffer of a row range is produced.

struct BufPlan {
  enum class Kind : uint8_t { kEmpty, kCopy, kBits, kOffsets };
  Kind kind = Kind::kEmpty;
  const uint8_t* src = nullptr;
  int64_t first = 0;  // kBits: first bit; kOffsets: first offset index
  int64_t count = 0;  // kBits: number of bits; kOffsets: number of rows
  int64_t size = 0;   // bytes produced
};

// Copies `count` bits starting at bit `first` of `src` to bit 0 of `dst`,
// zeroing the unused bits of the last byte.
void CopyBits(const uint8_t* src, int64_t first, int64_t count, uint8_t* dst) {
  const int64_t nbytes = bit::BytesFor(count);
  if (nbytes == 0) return;
  const int shift = static_cast<int>(first & 7);
  const uint8_t* s = src + (first >> 3);
  if (shift == 0) {
    std::memcpy(dst, s, static_cast<size_t>(nbytes));
  } else {
    // Never read beyond the last source byte holding a requested bit.
    const int64_t src_bytes = bit::BytesFor(first + count) - (first >> 3);
    for (int64_t i = 0; i < nbytes; ++i) {
      unsigned lo = static_cast<unsigned>(s[i]) >> shift;
      unsigned hi = i + 1 < src_bytes ? static_cast<unsigned>(s[i + 1]) << (8 - shift) : 0u;
      dst[i] = static_cast<uint8_t>(lo | hi);
    }
  }
  if ((count & 7) != 0) dst[nbytes - 1] &= static_cast<uint8_t>((1u << (count & 7)) - 1);
}

int64_t CountSetRange(const uint8_t* bits, int64_t first, int64_t count) {
  int64_t n = 0;
  while (count > 0 && (first & 7) != 0) {
    n += bit::Get(bits, first) ? 1 : 0;
    ++first;
    --count;
  }
  if (count > 0) n += bit::CountSet(bits + (first >> 3), count);
  return n;
}

int64_t RangeNullCount(const Column& c, int64_t offset, int64_t length) {
  if (c.null_count == 0 || !c.validity) return 0;
  if (offset == 0 && length == c.length) return c.null_count;
  return length - CountSetRange(c.validity->data(), offset, length);
}

void Materialize(const BufPlan& p, uint8_t* dst) {
  switch (p.kind) {
    case BufPlan::Kind::kEmpty:
      return;
    case BufPlan::Kind::kCopy:
      if (p.size > 0) std::memcpy(dst, p.src, static_cast<size_t>(p.size));
      return;
    case BufPlan::Kind::kBits:
      return CopyBits(p.src, p.first, p.count, dst);
    case BufPlan::Kind::kOffsets: {
      const int32_t* off = reinterpret_cast<const int32_t*>(p.src) + p.first;
      const int32_t base = off[0];
      for (int64_t i = 0; i <= p.count; ++i) {
        int32_t v = off[i] - base;
        std::memcpy(dst + i * 4, &v, 4);
      }
      return;
    }
  }
}

// Plans the 2 or 3 buffers of rows [offset, offset+length) of `c`.
void PlanColumn(const Column& c, int64_t offset, int64_t length, int64_t nulls,
                std::vector<BufPlan>* plans) {
  BufPlan validity;
  if (nulls > 0) {
    validity = {BufPlan::Kind::kBits, c.validity->data(), offset, length, bit::BytesFor(length)};
  }
  plans->push_back(validity);
  const TypeId id = c.type.id;
  if (id == TypeId::kBool) {
    plans->push_back(
        {BufPlan::Kind::kBits, c.values->data(), offset, length, bit::BytesFor(length)});
  } else if (IsVarWidth(id)) {
    const int32_t* off = c.values->as<int32_t>();
    const int64_t offsets_size = (length + 1) * 4;
    if (off[offset] == 0) {
      plans->push_back({BufPlan::Kind::kCopy, c.values->data() + offset * 4, 0, 0, offsets_size});
    } else {
      plans->push_back({BufPlan::Kind::kOffsets, c.values->data(), offset, length, offsets_size});
    }
    plans->push_back({BufPlan::Kind::kCopy, c.data->data() + off[offset], 0, 0,
                      static_cast<int64_t>(off[offset + length]) - off[offset]});
  } else {
    const int64_t w = FixedWidth(id);
    plans->push_back({BufPlan::Kind::kCopy, c.values->data() + offset * w, 0, 0, length * w});
  }
}

// Cheap O(1) checks that a column's buffers can serve the row range; the
// encoder trusts in-memory batches otherwise (they come from builders).
Status CheckColumnRange(const Column& c, int64_t offset, int64_t length) {
  const int64_t end = offset + length;
  if (c.length < end) return Status::InvalidArgument("column shorter than the batch");
  if (!c.values) return Status::InvalidArgument("column has no values buffer");
  if (c.null_count > 0 && (!c.validity || c.validity->size() < bit::BytesFor(c.length))) {
    return Status::InvalidArgument("column has nulls but no (complete) validity bitmap");
  }
  if (c.type.id == TypeId::kBool) {
    if (c.values->size() < bit::BytesFor(c.length))
      return Status::InvalidArgument("bool buffer too short");
  } else if (IsVarWidth(c.type.id)) {
    if (!c.data || c.values->size() < (c.length + 1) * 4) {
      return Status::InvalidArgument("offsets or data buffer missing or too short");
    }
    const int32_t* off = c.values->as<int32_t>();
    if (off[offset] < 0 || off[end] < off[offset] || off[end] > c.data->size()) {
      return Status::InvalidArgument("offsets out of bounds");
    }
  } else if (c.values->size() < c.length * FixedWidth(c.type.id)) {
    return Status::InvalidArgument("values buffer too short");
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------
// Flatbuffer metadata

using KvOffset = flatbuffers::Offset<fb::KeyValue>;

KvOffset MakeKv(flatbuffers::FlatBufferBuilder& fbb, std::string_view k, std::string_view v) {
  auto ko = fbb.CreateString(k.data(), k.size());
  auto vo = fbb.CreateString(v.data(), v.size());
  return fb::CreateKeyValue(fbb, ko, vo);
}

std::pair<fb::Type, flatbuffers::Offset<void>> EncodeType(flatbuffers::FlatBufferBuilder& fbb,
                                                          const DataType& t) {
  auto int_type = [&](int bits, bool is_signed) {
    return std::make_pair(fb::Type::Int, fb::CreateInt(fbb, bits, is_signed).Union());
  };
  switch (t.id) {
    case TypeId::kInt8:
      return int_type(8, true);
    case TypeId::kInt16:
      return int_type(16, true);
    case TypeId::kInt32:
      return int_type(32, true);
    case TypeId::kInt64:
      return int_type(64, true);
    case TypeId::kUInt8:
      return int_type(8, false);
    case TypeId::kUInt16:
      return int_type(16, false);
    case TypeId::kUInt32:
      return int_type(32, false);
    case TypeId::kUInt64:
      return int_type(64, false);
    case TypeId::kFloat32:
      return {fb::Type::FloatingPoint, fb::CreateFloatingPoint(fbb, fb::Precision::SINGLE).Union()};
    case TypeId::kFloat64:
      return {fb::Type::FloatingPoint, fb::CreateFloatingPoint(fbb, fb::Precision::DOUBLE).Union()};
    case TypeId::kDecimal:
      return {fb::Type::Decimal, fb::CreateDecimal(fbb, t.precision, t.scale, 128).Union()};
    case TypeId::kBool:
      return {fb::Type::Bool, fb::CreateBool(fbb).Union()};
    case TypeId::kString:
    case TypeId::kJson:
      return {fb::Type::Utf8, fb::CreateUtf8(fbb).Union()};
    case TypeId::kBinary:
      return {fb::Type::Binary, fb::CreateBinary(fbb).Union()};
    case TypeId::kDate:
      return {fb::Type::Date, fb::CreateDate(fbb, fb::DateUnit::DAY).Union()};
    case TypeId::kTime:
      return {fb::Type::Time, fb::CreateTime(fbb, fb::TimeUnit::MICROSECOND, 64).Union()};
    case TypeId::kTimestamp: {
      flatbuffers::Offset<flatbuffers::String> tz;
      if (t.with_zone) tz = fbb.CreateString(t.timezone);
      return {fb::Type::Timestamp, fb::CreateTimestamp(fbb, fb::TimeUnit::MICROSECOND, tz).Union()};
    }
    case TypeId::kUuid:
      return {fb::Type::FixedSizeBinary, fb::CreateFixedSizeBinary(fbb, 16).Union()};
  }
  return {fb::Type::NONE, 0};
}

flatbuffers::Offset<fb::Field> EncodeField(flatbuffers::FlatBufferBuilder& fbb, const Field& f) {
  std::vector<KvOffset> kvs;
  if (f.primary_key) kvs.push_back(MakeKv(fbb, kFieldPrimaryKey, "true"));
  if (!f.source_type.empty()) kvs.push_back(MakeKv(fbb, kFieldSourceType, f.source_type));
  if (f.type.id == TypeId::kUuid || f.type.id == TypeId::kJson) {
    kvs.push_back(
        MakeKv(fbb, kExtensionName, f.type.id == TypeId::kUuid ? kUuidExtension : kJsonExtension));
    kvs.push_back(MakeKv(fbb, kExtensionMetadata, ""));
  }
  auto name = fbb.CreateString(f.name);
  auto [type_type, type] = EncodeType(fbb, f.type);
  // Arrow readers require the children vector even for primitive types.
  auto children = fbb.CreateVector(std::vector<flatbuffers::Offset<fb::Field>>{});
  auto meta = fbb.CreateVector(kvs);
  return fb::CreateField(fbb, name, f.nullable, type_type, type, 0, children, meta);
}

std::string FormatCreatedAt(int64_t micros) {
  std::string s;
  AppendTimestamp(micros, /*utc_suffix=*/true, &s);
  return s;
}

int64_t NowMicros() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

// Builds the schema message; returns the offset of the checksum value's 16
// digits inside the finished flatbuffer through *checksum_offset.
Status BuildSchemaMessage(const Schema& schema, const PartHeader& h,
                          flatbuffers::FlatBufferBuilder* fbb, int64_t* checksum_offset) {
  std::vector<flatbuffers::Offset<fb::Field>> fields;
  fields.reserve(static_cast<size_t>(schema.num_fields()));
  for (const Field& f : schema.fields()) fields.push_back(EncodeField(*fbb, f));

  std::vector<KvOffset> kvs;
  for (const auto& [k, v] : schema.metadata()) {
    if (std::string_view(k).starts_with(kKeyPrefix)) {
      return Status::InvalidArgument("schema metadata key '" + k +
                                     "' uses the reserved 'sluice.' prefix");
    }
    kvs.push_back(MakeKv(*fbb, k, v));
  }
  auto add = [&](std::string_view k, std::string_view v) { kvs.push_back(MakeKv(*fbb, k, v)); };
  add(kKeyFormatVersion, std::to_string(kFormatVersion));
  add(kKeyKind, PartKindName(h.kind));
  add(kKeyStreamId, h.stream_id);
  add(kKeyPartNumber, std::to_string(h.part_number));
  add(kKeyTotalParts, std::to_string(h.total_parts));
  add(kKeyRows, std::to_string(h.rows));
  if (!h.position_start.empty()) add(kKeyPositionStart, h.position_start);
  if (!h.position_end.empty()) add(kKeyPositionEnd, h.position_end);
  if (!h.source_fingerprint.empty()) add(kKeySourceFingerprint, h.source_fingerprint);
  if (!h.idempotency_key.empty()) add(kKeyIdempotencyKey, h.idempotency_key);
  add(kKeyCreatedAt, FormatCreatedAt(h.created_at_micros));
  if (h.kind == PartKind::kEnd) {
    add(kKeyTotalRows, std::to_string(h.total_rows));
    add(kKeyStreamChecksum, Hex64(h.stream_checksum));
  }
  add(kKeyChecksum, Hex64(0));  // placeholder, patched after hashing

  auto fields_v = fbb->CreateVector(fields);
  auto meta_v = fbb->CreateVector(kvs);
  auto s = fb::CreateSchema(*fbb, fb::Endianness::Little, fields_v, meta_v);
  auto msg =
      fb::CreateMessage(*fbb, fb::MetadataVersion::V5, fb::MessageHeader::Schema, s.Union(), 0);
  fbb->Finish(msg);

  const uint8_t* base = fbb->GetBufferPointer();
  const auto* meta = fb::GetMessage(base)->header_as_Schema()->custom_metadata();
  for (flatbuffers::uoffset_t i = meta->size(); i-- > 0;) {
    const fb::KeyValue* kv = meta->Get(i);
    if (std::string_view(kv->key()->c_str(), kv->key()->size()) == kKeyChecksum) {
      *checksum_offset = reinterpret_cast<const uint8_t*>(kv->value()->data()) - base;
      return Status::OK();
    }
  }
  return Status::Internal("checksum key missing from the built schema message");
}

struct EncodedBatch {
  flatbuffers::FlatBufferBuilder fbb{512};
  std::vector<BufPlan> plans;  // uncompressed: produced straight into the output
  std::string body;            // compressed: the finished body
  int64_t body_length = 0;
};

Status EncodeBatch(const Schema& schema, const RowRange& r, const EncodeOptions& options,
                   Compressor* compressor, EncodedBatch* out) {
  const RecordBatch& b = *r.batch;
  std::vector<fb::FieldNode> nodes;
  nodes.reserve(static_cast<size_t>(b.num_columns()));
  out->plans.reserve(static_cast<size_t>(b.num_columns()) * 3);
  for (int i = 0; i < b.num_columns(); ++i) {
    const Column& c = b.column(i);
    const Field& f = schema.field(i);
    int64_t nulls = RangeNullCount(c, r.offset, r.length);
    if (nulls > 0 && !f.nullable) {
      return Status::InvalidArgument("column '" + f.name + "': NULL in a NOT NULL column");
    }
    nodes.emplace_back(r.length, nulls);
    PlanColumn(c, r.offset, r.length, nulls, &out->plans);
  }

  std::vector<fb::Buffer> buffers;
  buffers.reserve(out->plans.size());
  const bool compressed = options.compression != Compression::kNone;
  if (!compressed) {
    int64_t offset = 0;
    for (const BufPlan& p : out->plans) {
      buffers.emplace_back(offset, p.size);
      offset += PadTo8(p.size);
    }
    out->body_length = offset;
  } else {
    std::string& body = out->body;
    std::vector<uint8_t> scratch;
    for (const BufPlan& p : out->plans) {
      const int64_t start = static_cast<int64_t>(body.size());
      if (p.size == 0) {  // Arrow leaves empty buffers empty (no length prefix)
        buffers.emplace_back(start, 0);
        continue;
      }
      const uint8_t* src = p.src;
      if (p.kind != BufPlan::Kind::kCopy) {
        scratch.resize(static_cast<size_t>(p.size));
        Materialize(p, scratch.data());
        src = scratch.data();
      }
      const int64_t bound = Compressor::MaxCompressedLength(options.compression, p.size);
      body.resize(static_cast<size_t>(start + 8 + bound));
      auto* dst = reinterpret_cast<uint8_t*>(body.data()) + start;
      SLUICE_ASSIGN_OR_RETURN(
          int64_t n, compressor->Compress(options.compression, options.compression_level, src,
                                          p.size, dst + 8, bound));
      int64_t prefix = p.size;
      if (n >= p.size) {  // compression does not help: store raw, length -1
        prefix = -1;
        n = p.size;
        std::memcpy(dst + 8, src, static_cast<size_t>(n));
      }
      std::memcpy(dst, &prefix, 8);  // little-endian host (checked at compile time below)
      buffers.emplace_back(start, 8 + n);
      body.resize(static_cast<size_t>(PadTo8(start + 8 + n)), '\0');
    }
    out->body_length = static_cast<int64_t>(body.size());
  }

  auto& fbb = out->fbb;
  auto nodes_v = fbb.CreateVectorOfStructs(nodes);
  auto buffers_v = fbb.CreateVectorOfStructs(buffers);
  flatbuffers::Offset<fb::BodyCompression> comp;
  if (compressed) {
    comp = fb::CreateBodyCompression(fbb,
                                     options.compression == Compression::kLz4
                                         ? fb::CompressionType::LZ4_FRAME
                                         : fb::CompressionType::ZSTD,
                                     fb::BodyCompressionMethod::BUFFER);
  }
  auto rb = fb::CreateRecordBatch(fbb, r.length, nodes_v, buffers_v, comp);
  auto msg = fb::CreateMessage(fbb, fb::MetadataVersion::V5, fb::MessageHeader::RecordBatch,
                               rb.Union(), out->body_length);
  fbb.Finish(msg);
  return Status::OK();
}

static_assert(std::endian::native == std::endian::little,
              "the part encoder writes host integers as Arrow little-endian");

void AppendMessagePrefix(std::string* out, int64_t fb_size) {
  const uint32_t cont = kContinuation;
  const int32_t meta_size = static_cast<int32_t>(PadTo8(fb_size));
  out->append(reinterpret_cast<const char*>(&cont), 4);
  out->append(reinterpret_cast<const char*>(&meta_size), 4);
}

void AppendFlatbuffer(std::string* out, const flatbuffers::FlatBufferBuilder& fbb) {
  const int64_t size = fbb.GetSize();
  AppendMessagePrefix(out, size);
  out->append(reinterpret_cast<const char*>(fbb.GetBufferPointer()), static_cast<size_t>(size));
  out->append(static_cast<size_t>(PadTo8(size) - size), '\0');
}

}  // namespace

Status CheckBatch(const Schema& schema, const RecordBatch& b) {
  if (b.num_columns() != schema.num_fields()) {
    return Status::InvalidArgument("the batch has " + std::to_string(b.num_columns()) +
                                   " columns, the schema has " +
                                   std::to_string(schema.num_fields()));
  }
  if (b.num_rows() < 0) return Status::InvalidArgument("negative row count");
  for (int i = 0; i < b.num_columns(); ++i) {
    const Field& f = schema.field(i);
    const Column& c = b.column(i);
    if (!(c.type == f.type)) {
      return Status::InvalidArgument("column '" + f.name + "' has type " + c.type.ToString() +
                                     ", the schema says " + f.type.ToString());
    }
    if (c.length != b.num_rows()) {
      return Status::InvalidArgument("column '" + f.name + "' has " + std::to_string(c.length) +
                                     " values for " + std::to_string(b.num_rows()) + " rows");
    }
    SLUICE_RETURN_NOT_OK_CTX(CheckColumnRange(c, 0, b.num_rows()), "column '" + f.name + "'");
  }
  return Status::OK();
}

int64_t RangeBodyBytes(const RecordBatch& batch, int64_t offset, int64_t length) {
  int64_t n = 0;
  for (const Column& c : batch.columns()) {
    if (c.null_count > 0) n += PadTo8(bit::BytesFor(length));
    const TypeId id = c.type.id;
    if (id == TypeId::kBool) {
      n += PadTo8(bit::BytesFor(length));
    } else if (IsVarWidth(id)) {
      const int32_t* off = c.values->as<int32_t>();
      n += PadTo8((length + 1) * 4) +
           PadTo8(static_cast<int64_t>(off[offset + length]) - off[offset]);
    } else {
      n += PadTo8(length * FixedWidth(id));
    }
  }
  return n;
}

Result<std::string> EncodeRanges(PartHeader* header, const Schema& schema,
                                 const std::vector<RowRange>& ranges, const EncodeOptions& options,
                                 Compressor* compressor) {
  PartHeader& h = *header;
  SLUICE_RETURN_NOT_OK_CTX(schema.Validate(), "encoding a part");
  if (h.part_number < 1) {
    return Status::InvalidArgument("part number " + std::to_string(h.part_number) + " is not >= 1");
  }
  if (h.total_parts < 0 || h.total_rows < 0) {
    return Status::InvalidArgument("negative total_parts or total_rows in the part header");
  }
  if (h.kind == PartKind::kEnd && !ranges.empty()) {
    return Status::InvalidArgument("an end part carries no record batches");
  }
  int64_t rows = 0;
  for (size_t bi = 0; bi < ranges.size(); ++bi) {
    const RowRange& r = ranges[bi];
    const RecordBatch& b = *r.batch;
    auto ctx = "encoding record batch " + std::to_string(bi);
    SLUICE_RETURN_NOT_OK_CTX(CheckBatch(schema, b), ctx);
    if (r.offset < 0 || r.length < 0 || r.offset + r.length > b.num_rows()) {
      return Status::InvalidArgument(ctx + ": row range outside the batch");
    }
    if (r.length > kMaxBatchRows) {
      return Status::InvalidArgument(ctx + ": " + std::to_string(r.length) +
                                     " rows exceed the limit of " + std::to_string(kMaxBatchRows));
    }
    rows += r.length;
  }
  h.format_version = kFormatVersion;
  h.rows = rows;
  h.has_sluice_header = true;
  if (h.created_at_micros == 0) h.created_at_micros = NowMicros();
  if (h.idempotency_key.empty() && !h.source_fingerprint.empty()) {
    h.idempotency_key = IdempotencyKey(h.source_fingerprint, h.part_number);
  }

  flatbuffers::FlatBufferBuilder schema_fbb(1024);
  int64_t checksum_offset = 0;
  SLUICE_RETURN_NOT_OK(BuildSchemaMessage(schema, h, &schema_fbb, &checksum_offset));

  std::vector<std::unique_ptr<EncodedBatch>> encoded;
  encoded.reserve(ranges.size());
  int64_t total = 8 + PadTo8(schema_fbb.GetSize()) + 8;
  for (size_t bi = 0; bi < ranges.size(); ++bi) {
    auto e = std::make_unique<EncodedBatch>();
    SLUICE_RETURN_NOT_OK_CTX(EncodeBatch(schema, ranges[bi], options, compressor, e.get()),
                             "encoding record batch " + std::to_string(bi));
    total += 8 + PadTo8(e->fbb.GetSize()) + e->body_length;
    encoded.push_back(std::move(e));
  }

  // The checksum is computed while the part is assembled: each piece is
  // hashed right after it is appended, while it is still in cache, instead of
  // in a second pass over the finished part. The checksum digits are still
  // the zero placeholder when hashed, as the definition requires.
  Xxh3State hash(XXH3_createState());
  if (!hash) return Status::Internal("cannot allocate an XXH3 state");
  XXH3_64bits_reset(hash.get());
  std::string out;
  out.reserve(static_cast<size_t>(total));
  size_t hashed = 0;
  auto hash_appended = [&] {
    XXH3_64bits_update(hash.get(), out.data() + hashed, out.size() - hashed);
    hashed = out.size();
  };
  auto append_hashed = [&](const uint8_t* p, int64_t n) {
    constexpr int64_t kChunk = 128 * 1024;  // stays in L2 between copy and hash
    while (n > 0) {
      const int64_t k = std::min(n, kChunk);
      out.append(reinterpret_cast<const char*>(p), static_cast<size_t>(k));
      hash_appended();
      p += k;
      n -= k;
    }
  };
  AppendFlatbuffer(&out, schema_fbb);
  for (const auto& e : encoded) {
    AppendFlatbuffer(&out, e->fbb);
    if (options.compression != Compression::kNone) {
      append_hashed(reinterpret_cast<const uint8_t*>(e->body.data()),
                    static_cast<int64_t>(e->body.size()));
      continue;
    }
    for (const BufPlan& p : e->plans) {
      const int64_t padded = PadTo8(p.size);
      if (p.kind == BufPlan::Kind::kCopy) {
        append_hashed(p.src, p.size);
        out.append(static_cast<size_t>(padded - p.size), '\0');
      } else {
        const size_t pos = out.size();
        out.append(static_cast<size_t>(padded), '\0');
        Materialize(p, reinterpret_cast<uint8_t*>(out.data()) + pos);
      }
    }
  }
  const uint32_t eos[2] = {kContinuation, 0};
  out.append(reinterpret_cast<const char*>(eos), 8);
  hash_appended();
  if (static_cast<int64_t>(out.size()) != total) {
    return Status::Internal("part size " + std::to_string(out.size()) + " differs from the plan " +
                            std::to_string(total));
  }

  h.checksum = XXH3_64bits_digest(hash.get());
  const std::string digits = Hex64(h.checksum);
  std::memcpy(out.data() + 8 + checksum_offset, digits.data(), 16);
  return out;
}

}  // namespace internal

Result<std::string> EncodePart(PartHeader* header, const Schema& schema,
                               const std::vector<RecordBatch>& batches,
                               const EncodeOptions& options) {
  std::vector<internal::RowRange> ranges;
  ranges.reserve(batches.size());
  for (const RecordBatch& b : batches) ranges.push_back({&b, 0, b.num_rows()});
  internal::Compressor compressor;
  return internal::EncodeRanges(header, schema, ranges, options, &compressor);
}

}  // namespace sluice::part
