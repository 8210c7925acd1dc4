#include "pipeline/stats.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "pipeline/progress.h"

namespace sluice::pipeline {
namespace {

simdjson::dom::element ParseJson(simdjson::dom::parser& parser, const std::string& json) {
  auto doc = parser.parse(json);
  EXPECT_FALSE(doc.error()) << "not valid JSON: " << json;
  return doc.value_unsafe();
}

RunStats SampleStats() {
  RunStats s;
  s.command = "export";
  s.output_type = "parts (directory)";
  s.source = "gen:///?rows=10000";
  s.destination = "parts:///tmp/out";
  s.rows = 10000;
  s.parts = 6;
  s.bytes = 5'240'000;
  s.duration_s = 0.125;
  s.first_part_ms = 12.25;
  s.peak_rss_bytes = 23'100'000;
  s.duplicates = 2;
  s.duplicate_rows = 300;
  return s;
}

TEST(RunStats, JsonHasTheRequiredKeysWithConsistentValues) {
  RunStats s = SampleStats();
  simdjson::dom::parser parser;
  std::string json = s.ToJson();
  auto doc = ParseJson(parser, json);
  for (const char* key : {"rows", "parts", "bytes", "duration_s", "first_part_ms", "rows_per_s",
                          "peak_rss_bytes", "errors", "skipped_parts", "duplicates"}) {
    EXPECT_FALSE(doc[key].error()) << "missing key " << key;
  }
  EXPECT_EQ(int64_t(doc["rows"].get_int64()), 10000);
  EXPECT_EQ(int64_t(doc["parts"].get_int64()), 6);
  EXPECT_EQ(int64_t(doc["bytes"].get_int64()), 5240000);
  EXPECT_DOUBLE_EQ(double(doc["duration_s"].get_double()), 0.125);
  EXPECT_DOUBLE_EQ(double(doc["first_part_ms"].get_double()), 12.25);
  EXPECT_DOUBLE_EQ(double(doc["rows_per_s"].get_double()), 80000.0);  // 10000 / 0.125
  EXPECT_EQ(int64_t(doc["peak_rss_bytes"].get_int64()), 23100000);
  EXPECT_EQ(int64_t(doc["errors"].get_int64()), 0);
  EXPECT_EQ(int64_t(doc["duplicates"].get_int64()), 2);
  EXPECT_EQ(std::string_view(doc["destination"].get_string()), "parts:///tmp/out");
  EXPECT_FALSE(bool(doc["cancelled"].get_bool()));
}

TEST(RunStats, NoPartMeansNullFirstPartAndZeroRate) {
  RunStats s;
  s.command = "import";
  simdjson::dom::parser parser;
  auto doc = ParseJson(parser, s.ToJson());
  EXPECT_TRUE(doc["first_part_ms"].is_null());
  EXPECT_EQ(double(doc["rows_per_s"].get_double()), 0.0);
}

TEST(RunStats, JsonEscapesHostileStrings) {
  RunStats s;
  s.error = std::string("quote\" backslash\\ newline\n tab\t ctl\x01 bad utf8 \xff\xfe end");
  s.skipped = {"/tmp/a \"b\".part", "Привет.part"};
  simdjson::dom::parser parser;
  auto doc = ParseJson(parser, s.ToJson());
  std::string_view err = doc["error"].get_string();
  EXPECT_NE(err.find("quote\" backslash\\ newline\n tab\t ctl\x01"), std::string_view::npos);
  EXPECT_NE(err.find("\xEF\xBF\xBD"), std::string_view::npos);  // U+FFFD for invalid bytes
  auto arr = doc["skipped"].get_array();
  ASSERT_FALSE(arr.error());
  std::vector<std::string> names;
  for (auto e : arr.value_unsafe()) names.emplace_back(std::string_view(e.get_string()));
  EXPECT_EQ(names, s.skipped);
}

TEST(RunStats, TableLayout) {
  RunStats s = SampleStats();
  const std::string t = s.ToTable();
  EXPECT_EQ(t.rfind("--- Export Results ---\n", 0), 0u) << t;
  EXPECT_NE(t.find("\nOutput Type:     parts (directory)\n"), std::string::npos) << t;
  EXPECT_NE(t.find("\nTotal Parts:     6\n"), std::string::npos) << t;
  EXPECT_NE(t.find("\nTotal Rows:      10000\n"), std::string::npos) << t;
  EXPECT_NE(t.find("\nDuration:        125ms\n"), std::string::npos) << t;
  EXPECT_NE(t.find("\nFirst Part:      12ms\n"), std::string::npos) << t;
  EXPECT_NE(t.find("\nRows/s:          80000\n"), std::string::npos) << t;
  EXPECT_NE(t.find("\nMB/s:            41.9\n"), std::string::npos) << t;  // 5.24 MB / 0.125 s
  EXPECT_NE(t.find("\nErrors:          0\n"), std::string::npos) << t;
  EXPECT_NE(t.find("\nPeak RSS:        23.1 MB\n"), std::string::npos) << t;
}

TEST(RunStats, Durations) {
  EXPECT_EQ(FormatDuration(0.127), "127ms");
  EXPECT_EQ(FormatDuration(4.5), "4.50s");
  EXPECT_EQ(FormatDuration(187), "3m07s");
  EXPECT_EQ(FormatDuration(3723), "1h02m03s");
  EXPECT_EQ(FormatMegabytes(23'100'000), "23.1 MB");
}

TEST(RunStats, PeakRssIsPositive) { EXPECT_GT(PeakRssBytes(), 1 << 20); }

TEST(Progress, LineShowsRateAndEta) {
  ProgressSnapshot s;
  s.rows = 500000;
  s.parts = 12;
  s.bytes = 42'000'000;
  s.elapsed_s = 2.0;
  s.total_rows = 1000000;
  const std::string line = ProgressReporter::FormatLine(s);
  EXPECT_NE(line.find("500,000 rows (50%)"), std::string::npos) << line;
  EXPECT_NE(line.find("250,000 rows/s"), std::string::npos) << line;
  EXPECT_NE(line.find("12 parts"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 2.00s"), std::string::npos) << line;  // 500000 rows left at 250000/s
  s.total_rows.reset();
  EXPECT_EQ(ProgressReporter::FormatLine(s).find("ETA"), std::string::npos);
}

}  // namespace
}  // namespace sluice::pipeline
