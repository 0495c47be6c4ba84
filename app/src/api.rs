//! Server functions: the pages' way to the back end. They and the JSON API
//! (`/api/v1/…`) share one implementation, the [`Backend`] the server puts
//! in context; nothing here knows about ARM or SQL.
//!
//! Every call passes the caller's identity (put in the request by the
//! server's authentication); the back end decides by its role.

use leptos::prelude::*;

use crate::model::{
    ApiError, ApiTokenView, CreatedApiToken, EventView, MigrationDetail, MigrationRequest, MigrationView, OperationView, PersonView, RegistryView,
};
#[cfg(feature = "ssr")]
use crate::model::{CreateReplicaRequest, MigrationItemView, PollerStatus, RoutingRequest};
#[cfg(feature = "ssr")]
use regatlas_domain::Identity;

/// The back end, implemented by the server (`server/src/actions`). Each
/// call names who asks; reads need Viewer, actions Operator or Admin.
#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn registries(&self, who: &Identity) -> Result<Vec<RegistryView>, ApiError>;
    async fn registry(&self, who: &Identity, name: &str) -> Result<RegistryView, ApiError>;
    async fn create_replica(&self, who: &Identity, registry: &str, req: CreateReplicaRequest) -> Result<OperationView, ApiError>;
    async fn delete_replica(&self, who: &Identity, registry: &str, region: &str) -> Result<OperationView, ApiError>;
    async fn set_routing(&self, who: &Identity, registry: &str, region: &str, req: RoutingRequest) -> Result<OperationView, ApiError>;
    /// Newest first; `before` is the last row's `(created_at, id)` of the previous page.
    async fn operations(
        &self,
        who: &Identity,
        registry: Option<String>,
        kind: Option<crate::model::OperationKind>,
        state: Option<crate::model::OperationState>,
        limit: i64,
        before: Option<(String, String)>,
    ) -> Result<Vec<OperationView>, ApiError>;
    async fn history(&self, who: &Identity, q: HistoryQuery) -> Result<Vec<EventView>, ApiError>;
    async fn refresh(&self, who: &Identity) -> Result<(), ApiError>;
    /// Newest first; `before` is the last row's `(created_at, id)` of the previous page.
    async fn migrations(&self, who: &Identity, limit: i64, before: Option<(String, String)>) -> Result<Vec<MigrationView>, ApiError>;
    async fn migration(&self, who: &Identity, id: &str) -> Result<MigrationDetail, ApiError>;
    /// In id order (the plan's repository order), filtered; `after` is the last id of the previous page.
    async fn migration_items(&self, who: &Identity, id: &str, q: crate::model::ItemQuery) -> Result<Vec<MigrationItemView>, ApiError>;
    /// Per-repository progress by name, after `after`.
    async fn migration_repositories(
        &self,
        who: &Identity,
        id: &str,
        after: Option<String>,
        limit: i64,
    ) -> Result<Vec<crate::model::RepositoryProgress>, ApiError>;
    async fn create_migration(&self, who: &Identity, req: MigrationRequest) -> Result<MigrationView, ApiError>;
    /// `start` (a dry run's plan, or resume), `pause`, `cancel` or `retry-failed`.
    async fn migration_action(&self, who: &Identity, id: &str, action: crate::model::MigrationAction) -> Result<MigrationView, ApiError>;
    async fn tick_checklist(&self, who: &Identity, id: &str, key: &str, done: bool) -> Result<MigrationDetail, ApiError>;
    /// The report's head (the migration); its items follow page by page
    /// through [`Backend::migration_items`], written as they are read.
    async fn migration_report(&self, who: &Identity, id: &str) -> Result<MigrationView, ApiError>;
    async fn poller_status(&self, who: &Identity) -> Result<PollerStatus, ApiError>;
    /// Everyone the console has seen (the person filter).
    async fn people(&self, who: &Identity) -> Result<Vec<PersonView>, ApiError>;
    async fn api_tokens(&self, who: &Identity) -> Result<Vec<ApiTokenView>, ApiError>;
    async fn create_api_token(&self, who: &Identity, req: crate::model::ApiTokenRequest) -> Result<CreatedApiToken, ApiError>;
    async fn revoke_api_token(&self, who: &Identity, id: &str) -> Result<ApiTokenView, ApiError>;
    /// Which region serves which tag, lag per region, tracking settings.
    async fn presence(&self, who: &Identity, registry: &str, q: crate::model::PresenceQuery) -> Result<crate::model::PresenceView, ApiError>;
    /// A registry's webhooks, without their secrets.
    async fn webhooks(&self, who: &Identity, registry: &str) -> Result<Vec<crate::model::WebhookView>, ApiError>;
    /// A webhook's recent deliveries (`listEvents`, newest first).
    async fn webhook_deliveries(&self, who: &Identity, registry: &str, webhook: &str) -> Result<Vec<crate::model::WebhookDeliveryView>, ApiError>;
    /// Creates or changes a webhook (Operator).
    async fn put_webhook(&self, who: &Identity, registry: &str, webhook: &str, req: crate::model::WebhookRequest) -> Result<(), ApiError>;
    /// Deletes a webhook (Operator); the presence webhooks only through tracking.
    async fn delete_webhook(&self, who: &Identity, registry: &str, webhook: &str) -> Result<(), ApiError>;
    /// Sends a ping event through a webhook (Operator).
    async fn ping_webhook(&self, who: &Identity, registry: &str, webhook: &str) -> Result<(), ApiError>;
    /// A registry's settings, read from ARM now, with the doctor's findings.
    async fn registry_settings(&self, who: &Identity, registry: &str) -> Result<crate::model::RegistrySettingsView, ApiError>;
    /// Applies one of the doctor's fixes (Admin); a replica fix answers its delete operation.
    async fn doctor_fix(&self, who: &Identity, registry: &str, req: crate::model::DoctorFixRequest) -> Result<Option<crate::model::OperationView>, ApiError>;
    /// A registry's connected registries, read from ARM now.
    async fn connected_registries(&self, who: &Identity, registry: &str) -> Result<Vec<crate::model::ConnectedRegistryView>, ApiError>;
    /// Creates a connected registry with its sync scope map and token, or changes one (Operator).
    async fn put_connected_registry(&self, who: &Identity, registry: &str, name: &str, req: crate::model::ConnectedRegistryRequest) -> Result<(), ApiError>;
    /// Deactivates a connected registry (Admin): its on-premises instance must be activated again.
    async fn deactivate_connected_registry(&self, who: &Identity, registry: &str, name: &str) -> Result<(), ApiError>;
    /// A registry's transfer pipelines, their runs and the transfers started here.
    async fn transfers(&self, who: &Identity, registry: &str) -> Result<crate::model::TransferOverview, ApiError>;
    /// Starts a transfer through a pipeline (Operator): runs of at most 50 artifacts, or one per blob.
    async fn start_transfer(&self, who: &Identity, registry: &str, req: crate::model::TransferRequest) -> Result<crate::model::TransferView, ApiError>;
    /// Starts a pipeline run again with a new forceUpdateTag (Operator).
    async fn rerun_pipeline_run(&self, who: &Identity, registry: &str, run: &str) -> Result<(), ApiError>;
    /// Deletes a pipeline run (Operator).
    async fn delete_pipeline_run(&self, who: &Identity, registry: &str, run: &str) -> Result<(), ApiError>;
    /// A registry's configuration as an ARM template (`exportTemplate`).
    async fn relocation_template(&self, who: &Identity, registry: &str) -> Result<crate::model::RelocationTemplateView, ApiError>;
    /// What relocating a registry to a new name and region would create, and what it cannot carry.
    async fn relocation_preview(
        &self,
        who: &Identity,
        registry: &str,
        req: crate::model::RelocationRequest,
    ) -> Result<crate::model::RelocationPreview, ApiError>;
    /// Creates the relocation target (Admin, the new name typed again): a `registry.relocate` operation.
    async fn relocate(&self, who: &Identity, registry: &str, req: crate::model::RelocationRequest) -> Result<crate::model::OperationView, ApiError>;
    /// Turns presence tracking on or off (Operator).
    async fn set_tracking(&self, who: &Identity, registry: &str, req: crate::model::TrackingRequest) -> Result<Option<crate::model::TrackingView>, ApiError>;
}

