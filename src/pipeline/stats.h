// What a run did, for the summary table (stderr) and --stats-json.
//
// Units: bytes are part bytes as written or read (export/import) or the
// in-memory column bytes moved (copy); MB = 10^6 bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::pipeline {

struct RunStats {
  std::string command;      // "export", "import", "copy"
  std::string output_type;  // "parts (directory)", "sqlite", ...
  std::string source;       // redacted URIs
  std::string destination;
  int workers = 0;

  int64_t rows = 0;    // rows written to the destination by this run
  int64_t parts = 0;   // data parts (or copy chunks) written by this run
  int64_t bytes = 0;
  double duration_s = 0;
  double first_part_ms = -1;  // time to the first part written; < 0: none
  int64_t errors = 0;         // failed parts (skipped or fatal)
  int64_t skipped_parts = 0;  // --on-error skip-part
  std::vector<std::string> skipped;  // names of the skipped parts
  std::vector<std::string> rejected_files;  // their copies in --reject-dir
  int64_t duplicates = 0;      // parts already in the destination's ledger
  int64_t duplicate_rows = 0;  // rows of those parts (not written again)
  int64_t retries = 0;         // retried transient failures
  int64_t incomplete_streams = 0;  // import: streams without all their parts
  int64_t peak_rss_bytes = 0;
  // State (run log / incremental); empty or < 0 when the run kept none.
  std::string run_id;             // the run's row in the run log
  bool incremental = false;
  std::string watermark_before;   // incremental: empty on the first run
  std::string watermark_after;
  int64_t rows_read = -1;         // incremental: rows the source returned
  int64_t rows_unchanged = -1;    // incremental: re-read rows already applied (dropped)
  bool cancelled = false;
  std::string error;  // the first error, empty on success

  double rows_per_s() const;
  double mb_per_s() const;

  // One JSON object with the keys rows, parts, bytes, duration_s,
  // first_part_ms (null when no part), rows_per_s, mb_per_s, peak_rss_bytes,
  // errors, skipped_parts, skipped, rejected_files, duplicates,
  // duplicate_rows, retries, incomplete_streams, workers, cancelled, error,
  // command, output_type, source, destination, run_id (null without a run
  // log) and, for incremental runs, an "incremental" object with
  // watermark_before (null on the first run), watermark_after, rows_read and
  // rows_unchanged.
  std::string ToJson() const;
  // The human summary ("--- Export Results ---" and aligned "Key: value" lines).
  std::string ToTable() const;
};

// Peak resident set size of this process so far (VmHWM), in bytes.
int64_t PeakRssBytes();

// "127ms", "4.52s", "3m07s".
std::string FormatDuration(double seconds);
// "23.1 MB".
std::string FormatMegabytes(int64_t bytes);
// Appends `s` as a JSON string literal (quoted, escaped; invalid UTF-8 bytes
// become U+FFFD so the output is always valid JSON).
void AppendJsonString(std::string_view s, std::string* out);

}  // namespace sluice::pipeline
