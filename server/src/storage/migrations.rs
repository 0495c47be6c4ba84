//! Migrations, their artifacts (one row per digest per repository) and
//! cut-over checklists. Item rows are the engine's durable memory: state,
//! attempts and the ARM operation handle are written before and after
//! every ARM call.

use regatlas_app::model::{ChecklistItem, ItemAction, ItemState, MigrationItemView, MigrationState, MigrationView, RepositoryProgress};
use sqlx::Row;

use super::{topology::now, Storage, StorageError};

/// A migration to insert.
#[derive(Clone, Debug)]
pub struct NewMigration {
    pub id: String,
    pub name: String,
    pub spec: serde_json::Value,
    pub source: String,
    pub target: String,
    pub actor: String,
}

/// An artifact of the plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedItem {
    pub repository: String,
    pub digest: String,
    pub media_type: String,
    pub tags: Vec<String>,
    pub size_bytes: i64,
    pub action: ItemAction,
    pub detail: Option<String>,
}

/// An item as the engine works on it.
#[derive(Clone, Debug)]
pub struct ItemRow {
    pub id: i64,
    pub repository: String,
    pub digest: String,
    pub tags: Vec<String>,
    pub size_bytes: i64,
    pub action: ItemAction,
    pub state: ItemState,
    pub attempts: i64,
    pub lro: Option<String>,
}

/// A stored migration state, or an error naming what the database holds.
fn migration_state_of(s: &str) -> Result<MigrationState, StorageError> {
    MigrationState::parse(s).ok_or_else(|| StorageError::Invalid(format!("unknown migration state '{s}' in the database")))
}

fn item_state_of(s: &str) -> Result<ItemState, StorageError> {
    ItemState::parse(s).ok_or_else(|| StorageError::Invalid(format!("unknown item state '{s}' in the database")))
}

fn item_action_of(s: &str) -> Result<ItemAction, StorageError> {
    ItemAction::parse(s).ok_or_else(|| StorageError::Invalid(format!("unknown item action '{s}' in the database")))
}

fn tags_of(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

fn item_row(r: &sqlx::sqlite::SqliteRow) -> Result<ItemRow, StorageError> {
    Ok(ItemRow {
        id: r.get("id"),
        repository: r.get("repository"),
        digest: r.get("digest"),
        tags: tags_of(r.get::<String, _>("tags").as_str()),
        size_bytes: r.get("size_bytes"),
        action: item_action_of(r.get::<String, _>("action").as_str())?,
        state: item_state_of(r.get::<String, _>("state").as_str())?,
        attempts: r.get("attempts"),
        lro: r.get("lro"),
    })
}

fn item_view(r: &sqlx::sqlite::SqliteRow) -> Result<MigrationItemView, StorageError> {
    let lro: Option<String> = r.get("lro");
    Ok(MigrationItemView {
        id: r.get("id"),
        repository: r.get("repository"),
        digest: r.get("digest"),
        media_type: r.get("media_type"),
        tags: tags_of(r.get::<String, _>("tags").as_str()),
        size_bytes: r.get("size_bytes"),
        action: item_action_of(r.get::<String, _>("action").as_str())?,
        state: item_state_of(r.get::<String, _>("state").as_str())?,
        attempts: r.get("attempts"),
        error_code: r.get("error_code"),
        error_message: r.get("error_message"),
        operation_url: lro.and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok()).and_then(|v| v["poll_url"].as_str().map(str::to_string)),
        detail: r.get("detail"),
        started_at: r.get("started_at"),
        finished_at: r.get("finished_at"),
    })
}

const COUNTS: &str = "SELECT COUNT(*) AS planned,
    COALESCE(SUM(action = 'copy'), 0) AS to_copy,
    COALESCE(SUM(action = 'present'), 0) AS present,
    COALESCE(SUM(action = 'conflict'), 0) AS conflicts,
    COALESCE(SUM(action = 'copy' AND state IN ('imported', 'verified', 'mismatch')), 0) AS imported,
    COALESCE(SUM(state = 'failed'), 0) AS failed,
    COALESCE(SUM(state = 'importing'), 0) AS in_flight,
    COALESCE(SUM(state = 'verified'), 0) AS verified,
    COALESCE(SUM(state = 'mismatch'), 0) AS mismatched,
    COALESCE(SUM(size_bytes), 0) AS bytes_total,
    COALESCE(SUM(CASE WHEN action = 'copy' THEN size_bytes ELSE 0 END), 0) AS bytes_to_copy,
    COALESCE(SUM(CASE WHEN action = 'copy' AND state IN ('imported', 'verified', 'mismatch') THEN size_bytes ELSE 0 END), 0) AS bytes_done
    FROM migration_items WHERE migration_id = ?";

