// TDTP packet reader. The decoding order follows the framework's
// (pkg/core/packet parser.go, compact.go, columnar.go, dictionary.go,
// integrity.go, pkg/processors decompress_packet.go):
//
//   XML -> rows (<R> text) -> checksum -> base64 + zstd -> layout="columns"
//   -> v1.4 xxh3 verification (rows as they travel, before compact expansion)
//   -> RecordsInPart check -> per row: split + unescape -> compact carry
//   -> Dictionary tokens -> NULL / SpecialValues markers -> typed value.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "core/base64.h"
#include "core/int128.h"
#include "core/temporal.h"
#include "core/text.h"
#include "core/utf8.h"
#include "formats/tdtp/tdtp.h"
#include "formats/tdtp/tdtp_internal.h"
#include "formats/tdtp/xml_scan.h"

namespace sluice::tdtp {

namespace {

using internal::DecodeText;
using internal::XmlScanner;
using internal::XmlStartTag;

struct MarkerDecl {
  bool has = false;
  std::string marker;
};

// A <Field> as written, kept raw for the v1.4 schema hash.
struct FieldDecl {
  std::string name, type, timezone, subtype;
  int64_t length = 0, precision = 0, scale = 0;
  bool has_length = false, has_precision = false, has_scale = false;
  bool key = false, readonly = false, fixed = false;
  bool has_special = false;
  MarkerDecl null_m, inf_m, neginf_m, nan_m, nodate_m;
};

struct DictEntry {
  std::string short_token, full;
};

struct RowRef {
  bool arena;
  size_t off, len;
};

// Framework limits for a Dictionary (packet/dictionary.go).
constexpr size_t kMaxDictEntries = 256;
constexpr size_t kMaxDictShort = 16;
constexpr size_t kMaxDictFull = 4096;

bool IsDictToken(std::string_view s) {
  if (s.size() < 2 || s[0] != '@') return false;
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  if (!alpha(s[1])) return false;
  for (size_t i = 2; i < s.size(); ++i) {
    char c = s[i];
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '_') return false;
  }
  return true;
}

bool IsVersion(std::string_view v) {
  if (v.empty()) return false;
  bool digit = false;
  for (char c : v) {
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c == '.') {
      if (!digit) return false;
      digit = false;
    } else {
      return false;
    }
  }
  return digit;
}

std::string Quote(std::string_view s) {
  std::string q = "'";
  q.append(s.substr(0, 64));
  if (s.size() > 64) q += "...";
  q += "'";
  return q;
}

