#include <gtest/gtest.h>

#include <optional>

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <thread>

#include "connectors/sqlite/sqlite.h"
#include "connectors/sqlite/sqlite_db.h"
#include "connectors/sqlite/sqlite_types.h"
#include "core/temp_dir.h"
#include "core/temporal.h"
#include "core/testing.h"
#include "core/text.h"

namespace sluice {
namespace {

using sqlite::Database;

#define ASSERT_OK(expr)                                          \
  do {                                                           \
    ::sluice::Status _st = ::sluice::internal::ToStatus(expr);   \
    ASSERT_TRUE(_st.ok()) << _st.ToString();                     \
  } while (false)

#define ASSERT_OK_AND_ASSIGN(lhs, rexpr)                              \
  auto SLUICE_CONCAT(_r_, __LINE__) = (rexpr);                        \
  ASSERT_TRUE(SLUICE_CONCAT(_r_, __LINE__).ok())                      \
      << SLUICE_CONCAT(_r_, __LINE__).status().ToString();            \
  lhs = std::move(SLUICE_CONCAT(_r_, __LINE__)).value()

using Extra = std::vector<std::pair<std::string, std::string>>;

using testing::TempDir;

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterSqlite(&registry_);
    db_path_ = dir_.sub("test.db");
  }

  std::string Uri() const { return "sqlite://" + db_path_; }

  Result<std::unique_ptr<Source>> MakeSource(const Extra& options) {
    return registry_.MakeSource(Uri(), options);
  }
  Result<std::unique_ptr<Sink>> MakeSink(const Extra& options) {
    return registry_.MakeSink(Uri(), options);
  }

  // Opens a sink, applies each batch as its own part (ids "p0", "p1", ...),
  // and commits.
  Status WriteParts(const Extra& options, const std::vector<RecordBatch>& parts,
                    const std::string& id_prefix = "p") {
    SLUICE_ASSIGN_OR_RETURN(auto sink, MakeSink(options));
    SLUICE_RETURN_NOT_OK(sink->Open(parts.at(0).schema()));
    SLUICE_ASSIGN_OR_RETURN(auto writer, sink->NewWriter());
    for (size_t i = 0; i < parts.size(); ++i) {
      PartInfo info{id_prefix + std::to_string(i), "stream", static_cast<int64_t>(i + 1),
                    parts[i].num_rows()};
      SLUICE_ASSIGN_OR_RETURN(ApplyOutcome outcome, writer->ApplyPart(info, {parts[i]}));
      if (outcome != ApplyOutcome::kApplied) return Status::Internal("part was skipped");
    }
    SLUICE_RETURN_NOT_OK(sink->Commit());
    return sink->Close();
  }

  struct ReadResult {
    std::shared_ptr<const Schema> schema;
    RecordBatch batch;  // all splits concatenated in split order
    std::vector<int64_t> rows_per_split;
    int num_batches = 0;
  };

  Result<ReadResult> ReadAll(Source* source, int max_splits = 1, int64_t batch_rows = 1000) {
    SourceOptions so;
    so.batch_rows = batch_rows;
    SLUICE_RETURN_NOT_OK(source->Open(so));
    ReadResult out;
    out.schema = source->schema();
    BatchBuilder all(out.schema);
    SLUICE_ASSIGN_OR_RETURN(auto splits, source->Plan(max_splits));
    for (const Split& split : splits) {
      SLUICE_ASSIGN_OR_RETURN(auto reader, source->OpenSplit(split));
      int64_t n = 0;
      while (true) {
        SLUICE_ASSIGN_OR_RETURN(auto batch, reader->Next());
        if (!batch) break;
        SLUICE_RETURN_NOT_OK(batch->Validate());
        ++out.num_batches;
        for (int64_t r = 0; r < batch->num_rows(); ++r) {
          for (int c = 0; c < batch->num_columns(); ++c) all.column(c).AppendFrom(batch->column(c), r);
        }
        n += batch->num_rows();
      }
      out.rows_per_split.push_back(n);
    }
    out.batch = all.Finish();
    SLUICE_RETURN_NOT_OK(source->Close());
    return out;
  }

  Result<ReadResult> ReadTable(const Extra& options, int max_splits = 1) {
    SLUICE_ASSIGN_OR_RETURN(auto source, MakeSource(options));
    return ReadAll(source.get(), max_splits);
  }

  Status Exec(const std::string& sql) {
    SLUICE_ASSIGN_OR_RETURN(Database db, Database::Open(db_path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 5000));
    return db.Exec(sql);
  }

  Result<int64_t> QueryInt(const std::string& sql) {
    SLUICE_ASSIGN_OR_RETURN(Database db, Database::Open(db_path_, SQLITE_OPEN_READONLY, 5000));
    return db.QueryInt64(sql);
  }

  Result<std::string> QueryText(const std::string& sql) {
    SLUICE_ASSIGN_OR_RETURN(Database db, Database::Open(db_path_, SQLITE_OPEN_READONLY, 5000));
    SLUICE_ASSIGN_OR_RETURN(auto stmt, db.Prepare(sql));
    SLUICE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return std::string("<no row>");
    return std::string(stmt.ColumnText(0));
  }

  // `actual` must hold the values of `expected` (compared under expected's schema).
  static void ExpectSameValues(const RecordBatch& expected, const RecordBatch& actual) {
    ASSERT_EQ(actual.num_columns(), expected.num_columns());
    RecordBatch rebuilt(expected.schema(), actual.num_rows(), actual.columns());
    std::string why;
    EXPECT_TRUE(expected.Equals(rebuilt, &why)) << why;
  }

  TempDir dir_;
  std::string db_path_;
  Registry registry_;
};

// The rows of `batch` ordered by its int64 column `col` (the order a rowid
// table returns them in).
RecordBatch SortedBy(const RecordBatch& batch, int col) {
  std::vector<int64_t> order(static_cast<size_t>(batch.num_rows()));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return batch.column(col).Value<int64_t>(a) < batch.column(col).Value<int64_t>(b);
  });
  BatchBuilder out(batch.schema());
  for (int64_t r : order) {
    for (int c = 0; c < batch.num_columns(); ++c) out.column(c).AppendFrom(batch.column(c), r);
  }
  return out.Finish();
}

RecordBatch Int64Batch(const std::vector<int64_t>& ids, const std::string& tag,
                       std::shared_ptr<const Schema> schema = nullptr) {
  if (!schema) {
    schema = std::make_shared<const Schema>(std::vector<Field>{
        {"id", DataType::Int64(), false, true}, {"v", DataType::String()}});
  }
  BatchBuilder b(schema);
  for (int64_t id : ids) {
    b.column(0).AppendFixed<int64_t>(id);
    b.column(1).AppendBytes(tag + std::to_string(id));
  }
  return b.Finish();
}

// ---------------------------------------------------------------------------
// Type mapping

TEST(SqliteTypes, DeclaredTypesMapToSluiceTypes) {
  using sqlite::DeclTypeToDataType;
  struct Case {
    const char* decl;
    std::optional<DataType> type;
  };
  const Case cases[] = {
      {"INTEGER", DataType::Int64()},
      {"int", DataType::Int64()},
      {"BigInt", DataType::Int64()},
      {"INT8", DataType::Int64()},
      {"SMALLINT", DataType::Int16()},
      {"TINYINT", DataType::Int8()},
      {"INT4", DataType::Int32()},
      {"MEDIUMINT", DataType::Int32()},
      {"UNSIGNED BIG INT", DataType::UInt64()},
      {"TINYINT UNSIGNED", DataType::UInt8()},
      {"UTINYINT", DataType::UInt8()},
      {"USMALLINT", DataType::UInt16()},
      {"UINTEGER", DataType::UInt32()},
      {"UBIGINT", DataType::UInt64()},
      {"REAL", DataType::Float64()},
      {"DOUBLE", DataType::Float64()},
      {"double precision", DataType::Float64()},
      {"FLOAT", DataType::Float64()},
      {"FLOAT4", DataType::Float32()},
      {"DECIMAL(10,2)", DataType::Decimal(10, 2)},
      {"numeric( 38 , 9 )", DataType::Decimal(38, 9)},
      {"DECIMAL(12)", DataType::Decimal(12, 0)},
      {"NUMERIC", DataType::Float64()},
      {"DECIMAL(60,2)", DataType::Float64()},
      {"BOOLEAN", DataType::Bool()},
      {"BOOL", DataType::Bool()},
      {"DATE", DataType::Date()},
      {"TIME", DataType::Time()},
      {"DATETIME", DataType::Timestamp()},
      {"TIMESTAMP", DataType::Timestamp()},
      {"TIMESTAMPTZ", DataType::TimestampTz("UTC")},
      {"timestamp with time zone", DataType::TimestampTz("UTC")},
      {"BLOB", DataType::Binary()},
      {"BYTEA", DataType::Binary()},
      {"UUID", DataType::Uuid()},
      {"JSON", DataType::Json()},
      {"JSON TEXT", DataType::Json()},
      {"TEXT", DataType::String()},
      {"VARCHAR(20)", DataType::String()},
      {"NVARCHAR(10)", DataType::String()},
      {"CHARACTER VARYING(255)", DataType::String()},
      {"CLOB", DataType::String()},
      {"STRING", DataType::String()},
      {"POINT", DataType::Int64()},  // SQLite's affinity rule: contains "INT"
      {"", std::nullopt},
      {"MONEY", std::nullopt},
  };
  for (const Case& c : cases) {
    auto got = DeclTypeToDataType(c.decl);
    ASSERT_EQ(got.has_value(), c.type.has_value()) << c.decl;
    if (got) {
      EXPECT_EQ(got->ToString(), c.type->ToString()) << c.decl;
    }
  }
}

