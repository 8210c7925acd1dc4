#include "core/int128.h"

#include <cstdint>

#include <algorithm>

namespace sluice {

void AppendDecimal(int128_t unscaled, int scale, std::string* out) {
  bool neg = unscaled < 0;
  uint128_t mag = neg ? static_cast<uint128_t>(0) - static_cast<uint128_t>(unscaled)
                      : static_cast<uint128_t>(unscaled);
  char digits[48];
  int n = 0;
  // 128-bit division is a library call per digit; peel 19 digits at a time
  // until the rest fits 64 bits (almost every real value already does).
  constexpr uint64_t kTen19 = 10000000000000000000ULL;
  while (mag > static_cast<uint128_t>(UINT64_MAX)) {
    uint64_t low = static_cast<uint64_t>(mag % kTen19);
    mag /= kTen19;
    for (int k = 0; k < 19; ++k) {
      digits[n++] = static_cast<char>('0' + low % 10);
      low /= 10;
    }
  }
  uint64_t m = static_cast<uint64_t>(mag);
  do {
    digits[n++] = static_cast<char>('0' + m % 10);
    m /= 10;
  } while (m != 0);
  while (n <= scale) digits[n++] = '0';  // at least one digit before the point
  if (neg) out->push_back('-');
  for (int i = n - 1; i >= 0; --i) {
    out->push_back(digits[i]);
    if (i == scale && scale > 0) out->push_back('.');
  }
}

std::string FormatDecimal(int128_t unscaled, int scale) {
  std::string s;
  AppendDecimal(unscaled, scale, &s);
  return s;
}

Result<int128_t> ParseDecimal(std::string_view text, int precision, int scale) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidData("invalid decimal '" + std::string(text.substr(0, 64)) + "' for decimal(" +
                               std::to_string(precision) + "," + std::to_string(scale) + "): " +
                               std::string(why));
  };
  size_t i = 0;
  bool neg = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) neg = text[i++] == '-';
  std::string_view intpart, frac;
  size_t start = i;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  intpart = text.substr(start, i - start);
  if (i < text.size() && text[i] == '.') {
    size_t fs = ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    frac = text.substr(fs, i - fs);
  }
  if (intpart.empty() && frac.empty()) return bad("no digits");
  int exponent = 0;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) eneg = text[i++] == '-';
    size_t es = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - es < 4) {
      exponent = exponent * 10 + (text[i] - '0');
      ++i;
    }
    if (i == es) return bad("bad exponent");
    if (eneg) exponent = -exponent;
  }
  if (i != text.size()) return bad("unexpected character");
  // value = digits(intpart frac) * 10^(exponent - len(frac)); we need it * 10^scale.
  int shift = scale + exponent - static_cast<int>(frac.size());
  int128_t acc = 0;
  const int128_t limit = MaxDecimalMagnitude(precision);
  int digits_seen = 0;
  auto push = [&](char c) -> bool {
    if (acc == 0 && c == '0') return true;
    if (++digits_seen > 38) return false;
    acc = acc * 10 + (c - '0');
    return true;
  };
  for (char c : intpart) if (!push(c)) return bad("too many digits");
  for (char c : frac) if (!push(c)) return bad("too many digits");
  if (shift < 0) {
    // Dropping digits is only allowed when they are zeros.
    for (int k = 0; k < -shift; ++k) {
      if (acc % 10 != 0) return bad("more fractional digits than the scale allows");
      acc /= 10;
    }
  } else if (acc != 0) {
    if (shift > 38 || digits_seen + shift > 38) return bad("out of range");
    acc *= Pow10(shift);
  }
  if (acc > limit) return bad("out of range for the precision");
  return neg ? -acc : acc;
}

}  // namespace sluice
