// Columnar batches in the Arrow memory layout. A Column owns (shares) its
// buffers; a RecordBatch is a schema plus equally long columns. Both are
// immutable once built; build them with ColumnBuilder / BatchBuilder.
//
// Thread safety: immutable objects, safe to share across threads.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/bitmap.h"
#include "core/buffer.h"
#include "core/int128.h"
#include "core/types.h"

namespace sluice {

struct Column {
  DataType type;
  int64_t length = 0;
  int64_t null_count = 0;
  // Bit i set = row i valid. May be null when null_count == 0.
  std::shared_ptr<Buffer> validity;
  // Fixed-width values (bit-packed for bool), or int32 offsets (length+1) for var-width.
  std::shared_ptr<Buffer> values;
  // Var-width bytes (string, binary, json); null otherwise.
  std::shared_ptr<Buffer> data;

  bool IsNull(int64_t i) const {
    return null_count != 0 && validity && !bit::Get(validity->data(), i);
  }
  bool IsValid(int64_t i) const { return !IsNull(i); }
  template <typename T>
  T Value(int64_t i) const {
    T v;
    std::memcpy(&v, values->data() + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
    return v;
  }
  bool BoolValue(int64_t i) const { return bit::Get(values->data(), i); }
  int128_t DecimalValue(int64_t i) const { return Value<int128_t>(i); }
  const uint8_t* FixedBytes(int64_t i, int width) const { return values->data() + i * width; }
  std::string_view StringValue(int64_t i) const {
    const int32_t* off = values->as<int32_t>();
    return {reinterpret_cast<const char*>(data->data()) + off[i],
            static_cast<size_t>(off[i + 1] - off[i])};
  }

  // Checks every structural invariant against hostile input: buffer sizes,
  // offsets monotonic and in bounds, null_count matches the bitmap, decimal
  // magnitudes within precision, utf8 validity for strings/json.
  Status Validate() const;
  // Approximate bytes held by the buffers.
  int64_t ByteSize() const;
};

class RecordBatch {
 public:
  RecordBatch() = default;
  RecordBatch(std::shared_ptr<const Schema> schema, int64_t num_rows, std::vector<Column> columns)
      : schema_(std::move(schema)), num_rows_(num_rows), columns_(std::move(columns)) {}

  const std::shared_ptr<const Schema>& schema() const { return schema_; }
  int64_t num_rows() const { return num_rows_; }
  int num_columns() const { return static_cast<int>(columns_.size()); }
  const Column& column(int i) const { return columns_[static_cast<size_t>(i)]; }
  const std::vector<Column>& columns() const { return columns_; }

  // Column count and types match the schema, lengths match, each column valid.
  Status Validate() const;
  int64_t ByteSize() const;
  // Copies rows [offset, offset+length) into a new batch.
  RecordBatch Slice(int64_t offset, int64_t length) const;
  // Same schema fields and identical values (NaN equals NaN, NULLs equal).
  bool Equals(const RecordBatch& other, std::string* why = nullptr) const;

 private:
  std::shared_ptr<const Schema> schema_;
  int64_t num_rows_ = 0;
  std::vector<Column> columns_;
};

// Appends values of one type. The Append* call must match the builder's
// type (checked in debug builds only: the hot path stays branch-light).
class ColumnBuilder {
 public:
  explicit ColumnBuilder(DataType type);

  const DataType& type() const { return type_; }
  int64_t length() const { return length_; }
  int64_t null_count() const { return null_count_; }
  int64_t ByteSize() const { return validity_.size() + values_.size() + data_.size(); }

  void Reserve(int64_t rows);
  void AppendNull();
  template <typename T>
  void AppendFixed(T v) {  // ints, floats, date(int32), time/timestamp(int64), decimal(int128)
    MarkValid();
    values_.AppendValue<T>(v);
  }
  void AppendBool(bool v);
  void AppendBytes(std::string_view v);  // string, binary, json
  void AppendFixedBytes(const uint8_t* p, int width);  // uuid (16 bytes)
  // Appends row `i` of a column of the same type.
  void AppendFrom(const Column& col, int64_t i);

  Column Finish();  // leaves the builder empty, same type

 private:
  void MarkValid() {
    if (has_validity_) EnsureValidityBit(true);
    ++length_;
  }
  void EnsureValidityBit(bool valid);
  void MaterializeValidity();

  DataType type_;
  int64_t length_ = 0;
  int64_t null_count_ = 0;
  bool has_validity_ = false;
  int64_t bool_bits_ = 0;
  BufferBuilder validity_;
  BufferBuilder values_;  // values, bool bits, or int32 offsets
  BufferBuilder data_;
};

class BatchBuilder {
 public:
  explicit BatchBuilder(std::shared_ptr<const Schema> schema);
  const std::shared_ptr<const Schema>& schema() const { return schema_; }
  ColumnBuilder& column(int i) { return builders_[static_cast<size_t>(i)]; }
  int num_columns() const { return static_cast<int>(builders_.size()); }
  // Rows appended so far (each column must have received exactly one value per row).
  int64_t num_rows() const { return builders_.empty() ? rows_ : builders_[0].length(); }
  // For zero-column schemas only.
  void AddEmptyRow() { ++rows_; }
  int64_t ByteSize() const;
  void Reserve(int64_t rows);
  RecordBatch Finish();

 private:
  std::shared_ptr<const Schema> schema_;
  std::vector<ColumnBuilder> builders_;
  int64_t rows_ = 0;
};

}  // namespace sluice
