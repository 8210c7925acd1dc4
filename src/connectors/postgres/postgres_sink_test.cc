// Integration tests of the PostgreSQL sink against the real server started by
// `scripts/services.sh up postgres` (SLUICE_PG_URI, default
// postgres://postgres@127.0.0.1:55432/sluice_test). They FAIL when the server
// is unreachable: a skipped integration test proves nothing. Data written by
// the sink is read back with the (separately tested) PostgreSQL source.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "connectors/postgres/pg_conn.h"
#include "connectors/postgres/postgres.h"
#include "core/int128.h"
#include "core/testing.h"

namespace sluice {
namespace {

std::string BaseUri() {
  const char* e = std::getenv("SLUICE_PG_URI");
  return e && *e ? e : "postgres://postgres@127.0.0.1:55432/sluice_test";
}

std::string Enc(const std::string& s) {  // percent-encodes a query value
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '.' || c == '-') out += static_cast<char>(c);
    else { out += '%'; out += hex[c >> 4]; out += hex[c & 15]; }
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

class PostgresSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto uri = Uri::Parse(BaseUri());
    ASSERT_TRUE(uri.ok()) << uri.status().ToString();
    auto ep = PgEndpoint::FromUri(*uri);
    ASSERT_TRUE(ep.ok()) << ep.status().ToString();
    auto conn = PgConnection::Connect(*ep);
    ASSERT_TRUE(conn.ok()) << "PostgreSQL at " << BaseUri()
                           << " is unreachable; run `scripts/services.sh up postgres` first: "
                           << conn.status().ToString();
    admin_ = std::move(*conn);
    RegisterPostgres(&registry_);
    Sql("SET client_min_messages TO warning; DROP SCHEMA IF EXISTS sinktest CASCADE; CREATE SCHEMA sinktest");
  }

  void Sql(const std::string& sql) {
    auto r = admin_->Exec(sql, "test setup");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  std::string Value(const std::string& sql) {
    auto r = admin_->Exec(sql, "test query");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || PQntuples(r->get()) < 1) return "<none>";
    return PQgetvalue(r->get(), 0, 0);
  }
  int64_t Count(const std::string& qtable) {
    return std::atoll(Value("SELECT count(*) FROM " + qtable).c_str());
  }

  Result<std::unique_ptr<Sink>> MakeSink(const std::string& options) {
    return registry_.MakeSink(BaseUri() + "?" + options);
  }

  // Opens a sink for `schema`, applies each batch as one part, commits.
  Status Load(const std::string& options, std::shared_ptr<const Schema> schema,
              const std::vector<RecordBatch>& parts, const std::string& id_prefix = "p") {
    SLUICE_ASSIGN_OR_RETURN(auto sink, MakeSink(options));
    SLUICE_RETURN_NOT_OK(sink->Open(schema));
    SLUICE_ASSIGN_OR_RETURN(auto w, sink->NewWriter());
    for (size_t i = 0; i < parts.size(); ++i) {
      SLUICE_ASSIGN_OR_RETURN(auto outcome,
                              w->ApplyPart(Part(id_prefix + std::to_string(i), parts[i].num_rows()),
                                           {parts[i]}));
      if (outcome != ApplyOutcome::kApplied) return Status::Internal("part unexpectedly skipped");
    }
    SLUICE_RETURN_NOT_OK(sink->Commit());
    return sink->Close();
  }

  Result<RecordBatch> Read(const std::string& query) {
    SLUICE_ASSIGN_OR_RETURN(auto src, registry_.MakeSource(BaseUri() + "?query=" + Enc(query)));
    SLUICE_RETURN_NOT_OK(src->Open(SourceOptions{}));
    SLUICE_ASSIGN_OR_RETURN(auto splits, src->Plan(1));
    SLUICE_ASSIGN_OR_RETURN(auto reader, src->OpenSplit(splits.at(0)));
    BatchBuilder bb(src->schema());
    while (true) {
      SLUICE_ASSIGN_OR_RETURN(auto b, reader->Next());
      if (!b) break;
      for (int c = 0; c < b->num_columns(); ++c) {
        for (int64_t r = 0; r < b->num_rows(); ++r) bb.column(c).AppendFrom(b->column(c), r);
      }
    }
    SLUICE_RETURN_NOT_OK(src->Close());
    return bb.Finish();
  }

