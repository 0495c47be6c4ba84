//! The sign-in routes: `/auth/sign-in` (to the provider), `/auth/callback`
//! (back from it), `/auth/sign-out` (POST), and the pages that say what
//! happened (`/auth/signed-out`, `/auth/refused`).

use std::sync::Arc;

use axum::{
    extract::{Query, State},
    http::{header, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use regatlas_domain::{EventKind, Principal};
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

use super::{local_path, oidc::Pending, Auth, Mode, SignedIn, PENDING, SIGNED_IN};

pub fn router<S: Clone + Send + Sync + 'static>(auth: Arc<Auth>) -> Router<S> {
    Router::new()
        .route("/auth/sign-in", get(sign_in))
        .route("/auth/callback", get(callback))
        .route("/auth/sign-out", post(sign_out))
        .route("/auth/signed-out", get(signed_out))
        .route("/auth/refused", get(refused))
        .with_state(auth)
}

#[derive(Deserialize)]
struct SignInQuery {
    next: Option<String>,
}

/// A small page of its own (no application, no script).
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Regatlas</title><link rel=\"stylesheet\" href=\"/pkg/regatlas.css\"></head>\
         <body><main class=\"content auth-page\"><h1>{title}</h1>{body}</main></body></html>"
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

fn server_error(what: &str) -> Response {
    page(StatusCode::INTERNAL_SERVER_ERROR, "Sign-in failed", &format!("<p>{what}</p><p><a href=\"/auth/sign-in\">Try again</a></p>"))
}

async fn sign_in(State(auth): State<Arc<Auth>>, session: Session, headers: axum::http::HeaderMap, Query(q): Query<SignInQuery>) -> Response {
    let next = q.next.as_deref().and_then(local_path).unwrap_or_else(|| "/".into());
    let provider = match &auth.mode {
        Mode::Local(_) => return Redirect::to(&next).into_response(),
        Mode::Oidc(p) => p.clone(),
    };
    // Reached by another name (`localhost` for `127.0.0.1`): start again at
    // the public URL, or the cookie set here would not come back with the
    // provider's redirect to it.
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    if crate::http::security::normal_authority(host, auth.public.https) != auth.public.host {
        let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("next", &next).finish();
        return Redirect::to(&format!("{}/auth/sign-in?{query}", auth.public.origin)).into_response();
    }
    let (url, pending) = provider.start(next).await;
    if let Err(e) = session.insert(PENDING, pending).await {
        tracing::error!(error = %e, "cannot keep the sign-in in the session");
        return server_error("The session could not be stored.");
    }
    Redirect::to(&url).into_response()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(State(auth): State<Arc<Auth>>, session: Session, Query(q): Query<CallbackQuery>) -> Response {
    let Mode::Oidc(provider) = &auth.mode else { return Redirect::to("/").into_response() };
    let pending: Option<Pending> = session.remove(PENDING).await.ok().flatten();
    let Some(pending) = pending else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            "<p>This browser has no sign-in under way (it expired, or this link was opened elsewhere).</p><p><a href=\"/auth/sign-in\">Sign in</a></p>",
        );
    };
    if let Some(error) = q.error.as_deref() {
        let error = crate::outbound::clean_text(error, 64);
        tracing::warn!(%error, "the identity provider refused the sign-in");
        auth.record(EventKind::AuthRefused, None, format!("The identity provider refused a sign-in ({error})"), json!({ "error": error })).await;
        return Redirect::to("/auth/refused?reason=provider").into_response();
    }
    let (Some(code), Some(state)) = (q.code.as_deref(), q.state.as_deref()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "<p>The identity provider's answer had no code.</p><p><a href=\"/auth/sign-in\">Try again</a></p>",
        );
    };
    let next = pending.next.clone();
    match provider.finish(pending, code, state).await {
        Ok(identity) => {
            // A new session id at sign-in: a fixated id is worth nothing.
            if let Err(e) = session.cycle_id().await {
                tracing::error!(error = %e, "cannot renew the session id");
                return server_error("The session could not be renewed.");
            }
            let signed = SignedIn { identity: identity.clone(), at: chrono::Utc::now().timestamp() };
            if let Err(e) = session.insert(SIGNED_IN, signed).await {
                tracing::error!(error = %e, "cannot store the signed-in session");
                return server_error("The session could not be stored.");
            }
            if let Err(e) = auth.storage.saw_principal(&identity.principal, identity.role).await {
                tracing::warn!(error = %e, "cannot record a principal");
            }
            let p = &identity.principal;
            tracing::info!(name = %p.name, subject = %p.subject, role = %identity.role, "signed in");
            auth.record(
                EventKind::AuthSignIn,
                Some(p),
                format!("{} signed in as {}", p.name, identity.role.title()),
                json!({ "principal": p, "role": identity.role }),
            )
            .await;
            Redirect::to(&next).into_response()
        }
        Err(super::oidc::SignInError::NoRole { principal }) => {
            tracing::warn!(name = %principal.name, subject = %principal.subject, "sign-in refused: no role");
            auth.record(
                EventKind::AuthRefused,
                Some(&principal),
                format!("{} was refused: no Regatlas role", principal.name),
                json!({ "principal": principal }),
            )
            .await;
            Redirect::to("/auth/refused?reason=no-role").into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "sign-in failed");
            auth.record(EventKind::AuthRefused, None, "A sign-in failed a check".into(), json!({ "reason": e.to_string() })).await;
            Redirect::to("/auth/refused?reason=check").into_response()
        }
    }
}

async fn sign_out(State(auth): State<Arc<Auth>>, session: Session) -> Response {
    let who: Option<SignedIn> = session.get(SIGNED_IN).await.ok().flatten();
    if let Err(e) = session.delete().await {
        tracing::error!(error = %e, "cannot end a session");
        return server_error("The session could not be ended.");
    }
    if let Some(s) = who {
        let p: &Principal = &s.identity.principal;
        tracing::info!(name = %p.name, "signed out");
        auth.record(EventKind::AuthSignOut, Some(p), format!("{} signed out", p.name), json!({ "principal": p })).await;
    }
    Redirect::to("/auth/signed-out").into_response()
}

async fn signed_out() -> Response {
    page(StatusCode::OK, "Signed out", "<p>You are signed out of Regatlas.</p><p><a id=\"sign-in-again\" href=\"/auth/sign-in\">Sign in again</a></p>")
}

#[derive(Deserialize)]
struct RefusedQuery {
    reason: Option<String>,
}

async fn refused(Query(q): Query<RefusedQuery>) -> Response {
    // Fixed messages only: nothing from the query is shown.
    let body = match q.reason.as_deref() {
        Some("no-role") => {
            "<p id=\"refusal\">You signed in, but you hold no Regatlas role, so the console cannot show you anything.</p>\
             <p>Ask an administrator of your directory to assign you one of the app roles <code>Regatlas.Viewer</code>, \
             <code>Regatlas.Operator</code> or <code>Regatlas.Admin</code> on the Regatlas app registration (Enterprise applications → \
             Regatlas → Users and groups), then sign in again.</p>"
        }
        Some("provider") => "<p id=\"refusal\">The identity provider did not sign you in (it refused, or you cancelled).</p>",
        _ => "<p id=\"refusal\">The identity provider's answer failed a check (an expired or replayed sign-in, or a token that did not verify). Nothing was signed in.</p>",
    };
    page(StatusCode::FORBIDDEN, "Not signed in", &format!("{body}<p><a href=\"/auth/sign-in\">Sign in again</a></p>"))
}
