#include "core/log.h"

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace sluice {

namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

// The sink and the mutex that serialises lines. A function-local static so
// logging works during static initialisation of other translation units.
struct SinkState {
  std::mutex mu;
  LogSink sink;
};
SinkState& State() {
  static SinkState state;
  return state;
}

void WriteStderr(std::string_view line) {
  std::string buf(line);
  buf.push_back('\n');
  std::fwrite(buf.data(), 1, buf.size(), stderr);
  std::fflush(stderr);
}
}  // namespace

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return "error";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kInfo: return "info";
    case LogLevel::kDebug: return "debug";
    case LogLevel::kTrace: return "trace";
  }
  return "?";
}

Result<LogLevel> ParseLogLevel(std::string_view text) {
  std::string lower;
  for (char c : text) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (lower == "warning") return LogLevel::kWarn;
  for (int i = 0; i <= static_cast<int>(LogLevel::kTrace); ++i) {
    if (LogLevelName(static_cast<LogLevel>(i)) == lower) return static_cast<LogLevel>(i);
  }
  return Status::InvalidArgument("unknown log level '" + std::string(text) +
                                 "' (expected error, warn, info, debug or trace)");
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }
bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed);
}

void SetLogSink(LogSink sink) {
  auto& st = State();
  std::lock_guard<std::mutex> lock(st.mu);
  st.sink = std::move(sink);
}

std::string FormatLogLine(LogLevel level, std::string_view message) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t secs = system_clock::to_time_t(now);
  const auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[96];
  std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  static constexpr const char* kTags[] = {"ERROR", "WARN ", "INFO ", "DEBUG", "TRACE"};
  std::string line = stamp;
  line += kTags[static_cast<int>(level)];
  line.push_back(' ');
  line.append(message);
  return line;
}

void LogWrite(LogLevel level, std::string_view message) {
  if (!LogEnabled(level)) return;
  std::string line = FormatLogLine(level, message);
  auto& st = State();
  std::lock_guard<std::mutex> lock(st.mu);
  if (st.sink) {
    st.sink(level, line);
  } else {
    WriteStderr(line);
  }
}

}  // namespace sluice