  std::unique_ptr<PgConnection> admin_;
  Registry registry_;
};

// An original value against what the source read back (widened as the sink's
// type mapping widens).
void ExpectSameValue(const Column& a, const Column& b, int64_t r, const std::string& name) {
  SCOPED_TRACE(name + " row " + std::to_string(r));
  ASSERT_EQ(a.IsNull(r), b.IsNull(r));
  if (a.IsNull(r)) return;
  switch (a.type.id) {
    case TypeId::kInt8: EXPECT_EQ(a.Value<int8_t>(r), b.Value<int16_t>(r)); break;
    case TypeId::kUInt8: EXPECT_EQ(a.Value<uint8_t>(r), b.Value<int16_t>(r)); break;
    case TypeId::kInt16: EXPECT_EQ(a.Value<int16_t>(r), b.Value<int16_t>(r)); break;
    case TypeId::kUInt16: EXPECT_EQ(a.Value<uint16_t>(r), b.Value<int32_t>(r)); break;
    case TypeId::kInt32: EXPECT_EQ(a.Value<int32_t>(r), b.Value<int32_t>(r)); break;
    case TypeId::kUInt32: EXPECT_EQ(a.Value<uint32_t>(r), b.Value<int64_t>(r)); break;
    case TypeId::kInt64: EXPECT_EQ(a.Value<int64_t>(r), b.Value<int64_t>(r)); break;
    case TypeId::kUInt64: EXPECT_TRUE(int128_t{a.Value<uint64_t>(r)} == b.DecimalValue(r)); break;
    case TypeId::kDecimal: EXPECT_TRUE(a.DecimalValue(r) == b.DecimalValue(r)); break;
    case TypeId::kFloat32: EXPECT_EQ(std::memcmp(a.FixedBytes(r, 4), b.FixedBytes(r, 4), 4), 0); break;
    case TypeId::kFloat64: {
      double x = a.Value<double>(r), y = b.Value<double>(r);
      if (x != x) EXPECT_NE(y, y);  // PostgreSQL keeps NaN, not its payload
      else EXPECT_EQ(std::memcmp(&x, &y, 8), 0);
      break;
    }
    case TypeId::kBool: EXPECT_EQ(a.BoolValue(r), b.BoolValue(r)); break;
    case TypeId::kString: case TypeId::kBinary: case TypeId::kJson:
      EXPECT_EQ(a.StringValue(r), b.StringValue(r));
      break;
    case TypeId::kDate: EXPECT_EQ(a.Value<int32_t>(r), b.Value<int32_t>(r)); break;
    case TypeId::kTime: case TypeId::kTimestamp: EXPECT_EQ(a.Value<int64_t>(r), b.Value<int64_t>(r)); break;
    case TypeId::kUuid: EXPECT_EQ(std::memcmp(a.FixedBytes(r, 16), b.FixedBytes(r, 16), 16), 0); break;
  }
}

