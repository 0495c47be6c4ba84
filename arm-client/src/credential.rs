//! Credentials, all through `azure_identity`, chosen by configuration.
//!
//! `azure_identity` 1.0 has no default chain on purpose: the operator names
//! the credential. The authority host (sovereign clouds) applies to the
//! credentials that talk to Entra ID directly (client secret, certificate,
//! workload identity).

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock},
};

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

/// The `IDENTITY_HEADER` secret this process uses for App Service managed
/// identity against an emulator. `azure_identity` reads it from the
/// environment on every token request, so it is one value per process, set
/// once; embedded emulators are started with it, and an external one
/// (`regatlas emulator`) shares it through `REGATLAS_EMULATOR_IDENTITY_SECRET`.
pub fn embedded_identity_secret() -> &'static str {
    static SECRET: OnceLock<String> = OnceLock::new();
    SECRET.get_or_init(|| {
        let s = std::env::var("REGATLAS_EMULATOR_IDENTITY_SECRET")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("regatlas-{:032x}", rand::random::<u128>()));
        // SAFETY (edition 2021: safe fn): written once, before any credential reads it, under the OnceLock.
        std::env::set_var("IDENTITY_HEADER", &s);
        s
    })
}

/// A managed-identity credential that talks the App Service protocol to
/// `endpoint` (an embedded emulator's token endpoint). `azure_identity` reads
/// `IDENTITY_ENDPOINT` when the credential is built, so building is
/// serialised with a process-wide lock.
pub fn app_service_managed_identity(endpoint: &str) -> Result<Arc<dyn TokenCredential>, ArmError> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _secret = embedded_identity_secret();
    let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    std::env::set_var("IDENTITY_ENDPOINT", endpoint);
    let cred = azure_identity::ManagedIdentityCredential::new(None).map_err(cfg_err)?;
    Ok(cred)
}
