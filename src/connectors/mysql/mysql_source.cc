// MySQL / MariaDB source: type discovery from result metadata, and the split
// reader streaming an unbuffered text-protocol result into batches.
#include <algorithm>
#include <charconv>
#include <cstring>

#include "connectors/mysql/mysql.h"
#include "connectors/mysql/mysql_conn.h"
#include "core/int128.h"
#include "core/temporal.h"

namespace sluice {

namespace {

// Var-width bytes per batch before it is cut early (keeps int32 offsets and
// memory bounded when values are large).
constexpr int64_t kMaxBatchBytes = int64_t{64} << 20;
// One value larger than this cannot go into an int32-offset column safely.
constexpr unsigned long kMaxValueBytes = 1ul << 30;
constexpr unsigned kBinaryCharset = 63;

// How a column's text-protocol value becomes a builder value; decided once
// per column so the row loop is a switch, not a virtual call.
enum class Decode {
  kBool, kInt, kUInt, kFloat32, kFloat64, kDecimal, kBytes, kDate, kTime, kTimestamp, kBit,
};

struct Column {
  Decode decode = Decode::kBytes;
  std::string name;
};

struct Config {
  MysqlEndpoint endpoint;
  std::string display;
  std::string table;
  std::string query;
  int64_t batch_rows = 0;
  bool zero_date_null = false;
  int64_t max_splits = 64;
  int64_t min_split_rows = 100000;
};

struct ReadPlan {
  std::shared_ptr<const Schema> schema;
  std::vector<Column> columns;
  std::string select;  // "SELECT * FROM `t`" or the query
  std::string what;    // "table t" / "query"
  int64_t batch_rows = 65536;
  bool zero_date_null = false;
};

std::string StripTrailingSemicolons(std::string q) {
  while (!q.empty() && (q.back() == ';' || q.back() == ' ' || q.back() == '\n' ||
                        q.back() == '\t' || q.back() == '\r')) {
    q.pop_back();
  }
  return q;
}

// Maps one result column to a sluice field. `json` says the catalog declared
// it JSON (MariaDB reports JSON as LONGTEXT with a json_valid() check).
Result<std::pair<Field, Decode>> MapField(const MYSQL_FIELD& f, bool json) {
  Field field;
  field.name.assign(f.name, f.name_length);
  field.nullable = (f.flags & NOT_NULL_FLAG) == 0;
  field.primary_key = (f.flags & PRI_KEY_FLAG) != 0;
  const bool is_unsigned = (f.flags & UNSIGNED_FLAG) != 0;
  auto out = [&](DataType t, Decode d, std::string src) -> Result<std::pair<Field, Decode>> {
    field.type = std::move(t);
    field.source_type = std::move(src);
    return std::make_pair(field, d);
  };
  const char* u = is_unsigned ? " unsigned" : "";
  switch (f.type) {
    case MYSQL_TYPE_TINY:
      if (f.length == 1) return out(DataType::Bool(), Decode::kBool, "tinyint(1)");
      return is_unsigned ? out(DataType::UInt8(), Decode::kUInt, "tinyint unsigned")
                         : out(DataType::Int8(), Decode::kInt, "tinyint");
    case MYSQL_TYPE_SHORT:
      return is_unsigned ? out(DataType::UInt16(), Decode::kUInt, "smallint unsigned")
                         : out(DataType::Int16(), Decode::kInt, "smallint");
    case MYSQL_TYPE_INT24:
      return is_unsigned ? out(DataType::UInt32(), Decode::kUInt, "mediumint unsigned")
                         : out(DataType::Int32(), Decode::kInt, "mediumint");
    case MYSQL_TYPE_LONG:
      return is_unsigned ? out(DataType::UInt32(), Decode::kUInt, "int unsigned")
                         : out(DataType::Int32(), Decode::kInt, "int");
    case MYSQL_TYPE_LONGLONG:
      return is_unsigned ? out(DataType::UInt64(), Decode::kUInt, "bigint unsigned")
                         : out(DataType::Int64(), Decode::kInt, "bigint");
    case MYSQL_TYPE_YEAR:
      return out(DataType::Int16(), Decode::kInt, "year");
    case MYSQL_TYPE_FLOAT:
      return out(DataType::Float32(), Decode::kFloat32, "float");
    case MYSQL_TYPE_DOUBLE:
      return out(DataType::Float64(), Decode::kFloat64, "double");
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL: {
      // Display length = digits + a point when scale > 0 + a sign when signed.
      int scale = static_cast<int>(f.decimals);
      int precision = static_cast<int>(f.length) - (scale > 0 ? 1 : 0) - (is_unsigned ? 0 : 1);
      std::string src = "decimal(" + std::to_string(precision) + "," + std::to_string(scale) + ")" + u;
      if (precision < 1 || precision > kMaxDecimalPrecision || scale > precision) {
        // DECIMAL(39..65, s) does not fit decimal128: its exact text instead.
        return out(DataType::String(), Decode::kBytes, src);
      }
      return out(DataType::Decimal(precision, scale), Decode::kDecimal, src);
    }
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
      return out(DataType::Date(), Decode::kDate, "date");
    case MYSQL_TYPE_TIME:
      return out(DataType::Time(), Decode::kTime, "time");
    case MYSQL_TYPE_DATETIME:
      return out(DataType::Timestamp(), Decode::kTimestamp, "datetime");
    case MYSQL_TYPE_TIMESTAMP:
      // Stored as UTC; the session time zone is UTC, so the text is UTC.
      return out(DataType::TimestampTz("UTC"), Decode::kTimestamp, "timestamp");
    case MYSQL_TYPE_BIT:
      if (f.length > 64) return Status::Unsupported("mysql: column " + field.name + " is bit(>64)");
      return out(DataType::UInt64(), Decode::kBit, "bit(" + std::to_string(f.length) + ")");
    case MYSQL_TYPE_JSON:
      return out(DataType::Json(), Decode::kBytes, "json");
    case MYSQL_TYPE_ENUM:
      return out(DataType::String(), Decode::kBytes, "enum");
    case MYSQL_TYPE_SET:
      return out(DataType::String(), Decode::kBytes, "set");
    case MYSQL_TYPE_GEOMETRY:
      return out(DataType::Binary(), Decode::kBytes, "geometry");
    case MYSQL_TYPE_NULL:
      return out(DataType::String(), Decode::kBytes, "null");
    case MYSQL_TYPE_VARCHAR:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB: {
      if (f.flags & ENUM_FLAG) return out(DataType::String(), Decode::kBytes, "enum");
      if (f.flags & SET_FLAG) return out(DataType::String(), Decode::kBytes, "set");
      if (json) return out(DataType::Json(), Decode::kBytes, "json");
      const bool blobish = f.type != MYSQL_TYPE_STRING && f.type != MYSQL_TYPE_VAR_STRING &&
                           f.type != MYSQL_TYPE_VARCHAR;
      if (f.charsetnr == kBinaryCharset) {
        return out(DataType::Binary(), Decode::kBytes, blobish ? "blob" : "binary");
      }
      return out(DataType::String(), Decode::kBytes, blobish ? "text" : "varchar");
    }
    default:
      return Status::Unsupported("mysql: column " + field.name + " has unsupported type code " +
                                 std::to_string(static_cast<int>(f.type)));
  }
}

class MysqlReader final : public SourceReader {
 public:
  MysqlReader(std::shared_ptr<const ReadPlan> plan, std::unique_ptr<MysqlConnection> conn,
              MysqlResult result, std::string name)
      : plan_(std::move(plan)),
        conn_(std::move(conn)),
        result_(std::move(result)),
        name_(std::move(name)) {}

