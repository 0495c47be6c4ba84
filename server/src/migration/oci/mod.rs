//! A small OCI distribution client for inventory and verification:
//! catalog and tag listing with `Link` pagination, manifest HEAD/GET, and the
//! token dance: anonymous or Basic against a registry's token realm, or the
//! ACR flow (an ARM token exchanged at `/oauth2/exchange` for a refresh
//! token, then an access token per scope).
//!
//! Everything a registry sends is untrusted: bodies are read up to a limit,
//! `Link` pages and redirects stay on the registry's own origin, every
//! address goes through the [outbound policy](crate::outbound), credentials
//! go only to the hosts their set is bound to, and text that ends up in an
//! error is cleaned and cut short.

pub mod budget;
mod listing;

pub use listing::ListedManifest;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use reqwest::{header, Method, StatusCode, Url};
use tokio::sync::{watch, Mutex};

use crate::outbound::{clean_text, CredentialSet, OutboundPolicy, PolicyResolver};

/// Every manifest type the inventory understands.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Largest manifest or index body read (as containers/image does).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// Largest catalog, tag-list or manifest-list page read.
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// Most pages one listing follows.
pub const MAX_PAGES: usize = 10_000;
/// Most names one listing returns.
pub const MAX_LISTED: usize = 1_000_000;
/// Most bytes one listing reads over all its pages.
pub const MAX_LISTING_BYTES: usize = 64 * 1024 * 1024;
/// Longest name kept from a listing; a longer one is cut (and so fails the
/// grammar and becomes a finding) rather than held whole.
const MAX_NAME_CHARS: usize = 300;
/// Most manifests fetched to size one artifact (an index's tree).
pub const MAX_FETCHES_PER_ARTIFACT: usize = 2048;
/// Largest token response read.
const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Deepest index nesting followed (index → index → manifest is already rare).
pub const MAX_INDEX_DEPTH: usize = 4;
/// Most children one index may list.
pub const MAX_INDEX_CHILDREN: usize = 1024;
/// Redirects followed, each to the same origin only.
const MAX_REDIRECTS: usize = 3;
/// 429s one request answers by waiting and sending it again.
const MAX_THROTTLED: usize = 8;
/// How much of an upstream body an error quotes.
const EXCERPT: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("cannot reach {url}: {message}")]
    Transport { url: String, message: String },
    #[error("{url} answered {status}: {message}")]
    Status { url: String, status: u16, message: String },
    #[error("registry authentication failed at {url}: {message}")]
    Auth { url: String, message: String },
    #[error("unexpected response from {url}: {message}")]
    Decode { url: String, message: String },
    /// The registry sent something outside the limits or the grammar.
    #[error("refused response from {url}: {message}")]
    Refused { url: String, message: String },
    /// A fetch the outbound policy does not allow.
    #[error("not fetched: {0}")]
    Policy(#[from] crate::outbound::OutboundError),
    /// The migration was cancelled (or the server is stopping).
    #[error("cancelled")]
    Cancelled,
}

impl OciError {
    /// An error about this artifact's content (a finding), rather than about
    /// reaching the registry.
    pub fn is_content(&self) -> bool {
        matches!(self, OciError::Refused { .. } | OciError::Decode { .. })
    }
}

/// How to authenticate to a registry's data plane.
#[derive(Clone)]
pub enum OciAuth {
    Anonymous,
    /// A credential set; sent only to the hosts it is bound to.
    Basic(Arc<CredentialSet>),
    /// ACR with an Entra ID (ARM) token, exchanged only at the registry's own host.
    Arm(regatlas_arm::ArmClient),
}

impl std::fmt::Debug for OciAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OciAuth::Anonymous => f.write_str("Anonymous"),
            OciAuth::Basic(set) => write!(f, "Basic(set {})", set.name),
            OciAuth::Arm(_) => f.write_str("Arm"),
        }
    }
}

/// A manifest as HEAD/GET describe it.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestInfo {
    pub digest: String,
    pub media_type: String,
    pub bytes: Option<bytes::Bytes>,
}

