#include "pipeline/runtime.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "connectors/state.h"
#include "core/io.h"
#include "core/log.h"
#include "formats/tdtp/tdtp.h"
#include "pipeline/bounded_queue.h"
#include "pipeline/part_codec.h"

namespace sluice::pipeline {

namespace {

using Clock = std::chrono::steady_clock;

// Stops the run on the first error or on an external stop request, and
// remembers that first error. Stopping cancels every registered queue so
// that stages blocked in Push/Pop wake up at once.
class RunControl {
 public:
  explicit RunControl(const std::atomic<bool>* external) : external_(external) {}

  void OnStop(std::function<void()> cancel) {
    std::lock_guard<std::mutex> lock(mu_);
    cancelers_.push_back(std::move(cancel));
  }

  // Records `status` if it is the first error and stops the run. Later
  // errors are usually consequences of the first (cancelled queues, closed
  // connections), so they are only logged at debug level.
  void Fail(Status status) {
    std::vector<std::function<void()>> cancelers;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (status_.ok()) {
        status_ = std::move(status);
      } else {
        SLUICE_LOG(kDebug) << "after the first error, also: " << status;
      }
      if (stopped_.exchange(true)) return;
      cancelers = cancelers_;
    }
    for (auto& cancel : cancelers) cancel();
  }

  // True once the run should wind down; stages check it between batches/parts.
  bool stopped() const {
    return stopped_.load(std::memory_order_relaxed) ||
           (external_ != nullptr && external_->load(std::memory_order_relaxed));
  }

  // Called by the supervising thread: turns an external stop request into a
  // cancellation of the run.
  void PollExternal() {
    if (external_ != nullptr && external_->load() && !stopped_.load()) {
      SLUICE_LOG(kWarn) << "stop requested: finishing the part in flight, then stopping";
      Fail(Status::Cancelled("stopped on request (signal): every part written is whole, "
                             "nothing was half-applied; re-run to finish"));
    }
  }

  Status status() const {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

  // Drops the stop handlers (the queues they cancel are going away).
  void ClearStopHandlers() {
    std::lock_guard<std::mutex> lock(mu_);
    cancelers_.clear();
  }

 private:
  const std::atomic<bool>* external_;
  mutable std::mutex mu_;
  std::atomic<bool> stopped_{false};
  Status status_;
  std::vector<std::function<void()>> cancelers_;
};

// Unregisters the stop handlers of a stage set when it goes out of scope;
// declared after the queues the handlers cancel, so it runs before they die.
class StopHandlerScope {
 public:
  explicit StopHandlerScope(RunControl* control) : control_(control) {}
  ~StopHandlerScope() { control_->ClearStopHandlers(); }
  StopHandlerScope(const StopHandlerScope&) = delete;
  StopHandlerScope& operator=(const StopHandlerScope&) = delete;

 private:
  RunControl* control_;
};

// Which endpoints were opened (and so must be closed).
struct Opened {
  bool source = false;
  bool sink = false;
  bool publisher = false;
  bool subscriber = false;
};

// Counters the stages update and the supervisor reads for progress.
struct Counters {
  std::atomic<int64_t> rows{0};
  std::atomic<int64_t> parts{0};
  std::atomic<int64_t> bytes{0};
  std::atomic<int64_t> duplicates{0};
  std::atomic<int64_t> duplicate_rows{0};
  std::atomic<int64_t> retries{0};
  std::atomic<int64_t> first_part_us{-1};
  Clock::time_point start = Clock::now();

  void PartDone(int64_t part_rows, int64_t part_bytes) {
    rows.fetch_add(part_rows, std::memory_order_relaxed);
    parts.fetch_add(1, std::memory_order_relaxed);
    bytes.fetch_add(part_bytes, std::memory_order_relaxed);
    MarkFirstPart();
  }
  // A part the sink applied, or skipped as already applied (a duplicate).
  void Settled(ApplyOutcome outcome, int64_t part_rows, int64_t part_bytes, std::string_view who,
               std::string_view name) {
    if (outcome == ApplyOutcome::kAlreadyApplied) {
      duplicates.fetch_add(1);
      duplicate_rows.fetch_add(part_rows);
      SLUICE_LOG(kDebug) << who << ": " << name << " already applied (skipped duplicate)";
    } else {
      PartDone(part_rows, part_bytes);
      SLUICE_LOG(kDebug) << who << ": applied " << name << " (" << part_rows << " rows)";
    }
  }
  void MarkFirstPart() {
    int64_t expected = -1;
    const int64_t us =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
    first_part_us.compare_exchange_strong(expected, us);
  }
  ProgressSnapshot Snapshot(std::optional<int64_t> total_rows) const {
    ProgressSnapshot s;
    s.rows = rows.load(std::memory_order_relaxed);
    s.parts = parts.load(std::memory_order_relaxed);
    s.bytes = bytes.load(std::memory_order_relaxed);
    s.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    s.total_rows = total_rows;
    return s;
  }
};

// Failures of single parts under --on-error skip-part.
class SkipLog {
 public:
  void Add(std::string name, std::string reject_copy) {
    std::lock_guard<std::mutex> lock(mu_);
    skipped_.push_back(std::move(name));
    if (!reject_copy.empty()) rejected_.push_back(std::move(reject_copy));
  }
  void CopyTo(RunStats* stats) const {
    std::lock_guard<std::mutex> lock(mu_);
    stats->skipped = skipped_;
    stats->rejected_files = rejected_;
    stats->skipped_parts = static_cast<int64_t>(skipped_.size());
  }
  int64_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int64_t>(skipped_.size());
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> skipped_, rejected_;
};

// Runs stage threads and supervises them from the calling thread: progress
// callbacks, external stop requests, and the final join.
class ThreadGroup {
 public:
  explicit ThreadGroup(RunControl* control) : control_(control) {}
  ~ThreadGroup() { JoinAll(); }

  void Spawn(std::function<void()> body) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++running_;
    }
    threads_.emplace_back([this, body = std::move(body)] {
      body();
      std::lock_guard<std::mutex> lock(mu_);
      --running_;
      done_.notify_all();
    });
  }

  // Blocks until every thread finished, reporting progress meanwhile.
  void Supervise(const RunOptions& options, const Counters& counters,
                 std::optional<int64_t> total_rows) {
    const auto interval = std::chrono::milliseconds(std::max<int64_t>(10, options.progress_interval_ms));
    std::unique_lock<std::mutex> lock(mu_);
    while (running_ > 0) {
      done_.wait_for(lock, interval, [&] { return running_ == 0; });
      lock.unlock();
      control_->PollExternal();
      if (options.on_progress) options.on_progress(counters.Snapshot(total_rows));
      lock.lock();
    }
    lock.unlock();
    JoinAll();
  }

 private:
  void JoinAll() {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
  }

  RunControl* control_;
  std::mutex mu_;
  std::condition_variable done_;
  int running_ = 0;
  std::vector<std::thread> threads_;
};

int WorkerCount(const RunOptions& options) {
  if (options.workers > 0) return options.workers;
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// Sleeps up to `ms`, waking early when the run stops.
void SleepUnlessStopped(const RunControl& control, int64_t ms) {
  const auto until = Clock::now() + std::chrono::milliseconds(ms);
  while (!control.stopped() && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(ms, 20)));
  }
}

// Calls `fn` until it succeeds, fails for good, or the retries for
// kRetryable failures are used up.
template <typename Fn>
auto WithRetries(const RunOptions& options, const RunControl& control, Counters* counters,
                 std::string_view what, Fn&& fn) -> decltype(fn()) {
  int64_t wait_ms = options.retry_backoff_ms;
  for (int attempt = 1;; ++attempt) {
    auto result = fn();
    const Status st = internal::ToStatus(result);
    if (st.code() != StatusCode::kRetryable || attempt > options.max_retries || control.stopped()) {
      return result;
    }
    counters->retries.fetch_add(1, std::memory_order_relaxed);
    SLUICE_LOG(kWarn) << what << ": transient failure, retry " << attempt << "/"
                      << options.max_retries << " in " << wait_ms << "ms: " << st.message();
    SleepUnlessStopped(control, wait_ms);
    wait_ms *= 4;
  }
}

// A file name safe in any directory: keeps [A-Za-z0-9._-], maps the rest to '_'.
std::string SafeFileName(std::string_view name) {
  std::string out;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    out.push_back(ok ? c : '_');
  }
  if (out.empty() || out == "." || out == "..") out = "part";
  return out;
}

