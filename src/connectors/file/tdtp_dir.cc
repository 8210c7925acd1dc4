// A directory of TDTP packets as a Source (one split per packet) and a Sink
// (packets staged during the run, published with their final names by Commit).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <unordered_set>

#include "connectors/file/file.h"
#include "connectors/file/file_internal.h"
#include "core/log.h"
#include "formats/part/part.h"
#include "formats/tdtp/tdtp.h"

namespace sluice {

namespace fs = std::filesystem;

namespace file {
namespace {

using internal::BatchQueue;

constexpr std::string_view kPacketSuffix = ".tdtp.xml";
constexpr std::string_view kStagingPrefix = ".sluice-staging-";
constexpr int64_t kDefaultMaxPacketBytes = int64_t{256} << 20;
std::atomic<uint64_t> g_staging_counter{0};

bool ParseCount(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  std::from_chars(s.data(), s.data() + s.size(), *out);
  return true;
}

// One packet file and what its name says: "users.tdtp.xml" (part 1 of 1),
// "users_part_2_of_5.tdtp.xml", "users_part_2.tdtp.xml" (total unknown).
struct PacketFile {
  std::string path;
  std::string name;
  std::string table;
  int64_t part = 1;
  int64_t total = 1;  // 0 = not in the name
};

PacketFile ParsePacketName(const fs::path& path) {
  PacketFile f;
  f.path = path.string();
  f.name = path.filename().string();
  const std::string_view stem = std::string_view(f.name).substr(0, f.name.size() - kPacketSuffix.size());
  f.table = std::string(stem);
  const size_t at = stem.rfind("_part_");
  if (at == std::string_view::npos || at == 0) return f;
  std::string_view rest = stem.substr(at + 6);
  int64_t part = 0, total = 0;
  const size_t of = rest.find("_of_");
  if (of == std::string_view::npos) {
    if (!ParseCount(rest, &part) || part < 1) return f;
  } else if (!ParseCount(rest.substr(0, of), &part) || !ParseCount(rest.substr(of + 4), &total) ||
             part < 1 || total < part) {
    return f;
  }
  f.table = std::string(stem.substr(0, at));
  f.part = part;
  f.total = total;
  return f;
}

// The packet files of `dir` (regular, non-hidden "*.tdtp.xml").
Result<std::vector<PacketFile>> ListPackets(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    if (fs::exists(dir, ec)) return Status::InvalidArgument("'" + dir + "' is not a directory");
    return Status::NotFound("no such directory '" + dir + "'");
  }
  std::vector<PacketFile> out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || name.size() <= kPacketSuffix.size() ||
        !name.ends_with(kPacketSuffix)) {
      continue;
    }
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    out.push_back(ParsePacketName(it->path()));
  }
  if (ec) return Status::IOError("listing '" + dir + "': " + ec.message());
  std::sort(out.begin(), out.end(), [](const PacketFile& a, const PacketFile& b) {
    if (a.table != b.table) return a.table < b.table;
    if (a.part != b.part) return a.part < b.part;
    return a.name < b.name;
  });
  return out;
}

std::vector<PacketFile> OfTable(const std::vector<PacketFile>& all, const std::string& table) {
  std::vector<PacketFile> out;
  for (const auto& f : all) {
    if (f.table == table) out.push_back(f);
  }
  return out;
}

