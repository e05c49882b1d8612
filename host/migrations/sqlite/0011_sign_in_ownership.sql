-- One-time codes prove ownership (`[auth] otp`). A challenge remembers whether the
-- mobile-ownership registry confirmed its (national ID, mobile) pair: only such a sign-in
-- may replace the mobile stored for a citizen. Challenges from before this migration were
-- never checked.
ALTER TABLE otp_challenges ADD COLUMN ownership_checked BIGINT NOT NULL DEFAULT 0;

-- Fixed-window counters that every replica shares: sign-in requests per client, codes per
-- (national ID, mobile) pair and per mobile. One row per key; a hit is one upsert, so two
-- replicas counting at once cannot both pass the limit. `key` is a SHA-256, so no national
-- ID or mobile number is stored here.
CREATE TABLE sign_in_counters (
    key             TEXT PRIMARY KEY,
    window_start_ms BIGINT NOT NULL,
    hits            BIGINT NOT NULL
);
CREATE INDEX sign_in_counters_window ON sign_in_counters (window_start_ms);
