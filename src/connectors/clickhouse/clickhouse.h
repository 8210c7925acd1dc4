// ClickHouse connector (sink and source):
//   clickhouse://[user[:password]@]host:port/database?table=T[&mode=append|upsert|replace]
//       [&order_by=a,b][&partition_by=EXPR][&version=COL][&dedup=auto|token|ledger|none]...
//   clickhouse://[user[:password]@]host:port/database?table=T|query=SELECT...
//       [&columns=a,b][&where=SQL][&types=col:type,...][&split_by=...]...   (source)
//
// The source streams `SELECT ... FORMAT RowBinary` into batches, one HTTP
// stream per split (clickhouse_source.cc, ch_rowbinary_reader.h).
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
#include <string>
#include <string_view>
#include <vector>

#include "connectors/connector.h"

namespace sluice {

// One statement of an `init_sql` file: its text (without the `;`) and the
// 1-based line it starts on.
struct ChSqlStatement {
  std::string sql;
  int line = 0;
};

// Splits a file of ClickHouse SQL statements at the `;`s that are outside
// quotes ('..', "..", `..`, with backslash escapes) and comments (-- .., /* .. */).
// Statements holding only whitespace and comments are dropped. An unterminated
// quote or comment is an InvalidArgument naming `name` and the line it starts on.
Result<std::vector<ChSqlStatement>> SplitChSqlScript(std::string_view text,
                                                     const std::string& name);

// Adds the "clickhouse" scheme (source and sink) to `registry`.
void RegisterClickhouse(Registry* registry);

const OptionSpecs& ClickhouseSourceOptionSpecs();
// No I/O before Open(). `options` must have been parsed against
// ClickhouseSourceOptionSpecs().
Result<std::unique_ptr<Source>> MakeClickhouseSource(const Uri& uri, const Options& options);

const OptionSpecs& ClickhouseSinkOptionSpecs();
// No I/O before Open(). `options` must have been parsed against
// ClickhouseSinkOptionSpecs().
Result<std::unique_ptr<Sink>> MakeClickhouseSink(const Uri& uri, const Options& options);

}  // namespace sluice
