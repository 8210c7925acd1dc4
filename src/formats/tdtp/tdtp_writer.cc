// TDTP packet writer: TDTP 1.0 packets the framework reads (see tdtp.h and
// docs/FORMAT.md, "TDTP"). Rows are formatted straight into one std::string
// per part; the envelope (header + schema with the SpecialValues the part
// actually needs) is put around it when the part is full.

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <atomic>

#include "core/base64.h"
#include "core/int128.h"
#include "core/temporal.h"
#include "core/text.h"
#include "formats/tdtp/tdtp.h"
#include "formats/tdtp/tdtp_internal.h"

namespace sluice::tdtp {

namespace {

using internal::AppendXmlAttrEscaped;
using internal::AppendXmlTextEscaped;

// Per-column facts seen in a row / part, deciding the SpecialValues declared.
enum : uint8_t {
  kHasNull = 1,
  kHasEmpty = 2,    // text-like value ""
  kHasLiteral = 4,  // text value equal to the legacy "[NULL]"
  kHasNaN = 8,
  kHasInf = 16,
  kHasNegInf = 32,
};

struct ColInfo {
  TypeId id = TypeId::kString;
  int scale = 0;
  bool no_int_digit = false;  // decimal(p,p)
  bool text_like = false;    // "" is a value: string, json, binary
  bool string_like = false;  // may collide with a NULL marker: string, json
  bool key = false;
  std::string attrs;         // ` name=".." type=".." ...`, escaped
  int marker_index = 0;
  std::string marker = std::string(internal::kNullMarker);
};

// Byte classes for escaping a cell into XML text (plain packets).
// 0 = copy, 1 = escape, 2 = not representable in XML 1.0, 3 = check U+FFFE/U+FFFF.
constexpr std::array<uint8_t, 256> kPlainClass = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[static_cast<size_t>(c)] = 2;
  t['\t'] = 0;
  t['\n'] = 1;
  t['\r'] = 1;
  t['\\'] = 1;
  t['|'] = 1;
  t['<'] = 1;
  t['>'] = 1;
  t['&'] = 1;
  t[0xEF] = 3;
  return t;
}();

// Appends a text cell with TDTP escaping then XML escaping. Returns false
// for characters XML 1.0 cannot carry.
bool AppendCellXml(std::string_view v, std::string* out) {
  const auto* p = reinterpret_cast<const uint8_t*>(v.data());
  const size_t n = v.size();
  size_t start = 0;
  for (size_t i = 0; i < n; ++i) {
    uint8_t cls = kPlainClass[p[i]];
    if (cls == 0) continue;
    if (cls == 3) {
      if (i + 2 < n && p[i + 1] == 0xBF && (p[i + 2] == 0xBE || p[i + 2] == 0xBF)) return false;
      continue;
    }
    if (cls == 2) return false;
    out->append(v.data() + start, i - start);
    switch (p[i]) {
      case '\\': out->append("\\\\"); break;
      case '|': out->append("\\|"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("&#xD;"); break;
      case '<': out->append("&lt;"); break;
      case '>': out->append("&gt;"); break;
      default: out->append("&amp;"); break;
    }
    start = i + 1;
  }
  out->append(v.data() + start, n - start);
  return true;
}

template <typename T>
void AppendInt(T v, std::string* out) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, p);
}

template <typename F>
void AppendFloat(F v, uint8_t* flags, std::string* out) {
  if (std::isnan(v)) {
    out->append(internal::kNaNMarker);
    *flags |= kHasNaN;
  } else if (std::isinf(v)) {
    out->append(v > 0 ? internal::kInfMarker : internal::kNegInfMarker);
    *flags |= v > 0 ? kHasInf : kHasNegInf;
  } else {
    char buf[40];
    auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    out->append(buf, p);
  }
}

std::string MessageIdPrefix(std::string_view type) {
  if (type == "reference") return "REF";
  if (type == "request") return "REQ";
  if (type == "response") return "RESP";
  if (type == "alarm") return "ALARM";
  if (type == "error") return "ERR";
  if (type == "delta") return "DELTA";
  return "MSG";
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct BufferedPart {
  EncodedPacket packet;
  size_t total_parts_pos;  // where <TotalParts> goes once the total is known
};

}  // namespace

