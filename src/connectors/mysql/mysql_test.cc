// Integration tests against the real MariaDB started by
// `scripts/services.sh up mariadb` (SLUICE_MYSQL_URI, default
// mysql://root@127.0.0.1:33306/sluice_test). They FAIL when the server is
// unreachable: a skipped integration test proves nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "connectors/mysql/mysql.h"
#include "connectors/mysql/mysql_conn.h"
#include "core/int128.h"
#include "core/temporal.h"
#include "core/text.h"

namespace sluice {
namespace {

std::string BaseUri() {
  const char* e = std::getenv("SLUICE_MYSQL_URI");
  return e && *e ? e : "mysql://root@127.0.0.1:33306/sluice_test";
}

int64_t Micros(int y, unsigned mo, unsigned d, int h, int mi, int s, int us) {
  return int64_t{DaysFromCivil(y, mo, d)} * 86400000000LL +
         ((int64_t{h} * 60 + mi) * 60 + s) * 1000000LL + us;
}

class MysqlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto uri = Uri::Parse(BaseUri());
    ASSERT_TRUE(uri.ok()) << uri.status().ToString();
    auto ep = MysqlEndpoint::FromUri(*uri);
    ASSERT_TRUE(ep.ok()) << ep.status().ToString();
    auto conn = MysqlConnection::Connect(*ep);
    ASSERT_TRUE(conn.ok()) << "MariaDB at " << BaseUri()
                           << " is unreachable; run `scripts/services.sh up mariadb` first: "
                           << conn.status().ToString();
    admin_ = std::move(*conn);
    RegisterMysql(&registry_);
  }

  void Sql(const std::string& sql) {
    Status st = admin_->Exec(sql, "test setup");
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  struct ReadResult {
    std::shared_ptr<const Schema> schema;
    std::vector<RecordBatch> batches;
    int64_t rows = 0;
  };

  Result<ReadResult> ReadAll(const std::string& options, const std::string& base = BaseUri()) {
    SLUICE_ASSIGN_OR_RETURN(auto src, registry_.MakeSource(base + "?" + options));
    SLUICE_RETURN_NOT_OK(src->Open(SourceOptions{}));
    ReadResult out;
    out.schema = src->schema();
    SLUICE_ASSIGN_OR_RETURN(auto splits, src->Plan(4));
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
    SLUICE_RETURN_NOT_OK(src->Close());
    return out;
  }

  std::unique_ptr<MysqlConnection> admin_;
  Registry registry_;
};

TEST_F(MysqlTest, EveryTypeRoundTrips) {
  Sql("DROP TABLE IF EXISTS t_types");
  Sql("CREATE TABLE t_types (id INT PRIMARY KEY, b TINYINT(1), i8 TINYINT, u8 TINYINT UNSIGNED,"
      " i16 SMALLINT, u16 SMALLINT UNSIGNED, i24 MEDIUMINT, u24 MEDIUMINT UNSIGNED,"
      " u32 INT UNSIGNED, i64 BIGINT, u64 BIGINT UNSIGNED, dec1 DECIMAL(38,9), dec2 DECIMAL(5,2) UNSIGNED,"
      " dec3 DECIMAL(65,30), f FLOAT, d DOUBLE, dt DATE, tm TIME(6), dtm DATETIME(6), ts TIMESTAMP(6) NULL,"
      " ch CHAR(3), vc VARCHAR(20), tx TEXT, bn BINARY(3), vb VARBINARY(10), bl BLOB, j JSON,"
      " e ENUM('sad','happy'), s SET('a','b','c'), bt BIT(12), bt64 BIT(64), yr YEAR,"
      " nn INT NOT NULL DEFAULT 7) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
  Sql("INSERT INTO t_types VALUES (1, 1, -128, 255, -32768, 65535, -8388608, 16777215, 4294967295,"
      " -9223372036854775808, 18446744073709551615, 99999999999999999999999999999.999999999, 999.99,"
      " -12345678901234567890123456789012345.123456789012345678901234567890,"
      " 1.5, 2.718281828459045, '1000-01-01', '23:59:59.999999', '9999-12-31 23:59:59.999999',"
      " '2024-02-29 12:34:56.789000', 'ab', 'héllo ✓ 日本 😀', 'long text', X'00FF10', X'', X'DEADBEEF00',"
      " '{\"a\": [1, 2]}', 'happy', 'a,c', b'101010101010', 18446744073709551615, 2024, 1),"
      " (2, 0, 127, 0, 32767, 0, 8388607, 0, 0, 9223372036854775807, 0,"
      " -99999999999999999999999999999.999999999, 0.01, 0, -0.25, -1e308, '9999-12-31', '00:00:00',"
      " '1000-01-01 00:00:00', '1970-01-01 00:00:01', '', '', '', X'000000', X'00', X'',"
      " '[]', 'sad', '', b'0', 0, 1901, 2),"
      " (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
      " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 3)");
  auto r = ReadAll("table=t_types");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows, 3);
  ASSERT_EQ(r->batches.size(), 1u);
  const RecordBatch& b = r->batches[0];
  const Schema& s = *r->schema;
  auto idx = [&](const char* name) {
    auto i = s.FieldIndex(name);
    EXPECT_TRUE(i.has_value()) << name;
    return i.value_or(0);
  };
  auto col = [&](const char* name) -> const Column& { return b.column(idx(name)); };
  auto type = [&](const char* name) { return s.field(idx(name)).type; };

  EXPECT_EQ(type("id"), DataType::Int32());
  EXPECT_TRUE(s.field(idx("id")).primary_key);
  EXPECT_FALSE(s.field(idx("id")).nullable);
  EXPECT_FALSE(s.field(idx("nn")).nullable);
  EXPECT_TRUE(s.field(idx("i8")).nullable);
  EXPECT_EQ(type("b"), DataType::Bool());
  EXPECT_EQ(type("i8"), DataType::Int8());
  EXPECT_EQ(type("u8"), DataType::UInt8());
  EXPECT_EQ(type("i16"), DataType::Int16());
  EXPECT_EQ(type("u16"), DataType::UInt16());
  EXPECT_EQ(type("i24"), DataType::Int32());
  EXPECT_EQ(type("u24"), DataType::UInt32());
  EXPECT_EQ(type("u32"), DataType::UInt32());
  EXPECT_EQ(type("i64"), DataType::Int64());
  EXPECT_EQ(type("u64"), DataType::UInt64());
  EXPECT_EQ(type("dec1"), DataType::Decimal(38, 9));
  EXPECT_EQ(type("dec2"), DataType::Decimal(5, 2));
  EXPECT_EQ(type("dec3"), DataType::String());
  EXPECT_EQ(type("f"), DataType::Float32());
  EXPECT_EQ(type("d"), DataType::Float64());
  EXPECT_EQ(type("dt"), DataType::Date());
  EXPECT_EQ(type("tm"), DataType::Time());
  EXPECT_EQ(type("dtm"), DataType::Timestamp());
  EXPECT_EQ(type("ts"), DataType::TimestampTz("UTC"));
  EXPECT_EQ(type("ch"), DataType::String());
  EXPECT_EQ(type("vc"), DataType::String());
  EXPECT_EQ(type("tx"), DataType::String());
  EXPECT_EQ(type("bn"), DataType::Binary());
  EXPECT_EQ(type("vb"), DataType::Binary());
  EXPECT_EQ(type("bl"), DataType::Binary());
  EXPECT_EQ(type("j"), DataType::Json());
  EXPECT_EQ(type("e"), DataType::String());
  EXPECT_EQ(type("s"), DataType::String());
  EXPECT_EQ(type("bt"), DataType::UInt64());
  EXPECT_EQ(type("bt64"), DataType::UInt64());
  EXPECT_EQ(type("yr"), DataType::Int16());

  // Row 0: extremes and typical values.
  EXPECT_TRUE(col("b").BoolValue(0));
  EXPECT_FALSE(col("b").BoolValue(1));
  EXPECT_EQ(col("i8").Value<int8_t>(0), -128);
  EXPECT_EQ(col("i8").Value<int8_t>(1), 127);
  EXPECT_EQ(col("u8").Value<uint8_t>(0), 255);
  EXPECT_EQ(col("i16").Value<int16_t>(0), -32768);
  EXPECT_EQ(col("u16").Value<uint16_t>(0), 65535);
  EXPECT_EQ(col("i24").Value<int32_t>(0), -8388608);
  EXPECT_EQ(col("u24").Value<uint32_t>(0), 16777215u);
  EXPECT_EQ(col("u32").Value<uint32_t>(0), 4294967295u);
  EXPECT_EQ(col("i64").Value<int64_t>(0), INT64_MIN);
  EXPECT_EQ(col("i64").Value<int64_t>(1), INT64_MAX);
  EXPECT_EQ(col("u64").Value<uint64_t>(0), UINT64_MAX);
  EXPECT_EQ(FormatDecimal(col("dec1").DecimalValue(0), 9), "99999999999999999999999999999.999999999");
  EXPECT_EQ(FormatDecimal(col("dec1").DecimalValue(1), 9), "-99999999999999999999999999999.999999999");
  EXPECT_EQ(FormatDecimal(col("dec2").DecimalValue(0), 2), "999.99");
  EXPECT_EQ(FormatDecimal(col("dec2").DecimalValue(1), 2), "0.01");
  EXPECT_EQ(col("dec3").StringValue(0),
            "-12345678901234567890123456789012345.123456789012345678901234567890");
  EXPECT_EQ(col("f").Value<float>(0), 1.5f);
  EXPECT_EQ(col("f").Value<float>(1), -0.25f);
  EXPECT_EQ(col("d").Value<double>(0), 2.718281828459045);
  EXPECT_EQ(col("d").Value<double>(1), -1e308);
  EXPECT_EQ(col("dt").Value<int32_t>(0), DaysFromCivil(1000, 1, 1));
  EXPECT_EQ(col("dt").Value<int32_t>(1), DaysFromCivil(9999, 12, 31));
  EXPECT_EQ(col("tm").Value<int64_t>(0), 86399999999LL);
  EXPECT_EQ(col("tm").Value<int64_t>(1), 0);
  EXPECT_EQ(col("dtm").Value<int64_t>(0), Micros(9999, 12, 31, 23, 59, 59, 999999));
  EXPECT_EQ(col("dtm").Value<int64_t>(1), Micros(1000, 1, 1, 0, 0, 0, 0));
  EXPECT_EQ(col("ts").Value<int64_t>(0), Micros(2024, 2, 29, 12, 34, 56, 789000));
  EXPECT_EQ(col("ts").Value<int64_t>(1), 1000000);
  EXPECT_EQ(col("ch").StringValue(0), "ab");
  EXPECT_EQ(col("vc").StringValue(0), "héllo ✓ 日本 😀");
  EXPECT_EQ(col("vc").StringValue(1), "");
  EXPECT_EQ(col("tx").StringValue(0), "long text");
  EXPECT_EQ(col("bn").StringValue(0), std::string_view("\x00\xff\x10", 3));
  EXPECT_EQ(col("bn").StringValue(1), std::string_view("\x00\x00\x00", 3));
  EXPECT_EQ(col("vb").StringValue(0), "");
  EXPECT_EQ(col("vb").StringValue(1), std::string_view("\x00", 1));
  EXPECT_EQ(col("bl").StringValue(0), std::string_view("\xde\xad\xbe\xef\x00", 5));
  EXPECT_EQ(col("j").StringValue(0), "{\"a\": [1, 2]}");
  EXPECT_EQ(col("j").StringValue(1), "[]");
  EXPECT_EQ(col("e").StringValue(0), "happy");
  EXPECT_EQ(col("s").StringValue(0), "a,c");
  EXPECT_EQ(col("s").StringValue(1), "");
  EXPECT_EQ(col("bt").Value<uint64_t>(0), 0xAAAu);
  EXPECT_EQ(col("bt").Value<uint64_t>(1), 0u);
  EXPECT_EQ(col("bt64").Value<uint64_t>(0), UINT64_MAX);
  EXPECT_EQ(col("yr").Value<int16_t>(0), 2024);
  EXPECT_EQ(col("nn").Value<int32_t>(2), 3);
  // Row 2: NULL in every nullable column.
  for (int c = 1; c < s.num_fields(); ++c) {
    if (s.field(c).name == "nn") continue;
    EXPECT_TRUE(b.column(c).IsNull(2)) << s.field(c).name;
    EXPECT_FALSE(b.column(c).IsNull(0)) << s.field(c).name;
  }
}

TEST_F(MysqlTest, EmptyTableAndSmallBatches) {
  Sql("DROP TABLE IF EXISTS t_empty");
  Sql("CREATE TABLE t_empty (id BIGINT PRIMARY KEY, v VARCHAR(5))");
  auto r = ReadAll("table=t_empty");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 0);
  EXPECT_EQ(r->schema->num_fields(), 2);