#[derive(Clone, Debug)]
pub struct OciClient {
    http: reqwest::Client,
    /// `scheme://host[:port]`
    base: String,
    origin: Url,
    auth: OciAuth,
    policy: Arc<OutboundPolicy>,
    /// Bearer tokens by scope (empty: the scope needed none).
    tokens: Arc<Mutex<HashMap<String, String>>>,
    /// Held while a scope's first request finds out whether it needs a token.
    gates: Arc<std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>>,
    /// Turns true when the work this client does is no longer wanted.
    cancel: Option<watch::Receiver<bool>>,
    /// The host's read budget, when the engine paces this client.
    budget: Option<Arc<budget::HostBudget>>,
}

/// `https://` unless the host is loopback (the emulator, a local registry).
pub fn base_url(login_server_or_url: &str) -> String {
    let s = login_server_or_url.trim().trim_end_matches('/');
    if s.starts_with("http://") || s.starts_with("https://") {
        return s.to_string();
    }
    let host = s.split(':').next().unwrap_or(s);
    if host == "127.0.0.1" || host == "localhost" || host == "[::1]" {
        format!("http://{s}")
    } else {
        format!("https://{s}")
    }
}

fn next_link(headers: &header::HeaderMap) -> Option<String> {
    let v = headers.get(header::LINK)?.to_str().ok()?;
    let start = v.find('<')? + 1;
    let end = v[start..].find('>')? + start;
    v[end..].contains("rel=\"next\"").then(|| v[start..end].to_string())
}

fn challenge_params(v: &str) -> HashMap<String, String> {
    let rest = v.trim().strip_prefix("Bearer ").or_else(|| v.trim().strip_prefix("bearer ")).unwrap_or("");
    let mut out = HashMap::new();
    for part in rest.split(',') {
        if let Some((k, val)) = part.split_once('=') {
            out.insert(k.trim().to_ascii_lowercase(), val.trim().trim_matches('"').to_string());
        }
    }
    out
}

/// Scheme, host (without case) and port are the same.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

fn shown(url: &Url) -> String {
    clean_text(url.as_str(), 300)
}

