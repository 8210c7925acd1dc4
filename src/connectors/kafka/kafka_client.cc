#include "connectors/kafka/kafka_client.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "core/log.h"

namespace sluice::kafka {

namespace {

struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
using Queue = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;

struct EventDeleter {
  void operator()(rd_kafka_event_t* ev) const { rd_kafka_event_destroy(ev); }
};
using Event = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
using AdminOptions = std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter>;

struct TopicDeleter {
  void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
using Topic = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* md) const { rd_kafka_metadata_destroy(md); }
};
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

Status Set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value,
           bool secret = false) {
  char err[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    return Status::InvalidArgument("kafka: client property " + name + "=" +
                                   (secret ? std::string("***") : value) + ": " + err);
  }
  return Status::OK();
}

// Admin requests are answered on a private queue; waits a little longer than
// the request timeout so librdkafka reports the timeout itself.
Result<Event> AwaitAdmin(rd_kafka_queue_t* queue, rd_kafka_event_type_t type, int64_t timeout_ms,
                         const std::string& what) {
  Event ev(rd_kafka_queue_poll(queue, static_cast<int>(timeout_ms + 2000)));
  if (!ev)
    return Status::IOError("kafka: " + what + ": no answer within " + std::to_string(timeout_ms) +
                           " ms");
  if (rd_kafka_event_type(ev.get()) != type) {
    return Status::Internal("kafka: " + what + ": unexpected event " +
                            rd_kafka_event_name(ev.get()));
  }
  if (rd_kafka_event_error(ev.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* s = rd_kafka_event_error_string(ev.get());
    return Status::IOError(
        "kafka: " + what + ": " +
        (s != nullptr ? std::string(s) : DescribeError(rd_kafka_event_error(ev.get()))));
  }
  return ev;
}

Result<AdminOptions> MakeAdminOptions(rd_kafka_t* rk, rd_kafka_admin_op_t op, int64_t timeout_ms) {
  AdminOptions o(rd_kafka_AdminOptions_new(rk, op));
  if (!o) return Status::Internal("kafka: rd_kafka_AdminOptions_new failed");
  char err[256];
  const int t = static_cast<int>(std::max<int64_t>(1, timeout_ms));
  if (rd_kafka_AdminOptions_set_request_timeout(o.get(), t, err, sizeof(err)) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::InvalidArgument(std::string("kafka: admin request timeout: ") + err);
  }
  if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS &&
      rd_kafka_AdminOptions_set_operation_timeout(o.get(), t, err, sizeof(err)) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::InvalidArgument(std::string("kafka: admin operation timeout: ") + err);
  }
  return o;
}

// One metadata request for `topic` only.
Result<Metadata> FetchTopicMetadata(rd_kafka_t* rk, const Endpoint& endpoint, int64_t timeout_ms) {
  Topic topic(rd_kafka_topic_new(rk, endpoint.topic.c_str(), nullptr));
  if (!topic) {
    return Status::InvalidArgument("kafka: invalid topic '" + endpoint.topic +
                                   "': " + DescribeError(rd_kafka_last_error()));
  }
  const rd_kafka_metadata_t* raw = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(
      rk, 0, topic.get(), &raw, static_cast<int>(std::max<int64_t>(1, timeout_ms)));
  Metadata md(raw);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::IOError("kafka: cannot reach the cluster at " + endpoint.brokers +
                           " (metadata of topic '" + endpoint.topic + "'): " + DescribeError(err));
  }
  return md;
}

}  // namespace

std::string DescribeError(rd_kafka_resp_err_t err) {
  return std::string(rd_kafka_err2str(err)) + " (" + rd_kafka_err2name(err) + ")";
}

std::string FormatBytes(int64_t bytes, bool human_readable) {
  std::string digits = std::to_string(bytes < 0 ? -bytes : bytes);
  std::string grouped;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped.push_back(',');
    grouped.push_back(digits[i]);
  }
  if (bytes < 0) grouped.insert(grouped.begin(), '-');
  char human[32];
  if (!human_readable) {
    human[0] = '\0';
  } else if (bytes >= (int64_t{1} << 20)) {
    std::snprintf(human, sizeof(human), " (%.1f MiB)", static_cast<double>(bytes) / (1 << 20));
  } else if (bytes >= 1024) {
    std::snprintf(human, sizeof(human), " (%.1f KiB)", static_cast<double>(bytes) / 1024);
  } else {
    human[0] = '\0';
  }
  return grouped + " bytes" + human;
}

Result<std::vector<std::pair<std::string, std::string>>> ParseProperties(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!text.empty()) {
    const size_t sep = text.find_first_of(";\n");
    std::string_view entry = Trim(text.substr(0, sep));
    text = sep == std::string_view::npos ? std::string_view() : text.substr(sep + 1);
    if (entry.empty()) continue;
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos || Trim(entry.substr(0, eq)).empty()) {
      return Status::InvalidArgument("kafka: properties: expected name=value, got '" +
                                     std::string(entry) + "'");
    }
    out.emplace_back(std::string(Trim(entry.substr(0, eq))),
                     std::string(Trim(entry.substr(eq + 1))));
  }
  return out;
}

