#include "connectors/state.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

namespace sluice {

const std::vector<RunLogColumn>& RunLogColumns() {
  static const std::vector<RunLogColumn> columns = {
      {"run_id", RunLogColumn::kText},           {"pipeline", RunLogColumn::kText},
      {"stream", RunLogColumn::kText},           {"command", RunLogColumn::kText},
      {"source", RunLogColumn::kText},           {"destination", RunLogColumn::kText},
      {"started_at", RunLogColumn::kTime},       {"finished_at", RunLogColumn::kTime},
      {"rows_read", RunLogColumn::kInteger},     {"rows_written", RunLogColumn::kInteger},
      {"parts", RunLogColumn::kInteger},         {"bytes", RunLogColumn::kInteger},
      {"status", RunLogColumn::kText},           {"error", RunLogColumn::kText},
      {"watermark_before", RunLogColumn::kText}, {"watermark_after", RunLogColumn::kText},
  };
  return columns;
}

std::vector<std::optional<std::string>> RunLogValues(const RunRecord& r) {
  auto opt = [](const std::string& s) -> std::optional<std::string> {
    if (s.empty()) return std::nullopt;
    return s;
  };
  return {r.run_id,
          r.pipeline,
          r.stream,
          r.command,
          r.source,
          r.destination,
          r.started_at,
          opt(r.finished_at),
          std::to_string(r.rows_read),
          std::to_string(r.rows_written),
          std::to_string(r.parts),
          std::to_string(r.bytes),
          r.status,
          r.error,
          r.watermark_before,
          r.watermark_after};
}

Status SetRunLogValue(int index, const std::optional<std::string>& text, RunRecord* r) {
  const auto& cols = RunLogColumns();
  if (index < 0 || index >= static_cast<int>(cols.size())) {
    return Status::Internal("run log column index " + std::to_string(index) + " out of range");
  }
  const std::string v = text.value_or("");
  int64_t n = 0;
  if (cols[index].kind == RunLogColumn::kInteger && text.has_value()) {
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size()) {
      return Status::InvalidData(std::string("run log column ") + cols[index].name + ": '" + v +
                                 "' is not an integer");
    }
  }
  switch (index) {
    case 0: r->run_id = v; break;
    case 1: r->pipeline = v; break;
    case 2: r->stream = v; break;
    case 3: r->command = v; break;
    case 4: r->source = v; break;
    case 5: r->destination = v; break;
    case 6: r->started_at = v; break;
    case 7: r->finished_at = v; break;
    case 8: r->rows_read = n; break;
    case 9: r->rows_written = n; break;
    case 10: r->parts = n; break;
    case 11: r->bytes = n; break;
    case 12: r->status = v; break;
    case 13: r->error = v; break;
    case 14: r->watermark_before = v; break;
    case 15: r->watermark_after = v; break;
  }
  return Status::OK();
}

std::string NewRunId() {
  static thread_local std::mt19937_64 rng([] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
           static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }());
  std::string out;
  for (int i = 0; i < 2; ++i) {
    uint64_t x = rng();
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(x));
    out += buf;
  }
  return out;
}

std::string NowUtcText() {
  auto now = std::chrono::time_point_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now());
  int64_t us = now.time_since_epoch().count();
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%06lld", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(us % 1000000));
  return buf;
}

std::string HexEncode(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.resize(bytes.size() * 2);
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = digits[b >> 4];
    out[2 * i + 1] = digits[b & 15];
  }
  return out;
}

Result<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return Status::InvalidData("hex text has an odd length");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return Status::InvalidData("hex text has a non-hex character at offset " +
                                 std::to_string(hi < 0 ? 2 * i : 2 * i + 1));
    }
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

}  // namespace sluice
