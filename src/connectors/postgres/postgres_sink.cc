// PostgreSQL sink: binary COPY FROM STDIN built from batches, the part ledger
// in the target database, and the modes (append, upsert, replace,
// truncate-insert). See docs/connectors/postgres.md, "Sink".
//
// Exactly-once: every part is applied in ONE transaction that first inserts
// its ledger row (target, part_id) with ON CONFLICT DO NOTHING. If the row is
// already there the part was applied (or is being applied by another
// connection, which holds the row lock: this one waits, then sees the
// conflict) and the transaction is rolled back. So a killed run re-run finds
// exactly the parts that committed and skips them.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "connectors/postgres/pg_conn.h"
#include "connectors/postgres/pg_state.h"
#include "connectors/postgres/pg_copy_writer.h"
#include "connectors/postgres/postgres.h"

namespace sluice {

namespace {

enum class Mode { kAppend, kUpsert, kReplace, kTruncateInsert };

struct SinkConfig {
  PgEndpoint endpoint;
  std::string display;
  std::string schema_name;  // empty: the search_path decides
  std::string rel;
  Mode mode = Mode::kAppend;
  std::vector<std::string> key;
  // upsert: rows whose column is set (non-NULL; true for a boolean) delete
  // the target row with their key instead of being written.
  std::string soft_delete;
  bool create = true;
  // Tables the sink creates for append / replace get their primary key after
  // the load rather than before it.
  bool defer_keys = true;
  std::string ledger = "_sluice_ledger";
  int writers = 4;
  bool jsonb = true;
};

// What every writer needs, fixed at Open.
struct WritePlan {
  PgEndpoint endpoint;
  std::string where;         // "postgres sink <uri> table t", for messages
  std::string copy_sql;      // COPY <dest> (cols) FROM STDIN (FORMAT binary)
  std::string ledger_insert; // INSERT INTO ledger ... ON CONFLICT DO NOTHING RETURNING 1
  std::string ledger_target; // the ledger's `target` value for this run's parts
  std::string stage_create;  // upsert: per-session TEMP staging table
  std::string upsert_sql;    // upsert: staging -> target
  std::string state_sql;     // set by OpenStateStore: stores PartInfo::state
  std::vector<PgWire> wires;
  std::shared_ptr<const Schema> schema;
};

std::string ColumnList(const Schema& s) {
  std::string out;
  for (int i = 0; i < s.num_fields(); ++i) out += (i ? ", " : "") + PgQuoteIdent(s.field(i).name);
  return out;
}

// A connection with the server's NOTICEs ("relation already exists,
// skipping") kept off the user's terminal.
Result<std::unique_ptr<PgConnection>> Connect(const PgEndpoint& endpoint) {
  SLUICE_ASSIGN_OR_RETURN(auto conn, PgConnection::Connect(endpoint));
  SLUICE_RETURN_NOT_OK(conn->Exec("SET client_min_messages TO warning", "setting up the session").status());
  return conn;
}

class PostgresSinkWriter final : public SinkWriter {
 public:
  PostgresSinkWriter(std::shared_ptr<const WritePlan> plan, std::unique_ptr<PgConnection> conn)
      : plan_(std::move(plan)), conn_(std::move(conn)), encoder_(plan_->wires) {}

