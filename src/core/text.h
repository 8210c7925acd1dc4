// The canonical text form of every type, shared by the text codecs (CSV,
// TDTP, JSONL where JSON has no native form) and by `sluice inspect`:
//
//   ints     decimal digits             floats  shortest round-trip, NaN, Infinity, -Infinity
//   decimal  exact "-123.4500"          bool    true / false
//   string   as is                      binary  base64 (standard alphabet, padded)
//   date     YYYY-MM-DD                 time    HH:MM:SS[.ffffff]
//   timestamp YYYY-MM-DDTHH:MM:SS[.ffffff], with "Z" when the type has a zone
//   uuid     8-4-4-4-12 lower-case hex  json    the JSON text
//
// NULL has no text form here; each codec has its own NULL convention.
#pragma once

#include <string>
#include <string_view>

#include "core/batch.h"

namespace sluice {

// Appends the text of non-null value `row` of `col`.
void AppendText(const Column& col, int64_t row, std::string* out);
std::string ValueToText(const Column& col, int64_t row);

// Parses `text` as a value of the builder's type and appends it. Accepts the
// canonical forms plus common variants (bool 1/0/t/f/yes/no, "inf", "nan",
// timestamps with a space or an offset). Never appends on error.
Status AppendParsedText(std::string_view text, ColumnBuilder* builder);

void AppendUuid(const uint8_t* bytes16, std::string* out);
// Accepts 32 hex digits with optional hyphens and optional braces.
Status ParseUuid(std::string_view text, uint8_t* bytes16);

void AppendDouble(double v, std::string* out);   // shortest round-trip
void AppendFloat(float v, std::string* out);

}  // namespace sluice
