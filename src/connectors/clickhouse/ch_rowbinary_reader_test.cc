// Server-less tests of the ClickHouse source's decoder: type names, the
// default mapping and the sink's type markers, RowBinary bytes exactly as
// ClickHouse 18.16 sent them, round trips through the sink's (independent)
// encoder, incremental decoding in arbitrary pieces, exceptions the server
// appends mid-stream, and hostile streams.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "connectors/clickhouse/ch_protocol.h"
#include "connectors/clickhouse/ch_rowbinary.h"
#include "connectors/clickhouse/ch_rowbinary_reader.h"
#include "core/int128.h"
#include "core/temporal.h"
#include "core/testing.h"
#include "core/text.h"

namespace sluice {
namespace {

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

ChWireType Wire(const std::string& text) {
  auto t = ParseChWireType(text);
  EXPECT_TRUE(t.ok()) << text << ": " << t.status().ToString();
  return t.ok() ? *t : ChWireType{};
}

ChReadColumn Col(const std::string& name, const std::string& type,
                 std::optional<DataType> as = {}) {
  ChReadColumn c;
  c.name = name;
  c.wire = Wire(type);
  c.type = as ? *as : DefaultChSourceType(c.wire, "UTC");
  return c;
}

std::shared_ptr<const Schema> SchemaOf(const std::vector<ChReadColumn>& cols) {
  std::vector<Field> fields;
  for (const auto& c : cols) fields.push_back({c.name, c.type, c.wire.nullable});
  return std::make_shared<const Schema>(std::move(fields));
}

// Decodes a whole stream (in pieces of `piece` bytes when > 0), as the
// source's reader does: returns the batch or the first error.
Result<RecordBatch> DecodeAll(const std::vector<ChReadColumn>& cols, std::string_view bytes,
                              size_t piece = 0, std::shared_ptr<const Schema> schema = nullptr) {
  SLUICE_ASSIGN_OR_RETURN(auto dec, RowBinaryDecoder::Make(cols, "test"));
  if (!schema) schema = SchemaOf(cols);
  BatchBuilder bb(schema);
  std::string buf;
  size_t fed = 0;
  while (true) {
    const size_t add = piece == 0 ? bytes.size() - fed : std::min(piece, bytes.size() - fed);
    buf.append(bytes.substr(fed, add));
    fed += add;
    const bool at_end = fed == bytes.size();
    SLUICE_ASSIGN_OR_RETURN(auto o, dec.Decode(buf, at_end, &bb, INT64_MAX, INT64_MAX));
    buf.erase(0, o.consumed);
    if (o.stop == RowBinaryDecoder::Stop::kSuspect) {
      if (buf.size() > kMaxChExceptionBytes) {
        dec.AcceptSuspect();
      } else if (at_end) {
        return dec.EndError(buf);
      }
      continue;
    }
    if (at_end) {
      if (!buf.empty()) return dec.EndError(buf);
      break;
    }
  }
  return bb.Finish();
}

TEST(ChWireTypes, ParsesWhatServersPrint) {
  ChWireType t = Wire("Nullable(Decimal(38, 9))");
  EXPECT_EQ(t.wire, ChWire::kDecimal128);
  EXPECT_TRUE(t.nullable);
  EXPECT_EQ(t.precision, 38);
  EXPECT_EQ(t.scale, 9);
  EXPECT_EQ(Wire("Decimal(9, 2)").wire, ChWire::kDecimal32);
  EXPECT_EQ(Wire("Decimal64(4)").precision, 18);
  t = Wire("LowCardinality(Nullable(String))");
  EXPECT_EQ(t.wire, ChWire::kString);
  EXPECT_TRUE(t.nullable && t.low_cardinality);
  t = Wire("DateTime64(3, 'Europe/Moscow')");
  EXPECT_EQ(t.wire, ChWire::kDateTime64);
  EXPECT_EQ(t.precision, 3);
  EXPECT_EQ(t.timezone, "Europe/Moscow");
  EXPECT_EQ(Wire("DateTime('UTC')").timezone, "UTC");
  EXPECT_EQ(Wire("DateTime").timezone, "");
  EXPECT_EQ(Wire("FixedString(16)").fixed_size, 16);
  EXPECT_EQ(Wire("Nullable(Nothing)").wire, ChWire::kNothing);
  EXPECT_EQ(Wire("Int128").wire, ChWire::kInt128);
  EXPECT_EQ(Wire("Bool").wire, ChWire::kBool);
  EXPECT_EQ(Wire("Date32").wire, ChWire::kDate32);
  // An Enum as system.columns prints it (with its escapes undone by TSV).
  t = Wire("Enum8('b\\'x' = -2, 'a,)' = 1, '\\xD0\\x96' = 3)");
  ASSERT_EQ(t.wire, ChWire::kEnum8);
  ASSERT_EQ(t.enum_values.size(), 3u);
  EXPECT_EQ(t.enum_values[0], (std::pair<int16_t, std::string>{-2, "b'x"}));
  EXPECT_EQ(t.enum_values[1], (std::pair<int16_t, std::string>{1, "a,)"}));
  EXPECT_EQ(t.enum_values[2].second, "Ж");
  EXPECT_EQ(Wire("Enum16('x' = 1000)").enum_values[0].first, 1000);

  // Well-formed but not read: Unsupported (the source offers types=col:string).
  for (const char* u : {"Array(UInt8)", "Tuple(UInt8, String)", "Map(String, UInt64)",
                        "Decimal(50, 2)", "Decimal256(3)", "IPv4", "Int256",
                        "Nullable(Array(Int8))", "AggregateFunction(uniq, UInt64)"}) {
    auto r = ParseChWireType(u);
    ASSERT_FALSE(r.ok()) << u;
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << u << ": " << r.status().ToString();
    EXPECT_NE(r.status().message().find("is not one the source reads"), std::string::npos)
        << r.status().message();
  }
  // Malformed: InvalidData.
  for (const char* bad : {"", "Nullable(", "Decimal(a, 2)", "Decimal(5, 7)", "FixedString(0)",
                          "DateTime64(10)", "Enum8('a' = 200)", "Enum8('a' = 1, 'b' = 1)",
                          "Enum8('a)", "Enum8()", "Nullable(Nullable(Int8))", "Int8(3)", "String x",
                          "Nullable(LowCardinality(String))", ")(", "Enum8(a = 1)"}) {
    auto r = ParseChWireType(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidData) << bad << ": " << r.status().ToString();
  }
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "Nullable(";
  EXPECT_FALSE(ParseChWireType(deep + "Int8" + std::string(40, ')')).ok());
  EXPECT_FALSE(ParseChWireType(std::string(kMaxChWireTypeBytes + 1, 'x')).ok());
}

TEST(ChWireTypes, DefaultMappingAndConversions) {
  EXPECT_EQ(DefaultChSourceType(Wire("UInt64"), "UTC"), DataType::UInt64());
  EXPECT_EQ(DefaultChSourceType(Wire("Decimal(18, 4)"), "UTC"), DataType::Decimal(18, 4));
  EXPECT_EQ(DefaultChSourceType(Wire("Int128"), "UTC"), DataType::Decimal(38, 0));
  EXPECT_EQ(DefaultChSourceType(Wire("FixedString(3)"), "UTC"), DataType::Binary());
  EXPECT_EQ(DefaultChSourceType(Wire("Date"), "UTC"), DataType::Date());
  EXPECT_EQ(DefaultChSourceType(Wire("DateTime"), "Europe/Berlin"),
            DataType::TimestampTz("Europe/Berlin"));
  EXPECT_EQ(DefaultChSourceType(Wire("DateTime64(6, 'UTC')"), "Europe/Berlin"),
            DataType::TimestampTz("UTC"));
  EXPECT_EQ(DefaultChSourceType(Wire("Enum8('a' = 1)"), "UTC"), DataType::String());
  EXPECT_EQ(DefaultChSourceType(Wire("Bool"), "UTC"), DataType::Bool());

  EXPECT_TRUE(ChCanConvert(Wire("Int32"), DataType::Date()));
  EXPECT_TRUE(ChCanConvert(Wire("Int64"), DataType::Timestamp()));
  EXPECT_TRUE(ChCanConvert(Wire("UInt8"), DataType::Bool()));
  EXPECT_TRUE(ChCanConvert(Wire("String"), DataType::Uuid()));  // parsed from text
  EXPECT_TRUE(ChCanConvert(Wire("FixedString(16)"), DataType::Uuid()));
  EXPECT_FALSE(ChCanConvert(Wire("FixedString(15)"), DataType::Uuid()));
  EXPECT_TRUE(ChCanConvert(Wire("Decimal(9, 2)"), DataType::Decimal(38, 4)));
  EXPECT_FALSE(ChCanConvert(Wire("Decimal(9, 2)"), DataType::Decimal(38, 1)));  // would round
  EXPECT_FALSE(ChCanConvert(Wire("Float64"), DataType::Float32()));
  EXPECT_FALSE(ChCanConvert(Wire("Float64"), DataType::Int64()));
  EXPECT_FALSE(ChCanConvert(Wire("UUID"), DataType::String()));
  EXPECT_FALSE(ChCanConvert(Wire("Date"), DataType::Int32()));
  EXPECT_FALSE(ChCanConvert(Wire("Enum8('a' = 1)"), DataType::Int8()));
  auto bad = RowBinaryDecoder::Make({Col("x", "Float64", DataType::Int32())}, "t");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(
      bad.status().message().find("column \"x\": cannot read ClickHouse Float64 values as int32"),
      std::string::npos)
      << bad.status().message();
}

TEST(ChTypeMarkers, RoundTripEveryTypeAndRejectOtherComments) {
  auto schema = testing::AllTypesSchema();
  for (const Field& f : schema->fields()) {
    const std::string m = ChTypeMarker(f);
    auto back = ParseChTypeMarker(m);
    ASSERT_TRUE(back.has_value()) << m;
    EXPECT_EQ(back->type, f.type) << m;
    EXPECT_EQ(back->primary_key, f.primary_key) << m;
  }
  Field tz{"t", DataType::TimestampTz("Europe/Moscow"), true, true};
  EXPECT_EQ(ChTypeMarker(tz), "sluice type: timestamptz(Europe/Moscow) primary key");
  EXPECT_EQ(ParseChTypeMarker("sluice type: decimal(38,9)")->type, DataType::Decimal(38, 9));
  for (const char* c :
       {"", "a comment", "sluice type: ", "sluice type: int99", "sluice type: decimal(50,2)",
        "sluice ledger target: db.t#ab", "Sluice type: int8"}) {
    EXPECT_FALSE(ParseChTypeMarker(c).has_value()) << c;
  }
}

// The bytes ClickHouse 18.16.1 sent for
//   SELECT toInt8(-5) AS i8, toUInt64('18446744073709551615') AS u64,
//     toFloat32(1.5) AS f32, toFloat64(-0.25) AS f64, toDecimal32('-123.45', 2) AS d9,
//     toDecimal64('12345678901234.5678', 4) AS d18,
//     toDecimal128('-1234567890123456789012345678.0123456789', 10) AS d38, 'héllo' AS s,
//     toFixedString('ab', 4) AS fs, toUUID('00112233-4455-6677-8899-aabbccddeeff') AS u,
//     toDate('2105-12-31') AS d, toDateTime('2020-01-02 03:04:05', 'UTC') AS dt,
//     CAST(NULL AS Nullable(Int32)) AS n, CAST(7 AS Nullable(Int32)) AS n2,
//     CAST('b' AS Enum8('a' = 1, 'b' = -2)) AS e  FORMAT RowBinary
TEST(ChRowBinaryDecoder, DecodesWhatTheServerSent) {
  const std::string bytes = Unhex(
      "fbffffffffffffffff0000c03f000000000000d0bfc7cfffff4ef330a64b9bb601ebba9833b16fb63becccfd0f"
      "094fb6f60668c3a96c6c6f616200007766554433221100ffeeddccbbaa998808c2a55d0d5e010007000000fe");
  std::vector<ChReadColumn> cols = {
      Col("i8", "Int8"),
      Col("u64", "UInt64"),
      Col("f32", "Float32"),
      Col("f64", "Float64"),
      Col("d9", "Decimal(9, 2)"),
      Col("d18", "Decimal(18, 4)"),
      Col("d38", "Decimal(38, 10)"),
      Col("s", "String"),
      Col("fs", "FixedString(4)"),
      Col("u", "UUID"),
      Col("d", "Date"),
      Col("dt", "DateTime('UTC')"),
      Col("n", "Nullable(Int32)"),
      Col("n2", "Nullable(Int32)"),
      Col("e", "Enum8('b' = -2, 'a' = 1)"),
  };
  for (size_t piece : {size_t{0}, size_t{1}, size_t{3}, size_t{7}}) {
    auto r = DecodeAll(cols, bytes, piece);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const RecordBatch& b = *r;
    ASSERT_EQ(b.num_rows(), 1);
    EXPECT_EQ(ValueToText(b.column(0), 0), "-5");
    EXPECT_EQ(ValueToText(b.column(1), 0), "18446744073709551615");
    EXPECT_EQ(b.column(2).Value<float>(0), 1.5f);
    EXPECT_EQ(b.column(3).Value<double>(0), -0.25);
    EXPECT_EQ(ValueToText(b.column(4), 0), "-123.45");
    EXPECT_EQ(ValueToText(b.column(5), 0), "12345678901234.5678");
    EXPECT_EQ(ValueToText(b.column(6), 0), "-1234567890123456789012345678.0123456789");
    EXPECT_EQ(b.column(7).StringValue(0), "héllo");
    EXPECT_EQ(b.column(8).StringValue(0), std::string("ab\0\0", 4));
    EXPECT_EQ(ValueToText(b.column(9), 0), "00112233-4455-6677-8899-aabbccddeeff");
    EXPECT_EQ(ValueToText(b.column(10), 0), "2105-12-31");
    EXPECT_EQ(ValueToText(b.column(11), 0), "2020-01-02T03:04:05Z");
    EXPECT_TRUE(b.column(12).IsNull(0));
    EXPECT_EQ(b.column(13).Value<int32_t>(0), 7);
    EXPECT_EQ(b.column(14).StringValue(0), "b");
    EXPECT_TRUE(b.Validate().ok()) << b.Validate().ToString();
  }
  // FixedString as text: the zero padding goes.
  std::vector<ChReadColumn> text = {Col("s", "String"),
                                    Col("fs", "FixedString(4)", DataType::String())};
  auto r = DecodeAll(text, Unhex("0161"
                                 "61620000"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->column(1).StringValue(0), "ab");
}

// Encodes `batch` with the sink's encoder into the ClickHouse types the sink
// would create (per mapping) and decodes it back with the sluice types the
// sink's markers record: the batch must come back unchanged.
void ExpectSinkRoundTrip(const RecordBatch& batch, const ChCapabilities& caps,
                         const ChMappingOptions& mapping) {
  std::vector<ChColumnPlan> plans;
  std::vector<ChReadColumn> cols;
  for (const Field& f : batch.schema()->fields()) {
    auto t = ChTypeForField(f, true, caps, mapping);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    auto p = PlanChColumn(f, *t, caps);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    plans.push_back(*p);
    ChReadColumn c;
    c.name = f.name;
    c.wire = Wire(ChTypeName(*t));
    auto marker = ParseChTypeMarker(ChTypeMarker(f));
    ASSERT_TRUE(marker.has_value());
    c.type = marker->type;
    cols.push_back(c);
  }
  RowBinaryEncoder enc(plans);
  std::string bytes;
  ASSERT_TRUE(enc.Append(batch, 1, "", &bytes).ok());
  for (size_t piece : {size_t{0}, size_t{1}, size_t{113}}) {
    auto r = DecodeAll(cols, bytes, piece, batch.schema());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    std::string why;
    EXPECT_TRUE(r->Equals(batch, &why)) << "piece " << piece << ": " << why;
    EXPECT_TRUE(r->Validate().ok());
  }
}

TEST(ChRowBinaryDecoder, SinkTablesReadBackExactly) {
  const RecordBatch all = testing::AllTypesBatch(300);
  ChMappingOptions auto_mapping;  // 18.16: Int32 days, Int64 µs, UInt8 bools
  ExpectSinkRoundTrip(all, ChCapabilities::Legacy(), auto_mapping);
  ChMappingOptions text;  // dates and timestamps as text: parsed back
  text.dates = ChDateMode::kString;
  text.timestamps = ChTimestampMode::kString;
  ExpectSinkRoundTrip(all, ChCapabilities::Legacy(), text);
  // Modern servers: Bool, and integers for the temporal types (the full
  // range of years that Date32/DateTime64 cannot hold).
  ChCapabilities modern;
  modern.datetime64 = modern.date32 = modern.bool_type = modern.wide_date = modern.extended_range =
      true;
  ChMappingOptions ints;
  ints.dates = ChDateMode::kDays;
  ints.timestamps = ChTimestampMode::kMicros;
  ExpectSinkRoundTrip(all, modern, ints);
}

TEST(ChRowBinaryDecoder, ModernTemporalTypes) {
  // Date32 / DateTime64(6) / DateTime64(3) / DateTime64(9) values in range.
  auto schema = std::make_shared<const Schema>(std::vector<Field>{
      {"d", DataType::Date(), true},
      {"ts", DataType::TimestampTz("UTC"), true},
  });
  BatchBuilder bb(schema);
  const int32_t day = DaysFromCivil(1931, 5, 17);
  const int64_t us =
      (int64_t{DaysFromCivil(2261, 1, 2)} * 86400 + 3723) * kMicrosPerSecond + 456000;
  bb.column(0).AppendFixed<int32_t>(day);
  bb.column(1).AppendFixed<int64_t>(us);
  bb.column(0).AppendNull();
  bb.column(1).AppendFixed<int64_t>(-us);
  const RecordBatch b = bb.Finish();
  ChCapabilities modern;
  modern.datetime64 = modern.date32 = modern.bool_type = modern.wide_date = true;
  modern.extended_range = true;
  // -us is before 1900: not writable as DateTime64; write the first row only.
  ExpectSinkRoundTrip(b.Slice(0, 1), modern, ChMappingOptions{});

  // DateTime64(3) ticks are milliseconds; (9) nanoseconds, which must be
  // whole microseconds.
  std::string ms(8, '\0'), ns(8, '\0');
  const int64_t ms_ticks = us / 1000, ns_ticks = us * 1000;
  std::memcpy(ms.data(), &ms_ticks, 8);
  std::memcpy(ns.data(), &ns_ticks, 8);
  auto r = DecodeAll({Col("a", "DateTime64(3)"), Col("b", "DateTime64(9, 'UTC')")}, ms + ns);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->column(0).Value<int64_t>(0), us);
  EXPECT_EQ(r->column(1).Value<int64_t>(0), us);
  const int64_t odd = ns_ticks + 1;
  std::memcpy(ns.data(), &odd, 8);
  r = DecodeAll({Col("a", "DateTime64(3)"), Col("b", "DateTime64(9, 'UTC')")}, ms + ns);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("row 1 column \"b\" (DateTime64(9, 'UTC')): value"),
            std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("types=b:string"), std::string::npos);
}

TEST(ChRowBinaryDecoder, BatchLimitsAndResume) {
  std::vector<ChReadColumn> cols = {Col("x", "UInt32"), Col("s", "String")};
  std::string bytes;
  for (uint32_t i = 0; i < 1000; ++i) {
    bytes.append(reinterpret_cast<const char*>(&i), 4);
    const std::string s = "v" + std::to_string(i);
    AppendRowBinaryString(s, &bytes);
  }
  auto dec = RowBinaryDecoder::Make(cols, "t");
  ASSERT_TRUE(dec.ok());
  auto schema = SchemaOf(cols);
  std::string_view rest = bytes;
  int64_t total = 0;
  for (int batch = 0; !rest.empty(); ++batch) {
    BatchBuilder bb(schema);
    auto o = dec->Decode(rest, true, &bb, 300, INT64_MAX);
    ASSERT_TRUE(o.ok());
    rest.remove_prefix(o->consumed);
    const RecordBatch b = bb.Finish();
    ASSERT_EQ(b.num_rows(), rest.empty() ? 100 : 300);
    EXPECT_EQ(b.column(0).Value<uint32_t>(0), static_cast<uint32_t>(total));
    EXPECT_EQ(b.column(1).StringValue(b.num_rows() - 1),
              "v" + std::to_string(total + b.num_rows() - 1));
    total += b.num_rows();
  }
  EXPECT_EQ(total, 1000);
  EXPECT_EQ(dec->rows(), 1000);
  // A byte budget cuts the batch early (after the row that crossed it).
  auto dec2 = RowBinaryDecoder::Make(cols, "t");
  BatchBuilder bb(schema);
  auto o = dec2->Decode(bytes, true, &bb, INT64_MAX, 64);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->stop, RowBinaryDecoder::Stop::kBatchFull);
  EXPECT_GT(bb.num_rows(), 0);
  EXPECT_LT(bb.num_rows(), 20);
}

