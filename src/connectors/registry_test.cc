// The registry (roles, option merging, errors) and the two connectors that
// live with the runtime: parts:/// (directory transport) and gen:///.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "connectors/connector.h"
#include "connectors/gen/gen.h"
#include "connectors/parts/parts.h"
#include "core/io.h"
#include "core/temp_dir.h"
#include "formats/part/part.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;

// A registry with one fake connector per role, to test Resolve on its own.
Registry FakeRegistry() {
  Registry r;
  ConnectorInfo src;
  src.scheme = "src";
  src.source_options = {{"n", OptionType::kInt, "1", "a number"}};
  src.make_source = [](const Uri&, const Options&) -> Result<std::unique_ptr<Source>> {
    return Status::Unsupported("fake");
  };
  r.Add(src);
  ConnectorInfo dst;
  dst.scheme = "dst";
  dst.sink_options = {{"table", OptionType::kString, "", "table", {}, true}};
  dst.make_sink = [](const Uri&, const Options& o) -> Result<std::unique_ptr<Sink>> {
    return Status::Unsupported("fake sink for table " + o.GetString("table"));
  };
  r.Add(dst);
  return r;
}

TEST(Registry, ResolvesSchemesRolesAndOptions) {
  Registry r = FakeRegistry();
  ASSERT_NE(r.Find("src"), nullptr);
  EXPECT_EQ(r.Find("nope"), nullptr);

  auto unknown = r.MakeSource("nope:///x");
  ASSERT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("unknown endpoint scheme 'nope'"), std::string::npos);
  EXPECT_NE(unknown.status().message().find("known: src, dst"), std::string::npos);

  auto wrong_role = r.MakeSink("src:///x");
  ASSERT_EQ(wrong_role.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong_role.status().message().find("cannot be used as a destination (possible: dst)"),
            std::string::npos)
      << wrong_role.status().message();
  EXPECT_EQ(r.MakePublisher("dst:///x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.MakeSubscriber("src:///x").status().code(), StatusCode::kInvalidArgument);

  // Options from the URI and from flags are merged; the same name twice is an error.
  EXPECT_EQ(r.MakeSource("src:///x?n=2").status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(r.MakeSource("src:///x", {{"n", "3"}}).status().code(), StatusCode::kUnsupported);
  auto twice = r.MakeSource("src:///x?n=2", {{"n", "3"}});
  EXPECT_EQ(twice.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(twice.status().message().find("both in the URI and as a flag"), std::string::npos);
  auto bad = r.MakeSource("src:///x?n=two");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  auto sink = r.MakeSink("dst:///x", {{"table", "t1"}});
  EXPECT_NE(sink.status().message().find("table t1"), std::string::npos);
  EXPECT_EQ(r.MakeSink("dst:///x").status().code(), StatusCode::kInvalidArgument);  // required
  EXPECT_EQ(r.MakeSource("not a uri").status().code(), StatusCode::kInvalidArgument);
}

TEST(Registry, GlobalHasTheBuiltInConnectors) {
  const Registry& g = Registry::Global();
  const ConnectorInfo* p = g.Find("parts");
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->make_source && p->make_sink && p->make_publisher && p->make_subscriber);
  const ConnectorInfo* gen = g.Find("gen");
  ASSERT_NE(gen, nullptr);
  EXPECT_TRUE(gen->make_source);
  EXPECT_FALSE(gen->make_sink);
  EXPECT_EQ(&g, &Registry::Global());
}

// ---------------------------------------------------------------------------
// parts:///

std::string EncodeTestPart(const std::string& stream, int64_t number, int64_t rows,
                           const std::string& key = "") {
  part::PartHeader h;
  h.stream_id = stream;
  h.part_number = number;
  h.source_fingerprint = "test";
  h.idempotency_key = key;
  auto schema = gen::SchemaOf(gen::GenSchema::kFixed);
  auto bytes = part::EncodePart(&h, *schema, {gen::GenerateRows(gen::GenSchema::kFixed, 1, 0, rows)});
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return *bytes;
}

TEST(Parts, FileNamesAndListing) {
  EXPECT_EQ(parts::PartFileName("abc", 7), "abc_part_000007.part");
  EXPECT_EQ(parts::PartFileName("a/b c", 1234567), "a_b_c_part_1234567.part");
  EXPECT_EQ(parts::PartFileName("", 1), "stream_part_000001.part");
  TempDir tmp;
  ASSERT_TRUE(WriteFileAtomic(tmp.sub("s_part_000002.part"), "x").ok());
  ASSERT_TRUE(WriteFileAtomic(tmp.sub("s_part_000001.part"), "x").ok());
  // A writer in progress:
  ASSERT_TRUE(WriteFileAtomic(tmp.sub("s_part_000003.part.tmp-1-2"), "x").ok());
  ASSERT_TRUE(WriteFileAtomic(tmp.sub("notes.txt"), "x").ok());
  fs::create_directories(tmp.sub("dir.part"));
  auto files = parts::ListPartFiles(tmp.path());
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ(fs::path((*files)[0]).filename(), "s_part_000001.part");
  EXPECT_EQ(parts::ListPartFiles(tmp.sub("missing")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(parts::ListPartFiles(tmp.sub("notes.txt")).status().code(), StatusCode::kInvalidArgument);

  auto uri = Uri::Parse("parts://rel/dir");
  ASSERT_TRUE(uri.ok());
  EXPECT_EQ(parts::DirectoryOf(*uri), "rel/dir");
  EXPECT_EQ(Registry::Global().MakePublisher("parts://").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(Parts, PublisherWritesWholeFilesAndSubscriberDeliversEachOnce) {
  TempDir tmp;
  const std::string dir = tmp.sub("out");
  auto pub = Registry::Global().MakePublisher("parts://" + dir);
  ASSERT_TRUE(pub.ok());
  ASSERT_TRUE((*pub)->Open().ok());
  constexpr int kParts = 40;
  for (int i = 1; i <= kParts; ++i) {
    PartMeta meta;
    meta.stream_id = "s1";
    meta.part_number = i;
    ASSERT_TRUE((*pub)->Publish(meta, EncodeTestPart("s1", i, 3)).ok());
  }
  ASSERT_TRUE((*pub)->Flush().ok());
  ASSERT_TRUE((*pub)->Close().ok());
  for (const auto& e : fs::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos);
  }

  auto sub = Registry::Global().MakeSubscriber("parts://" + dir + "?delete=true");
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE((*sub)->Open().ok());
  std::mutex mu;
  std::multiset<std::string> names;
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (true) {
        auto d = (*sub)->Receive(10);
        ASSERT_TRUE(d.ok());
        if (d->state == Delivery::State::kEnd) return;
        ASSERT_EQ(d->state, Delivery::State::kPart);
        ASSERT_TRUE(d->part.bytes && d->part.bytes->size() > 0);
        ASSERT_TRUE((*sub)->Ack(d->part).ok());  // delete=true removes the file
        std::lock_guard<std::mutex> lock(mu);
        names.insert(d->part.name);
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(names.size(), static_cast<size_t>(kParts));
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), static_cast<size_t>(kParts));
  auto left = parts::ListPartFiles(dir);
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());
  ASSERT_TRUE((*sub)->Close().ok());
}

TEST(Parts, SinkLedgerIsTheFileAndRejectsAForeignPartId) {
  TempDir tmp;
  auto sink = Registry::Global().MakeSink("parts://" + tmp.sub("d") + "?compression=lz4");
  ASSERT_TRUE(sink.ok());
  auto schema = gen::SchemaOf(gen::GenSchema::kFixed);
  ASSERT_TRUE((*sink)->Open(schema).ok());
  auto writer = (*sink)->NewWriter();
  ASSERT_TRUE(writer.ok());
  PartInfo info{"key-1", "st", 1, 10};
  std::vector<RecordBatch> batches = {gen::GenerateRows(gen::GenSchema::kFixed, 2, 0, 10)};
  auto first = (*writer)->ApplyPart(info, batches);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, ApplyOutcome::kApplied);
  auto again = (*writer)->ApplyPart(info, batches);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, ApplyOutcome::kAlreadyApplied);
  PartInfo other{"key-2", "st", 1, 10};
  auto clash = (*writer)->ApplyPart(other, batches);
  ASSERT_EQ(clash.status().code(), StatusCode::kInvalidData);
  EXPECT_NE(clash.status().message().find("key-1"), std::string::npos);

  // Commit ends the gap-free stream with a valid end part.
  ASSERT_TRUE((*writer)->ApplyPart({"key-3", "st", 2, 10}, batches).ok());
  ASSERT_TRUE((*sink)->Commit().ok());
  auto files = parts::ListPartFiles(tmp.sub("d"));
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 3u);
  std::vector<part::PartHeader> headers;
  for (const auto& f : *files) {
    auto bytes = ReadFile(f);
    ASSERT_TRUE(bytes.ok());
    auto p = part::DecodePart(*bytes, f);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    headers.push_back(p->header);
  }
  EXPECT_EQ(headers[2].kind, part::PartKind::kEnd);
  EXPECT_EQ(headers[2].total_rows, 20);
  EXPECT_TRUE(part::ValidateStream(headers, "st").ok());
}

