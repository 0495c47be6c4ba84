//! Access tokens an identity provider issued to applications (client
//! credentials, workload identity from a CI pipeline) for the console's
//! API: RS256 signature against the issuer's JWKS (cached, fetched again
//! on an unknown `kid` at most every 30 seconds), audience, issuer (Entra's
//! v1 and v2 forms), expiry and not-before; roles from app-role assignments.

use std::time::{Duration, Instant};

use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey, Validation};
use regatlas_domain::{Actor, Identity, Principal, Role, Via};
use serde::Deserialize;
use tokio::sync::RwLock;

/// Why a bearer token was refused (said to the caller in general terms).
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    #[error("the token is not a signed JWT this console accepts: {0}")]
    Malformed(String),
    #[error("the token's key is not one of the issuer's")]
    UnknownKey,
    #[error("the token failed validation: {0}")]
    Invalid(String),
    #[error("the token grants no Regatlas app role")]
    NoRole,
    #[error("the identity provider's keys could not be fetched: {0}")]
    Keys(String),
}

/// Validates access tokens of one issuer.
pub struct Verifier {
    jwks_uri: String,
    http: reqwest::Client,
    issuers: Vec<String>,
    audiences: Vec<String>,
    keys: RwLock<(JwkSet, Option<Instant>)>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    oid: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    app_displayname: Option<String>,
    /// Only ID tokens carry one: an ID token is not an API credential.
    nonce: Option<String>,
    azp: Option<String>,
    appid: Option<String>,
    name: Option<String>,
}

const REFETCH_AFTER: Duration = Duration::from_secs(30);

impl Verifier {
    pub fn new(jwks_uri: String, http: reqwest::Client, issuers: Vec<String>, audiences: Vec<String>) -> Verifier {
        Verifier { jwks_uri, http, issuers, audiences, keys: RwLock::new((JwkSet { keys: vec![] }, None)) }
    }

    async fn fetch(&self) -> Result<(), BearerError> {
        let mut guard = self.keys.write().await;
        if guard.1.is_some_and(|t| t.elapsed() < REFETCH_AFTER) {
            return Ok(());
        }
        guard.1 = Some(Instant::now());
        let r = self.http.get(&self.jwks_uri).timeout(Duration::from_secs(10)).send().await.map_err(|e| BearerError::Keys(e.to_string()))?;
        if !r.status().is_success() {
            return Err(BearerError::Keys(format!("HTTP {}", r.status().as_u16())));
        }
        let bytes = r.bytes().await.map_err(|e| BearerError::Keys(e.to_string()))?;
        if bytes.len() > 256 * 1024 {
            return Err(BearerError::Keys("the key set is over 256 KiB".into()));
        }
        guard.0 = serde_json::from_slice(&bytes).map_err(|e| BearerError::Keys(e.to_string()))?;
        tracing::info!(keys = guard.0.keys.len(), "identity provider keys fetched");
        Ok(())
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, BearerError> {
        for attempt in 0..2 {
            if let Some(jwk) = self.keys.read().await.0.find(kid) {
                return DecodingKey::from_jwk(jwk).map_err(|e| BearerError::Malformed(e.to_string()));
            }
            if attempt == 0 {
                self.fetch().await?;
            }
        }
        Err(BearerError::UnknownKey)
    }

    /// The identity a valid token carries.
    pub async fn verify(&self, token: &str) -> Result<Identity, BearerError> {
        if token.len() > 16 * 1024 {
            return Err(BearerError::Malformed("over 16 KiB".into()));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| BearerError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(BearerError::Malformed(format!("algorithm {:?} is not RS256", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| BearerError::Malformed("no kid".into()))?;
        let key = self.key(&kid).await?;
        let mut v = Validation::new(Algorithm::RS256);
        v.set_issuer(&self.issuers);
        v.set_audience(&self.audiences);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = 60;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &v).map_err(|e| BearerError::Invalid(e.to_string()))?;
        let c = data.claims;
        if c.nonce.is_some() {
            return Err(BearerError::Invalid("an ID token is not an access token".into()));
        }
        let role = Role::highest(c.roles.iter().map(String::as_str)).ok_or(BearerError::NoRole)?;
        let name = c.app_displayname.or(c.name).or(c.azp).or(c.appid).unwrap_or_else(|| "application".into());
        Ok(Identity {
            principal: Principal {
                issuer: c.iss,
                subject: c.oid.unwrap_or(c.sub),
                name: Actor::or_anonymous(Some(&name)),
                via: Via::Application,
                token_id: None,
            },
            role,
        })
    }
}

/// The issuers an access token may name: the configured one and, for Entra
/// (`https://login.microsoftonline.com/{tenant}/v2.0`), its v1 form
/// `https://sts.windows.net/{tenant}/` (APIs whose tokens are version 1).
pub fn accepted_issuers(issuer: &str) -> Vec<String> {
    let mut out = vec![issuer.to_string()];
    if let Some(tenant) = issuer.strip_prefix("https://login.microsoftonline.com/").and_then(|r| r.strip_suffix("/v2.0")) {
        out.push(format!("https://sts.windows.net/{tenant}/"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_issuers_have_a_v1_form() {
        assert_eq!(
            accepted_issuers("https://login.microsoftonline.com/72f988bf/v2.0"),
            vec!["https://login.microsoftonline.com/72f988bf/v2.0".to_string(), "https://sts.windows.net/72f988bf/".to_string()]
        );
        assert_eq!(accepted_issuers("https://idp.example/"), vec!["https://idp.example/".to_string()]);
    }
}
