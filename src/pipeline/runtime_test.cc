#include "pipeline/runtime.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "connectors/gen/gen.h"
#include "connectors/parts/parts.h"
#include "core/io.h"
#include "core/log.h"
#include "core/temp_dir.h"

namespace sluice::pipeline {
namespace {

namespace fs = std::filesystem;

// Keep the test output readable: the runtime logs at info level otherwise.
const bool kQuietLogs = [] {
  SetLogLevel(LogLevel::kError);
  return true;
}();

using testing::TempDir;

// ---------------------------------------------------------------------------
// An in-memory sink with a ledger and fault injection.

struct MemoryStore {
  struct Applied {
    std::string stream_id;
    int64_t part_number = 0;
    int64_t rows = 0;
    std::vector<RecordBatch> batches;
  };
  std::mutex mu;
  std::shared_ptr<const Schema> schema;
  std::map<std::string, Applied> ledger;  // part id -> what was applied
  std::set<int64_t> fail_part_numbers;    // ApplyPart fails with InvalidData for these
  int transient_failures = 0;             // ApplyPart fails with Retryable this many times first
  // > 0: writers group parts (SinkWriter::ApplyParts), up to this many per
  // group, applied together at the group's end (as ClickHouse's grouped
  // INSERT): a failure applies nothing of the group.
  int group_parts = 0;
  std::vector<int> group_sizes;  // parts taken by each ApplyParts call
  // ApplyParts fails with Retryable this many times, after taking two parts
  // (a connection lost in the middle of a grouped write: nothing applied).
  int transient_group_failures = 0;
  int opens = 0, commits = 0, closes = 0;
  int64_t ledger_rows() {
    std::lock_guard<std::mutex> lock(mu);
    int64_t n = 0;
    for (auto& [id, a] : ledger) n += a.rows;
    return n;
  }
  std::vector<RecordBatch> all_batches() {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<RecordBatch> out;
    for (auto& [id, a] : ledger) out.insert(out.end(), a.batches.begin(), a.batches.end());
    return out;
  }
};

class MemoryWriter final : public SinkWriter {
 public:
  explicit MemoryWriter(std::shared_ptr<MemoryStore> store) : store_(std::move(store)) {}
  Result<ApplyOutcome> ApplyPart(const PartInfo& part,
                                 const std::vector<RecordBatch>& batches) override {
    std::lock_guard<std::mutex> lock(store_->mu);
    if (store_->ledger.contains(part.part_id)) return ApplyOutcome::kAlreadyApplied;
    if (store_->fail_part_numbers.contains(part.part_number)) {
      return Status::InvalidData("injected failure for part " + std::to_string(part.part_number));
    }
    if (store_->transient_failures > 0) {
      --store_->transient_failures;
      return Status::Retryable("injected transient failure");
    }
    int64_t rows = 0;
    for (const auto& b : batches) {
      SLUICE_RETURN_NOT_OK(b.Validate());
      if (!b.schema()->Equals(*store_->schema)) return Status::InvalidData("schema mismatch");
      rows += b.num_rows();
    }
    if (rows != part.rows) return Status::InvalidData("row count differs from PartInfo");
    store_->ledger[part.part_id] = {part.stream_id, part.part_number, rows, batches};
    return ApplyOutcome::kApplied;
  }

  bool GroupsParts() const override { return store_->group_parts > 0; }
  Result<std::vector<ApplyOutcome>> ApplyParts(PartFeed* feed) override {
    std::vector<ApplyOutcome> out;
    std::vector<std::pair<PartInfo, std::vector<RecordBatch>>> sent;
    while (static_cast<int>(out.size()) < store_->group_parts) {
      SLUICE_ASSIGN_OR_RETURN(const PartFeed::Item* item, feed->Next(PartFeed::kWaitForever));
      if (item == nullptr) break;
      std::lock_guard<std::mutex> lock(store_->mu);
      if (store_->ledger.contains(item->info.part_id)) {
        out.push_back(ApplyOutcome::kAlreadyApplied);
        continue;
      }
      if (store_->fail_part_numbers.contains(item->info.part_number)) {
        return Status::InvalidData("injected failure for part " +
                                   std::to_string(item->info.part_number));
      }
      // The batches are only valid until the next Next: keep copies, as
      // ClickHouse keeps what it has received.
      sent.emplace_back(item->info, *item->batches);
      out.push_back(ApplyOutcome::kApplied);
      if (out.size() == 2 && store_->transient_group_failures > 0) {
        --store_->transient_group_failures;
        return Status::Retryable("injected loss of a grouped write");
      }
    }
    std::lock_guard<std::mutex> lock(store_->mu);
    store_->group_sizes.push_back(static_cast<int>(out.size()));
    for (auto& [info, batches] : sent) {
      int64_t rows = 0;
      for (const auto& b : batches) rows += b.num_rows();
      if (rows != info.rows) return Status::InvalidData("row count differs from PartInfo");
      store_->ledger[info.part_id] = {info.stream_id, info.part_number, rows, std::move(batches)};
    }
    return out;
  }

 private:
  std::shared_ptr<MemoryStore> store_;
};

class MemorySink final : public Sink {
 public:
  explicit MemorySink(std::shared_ptr<MemoryStore> store) : store_(std::move(store)) {}
  Status Open(std::shared_ptr<const Schema> schema) override {
    std::lock_guard<std::mutex> lock(store_->mu);
    ++store_->opens;
    if (store_->schema && !store_->schema->Equals(*schema)) return Status::InvalidData("schema changed");
    store_->schema = std::move(schema);
    return Status::OK();
  }
  Result<std::unique_ptr<SinkWriter>> NewWriter() override {
    return std::unique_ptr<SinkWriter>(std::make_unique<MemoryWriter>(store_));
  }
  Status Commit() override {
    std::lock_guard<std::mutex> lock(store_->mu);
    ++store_->commits;
    return Status::OK();
  }
  Status Close() override {
    std::lock_guard<std::mutex> lock(store_->mu);
    ++store_->closes;
    return Status::OK();
  }

 private:
  std::shared_ptr<MemoryStore> store_;
};

// ---------------------------------------------------------------------------
// Helpers

std::unique_ptr<Source> GenSource(int64_t rows, const std::string& schema = "mixed", int seed = 1) {
  auto s = Registry::Global().MakeSource("gen:///?rows=" + std::to_string(rows) + "&seed=" +
                                         std::to_string(seed) + "&schema=" + schema);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(*s);
}

std::unique_ptr<PartPublisher> DirPublisher(const std::string& dir) {
  auto p = Registry::Global().MakePublisher("parts://" + dir);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(*p);
}

std::unique_ptr<PartSubscriber> DirSubscriber(const std::string& dir) {
  auto s = Registry::Global().MakeSubscriber("parts://" + dir);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(*s);
}

RunOptions SmallParts(int workers = 3) {
  RunOptions o;
  o.workers = workers;
  o.part_bytes = 64 << 10;
  o.batch_rows = 1000;
  o.queue_depth = 2;
  o.compression = part::Compression::kLz4;
  o.retry_backoff_ms = 1;
  o.progress_interval_ms = 5;
  return o;
}

// Every batch of the "mixed"/"fixed" gen table holds consecutive ids (id =
// row number): checks each batch against freshly generated rows and that
// rows 0..total-1 are covered exactly once.
void ExpectExactlyGenRows(const std::vector<RecordBatch>& batches, gen::GenSchema which,
                          uint64_t seed, int64_t total) {
  std::vector<int> seen(static_cast<size_t>(total), 0);
  for (const auto& b : batches) {
    if (b.num_rows() == 0) continue;
    const int64_t first = b.column(0).Value<int64_t>(0);
    ASSERT_GE(first, 0);
    ASSERT_LE(first + b.num_rows(), total);
    RecordBatch generated = gen::GenerateRows(which, seed, first, b.num_rows());
    // Destinations may report their own type names (Field::source_type);
    // names, types and nullability must match, values exactly.
    ASSERT_EQ(b.schema()->num_fields(), generated.schema()->num_fields());
    for (int i = 0; i < b.schema()->num_fields(); ++i) {
      const Field& got = b.schema()->field(i);
      const Field& want = generated.schema()->field(i);
      ASSERT_EQ(got.name, want.name);
      ASSERT_EQ(got.type, want.type) << got.name;
      ASSERT_EQ(got.nullable, want.nullable) << got.name;
    }
    RecordBatch expected(b.schema(), generated.num_rows(), generated.columns());
    std::string why;
    ASSERT_TRUE(b.Equals(expected, &why)) << "rows from " << first << ": " << why;
    for (int64_t i = 0; i < b.num_rows(); ++i) ++seen[static_cast<size_t>(first + i)];
  }
  for (int64_t i = 0; i < total; ++i) {
    ASSERT_EQ(seen[static_cast<size_t>(i)], 1) << "row " << i;
  }
}

std::vector<part::DecodedPart> DecodeDir(const std::string& dir) {
  std::vector<part::DecodedPart> out;
  auto files = parts::ListPartFiles(dir);
  EXPECT_TRUE(files.ok());
  for (const auto& f : *files) {
    auto bytes = ReadFile(f);
    EXPECT_TRUE(bytes.ok());
    auto p = part::DecodePart(*bytes, f);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (p.ok()) out.push_back(std::move(*p));
  }
  return out;
}

std::vector<std::string> TempFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp-") != std::string::npos) out.push_back(e.path());
  }
  return out;
}

