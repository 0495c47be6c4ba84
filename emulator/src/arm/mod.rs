//! The ARM control plane: `Microsoft.ContainerRegistry` resources under one
//! subscription, written from the ARM contract in `data/azure-specs/`
//! (reference and examples), with ARM's long-running-operation protocol,
//! error documents, throttling and bearer-token checks.
//!
//! Requests are parsed from the path by hand (ARM paths are
//! case-insensitive) and dispatched to [`registries`], [`replications`],
//! [`children`] and [`import`].

pub mod children;
pub mod error;
pub mod import;
pub mod pipelines;
pub mod registries;
pub mod relocation;
pub mod replications;

use std::{sync::Arc, time::Duration};

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::{json, Value};

pub use error::ArmError;

use crate::{
    auth::IDENTITY_HEADER_NAME,
    throttle::{OpKind, Take},
    world::{Outcome, PollStyle},
    Shared,
};

/// api-versions the emulator answers.
/// (`2022-12-01` is `Microsoft.Resources` for `/subscriptions` and `/locations`.)
/// ACR's api-versions, and those of the other providers a relocation reads
/// (ACR Tasks, Resources' exportTemplate, Authorization, Insights, ContainerService).
pub const API_VERSIONS: &[&str] = &[
    "2022-12-01",
    "2023-07-01",
    "2025-04-01",
    "2025-11-01",
    "2025-06-01-preview",
    "2026-01-01-preview",
    "2019-06-01-preview",
    "2021-04-01",
    "2022-04-01",
    "2021-05-01-preview",
    "2024-05-01",
];

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().route("/msi/token", get(msi_token)).fallback(dispatch).with_state(shared)
}

/// App Service managed-identity token endpoint.
async fn msi_token(State(shared): State<Arc<Shared>>, headers: HeaderMap, Query(q): Query<std::collections::HashMap<String, String>>) -> Response {
    let secret = headers.get(IDENTITY_HEADER_NAME).and_then(|v| v.to_str().ok());
    if secret != Some(shared.auth.identity_secret.as_str()) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"statusCode": 401, "message": "missing or wrong X-IDENTITY-HEADER"}))).into_response();
    }
    let Some(resource) = q.get("resource") else {
        return (StatusCode::BAD_REQUEST, Json(json!({"statusCode": 400, "message": "resource is required"}))).into_response();
    };
    let principal = q.get("client_id").cloned().unwrap_or_else(|| "system-assigned-identity".to_string());
    let issued = shared.auth.issue(resource, &principal, Duration::from_secs(3600));
    Json(json!({
        "access_token": issued.token,
        "expires_on": issued.expires_on.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": principal,
    }))
    .into_response()
}

/// A request after authentication and throttling.
pub struct Req {
    pub method: Method,
    pub segs: Vec<String>,
    pub api_version: String,
    pub body: Value,
    pub query: std::collections::HashMap<String, String>,
    pub principal: String,
}

async fn dispatch(State(shared): State<Arc<Shared>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let kind = match method {
        Method::GET | Method::HEAD => OpKind::Read,
        Method::DELETE => OpKind::Delete,
        _ => OpKind::Write,
    };
    // Authentication first, as ARM does.
    let principal = match bearer(&headers) {
        None => {
            return ArmError::new(StatusCode::UNAUTHORIZED, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
                .into_response()
        }
        Some(tok) => match shared.auth.validate(tok) {
            Ok(p) => p,
            Err(msg) => return ArmError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", msg).into_response(),
        },
    };
    let sub = shared.subscription_id.clone();
    let remaining = match shared.throttle.take(&sub, kind) {
        Take::Allowed { remaining } => remaining,
        Take::Throttled { retry_after_secs } => {
            shared.count(&format!("throttled.{}", kind.name()));
            let mut r = ArmError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                format!("Number of {} requests for subscription '{sub}' exceeded the limit. Please try again after {retry_after_secs} seconds.", kind.name()),
            )
            .into_response();
            r.headers_mut().insert("retry-after", HeaderValue::from(retry_after_secs));
            r.headers_mut().insert(kind.header(), HeaderValue::from(0u64));
            return r;
        }
    };
    shared.count(&request_key(&method, uri.path()));
    let (latency, fail) = shared.fault_roll(kind);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let mut resp = if let Some(status) = fail {
        let code = if status == StatusCode::SERVICE_UNAVAILABLE { "ServiceUnavailable" } else { "InternalServerError" };
        ArmError::new(status, code, "Injected fault: the emulator was asked to fail this request.").into_response()
    } else {
        handle(&shared, method, uri, body, principal).await
    };
    resp.headers_mut().insert(kind.header(), HeaderValue::from(remaining));
    resp.headers_mut().insert("x-ms-request-id", HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).unwrap_or(HeaderValue::from_static("0")));
    resp
}

