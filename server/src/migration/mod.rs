//! The migration engine: relocate or consolidate registries with ARM
//! `importImage`, as a tracked, resumable job.
//!
//! Phases, each persisting its state in SQLite (`storage/migrations.rs`):
//! 1. **Inventory and plan** (`PREPARING`, [`plan`]): repositories, tags and
//!    digests of the source through the data plane ([`oci`]), filtered, then
//!    diffed by digest against the target: copy / present / conflict. A dry
//!    run stops here (`PLANNED`).
//! 2. **Copy** (`IN_PROGRESS`, [`copy`]): one import per digest carrying all
//!    its tags, at most an [`aimd`] window in flight, backing off on 429 and
//!    honouring `Retry-After`. Item state, attempts and the ARM operation
//!    handle are written before and after every ARM call, so a crash resumes
//!    without losing or repeating an import. Pause, resume, cancel, retry
//!    failed items; a failure threshold stops a migration going badly wrong.
//! 3. **Verify** (`VERIFYING`, [`verify`]): every planned tag resolves to the
//!    same digest in the target; a mismatch is a finding on the item.
//! 4. `COMPLETE` or `FAILED`; the cut-over checklist ([`plan::checklist`])
//!    compares settings and carries the manual steps; deleting the source is
//!    never automated.

pub mod aimd;
pub mod cli;
mod commit;
mod control;
pub mod copy;
mod create;
pub mod oci;
pub mod plan;
pub mod remote;
mod report;
mod size;
pub mod verify;

pub use report::{csv_line, stream as report_stream, ReportFormat, CSV_HEADER, REPORT_PAGE};

use std::{collections::HashMap, sync::Arc, time::Duration};

use regatlas_app::model::{ItemAction, ItemState, MigrationDetail, MigrationState, MigrationView, RegistryView};
use regatlas_arm::ArmClient;
use serde_json::json;
use tokio::sync::{watch, Mutex};

use crate::{
    events::EventHub,
    outbound::clean_text,
    storage::{Storage, StorageError},
};
use regatlas_domain::{
    record::{ItemFilter, NewEvent},
    ChecklistStatus, ErrorKind, EventKind,
};

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("{code}: {message}")]
    Invalid { kind: ErrorKind, code: &'static str, message: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Oci(#[from] oci::OciError),
    #[error(transparent)]
    Arm(#[from] regatlas_arm::ArmError),
}

impl MigrationError {
    pub fn invalid(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> MigrationError {
        MigrationError::Invalid { kind, code, message: message.into() }
    }
}

/// The error as the API and the pages show it. A storage failure's cause
/// goes to the log (where the error is handled), never to the client.
impl From<MigrationError> for regatlas_app::model::ApiError {
    fn from(e: MigrationError) -> regatlas_app::model::ApiError {
        use regatlas_app::model::ApiError;
        match e {
            MigrationError::Invalid { kind, code, message } => ApiError::new(kind, code, message),
            MigrationError::Storage(_) => {
                ApiError::new(ErrorKind::Internal, "StorageError", "The database could not be read or written; the server log has the cause.")
            }
            MigrationError::Oci(e) => ApiError::new(ErrorKind::Upstream, "RegistryUnavailable", e.to_string()),
            MigrationError::Arm(regatlas_arm::ArmError::Api { status, code, message, .. }) => ApiError::upstream(status, code, message),
            MigrationError::Arm(e) => ApiError::new(ErrorKind::Upstream, "ArmUnavailable", e.to_string()),
        }
    }
}

/// Failed, mismatched and conflicting items the detail carries (each kind);
/// the rest through the paged item listing.
pub const DETAIL_ITEMS: i64 = 50;
/// Repositories the detail carries; the rest through the paged listing.
pub const DETAIL_REPOSITORIES: i64 = 50;

/// Tunables (the defaults suit ARM; tests and benchmarks shorten them).
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Imports in flight at the start (AIMD grows from here).
    pub start_window: usize,
    /// Attempts per item for transient failures (5xx, transport).
    pub max_attempts: i64,
    /// Backoff base between attempts of one item.
    pub retry_base: Duration,
    /// Shortest wait between polls of one import operation.
    pub poll_floor: Duration,
    /// Give up polling one import after this long.
    pub import_timeout: Duration,
    /// How long an import a previous process (or leader) may have sent
    /// without its answer on record is watched for in the target before it
    /// is sent again.
    pub resume_grace: Duration,
    /// Who this engine's claims on items name ([`crate::cluster::instance_id`]).
    pub instance: String,
    /// How long this instance's lease (which its claims on items live by)
    /// lasts unless renewed (renewed every quarter of it). Another instance
    /// takes an item over only once the lease ran out; an engine that cannot
    /// renew it sends nothing more once it may have.
    pub claim_lease: Duration,
    /// How long verification waits for content to reach every regional
    /// endpoint (geo-replication is asynchronous) before a finding.
    pub regional_wait: Duration,
    /// What the data-plane client may reach.
    pub outbound: Arc<crate::outbound::OutboundPolicy>,
    /// Credentials a migration may name for a source URL.
    pub credential_sets: crate::outbound::CredentialSets,
    /// Most artifacts one plan may hold.
    pub max_plan_artifacts: usize,
    /// Each registry host's data-plane read budget (shared by every
    /// migration and phase reading that host).
    pub budgets: oci::budget::Budgets,
}

impl Default for EngineSettings {
    /// ARM's pace; the strict outbound policy (public addresses only) and no
    /// credential sets until configuration gives them.
    fn default() -> Self {
        EngineSettings {
            start_window: 8,
            max_attempts: 6,
            retry_base: Duration::from_secs(2),
            poll_floor: Duration::from_millis(250),
            import_timeout: Duration::from_secs(3600),
            resume_grace: Duration::from_secs(30),
            instance: crate::cluster::instance_id().to_string(),
            claim_lease: Duration::from_secs(10),
            regional_wait: Duration::from_secs(900),
            outbound: Arc::new(crate::outbound::OutboundPolicy::default()),
            credential_sets: crate::outbound::CredentialSets::default(),
            max_plan_artifacts: 200_000,
            budgets: oci::budget::Budgets::new(oci::budget::ReadRate::default()),
        }
    }
}

impl EngineSettings {
    /// The defaults with what the configuration decides.
    pub fn from_config(config: &crate::config::Config) -> EngineSettings {
        EngineSettings {
            outbound: config.outbound.clone(),
            credential_sets: config.credential_sets.clone(),
            max_plan_artifacts: config.max_plan_artifacts,
            budgets: oci::budget::Budgets::new(config.registry_reads),
            ..EngineSettings::default()
        }
    }
}

/// What an operator asked a running migration to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Run,
    Pause,
    /// A pause another instance stored already: stop, and write no state
    /// (a resume stored since must not be undone).
    PauseStored,
    Cancel,
}

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    storage: Storage,
    hub: EventHub,
    /// ARM with retries (reads, operation polling).
    arm: ArmClient,
    /// ARM for `importImage` itself: no retries, so the engine sees 429s.
    import_arm: ArmClient,
    settings: EngineSettings,
    shutdown: watch::Receiver<bool>,
    controls: Mutex<HashMap<String, watch::Sender<Control>>>,
    /// Checklists evaluated lately: when, as what time, the setting rows.
    checklists: std::sync::Mutex<HashMap<String, EvaluatedChecklist>>,
    /// Held while a checklist is evaluated against ARM.
    evaluating: Mutex<()>,
}

/// A checklist's setting rows as evaluated: when (monotonic and as text), and the rows.
type EvaluatedChecklist = (std::time::Instant, String, Vec<regatlas_domain::record::ChecklistEntry>);

fn arm_id(reg: &RegistryView) -> String {
    format!("/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ContainerRegistry/registries/{}", reg.subscription_id, reg.resource_group, reg.name)
}

impl Engine {
    pub fn new(storage: Storage, hub: EventHub, arm: ArmClient, settings: EngineSettings, shutdown: watch::Receiver<bool>) -> Result<Engine, MigrationError> {
        let import_arm = arm.with_retry(regatlas_arm::client::RetryPolicy { max_attempts: 1, ..arm.retry_policy().clone() })?;
        Ok(Engine {
            inner: Arc::new(Inner {
                storage,
                hub,
                arm,
                import_arm,
                settings,
                shutdown,
                controls: Mutex::new(HashMap::new()),
                checklists: Default::default(),
                evaluating: Mutex::new(()),
            }),
        })
    }

    async fn registry(&self, name: &str) -> Result<RegistryView, MigrationError> {
        let found = self.inner.storage.registry_topology(name).await?;
        found.map(|t| crate::views::registry(&t)).ok_or_else(|| {
            MigrationError::invalid(
                ErrorKind::NotFound,
                "RegistryNotFound",
                format!("No registry named '{name}' is known. Refresh if it was created recently."),
            )
        })
    }

    async fn publish(&self, id: &str, summary: String) -> Result<MigrationView, MigrationError> {
        self.publish_kind(id, EventKind::MigrationUpdated, summary, None).await
    }

    /// `migration.updated` for what someone did.
    async fn publish_by(&self, id: &str, summary: String, by: &regatlas_domain::Principal) -> Result<MigrationView, MigrationError> {
        self.publish_kind(id, EventKind::MigrationUpdated, summary, Some(by)).await
    }

    /// `migration.updated` for lifecycle steps (the history), or
    /// `migration.progress` for the copy's periodic progress.
    async fn publish_kind(&self, id: &str, kind: EventKind, summary: String, by: Option<&regatlas_domain::Principal>) -> Result<MigrationView, MigrationError> {
        let view = self.view(id).await?;
        // By key, not by scanning every registry: the copy loop publishes its progress twice a second.
        let target = self.inner.storage.registry_id_by_name(&view.target).await?;
        let mut data = json!(view);
        if let (Some(p), Some(o)) = (by, data.as_object_mut()) {
            o.insert("by".into(), json!(p));
        }
        let e = NewEvent {
            kind,
            actor: by.map(|p| p.key()),
            registry_id: target,
            subject_id: Some(id.to_string()),
            summary: format!("{}: {summary}", view.name),
            data,
        };
        if let Err(err) = self.inner.hub.record(e).await {
            tracing::error!(error = %err, "cannot record a migration event");
        }
        Ok(view)
    }

    pub async fn view(&self, id: &str) -> Result<MigrationView, MigrationError> {
        let m = self
            .inner
            .storage
            .migration(id)
            .await?
            .ok_or_else(|| MigrationError::invalid(ErrorKind::NotFound, "MigrationNotFound", format!("No migration {}.", clean_text(id, 64))))?;
        Ok(crate::views::migration(m, chrono::Utc::now()))
    }

    pub async fn detail(&self, id: &str) -> Result<MigrationDetail, MigrationError> {
        let migration = self.view(id).await?;
        let s = &self.inner.storage;
        let items = |state: Option<ItemState>, action: Option<ItemAction>| ItemFilter { state, action, limit: DETAIL_ITEMS, ..Default::default() };
        // Only the kinds the counts say exist are read.
        let mut problems = Vec::new();
        if migration.failed > 0 {
            problems.extend(s.migration_items(id, &items(Some(ItemState::Failed), None)).await?);
        }
        if migration.mismatched > 0 {
            problems.extend(s.migration_items(id, &items(Some(ItemState::Mismatch), None)).await?);
        }
        let mut repositories = s.migration_repositories(id, None, DETAIL_REPOSITORIES + 1).await?;
        let more_repositories = repositories.len() as i64 > DETAIL_REPOSITORIES;
        repositories.truncate(DETAIL_REPOSITORIES as usize);
        let verified_clean = migration.state == MigrationState::Complete && migration.failed == 0 && migration.mismatched == 0;
        let (live, evaluated_at) = self.live_checklist(id).await;
        let mut checklist = match &live {
            Some(rows) => plan::merge_live(s.checklist(id).await?, rows),
            None => s.checklist(id).await?,
        };
        for c in checklist.iter_mut().filter(|c| c.key == "delete-source") {
            if !verified_clean && c.status != ChecklistStatus::Done {
                c.status = ChecklistStatus::Unsafe;
            }
        }
        Ok(MigrationDetail {
            findings: s.migration_findings(id).await?,
            repositories: repositories.into_iter().map(crate::views::repository).collect(),
            more_repositories,
            conflicts: if migration.conflicts > 0 {
                s.migration_items(id, &items(None, Some(ItemAction::Conflict))).await?.into_iter().map(crate::views::item).collect()
            } else {
                Vec::new()
            },
            problems: problems.into_iter().map(crate::views::item).collect(),
            checklist: checklist.into_iter().map(crate::views::checklist).collect(),
            source_delete_safe: verified_clean,
            checklist_evaluated_at: evaluated_at,
            migration,
        })
    }

    /// The checklist's setting rows evaluated against ARM now (at most
    /// every 30 s per migration: the page is read again on every live
    /// event). `None` when the target is not known.
    async fn live_checklist(&self, id: &str) -> (Option<Vec<regatlas_domain::record::ChecklistEntry>>, Option<String>) {
        const FRESH: Duration = Duration::from_secs(30);
        let cached = |me: &Engine| {
            me.inner
                .checklists
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(id)
                .filter(|(at, _, _)| at.elapsed() < FRESH)
                .map(|(_, w, r)| (r.clone(), w.clone()))
        };
        if let Some((rows, when)) = cached(self) {
            return (Some(rows), Some(when));
        }
        // One evaluation at a time: the pages and followers waiting get its result.
        let _one = self.inner.evaluating.lock().await;
        if let Some((rows, when)) = cached(self) {
            return (Some(rows), Some(when));
        }
        let req = plan::spec_of(self.inner.storage.migration_spec(id).await.ok().flatten());
        let Ok(target) = self.registry(&req.target_registry).await else { return (None, None) };
        let rows = plan::checklist(self, &req, &target).await;
        let when = chrono::Utc::now().to_rfc3339();
        self.inner.checklists.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string(), (std::time::Instant::now(), when.clone(), rows.clone()));
        (Some(rows), Some(when))
    }

    /// Starts the background driver for a migration unless one runs, or
    /// this instance stands down (shutting down, or another instance leads:
    /// the leader adopts it, [`Engine::adopt`]).
    pub fn spawn(&self, id: String) {
        if *self.inner.shutdown.borrow() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let (tx, rx) = watch::channel(Control::Run);
            {
                let mut c = me.inner.controls.lock().await;
                if c.contains_key(&id) {
                    return;
                }
                c.insert(id.clone(), tx);
            }
            let mut wait_for_database = false;
            match me.drive(&id, rx).await {
                // The database failed for a while (a restart, a lost
                // connection, busy): nothing is lost (every write waited for
                // its commit), so the migration is not failed; it is taken up
                // again a few seconds later ([`Engine::adopt`]). Any other
                // storage error fails it.
                Err(MigrationError::Storage(cause)) if cause.is_transient() => {
                    tracing::error!(migration = %id, error = %cause, "storage failure in a migration; it is taken up again when the database answers");
                    wait_for_database = true;
                }
                Err(e) => {
                    if let MigrationError::Storage(cause) = &e {
                        tracing::error!(migration = %id, error = %cause, "storage failure in a migration");
                    }
                    let regatlas_app::model::ApiError { code, message, .. } = e.into();
                    let message = clean_text(&message, 500);
                    tracing::error!(migration = %id, %code, %message, "migration failed");
                    let _ = me.inner.storage.set_migration_state(&id, MigrationState::Failed, Some(&format!("{code}: {message}"))).await;
                    let _ = me.publish(&id, format!("failed: {code}")).await;
                }
                // A clean stop (shutdown included) is no crash.
                Ok(()) => {
                    let _ = me.inner.storage.clear_crash_resumes(&id).await;
                }
            }
            if wait_for_database {
                // Still registered meanwhile, so the leader's watch does not take it up at once.
                let mut sd = me.inner.shutdown.clone();
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(3)) => {}
                    _ = crate::cluster::until(&mut sd, true) => {}
                }
            }
            me.inner.controls.lock().await.remove(&id);
            // An operator may have resumed it between the driver's last state
            // change and the line above (that spawn found this driver still
            // registered and left): pick it up again.
            let active = matches!(me.inner.storage.migration_state(&id).await, Ok(Some(s)) if s.is_active());
            if active && !*me.inner.shutdown.borrow() {
                me.spawn(id);
            }
        });
    }

    /// After a restart: drives every migration the engine owned. One found
    /// mid-phase is resumed once; found so again in the same phase with no
    /// item finished since (the process died twice there, perhaps because
    /// of it), it is FAILED.
    pub async fn resume_all(&self) -> Result<usize, MigrationError> {
        let ids = self.inner.storage.active_migrations().await?;
        let mut resumed = 0;
        for id in &ids {
            if self.inner.storage.note_crash_resume(id).await? {
                tracing::error!(migration = %id, "migration stopped after repeated crashes");
                self.inner
                    .storage
                    .set_migration_state(
                        id,
                        MigrationState::Failed,
                        Some("CrashLoop: stopped after repeated crashes in the same phase; start it again once the cause is known"),
                    )
                    .await?;
                self.publish(id, "stopped after repeated crashes".into()).await?;
                continue;
            }
            tracing::info!(migration = %id, "resuming migration");
            self.spawn(id.clone());
            resumed += 1;
        }
        Ok(resumed)
    }

    /// The leader's watch over migrations, once a second until `stand_down`:
    /// drives an active migration nobody drives here (started through
    /// another instance), and passes on a pause or cancel another instance
    /// wrote to the driver that runs here.
    pub async fn adopt(self, mut stand_down: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = crate::cluster::until(&mut stand_down, true) => return,
            }
            let ids = match self.inner.storage.active_migrations().await {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read active migrations");
                    continue;
                }
            };
            let driven: Vec<String> = self.inner.controls.lock().await.keys().cloned().collect();
            for id in ids.iter().filter(|id| !driven.contains(id)) {
                tracing::info!(migration = %id, "driving a migration started elsewhere");
                self.spawn(id.clone());
            }
            for id in driven {
                let signal = match self.inner.storage.migration_state(&id).await {
                    Ok(Some(MigrationState::Paused)) => Control::PauseStored,
                    Ok(Some(MigrationState::Stopping)) => Control::Cancel,
                    _ => continue,
                };
                self.signal(&id, signal).await;
            }
        }
    }

    async fn drive(&self, id: &str, control: watch::Receiver<Control>) -> Result<(), MigrationError> {
        loop {
            if *self.inner.shutdown.borrow() {
                return Ok(());
            }
            let Some(state) = self.inner.storage.migration_state(id).await? else { return Ok(()) };
            match state {
                MigrationState::Preparing => match plan::prepare(self, id, &control).await {
                    // A cancel (or shutdown) during the inventory: the state says which.
                    Err(MigrationError::Oci(oci::OciError::Cancelled)) => continue,
                    other => other?,
                },
                MigrationState::InProgress => match copy::run(self, id, control.clone()).await? {
                    copy::Finish::Done => {
                        self.inner.storage.set_migration_state(id, MigrationState::Verifying, None).await?;
                        self.publish(id, "copy finished; verifying".into()).await?;
                    }
                    copy::Finish::Paused => {
                        self.inner.storage.set_migration_state(id, MigrationState::Paused, None).await?;
                        self.publish(id, "paused".into()).await?;
                        return Ok(());
                    }
                    // Paused through another instance, which stored the state; if it
                    // was resumed meanwhile, this driver is taken up again on return.
                    copy::Finish::PausedElsewhere => {
                        self.publish(id, "paused: the imports in flight have ended".into()).await?;
                        return Ok(());
                    }
                    copy::Finish::Cancelled => {
                        self.inner.storage.set_migration_state(id, MigrationState::Stopped, Some("cancelled by an operator")).await?;
                        self.publish(id, "stopped".into()).await?;
                        return Ok(());
                    }
                    copy::Finish::Shutdown => return Ok(()),
                    copy::Finish::Threshold(msg) => {
                        self.inner.storage.set_migration_state(id, MigrationState::Failed, Some(&msg)).await?;
                        self.publish(id, msg).await?;
                        return Ok(());
                    }
                },
                MigrationState::Verifying => {
                    verify::run(self, id).await?;
                }
                MigrationState::Stopping => {
                    self.inner.storage.set_migration_state(id, MigrationState::Stopped, Some("cancelled by an operator")).await?;
                    self.publish(id, "stopped".into()).await?;
                    return Ok(());
                }
                _ => return Ok(()),
            }
        }
    }

    /// Waits (at most `limit`) until every driver has returned, so that
    /// their last writes land before storage closes.
    pub async fn wait_idle(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.inner.controls.lock().await.is_empty() {
            if tokio::time::Instant::now() > deadline {
                tracing::warn!("migration drivers still running at shutdown");
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
