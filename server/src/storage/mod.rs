//! Storage: the only module that speaks SQL, behind the [`Store`] trait.
//!
//! The rest of the server holds a [`Storage`] (a cheap handle to a
//! `dyn Store`) and sees only domain records (`regatlas_domain::record`),
//! never a query, a row or a view model. SQLite ([`SqliteStore`]: one file,
//! WAL mode, busy timeout, migrations from `migrations/sqlite/` applied at
//! start-up) is the embedded default; PostgreSQL ([`PgStore`], migrations
//! from `migrations/postgres/`) serves several instances on one database.
//! Both implement every trait with the same SQL (`$N` placeholders, no
//! backend's own functions), written once in a macro per trait; the schemas
//! differ only in types (BIGINT, BOOLEAN, identity columns, PL/pgSQL for
//! the item counts).
//! Rows are mapped with `FromRow` (`try_get`), so a schema mismatch is an
//! error, and stored states and names are parsed back into their domain
//! types ([`StorageError::Invalid`] when the database holds something this
//! version cannot read).

pub mod copy;
pub mod identity;
pub mod migrations;
pub mod operations;
pub mod presence;
pub mod topology;
pub mod transfers;

pub use presence::PresenceStore;
pub use transfers::TransferStore;

use std::{str::FromStr, sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use regatlas_domain::{
    record::{
        ApiToken, ChangeSet, ChecklistEntry, Event, EventQuery, ItemFilter, Migration, MigrationItem, NewApiToken, NewEvent, NewMigration, NewOperation,
        Operation, OperationFilter, Person, PlannedItem, RegistryTopology, RepositoryCounts, StoredTopology,
    },
    ItemState, MigrationState, OperationState, Principal, Role,
};
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    PgPool, SqlitePool,
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
    /// A batch of writes failed (the cause was logged where it happened).
    #[error("a batched write failed: {0}")]
    Batch(String),
}

/// What a batched write fails with when the engine's item writer is gone.
pub const WRITER_STOPPED: &str = "the item writer has stopped";

impl StorageError {
    /// Whether asking again later may succeed: a lost connection, a
    /// restart or fail-over, a busy, locked or full database. A migration
    /// waits for such a failure to pass instead of failing. A batched
    /// write counts as one (its cause was logged where it happened).
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Query(e) | StorageError::Open { source: e, .. } => transient(e),
            // The writer's own end is not something to wait out.
            StorageError::Batch(cause) => cause != WRITER_STOPPED,
            _ => false,
        }
    }
}

fn transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => match d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
            // SQLSTATE: connection exceptions, operator intervention (shutdown, crash, starting),
            // insufficient resources, serialization failure, deadlock, read-only (a fail-over),
            // a statement or lock timeout.
            Some(pg) => {
                let c = pg.code();
                c.starts_with("08") || c.starts_with("57P") || c.starts_with("53") || matches!(c, "40001" | "40P01" | "25006" | "57014" | "55P03")
            }
            // SQLite's primary result codes: BUSY, LOCKED, IOERR, FULL.
            None => d.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13)),
        },
        _ => false,
    }
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

