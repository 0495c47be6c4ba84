//! The simulated world: one subscription's registries, their replications,
//! child resources (webhooks, connected registries, pipelines…), their
//! content, and the long-running operations in flight.
//!
//! State transitions are driven by simulated time: each resource records when
//! its next phase begins, and reads compute the current phase from the clock.
//! [`World::tick`] applies completed deletions.

pub mod demo;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::Instant,
};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::{clock::Clock, oci::store::RegistryContent};

/// How long simulated things take, in simulated seconds.
#[derive(Clone, Debug)]
pub struct Timings {
    pub registry_create: f64,
    pub registry_delete: f64,
    pub replica_provision: f64,
    /// Fixed part of a new replica's sync.
    pub replica_sync_base: f64,
    /// Bytes per simulated second a new replica syncs.
    pub replica_sync_bytes_per_sec: f64,
    pub replica_update: f64,
    pub replica_delete: f64,
    pub child_create: f64,
    pub child_delete: f64,
    /// Fixed part of an import.
    pub import_base: f64,
    /// Bytes per simulated second an import copies.
    pub import_bytes_per_sec: f64,
    /// Delay before a push reaches the other replicas.
    pub replication_delay: f64,
    /// Up to this share of the delay is added at random per region and push (0.5: +0..50 %).
    pub replication_jitter: f64,
    /// One region that lags behind: it receives every push this many
    /// simulated seconds later than the others.
    pub straggler: Option<(String, f64)>,
    /// Simulated seconds a pipeline run takes from 0 to 100 %.
    pub pipeline_run: f64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            registry_create: 10.0,
            registry_delete: 10.0,
            replica_provision: 30.0,
            replica_sync_base: 10.0,
            replica_sync_bytes_per_sec: 1_000_000.0,
            replica_update: 5.0,
            replica_delete: 15.0,
            child_create: 3.0,
            child_delete: 3.0,
            import_base: 2.0,
            import_bytes_per_sec: 20_000_000.0,
            replication_delay: 5.0,
            replication_jitter: 0.0,
            straggler: None,
            pipeline_run: 60.0,
        }
    }
}

/// Injected faults (admin API / CLI).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Faults {
    /// Regions whose regional endpoints fail and whose replicas report a problem.
    pub region_outages: HashSet<String>,
    /// Added latency on every ARM request, in real milliseconds.
    pub latency_ms: u64,
    /// Probability (0..1) of a 500/503 per operation kind: `reads`, `writes`, `deletes`.
    pub error_rates: HashMap<String, f64>,
    /// Regions where new replicas stay in Creating.
    pub stuck_creating: HashSet<String>,
    /// Probability (0..1) that an import fails after being accepted.
    pub import_failure_rate: f64,
    /// Regions whose replicas report this status message instead of the
    /// usual one (ARM's messages are free text; the console must treat
    /// them as untrusted).
    pub status_messages: HashMap<String, String>,
}

/// The whole simulated subscription.
pub struct World {
    pub subscription_id: String,
    pub tenant_id: String,
    pub clock: Clock,
    pub timings: Timings,
    pub faults: Faults,
    /// Keyed by lower-case registry name (registry names are globally unique).
    pub registries: BTreeMap<String, Registry>,
    pub operations: HashMap<String, Operation>,
    /// Counters for tests and the admin API: requests seen by operation kind.
    pub counters: BTreeMap<String, u64>,
    /// Blobs written by export pipeline runs, by lower-case
    /// `{container uri}/{blob}`: the storage transfer pipelines share.
    pub transfer_blobs: HashMap<String, TransferBlob>,
    /// Diagnostic settings (Microsoft.Insights) by lower-case registry name.
    pub diagnostic_settings: HashMap<String, Vec<Value>>,
    /// Role assignments (Microsoft.Authorization), each with its scope.
    pub role_assignments: Vec<Value>,
    /// AKS clusters (Microsoft.ContainerService/managedClusters) in the subscription.
    pub aks_clusters: Vec<Value>,
}

/// A blob an export run wrote: the artifacts it holds and where from.
#[derive(Clone, Debug)]
pub struct TransferBlob {
    pub source_registry: String,
    /// `repo:tag` or `repo@digest`.
    pub artifacts: Vec<String>,
    /// When the export run that writes it ends.
    pub ready_at: Instant,
}

pub struct Registry {
    pub name: String,
    pub resource_group: String,
    pub location: String,
    pub sku: String,
    pub tags: Value,
    pub identity: Option<Value>,
    /// Settable properties (adminUserEnabled, networkRuleSet, policies, …), defaults filled in.
    pub props: Map<String, Value>,
    pub created_at: DateTime<Utc>,
    pub ready_at: Instant,
    pub deleting_at: Option<Instant>,
    /// Keyed by lower-case replication name.
    pub replications: BTreeMap<String, Replication>,
    /// Child resources keyed by (kind, lower-case name); kind is the ARM path segment.
    pub children: BTreeMap<(String, String), Child>,
    pub content: RegistryContent,
    /// `host:port` of the global endpoint (login server) on loopback.
    pub login_server: String,
    pub admin_password: String,
}

impl Registry {
    pub fn arm_id(&self, sub: &str) -> String {
        format!("/subscriptions/{sub}/resourceGroups/{}/providers/Microsoft.ContainerRegistry/registries/{}", self.resource_group, self.name)
    }

    pub fn is_premium(&self) -> bool {
        self.sku.eq_ignore_ascii_case("Premium")
    }

    /// The replication in `region`, if any.
    pub fn replication_in(&self, region: &str) -> Option<&Replication> {
        self.replications.values().find(|r| r.location == region)
    }
}

