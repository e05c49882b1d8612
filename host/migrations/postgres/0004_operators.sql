-- Operators, adapter packages and their lifecycle, and the hash-chained audit log.
CREATE TABLE operators (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'auditor')),
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

-- Components, content-addressed by their SHA-256.
CREATE TABLE components (
    digest      TEXT PRIMARY KEY,
    wasm        BYTEA NOT NULL,
    size        BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Every uploaded version of every adapter.
CREATE TABLE adapter_versions (
    adapter_id  TEXT NOT NULL,
    version     TEXT NOT NULL,
    digest      TEXT NOT NULL REFERENCES components (digest),
    agency      TEXT NOT NULL,
    manifest    TEXT NOT NULL,
    signed_by   TEXT,
    uploaded_by TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    PRIMARY KEY (adapter_id, version)
);

-- The desired state of each adapter, which every replica converges to.
CREATE TABLE adapters (
    id               TEXT PRIMARY KEY,
    agency           TEXT NOT NULL,
    active_version   TEXT NOT NULL,
    previous_version TEXT,
    enabled          BIGINT NOT NULL DEFAULT 1,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    subject    TEXT NOT NULL,
    data       TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