  Result<ApplyOutcome> ApplyPart(const PartInfo& part,
                                 const std::vector<RecordBatch>& batches) override {
    const std::string ctx = plan_->where + " part " + part.part_id;
    if (part.part_id.empty()) {
      // Every id-less part would look like the first one to the ledger.
      return Status::InvalidArgument(plan_->where + ": empty part id");
    }
    SLUICE_RETURN_NOT_OK(CheckBatchesMatch(*plan_->schema, batches, ctx));
    if (!plan_->stage_create.empty() && !stage_ready_) {
      SLUICE_RETURN_NOT_OK(conn_->Exec(plan_->stage_create, ctx + ": creating the staging table").status());
      stage_ready_ = true;
    }
    SLUICE_RETURN_NOT_OK(conn_->Exec("BEGIN", ctx + ": BEGIN").status());
    Result<ApplyOutcome> r = ApplyInTransaction(part, batches, ctx);
    if (r.ok() && part.state != nullptr) {
      // Stored even when the part is already applied: the state belongs to
      // this run, which may end on a part an interrupted run applied.
      Status st = plan_->state_sql.empty()
                      ? Status::Internal(ctx + ": a part carries state but OpenStateStore was not called")
                      : conn_->ExecParams(plan_->state_sql, PgStateParams(*part.state),
                                          ctx + ": storing the stream state").status();
      if (!st.ok()) r = st;
    }
    if (r.ok() && *r == ApplyOutcome::kAlreadyApplied && part.state != nullptr) {
      SLUICE_RETURN_NOT_OK(conn_->Exec("COMMIT", ctx + ": COMMIT").status());
      return r;
    }
    if (!r.ok() || *r == ApplyOutcome::kAlreadyApplied) {
      // Best effort: a broken connection is reported by the original error.
      (void)conn_->Exec("ROLLBACK", ctx + ": ROLLBACK");
      return r;
    }
    SLUICE_RETURN_NOT_OK(conn_->Exec("COMMIT", ctx + ": COMMIT").status());
    return ApplyOutcome::kApplied;
  }

 private:
  Result<ApplyOutcome> ApplyInTransaction(const PartInfo& part,
                                          const std::vector<RecordBatch>& batches,
                                          const std::string& ctx) {
    SLUICE_ASSIGN_OR_RETURN(
        PgResult led,
        conn_->ExecParams(plan_->ledger_insert,
                          {plan_->ledger_target, part.part_id, part.stream_id,
                           std::to_string(part.part_number), std::to_string(part.rows)},
                          ctx + ": recording the part in the ledger"));
    if (PQntuples(led.get()) == 0) return ApplyOutcome::kAlreadyApplied;
    SLUICE_RETURN_NOT_OK(Copy(batches, ctx));
    if (!plan_->upsert_sql.empty()) {
      SLUICE_RETURN_NOT_OK(conn_->Exec(plan_->upsert_sql, ctx + ": merging staged rows").status());
    }
    return ApplyOutcome::kApplied;
  }

  // Streams the batches through COPY FROM STDIN in ~128 KiB messages. Small
  // on purpose: libpq grows its output buffer to the largest message and
  // never shrinks it, so 1 MiB messages cost each writer ~4 MiB for the
  // connection's lifetime (measured with heaptrack on a Kafka import), for
  // no gain in speed.
  Status Copy(const std::vector<RecordBatch>& batches, const std::string& ctx) {
    PGconn* pg = conn_->get();
    PgResult start(PQexec(pg, plan_->copy_sql.c_str()));
    if (!start || PQresultStatus(start.get()) != PGRES_COPY_IN) {
      return conn_->ErrorFor(start.get(), ctx + ": starting COPY");
    }
    constexpr size_t kFlushBytes = 128 << 10;
    constexpr int64_t kSliceRows = 512;
    buf_.clear();
    PgCopyEncoder::AppendHeader(&buf_);
    Status st;
    auto send = [&]() -> Status {
      if (PQputCopyData(pg, buf_.data(), static_cast<int>(buf_.size())) != 1) {
        return conn_->ErrorFor(nullptr, ctx + ": sending COPY data");
      }
      buf_.clear();
      return Status::OK();
    };
    for (const RecordBatch& b : batches) {
      for (int64_t off = 0; off < b.num_rows() && st.ok(); off += kSliceRows) {
        RecordBatch slice = off == 0 && b.num_rows() <= kSliceRows
                                ? b
                                : b.Slice(off, std::min(kSliceRows, b.num_rows() - off));
        st = encoder_.AppendBatch(slice, &buf_);
        if (st.ok() && buf_.size() >= kFlushBytes) st = send();
      }
      if (!st.ok()) break;
    }
    if (st.ok()) {
      PgCopyEncoder::AppendTrailer(&buf_);
      st = send();
    }
    if (!st.ok()) {
      // Abort the COPY so the connection returns to the (failed) transaction.
      PQputCopyEnd(pg, "sluice: encoding failed");
      while (PgResult r{PQgetResult(pg)}) {}
      return std::move(st).WithContext(ctx);
    }
    if (PQputCopyEnd(pg, nullptr) != 1) return conn_->ErrorFor(nullptr, ctx + ": ending COPY");
    Status result;
    while (PgResult r{PQgetResult(pg)}) {
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK && result.ok()) {
        result = conn_->ErrorFor(r.get(), ctx + ": COPY");
      }
    }
    return result;
  }

