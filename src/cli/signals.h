// Ctrl-C / SIGTERM handling for runs: the first signal asks the runtime to
// stop cleanly (no half-written part, no half-applied transaction); a second
// one exits at once (exit code 128 + signal).
//
// The flag is process-wide by necessity (signal handlers can reach nothing
// else); it is written only by the handler and read by the runtime.
#pragma once

#include <atomic>

namespace sluice::cli {

// Installs SIGINT and SIGTERM handlers; returns the flag they set.
const std::atomic<bool>* InstallStopHandlers();
// The signal that requested the stop (0 if none).
int StopSignal();

}  // namespace sluice::cli
