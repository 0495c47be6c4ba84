//! Presence tracking: is each tag in every region yet, and how long did it
//! take to get there?
//!
//! For a tracked registry Regatlas keeps one webhook per replica location
//! (push and delete), each pointing at its own receiver path
//! `/hooks/acr/{registry}/{region}` with its own secret in a custom header
//! (ACR webhooks are not signed). [`Presence::reconcile`] keeps the hooks in
//! step with the replicas; [`Presence::ingest`] records checked events
//! (deduplicated in storage: the first arrival per push and region wins);
//! after downtime [`Presence::catch_up`] reads each webhook's `listEvents`.
//! Arrivals are announced as at most one `presence.progress` event a second
//! per registry, so a burst of pushes is one refetch in the browsers.

pub mod event;
pub mod probe;
pub mod receiver;
pub mod stats;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::Engine as _;
use chrono::Utc;
use rand::RngCore;
use regatlas_arm::{ArmClient, ArmError};
use regatlas_domain::{
    presence::{Arrival, PresenceAction, PresenceHook, PresenceSource},
    record::NewEvent,
    EventKind, Region,
};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;

use crate::{
    events::EventHub,
    storage::{Storage, StorageError},
};

/// The header that carries a hook's secret.
pub const SECRET_HEADER: &str = "x-regatlas-hook-secret";

/// At most this many `listEvents` pages per hook and catch-up.
const MAX_EVENT_PAGES: usize = 20;

/// Settings from the configuration.
#[derive(Clone, Debug)]
pub struct PresenceSettings {
    /// Where registries reach the receiver: `scheme://host[:port]`.
    pub hooks_origin: Option<String>,
    /// How often the hooks are compared with the replicas.
    pub reconcile_every: Duration,
    /// How often each hook's `listEvents` is read back.
    pub catch_up_every: Duration,
    /// Regional probes and their read budget.
    pub probe: probe::ProbeSettings,
    /// What the probes may reach (the regional endpoints ARM names are trusted).
    pub outbound: Arc<crate::outbound::OutboundPolicy>,
    /// The data source is the emulator (it says which region each endpoint serves).
    pub emulator: bool,
}

/// Why presence could not do something.
#[derive(Debug, thiserror::Error)]
pub enum PresenceError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Arm(#[from] ArmError),
}

/// The presence service. Cheap to clone.
#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    storage: Storage,
    arm: ArmClient,
    hub: EventHub,
    settings: PresenceSettings,
    /// Arrivals not yet announced, per registry id.
    pending: Mutex<BTreeMap<String, Pending>>,
    /// One reconcile (or removal) of hooks at a time, so a hook's stored
    /// secret hash and the secret ARM holds are always the same pair.
    hooks: tokio::sync::Mutex<()>,
    probes: probe::Probes,
    probe: probe::ProbeSettings,
    outbound: Arc<crate::outbound::OutboundPolicy>,
    probe_emulator: bool,
}

#[derive(Default)]
struct Pending {
    arrivals: u64,
    regions: BTreeSet<String>,
    tags: BTreeSet<String>,
}

/// A new hook secret: 32 random bytes, base64url.
fn new_secret() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// What is stored of a hook's secret: the same hash as an API token's.
pub fn secret_hash(secret: &str) -> String {
    crate::auth::tokens::hash(secret)
}

