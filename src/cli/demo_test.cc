#include "cli/demo.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <xxhash.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "core/temp_dir.h"

namespace sluice::cli {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;

// Creates `path` and runs `sql` in it with the plain C API.
void MakeDb(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string message = err != nullptr ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

std::string Digest(const std::string& path, const std::string& table = "t") {
  auto d = DigestSqliteTable(path, table);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? d->checksum : "";
}

constexpr const char* kTable =
    "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, b BLOB, r REAL, d DECIMAL(18,2));";

TEST(DemoDigest, SameContentInAnyInsertOrderGivesTheSameDigest) {
  TempDir tmp;
  MakeDb(tmp.sub("a.db"), std::string(kTable) +
                              "INSERT INTO t VALUES (1, 'Привет', x'00ff', 1.5, 12.34);"
                              "INSERT INTO t VALUES (2, NULL, NULL, NULL, 7);"
                              "INSERT INTO t VALUES (3, '東京 🚀', x'', -0.25, NULL);");
  MakeDb(tmp.sub("b.db"), std::string(kTable) +
                              "INSERT INTO t VALUES (3, '東京 🚀', x'', -0.25, NULL);"
                              "INSERT INTO t VALUES (1, 'Привет', x'00ff', 1.5, 12.34);"
                              "INSERT INTO t VALUES (2, NULL, NULL, NULL, 7);");
  auto a = DigestSqliteTable(tmp.sub("a.db"), "t");
  auto b = DigestSqliteTable(tmp.sub("b.db"), "t");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(a->rows, 3);
  EXPECT_EQ(b->rows, 3);
  EXPECT_EQ(a->checksum, b->checksum);
  EXPECT_EQ(a->checksum.rfind("xxh3-128:", 0), 0u);
  EXPECT_EQ(a->checksum.size(), 9u + 32u);
}

TEST(DemoDigest, DetectsEveryKindOfDifference) {
  TempDir tmp;
  const std::string base = std::string(kTable) + "INSERT INTO t VALUES (1, 'x', x'01', 1.5, 2);"
                                                 "INSERT INTO t VALUES (2, '', NULL, 0.5, 3);";
  MakeDb(tmp.sub("base.db"), base);
  const std::string reference = Digest(tmp.sub("base.db"));
  struct Variant {
    const char* name;
    std::string sql;
  };
  const Variant variants[] = {
      {"changed text", std::string(kTable) + "INSERT INTO t VALUES (1, 'y', x'01', 1.5, 2);"
                                             "INSERT INTO t VALUES (2, '', NULL, 0.5, 3);"},
      {"empty text vs NULL", std::string(kTable) + "INSERT INTO t VALUES (1, 'x', x'01', 1.5, 2);"
                                                   "INSERT INTO t VALUES (2, NULL, NULL, 0.5, 3);"},
      {"NULL vs empty blob", std::string(kTable) + "INSERT INTO t VALUES (1, 'x', x'01', 1.5, 2);"
                                                   "INSERT INTO t VALUES (2, '', x'', 0.5, 3);"},
      {"integer vs blob of its digits", std::string(kTable) + "INSERT INTO t VALUES (1, 'x', x'01', 1.5, CAST('2' AS BLOB));"
                                                              "INSERT INTO t VALUES (2, '', NULL, 0.5, 3);"},
      {"changed real", std::string(kTable) + "INSERT INTO t VALUES (1, 'x', x'01', 1.5, 2);"
                                             "INSERT INTO t VALUES (2, '', NULL, 0.25, 3);"},
      {"text vs blob storage", std::string(kTable) + "INSERT INTO t VALUES (1, CAST(x'78' AS BLOB), x'01', 1.5, 2);"
                                                     "INSERT INTO t VALUES (2, '', NULL, 0.5, 3);"},
      {"missing row", std::string(kTable) + "INSERT INTO t VALUES (1, 'x', x'01', 1.5, 2);"},
      {"extra row", base + "INSERT INTO t VALUES (3, NULL, NULL, NULL, NULL);"},
      {"different key", std::string(kTable) + "INSERT INTO t VALUES (1, 'x', x'01', 1.5, 2);"
                                              "INSERT INTO t VALUES (5, '', NULL, 0.5, 3);"},
      {"renamed column",
       "CREATE TABLE t (id INTEGER PRIMARY KEY, s2 TEXT, b BLOB, r REAL, d DECIMAL(18,2));"
       "INSERT INTO t VALUES (1, 'x', x'01', 1.5, 2); INSERT INTO t VALUES (2, '', NULL, 0.5, 3);"},
      {"other declared type",
       "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, b BLOB, r REAL, d DECIMAL(38,9));"
       "INSERT INTO t VALUES (1, 'x', x'01', 1.5, 2); INSERT INTO t VALUES (2, '', NULL, 0.5, 3);"},
  };
  int i = 0;
  for (const auto& v : variants) {
    const std::string path = tmp.sub("v" + std::to_string(i++) + ".db");
    MakeDb(path, v.sql);
    EXPECT_NE(Digest(path), reference) << v.name;
  }
}

TEST(DemoDigest, TableWithoutKeyIsOrderedByAllColumns) {
  TempDir tmp;
  MakeDb(tmp.sub("a.db"),
         "CREATE TABLE t (a INT, b TEXT); INSERT INTO t VALUES (2, 'b'), (1, 'a'), (1, 'c');");
  MakeDb(tmp.sub("b.db"),
         "CREATE TABLE t (a INT, b TEXT); INSERT INTO t VALUES (1, 'c'), (1, 'a'), (2, 'b');");
  EXPECT_EQ(Digest(tmp.sub("a.db")), Digest(tmp.sub("b.db")));
}

// The documented encoding, rebuilt here by hand for a one-row table.
TEST(DemoDigest, FollowsTheDocumentedEncoding) {
  TempDir tmp;
  MakeDb(tmp.sub("a.db"),
         "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, r REAL, n INT);"
         "INSERT INTO t VALUES (-2, 'hé', 0.5, NULL);");
  std::string bytes = "sluice-table-digest-v1";
  auto u64 = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>(v >> (8 * i)));
  };
  auto str = [&](const std::string& s) {
    u64(s.size());
    bytes += s;
  };
  str("id"), str("INTEGER"), str("s"), str("TEXT"), str("r"), str("REAL"), str("n"), str("INT");
  u64(4);
  bytes.push_back(SQLITE_INTEGER);
  u64(static_cast<uint64_t>(int64_t{-2}));
  bytes.push_back(SQLITE_TEXT);
  str("hé");
  bytes.push_back(SQLITE_FLOAT);
  u64(0x3FE0000000000000ULL);  // 0.5
  bytes.push_back(SQLITE_NULL);
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits(bytes.data(), bytes.size()));
  std::string expected = "xxh3-128:";
  for (unsigned char b : c.digest) {
    char hex[3];
    std::snprintf(hex, sizeof(hex), "%02x", b);
    expected += hex;
  }
  EXPECT_EQ(Digest(tmp.sub("a.db")), expected);
}

