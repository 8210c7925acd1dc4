// The one Source and one Sink interface every connector implements, and the
// registry that maps URI schemes to them (filled in one place: registry.cc).
//
// Lifecycle (both sides): Make (from a URI + options, no I/O) → Open (connect,
// discover or create schema) → read/write → Commit → Close. Fallible work is in
// Open/Commit/Close, never in destructors; a destructor of an un-committed sink
// leaves the target as it was before the run (or with only whole parts applied).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "connectors/options.h"
#include "connectors/uri.h"
#include "core/batch.h"

namespace sluice {

// A slice of a source that one reader thread reads on its own: a rowid or key
// range, a file, a partition. Opaque to the runtime except for display.
struct Split {
  int index = 0;
  std::string description;    // "rowid 1..250000"
  std::string start, end;     // connector-defined bounds (inclusive start, exclusive end)
  int64_t estimated_rows = -1;
};

// Reads one split. Not thread-safe; one per reader thread.
class SourceReader {
 public:
  virtual ~SourceReader() = default;
  // The next batch (up to the batch size the source was opened with), or
  // std::nullopt when the split is exhausted.
  virtual Result<std::optional<RecordBatch>> Next() = 0;
  // Source position after the last batch returned (rowid, offset, LSN, ...);
  // recorded in part headers as the position range.
  virtual std::string position() const { return {}; }
};

struct SourceOptions {
  int64_t batch_rows = 65536;  // rows per batch handed to the runtime
};

// Thread safety: Open/Plan/Close from one thread; OpenSplit may be called
// concurrently from several reader threads after Open.
class Source {
 public:
  virtual ~Source() = default;
  virtual Status Open(const SourceOptions& options) = 0;
  virtual std::shared_ptr<const Schema> schema() const = 0;
  // Up to `max_splits` splits covering the whole source (at least one).
  virtual Result<std::vector<Split>> Plan(int max_splits) = 0;
  virtual Result<std::unique_ptr<SourceReader>> OpenSplit(const Split& split) = 0;
  // Identifies what is read and from which snapshot, so that re-reading the
  // same data yields the same part idempotency keys ("sqlite:/db?table=t#v42").
  virtual std::string Fingerprint() const = 0;
  virtual std::optional<int64_t> EstimatedRows() const { return std::nullopt; }
  virtual Status Close() { return Status::OK(); }
};

// One unit the sink applies atomically: a part (or, for `copy`, an in-memory
// chunk the runtime numbers the same way).
struct PartInfo {
  std::string part_id;    // idempotency key; the sink's ledger remembers applied ids
  std::string stream_id;
  int64_t part_number = 0;
  int64_t rows = 0;
};

enum class ApplyOutcome { kApplied, kAlreadyApplied };

// Applies parts. Not thread-safe; the runtime creates one per worker thread.
class SinkWriter {
 public:
  virtual ~SinkWriter() = default;
  // Applies all `batches` of one part atomically together with its ledger
  // entry: after a crash either the whole part and its id are there, or
  // neither. A part whose id is already in the ledger is skipped.
  virtual Result<ApplyOutcome> ApplyPart(const PartInfo& part,
                                         const std::vector<RecordBatch>& batches) = 0;
};

// Thread safety: Open/Commit/Close from one thread; NewWriter may be called
// from several threads after Open.
class Sink {
 public:
  virtual ~Sink() = default;
  // Creates or checks the target for `schema` (create table, staging table
  // for replace mode, output directory).
  virtual Status Open(std::shared_ptr<const Schema> schema) = 0;
  virtual Result<std::unique_ptr<SinkWriter>> NewWriter() = 0;
  // How many writers may apply parts at once (1 for a single output file).
  virtual int MaxWriters() const { return 1 << 16; }
  // Makes the run's result visible (swap staged table, rename file). Idempotent.
  virtual Status Commit() = 0;
  virtual Status Close() { return Status::OK(); }
};

struct ConnectorInfo {
  std::string scheme;
  std::string summary;  // one line for `sluice --help`
  OptionSpecs source_options;
  OptionSpecs sink_options;
  // Either factory may be empty (source-only or sink-only connectors).
  std::function<Result<std::unique_ptr<Source>>(const Uri&, const Options&)> make_source;
  std::function<Result<std::unique_ptr<Sink>>(const Uri&, const Options&)> make_sink;
};

class Registry {
 public:
  // The registry with every built-in connector (see registry.cc).
  static const Registry& Global();

  void Add(ConnectorInfo info);
  const ConnectorInfo* Find(std::string_view scheme) const;
  const std::vector<ConnectorInfo>& connectors() const { return connectors_; }

  // Parses the URI, merges its query options with `extra` (CLI
  // flags: a name given in both is an error), validates them
  // against the connector's table and constructs the endpoint.
  Result<std::unique_ptr<Source>> MakeSource(
      std::string_view uri,
      const std::vector<std::pair<std::string, std::string>>& extra = {}) const;
  Result<std::unique_ptr<Sink>> MakeSink(
      std::string_view uri,
      const std::vector<std::pair<std::string, std::string>>& extra = {}) const;

 private:
  std::vector<ConnectorInfo> connectors_;
};

// Defined in registry.cc: the single place where built-in connectors register.
void RegisterBuiltinConnectors(Registry* registry);

}  // namespace sluice
