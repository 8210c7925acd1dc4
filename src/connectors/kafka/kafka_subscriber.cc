// The Kafka part subscriber: one consumer-group member shared by the
// runtime's import workers.
//
// Offsets: auto-commit and auto offset store are off. Workers finish parts in
// any order, so for each assigned partition the subscriber keeps the offsets
// delivered but not yet acked; the offset committed is the lowest of those
// (or, when none is pending, the one after the last delivered message). A
// crash or a stop therefore never commits past a part the sink has not
// committed; the parts after it that were applied already come back and the
// sink's ledger skips them.
//
// Locks: `poll_mu_` lets one thread at a time poll the consumer (the
// rebalance callback runs inside that poll, or inside consumer close);
// `mu_` guards the offset bookkeeping and is never held across a blocking
// librdkafka call; `commit_mu_` orders the commits made by Ack so that
// a later (higher) commit is never overtaken by an earlier one.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "connectors/kafka/kafka.h"
#include "connectors/kafka/kafka_client.h"
#include "core/buffer.h"
#include "core/log.h"

namespace sluice::kafka {
namespace {

using Clock = std::chrono::steady_clock;

struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
using Message = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

class KafkaSubscriber final : public PartSubscriber {
 public:
  KafkaSubscriber(Endpoint endpoint, SubscriberOptions options)
      : endpoint_(std::move(endpoint)), options_(std::move(options)) {
    if (options_.group.empty()) options_.group = "sluice-" + endpoint_.topic;
  }

  ~KafkaSubscriber() override { (void)Shutdown(/*log=*/false); }

