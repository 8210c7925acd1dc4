#include "connectors/gen/gen.h"

#include <algorithm>
#include <limits>
#include <string>

#include "core/int128.h"
#include "core/temporal.h"

namespace sluice {
namespace gen {

namespace {

// splitmix64, seeded per row so that a row never depends on its neighbours.
struct Rng {
  uint64_t s;
  uint64_t Next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  int64_t Range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
};

Rng RowRng(uint64_t seed, int64_t row) {
  Rng r{seed * 0xD1B54A32D192ED03ULL ^ static_cast<uint64_t>(row) * 0x9E3779B97F4A7C15ULL};
  r.Next();
  return r;
}

const char* const kWords[] = {"alpha", "Привет, мир", "東京都", "emoji 🚀🔥", "with|pipe",
                              "quote\"inside", "comma,and\nnewline", "tab\there", "back\\slash",
                              "<xml&amp;>", "Ünïcödé", "plain"};
const char* const kCities[] = {"Moscow", "Санкт-Петербург", "Omsk", "東京", "Berlin",
                               "São Paulo", "Kazan", "New York"};

void GenerateMixed(uint64_t seed, int64_t first, int64_t rows, BatchBuilder* bb) {
  std::string name;
  for (int64_t id = first; id < first + rows; ++id) {
    Rng rng = RowRng(seed, id);
    bb->column(0).AppendFixed<int64_t>(id);
    if (id % 50 == 7) {
      bb->column(1).AppendNull();
    } else {
      name = "user_" + std::to_string(id);
      bb->column(1).AppendBytes(name);
    }
    bb->column(2).AppendFixed<int128_t>(static_cast<int128_t>(rng.Range(-10000000, 100000000)));
    // One RNG call per statement: the operands of + are unsequenced in C++,
    // and the generated data must not depend on the compiler.
    const int64_t created_secs = rng.Range(0, 200000000);
    const int64_t created_micros = rng.Range(0, 999999);
    bb->column(3).AppendFixed<int64_t>(1600000000LL * kMicrosPerSecond +
                                       created_secs * kMicrosPerSecond + created_micros);
    bb->column(4).AppendBool(rng.Next() % 3 != 0);
    if (id % 20 == 3) bb->column(5).AppendNull();
    else bb->column(5).AppendFixed<double>(static_cast<double>(rng.Range(0, 10000000)) / 1000.0);
    bb->column(6).AppendFixed<int32_t>(static_cast<int32_t>(rng.Range(-10000, 15000)));
    if (id % 10 == 1) {
      bb->column(7).AppendNull();
    } else {
      char blob[16];
      for (auto& x : blob) x = static_cast<char>(rng.Next());
      bb->column(7).AppendBytes(std::string_view(blob, sizeof(blob)));
    }
    bb->column(8).AppendBytes(kCities[rng.Next() % std::size(kCities)]);
    bb->column(9).AppendFixed<int32_t>(static_cast<int32_t>(rng.Range(0, 1000)));
  }
}

void GenerateFixed(uint64_t seed, int64_t first, int64_t rows, BatchBuilder* bb) {
  for (int64_t id = first; id < first + rows; ++id) {
    Rng rng = RowRng(seed, id);
    bb->column(0).AppendFixed<int64_t>(id);
    bb->column(1).AppendFixed<int32_t>(static_cast<int32_t>(rng.Next() % 1000));
    bb->column(2).AppendFixed<double>(static_cast<double>(rng.Next() % 100000) / 100.0);
    bb->column(3).AppendFixed<int32_t>(static_cast<int32_t>(18000 + rng.Next() % 2000));
    bb->column(4).AppendFixed<int64_t>(1600000000000000LL +
                                       static_cast<int64_t>(rng.Next() % 100000000000ULL));
  }
}

void GenerateAllTypes(uint64_t seed, int64_t first, int64_t rows, BatchBuilder* bb) {
  const int128_t dec38max = MaxDecimalMagnitude(38);
  const int128_t dec18max = MaxDecimalMagnitude(18);
  std::string text;
  for (int64_t r = first; r < first + rows; ++r) {
    Rng rng = RowRng(seed, r);
    // 0 = max extremes, 1 = min extremes, 2 = zeros/empty, 3 = random.
    const int kind = r < 3 ? static_cast<int>(r) : 3;
    const bool nulls = kind == 3 && r % 7 == 3;
    int col = 0;
    auto next = [&]() -> ColumnBuilder* {
      ColumnBuilder* b = &bb->column(col++);
      if (nulls) {
        b->AppendNull();
        return nullptr;
      }
      return b;
    };
    auto pick = [&](auto mx, auto mn, auto zero, auto rnd) {
      return kind == 0 ? mx : kind == 1 ? mn : kind == 2 ? zero : rnd;
    };
    if (auto* b = next()) b->AppendFixed<int8_t>(pick(int8_t{127}, int8_t{-128}, int8_t{0}, static_cast<int8_t>(rng.Next())));
    if (auto* b = next()) b->AppendFixed<int16_t>(pick(int16_t{32767}, int16_t{-32768}, int16_t{0}, static_cast<int16_t>(rng.Next())));
    if (auto* b = next()) b->AppendFixed<int32_t>(pick(std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min(), 0, static_cast<int32_t>(rng.Next())));
    // The key: never NULL, unique.
    bb->column(col++).AppendFixed<int64_t>(pick(std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(), int64_t{0}, r * 1000 + 17));
    if (auto* b = next()) b->AppendFixed<uint8_t>(pick(uint8_t{255}, uint8_t{0}, uint8_t{0}, static_cast<uint8_t>(rng.Next())));
    if (auto* b = next()) b->AppendFixed<uint16_t>(pick(uint16_t{65535}, uint16_t{0}, uint16_t{0}, static_cast<uint16_t>(rng.Next())));
    if (auto* b = next()) b->AppendFixed<uint32_t>(pick(std::numeric_limits<uint32_t>::max(), 0u, 0u, static_cast<uint32_t>(rng.Next())));
    if (auto* b = next()) b->AppendFixed<uint64_t>(pick(std::numeric_limits<uint64_t>::max(), uint64_t{0}, uint64_t{0}, rng.Next()));
    if (auto* b = next()) {
      b->AppendFixed<float>(pick(std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                                 std::numeric_limits<float>::quiet_NaN(),
                                 static_cast<float>(rng.Range(-1000000, 1000000)) / 64.0f));
    }
    if (auto* b = next()) {
      double v = pick(std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest(),
                      std::numeric_limits<double>::quiet_NaN(),
                      static_cast<double>(rng.Range(-1000000000, 1000000000)) / 1024.0 + 0.1);
      if (kind == 3 && r % 11 == 5) v = -std::numeric_limits<double>::infinity();
      b->AppendFixed<double>(v);
    }
    if (auto* b = next()) {
      const uint64_t int_digits = rng.Next() % 1000000000000ULL;
      const uint64_t frac_digits = rng.Next() % 1000000000;
      const int sign = rng.Next() % 2 ? 1 : -1;
      const int128_t rnd = (static_cast<int128_t>(int_digits) * 1000000000 +
                            static_cast<int128_t>(frac_digits)) * sign;
      b->AppendFixed<int128_t>(pick(dec38max, -dec38max, int128_t{0}, rnd));
    }
    if (auto* b = next()) {
      b->AppendFixed<int128_t>(pick(dec18max, -dec18max, int128_t{0}, static_cast<int128_t>(rng.Range(-10000000, 10000000))));
    }
    if (auto* b = next()) b->AppendBool(kind == 0 || (kind == 3 && rng.Next() % 2));
    if (auto* b = next()) {
      if (kind == 2) b->AppendBytes("");
      else b->AppendBytes(kWords[static_cast<size_t>(r) % std::size(kWords)]);
    }
    if (auto* b = next()) {
      char bytes[24];
      const int n = kind == 2 ? 0 : static_cast<int>(rng.Range(1, 24));
      for (int k = 0; k < n; ++k) bytes[k] = static_cast<char>(rng.Next());
      b->AppendBytes(std::string_view(bytes, static_cast<size_t>(n)));
    }
    if (auto* b = next()) b->AppendFixed<int32_t>(pick(kMaxDate, kMinDate, 0, static_cast<int32_t>(rng.Range(-30000, 30000))));
    if (auto* b = next()) b->AppendFixed<int64_t>(pick(kMicrosPerDay - 1, int64_t{0}, int64_t{0}, rng.Range(0, kMicrosPerDay - 1)));
    if (auto* b = next()) {
      const int64_t secs = rng.Range(-2000000000, 4000000000);
      const int64_t micros = rng.Range(0, 999999);
      b->AppendFixed<int64_t>(pick(int64_t{kMaxDate} * kMicrosPerDay + kMicrosPerDay - 1,
                                   int64_t{kMinDate} * kMicrosPerDay, int64_t{0},
                                   secs * kMicrosPerSecond + micros));
    }
    if (auto* b = next()) {
      b->AppendFixed<int64_t>(pick(int64_t{kMaxDate} * kMicrosPerDay, int64_t{kMinDate} * kMicrosPerDay,
                                   int64_t{0}, rng.Range(0, 2000000000) * kMicrosPerSecond));
    }
    if (auto* b = next()) {
      uint8_t u[16];
      for (auto& x : u) x = static_cast<uint8_t>(kind == 2 ? 0 : rng.Next());
      b->AppendFixedBytes(u, 16);
    }
    if (auto* b = next()) {
      text = kind == 2 ? "{}" : "{\"k\":" + std::to_string(r) + ",\"s\":\"Юникод\"}";
      b->AppendBytes(text);
    }
  }
}

}  // namespace

std::shared_ptr<const Schema> SchemaOf(GenSchema which) {
  std::vector<Field> f;
  switch (which) {
    case GenSchema::kMixed:
      f = {
          {"id", DataType::Int64(), false, true, "bigint"},
          {"name", DataType::String()},
          {"amount", DataType::Decimal(18, 2)},
          {"created_at", DataType::TimestampTz("UTC")},
          {"active", DataType::Bool(), false},
          {"score", DataType::Float64()},
          {"birthday", DataType::Date(), false},
          {"payload", DataType::Binary()},
          {"city", DataType::String(), false},
          {"qty", DataType::Int32(), false},
      };
      break;
    case GenSchema::kFixed:
      f = {
          {"id", DataType::Int64(), false, true},
          {"qty", DataType::Int32(), false},
          {"price", DataType::Float64(), false},
          {"day", DataType::Date(), false},
          {"ts", DataType::Timestamp(), false},
      };
      break;
    case GenSchema::kAllTypes:
      f = {
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
          {"dec38", DataType::Decimal(38, 9)},
          {"dec18", DataType::Decimal(18, 2)},
          {"b", DataType::Bool()},
          {"s", DataType::String()},
          {"bin", DataType::Binary()},
          {"d", DataType::Date()},
          {"t", DataType::Time()},
          {"ts", DataType::Timestamp()},
          {"tstz", DataType::TimestampTz("UTC")},
          {"uuid", DataType::Uuid()},
          {"js", DataType::Json()},
      };
      break;
  }
  return std::make_shared<const Schema>(std::move(f));
}

RecordBatch GenerateRows(GenSchema which, uint64_t seed, int64_t first_row, int64_t rows) {
  BatchBuilder bb(SchemaOf(which));
  bb.Reserve(rows);
  switch (which) {
    case GenSchema::kMixed: GenerateMixed(seed, first_row, rows, &bb); break;
    case GenSchema::kFixed: GenerateFixed(seed, first_row, rows, &bb); break;
    case GenSchema::kAllTypes: GenerateAllTypes(seed, first_row, rows, &bb); break;
  }
  return bb.Finish();
}

namespace {

class GenReader final : public SourceReader {
 public:
  GenReader(GenSchema which, uint64_t seed, int64_t begin, int64_t end, int64_t batch_rows)
      : which_(which), seed_(seed), next_(begin), end_(end), batch_rows_(batch_rows) {}

