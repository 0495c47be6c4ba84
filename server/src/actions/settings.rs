//! A registry's settings as ARM describes them (what a relocation must
//! carry and an operator checks) and the doctor: findings from those
//! settings, the replicas and the running operations, each with its
//! remedy, and the fixes Regatlas can apply.
//!
//! `settings_from` and `diagnose` are pure functions of what ARM and the
//! store said, unit-tested without a server. A fix is applied only when the
//! doctor, asked again at that moment, still finds what it fixes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use regatlas_app::{
    model::{
        ApiError, DoctorFix, DoctorFixRequest, EncryptionView, EndpointView, FindingView, OperationKind, OperationView, PrivateEndpointView,
        RegistrySettingsView, RegistryView, ReplicaState, ReplicaZonesView, Severity,
    },
    regions,
};
use regatlas_domain::{ErrorKind, EventKind, Identity, Role};
use serde_json::{json, Value};

use super::checks::text;
use super::{ActionError, Console};
use crate::outbound::clean_text;

/// At most this many entries of any list ARM returns are shown.
const MAX_LIST: usize = 200;

fn texts(v: &Value, max: usize) -> Vec<String> {
    v.as_array().into_iter().flatten().take(MAX_LIST).filter_map(Value::as_str).map(|s| clean_text(s, max)).collect()
}

fn enabled(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("enabled"))
}

/// The region in an Azure endpoint host name (`<registry>.<region>.data.azurecr.io`,
/// `<registry>.<region>.geo.azurecr.io`), when it names a known region.
fn host_region(host: &str) -> Option<String> {
    let mut parts = host.split('.');
    let _registry = parts.next()?;
    let region = parts.next()?;
    regions::find(region).map(|r| r.name.clone())
}

fn endpoints(v: &Value) -> Vec<EndpointView> {
    texts(v, 255).into_iter().map(|host| EndpointView { region: host_region(&host), host }).collect()
}

