#include "formats/jsonl/jsonl.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "core/temporal.h"
#include "core/text.h"
#include "core/utf8.h"
#include "formats/csv/text_common.h"
#include "formats/jsonl/json_text.h"

namespace sluice::jsonl {

namespace {

constexpr size_t kWriteFlushBytes = size_t{1} << 20;
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

using internal::JsonScanner;

bool IsBlank(std::string_view line) {
  for (char c : line) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using NameIndex = std::unordered_map<std::string, int, StringHash, std::equal_to<>>;

template <typename F>
void AppendJsonFloat(F v, std::string* out) {
  if (std::isnan(v)) {
    out->append("\"NaN\"");
  } else if (std::isinf(v)) {
    out->append(v < 0 ? "\"-Infinity\"" : "\"Infinity\"");
  } else if constexpr (sizeof(F) == 4) {
    AppendFloat(v, out);
  } else {
    AppendDouble(v, out);
  }
}

// Exact decimal micros -> value in `unit` from the token of a JSON number
// ("1672531200", "1672531200.123456789", "-1.5", "1.6725312e9"). Digits
// beyond the microsecond are rounded half away from zero.
bool ParseEpochNumber(std::string_view tok, TimestampFormat unit, int64_t* micros) {
  const int64_t scale = unit == TimestampFormat::kEpochMillis ? 1000 : kMicrosPerSecond;
  if (tok.find_first_of("eE") != std::string_view::npos) {
    double v = 0;
    const auto [end, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
    if (ec != std::errc() || end != tok.data() + tok.size() || !std::isfinite(v)) return false;
    const double m = std::round(v * static_cast<double>(scale));
    if (!(m > -9.2e18 && m < 9.2e18)) return false;
    *micros = static_cast<int64_t>(m);
    return true;
  }
  const bool negative = !tok.empty() && tok[0] == '-';
  if (negative) tok.remove_prefix(1);
  const size_t dot = tok.find('.');
  const std::string_view whole = tok.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : tok.substr(dot + 1);
  uint64_t w = 0;
  if (whole.empty() || whole.size() > 15) return false;  // far beyond year 9999 in ms
  const auto [wend, wec] = std::from_chars(whole.data(), whole.data() + whole.size(), w);
  if (wec != std::errc() || wend != whole.data() + whole.size()) return false;
  const int digits = unit == TimestampFormat::kEpochMillis ? 3 : 6;
  int64_t f = 0;
  for (int i = 0; i < digits; ++i) {
    const char c = static_cast<size_t>(i) < frac.size() ? frac[static_cast<size_t>(i)] : '0';
    if (c < '0' || c > '9') return false;
    f = f * 10 + (c - '0');
  }
  bool round_up = false;
  for (size_t i = static_cast<size_t>(digits); i < frac.size(); ++i) {
    if (frac[i] < '0' || frac[i] > '9') return false;
    if (i == static_cast<size_t>(digits)) round_up = frac[i] >= '5';
  }
  // Far outside years 1-9999 either way: refused before it can overflow.
  if (w > static_cast<uint64_t>(INT64_MAX / scale - 1)) return false;
  int64_t v = static_cast<int64_t>(w) * scale + f + (round_up ? 1 : 0);
  *micros = negative ? -v : v;
  return true;
}

}  // namespace

Result<TimestampFormat> ParseTimestampFormat(std::string_view text) {
  if (text == "iso") return TimestampFormat::kIso;
  if (text == "epoch") return TimestampFormat::kEpochSeconds;
  if (text == "epoch_ms") return TimestampFormat::kEpochMillis;
  return Status::InvalidArgument("timestamp format '" + std::string(text) +
                                 "' is not one of iso, epoch, epoch_ms");
}

void AppendEpochNumber(int64_t micros, TimestampFormat unit, std::string* out) {
  const int64_t scale = unit == TimestampFormat::kEpochMillis ? 1000 : kMicrosPerSecond;
  const int digits = unit == TimestampFormat::kEpochMillis ? 3 : 6;
  // Floor division keeps the fraction positive: -0.5 s is "-0.5", not "-1.5".
  const bool negative = micros < 0;
  const uint64_t mag = negative ? 0 - static_cast<uint64_t>(micros) : static_cast<uint64_t>(micros);
  const uint64_t whole = mag / static_cast<uint64_t>(scale);
  uint64_t frac = mag % static_cast<uint64_t>(scale);
  if (negative && mag != 0) out->push_back('-');
  out->append(std::to_string(whole));
  if (frac == 0) return;
  char buf[8];
  for (int i = digits - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + frac % 10);
    frac /= 10;
  }
  int n = digits;
  while (n > 0 && buf[n - 1] == '0') --n;
  out->push_back('.');
  out->append(buf, static_cast<size_t>(n));
}

// ---------------------------------------------------------------------------
// Writer

JsonlWriter::JsonlWriter(OutputStream* out, std::shared_ptr<const Schema> schema,
                         JsonlWriteOptions options)
    : out_(out), schema_(std::move(schema)), options_(options) {
  for (int i = 0; i < schema_->num_fields(); ++i) {
    std::string prefix(i == 0 ? "{" : ",");
    AppendJsonString(schema_->field(i).name, &prefix);
    prefix.push_back(':');
    key_prefix_.push_back(std::move(prefix));
  }
}

Result<std::unique_ptr<JsonlWriter>> JsonlWriter::Make(OutputStream* out,
                                                       std::shared_ptr<const Schema> schema,
                                                       JsonlWriteOptions options) {
  if (out == nullptr) return Status::InvalidArgument("JsonlWriter: null output stream");
  if (!schema) return Status::InvalidArgument("JsonlWriter: null schema");
  SLUICE_RETURN_NOT_OK(schema->Validate());
  return std::unique_ptr<JsonlWriter>(new JsonlWriter(out, std::move(schema), options));
}

Status JsonlWriter::FlushBuffer() {
  if (buf_.empty()) return Status::OK();
  SLUICE_RETURN_NOT_OK(out_->Write(buf_));
  buf_.clear();
  return Status::OK();
}

Status JsonlWriter::Write(const RecordBatch& batch) {
  if (finished_) return Status::InvalidArgument("JsonlWriter: Write after Finish");
  if (batch.num_columns() != schema_->num_fields()) {
    return Status::InvalidArgument("JsonlWriter: batch has " + std::to_string(batch.num_columns()) +
                                   " columns, schema has " +
                                   std::to_string(schema_->num_fields()));
  }
  for (int c = 0; c < batch.num_columns(); ++c) {
    if (!(batch.column(c).type == schema_->field(c).type)) {
      return Status::InvalidArgument("JsonlWriter: column '" + schema_->field(c).name +
                                     "' has type " + batch.column(c).type.ToString() +
                                     ", schema says " + schema_->field(c).type.ToString());
    }
  }
  const int ncols = batch.num_columns();
  for (int64_t r = 0; r < batch.num_rows(); ++r) {
    const size_t row_start = buf_.size();
    if (ncols == 0) buf_.push_back('{');
    for (int c = 0; c < ncols; ++c) {
      buf_.append(key_prefix_[static_cast<size_t>(c)]);
      const Column& col = batch.column(c);
      if (col.IsNull(r)) {
        buf_.append("null");
        continue;
      }
      switch (col.type.id) {
        case TypeId::kInt8: case TypeId::kInt16: case TypeId::kInt32: case TypeId::kInt64:
        case TypeId::kUInt8: case TypeId::kUInt16: case TypeId::kUInt32: case TypeId::kUInt64:
        case TypeId::kBool:
          AppendText(col, r, &buf_);
          break;
        case TypeId::kTimestamp:
          if (options_.timestamps != TimestampFormat::kIso) {
            AppendEpochNumber(col.Value<int64_t>(r), options_.timestamps, &buf_);
          } else {
            buf_.push_back('"');
            AppendText(col, r, &buf_);
            buf_.push_back('"');
          }
          break;
        case TypeId::kFloat32: AppendJsonFloat(col.Value<float>(r), &buf_); break;
        case TypeId::kFloat64: AppendJsonFloat(col.Value<double>(r), &buf_); break;
        case TypeId::kString: AppendJsonString(col.StringValue(r), &buf_); break;
        case TypeId::kJson: {
          Status st = AppendCompactJson(col.StringValue(r), &buf_);
          if (!st.ok()) {
            buf_.resize(row_start);
            return Status::InvalidData("JsonlWriter: column '" + schema_->field(c).name + "', row " +
                                       std::to_string(rows_written_ + r + 1) + ": " + st.message());
          }
          break;
        }
        default:
          // decimal, binary (base64), date, time, timestamp, uuid: canonical
          // text made of ASCII characters that need no escaping.
          buf_.push_back('"');
          AppendText(col, r, &buf_);
          buf_.push_back('"');
      }
    }
    buf_.append("}\n");
    if (buf_.size() >= kWriteFlushBytes) SLUICE_RETURN_NOT_OK(FlushBuffer());
  }
  rows_written_ += batch.num_rows();
  return Status::OK();
}

Status JsonlWriter::Finish() {
  if (finished_) return Status::OK();
  finished_ = true;
  SLUICE_RETURN_NOT_OK(FlushBuffer());
  return out_->Flush();
}

// ---------------------------------------------------------------------------
// Reader

class JsonlReader::Impl {
 public:
  Impl(InputStream* in, JsonlReadOptions options)
      : options_(std::move(options)), input_(in, options_.read_chunk_bytes) {}

