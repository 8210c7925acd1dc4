#include "connectors/sqlite/sqlite_db.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace sluice::sqlite {

namespace {
// SQL in error messages is cut so that a huge query does not flood the log.
std::string ShortSql(std::string_view sql) {
  constexpr size_t kMax = 300;
  if (sql.size() <= kMax) return std::string(sql);
  return std::string(sql.substr(0, kMax)) + "...";
}
}  // namespace

std::string QuoteIdentifier(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out.push_back('"');
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string QuoteLiteral(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('\'');
  for (char c : text) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

Status CheckIdentifier(std::string_view name, std::string_view what) {
  if (name.empty()) return Status::InvalidArgument(std::string(what) + " name is empty");
  if (name.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument(std::string(what) + " name contains a NUL byte");
  }
  return Status::OK();
}

Result<std::string> DatabasePathFromUri(const Uri& uri) {
  if (!uri.host.empty() || !uri.user.empty() || !uri.password.empty() || uri.port != 0) {
    return Status::InvalidArgument("sqlite URI '" + uri.Redacted() +
                                   "' must name a local file as sqlite:///absolute/path.db "
                                   "(three slashes; no host, user or port)");
  }
  if (uri.path.empty() || uri.path == "/") {
    return Status::InvalidArgument("sqlite URI '" + uri.Redacted() + "' names no database file");
  }
  return uri.path;
}

std::string HashHex(std::string_view data) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kHex[h & 15];
    h >>= 4;
  }
  return out;
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

Status StatusFromCode(int rc, std::string message) {
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Retryable(std::move(message));
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
    case SQLITE_RANGE:
      return Status::InvalidData(std::move(message));
    case SQLITE_CANTOPEN:
    case SQLITE_NOTFOUND:
      return Status::NotFound(std::move(message));
    case SQLITE_INTERRUPT:
      return Status::Cancelled(std::move(message));
    case SQLITE_ERROR:
    case SQLITE_AUTH:
      return Status::InvalidArgument(std::move(message));
    case SQLITE_INTERNAL:
    case SQLITE_MISUSE:
      return Status::Internal(std::move(message));
    default:
      return Status::IOError(std::move(message));
  }
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Error(rc);
}

Status Statement::Run() {
  while (true) {
    SLUICE_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::OK();
  }
}

Status Statement::Error(int rc) const {
  std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  int ext = db_ != nullptr ? sqlite3_extended_errcode(db_) : rc;
  return StatusFromCode(rc, "SQLite error: " + msg + " (code " + std::to_string(ext) +
                                ") in: " + ShortSql(sql_));
}

Status Statement::BindText(int index, std::string_view text) {
  int rc = sqlite3_bind_text(stmt_.get(), index, text.data(), static_cast<int>(text.size()),
                             SQLITE_TRANSIENT);
  return rc == SQLITE_OK ? Status::OK() : Error(rc);
}

Status Statement::BindInt64(int index, int64_t v) {
  int rc = sqlite3_bind_int64(stmt_.get(), index, v);
  return rc == SQLITE_OK ? Status::OK() : Error(rc);
}

Status Statement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_.get(), index);
  return rc == SQLITE_OK ? Status::OK() : Error(rc);
}

Status Statement::BindBlob(int index, std::string_view bytes) {
  int rc = sqlite3_bind_blob64(stmt_.get(), index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  return rc == SQLITE_OK ? Status::OK() : Error(rc);
}

std::string_view Statement::ColumnBlob(int i) const {
  const void* p = sqlite3_column_blob(stmt_.get(), i);
  if (p == nullptr) return {};
  return {static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), i))};
}

std::string_view Statement::ColumnText(int i) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), i));
  if (p == nullptr) return {};
  return {p, static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), i))};
}

