-- Mandates (وکالت): a citizen lets another person act for them until a date. The delegate
-- may not pass it on. A mandate is checked on every request of the delegate's session and
-- ends when it expires or the citizen revokes it.
CREATE TABLE mandates (
    id            TEXT PRIMARY KEY,
    grantor_id    TEXT NOT NULL,
    grantor_nid   TEXT NOT NULL,
    delegate_nid  TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    valid_until_ms BIGINT NOT NULL,
    revoked_ms    BIGINT
);
CREATE INDEX mandates_delegate ON mandates (delegate_nid);
CREATE INDEX mandates_grantor ON mandates (grantor_id);
