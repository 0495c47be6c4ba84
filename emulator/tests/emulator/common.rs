//! Shared helpers: an emulator on loopback and an HTTP client holding a token
//! issued by its managed-identity endpoint.

use std::time::Duration;

use regatlas_emulator::{EmulatorConfig, RunningEmulator};
use serde_json::Value;

pub const API: &str = "2025-11-01";

pub struct Emu {
    pub emu: RunningEmulator,
    pub base: String,
    pub sub: String,
    pub token: String,
    pub http: reqwest::Client,
}

pub async fn start(mut config: EmulatorConfig) -> Emu {
    if config.time_scale == 1.0 {
        config.time_scale = 50.0;
    }
    let emu = regatlas_emulator::start(config).await.expect("emulator starts");
    let info = emu.info();
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(20)).build().expect("client");
    let tok: Value = http
        .get(format!("{}?api-version=2019-08-01&resource=https://management.azure.com", info.token_endpoint))
        .header(info.token_header.as_str(), info.token_header_value.as_str())
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token json");
    Emu {
        base: info.arm_base_url.clone(),
        sub: info.subscription_id.clone(),
        token: tok["access_token"].as_str().expect("access_token").to_string(),
        http,
        emu,
    }
}

impl Emu {
    pub fn rg_path(&self, rg: &str) -> String {
        format!("/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry", self.sub)
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> reqwest::Response {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{path}{sep}api-version={API}", self.base) };
        let mut rb = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        rb.send().await.expect("request")
    }

    /// Polls an `Azure-AsyncOperation` URL to a terminal status.
    pub async fn wait_async(&self, url: &str) -> Value {
        for _ in 0..400 {
            let v: Value = self.http.get(url).bearer_auth(&self.token).send().await.expect("poll").json().await.expect("json");
            let s = v["status"].as_str().unwrap_or("");
            if s == "Succeeded" || s == "Failed" || s == "Canceled" {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("operation {url} did not finish");
    }

    /// Polls a `Location` URL until it stops answering 202; returns the final response.
    pub async fn wait_location(&self, url: &str) -> reqwest::Response {
        for _ in 0..400 {
            let r = self.http.get(url).bearer_auth(&self.token).send().await.expect("poll");
            if r.status() != 202 {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("operation {url} did not finish");
    }
}

fn sha(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// Data-plane credentials.
pub enum Cred {
    Basic(String, String),
    Bearer(String),
}

impl Cred {
    fn apply(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Cred::Basic(u, p) => rb.basic_auth(u, Some(p)),
            Cred::Bearer(t) => rb.bearer_auth(t),
        }
    }
}

/// Pushes a one-layer image through the OCI API; returns its manifest digest.
pub async fn push_image(http: &reqwest::Client, endpoint: &str, cred: &Cred, repo: &str, tag: &str) -> String {
    let layer = format!("content of {repo}:{tag}").into_bytes();
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    for blob in [&layer, &config] {
        let r =
            cred.apply(http.post(format!("http://{endpoint}/v2/{repo}/blobs/uploads/?digest={}", sha(blob)))).body(blob.clone()).send().await.expect("upload");
        assert_eq!(r.status(), 201);
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(&layer), "size": layer.len()}]
    })
    .to_string();
    let r = cred
        .apply(http.put(format!("http://{endpoint}/v2/{repo}/manifests/{tag}")))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .expect("put manifest");
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["docker-content-digest"].to_str().expect("h"), sha(manifest.as_bytes()));
    sha(manifest.as_bytes())
}