// Go's encoding/xml attribute escaping (EscapeString), used to rebuild the
// canonical Schema bytes the v1.4 schema hash covers.
void AppendGoEscaped(std::string_view s, std::string* out) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  size_t n = s.size();
  for (size_t i = 0; i < n;) {
    uint8_t c = p[i];
    if (c < 0x80) {
      switch (c) {
        case '"': out->append("&#34;"); break;
        case '\'': out->append("&#39;"); break;
        case '&': out->append("&amp;"); break;
        case '<': out->append("&lt;"); break;
        case '>': out->append("&gt;"); break;
        case '\t': out->append("&#x9;"); break;
        case '\n': out->append("&#xA;"); break;
        case '\r': out->append("&#xD;"); break;
        default:
          if (c < 0x20) out->append("\xEF\xBF\xBD");
          else out->push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    int len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    if (i + static_cast<size_t>(len) > n) len = static_cast<int>(n - i);
    // U+FFFE / U+FFFF are not XML characters: Go writes U+FFFD instead.
    if (len == 3 && c == 0xEF && p[i + 1] == 0xBF && (p[i + 2] == 0xBE || p[i + 2] == 0xBF)) {
      out->append("\xEF\xBF\xBD");
    } else {
      out->append(s.data() + i, static_cast<size_t>(len));
    }
    i += static_cast<size_t>(len);
  }
}

void AppendGoAttr(std::string_view name, std::string_view value, std::string* out) {
  out->push_back(' ');
  out->append(name);
  out->append("=\"");
  AppendGoEscaped(value, out);
  out->push_back('"');
}

// What encoding/xml.Marshal writes for the framework's Schema struct with
// its xxh3 attribute cleared (packet/integrity.go computeHashes).
std::string CanonicalSchemaXml(const std::vector<FieldDecl>& fields, bool has_dict,
                               const std::vector<DictEntry>& dict) {
  std::string s = "<Schema>";
  for (const auto& f : fields) {
    s += "<Field";
    AppendGoAttr("name", f.name, &s);
    AppendGoAttr("type", f.type, &s);
    if (f.length != 0) AppendGoAttr("length", std::to_string(f.length), &s);
    if (f.precision != 0) AppendGoAttr("precision", std::to_string(f.precision), &s);
    if (f.scale != 0) AppendGoAttr("scale", std::to_string(f.scale), &s);
    if (f.key) AppendGoAttr("key", "true", &s);
    if (!f.timezone.empty()) AppendGoAttr("timezone", f.timezone, &s);
    if (!f.subtype.empty()) AppendGoAttr("subtype", f.subtype, &s);
    if (f.readonly) AppendGoAttr("readonly", "true", &s);
    if (f.fixed) AppendGoAttr("fixed", "true", &s);
    s += ">";
    if (f.has_special) {
      s += "<SpecialValues>";
      auto marker = [&](const char* tag, const MarkerDecl& m) {
        if (!m.has) return;
        s += "<";
        s += tag;
        AppendGoAttr("marker", m.marker, &s);
        s += "></";
        s += tag;
        s += ">";
      };
      marker("Null", f.null_m);
      marker("Infinity", f.inf_m);
      marker("NegInfinity", f.neginf_m);
      marker("NaN", f.nan_m);
      marker("NoDate", f.nodate_m);
      s += "</SpecialValues>";
    }
    s += "</Field>";
  }
  if (has_dict) {
    s += "<Dictionary>";
    for (const auto& e : dict) {
      s += "<Entry";
      AppendGoAttr("short", e.short_token, &s);
      AppendGoAttr("full", e.full, &s);
      s += "></Entry>";
    }
    s += "</Dictionary>";
  }
  s += "</Schema>";
  return s;
}

// How one column's cells become values.
struct ColPlan {
  TypeId id;
  int precision = 0, scale = 0;
  bool text_like = false;      // "" can be a value (string, json, binary)
  bool empty_is_null = true;   // "" means NULL
  bool has_null_marker = false;
  std::string null_marker;     // declared, or the legacy undeclared "[NULL]"
  const MarkerDecl* nan = nullptr;
  const MarkerDecl* inf = nullptr;
  const MarkerDecl* neginf = nullptr;
  const MarkerDecl* nodate = nullptr;
  bool key = false;
  bool fixed = false;
};

bool IsDateLike(TypeId id) { return id == TypeId::kDate || id == TypeId::kTimestamp; }

class PacketParser {
 public:
  PacketParser(std::string_view name, const ReadOptions& options) : name_(name), opt_(options) {}

  Result<Packet> Parse(std::string_view input);

 private:
  Status Fail(std::string msg) const { return Status::InvalidData(std::string(name_) + ": " + msg); }
  Status Unsupported(std::string msg) const {
    return Status::Unsupported(std::string(name_) + ": " + msg);
  }
  Status Ctx(Status st) const {
    if (st.ok()) return st;
    return std::move(st).WithContext(name_);
  }

  template <typename Fn>
  Status ForEachChild(const XmlStartTag& parent, Fn&& fn);
  Status ParseRoot(const XmlStartTag& root);
  Status ParseHeader(const XmlStartTag& tag);
  Status ParseSchema(const XmlStartTag& tag);
  Status ParseField(const XmlStartTag& tag);
  Status ParseData(const XmlStartTag& tag);
  Status AttrString(const XmlStartTag& tag, std::string_view name, std::string* out, bool* present);
  Status AttrInt(const XmlStartTag& tag, std::string_view attr, int64_t* out, bool* present,
                 std::string_view where);
  Status AttrBool(const XmlStartTag& tag, std::string_view attr, bool* out, std::string_view where);

  Status PrepareRows();
  Status ExpandColumns();
  Status VerifyIntegrity();
  Status BuildSchema();
  Status DecodeRows(RecordBatch* batch);
  Status DecodeCell(const ColPlan& plan, std::string_view v, ColumnBuilder* b) const;
  Status CellError(int64_t row, int col, const Status& st) const;

  std::string_view name_;
  const ReadOptions& opt_;
  std::string_view doc_;
  std::unique_ptr<XmlScanner> sc_;

  PacketHeader header_;
  std::string root_xxh3_;
  bool seen_header_ = false, seen_schema_ = false, seen_data_ = false;

  std::vector<FieldDecl> fields_;
  bool has_dict_ = false;
  std::vector<DictEntry> dict_;
  std::unordered_map<std::string_view, std::string_view> dict_map_;
  std::string schema_xxh3_;

  std::string compression_, checksum_, carry_, data_xxh3_, layout_;
  bool compact_ = false, tail_ = false, has_carry_ = false;
  std::vector<RowRef> row_refs_;
  std::string arena_;

  std::vector<std::string_view> rows_;  // the packet's rows, as they travel
  std::string decompressed_;
  std::string columns_buf_;

  std::shared_ptr<const Schema> schema_;
  std::vector<ColPlan> plans_;
  mutable std::string blob_scratch_;
};

template <typename Fn>
Status PacketParser::ForEachChild(const XmlStartTag& parent, Fn&& fn) {
  if (parent.self_closing) return Status::OK();
  XmlStartTag child;
  while (true) {
    XmlScanner::Kind kind;
    SLUICE_RETURN_NOT_OK(Ctx(sc_->Next(&kind)));
    switch (kind) {
      case XmlScanner::Kind::kEof:
        return Fail("document ends inside <" + std::string(parent.qname.substr(0, 64)) + ">");
      case XmlScanner::Kind::kText:
      case XmlScanner::Kind::kCData:
        break;
      case XmlScanner::Kind::kStartTag:
        SLUICE_RETURN_NOT_OK(Ctx(sc_->ReadStartTag(&child)));
        SLUICE_RETURN_NOT_OK(fn(child));
        break;
      case XmlScanner::Kind::kEndTag:
        if (sc_->end_qname() != parent.qname) {
          return Fail("malformed XML at " + sc_->Where() + ": </" +
                      std::string(sc_->end_qname().substr(0, 64)) + "> does not close <" +
                      std::string(parent.qname.substr(0, 64)) + ">");
        }
        return Status::OK();
    }
  }
}

Status PacketParser::AttrString(const XmlStartTag& tag, std::string_view name, std::string* out,
                                bool* present) {
  out->clear();
  const internal::XmlAttr* a = tag.Find(name);
  if (present) *present = a != nullptr;
  if (!a) return Status::OK();
  return Ctx(DecodeText(a->raw, false, out));
}

Status PacketParser::AttrInt(const XmlStartTag& tag, std::string_view attr, int64_t* out, bool* present,
                             std::string_view where) {
  std::string v;
  bool has = false;
  SLUICE_RETURN_NOT_OK(AttrString(tag, attr, &v, &has));
  if (present) *present = has;
  if (!has) return Status::OK();
  auto n = internal::GoParseInt(v);
  if (!n) return Fail(std::string(where) + ": attribute " + std::string(attr) + "=" + Quote(v) + " is not an integer");
  *out = *n;
  return Status::OK();
}

Status PacketParser::AttrBool(const XmlStartTag& tag, std::string_view attr, bool* out,
                              std::string_view where) {
  std::string v;
  bool has = false;
  SLUICE_RETURN_NOT_OK(AttrString(tag, attr, &v, &has));
  if (!has) return Status::OK();
  auto b = internal::GoParseBool(v);
  if (!b) return Fail(std::string(where) + ": attribute " + std::string(attr) + "=" + Quote(v) + " is not a boolean");
  *out = *b;
  return Status::OK();
}

Status PacketParser::ParseHeader(const XmlStartTag& tag) {
  if (seen_header_) return Fail("more than one <Header>");
  seen_header_ = true;
  std::string v;
  return ForEachChild(tag, [&](const XmlStartTag& child) -> Status {
    std::string_view n = child.name;
    std::string* target = nullptr;
    int64_t* itarget = nullptr;
    if (n == "Type") target = &header_.type;
    else if (n == "TableName") target = &header_.table_name;
    else if (n == "MessageID") target = &header_.message_id;
    else if (n == "InReplyTo") target = &header_.in_reply_to;
    else if (n == "Timestamp") target = &header_.timestamp;
    else if (n == "Sender") target = &header_.sender;
    else if (n == "Recipient") target = &header_.recipient;
    else if (n == "PartNumber") itarget = &header_.part_number;
    else if (n == "TotalParts") itarget = &header_.total_parts;
    else if (n == "RecordsInPart") itarget = &header_.records_in_part;
    if (!target && !itarget) return Ctx(sc_->SkipElement(child));
    SLUICE_RETURN_NOT_OK(Ctx(sc_->ReadTextElement(child, &v)));
    if (target) {
      *target = v;
      return Status::OK();
    }
    auto i = internal::GoParseInt(v);
    if (!i || *i < 0) return Fail("<Header>: <" + std::string(n) + "> " + Quote(v) + " is not a count");
    *itarget = *i;
    return Status::OK();
  });
}

Status PacketParser::ParseField(const XmlStartTag& tag) {
  if (static_cast<int>(fields_.size()) >= opt_.max_fields) {
    return Fail("schema has more than " + std::to_string(opt_.max_fields) +
                " fields (ReadOptions::max_fields)");
  }
  FieldDecl f;
  std::string where = "<Field> #" + std::to_string(fields_.size() + 1);
  SLUICE_RETURN_NOT_OK(AttrString(tag, "name", &f.name, nullptr));
  SLUICE_RETURN_NOT_OK(AttrString(tag, "type", &f.type, nullptr));
  SLUICE_RETURN_NOT_OK(AttrString(tag, "timezone", &f.timezone, nullptr));
  SLUICE_RETURN_NOT_OK(AttrString(tag, "subtype", &f.subtype, nullptr));
  where = "field '" + f.name + "'";
  SLUICE_RETURN_NOT_OK(AttrInt(tag, "length", &f.length, &f.has_length, where));
  SLUICE_RETURN_NOT_OK(AttrInt(tag, "precision", &f.precision, &f.has_precision, where));
  SLUICE_RETURN_NOT_OK(AttrInt(tag, "scale", &f.scale, &f.has_scale, where));
  SLUICE_RETURN_NOT_OK(AttrBool(tag, "key", &f.key, where));
  SLUICE_RETURN_NOT_OK(AttrBool(tag, "readonly", &f.readonly, where));
  SLUICE_RETURN_NOT_OK(AttrBool(tag, "fixed", &f.fixed, where));
  Status st = ForEachChild(tag, [&](const XmlStartTag& child) -> Status {
    if (child.name != "SpecialValues") return Ctx(sc_->SkipElement(child));
    f.has_special = true;
    return ForEachChild(child, [&](const XmlStartTag& m) -> Status {
      MarkerDecl* d = nullptr;
      if (m.name == "Null") d = &f.null_m;
      else if (m.name == "Infinity") d = &f.inf_m;
      else if (m.name == "NegInfinity") d = &f.neginf_m;
      else if (m.name == "NaN") d = &f.nan_m;
      else if (m.name == "NoDate") d = &f.nodate_m;
      if (d) {
        d->has = true;
        SLUICE_RETURN_NOT_OK(AttrString(m, "marker", &d->marker, nullptr));
      }
      return Ctx(sc_->SkipElement(m));
    });
  });
  if (!st.ok()) return st;
  fields_.push_back(std::move(f));
  return Status::OK();
}

Status PacketParser::ParseSchema(const XmlStartTag& tag) {
  if (seen_schema_) return Fail("more than one <Schema>");
  seen_schema_ = true;
  if (tag.Find("encryption")) {
    return Unsupported("encrypted TDTP packets are not supported (v1.5 section encryption of <Schema>)");
  }
  SLUICE_RETURN_NOT_OK(AttrString(tag, "xxh3", &schema_xxh3_, nullptr));
  return ForEachChild(tag, [&](const XmlStartTag& child) -> Status {
    if (child.name == "Field") return ParseField(child);
    if (child.name != "Dictionary") return Ctx(sc_->SkipElement(child));
    if (has_dict_) return Fail("more than one <Dictionary>");
    has_dict_ = true;
    return ForEachChild(child, [&](const XmlStartTag& e) -> Status {
      if (e.name != "Entry") return Ctx(sc_->SkipElement(e));
      if (dict_.size() >= kMaxDictEntries) {
        return Fail("<Dictionary> has more than " + std::to_string(kMaxDictEntries) + " entries");
      }
      DictEntry d;
      SLUICE_RETURN_NOT_OK(AttrString(e, "short", &d.short_token, nullptr));
      SLUICE_RETURN_NOT_OK(AttrString(e, "full", &d.full, nullptr));
      if (d.short_token.size() > kMaxDictShort || d.full.size() > kMaxDictFull) {
        return Fail("<Dictionary> entry " + Quote(d.short_token) + " exceeds the size limits (" +
                    std::to_string(kMaxDictShort) + "/" + std::to_string(kMaxDictFull) + " bytes)");
      }
      dict_.push_back(std::move(d));
      return Ctx(sc_->SkipElement(e));
    });
  });
}

Status PacketParser::ParseData(const XmlStartTag& tag) {
  if (seen_data_) return Fail("more than one <Data>");
  seen_data_ = true;
  if (tag.Find("encryption")) {
    return Unsupported("encrypted TDTP packets are not supported (v1.5 section encryption of <Data>)");
  }
  SLUICE_RETURN_NOT_OK(AttrString(tag, "compression", &compression_, nullptr));
  SLUICE_RETURN_NOT_OK(AttrString(tag, "checksum", &checksum_, nullptr));
  SLUICE_RETURN_NOT_OK(AttrString(tag, "carry", &carry_, &has_carry_));
  SLUICE_RETURN_NOT_OK(AttrString(tag, "xxh3", &data_xxh3_, nullptr));
  SLUICE_RETURN_NOT_OK(AttrString(tag, "layout", &layout_, nullptr));
  SLUICE_RETURN_NOT_OK(AttrBool(tag, "compact", &compact_, "<Data>"));
  SLUICE_RETURN_NOT_OK(AttrBool(tag, "tail", &tail_, "<Data>"));
  if (tag.self_closing) return Status::OK();
  // Rows written as plain "<R>...</R>" (nearly all of them) skip the general
  // content loop below; anything else (entities, CDATA, comments, other
  // elements, the end tag) goes through it.
  std::string_view plain;
  while (true) {
    while (sc_->TryPlainRow(&plain)) {
      row_refs_.push_back({false, static_cast<size_t>(plain.data() - doc_.data()), plain.size()});
    }
    XmlScanner::Kind kind;
    SLUICE_RETURN_NOT_OK(Ctx(sc_->Next(&kind)));
    if (kind == XmlScanner::Kind::kEof) return Fail("document ends inside <Data>");
    if (kind == XmlScanner::Kind::kEndTag) {
      if (sc_->end_qname() != tag.qname) {
        return Fail("malformed XML at " + sc_->Where() + ": </" + std::string(sc_->end_qname().substr(0, 64)) +
                    "> does not close <" + std::string(tag.qname.substr(0, 64)) + ">");
      }
      return Status::OK();
    }
    if (kind != XmlScanner::Kind::kStartTag) continue;  // text directly in <Data> is ignored
    XmlStartTag child;
    SLUICE_RETURN_NOT_OK(Ctx(sc_->ReadStartTag(&child)));
    if (child.name != "R") {
      SLUICE_RETURN_NOT_OK(Ctx(sc_->SkipElement(child)));
      continue;
    }
    std::string_view raw;
    bool decoded = false;
    size_t before = arena_.size();
    SLUICE_RETURN_NOT_OK(Ctx(sc_->ReadSimpleContent(child, &raw, &arena_, &decoded)));
    if (decoded) {
      row_refs_.push_back({true, before, arena_.size() - before});
    } else {
      row_refs_.push_back({false, static_cast<size_t>(raw.data() - doc_.data()), raw.size()});
    }
  }
}

Status PacketParser::ParseRoot(const XmlStartTag& root) {
  std::string protocol;
  bool has_protocol = false, has_version = false;
  SLUICE_RETURN_NOT_OK(AttrString(root, "protocol", &protocol, &has_protocol));
  if (!has_protocol || protocol != "TDTP") {
    return Fail("not a TDTP packet: root element <" + std::string(root.qname.substr(0, 64)) +
                "> has no protocol=\"TDTP\" attribute");
  }
  header_.protocol = protocol;
  SLUICE_RETURN_NOT_OK(AttrString(root, "version", &header_.version, &has_version));
  if (!IsVersion(header_.version)) {
    return Fail("invalid version " + Quote(header_.version) +
                ": expected dot-separated numbers such as 1.0 or 1.3.1");
  }
  SLUICE_RETURN_NOT_OK(AttrString(root, "xxh3", &root_xxh3_, nullptr));
  return ForEachChild(root, [&](const XmlStartTag& child) -> Status {
    if (child.name == "Header") return ParseHeader(child);
    if (child.name == "Schema") return ParseSchema(child);
    if (child.name == "Data") return ParseData(child);
    if (child.name == "QueryContext" && child.Find("encryption")) {
      return Unsupported(
          "encrypted TDTP packets are not supported (v1.5 section encryption of <QueryContext>)");
    }
    return Ctx(sc_->SkipElement(child));
  });
}

// Rows as they travel: decompressed when needed.
Status PacketParser::PrepareRows() {
  rows_.clear();
  std::string comp = internal::ToLowerAscii(compression_);
  bool compressed = !comp.empty() && comp != "none";
  if (compressed && comp != "zstd") {
    return Unsupported("compression " + Quote(compression_) + " is not supported (only zstd)");
  }
  auto view = [&](const RowRef& r) {
    return r.arena ? std::string_view(arena_.data() + r.off, r.len)
                   : std::string_view(doc_.data() + r.off, r.len);
  };
  if (!compressed) {
    rows_.reserve(row_refs_.size());
    for (const auto& r : row_refs_) rows_.push_back(view(r));
    return Status::OK();
  }
  if (row_refs_.empty()) return Status::OK();
  if (row_refs_.size() != 1) {
    return Fail("compressed <Data> must hold exactly one <R>, found " + std::to_string(row_refs_.size()));
  }
  std::string_view payload = view(row_refs_[0]);
  if (!checksum_.empty() && opt_.verify_checksum) {
    std::string actual = internal::Xxh3_64Hex(payload);
    if (!internal::EqualsIgnoreCase(actual, checksum_)) {
      return Fail("checksum does not match: <Data checksum> expected " + checksum_ + ", actual " + actual +
                  " (XXH3-64 of the compressed payload)");
    }
  }
  std::string bytes;
  Status st = internal::Base64DecodeInto(payload, &bytes);
  if (!st.ok()) return Fail("compressed payload: " + st.message());
  st = internal::ZstdDecompress(bytes, opt_.max_decompressed_bytes, &decompressed_);
  if (!st.ok()) return Fail("compressed payload: " + st.message());
  if (!IsValidUtf8(decompressed_)) return Fail("decompressed rows are not valid UTF-8");
  if (decompressed_.empty()) {
    // The framework compresses rows joined by LF, so one empty row and no
    // rows look alike; RecordsInPart tells them apart.
    if (header_.records_in_part == 1) rows_.emplace_back();
    return Status::OK();
  }
  std::string_view d = decompressed_;
  size_t start = 0;
  while (true) {
    size_t nl = d.find('\n', start);
    if (nl == std::string_view::npos) {
      rows_.push_back(d.substr(start));
      break;
    }
    rows_.push_back(d.substr(start, nl - start));
    start = nl + 1;
  }
  return Status::OK();
}

// layout="columns": each row holds one field's values; rebuild row-major
// rows with the framework's canonical escaping (packet/columnar.go).
Status PacketParser::ExpandColumns() {
  if (layout_.empty()) return Status::OK();
  if (layout_ != "columns") return Unsupported("<Data layout=" + Quote(layout_) + "> is not supported");
  size_t nf = fields_.size();
  if (rows_.size() != nf) {
    return Fail("layout=\"columns\": " + std::to_string(rows_.size()) + " column(s) in <Data>, " +
                std::to_string(nf) + " field(s) in <Schema>");
  }
  if (nf == 0) {
    rows_.clear();
    return Status::OK();
  }
  // Views into the rows or into one scratch buffer per column (no per-cell
  // allocation: a column of "|||..." must not multiply memory).
  std::vector<std::vector<std::string_view>> cols(nf);
  std::vector<std::string> scratch(nf);
  for (size_t c = 0; c < nf; ++c) {
    internal::SplitRow(rows_[c], &cols[c], &scratch[c]);
    if (cols[c].size() != cols[0].size()) {
      return Fail("layout=\"columns\": column '" + fields_[c].name + "' has " +
                  std::to_string(cols[c].size()) + " value(s), column '" + fields_[0].name + "' has " +
                  std::to_string(cols[0].size()));
    }
  }
  size_t height = cols[0].size();
  if (height == 1 && header_.records_in_part != 1) {
    bool all_empty = true;
    for (size_t c = 0; c < nf && all_empty; ++c) all_empty = cols[c][0].empty();
    if (all_empty) height = 0;  // an empty <Data> has one empty value per column
  }
  columns_buf_.clear();
  std::vector<std::pair<size_t, size_t>> spans;
  spans.reserve(height);
  for (size_t r = 0; r < height; ++r) {
    size_t start = columns_buf_.size();
    for (size_t c = 0; c < nf; ++c) {
      if (c > 0) columns_buf_.push_back('|');
      internal::AppendTdtpEscaped(cols[c][r], &columns_buf_);
    }
    spans.emplace_back(start, columns_buf_.size() - start);
  }
  rows_.clear();
  for (const auto& [off, len] : spans) rows_.emplace_back(columns_buf_.data() + off, len);
  return Status::OK();
}

Status PacketParser::VerifyIntegrity() {
  if (!opt_.verify_integrity) return Status::OK();
  if (root_xxh3_.empty() && schema_xxh3_.empty() && data_xxh3_.empty()) return Status::OK();
  const std::string& salt = header_.message_id;
  std::string schema_hash;
  {
    std::string canon = CanonicalSchemaXml(fields_, has_dict_, dict_);
    internal::Xxh3_128 h;
    h.Update(salt);
    h.Update(canon);
    schema_hash = h.HexDigest();
  }
  std::string data_hash;
  {
    internal::Xxh3_128 h;
    h.Update(salt);
    for (std::string_view r : rows_) {
      h.Update(r);
      h.Update("\n");
    }
    data_hash = h.HexDigest();
  }
  auto check = [&](const std::string& stored, const std::string& computed, const char* what) -> Status {
    if (internal::EqualsIgnoreCase(stored, computed)) return Status::OK();
    return Fail(std::string("integrity: ") + what + " xxh3 hash does not match: stored " +
                (stored.empty() ? "(none)" : stored) + ", computed " + computed);
  };
  if (!schema_xxh3_.empty() || !root_xxh3_.empty()) {
    SLUICE_RETURN_NOT_OK(check(schema_xxh3_, schema_hash, "schema"));
  }
  if (!data_xxh3_.empty() || !root_xxh3_.empty()) SLUICE_RETURN_NOT_OK(check(data_xxh3_, data_hash, "data"));
  if (!root_xxh3_.empty()) {
    SLUICE_RETURN_NOT_OK(check(root_xxh3_, internal::Xxh3_128Hex(schema_hash + "|" + data_hash), "packet"));
  }
  return Status::OK();
}

Status PacketParser::BuildSchema() {
  std::vector<Field> fields;
  fields.reserve(fields_.size());
  plans_.clear();
  plans_.reserve(fields_.size());
  for (const auto& d : fields_) {
    TdtpFieldType t;
    t.type = d.type;
    t.length = d.length;
    t.has_length = d.has_length;
    t.precision = static_cast<int>(std::clamp<int64_t>(d.precision, -1, 1'000'000));
    t.has_precision = d.has_precision;
    t.scale = static_cast<int>(std::clamp<int64_t>(d.scale, -1'000'000, 1'000'000));
    t.has_scale = d.has_scale;
    t.subtype = d.subtype;
    t.timezone = d.timezone;
    Field f;
    f.name = d.name;
    f.type = FromTdtpType(t);
    f.primary_key = d.key;
    f.nullable = !d.key;
    f.source_type = FormatSourceType(t);

    ColPlan p;
    p.id = f.type.id;
    p.precision = f.type.precision;
    p.scale = f.type.scale;
    p.text_like = p.id == TypeId::kString || p.id == TypeId::kJson || p.id == TypeId::kBinary;
    if (d.null_m.has && !d.null_m.marker.empty()) {
      p.has_null_marker = true;
      p.null_marker = d.null_m.marker;
      p.empty_is_null = !p.text_like;
    } else if (d.null_m.has) {
      p.empty_is_null = true;  // <Null marker=""/>: the empty cell is the marker
    } else {
      // Undeclared: the legacy "[NULL]" and, for text, the empty cell.
      p.has_null_marker = true;
      p.null_marker = std::string(internal::kNullMarker);
      p.empty_is_null = !p.text_like || opt_.legacy_empty_is_null;
    }
    if (d.nan_m.has) p.nan = &d.nan_m;
    if (d.inf_m.has) p.inf = &d.inf_m;
    if (d.neginf_m.has) p.neginf = &d.neginf_m;
    if (d.nodate_m.has) p.nodate = &d.nodate_m;
    p.key = d.key;
    p.fixed = d.fixed;
    plans_.push_back(std::move(p));
    fields.push_back(std::move(f));
  }
  auto schema = std::make_shared<Schema>(std::move(fields));
  Status st = schema->Validate();
  if (!st.ok()) return Fail("invalid <Schema>: " + st.message());
  schema_ = std::move(schema);
  return Status::OK();
}

Status PacketParser::CellError(int64_t row, int col, const Status& st) const {
  return Status(st.code(), std::string(name_) + ": row " + std::to_string(row + 1) + ", column '" +
                               schema_->field(col).name + "': " + st.message());
}

template <typename T>
Status AppendInt(std::string_view s, ColumnBuilder* b) {
  std::string_view t = s;
  if (!t.empty() && t[0] == '+') t.remove_prefix(1);
  T v{};
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec == std::errc() && p == t.data() + t.size() && !t.empty()) {
    b->AppendFixed<T>(v);
    return Status::OK();
  }
  if (ec == std::errc::result_out_of_range) {
    return Status::InvalidData("integer " + Quote(s) + " out of range for " + b->type().ToString());
  }
  return Status::InvalidData("invalid integer " + Quote(s));
}

