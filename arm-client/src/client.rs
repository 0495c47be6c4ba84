//! The HTTP side of the ARM client: tokens, retries, paging, quota counters.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use azure_core::credentials::TokenCredential;
use reqwest::{header::HeaderMap, Method, StatusCode};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;

use crate::ArmError;

/// How failed requests are retried.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in total (1 = no retry).
    pub max_attempts: u32,
    /// First backoff; doubles per attempt, with full jitter.
    pub base_delay: Duration,
    /// Ceiling for one backoff (and for a `Retry-After` ARM asks for).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 6, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(60) }
    }
}

/// Where ARM is and how to talk to it.
#[derive(Clone, Debug)]
pub struct ArmClientConfig {
    /// ARM base URL, e.g. `https://management.azure.com` (or the emulator's).
    pub endpoint: String,
    /// Token scope; `{endpoint}/.default` for public ARM.
    pub scope: String,
    pub retry: RetryPolicy,
    /// Per-request timeout.
    pub timeout: Duration,
    /// A CA certificate (PEM) to trust besides the system's: an emulator
    /// serving ARM over https with its own CA (`regatlas emulator --tls`).
    pub extra_root_pem: Option<String>,
}

impl ArmClientConfig {
    pub fn new(endpoint: &str) -> ArmClientConfig {
        ArmClientConfig {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            scope: "https://management.azure.com/.default".to_string(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            extra_root_pem: None,
        }
    }
}

/// What the client has seen of one subscription's ARM quota.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionStats {
    pub requests: u64,
    pub reads: u64,
    pub writes: u64,
    /// Responses that were 429.
    pub throttled: u64,
    /// Requests sent again after a transient failure.
    pub retries: u64,
    /// `x-ms-ratelimit-remaining-subscription-reads` (and -writes, -deletes) last seen.
    pub remaining_reads: Option<u64>,
    pub remaining_writes: Option<u64>,
    pub remaining_deletes: Option<u64>,
}

/// A raw ARM response.
#[derive(Debug)]
pub struct ArmResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub url: String,
}

impl ArmResponse {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ArmError> {
        serde_json::from_slice(&self.body).map_err(|e| ArmError::Decode { url: self.url.clone(), message: e.to_string() })
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// `Retry-After` in seconds (ARM sends seconds).
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// An ARM client. Cheap to clone.
#[derive(Clone)]
pub struct ArmClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    credential: Arc<dyn TokenCredential>,
    config: ArmClientConfig,
    stats: Mutex<BTreeMap<String, SubscriptionStats>>,
    requests: AtomicU64,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient").field("endpoint", &self.inner.config.endpoint).finish_non_exhaustive()
    }
}

fn subscription_of(url: &str) -> String {
    crate::models::id_segment(url.split('?').next().unwrap_or(url), "subscriptions").unwrap_or("-").to_ascii_lowercase()
}

