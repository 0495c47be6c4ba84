//! Emulated Entra ID: the OAuth 2.0 token endpoint of the client-credentials
//! grant (`POST /{tenant}/oauth2/v2.0/token`), which
//! `azure_identity::ClientSecretCredential` speaks.
//!
//! `azure_identity` accepts only https authority hosts, so this listener
//! serves TLS with a certificate made at start for `127.0.0.1` and
//! `localhost`. Clients trust that certificate alone (its PEM is in
//! `EmulatorInfo` and at `/emulator-admin/login`); nothing here is a secret
//! except the client secret, which is the emulator's identity secret.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
    Form, Json, Router,
};
use serde::Deserialize;
use serde_json::json;
use tokio::{net::TcpListener, sync::watch};
use tokio_rustls::{
    rustls::{self, pki_types::PrivateKeyDer},
    TlsAcceptor,
};

use crate::{EmulatorError, Shared};

/// The client id of the console's app registration in the emulated tenant.
pub const CONSOLE_CLIENT_ID: &str = "6f0c1b0e-5e1a-4c6b-9a51-7e6f9c0c0a11";

/// How long issued tokens live (real seconds), like Entra's default hour.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// A TLS listener and the certificate it presents.
pub struct LoginEndpoint {
    /// `https://127.0.0.1:PORT`: the authority host.
    pub url: String,
    /// The certificate, PEM: what clients trust.
    pub certificate_pem: String,
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

/// An error as Entra sends it (`error`, `error_description` with an AADSTS code, `error_codes`).
fn entra_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    (status, Json(json!({ "error": error, "error_description": format!("AADSTS{code}: {description}"), "error_codes": [code] }))).into_response()
}

async fn token(State(shared): State<Arc<Shared>>, Path(tenant): Path<String>, Form(req): Form<TokenRequest>) -> Response {
    let world_tenant = shared.world().tenant_id.clone();
    if !tenant.eq_ignore_ascii_case(&world_tenant) {
        return entra_error(StatusCode::BAD_REQUEST, "invalid_request", 90002, &format!("Tenant '{tenant}' not found."));
    }
    if req.grant_type.as_deref() != Some("client_credentials") {
        return entra_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.");
    }
    if req.client_id.as_deref() != Some(CONSOLE_CLIENT_ID) {
        return entra_error(StatusCode::BAD_REQUEST, "unauthorized_client", 700016, "Application not found in the directory.");
    }
    if !req.client_secret.as_deref().is_some_and(|s| same_secret(s.as_bytes(), shared.auth.identity_secret.as_bytes())) {
        return entra_error(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, "Invalid client secret provided.");
    }
    // Scopes of the client-credentials grant are `{resource}/.default`.
    let Some(resource) = req.scope.as_deref().and_then(|s| s.split_whitespace().next()).and_then(|s| s.strip_suffix("/.default")) else {
        return entra_error(StatusCode::BAD_REQUEST, "invalid_scope", 1002012, "The provided value for scope is not valid; it must end with /.default.");
    };
    let issued = shared.auth.issue(resource, CONSOLE_CLIENT_ID, TOKEN_LIFETIME);
    let secs = TOKEN_LIFETIME.as_secs();
    Json(json!({ "token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": issued.token })).into_response()
}

/// Compares two secrets in time that depends on their lengths only.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().route("/{tenant}/oauth2/v2.0/token", post(token)).with_state(shared)
}

/// Binds a port on `ip` (the ARM endpoint's address), makes the
/// certificate and serves `router` over TLS until `stop` turns true.
pub async fn serve(
    shared: Arc<Shared>,
    ip: std::net::IpAddr,
    mut stop: watch::Receiver<bool>,
) -> Result<(LoginEndpoint, tokio::task::JoinHandle<()>), EmulatorError> {
    let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    if !ip.is_loopback() && !ip.is_unspecified() {
        names.push(ip.to_string());
    }
    let certified = rcgen::generate_simple_self_signed(names).map_err(|e| EmulatorError::Tls(format!("cannot make the login certificate: {e}")))?;
    let certificate_pem = certified.cert.pem();
    let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(vec![certified.cert.der().clone()], key))
        .map_err(|e| EmulatorError::Tls(format!("cannot set up TLS: {e}")))?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listen = SocketAddr::new(ip, 0);
    let listener = TcpListener::bind(listen).await.map_err(|source| EmulatorError::Bind { addr: listen, source })?;
    let addr = listener.local_addr().map_err(|source| EmulatorError::Bind { addr: listen, source })?;
    let app = router(shared);
    let task = tokio::spawn(async move {
        loop {
            let (tcp, _) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "login endpoint: accept failed");
                        continue;
                    }
                },
                _ = stop.wait_for(|v| *v) => break,
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "login endpoint: TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let io = hyper_util::rt::TokioIo::new(tls);
                if let Err(e) = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new()).serve_connection(io, service).await {
                    tracing::debug!(error = %e, "login endpoint: connection ended with an error");
                }
            });
        }
    });
    Ok((LoginEndpoint { url: format!("https://{addr}"), certificate_pem }, task))
}
