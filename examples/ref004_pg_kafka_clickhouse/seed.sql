-- The table of reference 004 (PostgreSQL -> Kafka -> ClickHouse), filled with
-- generated logins: NULLs in every nullable column, Cyrillic, CJK and emoji
-- text, login times in whole seconds (UTC).
--
--   psql "postgres://postgres@127.0.0.1:55432/sluice_test" -v schema=public -v rows=100000 -f seed.sql
--
-- The reference's `sent_to_kafka` flag is gone: sluice does not mark rows as
-- sent; a killed or repeated run is made harmless by part ids recorded in the
-- destination (see README.md).
\set ON_ERROR_STOP on
DROP TABLE IF EXISTS :"schema".user_logins;
CREATE TABLE :"schema".user_logins (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL,
    username        text,
    event_type      text NOT NULL,          -- 'login' / 'logout'
    event_time      timestamp,              -- UTC, whole seconds
    country         text,
    ip              text,
    session_seconds integer                 -- the session's length, for the averages
);
INSERT INTO :"schema".user_logins
    (user_id, username, event_type, event_time, country, ip, session_seconds)
SELECT (g * 7919) % 5000 + 1,
       CASE WHEN g % 13 = 0 THEN NULL
            WHEN g % 7 = 0 THEN 'пользователь_' || g % 5000 || ' 🚀'
            ELSE 'user' || (g * 7919) % 5000 END,
       CASE WHEN g % 3 = 0 THEN 'logout' ELSE 'login' END,
       CASE WHEN g % 101 = 0 THEN NULL
            ELSE timestamp '2023-01-01 00:00:00' + (g * 37) * interval '1 second' END,
       (ARRAY['RU', 'DE', 'US', 'BR', 'IN', 'Україна', '日本', NULL])[1 + (g * 5 + g / 7) % 8],
       CASE WHEN g % 19 = 0 THEN NULL
            ELSE '10.' || g % 256 || '.' || g / 256 % 256 || '.' || (g * 7) % 251 END,
       CASE WHEN g % 17 = 0 THEN NULL ELSE (g * 13) % 7200 END
FROM generate_series(1, :rows) AS g;
-- Statistics now rather than by autovacuum later (see README.md: a write anywhere in
-- the cluster between two exports gives the second one new part ids).
ANALYZE :"schema".user_logins;
