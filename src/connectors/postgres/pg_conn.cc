#include "connectors/postgres/pg_conn.h"

#include <cstring>

#include "core/log.h"

namespace sluice {

namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

Result<PgEndpoint> PgEndpoint::FromUri(const Uri& uri) {
  PgEndpoint e;
  e.host = uri.host;
  if (uri.port != 0) e.port = uri.port;
  e.dbname = uri.path;
  while (!e.dbname.empty() && e.dbname.front() == '/') e.dbname.erase(0, 1);
  if (e.dbname.empty()) {
    return Status::InvalidArgument("postgres: the URI names no database (postgres://host:port/DB): " +
                                   uri.Redacted());
  }
  if (e.dbname.find('/') != std::string::npos) {
    return Status::InvalidArgument("postgres: the URI path must be just the database name: " +
                                   uri.Redacted());
  }
  e.user = uri.user;
  e.password = uri.password;
  return e;
}

std::string PgEndpoint::Display() const {
  return (host.empty() ? std::string("localhost") : host) + ":" + std::to_string(port) + "/" +
         dbname;
}

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const PgEndpoint& endpoint) {
  std::string port = std::to_string(endpoint.port);
  std::string timeout = std::to_string(endpoint.connect_timeout_s);
  std::vector<const char*> keys, values;
  auto add = [&](const char* k, const std::string& v) {
    if (v.empty()) return;
    keys.push_back(k);
    values.push_back(v.c_str());
  };
  static const std::string kOptions =
      "-c DateStyle=ISO -c IntervalStyle=iso_8601 -c TimeZone=UTC -c extra_float_digits=3";
  static const std::string kUtf8 = "UTF8", kApp = "sluice";
  add("host", endpoint.host);
  add("port", port);
  add("dbname", endpoint.dbname);
  add("user", endpoint.user);
  add("password", endpoint.password);
  add("connect_timeout", timeout);
  add("client_encoding", kUtf8);
  add("application_name", kApp);
  add("options", kOptions);
  keys.push_back(nullptr);
  values.push_back(nullptr);
  std::unique_ptr<PGconn, ConnDeleter> conn(PQconnectdbParams(keys.data(), values.data(), 0));
  if (!conn) return Status::IOError("postgres: out of memory creating a connection");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    std::string err = Trim(PQerrorMessage(conn.get()));
    return Status::IOError("postgres: cannot connect to " + endpoint.Display() +
                           (endpoint.user.empty() ? "" : " as " + endpoint.user) + ": " + err);
  }
  // Server notices (and libpq's own messages about a lost connection) go to
  // the log instead of raw stderr; errors reach the user through Status.
  PQsetNoticeProcessor(
      conn.get(),
      [](void*, const char* message) { SLUICE_LOG(kDebug) << "postgres: " << Trim(message); },
      nullptr);
  return std::unique_ptr<PgConnection>(new PgConnection(std::move(conn), endpoint));
}

Status PgConnection::ErrorFor(const PGresult* r, const std::string& what) const {
  std::string msg = Trim(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_.get()));
  if (msg.empty()) msg = Trim(PQerrorMessage(conn_.get()));
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : "";
  std::string full = "postgres " + endpoint_.Display() + ": " + what + ": " + msg;
  if (!sqlstate.empty()) full += " (SQLSTATE " + sqlstate + ")";
  if (sqlstate == "42P01" || sqlstate == "3F000") return Status::NotFound(full);
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03" || sqlstate == "57014") {
    return Status::Retryable(full);
  }
  if (sqlstate.compare(0, 2, "08") == 0 || sqlstate.compare(0, 3, "57P") == 0 ||
      PQstatus(conn_.get()) != CONNECTION_OK) {
    return Status::IOError(full);
  }
  if (sqlstate.compare(0, 2, "42") == 0 || sqlstate.compare(0, 2, "22") == 0) {
    return Status::InvalidArgument(full);
  }
  return Status::IOError(full);
}

Result<PgResult> PgConnection::Check(PgResult r, const std::string& what) {
  if (!r) return ErrorFor(nullptr, what);
  ExecStatusType st = PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_OUT) return r;
  return ErrorFor(r.get(), what);
}

Result<PgResult> PgConnection::Exec(const std::string& sql, const std::string& what) {
  return Check(PgResult(PQexec(conn_.get(), sql.c_str())), what);
}

Result<PgResult> PgConnection::ExecParams(const std::string& sql,
                                          const std::vector<std::string>& params,
                                          const std::string& what) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  return Check(PgResult(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(params.size()),
                                     nullptr, values.data(), nullptr, nullptr, 0)),
               what);
}

std::string PgQuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string PgQuoteLiteral(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

}  // namespace sluice
