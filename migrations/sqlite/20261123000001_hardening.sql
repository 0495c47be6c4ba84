-- Regatlas schema, version 4: what the inventory found that is not an item
-- (invalid names, content over the limits), and the crash rule's memory:
-- a migration found mid-phase at start-up is resumed once; found so again
-- in the same phase with no item finished since, it is FAILED instead of
-- crashing the server again.

ALTER TABLE migrations ADD COLUMN findings TEXT NOT NULL DEFAULT '[]';   -- JSON array of short, cleaned texts
ALTER TABLE migrations ADD COLUMN crash_resumes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE migrations ADD COLUMN crash_mark TEXT;                        -- "STATE:finished items" at the last resume
