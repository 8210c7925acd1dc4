// Logging: five levels, one line per message with a UTC timestamp, safe to
// call from any thread.
//
//   SLUICE_LOG(kInfo) << "wrote part " << n << " (" << bytes << " bytes)";
//   -> 2025-01-31T12:00:00.123Z INFO  wrote part 3 (2097152 bytes)
//
// The only process-wide state is the configured level and sink (set once by
// the CLI, read everywhere). A message below the level costs one relaxed
// atomic load: its stream arguments are not evaluated.
//
// Thread safety: every function may be called concurrently; lines from
// different threads never interleave (the sink is called under a mutex).
#pragma once

#include <functional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/status.h"

namespace sluice {

enum class LogLevel : int { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3, kTrace = 4 };

std::string_view LogLevelName(LogLevel level);  // "error", "warn", ...
// Accepts the names above (any case) and "warning".
Result<LogLevel> ParseLogLevel(std::string_view text);

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
bool LogEnabled(LogLevel level);

// Receives each finished line (timestamp, level, message; no trailing
// newline). Called under the logging mutex, so it must not log itself.
using LogSink = std::function<void(LogLevel level, std::string_view line)>;
// Replaces the sink; an empty function restores the default (stderr).
void SetLogSink(LogSink sink);

// Formats and emits one message (no-op below the level).
void LogWrite(LogLevel level, std::string_view message);
// "2025-01-31T12:00:00.123Z INFO  message" — the line format of LogWrite.
std::string FormatLogLine(LogLevel level, std::string_view message);

namespace internal {
// Collects one message; emits it on destruction.
class LogMessage {
 public:
  explicit LogMessage(LogLevel level) : level_(level) {}
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  ~LogMessage() { LogWrite(level_, stream_.str()); }

  template <typename T>
  LogMessage& operator<<(const T& v) {
    if constexpr (std::is_same_v<T, Status>) {
      stream_ << v.ToString();
    } else {
      stream_ << v;
    }
    return *this;
  }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};
// Turns the message expression into void for the ?: in SLUICE_LOG.
struct LogVoidify {
  void operator&(const LogMessage&) {}
};
}  // namespace internal

}  // namespace sluice

// `SLUICE_LOG(kWarn) << ...;` — the arguments are evaluated only when enabled.
// An expression (not an if statement), so it is safe inside an unbraced if/else.
#define SLUICE_LOG(level)                                   \
  !::sluice::LogEnabled(::sluice::LogLevel::level)         \
      ? (void)0                                             \
      : ::sluice::internal::LogVoidify() &                  \
            ::sluice::internal::LogMessage(::sluice::LogLevel::level)
