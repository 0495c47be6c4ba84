//! The console's view model: what the JSON API returns, what server
//! functions return to the pages, and what live events carry. Shared by
//! the server (SSR) and the browser (WASM); no ARM types here.

use serde::{Deserialize, Serialize};

pub use regatlas_domain::{
    Actor, Cadence, ChecklistKind, ChecklistStatus, ChildKind, ConnectedFlag, Digest, DoctorFix, ErrorKind, EventFamily, EventKind, Health, ItemAction,
    ItemState, MigrationAction, MigrationState, OperationKind, OperationState, PipelineKind, Region, RegistryName, ReplicaState, Repository, Role, RunState,
    Severity, Tag, TransferState, Via,
};

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ReplicaView {
    pub id: String,
    pub name: String,
    pub location: String,
    pub home: bool,
    pub state: ReplicaState,
    pub provisioning_state: Option<String>,
    pub display_status: Option<String>,
    pub status_message: Option<String>,
    pub status_timestamp: Option<String>,
    /// Whether the global endpoint routes traffic here (`regionEndpointEnabled`).
    pub routing: Option<bool>,
    pub zone_redundancy: bool,
    pub first_seen: String,
    pub changed_at: String,
    /// When ARM last confirmed this state.
    pub confirmed_at: String,
    /// ARM no longer returns it.
    pub gone: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ChildView {
    pub id: String,
    pub kind: ChildKind,
    pub name: String,
    pub state: Option<String>,
    pub detail: Option<String>,
    /// A connected registry that needs attention (offline, sync overdue, …).
    #[serde(default)]
    pub flag: Option<ConnectedFlag>,
    pub confirmed_at: String,
    pub gone: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RegistryView {
    pub id: String,
    pub name: String,
    pub subscription_id: String,
    pub resource_group: String,
    pub location: String,
    pub sku: String,
    pub login_server: Option<String>,
    pub provisioning_state: Option<String>,
    pub zone_redundancy: bool,
    pub health: Health,
    pub replicas: Vec<ReplicaView>,
    pub children: Vec<ChildView>,
    pub changed_at: String,
    pub confirmed_at: String,
    pub gone: bool,
    /// The newest poll error for this registry, if its last poll failed.
    pub poll_error: Option<String>,
}

impl RegistryView {
    pub fn is_premium(&self) -> bool {
        self.sku.eq_ignore_ascii_case("premium")
    }
    pub fn replica_in(&self, region: &str) -> Option<&ReplicaView> {
        self.replicas.iter().find(|r| !r.gone && r.location.eq_ignore_ascii_case(region))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct OperationView {
    pub id: String,
    pub actor: String,
    pub kind: OperationKind,
    pub registry_id: String,
    pub registry_name: String,
    pub target: String,
    pub params: String,
    pub state: OperationState,
    pub percent: Option<f64>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub arm_operation_url: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

/// One entry of the history and of the live feed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct EventView {
    pub id: i64,
    pub at: String,
    pub kind: EventKind,
    /// Who caused it (`issuer#subject`), when someone did.
    #[serde(default)]
    pub actor: Option<String>,
    pub registry_id: Option<String>,
    pub subject_id: Option<String>,
    pub summary: String,
    /// JSON details.
    pub data: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CreateReplicaRequest {
    pub region: String,
    #[serde(default)]
    pub zone_redundancy: bool,
    #[serde(default = "yes")]
    pub routing: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RoutingRequest {
    pub enabled: bool,
    /// Allow disabling routing on the last replica that still receives
    /// traffic, or enabling it while the hot set is missing there (Admin).
    #[serde(default)]
    pub force: bool,
}

/// An error as the API and the pages show it: why (`kind`), a code (ARM's
/// own code when ARM refused) and a message. The HTTP status is chosen from
/// the kind by the server's HTTP layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApiError {
    pub kind: ErrorKind,
    pub code: String,
    pub message: String,
    /// ARM's own status when ARM refused: a fact about ARM's answer, which
    /// the HTTP layer passes on for a 4xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_status: Option<u16>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError { kind, code: code.into(), message: message.into(), upstream_status: None }
    }

    /// ARM refused: its code and message verbatim, its status kept.
    pub fn upstream(status: u16, code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError { upstream_status: Some(status), ..ApiError::new(ErrorKind::of_upstream_status(status), code, message) }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Server functions fail with an [`ApiError`]; a failure of the transport
/// itself (the server unreachable, a body that does not decode) becomes one too.
impl leptos::server_fn::error::FromServerFnError for ApiError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(e: leptos::server_fn::error::ServerFnErrorErr) -> ApiError {
        use leptos::server_fn::error::ServerFnErrorErr as E;
        let kind = match &e {
            E::Request(_) | E::Response(_) => ErrorKind::Unavailable,
            E::Args(_) | E::MissingArg(_) | E::Deserialization(_) | E::UnsupportedRequestMethod(_) => ErrorKind::Invalid,
            _ => ErrorKind::Internal,
        };
        ApiError::new(kind, "ServerFunction", e.to_string())
    }
}

impl std::error::Error for ApiError {}

/// What the poller is doing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PollerStatus {
    pub cycles: u64,
    pub last_cycle_at: Option<String>,
    pub last_cycle_ms: Option<u64>,
    /// Fast while anything is transitional, else slow.
    pub cadence: Cadence,
    pub arm_requests: u64,
    pub throttled: u64,
    pub last_error: Option<String>,
}

/// A migration to create: copy artifacts from a source into a target ACR.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct MigrationRequest {
    /// A label; defaults to "source → target".
    #[serde(default)]
    pub name: Option<String>,
    /// A registry Regatlas watches (by name); or give `source_url`.
    #[serde(default)]
    pub source_registry: Option<String>,
    /// Any OCI registry, e.g. `https://myregistry.example` or `http://127.0.0.1:5000`.
    #[serde(default)]
    pub source_url: Option<String>,
    /// A credential set an administrator configured for a `source_url`
    /// (bound to that registry's host); omit for anonymous access.
    #[serde(default)]
    pub source_credential_set: Option<String>,
    /// Not accepted (refused with `CredentialSetRequired`): credentials are
    /// credential sets, never named by a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_username: Option<String>,
    /// Not accepted (refused with `CredentialSetRequired`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_password_env: Option<String>,
    /// The target ACR (a watched registry, by name).
    pub target_registry: String,
    /// Repository patterns to include (`*` wildcard); empty: all.
    #[serde(default)]
    pub include: Vec<String>,
    /// Repository patterns to exclude.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Tag patterns to copy; empty: all.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Only the newest N tags per repository (by the source's tag order).
    #[serde(default)]
    pub latest: Option<u32>,
    /// Also copy untagged manifests (signatures, old builds), listed through
    /// ACR's `/acr/v1/{repo}/_manifests`; an index's own platforms are never
    /// separate items.
    #[serde(default)]
    pub untagged: bool,
    /// Import with `Force` (overwrite target tags). Default `NoForce`.
    #[serde(default)]
    pub force: bool,
    /// Plan only: inventory and the diff, no import.
    #[serde(default)]
    pub dry_run: bool,
    /// Upper bound of imports in flight (AIMD grows up to it). Default 16.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// Stop when more than this fraction of finished items failed (after 20). Default 0.25.
    #[serde(default)]
    pub failure_threshold: Option<f64>,
}

/// A migration as lists and the live feed show it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct MigrationView {
    pub id: String,
    pub name: String,
    pub source: String,
    pub target: String,
    pub state: MigrationState,
    pub dry_run: bool,
    pub force: bool,
    pub actor: String,
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
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
    /// Imports finished per minute since the copy began.
    pub rate_per_min: Option<f64>,
    pub eta_secs: Option<i64>,
    /// Imports allowed in flight now (AIMD window).
    pub concurrency: Option<i64>,
    pub throttled: i64,
}

impl MigrationView {
    pub fn percent(&self) -> f64 {
        if self.to_copy == 0 {
            return if matches!(self.state, MigrationState::Complete | MigrationState::Verifying) { 100.0 } else { 0.0 };
        }
        100.0 * (self.imported as f64) / (self.to_copy as f64)
    }
    pub fn is_active(&self) -> bool {
        self.state.is_active()
    }
}

/// One artifact (a digest in a repository) of a migration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct MigrationItemView {
    pub id: i64,
    pub repository: String,
    pub digest: String,
    pub media_type: String,
    pub tags: Vec<String>,
    pub size_bytes: i64,
    pub action: ItemAction,
    pub state: ItemState,
    pub attempts: i64,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub operation_url: Option<String>,
    pub detail: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// Which items of a migration a listing wants: filters, a page size and
/// the cursor (the last item id of the previous page). Items come in id
/// order, which is the plan's repository order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemQuery {
    pub state: Option<ItemState>,
    pub action: Option<ItemAction>,
    /// One repository, by its exact name.
    pub repository: Option<String>,
    /// Text the repository, digest or a tag contains.
    pub text: Option<String>,
    pub limit: i64,
    pub after: Option<i64>,
}

/// A page of items and the cursor of the next (when there may be one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemPage {
    pub items: Vec<MigrationItemView>,
    pub next: Option<i64>,
}

