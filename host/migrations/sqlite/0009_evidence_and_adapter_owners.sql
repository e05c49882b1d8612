-- Which agency each adapter id belongs to. The first install binds the id; an install of a
-- package of another agency under the same id is refused, so that no agency can take over
-- another's grants, secrets or kv data by naming its adapter id. The binding outlives the
-- adapter's removal (and a purge of its kv data): an id is its agency's for good.
CREATE TABLE adapter_owners (
    adapter_id TEXT PRIMARY KEY,
    agency     TEXT NOT NULL,
    bound_at   BIGINT NOT NULL
);
-- Ids installed before: bound to the agency of their first version.
INSERT INTO adapter_owners (adapter_id, agency, bound_at)
SELECT v.adapter_id, v.agency, v.uploaded_at FROM adapter_versions v
WHERE v.uploaded_at = (SELECT MIN(w.uploaded_at) FROM adapter_versions w WHERE w.adapter_id = v.adapter_id)
ON CONFLICT (adapter_id) DO NOTHING;

-- The host's seal on the last entry of each batch it appends to the audit log:
-- `<key fingerprint>:<base64 Ed25519 signature>` over (seq, hash, at), by the checkpoint key
-- kept outside the database. Entries after the last seal were not written by the host.
ALTER TABLE audit_log ADD COLUMN seal TEXT;

-- Signed checkpoints of the audit log's head, also written as files outside the database:
-- a checkpoint proves the log once reached `seq` with `head_hash`, so deleting entries from
-- its end is found.
CREATE TABLE audit_checkpoints (
    seq       BIGINT PRIMARY KEY,
    head_hash TEXT NOT NULL,
    at        BIGINT NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL
);
