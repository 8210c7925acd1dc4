// Integration tests against the RabbitMQ of scripts/services.sh (label
// `integration`): they fail, not skip, when the broker is down. The broker is
// taken from SLUICE_AMQP_URI (default amqp://guest:guest@127.0.0.1:55672/%2f);
// every test uses queues of its own and deletes them.
#include "connectors/rabbitmq/rabbitmq.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "connectors/gen/gen.h"
#include "connectors/rabbitmq/amqp_conn.h"
#include "core/log.h"
#include "core/temp_dir.h"
#include "pipeline/runtime.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using rabbitmq::AmqpConnection;

const bool kQuiet = [] {
  SetLogLevel(LogLevel::kError);
  return true;
}();

std::string BrokerUri() {
  const char* env = std::getenv("SLUICE_AMQP_URI");
  return env != nullptr && *env != '\0' ? env : "amqp://guest:guest@127.0.0.1:55672/%2f";
}

rabbitmq::Endpoint BrokerEndpoint() {
  auto uri = Uri::Parse(BrokerUri());
  EXPECT_TRUE(uri.ok()) << uri.status().ToString();
  auto e = rabbitmq::ParseEndpoint(*uri);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return *e;
}

std::string WithQuery(const std::string& query) {
  const std::string base = BrokerUri();
  return base + (base.find('?') == std::string::npos ? "?" : "&") + query;
}

using testing::TempDir;

class RabbitmqTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = AmqpConnection::Open(BrokerEndpoint());
    ASSERT_TRUE(c.ok()) << "RabbitMQ is not reachable at " << BrokerUri() << " ("
                        << c.status().ToString()
                        << "): start it with scripts/services.sh up rabbitmq";
    admin_ = std::move(*c);
    static std::atomic<int> counter{0};
    queue_ = "sluice_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name();
    (void)admin_->DeleteQueueTopology(1, queue_);
  }
  void TearDown() override {
    if (admin_) {
      EXPECT_TRUE(admin_->DeleteQueueTopology(1, queue_).ok());
    }
  }

  uint32_t Count(const std::string& queue) {
    auto n = admin_->MessageCount(2, queue);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : 0;
  }

  std::unique_ptr<PartPublisher> Publisher(const std::string& extra = "") {
    auto p = Registry::Global().MakePublisher(WithQuery("queue=" + queue_ + extra));
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(*p) : nullptr;
  }
  std::unique_ptr<PartSubscriber> Subscriber(const std::string& extra = "") {
    auto s =
        Registry::Global().MakeSubscriber(WithQuery("queue=" + queue_ + "&idle_ms=300" + extra));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  static PartMeta Meta(int64_t n, int64_t total = 0) {
    PartMeta m;
    m.stream_id = "s1";
    m.part_number = n;
    m.total_parts = total;
    m.rows = 10;
    m.idempotency_key = "key-" + std::to_string(n);
    m.end_of_stream = total > 0;
    return m;
  }
  static std::string Body(int64_t n) {
    std::string s = "part-" + std::to_string(n) + ":";
    for (int i = 0; i < 5000; ++i) s.push_back(static_cast<char>((i * 31 + n) & 0xff));
    return s;
  }

  void PublishParts(int64_t n) {
    auto p = Publisher();
    ASSERT_TRUE(p->Open().ok());
    for (int64_t i = 1; i <= n; ++i) ASSERT_TRUE(p->Publish(Meta(i), Body(i)).ok());
    ASSERT_TRUE(p->Flush().ok());
    ASSERT_TRUE(p->Close().ok());
  }

  // Receives one part (waiting up to 5 s).
  static ReceivedPart ReceiveOne(PartSubscriber* s) {
    for (int i = 0; i < 25; ++i) {
      auto d = s->Receive(200);
      EXPECT_TRUE(d.ok()) << d.status().ToString();
      if (!d.ok()) return {};
      if (d->state == Delivery::State::kPart) return d->part;
      EXPECT_NE(d->state, Delivery::State::kEnd);
      if (d->state == Delivery::State::kEnd) return {};
    }
    ADD_FAILURE() << "no part within 5 s";
    return {};
  }

  // Receives and acks until kEnd (which needs nothing in flight); fails on a timeout.
  static std::vector<ReceivedPart> ReceiveAll(PartSubscriber* s) {
    std::vector<ReceivedPart> out;
    for (int i = 0; i < 200; ++i) {
      auto d = s->Receive(100);
      EXPECT_TRUE(d.ok()) << d.status().ToString();
      if (!d.ok() || d->state == Delivery::State::kEnd) return out;
      if (d->state == Delivery::State::kPart) {
        out.push_back(d->part);
        EXPECT_TRUE(s->Ack(d->part).ok());
      }
    }
    ADD_FAILURE() << "the subscriber did not end";
    return out;
  }

  std::unique_ptr<AmqpConnection> admin_;
  std::string queue_;
};