// ---------------------------------------------------------------------------
// Export

TEST(Export, GenToDirectoryIsOneCompleteStreamWithExactRows) {
  TempDir tmp;
  const std::string dir = tmp.sub("out");
  auto source = GenSource(50000);
  auto publisher = DirPublisher(dir);
  RunStats stats;
  ASSERT_TRUE(RunExport(source.get(), publisher.get(), SmallParts(), &stats).ok()) << stats.error;
  auto decoded = DecodeDir(dir);
  ASSERT_GT(decoded.size(), 3u);
  std::vector<part::PartHeader> headers;
  std::vector<RecordBatch> batches;
  std::set<std::string> keys;
  int64_t data_parts = 0, end_parts = 0;
  for (auto& p : decoded) {
    headers.push_back(p.header);
    if (p.header.kind == part::PartKind::kEnd) {
      ++end_parts;
      EXPECT_EQ(p.header.total_rows, 50000);
    } else {
      ++data_parts;
      EXPECT_EQ(p.header.idempotency_key.size(), 32u);
      keys.insert(p.header.idempotency_key);
    }
    batches.insert(batches.end(), p.batches.begin(), p.batches.end());
  }
  EXPECT_EQ(end_parts, 1);
  EXPECT_EQ(static_cast<int64_t>(keys.size()), data_parts);  // one key per part
  EXPECT_TRUE(part::ValidateStream(headers, "export").ok());
  ExpectExactlyGenRows(batches, gen::GenSchema::kMixed, 1, 50000);
  EXPECT_EQ(stats.rows, 50000);
  EXPECT_EQ(stats.parts, data_parts);
  EXPECT_EQ(stats.errors, 0);
  EXPECT_GE(stats.first_part_ms, 0);
  EXPECT_EQ(stats.output_type, "parts (directory)");
  EXPECT_TRUE(TempFiles(dir).empty());
  // File names follow <stream_id>_part_<NNNNNN>.part.
  EXPECT_TRUE(fs::exists(fs::path(dir) / parts::PartFileName(headers[0].stream_id, 1)));
}

TEST(Export, ReExportGivesTheSameIdempotencyKeys) {
  TempDir tmp;
  auto keys = [&](const std::string& dir) {
    auto source = GenSource(20000);
    auto publisher = DirPublisher(dir);
    RunStats stats;
    EXPECT_TRUE(RunExport(source.get(), publisher.get(), SmallParts(), &stats).ok());
    std::vector<std::string> out;
    for (auto& p : DecodeDir(dir)) out.push_back(p.header.idempotency_key);
    return out;
  };
  EXPECT_EQ(keys(tmp.sub("a")), keys(tmp.sub("b")));
}

// ---------------------------------------------------------------------------
// Content-derived part keys: a table held in memory whose fingerprint moves
// on every Open (like PostgreSQL's xmax after any write in the cluster)
// while its identity stays.

struct MemoryTable {
  std::shared_ptr<const Schema> schema;
  std::vector<RecordBatch> batches;  // handed out one per Next()
  int opens = 0;
};

class MemoryTableReader final : public SourceReader {
 public:
  explicit MemoryTableReader(const MemoryTable* table) : table_(table) {}
  Result<std::optional<RecordBatch>> Next() override {
    if (next_ >= table_->batches.size()) return std::optional<RecordBatch>();
    return std::optional<RecordBatch>(table_->batches[next_++]);
  }
  std::string position() const override { return std::to_string(next_); }

 private:
  const MemoryTable* table_;
  size_t next_ = 0;
};

class MemoryTableSource final : public Source {
 public:
  explicit MemoryTableSource(MemoryTable* table) : table_(table) {}
  Status Open(const SourceOptions&) override {
    snapshot_ = ++table_->opens;
    return Status::OK();
  }
  std::shared_ptr<const Schema> schema() const override { return table_->schema; }
  Result<std::vector<Split>> Plan(int) override { return std::vector<Split>{Split{}}; }
  Result<std::unique_ptr<SourceReader>> OpenSplit(const Split&) override {
    return std::unique_ptr<SourceReader>(std::make_unique<MemoryTableReader>(table_));
  }
  std::string Fingerprint() const override {
    return "mem://t#snapshot=" + std::to_string(snapshot_);
  }
  std::string Identity() const override { return "mem://t"; }

 private:
  MemoryTable* table_;
  int snapshot_ = 0;
};

// `rows` gen rows (fixed-width schema: every row has the same byte size, so
// changing a value never moves a part boundary) in batches of 1000.
MemoryTable GenTable(int64_t rows) {
  MemoryTable t;
  t.schema = gen::SchemaOf(gen::GenSchema::kFixed);
  for (int64_t r = 0; r < rows; r += 1000) {
    t.batches.push_back(gen::GenerateRows(gen::GenSchema::kFixed, 4, r, std::min<int64_t>(1000, rows - r)));
  }
  return t;
}

// Row `row` of the table with its first (int64 id) column set to `id`.
void SetId(MemoryTable* t, int64_t row, int64_t id) {
  RecordBatch& b = t->batches.at(static_cast<size_t>(row / 1000));
  std::vector<Column> cols = b.columns();
  auto values = Buffer::Allocate(cols[0].values->size());
  std::memcpy(values->mutable_data(), cols[0].values->data(),
              static_cast<size_t>(cols[0].values->size()));
  std::memcpy(values->mutable_data() + (row % 1000) * 8, &id, 8);
  cols[0].values = values;
  b = RecordBatch(b.schema(), b.num_rows(), std::move(cols));
}

struct ExportedKeys {
  std::string stream_id;
  std::map<int64_t, std::string> keys;  // part number -> idempotency key
};

ExportedKeys ExportKeys(MemoryTable* table, const std::string& dir) {
  MemoryTableSource source(table);
  auto publisher = DirPublisher(dir);
  RunStats stats;
  Status st = RunExport(&source, publisher.get(), SmallParts(3), &stats);
  EXPECT_TRUE(st.ok()) << st.ToString();
  ExportedKeys out;
  for (auto& p : DecodeDir(dir)) {
    if (p.header.kind == part::PartKind::kEnd) continue;
    out.stream_id = p.header.stream_id;
    out.keys[p.header.part_number] = p.header.idempotency_key;
  }
  return out;
}

