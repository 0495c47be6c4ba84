-- Regatlas schema: migrations at 100,000 artifacts.
--
-- Item counts per (migration, action, state) are kept by triggers, so a
-- migration's progress and the list of migrations are read from a handful
-- of rows, whatever the size of a migration. Items are paged by id (the
-- planner writes them repository by repository, so id order is repository
-- order), per repository through its own index.

CREATE TABLE migration_item_counts (
    migration_id     TEXT NOT NULL,
    action           TEXT NOT NULL,
    state            TEXT NOT NULL,
    n                INTEGER NOT NULL DEFAULT 0,
    bytes            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (migration_id, action, state)
) WITHOUT ROWID;

INSERT INTO migration_item_counts (migration_id, action, state, n, bytes)
    SELECT migration_id, action, state, COUNT(*), COALESCE(SUM(size_bytes), 0) FROM migration_items GROUP BY migration_id, action, state;

CREATE TRIGGER migration_items_counted_insert AFTER INSERT ON migration_items BEGIN
    INSERT INTO migration_item_counts (migration_id, action, state, n, bytes) VALUES (NEW.migration_id, NEW.action, NEW.state, 1, NEW.size_bytes)
        ON CONFLICT (migration_id, action, state) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER migration_items_counted_delete AFTER DELETE ON migration_items BEGIN
    UPDATE migration_item_counts SET n = n - 1, bytes = bytes - OLD.size_bytes
        WHERE migration_id = OLD.migration_id AND action = OLD.action AND state = OLD.state;
END;

CREATE TRIGGER migration_items_counted_update AFTER UPDATE OF state, action, size_bytes ON migration_items
    WHEN OLD.state IS NOT NEW.state OR OLD.action IS NOT NEW.action OR OLD.size_bytes IS NOT NEW.size_bytes BEGIN
    UPDATE migration_item_counts SET n = n - 1, bytes = bytes - OLD.size_bytes
        WHERE migration_id = OLD.migration_id AND action = OLD.action AND state = OLD.state;
    INSERT INTO migration_item_counts (migration_id, action, state, n, bytes) VALUES (NEW.migration_id, NEW.action, NEW.state, 1, NEW.size_bytes)
        ON CONFLICT (migration_id, action, state) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
END;

-- Per repository: the repositories' progress (a covering index, read a page
-- of repositories at a time) and the items of one repository.
CREATE INDEX migration_items_repository ON migration_items (migration_id, repository, action, state);
