-- Evidence committed with the writes it is the evidence of (a filing's), not chained yet:
-- the log's writer chains these rows into audit_log under its advisory lock, so that the
-- transactions that file applications need not hold the lock through their commits.
CREATE TABLE audit_pending (
    id       BIGSERIAL PRIMARY KEY,
    at       BIGINT NOT NULL,
    kind     TEXT NOT NULL,
    actor    TEXT NOT NULL,
    subject  TEXT NOT NULL,
    data     TEXT NOT NULL
);

-- The head of the chain, read after taking the chain's advisory lock: one round trip for
-- the log's writer. (One statement that took the lock and read the head would read it as
-- it was before the lock was granted; each statement of a function sees what was committed
-- before it ran.)
CREATE FUNCTION audit_chain_head(lock_key BIGINT, OUT seq BIGINT, OUT hash TEXT) AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    SELECT l.seq, l.hash INTO seq, hash FROM audit_log l ORDER BY l.seq DESC LIMIT 1;
END
$$ LANGUAGE plpgsql VOLATILE;
