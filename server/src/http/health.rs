//! `/healthz` (the process answers) and `/readyz` (its dependencies work).

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use serde_json::json;

use super::AppState;

/// Liveness: answers as long as the process serves HTTP.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Readiness: the database answers and the front-end bundle is present.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = match state.storage.ping().await {
        Ok(()) => json!({ "ok": true }),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            json!({ "ok": false, "error": "the database does not answer (the server log has the cause)" })
        }
    };
    let pkg = std::path::Path::new(&*state.leptos_options.site_root)
        .join(&*state.leptos_options.site_pkg_dir)
        .join(format!("{}.js", state.leptos_options.output_name));
    let assets = if pkg.is_file() {
        json!({ "ok": true })
    } else {
        tracing::warn!(path = %pkg.display(), "readiness: front-end bundle missing");
        json!({ "ok": false, "error": "the front-end bundle is missing (the server log names the path)" })
    };
    let ready = database["ok"] == true && assets["ok"] == true;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not ready" },
            "checks": { "database": database, "assets": assets },
            // Every instance serves; one leads (polls, drives migrations).
            "leader": state.leadership.is_leader(),
        })),
    )
}
