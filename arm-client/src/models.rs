//! Typed models of the ARM resources the dashboard reads, from the ARM
//! contract (`data/azure-specs/`). ARM adds properties and enum values over
//! time, so every struct keeps unknown properties in `extra` and every enum
//! keeps unknown values in `Other`: nothing ARM sends is fatal or lost.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An enum that keeps values it does not know as `Other(String)`.
macro_rules! open_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($variant,)*
            /// A value this version does not know (kept verbatim).
            Other(String),
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $(if s.eq_ignore_ascii_case(stringify!($variant)) { return $name::$variant; })*
                $name::Other(s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => stringify!($variant),)*
                    $name::Other(s) => s,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

open_enum!(
    /// `properties.provisioningState`.
    ProvisioningState { Creating, Updating, Deleting, Succeeded, Failed, Canceled }
);
open_enum!(
    /// `sku.name`.
    SkuName { Basic, Standard, Premium, Classic }
);
open_enum!(
    /// Status of an operation-status document.
    OperationState { InProgress, Succeeded, Failed, Canceled, Running, Accepted }
);
open_enum!(
    /// `zoneRedundancy`.
    ZoneRedundancy { Enabled, Disabled }
);

impl ProvisioningState {
    /// Creating, Updating or Deleting.
    pub fn is_transitional(&self) -> bool {
        matches!(self, ProvisioningState::Creating | ProvisioningState::Updating | ProvisioningState::Deleting)
    }
}

