// A tiny C ABI over the C Data Interface for the pyarrow interop test
// (tests/python/test_c_data_pyarrow.py loads it with ctypes). Not installed.
#include <cstring>
#include <string>

#include "core/c_data.h"
#include "core/testing.h"

namespace {
void SetError(const sluice::Status& st, char* err, int errlen) {
  std::string msg = st.ToString();
  if (errlen > 0) {
    std::strncpy(err, msg.c_str(), static_cast<size_t>(errlen - 1));
    err[errlen - 1] = '\0';
  }
}
}  // namespace

extern "C" {

// Exports testing::AllTypesBatch(rows, seed) into caller-allocated structs.
int sluice_test_export_all_types(int64_t rows, uint64_t seed, ArrowArray* array,
                                 ArrowSchema* schema, char* err, int errlen) {
  auto st = sluice::ExportRecordBatch(sluice::testing::AllTypesBatch(rows, seed), array, schema);
  if (!st.ok()) SetError(st, err, errlen);
  return st.ok() ? 0 : 1;
}

// Imports a batch and checks it equals testing::AllTypesBatch(rows, seed).
// Returns 0 when equal, 1 on import error, 2 when the values differ.
int sluice_test_import_equals_all_types(ArrowArray* array, ArrowSchema* schema, int64_t rows,
                                        uint64_t seed, char* err, int errlen) {
  auto batch = sluice::ImportRecordBatch(array, schema);
  if (!batch.ok()) {
    SetError(batch.status(), err, errlen);
    return 1;
  }
  std::string why;
  if (!batch->Equals(sluice::testing::AllTypesBatch(rows, seed), &why)) {
    SetError(sluice::Status::InvalidData(why), err, errlen);
    return 2;
  }
  return 0;
}

// Imports a batch (taking ownership) and exports it again (zero-copy).
int sluice_test_roundtrip(ArrowArray* in_array, ArrowSchema* in_schema, ArrowArray* out_array,
                          ArrowSchema* out_schema, char* err, int errlen) {
  auto batch = sluice::ImportRecordBatch(in_array, in_schema);
  if (!batch.ok()) {
    SetError(batch.status(), err, errlen);
    return 1;
  }
  auto st = sluice::ExportRecordBatch(*batch, out_array, out_schema);
  if (!st.ok()) SetError(st, err, errlen);
  return st.ok() ? 0 : 1;
}

}  // extern "C"
