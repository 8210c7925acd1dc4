// ClickHouse sink: tables created from the schema (MergeTree or, for upsert,
// ReplacingMergeTree), one RowBinary INSERT per part, and one of three
// delivery paths chosen at Open:
//
//   token   the server deduplicates: each INSERT carries
//           insert_deduplication_token = the part's idempotency key, and the
//           table has non_replicated_deduplication_window (set by the sink) or
//           is Replicated*. A re-sent part (retry after a lost response,
//           redelivery after a crash) is dropped by the server, block by block.
//   ledger  the part ledger protocol of ch_ledger.h (servers without the
//           token, e.g. 18.16): a part re-applied after any failure ends up
//           exactly once; see ch_ledger.h.
//   none    plain INSERTs, at-least-once (a retried part may be doubled).
//
// See docs/connectors/clickhouse.md for the guarantees of each path.
#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "connectors/clickhouse/ch_http.h"
#include "connectors/clickhouse/ch_ledger.h"
#include "connectors/clickhouse/ch_rowbinary.h"
#include "connectors/clickhouse/ch_rowbinary_reader.h"
#include "connectors/clickhouse/clickhouse.h"
#include "core/io.h"
#include "core/log.h"

namespace sluice {

namespace {

using Clock = std::chrono::steady_clock;

enum class Mode { kAppend, kUpsert, kReplace };
enum class Dedup { kAuto, kToken, kLedger, kNone };

const char* DedupName(Dedup d) {
  switch (d) {
    case Dedup::kToken:
      return "token";
    case Dedup::kLedger:
      return "ledger";
    case Dedup::kNone:
      return "none";
    case Dedup::kAuto:
      return "auto";
  }
  return "?";
}

struct SinkConfig {
  ChEndpoint endpoint;
  std::string display;  // the URI without password
  std::string table;
  Mode mode = Mode::kAppend;
  std::vector<std::string> order_by;
  std::string partition_by;  // a ClickHouse expression, used as given
  std::string version;       // upsert: ReplacingMergeTree(version)
  bool create = true;
  Dedup dedup = Dedup::kAuto;
  int64_t dedup_window = 10000;
  std::string ledger = "_sluice_ledger";
  int writers = 4;
  bool gzip = true;
  int gzip_level = 1;
  bool native = true;  // format=native (one Native block per part) or rowbinary
  // copy's chunk size when --part-size is not given (PreferredPartBytes):
  // a part in the ledger, and the unit in memory (about 6 chunks in flight
  // with 2 workers: 10M lineitem rows peak at 88 MB with 8 MiB, 167 MB with
  // 16 MiB, equally fast now that chunks are grouped into INSERTs below).
  // With insert_rows=0 each chunk is an INSERT, and bigger is cheaper for
  // the server (1M lineitem rows: 2 MiB chunks 3.5 s of its CPU, 16 MiB 1.6 s).
  int64_t part_bytes = int64_t{8} << 20;
  // copy: consecutive chunks sent in one INSERT (ApplyParts), up to these
  // rows and bytes; on 18.16, 10M lineitem rows as 100 INSERTs of 100k rows
  // cost the server 10-11 s of CPU, as 10 of 1M rows 5.5 s. 0: one each.
  int64_t insert_rows = 1'000'000;
  int64_t insert_bytes = int64_t{256} << 20;
  // dedup=ledger, grouped: a group reads the ids of the target's parts in
  // one query when there are no more than this many (see GroupBody::Known).
  int64_t ledger_snapshot = 50'000;
  ChMappingOptions mapping;
  int64_t settle_ms = 5000;
  int64_t mutation_timeout_ms = 600'000;
  std::string init_sql;  // a file of statements run at every Open (views, ...)
};

// 127.0.0.0/8, ::1 and localhost: the body never crosses a network.
bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

// init_sql files are written by the user, but still read with a bound.
constexpr int64_t kMaxInitSqlBytes = int64_t{1} << 20;

// What the server is and can do, detected once in Open.
struct ServerInfo {
  ChVersion version;
  ChCapabilities caps;
  bool has_token = false;           // setting insert_deduplication_token
  bool has_nonrepl_window = false;  // MergeTree setting non_replicated_deduplication_window
  bool database_exists = false;
  std::string database_engine;  // Ordinary, Atomic, ...
};

// Everything a writer needs, fixed at Open and shared (immutable).
struct WritePlan {
  std::string where;  // "clickhouse sink URI table `db`.`t`", for messages
  ChEndpoint endpoint;
  Dedup dedup = Dedup::kLedger;
  bool gzip = true;
  bool native = true;
  int gzip_level = 1;
  std::string insert_sql;
  std::shared_ptr<const Schema> schema;
  std::shared_ptr<const RowBinaryEncoder> encoder;
  ChLedgerTarget ledger;  // ledger path only
  int64_t group_rows = 0;   // ApplyParts: rows per grouped INSERT (0: one part each)
  int64_t group_bytes = 0;  // and in-memory bytes
  int64_t ledger_snapshot = 0;  // Config::ledger_snapshot
};

std::string RandomHex(int bytes) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < bytes; ++i) {
    const auto b = static_cast<unsigned>(rng() & 0xFF);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

uint64_t RandomAttempt() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t v = 0;
  while (v == 0) v = rng();
  return v;
}

void SleepMs(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

int64_t JitterMs(int64_t max_ms) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return static_cast<int64_t>(rng() % static_cast<uint64_t>(max_ms + 1));
}

std::string AttemptList(const std::vector<uint64_t>& attempts) {
  std::string s;
  for (uint64_t a : attempts) s += (s.empty() ? "" : ", ") + std::to_string(a);
  return s;
}

// ---------------------------------------------------------------------------

class ClickhouseSinkWriter final : public SinkWriter {
 public:
  ClickhouseSinkWriter(std::shared_ptr<const WritePlan> plan, std::unique_ptr<ChClient> client)
      : plan_(std::move(plan)),
        client_(std::move(client)),
        ledger_(client_.get(), &plan_->ledger) {}

  Result<ApplyOutcome> ApplyPart(const PartInfo& part,
                                 const std::vector<RecordBatch>& batches) override {
    const std::string ctx = plan_->where + " part " + part.part_id;
    SLUICE_ASSIGN_OR_RETURN(const int64_t rows, CheckPart(part, batches, ctx));
    // Nothing to write: no ledger entry is needed to skip an empty part again.
    if (rows == 0) return ApplyOutcome::kApplied;
    switch (plan_->dedup) {
      case Dedup::kToken:
        return ApplyToken(part, batches, rows, ctx);
      case Dedup::kLedger:
        return ApplyLedger(part, batches, rows, ctx);
      default:
        return ApplyPlain(part, batches, rows);
    }
  }

  bool GroupsParts() const override {
    return plan_->group_rows > 0 &&
           (plan_->dedup == Dedup::kLedger || plan_->dedup == Dedup::kNone);
  }

  // Several parts in one INSERT (up to group_rows rows / group_bytes bytes):
  // every INSERT is new data parts on disk, and the server's cost per
  // INSERT outweighs its cost per row at 100k-row parts. The parts come
  // from the feed while the body is sent, so they are never in memory
  // together; the server squashes the body's blocks into one (the
  // min_insert_block_size_* settings below), written when the body ends.
  //
  // dedup=ledger: each part taken is looked up in the ledger first; one
  // the ledger knows (applied, or with attempts still to settle: rare, after
  // a crash or beside a concurrent writer) goes through ApplyPart's protocol
  // on its own; the rest are sent, each part's rows with its own
  // `_sluice_part` and the group's one attempt id. Their `begin` events are
  // recorded (one INSERT) before the body's last byte, so a row can never
  // exist without one; `done` (one INSERT) after the server's answer. A
  // failed INSERT voids the attempt and fails the call: the parts are no
  // longer in memory (the copy runtime reads them again on a transient
  // error; otherwise a re-run applies them).
  Result<std::vector<ApplyOutcome>> ApplyParts(PartFeed* feed) override {
    if (!group_client_) {
      SLUICE_ASSIGN_OR_RETURN(group_client_, ChClient::Make(plan_->endpoint));
    }
    const bool ledger = plan_->dedup == Dedup::kLedger;
    GroupBody group(this, feed, RandomAttempt(), ledger);
    // Parts are taken before the request (waiting as long as the source
    // takes) until one has to be sent: parts already applied never open an
    // INSERT, and a slow source does not hold one open for its first part.
    SLUICE_RETURN_NOT_OK(group.Prime());
    if (group.sent().empty()) return group.outcomes();
    // Once open, the INSERT takes more parts for at most a quarter of the
    // request timeout (curl's limit for the whole request).
    group.SetDeadline(Clock::now() + std::chrono::milliseconds(std::max<int64_t>(
                                         1000, plan_->endpoint.request_timeout_ms / 4)));
    ChRequest req;
    req.sql = plan_->insert_sql;
    req.body = &group;
    req.gzip = plan_->gzip;
    req.gzip_level = plan_->gzip_level;
    req.idempotent = false;
    req.query_id = ledger_.QueryId(group.attempt());
    // Every block of the body waits until its end (one data part per
    // partition), so nothing is written before the `begin` events are.
    req.settings.emplace_back("min_insert_block_size_rows", "1000000000000");
    req.settings.emplace_back("min_insert_block_size_bytes", "1000000000000000");
    Result<ChResponse> ins = group_client_->Execute(req, "inserting a group of parts");
    if (ins.ok() && ledger) ins = FinishGroup(&group);
    if (!ins.ok()) {
      Status st = ins.status();
      if (ledger && group.begun()) {
        // The INSERT may still run on the server (a lost answer): wait for
        // it, then void the attempt and delete what it wrote.
        Status voided = VoidGroup(group);
        if (!voided.ok()) {
          SLUICE_LOG(kWarn) << plan_->where << ": voiding attempt " << group.attempt()
                            << " failed (the next run of these parts does it): " << voided;
        }
      }
      return st.WithContext(group.Describe() +
                            " (no more of them can be sent: they are no longer "
                            "in memory; a re-run applies them)");
    }
    if (!ledger) group.SetSentOutcome(ApplyOutcome::kApplied);
    return group.outcomes();
  }