// The packet names must form one set: parts 1..n once each, and when the
// names declare a total, all the same total n.
Status CheckPacketSet(const std::string& dir, const std::vector<PacketFile>& files) {
  const int64_t n = static_cast<int64_t>(files.size());
  int64_t declared = -1;
  for (int64_t i = 0; i < n; ++i) {
    const PacketFile& f = files[static_cast<size_t>(i)];
    if (f.part != i + 1) {
      if (f.part == i) {
        return Status::InvalidData("'" + dir + "': packet " + std::to_string(f.part) + " of table '" +
                                   f.table + "' is there twice ('" + files[static_cast<size_t>(i - 1)].name +
                                   "', '" + f.name + "')");
      }
      return Status::InvalidData("'" + dir + "': packet " + std::to_string(i + 1) + " of table '" +
                                 f.table + "' is missing (next is '" + f.name + "')");
    }
    if (f.total > 0) {
      if (declared >= 0 && declared != f.total) {
        return Status::InvalidData("'" + dir + "': packets of table '" + f.table +
                                   "' disagree on the total (" + std::to_string(declared) + " vs " +
                                   std::to_string(f.total) + " in '" + f.name + "')");
      }
      declared = f.total;
    }
  }
  if (declared > n) {
    return Status::InvalidData("'" + dir + "': table '" + files.front().table + "' has " +
                               std::to_string(n) + " of its " + std::to_string(declared) +
                               " packets (packet " + std::to_string(n + 1) + " is missing)");
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------
// Source

struct DirSourceConfig {
  std::string dir;
  std::string table;
  int64_t batch_rows = 0;
  bool empty_is_null = true;
  int64_t max_packet_bytes = kDefaultMaxPacketBytes;
};

class TdtpDirSource;

class TdtpDirReader final : public SourceReader {
 public:
  TdtpDirReader(const TdtpDirSource* source, size_t begin, size_t end)
      : source_(source), next_(begin), end_(end) {}
  Result<std::optional<RecordBatch>> Next() override;
  std::string position() const override { return position_; }

 private:
  const TdtpDirSource* source_;
  size_t next_, end_;
  BatchQueue queue_;
  std::string current_;
  std::string position_;
};

class TdtpDirSource final : public Source {
 public:
  explicit TdtpDirSource(DirSourceConfig config) : config_(std::move(config)) {}

  Status Open(const SourceOptions& options) override {
    batch_rows_ = config_.batch_rows > 0 ? config_.batch_rows : std::max<int64_t>(1, options.batch_rows);
    SLUICE_ASSIGN_OR_RETURN(std::vector<PacketFile> all, ListPackets(config_.dir));
    std::set<std::string> tables;
    for (const auto& f : all) tables.insert(f.table);
    std::string table = config_.table;
    if (table.empty()) {
      if (tables.empty()) return Status::NotFound("no TDTP packets (*.tdtp.xml) in '" + config_.dir + "'");
      if (tables.size() > 1) {
        std::string list;
        for (const auto& t : tables) list += (list.empty() ? "" : ", ") + t;
        return Status::InvalidArgument("'" + config_.dir + "' holds packets of several tables (" + list +
                                       "); choose one with table=NAME");
      }
      table = *tables.begin();
    }
    files_ = OfTable(all, table);
    if (files_.empty()) {
      return Status::NotFound("no TDTP packets of table '" + table + "' in '" + config_.dir + "'");
    }
    SLUICE_RETURN_NOT_OK(CheckPacketSet(config_.dir, files_));
    // The fingerprint covers names, sizes and modification times.
    std::string listing;
    for (const auto& f : files_) {
      SLUICE_ASSIGN_OR_RETURN(internal::FileStat st, internal::StatRegularFile(f.path));
      listing += f.name + '\0' + std::to_string(st.size) + '\0' + std::to_string(st.mtime_ns) + '\n';
    }
    std::error_code ec;
    const fs::path abs = fs::absolute(config_.dir, ec);
    identity_ = "tdtp-dir://" + (ec ? config_.dir : abs.lexically_normal().string()) + "?table=" +
                table;
    fingerprint_ = identity_ + "#" + part::IdempotencyKey(listing, 0);
    SLUICE_ASSIGN_OR_RETURN(tdtp::Packet first, ReadOne(files_.front()));
    schema_ = first.schema;
    return Status::OK();
  }

  std::shared_ptr<const Schema> schema() const override { return schema_; }

  Result<std::vector<Split>> Plan(int max_splits) override {
    if (!schema_) return Status::Internal("tdtp directory source: Plan before Open");
    const size_t n = std::max<size_t>(1, std::min(files_.size(), static_cast<size_t>(std::max(1, max_splits))));
    std::vector<Split> splits;
    for (size_t i = 0; i < n; ++i) {
      const size_t a = i * files_.size() / n, b = (i + 1) * files_.size() / n;
      Split s;
      s.index = static_cast<int>(i);
      s.start = std::to_string(a);
      s.end = std::to_string(b);
      s.description = b - a == 1 ? files_[a].name : files_[a].name + " .. " + files_[b - 1].name;
      splits.push_back(std::move(s));
    }
    return splits;
  }

  Result<std::unique_ptr<SourceReader>> OpenSplit(const Split& split) override {
    int64_t a = 0, b = 0;
    if (!ParseCount(split.start, &a) || !ParseCount(split.end, &b) || a > b ||
        b > static_cast<int64_t>(files_.size())) {
      return Status::InvalidArgument("tdtp directory source: bad split bounds [" + split.start + ", " +
                                     split.end + ")");
    }
    return std::unique_ptr<SourceReader>(
        std::make_unique<TdtpDirReader>(this, static_cast<size_t>(a), static_cast<size_t>(b)));
  }

  std::string Fingerprint() const override { return fingerprint_; }
  std::string Identity() const override { return identity_; }

  // Reads and checks packet `i` (thread-safe: touches only immutable state).
  Result<BatchQueue> ReadPacketAt(size_t i) const {
    SLUICE_ASSIGN_OR_RETURN(tdtp::Packet p, ReadOne(files_[i]));
    std::string why;
    if (!internal::SameColumns(*p.schema, *schema_, &why)) {
      return Status::InvalidData("'" + files_[i].path + "': schema differs from '" + files_.front().name +
                                 "': " + why);
    }
    std::vector<RecordBatch> batches;
    batches.push_back(internal::WithSchema(p.batch, schema_));
    return BatchQueue(std::move(batches), batch_rows_);
  }
  const std::string& file_name(size_t i) const { return files_[i].name; }

 private:
  Result<tdtp::Packet> ReadOne(const PacketFile& f) const {
    SLUICE_ASSIGN_OR_RETURN(auto bytes, ReadFile(f.path, config_.max_packet_bytes));
    tdtp::ReadOptions o;
    o.max_packet_bytes = config_.max_packet_bytes;
    o.legacy_empty_is_null = config_.empty_is_null;
    return tdtp::ReadPacket(bytes->view(), f.path, o);
  }

  DirSourceConfig config_;
  int64_t batch_rows_ = 65536;
  std::vector<PacketFile> files_;
  std::shared_ptr<const Schema> schema_;
  std::string fingerprint_;
  std::string identity_;
};

Result<std::optional<RecordBatch>> TdtpDirReader::Next() {
  while (true) {
    if (std::optional<RecordBatch> b = queue_.Next()) {
      position_ = current_ + "#" + std::to_string(queue_.rows_returned());
      return b;
    }
    if (next_ >= end_) return std::optional<RecordBatch>();
    SLUICE_ASSIGN_OR_RETURN(queue_, source_->ReadPacketAt(next_));
    current_ = source_->file_name(next_);
    position_ = current_ + "#0";
    ++next_;
  }
}

// ---------------------------------------------------------------------------
// Sink

struct DirSinkConfig {
  std::string dir;
  std::string table;
  bool overwrite = false;
  bool fsync = false;
  int64_t max_packet_bytes = 1'900'000;
  bool compress = false;
  int compression_level = 3;
};

// Removes staging directories left by runs that died (their pid is gone).
void RemoveStaleStaging(const std::string& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with(kStagingPrefix)) continue;
    std::string_view rest = std::string_view(name).substr(kStagingPrefix.size());
    int64_t pid = 0;
    if (!ParseCount(rest.substr(0, rest.find('-')), &pid) || pid <= 0) continue;
    if (pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    std::error_code rm_ec;
    fs::remove_all(it->path(), rm_ec);
  }
}

Status WriteWhole(const std::string& path, std::string_view bytes, bool fsync) {
  FileOutputStream::Options o;
  o.atomic = true;
  o.fsync = fsync;
  SLUICE_ASSIGN_OR_RETURN(auto out, FileOutputStream::Open(path, o));
  SLUICE_RETURN_NOT_OK(out->Write(bytes));
  return out->Commit();
}

class TdtpDirSink;

class TdtpDirWriter final : public SinkWriter {
 public:
  explicit TdtpDirWriter(TdtpDirSink* sink) : sink_(sink) {}
  Result<ApplyOutcome> ApplyPart(const PartInfo& part, const std::vector<RecordBatch>& batches) override;

 private:
  TdtpDirSink* sink_;
};

class TdtpDirSink final : public Sink {
 public:
  explicit TdtpDirSink(DirSinkConfig config) : config_(std::move(config)) {}
  ~TdtpDirSink() override { Discard(); }

  Status Open(std::shared_ptr<const Schema> schema) override {
    if (!schema) return Status::InvalidArgument("tdtp directory sink: no schema");
    schema_ = std::move(schema);
    std::error_code ec;
    fs::create_directories(config_.dir, ec);
    if (ec) return Status::IOError("cannot create directory '" + config_.dir + "': " + ec.message());
    SLUICE_ASSIGN_OR_RETURN(std::vector<PacketFile> all, ListPackets(config_.dir));
    if (!config_.overwrite) {
      std::vector<PacketFile> mine = OfTable(all, config_.table);
      if (!mine.empty()) {
        return Status::InvalidArgument("'" + config_.dir + "' already holds packets of table '" +
                                       config_.table + "' ('" + mine.front().name +
                                       "'); mode=overwrite replaces them");
      }
    }
    RemoveStaleStaging(config_.dir);
    staging_ = (fs::path(config_.dir) / (std::string(kStagingPrefix) + std::to_string(::getpid()) + "-" +
                                        std::to_string(g_staging_counter.fetch_add(1))))
                   .string();
    fs::create_directory(staging_, ec);
    if (ec) return Status::IOError("cannot create staging directory '" + staging_ + "': " + ec.message());
    tdtp::WriteOptions w;
    w.table_name = config_.table;
    w.max_part_bytes = config_.max_packet_bytes;
    w.compress = config_.compress;
    w.compression_level = config_.compression_level;
    auto writer = tdtp::PacketWriter::MakeStreaming(schema_, std::move(w), [this](tdtp::EncodedPacket p) {
      return Stage(std::move(p));
    });
    if (!writer.ok()) {
      Discard();
      return writer.status();
    }
    writer_ = std::move(*writer);
    return Status::OK();
  }

  Result<std::unique_ptr<SinkWriter>> NewWriter() override {
    if (!writer_) return Status::Internal("tdtp directory sink: NewWriter before Open");
    return std::unique_ptr<SinkWriter>(std::make_unique<TdtpDirWriter>(this));
  }

  int MaxWriters() const override { return 1; }

  Result<ApplyOutcome> Apply(const PartInfo& part, const std::vector<RecordBatch>& batches) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_.ok()) return failed_;
    if (!writer_) return Status::Internal("tdtp directory sink: part applied outside Open..Commit");
    if (applied_.contains(part.part_id)) return ApplyOutcome::kAlreadyApplied;
    for (const auto& b : batches) {
      Status st = writer_->Append(b);
      if (!st.ok()) {
        // Some of the part's rows may be in a packet already: no way back.
        failed_ = st.WithContext("'" + config_.dir + "'");
        return failed_;
      }
    }
    applied_.insert(part.part_id);
    return ApplyOutcome::kApplied;
  }

  Status Commit() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (committed_) return Status::OK();
    if (!failed_.ok()) return failed_;
    if (!writer_) return Status::Internal("tdtp directory sink: Commit before Open");
    Status st = Publish();
    if (!st.ok()) {
      failed_ = st;
      return st;
    }
    committed_ = true;
    return Status::OK();
  }

  Status Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    Discard();
    return Status::OK();
  }

 private:
  // PacketWriter's sink: each full packet goes to the staging directory.
  Status Stage(tdtp::EncodedPacket p) {
    const std::string path = (fs::path(staging_) / p.file_name).string();
    SLUICE_RETURN_NOT_OK(WriteWhole(path, p.xml, false));
    staged_.push_back({path, p.header.part_number});
    return Status::OK();
  }

  Status Publish() {
    SLUICE_ASSIGN_OR_RETURN(std::vector<tdtp::EncodedPacket> rest, writer_->Finish());
    for (auto& p : rest) SLUICE_RETURN_NOT_OK(Stage(std::move(p)));
    writer_.reset();
    const int64_t total = static_cast<int64_t>(staged_.size());
    const std::string elem = "    <TotalParts>" + std::to_string(total) + "</TotalParts>\n";
    std::set<std::string> published;
    for (const auto& s : staged_) {
      SLUICE_ASSIGN_OR_RETURN(auto bytes, ReadFile(s.path));
      std::string xml(bytes->view());
      // The header the writer produced: <PartNumber>n</PartNumber> then the
      // place where a buffered writer puts <TotalParts>.
      constexpr std::string_view kAfter = "</PartNumber>\n";
      const size_t at = xml.find(kAfter);
      if (at == std::string::npos || at > 4096) {
        return Status::Internal("staged packet '" + s.path + "' has no <PartNumber> in its header");
      }
      xml.insert(at + kAfter.size(), elem);
      const std::string name = tdtp::PartFileName(config_.table, s.part, total);
      SLUICE_RETURN_NOT_OK(WriteWhole((fs::path(config_.dir) / name).string(), xml, config_.fsync));
      published.insert(name);
      std::error_code ec;
      fs::remove(s.path, ec);
    }
    if (config_.overwrite) {
      // Packets of the table from an earlier run that the new set did not replace.
      SLUICE_ASSIGN_OR_RETURN(std::vector<PacketFile> all, ListPackets(config_.dir));
      for (const auto& f : OfTable(all, config_.table)) {
        if (published.contains(f.name)) continue;
        std::error_code ec;
        fs::remove(f.path, ec);
        if (ec) return Status::IOError("cannot remove old packet '" + f.path + "': " + ec.message());
      }
    }
    std::error_code ec;
    fs::remove_all(staging_, ec);
    staging_.clear();
    staged_.clear();
    if (config_.fsync) SLUICE_RETURN_NOT_OK(internal::SyncDirectory(config_.dir));
    return Status::OK();
  }

  void Discard() {
    writer_.reset();
    if (!staging_.empty()) {
      std::error_code ec;
      fs::remove_all(staging_, ec);
      staging_.clear();
    }
    staged_.clear();
  }

  struct Staged {
    std::string path;
    int64_t part;
  };

  DirSinkConfig config_;
  std::shared_ptr<const Schema> schema_;
  std::mutex mu_;
  Status failed_;
  bool committed_ = false;
  std::unordered_set<std::string> applied_;
  std::unique_ptr<tdtp::PacketWriter> writer_;
  std::string staging_;
  std::vector<Staged> staged_;
};

