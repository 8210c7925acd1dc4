// The Arrow C Data Interface: two plain C structs, declared here as the
// Arrow specification publishes them (a stable ABI), so that batches can be
// handed to pyarrow, DuckDB, polars, ... without copying and back.
#pragma once

#include <cstdint>

#include "core/batch.h"

extern "C" {

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  const char* format;
  const char* name;
  const char* metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema** children;
  struct ArrowSchema* dictionary;
  void (*release)(struct ArrowSchema*);
  void* private_data;
};

struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void** buffers;
  struct ArrowArray** children;
  struct ArrowArray* dictionary;
  void (*release)(struct ArrowArray*);
  void* private_data;
};

#endif  // ARROW_C_DATA_INTERFACE
}

namespace sluice {

// Exports `batch` as a struct array + struct schema. Zero-copy: the exported
// array keeps the batch's buffers alive until the consumer calls release.
Status ExportRecordBatch(const RecordBatch& batch, ArrowArray* out_array, ArrowSchema* out_schema);
Status ExportSchema(const Schema& schema, ArrowSchema* out);

// Imports a struct array (e.g. from pyarrow's RecordBatch._export_to_c).
// Takes ownership of both structs (their release callbacks are moved out;
// the caller's structs are marked released). Buffers are used in place
// unless a child has a non-zero offset, in which case it is copied.
Result<RecordBatch> ImportRecordBatch(ArrowArray* array, ArrowSchema* schema);
Result<Schema> ImportSchema(const ArrowSchema* schema);

}  // namespace sluice
