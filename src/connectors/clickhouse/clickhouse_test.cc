// Integration tests of the ClickHouse sink against the real server started by
// `scripts/services.sh up clickhouse` (Debian's 18.16; SLUICE_CLICKHOUSE_URI,
// default clickhouse://default@127.0.0.1:58123/sluice_test, and
// SLUICE_CLICKHOUSE_TCP_PORT, default 59000, for clickhouse-client). They
// FAIL when the server is unreachable: a skipped integration test proves
// nothing.
//
// What the sink wrote is read back with clickhouse-client (the server's own
// native-protocol client, run as a process) and compared with values
// computed here from the source batches, never with the sink's code.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "connectors/clickhouse/ch_http.h"
#include "connectors/clickhouse/ch_ledger.h"
#include "connectors/gen/gen.h"
#include "pipeline/runtime.h"
#include "connectors/clickhouse/ch_protocol.h"
#include "connectors/clickhouse/clickhouse.h"
#include "core/int128.h"
#include "core/log.h"
#include "core/temporal.h"
#include "core/testing.h"
#include "core/text.h"

extern char** environ;

namespace sluice {
namespace {

const bool kQuiet = [] {
  SetLogLevel(LogLevel::kError);
  return true;
}();

std::string BaseUri() {
  const char* e = std::getenv("SLUICE_CLICKHOUSE_URI");
  return e && *e ? e : "clickhouse://default@127.0.0.1:58123/sluice_test";
}

std::string TcpPort() {
  const char* e = std::getenv("SLUICE_CLICKHOUSE_TCP_PORT");
  return e && *e ? e : "59000";
}

std::string Enc(const std::string& s) {  // percent-encodes a URI query value
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '.' || c == '-')
      out += static_cast<char>(c);
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string HexUpper(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

// `a`, `b`, ... of a schema (18.16 has no SELECT * REPLACE).
std::string Cols(const Schema& s) {
  std::string out;
  for (const Field& f : s.fields()) out += (out.empty() ? "" : ", ") + ChQuoteIdent(f.name);
  return out;
}

PartInfo Part(const std::string& id, int64_t rows, int64_t n = 1) {
  PartInfo p;
  p.part_id = id;
  p.stream_id = "s";
  p.part_number = n;
  p.rows = rows;
  return p;
}

using Rows = std::vector<std::vector<std::string>>;

// Runs clickhouse-client (no shell involved) and splits its TabSeparated
// output. Queries here only select numbers, hex, UUIDs and decimals, so no
// field needs unescaping; NULL is "\N".
Rows Client(const std::string& sql) {
  std::string host = "127.0.0.1";
  auto uri = Uri::Parse(BaseUri());
  if (uri.ok() && !uri->host.empty()) host = uri->host;
  std::vector<std::string> args = {"clickhouse-client", "--host",  host, "--port",
                                   TcpPort(),           "--query", sql};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2];
  if (pipe(out) != 0) {
    ADD_FAILURE() << "pipe failed";
    return {};
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, "clickhouse-client", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    ADD_FAILURE() << "cannot run clickhouse-client: " << std::strerror(rc);
    return {};
  }
  std::string text;
  char buf[65536];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "clickhouse-client failed on: " << sql;
  Rows rows;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    std::vector<std::string> fields;
    size_t f = 0;
    while (true) {
      size_t tab = line.find('\t', f);
      fields.push_back(line.substr(f, tab == std::string::npos ? std::string::npos : tab - f));
      if (tab == std::string::npos) break;
      f = tab + 1;
    }
    // Names and types may hold quotes and backslashes, escaped by a
    // backslash; \N (NULL) stays as it is.
    for (auto& field : fields) {
      if (field == "\\N") continue;
      std::string u;
      for (size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 1 < field.size()) ++i;
        u.push_back(field[i]);
      }
      field = u;
    }
    rows.push_back(std::move(fields));
  }
  return rows;
}

std::string One(const std::string& sql) {
  Rows r = Client(sql);
  return r.empty() || r[0].empty() ? "<none>" : r[0][0];
}

int64_t Count(const std::string& qtable, const std::string& where = "") {
  return std::atoll(
      One("SELECT count() FROM " + qtable + (where.empty() ? "" : " WHERE " + where)).c_str());
}

// Rows id first.. and ts (below, beside the grouped-INSERT tests).
RecordBatch IdTsBatch(int64_t first, int64_t n, int64_t bad_row = 0);

class ClickhouseSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto uri = Uri::Parse(BaseUri());
    ASSERT_TRUE(uri.ok()) << uri.status().ToString();
    auto ep = ChEndpoint::FromUri(*uri);
    ASSERT_TRUE(ep.ok());
    ep->retries = 0;
    auto client = ChClient::Make(*ep);
    ASSERT_TRUE(client.ok());
    admin_ = std::move(*client);
    Status ping = admin_->Exec("SELECT 1", "ping");
    ASSERT_TRUE(ping.ok()) << "ClickHouse at " << BaseUri()
                           << " is unreachable; run `scripts/services.sh up clickhouse` first: "
                           << ping.ToString();
    db_ = ep->database;
    RegisterClickhouse(&registry_);
    // Each test works on tables of its own name (dropped first: a new table
    // is a new name to the ledger, see Target()).
    table_ = std::string("t_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    Forget(table_);
  }

  void Sql(const std::string& sql) {
    Status st = admin_->Exec(sql, "test setup");
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  std::string Q(const std::string& table) const {
    return ChQuoteIdent(db_) + "." + ChQuoteIdent(table);
  }
  void Forget(const std::string& table) {
    Sql("DROP TABLE IF EXISTS " + Q(table));
    Sql("DROP TABLE IF EXISTS " + Q(table + "__sluice_stage"));
  }
  void GroupedInsertSettlesPartsLeftByAKilledWriter(const std::string& extra);
  // The name the ledger knows `table` by (docs: the comment of _sluice_part),
  // as a string literal.
  std::string Target(const std::string& table) {
    const std::string comment =
        One("SELECT comment FROM system.columns WHERE database = " + ChQuoteString(db_) +
            " AND table = " + ChQuoteString(table) + " AND name = '_sluice_part'");
    const std::string prefix = "sluice ledger target: ";
    EXPECT_EQ(comment.rfind(prefix, 0), 0u) << comment;
    EXPECT_EQ(comment.rfind(prefix + db_ + ".", 0), 0u) << comment;
    return ChQuoteString(comment.substr(std::min(prefix.size(), comment.size())));
  }
  void WaitMutations(const std::string& table) {
    for (int i = 0; i < 600; ++i) {
      if (One("SELECT count() FROM system.mutations WHERE database = " + ChQuoteString(db_) +
              " AND table = " + ChQuoteString(table) + " AND is_done = 0") == "0") {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "mutations of " << table << " did not finish";
  }

  Result<std::unique_ptr<Sink>> MakeSink(const std::string& options, const std::string& base = "") {
    return registry_.MakeSink((base.empty() ? BaseUri() : base) + "?table=" + Enc(table_) +
                              (options.empty() ? "" : "&" + options));
  }
  // A sink for IdTsBatch rows (timestamps=datetime, then `options`), opened.
  Result<std::unique_ptr<Sink>> OpenIdTsSink(const std::string& options,
                                             const std::string& base = "") {
    SLUICE_ASSIGN_OR_RETURN(
        auto sink, MakeSink("timestamps=datetime" + (options.empty() ? "" : "&" + options), base));
    SLUICE_RETURN_NOT_OK(sink->Open(IdTsBatch(1, 1).schema()));
    return sink;
  }

  // Opens a sink, applies each batch as one part, commits.
  Status Load(const std::string& options, std::shared_ptr<const Schema> schema,
              const std::vector<RecordBatch>& parts, const std::string& id_prefix = "p") {
    SLUICE_ASSIGN_OR_RETURN(auto sink, MakeSink(options));
    SLUICE_RETURN_NOT_OK(sink->Open(schema));
    SLUICE_ASSIGN_OR_RETURN(auto w, sink->NewWriter());
    for (size_t i = 0; i < parts.size(); ++i) {
      SLUICE_ASSIGN_OR_RETURN(auto outcome,
                              w->ApplyPart(Part(id_prefix + std::to_string(i), parts[i].num_rows(),
                                                static_cast<int64_t>(i) + 1),
                                           {parts[i]}));
      if (outcome != ApplyOutcome::kApplied) return Status::Internal("part unexpectedly skipped");
    }
    SLUICE_RETURN_NOT_OK(sink->Commit());
    return sink->Close();
  }

  std::map<std::string, std::string> ColumnTypes(const std::string& table) {
    std::map<std::string, std::string> out;
    for (const auto& r : Client("SELECT name, type FROM system.columns WHERE database = " +
                                ChQuoteString(db_) + " AND table = " + ChQuoteString(table))) {
      if (r.size() == 2) out[r[0]] = r[1];
    }
    return out;
  }

  std::unique_ptr<ChClient> admin_;
  Registry registry_;
  std::string db_, table_;
};

// The expected text of one value as clickhouse-client prints the column (or
// the expression used for it in ReadAllTypes).
std::string Expected(const Column& col, int64_t r) {
  if (col.IsNull(r)) return "\\N";
  switch (col.type.id) {
    case TypeId::kString:
    case TypeId::kBinary:
    case TypeId::kJson:
      return HexUpper(col.StringValue(r));
    case TypeId::kBool:
      return col.BoolValue(r) ? "1" : "0";
    case TypeId::kDate:
      return std::to_string(col.Value<int32_t>(r));
    case TypeId::kTime:
    case TypeId::kTimestamp:
      return std::to_string(col.Value<int64_t>(r));
    case TypeId::kUuid: {
      std::string s;
      AppendUuid(col.FixedBytes(r, 16), &s);
      return s;
    }
    case TypeId::kDecimal:
      return FormatDecimal(col.DecimalValue(r), col.type.scale);
    default:
      return ValueToText(col, r);
  }
}

// Compares a float printed by ClickHouse with the source value, bit for bit
// (the server prints the shortest text that reads back exactly).
bool SameFloat(const Column& col, int64_t r, const std::string& text) {
  if (col.type.id == TypeId::kFloat32) {
    const float want = col.Value<float>(r);
    const float got = std::strtof(text.c_str(), nullptr);
    if (std::isnan(want)) return text == "nan" || text == "-nan";
    return std::memcmp(&want, &got, 4) == 0;
  }
  const double want = col.Value<double>(r);
  const double got = std::strtod(text.c_str(), nullptr);
  if (std::isnan(want)) return text == "nan" || text == "-nan";
  return std::memcmp(&want, &got, 8) == 0;
}

void ExpectTableEquals(const std::string& qtable, const RecordBatch& want, const std::string& key) {
  const Schema& s = *want.schema();
  std::string exprs;
  for (const Field& f : s.fields()) {
    const std::string c = ChQuoteIdent(f.name);
    const bool bytes =
        f.type.id == TypeId::kString || f.type.id == TypeId::kBinary || f.type.id == TypeId::kJson;
    exprs += (exprs.empty() ? "" : ", ") + (bytes ? "hex(" + c + ")" : c);
  }
  Rows got = Client("SELECT " + exprs + " FROM " + qtable + " ORDER BY " + ChQuoteIdent(key));
  // Rows in key order: sort the expected rows the same way.
  const int k = *s.FieldIndex(key);
  std::vector<int64_t> order(static_cast<size_t>(want.num_rows()));
  for (int64_t i = 0; i < want.num_rows(); ++i) order[static_cast<size_t>(i)] = i;
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return IsSignedInteger(want.column(k).type.id)
               ? want.column(k).Value<int64_t>(a) < want.column(k).Value<int64_t>(b)
               : ValueToText(want.column(k), a) < ValueToText(want.column(k), b);
  });
  ASSERT_EQ(got.size(), order.size()) << qtable;
  for (size_t i = 0; i < order.size(); ++i) {
    const int64_t r = order[i];
    ASSERT_EQ(got[i].size(), static_cast<size_t>(s.num_fields())) << "row " << i;
    for (int c = 0; c < s.num_fields(); ++c) {
      const Column& col = want.column(c);
      const std::string& text = got[i][static_cast<size_t>(c)];
      if (!col.IsNull(r) && IsFloating(col.type.id)) {
        EXPECT_TRUE(SameFloat(col, r, text)) << s.field(c).name << " row " << r << ": got " << text
                                             << ", want " << ValueToText(col, r);
      } else {
        EXPECT_EQ(text, Expected(col, r)) << s.field(c).name << " source row " << r;
      }
    }
  }
}

