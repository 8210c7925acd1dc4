#include "cli/cli.h"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <thread>

#include "cli/args.h"
#include "cli/demo.h"
#include "cli/flags.h"
#include "cli/inspect.h"
#include "cli/signals.h"
#include "connectors/connector.h"
#include "core/io.h"
#include "core/log.h"
#include "formats/part/part.h"
#include "pipeline/progress.h"
#include "pipeline/runtime.h"
#include "pipeline/stats.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif

namespace sluice::cli {

namespace {

// ---------------------------------------------------------------------------
// Flags

const std::vector<FlagSpec>& LogFlags() {
  static const std::vector<FlagSpec> flags = {
      {"verbose", 'v', "", "more log output (-v debug, -vv trace)", true},
      {"quiet", 'q', "", "errors only; no summary table"},
      {"log-level", 0, "LEVEL", "error, warn, info (default), debug or trace"},
      {"help", 'h', "", "show this help"},
  };
  return flags;
}

const std::vector<FlagSpec>& RunFlags() {
  static const std::vector<FlagSpec> flags = {
      {"workers", 'w', "N",
       "parallel workers: import/copy apply parts, export encodes them (default: cores)"},
      {"part-size", 0, "SIZE", "target part size, e.g. 2MiB, 512KB (default 2MiB)"},
      {"compression", 0, "ALGO", "part compression: none, lz4 or zstd (default zstd)"},
      {"on-error", 0, "POLICY", "fail (default) or skip-part (skipped parts are listed)"},
      {"reject-dir", 0, "DIR", "copy skipped parts into DIR"},
      {"stats-json", 0, "FILE", "write run statistics as JSON to FILE ('-' = stdout)"},
      {"progress", 0, "MODE", "auto (bar on a terminal, log lines otherwise), always, never"},
      {"batch-rows", 0, "N", "rows per batch read from the source (default 16384)"},
      {"src-opt", 0, "KEY=VALUE", "source option (same as ?KEY=VALUE in the URI)", true},
      {"dst-opt", 0, "KEY=VALUE", "destination option (same as ?KEY=VALUE in the URI)", true},
  };
  return flags;
}

std::vector<FlagSpec> Concat(std::vector<FlagSpec> a, const std::vector<FlagSpec>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// ---------------------------------------------------------------------------
// Commands

struct Command {
  std::string name;
  std::string usage;
  std::string summary;
  std::string details;
  std::vector<FlagSpec> flags;
  // Which endpoint option tables --help lists.
  bool source_endpoints = false;
  bool sink_endpoints = false;
  bool publisher_endpoints = false;
  bool subscriber_endpoints = false;
  std::function<int(const ParsedArgs&)> run;
};

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

Status ApplyLogFlags(const ParsedArgs& args) {
  LogLevel level = LogLevel::kInfo;
  if (args.Has("log-level")) {
    SLUICE_ASSIGN_OR_RETURN(level, ParseLogLevel(args.Get("log-level")));
  } else if (args.Has("quiet")) {
    level = LogLevel::kError;
  } else if (args.Count("verbose") > 0) {
    level = args.Count("verbose") >= 2 ? LogLevel::kTrace : LogLevel::kDebug;
  }
  SetLogLevel(level);
  return Status::OK();
}

Result<std::vector<std::pair<std::string, std::string>>> KeyValues(
    const std::vector<std::string>& items, std::string_view flag) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& item : items) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument("--" + std::string(flag) + " expects KEY=VALUE, got '" + item + "'");
    }
    out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  return out;
}

struct RunSetup {
  pipeline::RunOptions options;
  pipeline::ProgressMode progress = pipeline::ProgressMode::kAuto;
  std::string stats_json;
  bool quiet = false;
  std::vector<std::pair<std::string, std::string>> src_opts, dst_opts;
};

Result<RunSetup> ParseRunFlags(const ParsedArgs& args) {
  RunSetup s;
  auto& o = s.options;
  SLUICE_RETURN_NOT_OK(ParseWorkersFlag(args, &o.workers));
  SLUICE_RETURN_NOT_OK(ParsePartSizeFlag(args, &o.part_bytes));
  SLUICE_RETURN_NOT_OK(ParseCompressionFlag(args, &o.compression));
  if (args.Has("on-error")) {
    SLUICE_ASSIGN_OR_RETURN(o.on_error, pipeline::ParseErrorPolicy(args.Get("on-error")));
  }
  o.reject_dir = args.Get("reject-dir");
  if (!o.reject_dir.empty() && o.on_error != pipeline::ErrorPolicy::kSkipPart) {
    SLUICE_LOG(kWarn) << "--reject-dir has no effect without --on-error skip-part";
  }
  if (args.Has("batch-rows")) {
    SLUICE_ASSIGN_OR_RETURN(o.batch_rows, PositiveInt(args.Get("batch-rows"), "batch-rows"));
  }
  SLUICE_ASSIGN_OR_RETURN(s.progress, ParseProgressFlag(args));
  s.stats_json = args.Get("stats-json");
  s.quiet = args.Has("quiet");
  SLUICE_ASSIGN_OR_RETURN(s.src_opts, KeyValues(args.All("src-opt"), "src-opt"));
  SLUICE_ASSIGN_OR_RETURN(s.dst_opts, KeyValues(args.All("dst-opt"), "dst-opt"));
  return s;
}

