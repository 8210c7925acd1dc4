// PostgreSQL source: type discovery, split planning on one exported snapshot,
// and the split reader streaming binary COPY into batches.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <mutex>

#include "connectors/postgres/pg_conn.h"
#include "connectors/postgres/pg_copy.h"
#include "connectors/postgres/postgres.h"

namespace sluice {

namespace {

// Var-width bytes per batch before it is cut early (keeps int32 offsets and
// memory bounded when values are large).
constexpr int64_t kMaxBatchBytes = int64_t{64} << 20;
constexpr int kMaxSplitsCap = 256;

// Type OIDs (pg_type.h; stable across server versions).
enum : Oid {
  kBoolOid = 16, kByteaOid = 17, kNameOid = 19, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23,
  kTextOid = 25, kJsonOid = 114, kFloat4Oid = 700, kFloat8Oid = 701, kBpcharOid = 1042,
  kVarcharOid = 1043, kDateOid = 1082, kTimeOid = 1083, kTimestampOid = 1114,
  kTimestampTzOid = 1184, kNumericOid = 1700, kUuidOid = 2950, kJsonbOid = 3802,
};

struct Config {
  PgEndpoint endpoint;
  std::string display;  // redacted URI, for messages and the fingerprint
  std::string table;    // as given ("schema.t" or "t")
  std::string query;
  int64_t batch_rows = 0;
  int64_t max_splits = 64;
  int64_t min_split_rows = 100000;
  bool numeric_as_string = false;
};

// Everything a split reader needs; immutable and shared between readers.
struct ReadPlan {
  std::shared_ptr<const Schema> schema;
  std::vector<PgCopyColumn> columns;
  std::string select_list;  // "\"a\", \"b\"::text, to_json(\"c\")"
  std::string from;         // "\"public\".\"t\"" or "(query) AS q(...)"
  std::string what;         // "table public.t" / "query", for errors
  std::string snapshot;     // exported snapshot id
  int64_t batch_rows = 65536;
};

std::string StripTrailingSemicolons(std::string q) {
  while (!q.empty() && (q.back() == ';' || q.back() == ' ' || q.back() == '\n' ||
                        q.back() == '\t' || q.back() == '\r')) {
    q.pop_back();
  }
  return q;
}

// numeric typmod: ((precision << 16) | (scale & 0x7ff)) + 4, scale an 11-bit
// signed value since PostgreSQL 15 (numeric(2,-3), numeric(3,5)).
bool NumericTypmod(int fmod, int* precision, int* scale) {
  if (fmod < 4) return false;
  int t = fmod - 4;
  *precision = (t >> 16) & 0xffff;
  *scale = ((t & 0x7ff) ^ 1024) - 1024;
  return true;
}

int64_t ParseInt(const char* s) {
  int64_t v = 0;
  std::from_chars(s, s + std::strlen(s), v);
  return v;
}

class PostgresReader final : public SourceReader {
 public:
  PostgresReader(std::shared_ptr<const ReadPlan> plan, std::unique_ptr<PgConnection> conn,
                 std::string name)
      : plan_(std::move(plan)),
        conn_(std::move(conn)),
        decoder_(plan_->columns, std::move(name)) {}

  Result<std::optional<RecordBatch>> Next() override {
    if (finished_) return std::optional<RecordBatch>();
    BatchBuilder bb(plan_->schema);
    while (bb.num_rows() < plan_->batch_rows && bb.ByteSize() < kMaxBatchBytes) {
      char* buf = nullptr;
      int n = PQgetCopyData(conn_->get(), &buf, 0);
      if (n > 0) {
        std::unique_ptr<char, void (*)(void*)> owned(buf, PQfreemem);
        SLUICE_RETURN_NOT_OK(decoder_.Consume(std::string_view(buf, static_cast<size_t>(n)), &bb));
        continue;
      }
      if (n == -1) {
        SLUICE_RETURN_NOT_OK(FinishCopy());
        break;
      }
      return conn_->ErrorFor(nullptr, "reading " + plan_->what);
    }
    position_ = std::to_string(decoder_.rows());
    if (bb.num_rows() == 0 && finished_) return std::optional<RecordBatch>();
    return std::optional<RecordBatch>(bb.Finish());
  }

  std::string position() const override { return position_; }