  Sql("INSERT INTO t_empty VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d'),(5,'e'),(6,'f'),(7,'g')");
  auto r2 = ReadAll("table=t_empty&batch_rows=3");
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2->rows, 7);
  ASSERT_EQ(r2->batches.size(), 3u);
  int64_t expect = 1;
  for (const auto& b : r2->batches) {
    for (int64_t i = 0; i < b.num_rows(); ++i) EXPECT_EQ(b.column(0).Value<int64_t>(i), expect++);
  }
}

TEST_F(MysqlTest, ReaderDroppedMidResult) {
  Sql("DROP TABLE IF EXISTS t_many");
  Sql("CREATE TABLE t_many (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(50))");
  Sql("INSERT INTO t_many (v) SELECT CONCAT('value ', seq) FROM seq_1_to_20000");
  auto src = registry_.MakeSource(BaseUri() + "?table=t_many&batch_rows=100");
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  ASSERT_TRUE((*src)->Open(SourceOptions{}).ok());
  auto splits = (*src)->Plan(1);
  ASSERT_TRUE(splits.ok());
  {
    auto reader = (*src)->OpenSplit((*splits)[0]);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    auto batch = (*reader)->Next();
    ASSERT_TRUE(batch.ok() && batch->has_value());
    EXPECT_EQ((*batch)->num_rows(), 100);
    EXPECT_EQ((*batch)->column(1).StringValue(99), "value 100");
  }  // dropped with most of the result unread
  auto r = ReadAll("table=t_many");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 20000);
}

TEST_F(MysqlTest, KeyRangeSplitsCoverTheTableOnce) {
  Sql("DROP TABLE IF EXISTS t_split");
  Sql("CREATE TABLE t_split (id BIGINT PRIMARY KEY, v INT)");
  Sql("INSERT INTO t_split SELECT CAST(seq AS SIGNED) * 3 - 1000, seq FROM seq_1_to_5000");
  auto src = registry_.MakeSource(BaseUri() + "?table=t_split&min_split_rows=100&batch_rows=700");
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  ASSERT_TRUE((*src)->Open(SourceOptions{}).ok());
  auto splits = (*src)->Plan(7);
  ASSERT_TRUE(splits.ok()) << splits.status().ToString();
  ASSERT_EQ(splits->size(), 7u);
  EXPECT_TRUE(splits->front().start.empty());
  EXPECT_TRUE(splits->back().end.empty());
  std::vector<int64_t> ids;
  for (const Split& s : *splits) {
    auto reader = (*src)->OpenSplit(s);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    int64_t n = 0;
    while (true) {
      auto b = (*reader)->Next();
      ASSERT_TRUE(b.ok()) << b.status().ToString();
      if (!b->has_value()) break;
      for (int64_t i = 0; i < (*b)->num_rows(); ++i) ids.push_back((*b)->column(0).Value<int64_t>(i));
      n += (*b)->num_rows();
    }
    EXPECT_GT(n, 0) << s.description;
  }
  ASSERT_EQ(ids.size(), 5000u);
  std::sort(ids.begin(), ids.end());
  for (int64_t i = 0; i < 5000; ++i) ASSERT_EQ(ids[static_cast<size_t>(i)], (i + 1) * 3 - 1000);
  // A forged bound is rejected.
  Split bad;
  bad.start = "1; DROP TABLE t_split";
  EXPECT_FALSE((*src)->OpenSplit(bad).ok());
  // No single integer key (or a query): one split.
  Sql("DROP TABLE IF EXISTS t_nosplit");
  Sql("CREATE TABLE t_nosplit (a INT, b INT, PRIMARY KEY (a, b))");
  Sql("INSERT INTO t_nosplit SELECT seq, seq FROM seq_1_to_1000");
  auto src2 = registry_.MakeSource(BaseUri() + "?table=t_nosplit&min_split_rows=1");
  ASSERT_TRUE(src2.ok() && (*src2)->Open(SourceOptions{}).ok());
  auto one = (*src2)->Plan(8);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
}

TEST_F(MysqlTest, Query) {
  auto r = ReadAll("query=SELECT 1 AS one, 'x' AS s, CAST(2.50 AS DECIMAL(4,2)) AS d;");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows, 1);
  const RecordBatch& b = r->batches[0];
  EXPECT_EQ(b.column(1).StringValue(0), "x");
  EXPECT_EQ(r->schema->field(2).type, DataType::Decimal(4, 2));
  EXPECT_EQ(FormatDecimal(b.column(2).DecimalValue(0), 2), "2.50");
}

TEST_F(MysqlTest, ZeroDates) {
  Sql("DROP TABLE IF EXISTS t_zero");
  Sql("SET SESSION sql_mode = ''");
  Sql("CREATE TABLE t_zero (id INT PRIMARY KEY, d DATE, dt DATETIME)");
  Sql("INSERT INTO t_zero VALUES (1, '2020-01-02', '2020-01-02 03:04:05'),"
      " (2, '0000-00-00', '0000-00-00 00:00:00')");
  auto bad = ReadAll("table=t_zero");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidData);
  EXPECT_NE(bad.status().message().find("row 2"), std::string::npos) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("column d"), std::string::npos) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("zero_date"), std::string::npos);

  auto ok = ReadAll("table=t_zero&zero_date=null");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  const RecordBatch& b = ok->batches[0];
  EXPECT_EQ(b.column(1).Value<int32_t>(0), DaysFromCivil(2020, 1, 2));
  EXPECT_EQ(b.column(2).Value<int64_t>(0), Micros(2020, 1, 2, 3, 4, 5, 0));
  EXPECT_TRUE(b.column(1).IsNull(1));
  EXPECT_TRUE(b.column(2).IsNull(1));
}

TEST_F(MysqlTest, OutOfRangeValuesFailNamingRowAndColumn) {
  Sql("DROP TABLE IF EXISTS t_range");
  Sql("CREATE TABLE t_range (id INT PRIMARY KEY, flag TINYINT(1), tm TIME)");
  Sql("INSERT INTO t_range VALUES (1, 1, '01:00:00'), (2, 5, '02:00:00')");
  auto r = ReadAll("table=t_range");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("row 2"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("column flag"), std::string::npos) << r.status().ToString();

  Sql("UPDATE t_range SET flag = 0 WHERE id = 2");
  Sql("UPDATE t_range SET tm = '-05:00:00' WHERE id = 1");
  auto r2 = ReadAll("table=t_range");
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("row 1"), std::string::npos) << r2.status().ToString();
  EXPECT_NE(r2.status().message().find("column tm"), std::string::npos) << r2.status().ToString();
}

