#include "formats/csv/csv.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/temporal.h"
#include "core/testing.h"
#include "core/base64.h"
#include "core/text.h"
#include "formats/csv/text_common.h"

namespace sluice::csv {
namespace {

// Concatenates batches of one schema (the reader's output) into one batch.
RecordBatch Concat(const std::shared_ptr<const Schema>& schema, const std::vector<RecordBatch>& batches) {
  BatchBuilder bb(schema);
  for (const RecordBatch& b : batches) {
    for (int c = 0; c < b.num_columns(); ++c) {
      for (int64_t r = 0; r < b.num_rows(); ++r) bb.column(c).AppendFrom(b.column(c), r);
    }
  }
  return bb.Finish();
}

struct ReadResult {
  std::shared_ptr<const Schema> schema;
  RecordBatch batch;
  std::vector<int64_t> batch_rows;
};

Result<ReadResult> ReadText(std::string_view text, CsvReadOptions options,
                            std::string name = "test.csv") {
  MemoryInputStream in(text, std::move(name));
  SLUICE_ASSIGN_OR_RETURN(auto reader, CsvReader::Open(&in, options));
  ReadResult out;
  out.schema = reader->schema();
  std::vector<RecordBatch> batches;
  for (;;) {
    SLUICE_ASSIGN_OR_RETURN(std::optional<RecordBatch> b, reader->Next());
    if (!b) break;
    SLUICE_RETURN_NOT_OK(b->Validate());
    out.batch_rows.push_back(b->num_rows());
    batches.push_back(std::move(*b));
  }
  out.batch = Concat(out.schema, batches);
  return out;
}

Result<std::string> WriteText(const RecordBatch& batch, CsvOptions options = {}) {
  StringOutputStream out;
  SLUICE_ASSIGN_OR_RETURN(auto writer, CsvWriter::Make(&out, batch.schema(), options));
  SLUICE_RETURN_NOT_OK(writer->Write(batch));
  SLUICE_RETURN_NOT_OK(writer->Finish());
  return out.Release();
}

std::string ErrorOf(std::string_view text, CsvReadOptions options, std::string name = "test.csv") {
  auto r = ReadText(text, options, std::move(name));
  if (r.ok()) return "<no error>";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidData) << r.status().ToString();
  return r.status().message();
}

std::shared_ptr<const Schema> MakeSchema(std::vector<Field> fields) {
  return std::make_shared<const Schema>(std::move(fields));
}

void ExpectEqual(const RecordBatch& expected, const RecordBatch& actual) {
  std::string why;
  EXPECT_TRUE(expected.Equals(actual, &why)) << why;
}

// ---------------------------------------------------------------------------
// Round trips

TEST(CsvTest, AllTypesRoundTripWithSeveralDelimiters) {
  const RecordBatch batch = testing::AllTypesBatch(300);
  ASSERT_TRUE(batch.Validate().ok());
  for (char delim : {',', ';', '\t', '|'}) {
    SCOPED_TRACE(std::string("delimiter ") + delim);
    CsvOptions o;
    o.delimiter = delim;
    auto text = WriteText(batch, o);
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    CsvReadOptions ro;
    ro.delimiter = delim;
    ro.schema = batch.schema();
    auto back = ReadText(*text, ro);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ExpectEqual(batch, back->batch);
  }
}

TEST(CsvTest, AllTypesRoundTripWithUnusualDialects) {
  // Delimiters and quotes that occur inside canonical values (times, floats,
  // base64, uuids) force quoting of those values.
  const RecordBatch batch = testing::AllTypesBatch(150, 21);
  for (auto [delim, quote] : {std::pair{':', '"'}, std::pair{'.', '\''}, std::pair{'e', '"'},
                              std::pair{'=', '+'}, std::pair{';', '-'}}) {
    SCOPED_TRACE(std::string("delimiter ") + delim + " quote " + quote);
    CsvOptions o;
    o.delimiter = delim;
    o.quote = quote;
    auto text = WriteText(batch, o);
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    CsvReadOptions ro;
    static_cast<CsvOptions&>(ro) = o;
    ro.schema = batch.schema();
    ro.read_chunk_bytes = 13;
    auto back = ReadText(*text, ro);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ExpectEqual(batch, back->batch);
  }
}

TEST(CsvTest, AllTypesRoundTripNullMarkerCrlfNoHeader) {
  const RecordBatch batch = testing::AllTypesBatch(120, 9);
  CsvOptions o;
  o.null_marker = "\\N";
  o.crlf = true;
  o.header = false;
  auto text = WriteText(batch, o);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_NE(text->find("\\N"), std::string::npos);
  EXPECT_NE(text->find("\r\n"), std::string::npos);
  CsvReadOptions ro;
  static_cast<CsvOptions&>(ro) = o;
  ro.schema = batch.schema();
  auto back = ReadText(*text, ro);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectEqual(batch, back->batch);
}

TEST(CsvTest, ManySmallBatchesAndTinyReadChunks) {
  const RecordBatch batch = testing::AllTypesBatch(500, 5);
  auto text = WriteText(batch);
  ASSERT_TRUE(text.ok());
  for (int64_t chunk : {1, 3, 7, 64, 4096}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    CsvReadOptions ro;
    ro.schema = batch.schema();
    ro.batch_rows = 7;
    ro.read_chunk_bytes = chunk;
    auto back = ReadText(*text, ro);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ExpectEqual(batch, back->batch);
    ASSERT_FALSE(back->batch_rows.empty());
    for (size_t i = 0; i < back->batch_rows.size(); ++i) {
      EXPECT_LE(back->batch_rows[i], 7);
      if (i + 1 < back->batch_rows.size()) {
        EXPECT_EQ(back->batch_rows[i], 7);
      }
    }
  }
}

TEST(CsvTest, BatchBytesLimitsBatches) {
  const RecordBatch batch = testing::AllTypesBatch(200, 11);
  auto text = WriteText(batch);
  ASSERT_TRUE(text.ok());
  CsvReadOptions ro;
  ro.schema = batch.schema();
  ro.batch_bytes = 1000;
  auto back = ReadText(*text, ro);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectEqual(batch, back->batch);
  EXPECT_GT(back->batch_rows.size(), 10u);
}

TEST(CsvTest, QuotedNewlineStraddlingEveryChunkBoundary) {
  // Hand-written input: the quoted field holds CRLF and LF line breaks.
  const std::string text = "id,s\n1,\"first\r\nsecond\nthird\"\n2,plain\n3,\"x\"\"y\nz\"\n";
  auto schema = MakeSchema({{"id", DataType::Int32()}, {"s", DataType::String()}});
  BatchBuilder bb(schema);
  bb.column(0).AppendFixed<int32_t>(1);
  bb.column(1).AppendBytes("first\r\nsecond\nthird");
  bb.column(0).AppendFixed<int32_t>(2);
  bb.column(1).AppendBytes("plain");
  bb.column(0).AppendFixed<int32_t>(3);
  bb.column(1).AppendBytes("x\"y\nz");
  const RecordBatch expected = bb.Finish();
  for (int64_t chunk = 1; chunk <= static_cast<int64_t>(text.size()) + 1; ++chunk) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    CsvReadOptions ro;
    ro.schema = schema;
    ro.read_chunk_bytes = chunk;
    ro.batch_rows = 2;
    auto back = ReadText(text, ro);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ExpectEqual(expected, back->batch);
  }
  // Line numbers count the physical lines inside quoted fields.
  std::string bad = text + "x,y\n";
  CsvReadOptions ro;
  ro.schema = schema;
  EXPECT_EQ(ErrorOf(bad, ro), "test.csv: line 8, column 'id': invalid integer 'x'");
}