 private:
  Status FinishCopy() {
    // The COPY's own result says whether the server finished it (a cast
    // failing mid-stream shows up here).
    PgResult r(PQgetResult(conn_->get()));
    if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      return conn_->ErrorFor(r.get(), "reading " + plan_->what);
    }
    while (PgResult extra{PQgetResult(conn_->get())}) {
    }
    SLUICE_RETURN_NOT_OK(decoder_.Finish());
    SLUICE_RETURN_NOT_OK(conn_->Exec("COMMIT", "ending the read transaction"));
    finished_ = true;
    return Status::OK();
  }

  std::shared_ptr<const ReadPlan> plan_;
  std::unique_ptr<PgConnection> conn_;
  PgCopyDecoder decoder_;
  bool finished_ = false;
  std::string position_;
};

class PostgresSource final : public Source {
 public:
  explicit PostgresSource(Config cfg) : cfg_(std::move(cfg)) {}

  Status Open(const SourceOptions& options) override {
    SLUICE_ASSIGN_OR_RETURN(coordinator_, PgConnection::Connect(cfg_.endpoint));
    auto plan = std::make_shared<ReadPlan>();
    plan->batch_rows = std::max<int64_t>(1, cfg_.batch_rows > 0 ? cfg_.batch_rows : options.batch_rows);
    // One snapshot for schema discovery, planning and every split.
    SLUICE_RETURN_NOT_OK(coordinator_->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                                            "starting the snapshot transaction"));
    SLUICE_ASSIGN_OR_RETURN(
        PgResult snap, coordinator_->Exec("SELECT pg_export_snapshot(), "
                                          "pg_snapshot_xmax(pg_current_snapshot())",
                                          "exporting the snapshot"));
    plan->snapshot = PQgetvalue(snap.get(), 0, 0);
    std::string xmax = PQgetvalue(snap.get(), 0, 1);

    std::string describe_sql;
    if (!cfg_.table.empty()) {
      std::string schema_name, rel = cfg_.table;
      if (size_t dot = cfg_.table.find('.'); dot != std::string::npos) {
        schema_name = cfg_.table.substr(0, dot);
        rel = cfg_.table.substr(dot + 1);
      }
      std::string qualified =
          (schema_name.empty() ? "" : PgQuoteIdent(schema_name) + ".") + PgQuoteIdent(rel);
      SLUICE_ASSIGN_OR_RETURN(
          PgResult r, coordinator_->ExecParams(
                          "SELECT c.oid, c.relkind, c.reltuples::int8, "
                          "pg_relation_size(c.oid) / current_setting('block_size')::int8 "
                          "FROM pg_class c WHERE c.oid = to_regclass($1)",
                          {qualified}, "looking up table " + cfg_.table));
      if (PQntuples(r.get()) != 1) {
        return Status::NotFound("postgres " + cfg_.endpoint.Display() + ": table \"" + cfg_.table +
                                "\" not found");
      }
      table_oid_ = PQgetvalue(r.get(), 0, 0);
      std::string relkind = PQgetvalue(r.get(), 0, 1);
      reltuples_ = ParseInt(PQgetvalue(r.get(), 0, 2));
      pages_ = ParseInt(PQgetvalue(r.get(), 0, 3));
      // Only ordinary / partitioned tables have ctids worth splitting on.
      ctid_ok_ = relkind == "r";
      plan->from = qualified;
      plan->what = "table " + cfg_.table;
      describe_sql = "SELECT * FROM " + qualified + " LIMIT 0";
    } else {
      plan->what = "query";
      describe_sql = "SELECT * FROM (" + StripTrailingSemicolons(cfg_.query) + ") AS q LIMIT 0";
    }
    SLUICE_ASSIGN_OR_RETURN(PgResult desc, coordinator_->Exec(describe_sql, "describing " + plan->what));
    const int ncols = PQnfields(desc.get());

