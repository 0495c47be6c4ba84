-- Transfers: pipeline runs started together from the console, tracked as
-- one (more than 50 artifacts become several runs). The runs' states are
-- ARM's; this keeps the plan and who asked.
CREATE TABLE transfers (
    id TEXT PRIMARY KEY NOT NULL,
    registry_id TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- JSON array of {run, artifacts, blob}.
    runs TEXT NOT NULL,
    actor TEXT NOT NULL,
    actor_key TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX transfers_by_registry ON transfers (registry_id, created_at DESC);
