// ClickHouse connector (sink):
//   clickhouse://[user[:password]@]host:port/database?table=T[&mode=append|upsert|replace]
//       [&order_by=a,b][&partition_by=EXPR][&version=COL][&dedup=auto|token|ledger|none]...
//
// Writes over the HTTP interface (libcurl): one `INSERT ... FORMAT RowBinary`
// per part, its body built straight from the batches and gzip-compressed.
// Open() detects what the server can do (version, types, deduplication
// settings) and picks the path: on servers with insert_deduplication_token
// (22.x and later) the server deduplicates re-sent parts itself; on older
// ones (Debian's 18.16) every row carries its part's id and the sink keeps a
// ledger table with a crash-safe protocol. See clickhouse_sink.cc and
// docs/connectors/clickhouse.md. Thread safety: as documented on Sink.
#pragma once

#include <memory>

#include "connectors/connector.h"

namespace sluice {

// Adds the "clickhouse" scheme (sink) to `registry`.
void RegisterClickhouse(Registry* registry);

const OptionSpecs& ClickhouseSinkOptionSpecs();
// No I/O before Open(). `options` must have been parsed against
// ClickhouseSinkOptionSpecs().
Result<std::unique_ptr<Sink>> MakeClickhouseSink(const Uri& uri, const Options& options);

}  // namespace sluice
