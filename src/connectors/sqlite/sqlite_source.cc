// SQLite source: schema discovery, rowid-range planning on one snapshot, and
// the per-split reader that converts rows into batches.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <mutex>

#include "connectors/sqlite/sqlite.h"
#include "connectors/sqlite/sqlite_db.h"
#include "connectors/sqlite/sqlite_types.h"
#include "core/temporal.h"
#include "core/text.h"
#include "core/utf8.h"

namespace sluice {
namespace sqlite {
namespace {

// Var-width bytes per batch before it is cut early (keeps int32 offsets and
// memory bounded when values are large; SQLite caps one value at 1 GB).
constexpr int64_t kMaxBatchVarBytes = int64_t{64} << 20;
constexpr int64_t kMaxBatchRows = int64_t{1} << 24;
constexpr int kMaxSplitsCap = 256;

struct SourceConfig {
  std::string path;
  std::string table;
  std::string query;
  int64_t batch_rows = 0;  // 0 = the runtime's
  int64_t max_splits = 64;
  int64_t min_split_rows = 100000;
  bool coerce = false;
  int64_t infer_rows = 100;
  bool lock_snapshot = true;
  int64_t busy_timeout_ms = 30000;
  int64_t mmap_size = 0;
};

struct ColInfo {
  std::string name;
  DataType type;
  bool nullable = true;
};

// Everything a split reader needs; immutable and shared between readers.
struct ReadPlan {
  std::shared_ptr<const Schema> schema;
  std::vector<ColInfo> cols;
  std::string what;  // "table \"t\"" or "query", for errors
  std::string path;
  bool coerce = false;
  bool has_rowid = false;      // the SELECT has the rowid as its last column
  std::string rowid_name;      // rowid, _rowid_ or oid (whichever no column shadows)
  std::string select_sql;      // the whole table or the query
  std::string select_head;     // "SELECT cols, rowid FROM t" (rowid tables only)
  int64_t batch_rows = 65536;
  int64_t first_batch_rows = 65536;  // the first Next() of each reader
};

std::string_view StorageClassName(int sc) {
  switch (sc) {
    case SQLITE_INTEGER: return "INTEGER";
    case SQLITE_FLOAT: return "REAL";
    case SQLITE_TEXT: return "TEXT";
    case SQLITE_BLOB: return "BLOB";
    default: return "NULL";
  }
}

// A short quote of a stored value for error messages: valid UTF-8 as text
// (control characters as '?'), anything else as hex (x'ff00').
std::string Preview(std::string_view s) {
  size_t n = std::min<size_t>(s.size(), 40);
  while (n > 0 && n < s.size() && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // whole characters
  std::string_view head = s.substr(0, n);
  std::string out;
  if (IsValidUtf8(head)) {
    out = "'";
    for (char c : head) out.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
    out += "'";
  } else {
    static constexpr char kHex[] = "0123456789abcdef";
    out = "x'";
    for (unsigned char c : s.substr(0, 20)) {
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
    out += "'";
    n = std::min<size_t>(s.size(), 20);
  }
  if (n < s.size()) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

template <typename T>
bool InRange(int64_t v) {
  return v >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
         (std::is_same_v<T, uint64_t> || v <= static_cast<int64_t>(std::numeric_limits<T>::max()));
}

Status AppendIntegerAs(int64_t v, TypeId id, ColumnBuilder* b) {
  auto out_of_range = [&] {
    return Status::InvalidData("INTEGER " + std::to_string(v) + " out of range for " +
                               b->type().ToString());
  };
  switch (id) {
    case TypeId::kInt8: if (!InRange<int8_t>(v)) return out_of_range(); b->AppendFixed<int8_t>(static_cast<int8_t>(v)); break;
    case TypeId::kInt16: if (!InRange<int16_t>(v)) return out_of_range(); b->AppendFixed<int16_t>(static_cast<int16_t>(v)); break;
    case TypeId::kInt32: if (!InRange<int32_t>(v)) return out_of_range(); b->AppendFixed<int32_t>(static_cast<int32_t>(v)); break;
    case TypeId::kInt64: b->AppendFixed<int64_t>(v); break;
    case TypeId::kUInt8: if (!InRange<uint8_t>(v)) return out_of_range(); b->AppendFixed<uint8_t>(static_cast<uint8_t>(v)); break;
    case TypeId::kUInt16: if (!InRange<uint16_t>(v)) return out_of_range(); b->AppendFixed<uint16_t>(static_cast<uint16_t>(v)); break;
    case TypeId::kUInt32: if (!InRange<uint32_t>(v)) return out_of_range(); b->AppendFixed<uint32_t>(static_cast<uint32_t>(v)); break;
    case TypeId::kUInt64: if (v < 0) return out_of_range(); b->AppendFixed<uint64_t>(static_cast<uint64_t>(v)); break;
    default: return Status::Internal("not an integer type");
  }
  return Status::OK();
}

// A REAL as an exact decimal: its shortest round-trip text when that fits
// (every value the sink stored as REAL has at most 15 significant digits, so
// this is exact), else rounded to the column's scale (the REAL itself was
// approximate; e.g. 0.1 + 0.2 in a DECIMAL(10,2) column reads as 0.30).
Result<int128_t> DoubleToDecimal(double d, int precision, int scale) {
  if (!std::isfinite(d)) return Status::InvalidData("REAL " + std::to_string(d) + " is not a decimal");
  char buf[400];
  // Scientific: the plain shortest form prints large integral doubles with
  // all their binary digits (7.19462994955941e19 as 71946299495594098688).
  auto r = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  auto exact = ParseDecimal(std::string_view(buf, static_cast<size_t>(r.ptr - buf)), precision, scale);
  if (exact.ok()) return exact;
  r = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::fixed, scale);
  if (r.ec != std::errc()) return exact.status();
  return ParseDecimal(std::string_view(buf, static_cast<size_t>(r.ptr - buf)), precision, scale);
}

// Converts one non-NULL value whose storage class is not the column's fast
// path. Returns a message-only error; the caller adds table, row and column.
Status ConvertSlow(sqlite3_stmt* stmt, int i, int sc, const DataType& type, ColumnBuilder* b) {
  const TypeId id = type.id;
  auto cannot = [&](std::string detail) {
    return Status::InvalidData("cannot read " + std::string(StorageClassName(sc)) + " value " +
                               detail + " as " + type.ToString());
  };
  switch (sc) {
    case SQLITE_INTEGER: {
      int64_t v = sqlite3_column_int64(stmt, i);
      if (IsInteger(id)) return AppendIntegerAs(v, id, b);
      switch (id) {
        case TypeId::kFloat32: b->AppendFixed<float>(static_cast<float>(v)); return Status::OK();
        case TypeId::kFloat64: b->AppendFixed<double>(static_cast<double>(v)); return Status::OK();
        case TypeId::kBool: b->AppendBool(v != 0); return Status::OK();
        case TypeId::kDecimal: {
          int128_t w = v;
          if ((w < 0 ? -w : w) > MaxDecimalMagnitude(type.precision - type.scale)) {
            return cannot(std::to_string(v) + " (too many digits)");
          }
          b->AppendFixed<int128_t>(w * Pow10(type.scale));
          return Status::OK();
        }
        case TypeId::kString: case TypeId::kJson: {
          char buf[24];
          auto r = std::to_chars(buf, buf + sizeof(buf), v);
          b->AppendBytes(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
          return Status::OK();
        }
        case TypeId::kDate: case TypeId::kTime: case TypeId::kTimestamp:
          return cannot(std::to_string(v) +
                        " (numbers are not dates; convert in a query, e.g. "
                        "datetime(col, 'unixepoch'))");
        default:
          return cannot(std::to_string(v));
      }
    }
    case SQLITE_FLOAT: {
      double d = sqlite3_column_double(stmt, i);
      auto Text = [d] {
        std::string t;
        AppendDouble(d, &t);
        return t;
      };
      if (IsInteger(id)) {
        if (!(d == std::trunc(d))) return cannot(Text() + " (not an integer)");
        if (id == TypeId::kUInt64 && d >= 9223372036854775808.0 && d < 18446744073709551616.0) {
          b->AppendFixed<uint64_t>(static_cast<uint64_t>(d));
          return Status::OK();
        }
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
          return cannot(Text() + " (out of range)");
        }
        return AppendIntegerAs(static_cast<int64_t>(d), id, b);
      }
      switch (id) {
        case TypeId::kFloat32: b->AppendFixed<float>(static_cast<float>(d)); return Status::OK();
        case TypeId::kFloat64: b->AppendFixed<double>(d); return Status::OK();
        case TypeId::kBool:
          if (d == 0.0 || d == 1.0) {
            b->AppendBool(d == 1.0);
            return Status::OK();
          }
          return cannot(Text());
        case TypeId::kDecimal: {
          auto v = DoubleToDecimal(d, type.precision, type.scale);
          if (!v.ok()) return cannot(Text() + ": " + v.status().message());
          b->AppendFixed<int128_t>(*v);
          return Status::OK();
        }
        case TypeId::kString: case TypeId::kJson:
          b->AppendBytes(Text());
          return Status::OK();
        default:
          return cannot(Text());
      }
    }
    case SQLITE_TEXT: case SQLITE_BLOB: {
      const void* p = sc == SQLITE_TEXT ? static_cast<const void*>(sqlite3_column_text(stmt, i))
                                        : sqlite3_column_blob(stmt, i);
      int n = sqlite3_column_bytes(stmt, i);
      std::string_view s(static_cast<const char*>(p), p == nullptr ? 0 : static_cast<size_t>(n));
      switch (id) {
        case TypeId::kBinary: b->AppendBytes(s); return Status::OK();
        case TypeId::kString: case TypeId::kJson:
          if (!IsValidUtf8(s)) return cannot(Preview(s) + " (invalid UTF-8)");
          b->AppendBytes(s);
          return Status::OK();
        case TypeId::kUuid:
          if (sc == SQLITE_BLOB && s.size() == 16) {
            b->AppendFixedBytes(reinterpret_cast<const uint8_t*>(s.data()), 16);
            return Status::OK();
          }
          break;
        default:
          break;
      }
      // Text forms, also for BLOBs: the sink stores values SQLite cannot hold
      // natively (uint64 above int64, long decimals, -0.0) as BLOBs of their
      // canonical text.
      Status st = AppendParsedText(s, b);
      if (!st.ok()) return cannot(Preview(s) + ": " + st.message());
      return Status::OK();
    }
    default:
      return Status::Internal("unexpected SQLite storage class " + std::to_string(sc));
  }
}

class SqliteReader final : public SourceReader {
 public:
  SqliteReader(std::shared_ptr<const ReadPlan> plan, Database db, Statement stmt)
      : plan_(std::move(plan)), db_(std::move(db)), stmt_(std::move(stmt)), builder_(plan_->schema) {}

  Result<std::optional<RecordBatch>> Next() override {
    // An error is sticky: a caller retrying Next() must not mistake the
    // rest of a failed split for its end.
    if (!failed_.ok()) return failed_;
    if (done_) return std::optional<RecordBatch>();
    sqlite3_stmt* stmt = stmt_.get();
    const int ncols = static_cast<int>(plan_->cols.size());
    int64_t rows = 0;
    var_bytes_ = 0;
    const int64_t limit = first_batch_ ? plan_->first_batch_rows : plan_->batch_rows;
    first_batch_ = false;
    builder_.Reserve(std::min<int64_t>(limit, 65536));
    while (rows < limit && var_bytes_ < kMaxBatchVarBytes) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) {
        failed_ = Finish();
        if (!failed_.ok()) return failed_;
        break;
      }
      if (rc != SQLITE_ROW) {
        failed_ = stmt_.Error(rc).WithContext("reading " + plan_->what + " of '" + plan_->path + "'");
        return failed_;
      }
      if (plan_->has_rowid) last_rowid_ = sqlite3_column_int64(stmt, ncols);
      ++rows_read_;
      for (int c = 0; c < ncols; ++c) {
        if (!ReadFast(stmt, c)) {
          Status st = ReadSlow(stmt, c);
          if (!st.ok()) {
            failed_ = std::move(st);
            return failed_;
          }
        }
      }
      ++rows;
    }
    if (rows == 0) return std::optional<RecordBatch>();
    return std::optional<RecordBatch>(builder_.Finish());
  }

  std::string position() const override {
    return std::to_string(plan_->has_rowid ? last_rowid_ : rows_read_);
  }

 private:
  // The common case: the value's storage class is the column's natural one.
  // Returns false to take the slow path (other classes, NULL in a NOT NULL
  // column, out-of-range values, parse errors).
  bool ReadFast(sqlite3_stmt* stmt, int c) {
    ColumnBuilder& b = builder_.column(c);
    const ColInfo& col = plan_->cols[static_cast<size_t>(c)];
    const int sc = sqlite3_column_type(stmt, c);
    if (sc == SQLITE_NULL) {
      if (!col.nullable) return false;
      b.AppendNull();
      return true;
    }
    switch (col.type.id) {
      case TypeId::kInt64:
        if (sc != SQLITE_INTEGER) return false;
        b.AppendFixed<int64_t>(sqlite3_column_int64(stmt, c));
        return true;
      case TypeId::kInt8: case TypeId::kInt16: case TypeId::kInt32: case TypeId::kUInt8:
      case TypeId::kUInt16: case TypeId::kUInt32: case TypeId::kUInt64:
        if (sc != SQLITE_INTEGER) return false;
        return AppendIntegerAs(sqlite3_column_int64(stmt, c), col.type.id, &b).ok();
      case TypeId::kFloat64:
        if (sc != SQLITE_FLOAT) return false;
        b.AppendFixed<double>(sqlite3_column_double(stmt, c));
        return true;
      case TypeId::kFloat32:
        if (sc != SQLITE_FLOAT) return false;
        b.AppendFixed<float>(static_cast<float>(sqlite3_column_double(stmt, c)));
        return true;
      case TypeId::kBool: {
        if (sc != SQLITE_INTEGER) return false;
        b.AppendBool(sqlite3_column_int64(stmt, c) != 0);
        return true;
      }
      case TypeId::kString: case TypeId::kJson: {
        if (sc != SQLITE_TEXT) return false;
        std::string_view s = Text(stmt, c);
        if (!IsValidUtf8(s)) return false;
        b.AppendBytes(s);
        var_bytes_ += static_cast<int64_t>(s.size());
        return true;
      }
      case TypeId::kBinary: {
        if (sc != SQLITE_BLOB) return false;
        const void* p = sqlite3_column_blob(stmt, c);
        int n = sqlite3_column_bytes(stmt, c);
        b.AppendBytes(std::string_view(static_cast<const char*>(p), p == nullptr ? 0 : static_cast<size_t>(n)));
        var_bytes_ += n;
        return true;
      }
      case TypeId::kDecimal: {
        if (sc == SQLITE_INTEGER) return false;  // scaled in the slow path
        if (sc != SQLITE_TEXT) return false;
        auto v = ParseDecimal(Text(stmt, c), col.type.precision, col.type.scale);
        if (!v.ok()) return false;
        b.AppendFixed<int128_t>(*v);
        return true;
      }
      case TypeId::kDate: {
        if (sc != SQLITE_TEXT) return false;
        auto v = ParseDate(Text(stmt, c));
        if (!v.ok()) return false;
        b.AppendFixed<int32_t>(*v);
        return true;
      }
      case TypeId::kTime: {
        if (sc != SQLITE_TEXT) return false;
        auto v = ParseTime(Text(stmt, c));
        if (!v.ok()) return false;
        b.AppendFixed<int64_t>(*v);
        return true;
      }
      case TypeId::kTimestamp: {
        if (sc != SQLITE_TEXT) return false;
        auto v = ParseTimestamp(Text(stmt, c));
        if (!v.ok()) return false;
        b.AppendFixed<int64_t>(*v);
        return true;
      }
      case TypeId::kUuid: {
        if (sc != SQLITE_TEXT) return false;
        uint8_t u[16];
        if (!ParseUuid(Text(stmt, c), u).ok()) return false;
        b.AppendFixedBytes(u, 16);
        return true;
      }
    }
    return false;
  }

  Status ReadSlow(sqlite3_stmt* stmt, int c) {
    ColumnBuilder& b = builder_.column(c);
    const ColInfo& col = plan_->cols[static_cast<size_t>(c)];
    const int sc = sqlite3_column_type(stmt, c);
    Status st;
    if (sc == SQLITE_NULL) {
      st = Status::InvalidData("NULL in a NOT NULL column");
    } else {
      st = ConvertSlow(stmt, c, sc, col.type, &b);
      if (sc == SQLITE_TEXT || sc == SQLITE_BLOB) var_bytes_ += sqlite3_column_bytes(stmt, c);
    }
    if (st.ok()) return st;
    if (plan_->coerce) {
      b.AppendNull();
      return Status::OK();
    }
    std::string where = plan_->what + " of '" + plan_->path + "', " +
                        (plan_->has_rowid ? "rowid " + std::to_string(last_rowid_)
                                          : "row " + std::to_string(rows_read_)) +
                        ", column '" + col.name + "'";
    return Status(st.code(), where + ": " + st.message() +
                                 " (use on_conversion_error=null to read such values as NULL)");
  }

  static std::string_view Text(sqlite3_stmt* stmt, int c) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
    int n = sqlite3_column_bytes(stmt, c);
    return {p, p == nullptr ? 0 : static_cast<size_t>(n)};
  }