/// Compares a presented secret with the stored hash in constant time.
pub fn secret_matches(presented: &str, stored_sha256: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let Ok(b) = hex::decode(stored_sha256) else { return false };
    if b.len() != a.len() {
        return false;
    }
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `url` is on the same scheme, host and port as `base` (ARM's
/// endpoint): the bearer token goes nowhere else.
pub fn same_origin(url: &str, base: &str) -> bool {
    match (url::Url::parse(url), url::Url::parse(base)) {
        (Ok(a), Ok(b)) => a.username().is_empty() && crate::migration::oci::same_origin(&a, &b),
        _ => false,
    }
}

/// The ARM name of the hook of a region: `regatlas` + the region, letters
/// and digits only (ARM: 5 to 50 alphanumerics).
pub fn hook_name(region: &Region) -> String {
    let mut n: String = format!("regatlas{}", region.as_str()).chars().filter(char::is_ascii_alphanumeric).collect();
    n.truncate(50);
    n
}

impl Presence {
    pub fn new(storage: Storage, arm: ArmClient, hub: EventHub, settings: PresenceSettings) -> Presence {
        let (probe, outbound, probe_emulator) = (settings.probe.clone(), settings.outbound.clone(), settings.emulator);
        Presence {
            inner: Arc::new(Inner {
                storage,
                arm,
                hub,
                settings,
                pending: Mutex::new(BTreeMap::new()),
                hooks: tokio::sync::Mutex::new(()),
                probes: probe::Probes::default(),
                probe,
                outbound,
                probe_emulator,
            }),
        }
    }

    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    pub fn settings(&self) -> &PresenceSettings {
        &self.inner.settings
    }

    /// The receiver URL of a registry's hook in a region.
    pub fn receiver_url(&self, registry: &str, region: &Region) -> Option<String> {
        self.inner.settings.hooks_origin.as_ref().map(|o| format!("{o}/hooks/acr/{}/{}", registry.to_ascii_lowercase(), region.as_str()))
    }

    /// Records checked arrivals and queues their announcement.
    pub async fn ingest(&self, arrivals: &[Arrival]) -> Result<u64, StorageError> {
        if arrivals.is_empty() {
            return Ok(0);
        }
        let news = self.inner.storage.record_arrivals(arrivals).await?;
        crate::metrics::webhook_events(arrivals.len() as u64, news.len() as u64);
        if !news.is_empty() {
            let mut pending = self.inner.pending.lock().unwrap_or_else(|e| e.into_inner());
            for (i, first_at, first_region) in &news {
                let Some(a) = arrivals.get(*i) else { continue };
                // A probe says when it looked, not when the content arrived.
                if a.action == PresenceAction::Push && a.source != PresenceSource::Probe && a.region.as_str() != first_region {
                    let registry = a.registry_id.rsplit('/').next().unwrap_or_default();
                    crate::metrics::lag(registry, a.region.as_str(), stats::seconds_between(first_at, &a.at));
                }
                let p = pending.entry(a.registry_id.clone()).or_default();
                p.arrivals += 1;
                p.regions.insert(a.region.as_str().to_string());
                if p.tags.len() < 10 {
                    p.tags.insert(match &a.tag {
                        Some(t) => format!("{}:{}", a.repository, t),
                        None => format!("{}@{}", a.repository, a.digest.short()),
                    });
                }
            }
        }
        Ok(news.len() as u64)
    }

    /// Announces what arrived since the last call: one event per registry.
    pub async fn announce(&self) {
        let batch = std::mem::take(&mut *self.inner.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for (registry_id, p) in batch {
            let tags: Vec<&String> = p.tags.iter().collect();
            let summary = format!(
                "{} arrival{} in {}: {}",
                p.arrivals,
                if p.arrivals == 1 { "" } else { "s" },
                p.regions.iter().cloned().collect::<Vec<_>>().join(", "),
                tags.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
            );
            let e = NewEvent {
                kind: EventKind::PresenceProgress,
                actor: None,
                registry_id: Some(registry_id),
                subject_id: None,
                summary: crate::outbound::clean_text(&summary, 300),
                data: json!({ "arrivals": p.arrivals, "regions": p.regions, "tags": tags }),
            };
            if let Err(e) = self.inner.hub.record(e).await {
                tracing::warn!(error = %e, "cannot record presence progress");
            }
        }
    }

    /// Creates the hooks a tracked registry lacks and removes those of
    /// replicas that are gone. Returns (created, removed).
    pub async fn reconcile_registry(&self, registry_id: &str) -> Result<(usize, usize), PresenceError> {
        let storage = &self.inner.storage;
        let _one_at_a_time = self.inner.hooks.lock().await;
        // Turned off meanwhile: nothing to make.
        if storage.tracking(registry_id).await?.is_none() {
            return Ok((0, 0));
        }
        let Some(topo) = storage.registry_topology(registry_id).await? else { return Ok((0, 0)) };
        let regions: BTreeSet<Region> = topo.replicas.iter().filter(|(_, seen)| !seen.gone).map(|(r, _)| r.location.clone()).collect();
        let hooks = storage.presence_hooks(registry_id).await?;
        // A hook delivering elsewhere (the receiver URL changed) is made again.
        let have: BTreeSet<Region> = hooks
            .iter()
            .filter(|h| self.receiver_url(topo.registry.name.as_str(), &h.region).as_deref() == Some(h.receiver.as_str()))
            .map(|h| h.region.clone())
            .collect();
        let arm_id = topo.registry.arm_id.clone();
        let name = topo.registry.name.as_str().to_string();
        let (mut created, mut removed) = (0, 0);
        for region in regions.difference(&have) {
            let Some(uri) = self.receiver_url(&name, region) else { break };
            let secret = new_secret();
            let hook = PresenceHook {
                registry_id: registry_id.to_string(),
                region: region.clone(),
                webhook: hook_name(region),
                secret_sha256: secret_hash(&secret),
                receiver: uri.clone(),
                created_at: crate::storage::now(),
                last_event_at: None,
            };
            // Stored first, so an event that comes back at once is accepted.
            storage.put_presence_hook(&hook).await?;
            let body = json!({
                "location": region.as_str(),
                "properties": {
                    "serviceUri": uri,
                    "customHeaders": { SECRET_HEADER: secret },
                    "actions": ["push", "delete"],
                    "status": "enabled",
                    "scope": "",
                },
            });
            let url = self.inner.arm.webhook_url(&arm_id, &hook.webhook, None);
            match self.inner.arm.send(Method::PUT, &url, Some(&body)).await {
                Ok(_) => {
                    crate::metrics::presence_hook_created();
                    created += 1;
                    tracing::info!(registry = %name, region = %region, webhook = %hook.webhook, "presence webhook created");
                }
                Err(e) => {
                    storage.delete_presence_hook(registry_id, region.as_str()).await?;
                    // Logged, not recorded: this is tried again every 30 s (the page shows the region without a webhook).
                    tracing::warn!(registry = %name, region = %region, error = %e, "cannot create the presence webhook");
                }
            }
        }
        for h in hooks.iter().filter(|h| !regions.contains(&h.region)) {
            self.delete_hook(&arm_id, h).await;
            removed += 1;
        }
        if created + removed > 0 {
            self.note(registry_id, format!("presence webhooks: {created} created, {removed} removed for {name}"), None).await;
        }
        Ok((created, removed))
    }

    async fn delete_hook(&self, arm_id: &str, h: &PresenceHook) {
        let url = self.inner.arm.webhook_url(arm_id, &h.webhook, None);
        match self.inner.arm.send(Method::DELETE, &url, None).await {
            Ok(_) | Err(ArmError::Api { status: 404, .. }) => {}
            Err(e) => tracing::warn!(webhook = %h.webhook, error = %e, "cannot delete the presence webhook (the record goes anyway)"),
        }
        if let Err(e) = self.inner.storage.delete_presence_hook(&h.registry_id, h.region.as_str()).await {
            tracing::warn!(error = %e, "cannot forget a presence webhook");
        }
    }

    /// Deletes every hook of a registry (tracking turned off).
    pub async fn remove_hooks(&self, registry_id: &str, arm_id: &str) -> Result<usize, StorageError> {
        let _one_at_a_time = self.inner.hooks.lock().await;
        let hooks = self.inner.storage.presence_hooks(registry_id).await?;
        for h in &hooks {
            self.delete_hook(arm_id, h).await;
        }
        Ok(hooks.len())
    }

    /// Reads every hook's `listEvents` back and records what it holds (what
    /// arrived while this server was down, or was refused). Returns how many
    /// arrivals were new.
    pub async fn catch_up(&self, registry_id: &str) -> Result<u64, PresenceError> {
        let storage = &self.inner.storage;
        let Some(topo) = storage.registry_topology(registry_id).await? else { return Ok(0) };
        let mut news = 0;
        for h in storage.presence_hooks(registry_id).await? {
            let mut url = self.inner.arm.webhook_url(&topo.registry.arm_id, &h.webhook, Some("listEvents"));
            let mut arrivals = Vec::new();
            let received = Utc::now();
            for _ in 0..MAX_EVENT_PAGES {
                let page: Value = match self.inner.arm.send(Method::POST, &url, None).await.and_then(|r| r.json()) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(webhook = %h.webhook, error = %e, "cannot read the webhook's events");
                        break;
                    }
                };
                for e in page["value"].as_array().into_iter().flatten() {
                    let content = &e["eventRequestMessage"]["content"];
                    match event::arrival(content, registry_id, &h.region, PresenceSource::CatchUp, received) {
                        Ok(Some(a)) => arrivals.push(a),
                        Ok(None) => {}
                        Err(why) => tracing::debug!(webhook = %h.webhook, %why, "a listed event was not taken"),
                    }
                }
                match page["nextLink"].as_str() {
                    Some(next) if same_origin(next, self.inner.arm.endpoint()) => url = next.to_string(),
                    Some(next) => {
                        tracing::warn!(webhook = %h.webhook, next = %crate::outbound::clean_text(next, 200), "a nextLink off the ARM endpoint was not followed");
                        break;
                    }
                    None => break,
                }
            }
            news += self.ingest(&arrivals).await?;
        }
        Ok(news)
    }

    /// Records a presence event in the history.
    pub async fn note(&self, registry_id: &str, summary: String, actor: Option<String>) {
        let e = NewEvent {
            kind: EventKind::PresenceTracking,
            actor,
            registry_id: Some(registry_id.to_string()),
            subject_id: None,
            summary: crate::outbound::clean_text(&summary, 300),
            data: json!({}),
        };
        if let Err(e) = self.inner.hub.record(e).await {
            tracing::warn!(error = %e, "cannot record a presence event");
        }
    }

    /// Announces the arrivals this instance received (every instance
    /// receives webhooks), at most once a second per registry, until `stop`.
    pub async fn announcer(self, mut stop: watch::Receiver<bool>) {
        let mut announce = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = crate::cluster::until(&mut stop, true) => break,
                _ = announce.tick() => self.announce().await,
            }
        }
        self.announce().await;
    }

    /// The leader's upkeep: keeps the hooks in step, catches up and probes, until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut reconcile = tokio::time::interval(self.inner.settings.reconcile_every);
        let mut catch_up = tokio::time::interval(self.inner.settings.catch_up_every);
        // Probing in a task of its own: a long round (or a listing of many
        // tags) never holds up announcements, webhook upkeep or shutdown.
        let prober = {
            let this = self.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let mut probe = tokio::time::interval(this.inner.probe.tick);
                probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = crate::cluster::until(&mut stop, true) => break,
                        _ = probe.tick() => {
                            tokio::select! {
                                _ = this.probe_all() => {}
                                _ = crate::cluster::until(&mut stop, true) => break,
                            }
                        }
                    }
                }
            })
        };
        loop {
            tokio::select! {
                _ = crate::cluster::until(&mut stop, true) => break,
                _ = reconcile.tick() => self.reconcile_all().await,
                _ = catch_up.tick() => self.catch_up_all().await,
            }
        }
        let _ = prober.await;
    }

    async fn reconcile_all(&self) {
        match self.inner.storage.tracked().await {
            Ok(tracked) => {
                for t in tracked {
                    if let Err(e) = self.reconcile_registry(&t.registry_id).await {
                        tracing::warn!(registry = %t.registry_id, error = %e, "presence hooks not reconciled");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read tracked registries"),
        }
    }

    async fn catch_up_all(&self) {
        if let Ok(tracked) = self.inner.storage.tracked().await {
            for t in tracked {
                match self.catch_up(&t.registry_id).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(registry = %t.registry_id, arrivals = n, "presence caught up from listEvents"),
                    Err(e) => tracing::warn!(registry = %t.registry_id, error = %e, "presence catch-up failed"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_hash() {
        let s = new_secret();
        assert_eq!(s.len(), 43);
        let h = secret_hash(&s);
        assert!(secret_matches(&s, &h));
        assert!(!secret_matches("wrong", &h));
        assert!(!secret_matches(&s, "not hex"));
        assert!(!secret_matches(&s, ""));
    }

    #[test]
    fn next_links_are_followed_on_the_arm_endpoint_only() {
        let arm = "https://management.azure.com";
        assert!(same_origin("https://management.azure.com/subscriptions/x/listEvents?page=2", arm));
        assert!(same_origin("https://management.azure.com:443/x", arm));
        for bad in ["https://management.azure.com@evil.example/x", "https://management.azure.com.evil.example/x", "http://management.azure.com/x", "/x", ""] {
            assert!(!same_origin(bad, arm), "{bad}");
        }
    }

    #[test]
    fn hook_names_are_alphanumeric() {
        assert_eq!(hook_name(&Region::parse("westeurope").expect("r")), "regatlaswesteurope");
    }
}