std::string Redact(const std::string& uri) {
  auto u = Uri::Parse(uri);
  return u.ok() ? u->Redacted() : uri;
}

Status WriteStatsJson(const std::string& path, const pipeline::RunStats& stats) {
  const std::string json = stats.ToJson();
  if (path == "-") {
    std::fwrite(json.data(), 1, json.size(), stdout);
    std::fflush(stdout);
    return Status::OK();
  }
  return WriteFileAtomic(path, json).WithContext("writing --stats-json");
}

// Runs one pipeline invocation with signals, progress and the summary.
int ExecuteRun(const RunSetup& setup, const std::string& label,
               const std::function<Status(pipeline::RunOptions&, pipeline::RunStats*)>& run,
               pipeline::RunStats* stats) {
  pipeline::RunOptions options = setup.options;
  options.stop_requested = InstallStopHandlers();
  pipeline::ProgressReporter::Options popts;
  popts.mode = setup.progress;
  popts.label = label;
  pipeline::ProgressReporter progress(popts);
  options.on_progress = [&progress](const pipeline::ProgressSnapshot& s) { progress.Update(s); };
  Status st = run(options, stats);
  progress.Finish();
  // A run that failed before moving anything gets the error line only.
  const bool did_something = stats->parts + stats->duplicates + stats->skipped_parts > 0;
  if (!setup.quiet && (st.ok() || did_something || stats->cancelled)) {
    const std::string table = stats->ToTable();
    std::fwrite(table.data(), 1, table.size(), stderr);
  }
  if (!setup.stats_json.empty()) {
    Status written = WriteStatsJson(setup.stats_json, *stats);
    if (!written.ok() && st.ok()) st = written;
  }
  if (st.ok()) return 0;
  return Fail(st);
}

int CmdCopy(const ParsedArgs& args) {
  if (args.positionals.size() != 2) {
    return Fail(Status::InvalidArgument("copy expects SRC and DST (see sluice copy --help)"));
  }
  auto setup = ParseRunFlags(args);
  if (!setup.ok()) return Fail(setup.status());
  const auto& reg = Registry::Global();
  const std::string& src = args.positionals[0];
  const std::string& dst = args.positionals[1];
  auto source = reg.MakeSource(src, setup->src_opts);
  if (!source.ok()) return Fail(source.status());
  auto sink = reg.MakeSink(dst, setup->dst_opts);
  if (!sink.ok()) return Fail(sink.status());
  pipeline::RunStats stats;
  stats.source = Redact(src);
  stats.destination = Redact(dst);
  stats.output_type = Uri::Parse(dst)->scheme;
  SLUICE_LOG(kInfo) << "copy " << stats.source << " -> " << stats.destination;
  return ExecuteRun(*setup, "copy", [&](pipeline::RunOptions& o, pipeline::RunStats* s) {
    return pipeline::RunCopy(source->get(), sink->get(), o, s);
  }, &stats);
}

int CmdExport(const ParsedArgs& args) {
  if (args.positionals.size() != 1 || !args.Has("to")) {
    return Fail(Status::InvalidArgument("export expects SRC and --to DEST (see sluice export --help)"));
  }
  auto setup = ParseRunFlags(args);
  if (!setup.ok()) return Fail(setup.status());
  const auto& reg = Registry::Global();
  const std::string& src = args.positionals[0];
  const std::string dst = args.Get("to");
  auto source = reg.MakeSource(src, setup->src_opts);
  if (!source.ok()) return Fail(source.status());
  auto publisher = reg.MakePublisher(dst, setup->dst_opts);
  if (!publisher.ok()) return Fail(publisher.status());
  pipeline::RunStats stats;
  stats.source = Redact(src);
  stats.destination = Redact(dst);
  SLUICE_LOG(kInfo) << "export " << stats.source << " -> " << stats.destination;
  return ExecuteRun(*setup, "export", [&](pipeline::RunOptions& o, pipeline::RunStats* s) {
    return pipeline::RunExport(source->get(), publisher->get(), o, s);
  }, &stats);
}

