-- Citizens, sign-in, applications and the data-usage log (PostgreSQL).
-- Times are milliseconds since the Unix epoch; secrets (codes, tokens) are stored hashed.

-- One row per citizen; `id` is the random pseudonymous subject, never the national ID.
CREATE TABLE citizens (
    id          TEXT PRIMARY KEY,
    national_id TEXT NOT NULL UNIQUE,
    mobile      TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL
);

-- One-time codes of the built-in identity provider.
CREATE TABLE otp_challenges (
    id              TEXT PRIMARY KEY,
    national_id     TEXT NOT NULL,
    mobile          TEXT NOT NULL,
    code_hash       TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    expires_ms      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL DEFAULT 0,
    consumed_ms     BIGINT
);
CREATE INDEX otp_challenges_national_id ON otp_challenges (national_id, created_ms);
CREATE INDEX otp_challenges_mobile ON otp_challenges (mobile, created_ms);

-- Sessions from any identity source (`otp` or `oidc`); the bearer token is stored as SHA-256.
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    citizen_id  TEXT NOT NULL REFERENCES citizens (id),
    assurance   TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL,
    revoked_ms  BIGINT
);
CREATE INDEX sessions_citizen ON sessions (citizen_id);

-- Applications filed through the window. `status` is `pending` while the adapter's
-- `submit` runs; a pending row reserves the idempotency key.
CREATE TABLE applications (
    id               TEXT PRIMARY KEY,
    tracking_code    TEXT NOT NULL UNIQUE,
    citizen_id       TEXT NOT NULL REFERENCES citizens (id),
    agency           TEXT NOT NULL,
    service          TEXT NOT NULL,
    adapter_id       TEXT NOT NULL,
    adapter_version  TEXT NOT NULL,
    agency_reference TEXT,
    status           TEXT NOT NULL,
    idempotency_key  TEXT,
    request_hash     TEXT NOT NULL,
    created_ms       BIGINT NOT NULL,
    updated_ms       BIGINT NOT NULL,
    UNIQUE (citizen_id, idempotency_key)
);
CREATE INDEX applications_citizen ON applications (citizen_id, created_ms);
CREATE INDEX applications_reference ON applications (agency, agency_reference);

-- Status history of an application: who changed it, when, and what they said.
CREATE TABLE application_events (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id),
    status         TEXT NOT NULL,
    message_fa     TEXT NOT NULL,
    message_en     TEXT NOT NULL,
    actor          TEXT NOT NULL,
    at_ms          BIGINT NOT NULL
);
CREATE INDEX application_events_application ON application_events (application_id, id);

-- Every hand-over of a citizen's identity attribute to an adapter.
CREATE TABLE data_usage (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    citizen_id TEXT NOT NULL REFERENCES citizens (id),
    adapter_id TEXT NOT NULL,
    agency     TEXT NOT NULL,
    service    TEXT NOT NULL,
    attribute  TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    request_id TEXT NOT NULL,
    at_ms      BIGINT NOT NULL
);
CREATE INDEX data_usage_citizen ON data_usage (citizen_id, id);
