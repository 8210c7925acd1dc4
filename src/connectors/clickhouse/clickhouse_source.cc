// ClickHouse source: a table (or a query) read over the HTTP interface as
// `SELECT ... FORMAT RowBinary`, streamed into batches (ch_stream.h,
// ch_rowbinary_reader.h). Types come from system.columns (tables) or a
// `LIMIT 0 FORMAT TabSeparatedWithNamesAndTypes` probe (queries; 18.16 has
// no RowBinaryWithNamesAndTypes). Tables the sink created carry a comment per
// column naming the sluice type behind the ClickHouse one (dates as Int32
// days on 18.16, ...): the source reads them back as that type, leaves out
// the ledger's hidden columns and, by default, the rows of void or
// unfinished ledger attempts. Splits: by partition (_partition_id) or by
// ranges of an integer / Date / DateTime first sorting-key column, each split
// its own HTTP stream. See docs/connectors/clickhouse.md ("Source").
#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "connectors/clickhouse/ch_http.h"
#include "connectors/clickhouse/ch_ledger.h"
#include "connectors/clickhouse/ch_rowbinary_reader.h"
#include "connectors/clickhouse/ch_stream.h"
#include "connectors/clickhouse/clickhouse.h"
#include "core/log.h"
#include "core/temporal.h"
#include "core/text.h"

namespace sluice {

namespace {

// Var-width bytes per batch before it is cut early (bounded memory and
// int32 offsets, as the other sources do).
constexpr int64_t kMaxBatchBytes = int64_t{64} << 20;
// A row that needs more buffered bytes than this is refused.
constexpr size_t kMaxRowBytes = size_t{1} << 30;
constexpr int kMaxSplitsCap = 256;

enum class SplitBy { kAuto, kPartition, kKey, kNone };

struct SourceConfig {
  ChEndpoint endpoint;
  std::string display;  // redacted URI
  std::string table;
  std::string query;
  std::vector<std::string> columns;
  std::string where;
  bool final = false;
  std::vector<std::pair<std::string, DataType>> types;  // types= overrides
  int64_t batch_rows = 0;
  int64_t max_splits = 64;
  int64_t min_split_rows = 100000;
  SplitBy split_by = SplitBy::kAuto;
  int64_t threads = -1;  // -1: 1 for tables, the server's default for queries
  bool ledger_filter = true;
  std::string ledger = "_sluice_ledger";
  bool gzip = false;
  int64_t idle_timeout_ms = 300'000;
};

// What every split reader shares; immutable after Open.
struct ReadPlan {
  std::shared_ptr<const Schema> schema;
  std::vector<ChReadColumn> columns;
  std::vector<bool> as_text;         // per column: read as toString(column)
  std::string select_list;           // "`a`, toString(`b`) AS `b`"
  std::string from;                  // "`db`.`t`", "`db`.`t` FINAL", "(query)"
  std::vector<std::string> filters;  // where=, the ledger filter
  std::string name;                  // "clickhouse 127.0.0.1:8123 table `db`.`t`", for errors
  ChEndpoint endpoint;
  ChStreamOptions stream;
  int64_t batch_rows = 65536;
  int64_t first_batch_rows = 0;
};

std::string StripQuery(std::string q) {
  while (!q.empty() && (q.back() == ';' || q.back() == ' ' || q.back() == '\n' ||
                        q.back() == '\t' || q.back() == '\r')) {
    q.pop_back();
  }
  return q;
}

bool ParseInt128(std::string_view s, int128_t* out) {
  if (s.empty() || s.size() > 40) return false;
  bool neg = false;
  size_t i = 0;
  if (s[0] == '-') {
    neg = true;
    i = 1;
  }
  if (i == s.size()) return false;
  int128_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = neg ? -v : v;
  return true;
}

std::string Int128Text(int128_t v) { return FormatDecimal(v, 0); }

// "a:timestamp,b:decimal(20,4)": commas inside parentheses belong to the type.
Result<std::vector<std::pair<std::string, DataType>>> ParseTypeOverrides(std::string_view text) {
  std::vector<std::pair<std::string, DataType>> out;
  std::vector<std::string_view> items;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || (text[i] == ',' && depth == 0)) {
      if (i > start) items.push_back(text.substr(start, i - start));
      start = i + 1;
    } else if (text[i] == '(') {
      ++depth;
    } else if (text[i] == ')') {
      --depth;
    }
  }
  for (std::string_view item : items) {
    const size_t colon = item.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == item.size()) {
      return Status::InvalidArgument("clickhouse source: types= wants column:type items, got '" +
                                     std::string(item) + "'");
    }
    auto t = ParseDataType(item.substr(colon + 1));
    if (!t.ok()) {
      return Status::InvalidArgument("clickhouse source: types= item '" + std::string(item) +
                                     "': " + t.status().message());
    }
    out.emplace_back(std::string(item.substr(0, colon)), std::move(*t));
  }
  return out;
}

