#include "connectors/rabbitmq/amqp_conn.h"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sluice::rabbitmq {

struct TlsPeerInfo {
  std::string subject;      // of the server's own certificate ("CN=broker")
  std::string names;        // its subjectAltNames ("DNS:broker, IP:10.0.0.1")
  std::string first_error;  // the first chain verification error, with where it occurred
};

namespace {

// One-line RFC 2253 form of a certificate name ("CN=broker,O=example").
std::string NameText(X509_NAME* name) {
  if (name == nullptr) return "?";
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "?";
  std::string out;
  if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    if (n > 0) out.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  return out.empty() ? "?" : out;
}

// "DNS:broker, IP:127.0.0.1" from the certificate's subjectAltName.
std::string AltNames(X509* cert) {
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return "";
  std::string out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    std::string item;
    if (n->type == GEN_DNS) {
      item =
          "DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                               static_cast<size_t>(ASN1_STRING_length(n->d.dNSName)));
    } else if (n->type == GEN_IPADD) {
      const int len = ASN1_STRING_length(n->d.iPAddress);
      char text[INET6_ADDRSTRLEN] = "?";
      if (len == 4 || len == 16) {
        (void)inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(n->d.iPAddress), text,
                        sizeof(text));
      }
      item = std::string("IP:") + text;
    } else {
      continue;
    }
    out += (out.empty() ? "" : ", ") + item;
  }
  GENERAL_NAMES_free(names);
  return out;
}

int TlsPeerInfoIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Installed with the mode rabbitmq-c leaves on its SSL_CTX (SSL_VERIFY_NONE):
// OpenSSL still verifies the chain and calls this for every certificate, and
// rabbitmq-c then checks SSL_get_verify_result itself. Only records; the
// verdict is unchanged.
int RecordVerification(int preverify_ok, X509_STORE_CTX* store) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl == nullptr) return preverify_ok;
  auto* info =
      static_cast<TlsPeerInfo*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), TlsPeerInfoIndex()));
  if (info == nullptr) return preverify_ok;
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  const int depth = X509_STORE_CTX_get_error_depth(store);
  if (depth == 0 && cert != nullptr && info->subject.empty()) {
    info->subject = NameText(X509_get_subject_name(cert));
    info->names = AltNames(cert);
  }
  if (!preverify_ok && info->first_error.empty()) {
    const int err = X509_STORE_CTX_get_error(store);
    info->first_error = std::string(X509_verify_cert_error_string(err));
    if (cert != nullptr) {
      info->first_error += " (certificate " + NameText(X509_get_subject_name(cert)) +
                           " issued by " + NameText(X509_get_issuer_name(cert)) + ")";
    }
  }
  return preverify_ok;
}

// An encrypted private key would make OpenSSL prompt on the terminal (or
// rabbitmq-c abort): refuse to decrypt instead, so loading fails cleanly.
int NoKeyPassword(char*, int, int, void*) { return 0; }

std::string PeerText(const TlsPeerInfo& info) {
  if (info.subject.empty()) return "no certificate seen";
  return info.subject + (info.names.empty() ? "" : "; names " + info.names);
}

// The file must be readable: rabbitmq-c/OpenSSL would only say "a SSL error".
Status CheckReadable(const std::string& option, const std::string& path) {
  if (::access(path.c_str(), R_OK) != 0) {
    return Status::InvalidArgument("rabbitmq: " + option + "='" + path +
                                   "' cannot be read: " + std::strerror(errno));
  }
  return Status::OK();
}

}  // namespace

std::string TakeTlsErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    std::string text;
    if (reason != nullptr) {
      text = reason;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof(buf));
      text = buf;
    }
    if (out.find(text) == std::string::npos) out += (out.empty() ? "" : "; ") + text;
  }
  return out;
}

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
    case AMQP_RESPONSE_LIBRARY_EXCEPTION: {
      std::string text = amqp_error_string2(reply.library_error);
      if (reply.library_error == AMQP_STATUS_SSL_ERROR) {
        const std::string tls = TakeTlsErrors();
        if (!tls.empty()) text += " (TLS: " + tls + ")";
      }
      return text;
    }
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

