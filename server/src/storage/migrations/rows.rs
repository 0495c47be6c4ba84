//! Rows of the migration tables as SQLite returns them (`FromRow`), and
//! their parsing into domain records; the query that counts a page's items.

use regatlas_domain::{
    record::{ChecklistEntry, Migration, MigrationCounts, MigrationItem},
    Actor, ChecklistKind, ChecklistStatus, Digest, ItemAction, ItemState, MigrationState, Repository, Tag,
};

use crate::storage::{parsed, StorageError};

#[derive(sqlx::FromRow)]
pub(super) struct ItemRecord {
    id: i64,
    repository: String,
    digest: String,
    media_type: String,
    tags: String,
    size_bytes: i64,
    action: String,
    state: String,
    attempts: i64,
    error_code: Option<String>,
    error_message: Option<String>,
    lro: Option<String>,
    detail: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
}

impl TryFrom<ItemRecord> for MigrationItem {
    type Error = StorageError;
    fn try_from(r: ItemRecord) -> Result<MigrationItem, StorageError> {
        let what = "stored item";
        Ok(MigrationItem {
            id: r.id,
            repository: parsed(what, Repository::parse(r.repository))?,
            digest: parsed(what, Digest::parse(r.digest))?,
            media_type: r.media_type,
            tags: parsed(what, serde_json::from_str::<Vec<Tag>>(&r.tags))?,
            size_bytes: r.size_bytes,
            action: parsed(what, r.action.parse::<ItemAction>())?,
            state: parsed(what, r.state.parse::<ItemState>())?,
            attempts: r.attempts,
            error_code: r.error_code,
            error_message: r.error_message,
            lro: r.lro,
            detail: r.detail,
            started_at: r.started_at,
            finished_at: r.finished_at,
        })
    }
}

pub(super) fn items_of(rows: Vec<ItemRecord>) -> Result<Vec<MigrationItem>, StorageError> {
    rows.into_iter().map(MigrationItem::try_from).collect()
}

#[derive(sqlx::FromRow)]
pub(super) struct ChecklistRecord {
    key: String,
    kind: String,
    title: String,
    source_value: Option<String>,
    target_value: Option<String>,
    status: String,
    done_by: Option<String>,
    done_at: Option<String>,
}

impl TryFrom<ChecklistRecord> for ChecklistEntry {
    type Error = StorageError;
    fn try_from(r: ChecklistRecord) -> Result<ChecklistEntry, StorageError> {
        let what = "stored checklist line";
        Ok(ChecklistEntry {
            key: r.key,
            kind: parsed(what, r.kind.parse::<ChecklistKind>())?,
            title: r.title,
            source_value: r.source_value,
            target_value: r.target_value,
            status: parsed(what, r.status.parse::<ChecklistStatus>())?,
            done_by: r.done_by.map(Actor::from_stored),
            done_at: r.done_at,
        })
    }
}

/// A migration row (`page.*`) with its item counts (`c.*`).
#[derive(sqlx::FromRow)]
pub(super) struct MigrationRecord {
    id: String,
    name: String,
    spec: String,
    source: String,
    target: String,
    state: String,
    actor: String,
    error: Option<String>,
    created_at: String,
    updated_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    concurrency: Option<i64>,
    throttled: i64,
    #[sqlx(flatten)]
    counts: CountsRecord,
}

#[derive(sqlx::FromRow)]
pub(super) struct CountsRecord {
    planned: i64,
    to_copy: i64,
    present: i64,
    conflicts: i64,
    imported: i64,
    failed: i64,
    in_flight: i64,
    verified: i64,
    mismatched: i64,
    bytes_total: i64,
    bytes_to_copy: i64,
    bytes_done: i64,
}

