// Unit tests of the COPY BINARY decoder on hand-built streams (the format is
// documented in the PostgreSQL manual, "COPY", "Binary Format"); the
// integration tests in postgres_test.cc feed it real server output.
#include "connectors/postgres/pg_copy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

namespace sluice {
namespace {

// Builds a COPY BINARY stream.
class Stream {
 public:
  Stream() { bytes_.assign("PGCOPY\n\xff\r\n\0", 11); Be32(0); Be32(0); }
  Stream& Tuple(int16_t n) { Be16(static_cast<uint16_t>(n)); return *this; }
  Stream& Null() { Be32(0xFFFFFFFFu); return *this; }
  Stream& Raw(std::string_view v) { Be32(static_cast<uint32_t>(v.size())); bytes_ += v; return *this; }
  Stream& I16(int16_t v) { Be32(2); Be16(static_cast<uint16_t>(v)); return *this; }
  Stream& I32(int32_t v) { Be32(4); Be32(static_cast<uint32_t>(v)); return *this; }
  Stream& I64(int64_t v) { Be32(8); Be64(static_cast<uint64_t>(v)); return *this; }
  Stream& F64(double d) { uint64_t b; std::memcpy(&b, &d, 8); Be32(8); Be64(b); return *this; }
  // numeric: digits base 10000, most significant first.
  Stream& Numeric(int16_t weight, uint16_t sign, int16_t dscale, std::vector<uint16_t> digits) {
    Be32(static_cast<uint32_t>(8 + 2 * digits.size()));
    Be16(static_cast<uint16_t>(digits.size()));
    Be16(static_cast<uint16_t>(weight));
    Be16(sign);
    Be16(static_cast<uint16_t>(dscale));
    for (uint16_t d : digits) Be16(d);
    return *this;
  }
  Stream& End() { Be16(0xFFFF); return *this; }
  const std::string& str() const { return bytes_; }

