#include "connectors/file/file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "connectors/file/file_internal.h"
#include "core/io.h"
#include "core/temp_dir.h"
#include "core/testing.h"
#include "core/text.h"
#include "formats/csv/csv.h"
#include "formats/part/part.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using KV = std::vector<std::pair<std::string, std::string>>;

using testing::TempDir;

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

void AppendText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << text;
}

std::string Escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '/' || c == '.' || c == '_' || c == '-';
    if (plain) {
      out.push_back(c);
    } else {
      char esc[4];
      std::snprintf(esc, sizeof(esc), "%%%02X", static_cast<unsigned char>(c));
      out += esc;
    }
  }
  return out;
}

std::string FileUri(const std::string& path, const KV& options = {}) {
  std::string uri = "file://" + Escape(path);
  for (size_t i = 0; i < options.size(); ++i) {
    uri += (i == 0 ? "?" : "&") + options[i].first + "=" + Escape(options[i].second);
  }
  return uri;
}

const Registry& TestRegistry() {
  static const Registry reg = [] {
    Registry r;
    RegisterFiles(&r);
    return r;
  }();
  return reg;
}

std::unique_ptr<Source> MakeSrc(const std::string& path, const KV& options = {}) {
  auto s = TestRegistry().MakeSource(FileUri(path, options));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

std::unique_ptr<Sink> MakeDst(const std::string& path, const KV& options = {}) {
  auto s = TestRegistry().MakeSink(FileUri(path, options));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

// Concatenates batches (all with the schema of the first) into one.
RecordBatch Concat(std::shared_ptr<const Schema> schema, const std::vector<RecordBatch>& batches) {
  BatchBuilder bb(schema);
  for (const auto& b : batches) {
    for (int c = 0; c < b.num_columns(); ++c) {
      for (int64_t r = 0; r < b.num_rows(); ++r) bb.column(c).AppendFrom(b.column(c), r);
    }
  }
  return bb.Finish();
}

// Reads every split (concurrently when there are several) in split order.
Result<RecordBatch> ReadAllRows(Source* source, int max_splits = 4, int64_t batch_rows = 1000,
                                size_t* splits_out = nullptr) {
  SourceOptions so;
  so.batch_rows = batch_rows;
  SLUICE_RETURN_NOT_OK(source->Open(so));
  SLUICE_ASSIGN_OR_RETURN(std::vector<Split> splits, source->Plan(max_splits));
  if (splits_out) *splits_out = splits.size();
  std::vector<std::vector<RecordBatch>> per(splits.size());
  std::vector<Status> status(splits.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < splits.size(); ++i) {
    threads.emplace_back([&, i] {
      auto reader = source->OpenSplit(splits[i]);
      if (!reader.ok()) {
        status[i] = reader.status();
        return;
      }
      while (true) {
        auto next = (*reader)->Next();
        if (!next.ok()) {
          status[i] = next.status();
          return;
        }
        if (!next->has_value()) return;
        if ((*next)->num_rows() > batch_rows) {
          status[i] = Status::Internal("batch larger than batch_rows");
          return;
        }
        per[i].push_back(std::move(**next));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& s : status) SLUICE_RETURN_NOT_OK(s);
  std::vector<RecordBatch> all;
  for (auto& v : per) {
    for (auto& b : v) all.push_back(std::move(b));
  }
  RecordBatch out = Concat(source->schema(), all);
  SLUICE_RETURN_NOT_OK(source->Close());
  return out;
}

// Writes `parts` (one ApplyPart each, ids "p1", "p2", ...) and commits.
Status WriteParts(Sink* sink, std::shared_ptr<const Schema> schema,
                  const std::vector<std::vector<RecordBatch>>& parts, std::vector<ApplyOutcome>* outcomes = nullptr,
                  const std::vector<std::string>& ids = {}) {
  SLUICE_RETURN_NOT_OK(sink->Open(schema));
  SLUICE_ASSIGN_OR_RETURN(auto writer, sink->NewWriter());
  for (size_t i = 0; i < parts.size(); ++i) {
    PartInfo info;
    info.part_id = i < ids.size() ? ids[i] : "p" + std::to_string(i + 1);
    info.stream_id = "s";
    info.part_number = static_cast<int64_t>(i + 1);
    for (const auto& b : parts[i]) info.rows += b.num_rows();
    SLUICE_ASSIGN_OR_RETURN(ApplyOutcome o, writer->ApplyPart(info, parts[i]));
    if (outcomes) outcomes->push_back(o);
  }
  SLUICE_RETURN_NOT_OK(sink->Commit());
  return sink->Close();
}

// The values of `want` and `got` are identical (column types too); field
// flags and source-type hints may differ.
void ExpectSameValues(const RecordBatch& want, const RecordBatch& got) {
  ASSERT_EQ(want.num_columns(), got.num_columns());
  for (int c = 0; c < want.num_columns(); ++c) {
    ASSERT_EQ(want.schema()->field(c).name, got.schema()->field(c).name);
    ASSERT_EQ(want.column(c).type.ToString(), got.column(c).type.ToString())
        << "column " << want.schema()->field(c).name;
  }
  ASSERT_EQ(want.num_rows(), got.num_rows());
  RecordBatch relabeled(got.schema(), want.num_rows(), want.columns());
  std::string why;
  EXPECT_TRUE(relabeled.Equals(got, &why)) << why;
}

std::string SchemaSpecOf(const Schema& s) {
  std::string out;
  for (const auto& f : s.fields()) {
    out += (out.empty() ? "" : ",") + f.name + ":" + f.type.ToString();
    if (f.primary_key) out += ":key";
  }
  return out;
}

std::vector<std::vector<RecordBatch>> ThreeParts(const RecordBatch& b) {
  const int64_t n = b.num_rows();
  return {{b.Slice(0, n / 3)}, {b.Slice(n / 3, n / 3), b.Slice(2 * (n / 3), 0)},
          {b.Slice(2 * (n / 3), n - 2 * (n / 3))}};
}

// ---------------------------------------------------------------------------

TEST(FileConnectorTest, Registered) {
  const ConnectorInfo* info = TestRegistry().Find("file");
  ASSERT_NE(info, nullptr);
  EXPECT_TRUE(info->make_source);
  EXPECT_TRUE(info->make_sink);
}

TEST(FileConnectorTest, ParseSchemaSpec) {
  auto s = ParseSchemaSpec(" id:int64:key , price:decimal(18,2), at:timestamptz(+03:00),n:string:notnull");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ((*s)->num_fields(), 4);
  EXPECT_EQ((*s)->field(0).name, "id");
  EXPECT_TRUE((*s)->field(0).primary_key);
  EXPECT_FALSE((*s)->field(0).nullable);
  EXPECT_EQ((*s)->field(1).type, DataType::Decimal(18, 2));
  EXPECT_EQ((*s)->field(2).type, DataType::TimestampTz("+03:00"));
  EXPECT_FALSE((*s)->field(3).nullable);
  EXPECT_TRUE((*s)->field(3).type == DataType::String());

  EXPECT_EQ(ParseSchemaSpec("id").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSchemaSpec("id:integer").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSchemaSpec("a:int64,a:string").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSchemaSpec("a:int64:wat").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSchemaSpec("").status().code(), StatusCode::kInvalidArgument);
}

TEST(FileConnectorTest, FormatByExtension) {
  using file::FileFormat;
  EXPECT_EQ(*file::ResolveFileFormat("/a/x.csv", ""), FileFormat::kCsv);
  EXPECT_EQ(*file::ResolveFileFormat("/a/x.TSV", ""), FileFormat::kCsv);
  EXPECT_EQ(*file::ResolveFileFormat("/a/x.jsonl", ""), FileFormat::kJsonl);
  EXPECT_EQ(*file::ResolveFileFormat("/a/x.ndjson", ""), FileFormat::kJsonl);
  EXPECT_EQ(*file::ResolveFileFormat("/a/x.tdtp.xml", ""), FileFormat::kTdtp);
  EXPECT_EQ(*file::ResolveFileFormat("/a/x.part", ""), FileFormat::kPart);
  EXPECT_EQ(*file::ResolveFileFormat("/a/x.dat", "jsonl"), FileFormat::kJsonl);
  auto bad = file::ResolveFileFormat("/a/x.parquet", "");
  ASSERT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find(".parquet"), std::string::npos) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("/a/x.parquet"), std::string::npos);
}

struct FormatCase {
  std::string file;
  bool needs_schema;  // CSV / JSONL: inference cannot recover every type
};

class FileRoundTripTest : public ::testing::TestWithParam<FormatCase> {};

TEST_P(FileRoundTripTest, AllTypesSeveralParts) {
  TempDir dir;
  const std::string path = dir / GetParam().file;
  const RecordBatch batch = testing::AllTypesBatch(200);
  auto sink = MakeDst(path);
  ASSERT_NE(sink, nullptr);
  std::vector<ApplyOutcome> outcomes;
  ASSERT_TRUE(WriteParts(sink.get(), batch.schema(), ThreeParts(batch), &outcomes).ok());
  EXPECT_EQ(outcomes, std::vector<ApplyOutcome>(3, ApplyOutcome::kApplied));
  sink.reset();
  EXPECT_EQ(dir.List(), std::vector<std::string>{GetParam().file});  // no temp files left

  KV opts;
  if (GetParam().needs_schema) opts.push_back({"schema", SchemaSpecOf(*batch.schema())});
  auto source = MakeSrc(path, opts);
  ASSERT_NE(source, nullptr);
  size_t splits = 0;
  auto got = ReadAllRows(source.get(), 8, 64, &splits);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(splits, 1u);
  ExpectSameValues(batch, *got);
  EXPECT_NE(source->Fingerprint().find(fs::path(path).filename().string()), std::string::npos);
}

TEST_P(FileRoundTripTest, ZeroAndOneRow) {
  for (int64_t rows : {0, 1}) {
    SCOPED_TRACE(rows);
    TempDir dir;
    const std::string path = dir / GetParam().file;
    const RecordBatch batch = testing::AllTypesBatch(rows);
    auto sink = MakeDst(path);
    ASSERT_NE(sink, nullptr);
    ASSERT_TRUE(WriteParts(sink.get(), batch.schema(), {{batch}}).ok());
    KV opts;
    if (GetParam().needs_schema) opts.push_back({"schema", SchemaSpecOf(*batch.schema())});
    auto source = MakeSrc(path, opts);
    ASSERT_NE(source, nullptr);
    auto got = ReadAllRows(source.get());
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ExpectSameValues(batch, *got);
  }
}

TEST_P(FileRoundTripTest, DestroyedWithoutCommitLeavesNothing) {
  TempDir dir;
  const std::string path = dir / GetParam().file;
  const RecordBatch batch = testing::AllTypesBatch(50);
  {
    auto sink = MakeDst(path);
    ASSERT_NE(sink, nullptr);
    ASSERT_TRUE(sink->Open(batch.schema()).ok());
    auto writer = sink->NewWriter();
    ASSERT_TRUE(writer.ok());
    PartInfo info;
    info.part_id = "p1";
    ASSERT_TRUE((*writer)->ApplyPart(info, {batch}).ok());
  }
  EXPECT_TRUE(dir.List().empty());
  {
    // Close() without Commit() too.
    auto sink = MakeDst(path);
    ASSERT_NE(sink, nullptr);
    ASSERT_TRUE(sink->Open(batch.schema()).ok());
    auto writer = sink->NewWriter();
    ASSERT_TRUE(writer.ok());
    PartInfo info;
    info.part_id = "p1";
    ASSERT_TRUE((*writer)->ApplyPart(info, {batch}).ok());
    ASSERT_TRUE(sink->Close().ok());
    EXPECT_TRUE(dir.List().empty());
  }
}

TEST_P(FileRoundTripTest, OverwriteKeepsOldFileUntilCommit) {
  TempDir dir;
  const std::string path = dir / GetParam().file;
  WriteText(path, "old content\n");
  WriteText(file::LedgerPath(path), "sluice-ledger 1\n");  // stale: must go at commit
  const RecordBatch batch = testing::AllTypesBatch(20);
  auto sink = MakeDst(path, {{"mode", "overwrite"}});
  ASSERT_NE(sink, nullptr);
  ASSERT_TRUE(sink->Open(batch.schema()).ok());
  auto writer = sink->NewWriter();
  ASSERT_TRUE(writer.ok());
  PartInfo info;
  info.part_id = "p1";
  ASSERT_TRUE((*writer)->ApplyPart(info, {batch}).ok());
  EXPECT_EQ(ReadText(path), "old content\n");
  ASSERT_TRUE(sink->Commit().ok());
  ASSERT_TRUE(sink->Close().ok());
  EXPECT_NE(ReadText(path), "old content\n");
  EXPECT_FALSE(fs::exists(file::LedgerPath(path)));
  EXPECT_EQ(dir.List(), std::vector<std::string>{GetParam().file});

  KV opts;
  if (GetParam().needs_schema) opts.push_back({"schema", SchemaSpecOf(*batch.schema())});
  auto source = MakeSrc(path, opts);
  auto got = ReadAllRows(source.get());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectSameValues(batch, *got);
}

TEST_P(FileRoundTripTest, CreateRefusesExistingFile) {
  TempDir dir;
  const std::string path = dir / GetParam().file;
  WriteText(path, "x\n");
  auto sink = MakeDst(path);
  Status st = sink->Open(testing::AllTypesSchema());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find(path), std::string::npos) << st.ToString();
  EXPECT_EQ(ReadText(path), "x\n");
}

TEST_P(FileRoundTripTest, RedeliveredPartIsSkipped) {
  TempDir dir;
  const std::string path = dir / GetParam().file;
  const RecordBatch batch = testing::AllTypesBatch(30);
  auto sink = MakeDst(path);
  std::vector<ApplyOutcome> outcomes;
  ASSERT_TRUE(WriteParts(sink.get(), batch.schema(), {{batch}, {batch}}, &outcomes, {"same", "same"}).ok());
  EXPECT_EQ(outcomes, (std::vector<ApplyOutcome>{ApplyOutcome::kApplied, ApplyOutcome::kAlreadyApplied}));
  KV opts;
  if (GetParam().needs_schema) opts.push_back({"schema", SchemaSpecOf(*batch.schema())});
  auto source = MakeSrc(path, opts);
  auto got = ReadAllRows(source.get());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectSameValues(batch, *got);
}

INSTANTIATE_TEST_SUITE_P(Formats, FileRoundTripTest,
                         ::testing::Values(FormatCase{"t.csv", true}, FormatCase{"t.tsv", true},
                                           FormatCase{"t.jsonl", true}, FormatCase{"t.tdtp.xml", false},
                                           FormatCase{"t.part", false}),
                         [](const ::testing::TestParamInfo<FormatCase>& param_info) {
                           std::string n = param_info.param.file.substr(2);
                           for (char& c : n) {
                             if (c == '.') c = '_';
                           }
                           return n;
                         });

TEST(FileConnectorTest, RewritingTheSameRowsKeepsTheIdentity) {
  TempDir dir;
  const std::string path = dir / "t.csv";
  WriteText(path, "id,name\n1,a\n2,b\n");
  auto open = [&] {
    auto source = MakeSrc(path);
    EXPECT_TRUE(source != nullptr && source->Open(SourceOptions{}).ok());
    return std::make_pair(source->Fingerprint(), source->Identity());
  };
  const auto [fp, identity] = open();
  EXPECT_EQ(identity.rfind("file://", 0), 0u) << identity;
  EXPECT_EQ(fp.rfind(identity + "#", 0), 0u) << fp;
  // Rewritten with the same rows and a later mtime: another fingerprint
  // (another stream), the same identity (the same part keys for the same rows).
  WriteText(path, "id,name\n1,a\n2,b\n");
  fs::last_write_time(path, fs::last_write_time(path) + std::chrono::seconds(5));
  const auto [fp2, identity2] = open();
  EXPECT_NE(fp2, fp);
  EXPECT_EQ(identity2, identity);
}

TEST(FileConnectorTest, TsvUsesTabs) {
  TempDir dir;
  const RecordBatch batch = testing::AllTypesBatch(3);
  auto sink = MakeDst(dir / "t.tsv");
  ASSERT_TRUE(WriteParts(sink.get(), batch.schema(), {{batch}}).ok());
  const std::string text = ReadText(dir / "t.tsv");
  EXPECT_EQ(text.substr(0, text.find('\n')), "i8\ti16\ti32\ti64\tu8\tu16\tu32\tu64\tf32\tf64\tdec38\tdec18\tb\ts\tbin\td\tt\tts\ttstz\tuuid\tjs");
}

TEST(FileConnectorTest, PartCompressionOptions) {
  const RecordBatch batch = testing::AllTypesBatch(100);
  for (const char* c : {"none", "lz4", "zstd"}) {
    SCOPED_TRACE(c);
    TempDir dir;
    auto sink = MakeDst(dir / "t.part", {{"compression", c}});
    ASSERT_TRUE(WriteParts(sink.get(), batch.schema(), ThreeParts(batch)).ok());
    // A .part file is one valid part with its checksum.
    auto bytes = ReadFile(dir / "t.part");
    ASSERT_TRUE(bytes.ok());
    auto decoded = part::DecodePart(*bytes, "t.part");
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(decoded->header.rows, 100);
    auto source = MakeSrc(dir / "t.part");
    auto got = ReadAllRows(source.get());
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ExpectSameValues(batch, *got);
    EXPECT_EQ(source->EstimatedRows().value_or(-1), 100);
  }
}

TEST(FileConnectorTest, TdtpCompressedFile) {
  TempDir dir;
  const RecordBatch batch = testing::AllTypesBatch(100);
  auto sink = MakeDst(dir / "t.tdtp.xml", {{"compress", "true"}, {"table", "things"}});
  ASSERT_TRUE(WriteParts(sink.get(), batch.schema(), ThreeParts(batch)).ok());
  const std::string xml = ReadText(dir / "t.tdtp.xml");
  EXPECT_NE(xml.find("compression=\"zstd\""), std::string::npos);
  EXPECT_NE(xml.find("<TableName>things</TableName>"), std::string::npos);
  EXPECT_NE(xml.find("<TotalParts>1</TotalParts>"), std::string::npos);
  auto source = MakeSrc(dir / "t.tdtp.xml");
  auto got = ReadAllRows(source.get());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectSameValues(batch, *got);
}

TEST(FileConnectorTest, InferenceYieldsSensibleTypes) {
  const RecordBatch batch = testing::AllTypesBatch(60);
  for (const char* name : {"t.csv", "t.jsonl"}) {
    SCOPED_TRACE(name);
    TempDir dir;
    auto sink = MakeDst(dir / name);
    ASSERT_TRUE(WriteParts(sink.get(), batch.schema(), {{batch}}).ok());
    auto source = MakeSrc(dir / name);
    auto got = ReadAllRows(source.get());
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->num_rows(), 60);
    const Schema& s = *got->schema();
    auto type_of = [&](const char* col) { return s.field(*s.FieldIndex(col)).type; };
    EXPECT_EQ(type_of("i8").id, TypeId::kInt64);
    EXPECT_EQ(type_of("i64").id, TypeId::kInt64);
    EXPECT_EQ(type_of("f64").id, TypeId::kFloat64);
    EXPECT_EQ(type_of("b").id, TypeId::kBool);
    EXPECT_EQ(type_of("s").id, TypeId::kString);
    EXPECT_EQ(type_of("d").id, TypeId::kDate);
    EXPECT_EQ(type_of("ts").id, TypeId::kTimestamp);
    EXPECT_EQ(type_of("tstz").id, TypeId::kTimestamp);
    // Values agree with the originals where the inferred type is the same.
    const int i64 = *s.FieldIndex("i64");
    const int d = *s.FieldIndex("d");
    for (int64_t r = 0; r < 60; ++r) {
      ASSERT_EQ(ValueToText(batch.column(3), r), ValueToText(got->column(i64), r)) << "row " << r;
      ASSERT_EQ(batch.column(15).IsNull(r), got->column(d).IsNull(r)) << "row " << r;
      if (batch.column(15).IsValid(r)) {
        ASSERT_EQ(ValueToText(batch.column(15), r), ValueToText(got->column(d), r)) << "row " << r;
      }
    }
  }
}

// A part whose values cannot be encoded (text in a json column that is not
// JSON) fails without leaving any of its rows behind, in both write modes.
TEST(FileConnectorTest, FailedPartLeavesNoRows) {
  auto schema = ParseSchemaSpec("id:int64,doc:json");
  ASSERT_TRUE(schema.ok());
  auto make = [&](int64_t first, bool bad) {
    BatchBuilder bb(*schema);
    for (int64_t i = 0; i < 5; ++i) {
      bb.column(0).AppendFixed<int64_t>(first + i);
      bb.column(1).AppendBytes(bad && i == 3 ? "{not json" : "{\"k\":" + std::to_string(first + i) + "}");
    }
    return bb.Finish();
  };
  for (const char* mode : {"create", "append"}) {
    SCOPED_TRACE(mode);
    TempDir dir;
    const std::string path = dir / "x.jsonl";
    auto sink = MakeDst(path, {{"mode", mode}});
    ASSERT_TRUE(sink->Open(*schema).ok());
    auto writer = sink->NewWriter();
    ASSERT_TRUE(writer.ok());
    PartInfo info;
    info.part_id = "good1";
    ASSERT_TRUE((*writer)->ApplyPart(info, {make(0, false)}).ok());
    info.part_id = "bad";
    auto bad = (*writer)->ApplyPart(info, {make(5, true)});
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find(path), std::string::npos) << bad.status().ToString();
    info.part_id = "good2";
    ASSERT_TRUE((*writer)->ApplyPart(info, {make(10, false)}).ok());
    ASSERT_TRUE(sink->Commit().ok());
    ASSERT_TRUE(sink->Close().ok());
    std::string want;
    for (int64_t id : {0, 1, 2, 3, 4, 10, 11, 12, 13, 14}) {
      want += "{\"id\":" + std::to_string(id) + ",\"doc\":{\"k\":" + std::to_string(id) + "}}\n";
    }
    EXPECT_EQ(ReadText(path), want);
  }
}