// ---------------------------------------------------------------------------
// Exact text

TEST(CsvTest, WriterProducesExactHandWrittenText) {
  auto schema = MakeSchema({{"id", DataType::Int64()},
                            {"name", DataType::String()},
                            {"amount", DataType::Decimal(10, 2)},
                            {"day", DataType::Date()},
                            {"ok", DataType::Bool()},
                            {"blob", DataType::Binary()},
                            {"at", DataType::TimestampTz()},
                            {"ratio", DataType::Float64()}});
  BatchBuilder bb(schema);
  // Row 1: ordinary values.
  bb.column(0).AppendFixed<int64_t>(1);
  bb.column(1).AppendBytes("Alice");
  bb.column(2).AppendFixed<int128_t>(12345);
  bb.column(3).AppendFixed<int32_t>(19723);  // 2024-01-01
  bb.column(4).AppendBool(true);
  bb.column(5).AppendBytes("hi");
  bb.column(6).AppendFixed<int64_t>(int64_t{1704067200} * kMicrosPerSecond + 500000);
  bb.column(7).AppendFixed<double>(0.1);
  // Row 2: quoting, empty string, NULLs, negative numbers.
  bb.column(0).AppendFixed<int64_t>(-2);
  bb.column(1).AppendBytes("Bob \"B\", Jr.\nline2");
  bb.column(2).AppendFixed<int128_t>(-5);
  bb.column(3).AppendNull();
  bb.column(4).AppendBool(false);
  bb.column(5).AppendBytes("");
  bb.column(6).AppendNull();
  bb.column(7).AppendFixed<double>(-std::numeric_limits<double>::infinity());
  // Row 3: empty string vs NULL.
  bb.column(0).AppendFixed<int64_t>(3);
  bb.column(1).AppendBytes("");
  bb.column(2).AppendNull();
  bb.column(3).AppendFixed<int32_t>(0);
  bb.column(4).AppendNull();
  bb.column(5).AppendNull();
  bb.column(6).AppendFixed<int64_t>(0);
  bb.column(7).AppendFixed<double>(std::nan(""));
  bb.column(0).AppendFixed<int64_t>(4);
  bb.column(1).AppendNull();
  bb.column(2).AppendFixed<int128_t>(0);
  bb.column(3).AppendNull();
  bb.column(4).AppendNull();
  bb.column(5).AppendNull();
  bb.column(6).AppendNull();
  bb.column(7).AppendNull();
  const RecordBatch batch = bb.Finish();

  const std::string expected =
      "id,name,amount,day,ok,blob,at,ratio\n"
      "1,Alice,123.45,2024-01-01,true,aGk=,2024-01-01T00:00:00.500000Z,0.1\n"
      "-2,\"Bob \"\"B\"\", Jr.\nline2\",-0.05,,false,\"\",,-Infinity\n"
      "3,\"\",,1970-01-01,,,1970-01-01T00:00:00Z,NaN\n"
      "4,,0.00,,,,,\n";
  auto text = WriteText(batch);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, expected);

  CsvReadOptions ro;
  ro.schema = schema;
  auto back = ReadText(expected, ro);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectEqual(batch, back->batch);

  // Semicolon dialect with a NULL marker and CRLF, hand-written as well.
  CsvOptions o;
  o.delimiter = ';';
  o.null_marker = "\\N";
  o.crlf = true;
  auto text2 = WriteText(batch.Slice(1, 3), o);
  ASSERT_TRUE(text2.ok());
  EXPECT_EQ(*text2,
            "id;name;amount;day;ok;blob;at;ratio\r\n"
            "-2;\"Bob \"\"B\"\", Jr.\nline2\";-0.05;\\N;false;\"\";\\N;-Infinity\r\n"
            "3;\"\";\\N;1970-01-01;\\N;\\N;1970-01-01T00:00:00Z;NaN\r\n"
            "4;\\N;0.00;\\N;\\N;\\N;\\N;\\N\r\n");
}

