// Progress while a run is going: a one-line bar redrawn in place on a
// terminal, or an INFO log line every few seconds otherwise (schedulers,
// CI logs, pipes).
//
// Thread safety: Update/Finish are called from one thread (the runtime's
// supervising thread); log lines from other threads are coordinated through
// the log sink this reporter installs while a bar is on screen.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace sluice::pipeline {

struct ProgressSnapshot {
  int64_t rows = 0;
  int64_t parts = 0;
  int64_t bytes = 0;
  double elapsed_s = 0;
  std::optional<int64_t> total_rows;  // when the source can estimate it
};

enum class ProgressMode { kAuto, kAlways, kNever };

class ProgressReporter {
 public:
  struct Options {
    ProgressMode mode = ProgressMode::kAuto;
    std::string label;  // "export", "import", "copy"
    double log_interval_s = 5.0;   // non-terminal mode
    double draw_interval_s = 0.2;  // terminal mode
    FILE* out = stderr;
  };
  explicit ProgressReporter(Options options);
  ~ProgressReporter();
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  // Draws or logs if its interval elapsed.
  void Update(const ProgressSnapshot& snapshot);
  // Erases the bar (the summary follows on a clean line).
  void Finish();

  bool drawing_bar() const { return bar_; }

  // "1,234,567 rows  812,345 rows/s  17 parts  42.1 MB  ETA 0:12"
  static std::string FormatLine(const ProgressSnapshot& snapshot);

 private:
  struct Shared;
  void Draw(const std::string& text);

  Options options_;
  bool bar_ = false;
  bool log_ = false;
  std::chrono::steady_clock::time_point last_;
  bool drawn_once_ = false;
  std::shared_ptr<Shared> shared_;
};

}  // namespace sluice::pipeline