// ---------------------------------------------------------------------------
// Append mode

TEST(FileAppendTest, CsvAppendWritesNoSecondHeaderAndSkipsRedeliveredParts) {
  TempDir dir;
  const std::string path = dir / "a.csv";
  const RecordBatch batch = testing::AllTypesBatch(60);
  const KV schema_opt = {{"schema", SchemaSpecOf(*batch.schema())}};
  {
    auto sink = MakeDst(path);  // create: the first run
    ASSERT_TRUE(WriteParts(sink.get(), batch.schema(), {{batch.Slice(0, 20)}}, nullptr, {"a"}).ok());
  }
  {
    auto sink = MakeDst(path, {{"mode", "append"}});
    std::vector<ApplyOutcome> outcomes;
    ASSERT_TRUE(WriteParts(sink.get(), batch.schema(), {{batch.Slice(20, 20)}, {batch.Slice(40, 20)}},
                           &outcomes, {"b", "c"})
                    .ok());
    EXPECT_EQ(outcomes, std::vector<ApplyOutcome>(2, ApplyOutcome::kApplied));
  }
  const std::string after_second = ReadText(path);
  {
    // A re-run re-delivers "c" (skipped through the ledger) and adds nothing else.
    auto sink = MakeDst(path, {{"mode", "append"}});
    std::vector<ApplyOutcome> outcomes;
    ASSERT_TRUE(WriteParts(sink.get(), batch.schema(), {{batch.Slice(40, 20)}}, &outcomes, {"c"}).ok());
    EXPECT_EQ(outcomes, std::vector<ApplyOutcome>{ApplyOutcome::kAlreadyApplied});
  }
  EXPECT_EQ(ReadText(path), after_second);
  // One header line.
  const std::string header = after_second.substr(0, after_second.find('\n') + 1);
  size_t count = 0;
  for (size_t at = after_second.find(header); at != std::string::npos; at = after_second.find(header, at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u);
  auto source = MakeSrc(path, schema_opt);
  auto got = ReadAllRows(source.get());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectSameValues(batch, *got);
  const std::string ledger = ReadText(file::LedgerPath(path));
  EXPECT_EQ(ledger.substr(0, 16), "sluice-ledger 1\n");
  EXPECT_NE(ledger.find(" b\n"), std::string::npos);
  EXPECT_NE(ledger.find(" c\n"), std::string::npos);
}

TEST(FileAppendTest, AppendToNewFileWritesHeaderOnceAndJsonlAppends) {
  const RecordBatch batch = testing::AllTypesBatch(40);
  for (const char* name : {"n.csv", "n.jsonl"}) {
    SCOPED_TRACE(name);
    TempDir dir;
    const std::string path = dir / name;
    for (int run = 0; run < 2; ++run) {
      auto sink = MakeDst(path, {{"mode", "append"}});
      ASSERT_TRUE(WriteParts(sink.get(), batch.schema(), {{batch.Slice(run * 20, 20)}}, nullptr,
                             {"run" + std::to_string(run)})
                      .ok());
    }
    auto source = MakeSrc(path, {{"schema", SchemaSpecOf(*batch.schema())}});
    auto got = ReadAllRows(source.get());
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ExpectSameValues(batch, *got);
  }
}

TEST(FileAppendTest, EmptyAppendRunStillWritesCsvHeader) {
  TempDir dir;
  const std::string path = dir / "e.csv";
  auto sink = MakeDst(path, {{"mode", "append"}});
  ASSERT_TRUE(WriteParts(sink.get(), testing::AllTypesSchema(), {}).ok());
  const std::string text = ReadText(path);
  EXPECT_EQ(text.substr(0, 6), "i8,i16");
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
}

TEST(FileAppendTest, InterruptedPartIsRolledBack) {
  TempDir dir;
  const std::string path = dir / "r.jsonl";
  const RecordBatch batch = testing::AllTypesBatch(30);
  {
    auto sink = MakeDst(path, {{"mode", "append"}});
    ASSERT_TRUE(WriteParts(sink.get(), batch.schema(), {{batch.Slice(0, 10)}}, nullptr, {"x"}).ok());
  }
  const std::string good = ReadText(path);
  // Simulate a crash in the middle of part "y": its B record is in the
  // ledger, half a line in the file, and the ledger's last line is torn.
  AppendText(file::LedgerPath(path), "B " + std::to_string(good.size()) + " y\nC 99");
  AppendText(path, "{\"i8\":1,\"i16\":");
  {
    auto sink = MakeDst(path, {{"mode", "append"}});
    ASSERT_TRUE(sink->Open(batch.schema()).ok());
    EXPECT_EQ(ReadText(path), good);  // rolled back at Open
    auto writer = sink->NewWriter();
    ASSERT_TRUE(writer.ok());
    PartInfo info;
    info.part_id = "y";
    auto o = (*writer)->ApplyPart(info, {batch.Slice(10, 20)});
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    EXPECT_EQ(*o, ApplyOutcome::kApplied);
    info.part_id = "x";
    o = (*writer)->ApplyPart(info, {batch.Slice(0, 10)});
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(*o, ApplyOutcome::kAlreadyApplied);
    ASSERT_TRUE(sink->Commit().ok());
    ASSERT_TRUE(sink->Close().ok());
  }
  auto source = MakeSrc(path, {{"schema", SchemaSpecOf(*batch.schema())}});
  auto got = ReadAllRows(source.get());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectSameValues(batch, *got);
  // The ledger parses again (the torn line is gone) and knows both parts.
  const std::string ledger = ReadText(file::LedgerPath(path));
  EXPECT_EQ(ledger.find("C 99"), std::string::npos) << ledger;
  EXPECT_NE(ledger.find("\nA "), std::string::npos) << ledger;
}

TEST(FileAppendTest, AppendsAfterAFileWithoutFinalNewline) {
  TempDir dir;
  const std::string path = dir / "x.csv";
  WriteText(path, "id,name\n1,a");
  auto schema = ParseSchemaSpec("id:int64,name:string");
  ASSERT_TRUE(schema.ok());
  BatchBuilder bb(*schema);
  bb.column(0).AppendFixed<int64_t>(2);
  bb.column(1).AppendBytes("b");
  auto sink = MakeDst(path, {{"mode", "append"}});
  ASSERT_TRUE(WriteParts(sink.get(), *schema, {{bb.Finish()}}).ok());
  EXPECT_EQ(ReadText(path), "id,name\n1,a\n2,b\n");
}

TEST(FileAppendTest, HeaderMismatchIsRefused) {
  TempDir dir;
  const std::string path = dir / "x.csv";
  WriteText(path, "id,other\n1,a\n");
  auto schema = ParseSchemaSpec("id:int64,name:string");
  auto sink = MakeDst(path, {{"mode", "append"}});
  Status st = sink->Open(*schema);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("other"), std::string::npos) << st.ToString();
  EXPECT_EQ(ReadText(path), "id,other\n1,a\n");
  EXPECT_FALSE(fs::exists(file::LedgerPath(path)));
}

