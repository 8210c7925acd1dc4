#include "connectors/mysql/mysql_conn.h"

#include <errmsg.h>
#include <mysqld_error.h>

namespace sluice {

Result<MysqlEndpoint> MysqlEndpoint::FromUri(const Uri& uri) {
  MysqlEndpoint e;
  if (!uri.host.empty()) e.host = uri.host;
  if (uri.port != 0) e.port = uri.port;
  e.dbname = uri.path;
  while (!e.dbname.empty() && e.dbname.front() == '/') e.dbname.erase(0, 1);
  if (e.dbname.empty()) {
    return Status::InvalidArgument("mysql: the URI names no database (mysql://host:port/DB): " +
                                   uri.Redacted());
  }
  if (e.dbname.find('/') != std::string::npos) {
    return Status::InvalidArgument("mysql: the URI path must be just the database name: " +
                                   uri.Redacted());
  }
  e.user = uri.user;
  e.password = uri.password;
  return e;
}

std::string MysqlEndpoint::Display() const {
  return host + ":" + std::to_string(port) + "/" + dbname;
}

Result<std::unique_ptr<MysqlConnection>> MysqlConnection::Connect(const MysqlEndpoint& endpoint) {
  std::unique_ptr<MYSQL, ConnDeleter> conn(mysql_init(nullptr));
  if (!conn) return Status::IOError("mysql: out of memory creating a connection handle");
  unsigned timeout = endpoint.connect_timeout_s;
  mysql_options(conn.get(), MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  mysql_options(conn.get(), MYSQL_SET_CHARSET_NAME, "utf8mb4");
  unsigned infile = endpoint.local_infile ? 1 : 0;
  mysql_options(conn.get(), MYSQL_OPT_LOCAL_INFILE, &infile);
  if (!mysql_real_connect(conn.get(), endpoint.host.c_str(), endpoint.user.c_str(),
                          endpoint.password.empty() ? nullptr : endpoint.password.c_str(),
                          endpoint.dbname.c_str(), static_cast<unsigned>(endpoint.port), nullptr,
                          0)) {
    unsigned err = mysql_errno(conn.get());
    std::string msg = "mysql " + endpoint.Display() + ": cannot connect: " + mysql_error(conn.get());
    if (err == ER_BAD_DB_ERROR) return Status::NotFound(msg);
    if (err == ER_ACCESS_DENIED_ERROR) return Status::InvalidArgument(msg);
    return Status::IOError(msg);
  }
  auto out = std::unique_ptr<MysqlConnection>(new MysqlConnection(std::move(conn), endpoint));
  SLUICE_RETURN_NOT_OK(out->Exec("SET time_zone = '+00:00'", "setting the session time zone"));
  return out;
}

Status MysqlConnection::LastError(const std::string& what) const {
  unsigned err = mysql_errno(conn_.get());
  std::string msg = "mysql " + endpoint_.Display() + ": " + what + ": " + mysql_error(conn_.get()) +
                    " (error " + std::to_string(err) + ")";
  switch (err) {
    case ER_NO_SUCH_TABLE:
    case ER_BAD_DB_ERROR:
    case ER_BAD_TABLE_ERROR:
      return Status::NotFound(msg);
    case ER_LOCK_DEADLOCK:
    case ER_LOCK_WAIT_TIMEOUT:
      return Status::Retryable(msg);
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_UNKNOWN_HOST:
      return Status::IOError(msg);
    default:
      if (err >= 2000 && err < 3000) return Status::IOError(msg);  // client-side errors
      return Status::InvalidArgument(msg);
  }
}

Status MysqlConnection::Exec(const std::string& sql, const std::string& what) {
  if (mysql_real_query(conn_.get(), sql.data(), sql.size()) != 0) return LastError(what);
  // Drain a result set if the statement happened to produce one.
  MysqlResult r(mysql_store_result(conn_.get()));
  if (!r && mysql_field_count(conn_.get()) != 0) return LastError(what);
  return Status::OK();
}

Result<MysqlResult> MysqlConnection::QueryStored(const std::string& sql, const std::string& what) {
  if (mysql_real_query(conn_.get(), sql.data(), sql.size()) != 0) return LastError(what);
  MysqlResult r(mysql_store_result(conn_.get()));
  if (!r) {
    if (mysql_field_count(conn_.get()) == 0) {
      return Status::InvalidArgument("mysql: " + what + ": the statement returned no result set");
    }
    return LastError(what);
  }
  return r;
}

Result<MysqlResult> MysqlConnection::QueryStreaming(const std::string& sql,
                                                    const std::string& what) {
  if (mysql_real_query(conn_.get(), sql.data(), sql.size()) != 0) return LastError(what);
  MysqlResult r(mysql_use_result(conn_.get()));
  if (!r) {
    if (mysql_field_count(conn_.get()) == 0) {
      return Status::InvalidArgument("mysql: " + what + ": the statement returned no result set");
    }
    return LastError(what);
  }
  return r;
}

Status MysqlSetStrictMode(MysqlConnection* conn) {
  return conn->Exec(
      "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
      "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
      "setting up the session");
}

std::string MysqlQuoteLiteral(MYSQL* conn, std::string_view v) {
  std::string out(v.size() * 2 + 3, '\0');
  out[0] = '\'';
  size_t n = mysql_real_escape_string(conn, out.data() + 1, v.data(), v.size());
  out.resize(n + 1);
  out.push_back('\'');
  return out;
}

std::string MysqlQuoteIdent(std::string_view name) {
  std::string out = "`";
  for (char c : name) {
    if (c == '`') out += '`';
    out += c;
  }
  out += '`';
  return out;
}

std::string MysqlQuoteTable(std::string_view name) {
  size_t dot = name.find('.');
  if (dot == std::string_view::npos) return MysqlQuoteIdent(name);
  return MysqlQuoteIdent(name.substr(0, dot)) + "." + MysqlQuoteIdent(name.substr(dot + 1));
}

}  // namespace sluice
