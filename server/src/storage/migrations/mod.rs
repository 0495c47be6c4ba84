//! Migrations, their artifacts (one row per digest per repository) and
//! cut-over checklists.

mod rows;

use async_trait::async_trait;
use regatlas_domain::{
    record::{ChecklistEntry, ItemFilter, Migration, MigrationItem, NewMigration, PlannedItem, RepositoryCounts},
    ChecklistStatus, ItemAction, ItemState, MigrationState, Principal, Repository,
};
use rows::{items_of, ChecklistRecord, ItemRecord, MigrationRecord, WITH_COUNTS};
use sqlx::Row;

use super::{now, parsed, Dialect, ItemWrite, MigrationStore, PgStore, SqliteStore, StorageError};

/// Most items one claim takes.
const CLAIM_MAX: i64 = 10_000;

/// An item `i` that `$2` may claim: unclaimed, its own, or its claimer's lease ran out.
fn claimable<D: Dialect>() -> String {
    format!(
        "(i.claimed_by IS NULL OR i.claimed_by = $2 OR NOT EXISTS (SELECT 1 FROM claim_leases l WHERE l.instance = i.claimed_by AND l.until >= {}))",
        D::NOW_MS
    )
}

/// Test failpoint: `REGATLAS_FAILPOINT=item-batch-pause:N` holds the Nth
/// batched item write of the copy phase (two writes or more) open halfway, says so on
/// stderr, and never finishes it: the crash test kills the process there.
/// Unset, it costs one atomic load per batch.
fn failpoint_at() -> Option<usize> {
    static AT: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *AT.get_or_init(|| std::env::var("REGATLAS_FAILPOINT").ok()?.strip_prefix("item-batch-pause:")?.parse().ok())
}

/// Counts a batch the failpoint looks at; `true` for the Nth.
fn failpoint_batch() -> bool {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    failpoint_at().is_some_and(|n| SEEN.fetch_add(1, Ordering::Relaxed) + 1 == n)
}

