-- Whether a delegate may pass a mandate on (off unless the grantor says so), and, for a
-- mandate a delegate passed on, the mandate it came from: it is in force only while that
-- one is.
ALTER TABLE mandates ADD COLUMN may_pass_on BIGINT NOT NULL DEFAULT 0;
ALTER TABLE mandates ADD COLUMN parent_id TEXT;
