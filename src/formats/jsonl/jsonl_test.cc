#include "formats/jsonl/jsonl.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/temporal.h"
#include "core/testing.h"
#include "core/text.h"
#include "formats/jsonl/json_text.h"

namespace sluice::jsonl {
namespace {

RecordBatch Concat(const std::shared_ptr<const Schema>& schema, const std::vector<RecordBatch>& batches) {
  BatchBuilder bb(schema);
  for (const RecordBatch& b : batches) {
    for (int c = 0; c < b.num_columns(); ++c) {
      for (int64_t r = 0; r < b.num_rows(); ++r) bb.column(c).AppendFrom(b.column(c), r);
    }
    for (int64_t r = 0; b.num_columns() == 0 && r < b.num_rows(); ++r) bb.AddEmptyRow();
  }
  return bb.Finish();
}

struct ReadResult {
  std::shared_ptr<const Schema> schema;
  RecordBatch batch;
  std::vector<int64_t> batch_rows;
};

Result<ReadResult> ReadText(std::string_view text, JsonlReadOptions options,
                            std::string name = "test.jsonl") {
  MemoryInputStream in(text, std::move(name));
  SLUICE_ASSIGN_OR_RETURN(auto reader, JsonlReader::Open(&in, options));
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

Result<std::string> WriteText(const RecordBatch& batch) {
  StringOutputStream out;
  SLUICE_ASSIGN_OR_RETURN(auto writer, JsonlWriter::Make(&out, batch.schema()));
  SLUICE_RETURN_NOT_OK(writer->Write(batch));
  SLUICE_RETURN_NOT_OK(writer->Finish());
  return out.Release();
}

std::string ErrorOf(std::string_view text, JsonlReadOptions options) {
  auto r = ReadText(text, options);
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

JsonlReadOptions WithSchema(std::shared_ptr<const Schema> schema) {
  JsonlReadOptions o;
  o.schema = std::move(schema);
  return o;
}

// ---------------------------------------------------------------------------
// Round trips

TEST(JsonlTest, AllTypesRoundTrip) {
  const RecordBatch batch = testing::AllTypesBatch(300);
  auto text = WriteText(batch);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  for (int64_t chunk : {1, 7, 64, 1 << 20}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    JsonlReadOptions o = WithSchema(batch.schema());
    o.read_chunk_bytes = chunk;
    o.batch_rows = 13;
    auto back = ReadText(*text, o);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ExpectEqual(batch, back->batch);
    for (size_t i = 0; i + 1 < back->batch_rows.size(); ++i) EXPECT_EQ(back->batch_rows[i], 13);
  }
  JsonlReadOptions o = WithSchema(batch.schema());
  o.batch_bytes = 2000;
  auto back = ReadText(*text, o);
  ASSERT_TRUE(back.ok());
  ExpectEqual(batch, back->batch);
  EXPECT_GT(back->batch_rows.size(), 10u);
}

TEST(JsonlTest, ZeroRowsAndOneRow) {
  auto schema = testing::AllTypesSchema();
  auto text = WriteText(BatchBuilder(schema).Finish());
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "");
  auto back = ReadText("", WithSchema(schema));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->batch_rows.empty());
  auto inferred = ReadText("", JsonlReadOptions{});
  ASSERT_TRUE(inferred.ok());
  EXPECT_EQ(inferred->schema->num_fields(), 0);
  EXPECT_TRUE(inferred->batch_rows.empty());

  const RecordBatch one = testing::AllTypesBatch(1);
  text = WriteText(one);
  ASSERT_TRUE(text.ok());
  back = ReadText(*text, WithSchema(schema));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->batch_rows, std::vector<int64_t>{1});
  ExpectEqual(one, back->batch);
  // No trailing newline, CRLF, BOM, blank lines.
  std::string variant = "\xEF\xBB\xBF\n  \r\n" + text->substr(0, text->size() - 1) + "\r\n\n";
  back = ReadText(variant, WithSchema(schema));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectEqual(one, back->batch);
}

// ---------------------------------------------------------------------------
// Exact text

TEST(JsonlTest, WriterProducesExactHandWrittenText) {
  auto schema = MakeSchema({{"id", DataType::Int64()},
                            {"u", DataType::UInt64()},
                            {"f", DataType::Float64()},
                            {"f32", DataType::Float32()},
                            {"dec", DataType::Decimal(10, 4)},
                            {"ok", DataType::Bool()},
                            {"s", DataType::String()},
                            {"d", DataType::Date()},
                            {"t", DataType::Time()},
                            {"ts", DataType::Timestamp()},
                            {"tz", DataType::TimestampTz()},
                            {"bin", DataType::Binary()},
                            {"uuid", DataType::Uuid()},
                            {"js", DataType::Json()}});
  BatchBuilder bb(schema);
  uint8_t uuid[16];
  for (int i = 0; i < 16; ++i) uuid[i] = static_cast<uint8_t>(i);
  bb.column(0).AppendFixed<int64_t>(1);
  bb.column(1).AppendFixed<uint64_t>(std::numeric_limits<uint64_t>::max());
  bb.column(2).AppendFixed<double>(0.1);
  bb.column(3).AppendFixed<float>(1.5f);
  bb.column(4).AppendFixed<int128_t>(1234500);
  bb.column(5).AppendBool(true);
  bb.column(6).AppendBytes("Hi \"there\"\n\t\xC3\xBC\xF0\x9F\x9A\x80\x01\\/");
  bb.column(7).AppendFixed<int32_t>(19723);
  bb.column(8).AppendFixed<int64_t>(int64_t{3723} * kMicrosPerSecond + 1);
  bb.column(9).AppendFixed<int64_t>(0);
  bb.column(10).AppendFixed<int64_t>(int64_t{1704067200} * kMicrosPerSecond + 500000);
  bb.column(11).AppendBytes("hi");
  bb.column(12).AppendFixedBytes(uuid, 16);
  bb.column(13).AppendBytes("{\"a\":[1,2.50,\"x\"],\"b\":null}");

  bb.column(0).AppendFixed<int64_t>(std::numeric_limits<int64_t>::min());
  bb.column(1).AppendFixed<uint64_t>(0);
  bb.column(2).AppendFixed<double>(std::nan(""));
  bb.column(3).AppendFixed<float>(-std::numeric_limits<float>::infinity());
  bb.column(4).AppendFixed<int128_t>(-1);
  bb.column(5).AppendBool(false);
  bb.column(6).AppendBytes("");
  for (int c = 7; c < 14; ++c) bb.column(c).AppendNull();

  bb.column(0).AppendFixed<int64_t>(0);
  bb.column(1).AppendNull();
  bb.column(2).AppendFixed<double>(std::numeric_limits<double>::infinity());
  for (int c = 3; c < 13; ++c) bb.column(c).AppendNull();
  bb.column(13).AppendBytes("\"text\"");
  const RecordBatch batch = bb.Finish();

  const std::string expected =
      "{\"id\":1,\"u\":18446744073709551615,\"f\":0.1,\"f32\":1.5,\"dec\":\"123.4500\",\"ok\":true,"
      "\"s\":\"Hi \\\"there\\\"\\n\\t\xC3\xBC\xF0\x9F\x9A\x80\\u0001\\\\/\",\"d\":\"2024-01-01\","
      "\"t\":\"01:02:03.000001\",\"ts\":\"1970-01-01T00:00:00\","
      "\"tz\":\"2024-01-01T00:00:00.500000Z\",\"bin\":\"aGk=\","
      "\"uuid\":\"00010203-0405-0607-0809-0a0b0c0d0e0f\",\"js\":{\"a\":[1,2.50,\"x\"],\"b\":null}}\n"
      "{\"id\":-9223372036854775808,\"u\":0,\"f\":\"NaN\",\"f32\":\"-Infinity\",\"dec\":\"-0.0001\","
      "\"ok\":false,\"s\":\"\",\"d\":null,\"t\":null,\"ts\":null,\"tz\":null,\"bin\":null,"
      "\"uuid\":null,\"js\":null}\n"
      "{\"id\":0,\"u\":null,\"f\":\"Infinity\",\"f32\":null,\"dec\":null,\"ok\":null,\"s\":null,"
      "\"d\":null,\"t\":null,\"ts\":null,\"tz\":null,\"bin\":null,\"uuid\":null,\"js\":\"text\"}\n";
  auto text = WriteText(batch);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, expected);
  auto back = ReadText(expected, WithSchema(schema));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectEqual(batch, back->batch);
}