TEST(CsvTest, ExtremesTextIsExact) {
  auto schema = MakeSchema({{"i64", DataType::Int64()},
                            {"u64", DataType::UInt64()},
                            {"dec", DataType::Decimal(38, 0)},
                            {"d", DataType::Date()},
                            {"f", DataType::Float32()}});
  BatchBuilder bb(schema);
  bb.column(0).AppendFixed<int64_t>(std::numeric_limits<int64_t>::min());
  bb.column(1).AppendFixed<uint64_t>(std::numeric_limits<uint64_t>::max());
  bb.column(2).AppendFixed<int128_t>(MaxDecimalMagnitude(38));
  bb.column(3).AppendFixed<int32_t>(kMinDate);
  bb.column(4).AppendFixed<float>(std::numeric_limits<float>::infinity());
  bb.column(0).AppendFixed<int64_t>(std::numeric_limits<int64_t>::max());
  bb.column(1).AppendFixed<uint64_t>(0);
  bb.column(2).AppendFixed<int128_t>(-MaxDecimalMagnitude(38));
  bb.column(3).AppendFixed<int32_t>(kMaxDate);
  bb.column(4).AppendFixed<float>(0.1f);
  const RecordBatch batch = bb.Finish();
  auto text = WriteText(batch);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text,
            "i64,u64,dec,d,f\n"
            "-9223372036854775808,18446744073709551615,99999999999999999999999999999999999999,"
            "0001-01-01,Infinity\n"
            "9223372036854775807,0,-99999999999999999999999999999999999999,9999-12-31,0.1\n");
  CsvReadOptions ro;
  ro.schema = schema;
  auto back = ReadText(*text, ro);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectEqual(batch, back->batch);
}

// ---------------------------------------------------------------------------
// NULL, empty strings, special characters

TEST(CsvTest, NullAndEmptyStringAreDistinct) {
  auto schema = MakeSchema({{"a", DataType::String()}, {"b", DataType::String()}});
  const std::string text = "a,b\n,\"\"\n\"\",\nx,\"\"\"\"\n";
  CsvReadOptions ro;
  ro.schema = schema;
  auto back = ReadText(text, ro);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const RecordBatch& b = back->batch;
  ASSERT_EQ(b.num_rows(), 3);
  EXPECT_TRUE(b.column(0).IsNull(0));
  EXPECT_FALSE(b.column(1).IsNull(0));
  EXPECT_EQ(b.column(1).StringValue(0), "");
  EXPECT_EQ(b.column(0).StringValue(1), "");
  EXPECT_TRUE(b.column(1).IsNull(1));
  EXPECT_EQ(b.column(1).StringValue(2), "\"");
  auto again = WriteText(b);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, text);
}

TEST(CsvTest, SingleColumnEmptyLineIsNull) {
  auto schema = MakeSchema({{"s", DataType::String()}});
  BatchBuilder bb(schema);
  bb.column(0).AppendBytes("x");
  bb.column(0).AppendNull();
  bb.column(0).AppendBytes("");
  bb.column(0).AppendNull();
  const RecordBatch batch = bb.Finish();
  auto text = WriteText(batch);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "s\nx\n\n\"\"\n\n");
  CsvReadOptions ro;
  ro.schema = schema;
  auto back = ReadText(*text, ro);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectEqual(batch, back->batch);
}

