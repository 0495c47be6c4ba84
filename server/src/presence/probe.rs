//! Regional probes: a HEAD of a tag's manifest on a replica's own endpoint
//! (`regionalEndpointHostNames`, ARM api-version 2026-01-01-preview), with
//! the ACR token exchange per host, says which digest that region serves.
//!
//! Three kinds of work, in this order, on a read budget per registry and
//! replica (ACR throttles the data plane per replica):
//! 1. **confirm**: tags a region should have by now (pushed a minute ago)
//!    and has not reported, looked at again at most once a minute;
//! 2. **backfill**: tags pushed before tracking began, listed through the
//!    login server when tracking starts and every hour;
//! 3. **audit**: every tag again, round-robin, so a mutable tag that regions
//!    resolve differently shows as diverged.
//!
//! A probe says when it looked, not when the content arrived: its arrivals
//! are kept out of lag.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::Utc;
use regatlas_domain::{
    presence::{Arrival, CellState, PresenceAction, PresenceFilter, PresenceSource},
    Digest, Region, Repository, Tag,
};

use super::{event::stamp, Presence};
use crate::migration::oci::{OciAuth, OciClient};

/// At most this many tags are listed for a backfill.
const MAX_LISTED: usize = 100_000;
/// A tag is confirmed by probe once it is this old and still not reported.
const CONFIRM_AFTER: Duration = Duration::from_secs(60);
/// The same tag in the same region is confirmed at most this often, then
/// twice as long each time up to [`MAX_CONFIRM_WAIT`].
const CONFIRM_EVERY: Duration = Duration::from_secs(60);
const MAX_CONFIRM_WAIT: Duration = Duration::from_secs(3600);

/// Probe settings.
#[derive(Clone, Debug)]
pub struct ProbeSettings {
    /// Reads per hour each replica's endpoint may get from Regatlas (0: no probes).
    pub reads_per_hour: u32,
    /// How often the prober looks for work.
    pub tick: Duration,
    /// How often the tags are listed again for backfill.
    pub relist_every: Duration,
}

/// A token bucket with a one-hour record of what it spent.
#[derive(Debug)]
struct Budget {
    tokens: f64,
    last: Instant,
    spent: VecDeque<Instant>,
}

impl Budget {
    fn new(per_hour: u32) -> Budget {
        Budget { tokens: (per_hour as f64 / 60.0).max(1.0), last: Instant::now(), spent: VecDeque::new() }
    }

    /// Refills at `per_hour` (burst: a minute's worth) and takes one if it can.
    fn take(&mut self, per_hour: u32) -> bool {
        let now = Instant::now();
        let rate = per_hour as f64 / 3600.0;
        let burst = (per_hour as f64 / 60.0).max(1.0);
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(burst);
        self.last = now;
        self.forget(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.spent.push_back(now);
            true
        } else {
            false
        }
    }

    fn forget(&mut self, now: Instant) {
        while self.spent.front().is_some_and(|t| now.duration_since(*t) > Duration::from_secs(3600)) {
            self.spent.pop_front();
        }
    }

    fn spent_last_hour(&mut self) -> usize {
        self.forget(Instant::now());
        self.spent.len()
    }
}

/// What the page shows of a region's probing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProbeStats {
    pub reads_last_hour: usize,
    pub budget_per_hour: u32,
    /// Tags waiting for their first look (backfill).
    pub backlog: usize,
}

#[derive(Default)]
struct RegistryProbes {
    /// Region → its endpoint client.
    endpoints: BTreeMap<Region, OciClient>,
    endpoints_at: Option<Instant>,
    budgets: HashMap<Region, Budget>,
    /// Backfill: tags to look at, per region.
    backlog: HashMap<Region, VecDeque<(Repository, Tag)>>,
    listed_at: Option<Instant>,
    /// Audit: where the round-robin is, per region.
    audit_after: HashMap<Region, Option<(String, String)>>,
    /// When a (region, repository:tag) was last confirmed, and how long until the next look.
    confirmed: HashMap<(Region, String), (Instant, Duration)>,
}

