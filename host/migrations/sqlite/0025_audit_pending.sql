-- Evidence committed with the writes it is the evidence of, not chained yet (PostgreSQL
-- only: there the log's writer chains these rows into audit_log under its lock, so that
-- the transactions that file applications need not hold the lock through their commits).
-- The table exists on SQLite too, to keep one schema; the SQLite host chains at once.
CREATE TABLE audit_pending (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       BIGINT NOT NULL,
    kind     TEXT NOT NULL,
    actor    TEXT NOT NULL,
    subject  TEXT NOT NULL,
    data     TEXT NOT NULL
);
