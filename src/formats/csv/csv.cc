#include "formats/csv/csv.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <unordered_set>

#include "core/text.h"
#include "core/utf8.h"
#include "formats/csv/text_common.h"

namespace sluice::csv {

namespace {

constexpr size_t kWriteFlushBytes = size_t{1} << 20;
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

Status CheckDialect(const CsvOptions& o) {
  auto bad_char = [](char c) {
    return c == '\n' || c == '\r' || static_cast<unsigned char>(c) >= 0x80 || c == '\0';
  };
  if (bad_char(o.delimiter)) {
    return Status::InvalidArgument("CSV delimiter must be an ASCII character other than CR, LF, NUL");
  }
  if (bad_char(o.quote)) {
    return Status::InvalidArgument("CSV quote must be an ASCII character other than CR, LF, NUL");
  }
  if (o.delimiter == o.quote) {
    return Status::InvalidArgument("CSV delimiter and quote must differ");
  }
  if (o.null_marker) {
    const std::string& m = *o.null_marker;
    if (m.empty()) {
      return Status::InvalidArgument(
          "CSV null_marker must not be empty (an unquoted empty field is already NULL)");
    }
    for (char c : m) {
      if (c == o.delimiter || c == o.quote || c == '\n' || c == '\r') {
        return Status::InvalidArgument(
            "CSV null_marker must not contain the delimiter, the quote, CR or LF");
      }
    }
    if (!IsValidUtf8(m)) return Status::InvalidArgument("CSV null_marker is not valid UTF-8");
  }
  return Status::OK();
}

std::string CharForError(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7F) return std::string("'") + c + "'";
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("byte 0x") + kHex[u >> 4] + kHex[u & 15];
}

}  // namespace

// ---------------------------------------------------------------------------
// Writer

CsvWriter::CsvWriter(OutputStream* out, std::shared_ptr<const Schema> schema, CsvOptions options)
    : out_(out), schema_(std::move(schema)), options_(std::move(options)) {
  needs_quote_[static_cast<unsigned char>(options_.delimiter)] = true;
  needs_quote_[static_cast<unsigned char>(options_.quote)] = true;
  needs_quote_[static_cast<unsigned char>('\n')] = true;
  needs_quote_[static_cast<unsigned char>('\r')] = true;
  // Canonical text of non-string types uses only letters, digits and "+-./:="
  // (numbers, NaN/Infinity, dates, times, uuids, base64): it needs no quoting
  // unless the dialect uses one of those characters or a NULL marker could
  // look like a value.
  canonical_verbatim_ = !options_.null_marker;
  for (char c : {options_.delimiter, options_.quote}) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alnum || std::string_view("+-./:=").find(c) != std::string_view::npos) {
      canonical_verbatim_ = false;
    }
  }
}

Result<std::unique_ptr<CsvWriter>> CsvWriter::Make(OutputStream* out,
                                                   std::shared_ptr<const Schema> schema,
                                                   CsvOptions options) {
  if (out == nullptr) return Status::InvalidArgument("CsvWriter: null output stream");
  if (!schema) return Status::InvalidArgument("CsvWriter: null schema");
  SLUICE_RETURN_NOT_OK(schema->Validate());
  if (schema->num_fields() == 0) {
    return Status::InvalidArgument("CSV needs at least one column");
  }
  SLUICE_RETURN_NOT_OK(CheckDialect(options));
  std::unique_ptr<CsvWriter> w(new CsvWriter(out, std::move(schema), std::move(options)));
  if (w->options_.header) {
    for (int i = 0; i < w->schema_->num_fields(); ++i) {
      if (i > 0) w->buf_.push_back(w->options_.delimiter);
      w->AppendField(w->schema_->field(i).name, false);
    }
    w->buf_.append(w->options_.crlf ? "\r\n" : "\n");
  }
  return w;
}

