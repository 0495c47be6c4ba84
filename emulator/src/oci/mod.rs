//! The OCI Distribution data plane. Each registry has a global endpoint (its
//! login server) and one endpoint per replica (regional endpoint), each its
//! own loopback listener. A push lands at once in the replica that received
//! it (the routed replica for the global endpoint) and reaches the others
//! after the replication delay, firing each replica's webhooks as it lands.

mod auth;
mod blobs;
pub mod store;

use auth::{authorize, token_endpoint};
use blobs::{blob, upload};

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    Json, Router,
};
use base64::Engine;
use serde_json::{json, Value};

use crate::Shared;

/// Which endpoint a listener serves.
#[derive(Clone)]
pub struct Endpoint {
    pub shared: Arc<Shared>,
    pub registry: String,
    /// `None`: the global endpoint, routed to a replica.
    pub region: Option<String>,
}

pub fn router(ep: Endpoint) -> Router {
    Router::new().fallback(handle).with_state(ep)
}

pub const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

fn oci_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "errors": [{ "code": code, "message": message, "detail": null }] }))).into_response()
}

async fn handle(State(ep): State<Endpoint>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| {
            q.split('&')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k.to_string(), v.replace("%3A", ":").replace("%3a", ":").replace("%2F", "/").replace("%2f", "/"))
                })
                .collect()
        })
        .unwrap_or_default();
    if path.starts_with("/oauth2/") {
        return token_endpoint(&ep, &method, &path, &headers, &body);
    }
    let acr_listing = path.starts_with("/acr/v1/") && path.ends_with("/_manifests");
    if !path.starts_with("/v2") && !acr_listing {
        return oci_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "not found");
    }
    // Which region serves this request.
    let region = {
        let world = ep.shared.world();
        let Some(reg) = world.registries.get(&ep.registry) else {
            return oci_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "registry not found");
        };
        match &ep.region {
            Some(r) => {
                if world.faults.region_outages.contains(r) || reg.replication_in(r).is_none() {
                    return oci_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "regional endpoint unavailable");
                }
                r.clone()
            }
            None => {
                // The home replica when its routing is on and its region is up,
                // otherwise the first replica that receives traffic.
                let pick = reg
                    .replications
                    .values()
                    .filter(|r| r.region_endpoint_enabled && r.deleting_at.is_none() && !world.faults.region_outages.contains(&r.location))
                    .min_by_key(|r| !r.home)
                    .map(|r| r.location.clone());
                match pick {
                    Some(r) => r,
                    None => return oci_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "no replica receives traffic"),
                }
            }
        }
    };
    if let Err(r) = authorize(&ep, &method, &headers) {
        return r;
    }
    // Reads of a regional endpoint, counted per region (the throttling unit).
    if ep.region.is_some() && (method == Method::GET || method == Method::HEAD) {
        ep.shared.world().count(&format!("oci read {region}"));
    }
    // Data-plane reads, throttled per replica when a limit is set (ACR's
    // TOOMANYREQUESTS with Retry-After), and counted per registry.
    if method == Method::GET || method == Method::HEAD {
        if let crate::throttle::Take::Throttled { retry_after_secs } = ep.shared.throttle.take_registry_read(&format!("{}:{region}", ep.registry)) {
            ep.shared.world().count("throttled.registry-reads");
            let mut r = oci_error(StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS", "too many requests to this replica; retry after the interval given");
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                r.headers_mut().insert("retry-after", v);
            }
            return r;
        }
        ep.shared.world().count(&format!("oci reads {}", ep.registry));
    }
    if let Some(name) = path.strip_prefix("/acr/v1/").and_then(|p| p.strip_suffix("/_manifests")) {
        return acr_manifests(&ep, &region, name, &query);
    }
    let rest = path.trim_start_matches("/v2").trim_start_matches('/').to_string();
    if rest.is_empty() {
        return (StatusCode::OK, [("docker-distribution-api-version", "registry/2.0")], Json(json!({}))).into_response();
    }
    if rest == "_catalog" && method == Method::GET {
        return catalog(&ep, &region, &query);
    }
    // <name>/(manifests|blobs|tags|referrers)/...
    for marker in ["/manifests/", "/blobs/uploads", "/blobs/", "/tags/list", "/referrers/"] {
        if let Some(idx) = rest.find(marker) {
            let name = rest[..idx].to_string();
            let tail = rest[idx + marker.len()..].to_string();
            return match marker {
                "/manifests/" => manifest(&ep, &region, &method, &name, &tail, &headers, body).await,
                "/blobs/uploads" => upload(&ep, &method, &name, tail.trim_start_matches('/'), &query, body, &headers),
                "/blobs/" => blob(&ep, &method, &name, &tail, &headers),
                "/tags/list" => tags(&ep, &region, &name, &query),
                _ => referrers(&ep, &region, &name, &tail, &query),
            };
        }
    }
    oci_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "unknown path")
}

