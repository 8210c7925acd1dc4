#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "core/base64.h"
#include "core/int128.h"
#include "core/temporal.h"

#include "formats/tdtp/tdtp_internal.h"

namespace sluice::tdtp::internal {

std::string NullMarkerText(int n) {
  if (n == 0) return std::string(kNullMarker);
  return "[NULL" + std::to_string(n) + "]";
}

int NullMarkerIndex(std::string_view v) {
  if (v.size() < 6 || v.size() > 15 || v.compare(0, 5, "[NULL") != 0 || v.back() != ']') return -1;
  std::string_view digits = v.substr(5, v.size() - 6);
  if (digits.empty()) return 0;
  if (digits[0] == '0') return -1;  // "[NULL0]", "[NULL01]" are never generated
  int n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

namespace {
void AppendHex64(uint64_t v, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out->push_back(kHex[(v >> shift) & 15]);
}
}  // namespace

std::string Xxh3_64Hex(std::string_view data) {
  std::string s;
  AppendHex64(XXH3_64bits(data.data(), data.size()), &s);
  return s;
}

std::string Hash128Hex(uint64_t high, uint64_t low) {
  std::string s;
  AppendHex64(high, &s);
  AppendHex64(low, &s);
  return s;
}

std::string Xxh3_128Hex(std::string_view data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  return Hash128Hex(h.high64, h.low64);
}

Xxh3_128::Xxh3_128() : state_(XXH3_createState()) {
  if (state_) XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_));
}
Xxh3_128::~Xxh3_128() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }
void Xxh3_128::Update(std::string_view data) {
  if (state_) XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), data.data(), data.size());
}
std::string Xxh3_128::HexDigest() {
  if (!state_) return {};
  XXH128_hash_t h = XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_));
  return Hash128Hex(h.high64, h.low64);
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string ToUpperAscii(std::string_view s) {
  std::string r(s);
  for (char& c : r) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return r;
}

std::string ToLowerAscii(std::string_view s) {
  std::string r(s);
  for (char& c : r) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return r;
}

Status ZstdDecompress(std::string_view input, int64_t max_output, std::string* out) {
  out->clear();
  if (input.empty()) return Status::OK();
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!dctx) return Status::Internal("zstd: cannot allocate a decompression context");
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  // Start from a modest guess; never trust the frame's declared content size.
  size_t cap = std::min<size_t>(static_cast<size_t>(max_output) + 1,
                                std::max<size_t>(64 * 1024, input.size() * 4));
  out->resize(cap);
  size_t produced = 0;
  size_t last_ret = 1;
  while (true) {
    ZSTD_outBuffer ob{out->data(), out->size(), produced};
    size_t ret = ZSTD_decompressStream(dctx.get(), &ob, &in);
    if (ZSTD_isError(ret)) {
      return Status::InvalidData(std::string("zstd: corrupt compressed data (") +
                                 ZSTD_getErrorName(ret) + ")");
    }
    produced = ob.pos;
    last_ret = ret;
    if (produced > static_cast<size_t>(max_output)) {
      return Status::InvalidData("zstd: data inflates beyond the limit of " +
                                 std::to_string(max_output) +
                                 " bytes (ReadOptions::max_decompressed_bytes)");
    }
    if (in.pos == in.size && ret == 0) break;  // every frame complete, input consumed
    if (ob.pos == ob.size) {
      if (out->size() > static_cast<size_t>(max_output)) {
        return Status::InvalidData("zstd: data inflates beyond the limit of " +
                                   std::to_string(max_output) +
                                   " bytes (ReadOptions::max_decompressed_bytes)");
      }
      size_t grown = std::min<size_t>(out->size() * 2, static_cast<size_t>(max_output) + 1);
      out->resize(std::max(grown, out->size() + 1));
      continue;
    }
    if (in.pos == in.size) {
      // Room left, no input left, frame not finished.
      return Status::InvalidData("zstd: compressed data is truncated");
    }
  }
  (void)last_ret;
  out->resize(produced);
  return Status::OK();
}

