// Part decoder: a hostile-input Arrow IPC stream reader. Every message is
// run through the flatbuffers Verifier; every offset, length, count and
// decompressed size is checked against the input before it is used, and
// every decoded column is validated. Uncompressed buffers are not copied:
// columns view slices of the input Buffer, which they keep alive.
#include <lz4frame.h>
#include <zstd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "arrow_ipc_generated.h"
#include "core/bitmap.h"
#include "core/temporal.h"
#include "formats/part/part.h"
#include "formats/part/part_internal.h"

namespace sluice::part {

using internal::kIpcAlignment;

namespace {

struct ZstdDctxDeleter {
  void operator()(ZSTD_DCtx* p) const { ZSTD_freeDCtx(p); }
};
struct Lz4DctxDeleter {
  void operator()(LZ4F_dctx* p) const { LZ4F_freeDecompressionContext(p); }
};

bool IsAligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % kIpcAlignment == 0; }

std::string FieldLabel(const std::string& name, int index) {
  if (name.empty()) return "column " + std::to_string(index);
  return "column '" + name + "'";
}

bool ParseInt64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string_view View(const flatbuffers::String* s) {
  return s ? std::string_view(s->c_str(), s->size()) : std::string_view();
}

std::string MetadataVersionName(fb::MetadataVersion v) {
  auto n = static_cast<int>(v);
  if (n >= 0 && n <= static_cast<int>(fb::MetadataVersion::MAX)) return "V" + std::to_string(n + 1);
  return std::to_string(n);
}

// How a supported Arrow type's buffers are read.
enum class Physical : uint8_t { kFixed, kBool, kVar32, kVar64 };

struct ColumnSpec {
  Physical phys = Physical::kFixed;
  int width = 0;  // kFixed: bytes per value
  int num_buffers() const { return phys == Physical::kVar32 || phys == Physical::kVar64 ? 3 : 2; }
};

struct MessageView {
  const fb::Message* msg = nullptr;
  int64_t start = 0;                   // offset of the continuation marker
  int64_t meta_offset = 0;             // offset of the flatbuffer
  const uint8_t* meta_base = nullptr;  // where the verified flatbuffer lives (input or copy)
  int64_t body_offset = 0;
  int64_t body_length = 0;
  std::unique_ptr<uint64_t[]> aligned_copy;  // when the flatbuffer was misaligned in the input
};

class Decoder {
 public:
  Decoder(std::shared_ptr<Buffer> bytes, std::string_view name, const DecodeOptions& options)
      : bytes_(std::move(bytes)), options_(options) {
    prefix_ = "part '";
    prefix_ += name;
    prefix_ += "': ";
  }

  Result<DecodedPart> Run(bool header_only) {
    if (!bytes_) return Status::InvalidArgument(prefix_ + "no input buffer");
    // Flatbuffer accessors and zero-copy columns need 8-byte aligned memory;
    // a misaligned input is copied once into an aligned buffer.
    if (!IsAligned(bytes_->data())) bytes_ = Buffer::Copy(bytes_->data(), bytes_->size());
    data_ = bytes_->data();
    size_ = bytes_->size();

    MessageView schema_msg;
    bool eos = false;
    SLUICE_RETURN_NOT_OK(ReadMessage(&schema_msg, &eos));
    if (eos) return Invalid("the stream ends before its schema message");
    if (schema_msg.msg->header_type() != fb::MessageHeader::Schema) {
      return Invalid("the first message is a " + HeaderName(schema_msg.msg->header_type()) +
                     ", expected a Schema");
    }
    if (schema_msg.body_length != 0) return Invalid("the schema message has a body");
    SLUICE_RETURN_NOT_OK(ParseSchema(schema_msg));
    if (header_only) return std::move(out_);

    if (out_.header.has_sluice_header && options_.verify_checksum) {
      SLUICE_RETURN_NOT_OK(VerifyChecksum());
    }

    int64_t rows = 0;
    for (int index = 0;; ++index) {
      MessageView m;
      SLUICE_RETURN_NOT_OK(ReadMessage(&m, &eos));
      if (eos) break;
      switch (m.msg->header_type()) {
        case fb::MessageHeader::RecordBatch: {
          SLUICE_RETURN_NOT_OK(DecodeBatch(m, static_cast<int>(out_.batches.size())));
          rows += out_.batches.back().num_rows();
          break;
        }
        case fb::MessageHeader::DictionaryBatch:
          return Status::Unsupported(prefix_ +
                                     "dictionary batches (dictionary-encoded columns) are not "
                                     "supported");
        case fb::MessageHeader::Schema:
          return Invalid("message " + std::to_string(index + 1) + " is a second Schema message");
        default:
          return Status::Unsupported(prefix_ + "message " + std::to_string(index + 1) + " is a " +
                                     HeaderName(m.msg->header_type()) +
                                     " message, only Schema and RecordBatch are supported");
      }
    }
    if (pos_ != size_) {
      return Invalid(std::to_string(size_ - pos_) +
                     " trailing bytes after the end-of-stream marker");
    }
    if (out_.header.has_sluice_header) {
      if (out_.header.rows != rows) {
        return Invalid("the header says " + std::to_string(out_.header.rows) +
                       " rows, the record batches hold " + std::to_string(rows));
      }
      if (out_.header.kind == PartKind::kEnd && !out_.batches.empty()) {
        return Invalid("an end part must not carry record batches");
      }
    } else {
      out_.header.rows = rows;
    }
    return std::move(out_);
  }