TEST(CsvTest, BlankLinesAreSkippedInMultiColumnTables) {
  CsvReadOptions ro;
  ro.schema = MakeSchema({{"a", DataType::Int32()}, {"b", DataType::Int32()}});
  auto back = ReadText("a,b\n\n1,2\r\n\r\n3,4\n\n", ro);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->batch.num_rows(), 2);
  EXPECT_EQ(back->batch.column(1).Value<int32_t>(1), 4);
}

TEST(CsvTest, NullMarkerAndNonStringEmpties) {
  auto schema = MakeSchema({{"s", DataType::String()}, {"i", DataType::Int32()},
                            {"bin", DataType::Binary()}});
  CsvReadOptions ro;
  ro.schema = schema;
  ro.null_marker = "\\N";
  // Unquoted \N is NULL, quoted "\N" is text; "" is NULL for an int but an
  // empty value for string and binary.
  auto back = ReadText("s,i,bin\n\\N,\\N,\\N\n\"\\N\",\"\",\"\"\n,,\n", ro);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const RecordBatch& b = back->batch;
  ASSERT_EQ(b.num_rows(), 3);
  EXPECT_TRUE(b.column(0).IsNull(0));
  EXPECT_TRUE(b.column(1).IsNull(0));
  EXPECT_TRUE(b.column(2).IsNull(0));
  EXPECT_EQ(b.column(0).StringValue(1), "\\N");
  EXPECT_TRUE(b.column(1).IsNull(1));
  EXPECT_FALSE(b.column(2).IsNull(1));
  EXPECT_EQ(b.column(2).StringValue(1), "");
  EXPECT_TRUE(b.column(0).IsNull(2));
  EXPECT_TRUE(b.column(1).IsNull(2));
  EXPECT_TRUE(b.column(2).IsNull(2));
}

TEST(CsvTest, UnicodeAndSpecialCharactersRoundTrip) {
  const std::vector<std::string> values = {
      "Привет, мир", "東京都", "emoji 🚀🔥", "quote\"inside", "\"", "\"\"", "comma,and",
      "new\nline", "cr\ronly", "crlf\r\n", "tab\there", "semi;colon", "pipe|bar", "back\\slash",
      std::string("nul\0byte", 8), "\x01\x02\x1f ctl", " leading and trailing ", "\xEF\xBB\xBF" "bom",
      "\\N", "", "\xF4\x8F\xBF\xBF max"};
  auto schema = MakeSchema({{"s", DataType::String()}, {"n", DataType::Int32()}});
  BatchBuilder bb(schema);
  for (size_t i = 0; i < values.size(); ++i) {
    bb.column(0).AppendBytes(values[i]);
    bb.column(1).AppendFixed<int32_t>(static_cast<int32_t>(i));
  }
  bb.column(0).AppendNull();
  bb.column(1).AppendNull();
  const RecordBatch batch = bb.Finish();
  for (char delim : {',', ';', '\t', '|'}) {
    for (bool header : {true, false}) {
      SCOPED_TRACE(std::string("delimiter ") + delim + (header ? " header" : " no header"));
      CsvOptions o;
      o.delimiter = delim;
      o.header = header;
      o.null_marker = delim == '|' ? std::optional<std::string>("\\N") : std::nullopt;
      auto text = WriteText(batch, o);
      ASSERT_TRUE(text.ok());
      CsvReadOptions ro;
      static_cast<CsvOptions&>(ro) = o;
      ro.schema = schema;
      ro.read_chunk_bytes = 5;
      auto back = ReadText(*text, ro);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      ExpectEqual(batch, back->batch);
    }
  }
}

TEST(CsvTest, BomCrlfAndLoneCr) {
  CsvReadOptions ro;
  ro.schema = MakeSchema({{"a", DataType::String()}, {"b", DataType::Int32()}});
  auto back = ReadText("\xEF\xBB\xBF" "a,b\r\nx,1\ry,2\r\nz,3", ro);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const RecordBatch& b = back->batch;
  ASSERT_EQ(b.num_rows(), 3);
  EXPECT_EQ(b.column(0).StringValue(0), "x");
  EXPECT_EQ(b.column(0).StringValue(1), "y");
  EXPECT_EQ(b.column(0).StringValue(2), "z");
  EXPECT_EQ(b.column(1).Value<int32_t>(2), 3);
}

// ---------------------------------------------------------------------------
// Shapes: 0 rows, 1 row, header handling, append mode

