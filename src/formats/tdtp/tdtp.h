// TDTP (Table Data Transfer Protocol) XML packets, wire-compatible with the
// TDTP framework (github.com/ruslano69/tdtp-framework). The full mapping and
// every convention is specified in docs/FORMAT.md, section "TDTP".
//
// Reading accepts what the framework writes for versions 1.0–1.4:
//   * any root element name (protocol="TDTP" is what identifies a packet),
//     UTF-8 BOM, indented or single-line XML, comments, CDATA, entities;
//   * rows "a|b|c" with TDTP escaping (\\ \| \n; "\x" is "x", a lone trailing
//     backslash is kept), XML entities and &#xD; for CR;
//   * <Data compression="zstd"> (zstd then base64, rows joined by LF) with
//     the XXH3-64 `checksum` attribute verified when present;
//   * v1.3.1 compact rows (fixed="true" fields carried forward, `carry` and
//     `tail`), SpecialValues markers, the legacy "empty means NULL" rule,
//     v1.4 Dictionary tokens and xxh3 hashes (verified when present),
//     layout="columns";
//   * encrypted packets (v1.3 binary envelope, v1.5 encryption="...") are
//     detected and refused with Status::Unsupported.
//
// Writing produces TDTP 1.0 packets the framework reads: plain or zstd
// compressed (base64 + checksum), split into parts of about 1.9 MB named like
// the framework's export (`table_part_N_of_T.tdtp.xml`), NULL written as a
// declared SpecialValues marker so NULL and "" stay distinct. Field types are
// chosen so that sluice -> TDTP -> sluice is lossless for every sluice type.
//
// Thread safety: ReadPacket is reentrant. A PacketWriter is used by one
// thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/batch.h"
#include "core/status.h"
#include "core/types.h"

namespace sluice::tdtp {

// <DataPacket protocol=".." version=".."> and its <Header>.
struct PacketHeader {
  std::string protocol = "TDTP";
  std::string version = "1.0";
  std::string type;  // reference, delta, request, response, alarm, error
  std::string table_name;
  std::string message_id;
  std::string in_reply_to;
  int64_t part_number = 0;
  int64_t total_parts = 0;      // 0 = unknown (streaming export)
  int64_t records_in_part = 0;  // 0 = not declared
  std::string timestamp;        // as written (RFC 3339)
  std::string sender;
  std::string recipient;
};

struct ReadOptions {
  // Whole packets above this size are refused before parsing.
  int64_t max_packet_bytes = int64_t{256} << 20;
  // A zstd payload may not inflate beyond this (the framework's limit too).
  int64_t max_decompressed_bytes = int64_t{256} << 20;
  // In a field that declares no <Null> marker, an empty cell is NULL — for
  // text fields too. This is the framework's legacy convention (v1.0 wrote
  // NULL as nothing); turn it off to read such text cells as "". Non-text
  // fields always read an empty cell as NULL (they have no empty value).
  bool legacy_empty_is_null = true;
  // Verify Data.checksum (XXH3-64 of the base64 payload) when present.
  bool verify_checksum = true;
  // Verify v1.4 xxh3 hashes (Schema, Data, packet) when present.
  bool verify_integrity = true;
  // Refuse schemas with more fields than this.
  int max_fields = 16384;
};

struct Packet {
  PacketHeader header;
  std::shared_ptr<const Schema> schema;
  RecordBatch batch;
};

// Decodes one packet. `name_for_errors` (a file name, "part 3", ...) starts
// every error message; row numbers are 1-based within the packet.
Result<Packet> ReadPacket(std::string_view xml, std::string_view name_for_errors,
                          const ReadOptions& options = {});

struct WriteOptions {
  // <TableName>; also the stem of the file names.
  std::string table_name;
  // <Type>.
  std::string message_type = "reference";
  // MessageID base; part n is "<base>-P<n>" like the framework's. Empty =
  // generated "REF-<year>-<8 hex digits>" (prefix from the message type).
  std::string message_id;
  // <Timestamp>; empty = now (UTC, RFC 3339).
  std::string timestamp;
  std::string sender;
  std::string recipient;
  std::string in_reply_to;
  // Rows go into a part until its XML (uncompressed row text when
  // compressing, as the framework measures) would exceed this; a part holds
  // at least one row.
  int64_t max_part_bytes = 1'900'000;
  // zstd + base64 into a single <R>, with the XXH3-64 checksum attribute.
  bool compress = false;
  int compression_level = 3;
};

struct EncodedPacket {
  std::string file_name;  // PartFileName(table, part_number, total_parts)
  PacketHeader header;
  std::string xml;
};

// "users.tdtp.xml" for a single part, "users_part_2_of_5.tdtp.xml" for part 2
// of 5, "users_part_2.tdtp.xml" while the total is unknown (total == 0).
std::string PartFileName(std::string_view table, int64_t part, int64_t total);

// Encodes batches into packets. Two modes:
//  * buffered (Make): packets are kept until Finish(), which knows the total
//    and sets TotalParts in every part;
//  * streaming (MakeStreaming): each packet goes to `sink` as soon as it is
//    full, with TotalParts omitted (0 = unknown), as the framework's
//    streaming export does.
// At least one packet is produced, so an empty table still carries its schema.
class PacketWriter {
 public:
  using Sink = std::function<Status(EncodedPacket packet)>;

  static Result<std::unique_ptr<PacketWriter>> Make(std::shared_ptr<const Schema> schema,
                                                    WriteOptions options);
  static Result<std::unique_ptr<PacketWriter>> MakeStreaming(std::shared_ptr<const Schema> schema,
                                                             WriteOptions options, Sink sink);
  ~PacketWriter();

  // `batch` must have the writer's column types.
  Status Append(const RecordBatch& batch);
  // Flushes the last part. Buffered mode returns every packet; streaming
  // mode hands the last one to the sink and returns an empty vector.
  Result<std::vector<EncodedPacket>> Finish();

  int64_t rows_written() const;
  int64_t parts_written() const;

 private:
  class Impl;
  explicit PacketWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Completes a part produced in streaming mode once the total is known, as
// the framework's streaming export does in its final pass: inserts
// <TotalParts> after <PartNumber> and sets header.total_parts and file_name.
// (The framework refuses a part numbered without a total.) Only for packets
// from PacketWriter.
Status FinalizeStreamedPart(EncodedPacket* packet, int64_t total_parts);

// Buffered convenience: all batches into packets with TotalParts set.
Result<std::vector<EncodedPacket>> WritePackets(std::shared_ptr<const Schema> schema,
                                                const std::vector<RecordBatch>& batches,
                                                WriteOptions options);

// The TDTP field a sluice field is written as, and the sluice type a TDTP
// field reads as (exposed for docs, inspection and tests).
struct TdtpFieldType {
  std::string type;  // INTEGER, REAL, DECIMAL, TEXT, BOOLEAN, DATE, TIMESTAMP, BLOB, ...
  int64_t length = 0;
  bool has_length = false;
  int precision = 0;
  bool has_precision = false;
  int scale = 0;
  bool has_scale = false;
  std::string subtype;
  std::string timezone;
};
TdtpFieldType ToTdtpType(const Field& field);
DataType FromTdtpType(const TdtpFieldType& t);
// "TDTP:<type>[(length=..,precision=..,scale=..,subtype=..,timezone=..)]",
// the Field::source_type hint set on read and honoured on write.
std::string FormatSourceType(const TdtpFieldType& t);

}  // namespace sluice::tdtp
