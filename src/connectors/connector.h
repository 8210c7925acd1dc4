// The one Source and one Sink interface every connector implements, the part
// transport interfaces (publisher/subscriber) for parts:/// and brokers, and
// the registry that maps URI schemes to them (filled in one place: registry.cc).
//
// Lifecycle (both sides): Make (from a URI + options, no I/O) → Open (connect,
// discover or create schema) → read/write → Commit → Close. Fallible work is in
// Open/Commit/Close, never in destructors; a destructor of an un-committed sink
// leaves the target as it was before the run (or with only whole parts applied).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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
  // When > 0, each reader's first batch holds at most this many rows, so the
  // first part can leave before a whole batch is read (streaming export).
  // Sources that cannot honour it ignore it.
  int64_t first_batch_rows = 0;
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
  // Identifies what is read and from which snapshot or version
  // ("postgres://h/db?table=t#xmax=1234"): a re-read gets the same
  // fingerprint only while nothing it depends on moved. Export stream ids
  // derive from it (one export run = one stream).
  virtual std::string Fingerprint() const = 0;
  // What is read, without the snapshot or version ("postgres://h/db?table=t"):
  // stays the same across re-reads of the same table, file or query even when
  // the database or file changed. Part idempotency keys combine it with the
  // part's number and a digest of its rows (part::ContentIdempotencyKey), so
  // re-reading unchanged rows yields the same keys although the fingerprint
  // moved (e.g. PostgreSQL's xmax after any write in the cluster). Distinct
  // tables, files and queries have distinct identities (identical rows at the
  // same position of two sources sharing one would count as one part).
  // Valid after Open.
  virtual std::string Identity() const { return Fingerprint(); }
  virtual std::optional<int64_t> EstimatedRows() const { return std::nullopt; }
  // Incremental reads: asks the source to return only rows whose column
  // `column` is >= `lower_bound` (canonical text of that column's type, see
  // core/text.h); rows where it is NULL may be dropped too. Called after Open,
  // before Plan. Returns true when the source will filter (pushed into its
  // query), false when it cannot; the runtime filters every row itself either
  // way, so this is only a saving, never what correctness rests on.
  virtual Result<bool> SetLowerBound(const std::string& column, const std::string& lower_bound) {
    (void)column;
    (void)lower_bound;
    return false;
  }
  virtual Status Close() { return Status::OK(); }
};

// ---------------------------------------------------------------------------
// State kept next to the data: incremental watermarks and the run log.

// Where one incremental stream stands (pipeline/incremental.h fills it).
// Connectors store and return it verbatim.
struct StreamState {
  std::string stream;      // the stream's name (--stream)
  std::string key_column;  // the incremental key column
  std::string key_type;    // its type (DataType::ToString) when the state was written
  std::string watermark;   // canonical text of the highest key value applied
  std::string digests;     // binary: the rows applied in the look-back window (dedup)
};

// One row of the run log (sluice_run_log).
struct RunRecord {
  std::string run_id;       // 32 hex digits, unique per run
  std::string pipeline;     // --name (default: the command)
  std::string stream;       // the stream / target name
  std::string command;      // copy, import
  std::string source;       // URIs without passwords
  std::string destination;
  std::string started_at;   // ISO 8601 UTC, microseconds
  std::string finished_at;  // empty while running
  int64_t rows_read = 0;
  int64_t rows_written = 0;
  int64_t parts = 0;
  int64_t bytes = 0;
  std::string status;  // running, succeeded, failed, cancelled
  std::string error;
  std::string watermark_before;
  std::string watermark_after;
};

// Names of the state tables a StateStore keeps in its database.
struct StateTables {
  std::string state = "sluice_state";
  std::string run_log = "sluice_run_log";
};

// Watermarks and the run log in a database: the sink's own target database
// (Sink::OpenStateStore) or a local SQLite state file. Creates its tables on
// first use. Not thread-safe: one thread (the run's supervisor) uses it.
class StateStore {
 public:
  virtual ~StateStore() = default;
  virtual Result<std::optional<StreamState>> LoadState(const std::string& stream) = 0;
  // Stores `state` in a transaction of its own. Database sinks do not need
  // it for copy: their writers commit the state with the run's last part
  // (PartInfo::state); the local state file uses it after Sink::Commit.
  virtual Status SaveState(const StreamState& state) = 0;
  // Appends the run's row (status "running") / updates it when the run ends.
  virtual Status StartRun(const RunRecord& run) = 0;
  virtual Status FinishRun(const RunRecord& run) = 0;
  // The newest `limit` runs, newest first; of one stream when it is not empty.
  virtual Result<std::vector<RunRecord>> ListRuns(const std::string& stream, int limit) = 0;
  virtual Status Close() { return Status::OK(); }
};