TEST(CsvTest, ZeroRows) {
  auto schema = MakeSchema({{"a", DataType::Int64()}, {"b b", DataType::String()}});
  const RecordBatch empty = BatchBuilder(schema).Finish();
  auto text = WriteText(empty);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "a,b b\n");
  // Header only, with and without a schema.
  CsvReadOptions ro;
  ro.schema = schema;
  auto back = ReadText(*text, ro);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->batch_rows.empty());
  auto inferred = ReadText(*text, CsvReadOptions{});
  ASSERT_TRUE(inferred.ok());
  ASSERT_EQ(inferred->schema->num_fields(), 2);
  EXPECT_EQ(inferred->schema->field(1).name, "b b");
  EXPECT_EQ(inferred->schema->field(1).type, DataType::String());
  // Empty file: with a schema, without a header, inferred.
  CsvOptions nh;
  nh.header = false;
  auto none = WriteText(empty, nh);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, "");
  back = ReadText("", ro);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->batch_rows.empty());
  inferred = ReadText("", CsvReadOptions{});
  ASSERT_TRUE(inferred.ok());
  EXPECT_EQ(inferred->schema->num_fields(), 0);
  EXPECT_TRUE(inferred->batch_rows.empty());
}

TEST(CsvTest, OneRow) {
  const RecordBatch batch = testing::AllTypesBatch(1);
  auto text = WriteText(batch);
  ASSERT_TRUE(text.ok());
  CsvReadOptions ro;
  ro.schema = batch.schema();
  auto back = ReadText(*text, ro);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->batch_rows, std::vector<int64_t>{1});
  ExpectEqual(batch, back->batch);
  // Without a trailing newline too.
  std::string trimmed = *text;
  trimmed.pop_back();
  back = ReadText(trimmed, ro);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectEqual(batch, back->batch);
}

TEST(CsvTest, HeaderColumnsMatchedByName) {
  auto schema = MakeSchema({{"a", DataType::Int32()}, {"b", DataType::String()}});
  CsvReadOptions ro;
  ro.schema = schema;
  auto back = ReadText("b,a\nx,1\ny,2\n", ro);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->batch.column(0).Value<int32_t>(1), 2);
  EXPECT_EQ(back->batch.column(1).StringValue(0), "x");
}

TEST(CsvTest, AppendModeWritesHeaderOnlyWhenAsked) {
  const RecordBatch batch = testing::MixedBatch(10);
  StringOutputStream out;
  {
    auto w = CsvWriter::Make(&out, batch.schema(), CsvOptions{});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write(batch.Slice(0, 4)).ok());
    ASSERT_TRUE((*w)->Finish().ok());
  }
  {
    CsvOptions o;
    o.header = false;
    auto w = CsvWriter::Make(&out, batch.schema(), o);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write(batch.Slice(4, 6)).ok());
    ASSERT_TRUE((*w)->Finish().ok());
    EXPECT_EQ((*w)->rows_written(), 6);
  }
  CsvReadOptions ro;
  ro.schema = batch.schema();
  auto back = ReadText(out.str(), ro);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectEqual(batch, back->batch);
}