  Status Init();
  Result<std::optional<RecordBatch>> Next();
  const std::shared_ptr<const Schema>& schema() const { return schema_; }

 private:
  const std::string& name() const { return input_.stream()->name(); }
  Status ErrorAt(int64_t line, std::string_view column, std::string_view msg) const {
    std::string s = options_.describe_line ? options_.describe_line(line)
                                           : name() + ": line " + std::to_string(line);
    if (!column.empty()) {
      s += ", column '";
      s += column;
      s += "'";
    }
    s += ": ";
    s += msg;
    return Status::InvalidData(std::move(s));
  }

  Result<bool> ReadLine(std::string_view* line, int64_t* lineno);
  Result<bool> NextLine(std::string_view* line, int64_t* lineno);
  Status EnsureValidUtf8(size_t start, size_t end, int64_t lineno);
  Status SampleAndInfer();
  Status SetSchema(std::shared_ptr<const Schema> schema);
  int Lookup(std::string_view key, int hint) const;
  Status ParseRow(std::string_view line, int64_t lineno, BatchBuilder* bb);
  Status ParseValueInto(int col, JsonScanner* sc, int64_t lineno, BatchBuilder* bb);
  Result<std::optional<RecordBatch>> NextImpl();

  JsonlReadOptions options_;
  textcodec::ChunkedInput input_;
  size_t pos_ = 0;        // start of the next line in input_
  size_t scanned_ = 0;    // bytes in [pos_, scanned_) hold no '\n'
  size_t validated_ = 0;  // input_ bytes before this are known valid UTF-8
  int64_t line_ = 0;      // number of the last line read from input_

