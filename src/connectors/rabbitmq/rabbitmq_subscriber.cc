// The RabbitMQ part subscriber: one consumer (channel 1, manual acks,
// basic.qos prefetch) shared by the runtime's import workers.
//
// Locks: rabbitmq-c connections are not thread-safe. `conn_mu_` lets one
// thread at a time use the connection: a Receive holds it while it waits for
// a delivery, in short slices. Ack and Reject never wait for it: they queue
// their basic.ack / basic.nack in `ops_` (under `state_mu_`) and send it
// themselves only when the connection is free; otherwise the thread holding
// it sends it before its next slice (within ~20 ms), and Close sends what is
// left. A lost ack only means a redelivery, which the sink ledger skips.
// Lock order: conn_mu_ before state_mu_.
//
// Attempts: classic queues keep no delivery count, so the subscriber counts
// deliveries of each message id in this process (a first delivery that the
// broker flags `redelivered` counts as the second); quorum queues'
// x-delivery-count header is used when present. Reject(requeue) of a part
// that reached max_attempts dead-letters it (basic.nack requeue=false) instead.
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include "connectors/rabbitmq/amqp_conn.h"
#include "connectors/rabbitmq/rabbitmq.h"
#include "core/buffer.h"
#include "core/log.h"

namespace sluice::rabbitmq {
namespace {

using Clock = std::chrono::steady_clock;
constexpr amqp_channel_t kConsumeChannel = 1;
constexpr amqp_channel_t kAdminChannel = 2;  // passive declares: a 404 must not close channel 1
constexpr int64_t kSliceMs = 20;

struct EnvelopeGuard {
  amqp_envelope_t* e;
  ~EnvelopeGuard() { amqp_destroy_envelope(e); }
};

class RabbitmqSubscriber final : public PartSubscriber {
 public:
  RabbitmqSubscriber(Endpoint endpoint, SubscriberOptions options)
      : endpoint_(std::move(endpoint)), options_(std::move(options)) {}

  ~RabbitmqSubscriber() override { (void)Close(); }

  Status Open() override {
    std::lock_guard<std::timed_mutex> conn(conn_mu_);
    if (conn_) return Status::OK();
    SLUICE_ASSIGN_OR_RETURN(auto c, AmqpConnection::Open(endpoint_));
    if (options_.declare) {
      SLUICE_RETURN_NOT_OK(c->DeclareQueue(kConsumeChannel, options_.queue, options_.dead_letter));
    } else {
      auto count = c->MessageCount(kAdminChannel, options_.queue);
      if (!count.ok()) {
        if (count.status().code() == StatusCode::kNotFound) {
          return Status::NotFound(count.status().message() +
                                  " (nothing was exported to it yet? or drop declare=false)");
        }
        return count.status();
      }
    }
    int prefetch = options_.prefetch;
    if (options_.json_rows) {
      // Room for two batches of row messages (a batch is cut from unacked messages).
      prefetch = static_cast<int>(std::clamp<int64_t>(2 * BatchRows(), prefetch, 65535));
    }
    (void)amqp_basic_qos(c->get(), kConsumeChannel, 0, static_cast<uint16_t>(prefetch), 0);
    SLUICE_RETURN_NOT_OK(c->CheckReply(kConsumeChannel, "setting prefetch (basic.qos)"));
    (void)amqp_basic_consume(c->get(), kConsumeChannel, Bytes(options_.queue), amqp_empty_bytes,
                             /*no_local=*/0, /*no_ack=*/0, /*exclusive=*/0, amqp_empty_table);
    SLUICE_RETURN_NOT_OK(
        c->CheckReply(kConsumeChannel, "consuming queue '" + options_.queue + "'"));
    conn_ = std::move(c);
    {
      std::lock_guard<std::mutex> lock(state_mu_);
      last_activity_ = Clock::now();
      ended_ = false;
    }
    SLUICE_LOG(kInfo) << "rabbitmq: consuming queue '" << options_.queue << "' on "
                      << conn_->where() << " (prefetch " << prefetch << ")"
                      << (options_.json_rows ? ", JSON row messages" : "")
                      << (options_.follow ? ", following" : "");
    return Status::OK();
  }