/// A history query.
#[derive(Clone, Debug, Default)]
pub struct HistoryQuery {
    pub registry: Option<String>,
    pub kind: Option<regatlas_domain::record::EventSelector>,
    pub subject: Option<String>,
    /// A principal key (`issuer#subject`): what that person did.
    pub actor: Option<String>,
    pub before: Option<i64>,
    pub limit: i64,
}

#[cfg(feature = "ssr")]
pub type SharedBackend = std::sync::Arc<dyn Backend>;

/// How the server's HTTP layer turns an error's kind into a status; the
/// server provides it in context, so statuses are chosen in one place.
#[cfg(feature = "ssr")]
#[derive(Clone, Copy)]
pub struct ErrorStatus(pub fn(&ApiError) -> u16);

/// The back end and the caller, or why not.
#[cfg(feature = "ssr")]
fn backend() -> Result<(SharedBackend, Identity), ApiError> {
    use crate::model::ErrorKind;
    let b = use_context::<SharedBackend>().ok_or_else(|| ApiError::new(ErrorKind::Internal, "NoBackend", "The back end is not available."))?;
    let who = use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<Identity>().cloned())
        .ok_or_else(|| ApiError::new(ErrorKind::Unauthenticated, "SignInRequired", "Sign in first: this session has ended or never began."))?;
    Ok((b, who))
}

