#include "connectors/sqlite/sqlite_state.h"

#include "connectors/state.h"

namespace sluice::sqlite {

Status EnsureStateTable(Database* db, const std::string& table) {
  SLUICE_RETURN_NOT_OK(CheckIdentifier(table, "state table"));
  return db->Exec("CREATE TABLE IF NOT EXISTS " + QuoteIdentifier(table) +
                  " (stream TEXT PRIMARY KEY, key_column TEXT NOT NULL, key_type TEXT NOT NULL, "
                  "watermark TEXT NOT NULL, digests BLOB, updated_at TEXT NOT NULL)");
}

Status WriteState(Database* db, const std::string& table, const StreamState& state) {
  SLUICE_ASSIGN_OR_RETURN(
      Statement st,
      db->Prepare("INSERT INTO " + QuoteIdentifier(table) +
                  " (stream, key_column, key_type, watermark, digests, updated_at) VALUES "
                  "(?, ?, ?, ?, ?, ?) ON CONFLICT (stream) DO UPDATE SET "
                  "key_column = excluded.key_column, key_type = excluded.key_type, "
                  "watermark = excluded.watermark, digests = excluded.digests, "
                  "updated_at = excluded.updated_at"));
  SLUICE_RETURN_NOT_OK(st.BindText(1, state.stream));
  SLUICE_RETURN_NOT_OK(st.BindText(2, state.key_column));
  SLUICE_RETURN_NOT_OK(st.BindText(3, state.key_type));
  SLUICE_RETURN_NOT_OK(st.BindText(4, state.watermark));
  SLUICE_RETURN_NOT_OK(st.BindBlob(5, state.digests));
  SLUICE_RETURN_NOT_OK(st.BindText(6, NowUtcText()));
  return st.Run().WithContext("storing the state of stream '" + state.stream + "' in " +
                              QuoteIdentifier(table));
}

namespace {

class SqliteStateStore final : public StateStore {
 public:
  SqliteStateStore(Database db, StateTables tables) : db_(std::move(db)), tables_(std::move(tables)) {}

  Result<std::optional<StreamState>> LoadState(const std::string& stream) override {
    SLUICE_ASSIGN_OR_RETURN(
        Statement st, db_.Prepare("SELECT key_column, key_type, watermark, digests FROM " +
                                  QuoteIdentifier(tables_.state) + " WHERE stream = ?"));
    SLUICE_RETURN_NOT_OK(st.BindText(1, stream));
    SLUICE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::optional<StreamState>();
    StreamState s;
    s.stream = stream;
    s.key_column = std::string(st.ColumnText(0));
    s.key_type = std::string(st.ColumnText(1));
    s.watermark = std::string(st.ColumnText(2));
    s.digests = std::string(st.ColumnBlob(3));
    return std::optional<StreamState>(std::move(s));
  }

  Status SaveState(const StreamState& state) override {
    SLUICE_RETURN_NOT_OK(db_.Exec("BEGIN IMMEDIATE"));
    TransactionGuard txn(&db_);
    SLUICE_RETURN_NOT_OK(WriteState(&db_, tables_.state, state));
    SLUICE_RETURN_NOT_OK(db_.Exec("COMMIT"));
    txn.Release();
    return Status::OK();
  }

  Status StartRun(const RunRecord& run) override {
    std::string cols, marks;
    for (const auto& c : RunLogColumns()) {
      cols += std::string(cols.empty() ? "" : ", ") + QuoteIdentifier(c.name);
      marks += marks.empty() ? "?" : ", ?";
    }
    SLUICE_ASSIGN_OR_RETURN(Statement st, db_.Prepare("INSERT INTO " + QuoteIdentifier(tables_.run_log) +
                                                      " (" + cols + ") VALUES (" + marks + ")"));
    SLUICE_RETURN_NOT_OK(Bind(&st, run, 1));
    return st.Run().WithContext("appending to the run log " + QuoteIdentifier(tables_.run_log));
  }

