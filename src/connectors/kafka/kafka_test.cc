// Kafka transport tests against librdkafka's in-process mock cluster
// (rdkafka_mock.h): no broker needed. The mock answers produce, fetch,
// metadata, offsets and consumer-group requests, but not admin requests
// (CreateTopics, DescribeConfigs): topics are created with
// rd_kafka_mock_topic_create, and the publisher falls back to its
// max_message_bytes option after a short admin_timeout.
#include "connectors/kafka/kafka.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "connectors/gen/gen.h"
#include "connectors/kafka/kafka_client.h"
#include "core/log.h"
#include "core/temp_dir.h"
#include "core/testing.h"
#include "formats/part/part.h"
#include "pipeline/runtime.h"

namespace sluice::kafka {
namespace {

namespace fs = std::filesystem;

const bool kQuietLogs = [] {
  SetLogLevel(LogLevel::kError);
  return true;
}();

// A mock cluster on 127.0.0.1 (random ports) for one test.
class MockCluster {
 public:
  explicit MockCluster(int brokers = 1) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, LogCallback);
    handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    EXPECT_NE(handle_, nullptr) << err;
    cluster_ = rd_kafka_mock_cluster_new(handle_, brokers);
    EXPECT_NE(cluster_, nullptr);
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(handle_);
  }
  rd_kafka_mock_cluster_t* get() const { return cluster_; }
  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
  void CreateTopic(const std::string& topic, int partitions) {
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  // The mock has no controller for admin requests: a short admin_timeout
  // keeps the publisher's config lookup from slowing the tests down.
  std::string PublisherUri(const std::string& topic, const std::string& query = "") const {
    return "kafka://" + bootstraps() + "/" + topic + "?admin_timeout=300ms&delivery_timeout=10s" +
           (query.empty() ? "" : "&" + query);
  }
  std::string SubscriberUri(const std::string& topic, const std::string& group,
                            const std::string& query = "") const {
    return "kafka://" + bootstraps() + "/" + topic + "?group=" + group +
           "&session_timeout=6s&admin_timeout=5s" + (query.empty() ? "" : "&" + query);
  }

 private:
  rd_kafka_t* handle_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

std::unique_ptr<PartPublisher> OpenPublisher(const std::string& uri) {
  auto p = Registry::Global().MakePublisher(uri);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  if (!p.ok()) return nullptr;
  Status st = (*p)->Open();
  EXPECT_TRUE(st.ok()) << st.ToString();
  return std::move(*p);
}

std::unique_ptr<PartSubscriber> OpenSubscriber(const std::string& uri) {
  auto s = Registry::Global().MakeSubscriber(uri);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (!s.ok()) return nullptr;
  Status st = (*s)->Open();
  EXPECT_TRUE(st.ok()) << st.ToString();
  return std::move(*s);
}

// Deterministic, distinct payload bytes for part `n` of `stream`.
std::string Payload(const std::string& stream, int64_t n, size_t size) {
  std::string out(size, '\0');
  uint64_t x =
      std::hash<std::string>()(stream) ^ (static_cast<uint64_t>(n) * 0x9E3779B97F4A7C15ull);
  for (size_t i = 0; i < size; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<char>(x);
  }
  return out;
}

PartMeta Meta(const std::string& stream, int64_t n, int64_t total = 0, bool end = false) {
  PartMeta m;
  m.stream_id = stream;
  m.part_number = n;
  m.total_parts = total;
  m.rows = end ? 0 : 10 * n;
  m.idempotency_key = stream + "-key-" + std::to_string(n);
  m.end_of_stream = end;
  return m;
}

// Parts received until kEnd (acking each), or until `max_parts` arrived.
std::vector<ReceivedPart> ReceiveAll(PartSubscriber* sub, size_t max_parts, bool ack,
                                     int64_t budget_ms = 60000) {
  std::vector<ReceivedPart> out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(budget_ms);
  while (out.size() < max_parts && std::chrono::steady_clock::now() < deadline) {
    auto d = sub->Receive(200);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    if (!d.ok() || d->state == Delivery::State::kEnd) break;
    if (d->state == Delivery::State::kIdle) continue;
    if (ack) {
      Status st = sub->Ack(d->part);
      EXPECT_TRUE(st.ok()) << st.ToString();
    }
    out.push_back(std::move(d->part));
  }
  return out;
}

// Waits for the end of the subscription (nothing more to deliver).
bool ReachesEnd(PartSubscriber* sub, int64_t budget_ms = 30000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(budget_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    auto d = sub->Receive(200);
    if (!d.ok()) return false;
    if (d->state == Delivery::State::kEnd) return true;
    if (d->state == Delivery::State::kPart) {
      ADD_FAILURE() << "unexpected part " << d->part.name;
      return false;
    }
  }
  return false;
}

// The group's committed offset of each partition (RD_KAFKA_OFFSET_INVALID
// when none), read by a separate client that does not join the group.
std::map<int32_t, int64_t> Committed(const std::string& bootstraps, const std::string& group,
                                     const std::string& topic, int partitions) {
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, LogCallback);
  EXPECT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps.c_str(), err, sizeof(err)),
            RD_KAFKA_CONF_OK);
  EXPECT_EQ(rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof(err)), RD_KAFKA_CONF_OK);
  Handle rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err)));
  EXPECT_TRUE(rk) << err;
  PartitionList list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
  EXPECT_EQ(rd_kafka_committed(rk.get(), list.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  std::map<int32_t, int64_t> out;
  for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
  rd_kafka_consumer_close(rk.get());
  return out;
}

struct RawMessage {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key, value;
  std::map<std::string, std::string> headers;
};

// Every message of the topic, read by partition assignment (no group).
std::vector<RawMessage> ReadTopic(const std::string& bootstraps, const std::string& topic,
                                  int partitions) {
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, LogCallback);
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "group.id", "raw-reader", err, sizeof(err));
  rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err));
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
  Handle rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err)));
  EXPECT_TRUE(rk) << err;
  PartitionList list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  EXPECT_EQ(rd_kafka_assign(rk.get(), list.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
  std::vector<RawMessage> out;
  std::set<int32_t> eof;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (static_cast<int>(eof.size()) < partitions && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      eof.insert(m->partition);
    } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      RawMessage r;
      r.partition = m->partition;
      r.offset = m->offset;
      r.key.assign(static_cast<const char*>(m->key), m->key_len);
      r.value.assign(static_cast<const char*>(m->payload), m->len);
      rd_kafka_headers_t* hdrs = nullptr;
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          r.headers[name] = std::string(static_cast<const char*>(value), size);
        }
      }
      out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  EXPECT_EQ(static_cast<int>(eof.size()), partitions) << "did not reach the end of every partition";
  rd_kafka_consumer_close(rk.get());
  return out;
}

