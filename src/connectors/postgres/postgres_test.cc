// Integration tests against the real PostgreSQL started by
// `scripts/services.sh up postgres` (SLUICE_PG_URI, default
// postgres://postgres@127.0.0.1:55432/sluice_test). They FAIL when the server
// is unreachable: a skipped integration test proves nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "connectors/postgres/pg_conn.h"
#include "connectors/postgres/postgres.h"
#include "core/int128.h"
#include "core/temporal.h"

namespace sluice {
namespace {

std::string BaseUri() {
  const char* e = std::getenv("SLUICE_PG_URI");
  return e && *e ? e : "postgres://postgres@127.0.0.1:55432/sluice_test";
}

class PostgresTest : public ::testing::Test {
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
  }

  void Sql(const std::string& sql) {
    auto r = admin_->Exec(sql, "test setup");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  Result<std::unique_ptr<Source>> Make(const std::string& options,
                                       std::vector<std::pair<std::string, std::string>> extra = {}) {
    return registry_.MakeSource(BaseUri() + "?" + options, extra);
  }

  struct ReadResult {
    std::shared_ptr<const Schema> schema;
    std::vector<RecordBatch> batches;
    std::vector<Split> splits;
    int64_t rows = 0;
  };

  static Result<ReadResult> ReadSplits(Source* src, const std::vector<Split>& splits) {
    ReadResult out;
    out.schema = src->schema();
    out.splits = splits;
    for (const Split& s : splits) {
      SLUICE_ASSIGN_OR_RETURN(auto reader, src->OpenSplit(s));
      while (true) {
        SLUICE_ASSIGN_OR_RETURN(auto batch, reader->Next());
        if (!batch) break;
        SLUICE_RETURN_NOT_OK(batch->Validate());
        out.rows += batch->num_rows();
        out.batches.push_back(std::move(*batch));
      }
    }
    return out;
  }

  Result<ReadResult> ReadAll(const std::string& options, int max_splits = 1,
                             std::vector<std::pair<std::string, std::string>> extra = {}) {
    SLUICE_ASSIGN_OR_RETURN(auto src, Make(options, extra));
    SLUICE_RETURN_NOT_OK(src->Open(SourceOptions{}));
    SLUICE_ASSIGN_OR_RETURN(auto splits, src->Plan(max_splits));
    SLUICE_ASSIGN_OR_RETURN(auto out, ReadSplits(src.get(), splits));
    SLUICE_RETURN_NOT_OK(src->Close());
    return out;
  }

  // All values of int column `col`, across batches, sorted.
  static std::vector<int64_t> Ints(const ReadResult& r, int col) {
    std::vector<int64_t> v;
    for (const auto& b : r.batches) {
      for (int64_t i = 0; i < b.num_rows(); ++i) {
        const Column& c = b.column(col);
        v.push_back(c.type.id == TypeId::kInt32 ? c.Value<int32_t>(i) : c.Value<int64_t>(i));
      }
    }
    std::sort(v.begin(), v.end());
    return v;
  }

  std::unique_ptr<PgConnection> admin_;
  Registry registry_;
};

int64_t Micros(int y, unsigned mo, unsigned d, int h, int mi, int s, int us) {
  return int64_t{DaysFromCivil(y, mo, d)} * 86400000000LL +
         ((int64_t{h} * 60 + mi) * 60 + s) * 1000000LL + us;
}

TEST_F(PostgresTest, EveryTypeRoundTrips) {
  Sql("DROP TABLE IF EXISTS t_types; DROP TYPE IF EXISTS mood; DROP DOMAIN IF EXISTS posint;"
      "CREATE TYPE mood AS ENUM ('sad', 'happy');"
      "CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);"
      "CREATE TABLE t_types (id int4 PRIMARY KEY, i2 int2, i8 int8, n numeric(38,9), nu numeric,"
      " r real, d double precision, t text, vc varchar(10), ch char(3), nm name, b bytea, bo boolean,"
      " dt date, tm time, tmtz timetz, ts timestamp, tstz timestamptz, iv interval, u uuid,"
      " j json, jb jsonb, e mood, dom posint, arr int4[], tarr text[], ip inet, net cidr,"
      " n52 numeric(5,2) NOT NULL DEFAULT 0);"
      "INSERT INTO t_types VALUES (1, 32767, 9223372036854775807,"
      " 99999999999999999999999999999.999999999, 123.456, 'NaN', 'Infinity',"
      " 'héllo ✓ 日本 😀', 'abc', 'ab', 'nm', '\\x00ff10', true, '0001-01-01', '23:59:59.999999',"
      " '12:00:00+03', '9999-12-31 23:59:59.999999', '2024-02-29 12:34:56.789+03',"
      " '1 year 2 mons 3 days 04:05:06', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',"
      " '{\"a\": [1, 2]}', '{\"b\": 1}', 'happy', 42, '{1,2,NULL}', '{\"x y\",z}',"
      " '192.168.0.1/24', '10.0.0.0/8', 123.45),"
      " (2, -32768, -9223372036854775808, -99999999999999999999999999999.999999999, -0.5,"
      " '-Infinity', 'NaN', '', '', '', '', '', false, '9999-12-31', '00:00:00', '00:00:00-05:30',"
      " '0001-01-01 00:00:00', '1970-01-01 00:00:00+00', '-1 day', '00000000-0000-0000-0000-000000000000',"
      " '[]', '[]', 'sad', 1, '{}', '{}', '::1', '::/0', -999.99),"
      " (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
      " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0)");
  auto r = ReadAll("table=public.t_types");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows, 3);
  ASSERT_EQ(r->batches.size(), 1u);
  const RecordBatch& b = r->batches[0];
  const Schema& s = *r->schema;
  auto col = [&](const char* name) -> const Column& {
    auto i = s.FieldIndex(name);
    EXPECT_TRUE(i.has_value()) << name;
    return b.column(*i);
  };
  auto type = [&](const char* name) { return s.field(*s.FieldIndex(name)).type; };
  // Schema: types, keys, nullability, source type names.
  EXPECT_EQ(type("id"), DataType::Int32());
  EXPECT_TRUE(s.field(0).primary_key);
  EXPECT_FALSE(s.field(0).nullable);
  EXPECT_TRUE(s.field(1).nullable);
  EXPECT_FALSE(s.field(*s.FieldIndex("n52")).nullable);
  EXPECT_EQ(type("i2"), DataType::Int16());
  EXPECT_EQ(type("i8"), DataType::Int64());
  EXPECT_EQ(type("n"), DataType::Decimal(38, 9));
  EXPECT_EQ(type("nu"), DataType::Decimal(38, 9));
  EXPECT_EQ(type("n52"), DataType::Decimal(5, 2));
  EXPECT_EQ(type("r"), DataType::Float32());
  EXPECT_EQ(type("d"), DataType::Float64());
  for (const char* n : {"t", "vc", "ch", "nm", "tmtz", "iv", "e", "ip", "net"}) {
    EXPECT_EQ(type(n), DataType::String()) << n;
  }
  EXPECT_EQ(type("b"), DataType::Binary());
  EXPECT_EQ(type("bo"), DataType::Bool());
  EXPECT_EQ(type("dt"), DataType::Date());
  EXPECT_EQ(type("tm"), DataType::Time());
  EXPECT_EQ(type("ts"), DataType::Timestamp());
  EXPECT_EQ(type("tstz"), DataType::TimestampTz("UTC"));
  EXPECT_EQ(type("u"), DataType::Uuid());
  for (const char* n : {"j", "jb", "arr", "tarr"}) EXPECT_EQ(type(n), DataType::Json()) << n;
  EXPECT_EQ(type("dom"), DataType::Int32());
  EXPECT_EQ(s.field(*s.FieldIndex("n")).source_type, "numeric(38,9)");
  EXPECT_EQ(s.field(*s.FieldIndex("vc")).source_type, "character varying(10)");