TEST(ExportKeys, ReExportAfterTheSnapshotMovedGivesTheSameKeys) {
  TempDir tmp;
  MemoryTable table = GenTable(30000);
  ExportedKeys a = ExportKeys(&table, tmp.sub("a"));
  ExportedKeys b = ExportKeys(&table, tmp.sub("b"));
  ASSERT_GT(a.keys.size(), 3u);
  EXPECT_NE(a.stream_id, b.stream_id);  // another snapshot: another stream
  EXPECT_EQ(a.keys, b.keys);            // the same rows: the same keys
  std::set<std::string> distinct;
  for (auto& [n, k] : a.keys) distinct.insert(k);
  EXPECT_EQ(distinct.size(), a.keys.size());
}

TEST(ExportKeys, AChangedRowChangesTheKeyOfItsPartOnly) {
  TempDir tmp;
  MemoryTable table = GenTable(30000);
  ExportedKeys before = ExportKeys(&table, tmp.sub("a"));
  SetId(&table, 17321, -5);
  ExportedKeys after = ExportKeys(&table, tmp.sub("b"));
  ASSERT_EQ(before.keys.size(), after.keys.size());
  // The part holding row 17321: parts are whole batches of 1000 rows here.
  int64_t changed_part = 0, first_row = 0;
  for (auto& p : DecodeDir(tmp.sub("b"))) {
    if (p.header.kind == part::PartKind::kEnd) continue;
    const int64_t first = p.batches.at(0).column(0).Value<int64_t>(0);
    if (first <= 17321 && 17321 < first + p.header.rows) {
      changed_part = p.header.part_number;
      first_row = first;
    }
  }
  ASSERT_GT(changed_part, 0);
  EXPECT_LE(first_row, 17321);
  for (auto& [n, key] : before.keys) {
    if (n == changed_part) {
      EXPECT_NE(key, after.keys[n]) << "part " << n;
    } else {
      EXPECT_EQ(key, after.keys[n]) << "part " << n;
    }
  }
}

TEST(ExportKeys, IdenticalPartsAtDifferentPositionsKeepDistinctKeys) {
  TempDir tmp;
  // 20 copies of one 1000-row batch: many parts with identical rows.
  MemoryTable table;
  table.schema = gen::SchemaOf(gen::GenSchema::kFixed);
  RecordBatch same = gen::GenerateRows(gen::GenSchema::kFixed, 4, 0, 1000);
  for (int i = 0; i < 20; ++i) table.batches.push_back(same);
  const std::string dir = tmp.sub("out");
  ExportedKeys exported = ExportKeys(&table, dir);
  ASSERT_GT(exported.keys.size(), 3u);
  std::set<std::string> distinct;
  for (auto& [n, k] : exported.keys) distinct.insert(k);
  EXPECT_EQ(distinct.size(), exported.keys.size());
  // ... so an importer applies every one of them: no row is lost.
  auto store = std::make_shared<MemoryStore>();
  MemorySink sink(store);
  auto sub = DirSubscriber(dir);
  RunStats stats;
  ASSERT_TRUE(RunImport(sub.get(), &sink, SmallParts(2), &stats).ok()) << stats.error;
  EXPECT_EQ(stats.rows, 20000);
  EXPECT_EQ(store->ledger_rows(), 20000);
}

TEST(ExportKeys, TwoExportsAcrossASnapshotMoveAreImportedOnce) {
  TempDir tmp;
  MemoryTable table = GenTable(30000);
  ExportedKeys first = ExportKeys(&table, tmp.sub("a"));
  ExportedKeys second = ExportKeys(&table, tmp.sub("b"));
  ASSERT_NE(first.stream_id, second.stream_id);
  // Both streams in one directory, as two exports to the same target leave them.
  const std::string dir = tmp.sub("out");
  fs::create_directories(dir);
  for (const char* from : {"a", "b"}) {
    for (const auto& e : fs::directory_iterator(tmp.sub(from))) {
      fs::copy_file(e.path(), fs::path(dir) / e.path().filename());
    }
  }
  auto store = std::make_shared<MemoryStore>();
  MemorySink sink(store);
  auto sub = DirSubscriber(dir);
  RunStats stats;
  ASSERT_TRUE(RunImport(sub.get(), &sink, SmallParts(3), &stats).ok()) << stats.error;
  EXPECT_EQ(stats.rows, 30000);
  EXPECT_EQ(stats.duplicate_rows, 30000);
  EXPECT_EQ(stats.incomplete_streams, 0);
  ExpectExactlyGenRows(store->all_batches(), gen::GenSchema::kFixed, 4, 30000);
}

TEST(CopyKeys, AKilledCopyRerunAfterTheSnapshotMovedSkipsWhatItApplied) {
  MemoryTable table = GenTable(30000);
  auto store = std::make_shared<MemoryStore>();
  {
    MemoryTableSource source(&table);
    MemorySink sink(store);
    RunStats stats;
    ASSERT_TRUE(RunCopy(&source, &sink, SmallParts(2), &stats).ok()) << stats.error;
    EXPECT_EQ(stats.rows, 30000);
  }
  const size_t applied = store->ledger.size();
  SetId(&table, 29999, -1);  // the last part changes, the others do not
  {
    MemoryTableSource source(&table);  // another snapshot
    MemorySink sink(store);
    RunStats stats;
    ASSERT_TRUE(RunCopy(&source, &sink, SmallParts(2), &stats).ok()) << stats.error;
    EXPECT_EQ(stats.duplicates, static_cast<int64_t>(applied) - 1);
    EXPECT_EQ(stats.parts, 1);
    EXPECT_EQ(store->ledger.size(), applied + 1);
  }
}

// Source and publisher instrumented to observe streaming and memory bounds.
struct StreamProbe {
  std::atomic<int64_t> rows_read{0};
  std::atomic<int64_t> rows_published{0};
  std::atomic<int64_t> max_outstanding{0};
  std::atomic<bool> first_published{false};
  std::mutex mu;
  std::condition_variable cv;
};

class ProbeReader final : public SourceReader {
 public:
  ProbeReader(std::unique_ptr<SourceReader> inner, StreamProbe* probe, int64_t gate_rows)
      : inner_(std::move(inner)), probe_(probe), gate_rows_(gate_rows) {}
  Result<std::optional<RecordBatch>> Next() override {
    if (probe_->rows_read.load() >= gate_rows_ && !probe_->first_published.load()) {
      // Block until a part was published: a runtime that waits for the whole
      // table before writing would never get past this point.
      std::unique_lock<std::mutex> lock(probe_->mu);
      if (!probe_->cv.wait_for(lock, std::chrono::seconds(20),
                               [&] { return probe_->first_published.load(); })) {
        return Status::Internal("no part was published while the table was being read");
      }
    }
    SLUICE_ASSIGN_OR_RETURN(auto batch, inner_->Next());
    if (batch) probe_->rows_read += batch->num_rows();
    return batch;
  }
  std::string position() const override { return inner_->position(); }

 private:
  std::unique_ptr<SourceReader> inner_;
  StreamProbe* probe_;
  int64_t gate_rows_;
};

class ProbeSource final : public Source {
 public:
  ProbeSource(std::unique_ptr<Source> inner, StreamProbe* probe, int64_t gate_rows)
      : inner_(std::move(inner)), probe_(probe), gate_rows_(gate_rows) {}
  Status Open(const SourceOptions& o) override { return inner_->Open(o); }
  std::shared_ptr<const Schema> schema() const override { return inner_->schema(); }
  Result<std::vector<Split>> Plan(int n) override { return inner_->Plan(n); }
  Result<std::unique_ptr<SourceReader>> OpenSplit(const Split& s) override {
    SLUICE_ASSIGN_OR_RETURN(auto r, inner_->OpenSplit(s));
    return std::unique_ptr<SourceReader>(std::make_unique<ProbeReader>(std::move(r), probe_, gate_rows_));
  }
  std::string Fingerprint() const override { return inner_->Fingerprint(); }

 private:
  std::unique_ptr<Source> inner_;
  StreamProbe* probe_;
  int64_t gate_rows_;
};

