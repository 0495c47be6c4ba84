//! The HTTP surface: Leptos pages and server functions, health endpoints,
//! static assets, and the tower-http layers around them.

pub mod api;
pub mod error;
mod health;
pub mod security;
pub mod serve;

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{FromRef, State},
    http::Request,
    response::IntoResponse,
    routing::get,
    Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use regatlas_app::{shell_document, App, ShellInfo};
use tower_http::{
    compression::CompressionLayer,
    limit::RequestBodyLimitLayer,
    timeout::TimeoutLayer,
    trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer},
};
use tracing::Level;

use crate::{config::Config, events::EventHub, storage::Storage};
use regatlas_app::api::SharedBackend;

/// Everything a handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub storage: Storage,
    pub shell: ShellInfo,
    pub config: Arc<Config>,
    /// Reads and actions, shared by the JSON API and the server functions.
    pub backend: SharedBackend,
    pub hub: EventHub,
    /// Open Server-Sent Events streams (each holds a permit).
    pub sse_slots: Arc<tokio::sync::Semaphore>,
    /// Sign-in, sessions and bearer tokens.
    pub auth: Arc<crate::auth::Auth>,
    /// Presence tracking (the webhook receiver).
    pub presence: crate::presence::Presence,
    /// What `/metrics` reads.
    pub scrape: crate::metrics::Scrape,
    /// Whether this instance leads (`/readyz` says; every instance serves).
    pub leadership: crate::cluster::Leadership,
}

impl FromRef<AppState> for crate::presence::Presence {
    fn from_ref(state: &AppState) -> Self {
        state.presence.clone()
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// Builds the complete router.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let context = {
        let shell = state.shell.clone();
        let backend = state.backend.clone();
        move || {
            provide_context(shell.clone());
            provide_context(backend.clone());
            provide_context(regatlas_app::api::ErrorStatus(error::sfn_status));
        }
    };
    let request_timeout = state.config.request_timeout;
    let body_limit = state.config.body_limit_bytes;
    let guard = Arc::new(security::Guard { public: state.config.public_url.clone(), hooks: Some(state.config.hooks_url.clone()) });
    let https = state.config.public_url.https;
    // `__Host-` over https: Secure, Path=/, no Domain. Lax, because Strict
    // would drop the cookie on the identity provider's redirect back.
    let sessions = tower_sessions::SessionManagerLayer::new(state.storage.session_store())
        .with_name(if https { "__Host-regatlas" } else { "regatlas_session" })
        .with_secure(https)
        .with_http_only(true)
        .with_same_site(tower_sessions::cookie::SameSite::Lax)
        .with_path("/")
        .with_expiry(tower_sessions::Expiry::OnInactivity(crate::auth::IDLE_TIMEOUT));
    let auth = state.auth.clone();

    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics))
        .route(
            "/hooks/acr/{registry}/{region}",
            axum::routing::post(crate::presence::receiver::receive).layer(axum::extract::DefaultBodyLimit::max(crate::presence::event::MAX_EVENT_BYTES)),
        )
        .merge(api::router())
        .merge(crate::auth::router(auth.clone()))
        // Server functions are POST-only: a GET never changes anything.
        .route("/api/sfn/{*fn_name}", axum::routing::post(server_fn_handler))
        .leptos_routes_with_context(&state, routes, context, {
            let options = state.leptos_options.clone();
            move || shell_document(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell_document))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, request_timeout))
        .layer(axum::middleware::from_fn_with_state(auth, crate::auth::authenticate))
        .layer(sessions)
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn_with_state(guard, security::guard))
        .layer(TraceLayer::new_for_http().make_span_with(DefaultMakeSpan::new().level(Level::INFO)).on_response(DefaultOnResponse::new().level(Level::INFO)))
        .with_state(state)
}

/// `/metrics`: Prometheus text format, for a bearer token of any role (or
/// without one on `--metrics-listen`).
pub async fn metrics(State(state): State<AppState>, identity: Option<axum::Extension<regatlas_domain::Identity>>) -> axum::response::Response {
    if identity.is_none() {
        return error::Failure(regatlas_app::model::ApiError::new(regatlas_domain::ErrorKind::Unauthenticated, "TokenRequired", "A bearer token is required."))
            .into_response();
    }
    render_metrics(&state.scrape).await
}

pub async fn render_metrics(scrape: &crate::metrics::Scrape) -> axum::response::Response {
    match scrape.render().await {
        Some(text) => ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        None => error::Failure(regatlas_app::model::ApiError::new(
            regatlas_domain::ErrorKind::Unavailable,
            "MetricsUnavailable",
            "Metrics are not recorded in this process.",
        ))
        .into_response(),
    }
}

async fn server_fn_handler(State(state): State<AppState>, req: Request<Body>) -> impl IntoResponse {
    let shell = state.shell.clone();
    let backend = state.backend.clone();
    leptos_axum::handle_server_fns_with_context(
        move || {
            provide_context(shell.clone());
            provide_context(backend.clone());
            provide_context(regatlas_app::api::ErrorStatus(error::sfn_status));
        },
        req,
    )
    .await
}