// ---------------------------------------------------------------------------
// URI and options

TEST(KafkaEndpoint, ParsesBrokersAndTopic) {
  auto parse = [](const std::string& text) -> Result<Endpoint> {
    SLUICE_ASSIGN_OR_RETURN(Uri uri, Uri::Parse(text));
    return ParseEndpoint(uri);
  };
  auto one = parse("kafka://127.0.0.1:59092/t1");
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->brokers, "127.0.0.1:59092");
  EXPECT_EQ(one->topic, "t1");
  auto many = parse("kafka://a:1,b:2,c:3/orders.v2_x-y?group=g");
  ASSERT_TRUE(many.ok()) << many.status().ToString();
  EXPECT_EQ(many->brokers, "a:1,b:2,c:3");
  EXPECT_EQ(many->topic, "orders.v2_x-y");
  auto sasl = parse("kafka://me:secret@broker:9093/t");
  ASSERT_TRUE(sasl.ok());
  EXPECT_EQ(sasl->user, "me");
  EXPECT_EQ(sasl->password, "secret");
  auto v6 = parse("kafka://[::1]:9092/t");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->brokers, "[::1]:9092");

  for (const char* bad : {"kafka://127.0.0.1:9092", "kafka://127.0.0.1:9092/", "kafka:///t",
                          "kafka://h:1/a/b", "kafka://h:1/a%20b", "kafka://h:1/.."}) {
    auto r = parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
      EXPECT_NE(r.status().message().find("kafka://host:port"), std::string::npos)
          << r.status().message();
    }
  }
  EXPECT_FALSE(parse("kafka://h:1/" + std::string(250, 'a')).ok());
}

TEST(KafkaEndpoint, ParsesProperties) {
  auto p = ParseProperties(
      " security.protocol = SASL_SSL ;sasl.mechanism=SCRAM-SHA-512\nssl.ca.location=/a=b; ");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->size(), 3u);
  EXPECT_EQ((*p)[0], std::make_pair(std::string("security.protocol"), std::string("SASL_SSL")));
  EXPECT_EQ((*p)[1], std::make_pair(std::string("sasl.mechanism"), std::string("SCRAM-SHA-512")));
  EXPECT_EQ((*p)[2], std::make_pair(std::string("ssl.ca.location"), std::string("/a=b")));
  EXPECT_FALSE(ParseProperties("novalue").ok());
  EXPECT_FALSE(ParseProperties("=x").ok());
  EXPECT_TRUE(ParseProperties("").ok());
}

TEST(KafkaEndpoint, RegisteredAsTransportOnly) {
  const ConnectorInfo* info = Registry::Global().Find("kafka");
  ASSERT_NE(info, nullptr);
  EXPECT_TRUE(info->make_publisher);
  EXPECT_TRUE(info->make_subscriber);
  EXPECT_FALSE(info->make_source);
  EXPECT_FALSE(info->make_sink);
  auto pub = Registry::Global().MakePublisher("kafka://127.0.0.1:1/t");
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  EXPECT_EQ((*pub)->kind(), "kafka topic");
  EXPECT_EQ((*pub)->encoding().format, PartEncoding::Format::kPart);
  auto tdtp = Registry::Global().MakePublisher("kafka://127.0.0.1:1/orders?format=tdtp");
  ASSERT_TRUE(tdtp.ok());
  EXPECT_EQ((*tdtp)->encoding().format, PartEncoding::Format::kTdtp);
  EXPECT_EQ((*tdtp)->encoding().table_name, "orders");
  auto sub = Registry::Global().MakeSubscriber("kafka://127.0.0.1:1/t?group=g&follow=true");
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  EXPECT_EQ((*sub)->kind(), "kafka topic");
  // Following never lets the runtime end the import on complete streams.
  EXPECT_FALSE((*sub)->delivers_whole_streams());
  auto plain = Registry::Global().MakeSubscriber("kafka://127.0.0.1:1/t");
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE((*plain)->delivers_whole_streams());

  EXPECT_FALSE(Registry::Global().MakePublisher("kafka://127.0.0.1:1/t?nope=1").ok());
  EXPECT_FALSE(Registry::Global().MakePublisher("kafka://127.0.0.1:1/t?partitions=0").ok());
  EXPECT_FALSE(Registry::Global().MakeSubscriber("kafka://127.0.0.1:1/t?from=middle").ok());
  // What the guarantees rest on cannot be overridden.
  auto managed = Registry::Global().MakeSubscriber(
      "kafka://127.0.0.1:1/t?properties=enable.auto.commit%3Dtrue");
  ASSERT_TRUE(managed.ok());
  Status st = (*managed)->Open();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("enable.auto.commit"), std::string::npos) << st.message();
}