class ProbePublisher final : public PartPublisher {
 public:
  explicit ProbePublisher(StreamProbe* probe) : probe_(probe) {}
  Status Open() override { return Status::OK(); }
  Status Publish(const PartMeta& meta, std::string_view bytes) override {
    const int64_t outstanding = probe_->rows_read.load() - probe_->rows_published.load();
    int64_t prev = probe_->max_outstanding.load();
    while (outstanding > prev && !probe_->max_outstanding.compare_exchange_weak(prev, outstanding)) {
    }
    probe_->rows_published += meta.rows;
    parts.push_back(std::string(bytes));
    metas.push_back(meta);
    {
      std::lock_guard<std::mutex> lock(probe_->mu);
      probe_->first_published = true;
    }
    probe_->cv.notify_all();
    return Status::OK();
  }
  Status Flush() override { return Status::OK(); }
  Status Close() override { return Status::OK(); }
  std::string kind() const override { return "probe"; }
  std::vector<std::string> parts;
  std::vector<PartMeta> metas;

 private:
  StreamProbe* probe_;
};

TEST(Export, FirstPartIsPublishedWhileTheTableIsStillBeingReadAndMemoryStaysBounded) {
  StreamProbe probe;
  constexpr int64_t kRows = 400000;
  // The reader blocks after 20000 rows until the first part is out.
  ProbeSource source(GenSource(kRows, "fixed"), &probe, 20000);
  ProbePublisher publisher(&probe);
  RunOptions o = SmallParts();
  RunStats stats;
  Status st = RunExport(&source, &publisher, o, &stats);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(probe.rows_published.load(), kRows);
  // Rows read but not yet published never exceed what the stages can hold:
  // the chunker's pending part, the chunk queue (queue_depth), one part per
  // encoder, the encoded-part queue (queue_depth + encoders), the part being
  // published, and one batch — independent of kRows. A "fixed" row is 32
  // bytes, so a 64 KiB part holds at most 2048 rows.
  const int64_t rows_per_part = o.part_bytes / 32;
  const int64_t bound =
      (1 + o.queue_depth + o.workers + (o.queue_depth + o.workers) + 1) * rows_per_part + o.batch_rows;
  EXPECT_LT(bound, kRows / 10);
  EXPECT_LE(probe.max_outstanding.load(), bound) << "the export buffered too much";
  ASSERT_FALSE(publisher.metas.empty());
  EXPECT_TRUE(publisher.metas.back().end_of_stream);
  EXPECT_EQ(publisher.metas.back().total_parts, static_cast<int64_t>(publisher.metas.size()) - 1);
}

TEST(Export, StopRequestEndsCleanlyWithWholePartsAndNoEndPart) {
  TempDir tmp;
  const std::string dir = tmp.sub("out");
  auto source = GenSource(3000000);
  auto publisher = DirPublisher(dir);
  std::atomic<bool> stop{false};
  RunOptions o = SmallParts();
  o.stop_requested = &stop;
  o.on_progress = [&](const ProgressSnapshot& s) {
    if (s.parts >= 3) stop = true;
  };
  RunStats stats;
  Status st = RunExport(source.get(), publisher.get(), o, &stats);
  ASSERT_EQ(st.code(), StatusCode::kCancelled) << st.ToString();
  EXPECT_TRUE(stats.cancelled);
  EXPECT_EQ(stats.errors, 0);
  EXPECT_TRUE(TempFiles(dir).empty());
  auto decoded = DecodeDir(dir);  // every file decodes: no half-written part
  ASSERT_GE(decoded.size(), 3u);
  EXPECT_LT(decoded.size(), 1000u);
  int64_t rows = 0;
  for (auto& p : decoded) {
    EXPECT_EQ(p.header.kind, part::PartKind::kData);
    rows += p.header.rows;
  }
  EXPECT_EQ(rows, stats.rows);
  EXPECT_LT(rows, 3000000);
}

TEST(Export, SourceErrorIsReportedWithContext) {
  TempDir tmp;
  auto publisher = DirPublisher(tmp.sub("out"));
  auto source = Registry::Global().MakeSource("parts://" + tmp.sub("does-not-exist"));
  ASSERT_TRUE(source.ok());
  RunStats stats;
  Status st = RunExport(source->get(), publisher.get(), SmallParts(), &stats);
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_NE(st.message().find("opening source"), std::string::npos) << st.ToString();
  EXPECT_EQ(stats.errors, 1);
  EXPECT_EQ(stats.error, st.ToString());
}

// ---------------------------------------------------------------------------
// Import

// Exports `rows` gen rows into `dir`; returns the number of data parts.
int64_t ExportTo(const std::string& dir, int64_t rows, const std::string& schema = "mixed") {
  auto source = GenSource(rows, schema);
  auto publisher = DirPublisher(dir);
  RunStats stats;
  Status st = RunExport(source.get(), publisher.get(), SmallParts(), &stats);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return stats.parts;
}

TEST(Import, ParallelWorkersApplyEveryPartOnceAndReRunIsAllDuplicates) {
  TempDir tmp;
  const std::string dir = tmp.sub("out");
  const int64_t parts = ExportTo(dir, 60000);
  auto store = std::make_shared<MemoryStore>();
  {
    MemorySink sink(store);
    auto sub = DirSubscriber(dir);
    RunStats stats;
    Status st = RunImport(sub.get(), &sink, SmallParts(4), &stats);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(stats.rows, 60000);
    EXPECT_EQ(stats.parts, parts);
    EXPECT_EQ(stats.duplicates, 0);
    EXPECT_EQ(stats.workers, 4);
    EXPECT_EQ(store->commits, 1);
    EXPECT_EQ(store->closes, 1);
  }
  EXPECT_EQ(static_cast<int64_t>(store->ledger.size()), parts);
  ExpectExactlyGenRows(store->all_batches(), gen::GenSchema::kMixed, 1, 60000);
  {
    MemorySink sink(store);
    auto sub = DirSubscriber(dir);
    RunStats stats;
    ASSERT_TRUE(RunImport(sub.get(), &sink, SmallParts(4), &stats).ok());
    EXPECT_EQ(stats.rows, 0);
    EXPECT_EQ(stats.parts, 0);
    EXPECT_EQ(stats.duplicates, parts);
    EXPECT_EQ(stats.duplicate_rows, 60000);
  }
  EXPECT_EQ(store->ledger_rows(), 60000);
}

TEST(Import, AllTypesSurviveExportAndImport) {
  TempDir tmp;
  const std::string dir = tmp.sub("out");
  ExportTo(dir, 5000, "all_types");
  auto store = std::make_shared<MemoryStore>();
  MemorySink sink(store);
  auto sub = DirSubscriber(dir);
  RunStats stats;
  ASSERT_TRUE(RunImport(sub.get(), &sink, SmallParts(2), &stats).ok()) << stats.error;
  // Parts of one stream in part order hold the table in order.
  std::vector<std::pair<int64_t, std::vector<RecordBatch>>> ordered;
  for (auto& [id, a] : store->ledger) ordered.emplace_back(a.part_number, a.batches);
  std::sort(ordered.begin(), ordered.end(), [](auto& x, auto& y) { return x.first < y.first; });
  int64_t row = 0;
  for (auto& [n, batches] : ordered) {
    for (auto& b : batches) {
      std::string why;
      ASSERT_TRUE(b.Equals(gen::GenerateRows(gen::GenSchema::kAllTypes, 1, row, b.num_rows()), &why))
          << "part " << n << " at row " << row << ": " << why;
      row += b.num_rows();
    }
  }
  EXPECT_EQ(row, 5000);
}

TEST(Import, FirstErrorWinsStopsTheRunAndNamesThePart) {
  TempDir tmp;
  const std::string dir = tmp.sub("out");
  ExportTo(dir, 40000);
  auto store = std::make_shared<MemoryStore>();
  store->fail_part_numbers = {3, 4, 5, 6};
  MemorySink sink(store);
  auto sub = DirSubscriber(dir);
  RunStats stats;
  Status st = RunImport(sub.get(), &sink, SmallParts(4), &stats);
  ASSERT_EQ(st.code(), StatusCode::kInvalidData) << st.ToString();
  EXPECT_NE(st.message().find("injected failure"), std::string::npos);
  EXPECT_NE(st.message().find("applying part "), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(".part"), std::string::npos) << st.message();
  // Reported once: the message holds exactly one failure.
  EXPECT_EQ(st.message().find("injected failure"), st.message().rfind("injected failure"));
  EXPECT_EQ(stats.errors, 1);
  EXPECT_EQ(store->commits, 0);  // a failed run is not committed
  EXPECT_EQ(store->closes, 1);
}