  // End of the split: end the read transaction and close the connection now
  // (releases locks and file handles before the runtime destroys the reader).
  Status Finish() {
    done_ = true;
    stmt_.Finalize();
    Status st;
    if (!sqlite3_get_autocommit(db_.get())) st = db_.Exec("COMMIT");
    db_.Close();
    return st;
  }

  std::shared_ptr<const ReadPlan> plan_;
  Database db_;
  Statement stmt_;
  BatchBuilder builder_;
  bool done_ = false;
  Status failed_;
  int64_t last_rowid_ = 0;
  int64_t rows_read_ = 0;
  int64_t var_bytes_ = 0;
  bool first_batch_ = true;
};

Result<std::optional<int64_t>> ParseBound(const std::string& text) {
  if (text.empty()) return std::optional<int64_t>();
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) {
    return Status::InvalidArgument("sqlite source: invalid split bound '" + text +
                                   "' (expected a rowid)");
  }
  return std::optional<int64_t>(v);
}

// Collects the tables a statement reads (through views too) while it is
// prepared, via the authorizer: their content is what the fingerprint tracks.
int CollectTables(void* arg, int action, const char* a1, const char*, const char* db, const char*) {
  if (action == SQLITE_READ && a1 != nullptr && db != nullptr && std::string_view(db) == "main") {
    auto* tables = static_cast<std::vector<std::string>*>(arg);
    if (std::find(tables->begin(), tables->end(), a1) == tables->end()) tables->emplace_back(a1);
  }
  return SQLITE_OK;
}

class SqliteSource final : public Source {
 public:
  explicit SqliteSource(SourceConfig config) : cfg_(std::move(config)) {}