/// The settings view from ARM's registry document and the stored replicas.
pub fn settings_from(reg: &RegistryView, doc: &Value, read_at: DateTime<Utc>) -> RegistrySettingsView {
    let p = &doc["properties"];
    let rules = &p["networkRuleSet"];
    let policies = &p["policies"];
    let key = &p["encryption"]["keyVaultProperties"];
    let identity = &doc["identity"];
    let mut replicas: Vec<ReplicaZonesView> = reg
        .replicas
        .iter()
        .filter(|r| !r.gone)
        .map(|r| ReplicaZonesView {
            region: r.location.clone(),
            home: r.home,
            state: r.state,
            zone_redundancy: r.zone_redundancy,
            region_has_zones: regions::find(&r.location).is_some_and(|x| x.has_zones()),
        })
        .collect();
    replicas.sort_by(|a, b| (!a.home, &a.region).cmp(&(!b.home, &b.region)));
    RegistrySettingsView {
        registry: reg.name.clone(),
        sku: doc["sku"]["name"].as_str().map(|s| clean_text(s, 20)).unwrap_or_else(|| reg.sku.clone()),
        location: reg.location.clone(),
        provisioning_state: p["provisioningState"].as_str().map(|s| clean_text(s, 40)),
        public_network_access: p["publicNetworkAccess"].as_str().map(|s| clean_text(s, 20)).unwrap_or_else(|| "Enabled".into()),
        default_action: rules["defaultAction"].as_str().map(|s| clean_text(s, 20)).unwrap_or_else(|| "Allow".into()),
        ip_rules: rules["ipRules"].as_array().into_iter().flatten().take(MAX_LIST).map(|r| text(&r["value"], 64)).filter(|s| !s.is_empty()).collect(),
        virtual_network_rules: rules["virtualNetworkRules"]
            .as_array()
            .into_iter()
            .flatten()
            .take(MAX_LIST)
            .map(|r| text(&r["id"], 400))
            .filter(|s| !s.is_empty())
            .collect(),
        network_rule_bypass: p["networkRuleBypassOptions"].as_str().map(|s| clean_text(s, 30)).unwrap_or_else(|| "AzureServices".into()),
        bypass_for_tasks: p["networkRuleBypassAllowedForTasks"].as_bool().unwrap_or(false),
        private_endpoints: p["privateEndpointConnections"]
            .as_array()
            .into_iter()
            .flatten()
            .take(MAX_LIST)
            .map(|c| {
                let state = &c["properties"]["privateLinkServiceConnectionState"];
                PrivateEndpointView {
                    name: text(&c["name"], 100),
                    endpoint: text(&c["properties"]["privateEndpoint"]["id"], 400),
                    status: state["status"].as_str().map(|s| clean_text(s, 30)).unwrap_or_else(|| "Unknown".into()),
                    description: text(&state["description"], 300),
                }
            })
            .collect(),
        data_endpoint_enabled: p["dataEndpointEnabled"].as_bool().unwrap_or(false),
        data_endpoints: endpoints(&p["dataEndpointHostNames"]),
        regional_endpoints_enabled: enabled(&p["regionalEndpoints"]),
        regional_endpoints: endpoints(&p["regionalEndpointHostNames"]),
        zone_redundancy: enabled(&p["zoneRedundancy"]),
        replicas,
        encryption: EncryptionView {
            customer_managed_key: enabled(&p["encryption"]["status"]),
            key_id: key["keyIdentifier"].as_str().map(|s| clean_text(s, 400)),
            identity_client_id: key["identity"].as_str().map(|s| clean_text(s, 100)),
            key_rotation: key["keyRotationEnabled"].as_bool().unwrap_or(false),
        },
        identity_type: identity["type"].as_str().map(|s| clean_text(s, 60)).unwrap_or_else(|| "None".into()),
        user_identities: identity["userAssignedIdentities"]
            .as_object()
            .map(|m| m.keys().take(MAX_LIST).map(|k| clean_text(k, 400)).collect())
            .unwrap_or_default(),
        admin_user_enabled: p["adminUserEnabled"].as_bool().unwrap_or(false),
        anonymous_pull_enabled: p["anonymousPullEnabled"].as_bool().unwrap_or(false),
        retention_days: enabled(&policies["retentionPolicy"]["status"]).then(|| policies["retentionPolicy"]["days"].as_i64().unwrap_or(7)),
        soft_delete_days: enabled(&policies["softDeletePolicy"]["status"]).then(|| policies["softDeletePolicy"]["retentionDays"].as_i64().unwrap_or(7)),
        quarantine_enabled: enabled(&policies["quarantinePolicy"]["status"]),
        trust_enabled: enabled(&policies["trustPolicy"]["status"]),
        export_enabled: !policies["exportPolicy"]["status"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("disabled")),
        role_assignment_mode: p["roleAssignmentMode"].as_str().map(|s| clean_text(s, 60)).unwrap_or_else(|| "LegacyRegistryPermissions".into()),
        findings: Vec::new(),
        read_at: read_at.to_rfc3339(),
    }
}

fn finding(severity: Severity, code: &str, region: Option<&str>, title: String, detail: String, remedy: String, fix: Option<DoctorFix>) -> FindingView {
    FindingView { severity, code: code.into(), region: region.map(str::to_string), title, detail, remedy, fix }
}

