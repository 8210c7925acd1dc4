#include "connectors/rabbitmq/amqp_conn.h"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <sys/time.h>

#include <algorithm>

namespace sluice::rabbitmq {

std::string DescribeMethod(const amqp_method_t& method) {
  auto text = [](uint16_t code, amqp_bytes_t reply) {
    return ToString(reply) + " (" + std::to_string(code) + ")";
  };
  switch (method.id) {
    case AMQP_CONNECTION_CLOSE_METHOD: {
      const auto* m = static_cast<const amqp_connection_close_t*>(method.decoded);
      return "the server closed the connection: " + text(m->reply_code, m->reply_text);
    }
    case AMQP_CHANNEL_CLOSE_METHOD: {
      const auto* m = static_cast<const amqp_channel_close_t*>(method.decoded);
      return "the server closed the channel: " + text(m->reply_code, m->reply_text);
    }
    default: {
      const char* name = amqp_method_name(method.id);
      return std::string("unexpected AMQP method ") + (name != nullptr ? name : "?");
    }
  }
}

std::string DescribeReply(const amqp_rpc_reply_t& reply) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "ok";
    case AMQP_RESPONSE_NONE:
      return "no reply from the server";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      return DescribeMethod(reply.reply);
  }
  return "unknown reply";
}

bool FieldToInt64(const amqp_field_value_t& v, int64_t* out) {
  switch (v.kind) {
    case AMQP_FIELD_KIND_I8:
      *out = v.value.i8;
      return true;
    case AMQP_FIELD_KIND_U8:
      *out = v.value.u8;
      return true;
    case AMQP_FIELD_KIND_I16:
      *out = v.value.i16;
      return true;
    case AMQP_FIELD_KIND_U16:
      *out = v.value.u16;
      return true;
    case AMQP_FIELD_KIND_I32:
      *out = v.value.i32;
      return true;
    case AMQP_FIELD_KIND_U32:
      *out = v.value.u32;
      return true;
    case AMQP_FIELD_KIND_I64:
      *out = v.value.i64;
      return true;
    case AMQP_FIELD_KIND_U64:
      if (v.value.u64 > static_cast<uint64_t>(INT64_MAX)) return false;
      *out = static_cast<int64_t>(v.value.u64);
      return true;
    default:
      return false;
  }
}

const amqp_field_value_t* FindHeader(const amqp_table_t& table, std::string_view name) {
  for (int i = 0; i < table.num_entries; ++i) {
    const amqp_table_entry_t& e = table.entries[i];
    if (ToString(e.key) == name) return &e.value;
  }
  return nullptr;
}