fn paginate(items: Vec<String>, query: &HashMap<String, String>) -> (Vec<String>, Option<String>) {
    let mut items = items;
    items.sort();
    if let Some(last) = query.get("last") {
        items.retain(|i| i.as_str() > last.as_str());
    }
    match query.get("n").and_then(|n| n.parse::<usize>().ok()) {
        Some(n) if items.len() > n => {
            items.truncate(n);
            let next = items.last().cloned();
            (items, next)
        }
        _ => (items, None),
    }
}

fn catalog(ep: &Endpoint, region: &str, query: &HashMap<String, String>) -> Response {
    let now = Instant::now();
    let world = ep.shared.world();
    let Some(reg) = world.registries.get(&ep.registry) else { return oci_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "") };
    let repos: Vec<String> = reg.content.repos.iter().filter(|(_, r)| r.visible_in(region, now)).map(|(k, _)| k.clone()).collect();
    let (page, next) = paginate(repos, query);
    let mut r = Json(json!({ "repositories": page })).into_response();
    if let Some(last) = next {
        let n = query.get("n").cloned().unwrap_or_default();
        if let Ok(v) = HeaderValue::from_str(&format!("</v2/_catalog?last={last}&n={n}>; rel=\"next\"")) {
            r.headers_mut().insert("link", v);
        }
    }
    r
}

fn tags(ep: &Endpoint, region: &str, name: &str, query: &HashMap<String, String>) -> Response {
    let now = Instant::now();
    let world = ep.shared.world();
    let Some(repo) = world.registries.get(&ep.registry).and_then(|r| r.content.repos.get(name)).filter(|r| r.visible_in(region, now)) else {
        return oci_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "repository name not known to registry");
    };
    let (page, next) = paginate(repo.tags_in(region, now), query);
    let mut r = Json(json!({ "name": name, "tags": page })).into_response();
    if let Some(last) = next {
        let n = query.get("n").cloned().unwrap_or_default();
        if let Ok(v) = HeaderValue::from_str(&format!("</v2/{name}/tags/list?last={last}&n={n}>; rel=\"next\"")) {
            r.headers_mut().insert("link", v);
        }
    }
    r
}