TEST(KafkaEndpoint, RecordBatchBytesCoversFraming) {
  const std::vector<std::pair<std::string, std::string>> headers = {{"ab", "cde"}};
  const int64_t n = RecordBatchBytes(4, 1000, headers);
  EXPECT_GE(n, 61 + 4 + 1000 + 2 + 3);
  EXPECT_LE(n, 61 + 4 + 1000 + 2 + 3 + 100);
}

// ---------------------------------------------------------------------------
// Against the mock cluster

// By default a stream's data parts go round-robin over the partitions and its
// end part to every partition, after the data parts there.
TEST(KafkaMock, PartsOfOneStreamSpreadOverThePartitionsWithTheEndInEach) {
  MockCluster cluster;
  cluster.CreateTopic("spread", 3);
  auto pub = OpenPublisher(cluster.PublisherUri("spread", "max_message_bytes=1MiB"));
  ASSERT_NE(pub, nullptr);
  const std::string stream = "cccc000011112222";
  for (int64_t n = 1; n <= 7; ++n) {
    const bool end = n == 7;
    ASSERT_TRUE(pub->Publish(Meta(stream, n, end ? 6 : 0, end), Payload(stream, n, 500)).ok());
  }
  ASSERT_TRUE(pub->Flush().ok());
  ASSERT_TRUE(pub->Close().ok());
  const auto messages = ReadTopic(cluster.bootstraps(), "spread", 3);
  ASSERT_EQ(messages.size(), 6u + 3u);
  std::map<int32_t, std::vector<int64_t>> numbers;  // partition -> part numbers in offset order
  for (const auto& m : messages) {
    EXPECT_EQ(m.key, stream);
    numbers[m.partition].push_back(std::stoll(m.headers.at("sluice-part-number")));
  }
  ASSERT_EQ(numbers.size(), 3u);
  for (auto& [p, ns] : numbers) {
    ASSERT_EQ(ns.size(), 3u) << "partition " << p;
    EXPECT_EQ(ns.back(), 7) << "the end part is last in partition " << p;
    EXPECT_EQ((ns[0] - 1) % 3, p);
    EXPECT_EQ(ns[1], ns[0] + 3);
  }
}

TEST(KafkaMock, PublishedPartsCarryKeyHeadersAndBytesAndAreReceivedWhole) {
  MockCluster cluster;
  cluster.CreateTopic("parts", 3);
  // spread=false: a stream stays in its key's partition.
  auto pub = OpenPublisher(cluster.PublisherUri("parts", "max_message_bytes=1MiB&spread=false"));
  ASSERT_NE(pub, nullptr);
  // Two streams of 4 data parts and an end part each, interleaved.
  std::map<std::string, std::string> published;  // bytes -> "stream/n"
  for (int64_t n = 1; n <= 5; ++n) {
    for (const std::string stream : {"aaaa000011112222", "bbbb333344445555"}) {
      const bool end = n == 5;
      const std::string bytes = Payload(stream, n, 1000 + static_cast<size_t>(n) * 37);
      ASSERT_TRUE(pub->Publish(Meta(stream, n, end ? 4 : 0, end), bytes).ok());
      published[bytes] = stream + "/" + std::to_string(n);
    }
  }
  Status flushed = pub->Flush();
  ASSERT_TRUE(flushed.ok()) << flushed.ToString();
  ASSERT_TRUE(pub->Close().ok());

  const auto messages = ReadTopic(cluster.bootstraps(), "parts", 3);
  ASSERT_EQ(messages.size(), 10u);
  std::map<std::string, std::set<int32_t>> partitions_of;
  std::map<std::string, int64_t> last_number;
  for (const auto& m : messages) {
    partitions_of[m.key].insert(m.partition);
    ASSERT_TRUE(published.contains(m.value)) << "unknown payload at offset " << m.offset;
    const std::string& id = published.at(m.value);
    const std::string stream = id.substr(0, id.find('/'));
    const int64_t n = std::stoll(id.substr(id.find('/') + 1));
    EXPECT_EQ(m.key, stream);
    EXPECT_EQ(m.headers.at("content-type"), "application/vnd.apache.arrow.stream");
    EXPECT_EQ(m.headers.at("sluice-format"), "part");
    EXPECT_EQ(m.headers.at("sluice-stream-id"), stream);
    EXPECT_EQ(m.headers.at("sluice-part-number"), std::to_string(n));
    EXPECT_EQ(m.headers.at("sluice-total-parts"), n == 5 ? "4" : "0");
    EXPECT_EQ(m.headers.at("sluice-idempotency-key"), stream + "-key-" + std::to_string(n));
    EXPECT_EQ(m.headers.at("sluice-end"), n == 5 ? "1" : "0");
    // In publish order within the stream's partition.
    EXPECT_EQ(n, last_number[stream] + 1) << stream;
    last_number[stream] = n;
  }
  for (const auto& [key, parts] : partitions_of)
    EXPECT_EQ(parts.size(), 1u) << key << " spans partitions";

  // Through the subscriber: every part once, whole, then the end.
  auto sub = OpenSubscriber(cluster.SubscriberUri("parts", "g-roundtrip"));
  ASSERT_NE(sub, nullptr);
  const auto received = ReceiveAll(sub.get(), 100, /*ack=*/true);
  ASSERT_EQ(received.size(), 10u);
  std::set<std::string> seen;
  for (const auto& r : received) {
    const std::string bytes(r.bytes->view());
    ASSERT_TRUE(published.contains(bytes)) << r.name;
    EXPECT_TRUE(seen.insert(bytes).second) << "delivered twice: " << r.name;
    EXPECT_EQ(r.name.rfind("parts[", 0), 0u) << r.name;
    EXPECT_NE(r.name.find("]@"), std::string::npos) << r.name;
    EXPECT_EQ(r.delivery_attempt, 1);
  }
  // A fresh group read every partition from its start: whole streams.
  EXPECT_TRUE(sub->delivers_whole_streams());
  ASSERT_TRUE(sub->Close().ok());
  // Everything acked: the committed offsets are the ends of the partitions.
  std::map<int32_t, int64_t> ends;
  for (const auto& m : messages) ends[m.partition] = std::max(ends[m.partition], m.offset + 1);
  const auto committed = Committed(cluster.bootstraps(), "g-roundtrip", "parts", 3);
  for (const auto& [p, end] : ends) EXPECT_EQ(committed.at(p), end) << "partition " << p;
}