  Result<Delivery> Receive(int64_t max_wait_ms) override {
    if (!options_.json_rows) return ReceiveOne(max_wait_ms);
    // Row messages: gather a batch, cut it when full or when no message came
    // within a slice; parse it after releasing the connection.
    std::optional<RowBatch> batch;
    {
      std::unique_lock<std::mutex> lock(batch_mu_);
      while (true) {
        const bool gathering = batch_ != nullptr && !batch_->tags.empty();
        lock.unlock();
        auto d = ReceiveOne(gathering ? kSliceMs : max_wait_ms);
        lock.lock();
        if (!d.ok()) return d;
        if (d->state == Delivery::State::kPart) {
          if (!batch_) batch_ = std::make_unique<RowBatch>();
          rowmsg::RowBatchDecoder::Append(d->part.bytes->view(), &batch_->text);
          batch_->tags.push_back(d->part.delivery_tag);
          batch_->names.push_back(d->part.name);
          batch_->attempt = std::max(batch_->attempt, d->part.delivery_attempt);
          if (static_cast<int64_t>(batch_->tags.size()) < BatchRows() &&
              static_cast<int64_t>(batch_->text.size()) < options_.rows.batch_bytes) {
            continue;
          }
        } else if (batch_ == nullptr || batch_->tags.empty()) {
          return d;  // idle or end with nothing gathered
        }
        batch = std::move(*batch_);
        batch_.reset();
        break;
      }
    }
    // The batch's tag is its first message's; Ack/Reject apply to all of them.
    const uint64_t tag = batch->tags.front();
    {
      std::lock_guard<std::mutex> lock(state_mu_);
      batch_members_[tag] = batch->tags;
    }
    rowmsg::RowBatchDecoder::PartIdentity identity;
    identity.stream_id = rowmsg::StableHexId("amqp-json:" + options_.queue);
    identity.part_number = ++batches_cut_;
    // An id no other batch can have: message ids cannot tell a batch apart
    // (foreign producers repeat or omit them), so a batch redelivered after
    // a crash is applied again (at-least-once; a keyed upsert absorbs it).
    identity.source_fingerprint = "amqp-json:" + options_.queue + ":" + nonce_ + ":" +
                                  std::to_string(identity.part_number);
    Delivery d;
    d.state = Delivery::State::kPart;
    d.part = decoder_.Received(
        batch->text, identity,
        [&](int64_t line) {
          const auto i = static_cast<size_t>(std::max<int64_t>(1, line) - 1);
          return "rabbitmq: message " + (i < batch->names.size() ? batch->names[i] : "?");
        },
        batch->names.front() + (batch->names.size() > 1
                                    ? "+" + std::to_string(batch->names.size() - 1) + "more"
                                    : ""),
        tag);
    d.part.delivery_attempt = batch->attempt;
    return d;
  }

  Result<Delivery> ReceiveOne(int64_t max_wait_ms) {
    const auto deadline =
        Clock::now() + std::chrono::milliseconds(std::max<int64_t>(0, max_wait_ms));
    {
      std::lock_guard<std::mutex> lock(state_mu_);
      SLUICE_RETURN_NOT_OK(error_);
      if (ended_) return Delivery{Delivery::State::kEnd, {}};
    }
    std::unique_lock<std::timed_mutex> conn(conn_mu_, std::defer_lock);
    if (!conn.try_lock_until(deadline)) return Delivery{Delivery::State::kIdle, {}};
    if (!conn_) return Status::Internal("rabbitmq: Receive before Open or after Close");
    amqp_connection_state_t c = conn_->get();
    while (true) {
      SLUICE_RETURN_NOT_OK(SendOps());
      SLUICE_ASSIGN_OR_RETURN(const bool ended, CheckEnd());
      if (ended) return Delivery{Delivery::State::kEnd, {}};
      const auto now = Clock::now();
      if (now >= deadline) return Delivery{Delivery::State::kIdle, {}};
      const int64_t left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
      const int64_t slice = std::clamp<int64_t>(left, 1, kSliceMs);
      timeval tv;
      tv.tv_sec = 0;
      tv.tv_usec = static_cast<suseconds_t>(slice * 1000);
      amqp_maybe_release_buffers(c);
      amqp_envelope_t envelope;
      const amqp_rpc_reply_t r = amqp_consume_message(c, &envelope, &tv, 0);
      if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        EnvelopeGuard guard{&envelope};
        if (auto d = Deliver(envelope)) return std::move(*d);
        continue;
      }
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
        continue;
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
          r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
        // Something other than a delivery: read it.
        amqp_frame_t frame;
        const int rc = amqp_simple_wait_frame(c, &frame);
        if (rc != AMQP_STATUS_OK) return SetError(ConnectionError(amqp_error_string2(rc)));
        if (frame.frame_type != AMQP_FRAME_METHOD) continue;
        const amqp_method_t& m = frame.payload.method;
        if (m.id == AMQP_CHANNEL_CLOSE_METHOD || m.id == AMQP_CONNECTION_CLOSE_METHOD) {
          const std::string text = DescribeMethod(m);
          conn_->AnswerClose(frame);
          return SetError(ConnectionError(text));
        }
        if (m.id == AMQP_BASIC_CANCEL_METHOD) {
          return SetError(ConnectionError("the server cancelled the consumer (queue '" +
                                          options_.queue + "' deleted?)"));
        }
        continue;  // basic.ack of nothing, connection.blocked, ...
      }
      conn_->MarkDead();
      return SetError(ConnectionError(DescribeReply(r)));
    }
  }