void LogCallback(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  // librdkafka uses syslog levels; its warnings (4) are mostly transient
  // connection trouble it recovers from, reported again through the error
  // callback when it matters.
  const LogLevel mapped = level <= 2   ? LogLevel::kError
                          : level <= 3 ? LogLevel::kWarn
                          : level <= 6 ? LogLevel::kDebug
                                       : LogLevel::kTrace;
  if (!LogEnabled(mapped)) return;
  std::string line = "kafka: ";
  line += rk != nullptr ? rd_kafka_name(rk) : "rdkafka";
  line += " ";
  line += facility != nullptr ? facility : "";
  line += ": ";
  line += message != nullptr ? message : "";
  LogWrite(mapped, line);
}

Result<Conf> MakeConf(const Endpoint& endpoint,
                      const std::vector<std::pair<std::string, std::string>>& base,
                      const std::vector<std::pair<std::string, std::string>>& properties,
                      const std::vector<std::pair<std::string, std::string>>& enforced) {
  Conf conf(rd_kafka_conf_new());
  if (!conf) return Status::Internal("kafka: rd_kafka_conf_new failed");
  rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
  SLUICE_RETURN_NOT_OK(Set(conf.get(), "bootstrap.servers", endpoint.brokers));
  SLUICE_RETURN_NOT_OK(Set(conf.get(), "client.id", "sluice"));
  for (const auto& [name, value] : base) SLUICE_RETURN_NOT_OK(Set(conf.get(), name, value));
  bool user_protocol = false, user_mechanism = false;
  for (const auto& [name, value] : properties) {
    for (const auto& [fixed, fixed_value] : enforced) {
      if (name == fixed) {
        return Status::InvalidArgument("kafka: property " + name + " is managed by sluice (it is " +
                                       fixed_value + ": the delivery guarantees rely on it)");
      }
    }
    if (name == "bootstrap.servers") {
      return Status::InvalidArgument(
          "kafka: give the brokers in the URI (kafka://host:port,host:port/topic), "
          "not as property bootstrap.servers");
    }
    user_protocol = user_protocol || name == "security.protocol";
    user_mechanism = user_mechanism || name == "sasl.mechanism" || name == "sasl.mechanisms";
    const bool secret =
        name.find("password") != std::string::npos || name.find("secret") != std::string::npos;
    SLUICE_RETURN_NOT_OK(Set(conf.get(), name, value, secret));
  }
  for (const auto& [name, value] : enforced) SLUICE_RETURN_NOT_OK(Set(conf.get(), name, value));
  if (!endpoint.user.empty()) {
    // kafka://user:password@host/topic: SASL PLAIN unless the properties say
    // otherwise (e.g. security.protocol=SASL_SSL;sasl.mechanism=SCRAM-SHA-512).
    if (!user_protocol)
      SLUICE_RETURN_NOT_OK(Set(conf.get(), "security.protocol", "SASL_PLAINTEXT"));
    if (!user_mechanism) SLUICE_RETURN_NOT_OK(Set(conf.get(), "sasl.mechanism", "PLAIN"));
    SLUICE_RETURN_NOT_OK(Set(conf.get(), "sasl.username", endpoint.user));
    SLUICE_RETURN_NOT_OK(Set(conf.get(), "sasl.password", endpoint.password, /*secret=*/true));
  }
  return conf;
}

Result<Handle> MakeHandle(rd_kafka_type_t type, Conf conf, std::string_view what) {
  char err[512];
  // rd_kafka_new takes the configuration only when it succeeds.
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof(err));
  if (rk == nullptr)
    return Status::InvalidArgument("kafka: cannot create the " + std::string(what) + ": " + err);
  (void)conf.release();
  return Handle(rk);
}

Result<int> TopicPartitionCount(rd_kafka_t* rk, const Endpoint& endpoint, int64_t timeout_ms) {
  SLUICE_ASSIGN_OR_RETURN(Metadata md, FetchTopicMetadata(rk, endpoint, timeout_ms));
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (endpoint.topic != t.topic) continue;
    if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        (t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt == 0)) {
      return Status::NotFound("kafka: topic '" + endpoint.topic + "' does not exist on " +
                              endpoint.brokers);
    }
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::IOError("kafka: topic '" + endpoint.topic + "' on " + endpoint.brokers + ": " +
                             DescribeError(t.err));
    }
    return t.partition_cnt;
  }
  return Status::NotFound("kafka: topic '" + endpoint.topic + "' does not exist on " +
                          endpoint.brokers);
}

