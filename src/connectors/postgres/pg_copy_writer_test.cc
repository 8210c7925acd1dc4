// Unit tests of the COPY BINARY encoder without a server: every type of
// testing::AllTypesBatch is encoded and decoded back with PgCopyDecoder (an
// independent implementation of the format, itself tested on hand-built
// streams and real server output) and must come back identical, widened the
// way the sink's type mapping widens (int8/uint8 -> smallint, uint16 ->
// integer, uint32 -> bigint, uint64 -> numeric(20,0)).
#include "connectors/postgres/pg_copy_writer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "core/int128.h"
#include "core/testing.h"

namespace sluice {
namespace {

Result<RecordBatch> RoundTrip(const RecordBatch& batch, const std::vector<PgWire>& wires) {
  std::vector<PgCopyColumn> cols;
  std::vector<Field> fields;
  for (int c = 0; c < batch.num_columns(); ++c) {
    const Field& f = batch.schema()->field(c);
    PgWire w = wires[static_cast<size_t>(c)];
    DataType t = f.type.id == TypeId::kDecimal ? PgWireType(w, f.type.precision, f.type.scale)
                 : f.type.id == TypeId::kUInt64 ? PgWireType(w, 20, 0)
                 : w == PgWire::kNumeric       ? PgWireType(w, 20, 0)
                                               : PgWireType(w);
    cols.push_back({f.name, w, t});
    fields.push_back({f.name, t});
  }
  PgCopyEncoder enc(wires);
  std::string bytes;
  PgCopyEncoder::AppendHeader(&bytes);
  SLUICE_RETURN_NOT_OK(enc.AppendBatch(batch, &bytes));
  PgCopyEncoder::AppendTrailer(&bytes);
  PgCopyDecoder dec(cols, "roundtrip");
  BatchBuilder bb(std::make_shared<Schema>(std::move(fields)));
  // Odd chunk sizes also exercise tuples split across Consume calls.
  for (size_t off = 0; off < bytes.size(); off += 977) {
    SLUICE_RETURN_NOT_OK(dec.Consume(std::string_view(bytes).substr(off, 977), &bb));
  }
  SLUICE_RETURN_NOT_OK(dec.Finish());
  return bb.Finish();
}

// Compares an original value with its decoded (possibly widened) form.
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
    case TypeId::kUInt64:
      EXPECT_TRUE(int128_t{a.Value<uint64_t>(r)} == b.DecimalValue(r));
      break;
    case TypeId::kDecimal: EXPECT_TRUE(a.DecimalValue(r) == b.DecimalValue(r)); break;
    case TypeId::kFloat32:
      EXPECT_EQ(std::memcmp(a.FixedBytes(r, 4), b.FixedBytes(r, 4), 4), 0);
      break;
    case TypeId::kFloat64:
      EXPECT_EQ(std::memcmp(a.FixedBytes(r, 8), b.FixedBytes(r, 8), 8), 0);
      break;
    case TypeId::kBool: EXPECT_EQ(a.BoolValue(r), b.BoolValue(r)); break;
    case TypeId::kString: case TypeId::kBinary: case TypeId::kJson:
      EXPECT_EQ(a.StringValue(r), b.StringValue(r));
      break;
    case TypeId::kDate: EXPECT_EQ(a.Value<int32_t>(r), b.Value<int32_t>(r)); break;
    case TypeId::kTime: case TypeId::kTimestamp:
      EXPECT_EQ(a.Value<int64_t>(r), b.Value<int64_t>(r));
      break;
    case TypeId::kUuid:
      EXPECT_EQ(std::memcmp(a.FixedBytes(r, 16), b.FixedBytes(r, 16), 16), 0);
      break;
  }
}

void ExpectRoundTrip(const RecordBatch& batch, const std::vector<PgWire>& wires) {
  auto back = RoundTrip(batch, wires);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->num_rows(), batch.num_rows());
  for (int c = 0; c < batch.num_columns(); ++c) {
    for (int64_t r = 0; r < batch.num_rows(); ++r) {
      ExpectSameValue(batch.column(c), back->column(c), r, batch.schema()->field(c).name);
    }
  }
}

std::vector<PgWire> NaturalWires(const Schema& s, bool jsonb) {
  std::vector<PgWire> w;
  for (const Field& f : s.fields()) w.push_back(PgWireFor(f.type, jsonb));
  return w;
}

TEST(PgCopyWriter, AllTypesRoundTripThroughTheDecoder) {
  RecordBatch batch = testing::AllTypesBatch(500);
  ExpectRoundTrip(batch, NaturalWires(*batch.schema(), /*jsonb=*/true));
  ExpectRoundTrip(batch, NaturalWires(*batch.schema(), /*jsonb=*/false));
}

TEST(PgCopyWriter, ZeroRows) {
  RecordBatch batch = testing::AllTypesBatch(0);
  ExpectRoundTrip(batch, NaturalWires(*batch.schema(), true));
}