TEST(SqliteTypes, SinkDeclarationsMapBackAndKeepValues) {
  auto schema = testing::AllTypesSchema();
  for (const Field& f : schema->fields()) {
    for (bool alias : {false, true}) {
      std::string decl = sqlite::DataTypeToDeclType(f.type, alias);
      auto back = sqlite::DeclTypeToDataType(decl);
      ASSERT_TRUE(back.has_value()) << decl;
      EXPECT_EQ(*back, f.type) << decl;
      // Text-stored types must not sit in a column whose affinity converts
      // number-like text (strings and JSON): TEXT affinity.
      if (f.type.id == TypeId::kString || f.type.id == TypeId::kJson) {
        EXPECT_EQ(sqlite::AffinityOf(decl), sqlite::Affinity::kText) << decl;
      }
      EXPECT_TRUE(sqlite::CheckCompatible(f.type, decl, "t", f.name).ok()) << decl;
    }
  }
  EXPECT_EQ(sqlite::DataTypeToDeclType(DataType::Int64(), true), "INTEGER");
}

TEST(SqliteTypes, Compatibility) {
  using sqlite::CheckCompatible;
  EXPECT_TRUE(CheckCompatible(DataType::Int32(), "INTEGER", "t", "c").ok());
  EXPECT_TRUE(CheckCompatible(DataType::UInt32(), "BIGINT", "t", "c").ok());
  EXPECT_FALSE(CheckCompatible(DataType::UInt64(), "BIGINT", "t", "c").ok());
  EXPECT_FALSE(CheckCompatible(DataType::Int64(), "SMALLINT", "t", "c").ok());
  EXPECT_TRUE(CheckCompatible(DataType::Int32(), "REAL", "t", "c").ok());
  EXPECT_FALSE(CheckCompatible(DataType::Int64(), "REAL", "t", "c").ok());
  EXPECT_TRUE(CheckCompatible(DataType::Decimal(10, 2), "DECIMAL(12,4)", "t", "c").ok());
  EXPECT_FALSE(CheckCompatible(DataType::Decimal(10, 4), "DECIMAL(12,2)", "t", "c").ok());
  EXPECT_TRUE(CheckCompatible(DataType::Date(), "TEXT", "t", "c").ok());
  EXPECT_FALSE(CheckCompatible(DataType::String(), "STRING", "t", "c").ok());  // NUMERIC affinity
  EXPECT_TRUE(CheckCompatible(DataType::String(), "", "t", "c").ok());
  EXPECT_FALSE(CheckCompatible(DataType::String(), "MONEY", "t", "c").ok());
  auto st = CheckCompatible(DataType::String(), "INTEGER", "tbl", "col_x");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("col_x"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("tbl"), std::string::npos) << st.message();
}

TEST(SqliteTypes, QuoteIdentifier) {
  EXPECT_EQ(sqlite::QuoteIdentifier("plain"), "\"plain\"");
  EXPECT_EQ(sqlite::QuoteIdentifier("a\"b"), "\"a\"\"b\"");
  EXPECT_FALSE(sqlite::CheckIdentifier(std::string("a\0b", 3), "column").ok());
}

// ---------------------------------------------------------------------------
// Round trips

TEST_F(SqliteTest, AllTypesRoundTripExactly) {
  RecordBatch data = testing::AllTypesBatch(300);
  ASSERT_OK(WriteParts({{"table", "all_types"}}, {data.Slice(0, 100), data.Slice(100, 200)}));
  ASSERT_OK_AND_ASSIGN(ReadResult got, ReadTable({{"table", "all_types"}, {"min_split_rows", "50"}}, 4));
  EXPECT_EQ(got.rows_per_split.size(), 4u);
  // i64 is the INTEGER PRIMARY KEY, i.e. the rowid: rows come back in key order.
  ExpectSameValues(SortedBy(data, 3), got.batch);
  // Same names, types, nullability and key flags; source_type is the declared type.
  const Schema& expected = *data.schema();
  ASSERT_EQ(got.schema->num_fields(), expected.num_fields());
  for (int i = 0; i < expected.num_fields(); ++i) {
    const Field& e = expected.field(i);
    const Field& a = got.schema->field(i);
    EXPECT_EQ(a.name, e.name);
    EXPECT_EQ(a.type, e.type) << e.name;
    EXPECT_EQ(a.nullable, e.nullable) << e.name;
    EXPECT_EQ(a.primary_key, e.primary_key) << e.name;
    EXPECT_EQ(a.source_type, sqlite::DataTypeToDeclType(e.type, e.primary_key)) << e.name;
  }
  // How the extremes are stored (row 0 holds the maxima, see AllTypesBatch).
  ASSERT_OK_AND_ASSIGN(auto u64, QueryText("SELECT typeof(u64) || ':' || CAST(u64 AS TEXT) FROM all_types WHERE i64 = 9223372036854775807"));
  EXPECT_EQ(u64, "blob:18446744073709551615");
  ASSERT_OK_AND_ASSIGN(auto dec, QueryText("SELECT typeof(dec38) FROM all_types WHERE i64 = 9223372036854775807"));
  EXPECT_EQ(dec, "blob");
  ASSERT_OK_AND_ASSIGN(auto dec18, QueryText("SELECT typeof(dec18) || ':' || dec18 FROM all_types WHERE i64 = 0"));
  EXPECT_EQ(dec18, "integer:0");
  ASSERT_OK_AND_ASSIGN(auto nan, QueryText("SELECT typeof(f64) || ':' || f64 FROM all_types WHERE i64 = 0"));
  EXPECT_EQ(nan, "text:NaN");
  ASSERT_OK_AND_ASSIGN(auto ts, QueryText("SELECT tstz FROM all_types WHERE i64 = 0"));
  EXPECT_EQ(ts, "1970-01-01T00:00:00Z");
}

TEST_F(SqliteTest, EdgeValuesRoundTrip) {
  auto schema = std::make_shared<const Schema>(std::vector<Field>{
      {"id", DataType::Int64(), false, true},
      {"f", DataType::Float32()},
      {"d", DataType::Float64()},
      {"dec", DataType::Decimal(38, 9)},
      {"dec0", DataType::Decimal(38, 0)},
      {"u", DataType::UInt64()},
      {"s", DataType::String()},
      {"j", DataType::Json()},
      {"bin", DataType::Binary()},
  });
  BatchBuilder b(schema);
  const double doubles[] = {-0.0, 0.0, 0.1, -1e300, 5e-324, std::numeric_limits<double>::infinity()};
  const char* decimals[] = {"0.000000001", "123456789012345.678901234", "-99999999999999999999999999999.999999999",
                            "1.5", "100000000000000000000", "-0.1"};
  const char* decimals0[] = {"99999999999999999999999999999999999999", "-9223372036854775808",
                             "9223372036854775808", "1", "0", "-12"};
  const uint64_t u64s[] = {0, 9223372036854775807ULL, 9223372036854775808ULL, 18446744073709551615ULL, 1, 42};
  const char* jsons[] = {"1.50", "12345678901234567890", "\"s\"", "[1,2]", "null", "{\"a\":-0.0}"};
  const char* strings[] = {"123", "  7 ", "1e3", "Ünïcödé 🚀", "", "0x10"};
  for (int i = 0; i < 6; ++i) {
    b.column(0).AppendFixed<int64_t>(i);
    b.column(1).AppendFixed<float>(static_cast<float>(doubles[i]));
    b.column(2).AppendFixed<double>(doubles[i]);
    ASSERT_OK(AppendParsedText(decimals[i], &b.column(3)));
    ASSERT_OK(AppendParsedText(decimals0[i], &b.column(4)));
    b.column(5).AppendFixed<uint64_t>(u64s[i]);
    b.column(6).AppendBytes(strings[i]);
    b.column(7).AppendBytes(jsons[i]);
    b.column(8).AppendBytes(i == 0 ? std::string_view() : std::string_view("\0\1\2", 3));
  }
  RecordBatch data = b.Finish();
  ASSERT_OK(WriteParts({{"table", "edges"}}, {data}));
  ASSERT_OK_AND_ASSIGN(ReadResult got, ReadTable({{"table", "edges"}}));
  ExpectSameValues(data, got.batch);
  ASSERT_EQ(got.batch.num_rows(), 6);
  EXPECT_TRUE(std::signbit(got.batch.column(2).Value<double>(0)));  // -0.0 kept
  EXPECT_EQ(got.batch.column(8).StringValue(0), "");
  EXPECT_FALSE(got.batch.column(8).IsNull(0));
}