TEST(CsvTest, WriterRejectsMismatchedBatchAndBadOptions) {
  StringOutputStream out;
  auto w = CsvWriter::Make(&out, MakeSchema({{"a", DataType::Int32()}}), CsvOptions{});
  ASSERT_TRUE(w.ok());
  const RecordBatch other = testing::MixedBatch(2);
  EXPECT_EQ((*w)->Write(other).code(), StatusCode::kInvalidArgument);
  CsvOptions bad;
  bad.delimiter = '"';
  EXPECT_FALSE(CsvWriter::Make(&out, other.schema(), bad).ok());
  bad = CsvOptions{};
  bad.null_marker = "a,b";
  EXPECT_FALSE(CsvWriter::Make(&out, other.schema(), bad).ok());
  bad.null_marker = "";
  EXPECT_FALSE(CsvWriter::Make(&out, other.schema(), bad).ok());
  CsvReadOptions ro;
  ro.batch_rows = 0;
  MemoryInputStream in("a\n1\n");
  EXPECT_EQ(CsvReader::Open(&in, ro).status().code(), StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// Inference

TEST(CsvTest, InfersNarrowestTypes) {
  const std::string text =
      "i,f,b,d,t,ts,tz,s,dec,big,zip,nulls,mix,special,exp\n"
      "1,1.5,true,2024-01-31,12:30:00,2024-01-31T10:00:00,2024-01-31T10:00:00Z,hello,"
      "12345678901234567.25,18446744073709551615,007,,1,NaN,1e5\n"
      "-20,2,FALSE,0001-01-01,23:59:59.5,2024-01-31 10:00:00.123,2024-01-31T10:00:00+03:00,"
      "\"\",-0.5,1,1,,x,-Infinity,2.5\n"
      ",,,,,2024-02-01,,,,,,,,3.25,\n";
  auto r = ReadText(text, CsvReadOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Schema& s = *r->schema;
  ASSERT_EQ(s.num_fields(), 15);
  EXPECT_EQ(s.field(0).type, DataType::Int64());
  EXPECT_EQ(s.field(1).type, DataType::Float64());
  EXPECT_EQ(s.field(2).type, DataType::Bool());
  EXPECT_EQ(s.field(3).type, DataType::Date());
  EXPECT_EQ(s.field(4).type, DataType::Time());
  EXPECT_EQ(s.field(5).type, DataType::Timestamp());
  EXPECT_EQ(s.field(6).type, DataType::TimestampTz("UTC"));
  EXPECT_EQ(s.field(7).type, DataType::String());
  EXPECT_EQ(s.field(8).type, DataType::Decimal(19, 2));
  EXPECT_EQ(s.field(9).type, DataType::Decimal(20, 0));
  EXPECT_EQ(s.field(10).type, DataType::String());  // leading zeros keep text
  EXPECT_EQ(s.field(11).type, DataType::String());  // all NULL
  EXPECT_EQ(s.field(12).type, DataType::String());  // mixed
  EXPECT_EQ(s.field(13).type, DataType::Float64());
  EXPECT_EQ(s.field(14).type, DataType::Float64());
  const RecordBatch& b = r->batch;
  ASSERT_EQ(b.num_rows(), 3);
  EXPECT_EQ(ValueToText(b.column(8), 0), "12345678901234567.25");
  EXPECT_EQ(ValueToText(b.column(9), 0), "18446744073709551615");
  EXPECT_EQ(ValueToText(b.column(6), 1), "2024-01-31T07:00:00Z");
  EXPECT_EQ(b.column(10).StringValue(0), "007");
  EXPECT_TRUE(b.column(11).IsNull(0));
  EXPECT_TRUE(std::isnan(b.column(13).Value<double>(0)));

  CsvReadOptions no_dec;
  no_dec.infer_decimal = false;
  r = ReadText(text, no_dec);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->schema->field(8).type, DataType::Float64());
}

TEST(CsvTest, InferenceUsesOnlyTheSample) {
  CsvReadOptions ro;
  ro.infer_rows = 2;
  // Third row does not fit the inferred int64: the error names line and column.
  EXPECT_EQ(ErrorOf("n\n1\n2\nx1\n", ro, "users.csv"),
            "users.csv: line 4, column 'n': invalid integer 'x1'");
  ro.infer_rows = 3;
  auto r = ReadText("n\n1\n2\nx1\n", ro);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->schema->field(0).type, DataType::String());
}

TEST(CsvTest, HeaderlessNamesAndInference) {
  CsvReadOptions ro;
  ro.header = false;
  auto r = ReadText("1,a\n2,b\n", ro);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->schema->num_fields(), 2);
  EXPECT_EQ(r->schema->field(0).name, "column1");
  EXPECT_EQ(r->schema->field(1).name, "column2");
  EXPECT_EQ(r->schema->field(0).type, DataType::Int64());
  EXPECT_EQ(r->batch.num_rows(), 2);
  ro.column_names = {"id", "letter"};
  r = ReadText("1,a\n2,b\n", ro);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->schema->field(1).name, "letter");
  // Empty header names get positional names.
  r = ReadText(",x,\n1,2,3\n", CsvReadOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->schema->field(0).name, "column1");
  EXPECT_EQ(r->schema->field(2).name, "column3");
}

TEST(CsvTest, InferredReadBackEqualsItsOwnOutput) {
  // Read with inference, write, read with the inferred schema: identical.
  const RecordBatch batch = testing::AllTypesBatch(100, 3);
  auto text = WriteText(batch);
  ASSERT_TRUE(text.ok());
  auto first = ReadText(*text, CsvReadOptions{});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->schema->field(3).type, DataType::Int64());
  EXPECT_EQ(first->schema->field(15).type, DataType::Date());
  EXPECT_EQ(first->schema->field(18).type, DataType::TimestampTz("UTC"));
  auto text2 = WriteText(first->batch);
  ASSERT_TRUE(text2.ok());
  EXPECT_EQ(*text2, *text);
}

// ---------------------------------------------------------------------------
// Bad input: every error names the stream, the line and (where known) the column