// Every type of AllTypesBatch, in 3 parts, with 18.16's mapping (dates as
// Int32 days, timestamps and times as Int64 µs): exact values, NULLs,
// unicode, Decimal(38,9) extremes, 0001-01-01 / 9999-12-31.
TEST_F(ClickhouseSinkTest, AllTypesRoundTrip) {
  RecordBatch all = testing::AllTypesBatch(300);
  std::vector<RecordBatch> parts = {all.Slice(0, 100), all.Slice(100, 150), all.Slice(250, 50)};
  ASSERT_TRUE(Load("", all.schema(), parts).ok());
  ExpectTableEquals(Q(table_), all, "i64");
  auto types = ColumnTypes(table_);
  EXPECT_EQ(types["i64"], "Int64");
  EXPECT_EQ(types["u64"], "Nullable(UInt64)");
  EXPECT_EQ(types["dec38"], "Nullable(Decimal(38, 9))");
  EXPECT_EQ(types["b"], "Nullable(UInt8)");
  EXPECT_EQ(types["uuid"], "Nullable(UUID)");
  EXPECT_EQ(types["d"], "Nullable(Int32)");
  EXPECT_EQ(types["tstz"], "Nullable(Int64)");
  EXPECT_EQ(types["_sluice_part"], "String");
  EXPECT_EQ(types["_sluice_attempt"], "UInt64");
  // The primary key became the sort key.
  EXPECT_EQ(One("SELECT sorting_key FROM system.tables WHERE database = " + ChQuoteString(db_) +
                " AND name = " + ChQuoteString(table_)),
            "i64");
  // Every row carries its part's id.
  EXPECT_EQ(Count(Q(table_), "_sluice_part = 'p1'"), 150);
}

// The same parts inserted as RowBinary rows (format=rowbinary) land exactly
// like the default Native blocks; with and without the ledger's hidden
// columns (dedup=none), and gzip'd.
TEST_F(ClickhouseSinkTest, RowBinaryAndNativeInsertTheSameValues) {
  RecordBatch all = testing::AllTypesBatch(200);
  std::vector<RecordBatch> parts = {all.Slice(0, 120), all.Slice(120, 80)};
  for (const char* options : {"format=rowbinary", "format=rowbinary&dedup=none&compression=gzip",
                              "format=native&dedup=none&compression=gzip"}) {
    SCOPED_TRACE(options);
    Forget(table_);
    ASSERT_TRUE(Load(options, all.schema(), parts).ok());
    ExpectTableEquals(Q(table_), all, "i64");
  }
}

// Timestamps with zones are UTC instants: the zone never shifts the value,
// whichever column type holds it.
TEST_F(ClickhouseSinkTest, TimestampsWithZonesAndNativeTypes) {
  auto schema = std::make_shared<const Schema>(std::vector<Field>{
      {"id", DataType::Int64(), false, true},
      {"tz", DataType::TimestampTz("Europe/Moscow"), true},
      {"d", DataType::Date(), true},
  });
  BatchBuilder bb(schema);
  const int64_t t1 =
      (int64_t{DaysFromCivil(2021, 3, 28)} * 86400 + 1 * 3600 + 30 * 60) * kMicrosPerSecond;
  bb.column(0).AppendFixed<int64_t>(1);
  bb.column(1).AppendFixed<int64_t>(t1);
  bb.column(2).AppendFixed<int32_t>(DaysFromCivil(2105, 12, 31));
  bb.column(0).AppendFixed<int64_t>(2);
  bb.column(1).AppendNull();
  bb.column(2).AppendFixed<int32_t>(0);
  RecordBatch b = bb.Finish();
  ASSERT_TRUE(Load("timestamps=datetime&dates=date", schema, {b}).ok());
  auto types = ColumnTypes(table_);
  EXPECT_EQ(types["tz"], "Nullable(DateTime('UTC'))");
  EXPECT_EQ(types["d"], "Nullable(Date)");
  Rows r = Client("SELECT id, toString(tz), toUnixTimestamp(tz), toUInt16(d) FROM " + Q(table_) +
                  " ORDER BY id");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0][1], "2021-03-28 01:30:00");
  EXPECT_EQ(r[0][2], std::to_string(t1 / kMicrosPerSecond));
  EXPECT_EQ(r[0][3], std::to_string(DaysFromCivil(2105, 12, 31)));
  EXPECT_EQ(r[1][1], "\\N");
  EXPECT_EQ(r[1][3], "0");

  // The same table refuses what DateTime / Date cannot hold, naming the
  // part, row and column (and nothing of the part is left).
  BatchBuilder bad(schema);
  bad.column(0).AppendFixed<int64_t>(3);
  bad.column(1).AppendFixed<int64_t>(t1 + 123456);  // microseconds
  bad.column(2).AppendFixed<int32_t>(0);
  auto sink = MakeSink("");
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Open(schema).ok());
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  auto r1 = (*w)->ApplyPart(Part("bad1", 1), {bad.Finish()});
  ASSERT_FALSE(r1.ok());
  EXPECT_NE(r1.status().message().find(
                "part bad1: row 1 column \"tz\": timestamp 2021-03-28 01:30:00.123456 has a "
                "fraction of a second"),
            std::string::npos)
      << r1.status().message();
  BatchBuilder old(schema);
  old.column(0).AppendFixed<int64_t>(4);
  old.column(1).AppendNull();
  old.column(2).AppendFixed<int32_t>(DaysFromCivil(1969, 7, 20));
  auto r2 = (*w)->ApplyPart(Part("bad2", 1), {old.Finish()});
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find(
                "row 1 column \"d\": date 1969-07-20 is outside ClickHouse Date's range "
                "1970-01-01..2105-12-31"),
            std::string::npos)
      << r2.status().message();
  EXPECT_EQ(Count(Q(table_)), 2);

  // Text columns hold any timestamp, with fixed-width text.
  Forget(table_);
  RecordBatch all = testing::AllTypesBatch(20);
  ASSERT_TRUE(Load("timestamps=string&dates=string", all.schema(), {all}).ok());
  Rows t = Client("SELECT ts, d FROM " + Q(table_) +
                  " WHERE i64 = " + std::to_string(std::numeric_limits<int64_t>::max()));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0][0], "9999-12-31 23:59:59.999999");
  EXPECT_EQ(t[0][1], "9999-12-31");
}

