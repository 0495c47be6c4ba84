-- Claims on migration items: which engine instance holds an item it is
-- copying, and until when (milliseconds since the epoch, by the database's
-- clock). Claims are taken with FOR UPDATE SKIP LOCKED; an instance takes
-- only items unclaimed, its own, or whose claim ran out; a finished item's
-- claim is cleared, so the claimed set stays the copies in progress.
ALTER TABLE migration_items ADD COLUMN claimed_by TEXT, ADD COLUMN claimed_until BIGINT;
CREATE INDEX migration_items_claims ON migration_items (migration_id, claimed_by) WHERE claimed_by IS NOT NULL;