  Status Open(const SourceOptions& options) override {
    plan_.reset();
    tables_.clear();
    table_name_.clear();
    main_rowid_.clear();
    row_count_ = -1;
    min_rowid_ = max_rowid_ = 0;
    auto plan = std::make_shared<ReadPlan>();
    plan->path = cfg_.path;
    plan->coerce = cfg_.coerce;
    int64_t batch = cfg_.batch_rows > 0 ? cfg_.batch_rows : options.batch_rows;
    plan->batch_rows = std::clamp<int64_t>(batch, 1, kMaxBatchRows);
    plan->first_batch_rows = options.first_batch_rows > 0
                                 ? std::min(options.first_batch_rows, plan->batch_rows)
                                 : plan->batch_rows;
    SLUICE_RETURN_NOT_OK(OpenGuard());
    // One read transaction: schema, row count and fingerprint agree.
    SLUICE_RETURN_NOT_OK_CTX(guard_.Exec("BEGIN"), Where());
    TransactionGuard txn(&guard_);
    // The first read checks the file header ("file is not a database").
    SLUICE_RETURN_NOT_OK_CTX(guard_.QueryInt64("SELECT count(*) FROM sqlite_master").status(), Where());
    if (!cfg_.table.empty()) {
      SLUICE_RETURN_NOT_OK(DiscoverTable(plan.get()));
    } else {
      SLUICE_RETURN_NOT_OK(DiscoverQuery(plan.get()));
    }
    std::vector<TableStats> stats;
    SLUICE_ASSIGN_OR_RETURN(marker_, ContentMarker(&stats));
    for (const auto& st : stats) {
      if (!main_rowid_.empty() && st.name == table_name_) {
        row_count_ = st.count;
        min_rowid_ = st.min;
        max_rowid_ = st.max;
      } else if (!cfg_.table.empty() && st.name == table_name_) {
        row_count_ = st.count;  // WITHOUT ROWID: count only
      }
    }
    SLUICE_ASSIGN_OR_RETURN(data_version_, guard_.QueryInt64("PRAGMA data_version"));
    std::string what = cfg_.table.empty()
                           ? "query=" + (cfg_.query.size() <= 120 ? cfg_.query : "#" + HashHex(cfg_.query))
                           : "table=" + table_name_;
    // The identity is what is read (file, table or query, and how); the
    // fingerprint adds the content marker (row counts and rowid ranges).
    identity_ = "sqlite:" + cfg_.path + "?" + what +
                (cfg_.coerce ? "&on_conversion_error=null" : "") + "#" +
                HashHex("v1|" + plan->select_sql);
    fingerprint_ = "sqlite:" + cfg_.path + "?" + what +
                   (cfg_.coerce ? "&on_conversion_error=null" : "") + "#" +
                   HashHex("v1|" + plan->select_sql + "|" + marker_);
    SLUICE_RETURN_NOT_OK_CTX(guard_.Exec("COMMIT"), Where());
    txn.Release();
    plan_ = std::move(plan);
    return Status::OK();
  }