/// What the doctor finds. `busy_since` is when each replica (by region)
/// went into Creating or Updating, as far as Regatlas knows.
pub fn diagnose(s: &RegistrySettingsView, busy_since: &HashMap<String, DateTime<Utc>>, now: DateTime<Utc>, stuck_after: chrono::Duration) -> Vec<FindingView> {
    let mut out = Vec::new();
    let approved = s.private_endpoints.iter().filter(|p| p.status.eq_ignore_ascii_case("approved")).count();
    for r in &s.replicas {
        let display = regions::find(&r.region).map(|x| x.display_name.clone()).unwrap_or_else(|| r.region.clone());
        let busy = matches!(r.state, ReplicaState::Provisioning | ReplicaState::Updating);
        if busy {
            if let Some(since) = busy_since.get(&r.region) {
                let age = now - *since;
                if age > stuck_after && !r.home {
                    let phase = if r.state == ReplicaState::Updating { "Updating" } else { "Creating" };
                    let cause = if s.private_endpoints.is_empty() {
                        "ARM has not finished the replica's operation; a regional capacity or platform problem is the usual cause.".to_string()
                    } else {
                        "This registry has private endpoints: a replica stays in this state when whoever creates it lacks permission to add the \
                         replica's private IP configuration to the private endpoints (Microsoft.Network/privateEndpoints/privateLinkServiceProxies/write \
                         on their subnets)."
                            .to_string()
                    };
                    out.push(finding(
                        Severity::Critical,
                        "ReplicaStuck",
                        Some(&r.region),
                        format!("The replica in {display} has been {phase} for {} minutes", age.num_minutes()),
                        cause,
                        "Delete the replica and create it again (its running operation is given up); grant the permission first if private endpoints are the cause."
                            .into(),
                        Some(DoctorFix::RecreateStuck),
                    ));
                }
            }
        }
        if r.region_has_zones && !r.zone_redundancy {
            if r.home {
                out.push(finding(
                    Severity::Warning,
                    "ZoneRedundancyMissing",
                    Some(&r.region),
                    format!("The home region {display} has availability zones, but the registry is not zone redundant"),
                    "A zone failure in the home region can take the registry's management operations down. Zone redundancy is chosen when the registry is created.".into(),
                    "Only a new registry can be zone redundant in its home region: relocate to a zone-redundant registry when convenient.".into(),
                    None,
                ));
            } else if !busy {
                out.push(finding(
                    Severity::Warning,
                    "ZoneRedundancyMissing",
                    Some(&r.region),
                    format!("The replica in {display} is not zone redundant"),
                    format!("{display} has availability zones; a zone failure there takes this replica down. Zone redundancy is set only when a replica is created."),
                    "Delete the replica and create it again with zone redundancy. Until its content has synced again, pulls there come from other regions.".into(),
                    Some(DoctorFix::RecreateWithZones),
                ));
            }
        }
        if r.home && matches!(r.state, ReplicaState::Failed | ReplicaState::Unknown) {
            out.push(finding(
                Severity::Critical,
                "HomeRegionDegraded",
                Some(&r.region),
                format!("The home region {display} is degraded"),
                "Management operations (replicas, webhooks, settings, imports) go through the home region and are blocked or fail; pulls and pushes are still served by the other replicas through the global endpoint.".into(),
                "Wait for the region to recover before changing the registry; keep routing on in the healthy replicas.".into(),
                None,
            ));
        }
    }
    if !s.private_endpoints.is_empty() && !s.data_endpoint_enabled {
        out.push(finding(
            Severity::Warning,
            "PrivateEndpointWithoutDataEndpoints",
            None,
            "Private endpoints without dedicated data endpoints".into(),
            "Layers are served from storage host names that the private endpoints do not cover; clients behind the firewall need wide storage rules.".into(),
            "Turn on dedicated data endpoints (<registry>.<region>.data.azurecr.io) and add their private DNS records.".into(),
            Some(DoctorFix::EnableDataEndpoints),
        ));
    }
    for p in s.private_endpoints.iter().filter(|p| !p.status.eq_ignore_ascii_case("approved")) {
        out.push(finding(
            Severity::Warning,
            "PrivateEndpointNotApproved",
            None,
            format!("Private endpoint connection {} is {}", p.name, p.status),
            "Clients using this private endpoint cannot reach the registry until the connection is approved.".into(),
            "Approve or remove the connection (az acr private-endpoint-connection approve).".into(),
            None,
        ));
    }
    if s.public_network_access.eq_ignore_ascii_case("disabled") && approved == 0 {
        out.push(finding(
            Severity::Critical,
            "NoNetworkPath",
            None,
            "Public access is disabled and no private endpoint is approved".into(),
            "Nothing can reach the registry's data plane.".into(),
            "Approve a private endpoint connection or allow public access with firewall rules.".into(),
            None,
        ));
    }
    let restricted = s.public_network_access.eq_ignore_ascii_case("disabled") || s.default_action.eq_ignore_ascii_case("deny");
    if restricted && s.network_rule_bypass.eq_ignore_ascii_case("none") {
        out.push(finding(
            Severity::Warning,
            "TrustedServicesBlocked",
            None,
            "The firewall does not let trusted Azure services through".into(),
            "Transfer pipelines, ACR Tasks and imports from other Azure registries need the trusted-services exception.".into(),
            "Set networkRuleBypassOptions to AzureServices.".into(),
            None,
        ));
    }
    if s.encryption.customer_managed_key && s.identity_type.eq_ignore_ascii_case("none") {
        out.push(finding(
            Severity::Critical,
            "EncryptionIdentityMissing",
            None,
            "A customer-managed key without an identity".into(),
            "The registry reads its key with a managed identity; without one, the key cannot be read.".into(),
            "Assign the identity named in the encryption settings back to the registry.".into(),
            None,
        ));
    }
    if s.admin_user_enabled {
        out.push(finding(
            Severity::Info,
            "AdminUserEnabled",
            None,
            "The admin user is enabled".into(),
            "The admin user is one shared credential with push and pull on everything.".into(),
            "Use Entra identities or repository-scoped tokens, then disable the admin user.".into(),
            None,
        ));
    }
    out.sort_by_key(|f| match f.severity {
        Severity::Critical => 0,
        Severity::Warning => 1,
        Severity::Info => 2,
    });
    out
}