/// A page of repositories and the cursor of the next (the last name).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RepositoryPage {
    pub repositories: Vec<RepositoryProgress>,
    pub next: Option<String>,
}

/// Per-repository progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RepositoryProgress {
    pub repository: String,
    pub artifacts: i64,
    pub to_copy: i64,
    pub done: i64,
    pub failed: i64,
    pub conflicts: i64,
}

/// One line of the cut-over checklist.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ChecklistItem {
    pub key: String,
    pub kind: ChecklistKind,
    pub title: String,
    pub source_value: Option<String>,
    pub target_value: Option<String>,
    pub status: ChecklistStatus,
    pub done_by: Option<String>,
    pub done_at: Option<String>,
}

/// Everything the migration page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct MigrationDetail {
    pub migration: MigrationView,
    pub repositories: Vec<RepositoryProgress>,
    /// Failed items and verification findings.
    pub problems: Vec<MigrationItemView>,
    pub conflicts: Vec<MigrationItemView>,
    pub checklist: Vec<ChecklistItem>,
    /// Deleting the source is only ever manual, and flagged unsafe until
    /// verification has passed.
    pub source_delete_safe: bool,
    /// What the inventory found that is not an item (names outside the OCI
    /// grammar, content over the limits), at most about a hundred.
    #[serde(default)]
    pub findings: Vec<String>,
    /// When the checklist's setting rows were read from ARM (they are
    /// evaluated whenever the migration is shown, at most every 30 s).
    #[serde(default)]
    pub checklist_evaluated_at: Option<String>,
    /// More repositories than `repositories` holds (the first page): the
    /// rest through the paged listing.
    #[serde(default)]
    pub more_repositories: bool,
}

