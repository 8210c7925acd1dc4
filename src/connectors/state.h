// What the database state stores (PostgreSQL, MySQL, SQLite) share: the run
// log's columns in one order, run ids, timestamps and the digest encoding.
// The stores themselves live with their connectors (they speak the
// database's SQL); this keeps the three tables identical in shape.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/connector.h"

namespace sluice {

// A column of the run log table, in table order.
struct RunLogColumn {
  const char* name;
  enum Kind { kText, kInteger, kTime } kind;
};
const std::vector<RunLogColumn>& RunLogColumns();

// The run's values in RunLogColumns() order: integers in decimal, times as
// "YYYY-MM-DD HH:MM:SS.ffffff" (UTC), std::nullopt for an unset finish time.
std::vector<std::optional<std::string>> RunLogValues(const RunRecord& run);
// Sets column `index` of `run` from its text (as read back from a database;
// a NULL is std::nullopt). Integers that do not parse are an error naming
// the column.
Status SetRunLogValue(int index, const std::optional<std::string>& text, RunRecord* run);

// 32 random hex digits (std::random_device seeded).
std::string NewRunId();
// The current UTC time as "YYYY-MM-DD HH:MM:SS.ffffff".
std::string NowUtcText();

// Lowercase hex of `bytes` / its inverse (error on odd length or non-hex).
std::string HexEncode(std::string_view bytes);
Result<std::string> HexDecode(std::string_view hex);

}  // namespace sluice
