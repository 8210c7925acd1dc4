// End-to-end throughput of the SQLite connector (not a unit test; timings
// are printed, never asserted). Compare with the sqlite3 shell using
// src/connectors/sqlite/bench.sh, which runs this and `sqlite3 -csv` /
// `.import` on the same data.
//
//   sqlite_bench write DB ROWS [writers]   MixedBatch rows -> table "t" (replace mode)
//   sqlite_bench read DB [splits]          table "t" -> batches (discarded)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "connectors/sqlite/sqlite.h"
#include "core/testing.h"

using namespace sluice;

namespace {
double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int Fail(const Status& st) {
  std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s write DB ROWS [writers] | read DB [splits]\n", argv[0]);
    return 2;
  }
  Registry registry;
  RegisterSqlite(&registry);
  std::string mode = argv[1];
  std::string uri = std::string("sqlite://") + argv[2];
  if (mode == "write") {
    int64_t rows = argc > 3 ? std::atoll(argv[3]) : 1000000;
    int writers = argc > 4 ? std::atoi(argv[4]) : 1;
    const int64_t part_rows = 20000;  // ~1-2 MB parts, like the runtime's default
    std::vector<RecordBatch> parts;
    for (int64_t r = 0; r < rows; r += part_rows) {
      parts.push_back(testing::MixedBatch(std::min(part_rows, rows - r), 7 + static_cast<uint64_t>(r), r));
    }
    auto sink = registry.MakeSink(uri, {{"table", "t"}, {"mode", "replace"}});
    if (!sink.ok()) return Fail(sink.status());
    double t0 = Now();
    if (auto st = (*sink)->Open(testing::MixedSchema()); !st.ok()) return Fail(st);
    std::vector<std::thread> threads;
    std::vector<Status> errors(static_cast<size_t>(writers));
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        auto writer = (*sink)->NewWriter();
        if (!writer.ok()) {
          errors[static_cast<size_t>(w)] = writer.status();
          return;
        }
        for (size_t p = static_cast<size_t>(w); p < parts.size(); p += static_cast<size_t>(writers)) {
          auto r = (*writer)->ApplyPart(PartInfo{"part" + std::to_string(p), "bench",
                                                 static_cast<int64_t>(p + 1), parts[p].num_rows()},
                                        {parts[p]});
          if (!r.ok()) {
            errors[static_cast<size_t>(w)] = r.status();
            return;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& e : errors) {
      if (!e.ok()) return Fail(e);
    }
    if (auto st = (*sink)->Commit(); !st.ok()) return Fail(st);
    double secs = Now() - t0;
    std::printf("write: %lld rows in %.3f s = %.0f rows/s (%d writers)\n", static_cast<long long>(rows),
                secs, static_cast<double>(rows) / secs, writers);
    return 0;
  }
  if (mode == "read") {
    int splits = argc > 3 ? std::atoi(argv[3]) : 1;
    std::vector<std::pair<std::string, std::string>> opts = {{"table", "t"}};
    for (int i = 4; i + 1 < argc; i += 2) opts.emplace_back(argv[i], argv[i + 1]);
    auto source = registry.MakeSource(uri, opts);
    if (!source.ok()) return Fail(source.status());
    double t0 = Now();
    if (auto st = (*source)->Open(SourceOptions()); !st.ok()) return Fail(st);
    double t_open = Now() - t0;
    auto plan = (*source)->Plan(splits);
    if (!plan.ok()) return Fail(plan.status());
    std::vector<std::thread> threads;
    std::vector<int64_t> counts(plan->size());
    std::vector<Status> errors(plan->size());
    for (size_t i = 0; i < plan->size(); ++i) {
      threads.emplace_back([&, i] {
        auto reader = (*source)->OpenSplit((*plan)[i]);
        if (!reader.ok()) {
          errors[i] = reader.status();
          return;
        }
        while (true) {
          auto batch = (*reader)->Next();
          if (!batch.ok()) {
            errors[i] = batch.status();
            return;
          }
          if (!*batch) break;
          counts[i] += (*batch)->num_rows();
        }
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& e : errors) {
      if (!e.ok()) return Fail(e);
    }
    double secs = Now() - t0;
    int64_t rows = 0;
    for (int64_t c : counts) rows += c;
    std::printf("read: %lld rows in %.3f s (open %.3f s) = %.0f rows/s (%zu splits)\n",
                static_cast<long long>(rows), secs, t_open, static_cast<double>(rows) / secs,
                plan->size());
    return (*source)->Close().ok() ? 0 : 1;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