TEST(FileAppendTest, LedgerOfAShorterFileIsAnError) {
  TempDir dir;
  const std::string path = dir / "x.jsonl";
  WriteText(path, "{}\n");
  WriteText(file::LedgerPath(path), "sluice-ledger 1\nB 0 p\nC 500 p\n");
  auto schema = ParseSchemaSpec("id:int64");
  auto sink = MakeDst(path, {{"mode", "append"}});
  Status st = sink->Open(*schema);
  EXPECT_EQ(st.code(), StatusCode::kInvalidData);
  EXPECT_NE(st.message().find(".sluice-ledger"), std::string::npos) << st.ToString();
}

TEST(FileAppendTest, AppendOnlyForTextFormats) {
  TempDir dir;
  for (const char* name : {"x.part", "x.tdtp.xml"}) {
    auto sink = TestRegistry().MakeSink(FileUri(dir / name, {{"mode", "append"}}));
    EXPECT_EQ(sink.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(sink.status().message().find("append"), std::string::npos);
  }
}

// ---------------------------------------------------------------------------
// TDTP fixtures

TEST(FileTdtpFixtureTest, UsersMatchesItsCsv) {
  const std::string dir = SLUICE_TESTDATA_DIR "/tdtp/";
  auto source = MakeSrc(dir + "users.tdtp.xml");
  ASSERT_NE(source, nullptr);
  auto got = ReadAllRows(source.get());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->num_rows(), 8);
  // The expected values: the CSV twin read with the schema TDTP declared.
  auto in = FileInputStream::Open(dir + "users.tdtp.xml.csv");
  ASSERT_TRUE(in.ok());
  csv::CsvReadOptions ro;
  ro.schema = got->schema();
  auto reader = csv::CsvReader::Open(in->get(), ro);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<RecordBatch> batches;
  while (true) {
    auto b = (*reader)->Next();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    if (!b->has_value()) break;
    batches.push_back(std::move(**b));
  }
  ExpectSameValues(Concat(got->schema(), batches), *got);
  EXPECT_EQ(got->schema()->field(0).name, "ID");
  EXPECT_TRUE(got->schema()->field(0).primary_key);
  EXPECT_EQ(ValueToText(got->column(1), 0), "John Doe");
}