// One unit the sink applies atomically: a part (or, for `copy`, an in-memory
// chunk the runtime numbers the same way).
struct PartInfo {
  std::string part_id;    // idempotency key; the sink's ledger remembers applied ids
  std::string stream_id;
  int64_t part_number = 0;
  int64_t rows = 0;
  // When set (incremental runs: the run's last part), the writer stores this
  // state in the sink's state table in the same transaction as the part,
  // and also when the part itself is already in the ledger. Only passed to
  // sinks whose OpenStateStore returned a store.
  const StreamState* state = nullptr;
};

enum class ApplyOutcome { kApplied, kAlreadyApplied };

// The soft_delete=COL rule every sink that supports it applies: a row whose
// flag column is set (non-NULL; true for a boolean) deletes the target row
// with its key instead of being written. (PostgreSQL states the same rule in
// SQL: `IS TRUE` / `IS NOT NULL`.)
inline bool SoftDeleted(const Column& flag, int64_t row) {
  if (flag.IsNull(row)) return false;
  return flag.type.id != TypeId::kBool || flag.BoolValue(row);
}

// The check every SinkWriter::ApplyPart makes first: each batch has the
// columns and types the sink was opened with. Errors start with `context`
// ("postgres sink ... part <id>") and name the column.
Status CheckBatchesMatch(const Schema& schema, const std::vector<RecordBatch>& batches,
                         const std::string& context);

// Applies parts. Not thread-safe; the runtime creates one per worker thread.
// Consecutive parts handed to SinkWriter::ApplyParts one at a time: a part's
// batches stay valid until the next call of Next, and are released then, so
// a run of parts never sits in memory whole.
class PartFeed {
 public:
  virtual ~PartFeed() = default;
  struct Item {
    PartInfo info;
    const std::vector<RecordBatch>* batches = nullptr;
    int64_t bytes = 0;  // in-memory column bytes of the batches
  };
  static constexpr std::chrono::milliseconds kWaitForever{-1};
  // The next part, waiting at most `wait` for one (kWaitForever: as long as
  // it takes), or nullptr when there are no more or none came in time. An
  // error (the run was stopped, a part could not be keyed) ends the run.
  virtual Result<const Item*> Next(std::chrono::milliseconds wait) = 0;
};

class SinkWriter {
 public:
  virtual ~SinkWriter() = default;
  // Applies all `batches` of one part atomically together with its ledger
  // entry: after a crash either the whole part and its id are there, or
  // neither. A part whose id is already in the ledger is skipped.
  virtual Result<ApplyOutcome> ApplyPart(const PartInfo& part,
                                         const std::vector<RecordBatch>& batches) = 0;

  // Whether ApplyParts is worth calling: writers whose destination pays a
  // high cost per write (ClickHouse: every INSERT is new data parts on disk)
  // send several parts in one. Such parts cannot be sent again from memory:
  // if ApplyParts fails, the run fails, and its re-run applies what is left.
  virtual bool GroupsParts() const { return false; }
  // Takes parts from `feed` as long as the writer wants (at least one) and
  // applies them; returns the outcome of each part taken, in order. Each
  // part is applied exactly once as ApplyPart would, whatever happens; on
  // an error, some of the parts taken may be applied (the ledger knows).
  virtual Result<std::vector<ApplyOutcome>> ApplyParts(PartFeed* feed) {
    SLUICE_ASSIGN_OR_RETURN(const PartFeed::Item* item, feed->Next(PartFeed::kWaitForever));
    if (item == nullptr) return std::vector<ApplyOutcome>{};
    SLUICE_ASSIGN_OR_RETURN(ApplyOutcome outcome, ApplyPart(item->info, *item->batches));
    return std::vector<ApplyOutcome>{outcome};
  }
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
  // The chunk size `copy` uses when --part-size is not given (0: the
  // runtime's default), for destinations with a high fixed cost per applied
  // part (ClickHouse writes every INSERT as new data parts on disk). A
  // function of the sink's options only: chunk ids depend on it.
  virtual int64_t PreferredPartBytes() const { return 0; }
  // Makes the run's result visible (swap staged table, rename file). Idempotent.
  virtual Status Commit() = 0;
  virtual Status Close() { return Status::OK(); }
  // A store for watermarks and the run log in the target database, on its
  // own connection, or nullptr when the sink is not a database (the caller
  // then uses a local state file). Called before NewWriter (after Open in a
  // run; without Open to only read the run log: `sluice runs`); the sink's
  // writers then honour PartInfo::state using `tables.state`.
  virtual Result<std::unique_ptr<StateStore>> OpenStateStore(const StateTables& tables) {
    (void)tables;
    return std::unique_ptr<StateStore>();
  }
};

