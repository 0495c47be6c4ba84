//! What storage stores and returns. Storage speaks these types (never view
//! models) and computes nothing for presentation; the server maps them to
//! the views of `regatlas-app`.

use serde_json::Value;

use crate::{
    Actor, ChecklistKind, ChecklistStatus, ChildKind, Digest, EventKind, ItemAction, ItemState, MigrationState, OperationKind, OperationState, Region,
    RegistryName, ReplicaState, Repository, Tag,
};

// ---- Topology, as the poller writes it ----

/// A registry as the poller writes it (ARM's view, checked).
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryRow {
    /// The lower-cased ARM id.
    pub id: String,
    /// The ARM id as ARM spells it.
    pub arm_id: String,
    pub subscription_id: String,
    pub resource_group: String,
    pub name: RegistryName,
    pub location: Region,
    pub sku: String,
    pub login_server: Option<String>,
    pub provisioning_state: Option<String>,
    pub zone_redundancy: Option<String>,
    /// ARM's document, as returned.
    pub doc: String,
}

/// A replica as the poller writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaRow {
    pub id: String,
    pub registry_id: String,
    pub name: String,
    pub location: Region,
    pub provisioning_state: Option<String>,
    pub display_status: Option<String>,
    pub status_message: Option<String>,
    pub status_timestamp: Option<String>,
    pub region_endpoint_enabled: Option<bool>,
    pub zone_redundancy: Option<String>,
    pub doc: String,
}

impl ReplicaRow {
    pub fn state(&self) -> ReplicaState {
        ReplicaState::derive(self.provisioning_state.as_deref(), self.display_status.as_deref())
    }
}

/// A child resource (webhook, connected registry, pipeline run) as the poller writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct ChildRow {
    pub id: String,
    pub registry_id: String,
    pub kind: ChildKind,
    pub name: String,
    pub state: Option<String>,
    pub doc: String,
}

/// An event to append to the history.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub kind: EventKind,
    /// The principal key (`issuer#subject`) of whoever caused it; `None` for
    /// what the console saw on its own (the poller).
    pub actor: Option<String>,
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
        self.row_count() == 0
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

/// A stored row with whether ARM still returns it (what the poller loads to diff against).
#[derive(Clone, Debug)]
pub struct Stored<T> {
    pub row: T,
    pub gone: bool,
}

/// Everything the poller diffs against, loaded once at start.
#[derive(Clone, Debug, Default)]
pub struct StoredTopology {
    pub registries: Vec<Stored<RegistryRow>>,
    pub replicas: Vec<Stored<ReplicaRow>>,
    pub children: Vec<Stored<ChildRow>>,
}

/// When a stored row was first seen, last changed and last confirmed by ARM.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    pub first_seen: String,
    pub changed_at: String,
    pub confirmed_at: String,
    /// ARM no longer returns it.
    pub gone: bool,
}

/// A registry with its replicas and children, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryTopology {
    pub registry: RegistryRow,
    pub seen: Seen,
    pub replicas: Vec<(ReplicaRow, Seen)>,
    pub children: Vec<(ChildRow, Seen)>,
}

/// One entry of the history.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub id: i64,
    pub at: String,
    pub kind: EventKind,
    pub actor: Option<String>,
    pub registry_id: Option<String>,
    pub subject_id: Option<String>,
    pub summary: String,
    /// JSON details.
    pub data: String,
}

/// Which events a history query wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventSelector {
    Kind(EventKind),
    Family(crate::EventFamily),
}

impl EventSelector {
    /// `replica.gone` (a kind), or `replica` / `replica.` (a family).
    pub fn parse(s: &str) -> Option<EventSelector> {
        EventKind::parse(s).map(EventSelector::Kind).or_else(|| crate::EventFamily::parse(s.strip_suffix('.').unwrap_or(s)).map(EventSelector::Family))
    }
}

/// A history query: newest first.
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    pub registry_id: Option<String>,
    pub kind: Option<EventSelector>,
    pub subject_id: Option<String>,
    /// Only events caused by this principal key (`issuer#subject`).
    pub actor: Option<String>,
    /// Only events with a smaller id (paging backwards).
    pub before: Option<i64>,
    pub limit: i64,
}

// ---- Operations ----

/// A new action to record before ARM is called.
#[derive(Clone, Debug)]
pub struct NewOperation {
    pub id: String,
    pub actor: Actor,
    /// The principal key of the actor.
    pub actor_key: String,
    pub kind: OperationKind,
    pub registry_id: String,
    pub target: String,
    pub params: Value,
}

/// An operator's action, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    pub id: String,
    pub actor: Actor,
    /// The principal key of the actor (operations older than sign-in have none).
    pub actor_key: Option<String>,
    pub kind: OperationKind,
    pub registry_id: String,
    /// The registry's name, or its id when the registry is not known.
    pub registry_name: String,
    pub target: String,
    /// JSON parameters.
    pub params: String,
    pub state: OperationState,
    pub percent: Option<f64>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// ARM's long-running-operation handle (JSON), once accepted.
    pub lro: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

