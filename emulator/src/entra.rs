//! Emulated Entra ID as an OpenID Connect provider for the console's
//! sign-in, and as the issuer of access tokens for the console's API.
//!
//! - Discovery (`/{tenant}/v2.0/.well-known/openid-configuration`), the keys
//!   (`/{tenant}/discovery/v2.0/keys`) and the token endpoint are served on
//!   the TLS login listener ([`crate::login`]), like `login.microsoftonline.com`.
//! - The authorize endpoint is a page for people, so it is served on the
//!   emulator's plain loopback endpoint: a browser opens it without a
//!   certificate warning. It lists the demo tenant's people with their app
//!   roles; choosing one returns an authorization code to the console.
//! - Tokens are RS256 JWTs signed with a key made at start. ID tokens carry
//!   `oid`, `tid`, `name`, `preferred_username`, `nonce` and `roles` (the
//!   app roles `Regatlas.Admin`, `Regatlas.Operator`, `Regatlas.Viewer`);
//!   access tokens for the console's API (`api://{client id}/.default`,
//!   client credentials) carry the calling application's `roles`.
//! - The authorization code flow requires PKCE (S256) and a loopback
//!   redirect URI; a code is used once and lives five minutes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
    Form, Json, Router,
};
use base64::Engine as _;
use jsonwebtoken::{jwk::Jwk, Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::{login::CONSOLE_CLIENT_ID, Shared};

/// Someone in the demo tenant.
pub struct DemoPerson {
    pub oid: &'static str,
    pub name: &'static str,
    pub username: &'static str,
    /// App roles assigned to them on the console's app registration.
    pub roles: &'static [&'static str],
}

/// The demo tenant's people: one per role, and one with no role.
pub const PEOPLE: &[DemoPerson] = &[
    DemoPerson { oid: "a1a1a1a1-0000-4000-8000-00000000ad01", name: "Ada Admin", username: "ada@contoso.example", roles: &["Regatlas.Admin"] },
    DemoPerson { oid: "0b0b0b0b-0000-4000-8000-00000000ad02", name: "Oscar Operator", username: "oscar@contoso.example", roles: &["Regatlas.Operator"] },
    DemoPerson { oid: "e1e1e1e1-0000-4000-8000-00000000ad03", name: "Vera Viewer", username: "vera@contoso.example", roles: &["Regatlas.Viewer"] },
    DemoPerson { oid: "d0d0d0d0-0000-4000-8000-00000000ad04", name: "Nico Norole", username: "nico@contoso.example", roles: &[] },
];

/// An application (service principal) of the demo tenant that may call the
/// console's API with client credentials; its secret is the emulator's
/// identity secret.
pub struct DemoApp {
    pub client_id: &'static str,
    pub name: &'static str,
    pub roles: &'static [&'static str],
}

pub const APPS: &[DemoApp] = &[
    DemoApp { client_id: "c1c1c1c1-0000-4000-8000-0000000000a1", name: "ci-admin", roles: &["Regatlas.Admin"] },
    DemoApp { client_id: "c2c2c2c2-0000-4000-8000-0000000000a2", name: "ci-deployer", roles: &["Regatlas.Operator"] },
    DemoApp { client_id: "c3c3c3c3-0000-4000-8000-0000000000a3", name: "ci-reader", roles: &["Regatlas.Viewer"] },
];

/// The demo tenant's federated credential on the console's app
/// registration: a workload-identity token from this issuer (the emulator
/// itself plays the cluster's issuer), for this Kubernetes service account,
/// authenticates the console instead of its client secret.
pub const FEDERATED_SUBJECT: &str = "system:serviceaccount:regatlas:regatlas";
/// The audience Entra requires of federated tokens.
pub const FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";

/// The console API's application id URI (the audience of its access tokens).
pub fn api_audience() -> String {
    format!("api://{CONSOLE_CLIENT_ID}")
}

/// How long a code lives.
const CODE_LIFETIME: Duration = Duration::from_secs(300);
/// How long ID and access tokens live.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

struct SigningKey {
    kid: String,
    key: EncodingKey,
    jwk: Value,
}

