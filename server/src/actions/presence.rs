//! Presence behind the `Backend`: the view (regions, a page of tags, lag,
//! stragglers), tracking on and off, and the routing readiness gate.

use chrono::{Duration, Utc};
use regatlas_app::model::{ApiError, PresenceCell, PresenceQuery, PresenceRow, PresenceView, RegionPresenceView, RegistryView, TrackingRequest, TrackingView};
use regatlas_domain::{
    presence::{CellState, PresenceFilter, TagPresence, Tracking},
    ErrorKind, EventKind, Identity, Region, Role,
};
use serde_json::json;

use super::checks::invalid;
use super::{ActionError, Console};
use crate::presence::{
    event::stamp,
    stats::{budget_spent, lag_by_region, progress, seconds_between},
};

/// Tags per page of the presence view.
const DEFAULT_PAGE: i64 = 100;
/// Lag samples read per view (newest first).
const MAX_SAMPLES: i64 = 20_000;

/// The registry's live regions, home first.
fn regions_of(reg: &RegistryView) -> Vec<Region> {
    let mut v: Vec<(bool, Region)> =
        reg.replicas.iter().filter(|r| !r.gone).filter_map(|r| Region::parse(r.location.as_str()).ok().map(|x| (!r.home, x))).collect();
    v.sort();
    v.into_iter().map(|(_, r)| r).collect()
}

/// One tag's row: a cell per region.
fn row(t: &TagPresence, regions: &[Region]) -> PresenceRow {
    let cells: Vec<PresenceCell> = regions
        .iter()
        .map(|region| {
            let (state, has) = t.cell(region);
            PresenceCell {
                region: region.as_str().to_string(),
                state,
                digest: has.and_then(|h| h.digest.as_ref().map(|d| d.as_str().to_string())),
                at: has.map(|h| h.at.clone()),
                // A probe says when it looked, not when it arrived: no lag from it.
                lag_secs: (state == CellState::Present)
                    .then(|| has.filter(|h| h.source != regatlas_domain::presence::PresenceSource::Probe).map(|h| seconds_between(&t.pushed_at, &h.at)))
                    .flatten(),
                source: has.map(|h| h.source),
            }
        })
        .collect();
    PresenceRow {
        repository: t.repository.as_str().to_string(),
        tag: t.tag.as_str().to_string(),
        digest: t.digest.as_str().to_string(),
        pushed_at: t.pushed_at.clone(),
        first_region: t.first_region.as_str().to_string(),
        present_in: cells.iter().filter(|c| c.state == CellState::Present).count() as i64,
        cells,
    }
}

fn tracking_view(t: &Tracking, receiver: Option<String>) -> TrackingView {
    TrackingView {
        enabled_at: t.enabled_at.clone(),
        enabled_by: t.enabled_by.as_str().to_string(),
        objective_share: t.objective_share,
        objective_secs: t.objective_secs,
        hot_last: t.hot_last,
        hot_repositories: t.hot_repositories.iter().map(|r| r.as_str().to_string()).collect(),
        receiver,
    }
}

/// What every viewer of a registry's presence shares: counts, lag and
/// stragglers, computed at most every [`SUMMARY_TTL`] per registry, window
/// and objective (a burst of live events makes every browser refetch at once).
#[derive(Clone, Debug)]
pub(super) struct Summary {
    total: i64,
    counts: std::collections::BTreeMap<String, regatlas_domain::presence::RegionCounts>,
    lag: std::collections::BTreeMap<String, crate::presence::stats::LagStats>,
    stragglers: Vec<TagPresence>,
}

type SummaryKey = (String, String, i64, i64);

/// The cache, and one computation at a time: viewers that miss it together
/// wait for the one computing instead of all computing at once.
#[derive(Clone, Default)]
pub(super) struct SummaryCache(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<SummaryKey, (std::time::Instant, Summary)>>>,
    std::sync::Arc<tokio::sync::Mutex<()>>,
);

const SUMMARY_TTL: std::time::Duration = std::time::Duration::from_secs(2);

