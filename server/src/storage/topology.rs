//! Topology tables (registries, replicas, children) and the events history.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use regatlas_domain::{
    record::{ChangeSet, ChildRow, Event, EventQuery, EventSelector, NewEvent, RegistryRow, RegistryTopology, ReplicaRow, Seen, Stored, StoredTopology},
    ChildKind, EventKind, Region, RegistryName,
};
use sqlx::Row;

use super::{now, parsed, Dialect, PgStore, SqliteStore, StorageError, TopologyStore};

/// The times every topology row carries; `gone_at` set means ARM stopped returning it.
fn seen(first_seen: String, changed_at: String, confirmed_at: String, gone_at: Option<String>) -> Seen {
    Seen { first_seen, changed_at, confirmed_at, gone: gone_at.is_some() }
}

#[derive(sqlx::FromRow)]
struct RegistryRecord {
    id: String,
    arm_id: String,
    subscription_id: String,
    resource_group: String,
    name: String,
    location: String,
    sku: String,
    login_server: Option<String>,
    provisioning_state: Option<String>,
    zone_redundancy: Option<String>,
    doc: String,
    first_seen: String,
    changed_at: String,
    confirmed_at: String,
    gone_at: Option<String>,
}

impl RegistryRecord {
    fn into_parts(self) -> Result<(RegistryRow, Seen), StorageError> {
        let seen = seen(self.first_seen, self.changed_at, self.confirmed_at, self.gone_at);
        let row = RegistryRow {
            id: self.id,
            arm_id: self.arm_id,
            subscription_id: self.subscription_id,
            resource_group: self.resource_group,
            name: parsed("stored registry", RegistryName::parse(self.name))?,
            location: parsed("stored registry", Region::parse(self.location))?,
            sku: self.sku,
            login_server: self.login_server,
            provisioning_state: self.provisioning_state,
            zone_redundancy: self.zone_redundancy,
            doc: self.doc,
        };
        Ok((row, seen))
    }
}

#[derive(sqlx::FromRow)]
struct ReplicaRecord {
    id: String,
    registry_id: String,
    name: String,
    location: String,
    provisioning_state: Option<String>,
    display_status: Option<String>,
    status_message: Option<String>,
    status_timestamp: Option<String>,
    region_endpoint_enabled: Option<bool>,
    zone_redundancy: Option<String>,
    doc: String,
    first_seen: String,
    changed_at: String,
    confirmed_at: String,
    gone_at: Option<String>,
}

impl ReplicaRecord {
    fn into_parts(self) -> Result<(ReplicaRow, Seen), StorageError> {
        let seen = seen(self.first_seen, self.changed_at, self.confirmed_at, self.gone_at);
        let row = ReplicaRow {
            id: self.id,
            registry_id: self.registry_id,
            name: self.name,
            location: parsed("stored replica", Region::parse(self.location))?,
            provisioning_state: self.provisioning_state,
            display_status: self.display_status,
            status_message: self.status_message,
            status_timestamp: self.status_timestamp,
            region_endpoint_enabled: self.region_endpoint_enabled,
            zone_redundancy: self.zone_redundancy,
            doc: self.doc,
        };
        Ok((row, seen))
    }
}

#[derive(sqlx::FromRow)]
struct ChildRecord {
    id: String,
    registry_id: String,
    kind: String,
    name: String,
    state: Option<String>,
    doc: String,
    first_seen: String,
    changed_at: String,
    confirmed_at: String,
    gone_at: Option<String>,
}

impl ChildRecord {
    fn into_parts(self) -> Result<(ChildRow, Seen), StorageError> {
        let seen = seen(self.first_seen, self.changed_at, self.confirmed_at, self.gone_at);
        let row = ChildRow {
            id: self.id,
            registry_id: self.registry_id,
            kind: parsed("stored child", self.kind.parse::<ChildKind>())?,
            name: self.name,
            state: self.state,
            doc: self.doc,
        };
        Ok((row, seen))
    }
}

#[derive(sqlx::FromRow)]
struct EventRecord {
    id: i64,
    at: String,
    kind: String,
    actor: Option<String>,
    registry_id: Option<String>,
    subject_id: Option<String>,
    summary: String,
    data: String,
}