TEST(PgCopyWriter, WidenedTargets) {
  // Every integer into numeric and bigint where it fits, float32 into float8.
  RecordBatch batch = testing::AllTypesBatch(64);
  const Schema& s = *batch.schema();
  std::vector<PgWire> wires = NaturalWires(s, true);
  for (int c = 0; c < s.num_fields(); ++c) {
    TypeId id = s.field(c).type.id;
    if (IsInteger(id)) {
      auto w = PgSinkTypeCompatible(s.field(c).type, {"numeric", -1, 0});
      ASSERT_TRUE(w.ok());
      wires[static_cast<size_t>(c)] = *w;
    }
    if (id == TypeId::kFloat32) wires[static_cast<size_t>(c)] = PgWire::kFloat64;
  }
  auto back = RoundTrip(batch, wires);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  for (int c = 0; c < s.num_fields(); ++c) {
    const Column& a = batch.column(c);
    const Column& b = back->column(c);
    for (int64_t r = 0; r < batch.num_rows(); ++r) {
      ASSERT_EQ(a.IsNull(r), b.IsNull(r));
      if (a.IsNull(r)) continue;
      TypeId id = s.field(c).type.id;
      if (IsInteger(id)) {
        int128_t want = id == TypeId::kUInt64 ? int128_t{a.Value<uint64_t>(r)} : 0;
        if (id != TypeId::kUInt64) {
          switch (id) {
            case TypeId::kInt8: want = a.Value<int8_t>(r); break;
            case TypeId::kInt16: want = a.Value<int16_t>(r); break;
            case TypeId::kInt32: want = a.Value<int32_t>(r); break;
            case TypeId::kInt64: want = a.Value<int64_t>(r); break;
            case TypeId::kUInt8: want = a.Value<uint8_t>(r); break;
            case TypeId::kUInt16: want = a.Value<uint16_t>(r); break;
            case TypeId::kUInt32: want = a.Value<uint32_t>(r); break;
            default: break;
          }
        }
        EXPECT_TRUE(want == b.DecimalValue(r)) << s.field(c).name << " row " << r;
      } else if (id == TypeId::kFloat32) {
        double d = b.Value<double>(r);
        float f = a.Value<float>(r);
        if (f != f) EXPECT_NE(d, d);
        else EXPECT_EQ(static_cast<double>(f), d);
      }
    }
  }
}

TEST(PgCopyWriter, NumericEdgeValues) {
  // Values whose base-10000 groups straddle the decimal point in every way.
  struct Case { int p, s; int128_t v; };
  std::vector<Case> cases = {
      {38, 9, MaxDecimalMagnitude(38)}, {38, 9, -MaxDecimalMagnitude(38)},
      {38, 0, MaxDecimalMagnitude(38)}, {38, 38, MaxDecimalMagnitude(38)},
      {38, 37, -1}, {10, 3, 10000000}, {10, 5, 1}, {5, 1, 0}, {20, 4, 10000},
      {12, 6, 123456789012}, {9, 2, -100}, {38, 1, 10}, {7, 7, 1000000},
  };
  for (const Case& k : cases) {
    auto schema = std::make_shared<Schema>(std::vector<Field>{{"d", DataType::Decimal(k.p, k.s)}});
    BatchBuilder bb(schema);
    bb.column(0).AppendFixed<int128_t>(k.v);
    RecordBatch batch = bb.Finish();
    SCOPED_TRACE("decimal(" + std::to_string(k.p) + "," + std::to_string(k.s) + ")");
    ExpectRoundTrip(batch, {PgWire::kNumeric});
  }
}

TEST(PgCopyWriter, OutOfRangeTemporalsAreErrorsNotWraparounds) {
  auto schema = std::make_shared<Schema>(
      std::vector<Field>{{"d", DataType::Date()}, {"ts", DataType::Timestamp()}});
  {
    BatchBuilder bb(schema);
    bb.column(0).AppendFixed<int32_t>(std::numeric_limits<int32_t>::min());
    bb.column(1).AppendFixed<int64_t>(0);
    std::string out;
    Status st = PgCopyEncoder({PgWire::kDate, PgWire::kTimestamp}).AppendBatch(bb.Finish(), &out);
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("\"d\""), std::string::npos) << st.ToString();
  }
  {
    BatchBuilder bb(schema);
    bb.column(0).AppendFixed<int32_t>(0);
    bb.column(1).AppendFixed<int64_t>(std::numeric_limits<int64_t>::min());
    std::string out;
    Status st = PgCopyEncoder({PgWire::kDate, PgWire::kTimestamp}).AppendBatch(bb.Finish(), &out);
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("\"ts\""), std::string::npos) << st.ToString();
  }
}

TEST(PgCopyWriter, Compatibility) {
  EXPECT_EQ(*PgSinkTypeCompatible(DataType::Int32(), {"int8"}), PgWire::kInt64);
  EXPECT_FALSE(PgSinkTypeCompatible(DataType::Int64(), {"int4"}).ok());
  EXPECT_FALSE(PgSinkTypeCompatible(DataType::UInt64(), {"int8"}).ok());
  EXPECT_EQ(*PgSinkTypeCompatible(DataType::UInt64(), {"numeric", 20, 0}), PgWire::kNumeric);
  EXPECT_FALSE(PgSinkTypeCompatible(DataType::UInt64(), {"numeric", 19, 0}).ok());
  EXPECT_FALSE(PgSinkTypeCompatible(DataType::Decimal(38, 9), {"numeric", 38, 8}).ok());
  EXPECT_FALSE(PgSinkTypeCompatible(DataType::Decimal(38, 9), {"numeric", 30, 9}).ok());
  EXPECT_TRUE(PgSinkTypeCompatible(DataType::Decimal(10, 2), {"numeric", 12, 4}).ok());
  EXPECT_FALSE(PgSinkTypeCompatible(DataType::String(), {"int4"}).ok());
  EXPECT_EQ(*PgSinkTypeCompatible(DataType::String(), {"varchar"}), PgWire::kText);
  EXPECT_FALSE(PgSinkTypeCompatible(DataType::Float64(), {"float4"}).ok());
  EXPECT_FALSE(PgSinkTypeCompatible(DataType::Timestamp(), {"timestamptz"}).ok());
  Status st = PgSinkTypeCompatible(DataType::Int64(), {"int4"}).status();
  EXPECT_NE(st.message().find("int4"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("int64"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace sluice
