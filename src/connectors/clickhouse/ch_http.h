// A client of ClickHouse's HTTP interface over libcurl: one keep-alive
// connection per client, queries in the POST body (or in the URL when the
// body carries INSERT data), settings as URL parameters, gzip request
// bodies, and errors that name the server and carry its exception text.
//
// Thread safety: a ChClient is used by one thread at a time (the sink keeps
// one per writer plus one for Open/Commit).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connectors/clickhouse/ch_protocol.h"
#include "connectors/uri.h"

namespace sluice {

struct ChEndpoint {
  std::string host = "127.0.0.1";
  int port = 8123;
  std::string user = "default";
  std::string password;
  std::string database = "default";
  int64_t connect_timeout_ms = 10'000;
  int64_t request_timeout_ms = 300'000;
  // Extra attempts for requests that may be resent (transport failures and
  // retryable server errors), with backoff 200 ms, 800 ms, 3.2 s, ...
  int retries = 3;

  // clickhouse://[user[:password]@]host[:port][/database]
  static Result<ChEndpoint> FromUri(const Uri& uri);
  std::string Address() const { return host + ":" + std::to_string(port); }
};

// INSERT data made piece by piece and sent as it is made (chunked transfer
// encoding), so the whole body never has to be in memory.
class ChBodySource {
 public:
  virtual ~ChBodySource() = default;
  // Starts over: called before every send of the request.
  virtual void Rewind() = 0;
  // Appends the next piece to `out`; false once the body is complete
  // (nothing appended). An error aborts the request, and the request's
  // result is that error: the server sees a cut body and stores nothing of
  // it.
  virtual Result<bool> Next(std::string* out) = 0;
};

struct ChRequest {
  std::string sql;
  // INSERT data, given whole (`data`) or streamed (`body`, which wins);
  // gzip-compressed on the way when `gzip`. With either, `sql` travels in
  // the URL and the body is the data only.
  std::string_view data;
  ChBodySource* body = nullptr;
  bool gzip = false;
  int gzip_level = 1;  // of a streamed body (`data` comes compressed)
  std::vector<std::pair<std::string, std::string>> settings;  // URL parameters
  std::string query_id;
  // May be sent again after a transport failure or a retryable server
  // error. INSERTs of data are not: the sink decides what a lost response
  // means (see clickhouse_sink.cc).
  bool idempotent = true;
  // Runs in the endpoint's database (URL parameter `database`); false for
  // requests that must work before it is known to exist.
  bool use_database = true;
};

struct ChResponse {
  long http_status = 0;
  std::string body;
  std::string summary;  // X-ClickHouse-Summary, when the server sends it
};

class ChClient {
 public:
  static Result<std::unique_ptr<ChClient>> Make(ChEndpoint endpoint);
  ChClient(const ChClient&) = delete;
  ChClient& operator=(const ChClient&) = delete;

  // Runs one request (retrying as ChRequest::idempotent allows). Errors read
  // "clickhouse HOST:PORT: WHAT: ..." with the server's code and message:
  // kRetryable (connection refused/reset, timeouts, retryable codes, 5xx
  // without a code), kNotFound (unknown table/database), kInvalidArgument
  // (authentication, syntax, types, settings), kIOError otherwise.
  Result<ChResponse> Execute(const ChRequest& request, std::string_view what);
  // A statement whose result is ignored.
  Status Exec(const std::string& sql, std::string_view what);
  // A query whose TabSeparated result has `columns` columns.
  Result<std::vector<TsvRow>> QueryRows(const std::string& sql, size_t columns,
                                        std::string_view what, bool use_database = true);

  const ChEndpoint& endpoint() const { return endpoint_; }

 private:
  explicit ChClient(ChEndpoint endpoint) : endpoint_(std::move(endpoint)) {}
  Result<ChResponse> ExecuteOnce(const ChRequest& request, std::string_view what);
  std::string Url(const ChRequest& request) const;

  ChEndpoint endpoint_;
  // The CURL easy handle (curl.h's CURL is void), cleaned up with the client;
  // reusing it keeps the connection alive between requests.
  std::unique_ptr<void, void (*)(void*)> curl_{nullptr, nullptr};
};

// The Status of an answer other than HTTP 200 (`body`: the server's error
// text), for requests and streamed queries alike: authentication (HTTP
// 401/403, codes 192/193/194/516) -> InvalidArgument; unknown table or
// database -> NotFound; retryable codes and 5xx without a code -> Retryable;
// errors in the request itself -> InvalidArgument; else IOError. `where`
// prefixes the message ("clickhouse host:port: what").
Status ChHttpError(const ChEndpoint& endpoint, const std::string& where, long http_status,
                   std::string_view body);

// URL-escapes `s` with a CURL easy handle (curl.h's CURL is void).
std::string ChUrlEscape(void* curl, std::string_view s);

// Compresses `in` as a gzip stream (what `Content-Encoding: gzip` announces).
Status GzipCompress(std::string_view in, int level, std::string* out);

// The same, fed piece by piece: Add appends the compressed form of `in` to
// `out` (as much as deflate releases); `finish` ends the stream with the
// gzip trailer. Reset starts a new stream.
class GzipStream {
 public:
  explicit GzipStream(int level);
  ~GzipStream();
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;
  Status Reset();
  Status Add(std::string_view in, bool finish, std::string* out);

 private:
  struct State;
  std::unique_ptr<State> state_;
  int level_;
  bool open_ = false;
};

}  // namespace sluice