  // Inference sample, replayed before the rest of the input.
  std::string sample_;
  struct SampleLine {
    size_t offset, length;
    int64_t lineno;
  };
  std::vector<SampleLine> sample_lines_;
  size_t sample_next_ = 0;

  std::shared_ptr<const Schema> schema_;
  NameIndex index_;
  std::vector<std::string_view> names_;
  std::vector<uint64_t> seen_;  // per column: stamp of the last row that set it
  uint64_t stamp_ = 0;
  std::string key_scratch_, value_scratch_, compact_;
  Status status_;
};

Status JsonlReader::Impl::EnsureValidUtf8(size_t start, size_t end, int64_t lineno) {
  if (end <= validated_) return Status::OK();
  const char* base = input_.data();
  const size_t size = input_.size();
  // Validate every complete line in the buffer at once (lines are cut at
  // '\n', an ASCII byte, so the region is valid iff each line is).
  size_t region_end = size;
  if (!input_.eof()) {
    region_end = end;
    const char* last = static_cast<const char*>(memrchr(base + end, '\n', size - end));
    if (last != nullptr) region_end = static_cast<size_t>(last - base) + 1;
  }
  if (textcodec::ValidUtf8(base + start, region_end - start)) {
    validated_ = region_end;
    return Status::OK();
  }
  // Find the first invalid line; lines before it are fine.
  size_t a = start;
  while (a < region_end) {
    const char* nl = static_cast<const char*>(std::memchr(base + a, '\n', region_end - a));
    size_t b = nl ? static_cast<size_t>(nl - base) : region_end;
    if (!IsValidUtf8(std::string_view(base + a, b - a))) break;
    a = b + 1;
  }
  if (a <= start) return ErrorAt(lineno, "", "invalid UTF-8");
  validated_ = a;
  return Status::OK();
}

Result<bool> JsonlReader::Impl::ReadLine(std::string_view* line, int64_t* lineno) {
  for (;;) {
    const char* base = input_.data();
    const size_t size = input_.size();
    if (pos_ < size) {
      const char* nl = static_cast<const char*>(std::memchr(base + scanned_, '\n', size - scanned_));
      if (nl != nullptr || input_.eof()) {
        const size_t end = nl ? static_cast<size_t>(nl - base) : size;
        *lineno = ++line_;
        SLUICE_RETURN_NOT_OK(EnsureValidUtf8(pos_, end, *lineno));
        *line = std::string_view(base + pos_, end - pos_);
        pos_ = scanned_ = nl ? end + 1 : size;
        return true;
      }
      scanned_ = size;
    } else if (input_.eof()) {
      return false;
    }
    if (size - pos_ >= static_cast<size_t>(options_.max_record_bytes)) {
      return ErrorAt(line_ + 1, "",
                     "line longer than " + std::to_string(options_.max_record_bytes) + " bytes");
    }
    SLUICE_ASSIGN_OR_RETURN(size_t n, input_.Refill(pos_));
    (void)n;
    scanned_ -= pos_;
    validated_ = validated_ > pos_ ? validated_ - pos_ : 0;
    pos_ = 0;
  }
}

Result<bool> JsonlReader::Impl::NextLine(std::string_view* line, int64_t* lineno) {
  if (sample_next_ < sample_lines_.size()) {
    const SampleLine& s = sample_lines_[sample_next_++];
    *line = std::string_view(sample_).substr(s.offset, s.length);
    *lineno = s.lineno;
    return true;
  }
  if (!sample_lines_.empty()) {
    // The caller is done with the last sample line: free the sample.
    sample_lines_.clear();
    sample_lines_.shrink_to_fit();
    sample_.clear();
    sample_.shrink_to_fit();
    sample_next_ = 0;
  }
  return ReadLine(line, lineno);
}

Status JsonlReader::Impl::SetSchema(std::shared_ptr<const Schema> schema) {
  schema_ = std::move(schema);
  index_.clear();
  names_.clear();
  for (int i = 0; i < schema_->num_fields(); ++i) {
    index_.emplace(schema_->field(i).name, i);
    names_.push_back(schema_->field(i).name);
  }
  seen_.assign(static_cast<size_t>(schema_->num_fields()), 0);
  return Status::OK();
}

Status JsonlReader::Impl::SampleAndInfer() {
  NameIndex index;
  std::vector<std::string> names;
  std::vector<textcodec::TypeInferrer> inferrers;
  std::vector<int64_t> seen;
  std::string key_scratch, value_scratch;
  int64_t rows = 0;
  while (rows < options_.infer_rows && static_cast<int64_t>(sample_.size()) < textcodec::kMaxSampleBytes) {
    std::string_view line;
    int64_t lineno;
    SLUICE_ASSIGN_OR_RETURN(bool got, ReadLine(&line, &lineno));
    if (!got) break;
    if (IsBlank(line)) continue;
    sample_lines_.push_back(SampleLine{sample_.size(), line.size(), lineno});
    sample_.append(line);
    ++rows;
    JsonScanner sc(line.data(), line.data() + line.size());
    auto fail = [&](const Status& st) { return ErrorAt(lineno, "", st.message()); };
    sc.SkipWs();
    if (!sc.Consume('{')) return ErrorAt(lineno, "", "expected a JSON object");
    sc.SkipWs();
    if (!sc.Consume('}')) {
      for (;;) {
        if (sc.AtEnd() || sc.Peek() != '"') return fail(sc.Error("expected a key string"));
        std::string_view key;
        Status st = sc.ParseString(&key, &key_scratch);
        if (!st.ok()) return fail(st);
        if (key.empty()) return ErrorAt(lineno, "", "an empty key cannot name a column");
        int col;
        auto it = index.find(key);
        if (it == index.end()) {
          if (static_cast<int>(names.size()) >= textcodec::kMaxColumns) {
            return ErrorAt(lineno, "", "more than " + std::to_string(textcodec::kMaxColumns) + " keys");
          }
          col = static_cast<int>(names.size());
          index.emplace(std::string(key), col);
          names.emplace_back(key);
          inferrers.emplace_back(/*json=*/true);
          seen.push_back(0);
        } else {
          col = it->second;
        }
        if (seen[static_cast<size_t>(col)] == rows) {
          return ErrorAt(lineno, "", "duplicate key " + textcodec::QuoteForError(key));
        }
        seen[static_cast<size_t>(col)] = rows;
        sc.SkipWs();
        if (!sc.Consume(':')) return fail(sc.Error("expected ':'"));
        sc.SkipWs();
        textcodec::TypeInferrer& inf = inferrers[static_cast<size_t>(col)];
        const char c = sc.AtEnd() ? '\0' : sc.Peek();
        if (c == '"') {
          std::string_view v;
          st = sc.ParseString(&v, &value_scratch);
          if (st.ok()) inf.AddText(v);
        } else if (c == '-' || (c >= '0' && c <= '9')) {
          std::string_view tok;
          st = sc.ScanNumber(&tok);
          if (st.ok()) inf.AddNumber(tok);
        } else if (c == 't' || c == 'f') {
          st = sc.ExpectLiteral(c == 't' ? "true" : "false");
          if (st.ok()) inf.AddBool();
        } else if (c == 'n') {
          st = sc.ExpectLiteral("null");
        } else {
          st = sc.ParseValue(nullptr);
          if (st.ok()) inf.AddContainer();
        }
        if (!st.ok()) return fail(st);
        sc.SkipWs();
        if (sc.Consume(',')) {
          sc.SkipWs();
          continue;
        }
        if (sc.Consume('}')) break;
        return fail(sc.Error("expected ',' or '}'"));
      }
    }
    sc.SkipWs();
    if (!sc.AtEnd()) return fail(sc.Error("unexpected text after the object"));
  }
  std::vector<Field> fields;
  for (size_t i = 0; i < names.size(); ++i) {
    fields.push_back(Field{std::move(names[i]), inferrers[i].Finish(options_.infer_decimal)});
  }
  return SetSchema(std::make_shared<const Schema>(std::move(fields)));
}

Status JsonlReader::Impl::Init() {
  while (input_.size() < kUtf8Bom.size() && !input_.eof()) {
    SLUICE_ASSIGN_OR_RETURN(size_t n, input_.Refill(0));
    (void)n;
  }
  if (input_.size() >= kUtf8Bom.size() && std::memcmp(input_.data(), kUtf8Bom.data(), 3) == 0) {
    pos_ = scanned_ = validated_ = kUtf8Bom.size();
  }
  if (options_.schema) {
    SLUICE_RETURN_NOT_OK_CTX(options_.schema->Validate(), name() + ": JSONL schema");
    return SetSchema(options_.schema);
  }
  return SampleAndInfer();
}

int JsonlReader::Impl::Lookup(std::string_view key, int hint) const {
  // Lines written in schema order hit the hint; others use the hash index.
  if (static_cast<size_t>(hint) < names_.size() && names_[static_cast<size_t>(hint)] == key) {
    return hint;
  }
  auto it = index_.find(key);
  return it == index_.end() ? -1 : it->second;
}

Status JsonlReader::Impl::ParseValueInto(int col, JsonScanner* sc, int64_t lineno,
                                         BatchBuilder* bb) {
  const Field& field = schema_->field(col);
  ColumnBuilder& b = bb->column(col);
  const TypeId id = field.type.id;
  auto fail = [&](const Status& st) { return ErrorAt(lineno, field.name, st.message()); };
  auto mismatch = [&](std::string_view got) {
    return ErrorAt(lineno, field.name,
                   "expected a value of type " + field.type.ToString() + ", got " + std::string(got));
  };
  if (sc->AtEnd()) return fail(sc->Error("expected a value"));
  const char c = sc->Peek();
  Status st;
  switch (c) {
    case 'n':
      st = sc->ExpectLiteral("null");
      if (!st.ok()) return fail(st);
      if (!field.nullable) return ErrorAt(lineno, field.name, "NULL in a NOT NULL column");
      b.AppendNull();
      return Status::OK();
    case '"': {
      const char* raw = sc->pos();
      std::string_view v;
      st = sc->ParseString(&v, &value_scratch_);
      if (!st.ok()) return fail(st);
      if (id == TypeId::kString) {
        b.AppendBytes(v);
      } else if (id == TypeId::kJson) {
        b.AppendBytes(std::string_view(raw, static_cast<size_t>(sc->pos() - raw)));
      } else if (id == TypeId::kBinary && textcodec::DecodeBase64Strict(v, &compact_)) {
        b.AppendBytes(compact_);
      } else {
        // Canonical text inside a string (dates, decimals, NaN, base64, "42", ...).
        st = AppendParsedText(v, &b);
        if (!st.ok()) return fail(st);
      }
      return Status::OK();
    }
    case 't':
    case 'f': {
      const bool v = c == 't';
      st = sc->ExpectLiteral(v ? "true" : "false");
      if (!st.ok()) return fail(st);
      if (id == TypeId::kBool) b.AppendBool(v);
      else if (id == TypeId::kJson) b.AppendBytes(v ? "true" : "false");
      else return mismatch("a boolean");
      return Status::OK();
    }
    case '{':
    case '[': {
      if (id != TypeId::kJson) {
        st = sc->ParseValue(nullptr);  // report syntax errors first
        if (!st.ok()) return fail(st);
        return mismatch(c == '{' ? "an object" : "an array");
      }
      compact_.clear();
      st = sc->ParseValue(&compact_);
      if (!st.ok()) return fail(st);
      b.AppendBytes(compact_);
      return Status::OK();
    }
    default: {
      if (c != '-' && (c < '0' || c > '9')) return fail(sc->Error("expected a value"));
      std::string_view tok;
      st = sc->ScanNumber(&tok);
      if (!st.ok()) return fail(st);
      bool done = false;
      switch (id) {
        case TypeId::kInt8: done = textcodec::FastInteger<int8_t>(tok, &b); break;
        case TypeId::kInt16: done = textcodec::FastInteger<int16_t>(tok, &b); break;
        case TypeId::kInt32: done = textcodec::FastInteger<int32_t>(tok, &b); break;
        case TypeId::kInt64: done = textcodec::FastInteger<int64_t>(tok, &b); break;
        case TypeId::kUInt8: done = textcodec::FastInteger<uint8_t>(tok, &b); break;
        case TypeId::kUInt16: done = textcodec::FastInteger<uint16_t>(tok, &b); break;
        case TypeId::kUInt32: done = textcodec::FastInteger<uint32_t>(tok, &b); break;
        case TypeId::kUInt64: done = textcodec::FastInteger<uint64_t>(tok, &b); break;
        case TypeId::kFloat32: done = textcodec::FastFloat<float>(tok, &b); break;
        case TypeId::kFloat64: done = textcodec::FastFloat<double>(tok, &b); break;
        default: break;
      }
      if (done) return Status::OK();
      if (IsInteger(id) || IsFloating(id) || id == TypeId::kDecimal) {
        st = AppendParsedText(tok, &b);  // exact: parses the token text itself
        if (!st.ok()) return fail(st);
      } else if (id == TypeId::kJson) {
        b.AppendBytes(tok);
      } else if (id == TypeId::kTimestamp) {
        int64_t micros = 0;
        if (!ParseEpochNumber(tok, options_.epoch_unit == TimestampFormat::kIso
                                       ? TimestampFormat::kEpochSeconds
                                       : options_.epoch_unit,
                              &micros) ||
            micros < int64_t{kMinDate} * kMicrosPerDay ||
            micros >= (int64_t{kMaxDate} + 1) * kMicrosPerDay) {
          return ErrorAt(lineno, field.name,
                         "epoch number " + std::string(tok) + " is not a timestamp in years 1-9999");
        }
        b.AppendFixed<int64_t>(micros);
      } else {
        return mismatch("a number");
      }
      return Status::OK();
    }
  }
}

Status JsonlReader::Impl::ParseRow(std::string_view line, int64_t lineno, BatchBuilder* bb) {
  JsonScanner sc(line.data(), line.data() + line.size());
  auto fail = [&](const Status& st) { return ErrorAt(lineno, "", st.message()); };
  const uint64_t stamp = ++stamp_;
  sc.SkipWs();
  if (!sc.Consume('{')) return ErrorAt(lineno, "", "expected a JSON object");
  sc.SkipWs();
  if (!sc.Consume('}')) {
    int hint = 0;
    for (;;) {
      if (sc.AtEnd() || sc.Peek() != '"') return fail(sc.Error("expected a key string"));
      std::string_view key;
      Status st = sc.ParseString(&key, &key_scratch_);
      if (!st.ok()) return fail(st);
      const int col = Lookup(key, hint);
      sc.SkipWs();
      if (!sc.Consume(':')) return fail(sc.Error("expected ':'"));
      sc.SkipWs();
      if (col < 0) {
        if (!options_.ignore_unknown_keys) {
          return ErrorAt(lineno, "", "unknown key " + textcodec::QuoteForError(key));
        }
        st = sc.ParseValue(nullptr);
        if (!st.ok()) return fail(st);
      } else {
        if (seen_[static_cast<size_t>(col)] == stamp) {
          return ErrorAt(lineno, "", "duplicate key " + textcodec::QuoteForError(key));
        }
        seen_[static_cast<size_t>(col)] = stamp;
        SLUICE_RETURN_NOT_OK(ParseValueInto(col, &sc, lineno, bb));
        hint = col + 1;
      }
      sc.SkipWs();
      if (sc.Consume(',')) {
        sc.SkipWs();
        continue;
      }
      if (sc.Consume('}')) break;
      return fail(sc.Error("expected ',' or '}'"));
    }
  }
  sc.SkipWs();
  if (!sc.AtEnd()) return fail(sc.Error("unexpected text after the object"));
  for (int c = 0; c < schema_->num_fields(); ++c) {
    if (seen_[static_cast<size_t>(c)] == stamp) continue;
    const Field& f = schema_->field(c);
    if (!f.nullable) return ErrorAt(lineno, f.name, "missing key for a NOT NULL column");
    bb->column(c).AppendNull();
  }
  if (schema_->num_fields() == 0) bb->AddEmptyRow();
  return Status::OK();
}

Result<std::optional<RecordBatch>> JsonlReader::Impl::NextImpl() {
  BatchBuilder bb(schema_);
  int64_t rows = 0, bytes = 0;
  while (rows < options_.batch_rows && bytes < options_.batch_bytes) {
    std::string_view line;
    int64_t lineno;
    SLUICE_ASSIGN_OR_RETURN(bool got, NextLine(&line, &lineno));
    if (!got) break;
    if (IsBlank(line)) continue;
    SLUICE_RETURN_NOT_OK(ParseRow(line, lineno, &bb));
    ++rows;
    bytes += static_cast<int64_t>(line.size()) + 1;
  }
  if (rows == 0) return std::optional<RecordBatch>();
  return std::optional<RecordBatch>(bb.Finish());
}

Result<std::optional<RecordBatch>> JsonlReader::Impl::Next() {
  if (!status_.ok()) return status_;
  auto r = NextImpl();
  if (!r.ok()) status_ = r.status();
  return r;
}

JsonlReader::JsonlReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JsonlReader::~JsonlReader() = default;

Result<std::unique_ptr<JsonlReader>> JsonlReader::Open(InputStream* in, JsonlReadOptions options) {
  if (in == nullptr) return Status::InvalidArgument("JsonlReader: null input stream");
  SLUICE_RETURN_NOT_OK(textcodec::CheckReadLimits(options.batch_rows, options.batch_bytes,
                                                  options.read_chunk_bytes,
                                                  options.max_record_bytes));
  if (options.infer_rows < 0) return Status::InvalidArgument("infer_rows must be >= 0");
  auto impl = std::make_unique<Impl>(in, std::move(options));
  SLUICE_RETURN_NOT_OK(impl->Init());
  return std::unique_ptr<JsonlReader>(new JsonlReader(std::move(impl)));
}

const std::shared_ptr<const Schema>& JsonlReader::schema() const { return impl_->schema(); }

Result<std::optional<RecordBatch>> JsonlReader::Next() { return impl_->Next(); }

}  // namespace sluice::jsonl