TEST(ChExceptions, MidStreamTextIsTheServersError) {
  // What 18.16 sent for `SELECT number, throwIf(number = 3) ... FORMAT
  // RowBinary`: whole rows, then the exception text.
  std::string bytes;
  for (uint64_t i = 0; i < 3; ++i) {
    bytes.append(reinterpret_cast<const char*>(&i), 8);
    bytes.push_back('\0');
  }
  const std::string exc18 =
      "Code: 395, e.displayText() = DB::Exception: Value passed to 'throwIf' function is non "
      "zero, e.what() = DB::Exception\n";
  std::vector<ChReadColumn> cols = {Col("number", "UInt64"), Col("t", "UInt8")};
  for (size_t piece : {size_t{0}, size_t{1}, size_t{5}}) {
    auto r = DecodeAll(cols, bytes + exc18, piece);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kIOError);
    EXPECT_EQ(r.status().message(),
              "test: the server failed after sending 3 rows: server error 395: Value passed to "
              "'throwIf' function is non zero")
        << r.status().message();
  }
  // The newer format, and one whose text a String column would swallow.
  const std::string exc23 =
      "Code: 241. DB::Exception: Memory limit (total) exceeded. (MEMORY_LIMIT_EXCEEDED) "
      "(version 23.8.1.1)\n";
  std::string srow;
  AppendRowBinaryString("fine", &srow);
  auto r = DecodeAll({Col("s", "String")}, srow + exc23);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("after sending 1 rows: server error 241: Memory limit"),
            std::string::npos)
      << r.status().message();
  r = DecodeAll({Col("s", "String")}, srow + "__exception__\r\nabc\r\nCode: 1. DB::Exception: x\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("server error 1: x"), std::string::npos)
      << r.status().message();

  // A row that only looks like one (its data continues far past any
  // exception text) is data.
  std::string big = "Code: 12, e.displayText() = DB::Exception: not really";
  big.resize(kMaxChExceptionBytes + 100, 'x');
  std::string row;
  AppendRowBinaryString("ok", &row);
  // Column s2's first byte is the length of a 67-byte string: 'C' (0x43).
  std::string look(1, 'C');
  look += std::string("ode: 7, e.displayText() = DB::Exception: ") + std::string(26, 'z');
  ASSERT_EQ(look.size(), 68u);
  std::string second;
  AppendRowBinaryString(big, &second);
  r = DecodeAll({Col("s2", "String")}, look + second);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->num_rows(), 2);
  EXPECT_EQ(r->column(0).StringValue(0).substr(0, 4), "ode:");
  // ... but at the very end, the same bytes are taken for an error (never
  // silently for data).
  r = DecodeAll({Col("s2", "String")}, look);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIOError);

  EXPECT_EQ(MatchChExceptionStart("Code: 1"), ChExceptionMatch::kNeedMore);
  EXPECT_EQ(MatchChExceptionStart("Code: 12, e.disp"), ChExceptionMatch::kNeedMore);
  EXPECT_EQ(MatchChExceptionStart("Code: x"), ChExceptionMatch::kNo);
  EXPECT_EQ(MatchChExceptionStart("Code: 1234567890"), ChExceptionMatch::kNo);
  EXPECT_EQ(MatchChExceptionStart("Code: 12, something"), ChExceptionMatch::kNo);
  EXPECT_EQ(MatchChExceptionStart("Cod"), ChExceptionMatch::kNeedMore);
  EXPECT_EQ(MatchChExceptionStart("X"), ChExceptionMatch::kNo);
  EXPECT_EQ(MatchChExceptionStart("__exc"), ChExceptionMatch::kNeedMore);
  EXPECT_EQ(MatchChExceptionStart("\r\n__exception__"), ChExceptionMatch::kYes);
}

