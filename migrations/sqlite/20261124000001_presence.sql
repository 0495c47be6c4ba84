-- Regatlas schema, version 6: presence. Which digest each region serves for
-- each tag, when each push arrived in each region (replication lag), and the
-- regional webhooks Regatlas keeps for the registries it tracks.

-- Registries whose presence is tracked, and the team's settings for them.
CREATE TABLE presence_tracking (
    registry_id      TEXT PRIMARY KEY NOT NULL,
    enabled_at       TEXT NOT NULL,
    enabled_by       TEXT NOT NULL,
    enabled_by_key   TEXT NOT NULL,
    objective_share  REAL NOT NULL DEFAULT 0.95,
    objective_secs   INTEGER NOT NULL DEFAULT 300,
    hot_last         INTEGER NOT NULL DEFAULT 20,
    hot_repositories TEXT NOT NULL DEFAULT '[]'   -- JSON array: every tag of these is in the hot set too
);

-- One regional webhook per replica location. Only the SHA-256 of the
-- secret header's value is kept.
CREATE TABLE presence_hooks (
    registry_id    TEXT NOT NULL,
    region         TEXT NOT NULL,
    webhook        TEXT NOT NULL,
    secret_sha256  TEXT NOT NULL,
    receiver       TEXT NOT NULL,    -- the URL it delivers to (a new one re-creates it)
    created_at     TEXT NOT NULL,
    last_event_at  TEXT,
    PRIMARY KEY (registry_id, region)
);

-- Every push seen: one row per registry, repository, tag ('' for none) and
-- digest, with its first arrival anywhere (the receiving replica).
CREATE TABLE presence_pushes (
    id            INTEGER PRIMARY KEY,
    registry_id   TEXT NOT NULL,
    repository    TEXT NOT NULL,
    tag           TEXT NOT NULL,
    digest        TEXT NOT NULL,
    size          INTEGER,
    first_at      TEXT NOT NULL,
    first_region  TEXT NOT NULL,
    UNIQUE (registry_id, repository, tag, digest)
);

-- The first arrival of each push in each region.
CREATE TABLE presence_arrivals (
    push_id      INTEGER NOT NULL REFERENCES presence_pushes (id) ON DELETE CASCADE,
    registry_id  TEXT NOT NULL,      -- the push's, for the per-region and window reads
    region       TEXT NOT NULL,
    at           TEXT NOT NULL,
    source       TEXT NOT NULL,      -- webhook | catch-up | probe
    PRIMARY KEY (push_id, region)
);
CREATE INDEX presence_arrivals_region ON presence_arrivals (registry_id, region, at);
CREATE INDEX presence_arrivals_window ON presence_arrivals (registry_id, at);

-- Per tag: its newest push, what every region should serve.
CREATE TABLE presence_heads (
    registry_id   TEXT NOT NULL,
    repository    TEXT NOT NULL,
    tag           TEXT NOT NULL,
    digest        TEXT NOT NULL,
    size          INTEGER,
    pushed_at     TEXT NOT NULL,
    first_region  TEXT NOT NULL,
    PRIMARY KEY (registry_id, repository, tag)
);
CREATE INDEX presence_heads_pushed ON presence_heads (registry_id, pushed_at);

-- Per tag and region: what the region serves now ('' once deleted there).
CREATE TABLE presence_tags (
    registry_id  TEXT NOT NULL,
    repository   TEXT NOT NULL,
    tag          TEXT NOT NULL,
    region       TEXT NOT NULL,
    digest       TEXT NOT NULL,
    pushed_at    TEXT NOT NULL,      -- the push it came from (newer pushes win)
    at           TEXT NOT NULL,      -- when it arrived there
    source       TEXT NOT NULL,
    PRIMARY KEY (registry_id, repository, tag, region)
);
CREATE INDEX presence_tags_region ON presence_tags (registry_id, region);