TEST_F(MysqlTest, HostileIdentifiers) {
  Sql("DROP TABLE IF EXISTS `we``ird 'tab\"le`");
  Sql("CREATE TABLE `we``ird 'tab\"le` (`co``l 1` INT PRIMARY KEY, `x'y` JSON)");
  Sql("INSERT INTO `we``ird 'tab\"le` VALUES (5, '{\"k\": \"v\"}')");
  auto r = ReadAll("table=we%60ird%20%27tab%22le");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows, 1);
  EXPECT_EQ(r->schema->field(0).name, "co`l 1");
  EXPECT_EQ(r->schema->field(1).name, "x'y");
  EXPECT_EQ(r->schema->field(1).type, DataType::Json());
  EXPECT_EQ(r->batches[0].column(0).Value<int32_t>(0), 5);
  EXPECT_EQ(r->batches[0].column(1).StringValue(0), "{\"k\": \"v\"}");
}

TEST_F(MysqlTest, MissingTableIsNotFoundNamingIt) {
  Sql("DROP TABLE IF EXISTS no_such_table_x");
  auto r = ReadAll("table=no_such_table_x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  EXPECT_NE(r.status().message().find("no_such_table_x"), std::string::npos);
}

TEST_F(MysqlTest, ServerDownIsAClearError) {
  // Nothing listens on port 1 of the loopback interface.
  auto r = ReadAll("table=t", "mysql://root@127.0.0.1:1/sluice_test");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIOError) << r.status().ToString();
  EXPECT_NE(r.status().message().find("cannot connect"), std::string::npos);
  EXPECT_NE(r.status().message().find("127.0.0.1:1"), std::string::npos);
}

TEST_F(MysqlTest, OptionErrors) {
  EXPECT_FALSE(registry_.MakeSource(BaseUri()).ok());  // neither table nor query
  EXPECT_FALSE(registry_.MakeSource(BaseUri() + "?table=t&query=SELECT%201").ok());
  EXPECT_FALSE(registry_.MakeSource("mysql://root@127.0.0.1:33306/?table=t").ok());
  EXPECT_FALSE(registry_.MakeSource(BaseUri() + "?table=t&zero_date=maybe").ok());
  EXPECT_TRUE(registry_.MakeSource("mariadb://root@127.0.0.1:33306/sluice_test?table=t").ok());
}

// ---------------------------------------------------------------------------
// Sink

std::shared_ptr<const Schema> SinkSchema() {
  std::vector<Field> f = {
      {"id", DataType::Int64(), false, true, ""},
      {"i8", DataType::Int8()},          {"u64", DataType::UInt64()},
      {"f32", DataType::Float32()},      {"f64", DataType::Float64()},
      {"dec", DataType::Decimal(38, 9)}, {"b", DataType::Bool()},
      {"s", DataType::String()},         {"bin", DataType::Binary()},
      {"dt", DataType::Date()},          {"tm", DataType::Time()},
      {"ts", DataType::Timestamp()},     {"tstz", DataType::TimestampTz("UTC")},
      {"u", DataType::Uuid()},           {"j", DataType::Json()},
  };
  return std::make_shared<Schema>(std::move(f));
}

// Rows first_id.. first_id+n-1; every 5th row NULL in every nullable column.
RecordBatch SinkBatch(int64_t first_id, int64_t n, double f64_of_row2 = 0.5) {
  BatchBuilder bb(SinkSchema());
  for (int64_t k = 0; k < n; ++k) {
    int64_t id = first_id + k;
    bb.column(0).AppendFixed<int64_t>(id);
    if (id % 5 == 4) {
      for (int c = 1; c < bb.num_columns(); ++c) bb.column(c).AppendNull();
      continue;
    }
    bb.column(1).AppendFixed<int8_t>(static_cast<int8_t>(id % 2 ? -128 : 127));
    bb.column(2).AppendFixed<uint64_t>(UINT64_MAX - static_cast<uint64_t>(id));
    bb.column(3).AppendFixed<float>(1.5f * static_cast<float>(id));
    bb.column(4).AppendFixed<double>(k == 2 ? f64_of_row2 : 0.1 * static_cast<double>(id));
    EXPECT_TRUE(AppendParsedText(id % 2 ? "-99999999999999999999999999999.999999999" : "12.000000001",
                                 &bb.column(5)).ok());
    bb.column(6).AppendBool(id % 2 == 0);
    std::string str = "héllo ✓ 日本 😀 'quote' \\ back\\slash\t\n\r\\N " + std::to_string(id);
    bb.column(7).AppendBytes(str);
    bb.column(8).AppendBytes(std::string("\0\xff'\\\n\"", 6) + std::to_string(id));
    bb.column(9).AppendFixed<int32_t>(DaysFromCivil(1000 + static_cast<int>(id), 1, 1));
    bb.column(10).AppendFixed<int64_t>(86399999999LL - id);
    bb.column(11).AppendFixed<int64_t>(Micros(9999, 12, 31, 23, 59, 59, 999999) - id);
    bb.column(12).AppendFixed<int64_t>(Micros(2024, 2, 29, 12, 34, 56, 789000) + id);
    uint8_t uuid[16];
    for (int i = 0; i < 16; ++i) uuid[i] = static_cast<uint8_t>(i * 17 + id);
    bb.column(13).AppendFixedBytes(uuid, 16);
    bb.column(14).AppendBytes("{\"k\": " + std::to_string(id) + "}");
  }
  return bb.Finish();
}

class MysqlSinkTest : public MysqlTest {
 protected:
  Result<std::unique_ptr<Sink>> OpenSink(const std::string& options,
                                         std::shared_ptr<const Schema> schema = SinkSchema()) {
    SLUICE_ASSIGN_OR_RETURN(auto sink, registry_.MakeSink(BaseUri() + "?" + options));
    SLUICE_RETURN_NOT_OK(sink->Open(std::move(schema)));
    return sink;
  }
  void Reset(const std::string& table) {
    Sql("DROP TABLE IF EXISTS " + MysqlQuoteIdent(table));
    Sql("DELETE FROM _sluice_ledger WHERE target = '" + table + "'");
  }
  void SetUp() override {
    MysqlTest::SetUp();
    if (HasFatalFailure()) return;
    Sql("CREATE TABLE IF NOT EXISTS _sluice_ledger (target VARBINARY(512) NOT NULL,"
        " part_id VARBINARY(255) NOT NULL, stream_id VARBINARY(255) NOT NULL,"
        " part_number BIGINT NOT NULL, `rows` BIGINT NOT NULL,"
        " applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
        " PRIMARY KEY (target, part_id)) ENGINE=InnoDB");
  }
  int64_t Count(const std::string& sql) {
    auto r = admin_->QueryStored(sql, "count");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return -1;
    MYSQL_ROW row = mysql_fetch_row(r->get());
    return row && row[0] ? std::stoll(row[0]) : -1;
  }
};

class MysqlSinkLoadTest : public MysqlSinkTest,
                          public ::testing::WithParamInterface<const char*> {};

INSTANTIATE_TEST_SUITE_P(Load, MysqlSinkLoadTest, ::testing::Values("insert", "infile"));

TEST_P(MysqlSinkLoadTest, AppendRoundTripsThroughTheSource) {
  Reset("t_sink");
  auto sink = OpenSink(std::string("table=t_sink&load=") + GetParam());
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  RecordBatch in1 = SinkBatch(0, 7), in2 = SinkBatch(7, 3);
  auto out = (*w)->ApplyPart(PartInfo{"p1", "s", 1, 10}, {in1, in2});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, ApplyOutcome::kApplied);
  ASSERT_TRUE((*sink)->Commit().ok());

  // InnoDB scans a table in primary-key order; a table read also detects
  // MariaDB JSON columns (a query read sees LONGTEXT).
  auto r = ReadAll("table=t_sink");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows, 10);
  const Schema& s = *r->schema;
  // The documented sluice -> MySQL -> sluice type mapping.
  EXPECT_EQ(s.field(0).type, DataType::Int64());
  EXPECT_EQ(s.field(5).type, DataType::Decimal(38, 9));
  EXPECT_EQ(s.field(6).type, DataType::Bool());
  EXPECT_EQ(s.field(7).type, DataType::String());
  EXPECT_EQ(s.field(8).type, DataType::Binary());
  EXPECT_EQ(s.field(11).type, DataType::Timestamp());
  EXPECT_EQ(s.field(12).type, DataType::Timestamp());  // DATETIME(6) holding UTC
  EXPECT_EQ(s.field(13).type, DataType::Binary());     // BINARY(16)
  EXPECT_EQ(s.field(14).type, DataType::Json());
  int64_t row = 0;
  for (const RecordBatch* in : {&in1, &in2}) {
    for (int64_t i = 0; i < in->num_rows(); ++i, ++row) {
      const RecordBatch& b = r->batches[0];
      for (int c = 0; c < in->num_columns(); ++c) {
        const Column& want = in->column(c);
        const Column& got = b.column(c);
        ASSERT_EQ(want.IsNull(i), got.IsNull(row)) << "row " << row << " col " << c;
        if (want.IsNull(i)) continue;
        if (want.type.id == TypeId::kUuid) {
          EXPECT_EQ(got.StringValue(row),
                    std::string_view(reinterpret_cast<const char*>(want.FixedBytes(i, 16)), 16));
        } else if (want.type.id == TypeId::kTimestamp || want.type.id == TypeId::kTime) {
          EXPECT_EQ(got.Value<int64_t>(row), want.Value<int64_t>(i)) << "col " << c;
        } else {
          EXPECT_EQ(ValueToText(got, row), ValueToText(want, i)) << "row " << row << " col " << c;
        }
      }
    }
  }
}