  ~MysqlReader() override {
    // Freeing an unbuffered result would read (and discard) the rest of the
    // table first. A reader dropped early detaches the result from the
    // connection instead (so mysql_free_result skips the drain and never
    // touches the closed handle) and closes the connection mid-result.
    if (!finished_ && result_) {
      result_->handle = nullptr;
      result_.reset();
      conn_.reset();
    }
  }

  Result<std::optional<RecordBatch>> Next() override {
    if (finished_) return std::optional<RecordBatch>();
    BatchBuilder bb(plan_->schema);
    const int ncols = static_cast<int>(plan_->columns.size());
    while (bb.num_rows() < plan_->batch_rows && bb.ByteSize() < kMaxBatchBytes) {
      MYSQL_ROW row = mysql_fetch_row(result_.get());
      if (!row) {
        if (mysql_errno(conn_->get()) != 0) return conn_->LastError("reading " + name_);
        result_.reset();
        SLUICE_RETURN_NOT_OK(conn_->Exec("COMMIT", "ending the read transaction"));
        finished_ = true;
        break;
      }
      if (static_cast<int>(mysql_num_fields(result_.get())) != ncols) {
        return Status::Internal("mysql: " + name_ + ": column count changed mid-result");
      }
      unsigned long* lengths = mysql_fetch_lengths(result_.get());
      for (int c = 0; c < ncols; ++c) {
        ColumnBuilder& b = bb.column(c);
        if (row[c] == nullptr) {
          b.AppendNull();
          continue;
        }
        if (lengths[c] > kMaxValueBytes) {
          return ValueError(c, "value of " + std::to_string(lengths[c]) + " bytes is too large");
        }
        SLUICE_RETURN_NOT_OK(Append(c, std::string_view(row[c], lengths[c]), &b));
      }
      ++rows_;
    }
    position_ = std::to_string(rows_);
    if (bb.num_rows() == 0 && finished_) return std::optional<RecordBatch>();
    return std::optional<RecordBatch>(bb.Finish());
  }

