// `sluice demo`: the main job end to end on the embedded default, with no
// server anywhere, in one process:
//
//   1. generate  gen:///?schema=mixed (NULLs, unicode, decimals, timestamps
//                with zone, blobs) → DIR/source.db, table "demo"   (RunCopy)
//   2. export    DIR/source.db → parts:///DIR/parts                 (RunExport)
//   3. import    parts:///DIR/parts → DIR/target.db with N workers  (RunImport)
//   4. verify    row counts and a content checksum of both tables, computed
//                with the plain SQLite C API (not through sluice's readers),
//                "MATCH" or "MISMATCH" (exit code 1)
//
// Each step's summary table goes to stderr like every other command's; the
// verification block and the overall summary (wall time, peak RSS) go to
// `out` (stdout). DIR is kept for inspection unless --cleanup is given.
//
// Memory: the demo caps the SQLite page cache of its sinks and reads the
// source without mmap, so the process's peak RSS is bounded by the runtime's
// queues (part size × queue depth) and does not grow with --rows.
//
// Thread safety: RunDemo installs the process-wide stop handlers (Ctrl-C)
// and must not run concurrently with another command in the same process.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/args.h"
#include "core/status.h"
#include "formats/part/part.h"
#include "pipeline/progress.h"

namespace sluice::cli {

struct DemoOptions {
  int64_t rows = 1000000;
  // Import workers and export encoders; the generating copy uses at most 2
  // (SQLite takes one writer at a time, more would only add memory).
  int workers = 4;
  // Where source.db, parts/ and target.db go; empty = a new directory
  // "sluice-demo-XXXXXX" under $TMPDIR (or /tmp). An existing DIR must not
  // already hold any of the three.
  std::string dir;
  // Delete what the demo created when it succeeded (kept after a failure).
  bool cleanup = false;
  int64_t part_bytes = part::kDefaultTargetPartBytes;
  part::Compression compression = part::Compression::kZstd;
  pipeline::ProgressMode progress = pipeline::ProgressMode::kAuto;
  // Statistics of every step and the verification as one JSON object ("-" = stdout).
  std::string stats_json;
  // No step summary tables (the verification block is still printed).
  bool quiet = false;
  // SQLite page cache of each sink connection. SQLite keeps written pages
  // cached up to this size per connection, so it is the one term of the
  // demo's memory that would otherwise grow with the table (5 connections
  // × the connector's 64MiB default).
  int64_t sqlite_cache_bytes = int64_t{8} << 20;
};

// The content of one SQLite table, read with the SQLite C API alone.
struct TableDigest {
  int64_t rows = 0;
  // "xxh3-128:" + 32 hex digits: XXH3-128 over the column names and
  // declared types, then every row in primary-key order (all columns when
  // there is no key), each value as its storage class followed by its
  // stored bytes (INTEGER: 8 bytes little-endian, REAL: the 8 IEEE-754
  // bytes, TEXT/BLOB: length + bytes, NULL: nothing). Two tables get equal
  // digests exactly when SQLite holds the same values of the same storage
  // classes in them, row for row.
  std::string checksum;
};

// Streams `table` of the database file `path` (opened with query_only; it
// must exist) through the digest; memory stays constant whatever the table size. `stop`, when
// set, is checked every few thousand rows (kCancelled).
Result<TableDigest> DigestSqliteTable(const std::string& path, const std::string& table,
                                      const std::atomic<bool>* stop = nullptr);

// Runs the demo and returns the process exit code: 0 when the checksums
// match, 1 on a mismatch or a runtime failure, 2 on a usage error,
// 128 + signal after Ctrl-C / SIGTERM. Errors are printed to stderr.
int RunDemo(const DemoOptions& options, FILE* out);

// The command's own flags (the CLI adds the logging flags) and its entry
// point for the CLI's command table.
const std::vector<FlagSpec>& DemoFlags();
int CmdDemo(const ParsedArgs& args);

}  // namespace sluice::cli