  std::shared_ptr<const Schema> schema() const override {
    return plan_ ? plan_->schema : nullptr;
  }

  Result<std::vector<Split>> Plan(int max_splits) override {
    if (!plan_) return Status::Internal("sqlite source: Plan() before Open()");
    std::vector<Split> splits;
    int64_t n = 1;
    if (plan_->has_rowid && row_count_ > 0) {
      n = std::min<int64_t>({std::max(max_splits, 1), cfg_.max_splits, kMaxSplitsCap,
                             (row_count_ + cfg_.min_split_rows - 1) / cfg_.min_split_rows});
      n = std::max<int64_t>(n, 1);
    }
    if (n == 1) {
      Split s;
      s.index = 0;
      s.description = cfg_.table.empty() ? "query" : "all rows";
      s.estimated_rows = row_count_;
      splits.push_back(std::move(s));
    } else {
      // Equal rowid ranges between MIN and MAX; the first and last ranges are
      // open-ended so that coverage never depends on the bounds.
      const int128_t lo = min_rowid_, span = static_cast<int128_t>(max_rowid_) - min_rowid_ + 1;
      std::vector<int64_t> cuts;  // n - 1 interior boundaries
      for (int64_t k = 1; k < n; ++k) cuts.push_back(static_cast<int64_t>(lo + span * k / n));
      for (int64_t k = 0; k < n; ++k) {
        Split s;
        s.index = static_cast<int>(k);
        if (k > 0) s.start = std::to_string(cuts[static_cast<size_t>(k - 1)]);
        if (k + 1 < n) s.end = std::to_string(cuts[static_cast<size_t>(k)]);
        s.description = "rowid " + (s.start.empty() ? std::string("min") : s.start) + ".." +
                        (s.end.empty() ? std::string("max") : s.end);
        s.estimated_rows = row_count_ / n;
        splits.push_back(std::move(s));
      }
    }
    SLUICE_RETURN_NOT_OK(StartReaders(splits));
    return splits;
  }