TEST(RabbitmqEndpoint, ParsesHostPortUserAndPercentEncodedVhost) {
  auto uri = Uri::Parse("amqp://u:p%40ss@broker:5673/%2f?queue=q");
  ASSERT_TRUE(uri.ok());
  auto e = rabbitmq::ParseEndpoint(*uri);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "broker");
  EXPECT_EQ(e->port, 5673);
  EXPECT_EQ(e->user, "u");
  EXPECT_EQ(e->password, "p@ss");
  EXPECT_EQ(e->vhost, "/");
  auto named = rabbitmq::ParseEndpoint(*Uri::Parse("amqp://h/prod"));
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->vhost, "prod");
  EXPECT_EQ(named->port, 5672);
  EXPECT_EQ(named->user, "guest");
  EXPECT_EQ(rabbitmq::ParseEndpoint(*Uri::Parse("amqp://h"))->vhost, "/");
  EXPECT_FALSE(Registry::Global().MakeSubscriber("amqp://h/%2f").ok());  // no queue
  EXPECT_FALSE(Registry::Global().MakePublisher("amqp://h/%2f").ok());
  EXPECT_FALSE(Registry::Global().MakeSubscriber("amqp://h/%2f?queue=q&prefetch=0").ok());
  EXPECT_FALSE(Registry::Global().MakeSubscriber("amqp://h/%2f?queue=q&bogus=1").ok());
}

TEST(RabbitmqEndpoint, AmqpsMeansTlsOnPort5671AndTlsOptionsNeedIt) {
  auto e = rabbitmq::ParseEndpoint(*Uri::Parse("amqps://u:p@broker/%2f"));
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->tls);
  EXPECT_EQ(e->port, 5671);
  EXPECT_TRUE(e->verify);
  EXPECT_EQ(rabbitmq::ParseEndpoint(*Uri::Parse("amqps://broker:1234"))->port, 1234);
  EXPECT_FALSE(rabbitmq::ParseEndpoint(*Uri::Parse("amqp://broker"))->tls);
  const auto& r = Registry::Global();
  // Make() does no I/O: the files need not exist yet.
  EXPECT_TRUE(r.MakeSubscriber("amqps://h/%2f?queue=q&tls_ca=/ca.pem&tls_verify=false").ok());
  EXPECT_TRUE(r.MakePublisher("amqp://h/%2f?queue=q&tls=true&tls_ca=/ca.pem").ok());
  auto plain = r.MakeSubscriber("amqp://h/%2f?queue=q&tls_ca=/ca.pem");
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(plain.status().message().find("amqps://"), std::string::npos)
      << plain.status().ToString();
  EXPECT_FALSE(r.MakeSubscriber("amqps://h/%2f?queue=q&ca=/ca.pem").ok());  // tls_ca=
}

// TLS failures that need no TLS broker: local files, and a handshake with the
// plain AMQP port of the shared broker. (Certificates, verification and
// mutual TLS against a real TLS listener: tests/integration/test_rabbitmq_tls.py.)
TEST(RabbitmqTls, ErrorsNameTheBrokerAndTheCause) {
  auto uri = *Uri::Parse(BrokerUri());
  const std::string broker = uri.host + ":" + std::to_string(uri.port);
  const std::string base = "amqps://guest:guest@" + broker + "/%2f?queue=q";
  auto open = [](const std::string& u) {
    auto p = Registry::Global().MakePublisher(u);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? (*p)->Open() : p.status();
  };
  Status st = open(base + "&tls_ca=/nonexistent/ca.pem");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("tls_ca='/nonexistent/ca.pem' cannot be read"), std::string::npos)
      << st.ToString();
  st = open(base + "&tls_cert=/nonexistent/c.pem");
  EXPECT_NE(st.message().find("needs both tls_cert= and tls_key="), std::string::npos)
      << st.ToString();
  // A file that is not a certificate.
  TempDir tmp;
  const std::string junk = tmp.sub("junk.pem");
  { std::ofstream(junk) << "not a certificate\n"; }
  st = open(base + "&tls_ca=" + junk);
  EXPECT_NE(st.message().find("holds no usable PEM certificate"), std::string::npos)
      << st.ToString();
  // The broker's plain AMQP port does not speak TLS.
  st = open(base + "&connect_timeout=5s");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("TLS handshake with " + broker), std::string::npos) << st.ToString();
}