  std::string position() const override { return position_; }

 private:
  Status ValueError(int c, const std::string& msg) const {
    return Status::InvalidData("mysql " + name_ + ": row " + std::to_string(rows_ + 1) +
                               ", column " + plan_->columns[static_cast<size_t>(c)].name + ": " +
                               msg);
  }

  template <typename T>
  Status AppendInt(int c, std::string_view v, ColumnBuilder* b) {
    T x{};
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc() || p != v.data() + v.size()) {
      return ValueError(c, "'" + std::string(v) + "' is not a " + b->type().ToString());
    }
    b->AppendFixed<T>(x);
    return Status::OK();
  }

  // A date part with month or day 0 ('0000-00-00', '2020-00-10').
  static bool IsZeroDate(std::string_view v) {
    return v.size() >= 10 && (v.substr(5, 2) == "00" || v.substr(8, 2) == "00");
  }

  Status ZeroDate(int c, std::string_view v, ColumnBuilder* b) {
    if (plan_->zero_date_null) {
      b->AppendNull();
      return Status::OK();
    }
    return ValueError(c, "zero date '" + std::string(v) +
                             "' has no sluice value (use zero_date=null to read it as NULL)");
  }

  Status Append(int c, std::string_view v, ColumnBuilder* b) {
    switch (plan_->columns[static_cast<size_t>(c)].decode) {
      case Decode::kBool:
        if (v == "0") {
          b->AppendBool(false);
        } else if (v == "1") {
          b->AppendBool(true);
        } else {
          return ValueError(c, "tinyint(1) value " + std::string(v) + " is not 0 or 1");
        }
        return Status::OK();
      case Decode::kInt:
        switch (b->type().id) {
          case TypeId::kInt8: return AppendInt<int8_t>(c, v, b);
          case TypeId::kInt16: return AppendInt<int16_t>(c, v, b);
          case TypeId::kInt32: return AppendInt<int32_t>(c, v, b);
          default: return AppendInt<int64_t>(c, v, b);
        }
      case Decode::kUInt:
        switch (b->type().id) {
          case TypeId::kUInt8: return AppendInt<uint8_t>(c, v, b);
          case TypeId::kUInt16: return AppendInt<uint16_t>(c, v, b);
          case TypeId::kUInt32: return AppendInt<uint32_t>(c, v, b);
          default: return AppendInt<uint64_t>(c, v, b);
        }
      case Decode::kFloat32:
      case Decode::kFloat64: {
        double d = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
        if (ec != std::errc() || p != v.data() + v.size()) {
          return ValueError(c, "'" + std::string(v) + "' is not a number");
        }
        if (b->type().id == TypeId::kFloat32) {
          float f = 0;
          auto [pf, ecf] = std::from_chars(v.data(), v.data() + v.size(), f);
          if (ecf != std::errc() || pf != v.data() + v.size()) f = static_cast<float>(d);
          b->AppendFixed<float>(f);
        } else {
          b->AppendFixed<double>(d);
        }
        return Status::OK();
      }
      case Decode::kDecimal: {
        auto r = ParseDecimal(v, b->type().precision, b->type().scale);
        if (!r.ok()) return ValueError(c, r.status().message());
        b->AppendFixed<int128_t>(*r);
        return Status::OK();
      }
      case Decode::kBytes:
        b->AppendBytes(v);
        return Status::OK();
      case Decode::kDate: {
        if (IsZeroDate(v)) return ZeroDate(c, v, b);
        auto r = ParseDate(v);
        if (!r.ok()) return ValueError(c, r.status().message());
        b->AppendFixed<int32_t>(*r);
        return Status::OK();
      }
      case Decode::kTime: {
        auto r = ParseTime(v);
        if (!r.ok()) {
          return ValueError(c, "time '" + std::string(v) +
                                   "' is outside 00:00:00..23:59:59.999999: " +
                                   r.status().message());
        }
        b->AppendFixed<int64_t>(*r);
        return Status::OK();
      }
      case Decode::kTimestamp: {
        if (IsZeroDate(v)) return ZeroDate(c, v, b);
        auto r = ParseTimestamp(v);
        if (!r.ok()) return ValueError(c, r.status().message());
        b->AppendFixed<int64_t>(*r);
        return Status::OK();
      }
      case Decode::kBit: {
        if (v.size() > 8) return ValueError(c, "bit value wider than 64 bits");
        uint64_t x = 0;
        for (unsigned char ch : v) x = (x << 8) | ch;  // big-endian bytes
        b->AppendFixed<uint64_t>(x);
        return Status::OK();
      }
    }
    return Status::Internal("mysql: unknown decode kind");
  }