std::string PartNumberName(std::string_view stream_id, int64_t part_number) {
  char num[32];
  std::snprintf(num, sizeof(num), "%06lld", static_cast<long long>(part_number));
  return SafeFileName(stream_id) + "_part_" + num + ".part";
}

// Copies a skipped part into the reject directory; returns the path written
// (empty when no reject directory is configured).
Result<std::string> WriteReject(const RunOptions& options, std::string_view file_name,
                                std::string_view bytes) {
  if (options.reject_dir.empty()) return std::string();
  std::error_code ec;
  std::filesystem::create_directories(options.reject_dir, ec);
  if (ec) {
    return Status::IOError("cannot create reject directory '" + options.reject_dir +
                           "': " + ec.message());
  }
  std::string path = (std::filesystem::path(options.reject_dir) / SafeFileName(file_name)).string();
  SLUICE_RETURN_NOT_OK_CTX(WriteFileAtomic(path, bytes), "writing rejected part");
  return path;
}

std::string Basename(std::string_view name) {
  const size_t slash = name.find_last_of('/');
  return std::string(slash == std::string_view::npos ? name : name.substr(slash + 1));
}

void FinishStats(const Counters& counters, const RunControl& control, const SkipLog& skips,
                 Status* st, RunStats* stats) {
  stats->rows = counters.rows.load();
  stats->parts = counters.parts.load();
  stats->bytes = counters.bytes.load();
  stats->duplicates = counters.duplicates.load();
  stats->duplicate_rows = counters.duplicate_rows.load();
  stats->retries = counters.retries.load();
  stats->duration_s = std::chrono::duration<double>(Clock::now() - counters.start).count();
  const int64_t first = counters.first_part_us.load();
  stats->first_part_ms = first < 0 ? -1.0 : static_cast<double>(first) / 1000.0;
  skips.CopyTo(stats);
  stats->errors = stats->skipped_parts;
  if (st->ok()) *st = control.status();
  if (!st->ok()) {
    stats->error = st->ToString();
    if (st->code() == StatusCode::kCancelled) {
      stats->cancelled = true;
    } else {
      ++stats->errors;
    }
  }
  stats->peak_rss_bytes = PeakRssBytes();
}

// Closes an endpoint after a run; a failure there only matters when the run
// itself succeeded.
template <typename T>
void CloseQuietly(bool opened, T* endpoint, std::string_view what, Status* run_status) {
  if (!opened) return;
  Status st = endpoint->Close();
  if (st.ok()) return;
  if (run_status->ok()) {
    *run_status = std::move(st).WithContext("closing " + std::string(what));
  } else {
    SLUICE_LOG(kDebug) << "closing " << what << " after an error: " << st;
  }
}

// ---------------------------------------------------------------------------
// Cutting a batch stream into parts (export) or chunks (copy).

// A group of consecutive rows that becomes one part.
struct Chunk {
  int64_t number = 0;  // 1-based, in stream order
  std::vector<RecordBatch> batches;
  int64_t rows = 0;
  int64_t bytes = 0;  // in-memory column bytes
  std::string position_start, position_end;
};

// Cuts batches into chunks of at most `target` bytes (a single row larger
// than that makes a chunk of its own). The cut depends only on the batches,
// so re-reading the same source yields the same chunks and numbers.
class Chunker {
 public:
  explicit Chunker(int64_t target) : target_(std::max<int64_t>(1, target)) {}

  void Add(RecordBatch batch, const std::string& position_start, const std::string& position_end,
           std::vector<Chunk>* out) {
    const int64_t rows = batch.num_rows();
    if (rows == 0) return;
    const int64_t bytes = batch.ByteSize();
    if (bytes <= target_) {
      Append(std::move(batch), bytes, position_start, position_end, out);
      return;
    }
    // Larger than a chunk: cut into about equal slices (Slice copies, so
    // the big batch is released as soon as this returns).
    const int64_t pieces = std::min(rows, (bytes + target_ - 1) / target_);
    const int64_t per = (rows + pieces - 1) / pieces;
    for (int64_t off = 0; off < rows; off += per) {
      RecordBatch slice = batch.Slice(off, std::min(per, rows - off));
      const int64_t slice_bytes = slice.ByteSize();
      Append(std::move(slice), slice_bytes, position_start, position_end, out);
    }
  }

  void Finish(std::vector<Chunk>* out) { Emit(out); }

 private:
  void Append(RecordBatch batch, int64_t bytes, const std::string& position_start,
              const std::string& position_end, std::vector<Chunk>* out) {
    if (pending_.bytes > 0 && pending_.bytes + bytes > target_) Emit(out);
    if (pending_.batches.empty()) pending_.position_start = position_start;
    pending_.position_end = position_end;
    pending_.rows += batch.num_rows();
    pending_.bytes += bytes;
    pending_.batches.push_back(std::move(batch));
    if (pending_.bytes >= target_) Emit(out);
  }

  void Emit(std::vector<Chunk>* out) {
    if (pending_.batches.empty()) return;
    pending_.number = ++count_;
    out->push_back(std::move(pending_));
    pending_ = Chunk{};
  }

  int64_t target_;
  int64_t count_ = 0;
  Chunk pending_;
};

// ---------------------------------------------------------------------------
// Export: reader (cuts parts) → E encoders → writer (+ end part).