TEST(FileTdtpFixtureTest, OtherFixturesRead) {
  const std::string dir = SLUICE_TESTDATA_DIR "/tdtp/";
  {
    auto source = MakeSrc(dir + "users_compressed.tdtp.xml");
    auto got = ReadAllRows(source.get());
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->num_rows(), 10);
    EXPECT_EQ(got->schema()->field(3).type, DataType::Decimal(18, 2));
  }
  {
    auto source = MakeSrc(dir + "users_nullable.tdtp.xml");
    auto got = ReadAllRows(source.get());
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->num_rows(), 4);
    EXPECT_TRUE(got->column(2).IsNull(0));  // legacy: empty is NULL
    // empty_is_null=false reads the empty text cell as "".
    auto source2 = MakeSrc(dir + "users_nullable.tdtp.xml", {{"empty_is_null", "false"}});
    auto got2 = ReadAllRows(source2.get());
    ASSERT_TRUE(got2.ok()) << got2.status().ToString();
    EXPECT_TRUE(got2->column(2).IsValid(0));
    EXPECT_EQ(got2->column(2).StringValue(0), "");
  }
  {
    auto source = MakeSrc(dir + "specials.tdtp.xml");
    auto got = ReadAllRows(source.get());
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->num_rows(), 5);
    EXPECT_TRUE(got->column(1).IsNull(1));
    EXPECT_TRUE(std::isnan(got->column(2).Value<double>(2)));
    EXPECT_EQ(got->column(2).Value<double>(3), std::numeric_limits<double>::infinity());
  }
}