/// The prober's state, shared with the presence service.
#[derive(Default)]
pub struct Probes {
    registries: Mutex<HashMap<String, RegistryProbes>>,
    /// `host:port` → region, from the emulator (Azure's host names carry it).
    emulator_regions: Mutex<HashMap<String, Region>>,
}

/// `<registry>.<region>.geo.azurecr.io` (and sovereign clouds' suffixes) → region.
pub fn region_of_host(host: &str) -> Option<Region> {
    let host = host.split("://").last().unwrap_or(host).split(['/', ':']).next().unwrap_or("");
    let mut parts = host.split('.');
    let (_registry, region, geo) = (parts.next()?, parts.next()?, parts.next()?);
    if geo != "geo" || parts.next() != Some("azurecr") {
        return None;
    }
    Region::parse(region.to_ascii_lowercase()).ok()
}

impl Presence {
    /// Probe figures of a registry, per region.
    pub fn probe_stats(&self, registry_id: &str) -> HashMap<String, ProbeStats> {
        let per_hour = self.inner.probe.reads_per_hour;
        let mut all = self.inner.probes.registries.lock().unwrap_or_else(|e| e.into_inner());
        let Some(r) = all.get_mut(registry_id) else { return HashMap::new() };
        let regions: Vec<Region> = r.endpoints.keys().cloned().collect();
        regions
            .into_iter()
            .map(|region| {
                let reads = r.budgets.get_mut(&region).map(Budget::spent_last_hour).unwrap_or(0);
                let backlog = r.backlog.get(&region).map(VecDeque::len).unwrap_or(0);
                (region.as_str().to_string(), ProbeStats { reads_last_hour: reads, budget_per_hour: per_hour, backlog })
            })
            .collect()
    }

    /// Takes one read from a region's budget.
    fn spend(&self, registry_id: &str, region: &Region) -> bool {
        let per_hour = self.inner.probe.reads_per_hour;
        let mut all = self.inner.probes.registries.lock().unwrap_or_else(|e| e.into_inner());
        let r = all.entry(registry_id.to_string()).or_default();
        r.budgets.entry(region.clone()).or_insert_with(|| Budget::new(per_hour)).take(per_hour)
    }

    async fn emulator_region(&self, host: &str) -> Option<Region> {
        if let Some(r) = self.inner.probes.emulator_regions.lock().unwrap_or_else(|e| e.into_inner()).get(host) {
            return Some(r.clone());
        }
        if !self.inner.probe_emulator {
            return None;
        }
        let url = format!("{}/emulator-admin/regional-endpoints", self.inner.arm.endpoint());
        let map: HashMap<String, String> =
            reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().ok()?.get(url).send().await.ok()?.json().await.ok()?;
        let mut known = self.inner.probes.emulator_regions.lock().unwrap_or_else(|e| e.into_inner());
        for (h, r) in map.into_iter().take(10_000) {
            if let Ok(r) = Region::parse(r) {
                known.insert(h, r);
            }
        }
        known.get(host).cloned()
    }