/// The topology the poller writes and the history of what changed.
#[async_trait]
pub trait TopologyStore: Send + Sync {
    /// Everything the poller diffs against (loaded once at start).
    async fn stored_topology(&self) -> Result<StoredTopology, StorageError>;
    /// Writes a change set in one transaction and returns the events it appended.
    async fn apply(&self, cs: &ChangeSet) -> Result<Vec<Event>, StorageError>;
    /// Every registry with its replicas and children, by name.
    async fn topology(&self) -> Result<Vec<RegistryTopology>, StorageError>;
    /// The id of the live registry with this name (names compare without case).
    async fn registry_id_by_name(&self, name: &str) -> Result<Option<String>, StorageError>;
    /// One live registry with its replicas and children, by name (without
    /// case) or by id: a lookup by key, not a scan of every registry.
    async fn registry_topology(&self, name_or_id: &str) -> Result<Option<RegistryTopology>, StorageError>;
    /// Appends one event on its own.
    async fn append_event(&self, e: &NewEvent) -> Result<Event, StorageError>;
    /// Events with an id above `after`, oldest first (SSE resume).
    async fn events_after(&self, after: i64, limit: i64) -> Result<Vec<Event>, StorageError>;
    /// Newest events first.
    async fn events(&self, q: &EventQuery) -> Result<Vec<Event>, StorageError>;
    /// Deletes history older than `cutoff`; returns how many events went.
    async fn prune_events(&self, cutoff: DateTime<Utc>) -> Result<u64, StorageError>;
    /// Rows in registries, replicas, children and events (the benchmark's check that a quiet cycle wrote nothing).
    async fn row_counts(&self) -> Result<(i64, i64, i64, i64), StorageError>;
    /// Keeps a small value other instances read (`instance_info`: the
    /// leader's poller state on PostgreSQL).
    async fn set_shared(&self, key: &str, value: &str) -> Result<(), StorageError>;
    async fn shared(&self, key: &str) -> Result<Option<String>, StorageError>;
}

/// Operators' actions on replicas and their ARM operations.
#[async_trait]
pub trait OperationStore: Send + Sync {
    /// Records a pending operation. `Ok(None)` when another operation on the
    /// same replica is still pending or running (the store decides, so two
    /// servers or two operators cannot both get in).
    async fn insert_operation(&self, op: &NewOperation) -> Result<Option<Operation>, StorageError>;
    async fn operation(&self, id: &str) -> Result<Option<Operation>, StorageError>;
    /// The active operation on a replica, if any.
    async fn active_operation_on(&self, registry_id: &str, target: &str) -> Result<Option<Operation>, StorageError>;
    /// Stores ARM's operation handle: the operation is running.
    async fn operation_started(&self, id: &str, lro: Option<&serde_json::Value>) -> Result<(), StorageError>;
    /// Progress of a running operation; `true` only when the percentage moved.
    async fn operation_progress(&self, id: &str, percent: f64) -> Result<bool, StorageError>;
    /// Final state, with ARM's code and message when it failed.
    /// Ends an open operation; `false` when it had already ended (its first outcome stays).
    async fn operation_finished(&self, id: &str, state: OperationState, error: Option<(&str, &str)>) -> Result<bool, StorageError>;
    /// Operations still pending or running (resumed at start-up), oldest first.
    async fn unfinished_operations(&self) -> Result<Vec<Operation>, StorageError>;
    async fn operations(&self, f: &OperationFilter) -> Result<Vec<Operation>, StorageError>;
}