/// Filters for listing operations; newest first.
#[derive(Clone, Debug, Default)]
pub struct OperationFilter {
    pub registry_id: Option<String>,
    pub kind: Option<OperationKind>,
    pub state: Option<OperationState>,
    pub limit: i64,
    /// Only operations older than this `(created_at, id)` (the next page).
    pub before: Option<(String, String)>,
}

// ---- Migrations ----

/// A migration to insert.
#[derive(Clone, Debug)]
pub struct NewMigration {
    pub id: String,
    pub name: String,
    pub spec: Value,
    pub source: String,
    pub target: String,
    pub actor: Actor,
    /// The principal key of the actor.
    pub actor_key: String,
}

/// Counts over a migration's items.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrationCounts {
    /// Artifacts (digests) in the plan, by action.
    pub planned: i64,
    pub to_copy: i64,
    pub present: i64,
    pub conflicts: i64,
    /// Copy progress.
    pub imported: i64,
    pub failed: i64,
    pub in_flight: i64,
    /// Verification.
    pub verified: i64,
    pub mismatched: i64,
    pub bytes_total: i64,
    pub bytes_to_copy: i64,
    pub bytes_done: i64,
}

/// A migration, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Migration {
    pub id: String,
    pub name: String,
    pub source: String,
    pub target: String,
    pub state: MigrationState,
    pub dry_run: bool,
    pub force: bool,
    pub actor: Actor,
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Imports allowed in flight (AIMD window), while copying.
    pub concurrency: Option<i64>,
    pub throttled: i64,
    pub counts: MigrationCounts,
}

/// An artifact of the plan, to insert.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedItem {
    pub repository: Repository,
    pub digest: Digest,
    pub media_type: String,
    pub tags: Vec<Tag>,
    pub size_bytes: i64,
    pub action: ItemAction,
    pub detail: Option<String>,
}

/// One artifact (a digest in a repository) of a migration, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct MigrationItem {
    pub id: i64,
    pub repository: Repository,
    pub digest: Digest,
    pub media_type: String,
    pub tags: Vec<Tag>,
    pub size_bytes: i64,
    pub action: ItemAction,
    pub state: ItemState,
    pub attempts: i64,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// ARM's long-running-operation handle (JSON) of the import.
    pub lro: Option<String>,
    pub detail: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// Which items a listing wants, in id order (the planner writes a
/// migration's items repository by repository, so this is repository order).
#[derive(Clone, Debug, Default)]
pub struct ItemFilter {
    pub state: Option<ItemState>,
    pub action: Option<ItemAction>,
    /// Items of this repository only.
    pub repository: Option<String>,
    /// Items whose repository, digest or a tag contains this text.
    pub text: Option<String>,
    pub limit: i64,
    /// After this item id (the next page).
    pub after: Option<i64>,
}

/// Per-repository counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryCounts {
    pub repository: Repository,
    pub artifacts: i64,
    pub to_copy: i64,
    pub done: i64,
    pub failed: i64,
    pub conflicts: i64,
}

/// One line of the cut-over checklist.
#[derive(Clone, Debug, PartialEq)]
pub struct ChecklistEntry {
    pub key: String,
    pub kind: ChecklistKind,
    pub title: String,
    pub source_value: Option<String>,
    pub target_value: Option<String>,
    pub status: ChecklistStatus,
    pub done_by: Option<Actor>,
    pub done_at: Option<String>,
}

// ---- Identities ----

/// Someone who has signed in or acted, as last seen.
#[derive(Clone, Debug, PartialEq)]
pub struct Person {
    /// `issuer#subject`.
    pub key: String,
    pub name: Actor,
    pub via: crate::Via,
    pub role: crate::Role,
    pub last_seen: String,
}

/// An API token to store: its hash, never its secret.
#[derive(Clone, Debug)]
pub struct NewApiToken {
    pub id: String,
    pub name: String,
    pub role: crate::Role,
    /// Hex SHA-256 of the whole token.
    pub hash: String,
    /// The prefix and first characters, shown to recognise it.
    pub hint: String,
    pub created_by: Actor,
    pub created_by_key: String,
    pub expires_at: String,
}

/// An API token, as stored (without any secret).
#[derive(Clone, Debug, PartialEq)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub role: crate::Role,
    pub hint: String,
    pub created_by: Actor,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

// ---- Transfers ----

/// One pipeline run a transfer planned: its name and what it carries.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlannedRun {
    pub run: String,
    /// The artifacts an export run carries (`repo`, `repo:tag`, `repo@digest`).
    #[serde(default)]
    pub artifacts: Vec<String>,
    /// The blob it writes (export) or reads (import).
    pub blob: String,
}

/// A transfer: pipeline runs started together, tracked as one.
#[derive(Clone, Debug, PartialEq)]
pub struct Transfer {
    pub id: String,
    pub registry_id: String,
    pub pipeline: String,
    pub kind: crate::PipelineKind,
    pub runs: Vec<PlannedRun>,
    pub actor: Actor,
    pub actor_key: String,
    pub created_at: String,
}