    /// The registry's regional endpoints (read from ARM every ten minutes).
    async fn endpoints(&self, registry_id: &str, arm_id: &str) -> BTreeMap<Region, OciClient> {
        {
            let all = self.inner.probes.registries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(r) = all.get(registry_id).filter(|r| r.endpoints_at.is_some_and(|t| t.elapsed() < Duration::from_secs(600))) {
                return r.endpoints.clone();
            }
        }
        let arm = &self.inner.arm;
        let hosts: Vec<String> = match arm.regional_endpoint_host_names(arm_id).await {
            Ok(h) => h,
            Err(e) => {
                tracing::info!(error = %e, "no regional endpoints to probe");
                Vec::new()
            }
        };
        let previous: BTreeMap<Region, OciClient> = {
            let all = self.inner.probes.registries.lock().unwrap_or_else(|e| e.into_inner());
            all.get(registry_id).map(|r| r.endpoints.clone()).unwrap_or_default()
        };
        let mut endpoints = BTreeMap::new();
        for h in hosts {
            let region = match region_of_host(&h) {
                Some(r) => Some(r),
                None => self.emulator_region(&h).await,
            };
            let Some(region) = region else {
                tracing::warn!(endpoint = %crate::outbound::clean_text(&h, 100), "a regional endpoint whose region is unknown is not probed");
                continue;
            };
            // The same host as before: the same client (its tokens stay).
            if let Some(c) = previous.get(&region).filter(|c| c.base() == crate::migration::oci::base_url(&h)) {
                endpoints.insert(region, c.clone());
                continue;
            }
            // A host name ARM reported for this registry (a private endpoint may resolve it privately).
            let policy = Arc::new(self.inner.outbound.trusting(&h));
            match OciClient::new(&h, OciAuth::Arm(arm.clone()), policy) {
                Ok(c) => {
                    endpoints.insert(region, c);
                }
                Err(e) => tracing::warn!(endpoint = %crate::outbound::clean_text(&h, 100), error = %e, "a regional endpoint is not probed"),
            }
        }
        let mut all = self.inner.probes.registries.lock().unwrap_or_else(|e| e.into_inner());
        let r = all.entry(registry_id.to_string()).or_default();
        r.endpoints = endpoints.clone();
        r.endpoints_at = Some(Instant::now());
        endpoints
    }

    /// Lists every tag through the login server into each region's backlog.
    async fn list_for_backfill(&self, registry_id: &str, login_server: &str, regions: &[Region]) {
        let Ok(client) = OciClient::new(login_server, OciAuth::Arm(self.inner.arm.clone()), Arc::new(self.inner.outbound.trusting(login_server))) else {
            return;
        };
        let mut tags: Vec<(Repository, Tag)> = Vec::new();
        match client.catalog().await {
            Ok(repos) => {
                for repo in repos {
                    let Ok(repository) = Repository::parse(repo.as_str()) else { continue };
                    match client.tags(&repo).await {
                        Ok(list) => tags.extend(list.into_iter().filter_map(|t| Tag::parse(t).ok()).map(|t| (repository.clone(), t))),
                        Err(e) => tracing::warn!(repository = %repository, error = %e, "tags not listed for backfill"),
                    }
                    if tags.len() >= MAX_LISTED {
                        tags.truncate(MAX_LISTED);
                        break;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(registry = %registry_id, error = %e, "repositories not listed for backfill");
                return;
            }
        }
        // Tags already tracked are the audit's; the backlog gets the others, once.
        let known = match self.storage().head_keys(registry_id).await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(error = %e, "tracked tags not read; backfill waits");
                return;
            }
        };
        tags.retain(|(r, t)| !known.contains(&(r.as_str().to_string(), t.as_str().to_string())));
        let mut all = self.inner.probes.registries.lock().unwrap_or_else(|e| e.into_inner());
        let r = all.entry(registry_id.to_string()).or_default();
        for region in regions {
            let backlog = r.backlog.entry(region.clone()).or_default();
            let queued: std::collections::HashSet<(Repository, Tag)> = backlog.iter().cloned().collect();
            backlog.extend(tags.iter().filter(|t| !queued.contains(*t)).cloned());
        }
        r.listed_at = Some(Instant::now());
        tracing::info!(registry = %registry_id, tags = tags.len(), "untracked tags listed for backfill");
    }