// The header of a TabSeparatedWithNamesAndTypes answer: names and types.
Result<std::vector<std::pair<std::string, std::string>>> ParseNamesAndTypes(
    const std::string& body, const std::string& ctx) {
  const size_t nl = body.find('\n');
  if (nl == std::string::npos) return Status::InvalidData(ctx + ": no header in the answer");
  const size_t columns = static_cast<size_t>(std::count(body.begin(), body.begin() + nl, '\t')) + 1;
  auto rows = ParseTsv(body, columns);
  if (!rows.ok()) return rows.status().WithContext(ctx + ": unreadable header");
  if (rows->size() < 2) return Status::InvalidData(ctx + ": the answer lacks the types line");
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i < columns; ++i) {
    const auto& n = (*rows)[0][i];
    const auto& t = (*rows)[1][i];
    if (!n || !t) return Status::InvalidData(ctx + ": NULL in the header");
    out.emplace_back(*n, *t);
  }
  return out;
}

// ---------------------------------------------------------------------------

class ClickhouseReader final : public SourceReader {
 public:
  ClickhouseReader(std::shared_ptr<const ReadPlan> plan, std::unique_ptr<ChStream> stream,
                   RowBinaryDecoder decoder)
      : plan_(std::move(plan)), stream_(std::move(stream)), decoder_(std::move(decoder)) {}

  Result<std::optional<RecordBatch>> Next() override {
    if (done_) return std::optional<RecordBatch>();
    const int64_t limit =
        first_ && plan_->first_batch_rows > 0 ? plan_->first_batch_rows : plan_->batch_rows;
    first_ = false;
    BatchBuilder bb(plan_->schema);
    while (true) {
      const bool at_end = stream_->finished();
      const std::string_view data = stream_->data();
      SLUICE_ASSIGN_OR_RETURN(RowBinaryDecoder::Outcome o,
                              decoder_.Decode(data, at_end, &bb, limit, kMaxBatchBytes));
      stream_->Consume(o.consumed);
      const std::string_view rest = data.substr(o.consumed);
      if (o.stop == RowBinaryDecoder::Stop::kBatchFull) break;
      if (o.stop == RowBinaryDecoder::Stop::kSuspect) {
        if (rest.size() > kMaxChExceptionBytes) {
          decoder_.AcceptSuspect();  // far more than an exception text: data after all
          continue;
        }
        if (at_end) return decoder_.EndError(rest);
      } else if (at_end) {  // kNeedMore and nothing follows
        if (!rest.empty()) return decoder_.EndError(rest);
        done_ = true;
        break;
      } else if (rest.size() > kMaxRowBytes) {
        return Status::InvalidData(plan_->name + ": row " + std::to_string(decoder_.rows() + 1) +
                                   " is larger than " + std::to_string(kMaxRowBytes) + " bytes");
      }
      auto more = stream_->Fill();
      if (!more.ok()) {
        // A server that breaks the connection after writing its error text.
        const std::string_view tail = stream_->data();
        if (tail.find("Code: ") != std::string_view::npos) {
          const Status st = decoder_.EndError(tail);
          if (st.code() == StatusCode::kIOError) return st;
        }
        return more.status().WithContext(plan_->name);
      }
    }
    position_ = std::to_string(decoder_.rows());
    if (bb.num_rows() == 0 && done_) return std::optional<RecordBatch>();
    return std::optional<RecordBatch>(bb.Finish());
  }

  std::string position() const override { return position_; }

 private:
  std::shared_ptr<const ReadPlan> plan_;
  std::unique_ptr<ChStream> stream_;
  RowBinaryDecoder decoder_;
  bool first_ = true;
  bool done_ = false;
  std::string position_;
};

// ---------------------------------------------------------------------------

class ClickhouseSource final : public Source {
 public:
  explicit ClickhouseSource(SourceConfig cfg) : cfg_(std::move(cfg)) {
    qtable_ = ChQuoteIdent(cfg_.endpoint.database) + "." + ChQuoteIdent(cfg_.table);
    what_ = cfg_.table.empty() ? std::string("query") : "table " + qtable_;
    where_ = "clickhouse " + cfg_.endpoint.Address() + " " + what_;
  }