  Status FinishRun(const RunRecord& run) override {
    std::string sets;
    const auto& cols = RunLogColumns();
    for (size_t i = 1; i < cols.size(); ++i) {
      sets += std::string(sets.empty() ? "" : ", ") + QuoteIdentifier(cols[i].name) + " = ?";
    }
    SLUICE_ASSIGN_OR_RETURN(Statement st, db_.Prepare("UPDATE " + QuoteIdentifier(tables_.run_log) +
                                                      " SET " + sets + " WHERE run_id = ?"));
    auto values = RunLogValues(run);
    for (size_t i = 1; i < values.size(); ++i) {
      SLUICE_RETURN_NOT_OK(BindValue(&st, static_cast<int>(i), cols[i], values[i]));
    }
    SLUICE_RETURN_NOT_OK(st.BindText(static_cast<int>(values.size()), run.run_id));
    return st.Run().WithContext("updating the run log " + QuoteIdentifier(tables_.run_log));
  }

  Result<std::vector<RunRecord>> ListRuns(const std::string& stream, int limit) override {
    std::string cols;
    for (const auto& c : RunLogColumns()) {
      cols += std::string(cols.empty() ? "" : ", ") + QuoteIdentifier(c.name);
    }
    SLUICE_ASSIGN_OR_RETURN(
        Statement st,
        db_.Prepare("SELECT " + cols + " FROM " + QuoteIdentifier(tables_.run_log) +
                    (stream.empty() ? "" : " WHERE stream = ?") +
                    " ORDER BY started_at DESC, rowid DESC LIMIT " + std::to_string(limit)));
    if (!stream.empty()) SLUICE_RETURN_NOT_OK(st.BindText(1, stream));
    std::vector<RunRecord> out;
    while (true) {
      SLUICE_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      RunRecord r;
      for (int i = 0; i < static_cast<int>(RunLogColumns().size()); ++i) {
        std::optional<std::string> v;
        if (!st.ColumnIsNull(i)) v = std::string(st.ColumnText(i));
        SLUICE_RETURN_NOT_OK(SetRunLogValue(i, v, &r));
      }
      out.push_back(std::move(r));
    }
    return out;
  }

  Status Close() override {
    db_.Close();
    return Status::OK();
  }

  Status Init() {
    SLUICE_RETURN_NOT_OK(CheckIdentifier(tables_.run_log, "run log table"));
    SLUICE_RETURN_NOT_OK(EnsureStateTable(&db_, tables_.state));
    std::string cols;
    for (const auto& c : RunLogColumns()) {
      const char* type = c.kind == RunLogColumn::kInteger ? " INTEGER" : " TEXT";
      cols += std::string(cols.empty() ? "" : ", ") + QuoteIdentifier(c.name) + type +
              (std::string(c.name) == "run_id" ? " PRIMARY KEY" : "");
    }
    return db_.Exec("CREATE TABLE IF NOT EXISTS " + QuoteIdentifier(tables_.run_log) + " (" + cols +
                    ")");
  }

 private:
  static Status BindValue(Statement* st, int index, const RunLogColumn& col,
                          const std::optional<std::string>& v) {
    if (!v) return st->BindNull(index);
    if (col.kind == RunLogColumn::kInteger) return st->BindInt64(index, std::stoll(*v));
    return st->BindText(index, *v);
  }
  static Status Bind(Statement* st, const RunRecord& run, int first) {
    auto values = RunLogValues(run);
    const auto& cols = RunLogColumns();
    for (size_t i = 0; i < values.size(); ++i) {
      SLUICE_RETURN_NOT_OK(BindValue(st, first + static_cast<int>(i), cols[i], values[i]));
    }
    return Status::OK();
  }

  Database db_;
  StateTables tables_;
};

}  // namespace

Result<std::unique_ptr<StateStore>> OpenStateStore(const std::string& path,
                                                   const StateTables& tables,
                                                   int64_t busy_timeout_ms) {
  auto db = Database::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, busy_timeout_ms);
  if (!db.ok()) return db.status().WithContext("opening the state database");
  auto store = std::make_unique<SqliteStateStore>(std::move(*db), tables);
  SLUICE_RETURN_NOT_OK_CTX(store->Init(), "sqlite state '" + path + "'");
  return std::unique_ptr<StateStore>(std::move(store));
}

}  // namespace sluice::sqlite