void CsvWriter::AppendField(std::string_view text, bool force_quote) {
  bool quote = force_quote || text.empty();
  if (!quote) {
    for (char c : text) {
      if (needs_quote_[static_cast<unsigned char>(c)]) {
        quote = true;
        break;
      }
    }
  }
  // A NULL-marker lookalike must stay a value; a leading BOM must not be
  // mistaken for the file's byte order mark when it is the first field.
  if (!quote && ((options_.null_marker && text == *options_.null_marker) ||
                 text.substr(0, 3) == kUtf8Bom)) {
    quote = true;
  }
  if (!quote) {
    buf_.append(text);
    return;
  }
  const char q = options_.quote;
  buf_.push_back(q);
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == q) {
      buf_.append(text.substr(start, i + 1 - start));
      buf_.push_back(q);
      start = i + 1;
    }
  }
  buf_.append(text.substr(start));
  buf_.push_back(q);
}

Status CsvWriter::FlushBuffer() {
  if (buf_.empty()) return Status::OK();
  SLUICE_RETURN_NOT_OK(out_->Write(buf_));
  buf_.clear();
  return Status::OK();
}

Status CsvWriter::Write(const RecordBatch& batch) {
  if (finished_) return Status::InvalidArgument("CsvWriter: Write after Finish");
  if (batch.num_columns() != schema_->num_fields()) {
    return Status::InvalidArgument("CsvWriter: batch has " + std::to_string(batch.num_columns()) +
                                   " columns, schema has " +
                                   std::to_string(schema_->num_fields()));
  }
  for (int c = 0; c < batch.num_columns(); ++c) {
    if (!(batch.column(c).type == schema_->field(c).type)) {
      return Status::InvalidArgument("CsvWriter: column '" + schema_->field(c).name + "' has type " +
                                     batch.column(c).type.ToString() + ", schema says " +
                                     schema_->field(c).type.ToString());
    }
  }
  const std::string_view eol = options_.crlf ? "\r\n" : "\n";
  const int ncols = batch.num_columns();
  std::string text;
  for (int64_t r = 0; r < batch.num_rows(); ++r) {
    for (int c = 0; c < ncols; ++c) {
      if (c > 0) buf_.push_back(options_.delimiter);
      const Column& col = batch.column(c);
      if (col.IsNull(r)) {
        if (options_.null_marker) buf_.append(*options_.null_marker);
        continue;
      }
      switch (col.type.id) {
        case TypeId::kString:
        case TypeId::kJson:
          AppendField(col.StringValue(r), false);
          break;
        case TypeId::kBinary:
          if (col.StringValue(r).empty()) {  // empty value, not NULL
            buf_.push_back(options_.quote);
            buf_.push_back(options_.quote);
            break;
          }
          [[fallthrough]];
        default:
          if (canonical_verbatim_) {
            AppendText(col, r, &buf_);
          } else {
            text.clear();
            AppendText(col, r, &text);
            AppendField(text, false);
          }
      }
    }
    buf_.append(eol);
    if (buf_.size() >= kWriteFlushBytes) SLUICE_RETURN_NOT_OK(FlushBuffer());
  }
  rows_written_ += batch.num_rows();
  return Status::OK();
}

Status CsvWriter::Finish() {
  if (finished_) return Status::OK();
  finished_ = true;
  SLUICE_RETURN_NOT_OK(FlushBuffer());
  return out_->Flush();
}

// ---------------------------------------------------------------------------
// Reader

class CsvReader::Impl {
 public:
  Impl(InputStream* in, CsvReadOptions options)
      : options_(std::move(options)), input_(in, options_.read_chunk_bytes) {
    stop_[static_cast<unsigned char>(options_.delimiter)] = true;
    stop_[static_cast<unsigned char>('\n')] = true;
    stop_[static_cast<unsigned char>('\r')] = true;
    delim_bytes_ = kOnes * static_cast<unsigned char>(options_.delimiter);
  }

  Status Init();
  Result<std::optional<RecordBatch>> Next();
  const std::shared_ptr<const Schema>& schema() const { return schema_; }