  // Row 0: maxima and assorted values.
  EXPECT_EQ(col("i2").Value<int16_t>(0), 32767);
  EXPECT_EQ(col("i8").Value<int64_t>(0), INT64_MAX);
  EXPECT_TRUE(col("n").DecimalValue(0) == MaxDecimalMagnitude(38));
  EXPECT_TRUE(col("nu").DecimalValue(0) == int128_t{123456000000});
  EXPECT_TRUE(col("n52").DecimalValue(0) == 12345);
  EXPECT_TRUE(std::isnan(col("r").Value<float>(0)));
  EXPECT_EQ(col("d").Value<double>(0), INFINITY);
  EXPECT_EQ(col("t").StringValue(0), "héllo ✓ 日本 😀");
  EXPECT_EQ(col("vc").StringValue(0), "abc");
  EXPECT_EQ(col("ch").StringValue(0), "ab ");  // char(n) keeps its padding
  EXPECT_EQ(col("nm").StringValue(0), "nm");
  EXPECT_EQ(col("b").StringValue(0), std::string("\x00\xff\x10", 3));
  EXPECT_TRUE(col("bo").BoolValue(0));
  EXPECT_EQ(col("dt").Value<int32_t>(0), DaysFromCivil(1, 1, 1));
  EXPECT_EQ(col("tm").Value<int64_t>(0), 86399999999);
  EXPECT_EQ(col("tmtz").StringValue(0), "12:00:00+03");
  EXPECT_EQ(col("ts").Value<int64_t>(0), Micros(9999, 12, 31, 23, 59, 59, 999999));
  EXPECT_EQ(col("tstz").Value<int64_t>(0), Micros(2024, 2, 29, 9, 34, 56, 789000));
  EXPECT_EQ(col("iv").StringValue(0), "P1Y2M3DT4H5M6S");
  const uint8_t want_uuid[16] = {0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8,
                                 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11};
  EXPECT_EQ(std::memcmp(col("u").FixedBytes(0, 16), want_uuid, 16), 0);
  EXPECT_EQ(col("j").StringValue(0), "{\"a\": [1, 2]}");
  EXPECT_EQ(col("jb").StringValue(0), "{\"b\": 1}");
  EXPECT_EQ(col("e").StringValue(0), "happy");
  EXPECT_EQ(col("dom").Value<int32_t>(0), 42);
  EXPECT_EQ(col("arr").StringValue(0), "[1,2,null]");
  EXPECT_EQ(col("tarr").StringValue(0), "[\"x y\",\"z\"]");
  EXPECT_EQ(col("ip").StringValue(0), "192.168.0.1/24");
  EXPECT_EQ(col("net").StringValue(0), "10.0.0.0/8");