  std::shared_ptr<const ReadPlan> plan_;
  std::unique_ptr<MysqlConnection> conn_;
  MysqlResult result_;
  std::string name_;
  bool finished_ = false;
  int64_t rows_ = 0;
  std::string position_;
};

class MysqlSource final : public Source {
 public:
  explicit MysqlSource(Config cfg) : cfg_(std::move(cfg)) {}

  Status Open(const SourceOptions& options) override {
    SLUICE_ASSIGN_OR_RETURN(auto conn, MysqlConnection::Connect(cfg_.endpoint));
    auto plan = std::make_shared<ReadPlan>();
    plan->batch_rows =
        std::max<int64_t>(1, cfg_.batch_rows > 0 ? cfg_.batch_rows : options.batch_rows);
    plan->zero_date_null = cfg_.zero_date_null;
    std::vector<std::string> json_columns;
    if (!cfg_.table.empty()) {
      plan->select = "SELECT * FROM " + MysqlQuoteTable(cfg_.table);
      plan->what = "table " + cfg_.table;
      SLUICE_ASSIGN_OR_RETURN(json_columns, JsonColumns(conn.get()));
    } else {
      plan->select = StripTrailingSemicolons(cfg_.query);
      plan->what = "query";
    }
    std::string describe = plan->select;
    if (!cfg_.table.empty()) {
      describe += " LIMIT 0";
    } else {
      describe = "SELECT * FROM (" + plan->select + ") AS q LIMIT 0";
    }
    auto desc = conn->QueryStored(describe, "describing " + plan->what);
    if (!desc.ok()) {
      if (desc.status().code() == StatusCode::kNotFound && !cfg_.table.empty()) {
        return Status::NotFound("mysql " + cfg_.endpoint.Display() + ": table \"" + cfg_.table +
                                "\" not found (" + desc.status().message() + ")");
      }
      return desc.status();
    }
    const unsigned n = mysql_num_fields(desc->get());
    MYSQL_FIELD* fields = mysql_fetch_fields(desc->get());
    std::vector<Field> out_fields;
    for (unsigned i = 0; i < n; ++i) {
      std::string name(fields[i].name, fields[i].name_length);
      bool json = std::find(json_columns.begin(), json_columns.end(), name) != json_columns.end();
      SLUICE_ASSIGN_OR_RETURN(auto mapped, MapField(fields[i], json));
      out_fields.push_back(std::move(mapped.first));
      plan->columns.push_back(Column{mapped.second, name});
      if (fields[i].flags & PRI_KEY_FLAG) {
        ++pk_columns_;
        const Decode d = mapped.second;
        // Signed integer keys only: unsigned BIGINT bounds may not fit int64.
        if (d == Decode::kInt || (d == Decode::kUInt && fields[i].type != MYSQL_TYPE_LONGLONG)) {
          split_key_ = MysqlQuoteIdent(name);
        }
      }
    }
    if (pk_columns_ != 1 || cfg_.table.empty()) split_key_.clear();
    // The text protocol prints FLOAT with 6 significant digits (16777216 as
    // 16777200); the same value as a DOUBLE expression prints exactly, and
    // narrows back to the identical float.
    const bool has_float = std::any_of(plan->columns.begin(), plan->columns.end(),
                                       [](const Column& c) { return c.decode == Decode::kFloat32; });
    if (has_float) {
      std::string list;
      for (const Column& c : plan->columns) {
        const std::string q = "sluice_f." + MysqlQuoteIdent(c.name);
        list += (list.empty() ? "" : ", ") +
                (c.decode == Decode::kFloat32 ? "(" + q + " + 0E0) AS " + MysqlQuoteIdent(c.name) : q);
      }
      plan->select = "SELECT " + list + " FROM " +
                     (cfg_.table.empty() ? "(" + plan->select + ")" : MysqlQuoteTable(cfg_.table)) +
                     " AS sluice_f";
    }
    auto schema = std::make_shared<Schema>(std::move(out_fields));
    SLUICE_RETURN_NOT_OK(schema->Validate());
    plan->schema = std::move(schema);
    plan_ = std::move(plan);
    fingerprint_ = "mysql:" + cfg_.display + "#" + plan_->what;
    return Status::OK();
  }

