// RowsDigest / ContentIdempotencyKey: checked against a naive per-value
// implementation of the definition in docs/FORMAT.md, and for the properties
// the export's idempotency keys rest on.
#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstring>
#include <set>

#include "core/testing.h"
#include "formats/part/part.h"

namespace sluice::part {
namespace {

// ---------------------------------------------------------------------------
// The definition, one value at a time (test oracle; shares no code with
// rows_digest.cc).

void Le(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

std::string Canonical16(XXH128_hash_t h) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  return std::string(reinterpret_cast<const char*>(c.digest), 16);
}

std::string NaiveDigest(const Schema& schema, const std::vector<RecordBatch>& batches) {
  int64_t rows = 0;
  for (const auto& b : batches) rows += b.num_rows();
  std::string total;
  Le(&total, static_cast<uint64_t>(rows), 8);
  Le(&total, static_cast<uint64_t>(schema.num_fields()), 8);
  for (int c = 0; c < schema.num_fields(); ++c) {
    const Field& f = schema.field(c);
    std::string v, l, z;
    int64_t base = 0, nulls = 0;
    for (const auto& b : batches) {
      const Column& col = b.column(c);
      for (int64_t i = 0; i < b.num_rows(); ++i) {
        const bool null = col.IsNull(i);
        if (null) {
          Le(&z, static_cast<uint64_t>(base + i), 8);
          ++nulls;
        }
        if (f.type.id == TypeId::kBool) {
          v.push_back(static_cast<char>(!null && col.BoolValue(i) ? 1 : 0));
        } else if (IsVarWidth(f.type.id)) {
          const std::string_view s = null ? std::string_view() : col.StringValue(i);
          v.append(s);
          Le(&l, s.size(), 4);
        } else {
          const int w = FixedWidth(f.type.id);
          if (null) {
            v.append(static_cast<size_t>(w), '\0');
          } else {
            v.append(reinterpret_cast<const char*>(col.FixedBytes(i, w)), static_cast<size_t>(w));
          }
        }
      }
      base += b.num_rows();
    }
    std::string stream = v + l + z;
    Le(&stream, v.size(), 8);
    Le(&stream, static_cast<uint64_t>(nulls), 8);
    Le(&total, f.name.size(), 8);
    total += f.name;
    const std::string type = f.type.ToString();
    Le(&total, type.size(), 8);
    total += type;
    total += Canonical16(XXH3_128bits(stream.data(), stream.size()));
  }
  const std::string c = Canonical16(XXH3_128bits(total.data(), total.size()));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char ch : c) {
    hex.push_back(kHex[ch >> 4]);
    hex.push_back(kHex[ch & 15]);
  }
  return hex;
}

std::string Digest(const std::vector<RecordBatch>& batches) {
  auto d = RowsDigest(*batches.at(0).schema(), batches);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? *d : std::string();
}

// `batch` cut at the given row offsets (ascending, inside the batch).
std::vector<RecordBatch> Cut(const RecordBatch& batch, std::vector<int64_t> cuts) {
  std::vector<RecordBatch> out;
  int64_t start = 0;
  cuts.push_back(batch.num_rows());
  for (int64_t end : cuts) {
    out.push_back(batch.Slice(start, end - start));
    start = end;
  }
  return out;
}

std::shared_ptr<Buffer> Bytes(const std::vector<uint8_t>& v) {
  return Buffer::Copy(v.data(), static_cast<int64_t>(v.size()));
}

template <typename T>
std::shared_ptr<Buffer> Values(const std::vector<T>& v) {
  return Buffer::Copy(v.data(), static_cast<int64_t>(v.size() * sizeof(T)));
}

// ---------------------------------------------------------------------------

TEST(RowsDigest, MatchesTheDefinitionForEveryType) {
  for (int64_t rows : {0, 1, 7, 8, 63, 64, 65, 200, 5000}) {
    RecordBatch b = testing::AllTypesBatch(rows, 11);
    EXPECT_EQ(Digest({b}), NaiveDigest(*b.schema(), {b})) << rows << " rows";
  }
  RecordBatch m = testing::MixedBatch(10000, 3);
  EXPECT_EQ(Digest({m}), NaiveDigest(*m.schema(), {m}));
  // Several blocks of the scratch path (4096 rows each) with NULLs throughout.
  RecordBatch big = testing::AllTypesBatch(9000, 5);
  EXPECT_EQ(Digest({big}), NaiveDigest(*big.schema(), {big}));
}

TEST(RowsDigest, IndependentOfHowRowsAreCutIntoBatches) {
  RecordBatch b = testing::AllTypesBatch(9000, 17);
  const std::string whole = Digest({b});
  EXPECT_EQ(Digest(Cut(b, {1})), whole);
  EXPECT_EQ(Digest(Cut(b, {3, 64, 65, 1000, 4099, 8191})), whole);
  EXPECT_EQ(Digest(Cut(b, {4096, 8192})), whole);
  // Empty batches change nothing either.
  EXPECT_EQ(Digest({b.Slice(0, 0), b, b.Slice(0, 0)}), whole);
}

TEST(RowsDigest, SameAfterAPartRoundTrip) {
  RecordBatch b = testing::AllTypesBatch(3000, 23);
  for (Compression c : {Compression::kNone, Compression::kZstd}) {
    PartHeader h;
    h.stream_id = "s";
    EncodeOptions o;
    o.compression = c;
    auto bytes = EncodePart(&h, *b.schema(), Cut(b, {1000, 2000}), o);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    auto decoded = DecodePart(Buffer::Copy(bytes->data(), static_cast<int64_t>(bytes->size())), "p");
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(Digest(decoded->batches), Digest({b}));
  }
}

TEST(RowsDigest, IgnoresBytesUnderNullSlotsAndPastTheLastRow) {
  auto schema = std::make_shared<Schema>(std::vector<Field>{
      {"i", DataType::Int32()}, {"b", DataType::Bool()}, {"s", DataType::String()}});
  // Rows: (1, true, "ab"), (NULL, NULL, NULL), (3, false, "c").
  auto make = [&](int32_t under_null, uint8_t bool_garbage, std::vector<int32_t> offsets,
                  std::string data, uint8_t validity_tail) {
    Column i{DataType::Int32(), 3, 1, Bytes({static_cast<uint8_t>(0x05 | validity_tail)}),
             Values<int32_t>({1, under_null, 3}), nullptr};
    Column bo{DataType::Bool(), 3, 1, Bytes({static_cast<uint8_t>(0x05 | validity_tail)}),
              Bytes({static_cast<uint8_t>(0x01 | bool_garbage)}), nullptr};
    Column s{DataType::String(), 3, 1, Bytes({static_cast<uint8_t>(0x05 | validity_tail)}),
             Values<int32_t>(offsets), Buffer::Copy(data.data(), static_cast<int64_t>(data.size()))};
    return RecordBatch(schema, 3, {i, bo, s});
  };
  RecordBatch clean = make(0, 0, {0, 2, 2, 3}, "abc", 0);
  ASSERT_TRUE(clean.Validate().ok());
  const std::string want = Digest({clean});
  EXPECT_EQ(want, NaiveDigest(*schema, {clean}));
  // Garbage value, a set bool bit and 5 bytes of data under the NULL row
  // (Arrow allows a NULL slot to span bytes), bits set past row 3.
  RecordBatch dirty = make(-77, 0x02 | 0xF8, {0, 2, 7, 8}, "abXXXXXc", 0xF8);
  EXPECT_EQ(Digest({dirty}), want);
  // Offsets not starting at 0 (a view into a larger data buffer).
  RecordBatch shifted = make(0, 0, {4, 6, 6, 7}, "....abc", 0);
  EXPECT_EQ(Digest({shifted}), want);
}

// The same rows with garbage under every NULL slot: 0xAB bytes in fixed-width
// slots, set bits in bool slots, and 3 garbage bytes spanned by each NULL
// string, plus set bits past the last row in every bitmap.
RecordBatch Dirty(const RecordBatch& b) {
  std::vector<Column> cols;
  const int64_t n = b.num_rows();
  for (const Column& c : b.columns()) {
    Column d = c;
    if (c.null_count == 0) {
      cols.push_back(d);
      continue;
    }
    std::vector<uint8_t> validity(c.validity->data(), c.validity->data() + bit::BytesFor(n));
    if (n % 8 != 0) validity.back() |= static_cast<uint8_t>(0xFF << (n % 8));
    d.validity = Bytes(validity);
    if (c.type.id == TypeId::kBool) {
      std::vector<uint8_t> v(c.values->data(), c.values->data() + bit::BytesFor(n));
      for (int64_t i = 0; i < n; ++i) {
        if (c.IsNull(i)) bit::Set(v.data(), i);
      }
      if (n % 8 != 0) v.back() |= static_cast<uint8_t>(0xFF << (n % 8));
      d.values = Bytes(v);
    } else if (IsVarWidth(c.type.id)) {
      std::vector<int32_t> off = {0};
      std::string data;
      for (int64_t i = 0; i < n; ++i) {
        data += c.IsNull(i) ? std::string("\x01\x02\x03") : std::string(c.StringValue(i));
        off.push_back(static_cast<int32_t>(data.size()));
      }
      d.values = Values(off);
      d.data = Buffer::Copy(data.data(), static_cast<int64_t>(data.size()));
    } else {
      const int w = FixedWidth(c.type.id);
      std::vector<uint8_t> v(c.values->data(), c.values->data() + n * w);
      for (int64_t i = 0; i < n; ++i) {
        if (c.IsNull(i)) std::memset(v.data() + i * w, 0xAB, static_cast<size_t>(w));
      }
      d.values = Bytes(v);
    }
    cols.push_back(d);
  }
  return RecordBatch(b.schema(), n, std::move(cols));
}

TEST(RowsDigest, GarbageUnderNullsInManyBlocks) {
  RecordBatch clean = testing::AllTypesBatch(9001, 29);
  RecordBatch dirty = Dirty(clean);
  ASSERT_TRUE(dirty.Equals(clean));
  const std::string want = NaiveDigest(*clean.schema(), {clean});
  EXPECT_EQ(Digest({clean}), want);
  EXPECT_EQ(Digest({dirty}), want);
  EXPECT_EQ(Digest({dirty.Slice(0, 4097), dirty.Slice(4097, 4904)}), want);
  RecordBatch mixed = testing::MixedBatch(20000, 4);
  EXPECT_EQ(Digest({Dirty(mixed)}), NaiveDigest(*mixed.schema(), {mixed}));
}

TEST(RowsDigest, AValidityBitmapWithoutNullsIsTheSameAsNone) {
  auto schema = std::make_shared<Schema>(std::vector<Field>{{"i", DataType::Int64()}});
  Column with{DataType::Int64(), 2, 0, Bytes({0x03}), Values<int64_t>({5, 6}), nullptr};
  Column without{DataType::Int64(), 2, 0, nullptr, Values<int64_t>({5, 6}), nullptr};
  EXPECT_EQ(Digest({RecordBatch(schema, 2, {with})}), Digest({RecordBatch(schema, 2, {without})}));
}

TEST(RowsDigest, ChangesWithAnyValueNullOrOrder) {
  auto schema = std::make_shared<Schema>(std::vector<Field>{
      {"i", DataType::Int64()}, {"s", DataType::String()}, {"b", DataType::Bool()}});
  struct Row {
    std::optional<int64_t> i;
    std::optional<std::string> s;
    std::optional<bool> b;
  };
  auto batch = [&](const std::vector<Row>& rows) {
    BatchBuilder bb(schema);
    for (const Row& r : rows) {
      r.i ? bb.column(0).AppendFixed<int64_t>(*r.i) : bb.column(0).AppendNull();
      r.s ? bb.column(1).AppendBytes(*r.s) : bb.column(1).AppendNull();
      r.b ? bb.column(2).AppendBool(*r.b) : bb.column(2).AppendNull();
    }
    return bb.Finish();
  };
  const std::vector<Row> base = {{1, "ab", true}, {2, "c", false}, {3, "", true}};
  std::set<std::string> digests;
  auto add = [&](const std::vector<Row>& rows) {
    const std::string d = Digest({batch(rows)});
    EXPECT_EQ(d, NaiveDigest(*schema, {batch(rows)}));
    EXPECT_TRUE(digests.insert(d).second) << "collision for variant " << digests.size();
  };
  add(base);
  add({{1, "ab", true}, {2, "c", false}, {4, "", true}});                    // a value
  add({{1, "a", true}, {2, "bc", false}, {3, "", true}});                    // bytes move between rows
  add({{1, "ab", true}, {2, "c", false}, {3, std::nullopt, true}});          // "" vs NULL
  add({{1, "ab", true}, {std::nullopt, "c", false}, {3, "", true}});         // NULL vs a value
  add({{1, "ab", true}, {0, "c", false}, {3, "", true}});                    // 0 vs NULL above
  add({{1, "ab", true}, {2, "c", std::nullopt}, {3, "", true}});             // false vs NULL
  add({{2, "c", false}, {1, "ab", true}, {3, "", true}});                    // row order
  add({{1, "ab", true}, {2, "c", false}});                                   // a row fewer
  add({{1, "ab", true}, {2, "c", false}, {3, "", true}, {3, "", true}});     // a row more
  // Same values under another column name.
  auto renamed = std::make_shared<Schema>(std::vector<Field>{
      {"j", DataType::Int64()}, {"s", DataType::String()}, {"b", DataType::Bool()}});
  RecordBatch b = batch(base);
  RecordBatch r(renamed, b.num_rows(), b.columns());
  EXPECT_TRUE(digests.insert(Digest({r})).second);
}

TEST(RowsDigest, RejectsBatchesThatDoNotMatchOrPointOutOfBounds) {
  RecordBatch b = testing::AllTypesBatch(10);
  auto other = testing::MixedSchema();
  auto st = RowsDigest(*other, {b});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.status().message().find("batch 0"), std::string::npos) << st.status().ToString();