/// Migrations, their items (one per digest per repository) and checklists.
/// Item rows are the engine's durable memory: state, attempts and the ARM
/// operation handle are written before and after every ARM call.
#[async_trait]
pub trait MigrationStore: Send + Sync {
    async fn insert_migration(&self, m: &NewMigration) -> Result<(), StorageError>;
    /// The stored request of a migration.
    async fn migration_spec(&self, id: &str) -> Result<Option<serde_json::Value>, StorageError>;
    async fn migration(&self, id: &str) -> Result<Option<Migration>, StorageError>;
    /// Newest first, older than `before` = `(created_at, id)`; one query for the page.
    async fn migrations(&self, limit: i64, before: Option<(String, String)>) -> Result<Vec<Migration>, StorageError>;
    /// Migrations the engine must drive (after a restart, too).
    async fn active_migrations(&self) -> Result<Vec<String>, StorageError>;
    async fn migration_state(&self, id: &str) -> Result<Option<MigrationState>, StorageError>;
    /// Moves a migration to `state`. The copy phase's start and the end are stamped once.
    async fn set_migration_state(&self, id: &str, state: MigrationState, error: Option<&str>) -> Result<(), StorageError>;
    /// Keeps the inventory's findings (already cleaned and bounded).
    async fn set_migration_findings(&self, id: &str, findings: &[String]) -> Result<(), StorageError>;
    async fn migration_findings(&self, id: &str) -> Result<Vec<String>, StorageError>;
    /// Records a resume at start-up of a migration found mid-phase. `true`
    /// when it was found so before, in the same state and with no item
    /// finished since: a crash loop, which the caller must not resume.
    async fn note_crash_resume(&self, id: &str) -> Result<bool, StorageError>;
    /// The driver stopped cleanly (shutdown, or a state change): no crash to count.
    async fn clear_crash_resumes(&self, id: &str) -> Result<(), StorageError>;
    async fn set_migration_window(&self, id: &str, window: i64, throttled_more: i64) -> Result<(), StorageError>;
    /// Starts a plan afresh: the previous items and checklist go (a plan
    /// interrupted by a crash is made again from the start).
    async fn begin_plan(&self, id: &str) -> Result<(), StorageError>;
    /// Adds a batch of planned items in one transaction (copies in `copy_state`).
    async fn add_planned(&self, id: &str, items: &[PlannedItem], copy_state: ItemState) -> Result<(), StorageError>;
    /// Writes the plan's checklist, replacing any before it.
    async fn set_checklist(&self, id: &str, checklist: &[ChecklistEntry]) -> Result<(), StorageError>;
    /// Turns a dry run's planned copies into pending ones (starting it).
    async fn plan_to_pending(&self, id: &str) -> Result<u64, StorageError>;
    /// Claims for `instance` the items a crash or stop left importing (with
    /// or without their ARM handle) that it may resume: unclaimed, its own,
    /// or whose claimer's lease ran out; another instance's live claim is
    /// left alone. Renews `instance`'s lease to `lease_ms` from now (by the
    /// database's clock) in the same transaction. In id order.
    async fn claim_importing(&self, id: &str, instance: &str, lease_ms: i64) -> Result<Vec<MigrationItem>, StorageError>;
    /// The next `limit` pending copies after item `after`, in id order (claimed or not).
    async fn pending_items(&self, id: &str, after: i64, limit: i64) -> Result<Vec<MigrationItem>, StorageError>;
    /// Claims for `instance` the next `limit` pending copies after item
    /// `after` that are unclaimed, its own, or whose claimer's lease ran
    /// out, renewing its lease as [`MigrationStore::claim_importing`] does;
    /// on PostgreSQL rows another transaction is claiming are skipped (`FOR
    /// UPDATE SKIP LOCKED`), so two claimers never get the same item. In id order.
    async fn claim_pending(&self, id: &str, instance: &str, after: i64, limit: i64, lease_ms: i64) -> Result<Vec<MigrationItem>, StorageError>;
    /// Extends `instance`'s lease (every claim it holds lives by it) to
    /// `lease_ms` from now by the database's clock: one row, however many
    /// items it holds.
    async fn renew_lease(&self, instance: &str, lease_ms: i64) -> Result<(), StorageError>;
    /// Gives up every claim `instance` holds in this migration.
    async fn release_claims(&self, id: &str, instance: &str) -> Result<u64, StorageError>;
    /// Milliseconds until the first live lease of another instance holding
    /// a copy still pending or importing runs out; `None` when there is none.
    async fn foreign_claim(&self, id: &str, instance: &str) -> Result<Option<i64>, StorageError>;
    /// The next `limit` items verification looks at (copied or already
    /// present) after item `after`, in id order.
    async fn items_to_verify(&self, id: &str, after: i64, limit: i64) -> Result<Vec<MigrationItem>, StorageError>;
    /// Item state writes, in order, in one transaction (the engine's group
    /// commit): durable together when this returns.
    async fn write_items(&self, writes: &[ItemWrite]) -> Result<(), StorageError>;
    /// "Retry failed items only": failed copies become pending again.
    async fn retry_failed(&self, id: &str) -> Result<u64, StorageError>;
    async fn migration_items(&self, id: &str, f: &ItemFilter) -> Result<Vec<MigrationItem>, StorageError>;
    /// Per-repository counts, by name, after `after`, at most `limit` repositories.
    async fn migration_repositories(&self, id: &str, after: Option<&str>, limit: i64) -> Result<Vec<RepositoryCounts>, StorageError>;
    async fn checklist(&self, id: &str) -> Result<Vec<ChecklistEntry>, StorageError>;
    /// Ticks (or unticks) a manual checklist item. `false` if there is no such manual item.
    async fn tick_checklist(&self, id: &str, key: &str, done: bool, by: &Principal) -> Result<bool, StorageError>;
}