// ---------------------------------------------------------------------------
// Part transports: carry encoded parts (bytes of the part format) from an
// export to an import — a directory (parts:///dir) or a message broker. The
// runtime owns encoding, decoding, retries and the error policy; a transport
// only moves whole parts and tracks their delivery.
//
// Delivery contract (what makes "no loss, no duplicates" hold end to end):
// a publisher makes each part visible whole or not at all; a subscriber keeps
// a part pending until Ack(), which the runtime calls only after the sink
// committed the part (or found its idempotency key already in its ledger).
// A part received but never acked (crash, cancellation, failed apply) must be
// delivered again to a later subscriber (broker redelivery, or simply still
// being in the directory); the sink ledger turns the redelivery into a skip.

// The fields of a part header a transport may use for naming, routing and
// partitioning (e.g. Kafka message key = stream_id keeps a stream in order in
// one partition), without depending on the part codec.
struct PartMeta {
  std::string stream_id;
  int64_t part_number = 0;      // 1-based; the end part is total_parts + 1
  int64_t total_parts = 0;      // 0 while streaming; set in the end part
  int64_t rows = 0;
  std::string idempotency_key;  // stable across re-exports of the same source part
  bool end_of_stream = false;   // the end part (no rows; closes the stream)
};

// How the runtime encodes the parts a publisher carries.
struct PartEncoding {
  enum class Format {
    kPart,  // the native part format (Arrow IPC stream + sluice header)
    kTdtp,  // TDTP XML packets, for consumers built on the TDTP framework
            // (no end part: TDTP has none; TotalParts = 0 while streaming).
            // After the last packet the runtime calls Publish once more
            // with PartMeta::end_of_stream, total_parts and no bytes: the
            // publisher may finalize what it sent (a directory rewrites its
            // packets with <TotalParts> as _part_N_of_T) or ignore it.
  };
  Format format = Format::kPart;
  std::string table_name = "data";  // kTdtp: <TableName>, and the file name stem
};

// Sends parts. Thread safety: all calls from one thread (the runtime's writer
// stage); Publish is never called concurrently with itself.
class PartPublisher {
 public:
  virtual ~PartPublisher() = default;
  // Connects / creates the target (directory, topic, queue).
  virtual Status Open() = 0;
  // Hands one whole part to the transport. Subscribers see all of it or none
  // of it (temp file + rename; one broker message). May return before the
  // part is durable (asynchronous producers); Flush() waits for that and
  // reports errors of earlier Publish calls.
  virtual Status Publish(const PartMeta& meta, std::string_view bytes) = 0;
  // Returns once every part published so far is durable (fsynced, acked by
  // the broker).
  virtual Status Flush() = 0;
  virtual Status Close() = 0;
  // For the run summary: "parts (directory)", "kafka topic".
  virtual std::string kind() const = 0;
  // The encoding this transport wants (a URI option such as ?format=tdtp).
  virtual PartEncoding encoding() const { return {}; }
};

// One part as a subscriber delivered it.
struct ReceivedPart {
  std::shared_ptr<Buffer> bytes;
  // For errors, logs and the reject directory: a file path, "topic[3]@1207".
  std::string name;
  // Transport-defined handle handed back to Ack/Reject (file index, Kafka
  // offset, AMQP delivery tag).
  uint64_t delivery_tag = 0;
  // > 1 when the transport knows this is a redelivery (the sink ledger makes
  // it harmless; the count shows up in the stats).
  int delivery_attempt = 1;
  // Set when the transport built the part itself (row messages batched into
  // a part) and that failed: `bytes` then hold what was received, and the
  // runtime handles the part as one that failed to decode (fail the run, or
  // skip it to the reject directory under skip-part).
  Status decode_error;
};

