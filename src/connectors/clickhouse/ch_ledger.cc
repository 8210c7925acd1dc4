#include "connectors/clickhouse/ch_ledger.h"

#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <thread>

#include "core/log.h"

namespace sluice {

namespace {

using Clock = std::chrono::steady_clock;

bool ToInt(const std::optional<std::string>& field, int64_t* out) {
  if (!field) return false;
  auto [p, ec] = std::from_chars(field->data(), field->data() + field->size(), *out);
  return ec == std::errc() && p == field->data() + field->size();
}

bool ToUInt(const std::optional<std::string>& field, uint64_t* out) {
  if (!field) return false;
  auto [p, ec] = std::from_chars(field->data(), field->data() + field->size(), *out);
  return ec == std::errc() && p == field->data() + field->size();
}

void Apply(AttemptState* a, int64_t event, int64_t age) {
  switch (event) {
    case static_cast<int>(LedgerEvent::kBegin):
      a->begun = true;
      break;
    case static_cast<int>(LedgerEvent::kDone):
      a->done = true;
      break;
    case static_cast<int>(LedgerEvent::kFence):
      a->fenced = true;
      break;
    case static_cast<int>(LedgerEvent::kPurged):
      a->purged = true;
      break;
    default:
      break;  // a newer sluice's event: ignored
  }
  a->age_seconds = std::max(a->age_seconds, age);
}

// The event columns read back, ages by the server's clock (no skew).
constexpr const char* kEventColumns =
    "attempt, event, toInt64(toUInt32(now())) - toInt64(toUInt32(at))";

}  // namespace

std::string LedgerCreateSql(const std::string& qledger) {
  return "CREATE TABLE IF NOT EXISTS " + qledger +
         " (target String, part_id String, attempt UInt64, event UInt8, rows UInt64, "
         "stream_id String, part_number Int64, at DateTime) "
         "ENGINE = MergeTree ORDER BY (target, part_id)";
}

Result<std::map<std::string, PartLedger>> ChLedger::ReadWhere(const std::string& condition,
                                                              const std::string& what) {
  SLUICE_ASSIGN_OR_RETURN(
      auto rows,
      client_->QueryRows(std::string("SELECT part_id, ") + kEventColumns + " FROM " + t_->qledger +
                             " WHERE target = " + ChQuoteString(t_->target) + condition,
                         4, "reading the ledger" + what));
  std::map<std::string, PartLedger> out;
  for (const TsvRow& r : rows) {
    uint64_t attempt = 0;
    int64_t event = 0, age = 0;
    if (!r[0] || !ToUInt(r[1], &attempt) || !ToInt(r[2], &event) || !ToInt(r[3], &age)) {
      return Status::InvalidData("clickhouse " + client_->endpoint().Address() +
                                 ": unreadable ledger row" + what);
    }
    Apply(&out[*r[0]][attempt], event, age);
  }
  return out;
}

Result<PartLedger> ChLedger::Read(const std::string& part_id) {
  SLUICE_ASSIGN_OR_RETURN(
      auto parts, ReadWhere(" AND part_id = " + ChQuoteString(part_id), " of part " + part_id));
  auto it = parts.find(part_id);
  return it == parts.end() ? PartLedger{} : std::move(it->second);
}

Result<std::map<std::string, PartLedger>> ChLedger::ReadParts(
    const std::vector<std::string>& part_ids) {
  if (part_ids.empty()) return std::map<std::string, PartLedger>{};
  std::string list;
  for (const std::string& id : part_ids) list += (list.empty() ? "" : ", ") + ChQuoteString(id);
  return ReadWhere(" AND part_id IN (" + list + ")",
                   " of " + std::to_string(part_ids.size()) + " parts (" + part_ids.front() +
                       (part_ids.size() > 1 ? ", ..." : "") + ")");
}

Result<std::map<std::string, PartLedger>> ChLedger::ReadAll() { return ReadWhere("", ""); }

Result<std::optional<std::set<std::string>>> ChLedger::ReadIds(int64_t limit) {
  SLUICE_ASSIGN_OR_RETURN(
      auto rows, client_->QueryRows("SELECT DISTINCT part_id FROM " + t_->qledger +
                                        " WHERE target = " + ChQuoteString(t_->target) + " LIMIT " +
                                        std::to_string(limit + 1),
                                    1, "reading the ledger's part ids"));
  if (static_cast<int64_t>(rows.size()) > limit) return std::optional<std::set<std::string>>();
  std::set<std::string> ids;
  for (const TsvRow& r : rows) {
    if (!r[0]) {
      return Status::InvalidData("clickhouse " + client_->endpoint().Address() +
                                 ": unreadable ledger part id");
    }
    ids.insert(*r[0]);
  }
  return std::optional<std::set<std::string>>(std::move(ids));
}

namespace {

const char* EventName(LedgerEvent event) {
  static const char* kNames[] = {"", "begin", "done", "fence", "purged"};
  return kNames[static_cast<int>(event)];
}

}  // namespace

Status ChLedger::Record(const PartInfo& part, uint64_t attempt, LedgerEvent event, int64_t rows) {
  PartInfo p = part;
  p.rows = rows;
  return RecordParts({p}, attempt, event, true);
}

Status ChLedger::RecordParts(const std::vector<PartInfo>& parts, uint64_t attempt,
                             LedgerEvent event, bool with_rows) {
  if (parts.empty()) return Status::OK();
  // INSERT ... SELECT of literal rows, stamped with the server's clock: one
  // SELECT, one row per element of literal arrays (one per column). Not a
  // UNION ALL of SELECTs with now() (18.16 fails when they straddle a
  // second: "values of constants are different in source and result"), nor
  // an array of tuples (18.16 analyses it in quadratic time: 2000 parts took
  // a minute; these arrays take 5 ms for 1000).
  std::string ids, rows, streams, numbers;
  for (const PartInfo& part : parts) {
    const char* sep = ids.empty() ? "" : ", ";
    ids += sep + ChQuoteString(part.part_id);
    rows += sep + std::to_string(with_rows ? std::max<int64_t>(part.rows, 0) : 0);
    streams += sep + ChQuoteString(part.stream_id);
    numbers += sep + std::to_string(part.part_number);
  }
  const std::string sql =
      "INSERT INTO " + t_->qledger +
      " (target, part_id, attempt, event, rows, stream_id, part_number, at) SELECT " +
      ChQuoteString(t_->target) + ", [" + ids + "][i + 1], toUInt64(" + std::to_string(attempt) +
      "), toUInt8(" + std::to_string(static_cast<int>(event)) + "), [" + rows + "][i + 1], [" +
      streams + "][i + 1], [" + numbers + "][i + 1], now() FROM (SELECT arrayJoin(range(" +
      std::to_string(parts.size()) + ")) AS i)";
  return client_->Exec(sql, std::string("recording ") + EventName(event) + " of " +
                                (parts.size() == 1 ? "part " + parts[0].part_id
                                                   : std::to_string(parts.size()) + " parts") +
                                " attempt " + std::to_string(attempt));
}

namespace {

// "sluice-insert-" and a hash of the target and `what`: short and printable.
std::string HashedQueryId(const std::string& target, const std::string& what) {
  std::string key = target;
  key.push_back('\0');
  key += what;
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return std::string("sluice-insert-") + buf;
}

}  // namespace

std::string ChLedger::QueryId(uint64_t attempt) const {
  return HashedQueryId(t_->target, "attempt:" + std::to_string(attempt));
}

std::string ChLedger::PartQueryId(const std::string& part_id) const {
  return HashedQueryId(t_->target, part_id);
}

Result<bool> ChLedger::InsertRunning(const std::string& part_id,
                                     const std::vector<uint64_t>& attempts) {
  // Also the part's own id (an older sluice's INSERT may still run).
  std::string ids = ChQuoteString(PartQueryId(part_id));
  for (uint64_t a : attempts) ids += ", " + ChQuoteString(QueryId(a));
  SLUICE_ASSIGN_OR_RETURN(
      auto rows,
      client_->QueryRows("SELECT count() FROM system.processes WHERE query_id IN (" + ids + ")", 1,
                         "looking for a running insert of part " + part_id));
  return !rows.empty() && rows[0][0] && *rows[0][0] != "0";
}

Status ChLedger::WaitInsertGone(const std::string& part_id, const std::vector<uint64_t>& attempts) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(t_->insert_wait_ms);
  int64_t sleep_ms = 20;
  while (true) {
    SLUICE_ASSIGN_OR_RETURN(bool running, InsertRunning(part_id, attempts));
    if (!running) return Status::OK();
    if (Clock::now() >= deadline) {
      return Status::Retryable("clickhouse " + client_->endpoint().Address() +
                               ": an INSERT of part " + part_id + " is still running after " +
                               std::to_string(t_->insert_wait_ms / 1000) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    sleep_ms = std::min<int64_t>(sleep_ms * 2, 500);
  }
}

Status ChLedger::WaitMutations() {
  const auto deadline = Clock::now() + std::chrono::milliseconds(t_->mutation_timeout_ms);
  const std::string sql = "SELECT count(), any(command) FROM system.mutations WHERE database = " +
                          ChQuoteString(t_->database) + " AND table = " + ChQuoteString(t_->table) +
                          " AND is_done = 0";
  int64_t sleep_ms = 10;
  while (true) {
    SLUICE_ASSIGN_OR_RETURN(auto rows,
                            client_->QueryRows(sql, 2, "waiting for mutations of " + t_->qtable));
    if (rows.empty() || !rows[0][0] || *rows[0][0] == "0") return Status::OK();
    if (Clock::now() >= deadline) {
      return Status::Retryable("clickhouse " + client_->endpoint().Address() + ": " + *rows[0][0] +
                               " mutation(s) of " + t_->qtable + " unfinished after " +
                               std::to_string(t_->mutation_timeout_ms / 1000) + " s (e.g. " +
                               rows[0][1].value_or("?") + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    sleep_ms = std::min<int64_t>(sleep_ms * 2, 500);
  }
}

Status ChLedger::CleanInvalid(const PartInfo& part, const PartLedger& ledger,
                              const std::set<uint64_t>& finished) {
  std::vector<uint64_t> invalid;
  for (const auto& [attempt, st] : ledger) {
    if (st.invalid()) invalid.push_back(attempt);
  }
  if (invalid.empty()) return Status::OK();
  // Rows of an attempt can only arrive through its own INSERT.
  SLUICE_RETURN_NOT_OK(WaitInsertGone(part.part_id, invalid));
  SLUICE_ASSIGN_OR_RETURN(
      auto counts,
      client_->QueryRows("SELECT " + std::string(kAttemptColumn) + ", count() FROM " + t_->qtable +
                             " WHERE " + kPartColumn + " = " + ChQuoteString(part.part_id) +
                             " GROUP BY " + kAttemptColumn,
                         2, "counting the rows of part " + part.part_id));
  std::string with_rows;
  for (const TsvRow& r : counts) {
    uint64_t attempt = 0;
    if (!ToUInt(r[0], &attempt)) continue;
    if (std::find(invalid.begin(), invalid.end(), attempt) != invalid.end()) {
      with_rows += (with_rows.empty() ? "" : ", ") + std::to_string(attempt);
    }
  }
  if (!with_rows.empty()) {
    SLUICE_LOG(kInfo) << "clickhouse " << client_->endpoint().Address() << ": " << t_->qtable
                      << " part " << part.part_id << ": deleting the rows of void attempt(s) "
                      << with_rows;
    SLUICE_RETURN_NOT_OK(client_->Exec(
        "ALTER TABLE " + t_->qtable + " DELETE WHERE " + kPartColumn + " = " +
            ChQuoteString(part.part_id) + " AND " + kAttemptColumn + " IN (" + with_rows + ")",
        "deleting the rows of void attempts of part " + part.part_id));
    SLUICE_RETURN_NOT_OK(WaitMutations());
  }
  for (uint64_t attempt : invalid) {
    const AttemptState& st = ledger.at(attempt);
    if (st.done || st.age_seconds > kAttemptMaxAgeSeconds || finished.count(attempt)) {
      SLUICE_RETURN_NOT_OK(Record(part, attempt, LedgerEvent::kPurged, 0));
    }
  }
  return Status::OK();
}

}  // namespace sluice