impl TryFrom<EventRecord> for Event {
    type Error = StorageError;
    fn try_from(e: EventRecord) -> Result<Event, StorageError> {
        Ok(Event {
            id: e.id,
            at: e.at,
            kind: parsed("stored event", e.kind.parse::<EventKind>())?,
            actor: e.actor,
            registry_id: e.registry_id,
            subject_id: e.subject_id,
            summary: e.summary,
            data: e.data,
        })
    }
}

fn events_of(rows: Vec<EventRecord>) -> Result<Vec<Event>, StorageError> {
    rows.into_iter().map(Event::try_from).collect()
}

/// `LIKE` pattern of an event selector (kinds are fixed strings without wildcards).
fn kind_pattern(s: EventSelector) -> String {
    match s {
        EventSelector::Kind(k) => k.as_str().to_string(),
        EventSelector::Family(f) => format!("{}.%", f.as_str()),
    }
}

fn stored<T>((row, seen): (T, Seen)) -> Stored<T> {
    Stored { row, gone: seen.gone }
}

/// A topology row this version cannot read (a name outside the grammar,
/// written before names were checked) is left out and logged, so one bad
/// row cannot take every page, or the start, down with it.
fn readable<T>(r: Result<T, StorageError>) -> Option<T> {
    r.map_err(|e| tracing::warn!(error = %e, "a stored topology row is left out")).ok()
}

