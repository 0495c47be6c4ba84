//! Server functions: the pages' way to the back end. They and the JSON API
//! (`/api/v1/…`) share one implementation, the [`Backend`] the server puts
//! in context; nothing here knows about ARM or SQL.

use leptos::prelude::*;

use crate::model::{ApiError, EventView, MigrationDetail, MigrationRequest, MigrationView, OperationView, RegistryView};
#[cfg(feature = "ssr")]
use crate::model::{CreateReplicaRequest, MigrationItemView, PollerStatus, RoutingRequest};

/// The back end, implemented by the server (`server/src/actions`).
#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn registries(&self) -> Result<Vec<RegistryView>, crate::model::ApiError>;
    async fn registry(&self, name: &str) -> Result<RegistryView, crate::model::ApiError>;
    async fn create_replica(&self, registry: &str, req: CreateReplicaRequest) -> Result<OperationView, crate::model::ApiError>;
    async fn delete_replica(&self, registry: &str, region: &str, actor: Option<String>) -> Result<OperationView, crate::model::ApiError>;
    async fn set_routing(&self, registry: &str, region: &str, req: RoutingRequest) -> Result<OperationView, crate::model::ApiError>;
    /// Newest first; `before` is the last row's `(created_at, id)` of the previous page.
    async fn operations(
        &self,
        registry: Option<String>,
        kind: Option<crate::model::OperationKind>,
        state: Option<crate::model::OperationState>,
        limit: i64,
        before: Option<(String, String)>,
    ) -> Result<Vec<OperationView>, crate::model::ApiError>;
    async fn history(
        &self,
        registry: Option<String>,
        kind: Option<regatlas_domain::record::EventSelector>,
        subject: Option<String>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<EventView>, crate::model::ApiError>;
    async fn refresh(&self, actor: Option<String>) -> Result<(), crate::model::ApiError>;
    /// Newest first; `before` is the last row's `(created_at, id)` of the previous page.
    async fn migrations(&self, limit: i64, before: Option<(String, String)>) -> Result<Vec<MigrationView>, crate::model::ApiError>;
    async fn migration(&self, id: &str) -> Result<MigrationDetail, crate::model::ApiError>;
    /// In (repository, id) order; `after` is the last row's `(repository, id)` of the previous page.
    async fn migration_items(
        &self,
        id: &str,
        state: Option<crate::model::ItemState>,
        action: Option<crate::model::ItemAction>,
        limit: i64,
        after: Option<(String, i64)>,
    ) -> Result<Vec<MigrationItemView>, crate::model::ApiError>;
    async fn create_migration(&self, req: MigrationRequest) -> Result<MigrationView, crate::model::ApiError>;
    /// `start` (a dry run's plan, or resume), `pause`, `cancel` or `retry-failed`.
    async fn migration_action(&self, id: &str, action: crate::model::MigrationAction, actor: Option<String>) -> Result<MigrationView, crate::model::ApiError>;
    async fn tick_checklist(&self, id: &str, key: &str, done: bool, actor: Option<String>) -> Result<MigrationDetail, crate::model::ApiError>;
    /// The migration and every item (the report's content).
    async fn migration_report(&self, id: &str) -> Result<(MigrationView, Vec<MigrationItemView>), crate::model::ApiError>;
    fn poller_status(&self) -> PollerStatus;
}

#[cfg(feature = "ssr")]
pub type SharedBackend = std::sync::Arc<dyn Backend>;

/// How the server's HTTP layer turns an error's kind into a status; the
/// server provides it in context, so statuses are chosen in one place.
#[cfg(feature = "ssr")]
#[derive(Clone, Copy)]
pub struct ErrorStatus(pub fn(&ApiError) -> u16);

#[cfg(feature = "ssr")]
fn backend() -> Result<SharedBackend, ApiError> {
    use_context::<SharedBackend>().ok_or_else(|| ApiError::new(crate::model::ErrorKind::Internal, "NoBackend", "The back end is not available."))
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
    backend().map_err(err)?.registries().await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "registry")]
pub async fn get_registry(name: String) -> Result<RegistryView, ApiError> {
    backend().map_err(err)?.registry(&name).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "create_replica")]
pub async fn create_replica(registry: String, region: String, zone_redundancy: bool, routing: bool, actor: Option<String>) -> Result<OperationView, ApiError> {
    backend().map_err(err)?.create_replica(&registry, CreateReplicaRequest { region, zone_redundancy, routing, actor }).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "delete_replica")]
pub async fn delete_replica(registry: String, region: String, actor: Option<String>) -> Result<OperationView, ApiError> {
    backend().map_err(err)?.delete_replica(&registry, &region, actor).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "set_routing")]
pub async fn set_routing(registry: String, region: String, enabled: bool, force: bool, actor: Option<String>) -> Result<OperationView, ApiError> {
    backend().map_err(err)?.set_routing(&registry, &region, RoutingRequest { enabled, force, actor }).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "operations")]
pub async fn list_operations(
    registry: Option<String>,
    kind: Option<crate::model::OperationKind>,
    state: Option<crate::model::OperationState>,
) -> Result<Vec<OperationView>, ApiError> {
    backend().map_err(err)?.operations(registry, kind, state, 200, None).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "history")]
pub async fn list_history(registry: Option<String>, family: Option<crate::model::EventFamily>, subject: Option<String>) -> Result<Vec<EventView>, ApiError> {
    backend().map_err(err)?.history(registry, family.map(regatlas_domain::record::EventSelector::Family), subject, None, 200).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "refresh")]
pub async fn refresh_now(actor: Option<String>) -> Result<(), ApiError> {
    backend().map_err(err)?.refresh(actor).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "migrations")]
pub async fn list_migrations() -> Result<Vec<MigrationView>, ApiError> {
    backend().map_err(err)?.migrations(200, None).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "migration")]
pub async fn get_migration(id: String) -> Result<MigrationDetail, ApiError> {
    backend().map_err(err)?.migration(&id).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "create_migration")]
pub async fn create_migration(request: MigrationRequest) -> Result<MigrationView, ApiError> {
    backend().map_err(err)?.create_migration(request).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "migration_action")]
pub async fn act_on_migration(id: String, action: crate::model::MigrationAction, actor: Option<String>) -> Result<MigrationView, ApiError> {
    backend().map_err(err)?.migration_action(&id, action, actor).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "tick_checklist")]
pub async fn tick_checklist(id: String, key: String, done: bool, actor: Option<String>) -> Result<MigrationDetail, ApiError> {
    backend().map_err(err)?.tick_checklist(&id, &key, done, actor).await.map_err(err)
}