    /// One probe: what the region serves for the tag, recorded. `first_seen`:
    /// the time given to a tag Regatlas has never seen (a backfilled tag was
    /// pushed before tracking began, not now).
    async fn look(&self, registry_id: &str, region: &Region, client: &OciClient, repository: &Repository, tag: &Tag, first_seen: Option<&str>) {
        // When it looked: taken before the request, so a slow answer is not newer than it is.
        let now = stamp(Utc::now());
        let seen = match client.manifest(repository.as_str(), tag.as_str(), false).await {
            Ok(m) => m.and_then(|m| Digest::parse(m.digest.as_str()).ok()),
            Err(e) => {
                tracing::debug!(region = %region, error = %e, "probe failed");
                return;
            }
        };
        let storage = self.storage();
        let head = match storage.tag_presence(registry_id, repository, tag).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "probe result not recorded");
                return;
            }
        };
        let result = match (&seen, &head) {
            // The tag's newest push: an arrival in this region.
            (Some(d), Some(h)) if &h.digest == d => self.ingest(&[arrival(registry_id, region, repository, tag, d, &now)]).await.map(|_| ()),
            // A tag not seen before: its first record.
            (Some(d), None) => self.ingest(&[arrival(registry_id, region, repository, tag, d, first_seen.unwrap_or(&now))]).await.map(|_| ()),
            // Another digest, or none: what the region serves, not a push.
            (other, _) => storage.observe_region_tag(registry_id, repository, tag, region, other.as_ref(), &now).await.map(|_| ()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "probe result not recorded");
        }
    }

    /// One round for one registry: confirm, then backfill, then audit, within each region's budget.
    pub async fn probe_registry(&self, registry_id: &str) {
        if self.inner.probe.reads_per_hour == 0 {
            return;
        }
        let storage = self.storage().clone();
        let Ok(Some(topo)) = storage.registry_topology(registry_id).await else { return };
        let endpoints = self.endpoints(registry_id, &topo.registry.arm_id).await;
        if endpoints.is_empty() {
            return;
        }
        let regions: Vec<Region> = endpoints.keys().cloned().collect();
        let relist = {
            let all = self.inner.probes.registries.lock().unwrap_or_else(|e| e.into_inner());
            all.get(registry_id).and_then(|r| r.listed_at).is_none_or(|t| t.elapsed() > self.inner.probe.relist_every)
        };
        if relist {
            if let Some(login) = topo.registry.login_server.as_deref() {
                self.list_for_backfill(registry_id, login, &regions).await;
            }
        }
        let confirm_cutoff = stamp(Utc::now() - chrono::Duration::from_std(CONFIRM_AFTER).unwrap_or_default());
        let incomplete = storage
            .presence(
                registry_id,
                &PresenceFilter {
                    incomplete_in: Some(regions.clone()),
                    pushed_before: Some(confirm_cutoff),
                    oldest_first: true,
                    limit: 200,
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_default();
        let enabled_at = storage.tracking(registry_id).await.ok().flatten().map(|t| t.enabled_at);
        for (region, client) in &endpoints {
            // 1. Confirm what should be there by now.
            for t in incomplete.iter().filter(|t| t.cell(region).0 != CellState::Present) {
                let key = (region.clone(), format!("{}:{}", t.repository, t.tag));
                // Looked at again after a minute, then after twice as long each time (at most an hour).
                let due = {
                    let all = self.inner.probes.registries.lock().unwrap_or_else(|e| e.into_inner());
                    all.get(registry_id).and_then(|r| r.confirmed.get(&key)).is_none_or(|(at, wait)| at.elapsed() >= *wait)
                };
                if !due {
                    continue;
                }
                if !self.spend(registry_id, region) {
                    break;
                }
                self.look(registry_id, region, client, &t.repository, &t.tag, None).await;
                let mut all = self.inner.probes.registries.lock().unwrap_or_else(|e| e.into_inner());
                let r = all.entry(registry_id.to_string()).or_default();
                r.confirmed.retain(|_, (at, wait)| at.elapsed() < *wait * 2);
                let wait = r.confirmed.get(&key).map(|(_, w)| (*w * 2).min(MAX_CONFIRM_WAIT)).unwrap_or(CONFIRM_EVERY);
                r.confirmed.insert(key, (Instant::now(), wait));
            }
            // 2. Backfill, 3. audit: while the budget lasts.
            loop {
                let next = {
                    let mut all = self.inner.probes.registries.lock().unwrap_or_else(|e| e.into_inner());
                    all.get_mut(registry_id).and_then(|r| r.backlog.get_mut(region)).and_then(VecDeque::pop_front)
                };
                let backfill = next.is_some();
                let work = match next {
                    Some(w) => Some(w),
                    None => self.next_audit(registry_id, region).await,
                };
                let Some((repository, tag)) = work else { break };
                if !self.spend(registry_id, region) {
                    // Put it back for the next round.
                    let mut all = self.inner.probes.registries.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(b) = all.get_mut(registry_id).and_then(|r| r.backlog.get_mut(region)) {
                        b.push_front((repository, tag));
                    }
                    break;
                }
                // A backfilled tag was there before tracking began.
                let first_seen = if backfill { enabled_at.as_deref() } else { None };
                self.look(registry_id, region, client, &repository, &tag, first_seen).await;
            }
        }
    }

    /// The audit's next tag in a region (round-robin over the tracked tags).
    async fn next_audit(&self, registry_id: &str, region: &Region) -> Option<(Repository, Tag)> {
        let after = {
            let all = self.inner.probes.registries.lock().unwrap_or_else(|e| e.into_inner());
            all.get(registry_id).and_then(|r| r.audit_after.get(region).cloned()).flatten()
        };
        // Only when a read is left: the audit never holds the budget's last token back from confirms.
        let page = self.storage().presence(registry_id, &PresenceFilter { after: after.clone(), limit: 1, ..Default::default() }).await.ok()?;
        let next = match page.into_iter().next() {
            Some(t) => Some(t),
            // Wrapped around: start again next time.
            None if after.is_some() => {
                let mut all = self.inner.probes.registries.lock().unwrap_or_else(|e| e.into_inner());
                all.entry(registry_id.to_string()).or_default().audit_after.insert(region.clone(), None);
                return None;
            }
            None => None,
        }?;
        let mut all = self.inner.probes.registries.lock().unwrap_or_else(|e| e.into_inner());
        all.entry(registry_id.to_string())
            .or_default()
            .audit_after
            .insert(region.clone(), Some((next.repository.as_str().to_string(), next.tag.as_str().to_string())));
        Some((next.repository, next.tag))
    }

    /// Probes every tracked registry.
    pub(super) async fn probe_all(&self) {
        if let Ok(tracked) = self.storage().tracked().await {
            for t in tracked {
                self.probe_registry(&t.registry_id).await;
            }
        }
    }
}

fn arrival(registry_id: &str, region: &Region, repository: &Repository, tag: &Tag, digest: &Digest, at: &str) -> Arrival {
    Arrival {
        registry_id: registry_id.to_string(),
        region: region.clone(),
        action: PresenceAction::Push,
        repository: repository.clone(),
        tag: Some(tag.clone()),
        digest: digest.clone(),
        size: None,
        at: at.to_string(),
        source: PresenceSource::Probe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_regional_host_names_say_their_region() {
        assert_eq!(region_of_host("contoso.eastus.geo.azurecr.io").map(|r| r.as_str().to_string()).as_deref(), Some("eastus"));
        assert_eq!(region_of_host("https://contoso.westeurope.geo.azurecr.io:443/").map(|r| r.as_str().to_string()).as_deref(), Some("westeurope"));
        assert_eq!(region_of_host("contoso.chinanorth3.geo.azurecr.cn").map(|r| r.as_str().to_string()).as_deref(), Some("chinanorth3"));
        for other in ["contoso.azurecr.io", "127.0.0.1:4000", "contoso.eastus.data.azurecr.io", "evil.eastus.geo.example.com"] {
            assert!(region_of_host(other).is_none(), "{other}");
        }
    }

    #[test]
    fn the_budget_allows_a_minutes_burst_then_its_rate() {
        let mut b = Budget::new(3600);
        let taken = (0..100).filter(|_| b.take(3600)).count();
        assert_eq!(taken, 60, "a minute's worth at once");
        assert_eq!(b.spent_last_hour(), 60);
        assert!(!b.take(3600));
    }
}