/// The signed-in identity, as the header shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Me {
    pub name: String,
    pub role: regatlas_domain::Role,
    pub via: regatlas_domain::Via,
    /// `issuer#subject`.
    pub key: String,
    /// Whether a sign-out ends anything (not for the local user).
    pub can_sign_out: bool,
}

impl Me {
    pub fn of(id: &regatlas_domain::Identity) -> Me {
        Me {
            name: id.principal.name.to_string(),
            role: id.role,
            via: id.principal.via,
            key: id.principal.key(),
            can_sign_out: id.principal.via == regatlas_domain::Via::Session,
        }
    }

    pub fn allows(&self, need: regatlas_domain::Role) -> bool {
        self.role.allows(need)
    }
}

/// Someone seen by the console, for the Activity page's person filter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PersonView {
    /// `issuer#subject`: the `actor` filter of the history.
    pub key: String,
    pub name: String,
    pub via: regatlas_domain::Via,
    pub role: regatlas_domain::Role,
    pub last_seen: String,
}

/// An API token, without its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApiTokenView {
    pub id: String,
    pub name: String,
    pub role: regatlas_domain::Role,
    /// The token's first characters, to recognise it.
    pub hint: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// What an Admin asks for when creating an API token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApiTokenRequest {
    /// What it is for (shown in lists and in the audit): at most 64 characters.
    pub name: String,
    pub role: regatlas_domain::Role,
    /// Days until it expires: 1–365 (default 90).
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// A new API token: the secret is shown this once and never again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CreatedApiToken {
    pub token: ApiTokenView,
    pub secret: String,
}

pub use regatlas_domain::presence::{CellState, PresenceSource};

