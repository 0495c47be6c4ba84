//! A small OCI distribution client for inventory and verification:
//! catalog and tag listing with `Link` pagination, manifest HEAD/GET, and the
//! token dance: anonymous or Basic against a registry's token realm, or the
//! ACR flow (an ARM token exchanged at `/oauth2/exchange` for a refresh
//! token, then an access token per scope).

use std::{collections::HashMap, sync::Arc, time::Duration};

use reqwest::{header, Method, StatusCode};
use tokio::sync::Mutex;

/// Every manifest type the inventory understands.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

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
}

/// How to authenticate to a registry's data plane.
#[derive(Clone)]
pub enum OciAuth {
    Anonymous,
    Basic { username: String, password: String },
    /// ACR with an Entra ID (ARM) token.
    Arm(regatlas_arm::ArmClient),
}

impl std::fmt::Debug for OciAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OciAuth::Anonymous => "Anonymous",
            OciAuth::Basic { .. } => "Basic",
            OciAuth::Arm(_) => "Arm",
        })
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
    auth: OciAuth,
    /// Bearer tokens by scope.
    tokens: Arc<Mutex<HashMap<String, String>>>,
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

impl OciClient {
    pub fn new(base: &str, auth: OciAuth) -> Result<OciClient, OciError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("regatlas/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OciError::Transport { url: base.to_string(), message: e.to_string() })?;
        Ok(OciClient { http, base: base_url(base), auth, tokens: Arc::new(Mutex::new(HashMap::new())) })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The registry host as `importImage`'s `registryUri` wants it.
    pub fn host(&self) -> &str {
        self.base.split("://").nth(1).unwrap_or(&self.base)
    }

    async fn token_for(&self, challenge: &str, scope_hint: &str) -> Result<String, OciError> {
        let p = challenge_params(challenge);
        let realm = p.get("realm").cloned().ok_or_else(|| OciError::Auth { url: self.base.clone(), message: format!("no realm in challenge {challenge:?}") })?;
        let service = p.get("service").cloned().unwrap_or_default();
        let scope = p.get("scope").cloned().unwrap_or_else(|| scope_hint.to_string());
        let key = format!("{service}|{scope}");
        if let Some(t) = self.tokens.lock().await.get(&key) {
            return Ok(t.clone());
        }
        let fail = |m: String| OciError::Auth { url: realm.clone(), message: m };
        let token = match &self.auth {
            OciAuth::Arm(arm) => {
                // ACR: exchange the ARM token for a refresh token, then an access token.
                let origin = realm.split("/oauth2/").next().unwrap_or(&realm).to_string();
                let aad = arm.access_token().await.map_err(|e| fail(e.to_string()))?;
                let ex: serde_json::Value = self
                    .http
                    .post(format!("{origin}/oauth2/exchange"))
                    .form(&[("grant_type", "access_token"), ("service", service.as_str()), ("access_token", aad.as_str())])
                    .send()
                    .await
                    .map_err(|e| fail(e.to_string()))?
                    .json()
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                let refresh = ex["refresh_token"].as_str().ok_or_else(|| fail(format!("no refresh token: {ex}")))?.to_string();
                let t: serde_json::Value = self
                    .http
                    .post(format!("{origin}/oauth2/token"))
                    .form(&[("grant_type", "refresh_token"), ("service", service.as_str()), ("scope", scope.as_str()), ("refresh_token", refresh.as_str())])
                    .send()
                    .await
                    .map_err(|e| fail(e.to_string()))?
                    .json()
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                t["access_token"].as_str().ok_or_else(|| fail(format!("no access token: {t}")))?.to_string()
            }
            OciAuth::Basic { .. } | OciAuth::Anonymous => {
                // The registry's token realm, with the user when there is one.
                let mut rb = self.http.get(&realm).query(&[("service", service.as_str()), ("scope", scope.as_str())]);
                if let OciAuth::Basic { username, password } = &self.auth {
                    rb = rb.basic_auth(username, Some(password));
                }
                let t: serde_json::Value = rb.send().await.map_err(|e| fail(e.to_string()))?.json().await.map_err(|e| fail(e.to_string()))?;
                t["token"].as_str().or(t["access_token"].as_str()).ok_or_else(|| fail(format!("no token: {t}")))?.to_string()
            }
        };
        self.tokens.lock().await.insert(key, token.clone());
        Ok(token)
    }

    /// One request, answering a Bearer challenge once.
    async fn send(&self, method: Method, path_and_query: &str, scope: &str) -> Result<reqwest::Response, OciError> {
        let url = if path_and_query.starts_with("http") { path_and_query.to_string() } else { format!("{}{path_and_query}", self.base) };
        let build = |token: Option<&str>| {
            let mut rb = self.http.request(method.clone(), &url).header(header::ACCEPT, ACCEPT);
            match (token, &self.auth) {
                (Some(t), _) => rb = rb.bearer_auth(t),
                (None, OciAuth::Basic { username, password }) => rb = rb.basic_auth(username, Some(password)),
                _ => {}
            }
            rb
        };
        let cached = { self.tokens.lock().await.iter().find(|(k, _)| k.ends_with(&format!("|{scope}"))).map(|(_, v)| v.clone()) };
        let tr = |e: reqwest::Error| OciError::Transport { url: url.clone(), message: e.to_string() };
        let r = build(cached.as_deref()).send().await.map_err(tr)?;
        if r.status() != StatusCode::UNAUTHORIZED {
            return Ok(r);
        }
        let challenge = r.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        if !challenge.to_ascii_lowercase().starts_with("bearer") {
            return Err(OciError::Auth { url, message: "401 without a Bearer challenge (wrong credentials?)".into() });
        }
        // A stale cached token: forget it and ask again.
        self.tokens.lock().await.retain(|k, _| !k.ends_with(&format!("|{scope}")));
        let token = self.token_for(&challenge, scope).await?;
        let r = build(Some(&token)).send().await.map_err(tr)?;
        if r.status() == StatusCode::UNAUTHORIZED {
            return Err(OciError::Auth { url, message: "the registry refused the token".into() });
        }
        Ok(r)
    }

    async fn paged(&self, first: String, scope: &str, field: &str) -> Result<Vec<String>, OciError> {
        let mut out = Vec::new();
        let mut next = Some(first);
        while let Some(path) = next.take() {
            let r = self.send(Method::GET, &path, scope).await?;
            let url = r.url().to_string();
            if !r.status().is_success() {
                return Err(OciError::Status { url, status: r.status().as_u16(), message: r.text().await.unwrap_or_default().chars().take(300).collect() });
            }
            next = next_link(r.headers());
            let v: serde_json::Value = r.json().await.map_err(|e| OciError::Decode { url: url.clone(), message: e.to_string() })?;
            out.extend(v[field].as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)));
        }
        Ok(out)
    }

    /// Every repository (`/v2/_catalog`, paginated).
    pub async fn catalog(&self) -> Result<Vec<String>, OciError> {
        self.paged("/v2/_catalog?n=100".into(), "registry:catalog:*", "repositories").await
    }

    /// Tags of a repository in the registry's order (`/v2/{repo}/tags/list`, paginated).
    pub async fn tags(&self, repo: &str) -> Result<Vec<String>, OciError> {
        match self.paged(format!("/v2/{repo}/tags/list?n=100"), &format!("repository:{repo}:pull"), "tags").await {
            Err(OciError::Status { status: 404, .. }) => Ok(Vec::new()),
            other => other,
        }
    }

    /// HEAD (or GET with `body`) of a manifest; `None` if it does not exist.
    pub async fn manifest(&self, repo: &str, reference: &str, body: bool) -> Result<Option<ManifestInfo>, OciError> {
        let method = if body { Method::GET } else { Method::HEAD };
        let r = self.send(method, &format!("/v2/{repo}/manifests/{reference}"), &format!("repository:{repo}:pull")).await?;
        let url = r.url().to_string();
        if r.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !r.status().is_success() {
            return Err(OciError::Status { url, status: r.status().as_u16(), message: String::new() });
        }
        let h = r.headers();
        let media_type = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let digest = h.get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = if body { Some(r.bytes().await.map_err(|e| OciError::Decode { url: url.clone(), message: e.to_string() })?) } else { None };
        let digest = match (digest, &bytes) {
            (Some(d), _) => d,
            (None, Some(b)) => {
                use sha2::Digest;
                format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
            }
            (None, None) => return Err(OciError::Decode { url, message: "no Docker-Content-Digest".into() }),
        };
        Ok(Some(ManifestInfo { digest, media_type, bytes }))
    }
}