TEST(KafkaMock, OutOfOrderAcksCommitOnlyTheContiguousPrefix) {
  MockCluster cluster;
  cluster.CreateTopic("ooo", 1);
  {
    auto pub = OpenPublisher(cluster.PublisherUri("ooo"));
    ASSERT_NE(pub, nullptr);
    for (int64_t n = 1; n <= 6; ++n)
      ASSERT_TRUE(pub->Publish(Meta("s", n), Payload("s", n, 100)).ok());
    ASSERT_TRUE(pub->Flush().ok());
    ASSERT_TRUE(pub->Close().ok());
  }
  auto sub = OpenSubscriber(cluster.SubscriberUri("ooo", "g-ooo"));
  ASSERT_NE(sub, nullptr);
  auto parts = ReceiveAll(sub.get(), 6, /*ack=*/false);
  ASSERT_EQ(parts.size(), 6u);
  for (int64_t i = 0; i < 6; ++i) {
    ASSERT_EQ(parts[static_cast<size_t>(i)].name, "ooo[0]@" + std::to_string(i));
    ASSERT_EQ(parts[static_cast<size_t>(i)].bytes->view(), Payload("s", i + 1, 100));
  }
  auto committed = [&] { return Committed(cluster.bootstraps(), "g-ooo", "ooo", 1).at(0); };

  // Offsets 1 and 2 applied first: offset 0 is still pending, nothing past it.
  ASSERT_TRUE(sub->Ack(parts[2]).ok());
  ASSERT_TRUE(sub->Ack(parts[1]).ok());
  EXPECT_LE(committed(), 0);
  // Offset 0 done: 0..2 are a contiguous prefix, so the next to read is 3.
  ASSERT_TRUE(sub->Ack(parts[0]).ok());
  EXPECT_EQ(committed(), 3);
  // Offset 4 skipped (the runtime copied it to the reject dir): done, but 3 is pending.
  ASSERT_TRUE(sub->Reject(parts[4], /*requeue=*/false).ok());
  EXPECT_EQ(committed(), 3);
  // Offset 3 put back: delivered again by this subscriber, still uncommitted.
  ASSERT_TRUE(sub->Reject(parts[3], /*requeue=*/true).ok());
  EXPECT_EQ(committed(), 3);
  auto again = sub->Receive(1000);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->state, Delivery::State::kPart);
  EXPECT_EQ(again->part.name, "ooo[0]@3");
  EXPECT_EQ(again->part.delivery_attempt, 2);
  EXPECT_EQ(again->part.bytes->view(), Payload("s", 4, 100));
  // While 3 and 5 are pending the subscription is not over.
  auto idle = sub->Receive(300);
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(idle->state, Delivery::State::kIdle);
  ASSERT_TRUE(sub->Ack(again->part).ok());
  EXPECT_EQ(committed(), 5);
  ASSERT_TRUE(sub->Ack(parts[5]).ok());
  EXPECT_EQ(committed(), 6);
  // An ack of an unknown (or already acked) tag is harmless.
  EXPECT_TRUE(sub->Ack(parts[5]).ok());
  EXPECT_TRUE(ReachesEnd(sub.get()));
  ASSERT_TRUE(sub->Close().ok());
  EXPECT_EQ(committed(), 6);
}