Result<std::unique_ptr<AmqpConnection>> AmqpConnection::Open(const Endpoint& endpoint) {
  const std::string where = endpoint.Describe();
  amqp_connection_state_t conn = amqp_new_connection();
  if (conn == nullptr) return Status::Internal("rabbitmq: out of memory creating a connection");
  // Owns `conn` from here on: every early return destroys it.
  std::unique_ptr<AmqpConnection> c(new AmqpConnection(conn, where));
  amqp_socket_t* socket = nullptr;
  if (endpoint.tls) {
    socket = amqp_ssl_socket_new(conn);
    if (socket == nullptr)
      return Status::IOError("rabbitmq: " + where + ": cannot create a TLS socket");
    amqp_ssl_socket_set_verify_peer(socket, endpoint.verify ? 1 : 0);
    amqp_ssl_socket_set_verify_hostname(socket, endpoint.verify ? 1 : 0);
    if (!endpoint.ca.empty()) {
      const int rc = amqp_ssl_socket_set_cacert(socket, endpoint.ca.c_str());
      if (rc != AMQP_STATUS_OK) {
        return Status::IOError("rabbitmq: loading CA file '" + endpoint.ca +
                               "': " + amqp_error_string2(rc));
      }
    }
    if (!endpoint.cert.empty() || !endpoint.key.empty()) {
      if (endpoint.cert.empty() || endpoint.key.empty()) {
        return Status::InvalidArgument(
            "rabbitmq: tls client authentication needs both cert= and key=");
      }
      const int rc = amqp_ssl_socket_set_key(socket, endpoint.cert.c_str(), endpoint.key.c_str());
      if (rc != AMQP_STATUS_OK) {
        return Status::IOError("rabbitmq: loading client certificate '" + endpoint.cert +
                               "' / key '" + endpoint.key + "': " + amqp_error_string2(rc));
      }
    }
  } else {
    socket = amqp_tcp_socket_new(conn);
    if (socket == nullptr)
      return Status::IOError("rabbitmq: " + where + ": cannot create a socket");
  }
  timeval tv;
  tv.tv_sec = static_cast<time_t>(endpoint.connect_timeout_ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((endpoint.connect_timeout_ms % 1000) * 1000);
  const int rc = amqp_socket_open_noblock(socket, endpoint.host.c_str(), endpoint.port, &tv);
  if (rc != AMQP_STATUS_OK) {
    c->dead_ = true;
    return Status::IOError("rabbitmq: cannot connect to " + where + ": " + amqp_error_string2(rc));
  }
  const amqp_rpc_reply_t login =
      amqp_login(conn, endpoint.vhost.c_str(), 0, AMQP_DEFAULT_FRAME_SIZE, endpoint.heartbeat_s,
                 AMQP_SASL_METHOD_PLAIN, endpoint.user.c_str(), endpoint.password.c_str());
  if (login.reply_type != AMQP_RESPONSE_NORMAL) {
    c->dead_ = true;
    return Status::IOError("rabbitmq: logging in to " + where + " as '" + endpoint.user +
                           "': " + DescribeReply(login));
  }
  SLUICE_RETURN_NOT_OK(c->OpenChannel(1));
  return c;
}

AmqpConnection::~AmqpConnection() {
  if (!dead_) {
    // Best effort: the broker requeues whatever this connection left unacked.
    for (amqp_channel_t ch : open_channels_)
      (void)amqp_channel_close(conn_, ch, AMQP_REPLY_SUCCESS);
    (void)amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
  }
  amqp_destroy_connection(conn_);
}

bool AmqpConnection::channel_open(amqp_channel_t channel) const {
  return std::find(open_channels_.begin(), open_channels_.end(), channel) != open_channels_.end();
}

Status AmqpConnection::OpenChannel(amqp_channel_t channel) {
  if (channel_open(channel)) return Status::OK();
  (void)amqp_channel_open(conn_, channel);
  SLUICE_RETURN_NOT_OK(CheckReply(channel, "opening channel " + std::to_string(channel)));
  open_channels_.push_back(channel);
  return Status::OK();
}

void AmqpConnection::AnswerClose(const amqp_frame_t& frame) {
  if (frame.frame_type != AMQP_FRAME_METHOD) return;
  if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
    amqp_channel_close_ok_t ok;
    (void)amqp_send_method(conn_, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    open_channels_.erase(std::remove(open_channels_.begin(), open_channels_.end(), frame.channel),
                         open_channels_.end());
  } else if (frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
    amqp_connection_close_ok_t ok;
    (void)amqp_send_method(conn_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    dead_ = true;
  }
}

Status AmqpConnection::CheckReply(amqp_channel_t channel, std::string_view what) {
  const amqp_rpc_reply_t reply = amqp_get_rpc_reply(conn_);
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) return Status::OK();
  const std::string text = DescribeReply(reply);
  if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) {
    amqp_frame_t frame;
    frame.frame_type = AMQP_FRAME_METHOD;
    frame.channel = reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD ? 0 : channel;
    frame.payload.method = reply.reply;
    AnswerClose(frame);
    if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
      const auto* m = static_cast<const amqp_channel_close_t*>(reply.reply.decoded);
      if (m->reply_code == AMQP_NOT_FOUND) {
        return Status::NotFound("rabbitmq: " + std::string(what) + " on " + where_ + ": " + text);
      }
    }
  } else {
    dead_ = true;  // a socket or protocol error: the connection is unusable
  }
  return Status::IOError("rabbitmq: " + std::string(what) + " on " + where_ + ": " + text);
}

