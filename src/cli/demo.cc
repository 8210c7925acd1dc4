#include "cli/demo.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "cli/flags.h"
#include "cli/signals.h"
#include "connectors/connector.h"
#include "connectors/options.h"
#include "core/io.h"
#include "core/log.h"
#include "pipeline/runtime.h"
#include "pipeline/stats.h"

namespace sluice::cli {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kTable = "demo";
constexpr const char* kSourceDb = "source.db";
constexpr const char* kTargetDb = "target.db";
constexpr const char* kPartsDir = "parts";

// ---------------------------------------------------------------------------
// The table digest: SQLite C API only, so the verification shares no code
// with the readers and writers it checks.

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
struct Xxh3Free {
  void operator()(XXH3_state_t* s) const { XXH3_freeState(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

std::string Quote(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

void PutU64(uint64_t v, std::string* out) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}

void PutBytes(const void* data, size_t size, std::string* out) {
  PutU64(size, out);
  if (size > 0) out->append(static_cast<const char*>(data), size);
}

Result<StmtPtr> Prepare(sqlite3* db, const std::string& sql, const std::string& where) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) {
    return Status::IOError(where + ": preparing '" + sql + "': " + sqlite3_errmsg(db));
  }
  return stmt;
}

// ---------------------------------------------------------------------------
// Resident memory per step. The process's true peak comes from the kernel
// (getrusage); which step caused it is found by sampling the resident set
// every few milliseconds (a sample can miss a spike shorter than that, the
// process peak cannot). The high-water mark itself is left alone, so outside
// tools (/usr/bin/time) still see the real peak.

int64_t ResidentBytes() {
  static const int64_t page = sysconf(_SC_PAGESIZE);
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * page : 0;
}

class RssSampler {
 public:
  RssSampler() : thread_([this] { Loop(); }) {}
  ~RssSampler() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;

  // Starts a new step: its peak so far is what is resident now.
  void BeginStep() { step_max_.store(ResidentBytes()); }
  // The largest resident set sampled since BeginStep.
  int64_t StepPeak() {
    Sample();
    return step_max_.load();
  }

 private:
  void Sample() {
    const int64_t now = ResidentBytes();
    int64_t prev = step_max_.load();
    while (now > prev && !step_max_.compare_exchange_weak(prev, now)) {
    }
  }
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!done_) {
      cv_.wait_for(lock, std::chrono::milliseconds(5));
      Sample();
    }
  }

  std::atomic<int64_t> step_max_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts after the members it uses
};

// ---------------------------------------------------------------------------
// The working directory.

struct DemoDir {
  std::string path;
  bool created = false;  // by this run (then --cleanup removes the directory too)
};

// What the demo writes into DIR (SQLite's side files included).
std::vector<std::string> DemoEntries() {
  std::vector<std::string> out = {kPartsDir};
  for (const char* db : {kSourceDb, kTargetDb}) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) out.push_back(std::string(db) + suffix);
  }
  return out;
}

Result<DemoDir> PrepareDir(const std::string& requested) {
  DemoDir d;
  std::error_code ec;
  if (requested.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    std::string templ = base + "/sluice-demo-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) {
      return Status::IOError("demo: creating a directory in '" + base + "': " + std::strerror(errno));
    }
    d.path = buf.data();
    d.created = true;
  } else {
    const fs::path p = fs::absolute(requested, ec).lexically_normal();
    if (ec) return Status::InvalidArgument("--dir '" + requested + "': " + ec.message());
    d.path = p.string();
    if (d.path.size() > 1 && d.path.back() == '/') d.path.pop_back();
    if (fs::exists(p, ec)) {
      if (!fs::is_directory(p, ec)) {
        return Status::InvalidArgument("--dir '" + d.path + "' exists and is not a directory");
      }
      for (const auto& name : DemoEntries()) {
        if (fs::exists(p / name, ec)) {
          return Status::InvalidArgument("--dir '" + d.path + "' already holds '" + name +
                                         "' from an earlier demo; remove it or choose another --dir");
        }
      }
    } else {
      fs::create_directories(p, ec);
      if (ec) return Status::IOError("demo: creating '" + d.path + "': " + ec.message());
      d.created = true;
    }
  }
  return d;
}