Status PacketParser::DecodeCell(const ColPlan& p, std::string_view v, ColumnBuilder* b) const {
  auto null = [&]() -> Status {
    if (p.key) return Status::InvalidData("NULL in a key field");
    b->AppendNull();
    return Status::OK();
  };
  if (p.has_null_marker && v == p.null_marker) return null();
  if (v.empty()) {
    if (p.empty_is_null) return null();
    b->AppendBytes(v);  // text_like only
    return Status::OK();
  }
  if (p.nodate && v == p.nodate->marker) return null();
  if (p.nan || p.inf || p.neginf) {
    int which = p.nan && v == p.nan->marker ? 0 : p.inf && v == p.inf->marker ? 1
                : p.neginf && v == p.neginf->marker ? 2 : -1;
    if (which >= 0) {
      if (p.id == TypeId::kFloat64 || p.id == TypeId::kFloat32) {
        double d = which == 0 ? std::numeric_limits<double>::quiet_NaN()
                   : which == 1 ? std::numeric_limits<double>::infinity()
                                : -std::numeric_limits<double>::infinity();
        if (p.id == TypeId::kFloat64) b->AppendFixed<double>(d);
        else b->AppendFixed<float>(static_cast<float>(d));
        return Status::OK();
      }
      if (IsDateLike(p.id) && which != 0) return null();  // date ±infinity: NULL, as the framework's non-PostgreSQL adapters
      if (p.text_like) {
        b->AppendBytes(v);
        return Status::OK();
      }
      return Status::InvalidData(std::string(which == 0 ? "NaN" : "infinity") + " marker " + Quote(v) +
                                 " cannot be held by " + b->type().ToString());
    }
  }
  switch (p.id) {
    case TypeId::kInt8: return AppendInt<int8_t>(v, b);
    case TypeId::kInt16: return AppendInt<int16_t>(v, b);
    case TypeId::kInt32: return AppendInt<int32_t>(v, b);
    case TypeId::kInt64: return AppendInt<int64_t>(v, b);
    case TypeId::kUInt8: return AppendInt<uint8_t>(v, b);
    case TypeId::kUInt16: return AppendInt<uint16_t>(v, b);
    case TypeId::kUInt32: return AppendInt<uint32_t>(v, b);
    case TypeId::kUInt64: return AppendInt<uint64_t>(v, b);
    case TypeId::kString:
    case TypeId::kJson:
      b->AppendBytes(v);  // the document / payload was validated as UTF-8
      return Status::OK();
    case TypeId::kDecimal: {
      auto d = ParseDecimal(v, p.precision, p.scale);
      if (!d.ok()) return d.status();
      b->AppendFixed<int128_t>(*d);
      return Status::OK();
    }
    case TypeId::kDate: {
      if (v == internal::kNoDateMarker) return null();
      auto d = ParseDate(v);
      if (!d.ok() && v.size() > 10 && (v[10] == 'T' || v[10] == ' ')) {
        // RFC 3339 timestamps are accepted for DATE; the date part is kept.
        if (ParseTimestamp(v).ok()) d = ParseDate(v.substr(0, 10));
      }
      if (!d.ok()) return d.status();
      b->AppendFixed<int32_t>(*d);
      return Status::OK();
    }
    case TypeId::kTimestamp: {
      if (v.substr(0, 10) == internal::kNoDateMarker) return null();
      auto t = ParseTimestamp(v);
      if (!t.ok()) return t.status();
      // An offset can move the instant out of years 0001..9999 (which text
      // with a 4-digit year, and sluice, cannot hold).
      if (*t < int64_t{kMinDate} * kMicrosPerDay || *t >= (int64_t{kMaxDate} + 1) * kMicrosPerDay) {
        return Status::InvalidData("timestamp " + Quote(v) + " is outside years 0001..9999 in UTC");
      }
      b->AppendFixed<int64_t>(*t);
      return Status::OK();
    }
    case TypeId::kFloat64: {
      double d;
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
      if (ec == std::errc() && ptr == v.data() + v.size()) {
        b->AppendFixed<double>(d);
        return Status::OK();
      }
      return AppendParsedText(v, b);  // "+1", "Infinity", errors
    }
    case TypeId::kFloat32: {
      float f;
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), f);
      if (ec == std::errc() && ptr == v.data() + v.size()) {
        b->AppendFixed<float>(f);
        return Status::OK();
      }
      return AppendParsedText(v, b);
    }
    case TypeId::kBool:
      if (v.size() == 1 && (v[0] == '0' || v[0] == '1')) {
        b->AppendBool(v[0] == '1');
        return Status::OK();
      }
      return AppendParsedText(v, b);  // true/false, t/f, ...
    case TypeId::kBinary: {
      Status st = internal::Base64DecodeInto(v, &blob_scratch_);
      if (!st.ok()) return st;
      b->AppendBytes(blob_scratch_);
      return Status::OK();
    }
    default:
      return AppendParsedText(v, b);  // time, uuid
  }
}

