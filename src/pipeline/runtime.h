// The runtime: moves a table from a Source to parts (export), from parts to a
// Sink (import), or from a Source straight to a Sink (copy), on threads joined
// by bounded queues.
//
//   export:  reader ──chunks──▶ E encoders ──parts──▶ writer ──▶ PartPublisher
//            (cuts parts) queue  (EncodePart)   queue  (end part last)
//   import:  PartSubscriber ──▶ N workers: decode, SinkWriter::ApplyPart, Ack
//   copy:    R readers (one split each) ──chunks──▶ N workers: ApplyPart
//
// Export encodes native parts with E = `workers` encoders in parallel (parts
// may reach the publisher out of order; the end part, which lists them all,
// comes last), or TDTP packets with one sequential packet writer when the
// publisher asks for PartEncoding::Format::kTdtp. Import decodes both.
//
// Guarantees:
// * Memory in flight is bounded by part size × queue depth (plus one source
//   batch per reader), whatever the table size; the first part is published
//   while the table is still being read.
// * Each part is applied atomically with its idempotency key (SinkWriter
//   contract); a part already in the sink's ledger is counted as a duplicate,
//   so re-running a killed import or copy is exact.
// * Cancellation (RunOptions::stop_requested, e.g. set by a SIGINT handler)
//   and the first fatal error stop every stage between batches/parts: no
//   stage leaves a half-written part or a half-applied transaction; parts
//   received but not applied are handed back to the transport (requeue).
// * Errors are captured in the thread where they happen, given context
//   ("import worker 2: part /x/s_part_000004.part: ..."), and the first one is
//   returned; later ones only cancel (they are logged at debug level).
// * Transient failures (StatusCode::kRetryable) are retried with backoff.
//
// Thread safety: each Run* call is self-contained; the endpoints passed in
// must not be used by anything else while it runs. The Run* functions call
// Open/Close (and Commit) on the endpoints themselves.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "connectors/connector.h"
#include "formats/part/part.h"
#include "pipeline/incremental.h"
#include "pipeline/progress.h"
#include "pipeline/stats.h"

namespace sluice::pipeline {

// The run log and incremental state of a run (copy, import).
struct StateOptions {
  StateTables tables;
  // Append this run to the run log (tables.run_log).
  bool run_log = true;
  // Copy only: read what is new since the last run (see incremental.h).
  std::optional<IncrementalOptions> incremental;
  // Opens the store used when the sink keeps none of its own (it is not a
  // database): a local state file. Empty: no store, so no run log, and an
  // incremental run is an error.
  std::function<Result<std::unique_ptr<StateStore>>()> fallback_store;
  // Pre-filled run log fields: pipeline, stream, source, destination.
  RunRecord run;
};

enum class ErrorPolicy {
  kFail,      // the first failing part stops the run (exit code 1)
  kSkipPart,  // a failing part is skipped, listed in the stats and copied to reject_dir
};
Result<ErrorPolicy> ParseErrorPolicy(std::string_view text);  // "fail", "skip-part"

struct RunOptions {
  // Import/copy workers applying parts, export encoders (0 = number of
  // cores). Copy also runs up to this many split readers.
  int workers = 0;
  // Target uncompressed size of a part (export) or of a copy chunk.
  int64_t part_bytes = part::kDefaultTargetPartBytes;
  // part_bytes was given by the user (--part-size); otherwise copy takes the
  // sink's PreferredPartBytes() when it has one.
  bool part_bytes_explicit = false;
  part::Compression compression = part::Compression::kZstd;
  int compression_level = 1;
  // Rows per batch requested from sources.
  int64_t batch_rows = 16384;
  // Export: the first part is cut right after the first batch, which sources
  // that can are asked to keep this small, so the first part leaves within
  // milliseconds of the first row read (0 = no special first part).
  int64_t first_part_rows = 1024;
  // Items in flight between two stages (each about part_bytes at most).
  int queue_depth = 4;
  // Copy reads the source as this many splits (when the source can split).
  // Fixed rather than derived from `workers`, so the chunk ids — and hence a
  // resumed copy — do not depend on the worker count.
  int copy_splits = 16;
  ErrorPolicy on_error = ErrorPolicy::kFail;
  // Where skipped parts are copied (created on demand); empty = only listed.
  std::string reject_dir;
  // kRetryable failures are retried this many times, waiting
  // retry_backoff_ms, 4×, 16×, ... in between.
  int max_retries = 3;
  int64_t retry_backoff_ms = 100;
  // Set to true from anywhere (a signal handler) to stop the run cleanly.
  const std::atomic<bool>* stop_requested = nullptr;
  // How long an import worker waits in PartSubscriber::Receive per call.
  int64_t receive_wait_ms = 200;
  // Called about every progress_interval_ms from the supervising thread.
  std::function<void(const ProgressSnapshot&)> on_progress;
  int64_t progress_interval_ms = 100;
  // Run log and incremental state (copy, import); null: none.
  const StateOptions* state = nullptr;
  // Limit on one received part's decoded size.
  int64_t max_part_bytes = part::kDefaultMaxUncompressedBytes;
};

// Each returns the first fatal error (kCancelled when stopped) and fills
// `stats` in every case (partial numbers when it failed). The caller sets
// stats->source / destination for the summary.
Status RunExport(Source* source, PartPublisher* publisher, const RunOptions& options,
                 RunStats* stats);
Status RunImport(PartSubscriber* subscriber, Sink* sink, const RunOptions& options,
                 RunStats* stats);
Status RunCopy(Source* source, Sink* sink, const RunOptions& options, RunStats* stats);
// Parts from a subscriber (a parts directory, a topic, a queue) to a
// publisher unchanged — same bytes, stream ids and idempotency keys; each
// received part is acked only after the publisher flushed it.
Status RunRelay(PartSubscriber* subscriber, PartPublisher* publisher, const RunOptions& options,
                RunStats* stats);

// The stream id an export of the source with `fingerprint` uses: 16 hex
// digits, the same for every export of the same source snapshot.
std::string StreamIdFor(std::string_view fingerprint);

}  // namespace sluice::pipeline