int CmdImport(const ParsedArgs& args) {
  if (args.positionals.size() != 1 || !args.Has("into")) {
    return Fail(Status::InvalidArgument("import expects FROM and --into DST (see sluice import --help)"));
  }
  auto setup = ParseRunFlags(args);
  if (!setup.ok()) return Fail(setup.status());
  const auto& reg = Registry::Global();
  const std::string& from = args.positionals[0];
  const std::string dst = args.Get("into");
  auto subscriber = reg.MakeSubscriber(from, setup->src_opts);
  if (!subscriber.ok()) return Fail(subscriber.status());
  auto sink = reg.MakeSink(dst, setup->dst_opts);
  if (!sink.ok()) return Fail(sink.status());
  pipeline::RunStats stats;
  stats.source = Redact(from);
  stats.destination = Redact(dst);
  SLUICE_LOG(kInfo) << "import " << stats.source << " -> " << stats.destination;
  const int code = ExecuteRun(*setup, "import", [&](pipeline::RunOptions& o, pipeline::RunStats* s) {
    return pipeline::RunImport(subscriber->get(), sink->get(), o, s);
  }, &stats);
  return code;
}

int CmdInspect(const ParsedArgs& args) {
  if (args.positionals.size() != 1) {
    return Fail(Status::InvalidArgument("inspect expects one FILE, directory or URI"));
  }
  InspectOptions o;
  if (args.Has("rows")) {
    auto n = PositiveInt(args.Get("rows"), "rows");
    if (!n.ok()) return Fail(n.status());
    o.rows = *n;
  }
  auto src_opts = KeyValues(args.All("src-opt"), "src-opt");
  if (!src_opts.ok()) return Fail(src_opts.status());
  o.source_options = *src_opts;
  Status st = Inspect(args.positionals[0], o, stdout);
  return st.ok() ? 0 : Fail(st);
}

int CmdVersion(const ParsedArgs&) {
  std::string schemes;
  for (const auto& c : Registry::Global().connectors()) schemes += (schemes.empty() ? "" : ", ") + c.scheme;
  std::printf("sluice %s\npart format version %d (Arrow IPC stream, compression none/lz4/zstd)\n"
              "connectors: %s\n",
              SLUICE_VERSION, part::kFormatVersion, schemes.c_str());
  return 0;
}

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = [] {
    std::vector<Command> c;
    c.push_back({"copy", "sluice copy SRC DST [flags]",
                 "copy a table from any source to any destination",
                 "Reads SRC in parallel splits, cuts it into chunks of about --part-size and\n"
                 "applies each chunk atomically with a deterministic id, so re-running a\n"
                 "killed copy with the same --part-size finishes it without duplicates.\n",
                 Concat(RunFlags(), LogFlags()), true, true, false, false, CmdCopy});
    c.push_back({"export", "sluice export SRC --to DEST [flags]",
                 "stream a table into parts (a parts directory or a broker)",
                 "Reader, encoder and writer run on their own threads; the first part is\n"
                 "written while SRC is still being read; memory stays bounded by\n"
                 "part size x queue depth. The stream ends with an end-of-stream part.\n",
                 Concat(Concat({{"to", 0, "DEST", "where the parts go (e.g. parts:///dir)"}}, RunFlags()),
                        LogFlags()),
                 true, false, true, false, CmdExport});
    c.push_back({"import", "sluice import FROM --into DST [--workers N] [flags]",
                 "apply parts to a destination with N parallel workers",
                 "Workers take parts in any order and apply each atomically together with\n"
                 "its idempotency key; parts already applied are counted as duplicates.\n"
                 "A part is acknowledged to its transport only after the commit.\n",
                 Concat(Concat({{"into", 0, "DST", "the destination (e.g. sqlite:///db?table=t)"}}, RunFlags()),
                        LogFlags()),
                 false, true, false, true, CmdImport});
    c.push_back({"inspect", "sluice inspect FILE|DIR|URI [--rows N]",
                 "show a part's header, schema and rows, a parts directory, or any source",
                 "A .part file: its header, schema and row count. A directory: its part\n"
                 "files grouped by stream, with completeness. Anything else is read as a\n"
                 "source endpoint (schema and row count). --rows N prints the first N rows\n"
                 "as JSON Lines on stdout.\n",
                 Concat({{"rows", 'n', "N", "print the first N rows as JSON Lines"},
                         {"src-opt", 0, "KEY=VALUE", "source option for a URI argument", true}},
                        LogFlags()),
                 false, false, false, false, CmdInspect});
    c.push_back({"demo", "sluice demo [--rows N] [--workers N] [--dir DIR] [--cleanup] [flags]",
                 "generate a SQLite table, export it to parts, import them, verify",
                 "Runs the main job on the embedded default, no server needed: generates\n"
                 "--rows rows of mixed types (NULLs, unicode, decimals, timestamps with zone,\n"
                 "blobs) into DIR/source.db, exports it to DIR/parts, imports the parts with\n"
                 "--workers workers into DIR/target.db, then checks row counts and a content\n"
                 "checksum of both tables read with the plain SQLite C API. Prints MATCH or\n"
                 "MISMATCH (exit code 1), the wall time and the peak RSS.\n",
                 Concat(DemoFlags(), LogFlags()), false, false, false, false, CmdDemo});
    c.push_back({"version", "sluice version", "print the version and the built-in connectors", "",
                 LogFlags(), false, false, false, false, CmdVersion});
    return c;
  }();
  return commands;
}