Status AmqpConnection::DeclareQueue(amqp_channel_t channel, const std::string& queue,
                                    bool dead_letter) {
  SLUICE_RETURN_NOT_OK(OpenChannel(channel));
  amqp_table_t args = amqp_empty_table;
  amqp_table_entry_t entry;
  const std::string dlx = DeadLetterExchange(queue);
  if (dead_letter) {
    const std::string dead = DeadLetterQueue(queue);
    (void)amqp_exchange_declare(conn_, channel, Bytes(dlx), amqp_cstring_bytes("fanout"),
                                /*passive=*/0, /*durable=*/1, /*auto_delete=*/0, /*internal=*/0,
                                amqp_empty_table);
    SLUICE_RETURN_NOT_OK(CheckReply(channel, "declaring dead-letter exchange '" + dlx + "'"));
    (void)amqp_queue_declare(conn_, channel, Bytes(dead), 0, /*durable=*/1, 0, 0, amqp_empty_table);
    SLUICE_RETURN_NOT_OK(CheckReply(channel, "declaring dead-letter queue '" + dead + "'"));
    (void)amqp_queue_bind(conn_, channel, Bytes(dead), Bytes(dlx), amqp_empty_bytes,
                          amqp_empty_table);
    SLUICE_RETURN_NOT_OK(CheckReply(channel, "binding '" + dead + "' to '" + dlx + "'"));
    entry.key = amqp_cstring_bytes("x-dead-letter-exchange");
    entry.value.kind = AMQP_FIELD_KIND_UTF8;
    entry.value.value.bytes = Bytes(dlx);
    args.num_entries = 1;
    args.entries = &entry;
  }
  (void)amqp_queue_declare(conn_, channel, Bytes(queue), 0, /*durable=*/1, 0, 0, args);
  Status st = CheckReply(channel, "declaring queue '" + queue + "'");
  if (!st.ok() && st.message().find("PRECONDITION_FAILED") != std::string::npos) {
    return Status::InvalidArgument(st.message() + " (the queue exists with other arguments: use " +
                                   (dead_letter ? "dead_letter=false or " : "") + "declare=false)");
  }
  return st;
}

Result<uint32_t> AmqpConnection::MessageCount(amqp_channel_t channel, const std::string& queue) {
  SLUICE_RETURN_NOT_OK(OpenChannel(channel));
  amqp_queue_declare_ok_t* ok =
      amqp_queue_declare(conn_, channel, Bytes(queue), /*passive=*/1, 0, 0, 0, amqp_empty_table);
  SLUICE_RETURN_NOT_OK(CheckReply(channel, "checking queue '" + queue + "'"));
  if (ok == nullptr) return Status::IOError("rabbitmq: checking queue '" + queue + "': no reply");
  return ok->message_count;
}

Status AmqpConnection::DeleteQueueTopology(amqp_channel_t channel, const std::string& queue) {
  for (const std::string& q : {queue, DeadLetterQueue(queue)}) {
    SLUICE_RETURN_NOT_OK(OpenChannel(channel));
    (void)amqp_queue_delete(conn_, channel, Bytes(q), 0, 0);
    SLUICE_RETURN_NOT_OK(CheckReply(channel, "deleting queue '" + q + "'"));
  }
  SLUICE_RETURN_NOT_OK(OpenChannel(channel));
  (void)amqp_exchange_delete(conn_, channel, Bytes(DeadLetterExchange(queue)), 0);
  return CheckReply(channel, "deleting exchange '" + DeadLetterExchange(queue) + "'");
}

}  // namespace sluice::rabbitmq
