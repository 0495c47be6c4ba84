//! The `Microsoft.ContainerRegistry` operations the dashboard uses.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    client::ArmClient,
    lro::LroHandle,
    models::{ConnectedRegistry, ImportImageParameters, PipelineRun, Registry, Replication, Subscription, Webhook},
    ArmError, ACR_API_VERSION, ACR_PREVIEW_API_VERSION, ACR_REGIONAL_API_VERSION, SUBSCRIPTIONS_API_VERSION,
};

/// How long an operation may run before the client gives up polling.
pub const DEFAULT_LRO_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// What to create: a replica in `location`.
#[derive(Clone, Debug, PartialEq)]
pub struct NewReplication {
    pub location: String,
    pub zone_redundancy: bool,
    pub region_endpoint_enabled: bool,
}

/// An operation ARM accepted: its handle, or `None` if it finished at once,
/// and the body of the first response.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub handle: Option<LroHandle>,
    pub body: Option<Value>,
    pub status: u16,
}

impl ArmClient {
    /// Subscriptions the credential can see.
    pub async fn list_subscriptions(&self) -> Result<Vec<Subscription>, ArmError> {
        self.list(&self.url("/subscriptions", SUBSCRIPTIONS_API_VERSION)).await
    }

    /// Every registry in a subscription.
    pub async fn list_registries(&self, subscription: &str) -> Result<Vec<Registry>, ArmError> {
        self.list(&self.url(&format!("/subscriptions/{subscription}/providers/Microsoft.ContainerRegistry/registries"), ACR_API_VERSION)).await
    }

    pub async fn get_registry(&self, registry_id: &str) -> Result<Registry, ArmError> {
        self.get(&self.url(registry_id, ACR_API_VERSION)).await
    }

    /// All replications of a registry: one ARM read (plus pages).
    pub async fn list_replications(&self, registry_id: &str) -> Result<Vec<Replication>, ArmError> {
        self.list(&self.url(&format!("{registry_id}/replications"), ACR_API_VERSION)).await
    }

    pub async fn get_replication(&self, registry_id: &str, name: &str) -> Result<Replication, ArmError> {
        self.get(&self.url(&format!("{registry_id}/replications/{name}"), ACR_API_VERSION)).await
    }

    pub async fn list_webhooks(&self, registry_id: &str) -> Result<Vec<Webhook>, ArmError> {
        self.list(&self.url(&format!("{registry_id}/webhooks"), ACR_API_VERSION)).await
    }

    /// A webhook's URL, or one of its actions' (`ping`, `listEvents`, `getCallbackConfig`).
    pub fn webhook_url(&self, registry_id: &str, name: &str, action: Option<&str>) -> String {
        match action {
            Some(a) => self.url(&format!("{registry_id}/webhooks/{name}/{a}"), ACR_API_VERSION),
            None => self.url(&format!("{registry_id}/webhooks/{name}"), ACR_API_VERSION),
        }
    }

    /// The registry's regional endpoints (`regionalEndpointHostNames`,
    /// api-version 2026-01-01-preview), at most 100. An ARM that does not
    /// describe them answers an error or an empty list.
    pub async fn regional_endpoint_host_names(&self, registry_id: &str) -> Result<Vec<String>, ArmError> {
        let doc: Value = self.get(&self.url(registry_id, ACR_REGIONAL_API_VERSION)).await?;
        Ok(doc["properties"]["regionalEndpointHostNames"].as_array().into_iter().flatten().filter_map(|h| h.as_str().map(str::to_string)).take(100).collect())
    }

    /// The registry as ARM returns it at the newest api-version that
    /// describes every setting (regional endpoints, soft delete), as JSON.
    pub async fn registry_document(&self, registry_id: &str) -> Result<Value, ArmError> {
        self.get(&self.url(registry_id, ACR_REGIONAL_API_VERSION)).await
    }

    /// PATCH a registry's properties (`RegistryUpdateParameters`).
    pub async fn begin_update_registry(&self, registry_id: &str, properties: Value) -> Result<Accepted, ArmError> {
        let url = self.url(registry_id, ACR_API_VERSION);
        self.begin(Method::PATCH, url.clone(), url, Some(json!({ "properties": properties }))).await
    }

    pub async fn list_connected_registries(&self, registry_id: &str) -> Result<Vec<ConnectedRegistry>, ArmError> {
        self.list(&self.url(&format!("{registry_id}/connectedRegistries"), ACR_PREVIEW_API_VERSION)).await
    }

