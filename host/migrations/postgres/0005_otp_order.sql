-- Order one-time-code challenges by insertion: two started in the same millisecond must
-- still have a clear newest one (the only one that can be answered).
ALTER TABLE otp_challenges ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE;
DROP INDEX otp_challenges_national_id;
CREATE INDEX otp_challenges_national_id ON otp_challenges (national_id, seq);
