-- Key-value storage of adapters (the `kv` capability), namespaced by adapter id.
-- `bytes` is the length of key + value, counted against the adapter's quota. Keys use the
-- "C" collation so that they sort in byte order, as on SQLite.
CREATE TABLE kv_entries (
    adapter    TEXT   NOT NULL,
    key        TEXT   COLLATE "C" NOT NULL,
    value      BYTEA  NOT NULL,
    bytes      BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (adapter, key)
);

-- Bytes used per adapter; its row is also the lock that serializes writes to the quota.
CREATE TABLE kv_usage (
    adapter TEXT PRIMARY KEY,
    bytes   BIGINT NOT NULL
);