TEST_F(SqliteTest, DecimalsOfEveryShapeRoundTrip) {
  // Each scale with values of every digit count: integral ones, short ones
  // (stored as REAL), long ones (stored as BLOB text), negative ones.
  for (int scale : {0, 2, 9, 22, 25, 38}) {
    SCOPED_TRACE("scale " + std::to_string(scale));
    auto schema = std::make_shared<const Schema>(std::vector<Field>{{"d", DataType::Decimal(38, scale)}});
    BatchBuilder b(schema);
    uint64_t rng = 12345 + static_cast<uint64_t>(scale);
    for (int digits = 1; digits <= 38; ++digits) {
      for (int variant = 0; variant < 6; ++variant) {
        int128_t v;
        if (variant == 0) v = Pow10(digits - 1);         // 1, 10, 100, ...
        else if (variant == 1) v = Pow10(digits) - 1;    // 9, 99, 999, ...
        else {
          v = 0;
          for (int k = 0; k < digits; ++k) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            v = v * 10 + static_cast<int128_t>((rng >> 33) % 10);
          }
          if (variant >= 4) v = v / Pow10(digits / 2) * Pow10(digits / 2);  // trailing zeros
        }
        if (variant % 2 == 1) v = -v;
        b.column(0).AppendFixed<int128_t>(v);
      }
    }
    RecordBatch data = b.Finish();
    const std::string table = "dec" + std::to_string(scale);
    ASSERT_OK(WriteParts({{"table", table}}, {data}, table));
    ASSERT_OK_AND_ASSIGN(ReadResult got, ReadTable({{"table", table}}));
    ExpectSameValues(data, got.batch);
    for (int64_t r = 0; r < data.num_rows() && r < got.batch.num_rows(); ++r) {
      if (data.column(0).DecimalValue(r) != got.batch.column(0).DecimalValue(r)) {
        ADD_FAILURE() << ValueToText(data.column(0), r) << " read back as " << ValueToText(got.batch.column(0), r);
      }
    }
  }
  // Short decimals are stored as numbers SQLite can compare and sum.
  ASSERT_OK_AND_ASSIGN(std::string kinds, QueryText(
      "SELECT group_concat(k, ',') FROM (SELECT DISTINCT typeof(d) AS k FROM dec2 ORDER BY 1)"));
  EXPECT_EQ(kinds, "blob,integer,real");
}

TEST_F(SqliteTest, ZeroRowsAndOneRow) {
  RecordBatch empty = testing::AllTypesBatch(0);
  ASSERT_OK(WriteParts({{"table", "empty"}}, {empty}));
  ASSERT_OK_AND_ASSIGN(ReadResult got, ReadTable({{"table", "empty"}}, 8));
  EXPECT_EQ(got.batch.num_rows(), 0);
  EXPECT_EQ(got.num_batches, 0);
  EXPECT_EQ(got.schema->num_fields(), empty.schema()->num_fields());

  // A sink opened and committed without any part still creates the table.
  {
    ASSERT_OK_AND_ASSIGN(auto sink, MakeSink({{"table", "never_written"}}));
    ASSERT_OK(sink->Open(testing::MixedSchema()));
    ASSERT_OK(sink->Commit());
    ASSERT_OK(sink->Close());
  }
  ASSERT_OK_AND_ASSIGN(ReadResult none, ReadTable({{"table", "never_written"}}));
  EXPECT_EQ(none.batch.num_rows(), 0);
  EXPECT_EQ(none.schema->num_fields(), testing::MixedSchema()->num_fields());

  RecordBatch one = testing::AllTypesBatch(1);
  ASSERT_OK(WriteParts({{"table", "one"}}, {one}));
  ASSERT_OK_AND_ASSIGN(ReadResult got1, ReadTable({{"table", "one"}}, 8));
  ExpectSameValues(one, got1.batch);
  RecordBatch three = testing::AllTypesBatch(3);
  ASSERT_OK(WriteParts({{"table", "three"}}, {three}));
  ASSERT_OK_AND_ASSIGN(ReadResult got3, ReadTable({{"table", "three"}}, 8));
  ExpectSameValues(SortedBy(three, 3), got3.batch);
}

TEST_F(SqliteTest, QuerySource) {
  RecordBatch data = testing::MixedBatch(500);
  ASSERT_OK(WriteParts({{"table", "mixed"}}, {data}));
  ASSERT_OK_AND_ASSIGN(
      ReadResult got,
      ReadTable({{"query", "SELECT id, name, amount, id * 2 AS twice, upper(city) AS city_uc, "
                           "1.5 AS r, x'00ff' AS b, NULL AS n FROM mixed WHERE id % 2 = 0 ORDER BY id"}},
                4));
  ASSERT_EQ(got.rows_per_split.size(), 1u);  // a query is one split
  ASSERT_EQ(got.batch.num_rows(), 250);
  const Schema& s = *got.schema;
  EXPECT_EQ(s.field(0).type, DataType::Int64());
  EXPECT_EQ(s.field(1).type, DataType::String());
  EXPECT_EQ(s.field(2).type, DataType::Decimal(18, 2));  // decltype of the column
  EXPECT_EQ(s.field(3).type, DataType::Int64());         // inferred from the values
  EXPECT_EQ(s.field(4).type, DataType::String());
  EXPECT_EQ(s.field(5).type, DataType::Float64());
  EXPECT_EQ(s.field(6).type, DataType::Binary());
  EXPECT_EQ(s.field(7).type, DataType::String());
  for (int64_t r = 0; r < 250; ++r) {
    int64_t src = 2 * r;
    EXPECT_EQ(got.batch.column(0).Value<int64_t>(r), src);
    EXPECT_EQ(got.batch.column(3).Value<int64_t>(r), 2 * src);
    EXPECT_EQ(got.batch.column(2).DecimalValue(r), data.column(2).DecimalValue(src));
    EXPECT_EQ(got.batch.column(1).IsNull(r), data.column(1).IsNull(src));
    EXPECT_TRUE(got.batch.column(7).IsNull(r));
    EXPECT_EQ(got.batch.column(6).StringValue(r), std::string_view("\0\xff", 2));
  }
}

TEST_F(SqliteTest, BadQueriesReportSqliteMessages) {
  ASSERT_OK(Exec("CREATE TABLE t(a INTEGER); INSERT INTO t VALUES (1);"));
  SourceOptions so;
  {
    ASSERT_OK_AND_ASSIGN(auto src, MakeSource({{"query", "SELECT nope FROM t"}}));
    Status st = src->Open(so);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("no such column: nope"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("SELECT nope FROM t"), std::string::npos) << st.message();
  }
  {
    ASSERT_OK_AND_ASSIGN(auto src, MakeSource({{"query", "SELEC 1"}}));
    Status st = src->Open(so);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("syntax error"), std::string::npos) << st.message();
  }
  for (const char* bad : {"DELETE FROM t", "SELECT 1; DROP TABLE t", "BEGIN"}) {
    ASSERT_OK_AND_ASSIGN(auto src, MakeSource({{"query", bad}}));
    Status st = src->Open(so);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << bad << ": " << st.ToString();
  }
  ASSERT_OK_AND_ASSIGN(int64_t still, QueryInt("SELECT count(*) FROM t"));
  EXPECT_EQ(still, 1);
  // Trailing semicolons and comments are fine.
  ASSERT_OK_AND_ASSIGN(ReadResult ok, ReadTable({{"query", "SELECT a FROM t; -- done"}}));
  EXPECT_EQ(ok.batch.num_rows(), 1);
}

