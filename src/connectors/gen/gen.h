// gen:///?rows=N&seed=S&schema=mixed|all_types|fixed — a deterministic table
// generator for demos, benchmarks and tests.
//
// Every row is a pure function of (seed, schema, row number): it does not
// depend on batch sizes or on how the table is split, so parallel readers
// (splits are row ranges) and re-runs see exactly the same table.
//
//   mixed      id (int64 key), name, amount decimal(18,2), created_at
//              timestamptz, active, score float64, birthday date, payload
//              binary, city (unicode), qty int32 — NULLs in several columns
//   all_types  one column per sluice type; rows 0..2 hold the extremes
//              (max, min, zero/empty), every 7th later row is NULL except the key
//   fixed      fixed-width columns only (int64, int32, float64, date, timestamp)
//
// Thread safety: see connectors/connector.h (readers are independent).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "connectors/connector.h"

namespace sluice {

void RegisterGen(Registry* registry);

namespace gen {

enum class GenSchema { kMixed, kAllTypes, kFixed };

std::shared_ptr<const Schema> SchemaOf(GenSchema which);
// Rows [first_row, first_row + rows) of the generated table.
RecordBatch GenerateRows(GenSchema which, uint64_t seed, int64_t first_row, int64_t rows);

}  // namespace gen
}  // namespace sluice
