//! Domain records to the view models the API and the pages show
//! (`regatlas_app::model`). Presentation lives here: derived states, the
//! copy rate and ETA, details read out of ARM documents, operation URLs.

use chrono::{DateTime, Utc};
use regatlas_app::model::{
    ApiTokenView, ChecklistItem, ChildView, EventView, Health, MigrationItemView, MigrationView, OperationView, PersonView, RegistryView, ReplicaView,
    RepositoryProgress,
};
use regatlas_domain::{
    record::{ApiToken, ChecklistEntry, ChildRow, Event, Migration, MigrationItem, Operation, Person, RegistryTopology, ReplicaRow, RepositoryCounts, Seen},
    ChildKind, MigrationState,
};
use serde_json::Value;

fn enabled(z: Option<&str>) -> bool {
    z.is_some_and(|z| z.eq_ignore_ascii_case("enabled"))
}

/// The `poll_url` of a stored long-running-operation handle.
fn poll_url(lro: Option<&str>) -> Option<String> {
    lro.and_then(|l| serde_json::from_str::<Value>(l).ok()).and_then(|v| v["poll_url"].as_str().map(str::to_string))
}

/// A registry and what it holds. Health and the poll error are the poller's
/// to add (see `actions`).
pub fn registry(t: &RegistryTopology) -> RegistryView {
    let r = &t.registry;
    RegistryView {
        id: r.id.clone(),
        name: r.name.to_string(),
        subscription_id: r.subscription_id.clone(),
        resource_group: r.resource_group.clone(),
        location: r.location.to_string(),
        sku: r.sku.clone(),
        login_server: r.login_server.clone(),
        provisioning_state: r.provisioning_state.clone(),
        zone_redundancy: enabled(r.zone_redundancy.as_deref()),
        health: Health::Healthy,
        replicas: t.replicas.iter().map(|(p, seen)| replica(p, seen, &r.location)).collect(),
        children: t.children.iter().map(|(c, seen)| child(c, seen)).collect(),
        changed_at: t.seen.changed_at.clone(),
        confirmed_at: t.seen.confirmed_at.clone(),
        gone: t.seen.gone,
        poll_error: None,
    }
}

fn replica(p: &ReplicaRow, seen: &Seen, home: &str) -> ReplicaView {
    ReplicaView {
        id: p.id.clone(),
        name: p.name.clone(),
        location: p.location.to_string(),
        home: p.location.as_str() == home,
        state: p.state(),
        provisioning_state: p.provisioning_state.clone(),
        display_status: p.display_status.clone(),
        status_message: p.status_message.clone(),
        status_timestamp: p.status_timestamp.clone(),
        routing: p.region_endpoint_enabled,
        zone_redundancy: enabled(p.zone_redundancy.as_deref()),
        first_seen: seen.first_seen.clone(),
        changed_at: seen.changed_at.clone(),
        confirmed_at: seen.confirmed_at.clone(),
        gone: seen.gone,
    }
}

fn child(c: &ChildRow, seen: &Seen) -> ChildView {
    let detail = serde_json::from_str::<Value>(&c.doc).ok().and_then(|v| {
        let p = &v["properties"];
        p["mode"].as_str().map(|m| format!("mode {m}")).or_else(|| p["serviceUri"].as_str().map(str::to_string))
    });
    let flag = match c.kind {
        ChildKind::ConnectedRegistry => {
            serde_json::from_str::<Value>(&c.doc).ok().and_then(|v| crate::actions::connected::attention(&v["properties"], chrono::Utc::now()).map(|(f, _)| f))
        }
        _ => None,
    };
    ChildView {
        id: c.id.clone(),
        kind: c.kind,
        name: c.name.clone(),
        state: c.state.clone(),
        detail,
        flag,
        confirmed_at: seen.confirmed_at.clone(),
        gone: seen.gone,
    }
}

pub fn event(e: Event) -> EventView {
    EventView { id: e.id, at: e.at, kind: e.kind, actor: e.actor, registry_id: e.registry_id, subject_id: e.subject_id, summary: e.summary, data: e.data }
}

pub fn person(p: Person) -> PersonView {
    PersonView { key: p.key, name: p.name.into_string(), via: p.via, role: p.role, last_seen: p.last_seen }
}

pub fn api_token(t: ApiToken) -> ApiTokenView {
    ApiTokenView {
        id: t.id,
        name: t.name,
        role: t.role,
        hint: t.hint,
        created_by: t.created_by.into_string(),
        created_at: t.created_at,
        expires_at: t.expires_at,
        revoked_at: t.revoked_at,
        last_used_at: t.last_used_at,
    }
}

