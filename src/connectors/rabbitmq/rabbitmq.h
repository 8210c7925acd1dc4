// amqp://user:pass@host:port/vhost?queue=Q — parts through a RabbitMQ queue
// (rabbitmq-c). A part transport only: publisher and subscriber, no table
// source or sink. See docs/connectors/rabbitmq.md.
//
//   export SRC --to amqp://…?queue=q   one persistent message per part, with
//                                      publisher confirms: Flush() returns once
//                                      the broker confirmed every part, and
//                                      fails on a nack or a returned
//                                      (unroutable) message
//   import amqp://…?queue=q --into DST a competing consumer with manual acks:
//                                      a part is acked only after the sink
//                                      committed it; unacked parts are
//                                      redelivered by the broker and the sink
//                                      ledger turns redeliveries into skips
//
// Thread safety: see PartPublisher / PartSubscriber in connectors/connector.h
// (publisher: one thread; subscriber: Receive/Ack/Reject from any thread —
// rabbitmq-c connections are not thread-safe, so the subscriber serializes
// every use of its one connection behind a mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "connectors/connector.h"
#include "connectors/rowmsg/row_messages.h"

namespace sluice {

void RegisterRabbitmq(Registry* registry);

namespace rabbitmq {

// Where an amqp:// URI points and how to connect.
struct Endpoint {
  std::string host;
  int port = 5672;
  std::string vhost = "/";
  std::string user = "guest";
  std::string password = "guest";
  bool tls = false;
  std::string ca, cert, key;  // PEM files (tls only)
  bool verify = true;         // tls: verify the peer certificate and host name
  int64_t connect_timeout_ms = 10000;
  int heartbeat_s = 0;  // 0: no heartbeats (rabbitmq-c only services them inside its calls)

  // "host:port vhost '/'" for errors and logs.
  std::string Describe() const;
};

// Host, port (default 5672; amqps://: TLS, port 5671), user info and vhost
// (the path without its leading '/', percent-decoded: %2f is "/"; empty
// means "/").
Result<Endpoint> ParseEndpoint(const Uri& uri);

// Message headers every published part carries.
inline constexpr char kHeaderStreamId[] = "sluice-stream-id";      // string
inline constexpr char kHeaderPartNumber[] = "sluice-part-number";  // long (int64)
inline constexpr char kHeaderTotalParts[] = "sluice-total-parts";  // long; 0 while streaming
inline constexpr char kHeaderEnd[] = "sluice-end";                 // boolean
inline constexpr char kHeaderFormat[] = "sluice-format";           // "part"
inline constexpr char kContentTypePart[] = "application/vnd.apache.arrow.stream";

// Names of the dead-letter topology declared next to queue `q`.
inline std::string DeadLetterExchange(const std::string& queue) { return queue + ".dlx"; }
inline std::string DeadLetterQueue(const std::string& queue) { return queue + ".dead"; }

struct PublisherOptions {
  std::string queue;                  // declared (unless !declare) and the default routing key
  std::string exchange;               // "" = the default exchange (routes by queue name)
  std::string routing_key;            // default: queue
  bool declare = true;                // declare the durable queue (and its dead-letter topology)
  bool dead_letter = true;            // declare the queue with x-dead-letter-exchange = <queue>.dlx
  int max_unconfirmed = 64;           // Publish blocks while this many await confirms
  // What a message carries: a native part, a TDTP packet (encoding), or
  // (json_rows) one JSON object per row with rows.timestamps.
  PartEncoding encoding;
  bool json_rows = false;
  rowmsg::RowMessageOptions rows;
  int64_t flush_timeout_ms = 300000;  // Flush() gives up after this long
};

struct SubscriberOptions {
  std::string queue;
  int prefetch = 8;        // basic.qos prefetch count
  bool follow = false;     // keep consuming until stopped; else end when drained
  int64_t idle_ms = 2000;  // follow=false: the queue empty this long and nothing in flight → end
  int max_attempts = 3;    // a part failing this many deliveries is dead-lettered
  bool declare = true;     // declare the queue like the publisher (else it must exist)
  bool dead_letter = true;
  // One JSON object per message, gathered into batches (parts) of up to
  // rows.batch_rows messages (at most kMaxJsonBatch; prefetch is raised to
  // hold two batches).
  bool json_rows = false;
  rowmsg::RowMessageOptions rows;
};
inline constexpr int64_t kMaxJsonBatch = 30000;

// Make() does no I/O; Open() connects.
Result<std::unique_ptr<PartPublisher>> MakePublisher(Endpoint endpoint, PublisherOptions options);
Result<std::unique_ptr<PartSubscriber>> MakeSubscriber(Endpoint endpoint,
                                                       SubscriberOptions options);

// The option tables registered for amqp:// (also shown by --help).
OptionSpecs PublisherOptionSpecs();
OptionSpecs SubscriberOptionSpecs();

}  // namespace rabbitmq
}  // namespace sluice
