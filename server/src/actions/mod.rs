//! Operators' actions on replicas (create, delete, routing on/off) and the
//! console's reads, behind one implementation shared by the server
//! functions and the JSON API ([`Console`] implements the app's `Backend`).
//!
//! An action is validated against the stored topology and `regions.json`
//! before ARM is called; it is recorded as an operation row first (the
//! unique index on active operations per replica turns a second operator's
//! simultaneous action into a clear conflict, not a second ARM call), then
//! ARM is called, its operation handle stored, and a tracker task polls the
//! long-running operation to its end, recording progress and outcome. At
//! start-up, running operations are resumed from their stored handles.

use std::sync::Arc;

mod checks;
pub mod connected;
mod presence;
mod relocate;
mod rules;
mod settings;
pub mod transfer;
pub mod webhooks;

use async_trait::async_trait;
use regatlas_app::{
    api::{Backend, HistoryQuery},
    model::{
        ApiError, ApiTokenRequest, ApiTokenView, CreateReplicaRequest, CreatedApiToken, EventView, Health, MigrationAction, MigrationDetail, MigrationItemView,
        MigrationRequest, MigrationView, OperationKind, OperationState, OperationView, PersonView, PollerStatus, RegistryView, ReplicaState, RoutingRequest,
    },
};
use regatlas_arm::{acr::NewReplication, ArmClient, ArmError, LroHandle, LroPoll};
use serde_json::json;

use crate::{
    events::EventHub,
    poller::PollerHandle,
    storage::{Storage, StorageError},
};
use regatlas_domain::{
    record::{EventQuery, ItemFilter, NewApiToken, NewEvent, NewOperation, Operation, OperationFilter},
    ErrorKind, EventKind, Identity, Principal, Role,
};

