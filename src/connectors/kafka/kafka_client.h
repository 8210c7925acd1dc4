// Internal to the Kafka connector: RAII for librdkafka handles, client
// configuration shared by the publisher and the subscriber, and the few admin
// calls they need (topic metadata, topic creation, topic config lookup).
//
// Thread safety: the helpers are stateless; librdkafka handles themselves are
// thread-safe for the calls made here.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connectors/kafka/kafka.h"
#include "core/status.h"

namespace sluice::kafka {

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
using Conf = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

// librdkafka properties as given by the `properties` option:
// "name=value;name=value" (';' or newlines separate pairs; whitespace around
// names and values is trimmed). Errors name the malformed entry.
Result<std::vector<std::pair<std::string, std::string>>> ParseProperties(std::string_view text);

// Builds a configuration: `base` (sluice's defaults), then the user's
// `properties` (which may override defaults), then `enforced` (what the
// delivery guarantees rest on; a user property naming one of them is an
// InvalidArgument error), then SASL credentials from the endpoint.
Result<Conf> MakeConf(const Endpoint& endpoint,
                      const std::vector<std::pair<std::string, std::string>>& base,
                      const std::vector<std::pair<std::string, std::string>>& properties,
                      const std::vector<std::pair<std::string, std::string>>& enforced);

// Creates a client; takes ownership of `conf` in every case.
Result<Handle> MakeHandle(rd_kafka_type_t type, Conf conf, std::string_view what);

// Routes librdkafka's log lines into sluice's log (syslog levels mapped to
// error/warn/debug/trace). Installed on every configuration MakeConf builds.
void LogCallback(const rd_kafka_t* rk, int level, const char* facility, const char* message);

// "Broker: Topic authorization failed (TOPIC_AUTHORIZATION_FAILED)".
std::string DescribeError(rd_kafka_resp_err_t err);

// Partition count of `topic`; NotFound when the cluster does not know it,
// IOError when the cluster cannot be reached within `timeout_ms`.
Result<int> TopicPartitionCount(rd_kafka_t* rk, const Endpoint& endpoint, int64_t timeout_ms);

// Creates `topic` (CreateTopics admin request) with `configs` as topic
// configuration; an already existing topic is not an error. Waits until the
// metadata shows every partition with a leader.
Status CreateTopic(rd_kafka_t* rk, const Endpoint& endpoint, int partitions, int replication,
                   const std::map<std::string, std::string>& configs, int64_t timeout_ms);

// The value of topic configuration `name` (DescribeConfigs admin request).
// Fails when the cluster does not answer within `timeout_ms` (mock clusters
// and old brokers have no controller to ask) or has no such entry.
Result<std::string> DescribeTopicConfig(rd_kafka_t* rk, const Endpoint& endpoint,
                                        const std::string& name, int64_t timeout_ms);

// "1,048,588 bytes (1.0 MiB)" for messages; without the part in
// parentheses when `human` is false.
std::string FormatBytes(int64_t bytes, bool human = true);

}  // namespace sluice::kafka
