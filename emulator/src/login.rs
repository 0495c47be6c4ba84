//! Emulated Entra ID: the OAuth 2.0 token endpoint
//! (`POST /{tenant}/oauth2/v2.0/token`) of the client-credentials grant,
//! which `azure_identity::ClientSecretCredential` speaks, and of the
//! authorization-code grant of the console's sign-in ([`crate::entra`]),
//! with the OpenID discovery document and keys.
//!
//! `azure_identity` accepts only https authority hosts, so this listener
//! serves TLS with a certificate for `127.0.0.1` and `localhost` signed by
//! the emulator's own CA, made at start ([`Tls`]; `--tls` serves ARM with
//! it too). Clients trust that CA alone (its PEM is in `EmulatorInfo` and at
//! `/emulator-admin/login`); nothing here is a secret except the client
//! secret, which is the emulator's identity secret.

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

/// A TLS listener and the CA its certificate chains to.
pub struct LoginEndpoint {
    /// `https://127.0.0.1:PORT`: the authority host.
    pub url: String,
    /// The emulator's CA certificate, PEM: what clients trust.
    pub certificate_pem: String,
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// `application/x-www-form-urlencoded` decoding of one component (Basic
/// credentials are form-encoded before base64, RFC 6749 §2.3.1).
fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (char::from(b[i + 1]).to_digit(16), char::from(b[i + 2]).to_digit(16)) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Client id and secret from `Authorization: Basic` (client_secret_basic).
fn basic_credentials(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic "))?;
    let raw = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = raw.split_once(':')?;
    Some((form_decode(id), form_decode(secret)))
}

/// An error as Entra sends it (`error`, `error_description` with an AADSTS code, `error_codes`).
fn entra_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    (status, Json(json!({ "error": error, "error_description": format!("AADSTS{code}: {description}"), "error_codes": [code] }))).into_response()
}

async fn token(State(shared): State<Arc<Shared>>, Path(tenant): Path<String>, headers: axum::http::HeaderMap, Form(mut req): Form<TokenRequest>) -> Response {
    let world_tenant = shared.world().tenant_id.clone();
    if !tenant.eq_ignore_ascii_case(&world_tenant) {
        return entra_error(StatusCode::BAD_REQUEST, "invalid_request", 90002, &format!("Tenant '{tenant}' not found."));
    }
    if let Some((id, secret)) = basic_credentials(&headers) {
        req.client_id = Some(id);
        req.client_secret = Some(secret);
    }
    let client = req.client_id.clone().unwrap_or_default();
    let app = crate::entra::APPS.iter().find(|a| a.client_id == client);
    if client != CONSOLE_CLIENT_ID && app.is_none() {
        return entra_error(StatusCode::BAD_REQUEST, "unauthorized_client", 700016, "Application not found in the directory.");
    }
    // Every application of the demo tenant has the emulator's identity
    // secret; the console's also has a federated credential (workload identity).
    let federated = req.client_assertion_type.as_deref() == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    if federated {
        let ok = client == CONSOLE_CLIENT_ID && req.client_assertion.as_deref().is_some_and(|a| crate::entra::federated_assertion_ok(&shared, a));
        if !ok {
            return entra_error(StatusCode::UNAUTHORIZED, "invalid_client", 700213, "No matching federated identity record found for presented assertion.");
        }
    } else if !req.client_secret.as_deref().is_some_and(|s| same_secret(s.as_bytes(), shared.auth.identity_secret.as_bytes())) {
        return entra_error(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, "Invalid client secret provided.");
    }
    match req.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some("authorization_code") if client == CONSOLE_CLIENT_ID => {
            let code = req.code.clone().unwrap_or_default();
            return match crate::entra::redeem(&shared, &client, &code, req.redirect_uri.as_deref(), req.code_verifier.as_deref()) {
                Ok(body) => ([(axum::http::header::CACHE_CONTROL, "no-store")], Json(body)).into_response(),
                Err((error, code, description)) => entra_error(StatusCode::BAD_REQUEST, error, code, description),
            };
        }
        _ => return entra_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."),
    }
    // Scopes of the client-credentials grant are `{resource}/.default`.
    let Some(resource) = req.scope.as_deref().and_then(|s| s.split_whitespace().next()).and_then(|s| s.strip_suffix("/.default")) else {
        return entra_error(StatusCode::BAD_REQUEST, "invalid_scope", 1002012, "The provided value for scope is not valid; it must end with /.default.");
    };
    if resource == crate::entra::api_audience() {
        // An application calling the console's API: a signed JWT with its app roles.
        let Some(app) = app else {
            return entra_error(StatusCode::BAD_REQUEST, "invalid_scope", 500011, "The console cannot call its own API.");
        };
        let secs = TOKEN_LIFETIME.as_secs();
        return match crate::entra::app_access_token(&shared, app) {
            Ok(t) => Json(json!({ "token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": t })).into_response(),
            Err(e) => entra_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", 90000, &e),
        };
    }
    if client != CONSOLE_CLIENT_ID {
        return entra_error(StatusCode::BAD_REQUEST, "invalid_scope", 500011, "The application has no access to that resource.");
    }
    let issued = shared.auth.issue(resource, CONSOLE_CLIENT_ID, TOKEN_LIFETIME);
    let secs = TOKEN_LIFETIME.as_secs();
    Json(json!({ "token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": issued.token })).into_response()
}

