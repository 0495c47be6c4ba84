//! States and kinds. Each is an enum whose wire and database string is
//! written once, in its `string_enum!` block; everything else matches on the
//! variants.

/// A string that names no variant of a state or kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{value}'")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

string_enum! {
    /// Simplified state of a replica, for colours, filters and the poller's cadence.
    pub enum ReplicaState {
        Provisioning => "provisioning",
        Syncing => "syncing",
        Ready => "ready",
        Updating => "updating",
        Deleting => "deleting",
        Failed => "failed",
        Unknown => "unknown",
    }
}

impl ReplicaState {
    /// Derived from ARM's `provisioningState` and `status.displayStatus`.
    pub fn derive(provisioning: Option<&str>, display: Option<&str>) -> ReplicaState {
        let p = provisioning.unwrap_or("").to_ascii_lowercase();
        let d = display.unwrap_or("").to_ascii_lowercase();
        match p.as_str() {
            "creating" => ReplicaState::Provisioning,
            "updating" => ReplicaState::Updating,
            "deleting" => ReplicaState::Deleting,
            "failed" | "canceled" => ReplicaState::Failed,
            "succeeded" => match d.as_str() {
                "ready" | "" => ReplicaState::Ready,
                "syncing" => ReplicaState::Syncing,
                "provisioning" => ReplicaState::Provisioning,
                "updating" => ReplicaState::Updating,
                _ => ReplicaState::Failed,
            },
            _ => ReplicaState::Unknown,
        }
    }

    /// Provisioning, syncing, updating or deleting: the poller goes fast.
    pub fn is_transitional(self) -> bool {
        matches!(self, ReplicaState::Provisioning | ReplicaState::Syncing | ReplicaState::Updating | ReplicaState::Deleting)
    }
}

/// Whether an ARM `provisioningState` (of a registry) is on its way somewhere.
pub fn provisioning_is_transitional(state: Option<&str>) -> bool {
    state.is_some_and(|s| matches!(s.to_ascii_lowercase().as_str(), "creating" | "updating" | "deleting"))
}

string_enum! {
    /// Registry health badge.
    pub enum Health {
        Healthy => "healthy",
        Changing => "changing",
        Degraded => "degraded",
        Stale => "stale",
        Gone => "gone",
    }
}

string_enum! {
    /// What an operator asked ARM to do.
    pub enum OperationKind {
        ReplicaCreate => "replica.create",
        ReplicaDelete => "replica.delete",
        ReplicaRouting => "replica.routing",
        /// A new registry made from another's exported template (relocation).
        RegistryRelocate => "registry.relocate",
    }
}

string_enum! {
    /// Where an operator's action is.
    pub enum OperationState {
        /// Recorded; ARM not yet answered.
        Pending => "pending",
        /// ARM accepted; its operation is followed.
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        /// Its outcome could not be learnt (the ARM operation vanished).
        Unknown => "unknown",
    }
}

impl OperationState {
    /// Still pending or running.
    pub fn is_open(self) -> bool {
        matches!(self, OperationState::Pending | OperationState::Running)
    }
}

string_enum! {
    /// What the plan decided for one artifact.
    pub enum ItemAction {
        /// Import it.
        Copy => "copy",
        /// The target already holds the same digest under every tag.
        Present => "present",
        /// A target tag points at another digest; `NoForce` leaves it.
        Conflict => "conflict",
    }
}

string_enum! {
    /// Where one artifact is.
    pub enum ItemState {
        /// In a dry run's plan.
        Planned => "planned",
        /// To be imported.
        Pending => "pending",
        /// `importImage` sent (its operation handle stored once accepted).
        Importing => "importing",
        Imported => "imported",
        Failed => "failed",
        Skipped => "skipped",
        Verified => "verified",
        /// Verification found a difference.
        Mismatch => "mismatch",
    }
}