    // Catalog facts per column: type name, category (arrays), nullability, key.
    std::string oids = "{", mods = "{";
    for (int i = 0; i < ncols; ++i) {
      oids += (i ? "," : "") + std::to_string(PQftype(desc.get(), i));
      mods += (i ? "," : "") + std::to_string(PQfmod(desc.get(), i));
    }
    oids += "}";
    mods += "}";
    SLUICE_ASSIGN_OR_RETURN(
        PgResult types,
        coordinator_->ExecParams(
            "SELECT format_type(t.oid, NULLIF(t.mod, -1)), COALESCE(p.typcategory, 'X') "
            "FROM unnest($1::oid[], $2::int4[]) WITH ORDINALITY AS t(oid, mod, n) "
            "LEFT JOIN pg_type p ON p.oid = t.oid ORDER BY t.n",
            {oids, mods}, "looking up column types"));
    std::vector<bool> not_null(static_cast<size_t>(ncols), false), key(static_cast<size_t>(ncols), false);
    if (!table_oid_.empty()) {
      SLUICE_ASSIGN_OR_RETURN(
          PgResult attrs,
          coordinator_->ExecParams(
              "SELECT a.attname, a.attnotnull, "
              "COALESCE(a.attnum = ANY(i.indkey::int2[]), false), "
              "COALESCE(array_length(i.indkey::int2[], 1), 0) "
              "FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary "
              "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
              {table_oid_}, "looking up columns of " + plan->what));
      for (int r = 0; r < PQntuples(attrs.get()) && r < ncols; ++r) {
        not_null[static_cast<size_t>(r)] = PQgetvalue(attrs.get(), r, 1)[0] == 't';
        key[static_cast<size_t>(r)] = PQgetvalue(attrs.get(), r, 2)[0] == 't';
        pk_columns_ = static_cast<int>(ParseInt(PQgetvalue(attrs.get(), r, 3)));
      }
    }

    std::vector<Field> fields;
    for (int i = 0; i < ncols; ++i) {
      std::string name = PQfname(desc.get(), i);
      Oid oid = PQftype(desc.get(), i);
      int fmod = PQfmod(desc.get(), i);
      std::string ref = cfg_.table.empty() ? PgQuoteIdent("c" + std::to_string(i + 1))
                                           : PgQuoteIdent(name);
      PgCopyColumn col;
      col.name = name;
      std::string expr = ref;
      bool as_text = false;
      switch (oid) {
        case kInt2Oid: col.wire = PgWire::kInt16; break;
        case kInt4Oid: col.wire = PgWire::kInt32; break;
        case kInt8Oid: col.wire = PgWire::kInt64; break;
        case kFloat4Oid: col.wire = PgWire::kFloat32; break;
        case kFloat8Oid: col.wire = PgWire::kFloat64; break;
        case kTextOid: case kVarcharOid: case kBpcharOid: case kNameOid: col.wire = PgWire::kText; break;
        case kJsonOid: col.wire = PgWire::kJson; break;
        case kJsonbOid: col.wire = PgWire::kJsonb; break;
        case kByteaOid: col.wire = PgWire::kBytea; break;
        case kBoolOid: col.wire = PgWire::kBool; break;
        case kDateOid: col.wire = PgWire::kDate; break;
        case kTimeOid: col.wire = PgWire::kTime; break;
        case kTimestampOid: col.wire = PgWire::kTimestamp; break;
        case kTimestampTzOid: col.wire = PgWire::kTimestampTz; break;
        case kUuidOid: col.wire = PgWire::kUuid; break;
        case kNumericOid: {
          int p = 0, s = 0;
          if (!NumericTypmod(fmod, &p, &s)) {
            // Unconstrained numeric: decimal(38,9) (values that do not fit
            // fail the read, naming row and column) or exact text.
            if (cfg_.numeric_as_string) { as_text = true; break; }
            p = 38;
            s = 9;
          } else if (s < 0) {
            p -= s;
            s = 0;
          } else if (s > p) {
            p = s;
          }
          if (p < 1 || p > kMaxDecimalPrecision) { as_text = true; break; }
          col.wire = PgWire::kNumeric;
          col.type = DataType::Decimal(p, s);
          break;
        }
        default:
          if (PQgetvalue(types.get(), i, 1)[0] == 'A') {
            col.wire = PgWire::kJson;  // arrays: JSON arrays, built by the server
            expr = "to_json(" + ref + ")";
          } else {
            as_text = true;  // timetz, interval, inet, cidr, enums, money, xml, ...
          }
      }
      if (as_text) {
        col.wire = PgWire::kText;
        expr = ref + "::text";
      }
      if (col.wire != PgWire::kNumeric) col.type = PgWireType(col.wire);
      plan->select_list += (i ? ", " : "") + expr;
      Field f;
      f.name = name;
      f.type = col.type;
      f.nullable = !not_null[static_cast<size_t>(i)];
      f.primary_key = key[static_cast<size_t>(i)];
      f.source_type = PQgetvalue(types.get(), i, 0);
      if (f.primary_key && pk_columns_ == 1 &&
          (oid == kInt2Oid || oid == kInt4Oid || oid == kInt8Oid)) {
        split_key_ = PgQuoteIdent(name);
      }
      fields.push_back(std::move(f));
      plan->columns.push_back(std::move(col));
    }
    if (cfg_.table.empty()) {
      std::string aliases;
      for (int i = 0; i < ncols; ++i) aliases += (i ? ", " : "") + PgQuoteIdent("c" + std::to_string(i + 1));
      plan->from = "(" + StripTrailingSemicolons(cfg_.query) + ") AS q(" + aliases + ")";
    }
    auto schema = std::make_shared<Schema>(std::move(fields));
    SLUICE_RETURN_NOT_OK_CTX(schema->Validate(), "postgres " + plan->what);
    plan->schema = std::move(schema);
    plan_ = std::move(plan);
    // xmax of the snapshot: the next transaction id to be assigned. It moves
    // whenever anything is written anywhere in the cluster, so it only names
    // the run's snapshot (stream ids); part keys use the identity and the
    // rows themselves, which survive unrelated writes.
    identity_ = "postgres://" + cfg_.endpoint.Display() +
                (cfg_.table.empty() ? "?query=" + cfg_.query : "?table=" + cfg_.table);
    fingerprint_ = identity_ + "#xmax=" + xmax;
    return Status::OK();
  }