ZstdCompressor::ZstdCompressor() : cctx_(ZSTD_createCCtx()) {}
ZstdCompressor::~ZstdCompressor() { ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_)); }

Status ZstdCompressor::Compress(std::string_view input, int level, std::string* out) {
  if (!cctx_) return Status::Internal("zstd: cannot allocate a compression context");
  out->resize(ZSTD_compressBound(input.size()));
  size_t n = ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(cctx_), out->data(), out->size(),
                               input.data(), input.size(), level);
  if (ZSTD_isError(n)) return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
  out->resize(n);
  return Status::OK();
}

void SplitRow(std::string_view row, std::vector<std::string_view>* cells, std::string* scratch) {
  cells->clear();
  if (scratch->size() < row.size()) scratch->resize(row.size());
  const char* p = row.data();
  const char* const end = p + row.size();
  char* const wbase = scratch->data();
  char* w = wbase;
  const char* cell_src = p;
  char* cell_dst = w;
  bool escaped = false;
  while (p < end) {
    // Find the next separator or backslash.
    const char* q = FindAny3(p, end, '|', '\\', '|');
    if (escaped) {
      std::memcpy(w, p, static_cast<size_t>(q - p));
      w += q - p;
    }
    p = q;
    if (p >= end) break;
    if (*p == '|') {
      if (escaped) cells->emplace_back(cell_dst, static_cast<size_t>(w - cell_dst));
      else cells->emplace_back(cell_src, static_cast<size_t>(p - cell_src));
      ++p;
      cell_src = p;
      cell_dst = w;
      escaped = false;
      continue;
    }
    // Backslash: switch the cell to the scratch copy.
    if (!escaped) {
      std::memcpy(w, cell_src, static_cast<size_t>(p - cell_src));
      w += p - cell_src;
      escaped = true;
    }
    if (p + 1 < end) {
      char nx = p[1];
      *w++ = nx == 'n' ? '\n' : nx;
      p += 2;
    } else {
      *w++ = '\\';  // a lone trailing backslash is kept
      ++p;
    }
  }
  if (escaped) cells->emplace_back(cell_dst, static_cast<size_t>(w - cell_dst));
  else cells->emplace_back(cell_src, static_cast<size_t>(end - cell_src));
}

void AppendTdtpEscaped(std::string_view v, std::string* out) {
  size_t start = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c != '\\' && c != '|' && c != '\n') continue;
    out->append(v.data() + start, i - start);
    out->push_back('\\');
    out->push_back(c == '\n' ? 'n' : c);
    start = i + 1;
  }
  out->append(v.data() + start, v.size() - start);
}

namespace {
Status AppendXmlEscaped(std::string_view v, bool attr, std::string* out) {
  const auto* p = reinterpret_cast<const uint8_t*>(v.data());
  size_t n = v.size(), start = 0;
  for (size_t i = 0; i < n; ++i) {
    uint8_t c = p[i];
    const char* esc = nullptr;
    switch (c) {
      case '<': esc = "&lt;"; break;
      case '>': esc = "&gt;"; break;
      case '&': esc = "&amp;"; break;
      case '"': if (attr) esc = "&quot;"; break;
      case '\r': esc = "&#xD;"; break;
      case '\n': if (attr) esc = "&#xA;"; break;
      case '\t': if (attr) esc = "&#x9;"; break;
      case 0xEF:
        if (i + 2 < n && p[i + 1] == 0xBF && (p[i + 2] == 0xBE || p[i + 2] == 0xBF)) {
          return Status::InvalidArgument("text holds U+FFFE/U+FFFF, which XML 1.0 cannot carry");
        }
        break;
      default:
        if (c < 0x20 && c != '\t' && c != '\n') {
          return Status::InvalidArgument("text holds control character 0x" +
                                         std::string(1, "0123456789abcdef"[c >> 4]) +
                                         std::string(1, "0123456789abcdef"[c & 15]) +
                                         ", which XML 1.0 cannot carry");
        }
    }
    if (!esc) continue;
    out->append(v.data() + start, i - start);
    out->append(esc);
    start = i + 1;
  }
  out->append(v.data() + start, n - start);
  return Status::OK();
}

std::string_view TrimSpace(std::string_view s) {
  auto sp = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  while (!s.empty() && sp(s.front())) s.remove_prefix(1);
  while (!s.empty() && sp(s.back())) s.remove_suffix(1);
  return s;
}
}  // namespace

