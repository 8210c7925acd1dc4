// Calendar arithmetic (proleptic Gregorian, years 0001..9999) and ISO-8601
// text for date32 / time64[us] / timestamp[us] values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice {

inline constexpr int64_t kMicrosPerSecond = 1'000'000;
inline constexpr int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;
// 0001-01-01 and 9999-12-31 as days since 1970-01-01.
inline constexpr int32_t kMinDate = -719162;
inline constexpr int32_t kMaxDate = 2932896;

int32_t DaysFromCivil(int y, unsigned m, unsigned d);
void CivilFromDays(int32_t days, int* y, unsigned* m, unsigned* d);

void AppendDate(int32_t days, std::string* out);             // YYYY-MM-DD
void AppendTime(int64_t micros, std::string* out);           // HH:MM:SS[.ffffff]
// YYYY-MM-DDTHH:MM:SS[.ffffff], plus "Z" when `utc_suffix`.
void AppendTimestamp(int64_t micros, bool utc_suffix, std::string* out);

Result<int32_t> ParseDate(std::string_view s);
Result<int64_t> ParseTime(std::string_view s);
// Accepts "YYYY-MM-DD", "YYYY-MM-DD[T ]HH:MM[:SS[.f{1,9}]]" with an optional
// "Z", "+HH", "+HH:MM" or "+HHMM" offset; the result is UTC micros.
Result<int64_t> ParseTimestamp(std::string_view s);

}  // namespace sluice
