// Test and benchmark data: deterministic batches covering every type with
// NULLs, unicode (Cyrillic, CJK, emoji), empty strings and extreme values.
// Linked only into tests, fuzz targets and benchmarks (target sluice_testing).
#pragma once

#include <cstdint>
#include <memory>

#include "core/batch.h"

namespace sluice::testing {

// One column per type: i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 dec(38,9) dec(18,2)
// b s bin d t ts tstz uuid js. Column "i64" is the primary key.
std::shared_ptr<const Schema> AllTypesSchema();

// Rows 0..k hold the extremes (int64 min/max, decimal(38) max/min, dates
// 0001-01-01 / 9999-12-31, NaN/±Inf, "" vs NULL, unicode); later rows are
// pseudo-random from `seed`. Every nullable column has NULLs when rows >= 8.
RecordBatch AllTypesBatch(int64_t rows, uint64_t seed = 42);

// A mixed-type batch resembling a real table (id, name, amount decimal,
// ts with zone, flag, score double, payload blob, ...) for benchmarks.
std::shared_ptr<const Schema> MixedSchema();
RecordBatch MixedBatch(int64_t rows, uint64_t seed = 7, int64_t first_id = 0);

// Fixed-width only (int64, int32, float64, date, timestamp) for physical-limit benches.
std::shared_ptr<const Schema> FixedWidthSchema();
RecordBatch FixedWidthBatch(int64_t rows, uint64_t seed = 3);

// `batch` with every column that has no NULL claiming one (an all-valid
// bitmap, null_count 1): the same values, but code with a fast path for
// NULL-free columns takes its NULL-aware path (the reference to compare the
// fast path with, in tests and benchmarks).
RecordBatch WithPhantomNulls(const RecordBatch& batch);

}  // namespace sluice::testing