std::string PartFileName(std::string_view table, int64_t part, int64_t total) {
  std::string s(table);
  if (total == 1) return s + ".tdtp.xml";
  s += "_part_" + std::to_string(part);
  if (total > 0) s += "_of_" + std::to_string(total);
  return s + ".tdtp.xml";
}

class PacketWriter::Impl {
 public:
  Impl(std::shared_ptr<const Schema> schema, WriteOptions options, Sink sink)
      : schema_(std::move(schema)), opt_(std::move(options)), sink_(std::move(sink)) {}

  Status Init();
  Status Append(const RecordBatch& batch);
  Result<std::vector<EncodedPacket>> Finish();
  int64_t rows_written() const { return rows_written_; }
  int64_t parts_written() const { return part_number_ - 1; }

 private:
  Status ChooseMarkers(const RecordBatch& batch);
  Status WriteRow(const RecordBatch& batch, int64_t r);
  Status FinishPart();
  Status OutOfRange(int c, const char* what) const {
    return Status::InvalidArgument("tdtp: row " + std::to_string(rows_written_ + 1) + ", column '" +
                                   schema_->field(c).name + "': " + what +
                                   " outside years 0001..9999 (or a day) cannot be written");
  }
  void AppendSchemaXml(const std::vector<uint8_t>& flags, std::string* out) const;
  void AppendHeaderXml(int64_t rows, size_t* total_pos, std::string* out) const;

  std::shared_ptr<const Schema> schema_;
  WriteOptions opt_;
  Sink sink_;
  bool streaming() const { return static_cast<bool>(sink_); }

  std::vector<ColInfo> cols_;
  std::string type_xml_, table_xml_, id_base_xml_, reply_xml_, ts_xml_, sender_xml_, recipient_xml_;
  int64_t envelope_ = 0;

  std::string body_;
  int64_t rows_in_part_ = 0;
  std::vector<uint8_t> part_flags_, row_flags_;
  int64_t part_number_ = 1;
  int64_t rows_written_ = 0;
  bool finished_ = false;
  std::vector<BufferedPart> parts_;
  internal::ZstdCompressor zstd_;
  std::string zbuf_;
};