  Status Open(const SourceOptions& options) override {
    SLUICE_ASSIGN_OR_RETURN(admin_, ChClient::Make(cfg_.endpoint));
    const std::string db = ChQuoteString(cfg_.endpoint.database);
    SLUICE_ASSIGN_OR_RETURN(
        auto probe,
        admin_->QueryRows("SELECT version(), timezone(), (SELECT count() FROM system.databases "
                          "WHERE name = " +
                              db + ")",
                          3, what_ + ": probing the server", /*use_database=*/false));
    if (probe.size() != 1) return Status::InvalidData(where_ + ": unexpected answer to the probe");
    version_ = probe[0][0].value_or("");
    server_tz_ = probe[0][1].value_or("UTC");
    if (probe[0][2].value_or("0") == "0") {
      return Status::NotFound(where_ + ": database " + ChQuoteIdent(cfg_.endpoint.database) +
                              " does not exist on " + cfg_.endpoint.Address());
    }

    auto plan = std::make_shared<ReadPlan>();
    plan->endpoint = cfg_.endpoint;
    plan->name = "clickhouse " + cfg_.endpoint.Address() + " " + what_;
    plan->batch_rows =
        std::max<int64_t>(1, cfg_.batch_rows > 0 ? cfg_.batch_rows : options.batch_rows);
    plan->first_batch_rows = options.first_batch_rows;
    plan->stream.gzip = cfg_.gzip;
    plan->stream.idle_timeout_ms = cfg_.idle_timeout_ms;
    const int64_t threads = cfg_.threads >= 0 ? cfg_.threads : (cfg_.table.empty() ? 0 : 1);
    if (threads > 0) plan->stream.settings.emplace_back("max_threads", std::to_string(threads));

    // Each available column: name, type text, sluice type from a marker.
    struct Available {
      std::string name, type;
      std::optional<ChMarkedType> marker;
      bool in_star = true;  // part of SELECT * (not MATERIALIZED / ALIAS)
    };
    std::vector<Available> avail;
    if (!cfg_.table.empty()) {
      SLUICE_RETURN_NOT_OK(DescribeTable(&avail));
    } else {
      ChRequest req;
      req.sql = "SELECT * FROM (" + StripQuery(cfg_.query) +
                ") LIMIT 0 FORMAT TabSeparatedWithNamesAndTypes";
      SLUICE_ASSIGN_OR_RETURN(ChResponse resp,
                              admin_->Execute(req, "query: finding the result's columns"));
      SLUICE_ASSIGN_OR_RETURN(auto header, ParseNamesAndTypes(resp.body, where_));
      for (auto& [n, t] : header) avail.push_back({n, t, std::nullopt, true});
    }

    // The columns to read, in order.
    std::vector<const Available*> chosen;
    if (cfg_.columns.empty()) {
      for (const Available& a : avail) {
        if (!a.in_star) continue;
        if (!cfg_.table.empty() && (a.name == kPartColumn || a.name == kAttemptColumn)) continue;
        chosen.push_back(&a);
      }
    } else {
      for (const std::string& c : cfg_.columns) {
        auto it = std::find_if(avail.begin(), avail.end(),
                               [&](const Available& a) { return a.name == c; });
        if (it == avail.end()) {
          return Status::NotFound(where_ + ": no column \"" + c + "\" (columns=)");
        }
        chosen.push_back(&*it);
      }
    }
    if (chosen.empty()) return Status::InvalidArgument(where_ + ": no columns to read");
    for (const auto& override_type : cfg_.types) {
      const std::string& name = override_type.first;  // (clang: no lambda capture of bindings)
      if (std::none_of(chosen.begin(), chosen.end(),
                       [&](const Available* a) { return a->name == name; })) {
        return Status::InvalidArgument(where_ + ": types= names column \"" + name +
                                       "\", which is not read");
      }
    }

    std::vector<Field> fields;
    for (const Available* a : chosen) {
      const std::string q = ChQuoteIdent(a->name);
      const std::string ctx = where_ + ": column \"" + a->name + "\"";
      std::optional<DataType> wanted;
      for (const auto& [name, type] : cfg_.types) {
        if (name == a->name) wanted = type;
      }
      Field f;
      f.name = a->name;
      f.source_type = a->type;
      ChReadColumn col;
      col.name = a->name;
      auto wire = ParseChWireType(a->type);
      bool as_text = false;
      if (!wire.ok()) {
        if (wire.status().code() != StatusCode::kUnsupported || !wanted) {
          std::string hint;
          if (wire.status().code() == StatusCode::kUnsupported) {
            hint =
                " (read it as text with types=" + a->name + ":string, or convert it in a query=)";
          }
          return Status(wire.status().code(), ctx + ": " + wire.status().message() + hint);
        }
        as_text = true;
      } else {
        col.wire = std::move(*wire);
        if (wanted) {
          as_text = !ChCanConvert(col.wire, *wanted);
          col.type = *wanted;
        } else if (a->marker && ChCanConvert(col.wire, a->marker->type)) {
          col.type = a->marker->type;
          f.primary_key = a->marker->primary_key;
        } else {
          if (a->marker) {
            SLUICE_LOG(kWarn) << ctx << ": its comment says sluice type "
                              << a->marker->type.ToString() << ", which a " << a->type
                              << " column cannot hold; reading it as "
                              << DefaultChSourceType(col.wire, server_tz_).ToString();
          }
          col.type = DefaultChSourceType(col.wire, server_tz_);
        }
      }
      if (as_text) {
        // The server turns the value into text; the decoder parses it.
        const bool nullable = col.wire.nullable || a->type.rfind("Nullable(", 0) == 0;
        col.wire = ChWireType{};
        col.wire.wire = ChWire::kString;
        col.wire.nullable = nullable;
        col.wire.text = nullable ? "Nullable(String)" : "String";
        col.type = *wanted;
        plan->select_list +=
            (plan->select_list.empty() ? "" : ", ") + std::string("toString(") + q + ") AS " + q;
      } else {
        plan->select_list += (plan->select_list.empty() ? "" : ", ") + q;
      }
      plan->as_text.push_back(as_text);
      f.type = col.type;
      f.nullable = col.wire.nullable || col.wire.wire == ChWire::kNothing;
      if (f.nullable) f.primary_key = false;
      fields.push_back(std::move(f));
      plan->columns.push_back(std::move(col));
    }
    auto schema = std::make_shared<Schema>(std::move(fields));
    SLUICE_RETURN_NOT_OK_CTX(schema->Validate(), where_);
    plan->schema = std::move(schema);

    if (!cfg_.table.empty()) {
      plan->from = qtable_ + (cfg_.final ? " FINAL" : "");
    } else {
      plan->from = "(" + StripQuery(cfg_.query) + ")";
    }
    if (!cfg_.where.empty()) plan->filters.push_back("(" + cfg_.where + ")");
    if (!ledger_filter_.empty()) plan->filters.push_back(ledger_filter_);
    // Checks the whole statement once (a bad where= or FINAL on a table
    // that has no sorting key) before any split starts.
    SLUICE_RETURN_NOT_OK(admin_->Exec("SELECT " + plan->select_list + " FROM " + plan->from +
                                          Where(plan->filters, "") + " LIMIT 0",
                                      what_ + ": checking the query"));
    plan_ = std::move(plan);
    SLUICE_RETURN_NOT_OK(ReadState());
    return Status::OK();
  }

