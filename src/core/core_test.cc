#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/base64.h"
#include "core/batch.h"
#include "core/c_data.h"
#include "core/int128.h"
#include "core/temporal.h"
#include "core/testing.h"
#include "core/text.h"
#include "core/utf8.h"

namespace sluice {
namespace {

TEST(Status, ContextAndCodes) {
  Status s = Status::InvalidData("bad byte").WithContext("part 3").WithContext("file x.part");
  EXPECT_EQ(s.code(), StatusCode::kInvalidData);
  EXPECT_EQ(s.message(), "file x.part: part 3: bad byte");
  EXPECT_TRUE(Status::OK().WithContext("ignored").ok());
  Result<int> r = Status::NotFound("table t");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST(Types, ParseAndPrintRoundTrip) {
  for (const char* name : {"int8", "uint64", "decimal(38,9)", "timestamptz(UTC)", "json", "uuid",
                           "timestamp", "date", "time", "binary", "bool", "float32"}) {
    auto t = ParseDataType(name);
    ASSERT_TRUE(t.ok()) << name;
    EXPECT_EQ(t->ToString(), name);
  }
  EXPECT_FALSE(ParseDataType("decimal(39,2)").ok());
  EXPECT_FALSE(ParseDataType("decimal(5,6)").ok());
  EXPECT_FALSE(ParseDataType("varchar").ok());
}

TEST(Schema, RejectsDuplicateAndEmptyNames) {
  EXPECT_FALSE(Schema({{"a", DataType::Int32()}, {"a", DataType::Int64()}}).Validate().ok());
  EXPECT_FALSE(Schema({{"", DataType::Int32()}}).Validate().ok());
  EXPECT_TRUE(Schema({{"a\"; DROP TABLE x; --", DataType::Int32()}}).Validate().ok());
}

TEST(Decimal, ExactAtFullPrecision) {
  int128_t max38 = MaxDecimalMagnitude(38);
  EXPECT_EQ(FormatDecimal(max38, 9), "99999999999999999999999999999.999999999");
  EXPECT_EQ(FormatDecimal(-max38, 0), "-99999999999999999999999999999999999999");
  // Around the 64-bit boundary and the 19-digit chunks of the fast path.
  EXPECT_EQ(FormatDecimal(static_cast<int128_t>(1) << 64, 0), "18446744073709551616");
  EXPECT_EQ(FormatDecimal((static_cast<int128_t>(1) << 64) - 1, 2), "184467440737095516.15");
  EXPECT_EQ(FormatDecimal(-(static_cast<int128_t>(1) << 64) - 1, 0), "-18446744073709551617");
  EXPECT_EQ(FormatDecimal(static_cast<int128_t>(10000000000000000000ULL) * 10000000000000000000ULL, 0),
            "100000000000000000000000000000000000000");
  EXPECT_EQ(FormatDecimal(static_cast<int128_t>(10000000000000000000ULL) * 5 + 7, 1),
            "5000000000000000000.7");
  EXPECT_EQ(FormatDecimal(5, 3), "0.005");
  EXPECT_EQ(FormatDecimal(-5, 3), "-0.005");
  EXPECT_EQ(FormatDecimal(0, 2), "0.00");
  auto v = ParseDecimal("99999999999999999999999999999.999999999", 38, 9);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(*v == max38);
  EXPECT_TRUE(*ParseDecimal("1.5e2", 10, 2) == 15000);
  EXPECT_TRUE(*ParseDecimal("-0.10", 5, 1) == -1);
  EXPECT_FALSE(ParseDecimal("0.123", 5, 2).ok());  // would lose a digit
  EXPECT_FALSE(ParseDecimal("1000", 3, 0).ok());   // over precision
  EXPECT_FALSE(ParseDecimal("1.2.3", 5, 2).ok());
  EXPECT_FALSE(ParseDecimal("", 5, 2).ok());
}

TEST(Temporal, Extremes) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(1, 1, 1), kMinDate);
  EXPECT_EQ(DaysFromCivil(9999, 12, 31), kMaxDate);
  std::string s;
  AppendDate(kMinDate, &s);
  EXPECT_EQ(s, "0001-01-01");
  s.clear();
  AppendTimestamp(-1, true, &s);
  EXPECT_EQ(s, "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(*ParseTimestamp("2025-01-15T10:00:00+03:00"), *ParseTimestamp("2025-01-15T07:00:00Z"));
  EXPECT_EQ(*ParseTimestamp("2026-02-23T10:41:47.819124576Z") % kMicrosPerSecond, 819124);
  EXPECT_EQ(*ParseTime("23:59:59.5"), kMicrosPerDay - 500000);
  // The end of the day (PostgreSQL time '24:00:00') round-trips; nothing past it does.
  EXPECT_EQ(*ParseTime("24:00:00"), kMicrosPerDay);
  EXPECT_EQ(*ParseTime("24:00"), kMicrosPerDay);
  s.clear();
  AppendTime(kMicrosPerDay, &s);
  EXPECT_EQ(s, "24:00:00");
  EXPECT_FALSE(ParseTime("24:00:01").ok());
  EXPECT_FALSE(ParseTime("24:00:00.000001").ok());
  EXPECT_FALSE(ParseTime("24:01").ok());
  EXPECT_EQ(*ParseTimestamp("2025-01-15T24:00:00Z"), *ParseTimestamp("2025-01-16T00:00:00Z"));
  EXPECT_FALSE(ParseDate("2023-02-29").ok());
  EXPECT_FALSE(ParseDate("0000-00-00").ok());
  EXPECT_FALSE(ParseTimestamp("2025-01-15X").ok());
}

TEST(Text, RoundTripEveryTypeThroughCanonicalText) {
  RecordBatch batch = testing::AllTypesBatch(200);
  ASSERT_TRUE(batch.Validate().ok()) << batch.Validate().ToString();
  BatchBuilder out(batch.schema());
  for (int c = 0; c < batch.num_columns(); ++c) {
    for (int64_t r = 0; r < batch.num_rows(); ++r) {
      const Column& col = batch.column(c);
      if (col.IsNull(r)) {
        out.column(c).AppendNull();
        continue;
      }
      std::string text = ValueToText(col, r);
      Status st = AppendParsedText(text, &out.column(c));
      ASSERT_TRUE(st.ok()) << batch.schema()->field(c).name << " row " << r << ": " << st.ToString();
    }
  }
  std::string why;
  EXPECT_TRUE(batch.Equals(out.Finish(), &why)) << why;
}

TEST(Text, RejectsGarbageWithoutAppending) {
  ColumnBuilder b(DataType::Int8());
  EXPECT_FALSE(AppendParsedText("128", &b).ok());
  EXPECT_FALSE(AppendParsedText("12x", &b).ok());
  EXPECT_FALSE(AppendParsedText("", &b).ok());
  EXPECT_EQ(b.length(), 0);
  ColumnBuilder s(DataType::String());
  EXPECT_FALSE(AppendParsedText("\xff\xfe", &s).ok());
  ColumnBuilder u(DataType::Uuid());
  EXPECT_FALSE(AppendParsedText("1234", &u).ok());
  EXPECT_TRUE(AppendParsedText("{123E4567-E89B-12D3-A456-426614174000}", &u).ok());
}

TEST(Base64, RoundTripAndRejects) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(*Base64Decode(Base64Encode(s)), s);
  }
  EXPECT_FALSE(Base64Decode("Zm9v!").ok());
  EXPECT_FALSE(Base64Decode("Zm9").ok());
}