string_enum! {
    /// Where a migration is in its life.
    #[derive(Default)]
    pub enum MigrationState {
        /// Inventory and plan are running.
        #[default]
        Preparing => "PREPARING",
        /// A dry run's plan is ready; nothing is copied until someone starts it.
        Planned => "PLANNED",
        /// Copying.
        InProgress => "IN_PROGRESS",
        Paused => "PAUSED",
        Verifying => "VERIFYING",
        Complete => "COMPLETE",
        Failed => "FAILED",
        /// Cancel asked; the driver is winding down.
        Stopping => "STOPPING",
        Stopped => "STOPPED",
    }
}

string_enum! {
    /// What a person asks of a migration.
    pub enum MigrationAction {
        /// Start a dry run's plan, resume a paused or stopped one, re-run a failed one's copy.
        Start => "start",
        /// The same as start.
        Resume => "resume",
        Pause => "pause",
        Cancel => "cancel",
        /// Failed items become pending again.
        RetryFailed => "retry-failed",
    }
}

impl MigrationState {
    /// The engine (not a person) owns the migration: a driver runs, and is
    /// resumed after a restart.
    pub fn is_active(self) -> bool {
        matches!(self, MigrationState::Preparing | MigrationState::InProgress | MigrationState::Verifying | MigrationState::Stopping)
    }

    /// Nothing runs until a person acts (the finish time is stamped).
    pub fn is_settled(self) -> bool {
        matches!(self, MigrationState::Planned | MigrationState::Paused | MigrationState::Complete | MigrationState::Failed | MigrationState::Stopped)
    }

    /// Someone may start (or resume) it.
    pub fn can_start(self) -> bool {
        matches!(self, MigrationState::Planned | MigrationState::Paused | MigrationState::Stopped | MigrationState::Failed)
    }

    /// Someone may cancel it.
    pub fn can_cancel(self) -> bool {
        !matches!(self, MigrationState::Complete | MigrationState::Stopped)
    }
}

string_enum! {
    /// What an entry of the history says happened.
    pub enum EventKind {
        RegistryDiscovered => "registry.discovered",
        RegistryReturned => "registry.returned",
        RegistryChanged => "registry.changed",
        RegistryGone => "registry.gone",
        ReplicaAppeared => "replica.appeared",
        ReplicaReturned => "replica.returned",
        ReplicaChanged => "replica.changed",
        ReplicaGone => "replica.gone",
        ChildAppeared => "child.appeared",
        ChildChanged => "child.changed",
        ChildGone => "child.gone",
        /// Someone created, changed, deleted or pinged a child resource (a webhook) through Regatlas.
        ChildAction => "child.action",
        PollError => "poll.error",
        PollRecovered => "poll.recovered",
        /// An operator's action moved (its state or progress).
        OperationUpdated => "operation.updated",
        MigrationUpdated => "migration.updated",
        /// Copy progress (frequent; live feed only in spirit).
        MigrationProgress => "migration.progress",
        /// Someone signed in.
        AuthSignIn => "auth.sign-in",
        /// A sign-in was refused (no role, a failed check at the provider's answer).
        AuthRefused => "auth.refused",
        AuthSignOut => "auth.sign-out",
        /// A request was refused for its role or its credential.
        AuthDenied => "auth.denied",
        /// An API token was created or revoked.
        AuthToken => "auth.token",
        /// Presence tracking was turned on or off, or its webhooks changed.
        PresenceTracking => "presence.tracking",
        /// Arrivals were recorded (coalesced: at most one a second per registry).
        PresenceProgress => "presence.progress",
    }
}

string_enum! {
    /// The families of [`EventKind`] (the part before the dot): the history's filter.
    pub enum EventFamily {
        Registry => "registry",
        Replica => "replica",
        Child => "child",
        Poll => "poll",
        Operation => "operation",
        Migration => "migration",
        Auth => "auth",
        Presence => "presence",
    }
}