TEST(JsonlTest, JsonColumnsAreCompacted) {
  auto schema = MakeSchema({{"js", DataType::Json()}});
  BatchBuilder bb(schema);
  bb.column(0).AppendBytes(" { \"a\" : [ 1 , 2e5 , \"sp ace\\u00e9\" ] ,\n \"b\" : { } } ");
  bb.column(0).AppendBytes("  -0.0 ");
  auto text = WriteText(bb.Finish());
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, "{\"js\":{\"a\":[1,2e5,\"sp ace\\u00e9\"],\"b\":{}}}\n{\"js\":-0.0}\n");
  auto back = ReadText(*text, WithSchema(schema));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->batch.column(0).StringValue(0), "{\"a\":[1,2e5,\"sp ace\\u00e9\"],\"b\":{}}");
  EXPECT_EQ(back->batch.column(0).StringValue(1), "-0.0");

  BatchBuilder bad(schema);
  bad.column(0).AppendBytes("{\"ok\":1}");
  bad.column(0).AppendBytes("{bad");
  StringOutputStream out;
  auto w = JsonlWriter::Make(&out, schema);
  ASSERT_TRUE(w.ok());
  Status st = (*w)->Write(bad.Finish());
  EXPECT_EQ(st.code(), StatusCode::kInvalidData);
  EXPECT_EQ(st.message(), "JsonlWriter: column 'js', row 2: invalid JSON at byte 2: expected a key string");
}