 private:
  enum class Outcome { kRecord, kNeedMore, kEnd };
  static constexpr uint32_t kQuotedBit = uint32_t{1} << 31;
  static constexpr uint32_t kOffsetMask = kQuotedBit - 1;

  const std::string& name() const { return input_.stream()->name(); }
  Status ErrorAt(int64_t line, std::string_view column, std::string_view msg) const {
    std::string s = name() + ": line " + std::to_string(line);
    if (!column.empty()) {
      s += ", column '";
      s += column;
      s += "'";
    }
    s += ": ";
    s += msg;
    return Status::InvalidData(std::move(s));
  }
  std::string CsvColumnName(int k) const {
    if (k >= 0 && static_cast<size_t>(k) < csv_names_.size()) return csv_names_[static_cast<size_t>(k)];
    return "#" + std::to_string(k + 1);
  }

  Result<Outcome> ParseRecord(int* nfields, bool* blank);
  Status Refill();
  Status Fill(int64_t max_rows, int64_t max_bytes);
  Status ValidatePending();
  Status ReadHeader(std::vector<std::string>* names, bool* found);
  Status SetupSchema(std::vector<std::string> header, bool have_header);
  Result<RecordBatch> Convert(int64_t r0, int64_t r1);
  template <typename Parse>
  Status ConvertColumn(int f, int64_t r0, int64_t r1, ColumnBuilder* b, Parse&& parse);
  Result<std::optional<RecordBatch>> NextImpl();
  void ClearPending();

  size_t FieldIndex(int64_t row, int k) const {
    return static_cast<size_t>(row) * static_cast<size_t>(ncols_) + static_cast<size_t>(k);
  }
  // fields_ holds two entries per field: start offset, end offset | quoted bit.
  uint32_t FieldStart(size_t idx) const { return fields_[2 * idx]; }
  std::string_view FieldText(size_t idx) const {
    const uint32_t st = fields_[2 * idx], e = fields_[2 * idx + 1] & kOffsetMask;
    return std::string_view(field_data_.data() + st, e - st);
  }
  bool FieldQuoted(size_t idx) const { return (fields_[2 * idx + 1] & kQuotedBit) != 0; }
  size_t RowStartBytes(int64_t row) const {
    if (row >= pending_rows_) return field_data_.size();
    return FieldStart(FieldIndex(row, 0));
  }
  // Forgets the last record ParseRecord appended.
  void DropLastRecord(int nfields) {
    const size_t first = fields_.size() - 2 * static_cast<size_t>(nfields);
    field_data_.resize(fields_[first]);
    fields_.resize(first);
  }
  // First delimiter, CR or LF in [p, end), 8 bytes at a time.
  const char* ScanUnquoted(const char* p, const char* end) const {
    while (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      const uint64_t m = ZeroBytes(w ^ delim_bytes_) | ZeroBytes(w ^ (kOnes * '\n')) |
                         ZeroBytes(w ^ (kOnes * '\r'));
      if (m != 0) return p + (__builtin_ctzll(m) >> 3);
      p += 8;
    }
    while (p < end && !stop_[static_cast<unsigned char>(*p)]) ++p;
    return p;
  }
  static constexpr uint64_t kOnes = 0x0101010101010101ULL;
  // High bit set in each zero byte; the lowest set bit is always exact.
  static uint64_t ZeroBytes(uint64_t v) { return (v - kOnes) & ~v & (kOnes * 0x80); }
  bool IsNullMarker(std::string_view v) const {
    return options_.null_marker && v == *options_.null_marker;
  }

  CsvReadOptions options_;
  textcodec::ChunkedInput input_;
  bool stop_[256] = {};
  uint64_t delim_bytes_ = 0;
  std::vector<size_t> escaped_;  // fields of the current record holding doubled quotes
  std::string scratch_;
  std::shared_ptr<const Schema> schema_;
  std::vector<std::string> csv_names_;  // column names in file order
  std::vector<int> csv_index_;          // schema field -> file column
  int ncols_ = -1;                      // fields per record (-1: not known yet)