  std::shared_ptr<const Schema> schema() const override {
    return plan_ ? plan_->schema : nullptr;
  }

  Result<std::vector<Split>> Plan(int max_splits) override {
    if (!plan_) return Status::Internal("postgres source: Plan() before Open()");
    int64_t want = std::min<int64_t>({std::max(max_splits, 1), cfg_.max_splits, kMaxSplitsCap});
    std::vector<Split> splits;
    auto one = [&] {
      Split s;
      s.description = cfg_.table.empty() ? "query" : "all rows";
      s.estimated_rows = reltuples_;
      splits.push_back(std::move(s));
      return splits;
    };
    if (cfg_.table.empty() || want <= 1) return one();
    if (!split_key_.empty()) {
      SLUICE_ASSIGN_OR_RETURN(
          PgResult r, coordinator_->Exec("SELECT min(" + split_key_ + ")::int8, max(" + split_key_ +
                                             ")::int8 FROM " + plan_->from,
                                         "planning splits of " + plan_->what));
      if (PQgetisnull(r.get(), 0, 0)) return one();
      int64_t lo = ParseInt(PQgetvalue(r.get(), 0, 0));
      int64_t hi = ParseInt(PQgetvalue(r.get(), 0, 1));
      int128_t span = int128_t{hi} - lo + 1;
      int64_t rows = reltuples_ >= 0 ? reltuples_ : static_cast<int64_t>(std::min<int128_t>(span, INT64_MAX));
      int64_t n = std::min<int64_t>(want, (rows + cfg_.min_split_rows - 1) / cfg_.min_split_rows);
      n = static_cast<int64_t>(std::min<int128_t>(n, span));
      if (n <= 1) return one();
      for (int64_t i = 0; i < n; ++i) {
        Split s;
        s.index = static_cast<int>(i);
        int64_t b0 = static_cast<int64_t>(lo + span * i / n);
        int64_t b1 = static_cast<int64_t>(lo + span * (i + 1) / n);
        // First and last ranges are open-ended: nothing is lost at the edges.
        if (i > 0) s.start = std::to_string(b0);
        if (i + 1 < n) s.end = std::to_string(b1);
        s.description = "key " + std::to_string(b0) + ".." + std::to_string(b1 - 1);
        s.estimated_rows = rows / n;
        splits.push_back(std::move(s));
      }
      split_kind_ = SplitKind::kKey;
      return splits;
    }
    if (!ctid_ok_ || pages_ <= 1) return one();
    // Unanalyzed table (reltuples -1): guess from the page count.
    int64_t rows = reltuples_ >= 0 ? reltuples_ : pages_ * 50;
    int64_t n = std::min<int64_t>({want, pages_, (rows + cfg_.min_split_rows - 1) / cfg_.min_split_rows});
    if (n <= 1) return one();
    for (int64_t i = 0; i < n; ++i) {
      Split s;
      s.index = static_cast<int>(i);
      int64_t p0 = pages_ * i / n, p1 = pages_ * (i + 1) / n;
      if (i > 0) s.start = std::to_string(p0);
      if (i + 1 < n) s.end = std::to_string(p1);
      s.description = "pages " + std::to_string(p0) + ".." + std::to_string(p1 - 1);
      s.estimated_rows = rows / n;
      splits.push_back(std::move(s));
    }
    split_kind_ = SplitKind::kCtid;
    return splits;
  }

