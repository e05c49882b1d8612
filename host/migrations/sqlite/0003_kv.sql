-- Key-value storage of adapters (the `kv` capability), namespaced by adapter id.
-- `bytes` is the length of key + value, counted against the adapter's quota.
CREATE TABLE kv_entries (
    adapter    TEXT   NOT NULL,
    key        TEXT   NOT NULL,
    value      BLOB   NOT NULL,
    bytes      BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (adapter, key)
);

-- Bytes used per adapter; its row is also the lock that serializes writes to the quota.
CREATE TABLE kv_usage (
    adapter TEXT PRIMARY KEY,
    bytes   BIGINT NOT NULL
);
