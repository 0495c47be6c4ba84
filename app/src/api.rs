//! Server functions: the pages' way to the back end. They and the JSON API
//! (`/api/v1/…`) share one implementation, the [`Backend`] the server puts
//! in context; nothing here knows about ARM or SQL.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::model::{CreateReplicaRequest, RoutingRequest};
use crate::model::{EventView, MigrationDetail, MigrationItemView, MigrationRequest, MigrationView, OperationView, PollerStatus, RegistryView};

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
    async fn migration_action(&self, id: &str, action: &str, actor: Option<String>) -> Result<MigrationView, crate::model::ApiError>;
    async fn tick_checklist(&self, id: &str, key: &str, done: bool, actor: Option<String>) -> Result<MigrationDetail, crate::model::ApiError>;
    fn poller_status(&self) -> PollerStatus;
}

#[cfg(feature = "ssr")]
pub type SharedBackend = std::sync::Arc<dyn Backend>;

#[cfg(feature = "ssr")]
fn backend() -> Result<SharedBackend, ServerFnError> {
    use_context::<SharedBackend>().ok_or_else(|| ServerFnError::ServerError("the back end is not available".into()))
}

/// `CODE: message`, which the pages split again to show the code.
#[cfg(feature = "ssr")]
fn err(e: crate::model::ApiError) -> ServerFnError {
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(http::StatusCode::from_u16(e.status).unwrap_or(http::StatusCode::BAD_REQUEST));
    }
    ServerFnError::ServerError(format!("{}: {}", e.code, e.message))
}

/// Splits a server-function error into (code, message).
pub fn split_error(e: &ServerFnError) -> (String, String) {
    let text = match e {
        ServerFnError::ServerError(s) => s.clone(),
        other => other.to_string(),
    };
    match text.split_once(": ") {
        Some((c, m)) if !c.contains(' ') => (c.to_string(), m.to_string()),
        _ => ("Error".to_string(), text),
    }
}

#[server(prefix = "/api/sfn", endpoint = "registries")]
pub async fn list_registries() -> Result<Vec<RegistryView>, ServerFnError> {
    backend()?.registries().await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "registry")]
pub async fn get_registry(name: String) -> Result<RegistryView, ServerFnError> {
    backend()?.registry(&name).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "create_replica")]
pub async fn create_replica(
    registry: String,
    region: String,
    zone_redundancy: bool,
    routing: bool,
    actor: Option<String>,
) -> Result<OperationView, ServerFnError> {
    backend()?.create_replica(&registry, CreateReplicaRequest { region, zone_redundancy, routing, actor }).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "delete_replica")]
pub async fn delete_replica(registry: String, region: String, actor: Option<String>) -> Result<OperationView, ServerFnError> {
    backend()?.delete_replica(&registry, &region, actor).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "set_routing")]
pub async fn set_routing(registry: String, region: String, enabled: bool, force: bool, actor: Option<String>) -> Result<OperationView, ServerFnError> {
    backend()?.set_routing(&registry, &region, RoutingRequest { enabled, force, actor }).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "operations")]
pub async fn list_operations(
    registry: Option<String>,
    kind: Option<crate::model::OperationKind>,
    state: Option<crate::model::OperationState>,
) -> Result<Vec<OperationView>, ServerFnError> {
    backend()?.operations(registry, kind, state, 200, None).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "history")]
pub async fn list_history(
    registry: Option<String>,
    family: Option<crate::model::EventFamily>,
    subject: Option<String>,
) -> Result<Vec<EventView>, ServerFnError> {
    backend()?.history(registry, family.map(regatlas_domain::record::EventSelector::Family), subject, None, 200).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "refresh")]
pub async fn refresh_now(actor: Option<String>) -> Result<(), ServerFnError> {
    backend()?.refresh(actor).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "poller_status")]
pub async fn get_poller_status() -> Result<PollerStatus, ServerFnError> {
    Ok(backend()?.poller_status())
}

#[server(prefix = "/api/sfn", endpoint = "migrations")]
pub async fn list_migrations() -> Result<Vec<MigrationView>, ServerFnError> {
    backend()?.migrations(200, None).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "migration")]
pub async fn get_migration(id: String) -> Result<MigrationDetail, ServerFnError> {
    backend()?.migration(&id).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "migration_items")]
pub async fn list_migration_items(
    id: String,
    state: Option<crate::model::ItemState>,
    action: Option<crate::model::ItemAction>,
) -> Result<Vec<MigrationItemView>, ServerFnError> {
    backend()?.migration_items(&id, state, action, 500, None).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "create_migration")]
pub async fn create_migration(request: MigrationRequest) -> Result<MigrationView, ServerFnError> {
    backend()?.create_migration(request).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "migration_action")]
pub async fn act_on_migration(id: String, action: String, actor: Option<String>) -> Result<MigrationView, ServerFnError> {
    backend()?.migration_action(&id, &action, actor).await.map_err(err)
}

#[server(prefix = "/api/sfn", endpoint = "tick_checklist")]
pub async fn tick_checklist(id: String, key: String, done: bool, actor: Option<String>) -> Result<MigrationDetail, ServerFnError> {
    backend()?.tick_checklist(&id, &key, done, actor).await.map_err(err)
}
