// SQLite connector: `sqlite:///path/db.sqlite?table=T` or `?query=SELECT ...`.
//
// Source: reads a table, view or query as typed batches; rowid tables are
// read in parallel by rowid ranges, every split reader on the same snapshot
// (see docs/connectors/sqlite.md, "Consistency").
// Sink: append / replace (atomic swap of a staging table at Commit) / upsert
// (ON CONFLICT DO UPDATE); each part is applied in one transaction together
// with its row in the ledger table, so a re-delivered part is skipped.
//
// Thread safety: as documented on Source and Sink in connectors/connector.h.
#pragma once

#include <memory>
#include <string>

#include "connectors/connector.h"

namespace sluice {

// Adds the "sqlite" scheme (source and sink) to `registry`.
void RegisterSqlite(Registry* registry);

// The option tables (also shown by --help).
const OptionSpecs& SqliteSourceOptionSpecs();
const OptionSpecs& SqliteSinkOptionSpecs();

// The factories behind the registry entry. `options` must have been parsed
// against the matching table above. No I/O happens before Open().
Result<std::unique_ptr<Source>> MakeSqliteSource(const Uri& uri, const Options& options);
Result<std::unique_ptr<Sink>> MakeSqliteSink(const Uri& uri, const Options& options);

// Watermarks and the run log in the SQLite file `path` (created when
// missing): the local state file of runs whose sink is not a database.
Result<std::unique_ptr<StateStore>> OpenSqliteStateFile(const std::string& path,
                                                        const StateTables& tables);

}  // namespace sluice
