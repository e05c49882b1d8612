-- Panjereh schema, PostgreSQL. Times are milliseconds since the Unix epoch.
CREATE TABLE host_info (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO host_info (key, value) VALUES ('schema', 'panjereh');
