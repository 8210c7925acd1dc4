// RowsDigest: a content digest of rows that depends on the values only, not
// on how they are cut into batches or laid out in memory (see part.h and
// docs/FORMAT.md, "Checksums and keys").
//
// Each column is hashed on its own, across all batches, as the byte stream
//   V ‖ L ‖ Z ‖ uint64 |V| ‖ uint64 null count
// (V: values, NULL slots as zeros or nothing; L: var-width lengths; Z: row
// indexes of the NULLs), so the bytes hashed for a column never depend on
// where one batch ends and the next begins. Buffers are hashed in bulk where
// the in-memory layout already is the canonical one (fixed-width columns
// without NULLs, var-width data between NULLs); only NULL slots, booleans and
// lengths go through a small scratch block.

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "formats/part/part.h"
#include "formats/part/part_internal.h"

namespace sluice::part {

namespace {

using internal::Xxh3State;

// Rows per scratch block: a multiple of 64 (validity words stay aligned) and
// small enough that the block stays in L1/L2 between filling and hashing.
constexpr int64_t kBlockRows = 4096;

void StoreLe64(uint64_t v, uint8_t* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

[[maybe_unused]] void StoreLe32(uint32_t v, uint8_t* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

void Update(XXH3_state_t* st, const void* p, int64_t n) {
  if (n > 0) XXH3_128bits_update(st, p, static_cast<size_t>(n));
}

void UpdateLe64(XXH3_state_t* st, uint64_t v) {
  uint8_t b[8];
  StoreLe64(v, b);
  XXH3_128bits_update(st, b, 8);
}

void UpdateString(XXH3_state_t* st, std::string_view s) {
  UpdateLe64(st, s.size());
  Update(st, s.data(), static_cast<int64_t>(s.size()));
}

// 64 validity bits starting at bit `i` (a multiple of 64), bit k = row i+k;
// bits at or beyond `end` read as valid (1).
uint64_t ValidityWord(const uint8_t* bits, int64_t i, int64_t end) {
  const int64_t avail = std::min<int64_t>(64, end - i);
  uint64_t w = 0;
  const int64_t bytes = bit::BytesFor(avail);
  std::memcpy(&w, bits + i / 8, static_cast<size_t>(bytes));
  if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
  if (avail < 64) w |= ~uint64_t{0} << avail;
  return w;
}

// Calls fn(row) for every NULL row in [begin, end) in increasing order;
// `begin` is a multiple of 64. Reads only the bytes of bits < end.
template <typename Fn>
void ForEachNull(const uint8_t* validity, int64_t begin, int64_t end, Fn&& fn) {
  for (int64_t i = begin; i < end; i += 64) {
    uint64_t nulls = ~ValidityWord(validity, i, end);
    while (nulls != 0) {
      fn(i + std::countr_zero(nulls));
      nulls &= nulls - 1;
    }
  }
}

// Hashes one column of every batch into `st` (already reset).
class ColumnDigester {
 public:
  ColumnDigester(XXH3_state_t* st, std::vector<uint8_t>* scratch) : st_(st), scratch_(*scratch) {}

  Status Run(const std::vector<RecordBatch>& batches, int c, const DataType& type) {
    const TypeId id = type.id;
    // V: the values.
    for (const RecordBatch& b : batches) {
      const Column& col = b.column(c);
      if (id == TypeId::kBool) {
        Bools(col, b.num_rows());
      } else if (IsVarWidth(id)) {
        SLUICE_RETURN_NOT_OK(VarData(col, b.num_rows()));
      } else {
        Fixed(col, b.num_rows(), FixedWidth(id));
      }
    }
    // L: var-width lengths.
    if (IsVarWidth(id)) {
      for (const RecordBatch& b : batches) Lengths(b.column(c), b.num_rows());
    }
    // Z: row indexes of the NULLs, counted from the first row of the first batch.
    int64_t base = 0;
    int64_t nulls = 0;
    for (const RecordBatch& b : batches) {
      nulls += NullRows(b.column(c), b.num_rows(), base);
      base += b.num_rows();
    }
    UpdateLe64(st_, value_bytes_);
    UpdateLe64(st_, static_cast<uint64_t>(nulls));
    return Status::OK();
  }

 private:
  static bool HasNulls(const Column& col) { return col.null_count != 0 && col.validity; }

  uint8_t* Scratch(int64_t bytes) {
    if (static_cast<int64_t>(scratch_.size()) < bytes) scratch_.resize(static_cast<size_t>(bytes));
    return scratch_.data();
  }

  void Hash(const void* p, int64_t n) {
    Update(st_, p, n);
    value_bytes_ += static_cast<uint64_t>(n);
  }

  // Fixed-width values as stored (little-endian), a NULL slot as `width` zero bytes.
  void Fixed(const Column& col, int64_t n, int width) {
    const uint8_t* values = col.values->data();
    if (!HasNulls(col)) {
      Hash(values, n * width);
      return;
    }
    const uint8_t* validity = col.validity->data();
    // Builders write zeros under NULLs: then the buffer already is the
    // canonical form and is hashed in place (one look per NULL to make sure).
    bool zeroed = true;
    ForEachNull(validity, 0, n, [&](int64_t row) {
      const uint8_t* p = values + row * width;
      for (int k = 0; k < width; ++k) zeroed &= p[k] == 0;
    });
    if (zeroed) {
      Hash(values, n * width);
      return;
    }
    uint8_t* block = Scratch(kBlockRows * width);
    for (int64_t s = 0; s < n; s += kBlockRows) {
      const int64_t e = std::min(n, s + kBlockRows);
      std::memcpy(block, values + s * width, static_cast<size_t>((e - s) * width));
      ForEachNull(validity, s, e, [&](int64_t row) {
        std::memset(block + (row - s) * width, 0, static_cast<size_t>(width));
      });
      Hash(block, (e - s) * width);
    }
  }

  // One byte per row: 1 for true, 0 for false and NULL. Eight rows at a
  // time: a bitmap byte (values AND validity) expands through a table.
  void Bools(const Column& col, int64_t n) {
    static const auto kExpand = [] {
      std::array<uint64_t, 256> t{};
      for (int b = 0; b < 256; ++b) {
        uint8_t bytes[8];
        for (int k = 0; k < 8; ++k) bytes[k] = static_cast<uint8_t>((b >> k) & 1);
        std::memcpy(&t[static_cast<size_t>(b)], bytes, 8);
      }
      return t;
    }();
    const uint8_t* values = col.values->data();
    const uint8_t* validity = HasNulls(col) ? col.validity->data() : nullptr;
    uint8_t* block = Scratch(kBlockRows);
    for (int64_t s = 0; s < n; s += kBlockRows) {  // s is a multiple of 8
      const int64_t e = std::min(n, s + kBlockRows);
      const int64_t whole = s + (e - s) / 8 * 8;
      for (int64_t i = s; i < whole; i += 8) {
        uint8_t bits = values[i >> 3];
        if (validity != nullptr) bits &= validity[i >> 3];
        std::memcpy(block + (i - s), &kExpand[bits], 8);
      }
      for (int64_t i = whole; i < e; ++i) {
        uint8_t v = static_cast<uint8_t>((values[i >> 3] >> (i & 7)) & 1);
        if (validity != nullptr) v &= static_cast<uint8_t>((validity[i >> 3] >> (i & 7)) & 1);
        block[i - s] = v;
      }
      Hash(block, e - s);
    }
  }

  // The bytes of the non-NULL values, back to back. Without NULLs they are
  // one contiguous range; with NULLs, the short runs between them are
  // gathered into the scratch block first (one hash call per block instead of
  // one per run), long runs are hashed in place.
  Status VarData(const Column& col, int64_t n) {
    const int32_t* off = col.values->as<int32_t>();
    const uint8_t* data = col.data->data();
    const int64_t size = col.data->size();
    auto bounds = [&](int64_t a, int64_t b, int64_t* lo, int64_t* hi) -> Status {  // rows [a, b)
      *lo = off[a];
      *hi = off[b];
      if (*lo < 0 || *hi < *lo || *hi > size) {
        return Status::InvalidArgument("offsets of rows " + std::to_string(a) + ".." +
                                       std::to_string(b - 1) + " out of bounds");
      }
      return Status::OK();
    };
    int64_t lo = 0, hi = 0;
    if (!HasNulls(col)) {
      if (n == 0) return Status::OK();
      SLUICE_RETURN_NOT_OK(bounds(0, n, &lo, &hi));
      Hash(data + lo, hi - lo);
      return Status::OK();
    }
    // Builders give NULLs zero length: the non-NULL bytes then are one
    // contiguous range (one look per NULL to make sure).
    bool empty_nulls = true;
    ForEachNull(col.validity->data(), 0, n,
                [&](int64_t row) { empty_nulls &= off[row] == off[row + 1]; });
    if (empty_nulls) {
      SLUICE_RETURN_NOT_OK(bounds(0, n, &lo, &hi));
      Hash(data + lo, hi - lo);
      return Status::OK();
    }
    constexpr int64_t kGather = 64 << 10;
    uint8_t* block = Scratch(kGather);
    int64_t fill = 0;
    Status st;
    auto run = [&](int64_t a, int64_t b) {
      if (a >= b || !st.ok()) return;
      st = bounds(a, b, &lo, &hi);
      if (!st.ok()) return;
      const int64_t len = hi - lo;
      if (fill + len > kGather) {
        Hash(block, fill);
        fill = 0;
      }
      if (len > kGather / 4) {
        Hash(data + lo, len);
      } else {
        std::memcpy(block + fill, data + lo, static_cast<size_t>(len));
        fill += len;
      }
    };
    int64_t start = 0;
    ForEachNull(col.validity->data(), 0, n, [&](int64_t row) {
      run(start, row);
      start = row + 1;
    });
    run(start, n);
    Hash(block, fill);
    return st;
  }

  // uint32 LE byte length per row, 0 for NULL (not part of |V|).
  void Lengths(const Column& col, int64_t n) {
    const int32_t* off = col.values->as<int32_t>();
    const uint8_t* validity = HasNulls(col) ? col.validity->data() : nullptr;
    uint32_t lengths[kBlockRows];
    uint8_t* bytes = reinterpret_cast<uint8_t*>(lengths);
    for (int64_t s = 0; s < n; s += kBlockRows) {
      const int64_t e = std::min(n, s + kBlockRows);
      for (int64_t i = s; i < e; ++i) {  // vectorizes
        lengths[i - s] = static_cast<uint32_t>(off[i + 1]) - static_cast<uint32_t>(off[i]);
      }
      if constexpr (std::endian::native == std::endian::big) {
        for (int64_t i = 0; i < e - s; ++i) StoreLe32(lengths[i], bytes + i * 4);
      }
      if (validity != nullptr) {
        ForEachNull(validity, s, e, [&](int64_t row) { lengths[row - s] = 0; });
      }
      Update(st_, bytes, (e - s) * 4);
    }
  }

  int64_t NullRows(const Column& col, int64_t n, int64_t base) {
    if (!HasNulls(col)) return 0;
    constexpr int64_t kPerBlock = 512;
    uint8_t* block = Scratch(kPerBlock * 8);
    int64_t pending = 0, count = 0;
    ForEachNull(col.validity->data(), 0, n, [&](int64_t row) {
      StoreLe64(static_cast<uint64_t>(base + row), block + pending * 8);
      ++count;
      if (++pending == kPerBlock) {
        Update(st_, block, pending * 8);
        pending = 0;
      }
    });
    Update(st_, block, pending * 8);
    return count;
  }

  XXH3_state_t* st_;
  std::vector<uint8_t>& scratch_;
  uint64_t value_bytes_ = 0;
};

std::string Hex128(XXH128_hash_t h) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);  // big-endian: high 64 bits first
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(32);
  for (unsigned char b : c.digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

}  // namespace

Result<std::string> RowsDigest(const Schema& schema, const std::vector<RecordBatch>& batches) {
  int64_t rows = 0;
  for (size_t i = 0; i < batches.size(); ++i) {
    SLUICE_RETURN_NOT_OK_CTX(internal::CheckBatch(schema, batches[i]),
                             "rows digest: batch " + std::to_string(i));
    rows += batches[i].num_rows();
  }
  Xxh3State column_state(XXH3_createState());
  Xxh3State total(XXH3_createState());
  if (!column_state || !total) return Status::Internal("cannot allocate an XXH3 state");
  XXH3_128bits_reset(total.get());
  UpdateLe64(total.get(), static_cast<uint64_t>(rows));
  UpdateLe64(total.get(), static_cast<uint64_t>(schema.num_fields()));
  std::vector<uint8_t> scratch;
  for (int c = 0; c < schema.num_fields(); ++c) {
    const Field& f = schema.field(c);
    XXH3_128bits_reset(column_state.get());
    ColumnDigester digester(column_state.get(), &scratch);
    SLUICE_RETURN_NOT_OK_CTX(digester.Run(batches, c, f.type),
                             "rows digest: column '" + f.name + "'");
    XXH128_canonical_t digest;
    XXH128_canonicalFromHash(&digest, XXH3_128bits_digest(column_state.get()));
    UpdateString(total.get(), f.name);
    UpdateString(total.get(), f.type.ToString());
    XXH3_128bits_update(total.get(), digest.digest, sizeof(digest.digest));
  }
  return Hex128(XXH3_128bits_digest(total.get()));
}

Result<std::string> ContentIdempotencyKey(std::string_view identity, const Schema& schema,
                                          const std::vector<RecordBatch>& batches,
                                          int64_t part_number) {
  SLUICE_ASSIGN_OR_RETURN(std::string digest, RowsDigest(schema, batches));
  std::string input;
  input.reserve(identity.size() + 6 + digest.size());
  input.append(identity).append("#rows=").append(digest);
  return IdempotencyKey(input, part_number);
}

}  // namespace sluice::part