void RemoveDemoFiles(const DemoDir& d) {
  std::error_code ec;
  for (const auto& name : DemoEntries()) fs::remove_all(fs::path(d.path) / name, ec);
  // Only a directory this run created, and only when nothing else is in it.
  if (d.created) fs::remove(d.path, ec);
}

// "sqlite:///abs/path/source.db": the path percent-encoded, since URIs
// decode escapes (a DIR with spaces, '?' or '#' must survive).
std::string PathUri(std::string_view scheme, const std::string& path) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out(scheme);
  out += "://";
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Steps

int ExitCodeFor(const Status& st) {
  if (st.ok()) return 0;
  if (st.code() == StatusCode::kInvalidArgument) return 2;
  if (st.code() == StatusCode::kCancelled && StopSignal() != 0) return 128 + StopSignal();
  return 1;
}

int Fail(const Status& st) {
  std::fprintf(stderr, "sluice: error: %s\n", st.message().c_str());
  return ExitCodeFor(st);
}

struct StepResult {
  std::string name;  // "generate", "export", "import"
  pipeline::RunStats stats;
};

struct Verification {
  TableDigest source, target;
  bool match = false;
  double duration_s = 0;
  int64_t peak_rss_bytes = 0;
};

std::string Mb(int64_t bytes) { return pipeline::FormatMegabytes(bytes); }

std::string DemoJson(const DemoOptions& o, const DemoDir& dir, const std::vector<StepResult>& steps,
                     const Verification* v, double wall_s, int64_t peak_rss, const Status& st) {
  std::string j = "{\"command\":\"demo\",\"rows_requested\":" + std::to_string(o.rows) +
                  ",\"workers\":" + std::to_string(o.workers) + ",\"dir\":";
  pipeline::AppendJsonString(dir.path, &j);
  j += ",\"steps\":{";
  for (size_t i = 0; i < steps.size(); ++i) {
    if (i > 0) j += ",";
    pipeline::AppendJsonString(steps[i].name, &j);
    j += ":" + steps[i].stats.ToJson();
  }
  j += "},\"verification\":";
  if (v == nullptr) {
    j += "null";
  } else {
    j += "{\"source_rows\":" + std::to_string(v->source.rows) +
         ",\"target_rows\":" + std::to_string(v->target.rows) + ",\"source_checksum\":";
    pipeline::AppendJsonString(v->source.checksum, &j);
    j += ",\"target_checksum\":";
    pipeline::AppendJsonString(v->target.checksum, &j);
    j += std::string(",\"match\":") + (v->match ? "true" : "false") +
         ",\"duration_s\":" + std::to_string(v->duration_s) +
         ",\"peak_rss_bytes\":" + std::to_string(v->peak_rss_bytes) + "}";
  }
  j += ",\"duration_s\":" + std::to_string(wall_s) + ",\"peak_rss_bytes\":" + std::to_string(peak_rss) +
       ",\"error\":";
  pipeline::AppendJsonString(st.ok() ? "" : st.ToString(), &j);
  j += "}\n";
  return j;
}

class Demo {
 public:
  Demo(const DemoOptions& options, FILE* out) : o_(options), out_(out) {}