/// The trait's implementation, the same SQL for both stores (`$db` is the
/// store's sqlx database).
macro_rules! impl_migration_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// `instance`'s lease: until `lease_ms` from now by the database's clock.
            async fn lease(tx: &mut sqlx::Transaction<'_, $db>, instance: &str, lease_ms: i64) -> Result<(), StorageError> {
                let sql = format!(
                    "INSERT INTO claim_leases (instance, until) VALUES ($1, {now} + $2) ON CONFLICT (instance) DO UPDATE SET until = excluded.until",
                    now = <$db as Dialect>::NOW_MS,
                );
                sqlx::query(&sql).bind(instance).bind(lease_ms).execute(&mut **tx).await?;
                // Leases of processes gone for a day (each start is a new instance).
                let old = format!("DELETE FROM claim_leases WHERE until < {} - 86400000", <$db as Dialect>::NOW_MS);
                sqlx::query(&old).execute(&mut **tx).await?;
                Ok(())
            }
        }

        #[async_trait]
        impl MigrationStore for $store {
            async fn insert_migration(&self, m: &NewMigration) -> Result<(), StorageError> {
                let at = now();
                sqlx::query(
                    "INSERT INTO migrations (id, name, spec, source, target, state, actor, actor_key, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'PREPARING', $6, $7, $8, $9)",
                )
                .bind(&m.id)
                .bind(&m.name)
                .bind(m.spec.to_string())
                .bind(&m.source)
                .bind(&m.target)
                .bind(m.actor.as_str())
                .bind(&m.actor_key)
                .bind(&at)
                .bind(&at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            /// The stored request of a migration.
            async fn migration_spec(&self, id: &str) -> Result<Option<serde_json::Value>, StorageError> {
                let spec: Option<String> = sqlx::query_scalar("SELECT spec FROM migrations WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
                spec.map(|s| parsed("stored migration request", serde_json::from_str(&s))).transpose()
            }

            async fn migration(&self, id: &str) -> Result<Option<Migration>, StorageError> {
                let sql = format!("WITH page AS (SELECT * FROM migrations WHERE id = $1) {WITH_COUNTS}");
                sqlx::query_as::<_, MigrationRecord>(&sql).bind(id).fetch_optional(&self.pool).await?.map(Migration::try_from).transpose()
            }

            async fn migrations(&self, limit: i64, before: Option<(String, String)>) -> Result<Vec<Migration>, StorageError> {
                let (at, bid) = before.unzip();
                let sql = format!(
                    "WITH page AS (SELECT * FROM migrations WHERE ($1 IS NULL OR created_at < $1 OR (created_at = $1 AND id < $2)) ORDER BY created_at DESC, id DESC LIMIT $3)
                     {WITH_COUNTS} ORDER BY page.created_at DESC, page.id DESC"
                );
                let rows = sqlx::query_as::<_, MigrationRecord>(&sql).bind(at).bind(bid).bind(limit).fetch_all(&self.pool).await?;
                rows.into_iter().map(Migration::try_from).collect()
            }

            /// Migrations the engine must drive (after a restart, too).
            async fn active_migrations(&self) -> Result<Vec<String>, StorageError> {
                let active: Vec<&str> = MigrationState::ALL.iter().filter(|s| s.is_active()).map(|s| s.as_str()).collect();
                Ok(sqlx::query_scalar(&format!("SELECT id FROM migrations WHERE state IN ('{}') ORDER BY created_at", active.join("', '")))
                    .fetch_all(&self.pool)
                    .await?)
            }

            /// Moves a migration to `state`. The copy phase's start and the end are
            /// stamped once.
            async fn set_migration_state(&self, id: &str, state: MigrationState, error: Option<&str>) -> Result<(), StorageError> {
                let at = now();
                let terminal = state.is_settled();
                let state = state.as_str();
                sqlx::query(
                    "UPDATE migrations SET crash_resumes = CASE WHEN state = $1 THEN crash_resumes ELSE 0 END, state = $1, error = $2, updated_at = $3,
                        started_at = CASE WHEN $1 = 'IN_PROGRESS' AND started_at IS NULL THEN $3 ELSE started_at END,
                        finished_at = CASE WHEN $4 THEN $3 ELSE NULL END
                     WHERE id = $5",
                )
                .bind(state)
                .bind(error)
                .bind(&at)
                .bind(terminal)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            /// Keeps the inventory's findings (already cleaned and bounded).
            async fn set_migration_findings(&self, id: &str, findings: &[String]) -> Result<(), StorageError> {
                sqlx::query("UPDATE migrations SET findings = $1 WHERE id = $2")
                    .bind(serde_json::to_string(findings).unwrap_or_else(|_| "[]".into()))
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn migration_findings(&self, id: &str) -> Result<Vec<String>, StorageError> {
                let findings: Option<String> = sqlx::query_scalar("SELECT findings FROM migrations WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
                findings.map(|f| parsed("stored findings", serde_json::from_str(&f))).transpose().map(Option::unwrap_or_default)
            }

            /// Records a resume at start-up of a migration found mid-phase. Returns
            /// `true` when it was found so before, in the same state and with no
            /// item finished since: a crash loop, which the caller must not resume.
            async fn note_crash_resume(&self, id: &str) -> Result<bool, StorageError> {
                let r = sqlx::query(
                    "SELECT state, crash_resumes, crash_mark,
                        (SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM migration_item_counts WHERE migration_id = $1 AND state IN ('imported', 'failed', 'verified', 'mismatch')) AS finished
                     FROM migrations WHERE id = $1",
                )
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
                let mark = format!("{}:{}", r.try_get::<String, _>("state")?, r.try_get::<i64, _>("finished")?);
                let looped = r.try_get::<i64, _>("crash_resumes")? >= 1 && r.try_get::<Option<String>, _>("crash_mark")?.as_deref() == Some(mark.as_str());
                if !looped {
                    sqlx::query("UPDATE migrations SET crash_resumes = 1, crash_mark = $2 WHERE id = $1").bind(id).bind(&mark).execute(&self.pool).await?;
                }
                Ok(looped)
            }

            /// The driver stopped cleanly (shutdown, or a state change): no crash to count.
            async fn clear_crash_resumes(&self, id: &str) -> Result<(), StorageError> {
                sqlx::query("UPDATE migrations SET crash_resumes = 0 WHERE id = $1").bind(id).execute(&self.pool).await?;
                Ok(())
            }

            async fn migration_state(&self, id: &str) -> Result<Option<MigrationState>, StorageError> {
                let state: Option<String> = sqlx::query_scalar("SELECT state FROM migrations WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
                state.map(|s| parsed("stored migration", s.parse::<MigrationState>())).transpose()
            }

            async fn set_migration_window(&self, id: &str, window: i64, throttled_more: i64) -> Result<(), StorageError> {
                sqlx::query("UPDATE migrations SET concurrency = $1, throttled = throttled + $2, updated_at = $3 WHERE id = $4")
                    .bind(window)
                    .bind(throttled_more)
                    .bind(now())
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            /// Starts a plan afresh: the previous items and checklist go.
            async fn begin_plan(&self, id: &str) -> Result<(), StorageError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM migration_items WHERE migration_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM migration_checklist WHERE migration_id = $1").bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(())
            }

            /// Adds a batch of planned items in one transaction.
            async fn add_planned(&self, id: &str, items: &[PlannedItem], copy_state: ItemState) -> Result<(), StorageError> {
                let mut tx = self.pool.begin().await?;
                for it in items {
                    let state = if it.action == ItemAction::Copy { copy_state } else { ItemState::Planned };
                    sqlx::query("INSERT INTO migration_items (migration_id, repository, digest, media_type, tags, size_bytes, action, state, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                        .bind(id)
                        .bind(it.repository.as_str())
                        .bind(it.digest.as_str())
                        .bind(&it.media_type)
                        .bind(serde_json::to_string(&it.tags).unwrap_or_else(|_| "[]".into()))
                        .bind(it.size_bytes)
                        .bind(it.action.as_str())
                        .bind(state.as_str())
                        .bind(&it.detail)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("UPDATE migrations SET updated_at = $1 WHERE id = $2").bind(now()).bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(())
            }

            /// Writes the plan's checklist, replacing any before it.
            async fn set_checklist(&self, id: &str, checklist: &[ChecklistEntry]) -> Result<(), StorageError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM migration_checklist WHERE migration_id = $1").bind(id).execute(&mut *tx).await?;
                for (i, c) in checklist.iter().enumerate() {
                    sqlx::query("INSERT INTO migration_checklist (migration_id, key, position, kind, title, source_value, target_value, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                        .bind(id)
                        .bind(&c.key)
                        .bind(i as i64)
                        .bind(c.kind.as_str())
                        .bind(&c.title)
                        .bind(&c.source_value)
                        .bind(&c.target_value)
                        .bind(c.status.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            /// Turns a dry run's planned copies into pending ones (starting it).
            async fn plan_to_pending(&self, id: &str) -> Result<u64, StorageError> {
                let r = sqlx::query("UPDATE migration_items SET state = 'pending' WHERE migration_id = $1 AND action = 'copy' AND state = 'planned'")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected())
            }

            async fn claim_importing(&self, id: &str, instance: &str, lease_ms: i64) -> Result<Vec<MigrationItem>, StorageError> {
                let sql = format!(
                    "UPDATE migration_items SET claimed_by = $2 WHERE id IN (
                        SELECT id FROM migration_items i WHERE migration_id = $1 AND state = 'importing' AND {claimable}
                            ORDER BY id LIMIT $3 {skip}) RETURNING *",
                    claimable = claimable::<$db>(),
                    skip = <$db as Dialect>::SKIP_LOCKED,
                );
                let mut tx = self.pool.begin().await?;
                Self::lease(&mut tx, instance, lease_ms).await?;
                let rows = sqlx::query_as::<_, ItemRecord>(&sql).bind(id).bind(instance).bind(CLAIM_MAX).fetch_all(&mut *tx).await?;
                tx.commit().await?;
                // RETURNING keeps no order.
                let mut items = items_of(rows)?;
                items.sort_by_key(|i| i.id);
                Ok(items)
            }

            async fn claim_pending(&self, id: &str, instance: &str, after: i64, limit: i64, lease_ms: i64) -> Result<Vec<MigrationItem>, StorageError> {
                let sql = format!(
                    "UPDATE migration_items SET claimed_by = $2 WHERE id IN (
                        SELECT id FROM migration_items i WHERE migration_id = $1 AND state = 'pending' AND action = 'copy' AND id > $3 AND {claimable}
                            ORDER BY id LIMIT $4 {skip}) RETURNING *",
                    claimable = claimable::<$db>(),
                    skip = <$db as Dialect>::SKIP_LOCKED,
                );
                let mut tx = self.pool.begin().await?;
                Self::lease(&mut tx, instance, lease_ms).await?;
                let rows =
                    sqlx::query_as::<_, ItemRecord>(&sql).bind(id).bind(instance).bind(after).bind(limit.clamp(0, CLAIM_MAX)).fetch_all(&mut *tx).await?;
                tx.commit().await?;
                let mut items = items_of(rows)?;
                items.sort_by_key(|i| i.id);
                Ok(items)
            }

            async fn renew_lease(&self, instance: &str, lease_ms: i64) -> Result<(), StorageError> {
                let mut tx = self.pool.begin().await?;
                Self::lease(&mut tx, instance, lease_ms).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn release_claims(&self, id: &str, instance: &str) -> Result<u64, StorageError> {
                let r = sqlx::query("UPDATE migration_items SET claimed_by = NULL WHERE migration_id = $1 AND claimed_by = $2")
                    .bind(id)
                    .bind(instance)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected())
            }

            async fn foreign_claim(&self, id: &str, instance: &str) -> Result<Option<i64>, StorageError> {
                let sql = format!(
                    "SELECT MIN(l.until) - {now} FROM migration_items i JOIN claim_leases l ON l.instance = i.claimed_by
                        WHERE i.migration_id = $1 AND i.claimed_by <> $2 AND i.state IN ('pending', 'importing') AND l.until >= {now}",
                    now = <$db as Dialect>::NOW_MS,
                );
                let left: Option<i64> = sqlx::query_scalar(&sql).bind(id).bind(instance).fetch_one(&self.pool).await?;
                Ok(left.map(|ms| ms.max(0)))
            }

            async fn pending_items(&self, id: &str, after: i64, limit: i64) -> Result<Vec<MigrationItem>, StorageError> {
                let rows = sqlx::query_as::<_, ItemRecord>(
                    "SELECT * FROM migration_items WHERE migration_id = $1 AND state = 'pending' AND id > $2 AND action = 'copy' ORDER BY id LIMIT $3",
                )
                .bind(id)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                items_of(rows)
            }

            async fn items_to_verify(&self, id: &str, after: i64, limit: i64) -> Result<Vec<MigrationItem>, StorageError> {
                let rows = sqlx::query_as::<_, ItemRecord>(
                    "SELECT * FROM migration_items WHERE migration_id = $1 AND id > $2
                        AND ((action = 'copy' AND state IN ('imported', 'verified', 'mismatch')) OR (action = 'present')) ORDER BY id LIMIT $3",
                )
                .bind(id)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                items_of(rows)
            }

            async fn write_items(&self, writes: &[ItemWrite]) -> Result<(), StorageError> {
                if writes.is_empty() {
                    return Ok(());
                }
                let at = now();
                let mut tx = self.pool.begin().await?;
                let copying = || writes.iter().any(|w| !matches!(w, ItemWrite::Verified(..)));
                let pause_at = (writes.len() >= 2 && failpoint_at().is_some() && copying() && failpoint_batch()).then_some(writes.len() / 2);
                for (n, w) in writes.iter().enumerate() {
                    if pause_at == Some(n) {
                        // The crash test kills the process here, halfway through the transaction.
                        eprintln!("failpoint item-batch-pause reached");
                        std::future::pending::<()>().await;
                    }
                    let q = match w {
                        ItemWrite::Importing(item) => sqlx::query(
                            "UPDATE migration_items SET state = 'importing', attempts = attempts + 1, lro = NULL, error_code = NULL, error_message = NULL, started_at = COALESCE(started_at, $1) WHERE id = $2",
                        )
                        .bind(&at)
                        .bind(item),
                        ItemWrite::Lro(item, lro) => sqlx::query("UPDATE migration_items SET lro = $1 WHERE id = $2 AND state = 'importing'").bind(lro.to_string()).bind(item),
                        ItemWrite::Throttled(item) => {
                            sqlx::query("UPDATE migration_items SET state = 'pending', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, lro = NULL WHERE id = $1").bind(item)
                        }
                        ItemWrite::Pending(item, error) => sqlx::query("UPDATE migration_items SET state = 'pending', lro = NULL, error_code = $1, error_message = $2 WHERE id = $3")
                            .bind(error.as_ref().map(|e| e.0.clone()))
                            .bind(error.as_ref().map(|e| e.1.clone()))
                            .bind(item),
                        ItemWrite::Finished(item, state, error) => {
                            sqlx::query("UPDATE migration_items SET state = $1, lro = NULL, error_code = $2, error_message = $3, finished_at = $4, claimed_by = NULL WHERE id = $5")
                                .bind(state.as_str())
                                .bind(error.as_ref().map(|e| e.0.clone()))
                                .bind(error.as_ref().map(|e| e.1.clone()))
                                .bind(&at)
                                .bind(item)
                        }
                        ItemWrite::Verified(item, ok, detail) => sqlx::query("UPDATE migration_items SET state = $1, detail = $2 WHERE id = $3")
                            .bind(if *ok { ItemState::Verified } else { ItemState::Mismatch }.as_str())
                            .bind(detail.clone())
                            .bind(item),
                    };
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            /// "Retry failed items only": failed copies become pending again.
            async fn retry_failed(&self, id: &str) -> Result<u64, StorageError> {
                let r = sqlx::query(
                    "UPDATE migration_items SET state = 'pending', lro = NULL, finished_at = NULL WHERE migration_id = $1 AND action = 'copy' AND state = 'failed'",
                )
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected())
            }

            async fn migration_items(&self, id: &str, f: &ItemFilter) -> Result<Vec<MigrationItem>, StorageError> {
                // Only the filters given are in the query (still bound), so SQLite
                // can use the state or repository index for a sparse filter.
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT * FROM migration_items WHERE migration_id = ");
                q.push_bind(id);
                if let Some(state) = f.state {
                    q.push(" AND state = ").push_bind(state.as_str());
                }
                if let Some(action) = f.action {
                    q.push(" AND action = ").push_bind(action.as_str());
                }
                if let Some(repo) = &f.repository {
                    q.push(" AND repository = ").push_bind(repo.clone());
                }
                if let Some(t) = f.text.as_deref().filter(|t| !t.is_empty()) {
                    // `LIKE` with its wildcards escaped: the text is matched as
                    // text, without ASCII case on both stores. The digest (lowercase
                    // hex) is only searched when the text could be part of one (hex,
                    // or `sha256:`): one LIKE a row less for names and tags.
                    let like = format!("%{}%", crate::storage::like_literal(t));
                    let op = <$db as crate::storage::Dialect>::LIKE_NOCASE;
                    q.push(format!(" AND (repository {op} ")).push_bind(like.clone()).push(format!(" ESCAPE '\\' OR tags {op} ")).push_bind(like.clone()).push(" ESCAPE '\\'");
                    let digest_like = t.strip_prefix("sha256:").unwrap_or(t).chars().all(|c| c.is_ascii_hexdigit());
                    if digest_like {
                        q.push(format!(" OR digest {op} ")).push_bind(like).push(" ESCAPE '\\'");
                    }
                    q.push(")");
                }
                if let Some(after) = f.after {
                    q.push(" AND id > ").push_bind(after);
                }
                q.push(" ORDER BY id LIMIT ").push_bind(f.limit);
                let rows = q.build_query_as::<ItemRecord>().fetch_all(&self.pool).await?;
                items_of(rows)
            }

            async fn migration_repositories(&self, id: &str, after: Option<&str>, limit: i64) -> Result<Vec<RepositoryCounts>, StorageError> {
                let mut q = sqlx::QueryBuilder::<$db>::new(
        "SELECT repository, COUNT(*) AS artifacts, COUNT(CASE WHEN action = 'copy' THEN 1 END) AS to_copy,
                        COUNT(CASE WHEN action = 'copy' AND state IN ('imported', 'verified', 'mismatch') THEN 1 END) AS done,
                        COUNT(CASE WHEN state = 'failed' THEN 1 END) AS failed, COUNT(CASE WHEN action = 'conflict' THEN 1 END) AS conflicts
                     FROM migration_items WHERE migration_id = ",
                );
                q.push_bind(id);
                if let Some(after) = after {
                    q.push(" AND repository > ").push_bind(after.to_string());
                }
                q.push(" GROUP BY repository ORDER BY repository LIMIT ").push_bind(limit);
                let rows = q.build_query_as::<(String, i64, i64, i64, i64, i64)>().fetch_all(&self.pool).await?;
                rows.into_iter()
                    .map(|(repository, artifacts, to_copy, done, failed, conflicts)| {
                        Ok(RepositoryCounts { repository: parsed("stored item", Repository::parse(repository))?, artifacts, to_copy, done, failed, conflicts })
                    })
                    .collect()
            }

            async fn checklist(&self, id: &str) -> Result<Vec<ChecklistEntry>, StorageError> {
                let rows = sqlx::query_as::<_, ChecklistRecord>("SELECT * FROM migration_checklist WHERE migration_id = $1 ORDER BY position")
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(ChecklistEntry::try_from).collect()
            }

            /// Ticks (or unticks) a manual checklist item. `false` if there is no
            /// such manual item.
            async fn tick_checklist(&self, id: &str, key: &str, done: bool, by: &Principal) -> Result<bool, StorageError> {
                let r = sqlx::query(
                    "UPDATE migration_checklist SET status = $1, done_by = $2, done_by_key = $3, done_at = $4 WHERE migration_id = $5 AND key = $6 AND kind = 'manual'",
                )
                .bind(if done { ChecklistStatus::Done } else { ChecklistStatus::Todo }.as_str())
                .bind(done.then_some(by.name.as_str()))
                .bind(done.then(|| by.key()))
                .bind(done.then(now))
                .bind(id)
                .bind(key)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }
        }
    };
}

impl_migration_store!(SqliteStore, sqlx::Sqlite);
impl_migration_store!(PgStore, sqlx::Postgres);
