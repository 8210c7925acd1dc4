#include "connectors/postgres/pg_state.h"

#include "connectors/state.h"

namespace sluice {

std::string PgStateUpsertSql(const std::string& q) {
  return "INSERT INTO " + q +
         " (stream, key_column, key_type, watermark, digests, updated_at) VALUES "
         "($1, $2, $3, $4, $5::bytea, now()) ON CONFLICT (stream) DO UPDATE SET "
         "key_column = EXCLUDED.key_column, key_type = EXCLUDED.key_type, "
         "watermark = EXCLUDED.watermark, digests = EXCLUDED.digests, updated_at = now()";
}

std::vector<std::string> PgStateParams(const StreamState& s) {
  return {s.stream, s.key_column, s.key_type, s.watermark, "\\x" + HexEncode(s.digests)};
}

namespace {

class PgStateStore final : public StateStore {
 public:
  PgStateStore(std::unique_ptr<PgConnection> conn, std::string prefix, const StateTables& tables)
      : conn_(std::move(conn)),
        qstate_(prefix + PgQuoteIdent(tables.state)),
        qlog_(prefix + PgQuoteIdent(tables.run_log)) {}

  Status Init() {
    std::string cols;
    for (const auto& c : RunLogColumns()) {
      const char* type = c.kind == RunLogColumn::kInteger ? " bigint"
                         : c.kind == RunLogColumn::kTime  ? " timestamptz"
                                                          : " text";
      cols += std::string(cols.empty() ? "" : ", ") + PgQuoteIdent(c.name) + type +
              (std::string(c.name) == "run_id" ? " PRIMARY KEY" : "");
    }
    return conn_
        ->Exec("SET client_min_messages TO warning; CREATE TABLE IF NOT EXISTS " + qstate_ +
                   " (stream text PRIMARY KEY, key_column text NOT NULL, key_type text NOT NULL, "
                   "watermark text NOT NULL, digests bytea, updated_at timestamptz NOT NULL); "
                   "CREATE TABLE IF NOT EXISTS " + qlog_ + " (" + cols + ")",
               "creating the state tables " + qstate_ + " and " + qlog_)
        .status();
  }

  Result<std::optional<StreamState>> LoadState(const std::string& stream) override {
    SLUICE_ASSIGN_OR_RETURN(
        PgResult r, conn_->ExecParams("SELECT key_column, key_type, watermark, "
                                      "encode(coalesce(digests, ''::bytea), 'hex') FROM " +
                                          qstate_ + " WHERE stream = $1",
                                      {stream}, "reading the state of stream '" + stream + "'"));
    if (PQntuples(r.get()) == 0) return std::optional<StreamState>();
    StreamState s;
    s.stream = stream;
    s.key_column = PQgetvalue(r.get(), 0, 0);
    s.key_type = PQgetvalue(r.get(), 0, 1);
    s.watermark = PQgetvalue(r.get(), 0, 2);
    SLUICE_ASSIGN_OR_RETURN(s.digests, HexDecode(PQgetvalue(r.get(), 0, 3)));
    return std::optional<StreamState>(std::move(s));
  }

  Status SaveState(const StreamState& state) override {
    return conn_
        ->ExecParams(PgStateUpsertSql(qstate_), PgStateParams(state),
                     "storing the state of stream '" + state.stream + "'")
        .status();
  }

  Status StartRun(const RunRecord& run) override {
    std::string cols, params;
    std::vector<std::string> values;
    Collect(run, 0, &cols, &params, &values);
    return conn_
        ->ExecParams("INSERT INTO " + qlog_ + " (" + cols + ") VALUES (" + params + ")", values,
                     "appending to the run log " + qlog_)
        .status();
  }

  Status FinishRun(const RunRecord& run) override {
    std::string cols, params;
    std::vector<std::string> values;
    Collect(run, 1, &cols, &params, &values);
    values.push_back(run.run_id);
    return conn_
        ->ExecParams("UPDATE " + qlog_ + " SET (" + cols + ") = ROW(" + params +
                         ") WHERE run_id = $" + std::to_string(values.size()),
                     values, "updating the run log " + qlog_)
        .status();
  }

  Result<std::vector<RunRecord>> ListRuns(const std::string& stream, int limit) override {
    std::string cols;
    for (const auto& c : RunLogColumns()) {
      std::string q = PgQuoteIdent(c.name);
      if (c.kind == RunLogColumn::kTime) {
        q = "to_char(" + q + " AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')";
      } else if (c.kind == RunLogColumn::kInteger) {
        q += "::text";
      }
      cols += (cols.empty() ? "" : ", ") + q;
    }
    std::vector<std::string> params;
    std::string where;
    if (!stream.empty()) {
      where = " WHERE stream = $1";
      params.push_back(stream);
    }
    SLUICE_ASSIGN_OR_RETURN(
        PgResult r, conn_->ExecParams("SELECT " + cols + " FROM " + qlog_ + where +
                                          " ORDER BY started_at DESC LIMIT " + std::to_string(limit),
                                      params, "reading the run log " + qlog_));
    std::vector<RunRecord> out;
    for (int row = 0; row < PQntuples(r.get()); ++row) {
      RunRecord rec;
      for (int i = 0; i < static_cast<int>(RunLogColumns().size()); ++i) {
        std::optional<std::string> v;
        if (!PQgetisnull(r.get(), row, i)) v = std::string(PQgetvalue(r.get(), row, i));
        SLUICE_RETURN_NOT_OK(SetRunLogValue(i, v, &rec));
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
  // Column list, "$n" placeholders and text values from column `from` on.
  // ExecParams has no NULL parameters: an unset finish time is sent as NULL
  // through NULLIF.
  static void Collect(const RunRecord& run, size_t from, std::string* cols, std::string* params,
                      std::vector<std::string>* values) {
    auto all = RunLogValues(run);
    const auto& spec = RunLogColumns();
    for (size_t i = from; i < all.size(); ++i) {
      values->push_back(all[i].value_or(""));
      std::string p = "$" + std::to_string(values->size());
      if (spec[i].kind == RunLogColumn::kTime) {
        p = "(NULLIF(" + p + ", '') || '+00')::timestamptz";
      } else if (spec[i].kind == RunLogColumn::kInteger) {
        p += "::bigint";
      }
      *cols += std::string(cols->empty() ? "" : ", ") + PgQuoteIdent(spec[i].name);
      *params += (params->empty() ? "" : ", ") + p;
    }
  }

  std::unique_ptr<PgConnection> conn_;
  std::string qstate_, qlog_;
};

}  // namespace

Result<std::unique_ptr<StateStore>> OpenPgStateStore(const PgEndpoint& endpoint,
                                                     const std::string& schema_prefix,
                                                     const StateTables& tables) {
  SLUICE_ASSIGN_OR_RETURN(auto conn, PgConnection::Connect(endpoint));
  auto store = std::make_unique<PgStateStore>(std::move(conn), schema_prefix, tables);
  SLUICE_RETURN_NOT_OK(store->Init());
  return std::unique_ptr<StateStore>(std::move(store));
}

}  // namespace sluice
