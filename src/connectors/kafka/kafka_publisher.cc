// The Kafka part publisher: one message per part, keyed by stream id and
// spread round-robin over the partitions (format=json: one message per row).
//
// librdkafka produces asynchronously: Publish() enqueues a copy of the part
// and returns; the broker's acknowledgement (or failure) arrives later as a
// delivery report, served on this thread by rd_kafka_poll/rd_kafka_flush. The
// first failed report is kept and returned by every later Publish/Flush, so
// a part the broker never stored fails the export instead of vanishing.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <mutex>
#include <unordered_map>

#include "connectors/kafka/kafka.h"
#include "connectors/kafka/kafka_client.h"
#include "core/log.h"

namespace sluice::kafka {

int64_t RecordBatchBytes(int64_t key_bytes, int64_t value_bytes,
                         const std::vector<std::pair<std::string, std::string>>& headers) {
  // Record batch v2: a 61-byte batch header, then the record: length,
  // attributes, timestamp delta, offset delta, key, value and header count
  // (varints, at most 5 or 10 bytes each), then each header's name and value
  // with their varint lengths.
  constexpr int64_t kBatchHeader = 61;
  constexpr int64_t kRecordFraming = 5 + 1 + 10 + 5 + 5 + 5 + 5;
  int64_t total = kBatchHeader + kRecordFraming + key_bytes + value_bytes;
  for (const auto& [name, value] : headers) {
    total += 5 + static_cast<int64_t>(name.size()) + 5 + static_cast<int64_t>(value.size());
  }
  return total;
}

namespace {

class KafkaPublisher final : public PartPublisher {
 public:
  KafkaPublisher(Endpoint endpoint, PublisherOptions options)
      : endpoint_(std::move(endpoint)), options_(std::move(options)) {}

  ~KafkaPublisher() override { Shutdown(/*log=*/false); }

  Status Open() override {
    if (producer_) return Status::OK();
    SLUICE_RETURN_NOT_OK(PrepareTopic());
    SLUICE_ASSIGN_OR_RETURN(Conf conf, MakeConf(endpoint_, ProducerBase(), options_.properties,
                                                {{"enable.idempotence", "true"}, {"acks", "all"}}));
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaPublisher::OnDelivery);
    rd_kafka_conf_set_error_cb(conf.get(), &KafkaPublisher::OnError);
    SLUICE_ASSIGN_OR_RETURN(producer_,
                            MakeHandle(RD_KAFKA_PRODUCER, std::move(conf), "Kafka producer"));
    // Learn the topic's partitions on this handle now: otherwise the first
    // parts wait for librdkafka's periodic topic scan (about 1 s) before
    // they can be partitioned and sent.
    auto partitions = TopicPartitionCount(producer_.get(), endpoint_, options_.admin_timeout_ms);
    if (!partitions.ok()) {
      SLUICE_LOG(kDebug) << "kafka: priming the producer's metadata: " << partitions.status();
    }
    SLUICE_LOG(kInfo) << "kafka: publishing to topic '" << endpoint_.topic << "' on "
                      << endpoint_.brokers << " (messages up to " << FormatBytes(limit_) << ", "
                      << limit_source_ << ")";
    return Status::OK();
  }

