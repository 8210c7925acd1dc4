#include "core/testing.h"

#include <cstring>
#include <limits>
#include <string>

#include "core/temporal.h"

namespace sluice::testing {

namespace {
struct Rng {
  uint64_t s;
  uint64_t Next() {  // splitmix64
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  int64_t Range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
};

const char* const kWords[] = {"alpha", "Привет, мир", "東京都", "emoji 🚀🔥", "with|pipe",
                              "quote\"inside", "comma,and\nnewline", "tab\there", "back\\slash",
                              "<xml&amp;>", "Ünïcödé", "plain"};
}  // namespace

std::shared_ptr<const Schema> AllTypesSchema() {
  std::vector<Field> f = {
      {"i8", DataType::Int8()},
      {"i16", DataType::Int16()},
      {"i32", DataType::Int32()},
      {"i64", DataType::Int64(), false, true, "bigint"},
      {"u8", DataType::UInt8()},
      {"u16", DataType::UInt16()},
      {"u32", DataType::UInt32()},
      {"u64", DataType::UInt64()},
      {"f32", DataType::Float32()},
      {"f64", DataType::Float64()},
      {"dec38", DataType::Decimal(38, 9), true, false, "numeric(38,9)"},
      {"dec18", DataType::Decimal(18, 2)},
      {"b", DataType::Bool()},
      {"s", DataType::String(), true, false, "text"},
      {"bin", DataType::Binary()},
      {"d", DataType::Date()},
      {"t", DataType::Time()},
      {"ts", DataType::Timestamp()},
      {"tstz", DataType::TimestampTz("UTC")},
      {"uuid", DataType::Uuid()},
      {"js", DataType::Json()},
  };
  return std::make_shared<const Schema>(std::move(f));
}

RecordBatch AllTypesBatch(int64_t rows, uint64_t seed) {
  auto schema = AllTypesSchema();
  BatchBuilder bb(schema);
  Rng rng{seed};
  const int128_t dec38max = MaxDecimalMagnitude(38);
  for (int64_t r = 0; r < rows; ++r) {
    // Row kinds: 0 = max extremes, 1 = min extremes, 2 = zeros/empty, 3+ = random;
    // every 7th random row is all-NULL (except the key).
    int kind = r < 3 ? static_cast<int>(r) : 3;
    bool nulls = kind == 3 && r % 7 == 3;
    auto& c = bb;
    int col = 0;
    auto null_or = [&](auto&& fn) {
      if (nulls) c.column(col).AppendNull();
      else fn(c.column(col));
      ++col;
    };
    auto pick = [&](auto mx, auto mn, auto zero, auto rnd) {
      return kind == 0 ? mx : kind == 1 ? mn : kind == 2 ? zero : rnd;
    };
    null_or([&](ColumnBuilder& b) { b.AppendFixed<int8_t>(pick(int8_t{127}, int8_t{-128}, int8_t{0}, static_cast<int8_t>(rng.Next()))); });
    null_or([&](ColumnBuilder& b) { b.AppendFixed<int16_t>(pick(int16_t{32767}, int16_t{-32768}, int16_t{0}, static_cast<int16_t>(rng.Next()))); });
    null_or([&](ColumnBuilder& b) { b.AppendFixed<int32_t>(pick(std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min(), 0, static_cast<int32_t>(rng.Next()))); });
    // key: never null, unique
    c.column(col++).AppendFixed<int64_t>(pick(std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(), int64_t{0}, r * 1000 + 17));
    null_or([&](ColumnBuilder& b) { b.AppendFixed<uint8_t>(pick(uint8_t{255}, uint8_t{0}, uint8_t{0}, static_cast<uint8_t>(rng.Next()))); });
    null_or([&](ColumnBuilder& b) { b.AppendFixed<uint16_t>(pick(uint16_t{65535}, uint16_t{0}, uint16_t{0}, static_cast<uint16_t>(rng.Next()))); });
    null_or([&](ColumnBuilder& b) { b.AppendFixed<uint32_t>(pick(std::numeric_limits<uint32_t>::max(), 0u, 0u, static_cast<uint32_t>(rng.Next()))); });
    null_or([&](ColumnBuilder& b) { b.AppendFixed<uint64_t>(pick(std::numeric_limits<uint64_t>::max(), uint64_t{0}, uint64_t{0}, rng.Next())); });
    null_or([&](ColumnBuilder& b) {
      float v = pick(std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                     std::numeric_limits<float>::quiet_NaN(), static_cast<float>(rng.Range(-1000000, 1000000)) / 64.0f);
      b.AppendFixed<float>(v);
    });
    null_or([&](ColumnBuilder& b) {
      double v = pick(std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest(),
                      std::numeric_limits<double>::quiet_NaN(),
                      static_cast<double>(rng.Range(-1000000000, 1000000000)) / 1024.0 + 0.1);
      if (kind == 3 && r % 11 == 5) v = -std::numeric_limits<double>::infinity();
      b.AppendFixed<double>(v);
    });
    null_or([&](ColumnBuilder& b) {
      int128_t rnd = (static_cast<int128_t>(rng.Next() % 1000000000000ULL) * 1000000000 +
                      static_cast<int128_t>(rng.Next() % 1000000000)) * (rng.Next() % 2 ? 1 : -1);
      b.AppendFixed<int128_t>(pick(dec38max, -dec38max, int128_t{0}, rnd));
    });
    null_or([&](ColumnBuilder& b) {
      b.AppendFixed<int128_t>(pick(MaxDecimalMagnitude(18), -MaxDecimalMagnitude(18), int128_t{0},
                                   static_cast<int128_t>(rng.Range(-10000000, 10000000))));
    });
    null_or([&](ColumnBuilder& b) { b.AppendBool(kind == 0 || (kind == 3 && rng.Next() % 2)); });
    null_or([&](ColumnBuilder& b) {
      if (kind == 2) b.AppendBytes("");
      else b.AppendBytes(kWords[static_cast<size_t>(r) % std::size(kWords)]);
    });
    null_or([&](ColumnBuilder& b) {
      std::string bytes;
      int n = kind == 2 ? 0 : static_cast<int>(rng.Range(1, 24));
      for (int k = 0; k < n; ++k) bytes.push_back(static_cast<char>(rng.Next()));
      b.AppendBytes(bytes);
    });
    null_or([&](ColumnBuilder& b) { b.AppendFixed<int32_t>(pick(kMaxDate, kMinDate, 0, static_cast<int32_t>(rng.Range(-30000, 30000)))); });
    null_or([&](ColumnBuilder& b) { b.AppendFixed<int64_t>(pick(kMicrosPerDay - 1, int64_t{0}, int64_t{0}, rng.Range(0, kMicrosPerDay - 1))); });
    null_or([&](ColumnBuilder& b) {
      b.AppendFixed<int64_t>(pick(int64_t{kMaxDate} * kMicrosPerDay + kMicrosPerDay - 1,
                                  int64_t{kMinDate} * kMicrosPerDay, int64_t{0},
                                  rng.Range(-2000000000, 4000000000) * kMicrosPerSecond + rng.Range(0, 999999)));
    });
    null_or([&](ColumnBuilder& b) {
      b.AppendFixed<int64_t>(pick(int64_t{kMaxDate} * kMicrosPerDay, int64_t{kMinDate} * kMicrosPerDay,
                                  int64_t{0}, rng.Range(0, 2000000000) * kMicrosPerSecond));
    });
    null_or([&](ColumnBuilder& b) {
      uint8_t u[16];
      for (auto& x : u) x = static_cast<uint8_t>(kind == 2 ? 0 : rng.Next());
      b.AppendFixedBytes(u, 16);
    });
    null_or([&](ColumnBuilder& b) {
      b.AppendBytes(kind == 2 ? "{}" : "{\"k\":" + std::to_string(r) + ",\"s\":\"Юникод\"}");
    });
  }
  return bb.Finish();
}

std::shared_ptr<const Schema> MixedSchema() {
  std::vector<Field> f = {
      {"id", DataType::Int64(), false, true, "bigint"},
      {"name", DataType::String()},
      {"amount", DataType::Decimal(18, 2)},
      {"created_at", DataType::TimestampTz("UTC")},
      {"active", DataType::Bool()},
      {"score", DataType::Float64()},
      {"birthday", DataType::Date()},
      {"payload", DataType::Binary()},
      {"city", DataType::String()},
      {"qty", DataType::Int32()},
  };
  return std::make_shared<const Schema>(std::move(f));
}

RecordBatch MixedBatch(int64_t rows, uint64_t seed, int64_t first_id) {
  static const char* const kCities[] = {"Moscow", "Санкт-Петербург", "Omsk", "東京", "Berlin",
                                        "São Paulo", "Kazan", "New York"};
  BatchBuilder bb(MixedSchema());
  bb.Reserve(rows);
  Rng rng{seed};
  std::string name;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t id = first_id + r;
    bb.column(0).AppendFixed<int64_t>(id);
    name = "user_" + std::to_string(id);
    if (id % 50 == 7) bb.column(1).AppendNull();
    else bb.column(1).AppendBytes(name);
    bb.column(2).AppendFixed<int128_t>(static_cast<int128_t>(rng.Range(-10000000, 100000000)));
    bb.column(3).AppendFixed<int64_t>(1600000000LL * kMicrosPerSecond + rng.Range(0, 200000000) * kMicrosPerSecond);
    bb.column(4).AppendBool(rng.Next() % 3 != 0);
    if (id % 20 == 3) bb.column(5).AppendNull();
    else bb.column(5).AppendFixed<double>(static_cast<double>(rng.Range(0, 10000000)) / 1000.0);
    bb.column(6).AppendFixed<int32_t>(static_cast<int32_t>(rng.Range(-10000, 15000)));
    if (id % 10 == 1) {
      bb.column(7).AppendNull();
    } else {
      char blob[16];
      for (auto& x : blob) x = static_cast<char>(rng.Next());
      bb.column(7).AppendBytes(std::string_view(blob, 16));
    }
    bb.column(8).AppendBytes(kCities[rng.Next() % std::size(kCities)]);
    bb.column(9).AppendFixed<int32_t>(static_cast<int32_t>(rng.Range(0, 1000)));
  }
  return bb.Finish();
}

std::shared_ptr<const Schema> FixedWidthSchema() {
  std::vector<Field> f = {
      {"id", DataType::Int64(), false, true},
      {"qty", DataType::Int32(), false},
      {"price", DataType::Float64(), false},
      {"day", DataType::Date(), false},
      {"ts", DataType::Timestamp(), false},
  };
  return std::make_shared<const Schema>(std::move(f));
}

RecordBatch FixedWidthBatch(int64_t rows, uint64_t seed) {
  BatchBuilder bb(FixedWidthSchema());
  bb.Reserve(rows);
  Rng rng{seed};
  for (int64_t r = 0; r < rows; ++r) {
    bb.column(0).AppendFixed<int64_t>(r);
    bb.column(1).AppendFixed<int32_t>(static_cast<int32_t>(rng.Next() % 1000));
    bb.column(2).AppendFixed<double>(static_cast<double>(rng.Next() % 100000) / 100.0);
    bb.column(3).AppendFixed<int32_t>(static_cast<int32_t>(18000 + rng.Next() % 2000));
    bb.column(4).AppendFixed<int64_t>(1600000000000000LL + static_cast<int64_t>(rng.Next() % 100000000000ULL));
  }
  return bb.Finish();
}

RecordBatch WithPhantomNulls(const RecordBatch& batch) {
  std::vector<Column> cols = batch.columns();
  for (Column& c : cols) {
    if (c.null_count != 0) continue;
    auto validity = Buffer::Allocate((batch.num_rows() + 7) / 8);
    std::memset(validity->mutable_data(), 0xFF, static_cast<size_t>(validity->size()));
    c.validity = validity;
    c.null_count = 1;
  }
  return RecordBatch(batch.schema(), batch.num_rows(), std::move(cols));
}

}  // namespace sluice::testing