  std::shared_ptr<const Schema> schema() const override { return plan_ ? plan_->schema : nullptr; }

  // Key ranges over a single-column integer primary key, sized from MIN/MAX
  // and the catalog's row estimate. Each split later opens its own snapshot
  // (see docs/connectors/mysql.md, "Consistency across splits").
  Result<std::vector<Split>> Plan(int max_splits) override {
    if (!plan_) return Status::InvalidArgument("mysql source: Plan() before Open()");
    Split whole;
    whole.index = 0;
    whole.description = plan_->what;
    int64_t want = std::min<int64_t>(max_splits, cfg_.max_splits);
    if (split_key_.empty() || want <= 1) return std::vector<Split>{whole};
    SLUICE_ASSIGN_OR_RETURN(auto conn, MysqlConnection::Connect(cfg_.endpoint));
    // Over the incremental window only, when there is one: the ranges then
    // split the rows that will be read.
    SLUICE_ASSIGN_OR_RETURN(
        MysqlResult r,
        conn->QueryStored("SELECT MIN(" + split_key_ + "), MAX(" + split_key_ + "), COUNT(*) FROM " +
                              MysqlQuoteTable(cfg_.table) +
                              (lower_bound_.empty() ? "" : " WHERE " + lower_bound_),
                          "planning key ranges of " + plan_->what));
    MYSQL_ROW row = mysql_fetch_row(r.get());
    if (!row || !row[0] || !row[1] || !row[2]) return std::vector<Split>{whole};
    int64_t lo = 0, hi = 0, count = 0;
    auto parse = [](const char* t, int64_t* v) {
      auto [p, ec] = std::from_chars(t, t + std::strlen(t), *v);
      return ec == std::errc() && *p == '\0';
    };
    if (!parse(row[0], &lo) || !parse(row[1], &hi) || !parse(row[2], &count)) {
      return std::vector<Split>{whole};
    }
    estimated_rows_ = count;
    const int128_t span = static_cast<int128_t>(hi) - lo + 1;
    int64_t n = std::min<int64_t>(want, std::max<int64_t>(1, count / cfg_.min_split_rows));
    if (span < n) n = static_cast<int64_t>(span);
    if (n <= 1) return std::vector<Split>{whole};
    std::vector<Split> out;
    for (int64_t i = 0; i < n; ++i) {
      Split s;
      s.index = static_cast<int>(i);
      // Open-ended first and last ranges: nothing outside [lo, hi] is lost.
      if (i > 0) s.start = std::to_string(static_cast<int64_t>(lo + span * i / n));
      if (i + 1 < n) s.end = std::to_string(static_cast<int64_t>(lo + span * (i + 1) / n));
      s.description = "key " + (s.start.empty() ? std::string("..") : s.start + "..") + s.end;
      s.estimated_rows = count / n;
      out.push_back(std::move(s));
    }
    return out;
  }