  std::shared_ptr<const Schema> schema() const override { return plan_ ? plan_->schema : nullptr; }

  Result<std::vector<Split>> Plan(int max_splits) override {
    if (!plan_) return Status::Internal(where_ + ": Plan() before Open()");
    const int64_t want =
        std::min<int64_t>({std::max(max_splits, 1), cfg_.max_splits, kMaxSplitsCap});
    std::vector<Split> splits;
    auto one = [&] {
      splits.clear();
      Split s;
      s.description = cfg_.table.empty() ? "query" : "all rows";
      s.estimated_rows = total_rows_;
      splits.push_back(std::move(s));
      split_kind_ = SplitKind::kNone;
      return splits;
    };
    if (cfg_.table.empty() || want <= 1 || cfg_.split_by == SplitBy::kNone) return one();
    const int64_t rows = std::max<int64_t>(total_rows_, 0);
    int64_t n = std::min<int64_t>(want, (rows + cfg_.min_split_rows - 1) / cfg_.min_split_rows);
    if (n <= 1) return one();

    std::vector<std::pair<std::string, int64_t>> partitions;
    if (mergetree_ && cfg_.split_by != SplitBy::kKey) {
      SLUICE_ASSIGN_OR_RETURN(
          auto prows,
          admin_->QueryRows("SELECT partition_id, sum(rows) FROM system.parts WHERE database = " +
                                ChQuoteString(cfg_.endpoint.database) +
                                " AND table = " + ChQuoteString(cfg_.table) +
                                " AND active GROUP BY partition_id ORDER BY partition_id",
                            2, what_ + ": listing partitions"));
      for (const TsvRow& r : prows) {
        int64_t v = 0;
        const std::string c = r[1].value_or("0");
        std::from_chars(c.data(), c.data() + c.size(), v);
        if (r[0]) partitions.emplace_back(*r[0], v);
      }
    }
    const bool key_ok = !key_expr_.empty() && cfg_.split_by != SplitBy::kPartition;
    const bool by_partition =
        partitions.size() >= 2 && (cfg_.split_by == SplitBy::kPartition ||
                                   static_cast<int64_t>(partitions.size()) >= n || !key_ok);
    if (by_partition) return PartitionSplits(partitions, n);
    if (key_ok) return KeySplits(n);
    return one();
  }

  Result<std::unique_ptr<SourceReader>> OpenSplit(const Split& split) override {
    if (!plan_) return Status::Internal(where_ + ": OpenSplit() before Open()");
    std::vector<std::string> conds = plan_->filters;
    if (!lower_bound_.empty()) conds.push_back(lower_bound_);
    if (!split.start.empty() || !split.end.empty()) {
      switch (split_kind_) {
        case SplitKind::kPartition:
          conds.push_back(split.start);
          break;
        case SplitKind::kKey: {
          int128_t v = 0;
          if (!split.start.empty()) {
            if (!ParseInt128(split.start, &v))
              return Status::InvalidArgument(where_ + ": bad split bound");
            conds.push_back(key_expr_ + " >= " + Int128Text(v));
          }
          if (!split.end.empty()) {
            if (!ParseInt128(split.end, &v))
              return Status::InvalidArgument(where_ + ": bad split bound");
            conds.push_back(key_expr_ + " < " + Int128Text(v));
          }
          break;
        }
        case SplitKind::kNone:
          return Status::InvalidArgument(where_ +
                                         ": split bounds given but the source was not split");
      }
    }
    const std::string sql = "SELECT " + plan_->select_list + " FROM " + plan_->from +
                            Where(conds, "") + " FORMAT RowBinary";
    const std::string desc = split.description.empty() ? "" : " (" + split.description + ")";
    // Nothing is read before the stream opens: a transient failure of the
    // request is retried like the metadata requests.
    Result<std::unique_ptr<ChStream>> opened = Status::Internal("not opened");
    int64_t backoff_ms = 200;
    for (int attempt = 0;; ++attempt) {
      opened = ChStream::Open(plan_->endpoint, sql, plan_->stream, "reading " + what_ + desc);
      if (opened.ok() || opened.status().code() != StatusCode::kRetryable ||
          attempt >= plan_->endpoint.retries) {
        break;
      }
      SLUICE_LOG(kDebug) << opened.status().message() << "; retry " << attempt + 1 << " in "
                         << backoff_ms << " ms";
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      backoff_ms *= 4;
    }
    SLUICE_ASSIGN_OR_RETURN(auto stream, std::move(opened));
    SLUICE_ASSIGN_OR_RETURN(auto decoder,
                            RowBinaryDecoder::Make(plan_->columns, plan_->name + desc));
    return std::unique_ptr<SourceReader>(
        new ClickhouseReader(plan_, std::move(stream), std::move(decoder)));
  }