TEST(Import, SkipPartListsAndCopiesTheFailedPart) {
  TempDir tmp;
  const std::string dir = tmp.sub("out");
  const std::string rejects = tmp.sub("rejects");
  const int64_t parts = ExportTo(dir, 30000);
  auto store = std::make_shared<MemoryStore>();
  store->fail_part_numbers = {2};
  MemorySink sink(store);
  auto sub = DirSubscriber(dir);
  RunOptions o = SmallParts(3);
  o.on_error = ErrorPolicy::kSkipPart;
  o.reject_dir = rejects;
  RunStats stats;
  Status st = RunImport(sub.get(), &sink, o, &stats);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(stats.skipped_parts, 1);
  EXPECT_EQ(stats.errors, 1);
  ASSERT_EQ(stats.skipped.size(), 1u);
  EXPECT_NE(stats.skipped[0].find("_part_000002.part"), std::string::npos);
  ASSERT_EQ(stats.rejected_files.size(), 1u);
  // The reject copy is byte-identical to the skipped part.
  auto original = ReadFile(stats.skipped[0]);
  auto copy = ReadFile(stats.rejected_files[0]);
  ASSERT_TRUE(original.ok() && copy.ok());
  EXPECT_EQ((*original)->view(), (*copy)->view());
  EXPECT_EQ(static_cast<int64_t>(store->ledger.size()), parts - 1);
  EXPECT_EQ(stats.parts, parts - 1);
  EXPECT_EQ(store->commits, 1);
  EXPECT_EQ(stats.incomplete_streams, 1);  // the stream lacks the skipped part (warning only)
}

TEST(Import, TransientFailuresAreRetried) {
  TempDir tmp;
  const std::string dir = tmp.sub("out");
  ExportTo(dir, 10000);
  auto store = std::make_shared<MemoryStore>();
  store->transient_failures = 2;
  MemorySink sink(store);
  auto sub = DirSubscriber(dir);
  RunStats stats;
  ASSERT_TRUE(RunImport(sub.get(), &sink, SmallParts(1), &stats).ok()) << stats.error;
  EXPECT_EQ(stats.retries, 2);
  EXPECT_EQ(stats.rows, 10000);
}

TEST(Import, CorruptPartFailsNamingTheFileOrIsSkipped) {
  TempDir tmp;
  const std::string dir = tmp.sub("out");
  ExportTo(dir, 20000);
  auto files = parts::ListPartFiles(dir);
  ASSERT_TRUE(files.ok());
  const std::string victim = (*files)[1];
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(victim) / 2));
    f.put('\x5a');
  }
  {
    auto store = std::make_shared<MemoryStore>();
    MemorySink sink(store);
    auto sub = DirSubscriber(dir);
    RunStats stats;
    Status st = RunImport(sub.get(), &sink, SmallParts(2), &stats);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.code(), StatusCode::kInvalidData) << st.ToString();
    EXPECT_NE(st.message().find(victim), std::string::npos) << st.message();
  }
  {
    auto store = std::make_shared<MemoryStore>();
    MemorySink sink(store);
    auto sub = DirSubscriber(dir);
    RunOptions o = SmallParts(2);
    o.on_error = ErrorPolicy::kSkipPart;
    RunStats stats;
    ASSERT_TRUE(RunImport(sub.get(), &sink, o, &stats).ok()) << stats.error;
    ASSERT_EQ(stats.skipped.size(), 1u);
    EXPECT_EQ(stats.skipped[0], victim);
    EXPECT_TRUE(stats.rejected_files.empty());  // no reject dir given
  }
}

TEST(Import, MissingPartOfACompleteStreamIsAnError) {
  TempDir tmp;
  const std::string dir = tmp.sub("out");
  ExportTo(dir, 20000);
  auto files = parts::ListPartFiles(dir);
  ASSERT_TRUE(files.ok());
  fs::remove((*files)[1]);  // data part 2
  auto store = std::make_shared<MemoryStore>();
  MemorySink sink(store);
  auto sub = DirSubscriber(dir);
  RunStats stats;
  Status st = RunImport(sub.get(), &sink, SmallParts(2), &stats);
  ASSERT_EQ(st.code(), StatusCode::kInvalidData) << st.ToString();
  EXPECT_NE(st.message().find("missing: 2"), std::string::npos) << st.message();
  EXPECT_EQ(store->commits, 0);
}

TEST(Import, EmptyDirectoryIsNotFound) {
  TempDir tmp;
  auto store = std::make_shared<MemoryStore>();
  MemorySink sink(store);
  auto sub = DirSubscriber(tmp.path());
  RunStats stats;
  EXPECT_EQ(RunImport(sub.get(), &sink, SmallParts(), &stats).code(), StatusCode::kNotFound);
  EXPECT_EQ(store->opens, 0);
  EXPECT_EQ(store->closes, 0);  // never opened, never closed
}

TEST(Import, StopLeavesOnlyWholePartsAndAReRunCompletesExactly) {
  TempDir tmp;
  const std::string dir = tmp.sub("out");
  const int64_t parts = ExportTo(dir, 200000);
  auto store = std::make_shared<MemoryStore>();
  {
    MemorySink sink(store);
    auto sub = DirSubscriber(dir);
    std::atomic<bool> stop{false};
    RunOptions o = SmallParts(2);
    o.stop_requested = &stop;
    o.on_progress = [&](const ProgressSnapshot& s) {
      if (s.parts >= 2) stop = true;
    };
    RunStats stats;
    Status st = RunImport(sub.get(), &sink, o, &stats);
    // The import may finish before the stop is noticed on a fast machine.
    if (!st.ok()) {
      EXPECT_EQ(st.code(), StatusCode::kCancelled);
      EXPECT_EQ(store->commits, 0);
    }
    // Every applied part is whole (MemoryWriter checks rows == PartInfo.rows).
    EXPECT_EQ(store->ledger_rows(), stats.rows);
  }
  const auto applied_before = static_cast<int64_t>(store->ledger.size());
  MemorySink sink(store);
  auto sub = DirSubscriber(dir);
  RunStats stats;
  ASSERT_TRUE(RunImport(sub.get(), &sink, SmallParts(2), &stats).ok()) << stats.error;
  EXPECT_EQ(stats.duplicates, applied_before);
  EXPECT_EQ(stats.parts + stats.duplicates, parts);
  ExpectExactlyGenRows(store->all_batches(), gen::GenSchema::kMixed, 1, 200000);
}

// A broker-like subscriber: an unbounded queue (kIdle when empty, never kEnd
// unless told), redelivery on Reject(requeue).
class QueueSubscriber final : public PartSubscriber {
 public:
  bool whole_streams = true;
  bool end_when_empty = false;
  std::vector<std::string> acked, rejected, requeued;

  void Add(const std::string& name, std::shared_ptr<Buffer> bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    ReceivedPart p;
    p.bytes = std::move(bytes);
    p.name = name;
    p.delivery_tag = next_tag_++;
    queue_.push_back(std::move(p));
  }
  Status Open() override { return Status::OK(); }
  Result<Delivery> Receive(int64_t max_wait_ms) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!queue_.empty()) {
        Delivery d;
        d.state = Delivery::State::kPart;
        d.part = std::move(queue_.front());
        queue_.pop_front();
        return d;
      }
      if (end_when_empty) return Delivery{Delivery::State::kEnd, {}};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(max_wait_ms, 5)));
    return Delivery{Delivery::State::kIdle, {}};
  }
  Status Ack(const ReceivedPart& p) override {
    std::lock_guard<std::mutex> lock(mu_);
    acked.push_back(p.name);
    return Status::OK();
  }
  Status Reject(const ReceivedPart& p, bool requeue) override {
    std::lock_guard<std::mutex> lock(mu_);
    (requeue ? requeued : rejected).push_back(p.name);
    return Status::OK();
  }
  Status Close() override { return Status::OK(); }
  std::string kind() const override { return "queue"; }
  bool delivers_whole_streams() const override { return whole_streams; }

 private:
  std::mutex mu_;
  std::deque<ReceivedPart> queue_;
  uint64_t next_tag_ = 0;
};

