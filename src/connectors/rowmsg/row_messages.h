// Row messages: one JSON object per table row, for broker consumers and
// producers that are not sluice (kcat, a Python client, the reference 004
// pipeline). Shared by the Kafka and RabbitMQ transports.
//
//   export  a part's rows -> one compact JSON object each (keys in schema
//           order, the JSON Lines value conventions of docs/FORMAT.md;
//           timestamps as ISO text or epoch numbers)
//   import  a run of messages -> one native part (the schema given with
//           schema=..., or inferred once from the first batch and then fixed)
//
// Thread safety: RowEncoder is used by one thread; RowBatchDecoder is
// thread-safe (import workers decode batches concurrently).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "connectors/connector.h"
#include "connectors/options.h"
#include "core/status.h"
#include "core/types.h"
#include "formats/jsonl/jsonl.h"

namespace sluice::rowmsg {

inline constexpr char kContentTypeJson[] = "application/json";

struct RowMessageOptions {
  // Import: the columns of the messages. Null: inferred from the first batch
  // one process decodes, then fixed for the run.
  std::shared_ptr<const Schema> schema;
  // Export: how timestamps are written. Import: the unit of epoch numbers in
  // timestamp columns (kIso: seconds; ISO strings are always accepted).
  jsonl::TimestampFormat timestamps = jsonl::TimestampFormat::kIso;
  // Import: keys that name no column are skipped instead of failing the batch.
  bool ignore_unknown_keys = false;
  // Import: a batch (one part for the sink) ends after this many messages or
  // bytes of JSON text, or when the transport has nothing more for now.
  int64_t batch_rows = 50000;
  int64_t batch_bytes = int64_t{8} << 20;
};

// The message_format-related options both transports accept ("schema",
// "timestamps", "ignore_unknown_keys", "batch_rows", "batch_bytes").
OptionSpecs PublisherOptionSpecs();
OptionSpecs SubscriberOptionSpecs();
Result<RowMessageOptions> ParseOptions(const Options& options, bool subscriber);

// Export side.
class RowEncoder {
 public:
  explicit RowEncoder(jsonl::TimestampFormat timestamps) : timestamps_(timestamps) {}
  // Decodes a native part and calls `emit(json, key)` once per row, in
  // order. `key` is the row's primary key as text ("42", "7|EU"; several
  // columns joined by '|'), empty when the schema has no key.
  Status EncodePart(std::string_view part_bytes, std::string_view name,
                    const std::function<Status(std::string_view json, std::string_view key)>& emit);

 private:
  jsonl::TimestampFormat timestamps_;
  std::string text_, key_;
};

// Import side: collects messages of one batch (see Append) and turns them
// into a native part.
class RowBatchDecoder {
 public:
  explicit RowBatchDecoder(RowMessageOptions options);

  // Appends one message to `batch_text` as one line. Raw CR/LF bytes, which
  // JSON only allows as whitespace between tokens, become spaces, so a
  // pretty-printed message is still one line. An empty message becomes a
  // line that fails to parse ("expected a JSON object"), never a silent skip.
  static void Append(std::string_view message, std::string* batch_text);

  // The part for `batch_text` (messages as lines): header fields as given,
  // rows parsed with the schema. `describe(n)` names the n-th message
  // (1-based) in errors: "topic[2]@1207".
  struct PartIdentity {
    std::string stream_id;
    int64_t part_number = 1;
    std::string source_fingerprint;
  };
  Result<std::string> ToPart(std::string_view batch_text, const PartIdentity& identity,
                             const std::function<std::string(int64_t)>& describe);

  // The received part a transport hands the runtime for `batch_text`: the
  // native part, or — when the messages do not parse — the JSON lines with
  // decode_error set (the runtime then fails the run or skips the batch).
  ReceivedPart Received(std::string_view batch_text, const PartIdentity& identity,
                        const std::function<std::string(int64_t)>& describe, std::string name,
                        uint64_t delivery_tag);

  const RowMessageOptions& options() const { return options_; }

 private:
  RowMessageOptions options_;
  std::mutex mu_;
  std::shared_ptr<const Schema> schema_;  // given or inferred; guarded by mu_
};

// FNV-1a of `text` as 16 hex digits: a stream id every process derives alike.
std::string StableHexId(std::string_view text);

}  // namespace sluice::rowmsg