// prefetch= bounds the read-ahead by pausing the partitions and restarting
// them with a seek (kafka_subscriber.cc, Prefetch). A slow consumer of a
// backlog many windows long goes through many such cycles: every message
// must still arrive exactly once, whole, and the group end committed.
TEST(KafkaMock, BoundedReadAheadDeliversEveryPartOnceThroughPauseAndResume) {
  MockCluster cluster;
  cluster.CreateTopic("window", 2);
  // 8.2 MiB in all against a 2 MiB prefetch (the mock cluster keeps ~5 MiB
  // per partition).
  constexpr int64_t kParts = 28;
  constexpr size_t kSize = 300 << 10;
  {
    auto pub = OpenPublisher(cluster.PublisherUri("window"));
    ASSERT_NE(pub, nullptr);
    for (int64_t n = 1; n <= kParts; ++n)
      ASSERT_TRUE(pub->Publish(Meta("w", n), Payload("w", n, kSize)).ok());
    ASSERT_TRUE(pub->Flush().ok());
    ASSERT_TRUE(pub->Close().ok());
  }
  // The pauses and restarts are logged at trace level: count them.
  std::atomic<int> paused{0}, restarted{0};
  SetLogSink([&](LogLevel, std::string_view line) {
    if (line.find("kafka: paused fetching") != std::string::npos) ++paused;
    if (line.find("kafka: fetching restarted") != std::string::npos) ++restarted;
    if (std::getenv("KAFKA_TEST_TRACE") != nullptr) std::cerr << line << "\n";
  });
  const LogLevel level_before = GetLogLevel();
  SetLogLevel(LogLevel::kTrace);
  auto sub = OpenSubscriber(cluster.SubscriberUri("window", "g-window", "prefetch=2MiB"));
  ASSERT_NE(sub, nullptr);
  std::map<std::string, int> seen;
  std::set<std::string> payloads;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (seen.size() < static_cast<size_t>(kParts) && std::chrono::steady_clock::now() < deadline) {
    auto d = sub->Receive(200);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    if (d->state == Delivery::State::kEnd) {
      std::string got;
      for (const auto& [name, times] : seen) got += name + " ";
      FAIL() << "ended after " << seen.size() << " parts: " << got;
    }
    if (d->state == Delivery::State::kIdle) continue;
    ++seen[d->part.name];
    if (std::getenv("KAFKA_TEST_TRACE") != nullptr) std::cerr << "got " << d->part.name << "\n";
    ASSERT_EQ(d->part.bytes->size(), static_cast<int64_t>(kSize)) << d->part.name;
    payloads.insert(std::string(d->part.bytes->view()));
    // Stretches of ten parts slower than the fetcher (each Receive moves
    // what librdkafka fetched meanwhile into the window, so it fills within
    // two or three of them and fetching pauses), then five taken at once
    // (resumes and restarts while the window drains).
    if ((seen.size() / 5) % 3 != 2) std::this_thread::sleep_for(std::chrono::milliseconds(400));
    ASSERT_TRUE(sub->Ack(d->part).ok());
  }
  ASSERT_EQ(seen.size(), static_cast<size_t>(kParts));
  for (const auto& [name, times] : seen) EXPECT_EQ(times, 1) << name << " delivered " << times << "x";
  // Every published payload arrived (they are all distinct).
  for (int64_t n = 1; n <= kParts; ++n) EXPECT_TRUE(payloads.contains(Payload("w", n, kSize))) << n;
  EXPECT_TRUE(ReachesEnd(sub.get()));
  SetLogLevel(level_before);
  SetLogSink(nullptr);
  EXPECT_GE(paused.load(), 2) << "the read-ahead never filled its window";
  EXPECT_GE(restarted.load(), 2);
  ASSERT_TRUE(sub->Close().ok());
  const auto committed = Committed(cluster.bootstraps(), "g-window", "window", 2);
  EXPECT_EQ(committed.at(0) + committed.at(1), kParts);
}

TEST(KafkaMock, UnackedPartsGoToTheNextMemberOfTheGroup) {
  MockCluster cluster;
  cluster.CreateTopic("redeliver", 1);
  {
    auto pub = OpenPublisher(cluster.PublisherUri("redeliver"));
    ASSERT_NE(pub, nullptr);
    for (int64_t n = 1; n <= 5; ++n)
      ASSERT_TRUE(pub->Publish(Meta("s", n), Payload("s", n, 300)).ok());
    ASSERT_TRUE(pub->Flush().ok());
    ASSERT_TRUE(pub->Close().ok());
  }
  {
    auto first = OpenSubscriber(cluster.SubscriberUri("redeliver", "g-shared"));
    ASSERT_NE(first, nullptr);
    auto parts = ReceiveAll(first.get(), 5, /*ack=*/false);
    ASSERT_EQ(parts.size(), 5u);
    // Applied: offsets 0, 1 and 3 (out of order); 2 and 4 never applied.
    ASSERT_TRUE(first->Ack(parts[0]).ok());
    ASSERT_TRUE(first->Ack(parts[3]).ok());
    ASSERT_TRUE(first->Ack(parts[1]).ok());
    ASSERT_TRUE(first->Close().ok());  // the process stops (or crashes) here
  }
  EXPECT_EQ(Committed(cluster.bootstraps(), "g-shared", "redeliver", 1).at(0), 2);
  auto second = OpenSubscriber(cluster.SubscriberUri("redeliver", "g-shared"));
  ASSERT_NE(second, nullptr);
  auto parts = ReceiveAll(second.get(), 100, /*ack=*/true);
  // From the first un-acked part on: 2, 3 (applied already: the sink ledger
  // skips it) and 4.
  ASSERT_EQ(parts.size(), 3u);
  for (size_t i = 0; i < parts.size(); ++i) {
    EXPECT_EQ(parts[i].name, "redeliver[0]@" + std::to_string(i + 2));
    EXPECT_EQ(parts[i].bytes->view(), Payload("s", static_cast<int64_t>(i) + 3, 300));
  }
  // Resumed mid-partition: the runtime must not expect whole streams.
  EXPECT_FALSE(second->delivers_whole_streams());
  ASSERT_TRUE(second->Close().ok());
  EXPECT_EQ(Committed(cluster.bootstraps(), "g-shared", "redeliver", 1).at(0), 5);
}

