#include "pipeline/incremental.h"

#include <xxhash.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <limits>

#include "core/temporal.h"

namespace sluice::pipeline {

namespace {

constexpr char kDigestMagic[4] = {'S', 'L', 'D', '1'};
constexpr size_t kDigestEntryBytes = 24;  // id hash, key, row hash (little-endian)
constexpr int64_t kMicrosPerDay = 86400LL * 1000000;

bool IsKeyType(TypeId id) {
  switch (id) {
    case TypeId::kInt8: case TypeId::kInt16: case TypeId::kInt32: case TypeId::kInt64:
    case TypeId::kUInt8: case TypeId::kUInt16: case TypeId::kUInt32:
    case TypeId::kDate: case TypeId::kTimestamp:
      return true;
    default:
      return false;
  }
}

int64_t SaturatingSub(int64_t a, int64_t b) {
  if (b > 0 && a < std::numeric_limits<int64_t>::min() + b) return std::numeric_limits<int64_t>::min();
  return a - b;
}

void PutU64(uint64_t v, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Feeds one value of `col` into `buf` in a type-independent, unambiguous way
// (a NULL marker byte, then fixed bytes or a length-prefixed byte string).
void AppendValueBytes(const Column& col, int64_t row, std::string* buf) {
  if (col.IsNull(row)) {
    buf->push_back('\0');
    return;
  }
  buf->push_back('\1');
  if (col.type.id == TypeId::kBool) {
    buf->push_back(col.BoolValue(row) ? '\1' : '\0');
  } else if (IsVarWidth(col.type.id)) {
    std::string_view v = col.StringValue(row);
    uint32_t n = static_cast<uint32_t>(v.size());
    buf->append(reinterpret_cast<const char*>(&n), sizeof n);
    buf->append(v);
  } else {
    int w = FixedWidth(col.type.id);
    buf->append(reinterpret_cast<const char*>(col.FixedBytes(row, w)), static_cast<size_t>(w));
  }
}

}  // namespace

Result<int64_t> ParseDurationMicros(std::string_view text) {
  if (text.empty()) return Status::InvalidArgument("empty duration");
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    int64_t n = 0;
    auto [p, ec] = std::from_chars(text.data() + i, text.data() + text.size(), n);
    if (ec != std::errc() || n < 0) {
      return Status::InvalidArgument("duration '" + std::string(text) +
                                     "': expected a number at offset " + std::to_string(i) +
                                     " (e.g. 90s, 5m, 1h30m, 2d, 250ms)");
    }
    i = static_cast<size_t>(p - text.data());
    size_t u = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(u, i - u);
    int64_t mult = 0;
    if (unit == "us") mult = 1;
    else if (unit == "ms") mult = 1000;
    else if (unit == "s") mult = 1000000;
    else if (unit == "m" || unit == "min") mult = 60LL * 1000000;
    else if (unit == "h") mult = 3600LL * 1000000;
    else if (unit == "d") mult = kMicrosPerDay;
    else if (unit == "w") mult = 7 * kMicrosPerDay;
    else {
      return Status::InvalidArgument("duration '" + std::string(text) + "': unknown unit '" +
                                     std::string(unit) + "' (us, ms, s, m, h, d, w)");
    }
    if (n > (std::numeric_limits<int64_t>::max() - total) / mult) {
      return Status::InvalidArgument("duration '" + std::string(text) + "' is too long");
    }
    total += n * mult;
  }
  return total;
}

Result<std::unique_ptr<IncrementalTracker>> IncrementalTracker::Make(
    std::shared_ptr<const Schema> schema, IncrementalOptions options,
    std::optional<StreamState> previous) {
  auto t = std::unique_ptr<IncrementalTracker>(new IncrementalTracker());
  const std::string where = "incremental stream '" + options.stream + "'";
  auto index = schema->FieldIndex(options.key_column);
  if (!index) {
    std::string names;
    for (const Field& f : schema->fields()) names += (names.empty() ? "" : ", ") + f.name;
    return Status::InvalidArgument(where + ": the incremental key column \"" + options.key_column +
                                   "\" is not among the source's columns (" + names + ")");
  }
  t->key_index_ = *index;
  t->key_type_ = schema->field(*index).type;
  if (!IsKeyType(t->key_type_.id)) {
    return Status::InvalidArgument(where + ": the incremental key column \"" + options.key_column +
                                   "\" is " + t->key_type_.ToString() +
                                   "; it must be an integer, date or timestamp column");
  }
  std::vector<std::string> ids = options.dedup_key;
  if (ids.empty()) {
    for (int i : schema->PrimaryKeyIndices()) t->id_columns_.push_back(i);
  } else {
    for (const std::string& name : ids) {
      auto i = schema->FieldIndex(name);
      if (!i) {
        return Status::InvalidArgument(where + ": key column \"" + name +
                                       "\" is not among the source's columns");
      }
      t->id_columns_.push_back(*i);
    }
  }

  const bool temporal = t->key_type_.id == TypeId::kDate || t->key_type_.id == TypeId::kTimestamp;
  if (!options.lookback.empty()) {
    if (temporal) {
      auto us = ParseDurationMicros(options.lookback);
      if (!us.ok()) return us.status().WithContext(where + ": --lookback");
      t->lookback_ = t->key_type_.id == TypeId::kDate ? (*us + kMicrosPerDay - 1) / kMicrosPerDay : *us;
    } else {
      const std::string& lb = options.lookback;
      auto [p, ec] = std::from_chars(lb.data(), lb.data() + lb.size(), t->lookback_);
      if (ec != std::errc() || p != lb.data() + lb.size() || t->lookback_ < 0) {
        return Status::InvalidArgument(where + ": --lookback '" + lb + "' must be a whole number " +
                                       "for the integer key \"" + options.key_column + "\"");
      }
    }
  }

  if (previous) {
    if (previous->key_column != options.key_column) {
      return Status::InvalidArgument(where + ": its state was written for the key column \"" +
                                     previous->key_column + "\", this run uses \"" +
                                     options.key_column + "\" (use another --stream name)");
    }
    if (previous->key_type != t->key_type_.ToString()) {
      return Status::InvalidArgument(where + ": its state was written when \"" +
                                     options.key_column + "\" was " + previous->key_type +
                                     "; it is now " + t->key_type_.ToString() +
                                     " (use another --stream name)");
    }
    const std::string& w = previous->watermark;
    int64_t v = 0;
    if (t->key_type_.id == TypeId::kDate) {
      auto d = ParseDate(w);
      if (!d.ok()) return d.status().WithContext(where + ": stored watermark");
      v = *d;
    } else if (t->key_type_.id == TypeId::kTimestamp) {
      auto ts = ParseTimestamp(w);
      if (!ts.ok()) return ts.status().WithContext(where + ": stored watermark");
      v = *ts;
    } else {
      auto [p, ec] = std::from_chars(w.data(), w.data() + w.size(), v);
      if (ec != std::errc() || p != w.data() + w.size()) {
        return Status::InvalidData(where + ": stored watermark '" + w + "' is not an integer");
      }
    }
    t->first_run_ = false;
    t->before_ = v;
    t->before_text_ = w;
    t->lower_bound_ = SaturatingSub(v, t->lookback_);
    t->lower_bound_text_ = t->OrdinalText(*t->lower_bound_);

    const std::string& d = previous->digests;
    if (!d.empty()) {
      if (d.size() < 12 || std::memcmp(d.data(), kDigestMagic, 4) != 0) {
        return Status::InvalidData(where + ": the stored digests are not in the SLD1 format");
      }
      uint64_t n = GetU64(d.data() + 4);
      if (n > (d.size() - 12) / kDigestEntryBytes || 12 + n * kDigestEntryBytes != d.size()) {
        return Status::InvalidData(where + ": the stored digests are truncated (" +
                                   std::to_string(d.size()) + " bytes for " + std::to_string(n) +
                                   " entries)");
      }
      t->previous_.reserve(n);
      for (uint64_t i = 0; i < n; ++i) {
        const char* p = d.data() + 12 + i * kDigestEntryBytes;
        Entry e{static_cast<int64_t>(GetU64(p + 8)), GetU64(p + 16)};
        if (e.key >= *t->lower_bound_) t->previous_[GetU64(p)] = e;
      }
    }
  }
  t->schema_ = std::move(schema);
  t->options_ = std::move(options);
  return t;
}

int64_t IncrementalTracker::Ordinal(const Column& col, int64_t row) const {
  switch (col.type.id) {
    case TypeId::kInt8: return col.Value<int8_t>(row);
    case TypeId::kInt16: return col.Value<int16_t>(row);
    case TypeId::kInt32: return col.Value<int32_t>(row);
    case TypeId::kInt64: return col.Value<int64_t>(row);
    case TypeId::kUInt8: return col.Value<uint8_t>(row);
    case TypeId::kUInt16: return col.Value<uint16_t>(row);
    case TypeId::kUInt32: return col.Value<uint32_t>(row);
    case TypeId::kDate: return col.Value<int32_t>(row);
    case TypeId::kTimestamp: return col.Value<int64_t>(row);
    default: return 0;  // excluded by Make
  }
}

std::string IncrementalTracker::OrdinalText(int64_t v) const {
  std::string out;
  if (key_type_.id == TypeId::kDate) {
    AppendDate(static_cast<int32_t>(std::clamp<int64_t>(v, kMinDate, kMaxDate)), &out);
  } else if (key_type_.id == TypeId::kTimestamp) {
    // Clamped to the years 0001..9999 every system can parse.
    const int64_t lo = static_cast<int64_t>(kMinDate) * kMicrosPerDay;
    const int64_t hi = (static_cast<int64_t>(kMaxDate) + 1) * kMicrosPerDay - 1;
    AppendTimestamp(std::clamp(v, lo, hi), key_type_.with_zone, &out);
  } else {
    out = std::to_string(v);
  }
  return out;
}

Result<RecordBatch> IncrementalTracker::Filter(const RecordBatch& batch) {
  const int64_t n = batch.num_rows();
  if (batch.num_columns() != schema_->num_fields()) {
    return Status::Internal("incremental filter: batch has " + std::to_string(batch.num_columns()) +
                            " columns, the schema " + std::to_string(schema_->num_fields()));
  }
  const Column& key = batch.column(key_index_);
  // Per row: 0 = outside the window, 1 = candidate (hashes computed).
  std::vector<uint8_t> candidate(static_cast<size_t>(n), 0);
  std::vector<int64_t> keys(static_cast<size_t>(n), 0);
  std::vector<uint64_t> id_hash(static_cast<size_t>(n), 0), row_hash(static_cast<size_t>(n), 0);
  std::string buf;
  int64_t outside = 0;
  for (int64_t r = 0; r < n; ++r) {
    const size_t i = static_cast<size_t>(r);
    if (key.IsNull(r)) {
      if (!first_run_) {
        ++outside;
        continue;
      }
      candidate[i] = 2;  // kept, but not part of the window (no key)
      continue;
    }
    keys[i] = Ordinal(key, r);
    if (lower_bound_ && keys[i] < *lower_bound_) {
      ++outside;
      continue;
    }
    candidate[i] = 1;
    buf.clear();
    for (int c = 0; c < batch.num_columns(); ++c) AppendValueBytes(batch.column(c), r, &buf);
    row_hash[i] = XXH3_64bits(buf.data(), buf.size());
    if (id_columns_.empty()) {
      id_hash[i] = row_hash[i];
    } else {
      buf.clear();
      for (int c : id_columns_) AppendValueBytes(batch.column(c), r, &buf);
      id_hash[i] = XXH3_64bits_withSeed(buf.data(), buf.size(), 0x5eed);
    }
  }

  int64_t kept = 0, duplicate = 0;
  std::vector<uint8_t> keep(static_cast<size_t>(n), 0);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int64_t r = 0; r < n; ++r) {
      const size_t i = static_cast<size_t>(r);
      if (candidate[i] == 0) continue;
      if (candidate[i] == 2) {
        keep[i] = 1;
        ++kept;
        continue;
      }
      const int64_t k = keys[i];
      bool dup = false;
      if (!first_run_ && k <= before_) {
        auto it = previous_.find(id_hash[i]);
        dup = it != previous_.end() && it->second.row_hash == row_hash[i] && it->second.key == k;
      }
      if (dup) {
        ++duplicate;
      } else {
        keep[i] = 1;
        ++kept;
      }
      if (!max_ || k > *max_) max_ = k;
      if (k >= SaturatingSub(*max_, lookback_)) {
        auto [it, inserted] = window_.try_emplace(id_hash[i], Entry{k, row_hash[i]});
        if (!inserted && it->second.key <= k) it->second = Entry{k, row_hash[i]};
      }
    }
    if (window_.size() > prune_at_) {
      PruneLocked();
      prune_at_ = std::max<size_t>(4096, window_.size() * 2);
    }
    seen_ += n;
    kept_ += kept;
    duplicate_ += duplicate;
    outside_ += outside;
  }
  if (kept == n) return batch;
  BatchBuilder builder(batch.schema() ? batch.schema() : schema_);
  builder.Reserve(kept);
  for (int64_t r = 0; r < n; ++r) {
    if (!keep[static_cast<size_t>(r)]) continue;
    for (int c = 0; c < batch.num_columns(); ++c) builder.column(c).AppendFrom(batch.column(c), r);
  }
  return builder.Finish();
}