  int Run() {
    start_ = Clock::now();
    stop_ = InstallStopHandlers();
    auto dir = PrepareDir(o_.dir);
    if (!dir.ok()) return Fail(dir.status());
    dir_ = *dir;
    const std::string source_db = dir_.path + "/" + kSourceDb;
    const std::string target_db = dir_.path + "/" + kTargetDb;
    const std::string parts_dir = dir_.path + "/" + kPartsDir;
    if (!o_.quiet) {
      std::fprintf(stderr, "sluice demo: %lld rows, %d workers, in %s\n",
                   static_cast<long long>(o_.rows), o_.workers, dir_.path.c_str());
    }

    const std::string gen_uri =
        "gen:///?rows=" + std::to_string(o_.rows) + "&seed=1&schema=mixed";
    const std::string source_uri = PathUri("sqlite", source_db) + "?table=" + kTable;
    const std::string target_uri = PathUri("sqlite", target_db) + "?table=" + kTable;
    const std::string parts_uri = PathUri("parts", parts_dir);
    // Reads without mmap: mapped file pages count as resident, so the
    // default 256MiB map would show up as up to 2 × 256MiB of "RSS" (the
    // planning connection and the reader both touch the whole file).
    const std::vector<std::pair<std::string, std::string>> source_read_opts = {{"mmap_size", "0"}};
    const std::vector<std::pair<std::string, std::string>> sink_opts = {
        {"cache_size", std::to_string(o_.sqlite_cache_bytes)}};
    const auto& reg = Registry::Global();

    Status st = Step("generate", gen_uri, source_uri, [&](pipeline::RunOptions& ro, pipeline::RunStats* s) {
      // Set-up, not the job being shown: SQLite commits one writer at a
      // time, so past two writers (one binding while one commits) a copy
      // into it only gains chunks in flight — about 10 MB of RSS each —
      // and no speed.
      ro.workers = std::min(ro.workers, 2);
      SLUICE_ASSIGN_OR_RETURN(auto source, reg.MakeSource(gen_uri));
      SLUICE_ASSIGN_OR_RETURN(auto sink, reg.MakeSink(source_uri, sink_opts));
      s->output_type = "sqlite";
      return pipeline::RunCopy(source.get(), sink.get(), ro, s);
    });
    if (st.ok()) {
      st = Step("export", source_uri, parts_uri, [&](pipeline::RunOptions& ro, pipeline::RunStats* s) {
        SLUICE_ASSIGN_OR_RETURN(auto source, reg.MakeSource(source_uri, source_read_opts));
        SLUICE_ASSIGN_OR_RETURN(auto publisher, reg.MakePublisher(parts_uri));
        return pipeline::RunExport(source.get(), publisher.get(), ro, s);
      });
    }
    if (st.ok()) {
      st = Step("import", parts_uri, target_uri, [&](pipeline::RunOptions& ro, pipeline::RunStats* s) {
        SLUICE_ASSIGN_OR_RETURN(auto subscriber, reg.MakeSubscriber(parts_uri));
        SLUICE_ASSIGN_OR_RETURN(auto sink, reg.MakeSink(target_uri, sink_opts));
        s->output_type = "sqlite";
        return pipeline::RunImport(subscriber.get(), sink.get(), ro, s);
      });
    }
    std::optional<Verification> v;
    if (st.ok()) {
      auto verified = Verify(source_db, target_db);
      if (verified.ok()) v = *verified;
      else st = verified.status();
    }
    const double wall_s = std::chrono::duration<double>(Clock::now() - start_).count();
    int64_t peak = pipeline::PeakRssBytes();
    for (const auto& s : steps_) peak = std::max(peak, s.stats.peak_rss_bytes);
    if (v) peak = std::max(peak, v->peak_rss_bytes);

    if (v) PrintVerification(*v, source_db, target_db);
    if (v || !st.ok()) PrintSummary(v ? &*v : nullptr, wall_s, peak, st);
    if (!o_.stats_json.empty()) {
      const std::string json = DemoJson(o_, dir_, steps_, v ? &*v : nullptr, wall_s, peak, st);
      if (o_.stats_json == "-") {
        std::fwrite(json.data(), 1, json.size(), out_);
      } else {
        Status w = WriteFileAtomic(o_.stats_json, json).WithContext("writing --stats-json");
        if (!w.ok() && st.ok()) st = w;
      }
    }
    std::fflush(out_);
    if (!st.ok()) return Fail(st);
    if (!v->match) {
      std::fprintf(stderr, "sluice: error: demo: the target table differs from the source (see %s)\n",
                   dir_.path.c_str());
      return 1;
    }
    return 0;
  }

 private:
  using RunFn = std::function<Status(pipeline::RunOptions&, pipeline::RunStats*)>;

