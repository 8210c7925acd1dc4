#include "pipeline/incremental.h"

#include <gtest/gtest.h>

#include <map>

#include "core/temporal.h"

namespace sluice::pipeline {
namespace {

std::shared_ptr<const Schema> TsSchema() {
  return std::make_shared<Schema>(std::vector<Field>{
      {"id", DataType::Int64(), false, true},
      {"v", DataType::String()},
      {"ts", DataType{TypeId::kTimestamp, 0, 0, true, "UTC"}},
  });
}

struct Row {
  int64_t id;
  std::string v;
  std::optional<int64_t> ts;  // micros
};

RecordBatch Make(const std::shared_ptr<const Schema>& schema, const std::vector<Row>& rows) {
  BatchBuilder b(schema);
  for (const Row& r : rows) {
    b.column(0).AppendFixed<int64_t>(r.id);
    b.column(1).AppendBytes(r.v);
    if (r.ts) {
      b.column(2).AppendFixed<int64_t>(*r.ts);
    } else {
      b.column(2).AppendNull();
    }
  }
  return b.Finish();
}

std::vector<int64_t> Ids(const RecordBatch& batch) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < batch.num_rows(); ++i) out.push_back(batch.column(0).Value<int64_t>(i));
  return out;
}

constexpr int64_t kMin = 60LL * 1000000;
const int64_t kT0 = int64_t{DaysFromCivil(2026, 1, 1)} * 86400 * 1000000;

IncrementalOptions Opts(std::string lookback = "5m") {
  IncrementalOptions o;
  o.stream = "s";
  o.key_column = "ts";
  o.lookback = std::move(lookback);
  return o;
}

std::unique_ptr<IncrementalTracker> MakeT(std::shared_ptr<const Schema> schema,
                                          IncrementalOptions o, std::optional<StreamState> prev) {
  auto r = IncrementalTracker::Make(std::move(schema), std::move(o), std::move(prev));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) std::abort();
  return std::move(*r);
}

TEST(ParseDuration, UnitsAndErrors) {
  EXPECT_EQ(*ParseDurationMicros("90s"), 90 * 1000000LL);
  EXPECT_EQ(*ParseDurationMicros("1h30m"), 90 * kMin);
  EXPECT_EQ(*ParseDurationMicros("250ms"), 250000);
  EXPECT_EQ(*ParseDurationMicros("2d"), 2 * 86400 * 1000000LL);
  EXPECT_FALSE(ParseDurationMicros("").ok());
  EXPECT_FALSE(ParseDurationMicros("5").ok());       // no unit
  EXPECT_FALSE(ParseDurationMicros("5 parsecs").ok());
  EXPECT_FALSE(ParseDurationMicros("-5m").ok());
  EXPECT_FALSE(ParseDurationMicros("99999999999999999d").ok());
}