void IncrementalTracker::PruneLocked() {
  if (!max_) return;
  const int64_t floor = SaturatingSub(*max_, lookback_);
  for (auto it = window_.begin(); it != window_.end();) {
    if (it->second.key < floor) {
      it = window_.erase(it);
    } else {
      ++it;
    }
  }
}

bool IncrementalTracker::advanced() const {
  std::lock_guard<std::mutex> lock(mu_);
  // A first run that read only NULL keys has no watermark to store.
  return kept_ > 0 && (max_.has_value() || !first_run_);
}

std::string IncrementalTracker::watermark_after() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!max_) return before_text_;
  if (!first_run_ && *max_ <= before_) return before_text_;
  return OrdinalText(*max_);
}

StreamState IncrementalTracker::Final() {
  std::lock_guard<std::mutex> lock(mu_);
  PruneLocked();
  int64_t wm = first_run_ ? max_.value_or(0) : std::max(before_, max_.value_or(before_));
  const int64_t floor = SaturatingSub(wm, lookback_);
  // Entries of the last run not read again (deleted rows, moved keys) stay
  // while they are in the window; this run's entries win.
  std::unordered_map<uint64_t, Entry> merged;
  for (const auto& [id, e] : previous_) {
    if (e.key >= floor) merged[id] = e;
  }
  for (const auto& [id, e] : window_) {
    if (e.key >= floor) merged[id] = e;
  }
  std::vector<std::pair<uint64_t, Entry>> sorted(merged.begin(), merged.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  StreamState s;
  s.stream = options_.stream;
  s.key_column = options_.key_column;
  s.key_type = key_type_.ToString();
  s.watermark = (!max_ && !first_run_) ? before_text_ : OrdinalText(wm);
  if (!max_ && first_run_) s.watermark.clear();
  s.digests.reserve(12 + sorted.size() * kDigestEntryBytes);
  s.digests.append(kDigestMagic, 4);
  PutU64(sorted.size(), &s.digests);
  for (const auto& [id, e] : sorted) {
    PutU64(id, &s.digests);
    PutU64(static_cast<uint64_t>(e.key), &s.digests);
    PutU64(e.row_hash, &s.digests);
  }
  return s;
}

int64_t IncrementalTracker::rows_seen() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_;
}
int64_t IncrementalTracker::rows_kept() const {
  std::lock_guard<std::mutex> lock(mu_);
  return kept_;
}
int64_t IncrementalTracker::rows_duplicate() const {
  std::lock_guard<std::mutex> lock(mu_);
  return duplicate_;
}
int64_t IncrementalTracker::rows_outside() const {
  std::lock_guard<std::mutex> lock(mu_);
  return outside_;
}

}  // namespace sluice::pipeline