  Status Step(const std::string& name, const std::string& from, const std::string& to,
              const RunFn& run) {
    const int index = static_cast<int>(steps_.size()) + 1;
    if (!o_.quiet) {
      std::fprintf(stderr, "\n[%d/3] %s: %s -> %s\n", index, name.c_str(), from.c_str(), to.c_str());
    }
    pipeline::RunOptions ro;
    ro.workers = o_.workers;
    ro.part_bytes = o_.part_bytes;
    ro.compression = o_.compression;
    ro.stop_requested = stop_;
    pipeline::ProgressReporter::Options popts;
    popts.mode = o_.progress;
    popts.label = name;
    pipeline::ProgressReporter progress(popts);
    ro.on_progress = [&progress](const pipeline::ProgressSnapshot& s) { progress.Update(s); };

    StepResult result;
    result.name = name;
    result.stats.source = from;
    result.stats.destination = to;
    rss_.BeginStep();
    Status st = run(ro, &result.stats);
    progress.Finish();
    // This step's own (sampled) peak; the runtime's figure is the process's
    // peak so far, which after the first step says little about this one.
    result.stats.peak_rss_bytes = rss_.StepPeak();
    if (!o_.quiet) {
      const std::string table = result.stats.ToTable();
      std::fwrite(table.data(), 1, table.size(), stderr);
    }
    steps_.push_back(std::move(result));
    return st.WithContext(name);
  }

  Result<Verification> Verify(const std::string& source_db, const std::string& target_db) {
    if (!o_.quiet) std::fprintf(stderr, "\nverifying: reading both tables with the SQLite C API\n");
    Verification v;
    rss_.BeginStep();
    const auto t0 = Clock::now();
    // Both files at once: each digest is one sequential scan on its own connection.
    Result<TableDigest> target = Status::Internal("not run");
    std::thread other([&] { target = DigestSqliteTable(target_db, kTable, stop_); });
    Result<TableDigest> source = DigestSqliteTable(source_db, kTable, stop_);
    other.join();
    SLUICE_RETURN_NOT_OK_CTX(source.status(), "verify");
    SLUICE_RETURN_NOT_OK_CTX(target.status(), "verify");
    v.duration_s = std::chrono::duration<double>(Clock::now() - t0).count();
    v.peak_rss_bytes = rss_.StepPeak();
    v.source = *source;
    v.target = *target;
    v.match = v.source.checksum == v.target.checksum && v.source.rows == o_.rows &&
              v.target.rows == o_.rows;
    return v;
  }

  void PrintVerification(const Verification& v, const std::string& source_db,
                         const std::string& target_db) {
    auto line = [&](const char* key, const std::string& value) {
      std::fprintf(out_, "%-17s%s\n", key, value.c_str());
    };
    std::fprintf(out_, "\n--- Demo Verification ---\n");
    line("Source Table:", source_db + " \"" + kTable + "\"");
    line("Target Table:", target_db + " \"" + kTable + "\"");
    line("Expected Rows:", std::to_string(o_.rows));
    line("Source Rows:", std::to_string(v.source.rows));
    line("Target Rows:", std::to_string(v.target.rows));
    line("Source Checksum:", v.source.checksum);
    line("Target Checksum:", v.target.checksum);
    line("Verify Time:", pipeline::FormatDuration(v.duration_s));
    line("Result:", v.match ? "MATCH" : "MISMATCH");
  }

  void PrintSummary(const Verification* v, double wall_s, int64_t peak, const Status& st) {
    std::string times, peaks;
    for (const auto& s : steps_) {
      times += (times.empty() ? "" : ", ") + s.name + " " + pipeline::FormatDuration(s.stats.duration_s);
      peaks += (peaks.empty() ? "" : ", ") + s.name + " " + Mb(s.stats.peak_rss_bytes);
    }
    if (v != nullptr) {
      times += ", verify " + pipeline::FormatDuration(v->duration_s);
      peaks += ", verify " + Mb(v->peak_rss_bytes);
    }
    const bool keep = !o_.cleanup || !st.ok() || v == nullptr || !v->match;
    std::fprintf(out_, "\n--- Demo Summary ---\n");
    std::fprintf(out_, "%-17s%s (%s)\n", "Wall Time:", pipeline::FormatDuration(wall_s).c_str(),
                 times.c_str());
    std::fprintf(out_, "%-17s%s (sampled per step: %s)\n", "Peak RSS:", Mb(peak).c_str(),
                 peaks.c_str());
    if (keep) {
      std::fprintf(out_, "%-17s%s (kept; see: sluice inspect %s/%s)\n", "Directory:",
                   dir_.path.c_str(), dir_.path.c_str(), kPartsDir);
    } else {
      RemoveDemoFiles(dir_);
      std::fprintf(out_, "%-17s%s (removed: --cleanup)\n", "Directory:", dir_.path.c_str());
    }
  }