TEST(FileTdtpFixtureTest, CopyTdtpToJsonlAndBack) {
  // any endpoint to any endpoint: .tdtp.xml → .jsonl → .csv → .part, values intact.
  TempDir tmp;
  auto src = MakeSrc(SLUICE_TESTDATA_DIR "/tdtp/users.tdtp.xml");
  auto want = ReadAllRows(src.get());
  ASSERT_TRUE(want.ok());
  std::string prev = SLUICE_TESTDATA_DIR "/tdtp/users.tdtp.xml";
  const std::string spec = SchemaSpecOf(*want->schema());
  for (const char* name : {"u.jsonl", "u.csv", "u.part", "u.tdtp.xml"}) {
    SCOPED_TRACE(name);
    const bool text = prev.ends_with(".jsonl") || prev.ends_with(".csv");
    auto source = MakeSrc(prev, text ? KV{{"schema", spec}} : KV{});
    auto rows = ReadAllRows(source.get());
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    ExpectSameValues(*want, *rows);
    auto sink = MakeDst(tmp / name);
    ASSERT_TRUE(WriteParts(sink.get(), rows->schema(), {{*rows}}).ok());
    prev = tmp / name;
  }
  auto last = MakeSrc(prev);
  auto rows = ReadAllRows(last.get());
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ExpectSameValues(*want, *rows);
}

