// `sluice inspect`: a part file's header and schema, a parts directory's
// streams, or any source endpoint's schema and row count; optionally the
// first rows as JSON Lines.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sluice::cli {

struct InspectOptions {
  int64_t rows = 0;  // print this many rows as JSONL (0 = none)
  std::vector<std::pair<std::string, std::string>> source_options;  // for URI arguments
};

// `target`: a part file path, a directory of parts, or an endpoint URI.
// The report goes to `out`.
Status Inspect(const std::string& target, const InspectOptions& options, FILE* out);

}  // namespace sluice::cli
