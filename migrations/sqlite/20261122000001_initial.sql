-- Regatlas schema, version 1: where the dashboard records what it saw and did.
-- The poller fills registries/replications/history; actions fill operations.

CREATE TABLE IF NOT EXISTS instance_info (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

INSERT OR IGNORE INTO instance_info (key, value) VALUES ('created_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