  const DemoOptions& o_;
  FILE* out_;
  Clock::time_point start_;
  const std::atomic<bool>* stop_ = nullptr;
  DemoDir dir_;
  std::vector<StepResult> steps_;
  RssSampler rss_;
};

Result<DemoOptions> ParseDemoFlags(const ParsedArgs& args) {
  DemoOptions o;
  if (!args.positionals.empty()) {
    return Status::InvalidArgument("demo takes no arguments, got '" + args.positionals[0] +
                                   "' (see sluice demo --help)");
  }
  if (args.Has("rows")) {
    SLUICE_ASSIGN_OR_RETURN(o.rows, PositiveInt(args.Get("rows"), "rows"));
  }
  SLUICE_RETURN_NOT_OK(ParseWorkersFlag(args, &o.workers));
  o.dir = args.Get("dir");
  if (args.Has("dir") && o.dir.empty()) return Status::InvalidArgument("--dir: empty path");
  o.cleanup = args.Has("cleanup");
  SLUICE_RETURN_NOT_OK(ParsePartSizeFlag(args, &o.part_bytes));
  SLUICE_RETURN_NOT_OK(ParseCompressionFlag(args, &o.compression));
  SLUICE_ASSIGN_OR_RETURN(o.progress, ParseProgressFlag(args));
  o.stats_json = args.Get("stats-json");
  o.quiet = args.Has("quiet");
  return o;
}

}  // namespace