TEST_F(SqliteTest, MissingTableAndFile) {
  ASSERT_OK(Exec("CREATE TABLE present(a INTEGER);"));
  ASSERT_OK_AND_ASSIGN(auto src, MakeSource({{"table", "absent_table"}}));
  Status st = src->Open(SourceOptions());
  EXPECT_EQ(st.code(), StatusCode::kNotFound) << st.ToString();
  EXPECT_NE(st.message().find("absent_table"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("present"), std::string::npos) << st.message();

  auto missing = registry_.MakeSource("sqlite://" + dir_.sub("nope.db") + "?table=t");
  ASSERT_TRUE(missing.ok());
  Status st2 = (*missing)->Open(SourceOptions());
  EXPECT_EQ(st2.code(), StatusCode::kNotFound) << st2.ToString();
  EXPECT_NE(st2.message().find("nope.db"), std::string::npos);

  // Sink with create=false.
  ASSERT_OK_AND_ASSIGN(auto sink, MakeSink({{"table", "absent_table"}, {"create", "false"}}));
  Status st3 = sink->Open(testing::MixedSchema());
  EXPECT_EQ(st3.code(), StatusCode::kNotFound) << st3.ToString();
  EXPECT_NE(st3.message().find("absent_table"), std::string::npos);
}

TEST_F(SqliteTest, OptionErrors) {
  EXPECT_FALSE(MakeSource({{"table", "t"}, {"tabel", "x"}}).ok());
  EXPECT_FALSE(MakeSource({{"table", "t"}, {"query", "SELECT 1"}}).ok());
  EXPECT_FALSE(MakeSource({}).ok());
  EXPECT_FALSE(MakeSink({}).ok());
  EXPECT_FALSE(MakeSink({{"table", "t"}, {"mode", "merge"}}).ok());
  EXPECT_FALSE(registry_.MakeSource("sqlite://host/x.db?table=t").ok());
  auto info = registry_.Find("sqlite");
  ASSERT_NE(info, nullptr);
  EXPECT_TRUE(info->make_source && info->make_sink);
}

// ---------------------------------------------------------------------------
// Splits

TEST_F(SqliteTest, SplitsCoverEveryRowExactlyOnce) {
  ASSERT_OK(Exec(
      "CREATE TABLE s(id INTEGER PRIMARY KEY, v TEXT);"
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) "
      "INSERT INTO s SELECT x * 3, 'v' || x FROM c;"
      // Sparse: a deleted range, scattered deletions and far-away rowids.
      "DELETE FROM s WHERE id BETWEEN 9000 AND 30000;"
      "DELETE FROM s WHERE id % 7 = 0;"
      "INSERT INTO s VALUES (-9223372036854775808, 'min'), (9223372036854775807, 'max'), (1000000000000, 'far');"));
  ASSERT_OK_AND_ASSIGN(int64_t total, QueryInt("SELECT count(*) FROM s"));
  for (int splits : {1, 2, 3, 7, 16, 64}) {
    ASSERT_OK_AND_ASSIGN(auto src, MakeSource({{"table", "s"}, {"min_split_rows", "1"}}));
    ASSERT_OK_AND_ASSIGN(ReadResult got, ReadAll(src.get(), splits, 777));
    EXPECT_EQ(static_cast<int>(got.rows_per_split.size()), splits);
    ASSERT_EQ(got.batch.num_rows(), total) << splits;
    std::set<int64_t> ids;
    for (int64_t r = 0; r < got.batch.num_rows(); ++r) {
      int64_t id = got.batch.column(0).Value<int64_t>(r);
      EXPECT_TRUE(ids.insert(id).second) << "duplicate id " << id << " with " << splits << " splits";
      EXPECT_EQ(got.batch.column(1).StringValue(r),
                id == INT64_MIN ? "min" : id == INT64_MAX ? "max" : id == 1000000000000 ? "far"
                                                                    : "v" + std::to_string(id / 3));
    }
    EXPECT_EQ(static_cast<int64_t>(ids.size()), total);
  }
  // min_split_rows keeps small tables in few splits.
  ASSERT_OK_AND_ASSIGN(auto src, MakeSource({{"table", "s"}, {"min_split_rows", "5000"}}));
  ASSERT_OK(src->Open(SourceOptions()));
  ASSERT_OK_AND_ASSIGN(auto plan, src->Plan(64));
  EXPECT_EQ(static_cast<int64_t>(plan.size()), (total + 4999) / 5000);
  ASSERT_OK(src->Close());
}

TEST_F(SqliteTest, WithoutRowidAndViewsAreOneSplit) {
  ASSERT_OK(Exec("CREATE TABLE w(k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID;"
                 "INSERT INTO w VALUES ('a', 1), ('b', 2), ('c', 3);"
                 "CREATE VIEW vw AS SELECT k, v * 10 AS v10 FROM w;"
                 "CREATE TABLE shadow(rowid TEXT, _rowid_ TEXT, oid TEXT);"
                 "INSERT INTO shadow VALUES ('x', 'y', 'z');"));
  ASSERT_OK_AND_ASSIGN(ReadResult w, ReadTable({{"table", "W"}, {"min_split_rows", "1"}}, 8));
  EXPECT_EQ(w.rows_per_split.size(), 1u);
  EXPECT_EQ(w.batch.num_rows(), 3);
  EXPECT_FALSE(w.schema->field(0).nullable);  // WITHOUT ROWID keys are NOT NULL
  EXPECT_TRUE(w.schema->field(0).primary_key);
  ASSERT_OK_AND_ASSIGN(ReadResult v, ReadTable({{"table", "vw"}, {"min_split_rows", "1"}}, 8));
  EXPECT_EQ(v.rows_per_split.size(), 1u);
  EXPECT_EQ(v.batch.column(1).Value<int64_t>(2), 30);
  EXPECT_EQ(v.schema->field(1).type, DataType::Int64());  // inferred (expression)
  ASSERT_OK_AND_ASSIGN(ReadResult sh, ReadTable({{"table", "shadow"}, {"min_split_rows", "1"}}, 8));
  EXPECT_EQ(sh.rows_per_split.size(), 1u);
  EXPECT_EQ(sh.batch.column(0).StringValue(0), "x");
}

TEST_F(SqliteTest, SplitReadersShareOneSnapshot) {
  ASSERT_OK(Exec("PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER);"
                 "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) "
                 "INSERT INTO t SELECT x, x FROM c;"));
  ASSERT_OK_AND_ASSIGN(auto src, MakeSource({{"table", "t"}, {"min_split_rows", "1"}}));
  ASSERT_OK(src->Open(SourceOptions()));
  std::string fp = src->Fingerprint();
  ASSERT_OK_AND_ASSIGN(auto splits, src->Plan(4));
  ASSERT_EQ(splits.size(), 4u);
  // A writer commits after planning, before any split is read: WAL lets it,
  // and no split may see its rows (they would land in the open-ended last split).
  ASSERT_OK(Exec("INSERT INTO t SELECT id + 1000, v FROM t; UPDATE t SET v = -1 WHERE id <= 10;"));
  int64_t rows = 0;
  for (const auto& split : splits) {
    ASSERT_OK_AND_ASSIGN(auto reader, src->OpenSplit(split));
    while (true) {
      ASSERT_OK_AND_ASSIGN(auto batch, reader->Next());
      if (!batch) break;
      for (int64_t r = 0; r < batch->num_rows(); ++r) {
        EXPECT_EQ(batch->column(0).Value<int64_t>(r), batch->column(1).Value<int64_t>(r));
      }
      rows += batch->num_rows();
    }
  }
  EXPECT_EQ(rows, 1000);
  ASSERT_OK(src->Close());
  // The data changed: so does the fingerprint.
  ASSERT_OK_AND_ASSIGN(auto src2, MakeSource({{"table", "t"}}));
  ASSERT_OK(src2->Open(SourceOptions()));
  EXPECT_NE(src2->Fingerprint(), fp);
  // What is read did not change: neither does the identity part keys use.
  EXPECT_EQ(src2->Identity(), src->Identity());
  EXPECT_NE(src2->Identity(), src2->Fingerprint());
  EXPECT_EQ(src2->EstimatedRows(), std::optional<int64_t>(2000));
}

TEST_F(SqliteTest, RollbackJournalAndSnapshotNone) {
  ASSERT_OK(Exec("PRAGMA journal_mode=DELETE; CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER);"
                 "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) "
                 "INSERT INTO t SELECT x, x FROM c;"));
  for (const char* snapshot : {"lock", "none"}) {
    ASSERT_OK_AND_ASSIGN(auto src, MakeSource({{"table", "t"}, {"snapshot", snapshot}, {"min_split_rows", "1"}}));
    ASSERT_OK_AND_ASSIGN(ReadResult got, ReadAll(src.get(), 3));
    EXPECT_EQ(got.rows_per_split.size(), 3u) << snapshot;
    EXPECT_EQ(got.batch.num_rows(), 3000) << snapshot;
  }
  ASSERT_OK_AND_ASSIGN(std::string mode, QueryText("PRAGMA journal_mode"));
  EXPECT_EQ(mode, "delete");  // the source changed nothing
}

TEST_F(SqliteTest, ChangesBetweenOpenAndPlan) {
  ASSERT_OK(WriteParts({{"table", "t"}}, {Int64Batch({1, 2, 3}, "x")}));
  {
    ASSERT_OK_AND_ASSIGN(auto src, MakeSource({{"table", "t"}}));
    ASSERT_OK(src->Open(SourceOptions()));
    // Writes elsewhere in the file (e.g. a sink into the same database) are fine.
    ASSERT_OK(WriteParts({{"table", "other"}}, {Int64Batch({1}, "x")}));
    ASSERT_OK_AND_ASSIGN(auto splits, src->Plan(2));
    ASSERT_OK_AND_ASSIGN(auto reader, src->OpenSplit(splits[0]));
    ASSERT_OK_AND_ASSIGN(auto batch, reader->Next());
    ASSERT_TRUE(batch.has_value());
    EXPECT_EQ(batch->num_rows(), 3);
  }
  // A change to the table itself makes Plan fail (retryable): the schema and
  // fingerprint given out by Open would not describe what is read.
  ASSERT_OK_AND_ASSIGN(auto src, MakeSource({{"table", "t"}}));
  ASSERT_OK(src->Open(SourceOptions()));
  ASSERT_OK(Exec("INSERT INTO t VALUES (4, 'x4');"));
  auto plan = src->Plan(2);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kRetryable) << plan.status().ToString();
}

