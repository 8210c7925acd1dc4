// Integration tests of the ClickHouse source against the real server started
// by `scripts/services.sh up clickhouse` (Debian's 18.16; SLUICE_CLICKHOUSE_URI,
// default clickhouse://default@127.0.0.1:58123/sluice_test). They FAIL when
// the server is unreachable: a skipped integration test proves nothing.
//
// Expected values come from the batches the data was made of (written by the
// sink, whose own tests check the table with clickhouse-client) or from SQL
// literals written here, never from the source's code.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "connectors/clickhouse/ch_http.h"
#include "connectors/clickhouse/ch_protocol.h"
#include "connectors/clickhouse/clickhouse.h"
#include "core/int128.h"
#include "core/log.h"
#include "core/temporal.h"
#include "core/testing.h"
#include "core/text.h"

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

std::string Enc(const std::string& s) {  // percent-encodes a URI query value
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '.' || c == '-') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
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

// Every row of every split, and how many splits there were.
struct ReadResult {
  std::shared_ptr<const Schema> schema;
  std::vector<RecordBatch> batches;
  size_t splits = 0;
  int64_t rows = 0;
  std::string fingerprint;
};

class ClickhouseSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto uri = Uri::Parse(BaseUri());
    ASSERT_TRUE(uri.ok()) << uri.status().ToString();
    auto ep = ChEndpoint::FromUri(*uri);
    ASSERT_TRUE(ep.ok());
    ep->retries = 0;
    hostport_ = ep->Address();
    auto client = ChClient::Make(*ep);
    ASSERT_TRUE(client.ok());
    admin_ = std::move(*client);
    Status ping = admin_->Exec("SELECT 1", "ping");
    ASSERT_TRUE(ping.ok()) << "ClickHouse at " << BaseUri()
                           << " is unreachable; run `scripts/services.sh up clickhouse` first: "
                           << ping.ToString();
    db_ = ep->database;
    RegisterClickhouse(&registry_);
    table_ = std::string("src_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    Drop(table_);
  }

  void Sql(const std::string& sql) {
    ChRequest req;
    req.sql = sql;
    // 18.16 creates LowCardinality columns only with this setting.
    req.settings.emplace_back("allow_experimental_low_cardinality_type", "1");
    Status st = admin_->Execute(req, "test setup").status();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  std::string Q(const std::string& table) const {
    return ChQuoteIdent(db_) + "." + ChQuoteIdent(table);
  }
  void Drop(const std::string& table) { Sql("DROP TABLE IF EXISTS " + Q(table)); }

  std::string TableUri(const std::string& options = "") const {
    return BaseUri() + "?table=" + Enc(table_) + (options.empty() ? "" : "&" + options);
  }

  // Writes `parts` through the sink (one part each) with sink options.
  Status Load(const std::string& options, std::shared_ptr<const Schema> schema,
              const std::vector<RecordBatch>& parts, const std::string& id_prefix = "p") {
    SLUICE_ASSIGN_OR_RETURN(auto sink, registry_.MakeSink(TableUri(options)));
    SLUICE_RETURN_NOT_OK(sink->Open(schema));
    SLUICE_ASSIGN_OR_RETURN(auto w, sink->NewWriter());
    for (size_t i = 0; i < parts.size(); ++i) {
      SLUICE_RETURN_NOT_OK(w->ApplyPart(Part(id_prefix + std::to_string(i), parts[i].num_rows(),
                                             static_cast<int64_t>(i) + 1),
                                        {parts[i]})
                               .status());
    }
    SLUICE_RETURN_NOT_OK(sink->Commit());
    return sink->Close();
  }

  // Opens the source, plans up to `splits` splits and reads them all.
  Result<ReadResult> Read(const std::string& uri, int splits = 1, int64_t batch_rows = 65536) {
    SLUICE_ASSIGN_OR_RETURN(auto src, registry_.MakeSource(uri));
    SourceOptions so;
    so.batch_rows = batch_rows;
    SLUICE_RETURN_NOT_OK(src->Open(so));
    ReadResult out;
    out.schema = src->schema();
    out.fingerprint = src->Fingerprint();
    SLUICE_ASSIGN_OR_RETURN(auto plan, src->Plan(splits));
    out.splits = plan.size();
    for (const Split& s : plan) {
      SLUICE_ASSIGN_OR_RETURN(auto reader, src->OpenSplit(s));
      while (true) {
        SLUICE_ASSIGN_OR_RETURN(auto b, reader->Next());
        if (!b) break;
        if (b->num_rows() > batch_rows) return Status::Internal("batch larger than batch_rows");
        SLUICE_RETURN_NOT_OK(b->Validate());
        out.rows += b->num_rows();
        out.batches.push_back(std::move(*b));
      }
    }
    SLUICE_RETURN_NOT_OK(src->Close());
    return out;
  }

  std::unique_ptr<ChClient> admin_;
  Registry registry_;
  std::string db_, table_, hostport_;
};