async fn manifest(ep: &Endpoint, region: &str, method: &Method, name: &str, reference: &str, headers: &HeaderMap, body: Bytes) -> Response {
    let now = Instant::now();
    match *method {
        Method::GET | Method::HEAD => {
            let world = ep.shared.world();
            let Some(repo) = world.registries.get(&ep.registry).and_then(|r| r.content.repos.get(name)) else {
                return oci_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "repository name not known to registry");
            };
            let digest = if reference.starts_with("sha256:") {
                reference.to_string()
            } else {
                match repo.tag_in(reference, region, now) {
                    Some(d) => d.to_string(),
                    None => return oci_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "manifest unknown"),
                }
            };
            let Some(m) = repo.manifest_in(&digest, region, now) else {
                return oci_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "manifest unknown");
            };
            let mut r = if *method == Method::HEAD { StatusCode::OK.into_response() } else { m.bytes.clone().into_response() };
            let h = r.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&m.media_type) {
                h.insert("content-type", v);
            }
            if let Ok(v) = HeaderValue::from_str(&digest) {
                h.insert("docker-content-digest", v);
            }
            h.insert("content-length", HeaderValue::from(m.bytes.len()));
            r
        }
        Method::PUT => {
            let media_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or_else(|| serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["mediaType"].as_str().map(str::to_string)))
                .unwrap_or_else(|| MANIFEST_TYPES[0].to_string());
            let parsed: Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(_) => return oci_error(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", "manifest is not valid JSON"),
            };
            if reference.starts_with("sha256:") && store::sha256_digest(&body) != reference {
                return oci_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "provided digest did not match uploaded content");
            }
            // Referenced blobs and child manifests must exist.
            {
                let world = ep.shared.world();
                let Some(reg) = world.registries.get(&ep.registry) else { return oci_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "") };
                let mut needed: Vec<&str> = Vec::new();
                if let Some(d) = parsed["config"]["digest"].as_str() {
                    needed.push(d);
                }
                if let Some(ls) = parsed["layers"].as_array() {
                    needed.extend(ls.iter().filter_map(|l| l["digest"].as_str()));
                }
                if let Some(missing) = needed.iter().find(|d| !reg.content.blobs.contains_key(**d)) {
                    return oci_error(StatusCode::BAD_REQUEST, "BLOB_UNKNOWN", &format!("blob unknown to registry: {missing}"));
                }
                if let Some(ms) = parsed["manifests"].as_array() {
                    let repo = reg.content.repos.get(name);
                    for m in ms {
                        let d = m["digest"].as_str().unwrap_or_default();
                        if repo.and_then(|r| r.manifests.get(d)).is_none() {
                            return oci_error(StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN", &format!("manifest unknown: {d}"));
                        }
                    }
                }
            }
            let tag = (!reference.starts_with("sha256:")).then_some(reference);
            let digest = push_manifest(&ep.shared, &ep.registry, region, name, &media_type, body, tag);
            let mut r = StatusCode::CREATED.into_response();
            let h = r.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&digest) {
                h.insert("docker-content-digest", v.clone());
            }
            if let Ok(v) = HeaderValue::from_str(&format!("/v2/{name}/manifests/{digest}")) {
                h.insert("location", v);
            }
            r
        }
        Method::DELETE => {
            let mut world = ep.shared.world();
            let Some(repo) = world.registries.get_mut(&ep.registry).and_then(|r| r.content.repos.get_mut(name)) else {
                return oci_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "repository name not known to registry");
            };
            if reference.starts_with("sha256:") {
                if repo.manifests.remove(reference).is_none() {
                    return oci_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "manifest unknown");
                }
                for hist in repo.tags.values_mut() {
                    hist.retain(|t| t.digest != reference);
                }
            } else if repo.tags.remove(reference).is_none() {
                return oci_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "tag unknown");
            }
            StatusCode::ACCEPTED.into_response()
        }
        _ => oci_error(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "method not allowed"),
    }
}

/// How long a push takes to reach `region` from the receiving replica: the
/// delay, a random share of it (jitter), and the straggler's extra time.
fn replication_delay(clock: &crate::clock::Clock, t: &crate::world::Timings, region: &str) -> Duration {
    let jitter = if t.replication_jitter > 0.0 { rand::random::<f64>() * t.replication_jitter } else { 0.0 };
    let extra = t.straggler.as_ref().filter(|(r, _)| r == region).map(|(_, s)| *s).unwrap_or(0.0);
    clock.real(t.replication_delay * (1.0 + jitter) + extra)
}