  // Row 1: minima, empty values.
  EXPECT_EQ(col("i2").Value<int16_t>(1), -32768);
  EXPECT_EQ(col("i8").Value<int64_t>(1), INT64_MIN);
  EXPECT_TRUE(col("n").DecimalValue(1) == -MaxDecimalMagnitude(38));
  EXPECT_TRUE(col("nu").DecimalValue(1) == int128_t{-500000000});
  EXPECT_TRUE(col("n52").DecimalValue(1) == -99999);
  EXPECT_EQ(col("r").Value<float>(1), -INFINITY);
  EXPECT_TRUE(std::isnan(col("d").Value<double>(1)));
  EXPECT_EQ(col("t").StringValue(1), "");
  EXPECT_FALSE(col("t").IsNull(1));
  EXPECT_EQ(col("ch").StringValue(1), "   ");
  EXPECT_EQ(col("b").StringValue(1), "");
  EXPECT_FALSE(col("bo").BoolValue(1));
  EXPECT_EQ(col("dt").Value<int32_t>(1), DaysFromCivil(9999, 12, 31));
  EXPECT_EQ(col("tm").Value<int64_t>(1), 0);
  EXPECT_EQ(col("tmtz").StringValue(1), "00:00:00-05:30");
  EXPECT_EQ(col("ts").Value<int64_t>(1), Micros(1, 1, 1, 0, 0, 0, 0));
  EXPECT_EQ(col("tstz").Value<int64_t>(1), 0);
  EXPECT_EQ(col("iv").StringValue(1), "P-1D");
  const uint8_t zero[16] = {};
  EXPECT_EQ(std::memcmp(col("u").FixedBytes(1, 16), zero, 16), 0);
  EXPECT_EQ(col("arr").StringValue(1), "[]");
  EXPECT_EQ(col("ip").StringValue(1), "::1/128");
  EXPECT_EQ(col("net").StringValue(1), "::/0");