Result<ApplyOutcome> TdtpDirWriter::ApplyPart(const PartInfo& part, const std::vector<RecordBatch>& batches) {
  return sink_->Apply(part, batches);
}

}  // namespace
}  // namespace file

const OptionSpecs& TdtpDirectorySourceOptionSpecs() {
  static const OptionSpecs specs = {
      {"table", OptionType::kString, "",
       "read the packets of this table (needed when the directory holds several)"},
      {"batch_rows", OptionType::kInt, "", "rows per batch (default: the runtime's)"},
      {"empty_is_null", OptionType::kBool, "true",
       "an empty cell of a field without a NULL marker is NULL (TDTP 1.0 convention), also for text"},
      {"max_packet_bytes", OptionType::kSize, "256MiB", "larger packet files are refused"},
  };
  return specs;
}

const OptionSpecs& TdtpDirectorySinkOptionSpecs() {
  static const OptionSpecs specs = {
      {"table", OptionType::kString, "", "TDTP table name and file name stem (default: the directory name)"},
      {"mode", OptionType::kEnum, "create",
       "create: fail if packets of the table exist; overwrite: replace them at commit",
       {"create", "overwrite"}},
      {"max_packet_bytes", OptionType::kSize, "1900000", "target size of one packet file"},
      {"compress", OptionType::kBool, "false", "zstd-compress the rows (TDTP compression=\"zstd\")"},
      {"compression_level", OptionType::kInt, "3", "zstd level for compress=true (1..22)"},
      {"fsync", OptionType::kBool, "false", "fsync each packet file and the directory at commit"},
  };
  return specs;
}

