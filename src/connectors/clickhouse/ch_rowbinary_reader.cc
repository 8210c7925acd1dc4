#include "connectors/clickhouse/ch_rowbinary_reader.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cstring>
#include <limits>

#include "connectors/clickhouse/ch_protocol.h"
#include "core/int128.h"
#include "core/temporal.h"
#include "core/text.h"
#include "core/utf8.h"

namespace sluice {

static_assert(std::endian::native == std::endian::little,
              "RowBinary is little-endian; the decoder loads host integers as they are");

namespace {

constexpr int kMaxTypeDepth = 32;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string Head(std::string_view s) {
  std::string out(s.substr(0, 80));
  if (s.size() > 80) out += "...";
  return out;
}

bool ParseInt64(std::string_view s, int64_t* out) {
  s = Trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// The end (index just past the closing quote) of the quoted literal that
// starts at s[0], or npos when it is not terminated.
size_t QuotedEnd(std::string_view s) {
  const char quote = s[0];
  for (size_t i = 1; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == quote) {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

// "Name(arg, arg)" -> the name and its top-level arguments (quotes and
// nested parentheses inside an argument are skipped over).
Status SplitType(std::string_view text, std::string_view* name, std::vector<std::string_view>* args,
                 bool* parens) {
  text = Trim(text);
  size_t i = 0;
  while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_')) {
    ++i;
  }
  *name = text.substr(0, i);
  if (name->empty()) return Status::InvalidData("type name expected in '" + Head(text) + "'");
  std::string_view rest = Trim(text.substr(i));
  *parens = false;
  args->clear();
  if (rest.empty()) return Status::OK();
  if (rest.front() != '(' || rest.back() != ')') {
    return Status::InvalidData("unexpected text after the type name in '" + Head(text) + "'");
  }
  *parens = true;
  std::string_view inner = rest.substr(1, rest.size() - 2);
  int depth = 0;
  size_t start = 0;
  for (size_t p = 0; p < inner.size(); ++p) {
    const char ch = inner[p];
    if (ch == '\'' || ch == '`' || ch == '"') {
      const size_t end = QuotedEnd(inner.substr(p));
      if (end == std::string_view::npos) {
        return Status::InvalidData("unterminated quote in type '" + Head(text) + "'");
      }
      p += end - 1;
    } else if (ch == '(') {
      if (++depth > kMaxTypeDepth) return Status::InvalidData("type nested too deeply");
    } else if (ch == ')') {
      if (--depth < 0) return Status::InvalidData("unbalanced ')' in type '" + Head(text) + "'");
    } else if (ch == ',' && depth == 0) {
      args->push_back(Trim(inner.substr(start, p - start)));
      start = p + 1;
    }
  }
  if (depth != 0) return Status::InvalidData("unbalanced '(' in type '" + Head(text) + "'");
  args->push_back(Trim(inner.substr(start)));
  return Status::OK();
}

// One "'name' = value" of an Enum.
Status ParseEnumValue(std::string_view arg, int64_t lo, int64_t hi, std::string* name,
                      int64_t* value) {
  arg = Trim(arg);
  if (arg.empty() || arg.front() != '\'') return Status::InvalidData("'name' = value expected");
  const size_t end = QuotedEnd(arg);
  if (end == std::string_view::npos || !ChUnquoteString(arg.substr(0, end), name)) {
    return Status::InvalidData("bad quoted Enum name");
  }
  std::string_view rest = Trim(arg.substr(end));
  if (rest.empty() || rest.front() != '=')
    return Status::InvalidData("'=' expected after an Enum name");
  if (!ParseInt64(rest.substr(1), value) || *value < lo || *value > hi) {
    return Status::InvalidData("bad Enum value in '" + Head(arg) + "'");
  }
  return Status::OK();
}

Status ParseRec(std::string_view text, int depth, ChWireType* t) {
  if (depth > kMaxTypeDepth) return Status::InvalidData("type nested too deeply");
  std::string_view name;
  std::vector<std::string_view> args;
  bool parens = false;
  SLUICE_RETURN_NOT_OK(SplitType(text, &name, &args, &parens));
  auto bad = [&](const char* what) {
    return Status::InvalidData(std::string(what) + " in type '" + Head(text) + "'");
  };
  if (name == "Nullable" || name == "LowCardinality") {
    if (args.size() != 1) return bad("one argument expected");
    if (name == "Nullable") {
      if (t->nullable) return bad("Nullable inside Nullable");
      t->nullable = true;
    } else {
      if (t->low_cardinality || t->nullable) return bad("misplaced LowCardinality");
      t->low_cardinality = true;
    }
    return ParseRec(args[0], depth + 1, t);
  }
  struct Simple {
    std::string_view name;
    ChWire wire;
  };
  static constexpr Simple kSimple[] = {
      {"Int8", ChWire::kInt8},       {"Int16", ChWire::kInt16},     {"Int32", ChWire::kInt32},
      {"Int64", ChWire::kInt64},     {"UInt8", ChWire::kUInt8},     {"UInt16", ChWire::kUInt16},
      {"UInt32", ChWire::kUInt32},   {"UInt64", ChWire::kUInt64},   {"Int128", ChWire::kInt128},
      {"UInt128", ChWire::kUInt128}, {"Float32", ChWire::kFloat32}, {"Float64", ChWire::kFloat64},
      {"Bool", ChWire::kBool},       {"String", ChWire::kString},   {"UUID", ChWire::kUuid},
      {"Date", ChWire::kDate},       {"Date32", ChWire::kDate32},   {"Nothing", ChWire::kNothing},
  };
  for (const Simple& s : kSimple) {
    if (name != s.name) continue;
    if (parens) return bad("unexpected arguments");
    t->wire = s.wire;
    return Status::OK();
  }
  int64_t a = 0, b = 0;
  auto decimal = [&](int64_t precision, int64_t scale) -> Status {
    if (precision < 1 || precision > 76 || scale < 0 || scale > precision) {
      return bad("bad Decimal precision/scale");
    }
    if (precision > kMaxDecimalPrecision) {
      return Status::Unsupported("the ClickHouse type " + Head(Trim(text)) +
                                 " is not one the source reads (more than 38 digits)");
    }
    t->wire = precision <= 9    ? ChWire::kDecimal32
              : precision <= 18 ? ChWire::kDecimal64
                                : ChWire::kDecimal128;
    t->precision = static_cast<int>(precision);
    t->scale = static_cast<int>(scale);
    return Status::OK();
  };
  if (name == "Decimal") {
    if (args.size() != 2 || !ParseInt64(args[0], &a) || !ParseInt64(args[1], &b)) {
      return bad("Decimal(P, S) expected");
    }
    return decimal(a, b);
  }
  if (name == "Decimal32" || name == "Decimal64" || name == "Decimal128" || name == "Decimal256") {
    if (args.size() != 1 || !ParseInt64(args[0], &b)) return bad("DecimalN(S) expected");
    a = name == "Decimal32" ? 9 : name == "Decimal64" ? 18 : name == "Decimal128" ? 38 : 76;
    return decimal(a, b);
  }
  if (name == "FixedString") {
    if (args.size() != 1 || !ParseInt64(args[0], &a) || a < 1 ||
        static_cast<uint64_t>(a) > kMaxChValueBytes) {
      return bad("FixedString(N) expected");
    }
    t->wire = ChWire::kFixedString;
    t->fixed_size = static_cast<int>(a);
    return Status::OK();
  }
  if (name == "DateTime") {
    t->wire = ChWire::kDateTime;
    if (!parens) return Status::OK();
    if (args.size() != 1 || !ChUnquoteString(args[0], &t->timezone))
      return bad("DateTime('zone') expected");
    return Status::OK();
  }
  if (name == "DateTime64") {
    if (args.empty() || args.size() > 2 || !ParseInt64(args[0], &a) || a < 0 || a > 9) {
      return bad("DateTime64(precision[, 'zone']) expected");
    }
    t->wire = ChWire::kDateTime64;
    t->precision = static_cast<int>(a);
    if (args.size() == 2 && !ChUnquoteString(args[1], &t->timezone))
      return bad("DateTime64 zone expected");
    return Status::OK();
  }
  if (name == "Enum8" || name == "Enum16") {
    const bool small = name == "Enum8";
    if (!parens || args.empty() || (args.size() == 1 && args[0].empty())) {
      return bad("Enum values expected");
    }
    t->wire = small ? ChWire::kEnum8 : ChWire::kEnum16;
    t->enum_values.clear();
    t->enum_values.reserve(args.size());
    for (std::string_view arg : args) {
      std::string value_name;
      int64_t value = 0;
      Status st = ParseEnumValue(arg, small ? INT8_MIN : INT16_MIN, small ? INT8_MAX : INT16_MAX,
                                 &value_name, &value);
      if (!st.ok()) return st.WithContext("type '" + Head(Trim(text)) + "'");
      t->enum_values.emplace_back(static_cast<int16_t>(value), std::move(value_name));
    }
    std::sort(t->enum_values.begin(), t->enum_values.end(),
              [](const auto& x, const auto& y) { return x.first < y.first; });
    for (size_t i = 1; i < t->enum_values.size(); ++i) {
      if (t->enum_values[i].first == t->enum_values[i - 1].first)
        return bad("duplicate Enum value");
    }
    return Status::OK();
  }
  return Status::Unsupported("the ClickHouse type " + Head(Trim(text)) +
                             " is not one the source reads");
}

int WireWidth(const ChWireType& t) {
  switch (t.wire) {
    case ChWire::kInt8:
    case ChWire::kUInt8:
    case ChWire::kBool:
    case ChWire::kEnum8:
    case ChWire::kNothing:
      return 1;
    case ChWire::kInt16:
    case ChWire::kUInt16:
    case ChWire::kDate:
    case ChWire::kEnum16:
      return 2;
    case ChWire::kInt32:
    case ChWire::kUInt32:
    case ChWire::kFloat32:
    case ChWire::kDecimal32:
    case ChWire::kDate32:
    case ChWire::kDateTime:
      return 4;
    case ChWire::kInt64:
    case ChWire::kUInt64:
    case ChWire::kFloat64:
    case ChWire::kDecimal64:
    case ChWire::kDateTime64:
      return 8;
    case ChWire::kInt128:
    case ChWire::kUInt128:
    case ChWire::kDecimal128:
    case ChWire::kUuid:
      return 16;
    case ChWire::kFixedString:
      return t.fixed_size;
    case ChWire::kString:
      return 0;
  }
  return 0;
}

bool IsSignedWire(ChWire w) {
  switch (w) {
    case ChWire::kInt8:
    case ChWire::kInt16:
    case ChWire::kInt32:
    case ChWire::kInt64:
    case ChWire::kInt128:
    case ChWire::kDecimal32:
    case ChWire::kDecimal64:
    case ChWire::kDecimal128:
    case ChWire::kEnum8:
    case ChWire::kEnum16:
    case ChWire::kDate32:
    case ChWire::kDateTime64:
      return true;
    default:
      return false;
  }
}

// The values an integer-like sluice type accepts (as integers: days,
// microseconds, 0/1).
bool IntegerTargetRange(TypeId id, int128_t* lo, int128_t* hi) {
  switch (id) {
    case TypeId::kInt8:
      *lo = INT8_MIN;
      *hi = INT8_MAX;
      return true;
    case TypeId::kInt16:
      *lo = INT16_MIN;
      *hi = INT16_MAX;
      return true;
    case TypeId::kInt32:
      *lo = INT32_MIN;
      *hi = INT32_MAX;
      return true;
    case TypeId::kInt64:
      *lo = INT64_MIN;
      *hi = INT64_MAX;
      return true;
    case TypeId::kUInt8:
      *lo = 0;
      *hi = UINT8_MAX;
      return true;
    case TypeId::kUInt16:
      *lo = 0;
      *hi = UINT16_MAX;
      return true;
    case TypeId::kUInt32:
      *lo = 0;
      *hi = UINT32_MAX;
      return true;
    case TypeId::kUInt64:
      *lo = 0;
      *hi = static_cast<int128_t>(UINT64_MAX);
      return true;
    case TypeId::kBool:
      *lo = 0;
      *hi = 1;
      return true;
    case TypeId::kDate:
      *lo = kMinDate;
      *hi = kMaxDate;
      return true;
    case TypeId::kTime:
      *lo = 0;
      *hi = kMicrosPerDay - 1;
      return true;
    case TypeId::kTimestamp:
      *lo = int128_t{kMinDate} * kMicrosPerDay;
      *hi = (int128_t{kMaxDate} + 1) * kMicrosPerDay - 1;
      return true;
    default:
      return false;
  }
}

// The wire integer type that has exactly the representation of `id`.
bool SameRepresentation(ChWire w, TypeId id) {
  switch (w) {
    case ChWire::kInt8:
      return id == TypeId::kInt8;
    case ChWire::kInt16:
      return id == TypeId::kInt16;
    case ChWire::kInt32:
      return id == TypeId::kInt32;
    case ChWire::kInt64:
      return id == TypeId::kInt64;
    case ChWire::kUInt8:
      return id == TypeId::kUInt8;
    case ChWire::kUInt16:
      return id == TypeId::kUInt16;
    case ChWire::kUInt32:
      return id == TypeId::kUInt32;
    case ChWire::kUInt64:
      return id == TypeId::kUInt64;
    case ChWire::kFloat32:
      return id == TypeId::kFloat32;
    case ChWire::kFloat64:
      return id == TypeId::kFloat64;
    default:
      return false;
  }
}

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// A fixed-width integer value (1..16 bytes, little-endian) as int128;
// `overflow` is set for a UInt128 above INT128's range.
int128_t LoadInteger(const uint8_t* p, int width, bool is_signed, bool* overflow) {
  *overflow = false;
  switch (width) {
    case 1:
      return is_signed ? int128_t{Load<int8_t>(p)} : int128_t{Load<uint8_t>(p)};
    case 2:
      return is_signed ? int128_t{Load<int16_t>(p)} : int128_t{Load<uint16_t>(p)};
    case 4:
      return is_signed ? int128_t{Load<int32_t>(p)} : int128_t{Load<uint32_t>(p)};
    case 8:
      return is_signed ? int128_t{Load<int64_t>(p)} : int128_t{Load<uint64_t>(p)};
    default: {
      uint128_t u;
      std::memcpy(&u, p, 16);
      if (!is_signed && (u >> 127) != 0) *overflow = true;
      return static_cast<int128_t>(u);
    }
  }
}

std::string Int128Text(int128_t v) { return FormatDecimal(v, 0); }

std::string DaysText(int128_t days) {
  if (days < kMinDate || days > kMaxDate) return "day " + Int128Text(days);
  std::string s;
  AppendDate(static_cast<int32_t>(days), &s);
  return s;
}

// LEB128 at p[0..n): the value and its length, 0 when incomplete, -1 when
// longer than 10 bytes or above 2^64.
int ReadVarUInt(const uint8_t* p, size_t n, uint64_t* out) {
  uint64_t v = 0;
  for (int i = 0; i < 10; ++i) {
    if (static_cast<size_t>(i) >= n) return 0;
    const uint8_t b = p[i];
    if (i == 9 && b > 1) return -1;
    v |= static_cast<uint64_t>(b & 0x7F) << (7 * i);
    if ((b & 0x80) == 0) {
      *out = v;
      return i + 1;
    }
  }
  return -1;
}

std::string ByteHex(uint8_t b) {
  static const char* kHex = "0123456789abcdef";
  return std::string("0x") + kHex[b >> 4] + kHex[b & 15];
}

}  // namespace

// ---------------------------------------------------------------------------
// Types

Result<ChWireType> ParseChWireType(std::string_view text) {
  if (text.size() > kMaxChWireTypeBytes) {
    return Status::InvalidData("type name longer than " + std::to_string(kMaxChWireTypeBytes) +
                               " bytes");
  }
  ChWireType t;
  t.text = std::string(Trim(text));
  SLUICE_RETURN_NOT_OK(ParseRec(text, 0, &t));
  return t;
}

DataType DefaultChSourceType(const ChWireType& t, const std::string& server_timezone) {
  switch (t.wire) {
    case ChWire::kInt8:
      return DataType::Int8();
    case ChWire::kInt16:
      return DataType::Int16();
    case ChWire::kInt32:
      return DataType::Int32();
    case ChWire::kInt64:
      return DataType::Int64();
    case ChWire::kUInt8:
      return DataType::UInt8();
    case ChWire::kUInt16:
      return DataType::UInt16();
    case ChWire::kUInt32:
      return DataType::UInt32();
    case ChWire::kUInt64:
      return DataType::UInt64();
    case ChWire::kInt128:
    case ChWire::kUInt128:
      return DataType::Decimal(38, 0);
    case ChWire::kFloat32:
      return DataType::Float32();
    case ChWire::kFloat64:
      return DataType::Float64();
    case ChWire::kDecimal32:
    case ChWire::kDecimal64:
    case ChWire::kDecimal128:
      return DataType::Decimal(t.precision, t.scale);
    case ChWire::kBool:
      return DataType::Bool();
    case ChWire::kString:
      return DataType::String();
    case ChWire::kFixedString:
      return DataType::Binary();
    case ChWire::kUuid:
      return DataType::Uuid();
    case ChWire::kDate:
    case ChWire::kDate32:
      return DataType::Date();
    case ChWire::kDateTime:
    case ChWire::kDateTime64:
      return DataType::TimestampTz(!t.timezone.empty()        ? t.timezone
                                   : !server_timezone.empty() ? server_timezone
                                                              : std::string("UTC"));
    case ChWire::kEnum8:
    case ChWire::kEnum16:
    case ChWire::kNothing:
      return DataType::String();
  }
  return DataType::String();
}

bool ChCanConvert(const ChWireType& wire, const DataType& type) {
  if (!type.Validate().ok()) return false;
  const TypeId id = type.id;
  int128_t lo = 0, hi = 0;
  switch (wire.wire) {
    case ChWire::kInt8:
    case ChWire::kInt16:
    case ChWire::kInt32:
    case ChWire::kInt64:
    case ChWire::kUInt8:
    case ChWire::kUInt16:
    case ChWire::kUInt32:
    case ChWire::kUInt64:
    case ChWire::kBool:
      return IntegerTargetRange(id, &lo, &hi) || id == TypeId::kDecimal;
    case ChWire::kInt128:
    case ChWire::kUInt128:
      return IntegerTargetRange(id, &lo, &hi) || id == TypeId::kDecimal;
    case ChWire::kFloat32:
      return id == TypeId::kFloat32 || id == TypeId::kFloat64;
    case ChWire::kFloat64:
      return id == TypeId::kFloat64;
    case ChWire::kDecimal32:
    case ChWire::kDecimal64:
    case ChWire::kDecimal128:
      return id == TypeId::kDecimal && type.scale >= wire.scale;
    case ChWire::kString:
      return true;
    case ChWire::kFixedString:
      return id == TypeId::kBinary || id == TypeId::kString ||
             (id == TypeId::kUuid && wire.fixed_size == 16);
    case ChWire::kUuid:
      return id == TypeId::kUuid;
    case ChWire::kDate:
    case ChWire::kDate32:
      return id == TypeId::kDate;
    case ChWire::kDateTime:
    case ChWire::kDateTime64:
      return id == TypeId::kTimestamp;
    case ChWire::kEnum8:
    case ChWire::kEnum16:
      return id == TypeId::kString;
    case ChWire::kNothing:
      return true;
  }
  return false;
}

std::string ChTypeMarker(const Field& field) {
  std::string out(kChTypeMarkerPrefix);
  out += field.type.ToString();
  if (field.primary_key) out += " primary key";
  return out;
}

std::optional<ChMarkedType> ParseChTypeMarker(std::string_view comment) {
  if (comment.substr(0, kChTypeMarkerPrefix.size()) != kChTypeMarkerPrefix) return std::nullopt;
  std::string_view rest = Trim(comment.substr(kChTypeMarkerPrefix.size()));
  ChMarkedType m;
  constexpr std::string_view kKey = " primary key";
  if (rest.size() > kKey.size() && rest.substr(rest.size() - kKey.size()) == kKey) {
    m.primary_key = true;
    rest = Trim(rest.substr(0, rest.size() - kKey.size()));
  }
  auto t = ParseDataType(rest);
  if (!t.ok() || !t->Validate().ok()) return std::nullopt;
  m.type = std::move(*t);
  return m;
}

// ---------------------------------------------------------------------------
// Exceptions appended to a body

ChExceptionMatch MatchChExceptionStart(std::string_view s) {
  // A literal prefix: kYes when all of it is there, kNeedMore when the
  // bytes end inside it, kNo at the first difference.
  auto literal = [&](std::string_view lit, size_t at) -> ChExceptionMatch {
    for (size_t i = 0; i < lit.size(); ++i) {
      if (at + i >= s.size()) return ChExceptionMatch::kNeedMore;
      if (s[at + i] != lit[i]) return ChExceptionMatch::kNo;
    }
    return ChExceptionMatch::kYes;
  };
  if (s.empty()) return ChExceptionMatch::kNeedMore;
  if (s[0] == '_' || s[0] == '\r') {
    ChExceptionMatch m = literal("__exception__", 0);
    if (m == ChExceptionMatch::kNo) m = literal("\r\n__exception__", 0);
    return m;
  }
  ChExceptionMatch m = literal("Code: ", 0);
  if (m != ChExceptionMatch::kYes) return m;
  size_t i = 6;
  while (i < s.size() && i < 6 + 9 && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == s.size()) return ChExceptionMatch::kNeedMore;
  if (i == 6) return ChExceptionMatch::kNo;
  m = literal(", e.displayText() = ", i);
  if (m == ChExceptionMatch::kNo) m = literal(". DB::Exception: ", i);
  return m;
}

// ---------------------------------------------------------------------------
// Decoder

RowBinaryDecoder::RowBinaryDecoder(std::vector<ChReadColumn> columns, std::vector<Plan> plans,
                                   std::string name)
    : columns_(std::move(columns)), plans_(std::move(plans)), name_(std::move(name)) {
  size_t fixed = 0;
  for (const Plan& p : plans_) {
    if (p.nullable || p.width == 0) {
      fixed = 0;
      break;
    }
    fixed += static_cast<size_t>(p.width);
  }
  fixed_row_size_ = fixed;
}

Result<RowBinaryDecoder> RowBinaryDecoder::Make(std::vector<ChReadColumn> columns,
                                                std::string name) {
  if (columns.empty()) return Status::InvalidArgument(name + ": no columns to read");
  std::vector<Plan> plans;
  plans.reserve(columns.size());
  for (const ChReadColumn& c : columns) {
    const ChWireType& w = c.wire;
    const TypeId id = c.type.id;
    if (!ChCanConvert(w, c.type)) {
      return Status::InvalidArgument(name + ": column \"" + c.name + "\": cannot read ClickHouse " +
                                     w.text + " values as " + c.type.ToString());
    }
    Plan p;
    p.nullable = w.nullable;
    p.width = WireWidth(w);
    p.wire_signed = IsSignedWire(w.wire);
    switch (w.wire) {
      case ChWire::kString:
        p.conv = (id == TypeId::kString || id == TypeId::kJson) ? Conv::kUtf8
                 : id == TypeId::kBinary                        ? Conv::kBytes
                                                                : Conv::kParse;
        break;
      case ChWire::kFixedString:
        p.conv = id == TypeId::kBinary   ? Conv::kFixedBytes
                 : id == TypeId::kString ? Conv::kFixedText
                                         : Conv::kFixedUuid;
        break;
      case ChWire::kUuid:
        p.conv = Conv::kUuid;
        break;
      case ChWire::kDate:
        p.conv = Conv::kDate;
        break;
      case ChWire::kDate32:
        p.conv = Conv::kDate32;
        break;
      case ChWire::kDateTime:
        p.conv = Conv::kDateTime;
        break;
      case ChWire::kDateTime64:
        p.conv = Conv::kDateTime64;
        p.divide = w.precision > 6;
        p.factor = Pow10(w.precision > 6 ? w.precision - 6 : 6 - w.precision);
        IntegerTargetRange(TypeId::kTimestamp, &p.lo, &p.hi);
        break;
      case ChWire::kEnum8:
      case ChWire::kEnum16:
        p.conv = Conv::kEnum;
        break;
      case ChWire::kNothing:
        p.conv = Conv::kNothing;
        break;
      case ChWire::kFloat32:
      case ChWire::kFloat64:
        p.conv = SameRepresentation(w.wire, id) ? Conv::kCopy : Conv::kFloatWiden;
        break;
      case ChWire::kDecimal32:
      case ChWire::kDecimal64:
      case ChWire::kDecimal128:
        p.conv = Conv::kDecimal;
        p.factor = Pow10(c.type.scale - w.scale);
        p.hi = MaxDecimalMagnitude(c.type.precision);
        p.lo = -p.hi;
        break;
      default:  // integers and Bool
        if (id == TypeId::kDecimal) {
          p.conv = Conv::kDecimal;
          p.factor = Pow10(c.type.scale);
          p.hi = MaxDecimalMagnitude(c.type.precision);
          p.lo = -p.hi;
        } else if (SameRepresentation(w.wire, id)) {
          p.conv = Conv::kCopy;
        } else if (w.wire == ChWire::kBool && id == TypeId::kBool) {
          p.conv = Conv::kBool;
        } else {
          p.conv = Conv::kInt;
          IntegerTargetRange(id, &p.lo, &p.hi);
        }
        break;
    }
    plans.push_back(p);
  }
  return RowBinaryDecoder(std::move(columns), std::move(plans), std::move(name));
}

Status RowBinaryDecoder::Fail(int col, const std::string& what) const {
  const ChReadColumn& c = columns_[static_cast<size_t>(col)];
  return Status::InvalidData(name_ + ": row " + std::to_string(rows_ + 1) + " column \"" + c.name +
                             "\" (" + c.wire.text + "): " + what);
}

Result<size_t> RowBinaryDecoder::RowSize(std::string_view data) const {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  const size_t n = data.size();
  if (fixed_row_size_ != 0) return n >= fixed_row_size_ ? fixed_row_size_ : 0;
  size_t pos = 0;
  for (size_t c = 0; c < plans_.size(); ++c) {
    const Plan& plan = plans_[c];
    if (plan.nullable) {
      if (pos >= n) return 0;
      const uint8_t flag = p[pos++];
      if (flag == 1) continue;
      if (flag != 0) {
        return Fail(static_cast<int>(c), "bad Nullable flag byte " + ByteHex(flag) +
                                             " (not 0 or 1): the stream is "
                                             "corrupt or not RowBinary of these columns");
      }
    }
    if (plan.width > 0) {
      if (n - pos < static_cast<size_t>(plan.width)) return 0;
      pos += static_cast<size_t>(plan.width);
      continue;
    }
    uint64_t len = 0;
    const int k = ReadVarUInt(p + pos, n - pos, &len);
    if (k == 0) return 0;
    if (k < 0) return Fail(static_cast<int>(c), "malformed string length (LEB128 over 64 bits)");
    if (len > kMaxChValueBytes) {
      return Fail(static_cast<int>(c), "a value of " + std::to_string(len) +
                                           " bytes, more than the " +
                                           std::to_string(kMaxChValueBytes) + " accepted");
    }
    pos += static_cast<size_t>(k);
    if (n - pos < len) return 0;
    pos += static_cast<size_t>(len);
  }
  return pos;
}

Status RowBinaryDecoder::DecodeRow(const uint8_t* p, BatchBuilder* out) {
  for (size_t c = 0; c < plans_.size(); ++c) {
    const Plan& plan = plans_[c];
    ColumnBuilder& b = out->column(static_cast<int>(c));
    const int col = static_cast<int>(c);
    if (plan.nullable) {
      if (*p++ == 1) {
        b.AppendNull();
        continue;
      }
    }
    std::string_view bytes;
    if (plan.width == 0) {
      uint64_t len = 0;
      const int k = ReadVarUInt(p, 10, &len);  // RowSize checked it
      p += k;
      bytes = std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(len));
      p += len;
    } else {
      bytes = std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(plan.width));
      p += plan.width;
    }
    const auto* v = reinterpret_cast<const uint8_t*>(bytes.data());
    switch (plan.conv) {
      case Conv::kCopy:
        switch (plan.width) {
          case 1:
            b.AppendFixed<uint8_t>(Load<uint8_t>(v));
            break;
          case 2:
            b.AppendFixed<uint16_t>(Load<uint16_t>(v));
            break;
          case 4:
            b.AppendFixed<uint32_t>(Load<uint32_t>(v));
            break;
          default:
            b.AppendFixed<uint64_t>(Load<uint64_t>(v));
            break;
        }
        break;
      case Conv::kInt: {
        bool overflow = false;
        const int128_t x = LoadInteger(v, plan.width, plan.wire_signed, &overflow);
        if (overflow || x < plan.lo || x > plan.hi) {
          const TypeId id = b.type().id;
          std::string what = overflow ? std::string("a UInt128 value above 2^127") : Int128Text(x);
          if (id == TypeId::kDate) what = DaysText(x) + " (" + Int128Text(x) + " days)";
          return Fail(col, "value " + what + " is outside the range of " + b.type().ToString() +
                               " (" + Int128Text(plan.lo) + ".." + Int128Text(plan.hi) + ")");
        }
        switch (b.type().id) {
          case TypeId::kInt8:
            b.AppendFixed<int8_t>(static_cast<int8_t>(x));
            break;
          case TypeId::kUInt8:
            b.AppendFixed<uint8_t>(static_cast<uint8_t>(x));
            break;
          case TypeId::kInt16:
            b.AppendFixed<int16_t>(static_cast<int16_t>(x));
            break;
          case TypeId::kUInt16:
            b.AppendFixed<uint16_t>(static_cast<uint16_t>(x));
            break;
          case TypeId::kInt32:
          case TypeId::kDate:
            b.AppendFixed<int32_t>(static_cast<int32_t>(x));
            break;
          case TypeId::kUInt32:
            b.AppendFixed<uint32_t>(static_cast<uint32_t>(x));
            break;
          case TypeId::kUInt64:
            b.AppendFixed<uint64_t>(static_cast<uint64_t>(x));
            break;
          case TypeId::kBool:
            b.AppendBool(x != 0);
            break;
          default:
            b.AppendFixed<int64_t>(static_cast<int64_t>(x));
            break;  // int64, time, timestamp
        }
        break;
      }
      case Conv::kFloatWiden:
        b.AppendFixed<double>(static_cast<double>(Load<float>(v)));
        break;
      case Conv::kDecimal: {
        bool overflow = false;
        const int128_t x = LoadInteger(v, plan.width, plan.wire_signed, &overflow);
        const int128_t limit = plan.hi / plan.factor;
        if (overflow || x > limit || x < -limit) {
          const int scale = columns_[c].wire.scale;
          return Fail(col, "value " +
                               (overflow ? std::string("above 2^127") : FormatDecimal(x, scale)) +
                               " does not fit " + b.type().ToString());
        }
        b.AppendFixed<int128_t>(x * plan.factor);
        break;
      }
      case Conv::kBool:
        if (v[0] > 1) return Fail(col, "Bool byte " + ByteHex(v[0]) + " is neither 0 nor 1");
        b.AppendBool(v[0] != 0);
        break;
      case Conv::kUtf8:
        if (!IsValidUtf8(bytes)) {
          return Fail(col,
                      "invalid UTF-8 in a String value (read the column as binary: "
                      "types=" +
                          columns_[c].name + ":binary)");
        }
        b.AppendBytes(bytes);
        break;
      case Conv::kBytes:
      case Conv::kFixedBytes:
        b.AppendBytes(bytes);
        break;
      case Conv::kFixedText: {
        std::string_view s = bytes;
        while (!s.empty() && s.back() == '\0') s.remove_suffix(1);
        if (!IsValidUtf8(s)) {
          return Fail(col, "invalid UTF-8 in a FixedString value read as string");
        }
        b.AppendBytes(s);
        break;
      }
      case Conv::kParse: {
        Status st = AppendParsedText(bytes, &b);
        if (!st.ok()) return Fail(col, st.message());
        break;
      }
      case Conv::kFixedUuid:
        b.AppendFixedBytes(v, 16);
        break;
      case Conv::kUuid: {
        // Two little-endian UInt64 halves: each half byte-reversed.
        uint8_t u[16];
        for (int i = 0; i < 8; ++i) {
          u[i] = v[7 - i];
          u[8 + i] = v[15 - i];
        }
        b.AppendFixedBytes(u, 16);
        break;
      }
      case Conv::kDate:
        b.AppendFixed<int32_t>(int32_t{Load<uint16_t>(v)});
        break;
      case Conv::kDate32: {
        const int32_t d = Load<int32_t>(v);
        if (d < kMinDate || d > kMaxDate) {
          return Fail(col, "day " + std::to_string(d) + " is outside 0001-01-01..9999-12-31");
        }
        b.AppendFixed<int32_t>(d);
        break;
      }
      case Conv::kDateTime:
        b.AppendFixed<int64_t>(int64_t{Load<uint32_t>(v)} * kMicrosPerSecond);
        break;
      case Conv::kDateTime64: {
        const int64_t ticks = Load<int64_t>(v);
        int128_t us;
        if (plan.divide) {
          if (ticks % static_cast<int64_t>(plan.factor) != 0) {
            return Fail(col,
                        "value " + std::to_string(ticks) +
                            " has digits finer than a "
                            "microsecond, which sluice timestamps do not hold (read it as text: "
                            "types=" +
                            columns_[c].name + ":string)");
          }
          us = ticks / static_cast<int64_t>(plan.factor);
        } else {
          us = int128_t{ticks} * plan.factor;
        }
        if (us < plan.lo || us > plan.hi) {
          return Fail(col, "value " + std::to_string(ticks) +
                               " is outside the years 0001..9999 of sluice timestamps");
        }
        b.AppendFixed<int64_t>(static_cast<int64_t>(us));
        break;
      }
      case Conv::kEnum: {
        const int16_t x = plan.width == 1 ? int16_t{Load<int8_t>(v)} : Load<int16_t>(v);
        const auto& values = columns_[c].wire.enum_values;
        auto it = std::lower_bound(values.begin(), values.end(), x,
                                   [](const auto& e, int16_t k) { return e.first < k; });
        if (it == values.end() || it->first != x) {
          return Fail(col, "value " + std::to_string(x) + " is not one of the Enum's values");
        }
        if (b.type().id != TypeId::kString) {
          return Fail(col, "Enum values can only be read as string");
        }
        if (!IsValidUtf8(it->second)) return Fail(col, "Enum name is not valid UTF-8");
        b.AppendBytes(it->second);
        break;
      }
      case Conv::kNothing:
        return Fail(col, "a non-NULL value of type Nothing");
    }
  }
  return Status::OK();
}

Result<RowBinaryDecoder::Outcome> RowBinaryDecoder::Decode(std::string_view data, bool at_end,
                                                           BatchBuilder* out, int64_t max_rows,
                                                           int64_t max_bytes) {
  if (out->num_columns() != static_cast<int>(plans_.size())) {
    return Status::Internal(name_ + ": the batch builder has " +
                            std::to_string(out->num_columns()) + " columns, the stream " +
                            std::to_string(plans_.size()));
  }
  Outcome o;
  while (true) {
    if (out->num_rows() >= max_rows || out->ByteSize() >= max_bytes) {
      o.stop = Stop::kBatchFull;
      return o;
    }
    const std::string_view rest = data.substr(o.consumed);
    if (rest.empty()) {
      o.stop = Stop::kNeedMore;
      return o;
    }
    if (!accept_suspect_) {
      const ChExceptionMatch m = MatchChExceptionStart(rest);
      if (m == ChExceptionMatch::kYes) {
        o.stop = Stop::kSuspect;
        return o;
      }
      if (m == ChExceptionMatch::kNeedMore && !at_end) {
        o.stop = Stop::kNeedMore;
        return o;
      }
    }
    SLUICE_ASSIGN_OR_RETURN(size_t size, RowSize(rest));
    if (size == 0) {
      o.stop = Stop::kNeedMore;
      return o;
    }
    SLUICE_RETURN_NOT_OK(DecodeRow(reinterpret_cast<const uint8_t*>(rest.data()), out));
    accept_suspect_ = false;
    ++rows_;
    o.consumed += size;
  }
}

Status RowBinaryDecoder::EndError(std::string_view rest) const {
  const bool at_start = MatchChExceptionStart(rest) == ChExceptionMatch::kYes;
  // The text may also sit after bytes the decoder could not place (a server
  // that ended a row early): look for it in the tail.
  size_t at = at_start ? 0 : std::string_view::npos;
  if (!at_start) {
    const size_t from = rest.size() > kMaxChExceptionBytes ? rest.size() - kMaxChExceptionBytes : 0;
    const size_t code = rest.find("Code: ", from);
    if (code != std::string_view::npos &&
        MatchChExceptionStart(rest.substr(code)) == ChExceptionMatch::kYes) {
      at = code;
    }
  }
  if (at != std::string_view::npos) {
    const ChServerError err = ParseChException(rest.substr(at));
    return Status::IOError(
        name_ + ": the server failed after sending " + std::to_string(rows_) + " rows: " +
        (err.code != 0 ? "server error " + std::to_string(err.code) + ": " : "") + err.message);
  }
  return Status::InvalidData(name_ + ": the stream ended inside row " + std::to_string(rows_ + 1) +
                             " (" + std::to_string(rest.size()) +
                             " bytes left over): truncated, or not RowBinary of the expected "
                             "columns");
}

}  // namespace sluice
