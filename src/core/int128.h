// 128-bit integers for decimal128 values (two's complement, little-endian in memory).
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice {

__extension__ typedef __int128 int128_t;
__extension__ typedef unsigned __int128 uint128_t;

// 10^n for n in 0..38.
int128_t Pow10(int n);
// Largest magnitude that fits in `precision` digits: 10^precision - 1.
inline int128_t MaxDecimalMagnitude(int precision) { return Pow10(precision) - 1; }

// "12345.6789" for unscaled=123456789, scale=4. Always exact.
std::string FormatDecimal(int128_t unscaled, int scale);
void AppendDecimal(int128_t unscaled, int scale, std::string* out);
// Parses "-123.45", "1e3", "+.5" exactly into an unscaled value at `scale`,
// rejecting values that need more digits than `precision` or lose fractional digits.
Result<int128_t> ParseDecimal(std::string_view text, int precision, int scale);

}  // namespace sluice