// The body is made while it is sent (ChPartBody): a value the column cannot
// hold far into a large part cuts the request after megabytes went out.
// The error names the part, row and column, the server keeps nothing of the
// cut body, and the part applies whole once its data is fixed, in every
// body format and dedup mode.
TEST_F(ClickhouseSinkTest, AValueThatCannotBeWrittenCutsTheStreamedBodyAndLeavesNothing) {
  auto schema = std::make_shared<const Schema>(std::vector<Field>{
      {"id", DataType::Int64(), false, true},
      {"ts", DataType::TimestampTz("UTC"), false},
  });
  constexpr int64_t kRows = 300'000;  // 4.8 MB of Native body
  constexpr int64_t kBadRow = 250'000;
  auto make = [&](bool bad) {
    BatchBuilder bb(schema);
    for (int64_t i = 1; i <= kRows; ++i) {
      bb.column(0).AppendFixed<int64_t>(i);
      bb.column(1).AppendFixed<int64_t>((1'600'000'000 + i) * kMicrosPerSecond +
                                        (bad && i == kBadRow ? 5 : 0));
    }
    return bb.Finish();
  };
  const RecordBatch bad = make(true), good = make(false);
  for (const std::string options : {"", "dedup=none", "format=rowbinary"}) {
    SCOPED_TRACE(options);
    Forget(table_);
    auto sink = MakeSink("timestamps=datetime" + (options.empty() ? "" : "&" + options));
    ASSERT_TRUE(sink.ok());
    ASSERT_TRUE((*sink)->Open(schema).ok());
    auto w = (*sink)->NewWriter();
    ASSERT_TRUE(w.ok());
    // Two batches: the row number counts across them.
    auto r = (*w)->ApplyPart(Part("big", kRows), {bad.Slice(0, 100'000), bad.Slice(100'000, 200'000)});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidData) << r.status().ToString();
    EXPECT_NE(r.status().message().find("part big"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("row " + std::to_string(kBadRow) +
                                        " column \"ts\": timestamp 2020-09-16 09:53:20.000005 "),
              std::string::npos)
        << r.status().message();
    EXPECT_NE(r.status().message().find("has a fraction of a second"), std::string::npos)
        << r.status().message();
    EXPECT_EQ(Count(Q(table_)), 0);
    r = (*w)->ApplyPart(Part("big", kRows), {good});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, ApplyOutcome::kApplied);
    ASSERT_TRUE((*sink)->Commit().ok());
    EXPECT_EQ(Count(Q(table_)), kRows);
    Rows sums = Client("SELECT sum(id), sum(toUInt32(ts)) FROM " + Q(table_));
    ASSERT_EQ(sums.size(), 1u);
    EXPECT_EQ(sums[0][0], std::to_string(kRows * (kRows + 1) / 2));
    EXPECT_EQ(sums[0][1], std::to_string(kRows * 1'600'000'000 + kRows * (kRows + 1) / 2));
  }
}

// One ledger INSERT records an event of many parts (a grouped INSERT's
// begin/done), names quoted, and one read returns them all. The rows are
// stamped with now() once: a UNION ALL of SELECTs with now() failed on
// 18.16 whenever they straddled a second (found by the 10M-row benchmark),
// and an array of tuples took 60 s for these 2000 parts (quadratic).
TEST_F(ClickhouseSinkTest, TheLedgerRecordsAndReadsManyPartsAtOnce) {
  ChLedgerTarget t;
  t.database = db_;
  t.table = table_;
  t.qtable = Q(table_);
  t.qledger = Q("_sluice_ledger");
  t.target = db_ + "." + table_ + "#test" + std::to_string(::getpid());
  Sql(LedgerCreateSql(t.qledger));
  Sql("ALTER TABLE " + t.qledger + " DELETE WHERE target = " + ChQuoteString(t.target));
  WaitMutations("_sluice_ledger");
  ChLedger ledger(admin_.get(), &t);
  std::vector<PartInfo> parts;
  std::vector<std::string> ids;
  for (int i = 0; i < 2000; ++i) {
    PartInfo p = Part("it's part " + std::to_string(i), 10 + i, i + 1);
    p.stream_id = "s\\'" + std::to_string(i % 7);
    parts.push_back(p);
    ids.push_back(p.part_id);
  }
  ASSERT_TRUE(ledger.RecordParts(parts, 42, LedgerEvent::kBegin, true).ok());
  ASSERT_TRUE(ledger.RecordParts(parts, 42, LedgerEvent::kDone, true).ok());
  auto read = ledger.ReadParts(ids);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), parts.size());
  for (const PartInfo& p : parts) {
    const PartLedger& l = (*read)[p.part_id];
    ASSERT_EQ(l.size(), 1u) << p.part_id;
    EXPECT_TRUE(l.at(42).valid()) << p.part_id;
  }
  EXPECT_EQ(One("SELECT sum(rows) FROM " + t.qledger + " WHERE target = " +
                ChQuoteString(t.target) + " AND event = 1"),
            std::to_string(2000 * 10 + 1999 * 2000 / 2));
  EXPECT_EQ(One("SELECT uniqExact(stream_id) FROM " + t.qledger + " WHERE target = " +
                ChQuoteString(t.target)),
            "7");
  auto one = ledger.Read(parts[5].part_id);
  ASSERT_TRUE(one.ok());
  EXPECT_TRUE(one->at(42).valid());
}

// Parts handed to ApplyParts from memory, as the copy runtime hands its
// chunks; Next fails at `fail_at` (0-based) when set.
class VectorFeed final : public PartFeed {
 public:
  void Add(const std::string& id, std::vector<RecordBatch> batches) {
    Item item;
    item.info = Part(id, 0, static_cast<int64_t>(parts_.size()) + 1);
    for (const RecordBatch& b : batches) {
      item.info.rows += b.num_rows();
      item.bytes += b.ByteSize();
    }
    parts_.push_back({item, std::move(batches)});
  }
  Result<const Item*> Next(std::chrono::milliseconds wait) override {
    waits.push_back(wait.count());
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    if (stall_once && wait.count() >= 0) {
      // The source is slower than the wait: nothing comes in time.
      stall_once = false;
      std::this_thread::sleep_for(wait);
      return nullptr;
    }
    if (fail_at >= 0 && next_ == static_cast<size_t>(fail_at)) {
      return Status::Cancelled("the run was stopped");
    }
    if (next_ == parts_.size()) return nullptr;
    auto& [item, batches] = parts_[next_++];
    item.batches = &batches;
    return &item;
  }
  // `parts` parts of IdTsBatch rows, `rows` each, ids from `first_id` on,
  // named prefix0, prefix1, ...
  void AddIdTs(const std::string& prefix, int parts, int64_t rows, int64_t first_id = 1,
               int64_t bad_row = 0) {
    for (int i = 0; i < parts; ++i) {
      Add(prefix + std::to_string(i), {IdTsBatch(first_id + i * rows, rows, bad_row)});
    }
  }
  size_t taken() const { return next_; }
  int fail_at = -1;
  bool stall_once = false;     // the first bounded wait times out
  int delay_ms = 0;            // before every part (a slow source)
  std::vector<int64_t> waits;  // of each Next call, in ms (-1: forever)

 private:
  std::vector<std::pair<Item, std::vector<RecordBatch>>> parts_;
  size_t next_ = 0;
};

// Rows id 1..n (Int64 key) and ts (a whole second from 2020-09-13 on, plus
// `fraction` µs at row `bad_row`: not writable as a DateTime).
RecordBatch IdTsBatch(int64_t first, int64_t n, int64_t bad_row) {
  auto schema = std::make_shared<const Schema>(std::vector<Field>{
      {"id", DataType::Int64(), false, true},
      {"ts", DataType::TimestampTz("UTC"), false},
  });
  BatchBuilder bb(schema);
  for (int64_t i = first; i < first + n; ++i) {
    bb.column(0).AppendFixed<int64_t>(i);
    bb.column(1).AppendFixed<int64_t>((1'600'000'000 + i) * kMicrosPerSecond +
                                      (i == bad_row ? 5 : 0));
  }
  return bb.Finish();
}

// Consecutive parts go in one INSERT up to insert_rows: 3 parts of 400k
// rows make two INSERTs (800k, then 400k), each one attempt; delivered
// again, every part is skipped.
TEST_F(ClickhouseSinkTest, GroupedInsertsApplyEachPartOnceAndSkipThemOnRedelivery) {
  constexpr int64_t kPart = 400'000;
  std::vector<RecordBatch> parts;
  for (int i = 0; i < 3; ++i) parts.push_back(IdTsBatch(1 + i * kPart, kPart));
  auto sink = MakeSink("timestamps=datetime");
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Open(parts[0].schema()).ok());
  for (int delivery = 0; delivery < 2; ++delivery) {
    SCOPED_TRACE(delivery);
    auto w = (*sink)->NewWriter();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->GroupsParts());
    VectorFeed feed;
    // Two batches in the middle part: a part is any number of batches.
    feed.Add("g0", {parts[0]});
    feed.Add("g1", {parts[1].Slice(0, 1000), parts[1].Slice(1000, kPart - 1000)});
    feed.Add("g2", {parts[2]});
    const ApplyOutcome want =
        delivery == 0 ? ApplyOutcome::kApplied : ApplyOutcome::kAlreadyApplied;
    auto first = (*w)->ApplyParts(&feed);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_EQ(*first, (std::vector<ApplyOutcome>{want, want}));
    auto second = (*w)->ApplyParts(&feed);
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    EXPECT_EQ(*second, (std::vector<ApplyOutcome>{want}));
    auto end = (*w)->ApplyParts(&feed);
    ASSERT_TRUE(end.ok()) << end.status().ToString();
    EXPECT_TRUE(end->empty());
    EXPECT_EQ(Count(Q(table_)), 3 * kPart);
  }
  ASSERT_TRUE((*sink)->Commit().ok());
  // Two attempts, one per INSERT; each part's rows carry their own id.
  EXPECT_EQ(One("SELECT uniqExact(_sluice_attempt) FROM " + Q(table_)), "2");
  EXPECT_EQ(One("SELECT groupArray(n) FROM (SELECT _sluice_part, count() AS n FROM " + Q(table_) +
                " GROUP BY _sluice_part ORDER BY _sluice_part)"),
            "[400000,400000,400000]");
  EXPECT_EQ(One("SELECT sum(id) = 1200000 * 1200001 / 2 FROM " + Q(table_)), "1");
  // begin and done of each part, nothing else.
  EXPECT_EQ(One("SELECT groupArray(e) FROM (SELECT toString(groupArray(event)) AS e FROM (SELECT "
                "part_id, event FROM " +
                Q("_sluice_ledger") + " WHERE target = " + Target(table_) +
                " ORDER BY part_id, event) GROUP BY part_id ORDER BY part_id)"),
            "['[1,2]','[1,2]','[1,2]']");
}

// A value the column cannot hold in the last of three parts, 1.1M rows into
// the body (past the server's default squashing of 1,048,576 rows): the
// INSERT is cut and nothing of it is written, no part counts as begun, and
// the parts can be applied again.
TEST_F(ClickhouseSinkTest, AValueThatCannotBeWrittenLateInAGroupedInsertLeavesNothing) {
  constexpr int64_t kPart = 400'000;
  auto sink = OpenIdTsSink("insert_rows=2000000");
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  VectorFeed feed;
  feed.AddIdTs("b", 3, kPart, 1, /*bad_row=*/2 * kPart + 300'000);
  auto r = (*w)->ApplyParts(&feed);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidData) << r.status().ToString();
  EXPECT_NE(r.status().message().find("part b2"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("row 300000 column \"ts\""), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("a re-run applies them"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(feed.taken(), 3u);
  EXPECT_EQ(Count(Q(table_)), 0);
  EXPECT_EQ(One("SELECT count() FROM " + Q("_sluice_ledger") + " WHERE target = " + Target(table_)),
            "0");
  // The same parts, fixed, from a new feed: applied once.
  VectorFeed good;
  good.AddIdTs("b", 3, kPart);
  auto again = (*w)->ApplyParts(&good);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->size(), 3u);
  ASSERT_TRUE((*sink)->Commit().ok());
  EXPECT_EQ(Count(Q(table_)), 3 * kPart);
  EXPECT_EQ(One("SELECT sum(id) = 1200000 * 1200001 / 2 FROM " + Q(table_)), "1");
}

// The run stops while a grouped INSERT is open: the feed's error cuts the
// body, and nothing of the parts already sent is written.
TEST_F(ClickhouseSinkTest, AStoppedFeedCutsTheGroupedInsert) {
  for (const std::string options : {"", "dedup=none", "format=rowbinary"}) {
    SCOPED_TRACE(options);
    Forget(table_);
    auto sink = OpenIdTsSink(options);
    ASSERT_TRUE(sink.ok()) << sink.status().ToString();
    auto w = (*sink)->NewWriter();
    ASSERT_TRUE(w.ok());
    VectorFeed feed;
    feed.AddIdTs("s", 3, 1000);
    feed.fail_at = 2;
    auto r = (*w)->ApplyParts(&feed);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCancelled) << r.status().ToString();
    EXPECT_EQ(Count(Q(table_)), 0);
  }
}

// The first part of a group is awaited before the INSERT starts, as long as
// the source takes; later ones only while the INSERT may stay open (a
// quarter of `timeout`): a slow source ends the group, not the request.
TEST_F(ClickhouseSinkTest, ASlowSourceEndsTheGroupedInsertNotTheRequest) {
  auto sink = OpenIdTsSink("timeout=4s");
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  VectorFeed feed;
  feed.AddIdTs("w", 3, 1000);
  feed.stall_once = true;
  auto first = (*w)->ApplyParts(&feed);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, std::vector<ApplyOutcome>{ApplyOutcome::kApplied});
  ASSERT_EQ(feed.waits.size(), 2u);
  EXPECT_EQ(feed.waits[0], -1);
  EXPECT_GT(feed.waits[1], 0);
  EXPECT_LE(feed.waits[1], 1000);
  EXPECT_EQ(Count(Q(table_)), 1000);
  auto rest = (*w)->ApplyParts(&feed);
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  EXPECT_EQ(*rest, (std::vector<ApplyOutcome>{ApplyOutcome::kApplied, ApplyOutcome::kApplied}));
  ASSERT_TRUE((*sink)->Commit().ok());
  EXPECT_EQ(Count(Q(table_)), 3000);
  EXPECT_EQ(One("SELECT uniqExact(_sluice_attempt) FROM " + Q(table_)), "2");
}

// Grouped INSERTs of two writers at once, in every dedup mode: each runs
// under a query id of its own (the server refuses two INSERTs with one id).
TEST_F(ClickhouseSinkTest, GroupedInsertsOfTwoWritersRunAtOnce) {
  for (const std::string options : {"", "dedup=none"}) {
    SCOPED_TRACE(options);
    Forget(table_);
    auto sink = OpenIdTsSink(options);
    ASSERT_TRUE(sink.ok()) << sink.status().ToString();
    std::vector<VectorFeed> feeds(2);
    for (int f = 0; f < 2; ++f) {
      feeds[f].delay_ms = 150;
      feeds[f].AddIdTs("c" + std::to_string(f) + "_", 3, 10'000, 1 + f * 30'000);
    }
    std::vector<Result<std::vector<ApplyOutcome>>> results(2, Status::Internal("not run"));
    std::vector<std::thread> threads;
    for (int f = 0; f < 2; ++f) {
      threads.emplace_back([&, f] {
        auto w = (*sink)->NewWriter();
        if (!w.ok()) {
          results[f] = w.status();
          return;
        }
        results[f] = (*w)->ApplyParts(&feeds[f]);
      });
    }
    for (auto& t : threads) t.join();
    for (int f = 0; f < 2; ++f) {
      ASSERT_TRUE(results[f].ok()) << results[f].status().ToString();
      EXPECT_EQ(results[f]->size(), 3u);
    }
    ASSERT_TRUE((*sink)->Commit().ok());
    EXPECT_EQ(Count(Q(table_)), 60'000);
    EXPECT_EQ(One("SELECT uniqExact(id) FROM " + Q(table_)), "60000");
  }
}

// A grouped INSERT meets parts in every ledger state: one applied before
// (skipped), one a killed writer left half-written (settled on its own:
// the leftover rows go, the part is applied once), one new (sent).
// With the ledger's part ids read once per group (the default), and with
// each part read on its own (ledger_snapshot=1: the ledger holds 2 parts).
TEST_F(ClickhouseSinkTest, AGroupedInsertSettlesPartsLeftByAKilledWriter) {
  for (const char* snapshot : {"", "&ledger_snapshot=1"}) {
    SCOPED_TRACE(snapshot);
    GroupedInsertSettlesPartsLeftByAKilledWriter(snapshot);
    Forget(table_);
  }
}

void ClickhouseSinkTest::GroupedInsertSettlesPartsLeftByAKilledWriter(const std::string& extra) {
  RecordBatch all = IdTsBatch(1, 300);
  ASSERT_TRUE(Load("timestamps=datetime", all.schema(), {all.Slice(0, 100)}).ok());  // "p0"
  const std::string cols = Cols(*all.schema());
  Sql("INSERT INTO " + Q(table_) + " (" + cols + ", _sluice_part, _sluice_attempt) SELECT " + cols +
      ", 'p1', 777 FROM " + Q(table_) + " WHERE _sluice_part = 'p0' LIMIT 20");
  Sql("INSERT INTO " + Q("_sluice_ledger") + " SELECT " + Target(table_) +
      ", 'p1', 777, 1, 100, 's', 2, now()");
  auto sink = MakeSink("timestamps=datetime&settle=300ms" + extra);
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Open(all.schema()).ok());
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  VectorFeed feed;
  feed.Add("p0", {all.Slice(0, 100)});
  feed.Add("p1", {all.Slice(100, 100)});
  feed.Add("p2", {all.Slice(200, 100)});
  auto r = (*w)->ApplyParts(&feed);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (std::vector<ApplyOutcome>{ApplyOutcome::kAlreadyApplied, ApplyOutcome::kApplied,
                                           ApplyOutcome::kApplied}));
  ASSERT_TRUE((*sink)->Commit().ok());
  EXPECT_EQ(Count(Q(table_)), 300);
  EXPECT_EQ(Count(Q(table_), "_sluice_attempt = 777"), 0);
  EXPECT_EQ(One("SELECT uniqExact(id) FROM " + Q(table_)), "300");
  EXPECT_EQ(One("SELECT sum(id) FROM " + Q(table_)), std::to_string(300 * 301 / 2));
}

TEST_F(ClickhouseSinkTest, ZeroRowsCreatesTheTable) {
  auto schema = testing::AllTypesSchema();
  ASSERT_TRUE(Load("", schema, {testing::AllTypesBatch(0)}).ok());
  EXPECT_EQ(Count(Q(table_)), 0);
  EXPECT_EQ(ColumnTypes(table_).size(), static_cast<size_t>(schema->num_fields()) + 2);
}

// Names that need quoting (backquotes, backslashes, quotes, spaces, unicode,
// SQL) stay names: a canary table survives.
TEST_F(ClickhouseSinkTest, IdentifiersThatNeedQuoting) {
  Sql("CREATE TABLE IF NOT EXISTS " + Q("canary") + " (x Int8) ENGINE = TinyLog");
  table_ = "we`ird \\ 'näme\"; DROP TABLE canary; --";
  Forget(table_);
  auto schema = std::make_shared<const Schema>(std::vector<Field>{
      {"id`) ENGINE = Memory; --", DataType::Int64(), false, true},
      {"значение с пробелом", DataType::String(), true},
      {"a\\b'c", DataType::Int32(), true},
  });
  BatchBuilder bb(schema);
  for (int i = 0; i < 5; ++i) {
    bb.column(0).AppendFixed<int64_t>(i);
    bb.column(1).AppendBytes("ünï " + std::to_string(i));
    bb.column(2).AppendFixed<int32_t>(i * 10);
  }
  RecordBatch b = bb.Finish();
  ASSERT_TRUE(Load("", schema, {b}).ok());
  ExpectTableEquals(Q(table_), b, "id`) ENGINE = Memory; --");
  EXPECT_EQ(One("EXISTS TABLE " + Q("canary")), "1");
  Forget(table_);
}

TEST_F(ClickhouseSinkTest, ErrorsAreClear) {
  auto schema = testing::AllTypesSchema();
  // create=false and no table.
  {
    auto sink = MakeSink("create=false");
    ASSERT_TRUE(sink.ok());
    Status st = (*sink)->Open(schema);
    EXPECT_EQ(st.code(), StatusCode::kNotFound) << st.ToString();
    EXPECT_NE(st.message().find("table `" + db_ + "`.`" + table_ + "`"), std::string::npos)
        << st.message();
    EXPECT_NE(st.message().find("does not exist (create=false)"), std::string::npos)
        << st.message();
  }
  auto uri = Uri::Parse(BaseUri());
  ASSERT_TRUE(uri.ok());
  const std::string hostport = uri->host + ":" + std::to_string(uri->port);
  // Wrong password of an existing user (scripts/services.sh: sluice/sluice_pw).
  {
    auto sink = MakeSink("", "clickhouse://sluice:wrong@" + hostport + "/" + db_);
    ASSERT_TRUE(sink.ok());
    Status st = (*sink)->Open(schema);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    EXPECT_NE(st.message().find("clickhouse " + hostport + ": "), std::string::npos)
        << st.message();
    EXPECT_NE(st.message().find(
                  "authentication failed for user 'sluice': Wrong password for user sluice"),
              std::string::npos)
        << st.message();
    EXPECT_EQ(st.message().find("wrong@"), std::string::npos)
        << "password in the message: " << st.message();
  }
  // The right one works.
  {
    auto sink = MakeSink("", "clickhouse://sluice:sluice_pw@" + hostport + "/" + db_);
    ASSERT_TRUE(sink.ok());
    Status st = (*sink)->Open(schema);
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  // Unknown database.
  {
    auto sink = MakeSink("", "clickhouse://" + hostport + "/no_such_db");
    ASSERT_TRUE(sink.ok());
    Status st = (*sink)->Open(schema);
    EXPECT_EQ(st.code(), StatusCode::kNotFound) << st.ToString();
    EXPECT_NE(st.message().find("database `no_such_db` does not exist on " + hostport),
              std::string::npos)
        << st.message();
  }
  // Server down: nothing listens on the port.
  {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    const int port = ntohs(a.sin_port);
    close(fd);  // a free port, closed
    auto sink = MakeSink("retries=1", "clickhouse://127.0.0.1:" + std::to_string(port) + "/" + db_);
    ASSERT_TRUE(sink.ok());
    Status st = (*sink)->Open(schema);
    EXPECT_EQ(st.code(), StatusCode::kRetryable) << st.ToString();
    EXPECT_NE(st.message().find("cannot connect to 127.0.0.1:" + std::to_string(port)),
              std::string::npos)
        << st.message();
  }
  // A server error carries the server's text: a PARTITION BY that is not SQL.
  {
    Forget(table_);
    auto sink = MakeSink("partition_by=" + Enc("toYYYYMM(no_such_column)"));
    ASSERT_TRUE(sink.ok());
    Status st = (*sink)->Open(schema);
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find(
                  "creating the table: server error 47: Unknown identifier: no_such_column"),
              std::string::npos)
        << st.message();
  }
}

// A part delivered again (same writer, another writer, another process after
// a restart) is skipped.
TEST_F(ClickhouseSinkTest, RedeliveredPartsAreSkipped) {
  RecordBatch all = testing::AllTypesBatch(120);
  ASSERT_TRUE(Load("", all.schema(), {all.Slice(0, 60), all.Slice(60, 60)}).ok());
  auto sink = MakeSink("");
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Open(all.schema()).ok());
  auto w1 = (*sink)->NewWriter();
  auto w2 = (*sink)->NewWriter();
  ASSERT_TRUE(w1.ok() && w2.ok());
  for (auto* w : {w1->get(), w2->get()}) {
    auto r = w->ApplyPart(Part("p0", 60), {all.Slice(0, 60)});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, ApplyOutcome::kAlreadyApplied);
  }
  auto r3 = (*w1)->ApplyPart(Part("p2", 10), {all.Slice(0, 10)});
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(*r3, ApplyOutcome::kApplied);
  auto r4 = (*w2)->ApplyPart(Part("p2", 10), {all.Slice(0, 10)});
  ASSERT_TRUE(r4.ok());
  EXPECT_EQ(*r4, ApplyOutcome::kAlreadyApplied);
  ASSERT_TRUE((*sink)->Commit().ok());
  EXPECT_EQ(Count(Q(table_)), 130);
  EXPECT_EQ(Count(Q(table_), "_sluice_part = 'p2'"), 10);
}