  Result<std::unique_ptr<SourceReader>> OpenSplit(const Split& split) override {
    if (!plan_) return Status::Internal("postgres source: OpenSplit() before Open()");
    std::string where;
    auto bound = [&](const std::string& v) -> Result<int64_t> {
      int64_t x = 0;
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
      if (ec != std::errc() || ptr != v.data() + v.size()) {
        return Status::InvalidArgument("postgres: bad split bound '" + v + "'");
      }
      return x;
    };
    std::vector<std::string> conds;
    if (!lower_bound_.empty()) conds.push_back(lower_bound_);
    if (!split.start.empty() || !split.end.empty()) {
      if (split_kind_ == SplitKind::kKey) {
        if (!split.start.empty()) {
          SLUICE_ASSIGN_OR_RETURN(int64_t v, bound(split.start));
          conds.push_back(split_key_ + " >= " + std::to_string(v));
        }
        if (!split.end.empty()) {
          SLUICE_ASSIGN_OR_RETURN(int64_t v, bound(split.end));
          conds.push_back(split_key_ + " < " + std::to_string(v));
        }
      } else if (split_kind_ == SplitKind::kCtid) {
        if (!split.start.empty()) {
          SLUICE_ASSIGN_OR_RETURN(int64_t v, bound(split.start));
          conds.push_back("ctid >= '(" + std::to_string(v) + ",0)'::tid");
        }
        if (!split.end.empty()) {
          SLUICE_ASSIGN_OR_RETURN(int64_t v, bound(split.end));
          conds.push_back("ctid < '(" + std::to_string(v) + ",0)'::tid");
        }
      } else {
        return Status::InvalidArgument("postgres: split bounds given but the source was not split");
      }
    }
    for (size_t i = 0; i < conds.size(); ++i) where += (i ? " AND " : " WHERE ") + conds[i];
    SLUICE_ASSIGN_OR_RETURN(auto conn, PgConnection::Connect(cfg_.endpoint));
    // Re-reading an unchanged table must return its rows in the same order
    // (part idempotency keys digest each part's rows): a synchronized seq scan
    // of a large table starts wherever another scan, or the previous one, was
    // (pg_dump turns it off for the same reason), and COPY (query) may be
    // planned as a parallel scan whose Gather interleaves workers at random.
    // Both are off for table reads; a query keeps parallel plans (its own
    // ORDER BY decides its order). The cost: a concurrent scan of the same
    // table no longer shares our page reads, and a filtered split cannot use
    // parallel workers (sluice's splits are the parallelism).
    const std::string order_settings =
        "; SET LOCAL synchronize_seqscans = off" +
        std::string(cfg_.table.empty() ? "" : "; SET LOCAL max_parallel_workers_per_gather = 0");
    SLUICE_RETURN_NOT_OK(conn->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
                                    "SET TRANSACTION SNAPSHOT " + PgQuoteLiteral(plan_->snapshot) +
                                        order_settings,
                                    "joining the export snapshot"));
    std::string sql = "COPY (SELECT " + plan_->select_list + " FROM " + plan_->from + where +
                      ") TO STDOUT (FORMAT binary)";
    std::string what = "reading " + plan_->what +
                       (split.description.empty() ? "" : " (" + split.description + ")");
    SLUICE_ASSIGN_OR_RETURN(PgResult r, conn->Exec(sql, what));
    if (PQresultStatus(r.get()) != PGRES_COPY_OUT) {
      return Status::Internal("postgres: COPY did not start copying out");
    }
    std::string name = "postgres " + cfg_.endpoint.Display() + " " + plan_->what +
                       (split.description.empty() ? "" : " " + split.description);
    return std::unique_ptr<SourceReader>(new PostgresReader(plan_, std::move(conn), std::move(name)));
  }

  std::string Fingerprint() const override { return fingerprint_; }
  std::string Identity() const override { return identity_; }

  Result<bool> SetLowerBound(const std::string& column, const std::string& lower_bound) override {
    if (!plan_) return Status::Internal("postgres source: SetLowerBound() before Open()");
    if (!plan_->schema->FieldIndex(column)) {
      return Status::InvalidArgument("postgres source " + plan_->what + ": no column \"" + column +
                                     "\" to read incrementally");
    }
    // An untyped literal takes the column's type, so the comparison uses the
    // column's own ordering (and its index).
    lower_bound_ = PgQuoteIdent(column) + " >= " + PgQuoteLiteral(lower_bound);
    return true;
  }

  std::optional<int64_t> EstimatedRows() const override {
    if (reltuples_ < 0 || cfg_.table.empty()) return std::nullopt;
    return reltuples_;
  }

  Status Close() override {
    // Ends the snapshot transaction (nothing was written).
    coordinator_.reset();
    return Status::OK();
  }

 private:
  enum class SplitKind { kNone, kKey, kCtid };
  std::string lower_bound_;  // "col >= 'value'" for incremental reads, or empty

  Config cfg_;
  std::unique_ptr<PgConnection> coordinator_;
  std::shared_ptr<const ReadPlan> plan_;
  std::string fingerprint_;
  std::string identity_;
  std::string table_oid_;
  std::string split_key_;  // quoted single-column integer primary key
  int pk_columns_ = 0;
  bool ctid_ok_ = false;
  int64_t reltuples_ = -1;
  int64_t pages_ = 0;
  SplitKind split_kind_ = SplitKind::kNone;
};

}  // namespace

