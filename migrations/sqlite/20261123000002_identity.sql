-- Regatlas schema, version 5: identities. Every action records who did it
-- (a principal: issuer and subject, display name, how), API tokens are
-- stored hashed, and browser sessions live in `tower_sessions` (created by
-- the session store at start-up).

-- The principal key (`issuer#subject`) of whoever caused an event.
ALTER TABLE events ADD COLUMN actor TEXT;
CREATE INDEX events_actor ON events (actor, id) WHERE actor IS NOT NULL;

ALTER TABLE operations ADD COLUMN actor_key TEXT;
ALTER TABLE migrations ADD COLUMN actor_key TEXT;
ALTER TABLE migration_checklist ADD COLUMN done_by_key TEXT;

-- Everyone who has signed in or acted, as last seen.
CREATE TABLE principals (
    key         TEXT PRIMARY KEY NOT NULL,   -- issuer#subject
    issuer      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    name        TEXT NOT NULL,
    via         TEXT NOT NULL,               -- session | application | api-token | local
    role        TEXT NOT NULL,               -- viewer | operator | admin
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL
);

-- Tokens this console issued. Only the SHA-256 of the secret is kept.
CREATE TABLE api_tokens (
    id              TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL,
    hash            TEXT NOT NULL UNIQUE,    -- hex SHA-256 of the whole token
    hint            TEXT NOT NULL,           -- the prefix and first characters, to recognise it
    created_by      TEXT NOT NULL,           -- display name
    created_by_key  TEXT NOT NULL,           -- principal key
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    revoked_at      TEXT,
    revoked_by      TEXT,
    last_used_at    TEXT
);
