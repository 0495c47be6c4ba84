//! The operations table: every action, who asked, its ARM operation and outcome.

use regatlas_app::model::{OperationKind, OperationState, OperationView};
use sqlx::Row;

use super::{topology::now, Storage, StorageError};

/// A new action to record before ARM is called.
#[derive(Clone, Debug)]
pub struct NewOperation {
    pub id: String,
    pub actor: String,
    pub kind: OperationKind,
    pub registry_id: String,
    pub target: String,
    pub params: serde_json::Value,
}

/// Filters for listing operations.
#[derive(Clone, Debug, Default)]
pub struct OperationFilter {
    pub registry_id: Option<String>,
    pub kind: Option<OperationKind>,
    pub state: Option<OperationState>,
    pub limit: i64,
    /// Only operations older than this `(created_at, id)` (the next page).
    pub before: Option<(String, String)>,
}

const SELECT: &str = "SELECT o.*, COALESCE(r.name, o.registry_id) AS registry_name FROM operations o LEFT JOIN registries r ON r.id = o.registry_id";

fn view(r: &sqlx::sqlite::SqliteRow) -> Result<OperationView, StorageError> {
    let lro: Option<String> = r.get("lro");
    let kind: String = r.get("kind");
    let state: String = r.get("state");
    Ok(OperationView {
        id: r.get("id"),
        actor: r.get("actor"),
        kind: OperationKind::parse(&kind).ok_or_else(|| StorageError::Invalid(format!("unknown operation kind '{kind}' in the database")))?,
        registry_id: r.get("registry_id"),
        registry_name: r.get("registry_name"),
        target: r.get("target"),
        params: r.get("params"),
        state: OperationState::parse(&state).ok_or_else(|| StorageError::Invalid(format!("unknown operation state '{state}' in the database")))?,
        percent: r.get("percent"),
        error_code: r.get("error_code"),
        error_message: r.get("error_message"),
        arm_operation_url: lro.and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok()).and_then(|v| v["poll_url"].as_str().map(str::to_string)),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        finished_at: r.get("finished_at"),
    })
}

impl Storage {
    /// Records a pending operation. `Ok(None)` when another operation on the
    /// same replica is still pending or running (the unique index decides,
    /// so two servers or two operators cannot both get in).
    pub async fn insert_operation(&self, op: &NewOperation) -> Result<Option<OperationView>, StorageError> {
        let at = now();
        let r = sqlx::query(
            "INSERT INTO operations (id, actor, kind, registry_id, target, params, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
        )
        .bind(&op.id)
        .bind(&op.actor)
        .bind(op.kind.as_str())
        .bind(&op.registry_id)
        .bind(&op.target)
        .bind(op.params.to_string())
        .bind(&at)
        .bind(&at)
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => self.operation(&op.id).await,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn operation(&self, id: &str) -> Result<Option<OperationView>, StorageError> {
        let row = sqlx::query(&format!("{SELECT} WHERE o.id = ?")).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(view).transpose()
    }

    /// The active operation on a replica, if any.
    pub async fn active_operation_on(&self, registry_id: &str, target: &str) -> Result<Option<OperationView>, StorageError> {
        let row = sqlx::query(&format!("{SELECT} WHERE o.registry_id = ? AND o.target = ? AND o.state IN ('pending', 'running')"))
            .bind(registry_id)
            .bind(target)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(view).transpose()
    }

    /// Stores ARM's operation handle: the operation is running.
    pub async fn operation_started(&self, id: &str, lro: Option<&serde_json::Value>) -> Result<(), StorageError> {
        sqlx::query("UPDATE operations SET state = 'running', lro = ?, percent = 0, updated_at = ? WHERE id = ?")
            .bind(lro.map(|v| v.to_string()))
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Progress of a running operation; only writes when the percentage moved.
    pub async fn operation_progress(&self, id: &str, percent: f64) -> Result<bool, StorageError> {
        let r = sqlx::query("UPDATE operations SET percent = ?, updated_at = ? WHERE id = ? AND state = 'running' AND (percent IS NULL OR percent <> ?)")
            .bind(percent)
            .bind(now())
            .bind(id)
            .bind(percent)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Final state: `succeeded`, `failed` (with ARM's code and message) or `unknown`.
    pub async fn operation_finished(&self, id: &str, state: OperationState, error: Option<(&str, &str)>) -> Result<(), StorageError> {
        let state = state.as_str();
        let at = now();
        sqlx::query("UPDATE operations SET state = ?, percent = CASE WHEN ? = 'succeeded' THEN 100 ELSE percent END, error_code = ?, error_message = ?, updated_at = ?, finished_at = ? WHERE id = ?")
            .bind(state)
            .bind(state)
            .bind(error.map(|e| e.0))
            .bind(error.map(|e| e.1))
            .bind(&at)
            .bind(&at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Operations still pending or running (resumed at start-up), with their handles.
    pub async fn unfinished_operations(&self) -> Result<Vec<(OperationView, Option<String>)>, StorageError> {
        let rows = sqlx::query(&format!("{SELECT} WHERE o.state IN ('pending', 'running') ORDER BY o.created_at")).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((view(r)?, r.get("lro")))).collect()
    }

    /// Newest first.
    pub async fn operations(&self, f: &OperationFilter) -> Result<Vec<OperationView>, StorageError> {
        let rows = sqlx::query(&format!(
            "{SELECT} WHERE (?1 IS NULL OR o.registry_id = ?1) AND (?2 IS NULL OR o.kind = ?2) AND (?3 IS NULL OR o.state = ?3)
             AND (?5 IS NULL OR o.created_at < ?5 OR (o.created_at = ?5 AND o.id < ?6)) ORDER BY o.created_at DESC, o.id DESC LIMIT ?4"
        ))
        .bind(&f.registry_id)
        .bind(f.kind.map(OperationKind::as_str))
        .bind(f.state.map(OperationState::as_str))
        .bind(if f.limit > 0 { f.limit } else { 200 })
        .bind(f.before.as_ref().map(|b| b.0.clone()))
        .bind(f.before.as_ref().map(|b| b.1.clone()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(view).collect()
    }

    /// Rows in registries, replicas, children and events (the benchmark's check that a quiet cycle wrote nothing).
    pub async fn row_counts(&self) -> Result<(i64, i64, i64, i64), StorageError> {
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM registries), (SELECT COUNT(*) FROM replicas), (SELECT COUNT(*) FROM children), (SELECT COUNT(*) FROM events)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((r.get(0), r.get(1), r.get(2), r.get(3)))
    }
}