// The state a killed writer leaves: its attempt began, some of its rows
// landed (an insert spanning several partitions lands partition by
// partition), no "done". The next delivery voids that attempt, deletes its
// rows and applies the part exactly once.
TEST_F(ClickhouseSinkTest, PartialPartOfAKilledWriterIsRedone) {
  RecordBatch all = testing::AllTypesBatch(100);
  ASSERT_TRUE(Load("partition_by=" + Enc("i64 % 4"), all.schema(), {all.Slice(0, 50)}).ok());
  // "p1" (rows 50..99) half-written by attempt 777, which never finished.
  const std::string cols = Cols(*all.schema());
  Sql("INSERT INTO " + Q(table_) + " (" + cols + ", _sluice_part, _sluice_attempt) SELECT " + cols +
      ", 'p1', 777 FROM " + Q(table_) + " WHERE _sluice_part = 'p0' LIMIT 20");
  Sql("INSERT INTO " + Q("_sluice_ledger") + " SELECT " + Target(table_) +
      ", 'p1', 777, 1, 50, 's', 2, now()");
  EXPECT_EQ(Count(Q(table_)), 70);
  auto sink = MakeSink("settle=300ms&partition_by=" + Enc("i64 % 4"));
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Open(all.schema()).ok());
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  auto r = (*w)->ApplyPart(Part("p1", 50, 2), {all.Slice(50, 50)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, ApplyOutcome::kApplied);
  ASSERT_TRUE((*sink)->Commit().ok());
  EXPECT_EQ(Count(Q(table_)), 100);
  EXPECT_EQ(Count(Q(table_), "_sluice_attempt = 777"), 0);
  ExpectTableEquals(Q(table_), all, "i64");
  // The void attempt is recorded as such (fence; purged once it could not
  // add rows any more is not known for a foreign attempt: not purged yet).
  EXPECT_EQ(One("SELECT groupArray(event) FROM (SELECT event FROM " + Q("_sluice_ledger") +
                " WHERE target = " + Target(table_) + " AND attempt = 777 ORDER BY event)"),
            "[1,3]");
}

