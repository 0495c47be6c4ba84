//! Topology tables (registries, replicas, children) and the events history.

use chrono::{DateTime, Utc};
use regatlas_app::model::{ChildView, EventView, Health, RegistryView, ReplicaState, ReplicaView};
use serde_json::Value;
use sqlx::Row;

use super::{Storage, StorageError};

/// A registry as the poller writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryRow {
    pub id: String,
    pub arm_id: String,
    pub subscription_id: String,
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub sku: String,
    pub login_server: Option<String>,
    pub provisioning_state: Option<String>,
    pub zone_redundancy: Option<String>,
    pub doc: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaRow {
    pub id: String,
    pub registry_id: String,
    pub name: String,
    pub location: String,
    pub provisioning_state: Option<String>,
    pub display_status: Option<String>,
    pub status_message: Option<String>,
    pub status_timestamp: Option<String>,
    pub region_endpoint_enabled: Option<bool>,
    pub zone_redundancy: Option<String>,
    pub doc: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChildRow {
    pub id: String,
    pub registry_id: String,
    pub kind: String,
    pub name: String,
    pub state: Option<String>,
    pub doc: String,
}

/// An event to append to the history.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub kind: String,
    pub registry_id: Option<String>,
    pub subject_id: Option<String>,
    pub summary: String,
    pub data: Value,
}

/// What one poll found changed; written in one transaction.
#[derive(Clone, Debug, Default)]
pub struct ChangeSet {
    pub registries: Vec<RegistryRow>,
    pub replicas: Vec<ReplicaRow>,
    pub children: Vec<ChildRow>,
    pub gone_registries: Vec<String>,
    pub gone_replicas: Vec<String>,
    pub gone_children: Vec<String>,
    pub events: Vec<NewEvent>,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.registries.is_empty()
            && self.replicas.is_empty()
            && self.children.is_empty()
            && self.gone_registries.is_empty()
            && self.gone_replicas.is_empty()
            && self.gone_children.is_empty()
            && self.events.is_empty()
    }

    /// Rows this change set writes (for the benchmark's "rows written").
    pub fn row_count(&self) -> usize {
        self.registries.len()
            + self.replicas.len()
            + self.children.len()
            + self.gone_registries.len()
            + self.gone_replicas.len()
            + self.gone_children.len()
            + self.events.len()
    }
}

/// What the poller remembers of a stored row: its fingerprint and whether it is gone.
#[derive(Clone, Debug)]
pub struct Remembered {
    pub id: String,
    pub registry_id: String,
    pub fingerprint: String,
    /// Human-readable state, for "from → to" in history summaries.
    pub label: String,
    pub gone: bool,
}

pub fn registry_label(r: &RegistryRow) -> String {
    format!("{} {}", r.sku, r.provisioning_state.as_deref().unwrap_or("?"))
}

pub fn replica_label(r: &ReplicaRow) -> String {
    format!(
        "{}/{}, routing {}",
        r.provisioning_state.as_deref().unwrap_or("?"),
        r.display_status.as_deref().unwrap_or("?"),
        match r.region_endpoint_enabled {
            Some(true) => "on",
            Some(false) => "off",
            None => "?",
        }
    )
}

pub fn child_label(c: &ChildRow) -> String {
    c.state.clone().unwrap_or_else(|| "?".into())
}

pub fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn registry_fingerprint(r: &RegistryRow) -> String {
    format!("{}|{}|{}|{:?}|{:?}|{:?}", r.name, r.location, r.sku, r.login_server, r.provisioning_state, r.zone_redundancy)
}

/// The compared fields of a replica (the status timestamp is not compared:
/// it says when ARM computed the status, not that anything changed).
pub fn replica_fingerprint(r: &ReplicaRow) -> String {
    format!("{}|{:?}|{:?}|{:?}|{:?}|{:?}", r.location, r.provisioning_state, r.display_status, r.status_message, r.region_endpoint_enabled, r.zone_redundancy)
}

pub fn child_fingerprint(c: &ChildRow) -> String {
    format!("{}|{}|{:?}", c.kind, c.name, c.state)
}