TEST(DemoDigest, MissingTableOrFileIsAnError) {
  TempDir tmp;
  MakeDb(tmp.sub("a.db"), kTable);
  auto missing_table = DigestSqliteTable(tmp.sub("a.db"), "nope");
  ASSERT_FALSE(missing_table.ok());
  EXPECT_EQ(missing_table.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing_table.status().message().find("a.db"), std::string::npos);
  EXPECT_FALSE(DigestSqliteTable(tmp.sub("none.db"), "t").ok());
  // Not a database at all.
  FILE* f = std::fopen(tmp.sub("junk.db").c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs("this is not an SQLite file, just some bytes of text padding it out", f);
  std::fclose(f);
  EXPECT_FALSE(DigestSqliteTable(tmp.sub("junk.db"), "t").ok());
}

TEST(DemoDigest, StopFlagCancels) {
  TempDir tmp;
  MakeDb(tmp.sub("a.db"),
         "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT);"
         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
         "INSERT INTO t SELECT i, printf('%0100d', i) FROM n;");
  std::atomic<bool> stop{true};
  auto d = DigestSqliteTable(tmp.sub("a.db"), "t", &stop);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kCancelled);
}

std::string ReadAll(FILE* f) {
  std::rewind(f);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  return out;
}

TEST(DemoRun, SmallRunMatchesAndCleansUp) {
  TempDir tmp;
  DemoOptions o;
  o.rows = 3000;
  o.workers = 2;
  o.dir = tmp.sub("run");
  o.cleanup = true;
  o.quiet = true;
  o.progress = pipeline::ProgressMode::kNever;
  o.part_bytes = 64 * 1024;  // several parts
  FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  const int code = RunDemo(o, out);
  const std::string text = ReadAll(out);
  std::fclose(out);
  EXPECT_EQ(code, 0) << text;
  EXPECT_NE(text.find("Result:          MATCH\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Source Rows:     3000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Target Rows:     3000\n"), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(o.dir)) << "--cleanup leaves nothing behind";
}

TEST(DemoRun, RefusesADirectoryHoldingAnEarlierRun) {
  TempDir tmp;
  MakeDb(tmp.sub("source.db"), kTable);
  DemoOptions o;
  o.rows = 10;
  o.dir = tmp.path();
  o.quiet = true;
  o.progress = pipeline::ProgressMode::kNever;
  FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(RunDemo(o, out), 2);
  std::fclose(out);
  EXPECT_TRUE(fs::exists(tmp.sub("source.db")));
  EXPECT_FALSE(fs::exists(tmp.sub("parts")));
}

}  // namespace
}  // namespace sluice::cli