Status ExportStages(Source* source, PartPublisher* publisher, const RunOptions& options,
                    RunControl* control, Counters* counters, SkipLog* skips, Opened* opened,
                    int* workers_used) {
  SourceOptions source_options;
  source_options.batch_rows = options.batch_rows;
  source_options.first_batch_rows = options.first_part_rows;
  SLUICE_RETURN_NOT_OK_CTX(source->Open(source_options), "opening source");
  opened->source = true;
  SLUICE_RETURN_NOT_OK_CTX(publisher->Open(), "opening destination");
  opened->publisher = true;
  std::shared_ptr<const Schema> schema = source->schema();
  if (schema == nullptr) return Status::Internal("source has no schema after Open");
  // The fingerprint names this run's snapshot (one export = one stream);
  // part keys rest on the identity and each part's rows instead, so that a
  // re-export of unchanged rows gets the same keys after the snapshot moved.
  const std::string fingerprint = source->Fingerprint();
  const std::string identity = source->Identity();
  const std::string stream_id = StreamIdFor(fingerprint);
  // One stream per export: splits are read in order so that part numbers —
  // and hence idempotency keys — mean the same rows on every re-export.
  SLUICE_ASSIGN_OR_RETURN(std::vector<Split> splits, source->Plan(1));
  const PartEncoding encoding = publisher->encoding();
  const bool tdtp = encoding.format == PartEncoding::Format::kTdtp;
  // TDTP packets are numbered by one sequential packet writer.
  const int encoders = tdtp ? 1 : WorkerCount(options);
  *workers_used = encoders;
  SLUICE_LOG(kInfo) << "export: stream " << stream_id << ", " << schema->num_fields()
                    << " columns, " << splits.size() << " split(s), " << encoders
                    << " encoder(s), parts of up to " << options.part_bytes << " bytes";

  part::EncodeOptions encode_options;
  encode_options.compression = options.compression;
  encode_options.compression_level = options.compression_level;

  const int depth = std::max(1, options.queue_depth);
  BoundedQueue<Chunk> chunks(depth, options.part_bytes * depth);
  BoundedQueue<part::EncodedPart> parts(depth + encoders, options.part_bytes * (depth + encoders));
  control->OnStop([&] {
    chunks.Cancel();
    parts.Cancel();
  });
  StopHandlerScope stop_scope(control);
  std::atomic<int> encoders_left{encoders};

  ThreadGroup threads(control);
  threads.Spawn([&] {  // reader: cuts the table into parts
    Chunker chunker(options.part_bytes);
    bool first_cut = false;
    std::vector<Chunk> ready;
    auto forward = [&] {
      for (auto& c : ready) {
        const int64_t weight = c.bytes;
        if (!chunks.Push(std::move(c), weight)) return false;
      }
      ready.clear();
      return true;
    };
    for (const Split& split : splits) {
      if (control->stopped()) return;
      const std::string where = "reading source split " + std::to_string(split.index) +
                                (split.description.empty() ? "" : " (" + split.description + ")");
      auto reader = source->OpenSplit(split);
      if (!reader.ok()) return control->Fail(reader.status().WithContext(where));
      std::string position = (*reader)->position();
      while (!control->stopped()) {
        auto next = (*reader)->Next();
        if (!next.ok()) return control->Fail(next.status().WithContext(where));
        if (!next->has_value()) break;
        std::string end = (*reader)->position();
        chunker.Add(std::move(**next), position, end, &ready);
        // The first part leaves with the first batch instead of waiting for
        // a full part (first-part latency); later parts are full size.
        if (options.first_part_rows > 0 && !first_cut) {
          chunker.Finish(&ready);
          first_cut = true;
        }
        if (!forward()) return;
        position = std::move(end);
      }
    }
    if (control->stopped()) return;
    chunker.Finish(&ready);
    if (forward()) chunks.Close();
  });
  if (tdtp) {
    threads.Spawn([&] {  // TDTP encoder: the packet writer cuts and numbers the packets
      tdtp::WriteOptions wo;
      wo.table_name = encoding.table_name;
      wo.message_id = stream_id;  // MessageID "<stream_id>-P<n>": stable across re-exports
      wo.max_part_bytes = options.part_bytes;
      wo.compress = options.compression != part::Compression::kNone;
      const std::string tdtp_fingerprint = "tdtp:" + stream_id;
      auto writer = tdtp::PacketWriter::MakeStreaming(
          schema, wo, [&](tdtp::EncodedPacket packet) -> Status {
            part::EncodedPart p;
            p.header.stream_id = stream_id;
            p.header.part_number = packet.header.part_number;
            p.header.rows = packet.header.records_in_part;
            p.header.source_fingerprint = tdtp_fingerprint;
            p.header.idempotency_key =
                part::IdempotencyKey(tdtp_fingerprint, packet.header.part_number);
            p.bytes = std::move(packet.xml);
            const auto weight = static_cast<int64_t>(p.bytes.size());
            if (!parts.Push(std::move(p), weight)) return Status::Cancelled("export stopped");
            return Status::OK();
          });
      if (!writer.ok()) return control->Fail(writer.status().WithContext("TDTP encoder"));
      while (auto chunk = chunks.Pop()) {
        if (control->stopped()) return;
        for (const auto& batch : chunk->batches) {
          Status st = (*writer)->Append(batch);
          if (!st.ok()) return control->Fail(std::move(st).WithContext("encoding TDTP packets"));
        }
      }
      if (control->stopped()) return;
      auto last = (*writer)->Finish();
      if (!last.ok()) return control->Fail(last.status().WithContext("encoding TDTP packets"));
      parts.Close();
    });
  }
  for (int e = 0; e < encoders && !tdtp; ++e) {
    threads.Spawn([&] {  // encoders: parts are independent, so they encode in parallel
      while (auto chunk = chunks.Pop()) {
        if (control->stopped()) return;
        part::PartHeader header;
        header.stream_id = stream_id;
        header.part_number = chunk->number;
        header.source_fingerprint = fingerprint;
        header.position_start = chunk->position_start;
        header.position_end = chunk->position_end;
        // Same rows at the same position → same key; changed (or shifted)
        // rows → a new key, applied by the importer.
        auto key = part::ContentIdempotencyKey(identity, *schema, chunk->batches, chunk->number);
        if (!key.ok()) {
          return control->Fail(
              key.status().WithContext("keying part " + std::to_string(chunk->number)));
        }
        header.idempotency_key = std::move(*key);
        auto bytes = part::EncodePart(&header, *schema, chunk->batches, encode_options);
        if (!bytes.ok()) {
          return control->Fail(
              bytes.status().WithContext("encoding part " + std::to_string(chunk->number)));
        }
        const auto weight = static_cast<int64_t>(bytes->size());
        if (!parts.Push(part::EncodedPart{std::move(header), std::move(*bytes)}, weight)) return;
      }
      if (encoders_left.fetch_sub(1) == 1 && !control->stopped()) parts.Close();
    });
  }
  threads.Spawn([&] {  // writer: publishes data parts as they come, the end part last
    std::vector<part::PartChecksum> sums;
    int64_t total_rows = 0;
    auto publish = [&](const part::EncodedPart& p) -> bool {
      const part::PartHeader& h = p.header;
      PartMeta meta;
      meta.stream_id = h.stream_id;
      meta.part_number = h.part_number;
      meta.total_parts = h.total_parts;
      meta.rows = h.rows;
      meta.idempotency_key = h.idempotency_key;
      meta.end_of_stream = h.kind == part::PartKind::kEnd;
      const std::string name = PartNumberName(h.stream_id, h.part_number);
      Status st = WithRetries(options, *control, counters, "publishing " + name,
                              [&] { return publisher->Publish(meta, p.bytes); });
      if (!st.ok()) {
        st = std::move(st).WithContext("publishing part " + std::to_string(h.part_number) + " (" +
                                       name + ")");
        if (options.on_error != ErrorPolicy::kSkipPart || meta.end_of_stream ||
            st.code() == StatusCode::kCancelled) {
          control->Fail(std::move(st));
          return false;
        }
        SLUICE_LOG(kWarn) << "skipping part: " << st.message();
        auto copy = WriteReject(options, name, p.bytes);
        if (!copy.ok()) {
          control->Fail(copy.status());
          return false;
        }
        skips->Add(name, *copy);
        return true;
      }
      if (meta.end_of_stream) {
        counters->bytes.fetch_add(static_cast<int64_t>(p.bytes.size()));
      } else {
        counters->PartDone(h.rows, static_cast<int64_t>(p.bytes.size()));
        SLUICE_LOG(kDebug) << "published " << name << ": " << h.rows << " rows, "
                           << p.bytes.size() << " bytes";
      }
      return true;
    };
    while (auto p = parts.Pop()) {
      if (control->stopped()) return;
      // The end part accounts for every data part, published or skipped, so
      // an importer can tell a complete stream from one with gaps.
      sums.push_back({p->header.part_number, p->header.checksum});
      total_rows += p->header.rows;
      if (!publish(*p)) return;
    }
    // A stopped run gets no end part: the stream stays visibly incomplete.
    if (control->stopped()) return;
    if (tdtp) {
      // TDTP has no end part; the publisher is told the total instead (no
      // bytes), so it can finalize the packets it streamed (<TotalParts>,
      // names _part_N_of_T). Not when a packet was skipped: the set has a gap.
      if (sums.empty() || skips->count() > 0) return;
      PartMeta end;
      end.stream_id = stream_id;
      end.total_parts = static_cast<int64_t>(sums.size());
      end.part_number = end.total_parts + 1;
      end.rows = 0;
      end.end_of_stream = true;
      Status st = WithRetries(options, *control, counters, "finalizing the TDTP packets",
                              [&] { return publisher->Publish(end, {}); });
      if (!st.ok()) control->Fail(std::move(st).WithContext("finalizing the TDTP packets"));
      return;
    }
    part::PartHeader end;
    end.kind = part::PartKind::kEnd;
    end.stream_id = stream_id;
    end.source_fingerprint = fingerprint;
    end.total_parts = static_cast<int64_t>(sums.size());
    end.part_number = end.total_parts + 1;
    end.total_rows = total_rows;
    end.stream_checksum = part::StreamChecksum(std::move(sums));
    auto bytes = part::EncodePart(&end, *schema, {}, encode_options);
    if (!bytes.ok()) return control->Fail(bytes.status().WithContext("encoding the end part"));
    publish(part::EncodedPart{std::move(end), std::move(*bytes)});
  });
  threads.Supervise(options, *counters, source->EstimatedRows());
  SLUICE_RETURN_NOT_OK(control->status());
  SLUICE_RETURN_NOT_OK_CTX(publisher->Flush(), "flushing destination");
  return Status::OK();
}

// ---------------------------------------------------------------------------
// Import: N workers receive, decode, apply, ack.