  std::shared_ptr<const WritePlan> plan_;
  std::unique_ptr<PgConnection> conn_;
  PgCopyEncoder encoder_;
  std::string buf_;
  bool stage_ready_ = false;
};

class PostgresSink final : public Sink {
 public:
  explicit PostgresSink(SinkConfig cfg) : cfg_(std::move(cfg)) {
    const std::string prefix = cfg_.schema_name.empty() ? "" : PgQuoteIdent(cfg_.schema_name) + ".";
    qtable_ = prefix + PgQuoteIdent(cfg_.rel);
    stage_rel_ = cfg_.rel + "__sluice_stage";
    qstage_ = prefix + PgQuoteIdent(stage_rel_);
    qledger_ = prefix + PgQuoteIdent(cfg_.ledger);
    where_ = "postgres sink " + cfg_.display + " table " + qtable_;
  }

  Status Open(std::shared_ptr<const Schema> schema) override {
    SLUICE_RETURN_NOT_OK(schema->Validate());
    // PostgreSQL truncates identifiers to 63 bytes: a longer stage name could
    // become the target's own name.
    if ((cfg_.mode == Mode::kReplace || cfg_.mode == Mode::kTruncateInsert) && stage_rel_.size() > 63) {
      return Status::InvalidArgument(where_ + ": the table name is too long for mode=replace / "
                                              "truncate-insert (its staging table name \"" +
                                     stage_rel_ + "\" would exceed PostgreSQL's 63 bytes)");
    }
    if (schema->num_fields() == 0) return Status::InvalidArgument(where_ + ": schema has no columns");
    SLUICE_ASSIGN_OR_RETURN(admin_, Connect(plan_ ? plan_->endpoint : cfg_.endpoint));
    // Several importers may open the same new table at once (a consumer
    // group, competing consumers): CREATE ... IF NOT EXISTS is not safe
    // against itself in PostgreSQL (a unique violation on pg_type), so the
    // ledger and table setup of sluice runs is serialized in the database.
    SLUICE_RETURN_NOT_OK(Exec("SELECT pg_advisory_lock(hashtext('sluice: table setup'))",
                              "waiting for another sluice run's table setup"));
    Status st = OpenLocked(std::move(schema));
    Status unlocked = Exec("SELECT pg_advisory_unlock(hashtext('sluice: table setup'))",
                           "releasing the table setup lock");
    return st.ok() ? unlocked : st;
  }

