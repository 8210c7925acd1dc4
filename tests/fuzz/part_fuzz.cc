// libFuzzer target: DecodePart on arbitrary bytes (parts and plain Arrow
// streams). Any crash, sanitizer report or leak is a bug in the decoder.
#include <cstddef>
#include <cstdint>

#include "formats/part/part.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto buffer = sluice::Buffer::Copy(data, static_cast<int64_t>(size));
  sluice::part::DecodeOptions options;
  options.max_uncompressed_bytes = int64_t{64} << 20;  // keep allocations small
  // Structural checks only: with the checksum on, almost every mutation stops there.
  options.verify_checksum = false;
  options.require_sluice_header = false;
  auto part = sluice::part::DecodePart(buffer, "fuzz", options);
  if (part.ok()) {
    for (const auto& b : part->batches) {
      if (!b.Validate().ok()) __builtin_trap();  // the decoder must only return valid batches
    }
  }
  options.verify_checksum = true;
  options.require_sluice_header = true;
  (void)sluice::part::DecodePart(buffer, "fuzz", options);
  (void)sluice::part::DecodePartHeader(buffer, "fuzz", options);
  return 0;
}
