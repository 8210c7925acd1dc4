// RAII wrappers over libmariadb's MYSQL / MYSQL_RES, with server errors mapped
// to Status codes (no such table/database -> NotFound, connection lost or
// refused -> IOError, deadlock / lock wait timeout -> Retryable, other SQL
// errors -> InvalidArgument).
//
// Thread safety: a MysqlConnection is used by one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <mysql.h>

#include "connectors/uri.h"
#include "core/status.h"

namespace sluice {

struct MysqlResultDeleter {
  void operator()(MYSQL_RES* r) const { mysql_free_result(r); }
};
using MysqlResult = std::unique_ptr<MYSQL_RES, MysqlResultDeleter>;

// Where and as whom to connect; built from a mysql:// or mariadb:// URI.
struct MysqlEndpoint {
  std::string host = "127.0.0.1";
  int port = 3306;
  std::string dbname;
  std::string user;
  std::string password;
  unsigned connect_timeout_s = 10;
  // Allows LOAD DATA LOCAL INFILE on this connection. Only for connections
  // that install their own in-memory handler (a server could otherwise ask
  // for any local file).
  bool local_infile = false;

  static Result<MysqlEndpoint> FromUri(const Uri& uri);
  // "127.0.0.1:33306/sluice_test" (no credentials), for messages.
  std::string Display() const;
};

class MysqlConnection {
 public:
  // Connects with utf8mb4 and sets the session time zone to UTC (TIMESTAMP
  // columns then read and write as UTC).
  static Result<std::unique_ptr<MysqlConnection>> Connect(const MysqlEndpoint& endpoint);

  // Runs one statement that returns no rows; `what` prefixes errors.
  Status Exec(const std::string& sql, const std::string& what);
  // Runs a query and buffers its (small) result: catalog lookups only.
  Result<MysqlResult> QueryStored(const std::string& sql, const std::string& what);
  // Runs a query and returns its result unbuffered (mysql_use_result): rows
  // stream from the socket as they are fetched, and the connection is busy
  // until the result is read to its end or freed.
  Result<MysqlResult> QueryStreaming(const std::string& sql, const std::string& what);
  // The Status for the connection's last error.
  Status LastError(const std::string& what) const;

  MYSQL* get() const { return conn_.get(); }
  const MysqlEndpoint& endpoint() const { return endpoint_; }

 private:
  struct ConnDeleter {
    void operator()(MYSQL* c) const { mysql_close(c); }
  };
  MysqlConnection(std::unique_ptr<MYSQL, ConnDeleter> conn, MysqlEndpoint endpoint)
      : conn_(std::move(conn)), endpoint_(std::move(endpoint)) {}

  std::unique_ptr<MYSQL, ConnDeleter> conn_;
  MysqlEndpoint endpoint_;
};

// Switches the session to strict mode: a value a column cannot hold is an
// error, not a silent truncation or a zero date. Sink and state connections.
Status MysqlSetStrictMode(MysqlConnection* conn);

// `v` as a quoted string literal escaped for `conn`'s character set and its
// backslash mode (mysql_real_escape_string).
std::string MysqlQuoteLiteral(MYSQL* conn, std::string_view v);

// "name" -> "`name`" with embedded backticks doubled.
std::string MysqlQuoteIdent(std::string_view name);
// "db.t" -> "`db`.`t`", "t" -> "`t`" (a name with a dot in it must be
// written as "`a.b`" in the URI... not supported: see docs).
std::string MysqlQuoteTable(std::string_view name);

}  // namespace sluice
