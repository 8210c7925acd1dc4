#pragma once

#include <string_view>

namespace sluice {

// Strict UTF-8 validation (no overlongs, no surrogates, max U+10FFFF).
bool IsValidUtf8(std::string_view s);

}  // namespace sluice