impl Storage {
    pub async fn insert_migration(&self, m: &NewMigration) -> Result<(), StorageError> {
        let at = now();
        sqlx::query(
            "INSERT INTO migrations (id, name, spec, source, target, state, actor, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'PREPARING', ?, ?, ?)",
        )
        .bind(&m.id)
        .bind(&m.name)
        .bind(m.spec.to_string())
        .bind(&m.source)
        .bind(&m.target)
        .bind(&m.actor)
        .bind(&at)
        .bind(&at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The stored request of a migration.
    pub async fn migration_spec(&self, id: &str) -> Result<Option<serde_json::Value>, StorageError> {
        let row = sqlx::query("SELECT spec FROM migrations WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.and_then(|r| serde_json::from_str(r.get::<String, _>("spec").as_str()).ok()))
    }

    pub async fn migration(&self, id: &str) -> Result<Option<MigrationView>, StorageError> {
        let Some(r) = sqlx::query("SELECT * FROM migrations WHERE id = ?").bind(id).fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let c = sqlx::query(COUNTS).bind(id).fetch_one(&self.pool).await?;
        let spec: serde_json::Value = serde_json::from_str(r.get::<String, _>("spec").as_str()).unwrap_or_default();
        let mut v = MigrationView {
            id: r.get("id"),
            name: r.get("name"),
            source: r.get("source"),
            target: r.get("target"),
            state: migration_state_of(r.get::<String, _>("state").as_str())?,
            dry_run: spec["dry_run"].as_bool().unwrap_or(false),
            force: spec["force"].as_bool().unwrap_or(false),
            actor: r.get("actor"),
            error: r.get("error"),
            created_at: r.get("created_at"),
            updated_at: r.get("updated_at"),
            started_at: r.get("started_at"),
            finished_at: r.get("finished_at"),
            planned: c.get("planned"),
            to_copy: c.get("to_copy"),
            present: c.get("present"),
            conflicts: c.get("conflicts"),
            imported: c.get("imported"),
            failed: c.get("failed"),
            in_flight: c.get("in_flight"),
            verified: c.get("verified"),
            mismatched: c.get("mismatched"),
            bytes_total: c.get("bytes_total"),
            bytes_to_copy: c.get("bytes_to_copy"),
            bytes_done: c.get("bytes_done"),
            rate_per_min: None,
            eta_secs: None,
            concurrency: r.get("concurrency"),
            throttled: r.get("throttled"),
        };
        // Rate and ETA from the copy phase so far.
        if let Some(start) = v.started_at.as_deref().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()) {
            let end = v
                .finished_at
                .as_deref()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.with_timezone(&chrono::Utc))
                .unwrap_or_else(chrono::Utc::now);
            let minutes = (end - start.with_timezone(&chrono::Utc)).num_milliseconds() as f64 / 60_000.0;
            if minutes > 0.0 && v.imported > 0 {
                let rate = v.imported as f64 / minutes;
                v.rate_per_min = Some(rate);
                let left = (v.to_copy - v.imported - v.failed).max(0);
                if v.state == MigrationState::InProgress {
                    v.eta_secs = Some((left as f64 / rate * 60.0).round() as i64);
                }
            }
        }
        Ok(Some(v))
    }

    /// Newest first.
    pub async fn migrations(&self, limit: i64) -> Result<Vec<MigrationView>, StorageError> {
        self.migrations_page(limit, None).await
    }

    /// Newest first, older than `before` = `(created_at, id)`.
    pub async fn migrations_page(&self, limit: i64, before: Option<(String, String)>) -> Result<Vec<MigrationView>, StorageError> {
        let (at, bid) = before.unzip();
        let ids: Vec<String> = sqlx::query(
            "SELECT id FROM migrations WHERE (?1 IS NULL OR created_at < ?1 OR (created_at = ?1 AND id < ?2)) ORDER BY created_at DESC, id DESC LIMIT ?3",
        )
        .bind(at)
        .bind(bid)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.get("id"))
        .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(m) = self.migration(&id).await? {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Migrations the engine must drive (after a restart, too).
    pub async fn active_migrations(&self) -> Result<Vec<String>, StorageError> {
        let active: Vec<&str> = MigrationState::ALL.iter().filter(|s| s.is_active()).map(|s| s.as_str()).collect();
        let rows =
            sqlx::query(&format!("SELECT id FROM migrations WHERE state IN ('{}') ORDER BY created_at", active.join("', '"))).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| r.get("id")).collect())
    }

