//! # regatlas-arm
//!
//! The dashboard's client for Azure Resource Manager
//! (`Microsoft.ContainerRegistry`), written as a careful production client:
//!
//! - [`credential`]: every token comes from `azure_identity` (client secret,
//!   client certificate, workload identity, managed identity, Azure CLI),
//!   chosen by configuration, with a configurable authority host.
//! - [`client`]: one `reqwest` client with retries (exponential backoff with
//!   jitter, `Retry-After` honoured, non-idempotent requests retried only
//!   when ARM provably did not process them), `nextLink` paging, and
//!   per-subscription quota and throttling counters.
//! - [`lro`]: long-running operations (`Azure-AsyncOperation` preferred,
//!   `Location` as fallback, final GET) as serialisable handles, so polling
//!   resumes after a restart.
//! - [`models`]: typed serde models that keep unknown fields and enum values.
//! - [`acr`]: the registry operations the dashboard uses.
//!
//! It shares no code with the emulator: the emulator is written from the ARM
//! contract, this crate from the same contract, and tests run one against the
//! other.

pub mod acr;
pub mod client;
pub mod credential;
pub mod error;
pub mod lro;
pub mod models;

pub use client::{ArmClient, ArmClientConfig, RetryPolicy, SubscriptionStats};
pub use credential::CredentialConfig;
pub use error::ArmError;
pub use lro::{LroHandle, LroPoll, PollMode};

/// api-version for `Microsoft.ContainerRegistry` registries, replications, webhooks, imports.
pub const ACR_API_VERSION: &str = "2025-11-01";
/// The preview that describes regional endpoints (`regionalEndpointHostNames`).
pub const ACR_REGIONAL_API_VERSION: &str = "2026-01-01-preview";
/// api-version for connected registries and transfer pipelines (preview resources).
pub const ACR_PREVIEW_API_VERSION: &str = "2025-06-01-preview";
/// ACR Tasks (`registries/{name}/tasks`).
pub const TASKS_API_VERSION: &str = "2019-06-01-preview";
/// `Microsoft.Resources` (a resource group's `exportTemplate`).
pub const RESOURCES_API_VERSION: &str = "2021-04-01";
/// `Microsoft.Authorization` role assignments.
pub const AUTHORIZATION_API_VERSION: &str = "2022-04-01";
/// `Microsoft.Insights` diagnostic settings.
pub const INSIGHTS_API_VERSION: &str = "2021-05-01-preview";
/// `Microsoft.ContainerService` managed clusters (AKS).
pub const AKS_API_VERSION: &str = "2024-05-01";
/// api-version for `/subscriptions` and `/locations`.
pub const SUBSCRIPTIONS_API_VERSION: &str = "2022-12-01";