  size_t pos_ = 0;        // parse position in input_
  size_t validated_ = 0;  // input_ bytes before this are known valid UTF-8
  int64_t line_ = 1;      // physical line where the next record starts
  bool input_done_ = false;

  // Tokenized rows waiting for conversion: the raw text of each record
  // (quotes undoubled in place), start and end offset (+ quoted bit) of each
  // field in it, the starting line of each row.
  std::string field_data_;
  std::vector<uint32_t> fields_;
  std::vector<int64_t> row_lines_;
  int64_t pending_rows_ = 0;
  int64_t cursor_ = 0;         // first pending row not yet returned
  int64_t validated_row_ = 0;  // rows before this had their bytes validated
  Status status_;
};

Result<CsvReader::Impl::Outcome> CsvReader::Impl::ParseRecord(int* nfields_out, bool* blank) {
  const char* const base = input_.data();
  const char* const rec = base + pos_;
  const char* p = rec;
  const char* const end = base + input_.size();
  const bool eof = input_.eof();
  const char q = options_.quote;
  const char delim = options_.delimiter;
  const size_t fields_mark = fields_.size();
  const size_t data_base = field_data_.size();
  auto need_more = [&] {
    fields_.resize(fields_mark);
    return Outcome::kNeedMore;
  };
  auto fail = [&](Status st) {
    fields_.resize(fields_mark);
    return st;
  };
  if (p == end) return eof ? Outcome::kEnd : need_more();

  // Pass 1 finds the field boundaries (offsets relative to the record);
  // the record's bytes are then copied in one go.
  escaped_.clear();
  int nfields = 0;
  int64_t inner_lines = 0;
  bool last_quoted = false;
  size_t last_len = 0;
  for (;;) {
    size_t fstart, fend;
    bool quoted = false;
    if (p < end && *p == q) {
      quoted = true;
      ++p;
      fstart = static_cast<size_t>(p - rec);
      bool doubled = false;
      for (;;) {
        const char* close = static_cast<const char*>(std::memchr(p, q, static_cast<size_t>(end - p)));
        if (close == nullptr) {
          if (!eof) return need_more();
          return fail(ErrorAt(line_, ncols_ >= 0 ? CsvColumnName(nfields) : "",
                              "unterminated quoted field at end of input"));
        }
        inner_lines += std::count(p, close, '\n');
        p = close + 1;
        if (p == end && !eof) return need_more();
        if (p < end && *p == q) {  // doubled quote
          doubled = true;
          ++p;
          continue;
        }
        break;
      }
      fend = static_cast<size_t>(p - 1 - rec);
      if (p < end && *p != delim && *p != '\n' && *p != '\r') {
        return fail(ErrorAt(line_, ncols_ >= 0 ? CsvColumnName(nfields) : "",
                            "unexpected " + CharForError(*p) + " after a closing quote"));
      }
      if (doubled) escaped_.push_back(fields_.size() / 2);
    } else {
      fstart = static_cast<size_t>(p - rec);
      p = ScanUnquoted(p, end);
      if (p == end && !eof) return need_more();
      fend = static_cast<size_t>(p - rec);
    }
    if (ncols_ >= 0 && nfields >= ncols_) {
      return fail(ErrorAt(line_, "",
                          "too many fields: expected " + std::to_string(ncols_) +
                              " (extra field after column '" + CsvColumnName(ncols_ - 1) + "')"));
    }
    if (nfields >= textcodec::kMaxColumns) {
      return fail(ErrorAt(line_, "", "more than " + std::to_string(textcodec::kMaxColumns) + " fields"));
    }
    fields_.push_back(static_cast<uint32_t>(data_base + fstart));
    fields_.push_back(static_cast<uint32_t>(data_base + fend) | (quoted ? kQuotedBit : 0));
    ++nfields;
    last_quoted = quoted;
    last_len = fend - fstart;
    if (p == end) break;  // end of input ends the record
    const char c = *p++;
    if (c == delim) continue;
    if (c == '\r') {
      if (p == end && !eof) return need_more();  // is it CRLF?
      if (p < end && *p == '\n') ++p;
    }
    break;
  }
  field_data_.append(rec, p);
  // Undouble quotes in place: the text only shrinks.
  for (size_t f : escaped_) {
    char* d = field_data_.data();
    const uint32_t fs = fields_[2 * f];
    const uint32_t fe = fields_[2 * f + 1] & kOffsetMask;
    uint32_t w = fs;
    for (uint32_t r = fs; r < fe; ++r) {
      d[w++] = d[r];
      if (d[r] == q) ++r;  // skip the second quote of the pair
    }
    fields_[2 * f + 1] = w | kQuotedBit;
  }
  pos_ = static_cast<size_t>(p - base);
  *nfields_out = nfields;
  *blank = nfields == 1 && !last_quoted && last_len == 0;
  line_ += 1 + inner_lines;
  return Outcome::kRecord;
}