/// Stores a manifest arriving in `region` and schedules its arrival (and
/// webhook events) in every other replica after the replication delay.
pub fn push_manifest(shared: &Arc<Shared>, registry: &str, region: &str, repo: &str, media_type: &str, body: Bytes, tag: Option<&str>) -> String {
    let size = body.len();
    let (digest, arrivals) = {
        let mut world = shared.world();
        let timings = world.timings.clone();
        let clock = world.clock;
        let Some(reg) = world.registries.get_mut(registry) else { return String::new() };
        let now = Instant::now();
        let mut landed = HashMap::new();
        for r in reg.replications.values() {
            let t = if r.location == region { now } else { now + replication_delay(&clock, &timings, &r.location) };
            // A replica still syncing receives new content when its sync ends.
            let t = match r.synced_at {
                Some(s) if s > t => s,
                _ => t,
            };
            landed.insert(r.location.clone(), t);
        }
        let d = reg.content.put_manifest(repo, media_type, body, tag, landed.clone());
        (d, landed)
    };
    let target = json!({
        "mediaType": media_type, "size": size, "digest": digest, "length": size,
        "repository": repo, "tag": tag,
        "url": format!("https://{registry}/v2/{repo}/manifests/{digest}"),
    });
    for (r, at) in arrivals {
        let shared = shared.clone();
        let registry = registry.to_string();
        let target = target.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            crate::webhooks::fire(shared, registry, r, "push", target).await;
        });
    }
    digest
}

fn referrers(ep: &Endpoint, region: &str, name: &str, digest: &str, query: &HashMap<String, String>) -> Response {
    let now = Instant::now();
    let world = ep.shared.world();
    let repo = world.registries.get(&ep.registry).and_then(|r| r.content.repos.get(name));
    let manifests: Vec<Value> = repo
        .map(|r| {
            r.manifests
                .iter()
                .filter(|(_, m)| m.subject.as_deref() == Some(digest) && m.landed.get(region).is_some_and(|t| now >= *t))
                .filter(|(_, m)| query.get("artifactType").is_none_or(|a| m.artifact_type.as_deref() == Some(a.as_str())))
                .map(|(d, m)| json!({ "mediaType": m.media_type, "digest": d, "size": m.bytes.len(), "artifactType": m.artifact_type }))
                .collect()
        })
        .unwrap_or_default();
    let mut r = Json(json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests })).into_response();
    r.headers_mut().insert("content-type", HeaderValue::from_static("application/vnd.oci.image.index.v1+json"));
    r
}

/// ACR's `GET /acr/v1/{name}/_manifests`: every manifest of a repository,
/// tagged or not, with its tags (paginated by digest with `n` and `last`).
fn acr_manifests(ep: &Endpoint, region: &str, name: &str, query: &HashMap<String, String>) -> Response {
    let now = Instant::now();
    let world = ep.shared.world();
    let Some(repo) = world.registries.get(&ep.registry).and_then(|r| r.content.repos.get(name)).filter(|r| r.visible_in(region, now)) else {
        return oci_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "repository name not known to registry");
    };
    let digests: Vec<String> = repo.manifests.keys().filter(|d| repo.manifest_in(d, region, now).is_some()).cloned().collect();
    let (page, next) = paginate(digests, query);
    let tags_of = |d: &str| repo.tags_in(region, now).into_iter().filter(|t| repo.tag_in(t, region, now) == Some(d)).collect::<Vec<_>>();
    let manifests: Vec<Value> = page
        .iter()
        .filter_map(|d| repo.manifests.get(d).map(|m| (d, m)))
        .map(|(d, m)| json!({ "digest": d, "imageSize": m.bytes.len(), "mediaType": m.media_type, "tags": tags_of(d), "subject": m.subject }))
        .collect();
    let mut r = Json(json!({ "registry": ep.registry, "imageName": name, "manifests": manifests })).into_response();
    if let Some(last) = next {
        let n = query.get("n").cloned().unwrap_or_default();
        if let Ok(v) = HeaderValue::from_str(&format!("</acr/v1/{name}/_manifests?last={last}&n={n}>; rel=\"next\"")) {
            r.headers_mut().insert("link", v);
        }
    }
    r
}