TEST_F(PostgresSinkTest, EveryTypeRoundTripsExactly) {
  RecordBatch all = testing::AllTypesBatch(600);
  // Three parts; json as json (jsonb would normalise the text).
  std::vector<RecordBatch> parts = {all.Slice(0, 250), all.Slice(250, 0), all.Slice(250, 350)};
  ASSERT_TRUE(Load("table=sinktest.all&json=json", all.schema(), parts).ok());
  auto back = Read("SELECT * FROM sinktest.all ORDER BY i64");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->num_rows(), all.num_rows());
  // The input ordered by i64 (the primary key) too.
  std::vector<int64_t> order(static_cast<size_t>(all.num_rows()));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  int i64 = *all.schema()->FieldIndex("i64");
  std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
    return all.column(i64).Value<int64_t>(x) < all.column(i64).Value<int64_t>(y);
  });
  for (int c = 0; c < all.num_columns(); ++c) {
    for (size_t k = 0; k < order.size(); ++k) {
      const Column& a = all.column(c);
      // Compare input row order[k] with output row k.
      BatchBuilder one(all.schema());
      ColumnBuilder cb(a.type);
      cb.AppendFrom(a, order[k]);
      Column ac = cb.Finish();
      ColumnBuilder bb(back->column(c).type);
      bb.AppendFrom(back->column(c), static_cast<int64_t>(k));
      Column bc = bb.Finish();
      ExpectSameValue(ac, bc, 0, all.schema()->field(c).name);
    }
  }
  // Created types and constraints.
  EXPECT_EQ(Value("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                  "'sinktest.all'::regclass AND attname = 'dec38'"),
            "numeric(38,9)");
  EXPECT_EQ(Value("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                  "'sinktest.all'::regclass AND attname = 'u64'"),
            "numeric(20,0)");
  EXPECT_EQ(Value("SELECT count(*) FROM pg_index WHERE indrelid = 'sinktest.all'::regclass AND indisprimary"),
            "1");
  EXPECT_EQ(Value("SELECT count(*) FROM sinktest._sluice_ledger WHERE target = '\"sinktest\".\"all\"'"), "3");
}

TEST_F(PostgresSinkTest, JsonbDefault) {
  auto schema = std::make_shared<Schema>(std::vector<Field>{{"j", DataType::Json()}});
  BatchBuilder bb(schema);
  bb.column(0).AppendBytes("{\"a\": [1, \"\xd0\x96\xf0\x9f\x98\x80\"]}");
  bb.column(0).AppendNull();
  ASSERT_TRUE(Load("table=sinktest.j", schema, {bb.Finish()}).ok());
  EXPECT_EQ(Value("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                  "'sinktest.j'::regclass AND attname = 'j'"), "jsonb");
  EXPECT_EQ(Value("SELECT j->'a'->>1 FROM sinktest.j WHERE j IS NOT NULL"), "\xd0\x96\xf0\x9f\x98\x80");
  EXPECT_EQ(Value("SELECT count(*) FROM sinktest.j WHERE j IS NULL"), "1");
}

TEST_F(PostgresSinkTest, ZeroRowsCreatesTheTable) {
  RecordBatch b = testing::MixedBatch(0);
  ASSERT_TRUE(Load("table=sinktest.empty", b.schema(), {}).ok());
  EXPECT_EQ(Count("sinktest.empty"), 0);
  EXPECT_EQ(Value("SELECT to_regclass('sinktest.empty') IS NOT NULL"), "t");
}

TEST_F(PostgresSinkTest, SamePartTwiceIsAppliedOnce) {
  RecordBatch b = testing::MixedBatch(1000);
  for (int run = 0; run < 2; ++run) {
    auto sink = MakeSink("table=sinktest.m");
    ASSERT_TRUE(sink.ok()) << sink.status().ToString();
    ASSERT_TRUE((*sink)->Open(b.schema()).ok());
    auto w = (*sink)->NewWriter();
    ASSERT_TRUE(w.ok());
    auto r1 = (*w)->ApplyPart(Part("a", 1000), {b});
    ASSERT_TRUE(r1.ok()) << r1.status().ToString();
    EXPECT_EQ(*r1, run == 0 ? ApplyOutcome::kApplied : ApplyOutcome::kAlreadyApplied);
    auto r2 = (*w)->ApplyPart(Part("a", 1000), {b});
    ASSERT_TRUE(r2.ok());
    EXPECT_EQ(*r2, ApplyOutcome::kAlreadyApplied);
    ASSERT_TRUE((*sink)->Commit().ok());
    EXPECT_EQ(Count("sinktest.m"), 1000);
  }
}

TEST_F(PostgresSinkTest, FailedPartLeavesNothing) {
  Sql("CREATE TABLE sinktest.nn (id bigint NOT NULL, v text NOT NULL)");
  auto schema = std::make_shared<Schema>(std::vector<Field>{{"id", DataType::Int64()}, {"v", DataType::String()}});
  BatchBuilder bad(schema), good(schema);
  for (int i = 0; i < 100; ++i) {
    bad.column(0).AppendFixed<int64_t>(i);
    if (i == 57) bad.column(1).AppendNull();
    else bad.column(1).AppendBytes("x");
    good.column(0).AppendFixed<int64_t>(i);
    good.column(1).AppendBytes("y");
  }
  auto sink = MakeSink("table=sinktest.nn");
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Open(schema).ok());
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  auto r = (*w)->ApplyPart(Part("p1", 100), {bad.Finish()});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("23502"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(Count("sinktest.nn"), 0);
  EXPECT_EQ(Count("sinktest._sluice_ledger"), 0);
  // The same writer (connection) is usable and the part id is free again.
  auto r2 = (*w)->ApplyPart(Part("p1", 100), {good.Finish()});
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(*r2, ApplyOutcome::kApplied);
  EXPECT_EQ(Count("sinktest.nn"), 100);
}

TEST_F(PostgresSinkTest, UpsertUpdatesExistingKeys) {
  auto schema = std::make_shared<Schema>(std::vector<Field>{
      {"id", DataType::Int32(), false, true}, {"v", DataType::String()}});
  auto make = [&](int from, int to, const std::string& v) {
    BatchBuilder bb(schema);
    for (int i = from; i < to; ++i) {
      bb.column(0).AppendFixed<int32_t>(i);
      bb.column(1).AppendBytes(v + std::to_string(i));
    }
    return bb.Finish();
  };
  ASSERT_TRUE(Load("table=sinktest.u&mode=upsert", schema, {make(0, 100, "a")}, "first").ok());
  // Keys 50..149; key 120 twice in one part: the later row wins.
  RecordBatch dup = make(120, 121, "late");
  Status st = Load("table=sinktest.u&mode=upsert", schema, {make(50, 150, "b"), dup}, "second");
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Count("sinktest.u"), 150);
  EXPECT_EQ(Value("SELECT v FROM sinktest.u WHERE id = 10"), "a10");
  EXPECT_EQ(Value("SELECT v FROM sinktest.u WHERE id = 60"), "b60");
  EXPECT_EQ(Value("SELECT v FROM sinktest.u WHERE id = 120"), "late120");
  auto sink = MakeSink("table=sinktest.u&mode=upsert&key=v");
  ASSERT_TRUE(sink.ok());
  auto noidx = (*sink)->Open(schema);  // opening is fine; applying needs a unique index on v
  ASSERT_TRUE(noidx.ok()) << noidx.ToString();
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE((*w)->ApplyPart(Part("k", 1), {make(1, 2, "z")}).ok());
}

TEST_F(PostgresSinkTest, ReplaceIsAtomic) {
  Sql("CREATE TABLE sinktest.r (id int, old text); INSERT INTO sinktest.r VALUES (1, 'old')");
  RecordBatch b = testing::MixedBatch(500);
  auto sink = MakeSink("table=sinktest.r&mode=replace");
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Open(b.schema()).ok());
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->ApplyPart(Part("a", 250), {b.Slice(0, 250)}).ok());
  EXPECT_EQ(*(*w)->ApplyPart(Part("a", 250), {b.Slice(0, 250)}), ApplyOutcome::kAlreadyApplied);
  ASSERT_TRUE((*w)->ApplyPart(Part("b", 250), {b.Slice(250, 250)}).ok());
  // Before Commit the old table is intact.
  EXPECT_EQ(Count("sinktest.r"), 1);
  EXPECT_EQ(Value("SELECT old FROM sinktest.r"), "old");
  ASSERT_TRUE((*sink)->Commit().ok());
  ASSERT_TRUE((*sink)->Commit().ok());  // idempotent
  EXPECT_EQ(Count("sinktest.r"), 500);
  EXPECT_EQ(Value("SELECT to_regclass('sinktest.r__sluice_stage') IS NULL"), "t");
  EXPECT_EQ(Value("SELECT count(*) FROM sinktest._sluice_ledger WHERE target = '\"sinktest\".\"r\"'"), "2");
  // A second replace works (constraint names do not collide) and a killed one
  // (no Commit) leaves the target as it was.
  ASSERT_TRUE(Load("table=sinktest.r&mode=replace", b.schema(), {b.Slice(0, 10)}).ok());
  EXPECT_EQ(Count("sinktest.r"), 10);
  {
    auto killed = MakeSink("table=sinktest.r&mode=replace");
    ASSERT_TRUE(killed.ok());
    ASSERT_TRUE((*killed)->Open(b.schema()).ok());
    auto kw = (*killed)->NewWriter();
    ASSERT_TRUE(kw.ok());
    ASSERT_TRUE((*kw)->ApplyPart(Part("x", 20), {b.Slice(0, 20)}).ok());
  }
  EXPECT_EQ(Count("sinktest.r"), 10);
  ASSERT_TRUE(Load("table=sinktest.r&mode=replace", b.schema(), {b.Slice(0, 30)}, "x").ok());
  EXPECT_EQ(Count("sinktest.r"), 30);
}

