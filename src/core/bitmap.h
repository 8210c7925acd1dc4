// Validity and boolean bitmaps in the Arrow layout: bit i of byte i/8, LSB first.
#pragma once

#include <cstdint>

namespace sluice::bit {

inline bool Get(const uint8_t* bits, int64_t i) { return (bits[i >> 3] >> (i & 7)) & 1; }
inline void Set(uint8_t* bits, int64_t i) { bits[i >> 3] |= static_cast<uint8_t>(1u << (i & 7)); }
inline void Clear(uint8_t* bits, int64_t i) {
  bits[i >> 3] &= static_cast<uint8_t>(~(1u << (i & 7)));
}
inline int64_t BytesFor(int64_t bits) { return (bits + 7) / 8; }
// Number of set bits among the first `length` bits.
int64_t CountSet(const uint8_t* bits, int64_t length);

}  // namespace sluice::bit