  std::optional<int64_t> EstimatedRows() const override {
    if (estimated_rows_ < 0) return std::nullopt;
    return estimated_rows_;
  }

  Result<std::unique_ptr<SourceReader>> OpenSplit(const Split& split) override {
    if (!plan_) return Status::InvalidArgument("mysql source: OpenSplit() before Open()");
    std::string sql = plan_->select;
    std::vector<std::string> conds;
    if (!lower_bound_.empty()) {
      // A query's columns are only nameable outside it.
      if (cfg_.table.empty()) sql = "SELECT * FROM (" + sql + ") AS sluice_q";
      conds.push_back(lower_bound_);
    }
    if (!split.start.empty() || !split.end.empty()) {
      if (split_key_.empty()) {
        return Status::InvalidArgument("mysql source: split bounds given but the source was not split");
      }
      for (const std::string* b : {&split.start, &split.end}) {
        if (b->empty()) continue;
        int64_t v = 0;
        auto [p, ec] = std::from_chars(b->data(), b->data() + b->size(), v);
        if (ec != std::errc() || p != b->data() + b->size()) {
          return Status::InvalidArgument("mysql source: bad split bound '" + *b + "'");
        }
        conds.push_back(split_key_ + (b == &split.start ? " >= " : " < ") + std::to_string(v));
      }
    }
    for (size_t i = 0; i < conds.size(); ++i) sql += (i ? " AND " : " WHERE ") + conds[i];
    SLUICE_ASSIGN_OR_RETURN(auto conn, MysqlConnection::Connect(cfg_.endpoint));
    SLUICE_RETURN_NOT_OK(conn->Exec("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
                                    "starting the snapshot transaction"));
    std::string name = cfg_.endpoint.Display() + " " + plan_->what +
                       (split.start.empty() && split.end.empty() ? "" : " " + split.description);
    SLUICE_ASSIGN_OR_RETURN(auto result, conn->QueryStreaming(sql, "reading " + name));
    if (mysql_num_fields(result.get()) != plan_->columns.size()) {
      return Status::InvalidData("mysql " + name + ": the column count changed since Open()");
    }
    return std::unique_ptr<SourceReader>(
        new MysqlReader(plan_, std::move(conn), std::move(result), std::move(name)));
  }

  std::string Fingerprint() const override { return fingerprint_; }

