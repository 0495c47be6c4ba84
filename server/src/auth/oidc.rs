//! Browser sign-in: OpenID Connect's authorization code flow with PKCE,
//! `state` and `nonce`, through the `openidconnect` crate, against one
//! configured issuer (Entra ID's tenant issuer, the emulator's, or any
//! standard provider). The ID token is verified by the crate (signature
//! against the discovered keys, issuer, audience, expiry, nonce); the
//! person's roles come from its `roles` claim (Entra app roles), or from
//! its `groups` claim through the configured group mapping.

use std::time::{Duration, Instant};

use base64::Engine as _;
use openidconnect::{
    core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata},
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};
use regatlas_domain::{Actor, Identity, Principal, Role, Via};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::outbound::Secret;

/// How the console proves itself to the provider's token endpoint.
#[derive(Clone, Debug)]
pub enum ClientAuth {
    /// A client secret (`REGATLAS_OIDC_CLIENT_SECRET`).
    Secret(Secret),
    /// A federated credential: the workload-identity token in this file
    /// (AKS projects it and names it in `AZURE_FEDERATED_TOKEN_FILE`), sent
    /// as a client assertion.
    FederatedTokenFile(std::path::PathBuf),
}

/// The provider's settings.
#[derive(Clone, Debug)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub auth: ClientAuth,
    /// Group object id → role, for tenants that assign groups instead of app roles.
    pub group_roles: Vec<(String, Role)>,
    /// Audiences accepted on API access tokens [default: `api://{client_id}` and the client id].
    pub api_audiences: Vec<String>,
    /// A CA certificate (PEM) to trust for the provider besides the system's
    /// (the emulator's own certificate).
    pub ca_pem: Option<String>,
}

/// Why a sign-in did not complete.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the identity provider could not be reached or answered wrongly: {0}")]
    Provider(String),
    #[error("the answer from the identity provider failed a check: {0}")]
    Check(String),
    #[error("{} holds no Regatlas role", principal.name)]
    NoRole { principal: Principal },
}

/// What the console keeps in the session between sending someone to the
/// provider and their return.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    /// The page to return to (a local path).
    pub next: String,
}

/// The configured provider and its discovered metadata.
pub struct Provider {
    settings: OidcSettings,
    redirect: RedirectUrl,
    http: reqwest::Client,
    metadata: RwLock<(CoreProviderMetadata, Instant)>,
}

/// Discovered metadata is fetched again after this long (key rotation).
const REDISCOVER_AFTER: Duration = Duration::from_secs(600);

/// The HTTP client for the provider: no redirects (the crate's advice),
/// bounded time, the extra CA when configured.
pub fn http_client(ca_pem: Option<&str>) -> Result<reqwest::Client, SignInError> {
    let mut b = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(15)).no_proxy();
    if let Some(pem) = ca_pem {
        let cert = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| SignInError::Provider(format!("bad CA certificate: {e}")))?;
        b = b.add_root_certificate(cert);
    }
    b.build().map_err(|e| SignInError::Provider(e.to_string()))
}

async fn discover(issuer: &str, http: &reqwest::Client) -> Result<CoreProviderMetadata, SignInError> {
    let url = IssuerUrl::new(issuer.to_string()).map_err(|e| SignInError::Provider(format!("issuer {issuer:?}: {e}")))?;
    CoreProviderMetadata::discover_async(url, http).await.map_err(|e| SignInError::Provider(format!("discovery at {issuer}: {}", error_chain(&e))))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    crate::outbound::clean_text(&s, 300)
}