// Which parts of which streams were handled, to know when every stream is
// complete (ends an import from an unbounded subscription) and to report
// streams with missing or skipped parts.
class StreamTracker {
 public:
  void Data(const std::string& stream, int64_t part_number) {
    std::lock_guard<std::mutex> lock(mu_);
    streams_[stream].applied.insert(part_number);
  }
  void Skipped(const std::string& stream, int64_t part_number) {
    std::lock_guard<std::mutex> lock(mu_);
    streams_[stream].skipped.insert(part_number);
  }
  // The stream has `total_parts` data parts (from its end part).
  void End(const std::string& stream, int64_t total_parts) {
    std::lock_guard<std::mutex> lock(mu_);
    streams_[stream].total_parts = total_parts;
  }
  // At least one stream, and each has its end part and all its data parts
  // handled (applied, already present, or skipped).
  bool AllComplete() const {
    std::lock_guard<std::mutex> lock(mu_);
    if (streams_.empty()) return false;
    for (const auto& [id, s] : streams_) {
      if (s.total_parts < 0 || s.handled() < s.total_parts) return false;
    }
    return true;
  }
  // Counts streams the destination does not hold completely. Parts that
  // never arrived although the stream's end part announced them are an
  // error when `missing_is_error` (the fail policy); otherwise warnings.
  Status Check(bool missing_is_error, int64_t* incomplete) const {
    std::lock_guard<std::mutex> lock(mu_);
    Status first;
    for (const auto& [id, s] : streams_) {
      if (s.total_parts < 0) {
        ++*incomplete;
        SLUICE_LOG(kWarn) << "stream " << id << ": no end part seen (written by copy, or an "
                          << "export still running or stopped early); imported "
                          << s.applied.size() << " data part(s)";
        continue;
      }
      std::vector<int64_t> missing;
      for (int64_t n = 1; n <= s.total_parts && missing.size() < 10; ++n) {
        if (!s.applied.contains(n) && !s.skipped.contains(n)) missing.push_back(n);
      }
      if (missing.empty() && s.skipped.empty()) continue;
      ++*incomplete;
      if (missing.empty()) {
        SLUICE_LOG(kWarn) << "stream " << id << ": " << s.skipped.size() << " of "
                          << s.total_parts << " data parts were skipped";
        continue;
      }
      std::string list;
      for (int64_t n : missing) list += (list.empty() ? "" : ", ") + std::to_string(n);
      std::string msg = "stream " + id + ": the end part declares " +
                        std::to_string(s.total_parts) + " data parts but " +
                        std::to_string(s.handled()) + " were received (missing: " + list +
                        (missing.size() == 10 ? ", ..." : "") + ")";
      if (missing_is_error && first.ok()) {
        first = Status::InvalidData(msg);
      } else {
        SLUICE_LOG(kWarn) << msg;
      }
    }
    return first;
  }

 private:
  struct StreamState {
    std::set<int64_t> applied;  // applied now or found in the ledger
    std::set<int64_t> skipped;  // failed under skip-part
    int64_t total_parts = -1;   // unknown until the end part
    int64_t handled() const {
      int64_t n = static_cast<int64_t>(applied.size());
      for (int64_t p : skipped) n += applied.contains(p) ? 0 : 1;
      return n;
    }
  };
  mutable std::mutex mu_;
  std::map<std::string, StreamState> streams_;
};

struct Pending {
  ReceivedPart received;
  part::DecodedPart decoded;
};

// The run log row and the state store of one run (RunOptions::state).
class StateSession {
 public:
  StateSession(const StateOptions* options, const char* command) : options_(options) {
    if (options_ != nullptr) {
      run_ = options_->run;
      run_.command = command;
    }
  }

  // After Sink::Open: opens the sink's own store (or the fallback) and
  // appends the run's "running" row to the run log.
  Status Begin(Sink* sink) {
    if (options_ == nullptr) return Status::OK();
    const bool needed = options_->run_log || options_->incremental.has_value();
    if (!needed) return Status::OK();
    SLUICE_ASSIGN_OR_RETURN(store_, sink->OpenStateStore(options_->tables));
    in_sink_ = store_ != nullptr;
    if (!store_ && options_->fallback_store) {
      SLUICE_ASSIGN_OR_RETURN(store_, options_->fallback_store());
    }
    if (!store_) {
      if (options_->incremental) {
        return Status::InvalidArgument(
            "an incremental run needs somewhere to keep its watermark: the destination is not a "
            "database, so give a local state file (--state FILE)");
      }
      return Status::OK();
    }
    if (options_->run_log) {
      run_.run_id = NewRunId();
      run_.started_at = NowUtcText();
      run_.status = "running";
      SLUICE_RETURN_NOT_OK_CTX(store_->StartRun(run_), "writing the run log");
      started_ = true;
    }
    return Status::OK();
  }

  StateStore* store() const { return store_.get(); }
  // True when the store is the sink's database: state then commits with the
  // run's last part.
  bool in_sink() const { return in_sink_; }
  const std::string& run_id() const { return run_.run_id; }

  // Updates the run's row with the outcome (failures are logged: the data
  // is committed or rolled back already) and closes the store.
  void Finish(const Status& st, const RunStats& stats) {
    if (started_) {
      run_.finished_at = NowUtcText();
      run_.rows_read = stats.rows_read >= 0 ? stats.rows_read : stats.rows + stats.duplicate_rows;
      run_.rows_written = stats.rows;
      run_.parts = stats.parts;
      run_.bytes = stats.bytes;
      run_.status = st.ok() ? "succeeded" : st.code() == StatusCode::kCancelled ? "cancelled" : "failed";
      run_.error = st.ok() ? "" : st.ToString();
      run_.watermark_before = stats.watermark_before;
      run_.watermark_after = stats.watermark_after;
      Status logged = store_->FinishRun(run_);
      if (!logged.ok()) SLUICE_LOG(kWarn) << "could not update the run log: " << logged.ToString();
    }
    if (store_) {
      Status closed = store_->Close();
      if (!closed.ok()) SLUICE_LOG(kWarn) << "closing the state store: " << closed.ToString();
      store_.reset();
    }
  }

 private:
  const StateOptions* options_;
  RunRecord run_;
  std::unique_ptr<StateStore> store_;
  bool in_sink_ = false;
  bool started_ = false;
};

class Importer {
 public:
  Importer(PartSubscriber* subscriber, Sink* sink, const RunOptions& options, RunControl* control,
           Counters* counters, SkipLog* skips, StateSession* session)
      : session_(session),
        subscriber_(subscriber),
        sink_(sink),
        options_(options),
        control_(control),
        counters_(counters),
        skips_(skips) {}

  Status Run(int* workers_used, int64_t* incomplete_streams, Opened* opened) {
    subscriber_->SetWorkers(WorkerCount(options_));
    SLUICE_RETURN_NOT_OK_CTX(subscriber_->Open(), "opening part origin");
    opened->subscriber = true;
    // The sink needs the schema before any part is applied: it comes from
    // the first part that decodes.
    std::optional<Pending> first;
    while (!first && !control_->stopped()) {
      SLUICE_ASSIGN_OR_RETURN(auto got, ReceiveOne());
      if (!got.has_value()) break;  // end of subscription
      first = std::move(got);
      if (!first->received.bytes) first.reset();  // a skipped undecodable part
    }
    SLUICE_RETURN_NOT_OK(control_->status());
    if (!first) {
      if (control_->stopped()) return Status::Cancelled("stopped before the first part");
      if (skips_->count() > 0) return Status::OK();  // every part was skipped
      if (!subscriber_->empty_origin_is_error()) {
        SLUICE_LOG(kInfo) << "import: nothing new in " << subscriber_->kind();
        return Status::OK();
      }
      return Status::NotFound("no parts to import (the origin is empty)");
    }
    schema_ = first->decoded.schema;
    Status sink_opened = sink_->Open(schema_);
    if (!sink_opened.ok()) {
      (void)subscriber_->Reject(first->received, /*requeue=*/true);
      return std::move(sink_opened).WithContext("opening destination");
    }
    opened->sink = true;
    Status began = session_->Begin(sink_);
    if (!began.ok()) {
      (void)subscriber_->Reject(first->received, /*requeue=*/true);
      return began;
    }
    first_ = std::move(first);

    const int workers = std::max(1, std::min(WorkerCount(options_), sink_->MaxWriters()));
    *workers_used = workers;
    SLUICE_LOG(kInfo) << "import: " << workers << " worker(s), " << schema_->num_fields()
                      << " columns";
    ThreadGroup threads(control_);
    for (int w = 0; w < workers; ++w) {
      threads.Spawn([this, w] { Worker(w); });
    }
    threads.Supervise(options_, *counters_, std::nullopt);
    if (Status st = control_->status(); !st.ok()) {
      // A followed subscription ends with a stop request: every part applied
      // is whole, so the destination is committed; the run still reports
      // the stop (exit status 128 + signal).
      const bool stop_requested =
          options_.stop_requested != nullptr && options_.stop_requested->load();
      if (st.code() == StatusCode::kCancelled && stop_requested && subscriber_->follows()) {
        SLUICE_RETURN_NOT_OK_CTX(sink_->Commit(), "committing destination");
      }
      return st;
    }
    if (subscriber_->delivers_whole_streams()) {
      SLUICE_RETURN_NOT_OK(
          tracker_.Check(options_.on_error == ErrorPolicy::kFail, incomplete_streams));
    }
    SLUICE_RETURN_NOT_OK_CTX(sink_->Commit(), "committing destination");
    return Status::OK();
  }