TEST(JsonlTest, StringEscapes) {
  std::string s;
  AppendJsonString(std::string("a\x00\x1f\x7f\b\f\r\"\\/\xE2\x80\xA8z", 14), &s);
  EXPECT_EQ(s, "\"a\\u0000\\u001f\x7f\\b\\f\\r\\\"\\\\/\xE2\x80\xA8z\"");
}

TEST(JsonlTest, ReaderAcceptsAnyKeyOrderMissingKeysAndEscapes) {
  auto schema = MakeSchema({{"a", DataType::Int32()}, {"b", DataType::String()}});
  const std::string text =
      "{\"b\": \"x\", \"a\": 5}\n"
      "  {\"a\":-1}  \n"
      "{\"a\":null,\"b\":\"\\u00e9\\ud83d\\ude80\\/\\\"\\n\"}\n"
      "\n"
      "{ }\r\n"
      "{\"b\":\"end\",\"a\":\"7\"}";
  auto back = ReadText(text, WithSchema(schema));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const RecordBatch& b = back->batch;
  ASSERT_EQ(b.num_rows(), 5);
  EXPECT_EQ(b.column(0).Value<int32_t>(0), 5);
  EXPECT_EQ(b.column(1).StringValue(0), "x");
  EXPECT_EQ(b.column(0).Value<int32_t>(1), -1);
  EXPECT_TRUE(b.column(1).IsNull(1));
  EXPECT_TRUE(b.column(0).IsNull(2));
  EXPECT_EQ(b.column(1).StringValue(2), "\xC3\xA9\xF0\x9F\x9A\x80/\"\n");
  EXPECT_TRUE(b.column(0).IsNull(3));
  EXPECT_TRUE(b.column(1).IsNull(3));
  EXPECT_EQ(b.column(0).Value<int32_t>(4), 7);
}

