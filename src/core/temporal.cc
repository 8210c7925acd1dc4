#include "core/temporal.h"

namespace sluice {

int32_t DaysFromCivil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int>(doe) - 719468;
}

void CivilFromDays(int32_t days, int* y, unsigned* m, unsigned* d) {
  int64_t z = int64_t{days} + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int>(yoe + era * 400) + (*m <= 2);
}

namespace {
void AppendDigits(int64_t v, int width, std::string* out) {
  char buf[24];
  int n = 0;
  bool neg = v < 0;
  uint64_t u = neg ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  do {
    buf[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  while (n < width) buf[n++] = '0';
  if (neg) out->push_back('-');
  while (n > 0) out->push_back(buf[--n]);
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
unsigned DaysInMonth(int y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads exactly n digits at s[*pos].
bool Digits(std::string_view s, size_t* pos, int n, int* out) {
  if (*pos + static_cast<size_t>(n) > s.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    char c = s[*pos + static_cast<size_t>(i)];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += static_cast<size_t>(n);
  *out = v;
  return true;
}

Status Bad(std::string_view what, std::string_view s) {
  return Status::InvalidData("invalid " + std::string(what) + " '" + std::string(s.substr(0, 64)) + "'");
}

bool ParseDatePart(std::string_view s, size_t* pos, int32_t* days) {
  int y, m, d;
  if (!Digits(s, pos, 4, &y) || *pos >= s.size() || s[*pos] != '-') return false;
  ++*pos;
  if (!Digits(s, pos, 2, &m) || *pos >= s.size() || s[*pos] != '-') return false;
  ++*pos;
  if (!Digits(s, pos, 2, &d)) return false;
  if (y < 1 || m < 1 || m > 12 || d < 1 || static_cast<unsigned>(d) > DaysInMonth(y, static_cast<unsigned>(m))) return false;
  *days = DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  return true;
}

// HH:MM[:SS[.fffffffff]]
bool ParseTimePart(std::string_view s, size_t* pos, int64_t* micros) {
  int h, mi, sec = 0;
  if (!Digits(s, pos, 2, &h) || *pos >= s.size() || s[*pos] != ':') return false;
  ++*pos;
  if (!Digits(s, pos, 2, &mi)) return false;
  int64_t frac = 0;
  if (*pos < s.size() && s[*pos] == ':') {
    ++*pos;
    if (!Digits(s, pos, 2, &sec)) return false;
    if (*pos < s.size() && (s[*pos] == '.' || s[*pos] == ',')) {
      ++*pos;
      int ndig = 0;
      while (*pos < s.size() && s[*pos] >= '0' && s[*pos] <= '9') {
        if (ndig < 6) frac = frac * 10 + (s[*pos] - '0');
        else if (s[*pos] != '0' && ndig >= 9) return false;  // beyond nanoseconds
        ++ndig;
        ++*pos;
      }
      if (ndig == 0 || ndig > 9) return false;
      for (int k = ndig; k < 6; ++k) frac *= 10;
    }
  }
  // 24:00:00 is the end of the day (ISO 8601, PostgreSQL's time type).
  if (h == 24 && mi == 0 && sec == 0 && frac == 0) {
    *micros = 24 * 3600 * kMicrosPerSecond;
    return true;
  }
  if (h > 23 || mi > 59 || sec > 60) return false;
  if (sec == 60) sec = 59;  // leap second: clamp
  *micros = ((int64_t{h} * 60 + mi) * 60 + sec) * kMicrosPerSecond + frac;
  return true;
}
}  // namespace

void AppendDate(int32_t days, std::string* out) {
  int y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  AppendDigits(y, 4, out);
  out->push_back('-');
  AppendDigits(m, 2, out);
  out->push_back('-');
  AppendDigits(d, 2, out);
}

void AppendTime(int64_t micros, std::string* out) {
  int64_t secs = micros / kMicrosPerSecond;
  int64_t frac = micros % kMicrosPerSecond;
  AppendDigits(secs / 3600, 2, out);
  out->push_back(':');
  AppendDigits(secs / 60 % 60, 2, out);
  out->push_back(':');
  AppendDigits(secs % 60, 2, out);
  if (frac != 0) {
    out->push_back('.');
    AppendDigits(frac, 6, out);
  }
}

void AppendTimestamp(int64_t micros, bool utc_suffix, std::string* out) {
  int64_t days = FloorDiv(micros, kMicrosPerDay);
  AppendDate(static_cast<int32_t>(days), out);
  out->push_back('T');
  AppendTime(micros - days * kMicrosPerDay, out);
  if (utc_suffix) out->push_back('Z');
}

Result<int32_t> ParseDate(std::string_view s) {
  size_t pos = 0;
  int32_t days;
  if (!ParseDatePart(s, &pos, &days) || pos != s.size()) return Bad("date", s);
  return days;
}

Result<int64_t> ParseTime(std::string_view s) {
  size_t pos = 0;
  int64_t micros;
  if (!ParseTimePart(s, &pos, &micros) || pos != s.size()) return Bad("time", s);
  return micros;
}

Result<int64_t> ParseTimestamp(std::string_view s) {
  size_t pos = 0;
  int32_t days;
  if (!ParseDatePart(s, &pos, &days)) return Bad("timestamp", s);
  int64_t micros = 0;
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == 't' || s[pos] == ' ')) {
    ++pos;
    if (!ParseTimePart(s, &pos, &micros)) return Bad("timestamp", s);
  }
  int64_t offset_secs = 0;
  if (pos < s.size()) {
    if (s[pos] == ' ') ++pos;
    if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
      ++pos;
    } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
      int sign = s[pos] == '-' ? -1 : 1;
      ++pos;
      int oh, om = 0;
      if (!Digits(s, &pos, 2, &oh)) return Bad("timestamp", s);
      if (pos < s.size() && s[pos] == ':') ++pos;
      if (pos < s.size() && !Digits(s, &pos, 2, &om)) return Bad("timestamp", s);
      if (oh > 18 || om > 59) return Bad("timestamp", s);
      offset_secs = sign * (oh * 3600 + om * 60);
    }
  }
  if (pos != s.size()) return Bad("timestamp", s);
  const int64_t utc = int64_t{days} * kMicrosPerDay + micros - offset_secs * kMicrosPerSecond;
  // An offset can push the UTC value outside 0001..9999, which no writer could print back.
  if (utc < int64_t{kMinDate} * kMicrosPerDay || utc >= (int64_t{kMaxDate} + 1) * kMicrosPerDay) {
    return Status::InvalidData("timestamp '" + std::string(s.substr(0, 64)) +
                               "' is outside 0001-01-01..9999-12-31 in UTC");
  }
  return utc;
}

}  // namespace sluice