  Result<std::unique_ptr<SourceReader>> OpenSplit(const Split& split) override {
    if (!plan_) return Status::Internal("sqlite source: OpenSplit() before Open()");
    SLUICE_ASSIGN_OR_RETURN(std::optional<int64_t> start, ParseBound(split.start));
    SLUICE_ASSIGN_OR_RETURN(std::optional<int64_t> end, ParseBound(split.end));
    if ((start || end) && !plan_->has_rowid) {
      return Status::InvalidArgument("sqlite source: " + plan_->what + " has no rowid ranges");
    }
    Database db;
    {
      std::lock_guard<std::mutex> lock(mu_);
      size_t i = static_cast<size_t>(split.index);
      if (split.index >= 0 && i < prestarted_.size() && prestarted_[i].db &&
          prestarted_[i].start == split.start && prestarted_[i].end == split.end) {
        db = std::move(prestarted_[i].db);
      }
    }
    if (!db) {
      // Not planned (or opened twice, e.g. a retry): a snapshot of its own.
      SLUICE_ASSIGN_OR_RETURN(db, OpenReaderConnection());
    }
    std::string sql = plan_->select_sql;
    if (start || end) {
      sql = plan_->select_head + " WHERE ";
      if (start) sql += plan_->rowid_name + " >= " + std::to_string(*start);
      if (start && end) sql += " AND ";
      if (end) sql += plan_->rowid_name + " < " + std::to_string(*end);
      sql += " ORDER BY " + plan_->rowid_name;
    }
    SLUICE_ASSIGN_OR_RETURN(Statement stmt, db.Prepare(sql, true));
    if (sqlite3_column_count(stmt.get()) !=
        static_cast<int>(plan_->cols.size()) + (plan_->has_rowid ? 1 : 0)) {
      return Status::InvalidData(Where() + ": " + plan_->what + " changed its columns after Open");
    }
    return std::unique_ptr<SourceReader>(new SqliteReader(plan_, std::move(db), std::move(stmt)));
  }

  std::string Fingerprint() const override { return fingerprint_; }
  std::string Identity() const override { return identity_; }

  std::optional<int64_t> EstimatedRows() const override {
    if (row_count_ < 0) return std::nullopt;
    return row_count_;
  }

  Status Close() override {
    guard_.Close();
    std::lock_guard<std::mutex> lock(mu_);
    prestarted_.clear();
    return Status::OK();
  }

 private:
  struct Prestarted {
    std::string start, end;
    Database db;
  };

  std::string Where() const { return "sqlite source '" + cfg_.path + "'"; }

  // The guard connection reads the metadata in Open and, in Plan, holds the
  // write lock (snapshot=lock) while the split readers take their snapshots.
  // It holds no lock in between, so a sink writing into the same file can
  // open after this source.
  Status OpenGuard() {
    guard_.Close();
    if (cfg_.lock_snapshot) {
      auto rw = Database::Open(cfg_.path, SQLITE_OPEN_READWRITE, cfg_.busy_timeout_ms);
      // Never used to write: it only takes the write lock in Plan. Closing it
      // last behaves like any SQLite reader with write access (checkpoints
      // already-committed WAL content and removes the -wal/-shm files).
      if (rw.ok()) guard_ = std::move(*rw);
    }
    if (!guard_) {
      auto db = Database::Open(cfg_.path, SQLITE_OPEN_READONLY, cfg_.busy_timeout_ms);
      if (!db.ok()) return db.status().WithContext("sqlite source");
      guard_ = std::move(*db);
    }
    if (cfg_.mmap_size > 0) {
      SLUICE_RETURN_NOT_OK(guard_.Exec("PRAGMA mmap_size=" + std::to_string(cfg_.mmap_size)));
    }
    return Status::OK();
  }

