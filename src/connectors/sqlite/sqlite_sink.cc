// SQLite sink: table creation / compatibility checks, the ledger, one
// transaction per part, and the atomic staging-table swap of replace mode.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <optional>

#include "connectors/sqlite/sqlite.h"
#include "connectors/sqlite/sqlite_db.h"
#include "connectors/sqlite/sqlite_state.h"
#include "connectors/sqlite/sqlite_types.h"
#include "core/temporal.h"
#include "core/text.h"

namespace sluice {
namespace sqlite {
namespace {

constexpr std::string_view kStageSuffix = "__sluice_stage";

enum class Mode { kAppend, kReplace, kUpsert };

struct SinkConfig {
  std::string path;
  std::string table;
  Mode mode = Mode::kAppend;
  std::string key;  // comma-separated, empty = schema primary key
  std::string soft_delete;  // upsert: flagged rows delete their key's row
  bool create = true;
  std::string ledger = "_sluice_ledger";
  std::string journal_mode = "wal";
  std::string synchronous = "normal";
  int64_t busy_timeout_ms = 30000;
  int64_t cache_bytes = int64_t{64} << 20;
  int writers = 4;
};

// Shared by the sink and its writers; immutable after Open except the mutex.
struct WritePlan {
  std::shared_ptr<const Schema> schema;
  std::string path;
  std::string target;   // the table parts go into (the staging table in replace mode)
  std::string ledger;
  std::string insert_sql;
  std::string journal_mode;  // set on every connection (Database::SetJournalMode)
  std::string pragmas;       // run on every connection
  std::string state_table;  // set by OpenStateStore: where PartInfo::state goes
  // upsert with soft_delete=: the flag column and the key columns of the
  // DELETE a flagged row runs instead of its insert.
  int soft_delete_index = -1;
  std::vector<int> key;
  std::string delete_sql;
  int64_t busy_timeout_ms = 30000;
  // SQLite admits one writer at a time; queueing this process's writers on a
  // mutex hands the lock over without busy-handler sleeps. Other processes
  // still wait through busy_timeout.
  std::mutex write_mu;
};

std::string NowUtc() {
  auto now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  std::string s;
  AppendTimestamp(now.time_since_epoch().count(), true, &s);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Columns of an existing table, as PRAGMA table_xinfo reports them.
struct TableColumn {
  std::string name, decl;
  bool notnull = false;
  bool has_default = false;
  int pk = 0;
  int hidden = 0;
};

Result<std::vector<TableColumn>> ReadColumns(Database* db, const std::string& table) {
  SLUICE_ASSIGN_OR_RETURN(Statement st, db->Prepare(
      "SELECT name, type, \"notnull\", dflt_value IS NOT NULL, pk, hidden "
      "FROM pragma_table_xinfo(?1)"));
  SLUICE_RETURN_NOT_OK(st.BindText(1, table));
  std::vector<TableColumn> cols;
  while (true) {
    SLUICE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    cols.push_back(TableColumn{std::string(st.ColumnText(0)), std::string(st.ColumnText(1)),
                               st.ColumnInt64(2) != 0, st.ColumnInt64(3) != 0,
                               static_cast<int>(st.ColumnInt64(4)),
                               static_cast<int>(st.ColumnInt64(5))});
  }
  return cols;
}

// The stored name and type of `name` in sqlite_master (case-insensitive), if any.
Result<std::optional<std::pair<std::string, std::string>>> FindObject(Database* db,
                                                                       const std::string& name) {
  SLUICE_ASSIGN_OR_RETURN(Statement st, db->Prepare(
      "SELECT name, type FROM sqlite_master WHERE name = ?1 COLLATE NOCASE"));
  SLUICE_RETURN_NOT_OK(st.BindText(1, name));
  SLUICE_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<std::pair<std::string, std::string>>();
  return std::optional<std::pair<std::string, std::string>>(
      std::make_pair(std::string(st.ColumnText(0)), std::string(st.ColumnText(1))));
}

class SqliteWriter final : public SinkWriter {
 public:
  static Result<std::unique_ptr<SinkWriter>> Make(std::shared_ptr<WritePlan> plan) {
    auto w = std::unique_ptr<SqliteWriter>(new SqliteWriter(plan));
    SLUICE_ASSIGN_OR_RETURN(w->db_, Database::Open(plan->path, SQLITE_OPEN_READWRITE,
                                                   plan->busy_timeout_ms));
    SLUICE_RETURN_NOT_OK(w->db_.SetJournalMode(plan->journal_mode, plan->busy_timeout_ms));
    SLUICE_RETURN_NOT_OK(w->db_.Exec(plan->pragmas));
    SLUICE_ASSIGN_OR_RETURN(w->insert_, w->db_.Prepare(plan->insert_sql, true));
    if (!plan->delete_sql.empty()) {
      SLUICE_ASSIGN_OR_RETURN(w->delete_, w->db_.Prepare(plan->delete_sql, true));
    }
    const std::string ledger = QuoteIdentifier(plan->ledger);
    SLUICE_ASSIGN_OR_RETURN(w->find_, w->db_.Prepare(
        "SELECT 1 FROM " + ledger + " WHERE target = ?1 AND part_id = ?2", true));
    SLUICE_ASSIGN_OR_RETURN(w->record_, w->db_.Prepare(
        "INSERT INTO " + ledger +
            " (target, part_id, stream_id, part_number, \"rows\", applied_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        true));
    w->scratch_.resize(static_cast<size_t>(plan->schema->num_fields()));
    return std::unique_ptr<SinkWriter>(std::move(w));
  }

  Result<ApplyOutcome> ApplyPart(const PartInfo& part,
                                 const std::vector<RecordBatch>& batches) override {
    const std::string ctx = "sqlite sink '" + plan_->path + "' table " +
                            QuoteIdentifier(plan_->target) + ": part '" + part.part_id + "'";
    if (part.part_id.empty()) {
      // Every id-less part would look like the first one to the ledger.
      return Status::InvalidArgument(ctx + ": empty part id");
    }
    SLUICE_RETURN_NOT_OK_CTX(CheckBatches(batches), ctx);
    std::lock_guard<std::mutex> lock(plan_->write_mu);
    // IMMEDIATE: take the write lock now, so that a busy database fails here
    // (retryable) rather than half way through the part.
    SLUICE_RETURN_NOT_OK_CTX(db_.Exec("BEGIN IMMEDIATE"), ctx);
    TransactionGuard txn(&db_);
    find_.Reset();
    SLUICE_RETURN_NOT_OK_CTX(find_.BindText(1, plan_->target), ctx);
    SLUICE_RETURN_NOT_OK_CTX(find_.BindText(2, part.part_id), ctx);
    auto seen = find_.Step();
    find_.Reset();
    if (!seen.ok()) return seen.status().WithContext(ctx);
    if (part.state != nullptr) {
      // Stored even when the part is already applied: the state belongs to
      // this run, which may end on a part an interrupted run applied.
      if (plan_->state_table.empty()) {
        return Status::Internal(ctx + ": a part carries state but OpenStateStore was not called");
      }
      SLUICE_RETURN_NOT_OK_CTX(WriteState(&db_, plan_->state_table, *part.state), ctx);
      if (*seen) {
        SLUICE_RETURN_NOT_OK_CTX(db_.Exec("COMMIT"), ctx + ": commit");
        txn.Release();
        return ApplyOutcome::kAlreadyApplied;
      }
    }
    if (*seen) return ApplyOutcome::kAlreadyApplied;  // txn rolls back

    int64_t row_in_part = 0;
    for (const RecordBatch& batch : batches) {
      for (int64_t r = 0; r < batch.num_rows(); ++r, ++row_in_part) {
        const bool deleted =
            plan_->soft_delete_index >= 0 && SoftDeleted(batch.column(plan_->soft_delete_index), r);
        Status st = deleted ? DeleteRow(batch, r) : InsertRow(batch, r);
        if (!st.ok()) {
          insert_.Reset();
          if (delete_) delete_.Reset();
          return st.WithContext(ctx + ", row " + std::to_string(row_in_part));
        }
      }
    }
    record_.Reset();
    SLUICE_RETURN_NOT_OK_CTX(record_.BindText(1, plan_->target), ctx);
    SLUICE_RETURN_NOT_OK_CTX(record_.BindText(2, part.part_id), ctx);
    SLUICE_RETURN_NOT_OK_CTX(record_.BindText(3, part.stream_id), ctx);
    SLUICE_RETURN_NOT_OK_CTX(record_.BindInt64(4, part.part_number), ctx);
    SLUICE_RETURN_NOT_OK_CTX(record_.BindInt64(5, row_in_part), ctx);
    SLUICE_RETURN_NOT_OK_CTX(record_.BindText(6, NowUtc()), ctx);
    Status st = record_.Run();
    record_.Reset();
    SLUICE_RETURN_NOT_OK_CTX(st, ctx + ": recording the part in the ledger");
    SLUICE_RETURN_NOT_OK_CTX(db_.Exec("COMMIT"), ctx + ": commit");
    txn.Release();
    return ApplyOutcome::kApplied;
  }

 private:
  explicit SqliteWriter(std::shared_ptr<WritePlan> plan) : plan_(std::move(plan)) {}

  Status CheckBatches(const std::vector<RecordBatch>& batches) const {
    const Schema& s = *plan_->schema;
    for (const RecordBatch& b : batches) {
      if (b.num_columns() != s.num_fields()) {
        return Status::InvalidArgument("batch has " + std::to_string(b.num_columns()) +
                                       " columns, the sink was opened with " +
                                       std::to_string(s.num_fields()));
      }
      for (int c = 0; c < b.num_columns(); ++c) {
        const Column& col = b.column(c);
        if (col.type.id != s.field(c).type.id || col.length != b.num_rows()) {
          return Status::InvalidArgument("column '" + s.field(c).name + "' is " + col.type.ToString() +
                                         " with " + std::to_string(col.length) +
                                         " values; expected " + s.field(c).type.ToString() +
                                         " with " + std::to_string(b.num_rows()));
        }
      }
    }
    return Status::OK();
  }

  // Binds row `r` and inserts it. Text and blobs are bound SQLITE_STATIC:
  // they point into the batch or into scratch_, both unchanged until the
  // statement has been stepped and reset.
  Status InsertRow(const RecordBatch& batch, int64_t r) { return StepRow(&insert_, batch, r, nullptr); }
  Status DeleteRow(const RecordBatch& batch, int64_t r) {
    return StepRow(&delete_, batch, r, &plan_->key);
  }

  // Binds row r's values (every column, or `columns` as ?1..?k) and runs `st`.
  Status StepRow(Statement* st, const RecordBatch& batch, int64_t r, const std::vector<int>* columns) {
    sqlite3_stmt* stmt = st->get();
    const int n = columns ? static_cast<int>(columns->size()) : batch.num_columns();
    int rc = SQLITE_OK;
    for (int j = 0; j < n && rc == SQLITE_OK; ++j) {
      const int c = columns ? (*columns)[static_cast<size_t>(j)] : j;
      const Column& col = batch.column(c);
      const int idx = j + 1;
      if (col.IsNull(r)) {
        rc = sqlite3_bind_null(stmt, idx);
        continue;
      }
      std::string& scratch = scratch_[static_cast<size_t>(c)];
      switch (col.type.id) {
        case TypeId::kInt8: rc = sqlite3_bind_int64(stmt, idx, col.Value<int8_t>(r)); break;
        case TypeId::kInt16: rc = sqlite3_bind_int64(stmt, idx, col.Value<int16_t>(r)); break;
        case TypeId::kInt32: rc = sqlite3_bind_int64(stmt, idx, col.Value<int32_t>(r)); break;
        case TypeId::kInt64: rc = sqlite3_bind_int64(stmt, idx, col.Value<int64_t>(r)); break;
        case TypeId::kUInt8: rc = sqlite3_bind_int64(stmt, idx, col.Value<uint8_t>(r)); break;
        case TypeId::kUInt16: rc = sqlite3_bind_int64(stmt, idx, col.Value<uint16_t>(r)); break;
        case TypeId::kUInt32: rc = sqlite3_bind_int64(stmt, idx, col.Value<uint32_t>(r)); break;
        case TypeId::kUInt64: {
          uint64_t v = col.Value<uint64_t>(r);
          if (v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            rc = sqlite3_bind_int64(stmt, idx, static_cast<int64_t>(v));
          } else {
            // Beyond SQLite's INTEGER: as text, SQLite would turn it into a
            // lossy REAL; a BLOB of the digits is kept as is.
            scratch.clear();
            AppendText(col, r, &scratch);
            rc = sqlite3_bind_blob(stmt, idx, scratch.data(), static_cast<int>(scratch.size()), SQLITE_STATIC);
          }
          break;
        }
        case TypeId::kFloat32:
          rc = BindDouble(stmt, idx, col.Value<float>(r));
          break;
        case TypeId::kFloat64:
          rc = BindDouble(stmt, idx, col.Value<double>(r));
          break;
        case TypeId::kDecimal:
          rc = BindDecimal(stmt, idx, col.DecimalValue(r), col.type.scale, &scratch);
          break;
        case TypeId::kBool:
          rc = sqlite3_bind_int(stmt, idx, col.BoolValue(r) ? 1 : 0);
          break;
        case TypeId::kString: case TypeId::kJson: {
          std::string_view s = col.StringValue(r);
          // A null pointer would bind NULL; "" keeps the empty string.
          rc = sqlite3_bind_text(stmt, idx, s.empty() ? "" : s.data(), static_cast<int>(s.size()),
                                 SQLITE_STATIC);
          break;
        }
        case TypeId::kBinary: {
          std::string_view s = col.StringValue(r);
          rc = s.empty() ? sqlite3_bind_zeroblob(stmt, idx, 0)
                         : sqlite3_bind_blob(stmt, idx, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
          break;
        }
        case TypeId::kDate: {
          int32_t d = col.Value<int32_t>(r);
          if (d < kMinDate || d > kMaxDate) return OutOfRange(c, "date", d);
          scratch.clear();
          AppendDate(d, &scratch);
          rc = BindScratch(stmt, idx, scratch);
          break;
        }
        case TypeId::kTime: {
          int64_t t = col.Value<int64_t>(r);
          // 24:00:00 (PostgreSQL's end of day) is kept: it has a text form.
          if (t < 0 || t > kMicrosPerDay) return OutOfRange(c, "time", t);
          scratch.clear();
          AppendTime(t, &scratch);
          rc = BindScratch(stmt, idx, scratch);
          break;
        }
        case TypeId::kTimestamp: {
          int64_t t = col.Value<int64_t>(r);
          if (t < int64_t{kMinDate} * kMicrosPerDay || t >= (int64_t{kMaxDate} + 1) * kMicrosPerDay) {
            return OutOfRange(c, "timestamp", t);
          }
          scratch.clear();
          AppendTimestamp(t, col.type.with_zone, &scratch);
          rc = BindScratch(stmt, idx, scratch);
          break;
        }
        case TypeId::kUuid:
          scratch.clear();
          AppendUuid(col.FixedBytes(r, 16), &scratch);
          rc = BindScratch(stmt, idx, scratch);
          break;
      }
    }
    if (rc != SQLITE_OK) return st->Error(rc).WithContext("binding values");
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) return st->Error(rc);
    sqlite3_reset(stmt);
    return Status::OK();
  }

  static int BindScratch(sqlite3_stmt* stmt, int idx, const std::string& s) {
    return sqlite3_bind_text(stmt, idx, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
  }

  // NaN: SQLite would store NULL, so it goes in as the text 'NaN' (kept as
  // text by REAL affinity). -0.0: REAL affinity stores integral values as
  // integers and loses the sign, so it goes in as a BLOB '-0'.
  static int BindDouble(sqlite3_stmt* stmt, int idx, double d) {
    if (std::isnan(d)) return sqlite3_bind_text(stmt, idx, "NaN", 3, SQLITE_STATIC);
    if (d == 0.0 && std::signbit(d)) return sqlite3_bind_blob(stmt, idx, "-0", 2, SQLITE_STATIC);
    return sqlite3_bind_double(stmt, idx, d);
  }

  // Exact decimals in a DECIMAL(p,s) column (NUMERIC affinity, which turns
  // number-like text into INTEGER or a 15-digit REAL): integral values that
  // fit int64 -> INTEGER; at most 15 significant digits -> REAL (its
  // shortest text is the decimal again); otherwise a BLOB of the exact text.
  static int BindDecimal(sqlite3_stmt* stmt, int idx, int128_t v, int scale, std::string* scratch) {
    const int128_t p10 = Pow10(scale);
    if (v % p10 == 0) {
      int128_t q = v / p10;
      if (q >= std::numeric_limits<int64_t>::min() && q <= std::numeric_limits<int64_t>::max()) {
        return sqlite3_bind_int64(stmt, idx, static_cast<int64_t>(q));
      }
    }
    // Strip trailing zeros: v = m * 10^-e (e < 0 for integral values beyond int64).
    int128_t m = v;
    int e = scale;
    while (m % 10 == 0) {
      m /= 10;
      --e;
    }
    constexpr int64_t kMax15 = 999'999'999'999'999;
    if (m >= -kMax15 && m <= kMax15) {
      // m and 10^e (e <= 22) are exact doubles and IEEE division rounds
      // correctly: the same double as parsing the decimal text.
      static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                          1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                          1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
      const double dm = static_cast<double>(static_cast<int64_t>(m));
      if (e >= 0 && e <= 22) return sqlite3_bind_double(stmt, idx, dm / kPow10[e]);
      if (e < 0 && e >= -22) return sqlite3_bind_double(stmt, idx, dm * kPow10[-e]);
      scratch->clear();
      AppendDecimal(v, scale, scratch);
      double d = 0;
      auto [p, ec] = std::from_chars(scratch->data(), scratch->data() + scratch->size(), d);
      if (ec == std::errc() && p == scratch->data() + scratch->size()) {
        return sqlite3_bind_double(stmt, idx, d);
      }
    }
    scratch->clear();
    AppendDecimal(v, scale, scratch);
    return sqlite3_bind_blob(stmt, idx, scratch->data(), static_cast<int>(scratch->size()), SQLITE_STATIC);
  }

  Status OutOfRange(int c, std::string_view what, int64_t v) const {
    return Status::InvalidData("column '" + plan_->schema->field(c).name + "': " + std::string(what) +
                               " value " + std::to_string(v) + " (microseconds) is outside " +
                               (what == "time" ? "00:00:00..24:00:00" : "0001-01-01..9999-12-31") +
                               " and has no ISO-8601 text form");
  }

  std::shared_ptr<WritePlan> plan_;
  Database db_;
  Statement insert_, delete_, find_, record_;
  std::vector<std::string> scratch_;
};

class SqliteSink final : public Sink {
 public:
  explicit SqliteSink(SinkConfig config) : cfg_(std::move(config)) {}

  Status Open(std::shared_ptr<const Schema> schema) override {
    if (!schema) return Status::InvalidArgument(Where() + ": no schema");
    SLUICE_RETURN_NOT_OK_CTX(schema->Validate(), Where());
    if (schema->num_fields() == 0) {
      return Status::InvalidArgument(Where() + ": a table needs at least one column");
    }
    SLUICE_RETURN_NOT_OK_CTX(CheckIdentifier(cfg_.table, "table"), Where());
    SLUICE_RETURN_NOT_OK_CTX(CheckIdentifier(cfg_.ledger, "ledger table"), Where());
    for (const auto& f : schema->fields()) {
      SLUICE_RETURN_NOT_OK_CTX(CheckIdentifier(f.name, "column"), Where());
    }
    if (EqualsNoCase(cfg_.table, cfg_.ledger)) {
      return Status::InvalidArgument(Where() + ": the target table cannot be the ledger table");
    }
    SLUICE_ASSIGN_OR_RETURN(std::vector<int> key, ResolveKey(*schema));

    auto plan = std::make_shared<WritePlan>();
    plan->schema = schema;
    plan->path = cfg_.path;
    plan->busy_timeout_ms = cfg_.busy_timeout_ms;
    plan->ledger = cfg_.ledger;
    plan->journal_mode = cfg_.journal_mode;
    plan->pragmas = "PRAGMA synchronous=" + cfg_.synchronous + "; PRAGMA cache_size=-" +
                    std::to_string(std::max<int64_t>(cfg_.cache_bytes / 1024, 1)) + ";";

    auto db = Database::Open(cfg_.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                             cfg_.busy_timeout_ms);
    if (!db.ok()) return db.status().WithContext("sqlite sink");
    admin_ = std::move(*db);
    SLUICE_RETURN_NOT_OK_CTX(admin_.SetJournalMode(plan->journal_mode, plan->busy_timeout_ms),
                             Where());
    SLUICE_RETURN_NOT_OK_CTX(admin_.Exec(plan->pragmas), Where());
    SLUICE_RETURN_NOT_OK_CTX(admin_.Exec("BEGIN IMMEDIATE"), Where());
    TransactionGuard txn(&admin_);
    SLUICE_RETURN_NOT_OK_CTX(EnsureLedger(), Where());
    SLUICE_ASSIGN_OR_RETURN(auto existing, FindObject(&admin_, cfg_.table));
    if (existing && existing->second != "table") {
      return Status::InvalidArgument(Where() + ": '" + existing->first + "' is a " + existing->second +
                                     ", not a table");
    }
    if (!existing && !cfg_.create) {
      return Status::NotFound(Where() + ": table '" + cfg_.table + "' does not exist (create=false)");
    }
    if (cfg_.mode == Mode::kReplace) {
      // A fresh staging table for every run: leftovers of an interrupted
      // replace (rows and their ledger entries) are discarded, so replace
      // always rebuilds the whole table from this run's parts.
      stage_ = cfg_.table + std::string(kStageSuffix);
      SLUICE_ASSIGN_OR_RETURN(auto old_stage, FindObject(&admin_, stage_));
      if (old_stage) {
        if (old_stage->second != "table") {
          return Status::InvalidArgument(Where() + ": '" + old_stage->first + "' is a " +
                                         old_stage->second + ", cannot use it as the staging table");
        }
        stage_ = old_stage->first;
        SLUICE_RETURN_NOT_OK_CTX(admin_.Exec("DROP TABLE " + QuoteIdentifier(stage_)), Where());
      }
      SLUICE_RETURN_NOT_OK_CTX(ForgetLedger(stage_), Where());
      SLUICE_RETURN_NOT_OK_CTX(admin_.Exec(CreateTableSql(stage_, *schema, key)), Where());
      plan->target = stage_;
    } else if (existing) {
      plan->target = existing->first;
      if (cfg_.mode == Mode::kUpsert && key.empty()) {
        // No key given and none in the schema: the existing table's primary key.
        SLUICE_ASSIGN_OR_RETURN(auto cols, ReadColumns(&admin_, plan->target));
        for (const auto& c : cols) {
          for (int i = 0; c.pk > 0 && i < schema->num_fields(); ++i) {
            if (EqualsNoCase(schema->field(i).name, c.name)) key.push_back(i);
          }
        }
        SLUICE_RETURN_NOT_OK(RequireKey(key));
      }
      SLUICE_RETURN_NOT_OK(CheckExisting(plan->target, *schema, key));
    } else {
      if (cfg_.mode == Mode::kUpsert) SLUICE_RETURN_NOT_OK(RequireKey(key));
      SLUICE_RETURN_NOT_OK_CTX(admin_.Exec(CreateTableSql(cfg_.table, *schema, key)), Where());
      plan->target = cfg_.table;
    }
    SLUICE_RETURN_NOT_OK_CTX(admin_.Exec("COMMIT"), Where());
    txn.Release();

    std::string cols, params, updates;
    for (int i = 0; i < schema->num_fields(); ++i) {
      const std::string q = QuoteIdentifier(schema->field(i).name);
      cols += (i ? ", " : "") + q;
      params += i ? ", ?" : "?";
      if (std::find(key.begin(), key.end(), i) == key.end()) {
        updates += (updates.empty() ? "" : ", ") + q + " = excluded." + q;
      }
    }
    plan->insert_sql = "INSERT INTO " + QuoteIdentifier(plan->target) + " (" + cols + ") VALUES (" +
                       params + ")";
    if (cfg_.mode == Mode::kUpsert) {
      std::string keys;
      for (int k : key) keys += (keys.empty() ? "" : ", ") + QuoteIdentifier(schema->field(k).name);
      plan->insert_sql += " ON CONFLICT (" + keys + ") DO " +
                          (updates.empty() ? "NOTHING" : "UPDATE SET " + updates);
    }
    if (!cfg_.soft_delete.empty()) {
      if (cfg_.mode != Mode::kUpsert) {
        return Status::InvalidArgument(Where() + ": soft_delete= needs mode=upsert (deletes go by key)");
      }
      std::optional<int> flag;
      for (int i = 0; i < schema->num_fields(); ++i) {
        if (EqualsNoCase(schema->field(i).name, cfg_.soft_delete)) flag = i;
      }
      if (!flag) {
        return Status::InvalidArgument(Where() + ": soft_delete column '" + cfg_.soft_delete +
                                       "' is not in the schema");
      }
      plan->soft_delete_index = *flag;
      plan->key = key;
      std::string where;
      for (size_t j = 0; j < key.size(); ++j) {
        where += (j ? " AND " : "") + QuoteIdentifier(schema->field(key[j]).name) + " = ?" +
                 std::to_string(j + 1);
      }
      plan->delete_sql = "DELETE FROM " + QuoteIdentifier(plan->target) + " WHERE " + where;
    }
    plan->state_table = state_table_;
    plan_ = std::move(plan);
    return Status::OK();
  }

  Result<std::unique_ptr<SinkWriter>> NewWriter() override {
    if (!plan_) return Status::Internal(Where() + ": NewWriter() before Open()");
    auto w = SqliteWriter::Make(plan_);
    if (!w.ok()) return w.status().WithContext(Where());
    return w;
  }

  int MaxWriters() const override { return cfg_.writers; }

  Result<std::unique_ptr<StateStore>> OpenStateStore(const StateTables& tables) override {
    for (const std::string* t : {&tables.state, &tables.run_log}) {
      if (EqualsNoCase(*t, cfg_.table) || EqualsNoCase(*t, cfg_.ledger)) {
        return Status::InvalidArgument(Where() + ": the state table '" + *t +
                                       "' cannot be the target or the ledger table");
      }
    }
    auto store = sqlite::OpenStateStore(cfg_.path, tables, cfg_.busy_timeout_ms);
    if (!store.ok()) return store.status().WithContext(Where());
    state_table_ = tables.state;
    if (plan_) plan_->state_table = state_table_;
    return store;
  }

  Status Commit() override {
    if (!plan_) return Status::Internal(Where() + ": Commit() before Open()");
    if (cfg_.mode != Mode::kReplace) return Status::OK();  // every part committed on its own
    if (!admin_) {
      SLUICE_ASSIGN_OR_RETURN(admin_, Database::Open(cfg_.path, SQLITE_OPEN_READWRITE,
                                                     cfg_.busy_timeout_ms));
    }
    // Legacy rename: do not re-check views and triggers that mention the
    // table while it is briefly missing (modern ALTER TABLE would fail on them).
    SLUICE_RETURN_NOT_OK_CTX(admin_.Exec("PRAGMA legacy_alter_table=ON"), Where());
    std::lock_guard<std::mutex> lock(plan_->write_mu);
    SLUICE_RETURN_NOT_OK_CTX(admin_.Exec("BEGIN IMMEDIATE"), Where() + ": commit");
    TransactionGuard txn(&admin_);
    SLUICE_ASSIGN_OR_RETURN(auto stage, FindObject(&admin_, stage_));
    if (!stage) return Status::OK();  // already swapped: Commit is idempotent
    SLUICE_ASSIGN_OR_RETURN(auto existing, FindObject(&admin_, cfg_.table));
    std::string final_name = existing ? existing->first : cfg_.table;
    std::string sql;
    if (existing) sql += "DROP TABLE " + QuoteIdentifier(existing->first) + "; ";
    sql += "ALTER TABLE " + QuoteIdentifier(stage_) + " RENAME TO " + QuoteIdentifier(final_name) + ";";
    SLUICE_RETURN_NOT_OK_CTX(admin_.Exec(sql), Where() + ": swapping in the staged table");
    // The ledger now describes the new table: its parts, under its name.
    SLUICE_RETURN_NOT_OK_CTX(ForgetLedger(final_name), Where());
    SLUICE_ASSIGN_OR_RETURN(Statement move, admin_.Prepare(
        "UPDATE " + QuoteIdentifier(cfg_.ledger) + " SET target = ?1 WHERE target = ?2"));
    SLUICE_RETURN_NOT_OK(move.BindText(1, final_name));
    SLUICE_RETURN_NOT_OK(move.BindText(2, stage_));
    SLUICE_RETURN_NOT_OK_CTX(move.Run(), Where());
    move.Finalize();
    SLUICE_RETURN_NOT_OK_CTX(admin_.Exec("COMMIT"), Where() + ": commit");
    txn.Release();
    return Status::OK();
  }

  Status Close() override {
    admin_.Close();
    return Status::OK();
  }

 private:
  std::string Where() const { return "sqlite sink '" + cfg_.path + "' table '" + cfg_.table + "'"; }

  // Key columns for upsert (and for the PRIMARY KEY of created tables).
  Result<std::vector<int>> ResolveKey(const Schema& schema) const {
    std::vector<int> key;
    if (!cfg_.key.empty()) {
      std::string_view rest = cfg_.key;
      while (true) {
        size_t comma = rest.find(',');
        std::string_view name = rest.substr(0, comma);
        while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
        while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
        std::optional<int> idx = schema.FieldIndex(name);
        if (!idx) {
          for (int i = 0; i < schema.num_fields() && !idx; ++i) {
            if (EqualsNoCase(schema.field(i).name, name)) idx = i;
          }
        }
        if (!idx) {
          return Status::InvalidArgument(Where() + ": key column '" + std::string(name) +
                                         "' is not in the incoming schema");
        }
        if (std::find(key.begin(), key.end(), *idx) == key.end()) key.push_back(*idx);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    } else {
      key = schema.PrimaryKeyIndices();
    }
    return key;
  }

  Status RequireKey(const std::vector<int>& key) const {
    if (!key.empty()) return Status::OK();
    return Status::InvalidArgument(Where() + ": mode=upsert needs key columns: give key=a,b, or a "
                                   "schema or existing table with a primary key");
  }

  std::string CreateTableSql(const std::string& name, const Schema& schema,
                             const std::vector<int>& key) const {
    std::vector<int> pk = schema.PrimaryKeyIndices();
    std::vector<int> unique;
    if (cfg_.mode == Mode::kUpsert) {
      if (pk.empty()) pk = key;
      else if (pk != key) unique = key;
    }
    std::string sql = "CREATE TABLE " + QuoteIdentifier(name) + " (";
    for (int i = 0; i < schema.num_fields(); ++i) {
      const Field& f = schema.field(i);
      bool in_pk = std::find(pk.begin(), pk.end(), i) != pk.end();
      bool rowid_alias = in_pk && pk.size() == 1 && f.type.id == TypeId::kInt64;
      sql += (i ? ", " : "") + QuoteIdentifier(f.name) + " " + DataTypeToDeclType(f.type, rowid_alias);
      // Key columns are NOT NULL: a NULL would make SQLite assign a rowid.
      if (!f.nullable || in_pk) sql += " NOT NULL";
    }
    auto list = [&](const std::vector<int>& cols) {
      std::string s;
      for (int k : cols) s += (s.empty() ? "" : ", ") + QuoteIdentifier(schema.field(k).name);
      return s;
    };
    if (!pk.empty()) sql += ", PRIMARY KEY (" + list(pk) + ")";
    if (!unique.empty()) sql += ", UNIQUE (" + list(unique) + ")";
    sql += ")";
    return sql;
  }

  Status EnsureLedger() {
    const std::string q = QuoteIdentifier(cfg_.ledger);
    SLUICE_RETURN_NOT_OK(admin_.Exec(
        "CREATE TABLE IF NOT EXISTS " + q +
        " (target TEXT NOT NULL, part_id TEXT NOT NULL, stream_id TEXT, part_number INTEGER, "
        "\"rows\" INTEGER, applied_at TEXT, PRIMARY KEY (target, part_id)) WITHOUT ROWID"));
    SLUICE_ASSIGN_OR_RETURN(auto cols, ReadColumns(&admin_, cfg_.ledger));
    for (const char* need : {"target", "part_id", "stream_id", "part_number", "rows", "applied_at"}) {
      bool found = false;
      for (const auto& c : cols) found = found || EqualsNoCase(c.name, need);
      if (!found) {
        return Status::InvalidArgument("table '" + cfg_.ledger + "' exists but is not a sluice ledger "
                                       "(no column '" + need + "'); choose another name with ledger=");
      }
    }
    return Status::OK();
  }

  Status ForgetLedger(const std::string& target) {
    SLUICE_ASSIGN_OR_RETURN(Statement del, admin_.Prepare(
        "DELETE FROM " + QuoteIdentifier(cfg_.ledger) + " WHERE target = ?1 COLLATE NOCASE"));
    SLUICE_RETURN_NOT_OK(del.BindText(1, target));
    return del.Run();
  }

  Status CheckExisting(const std::string& table, const Schema& schema, const std::vector<int>& key) {
    SLUICE_ASSIGN_OR_RETURN(auto cols, ReadColumns(&admin_, table));
    std::vector<bool> used(cols.size(), false);
    for (const Field& f : schema.fields()) {
      size_t j = 0;
      while (j < cols.size() && !EqualsNoCase(cols[j].name, f.name)) ++j;
      if (j == cols.size()) {
        std::string names;
        for (const auto& c : cols) names += (names.empty() ? "" : ", ") + c.name;
        return Status::InvalidArgument(Where() + ": the table has no column '" + f.name +
                                       "' (columns: " + names + ")");
      }
      if (cols[j].hidden != 0) {
        return Status::InvalidArgument(Where() + ": column '" + f.name +
                                       "' is generated or hidden and cannot be written");
      }
      used[j] = true;
      SLUICE_RETURN_NOT_OK_CTX(CheckCompatible(f.type, cols[j].decl, table, cols[j].name), Where());
    }
    int pk_count = 0;
    for (const auto& c : cols) pk_count += c.pk > 0 ? 1 : 0;
    for (size_t j = 0; j < cols.size(); ++j) {
      const auto& c = cols[j];
      bool rowid_alias = pk_count == 1 && c.pk == 1 && Lower(c.decl) == "integer";
      if (!used[j] && c.notnull && !c.has_default && c.hidden == 0 && !rowid_alias) {
        return Status::InvalidArgument(Where() + ": column '" + c.name +
                                       "' is NOT NULL without a default and missing from the "
                                       "incoming data");
      }
    }
    if (cfg_.mode == Mode::kUpsert) {
      SLUICE_ASSIGN_OR_RETURN(bool unique, HasUniqueKey(table, schema, key, cols));
      if (!unique) {
        std::string names;
        for (int k : key) names += (names.empty() ? "" : ", ") + QuoteIdentifier(schema.field(k).name);
        return Status::InvalidArgument(
            Where() + ": mode=upsert needs a PRIMARY KEY or UNIQUE index on exactly (" + names +
            "); create one (CREATE UNIQUE INDEX ... ON " + QuoteIdentifier(table) + " (" + names +
            ")) or choose key= accordingly");
      }
    }
    return Status::OK();
  }

  Result<bool> HasUniqueKey(const std::string& table, const Schema& schema, const std::vector<int>& key,
                            const std::vector<TableColumn>& cols) {
    auto same_set = [&](const std::vector<std::string>& names) {
      if (names.size() != key.size()) return false;
      for (int k : key) {
        bool found = false;
        for (const auto& n : names) found = found || EqualsNoCase(n, schema.field(k).name);
        if (!found) return false;
      }
      return true;
    };
    std::vector<std::pair<int, std::string>> pk;
    for (const auto& c : cols) {
      if (c.pk > 0) pk.emplace_back(c.pk, c.name);
    }
    std::vector<std::string> pk_names;
    for (auto& p : pk) pk_names.push_back(p.second);
    if (!pk_names.empty() && same_set(pk_names)) return true;
    SLUICE_ASSIGN_OR_RETURN(Statement list, admin_.Prepare(
        "SELECT name FROM pragma_index_list(?1) WHERE \"unique\" = 1 AND partial = 0"));
    SLUICE_RETURN_NOT_OK(list.BindText(1, table));
    std::vector<std::string> indexes;
    while (true) {
      SLUICE_ASSIGN_OR_RETURN(bool row, list.Step());
      if (!row) break;
      indexes.emplace_back(list.ColumnText(0));
    }
    for (const auto& idx : indexes) {
      SLUICE_ASSIGN_OR_RETURN(Statement info, admin_.Prepare(
          "SELECT name FROM pragma_index_info(?1)"));
      SLUICE_RETURN_NOT_OK(info.BindText(1, idx));
      std::vector<std::string> names;
      bool expression = false;
      while (true) {
        SLUICE_ASSIGN_OR_RETURN(bool row, info.Step());
        if (!row) break;
        if (info.ColumnIsNull(0)) expression = true;  // index on an expression
        else names.emplace_back(info.ColumnText(0));
      }
      if (!expression && same_set(names)) return true;
    }
    return false;
  }

  SinkConfig cfg_;
  std::shared_ptr<WritePlan> plan_;
  Database admin_;
  std::string state_table_;  // set by OpenStateStore
  std::string stage_;
};

}  // namespace
}  // namespace sqlite

Result<std::unique_ptr<Sink>> MakeSqliteSink(const Uri& uri, const Options& options) {
  sqlite::SinkConfig cfg;
  SLUICE_ASSIGN_OR_RETURN(cfg.path, sqlite::DatabasePathFromUri(uri));
  cfg.table = options.GetString("table");
  const std::string mode = options.GetString("mode");
  cfg.mode = mode == "replace" ? sqlite::Mode::kReplace
             : mode == "upsert" ? sqlite::Mode::kUpsert
                                : sqlite::Mode::kAppend;
  cfg.key = options.GetString("key");
  cfg.soft_delete = options.GetString("soft_delete");
  cfg.create = options.GetBool("create");
  cfg.ledger = options.GetString("ledger");
  cfg.journal_mode = options.GetString("journal_mode");
  cfg.synchronous = options.GetString("synchronous");
  cfg.busy_timeout_ms = options.GetDurationMs("busy_timeout");
  cfg.cache_bytes = options.GetSizeBytes("cache_size");
  int64_t writers = options.GetInt("writers");
  if (writers < 1 || writers > 256) {
    return Status::InvalidArgument("sqlite sink: writers must be 1..256");
  }
  cfg.writers = static_cast<int>(writers);
  if (cfg.table.empty()) return Status::InvalidArgument("sqlite sink: table= is required");
  if (cfg.ledger.empty()) return Status::InvalidArgument("sqlite sink: ledger= must not be empty");
  return std::unique_ptr<Sink>(new sqlite::SqliteSink(std::move(cfg)));
}

}  // namespace sluice
