//! What the relocation guide says to carry from one registry to another,
//! read from ARM as it is now: the registry's settings, its replicas and
//! zones, network rules and private endpoints, encryption and identity,
//! scope maps and tokens, webhooks, connected registries, diagnostic
//! settings, ACR Tasks, and the AKS clusters whose kubelet identities hold
//! AcrPull on it. The migration's cut-over checklist compares two
//! registries' facts whenever it is shown; the relocation preview plans a
//! target from one registry's template.

use regatlas_arm::{ArmClient, ACR_API_VERSION, ACR_REGIONAL_API_VERSION, AKS_API_VERSION, AUTHORIZATION_API_VERSION, INSIGHTS_API_VERSION, TASKS_API_VERSION};
use serde_json::Value;

use crate::outbound::clean_text;

/// The built-in role `AcrPull`.
pub const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

/// At most this many items of any list are read.
const MAX: usize = 500;

/// One fact of a registry: a value to compare, or why it could not be read.
pub type Fact = Result<String, String>;

/// A registry's facts, by checklist key, in the checklist's order.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub rows: Vec<(&'static str, &'static str, Fact)>,
}

impl Facts {
    pub fn get(&self, key: &str) -> Option<&Fact> {
        self.rows.iter().find(|(k, _, _)| *k == key).map(|(_, _, f)| f)
    }
}

fn names(list: &[Value]) -> String {
    let mut n: Vec<String> = list.iter().take(MAX).filter_map(|v| v["name"].as_str()).map(|s| clean_text(s, 80)).collect();
    n.sort();
    if n.is_empty() {
        "none".into()
    } else {
        n.join(", ")
    }
}

fn last_segment(id: &str) -> String {
    clean_text(id.rsplit('/').next().unwrap_or_default(), 80)
}

fn why(e: &regatlas_arm::ArmError) -> String {
    clean_text(&format!("cannot read: {}", e.code().map(str::to_string).unwrap_or_else(|| e.to_string())), 200)
}

async fn list(arm: &ArmClient, url: String) -> Result<Vec<Value>, String> {
    arm.list::<Value>(&url)
        .await
        .map(|mut v| {
            v.truncate(MAX);
            v
        })
        .map_err(|e| why(&e))
}

/// The principals holding AcrPull on a scope, and the AKS clusters among them.
pub async fn pulling_clusters(arm: &ArmClient, registry_id: &str, clusters: &[Value]) -> Fact {
    let assignments = list(arm, arm.url(&format!("{registry_id}/providers/Microsoft.Authorization/roleAssignments"), AUTHORIZATION_API_VERSION)).await?;
    let mut names: Vec<String> = Vec::new();
    let mut others = 0;
    for a in assignments.iter().filter(|a| a["properties"]["roleDefinitionId"].as_str().is_some_and(|r| r.to_ascii_lowercase().ends_with(ACR_PULL))) {
        let principal = a["properties"]["principalId"].as_str().unwrap_or_default();
        match clusters.iter().find(|c| c["properties"]["identityProfile"]["kubeletidentity"]["objectId"].as_str() == Some(principal)) {
            Some(c) => names.push(clean_text(c["name"].as_str().unwrap_or_default(), 80)),
            None => others += 1,
        }
    }
    names.sort();
    names.dedup();
    let mut out = if names.is_empty() { "no AKS cluster".to_string() } else { names.join(", ") };
    if others > 0 {
        out.push_str(&format!(" (+{others} other principals with AcrPull)"));
    }
    Ok(out)
}

