//! The JSON API under `/api/v1/`: reads and actions for scripts, sharing
//! one implementation with the server functions (the [`Backend`]), live
//! events over Server-Sent Events, and its OpenAPI 3 document at
//! `/api/v1/openapi.json`, generated from these handlers.

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};
use regatlas_app::model::{
    ApiError, ApiTokenRequest, ApiTokenView, ChecklistItem, ChildView, CreateReplicaRequest, CreatedApiToken, ErrorKind, EventView, Health, MigrationDetail,
    MigrationItemView, MigrationRequest, MigrationView, OperationView, PersonView, PollerStatus, RegistryView, ReplicaState, ReplicaView, RepositoryProgress,
    RoutingRequest,
};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

use super::AppState;

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Regatlas API",
        description = "Azure Container Registry geo-replication console: topology, replica actions, operations, history and live events."
    ),
    paths(
        list_registries,
        get_registry,
        create_replica,
        delete_replica,
        set_routing,
        list_operations,
        list_history,
        refresh,
        poller,
        events,
        list_migrations,
        create_migration,
        get_migration,
        migration_items,
        migration_repositories,
        migration_action,
        tick,
        report,
        list_people,
        list_tokens,
        create_token,
        revoke_token,
        get_presence,
        put_tracking,
        get_webhooks,
        get_webhook_deliveries,
        post_webhook_ping,
        put_webhook,
        delete_webhook,
        get_settings,
        post_doctor_fix,
        get_connected,
        put_connected,
        post_connected_deactivate,
        get_transfers,
        post_transfer,
        post_run_again,
        delete_run,
        get_relocation_template,
        post_relocation_preview,
        post_relocation
    ),
    components(schemas(
        regatlas_app::model::PresenceView,
        regatlas_app::model::PresenceRow,
        regatlas_app::model::PresenceCell,
        regatlas_app::model::RegionPresenceView,
        regatlas_app::model::TrackingView,
        regatlas_app::model::TrackingRequest,
        regatlas_app::model::WebhookView,
        regatlas_app::model::WebhookDeliveryView,
        regatlas_app::model::WebhookRequest,
        regatlas_app::model::RegistrySettingsView,
        regatlas_app::model::PrivateEndpointView,
        regatlas_app::model::EndpointView,
        regatlas_app::model::ReplicaZonesView,
        regatlas_app::model::EncryptionView,
        regatlas_app::model::FindingView,
        regatlas_app::model::DoctorFixRequest,
        regatlas_app::model::Severity,
        regatlas_app::model::DoctorFix,
        regatlas_app::model::ConnectedRegistryView,
        regatlas_app::model::SyncView,
        regatlas_app::model::StatusDetailView,
        regatlas_app::model::ConnectedRegistryRequest,
        regatlas_app::model::ConnectedFlag,
        regatlas_app::model::TransferOverview,
        regatlas_app::model::PipelineView,
        regatlas_app::model::PipelineRunView,
        regatlas_app::model::TransferView,
        regatlas_app::model::TransferRunView,
        regatlas_app::model::TransferRequest,
        regatlas_app::model::PipelineKind,
        regatlas_app::model::RunState,
        regatlas_app::model::TransferState,
        regatlas_app::model::RelocationTemplateView,
        regatlas_app::model::TemplateResourceView,
        regatlas_app::model::RelocationRequest,
        regatlas_app::model::RelocationPreview,
        regatlas_app::model::PlannedResourceView,
        regatlas_app::model::CarryIssueView,
        MigrationRequest,
        MigrationView,
        MigrationDetail,
        MigrationItemView,
        RepositoryProgress,
        ChecklistItem,
        TickRequest,
        ErrorBody,
        RegistryView,
        ReplicaView,
        ChildView,
        OperationView,
        EventView,
        CreateReplicaRequest,
        RoutingRequest,
        PollerStatus,
        Health,
        ReplicaState,
        PersonView,
        ApiTokenView,
        ApiTokenRequest,
        CreatedApiToken
    )),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// Every `/api/v1` route takes a bearer token.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description = Some("An access token for the console's API (`api://{client id}/.default`) or an API token (`rgat_…`)".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/registries", get(list_registries))
        .route("/api/v1/registries/{name}", get(get_registry))
        .route("/api/v1/registries/{name}/replicas", post(create_replica))
        .route("/api/v1/registries/{name}/replicas/{region}", axum::routing::delete(delete_replica))
        .route("/api/v1/registries/{name}/replicas/{region}/routing", put(set_routing))
        .route("/api/v1/registries/{name}/presence", get(get_presence))
        .route("/api/v1/registries/{name}/presence/tracking", put(put_tracking))
        .route("/api/v1/registries/{name}/webhooks", get(get_webhooks))
        .route("/api/v1/registries/{name}/webhooks/{webhook}", put(put_webhook).delete(delete_webhook))
        .route("/api/v1/registries/{name}/webhooks/{webhook}/deliveries", get(get_webhook_deliveries))
        .route("/api/v1/registries/{name}/webhooks/{webhook}/ping", post(post_webhook_ping))
        .route("/api/v1/registries/{name}/settings", get(get_settings))
        .route("/api/v1/registries/{name}/doctor/fix", post(post_doctor_fix))
        .route("/api/v1/registries/{name}/connected-registries", get(get_connected))
        .route("/api/v1/registries/{name}/connected-registries/{connected}", put(put_connected))
        .route("/api/v1/registries/{name}/connected-registries/{connected}/deactivate", post(post_connected_deactivate))
        .route("/api/v1/registries/{name}/transfers", get(get_transfers).post(post_transfer))
        .route("/api/v1/registries/{name}/pipeline-runs/{run}", axum::routing::delete(delete_run))
        .route("/api/v1/registries/{name}/pipeline-runs/{run}/rerun", post(post_run_again))
        .route("/api/v1/registries/{name}/relocation/template", get(get_relocation_template))
        .route("/api/v1/registries/{name}/relocation/preview", post(post_relocation_preview))
        .route("/api/v1/registries/{name}/relocation", post(post_relocation))
        .route("/api/v1/operations", get(list_operations))
        .route("/api/v1/history", get(list_history))
        .route("/api/v1/refresh", post(refresh))
        .route("/api/v1/poller", get(poller))
        .route("/api/v1/events", get(events))
        .route("/api/v1/migrations", get(list_migrations).post(create_migration))
        .route("/api/v1/migrations/{id}", get(get_migration))
        .route("/api/v1/migrations/{id}/items", get(migration_items))
        .route("/api/v1/migrations/{id}/repositories", get(migration_repositories))
        .route("/api/v1/migrations/{id}/checklist/{key}", put(tick))
        .route("/api/v1/migrations/{id}/{action}", post(migration_action).get(report_route))
        .route("/api/v1/people", get(list_people))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", axum::routing::delete(revoke_token))
        // The browser's own reads, signed in by its session (never by a
        // bearer token): the live feed and the report downloads.
        .route("/live/events", get(events))
        .route("/live/migrations/{id}/{file}", get(report_route))
}