Result<TableDigest> DigestSqliteTable(const std::string& path, const std::string& table,
                                      const std::atomic<bool>* stop) {
  const std::string where = "digest of '" + path + "' table " + Quote(table);
  sqlite3* raw = nullptr;
  // Read-write (without CREATE) but query_only: a read-only connection to a
  // WAL database creates the -wal/-shm files and, not allowed to checkpoint,
  // leaves them behind; a writable one removes them when it closes.
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db.get(), "PRAGMA query_only=ON", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return Status::IOError(where + ": cannot open: " +
                           (raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }

  // Columns and key, in declaration order.
  SLUICE_ASSIGN_OR_RETURN(StmtPtr info,
                          Prepare(db.get(), "SELECT name, type, pk FROM pragma_table_info(?1)", where));
  sqlite3_bind_text(info.get(), 1, table.data(), static_cast<int>(table.size()), SQLITE_TRANSIENT);
  std::string header = "sluice-table-digest-v1";
  std::vector<std::string> columns;
  std::vector<std::pair<int64_t, std::string>> key;
  while ((rc = sqlite3_step(info.get())) == SQLITE_ROW) {
    auto text = [&](int i) {
      const unsigned char* p = sqlite3_column_text(info.get(), i);
      return std::string(p != nullptr ? reinterpret_cast<const char*>(p) : "",
                         static_cast<size_t>(sqlite3_column_bytes(info.get(), i)));
    };
    std::string name = text(0), type = text(1);
    PutBytes(name.data(), name.size(), &header);
    PutBytes(type.data(), type.size(), &header);
    const int64_t pk = sqlite3_column_int64(info.get(), 2);
    if (pk > 0) key.emplace_back(pk, name);
    columns.push_back(std::move(name));
  }
  if (rc != SQLITE_DONE) return Status::IOError(where + ": reading the columns: " + sqlite3_errmsg(db.get()));
  if (columns.empty()) return Status::NotFound(where + ": no such table");
  std::sort(key.begin(), key.end());

  std::string sql = "SELECT ";
  for (size_t i = 0; i < columns.size(); ++i) sql += (i ? ", " : "") + Quote(columns[i]);
  sql += " FROM " + Quote(table) + " ORDER BY ";
  if (key.empty()) {
    // No key: every column, so the order (and the digest) does not depend on
    // the physical order of the rows.
    for (size_t i = 0; i < columns.size(); ++i) sql += (i ? ", " : "") + std::to_string(i + 1);
  } else {
    for (size_t i = 0; i < key.size(); ++i) sql += (i ? ", " : "") + Quote(key[i].second);
  }
  SLUICE_ASSIGN_OR_RETURN(StmtPtr select, Prepare(db.get(), sql, where));

  std::unique_ptr<XXH3_state_t, Xxh3Free> state(XXH3_createState());
  if (state == nullptr || XXH3_128bits_reset(state.get()) != XXH_OK) {
    return Status::Internal(where + ": cannot set up the hash");
  }
  PutU64(columns.size(), &header);
  XXH3_128bits_update(state.get(), header.data(), header.size());

  // Rows are encoded into `buf` and hashed in blocks; the streaming hash does
  // not depend on where the blocks are cut.
  constexpr size_t kFlushBytes = 1 << 16;
  std::string buf;
  buf.reserve(kFlushBytes + 4096);
  sqlite3_stmt* s = select.get();
  const int n = static_cast<int>(columns.size());
  TableDigest digest;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    for (int c = 0; c < n; ++c) {
      // The storage class first: the accessors below would convert otherwise.
      const int type = sqlite3_column_type(s, c);
      buf.push_back(static_cast<char>(type));
      switch (type) {
        case SQLITE_INTEGER:
          PutU64(static_cast<uint64_t>(sqlite3_column_int64(s, c)), &buf);
          break;
        case SQLITE_FLOAT: {
          const double d = sqlite3_column_double(s, c);
          uint64_t bits;
          std::memcpy(&bits, &d, sizeof(bits));
          PutU64(bits, &buf);
          break;
        }
        case SQLITE_TEXT: {
          const unsigned char* p = sqlite3_column_text(s, c);
          PutBytes(p, static_cast<size_t>(sqlite3_column_bytes(s, c)), &buf);
          break;
        }
        case SQLITE_BLOB: {
          const void* p = sqlite3_column_blob(s, c);
          PutBytes(p, static_cast<size_t>(sqlite3_column_bytes(s, c)), &buf);
          break;
        }
        default:  // SQLITE_NULL: the tag alone
          break;
      }
    }
    ++digest.rows;
    if (buf.size() >= kFlushBytes) {
      XXH3_128bits_update(state.get(), buf.data(), buf.size());
      buf.clear();
      if (stop != nullptr && stop->load(std::memory_order_relaxed)) {
        return Status::Cancelled(where + ": stopped");
      }
    }
  }
  if (rc != SQLITE_DONE) {
    return Status::IOError(where + ": row " + std::to_string(digest.rows + 1) + ": " +
                           sqlite3_errmsg(db.get()));
  }
  XXH3_128bits_update(state.get(), buf.data(), buf.size());
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(state.get()));
  static const char kHex[] = "0123456789abcdef";
  digest.checksum = "xxh3-128:";
  for (unsigned char b : canonical.digest) {
    digest.checksum.push_back(kHex[b >> 4]);
    digest.checksum.push_back(kHex[b & 15]);
  }
  return digest;
}

int RunDemo(const DemoOptions& options, FILE* out) { return Demo(options, out).Run(); }

const std::vector<FlagSpec>& DemoFlags() {
  static const std::vector<FlagSpec> flags = {
      {"rows", 'n', "N", "rows to generate (default 1000000)"},
      {"workers", 'w', "N", "import workers and export encoders (default 4; generating uses at most 2)"},
      {"dir", 0, "DIR",
       "where source.db, parts/ and target.db go (default: a new sluice-demo-* temp directory)"},
      {"cleanup", 0, "", "delete what the demo created once it succeeded (default: keep it)"},
      {"part-size", 0, "SIZE", "target part size, e.g. 2MiB, 512KB (default 2MiB)"},
      {"compression", 0, "ALGO", "part compression: none, lz4 or zstd (default zstd)"},
      {"stats-json", 0, "FILE", "write every step's statistics as JSON to FILE ('-' = stdout)"},
      {"progress", 0, "MODE", "auto (bar on a terminal, log lines otherwise), always, never"},
  };
  return flags;
}

int CmdDemo(const ParsedArgs& args) {
  auto options = ParseDemoFlags(args);
  if (!options.ok()) return Fail(options.status());
  return RunDemo(*options, stdout);
}

}  // namespace sluice::cli
