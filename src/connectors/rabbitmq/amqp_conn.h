// A RAII rabbitmq-c connection and the error texts of its replies. Internal to
// the rabbitmq connector (and its tests). Not thread-safe: one thread at a
// time (callers hold a mutex).
#pragma once

#include <amqp.h>
#include <amqp_framing.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connectors/rabbitmq/rabbitmq.h"
#include "core/status.h"

namespace sluice::rabbitmq {

inline amqp_bytes_t Bytes(std::string_view s) {
  amqp_bytes_t b;
  b.len = s.size();
  b.bytes = const_cast<char*>(s.data());  // rabbitmq-c takes non-const but only reads
  return b;
}
inline std::string ToString(amqp_bytes_t b) {
  return b.bytes == nullptr ? std::string() : std::string(static_cast<const char*>(b.bytes), b.len);
}

// "NOT_FOUND - no queue 'x' in vhost '/' (404)" from a channel.close or
// connection.close method; library errors by their rabbitmq-c text, TLS
// errors (AMQP_STATUS_SSL_ERROR) followed by the reasons OpenSSL queued on
// this thread ("a SSL error occurred (TLS: tlsv13 alert certificate
// required)"), so call it right after the failed call, on its thread.
std::string DescribeReply(const amqp_rpc_reply_t& reply);
// The reasons in this thread's OpenSSL error queue, "; "-separated (the
// queue is emptied); "" when there are none.
std::string TakeTlsErrors();
std::string DescribeMethod(const amqp_method_t& method);

// An integer header value of any AMQP integer kind; false otherwise.
bool FieldToInt64(const amqp_field_value_t& v, int64_t* out);
// The header `name` of a table, or null.
const amqp_field_value_t* FindHeader(const amqp_table_t& table, std::string_view name);

// What the TLS handshake saw of the server's certificate chain (filled by an
// OpenSSL verify callback): rabbitmq-c reports a failed verification only as
// a status code, so this is where an error learns why.
struct TlsPeerInfo;

class AmqpConnection {
 public:
  // Connects (TLS when endpoint.tls), logs in and opens channel 1. Errors
  // name endpoint.Describe(); TLS errors also say what failed (untrusted
  // certificate and why, host name mismatch, handshake alert) and which
  // option changes it.
  static Result<std::unique_ptr<AmqpConnection>> Open(const Endpoint& endpoint);
  ~AmqpConnection();
  AmqpConnection(const AmqpConnection&) = delete;
  AmqpConnection& operator=(const AmqpConnection&) = delete;

  amqp_connection_state_t get() const { return conn_; }
  const std::string& where() const { return where_; }

  // Ok, or the reply of the last synchronous call as an IOError naming
  // `what` and the endpoint. A server channel.close is answered (close-ok)
  // and the channel marked closed; a connection.close marks the connection
  // dead.
  Status CheckReply(amqp_channel_t channel, std::string_view what);
  // Answers a channel.close / connection.close the server sent us.
  void AnswerClose(const amqp_frame_t& frame);

  Status OpenChannel(amqp_channel_t channel);
  bool channel_open(amqp_channel_t channel) const;
  bool dead() const { return dead_; }
  void MarkDead() { dead_ = true; }

  // Durable queue `queue`; with dead_letter, its x-dead-letter-exchange
  // <queue>.dlx (fanout, durable) bound to the durable queue <queue>.dead.
  Status DeclareQueue(amqp_channel_t channel, const std::string& queue, bool dead_letter);
  // Ready messages of `queue` (passive declare). NotFound when it does not exist.
  Result<uint32_t> MessageCount(amqp_channel_t channel, const std::string& queue);
  // Deletes the queue and its dead-letter topology (tests, cleanup).
  Status DeleteQueueTopology(amqp_channel_t channel, const std::string& queue);

 private:
  AmqpConnection(amqp_connection_state_t conn, std::string where);
  // Creates the TLS socket of conn_ and configures it from the endpoint.
  Status SetUpTls(const Endpoint& endpoint, amqp_socket_t** socket);
  // The error of a failed TLS socket open (rc), with what the handshake saw.
  Status TlsOpenError(const Endpoint& endpoint, int rc) const;

  amqp_connection_state_t conn_;
  std::string where_;
  // Outlives conn_'s TLS socket, whose SSL_CTX points at it (destroyed after
  // the destructor body destroyed conn_).
  std::unique_ptr<TlsPeerInfo> tls_;
  std::vector<amqp_channel_t> open_channels_;
  bool dead_ = false;
};

}  // namespace sluice::rabbitmq