impl EventKind {
    pub fn family(self) -> EventFamily {
        use EventKind::*;
        match self {
            RegistryDiscovered | RegistryReturned | RegistryChanged | RegistryGone => EventFamily::Registry,
            ReplicaAppeared | ReplicaReturned | ReplicaChanged | ReplicaGone => EventFamily::Replica,
            ChildAppeared | ChildChanged | ChildGone | ChildAction => EventFamily::Child,
            PollError | PollRecovered => EventFamily::Poll,
            OperationUpdated => EventFamily::Operation,
            MigrationUpdated | MigrationProgress => EventFamily::Migration,
            AuthSignIn | AuthRefused | AuthSignOut | AuthDenied | AuthToken => EventFamily::Auth,
            PresenceTracking | PresenceProgress => EventFamily::Presence,
        }
    }

    /// Frequent progress events the history lists leave out.
    pub fn is_progress(self) -> bool {
        matches!(self, EventKind::OperationUpdated | EventKind::MigrationProgress | EventKind::PresenceProgress)
    }
}

string_enum! {
    /// A registry's child resource that the poller follows.
    pub enum ChildKind {
        Webhook => "webhook",
        ConnectedRegistry => "connected-registry",
        PipelineRun => "pipeline-run",
    }
}

string_enum! {
    /// Which way a transfer pipeline moves artifacts.
    pub enum PipelineKind {
        /// Registry → storage blob.
        Export => "export",
        /// Storage blob → registry.
        Import => "import",
    }
}

string_enum! {
    /// Where a pipeline run is (ARM's `response.status` is free text; this is what it says).
    pub enum RunState {
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        /// Not created in ARM (its request was refused), or deleted since.
        Missing => "missing",
        /// A status this version does not know.
        Unknown => "unknown",
    }
}

impl RunState {
    /// From ARM's `response.status`.
    pub fn from_status(s: Option<&str>) -> RunState {
        match s.map(str::to_ascii_lowercase).as_deref() {
            Some("running") | Some("inprogress") | Some("started") | Some("queued") => RunState::Running,
            Some("succeeded") | Some("completed") => RunState::Succeeded,
            Some("failed") | Some("canceled") | Some("cancelled") => RunState::Failed,
            _ => RunState::Unknown,
        }
    }
}

string_enum! {
    /// Where a transfer (one or more pipeline runs started together) is.
    pub enum TransferState {
        Running => "running",
        Succeeded => "succeeded",
        /// Some runs failed or are missing, others succeeded.
        PartlyFailed => "partly-failed",
        Failed => "failed",
    }
}

string_enum! {
    /// Why a connected registry needs attention.
    pub enum ConnectedFlag {
        /// Activated, but not connected to its parent.
        Offline => "offline",
        Unhealthy => "unhealthy",
        /// No successful sync for longer than its schedule and window allow.
        SyncOverdue => "sync-overdue",
        /// Activated and never synced.
        NeverSynced => "never-synced",
    }
}

string_enum! {
    /// How much a doctor's finding matters.
    pub enum Severity {
        /// Something is broken or will break: act now.
        Critical => "critical",
        /// Works today, but not as the guides advise.
        Warning => "warning",
        Info => "info",
    }
}

string_enum! {
    /// A fix the doctor can apply for a finding.
    pub enum DoctorFix {
        /// Delete a replica and create it again with zone redundancy
        /// (zone redundancy is set only when a replica is created).
        RecreateWithZones => "recreate-with-zones",
        /// Delete a replica stuck in Creating or Updating (its running
        /// operation is given up) and create it again.
        RecreateStuck => "recreate-stuck",
        /// Turn on dedicated data endpoints (`dataEndpointEnabled`).
        EnableDataEndpoints => "enable-data-endpoints",
    }
}

string_enum! {
    /// A line of the cut-over checklist: compared by Regatlas, or ticked by someone.
    pub enum ChecklistKind {
        Setting => "setting",
        Manual => "manual",
    }
}

string_enum! {
    /// Where a checklist line is.
    pub enum ChecklistStatus {
        /// Source and target agree.
        Same => "same",
        /// Source and target differ.
        Different => "different",
        /// Nobody has done it yet.
        Todo => "todo",
        Done => "done",
        /// Not to be done yet: verification has not passed.
        Unsafe => "unsafe",
    }
}