Status CsvReader::Impl::ValidatePending() {
  if (validated_ >= pos_) return Status::OK();
  if (!textcodec::ValidUtf8(input_.data() + validated_, pos_ - validated_)) {
    // Slow path: find the field. Fields are substrings of the record text cut
    // at ASCII bytes, so the region is valid iff every field is.
    for (int64_t r = validated_row_; r < pending_rows_; ++r) {
      for (int k = 0; k < ncols_; ++k) {
        if (!IsValidUtf8(FieldText(FieldIndex(r, k)))) {
          return ErrorAt(row_lines_[static_cast<size_t>(r)], CsvColumnName(k), "invalid UTF-8");
        }
      }
    }
    return ErrorAt(line_ - 1, "", "invalid UTF-8");
  }
  validated_ = pos_;
  validated_row_ = pending_rows_;
  return Status::OK();
}

Status CsvReader::Impl::Refill() {
  if (input_.size() - pos_ >= static_cast<size_t>(options_.max_record_bytes)) {
    return ErrorAt(line_, "",
                   "record longer than " + std::to_string(options_.max_record_bytes) +
                       " bytes (unbalanced quote?)");
  }
  SLUICE_RETURN_NOT_OK(ValidatePending());
  SLUICE_ASSIGN_OR_RETURN(size_t n, input_.Refill(pos_));
  (void)n;
  validated_ -= pos_;
  pos_ = 0;
  return Status::OK();
}

Status CsvReader::Impl::Fill(int64_t max_rows, int64_t max_bytes) {
  while (!input_done_ && pending_rows_ - cursor_ < max_rows &&
         static_cast<int64_t>(field_data_.size() - RowStartBytes(cursor_)) < max_bytes) {
    const int64_t record_line = line_;
    int nfields = 0;
    bool blank = false;
    SLUICE_ASSIGN_OR_RETURN(Outcome o, ParseRecord(&nfields, &blank));
    if (o == Outcome::kNeedMore) {
      SLUICE_RETURN_NOT_OK(Refill());
      continue;
    }
    if (o == Outcome::kEnd) {
      input_done_ = true;
      break;
    }
    if (blank && ncols_ != 1) {
      // An empty line cannot be a row of a multi-column table: skip it.
      DropLastRecord(nfields);
      continue;
    }
    if (ncols_ < 0) ncols_ = nfields;  // headerless, schemaless: the first record decides
    if (nfields < ncols_) {
      DropLastRecord(nfields);
      return ErrorAt(record_line, "",
                     "too few fields: expected " + std::to_string(ncols_) + ", found " +
                         std::to_string(nfields) + " (missing column '" + CsvColumnName(nfields) +
                         "')");
    }
    row_lines_.push_back(record_line);
    ++pending_rows_;
  }
  return ValidatePending();
}