 private:
  Status Invalid(const std::string& msg) const { return Status::InvalidData(prefix_ + msg); }

  static std::string HeaderName(fb::MessageHeader h) {
    const char* n = fb::EnumNameMessageHeader(h);
    if (n == nullptr || *n == '\0')
      return "unknown (type " + std::to_string(static_cast<int>(h)) + ")";
    return n;
  }

  Status ReadMessage(MessageView* m, bool* eos) {
    *eos = false;
    const int64_t at = pos_;
    const std::string where = "message at offset " + std::to_string(at);
    if (at == size_) {
      return Invalid("missing end-of-stream marker at offset " + std::to_string(at) +
                     " (truncated part?)");
    }
    if (size_ - at < 8) {
      return Invalid(where + ": " + std::to_string(size_ - at) +
                     " bytes are too short for a message prefix (truncated part?)");
    }
    uint32_t cont;
    int32_t meta_size;
    std::memcpy(&cont, data_ + at, 4);
    std::memcpy(&meta_size, data_ + at + 4, 4);
    if (cont != internal::kContinuation) {
      return Invalid(where +
                     " does not start with the continuation marker 0xFFFFFFFF (not an "
                     "Arrow IPC stream, or a pre-0.15 Arrow stream)");
    }
    if (meta_size == 0) {  // end-of-stream marker
      pos_ = at + 8;
      *eos = true;
      return Status::OK();
    }
    if (meta_size < 0)
      return Invalid(where + ": negative metadata size " + std::to_string(meta_size));
    if (meta_size > size_ - at - 8) {
      return Invalid(where + ": metadata of " + std::to_string(meta_size) +
                     " bytes extends past the end of the input (" + std::to_string(size_) +
                     " bytes; truncated part?)");
    }
    if (meta_size >= static_cast<int32_t>(FLATBUFFERS_MAX_BUFFER_SIZE)) {
      return Invalid(where + ": metadata too large");
    }
    m->start = at;
    m->meta_offset = at + 8;
    m->meta_base = data_ + at + 8;
    if (!IsAligned(m->meta_base)) {
      m->aligned_copy.reset(new uint64_t[(static_cast<size_t>(meta_size) + 7) / 8]);
      std::memcpy(m->aligned_copy.get(), m->meta_base, static_cast<size_t>(meta_size));
      m->meta_base = reinterpret_cast<const uint8_t*>(m->aligned_copy.get());
    }
    flatbuffers::Verifier::Options vopts;
    vopts.max_depth = 64;
    vopts.max_tables = 1000000;
    vopts.check_alignment = true;
    flatbuffers::Verifier verifier(m->meta_base, static_cast<size_t>(meta_size), vopts);
    if (!fb::VerifyMessageBuffer(verifier)) {
      return Invalid(where + ": the metadata is not a valid Arrow flatbuffer Message");
    }
    m->msg = fb::GetMessage(m->meta_base);
    const fb::MetadataVersion v = m->msg->version();
    if (v != fb::MetadataVersion::V4 && v != fb::MetadataVersion::V5) {
      return Status::Unsupported(prefix_ + where + ": Arrow metadata version " +
                                 MetadataVersionName(v) + " is not supported (V4 and V5 are)");
    }
    if (m->msg->header() == nullptr) return Invalid(where + " has no header");
    const int64_t body_length = m->msg->body_length();
    const int64_t body_offset = at + 8 + meta_size;
    if (body_length < 0)
      return Invalid(where + ": negative body length " + std::to_string(body_length));
    if (body_length > size_ - body_offset) {
      return Invalid(where + ": body of " + std::to_string(body_length) +
                     " bytes extends past the end of the input (" +
                     std::to_string(size_ - body_offset) + " bytes left; truncated part?)");
    }
    m->body_offset = body_offset;
    m->body_length = body_length;
    pos_ = body_offset + body_length;
    return Status::OK();
  }

  // ---- schema ------------------------------------------------------------