// ---------------------------------------------------------------------------
// Bad inputs

TEST(FileErrorsTest, MissingFileIsNotFoundNamingThePath) {
  TempDir dir;
  for (const char* name : {"nope.csv", "nope.jsonl", "nope.part", "nope.tdtp.xml"}) {
    auto source = MakeSrc(dir / name);
    Status st = source->Open(SourceOptions{});
    EXPECT_EQ(st.code(), StatusCode::kNotFound) << st.ToString();
    EXPECT_NE(st.message().find(dir / name), std::string::npos) << st.ToString();
  }
}

TEST(FileErrorsTest, UnknownExtensionAndOption) {
  auto s = TestRegistry().MakeSource("file:///tmp/x.foo");
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find(".foo"), std::string::npos) << s.status().ToString();
  auto d = TestRegistry().MakeSink("file:///tmp/x.foo");
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  auto o = TestRegistry().MakeSource("file:///tmp/x.csv?delimeter=;");
  EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(o.status().message().find("delimeter"), std::string::npos);
  auto sch = TestRegistry().MakeSource("file:///tmp/x.part?schema=a:int64");
  EXPECT_EQ(sch.status().code(), StatusCode::kInvalidArgument);
  auto delim = TestRegistry().MakeSource("file:///tmp/x.csv?delimiter=ab");
  EXPECT_EQ(delim.status().code(), StatusCode::kInvalidArgument);
}

