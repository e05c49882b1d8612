-- The versions each adapter was switched to, oldest first; the newest entry is the active
-- version. `activate` adds an entry, `rollback` steps back through them (removing the
-- entries it leaves), so that rollbacks go further back in history instead of back and
-- forth between two versions. `adapters.previous_version` is kept equal to the version a
-- rollback would return to.
CREATE TABLE adapter_activations (
    adapter_id TEXT   NOT NULL,
    seq        BIGINT NOT NULL,
    version    TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (adapter_id, seq)
);

-- What was known before: the previous version, then the active one.
INSERT INTO adapter_activations (adapter_id, seq, version, at)
SELECT id, 1, previous_version, updated_at FROM adapters WHERE previous_version IS NOT NULL;
INSERT INTO adapter_activations (adapter_id, seq, version, at)
SELECT id, 2, active_version, updated_at FROM adapters;