Status PacketParser::DecodeRows(RecordBatch* batch) {
  const int nf = static_cast<int>(plans_.size());
  const int64_t nrows = static_cast<int64_t>(rows_.size());
  if (nf == 0) {
    if (nrows > 0) return Fail("rows present but <Schema> declares no fields");
    *batch = RecordBatch(schema_, 0, {});
    return Status::OK();
  }
  BatchBuilder bb(schema_);
  bb.Reserve(nrows);

  bool compact = false;
  std::vector<std::string> carry;
  if (compact_) {
    for (const auto& p : plans_) compact = compact || p.fixed;
  }
  std::vector<std::string_view> cells;
  std::string scratch;
  if (compact) {
    carry.resize(static_cast<size_t>(nf));
    if (has_carry_ && !carry_.empty()) {
      internal::SplitRow(carry_, &cells, &scratch);
      for (int c = 0; c < nf && c < static_cast<int>(cells.size()); ++c) {
        if (plans_[static_cast<size_t>(c)].fixed && !cells[static_cast<size_t>(c)].empty()) {
          carry[static_cast<size_t>(c)].assign(cells[static_cast<size_t>(c)]);
        }
      }
    }
  }
  const bool use_dict = !dict_map_.empty();

  for (int64_t r = 0; r < nrows; ++r) {
    internal::SplitRow(rows_[static_cast<size_t>(r)], &cells, &scratch);
    if (compact) {
      if (static_cast<int>(cells.size()) < nf) cells.resize(static_cast<size_t>(nf));
      if (tail_ && r == nrows - 1) {
        for (int c = 0; c < nf; ++c) {
          if (plans_[static_cast<size_t>(c)].fixed && cells[static_cast<size_t>(c)].empty()) {
            return Fail("row " + std::to_string(r + 1) + ", column '" + schema_->field(c).name +
                        "': compact tail row must repeat every fixed field, this one is empty");
          }
        }
      }
    }
    if (static_cast<int>(cells.size()) != nf) {
      return Fail("row " + std::to_string(r + 1) + ": " + std::to_string(cells.size()) + " value(s), " +
                  std::to_string(nf) + " field(s) in <Schema>");
    }
    for (int c = 0; c < nf; ++c) {
      const ColPlan& p = plans_[static_cast<size_t>(c)];
      std::string_view v = cells[static_cast<size_t>(c)];
      if (compact && p.fixed) {
        auto& cv = carry[static_cast<size_t>(c)];
        if (!v.empty()) cv.assign(v);
        else v = cv;
      }
      if (use_dict && v.size() >= 2 && v[0] == '@' && IsDictToken(v)) {
        auto it = dict_map_.find(v);
        if (it != dict_map_.end()) v = it->second;
      }
      Status st = DecodeCell(p, v, &bb.column(c));
      if (!st.ok()) return CellError(r, c, st);
    }
  }
  *batch = bb.Finish();
  return Status::OK();
}