// An attempt that is "done" but voided (a concurrent duplicate that lost),
// with its rows still there: the next delivery removes them.
TEST_F(ClickhouseSinkTest, RowsOfVoidAttemptsAreRemovedOnRedelivery) {
  RecordBatch all = testing::AllTypesBatch(40);
  ASSERT_TRUE(Load("", all.schema(), {all}).ok());
  const std::string cols = Cols(*all.schema());
  Sql("INSERT INTO " + Q(table_) + " (" + cols + ", _sluice_part, _sluice_attempt) SELECT " + cols +
      ", 'p0', 555 FROM " + Q(table_) + " WHERE _sluice_part = 'p0'");
  const std::string target = Target(table_);
  for (int e : {1, 2, 3}) {
    Sql("INSERT INTO " + Q("_sluice_ledger") + " SELECT " + target + ", 'p0', 555, " +
        std::to_string(e) + ", 40, 's', 1, now()");
  }
  EXPECT_EQ(Count(Q(table_)), 80);
  auto sink = MakeSink("");
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Open(all.schema()).ok());
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  auto r = (*w)->ApplyPart(Part("p0", 40), {all});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, ApplyOutcome::kAlreadyApplied);
  EXPECT_EQ(Count(Q(table_)), 40);
  EXPECT_EQ(Count(Q("_sluice_ledger"), "target = " + target + " AND attempt = 555 AND event = 4"),
            1);
}