  Result<std::optional<RecordBatch>> Next() override {
    if (next_ >= end_) return std::optional<RecordBatch>();
    const int64_t n = std::min(batch_rows_, end_ - next_);
    RecordBatch batch = GenerateRows(which_, seed_, next_, n);
    next_ += n;
    return std::optional<RecordBatch>(std::move(batch));
  }
  std::string position() const override { return std::to_string(next_); }

 private:
  GenSchema which_;
  uint64_t seed_;
  int64_t next_, end_, batch_rows_;
};

class GenSource final : public Source {
 public:
  GenSource(GenSchema which, std::string schema_name, int64_t rows, uint64_t seed)
      : which_(which), schema_name_(std::move(schema_name)), rows_(rows), seed_(seed),
        schema_(SchemaOf(which)) {}

  Status Open(const SourceOptions& options) override {
    batch_rows_ = std::max<int64_t>(1, options.batch_rows);
    return Status::OK();
  }
  std::shared_ptr<const Schema> schema() const override { return schema_; }

  Result<std::vector<Split>> Plan(int max_splits) override {
    // Splits of at least 64Ki rows: smaller ones cost more than they gain.
    constexpr int64_t kMinSplitRows = 65536;
    int64_t n = std::max<int64_t>(1, std::min<int64_t>(max_splits, rows_ / kMinSplitRows));
    std::vector<Split> splits;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t a = rows_ * i / n, b = rows_ * (i + 1) / n;
      Split s;
      s.index = static_cast<int>(i);
      s.start = std::to_string(a);
      s.end = std::to_string(b);
      s.description = "rows " + s.start + ".." + s.end;
      s.estimated_rows = b - a;
      splits.push_back(std::move(s));
    }
    return splits;
  }