impl ArmClient {
    pub fn new(config: ArmClientConfig, credential: Arc<dyn TokenCredential>) -> Result<ArmClient, ArmError> {
        let mut builder = reqwest::Client::builder().timeout(config.timeout).no_proxy().user_agent(concat!("regatlas/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.extra_root_pem {
            let ca = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| ArmError::Config(format!("the CA certificate is not PEM: {e}")))?;
            builder = builder.add_root_certificate(ca);
        }
        let http = builder.build().map_err(|e| ArmError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(ArmClient { inner: Arc::new(Inner { http, credential, config, stats: Mutex::new(BTreeMap::new()), requests: AtomicU64::new(0) }) })
    }

    pub fn endpoint(&self) -> &str {
        &self.inner.config.endpoint
    }

    /// Absolute URL for an ARM path with `api-version`.
    pub fn url(&self, path: &str, api_version: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{}{path}{sep}api-version={api_version}", self.inner.config.endpoint)
    }

    /// Requests sent so far (every attempt counts).
    pub fn request_count(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Quota and throttling seen per subscription.
    pub fn stats(&self) -> BTreeMap<String, SubscriptionStats> {
        self.inner.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn record(&self, url: &str, method: &Method, status: Option<StatusCode>, headers: Option<&HeaderMap>, retry: bool) {
        let sub = subscription_of(url);
        let Ok(mut all) = self.inner.stats.lock() else { return };
        let s = all.entry(sub).or_default();
        s.requests += 1;
        if method == Method::GET || method == Method::HEAD {
            s.reads += 1;
        } else {
            s.writes += 1;
        }
        if status == Some(StatusCode::TOO_MANY_REQUESTS) {
            s.throttled += 1;
        }
        if retry {
            s.retries += 1;
        }
        if let Some(h) = headers {
            let num = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
            if let Some(v) = num("x-ms-ratelimit-remaining-subscription-reads") {
                s.remaining_reads = Some(v);
            }
            if let Some(v) = num("x-ms-ratelimit-remaining-subscription-writes") {
                s.remaining_writes = Some(v);
            }
            if let Some(v) = num("x-ms-ratelimit-remaining-subscription-deletes") {
                s.remaining_deletes = Some(v);
            }
        }
    }

    /// An ARM access token from the configured credential (for the ACR
    /// data plane's token exchange).
    pub async fn access_token(&self) -> Result<String, ArmError> {
        self.token().await
    }

    /// The retry policy in use.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.config.retry
    }

    /// The same credential and endpoint with another retry policy.
    pub fn with_retry(&self, retry: RetryPolicy) -> Result<ArmClient, ArmError> {
        let mut config = self.inner.config.clone();
        config.retry = retry;
        ArmClient::new(config, self.inner.credential.clone())
    }

    async fn token(&self) -> Result<String, ArmError> {
        let t = self.inner.credential.get_token(&[self.inner.config.scope.as_str()], None).await.map_err(|e| ArmError::Credential(e.to_string()))?;
        Ok(t.token.secret().to_string())
    }

    fn backoff(&self, attempt: u32, asked: Option<Duration>) -> Duration {
        let p = &self.inner.config.retry;
        let exp = p.base_delay.saturating_mul(1u32 << attempt.min(16)).min(p.max_delay);
        // Full jitter over the exponential step, but never sooner than ARM asked.
        let jittered = exp.mul_f64(rand::random::<f64>());
        match asked {
            Some(a) => a.min(p.max_delay).max(jittered),
            None => jittered.max(Duration::from_millis(10)),
        }
    }

    /// Sends one ARM request with retries. `url` is absolute. An error
    /// status becomes [`ArmError::Api`] with ARM's code and message.
    ///
    /// Retried: 429, 5xx and transport errors for idempotent methods (GET,
    /// HEAD, PUT, PATCH, DELETE: ARM's PUT/PATCH/DELETE are idempotent); for
    /// POST only a 429 (ARM throttled it before processing) or a connection
    /// that was never established.
    pub async fn send(&self, method: Method, url: &str, body: Option<&Value>) -> Result<ArmResponse, ArmError> {
        let idempotent = method != Method::POST;
        let policy = self.inner.config.retry.clone();
        let mut attempt = 0u32;
        loop {
            let token = self.token().await?;
            let mut rb = self.inner.http.request(method.clone(), url).bearer_auth(token);
            if let Some(b) = body {
                rb = rb.json(b);
            }
            self.inner.requests.fetch_add(1, Ordering::Relaxed);
            let result = rb.send().await;
            let last = attempt + 1 >= policy.max_attempts;
            match result {
                Err(e) => {
                    let connect = e.is_connect();
                    self.record(url, &method, None, None, attempt > 0);
                    let err = ArmError::Transport { url: url.to_string(), message: e.to_string() };
                    if last || !(idempotent || connect) {
                        return Err(err);
                    }
                    let wait = self.backoff(attempt, None);
                    tracing::warn!(%url, %method, attempt, error = %err, wait_ms = wait.as_millis() as u64, "ARM transport error, retrying");
                    tokio::time::sleep(wait).await;
                }
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    self.record(url, &method, Some(status), Some(&headers), attempt > 0);
                    let transient = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    let retryable = transient && (idempotent || status == StatusCode::TOO_MANY_REQUESTS);
                    if retryable && !last {
                        let wait = self.backoff(attempt, retry_after(&headers));
                        tracing::warn!(%url, %method, %status, attempt, wait_ms = wait.as_millis() as u64, "ARM transient error, retrying");
                        tokio::time::sleep(wait).await;
                    } else {
                        let body = resp.bytes().await.map_err(|e| ArmError::Transport { url: url.to_string(), message: e.to_string() })?.to_vec();
                        let r = ArmResponse { status, headers, body, url: url.to_string() };
                        if status.is_client_error() || status.is_server_error() {
                            return Err(api_error(&r));
                        }
                        return Ok(r);
                    }
                }
            }
            attempt += 1;
        }
    }

    /// GET a resource as `T`.
    pub async fn get<T: DeserializeOwned>(&self, url: &str) -> Result<T, ArmError> {
        self.send(Method::GET, url, None).await?.json()
    }

    /// GET a list, following `nextLink` to the end.
    pub async fn list<T: DeserializeOwned>(&self, url: &str) -> Result<Vec<T>, ArmError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            #[serde(default)]
            value: Vec<Value>,
            #[serde(default)]
            next_link: Option<String>,
        }
        let mut out = Vec::new();
        let mut next = Some(url.to_string());
        let mut pages = 0;
        while let Some(u) = next.take() {
            let resp = self.send(Method::GET, &u, None).await?;
            let page: Page = resp.json()?;
            for v in page.value {
                out.push(serde_json::from_value(v).map_err(|e| ArmError::Decode { url: u.clone(), message: e.to_string() })?);
            }
            pages += 1;
            if pages > 10_000 {
                return Err(ArmError::Decode { url: u, message: "more than 10000 pages: nextLink loops".into() });
            }
            next = page.next_link.filter(|l| !l.is_empty());
        }
        Ok(out)
    }
}

/// ARM's error document, or the status line when the body is not one.
pub fn api_error(r: &ArmResponse) -> ArmError {
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let e = if v["error"].is_object() { &v["error"] } else { &v };
    ArmError::Api {
        retry_after_ms: r.retry_after().map(|d| d.as_millis() as u64),
        status: r.status.as_u16(),
        code: e["code"].as_str().unwrap_or(r.status.canonical_reason().unwrap_or("Error")).to_string(),
        message: e["message"].as_str().map(str::to_string).unwrap_or_else(|| String::from_utf8_lossy(&r.body).chars().take(500).collect()),
    }
}