TEST_P(MysqlSinkLoadTest, SamePartTwiceIsAppliedOnce) {
  Reset("t_once");
  auto sink = OpenSink(std::string("table=t_once&load=") + GetParam());
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  auto w1 = (*sink)->NewWriter();
  auto w2 = (*sink)->NewWriter();
  ASSERT_TRUE(w1.ok() && w2.ok());
  auto a = (*w1)->ApplyPart(PartInfo{"part-1", "s", 1, 4}, {SinkBatch(0, 4)});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(*a, ApplyOutcome::kApplied);
  auto b = (*w2)->ApplyPart(PartInfo{"part-1", "s", 1, 4}, {SinkBatch(0, 4)});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(*b, ApplyOutcome::kAlreadyApplied);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM t_once"), 4);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM _sluice_ledger WHERE target = 't_once'"), 1);
  // Another sink over the same table and ledger (a re-run) skips it too.
  auto sink2 = OpenSink("table=t_once");
  ASSERT_TRUE(sink2.ok());
  auto w3 = (*sink2)->NewWriter();
  ASSERT_TRUE(w3.ok());
  auto c = (*w3)->ApplyPart(PartInfo{"part-1", "s", 1, 4}, {SinkBatch(0, 4)});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, ApplyOutcome::kAlreadyApplied);
  auto d = (*w3)->ApplyPart(PartInfo{"part-2", "s", 2, 0}, {});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, ApplyOutcome::kApplied);  // an empty part is recorded too
  EXPECT_EQ(Count("SELECT COUNT(*) FROM t_once"), 4);
}

TEST_P(MysqlSinkLoadTest, FailedPartLeavesNothing) {
  Reset("t_fail");
  auto sink = OpenSink(std::string("table=t_fail&load=") + GetParam());
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  // Rows 0..1 are fine; row 2 holds NaN, which MySQL cannot store.
  auto bad = (*w)->ApplyPart(PartInfo{"p", "s", 1, 6}, {SinkBatch(0, 2), SinkBatch(10, 4, NAN)});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("row 5"), std::string::npos) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("f64"), std::string::npos) << bad.status().ToString();
  // A duplicate key fails server-side after rows were sent: rolled back too.
  auto dup = (*w)->ApplyPart(PartInfo{"p", "s", 1, 6}, {SinkBatch(0, 3), SinkBatch(2, 1)});
  ASSERT_FALSE(dup.ok());
  // A value the column cannot hold (year 10000 in DATETIME) fails too.
  RecordBatch far = SinkBatch(0, 1);
  {
    BatchBuilder bb(SinkSchema());
    for (int c = 0; c < far.num_columns(); ++c) {
      if (c == 11) {
        bb.column(c).AppendFixed<int64_t>(Micros(10000, 1, 1, 0, 0, 0, 0));
      } else {
        bb.column(c).AppendFrom(far.column(c), 0);
      }
    }
    far = bb.Finish();
  }
  auto range = (*w)->ApplyPart(PartInfo{"p", "s", 1, 2}, {SinkBatch(5, 1), far});
  ASSERT_FALSE(range.ok());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM t_fail"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM _sluice_ledger WHERE target = 't_fail'"), 0);
  // The same part id applies once the data is good.
  auto good = (*w)->ApplyPart(PartInfo{"p", "s", 1, 3}, {SinkBatch(0, 3)});
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(*good, ApplyOutcome::kApplied);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM t_fail"), 3);
}

TEST_F(MysqlSinkTest, Upsert) {
  Reset("t_up");
  auto sink = OpenSink("table=t_up&mode=upsert");
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->ApplyPart(PartInfo{"a", "s", 1, 3}, {SinkBatch(0, 3)}).ok());
  // Rows 1..4: 1 and 2 exist (row 2 of this part gets f64 = 42), 3 and 4 are new.
  auto r = (*w)->ApplyPart(PartInfo{"b", "s", 2, 4}, {SinkBatch(1, 4, 42.0)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Count("SELECT COUNT(*) FROM t_up"), 5);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM t_up WHERE id = 3 AND f64 = 42"), 1);
  // Without a primary key upsert is refused at Open.
  auto nokey = OpenSink("table=t_up2&mode=upsert",
                        std::make_shared<Schema>(std::vector<Field>{{"x", DataType::Int32()}}));
  EXPECT_FALSE(nokey.ok());
}

