// The `sluice` command line: copy, export, import, inspect, version, help.
//
// Exit codes: 0 success; 1 runtime failure (missing file or table, bad data,
// I/O, a failed part); 2 usage error (bad URI, unknown option, unknown
// scheme: Status kInvalidArgument); 128+N when stopped by signal N (130 for
// Ctrl-C, 143 for SIGTERM) after a clean stop.
//
// Output: data (inspect rows, `--stats-json -`) goes to stdout; logs, the
// progress bar and the run summary table go to stderr.
#pragma once

#include <string>
#include <vector>

namespace sluice::cli {

// Runs one command line (args without the program name); returns the exit code.
int RunCli(const std::vector<std::string>& args);

}  // namespace sluice::cli
