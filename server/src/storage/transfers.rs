//! Transfers: the plan of pipeline runs started together, and who asked.

use async_trait::async_trait;
use regatlas_domain::{
    record::{PlannedRun, Transfer},
    Actor, PipelineKind,
};

use super::{now, parsed, PgStore, SqliteStore, StorageError};

/// Transfers started from the console.
#[async_trait]
pub trait TransferStore: Send + Sync {
    async fn insert_transfer(&self, t: &Transfer) -> Result<(), StorageError>;
    /// A registry's newest transfers first.
    async fn transfers(&self, registry_id: &str, limit: i64) -> Result<Vec<Transfer>, StorageError>;
    /// The transfer that planned a run, if any.
    async fn transfer_of_run(&self, registry_id: &str, run: &str) -> Result<Option<Transfer>, StorageError>;
}

#[derive(sqlx::FromRow)]
struct TransferRecord {
    id: String,
    registry_id: String,
    pipeline: String,
    kind: String,
    runs: String,
    actor: String,
    actor_key: String,
    created_at: String,
}

impl TryFrom<TransferRecord> for Transfer {
    type Error = StorageError;
    fn try_from(r: TransferRecord) -> Result<Transfer, StorageError> {
        Ok(Transfer {
            id: r.id,
            registry_id: r.registry_id,
            pipeline: r.pipeline,
            kind: parsed("stored transfer", r.kind.parse::<PipelineKind>())?,
            runs: parsed("stored transfer runs", serde_json::from_str::<Vec<PlannedRun>>(&r.runs))?,
            actor: Actor::from_stored(r.actor),
            actor_key: r.actor_key,
            created_at: r.created_at,
        })
    }
}

const SELECT: &str = "SELECT id, registry_id, pipeline, kind, runs, actor, actor_key, created_at FROM transfers";

/// The trait's implementation, the same SQL for both stores (`$db` is the
/// store's sqlx database).
macro_rules! impl_transfer_store {
    ($store:ty, $db:ty) => {
        #[async_trait]
        impl TransferStore for $store {
            async fn insert_transfer(&self, t: &Transfer) -> Result<(), StorageError> {
                let runs = serde_json::to_string(&t.runs).map_err(|e| StorageError::Invalid(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO transfers (id, registry_id, pipeline, kind, runs, actor, actor_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&t.id)
                .bind(&t.registry_id)
                .bind(&t.pipeline)
                .bind(t.kind.as_str())
                .bind(runs)
                .bind(t.actor.as_str())
                .bind(&t.actor_key)
                .bind(if t.created_at.is_empty() { now() } else { t.created_at.clone() })
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn transfers(&self, registry_id: &str, limit: i64) -> Result<Vec<Transfer>, StorageError> {
                let rows = sqlx::query_as::<_, TransferRecord>(&format!("{SELECT} WHERE registry_id = $1 ORDER BY created_at DESC, id LIMIT $2"))
                    .bind(registry_id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(Transfer::try_from).collect()
            }

            async fn transfer_of_run(&self, registry_id: &str, run: &str) -> Result<Option<Transfer>, StorageError> {
                let rows = sqlx::query_as::<_, TransferRecord>(&format!(
                    "{SELECT} WHERE registry_id = $1 AND lower(runs) LIKE $2 ESCAPE '\\' ORDER BY created_at DESC LIMIT 20"
                ))
                .bind(registry_id)
                // The stored JSON's `"run":"NAME"` (checked exactly below): the same
                // SQL on SQLite and PostgreSQL, without either's JSON functions.
                .bind(format!("%{}%", crate::storage::like_literal(&format!("\"run\":{}", serde_json::Value::from(run.to_ascii_lowercase())))))
                .fetch_all(&self.pool)
                .await?;
                for r in rows {
                    let t = Transfer::try_from(r)?;
                    if t.runs.iter().any(|p| p.run.eq_ignore_ascii_case(run)) {
                        return Ok(Some(t));
                    }
                }
                Ok(None)
            }
        }
    };
}

impl_transfer_store!(SqliteStore, sqlx::Sqlite);
impl_transfer_store!(PgStore, sqlx::Postgres);