void CsvReader::Impl::ClearPending() {
  field_data_.clear();
  fields_.clear();
  row_lines_.clear();
  pending_rows_ = cursor_ = validated_row_ = 0;
}

Status CsvReader::Impl::ReadHeader(std::vector<std::string>* names, bool* found) {
  *found = false;
  for (;;) {
    int nfields = 0;
    bool blank = false;
    const int64_t record_line = line_;
    SLUICE_ASSIGN_OR_RETURN(Outcome o, ParseRecord(&nfields, &blank));
    if (o == Outcome::kNeedMore) {
      SLUICE_RETURN_NOT_OK(Refill());
      continue;
    }
    if (o == Outcome::kEnd) {
      input_done_ = true;
      return Status::OK();
    }
    if (blank) {
      DropLastRecord(nfields);
      continue;
    }
    for (int k = 0; k < nfields; ++k) {
      std::string_view n = FieldText(static_cast<size_t>(k));
      if (!IsValidUtf8(n)) {
        return ErrorAt(record_line, "", "invalid UTF-8 in header field " + std::to_string(k + 1));
      }
      names->emplace_back(n);
    }
    field_data_.clear();
    fields_.clear();
    validated_ = pos_;
    *found = true;
    return Status::OK();
  }
}

Status CsvReader::Impl::SetupSchema(std::vector<std::string> header, bool have_header) {
  if (options_.schema) {
    const Schema& s = *options_.schema;
    SLUICE_RETURN_NOT_OK_CTX(s.Validate(), name() + ": CSV schema");
    if (s.num_fields() == 0) return Status::InvalidArgument(name() + ": CSV schema has no columns");
    schema_ = options_.schema;
    ncols_ = s.num_fields();
    csv_index_.assign(static_cast<size_t>(ncols_), -1);
    if (have_header) {
      for (size_t k = 0; k < header.size(); ++k) {
        std::optional<int> f = s.FieldIndex(header[k]);
        if (!f) {
          return ErrorAt(1, "", "header column " + textcodec::QuoteForError(header[k]) +
                                    " is not in the schema");
        }
        if (csv_index_[static_cast<size_t>(*f)] >= 0) {
          return ErrorAt(1, "", "duplicate header column " + textcodec::QuoteForError(header[k]));
        }
        csv_index_[static_cast<size_t>(*f)] = static_cast<int>(k);
      }
      for (int f = 0; f < ncols_; ++f) {
        if (csv_index_[static_cast<size_t>(f)] < 0) {
          return ErrorAt(1, "", "schema column '" + s.field(f).name + "' is missing from the header");
        }
      }
      csv_names_ = std::move(header);
    } else {
      for (int f = 0; f < ncols_; ++f) {
        csv_index_[static_cast<size_t>(f)] = f;
        csv_names_.push_back(s.field(f).name);
      }
    }
    return Status::OK();
  }

  // Inference: names first.
  if (have_header) {
    csv_names_ = std::move(header);
  } else if (!options_.column_names.empty()) {
    csv_names_ = options_.column_names;
  }
  if (!csv_names_.empty() || have_header) ncols_ = static_cast<int>(csv_names_.size());
  // Sample rows (also decides the column count of a headerless file).
  SLUICE_RETURN_NOT_OK(Fill(std::max<int64_t>(options_.infer_rows, 1), textcodec::kMaxSampleBytes));
  if (ncols_ < 0) ncols_ = 0;  // empty input
  for (int k = static_cast<int>(csv_names_.size()); k < ncols_; ++k) {
    csv_names_.push_back("column" + std::to_string(k + 1));
  }
  std::vector<Field> fields;
  std::unordered_set<std::string_view> seen;
  for (int k = 0; k < ncols_; ++k) {
    std::string& n = csv_names_[static_cast<size_t>(k)];
    if (n.empty()) n = "column" + std::to_string(k + 1);
  }
  for (int k = 0; k < ncols_; ++k) {
    const std::string& n = csv_names_[static_cast<size_t>(k)];
    if (!seen.insert(n).second) {
      return ErrorAt(1, "", "duplicate column name " + textcodec::QuoteForError(n));
    }
    textcodec::TypeInferrer inf(/*json=*/false);
    const int64_t sample_rows = std::min(pending_rows_, std::max<int64_t>(options_.infer_rows, 0));
    for (int64_t r = 0; r < sample_rows; ++r) {
      size_t idx = FieldIndex(r, k);
      std::string_view v = FieldText(idx);
      if (!FieldQuoted(idx) && (v.empty() || IsNullMarker(v))) continue;
      inf.AddText(v);
    }
    fields.push_back(Field{n, inf.Finish(options_.infer_decimal)});
  }
  csv_index_.resize(static_cast<size_t>(ncols_));
  for (int k = 0; k < ncols_; ++k) csv_index_[static_cast<size_t>(k)] = k;
  schema_ = std::make_shared<const Schema>(std::move(fields));
  return Status::OK();
}

