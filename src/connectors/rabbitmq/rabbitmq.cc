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
  e.tls = uri.scheme == "amqps";
  if (e.tls) e.port = 5671;
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
      {"tls", OptionType::kBool, "false",
       "connect with TLS (default port 5671); amqps:// implies it"},
      {"tls_ca", OptionType::kString, "",
       "TLS: CA certificates (PEM file) the server certificate must chain to (default: the "
       "system CAs)"},
      {"tls_cert", OptionType::kString, "", "TLS: client certificate (PEM file), with tls_key"},
      {"tls_key", OptionType::kString, "", "TLS: client private key (unencrypted PEM file)"},
      {"tls_verify", OptionType::kBool, "true",
       "TLS: verify the server certificate (chain and host name); false: encrypt only"},
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
  specs.push_back({"format",
                   OptionType::kEnum,
                   "part",
                   "native parts, TDTP XML packets (tdtp) for TDTP-framework consumers, or one "
                   "JSON object per row (json) for any client",
                   {"part", "tdtp", "json"}});
  specs.push_back({"table", OptionType::kString, "",
                   "format=tdtp: the TDTP table name (default: the queue)"});
  for (auto& spec : rowmsg::PublisherOptionSpecs()) specs.push_back(std::move(spec));
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
  specs.push_back({"format",
                   OptionType::kEnum,
                   "part",
                   "part: native parts or TDTP packets (told apart by their bytes); json: one "
                   "JSON object per message, batched into parts",
                   {"part", "tdtp", "json"}});
  for (auto& spec : rowmsg::SubscriberOptionSpecs()) specs.push_back(std::move(spec));
  return specs;
}

namespace {

Result<Endpoint> EndpointFrom(const Uri& uri, const Options& o) {
  SLUICE_ASSIGN_OR_RETURN(Endpoint e, ParseEndpoint(uri));
  if (o.GetBool("tls") && !e.tls) {
    e.tls = true;
    if (uri.port == 0) e.port = 5671;
  }
  e.ca = o.GetString("tls_ca");
  e.cert = o.GetString("tls_cert");
  e.key = o.GetString("tls_key");
  e.verify = o.GetBool("tls_verify");
  if (!e.tls && (!e.ca.empty() || !e.cert.empty() || !e.key.empty())) {
    return Status::InvalidArgument(
        "rabbitmq: tls_ca=, tls_cert= and tls_key= need TLS: use amqps:// (or tls=true)");
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
    if (o.GetString("format") == "tdtp") {
      po.encoding.format = PartEncoding::Format::kTdtp;
      po.encoding.table_name = !o.GetString("table").empty() ? o.GetString("table")
                               : !po.queue.empty()           ? po.queue
                                                             : "data";
    }
    po.json_rows = o.GetString("format") == "json";
    SLUICE_ASSIGN_OR_RETURN(po.rows, rowmsg::ParseOptions(o, /*subscriber=*/false));
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
    so.json_rows = o.GetString("format") == "json";
    SLUICE_ASSIGN_OR_RETURN(so.rows, rowmsg::ParseOptions(o, /*subscriber=*/true));
    return rabbitmq::MakeSubscriber(std::move(endpoint), std::move(so));
  };
  // amqps:// is the same connector over TLS (ParseEndpoint reads the scheme).
  ConnectorInfo tls_info = info;
  tls_info.scheme = "amqps";
  tls_info.summary = "a RabbitMQ queue over TLS (amqps://user:pass@host:port/vhost?queue=Q)";
  registry->Add(std::move(info));
  registry->Add(std::move(tls_info));
}

}  // namespace sluice