TEST(Parts, SourceReadsTheDirectoryAsATable) {
  TempDir tmp;
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(WriteFileAtomic(tmp.sub(parts::PartFileName("s", i)), EncodeTestPart("s", i, 100)).ok());
  }
  auto source = Registry::Global().MakeSource("parts://" + tmp.path());
  ASSERT_TRUE(source.ok());
  ASSERT_TRUE((*source)->Open(SourceOptions{}).ok());
  EXPECT_TRUE((*source)->schema()->Equals(*gen::SchemaOf(gen::GenSchema::kFixed)));
  auto splits = (*source)->Plan(3);
  ASSERT_TRUE(splits.ok());
  ASSERT_EQ(splits->size(), 3u);
  int64_t rows = 0;
  for (const auto& s : *splits) {
    auto reader = (*source)->OpenSplit(s);
    ASSERT_TRUE(reader.ok());
    while (true) {
      auto b = (*reader)->Next();
      ASSERT_TRUE(b.ok());
      if (!*b) break;
      rows += (*b)->num_rows();
    }
  }
  EXPECT_EQ(rows, 500);
  const std::string fp = (*source)->Fingerprint();
  EXPECT_EQ(fp.rfind("parts://", 0), 0u);
  // A changed directory has a different fingerprint.
  ASSERT_TRUE(WriteFileAtomic(tmp.sub(parts::PartFileName("s", 6)), EncodeTestPart("s", 6, 100)).ok());
  auto again = Registry::Global().MakeSource("parts://" + tmp.path());
  ASSERT_TRUE((*again)->Open(SourceOptions{}).ok());
  EXPECT_NE((*again)->Fingerprint(), fp);
  // ... but the same identity: part keys of unchanged rows stay.
  EXPECT_EQ((*again)->Identity(), (*source)->Identity());
  EXPECT_EQ(fp.rfind((*source)->Identity() + "#", 0), 0u) << fp;
}