TEST_F(SqliteTest, BatchesRespectBatchRows) {
  ASSERT_OK(Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
                 "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2500) "
                 "INSERT INTO t SELECT x, 'v' || x FROM c;"));
  ASSERT_OK_AND_ASSIGN(auto src, MakeSource({{"table", "t"}}));
  ASSERT_OK_AND_ASSIGN(ReadResult got, ReadAll(src.get(), 1, 1000));
  EXPECT_EQ(got.num_batches, 3);
  EXPECT_EQ(got.batch.num_rows(), 2500);
  ASSERT_OK_AND_ASSIGN(auto src2, MakeSource({{"table", "t"}, {"batch_rows", "100"}}));
  ASSERT_OK_AND_ASSIGN(ReadResult got2, ReadAll(src2.get(), 1, 1000));
  EXPECT_EQ(got2.num_batches, 25);
  // position() is the last rowid read.
  ASSERT_OK_AND_ASSIGN(auto src3, MakeSource({{"table", "t"}}));
  ASSERT_OK(src3->Open(SourceOptions()));
  ASSERT_OK_AND_ASSIGN(auto reader, src3->OpenSplit(Split{0, "", "100", "200", -1}));
  ASSERT_OK_AND_ASSIGN(auto batch, reader->Next());
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->num_rows(), 100);
  EXPECT_EQ(reader->position(), "199");
  EXPECT_FALSE(src3->OpenSplit(Split{0, "", "abc", "", -1}).ok());
}

TEST_F(SqliteTest, NotADatabase) {
  {
    FILE* f = std::fopen(db_path_.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::string junk(8192, 'x');
    std::fwrite(junk.data(), 1, junk.size(), f);
    std::fclose(f);
  }
  ASSERT_OK_AND_ASSIGN(auto src, MakeSource({{"table", "t"}}));
  Status st = src->Open(SourceOptions());
  EXPECT_EQ(st.code(), StatusCode::kInvalidData) << st.ToString();
  EXPECT_NE(st.message().find("not a database"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(db_path_), std::string::npos) << st.message();
}

TEST_F(SqliteTest, FingerprintIsStableForUnchangedData) {
  ASSERT_OK(WriteParts({{"table", "a"}}, {Int64Batch({1, 2, 3}, "x")}));
  ASSERT_OK(WriteParts({{"table", "b"}}, {Int64Batch({1, 2, 3}, "x")}));
  auto fingerprint = [&](const Extra& options) -> std::string {
    auto src = MakeSource(options);
    if (!src.ok() || !(*src)->Open(SourceOptions()).ok()) return "error";
    std::string fp = (*src)->Fingerprint();
    (void)(*src)->Close();
    return fp;
  };
  std::string a1 = fingerprint({{"table", "a"}});
  EXPECT_EQ(a1, fingerprint({{"table", "a"}}));
  EXPECT_NE(a1, fingerprint({{"table", "b"}}));
  EXPECT_NE(a1.find("sqlite:" + db_path_ + "?table=a#"), std::string::npos) << a1;
  std::string q1 = fingerprint({{"query", "SELECT * FROM a"}});
  EXPECT_EQ(q1, fingerprint({{"query", "SELECT * FROM a"}}));
  std::string q2 = fingerprint({{"query", "SELECT count(*) FROM a"}});
  std::string b1 = fingerprint({{"table", "b"}});
  ASSERT_OK(Exec("INSERT INTO a VALUES (4, 'y');"));
  EXPECT_NE(a1, fingerprint({{"table", "a"}}));
  EXPECT_NE(q1, fingerprint({{"query", "SELECT * FROM a"}}));
  EXPECT_NE(q2, fingerprint({{"query", "SELECT count(*) FROM a"}}));
  EXPECT_EQ(b1, fingerprint({{"table", "b"}}));  // another table changed, not this one
}

// ---------------------------------------------------------------------------
// Schema discovery and conversions of hand-made tables

TEST_F(SqliteTest, DiscoversHandMadeTable) {
  ASSERT_OK(Exec(
      "CREATE TABLE h(id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL, price DECIMAL(10,2), "
      "seen DATETIME, ok BOOLEAN, raw BLOB, anything, ratio DOUBLE PRECISION, "
      "at TIMESTAMP WITH TIME ZONE, u UUID, doc JSON, small SMALLINT, big UNSIGNED BIG INT, "
      "cash MONEY, day DATE, clock TIME);"
      "INSERT INTO h VALUES (1, 'one', 12.5, '2024-02-29 13:45:00', 1, x'0102', 7, 0.25, "
      "'2024-01-01T00:00:00+03:00', '123e4567-e89b-12d3-a456-426614174000', '{\"a\":1}', -5, 5, 1.25, "
      "'2024-12-31', '23:59:59.5');"
      "INSERT INTO h VALUES (2, 'two', '7', NULL, 'false', NULL, 8, 2, NULL, "
      "x'00112233445566778899aabbccddeeff', '[1]', 300, 9223372036854775808, 3, NULL, NULL);"));
  ASSERT_OK_AND_ASSIGN(ReadResult got, ReadTable({{"table", "h"}}));
  const Schema& s = *got.schema;
  ASSERT_EQ(s.num_fields(), 16);
  struct Expect {
    const char* name;
    DataType type;
    bool nullable;
    bool pk;
    const char* decl;
  };
  const Expect expect[] = {
      {"id", DataType::Int64(), false, true, "INTEGER"},
      {"name", DataType::String(), false, false, "VARCHAR(20)"},
      {"price", DataType::Decimal(10, 2), true, false, "DECIMAL(10,2)"},
      {"seen", DataType::Timestamp(), true, false, "DATETIME"},
      {"ok", DataType::Bool(), true, false, "BOOLEAN"},
      {"raw", DataType::Binary(), true, false, "BLOB"},
      {"anything", DataType::Int64(), true, false, ""},  // inferred from the values
      {"ratio", DataType::Float64(), true, false, "DOUBLE PRECISION"},
      {"at", DataType::TimestampTz("UTC"), true, false, "TIMESTAMP WITH TIME ZONE"},
      {"u", DataType::Uuid(), true, false, "UUID"},
      {"doc", DataType::Json(), true, false, "JSON"},
      {"small", DataType::Int16(), true, false, "SMALLINT"},
      {"big", DataType::UInt64(), true, false, "UNSIGNED BIG INT"},
      {"cash", DataType::Float64(), true, false, "MONEY"},  // unknown name: inferred (REAL + INTEGER)
      {"day", DataType::Date(), true, false, "DATE"},
      {"clock", DataType::Time(), true, false, "TIME"},
  };
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(s.field(i).name, expect[i].name);
    EXPECT_EQ(s.field(i).type, expect[i].type) << expect[i].name;
    EXPECT_EQ(s.field(i).nullable, expect[i].nullable) << expect[i].name;
    EXPECT_EQ(s.field(i).primary_key, expect[i].pk) << expect[i].name;
    EXPECT_EQ(s.field(i).source_type, expect[i].decl) << expect[i].name;
  }
  const RecordBatch& b = got.batch;
  ASSERT_EQ(b.num_rows(), 2);
  EXPECT_EQ(ValueToText(b.column(2), 0), "12.50");
  EXPECT_EQ(ValueToText(b.column(2), 1), "7.00");
  EXPECT_EQ(ValueToText(b.column(3), 0), "2024-02-29T13:45:00");
  EXPECT_TRUE(b.column(4).BoolValue(0));
  EXPECT_FALSE(b.column(4).BoolValue(1));
  EXPECT_EQ(b.column(5).StringValue(0), std::string_view("\1\2", 2));
  EXPECT_EQ(ValueToText(b.column(8), 0), "2023-12-31T21:00:00Z");
  EXPECT_EQ(ValueToText(b.column(9), 0), "123e4567-e89b-12d3-a456-426614174000");
  EXPECT_EQ(ValueToText(b.column(9), 1), "00112233-4455-6677-8899-aabbccddeeff");  // 16-byte blob
  EXPECT_EQ(b.column(10).StringValue(0), "{\"a\":1}");
  EXPECT_EQ(b.column(11).Value<int16_t>(1), 300);
  EXPECT_EQ(b.column(12).Value<uint64_t>(0), 5u);
  // 2^63 does not fit SQLite's INTEGER: the INSERT stored the REAL 2^63,
  // which is an exact uint64.
  EXPECT_EQ(b.column(12).Value<uint64_t>(1), 9223372036854775808ULL);
  EXPECT_EQ(b.column(13).Value<double>(0), 1.25);
  EXPECT_EQ(ValueToText(b.column(14), 0), "2024-12-31");
  EXPECT_EQ(ValueToText(b.column(15), 0), "23:59:59.500000");
}

TEST_F(SqliteTest, ConversionErrorsNameTableRowidAndColumn) {
  ASSERT_OK(Exec("CREATE TABLE c(n INTEGER, d DATE, s TEXT);"
                 "INSERT INTO c VALUES (1, '2024-01-01', 'ok');"
                 "INSERT INTO c VALUES ('abc', '2024-01-02', 'ok');"
                 "INSERT INTO c VALUES (3, 'not a date', CAST(x'ff' AS TEXT));"
                 "INSERT INTO c VALUES (1.5, 20000, 'ok');"));
  ASSERT_OK_AND_ASSIGN(auto src, MakeSource({{"table", "c"}}));
  auto got = ReadAll(src.get());
  ASSERT_FALSE(got.ok());
  const std::string& msg = got.status().message();
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidData);
  EXPECT_NE(msg.find("table \"c\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("rowid 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("column 'n'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'abc'"), std::string::npos) << msg;

  // The error is sticky: calling Next() again does not report the end of the split.
  {
    ASSERT_OK_AND_ASSIGN(auto again, MakeSource({{"table", "c"}}));
    ASSERT_OK(again->Open(SourceOptions()));
    ASSERT_OK_AND_ASSIGN(auto reader, again->OpenSplit(Split{}));
    EXPECT_FALSE(reader->Next().ok());
    EXPECT_FALSE(reader->Next().ok());
  }
  ASSERT_OK_AND_ASSIGN(ReadResult lenient, ReadTable({{"table", "c"}, {"on_conversion_error", "null"}}));
  const RecordBatch& b = lenient.batch;
  ASSERT_EQ(b.num_rows(), 4);
  EXPECT_EQ(b.column(0).Value<int64_t>(0), 1);
  EXPECT_TRUE(b.column(0).IsNull(1));
  EXPECT_TRUE(b.column(1).IsNull(2));
  EXPECT_TRUE(b.column(2).IsNull(2));  // invalid UTF-8
  EXPECT_TRUE(b.column(0).IsNull(3));  // 1.5 is not an integer
  EXPECT_TRUE(b.column(1).IsNull(3));  // numbers are not dates
  EXPECT_TRUE(lenient.schema->field(0).nullable);
}

// ---------------------------------------------------------------------------
// Sink modes

TEST_F(SqliteTest, AppendAddsRows) {
  ASSERT_OK(WriteParts({{"table", "t"}}, {Int64Batch({1, 2}, "a")}, "run1-"));
  ASSERT_OK(WriteParts({{"table", "t"}}, {Int64Batch({3}, "a")}, "run2-"));
  ASSERT_OK_AND_ASSIGN(int64_t n, QueryInt("SELECT count(*) FROM t"));
  EXPECT_EQ(n, 3);
  // The same part ids again: all skipped.
  ASSERT_OK_AND_ASSIGN(auto sink, MakeSink({{"table", "t"}}));
  ASSERT_OK(sink->Open(Int64Batch({}, "a").schema()));
  ASSERT_OK_AND_ASSIGN(auto w, sink->NewWriter());
  ASSERT_OK_AND_ASSIGN(auto outcome, w->ApplyPart(PartInfo{"run1-0", "stream", 1, 2}, {Int64Batch({7, 8}, "a")}));
  EXPECT_EQ(outcome, ApplyOutcome::kAlreadyApplied);
  ASSERT_OK_AND_ASSIGN(int64_t n2, QueryInt("SELECT count(*) FROM t"));
  EXPECT_EQ(n2, 3);
  EXPECT_EQ(w->ApplyPart(PartInfo{"", "stream", 1, 1}, {Int64Batch({9}, "a")}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(SqliteTest, ReplaceIsAtomicAndIdempotent) {
  ASSERT_OK(WriteParts({{"table", "t"}}, {Int64Batch({1, 2, 3}, "old")}, "old-"));
  ASSERT_OK(Exec("CREATE VIEW tv AS SELECT count(*) AS n FROM t;"));
  ASSERT_OK_AND_ASSIGN(auto sink, MakeSink({{"table", "t"}, {"mode", "replace"}}));
  ASSERT_OK(sink->Open(Int64Batch({}, "x").schema()));
  ASSERT_OK_AND_ASSIGN(auto w, sink->NewWriter());
  ASSERT_OK_AND_ASSIGN(auto o1, w->ApplyPart(PartInfo{"new-0", "s", 1, 2}, {Int64Batch({10, 11}, "new")}));
  EXPECT_EQ(o1, ApplyOutcome::kApplied);
  ASSERT_OK_AND_ASSIGN(auto o2, w->ApplyPart(PartInfo{"new-0", "s", 1, 2}, {Int64Batch({10, 11}, "new")}));
  EXPECT_EQ(o2, ApplyOutcome::kAlreadyApplied);
  // Parts of the old table's run do not count for the staging table.
  ASSERT_OK_AND_ASSIGN(auto o3, w->ApplyPart(PartInfo{"old-0", "s", 2, 1}, {Int64Batch({12}, "new")}));
  EXPECT_EQ(o3, ApplyOutcome::kApplied);
  // Before Commit the old table is intact.
  ASSERT_OK_AND_ASSIGN(std::string before, QueryText("SELECT group_concat(v, ',') FROM (SELECT v FROM t ORDER BY id)"));
  EXPECT_EQ(before, "old1,old2,old3");
  ASSERT_OK(sink->Commit());
  ASSERT_OK(sink->Commit());  // idempotent
  ASSERT_OK(sink->Close());
  ASSERT_OK_AND_ASSIGN(std::string after, QueryText("SELECT group_concat(v, ',') FROM (SELECT v FROM t ORDER BY id)"));
  EXPECT_EQ(after, "new10,new11,new12");
  ASSERT_OK_AND_ASSIGN(int64_t stage, QueryInt("SELECT count(*) FROM sqlite_master WHERE name LIKE '%sluice_stage%'"));
  EXPECT_EQ(stage, 0);
  ASSERT_OK_AND_ASSIGN(int64_t view, QueryInt("SELECT n FROM tv"));
  EXPECT_EQ(view, 3);
  // The ledger describes the new table only.
  ASSERT_OK_AND_ASSIGN(std::string ledger, QueryText(
      "SELECT group_concat(target || '/' || part_id, ',') FROM (SELECT * FROM _sluice_ledger ORDER BY part_id)"));
  EXPECT_EQ(ledger, "t/new-0,t/old-0");
}

TEST_F(SqliteTest, InterruptedReplaceLeavesOldTableAndRestartsClean) {
  ASSERT_OK(WriteParts({{"table", "t"}}, {Int64Batch({1}, "old")}));
  {
    ASSERT_OK_AND_ASSIGN(auto sink, MakeSink({{"table", "t"}, {"mode", "replace"}}));
    ASSERT_OK(sink->Open(Int64Batch({}, "x").schema()));
    ASSERT_OK_AND_ASSIGN(auto w, sink->NewWriter());
    ASSERT_OK(w->ApplyPart(PartInfo{"a", "s", 1, 1}, {Int64Batch({5}, "stale")}).status());
    // Destroyed without Commit: the run is abandoned.
  }
  ASSERT_OK_AND_ASSIGN(std::string old, QueryText("SELECT group_concat(v) FROM t"));
  EXPECT_EQ(old, "old1");
  ASSERT_OK(WriteParts({{"table", "t"}, {"mode", "replace"}}, {Int64Batch({7}, "fresh")}, "b"));
  ASSERT_OK_AND_ASSIGN(std::string fresh, QueryText("SELECT group_concat(v) FROM t"));
  EXPECT_EQ(fresh, "fresh7");
}

TEST_F(SqliteTest, UpsertByKey) {
  ASSERT_OK(WriteParts({{"table", "u"}, {"mode", "upsert"}}, {Int64Batch({1, 2, 3}, "a")}, "x"));
  ASSERT_OK(WriteParts({{"table", "u"}, {"mode", "upsert"}}, {Int64Batch({3, 4}, "b")}, "y"));
  ASSERT_OK_AND_ASSIGN(std::string rows, QueryText("SELECT group_concat(v, ',') FROM (SELECT v FROM u ORDER BY id)"));
  EXPECT_EQ(rows, "a1,a2,b3,b4");

  // Key given explicitly on a schema without a primary key: the created table gets it.
  auto nokey = std::make_shared<const Schema>(std::vector<Field>{{"code", DataType::String()},
                                                                {"n", DataType::Int32()}});
  auto make = [&](std::vector<std::pair<std::string, int32_t>> rows_in) {
    BatchBuilder b(nokey);
    for (auto& [k, v] : rows_in) {
      b.column(0).AppendBytes(k);
      b.column(1).AppendFixed<int32_t>(v);
    }
    return b.Finish();
  };
  ASSERT_OK(WriteParts({{"table", "k"}, {"mode", "upsert"}, {"key", "code"}}, {make({{"a", 1}, {"b", 2}})}, "k1"));
  ASSERT_OK(WriteParts({{"table", "k"}, {"mode", "upsert"}, {"key", " code "}}, {make({{"b", 20}, {"c", 30}})}, "k2"));
  ASSERT_OK_AND_ASSIGN(std::string krows, QueryText("SELECT group_concat(code || n, ',') FROM (SELECT * FROM k ORDER BY code)"));
  EXPECT_EQ(krows, "a1,b20,c30");

  // No key at all.
  ASSERT_OK_AND_ASSIGN(auto s1, MakeSink({{"table", "k2"}, {"mode", "upsert"}}));
  EXPECT_EQ(s1->Open(nokey).code(), StatusCode::kInvalidArgument);
  // A key column that does not exist.
  ASSERT_OK_AND_ASSIGN(auto s2, MakeSink({{"table", "k"}, {"mode", "upsert"}, {"key", "zzz"}}));
  Status st2 = s2->Open(nokey);
  EXPECT_NE(st2.message().find("zzz"), std::string::npos) << st2.ToString();
  // An existing table without a unique index on the key.
  ASSERT_OK(Exec("CREATE TABLE plain(code TEXT, n INT4);"));
  ASSERT_OK_AND_ASSIGN(auto s3, MakeSink({{"table", "plain"}, {"mode", "upsert"}, {"key", "code"}}));
  Status st3 = s3->Open(nokey);
  EXPECT_EQ(st3.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st3.message().find("UNIQUE"), std::string::npos) << st3.message();
  ASSERT_OK(Exec("CREATE UNIQUE INDEX plain_code ON plain(code);"));
  ASSERT_OK(WriteParts({{"table", "plain"}, {"mode", "upsert"}, {"key", "code"}},
                       {make({{"a", 1}}), make({{"a", 2}})}, "pl"));
  ASSERT_OK_AND_ASSIGN(std::string prow, QueryText("SELECT group_concat(code || n) FROM plain"));
  EXPECT_EQ(prow, "a2");
}

TEST_F(SqliteTest, SoftDeleteRemovesFlaggedKeysInUpsertMode) {
  auto schema = std::make_shared<const Schema>(std::vector<Field>{
      {"a", DataType::Int64(), false, true},
      {"b", DataType::String(), false, true},
      {"v", DataType::String()},
      {"deleted", DataType::Bool()}});
  struct R {
    int64_t a;
    std::string b, v;
    std::optional<bool> deleted;
  };
  auto make = [&](const std::vector<R>& rows) {
    BatchBuilder bb(schema);
    for (const R& r : rows) {
      bb.column(0).AppendFixed<int64_t>(r.a);
      bb.column(1).AppendBytes(r.b);
      bb.column(2).AppendBytes(r.v);
      if (r.deleted) {
        bb.column(3).AppendBool(*r.deleted);
      } else {
        bb.column(3).AppendNull();
      }
    }
    return bb.Finish();
  };
  const Extra opts = {{"table", "sd"}, {"mode", "upsert"}, {"soft_delete", "deleted"}};
  ASSERT_OK(WriteParts(opts, {make({{1, "x", "one", std::nullopt}, {2, "x", "two", false},
                                    {3, "y", "three", std::nullopt}, {3, "x", "three-x", false}})},
                       "sd1"));
  // (2,x) and (3,y) are deleted by key (composite); (1,x) updated; a flagged
  // key the table never had is a no-op; false / NULL flags are ordinary rows.
  ASSERT_OK(WriteParts(opts, {make({{2, "x", "two", true}, {3, "y", "gone", true},
                                    {1, "x", "uno", false}, {9, "z", "never", true}})},
                       "sd2"));
  ASSERT_OK_AND_ASSIGN(std::string rows,
                       QueryText("SELECT group_concat(a || b || '=' || v, ',') FROM "
                                 "(SELECT * FROM sd ORDER BY a, b)"));
  EXPECT_EQ(rows, "1x=uno,3x=three-x");
  // Outside upsert mode, or on a missing column: a clear error at Open.
  ASSERT_OK_AND_ASSIGN(auto append, MakeSink({{"table", "sd"}, {"soft_delete", "deleted"}}));
  Status st = append->Open(schema);
  EXPECT_NE(st.message().find("needs mode=upsert"), std::string::npos) << st.ToString();
  ASSERT_OK_AND_ASSIGN(auto missing,
                       MakeSink({{"table", "sd"}, {"mode", "upsert"}, {"soft_delete", "nope"}}));
  st = missing->Open(schema);
  EXPECT_NE(st.message().find("'nope' is not in the schema"), std::string::npos) << st.ToString();
}

TEST_F(SqliteTest, FailedPartLeavesNothing) {
  ASSERT_OK(Exec("CREATE TABLE nn(id INTEGER PRIMARY KEY, v TEXT NOT NULL);"));
  auto schema = std::make_shared<const Schema>(std::vector<Field>{
      {"id", DataType::Int64(), false, true}, {"v", DataType::String(), true}});
  BatchBuilder b(schema);
  for (int i = 0; i < 10; ++i) {
    b.column(0).AppendFixed<int64_t>(i);
    if (i == 6) b.column(1).AppendNull();
    else b.column(1).AppendBytes("x");
  }
  RecordBatch bad = b.Finish();
  ASSERT_OK_AND_ASSIGN(auto sink, MakeSink({{"table", "nn"}}));
  ASSERT_OK(sink->Open(schema));
  ASSERT_OK_AND_ASSIGN(auto w, sink->NewWriter());
  auto r = w->ApplyPart(PartInfo{"p1", "s", 1, 10}, {bad.Slice(0, 4), bad.Slice(4, 6)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidData);
  EXPECT_NE(r.status().message().find("NOT NULL constraint failed: nn.v"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("row 6"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("p1"), std::string::npos) << r.status().message();
  ASSERT_OK_AND_ASSIGN(int64_t rows, QueryInt("SELECT count(*) FROM nn"));
  EXPECT_EQ(rows, 0);
  ASSERT_OK_AND_ASSIGN(int64_t ledger, QueryInt("SELECT count(*) FROM _sluice_ledger"));
  EXPECT_EQ(ledger, 0);
  // The writer stays usable and the same part id can be applied once fixed.
  ASSERT_OK_AND_ASSIGN(auto ok, w->ApplyPart(PartInfo{"p1", "s", 1, 3}, {Int64Batch({1, 2, 3}, "v", schema)}));
  EXPECT_EQ(ok, ApplyOutcome::kApplied);
  ASSERT_OK_AND_ASSIGN(int64_t rows2, QueryInt("SELECT count(*) FROM nn"));
  EXPECT_EQ(rows2, 3);
}

TEST_F(SqliteTest, LedgerIsPerTargetTable) {
  ASSERT_OK(WriteParts({{"table", "one"}}, {Int64Batch({1}, "a")}, "same"));
  ASSERT_OK(WriteParts({{"table", "two"}}, {Int64Batch({1}, "a")}, "same"));
  ASSERT_OK(WriteParts({{"table", "two"}, {"ledger", "my ledger"}}, {Int64Batch({2}, "a")}, "same"));
  ASSERT_OK_AND_ASSIGN(int64_t n, QueryInt("SELECT count(*) FROM two"));
  EXPECT_EQ(n, 2);
  ASSERT_OK_AND_ASSIGN(int64_t l, QueryInt("SELECT count(*) FROM \"my ledger\""));
  EXPECT_EQ(l, 1);
  // A table that is not a ledger.
  ASSERT_OK_AND_ASSIGN(auto sink, MakeSink({{"table", "three"}, {"ledger", "one"}}));
  Status st = sink->Open(Int64Batch({}, "a").schema());
  EXPECT_NE(st.message().find("not a sluice ledger"), std::string::npos) << st.ToString();
}

TEST_F(SqliteTest, IncompatibleExistingTable) {
  ASSERT_OK(Exec("CREATE TABLE e(id INTEGER, v INTEGER, extra TEXT NOT NULL);"));
  ASSERT_OK_AND_ASSIGN(auto s1, MakeSink({{"table", "e"}}));
  Status st = s1->Open(Int64Batch({}, "a").schema());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'v'"), std::string::npos) << st.message();
  ASSERT_OK(Exec("CREATE TABLE e2(id INTEGER, v TEXT, extra TEXT NOT NULL);"));
  ASSERT_OK_AND_ASSIGN(auto s2, MakeSink({{"table", "e2"}}));
  Status st2 = s2->Open(Int64Batch({}, "a").schema());
  EXPECT_NE(st2.message().find("'extra'"), std::string::npos) << st2.ToString();
  ASSERT_OK(Exec("CREATE TABLE e3(id INTEGER);"));
  ASSERT_OK_AND_ASSIGN(auto s3, MakeSink({{"table", "e3"}}));
  Status st3 = s3->Open(Int64Batch({}, "a").schema());
  EXPECT_NE(st3.message().find("no column 'v'"), std::string::npos) << st3.ToString();
  // Compatible: column order and case differ, extra nullable column.
  ASSERT_OK(Exec("CREATE TABLE e4(V VARCHAR(9), more INT, ID BIGINT PRIMARY KEY);"));
  ASSERT_OK(WriteParts({{"table", "E4"}}, {Int64Batch({1, 2}, "z")}));
  ASSERT_OK_AND_ASSIGN(std::string rows, QueryText("SELECT group_concat(ID || V) FROM e4"));
  EXPECT_EQ(rows, "1z1,2z2");
}

TEST_F(SqliteTest, DatesOutsideIsoRangeAreRejected) {
  auto schema = std::make_shared<const Schema>(std::vector<Field>{{"d", DataType::Date()}});
  BatchBuilder b(schema);
  b.column(0).AppendFixed<int32_t>(kMaxDate + 1);
  ASSERT_OK_AND_ASSIGN(auto sink, MakeSink({{"table", "d"}}));
  ASSERT_OK(sink->Open(schema));
  ASSERT_OK_AND_ASSIGN(auto w, sink->NewWriter());
  auto r = w->ApplyPart(PartInfo{"p", "s", 1, 1}, {b.Finish()});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("column 'd'"), std::string::npos) << r.status().message();
}

TEST_F(SqliteTest, HostileIdentifiersAreJustNames) {
  const std::string evil_table = "a\"; DROP TABLE victim; --";
  const std::string evil_col = "b\"); DROP TABLE victim; --";
  ASSERT_OK(Exec("CREATE TABLE victim(x); INSERT INTO victim VALUES (1);"));
  auto schema = std::make_shared<const Schema>(std::vector<Field>{
      {evil_col, DataType::Int64(), false, true}, {"it's", DataType::String()}});
  auto batch = [&](std::vector<int64_t> ids, std::string tag) {
    BatchBuilder b(schema);
    for (int64_t id : ids) {
      b.column(0).AppendFixed<int64_t>(id);
      b.column(1).AppendBytes(tag);
    }
    return b.Finish();
  };
  for (const char* mode : {"append", "upsert", "replace"}) {
    ASSERT_OK(WriteParts({{"table", evil_table}, {"mode", mode}, {"key", evil_col},
                          {"ledger", "l\"; DROP TABLE victim; --"}},
                         {batch({1, 2}, mode)}, mode));
  }
  ASSERT_OK_AND_ASSIGN(ReadResult got, ReadTable({{"table", evil_table}, {"min_split_rows", "1"}}, 2));
  EXPECT_EQ(got.schema->field(0).name, evil_col);
  EXPECT_EQ(got.schema->field(1).name, "it's");
  ASSERT_EQ(got.batch.num_rows(), 2);
  EXPECT_EQ(got.batch.column(1).StringValue(0), "replace");
  ASSERT_OK_AND_ASSIGN(int64_t victim, QueryInt("SELECT count(*) FROM victim"));
  EXPECT_EQ(victim, 1);
  ASSERT_OK_AND_ASSIGN(ReadResult q, ReadTable({{"query", "SELECT \"b\"\"); DROP TABLE victim; --\" FROM \"a\"\"; DROP TABLE victim; --\""}}));
  EXPECT_EQ(q.batch.num_rows(), 2);
}

TEST_F(SqliteTest, ParallelWritersApplyEveryPartOnce) {
  auto schema = testing::MixedSchema();
  ASSERT_OK_AND_ASSIGN(auto sink, MakeSink({{"table", "par"}}));
  ASSERT_OK(sink->Open(schema));
  EXPECT_EQ(sink->MaxWriters(), 4);
  constexpr int kWriters = 4, kParts = 24, kRows = 500;
  std::vector<std::thread> threads;
  std::vector<Status> errors(kWriters);
  std::atomic<int> applied{0}, skipped{0};
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      auto w = sink->NewWriter();
      if (!w.ok()) {
        errors[static_cast<size_t>(t)] = w.status();
        return;
      }
      // Every writer tries every part: each must be applied exactly once overall.
      for (int p = 0; p < kParts; ++p) {
        int part = (p + t * 5) % kParts;
        RecordBatch data = testing::MixedBatch(kRows, static_cast<uint64_t>(part), int64_t{part} * kRows);
        auto r = (*w)->ApplyPart(PartInfo{"part" + std::to_string(part), "s", part + 1, kRows}, {data});
        if (!r.ok()) {
          errors[static_cast<size_t>(t)] = r.status();
          return;
        }
        (*r == ApplyOutcome::kApplied ? applied : skipped)++;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& e : errors) ASSERT_OK(e);
  EXPECT_EQ(applied.load(), kParts);
  EXPECT_EQ(skipped.load(), kParts * (kWriters - 1));
  ASSERT_OK(sink->Commit());
  ASSERT_OK_AND_ASSIGN(ReadResult got, ReadTable({{"table", "par"}, {"min_split_rows", "1000"}}, 4));
  ASSERT_EQ(got.batch.num_rows(), int64_t{kParts} * kRows);
  // Key order (id is the rowid): equal to the concatenation of the parts.
  for (int part = 0; part < kParts; ++part) {
    RecordBatch expected = testing::MixedBatch(kRows, static_cast<uint64_t>(part), int64_t{part} * kRows);
    ExpectSameValues(expected, got.batch.Slice(int64_t{part} * kRows, kRows));
  }
}

// Several processes importing into one new database file (consumer-group
// members) open it at once. Switching a new file to WAL upgrades the pragma's
// read lock to a write lock, which SQLite refuses at once, without the busy
// handler, while another process holds a lock (threads of one process do not
// race this way). Every sink must still open, and every part land once.
TEST_F(SqliteTest, SinksOfSeveralProcessesOpeningOneNewFileAllOpen) {
  constexpr int kRounds = 100;
  constexpr int kSinks = 3;
  for (int round = 0; round < kRounds; ++round) {
    const std::string path = dir_.sub("race" + std::to_string(round) + ".db");
    std::vector<pid_t> children;
    for (int i = 0; i < kSinks; ++i) {
      pid_t pid = fork();
      ASSERT_GE(pid, 0) << std::strerror(errno);
      if (pid == 0) {
        Status st = [&]() -> Status {
          SLUICE_ASSIGN_OR_RETURN(auto sink,
                                  registry_.MakeSink("sqlite://" + path, {{"table", "t"}}));
          RecordBatch batch = Int64Batch({i}, "v");
          SLUICE_RETURN_NOT_OK(sink->Open(batch.schema()));
          SLUICE_ASSIGN_OR_RETURN(auto writer, sink->NewWriter());
          PartInfo info{"p" + std::to_string(i), "stream", i + 1, 1};
          SLUICE_ASSIGN_OR_RETURN(ApplyOutcome outcome, writer->ApplyPart(info, {batch}));
          if (outcome != ApplyOutcome::kApplied) return Status::Internal("part was skipped");
          SLUICE_RETURN_NOT_OK(sink->Commit());
          return sink->Close();
        }();
        if (!st.ok())
          std::fprintf(stderr, "round %d sink %d: %s\n", round, i, st.ToString().c_str());
        std::_Exit(st.ok() ? 0 : 1);
      }
      children.push_back(pid);
    }
    int failed = 0;
    for (pid_t pid : children) {
      int status = 0;
      ASSERT_EQ(waitpid(pid, &status, 0), pid);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
    }
    ASSERT_EQ(failed, 0) << "round " << round << " (the children's errors are above)";
    ASSERT_OK_AND_ASSIGN(auto db, sqlite::Database::Open(path, SQLITE_OPEN_READONLY, 1000));
    ASSERT_OK_AND_ASSIGN(int64_t rows, db.QueryInt64("SELECT count(DISTINCT id) FROM t"));
    EXPECT_EQ(rows, kSinks) << "round " << round;
    ASSERT_OK_AND_ASSIGN(auto mode, db.Prepare("PRAGMA journal_mode"));
    ASSERT_OK_AND_ASSIGN(bool row, mode.Step());
    ASSERT_TRUE(row);
    EXPECT_EQ(mode.ColumnText(0), "wal") << "round " << round;
  }
}

TEST_F(SqliteTest, DurabilityPragmasApply) {
  ASSERT_OK(WriteParts({{"table", "t"}, {"journal_mode", "delete"}, {"synchronous", "full"}},
                       {Int64Batch({1}, "a")}));
  ASSERT_OK_AND_ASSIGN(std::string mode, QueryText("PRAGMA journal_mode"));
  EXPECT_EQ(mode, "delete");
  ASSERT_OK(WriteParts({{"table", "t"}}, {Int64Batch({2}, "a")}, "q"));
  ASSERT_OK_AND_ASSIGN(std::string wal, QueryText("PRAGMA journal_mode"));
  EXPECT_EQ(wal, "wal");
}

}  // namespace
}  // namespace sluice