int128_t KeyOf(const Column& c, int64_t i) {
  switch (c.type.id) {
    case TypeId::kInt32:
      return c.Value<int32_t>(i);
    case TypeId::kUInt32:
      return c.Value<uint32_t>(i);
    case TypeId::kUInt64:
      return c.Value<uint64_t>(i);
    default:
      return c.Value<int64_t>(i);
  }
}

// All rows of `r` in one batch with `schema` (same columns), sorted by the
// integer column `key`.
RecordBatch Sorted(const ReadResult& r, const std::shared_ptr<const Schema>& schema, int key) {
  std::vector<std::pair<int128_t, std::pair<size_t, int64_t>>> order;
  for (size_t b = 0; b < r.batches.size(); ++b) {
    for (int64_t i = 0; i < r.batches[b].num_rows(); ++i) {
      order.push_back({KeyOf(r.batches[b].column(key), i), {b, i}});
    }
  }
  std::sort(order.begin(), order.end());
  BatchBuilder bb(schema);
  for (const auto& [k, at] : order) {
    for (int c = 0; c < schema->num_fields(); ++c) {
      bb.column(c).AppendFrom(r.batches[at.first].column(c), at.second);
    }
  }
  return bb.Finish();
}

RecordBatch SortedByKey(const RecordBatch& b, int key) {
  ReadResult r;
  r.batches = {b};
  return Sorted(r, b.schema(), key);
}

void ExpectSameFields(const Schema& got, const Schema& want) {
  ASSERT_EQ(got.num_fields(), want.num_fields()) << got.ToString();
  for (int i = 0; i < want.num_fields(); ++i) {
    EXPECT_EQ(got.field(i).name, want.field(i).name);
    EXPECT_EQ(got.field(i).type, want.field(i).type) << want.field(i).name;
    EXPECT_EQ(got.field(i).nullable, want.field(i).nullable) << want.field(i).name;
    EXPECT_EQ(got.field(i).primary_key, want.field(i).primary_key) << want.field(i).name;
  }
}

// A table the sink wrote on 18.16 (dates as Int32 days, times and timestamps
// as Int64 µs, bools UInt8, hidden ledger columns) reads back with the
// original types and exactly the original values; read in one split or many.
TEST_F(ClickhouseSourceTest, SinkTableReadsBackExactlyInAnySplits) {
  const RecordBatch all = testing::AllTypesBatch(3000);
  std::vector<RecordBatch> parts;
  for (int64_t at = 0; at < all.num_rows(); at += 700) {
    parts.push_back(all.Slice(at, std::min<int64_t>(700, all.num_rows() - at)));
  }
  ASSERT_TRUE(Load("", all.schema(), parts).ok());
  const RecordBatch want = SortedByKey(all, 3);
  for (const char* opts : {"", "min_split_rows=1&split_by=key", "min_split_rows=1&batch_rows=77"}) {
    auto r = Read(TableUri(opts), 5);
    ASSERT_TRUE(r.ok()) << opts << ": " << r.status().ToString();
    ExpectSameFields(*r->schema, *all.schema());
    EXPECT_EQ(r->schema->field(3).source_type, "Int64");
    EXPECT_EQ(r->schema->field(15).source_type, "Nullable(Int32)");
    EXPECT_EQ(r->rows, all.num_rows()) << opts;
    const RecordBatch got = Sorted(*r, all.schema(), 3);
    std::string why;
    EXPECT_TRUE(got.Equals(want, &why)) << opts << ": " << why;
    if (std::string(opts).find("split_by=key") != std::string::npos) {
      EXPECT_EQ(r->splits, 5u);
    }
  }
  // The same table, unchanged: the same fingerprint (part ids); after an
  // insert, another.
  auto a = Read(TableUri());
  auto b = Read(TableUri());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->fingerprint, b->fingerprint);
  ASSERT_TRUE(Load("", all.schema(), {testing::AllTypesBatch(1, 99)}, "more").ok());
  auto c = Read(TableUri());
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->fingerprint, c->fingerprint);
}