  Status Publish(const PartMeta& meta, std::string_view bytes) override {
    if (!producer_) return Status::Internal("kafka: Publish before Open");
    rd_kafka_poll(producer_.get(), 0);  // serve delivery reports of earlier parts
    SLUICE_RETURN_NOT_OK(FirstError());
    const std::string label =
        "part " + std::to_string(meta.part_number) + " of stream " + meta.stream_id;
    if (options_.message_format == MessageFormat::kJson) return PublishRows(meta, bytes, label);
    const bool tdtp = options_.encoding.format == PartEncoding::Format::kTdtp;
    if (tdtp && meta.end_of_stream) {
      // TDTP has no end part and Kafka messages cannot be rewritten with
      // <TotalParts>: the packets stay as streamed (TotalParts 0).
      SLUICE_LOG(kDebug) << "kafka: TDTP stream " << meta.stream_id << " ended after "
                         << meta.total_parts << " packet(s)";
      return Status::OK();
    }
    const std::vector<std::pair<std::string, std::string>> headers = {
        {kHeaderContentType, tdtp ? kContentTypeTdtp : kContentTypePart},
        {kHeaderFormat, tdtp ? "tdtp" : "part"},
        {kHeaderStreamId, meta.stream_id},
        {kHeaderPartNumber, std::to_string(meta.part_number)},
        {kHeaderTotalParts, std::to_string(meta.total_parts)},
        {kHeaderIdempotencyKey, meta.idempotency_key},
        {kHeaderEnd, meta.end_of_stream ? "1" : "0"},
    };
    SLUICE_RETURN_NOT_OK(CheckSize(meta.stream_id, bytes, headers, label,
                                   "export with a smaller --part-size (about {percent}% of the "
                                   "current one or less: parts are cut by their uncompressed "
                                   "size) or raise the topic's max.message.bytes"));
    const uint64_t id = Track(label);
    if (!options_.spread || partition_count_ < 2) {
      // The key's partition (murmur2): the whole stream in one partition.
      return Produce(id, RD_KAFKA_PARTITION_UA, meta.stream_id, bytes, headers, label);
    }
    if (!meta.end_of_stream) {
      const auto p = static_cast<int32_t>((meta.part_number - 1) % partition_count_);
      return Produce(id, p, meta.stream_id, bytes, headers, label);
    }
    // The end part goes to every partition, after the data parts there
    // (per-partition order is kept): whichever group member owns a
    // partition sees the stream close in it.
    for (int32_t p = 0; p < partition_count_; ++p) {
      SLUICE_RETURN_NOT_OK(Produce(id, p, meta.stream_id, bytes, headers, label));
    }
    return Status::OK();
  }