  Status Ack(const ReceivedPart& part) override {
    {
      std::lock_guard<std::mutex> lock(state_mu_);
      for (uint64_t tag : MembersOf(part.delivery_tag)) {
        auto it = in_flight_.find(tag);
        if (it == in_flight_.end()) continue;  // not ours any more (closed)
        attempts_.erase(it->second);
        in_flight_.erase(it);
        ops_.push_back({tag, Op::kAck});
      }
      last_activity_ = Clock::now();
    }
    return SendOpsIfFree();
  }

  // The delivery tags a part stands for (a row batch: all its messages),
  // forgetting the batch. state_mu_ held.
  std::vector<uint64_t> MembersOf(uint64_t tag) {
    auto it = batch_members_.find(tag);
    if (it == batch_members_.end()) return {tag};
    std::vector<uint64_t> tags = std::move(it->second);
    batch_members_.erase(it);
    return tags;
  }

  Status Reject(const ReceivedPart& part, bool requeue) override {
    std::vector<uint64_t> tags;
    {
      std::lock_guard<std::mutex> lock(state_mu_);
      tags = MembersOf(part.delivery_tag);
    }
    for (uint64_t tag : tags) {
      ReceivedPart one = part;
      one.delivery_tag = tag;
      SLUICE_RETURN_NOT_OK(RejectOne(one, requeue));
    }
    return Status::OK();
  }

  Status RejectOne(const ReceivedPart& part, bool requeue) {
    {
      std::lock_guard<std::mutex> lock(state_mu_);
      auto it = in_flight_.find(part.delivery_tag);
      if (it == in_flight_.end()) return Status::OK();
      if (requeue && part.delivery_attempt >= options_.max_attempts) {
        SLUICE_LOG(kWarn) << "rabbitmq: " << part.name << " failed " << part.delivery_attempt
                          << " delivery attempt(s) (max_attempts=" << options_.max_attempts
                          << "): not requeued";
        requeue = false;
      }
      if (!requeue) {
        attempts_.erase(it->second);
        if (options_.dead_letter) {
          SLUICE_LOG(kWarn) << "rabbitmq: dead-lettered " << part.name << " to exchange '"
                            << DeadLetterExchange(options_.queue) << "' (queue '"
                            << DeadLetterQueue(options_.queue) << "')";
        } else {
          SLUICE_LOG(kWarn) << "rabbitmq: rejected " << part.name
                            << " without requeue (dead_letter=false: the queue's own dead-letter "
                               "exchange, if any, receives it; otherwise it is dropped)";
        }
        ++dead_lettered_;
      }
      in_flight_.erase(it);
      ops_.push_back({part.delivery_tag, requeue ? Op::kRequeue : Op::kDeadLetter});
      last_activity_ = Clock::now();
    }
    return SendOpsIfFree();
  }

