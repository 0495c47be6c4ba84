//! Storage: the only module that speaks SQL.
//!
//! SQLite is the embedded default (one file, WAL mode, busy timeout,
//! migrations from `migrations/` applied at start-up). PostgreSQL is planned
//! for multi-instance deployments; everything above this module uses
//! [`Storage`]'s methods and never sees a query.

pub mod migrations;
pub mod operations;
pub mod topology;

use std::{str::FromStr, time::Duration};

use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    SqlitePool,
};

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid database URL {url:?}: {source}")]
    Url { url: String, source: sqlx::Error },
    #[error("cannot open database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("cannot apply migrations to {url}: {source}")]
    Migrate { url: String, source: sqlx::migrate::MigrateError },
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the database holds something this version cannot read: {0}")]
    Invalid(String),
    #[error("cannot open database {url}: {source}")]
    Permissions { url: String, source: std::io::Error },
}

/// The database, its WAL and shared-memory files are the owner's alone
/// (0600): created so, and tightened if an older file was readable by others.
/// SQLite creates `-wal` and `-shm` with the database file's permissions.
fn restrict_permissions(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let name = path.to_string_lossy();
        if name.is_empty() || name == ":memory:" || name.starts_with("file::memory:") {
            return Ok(());
        }
        if !path.exists() {
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
        }
        for p in [path.to_path_buf(), std::path::PathBuf::from(format!("{name}-wal")), std::path::PathBuf::from(format!("{name}-shm"))] {
            if let Ok(meta) = std::fs::metadata(&p) {
                if meta.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(path = %p.display(), "database file was readable by others; now 0600");
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Handle to the database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Storage {
    pool: SqlitePool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

impl Storage {
    /// Opens (creating if missing) the database, sets WAL and a busy timeout,
    /// and applies pending migrations.
    pub async fn open(url: &str) -> Result<Storage, StorageError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|source| StorageError::Url { url: url.to_string(), source })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        restrict_permissions(options.get_filename()).map_err(|e| StorageError::Permissions { url: url.to_string(), source: e })?;
        let pool =
            SqlitePoolOptions::new().max_connections(8).connect_with(options).await.map_err(|source| StorageError::Open { url: url.to_string(), source })?;
        MIGRATOR.run(&pool).await.map_err(|source| StorageError::Migrate { url: url.to_string(), source })?;
        tracing::info!(%url, "database ready");
        Ok(Storage { pool })
    }

    /// A cheap round trip, used by `/readyz`.
    pub async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The journal mode actually in effect (expected: `wal`).
    pub async fn journal_mode(&self) -> Result<String, StorageError> {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&self.pool).await?;
        Ok(mode)
    }

    /// Version of the newest applied migration.
    pub async fn schema_version(&self) -> Result<i64, StorageError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = 1").fetch_one(&self.pool).await?;
        Ok(v.unwrap_or(0))
    }

    /// Closes the pool, flushing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