TEST_F(MysqlSinkTest, HostileIdentifiersAndMissingTable) {
  const std::string table = "si`nk 'ta\"ble";
  Sql("DROP TABLE IF EXISTS " + MysqlQuoteIdent(table));
  Sql("DELETE FROM _sluice_ledger WHERE target = 'si`nk \\'ta\"ble'");
  auto schema = std::make_shared<Schema>(
      std::vector<Field>{{"co`l", DataType::Int32(), false, true, ""}, {"v'\"", DataType::String()}});
  auto sink = OpenSink("table=si%60nk%20%27ta%22ble", schema);
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  BatchBuilder bb(schema);
  bb.column(0).AppendFixed<int32_t>(1);
  bb.column(1).AppendBytes("x");
  auto out = (*w)->ApplyPart(PartInfo{"p'1", "s", 1, 1}, {bb.Finish()});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  auto r = ReadAll("table=si%60nk%20%27ta%22ble");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 1);
  EXPECT_EQ(r->schema->field(0).name, "co`l");
  EXPECT_EQ(r->schema->field(1).name, "v'\"");

  Sql("DROP TABLE IF EXISTS no_such_sink_t");
  auto missing = OpenSink("table=no_such_sink_t&create=false");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
  EXPECT_NE(missing.status().message().find("no_such_sink_t"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Sink modes replace and truncate-insert

std::shared_ptr<const Schema> KvSchema() {
  return std::make_shared<Schema>(
      std::vector<Field>{{"id", DataType::Int64(), false, true, ""}, {"v", DataType::String()}});
}

// Rows id = first..first+n-1, v = tag + id (NULL when id % 4 == 3).
RecordBatch KvBatch(int64_t first, int64_t n, const std::string& tag) {
  BatchBuilder bb(KvSchema());
  for (int64_t id = first; id < first + n; ++id) {
    bb.column(0).AppendFixed<int64_t>(id);
    if (id % 4 == 3) {
      bb.column(1).AppendNull();
    } else {
      bb.column(1).AppendBytes(tag + std::to_string(id));
    }
  }
  return bb.Finish();
}

// What Contents() must read for KvBatch rows (written out independently).
std::string KvText(int64_t first, int64_t n, const std::string& tag) {
  std::string out;
  for (int64_t id = first; id < first + n; ++id) {
    out += (out.empty() ? "" : ",") + std::to_string(id) + "=" +
           (id % 4 == 3 ? std::string("NULL") : tag + std::to_string(id));
  }
  return out;
}

// A SQL string literal (no backslashes in test names: quote doubling is then
// right with and without NO_BACKSLASH_ESCAPES).
std::string SqlLit(const std::string& s) {
  EXPECT_EQ(s.find('\\'), std::string::npos);
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string Pct(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

class MysqlModeTest : public MysqlSinkTest {
 protected:
  // Drops the table, its staging and swap leftovers, and all their ledger rows.
  void ResetAll(const std::string& table) {
    for (const char* suffix : {"", "__sluice_stage", "__sluice_old"}) {
      Sql("DROP TABLE IF EXISTS " + MysqlQuoteIdent(table + suffix));
      Sql("DELETE FROM _sluice_ledger WHERE target = " + SqlLit(table + suffix));
    }
  }
  // A pre-existing target with its own definition (VARCHAR(100), an extra
  // index), rows 1..3 "old" and a ledger row for a part of an earlier run.
  void MakeOldTable(const std::string& table) {
    const std::string q = MysqlQuoteIdent(table);
    Sql("CREATE TABLE " + q + " (id BIGINT PRIMARY KEY, v VARCHAR(100) NULL, KEY v_idx (v))");
    Sql("INSERT INTO " + q + " VALUES (1, 'old1'), (2, 'old2'), (3, NULL)");
    Sql("INSERT INTO _sluice_ledger (target, part_id, stream_id, part_number, `rows`) VALUES (" +
        SqlLit(table) + ", 'old-part', 's', 1, 3)");
  }
  static std::string OldText() { return "1=old1,2=old2,3=NULL"; }

  std::string Str(const std::string& sql) {
    auto r = admin_->QueryStored(sql, "test query");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return "<error>";
    MYSQL_ROW row = mysql_fetch_row(r->get());
    return row && row[0] ? row[0] : "<null>";
  }
  std::string Contents(const std::string& table) {
    return Str("SELECT COALESCE(GROUP_CONCAT(id, '=', COALESCE(v, 'NULL') ORDER BY id SEPARATOR ','), '')"
               " FROM " + MysqlQuoteIdent(table));
  }
  // The part ids the ledger holds for `target`, sorted, comma-separated.
  std::string LedgerParts(const std::string& target) {
    return Str("SELECT COALESCE(GROUP_CONCAT(part_id ORDER BY part_id SEPARATOR ','), '')"
               " FROM _sluice_ledger WHERE target = " + SqlLit(target));
  }
  int64_t Tables(const std::string& name) {
    return Count("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()"
                 " AND table_name = " + SqlLit(name));
  }
  void Apply(SinkWriter* w, const std::string& part_id, const RecordBatch& batch,
             ApplyOutcome expected) {
    auto r = w->ApplyPart(PartInfo{part_id, "s", 1, batch.num_rows()}, {batch});
    ASSERT_TRUE(r.ok()) << part_id << ": " << r.status().ToString();
    EXPECT_EQ(*r, expected) << part_id;
  }
};

class MysqlModeLoadTest : public MysqlModeTest, public ::testing::WithParamInterface<const char*> {};
INSTANTIATE_TEST_SUITE_P(Load, MysqlModeLoadTest, ::testing::Values("insert", "infile"));

TEST_P(MysqlModeLoadTest, ReplaceSwapsInExactlyTheNewRows) {
  ResetAll("t_repl");
  MakeOldTable("t_repl");
  auto sink = OpenSink(std::string("table=t_repl&mode=replace&load=") + GetParam(), KvSchema());
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  EXPECT_EQ(Tables("t_repl__sluice_stage"), 1);
  auto w1 = (*sink)->NewWriter();
  auto w2 = (*sink)->NewWriter();
  ASSERT_TRUE(w1.ok() && w2.ok());
  Apply(w1->get(), "p1", KvBatch(10, 5, "new"), ApplyOutcome::kApplied);
  Apply(w2->get(), "p2", KvBatch(15, 2, "new"), ApplyOutcome::kApplied);
  // Until Commit the target and its ledger rows are untouched.
  EXPECT_EQ(Contents("t_repl"), OldText());
  EXPECT_EQ(LedgerParts("t_repl"), "old-part");
  EXPECT_EQ(LedgerParts("t_repl__sluice_stage"), "p1,p2");

  ASSERT_TRUE((*sink)->Commit().ok());
  ASSERT_TRUE((*sink)->Commit().ok());  // idempotent
  EXPECT_EQ(Contents("t_repl"), KvText(10, 7, "new"));
  EXPECT_EQ(LedgerParts("t_repl"), "p1,p2");
  EXPECT_EQ(LedgerParts("t_repl__sluice_stage"), "");
  EXPECT_EQ(Tables("t_repl__sluice_stage"), 0);
  EXPECT_EQ(Tables("t_repl__sluice_old"), 0);
  // The stage was made LIKE the target: its definition survives the swap.
  EXPECT_EQ(Str("SELECT column_type FROM information_schema.columns WHERE table_schema = DATABASE()"
                " AND table_name = 't_repl' AND column_name = 'v'"),
            "varchar(100)");
  EXPECT_EQ(Count("SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()"
                  " AND table_name = 't_repl' AND index_name = 'v_idx'"),
            1);
}

TEST_F(MysqlModeTest, ReplaceWithAHostileTableName) {
  const std::string table = "select `from` 'x\" y";
  ResetAll(table);
  MakeOldTable(table);
  auto sink = OpenSink("table=" + Pct(table) + "&mode=replace", KvSchema());
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  EXPECT_EQ(Tables(table + "__sluice_stage"), 1);
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  Apply(w->get(), "p'1", KvBatch(5, 4, "h`'\""), ApplyOutcome::kApplied);
  EXPECT_EQ(Contents(table), OldText());
  ASSERT_TRUE((*sink)->Commit().ok());
  EXPECT_EQ(Contents(table), KvText(5, 4, "h`'\""));
  EXPECT_EQ(LedgerParts(table), "p'1");
  EXPECT_EQ(Tables(table + "__sluice_stage"), 0);
  EXPECT_EQ(Tables(table + "__sluice_old"), 0);
  auto r = ReadAll("table=" + Pct(table));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 4);

  // The staging name must fit MySQL's 64 characters: a clear error at Open.
  const std::string long_name(51, 'x');  // + "__sluice_stage" = 65
  auto too_long = OpenSink("table=" + long_name + "&mode=replace", KvSchema());
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_long.status().message().find("64"), std::string::npos) << too_long.status().ToString();
}

TEST_F(MysqlModeTest, ReplaceAbandonedBeforeCommitLeavesTheTargetAndReRunStartsOver) {
  ResetAll("t_abandon");
  MakeOldTable("t_abandon");
  {
    auto sink = OpenSink("table=t_abandon&mode=replace", KvSchema());
    ASSERT_TRUE(sink.ok()) << sink.status().ToString();
    auto w = (*sink)->NewWriter();
    ASSERT_TRUE(w.ok());
    Apply(w->get(), "p1", KvBatch(10, 5, "first"), ApplyOutcome::kApplied);
    Apply(w->get(), "p2", KvBatch(15, 2, "first"), ApplyOutcome::kApplied);
  }  // the run dies: sink and writer destroyed without Commit
  EXPECT_EQ(Contents("t_abandon"), OldText());
  EXPECT_EQ(LedgerParts("t_abandon"), "old-part");
  EXPECT_EQ(Count("SELECT COUNT(*) FROM t_abandon__sluice_stage"), 7);  // the abandoned load
  EXPECT_EQ(LedgerParts("t_abandon__sluice_stage"), "p1,p2");
  // As if an earlier run had also died between the swap and dropping the old table.
  Sql("CREATE TABLE t_abandon__sluice_old (junk INT)");

  auto sink = OpenSink("table=t_abandon&mode=replace", KvSchema());
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  // A fresh stage: no rows, no ledger rows, and the leftover old table gone.
  EXPECT_EQ(Count("SELECT COUNT(*) FROM t_abandon__sluice_stage"), 0);
  EXPECT_EQ(LedgerParts("t_abandon__sluice_stage"), "");
  EXPECT_EQ(Tables("t_abandon__sluice_old"), 0);
  auto w1 = (*sink)->NewWriter();
  auto w2 = (*sink)->NewWriter();
  ASSERT_TRUE(w1.ok() && w2.ok());
  // p1 loads again (the abandoned stage's ledger rows are gone) ...
  Apply(w1->get(), "p1", KvBatch(10, 5, "second"), ApplyOutcome::kApplied);
  // ... and only once in this run.
  Apply(w2->get(), "p1", KvBatch(10, 5, "second"), ApplyOutcome::kAlreadyApplied);
  Apply(w2->get(), "p3", KvBatch(20, 2, "second"), ApplyOutcome::kApplied);
  EXPECT_EQ(Contents("t_abandon"), OldText());
  ASSERT_TRUE((*sink)->Commit().ok());
  EXPECT_EQ(Contents("t_abandon"), KvText(10, 5, "second") + "," + KvText(20, 2, "second"));
  EXPECT_EQ(LedgerParts("t_abandon"), "p1,p3");
  EXPECT_EQ(LedgerParts("t_abandon__sluice_stage"), "");
  EXPECT_EQ(Tables("t_abandon__sluice_stage"), 0);
  EXPECT_EQ(Tables("t_abandon__sluice_old"), 0);
}

TEST_F(MysqlModeTest, ReplaceCreatesAMissingTable) {
  ResetAll("t_repl_new");
  auto no_create = OpenSink("table=t_repl_new&mode=replace&create=false", KvSchema());
  ASSERT_FALSE(no_create.ok());
  EXPECT_EQ(no_create.status().code(), StatusCode::kNotFound) << no_create.status().ToString();
  EXPECT_NE(no_create.status().message().find("t_repl_new"), std::string::npos);

  auto sink = OpenSink("table=t_repl_new&mode=replace", KvSchema());
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  Apply(w->get(), "p1", KvBatch(0, 6, "n"), ApplyOutcome::kApplied);
  EXPECT_EQ(Tables("t_repl_new"), 0);  // nothing visible before Commit
  ASSERT_TRUE((*sink)->Commit().ok());
  EXPECT_EQ(Contents("t_repl_new"), KvText(0, 6, "n"));
  EXPECT_EQ(LedgerParts("t_repl_new"), "p1");
  EXPECT_EQ(Tables("t_repl_new__sluice_stage"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()"
                  " AND table_name = 't_repl_new' AND index_name = 'PRIMARY'"),
            1);

  // A replace with no parts (an empty source) leaves an empty table.
  auto empty = OpenSink("table=t_repl_new&mode=replace", KvSchema());
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  ASSERT_TRUE((*empty)->Commit().ok());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM t_repl_new"), 0);
  EXPECT_EQ(LedgerParts("t_repl_new"), "");
}

TEST_P(MysqlModeLoadTest, TruncateInsertOverExistingRows) {
  ResetAll("t_trunc");
  MakeOldTable("t_trunc");
  auto sink = OpenSink(std::string("table=t_trunc&mode=truncate-insert&load=") + GetParam(), KvSchema());
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  // Emptied at Open, with its ledger rows.
  EXPECT_EQ(Count("SELECT COUNT(*) FROM t_trunc"), 0);
  EXPECT_EQ(LedgerParts("t_trunc"), "");
  auto w1 = (*sink)->NewWriter();
  auto w2 = (*sink)->NewWriter();
  ASSERT_TRUE(w1.ok() && w2.ok());
  // The earlier run's part id applies again: its ledger row went with its rows.
  Apply(w1->get(), "old-part", KvBatch(10, 3, "t"), ApplyOutcome::kApplied);
  Apply(w2->get(), "p2", KvBatch(13, 3, "t"), ApplyOutcome::kApplied);
  ASSERT_TRUE((*sink)->Commit().ok());
  EXPECT_EQ(Contents("t_trunc"), KvText(10, 6, "t"));
  EXPECT_EQ(LedgerParts("t_trunc"), "old-part,p2");
  // The table itself is kept (its own definition).
  EXPECT_EQ(Str("SELECT column_type FROM information_schema.columns WHERE table_schema = DATABASE()"
                " AND table_name = 't_trunc' AND column_name = 'v'"),
            "varchar(100)");
}

TEST_F(MysqlModeTest, TruncateInsertOfATableForeignKeysReference) {
  // InnoDB refuses TRUNCATE of a referenced table; the sink falls back to DELETE.
  Sql("DROP TABLE IF EXISTS t_fk_child");
  ResetAll("t_fk_parent");
  MakeOldTable("t_fk_parent");
  Sql("CREATE TABLE t_fk_child (id INT PRIMARY KEY, p BIGINT,"
      " FOREIGN KEY (p) REFERENCES t_fk_parent (id)) ENGINE=InnoDB");
  auto sink = OpenSink("table=t_fk_parent&mode=truncate-insert", KvSchema());
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  EXPECT_EQ(Count("SELECT COUNT(*) FROM t_fk_parent"), 0);
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  Apply(w->get(), "p1", KvBatch(1, 2, "f"), ApplyOutcome::kApplied);
  ASSERT_TRUE((*sink)->Commit().ok());
  EXPECT_EQ(Contents("t_fk_parent"), KvText(1, 2, "f"));
  EXPECT_EQ(LedgerParts("t_fk_parent"), "p1");
  Sql("DROP TABLE t_fk_child");
}

class MysqlEveryModeTest : public MysqlModeTest, public ::testing::WithParamInterface<const char*> {};
INSTANTIATE_TEST_SUITE_P(Mode, MysqlEveryModeTest,
                         ::testing::Values("append", "upsert", "replace", "truncate-insert"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           std::string s = p.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

TEST_P(MysqlEveryModeTest, SamePartTwiceIsSkipped) {
  ResetAll("t_twice");
  auto sink = OpenSink(std::string("table=t_twice&mode=") + GetParam(), KvSchema());
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  auto w1 = (*sink)->NewWriter();
  auto w2 = (*sink)->NewWriter();
  ASSERT_TRUE(w1.ok() && w2.ok());
  Apply(w1->get(), "dup", KvBatch(0, 4, "d"), ApplyOutcome::kApplied);
  Apply(w2->get(), "dup", KvBatch(0, 4, "d"), ApplyOutcome::kAlreadyApplied);
  Apply(w1->get(), "dup", KvBatch(0, 4, "d"), ApplyOutcome::kAlreadyApplied);
  ASSERT_TRUE((*sink)->Commit().ok());
  EXPECT_EQ(Contents("t_twice"), KvText(0, 4, "d"));
  EXPECT_EQ(LedgerParts("t_twice"), "dup");
  EXPECT_EQ(LedgerParts("t_twice__sluice_stage"), "");
}

TEST_F(MysqlModeTest, ModeOptionErrors) {
  EXPECT_FALSE(registry_.MakeSink(BaseUri() + "?table=t&mode=overwrite").ok());
  EXPECT_FALSE(registry_.MakeSink(BaseUri() + "?table=_sluice_ledger&mode=truncate-insert").ok());
  EXPECT_TRUE(registry_.MakeSink(BaseUri() + "?table=t&mode=truncate-insert").ok());
}

// ---------------------------------------------------------------------------
// Incremental state, the run log, and lower bounds

// Every byte value, then again backwards: NUL, quote, backslash, 0x80..0xff.
std::string AllBytes() {
  std::string out;
  for (int i = 0; i < 256; ++i) out.push_back(static_cast<char>(i));
  for (int i = 255; i >= 0; --i) out.push_back(static_cast<char>(i));
  return out;
}

void ExpectSameState(const std::optional<StreamState>& got, const StreamState& want) {
  ASSERT_TRUE(got.has_value()) << "no state for stream " << want.stream;
  EXPECT_EQ(got->stream, want.stream);
  EXPECT_EQ(got->key_column, want.key_column);
  EXPECT_EQ(got->key_type, want.key_type);
  EXPECT_EQ(got->watermark, want.watermark);
  EXPECT_EQ(got->digests, want.digests) << "digests differ (" << got->digests.size() << " vs "
                                        << want.digests.size() << " bytes)";
}

void ExpectSameRun(const RunRecord& got, const RunRecord& want) {
  EXPECT_EQ(got.run_id, want.run_id);
  EXPECT_EQ(got.pipeline, want.pipeline);
  EXPECT_EQ(got.stream, want.stream);
  EXPECT_EQ(got.command, want.command);
  EXPECT_EQ(got.source, want.source);
  EXPECT_EQ(got.destination, want.destination);
  EXPECT_EQ(got.started_at, want.started_at);
  EXPECT_EQ(got.finished_at, want.finished_at);
  EXPECT_EQ(got.rows_read, want.rows_read);
  EXPECT_EQ(got.rows_written, want.rows_written);
  EXPECT_EQ(got.parts, want.parts);
  EXPECT_EQ(got.bytes, want.bytes);
  EXPECT_EQ(got.status, want.status);
  EXPECT_EQ(got.error, want.error);
  EXPECT_EQ(got.watermark_before, want.watermark_before);
  EXPECT_EQ(got.watermark_after, want.watermark_after);
}

class MysqlStateTest : public MysqlModeTest {
 protected:
  void DropTables(const StateTables& t) {
    Sql("DROP TABLE IF EXISTS " + MysqlQuoteIdent(t.state));
    Sql("DROP TABLE IF EXISTS " + MysqlQuoteIdent(t.run_log));
  }
  Result<std::unique_ptr<StateStore>> StoreOf(const std::string& options, const StateTables& t) {
    SLUICE_ASSIGN_OR_RETURN(auto sink, registry_.MakeSink(BaseUri() + "?" + options));
    return sink->OpenStateStore(t);  // no Open: what `sluice runs` does
  }
  std::string ColumnType(const std::string& table, const std::string& column) {
    return Str("SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
               " AND TABLE_NAME = " + SqlLit(table) + " AND COLUMN_NAME = " + SqlLit(column));
  }
};

TEST_F(MysqlStateTest, StoreRoundTripsStateWithBinaryDigests) {
  const StateTables t{"st_state", "st_log"};
  DropTables(t);
  auto store = StoreOf("table=st_target", t);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_NE(*store, nullptr);
  EXPECT_EQ(Tables("st_target"), 0);  // the store creates its tables only
  EXPECT_EQ(ColumnType("st_state", "stream"), "varchar(255)");
  EXPECT_EQ(ColumnType("st_state", "digests"), "longblob");
  EXPECT_EQ(ColumnType("st_state", "updated_at"), "datetime(6)");
  EXPECT_EQ(Str("SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = 'st_state'"),
            "InnoDB");

  auto none = (*store)->LoadState("events");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());

  StreamState s{"events", "updated_at", "timestamptz(UTC)", "2024-05-06T07:08:09.123456Z",
                AllBytes()};
  ASSERT_TRUE((*store)->SaveState(s).ok());
  ExpectSameState(*(*store)->LoadState("events"), s);
  EXPECT_EQ(Count("SELECT LENGTH(digests) FROM st_state WHERE stream = 'events'"), 512);
  EXPECT_EQ(Count("SELECT updated_at > UTC_TIMESTAMP() - INTERVAL 1 HOUR FROM st_state"), 1);

  // Overwritten in place; other streams (case and trailing-space variants
  // included) are separate rows.
  StreamState s2{"events", "id", "int64", "42", std::string("\0'\\", 3)};
  ASSERT_TRUE((*store)->SaveState(s2).ok());
  StreamState upper{"EVENTS", "id", "int64", "7", ""};
  StreamState spaced{"events ", "id", "int64", "8", std::string(1, '\0')};
  ASSERT_TRUE((*store)->SaveState(upper).ok());
  ASSERT_TRUE((*store)->SaveState(spaced).ok());
  ExpectSameState(*(*store)->LoadState("events"), s2);
  ExpectSameState(*(*store)->LoadState("EVENTS"), upper);
  ExpectSameState(*(*store)->LoadState("events "), spaced);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM st_state"), 3);
  ASSERT_TRUE((*store)->Close().ok());

  // A new store (another run) reads what the first one stored.
  auto again = StoreOf("table=st_target", t);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ExpectSameState(*(*again)->LoadState("events"), s2);
}

TEST_F(MysqlStateTest, RunLogStartFinishList) {
  const StateTables t{"rl_state", "rl_log"};
  DropTables(t);
  auto opened = StoreOf("table=rl_target", t);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  StateStore* store = opened->get();
  EXPECT_EQ(ColumnType("rl_log", "run_id"), "varchar(64)");
  EXPECT_EQ(ColumnType("rl_log", "rows_written"), "bigint(20)");
  EXPECT_EQ(ColumnType("rl_log", "started_at"), "datetime(6)");
  EXPECT_EQ(ColumnType("rl_log", "error"), "text");
  EXPECT_EQ(Str("SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION) FROM "
                "information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'rl_log'"),
            "run_id,pipeline,stream,command,source,destination,started_at,finished_at,rows_read,"
            "rows_written,parts,bytes,status,error,watermark_before,watermark_after");

  RunRecord a;
  a.run_id = "0123456789abcdef0123456789abcdef";
  a.pipeline = "nightly 'etl'";
  a.stream = "s1";
  a.command = "copy";
  a.source = "mysql://root@h/db?table=src";
  a.destination = "mysql://root@h/db?table=dst";
  a.started_at = "2024-05-06 07:08:09.000001";
  a.status = "running";
  a.watermark_before = "2024-05-01T00:00:00Z";
  ASSERT_TRUE(store->StartRun(a).ok());
  // While running: finish time NULL in the table, empty in the record.
  EXPECT_EQ(Str("SELECT COALESCE(finished_at, 'null') FROM rl_log"), "null");
  auto running = store->ListRuns("", 10);
  ASSERT_TRUE(running.ok()) << running.status().ToString();
  ASSERT_EQ(running->size(), 1u);
  ExpectSameRun((*running)[0], a);

  a.finished_at = "2024-05-06 07:09:10.999999";
  a.rows_read = 1234567890123;
  a.rows_written = 77;
  a.parts = 3;
  a.bytes = -1;
  a.status = "failed";
  a.error = "boom: 'quoted' \\ back\nslash ✓";
  a.watermark_after = "2024-05-06T07:00:00Z";
  ASSERT_TRUE(store->FinishRun(a).ok());
  EXPECT_EQ(Str("SELECT finished_at FROM rl_log"), "2024-05-06 07:09:10.999999");

  RunRecord b = a;
  b.run_id = "ffffffffffffffffffffffffffffffff";
  b.stream = "s2";
  b.started_at = "2024-05-06 08:00:00.000000";
  b.finished_at.clear();
  b.status = "running";
  b.error.clear();
  ASSERT_TRUE(store->StartRun(b).ok());
  RunRecord c = a;
  c.run_id = "11111111111111111111111111111111";
  c.started_at = "2024-05-07 00:00:00.500000";
  c.finished_at = "2024-05-07 00:00:01.000000";
  c.status = "succeeded";
  c.error.clear();
  ASSERT_TRUE(store->StartRun(c).ok());

  auto all = store->ListRuns("", 10);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 3u);  // newest first
  ExpectSameRun((*all)[0], c);
  ExpectSameRun((*all)[1], b);
  ExpectSameRun((*all)[2], a);
  auto s1 = store->ListRuns("s1", 10);
  ASSERT_TRUE(s1.ok());
  ASSERT_EQ(s1->size(), 2u);
  EXPECT_EQ((*s1)[0].run_id, c.run_id);
  EXPECT_EQ((*s1)[1].run_id, a.run_id);
  auto s1_upper = store->ListRuns("S1", 10);  // streams compare exactly
  ASSERT_TRUE(s1_upper.ok());
  EXPECT_TRUE(s1_upper->empty());
  auto limited = store->ListRuns("", 1);
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->size(), 1u);
  EXPECT_EQ((*limited)[0].run_id, c.run_id);
  auto none = store->ListRuns("nope", 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(MysqlStateTest, HostileStateTableNamesStayNames) {
  const StateTables t{"st`a'te\"; DROP TABLE st_victim; --", "lo`g.x y"};
  DropTables(t);
  Sql("DROP TABLE IF EXISTS st_victim");
  Sql("CREATE TABLE st_victim (id INT)");
  auto store = StoreOf("table=st_h_target", t);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(Tables(t.state), 1);
  EXPECT_EQ(Tables(t.run_log), 1);
  EXPECT_EQ(Tables("st_victim"), 1);
  EXPECT_EQ(Tables("x y"), 0);
  StreamState s{"str`eam'\"", "k`", "int64", "5", AllBytes()};
  ASSERT_TRUE((*store)->SaveState(s).ok());
  ExpectSameState(*(*store)->LoadState(s.stream), s);
  RunRecord r;
  r.run_id = "a";
  r.stream = s.stream;
  r.started_at = "2024-01-01 00:00:00.000000";
  r.status = "running";
  ASSERT_TRUE((*store)->StartRun(r).ok());
  ASSERT_TRUE((*store)->FinishRun(r).ok());
  auto runs = (*store)->ListRuns(s.stream, 5);
  ASSERT_TRUE(runs.ok()) << runs.status().ToString();
  ASSERT_EQ(runs->size(), 1u);
  ExpectSameRun((*runs)[0], r);
  DropTables(t);
  Sql("DROP TABLE st_victim");
}

TEST_F(MysqlStateTest, StateTablesCannotBeTheTargetStageOrLedger) {
  DropTables(StateTables{"ok_state", "ok_log"});
  Sql("DROP TABLE IF EXISTS same");
  const std::string custom = "table=st_tgt&ledger=my_ledger";
  for (const auto& [options, t] : std::vector<std::pair<std::string, StateTables>>{
           {"table=st_tgt", {"st_tgt", "ok_log"}},
           {"table=st_tgt", {"ok_state", "ST_TGT"}},
           {"table=st_tgt", {"st_tgt__sluice_stage", "ok_log"}},
           {"table=st_tgt", {"ok_state", "st_tgt__sluice_old"}},
           {"table=st_tgt", {"_sluice_ledger", "ok_log"}},
           {custom, {"ok_state", "my_ledger"}},
           {"table=st_tgt", {"same", "same"}},
           // The state tables go to the target's database: `db.t` checks there.
           {"table=sluice_test.st_tgt", {"st_tgt", "ok_log"}},
       }) {
    auto store = StoreOf(options, t);
    ASSERT_FALSE(store.ok()) << options << ": " << t.state << " / " << t.run_log;
    EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument) << store.status().ToString();
    const std::string& msg = store.status().message();
    EXPECT_TRUE(msg.find("cannot be the target") != std::string::npos ||
                msg.find("must differ") != std::string::npos)
        << msg;
  }
  EXPECT_EQ(Tables("ok_state"), 0);
  EXPECT_EQ(Tables("ok_log"), 0);
  EXPECT_EQ(Tables("same"), 0);
  // Names that collide with nothing are accepted.
  auto fine = StoreOf(custom, StateTables{"ok_state", "ok_log"});
  ASSERT_TRUE(fine.ok()) << fine.status().ToString();
  EXPECT_EQ(Tables("ok_state"), 1);
  DropTables(StateTables{"ok_state", "ok_log"});
}

class MysqlStateWriterTest : public MysqlStateTest,
                             public ::testing::WithParamInterface<const char*> {};
INSTANTIATE_TEST_SUITE_P(Options, MysqlStateWriterTest,
                         ::testing::Values("mode=upsert", "mode=append&load=infile",
                                           "mode=append&load=insert"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           std::string s = p.param;
                           for (char& ch : s) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return s;
                         });

TEST_P(MysqlStateWriterTest, StateCommitsAtomicallyWithThePart) {
  const StateTables t{"w_state", "w_log"};
  DropTables(t);
  ResetAll("t_inc");
  // v NOT NULL: KvBatch leaves v NULL for ids 3, 7, ... — a part holding
  // such a row fails after its state statement ran.
  Sql("CREATE TABLE t_inc (id BIGINT PRIMARY KEY, v VARCHAR(50) NOT NULL)");
  auto sink = OpenSink(std::string("table=t_inc&") + GetParam(), KvSchema());
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  auto opened = (*sink)->OpenStateStore(t);  // after Open, as a run does
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  StateStore* store = opened->get();
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok()) << w.status().ToString();

  const StreamState s1{"inc", "id", "int64", "2", AllBytes()};
  PartInfo p1{"p1", "s", 1, 3, &s1};
  auto r1 = (*w)->ApplyPart(p1, {KvBatch(0, 3, "a")});
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_EQ(*r1, ApplyOutcome::kApplied);
  ExpectSameState(*store->LoadState("inc"), s1);
  EXPECT_EQ(Contents("t_inc"), KvText(0, 3, "a"));

  // Rows 4..7: row 7 violates NOT NULL. Nothing of the part stays: no rows,
  // no ledger row, and the state is still s1.
  const StreamState s2{"inc", "id", "int64", "7", "digests of the failed part"};
  PartInfo p2{"p2", "s", 2, 4, &s2};
  auto r2 = (*w)->ApplyPart(p2, {KvBatch(4, 4, "b")});
  ASSERT_FALSE(r2.ok());
  ExpectSameState(*store->LoadState("inc"), s1);
  EXPECT_EQ(Contents("t_inc"), KvText(0, 3, "a"));
  EXPECT_EQ(LedgerParts("t_inc"), "p1");

  // A part already in the ledger (an interrupted run applied it): skipped,
  // but this run's state is stored.
  const StreamState s3{"inc", "id", "int64", "2", ""};
  PartInfo p1_again{"p1", "s", 1, 3, &s3};
  auto r3 = (*w)->ApplyPart(p1_again, {KvBatch(0, 3, "changed")});
  ASSERT_TRUE(r3.ok()) << r3.status().ToString();
  EXPECT_EQ(*r3, ApplyOutcome::kAlreadyApplied);
  ExpectSameState(*store->LoadState("inc"), s3);
  EXPECT_EQ(Contents("t_inc"), KvText(0, 3, "a"));
  EXPECT_EQ(LedgerParts("t_inc"), "p1");

  // A part without state leaves the state alone.
  auto r4 = (*w)->ApplyPart(PartInfo{"p4", "s", 4, 2}, {KvBatch(8, 2, "c")});
  ASSERT_TRUE(r4.ok()) << r4.status().ToString();
  ExpectSameState(*store->LoadState("inc"), s3);
  EXPECT_EQ(Contents("t_inc"), KvText(0, 3, "a") + "," + KvText(8, 2, "c"));
  DropTables(t);
}

TEST_F(MysqlStateTest, StoreOpenedBeforeOpenAndStateWithoutAStore) {
  const StateTables t{"b_state", "b_log"};
  DropTables(t);
  ResetAll("t_inc_b");
  auto sink = registry_.MakeSink(BaseUri() + "?table=t_inc_b&mode=upsert");
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  auto store = (*sink)->OpenStateStore(t);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*sink)->Open(KvSchema()).ok());
  auto w = (*sink)->NewWriter();
  ASSERT_TRUE(w.ok());
  const StreamState s{"b", "id", "int64", "1", AllBytes()};
  Apply(w->get(), "x", KvBatch(0, 2, "v"), ApplyOutcome::kApplied);
  auto r = (*w)->ApplyPart(PartInfo{"y", "s", 2, 1, &s}, {KvBatch(2, 1, "v")});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectSameState(*(*store)->LoadState("b"), s);
  EXPECT_EQ(Contents("t_inc_b"), KvText(0, 3, "v"));

  // A part carrying state to a sink that never opened a store: an error,
  // and the part is not applied.
  ResetAll("t_inc_c");
  auto plain = OpenSink("table=t_inc_c&mode=upsert", KvSchema());
  ASSERT_TRUE(plain.ok());
  auto pw = (*plain)->NewWriter();
  ASSERT_TRUE(pw.ok());
  auto bad = (*pw)->ApplyPart(PartInfo{"z", "s", 1, 1, &s}, {KvBatch(0, 1, "v")});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(Contents("t_inc_c"), "");
  EXPECT_EQ(LedgerParts("t_inc_c"), "");
  DropTables(t);
}