  Status ParseSchema(const MessageView& m) {
    const fb::Schema* s = m.msg->header_as_Schema();
    if (s->endianness() != fb::Endianness::Little) {
      return Status::Unsupported(prefix_ + "big-endian Arrow data is not supported");
    }
    std::vector<Field> fields;
    const auto* fbf = s->fields();
    const int n = fbf ? static_cast<int>(fbf->size()) : 0;
    fields.reserve(static_cast<size_t>(n));
    specs_.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      Field f;
      ColumnSpec spec;
      SLUICE_RETURN_NOT_OK(
          ParseField(fbf->Get(static_cast<flatbuffers::uoffset_t>(i)), i, &f, &spec));
      fields.push_back(std::move(f));
      specs_.push_back(spec);
    }

    KeyValueMetadata schema_meta, sluice_meta;
    if (const auto* kvs = s->custom_metadata()) {
      for (const fb::KeyValue* kv : *kvs) {
        std::string key(View(kv->key()));
        std::string value(View(kv->value()));
        if (std::string_view(key).starts_with(internal::kKeyPrefix)) {
          if (key == internal::kKeyChecksum && kv->value() != nullptr) {
            checksum_digits_offset_ =
                m.meta_offset +
                (reinterpret_cast<const uint8_t*>(kv->value()->c_str()) - m.meta_base);
            checksum_digits_size_ = static_cast<int64_t>(kv->value()->size());
          }
          sluice_meta.emplace_back(std::move(key), std::move(value));
        } else {
          schema_meta.emplace_back(std::move(key), std::move(value));
        }
      }
    }
    auto schema = std::make_shared<const Schema>(std::move(fields), std::move(schema_meta));
    if (Status st = schema->Validate(); !st.ok()) return Invalid("schema: " + st.message());
    out_.schema = schema;
    SLUICE_RETURN_NOT_OK(ParseHeader(sluice_meta));
    if (options_.expected_schema) SLUICE_RETURN_NOT_OK(CheckExpected(*options_.expected_schema));
    return Status::OK();
  }