/// Turn presence tracking on or off for a registry, or change its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TrackingRequest {
    pub enabled: bool,
    /// Objective: this share of arrivals (0.5–0.9999) within `objective_secs` (default 0.95).
    #[serde(default)]
    pub objective_share: Option<f64>,
    /// Objective's time, 1 s to 1 day (default 300).
    #[serde(default)]
    pub objective_secs: Option<i64>,
    /// Routing readiness gate: the last N pushed tags (0–500, default 20) must be in a region before routing is turned on there.
    #[serde(default)]
    pub hot_last: Option<i64>,
    /// Every tag of these repositories must be there too (at most 50). `hot_last` 0 and no repositories turn the gate off.
    #[serde(default)]
    pub hot_repositories: Option<Vec<String>>,
}

/// A registry's presence tracking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TrackingView {
    pub enabled_at: String,
    pub enabled_by: String,
    pub objective_share: f64,
    pub objective_secs: i64,
    pub hot_last: i64,
    pub hot_repositories: Vec<String>,
    /// The receiver base registries deliver to.
    pub receiver: Option<String>,
}

/// One region of the presence view: what it serves, its lag, its webhook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RegionPresenceView {
    pub region: String,
    pub display_name: String,
    pub home: bool,
    pub replica_state: ReplicaState,
    pub routing: Option<bool>,
    /// Tracked tags whose newest digest it serves.
    pub present: i64,
    pub present_bytes: i64,
    /// `present` / all tracked tags.
    pub ratio: f64,
    /// Tags per minute over the last ten minutes, and the time left at that rate.
    pub per_minute: f64,
    pub eta_secs: Option<f64>,
    /// Incomplete, and nothing arrived for this many minutes.
    pub stalled_minutes: Option<i64>,
    /// Lag over the window (seconds): samples, p50, p95, max.
    pub lag_count: i64,
    pub lag_p50: f64,
    pub lag_p95: f64,
    pub lag_max: f64,
    /// Share of samples within the objective, and how much of the error budget is spent (1 = all).
    pub within_objective: Option<f64>,
    pub budget_spent: f64,
    /// The presence webhook of this region: its ARM name and last delivery.
    pub webhook: Option<String>,
    pub last_event_at: Option<String>,
    /// Probes of its regional endpoint: reads in the last hour, the budget per hour, tags waiting for a first look.
    pub probe_reads_last_hour: i64,
    pub probe_budget_per_hour: i64,
    pub probe_backlog: i64,
    /// Routing as the team last set it through Regatlas (create or toggle), if it did.
    pub routing_set: Option<bool>,
    /// The replica's routing differs from `routing_set` (changed outside Regatlas).
    pub routing_drift: bool,
}

/// One tag in one region.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PresenceCell {
    pub region: String,
    pub state: CellState,
    /// The digest the region serves (when it serves one).
    pub digest: Option<String>,
    /// When it arrived there.
    pub at: Option<String>,
    /// Seconds from the push to its arrival here (present cells).
    pub lag_secs: Option<f64>,
    pub source: Option<PresenceSource>,
}

/// One tag: its newest push and every region's cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PresenceRow {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    pub pushed_at: String,
    pub first_region: String,
    /// In how many of the registry's regions it is present.
    pub present_in: i64,
    pub cells: Vec<PresenceCell>,
}

/// The presence view of a registry: regions, a page of tags, lag.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PresenceView {
    pub registry: String,
    pub tracking: Option<TrackingView>,
    /// All tracked tags (every page).
    pub total_tags: i64,
    /// Lag window, in minutes.
    pub window_minutes: i64,
    pub regions: Vec<RegionPresenceView>,
    pub rows: Vec<PresenceRow>,
    /// Cursor of the next page (`repository:tag`), if there is one.
    pub next: Option<String>,
    /// Incomplete tags pushed longer ago than the objective allows.
    pub stragglers: Vec<PresenceRow>,
}

/// Which tags the presence view shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema, utoipa::IntoParams))]
pub struct PresenceQuery {
    /// Only this repository.
    #[serde(default)]
    pub repository: Option<String>,
    /// Text in `repository:tag`.
    #[serde(default)]
    pub q: Option<String>,
    /// Only tags not yet in every region.
    #[serde(default)]
    pub incomplete: bool,
    /// Cursor (`repository:tag`) from the previous page.
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub limit: Option<i64>,
    /// Lag window in minutes (default 60, at most 10080).
    #[serde(default)]
    pub window: Option<i64>,
}