  // Row 2: NULL everywhere but the key and the NOT NULL column.
  for (int c = 1; c < b.num_columns(); ++c) {
    if (s.field(c).name == "n52") continue;
    EXPECT_TRUE(b.column(c).IsNull(2)) << s.field(c).name;
  }
}

TEST_F(PostgresTest, ZeroAndOneRow) {
  Sql("DROP TABLE IF EXISTS t_small; CREATE TABLE t_small (id int8 PRIMARY KEY, v text)");
  auto r = ReadAll("table=t_small", 4);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 0);
  EXPECT_EQ(r->schema->num_fields(), 2);
  EXPECT_EQ(r->splits.size(), 1u);
  Sql("INSERT INTO t_small VALUES (7, 'seven')");
  r = ReadAll("table=t_small", 4);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows, 1);
  EXPECT_EQ(r->batches[0].column(0).Value<int64_t>(0), 7);
  EXPECT_EQ(r->batches[0].column(1).StringValue(0), "seven");
}

TEST_F(PostgresTest, QueryInsteadOfTable) {
  Sql("DROP TABLE IF EXISTS t_q; CREATE TABLE t_q (id int4, v text);"
      "INSERT INTO t_q SELECT g, 'v' || g FROM generate_series(1, 10) g");
  // Unnamed output columns work too (read by position; names must be unique).
  auto r = ReadAll("", 1,
                   {{"query", "SELECT id, v, id * 2 AS twice, 1.5::numeric(3,1), ARRAY[id] "
                              "FROM t_q WHERE id <= 3 ORDER BY 1;"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows, 3);
  const RecordBatch& b = r->batches[0];
  EXPECT_EQ(b.column(0).Value<int32_t>(2), 3);
  EXPECT_EQ(b.column(1).StringValue(2), "v3");
  EXPECT_EQ(b.column(2).Value<int32_t>(2), 6);
  EXPECT_TRUE(b.column(3).DecimalValue(0) == 15);
  EXPECT_EQ(b.column(4).StringValue(1), "[2]");
  EXPECT_FALSE(r->schema->field(0).primary_key);
}

TEST_F(PostgresTest, KeyRangeSplitsCoverEveryRowOnce) {
  Sql("DROP TABLE IF EXISTS t_keys; CREATE TABLE t_keys (id int8 PRIMARY KEY, v text);"
      "INSERT INTO t_keys SELECT g * 3, repeat('x', g % 50) FROM generate_series(-5000, 5000) g;"
      "ANALYZE t_keys");
  auto r = ReadAll("table=t_keys&min_split_rows=1000&batch_rows=777", 8);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->splits.size(), 8u);
  EXPECT_EQ(r->splits[1].description.rfind("key ", 0), 0u) << r->splits[1].description;
  std::vector<int64_t> ids = Ints(*r, 0);
  ASSERT_EQ(ids.size(), 10001u);
  for (int64_t i = 0; i < 10001; ++i) ASSERT_EQ(ids[static_cast<size_t>(i)], (i - 5000) * 3);
}

TEST_F(PostgresTest, CtidRangeSplitsCoverEveryRowOnce) {
  Sql("DROP TABLE IF EXISTS t_heap; CREATE TABLE t_heap (n int4, pad text);"
      "INSERT INTO t_heap SELECT g, repeat('p', 100) FROM generate_series(1, 20000) g;"
      "DELETE FROM t_heap WHERE n % 7 = 0; ANALYZE t_heap");
  auto r = ReadAll("table=t_heap&min_split_rows=1000", 6);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->splits.size(), 6u);
  EXPECT_EQ(r->splits[0].description.rfind("pages ", 0), 0u) << r->splits[0].description;
  std::vector<int64_t> ns = Ints(*r, 0);
  std::vector<int64_t> want;
  for (int64_t i = 1; i <= 20000; ++i) if (i % 7 != 0) want.push_back(i);
  EXPECT_EQ(ns, want);
}

