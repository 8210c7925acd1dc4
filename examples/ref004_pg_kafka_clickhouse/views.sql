-- Reference 001's aggregate over the reference 004 table: logins and mean
-- session length per country, kept up to date by ClickHouse at every INSERT.
--
-- Given to the sink as `init_sql=<this file>`: it runs these statements at
-- every Open, once the table exists and before the first part is written, so
-- the materialized view sees every row. {db}, {table} and {ledger} stand for
-- the quoted database, table and ledger names. IF NOT EXISTS: a second run
-- changes nothing.
--
-- For dedup=ledger (ClickHouse 18.16 .. 22.1, the default there): the table
-- has the hidden columns _sluice_part / _sluice_attempt. An INSERT attempt
-- that is later voided (its importer was killed, its answer was lost) has
-- reached the view, and ALTER .. DELETE of its rows does not reach a view.
-- So the view keeps one aggregate per country AND insert attempt, and the
-- query below counts only attempts the ledger holds valid (done, not voided):
-- exact after any number of kills. A view grouped by country alone would
-- count a voided attempt's rows too.

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.`user_logins_by_country_mv`
ENGINE = AggregatingMergeTree()
ORDER BY (country, _sluice_part, _sluice_attempt)
AS SELECT
    ifNull(country, '') AS country,           -- a sort key cannot be Nullable on 18.16
    _sluice_part,
    _sluice_attempt,
    countState() AS logins,
    avgState(session_seconds) AS avg_session  -- NULLs are skipped, as in PostgreSQL's avg
FROM {db}.{table}
GROUP BY country, _sluice_part, _sluice_attempt;

-- What to query: SELECT * FROM user_logins_by_country ORDER BY country
CREATE VIEW IF NOT EXISTS {db}.`user_logins_by_country`
AS SELECT
    country,
    countMerge(logins) AS logins,
    avgMerge(avg_session) AS avg_session_seconds
FROM {db}.`user_logins_by_country_mv`
WHERE (_sluice_part, _sluice_attempt) IN (
    SELECT part_id, attempt FROM {db}.{ledger}
    GROUP BY part_id, attempt
    HAVING has(groupArray(event), 2) AND NOT has(groupArray(event), 3))
GROUP BY country;
