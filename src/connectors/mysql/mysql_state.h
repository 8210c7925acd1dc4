// Incremental state and the run log in MySQL / MariaDB, next to the sink's
// table (same database), on a connection of their own.
//
// Tables (InnoDB, utf8mb4 with a binary no-pad collation, so stream names
// compare byte for byte):
//   <state>   (stream VARCHAR(255) PRIMARY KEY, key_column, key_type,
//              watermark TEXT, digests LONGBLOB, updated_at DATETIME(6) UTC)
//   <run_log> (RunLogColumns() in order: text -> TEXT, run_id VARCHAR(64)
//              PRIMARY KEY; integers -> BIGINT; times -> DATETIME(6) UTC)
#pragma once

#include <memory>
#include <string>

#include "connectors/connector.h"
#include "connectors/mysql/mysql_conn.h"

namespace sluice {

// The statement a sink writer runs inside a part's transaction to store
// `state` into `qualified_state_table` (INSERT ... ON DUPLICATE KEY UPDATE).
// Text values are escaped for `conn`, the digests sent as an X'..' literal.
std::string MysqlStateUpsertSql(MYSQL* conn, const std::string& qualified_state_table,
                                const StreamState& state);

// `db_prefix` is "" or "`db`." (quoted, with the dot); the table names in
// `tables` are single identifiers (a dot in them is part of the name).
// Creates the tables when missing. The store is used by one thread.
Result<std::unique_ptr<StateStore>> OpenMysqlStateStore(const MysqlEndpoint& endpoint,
                                                        const std::string& db_prefix,
                                                        const StateTables& tables);

}  // namespace sluice