 private:
  Status OpenLocked(std::shared_ptr<const Schema> schema) {
    auto plan = std::make_shared<WritePlan>();
    plan->endpoint = cfg_.endpoint;
    plan->where = where_;
    plan->schema = schema;
    const std::string cols = ColumnList(*schema);

    std::vector<std::string> key = cfg_.key;
    if (key.empty()) {
      for (int i : schema->PrimaryKeyIndices()) key.push_back(schema->field(i).name);
    }
    for (const std::string& k : key) {
      if (!schema->FieldIndex(k)) {
        return Status::InvalidArgument(where_ + ": key column \"" + k + "\" is not in the schema");
      }
    }
    if (cfg_.mode == Mode::kUpsert && key.empty()) {
      return Status::InvalidArgument(where_ + ": mode=upsert needs key columns: give key=a,b, or a "
                                              "source with a primary key");
    }
    std::optional<int> deleted_index;
    if (!cfg_.soft_delete.empty()) {
      if (cfg_.mode != Mode::kUpsert) {
        return Status::InvalidArgument(where_ + ": soft_delete= needs mode=upsert (deletes go by key)");
      }
      deleted_index = schema->FieldIndex(cfg_.soft_delete);
      if (!deleted_index) {
        return Status::InvalidArgument(where_ + ": soft_delete column \"" + cfg_.soft_delete +
                                       "\" is not in the schema");
      }
    }

    SLUICE_RETURN_NOT_OK(
        Exec("CREATE TABLE IF NOT EXISTS " + qledger_ +
                 " (target text NOT NULL, part_id text NOT NULL, stream_id text, part_number bigint, "
                 "rows bigint, applied_at timestamptz NOT NULL DEFAULT now(), "
                 "PRIMARY KEY (target, part_id))",
             "creating the ledger table " + qledger_));

    SLUICE_ASSIGN_OR_RETURN(bool exists, Exists(qtable_));
    std::string dest = qtable_;
    if (cfg_.mode == Mode::kReplace) {
      if (!exists && !cfg_.create) return Status::NotFound(where_ + ": table does not exist (create=false)");
      // A replace always starts over: a stage left by a killed run (and its
      // ledger entries) is discarded; the target is untouched until Commit.
      SLUICE_RETURN_NOT_OK(DropStage());
      deferred_key_ = cfg_.defer_keys ? key : std::vector<std::string>{};
      SLUICE_RETURN_NOT_OK(Exec(CreateTableSql(qstage_, stage_rel_, *schema, key, false, !cfg_.defer_keys),
                                "creating the staging table"));
      for (const Field& f : schema->fields()) plan->wires.push_back(PgWireFor(f.type, cfg_.jsonb));
      dest = qstage_;
      plan->ledger_target = qstage_;
    } else {
      const bool defer = cfg_.defer_keys && cfg_.mode == Mode::kAppend && !key.empty();
      if (!exists) {
        if (!cfg_.create) return Status::NotFound(where_ + ": table does not exist (create=false)");
        SLUICE_RETURN_NOT_OK(Exec(CreateTableSql(qtable_, cfg_.rel, *schema, key, /*if_not_exists=*/true,
                                                 /*with_pk=*/!defer),
                                  "creating the table"));
        if (defer) {
          SLUICE_RETURN_NOT_OK(Exec("COMMENT ON TABLE " + qtable_ + " IS " +
                                        PgQuoteLiteral(kDeferredKeyMarker),
                                    "marking the table's primary key as deferred"));
          deferred_key_ = key;
        }
      } else if (defer) {
        SLUICE_ASSIGN_OR_RETURN(bool marked, HasDeferredKeyMarker());
        if (marked) deferred_key_ = key;
      }
      SLUICE_ASSIGN_OR_RETURN(plan->wires, MatchColumns(*schema));
      plan->ledger_target = qtable_;
      if (cfg_.mode == Mode::kTruncateInsert) {
        SLUICE_RETURN_NOT_OK(DropStage());
        SLUICE_RETURN_NOT_OK(Exec("CREATE TABLE " + qstage_ + " AS SELECT " + cols + " FROM " + qtable_ +
                                      " WITH NO DATA",
                                  "creating the staging table"));
        dest = qstage_;
        plan->ledger_target = qstage_;
      }
      if (cfg_.mode == Mode::kUpsert) {
        const std::string tmp = "pg_temp." + PgQuoteIdent("sluice_upsert_stage");
        plan->stage_create = "CREATE TEMP TABLE IF NOT EXISTS " + PgQuoteIdent("sluice_upsert_stage") +
                             " ON COMMIT DELETE ROWS AS SELECT " + cols + " FROM " + qtable_ +
                             " WITH NO DATA";
        std::string keys, sets;
        for (const std::string& k : key) keys += (keys.empty() ? "" : ", ") + PgQuoteIdent(k);
        for (const Field& f : schema->fields()) {
          if (std::find(key.begin(), key.end(), f.name) != key.end()) continue;
          sets += (sets.empty() ? "" : ", ") + PgQuoteIdent(f.name) + " = EXCLUDED." + PgQuoteIdent(f.name);
        }
        // DISTINCT ON keeps one row per key (the last one COPY appended: the
        // highest ctid), as ON CONFLICT cannot touch a row twice.
        const std::string conflict =
            " ON CONFLICT (" + keys + ") " + (sets.empty() ? "DO NOTHING" : "DO UPDATE SET " + sets);
        if (!deleted_index) {
          plan->upsert_sql = "INSERT INTO " + qtable_ + " (" + cols + ") SELECT DISTINCT ON (" + keys +
                             ") " + cols + " FROM " + tmp + " ORDER BY " + keys + ", ctid DESC" +
                             conflict;
        } else {
          // Soft deletes: the newest version of each key either deletes the
          // target row (flag set) or is upserted, in one statement.
          const Field& flag = schema->field(*deleted_index);
          const std::string f = "l." + PgQuoteIdent(flag.name);
          const std::string is_deleted =
              flag.type.id == TypeId::kBool ? f + " IS TRUE" : f + " IS NOT NULL";
          std::string match;
          for (const std::string& k : key) {
            match += (match.empty() ? "" : " AND ") + std::string("t.") + PgQuoteIdent(k) + " = l." +
                     PgQuoteIdent(k);
          }
          std::string lcols;
          for (const Field& fld : schema->fields()) {
            lcols += (lcols.empty() ? "" : ", ") + std::string("l.") + PgQuoteIdent(fld.name);
          }
          plan->upsert_sql = "WITH l AS MATERIALIZED (SELECT DISTINCT ON (" + keys + ") " + cols +
                             " FROM " + tmp + " ORDER BY " + keys + ", ctid DESC), gone AS (DELETE FROM " +
                             qtable_ + " t USING l WHERE " + match + " AND " + is_deleted +
                             " RETURNING 1) INSERT INTO " + qtable_ + " (" + cols + ") SELECT " + lcols +
                             " FROM l WHERE NOT (" + is_deleted + ")" + conflict;
        }
        dest = tmp;
      }
    }
    plan->copy_sql = "COPY " + dest + " (" + cols + ") FROM STDIN (FORMAT binary)";
    plan->ledger_insert = "INSERT INTO " + qledger_ +
                          " (target, part_id, stream_id, part_number, rows) VALUES ($1, $2, $3, $4, $5) "
                          "ON CONFLICT DO NOTHING RETURNING 1";
    plan->state_sql = state_sql_;
    schema_ = schema;
    plan_ = std::move(plan);
    committed_ = false;
    return Status::OK();
  }