  // Starts one read transaction per split while nothing can commit: under
  // the guard's write lock (WAL or rollback journal), or, without write
  // permission, under its read lock (rollback journal only: a WAL writer may
  // then commit between two readers' starts; documented).
  Status StartReaders(const std::vector<Split>& splits) {
    if (!guard_) SLUICE_RETURN_NOT_OK(OpenGuard());
    bool locked = false;
    if (cfg_.lock_snapshot) {
      Status st = guard_.Exec("BEGIN IMMEDIATE");
      if (st.code() == StatusCode::kRetryable) {
        return st.WithContext(Where() + ": waiting for the write lock (snapshot=lock)");
      }
      locked = st.ok();  // otherwise a read-only file or directory: snapshot=none
    }
    if (!locked) SLUICE_RETURN_NOT_OK_CTX(guard_.Exec("BEGIN"), Where());
    TransactionGuard txn(&guard_);
    // A read takes the snapshot (and the shared lock); data_version is only
    // refreshed when a transaction starts reading.
    SLUICE_RETURN_NOT_OK_CTX(guard_.QueryInt64("SELECT count(*) FROM sqlite_master").status(), Where());
    SLUICE_ASSIGN_OR_RETURN(int64_t version, guard_.QueryInt64("PRAGMA data_version"));
    if (version != data_version_) {
      // Something committed since Open; fine unless it touched what we read.
      SLUICE_ASSIGN_OR_RETURN(std::string marker, ContentMarker());
      if (marker != marker_) {
        return Status::Retryable(Where() + ": " + plan_->what +
                                 " changed between Open and Plan; open the source again");
      }
      data_version_ = version;
    }
    std::vector<Prestarted> started;
    for (const Split& s : splits) {
      SLUICE_ASSIGN_OR_RETURN(Database db, OpenReaderConnection());
      started.push_back(Prestarted{s.start, s.end, std::move(db)});
    }
    std::lock_guard<std::mutex> lock(mu_);
    prestarted_ = std::move(started);
    return Status::OK();  // txn rolls back: the lock is released
  }

  Result<Database> OpenReaderConnection() {
    SLUICE_ASSIGN_OR_RETURN(Database db, Database::Open(cfg_.path, SQLITE_OPEN_READONLY,
                                                        cfg_.busy_timeout_ms));
    if (cfg_.mmap_size > 0) {
      SLUICE_RETURN_NOT_OK(db.Exec("PRAGMA mmap_size=" + std::to_string(cfg_.mmap_size)));
    }
    SLUICE_RETURN_NOT_OK_CTX(db.Exec("BEGIN"), Where());
    // The first read takes the transaction's snapshot.
    auto probe = db.QueryInt64("SELECT count(*) FROM sqlite_master");
    if (!probe.ok()) return probe.status().WithContext(Where());
    return db;
  }

  Status DiscoverTable(ReadPlan* plan) {
    SLUICE_RETURN_NOT_OK(CheckIdentifier(cfg_.table, "table"));
    // Resolve the name as SQLite does (ASCII case-insensitive).
    SLUICE_ASSIGN_OR_RETURN(Statement find, guard_.Prepare(
        "SELECT type, name FROM sqlite_master "
        "WHERE type IN ('table', 'view') AND name = ?1 COLLATE NOCASE"));
    SLUICE_RETURN_NOT_OK(find.BindText(1, cfg_.table));
    auto found = find.Step();
    if (!found.ok()) return found.status().WithContext(Where());
    if (!*found) return TableNotFound();
    const std::string type(find.ColumnText(0));
    table_name_ = std::string(find.ColumnText(1));
    find.Finalize();
    plan->what = "table " + QuoteIdentifier(table_name_);

    SLUICE_ASSIGN_OR_RETURN(Statement info, guard_.Prepare(
        "SELECT name, type, \"notnull\", pk, hidden FROM pragma_table_xinfo(?1)"));
    SLUICE_RETURN_NOT_OK(info.BindText(1, table_name_));
    struct Raw {
      std::string name, decl;
      bool notnull;
      int pk;
    };
    std::vector<Raw> raws;
    while (true) {
      auto row = info.Step();
      if (!row.ok()) return row.status().WithContext(Where() + ": " + plan->what);
      if (!*row) break;
      if (info.ColumnInt64(4) == 1) continue;  // hidden column of a virtual table
      raws.push_back(Raw{std::string(info.ColumnText(0)), std::string(info.ColumnText(1)),
                         info.ColumnInt64(2) != 0, static_cast<int>(info.ColumnInt64(3))});
    }
    if (raws.empty()) {
      return Status::InvalidData(Where() + ": " + plan->what + " has no readable columns");
    }
    const bool is_table = type == "table";
    const std::string from = " FROM " + QuoteIdentifier(table_name_);
    // The rowid, unless the table is WITHOUT ROWID, a view, or every alias
    // (rowid, _rowid_, oid) is shadowed by a real column.
    if (is_table) {
      for (const char* alias : {"rowid", "_rowid_", "oid"}) {
        bool shadowed = false;
        for (const auto& r : raws) shadowed = shadowed || EqualsNoCase(r.name, alias);
        if (shadowed) continue;
        if (guard_.Prepare("SELECT " + std::string(alias) + from + " LIMIT 0").ok()) {
          plan->has_rowid = true;
          plan->rowid_name = alias;
        }
        break;
      }
    }
    int pk_count = 0;
    for (const auto& r : raws) pk_count += r.pk > 0 ? 1 : 0;
    std::vector<Field> fields;
    std::vector<int> infer;  // columns whose type comes from the data
    for (size_t i = 0; i < raws.size(); ++i) {
      const Raw& r = raws[i];
      Field f;
      f.name = r.name;
      f.source_type = r.decl;
      f.primary_key = r.pk > 0;
      // An INTEGER PRIMARY KEY of a rowid table is the rowid: never NULL.
      bool rowid_alias = plan->has_rowid && pk_count == 1 && r.pk == 1 && EqualsNoCase(r.decl, "INTEGER");
      // WITHOUT ROWID tables enforce NOT NULL on the key; rowid tables do not.
      bool without_rowid_key = is_table && !plan->has_rowid && r.pk > 0;
      f.nullable = !(r.notnull || rowid_alias || without_rowid_key) || cfg_.coerce;
      if (auto t = DeclTypeToDataType(r.decl)) {
        f.type = *t;
      } else {
        infer.push_back(static_cast<int>(i));
      }
      fields.push_back(std::move(f));
    }
    if (!infer.empty()) {
      std::string sql = "SELECT ";
      for (size_t k = 0; k < infer.size(); ++k) {
        sql += (k ? ", " : "") + QuoteIdentifier(fields[static_cast<size_t>(infer[k])].name);
      }
      sql += from + " LIMIT " + std::to_string(std::max<int64_t>(cfg_.infer_rows, 1));
      SLUICE_ASSIGN_OR_RETURN(Statement sample, guard_.Prepare(sql));
      SLUICE_RETURN_NOT_OK(InferTypes(&sample, infer, std::max<int64_t>(cfg_.infer_rows, 1), &fields));
    }
    SLUICE_RETURN_NOT_OK(FinishSchema(plan, std::move(fields)));

    std::string cols;
    for (const auto& c : plan->cols) cols += (cols.empty() ? "" : ", ") + QuoteIdentifier(c.name);
    if (plan->has_rowid) {
      plan->select_head = "SELECT " + cols + ", " + plan->rowid_name + from;
      plan->select_sql = plan->select_head + " ORDER BY " + plan->rowid_name;
    } else {
      plan->select_sql = "SELECT " + cols + from;
    }

    if (is_table) {
      tables_ = {table_name_};
      main_rowid_ = plan->rowid_name;
    } else {
      // A view: track the tables it reads.
      SLUICE_RETURN_NOT_OK_CTX(CollectReadTables(plan->select_sql), Where() + ": " + plan->what);
    }
    return Status::OK();
  }

