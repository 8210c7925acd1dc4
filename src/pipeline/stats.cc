#include "pipeline/stats.h"

#include <sys/resource.h>

#include <cctype>
#include <cinttypes>
#include <cmath>
#include <cstdio>

#include "core/utf8.h"

namespace sluice::pipeline {

namespace {
void AppendNumber(double v, std::string* out) {
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  char buf[64];
  // Integral values print without a fraction; others with 6 significant digits after the point.
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.6f", v);
  }
  out->append(buf);
}

int Utf8SequenceLength(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 0;
}
}  // namespace

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const int n = Utf8SequenceLength(c);
      if (n > 0 && i + static_cast<size_t>(n) <= s.size() &&
          IsValidUtf8(s.substr(i, static_cast<size_t>(n)))) {
        out->append(s.substr(i, static_cast<size_t>(n)));
        i += static_cast<size_t>(n);
      } else {
        out->append("\\ufffd");
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out->push_back('"');
}

double RunStats::rows_per_s() const {
  return duration_s > 0 ? static_cast<double>(rows) / duration_s : 0.0;
}

double RunStats::mb_per_s() const {
  return duration_s > 0 ? static_cast<double>(bytes) / 1e6 / duration_s : 0.0;
}

std::string RunStats::ToJson() const {
  std::string out = "{";
  bool first = true;
  auto key = [&](std::string_view k) {
    if (!first) out.append(", ");
    first = false;
    AppendJsonString(k, &out);
    out.append(": ");
  };
  auto num = [&](std::string_view k, double v) {
    key(k);
    AppendNumber(v, &out);
  };
  auto str = [&](std::string_view k, std::string_view v) {
    key(k);
    AppendJsonString(v, &out);
  };
  auto list = [&](std::string_view k, const std::vector<std::string>& v) {
    key(k);
    out.push_back('[');
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out.append(", ");
      AppendJsonString(v[i], &out);
    }
    out.push_back(']');
  };
  str("command", command);
  str("source", source);
  str("destination", destination);
  str("output_type", output_type);
  num("workers", workers);
  num("rows", static_cast<double>(rows));
  num("parts", static_cast<double>(parts));
  num("bytes", static_cast<double>(bytes));
  num("duration_s", duration_s);
  key("first_part_ms");
  if (first_part_ms < 0) out.append("null");
  else AppendNumber(first_part_ms, &out);
  num("rows_per_s", rows_per_s());
  num("mb_per_s", mb_per_s());
  num("peak_rss_bytes", static_cast<double>(peak_rss_bytes));
  num("errors", static_cast<double>(errors));
  num("skipped_parts", static_cast<double>(skipped_parts));
  list("skipped", skipped);
  list("rejected_files", rejected_files);
  num("duplicates", static_cast<double>(duplicates));
  num("duplicate_rows", static_cast<double>(duplicate_rows));
  num("retries", static_cast<double>(retries));
  num("incomplete_streams", static_cast<double>(incomplete_streams));
  key("run_id");
  if (run_id.empty()) out.append("null");
  else AppendJsonString(run_id, &out);
  if (incremental) {
    key("incremental");
    out.append("{\"watermark_before\": ");
    if (watermark_before.empty()) out.append("null");
    else AppendJsonString(watermark_before, &out);
    out.append(", \"watermark_after\": ");
    AppendJsonString(watermark_after, &out);
    out.append(", \"rows_read\": ");
    AppendNumber(static_cast<double>(rows_read), &out);
    out.append(", \"rows_unchanged\": ");
    AppendNumber(static_cast<double>(rows_unchanged), &out);
    out.push_back('}');
  }
  key("cancelled");
  out.append(cancelled ? "true" : "false");
  str("error", error);
  out.append("}\n");
  return out;
}

std::string FormatDuration(double seconds) {
  char buf[64];
  if (seconds < 0) seconds = 0;
  if (seconds < 1.0) {
    std::snprintf(buf, sizeof(buf), "%.0fms", seconds * 1000.0);
  } else if (seconds < 60.0) {
    std::snprintf(buf, sizeof(buf), "%.2fs", seconds);
  } else {
    const auto total = static_cast<int64_t>(seconds);
    if (total < 3600) {
      std::snprintf(buf, sizeof(buf), "%lldm%02llds", static_cast<long long>(total / 60),
                    static_cast<long long>(total % 60));
    } else {
      std::snprintf(buf, sizeof(buf), "%lldh%02lldm%02llds", static_cast<long long>(total / 3600),
                    static_cast<long long>(total / 60 % 60), static_cast<long long>(total % 60));
    }
  }
  return buf;
}

std::string FormatMegabytes(int64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

std::string RunStats::ToTable() const {
  std::string title = command.empty() ? "Run" : command;
  title[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(title[0])));
  std::string out = "--- " + title + " Results ---\n";
  auto line = [&](std::string_view k, const std::string& v) {
    std::string l(k);
    l.push_back(':');
    if (l.size() < 17) l.resize(17, ' ');
    else l.push_back(' ');
    out += l + v + "\n";
  };
  auto fmt = [](double v, const char* f) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), f, v);
    return std::string(buf);
  };
  if (!output_type.empty()) line("Output Type", output_type);
  if (!source.empty()) line("Source", source);
  if (!destination.empty()) line("Destination", destination);
  line("Total Parts", std::to_string(parts));
  line("Total Rows", std::to_string(rows));
  line("Duration", FormatDuration(duration_s));
  line("First Part", first_part_ms < 0 ? std::string("-") : FormatDuration(first_part_ms / 1000.0));
  line("Rows/s", fmt(rows_per_s(), "%.0f"));
  line("MB/s", fmt(mb_per_s(), "%.1f"));
  if (workers > 0) line("Workers", std::to_string(workers));
  if (duplicates > 0) {
    line("Duplicates", std::to_string(duplicates) + " parts (" + std::to_string(duplicate_rows) +
                           " rows already applied)");
  }
  if (retries > 0) line("Retries", std::to_string(retries));
  if (incremental) {
    line("Watermark", (watermark_before.empty() ? std::string("(first run)") : watermark_before) +
                          " -> " + (watermark_after.empty() ? std::string("-") : watermark_after));
    line("Rows Read", std::to_string(rows_read) + " (" + std::to_string(rows_unchanged) +
                          " unchanged, skipped)");
  }
  if (!run_id.empty()) line("Run Id", run_id);
  if (skipped_parts > 0) line("Skipped Parts", std::to_string(skipped_parts));
  if (incomplete_streams > 0) line("Incomplete", std::to_string(incomplete_streams) + " streams");
  line("Errors", std::to_string(errors));
  line("Peak RSS", FormatMegabytes(peak_rss_bytes));
  if (cancelled) line("Status", "cancelled");
  for (const auto& s : skipped) out += "  skipped: " + s + "\n";
  for (const auto& r : rejected_files) out += "  rejected copy: " + r + "\n";
  return out;
}

int64_t PeakRssBytes() {
  // VmHWM is this process's own high-water mark. getrusage's ru_maxrss is
  // not: Linux carries it across exec, so a sluice started by a larger
  // process (a Python scheduler) would report its parent's peak.
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    int64_t kb = -1;
    while (std::fgets(line, sizeof(line), f) != nullptr) {
      if (std::sscanf(line, "VmHWM: %" SCNd64 " kB", &kb) == 1) break;
    }
    std::fclose(f);
    if (kb >= 0) return kb * 1024;
  }
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports kilobytes
}

}  // namespace sluice::pipeline