// Loads an exported directory into a queue, in reverse order, with the
// data part `duplicate` delivered twice (a broker redelivery).
void FillQueue(const std::string& dir, QueueSubscriber* q, int duplicate = -1,
               const std::set<int>& drop = {}) {
  auto files = parts::ListPartFiles(dir);
  ASSERT_TRUE(files.ok());
  for (int i = static_cast<int>(files->size()) - 1; i >= 0; --i) {
    if (drop.contains(i)) continue;
    auto bytes = ReadFile((*files)[static_cast<size_t>(i)]);
    ASSERT_TRUE(bytes.ok());
    q->Add((*files)[static_cast<size_t>(i)], *bytes);
    if (i == duplicate) q->Add((*files)[static_cast<size_t>(i)], *bytes);
  }
}

TEST(Import, UnboundedSubscriptionEndsOnceEveryStreamIsCompleteAndRedeliveryIsADuplicate) {
  TempDir tmp;
  const std::string dir = tmp.sub("out");
  const int64_t parts = ExportTo(dir, 30000);
  QueueSubscriber q;
  FillQueue(dir, &q, /*duplicate=*/2);
  auto store = std::make_shared<MemoryStore>();
  MemorySink sink(store);
  RunStats stats;
  Status st = RunImport(&q, &sink, SmallParts(3), &stats);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(stats.parts, parts);
  EXPECT_EQ(stats.duplicates, 1);
  EXPECT_EQ(stats.rows, 30000);
  EXPECT_EQ(static_cast<int64_t>(q.acked.size()), parts + 2);  // + end part + redelivery
  ExpectExactlyGenRows(store->all_batches(), gen::GenSchema::kMixed, 1, 30000);
}

TEST(Import, CompetingConsumerSeesPartialStreamsWithoutError) {
  TempDir tmp;
  const std::string dir = tmp.sub("out");
  ExportTo(dir, 30000);
  QueueSubscriber q;
  q.whole_streams = false;
  q.end_when_empty = true;  // e.g. an idle timeout in the transport
  FillQueue(dir, &q, -1, /*drop=*/{1, 3});  // another consumer got these
  auto store = std::make_shared<MemoryStore>();
  MemorySink sink(store);
  RunStats stats;
  Status st = RunImport(&q, &sink, SmallParts(2), &stats);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(stats.incomplete_streams, 0);
  EXPECT_EQ(store->commits, 1);
}

TEST(Import, FailedPartIsHandedBackForRedelivery) {
  TempDir tmp;
  const std::string dir = tmp.sub("out");
  ExportTo(dir, 20000);
  QueueSubscriber q;
  FillQueue(dir, &q);
  auto store = std::make_shared<MemoryStore>();
  store->fail_part_numbers = {2};
  MemorySink sink(store);
  RunStats stats;
  Status st = RunImport(&q, &sink, SmallParts(1), &stats);
  ASSERT_EQ(st.code(), StatusCode::kInvalidData);
  ASSERT_FALSE(q.requeued.empty());
  EXPECT_NE(q.requeued[0].find("_part_000002.part"), std::string::npos);
  EXPECT_TRUE(q.rejected.empty());
  for (const auto& a : q.acked) EXPECT_EQ(a.find("_part_000002.part"), std::string::npos);
}

// Imports the parts of `dir` into memory; returns the batches in stream order.
std::vector<RecordBatch> ImportOrdered(const std::string& dir, RunStats* stats) {
  auto store = std::make_shared<MemoryStore>();
  MemorySink sink(store);
  auto sub = DirSubscriber(dir);
  Status st = RunImport(sub.get(), &sink, SmallParts(2), stats);
  EXPECT_TRUE(st.ok()) << st.ToString();
  std::vector<std::pair<int64_t, std::vector<RecordBatch>>> ordered;
  for (auto& [id, a] : store->ledger) ordered.emplace_back(a.part_number, a.batches);
  std::sort(ordered.begin(), ordered.end(), [](auto& x, auto& y) { return x.first < y.first; });
  std::vector<RecordBatch> out;
  for (auto& [n, batches] : ordered) out.insert(out.end(), batches.begin(), batches.end());
  return out;
}

TEST(Tdtp, ExportAsTdtpPacketsAndImportThemBackExactly) {
  TempDir tmp;
  const std::string dir = tmp.sub("tdtp");
  auto source = GenSource(20000, "all_types");
  auto publisher = Registry::Global().MakePublisher("parts://" + dir + "?format=tdtp&table=users");
  ASSERT_TRUE(publisher.ok()) << publisher.status().ToString();
  RunOptions o = SmallParts(2);
  o.part_bytes = 256 << 10;
  o.compression = part::Compression::kZstd;  // zstd-compressed packets
  RunStats exported;
  ASSERT_TRUE(RunExport(source.get(), publisher->get(), o, &exported).ok()) << exported.error;
  EXPECT_GT(exported.parts, 1);
  EXPECT_EQ(exported.output_type, "TDTP packets (directory)");
  // Finalized once the total was known, as the TDTP framework's streaming
  // export does: <TotalParts> in every packet, final names.
  EXPECT_FALSE(fs::exists(fs::path(dir) / "users_part_1.tdtp.xml"));
  EXPECT_TRUE(fs::exists(fs::path(dir) / ("users_part_1_of_" + std::to_string(exported.parts) +
                                          ".tdtp.xml")));
  auto files = parts::ListPartFiles(dir);
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(static_cast<int64_t>(files->size()), exported.parts);  // no end part in TDTP

  RunStats imported;
  std::vector<RecordBatch> batches = ImportOrdered(dir, &imported);
  EXPECT_EQ(imported.rows, 20000);
  EXPECT_EQ(imported.incomplete_streams, 0);  // every packet knows the total
  int64_t row = 0;
  for (const auto& b : batches) {
    RecordBatch generated = gen::GenerateRows(gen::GenSchema::kAllTypes, 1, row, b.num_rows());
    RecordBatch expected(b.schema(), generated.num_rows(), generated.columns());
    std::string why;
    ASSERT_TRUE(b.Equals(expected, &why)) << "at row " << row << ": " << why;
    row += b.num_rows();
  }
  EXPECT_EQ(row, 20000);
}

TEST(Tdtp, ImportsAPacketWrittenByTheTdtpFramework) {
  TempDir tmp;
  const std::string fixture = std::string(SLUICE_TESTDATA_DIR) + "/tdtp/users.tdtp.xml";
  if (!fs::exists(fixture)) GTEST_SKIP() << "missing " << fixture;
  fs::copy_file(fixture, tmp.sub("users.tdtp.xml"));
  RunStats stats;
  std::vector<RecordBatch> batches = ImportOrdered(tmp.path(), &stats);
  EXPECT_EQ(stats.rows, 8);  // users.tdtp.xml.csv: a header and 8 rows
  EXPECT_EQ(stats.incomplete_streams, 0);  // TotalParts=1 declared by the packet
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].schema()->field(0).name, "ID");
}

// ---------------------------------------------------------------------------
// Copy

