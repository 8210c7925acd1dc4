// Type mapping between SQLite declared column types and sluice types (the
// table is documented in docs/connectors/sqlite.md; keep both in sync).
//
// SQLite is dynamically typed: a declared type only sets the column's
// affinity, and any value can sit in any column. The source therefore maps
// the declared type to a sluice type and converts each value by its actual
// storage class; the sink writes declared types that map back to the same
// sluice type and binds values so that affinity never alters them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/types.h"

namespace sluice::sqlite {

// The sluice type for a declared column type ("BIGINT", "decimal(38, 9)",
// "VARCHAR(20)", "TIMESTAMP WITH TIME ZONE"), or nullopt when the declaration
// says nothing usable (empty, or an unknown name with NUMERIC affinity such
// as "MONEY"): the caller then infers the type from the stored values.
std::optional<DataType> DeclTypeToDataType(std::string_view decl);

// The declared type the sink creates for `type`; DeclTypeToDataType maps it
// back to `type` (timestamptz always to zone "UTC"). `rowid_alias` selects
// "INTEGER" for an int64 single-column primary key so that it becomes the
// table's rowid (fast inserts and lookups, rowid-range splits).
std::string DataTypeToDeclType(const DataType& type, bool rowid_alias = false);

enum class Affinity { kInteger, kText, kBlob, kReal, kNumeric };
// SQLite's affinity rules (https://www.sqlite.org/datatype3.html, 3.1).
Affinity AffinityOf(std::string_view decl);

// OK when incoming values of type `incoming` can be written into an existing
// column declared `decl` and read back as the same values; otherwise an
// InvalidArgument error naming `table`.`column`.
Status CheckCompatible(const DataType& incoming, std::string_view decl, std::string_view table,
                       std::string_view column);

// Infers a type from the storage classes (SQLITE_INTEGER, ...) seen in a
// column without a usable declared type: the widest class wins
// (integer < real < text < blob); no values at all -> string.
class StorageClassTally {
 public:
  void Add(int storage_class);
  DataType Result() const;

 private:
  bool integer_ = false, real_ = false, text_ = false, blob_ = false;
};

}  // namespace sluice::sqlite