AmqpConnection::AmqpConnection(amqp_connection_state_t conn, std::string where)
    : conn_(conn), where_(std::move(where)) {}

Status AmqpConnection::SetUpTls(const Endpoint& endpoint, amqp_socket_t** socket) {
  if (!endpoint.ca.empty()) SLUICE_RETURN_NOT_OK(CheckReadable("tls_ca", endpoint.ca));
  if (!endpoint.cert.empty() || !endpoint.key.empty()) {
    if (endpoint.cert.empty() || endpoint.key.empty()) {
      return Status::InvalidArgument(
          "rabbitmq: a TLS client certificate needs both tls_cert= and tls_key=");
    }
    SLUICE_RETURN_NOT_OK(CheckReadable("tls_cert", endpoint.cert));
    SLUICE_RETURN_NOT_OK(CheckReadable("tls_key", endpoint.key));
  }
  ERR_clear_error();
  *socket = amqp_ssl_socket_new(conn_);
  if (*socket == nullptr) {
    return Status::IOError("rabbitmq: " + where_ +
                           ": cannot create a TLS socket: " + TakeTlsErrors());
  }
  tls_ = std::make_unique<TlsPeerInfo>();
  auto* ctx = static_cast<SSL_CTX*>(amqp_ssl_socket_get_context(*socket));
  if (ctx != nullptr) {
    SSL_CTX_set_ex_data(ctx, TlsPeerInfoIndex(), tls_.get());
    SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), RecordVerification);
    SSL_CTX_set_default_passwd_cb(ctx, NoKeyPassword);
  }
  amqp_ssl_socket_set_verify_peer(*socket, endpoint.verify ? 1 : 0);
  amqp_ssl_socket_set_verify_hostname(*socket, endpoint.verify ? 1 : 0);
  if (!endpoint.ca.empty()) {
    if (amqp_ssl_socket_set_cacert(*socket, endpoint.ca.c_str()) != AMQP_STATUS_OK) {
      return Status::InvalidArgument("rabbitmq: tls_ca='" + endpoint.ca +
                                     "' holds no usable PEM certificate: " + TakeTlsErrors());
    }
  } else if (ctx != nullptr && SSL_CTX_set_default_verify_paths(ctx) != 1) {
    // rabbitmq-c trusts nothing by default; without tls_ca the system's CAs
    // (OpenSSL's default paths) are the sensible trust store.
    return Status::IOError("rabbitmq: loading the system CA certificates failed: " +
                           TakeTlsErrors() + " (give tls_ca=FILE)");
  }
  if (!endpoint.cert.empty()) {
    if (amqp_ssl_socket_set_key(*socket, endpoint.cert.c_str(), endpoint.key.c_str()) !=
        AMQP_STATUS_OK) {
      return Status::InvalidArgument("rabbitmq: loading the TLS client certificate tls_cert='" +
                                     endpoint.cert + "' / tls_key='" + endpoint.key +
                                     "': " + TakeTlsErrors() +
                                     " (PEM files, the key unencrypted and matching the "
                                     "certificate)");
    }
  }
  return Status::OK();
}

Status AmqpConnection::TlsOpenError(const Endpoint& endpoint, int rc) const {
  const std::string openssl = TakeTlsErrors();
  const TlsPeerInfo& info = *tls_;
  switch (rc) {
    case AMQP_STATUS_SSL_PEER_VERIFY_FAILED:
      return Status::IOError(
          "rabbitmq: TLS: the certificate of " + where_ + " is not trusted: " +
          (info.first_error.empty() ? "no certificate presented" : info.first_error) + "; " +
          (endpoint.ca.empty() ? "no tls_ca= was given, so only the system CAs are trusted"
                               : "tls_ca='" + endpoint.ca + "' does not hold its issuer") +
          " (tls_verify=false skips the check)");
    case AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED:
      return Status::IOError("rabbitmq: TLS: the certificate of " + where_ + " (" + PeerText(info) +
                             ") is not for host '" + endpoint.host +
                             "' (rabbitmq-c matches the host against the certificate's DNS "
                             "names, or its CN when it has none; IP entries do not count): "
                             "connect by a name it lists, or tls_verify=false");
    case AMQP_STATUS_SSL_CONNECTION_FAILED:
    case AMQP_STATUS_SSL_ERROR:
      return Status::IOError("rabbitmq: TLS handshake with " + where_ + " failed: " +
                             (openssl.empty() ? std::string(amqp_error_string2(rc)) : openssl) +
                             " (is this port a TLS listener of the broker?)");
    default:
      return Status::IOError("rabbitmq: cannot connect to " + where_ +
                             " (TLS): " + amqp_error_string2(rc));
  }
}

