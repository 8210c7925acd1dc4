#include "connectors/kafka/kafka.h"

#include "connectors/kafka/kafka_client.h"

namespace sluice {
namespace kafka {

Result<Endpoint> ParseEndpoint(const Uri& uri) {
  Endpoint e;
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("'" + uri.Redacted() + "': " + why +
                                   " (expected kafka://host:port[,host:port]/topic)");
  };
  if (uri.host.empty()) return bad("no broker address");
  // Uri keeps "a:1,b" as the host and the last port separately.
  e.brokers = uri.host.find(':') != std::string::npos && uri.host.front() != '[' &&
                      uri.host.find(',') == std::string::npos
                  ? "[" + uri.host + "]"  // a bare IPv6 address
                  : uri.host;
  if (uri.port != 0) e.brokers += ":" + std::to_string(uri.port);
  std::string_view path = uri.path;
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (path.empty()) return bad("no topic");
  if (path.size() > 249) return bad("topic name longer than 249 characters");
  for (char c : path) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return bad("topic '" + std::string(path) +
                 "' has a character Kafka does not allow in topic names ('" + std::string(1, c) +
                 "'; allowed: letters, digits, '.', '_', '-')");
    }
  }
  if (path == "." || path == "..") return bad("topic '" + std::string(path) + "' is not allowed");
  e.topic = std::string(path);
  e.user = uri.user;
  e.password = uri.password;
  return e;
}

namespace {
OptionSpecs Concat(OptionSpecs a, const OptionSpecs& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
}  // namespace

OptionSpecs PublisherOptionSpecs() {
  return Concat({
      {"create_topic", OptionType::kBool, "false",
       "create the topic when it does not exist (with partitions, replication, and "
       "max_message_bytes as its max.message.bytes, default 8MiB)"},
      {"partitions", OptionType::kInt, "1", "partitions of a created topic"},
      {"replication", OptionType::kInt, "1", "replication factor of a created topic"},
      {"max_message_bytes", OptionType::kSize, "",
       "largest message sent; default: the topic's max.message.bytes, or 1MiB when it cannot be "
       "read. A larger part is refused (use a smaller --part-size)"},
      {"delivery_timeout", OptionType::kDuration, "2m",
       "a part the broker has not acknowledged by then fails the export (message.timeout.ms)"},
      {"flush_timeout", OptionType::kDuration, "5m",
       "how long the end of the export waits for outstanding acknowledgements"},
      {"admin_timeout", OptionType::kDuration, "15s",
       "timeout of metadata, topic creation and topic config requests"},
      {"linger", OptionType::kDuration, "5ms", "producer linger.ms"},
      {"format",
       OptionType::kEnum,
       "part",
       "native parts, TDTP XML packets for TDTP-framework consumers, or one JSON object per row "
       "(json) for any client",
       {"part", "tdtp", "json"}},
      {"spread", OptionType::kBool, "true",
       "parts of a stream go round-robin over the topic's partitions (the end part to all), so "
       "a consumer group shares one export; false: one partition per stream (its key's)"},
      {"table", OptionType::kString, "", "format=tdtp: the TDTP table name (default: the topic)"},
      {"properties", OptionType::kString, "",
       "extra librdkafka properties, 'name=value;name=value' (TLS, SASL, tuning)"},
  }, rowmsg::PublisherOptionSpecs());
}

OptionSpecs SubscriberOptionSpecs() {
  return Concat({
      {"group", OptionType::kString, "", "consumer group (default: sluice-<topic>)"},
      {"dead_letter_topic", OptionType::kString, "",
       "a part skipped under --on-error skip-part is also produced to this topic (headers name "
       "its origin) before the import commits past it"},
      {"until_end", OptionType::kBool, "false",
       "end only when every stream seen has its end part in every assigned partition (waits "
       "for an export still running); default: end at the end of the partitions"},
      {"format",
       OptionType::kEnum,
       "part",
       "part: native parts or TDTP packets (told apart by their bytes); json: one JSON object "
       "per row, batched into parts",
       {"part", "tdtp", "json"}},
      {"follow", OptionType::kBool, "false",
       "keep waiting for new parts until stopped (SIGINT); default: stop at the end of the topic"},
      {"from",
       OptionType::kEnum,
       "earliest",
       "where a group without committed offsets starts",
       {"earliest", "latest"}},
      {"session_timeout", OptionType::kDuration, "45s", "consumer group session.timeout.ms"},
      {"prefetch", OptionType::kString, "auto",
       "bytes of messages fetched ahead of the workers (fetching pauses when they are held): "
       "memory against throughput on distant brokers; auto = 2MiB per worker (parts), 24MiB "
       "(format=json)"},
      {"lag_interval", OptionType::kDuration, "30s",
       "follow: how often the consumer lag is logged"},
      {"admin_timeout", OptionType::kDuration, "15s", "timeout of metadata and offset requests"},
      {"properties", OptionType::kString, "",
       "extra librdkafka properties, 'name=value;name=value' (TLS, SASL, tuning)"},
  }, rowmsg::SubscriberOptionSpecs());
}

namespace {

Result<int> PositiveInt(const Options& o, const char* name) {
  const int64_t v = o.GetInt(name);
  if (v < 1 || v > 1000000) {
    return Status::InvalidArgument("kafka: " + std::string(name) + "=" + std::to_string(v) +
                                   " is out of range (1..1000000)");
  }
  return static_cast<int>(v);
}

}  // namespace
}  // namespace kafka

