#include "connectors/postgres/pg_copy_writer.h"

#include <cstring>
#include <limits>

#include "core/int128.h"

namespace sluice {

namespace {

constexpr int64_t kPgEpochDays = 10957;  // 1970-01-01 .. 2000-01-01
constexpr int64_t kPgEpochMicros = kPgEpochDays * 86400LL * 1000000LL;

inline void Put16(std::string* out, uint16_t v) {
  char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(b, 2);
}
inline void Put32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out->append(b, 4);
}
inline void Put64(std::string* out, uint64_t v) {
  Put32(out, static_cast<uint32_t>(v >> 32));
  Put32(out, static_cast<uint32_t>(v));
}

// Binary numeric of sign * magnitude / 10^scale: int16 ndigits, int16 weight,
// uint16 sign, int16 dscale, then base-10000 digits most significant first,
// grouped around the decimal point (digit j has weight 10000^(weight - j)).
void PutNumeric(std::string* out, bool negative, uint128_t mag, int scale) {
  uint16_t groups[16];  // 10^39 < 10000^10: at most 10 integer + 10 fraction groups
  int n = 0;
  const int frac_groups = (scale + 3) / 4;
  const int shift = frac_groups * 4 - scale;  // zeros padding the lowest fraction group
  if (mag != 0 && frac_groups > 0) {
    // The lowest group holds the last (4 - shift) decimals, shifted up.
    static constexpr uint16_t kPow[5] = {1, 10, 100, 1000, 10000};
    groups[n++] = static_cast<uint16_t>(static_cast<unsigned>(mag % kPow[4 - shift]) * kPow[shift]);
    mag /= kPow[4 - shift];
  }
  while (mag != 0) {
    if (mag <= std::numeric_limits<uint64_t>::max()) {
      uint64_t m = static_cast<uint64_t>(mag);
      while (m != 0) {
        groups[n++] = static_cast<uint16_t>(m % 10000);
        m /= 10000;
      }
      break;
    }
    groups[n++] = static_cast<uint16_t>(mag % 10000);
    mag /= 10000;
  }
  // groups[i] has base-10000 exponent i - frac_groups; drop low zero groups.
  int low = 0;
  while (low < n && groups[low] == 0) ++low;
  const int ndigits = n - low;
  const int weight = ndigits == 0 ? 0 : n - 1 - frac_groups;
  Put32(out, static_cast<uint32_t>(8 + 2 * ndigits));
  Put16(out, static_cast<uint16_t>(ndigits));
  Put16(out, static_cast<uint16_t>(static_cast<int16_t>(weight)));
  Put16(out, ndigits != 0 && negative ? 0x4000 : 0x0000);
  Put16(out, static_cast<uint16_t>(scale));
  for (int i = n - 1; i >= low; --i) Put16(out, groups[i]);
}

// Any integer column value as int64 (signed types) or its uint64 bits.
inline int64_t IntValue(const Column& c, int64_t i) {
  switch (c.type.id) {
    case TypeId::kInt8: return c.Value<int8_t>(i);
    case TypeId::kInt16: return c.Value<int16_t>(i);
    case TypeId::kInt32: return c.Value<int32_t>(i);
    case TypeId::kInt64: return c.Value<int64_t>(i);
    case TypeId::kUInt8: return c.Value<uint8_t>(i);
    case TypeId::kUInt16: return c.Value<uint16_t>(i);
    case TypeId::kUInt32: return c.Value<uint32_t>(i);
    case TypeId::kUInt64: return static_cast<int64_t>(c.Value<uint64_t>(i));
    default: return 0;
  }
}

// Largest integer digit count (p - s) a source type needs in numeric.
int IntegerDigits(const DataType& t) {
  switch (t.id) {
    case TypeId::kInt8: case TypeId::kUInt8: return 3;
    case TypeId::kInt16: case TypeId::kUInt16: return 5;
    case TypeId::kInt32: case TypeId::kUInt32: return 10;
    case TypeId::kInt64: return 19;
    case TypeId::kUInt64: return 20;
    case TypeId::kDecimal: return t.precision - t.scale;
    default: return 0;
  }
}

// Bytes of the narrowest PostgreSQL integer that holds every value of `t`.
int IntegerBytes(TypeId t) {
  switch (t) {
    case TypeId::kInt8: case TypeId::kInt16: case TypeId::kUInt8: return 2;
    case TypeId::kInt32: case TypeId::kUInt16: return 4;
    case TypeId::kInt64: case TypeId::kUInt32: return 8;
    default: return 16;  // uint64: no PostgreSQL integer holds it
  }
}

}  // namespace

