#include "connectors/postgres/pg_copy.h"

#include <cstring>
#include <limits>

#include "core/int128.h"
#include "core/utf8.h"

namespace sluice {

namespace {

constexpr uint8_t kSignature[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xFF, '\r', '\n', 0};
// Signature + flags + header extension length.
constexpr size_t kHeaderFixed = 11 + 4 + 4;
// A header extension is reserved for future use and empty in every server
// version; refuse to buffer an absurd one.
constexpr int32_t kMaxHeaderExtension = 1 << 20;

// Days / microseconds between 1970-01-01 (sluice) and 2000-01-01 (PostgreSQL).
constexpr int64_t kPgEpochDays = 10957;
constexpr int64_t kPgEpochMicros = kPgEpochDays * 86400LL * 1000000LL;
constexpr int64_t kMicrosPerDay = 86400LL * 1000000LL;

inline uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t Be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline uint64_t Be64(const uint8_t* p) { return (uint64_t{Be32(p)} << 32) | Be32(p + 4); }

const char* WireName(PgWire w) {
  switch (w) {
    case PgWire::kInt16: return "int2";
    case PgWire::kInt32: return "int4";
    case PgWire::kInt64: return "int8";
    case PgWire::kFloat32: return "float4";
    case PgWire::kFloat64: return "float8";
    case PgWire::kNumeric: return "numeric";
    case PgWire::kText: return "text";
    case PgWire::kJson: return "json";
    case PgWire::kJsonb: return "jsonb";
    case PgWire::kBytea: return "bytea";
    case PgWire::kBool: return "bool";
    case PgWire::kDate: return "date";
    case PgWire::kTime: return "time";
    case PgWire::kTimestamp: return "timestamp";
    case PgWire::kTimestampTz: return "timestamptz";
    case PgWire::kUuid: return "uuid";
  }
  return "?";
}

// Binary numeric: int16 ndigits, int16 weight, uint16 sign, int16 dscale,
// then ndigits base-10000 digits, most significant first; the value is
// sum(digit[i] * 10000^(weight - i)). Converted exactly to an unscaled
// int128 at `scale`, or an error saying why it does not fit.
Result<int128_t> DecodeNumeric(const uint8_t* v, int32_t len, int precision, int scale) {
  if (len < 8) return Status::InvalidData("numeric value shorter than its 8-byte header");
  int ndigits = static_cast<int16_t>(Be16(v));
  int weight = static_cast<int16_t>(Be16(v + 2));
  uint16_t sign = Be16(v + 4);
  if (ndigits < 0 || len != 8 + 2 * ndigits) {
    return Status::InvalidData("numeric digit count " + std::to_string(ndigits) +
                               " does not match value length " + std::to_string(len));
  }
  switch (sign) {
    case 0x0000: case 0x4000: break;
    case 0xC000: return Status::InvalidData("numeric NaN does not fit a decimal column");
    case 0xD000: return Status::InvalidData("numeric Infinity does not fit a decimal column");
    case 0xF000: return Status::InvalidData("numeric -Infinity does not fit a decimal column");
    default: return Status::InvalidData("numeric has an invalid sign word " + std::to_string(sign));
  }
  constexpr int128_t kMax = std::numeric_limits<int128_t>::max();
  constexpr int128_t kNoOverflow = int128_t{1} << 112;
  const char* too_big = "numeric value needs more digits than the column's precision";
  auto too_fine = [&] {
    return Status::InvalidData("numeric value has more than " + std::to_string(scale) +
                               " fractional digits");
  };
  // Digit i's least significant decimal sits at 10^e (e = 4*(weight-i) +
  // scale) in units of the unscaled value. Digits at e >= 0 accumulate
  // whole; one straddling the scale (-4 < e < 0) contributes its upper part
  // and must have zeros below; digits further right must be zero. So the
  // accumulator never holds more than the result's digits (no overflow on
  // long fractional tails such as 99...9.999999999).
  int128_t acc = 0;
  int64_t e_last = 0;
  for (int i = 0; i < ndigits; ++i) {
    int d = Be16(v + 8 + 2 * i);
    if (d > 9999) return Status::InvalidData("numeric digit " + std::to_string(d) + " > 9999");
    int64_t e = 4 * (int64_t{weight} - i) + scale;
    int128_t mult = 10000;
    if (e < 0) {
      if (e <= -4) {
        if (d != 0) return too_fine();
        continue;
      }
      int k = static_cast<int>(-e);
      if (d % static_cast<int>(Pow10(k)) != 0) return too_fine();
      d /= static_cast<int>(Pow10(k));
      mult = Pow10(4 - k);
      e = 0;
    }
    // Below 2^112, acc * 10^4 + 9999 cannot overflow: the exact check (a
    // 128-bit division, 5% of a numeric-heavy copy) only runs above it.
    if (acc >= kNoOverflow && acc > (kMax - d) / mult) return Status::InvalidData(too_big);
    acc = acc * mult + d;
    e_last = e;
  }
  if (acc != 0 && e_last > 0) {
    // 10^e < 2^(4e): below 2^(126-4e) the product fits without the exact
    // (dividing) check.
    const bool fits = 4 * e_last < 126 && acc < (int128_t{1} << (126 - 4 * e_last));
    if (e_last > 38 || (!fits && acc > kMax / Pow10(static_cast<int>(e_last)))) {
      return Status::InvalidData(too_big);
    }
    acc *= Pow10(static_cast<int>(e_last));
  }
  if (acc > MaxDecimalMagnitude(precision)) return Status::InvalidData(too_big);
  return sign == 0x4000 ? -acc : acc;
}

}  // namespace

DataType PgWireType(PgWire wire, int precision, int scale) {
  switch (wire) {
    case PgWire::kInt16: return DataType::Int16();
    case PgWire::kInt32: return DataType::Int32();
    case PgWire::kInt64: return DataType::Int64();
    case PgWire::kFloat32: return DataType::Float32();
    case PgWire::kFloat64: return DataType::Float64();
    case PgWire::kNumeric: return DataType::Decimal(precision, scale);
    case PgWire::kText: return DataType::String();
    case PgWire::kJson: case PgWire::kJsonb: return DataType::Json();
    case PgWire::kBytea: return DataType::Binary();
    case PgWire::kBool: return DataType::Bool();
    case PgWire::kDate: return DataType::Date();
    case PgWire::kTime: return DataType::Time();
    case PgWire::kTimestamp: return DataType::Timestamp();
    case PgWire::kTimestampTz: return DataType::TimestampTz("UTC");
    case PgWire::kUuid: return DataType::Uuid();
  }
  return DataType::String();
}

PgCopyDecoder::PgCopyDecoder(std::vector<PgCopyColumn> columns, std::string name)
    : columns_(std::move(columns)), name_(std::move(name)) {}

Status PgCopyDecoder::Error(int col, const std::string& what) const {
  std::string msg = name_ + ": COPY BINARY row " + std::to_string(rows_ + 1);
  if (col >= 0) {
    const PgCopyColumn& c = columns_[static_cast<size_t>(col)];
    msg += ", column \"" + c.name + "\" (" + WireName(c.wire) + ")";
  }
  return Status::InvalidData(msg + ": " + what);
}

Status PgCopyDecoder::Consume(std::string_view data, BatchBuilder* out) {
  if (out->num_columns() != static_cast<int>(columns_.size())) {
    return Status::Internal(name_ + ": COPY decoder and batch builder column counts differ");
  }
  if (data.empty()) return Status::OK();
  if (done_) return Error(-1, "data after the end-of-data trailer");
  const uint8_t* begin;
  const uint8_t* end;
  if (pending_.empty()) {
    begin = reinterpret_cast<const uint8_t*>(data.data());
    end = begin + data.size();
  } else {
    pending_.append(data);
    begin = reinterpret_cast<const uint8_t*>(pending_.data());
    end = begin + pending_.size();
  }
  const uint8_t* p = begin;
  if (!header_done_) {
    if (static_cast<size_t>(end - p) < kHeaderFixed) {
      // Check what is there already so garbage fails fast.
      size_t n = std::min<size_t>(static_cast<size_t>(end - p), sizeof(kSignature));
      if (std::memcmp(p, kSignature, n) != 0) return Error(-1, "missing PGCOPY signature");
      if (pending_.empty()) pending_.assign(data);
      return Status::OK();
    }
    if (std::memcmp(p, kSignature, sizeof(kSignature)) != 0) {
      return Error(-1, "missing PGCOPY signature");
    }
    uint32_t flags = Be32(p + 11);
    if (flags & (1u << 16)) return Error(-1, "stream carries OIDs (unsupported)");
    if (flags & 0xFFFF0000u & ~(1u << 16)) {
      return Error(-1, "unknown critical header flags " + std::to_string(flags));
    }
    int32_t ext = static_cast<int32_t>(Be32(p + 15));
    if (ext < 0 || ext > kMaxHeaderExtension) {
      return Error(-1, "header extension length " + std::to_string(ext) + " out of range");
    }
    if (static_cast<size_t>(end - p) < kHeaderFixed + static_cast<size_t>(ext)) {
      if (pending_.empty()) pending_.assign(data);
      return Status::OK();
    }
    p += kHeaderFixed + static_cast<size_t>(ext);
    header_done_ = true;
  }
  Status st = DecodeTuples(p, end, out);
  if (!st.ok()) return st;
  if (done_ && p != end) return Error(-1, "data after the end-of-data trailer");
  // Keep the incomplete tail (if any) for the next call.
  if (pending_.empty()) {
    pending_.assign(reinterpret_cast<const char*>(p), static_cast<size_t>(end - p));
  } else {
    pending_.erase(0, static_cast<size_t>(p - begin));
  }
  return Status::OK();
}

Status PgCopyDecoder::DecodeTuples(const uint8_t*& p, const uint8_t* end, BatchBuilder* out) {
  const int ncols = static_cast<int>(columns_.size());
  while (!done_ && end - p >= 2) {
    int16_t nfields = static_cast<int16_t>(Be16(p));
    if (nfields == -1) {
      p += 2;
      done_ = true;
      break;
    }
    if (nfields != ncols) {
      return Error(-1, "tuple has " + std::to_string(nfields) + " fields, expected " +
                           std::to_string(ncols));
    }
    // First make sure the whole tuple is here, so rows are appended whole.
    const uint8_t* q = p + 2;
    bool complete = true;
    for (int c = 0; c < ncols; ++c) {
      if (end - q < 4) { complete = false; break; }
      int32_t len = static_cast<int32_t>(Be32(q));
      q += 4;
      if (len == -1) continue;
      if (len < 0) return Error(c, "negative field length " + std::to_string(len));
      if (end - q < len) { complete = false; break; }
      q += len;
    }
    if (!complete) break;
    q = p + 2;
    for (int c = 0; c < ncols; ++c) {
      int32_t len = static_cast<int32_t>(Be32(q));
      q += 4;
      ColumnBuilder* b = &out->column(c);
      if (len == -1) {
        b->AppendNull();
        continue;
      }
      Status st = DecodeValue(c, q, len, b);
      if (!st.ok()) return st;
      q += len;
    }
    p = q;
    ++rows_;
  }
  return Status::OK();
}

Status PgCopyDecoder::DecodeValue(int col, const uint8_t* v, int32_t len, ColumnBuilder* b) {
  const PgCopyColumn& c = columns_[static_cast<size_t>(col)];
  auto need = [&](int32_t n) -> Status {
    if (len == n) return Status::OK();
    return Error(col, "value length " + std::to_string(len) + ", expected " + std::to_string(n));
  };
  switch (c.wire) {
    case PgWire::kInt16:
      SLUICE_RETURN_NOT_OK(need(2));
      b->AppendFixed<int16_t>(static_cast<int16_t>(Be16(v)));
      return Status::OK();
    case PgWire::kInt32:
      SLUICE_RETURN_NOT_OK(need(4));
      b->AppendFixed<int32_t>(static_cast<int32_t>(Be32(v)));
      return Status::OK();
    case PgWire::kInt64:
      SLUICE_RETURN_NOT_OK(need(8));
      b->AppendFixed<int64_t>(static_cast<int64_t>(Be64(v)));
      return Status::OK();
    case PgWire::kFloat32: {
      SLUICE_RETURN_NOT_OK(need(4));
      uint32_t bits = Be32(v);
      float f;
      std::memcpy(&f, &bits, 4);
      b->AppendFixed<float>(f);
      return Status::OK();
    }
    case PgWire::kFloat64: {
      SLUICE_RETURN_NOT_OK(need(8));
      uint64_t bits = Be64(v);
      double d;
      std::memcpy(&d, &bits, 8);
      b->AppendFixed<double>(d);
      return Status::OK();
    }
    case PgWire::kNumeric: {
      Result<int128_t> r = DecodeNumeric(v, len, c.type.precision, c.type.scale);
      if (!r.ok()) {
        return Error(col, r.status().message() + " (decimal(" + std::to_string(c.type.precision) +
                              "," + std::to_string(c.type.scale) + "))");
      }
      b->AppendFixed<int128_t>(*r);
      return Status::OK();
    }
    case PgWire::kJsonb:
      if (len < 1 || v[0] != 1) {
        return Error(col, len < 1 ? "empty jsonb value" : "unknown jsonb version " + std::to_string(v[0]));
      }
      ++v;
      --len;
      [[fallthrough]];
    case PgWire::kText:
    case PgWire::kJson: {
      std::string_view s(reinterpret_cast<const char*>(v), static_cast<size_t>(len));
      if (!IsValidUtf8(s)) return Error(col, "invalid UTF-8");
      b->AppendBytes(s);
      return Status::OK();
    }
    case PgWire::kBytea:
      b->AppendBytes(std::string_view(reinterpret_cast<const char*>(v), static_cast<size_t>(len)));
      return Status::OK();
    case PgWire::kBool:
      SLUICE_RETURN_NOT_OK(need(1));
      if (v[0] > 1) return Error(col, "bool byte " + std::to_string(v[0]) + " is neither 0 nor 1");
      b->AppendBool(v[0] != 0);
      return Status::OK();
    case PgWire::kDate: {
      SLUICE_RETURN_NOT_OK(need(4));
      int32_t d = static_cast<int32_t>(Be32(v));
      if (d == std::numeric_limits<int32_t>::max() || d == std::numeric_limits<int32_t>::min()) {
        return Error(col, d > 0 ? "date 'infinity' has no date32 value"
                                : "date '-infinity' has no date32 value");
      }
      int64_t days = int64_t{d} + kPgEpochDays;
      if (days > std::numeric_limits<int32_t>::max()) return Error(col, "date out of range");
      b->AppendFixed<int32_t>(static_cast<int32_t>(days));
      return Status::OK();
    }
    case PgWire::kTime: {
      SLUICE_RETURN_NOT_OK(need(8));
      int64_t t = static_cast<int64_t>(Be64(v));
      // PostgreSQL allows 24:00:00 exactly.
      if (t < 0 || t > kMicrosPerDay) return Error(col, "time " + std::to_string(t) + "us out of range");
      b->AppendFixed<int64_t>(t);
      return Status::OK();
    }
    case PgWire::kTimestamp:
    case PgWire::kTimestampTz: {
      SLUICE_RETURN_NOT_OK(need(8));
      int64_t t = static_cast<int64_t>(Be64(v));
      if (t == std::numeric_limits<int64_t>::max() || t == std::numeric_limits<int64_t>::min()) {
        return Error(col, t > 0 ? "timestamp 'infinity' has no timestamp value"
                                : "timestamp '-infinity' has no timestamp value");
      }
      int64_t unix_us;
      if (__builtin_add_overflow(t, kPgEpochMicros, &unix_us)) {
        return Error(col, "timestamp out of range");
      }
      b->AppendFixed<int64_t>(unix_us);
      return Status::OK();
    }
    case PgWire::kUuid:
      SLUICE_RETURN_NOT_OK(need(16));
      b->AppendFixedBytes(v, 16);
      return Status::OK();
  }
  return Error(col, "unhandled wire type");
}

Status PgCopyDecoder::Finish() const {
  if (!header_done_) return Error(-1, "stream ended before the PGCOPY header");
  if (!done_) {
    return Error(-1, pending_.empty() ? "stream ended without the end-of-data trailer"
                                      : "stream ended inside a tuple (" +
                                            std::to_string(pending_.size()) + " bytes left)");
  }
  return Status::OK();
}

}  // namespace sluice