  std::string Fingerprint() const override { return fingerprint_; }

  std::optional<int64_t> EstimatedRows() const override {
    if (cfg_.table.empty() || total_rows_ < 0) return std::nullopt;
    return total_rows_;
  }

  // `col >= literal` in the stored representation of the column; integer
  // (also dates as days, timestamps as µs), Date, DateTime and String
  // columns. Others return false (the runtime filters).
  Result<bool> SetLowerBound(const std::string& column, const std::string& lower_bound) override {
    if (!plan_) return Status::Internal(where_ + ": SetLowerBound() before Open()");
    auto index = plan_->schema->FieldIndex(column);
    if (!index) {
      return Status::InvalidArgument(where_ + ": no column \"" + column +
                                     "\" to read incrementally");
    }
    const ChReadColumn& c = plan_->columns[static_cast<size_t>(*index)];
    // A column read as the server's text compares as text: not pushed down.
    if (plan_->as_text[static_cast<size_t>(*index)]) return false;
    ColumnBuilder b(c.type);
    SLUICE_RETURN_NOT_OK_CTX(AppendParsedText(lower_bound, &b),
                             where_ + ": lower bound of column \"" + column + "\"");
    const Column v = b.Finish();
    auto literal = LowerBoundLiteral(c, v);
    if (!literal) return false;
    lower_bound_ = ChQuoteIdent(column) + " >= " + *literal;
    return true;
  }

  Status Close() override {
    admin_.reset();
    return Status::OK();
  }

 private:
  enum class SplitKind { kNone, kPartition, kKey };

  static std::string Where(const std::vector<std::string>& conds, const std::string& extra) {
    std::string out;
    for (const std::string& c : conds) out += (out.empty() ? " WHERE " : " AND ") + c;
    if (!extra.empty()) out += (out.empty() ? " WHERE " : " AND ") + extra;
    return out;
  }

  template <typename Available>
  Status DescribeTable(std::vector<Available>* avail) {
    const std::string db = ChQuoteString(cfg_.endpoint.database);
    const std::string tbl = ChQuoteString(cfg_.table);
    SLUICE_ASSIGN_OR_RETURN(auto trows,
                            admin_->QueryRows("SELECT engine, sorting_key FROM system.tables WHERE "
                                              "database = " +
                                                  db + " AND name = " + tbl,
                                              2, what_ + ": looking up the table"));
    if (trows.empty()) {
      return Status::NotFound(where_ + ": table does not exist on " + cfg_.endpoint.Address());
    }
    engine_ = trows[0][0].value_or("");
    const std::string sorting_key = trows[0][1].value_or("");
    mergetree_ = engine_.find("MergeTree") != std::string::npos;
    SLUICE_ASSIGN_OR_RETURN(
        auto crows,
        admin_->QueryRows("SELECT name, type, default_kind, comment FROM system.columns "
                          "WHERE database = " +
                              db + " AND table = " + tbl,
                          4, what_ + ": reading the table's columns"));
    bool hidden = false;
    std::string target;
    for (const TsvRow& r : crows) {
      Available a;
      a.name = r[0].value_or("");
      a.type = r[1].value_or("");
      const std::string kind = r[2].value_or("");
      const std::string comment = r[3].value_or("");
      a.in_star = kind != "MATERIALIZED" && kind != "ALIAS";
      a.marker = ParseChTypeMarker(comment);
      if (a.name == kPartColumn) {
        hidden = true;
        const std::string prefix = kLedgerTargetPrefix;
        if (comment.rfind(prefix, 0) == 0) target = comment.substr(prefix.size());
      }
      avail->push_back(std::move(a));
    }
    if (avail->empty()) return Status::NotFound(where_ + ": the table has no columns");
    // The split key: the first sorting-key column, when it is a plain
    // non-Nullable integer, Date or DateTime column.
    std::string first = sorting_key.substr(0, sorting_key.find(','));
    while (!first.empty() && first.front() == ' ') first.erase(0, 1);
    while (!first.empty() && first.back() == ' ') first.pop_back();
    for (const Available& a : *avail) {
      if (first.empty() || (first != a.name && first != ChQuoteIdent(a.name))) continue;
      auto w = ParseChWireType(a.type);
      if (!w.ok() || w->nullable) break;
      const std::string q = ChQuoteIdent(a.name);
      switch (w->wire) {
        case ChWire::kInt8:
        case ChWire::kInt16:
        case ChWire::kInt32:
        case ChWire::kInt64:
        case ChWire::kUInt8:
        case ChWire::kUInt16:
        case ChWire::kUInt32:
        case ChWire::kUInt64:
          key_expr_ = q;
          break;
        case ChWire::kDate:
          key_expr_ = "toUInt16(" + q + ")";
          break;
        case ChWire::kDateTime:
          key_expr_ = "toUInt32(" + q + ")";
          break;
        case ChWire::kDate32:
          key_expr_ = "toInt32(" + q + ")";
          break;
        default:
          break;
      }
      break;
    }
    if (hidden && cfg_.ledger_filter) {
      const std::string qledger =
          ChQuoteIdent(cfg_.endpoint.database) + "." + ChQuoteIdent(cfg_.ledger);
      SLUICE_ASSIGN_OR_RETURN(
          auto lrows, admin_->QueryRows("SELECT count() FROM system.tables WHERE database = " + db +
                                            " AND name = " + ChQuoteString(cfg_.ledger),
                                        1, what_ + ": looking up the ledger table"));
      if (lrows.empty() || lrows[0][0].value_or("0") == "0") {
        return Status::NotFound(where_ +
                                ": the table has the part ledger's hidden columns but the "
                                "ledger table " +
                                qledger +
                                " does not exist (give ledger= its "
                                "name, or ledger_filter=false to read every row)");
      }
      // Rows of attempts the ledger knows to be void or unfinished are left
      // out; rows it does not know (other inserts) are kept.
      ledger_filter_ =
          "(" + ChQuoteIdent(kPartColumn) + ", " + ChQuoteIdent(kAttemptColumn) +
          ") NOT IN (SELECT part_id, attempt FROM " + qledger +
          (target.empty() ? "" : " WHERE target = " + ChQuoteString(target)) +
          " GROUP BY part_id, attempt HAVING max(event = 2) = 0 OR max(event = 3) = 1)";
    }
    return Status::OK();
  }