use super::error::{ErrorBody, Failure};

/// The caller, as authentication put it in the request. Handlers behind
/// the authentication middleware always have one; its absence is refused.
pub struct Caller(pub regatlas_domain::Identity);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = Failure;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Caller, Failure> {
        parts
            .extensions
            .get::<regatlas_domain::Identity>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| Failure(ApiError::new(ErrorKind::Unauthenticated, "SignInRequired", "No identity came with this request.")))
    }
}

fn bad(code: &str, message: impl Into<String>) -> Failure {
    Failure(ApiError::new(ErrorKind::Invalid, code, message))
}

/// Largest and default page sizes of every list.
const MAX_PAGE: i64 = crate::actions::MAX_PAGE;
const DEFAULT_PAGE: i64 = 200;

/// `limit` checked against the maximum page size.
fn page_size(limit: Option<i64>, default: i64) -> Result<i64, Failure> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(bad("InvalidLimit", format!("limit {n} is outside 1..={MAX_PAGE}; follow the Link header for further pages."))),
    }
}

/// An opaque cursor: the sort key of a page's last row.
fn encode_cursor(parts: &[&str]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(parts.join("\u{1f}"))
}

fn decode_cursor(c: &str, n: usize) -> Result<Vec<String>, Failure> {
    use base64::Engine as _;
    let invalid = || bad("InvalidCursor", "The cursor is not one this server gave out; start again without it.");
    if c.len() > 512 {
        return Err(invalid());
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let parts: Vec<String> = text.split('\u{1f}').map(str::to_string).collect();
    if parts.len() != n {
        return Err(invalid());
    }
    Ok(parts)
}

/// A two-part cursor (sort key and id), if one was given.
fn decode_pair(cursor: Option<&str>) -> Result<Option<(String, String)>, Failure> {
    Ok(cursor.map(|c| decode_cursor(c, 2)).transpose()?.map(|mut v| {
        let second = v.pop().unwrap_or_default();
        (v.pop().unwrap_or_default(), second)
    }))
}

/// A list as JSON, with `Link: <…>; rel="next"` when the page is full.
fn page<T: serde::Serialize>(uri: &axum::http::Uri, items: Vec<T>, limit: i64, param: &str, next: impl Fn(&T) -> String) -> Response {
    let link = (items.len() as i64 >= limit).then(|| items.last().map(&next)).flatten().map(|cursor| {
        let mut q: Vec<(String, String)> = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().filter(|(k, _)| k != param).collect();
        q.push((param.to_string(), cursor));
        let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(q).finish();
        format!("<{}?{query}>; rel=\"next\"", uri.path())
    });
    let mut r = Json(items).into_response();
    if let Some(v) = link.and_then(|l| axum::http::HeaderValue::from_str(&l).ok()) {
        r.headers_mut().insert(axum::http::header::LINK, v);
    }
    r
}

/// A filter's value parsed into its enum, or 400 naming what it should be.
fn filter<T>(what: &str, value: Option<&str>, parse: fn(&str) -> Option<T>) -> Result<Option<T>, Failure> {
    // An empty value (`?kind=`, as a form sends "any") is no filter.
    value
        .filter(|v| !v.is_empty())
        .map(|v| parse(v).ok_or_else(|| bad("InvalidFilter", format!("'{}' is not a known {what}.", crate::outbound::clean_text(v, 32)))))
        .transpose()
}

/// A text parameter: at most `max` characters, no control characters.
fn text_param(field: &str, v: &str, max: usize) -> Result<(), Failure> {
    if !crate::outbound::is_plain_text(v, max) {
        return Err(bad("InvalidParameter", format!("{field} must be at most {max} characters without control characters.")));
    }
    Ok(())
}

/// Path and query parameters of the registry and replica routes.
fn names(registry: &str, region: Option<&str>) -> Result<(), Failure> {
    text_param("registry", registry, 300)?;
    region.map(|r| text_param("region", r, 64)).transpose()?;
    Ok(())
}

async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

/// `limit` and `cursor` of the lists that have no other filter.
#[derive(Deserialize, IntoParams)]
struct PageQuery {
    /// Page size (1–1000, default 200).
    limit: Option<i64>,
    /// From the previous page's `Link: rel="next"`.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/registries", params(PageQuery), responses((status = 200, body = [RegistryView], description = "By name; a full page carries `Link: <…>; rel=\"next\"`")))]
async fn list_registries(State(s): State<AppState>, Caller(who): Caller, uri: axum::http::Uri, Query(q): Query<PageQuery>) -> Result<Response, Failure> {
    let limit = page_size(q.limit, DEFAULT_PAGE)?;
    let after = q.cursor.as_deref().map(|c| decode_cursor(c, 1)).transpose()?.map(|mut v| v.remove(0));
    let mut all = s.backend.registries(&who).await?;
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let items: Vec<RegistryView> = all.into_iter().filter(|r| after.as_ref().is_none_or(|a| r.name > *a)).take(limit as usize).collect();
    Ok(page(&uri, items, limit, "cursor", |r| encode_cursor(&[&r.name])))
}

#[utoipa::path(get, path = "/api/v1/registries/{name}", params(("name" = String, Path, description = "Registry name")),
    responses((status = 200, body = RegistryView), (status = 404, body = ErrorBody)))]