Status AppendXmlAttrEscaped(std::string_view v, std::string* out) { return AppendXmlEscaped(v, true, out); }
Status AppendXmlTextEscaped(std::string_view v, std::string* out) { return AppendXmlEscaped(v, false, out); }

std::optional<int64_t> GoParseInt(std::string_view s) {
  if (s.empty()) return 0;
  std::string_view t = TrimSpace(s);
  bool neg = false;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
    neg = t[0] == '-';
    t.remove_prefix(1);
  }
  if (t.empty()) return std::nullopt;
  uint64_t mag = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), mag);
  if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
  if (neg) {
    if (mag > uint64_t{1} << 63) return std::nullopt;
    return static_cast<int64_t>(0 - mag);
  }
  if (mag > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return static_cast<int64_t>(mag);
}

std::optional<bool> GoParseBool(std::string_view s) {
  if (s.empty()) return false;
  std::string_view t = TrimSpace(s);
  if (t == "1" || t == "t" || t == "T" || t == "TRUE" || t == "true" || t == "True") return true;
  if (t == "0" || t == "f" || t == "F" || t == "FALSE" || t == "false" || t == "False") return false;
  return std::nullopt;
}

namespace {
constexpr std::array<int8_t, 256> kB64 = [] {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(a[i])] = static_cast<int8_t>(i);
  return t;
}();
}  // namespace