  Status DiscoverQuery(ReadPlan* plan) {
    plan->what = "query";
    auto prepared = guard_.Prepare(cfg_.query);
    if (!prepared.ok()) return prepared.status().WithContext(Where() + ": query");
    Statement stmt = std::move(*prepared);
    const int ncols = sqlite3_column_count(stmt.get());
    if (ncols == 0 || !sqlite3_stmt_readonly(stmt.get())) {
      return Status::InvalidArgument(Where() + ": query must be a read-only statement returning "
                                     "rows (a SELECT): '" + cfg_.query.substr(0, 200) + "'");
    }
    std::vector<Field> fields;
    std::vector<int> infer;
    for (int i = 0; i < ncols; ++i) {
      Field f;
      const char* name = sqlite3_column_name(stmt.get(), i);
      f.name = name != nullptr ? name : "column" + std::to_string(i + 1);
      const char* decl = sqlite3_column_decltype(stmt.get(), i);
      if (decl != nullptr) f.source_type = decl;
      if (auto t = DeclTypeToDataType(f.source_type)) f.type = *t;
      else infer.push_back(i);
      fields.push_back(std::move(f));
    }
    // Only when needed: the first row of an ORDER BY query can cost a sort.
    if (!infer.empty()) {
      std::vector<int> positions = infer;  // the query's own column positions
      SLUICE_RETURN_NOT_OK(InferTypes(&stmt, positions, std::max<int64_t>(cfg_.infer_rows, 1), &fields,
                                      /*positions_are_columns=*/true));
    }
    stmt.Finalize();
    SLUICE_RETURN_NOT_OK(FinishSchema(plan, std::move(fields)));
    plan->select_sql = cfg_.query;
    SLUICE_RETURN_NOT_OK_CTX(CollectReadTables(cfg_.query), Where() + ": query");
    return Status::OK();
  }

  // Adds to tables_ every table `sql` reads: the b-trees its bytecode opens
  // (tables and indexes, mapped to their table by root page; this also sees
  // count(*), which reads no column) plus what the authorizer reports
  // (virtual tables).
  Status CollectReadTables(const std::string& sql) {
    sqlite3_set_authorizer(guard_.get(), CollectTables, &tables_);
    auto explain = guard_.Prepare("EXPLAIN " + sql);
    sqlite3_set_authorizer(guard_.get(), nullptr, nullptr);
    SLUICE_RETURN_NOT_OK(explain.status());
    std::vector<int64_t> roots;
    while (true) {
      SLUICE_ASSIGN_OR_RETURN(bool row, explain->Step());
      if (!row) break;
      // Columns: addr, opcode, p1, p2, p3, ...; p3 is the database (0 = main).
      if (explain->ColumnText(1) == "OpenRead" && explain->ColumnInt64(4) == 0) {
        roots.push_back(explain->ColumnInt64(3));
      }
    }
    explain->Finalize();
    SLUICE_ASSIGN_OR_RETURN(Statement by_root, guard_.Prepare(
        "SELECT tbl_name FROM sqlite_master WHERE rootpage = ?1 AND type IN ('table', 'index')"));
    for (int64_t root : roots) {
      by_root.Reset();
      SLUICE_RETURN_NOT_OK(by_root.BindInt64(1, root));
      SLUICE_ASSIGN_OR_RETURN(bool row, by_root.Step());
      if (!row) continue;  // sqlite_master itself (page 1)
      std::string name(by_root.ColumnText(0));
      if (std::find(tables_.begin(), tables_.end(), name) == tables_.end()) tables_.push_back(name);
    }
    return Status::OK();
  }

  // Samples up to `rows` rows of `stmt` and sets the type of each field in
  // `infer` from the storage classes seen. The statement's column k holds
  // field infer[k], or field infer[k] itself when `positions_are_columns`.
  Status InferTypes(Statement* stmt, const std::vector<int>& infer, int64_t rows,
                    std::vector<Field>* fields, bool positions_are_columns = false) {
    std::vector<StorageClassTally> tallies(infer.size());
    for (int64_t r = 0; r < rows; ++r) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status().WithContext(Where() + ": sampling rows to infer types");
      if (!*row) break;
      for (size_t k = 0; k < infer.size(); ++k) {
        int column = positions_are_columns ? infer[k] : static_cast<int>(k);
        tallies[k].Add(sqlite3_column_type(stmt->get(), column));
      }
    }
    for (size_t k = 0; k < infer.size(); ++k) {
      (*fields)[static_cast<size_t>(infer[k])].type = tallies[k].Result();
    }
    return Status::OK();
  }