std::string PgSqlTypeFor(const DataType& type, bool jsonb) {
  switch (type.id) {
    case TypeId::kInt8: case TypeId::kInt16: case TypeId::kUInt8: return "smallint";
    case TypeId::kInt32: case TypeId::kUInt16: return "integer";
    case TypeId::kInt64: case TypeId::kUInt32: return "bigint";
    case TypeId::kUInt64: return "numeric(20,0)";
    case TypeId::kFloat32: return "real";
    case TypeId::kFloat64: return "double precision";
    case TypeId::kDecimal:
      return "numeric(" + std::to_string(type.precision) + "," + std::to_string(type.scale) + ")";
    case TypeId::kBool: return "boolean";
    case TypeId::kString: return "text";
    case TypeId::kBinary: return "bytea";
    case TypeId::kDate: return "date";
    case TypeId::kTime: return "time";
    case TypeId::kTimestamp: return type.with_zone ? "timestamptz" : "timestamp";
    case TypeId::kUuid: return "uuid";
    case TypeId::kJson: return jsonb ? "jsonb" : "json";
  }
  return "text";
}

PgWire PgWireFor(const DataType& type, bool jsonb) {
  switch (type.id) {
    case TypeId::kInt8: case TypeId::kInt16: case TypeId::kUInt8: return PgWire::kInt16;
    case TypeId::kInt32: case TypeId::kUInt16: return PgWire::kInt32;
    case TypeId::kInt64: case TypeId::kUInt32: return PgWire::kInt64;
    case TypeId::kUInt64: case TypeId::kDecimal: return PgWire::kNumeric;
    case TypeId::kFloat32: return PgWire::kFloat32;
    case TypeId::kFloat64: return PgWire::kFloat64;
    case TypeId::kBool: return PgWire::kBool;
    case TypeId::kString: return PgWire::kText;
    case TypeId::kBinary: return PgWire::kBytea;
    case TypeId::kDate: return PgWire::kDate;
    case TypeId::kTime: return PgWire::kTime;
    case TypeId::kTimestamp: return type.with_zone ? PgWire::kTimestampTz : PgWire::kTimestamp;
    case TypeId::kUuid: return PgWire::kUuid;
    case TypeId::kJson: return jsonb ? PgWire::kJsonb : PgWire::kJson;
  }
  return PgWire::kText;
}

Result<PgWire> PgSinkTypeCompatible(const DataType& type, const PgTargetType& target) {
  const std::string& t = target.typname;
  auto no = [&]() -> Status {
    std::string tt = t == "numeric" && target.precision >= 0
                         ? "numeric(" + std::to_string(target.precision) + "," +
                               std::to_string(target.scale) + ")"
                         : t;
    return Status::InvalidArgument("column type " + tt + " cannot hold every " + type.ToString() +
                                   " value (it would need " + PgSqlTypeFor(type) + " or wider)");
  };
  auto numeric_holds = [&](int int_digits, int scale) {
    if (t != "numeric") return false;
    if (target.precision < 0) return true;
    return target.scale >= scale && target.precision - target.scale >= int_digits;
  };
  switch (type.id) {
    case TypeId::kInt8: case TypeId::kInt16: case TypeId::kInt32: case TypeId::kInt64:
    case TypeId::kUInt8: case TypeId::kUInt16: case TypeId::kUInt32: case TypeId::kUInt64: {
      int need = IntegerBytes(type.id);
      if (t == "int2" && need <= 2) return PgWire::kInt16;
      if (t == "int4" && need <= 4) return PgWire::kInt32;
      if (t == "int8" && need <= 8) return PgWire::kInt64;
      if (numeric_holds(IntegerDigits(type), 0)) return PgWire::kNumeric;
      return no();
    }
    case TypeId::kDecimal:
      if (numeric_holds(IntegerDigits(type), type.scale)) return PgWire::kNumeric;
      return no();
    case TypeId::kFloat32:
      if (t == "float4") return PgWire::kFloat32;
      if (t == "float8") return PgWire::kFloat64;
      return no();
    case TypeId::kFloat64:
      if (t == "float8") return PgWire::kFloat64;
      return no();
    case TypeId::kBool:
      if (t == "bool") return PgWire::kBool;
      return no();
    case TypeId::kString:
      // varchar/bpchar share text's binary form; the server enforces lengths.
      if (t == "text" || t == "varchar" || t == "bpchar") return PgWire::kText;
      return no();
    case TypeId::kBinary:
      if (t == "bytea") return PgWire::kBytea;
      return no();
    case TypeId::kDate:
      if (t == "date") return PgWire::kDate;
      return no();
    case TypeId::kTime:
      if (t == "time") return PgWire::kTime;
      return no();
    case TypeId::kTimestamp:
      if (type.with_zone && t == "timestamptz") return PgWire::kTimestampTz;
      if (!type.with_zone && t == "timestamp") return PgWire::kTimestamp;
      return no();
    case TypeId::kUuid:
      if (t == "uuid") return PgWire::kUuid;
      return no();
    case TypeId::kJson:
      if (t == "jsonb") return PgWire::kJsonb;
      if (t == "json") return PgWire::kJson;
      return no();
  }
  return no();
}