/// Counter key for a request: `"{METHOD} {collection}"`, e.g. `"PUT replications"`
/// (for tests and the benchmark: how often the client called what), plus `"all {METHOD}"`.
fn request_key(method: &Method, path: &str) -> String {
    const COLLECTIONS: &[&str] = &[
        "subscriptions",
        "locations",
        "registries",
        "replications",
        "webhooks",
        "connectedregistries",
        "exportpipelines",
        "importpipelines",
        "pipelineruns",
        "scopemaps",
        "tokens",
        "importimage",
        "operationstatuses",
        "operationresults",
    ];
    let segs: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(|s| s.to_ascii_lowercase()).collect();
    let coll = segs.iter().rev().find(|s| COLLECTIONS.contains(&s.as_str())).cloned().unwrap_or_else(|| "other".into());
    format!("{method} {coll}")
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let (scheme, tok) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(tok.trim())
}

async fn handle(shared: &Arc<Shared>, method: Method, uri: Uri, body: Bytes, principal: String) -> Response {
    let query: std::collections::HashMap<String, String> = uri
        .query()
        .map(|q| {
            q.split('&')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (pct_decode(k), pct_decode(v))
                })
                .collect()
        })
        .unwrap_or_default();
    let Some(api_version) = query.get("api-version").cloned() else {
        return ArmError::bad_request("MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
            .into_response();
    };
    if !API_VERSIONS.contains(&api_version.as_str()) {
        return ArmError::bad_request(
            "InvalidApiVersionParameter",
            format!("The api-version '{api_version}' is invalid. The supported versions are '{}'.", API_VERSIONS.join(",")),
        )
        .into_response();
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return ArmError::bad_request("InvalidRequestContent", format!("The request content was invalid and could not be deserialized: {e}"))
                    .into_response()
            }
        }
    };
    let segs: Vec<String> = uri.path().split('/').filter(|s| !s.is_empty()).map(pct_decode).collect();
    let req = Req { method, segs, api_version, body, query, principal };
    match route(shared, &req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn pct_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match s.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16)) {
                Some(Ok(b)) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn lc(s: &str) -> String {
    s.to_ascii_lowercase()
}

async fn route(shared: &Arc<Shared>, req: &Req) -> Result<Response, ArmError> {
    let s: Vec<String> = req.segs.iter().map(|x| lc(x)).collect();
    let s: Vec<&str> = s.iter().map(String::as_str).collect();
    let m = &req.method;
    if s.len() == 1 && s[0] == "subscriptions" && m == Method::GET {
        return Ok(subscriptions(shared));
    }
    if s.len() < 2 || s[0] != "subscriptions" {
        return Err(ArmError::not_found(format!("No route for '/{}'.", req.segs.join("/"))));
    }
    if s[1] != lc(&shared.subscription_id) {
        return Err(ArmError::new(StatusCode::NOT_FOUND, "SubscriptionNotFound", format!("The subscription '{}' could not be found.", req.segs[1])));
    }
    let rest = &s[2..];
    match rest {
        ["locations"] if m == Method::GET => Ok(locations(shared, &req.api_version)),
        ["providers", "microsoft.containerregistry", "registries"] if m == Method::GET => registries::list(shared, None, req),
        ["providers", "microsoft.containerregistry", "checknameavailability"] if m == Method::POST => registries::check_name(shared, req),
        ["providers", "microsoft.containerservice", "managedclusters"] if m == Method::GET => relocation::managed_clusters(shared, req),
        ["resourcegroups", _rg, "exporttemplate"] if m == Method::POST => relocation::export_template(shared, &req.segs[3], req),
        ["resourcegroups", _rg, "providers", "microsoft.containerregistry", tail @ ..] => {
            let rg = req.segs[3].clone();
            let t: Vec<&str> = tail.to_vec();
            let orig = &req.segs[6..];
            match (t.as_slice(), m) {
                (["registries"], &Method::GET) => registries::list(shared, Some(&rg), req),
                (["registries", _], _) => registries::handle(shared, &rg, &orig[1], req).await,
                (["registries", _, "operationstatuses", _], &Method::GET) => operation(shared, &orig[3]),
                (["registries", _, "providers", "microsoft.insights", "diagnosticsettings"], &Method::GET) => {
                    relocation::diagnostic_settings(shared, &orig[1], req)
                }
                (["registries", _, "providers", "microsoft.authorization", "roleassignments"], _) => relocation::role_assignments(shared, &orig[1], None, req),
                (["registries", _, "providers", "microsoft.authorization", "roleassignments", _], _) => {
                    relocation::role_assignments(shared, &orig[1], Some(&orig[5]), req)
                }
                (["registries", _, "importimage"], &Method::POST) => import::start(shared, &rg, &orig[1], req).await,
                (["registries", _, "listcredentials"], &Method::POST) => registries::list_credentials(shared, &orig[1]),
                (["registries", _, "listusages"], &Method::GET) => registries::list_usages(shared, &orig[1]),
                (["registries", _, "replications"], &Method::GET) => replications::list(shared, &orig[1], req),
                (["registries", _, "replications", _], _) => replications::handle(shared, &rg, &orig[1], &orig[3], req).await,
                (["registries", _, _, _, "operationstatuses", _], &Method::GET) => operation(shared, &orig[5]),
                (["registries", _, kind], &Method::GET) if children::is_kind(kind) => children::list(shared, &orig[1], kind, req),
                (["registries", _, kind, _], _) if children::is_kind(kind) => children::handle(shared, &orig[1], kind, &orig[3], req).await,
                (["registries", _, kind, _, action], &Method::POST) if children::is_kind(kind) => {
                    children::action(shared, &orig[1], kind, &orig[3], action, req).await
                }
                (["locations", _, "operationresults", "operationstatuses", _], &Method::GET) => operation(shared, &orig[4]),
                (["locations", _, "operationresults", _], &Method::GET) => operation(shared, &orig[3]),
                _ => Err(ArmError::bad_request(
                    "InvalidResourceType",
                    format!("The resource type or operation '{}' '{}' is not supported by the emulator.", m, req.segs.join("/")),
                )),
            }
        }
        _ => Err(ArmError::not_found(format!("No route for '/{}'.", req.segs.join("/")))),
    }
}

/// `GET /subscriptions`: the one simulated subscription.
fn subscriptions(shared: &Arc<Shared>) -> Response {
    let sub = &shared.subscription_id;
    let tenant = shared.world().tenant_id.clone();
    Json(json!({ "value": [{
        "id": format!("/subscriptions/{sub}"),
        "subscriptionId": sub,
        "tenantId": tenant,
        "displayName": "Contoso (emulated)",
        "state": "Enabled",
        "subscriptionPolicies": { "locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off" },
        "authorizationSource": "RoleBased"
    }]}))
    .into_response()
}

/// `GET /subscriptions/{id}/locations` from `regions.json`, in ARM's shape.
fn locations(shared: &Arc<Shared>, _api: &str) -> Response {
    let sub = &shared.subscription_id;
    let value: Vec<Value> = crate::regions::all()
        .iter()
        .map(|r| {
            json!({
                "id": format!("/subscriptions/{sub}/locations/{}", r.name),
                "name": r.name,
                "type": "Region",
                "displayName": r.display_name,
                "regionalDisplayName": r.regional_display_name,
                "metadata": {
                    "regionType": if r.restricted_or_internal { "Logical" } else { "Physical" },
                    "regionCategory": if r.restricted_or_internal { "Other" } else { "Recommended" },
                    "geographyGroup": r.geography_group,
                    "longitude": r.longitude_raw,
                    "latitude": r.latitude_raw,
                    "physicalLocation": r.physical_location,
                    "pairedRegion": r.paired_region.iter().map(|p| json!({
                        "name": p,
                        "id": format!("/subscriptions/{sub}/locations/{p}"),
                    })).collect::<Vec<_>>(),
                },
                "availabilityZoneMappings": r.availability_zones.iter().enumerate().map(|(i, z)| json!({
                    "logicalZone": (i + 1).to_string(),
                    "physicalZone": z,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "value": value })).into_response()
}

/// Operation status (`…/operationStatuses/{id}` and import `operationResults`).
fn operation(shared: &Arc<Shared>, id: &str) -> Result<Response, ArmError> {
    let world = shared.world();
    let now = std::time::Instant::now();
    // Ids are lowercase when made (`World::new_operation`); ARM paths are
    // case-insensitive, so the lookup lowercases (one hash lookup, not a scan).
    let op = world.operations.get(&id.to_ascii_lowercase()).ok_or_else(|| ArmError::not_found(format!("The operation '{id}' was not found.")))?;
    let finished = op.finished_outcome(now).cloned();
    let retry = shared.retry_after_secs();
    match op.style {
        PollStyle::AsyncOperation => {
            let mut doc = json!({
                "id": format!("{}/operationStatuses/{}", "", op.id),
                "name": op.id,
                "startTime": op.started.to_rfc3339(),
                "percentComplete": op.percent(now),
            });
            match &finished {
                None => doc["status"] = json!("InProgress"),
                Some(Outcome::Succeeded) => {
                    doc["status"] = json!("Succeeded");
                    doc["endTime"] = json!(chrono::Utc::now().to_rfc3339());
                }
                Some(Outcome::Failed { code, message }) => {
                    doc["status"] = json!("Failed");
                    doc["endTime"] = json!(chrono::Utc::now().to_rfc3339());
                    doc["error"] = json!({ "code": code, "message": message });
                }
            }
            let mut r = Json(doc).into_response();
            if finished.is_none() {
                r.headers_mut().insert("retry-after", HeaderValue::from(retry));
            }
            Ok(r)
        }
        PollStyle::Location => match finished {
            None => {
                let mut r = StatusCode::ACCEPTED.into_response();
                r.headers_mut().insert("retry-after", HeaderValue::from(retry));
                Ok(r)
            }
            Some(Outcome::Succeeded) => Ok(StatusCode::OK.into_response()),
            Some(Outcome::Failed { code, message }) => {
                let status = match code.as_str() {
                    "Conflict" => StatusCode::CONFLICT,
                    "ResourceNotFound" => StatusCode::NOT_FOUND,
                    _ => StatusCode::BAD_REQUEST,
                };
                Err(ArmError::new(status, &code, message))
            }
        },
    }
}

/// Builds an LRO response with `Azure-AsyncOperation` (PUT/PATCH).
pub fn async_op_response(shared: &Shared, status: StatusCode, resource_path: &str, op_id: &str, api: &str, body: Value) -> Response {
    let mut r = (status, Json(body)).into_response();
    let url = format!("{}{resource_path}/operationStatuses/{op_id}?api-version={api}", shared.base_url);
    if let Ok(v) = HeaderValue::from_str(&url) {
        r.headers_mut().insert("azure-asyncoperation", v);
    }
    r.headers_mut().insert("retry-after", HeaderValue::from(shared.retry_after_secs()));
    r
}

/// Builds an LRO response with `Location` (DELETE/POST).
pub fn location_response(shared: &Shared, location_path: &str, api: &str) -> Response {
    let mut r = StatusCode::ACCEPTED.into_response();
    let url = format!("{}{location_path}?api-version={api}", shared.base_url);
    if let Ok(v) = HeaderValue::from_str(&url) {
        r.headers_mut().insert("location", v);
    }
    r.headers_mut().insert("retry-after", HeaderValue::from(shared.retry_after_secs()));
    r
}

/// `{"value": [...], "nextLink": …}`: one page of a list, as ARM pages
/// long lists. The page starts at `$skipToken` (an opaque offset) and holds
/// at most the configured page size; `nextLink` is an absolute URL to the
/// next page, absent on the last one.
pub fn list_page(shared: &Shared, req: &Req, value: Vec<Value>) -> Response {
    let start = req.query.get("$skiptoken").or_else(|| req.query.get("$skipToken")).and_then(|t| t.parse::<usize>().ok()).unwrap_or(0);
    let size = shared.list_page_size;
    let total = value.len();
    let page: Vec<Value> = value.into_iter().skip(start).take(size).collect();
    let mut doc = json!({ "value": page });
    if start + size < total {
        doc["nextLink"] = json!(format!("{}/{}?api-version={}&$skipToken={}", shared.base_url, req.segs.join("/"), req.api_version, start + size));
    }
    Json(doc).into_response()
}

/// Merges `patch` into `target` (JSON merge patch, RFC 7396).
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}