TEST(JsonlTest, ReaderAcceptsCanonicalTextInStrings) {
  auto schema = MakeSchema({{"i", DataType::Int16()}, {"f", DataType::Float32()},
                            {"b", DataType::Bool()}, {"bin", DataType::Binary()},
                            {"dec", DataType::Decimal(6, 2)}, {"u", DataType::Uuid()},
                            {"js", DataType::Json()}});
  const std::string text =
      "{\"i\":\"+5\",\"f\":\"-inf\",\"b\":\"yes\",\"bin\":\"aG k=\",\"dec\":12.5,"
      "\"u\":\"{000102030405060708090A0B0C0D0E0F}\",\"js\":\"a\\u00e9\"}\n"
      "{\"i\":-32768,\"f\":1e-3,\"b\":false,\"bin\":\"\",\"dec\":\"-0.5\",\"js\":true}\n";
  auto back = ReadText(text, WithSchema(schema));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const RecordBatch& b = back->batch;
  EXPECT_EQ(b.column(0).Value<int16_t>(0), 5);
  EXPECT_EQ(b.column(1).Value<float>(0), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(b.column(2).BoolValue(0));
  EXPECT_EQ(b.column(3).StringValue(0), "hi");
  EXPECT_EQ(b.column(4).DecimalValue(0), 1250);
  EXPECT_EQ(ValueToText(b.column(5), 0), "00010203-0405-0607-0809-0a0b0c0d0e0f");
  EXPECT_EQ(b.column(6).StringValue(0), "\"a\\u00e9\"");
  EXPECT_EQ(b.column(0).Value<int16_t>(1), -32768);
  EXPECT_EQ(b.column(1).Value<float>(1), 1e-3f);
  EXPECT_FALSE(b.column(3).IsNull(1));
  EXPECT_EQ(b.column(3).StringValue(1), "");
  EXPECT_EQ(b.column(4).DecimalValue(1), -50);
  EXPECT_TRUE(b.column(5).IsNull(1));
  EXPECT_EQ(b.column(6).StringValue(1), "true");
  EXPECT_EQ(ErrorOf("{\"dec\":1.234}\n", WithSchema(schema)),
            "test.jsonl: line 1, column 'dec': invalid decimal '1.234' for decimal(6,2): more "
            "fractional digits than the scale allows");
  EXPECT_EQ(ErrorOf("{\"bin\":\"a*==\"}\n", WithSchema(schema)),
            "test.jsonl: line 1, column 'bin': base64: invalid character at offset 1");
}

TEST(JsonlTest, NullAndEmptyStringAreDistinct) {
  auto schema = MakeSchema({{"s", DataType::String()}, {"bin", DataType::Binary()}});
  BatchBuilder bb(schema);
  bb.column(0).AppendBytes("");
  bb.column(1).AppendBytes("");
  bb.column(0).AppendNull();
  bb.column(1).AppendNull();
  const RecordBatch batch = bb.Finish();
  auto text = WriteText(batch);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "{\"s\":\"\",\"bin\":\"\"}\n{\"s\":null,\"bin\":null}\n");
  auto back = ReadText(*text, WithSchema(schema));
  ASSERT_TRUE(back.ok());
  ExpectEqual(batch, back->batch);
}

