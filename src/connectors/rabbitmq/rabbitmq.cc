#include "connectors/rabbitmq/rabbitmq.h"

namespace sluice {
namespace rabbitmq {

std::string Endpoint::Describe() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + " vhost '" + vhost + "'";
}

Result<Endpoint> ParseEndpoint(const Uri& uri) {
  Endpoint e;
  if (uri.host.empty()) {
    return Status::InvalidArgument(
        "'" + uri.Redacted() +
        "': no broker host (expected amqp://user:pass@host:port/vhost?queue=Q)");
  }
  e.host = uri.host;
  if (uri.port != 0) e.port = uri.port;
  if (!uri.user.empty()) {
    e.user = uri.user;
    e.password = uri.password;
  }
  // Uri decoded the path already: "/%2f" arrived as "//" and names vhost "/".
  std::string_view path = uri.path;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  e.vhost = path.empty() ? "/" : std::string(path);
  return e;
}

namespace {

OptionSpecs CommonOptions() {
  return {
      {"queue", OptionType::kString, "", "the queue parts go to / come from"},
      {"declare", OptionType::kBool, "true",
       "declare the durable queue (with its dead-letter topology) if it does not exist; false: it "
       "must exist"},
      {"dead_letter", OptionType::kBool, "true",
       "declare the queue with x-dead-letter-exchange=<queue>.dlx (fanout) bound to the queue "
       "<queue>.dead"},
      {"connect_timeout", OptionType::kDuration, "10s", "TCP/TLS connect timeout"},
      {"heartbeat", OptionType::kDuration, "0s",
       "AMQP heartbeat interval (0: none; rabbitmq-c only answers heartbeats inside its calls)"},
      {"tls", OptionType::kBool, "false", "connect with TLS (default port 5671)"},
      {"ca", OptionType::kString, "", "tls: CA certificate file (PEM)"},
      {"cert", OptionType::kString, "", "tls: client certificate file (PEM)"},
      {"key", OptionType::kString, "", "tls: client private key file (PEM)"},
      {"verify", OptionType::kBool, "true", "tls: verify the server certificate and host name"},
  };
}

}  // namespace

OptionSpecs PublisherOptionSpecs() {
  OptionSpecs specs = CommonOptions();
  specs.push_back(
      {"exchange", OptionType::kString, "",
       "publish through this exchange (default: the default exchange, routing by queue name)"});
  specs.push_back(
      {"routing_key", OptionType::kString, "", "routing key (default: the queue name)"});
  specs.push_back({"max_unconfirmed", OptionType::kInt, "64",
                   "parts published but not yet confirmed by the broker before Publish waits"});
  specs.push_back({"flush_timeout", OptionType::kDuration, "5m",
                   "how long the end of the export waits for outstanding publisher confirms"});
  return specs;
}

OptionSpecs SubscriberOptionSpecs() {
  OptionSpecs specs = CommonOptions();
  specs.push_back(
      {"prefetch", OptionType::kInt, "8", "basic.qos prefetch count (unacked parts held)"});
  specs.push_back(
      {"follow", OptionType::kBool, "false",
       "keep consuming until stopped (SIGINT); default: stop once the queue is drained"});
  specs.push_back({"idle_ms", OptionType::kInt, "2000",
                   "follow=false: end after the queue was empty this long with nothing in flight"});
  specs.push_back(
      {"max_attempts", OptionType::kInt, "3",
       "a part whose delivery failed this many times is dead-lettered instead of requeued"});
  return specs;
}

namespace {

Result<Endpoint> EndpointFrom(const Uri& uri, const Options& o) {
  SLUICE_ASSIGN_OR_RETURN(Endpoint e, ParseEndpoint(uri));
  e.tls = o.GetBool("tls");
  if (e.tls && uri.port == 0) e.port = 5671;
  e.ca = o.GetString("ca");
  e.cert = o.GetString("cert");
  e.key = o.GetString("key");
  e.verify = o.GetBool("verify");
  if (!e.tls && (!e.ca.empty() || !e.cert.empty() || !e.key.empty())) {
    return Status::InvalidArgument("rabbitmq: ca=, cert= and key= need tls=true");
  }
  e.connect_timeout_ms = o.GetDurationMs("connect_timeout");
  const int64_t hb = o.GetDurationMs("heartbeat") / 1000;
  if (hb < 0 || hb > 65535)
    return Status::InvalidArgument("rabbitmq: heartbeat out of range (0..65535s)");
  e.heartbeat_s = static_cast<int>(hb);
  return e;
}

Result<int> Ranged(const Options& o, const char* name, int64_t lo, int64_t hi) {
  const int64_t v = o.GetInt(name);
  if (v < lo || v > hi) {
    return Status::InvalidArgument("rabbitmq: " + std::string(name) + "=" + std::to_string(v) +
                                   " is out of range (" + std::to_string(lo) + ".." +
                                   std::to_string(hi) + ")");
  }
  return static_cast<int>(v);
}

}  // namespace
}  // namespace rabbitmq

void RegisterRabbitmq(Registry* registry) {
  ConnectorInfo info;
  info.scheme = "amqp";
  info.summary =
      "a RabbitMQ queue (amqp://user:pass@host:port/vhost?queue=Q): export target, import origin";
  info.source_options = rabbitmq::SubscriberOptionSpecs();
  info.sink_options = rabbitmq::PublisherOptionSpecs();
  info.make_publisher = [](const Uri& uri,
                           const Options& o) -> Result<std::unique_ptr<PartPublisher>> {
    SLUICE_ASSIGN_OR_RETURN(rabbitmq::Endpoint endpoint, rabbitmq::EndpointFrom(uri, o));
    rabbitmq::PublisherOptions po;
    po.queue = o.GetString("queue");
    po.exchange = o.GetString("exchange");
    po.routing_key = o.GetString("routing_key");
    po.declare = o.GetBool("declare");
    po.dead_letter = o.GetBool("dead_letter");
    SLUICE_ASSIGN_OR_RETURN(po.max_unconfirmed, rabbitmq::Ranged(o, "max_unconfirmed", 1, 100000));
    po.flush_timeout_ms = o.GetDurationMs("flush_timeout");
    return rabbitmq::MakePublisher(std::move(endpoint), std::move(po));
  };
  info.make_subscriber = [](const Uri& uri,
                            const Options& o) -> Result<std::unique_ptr<PartSubscriber>> {
    SLUICE_ASSIGN_OR_RETURN(rabbitmq::Endpoint endpoint, rabbitmq::EndpointFrom(uri, o));
    rabbitmq::SubscriberOptions so;
    so.queue = o.GetString("queue");
    SLUICE_ASSIGN_OR_RETURN(so.prefetch, rabbitmq::Ranged(o, "prefetch", 1, 65535));
    so.follow = o.GetBool("follow");
    SLUICE_ASSIGN_OR_RETURN(const int idle, rabbitmq::Ranged(o, "idle_ms", 0, 86400000));
    so.idle_ms = idle;
    SLUICE_ASSIGN_OR_RETURN(so.max_attempts, rabbitmq::Ranged(o, "max_attempts", 1, 1000000));
    so.declare = o.GetBool("declare");
    so.dead_letter = o.GetBool("dead_letter");
    return rabbitmq::MakeSubscriber(std::move(endpoint), std::move(so));
  };
  registry->Add(std::move(info));
}

}  // namespace sluice
