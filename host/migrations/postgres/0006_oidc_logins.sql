-- Sign-ins started at /auth/login and not yet finished at /auth/callback. `state_hash`
-- and `browser_hash` are SHA-256 of random values the browser holds; the PKCE verifier
-- and nonce never leave the host. A row is deleted when its callback arrives (single use).
CREATE TABLE oidc_logins (
    state_hash    TEXT PRIMARY KEY,
    browser_hash  TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    return_to     TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    expires_ms    BIGINT NOT NULL
);
CREATE INDEX oidc_logins_expires ON oidc_logins (expires_ms);
