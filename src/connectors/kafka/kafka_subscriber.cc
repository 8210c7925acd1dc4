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
// format=json (row messages): consecutive messages of a partition are
// batched into one part whose id names its offset range. The bounds of every
// batch delivered above the committed offset are committed (as the offset's
// metadata) *before* the batch is handed out, so a restarted or new group
// member cuts the same batches again and the sink's ledger skips those it
// already has: exactly-once with any batch size, timing or worker count.
//
// Locks: `poll_mu_` lets one thread at a time poll the consumer (the
// rebalance callback runs inside that poll, or inside consumer close);
// `mu_` guards the offset bookkeeping and is never held across a blocking
// librdkafka call; `commit_mu_` orders the commits made by Ack so that
// a later (higher) commit is never overtaken by an earlier one.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "connectors/kafka/kafka.h"
#include "connectors/kafka/kafka_client.h"
#include "core/buffer.h"
#include "formats/part/part.h"
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

  void SetWorkers(int workers) override { workers_ = std::max(1, workers); }

  Status Open() override {
    if (consumer_) return Status::OK();
    const int64_t prefetch = options_.prefetch_bytes > 0 ? options_.prefetch_bytes
                             : json()                    ? int64_t{24} << 20
                                                         : workers_ * (int64_t{2} << 20);
    queue_limit_bytes_ = json() ? prefetch : std::max<int64_t>(int64_t{1} << 20, prefetch / 2);
    window_bytes_ = std::max<int64_t>(int64_t{1} << 20, prefetch - queue_limit_bytes_);
    SLUICE_ASSIGN_OR_RETURN(
        Conf conf, MakeConf(endpoint_,
                            {{"auto.offset.reset", options_.from_latest ? "latest" : "earliest"},
                             {"session.timeout.ms", std::to_string(options_.session_timeout_ms)},
                             {"allow.auto.create.topics", "false"},
                             // Half of prefetch= for parts (see Prefetch), all of it
                             // for row messages.
                             {"queued.max.messages.kbytes",
                              std::to_string(queue_limit_bytes_ / 1024)}},
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
    topic_partitions_ = *partitions;
    last_lag_log_ = Clock::now();
    SLUICE_LOG(kInfo) << "kafka: consuming topic '" << endpoint_.topic << "' (" << *partitions
                      << " partition(s)) on " << endpoint_.brokers << " as group '"
                      << options_.group << "'" << (options_.follow ? ", following" : "")
                      << (options_.until_end ? ", until every stream's end" : "")
                      << (json() ? ", JSON row messages" : "");
    return Status::OK();
  }

  Result<Delivery> Receive(int64_t max_wait_ms) override {
    if (!consumer_) return Status::Internal("kafka: Receive before Open");
    const auto deadline =
        Clock::now() + std::chrono::milliseconds(std::max<int64_t>(0, max_wait_ms));
    {
      // Unless a worker is waiting in the loop below (it does the same):
      // resume fetching if the window drained to half, and move what
      // librdkafka fetched meanwhile into the window (Prefetch), before
      // handing out what is ready.
      std::unique_lock<std::timed_mutex> poll(poll_mu_, std::try_to_lock);
      if (poll.owns_lock()) {
        MaybeResume();
        if (!json()) SLUICE_RETURN_NOT_OK(Prefetch(0));
      }
      if (auto item = TakeReadyOrEnd(/*check_end=*/false)) return Finish(std::move(*item));
    }
    std::unique_lock<std::timed_mutex> poll(poll_mu_, std::defer_lock);
    if (!poll.try_lock_until(deadline)) return Delivery{Delivery::State::kIdle, {}};
    while (true) {
      MaybeResume();
      if (auto item = TakeReadyOrEnd(/*check_end=*/true)) {
        poll.unlock();
        return Finish(std::move(*item));
      }
      SLUICE_RETURN_NOT_OK(FirstError());
      MaybeLogProgress();
      const auto now = Clock::now();
      if (now >= deadline) return Delivery{Delivery::State::kIdle, {}};
      if (json() && TooManyOpenBatches()) {
        // Every batch above the committed offset is listed in the commit
        // metadata: wait for the oldest to be acked before cutting more.
        poll.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return Delivery{Delivery::State::kIdle, {}};
      }
      // Short polls: acks on other threads may complete the end condition.
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
      Message m(
          rd_kafka_consumer_poll(consumer_.get(), static_cast<int>(std::min<int64_t>(left, 50))));
      if (!m) continue;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        MarkEof(m->partition);
        // Caught up: the rows gathered so far go now rather than wait.
        if (json()) SLUICE_RETURN_NOT_OK(CutBatch(m->partition));
        continue;
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        SLUICE_RETURN_NOT_OK(ConsumerError(m.get()));
        continue;
      }
      if (json()) {
        SLUICE_RETURN_NOT_OK(AddRowMessage(m.get()));
        continue;
      }
      if (auto d = Deliver(m.get())) {
        SLUICE_RETURN_NOT_OK(Prefetch(static_cast<int64_t>(m->len)));
        return std::move(*d);
      }
    }
  }

  Status Ack(const ReceivedPart& part) override { return Done(part, "ack"); }

  Status Reject(const ReceivedPart& part, bool requeue) override {
    if (!requeue) {
      // Dead-lettered first: if that fails, the offset stays put and the
      // part is delivered again rather than lost.
      SLUICE_RETURN_NOT_OK(DeadLetter(part));
      return Done(part, "reject");
    }
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
  bool delivers_whole_streams() const override {
    return !options_.follow && !json() && whole_streams_.load();
  }
  // A topic with nothing new since the group's committed offsets is the
  // normal state of a scheduled import.
  bool empty_origin_is_error() const override { return false; }
  bool follows() const override { return options_.follow; }

 private:
  // format=json: a run of row messages of one partition, becoming one part.
  struct RowBatch {
    int32_t partition = 0;
    std::string text;              // one message per line
    std::vector<int64_t> offsets;  // of each line's message
    uint64_t tag = 0;
    int64_t first() const { return offsets.front(); }
    int64_t last() const { return offsets.back(); }
  };
  struct PartitionState {
    std::set<int64_t> in_flight;  // delivered, not acked (a row batch: its first offset)
    int64_t next = -1;            // offset after the last delivered message
    int64_t committed = -1;       // last offset this member committed
    bool eof = false;             // reached the end, nothing delivered since
    // format=json: the batches delivered at or above the safe point (first ->
    // last offset; acked or not), committed as metadata; the bounds a
    // previous owner committed, to cut the same batches again; the batch
    // being gathered.
    std::map<int64_t, int64_t> ranges;
    std::deque<std::pair<int64_t, int64_t>> forced;
    RowBatch building;
    // until_end: streams with a data part but no end part seen here yet.
    std::set<std::string> open_streams;
    bool delivered_any = false;
    bool caught_up = false;  // assigned with the group's offset at the end already
    // The offset to commit: everything below it was acked (or skipped).
    int64_t SafePoint() const { return in_flight.empty() ? next : *in_flight.begin(); }
  };
  // What Receive hands out next: a part or the end, or a row batch to turn
  // into a part (outside the poll lock).
  struct Item {
    Delivery delivery;
    std::optional<RowBatch> rows;
  };
  struct CommitEntry {
    int32_t partition;
    int64_t offset;
    std::string metadata;
  };
  struct Pending {
    int32_t partition;
    int64_t offset;
  };

  std::string NameOf(int32_t partition, int64_t offset) const {
    return endpoint_.topic + "[" + std::to_string(partition) + "]@" + std::to_string(offset);
  }

  bool json() const { return options_.message_format == MessageFormat::kJson; }

  // A part put back by Reject(requeue), a row batch ready to go, or kEnd
  // when the subscription is over: not following, assigned, every partition
  // at its end (until_end: with every stream seen there closed), nothing
  // pending.
  std::optional<Item> TakeReadyOrEnd(bool check_end) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!requeued_.empty()) {
      Item item;
      item.delivery.state = Delivery::State::kPart;
      item.delivery.part = std::move(requeued_.front());
      requeued_.pop_front();
      return item;
    }
    if (!prefetched_.empty()) {
      Item item;
      item.delivery.state = Delivery::State::kPart;
      item.delivery.part = std::move(prefetched_.front());
      prefetched_.pop_front();
      prefetched_bytes_ -= item.delivery.part.bytes ? item.delivery.part.bytes->size() : 0;
      return item;
    }
    if (!ready_.empty()) {
      Item item;
      item.rows = std::move(ready_.front());
      ready_.pop_front();
      return item;
    }
    if (!ended_ && check_end && !options_.follow && assigned_ && tags_.empty()) {
      bool done = true;
      for (const auto& [p, st] : partitions_) {
        done = done && st.eof && st.building.offsets.empty();
        if (options_.until_end) {
          done = done && st.open_streams.empty() && (st.delivered_any || st.caught_up);
        }
      }
      if (done) {
        ended_ = true;
        SLUICE_LOG(kInfo) << "kafka: reached the end of " << partitions_.size()
                          << " assigned partition(s) of topic '" << endpoint_.topic << "'"
                          << (options_.until_end ? " (every stream seen has ended)" : "");
      }
    }
    if (ended_) {
      Item item;
      item.delivery.state = Delivery::State::kEnd;
      return item;
    }
    return std::nullopt;
  }

  // Turns a row batch into a part (JSON parsing runs on the calling worker,
  // not under the poll lock). A batch that does not parse is delivered with
  // decode_error set, so the runtime fails the run or skips it.
  Result<Delivery> Finish(Item item) {
    if (!item.rows) return std::move(item.delivery);
    RowBatch& b = *item.rows;
    const std::string where = endpoint_.topic + ":" + std::to_string(b.partition);
    rowmsg::RowBatchDecoder::PartIdentity identity;
    identity.stream_id = rowmsg::StableHexId("kafka-json:" + where);
    identity.part_number = b.first() + 1;
    identity.source_fingerprint =
        "kafka-json:" + where + ":" + std::to_string(b.first()) + "-" + std::to_string(b.last());
    Delivery d;
    d.state = Delivery::State::kPart;
    d.part = decoder_.Received(
        b.text, identity,
        [&](int64_t line) {
          const auto i = static_cast<size_t>(std::max<int64_t>(1, line) - 1);
          return "kafka: message " +
                 NameOf(b.partition, i < b.offsets.size() ? b.offsets[i] : b.first());
        },
        NameOf(b.partition, b.first()) +
            (b.offsets.size() > 1 ? ".." + std::to_string(b.last()) : ""),
        b.tag);
    return d;
  }

  // "sluice-rows:1:f-l,f-l" — the batches at or above the safe point, which
  // a later owner must cut the same way. Drops the ranges below it.
  static std::string RangesMetadata(PartitionState* st, int64_t safe) {
    std::string out = "sluice-rows:1:";
    bool first = true;
    for (auto it = st->ranges.begin(); it != st->ranges.end();) {
      if (it->first < safe) {
        it = st->ranges.erase(it);
        continue;
      }
      out += (first ? "" : ",") + std::to_string(it->first) + "-" + std::to_string(it->second);
      first = false;
      ++it;
    }
    return out;
  }

  static std::deque<std::pair<int64_t, int64_t>> ParseRangesMetadata(std::string_view text) {
    std::deque<std::pair<int64_t, int64_t>> out;
    constexpr std::string_view kPrefix = "sluice-rows:1:";
    if (text.substr(0, kPrefix.size()) != kPrefix) return out;
    text.remove_prefix(kPrefix.size());
    while (!text.empty()) {
      const size_t comma = text.find(',');
      const std::string_view item = text.substr(0, comma);
      const size_t dash = item.find('-');
      int64_t f = -1, l = -1;
      if (dash == std::string_view::npos ||
          std::from_chars(item.data(), item.data() + dash, f).ec != std::errc() ||
          std::from_chars(item.data() + dash + 1, item.data() + item.size(), l).ec !=
              std::errc() ||
          f < 0 || l < f || (!out.empty() && f <= out.back().second)) {
        return {};  // not ours or damaged: cut freely (logged by the caller)
      }
      out.emplace_back(f, l);
      if (comma == std::string_view::npos) break;
      text.remove_prefix(comma + 1);
    }
    return out;
  }

  bool TooManyOpenBatches() {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [p, st] : partitions_) {
      if (st.ranges.size() >= kMaxOpenBatches) return true;
    }
    return false;
  }

  // format=json: adds a message to its partition's batch, cutting the batch
  // before it when a committed bound says so and after it when the batch is
  // full or reaches a committed bound.
  Status AddRowMessage(const rd_kafka_message_t* m) {
    const int32_t p = m->partition;
    const int64_t o = m->offset;
    bool cut_before = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = partitions_.find(p);
      if (it == partitions_.end()) return Status::OK();  // revoked: its new owner reads it
      PartitionState& st = it->second;
      const RowBatch& b = st.building;
      if (!b.offsets.empty()) {
        for (const auto& [f, l] : st.forced) {
          // A batch cut by an earlier owner ends at its last offset; a free
          // batch must not run into the next committed range.
          if ((f <= b.first() && b.first() <= l && o > l) || (b.first() < f && f <= o)) {
            cut_before = true;
            break;
          }
        }
      }
    }
    if (cut_before) SLUICE_RETURN_NOT_OK(CutBatch(p));
    bool cut_after = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = partitions_.find(p);
      if (it == partitions_.end()) return Status::OK();
      PartitionState& st = it->second;
      st.eof = false;
      st.delivered_any = true;
      RowBatch& b = st.building;
      while (!st.forced.empty() && st.forced.front().second < (b.offsets.empty() ? o : b.first())) {
        st.forced.pop_front();
      }
      rowmsg::RowBatchDecoder::Append(
          std::string_view(static_cast<const char*>(m->payload), m->payload ? m->len : 0),
          &b.text);
      b.offsets.push_back(o);
      bool bounded = false;
      for (const auto& [f, l] : st.forced) {
        if (f <= b.first() && b.first() <= l) {
          bounded = true;
          cut_after = o >= l;
          break;
        }
      }
      if (!bounded) {
        cut_after = static_cast<int64_t>(b.offsets.size()) >= options_.rows.batch_rows ||
                    static_cast<int64_t>(b.text.size()) >= options_.rows.batch_bytes;
      }
    }
    if (cut_after) SLUICE_RETURN_NOT_OK(CutBatch(p));
    return Status::OK();
  }

  // Ends the partition's batch being gathered: records its range, commits
  // the bounds (the group's offset metadata) and only then queues it.
  Status CutBatch(int32_t p) {
    std::lock_guard<std::mutex> commit_lock(commit_mu_);
    RowBatch b;
    CommitEntry entry;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = partitions_.find(p);
      if (it == partitions_.end() || it->second.building.offsets.empty()) return Status::OK();
      PartitionState& st = it->second;
      b = std::move(st.building);
      st.building = RowBatch{};
      b.partition = p;
      b.tag = ++next_tag_;
      st.in_flight.insert(b.first());
      st.next = std::max(st.next, b.last() + 1);
      st.ranges[b.first()] = b.last();
      while (!st.forced.empty() && st.forced.front().second <= b.last()) st.forced.pop_front();
      tags_.emplace(b.tag, Pending{p, b.first()});
      const int64_t safe = st.SafePoint();
      entry = CommitEntry{p, safe, RangesMetadata(&st, safe)};
      st.committed = std::max(st.committed, safe);
    }
    SLUICE_RETURN_NOT_OK_CTX(Commit({entry}), "recording the bounds of row batch " +
                                                  NameOf(p, b.first()) + ".." +
                                                  std::to_string(b.last()));
    std::lock_guard<std::mutex> lock(mu_);
    ready_.push_back(std::move(b));
    return Status::OK();
  }

  // Produces a rejected part to dead_letter_topic and waits for the broker's
  // acknowledgement. Headers: sluice-origin (topic[partition]@offset), and
  // sluice-format.
  Status DeadLetter(const ReceivedPart& part) {
    if (options_.dead_letter_topic.empty()) return Status::OK();
    std::lock_guard<std::mutex> lock(dlq_mu_);
    if (!dlq_) {
      Endpoint e = endpoint_;
      e.topic = options_.dead_letter_topic;
      const int64_t timeout = std::max<int64_t>(options_.admin_timeout_ms * 4, 1000);
      SLUICE_ASSIGN_OR_RETURN(
          Conf conf, MakeConf(e,
                              {{"linger.ms", "0"},
                               {"message.max.bytes", "1000000000"},
                               {"message.timeout.ms", std::to_string(timeout)}},
                              options_.properties, {{"enable.idempotence", "true"}, {"acks", "all"}}));
      // Reports are served by rd_kafka_flush on this thread, under dlq_mu_.
      rd_kafka_conf_set_opaque(conf.get(), this);
      rd_kafka_conf_set_dr_msg_cb(
          conf.get(), [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
            auto* self = static_cast<KafkaSubscriber*>(opaque);
            self->dlq_reports_[reinterpret_cast<uintptr_t>(m->_private)] = m->err;
          });
      SLUICE_ASSIGN_OR_RETURN(dlq_, MakeHandle(RD_KAFKA_PRODUCER, std::move(conf),
                                               "Kafka dead-letter producer"));
    }
    const std::string origin = part.name;
    const std::string format = json() ? "json" : "part";
    const std::string_view body = part.bytes ? part.bytes->view() : std::string_view();
    const uintptr_t id = ++dlq_sent_;
    // rd_kafka_produceva, not the RD_KAFKA_V_* macros (GNU statement expressions).
    rd_kafka_vu_t vus[6] = {};
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = options_.dead_letter_topic.c_str();
    vus[1].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[1].u.mem.ptr = const_cast<char*>(body.data());
    vus[1].u.mem.size = body.size();
    vus[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[2].u.i = RD_KAFKA_MSG_F_COPY;
    vus[3].vtype = RD_KAFKA_VTYPE_HEADER;
    vus[3].u.header.name = "sluice-origin";
    vus[3].u.header.val = origin.data();
    vus[3].u.header.size = static_cast<ssize_t>(origin.size());
    vus[4].vtype = RD_KAFKA_VTYPE_HEADER;
    vus[4].u.header.name = "sluice-format";
    vus[4].u.header.val = format.data();
    vus[4].u.header.size = static_cast<ssize_t>(format.size());
    vus[5].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vus[5].u.ptr = reinterpret_cast<void*>(id);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (rd_kafka_error_t* e = rd_kafka_produceva(dlq_.get(), vus, 6)) {
      err = rd_kafka_error_code(e);
      rd_kafka_error_destroy(e);
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      // Waits for the delivery report (served by flush), recorded in dlq_reports_.
      err = rd_kafka_flush(dlq_.get(), static_cast<int>(std::min<int64_t>(
                                           options_.admin_timeout_ms * 4 + 5000, INT32_MAX)));
      auto report = dlq_reports_.find(id);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = report == dlq_reports_.end() ? RD_KAFKA_RESP_ERR__IN_PROGRESS : report->second;
      }
      dlq_reports_.clear();  // a later report of a timed-out message is not needed
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::IOError("kafka: dead-lettering " + origin + " to topic '" +
                             options_.dead_letter_topic + "': " + DescribeError(err));
    }
    SLUICE_LOG(kWarn) << "kafka: dead-lettered " << origin << " to topic '"
                      << options_.dead_letter_topic << "'";
    return Status::OK();
  }

  // Reads header `name` of a message ("" when absent).
  static std::string_view Header(const rd_kafka_message_t* m, const char* name) {
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
    const void* value = nullptr;
    size_t size = 0;
    if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        value == nullptr) {
      return {};
    }
    return std::string_view(static_cast<const char*>(value), size);
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
    st.delivered_any = true;
    if (options_.until_end) {
      const std::string_view stream = Header(m, kHeaderStreamId);
      if (!stream.empty()) {
        if (Header(m, kHeaderEnd) == "1") {
          st.open_streams.erase(std::string(stream));
        } else {
          st.open_streams.emplace(stream);
        }
      }
    }
    st.in_flight.insert(m->offset);
    st.next = std::max(st.next, m->offset + 1);
    d.part.delivery_tag = ++next_tag_;
    tags_.emplace(d.part.delivery_tag, Pending{m->partition, m->offset});
    return d;
  }

  void MarkEof(int32_t partition) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = partitions_.find(partition);
    if (it != partitions_.end()) it->second.eof = true;
  }

  // Parts (not row messages) are fetched ahead by prefetch= bytes, split
  // between librdkafka's queue (queue_limit: queued.max.messages.kbytes) and
  // prefetched_ (the rest). librdkafka alone cannot keep a small queue full:
  // 2.0.2 backs off a whole second whenever its queue reaches the limit (4
  // MiB: 2.8x slower than 24 MiB). So each Receive moves what librdkafka
  // holds into prefetched_ at once, and
  // - when prefetched_ is full, pauses fetching (MaybeResume resumes it at
  //   half): the importer then holds the parts being applied plus at most
  //   prefetch= bytes, whatever the backlog;
  // - when librdkafka's queue was (nearly) full, it is backing off: a seek
  //   to where this member stopped taking messages restarts it at once.
  // `first` is the size of the part the caller took just before. poll_mu_
  // held.
  Status Prefetch(int64_t first) {
    int64_t drained = first;
    while (true) {
      bool full = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        full = prefetched_bytes_ >= window_bytes_;
      }
      if (full) {
        SetFetching(false);
        return Status::OK();
      }
      Message m(rd_kafka_consumer_poll(consumer_.get(), 0));
      if (!m) break;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        MarkEof(m->partition);
        continue;
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        SLUICE_RETURN_NOT_OK(ConsumerError(m.get()));
        continue;
      }
      drained += static_cast<int64_t>(m->len);
      SLUICE_LOG(kTrace) << "kafka: prefetching " << NameOf(m->partition, m->offset);
      if (auto d = Deliver(m.get())) {
        std::lock_guard<std::mutex> lock(mu_);
        prefetched_bytes_ += d->part.bytes ? d->part.bytes->size() : 0;
        prefetched_.push_back(std::move(d->part));
      }
    }
    if (!paused_ && drained >= queue_limit_bytes_ * 3 / 4) Restart("kick");
    return Status::OK();
  }

  // Resumes fetching once prefetched_ has drained to half. poll_mu_ held.
  void MaybeResume() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (prefetched_bytes_ > window_bytes_ / 2) return;
    }
    SetFetching(true);
  }

  // Pauses or resumes every assigned partition. Partitions assigned later
  // start fetching; a resume covers them all. poll_mu_ held.
  void SetFetching(bool fetch) {
    if (paused_ == !fetch) return;
    PartitionList list(rd_kafka_topic_partition_list_new(4));
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [p, st] : partitions_)
        rd_kafka_topic_partition_list_add(list.get(), endpoint_.topic.c_str(), p);
    }
    const rd_kafka_resp_err_t err = fetch ? rd_kafka_resume_partitions(consumer_.get(), list.get())
                                          : rd_kafka_pause_partitions(consumer_.get(), list.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      SLUICE_LOG(kWarn) << "kafka: " << (fetch ? "resuming" : "pausing") << " partitions of topic '"
                        << endpoint_.topic << "': " << DescribeError(err);
      if (!fetch) return;  // stays resumed: memory over the window, but no stall
    }
    paused_ = !fetch;
    SLUICE_LOG(kTrace) << "kafka: " << (fetch ? "resumed" : "paused") << " fetching";
    // A resume alone leaves librdkafka 2.0.2 idle until its next one-second
    // tick.
    if (fetch) Restart("resume");
  }

  // Seeks every assigned partition to the offset after the last message
  // taken (st.next; pausing and backing off dropped or held nothing beyond
  // it), which makes librdkafka fetch at once. poll_mu_ held, so no message
  // is taken between reading st.next and the seek (it would be delivered
  // twice). A fetch in flight is dropped and made again.
  void Restart(const char* why) {
    PartitionList seek(rd_kafka_topic_partition_list_new(4));
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [p, st] : partitions_) {
        if (st.next >= 0)
          rd_kafka_topic_partition_list_add(seek.get(), endpoint_.topic.c_str(), p)->offset = st.next;
      }
    }
    if (seek->cnt > 0) {
      if (rd_kafka_error_t* e = rd_kafka_seek_partitions(consumer_.get(), seek.get(), 0)) {
        SLUICE_LOG(kWarn) << "kafka: restarting fetches of topic '" << endpoint_.topic
                          << "': " << rd_kafka_error_string(e);
        rd_kafka_error_destroy(e);
      }
    }
    SLUICE_LOG(kTrace) << "kafka: fetching restarted (" << why << ")";
  }

  // Ack or Reject(requeue=false): the part is done; commits the partition's
  // new safe point if it moved.
  Status Done(const ReceivedPart& part, const char* what) {
    std::lock_guard<std::mutex> commit_lock(commit_mu_);
    std::optional<CommitEntry> entry;
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
      entry = TakeSafePoint(pending.partition, &it->second);
    }
    if (!entry) return Status::OK();
    return Commit({*entry}).WithContext("after " + std::string(what) + " of " + part.name);
  }

  // The partition's safe point when it moved past the last commit (with the
  // row-batch bounds above it, format=json); marks it committed. mu_ held.
  std::optional<CommitEntry> TakeSafePoint(int32_t p, PartitionState* st) {
    const int64_t safe = st->SafePoint();
    if (safe <= st->committed) return std::nullopt;
    st->committed = safe;
    return CommitEntry{p, safe, json() ? RangesMetadata(st, safe) : std::string()};
  }

  // Synchronous commit of (partition, next offset[, metadata]) of the topic.
  Status Commit(const std::vector<CommitEntry>& offsets) {
    if (offsets.empty()) return Status::OK();
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
    for (const CommitEntry& e : offsets) {
      rd_kafka_topic_partition_t* tp =
          rd_kafka_topic_partition_list_add(list.get(), endpoint_.topic.c_str(), e.partition);
      tp->offset = e.offset;
      if (!e.metadata.empty()) {
        // Freed by rd_kafka_topic_partition_list_destroy.
        tp->metadata = rd_kafka_mem_malloc(nullptr, e.metadata.size());
        std::memcpy(tp->metadata, e.metadata.data(), e.metadata.size());
        tp->metadata_size = e.metadata.size();
      }
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

  // The safe points of `which` (all assigned partitions when null) that
  // moved since the last commit; marks them committed.
  std::vector<CommitEntry> TakeSafePoints(const rd_kafka_topic_partition_list_t* which) {
    std::vector<CommitEntry> out;
    std::lock_guard<std::mutex> lock(mu_);
    auto add = [&](int32_t p, PartitionState& st) {
      if (auto e = TakeSafePoint(p, &st)) out.push_back(std::move(*e));
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
      if (json() || options_.until_end || (whole_streams_.load() && !options_.follow)) {
        InspectAssignment(rk, partitions);
      }
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
        std::erase_if(prefetched_, [&](const ReceivedPart& p) {
          if (tags_.contains(p.delivery_tag)) return false;
          prefetched_bytes_ -= p.bytes ? p.bytes->size() : 0;
          return true;
        });
        std::erase_if(ready_, [&](const RowBatch& b) { return revoked.contains(b.partition); });
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

  // Reads the group's committed offsets (and metadata) of newly assigned
  // partitions and their high watermarks: clears whole_streams_ when a
  // partition will not be read from its first message (see
  // delivers_whole_streams); format=json: the row-batch bounds to cut again;
  // until_end: partitions the group has read to their end already.
  void InspectAssignment(rd_kafka_t* rk, const rd_kafka_topic_partition_list_t* partitions) {
    PartitionList committed(rd_kafka_topic_partition_list_copy(partitions));
    const int timeout = static_cast<int>(std::min<int64_t>(options_.admin_timeout_ms, 10000));
    rd_kafka_resp_err_t err = rd_kafka_committed(rk, committed.get(), timeout);
    std::string why;
    for (int i = 0; i < committed->cnt && err == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
      const rd_kafka_topic_partition_t& tp = committed->elems[i];
      if (endpoint_.topic != tp.topic) continue;
      int64_t low = 0, high = 0;
      err = rd_kafka_query_watermark_offsets(rk, tp.topic, tp.partition, &low, &high, timeout);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (why.empty() && tp.offset >= 0 && tp.offset > low) {
        why = "group '" + options_.group + "' resumes partition " + std::to_string(tp.partition) +
              " at offset " + std::to_string(tp.offset);
      } else if (why.empty() && tp.offset < 0 && options_.from_latest && high > low) {
        why = "from=latest skips the messages already in partition " + std::to_string(tp.partition);
      }
      std::deque<std::pair<int64_t, int64_t>> forced;
      if (json() && tp.metadata != nullptr && tp.metadata_size > 0) {
        const std::string_view text(static_cast<const char*>(tp.metadata), tp.metadata_size);
        forced = ParseRangesMetadata(text);
        if (forced.empty()) {
          SLUICE_LOG(kWarn) << "kafka: partition " << tp.partition << " of topic '"
                            << endpoint_.topic << "' has commit metadata sluice did not write ("
                            << text.substr(0, 80) << "); row batches are cut afresh";
        } else {
          SLUICE_LOG(kDebug) << "kafka: partition " << tp.partition << ": re-cutting "
                             << forced.size() << " row batch(es) committed by an earlier owner";
        }
      }
      std::lock_guard<std::mutex> lock(mu_);
      auto it = partitions_.find(tp.partition);
      if (it == partitions_.end()) continue;
      it->second.forced = std::move(forced);
      it->second.caught_up = tp.offset >= 0 && tp.offset >= high;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
      why = "cannot read the group's offsets: " + DescribeError(err);
    size_t assigned = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      assigned = partitions_.size();
    }
    if (why.empty() && static_cast<int>(assigned) < topic_partitions_) {
      why = "this member reads " + std::to_string(assigned) + " of the " +
            std::to_string(topic_partitions_) + " partitions";
    }
    if (why.empty() || !whole_streams_.load() || options_.follow || json()) return;
    whole_streams_.store(false);
    SLUICE_LOG(kInfo) << "kafka: " << why << "; parts committed before or read by other members "
                      << "are not checked (streams are not verified complete by this import)";
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
  std::deque<ReceivedPart> prefetched_;           // parts polled ahead of the workers
  int64_t prefetched_bytes_ = 0;                  // their size (under mu_)
  bool paused_ = false;  // fetching paused at the prefetch window (under poll_mu_)
  // prefetch=, split between librdkafka's queue and prefetched_ (Prefetch);
  // set by Open.
  int workers_ = 2;
  int64_t queue_limit_bytes_ = 0;
  int64_t window_bytes_ = 0;
  std::deque<RowBatch> ready_;                    // format=json: batches cut, bounds committed
  rowmsg::RowBatchDecoder decoder_{options_.rows};
  int topic_partitions_ = 1;
  std::mutex dlq_mu_;
  uintptr_t dlq_sent_ = 0;
  std::unordered_map<uintptr_t, rd_kafka_resp_err_t> dlq_reports_;  // under dlq_mu_
  Handle dlq_;  // dead_letter_topic producer, made on first use (destroyed before the map)
  // format=json: row batches above the committed offset of one partition
  // (each listed in the commit metadata, which brokers cap at 4 KiB).
  static constexpr size_t kMaxOpenBatches = 64;
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