// Two writers began the same part at once (both found no attempt), one
// completed it, the other was killed after its INSERT and before "done": its
// rows are a second copy beside a valid attempt. The redelivery of the
// killed copy waits out `settle`, voids it and deletes its rows. (Found by
// tests/integration/test_ref004_clickhouse.py: parts exported twice, the
// importer killed while two workers applied both copies in lockstep.)
TEST_F(ClickhouseSinkTest, AnUnfinishedAttemptBesideAValidOneIsRemoved) {
  RecordBatch all = testing::AllTypesBatch(40);
  ASSERT_TRUE(Load("", all.schema(), {all}).ok());
  const std::string cols = Cols(*all.schema());
  Sql("INSERT INTO " + Q(table_) + " (" + cols + ", _sluice_part, _sluice_attempt) SELECT " + cols +
      ", 'p0', 888 FROM " + Q(table_) + " WHERE _sluice_part = 'p0'");
  const std::string target = Target(table_);
  Sql("INSERT INTO " + Q("_sluice_ledger") + " SELECT " + target + ", 'p0', 888, 1, 40, 's', 1, now()");
  EXPECT_EQ(Count(Q(table_)), 80);
  auto sink = MakeSink("settle=300ms");
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Open(all.schema()).ok());
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  auto r = (*w)->ApplyPart(Part("p0", 40), {all});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, ApplyOutcome::kAlreadyApplied);
  EXPECT_EQ(Count(Q(table_)), 40);
  EXPECT_EQ(Count(Q(table_), "_sluice_attempt = 888"), 0);
  ExpectTableEquals(Q(table_), all, "i64");
  EXPECT_EQ(Count(Q("_sluice_ledger"), "target = " + target + " AND attempt = 888 AND event = 3"),
            1);
}

// Both writers of a part recorded "done", and the one that had to step back
// was killed before it could: two valid attempts, the rows twice. The next
// delivery keeps the lowest attempt id and removes the other's rows.
TEST_F(ClickhouseSinkTest, OnlyOneOfTwoValidAttemptsStays) {
  RecordBatch all = testing::AllTypesBatch(40);
  ASSERT_TRUE(Load("", all.schema(), {all}).ok());
  const std::string cols = Cols(*all.schema());
  const std::string first = One("SELECT any(_sluice_attempt) FROM " + Q(table_));
  // 1 sorts before the random 64-bit attempt of the load: the load's copy goes.
  Sql("INSERT INTO " + Q(table_) + " (" + cols + ", _sluice_part, _sluice_attempt) SELECT " + cols +
      ", 'p0', 1 FROM " + Q(table_) + " WHERE _sluice_part = 'p0'");
  const std::string target = Target(table_);
  for (int e : {1, 2}) {
    Sql("INSERT INTO " + Q("_sluice_ledger") + " SELECT " + target + ", 'p0', 1, " +
        std::to_string(e) + ", 40, 's', 1, now()");
  }
  EXPECT_EQ(Count(Q(table_)), 80);
  auto sink = MakeSink("");
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Open(all.schema()).ok());
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  auto r = (*w)->ApplyPart(Part("p0", 40), {all});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, ApplyOutcome::kAlreadyApplied);
  EXPECT_EQ(Count(Q(table_)), 40);
  EXPECT_EQ(Count(Q(table_), "_sluice_attempt = 1"), 40);
  ExpectTableEquals(Q(table_), all, "i64");
  EXPECT_EQ(Count(Q("_sluice_ledger"),
                  "target = " + target + " AND attempt = " + first + " AND event = 3"),
            1);
}

// A table dropped and loaded again is a new table to the ledger: the parts
// applied to the old one are applied again.
TEST_F(ClickhouseSinkTest, ADroppedTableIsLoadedAgain) {
  RecordBatch all = testing::AllTypesBatch(50);
  ASSERT_TRUE(Load("", all.schema(), {all}).ok());
  const std::string first = Target(table_);
  Sql("DROP TABLE " + Q(table_));
  ASSERT_TRUE(Load("", all.schema(), {all}).ok());
  EXPECT_NE(Target(table_), first);
  ExpectTableEquals(Q(table_), all, "i64");
  // A copy of the table (same comment) is not mistaken for it either.
  Sql("DROP TABLE IF EXISTS " + Q(table_ + "_copy"));
  Sql("CREATE TABLE " + Q(table_ + "_copy") + " AS " + Q(table_));
  const std::string original = table_;
  table_ += "_copy";
  ASSERT_TRUE(Load("", all.schema(), {all}).ok());
  EXPECT_EQ(Count(Q(table_)), 50);
  EXPECT_NE(Target(table_), Target(original));
  Forget(table_);
}

