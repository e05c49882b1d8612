-- Operator tokens expire and can be revoked (`panjereh operator create --ttl`,
-- `panjereh operator revoke`, `POST /admin/v1/operators/{name}/revoke`). A token is
-- accepted only while `revoked_at` is NULL and `expires_at` is in the future.
-- Tokens issued before this migration expire 90 days after it runs: an upgrade neither
-- locks operators out nor leaves tokens that never expire. The default of 0 (already
-- expired) fails closed for a row written without an expiry.
ALTER TABLE operators ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE operators ADD COLUMN revoked_at BIGINT;
UPDATE operators SET expires_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000 + 7776000000;