// A table created natively (not by sluice): the default mapping, values
// from the SQL literals below.
TEST_F(ClickhouseSourceTest, NativeTableTypes) {
  Sql("CREATE TABLE " + Q(table_) +
      " (id UInt32, d Date, dt DateTime, dtz DateTime('Asia/Tokyo'), n Nullable(Int16),"
      " fs FixedString(3), e Enum8('red' = 1, 'зелёный' = -2), u UUID, m Decimal(38, 10),"
      " s String, lc LowCardinality(String), f Float32, ns Nullable(String))"
      " ENGINE = MergeTree ORDER BY id");
  Sql("INSERT INTO " + Q(table_) +
      " VALUES"
      " (1, '2105-12-31', '2021-03-28 01:30:00', '2021-03-28 01:30:00', NULL, 'ab', 'зелёный',"
      "  '00112233-4455-6677-8899-aabbccddeeff', '-1234567890123456789012345678.0123456789',"
      "  'Привет 🚀', 'x', -0.5, NULL),"
      " (2, '1970-01-02', '1970-01-01 00:00:01', '2000-01-01 09:00:00', -32768, 'abc', 'red',"
      "  '00000000-0000-0000-0000-000000000000', '0.0000000001', '', '', 3.25, 'tab\\there')");
  auto r = Read(TableUri());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Schema& s = *r->schema;
  ASSERT_EQ(s.num_fields(), 13);
  EXPECT_EQ(s.field(0).type, DataType::UInt32());
  EXPECT_FALSE(s.field(0).nullable);
  EXPECT_EQ(s.field(1).type, DataType::Date());
  EXPECT_EQ(s.field(2).type, DataType::TimestampTz("Etc/UTC"));  // the server's zone
  EXPECT_EQ(s.field(3).type, DataType::TimestampTz("Asia/Tokyo"));
  EXPECT_TRUE(s.field(4).nullable);
  EXPECT_EQ(s.field(5).type, DataType::Binary());
  EXPECT_EQ(s.field(6).type, DataType::String());
  EXPECT_EQ(s.field(7).type, DataType::Uuid());
  EXPECT_EQ(s.field(8).type, DataType::Decimal(38, 10));
  EXPECT_EQ(s.field(10).source_type, "LowCardinality(String)");
  const RecordBatch b = Sorted(*r, r->schema, 0);
  ASSERT_EQ(b.num_rows(), 2);
  auto text = [&](int c, int64_t row) {
    return b.column(c).IsNull(row) ? std::string("NULL") : ValueToText(b.column(c), row);
  };
  const std::vector<std::vector<std::string>> want = {
      {"1", "2105-12-31", "2021-03-28T01:30:00Z", "2021-03-27T16:30:00Z", "NULL", "YWIA", "зелёный",
       "00112233-4455-6677-8899-aabbccddeeff", "-1234567890123456789012345678.0123456789",
       "Привет 🚀", "x", "-0.5", "NULL"},
      {"2", "1970-01-02", "1970-01-01T00:00:01Z", "2000-01-01T00:00:00Z", "-32768", "YWJj", "red",
       "00000000-0000-0000-0000-000000000000", "0.0000000001", "", "", "3.25", "tab\there"}};
  for (int64_t row = 0; row < 2; ++row) {
    for (int c = 0; c < 13; ++c) {
      EXPECT_EQ(text(c, row), want[static_cast<size_t>(row)][static_cast<size_t>(c)])
          << s.field(c).name << " row " << row;
    }
  }
  // types= overrides: FixedString as text, an Int64 of seconds... as text,
  // and any column as the server's own text.
  r = Read(TableUri("types=" + Enc("fs:string,dt:string")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->schema->field(5).type, DataType::String());
  const RecordBatch o = Sorted(*r, r->schema, 0);
  EXPECT_EQ(o.column(5).StringValue(0), "ab");
  EXPECT_EQ(o.column(2).StringValue(0), "2021-03-28 01:30:00");
  // A wider scale is exact where the digits fit, an error naming row and
  // column where they do not.
  r = Read(TableUri("types=" + Enc("m:decimal(38,12)") + "&where=" + Enc("id = 2")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->schema->field(8).type, DataType::Decimal(38, 12));
  EXPECT_EQ(ValueToText(r->batches.at(0).column(8), 0), "0.000000000100");
  r = Read(TableUri("types=" + Enc("m:decimal(38,12)")));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(
                "column \"m\" (Decimal(38, 10)): value -1234567890123456789012345678.0123456789 "
                "does not fit decimal(38,12)"),
            std::string::npos)
      << r.status().message();
  // columns= picks and orders; where= filters.
  r = Read(TableUri("columns=" + Enc("s,id") + "&where=" + Enc("id = 2")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->schema->num_fields(), 2);
  EXPECT_EQ(r->schema->field(0).name, "s");
  ASSERT_EQ(r->rows, 1);
  EXPECT_EQ(r->batches[0].column(1).Value<uint32_t>(0), 2u);
}

TEST_F(ClickhouseSourceTest, QueryZeroRowsQuotingAndBatchSizes) {
  // A query: one split, batches of batch_rows, the first one smaller when asked.
  auto src = registry_.MakeSource(
      BaseUri() + "?query=" +
      Enc("SELECT number AS n, toString(number) AS s, toDecimal64(number, 3) / 8 AS q "
          "FROM system.numbers LIMIT 250000"));
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  SourceOptions so;
  so.batch_rows = 100000;
  so.first_batch_rows = 10;
  ASSERT_TRUE((*src)->Open(so).ok());
  auto plan = (*src)->Plan(8);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->size(), 1u);
  auto reader = (*src)->OpenSplit((*plan)[0]);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<int64_t> sizes;
  uint64_t next = 0;
  while (true) {
    auto b = (*reader)->Next();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    if (!*b) break;
    sizes.push_back((*b)->num_rows());
    for (int64_t i = 0; i < (*b)->num_rows(); ++i, ++next) {
      ASSERT_EQ((*b)->column(0).Value<uint64_t>(i), next);
      ASSERT_EQ((*b)->column(1).StringValue(i), std::to_string(next));
      ASSERT_EQ(ValueToText((*b)->column(2), i), FormatDecimal(int128_t(next) * 1000 / 8, 3));
    }
  }
  EXPECT_EQ(next, 250000u);
  EXPECT_EQ(sizes, (std::vector<int64_t>{10, 100000, 100000, 49990}));
  EXPECT_EQ((*reader)->position(), "250000");

  // Zero rows: a schema, no batch.
  Sql("CREATE TABLE " + Q(table_) +
      " (id Int64, s Nullable(String)) ENGINE = MergeTree ORDER BY id");
  auto r = Read(TableUri(), 4);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 0);
  EXPECT_EQ(r->schema->num_fields(), 2);

  // Names needing quotes, as table and column names.
  Drop(table_);
  table_ = "we`ird \\ 'näme\"; --";
  Drop(table_);
  Sql("CREATE TABLE " + Q(table_) + " (" + ChQuoteIdent("id`) x") + " Int64, " +
      ChQuoteIdent("значение с пробелом") + " String, " + ChQuoteIdent("tab\there") +
      " Int8) ENGINE = MergeTree ORDER BY " + ChQuoteIdent("id`) x"));
  Sql("INSERT INTO " + Q(table_) +
      " SELECT number, concat('ü', toString(number)), 1 FROM "
      "system.numbers LIMIT 1000");
  r = Read(TableUri("min_split_rows=1"), 3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->splits, 3u);
  EXPECT_EQ(r->schema->field(1).name, "значение с пробелом");
  EXPECT_EQ(r->schema->field(2).name, "tab\there");
  const RecordBatch b = Sorted(*r, r->schema, 0);
  ASSERT_EQ(b.num_rows(), 1000);
  EXPECT_EQ(b.column(1).StringValue(999), "ü999");
  Drop(table_);
}