std::string EndpointHelp(const Command& cmd) {
  std::string out;
  for (const auto& c : Registry::Global().connectors()) {
    auto section = [&](bool wanted, bool has, const OptionSpecs& specs, std::string_view role) {
      if (!wanted || !has) return;
      out += "  " + c.scheme + "://  as " + std::string(role) + " — " + c.summary + "\n";
      if (specs.empty()) {
        out += "      (no options)\n";
      } else {
        std::string opts = FormatOptionsHelp(specs);
        // Indent the option table under its connector.
        size_t pos = 0;
        while (pos < opts.size()) {
          const size_t nl = opts.find('\n', pos);
          out += "    " + opts.substr(pos, nl - pos + 1);
          pos = nl == std::string::npos ? opts.size() : nl + 1;
        }
      }
    };
    section(cmd.source_endpoints, bool(c.make_source), c.source_options, "source");
    section(cmd.subscriber_endpoints, bool(c.make_subscriber), c.source_options, "part origin");
    section(cmd.sink_endpoints, bool(c.make_sink), c.sink_options, "destination");
    section(cmd.publisher_endpoints, bool(c.make_publisher), c.sink_options, "part destination");
  }
  return out;
}

std::string CommandHelp(const Command& cmd) {
  std::string out = "Usage: " + cmd.usage + "\n\n" + cmd.summary + ".\n";
  if (!cmd.details.empty()) out += "\n" + cmd.details;
  out += "\nFlags:\n" + FormatFlagsHelp(cmd.flags);
  std::string endpoints = EndpointHelp(cmd);
  if (!endpoints.empty()) {
    out += "\nEndpoints (options go in the URI query, ?key=value&..., or --src-opt/--dst-opt):\n" +
           endpoints;
  }
  out +=
      "\nExit codes: 0 ok, 1 runtime failure, 2 usage error, 130/143 stopped by Ctrl-C/SIGTERM.\n"
      "The summary table, logs and progress go to stderr.\n";
  return out;
}

std::string MainHelp() {
  std::string out =
      "sluice — moves tables between databases, files and brokers as columnar parts.\n\n"
      "Usage: sluice COMMAND [ARGS] [flags]\n\nCommands:\n";
  for (const auto& c : Commands()) {
    std::string line = "  " + c.name;
    line.resize(12, ' ');
    out += line + c.summary + "\n";
  }
  out += "\nEndpoints (URIs):\n";
  for (const auto& c : Registry::Global().connectors()) {
    std::string line = "  " + c.scheme + "://";
    if (line.size() < 14) line.resize(14, ' ');
    else line += "  ";
    out += line + c.summary + "\n";
  }
  out += "\nRun 'sluice COMMAND --help' for a command's flags and endpoint options.\n";
  return out;
}

}  // namespace

int RunCli(const std::vector<std::string>& argv) {
  if (argv.empty()) {
    std::fputs(MainHelp().c_str(), stderr);
    return 2;
  }
  std::string name = argv[0];
  std::vector<std::string> rest(argv.begin() + 1, argv.end());
  if (name == "--help" || name == "-h" || name == "help") {
    if (name == "help" && !rest.empty()) {
      for (const auto& c : Commands()) {
        if (c.name == rest[0]) {
          std::fputs(CommandHelp(c).c_str(), stdout);
          return 0;
        }
      }
      return Fail(Status::InvalidArgument("unknown command '" + rest[0] + "'"));
    }
    std::fputs(MainHelp().c_str(), stdout);
    return 0;
  }
  if (name == "--version") name = "version";
  for (const auto& c : Commands()) {
    if (c.name != name) continue;
    auto args = ParseArgs(rest, c.flags);
    if (!args.ok()) return Fail(args.status().WithContext(c.name));
    if (args->Has("help")) {
      std::fputs(CommandHelp(c).c_str(), stdout);
      return 0;
    }
    Status log = ApplyLogFlags(*args);
    if (!log.ok()) return Fail(log);
    return c.run(*args);
  }
  std::string known;
  for (const auto& c : Commands()) known += (known.empty() ? "" : ", ") + c.name;
  return Fail(Status::InvalidArgument("unknown command '" + name + "' (commands: " + known + ")"));
}

}  // namespace sluice::cli