const OptionSpecs& PostgresSourceOptionSpecs() {
  static const OptionSpecs specs = {
      {"table", OptionType::kString, "", "table or view to read: schema.table or table"},
      {"query", OptionType::kString, "", "a SELECT to read instead of a table (one split)"},
      {"batch_rows", OptionType::kInt, "", "rows per batch (default: the runtime's batch size)"},
      {"max_splits", OptionType::kInt, "64",
       "upper bound on parallel key-range / ctid-range splits (each one is a connection)"},
      {"min_split_rows", OptionType::kInt, "100000",
       "do not cut a table into splits of fewer rows than this (by pg_class.reltuples)"},
      {"numeric", OptionType::kEnum, "decimal",
       "numeric columns without precision: decimal(38,9), failing on values that do not "
       "fit exactly (decimal), or their exact text (string)",
       {"decimal", "string"}},
  };
  return specs;
}

Result<std::unique_ptr<Source>> MakePostgresSource(const Uri& uri, const Options& options) {
  Config cfg;
  SLUICE_ASSIGN_OR_RETURN(cfg.endpoint, PgEndpoint::FromUri(uri));
  cfg.display = uri.Redacted();
  cfg.table = options.GetString("table");
  cfg.query = options.GetString("query");
  if (cfg.table.empty() == cfg.query.empty()) {
    return Status::InvalidArgument("postgres source: give exactly one of ?table= or ?query= (" +
                                   cfg.display + ")");
  }
  if (options.Has("batch_rows")) cfg.batch_rows = options.GetInt("batch_rows");
  cfg.max_splits = std::max<int64_t>(1, options.GetInt("max_splits"));
  cfg.min_split_rows = std::max<int64_t>(1, options.GetInt("min_split_rows"));
  cfg.numeric_as_string = options.GetString("numeric") == "string";
  return std::unique_ptr<Source>(new PostgresSource(std::move(cfg)));
}

void RegisterPostgres(Registry* registry) {
  for (const char* scheme : {"postgres", "postgresql"}) {
    registry->Add(ConnectorInfo{
        scheme,
        "PostgreSQL: postgres://user:pass@host:port/db?table=schema.t (or ?query=SELECT...)",
        PostgresSourceOptionSpecs(),
        PostgresSinkOptionSpecs(),
        MakePostgresSource,
        MakePostgresSink,
        nullptr,
        nullptr,
    });
  }
}

}  // namespace sluice
