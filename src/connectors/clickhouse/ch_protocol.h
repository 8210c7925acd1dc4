// The text side of ClickHouse's HTTP interface, with no I/O: quoting of
// identifiers and string literals, and decoders of what a server sends back
// (TabSeparated result sets, exception texts, the version string, column type
// names from system.columns, the X-ClickHouse-Summary header). Every decoder
// treats its input as hostile (it comes from the network) and is fuzzed by
// tests/fuzz/clickhouse_fuzz.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice {

// `name` as a back-quoted identifier: backslash and backquote are escaped
// with a backslash, control bytes as \xHH (ClickHouse reads all three forms
// since at least 18.x), so any table or column name round-trips.
std::string ChQuoteIdent(std::string_view name);
// `text` as a single-quoted string literal (same escaping rules).
std::string ChQuoteString(std::string_view text);
// The inverse: a single-quoted literal ('UTC' -> UTC) with the escapes
// ClickHouse and ChQuoteString use (\xHH, \b \f \n \r \t \0 \a \v, and a
// backslash before any other byte standing for that byte); false if `s`
// (trimmed) is not one.
bool ChUnquoteString(std::string_view s, std::string* out);

// One row of a TabSeparated result: a field is std::nullopt for \N (NULL).
using TsvRow = std::vector<std::optional<std::string>>;
// Decodes a TabSeparated body (ClickHouse's escaping: \b \f \n \r \t \0 \',
// a doubled backslash, and \N for NULL). Every row must have `columns` fields.
Result<std::vector<TsvRow>> ParseTsv(std::string_view body, size_t columns);

// An error a server reported: "Code: 60, e.displayText() = DB::Exception: ..."
// (18.x) or "Code: 60. DB::Exception: ... (UNKNOWN_TABLE) (version 23.8.1.1)".
struct ChServerError {
  int code = 0;         // 0 when the body carries no code
  std::string message;  // the server's message, trimmed, without the boilerplate
};
ChServerError ParseChException(std::string_view body);

// Exception codes the sink acts on (ClickHouse's ErrorCodes).
namespace ch_error {
inline constexpr int kUnknownTable = 60;
inline constexpr int kUnknownDatabase = 81;
inline constexpr int kTableAlreadyExists = 57;
inline constexpr int kUnknownUser = 192;
inline constexpr int kWrongPassword = 193;
inline constexpr int kRequiredPassword = 194;
inline constexpr int kAuthenticationFailed = 516;
inline constexpr int kQueryWithSameIdIsAlreadyRunning = 216;
}  // namespace ch_error

// True for codes that say "try again later" (timeouts, network, too many
// parts or queries, memory pressure, a concurrent query with the same id),
// false for errors in the request itself (syntax, types, unknown objects).
bool IsRetryableChError(int code);

struct ChVersion {
  int major = 0, minor = 0, patch = 0;
  std::string text;  // as the server printed it
  bool AtLeast(int maj, int min) const { return major > maj || (major == maj && minor >= min); }
};
// "18.16.1", "23.8.2.7".
Result<ChVersion> ParseChVersion(std::string_view text);

// X-ClickHouse-Summary: {"read_rows":"0",...,"written_rows":"3",...}. The
// field is -1 when absent.
struct ChSummary {
  int64_t written_rows = -1;
};
ChSummary ParseChSummary(std::string_view header_value);

// A column type as system.columns spells it, reduced to what the sink can
// write: the kind, Nullable / LowCardinality wrappers and the parameters.
enum class ChKind : uint8_t {
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kUInt8,
  kUInt16,
  kUInt32,
  kUInt64,
  kFloat32,
  kFloat64,
  kDecimal,  // precision 1..38 (Decimal256 is kOther)
  kBool,
  kString,
  kFixedString,
  kUuid,
  kDate,        // UInt16 days since 1970-01-01
  kDate32,      // Int32 days since 1970-01-01
  kDateTime,    // UInt32 seconds since the epoch
  kDateTime64,  // Int64 ticks of 10^-precision seconds
  kOther,       // anything else (Array, Map, Enum, IPv4, ...): not writable
};

struct ChType {
  ChKind kind = ChKind::kOther;
  bool nullable = false;
  bool low_cardinality = false;
  int precision = 0;     // kDecimal: digits; kDateTime64: sub-second digits
  int scale = 0;         // kDecimal
  int fixed_size = 0;    // kFixedString
  std::string timezone;  // kDateTime / kDateTime64, when given
  std::string text;      // the type as written (for messages)
};
// Parses a type name ("Nullable(Decimal(38, 9))", "DateTime64(6, 'UTC')",
// "LowCardinality(Nullable(String))"). Unknown but well-formed types parse as
// kOther; malformed text (unbalanced parentheses, bad numbers, nesting deeper
// than 32, longer than kMaxChTypeBytes) is an error.
inline constexpr size_t kMaxChTypeBytes = 4096;
Result<ChType> ParseChType(std::string_view text);
// The name of a type the sink creates ("Nullable(Int64)").
std::string ChTypeName(const ChType& type);

}  // namespace sluice
