// Fuzzes row-message import: the input is split at NUL bytes into broker
// messages, batched and turned into a part — with a fixed schema that has a
// timestamp (epoch numbers, ISO text), a decimal and a key, and with an
// inferred one. Whatever decodes must re-encode as rows and decode again to
// the same values (messages -> part -> messages -> part).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "connectors/file/file.h"
#include "connectors/rowmsg/row_messages.h"
#include "core/text.h"
#include "formats/part/part.h"

namespace {

using sluice::rowmsg::RowBatchDecoder;
using sluice::rowmsg::RowMessageOptions;

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "rowmsg_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

std::vector<std::string> Rows(const sluice::part::DecodedPart& p) {
  std::vector<std::string> out;
  for (const auto& b : p.batches) {
    for (int64_t r = 0; r < b.num_rows(); ++r) {
      std::string line;
      for (int c = 0; c < b.num_columns(); ++c) {
        line += b.column(c).IsNull(r) ? "\\N" : sluice::ValueToText(b.column(c), r);
        line.push_back('\x1f');
      }
      out.push_back(std::move(line));
    }
  }
  return out;
}

void RoundTrip(const RowMessageOptions& options, std::string_view input) {
  RowBatchDecoder decoder(options);
  std::string text;
  size_t start = 0;
  for (size_t i = 0; i <= input.size(); ++i) {
    if (i == input.size() || input[i] == '\0') {
      RowBatchDecoder::Append(input.substr(start, i - start), &text);
      start = i + 1;
    }
  }
  auto describe = [](int64_t n) { return "message " + std::to_string(n); };
  auto bytes = decoder.ToPart(text, {"s", 1, "fp"}, describe);
  if (!bytes.ok()) {
    if (bytes.status().message().empty()) Fail("empty error", "");
    return;
  }
  auto first = sluice::part::DecodePart(
      sluice::Buffer::Copy(bytes->data(), static_cast<int64_t>(bytes->size())), "p1");
  if (!first.ok()) Fail("own part does not decode", first.status().message());
  // Out again as row messages (epoch timestamps), then back in.
  sluice::rowmsg::RowEncoder encoder(sluice::jsonl::TimestampFormat::kEpochSeconds);
  std::string again;
  sluice::Status st = encoder.EncodePart(*bytes, "p1", [&](std::string_view json, std::string_view) {
    RowBatchDecoder::Append(json, &again);
    return sluice::Status::OK();
  });
  if (!st.ok()) Fail("re-encoding rows", st.message());
  RowMessageOptions fixed = options;
  fixed.schema = first->schema;
  fixed.timestamps = sluice::jsonl::TimestampFormat::kEpochSeconds;
  RowBatchDecoder second_decoder(fixed);
  auto second = second_decoder.ToPart(again, {"s", 1, "fp"}, describe);
  if (!second.ok()) Fail("re-reading rows", second.status().message());
  auto decoded = sluice::part::DecodePart(
      sluice::Buffer::Copy(second->data(), static_cast<int64_t>(second->size())), "p2");
  if (!decoded.ok()) Fail("second part", decoded.status().message());
  if (Rows(*first) != Rows(*decoded)) Fail("values changed", again.substr(0, 200));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1 << 16)) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static const auto schema =
      *sluice::ParseSchemaSpec("id:int64:key,at:timestamp,amount:decimal(18,3),note:string");
  RowMessageOptions fixed;
  fixed.schema = schema;
  RoundTrip(fixed, input);
  RowMessageOptions ms = fixed;
  ms.timestamps = sluice::jsonl::TimestampFormat::kEpochMillis;
  RoundTrip(ms, input);
  RoundTrip(RowMessageOptions{}, input);
  return 0;
}