TEST_F(RabbitmqTest, PublishedPartsAreReceivedWholeWithTheirProperties) {
  const int64_t n = 12;
  PublishParts(n);
  EXPECT_EQ(Count(queue_), n);

  // The wire form, read with basic.get: properties and headers.
  {
    amqp_connection_state_t c = admin_->get();
    amqp_rpc_reply_t r = amqp_basic_get(c, 1, rabbitmq::Bytes(queue_), /*no_ack=*/0);
    ASSERT_EQ(r.reply_type, AMQP_RESPONSE_NORMAL);
    ASSERT_EQ(r.reply.id, AMQP_BASIC_GET_OK_METHOD);
    const auto* ok = static_cast<const amqp_basic_get_ok_t*>(r.reply.decoded);
    const uint64_t tag = ok->delivery_tag;
    amqp_message_t m;
    ASSERT_EQ(amqp_read_message(c, 1, &m, 0).reply_type, AMQP_RESPONSE_NORMAL);
    const amqp_basic_properties_t& p = m.properties;
    EXPECT_EQ(rabbitmq::ToString(p.content_type), rabbitmq::kContentTypePart);
    EXPECT_EQ(p.delivery_mode, 2);
    EXPECT_EQ(rabbitmq::ToString(p.message_id), "key-1");
    ASSERT_TRUE(p._flags & AMQP_BASIC_HEADERS_FLAG);
    const auto* sid = rabbitmq::FindHeader(p.headers, rabbitmq::kHeaderStreamId);
    ASSERT_NE(sid, nullptr);
    EXPECT_EQ(rabbitmq::ToString(sid->value.bytes), "s1");
    int64_t v = -1;
    ASSERT_TRUE(
        rabbitmq::FieldToInt64(*rabbitmq::FindHeader(p.headers, rabbitmq::kHeaderPartNumber), &v));
    EXPECT_EQ(v, 1);
    ASSERT_TRUE(
        rabbitmq::FieldToInt64(*rabbitmq::FindHeader(p.headers, rabbitmq::kHeaderTotalParts), &v));
    EXPECT_EQ(v, 0);
    const auto* end = rabbitmq::FindHeader(p.headers, rabbitmq::kHeaderEnd);
    ASSERT_NE(end, nullptr);
    EXPECT_EQ(end->kind, AMQP_FIELD_KIND_BOOLEAN);
    EXPECT_EQ(end->value.boolean, 0);
    const auto* fmt = rabbitmq::FindHeader(p.headers, rabbitmq::kHeaderFormat);
    ASSERT_NE(fmt, nullptr);
    EXPECT_EQ(rabbitmq::ToString(fmt->value.bytes), "part");
    EXPECT_EQ(rabbitmq::ToString(m.body), Body(1));
    amqp_destroy_message(&m);
    // Put it back for the subscriber.
    ASSERT_EQ(amqp_basic_nack(c, 1, tag, 0, /*requeue=*/1), AMQP_STATUS_OK);
  }

  auto s = Subscriber();
  ASSERT_TRUE(s->Open().ok());
  EXPECT_FALSE(s->delivers_whole_streams());
  EXPECT_EQ(s->kind(), "rabbitmq queue");
  auto parts = ReceiveAll(s.get());
  ASSERT_EQ(static_cast<int64_t>(parts.size()), n);
  std::set<std::string> names;
  for (const auto& p : parts) {
    // The name carries the stream id and part number from the headers.
    const auto at = p.name.find("@s1_part_");
    ASSERT_NE(at, std::string::npos) << p.name;
    const int64_t num = std::stoll(p.name.substr(at + 9));
    EXPECT_EQ(p.bytes->view(), Body(num)) << p.name;
    names.insert(p.name);
  }
  EXPECT_EQ(static_cast<int64_t>(names.size()), n);
  ASSERT_TRUE(s->Close().ok());
  EXPECT_EQ(Count(queue_), 0u);  // all acked
}