Status CsvReader::Impl::Init() {
  // Skip a UTF-8 byte order mark.
  while (input_.size() < kUtf8Bom.size() && !input_.eof()) {
    SLUICE_ASSIGN_OR_RETURN(size_t n, input_.Refill(0));
    (void)n;
  }
  if (std::string_view(input_.data() ? input_.data() : "", input_.size()).substr(0, 3) == kUtf8Bom) {
    pos_ = validated_ = kUtf8Bom.size();
  }
  std::vector<std::string> header;
  bool have_header = false;
  if (options_.header) SLUICE_RETURN_NOT_OK(ReadHeader(&header, &have_header));
  SLUICE_RETURN_NOT_OK(SetupSchema(std::move(header), have_header));
  if (ncols_ == 0) input_done_ = true;
  return Status::OK();
}

template <typename Parse>
Status CsvReader::Impl::ConvertColumn(int f, int64_t r0, int64_t r1, ColumnBuilder* b, Parse&& parse) {
  const Field& field = schema_->field(f);
  const int k = csv_index_[static_cast<size_t>(f)];
  const TypeId id = field.type.id;
  // Empty text is a value only for types whose text can be empty.
  const bool empty_is_value = id == TypeId::kString || id == TypeId::kJson || id == TypeId::kBinary;
  for (int64_t r = r0; r < r1; ++r) {
    const size_t idx = FieldIndex(r, k);
    const std::string_view v = FieldText(idx);
    const bool is_null = FieldQuoted(idx) ? (v.empty() && !empty_is_value) : (v.empty() || IsNullMarker(v));
    if (is_null) {
      if (!field.nullable) {
        return ErrorAt(row_lines_[static_cast<size_t>(r)], field.name, "NULL in a NOT NULL column");
      }
      b->AppendNull();
      continue;
    }
    if (parse(v, b)) continue;
    // Slow path: the canonical parser, which also words the error.
    Status st = AppendParsedText(v, b);
    if (!st.ok()) return ErrorAt(row_lines_[static_cast<size_t>(r)], field.name, st.message());
  }
  return Status::OK();
}