/// Why an action was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("{code}: {message}")]
    Invalid { kind: ErrorKind, code: &'static str, message: String },
    #[error(transparent)]
    Arm(#[from] ArmError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ActionError {
    fn invalid(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> ActionError {
        ActionError::Invalid { kind, code, message: message.into() }
    }
}

impl From<ActionError> for ApiError {
    fn from(e: ActionError) -> ApiError {
        match e {
            ActionError::Invalid { kind, code, message } => ApiError::new(kind, code, message),
            // ARM's own refusal reaches the user verbatim, with its code.
            ActionError::Arm(ArmError::Api { status, code, message, .. }) => ApiError::upstream(status, code, message),
            ActionError::Arm(ArmError::OperationFailed { code, message }) => {
                ApiError::new(ErrorKind::Upstream, "ArmOperationFailed", format!("{code}: {message}"))
            }
            ActionError::Arm(other) => ApiError::new(ErrorKind::Upstream, "ArmUnavailable", other.to_string()),
            ActionError::Storage(s) => {
                tracing::error!(error = %s, "storage failure in an action");
                ApiError::new(ErrorKind::Internal, "StorageError", "The database could not record this action.")
            }
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> ApiError {
        ActionError::Storage(e).into()
    }
}

/// The console back end.
#[derive(Clone)]
pub struct Console {
    storage: Storage,
    arm: ArmClient,
    hub: EventHub,
    poller: PollerHandle,
    /// Seconds after which an unconfirmed registry counts as stale.
    stale_after: i64,
    /// Turns true at shutdown: trackers stop and leave their operations
    /// `running`, to be resumed by the next process.
    shutdown: tokio::sync::watch::Receiver<bool>,
    /// The migration engine (`server/src/migration/`).
    engine: Option<crate::migration::Engine>,
    /// Presence tracking (`server/src/presence/`).
    presence: Option<crate::presence::Presence>,
    /// Presence summaries computed in the last seconds (many browsers refetch at once).
    summaries: presence::SummaryCache,
    /// How long a replica may be Creating or Updating before it is stuck.
    stuck_after: std::time::Duration,
    /// Operations this process follows now (one follower each).
    following: FollowedSet,
}

/// The ids of the operations this process follows.
type FollowedSet = std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>;

/// One follower of an ARM operation: counted as active by the poller (it
/// polls faster meanwhile) until dropped, on every way out.
struct Following {
    poller: PollerHandle,
    set: FollowedSet,
    id: String,
}

impl Drop for Following {
    fn drop(&mut self) {
        self.poller.operation_ended();
        if let Ok(mut s) = self.set.lock() {
            s.remove(&self.id);
        }
    }
}

/// On PostgreSQL, an operation recorded without ARM's answer is taken as
/// interrupted only once it was quiet this long: until then another
/// instance may still be waiting for that answer.
const ANSWER_WAIT: chrono::TimeDelta = chrono::TimeDelta::seconds(120);
/// The same for a relocation (its steps run on the instance that started it).
const RELOCATION_QUIET: chrono::TimeDelta = chrono::TimeDelta::minutes(30);

/// Largest page any list returns.
pub const MAX_PAGE: i64 = 1000;

impl Console {
    /// Refuses (and records the refusal) unless `who`'s role includes `need`.
    async fn require(&self, who: &Identity, need: Role, what: &str) -> Result<(), ApiError> {
        if who.allows(need) {
            return Ok(());
        }
        let p = &who.principal;
        tracing::warn!(name = %p.name, subject = %p.subject, role = %who.role, need = %need, what, "request refused by role");
        self.audit(who, EventKind::AuthDenied, format!("{} was refused: {what} needs {}", p.name, need.title()), json!({ "need": need, "what": what })).await;
        Err(ApiError::new(ErrorKind::NotAllowed, "RoleRequired", format!("To {what} you need the {} role; you are {}.", need.title(), who.role.title())))
    }

    /// A token just written, read back for the answer and the audit.
    async fn token_view(&self, id: &str) -> Result<ApiTokenView, ApiError> {
        self.storage
            .api_token(id)
            .await?
            .map(crate::views::api_token)
            .ok_or_else(|| ApiError::new(ErrorKind::Internal, "StorageError", "The token was written but cannot be read back."))
    }

    /// Records an event caused by `who`.
    async fn audit(&self, who: &Identity, kind: EventKind, summary: String, mut data: serde_json::Value) {
        if let Some(o) = data.as_object_mut() {
            o.insert("principal".into(), json!(who.principal));
            o.insert("role".into(), json!(who.role));
        }
        let e = NewEvent { kind, actor: Some(who.principal.key()), registry_id: None, subject_id: None, summary, data };
        if let Err(err) = self.hub.record(e).await {
            tracing::error!(error = %err, "cannot record an audit event");
        }
    }

    pub fn new(
        storage: Storage,
        arm: ArmClient,
        hub: EventHub,
        poller: PollerHandle,
        stale_after_secs: i64,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Console {
        Console {
            storage,
            arm,
            hub,
            poller,
            stale_after: stale_after_secs,
            shutdown,
            engine: None,
            presence: None,
            summaries: Default::default(),
            stuck_after: std::time::Duration::from_secs(1800),
            following: Default::default(),
        }
    }

    /// Tracks presence through this service.
    pub fn with_presence(mut self, presence: crate::presence::Presence) -> Console {
        self.presence = Some(presence);
        self
    }

    /// Calls a replica stuck after this long in Creating or Updating.
    pub fn with_stuck_after(mut self, after: std::time::Duration) -> Console {
        self.stuck_after = after;
        self
    }

    /// Serves migrations through this engine.
    pub fn with_engine(mut self, engine: crate::migration::Engine) -> Console {
        self.engine = Some(engine);
        self
    }

    fn engine(&self) -> Result<&crate::migration::Engine, ApiError> {
        self.engine.as_ref().ok_or_else(|| ApiError::new(ErrorKind::Unavailable, "MigrationsUnavailable", "The migration engine is not running."))
    }

    /// Adds in-memory facts (last confirmed, poll errors) and health.
    fn enrich(&self, mut r: RegistryView) -> RegistryView {
        if let Some(c) = self.poller.confirmed_at(&r.id) {
            if c > r.confirmed_at {
                r.confirmed_at = c.clone();
                for rep in r.replicas.iter_mut().filter(|x| !x.gone) {
                    rep.confirmed_at = c.clone();
                }
            }
        }
        r.poll_error = self.poller.poll_error(&r.id);
        let age = chrono::DateTime::parse_from_rfc3339(&r.confirmed_at)
            .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
            .unwrap_or(i64::MAX);
        let live: Vec<_> = r.replicas.iter().filter(|x| !x.gone).collect();
        r.health = if r.gone {
            Health::Gone
        } else if r.poll_error.is_some() || age > self.stale_after {
            Health::Stale
        } else if live.iter().any(|x| x.state == ReplicaState::Failed || x.state == ReplicaState::Unknown) {
            Health::Degraded
        } else if live.iter().any(|x| x.state.is_transitional()) {
            Health::Changing
        } else {
            Health::Healthy
        };
        r
    }

    async fn find(&self, name: &str) -> Result<RegistryView, ActionError> {
        let found = self.storage.registry_topology(name).await?;
        found.map(|t| self.enrich(crate::views::registry(&t))).ok_or_else(|| {
            ActionError::invalid(
                ErrorKind::NotFound,
                "RegistryNotFound",
                format!("No registry named '{}' is known. Refresh if it was created recently.", crate::outbound::clean_text(name, 100)),
            )
        })
    }

    /// Every registry as the pages show it (before health is added).
    async fn registry_views(&self) -> Result<Vec<RegistryView>, StorageError> {
        Ok(self.storage.topology().await?.iter().map(crate::views::registry).collect())
    }

    fn arm_id(reg: &RegistryView) -> String {
        format!("/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ContainerRegistry/registries/{}", reg.subscription_id, reg.resource_group, reg.name)
    }

    /// Records the operation, calls ARM, starts tracking. `call` makes the ARM request.
    async fn run_action<F, Fut>(
        &self,
        reg: &RegistryView,
        kind: OperationKind,
        target: &str,
        by: &Principal,
        params: serde_json::Value,
        call: F,
    ) -> Result<OperationView, ActionError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<regatlas_arm::acr::Accepted, ArmError>>,
    {
        let id = uuid::Uuid::new_v4().to_string();
        let new = NewOperation {
            id: id.clone(),
            actor: by.name.clone(),
            actor_key: by.key(),
            kind,
            registry_id: reg.id.clone(),
            target: target.to_string(),
            params: params.clone(),
        };
        let Some(op) = self.storage.insert_operation(&new).await? else {
            let other = self.storage.active_operation_on(&reg.id, target).await?;
            let who = other.map(|o| format!("{} ({} by {}, started {})", o.kind, o.state, o.actor, o.created_at)).unwrap_or_else(|| "another operation".into());
            return Err(ActionError::invalid(
                ErrorKind::Conflict,
                "OperationInProgress",
                format!("{}/{target} is busy: {who}. Wait for it to finish.", reg.name),
            ));
        };
        self.publish_op(op.clone(), format!("{} asked: {kind} {}/{target}", by.name, reg.name)).await;
        match call().await {
            Err(e) => {
                let (code, message) = match &e {
                    ArmError::Api { code, message, .. } => (code.clone(), message.clone()),
                    other => ("ArmUnavailable".to_string(), other.to_string()),
                };
                self.storage.operation_finished(&id, OperationState::Failed, Some((&code, &message))).await?;
                if let Some(op) = self.storage.operation(&id).await? {
                    self.publish_op(op, format!("{kind} {}/{target} refused by ARM: {code}", reg.name)).await;
                }
                Err(e.into())
            }
            Ok(acc) => {
                let handle_json = acc.handle.as_ref().and_then(|h| serde_json::to_value(h).ok());
                self.storage.operation_started(&id, handle_json.as_ref()).await?;
                match acc.handle {
                    Some(h) => self.track(id.clone(), h),
                    None => {
                        self.storage.operation_finished(&id, OperationState::Succeeded, None).await?;
                        self.poller.nudge();
                        if kind == OperationKind::ReplicaDelete {
                            self.follow_up_delete(id.clone());
                        }
                    }
                }
                let op = self.storage.operation(&id).await?.unwrap_or(op);
                self.publish_op(op.clone(), format!("{kind} {}/{target} accepted by ARM", reg.name)).await;
                Ok(crate::views::operation(op))
            }
        }
    }

    async fn publish_op(&self, op: Operation, summary: String) {
        let actor = op.actor_key.clone();
        let op = crate::views::operation(op);
        let e = NewEvent {
            kind: EventKind::OperationUpdated,
            actor,
            registry_id: Some(op.registry_id.clone()),
            subject_id: Some(op.id.clone()),
            summary,
            data: serde_json::to_value(&op).unwrap_or_default(),
        };
        if let Err(err) = self.hub.record(e).await {
            tracing::error!(error = %err, "cannot record an operation event");
        }
    }

    /// Polls an ARM operation to its end in the background (unless this
    /// process follows it already).
    fn track(&self, id: String, handle: LroHandle) {
        if self.following.lock().is_ok_and(|mut s| !s.insert(id.clone())) {
            return;
        }
        self.poller.operation_started();
        let me = self.clone();
        let mut stop = self.shutdown.clone();
        let following = Following { poller: self.poller.clone(), set: self.following.clone(), id: id.clone() };
        tokio::spawn(async move {
            let _following = following;
            let outcome = loop {
                if *stop.borrow() {
                    tracing::info!(operation = %id, "shutting down; the operation stays running and resumes at the next start");
                    return;
                }
                match me.arm.poll(&handle).await {
                    Ok(LroPoll::InProgress { .. }) if me.given_up(&id).await => {
                        tracing::info!(operation = %id, "the operation was given up; no longer following it");
                        me.poller.nudge();
                        return;
                    }
                    Ok(LroPoll::InProgress { retry_after, percent }) => {
                        if let Some(p) = percent {
                            if me.storage.operation_progress(&id, p).await.unwrap_or(false) {
                                if let Ok(Some(op)) = me.storage.operation(&id).await {
                                    let summary = format!("{} {}/{}: {p:.0}%", op.kind, op.registry_name, op.target);
                                    me.publish_op(op, summary).await;
                                }
                            }
                        }
                        me.poller.nudge();
                        tokio::select! {
                            _ = tokio::time::sleep(retry_after.min(std::time::Duration::from_secs(30))) => {}
                            // Shutdown (or the server gone): leave the operation running for the next start.
                            _ = stop.wait_for(|v| *v) => return,
                        }
                    }
                    Ok(LroPoll::Succeeded { .. }) => break (OperationState::Succeeded, None),
                    Ok(LroPoll::Failed { code, message }) => break (OperationState::Failed, Some((code, message))),
                    Err(e) if e.is_transient() => {
                        tracing::warn!(operation = %id, error = %e, "polling an operation failed; trying again");
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    }
                    Err(e) => break (OperationState::Failed, Some((e.code().unwrap_or("OperationPollFailed").to_string(), e.to_string()))),
                }
            };
            let (state, err) = outcome;
            match me.storage.operation_finished(&id, state, err.as_ref().map(|(c, m)| (c.as_str(), m.as_str()))).await {
                Ok(true) => {}
                Ok(false) => {
                    // Given up meanwhile, or recorded by another instance's follower.
                    tracing::info!(operation = %id, "the operation had ended already; its late outcome is not recorded");
                    return;
                }
                Err(e) => tracing::error!(operation = %id, error = %e, "cannot record an operation's outcome"),
            }
            if let Ok(Some(op)) = me.storage.operation(&id).await {
                let summary = match &err {
                    None => format!("{} {}/{} succeeded", op.kind, op.registry_name, op.target),
                    Some((c, m)) => format!("{} {}/{} failed: {c}: {m}", op.kind, op.registry_name, op.target),
                };
                let follow_up = err.is_none() && op.kind == OperationKind::ReplicaDelete;
                me.publish_op(op.clone(), summary).await;
                if follow_up {
                    me.recreate_after(&op).await;
                }
            }
        });
    }

    /// A delete that ended at once: its follow-up (a doctor's recreate) in the background.
    fn follow_up_delete(&self, id: String) {
        let me = self.clone();
        tokio::spawn(async move {
            if let Ok(Some(op)) = me.storage.operation(&id).await {
                me.recreate_after(&op).await;
            }
        });
    }

    /// Whether a running operation was given up (its row no longer open).
    async fn given_up(&self, id: &str) -> bool {
        matches!(self.storage.operation(id).await, Ok(Some(op)) if !op.state.is_open())
    }

    /// Resumes tracking operations left running by a previous process, and
    /// a doctor's recreates it left undone (at start, or a new leader's first term).
    pub async fn resume(&self) -> Result<usize, StorageError> {
        self.resume_recreates().await?;
        self.resume_operations().await
    }

    /// The leader's watch over operations (PostgreSQL), every minute until
    /// `stand_down`: operations an instance that died left running are
    /// followed here. Following one another instance follows too only
    /// polls it twice; the first outcome recorded stands.
    pub async fn watch_operations(self, mut stand_down: tokio::sync::watch::Receiver<bool>) {
        if self.storage.postgres().is_none() {
            return;
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
                _ = crate::cluster::until(&mut stand_down, true) => return,
            }
            match self.resume_operations().await {
                Ok(n) if n > 0 => tracing::info!(followed = n, "operations another instance left are followed here"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot look for operations left by another instance"),
            }
        }
    }

    /// Follows the unfinished operations this process does not follow; an
    /// operation ARM's answer was never recorded for is interrupted (on
    /// PostgreSQL only once [`ANSWER_WAIT`] old: another instance may be
    /// waiting for that answer still).
    async fn resume_operations(&self) -> Result<usize, StorageError> {
        let mut n = 0;
        let shared = self.storage.postgres().is_some();
        for op in self.storage.unfinished_operations().await? {
            if self.following.lock().is_ok_and(|s| s.contains(&op.id)) {
                continue;
            }
            let wait = if op.kind == OperationKind::RegistryRelocate { RELOCATION_QUIET } else { ANSWER_WAIT };
            let answer_may_come =
                shared && chrono::DateTime::parse_from_rfc3339(&op.updated_at).is_ok_and(|t| chrono::Utc::now() - t.with_timezone(&chrono::Utc) < wait);
            match op.lro.as_deref().and_then(|l| serde_json::from_str::<LroHandle>(l).ok()) {
                Some(h) => {
                    tracing::info!(operation = %op.id, kind = %op.kind, "resuming an operation");
                    self.track(op.id.clone(), h);
                    n += 1;
                }
                None if answer_may_come => {}
                None if op.kind == OperationKind::RegistryRelocate => {
                    self.storage
                        .operation_finished(
                            &op.id,
                            OperationState::Unknown,
                            Some(("Interrupted", "The server stopped during the relocation; run it again to finish (its steps can be repeated).")),
                        )
                        .await?;
                }
                None => {
                    // Recorded but ARM's answer never stored: whether ARM acted is unknown;
                    // the poller shows the truth.
                    self.storage
                        .operation_finished(
                            &op.id,
                            OperationState::Unknown,
                            Some(("Interrupted", "The server stopped before ARM's answer was recorded; check the replica's state.")),
                        )
                        .await?;
                }
            }
        }
        Ok(n)
    }
}

#[async_trait]
impl Backend for Console {
    async fn registries(&self, who: &Identity) -> Result<Vec<RegistryView>, ApiError> {
        self.require(who, Role::Viewer, "read the registries").await?;
        Ok(self.registry_views().await?.into_iter().map(|r| self.enrich(r)).collect())
    }

    async fn registry(&self, who: &Identity, name: &str) -> Result<RegistryView, ApiError> {
        self.require(who, Role::Viewer, "read a registry").await?;
        Ok(self.find(name).await?)
    }

    async fn create_replica(&self, who: &Identity, registry: &str, req: CreateReplicaRequest) -> Result<OperationView, ApiError> {
        self.require(who, Role::Operator, "create a replica").await?;
        let reg = self.find(registry).await?;
        let region = rules::create(&reg, &req.region, req.zone_redundancy)?;
        let arm_id = Console::arm_id(&reg);
        let new = NewReplication { location: region.name.clone(), zone_redundancy: req.zone_redundancy, region_endpoint_enabled: req.routing };
        let params = json!({ "region": region.name, "zoneRedundancy": req.zone_redundancy, "routing": req.routing });
        let arm = self.arm.clone();
        Ok(self
            .run_action(&reg, OperationKind::ReplicaCreate, &region.name, &who.principal, params, || async move {
                arm.begin_create_replication(&arm_id, &new).await
            })
            .await?)
    }

    async fn delete_replica(&self, who: &Identity, registry: &str, region: &str) -> Result<OperationView, ApiError> {
        self.require(who, Role::Admin, "delete a replica").await?;
        let reg = self.find(registry).await?;
        let rep = rules::delete(&reg, region)?;
        // A replica stuck in Creating or Updating: its operation never ends,
        // and must not block the delete that unsticks it.
        self.give_up_stuck(who, &reg, &rep.location).await?;
        let (arm_id, name, location) = (Console::arm_id(&reg), rep.name.clone(), rep.location.clone());
        let arm = self.arm.clone();
        Ok(self
            .run_action(&reg, OperationKind::ReplicaDelete, &location, &who.principal, json!({ "region": location }), || async move {
                arm.begin_delete_replication(&arm_id, &name).await
            })
            .await?)
    }

    async fn set_routing(&self, who: &Identity, registry: &str, region: &str, req: RoutingRequest) -> Result<OperationView, ApiError> {
        match (req.force, req.enabled) {
            (true, false) => self.require(who, Role::Admin, "force routing off the last routed replica").await?,
            (true, true) => self.require(who, Role::Admin, "force routing on before the hot set has arrived").await?,
            _ => self.require(who, Role::Operator, "turn routing on or off").await?,
        }
        let reg = self.find(registry).await?;
        let rep = rules::routing(&reg, region, req.enabled, req.force)?;
        if req.enabled && !req.force {
            self.readiness_gate(&reg, region).await?;
        }
        let (arm_id, name, location) = (Console::arm_id(&reg), rep.name.clone(), rep.location.clone());
        let arm = self.arm.clone();
        let enabled = req.enabled;
        Ok(self
            .run_action(
                &reg,
                OperationKind::ReplicaRouting,
                &location,
                &who.principal,
                json!({ "region": location, "enabled": enabled, "force": req.force }),
                || async move { arm.begin_set_routing(&arm_id, &name, enabled).await },
            )
            .await?)
    }

    async fn operations(
        &self,
        who: &Identity,
        registry: Option<String>,
        kind: Option<OperationKind>,
        state: Option<OperationState>,
        limit: i64,
        before: Option<(String, String)>,
    ) -> Result<Vec<OperationView>, ApiError> {
        self.require(who, Role::Viewer, "read operations").await?;
        let registry_id = match registry {
            Some(r) => Some(self.find(&r).await?.id),
            None => None,
        };
        let ops = self.storage.operations(&OperationFilter { registry_id, kind, state, limit: limit.clamp(1, MAX_PAGE), before }).await?;
        Ok(ops.into_iter().map(crate::views::operation).collect())
    }

    async fn history(&self, who: &Identity, q: HistoryQuery) -> Result<Vec<EventView>, ApiError> {
        self.require(who, Role::Viewer, "read the history").await?;
        let registry_id = match q.registry {
            Some(r) => Some(self.find(&r).await?.id),
            None => None,
        };
        let q = EventQuery { registry_id, kind: q.kind, subject_id: q.subject, actor: q.actor, before: q.before, limit: q.limit.clamp(1, MAX_PAGE) };
        Ok(self.storage.events(&q).await?.into_iter().map(crate::views::event).collect())
    }

    async fn refresh(&self, who: &Identity) -> Result<(), ApiError> {
        self.require(who, Role::Operator, "refresh the topology").await?;
        tracing::info!(actor = %who.principal.name, "refresh requested");
        self.poller.refresh_now();
        Ok(())
    }

    async fn poller_status(&self, who: &Identity) -> Result<PollerStatus, ApiError> {
        self.require(who, Role::Viewer, "read the poller's status").await?;
        Ok(self.poller.status())
    }

    async fn migrations(&self, who: &Identity, limit: i64, before: Option<(String, String)>) -> Result<Vec<MigrationView>, ApiError> {
        self.require(who, Role::Viewer, "read migrations").await?;
        let now = chrono::Utc::now();
        Ok(self.storage.migrations(limit.clamp(1, MAX_PAGE), before).await?.into_iter().map(|m| crate::views::migration(m, now)).collect())
    }

    async fn migration(&self, who: &Identity, id: &str) -> Result<MigrationDetail, ApiError> {
        self.require(who, Role::Viewer, "read a migration").await?;
        self.engine()?.detail(id).await.map_err(migration_error)
    }

    async fn migration_items(&self, who: &Identity, id: &str, q: regatlas_app::model::ItemQuery) -> Result<Vec<MigrationItemView>, ApiError> {
        self.require(who, Role::Viewer, "read a migration's items").await?;
        let repository = q.repository.filter(|r| !r.trim().is_empty()).map(|r| r.trim().to_string());
        if repository.as_ref().is_some_and(|r| r.len() > 256) {
            return Err(checks::invalid("InvalidFilter", "A repository name is at most 256 characters."));
        }
        let text = q.text.filter(|t| !t.trim().is_empty()).map(|t| t.trim().to_string());
        if text.as_ref().is_some_and(|t| t.chars().count() > 128) {
            return Err(checks::invalid("InvalidFilter", "The text to look for is at most 128 characters."));
        }
        let f = ItemFilter { state: q.state, action: q.action, repository, text, limit: q.limit.clamp(1, MAX_PAGE), after: q.after };
        Ok(self.storage.migration_items(id, &f).await?.into_iter().map(crate::views::item).collect())
    }

    async fn migration_repositories(
        &self,
        who: &Identity,
        id: &str,
        after: Option<String>,
        limit: i64,
    ) -> Result<Vec<regatlas_app::model::RepositoryProgress>, ApiError> {
        self.require(who, Role::Viewer, "read a migration's repositories").await?;
        if after.as_ref().is_some_and(|r| r.len() > 256) {
            return Err(checks::invalid("InvalidCursor", "The cursor is not one this server gave out."));
        }
        Ok(self.storage.migration_repositories(id, after.as_deref(), limit.clamp(1, MAX_PAGE)).await?.into_iter().map(crate::views::repository).collect())
    }

    async fn create_migration(&self, who: &Identity, req: MigrationRequest) -> Result<MigrationView, ApiError> {
        if req.force {
            self.require(who, Role::Admin, "plan a Force migration (it overwrites tags)").await?;
        } else {
            self.require(who, Role::Operator, "plan a migration").await?;
        }
        self.engine()?.create(req, &who.principal).await.map_err(migration_error)
    }

    async fn migration_action(&self, who: &Identity, id: &str, action: MigrationAction) -> Result<MigrationView, ApiError> {
        let e = self.engine()?;
        // Starting, resuming or retrying a Force migration re-runs tag overwrites.
        if matches!(action, MigrationAction::Start | MigrationAction::Resume | MigrationAction::RetryFailed) && e.is_force(id).await.map_err(migration_error)? {
            self.require(who, Role::Admin, "start, resume or retry a Force migration (it overwrites tags)").await?;
        } else {
            self.require(who, Role::Operator, "control a migration").await?;
        }
        let by = &who.principal;
        match action {
            MigrationAction::Start | MigrationAction::Resume => e.start(id, by).await,
            MigrationAction::Pause => e.pause(id, by).await,
            MigrationAction::Cancel => e.cancel(id, by).await,
            MigrationAction::RetryFailed => e.retry_failed(id, by).await,
        }
        .map_err(migration_error)
    }

    async fn migration_report(&self, who: &Identity, id: &str) -> Result<MigrationView, ApiError> {
        self.require(who, Role::Viewer, "read a migration report").await?;
        self.engine()?.view(id).await.map_err(migration_error)
    }

    async fn tick_checklist(&self, who: &Identity, id: &str, key: &str, done: bool) -> Result<MigrationDetail, ApiError> {
        self.require(who, Role::Operator, "tick a checklist item").await?;
        self.engine()?.tick(id, key, done, &who.principal).await.map_err(migration_error)
    }

    async fn people(&self, who: &Identity) -> Result<Vec<PersonView>, ApiError> {
        self.require(who, Role::Viewer, "list people").await?;
        Ok(self.storage.people().await?.into_iter().map(crate::views::person).collect())
    }

    async fn api_tokens(&self, who: &Identity) -> Result<Vec<ApiTokenView>, ApiError> {
        self.require(who, Role::Admin, "manage API tokens").await?;
        Ok(self.storage.api_tokens().await?.into_iter().map(crate::views::api_token).collect())
    }

    async fn create_api_token(&self, who: &Identity, req: ApiTokenRequest) -> Result<CreatedApiToken, ApiError> {
        self.require(who, Role::Admin, "manage API tokens").await?;
        let name = req.name.trim().to_string();
        if name.is_empty() || !crate::outbound::is_plain_text(&name, 64) {
            return Err(ApiError::new(ErrorKind::Invalid, "InvalidTokenName", "A token's name is 1–64 characters of plain text."));
        }
        let days = req.expires_in_days.unwrap_or(90);
        if !(1..=365).contains(&days) {
            return Err(ApiError::new(ErrorKind::Invalid, "InvalidExpiry", "A token expires in 1 to 365 days."));
        }
        let minted = crate::auth::tokens::mint();
        let id = uuid::Uuid::new_v4().to_string();
        let expires_at = (chrono::Utc::now() + chrono::Duration::days(i64::from(days))).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.storage
            .insert_api_token(&NewApiToken {
                id: id.clone(),
                name: name.clone(),
                role: req.role,
                hash: minted.hash,
                hint: minted.hint,
                created_by: who.principal.name.clone(),
                created_by_key: who.principal.key(),
                expires_at,
            })
            .await?;
        let token = self.token_view(&id).await?;
        tracing::info!(token = %id, role = %req.role, by = %who.principal.name, "API token created");
        self.audit(
            who,
            EventKind::AuthToken,
            format!("{} created API token '{}' ({})", who.principal.name, name, req.role.title()),
            json!({ "token": &token }),
        )
        .await;
        Ok(CreatedApiToken { token, secret: minted.secret })
    }

    async fn presence(&self, who: &Identity, registry: &str, q: regatlas_app::model::PresenceQuery) -> Result<regatlas_app::model::PresenceView, ApiError> {
        self.presence_view(who, registry, q).await
    }

    async fn webhooks(&self, who: &Identity, registry: &str) -> Result<Vec<regatlas_app::model::WebhookView>, ApiError> {
        self.webhook_list(who, registry).await
    }

    async fn webhook_deliveries(&self, who: &Identity, registry: &str, webhook: &str) -> Result<Vec<regatlas_app::model::WebhookDeliveryView>, ApiError> {
        self.webhook_events(who, registry, webhook).await
    }

    async fn put_webhook(&self, who: &Identity, registry: &str, webhook: &str, req: regatlas_app::model::WebhookRequest) -> Result<(), ApiError> {
        self.webhook_put(who, registry, webhook, req).await
    }

    async fn delete_webhook(&self, who: &Identity, registry: &str, webhook: &str) -> Result<(), ApiError> {
        self.webhook_delete(who, registry, webhook).await
    }

    async fn ping_webhook(&self, who: &Identity, registry: &str, webhook: &str) -> Result<(), ApiError> {
        self.webhook_ping(who, registry, webhook).await
    }

    async fn registry_settings(&self, who: &Identity, registry: &str) -> Result<regatlas_app::model::RegistrySettingsView, ApiError> {
        self.settings_view(who, registry).await
    }

    async fn doctor_fix(&self, who: &Identity, registry: &str, req: regatlas_app::model::DoctorFixRequest) -> Result<Option<OperationView>, ApiError> {
        self.apply_fix(who, registry, req).await
    }

    async fn connected_registries(&self, who: &Identity, registry: &str) -> Result<Vec<regatlas_app::model::ConnectedRegistryView>, ApiError> {
        self.connected_list(who, registry).await
    }

    async fn put_connected_registry(
        &self,
        who: &Identity,
        registry: &str,
        name: &str,
        req: regatlas_app::model::ConnectedRegistryRequest,
    ) -> Result<(), ApiError> {
        self.connected_put(who, registry, name, req).await
    }

    async fn deactivate_connected_registry(&self, who: &Identity, registry: &str, name: &str) -> Result<(), ApiError> {
        self.connected_deactivate(who, registry, name).await
    }

    async fn transfers(&self, who: &Identity, registry: &str) -> Result<regatlas_app::model::TransferOverview, ApiError> {
        self.transfer_overview(who, registry).await
    }

    async fn start_transfer(
        &self,
        who: &Identity,
        registry: &str,
        req: regatlas_app::model::TransferRequest,
    ) -> Result<regatlas_app::model::TransferView, ApiError> {
        self.transfer_start(who, registry, req).await
    }

    async fn rerun_pipeline_run(&self, who: &Identity, registry: &str, run: &str) -> Result<(), ApiError> {
        self.run_again(who, registry, run).await
    }

    async fn delete_pipeline_run(&self, who: &Identity, registry: &str, run: &str) -> Result<(), ApiError> {
        self.run_delete(who, registry, run).await
    }

    async fn relocation_template(&self, who: &Identity, registry: &str) -> Result<regatlas_app::model::RelocationTemplateView, ApiError> {
        Console::relocation_template(self, who, registry).await
    }

    async fn relocation_preview(
        &self,
        who: &Identity,
        registry: &str,
        req: regatlas_app::model::RelocationRequest,
    ) -> Result<regatlas_app::model::RelocationPreview, ApiError> {
        Console::relocation_preview(self, who, registry, req).await
    }

    async fn relocate(&self, who: &Identity, registry: &str, req: regatlas_app::model::RelocationRequest) -> Result<OperationView, ApiError> {
        self.relocation_create(who, registry, req).await
    }

    async fn set_tracking(
        &self,
        who: &Identity,
        registry: &str,
        req: regatlas_app::model::TrackingRequest,
    ) -> Result<Option<regatlas_app::model::TrackingView>, ApiError> {
        self.change_tracking(who, registry, req).await
    }

    async fn revoke_api_token(&self, who: &Identity, id: &str) -> Result<ApiTokenView, ApiError> {
        self.require(who, Role::Admin, "manage API tokens").await?;
        if !self.storage.revoke_api_token(id, &who.principal).await? {
            return Err(ApiError::new(ErrorKind::NotFound, "TokenNotFound", "No such API token, or it was already revoked."));
        }
        let token = self.token_view(id).await?;
        tracing::info!(token = %id, by = %who.principal.name, "API token revoked");
        self.audit(who, EventKind::AuthToken, format!("{} revoked API token '{}'", who.principal.name, token.name), json!({ "token": &token })).await;
        Ok(token)
    }
}

/// The shared back end for server functions and the JSON API.
pub fn shared(console: Console) -> Arc<dyn Backend> {
    Arc::new(console)
}

fn migration_error(e: crate::migration::MigrationError) -> ApiError {
    if let crate::migration::MigrationError::Storage(cause) = &e {
        tracing::error!(error = %cause, "storage failure in a migration request");
    }
    e.into()
}