// Splits by partition and by key give every row exactly once; the last
// partition split also takes partitions that appear after planning.
TEST_F(ClickhouseSourceTest, PartitionAndKeySplitsCoverEveryRowOnce) {
  Sql("CREATE TABLE " + Q(table_) +
      " (id Int64, g UInt8, v String) ENGINE = MergeTree "
      "PARTITION BY g ORDER BY id");
  Sql("INSERT INTO " + Q(table_) +
      " SELECT number, number % 7, toString(number) FROM "
      "system.numbers LIMIT 70000");
  bool late_inserted = false;
  for (const char* by : {"partition", "key", "auto"}) {
    auto src = registry_.MakeSource(TableUri(std::string("min_split_rows=1000&split_by=") + by));
    ASSERT_TRUE(src.ok());
    ASSERT_TRUE((*src)->Open(SourceOptions{}).ok());
    auto plan = (*src)->Plan(4);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    EXPECT_EQ(plan->size(), 4u) << by;
    if (std::string(by) == "partition") {
      // A partition made after planning lands in the last split.
      Sql("INSERT INTO " + Q(table_) + " VALUES (1000000, 9, 'late')");
      late_inserted = true;
    }
    std::multiset<int64_t> ids;
    for (const Split& s : *plan) {
      auto reader = (*src)->OpenSplit(s);
      ASSERT_TRUE(reader.ok()) << reader.status().ToString();
      while (true) {
        auto b = (*reader)->Next();
        ASSERT_TRUE(b.ok()) << b.status().ToString();
        if (!*b) break;
        for (int64_t i = 0; i < (*b)->num_rows(); ++i) {
          ids.insert((*b)->column(0).Value<int64_t>(i));
          ASSERT_EQ((*b)->column(2).StringValue(i),
                    (*b)->column(0).Value<int64_t>(i) == 1000000
                        ? "late"
                        : std::to_string((*b)->column(0).Value<int64_t>(i)));
        }
      }
    }
    EXPECT_EQ(ids.size(), 70000u + (late_inserted ? 1 : 0)) << by;
    EXPECT_EQ(ids.count(1000000), late_inserted ? 1u : 0u) << by;
    std::set<int64_t> distinct(ids.begin(), ids.end());
    EXPECT_EQ(distinct.size(), ids.size()) << by << ": a row was read twice";
    for (int64_t i = 0; i < 70000; i += 997) {
      EXPECT_EQ(ids.count(i), 1u) << by << " id " << i;
    }
  }
}

