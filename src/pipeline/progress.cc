#include "pipeline/progress.h"

#include <unistd.h>

#include <cmath>

#include "core/log.h"
#include "pipeline/stats.h"

namespace sluice::pipeline {

// State shared with the log sink: log lines from worker threads first erase
// the bar, then the next Update redraws it.
struct ProgressReporter::Shared {
  std::mutex mu;
  FILE* out = nullptr;
  bool bar_visible = false;
};

namespace {
std::string Thousands(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return v < 0 ? "-" + out : out;
}
}  // namespace

ProgressReporter::ProgressReporter(Options options)
    : options_(std::move(options)), shared_(std::make_shared<Shared>()) {
  shared_->out = options_.out;
  const bool tty = isatty(fileno(options_.out)) != 0;
  switch (options_.mode) {
    case ProgressMode::kAlways: bar_ = true; break;
    case ProgressMode::kNever: break;
    case ProgressMode::kAuto:
      bar_ = tty;
      log_ = !tty;
      break;
  }
  last_ = std::chrono::steady_clock::now();
  if (bar_) {
    std::weak_ptr<Shared> weak = shared_;
    SetLogSink([weak](LogLevel, std::string_view line) {
      std::string text(line);
      text.push_back('\n');
      auto shared = weak.lock();
      if (!shared) {
        std::fwrite(text.data(), 1, text.size(), stderr);
        return;
      }
      std::lock_guard<std::mutex> lock(shared->mu);
      if (shared->bar_visible) {
        std::fputs("\r\033[K", shared->out);
        shared->bar_visible = false;
      }
      std::fwrite(text.data(), 1, text.size(), stderr);
      std::fflush(stderr);
    });
  }
}

ProgressReporter::~ProgressReporter() { Finish(); }

std::string ProgressReporter::FormatLine(const ProgressSnapshot& s) {
  std::string line = Thousands(s.rows) + " rows";
  if (s.total_rows && *s.total_rows > 0) {
    const double pct = 100.0 * static_cast<double>(s.rows) / static_cast<double>(*s.total_rows);
    char buf[32];
    std::snprintf(buf, sizeof(buf), " (%.0f%%)", pct > 100 ? 100.0 : pct);
    line += buf;
  }
  const double rate = s.elapsed_s > 0 ? static_cast<double>(s.rows) / s.elapsed_s : 0;
  line += "  " + Thousands(static_cast<int64_t>(rate)) + " rows/s";
  line += "  " + Thousands(s.parts) + " parts";
  line += "  " + FormatMegabytes(s.bytes);
  if (s.total_rows && *s.total_rows > s.rows && rate > 0) {
    const double eta = static_cast<double>(*s.total_rows - s.rows) / rate;
    line += "  ETA " + FormatDuration(std::ceil(eta));
  }
  line += "  " + FormatDuration(s.elapsed_s);
  return line;
}

void ProgressReporter::Draw(const std::string& text) {
  std::lock_guard<std::mutex> lock(shared_->mu);
  std::fputs("\r\033[K", options_.out);
  std::fputs(text.c_str(), options_.out);
  std::fflush(options_.out);
  shared_->bar_visible = true;
}

void ProgressReporter::Update(const ProgressSnapshot& snapshot) {
  if (!bar_ && !log_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  if (bar_) {
    if (drawn_once_ && since < options_.draw_interval_s) return;
    last_ = now;
    drawn_once_ = true;
    Draw((options_.label.empty() ? "" : options_.label + ": ") + FormatLine(snapshot));
  } else if (since >= options_.log_interval_s) {
    last_ = now;
    SLUICE_LOG(kInfo) << (options_.label.empty() ? "progress" : options_.label) << ": "
                      << FormatLine(snapshot);
  }
}

void ProgressReporter::Finish() {
  if (!bar_) return;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    if (shared_->bar_visible) {
      std::fputs("\r\033[K", options_.out);
      std::fflush(options_.out);
      shared_->bar_visible = false;
    }
  }
  SetLogSink(nullptr);
  bar_ = false;
}

}  // namespace sluice::pipeline