    pub async fn list_pipeline_runs(&self, registry_id: &str) -> Result<Vec<PipelineRun>, ArmError> {
        self.list(&self.url(&format!("{registry_id}/pipelineRuns"), ACR_PREVIEW_API_VERSION)).await
    }

    /// A child resource's URL (`connectedRegistries`, `tokens`, `scopeMaps`,
    /// `exportPipelines`, …), the list's when `name` is none, or one of its
    /// actions'. Pipelines and their runs exist only in preview api-versions.
    pub fn child_url(&self, registry_id: &str, kind: &str, name: Option<&str>, action: Option<&str>) -> String {
        let version = if matches!(kind, "exportPipelines" | "importPipelines" | "pipelineRuns") { ACR_PREVIEW_API_VERSION } else { ACR_API_VERSION };
        let mut path = format!("{registry_id}/{kind}");
        for part in [name, action].into_iter().flatten() {
            path.push('/');
            path.push_str(part);
        }
        self.url(&path, version)
    }

    /// Sends a request that may start a long-running operation on `url`.
    pub async fn begin_at(&self, method: Method, url: &str, body: Option<Value>) -> Result<Accepted, ArmError> {
        self.begin(method, url.to_string(), url.to_string(), body).await
    }

    /// Waits for an accepted operation to end, at most `limit`.
    pub async fn settle(&self, accepted: Accepted, limit: Duration) -> Result<(), ArmError> {
        let Some(handle) = accepted.handle else { return Ok(()) };
        let deadline = std::time::Instant::now() + limit;
        loop {
            match self.poll(&handle).await? {
                crate::LroPoll::Succeeded { .. } => return Ok(()),
                crate::LroPoll::Failed { code, message } => return Err(ArmError::OperationFailed { code, message }),
                crate::LroPoll::InProgress { retry_after, .. } => {
                    if std::time::Instant::now() + retry_after.min(Duration::from_secs(5)) > deadline {
                        return Err(ArmError::Deadline { url: handle.poll_url.clone() });
                    }
                    tokio::time::sleep(retry_after.min(Duration::from_secs(5))).await;
                }
            }
        }
    }

    async fn begin(&self, method: Method, resource_url: String, send_url: String, body: Option<Value>) -> Result<Accepted, ArmError> {
        let r = self.send(method.clone(), &send_url, body.as_ref()).await?;
        let handle = LroHandle::from_response(&method, &resource_url, &r, DEFAULT_LRO_TIMEOUT);
        let body = if r.body.is_empty() { None } else { serde_json::from_slice(&r.body).ok() };
        Ok(Accepted { handle, body, status: r.status.as_u16() })
    }

    /// PUT a replication (the name is the region, as the portal does).
    pub async fn begin_create_replication(&self, registry_id: &str, new: &NewReplication) -> Result<Accepted, ArmError> {
        let url = self.url(&format!("{registry_id}/replications/{}", new.location), ACR_API_VERSION);
        let body = json!({
            "location": new.location,
            "properties": {
                "regionEndpointEnabled": new.region_endpoint_enabled,
                "zoneRedundancy": if new.zone_redundancy { "Enabled" } else { "Disabled" },
            }
        });
        self.begin(Method::PUT, url.clone(), url, Some(body)).await
    }

    /// PATCH `regionEndpointEnabled` of a replication.
    pub async fn begin_set_routing(&self, registry_id: &str, name: &str, enabled: bool) -> Result<Accepted, ArmError> {
        let url = self.url(&format!("{registry_id}/replications/{name}"), ACR_API_VERSION);
        self.begin(Method::PATCH, url.clone(), url, Some(json!({ "properties": { "regionEndpointEnabled": enabled } }))).await
    }

    pub async fn begin_delete_replication(&self, registry_id: &str, name: &str) -> Result<Accepted, ArmError> {
        let url = self.url(&format!("{registry_id}/replications/{name}"), ACR_API_VERSION);
        self.begin(Method::DELETE, url.clone(), url, None).await
    }

    /// `importImage` into `registry_id`.
    pub async fn begin_import_image(&self, registry_id: &str, params: &ImportImageParameters) -> Result<Accepted, ArmError> {
        let url = self.url(&format!("{registry_id}/importImage"), ACR_API_VERSION);
        let body = serde_json::to_value(params).map_err(|e| ArmError::Decode { url: url.clone(), message: e.to_string() })?;
        self.begin(Method::POST, self.url(registry_id, ACR_API_VERSION), url, Some(body)).await
    }
}