Status CreateTopic(rd_kafka_t* rk, const Endpoint& endpoint, int partitions, int replication,
                   const std::map<std::string, std::string>& configs, int64_t timeout_ms) {
  const std::string what = "creating topic '" + endpoint.topic + "' (" +
                           std::to_string(partitions) + " partition(s), replication " +
                           std::to_string(replication) + ")";
  char err[512];
  rd_kafka_NewTopic_t* raw =
      rd_kafka_NewTopic_new(endpoint.topic.c_str(), partitions, replication, err, sizeof(err));
  if (raw == nullptr) return Status::InvalidArgument("kafka: " + what + ": " + err);
  std::unique_ptr<rd_kafka_NewTopic_t, void (*)(rd_kafka_NewTopic_t*)> topic(
      raw, rd_kafka_NewTopic_destroy);
  for (const auto& [name, value] : configs) {
    if (rd_kafka_NewTopic_set_config(topic.get(), name.c_str(), value.c_str()) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::InvalidArgument("kafka: " + what + ": bad topic config " + name + "=" + value);
    }
  }
  SLUICE_ASSIGN_OR_RETURN(AdminOptions options,
                          MakeAdminOptions(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms));
  Queue queue(rd_kafka_queue_new(rk));
  rd_kafka_NewTopic_t* topics[] = {topic.get()};
  rd_kafka_CreateTopics(rk, topics, 1, options.get(), queue.get());
  SLUICE_ASSIGN_OR_RETURN(
      Event ev, AwaitAdmin(queue.get(), RD_KAFKA_EVENT_CREATETOPICS_RESULT, timeout_ms, what));
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(ev.get());
  size_t n = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &n);
  for (size_t i = 0; i < n; ++i) {
    const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
      SLUICE_LOG(kInfo) << "kafka: created topic '" << endpoint.topic << "' with " << partitions
                        << " partition(s), replication " << replication;
    } else if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      SLUICE_LOG(kDebug) << "kafka: topic '" << endpoint.topic << "' already exists";
    } else {
      const char* s = rd_kafka_topic_result_error_string(results[i]);
      return Status::IOError("kafka: " + what + ": " + (s != nullptr ? std::string(s) + " " : "") +
                             "(" + rd_kafka_err2name(e) + ")");
    }
  }
  // Creation completes asynchronously in the cluster: wait until every
  // partition has a leader, so the first produce does not race it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    auto md = FetchTopicMetadata(rk, endpoint, timeout_ms);
    if (md.ok()) {
      for (int i = 0; i < (*md)->topic_cnt; ++i) {
        const rd_kafka_metadata_topic_t& t = (*md)->topics[i];
        if (endpoint.topic != t.topic || t.err != RD_KAFKA_RESP_ERR_NO_ERROR ||
            t.partition_cnt == 0)
          continue;
        bool leaders = true;
        for (int p = 0; p < t.partition_cnt; ++p) leaders = leaders && t.partitions[p].leader >= 0;
        if (leaders) return Status::OK();
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::IOError("kafka: topic '" + endpoint.topic +
                             "' was created but its partitions have no "
                             "leader after " +
                             std::to_string(timeout_ms) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Result<std::string> DescribeTopicConfig(rd_kafka_t* rk, const Endpoint& endpoint,
                                        const std::string& name, int64_t timeout_ms) {
  const std::string what = "reading config " + name + " of topic '" + endpoint.topic + "'";
  std::unique_ptr<rd_kafka_ConfigResource_t, void (*)(rd_kafka_ConfigResource_t*)> resource(
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, endpoint.topic.c_str()),
      rd_kafka_ConfigResource_destroy);
  if (!resource) return Status::Internal("kafka: rd_kafka_ConfigResource_new failed");
  SLUICE_ASSIGN_OR_RETURN(AdminOptions options,
                          MakeAdminOptions(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout_ms));
  Queue queue(rd_kafka_queue_new(rk));
  rd_kafka_ConfigResource_t* resources[] = {resource.get()};
  rd_kafka_DescribeConfigs(rk, resources, 1, options.get(), queue.get());
  SLUICE_ASSIGN_OR_RETURN(
      Event ev, AwaitAdmin(queue.get(), RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, timeout_ms, what));
  const rd_kafka_DescribeConfigs_result_t* result = rd_kafka_event_DescribeConfigs_result(ev.get());
  size_t n = 0;
  const rd_kafka_ConfigResource_t** described =
      rd_kafka_DescribeConfigs_result_resources(result, &n);
  for (size_t i = 0; i < n; ++i) {
    const rd_kafka_resp_err_t e = rd_kafka_ConfigResource_error(described[i]);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* s = rd_kafka_ConfigResource_error_string(described[i]);
      return Status::IOError("kafka: " + what + ": " +
                             (s != nullptr ? std::string(s) : DescribeError(e)));
    }
    size_t count = 0;
    const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(described[i], &count);
    for (size_t j = 0; j < count; ++j) {
      const char* entry_name = rd_kafka_ConfigEntry_name(entries[j]);
      const char* value = rd_kafka_ConfigEntry_value(entries[j]);
      if (entry_name != nullptr && name == entry_name && value != nullptr)
        return std::string(value);
    }
  }
  return Status::NotFound("kafka: " + what + ": not in the broker's answer");
}

}  // namespace sluice::kafka