Result<Database> Database::Open(const std::string& path, int flags, int64_t busy_timeout_ms) {
  if (path.find('\0') != std::string::npos) {
    return Status::InvalidArgument("SQLite database path contains a NUL byte");
  }
  if ((flags & SQLITE_OPEN_CREATE) == 0) {
    // SQLite's own message ("unable to open database file") does not say why.
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return Status::NotFound("SQLite database '" + path + "' does not exist");
      return Status::IOError("cannot access SQLite database '" + path + "': " + std::strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
      return Status::InvalidArgument("SQLite database path '" + path + "' is a directory");
    }
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  Database db;
  db.db_.reset(raw);  // closes even a half-opened handle on error
  db.path_ = path;
  if (rc != SQLITE_OK) {
    std::string msg = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    return StatusFromCode(rc, "cannot open SQLite database '" + path + "': " + msg);
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, static_cast<int>(std::min<int64_t>(busy_timeout_ms, 1 << 30)));
  return db;
}

std::string Database::LastError() const {
  return std::string(sqlite3_errmsg(db_.get())) + " (code " +
         std::to_string(sqlite3_extended_errcode(db_.get())) + ")";
}

Status Database::Exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::OK();
  std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  return StatusFromCode(rc, "SQLite error: " + msg + " (code " +
                                std::to_string(sqlite3_extended_errcode(db_.get())) +
                                ") in: " + ShortSql(sql));
}

Result<Statement> Database::Prepare(std::string_view sql, bool persistent) {
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  if (sql.size() > static_cast<size_t>(1 << 30)) {
    return Status::InvalidArgument("SQL text too long (" + std::to_string(sql.size()) + " bytes)");
  }
  int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                              persistent ? SQLITE_PREPARE_PERSISTENT : 0, &raw, &tail);
  Statement stmt(raw, db_.get(), std::string(sql));
  if (rc != SQLITE_OK) return stmt.Error(rc);
  if (raw == nullptr) {
    return Status::InvalidArgument("SQL text contains no statement: '" + ShortSql(sql) + "'");
  }
  // Trailing text is allowed only if it holds no statement (whitespace,
  // comments, semicolons): one URI option must never run two statements.
  const char* end = sql.data() + sql.size();
  while (tail != nullptr && tail < end) {
    sqlite3_stmt* extra = nullptr;
    const char* next = nullptr;
    int rc2 = sqlite3_prepare_v2(db_.get(), tail, static_cast<int>(end - tail), &extra, &next);
    bool has_statement = extra != nullptr;
    sqlite3_finalize(extra);
    if (rc2 != SQLITE_OK || has_statement) {
      return Status::InvalidArgument("expected a single SQL statement, found more after: '" +
                                     ShortSql(sql.substr(0, static_cast<size_t>(tail - sql.data()))) +
                                     "'");
    }
    if (next == tail) break;
    tail = next;
  }
  return stmt;
}

Result<int64_t> Database::QueryInt64(std::string_view sql) {
  SLUICE_ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
  SLUICE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? stmt.ColumnInt64(0) : 0;
}

Status Database::SetJournalMode(std::string_view mode, int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  // Both pragmas answer with the mode in force (the old one when a change is
  // impossible, e.g. "wal" on an in-memory database).
  auto mode_after = [&](const std::string& sql) -> Result<std::string> {
    SLUICE_ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
    SLUICE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    return row ? std::string(stmt.ColumnText(0)) : std::string();
  };
  std::chrono::milliseconds pause(1);
  for (;;) {
    // Reading the mode takes only a shared lock; most opens end here.
    Result<std::string> now = mode_after("PRAGMA journal_mode");
    if (now.ok() && EqualsNoCase(*now, mode)) return Status::OK();
    if (now.ok()) now = mode_after("PRAGMA journal_mode=" + std::string(mode));
    if (now.ok()) {
      if (EqualsNoCase(*now, mode)) return Status::OK();
      return Status::InvalidArgument("SQLite database '" + path_ + "' stays in journal_mode " +
                                     *now + ", not " + std::string(mode));
    }
    if (now.status().code() != StatusCode::kRetryable ||
        std::chrono::steady_clock::now() >= deadline) {
      return now.status();
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

}  // namespace sluice::sqlite