  // Row count and a digest of the data's state (active parts, or for other
  // engines the row count) for the fingerprint: re-reading an unchanged
  // table yields the same part ids, any insert, merge or mutation new ones.
  Status ReadState() {
    std::string state;
    if (!cfg_.table.empty()) {
      if (mergetree_) {
        SLUICE_ASSIGN_OR_RETURN(
            auto r,
            admin_->QueryRows("SELECT sum(rows), count(), max(max_block_number), "
                              "groupBitXor(cityHash64(name)) FROM system.parts WHERE database = " +
                                  ChQuoteString(cfg_.endpoint.database) +
                                  " AND table = " + ChQuoteString(cfg_.table) + " AND active",
                              4, what_ + ": reading the table's parts"));
        if (r.size() != 1) return Status::InvalidData(where_ + ": unexpected answer about parts");
        total_rows_ = std::atoll(r[0][0].value_or("0").c_str());
        state = "parts=" + r[0][1].value_or("") + ":" + r[0][0].value_or("") + ":" +
                r[0][2].value_or("") + ":" + r[0][3].value_or("");
      } else if (engine_ == "Memory" || engine_ == "TinyLog" || engine_ == "Log" ||
                 engine_ == "StripeLog") {
        SLUICE_ASSIGN_OR_RETURN(auto r, admin_->QueryRows("SELECT count() FROM " + qtable_, 1,
                                                          what_ + ": counting rows"));
        total_rows_ = r.empty() ? -1 : std::atoll(r[0][0].value_or("0").c_str());
        state = "rows=" + std::to_string(total_rows_);
      } else {
        // A view, a Distributed or Merge table, ...: no cheap digest of the
        // data; every read is a new one (new part ids), never a wrong skip.
        state = "engine=" + engine_ + "#read-at=" +
                std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
      }
    } else {
      // A query may read anything: the state of every table on the server.
      SLUICE_ASSIGN_OR_RETURN(
          auto r, admin_->QueryRows("SELECT count(), sum(rows), max(max_block_number), "
                                    "groupBitXor(cityHash64(database, table, name)) FROM "
                                    "system.parts WHERE active",
                                    4, what_ + ": reading the server's state"));
      if (r.size() == 1) {
        state = "server-parts=" + r[0][0].value_or("") + ":" + r[0][1].value_or("") + ":" +
                r[0][2].value_or("") + ":" + r[0][3].value_or("");
      }
    }
    // What is read (columns, conversions, filters) and from which state.
    std::string read = plan_->select_list + "|" + plan_->from;
    for (const std::string& f : plan_->filters) read += "|" + f;
    for (const ChReadColumn& c : plan_->columns) read += "|" + c.type.ToString();
    fingerprint_ = "clickhouse://" + cfg_.endpoint.Address() + "/" + cfg_.endpoint.database +
                   (cfg_.table.empty() ? "?query" : "?table=" + cfg_.table) +
                   "#read=" + std::to_string(XXH3_64bits(read.data(), read.size())) + "#" + state;
    return Status::OK();
  }

