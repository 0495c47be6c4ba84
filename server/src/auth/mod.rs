//! Who is asking, and may they.
//!
//! Every request but the public ones (health, static assets, the sign-in
//! routes, the OpenAPI document) carries an [`Identity`] when it reaches a
//! handler, put in its extensions by [`authenticate`]:
//!
//! - pages, server functions and the browser's live feed: the **session**
//!   made at sign-in ([`oidc`]), never a bearer token;
//! - `/api/v1`: a **bearer token**, never the session cookie — an access
//!   token the identity provider issued to an application ([`bearer`]), or
//!   an API token this console issued ([`tokens`]);
//! - a console without an identity provider (on loopback only): the
//!   **local** user, as Admin.
//!
//! What an identity may do is decided by its role in one place,
//! `actions::Console::require`, which every read and action passes through.

pub mod bearer;
pub mod client;
pub mod oidc;
mod routes;
pub mod tokens;

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use regatlas_app::model::{ApiError, ErrorKind};
use regatlas_domain::{record::NewEvent, EventKind, Identity, Principal, Role, Via};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::{events::EventHub, storage::Storage};

pub use routes::router;

/// How people sign in.
pub enum Mode {
    /// Through an OpenID Connect provider.
    Oidc(Arc<oidc::Provider>),
    /// No provider: everyone reaching the (loopback) port is this identity.
    Local(Identity),
}

/// Sessions end this long after the last request…
pub const IDLE_TIMEOUT: time::Duration = time::Duration::hours(8);
/// …and this long after sign-in, whatever happens.
pub const ABSOLUTE_TIMEOUT_SECS: i64 = 12 * 3600;

/// Whether a session signed in at `at` (Unix seconds) has outlived the
/// absolute timeout at `now`, however active it was.
fn past_absolute_timeout(at: i64, now: i64) -> bool {
    now - at > ABSOLUTE_TIMEOUT_SECS
}

/// The session's record of who signed in.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SignedIn {
    identity: Identity,
    /// Unix seconds.
    at: i64,
}

const SIGNED_IN: &str = "signed_in";
const PENDING: &str = "pending_sign_in";

/// Authentication's state, shared by the middleware and the sign-in routes.
pub struct Auth {
    pub mode: Mode,
    /// Application access tokens (with an identity provider).
    pub bearer: Option<bearer::Verifier>,
    pub storage: Storage,
    pub hub: EventHub,
    /// Where the console is reached: sign-in starts there, so the session
    /// cookie belongs to the host the provider redirects back to.
    pub public: crate::config::PublicUrl,
    /// Principal keys recorded lately (see `note_use`).
    recently_seen: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

/// How often a bearer identity's use is written down.
const NOTE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl Auth {
    pub fn new(mode: Mode, bearer: Option<bearer::Verifier>, storage: Storage, hub: EventHub, public: crate::config::PublicUrl) -> Auth {
        Auth { mode, bearer, storage, hub, public, recently_seen: Default::default() }
    }
}

/// Compares two secrets in time that depends on their lengths only.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Paths anyone may fetch.
fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/favicon.svg" | "/api/v1/openapi.json") || path.starts_with("/auth/") || path.starts_with("/pkg/")
        // Webhook deliveries prove themselves with their hook's secret.
        || path.starts_with("/hooks/acr/")
}

fn unauthenticated(code: &str, message: &str, bearer: bool) -> Response {
    let mut r = crate::http::error::Failure(ApiError::new(ErrorKind::Unauthenticated, code, message)).into_response();
    if bearer {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"regatlas\""));
    }
    r
}

/// A local path to return to after sign-in (never another origin).
pub(crate) fn local_path(p: &str) -> Option<String> {
    let ok = p.starts_with('/') && !p.starts_with("//") && !p.starts_with("/\\") && p.len() <= 2048 && crate::outbound::is_plain_text(p, 2048);
    ok.then(|| p.to_string())
}

impl Auth {
    /// Records an event caused by `who` (sign-ins, refusals, tokens).
    pub async fn record(&self, kind: EventKind, who: Option<&Principal>, summary: String, data: serde_json::Value) {
        let e = NewEvent { kind, actor: who.map(Principal::key), registry_id: None, subject_id: who.map(Principal::key), summary, data };
        if let Err(err) = self.hub.record(e).await {
            tracing::error!(error = %err, "cannot record an authentication event");
        }
    }

