#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice {

void AppendBase64(std::string_view bytes, std::string* out);
std::string Base64Encode(std::string_view bytes);
// Standard alphabet with padding; ASCII whitespace is skipped. Rejects anything else.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace sluice
