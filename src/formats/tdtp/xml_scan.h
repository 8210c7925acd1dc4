// A small non-validating XML pull scanner, just enough for TDTP packets and
// hardened for hostile input: no recursion, no entity declarations (only the
// five predefined entities and character references), no allocation driven
// by declared sizes. Names are compared by local name (prefixes ignored), as
// Go's encoding/xml does for untagged namespaces.
//
// Text is returned as raw spans into the document; DecodeText() applies XML
// end-of-line normalization (CRLF and lone CR become LF — a character
// reference &#xD; stays CR) and entity decoding.
//
// Thread safety: one scanner per document, used by one thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice::tdtp::internal {

struct XmlAttr {
  std::string_view name;   // local name
  std::string_view raw;    // value between the quotes, undecoded
};

struct XmlStartTag {
  std::string_view qname;  // as written (for matching the end tag)
  std::string_view name;   // local name
  std::vector<XmlAttr> attrs;
  bool self_closing = false;

  const XmlAttr* Find(std::string_view local) const {
    for (const auto& a : attrs) {
      if (a.name == local) return &a;
    }
    return nullptr;
  }
};

// True when `raw` holds an entity or a CR, i.e. DecodeText would change it.
bool NeedsDecode(std::string_view raw);
// Appends the decoded text of `raw` (text, attribute value or CDATA body:
// pass cdata=true to skip entity decoding).
Status DecodeText(std::string_view raw, bool cdata, std::string* out);

class XmlScanner {
 public:
  enum class Kind { kStartTag, kEndTag, kText, kCData, kEof };

  explicit XmlScanner(std::string_view doc) : doc_(doc) {}

  // Skips the XML declaration, processing instructions, comments, a DOCTYPE
  // and whitespace, and stops at the root element's '<'.
  Status SkipProlog();
  // After the root element ends: only comments, PIs and whitespace may follow.
  Status CheckEpilog();

  // Next item of element content. Comments and PIs are skipped. kStartTag
  // leaves the cursor at the tag: call ReadStartTag. kEndTag consumes the
  // end tag and sets `end_qname`. kText/kCData set `text` (raw span).
  Status Next(Kind* kind);
  Status ReadStartTag(XmlStartTag* tag);

  // Skips the rest of the element whose start tag was just read.
  Status SkipElement(const XmlStartTag& tag);
  // Reads the content of the element whose start tag was just read, which
  // must hold only text/CDATA (comments are ignored), through its end tag.
  // On return `*raw` is the single raw span when the content is one piece
  // needing no decoding (`*decoded_into_out` false); otherwise the decoded
  // text was appended to `*out` (`*decoded_into_out` true).
  Status ReadSimpleContent(const XmlStartTag& tag, std::string_view* raw, std::string* out,
                           bool* decoded_into_out);
  // Fast path for the common row shape: skips whitespace and, when the
  // next item is exactly "<R>text</R>" with no entity, CR or markup inside,
  // consumes it and returns true. Otherwise leaves the cursor and returns false.
  bool TryPlainRow(std::string_view* text);
  // Convenience: decoded content as a string.
  Status ReadTextElement(const XmlStartTag& tag, std::string* out);

  std::string_view text() const { return text_; }
  std::string_view end_qname() const { return end_qname_; }
  size_t position() const { return pos_; }
  // "line N" for the current position (computed on demand, for errors).
  std::string Where() const;
  std::string WhereAt(size_t pos) const;

  static constexpr int kMaxDepth = 256;

 private:
  Status Error(std::string_view what) const;
  Status SkipComment();
  Status SkipPI();
  Status SkipDoctype();
  Status ReadEndTag();
  bool AtEnd() const { return pos_ >= doc_.size(); }

  std::string_view doc_;
  size_t pos_ = 0;
  std::string_view text_;
  std::string_view end_qname_;
};

}  // namespace sluice::tdtp::internal