    /// Moves a migration to `state`. The copy phase's start and the end are
    /// stamped once.
    pub async fn set_migration_state(&self, id: &str, state: MigrationState, error: Option<&str>) -> Result<(), StorageError> {
        let at = now();
        let terminal = state.is_settled();
        let state = state.as_str();
        sqlx::query(
            "UPDATE migrations SET crash_resumes = CASE WHEN state = ?1 THEN crash_resumes ELSE 0 END, state = ?1, error = ?2, updated_at = ?3,
                started_at = CASE WHEN ?1 = 'IN_PROGRESS' AND started_at IS NULL THEN ?3 ELSE started_at END,
                finished_at = CASE WHEN ?4 THEN ?3 ELSE NULL END
             WHERE id = ?5",
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

    /// The id of the live registry with this name (names compare without case).
    pub async fn registry_id_by_name(&self, name: &str) -> Result<Option<String>, StorageError> {
        Ok(sqlx::query_scalar("SELECT id FROM registries WHERE name = ? COLLATE NOCASE AND gone_at IS NULL ORDER BY id LIMIT 1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Keeps the inventory's findings (already cleaned and bounded).
    pub async fn set_migration_findings(&self, id: &str, findings: &[String]) -> Result<(), StorageError> {
        sqlx::query("UPDATE migrations SET findings = ? WHERE id = ?")
            .bind(serde_json::to_string(findings).unwrap_or_else(|_| "[]".into()))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn migration_findings(&self, id: &str) -> Result<Vec<String>, StorageError> {
        let row = sqlx::query("SELECT findings FROM migrations WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.and_then(|r| serde_json::from_str(r.get::<String, _>("findings").as_str()).ok()).unwrap_or_default())
    }

    /// Records a resume at start-up of a migration found mid-phase. Returns
    /// `true` when it was found so before, in the same state and with no
    /// item finished since: a crash loop, which the caller must not resume.
    pub async fn note_crash_resume(&self, id: &str) -> Result<bool, StorageError> {
        let r = sqlx::query(
            "SELECT state, crash_resumes, crash_mark,
                (SELECT COUNT(*) FROM migration_items WHERE migration_id = ?1 AND state IN ('imported', 'failed', 'verified', 'mismatch')) AS finished
             FROM migrations WHERE id = ?1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        let mark = format!("{}:{}", r.get::<String, _>("state"), r.get::<i64, _>("finished"));
        let looped = r.get::<i64, _>("crash_resumes") >= 1 && r.get::<Option<String>, _>("crash_mark").as_deref() == Some(mark.as_str());
        if !looped {
            sqlx::query("UPDATE migrations SET crash_resumes = 1, crash_mark = ?2 WHERE id = ?1").bind(id).bind(&mark).execute(&self.pool).await?;
        }
        Ok(looped)
    }

    /// The driver stopped cleanly (shutdown, or a state change): no crash to count.
    pub async fn clear_crash_resumes(&self, id: &str) -> Result<(), StorageError> {
        sqlx::query("UPDATE migrations SET crash_resumes = 0 WHERE id = ?").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn migration_state(&self, id: &str) -> Result<Option<MigrationState>, StorageError> {
        let row = sqlx::query("SELECT state FROM migrations WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        row.map(|r| migration_state_of(r.get::<String, _>("state").as_str())).transpose()
    }

    pub async fn set_migration_window(&self, id: &str, window: i64, throttled_more: i64) -> Result<(), StorageError> {
        sqlx::query("UPDATE migrations SET concurrency = ?, throttled = throttled + ?, updated_at = ? WHERE id = ?")
            .bind(window)
            .bind(throttled_more)
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Replaces the plan (items and checklist) in one transaction.
    pub async fn replace_plan(&self, id: &str, items: &[PlannedItem], checklist: &[ChecklistItem], copy_state: ItemState) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM migration_items WHERE migration_id = ?").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM migration_checklist WHERE migration_id = ?").bind(id).execute(&mut *tx).await?;
        for it in items {
            let state = if it.action == ItemAction::Copy { copy_state } else { ItemState::Planned };
            sqlx::query("INSERT INTO migration_items (migration_id, repository, digest, media_type, tags, size_bytes, action, state, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
                .bind(id)
                .bind(&it.repository)
                .bind(&it.digest)
                .bind(&it.media_type)
                .bind(serde_json::to_string(&it.tags).unwrap_or_else(|_| "[]".into()))
                .bind(it.size_bytes)
                .bind(it.action.as_str())
                .bind(state.as_str())
                .bind(&it.detail)
                .execute(&mut *tx)
                .await?;
        }
        for (i, c) in checklist.iter().enumerate() {
            sqlx::query("INSERT INTO migration_checklist (migration_id, key, position, kind, title, source_value, target_value, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                .bind(id)
                .bind(&c.key)
                .bind(i as i64)
                .bind(&c.kind)
                .bind(&c.title)
                .bind(&c.source_value)
                .bind(&c.target_value)
                .bind(&c.status)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE migrations SET updated_at = ? WHERE id = ?").bind(now()).bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Turns a dry run's planned copies into pending ones (starting it).
    pub async fn plan_to_pending(&self, id: &str) -> Result<u64, StorageError> {
        let r = sqlx::query("UPDATE migration_items SET state = 'pending' WHERE migration_id = ? AND action = 'copy' AND state = 'planned'")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    /// Copy items still to do: pending, and importing ones a crash or stop
    /// interrupted (with or without their ARM handle).
    pub async fn items_to_copy(&self, id: &str) -> Result<Vec<ItemRow>, StorageError> {
        let rows = sqlx::query(
            "SELECT * FROM migration_items WHERE migration_id = ? AND action = 'copy' AND state IN ('pending', 'importing') ORDER BY state DESC, id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(item_row).collect()
    }

    /// Items verification looks at: everything copied or already present.
    pub async fn items_to_verify(&self, id: &str) -> Result<Vec<ItemRow>, StorageError> {
        let rows = sqlx::query(
            "SELECT * FROM migration_items WHERE migration_id = ? AND ((action = 'copy' AND state IN ('imported', 'verified', 'mismatch')) OR (action = 'present')) ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(item_row).collect()
    }

    /// Written before the ARM call: one more attempt, importing.
    pub async fn item_importing(&self, item: i64) -> Result<(), StorageError> {
        sqlx::query("UPDATE migration_items SET state = 'importing', attempts = attempts + 1, lro = NULL, error_code = NULL, error_message = NULL, started_at = COALESCE(started_at, ?) WHERE id = ?")
            .bind(now())
            .bind(item)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Written after ARM accepted: the handle to poll (and to resume from).
    pub async fn item_lro(&self, item: i64, lro: &serde_json::Value) -> Result<(), StorageError> {
        sqlx::query("UPDATE migration_items SET lro = ? WHERE id = ?").bind(lro.to_string()).bind(item).execute(&self.pool).await?;
        Ok(())
    }

    /// ARM throttled the request before processing it: not an attempt.
    pub async fn item_throttled(&self, item: i64) -> Result<(), StorageError> {
        sqlx::query("UPDATE migration_items SET state = 'pending', attempts = MAX(attempts - 1, 0), lro = NULL WHERE id = ?")
            .bind(item)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn item_pending(&self, item: i64, error: Option<(&str, &str)>) -> Result<(), StorageError> {
        sqlx::query("UPDATE migration_items SET state = 'pending', lro = NULL, error_code = ?, error_message = ? WHERE id = ?")
            .bind(error.map(|e| e.0))
            .bind(error.map(|e| e.1))
            .bind(item)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn item_finished(&self, item: i64, state: ItemState, error: Option<(&str, &str)>) -> Result<(), StorageError> {
        sqlx::query("UPDATE migration_items SET state = ?, error_code = ?, error_message = ?, finished_at = ? WHERE id = ?")
            .bind(state.as_str())
            .bind(error.map(|e| e.0))
            .bind(error.map(|e| e.1))
            .bind(now())
            .bind(item)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn item_verified(&self, item: i64, ok: bool, detail: Option<&str>) -> Result<(), StorageError> {
        sqlx::query("UPDATE migration_items SET state = ?, detail = ? WHERE id = ?")
            .bind(if ok { ItemState::Verified } else { ItemState::Mismatch }.as_str())
            .bind(detail)
            .bind(item)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// "Retry failed items only": failed copies become pending again.
    pub async fn retry_failed(&self, id: &str) -> Result<u64, StorageError> {
        let r = sqlx::query(
            "UPDATE migration_items SET state = 'pending', lro = NULL, finished_at = NULL WHERE migration_id = ? AND action = 'copy' AND state = 'failed'",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// Items, optionally by state or action.
    pub async fn migration_items(
        &self,
        id: &str,
        state: Option<ItemState>,
        action: Option<ItemAction>,
        limit: i64,
    ) -> Result<Vec<MigrationItemView>, StorageError> {
        self.migration_items_page(id, state, action, limit, None).await
    }

    /// Items in (repository, id) order, after `after` = `(repository, id)`.
    pub async fn migration_items_page(
        &self,
        id: &str,
        state: Option<ItemState>,
        action: Option<ItemAction>,
        limit: i64,
        after: Option<(String, i64)>,
    ) -> Result<Vec<MigrationItemView>, StorageError> {
        let (repo, item) = after.unzip();
        let rows = sqlx::query(
            "SELECT * FROM migration_items WHERE migration_id = ?1 AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR action = ?3)
             AND (?5 IS NULL OR repository > ?5 OR (repository = ?5 AND id > ?6)) ORDER BY repository, id LIMIT ?4",
        )
        .bind(id)
        .bind(state.map(ItemState::as_str))
        .bind(action.map(ItemAction::as_str))
        .bind(limit)
        .bind(repo)
        .bind(item)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(item_view).collect()
    }

    /// Total importImage requests ARM processed for a migration.
    pub async fn migration_attempts(&self, id: &str) -> Result<i64, StorageError> {
        Ok(sqlx::query("SELECT COALESCE(SUM(attempts), 0) AS n FROM migration_items WHERE migration_id = ?").bind(id).fetch_one(&self.pool).await?.get("n"))
    }

    pub async fn migration_repositories(&self, id: &str) -> Result<Vec<RepositoryProgress>, StorageError> {
        let rows = sqlx::query(
            "SELECT repository, COUNT(*) AS artifacts, COALESCE(SUM(action = 'copy'), 0) AS to_copy,
                COALESCE(SUM(action = 'copy' AND state IN ('imported', 'verified', 'mismatch')), 0) AS done,
                COALESCE(SUM(state = 'failed'), 0) AS failed, COALESCE(SUM(action = 'conflict'), 0) AS conflicts
             FROM migration_items WHERE migration_id = ? GROUP BY repository ORDER BY repository",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| RepositoryProgress {
                repository: r.get("repository"),
                artifacts: r.get("artifacts"),
                to_copy: r.get("to_copy"),
                done: r.get("done"),
                failed: r.get("failed"),
                conflicts: r.get("conflicts"),
            })
            .collect())
    }

    pub async fn checklist(&self, id: &str) -> Result<Vec<ChecklistItem>, StorageError> {
        let rows = sqlx::query("SELECT * FROM migration_checklist WHERE migration_id = ? ORDER BY position").bind(id).fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| ChecklistItem {
                key: r.get("key"),
                kind: r.get("kind"),
                title: r.get("title"),
                source_value: r.get("source_value"),
                target_value: r.get("target_value"),
                status: r.get("status"),
                done_by: r.get("done_by"),
                done_at: r.get("done_at"),
            })
            .collect())
    }

    /// Ticks (or unticks) a manual checklist item. `false` if there is no
    /// such manual item.
    pub async fn tick_checklist(&self, id: &str, key: &str, done: bool, actor: &str) -> Result<bool, StorageError> {
        let r = sqlx::query("UPDATE migration_checklist SET status = ?, done_by = ?, done_at = ? WHERE migration_id = ? AND key = ? AND kind = 'manual'")
            .bind(if done { "done" } else { "todo" })
            .bind(done.then_some(actor))
            .bind(done.then(now))
            .bind(id)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }
}