// Commit sweeps up what writers of long-dead runs left in parts nobody
// delivered again: an attempt begun over an hour ago, never finished.
TEST_F(ClickhouseSinkTest, CommitRemovesLeftoversOfDeadRuns) {
  RecordBatch all = testing::AllTypesBatch(30);
  ASSERT_TRUE(Load("", all.schema(), {all}).ok());
  const std::string cols = Cols(*all.schema());
  Sql("INSERT INTO " + Q(table_) + " (" + cols + ", _sluice_part, _sluice_attempt) SELECT " + cols +
      ", 'gone', 42 FROM " + Q(table_) + " LIMIT 7");
  Sql("INSERT INTO " + Q("_sluice_ledger") + " SELECT " + Target(table_) +
      ", 'gone', 42, 1, 30, 's', 9, now() - 7200");
  EXPECT_EQ(Count(Q(table_)), 37);
  ASSERT_TRUE(Load("", all.schema(), {}).ok());  // a run with nothing to write still commits
  EXPECT_EQ(Count(Q(table_)), 30);
  EXPECT_EQ(Count(Q(table_), "_sluice_part = 'gone'"), 0);
}

// A TCP proxy in front of the server that can lose the answer to one INSERT:
// the request reaches the server (which executes it), the client sees the
// connection drop. Requests are parsed (curl sends Content-Length bodies) so
// that "the answer to THAT request" is known on keep-alive connections.
class LossyProxy {
 public:
  explicit LossyProxy(int upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    listen(listen_fd_, 16);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~LossyProxy() {
    stop_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    acceptor_.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& t : conns_) t.join();
  }
  int port() const { return port_; }
  // The next `n` requests whose URL contains `needle` lose their answers.
  void LoseAnswers(const std::string& needle, int n) {
    std::lock_guard<std::mutex> lock(mu_);
    needle_ = needle;
    lose_ = n;
  }
  int lost() const { return lost_.load(); }

 private:
  void Accept() {
    while (!stop_) {
      int c = accept(listen_fd_, nullptr, nullptr);
      if (c < 0) return;
      std::lock_guard<std::mutex> lock(mu_);
      conns_.emplace_back([this, c] { Serve(c); });
    }
  }

  static bool ReadSome(int fd, std::string* buf) {
    char tmp[65536];
    ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    buf->append(tmp, static_cast<size_t>(n));
    return true;
  }
  // The length of a complete chunked body starting at `from` (size line,
  // data, CRLF; a zero size and CRLF end it), or nullopt while incomplete.
  static std::optional<size_t> ChunkedBodySize(const std::string& in, size_t from) {
    size_t at = from;
    while (true) {
      const size_t eol = in.find("\r\n", at);
      if (eol == std::string::npos) return std::nullopt;
      const size_t n = std::strtoul(in.c_str() + at, nullptr, 16);
      at = eol + 2 + n + 2;
      if (at > in.size()) return std::nullopt;
      if (n == 0) return at - from;
    }
  }
  static bool SendAll(int fd, std::string_view s) {
    while (!s.empty()) {
      ssize_t n = send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      s.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  void Serve(int client) {
    int up = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(upstream_port_));
    if (connect(up, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      close(client);
      close(up);
      return;
    }
    std::string in;  // from the client, not yet forwarded
    bool lose_this = false;
    bool request_sent = false;
    while (!stop_) {
      pollfd fds[2] = {{client, POLLIN, 0}, {up, POLLIN, 0}};
      if (poll(fds, 2, 200) < 0) break;
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        if (!ReadSome(client, &in)) break;
        // Forward whole requests: head + Content-Length bytes.
        while (true) {
          size_t head_end = in.find("\r\n\r\n");
          if (head_end == std::string::npos) break;
          std::string head = in.substr(0, head_end + 4);
          size_t body = 0;
          std::string lower = head;
          for (auto& ch : lower)
            ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          size_t cl = lower.find("content-length:");
          if (cl != std::string::npos) body = std::strtoul(head.c_str() + cl + 15, nullptr, 10);
          if (lower.find("transfer-encoding: chunked") != std::string::npos) {
            // The sink streams INSERT bodies: chunks up to the empty one.
            const std::optional<size_t> chunked = ChunkedBodySize(in, head.size());
            if (!chunked) break;
            body = *chunked;
          }
          if (in.size() < head.size() + body) break;
          {
            std::lock_guard<std::mutex> lock(mu_);
            const size_t line_end = head.find("\r\n");
            lose_this = lose_ > 0 && head.substr(0, line_end).find(needle_) != std::string::npos;
            if (lose_this) --lose_;
          }
          if (!SendAll(up, std::string_view(in).substr(0, head.size() + body))) goto done;
          in.erase(0, head.size() + body);
          request_sent = true;
        }
      }
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        std::string out;
        if (!ReadSome(up, &out)) break;
        if (lose_this && request_sent) {
          // The server answered: the client never hears it.
          ++lost_;
          break;
        }
        if (!SendAll(client, out)) break;
      }
    }
  done:
    close(client);
    close(up);
  }

  int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> lost_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> conns_;
  std::string needle_;
  int lose_ = 0;
};

// The sink URI of database `db` on the server `server` names, through `proxy`.
std::string ViaProxy(const Uri& server, const LossyProxy& proxy, const std::string& db) {
  return "clickhouse://" + server.user + "@127.0.0.1:" + std::to_string(proxy.port()) + "/" + db;
}