// ---------------------------------------------------------------------------
// gen:///

TEST(Gen, RowsDoNotDependOnBatchingOrSplits) {
  for (auto which : {gen::GenSchema::kMixed, gen::GenSchema::kAllTypes, gen::GenSchema::kFixed}) {
    RecordBatch whole = gen::GenerateRows(which, 5, 0, 300);
    ASSERT_TRUE(whole.Validate().ok());
    RecordBatch a = gen::GenerateRows(which, 5, 0, 120);
    RecordBatch b = gen::GenerateRows(which, 5, 120, 180);
    std::string why;
    EXPECT_TRUE(whole.Slice(0, 120).Equals(a, &why)) << why;
    EXPECT_TRUE(whole.Slice(120, 180).Equals(b, &why)) << why;
    EXPECT_FALSE(whole.Equals(gen::GenerateRows(which, 6, 0, 300)));  // the seed matters
  }
}

TEST(Gen, AllTypesHasExtremesNullsAndUniqueKeys) {
  RecordBatch b = gen::GenerateRows(gen::GenSchema::kAllTypes, 1, 0, 100);
  const Column& key = b.column(3);
  EXPECT_EQ(key.Value<int64_t>(0), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(key.Value<int64_t>(1), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(key.null_count, 0);
  std::set<int64_t> keys;
  for (int64_t i = 0; i < b.num_rows(); ++i) keys.insert(key.Value<int64_t>(i));
  EXPECT_EQ(keys.size(), 100u);
  for (int c = 0; c < b.num_columns(); ++c) {
    if (c != 3) {
      EXPECT_GT(b.column(c).null_count, 0) << b.schema()->field(c).name;
    }
  }
}

TEST(Gen, PlanCoversEveryRowOnce) {
  auto source = Registry::Global().MakeSource("gen:///?rows=1000003&schema=fixed");
  ASSERT_TRUE(source.ok());
  SourceOptions o;
  o.batch_rows = 7000;
  ASSERT_TRUE((*source)->Open(o).ok());
  EXPECT_EQ((*source)->EstimatedRows(), 1000003);
  auto splits = (*source)->Plan(8);
  ASSERT_TRUE(splits.ok());
  EXPECT_GT(splits->size(), 1u);
  int64_t expected_next = 0, rows = 0;
  for (const auto& s : *splits) {
    auto reader = (*source)->OpenSplit(s);
    ASSERT_TRUE(reader.ok());
    while (true) {
      auto b = (*reader)->Next();
      ASSERT_TRUE(b.ok());
      if (!*b) break;
      ASSERT_LE((*b)->num_rows(), 7000);
      ASSERT_EQ((*b)->column(0).Value<int64_t>(0), expected_next);
      expected_next += (*b)->num_rows();
      rows += (*b)->num_rows();
    }
  }
  EXPECT_EQ(rows, 1000003);
  EXPECT_EQ(Registry::Global().MakeSource("gen:///?rows=-1").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Registry::Global().MakeSource("gen:///?schema=wide").status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice
