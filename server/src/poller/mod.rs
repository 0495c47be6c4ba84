//! The status poller: keeps the stored topology in step with ARM.
//!
//! Each cycle lists every registry's replications with **one** ARM read per
//! registry (bounded concurrency across registries); registries are
//! discovered per subscription at a slower cadence, and child resources
//! (webhooks, connected registries, transfer pipelines and runs) at their
//! own. What ARM returned is compared with what the poller remembers
//! (fingerprints loaded from SQLite at start): only changes are written, in
//! one transaction per cycle with their history events, and then published.
//! A cycle that sees no change writes nothing. "Last confirmed" times and
//! poll health live in memory (writing them would break that rule); an item
//! ARM stops returning is marked gone, never deleted.
//!
//! Cadence adapts: fast while anything is transitional or an operation is
//! in flight, slow when all is stable; [`PollerHandle::refresh_now`] wakes it.

mod diff;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use futures::{stream, StreamExt};
use regatlas_app::model::PollerStatus;
use regatlas_arm::ArmClient;
use serde_json::json;
use tokio::sync::{watch, Notify};

use crate::{
    events::EventHub,
    storage::{now, Storage, StorageError},
};
use regatlas_domain::{
    record::{ChangeSet, ChildRow, NewEvent},
    Cadence, EventKind,
};

pub use diff::Memo;

/// One registry's reads: its id, its replications, and its child resources
/// (rows and the kinds that failed) when they were read.
type RegistryRead = (String, Result<Vec<regatlas_arm::models::Replication>, regatlas_arm::ArmError>, Option<(Vec<ChildRow>, Vec<String>)>);

/// Writes a change set; the memory follows only if the write succeeded.
async fn store(storage: &Storage, cs: &ChangeSet, memo: &mut Memo) -> Result<Vec<regatlas_domain::record::Event>, crate::storage::StorageError> {
    match storage.apply(cs).await {
        Ok(events) => {
            memo.commit();
            Ok(events)
        }
        Err(e) => {
            memo.discard();
            Err(e)
        }
    }
}

/// Poller settings.
#[derive(Clone, Debug)]
pub struct PollerConfig {
    /// Subscriptions to watch; empty: every subscription the credential sees.
    pub subscriptions: Vec<String>,
    pub discovery_interval: Duration,
    pub fast_interval: Duration,
    pub slow_interval: Duration,
    pub children_interval: Duration,
    /// Registries polled at once.
    pub concurrency: usize,
    /// History older than this is pruned.
    pub retention: Duration,
}

impl Default for PollerConfig {
    fn default() -> Self {
        PollerConfig {
            subscriptions: Vec::new(),
            discovery_interval: Duration::from_secs(300),
            fast_interval: Duration::from_secs(5),
            slow_interval: Duration::from_secs(60),
            children_interval: Duration::from_secs(120),
            concurrency: 16,
            retention: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

/// Poll errors.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What one cycle did (logged, and printed by `regatlas bench poll`).
#[derive(Clone, Debug, Default)]
pub struct CycleReport {
    pub registries: usize,
    pub arm_requests: u64,
    pub rows_written: usize,
    pub events: usize,
    pub transitional: bool,
    pub errors: usize,
    pub elapsed: Duration,
}

/// State shared between the poller task and the rest of the server.
#[derive(Debug)]
pub struct PollerShared {
    memo: tokio::sync::Mutex<Memo>,
    /// Registry id → when ARM last confirmed its replicas (RFC 3339).
    confirmed: Mutex<HashMap<String, String>>,
    /// Registry id (or `discovery:{sub}`) → the current poll error.
    errors: Mutex<HashMap<String, String>>,
    refresh: Notify,
    force_discovery: std::sync::atomic::AtomicBool,
    active_operations: AtomicUsize,
    status: Mutex<PollerStatus>,
}

/// What the rest of the server uses to talk to the poller. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PollerHandle {
    shared: Arc<PollerShared>,
    arm: ArmClient,
}

impl PollerHandle {
    /// Wakes the poller now (discovery included).
    pub fn refresh_now(&self) {
        self.shared.force_discovery.store(true, Ordering::SeqCst);
        self.shared.refresh.notify_one();
    }

    /// Wakes the poller for a replica cycle.
    pub fn nudge(&self) {
        self.shared.refresh.notify_one();
    }

    /// An operation started / ended: the poller stays fast while any runs.
    pub fn operation_started(&self) {
        self.shared.active_operations.fetch_add(1, Ordering::SeqCst);
        self.nudge();
    }
    pub fn operation_ended(&self) {
        let _ = self.shared.active_operations.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| Some(v.saturating_sub(1)));
        self.nudge();
    }

    pub fn confirmed_at(&self, registry_id: &str) -> Option<String> {
        self.shared.confirmed.lock().ok()?.get(registry_id).cloned()
    }

    pub fn poll_error(&self, registry_id: &str) -> Option<String> {
        self.shared.errors.lock().ok()?.get(registry_id).cloned()
    }

    pub fn status(&self) -> PollerStatus {
        let mut s = self.shared.status.lock().map(|s| s.clone()).unwrap_or_default();
        s.arm_requests = self.arm.request_count();
        s.throttled = self.arm.stats().values().map(|v| v.throttled).sum();
        if s.last_error.is_none() {
            s.last_error = self.shared.errors.lock().ok().and_then(|e| e.values().next().cloned());
        }
        s
    }
}

/// Where the leader's poller shares its in-memory state (`instance_info`).
const SHARED_STATE_KEY: &str = "poller_state";
/// Where instances pass a refresh or a nudge on to the leader's poller.
const WAKE_CHANNEL: &str = "regatlas_poller";
const WAKE_DISCOVER: &str = "discover";
const WAKE_CYCLE: &str = "cycle";

/// The leader's poller state as shared.
#[derive(serde::Deserialize)]
struct SharedState {
    confirmed: HashMap<String, String>,
    errors: HashMap<String, String>,
}

/// The poller.
pub struct Poller {
    arm: ArmClient,
    storage: Storage,
    hub: EventHub,
    config: PollerConfig,
    shared: Arc<PollerShared>,
}

impl Poller {
    /// Loads what the database remembers.
    pub async fn new(arm: ArmClient, storage: Storage, hub: EventHub, config: PollerConfig) -> Result<Poller, PollError> {
        let memo = Memo::from_stored(storage.stored_topology().await?);
        Ok(Poller {
            arm,
            storage,
            hub,
            config,
            shared: Arc::new(PollerShared {
                memo: tokio::sync::Mutex::new(memo),
                confirmed: Mutex::new(HashMap::new()),
                errors: Mutex::new(HashMap::new()),
                refresh: Notify::new(),
                force_discovery: std::sync::atomic::AtomicBool::new(false),
                active_operations: AtomicUsize::new(0),
                status: Mutex::new(PollerStatus { cadence: Cadence::Fast, ..Default::default() }),
            }),
        })
    }

    /// On PostgreSQL, after each cycle: what this (leading) poller knows and
    /// the database does not (when ARM last confirmed each registry, the
    /// current poll errors), for the other instances' pages. SQLite has one
    /// instance, and a quiet cycle there writes nothing.
    async fn share_state(&self) {
        if self.storage.postgres().is_none() {
            return;
        }
        let confirmed = self.shared.confirmed.lock().map(|c| c.clone()).unwrap_or_default();
        let errors = self.shared.errors.lock().map(|e| e.clone()).unwrap_or_default();
        let state = json!({ "confirmed": confirmed, "errors": errors });
        if let Err(e) = self.storage.set_shared(SHARED_STATE_KEY, &state.to_string()).await {
            tracing::warn!(error = %e, "cannot share the poller's state with the other instances");
        }
    }