TEST_F(PostgresSinkTest, TruncateInsertKeepsTheTable) {
  RecordBatch b = testing::MixedBatch(100);
  ASSERT_TRUE(Load("table=sinktest.ti", b.schema(), {b}).ok());
  Sql("CREATE VIEW sinktest.ti_view AS SELECT * FROM sinktest.ti");
  auto sink = MakeSink("table=sinktest.ti&mode=truncate-insert");
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Open(b.schema()).ok());
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->ApplyPart(Part("t1", 40), {b.Slice(0, 40)}).ok());
  EXPECT_EQ(Count("sinktest.ti"), 100);
  ASSERT_TRUE((*sink)->Commit().ok());
  EXPECT_EQ(Count("sinktest.ti"), 40);
  EXPECT_EQ(Count("sinktest.ti_view"), 40);
  EXPECT_EQ(Value("SELECT count(*) FROM sinktest._sluice_ledger WHERE target = '\"sinktest\".\"ti\"'"), "1");
}

TEST_F(PostgresSinkTest, SchemaDriftAddsColumnsAndRejectsNarrowTypes) {
  Sql("CREATE TABLE sinktest.d (id bigint, small int4); INSERT INTO sinktest.d VALUES (1, 2)");
  auto s1 = std::make_shared<Schema>(std::vector<Field>{
      {"id", DataType::Int32()}, {"small", DataType::Int16()}, {"extra", DataType::Decimal(12, 3)}});
  BatchBuilder bb(s1);
  bb.column(0).AppendFixed<int32_t>(7);
  bb.column(1).AppendFixed<int16_t>(-3);
  bb.column(2).AppendFixed<int128_t>(123456);
  Status st = Load("table=sinktest.d", s1, {bb.Finish()});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Value("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                  "'sinktest.d'::regclass AND attname = 'extra'"), "numeric(12,3)");
  EXPECT_EQ(Value("SELECT extra FROM sinktest.d WHERE id = 7"), "123.456");
  EXPECT_EQ(Value("SELECT count(*) FROM sinktest.d WHERE extra IS NULL"), "1");
  // int64 into an int4 column: a clear error naming column and both types.
  auto s2 = std::make_shared<Schema>(std::vector<Field>{{"small", DataType::Int64()}});
  auto sink = MakeSink("table=sinktest.d");
  ASSERT_TRUE(sink.ok());
  Status bad = (*sink)->Open(s2);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("\"small\""), std::string::npos) << bad.ToString();
  EXPECT_NE(bad.message().find("int4"), std::string::npos) << bad.ToString();
  EXPECT_NE(bad.message().find("int64"), std::string::npos) << bad.ToString();
}