Result<std::unique_ptr<Source>> MakeTdtpDirectorySource(const std::string& dir, const Options& options) {
  using namespace file::internal;
  if (dir.empty()) return Status::InvalidArgument("tdtp directory source: no directory given");
  file::DirSourceConfig c;
  c.dir = dir;
  c.table = StringOr(options, "table", "");
  c.batch_rows = IntOr(options, "batch_rows", 0);
  if (c.batch_rows < 0) return Status::InvalidArgument("tdtp directory source: batch_rows must be >= 0");
  c.empty_is_null = BoolOr(options, "empty_is_null", true);
  c.max_packet_bytes = SizeOr(options, "max_packet_bytes", file::kDefaultMaxPacketBytes);
  if (c.max_packet_bytes <= 0) {
    return Status::InvalidArgument("tdtp directory source: max_packet_bytes must be positive");
  }
  return std::unique_ptr<Source>(std::make_unique<file::TdtpDirSource>(std::move(c)));
}

Result<std::unique_ptr<Sink>> MakeTdtpDirectorySink(const std::string& dir, const Options& options) {
  using namespace file::internal;
  if (dir.empty()) return Status::InvalidArgument("tdtp directory sink: no directory given");
  file::DirSinkConfig c;
  c.dir = dir;
  c.table = StringOr(options, "table", "");
  if (c.table.empty()) {
    fs::path p = fs::path(dir).lexically_normal();
    if (!p.has_filename()) p = p.parent_path();
    c.table = p.filename().string();
  }
  if (c.table.empty() || c.table == "." || c.table == ".." ||
      c.table.find('/') != std::string::npos) {
    return Status::InvalidArgument("tdtp directory sink '" + dir + "': give the table name with table=NAME");
  }
  const std::string mode = StringOr(options, "mode", "create");
  if (mode != "create" && mode != "overwrite") {
    return Status::InvalidArgument("tdtp directory sink: mode must be create or overwrite, got '" + mode + "'");
  }
  c.overwrite = mode == "overwrite";
  c.fsync = BoolOr(options, "fsync", false);
  c.max_packet_bytes = SizeOr(options, "max_packet_bytes", 1'900'000);
  if (c.max_packet_bytes <= 0) {
    return Status::InvalidArgument("tdtp directory sink: max_packet_bytes must be positive");
  }
  c.compress = BoolOr(options, "compress", false);
  const int64_t level = IntOr(options, "compression_level", 3);
  if (level < 1 || level > 22) {
    return Status::InvalidArgument("tdtp directory sink: compression_level must be within 1..22");
  }
  c.compression_level = static_cast<int>(level);
  return std::unique_ptr<Sink>(std::make_unique<file::TdtpDirSink>(std::move(c)));
}

}  // namespace sluice
