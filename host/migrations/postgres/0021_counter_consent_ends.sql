-- Acting for a citizen present at a counter office lasts a short time, not the clerk's whole
-- session: when it ends, the session acts for its own citizen again. NULL: no end of its
-- own (signatories, guardians and mandates are checked against their sources instead).
ALTER TABLE sessions ADD COLUMN acting_until_ms BIGINT;