 private:
  // Receives and decodes the next part. std::nullopt: the subscription
  // ended (or the run stopped). A Pending without bytes: the part failed to
  // decode and was skipped under skip-part.
  Result<std::optional<Pending>> ReceiveOne() {
    while (!control_->stopped() && !all_done_.load()) {
      auto delivery = subscriber_->Receive(options_.receive_wait_ms);
      if (!delivery.ok()) return delivery.status().WithContext("receiving parts");
      switch (delivery->state) {
        case Delivery::State::kEnd: return std::optional<Pending>();
        case Delivery::State::kIdle:
          if (subscriber_->delivers_whole_streams() && tracker_.AllComplete()) {
            all_done_.store(true);
            return std::optional<Pending>();
          }
          continue;
        case Delivery::State::kPart: break;
      }
      Pending p;
      p.received = std::move(delivery->part);
      if (p.received.delivery_attempt > 1) {
        SLUICE_LOG(kDebug) << "redelivered (attempt " << p.received.delivery_attempt
                           << "): " << p.received.name;
      }
      part::DecodeOptions dopts;
      dopts.max_uncompressed_bytes = options_.max_part_bytes;
      dopts.expected_schema = schema_;
      auto decoded = p.received.decode_error.ok()
                         ? DecodeAnyPart(p.received.bytes, p.received.name, dopts)
                         : Result<part::DecodedPart>(p.received.decode_error);
      if (!decoded.ok()) {
        SLUICE_RETURN_NOT_OK(HandleFailure(p.received, nullptr,
                                           decoded.status().WithContext("part " + p.received.name)));
        return std::optional<Pending>(Pending{});
      }
      p.decoded = std::move(*decoded);
      return std::optional<Pending>(std::move(p));
    }
    return std::optional<Pending>();
  }

  // A part that cannot be applied: stop (fail) or skip it (skip-part).
  Status HandleFailure(const ReceivedPart& received, const part::PartHeader* header, Status st) {
    if (options_.on_error != ErrorPolicy::kSkipPart || st.code() == StatusCode::kCancelled) {
      (void)subscriber_->Reject(received, /*requeue=*/true);
      control_->Fail(st);
      return st;
    }
    SLUICE_LOG(kWarn) << "skipping " << st.message();
    std::string copy;
    if (received.bytes) {
      auto written = WriteReject(options_, Basename(received.name), received.bytes->view());
      if (!written.ok()) {
        (void)subscriber_->Reject(received, /*requeue=*/true);
        control_->Fail(written.status());
        return written.status();
      }
      copy = std::move(*written);
    }
    skips_->Add(received.name, copy);
    if (header != nullptr) tracker_.Skipped(header->stream_id, header->part_number);
    Status rejected = subscriber_->Reject(received, /*requeue=*/false);
    if (!rejected.ok()) SLUICE_LOG(kWarn) << "rejecting " << received.name << ": " << rejected;
    return Status::OK();
  }

  std::optional<Pending> TakeFirst() {
    std::lock_guard<std::mutex> lock(first_mu_);
    std::optional<Pending> out = std::move(first_);
    first_.reset();
    return out;
  }

  void Worker(int index) {
    const std::string who = "import worker " + std::to_string(index + 1);
    auto writer = sink_->NewWriter();
    if (!writer.ok()) {
      if (auto first = TakeFirst()) (void)subscriber_->Reject(first->received, true);
      return control_->Fail(writer.status().WithContext(who + ": creating a destination writer"));
    }
    while (!control_->stopped() && !all_done_.load()) {
      std::optional<Pending> item = TakeFirst();
      if (!item) {
        auto got = ReceiveOne();
        if (!got.ok()) return control_->Fail(got.status().WithContext(who));
        if (!got->has_value()) return;
        item = std::move(*got);
        if (!item->received.bytes) continue;  // skipped
      }
      if (control_->stopped()) {
        (void)subscriber_->Reject(item->received, /*requeue=*/true);
        return;
      }
      Apply(who, writer->get(), &*item);
    }
  }

  void Apply(const std::string& who, SinkWriter* writer, Pending* item) {
    const part::PartHeader& h = item->decoded.header;
    const ReceivedPart& rp = item->received;
    if (h.kind == part::PartKind::kEnd) {
      tracker_.End(h.stream_id, h.total_parts);
      Ack(rp);
      return;
    }
    // Parts that know their stream's size (TDTP file exports) say so too.
    if (h.total_parts > 0) tracker_.End(h.stream_id, h.total_parts);
    if (h.idempotency_key.empty()) {
      (void)HandleFailure(rp, &h, Status::InvalidData(who + ": part " + rp.name +
                                                      " has no idempotency key"));
      return;
    }
    PartInfo info;
    info.part_id = h.idempotency_key;
    info.stream_id = h.stream_id;
    info.part_number = h.part_number;
    info.rows = h.rows;
    auto outcome = WithRetries(options_, *control_, counters_, "applying " + rp.name,
                               [&] { return writer->ApplyPart(info, item->decoded.batches); });
    if (!outcome.ok()) {
      (void)HandleFailure(rp, &h, outcome.status().WithContext(who + ": applying part " + rp.name));
      return;
    }
    counters_->Settled(*outcome, h.rows, static_cast<int64_t>(rp.bytes->size()), who, rp.name);
    tracker_.Data(h.stream_id, h.part_number);
    Ack(rp);
  }

  void Ack(const ReceivedPart& rp) {
    // The part is committed; a failed ack only means a harmless redelivery.
    Status st = subscriber_->Ack(rp);
    if (!st.ok()) SLUICE_LOG(kWarn) << "acknowledging " << rp.name << ": " << st;
  }

  StateSession* session_;
  PartSubscriber* subscriber_;
  Sink* sink_;
  const RunOptions& options_;
  RunControl* control_;
  Counters* counters_;
  SkipLog* skips_;
  std::shared_ptr<const Schema> schema_;
  std::mutex first_mu_;
  std::optional<Pending> first_;
  std::atomic<bool> all_done_{false};
  StreamTracker tracker_;
};

// ---------------------------------------------------------------------------
// Copy: R split readers cut batches into chunks → N workers apply them.

struct CopyChunk {
  PartInfo info;                   // part_id: set by the copy worker that applies it
  size_t split = 0;                // index into the copy's splits
  std::string source_fingerprint;  // of the split, for the reject copy's header
  std::string key_base;            // the split's identity, for the chunk's key
  Chunk chunk;
};

// The queue of chunks as a PartFeed: Next pops (waiting for the readers),
// keys the chunk and releases the one handed out before.
class GroupedCopyFeed final : public PartFeed {
 public:
  struct Taken {
    std::string name;
    int64_t rows = 0, bytes = 0;
    size_t split = 0;
  };
  GroupedCopyFeed(BoundedQueue<CopyChunk>* chunks, RunControl* control,
                  std::function<Status(CopyChunk*)> key)
      : chunks_(chunks), control_(control), key_(std::move(key)) {}

  void StartGroup() {
    group_.clear();
    current_.reset();
  }
  bool ended() const { return ended_; }
  const std::vector<Taken>& group() const { return group_; }
  // "chunk s/1" or "chunks s/1, s/3 .. s/9 (N rows)": what the group holds.
  std::string GroupName() const {
    int64_t rows = 0;
    for (const Taken& t : group_) rows += t.rows;
    if (group_.empty()) return "no chunks";
    std::string out = group_.size() == 1 ? "chunk " + group_[0].name
                                         : std::to_string(group_.size()) + " chunks " +
                                               group_.front().name + " .. " + group_.back().name;
    return out + " (" + std::to_string(rows) + " rows)";
  }