impl Console {
    /// When each replica went into Creating or Updating: its running
    /// operation's start, else when the poller saw it change.
    async fn busy_since(&self, reg: &RegistryView) -> Result<HashMap<String, DateTime<Utc>>, ApiError> {
        let mut out = HashMap::new();
        for r in reg.replicas.iter().filter(|r| !r.gone && matches!(r.state, ReplicaState::Provisioning | ReplicaState::Updating)) {
            let op = self.storage.active_operation_on(&reg.id, &r.location).await?;
            let at = op.map(|o| o.created_at).unwrap_or_else(|| r.changed_at.clone());
            if let Ok(t) = DateTime::parse_from_rfc3339(&at) {
                out.insert(r.location.clone(), t.with_timezone(&Utc));
            }
        }
        Ok(out)
    }

    fn stuck_after_chrono(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.stuck_after).unwrap_or(chrono::Duration::MAX)
    }

    pub(super) async fn settings_view(&self, who: &Identity, registry: &str) -> Result<RegistrySettingsView, ApiError> {
        self.require(who, Role::Viewer, "read a registry's settings").await?;
        let reg = self.find(registry).await?;
        self.read_settings(&reg).await
    }

    async fn read_settings(&self, reg: &RegistryView) -> Result<RegistrySettingsView, ApiError> {
        let doc = self.arm.registry_document(&Console::arm_id(reg)).await.map_err(ActionError::from)?;
        let now = Utc::now();
        let mut s = settings_from(reg, &doc, now);
        s.findings = diagnose(&s, &self.busy_since(reg).await?, now, self.stuck_after_chrono());
        Ok(s)
    }

    /// A replica stuck in Creating or Updating: its running operation is
    /// given up (Failed, `Superseded`), so it no longer blocks a delete.
    /// Returns whether one was given up.
    pub(super) async fn give_up_stuck(&self, who: &Identity, reg: &RegistryView, region: &str) -> Result<bool, ApiError> {
        let Some(rep) = reg.replica_in(region) else { return Ok(false) };
        if !matches!(rep.state, ReplicaState::Provisioning | ReplicaState::Updating) {
            return Ok(false);
        }
        let Some(op) = self.storage.active_operation_on(&reg.id, &rep.location).await? else { return Ok(false) };
        let age = DateTime::parse_from_rfc3339(&op.created_at).map(|t| Utc::now() - t.with_timezone(&Utc)).unwrap_or_default();
        if age <= self.stuck_after_chrono() {
            return Ok(false);
        }
        let message = format!("Given up after {} minutes by {}: the replica was stuck and is being deleted.", age.num_minutes(), who.principal.name);
        // Only if it is still open: an outcome the tracker recorded meanwhile stays.
        if !self.storage.operation_finished(&op.id, regatlas_app::model::OperationState::Failed, Some(("Superseded", &message))).await? {
            return Ok(false);
        }
        // Its follower sees it given up at its next poll (and stops counting it).
        self.poller.nudge();
        let kind = op.kind;
        if let Some(op) = self.storage.operation(&op.id).await? {
            self.publish_op(op, format!("{kind} {}/{} given up: stuck", reg.name, rep.location)).await;
        }
        self.audit(
            who,
            EventKind::ChildAction,
            format!("{} gave up {kind} of {}/{} after {} minutes stuck", who.principal.name, reg.name, rep.location, age.num_minutes()),
            json!({ "registry": reg.name, "region": rep.location, "operation": op.id, "what": "gave-up" }),
        )
        .await;
        tracing::warn!(registry = %reg.name, region = %rep.location, operation = %op.id, "a stuck replica's operation was given up");
        Ok(true)
    }

    pub(super) async fn apply_fix(&self, who: &Identity, registry: &str, req: DoctorFixRequest) -> Result<Option<OperationView>, ApiError> {
        self.require(who, Role::Admin, "apply a doctor's fix").await?;
        let invalid = |code: &'static str, m: String| ApiError::new(ErrorKind::Invalid, code, m);
        let reg = self.find(registry).await?;
        let settings = self.read_settings(&reg).await?;
        let region = req.region.as_deref().map(|r| r.trim().to_ascii_lowercase());
        let found = settings.findings.iter().any(|f| f.fix == Some(req.fix) && (f.region.is_none() || f.region.as_deref() == region.as_deref()));
        if !found {
            return Err(ApiError::new(
                ErrorKind::Conflict,
                "NothingToFix",
                format!("The doctor no longer finds what {} fixes{}.", req.fix, region.as_deref().map(|r| format!(" in {r}")).unwrap_or_default()),
            ));
        }
        match req.fix {
            DoctorFix::EnableDataEndpoints => {
                if req.confirm.trim() != reg.name {
                    return Err(invalid("ConfirmationMismatch", format!("Type the registry's name, {}, to confirm.", reg.name)));
                }
                self.arm.begin_update_registry(&Console::arm_id(&reg), json!({ "dataEndpointEnabled": true })).await.map_err(ActionError::from)?;
                self.audit(
                    who,
                    EventKind::ChildAction,
                    format!("{} turned on dedicated data endpoints of {}", who.principal.name, reg.name),
                    json!({ "registry": reg.name, "fix": req.fix }),
                )
                .await;
                self.poller.nudge();
                Ok(None)
            }
            DoctorFix::RecreateWithZones | DoctorFix::RecreateStuck => {
                let region = region.ok_or_else(|| invalid("MissingRegion", "This fix needs the replica's region.".into()))?;
                if req.confirm.trim().to_ascii_lowercase() != region {
                    return Err(invalid("ConfirmationMismatch", format!("Type the region, {region}, to confirm deleting and recreating its replica.")));
                }
                let rep = super::rules::delete(&reg, &region)?.clone();
                if req.fix == DoctorFix::RecreateStuck {
                    self.give_up_stuck(who, &reg, &region).await?;
                }
                let zones = req.fix == DoctorFix::RecreateWithZones || rep.zone_redundancy;
                let (arm_id, name, location) = (Console::arm_id(&reg), rep.name.clone(), rep.location.clone());
                let arm = self.arm.clone();
                let params = json!({
                    "region": location,
                    "fix": req.fix,
                    "recreate": { "zone_redundancy": zones, "routing": rep.routing.unwrap_or(true), "principal": who.principal },
                });
                let op = self
                    .run_action(&reg, OperationKind::ReplicaDelete, &location, &who.principal, params, || async move {
                        arm.begin_delete_replication(&arm_id, &name).await
                    })
                    .await?;
                self.audit(
                    who,
                    EventKind::ChildAction,
                    format!("{} applied {} to {}/{location}: delete, then create again", who.principal.name, req.fix, reg.name),
                    json!({ "registry": reg.name, "region": location, "fix": req.fix, "operation": op.id }),
                )
                .await;
                Ok(Some(op))
            }
        }
    }

    /// At start-up: a doctor's delete that succeeded without its create
    /// (the process stopped in between) gets it now.
    pub(super) async fn resume_recreates(&self) -> Result<(), crate::storage::StorageError> {
        use regatlas_domain::record::OperationFilter;
        let filter = |kind| OperationFilter { registry_id: None, kind: Some(kind), state: None, limit: 200, before: None };
        let deletes = self.storage.operations(&filter(OperationKind::ReplicaDelete)).await?;
        let creates = self.storage.operations(&filter(OperationKind::ReplicaCreate)).await?;
        let day_ago = (Utc::now() - chrono::Duration::days(1)).to_rfc3339();
        for d in deletes.iter().filter(|d| d.state == regatlas_app::model::OperationState::Succeeded && d.created_at > day_ago) {
            let planned = serde_json::from_str::<Value>(&d.params).is_ok_and(|p| !p["recreate"].is_null());
            let done = creates.iter().any(|c| serde_json::from_str::<Value>(&c.params).is_ok_and(|p| p["recreate_of"] == json!(d.id)));
            if planned && !done {
                tracing::info!(operation = %d.id, "a doctor's delete ended without its create; creating the replica again now");
                self.recreate_after(d).await;
            }
        }
        Ok(())
    }

    /// After a doctor's delete succeeded: the replica is created again, as
    /// the person who asked for the fix, with the zones and routing recorded.
    pub(super) async fn recreate_after(&self, deleted: &regatlas_domain::record::Operation) {
        let Ok(params) = serde_json::from_str::<Value>(&deleted.params) else { return };
        let plan = &params["recreate"];
        if plan.is_null() {
            return;
        }
        let Ok(principal) = serde_json::from_value::<regatlas_domain::Principal>(plan["principal"].clone()) else {
            tracing::error!(operation = %deleted.id, "a recreate without its principal; not creating the replica again");
            return;
        };
        let zones = plan["zone_redundancy"].as_bool().unwrap_or(false);
        let routing = plan["routing"].as_bool().unwrap_or(true);
        let region = deleted.target.clone();
        let reg = match self.find(&deleted.registry_name).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(operation = %deleted.id, error = %e, "cannot recreate the replica: registry not found");
                return;
            }
        };
        let arm_id = Console::arm_id(&reg);
        let new = regatlas_arm::acr::NewReplication { location: region.clone(), zone_redundancy: zones, region_endpoint_enabled: routing };
        let params = json!({ "region": region, "zoneRedundancy": zones, "routing": routing, "recreate_of": deleted.id });
        let arm = self.arm.clone();
        if let Err(e) = self
            .run_action(&reg, OperationKind::ReplicaCreate, &region, &principal, params, || async move { arm.begin_create_replication(&arm_id, &new).await })
            .await
        {
            tracing::error!(operation = %deleted.id, region = %region, error = %e, "creating the replica again failed; create it from the map");
        }
    }
}