TEST(CsvTest, ErrorsNameLineAndColumn) {
  CsvReadOptions ro;
  ro.schema = MakeSchema({{"name", DataType::String()}, {"age", DataType::Int32()},
                          {"id", DataType::Int64(), false}});
  EXPECT_EQ(ErrorOf("name,age,id\nann,1,1\nbob,x1,2\n", ro, "users.csv"),
            "users.csv: line 3, column 'age': invalid integer 'x1'");
  EXPECT_EQ(ErrorOf("name,age,id\nann,1,1\nbob,2\n", ro),
            "test.csv: line 3: too few fields: expected 3, found 2 (missing column 'id')");
  EXPECT_EQ(ErrorOf("name,age,id\nann,1,1,4\n", ro),
            "test.csv: line 2: too many fields: expected 3 (extra field after column 'id')");
  EXPECT_EQ(ErrorOf("name,age,id\nann,1,1\n\"bob,2,3\n", ro),
            "test.csv: line 3, column 'name': unterminated quoted field at end of input");
  EXPECT_EQ(ErrorOf("name,age,id\n\"ann\"x,1,1\n", ro),
            "test.csv: line 2, column 'name': unexpected 'x' after a closing quote");
  EXPECT_EQ(ErrorOf("name,age,id\nann,1,\n", ro),
            "test.csv: line 2, column 'id': NULL in a NOT NULL column");
  EXPECT_EQ(ErrorOf("name,age,idx\n", ro),
            "test.csv: line 1: header column 'idx' is not in the schema");
  EXPECT_EQ(ErrorOf("name,age\n", ro),
            "test.csv: line 1: schema column 'id' is missing from the header");
  EXPECT_EQ(ErrorOf("name,age,id,age\n", ro), "test.csv: line 1: duplicate header column 'age'");
  EXPECT_EQ(ErrorOf("name,age,id\nann,99999999999,1\n", ro),
            "test.csv: line 2, column 'age': integer '99999999999' out of range for int32");
  EXPECT_EQ(ErrorOf("a,a\n1,2\n", CsvReadOptions{}), "test.csv: line 1: duplicate column name 'a'");
}

TEST(CsvTest, InvalidUtf8IsAnError) {
  CsvReadOptions ro;
  ro.schema = MakeSchema({{"a", DataType::String()}, {"b", DataType::String()}});
  const std::string text = "a,b\nok,fine\nx,bad\xC3\x28here\nz,z\n";
  for (int64_t chunk : {3, 1 << 20}) {
    ro.read_chunk_bytes = chunk;
    EXPECT_EQ(ErrorOf(text, ro), "test.csv: line 3, column 'b': invalid UTF-8");
  }
  // Overlong encoding and surrogates are invalid too; in a header as well.
  EXPECT_EQ(ErrorOf("a,b\n\xC0\xAF,x\n", ro), "test.csv: line 2, column 'a': invalid UTF-8");
  EXPECT_EQ(ErrorOf("a,b\n\"\xED\xA0\x80\",x\n", ro), "test.csv: line 2, column 'a': invalid UTF-8");
  EXPECT_EQ(ErrorOf("a,\xFF\n", CsvReadOptions{}), "test.csv: line 1: invalid UTF-8 in header field 2");
}

TEST(CsvTest, OversizedRecordAndStickyError) {
  CsvReadOptions ro;
  ro.schema = MakeSchema({{"a", DataType::String()}});
  ro.max_record_bytes = 64;
  ro.read_chunk_bytes = 16;
  const std::string text = "a\n\"" + std::string(1000, 'x');
  EXPECT_EQ(ErrorOf(text, ro),
            "test.csv: line 2: record longer than 64 bytes (unbalanced quote?)");

  CsvReadOptions r2;
  r2.schema = MakeSchema({{"a", DataType::Int32()}});
  r2.batch_rows = 1;
  MemoryInputStream in("a\n1\nx\n2\n");
  auto reader = CsvReader::Open(&in, r2);
  ASSERT_TRUE(reader.ok());
  auto b1 = (*reader)->Next();
  ASSERT_TRUE(b1.ok());
  ASSERT_TRUE(b1->has_value());
  auto e1 = (*reader)->Next();
  ASSERT_FALSE(e1.ok());
  auto e2 = (*reader)->Next();
  ASSERT_FALSE(e2.ok());
  EXPECT_EQ(e1.status(), e2.status());
  EXPECT_EQ(e1.status().message(), "<memory>: line 3, column 'a': invalid integer 'x'");
}

