// Helpers shared by the TDTP reader and writer (not part of the public API).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/int128.h"
#include "core/status.h"
#include "formats/tdtp/tdtp.h"

namespace sluice::tdtp::internal {

// First byte in [p, end) equal to a, b or c (8 bytes per step), or end.
inline const char* FindAny3(const char* p, const char* end, char a, char b, char c) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
  const uint64_t ma = kOnes * static_cast<uint8_t>(a), mb = kOnes * static_cast<uint8_t>(b),
                 mc = kOnes * static_cast<uint8_t>(c);
  while (end - p >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    uint64_t xa = w ^ ma, xb = w ^ mb, xc = w ^ mc;
    uint64_t z = ((xa - kOnes) & ~xa) | ((xb - kOnes) & ~xb) | ((xc - kOnes) & ~xc);
    if (z & kHigh) break;  // a match in these 8 bytes (exact position found below)
    p += 8;
  }
  while (p < end && *p != a && *p != b && *p != c) ++p;
  return p;
}

// Canonical SpecialValues markers (framework: packet/special_values_detect.go).
inline constexpr std::string_view kNullMarker = "[NULL]";
inline constexpr std::string_view kNaNMarker = "NaN";
inline constexpr std::string_view kInfMarker = "INF";
inline constexpr std::string_view kNegInfMarker = "-INF";
inline constexpr std::string_view kNoDateMarker = "0000-00-00";

// The n-th NULL marker: "[NULL]" for 0, "[NULL<n>]" after (the framework
// picks the first one no literal value of the column equals).
std::string NullMarkerText(int n);
// If `v` is a NULL marker, its index; otherwise -1.
int NullMarkerIndex(std::string_view v);

// Lower-case hex of a 64-bit XXH3 (big-endian, 16 digits) and of a 128-bit
// XXH3 (high then low half, 32 digits), as the framework prints them.
std::string Xxh3_64Hex(std::string_view data);
std::string Hash128Hex(uint64_t high, uint64_t low);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
std::string ToUpperAscii(std::string_view s);
std::string ToLowerAscii(std::string_view s);

// Streaming XXH3-128 (RAII over XXH3_state_t).
class Xxh3_128 {
 public:
  Xxh3_128();
  ~Xxh3_128();
  Xxh3_128(const Xxh3_128&) = delete;
  Xxh3_128& operator=(const Xxh3_128&) = delete;
  void Update(std::string_view data);
  std::string HexDigest();

 private:
  void* state_;
};
std::string Xxh3_128Hex(std::string_view data);

// zstd, with the output bounded by `max_output` (hostile frames may claim
// or expand to anything).
Status ZstdDecompress(std::string_view input, int64_t max_output, std::string* out);
class ZstdCompressor {
 public:
  ZstdCompressor();
  ~ZstdCompressor();
  ZstdCompressor(const ZstdCompressor&) = delete;
  ZstdCompressor& operator=(const ZstdCompressor&) = delete;
  Status Compress(std::string_view input, int level, std::string* out);

 private:
  void* cctx_;
};

// Splits a TDTP row into cells, undoing TDTP escaping (\\ \| \n; "\x" is
// "x"; a lone trailing backslash is kept). Cells without escapes point into
// `row`; escaped cells point into `scratch`, which is resized to hold them
// (views stay valid until the next call with the same scratch).
void SplitRow(std::string_view row, std::vector<std::string_view>* cells, std::string* scratch);
// Appends `v` with TDTP escaping only (no XML escaping).
void AppendTdtpEscaped(std::string_view v, std::string* out);

// Appends an XML attribute value / text node with the five special
// characters and CR/LF/TAB (attributes) or CR (text) escaped. Fails on
// characters XML 1.0 cannot carry (C0 controls other than TAB/LF/CR,
// U+FFFE, U+FFFF).
Status AppendXmlAttrEscaped(std::string_view v, std::string* out);
Status AppendXmlTextEscaped(std::string_view v, std::string* out);

// Go's strconv.ParseInt / ParseBool after strings.TrimSpace, as encoding/xml
// applies them to attributes and elements (empty = zero value).
std::optional<int64_t> GoParseInt(std::string_view s);
std::optional<bool> GoParseBool(std::string_view s);

// Standard base64 (padded) into `out` (replaced). Fast path for clean
// input; anything else (whitespace, errors) goes through core's decoder.
Status Base64DecodeInto(std::string_view text, std::string* out);

// Fast canonical text (same output as core/temporal.h and int128.h).
void AppendDateFast(int32_t days, std::string* out);
void AppendTimeFast(int64_t micros, std::string* out);
void AppendTimestampFast(int64_t micros, bool utc_suffix, std::string* out);
void AppendDecimalFast(int128_t unscaled, int scale, std::string* out);

// Field::source_type hint "TDTP:TYPE(k=v,...)".
std::optional<TdtpFieldType> ParseSourceType(std::string_view s);

}  // namespace sluice::tdtp::internal
