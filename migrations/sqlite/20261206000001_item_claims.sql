-- Claims on migration items: which engine instance holds an item it is
-- copying. A claim lives as long as its instance's lease (one row per
-- instance, renewed every few seconds; milliseconds since the epoch by the
-- database's clock). An instance takes only items unclaimed, its own, or
-- whose claimer's lease ran out; a finished item's claim is cleared, so
-- the claimed set stays the copies in progress.
ALTER TABLE migration_items ADD COLUMN claimed_by TEXT;
CREATE INDEX migration_items_claims ON migration_items (migration_id, claimed_by) WHERE claimed_by IS NOT NULL;
CREATE TABLE claim_leases (
    instance TEXT PRIMARY KEY NOT NULL,
    until    INTEGER NOT NULL
);