  Status ParseField(const fb::Field* f, int index, Field* out, ColumnSpec* spec) {
    out->name = std::string(View(f->name()));
    const std::string label = FieldLabel(out->name, index);
    auto unsupported = [&](const std::string& what, const std::string& hint = "") {
      return Status::Unsupported(prefix_ + label + ": Arrow type " + what + " is not supported" +
                                 (hint.empty() ? "" : " (" + hint + ")"));
    };
    if (f->dictionary() != nullptr) {
      return Status::Unsupported(prefix_ + label +
                                 ": dictionary-encoded columns are not supported");
    }
    std::string_view ext_name;
    if (const auto* kvs = f->custom_metadata()) {
      for (const fb::KeyValue* kv : *kvs) {
        std::string_view k = View(kv->key()), v = View(kv->value());
        if (k == internal::kFieldPrimaryKey)
          out->primary_key = (v == "true");
        else if (k == internal::kFieldSourceType)
          out->source_type = std::string(v);
        else if (k == internal::kExtensionName)
          ext_name = v;
      }
    }
    out->nullable = f->nullable();
    const fb::Type tt = f->type_type();
    if (tt != fb::Type::NONE && f->type() == nullptr) {
      return Invalid(label + ": type table missing");
    }
    DataType& t = out->type;
    spec->phys = Physical::kFixed;
    switch (tt) {
      case fb::Type::Int: {
        const fb::Int* it = f->type_as_Int();
        const bool s = it->is_signed();
        switch (it->bit_width()) {
          case 8:
            t = s ? DataType::Int8() : DataType::UInt8();
            break;
          case 16:
            t = s ? DataType::Int16() : DataType::UInt16();
            break;
          case 32:
            t = s ? DataType::Int32() : DataType::UInt32();
            break;
          case 64:
            t = s ? DataType::Int64() : DataType::UInt64();
            break;
          default:
            return Invalid(label + ": integer bit width " + std::to_string(it->bit_width()) +
                           " is not 8, 16, 32 or 64");
        }
        break;
      }
      case fb::Type::FloatingPoint: {
        auto p = f->type_as_FloatingPoint()->precision();
        if (p == fb::Precision::SINGLE)
          t = DataType::Float32();
        else if (p == fb::Precision::DOUBLE)
          t = DataType::Float64();
        else if (p == fb::Precision::HALF)
          return unsupported("float16");
        else
          return Invalid(label + ": unknown floating point precision");
        break;
      }
      case fb::Type::Decimal: {
        const fb::Decimal* d = f->type_as_Decimal();
        if (d->bit_width() != 128) {
          return unsupported("decimal" + std::to_string(d->bit_width()), "only decimal128 is");
        }
        if (d->precision() < 1 || d->precision() > kMaxDecimalPrecision || d->scale() < 0 ||
            d->scale() > d->precision()) {
          return unsupported("decimal128(" + std::to_string(d->precision()) + ", " +
                                 std::to_string(d->scale()) + ")",
                             "precision must be 1..38 and scale 0..precision");
        }
        t = DataType::Decimal(d->precision(), d->scale());
        break;
      }
      case fb::Type::Bool:
        t = DataType::Bool();
        spec->phys = Physical::kBool;
        break;
      case fb::Type::Utf8:
      case fb::Type::LargeUtf8:
        t = ext_name == internal::kJsonExtension ? DataType::Json() : DataType::String();
        spec->phys = tt == fb::Type::Utf8 ? Physical::kVar32 : Physical::kVar64;
        break;
      case fb::Type::Binary:
      case fb::Type::LargeBinary:
        t = DataType::Binary();
        spec->phys = tt == fb::Type::Binary ? Physical::kVar32 : Physical::kVar64;
        break;
      case fb::Type::Date:
        if (f->type_as_Date()->unit() != fb::DateUnit::DAY)
          return unsupported("date64", "cast to date32");
        t = DataType::Date();
        break;
      case fb::Type::Time: {
        const fb::Time* tm = f->type_as_Time();
        if (tm->unit() != fb::TimeUnit::MICROSECOND || tm->bit_width() != 64) {
          return unsupported("time" + std::to_string(tm->bit_width()) + "[" +
                                 fb::EnumNameTimeUnit(tm->unit()) + "]",
                             "cast to time64[us]");
        }
        t = DataType::Time();
        break;
      }
      case fb::Type::Timestamp: {
        const fb::Timestamp* ts = f->type_as_Timestamp();
        if (ts->unit() != fb::TimeUnit::MICROSECOND) {
          return unsupported(std::string("timestamp[") + fb::EnumNameTimeUnit(ts->unit()) + "]",
                             "cast to timestamp[us]");
        }
        std::string_view tz = View(ts->timezone());
        t = tz.empty() ? DataType::Timestamp() : DataType::TimestampTz(std::string(tz));
        break;
      }
      case fb::Type::FixedSizeBinary: {
        const int w = f->type_as_FixedSizeBinary()->byte_width();
        if (w != 16 || ext_name != internal::kUuidExtension) {
          return unsupported("fixed_size_binary(" + std::to_string(w) + ")",
                             "only fixed_size_binary(16) with the arrow.uuid extension is");
        }
        t = DataType::Uuid();
        break;
      }
      case fb::Type::NONE:
        return Invalid(label + " has no type");
      default: {
        const char* name = fb::EnumNameType(tt);
        if (name == nullptr || *name == '\0') {
          return Status::Unsupported(prefix_ + label + ": unknown Arrow type id " +
                                     std::to_string(static_cast<int>(tt)) +
                                     " (written by a newer Arrow?)");
        }
        return unsupported(name);
      }
    }
    if (f->children() != nullptr && f->children()->size() != 0) {
      return Invalid(label + ": a " + t.ToString() + " column must not have children");
    }
    if (spec->phys == Physical::kFixed) spec->width = FixedWidth(t.id);
    return Status::OK();
  }

  Status CheckExpected(const Schema& e) const {
    const Schema& a = *out_.schema;
    auto mismatch = [&](const std::string& msg) { return Invalid("schema mismatch: " + msg); };
    const int n = std::min(a.num_fields(), e.num_fields());
    for (int i = 0; i < n; ++i) {
      const Field& fa = a.field(i);
      const Field& fe = e.field(i);
      if (fa.name != fe.name) {
        return mismatch("column " + std::to_string(i) + " is '" + fa.name + "', expected '" +
                        fe.name + "'");
      }
      if (!(fa.type == fe.type)) {
        return mismatch("column '" + fa.name + "' has type " + fa.type.ToString() + ", expected " +
                        fe.type.ToString());
      }
      if (fa.nullable != fe.nullable) {
        return mismatch("column '" + fa.name + "' is " + (fa.nullable ? "nullable" : "NOT NULL") +
                        ", expected " + (fe.nullable ? "nullable" : "NOT NULL"));
      }
      if (fa.primary_key != fe.primary_key) {
        return mismatch("column '" + fa.name + "' is " + (fa.primary_key ? "" : "not ") +
                        "part of the primary key, expected " + (fe.primary_key ? "" : "not ") +
                        "part of it");
      }
    }
    if (a.num_fields() > e.num_fields()) {
      return mismatch("unexpected extra column '" + a.field(n).name + "' (" +
                      std::to_string(a.num_fields()) + " columns, expected " +
                      std::to_string(e.num_fields()) + ")");
    }
    if (a.num_fields() < e.num_fields()) {
      return mismatch("missing column '" + e.field(n).name + "' (" +
                      std::to_string(a.num_fields()) + " columns, expected " +
                      std::to_string(e.num_fields()) + ")");
    }
    return Status::OK();
  }