// Row messages: a member that takes over a partition cuts the batches the
// previous member handed out exactly as it did (their bounds are in the
// committed offset's metadata), whatever its own batch size; the sink's
// ledger then recognizes the ones applied already by their ids.
TEST(KafkaMock, RowBatchesAreCutAgainTheSameWayByTheNextMember) {
  MockCluster cluster;
  cluster.CreateTopic("rows", 1);
  {
    auto pub = OpenPublisher(cluster.PublisherUri("rows", "format=json"));
    ASSERT_NE(pub, nullptr);
    const RecordBatch batch = testing::MixedBatch(40);
    part::PartHeader header;
    header.stream_id = "s";
    header.source_fingerprint = "fp";
    auto bytes = part::EncodePart(&header, *batch.schema(), {batch}, {});
    ASSERT_TRUE(bytes.ok());
    PartMeta meta = Meta("s", 1);
    ASSERT_TRUE(pub->Publish(meta, *bytes).ok());
    ASSERT_TRUE(pub->Flush().ok());
    ASSERT_TRUE(pub->Close().ok());
  }
  auto decode = [](const ReceivedPart& p) {
    EXPECT_TRUE(p.decode_error.ok()) << p.decode_error.ToString();
    auto d = part::DecodePart(p.bytes, p.name);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? std::make_pair(d->header.idempotency_key, d->header.rows)
                  : std::make_pair(std::string(), int64_t{0});
  };
  std::vector<std::string> first_names;
  std::vector<std::pair<std::string, int64_t>> first_ids;
  {
    auto first = OpenSubscriber(cluster.SubscriberUri("rows", "g-rows", "format=json&batch_rows=7"));
    ASSERT_NE(first, nullptr);
    auto parts = ReceiveAll(first.get(), 3, /*ack=*/false);
    ASSERT_EQ(parts.size(), 3u);
    for (const auto& p : parts) {
      first_names.push_back(p.name);
      first_ids.push_back(decode(p));
    }
    EXPECT_EQ(first_names[0], "rows[0]@0..6");
    EXPECT_EQ(first_ids[0].second, 7);
    // Batches 2 and 3 applied, batch 1 not: the process stops here.
    ASSERT_TRUE(first->Ack(parts[1]).ok());
    ASSERT_TRUE(first->Ack(parts[2]).ok());
    ASSERT_TRUE(first->Close().ok());
  }
  EXPECT_EQ(Committed(cluster.bootstraps(), "g-rows", "rows", 1).at(0), 0);
  auto second = OpenSubscriber(cluster.SubscriberUri("rows", "g-rows", "format=json&batch_rows=10"));
  ASSERT_NE(second, nullptr);
  auto parts = ReceiveAll(second.get(), 100, /*ack=*/true);
  ASSERT_GE(parts.size(), 4u);
  int64_t rows = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto id = decode(parts[i]);
    rows += id.second;
    if (i < 3) {
      EXPECT_EQ(parts[i].name, first_names[i]);
      EXPECT_EQ(id, first_ids[i]) << "batch " << i << " was cut differently";
    }
  }
  EXPECT_EQ(rows, 40);  // every message once across the second member's batches
  EXPECT_FALSE(second->delivers_whole_streams());
  ASSERT_TRUE(second->Close().ok());
  EXPECT_EQ(Committed(cluster.bootstraps(), "g-rows", "rows", 1).at(0), 40);
}

TEST(KafkaMock, FollowingNeverEndsAndLogsTheLag) {
  MockCluster cluster;
  cluster.CreateTopic("follow", 2);
  auto pub = OpenPublisher(cluster.PublisherUri("follow"));
  ASSERT_NE(pub, nullptr);
  ASSERT_TRUE(pub->Publish(Meta("s", 1), Payload("s", 1, 100)).ok());
  ASSERT_TRUE(pub->Flush().ok());

  // Captures the log (restored even when an assertion returns early).
  struct Capture {
    std::mutex mu;
    std::vector<std::string> lines;
    Capture() {
      SetLogLevel(LogLevel::kInfo);
      SetLogSink([this](LogLevel, std::string_view line) {
        std::lock_guard<std::mutex> lock(mu);
        lines.emplace_back(line);
      });
    }
    ~Capture() {
      SetLogSink({});
      SetLogLevel(LogLevel::kError);
    }
  };
  auto capture = std::make_unique<Capture>();
  {
    auto sub = OpenSubscriber(
        cluster.SubscriberUri("follow", "g-follow", "follow=true&lag_interval=200ms"));
    ASSERT_NE(sub, nullptr);
    EXPECT_FALSE(sub->delivers_whole_streams());
    auto first = ReceiveAll(sub.get(), 1, /*ack=*/true);
    ASSERT_EQ(first.size(), 1u);
    // At the end of both partitions with nothing pending: still idle, not the end.
    for (int i = 0; i < 5; ++i) {
      auto d = sub->Receive(200);
      ASSERT_TRUE(d.ok());
      EXPECT_EQ(d->state, Delivery::State::kIdle);
    }
    // A part published meanwhile is picked up.
    ASSERT_TRUE(pub->Publish(Meta("s", 2), Payload("s", 2, 100)).ok());
    ASSERT_TRUE(pub->Flush().ok());
    auto second = ReceiveAll(sub.get(), 1, /*ack=*/true, 10000);
    ASSERT_EQ(second.size(), 1u);
    EXPECT_EQ(second[0].bytes->view(), Payload("s", 2, 100));
    ASSERT_TRUE(sub->Close().ok());
  }
  std::vector<std::string> lines;
  {
    std::lock_guard<std::mutex> lock(capture->mu);
    lines = capture->lines;
  }
  capture.reset();
  bool lag_logged = false;
  for (const auto& line : lines) {
    lag_logged =
        lag_logged || (line.find("group 'g-follow' lags 0 message(s) behind topic 'follow'") !=
                       std::string::npos);
  }
  EXPECT_TRUE(lag_logged);
  ASSERT_TRUE(pub->Close().ok());
}