TEST_F(PostgresSinkTest, HostileIdentifiers) {
  Sql("CREATE TABLE sinktest.x (v int); INSERT INTO sinktest.x VALUES (1)");
  const std::string evil = "a\"; DROP TABLE sinktest.x; --";
  auto schema = std::make_shared<Schema>(std::vector<Field>{{evil, DataType::String()},
                                                            {"'); DROP TABLE sinktest.x; --", DataType::Int32()}});
  BatchBuilder bb(schema);
  bb.column(0).AppendBytes("v'\"");
  bb.column(1).AppendFixed<int32_t>(5);
  RecordBatch b = bb.Finish();
  for (const char* mode : {"append", "replace", "truncate-insert"}) {
    SCOPED_TRACE(mode);
    Status st = Load("table=sinktest." + Enc(evil) + "&mode=" + mode, schema, {b});
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  EXPECT_EQ(Count("sinktest.x"), 1);
  EXPECT_EQ(Count("sinktest.\"a\"\"; DROP TABLE sinktest.x; --\""), 1);
  EXPECT_EQ(Value("SELECT \"a\"\"; DROP TABLE sinktest.x; --\" FROM sinktest.\"a\"\"; DROP TABLE sinktest.x; --\""),
            "v'\"");
}

TEST_F(PostgresSinkTest, ParallelWritersApplyEachPartOnce) {
  RecordBatch b = testing::MixedBatch(20 * 500);
  auto sink = MakeSink("table=sinktest.par&writers=4");
  ASSERT_TRUE(sink.ok());
  EXPECT_EQ((*sink)->MaxWriters(), 4);
  ASSERT_TRUE((*sink)->Open(b.schema()).ok());
  std::atomic<int> applied{0}, skipped{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto w = (*sink)->NewWriter();
      if (!w.ok()) { ++failed; return; }
      // Every thread offers every part (in a different order): duplicates
      // race on the ledger row.
      for (int k = 0; k < 20; ++k) {
        int p = (k + t * 5) % 20;
        auto r = (*w)->ApplyPart(Part("part" + std::to_string(p), 500, p + 1), {b.Slice(p * 500, 500)});
        if (!r.ok()) { ++failed; ADD_FAILURE() << r.status().ToString(); }
        else if (*r == ApplyOutcome::kApplied) ++applied;
        else ++skipped;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE((*sink)->Commit().ok());
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(applied.load(), 20);
  EXPECT_EQ(skipped.load(), 60);
  EXPECT_EQ(Count("sinktest.par"), 10000);
  EXPECT_EQ(Value("SELECT count(DISTINCT id) FROM sinktest.par"), "10000");
}

TEST_F(PostgresSinkTest, StageNameMustNotBeTruncated) {
  RecordBatch b = testing::MixedBatch(1);
  auto sink = MakeSink("table=sinktest." + std::string(60, 't') + "&mode=replace");
  ASSERT_TRUE(sink.ok());
  Status st = (*sink)->Open(b.schema());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("63 bytes"), std::string::npos) << st.ToString();
}

TEST_F(PostgresSinkTest, CreateFalseOnMissingTable) {
  RecordBatch b = testing::MixedBatch(1);
  auto sink = MakeSink("table=sinktest.none&create=false");
  ASSERT_TRUE(sink.ok());
  Status st = (*sink)->Open(b.schema());
  EXPECT_EQ(st.code(), StatusCode::kNotFound) << st.ToString();
}

}  // namespace
}  // namespace sluice