TEST_F(RabbitmqTest, UnackedPartsGoToTheNextSubscriber) {
  PublishParts(4);
  std::set<std::string> unacked;
  {
    auto s = Subscriber();
    ASSERT_TRUE(s->Open().ok());
    for (int i = 0; i < 4; ++i) {
      ReceivedPart p = ReceiveOne(s.get());
      ASSERT_TRUE(p.bytes);
      EXPECT_EQ(p.delivery_attempt, 1);
      if (i % 2 == 0) {
        ASSERT_TRUE(s->Ack(p).ok());
      } else {
        unacked.insert(p.name);
      }
    }
    ASSERT_TRUE(s->Close().ok());  // closes with two parts unacked
  }
  auto s = Subscriber();
  ASSERT_TRUE(s->Open().ok());
  auto again = ReceiveAll(s.get());
  std::set<std::string> names;
  for (const auto& p : again) {
    names.insert(p.name);
    EXPECT_EQ(p.delivery_attempt, 2) << "the broker flags redeliveries";
  }
  EXPECT_EQ(names, unacked);
  ASSERT_TRUE(s->Close().ok());
  EXPECT_EQ(Count(queue_), 0u);
}

TEST_F(RabbitmqTest, RejectWithRequeueRedeliversThenMaxAttemptsDeadLetters) {
  PublishParts(1);
  auto s = Subscriber("&max_attempts=3");
  ASSERT_TRUE(s->Open().ok());
  ReceivedPart p = ReceiveOne(s.get());
  ASSERT_TRUE(p.bytes);
  EXPECT_EQ(p.delivery_attempt, 1);
  ASSERT_TRUE(s->Reject(p, /*requeue=*/true).ok());
  ReceivedPart p2 = ReceiveOne(s.get());
  ASSERT_TRUE(p2.bytes);
  EXPECT_EQ(p2.name, p.name);
  EXPECT_EQ(p2.bytes->view(), p.bytes->view());
  EXPECT_EQ(p2.delivery_attempt, 2);
  ASSERT_TRUE(s->Reject(p2, /*requeue=*/true).ok());
  ReceivedPart p3 = ReceiveOne(s.get());
  ASSERT_TRUE(p3.bytes);
  EXPECT_EQ(p3.delivery_attempt, 3);
  // The third failure reaches max_attempts: dead-lettered, not requeued.
  ASSERT_TRUE(s->Reject(p3, /*requeue=*/true).ok());
  EXPECT_TRUE(ReceiveAll(s.get()).empty());
  ASSERT_TRUE(s->Close().ok());
  EXPECT_EQ(Count(queue_), 0u);
  EXPECT_EQ(Count(rabbitmq::DeadLetterQueue(queue_)), 1u);
}

TEST_F(RabbitmqTest, RejectWithoutRequeueDeadLetters) {
  PublishParts(3);
  auto s = Subscriber();
  ASSERT_TRUE(s->Open().ok());
  ReceivedPart p = ReceiveOne(s.get());
  ASSERT_TRUE(p.bytes);
  ASSERT_TRUE(s->Reject(p, /*requeue=*/false).ok());
  auto rest = ReceiveAll(s.get());
  EXPECT_EQ(rest.size(), 2u);
  for (const auto& r : rest) {
    EXPECT_NE(r.name, p.name);
  }
  ASSERT_TRUE(s->Close().ok());
  EXPECT_EQ(Count(queue_), 0u);
  EXPECT_EQ(Count(rabbitmq::DeadLetterQueue(queue_)), 1u);
  // The dead-lettered message is the rejected part, whole.
  amqp_connection_state_t c = admin_->get();
  const std::string dead = rabbitmq::DeadLetterQueue(queue_);
  amqp_rpc_reply_t r = amqp_basic_get(c, 1, rabbitmq::Bytes(dead), /*no_ack=*/1);
  ASSERT_EQ(r.reply.id, AMQP_BASIC_GET_OK_METHOD);
  amqp_message_t m;
  ASSERT_EQ(amqp_read_message(c, 1, &m, 0).reply_type, AMQP_RESPONSE_NORMAL);
  EXPECT_EQ(rabbitmq::ToString(m.body), p.bytes->view());
  amqp_destroy_message(&m);
}

