// Encoder of PostgreSQL's binary COPY format (the inverse of PgCopyDecoder in
// pg_copy.h): "PGCOPY\n\377\r\n\0" header, per row an int16 field count and
// per field an int32 length (-1 = NULL) followed by the type's binary
// recv() bytes, then an int16 -1 trailer. Used by the sink to feed
// `COPY t (cols) FROM STDIN (FORMAT binary)`.
//
// Each column is encoded as the wire kind of its TARGET column, which may be
// wider than the sluice type (int32 into bigint, float32 into double
// precision, any integer into numeric); PgWireFor() gives the natural kind
// and PgSinkTypeCompatible() says which targets a type may go into.
//
// Thread safety: none; one encoder per writer.
#pragma once

#include <string>
#include <vector>

#include "connectors/postgres/pg_copy.h"
#include "core/batch.h"
#include "core/status.h"

namespace sluice {

// The column type the sink creates for a sluice type ("bigint",
// "numeric(38,9)", "jsonb") and its wire kind. `jsonb`: json columns as jsonb
// (true) or json.
std::string PgSqlTypeFor(const DataType& type, bool jsonb = true);
PgWire PgWireFor(const DataType& type, bool jsonb = true);

// What an existing target column is, as read from the catalog.
struct PgTargetType {
  std::string typname;  // pg_type.typname: int4, numeric, varchar, ...
  int precision = -1;   // numeric(p,s); -1 = unconstrained numeric
  int scale = 0;
};

// The wire kind to encode `type` as for a target column of `target`, or an
// error saying why the target cannot hold every value of `type` (narrower
// integer, numeric with fewer integer or fractional digits, other kind).
Result<PgWire> PgSinkTypeCompatible(const DataType& type, const PgTargetType& target);

class PgCopyEncoder {
 public:
  // One wire kind per batch column, in order.
  explicit PgCopyEncoder(std::vector<PgWire> wires) : wires_(std::move(wires)) {}

  static void AppendHeader(std::string* out);
  static void AppendTrailer(std::string* out);
  // Appends every row of `batch` (whose columns must match the wires in
  // number; types as checked by PgSinkTypeCompatible). Errors: timestamps
  // outside what PostgreSQL can represent after the epoch shift, name the
  // row and column.
  Status AppendBatch(const RecordBatch& batch, std::string* out) const;

 private:
  std::vector<PgWire> wires_;
};

}  // namespace sluice
