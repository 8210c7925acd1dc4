#include "cli/cli.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <thread>

#include "cli/args.h"
#include "cli/demo.h"
#include "cli/flags.h"
#include "cli/inspect.h"
#include "cli/signals.h"
#include "connectors/connector.h"
#include "connectors/sqlite/sqlite.h"
#include "connectors/state.h"
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

// The run log (copy, import) and incremental runs (copy).
const std::vector<FlagSpec>& StateFlags() {
  static const std::vector<FlagSpec> flags = {
      {"name", 0, "NAME", "pipeline name recorded in the run log (default: the command)"},
      {"stream", 0, "NAME",
       "the stream's name in the run log and state tables (default: the destination URI)"},
      {"run-log", 0, "TABLE",
       "run log table in the destination database (default sluice_run_log; 'none' = off)"},
      {"state", 0, "FILE",
       "local SQLite state file, for destinations that are not databases"},
  };
  return flags;
}

const std::vector<FlagSpec>& IncrementalFlags() {
  static const std::vector<FlagSpec> flags = {
      {"incremental-key", 0, "COL",
       "copy only rows whose COL (integer, date or timestamp) is new since the last run"},
      {"lookback", 0, "DUR",
       "also re-read rows up to DUR below the watermark (5m, 1h30m, 2d; a number for integer keys)"
       " so late-committing transactions are not missed; re-read unchanged rows are skipped"},
      {"key", 0, "COLS", "row identity a,b for de-duplication and upserts (default: primary key)"},
      {"state-table", 0, "TABLE", "watermark table in the destination (default sluice_state)"},
      {"soft-delete", 0, "COL",
       "rows whose COL is set (non-NULL, or true) delete the target row by key instead of being "
       "written (upsert destinations: postgres, mysql, sqlite)"},
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
  o.part_bytes_explicit = args.Has("part-size");
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

// The value the --src-opt/--dst-opt flags or the endpoint's URI query give
// option `name`, if any.
std::optional<std::string> OptionValue(const std::string& uri,
                                       const std::vector<std::pair<std::string, std::string>>& extra,
                                       std::string_view name) {
  for (const auto& [k, v] : extra) {
    if (k == name) return v;
  }
  auto u = Uri::Parse(uri);
  if (!u.ok()) return std::nullopt;
  for (const auto& [k, v] : u->query) {
    if (k == name) return v;
  }
  return std::nullopt;
}

// Whether the destination declares option `name` (and, when `choice` is
// given, accepts that value for it).
bool SinkHasOption(const std::string& uri, std::string_view name, std::string_view choice = {}) {
  auto u = Uri::Parse(uri);
  if (!u.ok()) return false;
  const ConnectorInfo* info = Registry::Global().Find(u->scheme);
  if (info == nullptr) return false;
  for (const auto& spec : info->sink_options) {
    if (spec.name != name) continue;
    if (choice.empty()) return true;
    return std::find(spec.choices.begin(), spec.choices.end(), choice) != spec.choices.end();
  }
  return false;
}

// Fills `state` from the state flags; `dst_opts` gains mode=upsert (and
// key=) for incremental copies into destinations that have modes.
Status ParseStateFlags(const ParsedArgs& args, const std::string& command, const std::string& src,
                       const std::string& dst,
                       std::vector<std::pair<std::string, std::string>>* dst_opts,
                       pipeline::StateOptions* state) {
  state->run.pipeline = args.Has("name") ? args.Get("name") : command;
  state->run.stream = args.Has("stream") ? args.Get("stream") : Redact(dst);
  state->run.source = Redact(src);
  state->run.destination = Redact(dst);
  if (args.Has("run-log")) {
    const std::string t = args.Get("run-log");
    if (t.empty()) return Status::InvalidArgument("--run-log: give a table name or 'none'");
    if (t == "none") {
      state->run_log = false;
    } else {
      state->tables.run_log = t;
    }
  }
  if (args.Has("state-table")) {
    state->tables.state = args.Get("state-table");
    if (state->tables.state.empty()) return Status::InvalidArgument("--state-table: empty name");
  }
  if (state->tables.state == state->tables.run_log) {
    return Status::InvalidArgument("--state-table and --run-log name the same table");
  }
  if (args.Has("state")) {
    const std::string file = args.Get("state");
    if (file.empty()) return Status::InvalidArgument("--state: empty file name");
    StateTables tables = state->tables;
    state->fallback_store = [file, tables]() { return OpenSqliteStateFile(file, tables); };
  }
  if (args.Has("soft-delete")) {
    const std::string col = args.Get("soft-delete");
    if (col.empty()) return Status::InvalidArgument("--soft-delete: empty column name");
    if (!SinkHasOption(dst, "soft_delete")) {
      return Status::InvalidArgument("--soft-delete: the destination " + Redact(dst) +
                                     " cannot delete rows by key");
    }
    if (OptionValue(dst, *dst_opts, "soft_delete")) {
      return Status::InvalidArgument("--soft-delete and the destination option soft_delete= are "
                                     "the same setting: give one");
    }
    dst_opts->emplace_back("soft_delete", col);
  }
  if (args.Has("incremental-key")) {
    pipeline::IncrementalOptions inc;
    inc.stream = state->run.stream;
    inc.key_column = args.Get("incremental-key");
    if (inc.key_column.empty()) return Status::InvalidArgument("--incremental-key: empty column name");
    inc.lookback = args.Get("lookback");
    inc.dedup_key = SplitCommaList(args.Get("key"));
    if (SinkHasOption(dst, "mode", "upsert")) {
      // Re-read rows (the look-back window, or a window re-run after a kill)
      // must replace their earlier copy, not be added next to it.
      const std::optional<std::string> mode = OptionValue(dst, *dst_opts, "mode");
      if (!mode) {
        dst_opts->emplace_back("mode", "upsert");
      } else if (*mode != "upsert") {
        return Status::InvalidArgument("--incremental-key writes with mode=upsert (re-read rows "
                                       "replace their earlier copy); mode=" + *mode +
                                       " would duplicate or drop them");
      }
      if (!inc.dedup_key.empty() && SinkHasOption(dst, "key") &&
          !OptionValue(dst, *dst_opts, "key")) {
        dst_opts->emplace_back("key", args.Get("key"));
      }
    }
    state->incremental = std::move(inc);
  } else {
    for (const char* flag : {"lookback", "key", "state-table"}) {
      if (args.Has(flag)) {
        return Status::InvalidArgument(std::string("--") + flag + " needs --incremental-key");
      }
    }
  }
  return Status::OK();
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
  pipeline::StateOptions state;
  Status state_st = ParseStateFlags(args, "copy", src, dst, &setup->dst_opts, &state);
  if (!state_st.ok()) return Fail(state_st);
  setup->options.state = &state;
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
  if (args.Has("message-format")) setup->dst_opts.emplace_back("format", args.Get("message-format"));
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

int CmdRelay(const ParsedArgs& args) {
  if (args.positionals.size() != 1 || !args.Has("to")) {
    return Fail(Status::InvalidArgument("relay expects FROM and --to DEST (see sluice relay --help)"));
  }
  auto setup = ParseRunFlags(args);
  if (!setup.ok()) return Fail(setup.status());
  const auto& reg = Registry::Global();
  const std::string& from = args.positionals[0];
  const std::string dst = args.Get("to");
  if (args.Has("group")) setup->src_opts.emplace_back("group", args.Get("group"));
  auto subscriber = reg.MakeSubscriber(from, setup->src_opts);
  if (!subscriber.ok()) return Fail(subscriber.status());
  auto publisher = reg.MakePublisher(dst, setup->dst_opts);
  if (!publisher.ok()) return Fail(publisher.status());
  pipeline::RunStats stats;
  stats.source = Redact(from);
  stats.destination = Redact(dst);
  SLUICE_LOG(kInfo) << "relay " << stats.source << " -> " << stats.destination;
  return ExecuteRun(*setup, "relay", [&](pipeline::RunOptions& o, pipeline::RunStats* s) {
    return pipeline::RunRelay(subscriber->get(), publisher->get(), o, s);
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
  pipeline::StateOptions state;
  Status state_st = ParseStateFlags(args, "import", from, dst, &setup->dst_opts, &state);
  if (!state_st.ok()) return Fail(state_st);
  setup->options.state = &state;
  // Broker flags are the subscriber's URI options (a name given both ways is an error).
  if (args.Has("message-format")) setup->src_opts.emplace_back("format", args.Get("message-format"));
  if (args.Has("group")) setup->src_opts.emplace_back("group", args.Get("group"));
  if (args.Has("until-end")) setup->src_opts.emplace_back("until_end", "true");
  if (args.Has("follow")) setup->src_opts.emplace_back("follow", "true");
  auto subscriber = reg.MakeSubscriber(from, setup->src_opts);
  if (!subscriber.ok()) return Fail(subscriber.status());
  auto sink = reg.MakeSink(dst, setup->dst_opts);
  if (!sink.ok()) return Fail(sink.status());
  pipeline::RunStats stats;
  stats.source = Redact(from);
  stats.destination = Redact(dst);
  stats.output_type = Uri::Parse(dst)->scheme;
  SLUICE_LOG(kInfo) << "import " << stats.source << " -> " << stats.destination;
  const int code = ExecuteRun(*setup, "import", [&](pipeline::RunOptions& o, pipeline::RunStats* s) {
    return pipeline::RunImport(subscriber->get(), sink->get(), o, s);
  }, &stats);
  return code;
}

int CmdRuns(const ParsedArgs& args) {
  if (args.positionals.size() > 1 || (args.positionals.empty() && !args.Has("state"))) {
    return Fail(Status::InvalidArgument("runs expects a destination URI or --state FILE "
                                        "(see sluice runs --help)"));
  }
  StateTables tables;
  if (args.Has("run-log")) tables.run_log = args.Get("run-log");
  int64_t limit = 20;
  if (args.Has("limit")) {
    auto n = PositiveInt(args.Get("limit"), "limit");
    if (!n.ok()) return Fail(n.status());
    limit = std::min<int64_t>(*n, 1000000);
  }
  std::unique_ptr<StateStore> store;
  if (!args.positionals.empty()) {
    auto dst_opts = KeyValues(args.All("dst-opt"), "dst-opt");
    if (!dst_opts.ok()) return Fail(dst_opts.status());
    auto sink = Registry::Global().MakeSink(args.positionals[0], *dst_opts);
    if (!sink.ok()) return Fail(sink.status());
    auto opened = (*sink)->OpenStateStore(tables);
    if (!opened.ok()) return Fail(opened.status());
    store = std::move(*opened);
    if (!store) {
      if (!args.Has("state")) {
        return Fail(Status::InvalidArgument(
            "runs: " + Redact(args.positionals[0]) +
            " is not a database, so it keeps no run log: give the --state FILE its runs used"));
      }
    }
  }
  if (!store) {
    auto opened = OpenSqliteStateFile(args.Get("state"), tables);
    if (!opened.ok()) return Fail(opened.status());
    store = std::move(*opened);
  }
  auto runs = store->ListRuns(args.Get("stream"), static_cast<int>(limit));
  (void)store->Close();
  if (!runs.ok()) return Fail(runs.status());
  if (args.Has("json")) {
    for (const RunRecord& r : *runs) {
      std::string line = "{";
      const auto& cols = RunLogColumns();
      auto values = RunLogValues(r);
      for (size_t i = 0; i < cols.size(); ++i) {
        if (i) line += ", ";
        pipeline::AppendJsonString(cols[i].name, &line);
        line += ": ";
        if (!values[i]) {
          line += "null";
        } else if (cols[i].kind == RunLogColumn::kInteger) {
          line += *values[i];
        } else {
          pipeline::AppendJsonString(*values[i], &line);
        }
      }
      line += "}\n";
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
    return 0;
  }
  std::string out;
  auto cell = [](std::string v, size_t width) {
    if (v.size() > width) v = v.substr(0, width - 1) + "~";
    v.resize(width, ' ');
    return v + "  ";
  };
  out += cell("STARTED (UTC)", 19) + cell("STATUS", 9) + cell("PIPELINE", 10) + cell("ROWS READ", 10) +
         cell("WRITTEN", 10) + cell("PARTS", 6) + cell("WATERMARK", 26) + "RUN ID / ERROR\n";
  for (const RunRecord& r : *runs) {
    out += cell(r.started_at.substr(0, 19), 19) + cell(r.status, 9) + cell(r.pipeline, 10) +
           cell(std::to_string(r.rows_read), 10) + cell(std::to_string(r.rows_written), 10) +
           cell(std::to_string(r.parts), 6) + cell(r.watermark_after, 26) +
           (r.error.empty() ? r.run_id : r.error.substr(0, 200)) + "\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
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
                 Concat(Concat(Concat(RunFlags(), StateFlags()), IncrementalFlags()), LogFlags()),
                 true, true, false, false, CmdCopy});
    c.push_back({"export", "sluice export SRC --to DEST [flags]",
                 "stream a table into parts (a parts directory or a broker)",
                 "Reader, encoder and writer run on their own threads; the first part is\n"
                 "written while SRC is still being read; memory stays bounded by\n"
                 "part size x queue depth. The stream ends with an end-of-stream part.\n",
                 Concat(Concat({{"to", 0, "DEST", "where the parts go (e.g. parts:///dir)"},
                                {"message-format", 0, "FMT",
                                 "broker messages: part (default), tdtp (TDTP XML packets) or "
                                 "json (one JSON object per row); the destination's format="}},
                               RunFlags()),
                        LogFlags()),
                 true, false, true, false, CmdExport});
    c.push_back({"import", "sluice import FROM --into DST [--workers N] [flags]",
                 "apply parts to a destination with N parallel workers",
                 "Workers take parts in any order and apply each atomically together with\n"
                 "its idempotency key; parts already applied are counted as duplicates.\n"
                 "A part is acknowledged to its transport only after the commit.\n",
                 Concat(Concat(Concat({{"into", 0, "DST", "the destination (e.g. sqlite:///db?table=t)"},
                                       {"group", 0, "G",
                                        "consumer group of a broker subscription (processes in "
                                        "one group share the work)"},
                                       {"until-end", 0, "",
                                        "broker: wait until every stream seen has ended (an "
                                        "export may still be running)"},
                                       {"follow", 0, "", "broker: keep importing until SIGINT"},
                                       {"message-format", 0, "FMT",
                                        "broker messages: part (default; TDTP packets are "
                                        "recognized) or json (one JSON object per row)"}},
                                      RunFlags()),
                               StateFlags()),
                        LogFlags()),
                 false, true, false, true, CmdImport});
    c.push_back({"relay", "sluice relay FROM --to DEST [flags]",
                 "forward parts unchanged from a directory, topic or queue to another",
                 "Publishes every part FROM delivers byte for byte (same stream ids and\n"
                 "idempotency keys, so destinations that saw some of them skip those) and\n"
                 "acknowledges each to FROM only after DEST made it durable.\n",
                 Concat(Concat({{"to", 0, "DEST", "where the parts go (e.g. kafka://host/topic)"},
                                {"group", 0, "G", "consumer group when FROM is a topic"}},
                               RunFlags()),
                        LogFlags()),
                 false, false, true, true, CmdRelay});
    c.push_back({"runs", "sluice runs DST | --state FILE [--stream S] [--limit N] [--json]",
                 "list recent runs from a destination's run log",
                 "Reads the run log (sluice_run_log, or --run-log TABLE) that copy and import\n"
                 "append to in the destination database, or in the --state FILE of runs whose\n"
                 "destination is not a database. Newest first; --json prints JSON Lines.\n",
                 Concat({{"stream", 0, "NAME", "only runs of this stream"},
                         {"limit", 'n', "N", "at most N runs (default 20)"},
                         {"run-log", 0, "TABLE", "run log table (default sluice_run_log)"},
                         {"state", 0, "FILE", "local state file"},
                         {"json", 0, "", "one JSON object per run"},
                         {"dst-opt", 0, "KEY=VALUE", "destination option", true}},
                        LogFlags()),
                 false, false, false, false, CmdRuns});
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