// Rows of void (fenced) or unfinished ledger attempts are left out; rows the
// ledger does not know stay.
TEST_F(ClickhouseSourceTest, LedgerAttemptsThatAreNotValidAreLeftOut) {
  auto schema = std::make_shared<const Schema>(
      std::vector<Field>{{"id", DataType::Int64(), false, true}, {"v", DataType::String(), true}});
  BatchBuilder bb(schema);
  for (int i = 0; i < 10; ++i) {
    bb.column(0).AppendFixed<int64_t>(i);
    bb.column(1).AppendBytes("ok");
  }
  ASSERT_TRUE(Load("dedup=ledger", schema, {bb.Finish()}).ok());
  auto target = admin_->QueryRows(
      "SELECT comment FROM system.columns WHERE database = " + ChQuoteString(db_) +
          " AND table = " + ChQuoteString(table_) + " AND name = '_sluice_part'",
      1, "t");
  ASSERT_TRUE(target.ok() && target->size() == 1);
  const std::string t = target->at(0)[0]->substr(std::string("sluice ledger target: ").size());
  const std::string ledger = Q("_sluice_ledger");
  // A fenced attempt (rows still there) and an unfinished one of part "x",
  // and a row no sluice attempt wrote.
  Sql("INSERT INTO " + Q(table_) +
      " (id, v, _sluice_part, _sluice_attempt) VALUES "
      "(100, 'fenced', 'x', 11), (101, 'pending', 'x', 12), (102, 'foreign', '', 0)");
  Sql("INSERT INTO " + ledger +
      " (target, part_id, attempt, event, rows, stream_id, "
      "part_number, at) VALUES (" +
      ChQuoteString(t) + ", 'x', 11, 1, 1, 's', 1, now()), (" + ChQuoteString(t) +
      ", 'x', 11, 2, 1, 's', 1, now()), (" + ChQuoteString(t) +
      ", 'x', 11, 3, 0, 's', 1, now()), (" + ChQuoteString(t) + ", 'x', 12, 1, 1, 's', 1, now())");
  auto r = Read(TableUri());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->schema->num_fields(), 2) << "hidden columns must not be read";
  std::multiset<std::string> vs;
  for (const auto& b : r->batches) {
    for (int64_t i = 0; i < b.num_rows(); ++i) vs.insert(std::string(b.column(1).StringValue(i)));
  }
  EXPECT_EQ(vs.count("ok"), 10u);
  EXPECT_EQ(vs.count("foreign"), 1u);
  EXPECT_EQ(vs.count("fenced"), 0u);
  EXPECT_EQ(vs.count("pending"), 0u);
  r = Read(TableUri("ledger_filter=false"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rows, 13);
  // A missing ledger table is an error that says what to do.
  r = Read(TableUri("ledger=nope"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("ledger_filter=false"), std::string::npos)
      << r.status().message();
}

TEST_F(ClickhouseSourceTest, ErrorsNameServerTableAndColumn) {
  // Wrong table.
  auto r = Read(BaseUri() + "?table=no_such_table");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("table `" + db_ +
                                      "`.`no_such_table`: table does not exist on " + hostport_),
            std::string::npos)
      << r.status().message();
  // Wrong database.
  r = Read("clickhouse://default@" + hostport_ + "/no_such_db?table=t");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("database `no_such_db` does not exist on " + hostport_),
            std::string::npos)
      << r.status().message();
  // Bad credentials (scripts/services.sh: sluice / sluice_pw).
  r = Read("clickhouse://sluice:wrong@" + hostport_ + "/" + db_ + "?table=t");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("clickhouse " + hostport_ + ": "), std::string::npos);
  EXPECT_NE(r.status().message().find("authentication failed for user 'sluice'"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(r.status().message().find("wrong"), std::string::npos) << r.status().message();
  // Server down.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  close(fd);
  r = Read("clickhouse://127.0.0.1:" + std::to_string(port) + "/" + db_ + "?table=t&retries=0");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kRetryable);
  EXPECT_NE(r.status().message().find("cannot connect to 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << r.status().message();
  // A column the source does not read, named, with the way out.
  Sql("CREATE TABLE " + Q(table_) +
      " (id Int64, arr Array(UInt8), t Tuple(Int8, String)) "
      "ENGINE = MergeTree ORDER BY id");
  Sql("INSERT INTO " + Q(table_) + " VALUES (1, [1,2], (3, 'x''y'))");
  r = Read(TableUri());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("column \"arr\": the ClickHouse type Array(UInt8) is not one "
                                      "the source reads (read it as text with types=arr:string"),
            std::string::npos)
      << r.status().message();
  r = Read(TableUri("types=" + Enc("arr:string,t:string")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->batches[0].column(1).StringValue(0), "[1,2]");
  EXPECT_EQ(r->batches[0].column(2).StringValue(0), "(3,'x\\'y')");
  r = Read(TableUri("columns=id,nope"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no column \"nope\" (columns=)"), std::string::npos);
  r = Read(TableUri("columns=id&where=" + Enc("no_such_col = 1")));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("server error 47"), std::string::npos)
      << r.status().message();

  // The server fails mid-stream (after HTTP 200 and ~2 MB of rows): the
  // appended exception is the error, naming the server and the query.
  r = Read(BaseUri() + "?query=" +
           Enc("SELECT number, throwIf(number = 200000) AS t FROM system.numbers "
               "LIMIT 1000000 SETTINGS max_block_size = 1000"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIOError);
  EXPECT_NE(r.status().message().find("clickhouse " + hostport_ + " query"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("the server failed after sending 200000 rows: server error "
                                      "395: Value passed to 'throwIf' function is non zero"),
            std::string::npos)
      << r.status().message();
  // Mid-stream on a table read with String columns (whose bytes could
  // swallow the text), and with gzip.
  Drop(table_);
  Sql("CREATE TABLE " + Q(table_) + " (id Int64, s String) ENGINE = MergeTree ORDER BY id");
  Sql("INSERT INTO " + Q(table_) +
      " SELECT number, toString(number) FROM system.numbers LIMIT 300000");
  for (const char* comp : {"none", "gzip"}) {
    r = Read(
        TableUri(std::string("compression=") + comp + "&where=" + Enc("throwIf(id = 250000) = 0")));
    ASSERT_FALSE(r.ok()) << comp;
    EXPECT_NE(r.status().message().find("server error 395"), std::string::npos)
        << comp << ": " << r.status().message();
    r = Read(TableUri(std::string("compression=") + comp));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->rows, 300000);
  }
  // The table dropped between planning and reading: the stream's own HTTP
  // error (not a 200), mapped like every other request's.
  auto src = registry_.MakeSource(TableUri());
  ASSERT_TRUE(src.ok());
  ASSERT_TRUE((*src)->Open(SourceOptions{}).ok());
  auto plan = (*src)->Plan(1);
  ASSERT_TRUE(plan.ok());
  Drop(table_);
  auto reader = (*src)->OpenSplit((*plan)[0]);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), StatusCode::kNotFound) << reader.status().ToString();
  EXPECT_NE(reader.status().message().find("clickhouse " + hostport_ + ": reading table `" + db_ +
                                           "`.`" + table_ + "` (all rows): server error 60"),
            std::string::npos)
      << reader.status().message();
}