fn event_view(row: &sqlx::sqlite::SqliteRow) -> EventView {
    EventView {
        id: row.get("id"),
        at: row.get("at"),
        kind: row.get("kind"),
        registry_id: row.get("registry_id"),
        subject_id: row.get("subject_id"),
        summary: row.get("summary"),
        data: row.get("data"),
    }
}

impl Storage {
    /// Everything the poller needs to diff against (loaded once at start).
    pub async fn remembered(&self) -> Result<(Vec<Remembered>, Vec<Remembered>, Vec<Remembered>), StorageError> {
        let regs = sqlx::query("SELECT id, arm_id, subscription_id, resource_group, name, location, sku, login_server, provisioning_state, zone_redundancy, doc, gone_at FROM registries")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                let row = RegistryRow {
                    id: r.get("id"),
                    arm_id: r.get("arm_id"),
                    subscription_id: r.get("subscription_id"),
                    resource_group: r.get("resource_group"),
                    name: r.get("name"),
                    location: r.get("location"),
                    sku: r.get("sku"),
                    login_server: r.get("login_server"),
                    provisioning_state: r.get("provisioning_state"),
                    zone_redundancy: r.get("zone_redundancy"),
                    doc: String::new(),
                };
                Remembered { fingerprint: registry_fingerprint(&row), label: registry_label(&row), registry_id: row.id.clone(), id: row.id, gone: r.get::<Option<String>, _>("gone_at").is_some() }
            })
            .collect();
        let reps = sqlx::query("SELECT id, registry_id, name, location, provisioning_state, display_status, status_message, region_endpoint_enabled, zone_redundancy, gone_at FROM replicas")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                let row = ReplicaRow {
                    id: r.get("id"),
                    registry_id: r.get("registry_id"),
                    name: r.get("name"),
                    location: r.get("location"),
                    provisioning_state: r.get("provisioning_state"),
                    display_status: r.get("display_status"),
                    status_message: r.get("status_message"),
                    status_timestamp: None,
                    region_endpoint_enabled: r.get::<Option<i64>, _>("region_endpoint_enabled").map(|v| v != 0),
                    zone_redundancy: r.get("zone_redundancy"),
                    doc: String::new(),
                };
                Remembered { fingerprint: replica_fingerprint(&row), label: replica_label(&row), registry_id: row.registry_id.clone(), id: row.id, gone: r.get::<Option<String>, _>("gone_at").is_some() }
            })
            .collect();
        let children = sqlx::query("SELECT id, registry_id, kind, name, state, gone_at FROM children")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                let row = ChildRow {
                    id: r.get("id"),
                    registry_id: r.get("registry_id"),
                    kind: r.get("kind"),
                    name: r.get("name"),
                    state: r.get("state"),
                    doc: String::new(),
                };
                Remembered {
                    fingerprint: child_fingerprint(&row),
                    label: child_label(&row),
                    registry_id: row.registry_id.clone(),
                    id: row.id,
                    gone: r.get::<Option<String>, _>("gone_at").is_some(),
                }
            })
            .collect();
        Ok((regs, reps, children))
    }

    /// Writes a change set in one transaction and returns the events it appended.
    pub async fn apply(&self, cs: &ChangeSet) -> Result<Vec<EventView>, StorageError> {
        if cs.is_empty() {
            return Ok(Vec::new());
        }
        let at = now();
        let mut tx = self.pool.begin().await?;
        for r in &cs.registries {
            sqlx::query(
                "INSERT INTO registries (id, arm_id, subscription_id, resource_group, name, location, sku, login_server, provisioning_state, zone_redundancy, doc, first_seen, changed_at, confirmed_at, gone_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?12, NULL)
                 ON CONFLICT (id) DO UPDATE SET arm_id = ?2, subscription_id = ?3, resource_group = ?4, name = ?5, location = ?6, sku = ?7,
                   login_server = ?8, provisioning_state = ?9, zone_redundancy = ?10, doc = ?11, changed_at = ?12, confirmed_at = ?12, gone_at = NULL",
            )
            .bind(&r.id).bind(&r.arm_id).bind(&r.subscription_id).bind(&r.resource_group).bind(&r.name).bind(&r.location).bind(&r.sku)
            .bind(&r.login_server).bind(&r.provisioning_state).bind(&r.zone_redundancy).bind(&r.doc).bind(&at)
            .execute(&mut *tx)
            .await?;
        }
        for r in &cs.replicas {
            sqlx::query(
                "INSERT INTO replicas (id, registry_id, name, location, provisioning_state, display_status, status_message, status_timestamp, region_endpoint_enabled, zone_redundancy, doc, first_seen, changed_at, confirmed_at, gone_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?12, NULL)
                 ON CONFLICT (id) DO UPDATE SET name = ?3, location = ?4, provisioning_state = ?5, display_status = ?6, status_message = ?7,
                   status_timestamp = ?8, region_endpoint_enabled = ?9, zone_redundancy = ?10, doc = ?11, changed_at = ?12, confirmed_at = ?12, gone_at = NULL",
            )
            .bind(&r.id).bind(&r.registry_id).bind(&r.name).bind(&r.location).bind(&r.provisioning_state).bind(&r.display_status)
            .bind(&r.status_message).bind(&r.status_timestamp).bind(r.region_endpoint_enabled.map(i64::from)).bind(&r.zone_redundancy)
            .bind(&r.doc).bind(&at)
            .execute(&mut *tx)
            .await?;
        }
        for c in &cs.children {
            sqlx::query(
                "INSERT INTO children (id, registry_id, kind, name, state, doc, first_seen, changed_at, confirmed_at, gone_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7, NULL)
                 ON CONFLICT (id) DO UPDATE SET kind = ?3, name = ?4, state = ?5, doc = ?6, changed_at = ?7, confirmed_at = ?7, gone_at = NULL",
            )
            .bind(&c.id)
            .bind(&c.registry_id)
            .bind(&c.kind)
            .bind(&c.name)
            .bind(&c.state)
            .bind(&c.doc)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        }
        for (table, ids) in [("registries", &cs.gone_registries), ("replicas", &cs.gone_replicas), ("children", &cs.gone_children)] {
            for id in ids {
                sqlx::query(&format!("UPDATE {table} SET gone_at = ?1, changed_at = ?1 WHERE id = ?2 AND gone_at IS NULL"))
                    .bind(&at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let mut out = Vec::with_capacity(cs.events.len());
        for e in &cs.events {
            out.push(insert_event(&mut tx, &at, e).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Appends one event on its own.
    pub async fn append_event(&self, e: &NewEvent) -> Result<EventView, StorageError> {
        let mut tx = self.pool.begin().await?;
        let v = insert_event(&mut tx, &now(), e).await?;
        tx.commit().await?;
        Ok(v)
    }

    /// Events with an id above `after`, oldest first (SSE resume).
    pub async fn events_after(&self, after: i64, limit: i64) -> Result<Vec<EventView>, StorageError> {
        let rows = sqlx::query("SELECT id, at, kind, registry_id, subject_id, summary, data FROM events WHERE id > ? ORDER BY id LIMIT ?")
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(event_view).collect())
    }

    /// Newest events first, optionally for one registry and/or kind prefix, before an id (paging).
    pub async fn events(
        &self,
        registry_id: Option<&str>,
        kind_prefix: Option<&str>,
        subject_id: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<EventView>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, at, kind, registry_id, subject_id, summary, data FROM events
             WHERE (?1 IS NULL OR registry_id = ?1) AND (?2 IS NULL OR kind LIKE ?2 || '%') AND (?3 IS NULL OR subject_id = ?3) AND (?4 IS NULL OR id < ?4)
             ORDER BY id DESC LIMIT ?5",
        )
        .bind(registry_id)
        .bind(kind_prefix)
        .bind(subject_id)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(event_view).collect())
    }

    /// Deletes history older than `cutoff`; returns how many events went.
    pub async fn prune_events(&self, cutoff: DateTime<Utc>) -> Result<u64, StorageError> {
        let r = sqlx::query("DELETE FROM events WHERE at < ?").bind(cutoff.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)).execute(&self.pool).await?;
        Ok(r.rows_affected())
    }

    /// Every registry with its replicas and children, by name.
    pub async fn registry_views(&self) -> Result<Vec<RegistryView>, StorageError> {
        let regs = sqlx::query("SELECT * FROM registries ORDER BY name").fetch_all(&self.pool).await?;
        let reps = sqlx::query("SELECT * FROM replicas ORDER BY location").fetch_all(&self.pool).await?;
        let children = sqlx::query("SELECT * FROM children ORDER BY kind, name").fetch_all(&self.pool).await?;
        let mut out: Vec<RegistryView> = regs
            .iter()
            .map(|r| RegistryView {
                id: r.get("id"),
                name: r.get("name"),
                subscription_id: r.get("subscription_id"),
                resource_group: r.get("resource_group"),
                location: r.get("location"),
                sku: r.get("sku"),
                login_server: r.get("login_server"),
                provisioning_state: r.get("provisioning_state"),
                zone_redundancy: r.get::<Option<String>, _>("zone_redundancy").is_some_and(|z| z.eq_ignore_ascii_case("enabled")),
                health: Health::Healthy,
                replicas: Vec::new(),
                children: Vec::new(),
                changed_at: r.get("changed_at"),
                confirmed_at: r.get("confirmed_at"),
                gone: r.get::<Option<String>, _>("gone_at").is_some(),
                poll_error: None,
            })
            .collect();
        for r in &reps {
            let reg_id: String = r.get("registry_id");
            if let Some(reg) = out.iter_mut().find(|x| x.id == reg_id) {
                let location: String = r.get("location");
                let provisioning: Option<String> = r.get("provisioning_state");
                let display: Option<String> = r.get("display_status");
                reg.replicas.push(ReplicaView {
                    id: r.get("id"),
                    name: r.get("name"),
                    home: location.eq_ignore_ascii_case(&reg.location),
                    state: ReplicaState::derive(provisioning.as_deref(), display.as_deref()),
                    location,
                    provisioning_state: provisioning,
                    display_status: display,
                    status_message: r.get("status_message"),
                    status_timestamp: r.get("status_timestamp"),
                    routing: r.get::<Option<i64>, _>("region_endpoint_enabled").map(|v| v != 0),
                    zone_redundancy: r.get::<Option<String>, _>("zone_redundancy").is_some_and(|z| z.eq_ignore_ascii_case("enabled")),
                    first_seen: r.get("first_seen"),
                    changed_at: r.get("changed_at"),
                    confirmed_at: r.get("confirmed_at"),
                    gone: r.get::<Option<String>, _>("gone_at").is_some(),
                });
            }
        }
        for c in &children {
            let reg_id: String = c.get("registry_id");
            if let Some(reg) = out.iter_mut().find(|x| x.id == reg_id) {
                let doc: String = c.get("doc");
                let detail = serde_json::from_str::<Value>(&doc).ok().and_then(|v| {
                    let p = &v["properties"];
                    p["mode"].as_str().map(|m| format!("mode {m}")).or_else(|| p["serviceUri"].as_str().map(str::to_string))
                });
                reg.children.push(ChildView {
                    id: c.get("id"),
                    kind: c.get("kind"),
                    name: c.get("name"),
                    state: c.get("state"),
                    detail,
                    confirmed_at: c.get("confirmed_at"),
                    gone: c.get::<Option<String>, _>("gone_at").is_some(),
                });
            }
        }
        Ok(out)
    }
}

async fn insert_event(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>, at: &str, e: &NewEvent) -> Result<EventView, StorageError> {
    let data = e.data.to_string();
    let id: i64 = sqlx::query_scalar("INSERT INTO events (at, kind, registry_id, subject_id, summary, data) VALUES (?, ?, ?, ?, ?, ?) RETURNING id")
        .bind(at)
        .bind(&e.kind)
        .bind(&e.registry_id)
        .bind(&e.subject_id)
        .bind(&e.summary)
        .bind(&data)
        .fetch_one(&mut **tx)
        .await?;
    Ok(EventView {
        id,
        at: at.to_string(),
        kind: e.kind.clone(),
        registry_id: e.registry_id.clone(),
        subject_id: e.subject_id.clone(),
        summary: e.summary.clone(),
        data,
    })
}