Result<RecordBatch> CsvReader::Impl::Convert(int64_t r0, int64_t r1) {
  BatchBuilder bb(schema_);
  bb.Reserve(r1 - r0);
  for (int f = 0; f < schema_->num_fields(); ++f) {
    ColumnBuilder* b = &bb.column(f);
    Status st;
    switch (schema_->field(f).type.id) {
      case TypeId::kString:
      case TypeId::kJson:
        // UTF-8 was validated in bulk; JSON text is not validated by CSV.
        st = ConvertColumn(f, r0, r1, b, [](std::string_view v, ColumnBuilder* cb) {
          cb->AppendBytes(v);
          return true;
        });
        break;
      case TypeId::kBinary:
        st = ConvertColumn(f, r0, r1, b, [this](std::string_view v, ColumnBuilder* cb) {
          if (!textcodec::DecodeBase64Strict(v, &scratch_)) return false;
          cb->AppendBytes(scratch_);
          return true;
        });
        break;
      case TypeId::kInt8: st = ConvertColumn(f, r0, r1, b, textcodec::FastInteger<int8_t>); break;
      case TypeId::kInt16: st = ConvertColumn(f, r0, r1, b, textcodec::FastInteger<int16_t>); break;
      case TypeId::kInt32: st = ConvertColumn(f, r0, r1, b, textcodec::FastInteger<int32_t>); break;
      case TypeId::kInt64: st = ConvertColumn(f, r0, r1, b, textcodec::FastInteger<int64_t>); break;
      case TypeId::kUInt8: st = ConvertColumn(f, r0, r1, b, textcodec::FastInteger<uint8_t>); break;
      case TypeId::kUInt16: st = ConvertColumn(f, r0, r1, b, textcodec::FastInteger<uint16_t>); break;
      case TypeId::kUInt32: st = ConvertColumn(f, r0, r1, b, textcodec::FastInteger<uint32_t>); break;
      case TypeId::kUInt64: st = ConvertColumn(f, r0, r1, b, textcodec::FastInteger<uint64_t>); break;
      case TypeId::kFloat32: st = ConvertColumn(f, r0, r1, b, textcodec::FastFloat<float>); break;
      case TypeId::kFloat64: st = ConvertColumn(f, r0, r1, b, textcodec::FastFloat<double>); break;
      default:
        st = ConvertColumn(f, r0, r1, b, [](std::string_view, ColumnBuilder*) { return false; });
    }
    SLUICE_RETURN_NOT_OK(st);
  }
  return bb.Finish();
}

Result<std::optional<RecordBatch>> CsvReader::Impl::NextImpl() {
  if (cursor_ == pending_rows_) ClearPending();
  SLUICE_RETURN_NOT_OK(Fill(options_.batch_rows, options_.batch_bytes));
  if (cursor_ == pending_rows_) return std::optional<RecordBatch>();
  // Rows left from the inference sample may exceed the limits: cut here.
  int64_t r1 = cursor_ + 1;
  const size_t start = RowStartBytes(cursor_);
  while (r1 < pending_rows_ && r1 - cursor_ < options_.batch_rows &&
         static_cast<int64_t>(RowStartBytes(r1) - start) < options_.batch_bytes) {
    ++r1;
  }
  SLUICE_ASSIGN_OR_RETURN(RecordBatch batch, Convert(cursor_, r1));
  cursor_ = r1;
  return std::optional<RecordBatch>(std::move(batch));
}

Result<std::optional<RecordBatch>> CsvReader::Impl::Next() {
  if (!status_.ok()) return status_;
  auto r = NextImpl();
  if (!r.ok()) status_ = r.status();
  return r;
}

CsvReader::CsvReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CsvReader::~CsvReader() = default;

Result<std::unique_ptr<CsvReader>> CsvReader::Open(InputStream* in, CsvReadOptions options) {
  if (in == nullptr) return Status::InvalidArgument("CsvReader: null input stream");
  SLUICE_RETURN_NOT_OK(CheckDialect(options));
  SLUICE_RETURN_NOT_OK(textcodec::CheckReadLimits(options.batch_rows, options.batch_bytes,
                                                  options.read_chunk_bytes,
                                                  options.max_record_bytes));
  if (options.infer_rows < 0) return Status::InvalidArgument("infer_rows must be >= 0");
  auto impl = std::make_unique<Impl>(in, std::move(options));
  SLUICE_RETURN_NOT_OK(impl->Init());
  return std::unique_ptr<CsvReader>(new CsvReader(std::move(impl)));
}

const std::shared_ptr<const Schema>& CsvReader::schema() const { return impl_->schema(); }

Result<std::optional<RecordBatch>> CsvReader::Next() { return impl_->Next(); }

}  // namespace sluice::csv