TEST_F(ClickhouseSourceTest, LowerBoundAndFinal) {
  Sql("CREATE TABLE " + Q(table_) +
      " (id Int64, d Date, ts DateTime, v UInt32) ENGINE = "
      "ReplacingMergeTree(v) ORDER BY id");
  Sql("INSERT INTO " + Q(table_) +
      " SELECT number, toDate('2020-01-01') + number, "
      "toDateTime('2020-01-01 00:00:00', 'UTC') + number * 3600, 1 FROM system.numbers LIMIT 100");
  Sql("INSERT INTO " + Q(table_) +
      " SELECT number, toDate('2020-01-01') + number, "
      "toDateTime('2020-01-01 00:00:00', 'UTC') + number * 3600, 2 FROM system.numbers LIMIT 10");
  auto r = Read(TableUri());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rows, 110);
  r = Read(TableUri("final=true"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 100);
  for (const auto& [col, bound, rows] : std::vector<std::tuple<std::string, std::string, int64_t>>{
           {"id", "90", 10}, {"d", "2020-04-01", 9}, {"ts", "2020-01-04T01:00:00.5Z", 26}}) {
    auto src = registry_.MakeSource(TableUri("final=true"));
    ASSERT_TRUE(src.ok());
    ASSERT_TRUE((*src)->Open(SourceOptions{}).ok());
    auto pushed = (*src)->SetLowerBound(col, bound);
    ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
    EXPECT_TRUE(*pushed) << col;
    auto plan = (*src)->Plan(1);
    ASSERT_TRUE(plan.ok());
    auto reader = (*src)->OpenSplit((*plan)[0]);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    int64_t n = 0;
    while (true) {
      auto b = (*reader)->Next();
      ASSERT_TRUE(b.ok()) << b.status().ToString();
      if (!*b) break;
      n += (*b)->num_rows();
    }
    EXPECT_EQ(n, rows) << col << " >= " << bound;
  }
}

}  // namespace
}  // namespace sluice
