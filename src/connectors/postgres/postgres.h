// PostgreSQL connector (source): `postgres://user:pass@host:port/db?table=schema.t`
// or `?query=SELECT ...`.
//
// Reads with binary `COPY (SELECT ...) TO STDOUT (FORMAT binary)`, streamed
// row by row into column builders (never the whole table in memory). A table
// is read in parallel by key ranges (single-column integer primary key) or by
// ctid page ranges, every split on ONE exported snapshot: the coordinator
// connection opened by Open() holds a REPEATABLE READ transaction and its
// pg_export_snapshot() until Close(); each split imports it with SET
// TRANSACTION SNAPSHOT. See docs/connectors/postgres.md for the type mapping.
//
// Thread safety: as documented on Source in connectors/connector.h.
#pragma once

#include <memory>

#include "connectors/connector.h"

namespace sluice {

// Adds the "postgres" and "postgresql" schemes (source and sink) to `registry`.
void RegisterPostgres(Registry* registry);

const OptionSpecs& PostgresSourceOptionSpecs();

// No I/O happens before Open(). `options` must have been parsed against
// PostgresSourceOptionSpecs().
Result<std::unique_ptr<Source>> MakePostgresSource(const Uri& uri, const Options& options);

// Sink: `postgres://.../db?table=schema.t&mode=append|upsert|replace|truncate-insert`.
// Binary COPY FROM STDIN, one transaction per part together with its row in
// the ledger table (exactly-once on re-runs); see postgres_sink.cc and
// docs/connectors/postgres.md, "Sink". Thread safety: as documented on Sink.
const OptionSpecs& PostgresSinkOptionSpecs();
Result<std::unique_ptr<Sink>> MakePostgresSink(const Uri& uri, const Options& options);

}  // namespace sluice