TEST_F(RabbitmqTest, PublishToAMissingExchangeFailsClearly) {
  auto p = Publisher("&exchange=sluice_no_such_exchange_" + queue_ + "&declare=false");
  ASSERT_TRUE(p->Open().ok());
  Status st = p->Publish(Meta(1), Body(1));
  if (st.ok()) st = p->Flush();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("NOT_FOUND"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("sluice_no_such_exchange_"), std::string::npos) << st.ToString();
  // Later calls keep failing.
  EXPECT_FALSE(p->Flush().ok());
}

TEST_F(RabbitmqTest, UnroutablePartIsReturnedAndFailsTheFlush) {
  // amq.direct exists, but nothing is bound with this routing key.
  auto p = Publisher("&exchange=amq.direct&routing_key=nobody_" + queue_ + "&declare=false");
  ASSERT_TRUE(p->Open().ok());
  Status st = p->Publish(Meta(1), Body(1));
  if (st.ok()) st = p->Flush();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("NO_ROUTE"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("key-1"), std::string::npos) << st.ToString();
}

TEST_F(RabbitmqTest, PublishThroughAnExchangeWithRoutingKey) {
  // Declare the queue (default exchange), then bind it to amq.direct.
  ASSERT_TRUE(admin_->DeclareQueue(1, queue_, true).ok());
  (void)amqp_queue_bind(admin_->get(), 1, rabbitmq::Bytes(queue_), amqp_cstring_bytes("amq.direct"),
                        rabbitmq::Bytes("rk_" + queue_), amqp_empty_table);
  ASSERT_TRUE(admin_->CheckReply(1, "bind").ok());
  auto p = Publisher("&exchange=amq.direct&routing_key=rk_" + queue_);
  ASSERT_TRUE(p->Open().ok());
  ASSERT_TRUE(p->Publish(Meta(1), Body(1)).ok());
  ASSERT_TRUE(p->Flush().ok());
  EXPECT_EQ(Count(queue_), 1u);
}

TEST_F(RabbitmqTest, ConnectionErrorsNameTheBrokerAndTheReason) {
  auto p = Registry::Global().MakePublisher("amqp://guest:guest@127.0.0.1:1/%2f?queue=q");
  ASSERT_TRUE(p.ok());
  Status st = (*p)->Open();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("127.0.0.1:1"), std::string::npos) << st.ToString();
  // Wrong password: the server's reply text.
  auto uri = *Uri::Parse(BrokerUri());
  auto bad = Registry::Global().MakeSubscriber("amqp://guest:wrong@" + uri.host + ":" +
                                               std::to_string(uri.port) + "/%2f?queue=" + queue_);
  ASSERT_TRUE(bad.ok());
  st = (*bad)->Open();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("logging in"), std::string::npos) << st.ToString();
  // A missing queue with declare=false.
  auto missing = Registry::Global().MakeSubscriber(WithQuery("queue=" + queue_ + "&declare=false"));
  ASSERT_TRUE(missing.ok());
  st = (*missing)->Open();
  EXPECT_EQ(st.code(), StatusCode::kNotFound) << st.ToString();
}

// ---------------------------------------------------------------------------
// With the runtime: gen → queue → SQLite.

// Collects what a copy reads back.
class CollectSink final : public Sink {
 public:
  class Writer final : public SinkWriter {
   public:
    explicit Writer(CollectSink* sink) : sink_(sink) {}
    Result<ApplyOutcome> ApplyPart(const PartInfo&,
                                   const std::vector<RecordBatch>& batches) override {
      std::lock_guard<std::mutex> lock(sink_->mu_);
      sink_->batches_.insert(sink_->batches_.end(), batches.begin(), batches.end());
      return ApplyOutcome::kApplied;
    }

   private:
    CollectSink* sink_;
  };
  Status Open(std::shared_ptr<const Schema>) override { return Status::OK(); }
  Result<std::unique_ptr<SinkWriter>> NewWriter() override {
    return std::unique_ptr<SinkWriter>(std::make_unique<Writer>(this));
  }
  Status Commit() override { return Status::OK(); }
  std::vector<RecordBatch> batches() {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_;
  }

 private:
  std::mutex mu_;
  std::vector<RecordBatch> batches_;
};

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