TEST(FileErrorsTest, DirectoryIsRefused) {
  TempDir dir;
  fs::create_directory(dir / "d.csv");
  auto source = MakeSrc(dir / "d.csv");
  Status st = source->Open(SourceOptions{});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("directory"), std::string::npos);
}

TEST(FileErrorsTest, CorruptFilesNameTheFile) {
  TempDir dir;
  const RecordBatch batch = testing::AllTypesBatch(50);
  // A valid part with a flipped byte, a truncated part, garbage XML, a CSV
  // value that does not parse.
  {
    auto sink = MakeDst(dir / "ok.part", {{"compression", "none"}});
    ASSERT_TRUE(WriteParts(sink.get(), batch.schema(), {{batch}}).ok());
  }
  std::string bytes = ReadText(dir / "ok.part");
  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x40;
  WriteText(dir / "flipped.part", flipped);
  WriteText(dir / "short.part", bytes.substr(0, bytes.size() / 3));
  WriteText(dir / "bad.tdtp.xml", "<?xml version=\"1.0\"?><DataPacket protocol=\"TDTP\"><Header>");
  WriteText(dir / "bad.csv", "id,name\n1,a\nnot-a-number,b\n");
  for (const char* name : {"flipped.part", "short.part", "bad.tdtp.xml", "bad.csv"}) {
    SCOPED_TRACE(name);
    KV opts;
    if (std::string_view(name) == "bad.csv") opts.push_back({"schema", "id:int64,name:string"});
    auto source = MakeSrc(dir / name, opts);
    auto got = ReadAllRows(source.get());
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.status().message().find(dir / name), std::string::npos) << got.status().ToString();
    if (std::string_view(name) == "bad.csv") {
      EXPECT_NE(got.status().message().find("line 3"), std::string::npos) << got.status().ToString();
    }
  }
}

TEST(FileErrorsTest, BadLedgerIsAnError) {
  TempDir dir;
  const std::string path = dir / "x.csv";
  WriteText(path, "id\n1\n");
  WriteText(file::LedgerPath(path), "sluice-ledger 1\nZ 1 p\n");
  auto sink = MakeDst(path, {{"mode", "append"}});
  Status st = sink->Open(*ParseSchemaSpec("id:int64"));
  EXPECT_EQ(st.code(), StatusCode::kInvalidData);
  EXPECT_NE(st.message().find("line 2"), std::string::npos) << st.ToString();
}

// Mutated ledgers: Open() either succeeds (and the file keeps whole parts)
// or fails with InvalidData; it never crashes or writes garbage.
TEST(FileErrorsTest, HostileLedgers) {
  TempDir dir;
  const std::string path = dir / "h.jsonl";
  const RecordBatch batch = testing::AllTypesBatch(10);
  {
    auto sink = MakeDst(path, {{"mode", "append"}});
    ASSERT_TRUE(WriteParts(sink.get(), batch.schema(), {{batch}, {batch}}, nullptr, {"a", "b"}).ok());
  }
  const std::string data = ReadText(path);
  const std::string ledger = ReadText(file::LedgerPath(path));
  uint64_t rng = 12345;
  auto next = [&] {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return rng >> 33;
  };
  const std::string alphabet = "BCA 0123456789\n-x";
  for (int iter = 0; iter < 200; ++iter) {
    std::string l = ledger;
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = next() % (l.size() + 1);
      switch (next() % 3) {
        case 0: if (at < l.size()) l[at] = alphabet[next() % alphabet.size()]; break;
        case 1: l.insert(at, 1, alphabet[next() % alphabet.size()]); break;
        case 2: if (at < l.size()) l.erase(at, 1 + next() % 8); break;
      }
    }
    WriteText(path, data);
    WriteText(file::LedgerPath(path), l);
    auto sink = MakeDst(path, {{"mode", "append"}});
    Status st = sink->Open(batch.schema());
    if (!st.ok()) {
      EXPECT_EQ(st.code(), StatusCode::kInvalidData) << st.ToString();
      continue;
    }
    ASSERT_TRUE(sink->Commit().ok());
    ASSERT_TRUE(sink->Close().ok());
    // Whatever was rolled back, the file is a prefix of the original.
    const std::string now = ReadText(path);
    EXPECT_EQ(data.compare(0, now.size(), now), 0) << "iteration " << iter;
  }
}

// ---------------------------------------------------------------------------
// TDTP packet directories

Options DirOptions(const OptionSpecs& specs, const KV& given) {
  auto o = Options::Parse(specs, given, "test");
  EXPECT_TRUE(o.ok()) << o.status().ToString();
  return *o;
}

TEST(TdtpDirectoryTest, RoundTripSeveralPacketsParallelSplits) {
  TempDir dir;
  const std::string out = dir / "export";
  const RecordBatch batch = testing::AllTypesBatch(300);
  auto sink = MakeTdtpDirectorySink(
      out, DirOptions(TdtpDirectorySinkOptionSpecs(), {{"table", "things"}, {"max_packet_bytes", "8000"}}));
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  EXPECT_EQ((*sink)->MaxWriters(), 1);
  ASSERT_TRUE(WriteParts(sink->get(), batch.schema(), ThreeParts(batch)).ok());

  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(out)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  ASSERT_GT(names.size(), 3u);
  const std::string total = std::to_string(names.size());
  for (size_t i = 1; i <= names.size(); ++i) {
    const std::string want = "things_part_" + std::to_string(i) + "_of_" + total + ".tdtp.xml";
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
    const std::string xml = ReadText((fs::path(out) / want).string());
    EXPECT_NE(xml.find("<PartNumber>" + std::to_string(i) + "</PartNumber>\n    <TotalParts>" + total +
                       "</TotalParts>"),
              std::string::npos)
        << want;
  }

  auto source = MakeTdtpDirectorySource(out, DirOptions(TdtpDirectorySourceOptionSpecs(), {}));
  ASSERT_TRUE(source.ok());
  size_t splits = 0;
  auto got = ReadAllRows(source->get(), 64, 50, &splits);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(splits, names.size());
  ExpectSameValues(batch, *got);

  // Fewer splits than packets: still every row once, in order.
  auto source2 = MakeTdtpDirectorySource(out, Options());
  ASSERT_TRUE(source2.ok());
  auto got2 = ReadAllRows(source2->get(), 2, 1000, &splits);
  ASSERT_TRUE(got2.ok()) << got2.status().ToString();
  EXPECT_EQ(splits, 2u);
  ExpectSameValues(batch, *got2);
}

