#include "formats/tdtp/xml_scan.h"

#include "formats/tdtp/tdtp_internal.h"

#include <algorithm>
#include <cstring>

namespace sluice::tdtp::internal {

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool StartsWith(std::string_view s, size_t pos, std::string_view prefix) {
  return s.size() - pos >= prefix.size() && s.compare(pos, prefix.size(), prefix) == 0;
}

std::string_view LocalName(std::string_view qname) {
  size_t colon = qname.rfind(':');
  return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

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

// The characters XML 1.0 allows (what Go's encoding/xml accepts in a
// character reference).
bool IsXmlChar(uint32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

Status BadEntity(std::string_view ent) {
  std::string shown(ent.substr(0, 16));
  return Status::InvalidData("malformed XML: invalid entity '&" + shown + "'");
}

// Decodes the entity starting after '&' at raw[i]; returns the index after ';'.
Status DecodeEntity(std::string_view raw, size_t* i, std::string* out) {
  size_t start = *i;  // first char after '&'
  size_t limit = std::min(raw.size(), start + 12);
  size_t semi = start;
  while (semi < limit && raw[semi] != ';') ++semi;
  if (semi >= limit) return BadEntity(raw.substr(start, limit - start));
  std::string_view ent = raw.substr(start, semi - start);
  *i = semi + 1;
  if (ent == "lt") return out->push_back('<'), Status::OK();
  if (ent == "gt") return out->push_back('>'), Status::OK();
  if (ent == "amp") return out->push_back('&'), Status::OK();
  if (ent == "quot") return out->push_back('"'), Status::OK();
  if (ent == "apos") return out->push_back('\''), Status::OK();
  if (ent.size() >= 2 && ent[0] == '#') {
    uint32_t cp = 0;
    size_t k = 1;
    int base = 10;
    if (ent[1] == 'x') {
      base = 16;
      k = 2;
    }
    if (k >= ent.size()) return BadEntity(ent);
    for (; k < ent.size(); ++k) {
      char c = ent[k];
      uint32_t d;
      if (c >= '0' && c <= '9') d = static_cast<uint32_t>(c - '0');
      else if (base == 16 && c >= 'a' && c <= 'f') d = static_cast<uint32_t>(c - 'a' + 10);
      else if (base == 16 && c >= 'A' && c <= 'F') d = static_cast<uint32_t>(c - 'A' + 10);
      else return BadEntity(ent);
      cp = cp * static_cast<uint32_t>(base) + d;
      if (cp > 0x10FFFF) return BadEntity(ent);
    }
    if (!IsXmlChar(cp)) return BadEntity(ent);
    AppendUtf8(cp, out);
    return Status::OK();
  }
  return BadEntity(ent);
}

}  // namespace

bool NeedsDecode(std::string_view raw) {
  for (char c : raw) {
    if (c == '&' || c == '\r') return true;
  }
  return false;
}

Status DecodeText(std::string_view raw, bool cdata, std::string* out) {
  size_t i = 0;
  const size_t n = raw.size();
  while (i < n) {
    // Copy the run of ordinary characters in one go.
    size_t j = i;
    while (j < n && raw[j] != '\r' && (cdata || raw[j] != '&')) ++j;
    out->append(raw.data() + i, j - i);
    i = j;
    if (i >= n) break;
    if (raw[i] == '\r') {
      out->push_back('\n');
      ++i;
      if (i < n && raw[i] == '\n') ++i;
    } else {
      ++i;
      SLUICE_RETURN_NOT_OK(DecodeEntity(raw, &i, out));
    }
  }
  return Status::OK();
}

std::string XmlScanner::WhereAt(size_t pos) const {
  pos = std::min(pos, doc_.size());
  int64_t line = 1 + std::count(doc_.begin(), doc_.begin() + static_cast<std::ptrdiff_t>(pos), '\n');
  return "line " + std::to_string(line);
}

std::string XmlScanner::Where() const { return WhereAt(pos_); }

Status XmlScanner::Error(std::string_view what) const {
  return Status::InvalidData("malformed XML at " + Where() + ": " + std::string(what));
}

Status XmlScanner::SkipComment() {
  size_t end = doc_.find("-->", pos_ + 4);
  if (end == std::string_view::npos) return Error("unterminated comment");
  pos_ = end + 3;
  return Status::OK();
}

Status XmlScanner::SkipPI() {
  size_t end = doc_.find("?>", pos_ + 2);
  if (end == std::string_view::npos) return Error("unterminated processing instruction");
  pos_ = end + 2;
  return Status::OK();
}

Status XmlScanner::SkipDoctype() {
  // <!DOCTYPE name ... [internal subset]> — skipped, never interpreted:
  // entity declarations are not expanded.
  size_t i = pos_ + 9;
  int depth = 0;
  while (i < doc_.size()) {
    char c = doc_[i];
    if (c == '"' || c == '\'') {
      size_t close = doc_.find(c, i + 1);
      if (close == std::string_view::npos) break;
      i = close + 1;
      continue;
    }
    if (c == '[') ++depth;
    else if (c == ']') --depth;
    else if (c == '>' && depth <= 0) {
      pos_ = i + 1;
      return Status::OK();
    }
    ++i;
  }
  return Error("unterminated DOCTYPE");
}

Status XmlScanner::SkipProlog() {
  while (true) {
    while (!AtEnd() && IsSpace(doc_[pos_])) ++pos_;
    if (AtEnd()) return Error("no root element");
    if (doc_[pos_] != '<') return Error("text before the root element");
    if (StartsWith(doc_, pos_, "<?")) {
      SLUICE_RETURN_NOT_OK(SkipPI());
    } else if (StartsWith(doc_, pos_, "<!--")) {
      SLUICE_RETURN_NOT_OK(SkipComment());
    } else if (StartsWith(doc_, pos_, "<!DOCTYPE")) {
      SLUICE_RETURN_NOT_OK(SkipDoctype());
    } else if (StartsWith(doc_, pos_, "<!") || StartsWith(doc_, pos_, "</")) {
      return Error("unexpected markup before the root element");
    } else {
      return Status::OK();
    }
  }
}

Status XmlScanner::CheckEpilog() {
  while (true) {
    while (!AtEnd() && IsSpace(doc_[pos_])) ++pos_;
    if (AtEnd()) return Status::OK();
    if (StartsWith(doc_, pos_, "<?")) {
      SLUICE_RETURN_NOT_OK(SkipPI());
    } else if (StartsWith(doc_, pos_, "<!--")) {
      SLUICE_RETURN_NOT_OK(SkipComment());
    } else {
      return Error("content after the root element");
    }
  }
}

Status XmlScanner::Next(Kind* kind) {
  while (true) {
    if (AtEnd()) {
      *kind = Kind::kEof;
      return Status::OK();
    }
    if (doc_[pos_] != '<') {
      const void* lt = std::memchr(doc_.data() + pos_, '<', doc_.size() - pos_);
      size_t end = lt ? static_cast<size_t>(static_cast<const char*>(lt) - doc_.data()) : doc_.size();
      text_ = doc_.substr(pos_, end - pos_);
      pos_ = end;
      *kind = Kind::kText;
      return Status::OK();
    }
    if (StartsWith(doc_, pos_, "</")) {
      SLUICE_RETURN_NOT_OK(ReadEndTag());
      *kind = Kind::kEndTag;
      return Status::OK();
    }
    if (StartsWith(doc_, pos_, "<!--")) {
      SLUICE_RETURN_NOT_OK(SkipComment());
      continue;
    }
    if (StartsWith(doc_, pos_, "<![CDATA[")) {
      size_t end = doc_.find("]]>", pos_ + 9);
      if (end == std::string_view::npos) return Error("unterminated CDATA section");
      text_ = doc_.substr(pos_ + 9, end - pos_ - 9);
      pos_ = end + 3;
      *kind = Kind::kCData;
      return Status::OK();
    }
    if (StartsWith(doc_, pos_, "<?")) {
      SLUICE_RETURN_NOT_OK(SkipPI());
      continue;
    }
    if (StartsWith(doc_, pos_, "<!")) return Error("unexpected markup declaration");
    *kind = Kind::kStartTag;
    return Status::OK();
  }
}

Status XmlScanner::ReadEndTag() {
  size_t i = pos_ + 2;
  size_t start = i;
  while (i < doc_.size() && !IsSpace(doc_[i]) && doc_[i] != '>' && doc_[i] != '<') ++i;
  end_qname_ = doc_.substr(start, i - start);
  if (end_qname_.empty()) return Error("end tag without a name");
  while (i < doc_.size() && IsSpace(doc_[i])) ++i;
  if (i >= doc_.size() || doc_[i] != '>') return Error("malformed end tag");
  pos_ = i + 1;
  return Status::OK();
}

Status XmlScanner::ReadStartTag(XmlStartTag* tag) {
  tag->attrs.clear();
  tag->self_closing = false;
  auto is_name_end = [](char c) { return IsSpace(c) || c == '/' || c == '>'; };
  auto is_bad_name_char = [](char c) {
    return c == '<' || c == '&' || c == '"' || c == '\'' || c == '=';
  };
  size_t i = pos_ + 1;
  size_t start = i;
  while (i < doc_.size() && !is_name_end(doc_[i])) {
    if (is_bad_name_char(doc_[i])) return Error("invalid character in element name");
    ++i;
  }
  tag->qname = doc_.substr(start, i - start);
  if (tag->qname.empty()) return Error("element without a name");
  tag->name = LocalName(tag->qname);
  while (true) {
    size_t ws = i;
    while (i < doc_.size() && IsSpace(doc_[i])) ++i;
    if (i >= doc_.size()) {
      pos_ = i;
      return Error("unterminated start tag <" + std::string(tag->qname.substr(0, 64)) + ">");
    }
    if (doc_[i] == '>') {
      pos_ = i + 1;
      return Status::OK();
    }
    if (doc_[i] == '/') {
      if (i + 1 < doc_.size() && doc_[i + 1] == '>') {
        tag->self_closing = true;
        pos_ = i + 2;
        return Status::OK();
      }
      pos_ = i;
      return Error("malformed start tag");
    }
    if (i == ws) {
      pos_ = i;
      return Error("attributes must be separated by whitespace");
    }
    size_t an = i;
    while (i < doc_.size() && !IsSpace(doc_[i]) && doc_[i] != '=' && doc_[i] != '>' &&
           doc_[i] != '/') {
      if (doc_[i] == '<' || doc_[i] == '"' || doc_[i] == '\'' || doc_[i] == '&') {
        pos_ = i;
        return Error("invalid character in attribute name");
      }
      ++i;
    }
    std::string_view aname = doc_.substr(an, i - an);
    while (i < doc_.size() && IsSpace(doc_[i])) ++i;
    if (aname.empty() || i >= doc_.size() || doc_[i] != '=') {
      pos_ = i;
      return Error("attribute without a value");
    }
    ++i;
    while (i < doc_.size() && IsSpace(doc_[i])) ++i;
    if (i >= doc_.size() || (doc_[i] != '"' && doc_[i] != '\'')) {
      pos_ = i;
      return Error("attribute value must be quoted");
    }
    char q = doc_[i];
    size_t vstart = i + 1;
    size_t vend = doc_.find(q, vstart);
    if (vend == std::string_view::npos) {
      pos_ = i;
      return Error("unterminated attribute value");
    }
    std::string_view raw = doc_.substr(vstart, vend - vstart);
    if (raw.find('<') != std::string_view::npos) {
      pos_ = vstart;
      return Error("'<' in attribute value");
    }
    tag->attrs.push_back({LocalName(aname), raw});
    i = vend + 1;
  }
}

Status XmlScanner::SkipElement(const XmlStartTag& tag) {
  if (tag.self_closing) return Status::OK();
  std::vector<std::string_view> stack;
  stack.push_back(tag.qname);
  XmlStartTag inner;
  while (true) {
    Kind kind;
    SLUICE_RETURN_NOT_OK(Next(&kind));
    switch (kind) {
      case Kind::kEof:
        return Error("document ends inside <" + std::string(tag.qname.substr(0, 64)) + ">");
      case Kind::kText:
      case Kind::kCData:
        break;
      case Kind::kStartTag:
        SLUICE_RETURN_NOT_OK(ReadStartTag(&inner));
        if (!inner.self_closing) {
          if (stack.size() >= static_cast<size_t>(kMaxDepth)) return Error("elements nested too deeply");
          stack.push_back(inner.qname);
        }
        break;
      case Kind::kEndTag:
        if (end_qname_ != stack.back()) {
          return Error("</" + std::string(end_qname_.substr(0, 64)) + "> does not close <" +
                       std::string(stack.back().substr(0, 64)) + ">");
        }
        stack.pop_back();
        if (stack.empty()) return Status::OK();
        break;
    }
  }
}

Status XmlScanner::ReadSimpleContent(const XmlStartTag& tag, std::string_view* raw, std::string* out,
                                     bool* decoded_into_out) {
  *raw = {};
  *decoded_into_out = false;
  if (tag.self_closing) return Status::OK();
  bool have_piece = false;
  bool piece_cdata = false;
  std::string_view piece;
  while (true) {
    Kind kind;
    SLUICE_RETURN_NOT_OK(Next(&kind));
    switch (kind) {
      case Kind::kEof:
        return Error("document ends inside <" + std::string(tag.qname.substr(0, 64)) + ">");
      case Kind::kStartTag: {
        XmlStartTag inner;
        SLUICE_RETURN_NOT_OK(ReadStartTag(&inner));
        return Error("unexpected element <" + std::string(inner.qname.substr(0, 64)) + "> inside <" +
                     std::string(tag.qname.substr(0, 64)) + ">");
      }
      case Kind::kText:
      case Kind::kCData: {
        bool cdata = kind == Kind::kCData;
        if (!have_piece && !*decoded_into_out) {
          have_piece = true;
          piece = text_;
          piece_cdata = cdata;
          break;
        }
        if (have_piece) {
          SLUICE_RETURN_NOT_OK(DecodeText(piece, piece_cdata, out));
          have_piece = false;
          *decoded_into_out = true;
        }
        SLUICE_RETURN_NOT_OK(DecodeText(text_, cdata, out));
        break;
      }
      case Kind::kEndTag:
        if (end_qname_ != tag.qname) {
          return Error("</" + std::string(end_qname_.substr(0, 64)) + "> does not close <" +
                       std::string(tag.qname.substr(0, 64)) + ">");
        }
        if (have_piece) {
          bool needs = piece_cdata ? piece.find('\r') != std::string_view::npos : NeedsDecode(piece);
          if (needs) {
            SLUICE_RETURN_NOT_OK(DecodeText(piece, piece_cdata, out));
            *decoded_into_out = true;
          } else {
            *raw = piece;
          }
        }
        return Status::OK();
    }
  }
}

bool XmlScanner::TryPlainRow(std::string_view* text) {
  size_t i = pos_;
  const size_t n = doc_.size();
  while (i < n && IsSpace(doc_[i])) ++i;
  if (n - i < 7 || doc_[i] != '<' || doc_[i + 1] != 'R' || doc_[i + 2] != '>') return false;
  size_t start = i + 3;
  const char* d = doc_.data();
  size_t j = static_cast<size_t>(FindAny3(d + start, d + n, '<', '&', '\r') - d);
  if (j + 4 > n || d[j] != '<' || d[j + 1] != '/' || d[j + 2] != 'R' || d[j + 3] != '>') return false;
  *text = doc_.substr(start, j - start);
  pos_ = j + 4;
  return true;
}

Status XmlScanner::ReadTextElement(const XmlStartTag& tag, std::string* out) {
  out->clear();
  std::string_view raw;
  bool decoded = false;
  SLUICE_RETURN_NOT_OK(ReadSimpleContent(tag, &raw, out, &decoded));
  if (!decoded) out->assign(raw.data(), raw.size());
  return Status::OK();
}

}  // namespace sluice::tdtp::internal