impl Provider {
    /// Discovers the provider (its metadata and keys).
    pub async fn discover(settings: OidcSettings, redirect: String) -> Result<Provider, SignInError> {
        let http = http_client(settings.ca_pem.as_deref())?;
        let metadata = discover(&settings.issuer, &http).await?;
        let redirect = RedirectUrl::new(redirect).map_err(|e| SignInError::Provider(e.to_string()))?;
        tracing::info!(issuer = %settings.issuer, "identity provider discovered");
        Ok(Provider { settings, redirect, http, metadata: RwLock::new((metadata, Instant::now())) })
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Where the provider's keys are.
    pub async fn jwks_uri(&self) -> String {
        self.metadata.read().await.0.jwks_uri().url().to_string()
    }

    async fn metadata(&self) -> CoreProviderMetadata {
        {
            let m = self.metadata.read().await;
            if m.1.elapsed() < REDISCOVER_AFTER {
                return m.0.clone();
            }
        }
        match discover(&self.settings.issuer, &self.http).await {
            Ok(fresh) => {
                *self.metadata.write().await = (fresh.clone(), Instant::now());
                fresh
            }
            Err(e) => {
                tracing::warn!(error = %e, "identity provider rediscovery failed; using what was discovered before");
                self.metadata.read().await.0.clone()
            }
        }
    }

    fn secret(&self) -> Option<ClientSecret> {
        match &self.settings.auth {
            ClientAuth::Secret(s) => Some(ClientSecret::new(s.expose().to_string())),
            ClientAuth::FederatedTokenFile(_) => None,
        }
    }

    /// The provider's authorize URL and what to keep until the person returns.
    pub async fn start(&self, next: String) -> (String, Pending) {
        let client = CoreClient::from_provider_metadata(self.metadata().await, ClientId::new(self.settings.client_id.clone()), self.secret())
            .set_redirect_uri(self.redirect.clone());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        (url.to_string(), Pending { state: state.secret().clone(), nonce: nonce.secret().clone(), verifier: verifier.secret().clone(), next })
    }

    /// Redeems the code and checks the ID token: who signed in, with which role.
    pub async fn finish(&self, pending: Pending, code: &str, state: &str) -> Result<Identity, SignInError> {
        if !crate::auth::same_secret(state.as_bytes(), pending.state.as_bytes()) {
            return Err(SignInError::Check("the state does not match the sign-in this browser started".into()));
        }
        let metadata = self.metadata().await;
        let client =
            CoreClient::from_provider_metadata(metadata, ClientId::new(self.settings.client_id.clone()), self.secret()).set_redirect_uri(self.redirect.clone());
        let mut request = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| SignInError::Provider(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier));
        if let ClientAuth::FederatedTokenFile(path) = &self.settings.auth {
            let assertion = std::fs::read_to_string(path).map_err(|e| SignInError::Provider(format!("cannot read the federated token file: {e}")))?;
            request = request
                .add_extra_param("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                .add_extra_param("client_assertion", assertion.trim().to_string());
        }
        let token = request.request_async(&self.http).await.map_err(|e| SignInError::Provider(format!("token endpoint: {}", error_chain(&e))))?;
        use openidconnect::TokenResponse as _;
        let id_token = token.id_token().ok_or_else(|| SignInError::Check("the provider sent no ID token".into()))?;
        let verifier = client.id_token_verifier();
        let claims = id_token.claims(&verifier, &Nonce::new(pending.nonce)).map_err(|e| SignInError::Check(error_chain(&e)))?;
        // Verified above; its payload is read again for the claims the
        // standard set has no place for (roles, groups, oid).
        let extra = payload(&id_token.to_string()).unwrap_or_default();
        let subject = extra.oid.clone().unwrap_or_else(|| claims.subject().to_string());
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.to_string())
            .or_else(|| claims.preferred_username().map(|u| u.to_string()))
            .or_else(|| claims.email().map(|e| e.to_string()))
            .unwrap_or_else(|| subject.clone());
        let principal = Principal { issuer: claims.issuer().to_string(), subject, name: Actor::or_anonymous(Some(&name)), via: Via::Session, token_id: None };
        match role_of(&extra.roles, &extra.groups, &self.settings.group_roles) {
            Some(role) => Ok(Identity { principal, role }),
            None => Err(SignInError::NoRole { principal }),
        }
    }
}

/// The highest role the `roles` claim (app roles) or the `groups` claim
/// (through the configured mapping) grants; none when neither grants one.
fn role_of(roles: &[String], groups: &[String], mapping: &[(String, Role)]) -> Option<Role> {
    let from_groups = groups.iter().filter_map(|g| mapping.iter().find(|(id, _)| id == g).map(|(_, r)| *r)).max();
    Role::highest(roles.iter().map(String::as_str)).max(from_groups)
}

/// Claims outside the standard set.
#[derive(Default, Deserialize)]
struct Extra {
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    oid: Option<String>,
}

fn payload(jwt: &str) -> Option<Extra> {
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn roles_come_from_app_roles_or_mapped_groups_whichever_is_higher() {
        let mapping = vec![("g-ops".to_string(), Role::Operator), ("g-admins".to_string(), Role::Admin)];
        assert_eq!(role_of(&v(&["Regatlas.Viewer"]), &[], &mapping), Some(Role::Viewer));
        assert_eq!(role_of(&v(&["Regatlas.Viewer"]), &v(&["g-ops"]), &mapping), Some(Role::Operator));
        assert_eq!(role_of(&[], &v(&["other", "g-admins"]), &mapping), Some(Role::Admin));
        assert_eq!(role_of(&v(&["Regatlas.Admin"]), &v(&["g-ops"]), &mapping), Some(Role::Admin));
        assert_eq!(role_of(&[], &v(&["g-ops"]), &[]), None, "groups count only through the mapping");
        assert_eq!(role_of(&v(&["Something.Else"]), &v(&["other"]), &mapping), None);
    }
}
