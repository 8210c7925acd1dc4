// Decoding whatever a part transport carries: native parts (Arrow IPC stream
// with the sluice header) or TDTP XML packets (the TDTP framework's parts),
// told apart by their first bytes. A TDTP packet is presented as a data part
// whose stream id is its MessageID without the "-P<n>" suffix and whose
// idempotency key is IdempotencyKey("tdtp:" + stream id, part number).
//
// Thread safety: reentrant.
#pragma once

#include <memory>
#include <string_view>

#include "core/buffer.h"
#include "formats/part/part.h"

namespace sluice::pipeline {

// True when `bytes` start (after an optional UTF-8 BOM and whitespace) with '<'.
bool LooksLikeXml(std::string_view bytes);

// Decodes a native part or a TDTP packet. `options.expected_schema`, when set,
// must match in column names, types, nullability and keys.
Result<part::DecodedPart> DecodeAnyPart(std::shared_ptr<Buffer> bytes, std::string_view name,
                                        const part::DecodeOptions& options = {});

// "REF-2026-c4d49ebd-P3" -> "REF-2026-c4d49ebd".
std::string_view TdtpStreamId(std::string_view message_id);

}  // namespace sluice::pipeline