  Result<const Item*> Next(std::chrono::milliseconds wait) override {
    current_.reset();  // releases the batches handed out before
    if (ended_) return nullptr;
    bool timed_out = false;
    std::optional<CopyChunk> chunk =
        wait.count() < 0 ? chunks_->Pop() : chunks_->PopFor(wait, &timed_out);
    if (timed_out) return nullptr;  // the group ends; the feed goes on
    if (control_->stopped()) {
      ended_ = true;
      return Status::Cancelled("the run was stopped");
    }
    if (!chunk) {
      ended_ = true;
      return nullptr;
    }
    SLUICE_RETURN_NOT_OK(key_(&*chunk));
    current_.emplace();
    current_->chunk = std::move(*chunk);
    current_->item.info = current_->chunk.info;
    current_->item.batches = &current_->chunk.chunk.batches;
    current_->item.bytes = current_->chunk.chunk.bytes;
    group_.push_back(
        {PartNumberName(current_->item.info.stream_id, current_->item.info.part_number),
         current_->item.info.rows, current_->item.bytes, current_->chunk.split});
    return &current_->item;
  }

 private:
  struct Current {
    CopyChunk chunk;
    Item item;
  };
  BoundedQueue<CopyChunk>* chunks_;
  RunControl* control_;
  std::function<Status(CopyChunk*)> key_;
  std::optional<Current> current_;
  std::vector<Taken> group_;
  bool ended_ = false;
};

