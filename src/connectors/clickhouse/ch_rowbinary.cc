#include "connectors/clickhouse/ch_rowbinary.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "core/int128.h"
#include "core/temporal.h"
#include "core/text.h"

namespace sluice {

static_assert(std::endian::native == std::endian::little,
              "RowBinary is little-endian; the encoder copies host integers as they are");

namespace {

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

std::string DateText(int32_t days) {
  std::string s;
  AppendDate(days, &s);
  return s;
}

void AppendFixedDigits(int64_t v, int width, std::string* out) {
  char buf[20];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out->append(buf, static_cast<size_t>(width));
}

// "HH:MM:SS.ffffff" for micros within a day.
void AppendClock(int64_t micros_of_day, std::string* out) {
  const int64_t secs = micros_of_day / kMicrosPerSecond;
  AppendFixedDigits(secs / 3600, 2, out);
  out->push_back(':');
  AppendFixedDigits(secs / 60 % 60, 2, out);
  out->push_back(':');
  AppendFixedDigits(secs % 60, 2, out);
  out->push_back('.');
  AppendFixedDigits(micros_of_day % kMicrosPerSecond, 6, out);
}

void AppendTimestampText(int64_t micros, std::string* out) {
  const int64_t days = FloorDiv(micros, kMicrosPerDay);
  AppendDate(static_cast<int32_t>(days), out);
  out->push_back(' ');
  AppendClock(micros - days * kMicrosPerDay, out);
}

std::string TimestampText(int64_t micros) {
  std::string s;
  AppendTimestampText(micros, &s);
  return s;
}

std::string Int128Text(int128_t v) { return FormatDecimal(v, 0); }

bool IsIntegerKind(ChKind k) {
  switch (k) {
    case ChKind::kInt8:
    case ChKind::kInt16:
    case ChKind::kInt32:
    case ChKind::kInt64:
    case ChKind::kUInt8:
    case ChKind::kUInt16:
    case ChKind::kUInt32:
    case ChKind::kUInt64:
    case ChKind::kBool:
      return true;
    default:
      return false;
  }
}

// Width and range of an integer (or Bool) target.
void IntegerRange(ChKind k, int* width, int128_t* lo, int128_t* hi) {
  switch (k) {
    case ChKind::kInt8:
      *width = 1;
      *lo = INT8_MIN;
      *hi = INT8_MAX;
      return;
    case ChKind::kInt16:
      *width = 2;
      *lo = INT16_MIN;
      *hi = INT16_MAX;
      return;
    case ChKind::kInt32:
      *width = 4;
      *lo = INT32_MIN;
      *hi = INT32_MAX;
      return;
    case ChKind::kInt64:
      *width = 8;
      *lo = INT64_MIN;
      *hi = INT64_MAX;
      return;
    case ChKind::kUInt8:
      *width = 1;
      *lo = 0;
      *hi = UINT8_MAX;
      return;
    case ChKind::kUInt16:
      *width = 2;
      *lo = 0;
      *hi = UINT16_MAX;
      return;
    case ChKind::kUInt32:
      *width = 4;
      *lo = 0;
      *hi = UINT32_MAX;
      return;
    case ChKind::kUInt64:
      *width = 8;
      *lo = 0;
      *hi = static_cast<int128_t>(UINT64_MAX);
      return;
    case ChKind::kBool:
      *width = 1;
      *lo = 0;
      *hi = 1;
      return;
    default:
      *width = 0;
      *lo = 0;
      *hi = 0;
      return;
  }
}

// The value of row `r` of an integer-like column (ints, bool, date days,
// time / timestamp micros) as int128.
int128_t IntegerValue(const Column& col, int64_t r) {
  switch (col.type.id) {
    case TypeId::kInt8:
      return col.Value<int8_t>(r);
    case TypeId::kInt16:
      return col.Value<int16_t>(r);
    case TypeId::kInt32:
      return col.Value<int32_t>(r);
    case TypeId::kDate:
      return col.Value<int32_t>(r);
    case TypeId::kInt64:
      return col.Value<int64_t>(r);
    case TypeId::kTime:
      return col.Value<int64_t>(r);
    case TypeId::kTimestamp:
      return col.Value<int64_t>(r);
    case TypeId::kUInt8:
      return col.Value<uint8_t>(r);
    case TypeId::kUInt16:
      return col.Value<uint16_t>(r);
    case TypeId::kUInt32:
      return col.Value<uint32_t>(r);
    case TypeId::kUInt64:
      return col.Value<uint64_t>(r);
    case TypeId::kBool:
      return col.BoolValue(r) ? 1 : 0;
    default:
      return 0;
  }
}

bool IsIntegerLike(TypeId id) {
  return IsInteger(id) || id == TypeId::kBool || id == TypeId::kDate || id == TypeId::kTime ||
         id == TypeId::kTimestamp;
}

void AppendLE(int128_t v, int width, std::string* out) {
  char buf[16];
  std::memcpy(buf, &v, sizeof(buf));  // little-endian two's complement; low bytes first
  out->append(buf, static_cast<size_t>(width));
}

std::string RangeText(const ChColumnPlan& p) {
  return Int128Text(p.min_value) + ".." + Int128Text(p.max_value);
}

}  // namespace

ChRanges ChRanges::For(const ChCapabilities& caps) {
  ChRanges r{};
  r.date_max = caps.wide_date ? 65535 : DaysFromCivil(2105, 12, 31);
  r.datetime_max =
      caps.wide_date ? int64_t{UINT32_MAX} : int64_t{DaysFromCivil(2105, 12, 31)} * 86400 + 86399;
  if (caps.extended_range) {
    r.date32_min = DaysFromCivil(1900, 1, 1);
    r.date32_max = DaysFromCivil(2299, 12, 31);
  } else {
    r.date32_min = DaysFromCivil(1925, 1, 1);
    r.date32_max = DaysFromCivil(2283, 11, 11);
  }
  r.dt64_min_seconds = int64_t{r.date32_min} * 86400;
  r.dt64_max_seconds = int64_t{r.date32_max} * 86400 + 86399;
  return r;
}

Result<ChType> ChTypeForField(const Field& field, bool nullable, const ChCapabilities& caps,
                              const ChMappingOptions& options) {
  ChType t;
  t.nullable = nullable && field.nullable;
  const DataType& dt = field.type;
  auto need = [&](bool have, const char* type, const char* option) -> Status {
    if (have) return Status::OK();
    return Status::Unsupported("column \"" + field.name + "\": " + option +
                               " needs the ClickHouse type " + type +
                               ", which this server does not have");
  };
  switch (dt.id) {
    case TypeId::kInt8:
      t.kind = ChKind::kInt8;
      break;
    case TypeId::kInt16:
      t.kind = ChKind::kInt16;
      break;
    case TypeId::kInt32:
      t.kind = ChKind::kInt32;
      break;
    case TypeId::kInt64:
      t.kind = ChKind::kInt64;
      break;
    case TypeId::kUInt8:
      t.kind = ChKind::kUInt8;
      break;
    case TypeId::kUInt16:
      t.kind = ChKind::kUInt16;
      break;
    case TypeId::kUInt32:
      t.kind = ChKind::kUInt32;
      break;
    case TypeId::kUInt64:
      t.kind = ChKind::kUInt64;
      break;
    case TypeId::kFloat32:
      t.kind = ChKind::kFloat32;
      break;
    case TypeId::kFloat64:
      t.kind = ChKind::kFloat64;
      break;
    case TypeId::kDecimal:
      t.kind = ChKind::kDecimal;
      t.precision = dt.precision;
      t.scale = dt.scale;
      break;
    case TypeId::kBool:
      t.kind = caps.bool_type ? ChKind::kBool : ChKind::kUInt8;
      break;
    case TypeId::kString:
    case TypeId::kBinary:
    case TypeId::kJson:
      t.kind = ChKind::kString;
      break;
    case TypeId::kUuid:
      t.kind = ChKind::kUuid;
      break;
    case TypeId::kTime:
      t.kind = ChKind::kInt64;
      break;  // microseconds since midnight
    case TypeId::kDate:
      switch (options.dates) {
        case ChDateMode::kAuto:
          t.kind = caps.date32 ? ChKind::kDate32 : ChKind::kInt32;
          break;
        case ChDateMode::kDate:
          t.kind = ChKind::kDate;
          break;
        case ChDateMode::kDate32:
          SLUICE_RETURN_NOT_OK(need(caps.date32, "Date32", "dates=date32"));
          t.kind = ChKind::kDate32;
          break;
        case ChDateMode::kDays:
          t.kind = ChKind::kInt32;
          break;
        case ChDateMode::kString:
          t.kind = ChKind::kString;
          break;
      }
      break;
    case TypeId::kTimestamp:
      switch (options.timestamps) {
        case ChTimestampMode::kAuto:
          if (caps.datetime64) {
            t.kind = ChKind::kDateTime64;
            t.precision = 6;
            t.timezone = "UTC";
          } else {
            t.kind = ChKind::kInt64;  // microseconds since the epoch, UTC
          }
          break;
        case ChTimestampMode::kDateTime64:
          SLUICE_RETURN_NOT_OK(need(caps.datetime64, "DateTime64", "timestamps=datetime64"));
          t.kind = ChKind::kDateTime64;
          t.precision = 6;
          t.timezone = "UTC";
          break;
        case ChTimestampMode::kDateTime:
          t.kind = ChKind::kDateTime;
          t.timezone = "UTC";
          break;
        case ChTimestampMode::kMicros:
          t.kind = ChKind::kInt64;
          break;
        case ChTimestampMode::kString:
          t.kind = ChKind::kString;
          break;
      }
      break;
  }
  t.text = ChTypeName(t);
  return t;
}

Result<ChColumnPlan> PlanChColumn(const Field& field, const ChType& target,
                                  const ChCapabilities& caps) {
  ChColumnPlan p;
  p.name = field.name;
  p.source = field.type;
  p.target = target;
  p.ranges = ChRanges::For(caps);
  const TypeId src = field.type.id;
  using Conv = ChColumnPlan::Conv;
  auto mismatch = [&]() {
    return Status::InvalidArgument("column \"" + field.name + "\": cannot write " +
                                   field.type.ToString() +
                                   " values into the ClickHouse column of type " + target.text);
  };
  switch (target.kind) {
    case ChKind::kOther:
      return Status::Unsupported("column \"" + field.name + "\": the ClickHouse type " +
                                 target.text + " is not one the sink writes");
    case ChKind::kString:
      p.conv = (src == TypeId::kString || src == TypeId::kBinary || src == TypeId::kJson)
                   ? Conv::kBytes
                   : Conv::kText;
      return p;
    case ChKind::kFixedString:
      if (src != TypeId::kString && src != TypeId::kBinary && src != TypeId::kUuid)
        return mismatch();
      if (src == TypeId::kUuid && target.fixed_size < 16) return mismatch();
      p.conv = Conv::kFixed;
      return p;
    case ChKind::kUuid:
      if (src != TypeId::kUuid) return mismatch();
      p.conv = Conv::kUuid;
      return p;
    case ChKind::kFloat32:
      if (src != TypeId::kFloat32) return mismatch();
      p.conv = Conv::kFloat32;
      return p;
    case ChKind::kFloat64:
      if (src == TypeId::kFloat32)
        p.conv = Conv::kFloatWiden;
      else if (src == TypeId::kFloat64)
        p.conv = Conv::kFloat64;
      else
        return mismatch();
      return p;
    case ChKind::kDecimal: {
      int src_scale = 0;
      if (src == TypeId::kDecimal)
        src_scale = field.type.scale;
      else if (!IsInteger(src))
        return mismatch();
      if (target.scale < src_scale) {
        return Status::InvalidArgument("column \"" + field.name + "\": " + field.type.ToString() +
                                       " has more fractional digits than the ClickHouse column " +
                                       target.text + " (values would be rounded)");
      }
      p.conv = Conv::kDecimal;
      p.factor = Pow10(target.scale - src_scale);
      p.max_value = MaxDecimalMagnitude(target.precision);
      p.min_value = -p.max_value;
      p.unscaled_limit = p.max_value / p.factor;
      p.width = target.precision <= 9 ? 4 : target.precision <= 18 ? 8 : 16;
      return p;
    }
    case ChKind::kDate:
      if (src != TypeId::kDate) return mismatch();
      p.conv = Conv::kDate;
      return p;
    case ChKind::kDate32:
      if (src != TypeId::kDate) return mismatch();
      p.conv = Conv::kDate32;
      return p;
    case ChKind::kDateTime:
      if (src != TypeId::kTimestamp) return mismatch();
      p.conv = Conv::kDateTime;
      return p;
    case ChKind::kDateTime64:
      if (src != TypeId::kTimestamp) return mismatch();
      p.conv = Conv::kDateTime64;
      p.factor = Pow10(target.precision >= 6 ? target.precision - 6 : 6 - target.precision);
      return p;
    default:
      break;
  }
  if (IsIntegerKind(target.kind)) {
    if (!IsIntegerLike(src)) return mismatch();
    if (target.kind == ChKind::kBool && src != TypeId::kBool && !IsInteger(src)) return mismatch();
    p.conv = Conv::kInt;
    IntegerRange(target.kind, &p.width, &p.min_value, &p.max_value);
    return p;
  }
  return mismatch();
}

void AppendChText(const Column& col, int64_t row, std::string* out) {
  switch (col.type.id) {
    case TypeId::kDate:
      AppendDate(col.Value<int32_t>(row), out);
      return;
    case TypeId::kTime:
      AppendClock(col.Value<int64_t>(row), out);
      return;
    case TypeId::kTimestamp:
      AppendTimestampText(col.Value<int64_t>(row), out);
      return;
    default:
      AppendText(col, row, out);
      return;
  }
}

void AppendVarUInt(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void AppendRowBinaryString(std::string_view s, std::string* out) {
  AppendVarUInt(s.size(), out);
  out->append(s);
}

namespace {

// NULLs: RowBinary gives them a flag byte, Native a null map and a default
// value in the values (this).
// A NULL at `row` (1-based in the part) for a column that is not Nullable.
Status NullNotAllowed(const ChColumnPlan& p, int64_t row) {
  return Status::InvalidData("row " + std::to_string(row) + " column \"" + p.name +
                             "\": NULL, but the ClickHouse column is " + p.target.text +
                             " (not Nullable)");
}

void AppendDefault(const ChColumnPlan& p, std::string* out) {
  using Conv = ChColumnPlan::Conv;
  switch (p.conv) {
    case Conv::kInt:
    case Conv::kDecimal: out->append(static_cast<size_t>(p.width), '\0'); return;
    case Conv::kFloat32:
    case Conv::kDate32:
    case Conv::kDateTime: out->append(4, '\0'); return;
    case Conv::kFloatWiden:
    case Conv::kFloat64:
    case Conv::kDateTime64: out->append(8, '\0'); return;
    case Conv::kBytes:
    case Conv::kText: out->push_back('\0'); return;  // empty string
    case Conv::kFixed: out->append(static_cast<size_t>(p.target.fixed_size), '\0'); return;
    case Conv::kUuid: out->append(16, '\0'); return;
    case Conv::kDate: out->append(2, '\0'); return;
  }
}

}  // namespace

// One non-NULL value in its binary form (the same in RowBinary and in a
// Native column). `row` is 1-based within the part, for messages.
Status RowBinaryEncoder::AppendValue(const Column& col, const ChColumnPlan& p, int64_t r,
                                     int64_t row, std::string* text, std::string* out) {
  using Conv = ChColumnPlan::Conv;
  auto fail = [&](const std::string& what) {
    return Status::InvalidData("row " + std::to_string(row) + " column \"" + p.name + "\": " +
                               what);
  };
  switch (p.conv) {
    case Conv::kInt: {
      const int128_t v = IntegerValue(col, r);
      if (v < p.min_value || v > p.max_value) {
        return fail("value " + Int128Text(v) + " is outside the range of ClickHouse " +
                    p.target.text + " (" + RangeText(p) + ")");
      }
      AppendLE(v, p.width, out);
      break;
    }
    case Conv::kFloat32: {
      const float f = col.Value<float>(r);
      out->append(reinterpret_cast<const char*>(&f), sizeof(f));
      break;
    }
    case Conv::kFloatWiden: {
      const double d = static_cast<double>(col.Value<float>(r));
      out->append(reinterpret_cast<const char*>(&d), sizeof(d));
      break;
    }
    case Conv::kFloat64: {
      const double d = col.Value<double>(r);
      out->append(reinterpret_cast<const char*>(&d), sizeof(d));
      break;
    }
    case Conv::kDecimal: {
      const int128_t unscaled =
          col.type.id == TypeId::kDecimal ? col.DecimalValue(r) : IntegerValue(col, r);
      // |unscaled| < 10^38 and factor <= 10^38: compare before multiplying.
      const int128_t limit = p.unscaled_limit;
      if (unscaled > limit || unscaled < -limit) {
        return fail(
            "value " +
            FormatDecimal(unscaled, col.type.id == TypeId::kDecimal ? col.type.scale : 0) +
            " does not fit ClickHouse " + p.target.text);
      }
      AppendLE(unscaled * p.factor, p.width, out);
      break;
    }
    case Conv::kBytes:
      AppendRowBinaryString(col.StringValue(r), out);
      break;
    case Conv::kFixed: {
      const size_t n = static_cast<size_t>(p.target.fixed_size);
      std::string_view v =
          col.type.id == TypeId::kUuid
              ? std::string_view(reinterpret_cast<const char*>(col.FixedBytes(r, 16)), 16)
              : col.StringValue(r);
      if (v.size() > n) {
        return fail(std::to_string(v.size()) + " bytes do not fit ClickHouse " + p.target.text);
      }
      out->append(v);
      out->append(n - v.size(), '\0');
      break;
    }
    case Conv::kText:
      text->clear();
      AppendChText(col, r, text);
      AppendRowBinaryString(*text, out);
      break;
    case Conv::kUuid: {
      // ClickHouse keeps a UUID as two UInt64 halves, the first 8 bytes
      // of the text form first, each little-endian: each half is
      // byte-reversed in place (what 18.16 sends for
      // 00112233-4455-6677-8899-aabbccddeeff: 77 66 .. 00 ff ee .. 88).
      const uint8_t* b = col.FixedBytes(r, 16);
      char buf[16];
      for (int i = 0; i < 8; ++i) {
        buf[i] = static_cast<char>(b[7 - i]);
        buf[8 + i] = static_cast<char>(b[15 - i]);
      }
      out->append(buf, 16);
      break;
    }
    case Conv::kDate: {
      const int32_t d = col.Value<int32_t>(r);
      if (d < 0 || d > p.ranges.date_max) {
        return fail("date " + DateText(d) + " is outside ClickHouse Date's range 1970-01-01.." +
                    DateText(p.ranges.date_max) +
                    " (store dates as days or text: dates=days|string)");
      }
      const auto v = static_cast<uint16_t>(d);
      out->append(reinterpret_cast<const char*>(&v), 2);
      break;
    }
    case Conv::kDate32: {
      const int32_t d = col.Value<int32_t>(r);
      if (d < p.ranges.date32_min || d > p.ranges.date32_max) {
        return fail("date " + DateText(d) + " is outside ClickHouse Date32's range " +
                    DateText(p.ranges.date32_min) + ".." + DateText(p.ranges.date32_max) +
                    " (store dates as days or text: dates=days|string)");
      }
      out->append(reinterpret_cast<const char*>(&d), 4);
      break;
    }
    case Conv::kDateTime: {
      const int64_t us = col.Value<int64_t>(r);
      const int64_t secs = FloorDiv(us, kMicrosPerSecond);
      if (secs * kMicrosPerSecond != us) {
        return fail("timestamp " + TimestampText(us) +
                    " has a fraction of a second, which ClickHouse DateTime cannot hold "
                    "(timestamps=micros|string keep it)");
      }
      if (secs < 0 || secs > p.ranges.datetime_max) {
        return fail("timestamp " + TimestampText(us) +
                    " is outside ClickHouse DateTime's range 1970-01-01 " + "00:00:00.." +
                    TimestampText(p.ranges.datetime_max * kMicrosPerSecond) +
                    " (timestamps=micros|string hold any value)");
      }
      const auto v = static_cast<uint32_t>(secs);
      out->append(reinterpret_cast<const char*>(&v), 4);
      break;
    }
    case Conv::kDateTime64: {
      const int64_t us = col.Value<int64_t>(r);
      const int64_t secs = FloorDiv(us, kMicrosPerSecond);
      if (secs < p.ranges.dt64_min_seconds || secs > p.ranges.dt64_max_seconds) {
        return fail("timestamp " + TimestampText(us) +
                    " is outside ClickHouse DateTime64's range " +
                    TimestampText(p.ranges.dt64_min_seconds * kMicrosPerSecond) + ".." +
                    TimestampText(p.ranges.dt64_max_seconds * kMicrosPerSecond) +
                    " (timestamps=micros|string hold any value)");
      }
      int128_t ticks = us;
      if (p.target.precision >= 6) {
        ticks *= p.factor;
        if (ticks > INT64_MAX || ticks < INT64_MIN) {
          return fail("timestamp " + TimestampText(us) + " does not fit ClickHouse " +
                      p.target.text);
        }
      } else if (us % static_cast<int64_t>(p.factor) != 0) {
        return fail("timestamp " + TimestampText(us) +
                    " has more sub-second digits than ClickHouse " + p.target.text + " holds");
      } else {
        ticks = us / static_cast<int64_t>(p.factor);
      }
      AppendLE(ticks, 8, out);
      break;
    }
  }
  return Status::OK();
}

namespace {

// Room for `bytes` more at the end of `out`.
char* Grow(std::string* out, size_t bytes) {
  const size_t pos = out->size();
  out->resize(pos + bytes);
  return out->data() + pos;
}

// The column loops of AppendValues. Each writes rows [begin, end) and returns
// how many it wrote: it stops before the first value it cannot write (out of
// range), which AppendValue then reports.

template <typename T, int W>
int64_t IntLoop(const Column& col, const ChColumnPlan& p, int64_t begin, int64_t end,
                std::string* out) {
  const auto* src = reinterpret_cast<const uint8_t*>(col.values->data()) + begin * sizeof(T);
  const int64_t n = end - begin;
  constexpr bool kCopy = sizeof(T) == W;
  if (kCopy && p.min_value <= int128_t{std::numeric_limits<T>::min()} &&
      p.max_value >= int128_t{std::numeric_limits<T>::max()}) {
    std::memcpy(Grow(out, static_cast<size_t>(n) * W), src, static_cast<size_t>(n) * W);
    return n;
  }
  char* dst = Grow(out, static_cast<size_t>(n) * W);
  for (int64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
    const int128_t w = v;
    if (w < p.min_value || w > p.max_value) {
      out->resize(out->size() - static_cast<size_t>(n - i) * W);
      return i;
    }
    std::memcpy(dst + i * W, &w, W);  // little-endian: the low W bytes
  }
  return n;
}

template <typename T>
int64_t IntValues(const Column& col, const ChColumnPlan& p, int64_t begin, int64_t end,
                  std::string* out) {
  switch (p.width) {
    case 1:
      return IntLoop<T, 1>(col, p, begin, end, out);
    case 2:
      return IntLoop<T, 2>(col, p, begin, end, out);
    case 4:
      return IntLoop<T, 4>(col, p, begin, end, out);
    case 8:
      return IntLoop<T, 8>(col, p, begin, end, out);
    case 16:
      return IntLoop<T, 16>(col, p, begin, end, out);
    default:
      return 0;
  }
}

int64_t IntColumnValues(const Column& col, const ChColumnPlan& p, int64_t begin, int64_t end,
                        std::string* out) {
  switch (col.type.id) {
    case TypeId::kInt8:
      return IntValues<int8_t>(col, p, begin, end, out);
    case TypeId::kInt16:
      return IntValues<int16_t>(col, p, begin, end, out);
    case TypeId::kInt32:
    case TypeId::kDate:
      return IntValues<int32_t>(col, p, begin, end, out);
    case TypeId::kInt64:
    case TypeId::kTime:
    case TypeId::kTimestamp:
      return IntValues<int64_t>(col, p, begin, end, out);
    case TypeId::kUInt8:
      return IntValues<uint8_t>(col, p, begin, end, out);
    case TypeId::kUInt16:
      return IntValues<uint16_t>(col, p, begin, end, out);
    case TypeId::kUInt32:
      return IntValues<uint32_t>(col, p, begin, end, out);
    case TypeId::kUInt64:
      return IntValues<uint64_t>(col, p, begin, end, out);
    default:
      return 0;  // bool (bit-packed) and the rest: value by value
  }
}

template <int W>
int64_t DecimalLoop(const Column& col, const ChColumnPlan& p, int64_t begin, int64_t end,
                    std::string* out) {
  const int64_t n = end - begin;
  char* dst = Grow(out, static_cast<size_t>(n) * W);
  for (int64_t i = 0; i < n; ++i) {
    const int128_t unscaled = col.DecimalValue(begin + i);
    if (unscaled > p.unscaled_limit || unscaled < -p.unscaled_limit) {
      out->resize(out->size() - static_cast<size_t>(n - i) * W);
      return i;
    }
    const int128_t v = unscaled * p.factor;
    std::memcpy(dst + i * W, &v, W);
  }
  return n;
}

int64_t StringValues(const Column& col, int64_t begin, int64_t end, std::string* out) {
  const int32_t* off = col.values->as<int32_t>();
  size_t bytes = static_cast<size_t>(off[end] - off[begin]);
  for (int64_t r = begin; r < end; ++r) {
    uint32_t len = static_cast<uint32_t>(off[r + 1] - off[r]);
    bytes += 1;
    while (len >= 0x80) {
      ++bytes;
      len >>= 7;
    }
  }
  char* dst = Grow(out, bytes);
  const char* data = reinterpret_cast<const char*>(col.data->data());
  for (int64_t r = begin; r < end; ++r) {
    const uint32_t len = static_cast<uint32_t>(off[r + 1] - off[r]);
    uint32_t v = len;
    while (v >= 0x80) {
      *dst++ = static_cast<char>((v & 0x7F) | 0x80);
      v >>= 7;
    }
    *dst++ = static_cast<char>(v);
    std::memcpy(dst, data + off[r], len);
    dst += len;
  }
  return end - begin;
}

int64_t DateValues(const Column& col, const ChColumnPlan& p, int64_t begin, int64_t end,
                   std::string* out) {
  const int64_t n = end - begin;
  char* dst = Grow(out, static_cast<size_t>(n) * 2);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t d = col.Value<int32_t>(begin + i);
    if (d < 0 || d > p.ranges.date_max) {
      out->resize(out->size() - static_cast<size_t>(n - i) * 2);
      return i;
    }
    const auto v = static_cast<uint16_t>(d);
    std::memcpy(dst + i * 2, &v, 2);
  }
  return n;
}

}  // namespace

Status RowBinaryEncoder::AppendValues(const Column& col, const ChColumnPlan& p, int64_t begin,
                                      int64_t end, int64_t row, std::string* text,
                                      std::string* out) {
  using Conv = ChColumnPlan::Conv;
  int64_t done = 0;
  switch (p.conv) {
    case Conv::kInt:
      done = IntColumnValues(col, p, begin, end, out);
      break;
    case Conv::kFloat32:
    case Conv::kFloat64: {
      const size_t w = p.conv == Conv::kFloat32 ? 4 : 8;
      const size_t bytes = static_cast<size_t>(end - begin) * w;
      std::memcpy(Grow(out, bytes), col.values->data() + static_cast<size_t>(begin) * w, bytes);
      done = end - begin;
      break;
    }
    case Conv::kDecimal:
      if (col.type.id != TypeId::kDecimal) break;
      if (p.width == 4) done = DecimalLoop<4>(col, p, begin, end, out);
      if (p.width == 8) done = DecimalLoop<8>(col, p, begin, end, out);
      if (p.width == 16) done = DecimalLoop<16>(col, p, begin, end, out);
      break;
    case Conv::kBytes:
      done = StringValues(col, begin, end, out);
      break;
    case Conv::kDate:
      done = DateValues(col, p, begin, end, out);
      break;
    default:
      break;
  }
  for (int64_t r = begin + done; r < end; ++r) {
    SLUICE_RETURN_NOT_OK(AppendValue(col, p, r, row + (r - begin), text, out));
  }
  return Status::OK();
}

Status RowBinaryEncoder::Append(const RecordBatch& batch, int64_t first_row,
                                std::string_view suffix, std::string* out) const {
  if (static_cast<size_t>(batch.num_columns()) != plans_.size()) {
    return Status::Internal("RowBinary encoder: batch has " + std::to_string(batch.num_columns()) +
                            " columns, the plan " + std::to_string(plans_.size()));
  }
  const int ncols = batch.num_columns();
  std::string text;
  for (int64_t r = 0; r < batch.num_rows(); ++r) {
    for (int c = 0; c < ncols; ++c) {
      const Column& col = batch.column(c);
      const ChColumnPlan& p = plans_[static_cast<size_t>(c)];
      if (col.IsNull(r)) {
        if (!p.target.nullable) return NullNotAllowed(p, first_row + r);
        out->push_back('\x01');
        continue;
      }
      if (p.target.nullable) out->push_back('\x00');
      SLUICE_RETURN_NOT_OK(AppendValue(col, p, r, first_row + r, &text, out));
    }
    out->append(suffix);
  }
  return Status::OK();
}

Status RowBinaryEncoder::AppendNativeBlock(const std::vector<RecordBatch>& batches,
                                           const std::vector<NativeConstant>& hidden,
                                           std::string* out) const {
  ChPartBody body = ChPartBody::Native(this, &batches, hidden);
  while (true) {
    SLUICE_ASSIGN_OR_RETURN(bool more, body.Next(out, SIZE_MAX / 2));
    if (!more) return Status::OK();
  }
}

ChPartBody ChPartBody::Native(const RowBinaryEncoder* encoder,
                              const std::vector<RecordBatch>* batches,
                              std::vector<NativeConstant> hidden) {
  ChPartBody body(encoder, batches, /*native=*/true);
  body.hidden_ = std::move(hidden);
  return body;
}

ChPartBody ChPartBody::RowBinary(const RowBinaryEncoder* encoder,
                                 const std::vector<RecordBatch>* batches, std::string suffix) {
  ChPartBody body(encoder, batches, /*native=*/false);
  body.suffix_ = std::move(suffix);
  return body;
}

void ChPartBody::Rewind() {
  stage_ = Stage::kHeader;
  column_ = batch_ = 0;
  row_ = 0;
  row_number_ = 1;
}

Result<bool> ChPartBody::Next(std::string* out, size_t target) {
  if (stage_ == Stage::kDone) return false;
  if (!native_) {
    if (batch_ >= batches_->size()) {
      stage_ = Stage::kDone;
      return false;
    }
    const RecordBatch& b = (*batches_)[batch_++];
    SLUICE_RETURN_NOT_OK(encoder_->Append(b, row_number_, suffix_, out));
    row_number_ += b.num_rows();
    return true;
  }
  SLUICE_RETURN_NOT_OK(NextNative(out, out->size() + std::max<size_t>(target, 1)));
  return true;
}

// The next planned column, or the hidden ones after the last.
void ChPartBody::NextColumn() {
  ++column_;
  batch_ = 0;
  row_ = 0;
  row_number_ = 1;
  if (column_ < encoder_->plans_.size()) {
    stage_ = Stage::kColumn;
  } else {
    column_ = 0;
    stage_ = Stage::kHidden;
  }
}

// A Native block is VarUInt columns, VarUInt rows, then per column its name,
// its type, the null map (Nullable: a byte per row, 1 = NULL) and a value per
// row (a default one under NULLs). Appends until `out` reaches `limit`.
Status ChPartBody::NextNative(std::string* out, size_t limit) {
  const std::vector<ChColumnPlan>& plans = encoder_->plans_;
  const std::vector<RecordBatch>& batches = *batches_;
  constexpr int64_t kStep = 4096;  // rows between checks of `limit`
  while (out->size() < limit) {
    switch (stage_) {
      case Stage::kHeader: {
        rows_ = 0;
        for (const RecordBatch& b : batches) {
          if (static_cast<size_t>(b.num_columns()) != plans.size()) {
            return Status::Internal("Native encoder: batch has " +
                                    std::to_string(b.num_columns()) + " columns, the plan " +
                                    std::to_string(plans.size()));
          }
          rows_ += b.num_rows();
        }
        AppendVarUInt(plans.size() + hidden_.size(), out);
        AppendVarUInt(static_cast<uint64_t>(rows_), out);
        column_ = static_cast<size_t>(-1);
        NextColumn();
        break;
      }
      case Stage::kColumn: {
        // The values as encoded (no LowCardinality: the server converts the
        // block to the table's types, as it does RowBinary's values).
        const ChColumnPlan& p = plans[column_];
        ChType wire = p.target;
        wire.low_cardinality = false;
        AppendRowBinaryString(p.name, out);
        AppendRowBinaryString(ChTypeName(wire), out);
        stage_ = p.target.nullable ? Stage::kNullMap : Stage::kValues;
        break;
      }
      case Stage::kNullMap: {
        const int ci = static_cast<int>(column_);
        for (; batch_ < batches.size() && out->size() < limit; ++batch_) {
          const Column& col = batches[batch_].column(ci);
          const int64_t n = batches[batch_].num_rows();
          for (int64_t r = 0; r < n; ++r) out->push_back(col.IsNull(r) ? '\x01' : '\x00');
        }
        if (batch_ == batches.size()) {
          batch_ = 0;
          stage_ = Stage::kValues;
        }
        break;
      }
      case Stage::kValues: {
        if (batch_ == batches.size()) {
          NextColumn();
          break;
        }
        const ChColumnPlan& p = plans[column_];
        const Column& col = batches[batch_].column(static_cast<int>(column_));
        const int64_t n = batches[batch_].num_rows();
        const int64_t end = std::min(n, row_ + kStep);
        if (col.null_count == 0) {
          SLUICE_RETURN_NOT_OK(
              RowBinaryEncoder::AppendValues(col, p, row_, end, row_number_, &text_, out));
          row_number_ += end - row_;
        } else {
          for (int64_t r = row_; r < end; ++r, ++row_number_) {
            if (col.IsNull(r)) {
              if (!p.target.nullable) return NullNotAllowed(p, row_number_);
              AppendDefault(p, out);
              continue;
            }
            SLUICE_RETURN_NOT_OK(
                RowBinaryEncoder::AppendValue(col, p, r, row_number_, &text_, out));
          }
        }
        row_ = end;
        if (row_ == n) {
          ++batch_;
          row_ = 0;
        }
        break;
      }
      case Stage::kHidden: {
        if (column_ == hidden_.size()) {
          stage_ = Stage::kDone;
          return Status::OK();
        }
        AppendRowBinaryString(hidden_[column_].name, out);
        AppendRowBinaryString(hidden_[column_].type, out);
        row_ = 0;
        stage_ = Stage::kHiddenValues;
        break;
      }
      case Stage::kHiddenValues: {
        const std::string& v = hidden_[column_].value;
        const int64_t end = std::min(rows_, row_ + kStep);
        for (; row_ < end; ++row_) out->append(v);
        if (row_ == rows_) {
          ++column_;
          stage_ = Stage::kHidden;
        }
        break;
      }
      case Stage::kDone:
        return Status::OK();
    }
  }
  return Status::OK();
}

}  // namespace sluice
