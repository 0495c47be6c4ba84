//! `POST /hooks/acr/{registry}/{region}`: where a tracked registry's regional
//! webhooks deliver. Public (no session, no bearer token): the hook's own
//! secret header is the credential, compared in constant time with the
//! stored hash. An unknown registry or region and a wrong secret get the
//! same 401, and nothing is stored; a malformed body gets 400 with the
//! field; a body over [`event::MAX_EVENT_BYTES`] gets 413.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
    Json,
};
use chrono::Utc;
use regatlas_app::model::ApiError;
use regatlas_domain::{presence::PresenceSource, ErrorKind, Region};
use serde_json::{json, Value};

use super::{event, secret_matches, Presence, SECRET_HEADER};
use crate::http::error::Failure;

fn refused(reason: &'static str) -> Response {
    crate::metrics::webhook_refused(reason);
    Failure(ApiError::new(ErrorKind::Unauthenticated, "HookRefused", "Unknown hook or wrong secret.")).into_response()
}

pub async fn receive(State(presence): State<Presence>, Path((registry, region)): Path<(String, String)>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(region) = Region::parse(region) else { return refused("unknown-hook") };
    let storage = presence.storage();
    let registry_id = match storage.registry_id_by_name(&registry).await {
        Ok(Some(id)) => id,
        Ok(None) => return refused("unknown-hook"),
        Err(e) => return Failure(ApiError::from(e)).into_response(),
    };
    let hook = match storage.presence_hook(&registry_id, region.as_str()).await {
        Ok(Some(h)) => h,
        Ok(None) => return refused("unknown-hook"),
        Err(e) => return Failure(ApiError::from(e)).into_response(),
    };
    let presented = headers.get(SECRET_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !secret_matches(presented, &hook.secret_sha256) {
        tracing::warn!(registry = %crate::outbound::clean_text(&registry, 60), region = %region, "webhook with a wrong secret refused");
        return refused("secret");
    }
    if body.len() > event::MAX_EVENT_BYTES {
        crate::metrics::webhook_refused("too-large");
        return Failure(ApiError::new(ErrorKind::TooLarge, "EventTooLarge", format!("An event is at most {} bytes.", event::MAX_EVENT_BYTES))).into_response();
    }
    let content: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            crate::metrics::webhook_refused("invalid");
            return Failure(ApiError::new(ErrorKind::Invalid, "InvalidEvent", "The body is not JSON.")).into_response();
        }
    };
    let now = Utc::now();
    let arrival = match event::arrival(&content, &registry_id, &region, PresenceSource::Webhook, now) {
        Ok(a) => a,
        Err(e) => {
            crate::metrics::webhook_refused("invalid");
            return Failure(ApiError::new(ErrorKind::Invalid, "InvalidEvent", e.to_string())).into_response();
        }
    };
    if let Err(e) = storage.presence_hook_used(&registry_id, region.as_str(), &event::stamp(now)).await {
        tracing::warn!(error = %e, "cannot note the hook's last event");
    }
    let Some(arrival) = arrival else { return Json(json!({ "recorded": false })).into_response() };
    match presence.ingest(std::slice::from_ref(&arrival)).await {
        Ok(news) => Json(json!({ "recorded": true, "new": news > 0 })).into_response(),
        Err(e) => Failure(ApiError::from(e)).into_response(),
    }
}