void PgCopyEncoder::AppendHeader(std::string* out) {
  out->append("PGCOPY\n\xff\r\n\0", 11);
  Put32(out, 0);  // flags: no OIDs
  Put32(out, 0);  // header extension length
}

void PgCopyEncoder::AppendTrailer(std::string* out) { Put16(out, 0xFFFF); }

Status PgCopyEncoder::AppendBatch(const RecordBatch& batch, std::string* out) const {
  const int ncols = batch.num_columns();
  if (ncols != static_cast<int>(wires_.size())) {
    return Status::Internal("COPY encoder: batch has " + std::to_string(ncols) +
                            " columns, encoder " + std::to_string(wires_.size()));
  }
  const int64_t rows = batch.num_rows();
  for (int64_t r = 0; r < rows; ++r) {
    Put16(out, static_cast<uint16_t>(ncols));
    for (int c = 0; c < ncols; ++c) {
      const Column& col = batch.column(c);
      if (col.IsNull(r)) {
        Put32(out, 0xFFFFFFFFu);
        continue;
      }
      const TypeId id = col.type.id;
      switch (wires_[static_cast<size_t>(c)]) {
        case PgWire::kInt16:
          Put32(out, 2);
          Put16(out, static_cast<uint16_t>(IntValue(col, r)));
          break;
        case PgWire::kInt32:
          Put32(out, 4);
          Put32(out, static_cast<uint32_t>(IntValue(col, r)));
          break;
        case PgWire::kInt64:
          Put32(out, 8);
          Put64(out, static_cast<uint64_t>(IntValue(col, r)));
          break;
        case PgWire::kNumeric:
          if (id == TypeId::kDecimal) {
            int128_t v = col.DecimalValue(r);
            uint128_t mag = v < 0 ? -static_cast<uint128_t>(v)
                                          : static_cast<uint128_t>(v);
            PutNumeric(out, v < 0, mag, col.type.scale);
          } else if (id == TypeId::kUInt64) {
            PutNumeric(out, false, col.Value<uint64_t>(r), 0);
          } else {
            int64_t v = IntValue(col, r);
            uint64_t mag = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
            PutNumeric(out, v < 0, mag, 0);
          }
          break;
        case PgWire::kFloat32: {
          float f = col.Value<float>(r);
          uint32_t bits;
          std::memcpy(&bits, &f, 4);
          Put32(out, 4);
          Put32(out, bits);
          break;
        }
        case PgWire::kFloat64: {
          double d = id == TypeId::kFloat32 ? static_cast<double>(col.Value<float>(r))
                                            : col.Value<double>(r);
          uint64_t bits;
          std::memcpy(&bits, &d, 8);
          Put32(out, 8);
          Put64(out, bits);
          break;
        }
        case PgWire::kBool:
          Put32(out, 1);
          out->push_back(col.BoolValue(r) ? 1 : 0);
          break;
        case PgWire::kJsonb: {
          std::string_view s = col.StringValue(r);
          Put32(out, static_cast<uint32_t>(s.size() + 1));
          out->push_back(1);  // jsonb binary format version
          out->append(s);
          break;
        }
        case PgWire::kText: case PgWire::kJson: case PgWire::kBytea: {
          std::string_view s = col.StringValue(r);
          Put32(out, static_cast<uint32_t>(s.size()));
          out->append(s);
          break;
        }
        case PgWire::kDate: {
          int64_t pg = int64_t{col.Value<int32_t>(r)} - kPgEpochDays;
          if (pg < std::numeric_limits<int32_t>::min()) {
            return Status::InvalidArgument(
                "COPY encoder: row " + std::to_string(r + 1) + ", column \"" +
                batch.schema()->field(c).name + "\": date out of PostgreSQL's range");
          }
          Put32(out, 4);
          Put32(out, static_cast<uint32_t>(static_cast<int32_t>(pg)));
          break;
        }
        case PgWire::kTime:
          Put32(out, 8);
          Put64(out, static_cast<uint64_t>(col.Value<int64_t>(r)));
          break;
        case PgWire::kTimestamp: case PgWire::kTimestampTz: {
          int64_t pg;
          if (__builtin_sub_overflow(col.Value<int64_t>(r), kPgEpochMicros, &pg)) {
            return Status::InvalidArgument(
                "COPY encoder: row " + std::to_string(r + 1) + ", column \"" +
                batch.schema()->field(c).name + "\": timestamp out of PostgreSQL's range");
          }
          Put32(out, 8);
          Put64(out, static_cast<uint64_t>(pg));
          break;
        }
        case PgWire::kUuid:
          Put32(out, 16);
          out->append(reinterpret_cast<const char*>(col.FixedBytes(r, 16)), 16);
          break;
      }
    }
  }
  return Status::OK();
}

}  // namespace sluice
