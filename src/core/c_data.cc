#include "core/c_data.h"

#include <cstring>
#include <string>
#include <vector>

namespace sluice {

namespace {

// ---- metadata encoding: int32 count, then (int32 len, bytes) key/value pairs.
std::string EncodeMetadata(const KeyValueMetadata& kv) {
  if (kv.empty()) return {};
  std::string out;
  auto put32 = [&](int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  put32(static_cast<int32_t>(kv.size()));
  for (const auto& [k, v] : kv) {
    put32(static_cast<int32_t>(k.size()));
    out += k;
    put32(static_cast<int32_t>(v.size()));
    out += v;
  }
  return out;
}

Result<KeyValueMetadata> DecodeMetadata(const char* p) {
  KeyValueMetadata kv;
  if (p == nullptr) return kv;
  auto get32 = [&]() {
    int32_t v;
    std::memcpy(&v, p, 4);
    p += 4;
    return v;
  };
  int32_t n = get32();
  if (n < 0 || n > 1'000'000) return Status::InvalidData("C data: bad metadata count");
  for (int32_t i = 0; i < n; ++i) {
    int32_t kl = get32();
    if (kl < 0) return Status::InvalidData("C data: bad metadata key length");
    std::string k(p, static_cast<size_t>(kl));
    p += kl;
    int32_t vl = get32();
    if (vl < 0) return Status::InvalidData("C data: bad metadata value length");
    std::string v(p, static_cast<size_t>(vl));
    p += vl;
    kv.emplace_back(std::move(k), std::move(v));
  }
  return kv;
}

std::string FormatOf(const DataType& t) {
  switch (t.id) {
    case TypeId::kInt8: return "c";
    case TypeId::kInt16: return "s";
    case TypeId::kInt32: return "i";
    case TypeId::kInt64: return "l";
    case TypeId::kUInt8: return "C";
    case TypeId::kUInt16: return "S";
    case TypeId::kUInt32: return "I";
    case TypeId::kUInt64: return "L";
    case TypeId::kFloat32: return "f";
    case TypeId::kFloat64: return "g";
    case TypeId::kDecimal: return "d:" + std::to_string(t.precision) + "," + std::to_string(t.scale);
    case TypeId::kBool: return "b";
    case TypeId::kString: case TypeId::kJson: return "u";
    case TypeId::kBinary: return "z";
    case TypeId::kDate: return "tdD";
    case TypeId::kTime: return "ttu";
    case TypeId::kTimestamp: return "tsu:" + (t.with_zone ? t.timezone : std::string());
    case TypeId::kUuid: return "w:16";
  }
  return "n";
}

KeyValueMetadata FieldMetadata(const Field& f) {
  KeyValueMetadata kv;
  if (f.type.id == TypeId::kUuid) {
    kv.emplace_back("ARROW:extension:name", "arrow.uuid");
    kv.emplace_back("ARROW:extension:metadata", "");
  } else if (f.type.id == TypeId::kJson) {
    kv.emplace_back("ARROW:extension:name", "arrow.json");
    kv.emplace_back("ARROW:extension:metadata", "");
  }
  if (f.primary_key) kv.emplace_back("sluice:primary_key", "true");
  if (!f.source_type.empty()) kv.emplace_back("sluice:source_type", f.source_type);
  return kv;
}

// ---- export -----------------------------------------------------------------

struct SchemaPrivate {
  std::string format, name, metadata;
  std::vector<ArrowSchema> child_structs;
  std::vector<ArrowSchema*> child_ptrs;
};

void ReleaseSchema(ArrowSchema* s) {
  if (s == nullptr || s->release == nullptr) return;
  auto* priv = static_cast<SchemaPrivate*>(s->private_data);
  for (auto& c : priv->child_structs) {
    if (c.release) c.release(&c);
  }
  delete priv;
  s->release = nullptr;
}

void FillSchema(ArrowSchema* out, std::string format, std::string name, std::string metadata,
                int64_t flags) {
  auto* priv = new SchemaPrivate{std::move(format), std::move(name), std::move(metadata), {}, {}};
  out->format = priv->format.c_str();
  out->name = priv->name.c_str();
  out->metadata = priv->metadata.empty() ? nullptr : priv->metadata.data();
  out->flags = flags;
  out->n_children = 0;
  out->children = nullptr;
  out->dictionary = nullptr;
  out->release = &ReleaseSchema;
  out->private_data = priv;
}

struct ArrayPrivate {
  std::vector<std::shared_ptr<Buffer>> keep;  // buffers kept alive for the consumer
  std::vector<const void*> buffers;
  std::vector<ArrowArray> child_structs;
  std::vector<ArrowArray*> child_ptrs;
};

void ReleaseArray(ArrowArray* a) {
  if (a == nullptr || a->release == nullptr) return;
  auto* priv = static_cast<ArrayPrivate*>(a->private_data);
  for (auto& c : priv->child_structs) {
    if (c.release) c.release(&c);
  }
  delete priv;
  a->release = nullptr;
}

void ExportColumn(const Column& c, ArrowArray* out) {
  auto* priv = new ArrayPrivate;
  priv->keep = {c.validity, c.values, c.data};
  priv->buffers.push_back(c.null_count > 0 && c.validity ? c.validity->data() : nullptr);
  priv->buffers.push_back(c.values ? c.values->data() : nullptr);
  if (IsVarWidth(c.type.id)) priv->buffers.push_back(c.data ? c.data->data() : nullptr);
  out->length = c.length;
  out->null_count = c.null_count;
  out->offset = 0;
  out->n_buffers = static_cast<int64_t>(priv->buffers.size());
  out->n_children = 0;
  out->buffers = priv->buffers.data();
  out->children = nullptr;
  out->dictionary = nullptr;
  out->release = &ReleaseArray;
  out->private_data = priv;
}

// ---- import -----------------------------------------------------------------

Result<DataType> TypeFromFormat(std::string_view f, const KeyValueMetadata& md) {
  std::string ext;
  for (const auto& [k, v] : md) {
    if (k == "ARROW:extension:name") ext = v;
  }
  if (f == "c") return DataType::Int8();
  if (f == "s") return DataType::Int16();
  if (f == "i") return DataType::Int32();
  if (f == "l") return DataType::Int64();
  if (f == "C") return DataType::UInt8();
  if (f == "S") return DataType::UInt16();
  if (f == "I") return DataType::UInt32();
  if (f == "L") return DataType::UInt64();
  if (f == "f") return DataType::Float32();
  if (f == "g") return DataType::Float64();
  if (f == "b") return DataType::Bool();
  if (f == "u") return ext == "arrow.json" ? DataType::Json() : DataType::String();
  if (f == "z") return DataType::Binary();
  if (f == "tdD") return DataType::Date();
  if (f == "ttu") return DataType::Time();
  if (f == "w:16" && ext == "arrow.uuid") return DataType::Uuid();
  if (f.starts_with("tsu:")) {
    auto tz = f.substr(4);
    return tz.empty() ? DataType::Timestamp() : DataType::TimestampTz(std::string(tz));
  }
  if (f.starts_with("d:")) {
    auto r = ParseDataType("decimal(" + std::string(f.substr(2)) + ")");
    if (r.ok()) return r;
  }
  return Status::Unsupported("C data: Arrow format '" + std::string(f) +
                             "' has no sluice type (convert it first, e.g. to utf8 or int64)");
}

struct ImportedArray {
  ArrowArray array{};
  ~ImportedArray() {
    if (array.release) array.release(&array);
  }
};

}  // namespace

Status ExportSchema(const Schema& schema, ArrowSchema* out) {
  FillSchema(out, "+s", "", EncodeMetadata(schema.metadata()), 0);
  auto* priv = static_cast<SchemaPrivate*>(out->private_data);
  priv->child_structs.resize(static_cast<size_t>(schema.num_fields()));
  for (int i = 0; i < schema.num_fields(); ++i) {
    const Field& f = schema.field(i);
    FillSchema(&priv->child_structs[static_cast<size_t>(i)], FormatOf(f.type), f.name,
               EncodeMetadata(FieldMetadata(f)), f.nullable ? ARROW_FLAG_NULLABLE : 0);
  }
  for (auto& c : priv->child_structs) priv->child_ptrs.push_back(&c);
  out->n_children = schema.num_fields();
  out->children = priv->child_ptrs.data();
  return Status::OK();
}

Status ExportRecordBatch(const RecordBatch& batch, ArrowArray* out_array, ArrowSchema* out_schema) {
  SLUICE_RETURN_NOT_OK(batch.Validate());
  SLUICE_RETURN_NOT_OK(ExportSchema(*batch.schema(), out_schema));
  auto* priv = new ArrayPrivate;
  priv->buffers.push_back(nullptr);  // struct validity: none
  priv->child_structs.resize(static_cast<size_t>(batch.num_columns()));
  for (int i = 0; i < batch.num_columns(); ++i) {
    ExportColumn(batch.column(i), &priv->child_structs[static_cast<size_t>(i)]);
  }
  for (auto& c : priv->child_structs) priv->child_ptrs.push_back(&c);
  out_array->length = batch.num_rows();
  out_array->null_count = 0;
  out_array->offset = 0;
  out_array->n_buffers = 1;
  out_array->n_children = batch.num_columns();
  out_array->buffers = priv->buffers.data();
  out_array->children = priv->child_ptrs.data();
  out_array->dictionary = nullptr;
  out_array->release = &ReleaseArray;
  out_array->private_data = priv;
  return Status::OK();
}

Result<Schema> ImportSchema(const ArrowSchema* s) {
  if (s == nullptr || s->release == nullptr) return Status::InvalidArgument("C data: released schema");
  if (std::string_view(s->format) != "+s") {
    return Status::Unsupported("C data: top-level schema must be a struct (+s), got '" +
                               std::string(s->format) + "'");
  }
  std::vector<Field> fields;
  for (int64_t i = 0; i < s->n_children; ++i) {
    const ArrowSchema* c = s->children[i];
    SLUICE_ASSIGN_OR_RETURN(KeyValueMetadata md, DecodeMetadata(c->metadata));
    Field f;
    f.name = c->name ? c->name : "";
    auto t = TypeFromFormat(c->format, md);
    if (!t.ok()) return t.status().WithContext("column '" + f.name + "'");
    f.type = *t;
    f.nullable = (c->flags & ARROW_FLAG_NULLABLE) != 0;
    for (const auto& [k, v] : md) {
      if (k == "sluice:primary_key") f.primary_key = v == "true";
      if (k == "sluice:source_type") f.source_type = v;
    }
    fields.push_back(std::move(f));
  }
  SLUICE_ASSIGN_OR_RETURN(KeyValueMetadata md, DecodeMetadata(s->metadata));
  Schema schema(std::move(fields), std::move(md));
  SLUICE_RETURN_NOT_OK(schema.Validate());
  return schema;
}

Result<RecordBatch> ImportRecordBatch(ArrowArray* array, ArrowSchema* schema) {
  // Take ownership first so every error path releases both structs.
  auto owner = std::make_shared<ImportedArray>();
  owner->array = *array;
  array->release = nullptr;
  struct SchemaGuard {
    ArrowSchema s;
    ~SchemaGuard() {
      if (s.release) s.release(&s);
    }
  } schema_guard{*schema};
  schema->release = nullptr;

  SLUICE_ASSIGN_OR_RETURN(Schema imported, ImportSchema(&schema_guard.s));
  auto sch = std::make_shared<const Schema>(std::move(imported));
  const ArrowArray& a = owner->array;
  if (a.n_children != sch->num_fields()) {
    return Status::InvalidData("C data: array has " + std::to_string(a.n_children) +
                               " children, schema has " + std::to_string(sch->num_fields()));
  }
  if (a.offset != 0 || a.null_count > 0) {
    return Status::Unsupported("C data: top-level struct with offset or nulls");
  }
  std::vector<Column> cols;
  for (int i = 0; i < sch->num_fields(); ++i) {
    const ArrowArray* c = a.children[i];
    const DataType& type = sch->field(i).type;
    auto ctx = "C data: column '" + sch->field(i).name + "'";
    int64_t want_buffers = IsVarWidth(type.id) ? 3 : 2;
    if (c->n_buffers != want_buffers) {
      return Status::InvalidData(ctx + ": expected " + std::to_string(want_buffers) + " buffers");
    }
    if (c->length != a.length) return Status::InvalidData(ctx + ": length mismatch");
    Column col;
    col.type = type;
    col.length = c->length;
    int64_t n = c->length + c->offset;
    auto wrap = [&](int k, int64_t size) -> std::shared_ptr<Buffer> {
      if (c->buffers[k] == nullptr) return nullptr;
      return Buffer::Wrap(static_cast<const uint8_t*>(c->buffers[k]), size, owner);
    };
    std::shared_ptr<Buffer> validity = wrap(0, bit::BytesFor(n));
    std::shared_ptr<Buffer> values, data;
    if (type.id == TypeId::kBool) {
      values = wrap(1, bit::BytesFor(n));
    } else if (IsVarWidth(type.id)) {
      values = wrap(1, (n + 1) * 4);
      if (values) {
        int32_t end = values->as<int32_t>()[n];
        data = c->buffers[2] ? wrap(2, end) : Buffer::Allocate(0);
      }
    } else {
      values = wrap(1, n * FixedWidth(type.id));
    }
    if (!values) {
      if (c->length != 0) return Status::InvalidData(ctx + ": missing values buffer");
      values = Buffer::Allocate(IsVarWidth(type.id) ? 4 : 0);
      if (IsVarWidth(type.id)) data = Buffer::Allocate(0);
    }
    col.validity = validity;
    col.values = values;
    col.data = data;
    col.null_count = validity ? c->length - bit::CountSet(validity->data(), n) : 0;
    if (c->offset != 0) {
      // Rebase to offset 0 by copying the rows (counting nulls from the window only).
      Column full = col;
      full.length = n;
      full.null_count = validity ? n - bit::CountSet(validity->data(), n) : 0;
      ColumnBuilder b(type);
      b.Reserve(c->length);
      for (int64_t r = c->offset; r < n; ++r) b.AppendFrom(full, r);
      col = b.Finish();
    }
    if (col.null_count == 0) col.validity = nullptr;
    SLUICE_RETURN_NOT_OK_CTX(col.Validate(), ctx);
    cols.push_back(std::move(col));
  }
  RecordBatch batch(sch, a.length, std::move(cols));
  SLUICE_RETURN_NOT_OK(batch.Validate());
  return batch;
}

}  // namespace sluice
