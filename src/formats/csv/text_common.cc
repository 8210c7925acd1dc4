#include "formats/csv/text_common.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "core/temporal.h"

namespace sluice::textcodec {

namespace {
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsTemporalDigits(std::string_view s, std::initializer_list<size_t> positions) {
  for (size_t i : positions) {
    if (i >= s.size() || !IsDigit(s[i])) return false;
  }
  return true;
}

enum class TextKind { kBool, kNumber, kSpecialFloat, kDate, kTime, kTsNaive, kTsZoned, kOther };

TextKind ClassifyTemporal(std::string_view s) {
  // Cheap shape checks first so ordinary strings never reach the parsers.
  if (s.size() >= 10 && s[4] == '-' && s[7] == '-' &&
      IsTemporalDigits(s, {0, 1, 2, 3, 5, 6, 8, 9})) {
    if (s.size() == 10) return ParseDate(s).ok() ? TextKind::kDate : TextKind::kOther;
    if ((s[10] == 'T' || s[10] == ' ') && ParseTimestamp(s).ok()) {
      for (size_t i = 11; i < s.size(); ++i) {
        char c = s[i];
        if (c == 'Z' || c == 'z' || c == '+' || c == '-') return TextKind::kTsZoned;
      }
      return TextKind::kTsNaive;
    }
    return TextKind::kOther;
  }
  if (s.size() >= 8 && s[2] == ':' && s[5] == ':' && IsTemporalDigits(s, {0, 1, 3, 4, 6, 7}) &&
      ParseTime(s).ok()) {
    return TextKind::kTime;
  }
  return TextKind::kOther;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

bool FitsInt64(std::string_view s) {
  // Only called on integer-shaped text: at most 19 digits always fits except
  // for 19-digit values above the limit, so compare against the bound.
  bool neg = !s.empty() && s[0] == '-';
  std::string_view digits = neg ? s.substr(1) : s;
  if (digits.size() < 19) return true;
  if (digits.size() > 19) return false;
  return digits <= (neg ? std::string_view("9223372036854775808") : std::string_view("9223372036854775807"));
}
}  // namespace

bool ParseNumberShape(std::string_view s, NumberShape* shape) {
  NumberShape sh;
  size_t i = 0, n = s.size();
  if (i < n && s[i] == '-') ++i;
  if (i >= n) return false;
  bool leading = true;  // still inside leading zeros
  if (s[i] == '0') {
    ++i;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < n && IsDigit(s[i])) {
      ++sh.int_digits;
      ++sh.significant_digits;
      ++i;
    }
    leading = false;
  } else {
    return false;
  }
  bool integer = true;
  if (i < n && s[i] == '.') {
    integer = false;
    ++i;
    size_t start = i;
    while (i < n && IsDigit(s[i])) {
      if (s[i] != '0') leading = false;
      if (!leading) ++sh.significant_digits;
      ++i;
    }
    if (i == start) return false;
    sh.frac_digits = static_cast<int>(i - start);
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    integer = false;
    sh.has_exponent = true;
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    size_t start = i;
    while (i < n && IsDigit(s[i])) ++i;
    if (i == start) return false;
  }
  if (i != n) return false;
  sh.is_integer = integer;
  if (shape) *shape = sh;
  return true;
}

void TypeInferrer::AddNumberShape(std::string_view s, const NumberShape& shape) {
  ++n_number_;
  if (!shape.is_integer || !FitsInt64(s)) all_int64_ = false;
  if (shape.has_exponent) all_plain_ = false;
  // 15 significant digits always survive text -> float64 -> shortest text.
  if (shape.significant_digits > 15 || (shape.is_integer && !FitsInt64(s))) needs_exact_ = true;
  max_int_digits_ = std::max(max_int_digits_, shape.int_digits);
  max_frac_digits_ = std::max(max_frac_digits_, shape.frac_digits);
}

void TypeInferrer::AddNumber(std::string_view token) {
  NumberShape shape;
  if (ParseNumberShape(token, &shape)) AddNumberShape(token, shape);
  else ++n_other_;  // callers pass validated tokens; be safe anyway
}

void TypeInferrer::AddText(std::string_view s) {
  if (s == "NaN" || s == "Infinity" || s == "-Infinity") {
    ++n_special_;
    return;
  }
  if (!json_) {
    if (EqualsIgnoreCase(s, "true") || EqualsIgnoreCase(s, "false")) {
      ++n_bool_;
      return;
    }
    NumberShape shape;
    if (!s.empty() && (IsDigit(s[0]) || s[0] == '-') && ParseNumberShape(s, &shape)) {
      AddNumberShape(s, shape);
      return;
    }
  }
  switch (ClassifyTemporal(s)) {
    case TextKind::kDate: ++n_date_; return;
    case TextKind::kTime: ++n_time_; return;
    case TextKind::kTsNaive: ++n_ts_naive_; return;
    case TextKind::kTsZoned: ++n_ts_zoned_; return;
    default: ++n_other_; return;
  }
}

DataType TypeInferrer::Finish(bool infer_decimal) const {
  const int64_t strings = n_special_ + n_date_ + n_time_ + n_ts_naive_ + n_ts_zoned_ + n_other_;
  const int64_t total = strings + n_bool_ + n_number_ + n_container_;
  if (total == 0) return DataType::String();
  if (n_bool_ == total) return DataType::Bool();
  if (n_container_ == total) return DataType::Json();
  if (n_number_ + n_special_ == total) {
    if (n_special_ == 0 && all_int64_) return DataType::Int64();
    const int precision = std::max(1, max_int_digits_ + max_frac_digits_);
    if (infer_decimal && n_special_ == 0 && needs_exact_ && all_plain_ &&
        precision <= kMaxDecimalPrecision) {
      return DataType::Decimal(precision, max_frac_digits_);
    }
    return DataType::Float64();
  }
  if (strings == total) {
    if (n_date_ == total) return DataType::Date();
    if (n_time_ == total) return DataType::Time();
    if (n_ts_naive_ > 0 && n_ts_naive_ + n_date_ == total) return DataType::Timestamp();
    if (n_ts_zoned_ == total) return DataType::TimestampTz("UTC");
    return DataType::String();
  }
  // Mixed kinds: JSON keeps every value exactly as a json value; CSV text as string.
  return json_ ? DataType::Json() : DataType::String();
}

bool DecodeBase64Strict(std::string_view text, std::string* out) {
  static constexpr auto kDecode = [] {
    std::array<int8_t, 256> t{};
    for (auto& v : t) v = -1;
    constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
    return t;
  }();
  const size_t n = text.size();
  if (n % 4 != 0) return false;
  size_t pad = 0;
  if (n > 0 && text[n - 1] == '=') ++pad;
  if (pad == 1 && text[n - 2] == '=') ++pad;
  out->resize(n / 4 * 3);
  char* o = out->data();
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  for (size_t i = 0; i < n; i += 4) {
    const bool last = i + 4 == n;
    const int a = kDecode[s[i]], b = kDecode[s[i + 1]];
    const int c = last && pad == 2 ? 0 : kDecode[s[i + 2]];
    const int d = last && pad >= 1 ? 0 : kDecode[s[i + 3]];
    if ((a | b | c | d) < 0) return false;
    const uint32_t v = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                       (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
    *o++ = static_cast<char>(v >> 16);
    *o++ = static_cast<char>(v >> 8);
    *o++ = static_cast<char>(v);
  }
  out->resize(n / 4 * 3 - pad);
  return true;
}

bool ValidUtf8(const char* p, size_t n) { return simdjson::validate_utf8(p, n); }

Result<size_t> ChunkedInput::Refill(size_t keep_from) {
  if (eof_) return size_t{0};
  const size_t live = size_ - keep_from;
  if (keep_from > 0 && live > 0) std::memmove(buf_.get(), buf_.get() + keep_from, live);
  size_ = live;
  const size_t want = std::max(chunk_, live);
  if (capacity_ < live + want) {
    size_t cap = std::max(live + want, capacity_ + capacity_ / 2);
    auto bigger = std::make_unique_for_overwrite<char[]>(cap);
    if (live > 0) std::memcpy(bigger.get(), buf_.get(), live);
    buf_ = std::move(bigger);
    capacity_ = cap;
  }
  SLUICE_ASSIGN_OR_RETURN(int64_t n, in_->Read(buf_.get() + size_, static_cast<int64_t>(want)));
  if (n < 0 || static_cast<size_t>(n) > want) {
    return Status::IOError(in_->name() + ": stream returned an invalid read size");
  }
  if (n == 0) eof_ = true;
  size_ += static_cast<size_t>(n);
  return static_cast<size_t>(n);
}

Status CheckReadLimits(int64_t batch_rows, int64_t batch_bytes, int64_t read_chunk_bytes,
                       int64_t max_record_bytes) {
  // Var-width columns use int32 offsets: a batch (rows up to batch_bytes plus
  // one record) must stay below 2 GiB, so each bound is capped at 1 GiB.
  constexpr int64_t kGiB = int64_t{1} << 30;
  if (batch_rows < 1) return Status::InvalidArgument("batch_rows must be >= 1");
  if (batch_bytes < 1 || batch_bytes > kGiB) {
    return Status::InvalidArgument("batch_bytes must be in 1..1GiB");
  }
  if (read_chunk_bytes < 1 || read_chunk_bytes > kGiB) {
    return Status::InvalidArgument("read_chunk_bytes must be in 1..1GiB");
  }
  if (max_record_bytes < 1 || max_record_bytes > kGiB) {
    return Status::InvalidArgument("max_record_bytes must be in 1..1GiB");
  }
  return Status::OK();
}

std::string QuoteForError(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string q = "'";
  if (s.size() <= kMax) {
    q += s;
  } else {
    size_t cut = kMax;
    // Do not split a UTF-8 sequence.
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    q += s.substr(0, cut);
    q += "...";
  }
  q += "'";
  return q;
}

}  // namespace sluice::textcodec