struct Delivery {
  enum class State {
    kPart,  // `part` holds a part
    kIdle,  // nothing arrived within the wait; call again
    kEnd,   // the subscription has no more parts (directory listed to its end)
  };
  State state = State::kEnd;
  ReceivedPart part;
};

// Receives parts, possibly as one member of a consumer group (several
// processes each receiving a share). Thread safety: after Open, Receive, Ack
// and Reject may be called concurrently from the runtime's import workers;
// Open and Close from one thread while no worker runs.
class PartSubscriber {
 public:
  virtual ~PartSubscriber() = default;
  virtual Status Open() = 0;
  // Waits up to `max_wait_ms` for the next part. Returning kIdle regularly
  // lets the runtime check for cancellation and for completed streams (every
  // stream seen has its end part and all its data parts applied), which ends
  // an import from an unbounded broker subscription.
  virtual Result<Delivery> Receive(int64_t max_wait_ms) = 0;
  // The sink committed the part (or already had it): the transport may
  // forget it (commit the offset, basic.ack, delete the file when asked to).
  virtual Status Ack(const ReceivedPart& part) = 0;
  // The part will not be applied now. requeue = true: deliver it again later
  // (the run stopped before applying it); false: drop or dead-letter it (the
  // runtime already copied it to the reject directory).
  virtual Status Reject(const ReceivedPart& part, bool requeue) = 0;
  virtual Status Close() = 0;
  // For the run summary: "parts (directory)", "kafka topic".
  virtual std::string kind() const = 0;
  // True when this subscriber receives every part of each stream it sees (a
  // directory; a Kafka partition keyed by stream id). False for competing
  // consumers that share a stream's parts (RabbitMQ work queues): the
  // runtime then neither waits for nor reports the parts other consumers
  // got, and the subscriber itself decides when to return kEnd.
  virtual bool delivers_whole_streams() const { return true; }
  // Whether an import that receives nothing at all is an error (a parts
  // directory that is empty: likely a wrong path) or a normal outcome (a
  // broker subscription with nothing new since the last run: 0 rows, exit 0).
  virtual bool empty_origin_is_error() const { return true; }
  // True when the subscription never ends by itself (following a topic or
  // queue): a stop request (SIGINT) is then its normal end, and the import
  // still commits the destination (e.g. adds a deferred primary key).
  virtual bool follows() const { return false; }
  // Called once before Open with the number of workers that will call
  // Receive (an upper bound): a subscriber may size what it reads ahead by
  // it.
  virtual void SetWorkers(int workers) { (void)workers; }
};

struct ConnectorInfo {
  std::string scheme;
  std::string summary;  // one line for `sluice --help`
  // Options of the endpoint used as a source (`copy SRC`, `export SRC`,
  // and as a part subscriber: `import FROM`) and as a destination (`copy ..
  // DST`, `import .. --into DST`, and as a part publisher: `export --to`).
  OptionSpecs source_options;
  OptionSpecs sink_options;
  // Any factory may be empty (source-only, sink-only, transport-only).
  std::function<Result<std::unique_ptr<Source>>(const Uri&, const Options&)> make_source;
  std::function<Result<std::unique_ptr<Sink>>(const Uri&, const Options&)> make_sink;
  std::function<Result<std::unique_ptr<PartPublisher>>(const Uri&, const Options&)> make_publisher;
  std::function<Result<std::unique_ptr<PartSubscriber>>(const Uri&, const Options&)> make_subscriber;
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
  // The same for part transports (options: source_options for subscribers,
  // sink_options for publishers).
  Result<std::unique_ptr<PartPublisher>> MakePublisher(
      std::string_view uri,
      const std::vector<std::pair<std::string, std::string>>& extra = {}) const;
  Result<std::unique_ptr<PartSubscriber>> MakeSubscriber(
      std::string_view uri,
      const std::vector<std::pair<std::string, std::string>>& extra = {}) const;

 private:
  std::vector<ConnectorInfo> connectors_;
};

// Defined in registry.cc (library sluice_connectors): the single place where
// built-in connectors register. The Registry class itself lives in
// sluice_connector_api so a connector's own tests can fill a private one.
void RegisterBuiltinConnectors(Registry* registry);

}  // namespace sluice
