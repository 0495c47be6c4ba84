//! The emulator's admin API, under `/emulator-admin/` (never part of ARM):
//! fault injection, throttle limits, counters, which region each regional
//! endpoint serves. Also driven by the CLI.

use std::sync::Arc;

use axum::{extract::State, routing::get, Json, Router};
use serde_json::{json, Value};

use crate::{throttle::ThrottleConfig, world::Faults, Shared};

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/emulator-admin/faults", get(get_faults).put(put_faults))
        .route("/emulator-admin/throttle", get(get_throttle).put(put_throttle))
        .route("/emulator-admin/counters", get(counters))
        .route("/emulator-admin/login", get(login))
        .route("/emulator-admin/regional-endpoints", get(regional_endpoints))
        .with_state(shared)
}

async fn get_faults(State(s): State<Arc<Shared>>) -> Json<Faults> {
    Json(s.world().faults.clone())
}

async fn put_faults(State(s): State<Arc<Shared>>, Json(f): Json<Faults>) -> Json<Faults> {
    tracing::warn!(faults = ?f, "fault injection changed");
    s.world().faults = f.clone();
    Json(f)
}

async fn get_throttle(State(s): State<Arc<Shared>>) -> Json<ThrottleConfig> {
    Json(s.throttle.config())
}

async fn put_throttle(State(s): State<Arc<Shared>>, Json(c): Json<ThrottleConfig>) -> Json<ThrottleConfig> {
    s.throttle.set_config(c.clone());
    Json(c)
}

/// Where the emulated Entra ID is and the certificate it presents (no
/// secret): what a console pointed at this emulator by URL needs to sign in.
async fn login(State(s): State<Arc<Shared>>) -> Json<Value> {
    let tenant = s.world().tenant_id.clone();
    Json(json!({
        "login_url": s.login.get().map(|l| l.url.clone()),
        "certificate_pem": s.login.get().map(|l| l.certificate_pem.clone()),
        "tenant_id": tenant,
        "client_id": crate::login::CONSOLE_CLIENT_ID,
    }))
}

/// Which region each regional endpoint serves (`host:port` → region). In
/// Azure the host name says it (`<registry>.<region>.geo.azurecr.io`); the
/// emulator's endpoints are loopback ports, so it says it here.
async fn regional_endpoints(State(s): State<Arc<Shared>>) -> Json<Value> {
    let world = s.world();
    let map: serde_json::Map<String, Value> =
        world.registries.values().flat_map(|r| r.replications.values().map(|p| (p.endpoint.clone(), json!(p.location.clone())))).collect();
    Json(Value::Object(map))
}

async fn counters(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(s.world().counters))
}
