// Shared between the part encoder, decoder and stream helpers; not installed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/batch.h"
#include "formats/part/part.h"

// XXH3 with runtime CPU dispatch (SSE2 / AVX2 / AVX-512) on x86: the
// dispatch header maps XXH3_64bits* onto the *_dispatch entry points that
// Debian's libxxhash exports; elsewhere the portable functions are used.
#if defined(__x86_64__) || defined(__i386__)
#include <xxh_x86dispatch.h>
#else
#include <xxhash.h>
#endif

namespace sluice::part::internal {

// Arrow IPC framing: each message is <0xFFFFFFFF><int32 metadata size>
// <flatbuffer Message + padding><body>; the stream ends with <0xFFFFFFFF><0>.
inline constexpr uint32_t kContinuation = 0xFFFFFFFFu;
inline constexpr int64_t kIpcAlignment = 8;
inline int64_t PadTo8(int64_t n) { return (n + 7) & ~int64_t{7}; }

// Schema-level sluice header keys (custom_metadata of the schema message).
inline constexpr std::string_view kKeyPrefix = "sluice.";
inline constexpr std::string_view kKeyFormatVersion = "sluice.format_version";
inline constexpr std::string_view kKeyStreamId = "sluice.stream_id";
inline constexpr std::string_view kKeyPartNumber = "sluice.part_number";
inline constexpr std::string_view kKeyTotalParts = "sluice.total_parts";
inline constexpr std::string_view kKeyRows = "sluice.rows";
inline constexpr std::string_view kKeyPositionStart = "sluice.position_start";
inline constexpr std::string_view kKeyPositionEnd = "sluice.position_end";
inline constexpr std::string_view kKeySourceFingerprint = "sluice.source_fingerprint";
inline constexpr std::string_view kKeyIdempotencyKey = "sluice.idempotency_key";
inline constexpr std::string_view kKeyCreatedAt = "sluice.created_at";
inline constexpr std::string_view kKeyKind = "sluice.kind";
inline constexpr std::string_view kKeyChecksum = "sluice.checksum";
inline constexpr std::string_view kKeyTotalRows = "sluice.total_rows";
inline constexpr std::string_view kKeyStreamChecksum = "sluice.stream_checksum";

// Field-level keys (custom_metadata of each Field).
inline constexpr std::string_view kFieldPrimaryKey = "sluice:primary_key";
inline constexpr std::string_view kFieldSourceType = "sluice:source_type";
inline constexpr std::string_view kExtensionName = "ARROW:extension:name";
inline constexpr std::string_view kExtensionMetadata = "ARROW:extension:metadata";
inline constexpr std::string_view kUuidExtension = "arrow.uuid";
inline constexpr std::string_view kJsonExtension = "arrow.json";

struct Xxh3StateDeleter {
  void operator()(XXH3_state_t* p) const { XXH3_freeState(p); }
};
using Xxh3State = std::unique_ptr<XXH3_state_t, Xxh3StateDeleter>;

// 16 lower-case hex digits, and back (exactly 16 digits, either case).
std::string Hex64(uint64_t v);
bool ParseHex64(std::string_view s, uint64_t* out);

// A row range of a batch to encode as one record batch message. The batch
// must outlive the encoding call.
struct RowRange {
  const RecordBatch* batch = nullptr;
  int64_t offset = 0;
  int64_t length = 0;
};

// Exact uncompressed body bytes (8-byte padded buffers) of rows
// [offset, offset+length) of `batch` as EncodePart would write them, except
// that validity bitmaps are counted whenever the column has nulls.
int64_t RangeBodyBytes(const RecordBatch& batch, int64_t offset, int64_t length);

// Reusable compression contexts (one per encoder; not thread-safe).
class Compressor {
 public:
  Compressor();
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;
  // Compresses `n` bytes into `dst` (capacity `cap`); returns bytes written.
  Result<int64_t> Compress(Compression c, int level, const uint8_t* src, int64_t n, uint8_t* dst,
                           int64_t cap);
  static int64_t MaxCompressedLength(Compression c, int64_t n);

 private:
  struct Contexts;
  std::unique_ptr<Contexts> ctx_;
};

// Cheap structural checks that `batch` can be encoded with `schema` (column
// count and types, buffers present and long enough); O(columns).
Status CheckBatch(const Schema& schema, const RecordBatch& batch);

// EncodePart over row ranges (the StreamPartEncoder slices without copying).
Result<std::string> EncodeRanges(PartHeader* header, const Schema& schema,
                                 const std::vector<RowRange>& ranges, const EncodeOptions& options,
                                 Compressor* compressor);

}  // namespace sluice::part::internal
