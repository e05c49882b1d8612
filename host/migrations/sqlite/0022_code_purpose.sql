-- A one-time code answers only what it was sent for: `sign-in`, or `counter:<the clerk's
-- session id>` for a citizen's consent at a counter office, which signs nobody in. A consent
-- names the services it allows (a JSON array of `agency/service` names).
ALTER TABLE otp_challenges ADD COLUMN purpose TEXT NOT NULL DEFAULT 'sign-in';
ALTER TABLE otp_challenges ADD COLUMN services TEXT;
-- What a session acting for someone may use, when the right itself says so (a counter
-- consent): a JSON array of `agency/service` names. NULL: whatever the basis allows.
ALTER TABLE sessions ADD COLUMN acting_scope TEXT;