 public:
  Result<std::unique_ptr<StateStore>> OpenStateStore(const StateTables& tables) override {
    for (const std::string* t : {&tables.state, &tables.run_log}) {
      if (*t == cfg_.rel || *t == cfg_.ledger || *t == stage_rel_) {
        return Status::InvalidArgument(where_ + ": the state table \"" + *t +
                                       "\" cannot be the target, staging or ledger table");
      }
    }
    const std::string prefix = cfg_.schema_name.empty() ? "" : PgQuoteIdent(cfg_.schema_name) + ".";
    auto store = OpenPgStateStore(cfg_.endpoint, prefix, tables);
    if (!store.ok()) return store.status().WithContext(where_);
    state_sql_ = PgStateUpsertSql(prefix + PgQuoteIdent(tables.state));
    if (plan_) {
      auto plan = std::make_shared<WritePlan>(*plan_);
      plan->state_sql = state_sql_;
      plan_ = std::move(plan);
    }
    return store;
  }

  Result<std::unique_ptr<SinkWriter>> NewWriter() override {
    if (!plan_) return Status::Internal(where_ + ": NewWriter before Open");
    SLUICE_ASSIGN_OR_RETURN(auto conn, Connect(plan_->endpoint));
    return std::unique_ptr<SinkWriter>(new PostgresSinkWriter(plan_, std::move(conn)));
  }

  int MaxWriters() const override { return cfg_.writers; }

