// The part ledger of the ClickHouse sink on servers without
// insert_deduplication_token (18.16 .. 22.1, or dedup=ledger anywhere).
//
// ClickHouse has no transactions, no locks and (without replication) no
// insert deduplication, so a part cannot be written "together with" a ledger
// row. Instead every attempt to apply a part is named, and the data says
// which attempt each row belongs to:
//
//   * the target table has two hidden columns, `_sluice_part` (the part's
//     idempotency key) and `_sluice_attempt` (a random 64-bit id per try);
//   * the ledger table `_sluice_ledger` (MergeTree, ORDER BY (target,
//     part_id)) records events per attempt: begin (before its INSERT), done
//     (after the INSERT succeeded), fence (the attempt is void: its rows must
//     go), purged (its rows are gone for good).
//
// A part is applied iff some attempt is done and not fenced ("valid").
// Rows of fenced attempts are deleted with `ALTER TABLE .. DELETE WHERE
// _sluice_part = .. AND _sluice_attempt IN (..)` (a mutation, waited for in
// system.mutations). An attempt that began but never finished (a killed
// writer, a lost HTTP response) is fenced once its INSERT no longer runs
// (every INSERT carries the query_id QueryId(attempt), which the server
// keeps in system.processes while it runs) and it stayed unfinished for
// `settle_ms`. One attempt id may cover several parts: a grouped INSERT
// (ClickhouseSinkWriter::ApplyParts) sends consecutive parts in one body,
// each part's rows with its own `_sluice_part`, and records their begins
// (one multi-row INSERT) before the body's last byte. The protocol itself is in
// ClickhouseSinkWriter::ApplyLedger (clickhouse_sink.cc); docs/connectors/
// clickhouse.md states what it guarantees.
//
// Thread safety: one ChLedger per thread (it uses that thread's client).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "connectors/clickhouse/ch_http.h"
#include "connectors/connector.h"

namespace sluice {

struct ChLedgerTarget {
  std::string database;
  std::string table;    // the physical table the rows go into (a stage for replace)
  std::string qtable;   // `db`.`table`
  std::string qledger;  // `db`.`_sluice_ledger`
  std::string target;   // the ledger's `target` value for these parts (see kLedgerTargetPrefix)
  int64_t settle_ms = 5000;
  int64_t mutation_timeout_ms = 600'000;
  int64_t insert_wait_ms = 600'000;  // how long to wait for a running INSERT of a part
};

enum class LedgerEvent : uint8_t { kBegin = 1, kDone = 2, kFence = 3, kPurged = 4 };

struct AttemptState {
  bool begun = false, done = false, fenced = false, purged = false;
  int64_t age_seconds = 0;  // since the attempt's first event (server clock)
  bool valid() const { return done && !fenced; }
  bool pending() const { return begun && !done && !fenced; }
  bool invalid() const { return fenced && !purged; }
};
using PartLedger = std::map<uint64_t, AttemptState>;

// The hidden columns, their types, and the ledger table.
inline constexpr const char* kPartColumn = "_sluice_part";
inline constexpr const char* kAttemptColumn = "_sluice_attempt";
// The comment of `_sluice_part` is this prefix and the table's ledger target
// (ChLedgerTarget::target), "<db>.<table>#<16 hex digits>".
inline constexpr const char* kLedgerTargetPrefix = "sluice ledger target: ";
std::string LedgerCreateSql(const std::string& qledger);

// An attempt older than this is finished whatever it says (its INSERT cannot
// still be running): its rows, once deleted, stay deleted.
inline constexpr int64_t kAttemptMaxAgeSeconds = 3600;

class ChLedger {
 public:
  ChLedger(ChClient* client, const ChLedgerTarget* t) : client_(client), t_(t) {}

  Result<PartLedger> Read(const std::string& part_id);
  // The attempts of several parts in one query (parts without events are
  // absent from the map).
  Result<std::map<std::string, PartLedger>> ReadParts(const std::vector<std::string>& part_ids);
  // Every part of the target with its attempts (for the sweep at commit).
  Result<std::map<std::string, PartLedger>> ReadAll();
  // The ids of the target's parts that have any event, in one query; none
  // when there are more than `limit` of them.
  Result<std::optional<std::set<std::string>>> ReadIds(int64_t limit);
  // Appends one event. Idempotent: an event recorded twice means the same.
  Status Record(const PartInfo& part, uint64_t attempt, LedgerEvent event, int64_t rows);
  // The same event of one attempt for several parts, in one INSERT (its
  // rows land together or not at all); `with_rows`: each PartInfo::rows,
  // else 0.
  Status RecordParts(const std::vector<PartInfo>& parts, uint64_t attempt, LedgerEvent event,
                     bool with_rows);

  // The query_id the INSERT of `attempt` into the target runs under.
  std::string QueryId(uint64_t attempt) const;
  // The query_id of INSERTs without attempts (dedup=token/none), and of
  // every INSERT of sluice before 2026-11-21: the server refuses to run two
  // INSERTs of the part at once.
  std::string PartQueryId(const std::string& part_id) const;
  // Whether an INSERT of one of `attempts` still runs (also under the
  // part's own query id, which sluice before 2026-11-21 gave every INSERT).
  Result<bool> InsertRunning(const std::string& part_id, const std::vector<uint64_t>& attempts);
  Status WaitInsertGone(const std::string& part_id, const std::vector<uint64_t>& attempts);

  // Deletes the rows of every fenced, unpurged attempt of the part (after
  // waiting for a running INSERT of it) and marks those that can no longer
  // add rows as purged: done ones, old ones and `finished` (attempts whose
  // INSERT the caller knows has ended).
  Status CleanInvalid(const PartInfo& part, const PartLedger& ledger,
                      const std::set<uint64_t>& finished);

  Status WaitMutations();

 private:
  Result<std::map<std::string, PartLedger>> ReadWhere(const std::string& condition,
                                                      const std::string& what);

  ChClient* client_;
  const ChLedgerTarget* t_;
};

}  // namespace sluice