/// A registry's webhook as the Webhooks page shows it: never a secret (the
/// service URI without credentials or query, custom header names only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct WebhookView {
    pub name: String,
    /// The replica whose events it delivers (regional webhooks).
    pub location: String,
    pub actions: Vec<String>,
    pub scope: String,
    pub status: String,
    pub provisioning_state: Option<String>,
    /// Scheme, host and path only.
    pub service_uri: Option<String>,
    /// Names of the custom headers it sends (their values are secrets).
    pub header_names: Vec<String>,
    /// One of the regional webhooks Regatlas keeps for presence tracking.
    pub managed_by_regatlas: bool,
}

/// One delivery from a webhook's `listEvents`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct WebhookDeliveryView {
    pub id: String,
    pub timestamp: Option<String>,
    pub action: String,
    /// `repository:tag` or `repository@digest`, when the event names one.
    pub target: Option<String>,
    /// The response's status code (0: no answer) and reason.
    pub status: i64,
    pub reason: String,
}

/// Create or change a webhook (Operator). On create, `location`,
/// `service_uri` and `actions` are required; on change, what is left out
/// stays as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct WebhookRequest {
    /// The replica whose events it sends (fixed once created).
    #[serde(default)]
    pub location: Option<String>,
    /// https (http only to a loopback address), without credentials: secrets go in a header.
    #[serde(default)]
    pub service_uri: Option<String>,
    /// Of push, delete, quarantine, chart_push, chart_delete.
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    /// `repository:tag`, `repository:*`, or empty for every repository.
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Sent with every delivery (at most 10; values are secrets: never shown again).
    #[serde(default)]
    pub custom_headers: Option<std::collections::BTreeMap<String, String>>,
}

/// What a relocation must carry and an operator checks, read from ARM when
/// asked, with the doctor's findings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RegistrySettingsView {
    pub registry: String,
    pub sku: String,
    pub location: String,
    pub provisioning_state: Option<String>,
    /// `Enabled` or `Disabled`.
    pub public_network_access: String,
    /// The firewall's default action (`Allow` or `Deny`).
    pub default_action: String,
    /// IPv4 addresses and CIDR ranges allowed through the firewall.
    pub ip_rules: Vec<String>,
    /// Subnet resource ids allowed through the firewall (older api-versions
    /// return them; newer registries use private endpoints instead).
    pub virtual_network_rules: Vec<String>,
    /// `AzureServices` or `None`: whether trusted Azure services pass the firewall.
    pub network_rule_bypass: String,
    pub bypass_for_tasks: bool,
    pub private_endpoints: Vec<PrivateEndpointView>,
    pub data_endpoint_enabled: bool,
    pub data_endpoints: Vec<EndpointView>,
    pub regional_endpoints_enabled: bool,
    pub regional_endpoints: Vec<EndpointView>,
    /// Registry-level zone redundancy (the home replica; create-time only).
    pub zone_redundancy: bool,
    pub replicas: Vec<ReplicaZonesView>,
    pub encryption: EncryptionView,
    /// `SystemAssigned`, `UserAssigned`, both, or `None`.
    pub identity_type: String,
    /// Resource ids of the user-assigned identities.
    pub user_identities: Vec<String>,
    pub admin_user_enabled: bool,
    pub anonymous_pull_enabled: bool,
    /// Days untagged manifests are kept, when the retention policy is on.
    pub retention_days: Option<i64>,
    /// Days deleted artifacts can be restored, when soft delete is on.
    pub soft_delete_days: Option<i64>,
    pub quarantine_enabled: bool,
    pub trust_enabled: bool,
    pub export_enabled: bool,
    pub role_assignment_mode: String,
    pub findings: Vec<FindingView>,
    /// When ARM was read.
    pub read_at: String,
}

/// A private endpoint connection and its approval state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PrivateEndpointView {
    pub name: String,
    /// The private endpoint's resource id.
    pub endpoint: String,
    /// `Approved`, `Pending`, `Rejected` or `Disconnected`.
    pub status: String,
    pub description: String,
}

/// A host name and the region it serves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct EndpointView {
    pub host: String,
    pub region: Option<String>,
}