async fn get_registry(State(s): State<AppState>, Caller(who): Caller, Path(name): Path<String>) -> Result<Json<RegistryView>, Failure> {
    names(&name, None)?;
    Ok(Json(s.backend.registry(&who, &name).await?))
}

#[utoipa::path(post, path = "/api/v1/registries/{name}/replicas", request_body = CreateReplicaRequest,
    params(("name" = String, Path, description = "Registry name")),
    responses((status = 202, body = OperationView, description = "ARM accepted; follow the operation"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_replica(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(name): Path<String>,
    Json(req): Json<CreateReplicaRequest>,
) -> Result<(StatusCode, Json<OperationView>), Failure> {
    names(&name, Some(&req.region))?;
    Ok((StatusCode::ACCEPTED, Json(s.backend.create_replica(&who, &name, req).await?)))
}

#[utoipa::path(delete, path = "/api/v1/registries/{name}/replicas/{region}",
    params(("name" = String, Path), ("region" = String, Path)),
    responses((status = 202, body = OperationView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_replica(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((name, region)): Path<(String, String)>,
) -> Result<(StatusCode, Json<OperationView>), Failure> {
    names(&name, Some(&region))?;
    Ok((StatusCode::ACCEPTED, Json(s.backend.delete_replica(&who, &name, &region).await?)))
}

#[utoipa::path(put, path = "/api/v1/registries/{name}/replicas/{region}/routing", request_body = RoutingRequest,
    params(("name" = String, Path), ("region" = String, Path)),
    responses((status = 202, body = OperationView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn set_routing(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((name, region)): Path<(String, String)>,
    Json(req): Json<RoutingRequest>,
) -> Result<(StatusCode, Json<OperationView>), Failure> {
    names(&name, Some(&region))?;
    Ok((StatusCode::ACCEPTED, Json(s.backend.set_routing(&who, &name, &region, req).await?)))
}

#[utoipa::path(get, path = "/api/v1/registries/{name}/presence", params(("name" = String, Path), regatlas_app::model::PresenceQuery),
    responses((status = 200, body = regatlas_app::model::PresenceView, description = "Regions with lag and sync progress, a page of tags (`next` is the cursor for `after`), stragglers"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_presence(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(name): Path<String>,
    Query(q): Query<regatlas_app::model::PresenceQuery>,
) -> Result<Json<regatlas_app::model::PresenceView>, Failure> {
    names(&name, None)?;
    Ok(Json(s.backend.presence(&who, &name, q).await?))
}

#[utoipa::path(put, path = "/api/v1/registries/{name}/presence/tracking", request_body = regatlas_app::model::TrackingRequest,
    params(("name" = String, Path)),
    responses((status = 200, body = Option<regatlas_app::model::TrackingView>, description = "The tracking settings (null: tracking is off)"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn put_tracking(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(name): Path<String>,
    Json(req): Json<regatlas_app::model::TrackingRequest>,
) -> Result<Json<Option<regatlas_app::model::TrackingView>>, Failure> {
    names(&name, None)?;
    Ok(Json(s.backend.set_tracking(&who, &name, req).await?))
}

#[utoipa::path(get, path = "/api/v1/registries/{name}/webhooks", params(("name" = String, Path)),
    responses((status = 200, body = [regatlas_app::model::WebhookView], description = "By location and name; service URIs without credentials or query, header names only"),
        (status = 404, body = ErrorBody)))]
async fn get_webhooks(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(name): Path<String>,
) -> Result<Json<Vec<regatlas_app::model::WebhookView>>, Failure> {
    names(&name, None)?;
    Ok(Json(s.backend.webhooks(&who, &name).await?))
}

#[utoipa::path(get, path = "/api/v1/registries/{name}/webhooks/{webhook}/deliveries", params(("name" = String, Path), ("webhook" = String, Path)),
    responses((status = 200, body = [regatlas_app::model::WebhookDeliveryView], description = "The webhook's recent deliveries (listEvents), at most 50"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_webhook_deliveries(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((name, webhook)): Path<(String, String)>,
) -> Result<Json<Vec<regatlas_app::model::WebhookDeliveryView>>, Failure> {
    names(&name, None)?;
    Ok(Json(s.backend.webhook_deliveries(&who, &name, &webhook).await?))
}

#[utoipa::path(post, path = "/api/v1/registries/{name}/webhooks/{webhook}/ping", params(("name" = String, Path), ("webhook" = String, Path)),
    responses((status = 202, description = "ARM sent a ping event through the webhook"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn post_webhook_ping(State(s): State<AppState>, Caller(who): Caller, Path((name, webhook)): Path<(String, String)>) -> Result<StatusCode, Failure> {
    names(&name, None)?;
    s.backend.ping_webhook(&who, &name, &webhook).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(put, path = "/api/v1/registries/{name}/webhooks/{webhook}", request_body = regatlas_app::model::WebhookRequest,
    params(("name" = String, Path), ("webhook" = String, Path)),
    responses((status = 202, description = "ARM accepted the webhook (created or changed)"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn put_webhook(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((name, webhook)): Path<(String, String)>,
    Json(req): Json<regatlas_app::model::WebhookRequest>,
) -> Result<StatusCode, Failure> {
    names(&name, None)?;
    s.backend.put_webhook(&who, &name, &webhook, req).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(delete, path = "/api/v1/registries/{name}/webhooks/{webhook}", params(("name" = String, Path), ("webhook" = String, Path)),
    responses((status = 202, description = "ARM is deleting the webhook"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_webhook(State(s): State<AppState>, Caller(who): Caller, Path((name, webhook)): Path<(String, String)>) -> Result<StatusCode, Failure> {
    names(&name, None)?;
    s.backend.delete_webhook(&who, &name, &webhook).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(get, path = "/api/v1/registries/{name}/settings", params(("name" = String, Path)),
    responses((status = 200, body = regatlas_app::model::RegistrySettingsView, description = "The registry's settings read from ARM now, with the doctor's findings"),
        (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn get_settings(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(name): Path<String>,
) -> Result<Json<regatlas_app::model::RegistrySettingsView>, Failure> {
    names(&name, None)?;
    Ok(Json(s.backend.registry_settings(&who, &name).await?))
}

#[utoipa::path(post, path = "/api/v1/registries/{name}/doctor/fix", request_body = regatlas_app::model::DoctorFixRequest, params(("name" = String, Path)),
    responses((status = 202, body = Option<OperationView>, description = "ARM accepted the fix; a replica fix answers its delete operation (the replica is created again when it ends)"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_doctor_fix(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(name): Path<String>,
    Json(req): Json<regatlas_app::model::DoctorFixRequest>,
) -> Result<(StatusCode, Json<Option<OperationView>>), Failure> {
    names(&name, None)?;
    Ok((StatusCode::ACCEPTED, Json(s.backend.doctor_fix(&who, &name, req).await?)))
}

#[utoipa::path(get, path = "/api/v1/registries/{name}/connected-registries", params(("name" = String, Path)),
    responses((status = 200, body = [regatlas_app::model::ConnectedRegistryView], description = "Read from ARM now, by name, with the repositories of each sync token's scope map and why one needs attention"),
        (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn get_connected(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(name): Path<String>,
) -> Result<Json<Vec<regatlas_app::model::ConnectedRegistryView>>, Failure> {
    names(&name, None)?;
    Ok(Json(s.backend.connected_registries(&who, &name).await?))
}

#[utoipa::path(put, path = "/api/v1/registries/{name}/connected-registries/{connected}", request_body = regatlas_app::model::ConnectedRegistryRequest,
    params(("name" = String, Path), ("connected" = String, Path)),
    responses((status = 202, description = "ARM accepted: created (scope map, sync token, connected registry) or changed"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn put_connected(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((name, connected)): Path<(String, String)>,
    Json(req): Json<regatlas_app::model::ConnectedRegistryRequest>,
) -> Result<StatusCode, Failure> {
    names(&name, None)?;
    s.backend.put_connected_registry(&who, &name, &connected, req).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(post, path = "/api/v1/registries/{name}/connected-registries/{connected}/deactivate", params(("name" = String, Path), ("connected" = String, Path)),
    responses((status = 202, description = "ARM is deactivating the connected registry"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn post_connected_deactivate(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((name, connected)): Path<(String, String)>,
) -> Result<StatusCode, Failure> {
    names(&name, None)?;
    s.backend.deactivate_connected_registry(&who, &name, &connected).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(get, path = "/api/v1/registries/{name}/transfers", params(("name" = String, Path)),
    responses((status = 200, body = regatlas_app::model::TransferOverview, description = "Pipelines and runs read from ARM now; transfers started here with their combined progress"),
        (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn get_transfers(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(name): Path<String>,
) -> Result<Json<regatlas_app::model::TransferOverview>, Failure> {
    names(&name, None)?;
    Ok(Json(s.backend.transfers(&who, &name).await?))
}

#[utoipa::path(post, path = "/api/v1/registries/{name}/transfers", request_body = regatlas_app::model::TransferRequest, params(("name" = String, Path)),
    responses((status = 202, body = regatlas_app::model::TransferView, description = "The transfer's runs were accepted by ARM (more than 50 artifacts: several runs)"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn post_transfer(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(name): Path<String>,
    Json(req): Json<regatlas_app::model::TransferRequest>,
) -> Result<(StatusCode, Json<regatlas_app::model::TransferView>), Failure> {
    names(&name, None)?;
    Ok((StatusCode::ACCEPTED, Json(s.backend.start_transfer(&who, &name, req).await?)))
}

#[utoipa::path(post, path = "/api/v1/registries/{name}/pipeline-runs/{run}/rerun", params(("name" = String, Path), ("run" = String, Path)),
    responses((status = 202, description = "ARM runs it again (a new forceUpdateTag); a planned run ARM never created is created"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn post_run_again(State(s): State<AppState>, Caller(who): Caller, Path((name, run)): Path<(String, String)>) -> Result<StatusCode, Failure> {
    names(&name, None)?;
    s.backend.rerun_pipeline_run(&who, &name, &run).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(delete, path = "/api/v1/registries/{name}/pipeline-runs/{run}", params(("name" = String, Path), ("run" = String, Path)),
    responses((status = 202, description = "ARM is deleting the run"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_run(State(s): State<AppState>, Caller(who): Caller, Path((name, run)): Path<(String, String)>) -> Result<StatusCode, Failure> {
    names(&name, None)?;
    s.backend.delete_pipeline_run(&who, &name, &run).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(get, path = "/api/v1/registries/{name}/relocation/template", params(("name" = String, Path)),
    responses((status = 200, body = regatlas_app::model::RelocationTemplateView, description = "exportTemplate of the registry and its children, with what ARM could not export"),
        (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn get_relocation_template(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(name): Path<String>,
) -> Result<Json<regatlas_app::model::RelocationTemplateView>, Failure> {
    names(&name, None)?;
    Ok(Json(s.backend.relocation_template(&who, &name).await?))
}

#[utoipa::path(post, path = "/api/v1/registries/{name}/relocation/preview", request_body = regatlas_app::model::RelocationRequest, params(("name" = String, Path)),
    responses((status = 200, body = regatlas_app::model::RelocationPreview, description = "What creating the target would create, and what it cannot carry as is"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn post_relocation_preview(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(name): Path<String>,
    Json(req): Json<regatlas_app::model::RelocationRequest>,
) -> Result<Json<regatlas_app::model::RelocationPreview>, Failure> {
    names(&name, None)?;
    Ok(Json(s.backend.relocation_preview(&who, &name, req).await?))
}

#[utoipa::path(post, path = "/api/v1/registries/{name}/relocation", request_body = regatlas_app::model::RelocationRequest, params(("name" = String, Path)),
    responses((status = 202, body = OperationView, description = "The target is being created (a registry.relocate operation); confirm must repeat target_name"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_relocation(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(name): Path<String>,
    Json(req): Json<regatlas_app::model::RelocationRequest>,
) -> Result<(StatusCode, Json<OperationView>), Failure> {
    names(&name, None)?;
    Ok((StatusCode::ACCEPTED, Json(s.backend.relocate(&who, &name, req).await?)))
}

#[derive(Deserialize, IntoParams)]
struct OperationQuery {
    registry: Option<String>,
    /// replica.create | replica.delete | replica.routing
    kind: Option<String>,
    /// pending | running | succeeded | failed | unknown
    state: Option<String>,
    /// Page size (1–1000, default 200).
    limit: Option<i64>,
    /// From the previous page's `Link: rel="next"`.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/operations", params(OperationQuery), responses((status = 200, body = [OperationView], description = "Newest first; a full page carries `Link: <…>; rel=\"next\"`")))]
async fn list_operations(State(s): State<AppState>, Caller(who): Caller, uri: axum::http::Uri, Query(q): Query<OperationQuery>) -> Result<Response, Failure> {
    let limit = page_size(q.limit, DEFAULT_PAGE)?;
    q.registry.as_deref().map(|v| text_param("registry", v, 300)).transpose()?;
    let kind = filter("operation kind", q.kind.as_deref(), regatlas_app::model::OperationKind::parse)?;
    let state = filter("operation state", q.state.as_deref(), regatlas_app::model::OperationState::parse)?;
    let before = decode_pair(q.cursor.as_deref())?;
    let items = s.backend.operations(&who, q.registry, kind, state, limit, before).await?;
    Ok(page(&uri, items, limit, "cursor", |o| encode_cursor(&[&o.created_at, &o.id])))
}

#[derive(Deserialize, IntoParams)]
struct HistoryQuery {
    registry: Option<String>,
    /// An event kind (`replica.gone`) or a family (`replica`, `operation`, …; a trailing `.` is allowed).
    kind: Option<String>,
    /// A replica's or operation's id.
    subject: Option<String>,
    /// A person (`issuer#subject`, as `/api/v1/people` lists): what they did.
    actor: Option<String>,
    /// Events with a smaller id (paging backwards).
    before: Option<i64>,
    /// Page size (1–1000, default 200).
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/history", params(HistoryQuery), responses((status = 200, body = [EventView], description = "Newest first; a full page carries `Link: <…?before=ID>; rel=\"next\"`")))]
async fn list_history(State(s): State<AppState>, Caller(who): Caller, uri: axum::http::Uri, Query(q): Query<HistoryQuery>) -> Result<Response, Failure> {
    let limit = page_size(q.limit, DEFAULT_PAGE)?;
    for (f, v) in [("registry", &q.registry), ("subject", &q.subject), ("actor", &q.actor)] {
        v.as_deref().map(|v| text_param(f, v, 300)).transpose()?;
    }
    let kind = filter("event kind or family", q.kind.as_deref(), regatlas_domain::record::EventSelector::parse)?;
    let hq = regatlas_app::api::HistoryQuery { registry: q.registry, kind, subject: q.subject, actor: q.actor, before: q.before, limit };
    let items = s.backend.history(&who, hq).await?;
    Ok(page(&uri, items, limit, "before", |e| e.id.to_string()))
}

#[utoipa::path(post, path = "/api/v1/refresh", responses((status = 202, description = "The poller wakes now")))]
async fn refresh(State(s): State<AppState>, Caller(who): Caller) -> Result<StatusCode, Failure> {
    s.backend.refresh(&who).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(get, path = "/api/v1/poller", responses((status = 200, body = PollerStatus)))]
async fn poller(State(s): State<AppState>, Caller(who): Caller) -> Result<Json<PollerStatus>, Failure> {
    Ok(Json(s.backend.poller_status(&who).await?))
}

#[derive(Deserialize, IntoParams)]
struct EventsQuery {
    /// Resume after this event id (the `Last-Event-ID` header wins).
    after: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/events", params(EventsQuery),
    responses((status = 200, content_type = "text/event-stream", description = "Server-Sent Events; each `data` is an EventView, `id` its event id")))]
async fn events(State(s): State<AppState>, Caller(who): Caller, headers: HeaderMap, Query(q): Query<EventsQuery>) -> Response {
    // Reading the live feed is reading the history.
    if let Err(e) = s.backend.poller_status(&who).await {
        return Failure(e).into_response();
    }
    match s.sse_slots.clone().try_acquire_owned() {
        Ok(slot) => crate::events::sse(s.hub.clone(), crate::events::resume_point(&headers, q.after), s.config.sse_replay_max, slot).into_response(),
        Err(_) => {
            tracing::warn!("event stream refused: every slot is taken");
            let mut r = Failure(ApiError::new(ErrorKind::Unavailable, "TooManyStreams", "Every live-event slot is taken; try again shortly.")).into_response();
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("10"));
            r
        }
    }
}

#[utoipa::path(get, path = "/api/v1/migrations", params(PageQuery), responses((status = 200, body = [MigrationView], description = "Newest first; a full page carries `Link: <…>; rel=\"next\"`")))]
async fn list_migrations(State(s): State<AppState>, Caller(who): Caller, uri: axum::http::Uri, Query(q): Query<PageQuery>) -> Result<Response, Failure> {
    let limit = page_size(q.limit, DEFAULT_PAGE)?;
    let before = decode_pair(q.cursor.as_deref())?;
    let items = s.backend.migrations(&who, limit, before).await?;
    Ok(page(&uri, items, limit, "cursor", |m| encode_cursor(&[&m.created_at, &m.id])))
}

#[utoipa::path(post, path = "/api/v1/migrations", request_body = MigrationRequest,
    responses((status = 201, body = MigrationView, description = "Recorded; inventory and plan start at once"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create_migration(
    State(s): State<AppState>,
    Caller(who): Caller,
    Json(req): Json<MigrationRequest>,
) -> Result<(StatusCode, Json<MigrationView>), Failure> {
    Ok((StatusCode::CREATED, Json(s.backend.create_migration(&who, req).await?)))
}

#[utoipa::path(get, path = "/api/v1/migrations/{id}", params(("id" = String, Path)),
    responses((status = 200, body = MigrationDetail), (status = 404, body = ErrorBody)))]
async fn get_migration(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>) -> Result<Json<MigrationDetail>, Failure> {
    text_param("id", &id, 64)?;
    Ok(Json(s.backend.migration(&who, &id).await?))
}

#[derive(Deserialize, IntoParams)]
struct ItemQuery {
    /// planned | pending | importing | imported | failed | verified | mismatch
    state: Option<String>,
    /// copy | present | conflict
    action: Option<String>,
    /// Items of this repository only (its exact name).
    repository: Option<String>,
    /// Items whose repository, digest or a tag contains this text.
    q: Option<String>,
    /// Page size (1–1000, default 1000).
    limit: Option<i64>,
    /// From the previous page's `Link: rel="next"`.
    cursor: Option<String>,
}

/// An item cursor: the last item id of the previous page.
fn item_cursor(cursor: Option<&str>) -> Result<Option<i64>, Failure> {
    match cursor {
        None => Ok(None),
        Some(c) => {
            let v = decode_cursor(c, 1)?;
            v.first()
                .and_then(|id| id.parse::<i64>().ok())
                .map(Some)
                .ok_or_else(|| bad("InvalidCursor", "The cursor is not one this server gave out; start again without it."))
        }
    }
}

#[utoipa::path(get, path = "/api/v1/migrations/{id}/items", params(("id" = String, Path), ItemQuery),
    responses((status = 200, body = [MigrationItemView], description = "In the plan's order (repository by repository), filtered; a full page carries `Link: <…>; rel=\"next\"`")))]
async fn migration_items(
    State(s): State<AppState>,
    Caller(who): Caller,
    uri: axum::http::Uri,
    Path(id): Path<String>,
    Query(q): Query<ItemQuery>,
) -> Result<Response, Failure> {
    text_param("id", &id, 64)?;
    let limit = page_size(q.limit, MAX_PAGE)?;
    let state = filter("item state", q.state.as_deref(), regatlas_app::model::ItemState::parse)?;
    let action = filter("item action", q.action.as_deref(), regatlas_app::model::ItemAction::parse)?;
    if let Some(r) = &q.repository {
        text_param("repository", r, 256)?;
    }
    if let Some(t) = &q.q {
        text_param("q", t, 128)?;
    }
    let after = item_cursor(q.cursor.as_deref())?;
    let query = regatlas_app::model::ItemQuery { state, action, repository: q.repository, text: q.q, limit, after };
    let items = s.backend.migration_items(&who, &id, query).await?;
    Ok(page(&uri, items, limit, "cursor", |i| encode_cursor(&[&i.id.to_string()])))
}

#[derive(Deserialize, IntoParams)]
struct RepositoryQuery {
    /// Page size (1–1000, default 1000).
    limit: Option<i64>,
    /// From the previous page's `Link: rel="next"`.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/migrations/{id}/repositories", params(("id" = String, Path), RepositoryQuery),
    responses((status = 200, body = [RepositoryProgress], description = "Per-repository progress by name; a full page carries `Link: <…>; rel=\"next\"`")))]
async fn migration_repositories(
    State(s): State<AppState>,
    Caller(who): Caller,
    uri: axum::http::Uri,
    Path(id): Path<String>,
    Query(q): Query<RepositoryQuery>,
) -> Result<Response, Failure> {
    text_param("id", &id, 64)?;
    let limit = page_size(q.limit, MAX_PAGE)?;
    let after = q.cursor.as_deref().map(|c| decode_cursor(c, 1)).transpose()?.and_then(|mut v| v.pop());
    let repos = s.backend.migration_repositories(&who, &id, after, limit).await?;
    Ok(page(&uri, repos, limit, "cursor", |r| encode_cursor(&[&r.repository])))
}

#[utoipa::path(post, path = "/api/v1/migrations/{id}/{action}",
    params(("id" = String, Path), ("action" = String, Path, description = "start | pause | cancel | retry-failed")),
    responses((status = 202, body = MigrationView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn migration_action(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, action)): Path<(String, String)>,
) -> Result<(StatusCode, Json<MigrationView>), Failure> {
    text_param("id", &id, 64)?;
    let action = regatlas_app::model::MigrationAction::parse(&action)
        .ok_or_else(|| bad("UnknownAction", format!("'{}' is not start, pause, cancel or retry-failed.", crate::outbound::clean_text(&action, 32))))?;
    Ok((StatusCode::ACCEPTED, Json(s.backend.migration_action(&who, &id, action).await?)))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct TickRequest {
    done: bool,
}

#[utoipa::path(put, path = "/api/v1/migrations/{id}/checklist/{key}", request_body = TickRequest,
    params(("id" = String, Path), ("key" = String, Path)), responses((status = 200, body = MigrationDetail), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn tick(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, key)): Path<(String, String)>,
    Json(req): Json<TickRequest>,
) -> Result<Json<MigrationDetail>, Failure> {
    text_param("id", &id, 64)?;
    text_param("key", &key, 64)?;
    Ok(Json(s.backend.tick_checklist(&who, &id, &key, req.done).await?))
}

#[utoipa::path(get, path = "/api/v1/migrations/{id}/report.{format}", params(("id" = String, Path), ("format" = String, Path, description = "json | csv")),
    responses((status = 200, description = "The migration and every artifact with its state, attempts and errors"), (status = 404, body = ErrorBody)))]
async fn report(State(s): State<AppState>, Caller(who): Caller, Path((id, format)): Path<(String, String)>) -> Result<Response, Failure> {
    text_param("id", &id, 64)?;
    let m = s.backend.migration_report(&who, &id).await?;
    let format = match format.as_str() {
        "csv" => crate::migration::ReportFormat::Csv,
        "json" => crate::migration::ReportFormat::Json,
        other => {
            return Err(Failure(ApiError::new(
                ErrorKind::Invalid,
                "UnknownFormat",
                format!("'{}' is not json or csv.", crate::outbound::clean_text(other, 32)),
            )))
        }
    };
    let name = format!("regatlas-migration-{}", m.id);
    let backend = s.backend.clone();
    // Written as it is read: a page of items per chunk, never the whole report in memory.
    let chunks = crate::migration::report_stream(m, format, move |q| {
        let (backend, who, id) = (backend.clone(), who.clone(), id.clone());
        async move {
            backend.migration_items(&who, &id, q).await.map_err(|e| {
                tracing::error!(migration = %id, code = %e.code, "a report was cut short");
                std::io::Error::other(e.code)
            })
        }
    });
    let (content_type, ext) = match format {
        crate::migration::ReportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        crate::migration::ReportFormat::Json => ("application/json", "json"),
    };
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, content_type.to_string()),
            (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.{ext}\"")),
        ],
        axum::body::Body::from_stream(chunks),
    )
        .into_response())
}

/// `GET /api/v1/migrations/{id}/report.json|report.csv` (shares the path
/// shape with the actions, which are POSTs).
async fn report_route(state: State<AppState>, who: Caller, Path((id, file)): Path<(String, String)>) -> Result<Response, Failure> {
    match file.strip_prefix("report.") {
        Some(format) => report(state, who, Path((id, format.to_string()))).await,
        None => Err(Failure(ApiError::new(
            ErrorKind::NotFound,
            "NotFound",
            format!("No {} for a migration; try report.json or report.csv.", crate::outbound::clean_text(&file, 32)),
        ))),
    }
}

#[utoipa::path(get, path = "/api/v1/people", responses((status = 200, body = [PersonView], description = "Everyone who signed in or acted, by name")))]
async fn list_people(State(s): State<AppState>, Caller(who): Caller) -> Result<Json<Vec<PersonView>>, Failure> {
    Ok(Json(s.backend.people(&who).await?))
}

#[utoipa::path(get, path = "/api/v1/tokens", responses((status = 200, body = [ApiTokenView], description = "Newest first, revoked ones too (Admin)"), (status = 403, body = ErrorBody)))]
async fn list_tokens(State(s): State<AppState>, Caller(who): Caller) -> Result<Json<Vec<ApiTokenView>>, Failure> {
    Ok(Json(s.backend.api_tokens(&who).await?))
}

#[utoipa::path(post, path = "/api/v1/tokens", request_body = ApiTokenRequest,
    responses((status = 201, body = CreatedApiToken, description = "The secret is in this answer only"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_token(
    State(s): State<AppState>,
    Caller(who): Caller,
    Json(req): Json<ApiTokenRequest>,
) -> Result<(StatusCode, Json<CreatedApiToken>), Failure> {
    Ok((StatusCode::CREATED, Json(s.backend.create_api_token(&who, req).await?)))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", params(("id" = String, Path)),
    responses((status = 200, body = ApiTokenView, description = "Revoked: refused from now on"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_token(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>) -> Result<Json<ApiTokenView>, Failure> {
    text_param("id", &id, 64)?;
    Ok(Json(s.backend.revoke_api_token(&who, &id).await?))
}
