#include "connectors/mysql/mysql_state.h"

#include "connectors/state.h"

namespace sluice {

std::string MysqlStateUpsertSql(MYSQL* conn, const std::string& q, const StreamState& s) {
  // VALUES(col) in the update list reads the row this statement proposed;
  // deprecated in MySQL 8.0.20 (a warning) but understood by every MySQL
  // and MariaDB version, unlike the row-alias syntax that replaces it.
  return "INSERT INTO " + q +
         " (stream, key_column, key_type, watermark, digests, updated_at) VALUES (" +
         MysqlQuoteLiteral(conn, s.stream) + ", " + MysqlQuoteLiteral(conn, s.key_column) + ", " +
         MysqlQuoteLiteral(conn, s.key_type) + ", " + MysqlQuoteLiteral(conn, s.watermark) +
         ", X'" + HexEncode(s.digests) +
         "', UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE key_column = VALUES(key_column), "
         "key_type = VALUES(key_type), watermark = VALUES(watermark), "
         "digests = VALUES(digests), updated_at = VALUES(updated_at)";
}

namespace {

class MysqlStateStore final : public StateStore {
 public:
  MysqlStateStore(std::unique_ptr<MysqlConnection> conn, const std::string& prefix,
                  const StateTables& tables)
      : conn_(std::move(conn)),
        qstate_(prefix + MysqlQuoteIdent(tables.state)),
        qlog_(prefix + MysqlQuoteIdent(tables.run_log)) {}

  Status Init() {
    SLUICE_ASSIGN_OR_RETURN(std::string collation, BinaryCollation());
    const std::string options =
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=" + collation;
    SLUICE_RETURN_NOT_OK(conn_->Exec(
        "CREATE TABLE IF NOT EXISTS " + qstate_ +
            " (stream VARCHAR(255) NOT NULL PRIMARY KEY, key_column TEXT NOT NULL,"
            " key_type TEXT NOT NULL, watermark TEXT NOT NULL, digests LONGBLOB NULL,"
            " updated_at DATETIME(6) NOT NULL" + options,
        "creating the state table " + qstate_));
    std::string cols;
    for (const auto& c : RunLogColumns()) {
      const bool id = std::string_view(c.name) == "run_id";
      const char* type = id                                ? " VARCHAR(64) NOT NULL PRIMARY KEY"
                         : c.kind == RunLogColumn::kInteger ? " BIGINT NULL"
                         : c.kind == RunLogColumn::kTime    ? " DATETIME(6) NULL"
                                                            : " TEXT NULL";
      cols += std::string(cols.empty() ? "" : ", ") + MysqlQuoteIdent(c.name) + type;
    }
    return conn_->Exec("CREATE TABLE IF NOT EXISTS " + qlog_ + " (" + cols + options,
                       "creating the run log table " + qlog_);
  }

  Result<std::optional<StreamState>> LoadState(const std::string& stream) override {
    const std::string what = "reading the state of stream '" + stream + "' from " + qstate_;
    SLUICE_ASSIGN_OR_RETURN(
        MysqlResult r,
        conn_->QueryStored("SELECT stream, key_column, key_type, watermark, digests FROM " +
                               qstate_ + " WHERE stream = " + Lit(stream),
                           what));
    MYSQL_ROW row = mysql_fetch_row(r.get());
    if (!row) return std::optional<StreamState>();
    if (mysql_num_fields(r.get()) != 5) {
      return Status::InvalidData("mysql: " + what + ": expected 5 columns");
    }
    unsigned long* len = mysql_fetch_lengths(r.get());
    auto text = [&](int i) {
      return row[i] ? std::string(row[i], len[i]) : std::string();
    };
    StreamState s;
    s.stream = text(0);
    if (s.stream != stream) {
      // Only with a PAD SPACE collation (servers without a no-pad binary
      // one): "a" and "a " would share a row.
      return Status::InvalidArgument("mysql: " + what + ": the stored stream '" + s.stream +
                                     "' collides with it (trailing spaces are not significant "
                                     "in this server's collation)");
    }
    s.key_column = text(1);
    s.key_type = text(2);
    s.watermark = text(3);
    s.digests = text(4);
    return std::optional<StreamState>(std::move(s));
  }

  Status SaveState(const StreamState& state) override {
    return conn_->Exec(MysqlStateUpsertSql(conn_->get(), qstate_, state),
                       "storing the state of stream '" + state.stream + "' in " + qstate_);
  }

  Status StartRun(const RunRecord& run) override {
    std::string cols, values;
    auto all = RunLogValues(run);
    for (size_t i = 0; i < all.size(); ++i) {
      cols += std::string(i ? ", " : "") + MysqlQuoteIdent(RunLogColumns()[i].name);
      values += (i ? ", " : "") + Value(i, all[i]);
    }
    return conn_->Exec("INSERT INTO " + qlog_ + " (" + cols + ") VALUES (" + values + ")",
                       "appending to the run log " + qlog_);
  }