  Result<std::vector<Split>> PartitionSplits(std::vector<std::pair<std::string, int64_t>> parts,
                                             int64_t n) {
    n = std::min<int64_t>(n, static_cast<int64_t>(parts.size()));
    // Largest partitions first, each to the group with the fewest rows.
    std::stable_sort(parts.begin(), parts.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    std::vector<std::vector<std::string>> groups(static_cast<size_t>(n));
    std::vector<int64_t> load(static_cast<size_t>(n), 0);
    for (const auto& [id, rows] : parts) {
      const size_t g =
          static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
      groups[g].push_back(id);
      load[g] += rows;
    }
    std::vector<Split> splits;
    std::string others;  // every partition of the groups before the last
    for (size_t g = 0; g < groups.size(); ++g) {
      std::sort(groups[g].begin(), groups[g].end());
      std::string list;
      for (const std::string& id : groups[g])
        list += (list.empty() ? "" : ", ") + ChQuoteString(id);
      Split s;
      s.index = static_cast<int>(g);
      s.estimated_rows = load[g];
      if (g + 1 < groups.size()) {
        s.start = "_partition_id IN (" + list + ")";
        others += (others.empty() ? "" : ", ") + list;
        s.description = std::to_string(groups[g].size()) + " partition(s) " + groups[g].front() +
                        (groups[g].size() > 1 ? ",..." : "");
      } else {
        // The last split takes everything else, also partitions that
        // appear after planning: nothing falls between the splits.
        s.start = "_partition_id NOT IN (" + others + ")";
        s.description = "the other partitions (" + std::to_string(groups[g].size()) + " now)";
      }
      splits.push_back(std::move(s));
    }
    split_kind_ = SplitKind::kPartition;
    return splits;
  }

  Result<std::vector<Split>> KeySplits(int64_t n) {
    SLUICE_ASSIGN_OR_RETURN(
        auto r, admin_->QueryRows("SELECT toString(min(" + key_expr_ + ")), toString(max(" +
                                      key_expr_ + ")), count() FROM " + plan_->from +
                                      Where(plan_->filters, lower_bound_),
                                  3, what_ + ": planning key-range splits"));
    int128_t lo = 0, hi = 0;
    if (r.size() != 1 || r[0][2].value_or("0") == "0" || !ParseInt128(r[0][0].value_or(""), &lo) ||
        !ParseInt128(r[0][1].value_or(""), &hi) || hi < lo) {
      Split s;
      s.description = "all rows";
      s.estimated_rows = total_rows_;
      split_kind_ = SplitKind::kNone;
      return std::vector<Split>{s};
    }
    const int128_t span = hi - lo + 1;
    if (span < n) n = static_cast<int64_t>(span);
    std::vector<Split> splits;
    for (int64_t i = 0; i < n; ++i) {
      Split s;
      s.index = static_cast<int>(i);
      const int128_t b0 = lo + span * i / n;
      const int128_t b1 = lo + span * (i + 1) / n;
      // First and last ranges are open-ended: nothing is lost at the edges.
      if (i > 0) s.start = Int128Text(b0);
      if (i + 1 < n) s.end = Int128Text(b1);
      s.description = "key " + Int128Text(b0) + ".." + Int128Text(b1 - 1);
      s.estimated_rows = total_rows_ >= 0 ? total_rows_ / n : -1;
      splits.push_back(std::move(s));
    }
    if (splits.size() <= 1) {
      splits.resize(1);
      splits[0].start.clear();
      splits[0].end.clear();
      splits[0].description = "all rows";
      split_kind_ = SplitKind::kNone;
      return splits;
    }
    split_kind_ = SplitKind::kKey;
    return splits;
  }

  // The literal for `column >= value` in the column's stored form.
  std::optional<std::string> LowerBoundLiteral(const ChReadColumn& c, const Column& v) const {
    const TypeId id = c.type.id;
    int128_t x = 0;
    bool integer = true;
    switch (id) {
      case TypeId::kInt8:
        x = v.Value<int8_t>(0);
        break;
      case TypeId::kInt16:
        x = v.Value<int16_t>(0);
        break;
      case TypeId::kInt32:
      case TypeId::kDate:
        x = v.Value<int32_t>(0);
        break;
      case TypeId::kInt64:
      case TypeId::kTime:
      case TypeId::kTimestamp:
        x = v.Value<int64_t>(0);
        break;
      case TypeId::kUInt8:
        x = v.Value<uint8_t>(0);
        break;
      case TypeId::kUInt16:
        x = v.Value<uint16_t>(0);
        break;
      case TypeId::kUInt32:
        x = v.Value<uint32_t>(0);
        break;
      case TypeId::kUInt64:
        x = v.Value<uint64_t>(0);
        break;
      default:
        integer = false;
        break;
    }
    switch (c.wire.wire) {
      case ChWire::kInt8:
      case ChWire::kInt16:
      case ChWire::kInt32:
      case ChWire::kInt64:
      case ChWire::kUInt8:
      case ChWire::kUInt16:
      case ChWire::kUInt32:
      case ChWire::kUInt64:
        if (!integer) return std::nullopt;
        return Int128Text(x);
      case ChWire::kDate:
        if (id != TypeId::kDate || x < 0 || x > 65535) return std::nullopt;
        return "toDate(toUInt16(" + Int128Text(x) + "))";
      case ChWire::kDateTime: {
        if (id != TypeId::kTimestamp) return std::nullopt;
        // col >= µs  <=>  col seconds >= ceil(µs / 10^6)
        int128_t secs = x / kMicrosPerSecond;
        if (secs * kMicrosPerSecond < x) ++secs;
        if (secs < 0 || secs > UINT32_MAX) return std::nullopt;
        return "toDateTime(toUInt32(" + Int128Text(secs) + "))";
      }
      case ChWire::kString:
        if (id != TypeId::kString) return std::nullopt;
        return ChQuoteString(v.StringValue(0));
      default:
        return std::nullopt;
    }
  }

  SourceConfig cfg_;
  std::string qtable_, what_, where_;
  std::unique_ptr<ChClient> admin_;
  std::shared_ptr<const ReadPlan> plan_;
  std::string version_, server_tz_;
  std::string engine_;
  bool mergetree_ = false;
  std::string key_expr_;       // integer expression of the split key, or empty
  std::string ledger_filter_;  // the NOT IN of void attempts, or empty
  std::string lower_bound_;
  SplitKind split_kind_ = SplitKind::kNone;
  int64_t total_rows_ = -1;
  std::string fingerprint_;
};

}  // namespace

