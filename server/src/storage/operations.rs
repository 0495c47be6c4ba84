//! The operations table: every action, who asked, its ARM operation and outcome.

use async_trait::async_trait;
use regatlas_domain::{
    record::{NewOperation, Operation, OperationFilter},
    Actor, OperationKind, OperationState,
};

use super::{now, parsed, OperationStore, PgStore, SqliteStore, StorageError};

const SELECT: &str = "SELECT o.*, COALESCE(r.name, o.registry_id) AS registry_name FROM operations o LEFT JOIN registries r ON r.id = o.registry_id";

#[derive(sqlx::FromRow)]
struct OperationRecord {
    id: String,
    actor: String,
    actor_key: Option<String>,
    kind: String,
    registry_id: String,
    registry_name: String,
    target: String,
    params: String,
    state: String,
    percent: Option<f64>,
    error_code: Option<String>,
    error_message: Option<String>,
    lro: Option<String>,
    created_at: String,
    updated_at: String,
    finished_at: Option<String>,
}

impl TryFrom<OperationRecord> for Operation {
    type Error = StorageError;
    fn try_from(r: OperationRecord) -> Result<Operation, StorageError> {
        Ok(Operation {
            id: r.id,
            actor: Actor::from_stored(r.actor),
            actor_key: r.actor_key,
            kind: parsed("stored operation", r.kind.parse::<OperationKind>())?,
            registry_id: r.registry_id,
            registry_name: r.registry_name,
            target: r.target,
            params: r.params,
            state: parsed("stored operation", r.state.parse::<OperationState>())?,
            percent: r.percent,
            error_code: r.error_code,
            error_message: r.error_message,
            lro: r.lro,
            created_at: r.created_at,
            updated_at: r.updated_at,
            finished_at: r.finished_at,
        })
    }
}

/// The trait's implementation, the same SQL for both stores (`$db` is the
/// store's sqlx database).
macro_rules! impl_operation_store {
    ($store:ty, $db:ty) => {
        #[async_trait]
        impl OperationStore for $store {
            // The unique index on (registry, target) of open operations decides.
            async fn insert_operation(&self, op: &NewOperation) -> Result<Option<Operation>, StorageError> {
                let at = now();
                let r = sqlx::query(
                    "INSERT INTO operations (id, actor, actor_key, kind, registry_id, target, params, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9)",
                )
                .bind(&op.id)
                .bind(op.actor.as_str())
                .bind(&op.actor_key)
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

            async fn operation(&self, id: &str) -> Result<Option<Operation>, StorageError> {
                sqlx::query_as::<_, OperationRecord>(&format!("{SELECT} WHERE o.id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(Operation::try_from)
                    .transpose()
            }

            /// The active operation on a replica, if any.
            async fn active_operation_on(&self, registry_id: &str, target: &str) -> Result<Option<Operation>, StorageError> {
                sqlx::query_as::<_, OperationRecord>(&format!("{SELECT} WHERE o.registry_id = $1 AND o.target = $2 AND o.state IN ('pending', 'running')"))
                    .bind(registry_id)
                    .bind(target)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(Operation::try_from)
                    .transpose()
            }

            /// Stores ARM's operation handle: the operation is running.
            async fn operation_started(&self, id: &str, lro: Option<&serde_json::Value>) -> Result<(), StorageError> {
                // Only a pending one: an operation ended meanwhile (given up, or taken as interrupted) stays ended.
                sqlx::query("UPDATE operations SET state = 'running', lro = $1, percent = 0, updated_at = $2 WHERE id = $3 AND state = 'pending'")
                    .bind(lro.map(|v| v.to_string()))
                    .bind(now())
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            /// Progress of a running operation; only writes when the percentage moved.
            async fn operation_progress(&self, id: &str, percent: f64) -> Result<bool, StorageError> {
                let r = sqlx::query("UPDATE operations SET percent = $1, updated_at = $2 WHERE id = $3 AND state = 'running' AND (percent IS NULL OR percent <> $4)")
                    .bind(percent)
                    .bind(now())
                    .bind(id)
                    .bind(percent)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            /// Final state: `succeeded`, `failed` (with ARM's code and message) or `unknown`.
            async fn operation_finished(&self, id: &str, state: OperationState, error: Option<(&str, &str)>) -> Result<bool, StorageError> {
                let state = state.as_str();
                let at = now();
                // Only an open operation ends: the first outcome recorded stays.
                let done = sqlx::query("UPDATE operations SET state = $1, percent = CASE WHEN $2 = 'succeeded' THEN 100 ELSE percent END, error_code = $3, error_message = $4, updated_at = $5, finished_at = $6 WHERE id = $7 AND state IN ('pending', 'running')")
                    .bind(state)
                    .bind(state)
                    .bind(error.map(|e| e.0))
                    .bind(error.map(|e| e.1))
                    .bind(&at)
                    .bind(&at)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            /// Operations still pending or running (resumed at start-up), with their handles.
            async fn unfinished_operations(&self) -> Result<Vec<Operation>, StorageError> {
                let rows = sqlx::query_as::<_, OperationRecord>(&format!("{SELECT} WHERE o.state IN ('pending', 'running') ORDER BY o.created_at"))
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(Operation::try_from).collect()
            }

            /// Newest first.
            async fn operations(&self, f: &OperationFilter) -> Result<Vec<Operation>, StorageError> {
                let rows = sqlx::query_as::<_, OperationRecord>(&format!(
                    "{SELECT} WHERE ($1 IS NULL OR o.registry_id = $1) AND ($2 IS NULL OR o.kind = $2) AND ($3 IS NULL OR o.state = $3)
                     AND ($5 IS NULL OR o.created_at < $5 OR (o.created_at = $5 AND o.id < $6)) ORDER BY o.created_at DESC, o.id DESC LIMIT $4"
                ))
                .bind(&f.registry_id)
                .bind(f.kind.map(OperationKind::as_str))
                .bind(f.state.map(OperationState::as_str))
                .bind(if f.limit > 0 { f.limit } else { 200 })
                .bind(f.before.as_ref().map(|b| b.0.clone()))
                .bind(f.before.as_ref().map(|b| b.1.clone()))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(Operation::try_from).collect()
            }
        }
    };
}

impl_operation_store!(SqliteStore, sqlx::Sqlite);
impl_operation_store!(PgStore, sqlx::Postgres);