/// The trait's implementation, the same SQL for both stores (`$db` is the
/// store's sqlx database).
macro_rules! impl_topology_store {
    ($store:ty, $db:ty) => {
        #[async_trait]
        impl TopologyStore for $store {
            async fn stored_topology(&self) -> Result<StoredTopology, StorageError> {
                let registries = sqlx::query_as::<_, RegistryRecord>("SELECT * FROM registries")
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .filter_map(|r| readable(r.into_parts()).map(stored))
                    .collect();
                let replicas = sqlx::query_as::<_, ReplicaRecord>("SELECT * FROM replicas")
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .filter_map(|r| readable(r.into_parts()).map(stored))
                    .collect();
                let children = sqlx::query_as::<_, ChildRecord>("SELECT * FROM children")
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .filter_map(|r| readable(r.into_parts()).map(stored))
                    .collect();
                Ok(StoredTopology { registries, replicas, children })
            }

            async fn apply(&self, cs: &ChangeSet) -> Result<Vec<Event>, StorageError> {
                if cs.is_empty() {
                    return Ok(Vec::new());
                }
                let at = now();
                let mut tx = self.pool.begin().await?;
                for r in &cs.registries {
                    sqlx::query(
                        "INSERT INTO registries (id, arm_id, subscription_id, resource_group, name, location, sku, login_server, provisioning_state, zone_redundancy, doc, first_seen, changed_at, confirmed_at, gone_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $12, NULL)
                         ON CONFLICT (id) DO UPDATE SET arm_id = $2, subscription_id = $3, resource_group = $4, name = $5, location = $6, sku = $7,
                           login_server = $8, provisioning_state = $9, zone_redundancy = $10, doc = $11, changed_at = $12, confirmed_at = $12, gone_at = NULL",
                    )
                    .bind(&r.id).bind(&r.arm_id).bind(&r.subscription_id).bind(&r.resource_group).bind(r.name.as_str()).bind(r.location.as_str()).bind(&r.sku)
                    .bind(&r.login_server).bind(&r.provisioning_state).bind(&r.zone_redundancy).bind(&r.doc).bind(&at)
                    .execute(&mut *tx)
                    .await?;
                }
                for r in &cs.replicas {
                    sqlx::query(
                        "INSERT INTO replicas (id, registry_id, name, location, provisioning_state, display_status, status_message, status_timestamp, region_endpoint_enabled, zone_redundancy, doc, first_seen, changed_at, confirmed_at, gone_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $12, NULL)
                         ON CONFLICT (id) DO UPDATE SET name = $3, location = $4, provisioning_state = $5, display_status = $6, status_message = $7,
                           status_timestamp = $8, region_endpoint_enabled = $9, zone_redundancy = $10, doc = $11, changed_at = $12, confirmed_at = $12, gone_at = NULL",
                    )
                    .bind(&r.id).bind(&r.registry_id).bind(&r.name).bind(r.location.as_str()).bind(&r.provisioning_state).bind(&r.display_status)
                    .bind(&r.status_message).bind(&r.status_timestamp).bind(r.region_endpoint_enabled).bind(&r.zone_redundancy)
                    .bind(&r.doc).bind(&at)
                    .execute(&mut *tx)
                    .await?;
                }
                for c in &cs.children {
                    sqlx::query(
                        "INSERT INTO children (id, registry_id, kind, name, state, doc, first_seen, changed_at, confirmed_at, gone_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7, NULL)
                         ON CONFLICT (id) DO UPDATE SET kind = $3, name = $4, state = $5, doc = $6, changed_at = $7, confirmed_at = $7, gone_at = NULL",
                    )
                    .bind(&c.id)
                    .bind(&c.registry_id)
                    .bind(c.kind.as_str())
                    .bind(&c.name)
                    .bind(&c.state)
                    .bind(&c.doc)
                    .bind(&at)
                    .execute(&mut *tx)
                    .await?;
                }
                for (table, ids) in [("registries", &cs.gone_registries), ("replicas", &cs.gone_replicas), ("children", &cs.gone_children)] {
                    for id in ids {
                        sqlx::query(&format!("UPDATE {table} SET gone_at = $1, changed_at = $1 WHERE id = $2 AND gone_at IS NULL"))
                            .bind(&at)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                let mut out = Vec::with_capacity(cs.events.len());
                for e in &cs.events {
                    out.push(Self::insert_event(&mut tx, &at, e).await?);
                }
                tx.commit().await?;
                Ok(out)
            }

            async fn topology(&self) -> Result<Vec<RegistryTopology>, StorageError> {
                let regs = sqlx::query_as::<_, RegistryRecord>("SELECT * FROM registries ORDER BY name").fetch_all(&self.pool).await?;
                let reps = sqlx::query_as::<_, ReplicaRecord>("SELECT * FROM replicas ORDER BY location").fetch_all(&self.pool).await?;
                let children = sqlx::query_as::<_, ChildRecord>("SELECT * FROM children ORDER BY kind, name").fetch_all(&self.pool).await?;
                let mut out = Vec::with_capacity(regs.len());
                let mut index = std::collections::HashMap::with_capacity(regs.len());
                for (registry, seen) in regs.into_iter().filter_map(|r| readable(r.into_parts())) {
                    index.insert(registry.id.clone(), out.len());
                    out.push(RegistryTopology { registry, seen, replicas: Vec::new(), children: Vec::new() });
                }
                for (replica, seen) in reps.into_iter().filter_map(|r| readable(r.into_parts())) {
                    if let Some(&i) = index.get(&replica.registry_id) {
                        out[i].replicas.push((replica, seen));
                    }
                }
                for (child, seen) in children.into_iter().filter_map(|c| readable(c.into_parts())) {
                    if let Some(&i) = index.get(&child.registry_id) {
                        out[i].children.push((child, seen));
                    }
                }
                Ok(out)
            }

            async fn registry_id_by_name(&self, name: &str) -> Result<Option<String>, StorageError> {
                Ok(sqlx::query_scalar("SELECT id FROM registries WHERE lower(name) = lower($1) AND gone_at IS NULL ORDER BY id LIMIT 1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn registry_topology(&self, name_or_id: &str) -> Result<Option<RegistryTopology>, StorageError> {
                let Some(r) = sqlx::query_as::<_, RegistryRecord>(
                    "SELECT * FROM registries WHERE gone_at IS NULL AND (lower(name) = lower($1) OR id = lower($1)) ORDER BY id LIMIT 1",
                )
                .bind(name_or_id)
                .fetch_optional(&self.pool)
                .await?
                else {
                    return Ok(None);
                };
                let Some((registry, seen)) = readable(r.into_parts()) else { return Ok(None) };
                let replicas = sqlx::query_as::<_, ReplicaRecord>("SELECT * FROM replicas WHERE registry_id = $1 ORDER BY location")
                    .bind(&registry.id)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .filter_map(|r| readable(r.into_parts()))
                    .collect();
                let children = sqlx::query_as::<_, ChildRecord>("SELECT * FROM children WHERE registry_id = $1 ORDER BY kind, name")
                    .bind(&registry.id)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .filter_map(|c| readable(c.into_parts()))
                    .collect();
                Ok(Some(RegistryTopology { registry, seen, replicas, children }))
            }

            async fn append_event(&self, e: &NewEvent) -> Result<Event, StorageError> {
                let mut tx = self.pool.begin().await?;
                let v = Self::insert_event(&mut tx, &now(), e).await?;
                tx.commit().await?;
                Ok(v)
            }

            async fn events_after(&self, after: i64, limit: i64) -> Result<Vec<Event>, StorageError> {
                let rows =
                    sqlx::query_as::<_, EventRecord>("SELECT id, at, kind, actor, registry_id, subject_id, summary, data FROM events WHERE id > $1 ORDER BY id LIMIT $2")
                        .bind(after)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?;
                events_of(rows)
            }

            async fn events(&self, q: &EventQuery) -> Result<Vec<Event>, StorageError> {
                let rows = sqlx::query_as::<_, EventRecord>(
                    "SELECT id, at, kind, actor, registry_id, subject_id, summary, data FROM events
                     WHERE ($1 IS NULL OR registry_id = $1) AND ($2 IS NULL OR kind LIKE $2) AND ($3 IS NULL OR subject_id = $3) AND ($4 IS NULL OR id < $4)
                       AND ($6 IS NULL OR actor = $6)
                     ORDER BY id DESC LIMIT $5",
                )
                .bind(&q.registry_id)
                .bind(q.kind.map(kind_pattern))
                .bind(&q.subject_id)
                .bind(q.before)
                .bind(q.limit)
                .bind(&q.actor)
                .fetch_all(&self.pool)
                .await?;
                events_of(rows)
            }

            async fn prune_events(&self, cutoff: DateTime<Utc>) -> Result<u64, StorageError> {
                let r = sqlx::query("DELETE FROM events WHERE at < $1").bind(cutoff.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)).execute(&self.pool).await?;
                Ok(r.rows_affected())
            }

            async fn row_counts(&self) -> Result<(i64, i64, i64, i64), StorageError> {
                let r = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM registries), (SELECT COUNT(*) FROM replicas), (SELECT COUNT(*) FROM children), (SELECT COUNT(*) FROM events)",
                )
                .fetch_one(&self.pool)
                .await?;
                Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
            }

            async fn set_shared(&self, key: &str, value: &str) -> Result<(), StorageError> {
                sqlx::query("INSERT INTO instance_info (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                    .bind(key)
                    .bind(value)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn shared(&self, key: &str) -> Result<Option<String>, StorageError> {
                Ok(sqlx::query_scalar("SELECT value FROM instance_info WHERE key = $1").bind(key).fetch_optional(&self.pool).await?)
            }
        }

        impl $store {
            async fn insert_event(tx: &mut sqlx::Transaction<'_, $db>, at: &str, e: &NewEvent) -> Result<Event, StorageError> {
                // Ids in commit order: once an id is visible every lower one is
                // (a stream resuming after it misses nothing that commits late).
                if !<$db as Dialect>::EVENT_ORDER.is_empty() {
                    sqlx::query(<$db as Dialect>::EVENT_ORDER).execute(&mut **tx).await?;
                }
                let data = e.data.to_string();
                let id: i64 = sqlx::query_scalar("INSERT INTO events (at, kind, actor, registry_id, subject_id, summary, data) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id")
                    .bind(at)
                    .bind(e.kind.as_str())
                    .bind(&e.actor)
                    .bind(&e.registry_id)
                    .bind(&e.subject_id)
                    .bind(&e.summary)
                    .bind(&data)
                    .fetch_one(&mut **tx)
                    .await?;
                Ok(Event {
                    id,
                    at: at.to_string(),
                    kind: e.kind,
                    actor: e.actor.clone(),
                    registry_id: e.registry_id.clone(),
                    subject_id: e.subject_id.clone(),
                    summary: e.summary.clone(),
                    data,
                })
            }
        }
    };
}

impl_topology_store!(SqliteStore, sqlx::Sqlite);
impl_topology_store!(PgStore, sqlx::Postgres);