  Status Close() override {
    std::lock_guard<std::timed_mutex> conn(conn_mu_);
    if (!conn_) return Status::OK();
    Status st = conn_->dead() ? Status::OK() : SendOps();
    size_t unacked = 0;
    {
      std::lock_guard<std::mutex> lock(state_mu_);
      unacked = in_flight_.size();
      in_flight_.clear();
      ops_.clear();
      if (dead_lettered_ > 0) {
        SLUICE_LOG(kWarn) << "rabbitmq: " << dead_lettered_
                          << " part(s) rejected to the dead-letter queue '"
                          << DeadLetterQueue(options_.queue) << "'";
      }
    }
    if (unacked > 0) {
      SLUICE_LOG(kInfo) << "rabbitmq: " << unacked
                        << " part(s) received but not acked go back to the queue";
    }
    conn_.reset();  // channel.close + connection.close: the broker requeues anything unacked
    return st;
  }

  std::string kind() const override { return "rabbitmq queue"; }

  // Competing consumers share a queue: each sees only some parts of a stream.
  bool delivers_whole_streams() const override { return false; }
  // An empty queue is the normal state of a scheduled import: 0 rows, exit 0.
  bool empty_origin_is_error() const override { return false; }
  bool follows() const override { return options_.follow; }

 private:
  struct Op {
    enum Kind { kAck, kRequeue, kDeadLetter };
    uint64_t tag;
    Kind kind;
  };

  Status ConnectionError(const std::string& why) const {
    return Status::IOError("rabbitmq: consuming queue '" + options_.queue + "' on " +
                           endpoint_.Describe() + ": " + why);
  }

  Status SetError(Status st) {
    std::lock_guard<std::mutex> lock(state_mu_);
    if (error_.ok()) error_ = st;
    return error_;
  }

  Status SendOpsIfFree() {
    std::unique_lock<std::timed_mutex> conn(conn_mu_, std::try_to_lock);
    if (!conn.owns_lock() || !conn_) return Status::OK();  // the holder sends them
    return SendOps();
  }

  // Sends the queued acks and nacks. conn_mu_ held.
  Status SendOps() {
    std::vector<Op> ops;
    {
      std::lock_guard<std::mutex> lock(state_mu_);
      SLUICE_RETURN_NOT_OK(error_);
      ops.swap(ops_);
    }
    for (const Op& op : ops) {
      const int rc = op.kind == Op::kAck ? amqp_basic_ack(conn_->get(), kConsumeChannel, op.tag, 0)
                                         : amqp_basic_nack(conn_->get(), kConsumeChannel, op.tag, 0,
                                                           op.kind == Op::kRequeue ? 1 : 0);
      if (rc != AMQP_STATUS_OK) {
        conn_->MarkDead();
        return SetError(ConnectionError(std::string("sending ") +
                                        (op.kind == Op::kAck ? "basic.ack" : "basic.nack") + ": " +
                                        amqp_error_string2(rc)));
      }
    }
    return Status::OK();
  }

  // follow=false: true once the queue has been empty for idle_ms with
  // nothing in flight here. conn_mu_ held.
  Result<bool> CheckEnd() {
    {
      std::lock_guard<std::mutex> lock(state_mu_);
      SLUICE_RETURN_NOT_OK(error_);
      if (ended_) return true;
      if (options_.follow || !in_flight_.empty() || !ops_.empty()) return false;
      if (Clock::now() - last_activity_ < std::chrono::milliseconds(options_.idle_ms)) return false;
    }
    auto count = conn_->MessageCount(kAdminChannel, options_.queue);
    if (!count.ok()) return SetError(count.status());
    std::lock_guard<std::mutex> lock(state_mu_);
    last_activity_ = Clock::now();
    // A delivery may have arrived while we asked: it is read first.
    if (*count > 0 || amqp_frames_enqueued(conn_->get()) || amqp_data_in_buffer(conn_->get()))
      return false;
    ended_ = true;
    SLUICE_LOG(kInfo) << "rabbitmq: queue '" << options_.queue << "' drained (empty for "
                      << options_.idle_ms << " ms, nothing in flight)";
    return true;
  }