// Every row 0..total-1 of the gen table exactly once, with its generated values.
void ExpectExactlyGenRows(const std::vector<RecordBatch>& batches, uint64_t seed, int64_t total) {
  std::vector<int> seen(static_cast<size_t>(total), 0);
  for (const auto& b : batches) {
    if (b.num_rows() == 0) continue;
    const int64_t first = b.column(0).Value<int64_t>(0);
    ASSERT_GE(first, 0);
    ASSERT_LE(first + b.num_rows(), total);
    RecordBatch generated = gen::GenerateRows(gen::GenSchema::kMixed, seed, first, b.num_rows());
    ASSERT_EQ(b.schema()->num_fields(), generated.schema()->num_fields());
    RecordBatch expected(b.schema(), generated.num_rows(), generated.columns());
    std::string why;
    ASSERT_TRUE(b.Equals(expected, &why)) << "rows from " << first << ": " << why;
    for (int64_t i = 0; i < b.num_rows(); ++i) ++seen[static_cast<size_t>(first + i)];
  }
  for (int64_t i = 0; i < total; ++i) ASSERT_EQ(seen[static_cast<size_t>(i)], 1) << "row " << i;
}

class RabbitmqRuntimeTest : public RabbitmqTest {
 protected:
  int64_t Export(int64_t rows) {
    auto source = Registry::Global().MakeSource("gen:///?rows=" + std::to_string(rows) +
                                                "&seed=7&schema=mixed");
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    auto publisher = Publisher();
    pipeline::RunStats stats;
    Status st = pipeline::RunExport(source->get(), publisher.get(), SmallParts(2), &stats);
    EXPECT_TRUE(st.ok()) << st.ToString() << " " << stats.error;
    return stats.parts;
  }
  void ExpectTable(const std::string& db, int64_t rows) {
    auto source = Registry::Global().MakeSource(db);
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    CollectSink sink;
    pipeline::RunStats stats;
    ASSERT_TRUE(pipeline::RunCopy(source->get(), &sink, SmallParts(2), &stats).ok()) << stats.error;
    EXPECT_EQ(stats.rows, rows);
    ExpectExactlyGenRows(sink.batches(), 7, rows);
  }
  TempDir tmp_;
};

TEST_F(RabbitmqRuntimeTest, ExportThenImportWithThreeWorkersIsExact) {
  const int64_t rows = 60000;
  const int64_t parts = Export(rows);
  ASSERT_GT(parts, 5);
  const std::string db = "sqlite://" + tmp_.sub("dst.db") + "?table=t";
  auto sink = Registry::Global().MakeSink(db);
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  auto sub = Subscriber();
  pipeline::RunStats stats;
  Status st = pipeline::RunImport(sub.get(), sink->get(), SmallParts(3), &stats);
  ASSERT_TRUE(st.ok()) << st.ToString() << " " << stats.error;
  EXPECT_EQ(stats.rows, rows);
  EXPECT_EQ(stats.duplicates, 0);
  ASSERT_TRUE((*sink)->Close().ok());
  EXPECT_EQ(Count(queue_), 0u);
  ExpectTable(db, rows);
}

TEST_F(RabbitmqRuntimeTest, TwoImportersSharingTheQueueApplyEachPartOnce) {
  const int64_t rows = 80000;
  const int64_t parts = Export(rows);
  ASSERT_GT(parts, 8);
  const std::string db = "sqlite://" + tmp_.sub("shared.db") + "?table=t";
  pipeline::RunStats stats[2];
  Status status[2];
  auto import = [&](int i) {
    auto sink = Registry::Global().MakeSink(db);
    if (!sink.ok()) {
      status[i] = sink.status();
      return;
    }
    auto sub = Subscriber();
    status[i] = pipeline::RunImport(sub.get(), sink->get(), SmallParts(2), &stats[i]);
    (void)(*sink)->Close();
  };
  std::thread a(import, 0), b(import, 1);
  a.join();
  b.join();
  for (int i = 0; i < 2; ++i) {
    // An importer that found the queue already drained reports "no parts".
    if (!status[i].ok()) {
      EXPECT_EQ(status[i].code(), StatusCode::kNotFound)
          << status[i].ToString() << " " << stats[i].error;
    }
  }
  EXPECT_EQ(stats[0].rows + stats[1].rows + stats[0].duplicate_rows + stats[1].duplicate_rows,
            rows);
  EXPECT_EQ(Count(queue_), 0u);
  ExpectTable(db, rows);
}

}  // namespace
}  // namespace sluice
