-- Order one-time-code challenges by insertion: two started in the same millisecond must
-- still have a clear newest one (the only one that can be answered). SQLite cannot add an
-- autoincrement key to a table, so the table is rebuilt.
CREATE TABLE otp_challenges_ordered (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    national_id     TEXT NOT NULL,
    mobile          TEXT NOT NULL,
    code_hash       TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    expires_ms      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL DEFAULT 0,
    consumed_ms     BIGINT
);
INSERT INTO otp_challenges_ordered
    (id, national_id, mobile, code_hash, created_ms, expires_ms, attempts, next_attempt_ms, consumed_ms)
SELECT id, national_id, mobile, code_hash, created_ms, expires_ms, attempts, next_attempt_ms, consumed_ms
FROM otp_challenges ORDER BY created_ms, id;
DROP TABLE otp_challenges;
ALTER TABLE otp_challenges_ordered RENAME TO otp_challenges;
CREATE INDEX otp_challenges_national_id ON otp_challenges (national_id, seq);
CREATE INDEX otp_challenges_mobile ON otp_challenges (mobile, created_ms);
