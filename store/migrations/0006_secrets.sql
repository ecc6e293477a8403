-- Random secrets that must survive restarts and travel with backups: the
-- open-data export's salt, the board's signing key, each coordinator's link
-- generation. IF NOT EXISTS: databases made before this migration created
-- the table on first use.
CREATE TABLE IF NOT EXISTS secrets (
    name   TEXT PRIMARY KEY,
    value  BLOB NOT NULL
);