/// Every fact of the registry `registry_id` the checklist compares.
pub async fn read(arm: &ArmClient, registry_id: &str, clusters: &Result<Vec<Value>, String>) -> Facts {
    let child = |kind: &str| arm.url(&format!("{registry_id}/{kind}"), ACR_API_VERSION);
    let doc = arm.get::<Value>(&arm.url(registry_id, ACR_REGIONAL_API_VERSION)).await.map_err(|e| why(&e));
    let reps = list(arm, child("replications")).await;
    let p = |f: &dyn Fn(&Value) -> String| -> Fact { doc.as_ref().map(|d| f(&d["properties"])).map_err(Clone::clone) };
    let s = |v: &Value, default: &str| {
        clean_text(v.as_str().map(str::to_string).unwrap_or_else(|| if v.is_null() { default.to_string() } else { v.to_string() }).as_str(), 200)
    };
    let mut rows: Vec<(&'static str, &'static str, Fact)> = Vec::new();
    rows.push(("sku", "SKU", doc.as_ref().map(|d| s(&d["sku"]["name"], "")).map_err(Clone::clone)));
    rows.push(("zone-redundancy", "Zone redundancy (home)", p(&|p| s(&p["zoneRedundancy"], "Disabled"))));
    rows.push((
        "replications",
        "Replications (regions)",
        reps.as_ref()
            .map(|r| {
                let mut l: Vec<String> = r.iter().filter_map(|x| x["location"].as_str()).map(|x| clean_text(&x.to_ascii_lowercase(), 40)).collect();
                l.sort();
                l.join(", ")
            })
            .map_err(Clone::clone),
    ));
    rows.push((
        "replica-zones",
        "Zone-redundant replicas",
        reps.as_ref()
            .map(|r| {
                let mut l: Vec<String> = r
                    .iter()
                    .filter(|x| x["properties"]["zoneRedundancy"].as_str().is_some_and(|z| z.eq_ignore_ascii_case("enabled")))
                    .filter_map(|x| x["location"].as_str())
                    .map(|x| clean_text(&x.to_ascii_lowercase(), 40))
                    .collect();
                l.sort();
                if l.is_empty() {
                    "none".into()
                } else {
                    l.join(", ")
                }
            })
            .map_err(Clone::clone),
    ));
    rows.push(("public-network-access", "Public network access", p(&|p| s(&p["publicNetworkAccess"], "Enabled"))));
    rows.push((
        "network-rules",
        "Firewall (default action, IP rules)",
        p(&|p| {
            let mut ips: Vec<String> = p["networkRuleSet"]["ipRules"]
                .as_array()
                .into_iter()
                .flatten()
                .take(MAX)
                .filter_map(|r| r["value"].as_str())
                .map(|v| clean_text(v, 60))
                .collect();
            ips.sort();
            format!("{}: {}", s(&p["networkRuleSet"]["defaultAction"], "Allow"), if ips.is_empty() { "no IP rules".to_string() } else { ips.join(", ") })
        }),
    ));
    rows.push((
        "vnet-rules",
        "Virtual network rules (subnets)",
        p(&|p| {
            let mut l: Vec<String> = p["networkRuleSet"]["virtualNetworkRules"]
                .as_array()
                .into_iter()
                .flatten()
                .take(MAX)
                .filter_map(|r| r["id"].as_str())
                .map(last_segment)
                .collect();
            l.sort();
            if l.is_empty() {
                "none".into()
            } else {
                l.join(", ")
            }
        }),
    ));
    rows.push(("bypass", "Trusted Azure services", p(&|p| s(&p["networkRuleBypassOptions"], "AzureServices"))));
    rows.push((
        "private-endpoints",
        "Private endpoints (and their DNS)",
        p(&|p| {
            let list = p["privateEndpointConnections"].as_array().cloned().unwrap_or_default();
            let approved = list.iter().filter(|c| c["properties"]["privateLinkServiceConnectionState"]["status"] == "Approved").count();
            format!("{} ({approved} approved)", list.len())
        }),
    ));
    rows.push(("data-endpoints", "Dedicated data endpoints", p(&|p| s(&p["dataEndpointEnabled"], "false"))));
    rows.push((
        "encryption",
        "Encryption (customer-managed key)",
        p(&|p| match p["encryption"]["status"].as_str() {
            Some(st) if st.eq_ignore_ascii_case("enabled") => format!("enabled: {}", s(&p["encryption"]["keyVaultProperties"]["keyIdentifier"], "")),
            _ => "disabled".into(),
        }),
    ));
    rows.push((
        "identity",
        "Identity",
        doc.as_ref()
            .map(|d| {
                let mut ids: Vec<String> =
                    d["identity"]["userAssignedIdentities"].as_object().map(|m| m.keys().take(MAX).map(|k| last_segment(k)).collect()).unwrap_or_default();
                ids.sort();
                let t = s(&d["identity"]["type"], "None");
                if ids.is_empty() {
                    t
                } else {
                    format!("{t}: {}", ids.join(", "))
                }
            })
            .map_err(Clone::clone),
    ));
    rows.push(("admin-user", "Admin user", p(&|p| s(&p["adminUserEnabled"], "false"))));
    rows.push(("scope-maps", "Scope maps", list(arm, child("scopeMaps")).await.map(|l| names(&l))));
    rows.push(("tokens", "Tokens", list(arm, child("tokens")).await.map(|l| names(&l))));
    rows.push(("webhooks", "Webhooks", list(arm, child("webhooks")).await.map(|l| names(&l))));
    rows.push((
        "connected-registries",
        "Connected registries (and their tokens)",
        list(arm, arm.child_url(registry_id, "connectedRegistries", None, None)).await.map(|l| names(&l)),
    ));
    rows.push((
        "diagnostic-settings",
        "Diagnostic settings",
        list(arm, arm.url(&format!("{registry_id}/providers/Microsoft.Insights/diagnosticSettings"), INSIGHTS_API_VERSION)).await.map(|l| names(&l)),
    ));
    rows.push(("tasks", "ACR Tasks", list(arm, arm.url(&format!("{registry_id}/tasks"), TASKS_API_VERSION)).await.map(|l| names(&l))));
    let aks = match clusters {
        Ok(c) => pulling_clusters(arm, registry_id, c).await,
        Err(e) => Err(e.clone()),
    };
    rows.push(("aks-pull", "AKS clusters pulling (AcrPull)", aks));
    Facts { rows }
}

/// The AKS clusters the credential can see (read once per evaluation).
pub async fn clusters(arm: &ArmClient, subscription: &str) -> Result<Vec<Value>, String> {
    list(arm, arm.url(&format!("/subscriptions/{subscription}/providers/Microsoft.ContainerService/managedClusters"), AKS_API_VERSION)).await
}

/// The rows of both registries side by side: (key, title, source, target).
pub fn compare(source: Option<&Facts>, target: &Facts) -> Vec<(String, String, Option<String>, Option<String>)> {
    target
        .rows
        .iter()
        .map(|(k, title, t)| {
            let show = |f: &Fact| match f {
                Ok(v) => v.clone(),
                Err(e) => e.clone(),
            };
            (k.to_string(), title.to_string(), source.and_then(|s| s.get(k)).map(show), Some(show(t)))
        })
        .collect()
}