TEST(CsvTest, ParsesEveryTypeFromHandWrittenText) {
  const std::string text =
      "i8|u64|f32|dec|b|bin|t|ts|uuid|js\n"
      "-128|18446744073709551615|-0.5|-1.50|t|AAEC/w==|00:00:01.000001|2000-02-29T23:59:59Z|"
      "{01234567-89AB-cdef-0123-456789abcdef}|\"{\"\"a\"\":[1,2]}\"\n";
  CsvReadOptions ro;
  ro.delimiter = '|';
  ro.schema = MakeSchema({{"i8", DataType::Int8()}, {"u64", DataType::UInt64()},
                          {"f32", DataType::Float32()}, {"dec", DataType::Decimal(5, 3)},
                          {"b", DataType::Bool()}, {"bin", DataType::Binary()},
                          {"t", DataType::Time()}, {"ts", DataType::Timestamp()},
                          {"uuid", DataType::Uuid()}, {"js", DataType::Json()}});
  auto r = ReadText(text, ro);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const RecordBatch& b = r->batch;
  EXPECT_EQ(b.column(0).Value<int8_t>(0), -128);
  EXPECT_EQ(b.column(1).Value<uint64_t>(0), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(b.column(2).Value<float>(0), -0.5f);
  EXPECT_EQ(b.column(3).DecimalValue(0), -1500);
  EXPECT_TRUE(b.column(4).BoolValue(0));
  EXPECT_EQ(b.column(5).StringValue(0), std::string_view("\x00\x01\x02\xff", 4));
  EXPECT_EQ(b.column(6).Value<int64_t>(0), 1000001);
  EXPECT_EQ(b.column(7).Value<int64_t>(0), (int64_t{951868799}) * kMicrosPerSecond);
  EXPECT_EQ(ValueToText(b.column(8), 0), "01234567-89ab-cdef-0123-456789abcdef");
  EXPECT_EQ(b.column(9).StringValue(0), "{\"a\":[1,2]}");
}

TEST(CsvTest, StrictBase64AgreesWithCoreDecoder) {
  // The reader's allocation-free decoder must accept a subset of what the
  // core decoder accepts and produce the same bytes.
  std::vector<std::string> inputs = {"", "AA==", "AAA=", "AAAA", "aGk=", "QR==", "QUI=", "AB=C",
                                     "A===", "====", "AAA", "AA AA", "AA=\n", "////", "+/+/",
                                     "AAAA====", "AA==AA==", "*AAA"};
  uint64_t x = 1;
  for (int n = 0; n < 40; ++n) {
    std::string bytes;
    for (int i = 0; i < n; ++i) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      bytes.push_back(static_cast<char>(x >> 56));
    }
    std::string enc = Base64Encode(bytes);
    inputs.push_back(enc);
    if (!enc.empty()) {
      std::string flipped = enc;
      flipped[static_cast<size_t>(n) % enc.size()] = static_cast<char>(x >> 40);
      inputs.push_back(flipped);
    }
  }
  std::string out;
  for (const std::string& in : inputs) {
    auto core = Base64Decode(in);
    if (textcodec::DecodeBase64Strict(in, &out)) {
      ASSERT_TRUE(core.ok()) << in;
      EXPECT_EQ(*core, out) << in;
    }
  }
  EXPECT_TRUE(textcodec::DecodeBase64Strict("aGk=", &out));
  EXPECT_EQ(out, "hi");
}

TEST(CsvTest, TruncatedAndBitFlippedInputFailsCleanly) {
  // Every prefix and many single-byte corruptions of valid text either read
  // (into batches that validate) or fail with InvalidData: never crash.
  const RecordBatch batch = testing::AllTypesBatch(12, 77);
  auto text = WriteText(batch);
  ASSERT_TRUE(text.ok());
  uint64_t x = 99;
  for (size_t i = 0; i < text->size(); ++i) {
    for (int variant = 0; variant < 3; ++variant) {
      std::string bad = *text;
      if (variant == 0) {
        bad.resize(i);
      } else {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        bad[i] = variant == 1 ? static_cast<char>(bad[i] ^ (1 << (x >> 61))) : static_cast<char>(x >> 56);
      }
      const bool with_schema = (i + static_cast<size_t>(variant)) % 2 == 0;
      CsvReadOptions ro;
    ro.schema = with_schema ? batch.schema() : nullptr;
      ro.batch_rows = 5;
      ro.read_chunk_bytes = 17;
      auto r = ReadText(bad, ro);
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), StatusCode::kInvalidData) << r.status().ToString();
        EXPECT_NE(r.status().message().find("line "), std::string::npos) << r.status().ToString();
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Regressions found by csv_fuzz

TEST(CsvTest, FuzzRegressionTimestampOffsetLeavesYearRange) {
  // "+01:00" moved the UTC value before 0001-01-01; it was accepted, then
  // written as year 0000 which no reader accepts. Now it is not a timestamp.
  for (const char* text : {"0\n0001-01-01T00:00:00+01:00\n", "0\n9999-12-31T23:00:00-05:00\n"}) {
    auto r = ReadText(text, CsvReadOptions{});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->schema->field(0).type, DataType::String());
  }
  CsvReadOptions ro;
  ro.schema = MakeSchema({{"ts", DataType::TimestampTz()}});
  EXPECT_EQ(ErrorOf("ts\n0001-01-01T00:00:00+01:00\n", ro),
            "test.csv: line 2, column 'ts': timestamp '0001-01-01T00:00:00+01:00' is outside "
            "0001-01-01..9999-12-31 in UTC");
  auto ok = ReadText("ts\n0001-01-01T00:59:59-00:00\n9999-12-31T23:59:59.999999Z\n", ro);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
}

TEST(CsvTest, FuzzRegressionNullFirstValue) {
  // A NULL as the very first value of a column used to memset a null pointer (UBSan).
  CsvReadOptions ro;
  ro.schema = MakeSchema({{"a", DataType::Int8()}, {"b", DataType::String()}});
  auto r = ReadText("a,b\n,\n", ro);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->batch.column(0).IsNull(0));
  EXPECT_TRUE(r->batch.column(1).IsNull(0));
}

}  // namespace
}  // namespace sluice::csv