/// One replica's zones: whether it is zone redundant and whether its region could be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ReplicaZonesView {
    pub region: String,
    pub home: bool,
    pub state: ReplicaState,
    pub zone_redundancy: bool,
    pub region_has_zones: bool,
}

/// Encryption at rest: a customer-managed key and the identity that reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct EncryptionView {
    pub customer_managed_key: bool,
    pub key_id: Option<String>,
    /// The client id of the identity that reads the key.
    pub identity_client_id: Option<String>,
    pub key_rotation: bool,
}

/// Something the doctor found, with its fix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct FindingView {
    pub severity: Severity,
    /// Stable code (`ZoneRedundancyMissing`, `ReplicaStuck`, …).
    pub code: String,
    /// The replica it is about, if one.
    pub region: Option<String>,
    pub title: String,
    /// What it means and its likely cause.
    pub detail: String,
    /// What to do.
    pub remedy: String,
    /// A fix Regatlas can apply (by the role it names).
    pub fix: Option<DoctorFix>,
}

/// Apply one of the doctor's fixes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DoctorFixRequest {
    pub fix: DoctorFix,
    /// The replica's region, for replica fixes.
    #[serde(default)]
    pub region: Option<String>,
    /// The registry's name for a registry fix, the region for a replica
    /// fix: typed by the person, so a destructive fix is never one click.
    pub confirm: String,
}

/// A connected registry (on premises or at the edge) of a parent registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ConnectedRegistryView {
    pub name: String,
    /// `ReadOnly`, `ReadWrite` (or `Registry`, `Mirror` in older api-versions).
    pub mode: String,
    /// The connected registry it syncs from; none: the cloud registry itself.
    pub parent: Option<String>,
    /// `Active` once the on-premises instance has started with its settings.
    pub activation: String,
    /// `Online`, `Offline`, `Syncing` or `Unhealthy`.
    pub connection_state: String,
    pub provisioning_state: Option<String>,
    pub version: Option<String>,
    pub last_activity: Option<String>,
    pub login_server: Option<String>,
    pub sync: SyncView,
    /// Repositories its sync token's scope map reaches.
    pub repositories: Vec<String>,
    /// Names of the tokens its clients pull (and push) with.
    pub client_tokens: Vec<String>,
    pub notifications: Vec<String>,
    pub log_level: String,
    pub audit_log: bool,
    pub status_details: Vec<StatusDetailView>,
    pub flag: Option<ConnectedFlag>,
    /// Why it is flagged, in words.
    pub flag_reason: Option<String>,
}

/// How a connected registry syncs with its parent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SyncView {
    /// Five-field cron, in UTC.
    pub schedule: String,
    /// ISO 8601 duration each sync may run (none: continuous).
    pub window: Option<String>,
    pub message_ttl: String,
    pub last_sync: Option<String>,
    /// The sync token's name.
    pub token: Option<String>,
    /// The next sync the schedule allows.
    pub next_sync: Option<String>,
}

/// One of a connected registry's status details.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct StatusDetailView {
    pub kind: String,
    pub code: String,
    pub description: String,
    pub timestamp: Option<String>,
}

/// Create a connected registry (mode and repositories required), or change
/// one (schedule, window, message TTL, repositories).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ConnectedRegistryRequest {
    /// `ReadOnly` or `ReadWrite` (fixed once created).
    #[serde(default)]
    pub mode: Option<String>,
    /// The repositories it syncs (1 to 100).
    #[serde(default)]
    pub repositories: Option<Vec<String>>,
    /// Five-field cron in UTC; `* * * * *` syncs continuously.
    #[serde(default)]
    pub schedule: Option<String>,
    /// ISO 8601 duration, 1 hour to 7 days; required unless continuous.
    #[serde(default)]
    pub sync_window: Option<String>,
    /// ISO 8601 duration, 1 to 90 days [default: P1D].
    #[serde(default)]
    pub message_ttl: Option<String>,
}

/// A registry's transfer pipelines, their runs and the transfers started here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TransferOverview {
    pub pipelines: Vec<PipelineView>,
    /// Newest first.
    pub runs: Vec<PipelineRunView>,
    /// Newest first.
    pub transfers: Vec<TransferView>,
    /// At most this many artifacts go in one run; more become several runs.
    pub artifacts_per_run: usize,
}