  Status Flush() override {
    if (!producer_) return Status::OK();
    const rd_kafka_resp_err_t err = rd_kafka_flush(
        producer_.get(), static_cast<int>(std::min<int64_t>(options_.flush_timeout_ms, INT32_MAX)));
    SLUICE_RETURN_NOT_OK(FirstError());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      size_t pending = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        pending = outstanding_.size();
      }
      return Status::IOError("kafka: " + std::to_string(pending) + " part(s) for topic '" +
                             endpoint_.topic + "' were not acknowledged by the broker within " +
                             "flush_timeout=" + std::to_string(options_.flush_timeout_ms) +
                             "ms: " + DescribeError(err));
    }
    SLUICE_LOG(kDebug) << "kafka: " << delivered_.load() << " part(s) acknowledged by topic '"
                       << endpoint_.topic << "'";
    return Status::OK();
  }

  Status Close() override {
    Shutdown(/*log=*/true);
    return Status::OK();
  }

  std::string kind() const override { return "kafka topic"; }
  PartEncoding encoding() const override { return options_.encoding; }

 private:
  // format=json: one message per row, keyed by the row's primary key (no
  // key without one). Row messages carry no end marker: a consumer that is
  // not sluice would take it for a row.
  Status PublishRows(const PartMeta& meta, std::string_view bytes, const std::string& label) {
    if (meta.end_of_stream) {
      SLUICE_LOG(kDebug) << "kafka: stream " << meta.stream_id << " ended after "
                         << meta.total_parts << " part(s) of rows";
      return Status::OK();
    }
    const std::vector<std::pair<std::string, std::string>> headers = {
        {kHeaderContentType, rowmsg::kContentTypeJson},
        {kHeaderFormat, "json"},
        {kHeaderStreamId, meta.stream_id},
        {kHeaderPartNumber, std::to_string(meta.part_number)},
    };
    const uint64_t id = Track(label);
    int64_t row = 0;
    return encoder_.EncodePart(
        bytes, label, [&](std::string_view json, std::string_view key) -> Status {
          ++row;
          const std::string what = "row " + std::to_string(row) + " of " + label;
          SLUICE_RETURN_NOT_OK(CheckSize(key, json, headers, what,
                                         "raise the topic's max.message.bytes"));
          return Produce(id, RD_KAFKA_PARTITION_UA, key, json, headers, what);
        });
  }

  Status CheckSize(std::string_view key, std::string_view value,
                   const std::vector<std::pair<std::string, std::string>>& headers,
                   const std::string& label, std::string advice) const {
    const int64_t size = RecordBatchBytes(static_cast<int64_t>(key.size()),
                                          static_cast<int64_t>(value.size()), headers);
    if (size <= limit_) return Status::OK();
    const int64_t percent = std::max<int64_t>(1, limit_ * 90 / size);
    const size_t at = advice.find("{percent}");
    if (at != std::string::npos) advice.replace(at, 9, std::to_string(percent));
    return Status::InvalidArgument(
        "kafka: " + label + " is too large for topic '" + endpoint_.topic +
        "': " + FormatBytes(size, /*human=*/false) + " as a message (the value is " +
        FormatBytes(static_cast<int64_t>(value.size())) +
        ", plus key and headers), over the limit of " + FormatBytes(limit_) + " set by the " +
        limit_source_ + "; " + advice);
  }

  // A new delivery-report id for the messages of one part.
  uint64_t Track(const std::string& label) {
    const uint64_t id = ++next_id_;
    std::lock_guard<std::mutex> lock(mu_);
    outstanding_.emplace(id, Outstanding{label, 0});
    return id;
  }

  // Enqueues one message (waiting while the local queue is full, up to
  // delivery_timeout). An empty key is sent as no key.
  Status Produce(uint64_t id, int32_t partition, std::string_view key, std::string_view value,
                 const std::vector<std::pair<std::string, std::string>>& headers,
                 const std::string& label) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++outstanding_[id].messages;
    }
    std::vector<rd_kafka_vu_t> vus;
    vus.reserve(6 + headers.size());
    rd_kafka_vu_t v{};
    v.vtype = RD_KAFKA_VTYPE_TOPIC;
    v.u.cstr = endpoint_.topic.c_str();
    vus.push_back(v);
    if (!key.empty()) {
      v = {};
      v.vtype = RD_KAFKA_VTYPE_KEY;
      v.u.mem.ptr = const_cast<char*>(key.data());
      v.u.mem.size = key.size();
      vus.push_back(v);
    }
    if (partition != RD_KAFKA_PARTITION_UA) {
      v = {};
      v.vtype = RD_KAFKA_VTYPE_PARTITION;
      v.u.i32 = partition;
      vus.push_back(v);
    }
    v = {};
    v.vtype = RD_KAFKA_VTYPE_VALUE;
    // Copied by librdkafka (RD_KAFKA_MSG_F_COPY): `value` only lives for this call.
    v.u.mem.ptr = const_cast<char*>(value.data());
    v.u.mem.size = value.size();
    vus.push_back(v);
    v = {};
    v.vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    v.u.i = RD_KAFKA_MSG_F_COPY;
    vus.push_back(v);
    v = {};
    v.vtype = RD_KAFKA_VTYPE_OPAQUE;
    v.u.ptr = reinterpret_cast<void*>(static_cast<uintptr_t>(id));
    vus.push_back(v);
    for (const auto& [name, val] : headers) {
      v = {};
      v.vtype = RD_KAFKA_VTYPE_HEADER;
      v.u.header.name = name.c_str();
      v.u.header.val = val.data();
      v.u.header.size = static_cast<ssize_t>(val.size());
      vus.push_back(v);
    }
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.delivery_timeout_ms);
    while (true) {
      rd_kafka_error_t* error = rd_kafka_produceva(producer_.get(), vus.data(), vus.size());
      if (error == nullptr) break;
      const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
      const std::string text = rd_kafka_error_string(error);
      rd_kafka_error_destroy(error);
      if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL && std::chrono::steady_clock::now() < deadline) {
        // The local queue holds messages the broker has not acknowledged
        // yet: wait for some delivery reports to free it.
        rd_kafka_poll(producer_.get(), 50);
        SLUICE_RETURN_NOT_OK(FirstError());
        continue;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = outstanding_.find(id);
        if (it != outstanding_.end() && --it->second.messages == 0) outstanding_.erase(it);
      }
      return Status::IOError("kafka: cannot enqueue " + label + " for topic '" + endpoint_.topic +
                             "': " + text + " (" + rd_kafka_err2name(code) + ")");
    }
    rd_kafka_poll(producer_.get(), 0);
    return Status::OK();
  }

  std::vector<std::pair<std::string, std::string>> ProducerBase() const {
    // The client's own message size check must never be stricter than ours;
    // the local queue must hold at least a couple of the largest parts.
    const int64_t max_message = std::clamp<int64_t>(limit_ + (64 << 10), 1000000, 1000000000);
    const int64_t queue_kbytes =
        std::clamp<int64_t>(2 * limit_ / 1024 + 1024, 128 << 10, INT32_MAX);
    return {
        {"allow.auto.create.topics", "false"},
        {"linger.ms", std::to_string(options_.linger_ms)},
        // Parts are compressed already (zstd/lz4 inside the part).
        {"compression.type", "none"},
        // The Java client's key hash: a stream lands in the same partition
        // whichever client produced it.
        {"partitioner", "murmur2_random"},
        {"message.timeout.ms", std::to_string(options_.delivery_timeout_ms)},
        {"message.max.bytes", std::to_string(max_message)},
        // The topic's max.message.bytes limits a whole record batch: parts
        // that fit one by one must not be batched beyond it (a part larger
        // than batch.size still goes alone in its own batch). At most
        // librdkafka's default 1 MB: smaller batches keep more requests in
        // flight (relaying 354 MB of parts: 0.5 s vs 0.75 s with 8 MiB).
        {"batch.size", std::to_string(std::min<int64_t>(limit_, 1000000))},
        {"queue.buffering.max.kbytes", std::to_string(queue_kbytes)},
    };
  }

  // Checks that the topic exists (or creates it) and finds the message size limit.
  Status PrepareTopic() {
    SLUICE_ASSIGN_OR_RETURN(Conf conf, MakeConf(endpoint_, {{"allow.auto.create.topics", "false"}},
                                                options_.properties, {}));
    SLUICE_ASSIGN_OR_RETURN(Handle admin,
                            MakeHandle(RD_KAFKA_PRODUCER, std::move(conf), "Kafka admin client"));
    auto partitions = TopicPartitionCount(admin.get(), endpoint_, options_.admin_timeout_ms);
    if (!partitions.ok() && partitions.status().code() == StatusCode::kNotFound) {
      if (!options_.create_topic) {
        return Status::NotFound(
            partitions.status().message() +
            " (add create_topic=true to create it, with partitions=N, replication=N)");
      }
      std::map<std::string, std::string> configs = {
          {"max.message.bytes",
           std::to_string(options_.max_message_bytes.value_or(kCreatedTopicMaxMessageBytes))}};
      SLUICE_RETURN_NOT_OK(CreateTopic(admin.get(), endpoint_, options_.partitions,
                                       options_.replication, configs, options_.admin_timeout_ms));
      partition_count_ = options_.partitions;
    } else if (!partitions.ok()) {
      return partitions.status();
    } else {
      SLUICE_LOG(kDebug) << "kafka: topic '" << endpoint_.topic << "' has " << *partitions
                         << " partition(s)";
      partition_count_ = std::max(1, *partitions);
    }

    std::optional<int64_t> topic_limit;
    auto described =
        DescribeTopicConfig(admin.get(), endpoint_, "max.message.bytes", options_.admin_timeout_ms);
    if (described.ok()) {
      int64_t v = 0;
      const auto [end, ec] =
          std::from_chars(described->data(), described->data() + described->size(), v);
      if (ec == std::errc() && end == described->data() + described->size() && v > 0)
        topic_limit = v;
    }
    if (!described.ok()) {
      SLUICE_LOG(kDebug) << "kafka: " << described.status().message();
    }
    if (topic_limit && options_.max_message_bytes) {
      if (*options_.max_message_bytes > *topic_limit) {
        SLUICE_LOG(kWarn) << "kafka: max_message_bytes=" << *options_.max_message_bytes
                          << " is above max.message.bytes=" << *topic_limit << " of topic '"
                          << endpoint_.topic << "'; the topic's limit applies";
        limit_ = *topic_limit;
        limit_source_ = "topic's max.message.bytes";
      } else {
        limit_ = *options_.max_message_bytes;
        limit_source_ = "max_message_bytes option";
      }
    } else if (topic_limit) {
      limit_ = *topic_limit;
      limit_source_ = "topic's max.message.bytes";
    } else if (options_.max_message_bytes) {
      limit_ = *options_.max_message_bytes;
      limit_source_ = "max_message_bytes option";
    } else {
      limit_ = kDefaultMaxMessageBytes;
      limit_source_ =
          "default limit (the topic's max.message.bytes could not be read; set max_message_bytes)";
    }
    return Status::OK();
  }

  Status FirstError() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_error_;
  }

  void Fail(Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    if (first_error_.ok()) first_error_ = std::move(st);
  }

  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<KafkaPublisher*>(opaque);
    const auto id = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(m->_private));
    std::string label;
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      auto it = self->outstanding_.find(id);
      if (it != self->outstanding_.end()) {
        label = it->second.label;
        if (--it->second.messages <= 0) self->outstanding_.erase(it);
      }
    }
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++self->delivered_;
      return;
    }
    ++self->failed_;
    std::string where = m->partition == RD_KAFKA_PARTITION_UA
                            ? std::string("(no partition assigned yet)")
                            : "partition " + std::to_string(m->partition);
    std::string msg = "kafka: delivery of " + (label.empty() ? std::string("a part") : label) +
                      " to topic '" + self->endpoint_.topic + "' " + where +
                      " failed: " + DescribeError(m->err);
    if (m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
      msg += "; export with a smaller --part-size or raise the topic's max.message.bytes";
    } else if (m->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) {
      msg += " (not acknowledged within delivery_timeout=" +
             std::to_string(self->options_.delivery_timeout_ms) + "ms)";
    }
    SLUICE_LOG(kDebug) << msg;
    self->Fail(Status::IOError(std::move(msg)));
  }

  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaPublisher*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      // The idempotent producer cannot keep its ordering/no-duplicate promise
      // any more (e.g. the broker lost acknowledged messages): stop.
      char buf[512];
      const rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
      self->Fail(Status::IOError("kafka: fatal producer error on topic '" + self->endpoint_.topic +
                                 "': " + buf + " (" + rd_kafka_err2name(orig) + ")"));
      return;
    }
    // Transient (broker down, connection refused): librdkafka retries until
    // delivery_timeout, after which the affected parts fail their reports.
    SLUICE_LOG(kWarn) << "kafka: " << (reason != nullptr ? reason : "") << " ("
                      << rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)) << ")";
  }

  void Shutdown(bool log) {
    if (!producer_) return;
    const int left = rd_kafka_outq_len(producer_.get());
    if (left > 0) {
      // Closed without a successful Flush (the export failed or stopped):
      // drop what is queued rather than block for delivery_timeout.
      rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_flush(producer_.get(), 1000);
      if (log) {
        SLUICE_LOG(kWarn) << "kafka: closed with " << left << " message(s) not acknowledged; "
                          << "parts in flight may or may not be in topic '" << endpoint_.topic
                          << "' (re-exporting is safe: the destination's ledger skips duplicates)";
      }
    }
    producer_.reset();
  }

  Endpoint endpoint_;
  PublisherOptions options_;
  Handle producer_;
  int64_t limit_ = kDefaultMaxMessageBytes;
  std::string limit_source_;
  uint64_t next_id_ = 0;
  // Delivery reports are served on the publishing thread (poll/flush); the
  // mutex only guards against librdkafka ever calling back elsewhere.
  std::mutex mu_;
  struct Outstanding {
    std::string label;     // "part N of stream S"
    int64_t messages = 0;  // not yet reported (a part of rows is many messages)
  };
  std::unordered_map<uint64_t, Outstanding> outstanding_;  // delivery-report id -> part
  rowmsg::RowEncoder encoder_{options_.rows.timestamps};
  int32_t partition_count_ = 1;
  Status first_error_;
  std::atomic<int64_t> delivered_{0};
  std::atomic<int64_t> failed_{0};
};

}  // namespace

Result<std::unique_ptr<PartPublisher>> MakePublisher(Endpoint endpoint, PublisherOptions options) {
  if (options.partitions < 1)
    return Status::InvalidArgument("kafka: partitions must be at least 1");
  if (options.replication < 1)
    return Status::InvalidArgument("kafka: replication must be at least 1");
  if (options.max_message_bytes && *options.max_message_bytes < 1024) {
    return Status::InvalidArgument("kafka: max_message_bytes must be at least 1KiB");
  }
  if (options.delivery_timeout_ms < 1 || options.flush_timeout_ms < 1 ||
      options.admin_timeout_ms < 1) {
    return Status::InvalidArgument("kafka: timeouts must be positive");
  }
  return std::unique_ptr<PartPublisher>(
      std::make_unique<KafkaPublisher>(std::move(endpoint), std::move(options)));
}

}  // namespace sluice::kafka