  Status Commit() override {
    if (!plan_) return Status::Internal(where_ + ": Commit before Open");
    if (committed_) return Status::OK();
    if (cfg_.mode == Mode::kAppend && !deferred_key_.empty()) {
      // Every part is committed; the key is built once, under a lock, unless
      // another process loading the same table already did it.
      SLUICE_RETURN_NOT_OK(Exec("BEGIN; LOCK TABLE " + qtable_ + " IN ACCESS EXCLUSIVE MODE",
                                "locking the table to add its primary key"));
      auto marked = HasDeferredKeyMarker();
      Status st = marked.ok() ? Status::OK() : marked.status();
      if (st.ok() && *marked) {
        st = Exec(AddPrimaryKeySql(qtable_, cfg_.rel) + "; COMMENT ON TABLE " + qtable_ + " IS NULL",
                  "adding the primary key after the load");
      }
      if (st.ok()) st = Exec("COMMIT", "committing the primary key");
      if (!st.ok()) {
        (void)admin_->Exec("ROLLBACK", "rollback");
        return st;
      }
      committed_ = true;
      return Status::OK();
    }
    if (cfg_.mode != Mode::kReplace && cfg_.mode != Mode::kTruncateInsert) {
      return Status::OK();  // every part committed on its own
    }
    std::string sql = "BEGIN; ";
    if (cfg_.mode == Mode::kReplace) {
      if (!deferred_key_.empty()) {
        sql += AddPrimaryKeySql(qstage_, stage_rel_) + "; ";
        has_stage_pk_ = true;
      }
      sql += "DROP TABLE IF EXISTS " + qtable_ + "; ALTER TABLE " + qstage_ + " RENAME TO " +
             PgQuoteIdent(cfg_.rel) + "; ";
      if (has_stage_pk_) {
        sql += "ALTER TABLE " + qtable_ + " RENAME CONSTRAINT " + PgQuoteIdent(stage_rel_ + "_pkey") +
               " TO " + PgQuoteIdent(cfg_.rel + "_pkey") + "; ";
      }
    } else {
      const std::string cols = ColumnList(*schema_);
      sql += "TRUNCATE " + qtable_ + "; INSERT INTO " + qtable_ + " (" + cols + ") SELECT " + cols +
             " FROM " + qstage_ + "; DROP TABLE " + qstage_ + "; ";
    }
    // The ledger now describes the new contents: this run's parts, under the
    // target's name.
    sql += "DELETE FROM " + qledger_ + " WHERE target = " + PgQuoteLiteral(qtable_) + "; UPDATE " +
           qledger_ + " SET target = " + PgQuoteLiteral(qtable_) + " WHERE target = " +
           PgQuoteLiteral(qstage_) + "; COMMIT";
    Status st = Exec(sql, "swapping in the loaded table");
    if (!st.ok()) {
      (void)admin_->Exec("ROLLBACK", "rollback");
      return st;
    }
    committed_ = true;
    return Status::OK();
  }

  Status Close() override {
    admin_.reset();
    return Status::OK();
  }

 private:
  Status Exec(const std::string& sql, const std::string& what) {
    return admin_->Exec(sql, where_ + ": " + what).status();
  }

  Result<bool> HasDeferredKeyMarker() {
    SLUICE_ASSIGN_OR_RETURN(
        PgResult r, admin_->ExecParams("SELECT obj_description(to_regclass($1), 'pg_class') = $2",
                                       {qtable_, kDeferredKeyMarker},
                                       where_ + ": looking for a deferred primary key"));
    return PQntuples(r.get()) == 1 && !PQgetisnull(r.get(), 0, 0) &&
           std::string_view(PQgetvalue(r.get(), 0, 0)) == "t";
  }

  Result<bool> Exists(const std::string& qname) {
    SLUICE_ASSIGN_OR_RETURN(PgResult r, admin_->ExecParams("SELECT to_regclass($1) IS NOT NULL", {qname},
                                                           where_ + ": looking up the table"));
    return std::string(PQgetvalue(r.get(), 0, 0)) == "t";
  }

  Status DropStage() {
    SLUICE_RETURN_NOT_OK(Exec("DROP TABLE IF EXISTS " + qstage_, "dropping an old staging table"));
    return admin_->ExecParams("DELETE FROM " + qledger_ + " WHERE target = $1", {qstage_},
                              where_ + ": clearing the staging ledger entries")
        .status();
  }

