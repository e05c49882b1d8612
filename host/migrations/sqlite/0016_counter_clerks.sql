-- Counter offices (دفاتر پیشخوان دولت): clerks an operator registered. A clerk acts for a
-- citizen who is present only after the citizen reads back the code sent to their own
-- mobile, and only while the clerk stays registered and the clerk's session lasts.
CREATE TABLE counter_clerks (
    national_id TEXT PRIMARY KEY,
    office_id   TEXT NOT NULL,
    office_name TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_ms  BIGINT NOT NULL
);