 private:
  // The body of a grouped INSERT: takes parts from the feed as curl asks
  // for more bytes, and settles each part's ledger state on the way.
  class GroupBody final : public ChBodySource {
   public:
    // `attempt` names the INSERT (its query id) and, with the ledger, the
    // attempt of every part it carries.
    GroupBody(ClickhouseSinkWriter* w, PartFeed* feed, uint64_t attempt, bool ledger)
        : w_(w), feed_(feed), attempt_(attempt), ledger_(ledger) {}
    uint64_t attempt() const { return attempt_; }
    void SetDeadline(Clock::time_point deadline) { deadline_ = deadline; }

    // Takes parts until one is to be sent (or none is left).
    Status Prime() {
      while (!body_ && TakeMore()) {
        SLUICE_ASSIGN_OR_RETURN(const PartFeed::Item* item, feed_->Next(PartFeed::kWaitForever));
        if (item == nullptr) {
          ended_ = true;
          break;
        }
        SLUICE_RETURN_NOT_OK(Take(*item));
      }
      return Status::OK();
    }

    bool begun() const { return begun_; }
    const std::vector<PartInfo>& sent() const { return sent_; }
    std::vector<std::string> sent_ids() const {
      std::vector<std::string> ids;
      for (const PartInfo& p : sent_) ids.push_back(p.part_id);
      return ids;
    }
    std::vector<ApplyOutcome> outcomes() const {
      std::vector<ApplyOutcome> out;
      for (const auto& o : outcomes_) out.push_back(o.value_or(ApplyOutcome::kApplied));
      return out;
    }
    void SetOutcome(const std::string& part_id, ApplyOutcome outcome) {
      for (size_t i = 0; i < outcomes_.size(); ++i) {
        if (ids_[i] == part_id) outcomes_[i] = outcome;
      }
    }
    void SetSentOutcome(ApplyOutcome outcome) {
      for (const PartInfo& p : sent_) SetOutcome(p.part_id, outcome);
    }
    std::string Describe() const {
      std::string out = std::to_string(outcomes_.size()) + " part(s) sent in one INSERT";
      if (ledger_) out += " (attempt " + std::to_string(attempt_) + ")";
      if (!ids_.empty()) out += ": " + ids_.front() + (ids_.size() > 1 ? " .. " + ids_.back() : "");
      return out;
    }

    void Rewind() override {}  // sent once (ChRequest::idempotent is false)

    // The body's last byte so far is always held back until the `begin`
    // events are recorded: a body cut short (the run stopped, the process
    // killed) then always ends inside a block or row, which the server
    // rejects whole. Cut between two complete blocks, 18.16 would insert
    // them (it takes the end of the connection for the end of the body).
    Result<bool> Next(std::string* out) override {
      const size_t start = out->size();
      out->append(held_);
      held_.clear();
      const size_t base = out->size();
      while (out->size() == base) {
        SLUICE_ASSIGN_OR_RETURN(bool more, Produce(out));
        if (!more) break;
      }
      // Complete: the held byte (if any) goes now.
      if (out->size() == base) return base > start;
      held_.assign(1, out->back());
      out->pop_back();
      return true;
    }

   private:
    static constexpr size_t kPiece = 256 << 10;

    // The body's next bytes: the current part's, or the next part's.
    Result<bool> Produce(std::string* out) {
      if (finished_) return false;
      while (true) {
        if (body_) {
          Result<bool> more = body_->Next(out, kPiece);
          if (!more.ok()) return more.status().WithContext("part " + sent_.back().part_id);
          if (*more) return true;
          body_.reset();
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
        if (!TakeMore() || left.count() <= 0) return Finish();
        // No more than `left`: a slow source ends the group, not the request.
        SLUICE_ASSIGN_OR_RETURN(const PartFeed::Item* item, feed_->Next(left));
        if (item == nullptr) {
          ended_ = true;
          return Finish();
        }
        SLUICE_RETURN_NOT_OK(Take(*item));
      }
    }

    bool TakeMore() const {
      if (ended_ || outcomes_.empty()) return !ended_;
      const WritePlan& plan = *w_->plan_;
      return rows_ + last_rows_ <= plan.group_rows && bytes_ + last_bytes_ <= plan.group_bytes;
    }

    Status Take(const PartFeed::Item& item) {
      const PartInfo& part = item.info;
      const std::string ctx = w_->plan_->where + " part " + part.part_id;
      SLUICE_ASSIGN_OR_RETURN(const int64_t rows, w_->CheckPart(part, *item.batches, ctx));
      ids_.push_back(part.part_id);
      outcomes_.emplace_back();
      last_rows_ = rows;
      last_bytes_ = item.bytes;
      rows_ += rows;
      bytes_ += item.bytes;
      if (rows == 0) {
        outcomes_.back() = ApplyOutcome::kApplied;
        return Status::OK();
      }
      PartInfo p = part;
      p.rows = rows;
      if (ledger_) {
        SLUICE_ASSIGN_OR_RETURN(const bool known, Known(part.part_id));
        if (known) {
          // Applied already, or attempts to settle first: the part on its
          // own (ApplyPart's protocol), on the writer's other connection,
          // while this body waits.
          SLUICE_ASSIGN_OR_RETURN(outcomes_.back(), w_->ApplyLedger(p, *item.batches, rows, ctx));
          return Status::OK();
        }
      }
      sent_.push_back(std::move(p));
      body_.emplace(w_->Body(sent_.back(), *item.batches, ledger_ ? attempt_ : 0));
      return Status::OK();
    }

    // Whether the ledger has any event of the part. The first part taken
    // reads the ids of all the target's parts in one query (a few hundred
    // per 10M rows; with more than the ledger_snapshot option, each part is
    // read on its own): a query per part cost the server 3.7 ms of CPU each
    // on 18.16, 1.1 s per 10M rows. A part another writer begins after that
    // read is sent as if new, which is the race a per-part read has too,
    // between the read and the `begin` at the body's end: FinishGroup's
    // check settles it (one attempt stays valid).
    Result<bool> Known(const std::string& part_id) {
      if (!snapshot_read_) {
        if (w_->plan_->ledger_snapshot > 0) {
          SLUICE_ASSIGN_OR_RETURN(snapshot_, w_->ledger_.ReadIds(w_->plan_->ledger_snapshot));
        }
        snapshot_read_ = true;
      }
      if (snapshot_) return snapshot_->count(part_id) > 0;
      SLUICE_ASSIGN_OR_RETURN(PartLedger ledger, w_->ledger_.Read(part_id));
      return !ledger.empty();
    }

    // Before the body's last byte: the `begin` of every part sent.
    Result<bool> Finish() {
      if (ledger_ && !sent_.empty()) {
        begun_ = true;  // it may be recorded even if the answer is lost
        SLUICE_RETURN_NOT_OK(w_->ledger_.RecordParts(sent_, attempt_, LedgerEvent::kBegin, true));
      }
      finished_ = true;
      return false;
    }

    ClickhouseSinkWriter* w_;
    PartFeed* feed_;
    uint64_t attempt_;
    bool ledger_;
    Clock::time_point deadline_ = Clock::time_point::max();
    std::optional<ChPartBody> body_;
    std::vector<std::string> ids_;                       // every part taken
    std::vector<std::optional<ApplyOutcome>> outcomes_;  // of each, once known
    std::vector<PartInfo> sent_;                         // parts whose rows are in the body
    std::string held_;                                   // the body's last byte so far (see Next)
    std::optional<std::set<std::string>> snapshot_;      // see Known
    bool snapshot_read_ = false;
    int64_t rows_ = 0, bytes_ = 0, last_rows_ = 0, last_bytes_ = 0;
    bool ended_ = false, begun_ = false, finished_ = false;
  };

