#include "cli/flags.h"

#include <charconv>

#include "connectors/options.h"

namespace sluice::cli {

Result<int64_t> PositiveInt(const std::string& text, std::string_view flag) {
  int64_t v = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v <= 0) {
    return Status::InvalidArgument("--" + std::string(flag) + " expects a positive integer, got '" +
                                   text + "'");
  }
  return v;
}

Status ParseWorkersFlag(const ParsedArgs& args, int* out) {
  if (!args.Has("workers")) return Status::OK();
  SLUICE_ASSIGN_OR_RETURN(int64_t w, PositiveInt(args.Get("workers"), "workers"));
  if (w > 1024) return Status::InvalidArgument("--workers: at most 1024");
  *out = static_cast<int>(w);
  return Status::OK();
}

Status ParsePartSizeFlag(const ParsedArgs& args, int64_t* out) {
  if (!args.Has("part-size")) return Status::OK();
  SLUICE_ASSIGN_OR_RETURN(int64_t bytes, ParseSize(args.Get("part-size")));
  if (bytes < 1024) return Status::InvalidArgument("--part-size: at least 1KiB");
  *out = bytes;
  return Status::OK();
}

Status ParseCompressionFlag(const ParsedArgs& args, part::Compression* out) {
  if (!args.Has("compression")) return Status::OK();
  auto c = part::ParseCompression(args.Get("compression"));
  if (!c.ok()) {
    return Status::InvalidArgument("--compression: expected none, lz4 or zstd, got '" +
                                   args.Get("compression") + "'");
  }
  *out = *c;
  return Status::OK();
}

Result<pipeline::ProgressMode> ParseProgressFlag(const ParsedArgs& args) {
  const std::string progress = args.Get("progress", "auto");
  if (progress == "auto") return pipeline::ProgressMode::kAuto;
  if (progress == "always") return pipeline::ProgressMode::kAlways;
  if (progress == "never") return pipeline::ProgressMode::kNever;
  return Status::InvalidArgument("--progress: expected auto, always or never, got '" + progress + "'");
}

}  // namespace sluice::cli
