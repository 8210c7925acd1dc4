// Typed values of the flags several commands share (copy/export/import and
// demo), parsed once so every command accepts and rejects them the same way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cli/args.h"
#include "core/status.h"
#include "formats/part/part.h"
#include "pipeline/progress.h"

namespace sluice::cli {

// `text` as an integer > 0; the error names --flag.
Result<int64_t> PositiveInt(const std::string& text, std::string_view flag);

// Each leaves `*out` unchanged when the flag is absent.
Status ParseWorkersFlag(const ParsedArgs& args, int* out);              // --workers, 1..1024
Status ParsePartSizeFlag(const ParsedArgs& args, int64_t* out);         // --part-size, >= 1KiB
Status ParseCompressionFlag(const ParsedArgs& args, part::Compression* out);
// --progress auto (default) | always | never.
Result<pipeline::ProgressMode> ParseProgressFlag(const ParsedArgs& args);

}  // namespace sluice::cli