  Result<std::unique_ptr<SourceReader>> OpenSplit(const Split& split) override {
    int64_t a = 0, b = 0;
    try {
      a = std::stoll(split.start);
      b = std::stoll(split.end);
    } catch (...) {
      return Status::InvalidArgument("gen: bad split bounds '" + split.start + "', '" + split.end + "'");
    }
    if (a < 0 || b < a || b > rows_) return Status::InvalidArgument("gen: split out of range");
    return std::unique_ptr<SourceReader>(std::make_unique<GenReader>(which_, seed_, a, b, batch_rows_));
  }

  std::string Fingerprint() const override {
    return "gen:///?rows=" + std::to_string(rows_) + "&seed=" + std::to_string(seed_) +
           "&schema=" + schema_name_;
  }
  std::optional<int64_t> EstimatedRows() const override { return rows_; }

 private:
  GenSchema which_;
  std::string schema_name_;
  int64_t rows_;
  uint64_t seed_;
  std::shared_ptr<const Schema> schema_;
  int64_t batch_rows_ = 65536;
};

}  // namespace
}  // namespace gen

void RegisterGen(Registry* registry) {
  ConnectorInfo info;
  info.scheme = "gen";
  info.summary = "deterministic generated table (gen:///?rows=1000000&seed=1&schema=mixed)";
  info.source_options = {
      {"rows", OptionType::kInt, "1000", "number of rows"},
      {"seed", OptionType::kInt, "1", "seed of the pseudo-random values"},
      {"schema", OptionType::kEnum, "mixed", "which table to generate",
       {"mixed", "all_types", "fixed"}},
  };
  info.make_source = [](const Uri&, const Options& o) -> Result<std::unique_ptr<Source>> {
    const int64_t rows = o.GetInt("rows");
    if (rows < 0) return Status::InvalidArgument("gen source: option 'rows' must be >= 0");
    const std::string name = o.GetString("schema");
    gen::GenSchema which = name == "all_types" ? gen::GenSchema::kAllTypes
                           : name == "fixed"   ? gen::GenSchema::kFixed
                                               : gen::GenSchema::kMixed;
    return std::unique_ptr<Source>(std::make_unique<gen::GenSource>(
        which, name, rows, static_cast<uint64_t>(o.GetInt("seed"))));
  };
  registry->Add(std::move(info));
}

}  // namespace sluice
