-- Durable background work: status polling, deliveries. A job is claimed with a lease
-- (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer on SQLite), so with N replicas
-- each job runs once at a time; a failed job is tried again with exponential back-off and
-- jitter, and after `max attempts` it is a dead letter (state 'dead') until an operator
-- retries it. A job survives kill -9: only its lease is lost, and it runs out.
CREATE TABLE jobs (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    payload        TEXT NOT NULL,
    -- 'queued', 'done' or 'dead'.
    state          TEXT NOT NULL,
    due_ms         BIGINT NOT NULL,
    attempts       BIGINT NOT NULL DEFAULT 0,
    last_error     TEXT,
    lease_owner    TEXT,
    lease_until_ms BIGINT NOT NULL DEFAULT 0,
    -- One queued job per key (say, one poll per application).
    dedupe_key     TEXT UNIQUE,
    created_ms     BIGINT NOT NULL,
    updated_ms     BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (state, due_ms);

-- The citizen's inbox: what happened to their applications and payments, in both
-- languages, and how its SMS fared.
CREATE TABLE messages (
    id          TEXT PRIMARY KEY,
    citizen_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    title_fa    TEXT NOT NULL,
    title_en    TEXT NOT NULL,
    body_fa     TEXT NOT NULL,
    body_en     TEXT NOT NULL,
    link        TEXT,
    created_ms  BIGINT NOT NULL,
    read_ms     BIGINT,
    -- 'none', 'queued', 'sent', 'delivered', 'failed-temporarily', 'failed-permanently'.
    sms_state   TEXT NOT NULL,
    sms_id      TEXT,
    sms_segments BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX messages_citizen ON messages (citizen_id, created_ms);
