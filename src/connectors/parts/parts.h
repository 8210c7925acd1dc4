// parts:///dir — a directory of part files, the simplest part transport.
//
//   export --to parts:///out      one file per part, "<stream_id>_part_<NNNNNN>.part",
//                                 end-of-stream part included; each written to a
//                                 temp name and renamed, so a reader never sees
//                                 half a part (a killed export leaves whole parts
//                                 and no end part)
//   import parts:///out           lists the directory once; workers claim files
//                                 in name order; "ack" = the sink's ledger holds
//                                 the part id (files are kept unless delete=true)
//   copy parts:///a DST           the directory read as a table
//   copy SRC parts:///b           a sink writing one part file per applied
//                                 chunk; an existing file with the same part id
//                                 is the ledger entry (kAlreadyApplied); Commit
//                                 ends each gap-free stream with an end part
//
// With ?format=tdtp an export writes TDTP XML packets ("<table>_part_<n>.tdtp.xml",
// renamed "<table>_part_<n>_of_<T>.tdtp.xml" with <TotalParts> when it completes;
// ?table=<name>) for consumers built on the TDTP framework; import and copy
// read both kinds of file.
//
// Paths: parts:///abs/dir, or parts://rel/dir (host + path) for a relative one.
//
// Thread safety: see the interfaces in connectors/connector.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/connector.h"

namespace sluice {

void RegisterParts(Registry* registry);

namespace parts {

// "<stream_id>_part_<000001>.part" (stream id reduced to [A-Za-z0-9._-]).
std::string PartFileName(std::string_view stream_id, int64_t part_number);
// "<stream_id>_part_": what every file of the stream starts with.
std::string StreamFilePrefix(std::string_view stream_id);

// A part file: "*.part" (native) or "*.tdtp.xml" (TDTP packet).
bool IsPartFileName(std::string_view name);

// The part files of `dir` (regular "*.part" and "*.tdtp.xml" files, temp
// files excluded), sorted by name. NotFound when the directory does not exist.
Result<std::vector<std::string>> ListPartFiles(const std::string& dir);

// The directory a parts:// URI names.
std::string DirectoryOf(const Uri& uri);

}  // namespace parts
}  // namespace sluice
