-- Agency callbacks accepted recently, by the SHA-256 of their signature header: a callback
-- delivered twice within its timestamp window is refused the second time. Rows outlive
-- the window only until the next callback sweeps them.
CREATE TABLE callback_receipts (
    signature_hash TEXT PRIMARY KEY,
    agency         TEXT NOT NULL,
    expires_ms     BIGINT NOT NULL
);
CREATE INDEX callback_receipts_expires ON callback_receipts (expires_ms);