/// Sets the response's status from the error's kind (server side).
#[cfg(feature = "ssr")]
fn err(e: ApiError) -> ApiError {
    if let (Some(resp), Some(ErrorStatus(status_of))) = (use_context::<leptos_axum::ResponseOptions>(), use_context::<ErrorStatus>()) {
        resp.set_status(http::StatusCode::from_u16(status_of(&e)).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR));
    }
    e
}

/// An error's code and message, for the pages.
pub fn split_error(e: &ApiError) -> (String, String) {
    (e.code.clone(), e.message.clone())
}

#[server(prefix = "/api/sfn", endpoint = "registries")]
pub async fn list_registries() -> Result<Vec<RegistryView>, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.registries(&who).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "registry")]
pub async fn get_registry(name: String) -> Result<RegistryView, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.registry(&who, &name).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "create_replica")]
pub async fn create_replica(registry: String, region: String, zone_redundancy: bool, routing: bool) -> Result<OperationView, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.create_replica(&who, &registry, CreateReplicaRequest { region, zone_redundancy, routing }).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "delete_replica")]
pub async fn delete_replica(registry: String, region: String) -> Result<OperationView, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.delete_replica(&who, &registry, &region).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "set_routing")]
pub async fn set_routing(registry: String, region: String, enabled: bool, force: bool) -> Result<OperationView, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.set_routing(&who, &registry, &region, RoutingRequest { enabled, force }).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "operations")]
pub async fn list_operations(
    registry: Option<String>,
    kind: Option<crate::model::OperationKind>,
    state: Option<crate::model::OperationState>,
) -> Result<Vec<OperationView>, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.operations(&who, registry, kind, state, 200, None).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "history")]
pub async fn list_history(
    registry: Option<String>,
    family: Option<crate::model::EventFamily>,
    subject: Option<String>,
    actor: Option<String>,
) -> Result<Vec<EventView>, ApiError> {
    let (b, who) = backend().map_err(err)?;
    let q = HistoryQuery { registry, kind: family.map(regatlas_domain::record::EventSelector::Family), subject, actor, before: None, limit: 200 };
    b.history(&who, q).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "people")]
pub async fn list_people() -> Result<Vec<PersonView>, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.people(&who).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "refresh")]
pub async fn refresh_now() -> Result<(), ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.refresh(&who).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "migrations")]
pub async fn list_migrations() -> Result<Vec<MigrationView>, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.migrations(&who, 200, None).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "migration")]
pub async fn get_migration(id: String) -> Result<MigrationDetail, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.migration(&who, &id).await.map_err(err)
}

/// Items per page of the migration page's artifact list.
pub const ITEM_PAGE: i64 = 50;

#[server(prefix = "/api/sfn", endpoint = "migration_items")]
pub async fn migration_items_page(id: String, query: crate::model::ItemQuery) -> Result<crate::model::ItemPage, ApiError> {
    let (b, who) = backend().map_err(err)?;
    let limit = query.limit.clamp(1, 500);
    let items = b.migration_items(&who, &id, crate::model::ItemQuery { limit, ..query }).await.map_err(err)?;
    let next = (items.len() as i64 == limit).then(|| items.last().map(|i| i.id)).flatten();
    Ok(crate::model::ItemPage { items, next })
}

#[server(prefix = "/api/sfn", endpoint = "migration_repositories")]
pub async fn migration_repositories_page(id: String, after: Option<String>) -> Result<crate::model::RepositoryPage, ApiError> {
    let (b, who) = backend().map_err(err)?;
    const PAGE: i64 = 50;
    let repositories = b.migration_repositories(&who, &id, after, PAGE).await.map_err(err)?;
    let next = (repositories.len() as i64 == PAGE).then(|| repositories.last().map(|r| r.repository.clone())).flatten();
    Ok(crate::model::RepositoryPage { repositories, next })
}

