//! Credentials, all through `azure_identity`, chosen by configuration.
//!
//! `azure_identity` 1.0 has no default chain on purpose: the operator names
//! the credential. The authority host (sovereign clouds) applies to the
//! credentials that talk to Entra ID directly (client secret, certificate,
//! workload identity).

use std::{path::PathBuf, sync::Arc};

use azure_core::{
    cloud::{CloudConfiguration, CustomConfiguration},
    credentials::{Secret, TokenCredential},
    http::ClientOptions,
};
use serde::{Deserialize, Serialize};

use crate::ArmError;

/// Which `azure_identity` credential to use, from the configuration file's
/// `[credential]` table (`kind = "client-secret"`, …).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CredentialConfig {
    /// A service principal with a secret. The secret is read from the
    /// environment variable named by `secret_env` (default
    /// `AZURE_CLIENT_SECRET`), never from the file.
    ClientSecret { tenant_id: String, client_id: String, secret_env: Option<String> },
    /// A service principal with a PKCS#12 certificate (password from the
    /// environment variable `password_env`, if any).
    ClientCertificate { tenant_id: String, client_id: String, certificate_path: PathBuf, password_env: Option<String> },
    /// Kubernetes workload identity (`AZURE_FEDERATED_TOKEN_FILE` etc. when absent).
    WorkloadIdentity { tenant_id: Option<String>, client_id: Option<String>, token_file: Option<PathBuf> },
    /// Managed identity (App Service / VM); `client_id` selects a user-assigned identity.
    ManagedIdentity { client_id: Option<String> },
    /// The signed-in Azure CLI (`az account get-access-token`).
    AzureCli { tenant_id: Option<String> },
}

impl CredentialConfig {
    /// Short name for logs and the UI.
    pub fn kind(&self) -> &'static str {
        match self {
            CredentialConfig::ClientSecret { .. } => "client-secret",
            CredentialConfig::ClientCertificate { .. } => "client-certificate",
            CredentialConfig::WorkloadIdentity { .. } => "workload-identity",
            CredentialConfig::ManagedIdentity { .. } => "managed-identity",
            CredentialConfig::AzureCli { .. } => "azure-cli",
        }
    }
}

fn client_options(authority_host: Option<&str>) -> ClientOptions {
    let mut options = ClientOptions::default();
    if let Some(host) = authority_host {
        let mut custom = CustomConfiguration::default();
        custom.authority_host = host.to_string();
        options.cloud = Some(Arc::new(CloudConfiguration::from(custom)));
    }
    options
}

fn cfg_err(e: impl std::fmt::Display) -> ArmError {
    ArmError::Config(e.to_string())
}

fn env_secret(var: &str) -> Result<String, ArmError> {
    std::env::var(var).map_err(|_| ArmError::Config(format!("environment variable {var} is not set")))
}

/// Builds the configured credential.
pub fn build(config: &CredentialConfig, authority_host: Option<&str>) -> Result<Arc<dyn TokenCredential>, ArmError> {
    use azure_identity as id;
    Ok(match config {
        CredentialConfig::ClientSecret { tenant_id, client_id, secret_env } => {
            let secret = env_secret(secret_env.as_deref().unwrap_or("AZURE_CLIENT_SECRET"))?;
            let options = id::ClientSecretCredentialOptions { client_options: client_options(authority_host) };
            id::ClientSecretCredential::new(tenant_id, client_id.clone(), Secret::new(secret), Some(options)).map_err(cfg_err)?
        }
        CredentialConfig::ClientCertificate { tenant_id, client_id, certificate_path, password_env } => {
            let bytes =
                std::fs::read(certificate_path).map_err(|e| ArmError::Config(format!("cannot read certificate {}: {e}", certificate_path.display())))?;
            let mut options = id::ClientCertificateCredentialOptions { client_options: client_options(authority_host), ..Default::default() };
            if let Some(var) = password_env {
                options.password = Some(Secret::new(env_secret(var)?));
            }
            id::ClientCertificateCredential::new(tenant_id.clone(), client_id.clone(), bytes.into(), Some(options)).map_err(cfg_err)?
        }
        CredentialConfig::WorkloadIdentity { tenant_id, client_id, token_file } => {
            let mut options = id::WorkloadIdentityCredentialOptions::default();
            options.credential_options.client_options = client_options(authority_host);
            options.tenant_id = tenant_id.clone();
            options.client_id = client_id.clone();
            options.token_file_path = token_file.clone();
            id::WorkloadIdentityCredential::new(Some(options)).map_err(cfg_err)?
        }
        CredentialConfig::ManagedIdentity { client_id } => {
            let options = id::ManagedIdentityCredentialOptions { user_assigned_id: client_id.clone().map(id::UserAssignedId::ClientId), ..Default::default() };
            id::ManagedIdentityCredential::new(Some(options)).map_err(cfg_err)?
        }
        CredentialConfig::AzureCli { tenant_id } => {
            let options = id::AzureCliCredentialOptions { tenant_id: tenant_id.clone(), ..Default::default() };
            id::AzureCliCredential::new(Some(options)).map_err(cfg_err)?
        }
    })
}

/// Where the emulated Entra ID is and how the console signs in there: the
/// emulator's `login_url`, tenant, client id, client secret and the login
/// endpoint's certificate (PEM).
#[derive(Clone)]
pub struct EmulatorLogin {
    pub authority_host: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub certificate_pem: String,
}

impl std::fmt::Debug for EmulatorLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorLogin").field("authority_host", &self.authority_host).field("tenant_id", &self.tenant_id).finish_non_exhaustive()
    }
}

/// `azure_identity`'s client-secret credential against an emulator's Entra
/// ID endpoint. Its settings are given to it directly (no environment), and
/// its transport trusts the emulator's certificate and nothing else, so the
/// secret cannot go anywhere but that endpoint.
pub fn emulator(login: &EmulatorLogin) -> Result<Arc<dyn TokenCredential>, ArmError> {
    let cert = reqwest_azure::Certificate::from_pem(login.certificate_pem.as_bytes())
        .map_err(|e| ArmError::Config(format!("the emulator's login certificate: {e}")))?;
    let http = reqwest_azure::Client::builder()
        .tls_certs_only([cert])
        .redirect(reqwest_azure::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| ArmError::Config(format!("cannot build the login client: {e}")))?;
    let mut options = client_options(Some(&login.authority_host));
    options.transport = Some(azure_core::http::Transport::new(Arc::new(http)));
    let options = azure_identity::ClientSecretCredentialOptions { client_options: options };
    let cred = azure_identity::ClientSecretCredential::new(&login.tenant_id, login.client_id.clone(), Secret::new(login.client_secret.clone()), Some(options))
        .map_err(cfg_err)?;
    Ok(cred)
}