    /// The identity an `/api/v1` request's bearer token carries.
    async fn identify_bearer(&self, authorization: Option<String>) -> Result<Identity, Response> {
        let value = authorization.as_deref();
        let Some(token) = value.and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer "))).map(str::trim) else {
            return match &self.mode {
                Mode::Local(id) => Ok(id.clone()),
                Mode::Oidc(_) => Err(unauthenticated(
                    "BearerTokenRequired",
                    "The API takes a bearer token: an access token for the console's API, or an API token an Admin created.",
                    true,
                )),
            };
        };
        if tokens::is_ours(token) {
            return self.identify_api_token(token).await;
        }
        let Some(verifier) = &self.bearer else {
            return Err(unauthenticated("InvalidToken", "This console has no identity provider; use an API token.", true));
        };
        match verifier.verify(token).await {
            Ok(id) => {
                self.note_use(&id).await;
                Ok(id)
            }
            Err(bearer::BearerError::NoRole) => {
                Err(crate::http::error::Failure(ApiError::new(ErrorKind::NotAllowed, "NoRole", "The token grants no Regatlas app role.")).into_response())
            }
            Err(e) => {
                tracing::warn!(error = %e, "bearer token refused");
                Err(unauthenticated("InvalidToken", "The bearer token is not valid (signature, issuer, audience or expiry).", true))
            }
        }
    }

    async fn identify_api_token(&self, token: &str) -> Result<Identity, Response> {
        let refused = || unauthenticated("InvalidToken", "The API token is not valid: unknown, revoked or expired.", true);
        let found = match self.storage.api_token_by_hash(&tokens::hash(token)).await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot look up an API token");
                return Err(crate::http::error::Failure(ApiError::new(ErrorKind::Internal, "StorageError", "The token could not be checked.")).into_response());
            }
        };
        let Some(t) = found else { return Err(refused()) };
        let expired = chrono::DateTime::parse_from_rfc3339(&t.expires_at).map(|e| e < chrono::Utc::now()).unwrap_or(true);
        if t.revoked_at.is_some() || expired {
            tracing::warn!(token = %t.id, revoked = t.revoked_at.is_some(), expired, "API token refused");
            return Err(refused());
        }
        let identity = Identity {
            principal: Principal {
                issuer: regatlas_domain::identity::LOCAL_ISSUER.into(),
                subject: format!("token:{}", t.id),
                name: regatlas_domain::Actor::or_anonymous(Some(&format!("{} (API token)", t.name))),
                via: Via::ApiToken,
                token_id: Some(t.id.clone()),
            },
            role: t.role,
        };
        self.note_use(&identity).await;
        Ok(identity)
    }

    /// Records that a bearer identity was seen (and its API token used): at
    /// most once a minute per principal, so an API call does not cost a
    /// database write each.
    async fn note_use(&self, id: &Identity) {
        let key = id.principal.key();
        let due = match self.recently_seen.lock() {
            Ok(mut seen) => {
                let now = std::time::Instant::now();
                if seen.len() > 10_000 {
                    seen.retain(|_, at| now.duration_since(*at) < NOTE_EVERY);
                }
                match seen.get(&key) {
                    Some(at) if now.duration_since(*at) < NOTE_EVERY => false,
                    _ => {
                        seen.insert(key, now);
                        true
                    }
                }
            }
            Err(_) => true,
        };
        if !due {
            return;
        }
        if let Err(e) = self.storage.saw_principal(&id.principal, id.role).await {
            tracing::warn!(error = %e, "cannot record a principal");
        }
        if let Some(token) = &id.principal.token_id {
            if let Err(e) = self.storage.api_token_used(token).await {
                tracing::warn!(error = %e, "cannot record an API token's use");
            }
        }
    }

    /// The identity of a browser's session.
    async fn identify_session(&self, session: Option<&Session>) -> Option<Identity> {
        if let Mode::Local(id) = &self.mode {
            return Some(id.clone());
        }
        let session = session?;
        let signed_in: SignedIn = session.get(SIGNED_IN).await.ok().flatten()?;
        if past_absolute_timeout(signed_in.at, chrono::Utc::now().timestamp()) {
            let _ = session.flush().await;
            return None;
        }
        Some(signed_in.identity)
    }
}

/// The middleware: the request's identity, or a refusal (401, or a
/// redirect to sign-in for a page).
pub async fn authenticate(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if is_public(&path) {
        return next.run(req).await;
    }
    let identity = if path.starts_with("/api/v1/") || path == "/metrics" {
        let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        match auth.identify_bearer(authorization).await {
            Ok(id) => id,
            Err(r) => return r,
        }
    } else {
        let session = req.extensions().get::<Session>().cloned();
        match auth.identify_session(session.as_ref()).await {
            Some(id) => id,
            None if req.method() == axum::http::Method::GET && !path.starts_with("/api/") && !path.starts_with("/live/") => {
                let back = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
                let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("next", &back).finish();
                return Redirect::to(&format!("/auth/sign-in?{query}")).into_response();
            }
            None => return unauthenticated("SignInRequired", "Sign in first: this session has ended or never began.", false),
        }
    };
    req.extensions_mut().insert(identity);
    next.run(req).await
}

/// The local user of a console without an identity provider.
pub fn local_identity() -> Identity {
    let user = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).ok();
    Identity { principal: local_principal(user.as_deref()), role: Role::Admin }
}

/// A user of this machine (the `migrate` command on a local database).
pub fn local_principal(name: Option<&str>) -> Principal {
    let name = regatlas_domain::Actor::or_anonymous(name.or(Some("local user")));
    Principal { issuer: regatlas_domain::identity::LOCAL_ISSUER.into(), subject: format!("local:{name}"), name, via: Via::Local, token_id: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_twelve_hours_after_sign_in() {
        let at = 1_000_000;
        assert!(!past_absolute_timeout(at, at + 11 * 3600));
        assert!(!past_absolute_timeout(at, at + 12 * 3600));
        assert!(past_absolute_timeout(at, at + 12 * 3600 + 1));
    }

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(local_path("/activity?person=x").as_deref(), Some("/activity?person=x"));
        for bad in ["//evil.example/", "/\\evil.example", "https://evil.example/", "activity", "/a\nb"] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }
}