impl Console {
    async fn summary(&self, registry_id: &str, regions: &[Region], window: i64, objective_secs: i64) -> Result<Summary, ApiError> {
        let key: SummaryKey = (registry_id.to_string(), regions.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","), window, objective_secs);
        let cached =
            || self.summaries.0.lock().unwrap_or_else(|e| e.into_inner()).get(&key).filter(|(at, _)| at.elapsed() < SUMMARY_TTL).map(|(_, s)| s.clone());
        if let Some(s) = cached() {
            return Ok(s);
        }
        let _computing = self.summaries.1.lock().await;
        if let Some(s) = cached() {
            return Ok(s);
        }
        let storage = &self.storage;
        let now = Utc::now();
        let (total, counts) = storage.presence_counts(registry_id, regions, &stamp(now - Duration::minutes(10))).await?;
        let samples = storage.lag_samples(registry_id, &stamp(now - Duration::minutes(window)), MAX_SAMPLES).await?;
        let lag = lag_by_region(&samples, objective_secs as f64);
        // Stragglers: incomplete tags older than the objective allows, oldest first.
        let cutoff = stamp(now - Duration::seconds(objective_secs));
        let stragglers = storage
            .presence(
                registry_id,
                &PresenceFilter { incomplete_in: Some(regions.to_vec()), pushed_before: Some(cutoff), oldest_first: true, limit: 20, ..Default::default() },
            )
            .await?;
        let s = Summary { total, counts, lag, stragglers };
        let mut cache = self.summaries.0.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|_, (at, _)| at.elapsed() < SUMMARY_TTL);
        cache.insert(key, (std::time::Instant::now(), s.clone()));
        Ok(s)
    }

    fn presence_service(&self) -> Result<&crate::presence::Presence, ApiError> {
        self.presence.as_ref().ok_or_else(|| ApiError::new(ErrorKind::Unavailable, "PresenceUnavailable", "Presence tracking is not running in this process."))
    }

    pub(super) async fn presence_view(&self, who: &Identity, registry: &str, q: PresenceQuery) -> Result<PresenceView, ApiError> {
        self.require(who, Role::Viewer, "read presence").await?;
        let reg = self.find(registry).await?;
        let storage = &self.storage;
        let tracking = storage.tracking(&reg.id).await?;
        let regions = regions_of(&reg);
        let window = q.window.unwrap_or(60);
        if !(1..=10_080).contains(&window) {
            return Err(invalid("InvalidWindow", "window is in minutes, 1 to 10080 (a week)."));
        }
        let limit = q.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=super::MAX_PAGE).contains(&limit) {
            return Err(invalid("InvalidLimit", format!("limit is 1 to {}.", super::MAX_PAGE)));
        }
        let after = match q.after.as_deref().filter(|a| !a.is_empty()) {
            Some(a) => {
                Some(a.split_once(':').map(|(r, t)| (r.to_string(), t.to_string())).ok_or_else(|| invalid("InvalidCursor", "after is repository:tag."))?)
            }
            None => None,
        };
        let text = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(|t| t.chars().take(200).collect::<String>());
        let repository = q.repository.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
        let filter = PresenceFilter { repository, text, incomplete_in: q.incomplete.then(|| regions.clone()), after, limit: limit + 1, ..Default::default() };
        let mut tags = storage.presence(&reg.id, &filter).await?;
        let next = (tags.len() as i64 > limit).then(|| {
            tags.truncate(limit as usize);
            tags.last().map(|t| format!("{}:{}", t.repository, t.tag))
        });
        let rows: Vec<PresenceRow> = tags.iter().map(|t| row(t, &regions)).collect();

        let now = Utc::now();
        let (share, secs) = tracking.as_ref().map(|t| (t.objective_share, t.objective_secs)).unwrap_or((0.95, 300));
        let summary = self.summary(&reg.id, &regions, window, secs).await?;
        let (total, counts, lag) = (summary.total, &summary.counts, &summary.lag);
        let hooks = storage.presence_hooks(&reg.id).await?;
        let probes = self.presence.as_ref().map(|p| p.probe_stats(&reg.id)).unwrap_or_default();
        let routing_set = self.routing_as_set(&reg.id).await?;
        let region_views = regions
            .iter()
            .map(|region| {
                let rep = reg.replica_in(region.as_str());
                let c = counts.get(region.as_str()).cloned().unwrap_or_default();
                let p = progress(total, &c, now);
                let l = lag.get(region.as_str()).cloned().unwrap_or_default();
                let hook = hooks.iter().find(|h| &h.region == region);
                let probe = probes.get(region.as_str()).cloned().unwrap_or_default();
                let set = routing_set.get(region.as_str()).copied();
                let routing = rep.and_then(|r| r.routing);
                RegionPresenceView {
                    region: region.as_str().to_string(),
                    display_name: regatlas_app::regions::find(region.as_str()).map(|r| r.display_name.clone()).unwrap_or_else(|| region.as_str().to_string()),
                    home: rep.is_some_and(|r| r.home),
                    replica_state: rep.map(|r| r.state).unwrap_or(regatlas_domain::ReplicaState::Unknown),
                    routing,
                    present: c.present,
                    present_bytes: c.present_bytes,
                    ratio: p.share,
                    per_minute: p.per_minute,
                    eta_secs: p.eta_secs,
                    stalled_minutes: p.stalled_minutes,
                    lag_count: l.count as i64,
                    lag_p50: l.p50,
                    lag_p95: l.p95,
                    lag_max: l.max,
                    within_objective: (l.count > 0).then(|| l.within as f64 / l.count as f64),
                    budget_spent: budget_spent(l.within, l.count, share),
                    webhook: hook.map(|h| h.webhook.clone()),
                    last_event_at: hook.and_then(|h| h.last_event_at.clone()),
                    probe_reads_last_hour: probe.reads_last_hour as i64,
                    probe_budget_per_hour: probe.budget_per_hour as i64,
                    probe_backlog: probe.backlog as i64,
                    routing_set: set,
                    // Not while the replica is changing: its routing is on its way.
                    routing_drift: matches!((set, routing), (Some(a), Some(b)) if a != b) && rep.is_some_and(|r| !r.state.is_transitional()),
                }
            })
            .collect();
        let stragglers = summary.stragglers.iter().map(|t| row(t, &regions)).collect();
        let receiver = self.presence.as_ref().and_then(|p| p.settings().hooks_origin.clone());
        Ok(PresenceView {
            registry: reg.name.clone(),
            tracking: tracking.as_ref().map(|t| tracking_view(t, receiver.clone())),
            total_tags: total,
            window_minutes: window,
            regions: region_views,
            rows,
            next: next.flatten(),
            stragglers,
        })
    }

    pub(super) async fn change_tracking(&self, who: &Identity, registry: &str, req: TrackingRequest) -> Result<Option<TrackingView>, ApiError> {
        self.require(who, Role::Operator, "turn presence tracking on or off").await?;
        let presence = self.presence_service()?.clone();
        let reg = self.find(registry).await?;
        let storage = &self.storage;
        let current = storage.tracking(&reg.id).await?;
        if !req.enabled {
            if current.is_none() {
                return Ok(None);
            }
            storage.stop_tracking(&reg.id).await?;
            let arm_id = Console::arm_id(&reg);
            let removed = presence.remove_hooks(&reg.id, &arm_id).await?;
            self.audit_on(who, &reg.id, format!("{} turned presence tracking off for {} ({removed} webhooks removed)", who.principal.name, reg.name)).await;
            return Ok(None);
        }
        if !reg.is_premium() {
            return Err(ApiError::new(
                ErrorKind::Conflict,
                "PremiumRequired",
                format!("{} is {}: regional webhooks need geo-replication, which needs the Premium SKU.", reg.name, reg.sku),
            ));
        }
        let share = req.objective_share.or(current.as_ref().map(|c| c.objective_share)).unwrap_or(0.95);
        if !(0.5..=0.9999).contains(&share) {
            return Err(invalid("InvalidObjective", "objective_share is between 0.5 and 0.9999."));
        }
        let secs = req.objective_secs.or(current.as_ref().map(|c| c.objective_secs)).unwrap_or(300);
        if !(1..=86_400).contains(&secs) {
            return Err(invalid("InvalidObjective", "objective_secs is between 1 and 86400."));
        }
        let hot_last = req.hot_last.or(current.as_ref().map(|c| c.hot_last)).unwrap_or(20);
        if !(0..=500).contains(&hot_last) {
            return Err(invalid("InvalidHotSet", "hot_last is between 0 and 500."));
        }
        let hot_repositories = match req.hot_repositories {
            Some(list) => {
                if list.len() > 50 {
                    return Err(invalid("InvalidHotSet", "hot_repositories names at most 50 repositories."));
                }
                let mut v = Vec::new();
                for r in list.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
                    v.push(regatlas_domain::Repository::parse(r).map_err(|e| invalid("InvalidHotSet", format!("hot_repositories: {e}")))?);
                }
                v.sort();
                v.dedup();
                v
            }
            None => current.as_ref().map(|c| c.hot_repositories.clone()).unwrap_or_default(),
        };
        let t = Tracking {
            registry_id: reg.id.clone(),
            enabled_at: current.as_ref().map(|c| c.enabled_at.clone()).unwrap_or_else(crate::storage::now),
            enabled_by: current.as_ref().map(|c| c.enabled_by.clone()).unwrap_or_else(|| who.principal.name.clone()),
            objective_share: share,
            objective_secs: secs,
            hot_last,
            hot_repositories,
        };
        storage.set_tracking(&t, &who.principal).await?;
        let what = if current.is_some() { "changed presence tracking of" } else { "turned presence tracking on for" };
        self.audit_on(
            who,
            &reg.id,
            format!(
                "{} {what} {} (objective {:.2} % within {secs} s, hot set: the last {hot_last} tags{})",
                who.principal.name,
                reg.name,
                share * 100.0,
                if t.hot_repositories.is_empty() {
                    String::new()
                } else {
                    format!(" and every tag of {}", t.hot_repositories.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "))
                }
            ),
        )
        .await;
        if current.is_none() {
            // Hooks now, not at the next reconcile: the team is watching.
            if let Err(e) = presence.reconcile_registry(&reg.id).await {
                tracing::warn!(registry = %reg.name, error = %e, "presence hooks not created yet (retried every 30 s)");
            }
        }
        let receiver = presence.settings().hooks_origin.clone();
        Ok(Some(tracking_view(&t, receiver)))
    }

    /// Per region: the routing the newest create or toggle through Regatlas
    /// asked for (succeeded, or still under way: the team's latest intent).
    async fn routing_as_set(&self, registry_id: &str) -> Result<std::collections::HashMap<String, bool>, ApiError> {
        let ops = self
            .storage
            .operations(&regatlas_domain::record::OperationFilter { registry_id: Some(registry_id.to_string()), limit: 500, ..Default::default() })
            .await?;
        let mut set: std::collections::HashMap<String, Option<bool>> = std::collections::HashMap::new();
        // Newest first: the first word per region is the one that counts.
        for op in ops.into_iter().filter(|op| op.state == regatlas_domain::OperationState::Succeeded || op.state.is_open()) {
            let key = match op.kind {
                regatlas_domain::OperationKind::ReplicaRouting => "enabled",
                regatlas_domain::OperationKind::ReplicaCreate => "routing",
                regatlas_domain::OperationKind::RegistryRelocate => continue,
                // A delete ends what earlier actions asked of that replica.
                regatlas_domain::OperationKind::ReplicaDelete => {
                    set.entry(op.target.to_ascii_lowercase()).or_insert(None);
                    continue;
                }
            };
            let wanted = serde_json::from_str::<serde_json::Value>(&op.params).ok().and_then(|p| p[key].as_bool());
            if let Some(w) = wanted {
                set.entry(op.target.to_ascii_lowercase()).or_insert(Some(w));
            }
        }
        Ok(set.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
    }

    async fn audit_on(&self, who: &Identity, registry_id: &str, summary: String) {
        let e = regatlas_domain::record::NewEvent {
            kind: EventKind::PresenceTracking,
            actor: Some(who.principal.key()),
            registry_id: Some(registry_id.to_string()),
            subject_id: None,
            summary,
            data: json!({ "principal": who.principal, "role": who.role }),
        };
        if let Err(err) = self.hub.record(e).await {
            tracing::error!(error = %err, "cannot record a presence event");
        }
    }

    /// The routing readiness gate: routing may be turned on for a replica
    /// only when the tracked registry's hot set (its last N pushed tags) is
    /// present there. Untracked registries, and a hot set of 0, pass.
    pub(super) async fn readiness_gate(&self, reg: &RegistryView, region: &str) -> Result<(), ActionError> {
        let Some(t) = self.storage.tracking(&reg.id).await? else { return Ok(()) };
        if t.hot_last == 0 && t.hot_repositories.is_empty() {
            return Ok(());
        }
        let Ok(region) = Region::parse(region.to_ascii_lowercase()) else { return Ok(()) };
        let mut hot = self.storage.hot_set(&reg.id, t.hot_last).await?;
        for repo in &t.hot_repositories {
            // Every tag of the repository, a page at a time.
            let mut after = None;
            loop {
                let page = self
                    .storage
                    .presence(&reg.id, &PresenceFilter { repository: Some(repo.as_str().to_string()), after: after.clone(), limit: 1000, ..Default::default() })
                    .await?;
                let full = page.len() == 1000;
                after = page.last().map(|t| (t.repository.as_str().to_string(), t.tag.as_str().to_string()));
                hot.extend(page);
                if !full {
                    break;
                }
            }
        }
        hot.sort_by(|a, b| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)));
        hot.dedup_by(|a, b| a.repository == b.repository && a.tag == b.tag);
        let missing: Vec<String> =
            hot.iter().filter(|tag| tag.cell(&region).0 != CellState::Present).map(|tag| format!("{}:{}", tag.repository, tag.tag)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let shown: Vec<&str> = missing.iter().take(10).map(String::as_str).collect();
        Err(ActionError::invalid(
            ErrorKind::Conflict,
            "HotSetMissing",
            format!(
                "{} of the {} tags of the hot set are not in {region} yet: {}{}. Wait for replication, or an Admin can force it.",
                missing.len(),
                hot.len(),
                shown.join(", "),
                if missing.len() > shown.len() { ", …" } else { "" }
            ),
        ))
    }
}