    /// On an instance that does not lead (PostgreSQL): the leader's shared
    /// state, loaded every two seconds into this poller's memory so its
    /// pages show the same confirmations and errors, until `stand_down`
    /// turns false (this instance leads).
    pub async fn mirror(&self, mut stand_down: watch::Receiver<bool>) {
        let Some(pool) = self.storage.postgres() else { return };
        let mut next_read = Instant::now();
        // A refresh or a nudge asked of this instance (an operator's "Refresh
        // now", an operation followed here) is passed on to the leader's
        // poller: a refresh at once, nudges at most once a second (one that
        // comes sooner waits for the second to end).
        let mut pending: Option<&'static str> = None;
        let mut last_forward: Option<Instant> = None;
        loop {
            if let Some(wake) = pending {
                if wake == WAKE_DISCOVER || last_forward.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    pending = None;
                    last_forward = Some(Instant::now());
                    if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)").bind(WAKE_CHANNEL).bind(wake).execute(&pool).await {
                        tracing::warn!(error = %e, "cannot pass a refresh on to the leader's poller");
                    }
                }
            }
            if Instant::now() >= next_read {
                next_read = Instant::now() + Duration::from_secs(2);
                self.read_shared_state().await;
            }
            let wake_at = match (pending, last_forward) {
                (Some(_), Some(t)) => next_read.min(t + Duration::from_secs(1)),
                _ => next_read,
            };
            tokio::select! {
                _ = tokio::time::sleep_until(wake_at.into()) => {}
                _ = self.shared.refresh.notified() => {
                    let discover = self.shared.force_discovery.swap(false, Ordering::SeqCst) || pending == Some(WAKE_DISCOVER);
                    pending = Some(if discover { WAKE_DISCOVER } else { WAKE_CYCLE });
                }
                _ = crate::cluster::until(&mut stand_down, false) => return,
            }
        }
    }

    /// What the leader shares of its poller's state, copied here.
    async fn read_shared_state(&self) {
        match self.storage.shared(SHARED_STATE_KEY).await {
            Ok(Some(text)) => match serde_json::from_str::<SharedState>(&text) {
                Ok(s) => {
                    if let Ok(mut c) = self.shared.confirmed.lock() {
                        *c = s.confirmed;
                    }
                    if let Ok(mut e) = self.shared.errors.lock() {
                        *e = s.errors;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "the leader's shared poller state cannot be read"),
            },
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the leader's shared poller state"),
        }
    }

    /// On PostgreSQL, while this instance polls: wakes the poller when
    /// another instance passes on a refresh or a nudge ([`Poller::mirror`]).
    /// Ends with `shutdown`.
    fn hear_wakes(&self, mut shutdown: watch::Receiver<bool>) {
        let Some(pool) = self.storage.postgres() else { return };
        let shared = self.shared.clone();
        tokio::spawn(async move {
            loop {
                let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut l) => match l.listen(WAKE_CHANNEL).await {
                        Ok(()) => Some(l),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot LISTEN for other instances' refreshes");
                            None
                        }
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot connect to LISTEN for other instances' refreshes");
                        None
                    }
                };
                while let Some(l) = listener.as_mut() {
                    tokio::select! {
                        n = l.recv() => match n {
                            Ok(n) => {
                                // Anyone who may connect can NOTIFY: only the two words mean anything.
                                if n.payload() == WAKE_DISCOVER {
                                    shared.force_discovery.store(true, Ordering::SeqCst);
                                    shared.refresh.notify_one();
                                } else if n.payload() == WAKE_CYCLE {
                                    shared.refresh.notify_one();
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "the listener for other instances' refreshes failed; connecting again");
                                listener = None;
                            }
                        },
                        _ = crate::cluster::until(&mut shutdown, true) => return,
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = crate::cluster::until(&mut shutdown, true) => return,
                }
            }
        });
    }

    /// Loads again what the database remembers (a new leadership term:
    /// another instance may have polled meanwhile).
    pub async fn reload(&self) -> Result<(), PollError> {
        let memo = Memo::from_stored(self.storage.stored_topology().await?);
        *self.shared.memo.lock().await = memo;
        Ok(())
    }

    pub fn handle(&self) -> PollerHandle {
        PollerHandle { shared: self.shared.clone(), arm: self.arm.clone() }
    }

    /// Records a poll error for `key` (an event only when the error changes).
    async fn set_error(&self, key: &str, registry_id: Option<&str>, error: Option<String>) {
        let changed = {
            let Ok(mut errs) = self.shared.errors.lock() else { return };
            match &error {
                Some(e) => errs.insert(key.to_string(), e.clone()).as_deref() != Some(e.as_str()),
                None => errs.remove(key).is_some(),
            }
        };
        if !changed {
            return;
        }
        let (kind, summary) = match &error {
            Some(e) => (EventKind::PollError, format!("Polling {key} failed: {e}")),
            None => (EventKind::PollRecovered, format!("Polling {key} works again")),
        };
        if let Err(e) = self
            .hub
            .record(NewEvent {
                actor: None,
                kind,
                registry_id: registry_id.map(str::to_string),
                subject_id: Some(key.to_string()),
                summary,
                data: json!({ "error": error }),
            })
            .await
        {
            tracing::error!(error = %e, "cannot record a poll error");
        }
    }

    /// One cycle: discovery when asked, then every registry's replications
    /// (and children when asked); writes the changes.
    pub async fn cycle(&self, discover: bool, children: bool) -> Result<CycleReport, PollError> {
        let started = Instant::now();
        let requests_before = self.arm.request_count();
        let mut report = CycleReport::default();
        let mut memo = self.shared.memo.lock().await;

        if discover || memo.registry_count() == 0 {
            let mut cs = ChangeSet::default();
            self.discover(&mut memo, &mut cs, &mut report).await;
            // Discovery's changes are written first, so that new registries
            // are polled in this same cycle.
            if !cs.is_empty() {
                report.rows_written += cs.row_count();
                report.events += cs.events.len();
                let events = store(&self.storage, &cs, &mut memo).await?;
                self.hub.publish(events);
            }
        }
        let targets = memo.live_registries();
        report.registries = targets.len();
        let results = self.read_registries(targets, children).await;

        let stamp = now();
        let mut cs = ChangeSet::default();
        let confirmed = self.diff_reads(&mut memo, results, &mut cs, &mut report).await;
        report.rows_written += cs.row_count();
        report.events += cs.events.len();
        let events = store(&self.storage, &cs, &mut memo).await?;
        report.transitional = memo.any_transitional();
        drop(memo);
        self.hub.publish(events);
        if let Ok(mut c) = self.shared.confirmed.lock() {
            for id in confirmed {
                c.insert(id, stamp.clone());
            }
        }
        report.arm_requests = self.arm.request_count() - requests_before;
        report.elapsed = started.elapsed();
        if let Ok(mut s) = self.shared.status.lock() {
            s.cycles += 1;
            s.last_cycle_at = Some(stamp);
            s.last_cycle_ms = Some(report.elapsed.as_millis() as u64);
        }
        tracing::debug!(
            registries = report.registries,
            arm_requests = report.arm_requests,
            rows = report.rows_written,
            ms = report.elapsed.as_millis() as u64,
            "poll cycle"
        );
        crate::metrics::poll_cycle(report.elapsed, report.errors);
        Ok(report)
    }

    /// Lists the subscriptions (unless configured) and their registries.
    async fn discover(&self, memo: &mut Memo, cs: &mut ChangeSet, report: &mut CycleReport) {
        let subs = if self.config.subscriptions.is_empty() {
            match self.arm.list_subscriptions().await {
                Ok(s) => {
                    self.set_error("discovery", None, None).await;
                    s.into_iter().map(|s| s.subscription_id).collect()
                }
                Err(e) => {
                    report.errors += 1;
                    self.set_error("discovery", None, Some(e.to_string())).await;
                    Vec::new()
                }
            }
        } else {
            self.config.subscriptions.clone()
        };
        for sub in subs {
            let key = format!("discovery:{sub}");
            match self.arm.list_registries(&sub).await {
                Ok(regs) => {
                    self.set_error(&key, None, None).await;
                    memo.diff_registries(&sub, &regs, cs);
                }
                Err(e) => {
                    report.errors += 1;
                    self.set_error(&key, None, Some(e.to_string())).await;
                }
            }
        }
    }

    /// One read per registry (its replications, and its child resources when
    /// asked), `concurrency` at a time.
    async fn read_registries(&self, targets: Vec<(String, String)>, children: bool) -> Vec<RegistryRead> {
        let arm = self.arm.clone();
        stream::iter(targets.into_iter().map(|(id, arm_id)| {
            let arm = arm.clone();
            async move {
                let reps = arm.list_replications(&arm_id).await;
                let kids = if children { Some(diff::fetch_children(&arm, &arm_id).await) } else { None };
                (id, reps, kids)
            }
        }))
        .buffer_unordered(self.config.concurrency.max(1))
        .collect()
        .await
    }

    /// Diffs what the reads returned; the registries ARM confirmed.
    async fn diff_reads(&self, memo: &mut Memo, results: Vec<RegistryRead>, cs: &mut ChangeSet, report: &mut CycleReport) -> Vec<String> {
        let mut confirmed = Vec::new();
        for (id, reps, kids) in results {
            match reps {
                Ok(reps) => {
                    memo.diff_replicas(&id, &reps, cs);
                    confirmed.push(id.clone());
                    self.set_error(&id, Some(&id), None).await;
                }
                Err(e) => {
                    report.errors += 1;
                    self.set_error(&id, Some(&id), Some(e.to_string())).await;
                }
            }
            if let Some((rows, errors)) = kids {
                memo.diff_children(&id, &rows, &errors, cs);
                self.set_error(&format!("{id}#children"), Some(&id), errors.first().cloned()).await;
            }
        }
        confirmed
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        self.hear_wakes(shutdown.clone());
        let mut last_discovery: Option<Instant> = None;
        let mut last_children: Option<Instant> = None;
        let mut last_prune: Option<Instant> = None;
        loop {
            let forced = self.shared.force_discovery.swap(false, Ordering::SeqCst);
            let discover = forced || last_discovery.is_none_or(|t| t.elapsed() >= self.config.discovery_interval);
            let children = forced || last_children.is_none_or(|t| t.elapsed() >= self.config.children_interval);
            let fast = match self.cycle(discover, children).await {
                Ok(r) => {
                    if discover {
                        last_discovery = Some(Instant::now());
                    }
                    if children {
                        last_children = Some(Instant::now());
                    }
                    r.transitional
                }
                Err(e) => {
                    tracing::error!(error = %e, "poll cycle failed");
                    if let Ok(mut s) = self.shared.status.lock() {
                        s.last_error = Some(e.to_string());
                    }
                    true
                }
            } || self.shared.active_operations.load(Ordering::SeqCst) > 0;
            self.share_state().await;
            if last_prune.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                last_prune = Some(Instant::now());
                let cutoff = chrono::Utc::now() - chrono::Duration::from_std(self.config.retention).unwrap_or(chrono::Duration::days(90));
                match self.storage.prune_events(cutoff).await {
                    Ok(n) if n > 0 => tracing::info!(pruned = n, "history pruned to the retention window"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "cannot prune history"),
                }
            }
            let wait = if fast { self.config.fast_interval } else { self.config.slow_interval };
            if let Ok(mut s) = self.shared.status.lock() {
                s.cadence = if fast { Cadence::Fast } else { Cadence::Slow };
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.shared.refresh.notified() => {}
                _ = shutdown.wait_for(|v| *v) => break,
            }
        }
        tracing::info!("poller stopped");
    }
}