const OptionSpecs& ClickhouseSourceOptionSpecs() {
  static const OptionSpecs specs = {
      {"table", OptionType::kString, "", "table to read (in the URI's database)"},
      {"query", OptionType::kString, "", "a SELECT to read instead of a table (one split)"},
      {"columns", OptionType::kString, "",
       "columns to read, a,b,c (default: all but MATERIALIZED/ALIAS ones and the ledger's hidden "
       "columns)"},
      {"where", OptionType::kString, "", "a filter, SQL as given (WHERE ...)"},
      {"final", OptionType::kBool, "false",
       "SELECT ... FINAL (ReplacingMergeTree tables written with mode=upsert)"},
      {"types", OptionType::kString, "",
       "sluice types for columns, col:type,... (e.g. d:date on an Int32 of days; "
       "arr:string reads any column as the server's text)"},
      {"batch_rows", OptionType::kInt, "", "rows per batch (default: the runtime's batch size)"},
      {"max_splits", OptionType::kInt, "64",
       "upper bound on parallel splits (each one HTTP stream)"},
      {"min_split_rows", OptionType::kInt, "100000",
       "do not cut a table into splits of fewer rows than this (system.parts)"},
      {"split_by",
       OptionType::kEnum,
       "auto",
       "partition (_partition_id), key (ranges of the first sorting-key column: integer, Date, "
       "DateTime), none; auto: partitions when there are enough, else key ranges",
       {"auto", "partition", "key", "none"}},
      {"threads", OptionType::kInt, "",
       "the server's max_threads per split (default 1 for tables: rows come in a repeatable "
       "order; the server's default for queries)"},
      {"ledger_filter", OptionType::kBool, "true",
       "tables written by the sink with dedup=ledger: leave out rows of void or unfinished "
       "attempts"},
      {"ledger", OptionType::kString, "_sluice_ledger", "the ledger table (in the URI's database)"},
      {"compression", OptionType::kEnum, "none", "response body compression", {"none", "gzip"}},
      {"timeout", OptionType::kDuration, "5m",
       "metadata requests; and how long a stream may send nothing"},
      {"connect_timeout", OptionType::kDuration, "10s", "per connection attempt"},
      {"retries", OptionType::kInt, "3",
       "extra attempts of metadata requests after a transient failure (backoff 0.2 s, x4)"},
  };
  return specs;
}

Result<std::unique_ptr<Source>> MakeClickhouseSource(const Uri& uri, const Options& options) {
  SourceConfig cfg;
  SLUICE_ASSIGN_OR_RETURN(cfg.endpoint, ChEndpoint::FromUri(uri));
  cfg.display = uri.Redacted();
  cfg.table = options.GetString("table");
  cfg.query = options.GetString("query");
  if (cfg.table.empty() == cfg.query.empty()) {
    return Status::InvalidArgument("clickhouse source: give exactly one of ?table= or ?query= (" +
                                   cfg.display + ")");
  }
  cfg.columns = SplitCommaList(options.GetString("columns"));
  cfg.where = options.GetString("where");
  cfg.final = options.GetBool("final");
  if (cfg.final && cfg.table.empty()) {
    return Status::InvalidArgument("clickhouse source: final=true needs table= (" + cfg.display +
                                   ")");
  }
  SLUICE_ASSIGN_OR_RETURN(cfg.types, ParseTypeOverrides(options.GetString("types")));
  if (options.Has("batch_rows")) {
    cfg.batch_rows = options.GetInt("batch_rows");
    if (cfg.batch_rows < 1)
      return Status::InvalidArgument("clickhouse source: batch_rows must be >= 1");
  }
  cfg.max_splits = std::max<int64_t>(1, options.GetInt("max_splits"));
  cfg.min_split_rows = std::max<int64_t>(1, options.GetInt("min_split_rows"));
  const std::string split_by = options.GetString("split_by");
  cfg.split_by = split_by == "partition" ? SplitBy::kPartition
                 : split_by == "key"     ? SplitBy::kKey
                 : split_by == "none"    ? SplitBy::kNone
                                         : SplitBy::kAuto;
  if (options.Has("threads")) {
    cfg.threads = options.GetInt("threads");
    if (cfg.threads < 0 || cfg.threads > 1024) {
      return Status::InvalidArgument(
          "clickhouse source: threads must be 0..1024 (0: the server's default)");
    }
  }
  cfg.ledger_filter = options.GetBool("ledger_filter");
  cfg.ledger = options.GetString("ledger");
  cfg.gzip = options.GetString("compression") == "gzip";
  cfg.idle_timeout_ms = options.GetDurationMs("timeout");
  cfg.endpoint.request_timeout_ms = cfg.idle_timeout_ms;
  cfg.endpoint.connect_timeout_ms = options.GetDurationMs("connect_timeout");
  const int64_t retries = options.GetInt("retries");
  if (retries < 0 || retries > 20)
    return Status::InvalidArgument("clickhouse source: retries must be 0..20");
  cfg.endpoint.retries = static_cast<int>(retries);
  return std::unique_ptr<Source>(new ClickhouseSource(std::move(cfg)));
}

}  // namespace sluice
