#include "cli/inspect.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>

#include "connectors/connector.h"
#include "connectors/parts/parts.h"
#include "core/io.h"
#include "core/temporal.h"
#include "formats/jsonl/jsonl.h"
#include "formats/part/part.h"
#include "pipeline/part_codec.h"
#include "pipeline/stats.h"

namespace sluice::cli {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kMaxInspectBytes = int64_t{1} << 30;

// An OutputStream over a stdio FILE (not owned).
class FileStream final : public OutputStream {
 public:
  explicit FileStream(FILE* f) : f_(f) {}
  using OutputStream::Write;
  Status Write(const void* data, int64_t size) override {
    if (size > 0 && std::fwrite(data, 1, static_cast<size_t>(size), f_) != static_cast<size_t>(size)) {
      return Status::IOError("writing to stdout failed");
    }
    position_ += size;
    return Status::OK();
  }
  Status Flush() override {
    return std::fflush(f_) == 0 ? Status::OK() : Status::IOError("flushing stdout failed");
  }
  int64_t position() const override { return position_; }

 private:
  FILE* f_;
  int64_t position_ = 0;
};

// Prints up to `*remaining` rows of batches as JSON Lines.
class RowPrinter {
 public:
  RowPrinter(FILE* out, int64_t rows) : stream_(out), remaining_(rows) {}

  bool done() const { return remaining_ <= 0; }

  Status Print(const RecordBatch& batch) {
    if (remaining_ <= 0 || batch.num_rows() == 0) return Status::OK();
    if (!writer_) {
      SLUICE_ASSIGN_OR_RETURN(writer_, jsonl::JsonlWriter::Make(&stream_, batch.schema()));
    }
    const int64_t n = std::min(remaining_, batch.num_rows());
    remaining_ -= n;
    if (n == batch.num_rows()) return writer_->Write(batch);
    return writer_->Write(batch.Slice(0, n));
  }

  Status Finish() {
    if (writer_) SLUICE_RETURN_NOT_OK(writer_->Finish());
    return stream_.Flush();
  }