  // `col >= literal` in every split's SELECT (and in Plan's MIN/MAX), with
  // the bound rewritten from sluice's canonical text into what the server
  // compares correctly for the column's type. Integer, DATE, DATETIME and
  // TIMESTAMP columns; others return false (the runtime filters).
  Result<bool> SetLowerBound(const std::string& column, const std::string& lower_bound) override {
    if (!plan_) return Status::InvalidArgument("mysql source: SetLowerBound() before Open()");
    const std::string where = "mysql source " + cfg_.endpoint.Display() + " " + plan_->what;
    std::optional<int> index = plan_->schema->FieldIndex(column);
    if (!index) {
      return Status::InvalidArgument(where + ": no column \"" + column + "\" to read incrementally");
    }
    const DataType& type = plan_->schema->field(*index).type;
    auto bad = [&](const Status& st) {
      return Status::InvalidArgument(where + ": lower bound '" + lower_bound + "' for column \"" +
                                     column + "\" (" + type.ToString() + "): " + st.message());
    };
    std::string literal;
    switch (plan_->columns[static_cast<size_t>(*index)].decode) {
      case Decode::kInt:
      case Decode::kUInt: {
        // An unquoted integer: a quoted one would be compared as a double,
        // which loses BIGINT precision. The bound may be below an unsigned
        // column's range (watermark minus look-back), so both parses.
        const char* b = lower_bound.data();
        const char* e = b + lower_bound.size();
        int64_t v = 0;
        uint64_t u = 0;
        if (auto [p, ec] = std::from_chars(b, e, v); ec == std::errc() && p == e) {
          literal = std::to_string(v);
        } else if (auto [pu, ecu] = std::from_chars(b, e, u); ecu == std::errc() && pu == e) {
          literal = std::to_string(u);
        } else {
          return bad(Status::InvalidArgument("not an integer"));
        }
        break;
      }
      case Decode::kDate: {
        auto days = ParseDate(lower_bound);
        if (!days.ok()) return bad(days.status());
        literal = "'";
        AppendDate(*days, &literal);
        literal += "'";
        break;
      }
      case Decode::kTimestamp: {
        auto micros = ParseTimestamp(lower_bound);
        if (!micros.ok()) return bad(micros.status());
        if (type.with_zone) {
          // TIMESTAMP: the server converts the literal from the session time
          // zone, which every connection of this source sets to '+00:00'
          // (MysqlConnection::Connect) — the zone sluice's UTC bound is in,
          // and the one the values are read in. Outside TIMESTAMP's range the
          // conversion is not exact: leave the filtering to the runtime.
          constexpr int64_t kMinTimestamp = 1 * kMicrosPerSecond;  // 1970-01-01 00:00:01
          constexpr int64_t kMaxTimestamp = (int64_t{2147483647} + 1) * kMicrosPerSecond - 1;
          if (*micros < kMinTimestamp || *micros > kMaxTimestamp) return false;
        }
        literal = "'";
        const size_t start = literal.size();
        AppendTimestamp(*micros, false, &literal);  // YYYY-MM-DDTHH:MM:SS[.ffffff]
        if (size_t t = literal.find('T', start); t != std::string::npos) literal[t] = ' ';
        literal += "'";
        break;
      }
      default:
        return false;
    }
    lower_bound_ = MysqlQuoteIdent(column) + " >= " + literal;
    return true;
  }

