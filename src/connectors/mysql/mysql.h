// MySQL / MariaDB connector (source): `mysql://user:pass@host:port/db?table=t`
// (also scheme `mariadb`), or `?query=SELECT ...`.
//
// Reads over libmariadb's text protocol with mysql_use_result: rows stream
// from the socket into column builders, never the whole table in memory.
// A table with a single-column integer primary key is read in parallel key
// ranges; every split reads inside its own START TRANSACTION WITH CONSISTENT
// SNAPSHOT (InnoDB), so splits are NOT consistent with each other: see
// docs/connectors/mysql.md for the type mapping and the consistency limits.
//
// Thread safety: as documented on Source in connectors/connector.h.
#pragma once

#include <memory>

#include "connectors/connector.h"

namespace sluice {

// Adds the "mysql" and "mariadb" schemes (source and sink) to `registry`.
void RegisterMysql(Registry* registry);

const OptionSpecs& MysqlSourceOptionSpecs();

// No I/O happens before Open(). `options` must have been parsed against
// MysqlSourceOptionSpecs().
Result<std::unique_ptr<Source>> MakeMysqlSource(const Uri& uri, const Options& options);

// Sink: `mysql://.../db?table=t&mode=append|upsert|replace|truncate-insert`.
// LOAD DATA LOCAL INFILE from memory (when the server allows it; not for
// upsert) or batched multi-row INSERT, one InnoDB transaction per part
// together with its ledger row (exactly-once on re-runs). replace loads a
// staging table and swaps it in at Commit (one RENAME TABLE); truncate-insert
// empties the table at Open (not atomic). OpenStateStore keeps watermarks and
// the run log in the target's database (mysql_state.h); a part carrying
// PartInfo::state stores it in the part's transaction. Source: SetLowerBound
// pushes `key >= bound` into every split's SELECT for integer, DATE, DATETIME
// and TIMESTAMP keys. Thread safety: as documented on Sink.
const OptionSpecs& MysqlSinkOptionSpecs();
Result<std::unique_ptr<Sink>> MakeMysqlSink(const Uri& uri, const Options& options);

}  // namespace sluice
