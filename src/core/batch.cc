#include "core/batch.h"

#include <cmath>

#include "core/utf8.h"

namespace sluice {

namespace {
std::string RowCtx(int64_t i) { return "row " + std::to_string(i); }
}  // namespace

int64_t Column::ByteSize() const {
  int64_t n = 0;
  if (validity) n += validity->size();
  if (values) n += values->size();
  if (data) n += data->size();
  return n;
}

Status Column::Validate() const {
  if (length < 0) return Status::InvalidData("negative column length");
  if (null_count < 0 || null_count > length) {
    return Status::InvalidData("null count " + std::to_string(null_count) + " outside 0.." +
                               std::to_string(length));
  }
  if (null_count > 0) {
    if (!validity) return Status::InvalidData("nulls present but no validity bitmap");
    if (validity->size() < bit::BytesFor(length)) {
      return Status::InvalidData("validity bitmap has " + std::to_string(validity->size()) +
                                 " bytes, needs " + std::to_string(bit::BytesFor(length)));
    }
    int64_t valid = bit::CountSet(validity->data(), length);
    if (length - valid != null_count) {
      return Status::InvalidData("null count " + std::to_string(null_count) +
                                 " does not match the validity bitmap (" +
                                 std::to_string(length - valid) + ")");
    }
  } else if (validity && validity->size() < bit::BytesFor(length)) {
    return Status::InvalidData("validity bitmap too short");
  }
  if (!values) return Status::InvalidData("missing values buffer");
  if (type.id == TypeId::kBool) {
    if (values->size() < bit::BytesFor(length)) return Status::InvalidData("bool buffer too short");
    return Status::OK();
  }
  if (IsVarWidth(type.id)) {
    if (values->size() < (length + 1) * 4) {
      return Status::InvalidData("offsets buffer has " + std::to_string(values->size()) +
                                 " bytes, needs " + std::to_string((length + 1) * 4));
    }
    if (!data) return Status::InvalidData("missing data buffer");
    const int32_t* off = values->as<int32_t>();
    if (off[0] < 0) return Status::InvalidData("negative first offset");
    for (int64_t i = 0; i < length; ++i) {
      if (off[i + 1] < off[i]) return Status::InvalidData(RowCtx(i) + ": offsets decrease");
    }
    if (off[length] > data->size()) {
      return Status::InvalidData("offsets point past the data buffer (" +
                                 std::to_string(off[length]) + " > " +
                                 std::to_string(data->size()) + ")");
    }
    if (type.id != TypeId::kBinary) {
      for (int64_t i = 0; i < length; ++i) {
        if (IsNull(i)) continue;
        if (!IsValidUtf8(StringValue(i))) return Status::InvalidData(RowCtx(i) + ": invalid UTF-8");
      }
    }
    return Status::OK();
  }
  int width = FixedWidth(type.id);
  if (values->size() < length * width) {
    return Status::InvalidData("values buffer has " + std::to_string(values->size()) +
                               " bytes, needs " + std::to_string(length * width));
  }
  if (type.id == TypeId::kDecimal) {
    const int128_t limit = MaxDecimalMagnitude(type.precision);
    for (int64_t i = 0; i < length; ++i) {
      if (IsNull(i)) continue;
      int128_t v = DecimalValue(i);
      if (v > limit || v < -limit) {
        return Status::InvalidData(RowCtx(i) + ": decimal exceeds precision " +
                                   std::to_string(type.precision));
      }
    }
  }
  return Status::OK();
}

Status RecordBatch::Validate() const {
  if (!schema_) return Status::InvalidData("batch has no schema");
  if (num_rows_ < 0) return Status::InvalidData("negative row count");
  if (static_cast<int>(columns_.size()) != schema_->num_fields()) {
    return Status::InvalidData("batch has " + std::to_string(columns_.size()) +
                               " columns, schema has " + std::to_string(schema_->num_fields()));
  }
  for (int i = 0; i < num_columns(); ++i) {
    const Column& c = columns_[static_cast<size_t>(i)];
    const Field& f = schema_->field(i);
    auto ctx = "column '" + f.name + "'";
    if (!(c.type == f.type)) {
      return Status::InvalidData(ctx + ": type " + c.type.ToString() + " does not match schema type " +
                                 f.type.ToString());
    }
    if (c.length != num_rows_) {
      return Status::InvalidData(ctx + ": " + std::to_string(c.length) + " values for " +
                                 std::to_string(num_rows_) + " rows");
    }
    SLUICE_RETURN_NOT_OK_CTX(c.Validate(), ctx);
    if (!f.nullable && c.null_count > 0) {
      return Status::InvalidData(ctx + ": NULL in a NOT NULL column");
    }
  }
  return Status::OK();
}

int64_t RecordBatch::ByteSize() const {
  int64_t n = 0;
  for (const auto& c : columns_) n += c.ByteSize();
  return n;
}

RecordBatch RecordBatch::Slice(int64_t offset, int64_t length) const {
  std::vector<Column> cols;
  cols.reserve(columns_.size());
  for (const Column& c : columns_) {
    ColumnBuilder b(c.type);
    b.Reserve(length);
    for (int64_t i = offset; i < offset + length; ++i) b.AppendFrom(c, i);
    cols.push_back(b.Finish());
  }
  return RecordBatch(schema_, length, std::move(cols));
}

namespace {
bool ValueEquals(const Column& a, int64_t i, const Column& b, int64_t j) {
  if (a.IsNull(i) || b.IsNull(j)) return a.IsNull(i) && b.IsNull(j);
  switch (a.type.id) {
    case TypeId::kBool: return a.BoolValue(i) == b.BoolValue(j);
    case TypeId::kFloat32: {
      float x = a.Value<float>(i), y = b.Value<float>(j);
      return (std::isnan(x) && std::isnan(y)) || std::memcmp(&x, &y, 4) == 0;
    }
    case TypeId::kFloat64: {
      double x = a.Value<double>(i), y = b.Value<double>(j);
      return (std::isnan(x) && std::isnan(y)) || std::memcmp(&x, &y, 8) == 0;
    }
    case TypeId::kString: case TypeId::kBinary: case TypeId::kJson:
      return a.StringValue(i) == b.StringValue(j);
    default: {
      int w = FixedWidth(a.type.id);
      return std::memcmp(a.FixedBytes(i, w), b.FixedBytes(j, w), static_cast<size_t>(w)) == 0;
    }
  }
}
}  // namespace

bool RecordBatch::Equals(const RecordBatch& other, std::string* why) const {
  auto fail = [&](std::string msg) {
    if (why) *why = std::move(msg);
    return false;
  };
  if (!schema_ || !other.schema_) return fail("missing schema");
  if (!schema_->Equals(*other.schema_)) {
    return fail("schemas differ:\n" + schema_->ToString() + "vs\n" + other.schema_->ToString());
  }
  if (num_rows_ != other.num_rows_) {
    return fail("row counts differ: " + std::to_string(num_rows_) + " vs " +
                std::to_string(other.num_rows_));
  }
  for (int c = 0; c < num_columns(); ++c) {
    for (int64_t r = 0; r < num_rows_; ++r) {
      if (!ValueEquals(column(c), r, other.column(c), r)) {
        return fail("column '" + schema_->field(c).name + "' differs at row " + std::to_string(r));
      }
    }
  }
  return true;
}

ColumnBuilder::ColumnBuilder(DataType type) : type_(std::move(type)) {
  if (IsVarWidth(type_.id)) values_.AppendValue<int32_t>(0);
}

void ColumnBuilder::Reserve(int64_t rows) {
  if (type_.id == TypeId::kBool) {
    values_.Reserve(bit::BytesFor(bool_bits_ + rows) - values_.size());
  } else if (IsVarWidth(type_.id)) {
    values_.Reserve(rows * 4);
  } else {
    values_.Reserve(rows * FixedWidth(type_.id));
  }
}

void ColumnBuilder::MaterializeValidity() {
  has_validity_ = true;
  validity_.Resize(bit::BytesFor(length_));
  // memset on a null pointer is UB even for 0 bytes (first value is NULL).
  if (validity_.size() > 0) std::memset(validity_.data(), 0xFF, static_cast<size_t>(validity_.size()));
  // Clear bits beyond length_ in the last byte so the tail stays zeroed.
  if (length_ % 8 != 0) validity_.data()[length_ / 8] &= static_cast<uint8_t>((1u << (length_ % 8)) - 1);
}

void ColumnBuilder::EnsureValidityBit(bool valid) {
  if (bit::BytesFor(length_ + 1) > validity_.size()) validity_.AppendValue<uint8_t>(0);
  if (valid) bit::Set(validity_.data(), length_);
}

void ColumnBuilder::AppendNull() {
  if (!has_validity_) MaterializeValidity();
  EnsureValidityBit(false);
  ++null_count_;
  // Placeholder value so fixed-width offsets stay aligned with rows.
  switch (type_.id) {
    case TypeId::kBool:
      if (bit::BytesFor(bool_bits_ + 1) > values_.size()) values_.AppendValue<uint8_t>(0);
      ++bool_bits_;
      break;
    case TypeId::kString: case TypeId::kBinary: case TypeId::kJson:
      values_.AppendValue<int32_t>(static_cast<int32_t>(data_.size()));
      break;
    default:
      values_.AppendZeros(FixedWidth(type_.id));
  }
  ++length_;
}

void ColumnBuilder::AppendBool(bool v) {
  if (bit::BytesFor(bool_bits_ + 1) > values_.size()) values_.AppendValue<uint8_t>(0);
  if (v) bit::Set(values_.data(), bool_bits_);
  ++bool_bits_;
  MarkValid();
}

void ColumnBuilder::AppendBytes(std::string_view v) {
  data_.Append(v.data(), static_cast<int64_t>(v.size()));
  values_.AppendValue<int32_t>(static_cast<int32_t>(data_.size()));
  MarkValid();
}

void ColumnBuilder::AppendFixedBytes(const uint8_t* p, int width) {
  values_.Append(p, width);
  MarkValid();
}

void ColumnBuilder::AppendFrom(const Column& col, int64_t i) {
  if (col.IsNull(i)) return AppendNull();
  switch (type_.id) {
    case TypeId::kBool: return AppendBool(col.BoolValue(i));
    case TypeId::kString: case TypeId::kBinary: case TypeId::kJson:
      return AppendBytes(col.StringValue(i));
    default: {
      int w = FixedWidth(type_.id);
      return AppendFixedBytes(col.FixedBytes(i, w), w);
    }
  }
}

Column ColumnBuilder::Finish() {
  Column c;
  c.type = type_;
  c.length = length_;
  c.null_count = null_count_;
  if (null_count_ > 0) c.validity = validity_.Finish();
  c.values = values_.Finish();
  if (IsVarWidth(type_.id)) c.data = data_.Finish();
  validity_.Clear();
  length_ = null_count_ = bool_bits_ = 0;
  has_validity_ = false;
  if (IsVarWidth(type_.id)) values_.AppendValue<int32_t>(0);
  return c;
}

BatchBuilder::BatchBuilder(std::shared_ptr<const Schema> schema) : schema_(std::move(schema)) {
  builders_.reserve(static_cast<size_t>(schema_->num_fields()));
  for (const Field& f : schema_->fields()) builders_.emplace_back(f.type);
}

int64_t BatchBuilder::ByteSize() const {
  int64_t n = 0;
  for (const auto& b : builders_) n += b.ByteSize();
  return n;
}

void BatchBuilder::Reserve(int64_t rows) {
  for (auto& b : builders_) b.Reserve(rows);
}

RecordBatch BatchBuilder::Finish() {
  int64_t rows = num_rows();
  std::vector<Column> cols;
  cols.reserve(builders_.size());
  for (auto& b : builders_) cols.push_back(b.Finish());
  rows_ = 0;
  return RecordBatch(schema_, rows, std::move(cols));
}

}  // namespace sluice
