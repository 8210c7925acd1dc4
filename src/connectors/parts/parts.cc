#include "connectors/parts/parts.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "core/io.h"
#include "core/log.h"
#include "formats/part/part.h"
#include "formats/tdtp/tdtp.h"
#include "pipeline/part_codec.h"

#if SLUICE_PARTS_WITH_FILE
#include "connectors/file/file.h"
#endif

namespace sluice {

namespace fs = std::filesystem;

namespace parts {

std::string StreamFilePrefix(std::string_view stream_id) {
  std::string out;
  for (char c : stream_id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    out.push_back(ok ? c : '_');
  }
  if (out.empty()) out = "stream";
  return out + "_part_";
}

std::string PartFileName(std::string_view stream_id, int64_t part_number) {
  char num[32];
  std::snprintf(num, sizeof(num), "%06lld.part", static_cast<long long>(part_number));
  return StreamFilePrefix(stream_id) + num;
}

bool IsPartFileName(std::string_view name) {
  auto ends = [&](std::string_view suffix) {
    return name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  return ends(".part") || ends(".tdtp.xml");
}

Result<std::vector<std::string>> ListPartFiles(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    if (fs::exists(dir, ec)) return Status::InvalidArgument("'" + dir + "' is not a directory");
    return Status::NotFound("no such parts directory '" + dir + "'");
  }
  std::vector<std::string> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    const std::string name = p.filename().string();
    // Temp files of writers in progress are "<name>.part.tmp-<pid>-<n>".
    if (!IsPartFileName(name)) continue;
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    files.push_back(p.string());
  }
  if (ec) return Status::IOError("listing '" + dir + "': " + ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

std::string DirectoryOf(const Uri& uri) {
  if (uri.host.empty()) return uri.path;
  // parts://rel/dir → "rel/dir" (relative to the working directory).
  return uri.host + uri.path;
}

namespace {

constexpr int64_t kDefaultMaxFileBytes = int64_t{1} << 30;

Status EnsureDirectory(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("parts: the URI names no directory (parts:///path/to/dir)");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create parts directory '" + dir + "': " + ec.message());
  return Status::OK();
}

// Makes renames into `dir` durable.
Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("cannot open directory '" + dir + "' for fsync");
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Status::IOError("fsync of directory '" + dir + "' failed");
  return Status::OK();
}

Status WritePartFile(const std::string& path, std::string_view bytes, bool fsync) {
  FileOutputStream::Options o;
  o.atomic = true;
  o.fsync = fsync;
  SLUICE_ASSIGN_OR_RETURN(auto out, FileOutputStream::Open(path, o));
  SLUICE_RETURN_NOT_OK(out->Write(bytes));
  return out->Commit();
}

// ---------------------------------------------------------------------------

class DirectoryPublisher final : public PartPublisher {
 public:
  DirectoryPublisher(std::string dir, bool fsync, PartEncoding encoding)
      : dir_(std::move(dir)), fsync_(fsync), encoding_(std::move(encoding)) {}

  Status Open() override { return EnsureDirectory(dir_); }

  Status Publish(const PartMeta& meta, std::string_view bytes) override {
    if (encoding_.format == PartEncoding::Format::kTdtp && meta.end_of_stream) {
      return FinalizeTdtp(meta.total_parts);
    }
    const std::string name =
        encoding_.format == PartEncoding::Format::kTdtp
            ? tdtp::PartFileName(encoding_.table_name, meta.part_number, meta.total_parts)
            : PartFileName(meta.stream_id, meta.part_number);
    return WritePartFile((fs::path(dir_) / name).string(), bytes, fsync_);
  }

  Status Flush() override { return fsync_ ? SyncDirectory(dir_) : Status::OK(); }
  Status Close() override { return Status::OK(); }

  // The framework's final pass of a streaming export: every packet gets
  // <TotalParts> and its final name (written whole, then the streamed name
  // removed). A packet already final (a re-run of this step) is skipped.
  Status FinalizeTdtp(int64_t total) {
    for (int64_t n = 1; n <= total; ++n) {
      const std::string from =
          (fs::path(dir_) / tdtp::PartFileName(encoding_.table_name, n, 0)).string();
      const std::string to =
          (fs::path(dir_) / tdtp::PartFileName(encoding_.table_name, n, total)).string();
      std::error_code ec;
      if (!fs::exists(from, ec) && fs::exists(to, ec)) continue;
      SLUICE_ASSIGN_OR_RETURN(auto buffer, ReadFile(from));
      tdtp::EncodedPacket packet;
      packet.header.table_name = encoding_.table_name;
      packet.header.part_number = n;
      packet.xml.assign(reinterpret_cast<const char*>(buffer->data()),
                        static_cast<size_t>(buffer->size()));
      Status st = tdtp::FinalizeStreamedPart(&packet, total);
      if (!st.ok()) return st.WithContext("finalizing TDTP packet '" + from + "'");
      SLUICE_RETURN_NOT_OK(WritePartFile(to, packet.xml, fsync_));
      if (!fs::remove(from, ec) || ec) {
        return Status::IOError("removing the streamed TDTP packet '" + from + "': " +
                               (ec ? ec.message() : std::string("not found")));
      }
    }
    return Flush();
  }

  std::string kind() const override {
    return encoding_.format == PartEncoding::Format::kTdtp ? "TDTP packets (directory)"
                                                          : "parts (directory)";
  }
  PartEncoding encoding() const override { return encoding_; }

 private:
  std::string dir_;
  bool fsync_;
  PartEncoding encoding_;
};

// Workers claim the listed files through one atomic index, so each file is
// delivered once per subscriber. Files are read when claimed, not at Open.
class DirectorySubscriber final : public PartSubscriber {
 public:
  DirectorySubscriber(std::string dir, bool delete_acked, int64_t max_bytes)
      : dir_(std::move(dir)), delete_acked_(delete_acked), max_bytes_(max_bytes) {}

  Status Open() override {
    SLUICE_ASSIGN_OR_RETURN(files_, ListPartFiles(dir_));
    SLUICE_LOG(kDebug) << "parts: " << files_.size() << " part file(s) in " << dir_;
    return Status::OK();
  }

  Result<Delivery> Receive(int64_t) override {
    while (true) {
      const size_t i = next_.fetch_add(1);
      if (i >= files_.size()) return Delivery{Delivery::State::kEnd, {}};
      auto bytes = ReadFile(files_[i], max_bytes_);
      if (!bytes.ok()) {
        // Another importer with delete=true may have taken it meanwhile.
        if (bytes.status().code() == StatusCode::kNotFound) {
          SLUICE_LOG(kDebug) << "parts: " << files_[i] << " vanished; skipping";
          continue;
        }
        return bytes.status();
      }
      Delivery d;
      d.state = Delivery::State::kPart;
      d.part.bytes = std::move(*bytes);
      d.part.name = files_[i];
      d.part.delivery_tag = i;
      return d;
    }
  }

  Status Ack(const ReceivedPart& part) override {
    if (!delete_acked_) return Status::OK();
    std::error_code ec;
    fs::remove(part.name, ec);
    if (ec) return Status::IOError("cannot delete '" + part.name + "': " + ec.message());
    return Status::OK();
  }

  // The file stays where it is: a later import sees it again.
  Status Reject(const ReceivedPart&, bool) override { return Status::OK(); }
  Status Close() override { return Status::OK(); }
  std::string kind() const override { return "parts (directory)"; }

 private:
  std::string dir_;
  bool delete_acked_;
  int64_t max_bytes_;
  std::vector<std::string> files_;
  std::atomic<size_t> next_{0};
};

// ---------------------------------------------------------------------------
// The directory as a table: data parts in file-name order.

class PartsSourceReader final : public SourceReader {
 public:
  PartsSourceReader(std::vector<std::string> files, std::shared_ptr<const Schema> schema,
                    int64_t max_bytes)
      : files_(std::move(files)), schema_(std::move(schema)), max_bytes_(max_bytes) {}

  Result<std::optional<RecordBatch>> Next() override {
    while (next_batch_ >= batches_.size()) {
      if (next_file_ >= files_.size()) return std::optional<RecordBatch>();
      const std::string& path = files_[next_file_++];
      SLUICE_ASSIGN_OR_RETURN(auto bytes, ReadFile(path, max_bytes_));
      part::DecodeOptions o;
      o.expected_schema = schema_;
      o.max_uncompressed_bytes = max_bytes_;
      SLUICE_ASSIGN_OR_RETURN(part::DecodedPart decoded, pipeline::DecodeAnyPart(bytes, path, o));
      batches_ = std::move(decoded.batches);  // an end part has none
      next_batch_ = 0;
      position_ = fs::path(path).filename().string();
    }
    return std::optional<RecordBatch>(std::move(batches_[next_batch_++]));
  }

  std::string position() const override { return position_; }

 private:
  std::vector<std::string> files_;
  std::shared_ptr<const Schema> schema_;
  int64_t max_bytes_;
  size_t next_file_ = 0;
  std::vector<RecordBatch> batches_;
  size_t next_batch_ = 0;
  std::string position_;
};

class PartsSource final : public Source {
 public:
  PartsSource(std::string dir, int64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}

  Status Open(const SourceOptions&) override {
    SLUICE_ASSIGN_OR_RETURN(files_, ListPartFiles(dir_));
    if (files_.empty()) return Status::NotFound("no part files in '" + dir_ + "'");
    SLUICE_ASSIGN_OR_RETURN(auto bytes, ReadFile(files_.front(), max_bytes_));
    if (pipeline::LooksLikeXml(bytes->view())) {
      part::DecodeOptions o;
      o.max_uncompressed_bytes = max_bytes_;
      SLUICE_ASSIGN_OR_RETURN(part::DecodedPart first, pipeline::DecodeAnyPart(bytes, files_.front(), o));
      schema_ = first.schema;
    } else {
      SLUICE_ASSIGN_OR_RETURN(part::DecodedPart head, part::DecodePartHeader(bytes, files_.front()));
      schema_ = head.schema;
    }
    // The fingerprint covers the file list, so the copy's chunk ids change
    // when the directory does.
    XXH3_state_t* state = XXH3_createState();
    if (state == nullptr) return Status::Internal("out of memory");
    XXH3_64bits_reset(state);
    for (const auto& f : files_) {
      std::error_code ec;
      const auto size = static_cast<uint64_t>(fs::file_size(f, ec));
      XXH3_64bits_update(state, f.data(), f.size() + 1);  // with the NUL separator
      XXH3_64bits_update(state, &size, sizeof(size));
    }
    const uint64_t h = XXH3_64bits_digest(state);
    XXH3_freeState(state);
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
    std::error_code ec;
    const fs::path abs = fs::absolute(dir_, ec);
    identity_ = "parts://" + (ec ? dir_ : abs.string());
    fingerprint_ = identity_ + "#" + hex;
    return Status::OK();
  }

  std::shared_ptr<const Schema> schema() const override { return schema_; }

  Result<std::vector<Split>> Plan(int max_splits) override {
    const size_t n = std::max<size_t>(1, std::min(files_.size(), static_cast<size_t>(std::max(1, max_splits))));
    std::vector<Split> splits;
    for (size_t i = 0; i < n; ++i) {
      const size_t a = i * files_.size() / n, b = (i + 1) * files_.size() / n;
      Split s;
      s.index = static_cast<int>(i);
      s.start = std::to_string(a);
      s.end = std::to_string(b);
      s.description = fs::path(files_[a]).filename().string() + " .. " +
                      fs::path(files_[b - 1]).filename().string();
      splits.push_back(std::move(s));
    }
    return splits;
  }

  Result<std::unique_ptr<SourceReader>> OpenSplit(const Split& split) override {
    size_t a = 0, b = 0;
    try {
      a = std::stoul(split.start);
      b = std::stoul(split.end);
    } catch (...) {
      return Status::InvalidArgument("parts: bad split bounds");
    }
    if (a > b || b > files_.size()) return Status::InvalidArgument("parts: split out of range");
    std::vector<std::string> files(files_.begin() + static_cast<std::ptrdiff_t>(a),
                                   files_.begin() + static_cast<std::ptrdiff_t>(b));
    return std::unique_ptr<SourceReader>(
        std::make_unique<PartsSourceReader>(std::move(files), schema_, max_bytes_));
  }

  std::string Fingerprint() const override { return fingerprint_; }
  std::string Identity() const override { return identity_; }

 private:
  std::string dir_;
  int64_t max_bytes_;
  std::vector<std::string> files_;
  std::shared_ptr<const Schema> schema_;
  std::string fingerprint_;
  std::string identity_;
};

// ---------------------------------------------------------------------------
// The directory as a sink: one part file per applied part.

class PartsSink;

class PartsSinkWriter final : public SinkWriter {
 public:
  explicit PartsSinkWriter(const PartsSink* sink) : sink_(sink) {}
  Result<ApplyOutcome> ApplyPart(const PartInfo& part,
                                 const std::vector<RecordBatch>& batches) override;

 private:
  const PartsSink* sink_;
};

class PartsSink final : public Sink {
 public:
  PartsSink(std::string dir, bool fsync, part::Compression compression)
      : dir_(std::move(dir)), fsync_(fsync), compression_(compression) {}

  Status Open(std::shared_ptr<const Schema> schema) override {
    schema_ = std::move(schema);
    return EnsureDirectory(dir_);
  }
  Result<std::unique_ptr<SinkWriter>> NewWriter() override {
    return std::unique_ptr<SinkWriter>(std::make_unique<PartsSinkWriter>(this));
  }
  // Ends every stream this run wrote to whose data parts are all present
  // (numbered 1..n without gaps) with an end part, so the directory is a
  // set of complete, verifiable streams for a later import or inspect.
  Status Commit() override;

  const std::string& dir() const { return dir_; }
  bool fsync() const { return fsync_; }
  part::Compression compression() const { return compression_; }
  const Schema& schema() const { return *schema_; }
  void Touched(const std::string& stream_id) const {
    std::lock_guard<std::mutex> lock(mu_);
    streams_.insert(stream_id);
  }

 private:
  Status EndStream(const std::string& stream_id);

  std::string dir_;
  bool fsync_;
  part::Compression compression_;
  std::shared_ptr<const Schema> schema_;
  mutable std::mutex mu_;
  mutable std::set<std::string> streams_;
};

Status PartsSink::Commit() {
  std::set<std::string> streams;
  {
    std::lock_guard<std::mutex> lock(mu_);
    streams = streams_;
  }
  for (const auto& id : streams) SLUICE_RETURN_NOT_OK(EndStream(id));
  return fsync_ ? SyncDirectory(dir_) : Status::OK();
}

Status PartsSink::EndStream(const std::string& stream_id) {
  SLUICE_ASSIGN_OR_RETURN(std::vector<std::string> files, ListPartFiles(dir_));
  const std::string prefix = StreamFilePrefix(stream_id);
  std::map<int64_t, part::PartHeader> data;
  bool has_end = false;
  for (const auto& f : files) {
    const std::string name = fs::path(f).filename().string();
    if (name.rfind(prefix, 0) != 0 || name.size() < 5 ||
        name.compare(name.size() - 5, 5, ".part") != 0) {
      continue;
    }
    SLUICE_ASSIGN_OR_RETURN(auto bytes, ReadFile(f, kDefaultMaxFileBytes));
    SLUICE_ASSIGN_OR_RETURN(part::DecodedPart head, part::DecodePartHeader(bytes, f));
    if (head.header.stream_id != stream_id) continue;  // another id with the same file prefix
    if (head.header.kind == part::PartKind::kEnd) {
      has_end = true;
    } else {
      data[head.header.part_number] = std::move(head.header);
    }
  }
  if (has_end || data.empty()) return Status::OK();
  const int64_t n = static_cast<int64_t>(data.size());
  if (data.begin()->first != 1 || data.rbegin()->first != n) {
    SLUICE_LOG(kWarn) << "parts: stream " << stream_id << " in " << dir_
                      << " has gaps in its part numbers; no end part written";
    return Status::OK();
  }
  part::PartHeader end;
  end.kind = part::PartKind::kEnd;
  end.stream_id = stream_id;
  end.total_parts = n;
  end.part_number = n + 1;
  std::vector<part::PartChecksum> sums;
  for (const auto& [number, h] : data) {
    end.total_rows += h.rows;
    sums.push_back({number, h.checksum});
    if (end.source_fingerprint.empty()) end.source_fingerprint = h.source_fingerprint;
  }
  end.stream_checksum = part::StreamChecksum(std::move(sums));
  part::EncodeOptions eo;
  eo.compression = compression_;
  SLUICE_ASSIGN_OR_RETURN(std::string bytes, part::EncodePart(&end, *schema_, {}, eo));
  return WritePartFile((fs::path(dir_) / PartFileName(stream_id, n + 1)).string(), bytes, fsync_);
}

Result<ApplyOutcome> PartsSinkWriter::ApplyPart(const PartInfo& info,
                                                const std::vector<RecordBatch>& batches) {
  const std::string path =
      (fs::path(sink_->dir()) / PartFileName(info.stream_id, info.part_number)).string();
  sink_->Touched(info.stream_id);
  std::error_code ec;
  if (fs::exists(path, ec)) {
    // The file is the ledger entry: same part id = already applied.
    SLUICE_ASSIGN_OR_RETURN(auto bytes, ReadFile(path, kDefaultMaxFileBytes));
    SLUICE_ASSIGN_OR_RETURN(part::DecodedPart head, part::DecodePartHeader(bytes, path));
    if (head.header.idempotency_key == info.part_id) return ApplyOutcome::kAlreadyApplied;
    return Status::InvalidData("part file '" + path + "' already exists with part id " +
                               head.header.idempotency_key + ", not " + info.part_id);
  }
  part::PartHeader header;
  header.stream_id = info.stream_id;
  header.part_number = info.part_number;
  header.idempotency_key = info.part_id;
  part::EncodeOptions eo;
  eo.compression = sink_->compression();
  SLUICE_ASSIGN_OR_RETURN(std::string bytes, part::EncodePart(&header, sink_->schema(), batches, eo));
  SLUICE_RETURN_NOT_OK(WritePartFile(path, bytes, sink_->fsync()));
  return ApplyOutcome::kApplied;
}

}  // namespace
}  // namespace parts

namespace {
Result<std::string> DirectoryFrom(const Uri& uri) {
  std::string dir = parts::DirectoryOf(uri);
  if (dir.empty()) {
    return Status::InvalidArgument("'" + uri.Redacted() +
                                   "' names no directory (expected parts:///path/to/dir)");
  }
  return dir;
}
}  // namespace

void RegisterParts(Registry* registry) {
  ConnectorInfo info;
  info.scheme = "parts";
  info.summary = "a directory of part files (parts:///dir): export target, import origin, table";
  info.source_options = {
      {"format", OptionType::kEnum, "auto",
       "auto: read *.part and *.tdtp.xml files alike; tdtp (copy): one table's TDTP packet set "
       "in part order, checked complete",
       {"auto", "tdtp"}},
      {"delete", OptionType::kBool, "false",
       "import: delete each part file once the destination committed it"},
      {"max_part_bytes", OptionType::kSize, "1GiB", "largest part file accepted"},
  };
  info.sink_options = {
      {"format", OptionType::kEnum, "part",
       "export: native parts, or TDTP XML packets for TDTP-framework consumers",
       {"part", "tdtp"}},
      {"table", OptionType::kString, "",
       "format=tdtp: TDTP table name and file name stem (default: the directory name)"},
      {"fsync", OptionType::kBool, "false",
       "fsync each part file (and the directory) so parts survive a power loss"},
      {"compression", OptionType::kEnum, "zstd",
       "compression of part files written by copy/import (export uses --compression)",
       {"none", "lz4", "zstd"}},
  };
  info.make_source = [](const Uri& uri, const Options& o) -> Result<std::unique_ptr<Source>> {
    SLUICE_ASSIGN_OR_RETURN(std::string dir, DirectoryFrom(uri));
#if SLUICE_PARTS_WITH_FILE
    if (o.GetString("format") == "tdtp") return MakeTdtpDirectorySource(dir, o);
#endif
    return std::unique_ptr<Source>(
        std::make_unique<parts::PartsSource>(std::move(dir), o.GetSizeBytes("max_part_bytes")));
  };
  info.make_sink = [](const Uri& uri, const Options& o) -> Result<std::unique_ptr<Sink>> {
    SLUICE_ASSIGN_OR_RETURN(std::string dir, DirectoryFrom(uri));
    if (o.GetString("format") == "tdtp") {
#if SLUICE_PARTS_WITH_FILE
      // Packets staged during the run and named "<table>_part_N_of_T" at commit.
      return MakeTdtpDirectorySink(dir, o);
#else
      return Status::InvalidArgument(
          "parts destination: format=tdtp is for export (sluice export SRC --to " +
          uri.Redacted() + "); copy/import write native parts in this build");
#endif
    }
    SLUICE_ASSIGN_OR_RETURN(part::Compression c, part::ParseCompression(o.GetString("compression")));
    return std::unique_ptr<Sink>(
        std::make_unique<parts::PartsSink>(std::move(dir), o.GetBool("fsync"), c));
  };
  info.make_publisher = [](const Uri& uri,
                           const Options& o) -> Result<std::unique_ptr<PartPublisher>> {
    SLUICE_ASSIGN_OR_RETURN(std::string dir, DirectoryFrom(uri));
    PartEncoding encoding;
    if (o.GetString("format") == "tdtp") {
      encoding.format = PartEncoding::Format::kTdtp;
      encoding.table_name = o.GetString("table");
      if (encoding.table_name.empty()) {
        encoding.table_name = fs::path(dir).lexically_normal().filename().string();
        if (encoding.table_name.empty()) {
          encoding.table_name = fs::path(dir).lexically_normal().parent_path().filename().string();
        }
        if (encoding.table_name.empty()) encoding.table_name = "data";
      }
    }
    return std::unique_ptr<PartPublisher>(std::make_unique<parts::DirectoryPublisher>(
        std::move(dir), o.GetBool("fsync"), std::move(encoding)));
  };
  info.make_subscriber = [](const Uri& uri,
                            const Options& o) -> Result<std::unique_ptr<PartSubscriber>> {
    SLUICE_ASSIGN_OR_RETURN(std::string dir, DirectoryFrom(uri));
    return std::unique_ptr<PartSubscriber>(std::make_unique<parts::DirectorySubscriber>(
        std::move(dir), o.GetBool("delete"), o.GetSizeBytes("max_part_bytes")));
  };
#if SLUICE_PARTS_WITH_FILE
  // format=tdtp as a table source or sink is the file connector's TDTP
  // directory; its options join these tables (same name = same meaning).
  auto merge = [](OptionSpecs* into, const OptionSpecs& from) {
    for (const auto& spec : from) {
      bool present = false;
      for (const auto& mine : *into) present = present || mine.name == spec.name;
      if (present) continue;
      OptionSpec copy = spec;
      copy.doc = "format=tdtp: " + copy.doc;
      into->push_back(std::move(copy));
    }
  };
  merge(&info.source_options, TdtpDirectorySourceOptionSpecs());
  merge(&info.sink_options, TdtpDirectorySinkOptionSpecs());
#endif
  registry->Add(std::move(info));
}

}  // namespace sluice