TEST(Utf8, Validation) {
  EXPECT_TRUE(IsValidUtf8("Привет 東京 🚀"));
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("abc\xE2\x82"));       // truncated
}

TEST(Batch, ValidateCatchesCorruptOffsets) {
  ColumnBuilder b(DataType::String());
  b.AppendBytes("hello");
  b.AppendNull();
  b.AppendBytes("");
  Column c = b.Finish();
  EXPECT_TRUE(c.Validate().ok());
  EXPECT_EQ(c.null_count, 1);
  EXPECT_EQ(c.StringValue(0), "hello");
  EXPECT_TRUE(c.IsNull(1));
  EXPECT_EQ(c.StringValue(2), "");
  auto bad = Buffer::Copy(c.values->data(), c.values->size());
  bad->mutable_data()[4] = 99;  // offset[1] past the data
  c.values = bad;
  EXPECT_FALSE(c.Validate().ok());
}

TEST(Batch, SliceAndEquals) {
  RecordBatch batch = testing::AllTypesBatch(50);
  RecordBatch a = batch.Slice(10, 20);
  RecordBatch b = batch.Slice(10, 20);
  EXPECT_EQ(a.num_rows(), 20);
  EXPECT_TRUE(a.Validate().ok());
  EXPECT_TRUE(a.Equals(b));
  EXPECT_FALSE(a.Equals(batch.Slice(11, 20)));
}

TEST(CData, ExportImportRoundTripIsZeroCopy) {
  RecordBatch batch = testing::AllTypesBatch(300);
  ArrowArray array;
  ArrowSchema schema;
  ASSERT_TRUE(ExportRecordBatch(batch, &array, &schema).ok());
  const void* values_ptr = array.children[3]->buffers[1];
  auto back = ImportRecordBatch(&array, &schema);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(array.release, nullptr);
  std::string why;
  EXPECT_TRUE(batch.Equals(*back, &why)) << why;
  EXPECT_EQ(back->column(3).values->data(), values_ptr);
}

}  // namespace
}  // namespace sluice