TEST(Copy, GenToMemoryIsExactAndResumable) {
  auto store = std::make_shared<MemoryStore>();
  constexpr int64_t kRows = 300000;
  {
    auto source = GenSource(kRows);
    MemorySink sink(store);
    std::atomic<bool> stop{false};
    RunOptions o = SmallParts(3);
    o.stop_requested = &stop;
    o.on_progress = [&](const ProgressSnapshot& s) {
      if (s.parts >= 5) stop = true;
    };
    RunStats stats;
    Status st = RunCopy(source.get(), &sink, o, &stats);
    if (!st.ok()) {
      EXPECT_EQ(st.code(), StatusCode::kCancelled) << st.ToString();
    }
    EXPECT_EQ(store->ledger_rows(), stats.rows);
  }
  const auto applied_before = static_cast<int64_t>(store->ledger.size());
  {
    // A different worker count: chunk ids do not depend on it.
    auto source = GenSource(kRows);
    MemorySink sink(store);
    RunStats stats;
    ASSERT_TRUE(RunCopy(source.get(), &sink, SmallParts(1), &stats).ok()) << stats.error;
    EXPECT_EQ(stats.duplicates, applied_before);
    EXPECT_EQ(stats.rows + stats.duplicate_rows, kRows);
    EXPECT_EQ(store->commits, 1);
  }
  ExpectExactlyGenRows(store->all_batches(), gen::GenSchema::kMixed, 1, kRows);
}

TEST(Copy, ThroughPartsDirectoryAndBack) {
  TempDir tmp;
  const std::string dir = tmp.sub("parts");
  {
    auto source = GenSource(70000, "fixed", 9);
    auto sink = Registry::Global().MakeSink("parts://" + dir);
    ASSERT_TRUE(sink.ok());
    RunStats stats;
    ASSERT_TRUE(RunCopy(source.get(), sink->get(), SmallParts(2), &stats).ok()) << stats.error;
    EXPECT_EQ(stats.rows, 70000);
    // Again: every part file is already there (the directory is the ledger).
    auto source2 = GenSource(70000, "fixed", 9);
    auto sink2 = Registry::Global().MakeSink("parts://" + dir);
    RunStats again;
    ASSERT_TRUE(RunCopy(source2.get(), sink2->get(), SmallParts(2), &again).ok());
    EXPECT_EQ(again.rows, 0);
    EXPECT_EQ(again.duplicates, stats.parts);
  }
  // The sink ended each split's stream with an end part at Commit.
  std::map<std::string, std::vector<part::PartHeader>> streams;
  for (auto& p : DecodeDir(dir)) streams[p.header.stream_id].push_back(p.header);
  ASSERT_FALSE(streams.empty());
  for (auto& [id, headers] : streams) {
    Status valid = part::ValidateStream(headers, id);
    EXPECT_TRUE(valid.ok()) << valid.ToString();
  }
  auto store = std::make_shared<MemoryStore>();
  auto source = Registry::Global().MakeSource("parts://" + dir);
  ASSERT_TRUE(source.ok());
  MemorySink sink(store);
  RunStats stats;
  ASSERT_TRUE(RunCopy(source->get(), &sink, SmallParts(2), &stats).ok()) << stats.error;
  EXPECT_EQ(stats.rows, 70000);
  ExpectExactlyGenRows(store->all_batches(), gen::GenSchema::kFixed, 9, 70000);
}

TEST(Copy, SkipPartWritesADecodableRejectPart) {
  TempDir tmp;
  auto store = std::make_shared<MemoryStore>();
  store->fail_part_numbers = {2};
  auto source = GenSource(20000);
  MemorySink sink(store);
  RunOptions o = SmallParts(2);
  o.on_error = ErrorPolicy::kSkipPart;
  o.reject_dir = tmp.sub("rejects");
  RunStats stats;
  ASSERT_TRUE(RunCopy(source.get(), &sink, o, &stats).ok()) << stats.error;
  ASSERT_GE(stats.skipped_parts, 1);
  ASSERT_EQ(stats.rejected_files.size(), static_cast<size_t>(stats.skipped_parts));
  int64_t rejected_rows = 0;
  std::vector<RecordBatch> all = store->all_batches();
  for (const auto& f : stats.rejected_files) {
    auto bytes = ReadFile(f);
    ASSERT_TRUE(bytes.ok());
    auto p = part::DecodePart(*bytes, f);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ(p->header.part_number, 2);
    rejected_rows += p->header.rows;
    all.insert(all.end(), p->batches.begin(), p->batches.end());
  }
  EXPECT_EQ(stats.rows + rejected_rows, 20000);
  // Applied + rejected = the whole table, each row once.
  ExpectExactlyGenRows(all, gen::GenSchema::kMixed, 1, 20000);
}

TEST(Copy, FailPolicyStopsAtTheFirstFailedChunk) {
  auto store = std::make_shared<MemoryStore>();
  store->fail_part_numbers = {1};
  auto source = GenSource(100000);
  MemorySink sink(store);
  RunStats stats;
  Status st = RunCopy(source.get(), &sink, SmallParts(2), &stats);
  EXPECT_EQ(st.code(), StatusCode::kInvalidData);
  EXPECT_NE(st.message().find("copy worker"), std::string::npos) << st.message();
  EXPECT_EQ(store->commits, 0);
  EXPECT_EQ(stats.errors, 1);
}

// A writer that groups chunks (SinkWriter::ApplyParts) takes consecutive
// ones from the queue; every chunk is applied once and counted once, and a
// re-run finds them all applied.
TEST(Copy, AGroupingWriterAppliesEveryChunkOnceAndAReRunSkipsThemAll) {
  auto store = std::make_shared<MemoryStore>();
  store->group_parts = 4;
  constexpr int64_t kRows = 300000;
  RunStats first;
  {
    auto source = GenSource(kRows);
    MemorySink sink(store);
    ASSERT_TRUE(RunCopy(source.get(), &sink, SmallParts(2), &first).ok()) << first.error;
  }
  EXPECT_EQ(first.rows, kRows);
  EXPECT_EQ(first.parts, static_cast<int64_t>(store->ledger.size()));
  EXPECT_GT(store->ledger.size(), 8u);
  EXPECT_EQ(*std::max_element(store->group_sizes.begin(), store->group_sizes.end()), 4);
  int taken = 0;
  for (int n : store->group_sizes) taken += n;
  EXPECT_EQ(taken, first.parts);
  ExpectExactlyGenRows(store->all_batches(), gen::GenSchema::kMixed, 1, kRows);
  {
    auto source = GenSource(kRows);
    MemorySink sink(store);
    RunStats again;
    ASSERT_TRUE(RunCopy(source.get(), &sink, SmallParts(1), &again).ok()) << again.error;
    EXPECT_EQ(again.rows, 0);
    EXPECT_EQ(again.duplicates, first.parts);
    EXPECT_EQ(again.duplicate_rows, kRows);
  }
}

// A group that fails transiently loses its chunks (no longer in memory):
// their splits are read again in a further pass, where every chunk already
// applied is skipped, and the run ends exact. Beyond max_retries passes, the
// run fails, and a re-run completes it.
TEST(Copy, ChunksOfATransientlyFailedGroupAreReadAgainAndAppliedOnce) {
  constexpr int64_t kRows = 300000;
  for (int failures : {1, 3}) {
    SCOPED_TRACE(failures);
    auto store = std::make_shared<MemoryStore>();
    store->group_parts = 4;
    store->transient_group_failures = failures;
    auto source = GenSource(kRows);
    MemorySink sink(store);
    RunOptions o = SmallParts(2);
    o.copy_splits = 4;
    RunStats stats;
    ASSERT_TRUE(RunCopy(source.get(), &sink, o, &stats).ok()) << stats.error;
    EXPECT_EQ(store->transient_group_failures, 0);
    EXPECT_EQ(stats.retries, failures);
    EXPECT_EQ(stats.rows, kRows);
    EXPECT_EQ(stats.parts, static_cast<int64_t>(store->ledger.size()));
    EXPECT_EQ(store->commits, 1);
    ExpectExactlyGenRows(store->all_batches(), gen::GenSchema::kMixed, 1, kRows);
  }
  auto store = std::make_shared<MemoryStore>();
  store->group_parts = 4;
  store->transient_group_failures = 1000;
  {
    auto source = GenSource(kRows);
    MemorySink sink(store);
    RunOptions o = SmallParts(2);
    o.max_retries = 2;
    RunStats stats;
    Status st = RunCopy(source.get(), &sink, o, &stats);
    EXPECT_EQ(st.code(), StatusCode::kRetryable) << st.ToString();
    EXPECT_NE(st.message().find("injected loss of a grouped write"), std::string::npos)
        << st.message();
    EXPECT_EQ(store->commits, 0);
  }
  store->transient_group_failures = 0;
  {
    auto source = GenSource(kRows);
    MemorySink sink(store);
    RunStats stats;
    ASSERT_TRUE(RunCopy(source.get(), &sink, SmallParts(2), &stats).ok()) << stats.error;
    EXPECT_EQ(stats.rows + stats.duplicate_rows, kRows);
  }
  ExpectExactlyGenRows(store->all_batches(), gen::GenSchema::kMixed, 1, kRows);
}

