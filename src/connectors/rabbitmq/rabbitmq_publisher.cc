// The RabbitMQ part publisher: one persistent message per part on channel 1
// in confirm mode, published with mandatory=true.
//
// Confirms: after confirm.select the broker numbers the channel's messages
// 1, 2, ... and acks (possibly several at once: multiple=true) or nacks
// them. Publish pipelines up to max_unconfirmed messages and reads whatever
// confirms have arrived without blocking; Flush waits for the rest. A
// message the broker cannot route comes back as basic.return (then its ack):
// that, a nack or a channel/connection close fails the export, naming the
// part.
#include <sys/time.h>

#include <chrono>
#include <cstdio>
#include <iterator>
#include <map>

#include "connectors/rabbitmq/amqp_conn.h"
#include "connectors/rabbitmq/rabbitmq.h"
#include "core/log.h"

namespace sluice::rabbitmq {
namespace {

using Clock = std::chrono::steady_clock;
constexpr amqp_channel_t kChannel = 1;

std::string PartName(const PartMeta& meta) {
  char num[32];
  std::snprintf(num, sizeof(num), "%06lld", static_cast<long long>(meta.part_number));
  return meta.stream_id + "_part_" + num;
}

class RabbitmqPublisher final : public PartPublisher {
 public:
  RabbitmqPublisher(Endpoint endpoint, PublisherOptions options)
      : endpoint_(std::move(endpoint)), options_(std::move(options)) {
    if (options_.routing_key.empty()) options_.routing_key = options_.queue;
  }

  Status Open() override {
    if (conn_) return Status::OK();
    SLUICE_ASSIGN_OR_RETURN(conn_, AmqpConnection::Open(endpoint_));
    (void)amqp_confirm_select(conn_->get(), kChannel);
    SLUICE_RETURN_NOT_OK(conn_->CheckReply(kChannel, "enabling publisher confirms"));
    if (options_.declare && !options_.queue.empty()) {
      SLUICE_RETURN_NOT_OK(conn_->DeclareQueue(kChannel, options_.queue, options_.dead_letter));
    }
    SLUICE_LOG(kInfo) << "rabbitmq: publishing to "
                      << (options_.exchange.empty()
                              ? "queue '" + options_.queue + "'"
                              : "exchange '" + options_.exchange + "' (routing key '" +
                                    options_.routing_key + "')")
                      << " on " << conn_->where();
    return Status::OK();
  }

  Status Publish(const PartMeta& meta, std::string_view bytes) override {
    if (!conn_) return Status::Internal("rabbitmq: Publish before Open");
    SLUICE_RETURN_NOT_OK(error_);
    const std::string name = PartName(meta);
    const bool tdtp = options_.encoding.format == PartEncoding::Format::kTdtp;
    if ((tdtp || options_.json_rows) && meta.end_of_stream) {
      // TDTP has no end part, and an end marker among row messages would be
      // read as a row by a consumer that is not sluice.
      SLUICE_LOG(kDebug) << "rabbitmq: stream " << meta.stream_id << " ended after "
                         << meta.total_parts << " part(s)";
      return Status::OK();
    }
    amqp_table_entry_t headers[5];
    auto str = [](amqp_table_entry_t* e, const char* key, std::string_view v) {
      e->key = amqp_cstring_bytes(key);
      e->value.kind = AMQP_FIELD_KIND_UTF8;
      e->value.value.bytes = Bytes(v);
    };
    auto num = [](amqp_table_entry_t* e, const char* key, int64_t v) {
      e->key = amqp_cstring_bytes(key);
      e->value.kind = AMQP_FIELD_KIND_I64;
      e->value.value.i64 = v;
    };
    str(&headers[0], kHeaderStreamId, meta.stream_id);
    num(&headers[1], kHeaderPartNumber, meta.part_number);
    num(&headers[2], kHeaderTotalParts, meta.total_parts);
    headers[3].key = amqp_cstring_bytes(kHeaderEnd);
    headers[3].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    headers[3].value.value.boolean = meta.end_of_stream ? 1 : 0;
    str(&headers[4], kHeaderFormat, options_.json_rows ? "json" : tdtp ? "tdtp" : "part");

    amqp_basic_properties_t props;
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                   AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_HEADERS_FLAG;
    props.content_type = amqp_cstring_bytes(options_.json_rows ? rowmsg::kContentTypeJson
                                            : tdtp             ? "application/xml"
                                                               : kContentTypePart);
    props.delivery_mode = 2;  // persistent
    props.message_id = Bytes(meta.idempotency_key);
    props.headers.num_entries = 5;
    props.headers.entries = headers;
    if (!options_.json_rows) return PublishOne(props, bytes, name);

    // One message per row: message id "<part id>:<row>", headers of its part.
    int64_t row = 0;
    std::string id;
    return encoder_.EncodePart(bytes, name, [&](std::string_view json, std::string_view) {
      id = meta.idempotency_key + ":" + std::to_string(++row);
      props.message_id = Bytes(id);
      return PublishOne(props, json, name + " row " + std::to_string(row));
    });
  }

