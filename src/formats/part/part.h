// The native part format: one part is a complete Arrow IPC *streaming
// format* byte sequence (schema message, record batch messages, end-of-stream
// marker) whose schema message carries sluice's header in its custom metadata
// ("sluice.*" keys). Any Arrow reader can read a part (pyarrow.ipc.open_stream);
// sluice reads parts and plain Arrow streams written by other tools.
// The byte layout, every header key and the checksum definitions are in
// docs/FORMAT.md, "Native part format".
//
// The Arrow IPC encoding here is our own implementation of the Arrow spec
// (metadata version V5, little-endian, optional LZ4_FRAME / ZSTD buffer
// compression); there is no dependency on the Arrow C++ library.
//
// Thread safety: the free functions are reentrant and may run concurrently.
// A StreamPartEncoder is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/batch.h"
#include "core/buffer.h"
#include "core/status.h"
#include "core/types.h"

namespace sluice::part {

// Major version of the sluice header; readers reject parts with a higher major.
inline constexpr int kFormatVersion = 1;
inline constexpr int64_t kDefaultTargetPartBytes = int64_t{2} << 20;       // 2 MiB
inline constexpr int64_t kDefaultMaxUncompressedBytes = int64_t{1} << 30;  // 1 GiB
// Rows in one record batch message (keeps int32 offsets and bitmap sizes safe).
inline constexpr int64_t kMaxBatchRows = (int64_t{1} << 31) - 1;

enum class Compression { kNone, kLz4, kZstd };
std::string_view CompressionName(Compression c);  // "none", "lz4", "zstd"
Result<Compression> ParseCompression(std::string_view name);

enum class PartKind { kData, kEnd };
std::string_view PartKindName(PartKind k);  // "data", "end"

// The sluice header of a part (the "sluice.*" schema metadata keys).
struct PartHeader {
  // Major format version; EncodePart always writes kFormatVersion.
  int format_version = kFormatVersion;
  std::string stream_id;
  // 1-based. The end part is number total_parts + 1.
  int64_t part_number = 1;
  // Number of data parts in the stream: 0 while streaming, set in the end part.
  int64_t total_parts = 0;
  // Rows in this part (EncodePart fills it in).
  int64_t rows = 0;
  // Opaque source positions (rowid, offset, LSN, ...) this part covers.
  std::string position_start;
  std::string position_end;
  // Identifies the source snapshot (the stream id derives from it).
  std::string source_fingerprint;
  // Deterministic per part content and position. Exports set it to
  // ContentIdempotencyKey(source identity, rows, part_number); EncodePart
  // computes IdempotencyKey(source_fingerprint, part_number) when it is empty
  // and source_fingerprint is set.
  std::string idempotency_key;
  // UTC microseconds since the epoch; EncodePart uses the current time when 0.
  int64_t created_at_micros = 0;
  PartKind kind = PartKind::kData;
  // XXH3-64 of the whole part with the checksum digits zeroed (EncodePart fills it in).
  uint64_t checksum = 0;
  // End part only: rows in all data parts, and StreamChecksum() over them.
  int64_t total_rows = 0;
  uint64_t stream_checksum = 0;
  // False when a plain Arrow stream (no sluice.* keys) was decoded with
  // require_sluice_header = false; the other fields are then defaults, except rows.
  bool has_sluice_header = true;
};

struct EncodeOptions {
  Compression compression = Compression::kZstd;
  // zstd: level (1 = fast, up to 22; negative = faster). lz4: acceleration-free
  // frame "compression level" (0 = default fast mode, 3..12 = HC).
  int compression_level = 1;
};

// Encodes `batches` (each must match `schema`) as one part. Fills in
// header->rows, header->checksum, and header->created_at_micros /
// idempotency_key when unset. An end part (kind kEnd) takes no batches.
Result<std::string> EncodePart(PartHeader* header, const Schema& schema,
                               const std::vector<RecordBatch>& batches,
                               const EncodeOptions& options = {});

struct DecodeOptions {
  bool verify_checksum = true;
  // Upper bound on the decoded (uncompressed) body bytes of the part; bounds
  // every allocation driven by the input.
  int64_t max_uncompressed_bytes = kDefaultMaxUncompressedBytes;
  // When set, the part's schema must have the same column names, types,
  // nullability and primary key flags (source_type hints may differ).
  std::shared_ptr<const Schema> expected_schema;
  // False accepts plain Arrow IPC streams without a sluice header (pyarrow).
  bool require_sluice_header = true;
};

struct DecodedPart {
  PartHeader header;
  std::shared_ptr<const Schema> schema;
  std::vector<RecordBatch> batches;
};

// Decodes a part (or, with require_sluice_header = false, any Arrow IPC stream
// of supported types). Uncompressed buffers are not copied: the columns view
// `bytes`, which they keep alive. Errors name the part as `name_for_errors`.
Result<DecodedPart> DecodePart(std::shared_ptr<Buffer> bytes, std::string_view name_for_errors,
                               const DecodeOptions& options = {});

// Reads only the schema message (header + schema; `batches` stays empty)
// without checking the body or the checksum: for listing and sorting parts.
Result<DecodedPart> DecodePartHeader(std::shared_ptr<Buffer> bytes,
                                     std::string_view name_for_errors,
                                     const DecodeOptions& options = {});

// Hex XXH3-128 of (source_fingerprint bytes ++ part_number as int64 LE): 32
// lower-case hex digits, the same for every re-export of the same source part.
std::string IdempotencyKey(std::string_view source_fingerprint, int64_t part_number);

// Content digest of rows: 32 hex digits of XXH3-128 over a canonical byte
// form of the values (docs/FORMAT.md, "Checksums and keys"). Depends only on
// the schema's column names and types and on the rows' values in order: not
// on how the rows are cut into batches, on bytes under NULL slots, or on
// buffer offsets. Each batch must match `schema` (InvalidArgument otherwise).
// Reads each value buffer once, in bulk where possible (several GB/s).
Result<std::string> RowsDigest(const Schema& schema, const std::vector<RecordBatch>& batches);

// The idempotency key of a part holding `batches` as part `part_number` of
// a source whose stable identity (Source::Identity(): what is read, without
// the snapshot) is `identity`:
//   IdempotencyKey(identity + "#rows=" + RowsDigest(schema, batches), part_number).
// The same rows at the same position of a re-read give the same key even
// when the source's snapshot moved; changed rows give a different one.
Result<std::string> ContentIdempotencyKey(std::string_view identity, const Schema& schema,
                                          const std::vector<RecordBatch>& batches,
                                          int64_t part_number);

// XXH3-64 over the 16-byte records (part_number int64 LE, checksum uint64 LE)
// of the data parts, sorted by part number. Order of `parts` does not matter.
struct PartChecksum {
  int64_t part_number = 0;
  uint64_t checksum = 0;
};
uint64_t StreamChecksum(std::vector<PartChecksum> parts);

// Verifies that `headers` (any order) form one complete stream: one end part,
// data parts numbered 1..total_parts exactly once, all with the same stream
// id, total rows and stream checksum as the end part declares.
Status ValidateStream(const std::vector<PartHeader>& headers, std::string_view stream_name);

struct EncodedPart {
  PartHeader header;
  std::string bytes;
};

// Cuts a stream of record batches into parts of about target_part_bytes of
// uncompressed body each (slicing batches by rows where needed) and ends it
// with the end part. Parts are numbered 1..N in the order they are emitted.
class StreamPartEncoder {
 public:
  struct Options {
    int64_t target_part_bytes = kDefaultTargetPartBytes;
    std::string stream_id;
    std::string source_fingerprint;
    Compression compression = Compression::kZstd;
    int compression_level = 1;
  };

