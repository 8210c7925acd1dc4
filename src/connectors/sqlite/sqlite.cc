#include "connectors/sqlite/sqlite.h"

#include "connectors/sqlite/sqlite_state.h"

namespace sluice {

const OptionSpecs& SqliteSourceOptionSpecs() {
  static const OptionSpecs specs = {
      {"table", OptionType::kString, "", "table or view to read (exactly one of table / query)"},
      {"query", OptionType::kString, "",
       "a single read-only SELECT to run instead of a table (read as one split)"},
      {"batch_rows", OptionType::kInt, "",
       "rows per batch (default: the runtime's batch size)"},
      {"max_splits", OptionType::kInt, "64",
       "upper bound on parallel rowid-range splits (each one is a connection)"},
      {"min_split_rows", OptionType::kInt, "100000",
       "do not cut a table into splits of fewer rows than this"},
      {"on_conversion_error", OptionType::kEnum, "error",
       "a stored value that does not fit the column's type: fail naming table, rowid and "
       "column (error), or read it as NULL (null; every column becomes nullable)",
       {"error", "null"}},
      {"infer_rows", OptionType::kInt, "100",
       "rows sampled to infer the type of columns without a usable declared type"},
      {"snapshot", OptionType::kEnum, "lock",
       "lock: hold the write lock from Open until every split reader has started, so all "
       "splits read one snapshot (needs write permission, else falls back to none); "
       "none: each split sees the data as of its own start",
       {"lock", "none"}},
      {"busy_timeout", OptionType::kDuration, "30s",
       "how long to wait for a locked database before failing (retryable)"},
      {"mmap_size", OptionType::kSize, "256MiB",
       "memory-map up to this much of the file per reader (0 = plain reads)"},
  };
  return specs;
}

const OptionSpecs& SqliteSinkOptionSpecs() {
  static const OptionSpecs specs = {
      {"table", OptionType::kString, "", "table to write", {}, true},
      {"mode", OptionType::kEnum, "append",
       "append rows; replace the table atomically at commit; or upsert by key",
       {"append", "replace", "upsert"}},
      {"key", OptionType::kString, "",
       "comma-separated key columns for upsert (default: the schema's primary key)"},
      {"soft_delete", OptionType::kString, "",
       "upsert: rows whose COLUMN is set (non-NULL, or true) delete the target row by key "
       "instead of being written"},
      {"create", OptionType::kBool, "true", "create the table from the schema if it is missing"},
      {"ledger", OptionType::kString, "_sluice_ledger",
       "table remembering applied part ids (exactly-once delivery)"},
      {"journal_mode", OptionType::kEnum, "wal",
       "SQLite journal mode of the database file", {"wal", "delete", "truncate", "persist"}},
      {"synchronous", OptionType::kEnum, "normal",
       "fsync policy: normal (WAL: a power loss may drop the last parts, never corrupts), "
       "full (every committed part survives power loss), off (fastest, OS crash may corrupt)",
       {"off", "normal", "full", "extra"}},
      {"busy_timeout", OptionType::kDuration, "30s",
       "how long a writer waits for the database lock before failing (retryable)"},
      {"cache_size", OptionType::kSize, "64MiB", "page cache per writer connection"},
      {"writers", OptionType::kInt, "4",
       "parallel writer connections (SQLite commits one at a time; more only overlaps binding)"},
  };
  return specs;
}

void RegisterSqlite(Registry* registry) {
  registry->Add(ConnectorInfo{
      "sqlite",
      "SQLite database file: sqlite:///path/db.sqlite?table=T (or ?query=SELECT...)",
      SqliteSourceOptionSpecs(),
      SqliteSinkOptionSpecs(),
      MakeSqliteSource,
      MakeSqliteSink,
      nullptr,
      nullptr,
  });
}

Result<std::unique_ptr<StateStore>> OpenSqliteStateFile(const std::string& path,
                                                        const StateTables& tables) {
  return sqlite::OpenStateStore(path, tables);
}

}  // namespace sluice
