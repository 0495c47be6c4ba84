-- Regatlas schema, version 3: migrations (relocate or consolidate a
-- registry by ARM importImage), their artifacts and cut-over checklists.
--
-- Every item's state, attempts and ARM operation handle are written before
-- and after each ARM call, so a crash or restart resumes without losing or
-- repeating an import.

CREATE TABLE migrations (
    id               TEXT PRIMARY KEY NOT NULL,
    name             TEXT NOT NULL,
    spec             TEXT NOT NULL,              -- the MigrationRequest JSON (no secrets)
    source           TEXT NOT NULL,              -- display: registry name or URL
    target           TEXT NOT NULL,              -- target registry name
    state            TEXT NOT NULL,
    actor            TEXT NOT NULL,
    error            TEXT,
    concurrency      INTEGER,
    throttled        INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    started_at       TEXT,                       -- copy phase began
    finished_at      TEXT
);

CREATE TABLE migration_items (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    migration_id     TEXT NOT NULL REFERENCES migrations (id),
    repository       TEXT NOT NULL,
    digest           TEXT NOT NULL,
    media_type       TEXT NOT NULL,
    tags             TEXT NOT NULL,              -- JSON array of source tags
    size_bytes       INTEGER NOT NULL DEFAULT 0,
    action           TEXT NOT NULL,              -- copy | present | conflict
    state            TEXT NOT NULL,              -- planned | pending | importing | imported | failed | skipped | verified | mismatch
    attempts         INTEGER NOT NULL DEFAULT 0, -- importImage requests ARM processed (429s excluded)
    lro              TEXT,                       -- the ARM operation handle while importing
    error_code       TEXT,
    error_message    TEXT,
    detail           TEXT,                       -- conflict or verification detail
    started_at       TEXT,
    finished_at      TEXT,
    UNIQUE (migration_id, repository, digest)
);
CREATE INDEX migration_items_state ON migration_items (migration_id, state);

CREATE TABLE migration_checklist (
    migration_id     TEXT NOT NULL REFERENCES migrations (id),
    key              TEXT NOT NULL,
    position         INTEGER NOT NULL,
    kind             TEXT NOT NULL,              -- setting | manual
    title            TEXT NOT NULL,
    source_value     TEXT,
    target_value     TEXT,
    status           TEXT NOT NULL,              -- same | different | todo | done
    done_by          TEXT,
    done_at          TEXT,
    PRIMARY KEY (migration_id, key)
);
