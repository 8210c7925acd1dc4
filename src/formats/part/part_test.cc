#include "formats/part/part.h"

#include <gtest/gtest.h>
#include <lz4frame.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>
#include <random>

#include "arrow_ipc_generated.h"
#include "core/testing.h"
#include "core/text.h"

namespace sluice::part {
namespace {

constexpr Compression kAllCompressions[] = {Compression::kNone, Compression::kLz4,
                                            Compression::kZstd};

std::shared_ptr<Buffer> ToBuffer(const std::string& s) {
  return Buffer::Copy(s.data(), static_cast<int64_t>(s.size()));
}

PartHeader SampleHeader() {
  PartHeader h;
  h.stream_id = "orders-2024";
  h.part_number = 7;
  h.position_start = "rowid:100";
  h.position_end = "rowid:200";
  h.source_fingerprint = "pg://db/orders@snapshot-42";
  h.created_at_micros = 1714560000123456;  // 2024-05-01T10:40:00.123456Z
  return h;
}

std::string Encode(const std::vector<RecordBatch>& batches, Compression c,
                   PartHeader* h_out = nullptr) {
  PartHeader h = SampleHeader();
  EncodeOptions o;
  o.compression = c;
  auto r = EncodePart(&h, *batches.at(0).schema(), batches, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (h_out) *h_out = h;
  return r.ok() ? *r : std::string();
}

// Concatenates the rows of `batches` into one batch (test oracle).
RecordBatch Concat(const std::shared_ptr<const Schema>& schema,
                   const std::vector<RecordBatch>& batches) {
  BatchBuilder bb(schema);
  for (const RecordBatch& b : batches) {
    for (int c = 0; c < b.num_columns(); ++c) {
      for (int64_t r = 0; r < b.num_rows(); ++r) bb.column(c).AppendFrom(b.column(c), r);
    }
  }
  return bb.Finish();
}

class PartRoundTrip : public ::testing::TestWithParam<Compression> {};

TEST_P(PartRoundTrip, AllTypes) {
  for (int64_t rows : {0, 1, 2, 3, 8, 100, 1000}) {
    SCOPED_TRACE("rows=" + std::to_string(rows));
    RecordBatch batch = testing::AllTypesBatch(rows, 11);
    ASSERT_TRUE(batch.Validate().ok());
    PartHeader h;
    std::string bytes = Encode({batch}, GetParam(), &h);
    EXPECT_EQ(h.rows, rows);
    EXPECT_NE(h.checksum, 0u);
    auto part = DecodePart(ToBuffer(bytes), "p1");
    ASSERT_TRUE(part.ok()) << part.status().ToString();
    ASSERT_EQ(part->batches.size(), 1u);
    EXPECT_TRUE(part->schema->Equals(*batch.schema())) << part->schema->ToString();
    std::string why;
    EXPECT_TRUE(part->batches[0].Equals(batch, &why)) << why;
    const PartHeader& d = part->header;
    EXPECT_TRUE(d.has_sluice_header);
    EXPECT_EQ(d.format_version, kFormatVersion);
    EXPECT_EQ(d.stream_id, "orders-2024");
    EXPECT_EQ(d.part_number, 7);
    EXPECT_EQ(d.total_parts, 0);
    EXPECT_EQ(d.rows, rows);
    EXPECT_EQ(d.position_start, "rowid:100");
    EXPECT_EQ(d.position_end, "rowid:200");
    EXPECT_EQ(d.source_fingerprint, "pg://db/orders@snapshot-42");
    EXPECT_EQ(d.idempotency_key, IdempotencyKey("pg://db/orders@snapshot-42", 7));
    EXPECT_EQ(d.created_at_micros, 1714560000123456);
    EXPECT_EQ(d.kind, PartKind::kData);
    EXPECT_EQ(d.checksum, h.checksum);
  }
}

TEST_P(PartRoundTrip, NullsEverywhereAndManyBatches) {
  // Every nullable column entirely NULL, plus several batches in one part.
  auto schema = testing::AllTypesSchema();
  BatchBuilder bb(schema);
  for (int64_t r = 0; r < 37; ++r) {
    for (int c = 0; c < schema->num_fields(); ++c) {
      if (schema->field(c).nullable)
        bb.column(c).AppendNull();
      else
        bb.column(c).AppendFixed<int64_t>(r);
    }
  }
  RecordBatch nulls = bb.Finish();
  std::vector<RecordBatch> batches = {nulls, testing::AllTypesBatch(50, 3),
                                      testing::AllTypesBatch(0), testing::AllTypesBatch(9, 4)};
  PartHeader h;
  std::string bytes = Encode(batches, GetParam(), &h);
  EXPECT_EQ(h.rows, 37 + 50 + 0 + 9);
  auto part = DecodePart(ToBuffer(bytes), "p");
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  ASSERT_EQ(part->batches.size(), batches.size());
  for (size_t i = 0; i < batches.size(); ++i) {
    std::string why;
    EXPECT_TRUE(part->batches[i].Equals(batches[i], &why)) << i << ": " << why;
  }
}

TEST_P(PartRoundTrip, IncompressibleBuffersStoredRaw) {
  // Random 64-bit values do not compress: buffers are stored with length -1.
  auto schema = std::make_shared<const Schema>(std::vector<Field>{{"r", DataType::UInt64()}});
  BatchBuilder bb(schema);
  std::mt19937_64 rng(5);
  for (int i = 0; i < 4096; ++i) bb.column(0).AppendFixed<uint64_t>(rng());
  RecordBatch b = bb.Finish();
  std::string bytes = Encode({b}, GetParam());
  auto part = DecodePart(ToBuffer(bytes), "p");
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_TRUE(part->batches[0].Equals(b));
}

TEST_P(PartRoundTrip, ZeroColumns) {
  auto schema = std::make_shared<const Schema>(std::vector<Field>{});
  RecordBatch b(schema, 5, {});
  std::string bytes = Encode({b}, GetParam());
  auto part = DecodePart(ToBuffer(bytes), "p");
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  ASSERT_EQ(part->batches.size(), 1u);
  EXPECT_EQ(part->batches[0].num_rows(), 5);
}

TEST_P(PartRoundTrip, MisalignedInputIsCopied) {
  RecordBatch batch = testing::AllTypesBatch(20);
  std::string bytes = Encode({batch}, GetParam());
  auto holder = Buffer::Allocate(static_cast<int64_t>(bytes.size()) + 1);
  std::memcpy(holder->mutable_data() + 1, bytes.data(), bytes.size());
  auto view = Buffer::Wrap(holder->data() + 1, static_cast<int64_t>(bytes.size()), holder);
  auto part = DecodePart(view, "p");
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_TRUE(part->batches[0].Equals(batch));
}

INSTANTIATE_TEST_SUITE_P(Compressions, PartRoundTrip, ::testing::ValuesIn(kAllCompressions),
                         [](const auto& p) { return std::string(CompressionName(p.param)); });

TEST(Part, UncompressedDecodeIsZeroCopy) {
  RecordBatch batch = testing::FixedWidthBatch(1000);
  std::string bytes = Encode({batch}, Compression::kNone);
  auto buf = ToBuffer(bytes);
  auto part = DecodePart(buf, "p");
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  const uint8_t* lo = buf->data();
  const uint8_t* hi = lo + buf->size();
  for (const Column& c : part->batches[0].columns()) {
    EXPECT_GE(c.values->data(), lo);
    EXPECT_LE(c.values->data() + c.values->size(), hi);
  }
  // The columns keep the input alive.
  std::weak_ptr<Buffer> weak = buf;
  buf.reset();
  EXPECT_FALSE(weak.expired());
  part = Status::Cancelled("drop");
  EXPECT_TRUE(weak.expired());
}

TEST(Part, ChecksumIsXxh3OfPartWithZeroedDigits) {
  PartHeader h;
  std::string bytes = Encode({testing::AllTypesBatch(10)}, Compression::kNone, &h);
  // Independent recomputation per docs/FORMAT.md: find the 16 digits, zero them, hash.
  std::string digits(16, '0');
  static const char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i)
    digits[static_cast<size_t>(i)] = kHex[(h.checksum >> (60 - 4 * i)) & 15];
  size_t at = bytes.find(digits);
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(bytes.find(digits, at + 1), std::string::npos);
  std::string zeroed = bytes;
  zeroed.replace(at, 16, std::string(16, '0'));
  EXPECT_EQ(XXH3_64bits(zeroed.data(), zeroed.size()), h.checksum);
  // The part ends with the Arrow end-of-stream marker.
  ASSERT_GE(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(bytes.size() - 8), std::string("\xff\xff\xff\xff\0\0\0\0", 8));
  EXPECT_EQ(bytes.substr(0, 4), std::string("\xff\xff\xff\xff", 4));
  EXPECT_EQ(bytes.size() % 8, 0u);
}

TEST(Part, IdempotencyKeyIsDeterministic) {
  std::string a = IdempotencyKey("src-1", 3);
  EXPECT_EQ(a, IdempotencyKey("src-1", 3));
  EXPECT_NE(a, IdempotencyKey("src-1", 4));
  EXPECT_NE(a, IdempotencyKey("src-2", 3));
  ASSERT_EQ(a.size(), 32u);
  // Independent recomputation of the documented definition.
  std::string input = "src-1";
  input += std::string("\x03\0\0\0\0\0\0\0", 8);
  XXH128_hash_t h = XXH3_128bits(input.data(), input.size());
  char expect[33];
  std::snprintf(expect, sizeof(expect), "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  EXPECT_EQ(a, expect);
}

TEST(Part, StreamChecksumIsOrderIndependentAndMatchesDefinition) {
  std::vector<PartChecksum> parts = {{2, 0xabcdef}, {1, 0x1234}, {3, 0xffffffffffffffffULL}};
  uint64_t a = StreamChecksum(parts);
  std::reverse(parts.begin(), parts.end());
  EXPECT_EQ(a, StreamChecksum(parts));
  uint8_t rec[48] = {};
  uint64_t vals[3][2] = {{1, 0x1234}, {2, 0xabcdef}, {3, 0xffffffffffffffffULL}};
  for (int i = 0; i < 3; ++i) {
    for (int k = 0; k < 8; ++k) {
      rec[i * 16 + k] = static_cast<uint8_t>(vals[i][0] >> (8 * k));
      rec[i * 16 + 8 + k] = static_cast<uint8_t>(vals[i][1] >> (8 * k));
    }
  }
  EXPECT_EQ(a, XXH3_64bits(rec, sizeof(rec)));
}

TEST(Part, HeaderOnlyDecode) {
  PartHeader h;
  std::string bytes = Encode({testing::AllTypesBatch(30)}, Compression::kZstd, &h);
  auto part = DecodePartHeader(ToBuffer(bytes), "p");
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_TRUE(part->batches.empty());
  EXPECT_EQ(part->header.rows, 30);
  EXPECT_EQ(part->header.checksum, h.checksum);
  EXPECT_TRUE(part->schema->Equals(*testing::AllTypesSchema()));
}

TEST(Part, SchemaMetadataRoundTripsAndSluicePrefixIsReserved) {
  auto schema = std::make_shared<const Schema>(std::vector<Field>{{"a", DataType::Int32()}},
                                               KeyValueMetadata{{"origin", "test"}});
  BatchBuilder bb(schema);
  bb.column(0).AppendFixed<int32_t>(1);
  RecordBatch b = bb.Finish();
  std::string bytes = Encode({b}, Compression::kNone);
  auto part = DecodePart(ToBuffer(bytes), "p");
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(part->schema->metadata(), (KeyValueMetadata{{"origin", "test"}}));

  Schema bad(std::vector<Field>{{"a", DataType::Int32()}}, KeyValueMetadata{{"sluice.rows", "9"}});
  PartHeader h;
  auto r = EncodePart(&h, bad, {b});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(Part, EncodeRejectsBadInput) {
  RecordBatch b = testing::AllTypesBatch(10);
  PartHeader h;
  h.part_number = 0;
  EXPECT_EQ(EncodePart(&h, *b.schema(), {b}).status().code(), StatusCode::kInvalidArgument);
  h.part_number = 1;
  h.kind = PartKind::kEnd;
  EXPECT_EQ(EncodePart(&h, *b.schema(), {b}).status().code(), StatusCode::kInvalidArgument);
  h.kind = PartKind::kData;
  EXPECT_EQ(EncodePart(&h, *testing::FixedWidthSchema(), {b}).status().code(),
            StatusCode::kInvalidArgument);
  // NULL in a NOT NULL column.
  auto schema = std::make_shared<const Schema>(std::vector<Field>{{"a", DataType::Int32(), false}});
  BatchBuilder bb(schema);
  bb.column(0).AppendNull();
  RecordBatch n = bb.Finish();
  auto r = EncodePart(&h, *schema, {n});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("'a'"), std::string::npos) << r.status().message();
}

// ---- stream encoder ---------------------------------------------------------

struct StreamResult {
  std::vector<EncodedPart> parts;
  std::vector<DecodedPart> decoded;
};

StreamResult RunStream(const std::vector<RecordBatch>& input, int64_t target, Compression c) {
  StreamResult out;
  StreamPartEncoder::Options o;
  o.target_part_bytes = target;
  o.stream_id = "s-1";
  o.source_fingerprint = "fp";
  o.compression = c;
  auto enc = StreamPartEncoder::Make(input.at(0).schema(), o);
  EXPECT_TRUE(enc.ok());
  int64_t pos = 0;
  for (const RecordBatch& b : input) {
    Status st =
        (*enc)->Append(b, std::to_string(pos), std::to_string(pos + b.num_rows()), &out.parts);
    EXPECT_TRUE(st.ok()) << st.ToString();
    pos += b.num_rows();
  }
  Status st = (*enc)->Finish(&out.parts);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE((*enc)->state().finished);
  for (const EncodedPart& p : out.parts) {
    auto d = DecodePart(ToBuffer(p.bytes), "part " + std::to_string(p.header.part_number));
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    if (d.ok()) out.decoded.push_back(std::move(*d));
  }
  return out;
}

TEST(StreamPartEncoder, SlicesIntoPartsAndReassembles) {
  auto schema = testing::AllTypesSchema();
  // Odd batch sizes so slices start at bit offsets that are not byte aligned.
  std::vector<RecordBatch> input;
  uint64_t seed = 1;
  for (int64_t n : {1, 333, 1000, 7, 0, 2500, 13, 999})
    input.push_back(testing::AllTypesBatch(n, seed++));
  RecordBatch all = Concat(schema, input);
  const int64_t target = 16 * 1024;
  for (Compression c : kAllCompressions) {
    SCOPED_TRACE(std::string(CompressionName(c)));
    StreamResult s = RunStream(input, target, c);
    ASSERT_EQ(s.decoded.size(), s.parts.size());
    ASSERT_GE(s.parts.size(), 5u);
    const int64_t n = static_cast<int64_t>(s.parts.size()) - 1;  // data parts
    std::vector<RecordBatch> got;
    std::vector<PartHeader> headers;
    for (int64_t i = 0; i <= n; ++i) {
      const DecodedPart& d = s.decoded[static_cast<size_t>(i)];
      EXPECT_EQ(d.header.part_number, i + 1);
      EXPECT_EQ(d.header.stream_id, "s-1");
      EXPECT_EQ(d.header.idempotency_key, IdempotencyKey("fp", i + 1));
      headers.push_back(d.header);
      if (i < n) {
        EXPECT_EQ(d.header.kind, PartKind::kData);
        int64_t body = 0;
        for (const RecordBatch& b : d.batches) {
          got.push_back(b);
          body += b.ByteSize();
        }
        // Target respected: the decoded buffers never exceed it (a part is
        // only cut short when the next row does not fit), and parts other
        // than the last are not tiny.
        EXPECT_LE(body, target);
        if (i + 1 < n) {
          EXPECT_GE(body, target / 2);
        }
      } else {
        EXPECT_EQ(d.header.kind, PartKind::kEnd);
        EXPECT_TRUE(d.batches.empty());
        EXPECT_EQ(d.header.total_parts, n);
        EXPECT_EQ(d.header.total_rows, all.num_rows());
        EXPECT_EQ(d.header.position_start, "0");
        EXPECT_EQ(d.header.position_end, std::to_string(all.num_rows()));
        EXPECT_TRUE(d.schema->Equals(*schema));
      }
    }
    std::string why;
    EXPECT_TRUE(Concat(schema, got).Equals(all, &why)) << why;

    // Importers receive parts in any order.
    std::mt19937 rng(3);
    std::shuffle(headers.begin(), headers.end(), rng);
    EXPECT_TRUE(ValidateStream(headers, "s-1").ok()) << ValidateStream(headers, "s-1").ToString();

    std::vector<PartChecksum> sums;
    for (int64_t i = 0; i < n; ++i)
      sums.push_back({i + 1, s.parts[static_cast<size_t>(i)].header.checksum});
    EXPECT_EQ(StreamChecksum(sums), s.parts.back().header.stream_checksum);
  }
}

TEST(StreamPartEncoder, PositionsAndFlush) {
  auto schema = testing::FixedWidthSchema();
  StreamPartEncoder::Options o;
  o.stream_id = "s";
  o.compression = Compression::kNone;
  auto enc = StreamPartEncoder::Make(schema, o);
  ASSERT_TRUE(enc.ok());
  std::vector<EncodedPart> ready;
  ASSERT_TRUE((*enc)->Append(testing::FixedWidthBatch(10), "a", "b", &ready).ok());
  ASSERT_TRUE((*enc)->Append(testing::FixedWidthBatch(10), "b", "c", &ready).ok());
  EXPECT_TRUE(ready.empty());
  EXPECT_EQ((*enc)->state().pending_rows, 20);
  ASSERT_TRUE((*enc)->Flush(&ready).ok());
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].header.position_start, "a");
  EXPECT_EQ(ready[0].header.position_end, "c");
  EXPECT_EQ(ready[0].header.rows, 20);
  EXPECT_EQ((*enc)->state().parts, 1);
  ASSERT_TRUE((*enc)->Finish(&ready).ok());
  EXPECT_EQ(ready.size(), 2u);
  EXPECT_FALSE((*enc)->Append(testing::FixedWidthBatch(1), &ready).ok());
}

TEST(StreamPartEncoder, EmptyStreamHasOnlyTheEndPart) {
  StreamResult s = RunStream({testing::AllTypesBatch(0)}, 1024, Compression::kZstd);
  ASSERT_EQ(s.decoded.size(), 1u);
  EXPECT_EQ(s.decoded[0].header.kind, PartKind::kEnd);
  EXPECT_EQ(s.decoded[0].header.total_parts, 0);
  EXPECT_EQ(s.decoded[0].header.part_number, 1);
  EXPECT_TRUE(ValidateStream({s.decoded[0].header}, "s").ok());
}

TEST(StreamPartEncoder, RowLargerThanTargetGetsOwnPart) {
  StreamResult s = RunStream({testing::AllTypesBatch(20)}, 1, Compression::kNone);
  EXPECT_EQ(s.parts.size(), 21u);
  for (size_t i = 0; i + 1 < s.decoded.size(); ++i) EXPECT_EQ(s.decoded[i].header.rows, 1);
}

TEST(ValidateStream, DetectsIncompleteOrInconsistentStreams) {
  std::vector<RecordBatch> input = {testing::AllTypesBatch(3000)};
  StreamResult s = RunStream(input, 8 * 1024, Compression::kLz4);
  ASSERT_GE(s.decoded.size(), 4u);
  std::vector<PartHeader> h;
  for (const auto& d : s.decoded) h.push_back(d.header);
  ASSERT_TRUE(ValidateStream(h, "x").ok());

  auto expect_error = [](const std::vector<PartHeader>& hs, const std::string& needle) {
    Status st = ValidateStream(hs, "x");
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
  };
  auto missing = h;
  missing.erase(missing.begin() + 1);
  expect_error(missing, "part 2 of");
  auto no_end = h;
  no_end.pop_back();
  expect_error(no_end, "no end part");
  auto dup = h;
  dup.push_back(h[0]);
  expect_error(dup, "more than once");
  auto bad_sum = h;
  bad_sum[0].checksum ^= 1;
  expect_error(bad_sum, "stream checksum mismatch");
  auto bad_rows = h;
  bad_rows[1].rows += 1;
  expect_error(bad_rows, "rows");
  auto other = h;
  other[0].stream_id = "other";
  expect_error(other, "belongs to stream");
}

// ---- hostile input ------------------------------------------------------------

void ExpectError(const Result<DecodedPart>& r, StatusCode code, const std::string& needle) {
  ASSERT_FALSE(r.ok());
  if (getenv("PART_TEST_PRINT")) printf("%s\n", r.status().ToString().c_str());
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

TEST(PartCorruption, EveryTruncationFails) {
  RecordBatch batch = testing::AllTypesBatch(9);
  for (Compression c : kAllCompressions) {
    std::string bytes = Encode({batch}, c);
    for (bool verify : {true, false}) {
      DecodeOptions o;
      o.verify_checksum = verify;
      for (size_t n = 0; n < bytes.size(); ++n) {
        auto r = DecodePart(ToBuffer(bytes.substr(0, n)), "trunc", o);
        ASSERT_FALSE(r.ok()) << "prefix " << n << " of " << bytes.size() << " decoded";
        EXPECT_EQ(r.status().code(), StatusCode::kInvalidData) << r.status().ToString();
        EXPECT_NE(r.status().message().find("part 'trunc'"), std::string::npos);
      }
    }
  }
}

TEST(PartCorruption, RandomBitFlipsNeverCrashOrGoUnnoticed) {
  RecordBatch batch = testing::AllTypesBatch(12);
  for (Compression c : kAllCompressions) {
    std::string bytes = Encode({batch}, c);
    std::mt19937_64 rng(static_cast<uint64_t>(c) + 100);
    for (int iter = 0; iter < 1500; ++iter) {
      std::string flipped = bytes;
      const int flips = 1 + static_cast<int>(rng() % 3);
      for (int k = 0; k < flips; ++k) {
        size_t pos = rng() % flipped.size();
        flipped[pos] = static_cast<char>(flipped[pos] ^ (1u << (rng() % 8)));
      }
      // With the checksum: an error, or (flip undone by another flip) the same data.
      auto r = DecodePart(ToBuffer(flipped), "flip");
      if (r.ok()) {
        ASSERT_EQ(r->batches.size(), 1u);
        EXPECT_TRUE(r->batches[0].Equals(batch));
      }
      // Without it: structural checks only; whatever decodes must be valid.
      DecodeOptions o;
      o.verify_checksum = false;
      auto u = DecodePart(ToBuffer(flipped), "flip", o);
      if (u.ok()) {
        for (const RecordBatch& b : u->batches) EXPECT_TRUE(b.Validate().ok());
      }
    }
  }
}

TEST(PartCorruption, ChecksumMismatchMessage) {
  std::string bytes = Encode({testing::FixedWidthBatch(100)}, Compression::kNone);
  bytes[bytes.size() - 100] ^= 0x10;  // inside the last column's values
  auto r = DecodePart(ToBuffer(bytes), "orders/part-7.arrow");
  ExpectError(r, StatusCode::kInvalidData, "part 'orders/part-7.arrow': checksum mismatch");
  DecodeOptions o;
  o.verify_checksum = false;
  auto u = DecodePart(ToBuffer(bytes), "p", o);
  EXPECT_TRUE(u.ok()) << u.status().ToString();  // a value changed; only the checksum can tell
}

// Replaces the single-character metadata string `from` (flatbuffer string:
// uint32 length 1, the byte, NUL) by `to`.
bool PatchOneCharString(std::string* bytes, char from, char to) {
  std::string needle("\x01\0\0\0", 4);
  needle.push_back(from);
  needle.push_back('\0');
  size_t at = bytes->find(needle);
  if (at == std::string::npos || bytes->find(needle, at + 1) != std::string::npos) return false;
  (*bytes)[at + 4] = to;
  return true;
}

TEST(PartCorruption, NewerFormatVersionIsRejected) {
  // Header values chosen so that "1" (the format version) is the only
  // one-character metadata string.
  RecordBatch b = testing::FixedWidthBatch(10);
  PartHeader h = SampleHeader();
  h.total_parts = 12;
  EncodeOptions eo;
  eo.compression = Compression::kNone;
  auto bytes = EncodePart(&h, *b.schema(), {b}, eo);
  ASSERT_TRUE(bytes.ok());
  std::string patched = *bytes;
  ASSERT_TRUE(PatchOneCharString(&patched, '1', '2'));
  ExpectError(DecodePart(ToBuffer(patched), "p"), StatusCode::kUnsupported,
              "format version 2 is newer than this reader supports (1)");
  patched = *bytes;
  ASSERT_TRUE(PatchOneCharString(&patched, '1', '0'));
  ExpectError(DecodePart(ToBuffer(patched), "p"), StatusCode::kInvalidData,
              "invalid format version '0'");
}

TEST(PartCorruption, SchemaMismatch) {
  RecordBatch b = testing::AllTypesBatch(5);
  std::string bytes = Encode({b}, Compression::kZstd);
  auto fields = testing::AllTypesSchema()->fields();
  auto decode_with = [&](std::vector<Field> f) {
    DecodeOptions o;
    o.expected_schema = std::make_shared<const Schema>(std::move(f));
    return DecodePart(ToBuffer(bytes), "p", o);
  };
  EXPECT_TRUE(decode_with(fields).ok());
  auto f = fields;
  f[10].type = DataType::Decimal(38, 8);
  ExpectError(decode_with(f), StatusCode::kInvalidData,
              "schema mismatch: column 'dec38' has type decimal(38,9), expected decimal(38,8)");
  f = fields;
  f[2].name = "i32x";
  ExpectError(decode_with(f), StatusCode::kInvalidData, "column 2 is 'i32', expected 'i32x'");
  f = fields;
  f.pop_back();
  ExpectError(decode_with(f), StatusCode::kInvalidData, "unexpected extra column 'js'");
  f = fields;
  f.push_back({"extra", DataType::Int8()});
  ExpectError(decode_with(f), StatusCode::kInvalidData, "missing column 'extra'");
  f = fields;
  f[0].nullable = false;
  ExpectError(decode_with(f), StatusCode::kInvalidData,
              "column 'i8' is nullable, expected NOT NULL");
  f = fields;
  f[13].source_type = "varchar";  // hints may differ
  EXPECT_TRUE(decode_with(f).ok());
}

TEST(PartCorruption, UncompressedSizeLimit) {
  RecordBatch b = testing::FixedWidthBatch(10000);
  for (Compression c : kAllCompressions) {
    std::string bytes = Encode({b}, c);
    DecodeOptions o;
    o.max_uncompressed_bytes = 100000;
    ExpectError(DecodePart(ToBuffer(bytes), "big", o), StatusCode::kInvalidData,
                "max_uncompressed_bytes");
    o.max_uncompressed_bytes = 400000;
    EXPECT_TRUE(DecodePart(ToBuffer(bytes), "big", o).ok());
  }
}

TEST(PartCorruption, NotAnArrowStream) {
  ExpectError(DecodePart(ToBuffer("hello world, not arrow"), "junk"), StatusCode::kInvalidData,
              "continuation marker");
  ExpectError(DecodePart(ToBuffer(""), "empty"), StatusCode::kInvalidData, "missing end-of-stream");
  ExpectError(DecodePart(ToBuffer(std::string("\xff\xff\xff\xff\0\0\0\0", 8)), "eos"),
              StatusCode::kInvalidData, "ends before its schema");
  std::string junk_meta("\xff\xff\xff\xff\x10\0\0\0", 8);
  junk_meta += std::string(16, '\x7f');
  ExpectError(DecodePart(ToBuffer(junk_meta), "j"), StatusCode::kInvalidData,
              "not a valid Arrow flatbuffer Message");
  ExpectError(DecodePart(nullptr, "null"), StatusCode::kInvalidArgument, "no input");
}

TEST(PartCorruption, TrailingBytesAfterEos) {
  std::string bytes = Encode({testing::FixedWidthBatch(3)}, Compression::kNone);
  DecodeOptions o;
  o.verify_checksum = false;
  ExpectError(DecodePart(ToBuffer(bytes + "xx"), "t", o), StatusCode::kInvalidData,
              "2 trailing bytes after the end-of-stream marker");
}

// ---- hand-crafted hostile Arrow messages ---------------------------------------
// Built with the generated flatbuffers builders, so each test breaks exactly
// one rule of an otherwise valid plain Arrow stream.

namespace fbs = sluice::part::fb;
using FBB = flatbuffers::FlatBufferBuilder;

std::string Frame(const FBB& fbb, const std::string& body = "") {
  std::string out;
  const uint32_t cont = 0xFFFFFFFFu;
  const int32_t size = static_cast<int32_t>((fbb.GetSize() + 7) / 8 * 8);
  out.append(reinterpret_cast<const char*>(&cont), 4);
  out.append(reinterpret_cast<const char*>(&size), 4);
  out.append(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
  out.append(static_cast<size_t>(size) - fbb.GetSize(), '\0');
  return out + body;
}

const std::string kEos("\xff\xff\xff\xff\0\0\0\0", 8);

using FieldMaker = std::function<flatbuffers::Offset<fbs::Field>(FBB&)>;

FieldMaker Int32Field(const std::string& name) {
  return [name](FBB& fbb) {
    auto n = fbb.CreateString(name);
    auto t = fbs::CreateInt(fbb, 32, true);
    auto children = fbb.CreateVector(std::vector<flatbuffers::Offset<fbs::Field>>{});
    return fbs::CreateField(fbb, n, true, fbs::Type::Int, t.Union(), 0, children);
  };
}

std::string SchemaMsg(const std::vector<FieldMaker>& fields,
                      fbs::MetadataVersion version = fbs::MetadataVersion::V5) {
  FBB fbb;
  std::vector<flatbuffers::Offset<fbs::Field>> fs;
  for (const auto& f : fields) fs.push_back(f(fbb));
  auto schema = fbs::CreateSchema(fbb, fbs::Endianness::Little, fbb.CreateVector(fs));
  fbb.Finish(fbs::CreateMessage(fbb, version, fbs::MessageHeader::Schema, schema.Union(), 0));
  return Frame(fbb);
}

struct BatchSpec {
  int64_t length = 3;
  std::vector<fbs::FieldNode> nodes;
  std::vector<fbs::Buffer> buffers;
  std::string body;
  std::optional<fbs::CompressionType> codec;
  std::vector<int64_t> variadic;
  std::optional<int64_t> body_length;  // overrides body.size()
};

std::string BatchMsg(const BatchSpec& b) {
  FBB fbb;
  auto nodes = fbb.CreateVectorOfStructs(b.nodes);
  auto buffers = fbb.CreateVectorOfStructs(b.buffers);
  flatbuffers::Offset<fbs::BodyCompression> comp;
  if (b.codec) comp = fbs::CreateBodyCompression(fbb, *b.codec);
  flatbuffers::Offset<flatbuffers::Vector<int64_t>> variadic;
  if (!b.variadic.empty()) variadic = fbb.CreateVector(b.variadic);
  auto rb = fbs::CreateRecordBatch(fbb, b.length, nodes, buffers, comp, variadic);
  const int64_t body_length = b.body_length.value_or(static_cast<int64_t>(b.body.size()));
  fbb.Finish(fbs::CreateMessage(fbb, fbs::MetadataVersion::V5, fbs::MessageHeader::RecordBatch,
                                rb.Union(), body_length));
  return Frame(fbb, b.body);
}

std::string Int32Body(std::vector<int32_t> v) {
  std::string body(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  body.resize((body.size() + 7) / 8 * 8, '\0');
  return body;
}

// A valid one-column batch: price int32 = 1, 2, 3.
BatchSpec PriceBatch() {
  BatchSpec b;
  b.nodes = {fbs::FieldNode(3, 0)};
  b.buffers = {fbs::Buffer(0, 0), fbs::Buffer(0, 12)};
  b.body = Int32Body({1, 2, 3});
  return b;
}

Result<DecodedPart> DecodePlain(const std::string& bytes) {
  DecodeOptions o;
  o.require_sluice_header = false;
  return DecodePart(ToBuffer(bytes), "p", o);
}

TEST(HostileArrow, ValidPlainStreamBaseline) {
  std::string stream = SchemaMsg({Int32Field("price")}) + BatchMsg(PriceBatch()) + kEos;
  auto r = DecodePlain(stream);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->header.has_sluice_header);
  EXPECT_EQ(r->header.rows, 3);
  ASSERT_EQ(r->batches.size(), 1u);
  EXPECT_EQ(r->batches[0].column(0).Value<int32_t>(2), 3);
  // The same stream is not a sluice part.
  ExpectError(DecodePart(ToBuffer(stream), "p"), StatusCode::kInvalidData, "not a sluice part");
  // Without the end-of-stream marker.
  ExpectError(DecodePlain(SchemaMsg({Int32Field("price")}) + BatchMsg(PriceBatch())),
              StatusCode::kInvalidData, "missing end-of-stream marker");
}

TEST(HostileArrow, BufferOutsideTheBody) {
  BatchSpec b = PriceBatch();
  b.buffers[1] = fbs::Buffer(96, 800);
  b.body = std::string(512, '\0');
  ExpectError(
      DecodePlain(SchemaMsg({Int32Field("price")}) + BatchMsg(b) + kEos), StatusCode::kInvalidData,
      "part 'p': record batch 0: column 'price': buffer 1 extends past the body (offset 96, "
      "length 800, body 512)");
  b = PriceBatch();
  b.buffers[1] = fbs::Buffer(0, -8);
  ExpectError(DecodePlain(SchemaMsg({Int32Field("price")}) + BatchMsg(b) + kEos),
              StatusCode::kInvalidData,
              "buffer 1 extends past the body (offset 0, length -8, body 16)");
  b = PriceBatch();
  b.buffers[0] = fbs::Buffer(-8, 1);
  ExpectError(DecodePlain(SchemaMsg({Int32Field("price")}) + BatchMsg(b) + kEos),
              StatusCode::kInvalidData, "buffer 0 extends past the body (offset -8");
}

TEST(HostileArrow, StructuralMismatches) {
  const std::string schema = SchemaMsg({Int32Field("price")});
  auto expect = [&](const BatchSpec& b, const std::string& needle) {
    ExpectError(DecodePlain(schema + BatchMsg(b) + kEos), StatusCode::kInvalidData, needle);
  };
  BatchSpec b = PriceBatch();
  b.buffers.pop_back();
  expect(b, "record batch 0: 1 buffers, the schema needs 2");
  b = PriceBatch();
  b.nodes.push_back(fbs::FieldNode(3, 0));
  expect(b, "2 field nodes for 1 columns");
  b = PriceBatch();
  b.nodes[0] = fbs::FieldNode(2, 0);
  expect(b, "column 'price': node length 2 differs from the batch length 3");
  b = PriceBatch();
  b.nodes[0] = fbs::FieldNode(3, 4);
  expect(b, "column 'price': null count 4 is outside 0..3");
  b = PriceBatch();
  b.nodes[0] = fbs::FieldNode(3, 1);  // a null but no validity bitmap
  expect(b, "validity bitmap has 0 bytes, needs 1");
  b = PriceBatch();
  b.variadic = {1};
  expect(b, "variadic buffer counts");
  b = PriceBatch();
  b.length = -1;
  expect(b, "row count -1 is outside");
  b = PriceBatch();
  b.length = int64_t{1} << 40;
  expect(b, "is outside 0..2147483647");
  b = PriceBatch();
  b.buffers[1] = fbs::Buffer(0, 8);  // 2 values for 3 rows
  expect(b, "column 'price': values buffer has 8 bytes, needs 12");
  b = PriceBatch();
  b.body_length = 4096;
  expect(b, "body of 4096 bytes extends past the end of the input");
  b = PriceBatch();
  b.body_length = -16;
  expect(b, "negative body length -16");
}

TEST(HostileArrow, MessageLevelRejections) {
  const std::string schema = SchemaMsg({Int32Field("price")});
  ExpectError(DecodePlain(SchemaMsg({Int32Field("price")}, fbs::MetadataVersion::V3) + kEos),
              StatusCode::kUnsupported, "Arrow metadata version V3 is not supported");
  {
    FBB fbb;
    auto db = fbs::CreateDictionaryBatch(fbb, 0);
    fbb.Finish(fbs::CreateMessage(fbb, fbs::MetadataVersion::V5,
                                  fbs::MessageHeader::DictionaryBatch, db.Union(), 0));
    ExpectError(DecodePlain(schema + Frame(fbb) + kEos), StatusCode::kUnsupported,
                "dictionary batches");
  }
  {
    FBB fbb;
    auto t = fbs::CreateTensor(fbb);
    fbb.Finish(fbs::CreateMessage(fbb, fbs::MetadataVersion::V5, fbs::MessageHeader::Tensor,
                                  t.Union(), 0));
    ExpectError(DecodePlain(schema + Frame(fbb) + kEos), StatusCode::kUnsupported, "Tensor");
  }
  ExpectError(DecodePlain(schema + schema + kEos), StatusCode::kInvalidData, "second Schema");
  ExpectError(DecodePlain(BatchMsg(PriceBatch()) + kEos), StatusCode::kInvalidData,
              "the first message is a RecordBatch, expected a Schema");
  std::string huge("\xff\xff\xff\xff\xff\xff\xff\x7f", 8);
  ExpectError(DecodePlain(huge), StatusCode::kInvalidData, "extends past the end of the input");
  std::string negative("\xff\xff\xff\xff\xf0\xff\xff\xff", 8);
  ExpectError(DecodePlain(negative), StatusCode::kInvalidData, "negative metadata size");
}

TEST(HostileArrow, UnsupportedAndUnknownTypes) {
  auto field_of = [](fbs::Type type, auto make_type) -> FieldMaker {
    return [type, make_type](FBB& fbb) {
      auto n = fbb.CreateString("bad_col");
      flatbuffers::Offset<void> t = make_type(fbb);
      auto children = fbb.CreateVector(std::vector<flatbuffers::Offset<fbs::Field>>{});
      return fbs::CreateField(fbb, n, true, type, t, 0, children);
    };
  };
  auto null_table = [](FBB& fbb) { return fbs::CreateNull(fbb).Union(); };
  ExpectError(DecodePlain(SchemaMsg({field_of(static_cast<fbs::Type>(200), null_table)}) + kEos),
              StatusCode::kUnsupported, "column 'bad_col': unknown Arrow type id 200");
  ExpectError(
      DecodePlain(SchemaMsg({field_of(fbs::Type::List,
                                      [](FBB& fbb) { return fbs::CreateList(fbb).Union(); })}) +
                  kEos),
      StatusCode::kUnsupported, "column 'bad_col': Arrow type List is not supported");
  ExpectError(DecodePlain(SchemaMsg({field_of(
                              fbs::Type::Int,
                              [](FBB& fbb) { return fbs::CreateInt(fbb, 24, true).Union(); })}) +
                          kEos),
              StatusCode::kInvalidData, "integer bit width 24");
  ExpectError(DecodePlain(SchemaMsg({field_of(fbs::Type::Decimal,
                                              [](FBB& fbb) {
                                                return fbs::CreateDecimal(fbb, 40, 2, 128).Union();
                                              })}) +
                          kEos),
              StatusCode::kUnsupported, "decimal128(40, 2)");
  ExpectError(DecodePlain(SchemaMsg({field_of(fbs::Type::FixedSizeBinary,
                                              [](FBB& fbb) {
                                                return fbs::CreateFixedSizeBinary(fbb, 16)
                                                    .Union();  // no arrow.uuid extension
                                              })}) +
                          kEos),
              StatusCode::kUnsupported, "fixed_size_binary(16)");
  ExpectError(DecodePlain(SchemaMsg({[](FBB& fbb) {
                            auto n = fbb.CreateString("bad_col");
                            auto t = fbs::CreateInt(fbb, 32, true);
                            auto dict = fbs::CreateDictionaryEncoding(fbb, 1);
                            return fbs::CreateField(fbb, n, true, fbs::Type::Int, t.Union(), dict);
                          }}) +
                          kEos),
              StatusCode::kUnsupported, "column 'bad_col': dictionary-encoded columns");
  ExpectError(DecodePlain(SchemaMsg({Int32Field("a"), Int32Field("a")}) + kEos),
              StatusCode::kInvalidData, "duplicate column name 'a'");
}

TEST(HostileArrow, CompressedBuffers) {
  const std::string schema = SchemaMsg({Int32Field("price")});
  const int32_t values[3] = {1, 2, 3};
  auto zstd_frame = [&](int64_t declared) {
    std::string c(ZSTD_compressBound(12), '\0');
    size_t n = ZSTD_compress(c.data(), c.size(), values, 12, 1);
    c.resize(n);
    return std::string(reinterpret_cast<const char*>(&declared), 8) + c;
  };
  auto lz4_frame = [&](int64_t declared) {
    std::string c(LZ4F_compressFrameBound(12, nullptr), '\0');
    size_t n = LZ4F_compressFrame(c.data(), c.size(), values, 12, nullptr);
    c.resize(n);
    return std::string(reinterpret_cast<const char*>(&declared), 8) + c;
  };
  auto batch = [&](fbs::CompressionType codec, std::string payload) {
    BatchSpec b = PriceBatch();
    b.codec = codec;
    b.buffers[1] = fbs::Buffer(0, static_cast<int64_t>(payload.size()));
    payload.resize((payload.size() + 7) / 8 * 8, '\0');
    b.body = payload;
    return schema + BatchMsg(b) + kEos;
  };
  for (auto codec : {fbs::CompressionType::ZSTD, fbs::CompressionType::LZ4_FRAME}) {
    std::function<std::string(int64_t)> frame = zstd_frame;
    if (codec == fbs::CompressionType::LZ4_FRAME) frame = lz4_frame;
    auto good = DecodePlain(batch(codec, frame(12)));
    ASSERT_TRUE(good.ok()) << good.status().ToString();
    EXPECT_EQ(good->batches[0].column(0).Value<int32_t>(1), 2);
    auto raw =
        DecodePlain(batch(codec, std::string("\xff\xff\xff\xff\xff\xff\xff\xff", 8) +
                                     std::string(reinterpret_cast<const char*>(values), 12)));
    ASSERT_TRUE(raw.ok()) << raw.status().ToString();
    EXPECT_EQ(raw->batches[0].column(0).Value<int32_t>(2), 3);
    ExpectError(DecodePlain(batch(codec, frame(16))), StatusCode::kInvalidData,
                "column 'price': buffer 1: ");
    ExpectError(DecodePlain(batch(codec, frame(8))), StatusCode::kInvalidData,
                "column 'price': buffer 1: ");
    std::string truncated = frame(12);
    truncated.resize(truncated.size() - 3);
    ExpectError(DecodePlain(batch(codec, truncated)), StatusCode::kInvalidData, "buffer 1: ");
    ExpectError(
        DecodePlain(batch(codec, std::string("\x0c\0\0\0\0\0\0\0", 8) + "garbage!garbage!")),
        StatusCode::kInvalidData,
        codec == fbs::CompressionType::ZSTD ? "buffer 1: not a zstd frame" : "buffer 1: lz4: ");
    ExpectError(DecodePlain(batch(codec, "12345")), StatusCode::kInvalidData,
                "compressed buffer of 5 bytes is shorter than its 8-byte length prefix");
    ExpectError(DecodePlain(batch(codec, frame(-5))), StatusCode::kInvalidData,
                "invalid uncompressed length -5");
    DecodeOptions small;
    small.require_sluice_header = false;
    small.max_uncompressed_bytes = 11;
    ExpectError(DecodePart(ToBuffer(batch(codec, frame(12))), "p", small), StatusCode::kInvalidData,
                "max_uncompressed_bytes");
  }
  ExpectError(DecodePlain(batch(fbs::CompressionType::ZSTD, zstd_frame(13))),
              StatusCode::kInvalidData, "zstd frame holds 12 bytes, the length prefix says 13");
  ExpectError(DecodePlain(batch(static_cast<fbs::CompressionType>(7), zstd_frame(12))),
              StatusCode::kUnsupported, "unknown compression codec 7");
}

TEST(HostileArrow, LargeOffsetsAndLenientLayouts) {
  auto var_field = [](fbs::Type type) -> FieldMaker {
    return [type](FBB& fbb) {
      auto n = fbb.CreateString("s");
      flatbuffers::Offset<void> t = type == fbs::Type::LargeUtf8 ? fbs::CreateLargeUtf8(fbb).Union()
                                                                 : fbs::CreateUtf8(fbb).Union();
      auto children = fbb.CreateVector(std::vector<flatbuffers::Offset<fbs::Field>>{});
      return fbs::CreateField(fbb, n, true, type, t, 0, children);
    };
  };
  // large_utf8 ["ab", "", "cde"]: 64-bit offsets narrowed to int32.
  std::vector<int64_t> off = {0, 2, 2, 5};
  std::string body(reinterpret_cast<const char*>(off.data()), 32);
  body += std::string("abcde\0\0\0", 8);
  BatchSpec b;
  b.nodes = {fbs::FieldNode(3, 0)};
  b.buffers = {fbs::Buffer(0, 0), fbs::Buffer(0, 32), fbs::Buffer(32, 5)};
  b.body = body;
  auto r = DecodePlain(SchemaMsg({var_field(fbs::Type::LargeUtf8)}) + BatchMsg(b) + kEos);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->schema->field(0).type, DataType::String());
  EXPECT_EQ(r->batches[0].column(0).StringValue(2), "cde");
  off[3] = int64_t{1} << 32;
  b.body =
      std::string(reinterpret_cast<const char*>(off.data()), 32) + std::string("abcde\0\0\0", 8);
  ExpectError(DecodePlain(SchemaMsg({var_field(fbs::Type::LargeUtf8)}) + BatchMsg(b) + kEos),
              StatusCode::kInvalidData, "64-bit offset 4294967296 at row 3 is outside 0..2^31-1");
  // A 0-row utf8 batch may omit its offsets buffer entirely.
  BatchSpec e;
  e.length = 0;
  e.nodes = {fbs::FieldNode(0, 0)};
  e.buffers = {fbs::Buffer(0, 0), fbs::Buffer(0, 0), fbs::Buffer(0, 0)};
  auto z = DecodePlain(SchemaMsg({var_field(fbs::Type::Utf8)}) + BatchMsg(e) + kEos);
  ASSERT_TRUE(z.ok()) << z.status().ToString();
  EXPECT_EQ(z->batches[0].num_rows(), 0);
  // Offsets that decrease are caught by validation.
  std::vector<int32_t> bad = {0, 3, 1, 5};
  BatchSpec d;
  d.nodes = {fbs::FieldNode(3, 0)};
  d.buffers = {fbs::Buffer(0, 0), fbs::Buffer(0, 16), fbs::Buffer(16, 5)};
  d.body =
      std::string(reinterpret_cast<const char*>(bad.data()), 16) + std::string("abcde\0\0\0", 8);
  ExpectError(DecodePlain(SchemaMsg({var_field(fbs::Type::Utf8)}) + BatchMsg(d) + kEos),
              StatusCode::kInvalidData, "column 's': row 1: offsets decrease");
  // A buffer at an offset that is not 8-byte aligned is copied, not rejected.
  BatchSpec m = PriceBatch();
  m.buffers[1] = fbs::Buffer(4, 12);
  m.body = std::string(4, '\0') +
           std::string(reinterpret_cast<const char*>(std::vector<int32_t>{7, 8, 9}.data()), 12);
  auto mr = DecodePlain(SchemaMsg({Int32Field("price")}) + BatchMsg(m) + kEos);
  ASSERT_TRUE(mr.ok()) << mr.status().ToString();
  EXPECT_EQ(mr->batches[0].column(0).Value<int32_t>(0), 7);
}

}  // namespace
}  // namespace sluice::part