class MysqlLowerBoundTest : public MysqlTest {
 protected:
  // The ids `options` reads with SetLowerBound(column, bound), sorted; `pushed`
  // gets SetLowerBound's answer.
  Result<std::vector<int64_t>> IdsFrom(const std::string& options, const std::string& column,
                                       const std::string& bound, bool* pushed = nullptr) {
    SLUICE_ASSIGN_OR_RETURN(auto src, registry_.MakeSource(BaseUri() + "?" + options));
    SLUICE_RETURN_NOT_OK(src->Open(SourceOptions{}));
    SLUICE_ASSIGN_OR_RETURN(bool p, src->SetLowerBound(column, bound));
    if (pushed) *pushed = p;
    SLUICE_ASSIGN_OR_RETURN(auto splits, src->Plan(4));
    splits_ = static_cast<int>(splits.size());
    const int id_col = *src->schema()->FieldIndex("id");
    std::vector<int64_t> ids;
    for (const Split& s : splits) {
      SLUICE_ASSIGN_OR_RETURN(auto reader, src->OpenSplit(s));
      while (true) {
        SLUICE_ASSIGN_OR_RETURN(auto batch, reader->Next());
        if (!batch) break;
        for (int64_t i = 0; i < batch->num_rows(); ++i) {
          ids.push_back(batch->column(id_col).Value<int64_t>(i));
        }
      }
    }
    SLUICE_RETURN_NOT_OK(src->Close());
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  static std::vector<int64_t> Range(int64_t from, int64_t to) {
    std::vector<int64_t> out;
    for (int64_t i = from; i <= to; ++i) out.push_back(i);
    return out;
  }
  int splits_ = 0;
};

// Rows 1..10: dt = 2024-03-10 12:00:00 + id * 0.100001 s, ts the same
// instant in UTC (inserted through a +05:30 session as local time),
// d = 2024-01-01 + id days, n = id * 1000 - 5000; rows 11 and 12 hold
// n = 2^53 and 2^53 + 1 (equal as doubles) and NULL dates.
TEST_F(MysqlLowerBoundTest, ReturnsExactlyTheRowsAtOrAboveTheBound) {
  Sql("DROP TABLE IF EXISTS t_lb");
  Sql("CREATE TABLE t_lb (id BIGINT PRIMARY KEY, dt DATETIME(6) NULL, ts TIMESTAMP(6) NULL, "
      "d DATE NULL, n BIGINT NOT NULL, s VARCHAR(10) NULL)");
  Sql("SET time_zone = '+05:30'");
  for (int id = 1; id <= 10; ++id) {
    const std::string frac = std::to_string(id * 100001);
    const std::string add = "INTERVAL " + frac + " MICROSECOND";
    Sql("INSERT INTO t_lb VALUES (" + std::to_string(id) + ", '2024-03-10 12:00:00' + " + add +
        ", '2024-03-10 17:30:00' + " + add + ", '2024-01-01' + INTERVAL " + std::to_string(id) +
        " DAY, " + std::to_string(id * 1000 - 5000) + ", 'x')");
  }
  Sql("INSERT INTO t_lb VALUES (11, NULL, NULL, NULL, 9007199254740992, NULL), "
      "(12, NULL, NULL, NULL, 9007199254740993, NULL)");
  Sql("SET time_zone = '+00:00'");
  // The stored TIMESTAMPs are the UTC instants (checked in a UTC session).
  auto chk = admin_->QueryStored("SELECT ts FROM t_lb WHERE id = 5", "check");
  ASSERT_TRUE(chk.ok());
  EXPECT_STREQ(mysql_fetch_row(chk->get())[0], "2024-03-10 12:00:00.500005");

  for (const char* opts : {"table=t_lb", "table=t_lb&min_split_rows=1&max_splits=4",
                           "query=SELECT%20id,%20dt,%20ts,%20d,%20n%20FROM%20t_lb"}) {
    SCOPED_TRACE(opts);
    bool pushed = false;
    // At the boundary: id 5's value equals the bound, id 4's is 0.1 s below.
    auto dt = IdsFrom(opts, "dt", "2024-03-10T12:00:00.500005", &pushed);
    ASSERT_TRUE(dt.ok()) << dt.status().ToString();
    EXPECT_TRUE(pushed);
    EXPECT_EQ(*dt, Range(5, 10));
    auto dt2 = IdsFrom(opts, "dt", "2024-03-10T12:00:00.500006");
    ASSERT_TRUE(dt2.ok());
    EXPECT_EQ(*dt2, Range(6, 10));
    auto dt3 = IdsFrom(opts, "dt", "2024-03-10T12:00:01");
    ASSERT_TRUE(dt3.ok());
    EXPECT_EQ(*dt3, Range(10, 10));  // 12:00:01.000010

    // TIMESTAMP: the bound is UTC ("Z"), whatever session inserted the rows.
    auto ts = IdsFrom(opts, "ts", "2024-03-10T12:00:00.700007Z", &pushed);
    ASSERT_TRUE(ts.ok()) << ts.status().ToString();
    EXPECT_TRUE(pushed);
    EXPECT_EQ(*ts, Range(7, 10));
    auto ts2 = IdsFrom(opts, "ts", "2024-03-10T12:00:00.700008Z");
    ASSERT_TRUE(ts2.ok());
    EXPECT_EQ(*ts2, Range(8, 10));
    auto ts_all = IdsFrom(opts, "ts", "2024-03-10T06:30:00Z");  // 12:00 in +05:30
    ASSERT_TRUE(ts_all.ok());
    EXPECT_EQ(*ts_all, Range(1, 10));

    auto d = IdsFrom(opts, "d", "2024-01-08", &pushed);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_TRUE(pushed);
    EXPECT_EQ(*d, Range(7, 10));

    auto n = IdsFrom(opts, "n", "-1000", &pushed);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_TRUE(pushed);
    EXPECT_EQ(*n, Range(4, 12));
    auto big = IdsFrom(opts, "n", "9007199254740993");
    ASSERT_TRUE(big.ok());
    EXPECT_EQ(*big, Range(12, 12));  // compared as integers, not doubles
  }
  // Key-range splits still cover the window once.
  auto split = IdsFrom("table=t_lb&min_split_rows=1&max_splits=4", "id", "3");
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(*split, Range(3, 12));
  EXPECT_GT(splits_, 1);
}

TEST_F(MysqlLowerBoundTest, UnknownColumnsBadBoundsAndUnfilterableTypes) {
  Sql("DROP TABLE IF EXISTS t_lb2");
  Sql("CREATE TABLE t_lb2 (id BIGINT PRIMARY KEY, s VARCHAR(10), ts TIMESTAMP(6) NULL)");
  Sql("INSERT INTO t_lb2 VALUES (1, 'a', '2024-01-01 00:00:00'), (2, 'B', '2024-01-02 00:00:00')");
  auto src = registry_.MakeSource(BaseUri() + "?table=t_lb2");
  ASSERT_TRUE(src.ok());
  ASSERT_TRUE((*src)->Open(SourceOptions{}).ok());
  auto missing = (*src)->SetLowerBound("no_such_col", "1");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("no_such_col"), std::string::npos)
      << missing.status().ToString();
  auto garbage = (*src)->SetLowerBound("id", "1; DROP TABLE t_lb2");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), StatusCode::kInvalidArgument);
  auto bad_ts = (*src)->SetLowerBound("ts", "2024-01-01' OR '1");
  ASSERT_FALSE(bad_ts.ok());
  // A string column: the server's collation is not sluice's byte order.
  bool pushed = true;
  auto str = IdsFrom("table=t_lb2", "s", "a", &pushed);
  ASSERT_TRUE(str.ok()) << str.status().ToString();
  EXPECT_FALSE(pushed);
  EXPECT_EQ(*str, Range(1, 2));  // unfiltered: the runtime filters
  // Below TIMESTAMP's range: not pushed (all rows qualify anyway).
  auto early = IdsFrom("table=t_lb2", "ts", "1969-12-31T23:55:00Z", &pushed);
  ASSERT_TRUE(early.ok()) << early.status().ToString();
  EXPECT_FALSE(pushed);
  EXPECT_EQ(*early, Range(1, 2));
  Sql("DROP TABLE t_lb2");
}

}  // namespace
}  // namespace sluice