Result<std::unique_ptr<AmqpConnection>> AmqpConnection::Open(const Endpoint& endpoint) {
  const std::string where = endpoint.Describe();
  amqp_connection_state_t conn = amqp_new_connection();
  if (conn == nullptr) return Status::Internal("rabbitmq: out of memory creating a connection");
  // Owns `conn` from here on: every early return destroys it.
  std::unique_ptr<AmqpConnection> c(new AmqpConnection(conn, where));
  c->dead_ = true;  // nothing to close politely until logged in
  amqp_socket_t* socket = nullptr;
  if (endpoint.tls) {
    SLUICE_RETURN_NOT_OK(c->SetUpTls(endpoint, &socket));
  } else {
    socket = amqp_tcp_socket_new(conn);
    if (socket == nullptr)
      return Status::IOError("rabbitmq: " + where + ": cannot create a socket");
  }
  timeval tv;
  tv.tv_sec = static_cast<time_t>(endpoint.connect_timeout_ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((endpoint.connect_timeout_ms % 1000) * 1000);
  if (endpoint.tls) ERR_clear_error();
  const int rc = amqp_socket_open_noblock(socket, endpoint.host.c_str(), endpoint.port, &tv);
  if (rc != AMQP_STATUS_OK) {
    if (endpoint.tls && rc != AMQP_STATUS_SOCKET_ERROR && rc != AMQP_STATUS_TIMEOUT &&
        rc != AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED) {
      return c->TlsOpenError(endpoint, rc);
    }
    return Status::IOError("rabbitmq: cannot connect to " + where + ": " + amqp_error_string2(rc));
  }
  if (endpoint.tls) ERR_clear_error();
  const amqp_rpc_reply_t login =
      amqp_login(conn, endpoint.vhost.c_str(), 0, AMQP_DEFAULT_FRAME_SIZE, endpoint.heartbeat_s,
                 AMQP_SASL_METHOD_PLAIN, endpoint.user.c_str(), endpoint.password.c_str());
  if (login.reply_type != AMQP_RESPONSE_NORMAL) {
    std::string why = DescribeReply(login);
    // With TLS 1.3 the server checks the client certificate after the
    // client's side of the handshake finished, so a refused (or missing) one
    // shows up here: as the server's alert on the first read, or — when the
    // server's close won the race with our first write — as a bare TLS or
    // socket error with no alert left to read.
    const int err = login.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION ? login.library_error : 0;
    if (endpoint.tls && (err == AMQP_STATUS_SSL_ERROR || err == AMQP_STATUS_CONNECTION_CLOSED ||
                         err == AMQP_STATUS_SOCKET_ERROR)) {
      const bool alert = why.find("alert") != std::string::npos;
      why += "; the broker ended the TLS session at login: ";
      why += endpoint.cert.empty()
                 ? std::string("it may require a client certificate (tls_cert=, tls_key=)")
                 : std::string(alert ? "it" : "probably, it") +
                       " did not accept the client certificate tls_cert='" + endpoint.cert +
                       "' (is its issuer a CA the broker trusts?)";
    }
    return Status::IOError("rabbitmq: logging in to " + where + " as '" + endpoint.user +
                           "': " + why);
  }
  c->dead_ = false;
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