 private:
  FileStream stream_;
  int64_t remaining_;
  std::unique_ptr<jsonl::JsonlWriter> writer_;
};

void Line(std::string* out, std::string_view key, const std::string& value) {
  std::string l(key);
  l.push_back(':');
  if (l.size() < 15) l.resize(15, ' ');
  else l.push_back(' ');
  *out += l + value + "\n";
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string SchemaText(const Schema& schema) {
  std::string out = "Schema (" + std::to_string(schema.num_fields()) + " columns):\n";
  size_t width = 4;
  for (const auto& f : schema.fields()) width = std::max(width, f.name.size());
  for (const auto& f : schema.fields()) {
    std::string line = "  " + f.name;
    line.resize(width + 4, ' ');
    line += f.type.ToString();
    if (!f.nullable) line += " NOT NULL";
    if (f.primary_key) line += " PRIMARY KEY";
    if (!f.source_type.empty()) line += "  [" + f.source_type + "]";
    out += line + "\n";
  }
  for (const auto& [k, v] : schema.metadata()) {
    if (k.rfind("sluice.", 0) == 0) continue;  // shown as the header above
    out += "  metadata " + k + " = " + v + "\n";
  }
  return out;
}

Status InspectPart(const std::string& path, const InspectOptions& options, FILE* out) {
  SLUICE_ASSIGN_OR_RETURN(auto bytes, ReadFile(path, kMaxInspectBytes));
  part::DecodeOptions dopts;
  dopts.require_sluice_header = false;
  SLUICE_ASSIGN_OR_RETURN(part::DecodedPart p, part::DecodePart(bytes, path, dopts));
  const part::PartHeader& h = p.header;
  std::string text;
  Line(&text, "File", path);
  Line(&text, "Size", std::to_string(bytes->size()) + " bytes");
  if (!h.has_sluice_header) {
    Line(&text, "Format", "Arrow IPC stream (no sluice header)");
  } else {
    Line(&text, "Format", "sluice part v" + std::to_string(h.format_version));
    Line(&text, "Kind", std::string(part::PartKindName(h.kind)));
    Line(&text, "Stream", h.stream_id);
    if (h.kind == part::PartKind::kEnd) {
      Line(&text, "Part", std::to_string(h.part_number) + " (end of stream)");
      Line(&text, "Total Parts", std::to_string(h.total_parts));
      Line(&text, "Total Rows", std::to_string(h.total_rows));
      Line(&text, "Stream Sum", Hex(h.stream_checksum));
    } else {
      Line(&text, "Part", std::to_string(h.part_number) +
                              (h.total_parts > 0 ? " of " + std::to_string(h.total_parts)
                                                 : " (streaming: total unknown)"));
    }
    if (!h.position_start.empty() || !h.position_end.empty()) {
      Line(&text, "Positions", h.position_start + " .. " + h.position_end);
    }
    if (!h.source_fingerprint.empty()) Line(&text, "Source", h.source_fingerprint);
    Line(&text, "Idempotency", h.idempotency_key);
    std::string created;
    AppendTimestamp(h.created_at_micros, true, &created);
    Line(&text, "Created", created);
    Line(&text, "Checksum", Hex(h.checksum) + " (verified)");
  }
  int64_t rows = 0;
  for (const auto& b : p.batches) rows += b.num_rows();
  Line(&text, "Rows", std::to_string(rows));
  Line(&text, "Batches", std::to_string(p.batches.size()));
  text += SchemaText(*p.schema);
  std::fputs(text.c_str(), options.rows > 0 ? stderr : out);
  if (options.rows > 0) {
    RowPrinter printer(out, options.rows);
    for (const auto& b : p.batches) SLUICE_RETURN_NOT_OK(printer.Print(b));
    SLUICE_RETURN_NOT_OK(printer.Finish());
  }
  return Status::OK();
}

Status InspectDirectory(const std::string& dir, const InspectOptions& options, FILE* out) {
  SLUICE_ASSIGN_OR_RETURN(std::vector<std::string> files, parts::ListPartFiles(dir));
  struct StreamInfo {
    std::vector<part::PartHeader> headers;
    int64_t data_parts = 0, rows = 0;
    bool end = false;
    std::string source;
  };
  std::map<std::string, StreamInfo> streams;
  std::shared_ptr<const Schema> schema;
  int64_t total_bytes = 0;
  std::string problems;
  for (const auto& f : files) {
    auto bytes = ReadFile(f, kMaxInspectBytes);
    if (!bytes.ok()) {
      problems += "  " + bytes.status().message() + "\n";
      continue;
    }
    total_bytes += (*bytes)->size();
    // A TDTP packet has no separate header: decode it whole.
    auto head = pipeline::LooksLikeXml((*bytes)->view()) ? pipeline::DecodeAnyPart(*bytes, f)
                                                          : part::DecodePartHeader(*bytes, f);
    if (!head.ok()) {
      problems += "  " + head.status().message() + "\n";
      continue;
    }
    if (!schema) schema = head->schema;
    auto& s = streams[head->header.stream_id];
    if (head->header.kind == part::PartKind::kEnd) {
      s.end = true;
    } else {
      ++s.data_parts;
      s.rows += head->header.rows;
    }
    if (s.source.empty()) s.source = head->header.source_fingerprint;
    s.headers.push_back(std::move(head->header));
  }
  std::string text;
  Line(&text, "Directory", dir);
  Line(&text, "Part Files", std::to_string(files.size()) + " (" + pipeline::FormatMegabytes(total_bytes) + ")");
  Line(&text, "Streams", std::to_string(streams.size()));
  for (const auto& [id, s] : streams) {
    std::string state;
    int64_t declared = 0;  // TDTP parts may declare their total
    for (const auto& h : s.headers) declared = std::max(declared, h.total_parts);
    if (!s.end && declared > 0) {
      state = s.data_parts == declared ? "complete (all " + std::to_string(declared) + " parts)"
                                       : "incomplete: " + std::to_string(s.data_parts) + " of " +
                                             std::to_string(declared) + " parts";
    } else if (!s.end) {
      state = "no end part (a streaming TDTP export, or an export still running or stopped early)";
    } else {
      Status valid = part::ValidateStream(s.headers, "stream " + id);
      state = valid.ok() ? "complete" : "INVALID: " + valid.message();
    }
    text += "  stream " + id + ": " + std::to_string(s.data_parts) + " data parts, " +
            std::to_string(s.rows) + " rows, " + state + "\n";
    if (!s.source.empty()) text += "    source: " + s.source + "\n";
  }
  if (!problems.empty()) text += "Unreadable part files:\n" + problems;
  if (schema) text += SchemaText(*schema);
  std::fputs(text.c_str(), options.rows > 0 ? stderr : out);
  if (options.rows > 0 && schema) {
    RowPrinter printer(out, options.rows);
    for (const auto& f : files) {
      if (printer.done()) break;
      SLUICE_ASSIGN_OR_RETURN(auto bytes, ReadFile(f, kMaxInspectBytes));
      part::DecodeOptions dopts;
      dopts.expected_schema = schema;
      SLUICE_ASSIGN_OR_RETURN(part::DecodedPart p, pipeline::DecodeAnyPart(bytes, f, dopts));
      for (const auto& b : p.batches) SLUICE_RETURN_NOT_OK(printer.Print(b));
    }
    SLUICE_RETURN_NOT_OK(printer.Finish());
  }
  if (!problems.empty()) {
    return Status::InvalidData(dir + ": some part files could not be read (listed above)");
  }
  return Status::OK();
}

Status InspectSource(const std::string& uri, const InspectOptions& options, FILE* out) {
  SLUICE_ASSIGN_OR_RETURN(auto source, Registry::Global().MakeSource(uri, options.source_options));
  SourceOptions sopts;
  SLUICE_RETURN_NOT_OK_CTX(source->Open(sopts), "opening " + uri);
  auto schema = source->schema();
  std::string text;
  Line(&text, "Source", uri);
  Line(&text, "Fingerprint", source->Fingerprint());
  RowPrinter printer(out, options.rows);
  int64_t rows = 0;
  SLUICE_ASSIGN_OR_RETURN(std::vector<Split> splits, source->Plan(1));
  for (const auto& split : splits) {
    SLUICE_ASSIGN_OR_RETURN(auto reader, source->OpenSplit(split));
    while (true) {
      SLUICE_ASSIGN_OR_RETURN(auto batch, reader->Next());
      if (!batch) break;
      rows += batch->num_rows();
      SLUICE_RETURN_NOT_OK(printer.Print(*batch));
    }
  }
  SLUICE_RETURN_NOT_OK(source->Close());
  Line(&text, "Rows", std::to_string(rows));
  if (schema) text += SchemaText(*schema);
  std::fputs(text.c_str(), options.rows > 0 ? stderr : out);
  return printer.Finish();
}

}  // namespace

Status Inspect(const std::string& target, const InspectOptions& options, FILE* out) {
  if (target.find("://") != std::string::npos) return InspectSource(target, options, out);
  std::error_code ec;
  const fs::file_status st = fs::status(target, ec);
  if (ec || !fs::exists(st)) return Status::NotFound("no such file or directory '" + target + "'");
  if (fs::is_directory(st)) return InspectDirectory(target, options, out);
  // A part (or any Arrow IPC stream) starts with the continuation marker.
  char head[4] = {};
  if (FILE* f = std::fopen(target.c_str(), "rb")) {
    const size_t n = std::fread(head, 1, sizeof(head), f);
    std::fclose(f);
    if (n == 4 && std::memcmp(head, "\xFF\xFF\xFF\xFF", 4) == 0) {
      return InspectPart(target, options, out);
    }
  } else {
    return Status::IOError("cannot open '" + target + "': " + std::strerror(errno));
  }
  if (target.size() > 5 && target.compare(target.size() - 5, 5, ".part") == 0) {
    return InspectPart(target, options, out);  // reports why it is not a valid part
  }
  // Any other file goes through the registry as file:///<absolute path>.
  std::string uri = "file://";
  for (char c : fs::absolute(target, ec).string()) {
    if (c == '%' || c == '?' || c == '#' || c == '&') {
      char esc[4];
      std::snprintf(esc, sizeof(esc), "%%%02X", static_cast<unsigned char>(c));
      uri += esc;
    } else {
      uri.push_back(c);
    }
  }
  return InspectSource(uri, options, out);
}

}  // namespace sluice::cli