  // After the grouped INSERT's answer: `done` for every part sent, then the
  // check ApplyLedger makes: a part another writer applied meanwhile keeps
  // the other's rows.
  Result<ChResponse> FinishGroup(GroupBody* group) {
    const uint64_t mine = group->attempt();
    if (Status done = ledger_.RecordParts(group->sent(), mine, LedgerEvent::kDone, true);
        !done.ok()) {
      return done;
    }
    SLUICE_ASSIGN_OR_RETURN(auto after, ledger_.ReadParts(group->sent_ids()));
    for (const PartInfo& p : group->sent()) {
      std::vector<uint64_t> valid;
      for (const auto& [attempt, st] : after[p.part_id]) {
        if (st.valid()) valid.push_back(attempt);
      }
      if (valid.size() == 1 && valid[0] == mine) {
        group->SetOutcome(p.part_id, ApplyOutcome::kApplied);
        continue;
      }
      // Another writer applied it too: ours steps back (as in ApplyLedger).
      SLUICE_LOG(kWarn) << plan_->where << " part " << p.part_id
                        << ": also applied by another writer (attempts " << AttemptList(valid)
                        << "); voiding ours (" << mine << ")";
      dead_.insert(mine);
      SLUICE_RETURN_NOT_OK(ledger_.Record(p, mine, LedgerEvent::kFence, 0));
      SLUICE_ASSIGN_OR_RETURN(PartLedger now, ledger_.Read(p.part_id));
      SLUICE_RETURN_NOT_OK(ledger_.CleanInvalid(p, now, dead_));
      bool other_valid = false;
      for (const auto& [attempt, st] : now) other_valid = other_valid || st.valid();
      if (!other_valid) {
        return Status::Retryable(plan_->where + " part " + p.part_id +
                                 ": applied by two writers at once and voided by both; a re-run "
                                 "applies it");
      }
      group->SetOutcome(p.part_id, ApplyOutcome::kAlreadyApplied);
    }
    return ChResponse{};
  }

  // A grouped INSERT that failed: once it no longer runs, its attempt is
  // void for every part it carried, and its rows (if it wrote any) go.
  Status VoidGroup(const GroupBody& group) {
    const uint64_t mine = group.attempt();
    dead_.insert(mine);
    const std::vector<PartInfo>& sent = group.sent();
    SLUICE_RETURN_NOT_OK(ledger_.WaitInsertGone(sent.front().part_id, {mine}));
    SLUICE_RETURN_NOT_OK(ledger_.RecordParts(sent, mine, LedgerEvent::kFence, false));
    SLUICE_ASSIGN_OR_RETURN(auto ledgers, ledger_.ReadParts(group.sent_ids()));
    for (const PartInfo& p : sent) {
      SLUICE_RETURN_NOT_OK(ledger_.CleanInvalid(p, ledgers[p.part_id], dead_));
    }
    return Status::OK();
  }

  // The checks every part gets first (id, columns and types); its rows.
  Result<int64_t> CheckPart(const PartInfo& part, const std::vector<RecordBatch>& batches,
                            const std::string& ctx) const {
    if (part.part_id.empty()) return Status::InvalidArgument(plan_->where + ": empty part id");
    SLUICE_RETURN_NOT_OK(CheckBatchesMatch(*plan_->schema, batches, ctx));
    int64_t rows = 0;
    for (const RecordBatch& b : batches) rows += b.num_rows();
    return rows;
  }

  // The part's body, as one Native block or as RowBinary rows; `attempt` !=
  // 0 appends the hidden columns. Made while it is sent (Insert), so the
  // encoded part never exists whole: a value the column cannot hold
  // surfaces as Insert's error, naming the row and the column.
  ChPartBody Body(const PartInfo& part, const std::vector<RecordBatch>& batches,
                  uint64_t attempt) const {
    std::string part_value, attempt_value;
    if (attempt != 0) {
      AppendRowBinaryString(part.part_id, &part_value);
      attempt_value.assign(reinterpret_cast<const char*>(&attempt), sizeof(attempt));
    }
    if (plan_->native) {
      std::vector<NativeConstant> hidden;
      if (attempt != 0) {
        hidden.push_back({kPartColumn, "String", std::move(part_value)});
        hidden.push_back({kAttemptColumn, "UInt64", std::move(attempt_value)});
      }
      return ChPartBody::Native(plan_->encoder.get(), &batches, std::move(hidden));
    }
    return ChPartBody::RowBinary(plan_->encoder.get(), &batches, part_value + attempt_value);
  }

  // Hands ChClient the part body in pieces of about kPiece bytes.
  class BodySource final : public ChBodySource {
   public:
    explicit BodySource(ChPartBody* body) : body_(body) {}
    void Rewind() override { body_->Rewind(); }
    Result<bool> Next(std::string* out) override { return body_->Next(out, kPiece); }

   private:
    static constexpr size_t kPiece = 256 << 10;
    ChPartBody* body_;
  };

  Result<ChResponse> Insert(const PartInfo& part, int64_t rows, ChPartBody* body,
                            const std::string& token, const std::string& query_id = "") {
    ChRequest req;
    req.sql = plan_->insert_sql;
    BodySource source(body);
    req.body = &source;
    req.gzip = plan_->gzip;
    req.gzip_level = plan_->gzip_level;
    req.idempotent = false;  // what a lost answer means is decided by the caller
    req.query_id = query_id.empty() ? ledger_.PartQueryId(part.part_id) : query_id;
    // One block per partition, never split by rows: an insert into a table
    // without PARTITION BY lands whole or not at all.
    if (rows > 1'000'000)
      req.settings.emplace_back("max_insert_block_size", std::to_string(rows + 1));
    if (!token.empty()) req.settings.emplace_back("insert_deduplication_token", token);
    return client_->Execute(
        req, "inserting part " + part.part_id + " (" + std::to_string(rows) + " rows)");
  }

  // dedup=none: at-least-once.
  Result<ApplyOutcome> ApplyPlain(const PartInfo& part, const std::vector<RecordBatch>& batches,
                                  int64_t rows) {
    ChPartBody body = Body(part, batches, 0);
    SLUICE_RETURN_NOT_OK_CTX(Insert(part, rows, &body, "").status(), "part " + part.part_id);
    return ApplyOutcome::kApplied;
  }

  // dedup=token: the server drops a block whose token it has seen, so the
  // part may simply be sent again until one answer arrives.
  Result<ApplyOutcome> ApplyToken(const PartInfo& part, const std::vector<RecordBatch>& batches,
                                  int64_t rows, const std::string& ctx) {
    ChPartBody body = Body(part, batches, 0);
    int64_t backoff_ms = 200;
    for (int attempt = 1;; ++attempt) {
      Result<ChResponse> r = Insert(part, rows, &body, part.part_id);
      if (r.ok()) {
        // 21.x+ reports written rows in X-ClickHouse-Summary: 0 of a
        // non-empty part means every block was a duplicate.
        const ChSummary s = ParseChSummary(r->summary);
        return s.written_rows == 0 ? ApplyOutcome::kAlreadyApplied : ApplyOutcome::kApplied;
      }
      if (r.status().code() != StatusCode::kRetryable || attempt > plan_->endpoint.retries) {
        return r.status().WithContext("part " + part.part_id);
      }
      SLUICE_LOG(kWarn) << ctx << ": " << r.status().message()
                        << "; sending it again (same token) in " << backoff_ms << " ms";
      SleepMs(backoff_ms);
      backoff_ms *= 4;
    }
  }