  // Publishes one message, pipelining up to max_unconfirmed.
  Status PublishOne(const amqp_basic_properties_t& props, std::string_view body,
                    const std::string& name) {
    const int rc = amqp_basic_publish(conn_->get(), kChannel, Bytes(options_.exchange),
                                      Bytes(options_.routing_key), /*mandatory=*/1,
                                      /*immediate=*/0, &props, Bytes(body));
    if (rc != AMQP_STATUS_OK) {
      // The reason is usually a close the server sent before: read it.
      (void)Drain(0);
      SLUICE_RETURN_NOT_OK(error_);
      return Fail(Status::IOError("rabbitmq: publishing " + name + " to " + conn_->where() +
                                  ": " + amqp_error_string2(rc)));
    }
    outstanding_.emplace(++published_, name);
    SLUICE_RETURN_NOT_OK(Drain(0));
    if (static_cast<int>(outstanding_.size()) >= options_.max_unconfirmed)
      return WaitBelow(options_.max_unconfirmed);
    return error_;
  }

  PartEncoding encoding() const override { return options_.encoding; }

  Status Flush() override {
    if (!conn_) return Status::Internal("rabbitmq: Flush before Open");
    return WaitBelow(1);
  }

  // Waits (up to flush_timeout) until fewer than `limit` parts are unconfirmed.
  Status WaitBelow(size_t limit) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(options_.flush_timeout_ms);
    while (error_.ok() && outstanding_.size() >= limit) {
      if (Clock::now() >= deadline) {
        return Fail(Status::IOError("rabbitmq: " + std::to_string(outstanding_.size()) +
                                    " part(s) not confirmed by " + conn_->where() + " within " +
                                    std::to_string(options_.flush_timeout_ms) +
                                    " ms (first: " + outstanding_.begin()->second + ")"));
      }
      SLUICE_RETURN_NOT_OK(Drain(200));
    }
    return error_;
  }

  Status Close() override {
    conn_.reset();
    return Status::OK();
  }

  std::string kind() const override { return "rabbitmq queue"; }

 private:
  Status Fail(Status st) {
    if (error_.ok()) error_ = st;
    return error_;
  }

