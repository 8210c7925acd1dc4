// Thin RAII layer over the SQLite C API used by the SQLite source and sink:
// owned connections and statements, SQLite result codes mapped to Status
// codes (BUSY/LOCKED -> Retryable), identifier quoting.
//
// Thread safety: a Database or Statement is used by one thread at a time
// (connections are opened with SQLITE_OPEN_NOMUTEX); distinct objects may be
// used concurrently.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "connectors/uri.h"
#include "core/status.h"

namespace sluice::sqlite {

// `"name"` with embedded double quotes doubled: safe for any name, including
// `a"; DROP TABLE x; --`. Names containing NUL cannot be expressed in SQL
// text; CheckIdentifier rejects them first.
std::string QuoteIdentifier(std::string_view name);
// `'text'` with embedded single quotes doubled (SQL string literal).
std::string QuoteLiteral(std::string_view text);
Status CheckIdentifier(std::string_view name, std::string_view what);

// Maps an SQLite result code to a Status: BUSY/LOCKED -> Retryable,
// CONSTRAINT/MISMATCH/TOOBIG/CORRUPT/NOTADB -> InvalidData, CANTOPEN ->
// NotFound, INTERRUPT -> Cancelled, SQL errors -> InvalidArgument, I/O and
// the rest -> IOError. `message` should already hold SQLite's text.
Status StatusFromCode(int rc, std::string message);

// The database file of a `sqlite:///path` URI (Uri::path). Host, user,
// password and port are errors: they would be silently ignored otherwise.
Result<std::string> DatabasePathFromUri(const Uri& uri);

// FNV-1a 64 of `data` as 16 hex digits (fingerprints; not cryptographic).
std::string HashHex(std::string_view data);

// ASCII case-insensitive equality (SQLite's rule for identifiers).
bool EqualsNoCase(std::string_view a, std::string_view b);

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3_stmt* stmt, sqlite3* db, std::string sql)
      : stmt_(stmt), db_(db), sql_(std::move(sql)) {}
  Statement(Statement&&) noexcept = default;
  Statement& operator=(Statement&&) noexcept = default;

  sqlite3_stmt* get() const { return stmt_.get(); }
  explicit operator bool() const { return stmt_ != nullptr; }
  const std::string& sql() const { return sql_; }

  // Runs one step: true = a row is available, false = done.
  Result<bool> Step();
  // Steps to completion (for statements that return no rows of interest).
  Status Run();
  void Reset() { sqlite3_reset(stmt_.get()); }
  // The error of the last failed call on this statement's connection, with the SQL.
  Status Error(int rc) const;

  Status BindText(int index, std::string_view text);  // SQLITE_TRANSIENT
  Status BindInt64(int index, int64_t v);
  Status BindNull(int index);
  Status BindBlob(int index, std::string_view bytes);  // SQLITE_TRANSIENT

  int64_t ColumnInt64(int i) const { return sqlite3_column_int64(stmt_.get(), i); }
  std::string_view ColumnText(int i) const;
  std::string_view ColumnBlob(int i) const;
  bool ColumnIsNull(int i) const { return sqlite3_column_type(stmt_.get(), i) == SQLITE_NULL; }

  void Finalize() { stmt_.reset(); }

 private:
  struct Finalizer {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  sqlite3* db_ = nullptr;
  std::string sql_;
};

class Database {
 public:
  Database() = default;
  Database(Database&&) noexcept = default;
  Database& operator=(Database&&) noexcept = default;

  // Opens `path` with SQLITE_OPEN_* `flags` (NOMUTEX is always added) and
  // sets the busy timeout. Errors name the path.
  static Result<Database> Open(const std::string& path, int flags, int64_t busy_timeout_ms);

  sqlite3* get() const { return db_.get(); }
  explicit operator bool() const { return db_ != nullptr; }
  const std::string& path() const { return path_; }

  // Runs one or more statements that return no rows. Errors quote the SQL.
  Status Exec(std::string_view sql);
  // Prepares exactly one statement (trailing text other than whitespace and
  // ';' is an error). `persistent` hints SQLite that it is reused many times.
  Result<Statement> Prepare(std::string_view sql, bool persistent = false);
  // The first column of the first row as int64 (0 when no row or NULL).
  Result<int64_t> QueryInt64(std::string_view sql);
  // Sets the journal mode (persistent for "wal") unless it is already `mode`.
  // Switching modes upgrades the pragma's read lock to a write lock, and
  // SQLite answers SQLITE_BUSY at once, without the busy handler, when
  // another connection holds a lock (several processes opening one new file
  // together). Such a refusal is retried until `timeout_ms` has passed.
  Status SetJournalMode(std::string_view mode, int64_t timeout_ms);
  // The connection's last error: "message (extended code N)".
  std::string LastError() const;
  void Close() { db_.reset(); }

 private:
  struct Closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Closer> db_;
  std::string path_;
};

// Rolls back an open transaction unless Release() was called (used on every
// error path of a write transaction; errors of the rollback itself are
// ignored because the original error is what the caller must see).
class TransactionGuard {
 public:
  explicit TransactionGuard(Database* db) : db_(db) {}
  ~TransactionGuard() {
    if (db_ != nullptr && !sqlite3_get_autocommit(db_->get())) {
      sqlite3_exec(db_->get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  TransactionGuard(const TransactionGuard&) = delete;
  TransactionGuard& operator=(const TransactionGuard&) = delete;
  void Release() { db_ = nullptr; }

 private:
  Database* db_;
};

}  // namespace sluice::sqlite
