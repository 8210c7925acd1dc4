// Incremental state and the run log in an SQLite database: the sqlite sink's
// target database, or a local state file (--state) for sinks that are not
// databases.
#pragma once

#include <memory>
#include <string>

#include "connectors/connector.h"
#include "connectors/sqlite/sqlite_db.h"

namespace sluice::sqlite {

// CREATE TABLE IF NOT EXISTS for the state table.
Status EnsureStateTable(Database* db, const std::string& table);
// Upserts `state` into `table` on `db` inside the caller's transaction.
Status WriteState(Database* db, const std::string& table, const StreamState& state);

// A store on its own connection to the database file `path` (created when
// missing), with both tables created.
Result<std::unique_ptr<StateStore>> OpenStateStore(const std::string& path,
                                                   const StateTables& tables,
                                                   int64_t busy_timeout_ms = 10000);

}  // namespace sluice::sqlite
