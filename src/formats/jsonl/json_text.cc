#include "formats/jsonl/json_text.h"

#include "core/utf8.h"
#include "formats/csv/text_common.h"

namespace sluice::jsonl {

namespace {
constexpr char kHex[] = "0123456789abcdef";

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads 4 hex digits at p (p + 4 <= end checked by the caller).
int Hex4(const char* p) {
  int v = 0;
  for (int i = 0; i < 4; ++i) {
    int h = HexDigit(p[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

bool IsNumberChar(char c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}
}  // namespace

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  const char* p = s.data();
  const char* const end = p + s.size();
  const char* run = p;
  while (p < end) {
    while (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      const uint64_t m = internal::JsonSpecialBytes(w);
      if (m != 0) {
        p += __builtin_ctzll(m) >> 3;
        break;
      }
      p += 8;
    }
    if (p >= end) break;
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c != '"' && c != '\\' && c >= 0x20) {
      ++p;
      continue;
    }
    out->append(run, p);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
    }
    run = ++p;
  }
  out->append(run, end);
  out->push_back('"');
}

Status AppendCompactJson(std::string_view text, std::string* out) {
  if (!IsValidUtf8(text)) return Status::InvalidData("invalid UTF-8 in JSON value");
  const size_t mark = out->size();
  internal::JsonScanner sc(text.data(), text.data() + text.size());
  sc.SkipWs();
  Status st = sc.ParseValue(out);
  if (st.ok()) {
    sc.SkipWs();
    if (!sc.AtEnd()) st = sc.Error("unexpected text after the value");
  }
  if (!st.ok()) out->resize(mark);
  return st;
}

namespace internal {

Status JsonScanner::Error(std::string_view what) const {
  std::string msg = "invalid JSON at byte " + std::to_string(p_ - begin_ + 1) + ": ";
  msg += what;
  return Status::InvalidData(std::move(msg));
}

Status JsonScanner::ParseString(std::string_view* out, std::string* scratch) {
  const char* const start = ++p_;  // past the opening quote
  for (;;) {
    while (end_ - p_ >= 8) {
      uint64_t w;
      std::memcpy(&w, p_, 8);
      const uint64_t m = JsonSpecialBytes(w);
      if (m != 0) {
        p_ += __builtin_ctzll(m) >> 3;
        break;
      }
      p_ += 8;
    }
    if (p_ >= end_) return Error("unterminated string");
    const unsigned char c = static_cast<unsigned char>(*p_);
    if (c == '"') {
      *out = std::string_view(start, static_cast<size_t>(p_ - start));
      ++p_;
      return Status::OK();
    }
    if (c == '\\') return ParseStringSlow(start, out, scratch);
    if (c < 0x20) return Error("unescaped control character in string");
    ++p_;
  }
}

Status JsonScanner::ParseStringSlow(const char* start, std::string_view* out,
                                    std::string* scratch) {
  scratch->assign(start, p_);
  for (;;) {
    if (p_ >= end_) return Error("unterminated string");
    const unsigned char c = static_cast<unsigned char>(*p_);
    if (c == '"') {
      ++p_;
      *out = *scratch;
      return Status::OK();
    }
    if (c < 0x20) return Error("unescaped control character in string");
    if (c != '\\') {
      const char* run = p_;
      while (p_ < end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20) ++p_;
      scratch->append(run, p_);
      continue;
    }
    if (end_ - p_ < 2) return Error("unterminated string");
    const char e = p_[1];
    p_ += 2;
    switch (e) {
      case '"': scratch->push_back('"'); break;
      case '\\': scratch->push_back('\\'); break;
      case '/': scratch->push_back('/'); break;
      case 'b': scratch->push_back('\b'); break;
      case 'f': scratch->push_back('\f'); break;
      case 'n': scratch->push_back('\n'); break;
      case 'r': scratch->push_back('\r'); break;
      case 't': scratch->push_back('\t'); break;
      case 'u': {
        if (end_ - p_ < 4) return Error("truncated \\u escape");
        int cp = Hex4(p_);
        if (cp < 0) return Error("invalid \\u escape");
        p_ += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return Error("unpaired surrogate in \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u') {
            return Error("unpaired surrogate in \\u escape");
          }
          int lo = Hex4(p_ + 2);
          if (lo < 0xDC00 || lo > 0xDFFF) return Error("unpaired surrogate in \\u escape");
          p_ += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        AppendUtf8(static_cast<uint32_t>(cp), scratch);
        break;
      }
      default:
        p_ -= 2;  // point at the backslash
        return Error("invalid escape in string");
    }
  }
}

Status JsonScanner::ScanNumber(std::string_view* token) {
  const char* start = p_;
  while (p_ < end_ && IsNumberChar(*p_)) ++p_;
  *token = std::string_view(start, static_cast<size_t>(p_ - start));
  if (!textcodec::ParseNumberShape(*token, nullptr)) {
    p_ = start;
    return Error("invalid number " + textcodec::QuoteForError(*token));
  }
  return Status::OK();
}

Status JsonScanner::ExpectLiteral(std::string_view lit) {
  if (static_cast<size_t>(end_ - p_) < lit.size() || std::memcmp(p_, lit.data(), lit.size()) != 0) {
    return Error("invalid literal");
  }
  p_ += lit.size();
  return Status::OK();
}

Status JsonScanner::ParseValue(std::string* out, int depth) {
  if (p_ >= end_) return Error("expected a value");
  switch (*p_) {
    case '{':
    case '[': {
      const bool object = *p_ == '{';
      const char close = object ? '}' : ']';
      if (depth >= kMaxJsonDepth) return Error("nesting deeper than 256 levels");
      if (out) out->push_back(*p_);
      ++p_;
      SkipWs();
      if (Consume(close)) {
        if (out) out->push_back(close);
        return Status::OK();
      }
      for (;;) {
        if (object) {
          if (p_ >= end_ || *p_ != '"') return Error("expected a key string");
          const char* s = p_;
          std::string_view key;
          SLUICE_RETURN_NOT_OK(ParseString(&key, &scratch_));
          if (out) out->append(s, p_);
          SkipWs();
          if (!Consume(':')) return Error("expected ':'");
          if (out) out->push_back(':');
          SkipWs();
        }
        SLUICE_RETURN_NOT_OK(ParseValue(out, depth + 1));
        SkipWs();
        if (Consume(',')) {
          if (out) out->push_back(',');
          SkipWs();
          continue;
        }
        if (Consume(close)) {
          if (out) out->push_back(close);
          return Status::OK();
        }
        return Error(object ? "expected ',' or '}'" : "expected ',' or ']'");
      }
    }
    case '"': {
      const char* s = p_;
      std::string_view v;
      SLUICE_RETURN_NOT_OK(ParseString(&v, &scratch_));
      if (out) out->append(s, p_);
      return Status::OK();
    }
    case 't':
      SLUICE_RETURN_NOT_OK(ExpectLiteral("true"));
      if (out) out->append("true");
      return Status::OK();
    case 'f':
      SLUICE_RETURN_NOT_OK(ExpectLiteral("false"));
      if (out) out->append("false");
      return Status::OK();
    case 'n':
      SLUICE_RETURN_NOT_OK(ExpectLiteral("null"));
      if (out) out->append("null");
      return Status::OK();
    default: {
      const char c = *p_;
      if (c == '-' || (c >= '0' && c <= '9')) {
        std::string_view tok;
        SLUICE_RETURN_NOT_OK(ScanNumber(&tok));
        if (out) out->append(tok);
        return Status::OK();
      }
      return Error("unexpected character");
    }
  }
}

}  // namespace internal
}  // namespace sluice::jsonl