  Status Open() override {
    if (consumer_) return Status::OK();
    SLUICE_ASSIGN_OR_RETURN(
        Conf conf, MakeConf(endpoint_,
                            {{"auto.offset.reset", options_.from_latest ? "latest" : "earliest"},
                             {"session.timeout.ms", std::to_string(options_.session_timeout_ms)},
                             {"allow.auto.create.topics", "false"},
                             // Prefetched messages held locally (the consumer queue).
                             {"queued.max.messages.kbytes", "65536"}},
                            options_.properties,
                            {{"group.id", options_.group},
                             {"enable.auto.commit", "false"},
                             {"enable.auto.offset.store", "false"},
                             {"isolation.level", "read_committed"},
                             {"enable.partition.eof", "true"}}));
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_rebalance_cb(conf.get(), &KafkaSubscriber::OnRebalance);
    rd_kafka_conf_set_error_cb(conf.get(), &KafkaSubscriber::OnError);
    SLUICE_ASSIGN_OR_RETURN(consumer_,
                            MakeHandle(RD_KAFKA_CONSUMER, std::move(conf), "Kafka consumer"));
    // Errors and rebalances arrive through rd_kafka_consumer_poll.
    rd_kafka_poll_set_consumer(consumer_.get());

    auto partitions = TopicPartitionCount(consumer_.get(), endpoint_, options_.admin_timeout_ms);
    if (!partitions.ok()) {
      consumer_.reset();
      if (partitions.status().code() == StatusCode::kNotFound) {
        return Status::NotFound(partitions.status().message() +
                                " (nothing was exported to it yet?)");
      }
      return partitions.status();
    }
    PartitionList topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), endpoint_.topic.c_str(), RD_KAFKA_PARTITION_UA);
    const rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_.get(), topics.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      consumer_.reset();
      return Status::IOError("kafka: subscribing to topic '" + endpoint_.topic +
                             "': " + DescribeError(err));
    }
    last_lag_log_ = Clock::now();
    SLUICE_LOG(kInfo) << "kafka: consuming topic '" << endpoint_.topic << "' (" << *partitions
                      << " partition(s)) on " << endpoint_.brokers << " as group '"
                      << options_.group << "'" << (options_.follow ? ", following" : "");
    return Status::OK();
  }

  Result<Delivery> Receive(int64_t max_wait_ms) override {
    if (!consumer_) return Status::Internal("kafka: Receive before Open");
    const auto deadline =
        Clock::now() + std::chrono::milliseconds(std::max<int64_t>(0, max_wait_ms));
    if (auto d = TakeRequeuedOrEnd(/*check_end=*/false)) return std::move(*d);
    std::unique_lock<std::timed_mutex> poll(poll_mu_, std::defer_lock);
    if (!poll.try_lock_until(deadline)) return Delivery{Delivery::State::kIdle, {}};
    while (true) {
      if (auto d = TakeRequeuedOrEnd(/*check_end=*/true)) return std::move(*d);
      SLUICE_RETURN_NOT_OK(FirstError());
      MaybeLogProgress();
      const auto now = Clock::now();
      if (now >= deadline) return Delivery{Delivery::State::kIdle, {}};
      // Short polls: acks on other threads may complete the end condition.
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
      Message m(
          rd_kafka_consumer_poll(consumer_.get(), static_cast<int>(std::min<int64_t>(left, 50))));
      if (!m) continue;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = partitions_.find(m->partition);
        if (it != partitions_.end()) it->second.eof = true;
        continue;
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        SLUICE_RETURN_NOT_OK(ConsumerError(m.get()));
        continue;
      }
      if (auto d = Deliver(m.get())) return std::move(*d);
    }
  }

  Status Ack(const ReceivedPart& part) override { return Done(part, "ack"); }

  Status Reject(const ReceivedPart& part, bool requeue) override {
    if (!requeue) return Done(part, "reject");
    std::lock_guard<std::mutex> lock(mu_);
    if (!tags_.contains(part.delivery_tag)) return Status::OK();  // revoked: the new owner gets it
    // Stays pending (its offset is not committed) and is delivered again by
    // this process; after a restart or rebalance the broker redelivers it.
    ReceivedPart again = part;
    again.delivery_attempt = part.delivery_attempt + 1;
    requeued_.push_back(std::move(again));
    return Status::OK();
  }

  Status Close() override { return Shutdown(/*log=*/true); }

  std::string kind() const override { return "kafka topic"; }

  // A stream is keyed to one partition, so a member that reads its
  // partitions from the beginning sees whole streams, and the runtime may end
  // the import once every stream is complete and check them. Not when
  // following (the import must keep running), and not once any assigned
  // partition starts after its first message (a resumed group, from=latest,
  // a partition taken over mid-stream): parts committed earlier are not
  // delivered again, so the runtime would report them missing.
  bool delivers_whole_streams() const override { return !options_.follow && whole_streams_.load(); }
  // A topic with nothing new since the group's committed offsets is the
  // normal state of a scheduled import.
  bool empty_origin_is_error() const override { return false; }

 private:
  struct PartitionState {
    std::set<int64_t> in_flight;  // delivered, not acked
    int64_t next = -1;            // offset after the last delivered message
    int64_t committed = -1;       // last offset this member committed
    bool eof = false;             // reached the end, nothing delivered since
    // The offset to commit: everything below it was acked (or skipped).
    int64_t SafePoint() const { return in_flight.empty() ? next : *in_flight.begin(); }
  };
  struct Pending {
    int32_t partition;
    int64_t offset;
  };

  std::string NameOf(int32_t partition, int64_t offset) const {
    return endpoint_.topic + "[" + std::to_string(partition) + "]@" + std::to_string(offset);
  }

  // A part put back by Reject(requeue), or kEnd when the subscription is
  // over: not following, assigned, every partition at its end, nothing pending.
  std::optional<Delivery> TakeRequeuedOrEnd(bool check_end) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!requeued_.empty()) {
      Delivery d;
      d.state = Delivery::State::kPart;
      d.part = std::move(requeued_.front());
      requeued_.pop_front();
      return d;
    }
    if (!ended_ && check_end && !options_.follow && assigned_ && tags_.empty()) {
      bool all_eof = true;
      for (const auto& [p, st] : partitions_) all_eof = all_eof && st.eof;
      if (all_eof) {
        ended_ = true;
        SLUICE_LOG(kInfo) << "kafka: reached the end of " << partitions_.size()
                          << " assigned partition(s) of topic '" << endpoint_.topic << "'";
      }
    }
    if (ended_) return Delivery{Delivery::State::kEnd, {}};
    return std::nullopt;
  }

  std::optional<Delivery> Deliver(const rd_kafka_message_t* m) {
    Delivery d;
    d.state = Delivery::State::kPart;
    // Copied: the part outlives the message, and holding librdkafka's
    // messages would pin its fetch buffers (and delay rd_kafka_destroy).
    d.part.bytes =
        Buffer::Copy(m->payload, static_cast<int64_t>(m->payload != nullptr ? m->len : 0));
    d.part.name = NameOf(m->partition, m->offset);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = partitions_.find(m->partition);
    if (it == partitions_.end()) {
      // Left over from a revoked assignment: its new owner delivers it.
      SLUICE_LOG(kDebug) << "kafka: dropping " << d.part.name << " (partition not assigned)";
      return std::nullopt;
    }
    PartitionState& st = it->second;
    st.eof = false;
    st.in_flight.insert(m->offset);
    st.next = std::max(st.next, m->offset + 1);
    d.part.delivery_tag = ++next_tag_;
    tags_.emplace(d.part.delivery_tag, Pending{m->partition, m->offset});
    return d;
  }

  // Ack or Reject(requeue=false): the part is done; commits the partition's
  // new safe point if it moved.
  Status Done(const ReceivedPart& part, const char* what) {
    std::lock_guard<std::mutex> commit_lock(commit_mu_);
    int32_t partition = 0;
    int64_t target = -1;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto tag = tags_.find(part.delivery_tag);
      if (tag == tags_.end()) {
        // Its partition was revoked meanwhile: the new owner redelivers it
        // and the sink's ledger makes that a skip.
        SLUICE_LOG(kDebug) << "kafka: " << what << " of " << part.name
                           << " after its partition was revoked";
        return Status::OK();
      }
      const Pending pending = tag->second;
      tags_.erase(tag);
      auto it = partitions_.find(pending.partition);
      if (it == partitions_.end()) return Status::OK();
      it->second.in_flight.erase(pending.offset);
      partition = pending.partition;
      const int64_t safe = it->second.SafePoint();
      if (safe > it->second.committed) target = safe;
    }
    if (target < 0) return Status::OK();
    SLUICE_RETURN_NOT_OK_CTX(Commit({{partition, target}}),
                             "after " + std::string(what) + " of " + part.name);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = partitions_.find(partition);
    if (it != partitions_.end()) it->second.committed = std::max(it->second.committed, target);
    return Status::OK();
  }

  // Synchronous commit of (partition, next offset) pairs of the topic.
  Status Commit(const std::vector<std::pair<int32_t, int64_t>>& offsets) {
    if (offsets.empty()) return Status::OK();
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
    for (const auto& [p, offset] : offsets) {
      rd_kafka_topic_partition_list_add(list.get(), endpoint_.topic.c_str(), p)->offset = offset;
    }
    const rd_kafka_resp_err_t err = rd_kafka_commit(consumer_.get(), list.get(), /*async=*/0);
    std::string failed;
    for (int i = 0; i < list->cnt; ++i) {
      const rd_kafka_topic_partition_t& tp = list->elems[i];
      if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        failed += (failed.empty() ? "" : ", ") + NameOf(tp.partition, tp.offset) + ": " +
                  DescribeError(tp.err);
      }
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || !failed.empty()) {
      // Not fatal for the data: the part is committed in the sink, so a
      // redelivery is skipped by its ledger.
      return Status::IOError("kafka: committing offsets of group '" + options_.group +
                             "': " + (failed.empty() ? DescribeError(err) : failed));
    }
    return Status::OK();
  }

  // The safe points of `which` (all assigned partitions when empty) that
  // moved since the last commit; marks them committed.
  std::vector<std::pair<int32_t, int64_t>> TakeSafePoints(
      const rd_kafka_topic_partition_list_t* which) {
    std::vector<std::pair<int32_t, int64_t>> out;
    std::lock_guard<std::mutex> lock(mu_);
    auto add = [&](int32_t p, PartitionState& st) {
      const int64_t safe = st.SafePoint();
      if (safe > st.committed) {
        out.emplace_back(p, safe);
        st.committed = safe;
      }
    };
    if (which == nullptr) {
      for (auto& [p, st] : partitions_) add(p, st);
      return out;
    }
    for (int i = 0; i < which->cnt; ++i) {
      if (endpoint_.topic != which->elems[i].topic) continue;
      auto it = partitions_.find(which->elems[i].partition);
      if (it != partitions_.end()) add(it->first, it->second);
    }
    return out;
  }

  Status ConsumerError(const rd_kafka_message_t* m) {
    const std::string text = rd_kafka_message_errstr(m);
    switch (m->err) {
      case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        return Status::NotFound("kafka: topic '" + endpoint_.topic + "' on " + endpoint_.brokers +
                                ": " + text);
      case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
      case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
      case RD_KAFKA_RESP_ERR__FATAL:
        return Status::IOError("kafka: consuming topic '" + endpoint_.topic + "' as group '" +
                               options_.group + "': " + text + " (" + rd_kafka_err2name(m->err) +
                               ")");
      default:
        // Transient (connection loss, leader change): librdkafka recovers.
        SLUICE_LOG(kWarn) << "kafka: " << text << " (" << rd_kafka_err2name(m->err) << ")";
        return Status::OK();
    }
  }

  Status FirstError() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_error_;
  }

  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaSubscriber*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char buf[512];
      const rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
      std::lock_guard<std::mutex> lock(self->mu_);
      if (self->first_error_.ok()) {
        self->first_error_ = Status::IOError("kafka: fatal consumer error: " + std::string(buf) +
                                             " (" + rd_kafka_err2name(orig) + ")");
      }
      return;
    }
    SLUICE_LOG(kWarn) << "kafka: " << (reason != nullptr ? reason : "") << " ("
                      << rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)) << ")";
  }

  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    static_cast<KafkaSubscriber*>(opaque)->Rebalance(rk, err, partitions);
  }

  static std::string ListPartitions(const rd_kafka_topic_partition_list_t* list) {
    std::string out;
    for (int i = 0; i < list->cnt; ++i) {
      out += (i == 0 ? "" : ",") + std::to_string(list->elems[i].partition);
    }
    return out.empty() ? "none" : out;
  }

  // Runs inside rd_kafka_consumer_poll (poll_mu_ held) or consumer close.
  void Rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                 rd_kafka_topic_partition_list_t* partitions) {
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        assigned_ = true;
        for (int i = 0; i < partitions->cnt; ++i) {
          if (endpoint_.topic == partitions->elems[i].topic)
            partitions_[partitions->elems[i].partition] = {};
        }
      }
      if (whole_streams_.load() && !options_.follow) CheckStartsAtBeginning(rk, partitions);
      SLUICE_LOG(kInfo) << "kafka: assigned partition(s) " << ListPartitions(partitions)
                        << " of topic '" << endpoint_.topic << "' (group '" << options_.group
                        << "')";
      if (cooperative) {
        if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, partitions)) {
          SLUICE_LOG(kWarn) << "kafka: incremental assign: " << rd_kafka_error_string(e);
          rd_kafka_error_destroy(e);
        }
      } else {
        rd_kafka_assign(rk, partitions);
      }
      return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      // Commit what is safe, then forget the partitions: parts of them still
      // being applied will be redelivered to the new owner (and skipped by
      // the sink's ledger if this member's apply commits first).
      if (!rd_kafka_assignment_lost(rk)) {
        Status st = Commit(TakeSafePoints(partitions));
        if (!st.ok()) SLUICE_LOG(kWarn) << "kafka: on partition revocation: " << st.message();
      }
      size_t dropped = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        std::set<int32_t> revoked;
        for (int i = 0; i < partitions->cnt; ++i) {
          if (endpoint_.topic == partitions->elems[i].topic)
            revoked.insert(partitions->elems[i].partition);
        }
        for (int32_t p : revoked) partitions_.erase(p);
        for (auto it = tags_.begin(); it != tags_.end();) {
          if (revoked.contains(it->second.partition)) {
            it = tags_.erase(it);
            ++dropped;
          } else {
            ++it;
          }
        }
        std::erase_if(requeued_,
                      [&](const ReceivedPart& p) { return !tags_.contains(p.delivery_tag); });
      }
      SLUICE_LOG(kInfo) << "kafka: partition(s) " << ListPartitions(partitions) << " of topic '"
                        << endpoint_.topic << "' revoked"
                        << (rd_kafka_assignment_lost(rk) ? " (lost)" : "") << "; " << dropped
                        << " part(s) in flight will be redelivered to their new owner";
      if (cooperative) {
        if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, partitions)) {
          SLUICE_LOG(kWarn) << "kafka: incremental unassign: " << rd_kafka_error_string(e);
          rd_kafka_error_destroy(e);
        }
      } else {
        rd_kafka_assign(rk, nullptr);
      }
      return;
    }
    SLUICE_LOG(kWarn) << "kafka: rebalance error: " << DescribeError(err);
    rd_kafka_assign(rk, nullptr);
  }

  // Clears whole_streams_ when an assigned partition will not be read from
  // its first message (see delivers_whole_streams).
  void CheckStartsAtBeginning(rd_kafka_t* rk, const rd_kafka_topic_partition_list_t* partitions) {
    PartitionList committed(rd_kafka_topic_partition_list_copy(partitions));
    const int timeout = static_cast<int>(std::min<int64_t>(options_.admin_timeout_ms, 10000));
    rd_kafka_resp_err_t err = rd_kafka_committed(rk, committed.get(), timeout);
    std::string why;
    for (int i = 0; i < committed->cnt && why.empty() && err == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
      const rd_kafka_topic_partition_t& tp = committed->elems[i];
      int64_t low = 0, high = 0;
      err = rd_kafka_query_watermark_offsets(rk, tp.topic, tp.partition, &low, &high, timeout);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (tp.offset >= 0 && tp.offset > low) {
        why = "group '" + options_.group + "' resumes partition " + std::to_string(tp.partition) +
              " at offset " + std::to_string(tp.offset);
      } else if (tp.offset < 0 && options_.from_latest && high > low) {
        why = "from=latest skips the messages already in partition " + std::to_string(tp.partition);
      }
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
      why = "cannot read the group's offsets: " + DescribeError(err);
    if (why.empty()) return;
    whole_streams_.store(false);
    SLUICE_LOG(kInfo) << "kafka: " << why << "; parts committed before are not checked again "
                      << "(streams are not verified complete by this import)";
  }

  // Following: the consumer lag every lag_interval; otherwise a note while
  // the group has not assigned partitions yet.
  void MaybeLogProgress() {
    const auto now = Clock::now();
    if (now - last_lag_log_ < std::chrono::milliseconds(options_.lag_interval_ms)) return;
    last_lag_log_ = now;
    std::map<int32_t, int64_t> positions;
    size_t in_flight = 0;
    bool assigned = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      assigned = assigned_;
      in_flight = tags_.size();
      for (const auto& [p, st] : partitions_)
        positions[p] = st.next >= 0 ? st.SafePoint() : st.committed;
    }
    if (!assigned) {
      SLUICE_LOG(kInfo) << "kafka: waiting for group '" << options_.group
                        << "' to assign partitions of topic '" << endpoint_.topic << "'";
      return;
    }
    if (!options_.follow) return;
    int64_t total = 0;
    std::string detail;
    for (const auto& [p, position] : positions) {
      int64_t low = -1, high = -1;
      if (rd_kafka_get_watermark_offsets(consumer_.get(), endpoint_.topic.c_str(), p, &low,
                                         &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
          high < 0) {
        continue;
      }
      const int64_t lag = std::max<int64_t>(0, high - std::max(position, low));
      total += lag;
      detail += (detail.empty() ? "" : ", ") + std::to_string(p) + ": " + std::to_string(lag);
    }
    SLUICE_LOG(kInfo) << "kafka: group '" << options_.group << "' lags " << total
                      << " message(s) behind topic '" << endpoint_.topic << "' (partition "
                      << (detail.empty() ? "lag unknown yet" : detail) << "); " << in_flight
                      << " part(s) in flight";
  }

  Status Shutdown(bool log) {
    std::lock_guard<std::timed_mutex> poll(poll_mu_);
    if (!consumer_) return Status::OK();
    Status st = Commit(TakeSafePoints(nullptr));
    if (!st.ok() && log) SLUICE_LOG(kWarn) << "kafka: closing: " << st.message();
    // Leaves the group (the revoke callback runs here), so the partitions
    // move to the other members at once instead of after session_timeout.
    const rd_kafka_resp_err_t err = rd_kafka_consumer_close(consumer_.get());
    consumer_.reset();
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::IOError("kafka: closing the consumer of topic '" + endpoint_.topic +
                             "': " + DescribeError(err));
    }
    return Status::OK();
  }

  Endpoint endpoint_;
  SubscriberOptions options_;
  Handle consumer_;
  std::timed_mutex poll_mu_;
  std::mutex commit_mu_;
  std::mutex mu_;
  std::map<int32_t, PartitionState> partitions_;  // assigned partitions of the topic
  std::unordered_map<uint64_t, Pending> tags_;    // delivery tag -> pending message
  std::deque<ReceivedPart> requeued_;             // Reject(requeue) parts to deliver again
  uint64_t next_tag_ = 0;
  bool assigned_ = false;
  bool ended_ = false;
  Status first_error_;
  std::atomic<bool> whole_streams_{true};
  Clock::time_point last_lag_log_;
};

}  // namespace

Result<std::unique_ptr<PartSubscriber>> MakeSubscriber(Endpoint endpoint,
                                                       SubscriberOptions options) {
  if (options.session_timeout_ms < 1 || options.admin_timeout_ms < 1 ||
      options.lag_interval_ms < 1) {
    return Status::InvalidArgument("kafka: timeouts and intervals must be positive");
  }
  return std::unique_ptr<PartSubscriber>(
      std::make_unique<KafkaSubscriber>(std::move(endpoint), std::move(options)));
}

}  // namespace sluice::kafka