  // `with_pk` false: the key columns are NOT NULL but the PRIMARY KEY is
  // added after the load (AddPrimaryKeySql): building the index once at the
  // end is cheaper than maintaining it row by row, as pg_dump does.
  std::string CreateTableSql(const std::string& qname, const std::string& rel, const Schema& schema,
                             const std::vector<std::string>& key, bool if_not_exists = false,
                             bool with_pk = true) {
    std::string sql = std::string("CREATE TABLE ") + (if_not_exists ? "IF NOT EXISTS " : "") + qname + " (";
    for (int i = 0; i < schema.num_fields(); ++i) {
      const Field& f = schema.field(i);
      sql += (i ? ", " : "") + PgQuoteIdent(f.name) + " " + PgSqlTypeFor(f.type, cfg_.jsonb);
      bool is_key = std::find(key.begin(), key.end(), f.name) != key.end();
      if (!f.nullable || is_key) sql += " NOT NULL";
    }
    if (!key.empty() && with_pk) {
      sql += ", CONSTRAINT " + PgQuoteIdent(rel + "_pkey") + " PRIMARY KEY (";
      for (size_t i = 0; i < key.size(); ++i) sql += (i ? ", " : "") + PgQuoteIdent(key[i]);
      sql += ")";
      if (qname == qstage_) has_stage_pk_ = true;
    }
    return sql + ")";
  }

  std::string AddPrimaryKeySql(const std::string& qname, const std::string& rel) const {
    std::string sql = "ALTER TABLE " + qname + " ADD CONSTRAINT " + PgQuoteIdent(rel + "_pkey") +
                      " PRIMARY KEY (";
    for (size_t i = 0; i < deferred_key_.size(); ++i) {
      sql += (i ? ", " : "") + PgQuoteIdent(deferred_key_[i]);
    }
    return sql + ")";
  }

  // The comment marking a table sluice created without its primary key yet
  // (a killed load's re-run finds it and still adds the key at Commit).
  static constexpr const char* kDeferredKeyMarker = "sluice: primary key added when the load commits";

  // Checks the existing table against `schema`: adds missing columns (schema
  // drift), fails on a column whose type cannot hold the source's values.
  Result<std::vector<PgWire>> MatchColumns(const Schema& schema) {
    SLUICE_ASSIGN_OR_RETURN(
        PgResult r,
        admin_->ExecParams("SELECT a.attname, t.typname, a.atttypmod FROM pg_attribute a "
                           "JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = to_regclass($1) "
                           "AND a.attnum > 0 AND NOT a.attisdropped",
                           {qtable_}, where_ + ": reading the table's columns"));
    std::vector<PgWire> wires;
    for (const Field& f : schema.fields()) {
      int row = -1;
      for (int i = 0; i < PQntuples(r.get()); ++i) {
        if (f.name == PQgetvalue(r.get(), i, 0)) { row = i; break; }
      }
      if (row < 0) {
        // Schema drift: a new source column. Nullable, since existing rows
        // have no value for it.
        SLUICE_RETURN_NOT_OK(Exec("ALTER TABLE " + qtable_ + " ADD COLUMN " + PgQuoteIdent(f.name) + " " +
                                      PgSqlTypeFor(f.type, cfg_.jsonb),
                                  "adding column \"" + f.name + "\""));
        wires.push_back(PgWireFor(f.type, cfg_.jsonb));
        continue;
      }
      PgTargetType t;
      t.typname = PQgetvalue(r.get(), row, 1);
      int typmod = std::atoi(PQgetvalue(r.get(), row, 2));
      if (t.typname == "numeric" && typmod >= 4) {
        t.precision = ((typmod - 4) >> 16) & 0xFFFF;
        t.scale = static_cast<int16_t>(static_cast<uint16_t>(((typmod - 4) & 0x7FF) << 5)) >> 5;
      }
      Result<PgWire> w = PgSinkTypeCompatible(f.type, t);
      if (!w.ok()) {
        return Status::InvalidArgument(where_ + ": column \"" + f.name + "\": " + w.status().message());
      }
      wires.push_back(*w);
    }
    return wires;
  }