#[cfg(test)]
mod tests {
    use regatlas_app::model::{Health, ReplicaView};

    use super::*;

    fn replica(location: &str, home: bool, state: ReplicaState, zones: bool) -> ReplicaView {
        ReplicaView {
            id: format!("/r/contoso/replications/{location}"),
            name: location.into(),
            location: location.into(),
            home,
            state,
            provisioning_state: None,
            display_status: None,
            status_message: None,
            status_timestamp: None,
            routing: Some(true),
            zone_redundancy: zones,
            first_seen: String::new(),
            changed_at: String::new(),
            confirmed_at: String::new(),
            gone: false,
        }
    }

    fn registry(replicas: Vec<ReplicaView>) -> RegistryView {
        RegistryView {
            id: "/r/contoso".into(),
            name: "contoso".into(),
            subscription_id: "s".into(),
            resource_group: "rg".into(),
            location: "westus".into(),
            sku: "Premium".into(),
            login_server: None,
            provisioning_state: None,
            zone_redundancy: false,
            health: Health::Healthy,
            replicas,
            children: vec![],
            changed_at: String::new(),
            confirmed_at: String::new(),
            gone: false,
            poll_error: None,
        }
    }

    fn codes(f: &[FindingView]) -> Vec<(String, Option<String>)> {
        f.iter().map(|f| (f.code.clone(), f.region.clone())).collect()
    }