/// The process's signing key, made once (RSA 2048).
fn signing_key() -> Result<&'static SigningKey, String> {
    static KEY: OnceLock<Result<SigningKey, String>> = OnceLock::new();
    KEY.get_or_init(|| {
        use aws_lc_rs::encoding::AsDer;
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(|e| format!("cannot make a signing key: {e}"))?;
        let der = pair.as_der().map_err(|e| format!("cannot encode the signing key: {e}"))?;
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", base64::engine::general_purpose::STANDARD.encode(der.as_ref()));
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| format!("cannot load the signing key: {e}"))?;
        let jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).map_err(|e| format!("cannot describe the signing key: {e}"))?;
        let mut jwk = serde_json::to_value(jwk).map_err(|e| e.to_string())?;
        let kid = format!("emu-{}", &hex::encode(Sha256::digest(jwk.to_string().as_bytes()))[..16]);
        if let Some(o) = jwk.as_object_mut() {
            o.insert("kid".into(), json!(kid));
            o.insert("use".into(), json!("sig"));
        }
        Ok(SigningKey { kid, key, jwk })
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// An authorization code, until it is redeemed.
struct Grant {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
    person: usize,
    expires: SystemTime,
}

/// The provider's state: codes not yet redeemed.
#[derive(Default)]
pub struct Entra {
    codes: Mutex<HashMap<String, Grant>>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs()
}

/// `https://127.0.0.1:PORT/{tenant}/v2.0`.
pub fn issuer(shared: &Shared) -> String {
    let login = shared.login.get().map(|l| l.url.clone()).unwrap_or_default();
    format!("{login}/{}/v2.0", shared.world().tenant_id)
}

/// A JWT signed with this process's emulated Entra ID key: what its
/// tokens are made with, open to in-process tests of token validation
/// (expired, wrong audience, wrong issuer).
pub fn sign(claims: &Value) -> Result<String, String> {
    let k = signing_key()?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(k.kid.clone());
    jsonwebtoken::encode(&header, claims, &k.key).map_err(|e| format!("cannot sign: {e}"))
}

/// An access token for the console's API, for an application.
pub fn app_access_token(shared: &Shared, app: &DemoApp) -> Result<String, String> {
    let t = now();
    let tenant = shared.world().tenant_id.clone();
    let oid = format!("{:x}", Sha256::digest(app.client_id.as_bytes()));
    sign(&json!({
        "iss": issuer(shared), "aud": api_audience(), "sub": &oid[..32], "oid": &oid[..32], "tid": tenant, "azp": app.client_id,
        "app_displayname": app.name, "roles": app.roles, "iat": t, "nbf": t, "exp": t + TOKEN_LIFETIME.as_secs(), "ver": "2.0",
    }))
}

/// Whether a client assertion is a federated token the console's app
/// registration accepts: signed by this emulator's key, from its issuer,
/// for [`FEDERATED_SUBJECT`] and [`FEDERATED_AUDIENCE`], unexpired.
pub fn federated_assertion_ok(shared: &Shared, assertion: &str) -> bool {
    let Ok(k) = signing_key() else { return false };
    let Ok(jwk) = serde_json::from_value::<Jwk>(k.jwk.clone()) else { return false };
    let Ok(key) = jsonwebtoken::DecodingKey::from_jwk(&jwk) else { return false };
    let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
    v.set_issuer(&[issuer(shared)]);
    v.set_audience(&[FEDERATED_AUDIENCE]);
    v.sub = Some(FEDERATED_SUBJECT.to_string());
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(assertion, &key, &v).is_ok()
}

/// The discovery document.
async fn discovery(State(shared): State<Arc<Shared>>, Path(tenant): Path<String>) -> Response {
    let tid = shared.world().tenant_id.clone();
    if !tenant.eq_ignore_ascii_case(&tid) {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found."}))).into_response();
    }
    let login = shared.login.get().map(|l| l.url.clone()).unwrap_or_default();
    Json(json!({
        "issuer": issuer(&shared),
        "authorization_endpoint": format!("{}/{tid}/oauth2/v2.0/authorize", shared.base_url),
        "token_endpoint": format!("{login}/{tid}/oauth2/v2.0/token"),
        "jwks_uri": format!("{login}/{tid}/discovery/v2.0/keys"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "name", "preferred_username", "oid", "tid", "roles"],
        "tenant_region_scope": "EU",
    }))
    .into_response()
}