/// One write of an item's state by the engine; the copy loop and
/// verification send them in batches ([`MigrationStore::write_items`]).
#[derive(Clone, Debug, PartialEq)]
pub enum ItemWrite {
    /// Before the ARM call: one more attempt, importing.
    Importing(i64),
    /// ARM accepted: the operation handle to poll (and to resume from).
    Lro(i64, serde_json::Value),
    /// ARM throttled the request before processing it: not an attempt.
    Throttled(i64),
    /// Back to pending (a transient failure), with its error.
    Pending(i64, Option<(String, String)>),
    /// The import's outcome: imported or failed (with ARM's error).
    Finished(i64, ItemState, Option<(String, String)>),
    /// Verification's outcome, with its detail.
    Verified(i64, bool, Option<String>),
}

/// Who has signed in or acted, and the API tokens this console issued.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Records (or refreshes) a principal as seen now with its role.
    async fn saw_principal(&self, p: &Principal, role: Role) -> Result<(), StorageError>;
    /// Everyone seen, by name (the Activity page's person filter).
    async fn people(&self) -> Result<Vec<Person>, StorageError>;
    async fn insert_api_token(&self, t: &NewApiToken) -> Result<(), StorageError>;
    async fn api_token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, StorageError>;
    async fn api_token(&self, id: &str) -> Result<Option<ApiToken>, StorageError>;
    /// Newest first, revoked ones too.
    async fn api_tokens(&self) -> Result<Vec<ApiToken>, StorageError>;
    /// `false` when there is no such token or it was already revoked.
    async fn revoke_api_token(&self, id: &str, by: &Principal) -> Result<bool, StorageError>;
    async fn api_token_used(&self, id: &str) -> Result<(), StorageError>;
}

/// Everything the server stores, and the database's own health.
#[async_trait]
pub trait Store: TopologyStore + OperationStore + MigrationStore + IdentityStore + PresenceStore + TransferStore + std::fmt::Debug {
    /// A cheap round trip, used by `/readyz`.
    async fn ping(&self) -> Result<(), StorageError>;
    /// Version of the newest applied migration.
    async fn schema_version(&self) -> Result<i64, StorageError>;
    /// Closes the connections (SQLite: flushing the WAL).
    async fn close(&self);
    /// Where browser sessions are kept (the same database).
    fn session_store(&self) -> SessionStore;
    /// The database's size when the server can say (PostgreSQL); a SQLite
    /// file is measured on disk.
    async fn size_bytes(&self) -> Result<Option<i64>, StorageError> {
        Ok(None)
    }
    /// The PostgreSQL pool, for what only PostgreSQL does (leader election,
    /// `LISTEN`/`NOTIFY`); `None` on SQLite.
    fn postgres(&self) -> Option<PgPool> {
        None
    }
}

/// The browser sessions' store, in the server's database (table
/// `tower_sessions` on SQLite, `tower_sessions.session` on PostgreSQL).
#[derive(Clone, Debug)]
pub enum SessionStore {
    Sqlite(tower_sessions_sqlx_store::SqliteStore),
    Postgres(tower_sessions_sqlx_store::PostgresStore),
}