/// One manifest from ACR's manifest listing.
#[derive(Clone, Debug, PartialEq)]
pub struct ListedManifest {
    pub digest: String,
    pub media_type: String,
    pub tags: Vec<String>,
}

impl OciClient {
    /// Every manifest of a repository, tagged or not (ACR's
    /// `/acr/v1/{repo}/_manifests`, paginated). Not an OCI API: a plain
    /// registry answers 404.
    pub async fn acr_manifests(&self, repo: &str) -> Result<Vec<ListedManifest>, OciError> {
        let mut out = Vec::new();
        let mut next = Some(format!("/acr/v1/{repo}/_manifests?n=100"));
        while let Some(path) = next.take() {
            let r = self.send(Method::GET, &path, &format!("repository:{repo}:metadata_read")).await?;
            let url = r.url().to_string();
            if !r.status().is_success() {
                return Err(OciError::Status { url, status: r.status().as_u16(), message: "no ACR manifest listing".into() });
            }
            next = next_link(r.headers());
            let v: serde_json::Value = r.json().await.map_err(|e| OciError::Decode { url: url.clone(), message: e.to_string() })?;
            for m in v["manifests"].as_array().into_iter().flatten() {
                let Some(digest) = m["digest"].as_str() else { continue };
                out.push(ListedManifest {
                    digest: digest.to_string(),
                    media_type: m["mediaType"].as_str().unwrap_or("").to_string(),
                    tags: m["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_string)).collect(),
                });
            }
        }
        Ok(out)
    }
}

/// Bytes an artifact references: config + layers of a manifest, or the sum
/// over an index's children (fetched).
pub async fn artifact_size(client: &OciClient, repo: &str, m: &ManifestInfo) -> Result<i64, OciError> {
    let Some(b) = &m.bytes else { return Ok(0) };
    let v: serde_json::Value = serde_json::from_slice(b).unwrap_or_default();
    if let Some(children) = v["manifests"].as_array() {
        let mut total = b.len() as i64;
        for c in children {
            let Some(d) = c["digest"].as_str() else { continue };
            if let Some(child) = client.manifest(repo, d, true).await? {
                total += Box::pin(artifact_size(client, repo, &child)).await?;
            }
        }
        return Ok(total);
    }
    let layers: i64 = v["layers"].as_array().into_iter().flatten().filter_map(|l| l["size"].as_i64()).sum();
    Ok(b.len() as i64 + v["config"]["size"].as_i64().unwrap_or(0) + layers)
}

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