TEST_F(PostgresTest, AllSplitsReadOneSnapshot) {
  Sql("DROP TABLE IF EXISTS t_snap; CREATE TABLE t_snap (id int4 PRIMARY KEY);"
      "INSERT INTO t_snap SELECT generate_series(1, 4000); ANALYZE t_snap");
  auto src = Make("table=t_snap&min_split_rows=100");
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  ASSERT_TRUE((*src)->Open(SourceOptions{}).ok());
  auto splits = (*src)->Plan(4);
  ASSERT_TRUE(splits.ok());
  ASSERT_EQ(splits->size(), 4u);
  // Written by another connection after Plan(): inside every split's key range,
  // and beyond both ends (the open-ended first / last splits).
  Sql("INSERT INTO t_snap SELECT g FROM generate_series(4001, 4500) g;"
      "INSERT INTO t_snap VALUES (-1), (0); DELETE FROM t_snap WHERE id % 10 = 0;"
      "UPDATE t_snap SET id = id + 100000 WHERE id BETWEEN 1 AND 5");
  auto r = ReadSplits(src->get(), *splits);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<int64_t> ids = Ints(*r, 0);
  ASSERT_EQ(ids.size(), 4000u);
  for (int64_t i = 0; i < 4000; ++i) ASSERT_EQ(ids[static_cast<size_t>(i)], i + 1);
  EXPECT_TRUE((*src)->Close().ok());
}

TEST_F(PostgresTest, FingerprintStableUntilSomethingChanges) {
  Sql("DROP TABLE IF EXISTS t_fp; CREATE TABLE t_fp (id int4); INSERT INTO t_fp VALUES (1)");
  auto fp = [&]() -> std::string {
    auto src = Make("table=t_fp");
    EXPECT_TRUE(src.ok());
    EXPECT_TRUE((*src)->Open(SourceOptions{}).ok());
    return (*src)->Fingerprint();
  };
  std::string a = fp(), b = fp();
  EXPECT_EQ(a, b);
  EXPECT_NE(a.find("t_fp"), std::string::npos) << a;
  Sql("INSERT INTO t_fp VALUES (2)");
  EXPECT_NE(fp(), a);
}

TEST_F(PostgresTest, IdentityStaysWhenTheSnapshotMoves) {
  Sql("DROP TABLE IF EXISTS t_id; CREATE TABLE t_id (id int4); INSERT INTO t_id VALUES (1)");
  auto open = [&]() -> std::pair<std::string, std::string> {
    auto src = Make("table=t_id");
    EXPECT_TRUE(src.ok());
    EXPECT_TRUE((*src)->Open(SourceOptions{}).ok());
    return {(*src)->Fingerprint(), (*src)->Identity()};
  };
  const auto [fp, identity] = open();
  EXPECT_NE(identity.find("t_id"), std::string::npos) << identity;
  EXPECT_EQ(identity.find("xmax"), std::string::npos) << identity;
  EXPECT_EQ(fp.rfind(identity + "#", 0), 0u) << fp;
  // A write anywhere in the cluster moves xmax: a new fingerprint (stream),
  // the same identity (part keys of unchanged rows).
  Sql("SELECT txid_current()");
  const auto [fp2, identity2] = open();
  EXPECT_NE(fp2, fp);
  EXPECT_EQ(identity2, identity);
}