Status Base64DecodeInto(std::string_view text, std::string* out) {
  const size_t n = text.size();
  out->clear();
  if (n == 0) return Status::OK();
  if (n % 4 == 0) {
    const auto* p = reinterpret_cast<const uint8_t*>(text.data());
    size_t pad = p[n - 1] == '=' ? (p[n - 2] == '=' ? 2 : 1) : 0;
    out->resize(n / 4 * 3);
    auto* w = reinterpret_cast<uint8_t*>(out->data());
    bool ok = true;
    const size_t full = pad ? n - 4 : n;
    size_t i = 0;
    for (; i < full; i += 4) {
      int32_t a = kB64[p[i]], b = kB64[p[i + 1]], c = kB64[p[i + 2]], d = kB64[p[i + 3]];
      if ((a | b | c | d) < 0) {
        ok = false;
        break;
      }
      uint32_t v = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                   (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
      *w++ = static_cast<uint8_t>(v >> 16);
      *w++ = static_cast<uint8_t>(v >> 8);
      *w++ = static_cast<uint8_t>(v);
    }
    if (ok && pad) {
      int32_t a = kB64[p[i]], b = kB64[p[i + 1]];
      int32_t c = pad == 2 ? 0 : kB64[p[i + 2]];
      if ((a | b | c) < 0 || (pad == 1 && p[i + 2] == '=')) {
        ok = false;
      } else {
        uint32_t v = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                     (static_cast<uint32_t>(c) << 6);
        *w++ = static_cast<uint8_t>(v >> 16);
        if (pad == 1) *w++ = static_cast<uint8_t>(v >> 8);
      }
    }
    if (ok) {
      out->resize(static_cast<size_t>(w - reinterpret_cast<uint8_t*>(out->data())));
      return Status::OK();
    }
  }
  auto slow = Base64Decode(text);  // whitespace, or an error to report
  if (!slow.ok()) return slow.status();
  *out = std::move(*slow);
  return Status::OK();
}

namespace {
constexpr char kDigitPairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

inline char* Put2(char* p, unsigned v) {
  std::memcpy(p, kDigitPairs + 2 * v, 2);
  return p + 2;
}

// "YYYY-MM-DD" for years 1..9999; false otherwise.
inline bool PutDate(int32_t days, char* p) {
  if (days < kMinDate || days > kMaxDate) return false;
  int y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  p = Put2(p, static_cast<unsigned>(y / 100));
  p = Put2(p, static_cast<unsigned>(y % 100));
  *p++ = '-';
  p = Put2(p, m);
  *p++ = '-';
  Put2(p, d);
  return true;
}

// "HH:MM:SS[.ffffff]" for 0 <= micros < one day; returns the length.
inline size_t PutTime(int64_t micros, char* p) {
  int64_t secs = micros / kMicrosPerSecond;
  int64_t frac = micros % kMicrosPerSecond;
  char* s = p;
  p = Put2(p, static_cast<unsigned>(secs / 3600));
  *p++ = ':';
  p = Put2(p, static_cast<unsigned>(secs / 60 % 60));
  *p++ = ':';
  p = Put2(p, static_cast<unsigned>(secs % 60));
  if (frac != 0) {
    *p++ = '.';
    unsigned f = static_cast<unsigned>(frac);
    p = Put2(p, f / 10000);
    p = Put2(p, f / 100 % 100);
    p = Put2(p, f % 100);
  }
  return static_cast<size_t>(p - s);
}
}  // namespace

void AppendDateFast(int32_t days, std::string* out) {
  char buf[10];
  if (!PutDate(days, buf)) return AppendDate(days, out);
  out->append(buf, 10);
}

void AppendTimeFast(int64_t micros, std::string* out) {
  if (micros < 0 || micros >= kMicrosPerDay) return AppendTime(micros, out);
  char buf[16];
  out->append(buf, PutTime(micros, buf));
}

void AppendTimestampFast(int64_t micros, bool utc_suffix, std::string* out) {
  int64_t days = micros / kMicrosPerDay - (micros % kMicrosPerDay < 0 ? 1 : 0);
  char buf[32];
  if (days < kMinDate || days > kMaxDate || !PutDate(static_cast<int32_t>(days), buf)) {
    return AppendTimestamp(micros, utc_suffix, out);
  }
  buf[10] = 'T';
  size_t n = 11 + PutTime(micros - days * kMicrosPerDay, buf + 11);
  if (utc_suffix) buf[n++] = 'Z';
  out->append(buf, n);
}

void AppendDecimalFast(int128_t unscaled, int scale, std::string* out) {
  using u128 = uint128_t;
  bool neg = unscaled < 0;
  u128 mag = neg ? u128{0} - static_cast<u128>(unscaled) : static_cast<u128>(unscaled);
  // Digits of the magnitude, in at most two 64-bit chunks (10^38 < 10^19 * 2^64).
  char digits[48];
  size_t nd;
  constexpr uint64_t kChunk = 10'000'000'000'000'000'000ULL;  // 10^19
  if (mag <= UINT64_MAX) {
    nd = static_cast<size_t>(std::to_chars(digits, digits + 40, static_cast<uint64_t>(mag)).ptr - digits);
  } else {
    uint64_t hi = static_cast<uint64_t>(mag / kChunk);
    uint64_t lo = static_cast<uint64_t>(mag % kChunk);
    nd = static_cast<size_t>(std::to_chars(digits, digits + 40, hi).ptr - digits);
    char tmp[20];
    size_t nl = static_cast<size_t>(std::to_chars(tmp, tmp + 20, lo).ptr - tmp);
    std::memset(digits + nd, '0', 19 - nl);
    std::memcpy(digits + nd + 19 - nl, tmp, nl);
    nd += 19;
  }
  size_t sc = scale > 0 ? static_cast<size_t>(scale) : 0;
  if (neg) out->push_back('-');
  if (nd <= sc) {
    out->append("0");
    if (sc > 0) {
      out->push_back('.');
      out->append(sc - nd, '0');
      out->append(digits, nd);
    }
    return;
  }
  out->append(digits, nd - sc);
  if (sc > 0) {
    out->push_back('.');
    out->append(digits + nd - sc, sc);
  }
}

}  // namespace sluice::tdtp::internal