TEST(TdtpDirectoryTest, SinglePacketIsNamedAfterTheTable) {
  TempDir dir;
  const RecordBatch batch = testing::AllTypesBatch(5);
  auto sink = MakeTdtpDirectorySink(dir / "users", Options());
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE(WriteParts(sink->get(), batch.schema(), {{batch}}).ok());
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir / "users")) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"users.tdtp.xml"});
}

TEST(TdtpDirectoryTest, UncommittedSinkLeavesNoPackets) {
  TempDir dir;
  const RecordBatch batch = testing::AllTypesBatch(200);
  {
    auto sink = MakeTdtpDirectorySink(dir / "out", DirOptions(TdtpDirectorySinkOptionSpecs(),
                                                              {{"table", "t"}, {"max_packet_bytes", "4000"}}));
    ASSERT_TRUE(sink.ok());
    ASSERT_TRUE((*sink)->Open(batch.schema()).ok());
    auto writer = (*sink)->NewWriter();
    PartInfo info;
    info.part_id = "p";
    ASSERT_TRUE((*writer)->ApplyPart(info, {batch}).ok());
  }
  EXPECT_TRUE(fs::is_empty(dir / "out"));
}

TEST(TdtpDirectoryTest, CreateRefusesAndOverwriteReplaces) {
  TempDir dir;
  const std::string out = dir / "out";
  const RecordBatch big = testing::AllTypesBatch(200);
  const RecordBatch small = testing::AllTypesBatch(10);
  const KV base = {{"table", "t"}, {"max_packet_bytes", "4000"}};
  {
    auto sink = MakeTdtpDirectorySink(out, DirOptions(TdtpDirectorySinkOptionSpecs(), base));
    ASSERT_TRUE(WriteParts(sink->get(), big.schema(), {{big}}).ok());
  }
  {
    auto sink = MakeTdtpDirectorySink(out, DirOptions(TdtpDirectorySinkOptionSpecs(), base));
    EXPECT_EQ((*sink)->Open(big.schema()).code(), StatusCode::kInvalidArgument);
  }
  {
    KV o = base;
    o.push_back({"mode", "overwrite"});
    o[1].second = "1000000";
    auto sink = MakeTdtpDirectorySink(out, DirOptions(TdtpDirectorySinkOptionSpecs(), o));
    ASSERT_TRUE(WriteParts(sink->get(), small.schema(), {{small}}).ok());
  }
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(out)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"t.tdtp.xml"});
  auto source = MakeTdtpDirectorySource(out, Options());
  auto got = ReadAllRows(source->get());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectSameValues(small, *got);
}

TEST(TdtpDirectoryTest, IncompleteOrMixedSetsAreErrors) {
  TempDir dir;
  const std::string out = dir / "out";
  const RecordBatch batch = testing::AllTypesBatch(200);
  {
    auto sink = MakeTdtpDirectorySink(out, DirOptions(TdtpDirectorySinkOptionSpecs(),
                                                      {{"table", "t"}, {"max_packet_bytes", "4000"}}));
    ASSERT_TRUE(WriteParts(sink->get(), batch.schema(), {{batch}}).ok());
  }
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(out)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  ASSERT_GE(names.size(), 3u);
  // Another table in the same directory: the source needs table=.
  fs::copy_file(SLUICE_TESTDATA_DIR "/tdtp/users.tdtp.xml", (fs::path(out) / "users.tdtp.xml"));
  {
    auto source = MakeTdtpDirectorySource(out, Options());
    Status st = (*source)->Open(SourceOptions{});
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("users"), std::string::npos) << st.ToString();
    auto users = MakeTdtpDirectorySource(out, DirOptions(TdtpDirectorySourceOptionSpecs(), {{"table", "users"}}));
    auto got = ReadAllRows(users->get());
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->num_rows(), 8);
  }
  // A missing packet.
  fs::remove((fs::path(out) / ("t_part_2_of_" + std::to_string(names.size()) + ".tdtp.xml")));
  auto source = MakeTdtpDirectorySource(out, DirOptions(TdtpDirectorySourceOptionSpecs(), {{"table", "t"}}));
  Status st = (*source)->Open(SourceOptions{});
  EXPECT_EQ(st.code(), StatusCode::kInvalidData);
  EXPECT_NE(st.message().find("packet 2"), std::string::npos) << st.ToString();
  // A missing directory.
  auto none = MakeTdtpDirectorySource(dir / "none", Options());
  EXPECT_EQ((*none)->Open(SourceOptions{}).code(), StatusCode::kNotFound);
}

TEST(TdtpDirectoryTest, SchemaMismatchBetweenPacketsNamesTheFile) {
  TempDir dir;
  const std::string out = dir / "out";
  fs::create_directory(out);
  fs::copy_file(SLUICE_TESTDATA_DIR "/tdtp/users.tdtp.xml", (fs::path(out) / "u_part_1_of_2.tdtp.xml"));
  fs::copy_file(SLUICE_TESTDATA_DIR "/tdtp/users_nullable.tdtp.xml", (fs::path(out) / "u_part_2_of_2.tdtp.xml"));
  auto source = MakeTdtpDirectorySource(out, Options());
  auto got = ReadAllRows(source->get());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidData);
  EXPECT_NE(got.status().message().find("u_part_2_of_2.tdtp.xml"), std::string::npos) << got.status().ToString();
}

}  // namespace
}  // namespace sluice