    #[test]
    fn settings_are_read_from_the_registry_document() {
        let reg = registry(vec![replica("westus", true, ReplicaState::Ready, false), replica("eastus", false, ReplicaState::Ready, true)]);
        let doc = json!({
            "sku": { "name": "Premium" },
            "identity": { "type": "UserAssigned", "userAssignedIdentities": { "/x/ids/cmk": {} } },
            "properties": {
                "publicNetworkAccess": "Enabled",
                "networkRuleSet": { "defaultAction": "Deny", "ipRules": [{ "value": "203.0.113.0/24" }], "virtualNetworkRules": [{ "id": "/x/subnets/a" }] },
                "privateEndpointConnections": [{ "name": "pe1", "properties": { "privateEndpoint": { "id": "/x/pe1" },
                    "privateLinkServiceConnectionState": { "status": "Pending", "description": "wait\u{1b}[31m" } } }],
                "dataEndpointEnabled": true,
                "dataEndpointHostNames": ["contoso.eastus.data.azurecr.io", "127.0.0.1:9"],
                "encryption": { "status": "enabled", "keyVaultProperties": { "keyIdentifier": "https://kv/keys/k", "identity": "cid" } },
                "policies": { "retentionPolicy": { "status": "enabled", "days": 30 }, "softDeletePolicy": { "status": "disabled", "retentionDays": 7 } }
            }
        });
        let s = settings_from(&reg, &doc, Utc::now());
        assert_eq!(s.default_action, "Deny");
        assert_eq!(s.ip_rules, vec!["203.0.113.0/24"]);
        assert_eq!(s.virtual_network_rules, vec!["/x/subnets/a"]);
        assert_eq!(s.private_endpoints[0].status, "Pending");
        assert!(!s.private_endpoints[0].description.contains('\u{1b}'), "outside text is cleaned");
        assert_eq!(s.data_endpoints[0].region.as_deref(), Some("eastus"));
        assert_eq!(s.data_endpoints[1].region, None);
        assert!(s.encryption.customer_managed_key);
        assert_eq!(s.user_identities, vec!["/x/ids/cmk"]);
        assert_eq!(s.retention_days, Some(30));
        assert_eq!(s.soft_delete_days, None);
        assert_eq!(s.replicas[0].region, "westus", "home first");
    }