  // dedup=ledger: see ch_ledger.h. Each round re-reads the part's attempts
  // and takes one step; it ends when a valid attempt exists.
  Result<ApplyOutcome> ApplyLedger(const PartInfo& part, const std::vector<RecordBatch>& batches,
                                   int64_t rows, const std::string& ctx) {
    const int64_t settle_ms = plan_->ledger.settle_ms;
    uint64_t mine = 0;
    int failures = 0;
    std::set<uint64_t> quiet_set;  // unfinished attempts of others, seen idle since quiet_since
    Clock::time_point quiet_since{};
    constexpr int kMaxRounds = 1000;  // every round sleeps or makes progress
    for (int round = 0; round < kMaxRounds; ++round) {
      SLUICE_ASSIGN_OR_RETURN(PartLedger ledger, ledger_.Read(part.part_id));
      std::vector<uint64_t> valid, pending, own_dead;
      for (const auto& [attempt, st] : ledger) {
        if (st.valid()) valid.push_back(attempt);
        if (st.pending()) (dead_.count(attempt) ? own_dead : pending).push_back(attempt);
      }
      if (!own_dead.empty()) {
        // Our own earlier tries whose INSERT failed: void at once.
        for (uint64_t a : own_dead)
          SLUICE_RETURN_NOT_OK(ledger_.Record(part, a, LedgerEvent::kFence, 0));
        continue;
      }
      if (!pending.empty()) {
        // Another writer's attempt (or one of a killed process): wait while
        // its INSERT runs; once it has been idle for `settle`, it is dead.
        SLUICE_ASSIGN_OR_RETURN(bool running, ledger_.InsertRunning(part.part_id, pending));
        const std::set<uint64_t> now_pending(pending.begin(), pending.end());
        if (running || now_pending != quiet_set) {
          quiet_set = running ? std::set<uint64_t>{} : now_pending;
          quiet_since = Clock::now();
          SleepMs(running ? 100 : std::min<int64_t>(settle_ms, 500));
          continue;
        }
        const int64_t idle_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - quiet_since)
                .count();
        if (idle_ms < settle_ms) {
          SleepMs(std::min<int64_t>(settle_ms - idle_ms, 500));
          continue;
        }
        SLUICE_LOG(kInfo) << ctx << ": attempt(s) " << AttemptList(pending)
                          << " of an earlier or concurrent writer "
                          << "stayed unfinished for " << settle_ms << " ms; voiding them";
        for (uint64_t a : pending)
          SLUICE_RETURN_NOT_OK(ledger_.Record(part, a, LedgerEvent::kFence, 0));
        quiet_set.clear();
        continue;
      }
      // Only after the unfinished attempts are settled: one that began
      // alongside the valid one (two writers given the part at once) and
      // whose writer died after its INSERT holds a second copy of the rows,
      // and no later delivery would see it once the part counts as applied.
      if (!valid.empty()) {
        if (valid.size() > 1) {
          // Both writers completed it and the one that had to step back
          // died first: the lowest attempt id stays.
          SLUICE_LOG(kWarn) << ctx << ": attempts " << AttemptList(valid)
                            << " all applied the part; voiding all but the first";
          for (size_t k = 1; k < valid.size(); ++k)
            SLUICE_RETURN_NOT_OK(ledger_.Record(part, valid[k], LedgerEvent::kFence, 0));
          continue;
        }
        // Applied. Leftovers of void attempts (a crashed try, a concurrent
        // duplicate) go now.
        SLUICE_RETURN_NOT_OK(ledger_.CleanInvalid(part, ledger, dead_));
        return valid[0] == mine ? ApplyOutcome::kApplied : ApplyOutcome::kAlreadyApplied;
      }
      // No valid or running attempt: remove what void attempts left, then try.
      SLUICE_RETURN_NOT_OK(ledger_.CleanInvalid(part, ledger, dead_));
      do {
        mine = RandomAttempt();
      } while (ledger.count(mine) != 0);
      ChPartBody body = Body(part, batches, mine);
      {
        Status begin = ledger_.Record(part, mine, LedgerEvent::kBegin, rows);
        if (!begin.ok()) {
          dead_.insert(mine);  // it may have been recorded; it has no rows
          return begin;
        }
      }
      Result<ChResponse> ins = Insert(part, rows, &body, "", ledger_.QueryId(mine));
      if (!ins.ok()) {
        // The INSERT may still run on the server (the answer was lost): wait
        // for it to end, then void the attempt; its rows, if any, are
        // deleted before the next try.
        dead_.insert(mine);
        const Status st = ins.status().WithContext("part " + part.part_id);
        Status settled = ledger_.WaitInsertGone(part.part_id, {mine});
        if (settled.ok()) settled = ledger_.Record(part, mine, LedgerEvent::kFence, 0);
        if (!settled.ok()) return st;  // the next call settles it
        if (st.code() == StatusCode::kRetryable && ++failures <= plan_->endpoint.retries) {
          const int64_t backoff_ms = 200LL << (2 * (failures - 1));
          SLUICE_LOG(kWarn) << ctx << ": " << st.message() << "; trying again in " << backoff_ms
                            << " ms";
          SleepMs(backoff_ms);
          continue;
        }
        if (st.code() != StatusCode::kRetryable) {
          // A permanent error (bad value, wrong type): leave no rows behind
          // (an insert into several partitions can land partly).
          auto again = ledger_.Read(part.part_id);
          if (again.ok()) (void)ledger_.CleanInvalid(part, *again, dead_);
        }
        return st;
      }
      {
        Status done = ledger_.Record(part, mine, LedgerEvent::kDone, rows);
        if (!done.ok()) {
          dead_.insert(
              mine);  // its rows are complete, but it is not valid: the next call redoes it
          return done;
        }
      }
      // Did another writer complete the same part meanwhile, or void ours?
      SLUICE_ASSIGN_OR_RETURN(PartLedger after, ledger_.Read(part.part_id));
      std::vector<uint64_t> valid_after;
      for (const auto& [attempt, st] : after) {
        if (st.valid()) valid_after.push_back(attempt);
      }
      if (valid_after.size() == 1 && valid_after[0] == mine) return ApplyOutcome::kApplied;
      // Step back: ours is void and its rows go in the next round; another
      // valid attempt, if any, stands.
      SLUICE_LOG(kWarn) << ctx << ": the part was also applied by another writer (attempts "
                        << AttemptList(valid_after) << "); voiding ours (" << mine << ")";
      dead_.insert(mine);
      SLUICE_RETURN_NOT_OK(ledger_.Record(part, mine, LedgerEvent::kFence, 0));
      SleepMs(JitterMs(300));
    }
    return Status::Retryable(ctx + ": no settled outcome after " + std::to_string(kMaxRounds) +
                             " rounds (other writers keep applying this part)");
  }

  std::shared_ptr<const WritePlan> plan_;
  std::unique_ptr<ChClient> client_;
  std::unique_ptr<ChClient> group_client_;  // ApplyParts' INSERT (client_ does the rest meanwhile)
  ChLedger ledger_;
  // Attempts of this writer whose INSERT failed or ended unrecorded: void,
  // and known to add no more rows.
  std::set<uint64_t> dead_;
};

// ---------------------------------------------------------------------------

class ClickhouseSink final : public Sink {
 public:
  explicit ClickhouseSink(SinkConfig cfg) : cfg_(std::move(cfg)) {
    qtable_ = ChQuoteIdent(cfg_.endpoint.database) + "." + ChQuoteIdent(cfg_.table);
    stage_ = cfg_.table + "__sluice_stage";
    qstage_ = ChQuoteIdent(cfg_.endpoint.database) + "." + ChQuoteIdent(stage_);
    qold_ = ChQuoteIdent(cfg_.endpoint.database) + "." + ChQuoteIdent(cfg_.table + "__sluice_old");
    qledger_ = ChQuoteIdent(cfg_.endpoint.database) + "." + ChQuoteIdent(cfg_.ledger);
    where_ = "clickhouse sink " + cfg_.display + " table " + qtable_;
  }