void RegisterKafka(Registry* registry) {
  ConnectorInfo info;
  info.scheme = "kafka";
  info.summary =
      "an Apache Kafka topic (kafka://host:port[,host:port]/topic): export target, import origin";
  info.source_options = kafka::SubscriberOptionSpecs();
  info.sink_options = kafka::PublisherOptionSpecs();
  info.make_publisher = [](const Uri& uri,
                           const Options& o) -> Result<std::unique_ptr<PartPublisher>> {
    SLUICE_ASSIGN_OR_RETURN(kafka::Endpoint endpoint, kafka::ParseEndpoint(uri));
    kafka::PublisherOptions po;
    if (o.GetString("format") == "tdtp") {
      po.encoding.format = PartEncoding::Format::kTdtp;
      po.encoding.table_name = o.GetString("table").empty() ? endpoint.topic : o.GetString("table");
    } else if (o.GetString("format") == "json") {
      po.message_format = kafka::MessageFormat::kJson;
    }
    SLUICE_ASSIGN_OR_RETURN(po.rows, rowmsg::ParseOptions(o, /*subscriber=*/false));
    po.spread = o.GetBool("spread");
    po.create_topic = o.GetBool("create_topic");
    SLUICE_ASSIGN_OR_RETURN(po.partitions, kafka::PositiveInt(o, "partitions"));
    SLUICE_ASSIGN_OR_RETURN(po.replication, kafka::PositiveInt(o, "replication"));
    if (o.Has("max_message_bytes")) po.max_message_bytes = o.GetSizeBytes("max_message_bytes");
    po.delivery_timeout_ms = o.GetDurationMs("delivery_timeout");
    po.flush_timeout_ms = o.GetDurationMs("flush_timeout");
    po.admin_timeout_ms = o.GetDurationMs("admin_timeout");
    po.linger_ms = o.GetDurationMs("linger");
    SLUICE_ASSIGN_OR_RETURN(po.properties, kafka::ParseProperties(o.GetString("properties")));
    return kafka::MakePublisher(std::move(endpoint), std::move(po));
  };
  info.make_subscriber = [](const Uri& uri,
                            const Options& o) -> Result<std::unique_ptr<PartSubscriber>> {
    SLUICE_ASSIGN_OR_RETURN(kafka::Endpoint endpoint, kafka::ParseEndpoint(uri));
    kafka::SubscriberOptions so;
    so.group = o.GetString("group");
    so.follow = o.GetBool("follow");
    so.until_end = o.GetBool("until_end");
    so.dead_letter_topic = o.GetString("dead_letter_topic");
    if (so.follow && so.until_end) {
      return Status::InvalidArgument("kafka: follow and until_end exclude each other");
    }
    if (o.GetString("format") == "json") so.message_format = kafka::MessageFormat::kJson;
    SLUICE_ASSIGN_OR_RETURN(so.rows, rowmsg::ParseOptions(o, /*subscriber=*/true));
    so.from_latest = o.GetString("from") == "latest";
    so.session_timeout_ms = o.GetDurationMs("session_timeout");
    so.lag_interval_ms = o.GetDurationMs("lag_interval");
    if (const std::string prefetch = o.GetString("prefetch"); prefetch != "auto") {
      auto bytes = ParseSize(prefetch);
      if (!bytes.ok() || *bytes < 1024 || *bytes > (int64_t{2} << 30)) {
        return Status::InvalidArgument("kafka: prefetch must be auto or a size between 1KiB and "
                                       "2GiB, not '" + prefetch + "'");
      }
      so.prefetch_bytes = *bytes;
    }
    so.admin_timeout_ms = o.GetDurationMs("admin_timeout");
    SLUICE_ASSIGN_OR_RETURN(so.properties, kafka::ParseProperties(o.GetString("properties")));
    return kafka::MakeSubscriber(std::move(endpoint), std::move(so));
  };
  registry->Add(std::move(info));
}

}  // namespace sluice