#[server(prefix = "/api/sfn", endpoint = "create_migration")]
pub async fn create_migration(request: MigrationRequest) -> Result<MigrationView, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.create_migration(&who, request).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "migration_action")]
pub async fn act_on_migration(id: String, action: crate::model::MigrationAction) -> Result<MigrationView, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.migration_action(&who, &id, action).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "tick_checklist")]
pub async fn tick_checklist(id: String, key: String, done: bool) -> Result<MigrationDetail, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.tick_checklist(&who, &id, &key, done).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "api_tokens")]
pub async fn list_api_tokens() -> Result<Vec<ApiTokenView>, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.api_tokens(&who).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "create_api_token")]
pub async fn create_api_token(request: crate::model::ApiTokenRequest) -> Result<CreatedApiToken, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.create_api_token(&who, request).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "revoke_api_token")]
pub async fn revoke_api_token(id: String) -> Result<ApiTokenView, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.revoke_api_token(&who, &id).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "presence")]
pub async fn get_presence(registry: String, query: crate::model::PresenceQuery) -> Result<crate::model::PresenceView, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.presence(&who, &registry, query).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "set_tracking")]
pub async fn set_tracking(registry: String, request: crate::model::TrackingRequest) -> Result<Option<crate::model::TrackingView>, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.set_tracking(&who, &registry, request).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "webhooks")]
pub async fn list_webhooks(registry: String) -> Result<Vec<crate::model::WebhookView>, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.webhooks(&who, &registry).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "webhook_deliveries")]
pub async fn webhook_deliveries(registry: String, webhook: String) -> Result<Vec<crate::model::WebhookDeliveryView>, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.webhook_deliveries(&who, &registry, &webhook).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "ping_webhook")]
pub async fn ping_webhook(registry: String, webhook: String) -> Result<(), ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.ping_webhook(&who, &registry, &webhook).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "put_webhook")]
pub async fn put_webhook(registry: String, webhook: String, request: crate::model::WebhookRequest) -> Result<(), ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.put_webhook(&who, &registry, &webhook, request).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "delete_webhook")]
pub async fn delete_webhook(registry: String, webhook: String) -> Result<(), ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.delete_webhook(&who, &registry, &webhook).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "registry_settings")]
pub async fn registry_settings(registry: String) -> Result<crate::model::RegistrySettingsView, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.registry_settings(&who, &registry).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "doctor_fix")]
pub async fn doctor_fix(registry: String, request: crate::model::DoctorFixRequest) -> Result<Option<crate::model::OperationView>, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.doctor_fix(&who, &registry, request).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "connected_registries")]
pub async fn connected_registries(registry: String) -> Result<Vec<crate::model::ConnectedRegistryView>, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.connected_registries(&who, &registry).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "put_connected_registry")]
pub async fn put_connected_registry(registry: String, name: String, request: crate::model::ConnectedRegistryRequest) -> Result<(), ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.put_connected_registry(&who, &registry, &name, request).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "deactivate_connected_registry")]
pub async fn deactivate_connected_registry(registry: String, name: String) -> Result<(), ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.deactivate_connected_registry(&who, &registry, &name).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "transfers")]
pub async fn transfers(registry: String) -> Result<crate::model::TransferOverview, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.transfers(&who, &registry).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "start_transfer")]
pub async fn start_transfer(registry: String, request: crate::model::TransferRequest) -> Result<crate::model::TransferView, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.start_transfer(&who, &registry, request).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "rerun_pipeline_run")]
pub async fn rerun_pipeline_run(registry: String, run: String) -> Result<(), ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.rerun_pipeline_run(&who, &registry, &run).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "delete_pipeline_run")]
pub async fn delete_pipeline_run(registry: String, run: String) -> Result<(), ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.delete_pipeline_run(&who, &registry, &run).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "relocation_template")]
pub async fn relocation_template(registry: String) -> Result<crate::model::RelocationTemplateView, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.relocation_template(&who, &registry).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "relocation_preview")]
pub async fn relocation_preview(registry: String, request: crate::model::RelocationRequest) -> Result<crate::model::RelocationPreview, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.relocation_preview(&who, &registry, request).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "relocate")]
pub async fn relocate(registry: String, request: crate::model::RelocationRequest) -> Result<crate::model::OperationView, ApiError> {
    let (b, who) = backend().map_err(err)?;
    b.relocate(&who, &registry, request).await.map_err(err)
}