TEST(ChRowBinaryDecoder, HostileBytesGiveErrorsNamingRowAndColumn) {
  auto err = [](const std::vector<ChReadColumn>& cols, const std::string& bytes) {
    auto r = DecodeAll(cols, bytes);
    EXPECT_FALSE(r.ok()) << "decoded " << r->num_rows() << " rows";
    return r.ok() ? std::string() : r.status().message();
  };
  auto has = [](const std::string& msg, const std::string& part) {
    EXPECT_NE(msg.find(part), std::string::npos) << msg;
  };
  // Truncated inside a row.
  has(err({Col("a", "Int64")}, std::string(12, '\0')), "ended inside row 2 (4 bytes left over)");
  has(err({Col("s", "String")}, Unhex("05616263")), "ended inside row 1");
  // Bad Nullable flag.
  has(err({Col("a", "Int8"), Col("n", "Nullable(Int8)")}, Unhex("010005"
                                                                "0207")),
      "row 2 column \"n\" (Nullable(Int8)): bad Nullable flag byte 0x07");
  // Overlong LEB128 and a length over the limit.
  has(err({Col("s", "String")}, Unhex("ffffffffffffffffffff7f")), "malformed string length");
  has(err({Col("s", "String")}, Unhex("8080808010")), "more than the");
  // Invalid UTF-8 read as string (fine as binary).
  has(err({Col("s", "String")}, Unhex("02c328")),
      "invalid UTF-8 in a String value (read the column as binary: types=s:binary)");
  EXPECT_TRUE(DecodeAll({Col("s", "String", DataType::Binary())}, Unhex("02c328")).ok());
  // Bool byte 2, unknown Enum value.
  has(err({Col("b", "Bool")}, Unhex("02")), "Bool byte 0x02 is neither 0 nor 1");
  has(err({Col("e", "Enum8('a' = 1)")}, Unhex("05")), "value 5 is not one of the Enum's values");
  // Out of range for the sluice type.
  has(err({Col("d", "Date32")}, Unhex("00000080")), "outside 0001-01-01..9999-12-31");
  has(err({Col("d", "Int32", DataType::Date())}, Unhex("ffffff7f")),
      "row 1 column \"d\" (Int32): value day 2147483647 (2147483647 days) is outside the range of "
      "date");
  has(err({Col("t", "Int64", DataType::Time())}, Unhex("00c0e4cd14000000")),
      "outside the range of time");
  has(err({Col("b", "UInt8", DataType::Bool())}, Unhex("02")), "outside the range of bool");
  has(err({Col("x", "Int64", DataType::Int8())}, Unhex("8000000000000000")),
      "outside the range of int8");
  // Decimal(5, 2) holding 100000 (an Int32 can): more digits than 5.
  has(err({Col("m", "Decimal(5, 2)")}, Unhex("a0860100")),
      "value 1000.00 does not fit decimal(5,2)");
  has(err({Col("m", "UInt128")}, std::string(16, '\xff')), "above 2^127");
  has(err({Col("n", "Nullable(Nothing)")}, Unhex("01"
                                                 "00"
                                                 "00")),
      "row 2 column \"n\" (Nullable(Nothing)): a non-NULL value");
  // Text parsed into a typed column.
  has(err({Col("t", "String", DataType::Timestamp())}, Unhex("03616263")), "invalid timestamp");
  // Values that decode exactly.
  auto ok = DecodeAll({Col("m", "Decimal(5, 2)", DataType::Decimal(38, 6)), Col("u", "UInt128"),
                       Col("t", "String", DataType::Timestamp())},
                      Unhex("9f860100") + std::string("\x01") + std::string(15, '\0') +
                          std::string("\x1a") + "2021-03-28 01:30:00.123456");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ValueToText(ok->column(0), 0), "999.990000");
  EXPECT_EQ(ValueToText(ok->column(1), 0), "1");
  EXPECT_EQ(ValueToText(ok->column(2), 0), "2021-03-28T01:30:00.123456");
}

TEST(ChRowBinaryDecoder, RandomBytesNeverCrash) {
  // Every column kind at once; random streams only ever decode or fail.
  std::vector<ChReadColumn> cols = {Col("a", "Nullable(Int8)"),
                                    Col("b", "String"),
                                    Col("c", "Nullable(Decimal(38, 4))"),
                                    Col("d", "Enum16('x' = -300, 'y' = 2)"),
                                    Col("e", "FixedString(3)", DataType::String()),
                                    Col("f", "Nullable(UUID)"),
                                    Col("g", "Int64", DataType::Timestamp()),
                                    Col("h", "Nullable(String)", DataType::Date()),
                                    Col("i", "DateTime64(9)"),
                                    Col("j", "Nullable(Date32)")};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string bytes(rng() % 200, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() % 4 == 0 ? rng() : rng() % 3);
    auto r = DecodeAll(cols, bytes, 1 + rng() % 17);
    if (r.ok()) {
      EXPECT_TRUE(r->Validate().ok());
    }
  }
}

}  // namespace
}  // namespace sluice