async fn keys() -> Response {
    match signing_key() {
        Ok(k) => Json(json!({ "keys": [k.jwk] })).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

/// The TLS listener's OpenID routes (the token endpoint is in `login`).
pub fn login_routes() -> Router<Arc<Shared>> {
    Router::new().route("/{tenant}/v2.0/.well-known/openid-configuration", get(discovery)).route("/{tenant}/discovery/v2.0/keys", get(keys))
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct AuthorizeParams {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    /// The person chosen on the page (POST only).
    person: Option<usize>,
}

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn error_page(status: StatusCode, message: &str) -> Response {
    (status, Html(format!("<!doctype html><title>Sign-in error</title><h1>Sign-in error</h1><p>{}</p>", escape(message)))).into_response()
}

/// A redirect URI the emulated tenant accepts: http(s) on a loopback host.
fn loopback_redirect(uri: &str) -> bool {
    let Ok(u) = url::Url::parse(uri) else { return false };
    let host_ok = match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    matches!(u.scheme(), "http" | "https") && u.username().is_empty() && u.password().is_none() && u.fragment().is_none() && host_ok
}

/// Checks what both the page and the choice need. `Err` is a page (for a
/// wrong client or redirect URI, which must not be redirected to) or a
/// redirect carrying the error.
#[allow(clippy::result_large_err)] // the refusal is the response itself
fn check(tenant: &str, shared: &Shared, p: &AuthorizeParams) -> Result<String, Response> {
    if !tenant.eq_ignore_ascii_case(&shared.world().tenant_id) {
        return Err(error_page(StatusCode::BAD_REQUEST, "AADSTS90002: Tenant not found."));
    }
    if p.client_id.as_deref() != Some(CONSOLE_CLIENT_ID) {
        return Err(error_page(StatusCode::BAD_REQUEST, "AADSTS700016: Application not found in the directory."));
    }
    let redirect = p.redirect_uri.clone().unwrap_or_default();
    if !loopback_redirect(&redirect) {
        return Err(error_page(StatusCode::BAD_REQUEST, "AADSTS50011: The redirect URI does not match the redirect URIs configured for the application."));
    }
    let fail = |error: &str, description: &str| {
        let mut pairs = vec![("error", error), ("error_description", description)];
        if let Some(s) = &p.state {
            pairs.push(("state", s));
        }
        Err(Redirect::to(&url_with(&redirect, &pairs)).into_response())
    };
    if p.response_type.as_deref() != Some("code") {
        return fail("unsupported_response_type", "AADSTS700054: response_type 'code' is the only one enabled.");
    }
    if !p.scope.as_deref().unwrap_or("").split_whitespace().any(|s| s == "openid") {
        return fail("invalid_request", "AADSTS900144: The request must include the 'openid' scope.");
    }
    if p.code_challenge.as_deref().is_none_or(|c| c.len() < 43 || c.len() > 128) || p.code_challenge_method.as_deref() != Some("S256") {
        return fail("invalid_request", "AADSTS9002325: Proof Key for Code Exchange (S256) is required.");
    }
    Ok(redirect)
}

/// `base` with query pairs added (form-encoded by `url`).
fn url_with(base: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(base) {
        Ok(mut u) => {
            u.query_pairs_mut().extend_pairs(pairs);
            u.to_string()
        }
        // Checked by `loopback_redirect` before any use; never reached.
        Err(_) => base.to_string(),
    }
}

/// The sign-in page: the demo tenant's people.
async fn authorize_page(State(shared): State<Arc<Shared>>, Path(tenant): Path<String>, Query(p): Query<AuthorizeParams>) -> Response {
    if let Err(r) = check(&tenant, &shared, &p) {
        return r;
    }
    let hidden =
        |name: &str, v: &Option<String>| v.as_ref().map(|v| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(v))).unwrap_or_default();
    let fields = [
        hidden("client_id", &p.client_id),
        hidden("redirect_uri", &p.redirect_uri),
        hidden("response_type", &p.response_type),
        hidden("scope", &p.scope),
        hidden("state", &p.state),
        hidden("nonce", &p.nonce),
        hidden("code_challenge", &p.code_challenge),
        hidden("code_challenge_method", &p.code_challenge_method),
    ]
    .concat();
    let people: String = PEOPLE
        .iter()
        .enumerate()
        .map(|(i, person)| {
            let roles = if person.roles.is_empty() { "no Regatlas role".to_string() } else { person.roles.join(", ") };
            format!(
                "<li><form method=\"post\">{fields}<button type=\"submit\" name=\"person\" value=\"{i}\" data-username=\"{u}\">\
                 <strong>{n}</strong> <span>{u}</span> <em>{r}</em></button></form></li>",
                n = escape(person.name),
                u = escape(person.username),
                r = escape(&roles)
            )
        })
        .collect();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in · Emulated Entra ID</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}}ul{{list-style:none;padding:0}}\
         button{{width:100%;text-align:left;padding:.7rem 1rem;margin:.3rem 0;border:1px solid #bbb;border-radius:6px;background:#fff;cursor:pointer}}\
         button span,button em{{display:block;color:#555;font-size:.9em}}</style></head><body>\
         <h1>Sign in</h1><p>Emulated Entra ID (tenant {t}). Pick a person of the demo tenant; each holds the app role shown.</p>\
         <ul id=\"people\">{people}</ul></body></html>",
        t = escape(&tenant)
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

/// The choice: a code back to the console.
async fn authorize_choice(State(shared): State<Arc<Shared>>, Path(tenant): Path<String>, Form(p): Form<AuthorizeParams>) -> Response {
    let redirect = match check(&tenant, &shared, &p) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Some(person) = p.person.filter(|i| *i < PEOPLE.len()) else {
        return error_page(StatusCode::BAD_REQUEST, "Choose a person.");
    };
    let code = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let grant = Grant {
        client_id: p.client_id.clone().unwrap_or_default(),
        redirect_uri: redirect.clone(),
        code_challenge: p.code_challenge.clone().unwrap_or_default(),
        nonce: p.nonce.clone(),
        person,
        expires: SystemTime::now() + CODE_LIFETIME,
    };
    if let Ok(mut codes) = shared.entra.codes.lock() {
        let now = SystemTime::now();
        codes.retain(|_, g| g.expires > now);
        codes.insert(code.clone(), grant);
    }
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = &p.state {
        pairs.push(("state", s.as_str()));
    }
    Redirect::to(&url_with(&redirect, &pairs)).into_response()
}

/// The plain-http routes (the page people see).
pub fn browser_router(shared: Arc<Shared>) -> Router {
    Router::new().route("/{tenant}/oauth2/v2.0/authorize", get(authorize_page).post(authorize_choice)).with_state(shared)
}

/// Why a code was not redeemed: an OAuth error and its description.
pub type Refusal = (&'static str, u32, &'static str);

/// Redeems a code (once): the tokens for the chosen person.
pub fn redeem(shared: &Shared, client_id: &str, code: &str, redirect_uri: Option<&str>, verifier: Option<&str>) -> Result<Value, Refusal> {
    let grant = shared.entra.codes.lock().ok().and_then(|mut c| c.remove(code));
    let Some(g) = grant.filter(|g| g.expires > SystemTime::now()) else {
        return Err(("invalid_grant", 70008, "The provided authorization code is expired or was already used."));
    };
    if g.client_id != client_id {
        return Err(("invalid_grant", 70002, "The code was issued to another client."));
    }
    if redirect_uri != Some(g.redirect_uri.as_str()) {
        return Err(("invalid_grant", 50011, "The redirect URI does not match the one the code was issued for."));
    }
    let challenge = verifier.map(|v| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())));
    if challenge.as_deref() != Some(g.code_challenge.as_str()) {
        return Err(("invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request."));
    }
    let person = &PEOPLE[g.person];
    let t = now();
    let tenant = shared.world().tenant_id.clone();
    let sub = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&Sha256::digest(format!("{}:{client_id}", person.oid).as_bytes())[..24]);
    let mut id = json!({
        "iss": issuer(shared), "aud": client_id, "sub": sub, "oid": person.oid, "tid": tenant,
        "name": person.name, "preferred_username": person.username,
        "iat": t, "nbf": t, "exp": t + TOKEN_LIFETIME.as_secs(), "ver": "2.0",
    });
    if let Some(o) = id.as_object_mut() {
        if let Some(n) = &g.nonce {
            o.insert("nonce".into(), json!(n));
        }
        if !person.roles.is_empty() {
            o.insert("roles".into(), json!(person.roles));
        }
    }
    let id_token = sign(&id).map_err(|_| ("server_error", 90000, "The token could not be signed."))?;
    // The access token is for the user-info endpoint Entra would send it
    // to (Graph); the console does not use it.
    let access = crate::auth::Auth::opaque();
    Ok(json!({
        "token_type": "Bearer", "scope": "openid profile", "expires_in": TOKEN_LIFETIME.as_secs(),
        "access_token": access, "id_token": id_token,
    }))
}
