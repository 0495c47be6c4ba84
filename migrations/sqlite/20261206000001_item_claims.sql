-- Claims on migration items: which engine instance holds an item it is
-- copying, and until when (milliseconds since the epoch, by the database's
-- clock). An instance takes only items unclaimed, its own, or whose claim
-- ran out; a finished item's claim is cleared, so the claimed set stays
-- the copies in progress.
ALTER TABLE migration_items ADD COLUMN claimed_by TEXT;
ALTER TABLE migration_items ADD COLUMN claimed_until INTEGER;
CREATE INDEX migration_items_claims ON migration_items (migration_id, claimed_by) WHERE claimed_by IS NOT NULL;
