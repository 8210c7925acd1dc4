// Incremental runs: read only what is new since the last run, without the
// holes watermark-only sync has (a transaction that commits after a later
// one) and without applying a row twice.
//
//   lower bound  = watermark − lookback (inclusive): rows whose key is in the
//                  look-back window are read again, so a late-committing row
//                  with a key a little below the watermark is not missed;
//   de-duplication: the state keeps a digest (key hash → row hash) of every
//                  row applied within the look-back window below the
//                  watermark; a re-read row with an unchanged digest is
//                  dropped before it reaches the sink, a changed one goes
//                  through (the sink upserts it by key);
//   new watermark = the highest key value read.
//
// The tracker filters every row itself (sources may also push the lower bound
// into their query: Source::SetLowerBound), so correctness does not depend on
// the source. Rows with a NULL key are read by the first run only.
//
// Thread safety: Filter may be called concurrently from reader threads; the
// rest from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "connectors/connector.h"
#include "core/batch.h"

namespace sluice::pipeline {

struct IncrementalOptions {
  std::string stream;      // the state's name
  std::string key_column;  // integer, date or timestamp column
  // Look-back: a duration for date/timestamp keys ("90s", "5m", "1h30m",
  // "2d", "250ms"; whole days for dates, rounded up), an integer for integer
  // keys. Empty = 0 (only rows with key >= watermark).
  std::string lookback;
  // Columns identifying a row for de-duplication; empty = the schema's
  // primary key, and when it has none, the whole row.
  std::vector<std::string> dedup_key;
};

// Parses a look-back duration to microseconds ("1h30m", "250ms", "2d").
Result<int64_t> ParseDurationMicros(std::string_view text);

class IncrementalTracker {
 public:
  // `previous` is the state the last successful run left (nullopt: first
  // run). Errors: the key column is missing or of an unsupported type, the
  // stored state was written for another key column or type, the look-back
  // does not parse, corrupt digests.
  static Result<std::unique_ptr<IncrementalTracker>> Make(
      std::shared_ptr<const Schema> schema, IncrementalOptions options,
      std::optional<StreamState> previous);

  // Canonical text of the lowest key value to read (inclusive), or nullopt
  // on the first run.
  const std::optional<std::string>& lower_bound() const { return lower_bound_text_; }

  // The rows of `batch` to apply: those in the window and not already
  // applied unchanged. Returns the batch itself when every row is kept.
  Result<RecordBatch> Filter(const RecordBatch& batch);

  // The state to commit after the run; advanced() is false when nothing new
  // was read (the state need not be written).
  StreamState Final();
  bool advanced() const;
  const std::string& watermark_before() const { return before_text_; }
  std::string watermark_after() const;

  int64_t rows_seen() const;
  int64_t rows_kept() const;
  int64_t rows_duplicate() const;  // dropped: applied before, unchanged
  int64_t rows_outside() const;    // dropped: below the window or NULL key

 private:
  struct Entry {
    int64_t key;
    uint64_t row_hash;
  };
  IncrementalTracker() = default;
  int64_t Ordinal(const Column& col, int64_t row) const;
  std::string OrdinalText(int64_t v) const;
  void PruneLocked();

  std::shared_ptr<const Schema> schema_;
  IncrementalOptions options_;
  int key_index_ = -1;
  DataType key_type_;
  std::vector<int> id_columns_;  // empty: the whole row
  int64_t lookback_ = 0;         // in key units (micros, days or integers)
  bool first_run_ = true;
  int64_t before_ = 0;           // previous watermark (valid when !first_run_)
  std::string before_text_;
  std::optional<int64_t> lower_bound_;
  std::optional<std::string> lower_bound_text_;

  mutable std::mutex mu_;
  std::unordered_map<uint64_t, Entry> previous_;  // digests loaded from the state
  std::unordered_map<uint64_t, Entry> window_;    // digests of this run (pruned)
  std::optional<int64_t> max_;                    // highest key read
  size_t prune_at_ = 4096;
  int64_t seen_ = 0, kept_ = 0, duplicate_ = 0, outside_ = 0;
};

}  // namespace sluice::pipeline