  // First and last offsets fine, inner ones past the data buffer (and a
  // NULL slot spanning bytes, so the runs between NULLs are read): an error
  // naming the column, never a read out of bounds.
  auto schema = std::make_shared<Schema>(std::vector<Field>{{"s", DataType::String()}});
  Column s{DataType::String(), 3, 1, Bytes({0x03}), Values<int32_t>({0, 1000, 1001, 2}),
           Buffer::Copy("ab", 2)};
  auto bad = RowsDigest(*schema, {RecordBatch(schema, 3, {s})});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("column 's'"), std::string::npos) << bad.status().ToString();
  // A short values buffer.
  Column shortv{DataType::Int64(), 4, 0, nullptr, Values<int64_t>({1, 2}), nullptr};
  auto ischema = std::make_shared<Schema>(std::vector<Field>{{"i", DataType::Int64()}});
  EXPECT_FALSE(RowsDigest(*ischema, {RecordBatch(ischema, 4, {shortv})}).ok());
}

TEST(ContentIdempotencyKey, SameRowsSamePositionSameKeyOtherwiseDifferent) {
  RecordBatch b = testing::MixedBatch(500, 9);
  const Schema& schema = *b.schema();
  auto key = [&](std::string_view identity, const std::vector<RecordBatch>& batches, int64_t n) {
    auto k = ContentIdempotencyKey(identity, schema, batches, n);
    EXPECT_TRUE(k.ok()) << k.status().ToString();
    return k.ok() ? *k : std::string();
  };
  const std::string k = key("postgres://h/db?table=t", {b}, 3);
  EXPECT_EQ(k.size(), 32u);
  EXPECT_EQ(k, key("postgres://h/db?table=t", Cut(b, {100, 101}), 3));
  EXPECT_NE(k, key("postgres://h/db?table=t", {b}, 4));          // another position
  EXPECT_NE(k, key("postgres://h/db?table=u", {b}, 3));          // another source
  EXPECT_NE(k, key("postgres://h/db?table=t", {b.Slice(1, 499)}, 3));  // other rows
  // The documented composition with IdempotencyKey.
  EXPECT_EQ(k, IdempotencyKey("postgres://h/db?table=t#rows=" + Digest({b}), 3));
}

}  // namespace
}  // namespace sluice::part