#[async_trait]
impl tower_sessions::SessionStore for SessionStore {
    async fn create(&self, record: &mut tower_sessions::session::Record) -> tower_sessions::session_store::Result<()> {
        match self {
            SessionStore::Sqlite(s) => s.create(record).await,
            SessionStore::Postgres(s) => s.create(record).await,
        }
    }
    async fn save(&self, record: &tower_sessions::session::Record) -> tower_sessions::session_store::Result<()> {
        match self {
            SessionStore::Sqlite(s) => s.save(record).await,
            SessionStore::Postgres(s) => s.save(record).await,
        }
    }
    async fn load(&self, id: &tower_sessions::session::Id) -> tower_sessions::session_store::Result<Option<tower_sessions::session::Record>> {
        match self {
            SessionStore::Sqlite(s) => s.load(id).await,
            SessionStore::Postgres(s) => s.load(id).await,
        }
    }
    async fn delete(&self, id: &tower_sessions::session::Id) -> tower_sessions::session_store::Result<()> {
        match self {
            SessionStore::Sqlite(s) => s.delete(id).await,
            SessionStore::Postgres(s) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl tower_sessions::ExpiredDeletion for SessionStore {
    async fn delete_expired(&self) -> tower_sessions::session_store::Result<()> {
        match self {
            SessionStore::Sqlite(s) => s.delete_expired().await,
            SessionStore::Postgres(s) => s.delete_expired().await,
        }
    }
}

/// Which store a database URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `postgres://` and `postgresql://` are PostgreSQL; anything else
    /// (`sqlite:` URLs, plain paths) is a SQLite file.
    pub fn of(url: &str) -> Backend {
        let lower = url.trim_start().to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// A configured database URL: shown (`Debug`, `Display`) with its password
/// masked; the whole URL only through `Deref` to the store that opens it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> DatabaseUrl {
        DatabaseUrl(url.into())
    }
    pub fn backend(&self) -> Backend {
        Backend::of(&self.0)
    }
}

impl std::ops::Deref for DatabaseUrl {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", redact_url(&self.0))
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl PartialEq<&str> for DatabaseUrl {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// A database URL with its password (and any `password=` parameter) masked,
/// for logs and errors.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let q: Vec<String> =
                query.split('&').map(|kv| if kv.to_ascii_lowercase().starts_with("password=") { "password=***".to_string() } else { kv.to_string() }).collect();
            format!("{path}?{}", q.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// What the server holds: a cheap handle to the configured store.
#[derive(Clone, Debug)]
pub struct Storage(Arc<dyn Store>);

impl std::ops::Deref for Storage {
    type Target = dyn Store;
    fn deref(&self) -> &(dyn Store + 'static) {
        &*self.0
    }
}

impl Storage {
    /// Opens the database a URL names (`sqlite:…` or a path, created if
    /// missing; `postgres://…`, which must exist) and applies pending migrations.
    pub async fn open(url: &str) -> Result<Storage, StorageError> {
        Ok(match Backend::of(url) {
            Backend::Sqlite => Storage(Arc::new(SqliteStore::open(url).await?)),
            Backend::Postgres => Storage(Arc::new(PgStore::open(url).await?)),
        })
    }

    /// A store this process built (tests, other backends).
    pub fn new(store: Arc<dyn Store>) -> Storage {
        Storage(store)
    }
}

/// The SQLite store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    sessions: SessionStore,
}

static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

impl SqliteStore {
    /// Opens (creating if missing) the database, sets WAL and a busy timeout,
    /// and applies pending migrations.
    pub async fn open(url: &str) -> Result<SqliteStore, StorageError> {
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
        let sessions = tower_sessions_sqlx_store::SqliteStore::new(pool.clone());
        sessions.migrate().await.map_err(|source| StorageError::Open { url: url.to_string(), source })?;
        tracing::info!(%url, "database ready");
        Ok(SqliteStore { pool, sessions: SessionStore::Sqlite(sessions) })
    }

    /// The journal mode actually in effect (expected: `wal`).
    pub async fn journal_mode(&self) -> Result<String, StorageError> {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&self.pool).await?;
        Ok(mode)
    }
}

/// What both stores answer alike (the same SQL; `$extra` is the rest of
/// one store's `Store`).
macro_rules! impl_store {
    ($store:ty { $($extra:tt)* }) => {
        #[async_trait]
        impl Store for $store {
            async fn ping(&self) -> Result<(), StorageError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn schema_version(&self) -> Result<i64, StorageError> {
                let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success").fetch_one(&self.pool).await?;
                Ok(v.unwrap_or(0))
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            fn session_store(&self) -> SessionStore {
                self.sessions.clone()
            }

            $($extra)*
        }
    };
}

impl_store!(SqliteStore {});

/// The PostgreSQL store: several instances share one database.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    sessions: SessionStore,
}

impl PgStore {
    /// Connects (the database must exist) and applies pending migrations;
    /// sqlx holds an advisory lock while it migrates, so instances may start
    /// together.
    pub async fn open(url: &str) -> Result<PgStore, StorageError> {
        let shown = redact_url(url);
        let options = PgConnectOptions::from_str(url).map_err(|source| StorageError::Url { url: shown.clone(), source })?.application_name("regatlas");
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|source| StorageError::Open { url: shown.clone(), source })?;
        PG_MIGRATOR.run(&pool).await.map_err(|source| StorageError::Migrate { url: shown.clone(), source })?;
        let sessions = tower_sessions_sqlx_store::PostgresStore::new(pool.clone());
        sessions.migrate().await.map_err(|source| StorageError::Open { url: shown.clone(), source })?;
        tracing::info!(url = %shown, "database ready");
        Ok(PgStore { pool, sessions: SessionStore::Postgres(sessions) })
    }
}

impl_store!(PgStore {
    fn postgres(&self) -> Option<PgPool> {
        Some(self.pool.clone())
    }

    async fn size_bytes(&self) -> Result<Option<i64>, StorageError> {
        Ok(Some(sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(&self.pool).await?))
    }
});

/// A stored value parsed back into its domain type, or [`StorageError::Invalid`].
pub(crate) fn parsed<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Result<T, StorageError> {
    r.map_err(|e| StorageError::Invalid(format!("{what}: {e}")))
}

/// What differs between the two stores' SQL (little, on purpose).
pub(crate) trait Dialect {
    /// `LIKE` ignoring ASCII case: SQLite's `LIKE` does, PostgreSQL's
    /// `ILIKE` does (its `LIKE` does not).
    const LIKE_NOCASE: &'static str;
    /// The database's clock in milliseconds since the epoch (claims are
    /// timed by the one clock every instance shares).
    const NOW_MS: &'static str;
    /// Row locks a claim's subquery takes: PostgreSQL skips rows another
    /// transaction holds; SQLite has one writer at a time.
    const SKIP_LOCKED: &'static str;
    /// Run in an event's transaction before its insert, so that event ids
    /// are given in commit order: PostgreSQL takes a transaction advisory
    /// lock (sequences are not transactional); SQLite has one writer.
    const EVENT_ORDER: &'static str;
}

impl Dialect for sqlx::Sqlite {
    const LIKE_NOCASE: &'static str = "LIKE";
    const NOW_MS: &'static str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
    const SKIP_LOCKED: &'static str = "";
    const EVENT_ORDER: &'static str = "";
}

impl Dialect for sqlx::Postgres {
    const LIKE_NOCASE: &'static str = "ILIKE";
    const NOW_MS: &'static str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";
    const SKIP_LOCKED: &'static str = "FOR UPDATE SKIP LOCKED";
    // The leader election's key (cluster::leader::LEADER_KEY) plus one.
    const EVENT_ORDER: &'static str = "SELECT pg_advisory_xact_lock(5928779264768955138)";
}

/// `%` and `_` taken literally in a LIKE pattern (escape character `\`).
pub(crate) fn like_literal(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// Now, as stored: RFC 3339 with milliseconds, UTC.
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