 private:
  // Columns the catalog declares JSON through MariaDB's json_valid() check
  // (MySQL reports MYSQL_TYPE_JSON in the result metadata directly).
  Result<std::vector<std::string>> JsonColumns(MysqlConnection* conn) {
    std::string db = cfg_.endpoint.dbname, table = cfg_.table;
    if (size_t dot = table.find('.'); dot != std::string::npos) {
      db = table.substr(0, dot);
      table = table.substr(dot + 1);
    }
    std::string esc_db(db.size() * 2 + 1, '\0'), esc_t(table.size() * 2 + 1, '\0');
    esc_db.resize(mysql_real_escape_string(conn->get(), esc_db.data(), db.data(), db.size()));
    esc_t.resize(mysql_real_escape_string(conn->get(), esc_t.data(), table.data(), table.size()));
    auto r = conn->QueryStored(
        "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE "
        "CONSTRAINT_SCHEMA = '" + esc_db + "' AND TABLE_NAME = '" + esc_t + "'",
        "looking up JSON columns");
    std::vector<std::string> out;
    if (!r.ok()) return out;  // MySQL < 8.0.16 has no such view; JSON has its own type there
    while (MYSQL_ROW row = mysql_fetch_row(r->get())) {
      if (!row[0]) continue;
      std::string_view clause(row[0]);
      constexpr std::string_view kPrefix = "json_valid(`";
      if (clause.substr(0, kPrefix.size()) != kPrefix || clause.size() < kPrefix.size() + 2 ||
          clause.substr(clause.size() - 2) != "`)") {
        continue;
      }
      std::string_view quoted = clause.substr(kPrefix.size(), clause.size() - kPrefix.size() - 2);
      std::string name;
      for (size_t i = 0; i < quoted.size(); ++i) {
        name += quoted[i];
        if (quoted[i] == '`' && i + 1 < quoted.size() && quoted[i + 1] == '`') ++i;
      }
      out.push_back(std::move(name));
    }
    return out;
  }

  Config cfg_;
  std::shared_ptr<const ReadPlan> plan_;
  std::string split_key_;  // quoted single-column integer primary key, or empty
  std::string lower_bound_;  // "`col` >= literal" for incremental reads, or empty
  int pk_columns_ = 0;
  int64_t estimated_rows_ = -1;
  std::string fingerprint_;
};

}  // namespace

const OptionSpecs& MysqlSourceOptionSpecs() {
  static const OptionSpecs specs = {
      {"table", OptionType::kString, "", "table or view to read: db.table or table"},
      {"query", OptionType::kString, "", "a SELECT to read instead of a table (one split)"},
      {"batch_rows", OptionType::kInt, "", "rows per batch (default: the runtime's batch size)"},
      {"max_splits", OptionType::kInt, "64",
       "upper bound on parallel key-range splits (single-column integer primary key; "
       "each split is a connection with its own consistent snapshot)"},
      {"min_split_rows", OptionType::kInt, "100000",
       "do not cut a table into splits of fewer rows than this"},
      {"zero_date", OptionType::kEnum, "error",
       "DATE/DATETIME/TIMESTAMP values with month or day 0 ('0000-00-00'): fail naming the "
       "row and column (error) or read them as NULL (null)",
       {"error", "null"}},
  };
  return specs;
}

Result<std::unique_ptr<Source>> MakeMysqlSource(const Uri& uri, const Options& options) {
  Config cfg;
  SLUICE_ASSIGN_OR_RETURN(cfg.endpoint, MysqlEndpoint::FromUri(uri));
  cfg.display = uri.Redacted();
  cfg.table = options.GetString("table");
  cfg.query = options.GetString("query");
  if (cfg.table.empty() == cfg.query.empty()) {
    return Status::InvalidArgument("mysql source: give exactly one of ?table= or ?query= (" +
                                   cfg.display + ")");
  }
  if (options.Has("batch_rows")) cfg.batch_rows = options.GetInt("batch_rows");
  cfg.zero_date_null = options.GetString("zero_date") == "null";
  cfg.max_splits = std::max<int64_t>(1, options.GetInt("max_splits"));
  cfg.min_split_rows = std::max<int64_t>(1, options.GetInt("min_split_rows"));
  return std::unique_ptr<Source>(new MysqlSource(std::move(cfg)));
}

void RegisterMysql(Registry* registry) {
  for (const char* scheme : {"mysql", "mariadb"}) {
    registry->Add(ConnectorInfo{
        scheme,
        "MySQL/MariaDB: mysql://user:pass@host:port/db?table=t (or ?query=SELECT...)",
        MysqlSourceOptionSpecs(),
        MysqlSinkOptionSpecs(),
        MakeMysqlSource,
        MakeMysqlSink,
        nullptr,
        nullptr,
    });
  }
}

}  // namespace sluice