  SinkConfig cfg_;
  std::string qtable_, stage_rel_, qstage_, qledger_, where_;
  std::unique_ptr<PgConnection> admin_;
  std::shared_ptr<const WritePlan> plan_;
  std::string state_sql_;  // set by OpenStateStore
  std::shared_ptr<const Schema> schema_;
  bool has_stage_pk_ = false;
  // Append into a table sluice created, or replace: the primary key the
  // load defers to Commit (empty: none deferred).
  std::vector<std::string> deferred_key_;
  bool committed_ = false;
};

}  // namespace

const OptionSpecs& PostgresSinkOptionSpecs() {
  static const OptionSpecs specs = {
      {"table", OptionType::kString, "", "target table: schema.table or table", {}, true},
      {"mode", OptionType::kEnum, "append",
       "append: add rows; upsert: insert or update by key; replace: load a new table and swap it "
       "in at commit; truncate-insert: load a staging table, then empty the target and insert "
       "into it at commit (keeps the table, its grants and dependent views)",
       {"append", "upsert", "replace", "truncate-insert"}},
      {"key", OptionType::kString, "", "key columns a,b (default: the source's primary key)"},
      {"soft_delete", OptionType::kString, "",
       "upsert: rows whose COLUMN is set (non-NULL, or true) delete the target row by key "
       "instead of being written"},
      {"create", OptionType::kBool, "true", "create the table when it does not exist"},
      {"defer_keys", OptionType::kBool, "true",
       "append / replace into a table the sink creates: add its primary key after the load "
       "(one index build, as pg_dump does) instead of maintaining it row by row"},
      {"ledger", OptionType::kString, "_sluice_ledger",
       "table recording applied part ids (in the target's schema)"},
      {"writers", OptionType::kInt, "4", "parallel connections applying parts"},
      {"json", OptionType::kEnum, "jsonb", "column type for json columns of new tables",
       {"jsonb", "json"}},
  };
  return specs;
}

Result<std::unique_ptr<Sink>> MakePostgresSink(const Uri& uri, const Options& options) {
  SinkConfig cfg;
  SLUICE_ASSIGN_OR_RETURN(cfg.endpoint, PgEndpoint::FromUri(uri));
  cfg.display = uri.Redacted();
  std::string table = options.GetString("table");
  if (table.empty()) return Status::InvalidArgument("postgres sink: table= is required (" + cfg.display + ")");
  size_t dot = table.find('.');
  if (dot != std::string::npos) {
    cfg.schema_name = table.substr(0, dot);
    cfg.rel = table.substr(dot + 1);
  } else {
    cfg.rel = table;
  }
  if (cfg.rel.empty()) return Status::InvalidArgument("postgres sink: empty table name in table=" + table);
  const std::string mode = options.GetString("mode");
  cfg.mode = mode == "replace"           ? Mode::kReplace
             : mode == "upsert"          ? Mode::kUpsert
             : mode == "truncate-insert" ? Mode::kTruncateInsert
                                         : Mode::kAppend;
  cfg.key = SplitCommaList(options.GetString("key"));
  cfg.soft_delete = options.GetString("soft_delete");
  cfg.create = options.GetBool("create");
  cfg.defer_keys = options.GetBool("defer_keys");
  cfg.ledger = options.GetString("ledger");
  if (cfg.ledger.empty()) return Status::InvalidArgument("postgres sink: ledger= must not be empty");
  if (cfg.ledger == cfg.rel) {
    return Status::InvalidArgument("postgres sink: the target table cannot be the ledger table");
  }
  int64_t writers = options.GetInt("writers");
  if (writers < 1 || writers > 256) return Status::InvalidArgument("postgres sink: writers must be 1..256");
  cfg.writers = static_cast<int>(writers);
  cfg.jsonb = options.GetString("json") == "jsonb";
  return std::unique_ptr<Sink>(new PostgresSink(std::move(cfg)));
}

}  // namespace sluice