/// Phase of a replication, computed from the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaPhase {
    Provisioning,
    Syncing,
    Ready,
    Updating,
    Deleting,
    Outage,
}

pub struct Replication {
    pub name: String,
    pub location: String,
    pub tags: Value,
    pub region_endpoint_enabled: bool,
    pub zone_redundancy: String,
    pub home: bool,
    pub created_at: DateTime<Utc>,
    /// When provisioning ends (None: stuck in Creating by an injected fault).
    pub provisioned_at: Option<Instant>,
    pub synced_at: Option<Instant>,
    pub updating_until: Option<Instant>,
    pub deleting_at: Option<Instant>,
    /// `host:port` of the regional endpoint on loopback.
    pub endpoint: String,
}

impl Replication {
    pub fn phase(&self, now: Instant, outage: bool) -> ReplicaPhase {
        if self.deleting_at.is_some() {
            return ReplicaPhase::Deleting;
        }
        match self.provisioned_at {
            None => return ReplicaPhase::Provisioning,
            Some(t) if now < t => return ReplicaPhase::Provisioning,
            _ => {}
        }
        if outage {
            return ReplicaPhase::Outage;
        }
        if let Some(u) = self.updating_until {
            if now < u {
                return ReplicaPhase::Updating;
            }
        }
        match self.synced_at {
            Some(t) if now < t => ReplicaPhase::Syncing,
            _ => ReplicaPhase::Ready,
        }
    }
}

/// A generic child resource (webhook, connected registry, scope map, token,
/// export/import pipeline, pipeline run), kept as its ARM JSON.
pub struct Child {
    pub kind: String,
    pub name: String,
    /// The resource body as stored (id/name/type/provisioningState are computed).
    pub body: Value,
    /// Secret parts never returned by GET (webhook serviceUri/customHeaders).
    pub secrets: Value,
    pub created_at: DateTime<Utc>,
    pub ready_at: Instant,
    pub deleting_at: Option<Instant>,
    /// Webhook events (listEvents), newest last.
    pub events: Vec<Value>,
}

/// How an operation is polled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollStyle {
    /// `Azure-AsyncOperation`: 200 + status document.
    AsyncOperation,
    /// `Location`: 202 while running, then the final response.
    Location,
}

#[derive(Clone, Debug)]
pub enum Outcome {
    Succeeded,
    Failed { code: String, message: String },
}

pub struct Operation {
    pub id: String,
    pub style: PollStyle,
    pub started: DateTime<Utc>,
    pub started_instant: Instant,
    /// When it finishes, if known; `None` while a task decides.
    pub done_at: Option<Instant>,
    /// The outcome once decided.
    pub outcome: Option<Outcome>,
    pub finished: Option<DateTime<Utc>>,
}

impl Operation {
    /// Outcome if finished by `now`.
    pub fn finished_outcome(&self, now: Instant) -> Option<&Outcome> {
        match (self.done_at, &self.outcome) {
            (Some(t), Some(o)) if now >= t => Some(o),
            _ => None,
        }
    }

    pub fn percent(&self, now: Instant) -> u8 {
        match self.done_at {
            Some(t) if now >= t => 100,
            Some(t) => {
                let total = t.saturating_duration_since(self.started_instant).as_secs_f64();
                let done = now.saturating_duration_since(self.started_instant).as_secs_f64();
                if total <= 0.0 {
                    100
                } else {
                    ((done / total) * 100.0).clamp(0.0, 99.0) as u8
                }
            }
            None => 0,
        }
    }
}

impl World {
    pub fn new(subscription_id: String, clock: Clock, timings: Timings) -> World {
        World {
            subscription_id,
            tenant_id: "72f988bf-0000-4000-8000-0000000e2e00".to_string(),
            clock,
            timings,
            faults: Faults::default(),
            registries: BTreeMap::new(),
            operations: HashMap::new(),
            counters: BTreeMap::new(),
            transfer_blobs: HashMap::new(),
            diagnostic_settings: HashMap::new(),
            role_assignments: Vec::new(),
            aks_clusters: Vec::new(),
        }
    }

    /// Applies deletions whose time has come.
    pub fn tick(&mut self) {
        let now = Instant::now();
        self.registries.retain(|_, r| r.deleting_at.is_none_or(|t| now < t));
        for reg in self.registries.values_mut() {
            reg.replications.retain(|_, r| r.deleting_at.is_none_or(|t| now < t));
            reg.children.retain(|_, c| c.deleting_at.is_none_or(|t| now < t));
        }
    }

    pub fn count(&mut self, key: &str) {
        *self.counters.entry(key.to_string()).or_default() += 1;
    }

    /// Registers a new operation and returns its id (lowercase: the status
    /// handler looks ids up lowercased).
    pub fn new_operation(&mut self, prefix: &str, style: PollStyle, done_at: Option<Instant>, outcome: Option<Outcome>) -> String {
        let id = format!("{}-{}", prefix.to_ascii_lowercase(), uuid::Uuid::new_v4());
        self.operations
            .insert(id.clone(), Operation { id: id.clone(), style, started: Utc::now(), started_instant: Instant::now(), done_at, outcome, finished: None });
        id
    }

    /// Bytes a new replica must copy: the registry's stored content.
    pub fn sync_secs_for(&self, reg: &Registry) -> f64 {
        self.timings.replica_sync_base + reg.content.total_bytes() as f64 / self.timings.replica_sync_bytes_per_sec.max(1.0)
    }
}

/// ARM name rule for registries and most children: 5–50 alphanumerics.
pub fn valid_arm_name(name: &str) -> bool {
    (5..=50).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Name rule for scope maps (`-` and `_` allowed) and tokens (`-` allowed).
pub fn valid_arm_name_with(name: &str, extra: &[char]) -> bool {
    (5..=50).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}
