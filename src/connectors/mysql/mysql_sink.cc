// MySQL / MariaDB sink: LOAD DATA LOCAL INFILE from memory or batched
// multi-row INSERT (escaped literals, binary values as X'..' hex) with the
// part ledger in the target database; modes append, upsert (ON DUPLICATE KEY
// UPDATE), replace (load a staging table, swap it in at Commit) and
// truncate-insert (empty the target at Open, then append). See
// docs/connectors/mysql.md.
//
// Exactly-once: every part is applied in ONE InnoDB transaction that first
// inserts its ledger row (target, part_id) with ON DUPLICATE KEY UPDATE that
// changes nothing: 0 affected rows means the part was applied already (or by
// another connection that held the row lock until it committed), and the
// transaction is rolled back.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/mysql/mysql.h"
#include "connectors/mysql/mysql_conn.h"
#include "connectors/mysql/mysql_state.h"
#include "core/int128.h"
#include "core/temporal.h"
#include "core/text.h"

namespace sluice {

namespace {

// Statement size at which a multi-row INSERT is sent (well under the 16 MiB
// default max_allowed_packet).
constexpr size_t kMaxStatementBytes = size_t{4} << 20;
constexpr size_t kMaxPartIdBytes = 255;
// MySQL / MariaDB table names are at most 64 characters (longer ones are an
// error, not truncated).
constexpr size_t kMaxIdentChars = 64;
// mode=replace: the table the parts are loaded into, and the name the old
// table briefly has during the swap. Reserved: a table of that name is
// dropped by a replace run.
constexpr std::string_view kStageSuffix = "__sluice_stage";
constexpr std::string_view kOldSuffix = "__sluice_old";
// InnoDB refuses TRUNCATE of a table other tables' foreign keys reference.
constexpr unsigned kErrTruncateIllegalFk = 1701;

enum class Mode { kAppend, kUpsert, kReplace, kTruncateInsert };
enum class Load { kAuto, kInsert, kInfile };

struct SinkConfig {
  MysqlEndpoint endpoint;
  std::string display;
  std::string table;
  Mode mode = Mode::kAppend;
  bool create = true;
  std::string ledger = "_sluice_ledger";
  Load load = Load::kAuto;
  std::string soft_delete;  // upsert: flagged rows delete their key's row
};

struct WritePlan {
  MysqlEndpoint endpoint;
  std::string where;          // "mysql sink <uri> table t"
  std::string insert_prefix;  // INSERT INTO `t` (`a`, `b`) VALUES
  std::string insert_suffix;  // "" or " ON DUPLICATE KEY UPDATE ..."
  std::string ledger_insert;  // up to the part id literal
  std::string load_sql;       // LOAD DATA LOCAL INFILE ...; empty: INSERT only
  std::string target;         // the ledger's `target` value
  std::string state_table;    // set by OpenStateStore: where PartInfo::state goes
  // upsert with soft_delete=: the flag column; a flagged row's key goes into
  // "DELETE FROM `t` WHERE (`k`, ...) IN (" instead of the INSERT.
  int soft_delete_index = -1;
  std::vector<int> key_columns;
  std::string delete_prefix;
  std::shared_ptr<const Schema> schema;
};

// The MySQL column type sluice creates for a field. Key columns get bounded
// VARCHAR/VARBINARY (InnoDB cannot index unbounded TEXT/BLOB).
std::string MysqlType(const Field& f) {
  const DataType& t = f.type;
  switch (t.id) {
    case TypeId::kInt8: return "TINYINT";
    case TypeId::kInt16: return "SMALLINT";
    case TypeId::kInt32: return "INT";
    case TypeId::kInt64: return "BIGINT";
    case TypeId::kUInt8: return "TINYINT UNSIGNED";
    case TypeId::kUInt16: return "SMALLINT UNSIGNED";
    case TypeId::kUInt32: return "INT UNSIGNED";
    case TypeId::kUInt64: return "BIGINT UNSIGNED";
    case TypeId::kFloat32: return "FLOAT";
    case TypeId::kFloat64: return "DOUBLE";
    case TypeId::kDecimal:
      return "DECIMAL(" + std::to_string(t.precision) + "," + std::to_string(t.scale) + ")";
    case TypeId::kBool: return "TINYINT(1)";
    case TypeId::kString: return f.primary_key ? "VARCHAR(255)" : "LONGTEXT";
    case TypeId::kBinary: return f.primary_key ? "VARBINARY(255)" : "LONGBLOB";
    case TypeId::kDate: return "DATE";
    case TypeId::kTime: return "TIME(6)";
    case TypeId::kTimestamp: return "DATETIME(6)";  // UTC micros when with_zone
    case TypeId::kUuid: return "BINARY(16)";
    case TypeId::kJson: return "JSON";
  }
  return "LONGTEXT";
}

// CREATE TABLE for `schema`: the types above, NOT NULL for non-nullable and
// key columns, PRIMARY KEY from the schema's key flags.
std::string CreateTableSql(const std::string& qname, const Schema& schema, bool if_not_exists) {
  std::string ddl = std::string("CREATE TABLE ") + (if_not_exists ? "IF NOT EXISTS " : "") + qname + " (";
  std::vector<std::string> keys;
  for (int i = 0; i < schema.num_fields(); ++i) {
    const Field& f = schema.field(i);
    ddl += (i ? ", " : "") + MysqlQuoteIdent(f.name) + " " + MysqlType(f) +
           (f.nullable && !f.primary_key ? " NULL" : " NOT NULL");
    if (f.primary_key) keys.push_back(MysqlQuoteIdent(f.name));
  }
  if (!keys.empty()) {
    ddl += ", PRIMARY KEY (";
    for (size_t k = 0; k < keys.size(); ++k) ddl += (k ? ", " : "") + keys[k];
    ddl += ")";
  }
  return ddl + ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
}

// Characters (not bytes) of a UTF-8 name: what MySQL's 64 limit counts.
size_t Utf8Chars(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// The table part of "db.t" / "t" (MysqlQuoteTable splits at the first dot).
std::string_view TablePart(std::string_view name) {
  size_t dot = name.find('.');
  return dot == std::string_view::npos ? name : name.substr(dot + 1);
}

std::string EscapeLiteral(MYSQL* conn, std::string_view v) { return MysqlQuoteLiteral(conn, v); }

void AppendHex(std::string_view bytes, std::string* out) {
  static const char kHex[] = "0123456789ABCDEF";
  out->append("X'");
  for (unsigned char c : bytes) {
    out->push_back(kHex[c >> 4]);
    out->push_back(kHex[c & 15]);
  }
  out->push_back('\'');
}

Result<std::unique_ptr<MysqlConnection>> Connect(const MysqlEndpoint& endpoint) {
  SLUICE_ASSIGN_OR_RETURN(auto conn, MysqlConnection::Connect(endpoint));
  SLUICE_RETURN_NOT_OK(MysqlSetStrictMode(conn.get()));
  return conn;
}

// The LOAD DATA LOCAL INFILE "file": an in-memory buffer handed to
// libmariadb through mysql_set_local_infile_handler; the file name the
// server echoes back is ignored.
struct InfileSource {
  const std::string* data = nullptr;
  size_t offset = 0;
};

int InfileInit(void** ptr, const char* /*filename*/, void* userdata) {
  auto* src = static_cast<InfileSource*>(userdata);
  src->offset = 0;
  *ptr = src;
  return 0;
}

int InfileRead(void* ptr, char* buf, unsigned int len) {
  auto* src = static_cast<InfileSource*>(ptr);
  if (!src || !src->data) return -1;
  size_t n = std::min<size_t>(len, src->data->size() - src->offset);
  std::memcpy(buf, src->data->data() + src->offset, n);
  src->offset += n;
  return static_cast<int>(n);
}

void InfileEnd(void* /*ptr*/) {}

int InfileError(void* /*ptr*/, char* msg, unsigned int len) {
  std::snprintf(msg, len, "sluice: in-memory LOAD DATA stream failed");
  return 2000;  // CR_UNKNOWN_ERROR
}

// Appends `v` escaped for LOAD DATA's default FIELDS ESCAPED BY '\\'.
void AppendInfileEscaped(std::string_view v, std::string* out) {
  for (char ch : v) {
    switch (ch) {
      case '\\': out->append("\\\\"); break;
      case '\t': out->append("\\t"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\0': out->append("\\0"); break;
      default: out->push_back(ch);
    }
  }
}

void AppendHexRaw(std::string_view bytes, std::string* out) {
  static const char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : bytes) {
    out->push_back(kHex[c >> 4]);
    out->push_back(kHex[c & 15]);
  }
}

class MysqlSinkWriter final : public SinkWriter {
 public:
  MysqlSinkWriter(std::shared_ptr<const WritePlan> plan, std::unique_ptr<MysqlConnection> conn)
      : plan_(std::move(plan)), conn_(std::move(conn)) {
    if (!plan_->load_sql.empty()) {
      mysql_set_local_infile_handler(conn_->get(), InfileInit, InfileRead, InfileEnd, InfileError,
                                     &infile_);
    }
  }

  Result<ApplyOutcome> ApplyPart(const PartInfo& part,
                                 const std::vector<RecordBatch>& batches) override {
    const std::string ctx = plan_->where + " part " + part.part_id;
    if (part.part_id.empty()) return Status::InvalidArgument(plan_->where + ": empty part id");
    if (part.part_id.size() > kMaxPartIdBytes) {
      return Status::InvalidArgument(ctx + ": part id longer than 255 bytes");
    }
    SLUICE_RETURN_NOT_OK(CheckBatchesMatch(*plan_->schema, batches, ctx));
    SLUICE_RETURN_NOT_OK(conn_->Exec("START TRANSACTION", ctx + ": START TRANSACTION"));
    Result<ApplyOutcome> r = ApplyInTransaction(part, batches, ctx);
    if (r.ok() && *r == ApplyOutcome::kAlreadyApplied && part.state != nullptr) {
      // The part was applied (by an interrupted run), but the state row
      // written in this transaction belongs to this run: keep it.
      SLUICE_RETURN_NOT_OK(conn_->Exec("COMMIT", ctx + ": COMMIT"));
      return r;
    }
    if (!r.ok() || *r == ApplyOutcome::kAlreadyApplied) {
      // Best effort: a broken connection is reported by the original error.
      (void)conn_->Exec("ROLLBACK", ctx + ": ROLLBACK");
      return r;
    }
    SLUICE_RETURN_NOT_OK(conn_->Exec("COMMIT", ctx + ": COMMIT"));
    return ApplyOutcome::kApplied;
  }

 private:
  Result<ApplyOutcome> ApplyInTransaction(const PartInfo& part,
                                          const std::vector<RecordBatch>& batches,
                                          const std::string& ctx) {
    MYSQL* m = conn_->get();
    std::string led = plan_->ledger_insert + EscapeLiteral(m, part.part_id) + ", " +
                      EscapeLiteral(m, part.stream_id) + ", " + std::to_string(part.part_number) +
                      ", " + std::to_string(part.rows) +
                      ") ON DUPLICATE KEY UPDATE part_id = part_id";
    SLUICE_RETURN_NOT_OK(conn_->Exec(led, ctx + ": recording the part in the ledger"));
    const bool seen = mysql_affected_rows(m) == 0;
    if (part.state != nullptr) {
      // Before the rows, in the same transaction: whatever fails after this
      // statement rolls the state back with the rows and the ledger row.
      if (plan_->state_table.empty()) {
        return Status::Internal(ctx + ": a part carries state but OpenStateStore was not called");
      }
      SLUICE_RETURN_NOT_OK(conn_->Exec(MysqlStateUpsertSql(m, plan_->state_table, *part.state),
                                       ctx + ": storing the state of stream '" +
                                           part.state->stream + "'"));
    }
    if (seen) return ApplyOutcome::kAlreadyApplied;

    if (!plan_->load_sql.empty()) {
      SLUICE_RETURN_NOT_OK(LoadData(batches, ctx));
      return ApplyOutcome::kApplied;
    }
    std::string sql, del;
    int64_t row_base = 0;
    for (const RecordBatch& b : batches) {
      for (int64_t i = 0; i < b.num_rows(); ++i) {
        if (plan_->soft_delete_index >= 0 && SoftDeleted(b.column(plan_->soft_delete_index), i)) {
          del += del.empty() ? plan_->delete_prefix : std::string(",");
          SLUICE_RETURN_NOT_OK(AppendRow(b, i, row_base + i, ctx, &del, &plan_->key_columns));
          if (del.size() >= kMaxStatementBytes) SLUICE_RETURN_NOT_OK(FlushDeletes(&del, ctx));
          continue;
        }
        sql += sql.empty() ? plan_->insert_prefix : std::string(",");
        SLUICE_RETURN_NOT_OK(AppendRow(b, i, row_base + i, ctx, &sql));
        if (sql.size() >= kMaxStatementBytes) SLUICE_RETURN_NOT_OK(Flush(&sql, ctx));
      }
      row_base += b.num_rows();
    }
    SLUICE_RETURN_NOT_OK(Flush(&sql, ctx));
    SLUICE_RETURN_NOT_OK(FlushDeletes(&del, ctx));
    return ApplyOutcome::kApplied;
  }

  // Streams the rows as LOAD DATA text (tab-separated, \\N for NULL, binary
  // values as hex turned back by UNHEX in the statement) in chunks of
  // ~16 MiB. LOCAL implies IGNORE (bad or duplicate rows become warnings), so
  // any warning or a short row count fails the part.
  Status LoadData(const std::vector<RecordBatch>& batches, const std::string& ctx) {
    std::string data;
    int64_t rows_in_chunk = 0, row_base = 0;
    for (const RecordBatch& b : batches) {
      for (int64_t i = 0; i < b.num_rows(); ++i) {
        SLUICE_RETURN_NOT_OK(AppendInfileRow(b, i, row_base + i, ctx, &data));
        ++rows_in_chunk;
        if (data.size() >= 4 * kMaxStatementBytes) {
          SLUICE_RETURN_NOT_OK(SendInfile(&data, rows_in_chunk, ctx));
          rows_in_chunk = 0;
        }
      }
      row_base += b.num_rows();
    }
    return SendInfile(&data, rows_in_chunk, ctx);
  }

  Status SendInfile(std::string* data, int64_t rows, const std::string& ctx) {
    if (rows == 0) return Status::OK();
    infile_.data = data;
    infile_.offset = 0;
    Status st = conn_->Exec(plan_->load_sql, ctx + ": LOAD DATA LOCAL INFILE");
    infile_.data = nullptr;
    data->clear();
    SLUICE_RETURN_NOT_OK(st);
    const uint64_t affected = mysql_affected_rows(conn_->get());
    const unsigned warnings = mysql_warning_count(conn_->get());
    if (warnings != 0 || affected != static_cast<uint64_t>(rows)) {
      std::string first;
      if (auto r = conn_->QueryStored("SHOW WARNINGS LIMIT 1", ctx + ": reading warnings"); r.ok()) {
        if (MYSQL_ROW w = mysql_fetch_row(r->get()); w && w[2]) first = w[2];
      }
      return Status::InvalidData(ctx + ": LOAD DATA stored " + std::to_string(affected) + " of " +
                                 std::to_string(rows) + " rows with " + std::to_string(warnings) +
                                 " warnings" + (first.empty() ? "" : ": " + first));
    }
    return Status::OK();
  }

  // A float or double as text for LOAD DATA and INSERT alike. A float goes
  // as its exact double: its shortest text can parse above FLT_MAX
  // ('3.4028235e+38') and be refused.
  Status AppendFloat(const Column& col, int64_t i, int c, int64_t row, const std::string& ctx,
                     std::string* out) const {
    double d = col.type.id == TypeId::kFloat32 ? col.Value<float>(i) : col.Value<double>(i);
    if (!std::isfinite(d)) {
      return Status::InvalidData(ctx + ": row " + std::to_string(row + 1) + ", column " +
                                 plan_->schema->field(c).name + ": MySQL cannot store NaN or infinity");
    }
    AppendDouble(d, out);
    return Status::OK();
  }

  Status AppendInfileRow(const RecordBatch& b, int64_t i, int64_t row, const std::string& ctx,
                         std::string* out) {
    for (int c = 0; c < b.num_columns(); ++c) {
      if (c) out->push_back('\t');
      const Column& col = b.column(c);
      if (col.IsNull(i)) {
        out->append("\\N");
        continue;
      }
      switch (col.type.id) {
        case TypeId::kFloat32:
        case TypeId::kFloat64:
          SLUICE_RETURN_NOT_OK(AppendFloat(col, i, c, row, ctx, out));
          break;
        case TypeId::kBool:
          out->push_back(col.BoolValue(i) ? '1' : '0');
          break;
        case TypeId::kString:
        case TypeId::kJson:
          AppendInfileEscaped(col.StringValue(i), out);
          break;
        case TypeId::kBinary:
          AppendHexRaw(col.StringValue(i), out);
          break;
        case TypeId::kUuid:
          AppendHexRaw(std::string_view(reinterpret_cast<const char*>(col.FixedBytes(i, 16)), 16), out);
          break;
        case TypeId::kTimestamp: {
          size_t start = out->size();
          AppendTimestamp(col.Value<int64_t>(i), false, out);
          if (size_t t = out->find('T', start); t != std::string::npos) (*out)[t] = ' ';
          break;
        }
        default:  // ints, decimal, date, time: canonical text
          AppendText(col, i, out);
          break;
      }
    }
    out->push_back('\n');
    return Status::OK();
  }

  Status Flush(std::string* sql, const std::string& ctx) {
    if (sql->empty()) return Status::OK();
    *sql += plan_->insert_suffix;
    Status st = conn_->Exec(*sql, ctx + ": inserting rows");
    sql->clear();
    return st;
  }

  Status FlushDeletes(std::string* sql, const std::string& ctx) {
    if (sql->empty()) return Status::OK();
    sql->push_back(')');
    Status st = conn_->Exec(*sql, ctx + ": deleting soft-deleted rows");
    sql->clear();
    return st;
  }

  // "(v1,v2,...)": every column, or only `columns`.
  Status AppendRow(const RecordBatch& b, int64_t i, int64_t row, const std::string& ctx,
                   std::string* out, const std::vector<int>* columns = nullptr) {
    out->push_back('(');
    const int ncols = columns ? static_cast<int>(columns->size()) : b.num_columns();
    for (int j = 0; j < ncols; ++j) {
      const int c = columns ? (*columns)[static_cast<size_t>(j)] : j;
      if (j) out->push_back(',');
      const Column& col = b.column(c);
      if (col.IsNull(i)) {
        out->append("NULL");
        continue;
      }
      switch (col.type.id) {
        case TypeId::kFloat32:
        case TypeId::kFloat64:
          SLUICE_RETURN_NOT_OK(AppendFloat(col, i, c, row, ctx, out));
          break;
        case TypeId::kBool:
          out->push_back(col.BoolValue(i) ? '1' : '0');
          break;
        case TypeId::kString:
        case TypeId::kJson: {
          std::string_view v = col.StringValue(i);
          size_t start = out->size();
          out->push_back('\'');
          out->resize(start + 1 + v.size() * 2 + 1);
          size_t n = mysql_real_escape_string(conn_->get(), out->data() + start + 1, v.data(),
                                              v.size());
          out->resize(start + 1 + n);
          out->push_back('\'');
          break;
        }
        case TypeId::kBinary:
          AppendHex(col.StringValue(i), out);
          break;
        case TypeId::kUuid:
          AppendHex(std::string_view(reinterpret_cast<const char*>(col.FixedBytes(i, 16)), 16), out);
          break;
        case TypeId::kDate:
          out->push_back('\'');
          AppendDate(col.Value<int32_t>(i), out);
          out->push_back('\'');
          break;
        case TypeId::kTime:
          out->push_back('\'');
          AppendTime(col.Value<int64_t>(i), out);
          out->push_back('\'');
          break;
        case TypeId::kTimestamp: {
          out->push_back('\'');
          size_t start = out->size();
          AppendTimestamp(col.Value<int64_t>(i), false, out);
          if (size_t t = out->find('T', start); t != std::string::npos) (*out)[t] = ' ';
          out->push_back('\'');
          break;
        }
        default:  // integers, decimal: canonical text is valid SQL
          AppendText(col, i, out);
          break;
      }
    }
    out->push_back(')');
    return Status::OK();
  }

  std::shared_ptr<const WritePlan> plan_;
  std::unique_ptr<MysqlConnection> conn_;
  InfileSource infile_;
};

// Open and Commit run on connections of their own in autocommit mode: every
// statement they send is its own transaction (and MySQL DDL — CREATE, DROP,
// RENAME, TRUNCATE — commits implicitly anyway).
//
// mode=replace. Open discards what a killed earlier run left (the stage's
// ledger rows, then the stage table, then a `__sluice_old` table of an
// interrupted swap) and creates an empty stage: `CREATE TABLE stage LIKE
// target` (same columns, keys, indexes and table options) or, with no target,
// from the schema. Writers load parts into the stage, each part with its
// ledger row (target = the stage's name) in one transaction, exactly as in
// append mode. The target is not touched before Commit.
//
// Commit cannot swap the table and rewrite the ledger in one transaction
// (RENAME commits implicitly), so its statements are ordered such that a
// crash between any two of them keeps both invariants:
//   (a) the target's name holds a complete table, the old or the new one
//       (RENAME TABLE of both pairs is one atomic statement), and
//   (b) no ledger row under the target's name claims a part that is not in
//       the table of that name. A missing row is tolerable (a re-run loads
//       that part again); a false one would make a later run skip data.
// The steps, and what a crash right after each one leaves:
//   1. DELETE the target's ledger rows.
//        old table, no claims for it; the stage and its claims intact.
//   2. RENAME TABLE t TO t__sluice_old, t__sluice_stage TO t
//      (just `stage TO t` when there is no target).
//        new table, no claims under t; the stage's rows still carry the
//        stage's name, which no table has now: nothing consults them
//        (only a replace run's writers use that name, after its Open has
//        deleted them).
//   3. UPDATE the stage's ledger rows to the target's name.
//        new table with exactly its parts claimed; t__sluice_old left over
//        (the next replace run's Open drops it).
//   4. DROP TABLE t__sluice_old.
// The obvious order (rename, then DELETE + UPDATE of the ledger in one
// transaction) breaks (b): a crash after the rename leaves the old table's
// rows claiming parts the new table does not hold. A re-run of replace after
// a crash anywhere starts over (Open resets the stage) and ends correct.
// Commit is idempotent: retried after a failure past step 2 (the stage gone
// because it was renamed), it resumes at step 3.
//
// Two replace runs of the same target at once are not supported: they share
// the staging table.
class MysqlSink final : public Sink {
 public:
  explicit MysqlSink(SinkConfig cfg) : cfg_(std::move(cfg)) {
    const std::string_view rel = TablePart(cfg_.table);
    stage_ = cfg_.table + std::string(kStageSuffix);
    old_ = cfg_.table + std::string(kOldSuffix);
    qtable_ = MysqlQuoteTable(cfg_.table);
    qstage_ = MysqlQuoteTable(stage_);
    qold_ = MysqlQuoteTable(old_);
    qledger_ = MysqlQuoteTable(cfg_.ledger);
    where_ = "mysql sink " + cfg_.display + " table " + cfg_.table;
    stage_name_chars_ = Utf8Chars(rel) + kStageSuffix.size();
  }

  Status Open(std::shared_ptr<const Schema> schema) override {
    SLUICE_RETURN_NOT_OK(schema->Validate());
    if (schema->num_fields() == 0) return Status::InvalidArgument(where_ + ": schema has no columns");
    if (cfg_.mode == Mode::kReplace && stage_name_chars_ > kMaxIdentChars) {
      return Status::InvalidArgument(where_ + ": the table name is too long for mode=replace (its "
                                              "staging table name \"" + std::string(TablePart(stage_)) +
                                     "\" would exceed MySQL's 64 characters)");
    }
    SLUICE_ASSIGN_OR_RETURN(auto conn, Connect(cfg_.endpoint));
    auto plan = std::make_shared<WritePlan>();
    plan->endpoint = cfg_.endpoint;
    plan->where = where_;
    plan->schema = schema;
    plan->target = cfg_.table;
    SLUICE_RETURN_NOT_OK(conn->Exec(
        "CREATE TABLE IF NOT EXISTS " + qledger_ +
            " (target VARBINARY(512) NOT NULL, part_id VARBINARY(255) NOT NULL,"
            " stream_id VARBINARY(255) NOT NULL, part_number BIGINT NOT NULL,"
            " `rows` BIGINT NOT NULL, applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
            " PRIMARY KEY (target, part_id)) ENGINE=InnoDB",
        where_ + ": creating the ledger table " + cfg_.ledger));
    std::string dest = qtable_;  // the table the writers load
    if (cfg_.mode == Mode::kReplace) {
      SLUICE_ASSIGN_OR_RETURN(bool exists, TableExists(conn.get(), qtable_));
      if (!exists && !cfg_.create) {
        return Status::NotFound(where_ + ": table \"" + cfg_.table + "\" not found (create=false)");
      }
      // A replace always starts over (see the class comment): ledger rows
      // first, so none is left naming parts of a dropped stage.
      SLUICE_RETURN_NOT_OK(DeleteLedgerRows(conn.get(), stage_, "clearing the staging table's ledger rows"));
      SLUICE_RETURN_NOT_OK(conn->Exec("DROP TABLE IF EXISTS " + qstage_, where_ + ": dropping an old staging table"));
      SLUICE_RETURN_NOT_OK(conn->Exec("DROP TABLE IF EXISTS " + qold_,
                                      where_ + ": dropping the old table of an interrupted swap"));
      SLUICE_RETURN_NOT_OK(conn->Exec(
          exists ? "CREATE TABLE " + qstage_ + " LIKE " + qtable_ : CreateTableSql(qstage_, *schema, false),
          where_ + ": creating the staging table " + stage_));
      dest = qstage_;
      plan->target = stage_;
    } else {
      if (cfg_.create) {
        SLUICE_RETURN_NOT_OK(conn->Exec(CreateTableSql(qtable_, *schema, true), where_ + ": creating the table"));
      }
      // The target must exist now (create=false, or a name that is a view).
      SLUICE_ASSIGN_OR_RETURN(bool exists, TableExists(conn.get(), qtable_));
      if (!exists) return Status::NotFound(where_ + ": table \"" + cfg_.table + "\" not found");
    }
    std::string cols, updates;
    for (int i = 0; i < schema->num_fields(); ++i) {
      std::string q = MysqlQuoteIdent(schema->field(i).name);
      cols += (i ? ", " : "") + q;
      if (!schema->field(i).primary_key) {
        updates += (updates.empty() ? "" : ", ") + q + " = VALUES(" + q + ")";
      }
    }
    plan->insert_prefix = "INSERT INTO " + dest + " (" + cols + ") VALUES ";
    if (cfg_.mode == Mode::kUpsert) {
      if (schema->PrimaryKeyIndices().empty()) {
        return Status::InvalidArgument(where_ + ": mode=upsert needs a primary key in the schema");
      }
      if (updates.empty()) {
        std::string k = MysqlQuoteIdent(schema->field(0).name);
        updates = k + " = " + k;
      }
      plan->insert_suffix = " ON DUPLICATE KEY UPDATE " + updates;
    }
    if (!cfg_.soft_delete.empty()) {
      if (cfg_.mode != Mode::kUpsert) {
        return Status::InvalidArgument(where_ + ": soft_delete= needs mode=upsert (deletes go by key)");
      }
      auto flag = schema->FieldIndex(cfg_.soft_delete);
      if (!flag) {
        return Status::InvalidArgument(where_ + ": soft_delete column \"" + cfg_.soft_delete +
                                       "\" is not in the schema");
      }
      plan->soft_delete_index = *flag;
      plan->key_columns = schema->PrimaryKeyIndices();
      std::string keys;
      for (int k : plan->key_columns) {
        keys += (keys.empty() ? "" : ", ") + MysqlQuoteIdent(schema->field(k).name);
      }
      plan->delete_prefix = "DELETE FROM " + dest + " WHERE (" + keys + ") IN (";
    }
    if (cfg_.mode != Mode::kUpsert && cfg_.load != Load::kInsert) {
      bool server_allows = false;
      if (auto r = conn->QueryStored("SELECT @@local_infile", where_ + ": checking local_infile"); r.ok()) {
        MYSQL_ROW row = mysql_fetch_row(r->get());
        server_allows = row && row[0] && std::string_view(row[0]) == "1";
      }
      if (!server_allows && cfg_.load == Load::kInfile) {
        return Status::Unsupported(where_ + ": load=infile but the server has local_infile disabled");
      }
      if (server_allows) {
        std::string targets, sets;
        for (int i = 0; i < schema->num_fields(); ++i) {
          const Field& f = schema->field(i);
          std::string q = MysqlQuoteIdent(f.name);
          if (f.type.id == TypeId::kBinary || f.type.id == TypeId::kUuid) {
            std::string var = "@sluice_v" + std::to_string(i);
            targets += (i ? ", " : "") + var;
            sets += (sets.empty() ? " SET " : ", ") + q + " = UNHEX(" + var + ")";
          } else {
            targets += (i ? ", " : "") + q;
          }
        }
        plan->load_sql = "LOAD DATA LOCAL INFILE 'sluice-part' INTO TABLE " + dest +
                         " CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\'"
                         " LINES TERMINATED BY '\\n' (" + targets + ")" + sets;
        plan->endpoint.local_infile = true;
      }
    }
    if (cfg_.mode == Mode::kTruncateInsert) {
      // Last, once everything else checked out. Not atomic: readers see the
      // table empty, then filling up. Ledger rows first: a crash between the
      // two statements leaves old rows unclaimed (a re-run empties the table
      // again), never claims of rows that are gone.
      SLUICE_RETURN_NOT_OK(DeleteLedgerRows(conn.get(), cfg_.table, "clearing the table's ledger rows"));
      Status st = conn->Exec("TRUNCATE TABLE " + qtable_, where_ + ": emptying the table");
      if (!st.ok() && mysql_errno(conn->get()) == kErrTruncateIllegalFk) {
        st = conn->Exec("DELETE FROM " + qtable_, where_ + ": emptying the table");
      }
      SLUICE_RETURN_NOT_OK(st);
    }
    plan->state_table = qstate_for_writers_;
    plan->ledger_insert = "INSERT INTO " + qledger_ +
                          " (target, part_id, stream_id, part_number, `rows`) VALUES (" +
                          EscapeLiteral(conn->get(), plan->target) + ", ";
    plan_ = std::move(plan);
    rename_attempted_ = false;
    committed_ = false;
    return Status::OK();
  }

  // The state tables live in the target's database. Callable before Open
  // (`sluice runs`) or after it.
  Result<std::unique_ptr<StateStore>> OpenStateStore(const StateTables& tables) override {
    const std::string db = Resolve(cfg_.table).first;  // where the state tables go
    for (const std::string* t : {&tables.state, &tables.run_log}) {
      for (const std::string& other : {cfg_.table, stage_, old_, cfg_.ledger}) {
        const auto [odb, orel] = Resolve(other);
        if (SameName(db, odb) && SameName(*t, orel)) {
          return Status::InvalidArgument(where_ + ": the state table \"" + *t +
                                         "\" cannot be the target, staging or ledger table");
        }
      }
    }
    if (SameName(tables.state, tables.run_log)) {
      return Status::InvalidArgument(where_ + ": the state table and the run log must differ (\"" +
                                     tables.state + "\")");
    }
    const size_t dot = cfg_.table.find('.');
    const std::string prefix =
        dot == std::string::npos ? "" : MysqlQuoteIdent(cfg_.table.substr(0, dot)) + ".";
    auto store = OpenMysqlStateStore(cfg_.endpoint, prefix, tables);
    if (!store.ok()) return store.status().WithContext(where_);
    qstate_for_writers_ = prefix + MysqlQuoteIdent(tables.state);
    if (plan_) {
      auto plan = std::make_shared<WritePlan>(*plan_);
      plan->state_table = qstate_for_writers_;
      plan_ = std::move(plan);
    }
    return store;
  }

  Result<std::unique_ptr<SinkWriter>> NewWriter() override {
    if (!plan_) return Status::InvalidArgument("mysql sink: NewWriter() before Open()");
    SLUICE_ASSIGN_OR_RETURN(auto conn, Connect(plan_->endpoint));
    return std::unique_ptr<SinkWriter>(new MysqlSinkWriter(plan_, std::move(conn)));
  }

  // append, upsert, truncate-insert: every part committed on its own.
  // replace: the swap described in the class comment.
  Status Commit() override {
    if (!plan_) return Status::InvalidArgument(where_ + ": Commit() before Open()");
    if (cfg_.mode != Mode::kReplace || committed_) return Status::OK();
    SLUICE_ASSIGN_OR_RETURN(auto conn, Connect(cfg_.endpoint));
    SLUICE_ASSIGN_OR_RETURN(bool stage_exists, TableExists(conn.get(), qstage_));
    if (stage_exists) {
      SLUICE_ASSIGN_OR_RETURN(bool target_exists, TableExists(conn.get(), qtable_));
      // 1.
      SLUICE_RETURN_NOT_OK(DeleteLedgerRows(conn.get(), cfg_.table, "clearing the old table's ledger rows"));
      // 2.
      std::string rename = "RENAME TABLE " + qstage_ + " TO " + qtable_;
      if (target_exists) {
        SLUICE_RETURN_NOT_OK(conn->Exec("DROP TABLE IF EXISTS " + qold_,
                                        where_ + ": dropping the old table of an interrupted swap"));
        rename = "RENAME TABLE " + qtable_ + " TO " + qold_ + ", " + qstage_ + " TO " + qtable_;
      }
      // Set before the statement: if the connection drops while it runs, a
      // retry finds out from whether the stage still exists.
      rename_attempted_ = true;
      SLUICE_RETURN_NOT_OK(conn->Exec(rename, where_ + ": swapping in the staging table"));
    } else if (!rename_attempted_) {
      return Status::NotFound(where_ + ": the staging table \"" + stage_ +
                              "\" is gone before Commit (dropped by another replace run of the "
                              "same table?)");
    }
    // 3.
    SLUICE_RETURN_NOT_OK(conn->Exec("UPDATE " + qledger_ + " SET target = " +
                                        EscapeLiteral(conn->get(), cfg_.table) +
                                        " WHERE target = " + EscapeLiteral(conn->get(), stage_),
                                    where_ + ": moving the staging table's ledger rows to the table"));
    // 4.
    SLUICE_RETURN_NOT_OK(conn->Exec("DROP TABLE IF EXISTS " + qold_, where_ + ": dropping the old table"));
    committed_ = true;
    return Status::OK();
  }

 private:
  // Whether `qname` names a table (or view) the session can read.
  Result<bool> TableExists(MysqlConnection* conn, const std::string& qname) {
    Status st = conn->Exec("SELECT 1 FROM " + qname + " LIMIT 0", where_ + ": looking up " + qname);
    if (st.ok()) return true;
    if (st.code() == StatusCode::kNotFound) return false;
    return st;
  }

  // (database, table) of a "db.t" / "t" name as MysqlQuoteTable reads it.
  std::pair<std::string, std::string> Resolve(const std::string& name) const {
    const size_t dot = name.find('.');
    if (dot == std::string::npos) return {cfg_.endpoint.dbname, name};
    return {name.substr(0, dot), name.substr(dot + 1)};
  }

  // Table and database names compare case-insensitively on some servers
  // (lower_case_table_names); refusing a case variant too is the safe side.
  static bool SameName(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  }

  Status DeleteLedgerRows(MysqlConnection* conn, const std::string& target, const std::string& what) {
    return conn->Exec("DELETE FROM " + qledger_ + " WHERE target = " + EscapeLiteral(conn->get(), target),
                      where_ + ": " + what);
  }

  SinkConfig cfg_;
  std::string stage_, old_;  // unquoted: "t__sluice_stage" / "db.t__sluice_stage"
  std::string qtable_, qstage_, qold_, qledger_, where_;
  size_t stage_name_chars_ = 0;
  std::shared_ptr<const WritePlan> plan_;
  std::string qstate_for_writers_;  // set by OpenStateStore; copied into plans
  bool rename_attempted_ = false;
  bool committed_ = false;
};

}  // namespace

const OptionSpecs& MysqlSinkOptionSpecs() {
  static const OptionSpecs specs = {
      {"table", OptionType::kString, "", "target table: db.table or table", {}, true},
      {"mode", OptionType::kEnum, "append",
       "append: add rows; upsert: INSERT ... ON DUPLICATE KEY UPDATE (needs a primary key); "
       "replace: load a staging table <table>__sluice_stage, swap it in at commit with one "
       "RENAME TABLE; truncate-insert: empty the table at start, then add rows (not atomic: "
       "readers see it empty during the load)",
       {"append", "upsert", "replace", "truncate-insert"}},
      {"create", OptionType::kBool, "true", "create the table when missing"},
      {"load", OptionType::kEnum, "auto",
       "append, replace, truncate-insert: LOAD DATA LOCAL INFILE from memory when the server "
       "allows it (auto), "
       "always (infile), or batched multi-row INSERT (insert)",
       {"auto", "infile", "insert"}},
      {"ledger", OptionType::kString, "_sluice_ledger",
       "table recording applied part ids (exactly-once re-runs)"},
      {"soft_delete", OptionType::kString, "",
       "upsert: rows whose COLUMN is set (non-NULL, or true) delete the target row by key "
       "instead of being written"},
  };
  return specs;
}

Result<std::unique_ptr<Sink>> MakeMysqlSink(const Uri& uri, const Options& options) {
  SinkConfig cfg;
  SLUICE_ASSIGN_OR_RETURN(cfg.endpoint, MysqlEndpoint::FromUri(uri));
  cfg.display = uri.Redacted();
  cfg.table = options.GetString("table");
  if (cfg.table.empty()) return Status::InvalidArgument("mysql sink: ?table= is required");
  const std::string mode = options.GetString("mode");
  cfg.mode = mode == "upsert"            ? Mode::kUpsert
             : mode == "replace"         ? Mode::kReplace
             : mode == "truncate-insert" ? Mode::kTruncateInsert
                                         : Mode::kAppend;
  cfg.create = options.GetBool("create");
  cfg.soft_delete = options.GetString("soft_delete");
  cfg.ledger = options.GetString("ledger");
  if (cfg.ledger.empty()) return Status::InvalidArgument("mysql sink: ledger= must not be empty");
  if (cfg.ledger == cfg.table) {
    return Status::InvalidArgument("mysql sink: the target table cannot be the ledger table");
  }
  const std::string load = options.GetString("load");
  cfg.load = load == "insert" ? Load::kInsert : load == "infile" ? Load::kInfile : Load::kAuto;
  return std::unique_ptr<Sink>(new MysqlSink(std::move(cfg)));
}

}  // namespace sluice