  // Totals over the data parts emitted so far.
  struct State {
    int64_t parts = 0;
    int64_t rows = 0;
    uint64_t stream_checksum = 0;  // StreamChecksum() of the parts emitted so far
    int64_t pending_rows = 0;      // appended but not yet in a part
    int64_t pending_bytes = 0;
    bool finished = false;
  };

  static Result<std::unique_ptr<StreamPartEncoder>> Make(std::shared_ptr<const Schema> schema,
                                                         Options options);
  ~StreamPartEncoder();

  // Appends a batch; parts that became full are appended to `ready`.
  Status Append(const RecordBatch& batch, std::vector<EncodedPart>* ready);
  // Same, stating the source positions the batch covers. A part's position
  // range runs from the start of the batch holding its first row to the end
  // of the batch holding its last row (adjacent parts may overlap when a batch
  // is split between them).
  Status Append(const RecordBatch& batch, std::string_view position_start,
                std::string_view position_end, std::vector<EncodedPart>* ready);
  // Emits the pending rows as a part now (no-op when nothing is pending).
  Status Flush(std::vector<EncodedPart>* ready);
  // Flushes and appends the end part. No Append after Finish.
  Status Finish(std::vector<EncodedPart>* ready);

  const State& state() const;
  const std::shared_ptr<const Schema>& schema() const;

 private:
  struct Impl;
  explicit StreamPartEncoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::part
