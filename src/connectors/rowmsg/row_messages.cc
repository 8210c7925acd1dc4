#include "connectors/rowmsg/row_messages.h"

#include <cstring>

#include "connectors/file/file.h"
#include "core/io.h"
#include "core/text.h"
#include "formats/part/part.h"

namespace sluice::rowmsg {

OptionSpecs PublisherOptionSpecs() {
  return {
      {"timestamps",
       OptionType::kEnum,
       "iso",
       "format=json: timestamps as ISO text, or epoch seconds / milliseconds (exact numbers)",
       {"iso", "epoch", "epoch_ms"}},
  };
}

OptionSpecs SubscriberOptionSpecs() {
  return {
      {"schema", OptionType::kString, "",
       "format=json: the message columns, 'name:type[:key][:notnull],...' (default: inferred "
       "from the first batch)"},
      {"timestamps",
       OptionType::kEnum,
       "epoch",
       "format=json: the unit of numbers read into timestamp columns (ISO strings always work)",
       {"epoch", "epoch_ms"}},
      {"ignore_unknown_keys", OptionType::kBool, "false",
       "format=json: skip keys that name no column instead of failing"},
      {"batch_rows", OptionType::kInt, "50000",
       "format=json: messages per part applied to the destination"},
      {"batch_bytes", OptionType::kSize, "8MiB",
       "format=json: JSON text per part applied to the destination"},
  };
}

Result<RowMessageOptions> ParseOptions(const Options& o, bool subscriber) {
  RowMessageOptions out;
  SLUICE_ASSIGN_OR_RETURN(out.timestamps, jsonl::ParseTimestampFormat(o.GetString("timestamps")));
  if (!subscriber) return out;
  if (!o.GetString("schema").empty()) {
    SLUICE_ASSIGN_OR_RETURN(out.schema, ParseSchemaSpec(o.GetString("schema")));
  }
  out.ignore_unknown_keys = o.GetBool("ignore_unknown_keys");
  out.batch_rows = o.GetInt("batch_rows");
  out.batch_bytes = o.GetSizeBytes("batch_bytes");
  if (out.batch_rows < 1 || out.batch_rows > 10000000) {
    return Status::InvalidArgument("batch_rows=" + std::to_string(out.batch_rows) +
                                   " is out of range (1..10000000)");
  }
  if (out.batch_bytes < 1024 || out.batch_bytes > (int64_t{1} << 30)) {
    return Status::InvalidArgument("batch_bytes must be between 1KiB and 1GiB");
  }
  return out;
}

Status RowEncoder::EncodePart(
    std::string_view part_bytes, std::string_view name,
    const std::function<Status(std::string_view json, std::string_view key)>& emit) {
  SLUICE_ASSIGN_OR_RETURN(part::DecodedPart decoded,
                          part::DecodePart(Buffer::Copy(part_bytes.data(),
                                                        static_cast<int64_t>(part_bytes.size())),
                                           name));
  const Schema& schema = *decoded.schema;
  std::vector<int> key_columns;
  for (int i = 0; i < schema.num_fields(); ++i) {
    if (schema.field(i).primary_key) key_columns.push_back(i);
  }
  StringOutputStream out;
  jsonl::JsonlWriteOptions wo;
  wo.timestamps = timestamps_;
  SLUICE_ASSIGN_OR_RETURN(auto writer, jsonl::JsonlWriter::Make(&out, decoded.schema, wo));
  for (const RecordBatch& batch : decoded.batches) {
    SLUICE_RETURN_NOT_OK(writer->Write(batch));
    SLUICE_RETURN_NOT_OK(writer->Finish());
    // One line per row: JSON Lines escapes every newline inside values.
    std::string_view text = out.str();
    for (int64_t r = 0; r < batch.num_rows(); ++r) {
      const size_t nl = text.find('\n');
      if (nl == std::string_view::npos) {
        return Status::Internal(std::string(name) + ": JSON row text ended early");
      }
      key_.clear();
      for (size_t k = 0; k < key_columns.size(); ++k) {
        if (k > 0) key_.push_back('|');
        const Column& col = batch.column(key_columns[k]);
        if (!col.IsNull(r)) AppendText(col, r, &key_);
      }
      SLUICE_RETURN_NOT_OK(emit(text.substr(0, nl), key_));
      text.remove_prefix(nl + 1);
    }
    out.str().clear();
    SLUICE_ASSIGN_OR_RETURN(writer, jsonl::JsonlWriter::Make(&out, decoded.schema, wo));
  }
  return Status::OK();
}

RowBatchDecoder::RowBatchDecoder(RowMessageOptions options)
    : options_(std::move(options)), schema_(options_.schema) {}

void RowBatchDecoder::Append(std::string_view message, std::string* batch_text) {
  const size_t start = batch_text->size();
  if (message.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    // An empty message (a tombstone) is not a row: it fails as one rather
    // than vanish as a blank line would.
    batch_text->append("null\n");
    return;
  }
  batch_text->append(message);
  if (std::memchr(message.data(), '\n', message.size()) != nullptr ||
      std::memchr(message.data(), '\r', message.size()) != nullptr) {
    for (size_t i = start; i < batch_text->size(); ++i) {
      char& c = (*batch_text)[i];
      if (c == '\n' || c == '\r') c = ' ';
    }
  }
  batch_text->push_back('\n');
}

Result<std::string> RowBatchDecoder::ToPart(std::string_view batch_text,
                                            const PartIdentity& identity,
                                            const std::function<std::string(int64_t)>& describe) {
  jsonl::JsonlReadOptions ro;
  ro.ignore_unknown_keys = options_.ignore_unknown_keys;
  // Numbers infer as int64 / float64: a decimal(p,s) fitted to the first
  // batch's floats would refuse the next batch's longer fractions.
  ro.infer_decimal = false;
  ro.epoch_unit = options_.timestamps;
  ro.describe_line = describe;
  // Usually one batch for the whole run of messages (they become one part).
  ro.batch_rows = INT64_MAX / 4;
  ro.batch_bytes = int64_t{1} << 30;
  ro.max_record_bytes = int64_t{1} << 30;
  MemoryInputStream in(batch_text, identity.source_fingerprint);
  std::unique_ptr<jsonl::JsonlReader> reader;
  {
    // The first batch infers the schema (unless given); every later batch
    // of the run is read with it, so all parts share one table shape.
    std::lock_guard<std::mutex> lock(mu_);
    ro.schema = schema_;
    SLUICE_ASSIGN_OR_RETURN(reader, jsonl::JsonlReader::Open(&in, ro));
    if (!schema_) schema_ = reader->schema();
  }
  std::vector<RecordBatch> batches;
  int64_t rows = 0;
  while (true) {
    SLUICE_ASSIGN_OR_RETURN(auto batch, reader->Next());
    if (!batch.has_value()) break;
    rows += batch->num_rows();
    batches.push_back(std::move(*batch));
  }
  part::PartHeader header;
  header.stream_id = identity.stream_id;
  header.part_number = identity.part_number;
  header.source_fingerprint = identity.source_fingerprint;
  header.rows = rows;
  part::EncodeOptions eo;
  eo.compression = part::Compression::kNone;  // decoded again at once, in this process
  return part::EncodePart(&header, *reader->schema(), batches, eo);
}

ReceivedPart RowBatchDecoder::Received(std::string_view batch_text, const PartIdentity& identity,
                                       const std::function<std::string(int64_t)>& describe,
                                       std::string name, uint64_t delivery_tag) {
  ReceivedPart part;
  part.name = std::move(name);
  part.delivery_tag = delivery_tag;
  auto bytes = ToPart(batch_text, identity, describe);
  if (bytes.ok()) {
    auto owned = std::make_shared<std::string>(std::move(*bytes));
    part.bytes = Buffer::Wrap(reinterpret_cast<const uint8_t*>(owned->data()),
                              static_cast<int64_t>(owned->size()), owned);
  } else {
    part.bytes = Buffer::Copy(batch_text.data(), static_cast<int64_t>(batch_text.size()));
    part.decode_error = bytes.status();
  }
  return part;
}

std::string StableHexId(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<size_t>(i)] = kHex[h & 15];
  return out;
}

}  // namespace sluice::rowmsg
