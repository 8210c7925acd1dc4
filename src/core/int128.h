// 128-bit integers for decimal128 values (two's complement, little-endian in memory).
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice {

__extension__ typedef __int128 int128_t;
__extension__ typedef unsigned __int128 uint128_t;

namespace internal {
inline constexpr struct Pow10Table {
  int128_t v[39];
  constexpr Pow10Table() : v{} {
    v[0] = 1;
    for (int i = 1; i <= 38; ++i) v[i] = v[i - 1] * 10;
  }
} kPow10;
}  // namespace internal

// 10^n for n in 0..38 (n is clamped to that range). Inline: decoders call it
// per value.
inline int128_t Pow10(int n) { return internal::kPow10.v[n < 0 ? 0 : n > 38 ? 38 : n]; }
// Largest magnitude that fits in `precision` digits: 10^precision - 1.
inline int128_t MaxDecimalMagnitude(int precision) { return Pow10(precision) - 1; }

// "12345.6789" for unscaled=123456789, scale=4. Always exact.
std::string FormatDecimal(int128_t unscaled, int scale);
void AppendDecimal(int128_t unscaled, int scale, std::string* out);
// Parses "-123.45", "1e3", "+.5" exactly into an unscaled value at `scale`,
// rejecting values that need more digits than `precision` or lose fractional digits.
Result<int128_t> ParseDecimal(std::string_view text, int precision, int scale);

}  // namespace sluice