  Status FinishRun(const RunRecord& run) override {
    std::string sets;
    auto all = RunLogValues(run);
    for (size_t i = 1; i < all.size(); ++i) {
      sets += std::string(i > 1 ? ", " : "") + MysqlQuoteIdent(RunLogColumns()[i].name) + " = " +
              Value(i, all[i]);
    }
    return conn_->Exec("UPDATE " + qlog_ + " SET " + sets + " WHERE run_id = " + Lit(run.run_id),
                       "updating the run log " + qlog_);
  }

  Result<std::vector<RunRecord>> ListRuns(const std::string& stream, int limit) override {
    if (limit < 0) return Status::InvalidArgument("mysql: run log limit must not be negative");
    std::string cols;
    for (const auto& c : RunLogColumns()) {
      std::string q = MysqlQuoteIdent(c.name);
      if (c.kind == RunLogColumn::kTime) q = "DATE_FORMAT(" + q + ", '%Y-%m-%d %H:%i:%s.%f')";
      cols += (cols.empty() ? "" : ", ") + q;
    }
    const std::string what = "reading the run log " + qlog_;
    SLUICE_ASSIGN_OR_RETURN(
        MysqlResult r,
        conn_->QueryStored("SELECT " + cols + " FROM " + qlog_ +
                               (stream.empty() ? "" : " WHERE stream = " + Lit(stream)) +
                               " ORDER BY started_at DESC, run_id DESC LIMIT " +
                               std::to_string(limit),
                           what));
    const int ncols = static_cast<int>(RunLogColumns().size());
    if (static_cast<int>(mysql_num_fields(r.get())) != ncols) {
      return Status::InvalidData("mysql: " + what + ": unexpected column count");
    }
    std::vector<RunRecord> out;
    while (MYSQL_ROW row = mysql_fetch_row(r.get())) {
      unsigned long* len = mysql_fetch_lengths(r.get());
      RunRecord rec;
      for (int i = 0; i < ncols; ++i) {
        std::optional<std::string> v;
        if (row[i]) v = std::string(row[i], len[i]);
        SLUICE_RETURN_NOT_OK(SetRunLogValue(i, v, &rec).WithContext("mysql: " + what));
      }
      out.push_back(std::move(rec));
    }
    return out;
  }

  Status Close() override {
    conn_.reset();
    return Status::OK();
  }

 private:
  std::string Lit(std::string_view v) const { return MysqlQuoteLiteral(conn_->get(), v); }

  // Column `i`'s value as SQL: integers are sluice's own decimal text (no
  // quoting needed), an unset time is NULL, everything else a literal.
  std::string Value(size_t i, const std::optional<std::string>& v) const {
    if (!v) return "NULL";
    if (RunLogColumns()[i].kind == RunLogColumn::kInteger) return *v;
    return Lit(*v);
  }

  // A binary collation that does not ignore trailing spaces when the server
  // has one (MariaDB utf8mb4_nopad_bin, MySQL 8 utf8mb4_0900_bin), else
  // utf8mb4_bin.
  Result<std::string> BinaryCollation() {
    SLUICE_ASSIGN_OR_RETURN(
        MysqlResult r,
        conn_->QueryStored("SELECT COLLATION_NAME FROM information_schema.COLLATIONS WHERE "
                           "COLLATION_NAME IN ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin') "
                           "ORDER BY COLLATION_NAME DESC LIMIT 1",
                           "looking up a binary collation"));
    MYSQL_ROW row = mysql_fetch_row(r.get());
    if (row && row[0]) return std::string(row[0]);
    return std::string("utf8mb4_bin");
  }

  std::unique_ptr<MysqlConnection> conn_;
  std::string qstate_, qlog_;
};

}  // namespace

Result<std::unique_ptr<StateStore>> OpenMysqlStateStore(const MysqlEndpoint& endpoint,
                                                        const std::string& db_prefix,
                                                        const StateTables& tables) {
  if (tables.state.empty() || tables.run_log.empty()) {
    return Status::InvalidArgument("mysql: the state and run log table names must not be empty");
  }
  SLUICE_ASSIGN_OR_RETURN(auto conn, MysqlConnection::Connect(endpoint));
  SLUICE_RETURN_NOT_OK(MysqlSetStrictMode(conn.get()));
  auto store = std::make_unique<MysqlStateStore>(std::move(conn), db_prefix, tables);
  SLUICE_RETURN_NOT_OK(store->Init());
  return std::unique_ptr<StateStore>(std::move(store));
}

}  // namespace sluice