/// A resource as ARM returns it, with typed `properties`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource<P> {
    pub id: String,
    pub name: String,
    #[serde(rename = "type", default)]
    pub resource_type: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub properties: P,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `properties.status` of a registry or replication.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    #[serde(default)]
    pub display_status: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sku {
    pub name: SkuName,
    #[serde(default)]
    pub tier: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A container registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registry {
    pub id: String,
    pub name: String,
    pub location: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub sku: Sku,
    #[serde(default)]
    pub properties: RegistryProperties,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryProperties {
    #[serde(default)]
    pub login_server: Option<String>,
    #[serde(default)]
    pub provisioning_state: Option<ProvisioningState>,
    #[serde(default)]
    pub creation_date: Option<String>,
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub admin_user_enabled: Option<bool>,
    #[serde(default)]
    pub zone_redundancy: Option<ZoneRedundancy>,
    #[serde(default)]
    pub public_network_access: Option<String>,
    #[serde(default)]
    pub data_endpoint_enabled: Option<bool>,
    #[serde(default)]
    pub data_endpoint_host_names: Option<Vec<String>>,
    #[serde(default)]
    pub network_rule_set: Option<Value>,
    #[serde(default)]
    pub policies: Option<Value>,
    #[serde(default)]
    pub encryption: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Registry {
    /// Resource group, parsed from the id.
    pub fn resource_group(&self) -> Option<&str> {
        id_segment(&self.id, "resourceGroups")
    }
    /// Subscription id, parsed from the id.
    pub fn subscription_id(&self) -> Option<&str> {
        id_segment(&self.id, "subscriptions")
    }
}

/// The segment after `key` in an ARM id (case-insensitive key).
pub fn id_segment<'a>(id: &'a str, key: &str) -> Option<&'a str> {
    let mut it = id.split('/');
    while let Some(s) = it.next() {
        if s.eq_ignore_ascii_case(key) {
            return it.next();
        }
    }
    None
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationProperties {
    #[serde(default)]
    pub provisioning_state: Option<ProvisioningState>,
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub region_endpoint_enabled: Option<bool>,
    #[serde(default)]
    pub zone_redundancy: Option<ZoneRedundancy>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A geo-replication of a registry.
pub type Replication = Resource<ReplicationProperties>;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookProperties {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub provisioning_state: Option<ProvisioningState>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
pub type Webhook = Resource<WebhookProperties>;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectedRegistryProperties {
    #[serde(default)]
    pub provisioning_state: Option<ProvisioningState>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub connection_state: Option<String>,
    #[serde(default)]
    pub last_activity_time: Option<String>,
    #[serde(default)]
    pub activation: Option<Value>,
    #[serde(default)]
    pub parent: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
pub type ConnectedRegistry = Resource<ConnectedRegistryProperties>;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineProperties {
    #[serde(default)]
    pub provisioning_state: Option<ProvisioningState>,
    #[serde(default)]
    pub target: Option<Value>,
    #[serde(default)]
    pub source: Option<Value>,
    #[serde(default)]
    pub options: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
pub type ExportPipeline = Resource<PipelineProperties>;
pub type ImportPipeline = Resource<PipelineProperties>;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRunResponse {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub progress: Option<Value>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub finish_time: Option<String>,
    #[serde(default)]
    pub imported_artifacts: Vec<String>,
    #[serde(default)]
    pub catalog_digest: Option<String>,
    #[serde(default)]
    pub pipeline_run_error_message: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PipelineRunResponse {
    /// `progress.percentage` as a number (ARM sends it as a string).
    pub fn percentage(&self) -> Option<f64> {
        let p = self.progress.as_ref()?.get("percentage")?;
        p.as_f64().or_else(|| p.as_str()?.parse().ok())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRunProperties {
    #[serde(default)]
    pub provisioning_state: Option<ProvisioningState>,
    #[serde(default)]
    pub request: Option<Value>,
    #[serde(default)]
    pub response: Option<PipelineRunResponse>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
pub type PipelineRun = Resource<PipelineRunProperties>;

/// `{"error":{"code","message"}}` detail.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An `Azure-AsyncOperation` status document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatus {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub status: OperationState,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub percent_complete: Option<f64>,
    #[serde(default)]
    pub error: Option<ErrorDetail>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A subscription from `GET /subscriptions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub subscription_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `importImage` request body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportImageParameters {
    pub source: ImportSource,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub untagged_target_repositories: Vec<String>,
    /// `NoForce` or `Force`.
    pub mode: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<ImportCredentials>,
    pub source_image: String,
}

/// Source registry credentials for one import. `Debug` never prints the password.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportCredentials {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub password: String,
}

impl std::fmt::Debug for ImportCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportCredentials").field("username", &self.username).field("password", &"***").finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_credentials_never_print_the_password() {
        let c = ImportCredentials { username: Some("robot".into()), password: "hunter2-secret".into() };
        let shown = format!(
            "{c:?} {:?}",
            ImportSource { resource_id: None, registry_uri: Some("r.example".into()), credentials: Some(c.clone()), source_image: "a:b".into() }
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("robot"));
    }

    #[test]
    fn unknown_fields_and_enum_values_are_kept() {
        let v = serde_json::json!({
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r/replications/eastus",
            "name": "eastus", "location": "eastus",
            "properties": {"provisioningState": "Migrating", "regionEndpointEnabled": true, "futureFlag": 3,
                           "status": {"displayStatus": "Ready", "newer": "x"}},
            "systemData": {"createdBy": "someone"}
        });
        let r: Replication = serde_json::from_value(v.clone()).expect("parses");
        assert_eq!(r.properties.provisioning_state, Some(ProvisioningState::Other("Migrating".into())));
        assert_eq!(r.properties.extra["futureFlag"], 3);
        assert!(r.extra.contains_key("systemData"));
        let back = serde_json::to_value(&r).expect("serialises");
        assert_eq!(back["properties"]["provisioningState"], "Migrating");
        assert_eq!(back["properties"]["status"]["newer"], "x");
        assert_eq!(back["systemData"]["createdBy"], "someone");
    }

    #[test]
    fn known_enum_values_match_case_insensitively() {
        assert_eq!(ProvisioningState::from("succeeded".to_string()), ProvisioningState::Succeeded);
        assert!(ProvisioningState::Creating.is_transitional());
        assert_eq!(id_segment("/subscriptions/abc/resourceGroups/rg1/providers/x", "resourcegroups"), Some("rg1"));
    }
}
