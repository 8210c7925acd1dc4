// Pieces shared by the text codecs (CSV here, JSONL in formats/jsonl): type
// inference from a sample of values, chunked buffering of an InputStream and
// bulk UTF-8 validation. Internal to the codecs; not a public API.
//
// Thread safety: none of these objects are shared; one reader owns each.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "core/batch.h"
#include "core/io.h"
#include "core/status.h"
#include "core/types.h"

namespace sluice::textcodec {

// Shape of a JSON number token (RFC 8259 grammar: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?).
struct NumberShape {
  bool is_integer = false;    // no fraction, no exponent
  bool has_exponent = false;
  int int_digits = 0;         // digits before the point, leading zeros dropped ("0.5" -> 0)
  int frac_digits = 0;        // digits after the point
  int significant_digits = 0; // digits without leading zeros (trailing zeros count)
};
// True when `s` is exactly one JSON number; fills `shape` if non-null.
bool ParseNumberShape(std::string_view s, NumberShape* shape);

// Accumulates the values of one column from a sample and picks the narrowest
// type that holds all of them exactly (rules in docs/FORMAT.md, "Text formats",
// "Schema inference"). CSV feeds every non-NULL field to AddText; JSONL feeds
// strings to AddText and numbers / booleans / objects+arrays to the others.
class TypeInferrer {
 public:
  // `json`: the values come from JSON, where mixing kinds (number + string,
  // bool + number, ...) yields the json type; in CSV a mix yields string.
  explicit TypeInferrer(bool json) : json_(json) {}

  void AddText(std::string_view s);
  void AddNumber(std::string_view token);  // a JSON number token
  void AddBool() { ++n_bool_; }
  void AddContainer() { ++n_container_; }

  DataType Finish(bool infer_decimal) const;

 private:
  void AddNumberShape(std::string_view s, const NumberShape& shape);

  bool json_;
  int64_t n_bool_ = 0, n_number_ = 0, n_special_ = 0, n_date_ = 0, n_time_ = 0,
          n_ts_naive_ = 0, n_ts_zoned_ = 0, n_other_ = 0, n_container_ = 0;
  bool all_int64_ = true, all_plain_ = true, needs_exact_ = false;
  int max_int_digits_ = 0, max_frac_digits_ = 0;
};

// Decodes canonical base64 (standard alphabet, padded, no white space) into
// *out without allocating once *out has grown. Returns false for anything
// else, which callers hand to the lenient core Base64Decode (that accepts a
// superset and words the error), so both paths accept the same texts.
bool DecodeBase64Strict(std::string_view text, std::string* out);

// Fast paths for plain numbers: append and return true when `v` is exactly a
// number from_chars reads; otherwise return false without appending, and the
// caller falls back to AppendParsedText ("+5", "NaN", errors), so the accepted
// texts are exactly the canonical parser's.
template <typename T>
bool FastInteger(std::string_view v, ColumnBuilder* b) {
  T x;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || ptr != v.data() + v.size()) return false;
  b->AppendFixed<T>(x);
  return true;
}
template <typename T>
bool FastFloat(std::string_view v, ColumnBuilder* b) {
  const size_t d = !v.empty() && v[0] == '-' ? 1 : 0;
  if (v.size() <= d || v[d] < '0' || v[d] > '9') return false;  // inf/nan spellings: slow path
  T x;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || ptr != v.data() + v.size()) return false;
  b->AppendFixed<T>(x);
  return true;
}

// Strict UTF-8 validation of a large region (SIMD, via simdjson).
bool ValidUtf8(const char* p, size_t n);

// A growable window over an InputStream. Codecs parse records in
// [0, size()) and call Refill(keep_from) when a record runs past the end:
// bytes before `keep_from` are dropped, the rest moves to offset 0 and at
// least one more chunk is read. The read size doubles with the kept bytes so
// a record far larger than a chunk is rescanned only O(log) times.
class ChunkedInput {
 public:
  ChunkedInput(InputStream* in, int64_t chunk_bytes) : in_(in), chunk_(static_cast<size_t>(chunk_bytes)) {}

  const char* data() const { return buf_.get(); }
  size_t size() const { return size_; }
  bool eof() const { return eof_; }
  InputStream* stream() const { return in_; }

  // Returns the number of bytes read (0 means end of stream; eof() is then true).
  Result<size_t> Refill(size_t keep_from);

 private:
  InputStream* in_;
  size_t chunk_;
  std::unique_ptr<char[]> buf_;
  size_t capacity_ = 0;
  size_t size_ = 0;
  bool eof_ = false;
};

// Option checks shared by the readers.
Status CheckReadLimits(int64_t batch_rows, int64_t batch_bytes, int64_t read_chunk_bytes,
                       int64_t max_record_bytes);

// Upper bound on columns a reader will create from input (header / keys).
inline constexpr int kMaxColumns = 1 << 16;
// Bytes of sample a reader keeps in memory for inference (plus one record).
inline constexpr int64_t kMaxSampleBytes = int64_t{64} << 20;

// "'text'" truncated to 64 bytes, for error messages.
std::string QuoteForError(std::string_view s);

}  // namespace sluice::textcodec
