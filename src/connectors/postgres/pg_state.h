// Incremental state and the run log in PostgreSQL, next to the sink's table
// (same schema), on a connection of their own.
#pragma once

#include <memory>
#include <string>

#include "connectors/connector.h"
#include "connectors/postgres/pg_conn.h"

namespace sluice {

// The statement a sink writer runs inside a part's transaction to store a
// StreamState: parameters $1 stream, $2 key column, $3 key type,
// $4 watermark, $5 digests as bytea hex text ("\x..").
std::string PgStateUpsertSql(const std::string& qualified_state_table);
std::vector<std::string> PgStateParams(const StreamState& state);

// `schema_prefix` is "" or `"schema".` (quoted, with the dot).
Result<std::unique_ptr<StateStore>> OpenPgStateStore(const PgEndpoint& endpoint,
                                                     const std::string& schema_prefix,
                                                     const StateTables& tables);

}  // namespace sluice