  // Handles the frames that arrive within `wait_ms` (0: only those already
  // there): confirms, returns, closes.
  Status Drain(int64_t wait_ms) {
    amqp_connection_state_t c = conn_->get();
    bool first = true;
    while (error_.ok()) {
      timeval tv;
      tv.tv_sec = first ? static_cast<time_t>(wait_ms / 1000) : 0;
      tv.tv_usec = first ? static_cast<suseconds_t>((wait_ms % 1000) * 1000) : 0;
      first = false;
      amqp_maybe_release_buffers(c);
      amqp_frame_t frame;
      const int rc = amqp_simple_wait_frame_noblock(c, &frame, &tv);
      if (rc == AMQP_STATUS_TIMEOUT) return Status::OK();
      if (rc != AMQP_STATUS_OK) {
        conn_->MarkDead();
        return Fail(Status::IOError(
            "rabbitmq: connection to " + conn_->where() +
            " failed while waiting for publisher confirms: " + amqp_error_string2(rc)));
      }
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      const amqp_method_t& m = frame.payload.method;
      switch (m.id) {
        case AMQP_BASIC_ACK_METHOD: {
          const auto* ack = static_cast<const amqp_basic_ack_t*>(m.decoded);
          Confirmed(ack->delivery_tag, ack->multiple != 0, nullptr);
          break;
        }
        case AMQP_BASIC_NACK_METHOD: {
          const auto* nack = static_cast<const amqp_basic_nack_t*>(m.decoded);
          Confirmed(nack->delivery_tag, nack->multiple != 0, "refused by the broker (basic.nack)");
          break;
        }
        case AMQP_BASIC_RETURN_METHOD: {
          const auto* ret = static_cast<const amqp_basic_return_t*>(m.decoded);
          std::string why = "returned unroutable: " + ToString(ret->reply_text) + " (" +
                            std::to_string(ret->reply_code) + ") by exchange '" +
                            ToString(ret->exchange) + "' with routing key '" +
                            ToString(ret->routing_key) + "'";
          // The returned message's header and body frames follow.
          amqp_message_t message;
          const amqp_rpc_reply_t r = amqp_read_message(c, frame.channel, &message, 0);
          std::string id;
          if (r.reply_type == AMQP_RESPONSE_NORMAL) {
            if (message.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG)
              id = ToString(message.properties.message_id);
            amqp_destroy_message(&message);
          }
          (void)Fail(Status::IOError(
              "rabbitmq: a part" + (id.empty() ? std::string() : " (message id " + id + ")") +
              " was " + why + " on " + conn_->where() +
              ": no queue is bound for it (declare the queue or fix exchange/routing_key)"));
          break;
        }
        case AMQP_CHANNEL_CLOSE_METHOD:
        case AMQP_CONNECTION_CLOSE_METHOD: {
          const std::string text = DescribeMethod(m);
          conn_->AnswerClose(frame);
          if (m.id == AMQP_CONNECTION_CLOSE_METHOD) conn_->MarkDead();
          (void)Fail(
              Status::IOError("rabbitmq: publishing to " + conn_->where() + " failed: " + text +
                              (outstanding_.empty() ? std::string()
                                                    : " (" + std::to_string(outstanding_.size()) +
                                                          " part(s) unconfirmed, first " +
                                                          outstanding_.begin()->second + ")")));
          break;
        }
        case AMQP_CONNECTION_BLOCKED_METHOD:
          SLUICE_LOG(kWarn) << "rabbitmq: " << conn_->where()
                            << " blocked publishing (resource alarm); waiting";
          break;
        default:
          break;
      }
    }
    return error_;
  }

  void Confirmed(uint64_t tag, bool multiple, const char* failure) {
    std::map<uint64_t, std::string>::iterator begin, end;
    if (multiple) {
      begin = outstanding_.begin();
      end = outstanding_.upper_bound(tag);
    } else {
      begin = outstanding_.find(tag);
      if (begin == outstanding_.end()) return;
      end = std::next(begin);
    }
    if (failure != nullptr && begin != end) {
      (void)Fail(Status::IOError("rabbitmq: part " + begin->second + " was " + failure + " on " +
                                 conn_->where()));
    }
    outstanding_.erase(begin, end);
  }

  Endpoint endpoint_;
  PublisherOptions options_;
  rowmsg::RowEncoder encoder_{options_.rows.timestamps};
  std::unique_ptr<AmqpConnection> conn_;
  uint64_t published_ = 0;                       // the channel's last publish sequence number
  std::map<uint64_t, std::string> outstanding_;  // unconfirmed: sequence number → part name
  Status error_;                                 // the first failure; later calls return it
};

}  // namespace

Result<std::unique_ptr<PartPublisher>> MakePublisher(Endpoint endpoint, PublisherOptions options) {
  if (options.queue.empty() && options.exchange.empty()) {
    return Status::InvalidArgument(
        "rabbitmq: the URI names no queue (?queue=Q) and no exchange (?exchange=E)");
  }
  if (!options.exchange.empty() && options.routing_key.empty() && options.queue.empty()) {
    return Status::InvalidArgument("rabbitmq: exchange=" + options.exchange +
                                   " needs routing_key= or queue=");
  }
  return std::unique_ptr<PartPublisher>(
      std::make_unique<RabbitmqPublisher>(std::move(endpoint), std::move(options)));
}

}  // namespace sluice::rabbitmq