impl TryFrom<MigrationRecord> for Migration {
    type Error = StorageError;
    fn try_from(r: MigrationRecord) -> Result<Migration, StorageError> {
        let what = "stored migration";
        let spec: serde_json::Value = parsed(what, serde_json::from_str(&r.spec))?;
        let c = r.counts;
        Ok(Migration {
            id: r.id,
            name: r.name,
            source: r.source,
            target: r.target,
            state: parsed(what, r.state.parse::<MigrationState>())?,
            dry_run: spec["dry_run"].as_bool().unwrap_or(false),
            force: spec["force"].as_bool().unwrap_or(false),
            actor: Actor::from_stored(r.actor),
            error: r.error,
            created_at: r.created_at,
            updated_at: r.updated_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            concurrency: r.concurrency,
            throttled: r.throttled,
            counts: MigrationCounts {
                planned: c.planned,
                to_copy: c.to_copy,
                present: c.present,
                conflicts: c.conflicts,
                imported: c.imported,
                failed: c.failed,
                in_flight: c.in_flight,
                verified: c.verified,
                mismatched: c.mismatched,
                bytes_total: c.bytes_total,
                bytes_to_copy: c.bytes_to_copy,
                bytes_done: c.bytes_done,
            },
        })
    }
}

/// After `WITH page AS (…migrations…)`: each migration of the page with the
/// counts of its items, in one query, from the counts the triggers keep
/// (no item is read). Sums are cast to BIGINT: PostgreSQL sums BIGINTs
/// into NUMERIC.
pub(super) const WITH_COUNTS: &str = "SELECT page.*,
    CAST(COALESCE(c.planned, 0) AS BIGINT) AS planned, CAST(COALESCE(c.to_copy, 0) AS BIGINT) AS to_copy, CAST(COALESCE(c.present, 0) AS BIGINT) AS present, CAST(COALESCE(c.conflicts, 0) AS BIGINT) AS conflicts,
    CAST(COALESCE(c.imported, 0) AS BIGINT) AS imported, CAST(COALESCE(c.failed, 0) AS BIGINT) AS failed, CAST(COALESCE(c.in_flight, 0) AS BIGINT) AS in_flight, CAST(COALESCE(c.verified, 0) AS BIGINT) AS verified,
    CAST(COALESCE(c.mismatched, 0) AS BIGINT) AS mismatched, CAST(COALESCE(c.bytes_total, 0) AS BIGINT) AS bytes_total, CAST(COALESCE(c.bytes_to_copy, 0) AS BIGINT) AS bytes_to_copy,
    CAST(COALESCE(c.bytes_done, 0) AS BIGINT) AS bytes_done
    FROM page LEFT JOIN (
      SELECT migration_id, SUM(n) AS planned,
        SUM(CASE WHEN action = 'copy' THEN n ELSE 0 END) AS to_copy,
        SUM(CASE WHEN action = 'present' THEN n ELSE 0 END) AS present,
        SUM(CASE WHEN action = 'conflict' THEN n ELSE 0 END) AS conflicts,
        SUM(CASE WHEN action = 'copy' AND state IN ('imported', 'verified', 'mismatch') THEN n ELSE 0 END) AS imported,
        SUM(CASE WHEN state = 'failed' THEN n ELSE 0 END) AS failed,
        SUM(CASE WHEN state = 'importing' THEN n ELSE 0 END) AS in_flight,
        SUM(CASE WHEN state = 'verified' THEN n ELSE 0 END) AS verified,
        SUM(CASE WHEN state = 'mismatch' THEN n ELSE 0 END) AS mismatched,
        SUM(bytes) AS bytes_total,
        SUM(CASE WHEN action = 'copy' THEN bytes ELSE 0 END) AS bytes_to_copy,
        SUM(CASE WHEN action = 'copy' AND state IN ('imported', 'verified', 'mismatch') THEN bytes ELSE 0 END) AS bytes_done
      FROM migration_item_counts WHERE migration_id IN (SELECT id FROM page) GROUP BY migration_id
    ) c ON c.migration_id = page.id";