Result<Packet> PacketParser::Parse(std::string_view input) {
  if (static_cast<int64_t>(input.size()) > opt_.max_packet_bytes) {
    return Fail("packet is " + std::to_string(input.size()) + " bytes, above the limit of " +
                std::to_string(opt_.max_packet_bytes) + " (ReadOptions::max_packet_bytes)");
  }
  std::string_view doc = input;
  if (doc.size() >= 3 && static_cast<uint8_t>(doc[0]) == 0xEF && static_cast<uint8_t>(doc[1]) == 0xBB &&
      static_cast<uint8_t>(doc[2]) == 0xBF) {
    doc.remove_prefix(3);
  }
  // TDTP v1.3 whole-packet encryption: [0x01 0x00][0x01 AES-256-GCM][uuid][nonce][ciphertext].
  if (doc.size() >= 31 && doc[0] == 0x01 && doc[1] == 0x00 && doc[2] == 0x01) {
    return Unsupported("encrypted TDTP packets are not supported (v1.3 AES-256-GCM envelope)");
  }
  if (doc.size() >= 2 && ((static_cast<uint8_t>(doc[0]) == 0xFF && static_cast<uint8_t>(doc[1]) == 0xFE) ||
                          (static_cast<uint8_t>(doc[0]) == 0xFE && static_cast<uint8_t>(doc[1]) == 0xFF))) {
    return Fail("UTF-16 packets are not supported: TDTP is UTF-8");
  }
  if (!IsValidUtf8(doc)) return Fail("packet is not valid UTF-8");
  doc_ = doc;
  sc_ = std::make_unique<XmlScanner>(doc);
  SLUICE_RETURN_NOT_OK(Ctx(sc_->SkipProlog()));
  XmlStartTag root;
  SLUICE_RETURN_NOT_OK(Ctx(sc_->ReadStartTag(&root)));
  SLUICE_RETURN_NOT_OK(ParseRoot(root));
  SLUICE_RETURN_NOT_OK(Ctx(sc_->CheckEpilog()));

  if (header_.total_parts > 0 && header_.part_number > header_.total_parts) {
    return Fail("<PartNumber> " + std::to_string(header_.part_number) + " exceeds <TotalParts> " +
                std::to_string(header_.total_parts));
  }
  for (const auto& e : dict_) dict_map_.emplace(e.short_token, e.full);

  SLUICE_RETURN_NOT_OK(PrepareRows());
  SLUICE_RETURN_NOT_OK(ExpandColumns());
  SLUICE_RETURN_NOT_OK(VerifyIntegrity());
  if (header_.records_in_part > 0 && static_cast<int64_t>(rows_.size()) != header_.records_in_part) {
    return Fail("<RecordsInPart> declares " + std::to_string(header_.records_in_part) + " rows, <Data> holds " +
                std::to_string(rows_.size()));
  }
  SLUICE_RETURN_NOT_OK(BuildSchema());
  Packet packet;
  SLUICE_RETURN_NOT_OK(DecodeRows(&packet.batch));
  packet.header = std::move(header_);
  packet.schema = schema_;
  return packet;
}

}  // namespace

Result<Packet> ReadPacket(std::string_view xml, std::string_view name_for_errors, const ReadOptions& options) {
  PacketParser parser(name_for_errors, options);
  return parser.Parse(xml);
}

}  // namespace sluice::tdtp