TEST(KafkaMock, FailedDeliveryFailsFlushAndLaterPublishesNamingTopicPartitionAndError) {
  MockCluster cluster;
  cluster.CreateTopic("denied", 1);
  auto pub = OpenPublisher(cluster.PublisherUri("denied"));
  ASSERT_NE(pub, nullptr);
  ASSERT_TRUE(pub->Publish(Meta("s", 1), Payload("s", 1, 100)).ok());
  ASSERT_TRUE(pub->Flush().ok());
  // The broker refuses the next produce requests (a permanent error).
  const auto e = RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
  rd_kafka_mock_push_request_errors(cluster.get(), 0 /*Produce*/, 5, e, e, e, e, e);
  ASSERT_TRUE(pub->Publish(Meta("s", 2), Payload("s", 2, 100)).ok());  // asynchronous
  Status flushed = pub->Flush();
  ASSERT_FALSE(flushed.ok());
  EXPECT_EQ(flushed.code(), StatusCode::kIOError);
  const std::string& msg = flushed.message();
  EXPECT_NE(msg.find("part 2 of stream s"), std::string::npos) << msg;
  EXPECT_NE(msg.find("topic 'denied'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("partition 0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("TOPIC_AUTHORIZATION_FAILED"), std::string::npos) << msg;
  // Sticky: the export cannot go on as if the part had been stored.
  Status next = pub->Publish(Meta("s", 3), Payload("s", 3, 100));
  EXPECT_EQ(next, flushed);
  EXPECT_TRUE(pub->Close().ok());
}

TEST(KafkaMock, UnknownTopicFailsOpenUnlessCreated) {
  MockCluster cluster;
  rd_kafka_mock_topic_set_error(cluster.get(), "absent", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
  auto pub = Registry::Global().MakePublisher(cluster.PublisherUri("absent"));
  ASSERT_TRUE(pub.ok());
  Status st = (*pub)->Open();
  EXPECT_EQ(st.code(), StatusCode::kNotFound) << st.ToString();
  EXPECT_NE(st.message().find("'absent'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("create_topic=true"), std::string::npos) << st.message();
  auto sub = Registry::Global().MakeSubscriber(cluster.SubscriberUri("absent", "g"));
  ASSERT_TRUE(sub.ok());
  st = (*sub)->Open();
  EXPECT_EQ(st.code(), StatusCode::kNotFound) << st.ToString();
  EXPECT_NE(st.message().find("'absent'"), std::string::npos) << st.message();
}

TEST(KafkaMock, OversizePartIsRefusedNamingSizeLimitAndPartSize) {
  MockCluster cluster;
  cluster.CreateTopic("small", 1);
  auto pub = OpenPublisher(cluster.PublisherUri("small", "max_message_bytes=64KiB"));
  ASSERT_NE(pub, nullptr);
  Status st = pub->Publish(Meta("s", 1), Payload("s", 1, 100 * 1024));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("part 1 of stream s"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("102,400 bytes"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("65,536 bytes"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("--part-size"), std::string::npos) << st.message();
  // A part that fits goes through; the refusal is not sticky.
  ASSERT_TRUE(pub->Publish(Meta("s", 1), Payload("s", 1, 60 * 1024)).ok());
  ASSERT_TRUE(pub->Flush().ok());
  ASSERT_TRUE(pub->Close().ok());
  EXPECT_EQ(ReadTopic(cluster.bootstraps(), "small", 1).size(), 1u);
}

// ---------------------------------------------------------------------------
// End to end through the runtime: gen → Kafka → SQLite.

using testing::TempDir;

// Collects what a copy reads (to compare a table with the generator).
class CollectSink final : public Sink {
 public:
  Status Open(std::shared_ptr<const Schema>) override { return Status::OK(); }
  Result<std::unique_ptr<SinkWriter>> NewWriter() override {
    return std::unique_ptr<SinkWriter>(std::make_unique<Writer>(this));
  }
  Status Commit() override { return Status::OK(); }
  std::vector<RecordBatch> batches() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<RecordBatch> out;
    for (auto& [id, b] : applied_) out.insert(out.end(), b.begin(), b.end());
    return out;
  }

 private:
  class Writer final : public SinkWriter {
   public:
    explicit Writer(CollectSink* sink) : sink_(sink) {}
    Result<ApplyOutcome> ApplyPart(const PartInfo& part,
                                   const std::vector<RecordBatch>& batches) override {
      std::lock_guard<std::mutex> lock(sink_->mu_);
      if (!sink_->applied_.emplace(part.part_id, batches).second)
        return ApplyOutcome::kAlreadyApplied;
      return ApplyOutcome::kApplied;
    }

   private:
    CollectSink* sink_;
  };
  std::mutex mu_;
  std::map<std::string, std::vector<RecordBatch>> applied_;
};

// Each batch of the "mixed" gen table holds consecutive ids (id = row
// number): compares every batch with freshly generated rows and checks that
// rows 0..total-1 appear exactly once.
void ExpectExactlyGenRows(const std::vector<RecordBatch>& batches, int64_t total) {
  std::vector<int> seen(static_cast<size_t>(total), 0);
  for (const auto& b : batches) {
    if (b.num_rows() == 0) continue;
    const int64_t first = b.column(0).Value<int64_t>(0);
    ASSERT_GE(first, 0);
    ASSERT_LE(first + b.num_rows(), total);
    RecordBatch generated = gen::GenerateRows(gen::GenSchema::kMixed, 1, first, b.num_rows());
    ASSERT_EQ(b.schema()->num_fields(), generated.schema()->num_fields());
    for (int i = 0; i < b.schema()->num_fields(); ++i) {
      ASSERT_EQ(b.schema()->field(i).name, generated.schema()->field(i).name);
      ASSERT_EQ(b.schema()->field(i).type, generated.schema()->field(i).type)
          << b.schema()->field(i).name;
    }
    RecordBatch expected(b.schema(), generated.num_rows(), generated.columns());
    std::string why;
    ASSERT_TRUE(b.Equals(expected, &why)) << "rows from " << first << ": " << why;
    for (int64_t i = 0; i < b.num_rows(); ++i) ++seen[static_cast<size_t>(first + i)];
  }
  for (int64_t i = 0; i < total; ++i) ASSERT_EQ(seen[static_cast<size_t>(i)], 1) << "row " << i;
}

pipeline::RunOptions SmallParts(int workers) {
  pipeline::RunOptions o;
  o.workers = workers;
  o.part_bytes = 64 << 10;
  o.batch_rows = 1000;
  o.queue_depth = 2;
  o.compression = part::Compression::kLz4;
  o.retry_backoff_ms = 1;
  o.progress_interval_ms = 5;
  return o;
}

TEST(KafkaMock, ExportGenThenImportIntoSqliteWithThreeWorkersIsExactAndResumable) {
  if (Registry::Global().Find("sqlite") == nullptr || Registry::Global().Find("gen") == nullptr) {
    GTEST_SKIP() << "sqlite or gen connector not built";
  }
  constexpr int64_t kRows = 60000;
  MockCluster cluster;
  cluster.CreateTopic("gen", 3);
  int64_t parts = 0;
  {
    auto source = Registry::Global().MakeSource("gen:///?rows=" + std::to_string(kRows) +
                                                "&seed=1&schema=mixed");
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    auto pub = Registry::Global().MakePublisher(cluster.PublisherUri("gen"));
    ASSERT_TRUE(pub.ok()) << pub.status().ToString();
    pipeline::RunStats stats;
    Status st = pipeline::RunExport(source->get(), pub->get(), SmallParts(2), &stats);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(stats.rows, kRows);
    EXPECT_EQ(stats.output_type, "kafka topic");
    parts = stats.parts;
    ASSERT_GT(parts, 6);
  }
  TempDir tmp;
  const std::string db = "sqlite://" + tmp.sub("dst.db") + "?table=t";
  const std::string from = cluster.SubscriberUri("gen", "g-e2e");
  int64_t applied_first = 0;
  {
    // Stopped after a few parts: offsets are committed only up to the first
    // part not yet in the database.
    auto sink = Registry::Global().MakeSink(db);
    ASSERT_TRUE(sink.ok()) << sink.status().ToString();
    auto sub = Registry::Global().MakeSubscriber(from);
    ASSERT_TRUE(sub.ok()) << sub.status().ToString();
    std::atomic<bool> stop{false};
    pipeline::RunOptions o = SmallParts(3);
    o.stop_requested = &stop;
    o.on_progress = [&](const pipeline::ProgressSnapshot& s) {
      if (s.parts >= 3) stop = true;
    };
    pipeline::RunStats stats;
    Status st = pipeline::RunImport(sub->get(), sink->get(), o, &stats);
    if (!st.ok()) {
      EXPECT_EQ(st.code(), StatusCode::kCancelled) << st.ToString();
    }
    applied_first = stats.parts;
    ASSERT_LT(applied_first, parts) << "the first import was not stopped early";
  }
  {
    auto sink = Registry::Global().MakeSink(db);
    ASSERT_TRUE(sink.ok());
    auto sub = Registry::Global().MakeSubscriber(from);
    ASSERT_TRUE(sub.ok());
    pipeline::RunStats stats;
    Status st = pipeline::RunImport(sub->get(), sink->get(), SmallParts(3), &stats);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(stats.workers, 3);
    // Every part applied exactly once across both runs; parts applied by the
    // first run after its first pending one came back as ledger skips.
    EXPECT_EQ(applied_first + stats.parts, parts);
    EXPECT_GE(stats.duplicates, 0);
  }
  // The table holds exactly the generated rows.
  auto source = Registry::Global().MakeSource(db);
  ASSERT_TRUE(source.ok());
  CollectSink collected;
  pipeline::RunStats stats;
  Status st = pipeline::RunCopy(source->get(), &collected, SmallParts(2), &stats);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(stats.rows, kRows);
  ExpectExactlyGenRows(collected.batches(), kRows);
}

}  // namespace
}  // namespace sluice::kafka