TEST(Incremental, FirstRunKeepsEverythingAndSetsTheWatermark) {
  auto schema = TsSchema();
  auto t = MakeT(schema, Opts(), std::nullopt);
  EXPECT_FALSE(t->lower_bound().has_value());
  auto kept = *t->Filter(Make(schema, {{1, "a", kT0}, {2, "b", kT0 + 10 * kMin}, {3, "c", std::nullopt}}));
  EXPECT_EQ(Ids(kept), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_TRUE(t->advanced());
  StreamState s = t->Final();
  EXPECT_EQ(s.watermark, "2026-01-01T00:10:00Z");
  EXPECT_EQ(s.key_column, "ts");
  EXPECT_EQ(s.key_type, schema->field(2).type.ToString());
}

// The scenario incremental sync exists for: a transaction that started
// earlier commits after a later one was already copied.
TEST(Incremental, LateCommitInsideTheLookbackIsCaughtAndNothingIsDoubled) {
  auto schema = TsSchema();
  auto run1 = MakeT(schema, Opts("5m"), std::nullopt);
  // Row 2 (10:00) is visible; row 3 (09:58) is in a transaction not yet committed.
  (void)*run1->Filter(Make(schema, {{1, "a", kT0}, {2, "b", kT0 + 10 * kMin}}));
  StreamState s1 = run1->Final();

  auto run2 = MakeT(schema, Opts("5m"), s1);
  ASSERT_TRUE(run2->lower_bound().has_value());
  EXPECT_EQ(*run2->lower_bound(), "2026-01-01T00:05:00Z");
  // The source returns everything (no push-down): 1 is outside, 2 is
  // unchanged, 3 is the late commit, 4 is new.
  auto kept = *run2->Filter(Make(schema, {{1, "a", kT0},
                                          {2, "b", kT0 + 10 * kMin},
                                          {3, "late", kT0 + 8 * kMin},
                                          {4, "d", kT0 + 11 * kMin}}));
  EXPECT_EQ(Ids(kept), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(run2->rows_duplicate(), 1);
  EXPECT_EQ(run2->rows_outside(), 1);
  StreamState s2 = run2->Final();
  EXPECT_EQ(s2.watermark, "2026-01-01T00:11:00Z");

  // Nothing new: nothing moves and the state need not change.
  auto run3 = MakeT(schema, Opts("5m"), s2);
  auto again = *run3->Filter(Make(schema, {{2, "b", kT0 + 10 * kMin},
                                           {3, "late", kT0 + 8 * kMin},
                                           {4, "d", kT0 + 11 * kMin}}));
  EXPECT_EQ(again.num_rows(), 0);
  EXPECT_FALSE(run3->advanced());
  EXPECT_EQ(run3->watermark_after(), "2026-01-01T00:11:00Z");
}

TEST(Incremental, ChangedRowInTheWindowGoesThroughAgain) {
  auto schema = TsSchema();
  auto run1 = MakeT(schema, Opts("5m"), std::nullopt);
  (void)*run1->Filter(Make(schema, {{1, "a", kT0 + 10 * kMin}}));
  auto run2 = MakeT(schema, Opts("5m"), run1->Final());
  auto kept = *run2->Filter(Make(schema, {{1, "edited", kT0 + 10 * kMin}}));
  EXPECT_EQ(Ids(kept), (std::vector<int64_t>{1}));
  // ... and once applied it is not applied a third time.
  auto run3 = MakeT(schema, Opts("5m"), run2->Final());
  EXPECT_EQ(run3->Filter(Make(schema, {{1, "edited", kT0 + 10 * kMin}}))->num_rows(), 0);
}

TEST(Incremental, WithoutLookbackTheBoundaryValueIsStillDeduplicated) {
  auto schema = TsSchema();
  auto run1 = MakeT(schema, Opts(""), std::nullopt);
  (void)*run1->Filter(Make(schema, {{1, "a", kT0}, {2, "b", kT0}}));
  auto run2 = MakeT(schema, Opts(""), run1->Final());
  EXPECT_EQ(*run2->lower_bound(), "2026-01-01T00:00:00Z");
  // Row 3 has the same timestamp as the watermark and committed later.
  auto kept = *run2->Filter(Make(schema, {{1, "a", kT0}, {2, "b", kT0}, {3, "c", kT0}}));
  EXPECT_EQ(Ids(kept), (std::vector<int64_t>{3}));
}

TEST(Incremental, NullKeysOnlyOnTheFirstRun) {
  auto schema = TsSchema();
  auto run1 = MakeT(schema, Opts(), std::nullopt);
  (void)*run1->Filter(Make(schema, {{1, "a", kT0}, {2, "n", std::nullopt}}));
  auto run2 = MakeT(schema, Opts(), run1->Final());
  EXPECT_EQ(run2->Filter(Make(schema, {{2, "n", std::nullopt}}))->num_rows(), 0);
  EXPECT_EQ(run2->rows_outside(), 1);
}

TEST(Incremental, WindowDigestsStayBoundedOverALongRun) {
  auto schema = TsSchema();
  auto t = MakeT(schema, Opts("1m"), std::nullopt);
  // 200k rows one second apart: only the last minute's rows are remembered.
  for (int b = 0; b < 20; ++b) {
    std::vector<Row> rows;
    for (int i = 0; i < 10000; ++i) {
      int64_t id = b * 10000 + i;
      rows.push_back({id, "x", kT0 + id * 1000000});
    }
    ASSERT_EQ(t->Filter(Make(schema, rows))->num_rows(), 10000);
  }
  StreamState s = t->Final();
  // 61 rows within [max - 60 s, max], 24 bytes each, plus the 12-byte header.
  EXPECT_EQ(s.digests.size(), 12u + 61u * 24u);
}

TEST(Incremental, IntegerKeysAndWholeRowIdentityWithoutAPrimaryKey) {
  auto schema = std::make_shared<Schema>(std::vector<Field>{{"seq", DataType::Int32()},
                                                            {"v", DataType::String()}});
  IncrementalOptions o;
  o.stream = "s";
  o.key_column = "seq";
  o.lookback = "10";
  auto run1 = MakeT(schema, o, std::nullopt);
  BatchBuilder b(schema);
  for (int i = 1; i <= 100; ++i) {
    b.column(0).AppendFixed<int32_t>(i);
    b.column(1).AppendBytes("v");
  }
  (void)*run1->Filter(b.Finish());
  auto s1 = run1->Final();
  EXPECT_EQ(s1.watermark, "100");
  auto run2 = MakeT(schema, o, s1);
  EXPECT_EQ(*run2->lower_bound(), "90");
  BatchBuilder b2(schema);
  for (int i : {95, 95, 101}) {  // 95 again (same row), and a second identical 95 row
    b2.column(0).AppendFixed<int32_t>(i);
    b2.column(1).AppendBytes("v");
  }
  // Without a key, identity is the whole row: both copies of (95, v) match
  // the applied one. A documented limit: identical rows are one row.
  EXPECT_EQ(run2->Filter(b2.Finish())->num_rows(), 1);
  o.lookback = "5m";
  EXPECT_FALSE(IncrementalTracker::Make(schema, o, std::nullopt).ok());
}

TEST(Incremental, BadOptionsAndStatesAreClearErrors) {
  auto schema = TsSchema();
  IncrementalOptions o = Opts();
  o.key_column = "nope";
  auto r = IncrementalTracker::Make(schema, o, std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("\"nope\" is not among"), std::string::npos);
  o.key_column = "v";
  r = IncrementalTracker::Make(schema, o, std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("must be an integer, date or timestamp"), std::string::npos);

  auto good = MakeT(schema, Opts(), std::nullopt);
  (void)*good->Filter(Make(schema, {{1, "a", kT0}}));
  StreamState s = good->Final();
  StreamState other = s;
  other.key_column = "id";
  r = IncrementalTracker::Make(schema, Opts(), other);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("written for the key column \"id\""), std::string::npos);
  StreamState corrupt = s;
  corrupt.digests.resize(corrupt.digests.size() - 1);
  r = IncrementalTracker::Make(schema, Opts(), corrupt);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos);
  corrupt = s;
  corrupt.digests[0] = 'X';
  EXPECT_FALSE(IncrementalTracker::Make(schema, Opts(), corrupt).ok());
  corrupt = s;
  corrupt.watermark = "yesterday";
  EXPECT_FALSE(IncrementalTracker::Make(schema, Opts(), corrupt).ok());
}

}  // namespace
}  // namespace sluice::pipeline