  // ---- sluice header -------------------------------------------------------

  Status ParseHeader(const KeyValueMetadata& kvs) {
    PartHeader& h = out_.header;
    std::unordered_map<std::string_view, std::string_view> m;
    for (const auto& [k, v] : kvs) {
      if (!m.emplace(k, v).second) return Invalid("duplicate header key '" + k + "'");
    }
    auto it = m.find(internal::kKeyFormatVersion);
    if (it == m.end()) {
      if (!m.empty()) {
        return Invalid("the schema metadata has sluice.* keys but no " +
                       std::string(internal::kKeyFormatVersion));
      }
      if (options_.require_sluice_header) {
        return Invalid("not a sluice part: the schema metadata has no '" +
                       std::string(internal::kKeyFormatVersion) + "' key (a plain Arrow stream?)");
      }
      h = PartHeader{};
      h.has_sluice_header = false;
      return Status::OK();
    }
    // "MAJOR" or "MAJOR.MINOR": a newer minor only adds keys this reader ignores.
    std::string_view version = it->second;
    std::string_view major_text = version.substr(0, version.find('.'));
    int64_t major = 0, minor = 0;
    bool ok = ParseInt64(major_text, &major);
    if (ok && major_text.size() < version.size()) {
      ok = ParseInt64(version.substr(major_text.size() + 1), &minor) && minor >= 0;
    }
    if (!ok || major < 1) return Invalid("invalid format version '" + std::string(version) + "'");
    if (major > kFormatVersion) {
      return Status::Unsupported(prefix_ + "format version " + std::string(version) +
                                 " is newer than this reader supports (" +
                                 std::to_string(kFormatVersion) + "); upgrade sluice");
    }
    h.format_version = static_cast<int>(major);
    h.has_sluice_header = true;

    auto get = [&](std::string_view key, bool required, std::string_view* v) -> Status {
      auto f = m.find(key);
      if (f == m.end()) {
        if (required) return Invalid("header key '" + std::string(key) + "' is missing");
        *v = {};
        return Status::OK();
      }
      *v = f->second;
      return Status::OK();
    };
    auto get_int = [&](std::string_view key, int64_t min, int64_t* out) -> Status {
      std::string_view v;
      SLUICE_RETURN_NOT_OK(get(key, true, &v));
      if (!ParseInt64(v, out) || *out < min) {
        return Invalid("header key '" + std::string(key) + "' has invalid value '" +
                       std::string(v.substr(0, 64)) + "'");
      }
      return Status::OK();
    };
    auto get_hex = [&](std::string_view key, uint64_t* out) -> Status {
      std::string_view v;
      SLUICE_RETURN_NOT_OK(get(key, true, &v));
      if (!internal::ParseHex64(v, out)) {
        return Invalid("header key '" + std::string(key) + "' is not 16 hex digits: '" +
                       std::string(v.substr(0, 64)) + "'");
      }
      return Status::OK();
    };
    std::string_view v;
    SLUICE_RETURN_NOT_OK(get(internal::kKeyKind, true, &v));
    if (v == "data")
      h.kind = PartKind::kData;
    else if (v == "end")
      h.kind = PartKind::kEnd;
    else
      return Invalid("unknown part kind '" + std::string(v.substr(0, 64)) + "'");
    SLUICE_RETURN_NOT_OK(get(internal::kKeyStreamId, true, &v));
    h.stream_id = std::string(v);
    SLUICE_RETURN_NOT_OK(get_int(internal::kKeyPartNumber, 1, &h.part_number));
    SLUICE_RETURN_NOT_OK(get_int(internal::kKeyTotalParts, 0, &h.total_parts));
    SLUICE_RETURN_NOT_OK(get_int(internal::kKeyRows, 0, &h.rows));
    SLUICE_RETURN_NOT_OK(get(internal::kKeyPositionStart, false, &v));
    h.position_start = std::string(v);
    SLUICE_RETURN_NOT_OK(get(internal::kKeyPositionEnd, false, &v));
    h.position_end = std::string(v);
    SLUICE_RETURN_NOT_OK(get(internal::kKeySourceFingerprint, false, &v));
    h.source_fingerprint = std::string(v);
    SLUICE_RETURN_NOT_OK(get(internal::kKeyIdempotencyKey, false, &v));
    h.idempotency_key = std::string(v);
    SLUICE_RETURN_NOT_OK(get(internal::kKeyCreatedAt, true, &v));
    auto created = ParseTimestamp(v);
    if (!created.ok())
      return Invalid("header key 'sluice.created_at': " + created.status().message());
    h.created_at_micros = *created;
    SLUICE_RETURN_NOT_OK(get_hex(internal::kKeyChecksum, &h.checksum));
    if (h.kind == PartKind::kEnd) {
      SLUICE_RETURN_NOT_OK(get_int(internal::kKeyTotalRows, 0, &h.total_rows));
      SLUICE_RETURN_NOT_OK(get_hex(internal::kKeyStreamChecksum, &h.stream_checksum));
      if (h.rows != 0) return Invalid("an end part must have 0 rows");
    }
    if (checksum_digits_size_ != 16) return Invalid("malformed checksum value");
    return Status::OK();
  }

