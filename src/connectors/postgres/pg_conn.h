// RAII wrappers over libpq's PGconn / PGresult, with server errors mapped to
// Status codes (SQLSTATE 42P01 -> NotFound, class 42 -> InvalidArgument,
// class 08 / 57P -> IOError, serialization failures -> Retryable).
//
// Thread safety: a PgConnection is used by one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <libpq-fe.h>

#include "connectors/uri.h"
#include "core/status.h"

namespace sluice {

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

// Where and as whom to connect; built from a postgres:// URI.
struct PgEndpoint {
  std::string host;  // empty = libpq default (local socket)
  int port = 5432;
  std::string dbname;
  std::string user;
  std::string password;
  int connect_timeout_s = 10;

  static Result<PgEndpoint> FromUri(const Uri& uri);
  // "127.0.0.1:55432/sluice_test" (no credentials), for messages.
  std::string Display() const;
};

class PgConnection {
 public:
  // Connects and sets the session up for sluice: UTF8 client encoding, UTC
  // time zone, ISO dates, ISO 8601 intervals, shortest-exact float text.
  static Result<std::unique_ptr<PgConnection>> Connect(const PgEndpoint& endpoint);

  // Runs `sql` (no parameters, may hold several statements) expecting
  // success; `what` prefixes errors ("reading table public.t").
  Result<PgResult> Exec(const std::string& sql, const std::string& what);
  // One statement with text parameters ($1, $2, ...).
  Result<PgResult> ExecParams(const std::string& sql, const std::vector<std::string>& params,
                              const std::string& what);
  // The Status for a failed result (or the connection's error when r is null).
  Status ErrorFor(const PGresult* r, const std::string& what) const;

  PGconn* get() const { return conn_.get(); }
  const PgEndpoint& endpoint() const { return endpoint_; }

 private:
  struct ConnDeleter {
    void operator()(PGconn* c) const { PQfinish(c); }
  };
  PgConnection(std::unique_ptr<PGconn, ConnDeleter> conn, PgEndpoint endpoint)
      : conn_(std::move(conn)), endpoint_(std::move(endpoint)) {}
  Result<PgResult> Check(PgResult r, const std::string& what);

  std::unique_ptr<PGconn, ConnDeleter> conn_;
  PgEndpoint endpoint_;
};

// "name" -> "\"name\"" with embedded quotes doubled.
std::string PgQuoteIdent(std::string_view name);
// 'text' -> "'text'" with embedded quotes doubled (standard_conforming_strings on).
std::string PgQuoteLiteral(std::string_view text);

}  // namespace sluice