TEST_F(PostgresTest, ValuesWithoutADecimalFormFail) {
  Sql("DROP TABLE IF EXISTS t_bad; CREATE TABLE t_bad (id int4, n numeric(10,2), nu numeric,"
      " dt date, ts timestamptz)");
  auto check = [&](const std::string& insert, const char* want) {
    Sql("TRUNCATE t_bad; INSERT INTO t_bad VALUES " + insert);
    auto r = ReadAll("table=t_bad");
    ASSERT_FALSE(r.ok()) << insert;
    EXPECT_NE(r.status().message().find(want), std::string::npos) << r.status().ToString();
    EXPECT_NE(r.status().message().find("row 2"), std::string::npos) << r.status().ToString();
  };
  check("(1, 1, 1, '2000-01-01', now()), (2, 'NaN', 1, NULL, NULL)", "NaN");
  check("(1, 1, 1, NULL, NULL), (2, NULL, 'Infinity', NULL, NULL)", "Infinity");
  check("(1, 1, 1, NULL, NULL), (2, NULL, 0.0000000001, NULL, NULL)", "fractional digits");
  check("(1, 1, 1, NULL, NULL), (2, NULL, 1e30, NULL, NULL)", "precision");
  check("(1, 1, 1, NULL, NULL), (2, NULL, NULL, 'infinity', NULL)", "infinity");
  check("(1, 1, 1, NULL, NULL), (2, NULL, NULL, NULL, '-infinity')", "-infinity");
  // The escape hatch: unconstrained numeric as exact text.
  Sql("TRUNCATE t_bad; INSERT INTO t_bad VALUES (1, NULL, 'NaN', NULL, NULL),"
      " (2, NULL, 1e30, NULL, NULL)");
  auto r = ReadAll("table=t_bad&numeric=string");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->batches[0].column(2).StringValue(0), "NaN");
  EXPECT_EQ(r->batches[0].column(2).StringValue(1), "1000000000000000000000000000000");
}

TEST_F(PostgresTest, Errors) {
  // Missing table: NotFound naming it.
  auto r = ReadAll("table=public.no_such_table");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  EXPECT_NE(r.status().message().find("public.no_such_table"), std::string::npos);
  // Bad query: the server's message.
  r = ReadAll("", 1, {{"query", "SELECT nope FROM t_small"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("column \"nope\" does not exist"), std::string::npos)
      << r.status().ToString();
  // Neither / both of table and query.
  EXPECT_FALSE(Make("").ok());
  // Bad credentials.
  auto bad_user = registry_.MakeSource("postgres://no_such_user@127.0.0.1:" +
                                       std::to_string(admin_->endpoint().port) +
                                       "/sluice_test?table=t");
  ASSERT_TRUE(bad_user.ok());
  Status st = (*bad_user)->Open(SourceOptions{});
  EXPECT_EQ(st.code(), StatusCode::kIOError);
  EXPECT_NE(st.message().find("no_such_user"), std::string::npos) << st.ToString();
  // Server down (nothing listens on port 1).
  auto down = registry_.MakeSource("postgres://postgres:secret@127.0.0.1:1/sluice_test?table=t");
  ASSERT_TRUE(down.ok());
  st = (*down)->Open(SourceOptions{});
  EXPECT_EQ(st.code(), StatusCode::kIOError);
  EXPECT_NE(st.message().find("cannot connect to 127.0.0.1:1/sluice_test"), std::string::npos)
      << st.ToString();
  EXPECT_EQ(st.message().find("secret"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace sluice
