// JSON text primitives for the JSONL codec: string escaping, validation and
// compaction of embedded JSON values, and a small strict scanner (RFC 8259).
//
// A hand-written scanner is used instead of a DOM/on-demand library because
// the codec needs the exact text of number tokens (uint64, int64 and
// decimal(38) values must parse exactly), the exact text of embedded values
// (json columns keep their key order, number spelling and escapes), full
// validation of skipped values, and byte positions for error messages.
//
// Thread safety: free functions are reentrant; a JsonScanner is used by one thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice::jsonl {

// Appends `s` (valid UTF-8) as a JSON string literal, quotes included.
// Escapes exactly as ECMAScript JSON.stringify: \" \\ \b \f \n \r \t, other
// characters below U+0020 as \u00xx (lower-case hex); everything else,
// including non-ASCII, is written as raw UTF-8.
void AppendJsonString(std::string_view s, std::string* out);

// Checks that `text` is valid UTF-8 holding exactly one JSON value (white
// space around it allowed) and appends the value in compact form: white
// space outside strings removed, every other byte kept as is. On error
// nothing is appended.
Status AppendCompactJson(std::string_view text, std::string* out);

namespace internal {

// High bit set in each byte of `w` that is '"', '\\' or below 0x20. Bytes
// above the first hit may be false positives; the lowest set bit is exact.
inline uint64_t JsonSpecialBytes(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  auto zero_bytes = [](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;
  return below_space | zero_bytes(w ^ (kOnes * '"')) | zero_bytes(w ^ (kOnes * '\\'));
}

inline constexpr int kMaxJsonDepth = 256;

// Strict scanner over one JSON text [begin, end). The input must already be
// known to be valid UTF-8 (callers validate in bulk).
class JsonScanner {
 public:
  JsonScanner(const char* begin, const char* end) : begin_(begin), p_(begin), end_(end) {}

  bool AtEnd() const { return p_ == end_; }
  char Peek() const { return *p_; }  // requires !AtEnd()
  const char* pos() const { return p_; }
  void SkipWs() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool Consume(char c) {
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }

  // At '"': the unescaped content, viewing the input when it has no escapes,
  // else `*scratch`. Advances past the closing quote.
  Status ParseString(std::string_view* out, std::string* scratch);
  // At '-' or a digit: the number token, checked against the JSON grammar.
  Status ScanNumber(std::string_view* token);
  // The literal `lit` ("true", "false", "null") must follow.
  Status ExpectLiteral(std::string_view lit);
  // Any value, fully validated; its compact text is appended to `out` if non-null.
  Status ParseValue(std::string* out, int depth = 0);

  // "invalid JSON at byte N: <what>" (N is 1-based within the text).
  Status Error(std::string_view what) const;

 private:
  Status ParseStringSlow(const char* start, std::string_view* out, std::string* scratch);

  const char* begin_;
  const char* p_;
  const char* end_;
  std::string scratch_;
};

}  // namespace internal
}  // namespace sluice::jsonl