// The server executes an INSERT whose answer is lost: the sink cannot know
// whether the rows landed, finds out from the ledger and the data, and ends
// with the part exactly once.
TEST_F(ClickhouseSinkTest, RetriedInsertAfterALostResponse) {
  auto uri = Uri::Parse(BaseUri());
  ASSERT_TRUE(uri.ok());
  LossyProxy proxy(uri->port);
  const std::string via = ViaProxy(*uri, proxy, db_);
  RecordBatch all = testing::AllTypesBatch(200);
  auto sink = MakeSink("", via);
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Open(all.schema()).ok());
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  // The INSERT of the data (its SQL travels in the URL; ledger events do not).
  proxy.LoseAnswers("query=INSERT", 1);
  auto r = (*w)->ApplyPart(Part("p0", 100), {all.Slice(0, 100)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, ApplyOutcome::kApplied);
  EXPECT_EQ(proxy.lost(), 1);
  // The first attempt's rows landed, it was voided and its rows deleted.
  const std::string target = Target(table_);
  EXPECT_EQ(Count(Q("_sluice_ledger"), "target = " + target + " AND part_id = 'p0' AND event = 3"),
            1);
  EXPECT_EQ(Count(Q(table_), "_sluice_part = 'p0'"), 100);
  // Twice in a row, and a ledger event's answer too.
  proxy.LoseAnswers("query=INSERT", 2);
  r = (*w)->ApplyPart(Part("p1", 100), {all.Slice(100, 100)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  proxy.LoseAnswers("POST /?database=", 3);
  r = (*w)->ApplyPart(Part("p1", 100), {all.Slice(100, 100)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, ApplyOutcome::kAlreadyApplied);
  ASSERT_TRUE((*sink)->Commit().ok());
  EXPECT_EQ(Count(Q(table_)), 200);
  ExpectTableEquals(Q(table_), all, "i64");
}

// A grouped INSERT whose answer is lost: the rows landed, but the parts are
// no longer in memory to be sent again. The attempt is voided for every part
// and its rows deleted, the call fails saying a re-run applies them, and the
// re-delivered parts are applied once.
TEST_F(ClickhouseSinkTest, AGroupedInsertWhoseAnswerIsLostIsVoidedWhole) {
  auto uri = Uri::Parse(BaseUri());
  ASSERT_TRUE(uri.ok());
  LossyProxy proxy(uri->port);
  const std::string via = ViaProxy(*uri, proxy, db_);
  auto sink = OpenIdTsSink("", via);
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  VectorFeed lost;
  lost.AddIdTs("l", 3, 1000);
  proxy.LoseAnswers("query=INSERT", 1);
  auto r = (*w)->ApplyParts(&lost);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(proxy.lost(), 1);
  EXPECT_NE(r.status().message().find("a re-run applies them"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(Count(Q(table_)), 0);
  const std::string target = Target(table_);
  // begin, fence and purged for each of the three parts.
  EXPECT_EQ(Count(Q("_sluice_ledger"), "target = " + target + " AND event IN (1, 3, 4)"), 9);
  EXPECT_EQ(Count(Q("_sluice_ledger"), "target = " + target + " AND event = 2"), 0);
  VectorFeed again;
  again.AddIdTs("l", 3, 1000);
  auto ok = (*w)->ApplyParts(&again);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(*ok, std::vector<ApplyOutcome>(3, ApplyOutcome::kApplied));
  ASSERT_TRUE((*sink)->Commit().ok());
  EXPECT_EQ(Count(Q(table_)), 3000);
  EXPECT_EQ(One("SELECT uniqExact(id) FROM " + Q(table_)), "3000");
}

// The whole copy through a proxy that loses the answer of one grouped
// INSERT (the rows landed): the runtime reads that group's splits again,
// the sink voids the lost attempt and skips the chunks already applied, and
// the copy ends with every row once.
TEST_F(ClickhouseSinkTest, ACopyWhoseGroupedInsertLostItsAnswerEndsExact) {
  auto uri = Uri::Parse(BaseUri());
  ASSERT_TRUE(uri.ok());
  LossyProxy proxy(uri->port);
  const std::string via = ViaProxy(*uri, proxy, db_);
  RegisterGen(&registry_);
  constexpr int64_t kRows = 60'000;
  auto source = registry_.MakeSource("gen:///?rows=" + std::to_string(kRows) + "&schema=mixed");
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  auto sink = MakeSink("insert_rows=8000", via);
  ASSERT_TRUE(sink.ok());
  proxy.LoseAnswers("query=INSERT", 1);
  pipeline::RunOptions o;
  o.workers = 2;
  o.part_bytes = 256 << 10;
  o.part_bytes_explicit = true;
  o.copy_splits = 4;
  o.retry_backoff_ms = 10;
  pipeline::RunStats stats;
  Status st = pipeline::RunCopy(source->get(), sink->get(), o, &stats);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(proxy.lost(), 1);
  EXPECT_EQ(stats.retries, 1);
  EXPECT_EQ(stats.rows, kRows);
  EXPECT_EQ(Count(Q(table_)), kRows);
  EXPECT_EQ(One("SELECT uniqExact(id) FROM " + Q(table_)), std::to_string(kRows));
  // The lost attempt: begun, fenced and purged for each of its chunks.
  EXPECT_GT(Count(Q("_sluice_ledger"), "target = " + Target(table_) + " AND event = 3"), 0);
}

// Two writers (two importers handed the same parts at the same moment) apply
// every part concurrently: each part ends up exactly once.
TEST_F(ClickhouseSinkTest, ConcurrentWritersOfTheSamePart) {
  RecordBatch all = testing::AllTypesBatch(400);
  ASSERT_TRUE(Load("", all.schema(), {}).ok());
  constexpr int kParts = 8;
  std::atomic<int> applied{0}, failures{0};
  auto run = [&]() {
    auto sink = MakeSink("settle=1s");
    if (!sink.ok() || !(*sink)->Open(all.schema()).ok()) {
      ++failures;
      return;
    }
    auto w = (*sink)->NewWriter();
    if (!w.ok()) {
      ++failures;
      return;
    }
    for (int i = 0; i < kParts; ++i) {
      auto r = (*w)->ApplyPart(Part("c" + std::to_string(i), 50), {all.Slice(i * 50, 50)});
      if (!r.ok()) {
        ADD_FAILURE() << r.status().ToString();
        ++failures;
      } else if (*r == ApplyOutcome::kApplied) {
        ++applied;
      }
    }
  };
  std::thread a(run), b(run), c(run);
  a.join();
  b.join();
  c.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(applied.load(), kParts);
  EXPECT_EQ(Count(Q(table_)), 400);
  Rows per_part = Client("SELECT _sluice_part, count(), uniqExact(i64) FROM " + Q(table_) +
                         " GROUP BY _sluice_part ORDER BY _sluice_part");
  ASSERT_EQ(per_part.size(), static_cast<size_t>(kParts));
  for (const auto& p : per_part) {
    EXPECT_EQ(p[1], "50") << p[0];
    EXPECT_EQ(p[2], "50") << p[0];
  }
  ExpectTableEquals(Q(table_), all, "i64");
}

TEST_F(ClickhouseSinkTest, ReplaceSwapsInANewTable) {
  RecordBatch all = testing::AllTypesBatch(90);
  ASSERT_TRUE(Load("", all.schema(), {all.Slice(0, 90)}).ok());
  ASSERT_TRUE(Load("mode=replace", all.schema(), {all.Slice(0, 30), all.Slice(30, 10)}, "r").ok());
  EXPECT_EQ(Count(Q(table_)), 40);
  ExpectTableEquals(Q(table_), all.Slice(0, 40), "i64");
  EXPECT_EQ(One("EXISTS TABLE " + Q(table_ + "__sluice_stage")), "0");
  EXPECT_EQ(One("EXISTS TABLE " + Q(table_ + "__sluice_old")), "0");
  // The new table kept the stage's ledger name, and with it the parts of the run.
  EXPECT_NE(Target(table_).find(table_ + "__sluice_stage#"), std::string::npos);
  EXPECT_EQ(One("SELECT arraySort(groupUniqArray(part_id)) FROM " + Q("_sluice_ledger") +
                " WHERE target = " + Target(table_)),
            "['r0','r1']");
  // A redelivered part of that run is skipped.
  auto sink = MakeSink("");
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Open(all.schema()).ok());
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  auto r = (*w)->ApplyPart(Part("r1", 10), {all.Slice(30, 10)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, ApplyOutcome::kAlreadyApplied);
  EXPECT_EQ(Count(Q(table_)), 40);
}

// upsert: ReplacingMergeTree(version) keyed by order_by; FINAL shows the
// newest row per key.
TEST_F(ClickhouseSinkTest, UpsertKeepsTheNewestVersion) {
  auto schema = std::make_shared<const Schema>(std::vector<Field>{
      {"id", DataType::Int64(), false, true},
      {"ver", DataType::UInt32(), false},
      {"v", DataType::String(), true},
  });
  auto batch = [&](std::vector<std::tuple<int64_t, uint32_t, std::string>> rows) {
    BatchBuilder bb(schema);
    for (auto& [id, ver, v] : rows) {
      bb.column(0).AppendFixed<int64_t>(id);
      bb.column(1).AppendFixed<uint32_t>(ver);
      bb.column(2).AppendBytes(v);
    }
    return bb.Finish();
  };
  ASSERT_TRUE(
      Load("mode=upsert&version=ver", schema,
           {batch({{1, 1, "a1"}, {2, 1, "b1"}}), batch({{1, 3, "a3"}, {2, 0, "b0"}, {3, 1, "c1"}})})
          .ok());
  EXPECT_NE(One("SELECT engine_full FROM system.tables WHERE database = " + ChQuoteString(db_) +
                " AND name = " + ChQuoteString(table_))
                .find("ReplacingMergeTree(ver)"),
            std::string::npos);
  Rows r = Client("SELECT id, hex(v) FROM " + Q(table_) + " FINAL ORDER BY id");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0][1], HexUpper("a3"));
  EXPECT_EQ(r[1][1], HexUpper("b1"));
  EXPECT_EQ(r[2][1], HexUpper("c1"));
  auto no_key = std::make_shared<const Schema>(std::vector<Field>{{"x", DataType::Int32(), true}});
  auto sink = MakeSink("mode=upsert");
  ASSERT_TRUE(sink.ok());
  Status st = (*sink)->Open(no_key);
  EXPECT_NE(st.message().find("mode=upsert needs key columns"), std::string::npos) << st.ToString();
}

// A source that gains a column: the table gains it too (Nullable; old rows
// NULL). A column whose type cannot take the values is refused by name.
TEST_F(ClickhouseSinkTest, SchemaDriftAddsColumns) {
  auto v1 =
      std::make_shared<const Schema>(std::vector<Field>{{"id", DataType::Int64(), false, true}});
  auto v2 = std::make_shared<const Schema>(std::vector<Field>{
      {"id", DataType::Int64(), false, true}, {"extra", DataType::Decimal(20, 4), false}});
  BatchBuilder b1(v1);
  b1.column(0).AppendFixed<int64_t>(1);
  ASSERT_TRUE(Load("", v1, {b1.Finish()}, "a").ok());
  BatchBuilder b2(v2);
  b2.column(0).AppendFixed<int64_t>(2);
  b2.column(1).AppendFixed<int128_t>(123456789);
  ASSERT_TRUE(Load("", v2, {b2.Finish()}, "b").ok());
  EXPECT_EQ(ColumnTypes(table_)["extra"], "Nullable(Decimal(20, 4))");
  Rows r = Client("SELECT id, extra FROM " + Q(table_) + " ORDER BY id");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0][1], "\\N");
  EXPECT_EQ(r[1][1], "12345.6789");
  auto v3 = std::make_shared<const Schema>(std::vector<Field>{{"id", DataType::String(), false}});
  auto sink = MakeSink("");
  ASSERT_TRUE(sink.ok());
  Status st = (*sink)->Open(v3);
  EXPECT_NE(
      st.message().find(
          "column \"id\": cannot write string values into the ClickHouse column of type Int64"),
      std::string::npos)
      << st.ToString();
}

// dedup=none: plain inserts (at-least-once), no hidden columns.
TEST_F(ClickhouseSinkTest, DedupNoneWritesPlainRows) {
  RecordBatch all = testing::AllTypesBatch(50);
  ASSERT_TRUE(Load("dedup=none&compression=none", all.schema(), {all}).ok());
  ExpectTableEquals(Q(table_), all, "i64");
  EXPECT_EQ(ColumnTypes(table_).count("_sluice_part"), 0u);
}

}  // namespace
}  // namespace sluice