  Status Open(std::shared_ptr<const Schema> schema) override {
    SLUICE_RETURN_NOT_OK(schema->Validate());
    if (schema->num_fields() == 0)
      return Status::InvalidArgument(where_ + ": schema has no columns");
    for (const Field& f : schema->fields()) {
      if (f.name == kPartColumn || f.name == kAttemptColumn) {
        return Status::InvalidArgument(where_ + ": the source has a column named \"" + f.name +
                                       "\", which the sink reserves for its part ledger");
      }
    }
    // A missing or unreadable init_sql file fails before anything is created.
    std::vector<ChSqlStatement> init_statements;
    if (!cfg_.init_sql.empty()) {
      SLUICE_ASSIGN_OR_RETURN(init_statements, ReadInitSql());
    }
    SLUICE_ASSIGN_OR_RETURN(admin_, ChClient::Make(cfg_.endpoint));
    SLUICE_ASSIGN_OR_RETURN(server_, Probe());
    if (!server_.database_exists) {
      return Status::NotFound(where_ + ": database " + ChQuoteIdent(cfg_.endpoint.database) +
                              " does not exist on " + cfg_.endpoint.Address());
    }
    dedup_ = cfg_.dedup;
    if (dedup_ == Dedup::kAuto) {
      dedup_ = server_.has_token && server_.has_nonrepl_window ? Dedup::kToken : Dedup::kLedger;
    }
    if (dedup_ == Dedup::kToken && !(server_.has_token && server_.has_nonrepl_window)) {
      return Status::Unsupported(where_ +
                                 ": dedup=token needs insert_deduplication_token and "
                                 "non_replicated_deduplication_window, which ClickHouse " +
                                 server_.version.text + " does not have (use dedup=ledger)");
    }

    // Keys: ORDER BY of created tables; upsert's ReplacingMergeTree key.
    key_ = cfg_.order_by;
    if (key_.empty()) {
      for (int i : schema->PrimaryKeyIndices()) key_.push_back(schema->field(i).name);
    }
    for (const std::string& k : key_) {
      if (!schema->FieldIndex(k)) {
        return Status::InvalidArgument(where_ + ": order_by column \"" + k +
                                       "\" is not in the schema");
      }
    }
    if (cfg_.mode == Mode::kUpsert && key_.empty()) {
      return Status::InvalidArgument(
          where_ +
          ": mode=upsert needs key columns: give order_by=a,b, or a source "
          "with a primary key");
    }
    if (!cfg_.version.empty() && !schema->FieldIndex(cfg_.version)) {
      return Status::InvalidArgument(where_ + ": version column \"" + cfg_.version +
                                     "\" is not in the schema");
    }

    auto plan = std::make_shared<WritePlan>();
    plan->endpoint = cfg_.endpoint;
    plan->dedup = dedup_;
    plan->gzip = cfg_.gzip;
    plan->gzip_level = cfg_.gzip_level;
    plan->group_rows = cfg_.insert_rows;
    plan->group_bytes = cfg_.insert_bytes;
    plan->ledger_snapshot = cfg_.ledger_snapshot;
    plan->schema = schema;
    std::string dest = qtable_;
    std::string dest_name = cfg_.table;
    if (dedup_ == Dedup::kLedger) {
      SLUICE_RETURN_NOT_OK(CreateLedger());
    }
    SLUICE_ASSIGN_OR_RETURN(bool exists, TableExists(cfg_.table));
    std::vector<ChType> targets;
    if (cfg_.mode == Mode::kReplace) {
      if (!exists && !cfg_.create)
        return Status::NotFound(where_ + ": table does not exist (create=false)");
      // A replace starts over: a stage left by a killed run is dropped; the
      // target is untouched until Commit.
      SLUICE_RETURN_NOT_OK(
          Exec("DROP TABLE IF EXISTS " + qstage_, "dropping an old staging table"));
      SLUICE_ASSIGN_OR_RETURN(targets, CreateTable(stage_, *schema, /*if_not_exists=*/false));
      dest = qstage_;
      dest_name = stage_;
    } else if (!exists) {
      if (!cfg_.create) return Status::NotFound(where_ + ": table does not exist (create=false)");
      SLUICE_ASSIGN_OR_RETURN(targets, CreateTable(cfg_.table, *schema, /*if_not_exists=*/true));
      // Another importer may have created it first, with other types.
      SLUICE_ASSIGN_OR_RETURN(targets, MatchColumns(*schema));
    } else {
      SLUICE_ASSIGN_OR_RETURN(targets, MatchColumns(*schema));
      if (dedup_ == Dedup::kToken) SLUICE_RETURN_NOT_OK(EnsureDedupWindow());
    }
    std::vector<ChColumnPlan> plans;
    std::string cols;
    for (int i = 0; i < schema->num_fields(); ++i) {
      auto p = PlanChColumn(schema->field(i), targets[static_cast<size_t>(i)], server_.caps);
      if (!p.ok()) return p.status().WithContext(where_);
      plans.push_back(std::move(*p));
      cols += (i ? ", " : "") + ChQuoteIdent(schema->field(i).name);
    }
    if (dedup_ == Dedup::kLedger) {
      cols += std::string(", ") + ChQuoteIdent(kPartColumn) + ", " + ChQuoteIdent(kAttemptColumn);
    }
    plan->encoder = std::make_shared<const RowBinaryEncoder>(std::move(plans));
    plan->native = cfg_.native;
    plan->insert_sql =
        "INSERT INTO " + dest + " (" + cols + ") FORMAT " + (cfg_.native ? "Native" : "RowBinary");
    plan->where = where_;
    plan->ledger.database = cfg_.endpoint.database;
    plan->ledger.table = dest_name;
    plan->ledger.qtable = dest;
    plan->ledger.qledger = qledger_;
    // The ledger knows the table by the name in its `_sluice_part` comment
    // (a new stage, a re-created table: a new name; see LedgerTarget).
    if (dedup_ == Dedup::kLedger) {
      SLUICE_ASSIGN_OR_RETURN(plan->ledger.target, LedgerTarget(dest_name));
    } else {
      plan->ledger.target =
          cfg_.endpoint.database + "." + dest_name;  // names INSERT query_ids only
    }
    plan->ledger.settle_ms = cfg_.settle_ms;
    plan->ledger.mutation_timeout_ms = cfg_.mutation_timeout_ms;
    plan->ledger.insert_wait_ms = std::max<int64_t>(cfg_.endpoint.request_timeout_ms, 60'000);
    plan_ = std::move(plan);
    committed_ = false;
    // After the table (and its hidden columns) exist, before any part is
    // written: a materialized view created here sees every row.
    if (!cfg_.init_sql.empty()) SLUICE_RETURN_NOT_OK(RunInitSql(init_statements));

    SLUICE_LOG(kInfo) << where_ << ": ClickHouse " << server_.version.text
                      << "; dedup=" << DedupName(dedup_) << ": exactly-once via "
                      << (dedup_ == Dedup::kToken ? "insert_deduplication_token"
                          : dedup_ == Dedup::kLedger
                              ? "the part ledger " + qledger_
                              : std::string("nothing (dedup=none: at-least-once)"))
                      << "; types: timestamp -> " << TargetName(TypeId::kTimestamp) << ", date -> "
                      << TargetName(TypeId::kDate) << ", bool -> " << TargetName(TypeId::kBool);
    return Status::OK();
  }

  Result<std::unique_ptr<SinkWriter>> NewWriter() override {
    if (!plan_) return Status::Internal(where_ + ": NewWriter before Open");
    SLUICE_ASSIGN_OR_RETURN(auto client, ChClient::Make(plan_->endpoint));
    return std::unique_ptr<SinkWriter>(new ClickhouseSinkWriter(plan_, std::move(client)));
  }

  int MaxWriters() const override { return cfg_.writers; }
  int64_t PreferredPartBytes() const override { return cfg_.part_bytes; }

  Status Commit() override {
    if (!plan_) return Status::Internal(where_ + ": Commit before Open");
    if (committed_) return Status::OK();
    if (dedup_ == Dedup::kLedger) SLUICE_RETURN_NOT_OK(Sweep());
    if (cfg_.mode == Mode::kReplace) SLUICE_RETURN_NOT_OK(SwapInStage());
    committed_ = true;
    return Status::OK();
  }

  Status Close() override {
    admin_.reset();
    return Status::OK();
  }

 private:
  Status Exec(const std::string& sql, const std::string& what) {
    return admin_->Exec(sql, where_ + ": " + what);
  }

  // The statements of the init_sql file, with {db}, {table} and {ledger}
  // replaced by the quoted names, one request each. They run at every Open
  // (so a run killed right after creating the table still gets them before
  // its first INSERT) and must therefore be idempotent: CREATE .. IF NOT
  // EXISTS, or a plain CREATE, whose "already exists" (two importers racing,
  // or an earlier run) counts as done.
  Result<std::vector<ChSqlStatement>> ReadInitSql() {
    auto file = ReadFile(cfg_.init_sql, kMaxInitSqlBytes);
    if (!file.ok()) return file.status().WithContext(where_ + ": init_sql");
    auto statements = SplitChSqlScript((*file)->view(), cfg_.init_sql);
    if (!statements.ok()) return statements.status().WithContext(where_ + ": init_sql");
    return statements;
  }

  Status RunInitSql(const std::vector<ChSqlStatement>& statements) {
    const std::string& path = cfg_.init_sql;
    const std::pair<std::string, std::string> names[] = {
        {"{db}", ChQuoteIdent(cfg_.endpoint.database)},
        {"{table}", ChQuoteIdent(cfg_.table)},
        {"{ledger}", ChQuoteIdent(cfg_.ledger)}};
    int n = 0;
    for (const ChSqlStatement& st : statements) {
      ++n;
      std::string sql;
      for (size_t i = 0; i < st.sql.size();) {
        bool replaced = false;
        for (const auto& [from, to] : names) {
          if (st.sql.compare(i, from.size(), from) == 0) {
            sql += to;
            i += from.size();
            replaced = true;
            break;
          }
        }
        if (!replaced) sql += st.sql[i++];
      }
      const std::string what =
          "init_sql " + path + " statement " + std::to_string(n) + " (line " +
          std::to_string(st.line) + ")";
      Status r = Exec(sql, what);
      // 57 TABLE_ALREADY_EXISTS, 82 DATABASE_ALREADY_EXISTS: created before.
      if (!r.ok() && (r.message().find("server error 57:") != std::string::npos ||
                      r.message().find("server error 82:") != std::string::npos)) {
        SLUICE_LOG(kDebug) << where_ << ": " << what << ": exists already";
        continue;
      }
      SLUICE_RETURN_NOT_OK(r);
    }
    SLUICE_LOG(kInfo) << where_ << ": init_sql " << path << ": " << n << " statement(s) run";
    return Status::OK();
  }

  Result<ServerInfo> Probe() {
    const std::string db = ChQuoteString(cfg_.endpoint.database);
    auto family = [](const char* name) {
      return std::string("(SELECT count() FROM system.data_type_families WHERE name = '") + name +
             "')";
    };
    SLUICE_ASSIGN_OR_RETURN(
        auto rows,
        admin_->QueryRows(
            "SELECT version(), " + family("DateTime64") + ", " + family("Date32") + ", " +
                family("Bool") +
                ", (SELECT count() FROM system.settings WHERE name = 'insert_deduplication_token')"
                ", (SELECT count() FROM system.merge_tree_settings WHERE name = "
                "'non_replicated_deduplication_window')"
                ", (SELECT count() FROM system.databases WHERE name = " +
                db + "), (SELECT any(engine) FROM system.databases WHERE name = " + db + ")",
            8, "detecting the server's version and features", /*use_database=*/false));
    if (rows.size() != 1)
      return Status::InvalidData(where_ + ": unexpected answer to the feature probe");
    const TsvRow& r = rows[0];
    ServerInfo s;
    SLUICE_ASSIGN_OR_RETURN(s.version, ParseChVersion(r[0].value_or("")));
    auto flag = [&](int i) { return r[static_cast<size_t>(i)].value_or("0") != "0"; };
    s.caps.datetime64 = flag(1);
    s.caps.date32 = flag(2);
    s.caps.bool_type = flag(3);
    s.caps.wide_date = s.version.major >= 20;
    s.caps.extended_range = s.version.AtLeast(22, 8);
    s.has_token = flag(4);
    s.has_nonrepl_window = flag(5);
    s.database_exists = flag(6);
    s.database_engine = r[7].value_or("");
    return s;
  }

  std::string TargetName(TypeId id) const {
    Field f{"x", DataType{id}, false};
    auto t = ChTypeForField(f, false, server_.caps, cfg_.mapping);
    return t.ok() ? t->text : "(" + t.status().message() + ")";
  }

  Result<bool> TableExists(const std::string& name) {
    SLUICE_ASSIGN_OR_RETURN(
        auto rows, admin_->QueryRows("SELECT count() FROM system.tables WHERE database = " +
                                         ChQuoteString(cfg_.endpoint.database) +
                                         " AND name = " + ChQuoteString(name),
                                     1, where_ + ": looking up the table"));
    return !rows.empty() && rows[0][0].value_or("0") != "0";
  }

  Status CreateLedger() {
    Status st = Exec(LedgerCreateSql(qledger_), "creating the ledger table " + qledger_);
    if (st.ok()) return st;
    // Two importers creating it at once: 18.x may report "already exists".
    auto exists = TableExists(cfg_.ledger);
    return exists.ok() && *exists ? Status::OK() : st;
  }

  // The ledger knows a table by a name made when its hidden columns were
  // made, "<db>.<table>#<random>", kept in the comment of `_sluice_part`: a
  // table dropped and created again is a new table to the ledger, and a
  // replace's stage keeps its entries when it is renamed into place.
  std::string NewLedgerTarget(const std::string& name) const {
    return cfg_.endpoint.database + "." + name + "#" + RandomHex(8);
  }

  Result<std::string> ReadLedgerTarget(const std::string& name) {
    SLUICE_ASSIGN_OR_RETURN(
        auto rows, admin_->QueryRows("SELECT comment FROM system.columns WHERE database = " +
                                         ChQuoteString(cfg_.endpoint.database) +
                                         " AND table = " + ChQuoteString(name) +
                                         " AND name = " + ChQuoteString(kPartColumn),
                                     1, where_ + ": reading the ledger name of the table"));
    if (rows.empty())
      return Status::NotFound(where_ + ": table " + name + " has no " + kPartColumn + " column");
    const std::string comment = rows[0][0].value_or("");
    const std::string prefix = kLedgerTargetPrefix;
    if (comment.rfind(prefix, 0) != 0) return std::string();
    std::string target = comment.substr(prefix.size());
    // A copy of the table (CREATE TABLE .. AS) or a renamed one carries a
    // name that is not its own: it gets a new one.
    const std::string own = cfg_.endpoint.database + "." + name + "#";
    const std::string stage = cfg_.endpoint.database + "." + cfg_.table + "__sluice_stage#";
    if (target.rfind(own, 0) != 0 && !(name == cfg_.table && target.rfind(stage, 0) == 0))
      return std::string();
    return target;
  }

  Result<std::string> LedgerTarget(const std::string& name) {
    SLUICE_ASSIGN_OR_RETURN(std::string target, ReadLedgerTarget(name));
    if (!target.empty()) return target;
    // 18.x drops a COMMENT given in ADD COLUMN: set it on its own.
    SLUICE_RETURN_NOT_OK(Exec("ALTER TABLE " + ChQuoteIdent(cfg_.endpoint.database) + "." +
                                  ChQuoteIdent(name) + " COMMENT COLUMN " +
                                  ChQuoteIdent(kPartColumn) + " " +
                                  ChQuoteString(kLedgerTargetPrefix + NewLedgerTarget(name)),
                              "naming the table in the ledger"));
    SLUICE_ASSIGN_OR_RETURN(target, ReadLedgerTarget(name));
    if (target.empty())
      return Status::Internal(where_ + ": the ledger name of the table did not stick");
    return target;
  }

  // CREATE TABLE for the schema; returns the column types it used.
  Result<std::vector<ChType>> CreateTable(const std::string& name, const Schema& schema,
                                          bool if_not_exists) {
    const std::string qname = ChQuoteIdent(cfg_.endpoint.database) + "." + ChQuoteIdent(name);
    std::vector<ChType> types;
    std::string sql =
        std::string("CREATE TABLE ") + (if_not_exists ? "IF NOT EXISTS " : "") + qname + " (";
    for (int i = 0; i < schema.num_fields(); ++i) {
      const Field& f = schema.field(i);
      // Key columns are never Nullable (18.x cannot sort by one).
      const bool is_key = std::find(key_.begin(), key_.end(), f.name) != key_.end();
      auto t = ChTypeForField(f, !is_key, server_.caps, cfg_.mapping);
      if (!t.ok()) return t.status().WithContext(where_);
      // The comment records the sluice type behind the ClickHouse one (an
      // Int32 of days is a date) for the source reading the table back.
      sql += (i ? ", " : "") + ChQuoteIdent(f.name) + " " + t->text + " COMMENT " +
             ChQuoteString(ChTypeMarker(f));
      types.push_back(std::move(*t));
    }
    if (dedup_ == Dedup::kLedger) {
      sql += std::string(", ") + ChQuoteIdent(kPartColumn) + " String COMMENT " +
             ChQuoteString(kLedgerTargetPrefix + NewLedgerTarget(name)) + ", " +
             ChQuoteIdent(kAttemptColumn) + " UInt64";
    }
    sql += ") ENGINE = ";
    if (cfg_.mode == Mode::kUpsert) {
      sql += "ReplacingMergeTree(" +
             (cfg_.version.empty() ? std::string() : ChQuoteIdent(cfg_.version)) + ")";
    } else {
      sql += "MergeTree";
    }
    if (!cfg_.partition_by.empty()) sql += " PARTITION BY " + cfg_.partition_by;
    sql += " ORDER BY ";
    if (key_.empty()) {
      sql += "tuple()";
    } else {
      sql += "(";
      for (size_t i = 0; i < key_.size(); ++i) sql += (i ? ", " : "") + ChQuoteIdent(key_[i]);
      sql += ")";
    }
    if (dedup_ == Dedup::kToken && server_.has_nonrepl_window) {
      sql += " SETTINGS non_replicated_deduplication_window = " + std::to_string(cfg_.dedup_window);
    }
    Status st = Exec(sql, "creating the table");
    if (!st.ok() && if_not_exists) {
      auto exists = TableExists(name);
      if (exists.ok() && *exists) return types;  // created concurrently by another importer
    }
    SLUICE_RETURN_NOT_OK(st);
    return types;
  }

  // The existing table's columns for `schema`, adding those the source has
  // and the table lacks (schema drift) and the ledger's hidden columns.
  Result<std::vector<ChType>> MatchColumns(const Schema& schema) {
    SLUICE_ASSIGN_OR_RETURN(
        auto rows, admin_->QueryRows("SELECT name, type FROM system.columns WHERE database = " +
                                         ChQuoteString(cfg_.endpoint.database) +
                                         " AND table = " + ChQuoteString(cfg_.table),
                                     2, where_ + ": reading the table's columns"));
    std::map<std::string, std::string> have;
    for (const TsvRow& r : rows) have[r[0].value_or("")] = r[1].value_or("");
    if (have.empty())
      return Status::NotFound(where_ + ": the table has no columns (was it dropped?)");
    std::vector<ChType> types;
    for (const Field& f : schema.fields()) {
      auto it = have.find(f.name);
      if (it == have.end()) {
        // A new source column: Nullable, since existing rows have no value.
        auto t = ChTypeForField(f, true, server_.caps, cfg_.mapping);
        if (!t.ok()) return t.status().WithContext(where_);
        t->nullable = true;
        t->text = ChTypeName(*t);
        SLUICE_RETURN_NOT_OK(AddColumn(f.name, t->text, ChTypeMarker(f)));
        types.push_back(std::move(*t));
        continue;
      }
      auto t = ParseChType(it->second);
      if (!t.ok()) {
        return t.status().WithContext(where_ + ": column \"" + f.name +
                                      "\" has an unreadable type");
      }
      types.push_back(std::move(*t));
    }
    if (dedup_ == Dedup::kLedger) {
      for (const auto& [name, type] :
           {std::pair<std::string, std::string>{kPartColumn, "String"},
            std::pair<std::string, std::string>{kAttemptColumn, "UInt64"}}) {
        auto it = have.find(name);
        if (it == have.end()) {
          SLUICE_RETURN_NOT_OK(AddColumn(name, type));
        } else if (it->second != type) {
          return Status::InvalidArgument(where_ + ": column \"" + name + "\" is " + it->second +
                                         ", the ledger needs " + type);
        }
      }
    }
    return types;
  }

  Status AddColumn(const std::string& name, const std::string& type,
                   const std::string& comment = "") {
    SLUICE_LOG(kInfo) << where_ << ": adding column " << ChQuoteIdent(name) << " " << type;
    // 18.x has no ADD COLUMN IF NOT EXISTS; another importer adding the same
    // column at the same moment makes this fail with "already exists".
    Status st = Exec("ALTER TABLE " + qtable_ + " ADD COLUMN " + ChQuoteIdent(name) + " " + type,
                     "adding column \"" + name + "\"");
    if (!st.ok() && st.message().find("already exists") != std::string::npos) return Status::OK();
    SLUICE_RETURN_NOT_OK(st);
    if (comment.empty()) return st;
    // 18.x drops a COMMENT given in ADD COLUMN: set it on its own.
    return Exec("ALTER TABLE " + qtable_ + " COMMENT COLUMN " + ChQuoteIdent(name) + " " +
                    ChQuoteString(comment),
                "recording the sluice type of column \"" + name + "\"");
  }

  // dedup=token into an existing table: the server deduplicates a
  // non-replicated MergeTree only with a window set on the table.
  Status EnsureDedupWindow() {
    SLUICE_ASSIGN_OR_RETURN(
        auto rows,
        admin_->QueryRows("SELECT engine, engine_full FROM system.tables WHERE database = " +
                              ChQuoteString(cfg_.endpoint.database) +
                              " AND name = " + ChQuoteString(cfg_.table),
                          2, where_ + ": reading the table engine"));
    if (rows.empty()) return Status::NotFound(where_ + ": the table disappeared");
    const std::string engine = rows[0][0].value_or("");
    const std::string full = rows[0][1].value_or("");
    if (engine.rfind("Replicated", 0) == 0)
      return Status::OK();  // replicated: deduplicated by default
    if (engine.find("MergeTree") == std::string::npos) {
      return Status::Unsupported(where_ +
                                 ": dedup=token needs a MergeTree-family table, this one is " +
                                 engine + " (use dedup=ledger or dedup=none)");
    }
    if (full.find("non_replicated_deduplication_window") != std::string::npos) return Status::OK();
    return Exec("ALTER TABLE " + qtable_ +
                    " MODIFY SETTING non_replicated_deduplication_window = " +
                    std::to_string(cfg_.dedup_window),
                "enabling insert deduplication on the table");
  }

  // Cleans up after writers that died: attempts left unfinished for an hour
  // are voided, and the rows of void attempts are deleted. Writers do the
  // same for each part they apply; this catches parts that were never
  // re-applied (the run that owned them was not repeated).
  Status Sweep() {
    ChLedger ledger(admin_.get(), &plan_->ledger);
    SLUICE_ASSIGN_OR_RETURN(auto parts, ledger.ReadAll());
    for (auto& [part_id, attempts] : parts) {
      PartInfo part;
      part.part_id = part_id;
      bool dirty = false;
      for (auto& [attempt, st] : attempts) {
        if (st.pending() && st.age_seconds > kAttemptMaxAgeSeconds) {
          SLUICE_ASSIGN_OR_RETURN(bool running, ledger.InsertRunning(part_id, {attempt}));
          if (running) continue;
          SLUICE_RETURN_NOT_OK(ledger.Record(part, attempt, LedgerEvent::kFence, 0));
          st.fenced = true;
        }
        // Only what can be settled for good: void attempts that cannot add
        // rows any more. Younger ones are settled when their part is
        // delivered again (or by a sweep an hour later).
        dirty = dirty || (st.invalid() && (st.done || st.age_seconds > kAttemptMaxAgeSeconds));
      }
      if (dirty) SLUICE_RETURN_NOT_OK(ledger.CleanInvalid(part, attempts, {}));
    }
    return Status::OK();
  }

  Status SwapInStage() {
    SLUICE_ASSIGN_OR_RETURN(bool exists, TableExists(cfg_.table));
    // The replaced table's ledger entries (if it had any) become garbage.
    std::string old_target;
    if (exists && dedup_ == Dedup::kLedger) {
      auto t = ReadLedgerTarget(cfg_.table);
      if (t.ok()) old_target = *t;
    }
    if (!exists) {
      SLUICE_RETURN_NOT_OK(
          Exec("RENAME TABLE " + qstage_ + " TO " + qtable_, "renaming the staging table"));
    } else if (server_.database_engine == "Atomic") {
      // One atomic step on Atomic databases (20.x+).
      SLUICE_RETURN_NOT_OK(
          Exec("EXCHANGE TABLES " + qstage_ + " AND " + qtable_, "swapping in the loaded table"));
      SLUICE_RETURN_NOT_OK(Exec("DROP TABLE " + qstage_, "dropping the replaced table"));
    } else {
      // Ordinary databases (18.16): both renames in one statement, run back
      // to back by the server (a reader may find no table in between).
      SLUICE_RETURN_NOT_OK(
          Exec("DROP TABLE IF EXISTS " + qold_, "dropping a leftover replaced table"));
      SLUICE_RETURN_NOT_OK(
          Exec("RENAME TABLE " + qtable_ + " TO " + qold_ + ", " + qstage_ + " TO " + qtable_,
               "swapping in the loaded table"));
      SLUICE_RETURN_NOT_OK(Exec("DROP TABLE " + qold_, "dropping the replaced table"));
    }
    // The new table took its ledger name along (the comment of its
    // `_sluice_part`): nothing to move. Forgetting the old one's entries is
    // only tidying up (a mutation, not waited for).
    if (!old_target.empty()) {
      Status st =
          Exec("ALTER TABLE " + qledger_ + " DELETE WHERE target = " + ChQuoteString(old_target),
               "forgetting the replaced table's parts");
      if (!st.ok()) SLUICE_LOG(kWarn) << st.message();
    }
    return Status::OK();
  }

  SinkConfig cfg_;
  std::string qtable_, stage_, qstage_, qold_, qledger_, where_;
  std::unique_ptr<ChClient> admin_;
  ServerInfo server_;
  Dedup dedup_ = Dedup::kLedger;
  std::vector<std::string> key_;
  std::shared_ptr<const WritePlan> plan_;
  bool committed_ = false;
};

}  // namespace

Result<std::vector<ChSqlStatement>> SplitChSqlScript(std::string_view text,
                                                     const std::string& name) {
  std::vector<ChSqlStatement> out;
  std::string cur;
  int line = 1;
  int start_line = 0;  // line of the current statement's first token; 0 = none yet
  size_t i = 0;
  auto unterminated = [&](const char* what, int at) {
    return Status::InvalidArgument(name + " line " + std::to_string(at) + ": unterminated " +
                                   what);
  };
  auto flush = [&] {
    if (start_line != 0) {
      while (!cur.empty() && (cur.back() == ' ' || cur.back() == '\t' || cur.back() == '\n' ||
                              cur.back() == '\r')) {
        cur.pop_back();
      }
      out.push_back({std::move(cur), start_line});
    }
    cur.clear();
    start_line = 0;
  };
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\n') ++line;
    if (c == '-' && i + 1 < text.size() && text[i + 1] == '-') {
      const size_t end = text.find('\n', i);
      const size_t stop = end == std::string_view::npos ? text.size() : end;
      if (start_line != 0) cur.append(text.substr(i, stop - i));
      i = stop;  // the newline itself is handled (and counted) as a normal character
      continue;
    }
    if (c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
      const size_t end = text.find("*/", i + 2);
      if (end == std::string_view::npos) return unterminated("/* comment", line);
      const std::string_view comment = text.substr(i, end + 2 - i);
      line += static_cast<int>(std::count(comment.begin(), comment.end(), '\n'));
      if (start_line != 0) cur.append(comment);
      i = end + 2;
      continue;
    }
    if (c == ';') {
      flush();
      ++i;
      continue;
    }
    if (c == '\'' || c == '"' || c == '`') {
      if (start_line == 0) start_line = line;
      const int opened = line;
      size_t j = i + 1;
      for (;;) {
        if (j >= text.size()) {
          return unterminated(c == '\'' ? "'quoted' string" : c == '"' ? "\"quoted\" name"
                                                                       : "`quoted` name",
                              opened);
        }
        if (text[j] == '\\') {
          if (j + 1 < text.size() && text[j + 1] == '\n') ++line;
          j += 2;
          continue;
        }
        if (text[j] == '\n') ++line;
        if (text[j] == c) break;
        ++j;
      }
      cur.append(text.substr(i, j + 1 - i));
      i = j + 1;
      continue;
    }
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    if (!space && start_line == 0) start_line = line;
    if (start_line != 0) cur.push_back(c);
    ++i;
  }
  flush();
  return out;
}