pub fn operation(o: Operation) -> OperationView {
    OperationView {
        arm_operation_url: poll_url(o.lro.as_deref()),
        id: o.id,
        actor: o.actor.into_string(),
        kind: o.kind,
        registry_id: o.registry_id,
        registry_name: o.registry_name,
        target: o.target,
        params: o.params,
        state: o.state,
        percent: o.percent,
        error_code: o.error_code,
        error_message: o.error_message,
        created_at: o.created_at,
        updated_at: o.updated_at,
        finished_at: o.finished_at,
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|d| d.with_timezone(&Utc))
}

/// A migration with its copy rate (imports per minute since the copy
/// began) and, while copying, the time left at that rate.
pub fn migration(m: Migration, now: DateTime<Utc>) -> MigrationView {
    let c = &m.counts;
    let mut rate_per_min = None;
    let mut eta_secs = None;
    if let Some(start) = m.started_at.as_deref().and_then(parse_time) {
        let end = m.finished_at.as_deref().and_then(parse_time).unwrap_or(now);
        let minutes = (end - start).num_milliseconds() as f64 / 60_000.0;
        if minutes > 0.0 && c.imported > 0 {
            let rate = c.imported as f64 / minutes;
            rate_per_min = Some(rate);
            let left = (c.to_copy - c.imported - c.failed).max(0);
            if m.state == MigrationState::InProgress {
                eta_secs = Some((left as f64 / rate * 60.0).round() as i64);
            }
        }
    }
    MigrationView {
        id: m.id,
        name: m.name,
        source: m.source,
        target: m.target,
        state: m.state,
        dry_run: m.dry_run,
        force: m.force,
        actor: m.actor.into_string(),
        error: m.error,
        created_at: m.created_at,
        updated_at: m.updated_at,
        started_at: m.started_at,
        finished_at: m.finished_at,
        planned: c.planned,
        to_copy: c.to_copy,
        present: c.present,
        conflicts: c.conflicts,
        imported: c.imported,
        failed: c.failed,
        in_flight: c.in_flight,
        verified: c.verified,
        mismatched: c.mismatched,
        bytes_total: c.bytes_total,
        bytes_to_copy: c.bytes_to_copy,
        bytes_done: c.bytes_done,
        rate_per_min,
        eta_secs,
        concurrency: m.concurrency,
        throttled: m.throttled,
    }
}

pub fn item(i: MigrationItem) -> MigrationItemView {
    MigrationItemView {
        operation_url: poll_url(i.lro.as_deref()),
        id: i.id,
        repository: i.repository.into_string(),
        digest: i.digest.into_string(),
        media_type: i.media_type,
        tags: i.tags.into_iter().map(|t| t.into_string()).collect(),
        size_bytes: i.size_bytes,
        action: i.action,
        state: i.state,
        attempts: i.attempts,
        error_code: i.error_code,
        error_message: i.error_message,
        detail: i.detail,
        started_at: i.started_at,
        finished_at: i.finished_at,
    }
}

pub fn repository(r: RepositoryCounts) -> RepositoryProgress {
    RepositoryProgress {
        repository: r.repository.into_string(),
        artifacts: r.artifacts,
        to_copy: r.to_copy,
        done: r.done,
        failed: r.failed,
        conflicts: r.conflicts,
    }
}

pub fn checklist(c: ChecklistEntry) -> ChecklistItem {
    ChecklistItem {
        key: c.key,
        kind: c.kind,
        title: c.title,
        source_value: c.source_value,
        target_value: c.target_value,
        status: c.status,
        done_by: c.done_by.map(|a| a.into_string()),
        done_at: c.done_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regatlas_domain::{record::MigrationCounts, Actor};

    fn copying(started: &str, imported: i64, to_copy: i64, state: MigrationState) -> Migration {
        Migration {
            id: "m".into(),
            name: "n".into(),
            source: "s".into(),
            target: "t".into(),
            state,
            dry_run: false,
            force: false,
            actor: Actor::anonymous(),
            error: None,
            created_at: started.into(),
            updated_at: started.into(),
            started_at: Some(started.into()),
            finished_at: None,
            concurrency: None,
            throttled: 0,
            counts: MigrationCounts { to_copy, imported, ..Default::default() },
        }
    }

    #[test]
    fn rate_and_eta_come_from_the_copy_so_far() {
        let now = parse_time("2026-11-23T10:10:00Z").expect("time");
        let v = migration(copying("2026-11-23T10:00:00Z", 100, 300, MigrationState::InProgress), now);
        assert_eq!(v.rate_per_min, Some(10.0));
        assert_eq!(v.eta_secs, Some(20 * 60));
        let paused = migration(copying("2026-11-23T10:00:00Z", 100, 300, MigrationState::Paused), now);
        assert_eq!(paused.eta_secs, None, "no ETA unless copying");
        let fresh = migration(copying("2026-11-23T10:00:00Z", 0, 300, MigrationState::InProgress), now);
        assert_eq!((fresh.rate_per_min, fresh.eta_secs), (None, None));
    }
}
