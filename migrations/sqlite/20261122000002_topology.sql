-- Regatlas schema, version 2: the topology the poller keeps, its history,
-- and the operations operators start.
--
-- Current state lives in registries / replicas / children (one row per ARM
-- resource, never deleted: a resource ARM stops returning gets gone_at).
-- events is the append-only history of changes and the live feed (its id is
-- the Server-Sent Events id). operations records every action: who, what,
-- when, the ARM operation URL, progress and outcome.

CREATE TABLE registries (
    id                 TEXT PRIMARY KEY NOT NULL,   -- ARM id, lower-case
    arm_id             TEXT NOT NULL,               -- ARM id as ARM spells it
    subscription_id    TEXT NOT NULL,
    resource_group     TEXT NOT NULL,
    name               TEXT NOT NULL,
    location           TEXT NOT NULL,
    sku                TEXT NOT NULL,
    login_server       TEXT,
    provisioning_state TEXT,
    zone_redundancy    TEXT,
    doc                TEXT NOT NULL,               -- the ARM JSON last seen
    first_seen         TEXT NOT NULL,
    changed_at         TEXT NOT NULL,
    confirmed_at       TEXT NOT NULL,
    gone_at            TEXT
);
CREATE INDEX registries_name ON registries (name);

CREATE TABLE replicas (
    id                      TEXT PRIMARY KEY NOT NULL,  -- ARM id, lower-case
    registry_id             TEXT NOT NULL REFERENCES registries (id),
    name                    TEXT NOT NULL,
    location                TEXT NOT NULL,
    provisioning_state      TEXT,
    display_status          TEXT,
    status_message          TEXT,
    status_timestamp        TEXT,
    region_endpoint_enabled INTEGER,
    zone_redundancy         TEXT,
    doc                     TEXT NOT NULL,
    first_seen              TEXT NOT NULL,
    changed_at              TEXT NOT NULL,
    confirmed_at            TEXT NOT NULL,
    gone_at                 TEXT
);
CREATE INDEX replicas_registry ON replicas (registry_id);

-- Webhooks, connected registries, export/import pipelines, pipeline runs.
CREATE TABLE children (
    id           TEXT PRIMARY KEY NOT NULL,  -- ARM id, lower-case
    registry_id  TEXT NOT NULL REFERENCES registries (id),
    kind         TEXT NOT NULL,              -- webhook | connected-registry | export-pipeline | import-pipeline | pipeline-run
    name         TEXT NOT NULL,
    state        TEXT,                       -- provisioning / connection / run status, kind-specific
    doc          TEXT NOT NULL,
    first_seen   TEXT NOT NULL,
    changed_at   TEXT NOT NULL,
    confirmed_at TEXT NOT NULL,
    gone_at      TEXT
);
CREATE INDEX children_registry ON children (registry_id, kind);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,    -- registry.* | replica.* | child.* | operation.* | poll.*
    registry_id TEXT,
    subject_id  TEXT,
    summary     TEXT NOT NULL,
    data        TEXT NOT NULL     -- JSON
);
CREATE INDEX events_registry ON events (registry_id, id);
CREATE INDEX events_at ON events (at);

CREATE TABLE operations (
    id            TEXT PRIMARY KEY NOT NULL,
    actor         TEXT NOT NULL,
    kind          TEXT NOT NULL,   -- replica.create | replica.delete | replica.routing
    registry_id   TEXT NOT NULL,
    target        TEXT NOT NULL,   -- the replica's region
    params        TEXT NOT NULL,   -- JSON
    state         TEXT NOT NULL,   -- pending | running | succeeded | failed | unknown
    lro           TEXT,            -- the ARM operation handle (JSON), for resuming after a restart
    percent       REAL,
    error_code    TEXT,
    error_message TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    finished_at   TEXT
);
-- Two operators acting on one replica at once: the second insert fails.
CREATE UNIQUE INDEX operations_one_active_per_replica
    ON operations (registry_id, target) WHERE state IN ('pending', 'running');
CREATE INDEX operations_created ON operations (created_at);