// A group that fails fails the run (its chunks cannot be sent again from
// memory), naming the chunks; the re-run applies what is missing, once.
TEST(Copy, AFailedGroupFailsTheRunAndTheReRunCompletesIt) {
  auto store = std::make_shared<MemoryStore>();
  store->group_parts = 3;
  store->fail_part_numbers = {5};
  constexpr int64_t kRows = 200000;
  {
    auto source = GenSource(kRows);
    MemorySink sink(store);
    RunStats stats;
    Status st = RunCopy(source.get(), &sink, SmallParts(2), &stats);
    EXPECT_EQ(st.code(), StatusCode::kInvalidData) << st.ToString();
    EXPECT_NE(st.message().find("copy worker"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("chunk"), std::string::npos) << st.message();
    EXPECT_EQ(store->commits, 0);
    EXPECT_EQ(store->ledger_rows(), stats.rows);
    EXPECT_LT(stats.rows, kRows);
  }
  store->fail_part_numbers.clear();
  {
    auto source = GenSource(kRows);
    MemorySink sink(store);
    RunStats stats;
    ASSERT_TRUE(RunCopy(source.get(), &sink, SmallParts(2), &stats).ok()) << stats.error;
    EXPECT_EQ(stats.rows + stats.duplicate_rows, kRows);
    EXPECT_EQ(store->commits, 1);
  }
  ExpectExactlyGenRows(store->all_batches(), gen::GenSchema::kMixed, 1, kRows);
}

// ---------------------------------------------------------------------------
// With the real SQLite connector (registered in the global registry).

class WithSqlite : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Registry::Global().Find("sqlite") == nullptr) GTEST_SKIP() << "sqlite connector not built";
  }
  std::string Db(const std::string& name, const std::string& query) const {
    return "sqlite://" + tmp_.sub(name) + "?" + query;
  }
  TempDir tmp_;
};

TEST_F(WithSqlite, ExportImportIntoSqliteIsExactAndResumable) {
  const std::string dir = tmp_.sub("parts");
  const int64_t parts = ExportTo(dir, 80000);
  const std::string db = Db("dst.db", "table=t");
  int64_t applied_first = 0;
  {
    auto sink = Registry::Global().MakeSink(db);
    ASSERT_TRUE(sink.ok()) << sink.status().ToString();
    auto sub = DirSubscriber(dir);
    std::atomic<bool> stop{false};
    RunOptions o = SmallParts(4);
    o.stop_requested = &stop;
    o.on_progress = [&](const ProgressSnapshot& s) {
      if (s.parts >= 3) stop = true;
    };
    RunStats stats;
    Status st = RunImport(sub.get(), sink->get(), o, &stats);
    if (!st.ok()) {
      EXPECT_EQ(st.code(), StatusCode::kCancelled) << st.ToString();
    }
    applied_first = stats.parts;
  }
  {
    auto sink = Registry::Global().MakeSink(db);
    ASSERT_TRUE(sink.ok());
    auto sub = DirSubscriber(dir);
    RunStats stats;
    Status st = RunImport(sub.get(), sink->get(), SmallParts(4), &stats);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(stats.duplicates, applied_first);
    EXPECT_EQ(stats.parts + stats.duplicates, parts);
  }
  // Read the table back through the runtime and compare with the generator.
  auto store = std::make_shared<MemoryStore>();
  auto source = Registry::Global().MakeSource(db);
  ASSERT_TRUE(source.ok());
  MemorySink sink(store);
  RunStats stats;
  Status st = RunCopy(source->get(), &sink, SmallParts(2), &stats);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(stats.rows, 80000);
  ExpectExactlyGenRows(store->all_batches(), gen::GenSchema::kMixed, 1, 80000);
}

TEST_F(WithSqlite, FirstPartLeavesWithTheFirstSmallBatchThenPartsAreFull) {
  // A SQLite table of 50,000 generated rows.
  const std::string db = Db("first.db", "table=t");
  {
    auto gen = Registry::Global().MakeSource("gen:///?rows=50000&seed=1&schema=mixed");
    ASSERT_TRUE(gen.ok());
    auto sink = Registry::Global().MakeSink(db);
    ASSERT_TRUE(sink.ok());
    RunStats stats;
    ASSERT_TRUE(RunCopy(gen->get(), sink->get(), SmallParts(2), &stats).ok()) << stats.error;
  }
  const std::string dir = tmp_.sub("first_parts");
  auto source = Registry::Global().MakeSource(db);
  ASSERT_TRUE(source.ok());
  auto publisher = DirPublisher(dir);
  RunOptions o;
  o.workers = 2;
  o.batch_rows = 8192;
  o.first_part_rows = 100;
  RunStats stats;
  ASSERT_TRUE(RunExport(source->get(), publisher.get(), o, &stats).ok()) << stats.error;
  std::map<int64_t, int64_t> rows_by_part;
  int64_t total = 0;
  for (const auto& p : DecodeDir(dir)) {
    if (p.header.kind != part::PartKind::kData) continue;
    rows_by_part[p.header.part_number] = p.header.rows;
    total += p.header.rows;
  }
  EXPECT_EQ(total, 50000);
  ASSERT_GE(rows_by_part.size(), 3u);
  // The SQLite reader honours first_batch_rows, and the runtime cuts part 1 right after it.
  EXPECT_EQ(rows_by_part.at(1), 100);
  // Later parts are cut by size again: at least a whole batch each (except the last).
  EXPECT_GE(rows_by_part.at(2), 8192);
}

TEST_F(WithSqlite, CopyGenToSqliteTwiceAddsNothing) {
  const std::string db = Db("copy.db", "table=t");
  for (int run = 0; run < 2; ++run) {
    auto source = GenSource(50000, "fixed", 3);
    auto sink = Registry::Global().MakeSink(db);
    ASSERT_TRUE(sink.ok());
    RunStats stats;
    Status st = RunCopy(source.get(), sink->get(), SmallParts(3), &stats);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(stats.rows, run == 0 ? 50000 : 0);
    EXPECT_EQ(stats.duplicate_rows, run == 0 ? 0 : 50000);
  }
}

TEST_F(WithSqlite, MissingTableIsNamed) {
  auto source = Registry::Global().MakeSource(Db("empty.db", "table=nosuch"));
  ASSERT_TRUE(source.ok());
  auto sink = Registry::Global().MakeSink("parts://" + tmp_.sub("out"));
  ASSERT_TRUE(sink.ok());
  RunStats stats;
  Status st = RunCopy(source->get(), sink->get(), SmallParts(), &stats);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.code(), StatusCode::kInvalidArgument);  // a runtime failure, not a usage error
  EXPECT_NE(st.message().find("empty.db"), std::string::npos) << st.message();
}

TEST(Runtime, ErrorPolicyNames) {
  EXPECT_EQ(*ParseErrorPolicy("fail"), ErrorPolicy::kFail);
  EXPECT_EQ(*ParseErrorPolicy("skip-part"), ErrorPolicy::kSkipPart);
  EXPECT_EQ(ParseErrorPolicy("ignore").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(StreamIdFor("x").size(), 16u);
  EXPECT_EQ(StreamIdFor("x"), StreamIdFor("x"));
  EXPECT_NE(StreamIdFor("x"), StreamIdFor("y"));
}

}  // namespace
}  // namespace sluice::pipeline
