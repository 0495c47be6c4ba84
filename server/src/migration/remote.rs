//! `regatlas migrate … --server URL`: the same commands, driven through a
//! running console's API instead of a local database. The bearer token comes
//! from `REGATLAS_API_TOKEN` (an API token an Admin created, or an Entra
//! access token for the console's API), never from a flag; what the console
//! records as the actor is that token's identity.

use std::time::Duration;

use regatlas_app::model::{MigrationRequest, MigrationView};
use serde_json::Value;

use super::cli::CliError;

/// The variable the token is read from.
pub const TOKEN_ENV: &str = "REGATLAS_API_TOKEN";

/// Answers are our own JSON; a report of 200,000 artifacts stays well below this.
const MAX_BODY: usize = 256 * 1024 * 1024;

pub struct Remote {
    base: String,
    http: reqwest::Client,
}

impl Remote {
    pub fn new(server: &str) -> Result<Remote, CliError> {
        let url = reqwest::Url::parse(server.trim()).map_err(|e| CliError::Migration(format!("--server {server:?} is not a URL ({e})")))?;
        if url.scheme() != "https"
            && url.host_str().is_none_or(|h| h != "localhost" && !h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()))
        {
            return Err(CliError::Migration(format!("--server {server:?} must be https (plain http only on loopback): the token would travel in the clear")));
        }
        let token = std::env::var(TOKEN_ENV).ok().filter(|t| !t.trim().is_empty()).ok_or_else(|| {
            CliError::Migration(format!(
                "--server needs a bearer token in {TOKEN_ENV} (an API token from the console's API tokens page, or an Entra access token)"
            ))
        })?;
        let mut headers = reqwest::header::HeaderMap::new();
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .map_err(|_| CliError::Migration(format!("{TOKEN_ENV} holds characters a header cannot carry")))?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
        // No redirects: the token goes to the server named, nowhere else.
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| CliError::Migration(e.to_string()))?;
        Ok(Remote { base: url.as_str().trim_end_matches('/').to_string(), http })
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Result<Vec<u8>, CliError> {
        let failed = |e: reqwest::Error| CliError::Migration(format!("cannot reach {}: {e}", self.base));
        let mut r = rb.send().await.map_err(failed)?;
        let status = r.status();
        let mut body = Vec::new();
        while let Some(chunk) = r.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(CliError::Migration("the server's answer is too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let v: Value = serde_json::from_slice(&body).unwrap_or_default();
            let code = v["code"].as_str().unwrap_or("HttpError").to_string();
            let message = v["message"].as_str().map(|m| crate::outbound::clean_text(m, 500)).unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
            return Err(CliError::Migration(format!("{code}: {message}")));
        }
        Ok(body)
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, rb: reqwest::RequestBuilder) -> Result<T, CliError> {
        let body = self.send(rb).await?;
        serde_json::from_slice(&body).map_err(|e| CliError::Migration(format!("the server's answer is not what this version expects: {e}")))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn create(&self, req: &MigrationRequest) -> Result<MigrationView, CliError> {
        self.json(self.http.post(self.url("/api/v1/migrations")).json(req)).await
    }

    pub async fn view(&self, id: &str) -> Result<MigrationView, CliError> {
        let d: Value = self.detail(id).await?;
        serde_json::from_value(d["migration"].clone()).map_err(|e| CliError::Migration(e.to_string()))
    }

    pub async fn detail(&self, id: &str) -> Result<Value, CliError> {
        self.json(self.http.get(self.url(&format!("/api/v1/migrations/{id}")))).await
    }

    pub async fn start(&self, id: &str) -> Result<MigrationView, CliError> {
        self.json(self.http.post(self.url(&format!("/api/v1/migrations/{id}/start")))).await
    }

    pub async fn list(&self) -> Result<Vec<MigrationView>, CliError> {
        self.json(self.http.get(self.url("/api/v1/migrations?limit=100"))).await
    }

    pub async fn report(&self, id: &str, format: &str) -> Result<String, CliError> {
        let body = self.send(self.http.get(self.url(&format!("/api/v1/migrations/{id}/report.{format}")))).await?;
        String::from_utf8(body).map_err(|e| CliError::Migration(e.to_string()))
    }

    /// Waits until the migration leaves the engine's hands, printing progress.
    pub async fn follow(&self, id: &str) -> Result<MigrationView, CliError> {
        super::cli::follow_with(|| self.view(id), Duration::from_secs(1), "interrupted: the migration goes on on the server").await
    }
}