string_enum! {
    /// Why a request did not succeed: a reason, never an HTTP status (the
    /// HTTP layer chooses the status from it, in one place).
    pub enum ErrorKind {
        /// The request itself is wrong (a name, a field, a state it cannot apply to).
        Invalid => "invalid",
        /// ARM or a registry refused the credential's rights.
        Forbidden => "forbidden",
        NotFound => "not-found",
        /// Something else holds the resource, or it is in the wrong state.
        Conflict => "conflict",
        /// ARM throttled the request.
        Throttled => "throttled",
        /// ARM or a registry failed or could not be reached.
        Upstream => "upstream",
        /// This server cannot take it now (a limit is reached).
        Unavailable => "unavailable",
        /// This server failed (its log has the cause).
        Internal => "internal",
        /// The request named a host this server does not serve.
        Misdirected => "misdirected",
        /// The request carries no identity, or one that is not valid.
        Unauthenticated => "unauthenticated",
        /// The caller's role does not allow it.
        NotAllowed => "not-allowed",
        /// The request's body is over the limit for it.
        TooLarge => "too-large",
    }
}

impl ErrorKind {
    /// The reason behind an upstream (ARM) answer's status.
    pub fn of_upstream_status(status: u16) -> ErrorKind {
        match status {
            401 | 403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            409 | 412 => ErrorKind::Conflict,
            429 => ErrorKind::Throttled,
            400..=499 => ErrorKind::Invalid,
            _ => ErrorKind::Upstream,
        }
    }
}

string_enum! {
    /// How often the poller polls.
    #[derive(Default)]
    pub enum Cadence {
        /// Something is changing.
        Fast => "fast",
        #[default]
        Slow => "slow",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_keep_their_wire_strings_and_parse_back() {
        assert_eq!(serde_json::to_string(&MigrationState::InProgress).expect("json"), "\"IN_PROGRESS\"");
        assert_eq!(serde_json::to_string(&ItemState::Mismatch).expect("json"), "\"mismatch\"");
        assert_eq!(serde_json::to_string(&ItemAction::Conflict).expect("json"), "\"conflict\"");
        assert_eq!(serde_json::to_string(&EventKind::ChildGone).expect("json"), "\"child.gone\"");
        for &s in MigrationState::ALL {
            assert_eq!(MigrationState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).expect("json"), format!("\"{}\"", s.as_str()));
            assert!(!(s.is_active() && s.is_settled()), "{s} is both active and settled");
        }
        for s in ItemState::ALL {
            assert_eq!(ItemState::parse(s.as_str()), Some(*s));
        }
        assert_eq!(MigrationState::parse("in_progress"), None);
        assert_eq!(ItemAction::parse("Copy"), None);
        assert_eq!("nope".parse::<Health>().expect_err("unknown").to_string(), "unknown Health 'nope'");
    }

    #[test]
    fn every_event_kind_is_named_after_its_family() {
        for &k in EventKind::ALL {
            assert_eq!(k.as_str().split('.').next(), Some(k.family().as_str()), "{k}");
        }
        for &f in EventFamily::ALL {
            assert!(EventKind::ALL.iter().any(|k| k.family() == f), "{f} has no kinds");
        }
    }

    #[test]
    fn replica_state_from_arm() {
        assert_eq!(ReplicaState::derive(Some("Succeeded"), Some("Ready")), ReplicaState::Ready);
        assert_eq!(ReplicaState::derive(Some("Succeeded"), Some("Syncing")), ReplicaState::Syncing);
        assert_eq!(ReplicaState::derive(Some("Creating"), None), ReplicaState::Provisioning);
        assert_eq!(ReplicaState::derive(Some("Canceled"), None), ReplicaState::Failed);
        assert_eq!(ReplicaState::derive(None, None), ReplicaState::Unknown);
        assert!(ReplicaState::Syncing.is_transitional());
        assert!(!ReplicaState::Failed.is_transitional());
        assert!(provisioning_is_transitional(Some("Updating")));
        assert!(!provisioning_is_transitional(Some("Succeeded")));
    }
}