const OptionSpecs& ClickhouseSinkOptionSpecs() {
  static const OptionSpecs specs = {
      {"table", OptionType::kString, "", "target table (in the URI's database)", {}, true},
      {"mode",
       OptionType::kEnum,
       "append",
       "append: add rows (MergeTree); upsert: ReplacingMergeTree(version) keyed by order_by (read "
       "with "
       "FINAL); replace: load a staging table and swap it in at commit",
       {"append", "upsert", "replace"}},
      {"order_by", OptionType::kString, "",
       "ORDER BY columns a,b of created tables (default: the source's primary key, else tuple())"},
      {"partition_by", OptionType::kString, "",
       "PARTITION BY expression of created tables, e.g. toYYYYMM(d)"},
      {"version", OptionType::kString, "",
       "upsert: the ReplacingMergeTree version column (the highest wins)"},
      {"create", OptionType::kBool, "true", "create the table when it does not exist"},
      {"dedup",
       OptionType::kEnum,
       "auto",
       "how re-sent parts are kept out: token (insert_deduplication_token, 22.x+), ledger (hidden "
       "part "
       "columns + the ledger table, any version), none (at-least-once); auto picks token when the "
       "server "
       "has it, else ledger",
       {"auto", "token", "ledger", "none"}},
      {"dedup_window", OptionType::kInt, "10000",
       "dedup=token: non_replicated_deduplication_window (blocks remembered) of tables the sink "
       "creates"},
      {"ledger", OptionType::kString, "_sluice_ledger",
       "dedup=ledger: the ledger table (in the URI's database)"},
      {"writers", OptionType::kInt, "4", "parallel HTTP connections applying parts"},
      {"compression",
       OptionType::kEnum,
       "auto",
       "request body compression; auto = none for a loopback host (there gzip only costs CPU on "
       "both ends: two thirds of the client's), else gzip",
       {"auto", "gzip", "none"}},
      {"part_size", OptionType::kSize, "8MiB",
       "copy: the chunk size (a part in the ledger; consecutive chunks share an INSERT, see "
       "insert_rows) as uncompressed bytes when --part-size is not given"},
      {"insert_rows", OptionType::kInt, "1000000",
       "copy: send consecutive chunks in one INSERT up to this many rows (the server squashes "
       "them into one block, written when the INSERT ends); 0 = one INSERT per chunk, which a "
       "failed INSERT can retry from memory (the chunks of a failed grouped INSERT are gone: "
       "copy reads their splits again, and the ledger skips what is applied)"},
      {"ledger_snapshot", OptionType::kInt, "50000",
       "dedup=ledger, grouped INSERTs: each group reads the ids of the target's parts in one "
       "query when the ledger has no more than this many, else one query per part (0 = "
       "always per part)"},
      {"insert_bytes", OptionType::kSize, "256MiB",
       "copy: the same bound in uncompressed bytes (the server holds a grouped INSERT's rows in "
       "memory until it ends)"},
      {"format",
       OptionType::kEnum,
       "native",
       "insert format: native (one columnar block per part, as clickhouse-client sends) or "
       "rowbinary",
       {"native", "rowbinary"}},
      {"timestamps",
       OptionType::kEnum,
       "auto",
       "timestamp columns of created tables: datetime64 (DateTime64(6, 'UTC'), 20.1+), datetime "
       "(DateTime "
       "'UTC', whole seconds only), micros (Int64 µs since the epoch), string; auto = datetime64 "
       "where "
       "supported, else micros",
       {"auto", "datetime64", "datetime", "micros", "string"}},
      {"dates",
       OptionType::kEnum,
       "auto",
       "date columns of created tables: date32 (21.9+), date (Date: 1970..2105 on 18.x), days "
       "(Int32 days "
       "since 1970-01-01), string; auto = date32 where supported, else days",
       {"auto", "date32", "date", "days", "string"}},
      {"settle", OptionType::kDuration, "5s",
       "dedup=ledger: how long another writer's unfinished attempt must stay idle (no INSERT "
       "running) "
       "before it counts as dead and is undone"},
      {"mutation_timeout", OptionType::kDuration, "10m",
       "dedup=ledger: wait for ALTER .. DELETE mutations"},
      {"timeout", OptionType::kDuration, "5m", "per HTTP request"},
      {"connect_timeout", OptionType::kDuration, "10s", "per connection attempt"},
      {"retries", OptionType::kInt, "3",
       "extra attempts after a transient failure (backoff 0.2 s, x4)"},
      {"init_sql", OptionType::kString, "",
       "a local file of SQL statements (separated by ;) run at every Open, after the table "
       "exists and before the first part is written, e.g. CREATE MATERIALIZED VIEW IF NOT "
       "EXISTS; {db}, {table} and {ledger} stand for the quoted names; 'already exists' "
       "counts as done; not with mode=replace"},
  };
  return specs;
}