/// Compares two secrets in time that depends on their lengths only.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().route("/{tenant}/oauth2/v2.0/token", post(token)).merge(crate::entra::login_routes()).with_state(shared)
}

/// The emulator's own certificate authority, made at start, and a
/// certificate it signed for the emulator's TLS listeners (`127.0.0.1`,
/// `localhost`, and the listen address). Clients trust the CA alone.
pub struct Tls {
    /// The CA certificate, PEM: what clients trust.
    pub ca_pem: String,
    pub acceptor: TlsAcceptor,
}

impl Tls {
    pub fn new(ip: std::net::IpAddr) -> Result<Tls, EmulatorError> {
        let err = |e: rcgen::Error| EmulatorError::Tls(format!("cannot make the emulator's certificates: {e}"));
        let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        if !ip.is_loopback() && !ip.is_unspecified() {
            names.push(ip.to_string());
        }
        let ca_key = rcgen::KeyPair::generate().map_err(err)?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Regatlas emulator CA");
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
        let ca = ca_params.self_signed(&ca_key).map_err(err)?;
        let leaf_key = rcgen::KeyPair::generate().map_err(err)?;
        let leaf = rcgen::CertificateParams::new(names).map_err(err)?.signed_by(&leaf_key, &rcgen::Issuer::from_params(&ca_params, &ca_key)).map_err(err)?;
        let key = PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key))
            .map_err(|e| EmulatorError::Tls(format!("cannot set up TLS: {e}")))?;
        Ok(Tls { ca_pem: ca.pem(), acceptor: TlsAcceptor::from(Arc::new(config)) })
    }
}

/// Serves `app` over TLS on `listener` until `stop` turns true.
pub fn serve_tls(listener: TcpListener, acceptor: TlsAcceptor, app: Router, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (tcp, _) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS endpoint: accept failed");
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
                        tracing::debug!(error = %e, "TLS endpoint: handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let io = hyper_util::rt::TokioIo::new(tls);
                if let Err(e) = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new()).serve_connection(io, service).await {
                    tracing::debug!(error = %e, "TLS endpoint: connection ended with an error");
                }
            });
        }
    })
}

/// Binds a port on `ip` (the ARM endpoint's address) and serves the login
/// router over TLS until `stop` turns true.
pub async fn serve(
    shared: Arc<Shared>,
    ip: std::net::IpAddr,
    tls: &Tls,
    stop: watch::Receiver<bool>,
) -> Result<(LoginEndpoint, tokio::task::JoinHandle<()>), EmulatorError> {
    let listen = SocketAddr::new(ip, 0);
    let listener = TcpListener::bind(listen).await.map_err(|source| EmulatorError::Bind { addr: listen, source })?;
    let addr = listener.local_addr().map_err(|source| EmulatorError::Bind { addr: listen, source })?;
    let task = serve_tls(listener, tls.acceptor.clone(), router(shared), stop);
    Ok((LoginEndpoint { url: format!("https://{addr}"), certificate_pem: tls.ca_pem.clone() }, task))
}