  Status VerifyChecksum() const {
    internal::Xxh3State st(XXH3_createState());
    if (!st) return Status::Internal("cannot allocate an XXH3 state");
    XXH3_64bits_reset(st.get());
    const int64_t at = checksum_digits_offset_;
    static constexpr char kZeros[16] = {'0', '0', '0', '0', '0', '0', '0', '0',
                                        '0', '0', '0', '0', '0', '0', '0', '0'};
    XXH3_64bits_update(st.get(), data_, static_cast<size_t>(at));
    XXH3_64bits_update(st.get(), kZeros, 16);
    XXH3_64bits_update(st.get(), data_ + at + 16, static_cast<size_t>(size_ - at - 16));
    const uint64_t actual = XXH3_64bits_digest(st.get());
    if (actual != out_.header.checksum) {
      return Invalid("checksum mismatch: the header says " + internal::Hex64(out_.header.checksum) +
                     ", the " + std::to_string(size_) + " bytes hash to " +
                     internal::Hex64(actual) + " (corrupt or truncated part)");
    }
    return Status::OK();
  }

  // ---- record batches ------------------------------------------------------

  std::shared_ptr<Buffer> Slice(const uint8_t* p, int64_t len) const {
    // Zero-copy view; misaligned buffers (legal but rare) are copied so typed
    // access (int32 offsets) stays aligned.
    if (!IsAligned(p)) return Buffer::Copy(p, len);
    return Buffer::Wrap(p, len, bytes_);
  }

  Status Charge(int64_t n, const std::string& ctx) {
    if (n > options_.max_uncompressed_bytes - uncompressed_) {
      return Invalid(ctx + ": the part decodes to more than max_uncompressed_bytes (" +
                     std::to_string(options_.max_uncompressed_bytes) + ")");
    }
    uncompressed_ += n;
    return Status::OK();
  }

