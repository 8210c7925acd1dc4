#include "connectors/clickhouse/ch_protocol.h"

#include <cctype>
#include <charconv>
#include <cstring>

namespace sluice {

namespace {

void AppendQuoted(std::string_view text, char quote, std::string* out) {
  static const char* kHex = "0123456789ABCDEF";
  out->push_back(quote);
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '\\' || ch == quote) {
      out->push_back('\\');
      out->push_back(ch);
    } else if (c < 0x20 || c == 0x7F) {
      out->append("\\x");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    } else {
      out->push_back(ch);
    }
  }
  out->push_back(quote);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool ParseInt(std::string_view s, int64_t* out) {
  s = Trim(s);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string ChQuoteIdent(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  AppendQuoted(name, '`', &out);
  return out;
}

std::string ChQuoteString(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  AppendQuoted(text, '\'', &out);
  return out;
}

Result<std::vector<TsvRow>> ParseTsv(std::string_view body, size_t columns) {
  std::vector<TsvRow> rows;
  if (columns == 0) return Status::InvalidArgument("TabSeparated: zero columns requested");
  size_t pos = 0;
  const size_t n = body.size();
  while (pos < n) {
    TsvRow row;
    row.reserve(columns);
    while (true) {
      // One field: up to a tab or a newline.
      std::string field;
      bool is_null = false;
      const size_t start = pos;
      while (pos < n && body[pos] != '\t' && body[pos] != '\n') {
        char ch = body[pos++];
        if (ch != '\\') {
          field.push_back(ch);
          continue;
        }
        if (pos >= n) return Status::InvalidData("TabSeparated: backslash at the end of the data");
        char e = body[pos++];
        switch (e) {
          case 'b':
            field.push_back('\b');
            break;
          case 'f':
            field.push_back('\f');
            break;
          case 'n':
            field.push_back('\n');
            break;
          case 'r':
            field.push_back('\r');
            break;
          case 't':
            field.push_back('\t');
            break;
          case '0':
            field.push_back('\0');
            break;
          case 'a':
            field.push_back('\a');
            break;
          case 'v':
            field.push_back('\v');
            break;
          case 'N':
            // \N is NULL only as the whole field.
            if (pos - start != 2 || (pos < n && body[pos] != '\t' && body[pos] != '\n')) {
              return Status::InvalidData("TabSeparated: \\N inside a field at byte " +
                                         std::to_string(start));
            }
            is_null = true;
            break;
          default:
            field.push_back(e);
            break;  // \\ \' \" and any other escaped byte
        }
      }
      if (is_null)
        row.push_back(std::nullopt);
      else
        row.push_back(std::move(field));
      if (row.size() > columns) {
        return Status::InvalidData("TabSeparated: row " + std::to_string(rows.size() + 1) +
                                   " has more than " + std::to_string(columns) + " fields");
      }
      if (pos >= n) {
        return Status::InvalidData("TabSeparated: row " + std::to_string(rows.size() + 1) +
                                   " is not terminated by a newline");
      }
      if (body[pos++] == '\n') break;
    }
    if (row.size() != columns) {
      return Status::InvalidData("TabSeparated: row " + std::to_string(rows.size() + 1) + " has " +
                                 std::to_string(row.size()) + " fields, expected " +
                                 std::to_string(columns));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

ChServerError ParseChException(std::string_view body) {
  ChServerError err;
  std::string_view s = Trim(body);
  // Servers may prefix the text (proxies, a partial result before the error).
  size_t at = s.find("Code: ");
  std::string_view rest = s;
  if (at != std::string_view::npos) {
    rest = s.substr(at + 6);
    size_t digits = 0;
    while (digits < rest.size() && digits < 9 &&
           std::isdigit(static_cast<unsigned char>(rest[digits]))) {
      ++digits;
    }
    int64_t code = 0;
    if (digits > 0 && ParseInt(rest.substr(0, digits), &code)) err.code = static_cast<int>(code);
    rest = rest.substr(digits);
  }
  // 18.x: ", e.displayText() = DB::Exception: MSG, e.what() = DB::Exception"
  // newer: ". DB::Exception: MSG. (NAME) (version X)"
  std::string_view msg = rest;
  constexpr std::string_view kDisplay = "e.displayText() = ";
  if (size_t d = msg.find(kDisplay); d != std::string_view::npos) {
    msg = msg.substr(d + kDisplay.size());
    if (size_t w = msg.rfind(", e.what() = "); w != std::string_view::npos) msg = msg.substr(0, w);
  } else if (!msg.empty() && (msg.front() == '.' || msg.front() == ',')) {
    msg.remove_prefix(1);
  }
  msg = Trim(msg);
  constexpr std::string_view kPrefix = "DB::Exception: ";
  if (msg.substr(0, kPrefix.size()) == kPrefix) msg.remove_prefix(kPrefix.size());
  if (size_t v = msg.rfind(" (version "); v != std::string_view::npos && msg.back() == ')') {
    msg = Trim(msg.substr(0, v));
  }
  // Keep messages one line and bounded: bodies can carry stack traces.
  std::string out;
  for (char ch : msg) {
    if (out.size() >= 2000) {
      out += "...";
      break;
    }
    out.push_back(ch == '\n' || ch == '\r' ? ' ' : ch);
  }
  err.message = std::string(Trim(out));
  if (err.message.empty()) err.message = "(empty error message)";
  return err;
}

bool IsRetryableChError(int code) {
  switch (code) {
    case 159:  // TIMEOUT_EXCEEDED
    case 160:  // TOO_SLOW
    case 164:  // READONLY (a replica temporarily read-only)
    case 202:  // TOO_MANY_SIMULTANEOUS_QUERIES
    case 203:  // NO_FREE_CONNECTION
    case 209:  // SOCKET_TIMEOUT
    case 210:  // NETWORK_ERROR
    case 216:  // QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING
    case 241:  // MEMORY_LIMIT_EXCEEDED
    case 242:  // TABLE_IS_READ_ONLY
    case 252:  // TOO_MANY_PARTS
    case 285:  // TOO_FEW_LIVE_REPLICAS
    case 319:  // UNKNOWN_STATUS_OF_INSERT
    case 425:  // SYSTEM_ERROR
    case 473:  // DEADLOCK_AVOIDED
    case 999:  // KEEPER_EXCEPTION
      return true;
    default:
      return false;
  }
}

Result<ChVersion> ParseChVersion(std::string_view text) {
  ChVersion v;
  std::string_view s = Trim(text);
  v.text = std::string(s);
  int parts[3] = {0, 0, 0};
  int found = 0;
  size_t i = 0;
  while (found < 3 && i < s.size()) {
    size_t j = i;
    while (j < s.size() && j - i < 6 && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    int64_t value = 0;
    if (j == i || !ParseInt(s.substr(i, j - i), &value)) break;
    parts[found++] = static_cast<int>(value);
    if (j >= s.size() || s[j] != '.') break;
    i = j + 1;
  }
  if (found < 2)
    return Status::InvalidData("unrecognized ClickHouse version '" + v.text.substr(0, 80) + "'");
  v.major = parts[0];
  v.minor = parts[1];
  v.patch = parts[2];
  return v;
}

ChSummary ParseChSummary(std::string_view header_value) {
  ChSummary out;
  constexpr std::string_view kKey = "\"written_rows\"";
  size_t k = header_value.find(kKey);
  if (k == std::string_view::npos) return out;
  std::string_view rest = header_value.substr(k + kKey.size());
  size_t i = 0;
  while (i < rest.size() && (rest[i] == ' ' || rest[i] == ':' || rest[i] == '"')) ++i;
  size_t j = i;
  while (j < rest.size() && j - i < 19 && std::isdigit(static_cast<unsigned char>(rest[j]))) ++j;
  int64_t value = 0;
  if (j > i && ParseInt(rest.substr(i, j - i), &value)) out.written_rows = value;
  return out;
}

// ---------------------------------------------------------------------------
// Type names

namespace {

constexpr int kMaxTypeDepth = 32;

// Splits "Name(arg, arg, ...)" into the name and its top-level arguments
// (texts, trimmed). Quotes and nested parentheses inside an argument are
// skipped over, so "Enum8('a,b)' = 1)" has one argument.
Status SplitType(std::string_view text, std::string_view* name, std::vector<std::string_view>* args,
                 bool* has_parens) {
  text = Trim(text);
  size_t i = 0;
  while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_'))
    ++i;
  *name = text.substr(0, i);
  if (name->empty())
    return Status::InvalidData("type name expected in '" + std::string(text.substr(0, 80)) + "'");
  std::string_view rest = Trim(text.substr(i));
  *has_parens = false;
  args->clear();
  if (rest.empty()) return Status::OK();
  if (rest.front() != '(' || rest.back() != ')') {
    return Status::InvalidData("unexpected text after the type name in '" +
                               std::string(text.substr(0, 80)) + "'");
  }
  *has_parens = true;
  std::string_view inner = rest.substr(1, rest.size() - 2);
  int depth = 0;
  size_t arg_start = 0;
  for (size_t p = 0; p < inner.size(); ++p) {
    char ch = inner[p];
    if (ch == '\'' || ch == '`' || ch == '"') {
      const char quote = ch;
      ++p;
      while (p < inner.size() && inner[p] != quote) {
        if (inner[p] == '\\') ++p;
        ++p;
      }
      if (p >= inner.size())
        return Status::InvalidData("unterminated quote in type '" +
                                   std::string(text.substr(0, 80)) + "'");
    } else if (ch == '(') {
      if (++depth > kMaxTypeDepth) return Status::InvalidData("type nested too deeply");
    } else if (ch == ')') {
      if (--depth < 0)
        return Status::InvalidData("unbalanced ')' in type '" + std::string(text.substr(0, 80)) +
                                   "'");
    } else if (ch == ',' && depth == 0) {
      args->push_back(Trim(inner.substr(arg_start, p - arg_start)));
      arg_start = p + 1;
    }
  }
  if (depth != 0)
    return Status::InvalidData("unbalanced '(' in type '" + std::string(text.substr(0, 80)) + "'");
  args->push_back(Trim(inner.substr(arg_start)));
  return Status::OK();
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Status ParseTypeRec(std::string_view text, int depth, ChType* t) {
  if (depth > kMaxTypeDepth) return Status::InvalidData("type nested too deeply");
  std::string_view name;
  std::vector<std::string_view> args;
  bool parens = false;
  SLUICE_RETURN_NOT_OK(SplitType(text, &name, &args, &parens));
  auto no_args = [&](ChKind k) -> Status {
    t->kind = parens ? ChKind::kOther : k;
    return Status::OK();
  };
  auto bad = [&](const char* what) {
    return Status::InvalidData(std::string(what) + " in type '" + std::string(text.substr(0, 80)) +
                               "'");
  };
  if (name == "Nullable" || name == "LowCardinality") {
    if (args.size() != 1) return bad("one argument expected");
    if (name == "Nullable")
      t->nullable = true;
    else
      t->low_cardinality = true;
    return ParseTypeRec(args[0], depth + 1, t);
  }
  struct Simple {
    std::string_view name;
    ChKind kind;
  };
  static constexpr Simple kSimple[] = {
      {"Int8", ChKind::kInt8},       {"Int16", ChKind::kInt16},   {"Int32", ChKind::kInt32},
      {"Int64", ChKind::kInt64},     {"UInt8", ChKind::kUInt8},   {"UInt16", ChKind::kUInt16},
      {"UInt32", ChKind::kUInt32},   {"UInt64", ChKind::kUInt64}, {"Float32", ChKind::kFloat32},
      {"Float64", ChKind::kFloat64}, {"Bool", ChKind::kBool},     {"String", ChKind::kString},
      {"UUID", ChKind::kUuid},       {"Date", ChKind::kDate},     {"Date32", ChKind::kDate32},
  };
  for (const Simple& s : kSimple) {
    if (name == s.name) return no_args(s.kind);
  }
  int64_t a = 0, b = 0;
  if (name == "Decimal") {
    if (args.size() != 2 || !ParseInt(args[0], &a) || !ParseInt(args[1], &b))
      return bad("Decimal(P, S) expected");
    if (a < 1 || b < 0 || b > a) return bad("bad Decimal precision/scale");
    t->kind = a <= 38 ? ChKind::kDecimal : ChKind::kOther;
    t->precision = static_cast<int>(a);
    t->scale = static_cast<int>(b);
    return Status::OK();
  }
  if (name == "Decimal32" || name == "Decimal64" || name == "Decimal128" || name == "Decimal256") {
    if (args.size() != 1 || !ParseInt(args[0], &b)) return bad("DecimalN(S) expected");
    a = name == "Decimal32" ? 9 : name == "Decimal64" ? 18 : name == "Decimal128" ? 38 : 76;
    if (b < 0 || b > a) return bad("bad Decimal scale");
    t->kind = a <= 38 ? ChKind::kDecimal : ChKind::kOther;
    t->precision = static_cast<int>(a);
    t->scale = static_cast<int>(b);
    return Status::OK();
  }
  if (name == "FixedString") {
    if (args.size() != 1 || !ParseInt(args[0], &a) || a < 1 || a > (1 << 30))
      return bad("FixedString(N) expected");
    t->kind = ChKind::kFixedString;
    t->fixed_size = static_cast<int>(a);
    return Status::OK();
  }
  if (name == "DateTime") {
    t->kind = ChKind::kDateTime;
    if (!parens) return Status::OK();
    if (args.size() != 1 || !ChUnquoteString(args[0], &t->timezone))
      return bad("DateTime('zone') expected");
    return Status::OK();
  }
  if (name == "DateTime64") {
    if (args.empty() || args.size() > 2 || !ParseInt(args[0], &a) || a < 0 || a > 9) {
      return bad("DateTime64(precision[, 'zone']) expected");
    }
    t->kind = ChKind::kDateTime64;
    t->precision = static_cast<int>(a);
    if (args.size() == 2 && !ChUnquoteString(args[1], &t->timezone))
      return bad("DateTime64 zone expected");
    return Status::OK();
  }
  // Well-formed but not a type the sink writes (Array, Map, Enum8, IPv4, ...).
  t->kind = ChKind::kOther;
  return Status::OK();
}

const char* KindName(ChKind k) {
  switch (k) {
    case ChKind::kInt8:
      return "Int8";
    case ChKind::kInt16:
      return "Int16";
    case ChKind::kInt32:
      return "Int32";
    case ChKind::kInt64:
      return "Int64";
    case ChKind::kUInt8:
      return "UInt8";
    case ChKind::kUInt16:
      return "UInt16";
    case ChKind::kUInt32:
      return "UInt32";
    case ChKind::kUInt64:
      return "UInt64";
    case ChKind::kFloat32:
      return "Float32";
    case ChKind::kFloat64:
      return "Float64";
    case ChKind::kDecimal:
      return "Decimal";
    case ChKind::kBool:
      return "Bool";
    case ChKind::kString:
      return "String";
    case ChKind::kFixedString:
      return "FixedString";
    case ChKind::kUuid:
      return "UUID";
    case ChKind::kDate:
      return "Date";
    case ChKind::kDate32:
      return "Date32";
    case ChKind::kDateTime:
      return "DateTime";
    case ChKind::kDateTime64:
      return "DateTime64";
    case ChKind::kOther:
      return "?";
  }
  return "?";
}

}  // namespace

Result<ChType> ParseChType(std::string_view text) {
  if (text.size() > kMaxChTypeBytes) {
    return Status::InvalidData("type name longer than " + std::to_string(kMaxChTypeBytes) +
                               " bytes");
  }
  ChType t;
  t.text = std::string(Trim(text));
  SLUICE_RETURN_NOT_OK(ParseTypeRec(text, 0, &t));
  return t;
}

std::string ChTypeName(const ChType& type) {
  std::string inner = KindName(type.kind);
  switch (type.kind) {
    case ChKind::kDecimal:
      inner += "(" + std::to_string(type.precision) + ", " + std::to_string(type.scale) + ")";
      break;
    case ChKind::kFixedString:
      inner += "(" + std::to_string(type.fixed_size) + ")";
      break;
    case ChKind::kDateTime:
      if (!type.timezone.empty()) inner += "(" + ChQuoteString(type.timezone) + ")";
      break;
    case ChKind::kDateTime64:
      inner += "(" + std::to_string(type.precision);
      if (!type.timezone.empty()) inner += ", " + ChQuoteString(type.timezone);
      inner += ")";
      break;
    case ChKind::kOther:
      return type.text;
    default:
      break;
  }
  if (type.nullable) inner = "Nullable(" + inner + ")";
  if (type.low_cardinality) inner = "LowCardinality(" + inner + ")";
  return inner;
}

// A single-quoted literal ('UTC' → UTC), with the escapes ClickHouse (and
// ChQuoteString) use: \xHH, \b \f \n \r \t \0 \a \v, and a backslash
// before any other byte standing for that byte.
bool ChUnquoteString(std::string_view s, std::string* out) {
  s = Trim(s);
  if (s.size() < 2 || s.front() != '\'' || s.back() != '\'') return false;
  s = s.substr(1, s.size() - 2);
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out->push_back(s[i]);
      continue;
    }
    if (++i >= s.size()) return false;
    const char e = s[i];
    switch (e) {
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case '0':
        out->push_back('\0');
        break;
      case 'a':
        out->push_back('\a');
        break;
      case 'v':
        out->push_back('\v');
        break;
      case 'x': {
        const int hi = i + 1 < s.size() ? HexDigit(s[i + 1]) : -1;
        const int lo = i + 2 < s.size() ? HexDigit(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) return false;
        out->push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        break;
      }
      default:
        out->push_back(e);
        break;
    }
  }
  return true;
}

}  // namespace sluice