  Status FinishSchema(ReadPlan* plan, std::vector<Field> fields) {
    for (size_t i = 0; i < fields.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (fields[i].name == fields[j].name) {
          return Status::InvalidArgument(Where() + ": " + plan->what + " returns two columns named '" +
                                         fields[i].name + "' (rename one with AS)");
        }
      }
    }
    for (const auto& f : fields) plan->cols.push_back(ColInfo{f.name, f.type, f.nullable});
    auto schema = std::make_shared<const Schema>(std::move(fields));
    SLUICE_RETURN_NOT_OK_CTX(schema->Validate(), Where());
    plan->schema = std::move(schema);
    return Status::OK();
  }

  struct TableStats {
    std::string name, sql;
    int64_t count = -1;
    bool bounded = false;  // min/max rowid known
    int64_t min = 0, max = 0;
  };

  // The content marker behind the fingerprint: for every table read (the
  // table itself, or what a view or query reads), its definition, row count
  // and rowid bounds. Identical for an unchanged table regardless of writes
  // elsewhere in the file; in-place UPDATEs that keep count and bounds are
  // not detected (documented).
  Result<std::string> ContentMarker(std::vector<TableStats>* stats_out = nullptr) {
    std::vector<std::string> tables = tables_;
    std::sort(tables.begin(), tables.end());
    std::string m;
    for (const auto& t : tables) {
      TableStats st;
      st.name = t;
      SLUICE_ASSIGN_OR_RETURN(Statement def, guard_.Prepare(
          "SELECT coalesce(sql, '') FROM sqlite_master WHERE name = ?1"));
      SLUICE_RETURN_NOT_OK(def.BindText(1, t));
      SLUICE_ASSIGN_OR_RETURN(bool row, def.Step());
      if (row) st.sql = std::string(def.ColumnText(0));
      def.Finalize();
      m += "|" + t + "|" + st.sql;
      if (!StartsWithNoCase(t, "sqlite_")) {  // internal tables have no stable content
        const std::string from = " FROM " + QuoteIdentifier(t);
        SLUICE_ASSIGN_OR_RETURN(st.count, guard_.QueryInt64("SELECT count(*)" + from));
        m += "|n=" + std::to_string(st.count);
        // WITHOUT ROWID tables (or a shadowed rowid) fail to prepare: no bounds.
        const std::string rowid = t == table_name_ && !main_rowid_.empty() ? main_rowid_ : "rowid";
        auto bounds = guard_.Prepare("SELECT min(" + rowid + "), max(" + rowid + ")" + from);
        if (bounds.ok()) {
          SLUICE_ASSIGN_OR_RETURN(bool has, bounds->Step());
          if (has) {
            st.bounded = true;
            st.min = bounds->ColumnInt64(0);
            st.max = bounds->ColumnInt64(1);
            m += "|r=" + std::to_string(st.min) + ".." + std::to_string(st.max);
          }
        }
      }
      if (stats_out != nullptr) stats_out->push_back(std::move(st));
    }
    return m;
  }

  static bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && EqualsNoCase(s.substr(0, prefix.size()), prefix);
  }

  Status TableNotFound() {
    std::string list;
    auto names = guard_.Prepare(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE "
        "'sqlite_%' ORDER BY name LIMIT 21");
    int n = 0;
    if (names.ok()) {
      while (true) {
        auto row = names->Step();
        if (!row.ok() || !*row) break;
        if (++n > 20) {
          list += ", ...";
          break;
        }
        list += (list.empty() ? "" : ", ") + std::string(names->ColumnText(0));
      }
    }
    return Status::NotFound(Where() + ": table '" + cfg_.table + "' not found (tables: " +
                            (list.empty() ? "none" : list) + ")");
  }

  SourceConfig cfg_;
  std::shared_ptr<const ReadPlan> plan_;
  Database guard_;
  std::string table_name_;          // as stored in sqlite_master
  std::string main_rowid_;          // the table source's rowid alias ("" = none)
  std::vector<std::string> tables_;  // tables whose content the marker covers
  std::string marker_;
  int64_t data_version_ = 0;
  int64_t row_count_ = -1;
  int64_t min_rowid_ = 0, max_rowid_ = 0;
  std::string fingerprint_;
  std::string identity_;
  std::mutex mu_;
  std::vector<Prestarted> prestarted_;
};

}  // namespace
}  // namespace sqlite

Result<std::unique_ptr<Source>> MakeSqliteSource(const Uri& uri, const Options& options) {
  sqlite::SourceConfig cfg;
  SLUICE_ASSIGN_OR_RETURN(cfg.path, sqlite::DatabasePathFromUri(uri));
  cfg.table = options.GetString("table");
  cfg.query = options.GetString("query");
  if (cfg.table.empty() == cfg.query.empty()) {
    return Status::InvalidArgument("sqlite source '" + uri.Redacted() +
                                   "': give exactly one of table=NAME or query=SELECT...");
  }
  if (options.Has("batch_rows")) {
    cfg.batch_rows = options.GetInt("batch_rows");
    if (cfg.batch_rows < 1) return Status::InvalidArgument("sqlite source: batch_rows must be >= 1");
  }
  cfg.max_splits = options.GetInt("max_splits");
  cfg.min_split_rows = options.GetInt("min_split_rows");
  if (cfg.max_splits < 1 || cfg.min_split_rows < 1) {
    return Status::InvalidArgument("sqlite source: max_splits and min_split_rows must be >= 1");
  }
  cfg.coerce = options.GetString("on_conversion_error") == "null";
  cfg.infer_rows = options.GetInt("infer_rows");
  cfg.lock_snapshot = options.GetString("snapshot") == "lock";
  cfg.busy_timeout_ms = options.GetDurationMs("busy_timeout");
  cfg.mmap_size = options.GetSizeBytes("mmap_size");
  return std::unique_ptr<Source>(new sqlite::SqliteSource(std::move(cfg)));
}

}  // namespace sluice