Status PacketWriter::Impl::Init() {
  if (!schema_) return Status::InvalidArgument("tdtp: schema is required");
  SLUICE_RETURN_NOT_OK(schema_->Validate());
  if (opt_.table_name.empty()) return Status::InvalidArgument("tdtp: WriteOptions::table_name is required");
  if (opt_.message_type.empty()) return Status::InvalidArgument("tdtp: WriteOptions::message_type is empty");
  if (opt_.max_part_bytes < 1) return Status::InvalidArgument("tdtp: WriteOptions::max_part_bytes must be positive");
  if (opt_.compress && (opt_.compression_level < 1 || opt_.compression_level > 22)) {
    return Status::InvalidArgument("tdtp: compression_level must be within 1..22");
  }
  auto text = [](std::string_view what, std::string_view v, std::string* out) -> Status {
    Status st = AppendXmlTextEscaped(v, out);
    if (!st.ok()) return Status::InvalidArgument("tdtp: " + std::string(what) + ": " + st.message());
    return Status::OK();
  };
  if (opt_.message_id.empty()) {
    int64_t now = NowMicros();
    int y;
    unsigned m, d;
    CivilFromDays(static_cast<int32_t>(now / kMicrosPerDay), &y, &m, &d);
    // Unique enough for a message id: time, this object's address and a
    // process-wide counter, mixed (splitmix64).
    static std::atomic<uint64_t> counter{0};
    uint64_t z = static_cast<uint64_t>(now) ^ (reinterpret_cast<uintptr_t>(this) << 16) ^
                 (counter.fetch_add(1) * 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    char hex[9];
    std::snprintf(hex, sizeof(hex), "%08x", static_cast<uint32_t>(z));
    opt_.message_id = MessageIdPrefix(opt_.message_type) + "-" + std::to_string(y) + "-" + hex;
  }
  if (opt_.timestamp.empty()) AppendTimestamp(NowMicros(), true, &opt_.timestamp);
  SLUICE_RETURN_NOT_OK(text("message type", opt_.message_type, &type_xml_));
  SLUICE_RETURN_NOT_OK(text("table name", opt_.table_name, &table_xml_));
  SLUICE_RETURN_NOT_OK(text("message id", opt_.message_id, &id_base_xml_));
  SLUICE_RETURN_NOT_OK(text("in_reply_to", opt_.in_reply_to, &reply_xml_));
  SLUICE_RETURN_NOT_OK(text("timestamp", opt_.timestamp, &ts_xml_));
  SLUICE_RETURN_NOT_OK(text("sender", opt_.sender, &sender_xml_));
  SLUICE_RETURN_NOT_OK(text("recipient", opt_.recipient, &recipient_xml_));

  for (const Field& f : schema_->fields()) {
    ColInfo ci;
    ci.id = f.type.id;
    ci.scale = f.type.scale;
    ci.no_int_digit = ci.id == TypeId::kDecimal && f.type.scale > 0 && f.type.scale == f.type.precision;
    ci.string_like = ci.id == TypeId::kString || ci.id == TypeId::kJson;
    ci.text_like = ci.string_like || ci.id == TypeId::kBinary;
    ci.key = f.primary_key;
    TdtpFieldType t = ToTdtpType(f);
    std::string& a = ci.attrs;
    auto attr = [&](std::string_view k, std::string_view v) -> Status {
      a += ' ';
      a += k;
      a += "=\"";
      Status st = AppendXmlAttrEscaped(v, &a);
      if (!st.ok()) return Status::InvalidArgument("tdtp: field '" + f.name + "' " + std::string(k) + ": " + st.message());
      a += '"';
      return Status::OK();
    };
    SLUICE_RETURN_NOT_OK(attr("name", f.name));
    SLUICE_RETURN_NOT_OK(attr("type", t.type));
    if (t.has_length) SLUICE_RETURN_NOT_OK(attr("length", std::to_string(t.length)));
    if (t.has_precision) SLUICE_RETURN_NOT_OK(attr("precision", std::to_string(t.precision)));
    if (t.has_scale) SLUICE_RETURN_NOT_OK(attr("scale", std::to_string(t.scale)));
    if (f.primary_key) SLUICE_RETURN_NOT_OK(attr("key", "true"));
    if (!t.timezone.empty()) SLUICE_RETURN_NOT_OK(attr("timezone", t.timezone));
    if (!t.subtype.empty()) SLUICE_RETURN_NOT_OK(attr("subtype", t.subtype));
    cols_.push_back(std::move(ci));
  }
  part_flags_.assign(cols_.size(), 0);
  row_flags_.assign(cols_.size(), 0);

  // The envelope every part carries, with every marker declared (an upper bound).
  std::string probe;
  size_t pos;
  AppendHeaderXml(1'000'000'000, &pos, &probe);
  std::vector<uint8_t> all(cols_.size(), 0xFF);
  for (auto& c : cols_) c.marker = "[NULL99999]";
  AppendSchemaXml(all, &probe);
  for (auto& c : cols_) c.marker = std::string(internal::kNullMarker);
  envelope_ = static_cast<int64_t>(probe.size()) + 256;
  body_.reserve(static_cast<size_t>(std::min<int64_t>(opt_.max_part_bytes, int64_t{4} << 20)) + 4096);
  return Status::OK();
}

void PacketWriter::Impl::AppendHeaderXml(int64_t rows, size_t* total_pos, std::string* out) const {
  out->append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DataPacket protocol=\"TDTP\" version=\"1.0\">\n");
  out->append("  <Header>\n    <Type>").append(type_xml_).append("</Type>\n");
  out->append("    <TableName>").append(table_xml_).append("</TableName>\n");
  out->append("    <MessageID>").append(id_base_xml_).append("-P");
  AppendInt(part_number_, out);
  out->append("</MessageID>\n");
  if (!reply_xml_.empty()) out->append("    <InReplyTo>").append(reply_xml_).append("</InReplyTo>\n");
  out->append("    <PartNumber>");
  AppendInt(part_number_, out);
  out->append("</PartNumber>\n");
  *total_pos = out->size();
  if (rows > 0) {  // Go omits a zero RecordsInPart (omitempty)
    out->append("    <RecordsInPart>");
    AppendInt(rows, out);
    out->append("</RecordsInPart>\n");
  }
  out->append("    <Timestamp>").append(ts_xml_).append("</Timestamp>\n");
  if (!sender_xml_.empty()) out->append("    <Sender>").append(sender_xml_).append("</Sender>\n");
  if (!recipient_xml_.empty()) out->append("    <Recipient>").append(recipient_xml_).append("</Recipient>\n");
  out->append("  </Header>\n");
}

void PacketWriter::Impl::AppendSchemaXml(const std::vector<uint8_t>& flags, std::string* out) const {
  out->append("  <Schema>\n");
  for (size_t c = 0; c < cols_.size(); ++c) {
    const ColInfo& ci = cols_[c];
    uint8_t f = flags[c];
    bool null = (f & kHasNull) || (ci.text_like && (f & (kHasEmpty | kHasLiteral)));
    out->append("    <Field").append(ci.attrs);
    if (!null && !(f & (kHasNaN | kHasInf | kHasNegInf))) {
      out->append("></Field>\n");
      continue;
    }
    out->append("><SpecialValues>");
    if (null) out->append("<Null marker=\"").append(ci.marker).append("\"/>");
    if (f & kHasInf) out->append("<Infinity marker=\"INF\"/>");
    if (f & kHasNegInf) out->append("<NegInfinity marker=\"-INF\"/>");
    if (f & kHasNaN) out->append("<NaN marker=\"NaN\"/>");
    out->append("</SpecialValues></Field>\n");
  }
  out->append("  </Schema>\n");
}

Status PacketWriter::Impl::ChooseMarkers(const RecordBatch& batch) {
  // Per string column: which NULL markers ("[NULL]", "[NULL1]", ...) appear
  // as values in this batch. The part's marker must not be one of them.
  const int64_t n = batch.num_rows();
  std::vector<std::vector<bool>> used(cols_.size());
  bool collision = false;
  for (size_t c = 0; c < cols_.size(); ++c) {
    if (!cols_[c].string_like) continue;
    const Column& col = batch.column(static_cast<int>(c));
    for (int64_t r = 0; r < n; ++r) {
      if (col.IsNull(r)) continue;
      std::string_view v = col.StringValue(r);
      if (v.size() < 6 || v[0] != '[') continue;
      int k = internal::NullMarkerIndex(v);
      if (k < 0) continue;
      if (k == cols_[c].marker_index) collision = true;
      // The first free index is at most n: larger ones need no tracking.
      if (k > n) continue;
      auto& u = used[c];
      if (u.size() <= static_cast<size_t>(k)) u.resize(static_cast<size_t>(k) + 1, false);
      u[static_cast<size_t>(k)] = true;
    }
  }
  if (collision && rows_in_part_ > 0) SLUICE_RETURN_NOT_OK(FinishPart());
  if (rows_in_part_ > 0) return Status::OK();  // the current markers stay valid
  for (size_t c = 0; c < cols_.size(); ++c) {
    if (!cols_[c].string_like) continue;
    const auto& u = used[c];
    int k = 0;
    while (static_cast<size_t>(k) < u.size() && u[static_cast<size_t>(k)]) ++k;
    cols_[c].marker_index = k;
    cols_[c].marker = internal::NullMarkerText(k);
  }
  return Status::OK();
}

Status PacketWriter::Impl::WriteRow(const RecordBatch& batch, int64_t r) {
  const bool z = opt_.compress;
  const size_t row_start = body_.size();
  if (z) {
    if (rows_in_part_ > 0) body_.push_back('\n');
  } else {
    body_.append("<R>");
  }
  bool any_flag = false;
  const int nc = static_cast<int>(cols_.size());
  for (int c = 0; c < nc; ++c) {
    if (c > 0) body_.push_back('|');
    const Column& col = batch.column(c);
    ColInfo& ci = cols_[static_cast<size_t>(c)];
    uint8_t& flags = row_flags_[static_cast<size_t>(c)];
    if (col.IsNull(r)) {
      if (ci.key) {
        return Status::InvalidArgument("tdtp: row " + std::to_string(rows_written_ + 1) + ", column '" +
                                       schema_->field(c).name +
                                       "': NULL in a primary key column (TDTP key fields are NOT NULL)");
      }
      body_.append(ci.marker);
      flags |= kHasNull;
      any_flag = true;
      continue;
    }
    switch (ci.id) {
      case TypeId::kInt8: AppendInt(col.Value<int8_t>(r), &body_); break;
      case TypeId::kInt16: AppendInt(col.Value<int16_t>(r), &body_); break;
      case TypeId::kInt32: AppendInt(col.Value<int32_t>(r), &body_); break;
      case TypeId::kInt64: AppendInt(col.Value<int64_t>(r), &body_); break;
      case TypeId::kUInt8: AppendInt(col.Value<uint8_t>(r), &body_); break;
      case TypeId::kUInt16: AppendInt(col.Value<uint16_t>(r), &body_); break;
      case TypeId::kUInt32: AppendInt(col.Value<uint32_t>(r), &body_); break;
      case TypeId::kUInt64: AppendInt(col.Value<uint64_t>(r), &body_); break;
      case TypeId::kFloat32: {
        uint8_t before = flags;
        AppendFloat(col.Value<float>(r), &flags, &body_);
        any_flag |= flags != before;
        break;
      }
      case TypeId::kFloat64: {
        uint8_t before = flags;
        AppendFloat(col.Value<double>(r), &flags, &body_);
        any_flag |= flags != before;
        break;
      }
      case TypeId::kDecimal: {
        size_t at = body_.size();
        internal::AppendDecimalFast(col.DecimalValue(r), ci.scale, &body_);
        if (ci.no_int_digit) {
          // decimal(p,p): the framework counts the "0" of "0.123" as a digit
          // and would find p+1 of them; ".123" is the same number.
          if (body_[at] == '-') ++at;
          if (body_.size() > at + 1 && body_[at] == '0' && body_[at + 1] == '.') body_.erase(at, 1);
        }
        break;
      }
      case TypeId::kBool: body_.push_back(col.BoolValue(r) ? '1' : '0'); break;
      case TypeId::kString:
      case TypeId::kJson: {
        std::string_view v = col.StringValue(r);
        if (v.size() <= 6) {
          if (v.empty()) {
            flags |= kHasEmpty;
            any_flag = true;
          } else if (v == internal::kNullMarker) {
            flags |= kHasLiteral;
            any_flag = true;
          }
        }
        if (z) {
          internal::AppendTdtpEscaped(v, &body_);
        } else if (!AppendCellXml(v, &body_)) {
          return Status::InvalidArgument(
              "tdtp: row " + std::to_string(rows_written_ + 1) + ", column '" + schema_->field(c).name +
              "': the text holds a character XML 1.0 cannot carry (a C0 control character, U+FFFE or "
              "U+FFFF); write a compressed packet, which carries it inside the zstd payload");
        }
        break;
      }
      case TypeId::kBinary: {
        std::string_view v = col.StringValue(r);
        if (v.empty()) {
          flags |= kHasEmpty;
          any_flag = true;
        }
        AppendBase64(v, &body_);
        break;
      }
      case TypeId::kDate: {
        int32_t d = col.Value<int32_t>(r);
        if (d < kMinDate || d > kMaxDate) return OutOfRange(c, "date");
        internal::AppendDateFast(d, &body_);
        break;
      }
      case TypeId::kTime: {
        int64_t t = col.Value<int64_t>(r);
        if (t < 0 || t >= kMicrosPerDay) return OutOfRange(c, "time");
        internal::AppendTimeFast(t, &body_);
        break;
      }
      case TypeId::kTimestamp: {
        int64_t t = col.Value<int64_t>(r);
        if (t < int64_t{kMinDate} * kMicrosPerDay || t >= (int64_t{kMaxDate} + 1) * kMicrosPerDay) {
          return OutOfRange(c, "timestamp");
        }
        // Naive timestamps carry "Z" too: the framework reads TIMESTAMP as UTC.
        internal::AppendTimestampFast(t, true, &body_);
        break;
      }
      case TypeId::kUuid: AppendUuid(col.FixedBytes(r, 16), &body_); break;
    }
  }
  if (!z) body_.append("</R>\n");
  ++rows_written_;

  if (rows_in_part_ > 0 && envelope_ + static_cast<int64_t>(body_.size()) > opt_.max_part_bytes) {
    // The part is full without this row: close it and start the next with it.
    std::string row = body_.substr(row_start + (z ? 1 : 0));
    body_.resize(row_start);
    SLUICE_RETURN_NOT_OK(FinishPart());
    body_.assign(row);
    rows_in_part_ = 1;
    if (any_flag) part_flags_ = row_flags_;
  } else {
    ++rows_in_part_;
    if (any_flag) {
      for (size_t c = 0; c < row_flags_.size(); ++c) part_flags_[c] |= row_flags_[c];
    }
  }
  if (any_flag) std::fill(row_flags_.begin(), row_flags_.end(), 0);
  return Status::OK();
}

Status PacketWriter::Impl::FinishPart() {
  EncodedPacket pkt;
  std::string& xml = pkt.xml;
  xml.reserve(static_cast<size_t>(envelope_) + body_.size() + 64);
  size_t total_pos = 0;
  AppendHeaderXml(rows_in_part_, &total_pos, &xml);
  AppendSchemaXml(part_flags_, &xml);
  if (rows_in_part_ == 0) {
    xml.append("  <Data></Data>\n");
  } else if (!opt_.compress || body_.empty()) {
    // A single empty row cannot be told from no rows once compressed (the
    // framework joins rows with LF), so it travels uncompressed.
    if (opt_.compress) xml.append("  <Data>\n<R></R>\n  </Data>\n");
    else xml.append("  <Data>\n").append(body_).append("  </Data>\n");
  } else {
    SLUICE_RETURN_NOT_OK(zstd_.Compress(body_, opt_.compression_level, &zbuf_));
    std::string b64;
    b64.reserve((zbuf_.size() + 2) / 3 * 4);
    AppendBase64(zbuf_, &b64);
    xml.append("  <Data compression=\"zstd\" checksum=\"").append(internal::Xxh3_64Hex(b64)).append("\">\n<R>");
    xml.append(b64).append("</R>\n  </Data>\n");
  }
  xml.append("</DataPacket>\n");

  PacketHeader& h = pkt.header;
  h.type = opt_.message_type;
  h.table_name = opt_.table_name;
  h.message_id = opt_.message_id + "-P" + std::to_string(part_number_);
  h.in_reply_to = opt_.in_reply_to;
  h.part_number = part_number_;
  h.total_parts = 0;
  h.records_in_part = rows_in_part_;
  h.timestamp = opt_.timestamp;
  h.sender = opt_.sender;
  h.recipient = opt_.recipient;

  ++part_number_;
  rows_in_part_ = 0;
  body_.clear();
  std::fill(part_flags_.begin(), part_flags_.end(), 0);
  if (streaming()) {
    pkt.file_name = PartFileName(opt_.table_name, h.part_number, 0);
    return sink_(std::move(pkt));
  }
  parts_.push_back({std::move(pkt), total_pos});
  return Status::OK();
}

Status PacketWriter::Impl::Append(const RecordBatch& batch) {
  if (finished_) return Status::InvalidArgument("tdtp: Append after Finish");
  if (batch.num_columns() != static_cast<int>(cols_.size())) {
    return Status::InvalidArgument("tdtp: batch has " + std::to_string(batch.num_columns()) +
                                   " columns, the writer's schema " + std::to_string(cols_.size()));
  }
  for (int c = 0; c < batch.num_columns(); ++c) {
    if (!(batch.column(c).type == schema_->field(c).type)) {
      return Status::InvalidArgument("tdtp: column '" + schema_->field(c).name + "' is " +
                                     batch.column(c).type.ToString() + ", the schema says " +
                                     schema_->field(c).type.ToString());
    }
  }
  if (batch.num_rows() == 0) return Status::OK();
  if (cols_.empty()) return Status::InvalidArgument("tdtp: rows without columns cannot be written");
  SLUICE_RETURN_NOT_OK(ChooseMarkers(batch));
  for (int64_t r = 0; r < batch.num_rows(); ++r) SLUICE_RETURN_NOT_OK(WriteRow(batch, r));
  return Status::OK();
}

Result<std::vector<EncodedPacket>> PacketWriter::Impl::Finish() {
  if (finished_) return Status::InvalidArgument("tdtp: Finish called twice");
  finished_ = true;
  if (rows_in_part_ > 0 || part_number_ == 1) SLUICE_RETURN_NOT_OK(FinishPart());
  std::vector<EncodedPacket> out;
  if (streaming()) return out;
  const int64_t total = static_cast<int64_t>(parts_.size());
  const std::string elem = "    <TotalParts>" + std::to_string(total) + "</TotalParts>\n";
  out.reserve(parts_.size());
  for (auto& p : parts_) {
    p.packet.xml.insert(p.total_parts_pos, elem);
    p.packet.header.total_parts = total;
    p.packet.file_name = PartFileName(opt_.table_name, p.packet.header.part_number, total);
    out.push_back(std::move(p.packet));
  }
  parts_.clear();
  return out;
}

PacketWriter::PacketWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PacketWriter::~PacketWriter() = default;

Result<std::unique_ptr<PacketWriter>> PacketWriter::Make(std::shared_ptr<const Schema> schema,
                                                         WriteOptions options) {
  auto impl = std::make_unique<Impl>(std::move(schema), std::move(options), Sink());
  SLUICE_RETURN_NOT_OK(impl->Init());
  return std::unique_ptr<PacketWriter>(new PacketWriter(std::move(impl)));
}

Result<std::unique_ptr<PacketWriter>> PacketWriter::MakeStreaming(std::shared_ptr<const Schema> schema,
                                                                  WriteOptions options, Sink sink) {
  if (!sink) return Status::InvalidArgument("tdtp: MakeStreaming needs a sink");
  auto impl = std::make_unique<Impl>(std::move(schema), std::move(options), std::move(sink));
  SLUICE_RETURN_NOT_OK(impl->Init());
  return std::unique_ptr<PacketWriter>(new PacketWriter(std::move(impl)));
}

Status PacketWriter::Append(const RecordBatch& batch) { return impl_->Append(batch); }
Result<std::vector<EncodedPacket>> PacketWriter::Finish() { return impl_->Finish(); }
int64_t PacketWriter::rows_written() const { return impl_->rows_written(); }
int64_t PacketWriter::parts_written() const { return impl_->parts_written(); }

Status FinalizeStreamedPart(EncodedPacket* packet, int64_t total_parts) {
  const std::string_view kAfter = "</PartNumber>\n";
  if (total_parts < 1 || packet->header.part_number > total_parts) {
    return Status::InvalidArgument("tdtp: part " + std::to_string(packet->header.part_number) + " of " +
                                   std::to_string(total_parts) + " parts");
  }
  if (packet->header.total_parts != 0) return Status::InvalidArgument("tdtp: the part already has TotalParts");
  size_t at = packet->xml.find(kAfter);
  if (at == std::string::npos) return Status::InvalidArgument("tdtp: not a packet written by PacketWriter");
  packet->xml.insert(at + kAfter.size(), "    <TotalParts>" + std::to_string(total_parts) + "</TotalParts>\n");
  packet->header.total_parts = total_parts;
  packet->file_name = PartFileName(packet->header.table_name, packet->header.part_number, total_parts);
  return Status::OK();
}

Result<std::vector<EncodedPacket>> WritePackets(std::shared_ptr<const Schema> schema,
                                                const std::vector<RecordBatch>& batches,
                                                WriteOptions options) {
  SLUICE_ASSIGN_OR_RETURN(auto writer, PacketWriter::Make(std::move(schema), std::move(options)));
  for (const auto& b : batches) SLUICE_RETURN_NOT_OK(writer->Append(b));
  return writer->Finish();
}

}  // namespace sluice::tdtp