TEST(JsonlTest, ExtremesParseExactly) {
  auto schema = MakeSchema({{"i64", DataType::Int64()},
                            {"u64", DataType::UInt64()},
                            {"dec", DataType::Decimal(38, 9)},
                            {"f", DataType::Float64()},
                            {"f32", DataType::Float32()},
                            {"d", DataType::Date()}});
  const std::string text =
      "{\"i64\":-9223372036854775808,\"u64\":18446744073709551615,"
      "\"dec\":99999999999999999999999999999.999999999,\"f\":1.7976931348623157e308,"
      "\"f32\":3.4028235e38,\"d\":\"9999-12-31\"}\n"
      "{\"i64\":9223372036854775807,\"u64\":\"18446744073709551615\","
      "\"dec\":\"-99999999999999999999999999999.999999999\",\"f\":-5e-324,\"f32\":\"NaN\","
      "\"d\":\"0001-01-01\"}\n"
      "{\"dec\":1e-9,\"f\":-0,\"f32\":1.17549435e-38}\n";
  auto back = ReadText(text, WithSchema(schema));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const RecordBatch& b = back->batch;
  EXPECT_EQ(b.column(0).Value<int64_t>(0), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(b.column(0).Value<int64_t>(1), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(b.column(1).Value<uint64_t>(0), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(b.column(1).Value<uint64_t>(1), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(b.column(2).DecimalValue(0), MaxDecimalMagnitude(38));
  EXPECT_EQ(b.column(2).DecimalValue(1), -MaxDecimalMagnitude(38));
  EXPECT_EQ(b.column(2).DecimalValue(2), 1);
  EXPECT_EQ(b.column(3).Value<double>(0), std::numeric_limits<double>::max());
  EXPECT_EQ(b.column(3).Value<double>(1), -std::numeric_limits<double>::denorm_min());
  EXPECT_TRUE(std::signbit(b.column(3).Value<double>(2)));
  EXPECT_EQ(b.column(4).Value<float>(0), std::numeric_limits<float>::max());
  EXPECT_TRUE(std::isnan(b.column(4).Value<float>(1)));
  EXPECT_EQ(b.column(4).Value<float>(2), std::numeric_limits<float>::min());
  EXPECT_EQ(b.column(5).Value<int32_t>(0), kMaxDate);
  EXPECT_EQ(b.column(5).Value<int32_t>(1), kMinDate);
  // And back out: numbers stay numbers, decimals become exact strings.
  auto text2 = WriteText(b.Slice(0, 1));
  ASSERT_TRUE(text2.ok());
  EXPECT_EQ(*text2,
            "{\"i64\":-9223372036854775808,\"u64\":18446744073709551615,"
            "\"dec\":\"99999999999999999999999999999.999999999\",\"f\":1.7976931348623157e+308,"
            "\"f32\":3.4028235e+38,\"d\":\"9999-12-31\"}\n");
}

TEST(JsonlTest, UnicodeAndControlCharactersRoundTrip) {
  const std::vector<std::string> values = {
      "Привет, мир", "東京都", "emoji 🚀🔥", "quote\"inside", "new\nline", "cr\r\n", "tab\t",
      "back\\slash", std::string("nul\0byte", 8), "\x01\x02\x1f\x7f", "\xE2\x80\xA8\xE2\x80\xA9",
      "\xF4\x8F\xBF\xBF", "", "</script>"};
  auto schema = MakeSchema({{"s", DataType::String()}});
  BatchBuilder bb(schema);
  for (const auto& v : values) bb.column(0).AppendBytes(v);
  bb.column(0).AppendNull();
  const RecordBatch batch = bb.Finish();
  auto text = WriteText(batch);
  ASSERT_TRUE(text.ok());
  // One line per row: no raw newline inside a value.
  EXPECT_EQ(std::count(text->begin(), text->end(), '\n'), static_cast<long>(values.size() + 1));
  JsonlReadOptions o = WithSchema(schema);
  o.read_chunk_bytes = 3;
  auto back = ReadText(*text, o);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectEqual(batch, back->batch);
}

// ---------------------------------------------------------------------------
// Inference

TEST(JsonlTest, InfersTypesFromSample) {
  const std::string text =
      "{\"i\":1,\"f\":1.5,\"b\":true,\"s\":\"x\",\"d\":\"2024-01-01\",\"ts\":\"2024-01-01T00:00:00Z\","
      "\"o\":{\"k\":1},\"arr\":[1],\"mix\":1,\"n\":null,\"big\":18446744073709551615,"
      "\"dec\":\"123.45\",\"nan\":\"NaN\",\"t\":\"10:00:00\",\"naive\":\"2024-01-01 10:00:00\"}\n"
      "{\"i\":-2,\"f\":2,\"b\":false,\"s\":\"y\",\"d\":\"2024-01-02\",\"ts\":\"2024-01-01T00:00:00+01:00\","
      "\"o\":null,\"arr\":[],\"mix\":\"a\",\"n\":null,\"big\":1,\"dec\":\"1.5\",\"nan\":2.5,"
      "\"t\":null,\"naive\":\"2024-01-02\",\"late\":7}\n";
  auto r = ReadText(text, JsonlReadOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Schema& s = *r->schema;
  ASSERT_EQ(s.num_fields(), 16);
  std::vector<std::pair<std::string, DataType>> want = {
      {"i", DataType::Int64()},        {"f", DataType::Float64()},
      {"b", DataType::Bool()},         {"s", DataType::String()},
      {"d", DataType::Date()},         {"ts", DataType::TimestampTz("UTC")},
      {"o", DataType::Json()},         {"arr", DataType::Json()},
      {"mix", DataType::Json()},       {"n", DataType::String()},
      {"big", DataType::Decimal(20, 0)}, {"dec", DataType::String()},
      {"nan", DataType::Float64()},    {"t", DataType::Time()},
      {"naive", DataType::Timestamp()}, {"late", DataType::Int64()}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(s.field(static_cast<int>(i)).name, want[i].first);
    EXPECT_EQ(s.field(static_cast<int>(i)).type, want[i].second) << want[i].first;
  }
  const RecordBatch& b = r->batch;
  ASSERT_EQ(b.num_rows(), 2);
  EXPECT_EQ(b.column(8).StringValue(0), "1");
  EXPECT_EQ(b.column(8).StringValue(1), "\"a\"");
  EXPECT_EQ(b.column(6).StringValue(0), "{\"k\":1}");
  EXPECT_TRUE(b.column(6).IsNull(1));
  EXPECT_EQ(ValueToText(b.column(10), 0), "18446744073709551615");
  EXPECT_EQ(ValueToText(b.column(5), 1), "2023-12-31T23:00:00Z");
  EXPECT_TRUE(b.column(15).IsNull(0));
  EXPECT_EQ(b.column(15).Value<int64_t>(1), 7);
}

TEST(JsonlTest, InferenceSampleLimitAndLaterKeys) {
  JsonlReadOptions o;
  o.infer_rows = 1;
  EXPECT_EQ(ErrorOf("{\"a\":1}\n{\"a\":2,\"b\":3}\n", o), "test.jsonl: line 2: unknown key 'b'");
  o.ignore_unknown_keys = true;
  auto r = ReadText("{\"a\":1}\n{\"a\":2,\"b\":{\"deep\":[1,{}]}}\n", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->batch.num_rows(), 2);
  o.ignore_unknown_keys = false;
  EXPECT_EQ(ErrorOf("{\"a\":1}\n{\"a\":2.5}\n", o), "test.jsonl: line 2, column 'a': invalid integer '2.5'");
}

TEST(JsonlTest, InferredAllTypesReadBack) {
  const RecordBatch batch = testing::AllTypesBatch(60, 4);
  auto text = WriteText(batch);
  ASSERT_TRUE(text.ok());
  auto r = ReadText(*text, JsonlReadOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Schema& s = *r->schema;
  ASSERT_EQ(s.num_fields(), 21);
  EXPECT_EQ(s.field(0).type, DataType::Int64());             // i8
  EXPECT_EQ(s.field(7).type, DataType::Decimal(20, 0));      // u64 max needs exactness
  EXPECT_EQ(s.field(8).type, DataType::Float64());           // f32 with NaN/Infinity
  EXPECT_EQ(s.field(12).type, DataType::Bool());
  EXPECT_EQ(s.field(15).type, DataType::Date());
  EXPECT_EQ(s.field(16).type, DataType::Time());
  EXPECT_EQ(s.field(17).type, DataType::Timestamp());
  EXPECT_EQ(s.field(18).type, DataType::TimestampTz("UTC"));
  EXPECT_EQ(s.field(20).type, DataType::Json());
  ASSERT_EQ(r->batch.num_rows(), 60);
  for (int64_t row = 0; row < 60; ++row) {
    const Column& js = batch.column(20);
    if (js.IsNull(row)) continue;
    EXPECT_EQ(r->batch.column(20).StringValue(row), js.StringValue(row));
  }
}

// ---------------------------------------------------------------------------
// Bad input

TEST(JsonlTest, ErrorsNameLineAndColumn) {
  auto schema = MakeSchema({{"a", DataType::Int32()}, {"b", DataType::String()},
                            {"id", DataType::Int64(), false}, {"u", DataType::UInt64()}});
  const JsonlReadOptions o = WithSchema(schema);
  EXPECT_EQ(ErrorOf("{\"id\":1}\n{\"id\":2,\"zz\":2}\n", o), "test.jsonl: line 2: unknown key 'zz'");
  EXPECT_EQ(ErrorOf("{\"id\":1,\"a\":1,\"a\":2}\n", o), "test.jsonl: line 1: duplicate key 'a'");
  EXPECT_EQ(ErrorOf("{\"id\":1}\n{\"id\":1,\"a\":\"x1\"}\n", o),
            "test.jsonl: line 2, column 'a': invalid integer 'x1'");
  EXPECT_EQ(ErrorOf("{\"id\":1,\"a\":1.5}\n", o), "test.jsonl: line 1, column 'a': invalid integer '1.5'");
  EXPECT_EQ(ErrorOf("{\"id\":1,\"a\":true}\n", o),
            "test.jsonl: line 1, column 'a': expected a value of type int32, got a boolean");
  EXPECT_EQ(ErrorOf("{\"id\":1,\"b\":5}\n", o),
            "test.jsonl: line 1, column 'b': expected a value of type string, got a number");
  EXPECT_EQ(ErrorOf("{\"id\":1,\"b\":[\"x\"]}\n", o),
            "test.jsonl: line 1, column 'b': expected a value of type string, got an array");
  EXPECT_EQ(ErrorOf("{\"id\":1}\n\n[1,2]\n", o), "test.jsonl: line 3: expected a JSON object");
  EXPECT_EQ(ErrorOf("{\"id\":1\n", o), "test.jsonl: line 1: invalid JSON at byte 8: expected ',' or '}'");
  EXPECT_EQ(ErrorOf("{\"id\":01}\n", o),
            "test.jsonl: line 1, column 'id': invalid JSON at byte 7: invalid number '01'");
  EXPECT_EQ(ErrorOf("{\"id\":1} x\n", o),
            "test.jsonl: line 1: invalid JSON at byte 10: unexpected text after the object");
  EXPECT_EQ(ErrorOf("{\"a\":1}\n", o), "test.jsonl: line 1, column 'id': missing key for a NOT NULL column");
  EXPECT_EQ(ErrorOf("{\"id\":null}\n", o), "test.jsonl: line 1, column 'id': NULL in a NOT NULL column");
  EXPECT_EQ(ErrorOf("{\"id\":1,\"u\":18446744073709551616}\n", o),
            "test.jsonl: line 1, column 'u': integer '18446744073709551616' out of range for uint64");
  EXPECT_EQ(ErrorOf("{\"id\":1,\"u\":-1}\n", o),
            "test.jsonl: line 1, column 'u': invalid integer '-1'");
  EXPECT_EQ(ErrorOf("{\"id\":1,\"b\":\"\\ud800x\"}\n", o),
            "test.jsonl: line 1, column 'b': invalid JSON at byte 20: unpaired surrogate in \\u escape");
  EXPECT_EQ(ErrorOf("{\"id\":1,\"b\":\"tab\there\"}\n", o),
            "test.jsonl: line 1, column 'b': invalid JSON at byte 17: unescaped control character in string");
  EXPECT_EQ(ErrorOf("{\"id\":1,\"b\":\"\\x\"}\n", o),
            "test.jsonl: line 1, column 'b': invalid JSON at byte 14: invalid escape in string");
  EXPECT_EQ(ErrorOf("{\"id\":tru}\n", o),
            "test.jsonl: line 1, column 'id': invalid JSON at byte 7: invalid literal");
  EXPECT_EQ(ErrorOf("{\"id\":1,}\n", o), "test.jsonl: line 1: invalid JSON at byte 9: expected a key string");
}

TEST(JsonlTest, InvalidUtf8NamesTheLine) {
  auto schema = MakeSchema({{"b", DataType::String()}});
  for (int64_t chunk : {2, 5, 1 << 20}) {
    JsonlReadOptions o = WithSchema(schema);
    o.read_chunk_bytes = chunk;
    EXPECT_EQ(ErrorOf("{\"b\":\"ok\"}\n{\"b\":\"\xc3\xa9\"}\n{\"b\":\"\xED\xA0\x80\"}\n{\"b\":\"z\"}\n", o),
              "test.jsonl: line 3: invalid UTF-8");
    // Lines before the bad one are returned fine.
    o.batch_rows = 1;
    MemoryInputStream in("{\"b\":\"ok\"}\n{\"b\":\"\xFF\"}\n");
    auto reader = JsonlReader::Open(&in, o);
    ASSERT_TRUE(reader.ok());
    auto first = (*reader)->Next();
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    ASSERT_TRUE(first->has_value());
    auto second = (*reader)->Next();
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().message(), "<memory>: line 2: invalid UTF-8");
    EXPECT_EQ((*reader)->Next().status(), second.status());  // sticky
  }
}

TEST(JsonlTest, LimitsAreEnforced) {
  JsonlReadOptions o = WithSchema(MakeSchema({{"js", DataType::Json()}}));
  o.max_record_bytes = 100;
  o.read_chunk_bytes = 16;
  EXPECT_EQ(ErrorOf("{\"js\":1}\n{\"js\":\"" + std::string(500, 'x') + "\"}\n", o),
            "test.jsonl: line 2: line longer than 100 bytes");
  o.max_record_bytes = 1 << 20;
  std::string deep = "{\"js\":" + std::string(300, '[') + std::string(300, ']') + "}\n";
  EXPECT_EQ(ErrorOf(deep, o),
            "test.jsonl: line 1, column 'js': invalid JSON at byte 263: nesting deeper than 256 levels");
  std::string ok = "{\"js\":" + std::string(200, '[') + std::string(200, ']') + "}\n";
  auto r = ReadText(ok, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->batch.column(0).StringValue(0).size(), 400u);
}

TEST(JsonlTest, TruncatedAndBitFlippedInputFailsCleanly) {
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
      JsonlReadOptions ro;
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

TEST(JsonlTest, CompactJsonValidation) {
  std::string out;
  EXPECT_TRUE(AppendCompactJson(" [1, {\"a\" : null}, true, false, \"\\\"\"] ", &out).ok());
  EXPECT_EQ(out, "[1,{\"a\":null},true,false,\"\\\"\"]");
  for (std::string_view bad : {"", " ", "[1,]", "{\"a\"}", "01", "1.", "-", "1e", "nul", "[1] 2",
                               "\"abc", "{\"a\":1,}", "+1", ".5", "NaN", "'x'", "[", "\"\\u12\""}) {
    out = "keep";
    EXPECT_FALSE(AppendCompactJson(bad, &out).ok()) << bad;
    EXPECT_EQ(out, "keep");
  }
  EXPECT_FALSE(AppendCompactJson("\"\xFF\"", &out).ok());
}

}  // namespace
}  // namespace sluice::jsonl
