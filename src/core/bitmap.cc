#include "core/bitmap.h"

#include <bit>
#include <cstring>

namespace sluice::bit {

int64_t CountSet(const uint8_t* bits, int64_t length) {
  int64_t count = 0;
  int64_t i = 0;
  for (; i + 64 <= length; i += 64) {
    uint64_t w;
    std::memcpy(&w, bits + i / 8, 8);
    count += std::popcount(w);
  }
  for (; i < length; ++i) count += Get(bits, i);
  return count;
}

}  // namespace sluice::bit