/// Reads at most `limit` bytes of a body; more is an error, not a truncation.
async fn read_capped(mut r: reqwest::Response, limit: usize) -> Result<bytes::Bytes, OciError> {
    let url = shown(r.url());
    if r.content_length().is_some_and(|n| n > limit as u64) {
        return Err(OciError::Refused { url, message: format!("body of {} bytes is over the {limit}-byte limit", r.content_length().unwrap_or(0)) });
    }
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = r.chunk().await.map_err(|e| OciError::Transport { url: url.clone(), message: clean_text(&e.to_string(), 300) })? {
        if buf.len() + chunk.len() > limit {
            return Err(OciError::Refused { url, message: format!("body is over the {limit}-byte limit") });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// A short, cleaned excerpt of an upstream body for an error message.
async fn excerpt(r: reqwest::Response) -> String {
    match read_capped(r, 64 * 1024).await {
        Ok(b) => clean_text(&String::from_utf8_lossy(&b), EXCERPT),
        Err(_) => "(body not shown)".into(),
    }
}

impl OciClient {
    pub fn new(base: &str, auth: OciAuth, policy: Arc<OutboundPolicy>) -> Result<OciClient, OciError> {
        let base = base_url(base);
        let origin = Url::parse(&base).map_err(|e| OciError::Transport { url: clean_text(&base, 300), message: e.to_string() })?;
        if origin.host_str().is_none() || !origin.username().is_empty() || origin.password().is_some() {
            return Err(OciError::Transport { url: clean_text(&base, 300), message: "not a registry address".into() });
        }
        policy.check_url(&origin)?;
        let start = origin.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if !same_origin(attempt.url(), &start) {
                attempt.error("redirect to another origin refused")
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(redirects)
            .dns_resolver(Arc::new(PolicyResolver { policy: policy.clone() }))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("regatlas/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OciError::Transport { url: base.clone(), message: e.to_string() })?;
        Ok(OciClient { http, base, origin, auth, policy, tokens: Arc::new(Mutex::new(HashMap::new())), gates: Default::default(), cancel: None, budget: None })
    }

    /// Stops every request of this client (within the current one) once `cancel` turns true.
    pub fn with_cancel(mut self, cancel: watch::Receiver<bool>) -> OciClient {
        self.cancel = Some(cancel);
        self
    }

    /// Paces every request of this client by its host's budget (shared by
    /// every client of the host) and answers 429s with `Retry-After`.
    pub fn with_budget(mut self, budgets: &budget::Budgets) -> OciClient {
        self.budget = Some(budgets.of(self.host()));
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The registry host as `importImage`'s `registryUri` wants it.
    pub fn host(&self) -> &str {
        self.base.split("://").nth(1).unwrap_or(&self.base)
    }

    /// The registry's origin (scheme, host, port).
    pub fn origin(&self) -> &Url {
        &self.origin
    }

    fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| *c.borrow())
    }

    /// Waits for `d` unless cancelled first.
    async fn pause(&self, d: Duration) -> Result<(), OciError> {
        match self.cancel.clone() {
            None => tokio::time::sleep(d).await,
            Some(mut c) => tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = c.wait_for(|v| *v) => return Err(OciError::Cancelled),
            },
        }
        Ok(())
    }

    /// Sends a request within the host's budget: a 429 is sent again after
    /// its `Retry-After` (at most [`MAX_THROTTLED`] times, then the 429 is
    /// the answer).
    async fn go(&self, rb: reqwest::RequestBuilder, url: &Url) -> Result<reqwest::Response, OciError> {
        let mut refused = 0;
        loop {
            let Some(this) = rb.try_clone() else { return self.go_once(rb, url).await };
            if let Some(b) = &self.budget {
                match self.cancel.clone() {
                    None => b.acquire().await,
                    Some(mut c) => tokio::select! {
                        _ = b.acquire() => {}
                        _ = c.wait_for(|v| *v) => return Err(OciError::Cancelled),
                    },
                }
            }
            let r = self.go_once(this, url).await?;
            if r.status() != StatusCode::TOO_MANY_REQUESTS {
                if let Some(b) = &self.budget {
                    b.success();
                }
                return Ok(r);
            }
            let wait = r
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(Duration::from_secs(1))
                .clamp(Duration::from_millis(100), Duration::from_secs(60));
            refused += 1;
            tracing::debug!(url = %shown(url), ?wait, refused, "the registry throttled a read");
            if refused > MAX_THROTTLED {
                return Ok(r);
            }
            match &self.budget {
                Some(b) => b.throttled(wait),
                None => self.pause(wait).await?,
            }
        }
    }

    /// Sends a request unless cancelled first; a cancel during it wins.
    async fn go_once(&self, rb: reqwest::RequestBuilder, url: &Url) -> Result<reqwest::Response, OciError> {
        if self.cancelled() {
            return Err(OciError::Cancelled);
        }
        let tr = |e: reqwest::Error| {
            // A refusal by the policy's resolver is the policy's word, not a transport error.
            let mut source: Option<&dyn std::error::Error> = Some(&e);
            while let Some(s) = source {
                if let Some(p) = s.downcast_ref::<crate::outbound::OutboundError>() {
                    return OciError::Policy(p.clone());
                }
                source = s.source();
            }
            OciError::Transport { url: shown(url), message: clean_text(&e.to_string(), 300) }
        };
        match self.cancel.clone() {
            None => rb.send().await.map_err(tr),
            Some(mut c) => tokio::select! {
                r = rb.send() => r.map_err(tr),
                _ = c.wait_for(|v| *v) => Err(OciError::Cancelled),
            },
        }
    }

    async fn token_for(&self, challenge: &str, scope_hint: &str) -> Result<String, OciError> {
        let p = challenge_params(challenge);
        let base = shown(&self.origin);
        let realm_text = p.get("realm").cloned().ok_or_else(|| OciError::Auth { url: base.clone(), message: "no realm in the challenge".into() })?;
        let realm = Url::parse(&realm_text)
            .map_err(|_| OciError::Auth { url: base.clone(), message: format!("realm {} is not a URL", clean_text(&realm_text, 200)) })?;
        self.policy.check_url(&realm)?;
        let service = p.get("service").cloned().unwrap_or_default();
        let scope = p.get("scope").cloned().unwrap_or_else(|| scope_hint.to_string());
        let key = scope.clone();
        if let Some(t) = self.tokens.lock().await.get(&key).filter(|t| !t.is_empty()) {
            return Ok(t.clone());
        }
        let fail = |m: String| OciError::Auth { url: shown(&realm), message: m };
        let token = match &self.auth {
            OciAuth::Arm(arm) => {
                // ACR: exchange the ARM token for a refresh token, then an
                // access token, at the registry's own origin only.
                if !same_origin(&realm, &self.origin) {
                    return Err(fail(format!("the token realm is not on {base}; an Entra ID token is never sent elsewhere")));
                }
                let origin = self.base.clone();
                let aad = arm.access_token().await.map_err(|e| fail(clean_text(&e.to_string(), 300)))?;
                let ex_url = Url::parse(&format!("{origin}/oauth2/exchange")).map_err(|e| fail(e.to_string()))?;
                let r = self
                    .go(
                        self.http.post(ex_url.clone()).form(&[("grant_type", "access_token"), ("service", service.as_str()), ("access_token", aad.as_str())]),
                        &ex_url,
                    )
                    .await?;
                let ex = self.token_json(r).await?;
                let refresh = ex["refresh_token"].as_str().ok_or_else(|| fail("no refresh token in the exchange's answer".into()))?.to_string();
                let tok_url = Url::parse(&format!("{origin}/oauth2/token")).map_err(|e| fail(e.to_string()))?;
                let r = self
                    .go(
                        self.http.post(tok_url.clone()).form(&[
                            ("grant_type", "refresh_token"),
                            ("service", service.as_str()),
                            ("scope", scope.as_str()),
                            ("refresh_token", refresh.as_str()),
                        ]),
                        &tok_url,
                    )
                    .await?;
                let t = self.token_json(r).await?;
                t["access_token"].as_str().ok_or_else(|| fail("no access token in the answer".into()))?.to_string()
            }
            OciAuth::Basic(_) | OciAuth::Anonymous => {
                // The registry's token realm, with the user only where the set is bound.
                let mut rb = self.http.get(realm.clone()).query(&[("service", service.as_str()), ("scope", scope.as_str())]);
                if let OciAuth::Basic(set) = &self.auth {
                    if !set.bound_to(&realm) {
                        return Err(fail(format!(
                            "credential set '{}' is not bound to the token realm's host; add it to the set's hosts if it is the registry's",
                            set.name
                        )));
                    }
                    rb = rb.basic_auth(&set.username, Some(set.password.expose()));
                }
                let r = self.go(rb, &realm).await?;
                let t = self.token_json(r).await?;
                t["token"].as_str().or(t["access_token"].as_str()).ok_or_else(|| fail("no token in the answer".into()))?.to_string()
            }
        };
        if token.len() > 16 * 1024 {
            return Err(fail("the token is implausibly long".into()));
        }
        self.tokens.lock().await.insert(key, token.clone());
        Ok(token)
    }

    async fn token_json(&self, r: reqwest::Response) -> Result<serde_json::Value, OciError> {
        let url = shown(r.url());
        if !r.status().is_success() {
            let status = r.status().as_u16();
            return Err(OciError::Auth { url, message: format!("answered {status}: {}", excerpt(r).await) });
        }
        let b = read_capped(r, MAX_TOKEN_BYTES).await?;
        serde_json::from_slice(&b).map_err(|e| OciError::Auth { url, message: format!("not JSON ({e})") })
    }

    /// Resolves a path or a `Link` target against the registry; anything on
    /// another origin is refused.
    fn resolve(&self, path_or_url: &str) -> Result<Url, OciError> {
        let url = self.origin.join(path_or_url).map_err(|e| OciError::Refused { url: clean_text(path_or_url, 300), message: e.to_string() })?;
        if !same_origin(&url, &self.origin) {
            return Err(OciError::Refused { url: shown(&url), message: format!("a link to another origin than {} is not followed", shown(&self.origin)) });
        }
        Ok(url)
    }

    /// One request, answering a Bearer challenge once.
    async fn send(&self, method: Method, path_and_query: &str, scope: &str) -> Result<reqwest::Response, OciError> {
        let url = self.resolve(path_and_query)?;
        self.policy.check_url(&url)?;
        let build = |token: Option<&str>| {
            let mut rb = self.http.request(method.clone(), url.clone()).header(header::ACCEPT, ACCEPT);
            match (token, &self.auth) {
                (Some(t), _) => rb = rb.bearer_auth(t),
                (None, OciAuth::Basic(set)) if set.bound_to(&url) => rb = rb.basic_auth(&set.username, Some(set.password.expose())),
                _ => {}
            }
            rb
        };
        // Single flight per scope: while one request finds out what a scope
        // needs (and fetches its token), the others for it wait, then use it.
        let tokens = self.tokens.clone();
        let known = || {
            let (tokens, scope) = (tokens.clone(), scope.to_string());
            async move { tokens.lock().await.get(&scope).cloned() }
        };
        let mut cached = known().await;
        let _gate = match cached {
            Some(_) => None,
            None => {
                let gate = {
                    let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
                    gates.entry(scope.to_string()).or_default().clone()
                };
                let g = gate.lock_owned().await;
                cached = known().await;
                Some(g)
            }
        };
        // An empty token: the scope needed none last time.
        let r = self.go(build(cached.as_deref().filter(|t| !t.is_empty())), &url).await?;
        if r.status() != StatusCode::UNAUTHORIZED {
            if cached.is_none() {
                self.tokens.lock().await.insert(scope.to_string(), String::new());
            }
            return Ok(r);
        }
        let challenge = r.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("").chars().take(2048).collect::<String>();
        if !challenge.to_ascii_lowercase().starts_with("bearer") {
            return Err(OciError::Auth { url: shown(&url), message: "401 without a Bearer challenge (wrong credentials?)".into() });
        }
        // A stale cached token: forget it and ask again.
        self.tokens.lock().await.remove(scope);
        let token = self.token_for(&challenge, scope).await?;
        let r = self.go(build(Some(&token)), &url).await?;
        if r.status() == StatusCode::UNAUTHORIZED {
            return Err(OciError::Auth { url: shown(&url), message: "the registry refused the token".into() });
        }
        Ok(r)
    }

    /// HEAD (or GET with `body`) of a manifest; `None` if it does not exist.
    pub async fn manifest(&self, repo: &str, reference: &str, body: bool) -> Result<Option<ManifestInfo>, OciError> {
        let method = if body { Method::GET } else { Method::HEAD };
        let r = self.send(method, &format!("/v2/{repo}/manifests/{reference}"), &format!("repository:{repo}:pull")).await?;
        let url = shown(r.url());
        if r.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !r.status().is_success() {
            let status = r.status().as_u16();
            return Err(OciError::Status { url, status, message: if body { excerpt(r).await } else { String::new() } });
        }
        let h = r.headers();
        let media_type = clean_text(h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or(""), 255);
        let digest = h.get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = if body { Some(read_capped(r, MAX_MANIFEST_BYTES).await?) } else { None };
        let computed = bytes.as_ref().map(|b| {
            use sha2::Digest;
            format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
        });
        let digest = match (digest, computed) {
            (Some(d), Some(c)) if d.starts_with("sha256:") && d != c => {
                return Err(OciError::Refused { url, message: format!("the body's digest is {c}, not the {} the registry named", clean_text(&d, 80)) })
            }
            (Some(d), _) => d,
            (None, Some(c)) => c,
            (None, None) => return Err(OciError::Decode { url, message: "no Docker-Content-Digest".into() }),
        };
        if regatlas_domain::Digest::parse(digest.as_str()).is_err() {
            return Err(OciError::Refused { url, message: format!("'{}' is not a digest", clean_text(&digest, 80)) });
        }
        Ok(Some(ManifestInfo { digest, media_type, bytes }))
    }
}

/// A name from a listing, cut to [`MAX_NAME_CHARS`] (a cut name ends in
/// `…`, which no grammar allows, so it surfaces as a finding).
fn cut_name(s: &str) -> String {
    if s.len() <= MAX_NAME_CHARS {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX_NAME_CHARS).collect();
        out.push('…');
        out
    }
}

pub use regatlas_domain::name::short_digest as short;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_and_challenges_parse() {
        let mut h = header::HeaderMap::new();
        h.insert(header::LINK, header::HeaderValue::from_static("</v2/_catalog?last=b&n=100>; rel=\"next\""));
        assert_eq!(next_link(&h).as_deref(), Some("/v2/_catalog?last=b&n=100"));
        let p = challenge_params("Bearer realm=\"http://x/oauth2/token\",service=\"reg\",scope=\"repository:a:pull\"");
        assert_eq!(p["realm"], "http://x/oauth2/token");
        assert_eq!(p["scope"], "repository:a:pull");
        assert_eq!(base_url("127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(base_url("contoso.azurecr.io"), "https://contoso.azurecr.io");
    }
}
