-- Items in id order within one migration (the artifact list's pages and the
-- copy loop's batches), without sorting the migration's items.
CREATE INDEX migration_items_order ON migration_items (migration_id, id);
-- Items by action in id order (the conflicts of a migration): the action is
-- written once, at planning, so copying never updates this index.
CREATE INDEX migration_items_action ON migration_items (migration_id, action, id);