Status CopyStages(Source* source, Sink* sink, const RunOptions& options, RunControl* control,
                  Counters* counters, SkipLog* skips, int* workers_used, Opened* opened,
                  StateSession* session, RunStats* stats) {
  // Chunk size: --part-size, else the sink's preference, else the default.
  const int64_t part_bytes = !options.part_bytes_explicit && sink->PreferredPartBytes() > 0
                                 ? sink->PreferredPartBytes()
                                 : options.part_bytes;
  SourceOptions source_options;
  source_options.batch_rows = options.batch_rows;
  SLUICE_RETURN_NOT_OK_CTX(source->Open(source_options), "opening source");
  opened->source = true;
  std::shared_ptr<const Schema> schema = source->schema();
  if (schema == nullptr) return Status::Internal("source has no schema after Open");
  SLUICE_RETURN_NOT_OK_CTX(sink->Open(schema), "opening destination");
  opened->sink = true;
  SLUICE_RETURN_NOT_OK(session->Begin(sink));
  std::string fingerprint = source->Fingerprint();
  // Chunk ids rest on the identity and the chunk's rows (as export part
  // keys): a killed copy re-run after the snapshot moved (PostgreSQL's xmax
  // after any write in the cluster) still finds the chunks it applied.
  std::string identity = source->Identity();
  std::unique_ptr<IncrementalTracker> tracker;
  if (options.state != nullptr && options.state->incremental) {
    const IncrementalOptions& inc = *options.state->incremental;
    SLUICE_ASSIGN_OR_RETURN(std::optional<StreamState> previous,
                            session->store()->LoadState(inc.stream));
    SLUICE_ASSIGN_OR_RETURN(tracker, IncrementalTracker::Make(schema, inc, std::move(previous)));
    stats->incremental = true;
    stats->watermark_before = tracker->watermark_before();
    if (const auto& lower = tracker->lower_bound()) {
      SLUICE_ASSIGN_OR_RETURN(bool pushed, source->SetLowerBound(inc.key_column, *lower));
      SLUICE_LOG(kInfo) << "incremental stream '" << inc.stream << "': reading " << inc.key_column
                        << " >= " << *lower << " (watermark " << tracker->watermark_before()
                        << (inc.lookback.empty() ? "" : " - lookback " + inc.lookback) << ")"
                        << (pushed ? "" : "; the source cannot filter, rows are filtered here");
      // Chunk ids of different windows must differ.
      fingerprint += "#since=" + *lower;
      identity += "#since=" + *lower;
    } else {
      SLUICE_LOG(kInfo) << "incremental stream '" << inc.stream << "': first run, reading everything";
      fingerprint += "#since=start";
      identity += "#since=start";
    }
  }
  // With the state in the sink's database, the run's last chunk is held
  // back and applied after every other one, together with the new state, in
  // one transaction: the watermark never gets ahead of the data, and a run
  // killed before that transaction re-reads the same window (upserts and the
  // ledger absorb what it applied).
  const bool hold_last = tracker != nullptr && session->in_sink();
  std::mutex held_mu;
  std::optional<CopyChunk> held;

  SLUICE_ASSIGN_OR_RETURN(std::vector<Split> splits,
                          source->Plan(std::max(1, options.copy_splits)));
  if (splits.empty()) return Status::Internal("source planned no splits");

  const int workers = WorkerCount(options);
  const int writers = std::max(1, std::min(workers, sink->MaxWriters()));
  const int readers = std::max(1, std::min(workers, static_cast<int>(splits.size())));
  *workers_used = writers;
  SLUICE_LOG(kInfo) << "copy: " << splits.size() << " split(s), " << readers << " reader(s), "
                    << writers << " writer(s), chunks of up to " << part_bytes << " bytes";

  // Up to `depth` chunks wait, but no more bytes than one chunk per writer
  // (at least two): with the readers' chunks being filled and the writers'
  // being applied, that keeps every writer fed, and memory at 16 MiB
  // ClickHouse chunks is 6 chunks, not 8 (10M rows: 172 MB peak, was 208).
  const int depth = std::max(options.queue_depth, writers + 1);
  StopHandlerScope stop_scope(control);
  // A grouped write that fails transiently (SinkWriter::ApplyParts) loses
  // its chunks, which are no longer in memory: their splits are read again
  // in a further pass, where the sink's ledger skips every chunk already
  // applied (chunk ids do not change on a re-read). Not for incremental runs
  // (the tracker has seen those rows).
  std::vector<size_t> todo(splits.size());
  for (size_t i = 0; i < todo.size(); ++i) todo[i] = i;
  std::mutex lost_mu;
  std::set<size_t> lost;  // splits whose chunks a failed group took
  Status lost_because;    // the first such failure
  for (int pass = 1;; ++pass) {
    const int pass_readers = std::max(1, std::min(readers, static_cast<int>(todo.size())));
    // A queue per pass, kept alive by the stop handler that may cancel it.
    auto queue = std::make_shared<BoundedQueue<CopyChunk>>(depth, part_bytes * std::max(2, writers));
    BoundedQueue<CopyChunk>& chunks = *queue;
    control->OnStop([queue] { queue->Cancel(); });
    std::atomic<size_t> next_todo{0};
    std::atomic<int> readers_left{pass_readers};

    // Reads one split into chunks; false when the run stopped or failed.
    auto read_split = [&](size_t i) -> bool {
      const Split& split = splits[i];
      // Chunk ids derive from the split's bounds, the chunk's number in the
      // split and its rows: a re-run with the same plan and part size over the
      // same rows produces the same ids, so the sink ledger skips what a killed
      // run applied.
      const std::string split_name = "#split " + std::to_string(i + 1) + "/" +
                                     std::to_string(splits.size()) + " [" + split.start + ", " +
                                     split.end + ")";
      const std::string split_fp = fingerprint + split_name;
      const std::string split_identity = identity + split_name;
      const std::string stream_id = StreamIdFor(split_fp);
      const std::string where = "reading source split " + std::to_string(split.index) +
                                (split.description.empty() ? "" : " (" + split.description + ")");
      auto reader = source->OpenSplit(split);
      if (!reader.ok()) {
        control->Fail(reader.status().WithContext(where));
        return false;
      }
      Chunker chunker(part_bytes);
      std::vector<Chunk> ready;
      auto forward = [&] {
        for (auto& c : ready) {
          CopyChunk item;
          item.info.part_number = c.number;
          item.info.stream_id = stream_id;
          item.info.rows = c.rows;
          item.split = i;
          item.source_fingerprint = split_fp;
          item.key_base = split_identity;
          const int64_t weight = c.bytes;
          item.chunk = std::move(c);
          if (!chunks.Push(std::move(item), weight)) return false;
        }
        ready.clear();
        return true;
      };
      std::string position = (*reader)->position();
      while (!control->stopped()) {
        auto next = (*reader)->Next();
        if (!next.ok()) {
          control->Fail(next.status().WithContext(where));
          return false;
        }
        if (!next->has_value()) break;
        std::string end = (*reader)->position();
        if (tracker) {
          auto kept = tracker->Filter(**next);
          if (!kept.ok()) {
            control->Fail(kept.status().WithContext(where));
            return false;
          }
          if (kept->num_rows() == 0) {
            position = std::move(end);
            continue;
          }
          **next = std::move(*kept);
        }
        chunker.Add(std::move(**next), position, end, &ready);
        if (!forward()) return false;
        position = std::move(end);
      }
      if (control->stopped()) return false;
      chunker.Finish(&ready);
      return forward();
    };

    ThreadGroup threads(control);
    for (int r = 0; r < pass_readers; ++r) {
      threads.Spawn([&] {
        for (size_t k = next_todo.fetch_add(1); k < todo.size(); k = next_todo.fetch_add(1)) {
          if (!read_split(todo[k])) break;
        }
        if (readers_left.fetch_sub(1) == 1 && !control->stopped()) chunks.Close();
      });
    }
    // Keyed on the writers rather than on the (often single) reader thread:
    // the digest reads every value once.
    auto key_chunk = [&](CopyChunk* item) -> Status {
      auto key = part::ContentIdempotencyKey(item->key_base, *schema, item->chunk.batches,
                                             item->info.part_number);
      if (!key.ok()) {
        return key.status().WithContext("keying chunk " +
                                        PartNumberName(item->info.stream_id, item->info.part_number));
      }
      item->info.part_id = std::move(*key);
      return Status::OK();
    };
    // A writer that sends several chunks at once (SinkWriter::GroupsParts)
    // takes them from the queue one by one while it sends; each chunk is
    // released when the writer takes the next. Not with --on-error skip-part
    // (a rejected chunk is gone by then) or a held last chunk.
    const bool may_group = !hold_last && options.on_error != ErrorPolicy::kSkipPart;
    for (int w = 0; w < writers; ++w) {
      threads.Spawn([&, w] {
        const std::string who = "copy worker " + std::to_string(w + 1);
        auto writer = sink->NewWriter();
        if (!writer.ok()) {
          return control->Fail(writer.status().WithContext(who + ": creating a destination writer"));
        }
        if (may_group && (*writer)->GroupsParts()) {
          GroupedCopyFeed feed(&chunks, control, key_chunk);
          while (!feed.ended()) {
            feed.StartGroup();
            auto outcomes = (*writer)->ApplyParts(&feed);
            if (!outcomes.ok()) {
              Status st = outcomes.status().WithContext(who + ": applying " + feed.GroupName());
              if (st.code() != StatusCode::kRetryable || tracker != nullptr ||
                  pass > options.max_retries || control->stopped()) {
                return control->Fail(std::move(st));
              }
              SLUICE_LOG(kWarn) << st.message() << "; their splits are read again after this pass";
              counters->retries.fetch_add(1);
              std::lock_guard<std::mutex> lock(lost_mu);
              for (const auto& t : feed.group()) lost.insert(t.split);
              if (lost_because.ok()) lost_because = std::move(st);
              continue;
            }
            const auto& taken = feed.group();
            if (outcomes->size() != taken.size()) {
              return control->Fail(Status::Internal(
                  who + ": the destination writer took " + std::to_string(taken.size()) +
                  " chunks and reported " + std::to_string(outcomes->size()) + " outcomes"));
            }
            for (size_t i = 0; i < taken.size(); ++i) {
              counters->Settled((*outcomes)[i], taken[i].rows, taken[i].bytes, who, taken[i].name);
            }
          }
          return;
        }
        while (auto item = chunks.Pop()) {
          if (control->stopped()) return;
          if (Status st = key_chunk(&*item); !st.ok()) return control->Fail(st.WithContext(who));
          if (hold_last) {
            // Keep the newest chunk back; apply the one kept before it.
            std::lock_guard<std::mutex> lock(held_mu);
            if (!held) {
              held = std::move(*item);
              continue;
            }
            std::swap(*held, *item);
          }
          const PartInfo& info = item->info;
          const std::string name = PartNumberName(info.stream_id, info.part_number);
          auto outcome = WithRetries(options, *control, counters, "applying " + name, [&] {
            return (*writer)->ApplyPart(info, item->chunk.batches);
          });
          if (!outcome.ok()) {
            Status st = outcome.status().WithContext(who + ": applying chunk " + name + " (" +
                                                     std::to_string(info.rows) + " rows)");
            if (options.on_error != ErrorPolicy::kSkipPart || st.code() == StatusCode::kCancelled) {
              return control->Fail(std::move(st));
            }
            SLUICE_LOG(kWarn) << "skipping " << st.message();
            std::string copy;
            if (!options.reject_dir.empty()) {
              part::PartHeader header;
              header.stream_id = info.stream_id;
              header.part_number = info.part_number;
              header.source_fingerprint = item->source_fingerprint;
              header.idempotency_key = info.part_id;
              header.position_start = item->chunk.position_start;
              header.position_end = item->chunk.position_end;
              part::EncodeOptions eopts;
              eopts.compression = options.compression;
              eopts.compression_level = options.compression_level;
              auto bytes = part::EncodePart(&header, *schema, item->chunk.batches, eopts);
              if (!bytes.ok()) {
                return control->Fail(bytes.status().WithContext("encoding rejected chunk " + name));
              }
              auto written = WriteReject(options, name, *bytes);
              if (!written.ok()) return control->Fail(written.status());
              copy = std::move(*written);
            }
            skips->Add(name, copy);
            continue;
          }
          counters->Settled(*outcome, info.rows, item->chunk.bytes, who, name);
        }
      });
    }
    threads.Supervise(options, *counters, source->EstimatedRows());
    SLUICE_RETURN_NOT_OK(control->status());
    if (lost.empty()) break;
    todo.assign(lost.begin(), lost.end());
    lost.clear();
    const int64_t backoff_ms = options.retry_backoff_ms << (2 * (pass - 1));
    SLUICE_LOG(kWarn) << "copy: reading " << todo.size() << " split(s) again in " << backoff_ms
                      << " ms (pass " << pass + 1 << "): " << lost_because.message();
    lost_because = Status::OK();
    for (int64_t waited = 0; waited < backoff_ms && !control->stopped(); waited += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      control->PollExternal();
    }
    SLUICE_RETURN_NOT_OK(control->status());
    if (control->stopped()) return Status::Cancelled("copy stopped before reading splits again");
  }
  std::optional<StreamState> final_state;
  if (tracker && tracker->advanced()) final_state = tracker->Final();
  if (held) {
    // The last chunk, with the new state in the same transaction.
    PartInfo info = held->info;
    if (final_state) info.state = &*final_state;
    const std::string name = PartNumberName(info.stream_id, info.part_number);
    SLUICE_ASSIGN_OR_RETURN(auto writer, sink->NewWriter());
    auto outcome = WithRetries(options, *control, counters, "applying " + name, [&] {
      return writer->ApplyPart(info, held->chunk.batches);
    });
    if (!outcome.ok()) {
      return outcome.status().WithContext("applying the last chunk " + name +
                                          " with the incremental state");
    }
    counters->Settled(*outcome, info.rows, held->chunk.bytes, "copy", name);
  } else if (final_state && session->in_sink()) {
    return Status::Internal("incremental run applied rows but held no last chunk");
  }
  SLUICE_RETURN_NOT_OK_CTX(sink->Commit(), "committing destination");
  if (final_state && !session->in_sink()) {
    // A destination that is not a database: the local state file follows
    // the committed data (a crash in between re-reads the window: at least
    // once for such destinations).
    SLUICE_RETURN_NOT_OK_CTX(session->store()->SaveState(*final_state),
                             "storing the incremental state");
  }
  if (tracker) {
    stats->watermark_after = tracker->watermark_after();
    stats->rows_read = tracker->rows_seen();
    stats->rows_unchanged = tracker->rows_duplicate();
  }
  return Status::OK();
}

}  // namespace

Result<ErrorPolicy> ParseErrorPolicy(std::string_view text) {
  if (text == "fail") return ErrorPolicy::kFail;
  if (text == "skip-part" || text == "skip") return ErrorPolicy::kSkipPart;
  return Status::InvalidArgument("unknown error policy '" + std::string(text) +
                                 "' (expected fail or skip-part)");
}

std::string StreamIdFor(std::string_view fingerprint) {
  return part::IdempotencyKey(fingerprint, 0).substr(0, 16);
}

