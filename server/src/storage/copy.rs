//! `regatlas db copy`: moves an installation from SQLite to PostgreSQL.
//!
//! Both schemas are brought to this version first (their migrations run),
//! then every table is copied in dependency order, 500 rows to a
//! transaction (read from SQLite in one read transaction, so all tables as
//! of one moment, paged by rowid), each column decoded from SQLite as the PostgreSQL column's
//! type (text, bigint, boolean, double precision). Item counts are not
//! copied: the target's trigger makes them from the items. Identity
//! columns are moved past the copied ids. Sessions are not copied (people
//! sign in again). The target must be empty; the copy is checked by
//! counting each table's rows on both sides.

use sqlx::{Connection, Row};

use super::{redact_url, PgStore, SqliteStore, StorageError};

/// Tables in the order their references allow, with their identity column if any.
const TABLES: &[(&str, Option<&str>)] = &[
    ("instance_info", None),
    ("registries", None),
    ("replicas", None),
    ("children", None),
    ("events", Some("id")),
    ("operations", None),
    ("migrations", None),
    ("migration_items", Some("id")),
    ("migration_checklist", None),
    ("principals", None),
    ("api_tokens", None),
    ("presence_tracking", None),
    ("presence_hooks", None),
    ("presence_pushes", Some("id")),
    ("presence_arrivals", None),
    ("presence_heads", None),
    ("presence_tags", None),
    ("transfers", None),
];

const BATCH: usize = 500;

/// What a copy moved: rows per table (the same on both sides).
#[derive(Debug, Clone, PartialEq)]
pub struct Copied {
    pub tables: Vec<(String, i64)>,
}

/// Copies the SQLite database at `from` into the (empty) PostgreSQL database at `to`.
pub async fn sqlite_to_postgres(from: &str, to: &str) -> Result<Copied, StorageError> {
    let source = SqliteStore::open(from).await?;
    let target = PgStore::open(to).await?;
    let shown = redact_url(to);
    let mut dst = target.pool.acquire().await?;
    for (table, _) in TABLES.iter().filter(|(t, _)| *t != "instance_info") {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&mut *dst).await?;
        if n > 0 {
            return Err(StorageError::Invalid(format!("the target {shown} is not empty ({table} has {n} rows): copy into a new database")));
        }
    }
    let mut copied = Vec::new();
    // One read transaction: every table as of one moment (WAL snapshot).
    let mut src = source.pool.begin().await?;
    for (table, identity) in TABLES {
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&mut *dst)
        .await?;
        if columns.is_empty() {
            return Err(StorageError::Invalid(format!("the target has no table {table}")));
        }
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        let list = names.join(", ");
        let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
        let insert = format!("INSERT INTO {table} ({list}) VALUES ({})", placeholders.join(", "));
        if *table == "instance_info" {
            sqlx::query("DELETE FROM instance_info").execute(&mut *dst).await?;
        }
        let mut after = i64::MIN;
        let mut moved = 0i64;
        loop {
            // Paged by rowid (column 0), not by OFFSET: each page is one index seek.
            let rows = sqlx::query(&format!("SELECT rowid, {list} FROM {table} WHERE rowid > $1 ORDER BY rowid LIMIT $2"))
                .bind(after)
                .bind(BATCH as i64)
                .fetch_all(&mut *src)
                .await?;
            if rows.is_empty() {
                break;
            }
            let mut tx = dst.begin().await?;
            for row in &rows {
                let mut q = sqlx::query(&insert);
                for (i, (name, ty)) in columns.iter().enumerate().map(|(i, c)| (i + 1, c)) {
                    q = match ty.as_str() {
                        "bigint" | "integer" => q.bind(row.try_get::<Option<i64>, _>(i)?),
                        "boolean" => q.bind(row.try_get::<Option<bool>, _>(i)?),
                        "double precision" | "real" => q.bind(row.try_get::<Option<f64>, _>(i)?),
                        "text" => q.bind(row.try_get::<Option<String>, _>(i)?),
                        other => return Err(StorageError::Invalid(format!("{table}.{name}: no copy for the type {other}"))),
                    };
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            moved += rows.len() as i64;
            if let Some(last) = rows.last() {
                after = last.try_get::<i64, _>(0)?;
            }
            if rows.len() < BATCH {
                break;
            }
        }
        if let Some(col) = identity {
            sqlx::query(&format!("SELECT setval(pg_get_serial_sequence('{table}', '{col}'), GREATEST(COALESCE((SELECT MAX({col}) FROM {table}), 0), 1))"))
                .execute(&mut *dst)
                .await?;
        }
        let there: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&mut *dst).await?;
        let here: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&mut *src).await?;
        if there != here || there != moved {
            return Err(StorageError::Invalid(format!("{table}: {here} rows in the source, {moved} copied, {there} in the target")));
        }
        tracing::info!(table, rows = moved, "copied");
        copied.push((table.to_string(), moved));
    }
    // The counts the trigger made must equal the items'.
    let counted: Option<i64> = sqlx::query_scalar("SELECT CAST(SUM(n) AS BIGINT) FROM migration_item_counts").fetch_one(&mut *dst).await?;
    let items: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM migration_items").fetch_one(&mut *dst).await?;
    if counted.unwrap_or(0) != items {
        return Err(StorageError::Invalid(format!("item counts {} for {items} items", counted.unwrap_or(0))));
    }
    // Only read: nothing to keep.
    src.rollback().await?;
    drop(dst);
    source.pool.close().await;
    target.pool.close().await;
    Ok(Copied { tables: copied })
}