  // The delivery as a part, or nullopt when it was consumed here. conn_mu_ held.
  std::optional<Delivery> Deliver(const amqp_envelope_t& env) {
    const amqp_basic_properties_t& props = env.message.properties;
    std::string id;
    if (props._flags & AMQP_BASIC_MESSAGE_ID_FLAG) id = ToString(props.message_id);
    std::string stream;
    int64_t number = -1, delivery_count = -1;
    if (props._flags & AMQP_BASIC_HEADERS_FLAG) {
      if (const auto* v = FindHeader(props.headers, kHeaderStreamId);
          v != nullptr && (v->kind == AMQP_FIELD_KIND_UTF8 || v->kind == AMQP_FIELD_KIND_BYTES)) {
        stream = ToString(v->value.bytes);
      }
      if (const auto* v = FindHeader(props.headers, kHeaderPartNumber); v != nullptr) {
        if (!FieldToInt64(*v, &number)) number = -1;
      }
      if (const auto* v = FindHeader(props.headers, "x-delivery-count"); v != nullptr) {
        if (!FieldToInt64(*v, &delivery_count)) delivery_count = -1;
      }
    }
    Delivery d;
    d.state = Delivery::State::kPart;
    d.part.delivery_tag = env.delivery_tag;
    d.part.bytes = Buffer::Copy(env.message.body.bytes, static_cast<int64_t>(env.message.body.len));
    // No '/' in names: the runtime uses them as reject file names.
    std::string name = options_.queue;
    std::replace(name.begin(), name.end(), '/', '_');
    if (!stream.empty() && number >= 0) {
      char num[32];
      std::snprintf(num, sizeof(num), "%06lld", static_cast<long long>(number));
      std::string s = stream;
      std::replace(s.begin(), s.end(), '/', '_');
      name += "@" + s + "_part_" + num;
    } else if (!id.empty()) {
      std::string s = id;
      std::replace(s.begin(), s.end(), '/', '_');
      name += "@" + s;
    } else {
      name += "@delivery" + std::to_string(env.delivery_tag);
    }
    d.part.name = std::move(name);
    const std::string key = id.empty() ? d.part.name : id;
    std::lock_guard<std::mutex> lock(state_mu_);
    auto [it, inserted] = attempts_.try_emplace(key, env.redelivered ? 1 : 0);
    int attempt = ++it->second;
    if (delivery_count >= 0)
      attempt = std::max<int64_t>(attempt, std::min<int64_t>(delivery_count + 1, 1 << 30));
    d.part.delivery_attempt = attempt;
    in_flight_.emplace(env.delivery_tag, key);
    last_activity_ = Clock::now();
    return d;
  }

  // format=json: messages gathered into one part.
  struct RowBatch {
    std::string text;
    std::vector<uint64_t> tags;
    std::vector<std::string> names;  // queue@message-id per message
    int attempt = 1;
  };
  int64_t BatchRows() const { return std::min(options_.rows.batch_rows, kMaxJsonBatch); }

  Endpoint endpoint_;
  SubscriberOptions options_;
  rowmsg::RowBatchDecoder decoder_{options_.rows};
  std::mutex batch_mu_;
  std::unique_ptr<RowBatch> batch_;  // being gathered (batch_mu_)
  std::atomic<int64_t> batches_cut_{0};
  // Unique to this subscriber: clock, process id and a random draw.
  std::string nonce_ = rowmsg::StableHexId(
      std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) + ":" +
      std::to_string(::getpid()) + ":" + std::to_string(std::random_device{}()) + ":" +
      std::to_string(std::random_device{}()));
  std::unordered_map<uint64_t, std::vector<uint64_t>> batch_members_;  // batch tag → message tags

  std::timed_mutex conn_mu_;
  std::unique_ptr<AmqpConnection> conn_;

  std::mutex state_mu_;
  std::unordered_map<uint64_t, std::string> in_flight_;  // delivery tag → attempt key
  std::unordered_map<std::string, int> attempts_;  // deliveries seen, per message id (until acked)
  std::vector<Op> ops_;                            // acks/nacks not sent yet
  Clock::time_point last_activity_;
  bool ended_ = false;
  int64_t dead_lettered_ = 0;
  Status error_;
};

}  // namespace

Result<std::unique_ptr<PartSubscriber>> MakeSubscriber(Endpoint endpoint,
                                                       SubscriberOptions options) {
  if (options.queue.empty()) {
    return Status::InvalidArgument("rabbitmq: the URI names no queue (amqp://host/vhost?queue=Q)");
  }
  return std::unique_ptr<PartSubscriber>(
      std::make_unique<RabbitmqSubscriber>(std::move(endpoint), std::move(options)));
}

}  // namespace sluice::rabbitmq