Status RunExport(Source* source, PartPublisher* publisher, const RunOptions& options,
                 RunStats* stats) {
  RunControl control(options.stop_requested);
  Counters counters;
  SkipLog skips;
  stats->command = "export";
  stats->output_type = publisher->kind();
  Opened opened;
  Status st = ExportStages(source, publisher, options, &control, &counters, &skips, &opened,
                           &stats->workers);
  CloseQuietly(opened.publisher, publisher, "destination", &st);
  CloseQuietly(opened.source, source, "source", &st);
  FinishStats(counters, control, skips, &st, stats);
  return st;
}

Status RunImport(PartSubscriber* subscriber, Sink* sink, const RunOptions& options,
                 RunStats* stats) {
  RunControl control(options.stop_requested);
  Counters counters;
  SkipLog skips;
  stats->command = "import";
  // The output is the sink; the caller names it (a Sink has no kind()).
  StateSession session(options.state, "import");
  Importer importer(subscriber, sink, options, &control, &counters, &skips, &session);
  Opened opened;
  Status st = importer.Run(&stats->workers, &stats->incomplete_streams, &opened);
  CloseQuietly(opened.sink, sink, "destination", &st);
  CloseQuietly(opened.subscriber, subscriber, "part origin", &st);
  FinishStats(counters, control, skips, &st, stats);
  stats->run_id = session.run_id();
  session.Finish(st, *stats);
  return st;
}

namespace {

// Relay: parts from a subscriber to a publisher byte for byte (stream ids,
// part numbers and idempotency keys unchanged, so a sink that saw some of
// them before still recognizes them). Received parts are acked only after
// the publisher's Flush made them durable, in rounds of up to 1024 parts or
// 512 MiB published (or when the origin has nothing new).
Status RelayStages(PartSubscriber* subscriber, PartPublisher* publisher, const RunOptions& options,
                   RunControl* control, Counters* counters, Opened* opened) {
  SLUICE_RETURN_NOT_OK_CTX(subscriber->Open(), "opening the part origin");
  opened->subscriber = true;
  SLUICE_RETURN_NOT_OK_CTX(publisher->Open(), "opening destination");
  opened->publisher = true;
  if (publisher->encoding().format != PartEncoding::Format::kPart) {
    return Status::InvalidArgument(
        "relay carries parts as they are; the destination asks for TDTP packets (format=tdtp): "
        "use export to convert");
  }
  constexpr size_t kRound = 1024;
  std::vector<ReceivedPart> pending;  // published, acked after the next Flush
  int64_t pending_bytes = 0;
  auto settle = [&]() -> Status {
    if (pending.empty()) return Status::OK();
    SLUICE_RETURN_NOT_OK_CTX(publisher->Flush(), "flushing destination");
    for (const ReceivedPart& p : pending) {
      SLUICE_RETURN_NOT_OK_CTX(subscriber->Ack(p), "acknowledging " + p.name);
    }
    pending.clear();
    pending_bytes = 0;
    return Status::OK();
  };
  auto give_back = [&] {
    for (const ReceivedPart& p : pending) (void)subscriber->Reject(p, /*requeue=*/true);
    pending.clear();
  };
  // A reader thread receives parts and reads their headers while this
  // thread publishes (reading files and producing overlap).
  struct Item {
    ReceivedPart received;
    PartMeta meta;
    Status error;
    bool idle = false;
  };
  BoundedQueue<Item> queue(16, int64_t{64} << 20);
  std::atomic<bool> reader_stop{false};
  std::thread reader([&] {
    while (!control->stopped() && !reader_stop.load()) {
      auto delivery = subscriber->Receive(options.receive_wait_ms);
      Item item;
      if (!delivery.ok()) {
        item.error = delivery.status().WithContext("receiving parts");
      } else if (delivery->state == Delivery::State::kEnd) {
        break;
      } else if (delivery->state == Delivery::State::kIdle) {
        item.idle = true;
      } else {
        item.received = std::move(delivery->part);
        if (!item.received.decode_error.ok()) {
          item.error = item.received.decode_error.WithContext("part " + item.received.name);
        } else {
          part::DecodeOptions dopts;
          dopts.max_uncompressed_bytes = options.max_part_bytes;
          auto header = LooksLikeXml(item.received.bytes->view())
                            ? DecodeAnyPart(item.received.bytes, item.received.name, dopts)
                            : part::DecodePartHeader(item.received.bytes, item.received.name, dopts);
          if (!header.ok()) {
            item.error = header.status().WithContext("part " + item.received.name);
          } else {
            const part::PartHeader& h = header->header;
            item.meta.stream_id = h.stream_id;
            item.meta.part_number = h.part_number;
            item.meta.total_parts = h.total_parts;
            item.meta.rows = h.rows;
            item.meta.idempotency_key = h.idempotency_key;
            item.meta.end_of_stream = h.kind == part::PartKind::kEnd;
          }
        }
      }
      const bool failed = !item.error.ok();
      const int64_t weight = item.received.bytes ? static_cast<int64_t>(item.received.bytes->size()) : 0;
      if (!queue.Push(std::move(item), weight)) return;
      if (failed) return;
    }
    queue.Close();
  });
  auto stop_reader = [&] {
    reader_stop.store(true);
    queue.Cancel();
    reader.join();
  };
  while (!control->stopped()) {
    std::optional<Item> item = queue.Pop();
    if (!item) break;  // the origin ended
    if (item->idle) {
      Status st = settle();  // nothing new: make what was sent durable now
      if (!st.ok()) {
        stop_reader();
        give_back();
        return st;
      }
      continue;
    }
    ReceivedPart received = std::move(item->received);
    if (!item->error.ok()) {
      if (received.bytes) (void)subscriber->Reject(received, /*requeue=*/true);
      stop_reader();
      give_back();
      return item->error;
    }
    const PartMeta& meta = item->meta;
    const auto size = static_cast<int64_t>(received.bytes->size());
    Status st = WithRetries(options, *control, counters, "publishing " + received.name,
                            [&] { return publisher->Publish(meta, received.bytes->view()); });
    if (!st.ok()) {
      (void)subscriber->Reject(received, /*requeue=*/true);
      stop_reader();
      give_back();
      return st.WithContext("publishing " + received.name);
    }
    if (meta.end_of_stream) {
      counters->bytes.fetch_add(size);
    } else {
      counters->PartDone(meta.rows, size);
    }
    // The publisher copied the bytes: only the handle waits for the Flush.
    received.bytes.reset();
    pending.push_back(std::move(received));
    pending_bytes += size;
    if (pending.size() >= kRound || pending_bytes >= (int64_t{512} << 20)) {
      st = settle();
      if (!st.ok()) {
        stop_reader();
        give_back();
        return st;
      }
    }
  }
  stop_reader();
  // Parts the reader received but this thread never published go back.
  while (auto left = queue.Pop()) {
    if (left->received.bytes) (void)subscriber->Reject(left->received, /*requeue=*/true);
  }
  if (control->stopped()) {
    // Stopped on request: what was published is made durable and acked.
    control->PollExternal();
    Status st = control->status().ok() ? settle() : Status::OK();
    if (!st.ok()) give_back();
    return control->status().ok() ? st : control->status();
  }
  Status st = settle();
  if (!st.ok()) give_back();
  return st;
}

}  // namespace

Status RunRelay(PartSubscriber* subscriber, PartPublisher* publisher, const RunOptions& options,
                RunStats* stats) {
  RunControl control(options.stop_requested);
  Counters counters;
  SkipLog skips;
  stats->command = "relay";
  stats->output_type = publisher->kind();
  stats->workers = 1;
  Opened opened;
  Status st = RelayStages(subscriber, publisher, options, &control, &counters, &opened);
  CloseQuietly(opened.publisher, publisher, "destination", &st);
  CloseQuietly(opened.subscriber, subscriber, "part origin", &st);
  FinishStats(counters, control, skips, &st, stats);
  return st;
}

Status RunCopy(Source* source, Sink* sink, const RunOptions& options, RunStats* stats) {
  RunControl control(options.stop_requested);
  Counters counters;
  SkipLog skips;
  stats->command = "copy";
  Opened opened;
  StateSession session(options.state, "copy");
  Status st = CopyStages(source, sink, options, &control, &counters, &skips, &stats->workers,
                         &opened, &session, stats);
  CloseQuietly(opened.sink, sink, "destination", &st);
  CloseQuietly(opened.source, source, "source", &st);
  FinishStats(counters, control, skips, &st, stats);
  stats->run_id = session.run_id();
  session.Finish(st, *stats);
  return st;
}

}  // namespace sluice::pipeline