    #[test]
    fn the_doctor_finds_what_the_guides_name() {
        let reg = registry(vec![
            replica("westus2", true, ReplicaState::Ready, false),
            replica("eastus", false, ReplicaState::Ready, false),
            replica("westeurope", false, ReplicaState::Ready, true),
            replica("brazilsouth", false, ReplicaState::Provisioning, false),
        ]);
        let mut doc = json!({ "properties": { "privateEndpointConnections": [
            { "name": "pe1", "properties": { "privateLinkServiceConnectionState": { "status": "Pending" } } }
        ] } });
        let s = settings_from(&reg, &doc, Utc::now());
        let now = Utc::now();
        let mut busy = HashMap::new();
        busy.insert("brazilsouth".to_string(), now - chrono::Duration::minutes(45));
        let f = diagnose(&s, &busy, now, chrono::Duration::minutes(30));
        let c = codes(&f);
        assert!(c.contains(&("ReplicaStuck".into(), Some("brazilsouth".into()))), "{c:?}");
        assert!(
            f.iter().find(|x| x.code == "ReplicaStuck").is_some_and(|x| x.detail.contains("privateLinkServiceProxies")),
            "the private endpoint cause is named"
        );
        assert!(c.contains(&("ZoneRedundancyMissing".into(), Some("eastus".into()))));
        assert!(!c.contains(&("ZoneRedundancyMissing".into(), Some("westeurope".into()))), "already zone redundant");
        assert!(!c.contains(&("ZoneRedundancyMissing".into(), Some("brazilsouth".into()))), "a busy replica is not offered a recreate");
        assert!(c.contains(&("PrivateEndpointWithoutDataEndpoints".into(), None)));
        assert!(c.contains(&("PrivateEndpointNotApproved".into(), None)));
        assert_eq!(f[0].severity, Severity::Critical, "critical first");
        let home = f.iter().find(|x| x.code == "ZoneRedundancyMissing" && x.region.as_deref() == Some("westus2")).expect("home finding");
        assert_eq!(home.fix, None, "the home region's zones are create-time only: no recreate");

        // Not stuck yet: no finding.
        busy.insert("brazilsouth".to_string(), now - chrono::Duration::minutes(5));
        assert!(!codes(&diagnose(&s, &busy, now, chrono::Duration::minutes(30))).iter().any(|(c, _)| c == "ReplicaStuck"));

        // Public access off and nothing approved: no way in.
        doc["properties"]["publicNetworkAccess"] = json!("Disabled");
        doc["properties"]["networkRuleBypassOptions"] = json!("None");
        let s = settings_from(&reg, &doc, Utc::now());
        let c = codes(&diagnose(&s, &HashMap::new(), now, chrono::Duration::minutes(30)));
        assert!(c.contains(&("NoNetworkPath".into(), None)));
        assert!(c.contains(&("TrustedServicesBlocked".into(), None)));
    }

    #[test]
    fn a_degraded_home_region_is_named() {
        let reg = registry(vec![replica("westus", true, ReplicaState::Failed, false), replica("eastus", false, ReplicaState::Ready, true)]);
        let s = settings_from(&reg, &json!({ "properties": {} }), Utc::now());
        let f = diagnose(&s, &HashMap::new(), Utc::now(), chrono::Duration::minutes(30));
        let home = f.iter().find(|x| x.code == "HomeRegionDegraded").expect("finding");
        assert!(home.detail.contains("pulls and pushes are still served"));
    }
}