 private:
  void Be16(uint16_t v) { bytes_ += static_cast<char>(v >> 8); bytes_ += static_cast<char>(v); }
  void Be32(uint32_t v) { Be16(static_cast<uint16_t>(v >> 16)); Be16(static_cast<uint16_t>(v)); }
  void Be64(uint64_t v) { Be32(static_cast<uint32_t>(v >> 32)); Be32(static_cast<uint32_t>(v)); }
  std::string bytes_;
};

struct Decoded {
  Status status;
  RecordBatch batch;
};

Decoded Decode(std::vector<PgCopyColumn> cols, const std::string& bytes, size_t chunk = 1 << 20) {
  std::vector<Field> fields;
  for (const auto& c : cols) fields.push_back({c.name, c.type});
  auto schema = std::make_shared<Schema>(std::move(fields));
  PgCopyDecoder dec(cols, "test stream");
  BatchBuilder bb(schema);
  Decoded out;
  for (size_t off = 0; off < bytes.size(); off += chunk) {
    out.status = dec.Consume(std::string_view(bytes).substr(off, chunk), &bb);
    if (!out.status.ok()) return out;
  }
  out.status = dec.Finish();
  if (out.status.ok()) out.batch = bb.Finish();
  return out;
}

PgCopyColumn Col(std::string name, PgWire w, int p = 0, int s = 0) {
  return {std::move(name), w, PgWireType(w, p, s)};
}

TEST(PgCopy, RowsSurviveAnyChunking) {
  Stream s;
  s.Tuple(2).I32(1).Raw("héllo");
  s.Tuple(2).Null().Raw("");
  s.Tuple(2).I32(-7).Null();
  s.End();
  for (size_t chunk : {size_t{1}, size_t{3}, size_t{7}, size_t{19}, size_t{1} << 20}) {
    SCOPED_TRACE(chunk);
    Decoded d = Decode({Col("id", PgWire::kInt32), Col("v", PgWire::kText)}, s.str(), chunk);
    ASSERT_TRUE(d.status.ok()) << d.status.ToString();
    ASSERT_EQ(d.batch.num_rows(), 3);
    ASSERT_TRUE(d.batch.Validate().ok());
    EXPECT_EQ(d.batch.column(0).Value<int32_t>(0), 1);
    EXPECT_TRUE(d.batch.column(0).IsNull(1));
    EXPECT_EQ(d.batch.column(0).Value<int32_t>(2), -7);
    EXPECT_EQ(d.batch.column(1).StringValue(0), "héllo");
    EXPECT_EQ(d.batch.column(1).StringValue(1), "");
    EXPECT_TRUE(d.batch.column(1).IsNull(2));
  }
}

TEST(PgCopy, NumericExact) {
  Stream s;
  s.Tuple(1).Numeric(0, 0, 2, {1, 5000});             // 1.5
  s.Tuple(1).Numeric(1, 0x4000, 0, {12, 3456});       // -123456
  s.Tuple(1).Numeric(-1, 0, 2, {100});                // 100 * 10000^-1 = 0.01
  s.Tuple(1).Numeric(0, 0, 0, {});                    // 0
  s.End();
  Decoded d = Decode({Col("n", PgWire::kNumeric, 12, 2)}, s.str());
  ASSERT_TRUE(d.status.ok()) << d.status.ToString();
  ASSERT_EQ(d.batch.num_rows(), 4);
  EXPECT_TRUE(d.batch.column(0).DecimalValue(0) == 150);
  EXPECT_TRUE(d.batch.column(0).DecimalValue(1) == -12345600);
  EXPECT_TRUE(d.batch.column(0).DecimalValue(2) == 1);  // 0.01 at scale 2
  EXPECT_TRUE(d.batch.column(0).DecimalValue(3) == 0);
}

TEST(PgCopy, NumericThatDoesNotFitFailsNamingRowAndColumn) {
  auto one = [](std::vector<uint16_t> digits, int16_t weight, uint16_t sign) {
    Stream s;
    s.Tuple(1).Numeric(0, 0, 0, {1});
    s.Tuple(1).Numeric(weight, sign, 0, std::move(digits));
    s.End();
    return Decode({Col("amount", PgWire::kNumeric, 5, 2)}, s.str()).status;
  };
  Status nan = one({}, 0, 0xC000);
  EXPECT_NE(nan.message().find("NaN"), std::string::npos) << nan.ToString();
  EXPECT_NE(nan.message().find("row 2"), std::string::npos) << nan.ToString();
  EXPECT_NE(nan.message().find("\"amount\""), std::string::npos) << nan.ToString();
  EXPECT_NE(one({}, 0, 0xD000).message().find("Infinity"), std::string::npos);
  EXPECT_NE(one({10}, 1, 0).message().find("precision"), std::string::npos);    // 100000
  EXPECT_NE(one({1, 0, 5}, 0, 0).message().find("fractional"), std::string::npos);  // 1.00000005
  EXPECT_NE(one({12000}, 0, 0).message().find("> 9999"), std::string::npos);
  EXPECT_FALSE(one({}, 0, 0x1234).ok());
}

TEST(PgCopy, TemporalOffsetsAndInfinity) {
  Stream s;
  s.Tuple(3).I32(0).I64(0).I64(0);  // 2000-01-01, midnight, 2000-01-01T00:00
  s.End();
  Decoded d = Decode({Col("d", PgWire::kDate), Col("t", PgWire::kTime), Col("ts", PgWire::kTimestampTz)},
                     s.str());
  ASSERT_TRUE(d.status.ok()) << d.status.ToString();
  EXPECT_EQ(d.batch.column(0).Value<int32_t>(0), 10957);
  EXPECT_EQ(d.batch.column(1).Value<int64_t>(0), 0);
  EXPECT_EQ(d.batch.column(2).Value<int64_t>(0), int64_t{946684800} * 1000000);

  Stream inf;
  inf.Tuple(1).I32(std::numeric_limits<int32_t>::max()).End();
  Status st = Decode({Col("d", PgWire::kDate)}, inf.str()).status;
  EXPECT_NE(st.message().find("infinity"), std::string::npos) << st.ToString();
  Stream tinf;
  tinf.Tuple(1).I64(std::numeric_limits<int64_t>::min()).End();
  st = Decode({Col("ts", PgWire::kTimestamp)}, tinf.str()).status;
  EXPECT_NE(st.message().find("-infinity"), std::string::npos) << st.ToString();
  Stream toolate;
  toolate.Tuple(1).I64(std::numeric_limits<int64_t>::max() - 1).End();
  EXPECT_FALSE(Decode({Col("ts", PgWire::kTimestamp)}, toolate.str()).status.ok());
  Stream badtime;
  badtime.Tuple(1).I64(int64_t{86400} * 1000000 + 1).End();
  EXPECT_FALSE(Decode({Col("t", PgWire::kTime)}, badtime.str()).status.ok());
}

TEST(PgCopy, FloatsKeepNanAndInfinity) {
  Stream s;
  s.Tuple(1).F64(std::nan("")).Tuple(1).F64(-INFINITY).Tuple(1).F64(-0.0).End();
  Decoded d = Decode({Col("f", PgWire::kFloat64)}, s.str());
  ASSERT_TRUE(d.status.ok());
  EXPECT_TRUE(std::isnan(d.batch.column(0).Value<double>(0)));
  EXPECT_EQ(d.batch.column(0).Value<double>(1), -INFINITY);
  EXPECT_TRUE(std::signbit(d.batch.column(0).Value<double>(2)));
}

TEST(PgCopy, JsonbVersionByte) {
  Stream ok;
  ok.Tuple(1).Raw(std::string("\x01{\"a\": 1}", 9)).End();
  Decoded d = Decode({Col("j", PgWire::kJsonb)}, ok.str());
  ASSERT_TRUE(d.status.ok()) << d.status.ToString();
  EXPECT_EQ(d.batch.column(0).StringValue(0), "{\"a\": 1}");
  Stream bad;
  bad.Tuple(1).Raw(std::string("\x02{}", 3)).End();
  EXPECT_NE(Decode({Col("j", PgWire::kJsonb)}, bad.str()).status.message().find("version"),
            std::string::npos);
}

TEST(PgCopy, HostileStructure) {
  auto cols = std::vector<PgCopyColumn>{Col("id", PgWire::kInt32), Col("v", PgWire::kText)};
  // Bad signature.
  EXPECT_FALSE(Decode(cols, "PGCOPX\n\xff\r\n").status.ok());
  // Truncated: header only / inside a tuple / no trailer.
  Stream s;
  EXPECT_NE(Decode(cols, s.str().substr(0, 15)).status.message().find("header"), std::string::npos);
  EXPECT_NE(Decode(cols, s.str()).status.message().find("trailer"), std::string::npos);
  Stream partial;
  partial.Tuple(2).I32(1).Raw("abcdef");
  std::string cut = partial.str().substr(0, partial.str().size() - 2);
  EXPECT_NE(Decode(cols, cut).status.message().find("inside a tuple"), std::string::npos);
  // Wrong field count, wrong fixed length, negative length, bad utf8, data after trailer.
  Stream wrong;
  wrong.Tuple(3).I32(1).Raw("a").Raw("b").End();
  EXPECT_NE(Decode(cols, wrong.str()).status.message().find("3 fields"), std::string::npos);
  Stream len;
  len.Tuple(2).I64(1).Raw("a").End();
  Status st = Decode(cols, len.str()).status;
  EXPECT_NE(st.message().find("column \"id\""), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("row 1"), std::string::npos) << st.ToString();
  Stream neg;
  neg.Tuple(2).I32(1);
  std::string n = neg.str() + std::string("\xff\xff\xff\xfe", 4);
  EXPECT_FALSE(Decode(cols, n).status.ok());
  Stream utf;
  utf.Tuple(2).I32(1).Raw("\xc3\x28").End();
  EXPECT_NE(Decode(cols, utf.str()).status.message().find("UTF-8"), std::string::npos);
  Stream after;
  after.Tuple(2).I32(1).Raw("a").End();
  EXPECT_FALSE(Decode(cols, after.str() + "x").status.ok());
  // OIDs flag.
  std::string oids = Stream().End().str();
  oids[12] = 1;  // flags bit 16 (big-endian int32 at offset 11)
  EXPECT_NE(Decode(cols, oids).status.message().find("OIDs"), std::string::npos);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

// The fuzz seed captured from a real server (PostgreSQL 15, `\copy t_seed TO
// ... WITH (FORMAT binary)`, see tests/fuzz/corpus/pgcopy/) decodes to the
// values inserted (first byte: the fuzzer's layout selector).
TEST(PgCopy, RealServerOutput) {
  std::string path = std::string(SLUICE_SOURCE_DIR) + "/tests/fuzz/corpus/pgcopy/real_all";
  FILE* f = std::fopen(path.c_str(), "rb");
  ASSERT_NE(f, nullptr) << path;
  std::string bytes(4096, '\0');
  bytes.resize(std::fread(bytes.data(), 1, bytes.size(), f));
  std::fclose(f);
  const PgWire kinds[] = {PgWire::kInt16, PgWire::kInt32, PgWire::kInt64, PgWire::kFloat32,
                          PgWire::kFloat64, PgWire::kNumeric, PgWire::kText, PgWire::kJson,
                          PgWire::kJsonb, PgWire::kBytea, PgWire::kBool, PgWire::kDate,
                          PgWire::kTime, PgWire::kTimestamp, PgWire::kTimestampTz, PgWire::kUuid};
  std::vector<PgCopyColumn> cols;
  for (PgWire w : kinds) cols.push_back(Col("c" + std::to_string(cols.size()), w, 12, 2));
  Decoded d = Decode(cols, bytes.substr(1), 5);
  ASSERT_TRUE(d.status.ok()) << d.status.ToString();
  ASSERT_EQ(d.batch.num_rows(), 3);
  const RecordBatch& b = d.batch;
  EXPECT_EQ(b.column(1).Value<int32_t>(0), -2);
  EXPECT_TRUE(std::isnan(b.column(3).Value<float>(0)));
  EXPECT_TRUE(b.column(5).DecimalValue(0) == int128_t{123456789012});
  EXPECT_TRUE(b.column(5).DecimalValue(2) == -1);
  EXPECT_EQ(b.column(6).StringValue(0), "héllo");
  EXPECT_EQ(b.column(8).StringValue(0), "[1, {\"b\": null}]");
  EXPECT_EQ(b.column(12).Value<int64_t>(0), int64_t{86400} * 1000000);  // 24:00:00
  EXPECT_EQ(b.column(11).Value<int32_t>(2), 10957);                     // 2000-01-01
  EXPECT_EQ(b.column(14).Value<int64_t>(2), (int64_t{1709164800} + 9 * 3600) * 1000000);
  for (int c = 0; c < b.num_columns(); ++c) EXPECT_TRUE(b.column(c).IsNull(1)) << c;
}

}  // namespace
}  // namespace sluice