  Result<std::shared_ptr<Buffer>> Decompress(fb::CompressionType codec, const uint8_t* p,
                                             int64_t len, const std::string& ctx) {
    if (len == 0) return Buffer::Wrap(p, 0, bytes_);
    if (len < 8) {
      return Invalid(ctx + ": compressed buffer of " + std::to_string(len) +
                     " bytes is shorter than its 8-byte length prefix");
    }
    int64_t ulen;
    std::memcpy(&ulen, p, 8);
    const uint8_t* src = p + 8;
    const int64_t clen = len - 8;
    if (ulen == -1) {  // stored uncompressed
      SLUICE_RETURN_NOT_OK(Charge(clen, ctx));
      return Slice(src, clen);
    }
    if (ulen < 0) return Invalid(ctx + ": invalid uncompressed length " + std::to_string(ulen));
    if (codec == fb::CompressionType::ZSTD) {
      // Reject a frame that declares another size before allocating for it.
      const unsigned long long declared = ZSTD_getFrameContentSize(src, static_cast<size_t>(clen));
      if (declared == ZSTD_CONTENTSIZE_ERROR) return Invalid(ctx + ": not a zstd frame");
      if (declared != ZSTD_CONTENTSIZE_UNKNOWN &&
          declared != static_cast<unsigned long long>(ulen)) {
        return Invalid(ctx + ": zstd frame holds " + std::to_string(declared) +
                       " bytes, the length prefix says " + std::to_string(ulen));
      }
    }
    SLUICE_RETURN_NOT_OK(Charge(ulen, ctx));
    auto out = Buffer::Allocate(ulen);
    if (ulen == 0) return out;
    uint8_t* dst = out->mutable_data();
    if (codec == fb::CompressionType::ZSTD) {
      if (!zstd_) {
        zstd_.reset(ZSTD_createDCtx());
        if (!zstd_) return Status::Internal("cannot create a zstd context");
      }
      size_t r = ZSTD_decompressDCtx(zstd_.get(), dst, static_cast<size_t>(ulen), src,
                                     static_cast<size_t>(clen));
      if (ZSTD_isError(r)) return Invalid(ctx + ": zstd: " + ZSTD_getErrorName(r));
      if (static_cast<int64_t>(r) != ulen) {
        return Invalid(ctx + ": zstd data decompressed to " + std::to_string(r) +
                       " bytes, the length prefix says " + std::to_string(ulen));
      }
      return out;
    }
    // LZ4 frame: exactly one frame per buffer.
    if (!lz4_) {
      LZ4F_dctx* d = nullptr;
      if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION))) {
        return Status::Internal("cannot create an lz4 context");
      }
      lz4_.reset(d);
    }
    size_t in_pos = 0, out_pos = 0;
    for (;;) {
      size_t out_n = static_cast<size_t>(ulen) - out_pos;
      size_t in_n = static_cast<size_t>(clen) - in_pos;
      size_t r = LZ4F_decompress(lz4_.get(), dst + out_pos, &out_n, src + in_pos, &in_n, nullptr);
      if (LZ4F_isError(r)) {
        lz4_.reset();  // the context is in an undefined state after an error
        return Invalid(ctx + ": lz4: " + LZ4F_getErrorName(r));
      }
      in_pos += in_n;
      out_pos += out_n;
      if (r == 0) break;  // frame complete
      if ((in_n == 0 && out_n == 0) || in_pos >= static_cast<size_t>(clen)) {
        lz4_.reset();
        return Invalid(ctx + ": lz4 frame is truncated or larger than the length prefix (" +
                       std::to_string(ulen) + " bytes)");
      }
    }
    if (in_pos != static_cast<size_t>(clen)) {
      return Invalid(ctx + ": " + std::to_string(static_cast<size_t>(clen) - in_pos) +
                     " bytes after the lz4 frame");
    }
    if (static_cast<int64_t>(out_pos) != ulen) {
      return Invalid(ctx + ": lz4 data decompressed to " + std::to_string(out_pos) +
                     " bytes, the length prefix says " + std::to_string(ulen));
    }
    return out;
  }

  // Converts int64 offsets (large_utf8 / large_binary) to int32.
  Result<std::shared_ptr<Buffer>> NarrowOffsets(const Buffer& wide, int64_t length,
                                                const std::string& ctx) const {
    auto out = Buffer::Allocate((length + 1) * 4);
    int32_t* dst = reinterpret_cast<int32_t*>(out->mutable_data());
    for (int64_t i = 0; i <= length; ++i) {
      int64_t v;
      std::memcpy(&v, wide.data() + i * 8, 8);
      if (v < 0 || v > std::numeric_limits<int32_t>::max()) {
        return Invalid(ctx + ": 64-bit offset " + std::to_string(v) + " at row " +
                       std::to_string(i) + " is outside 0..2^31-1");
      }
      dst[i] = static_cast<int32_t>(v);
    }
    return out;
  }

  Status DecodeBatch(const MessageView& m, int batch_index) {
    const std::string bctx = "record batch " + std::to_string(batch_index);
    const fb::RecordBatch* rb = m.msg->header_as_RecordBatch();
    const int64_t length = rb->length();
    if (length < 0 || length > kMaxBatchRows) {
      return Invalid(bctx + ": row count " + std::to_string(length) + " is outside 0.." +
                     std::to_string(kMaxBatchRows));
    }
    const Schema& schema = *out_.schema;
    const auto* nodes = rb->nodes();
    const auto* buffers = rb->buffers();
    const int64_t num_nodes = nodes ? nodes->size() : 0;
    const int64_t num_buffers = buffers ? buffers->size() : 0;
    if (num_nodes != schema.num_fields()) {
      return Invalid(bctx + ": " + std::to_string(num_nodes) + " field nodes for " +
                     std::to_string(schema.num_fields()) + " columns");
    }
    int64_t expected_buffers = 0;
    for (const ColumnSpec& s : specs_) expected_buffers += s.num_buffers();
    if (num_buffers != expected_buffers) {
      return Invalid(bctx + ": " + std::to_string(num_buffers) + " buffers, the schema needs " +
                     std::to_string(expected_buffers));
    }
    // Struct vectors hold int64s: the verifier only checks 4-byte alignment.
    if ((num_nodes > 0 && !IsAligned(nodes->Data())) ||
        (num_buffers > 0 && !IsAligned(buffers->Data()))) {
      return Invalid(bctx + ": misaligned node or buffer vector");
    }
    if (rb->variadic_buffer_counts() != nullptr && rb->variadic_buffer_counts()->size() != 0) {
      return Invalid(bctx + ": variadic buffer counts without view-type columns");
    }
    const fb::BodyCompression* comp = rb->compression();
    fb::CompressionType codec = fb::CompressionType::LZ4_FRAME;
    if (comp != nullptr) {
      codec = comp->codec();
      if (codec != fb::CompressionType::LZ4_FRAME && codec != fb::CompressionType::ZSTD) {
        return Status::Unsupported(prefix_ + bctx + ": unknown compression codec " +
                                   std::to_string(static_cast<int>(codec)));
      }
      if (comp->method() != fb::BodyCompressionMethod::BUFFER) {
        return Status::Unsupported(prefix_ + bctx + ": unknown body compression method " +
                                   std::to_string(static_cast<int>(comp->method())));
      }
    } else {
      SLUICE_RETURN_NOT_OK(Charge(m.body_length, bctx));
    }

    const uint8_t* body = data_ + m.body_offset;
    const int64_t body_len = m.body_length;
    std::vector<Column> cols;
    cols.reserve(specs_.size());
    flatbuffers::uoffset_t bi = 0;
    for (int i = 0; i < schema.num_fields(); ++i) {
      const Field& field = schema.field(i);
      const ColumnSpec& spec = specs_[static_cast<size_t>(i)];
      const std::string cctx = bctx + ": " + FieldLabel(field.name, i);
      const fb::FieldNode* node = nodes->Get(static_cast<flatbuffers::uoffset_t>(i));
      if (node->length() != length) {
        return Invalid(cctx + ": node length " + std::to_string(node->length()) +
                       " differs from the batch length " + std::to_string(length));
      }
      if (node->null_count() < 0 || node->null_count() > length) {
        return Invalid(cctx + ": null count " + std::to_string(node->null_count()) +
                       " is outside 0.." + std::to_string(length));
      }
      std::shared_ptr<Buffer> bufs[3];
      for (int k = 0; k < spec.num_buffers(); ++k, ++bi) {
        const fb::Buffer* b = buffers->Get(bi);
        const int64_t off = b->offset(), len = b->length();
        if (off < 0 || len < 0 || off > body_len || len > body_len - off) {
          return Invalid(cctx + ": buffer " + std::to_string(k) +
                         " extends past the body (offset " + std::to_string(off) + ", length " +
                         std::to_string(len) + ", body " + std::to_string(body_len) + ")");
        }
        if (comp == nullptr) {
          bufs[k] = Slice(body + off, len);
        } else {
          SLUICE_ASSIGN_OR_RETURN(
              bufs[k], Decompress(codec, body + off, len, cctx + ": buffer " + std::to_string(k)));
        }
      }
      Column col;
      col.type = field.type;
      col.length = length;
      col.null_count = node->null_count();
      if (col.null_count > 0) {
        if (bufs[0]->size() < bit::BytesFor(length)) {
          return Invalid(cctx + ": validity bitmap has " + std::to_string(bufs[0]->size()) +
                         " bytes, needs " + std::to_string(bit::BytesFor(length)));
        }
        col.validity = std::move(bufs[0]);
      }
      col.values = std::move(bufs[1]);
      if (spec.phys == Physical::kVar32 || spec.phys == Physical::kVar64) {
        col.data = std::move(bufs[2]);
        const int64_t width = spec.phys == Physical::kVar32 ? 4 : 8;
        if (length == 0 && col.values->size() == 0) {
          col.values = Buffer::Allocate(4);  // Arrow allows omitting the single 0 offset
        } else if (col.values->size() < (length + 1) * width) {
          return Invalid(cctx + ": offsets buffer has " + std::to_string(col.values->size()) +
                         " bytes, needs " + std::to_string((length + 1) * width));
        } else if (spec.phys == Physical::kVar64) {
          SLUICE_ASSIGN_OR_RETURN(col.values, NarrowOffsets(*col.values, length, cctx));
        }
      }
      cols.push_back(std::move(col));
    }
    RecordBatch batch(out_.schema, length, std::move(cols));
    if (Status st = batch.Validate(); !st.ok()) {
      return Status(st.code(), prefix_ + bctx + ": " + st.message());
    }
    out_.batches.push_back(std::move(batch));
    return Status::OK();
  }

  std::shared_ptr<Buffer> bytes_;
  const uint8_t* data_ = nullptr;
  int64_t size_ = 0;
  int64_t pos_ = 0;
  std::string prefix_;
  const DecodeOptions& options_;
  std::vector<ColumnSpec> specs_;
  DecodedPart out_;
  int64_t checksum_digits_offset_ = 0;
  int64_t checksum_digits_size_ = -1;
  int64_t uncompressed_ = 0;
  std::unique_ptr<ZSTD_DCtx, ZstdDctxDeleter> zstd_;
  std::unique_ptr<LZ4F_dctx, Lz4DctxDeleter> lz4_;
};

}  // namespace

Result<DecodedPart> DecodePart(std::shared_ptr<Buffer> bytes, std::string_view name_for_errors,
                               const DecodeOptions& options) {
  Decoder d(std::move(bytes), name_for_errors, options);
  return d.Run(/*header_only=*/false);
}

Result<DecodedPart> DecodePartHeader(std::shared_ptr<Buffer> bytes,
                                     std::string_view name_for_errors,
                                     const DecodeOptions& options) {
  Decoder d(std::move(bytes), name_for_errors, options);
  return d.Run(/*header_only=*/true);
}

}  // namespace sluice::part