Result<std::unique_ptr<Sink>> MakeClickhouseSink(const Uri& uri, const Options& options) {
  SinkConfig cfg;
  SLUICE_ASSIGN_OR_RETURN(cfg.endpoint, ChEndpoint::FromUri(uri));
  cfg.display = uri.Redacted();
  cfg.table = options.GetString("table");
  if (cfg.table.empty())
    return Status::InvalidArgument("clickhouse sink: table= is required (" + cfg.display + ")");
  const std::string mode = options.GetString("mode");
  cfg.mode = mode == "upsert" ? Mode::kUpsert : mode == "replace" ? Mode::kReplace : Mode::kAppend;
  cfg.order_by = SplitCommaList(options.GetString("order_by"));
  cfg.partition_by = options.GetString("partition_by");
  cfg.version = options.GetString("version");
  if (!cfg.version.empty() && cfg.mode != Mode::kUpsert) {
    return Status::InvalidArgument("clickhouse sink: version= needs mode=upsert (" + cfg.display +
                                   ")");
  }
  cfg.create = options.GetBool("create");
  const std::string dedup = options.GetString("dedup");
  cfg.dedup = dedup == "token"    ? Dedup::kToken
              : dedup == "ledger" ? Dedup::kLedger
              : dedup == "none"   ? Dedup::kNone
                                  : Dedup::kAuto;
  cfg.dedup_window = options.GetInt("dedup_window");
  if (cfg.dedup_window < 1)
    return Status::InvalidArgument("clickhouse sink: dedup_window must be >= 1");
  cfg.ledger = options.GetString("ledger");
  if (cfg.ledger.empty())
    return Status::InvalidArgument("clickhouse sink: ledger= must not be empty");
  if (cfg.ledger == cfg.table) {
    return Status::InvalidArgument("clickhouse sink: the target table cannot be the ledger table");
  }
  const int64_t writers = options.GetInt("writers");
  if (writers < 1 || writers > 256)
    return Status::InvalidArgument("clickhouse sink: writers must be 1..256");
  cfg.writers = static_cast<int>(writers);
  const std::string compression = options.GetString("compression");
  cfg.gzip = compression == "gzip" ||
             (compression == "auto" && !IsLoopbackHost(cfg.endpoint.host));
  cfg.native = options.GetString("format") == "native";
  cfg.part_bytes = options.GetSizeBytes("part_size");
  if (cfg.part_bytes < 1024 || cfg.part_bytes > (int64_t{1} << 30))
    return Status::InvalidArgument("clickhouse sink: part_size must be between 1KiB and 1GiB");
  cfg.insert_rows = options.GetInt("insert_rows");
  if (cfg.insert_rows < 0)
    return Status::InvalidArgument("clickhouse sink: insert_rows must be 0 or more");
  cfg.ledger_snapshot = options.GetInt("ledger_snapshot");
  if (cfg.ledger_snapshot < 0)
    return Status::InvalidArgument("clickhouse sink: ledger_snapshot must be 0 or more");
  cfg.insert_bytes = options.GetSizeBytes("insert_bytes");
  if (cfg.insert_bytes < 1024 || cfg.insert_bytes > (int64_t{64} << 30))
    return Status::InvalidArgument("clickhouse sink: insert_bytes must be between 1KiB and 64GiB");
  const std::string ts = options.GetString("timestamps");
  cfg.mapping.timestamps = ts == "datetime64" ? ChTimestampMode::kDateTime64
                           : ts == "datetime" ? ChTimestampMode::kDateTime
                           : ts == "micros"   ? ChTimestampMode::kMicros
                           : ts == "string"   ? ChTimestampMode::kString
                                              : ChTimestampMode::kAuto;
  const std::string dates = options.GetString("dates");
  cfg.mapping.dates = dates == "date32"   ? ChDateMode::kDate32
                      : dates == "date"   ? ChDateMode::kDate
                      : dates == "days"   ? ChDateMode::kDays
                      : dates == "string" ? ChDateMode::kString
                                          : ChDateMode::kAuto;
  cfg.settle_ms = options.GetDurationMs("settle");
  cfg.mutation_timeout_ms = options.GetDurationMs("mutation_timeout");
  cfg.endpoint.request_timeout_ms = options.GetDurationMs("timeout");
  cfg.endpoint.connect_timeout_ms = options.GetDurationMs("connect_timeout");
  const int64_t retries = options.GetInt("retries");
  if (retries < 0 || retries > 20)
    return Status::InvalidArgument("clickhouse sink: retries must be 0..20");
  cfg.endpoint.retries = static_cast<int>(retries);
  cfg.init_sql = options.GetString("init_sql");
  if (!cfg.init_sql.empty() && cfg.mode == Mode::kReplace) {
    // The rows go into a stage that is renamed over the table at commit: a
    // view on the table would see none of them.
    return Status::InvalidArgument(
        "clickhouse sink: init_sql cannot be used with mode=replace (a view on the table sees "
        "no INSERT into its staging table) (" + cfg.display + ")");
  }
  return std::unique_ptr<Sink>(new ClickhouseSink(std::move(cfg)));
}

void RegisterClickhouse(Registry* registry) {
  registry->Add(ConnectorInfo{
      "clickhouse",
      "ClickHouse (HTTP): clickhouse://user:pass@host:8123/db?table=t (or ?query=SELECT...)",
      ClickhouseSourceOptionSpecs(),
      ClickhouseSinkOptionSpecs(),
      MakeClickhouseSource,
      MakeClickhouseSink,
      nullptr,
      nullptr,
  });
}

}  // namespace sluice
