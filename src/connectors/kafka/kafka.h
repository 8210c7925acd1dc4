// kafka://host:port[,host:port]/topic — parts through an Apache Kafka topic
// (librdkafka C API). A part transport only: publisher and subscriber, no
// table source or sink. See docs/connectors/kafka.md.
//
//   export SRC --to kafka://b:9092/t   one message per part, key = stream id (a
//                                      stream stays in one partition, in order),
//                                      idempotent producer with acks=all; every
//                                      delivery report is checked
//   import kafka://b:9092/t --into DST a consumer-group member; the offset of a
//                                      part is committed only after the sink
//                                      committed it and every earlier part of
//                                      its partition (parts finish out of order
//                                      on N workers), so a crash never skips an
//                                      unapplied part and the sink ledger turns
//                                      redeliveries into skips
//
// Thread safety: see PartPublisher / PartSubscriber in connectors/connector.h
// (publisher: one thread; subscriber: Receive/Ack/Reject from any thread).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "connectors/connector.h"
#include "connectors/rowmsg/row_messages.h"

namespace sluice {

void RegisterKafka(Registry* registry);

namespace kafka {

// Where a kafka:// URI points and how to authenticate.
struct Endpoint {
  std::string brokers;  // "host:port[,host:port]" (bootstrap.servers)
  std::string topic;
  std::string user;      // SASL username (URI user info), may be empty
  std::string password;  // SASL password
};

// Brokers from the authority (several separated by ','), the topic from the
// path (one segment of [A-Za-z0-9._-], at most 249 characters).
Result<Endpoint> ParseEndpoint(const Uri& uri);

// Message headers every published part carries (values are ASCII text).
inline constexpr char kHeaderContentType[] = "content-type";
inline constexpr char kHeaderFormat[] = "sluice-format";  // "part" | "tdtp"
inline constexpr char kHeaderStreamId[] = "sluice-stream-id";
inline constexpr char kHeaderPartNumber[] = "sluice-part-number";
inline constexpr char kHeaderTotalParts[] = "sluice-total-parts";  // 0 while streaming
inline constexpr char kHeaderIdempotencyKey[] = "sluice-idempotency-key";
inline constexpr char kHeaderEnd[] = "sluice-end";  // "1" on the end part, else "0"
inline constexpr char kContentTypePart[] = "application/vnd.apache.arrow.stream";
inline constexpr char kContentTypeTdtp[] = "application/xml";

// What one message carries.
enum class MessageFormat {
  kPart,  // one native part per message (or a TDTP packet: PartEncoding)
  kJson,  // one JSON object per row (rowmsg): for clients that are not sluice
};

// max.message.bytes given to a topic the publisher creates when the
// max_message_bytes option is absent: room for the default 2 MiB parts.
inline constexpr int64_t kCreatedTopicMaxMessageBytes = int64_t{8} << 20;
// The limit assumed when neither the topic's config nor the option is known
// (Kafka's default max.message.bytes is 1 MiB + 12 bytes).
inline constexpr int64_t kDefaultMaxMessageBytes = int64_t{1} << 20;

struct PublisherOptions {
  PartEncoding encoding;
  MessageFormat message_format = MessageFormat::kPart;
  rowmsg::RowMessageOptions rows;  // kJson: timestamps
  // Parts of one stream go round-robin over the topic's partitions (so the
  // members of a consumer group share one export); the end part goes to
  // every partition. false: the whole stream in the partition of its key.
  bool spread = true;
  bool create_topic = false;  // create the topic when it does not exist
  int partitions = 1;         // of a created topic
  int replication = 1;        // of a created topic
  // Largest message sent (part + key + headers + record overhead). When the
  // topic's max.message.bytes can be read, the smaller of the two applies.
  std::optional<int64_t> max_message_bytes;
  int64_t delivery_timeout_ms = 120000;  // message.timeout.ms: a part not acked by then fails
  int64_t flush_timeout_ms = 300000;     // Flush() gives up after this long
  int64_t admin_timeout_ms = 15000;      // metadata, topic creation, config lookup
  int64_t linger_ms = 5;
  // Extra librdkafka properties (TLS, SASL, tuning).
  std::vector<std::pair<std::string, std::string>> properties;
};

struct SubscriberOptions {
  std::string group;         // consumer group (empty: "sluice-" + topic)
  bool follow = false;       // keep waiting for new parts (stop with SIGINT)
  // End only once every assigned partition has the end part of every stream
  // seen in it (an import started before or during the export waits for it
  // to finish) instead of at the first end of the partitions.
  bool until_end = false;
  MessageFormat message_format = MessageFormat::kPart;
  rowmsg::RowMessageOptions rows;  // kJson: schema, batching
  // A part rejected for good (--on-error skip-part) is produced to this
  // topic (same brokers) before the import commits past it; empty: none.
  std::string dead_letter_topic;
  bool from_latest = false;  // where a group without committed offsets starts
  int64_t session_timeout_ms = 45000;
  int64_t lag_interval_ms = 30000;  // follow: how often the consumer lag is logged
  // Bytes of parts fetched ahead of the workers (half in librdkafka's queue,
  // half taken from it; fetching pauses when full); row messages: the size
  // of librdkafka's queue. 0 (auto): 2 MiB per worker for parts (as fast on
  // a local backlog as 24 MiB), 24 MiB for row messages.
  int64_t prefetch_bytes = 0;
  int64_t admin_timeout_ms = 15000;
  std::vector<std::pair<std::string, std::string>> properties;
};

// Make() does no I/O; Open() connects.
Result<std::unique_ptr<PartPublisher>> MakePublisher(Endpoint endpoint, PublisherOptions options);
Result<std::unique_ptr<PartSubscriber>> MakeSubscriber(Endpoint endpoint,
                                                       SubscriberOptions options);

// The option tables registered for kafka:// (also shown by --help).
OptionSpecs PublisherOptionSpecs();
OptionSpecs SubscriberOptionSpecs();

// An upper bound of the size Kafka accounts for one message in a record
// batch (batch header, record framing, key, value, headers), which is what
// the topic's max.message.bytes limits.
int64_t RecordBatchBytes(int64_t key_bytes, int64_t value_bytes,
                         const std::vector<std::pair<std::string, std::string>>& headers);

}  // namespace kafka
}  // namespace sluice