/// An export or import pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PipelineView {
    pub name: String,
    pub kind: PipelineKind,
    pub location: String,
    /// The storage container (scheme, host and path only).
    pub storage_uri: Option<String>,
    /// The Key Vault secret holding the storage SAS (scheme, host and path only).
    pub key_vault_uri: Option<String>,
    /// `SasToken` or `ManagedIdentity`.
    pub storage_access: String,
    /// `SystemAssigned`, `UserAssigned`, …, with the principal ids ARM gives.
    pub identity: String,
    pub identity_principals: Vec<String>,
    /// Of OverwriteTags, OverwriteBlobs, DeleteSourceBlobOnSuccess, ContinueOnErrors.
    pub options: Vec<String>,
    /// Import pipelines: whether a new blob starts a run (`Enabled`/`Disabled`).
    pub source_trigger: Option<String>,
    pub provisioning_state: Option<String>,
}

/// A pipeline run as ARM reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PipelineRunView {
    pub name: String,
    pub pipeline: String,
    pub kind: Option<PipelineKind>,
    pub state: RunState,
    /// ARM's own words for it.
    pub status: String,
    pub percent: Option<f64>,
    /// What the run was asked to export.
    pub artifacts: Vec<String>,
    /// What it has transferred.
    pub imported: Vec<String>,
    /// A failed run's artifacts that did not arrive (asked for, not transferred).
    pub failed: Vec<String>,
    /// The blob it writes or reads.
    pub blob: Option<String>,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub error: Option<String>,
    pub force_update_tag: Option<String>,
    pub provisioning_state: Option<String>,
    /// The transfer it belongs to, when started here.
    pub transfer: Option<String>,
}

/// Runs started together and tracked as one, with their combined progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TransferView {
    pub id: String,
    pub pipeline: String,
    pub kind: PipelineKind,
    pub state: TransferState,
    /// Mean progress of its runs (a missing or failed run counts as done).
    pub percent: f64,
    pub artifacts: usize,
    pub runs: Vec<TransferRunView>,
    pub created_by: String,
    pub created_at: String,
}

/// One run of a transfer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TransferRunView {
    pub run: String,
    pub blob: String,
    pub artifacts: usize,
    pub state: RunState,
    pub percent: Option<f64>,
}

/// Start a transfer through a pipeline: artifacts for an export (split into
/// runs of at most 50), blobs for an import (one run each).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TransferRequest {
    pub pipeline: String,
    /// `repository`, `repository:tag` or `repository@sha256:…` (export).
    #[serde(default)]
    pub artifacts: Vec<String>,
    /// Blob names in the pipeline's container (import).
    #[serde(default)]
    pub blobs: Vec<String>,
    /// Export: the blobs are named `{prefix}-01`, `{prefix}-02`, … [default: `regatlas-{transfer}`].
    #[serde(default)]
    pub blob_prefix: Option<String>,
}

/// A registry's configuration exported as an ARM template (`exportTemplate`
/// on its resource group, filtered to the registry and its children).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RelocationTemplateView {
    pub registry: String,
    /// The template, pretty-printed JSON.
    pub template: String,
    pub resources: Vec<TemplateResourceView>,
    /// What ARM said it could not export.
    pub errors: Vec<String>,
}

/// One resource of an exported template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TemplateResourceView {
    pub kind: String,
    pub name: String,
    pub location: Option<String>,
}

/// Where to relocate a registry to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RelocationRequest {
    /// The new registry's name (5 to 50 letters and digits, globally unique).
    pub target_name: String,
    /// Its home region.
    pub location: String,
    /// To create it: the new name typed again.
    #[serde(default)]
    pub confirm: Option<String>,
}

/// What creating the target would do, before it is done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RelocationPreview {
    pub source: String,
    pub target_name: String,
    pub location: String,
    pub name_available: bool,
    pub name_message: Option<String>,
    /// What will be created, in order.
    pub creates: Vec<PlannedResourceView>,
    /// What cannot be carried as is, named, with why.
    pub cannot_carry: Vec<CarryIssueView>,
}

/// One resource the relocation will create.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PlannedResourceView {
    pub kind: String,
    pub name: String,
    pub location: Option<String>,
    pub detail: String,
}

/// Something of the source the relocation does not carry as is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CarryIssueView {
    pub what: String,
    pub name: String,
    pub reason: String,
}
