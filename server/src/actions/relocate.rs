//! Relocation behind the `Backend`: a registry's configuration exported as
//! an ARM template (`exportTemplate` on its resource group, filtered to the
//! registry and its children), a preview of the target registry made from
//! it in the chosen region (what will be created, and what cannot be carried
//! as is, named), and the creation itself (Admin, the new name typed again),
//! run in the background as a `registry.relocate` operation.
//!
//! `preview_from` is a pure function of the template and the source's
//! settings, so every rule is unit-tested without ARM.

use regatlas_app::{
    model::{
        ApiError, CarryIssueView, OperationKind, OperationState, OperationView, PlannedResourceView, RegistrySettingsView, RegistryView, RelocationPreview,
        RelocationRequest, RelocationTemplateView, TemplateResourceView,
    },
    regions,
};
use regatlas_arm::{ACR_API_VERSION, RESOURCES_API_VERSION};
use regatlas_domain::{record::NewOperation, ErrorKind, EventKind, Identity, Role};
use reqwest::Method;
use serde_json::{json, Value};

use super::checks::text;
use super::{ActionError, Console};
use crate::outbound::clean_text;

/// The largest template shown (bytes of pretty JSON).
const MAX_TEMPLATE: usize = 512 * 1024;
/// How long the new registry may take to be created.
const CREATE_LIMIT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The child's own name in a template (`registry/child`).
fn child_name(v: &Value) -> String {
    clean_text(v["name"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default(), 80)
}

fn kind_of(v: &Value) -> String {
    clean_text(v["type"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default(), 60)
}

/// Registry properties a target takes from the source's template (all
/// settable ones; nothing read-only, nothing else the template may hold).
const REGISTRY_PROPERTIES: &[&str] = &[
    "adminUserEnabled",
    "networkRuleSet",
    "policies",
    "encryption",
    "dataEndpointEnabled",
    "publicNetworkAccess",
    "networkRuleBypassOptions",
    "networkRuleBypassAllowedForTasks",
    "zoneRedundancy",
    "anonymousPullEnabled",
    "roleAssignmentMode",
];

/// A user-assigned identity's resource id, as ARM writes it.
fn identity_id(id: &str) -> bool {
    id.len() <= 400
        && id.starts_with("/subscriptions/")
        && id.to_ascii_lowercase().contains("/providers/microsoft.managedidentity/userassignedidentities/")
        && !id.contains("..")
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "/-_.()".contains(c))
}

/// The order steps run in: what others refer to first.
fn step_rank(kind: &str) -> u8 {
    match kind {
        "registry" => 0,
        "replica" => 1,
        "scope map" => 2,
        "token" => 3,
        _ => 4,
    }
}

/// What to create in ARM, step by step: (kind, name, PUT path under the new
/// registry's id or "" for the registry itself, api-version, body).
#[derive(Clone, Debug)]
pub struct Step {
    pub kind: String,
    pub name: String,
    pub path: String,
    pub api_version: &'static str,
    pub body: Value,
}

/// The preview and the steps that carry it out.
pub fn preview_from(source: &RegistryView, settings: &RegistrySettingsView, template: &Value, target: &str, location: &str) -> (RelocationPreview, Vec<Step>) {
    let resources = template["resources"].as_array().cloned().unwrap_or_default();
    let mut creates = Vec::new();
    let mut cannot = Vec::new();
    let mut steps = Vec::new();
    let zones_here = regions::find(location).is_some_and(|r| r.has_zones());
    let carry = |what: &str, name: &str, reason: String| CarryIssueView { what: what.into(), name: name.into(), reason };

    // The registry: its settable properties, in the new region.
    let reg = resources.iter().find(|r| r["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.ContainerRegistry/registries")));
    let preview = |creates, cannot_carry| RelocationPreview {
        source: source.name.clone(),
        target_name: target.into(),
        location: location.into(),
        name_available: true,
        name_message: None,
        creates,
        cannot_carry,
    };
    let Some(reg) = reg else {
        // Never a registry with ARM's defaults (open to everyone) in place of the source's settings.
        cannot.push(carry("registry", &source.name, "ARM's template has no registry resource: nothing is created from it.".into()));
        return (preview(creates, cannot), Vec::new());
    };
    let mut props = json!({});
    for k in REGISTRY_PROPERTIES {
        if let Some(v) = reg["properties"].get(*k) {
            props[*k] = v.clone();
        }
    }
    let sku = reg["sku"]["name"].as_str().unwrap_or(&source.sku).to_string();
    if props["zoneRedundancy"] == json!("Enabled") && !zones_here {
        props["zoneRedundancy"] = json!("Disabled");
        cannot.push(carry("zone redundancy", target, format!("{location} has no availability zones: the new registry is not zone redundant.")));
    }
    for rule in &settings.virtual_network_rules {
        cannot.push(carry(
            "virtual network rule",
            rule.rsplit('/').next().unwrap_or(rule),
            format!("Needs a subnet in {location}'s virtual network; add the rule (or a private endpoint) there."),
        ));
    }
    if let Some(rules) = props["networkRuleSet"].as_object_mut() {
        rules.remove("virtualNetworkRules");
    }
    for pe in &settings.private_endpoints {
        cannot.push(carry(
            "private endpoint",
            &pe.name,
            format!("Private endpoints are made on the network side: create one in a {location} subnet, approve it, and add its DNS records."),
        ));
    }
    if settings.encryption.customer_managed_key {
        cannot.push(carry(
            "customer-managed key",
            settings.encryption.key_id.as_deref().unwrap_or("key"),
            "Carried as is: the same key and identity; check the Key Vault lets the identity in from the new region (or use a key in a vault there).".into(),
        ));
    }
    let admin_user = props["adminUserEnabled"] == json!(true);
    let mut reg_body = json!({ "location": location, "sku": { "name": sku }, "properties": props });
    if let Some(i) = reg.get("identity").filter(|i| i["type"].as_str().is_some_and(|t| t != "None")) {
        // Rebuilt, not copied: the type and checked identity ids only.
        let kind = i["type"].as_str().unwrap_or_default();
        let kind = match kind {
            "SystemAssigned" | "UserAssigned" | "SystemAssigned, UserAssigned" => kind,
            _ => "None",
        };
        let mut users = serde_json::Map::new();
        for id in i["userAssignedIdentities"].as_object().map(|m| m.keys().take(50).cloned().collect::<Vec<_>>()).unwrap_or_default() {
            if identity_id(&id) {
                users.insert(id, json!({}));
            } else {
                cannot.push(carry("identity", &clean_text(&id, 200), "Not a user-assigned identity id: left out.".into()));
            }
        }
        let mut identity = json!({ "type": kind });
        if !users.is_empty() {
            identity["userAssignedIdentities"] = Value::Object(users);
        }
        if kind.contains("SystemAssigned") {
            cannot.push(carry(
                "system-assigned identity",
                target,
                "The new registry gets a new system-assigned identity: grant it what the old one had (Key Vault, storage).".into(),
            ));
        }
        if kind != "None" {
            reg_body["identity"] = identity;
        }
    }
    creates.push(PlannedResourceView {
        kind: "registry".into(),
        name: target.into(),
        location: Some(location.into()),
        detail: format!("{sku}, settings from {} ({} IP rules{})", source.name, settings.ip_rules.len(), if admin_user { ", admin user enabled" } else { "" }),
    });
    steps.push(Step { kind: "registry".into(), name: target.into(), path: String::new(), api_version: ACR_API_VERSION, body: reg_body });

    // Replicas: the source's regions (its home too), but not the new home.
    let mut regions_wanted: Vec<(String, bool)> = resources
        .iter()
        .filter(|r| kind_of(r).eq_ignore_ascii_case("replications"))
        .filter_map(|r| r["location"].as_str().map(|l| (l.to_ascii_lowercase(), r["properties"]["zoneRedundancy"] == json!("Enabled"))))
        .filter_map(|(l, zr)| match regions::find(&l).filter(|x| x.can_host()) {
            Some(x) => Some((x.name.clone(), zr)),
            None => {
                cannot.push(carry("replica", &clean_text(&l, 60), "Not a region that can host a replica.".into()));
                None
            }
        })
        .collect();
    if !source.location.eq_ignore_ascii_case(location) {
        regions_wanted.push((source.location.to_ascii_lowercase(), settings.zone_redundancy));
    }
    regions_wanted.sort();
    regions_wanted.dedup_by(|b, a| {
        if a.0 == b.0 {
            a.1 |= b.1;
            true
        } else {
            false
        }
    });
    // The target's regions: its home and the replicas it will have.
    let mut target_regions: Vec<String> = vec![location.to_ascii_lowercase()];
    for (region, zr) in regions_wanted.into_iter().filter(|(r, _)| !r.eq_ignore_ascii_case(location)) {
        if !sku.eq_ignore_ascii_case("premium") {
            cannot.push(carry("replica", &region, format!("{sku} registries cannot replicate.")));
            continue;
        }
        target_regions.push(region.clone());
        let zr = zr && regions::find(&region).is_some_and(|r| r.has_zones());
        creates.push(PlannedResourceView {
            kind: "replica".into(),
            name: region.clone(),
            location: Some(region.clone()),
            detail: if zr { "zone redundant".into() } else { "not zone redundant".into() },
        });
        steps.push(Step {
            kind: "replica".into(),
            name: region.clone(),
            path: format!("/replications/{region}"),
            api_version: ACR_API_VERSION,
            body: json!({ "location": region, "properties": { "zoneRedundancy": if zr { "Enabled" } else { "Disabled" }, "regionEndpointEnabled": true } }),
        });
    }

    // Children.
    for r in &resources {
        let kind = kind_of(r);
        let name = child_name(r);
        let valid = (5..=50).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        match kind.to_ascii_lowercase().as_str() {
            // Every registry has its system scope maps already.
            "scopemaps" if name.starts_with('_') || r["properties"]["type"] == json!("SystemDefined") => {}
            "scopemaps" if valid => {
                creates.push(PlannedResourceView { kind: "scope map".into(), name: name.clone(), location: None, detail: "the same actions".into() });
                steps.push(Step {
                    kind: "scope map".into(),
                    name: name.clone(),
                    path: format!("/scopeMaps/{name}"),
                    api_version: ACR_API_VERSION,
                    body: json!({ "properties": { "description": r["properties"]["description"], "actions": r["properties"]["actions"] } }),
                });
            }
            "tokens" if valid => {
                let scope = r["properties"]["scopeMapId"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_string();
                let scope_ok = (5..=50).contains(&scope.len()) && scope.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !scope_ok {
                    cannot.push(carry("token", &name, "Its scope map is not one the template carries.".into()));
                    continue;
                }
                creates.push(PlannedResourceView {
                    kind: "token".into(),
                    name: name.clone(),
                    location: None,
                    detail: format!("scope map {scope}, without credentials"),
                });
                cannot.push(carry("token credentials", &name, "Passwords are not exported: generate new ones for the target and hand them out.".into()));
                steps.push(Step {
                    kind: "token".into(),
                    name: name.clone(),
                    path: format!("/tokens/{name}"),
                    api_version: ACR_API_VERSION,
                    body: json!({ "properties": { "scopeMapIdName": scope, "status": r["properties"]["status"] } }),
                });
            }
            "webhooks" => {
                let region = r["location"].as_str().unwrap_or_default().to_ascii_lowercase();
                let presence = name.strip_prefix("regatlas").is_some_and(|rest| regions::find(rest).is_some());
                if presence {
                    cannot.push(carry("webhook", &name, "Presence tracking's own webhook: turn tracking on for the target and it makes its own.".into()));
                } else if !valid || !target_regions.contains(&region) {
                    cannot.push(carry(
                        "webhook",
                        &name,
                        format!("It sends {region}'s events, and the target has no replica there: create it for one of the target's regions."),
                    ));
                } else {
                    creates.push(PlannedResourceView {
                        kind: "webhook".into(),
                        name: name.clone(),
                        location: Some(region.clone()),
                        detail: "its service URI and headers copied from the source through ARM (never shown)".into(),
                    });
                    steps.push(Step {
                        kind: "webhook".into(),
                        name: name.clone(),
                        path: format!("/webhooks/{name}"),
                        api_version: ACR_API_VERSION,
                        body: json!({ "location": region, "properties": {
                            "actions": r["properties"]["actions"], "scope": r["properties"]["scope"].as_str().unwrap_or_default(),
                            "status": r["properties"]["status"].as_str().unwrap_or("enabled"), "copySecretsFrom": name } }),
                    });
                }
            }
            "connectedregistries" => cannot.push(carry(
                "connected registry",
                &name,
                "Its on-premises instance syncs with this registry: create it under the target and activate it again with new settings.".into(),
            )),
            "exportpipelines" | "importpipelines" => {
                cannot.push(carry("transfer pipeline", &name, "Re-create it with its storage and Key Vault (and grant its new identity access).".into()))
            }
            "tasks" => {
                cannot.push(carry("ACR task", &name, "Tasks carry source-control credentials ARM does not export: create it again on the target.".into()))
            }
            "registries" | "replications" => {}
            _ if !valid => cannot.push(carry(&kind, &name, "A name ARM would not accept here.".into())),
            _ => cannot.push(carry(&kind, &name, "Not a resource the relocation carries.".into())),
        }
    }
    steps.sort_by_key(|s| step_rank(&s.kind));
    for e in template["__errors"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        cannot.push(carry("export", "template", clean_text(e, 300)));
    }
    (preview(creates, cannot), steps)
}

impl Console {
    /// The exported template of a registry and its children, with ARM's errors.
    async fn exported(&self, reg: &RegistryView) -> Result<(Value, Vec<String>), ActionError> {
        let arm_id = Console::arm_id(reg);
        let url = self.arm.url(&format!("/subscriptions/{}/resourceGroups/{}/exportTemplate", reg.subscription_id, reg.resource_group), RESOURCES_API_VERSION);
        let mut wanted = vec![json!(arm_id)];
        let mut listing_errors: Vec<String> = Vec::new();
        for kind in ["replications", "webhooks", "scopeMaps", "tokens", "connectedRegistries", "exportPipelines", "importPipelines", "tasks"] {
            let url = match kind {
                "tasks" => self.arm.url(&format!("{arm_id}/tasks"), regatlas_arm::TASKS_API_VERSION),
                _ => self.arm.child_url(&arm_id, kind, None, None),
            };
            let list: Vec<Value> = match self.arm.list(&url).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::info!(kind, error = %e, "not listed for the template");
                    listing_errors.push(format!("{kind} could not be listed ({}): none of them is in the template", e.code().unwrap_or("unreachable")));
                    Vec::new()
                }
            };
            if list.len() > 500 {
                listing_errors.push(format!("{kind}: only the first 500 of {} are in the template", list.len()));
            }
            wanted.extend(list.iter().take(500).filter_map(|c| c["id"].as_str()).map(|id| json!(id)));
        }
        let body = json!({ "resources": wanted, "options": "IncludeParameterDefaultValue,SkipAllParameterization" });
        let r = self.arm.send(Method::POST, &url, Some(&body)).await?;
        let doc: Value = r.json()?;
        let mut errors: Vec<String> = doc["error"]["details"].as_array().into_iter().flatten().take(100).map(|d| text(&d["message"], 300)).collect();
        errors.extend(listing_errors.iter().map(|e| clean_text(e, 300)));
        Ok((doc["template"].clone(), errors))
    }

    pub(super) async fn relocation_template(&self, who: &Identity, registry: &str) -> Result<RelocationTemplateView, ApiError> {
        self.require(who, Role::Viewer, "export a registry's template").await?;
        let reg = self.find(registry).await?;
        let (template, errors) = self.exported(&reg).await?;
        let resources = template["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .take(1000)
            .map(|r| TemplateResourceView {
                kind: text(&r["type"], 100),
                name: text(&r["name"], 120),
                location: r["location"].as_str().map(|l| clean_text(l, 40)),
            })
            .collect();
        let mut pretty = serde_json::to_string_pretty(&template).unwrap_or_default();
        if pretty.len() > MAX_TEMPLATE {
            let mut cut = MAX_TEMPLATE;
            while !pretty.is_char_boundary(cut) {
                cut -= 1;
            }
            pretty.truncate(cut);
            pretty.push_str("\n… (cut: the template is larger than 512 KiB)");
        }
        Ok(RelocationTemplateView { registry: reg.name.clone(), template: pretty, resources, errors })
    }

    async fn plan_relocation(&self, reg: &RegistryView, req: &RelocationRequest) -> Result<(RelocationPreview, Vec<Step>), ApiError> {
        let target = req.target_name.trim();
        if !(5..=50).contains(&target.len()) || !target.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ApiError::new(ErrorKind::Invalid, "InvalidRegistryName", "A registry's name is 5 to 50 letters and digits."));
        }
        let region = regatlas_domain::Region::parse(req.location.trim()).map_err(|e| ApiError::new(ErrorKind::Invalid, "UnknownRegion", e.to_string()))?;
        let info = regions::find(region.as_str())
            .filter(|r| r.can_host())
            .ok_or_else(|| ApiError::new(ErrorKind::Invalid, "UnknownRegion", format!("'{}' is not a region that can host a registry.", region.as_str())))?;
        let (mut template, errors) = self.exported(reg).await?;
        template["__errors"] = json!(errors);
        let doc = self.arm.registry_document(&Console::arm_id(reg)).await.map_err(ActionError::from)?;
        let settings = super::settings::settings_from(reg, &doc, chrono::Utc::now());
        let (mut preview, steps) = preview_from(reg, &settings, &template, target, &info.name);
        // Registry names are global: ask ARM.
        let check = self
            .arm
            .send(
                Method::POST,
                &self.arm.url(&format!("/subscriptions/{}/providers/Microsoft.ContainerRegistry/checkNameAvailability", reg.subscription_id), ACR_API_VERSION),
                Some(&json!({ "name": target, "type": "Microsoft.ContainerRegistry/registries" })),
            )
            .await
            .and_then(|r| r.json::<Value>())
            .map_err(ActionError::from)?;
        preview.name_available = check["nameAvailable"].as_bool().unwrap_or(false);
        preview.name_message = check["message"].as_str().filter(|m| !m.is_empty()).map(|m| clean_text(m, 300));
        Ok((preview, steps))
    }

    pub(super) async fn relocation_preview(&self, who: &Identity, registry: &str, req: RelocationRequest) -> Result<RelocationPreview, ApiError> {
        self.require(who, Role::Viewer, "preview a relocation").await?;
        let reg = self.find(registry).await?;
        Ok(self.plan_relocation(&reg, &req).await?.0)
    }

    pub(super) async fn relocation_create(&self, who: &Identity, registry: &str, req: RelocationRequest) -> Result<OperationView, ApiError> {
        self.require(who, Role::Admin, "create a relocation target").await?;
        let reg = self.find(registry).await?;
        let (preview, steps) = self.plan_relocation(&reg, &req).await?;
        if steps.is_empty() {
            return Err(ApiError::new(ErrorKind::Conflict, "TemplateIncomplete", "ARM's template has no registry resource; nothing is created from it."));
        }
        if req.confirm.as_deref().map(str::trim) != Some(preview.target_name.as_str()) {
            return Err(ApiError::new(
                ErrorKind::Invalid,
                "ConfirmationMismatch",
                format!("Type the new registry's name, {}, to confirm.", preview.target_name),
            ));
        }
        // The same relocation again, after it failed half-way: its steps are idempotent PUTs.
        let again = !preview.name_available
            && self
                .storage
                .operations(&regatlas_domain::record::OperationFilter {
                    registry_id: Some(reg.id.clone()),
                    kind: Some(OperationKind::RegistryRelocate),
                    state: Some(OperationState::Failed),
                    limit: 50,
                    before: None,
                })
                .await?
                .iter()
                .any(|o| o.target.eq_ignore_ascii_case(&preview.target_name));
        if !preview.name_available && !again {
            return Err(ApiError::new(
                ErrorKind::Conflict,
                "NameNotAvailable",
                preview.name_message.clone().unwrap_or_else(|| format!("The name {} is taken.", preview.target_name)),
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let new = NewOperation {
            id: id.clone(),
            actor: who.principal.name.clone(),
            actor_key: who.principal.key(),
            kind: OperationKind::RegistryRelocate,
            registry_id: reg.id.clone(),
            target: preview.target_name.clone(),
            params: json!({ "target": preview.target_name, "location": preview.location, "steps": steps.len(), "cannot_carry": preview.cannot_carry.len() }),
        };
        let Some(op) = self.storage.insert_operation(&new).await? else {
            return Err(ApiError::new(ErrorKind::Conflict, "OperationInProgress", format!("A relocation to {} is already under way.", preview.target_name)));
        };
        self.storage.operation_started(&id, None).await?;
        self.audit(
            who,
            EventKind::ChildAction,
            format!("{} started relocating {} to {} in {}", who.principal.name, reg.name, preview.target_name, preview.location),
            json!({ "registry": reg.name, "target": preview.target_name, "location": preview.location, "creates": preview.creates.len(), "cannot_carry": preview.cannot_carry }),
        )
        .await;
        let target_id = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ContainerRegistry/registries/{}",
            reg.subscription_id, reg.resource_group, preview.target_name
        );
        let me = self.clone();
        let (source, source_id) = (reg.name.clone(), Console::arm_id(&reg));
        tokio::spawn(async move { me.carry_out(id, source, source_id, target_id, steps, again).await });
        let op = self.storage.operation(&op.id).await?.unwrap_or(op);
        self.publish_op(op.clone(), format!("relocation of {} to {} started", reg.name, preview.target_name)).await;
        Ok(crate::views::operation(op))
    }

    /// Creates the target, then its replicas, scope maps and tokens, recording progress.
    async fn carry_out(&self, id: String, source: String, source_id: String, target_id: String, steps: Vec<Step>, again: bool) {
        let n = steps.len().max(1) as f64;
        let mut failure: Option<(String, String)> = None;
        let mut done: Vec<String> = Vec::new();
        // A registry of that name made meanwhile by someone else is never overwritten.
        if !again {
            match self.arm.send(Method::GET, &self.arm.url(&target_id, ACR_API_VERSION), None).await {
                Err(regatlas_arm::ArmError::Api { status: 404, .. }) => {}
                Ok(_) => failure = Some(("TargetExists".into(), "A registry of that name exists now; nothing was changed.".into())),
                Err(e) => {
                    failure = Some((e.code().map(|c| clean_text(c, 80)).unwrap_or_else(|| "ArmUnavailable".into()), "the target could not be checked".into()))
                }
            }
        }
        for (i, step) in steps.iter().enumerate().filter(|_| failure.is_none()) {
            if *self.shutdown.borrow() {
                failure = Some((
                    "ShutDown".into(),
                    format!(
                        "The server stopped after {}; run the relocation again to finish.",
                        if done.is_empty() { "nothing".into() } else { done.join(", ") }
                    ),
                ));
                break;
            }
            let url = self.arm.url(&format!("{target_id}{}", step.path), step.api_version);
            let mut body = step.body.clone();
            if let Some(scope) = body["properties"].as_object_mut().and_then(|p| p.remove("scopeMapIdName")) {
                body["properties"]["scopeMapId"] = json!(format!("{target_id}/scopeMaps/{}", scope.as_str().unwrap_or_default()));
            }
            // A webhook's secrets go from the source's webhook to the target's, through ARM only.
            if let Some(from) = body["properties"].as_object_mut().and_then(|p| p.remove("copySecretsFrom")) {
                let from = from.as_str().unwrap_or_default().to_string();
                match self
                    .arm
                    .send(Method::POST, &self.arm.webhook_url(&source_id, &from, Some("getCallbackConfig")), None)
                    .await
                    .and_then(|r| r.json::<Value>())
                {
                    Ok(config) => {
                        body["properties"]["serviceUri"] = config["serviceUri"].clone();
                        if config["customHeaders"].is_object() {
                            body["properties"]["customHeaders"] = config["customHeaders"].clone();
                        }
                    }
                    Err(e) => {
                        failure = Some((
                            e.code().map(|c| clean_text(c, 80)).unwrap_or_else(|| "ArmUnavailable".into()),
                            format!("webhook {from}: its callback could not be read"),
                        ));
                        break;
                    }
                }
            }
            let result = match self.arm.begin_at(Method::PUT, &url, Some(body)).await {
                // The registry and scope maps must exist before what refers to them.
                Ok(acc) if step.kind == "registry" => self.arm.settle(acc, CREATE_LIMIT).await,
                Ok(acc) if step.kind == "scope map" => self.arm.settle(acc, std::time::Duration::from_secs(120)).await,
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                let code = clean_text(e.code().unwrap_or("ArmUnavailable"), 80);
                // ARM's text may quote what it was sent: a webhook's is never kept.
                let what = if step.kind == "webhook" { format!("{} {}: {code}", step.kind, step.name) } else { format!("{} {}: {e}", step.kind, step.name) };
                let made = if done.is_empty() { "nothing".to_string() } else { done.join(", ") };
                failure = Some((code, clean_text(&format!("{what}. Made before: {made}. Run the relocation again to finish."), 1000)));
                break;
            }
            done.push(format!("{} {}", step.kind, step.name));
            if self.storage.operation_progress(&id, ((i + 1) as f64 / n * 100.0).floor()).await.unwrap_or(false) {
                if let Ok(Some(op)) = self.storage.operation(&id).await {
                    self.publish_op(op, format!("relocation of {source}: {} {} created", step.kind, step.name)).await;
                }
            }
        }
        let (state, err) = match &failure {
            None => (OperationState::Succeeded, None),
            Some((c, m)) => (OperationState::Failed, Some((c.as_str(), m.as_str()))),
        };
        if let Err(e) = self.storage.operation_finished(&id, state, err).await {
            tracing::error!(operation = %id, error = %e, "cannot record a relocation's outcome");
        }
        self.poller.refresh_now();
        if let Ok(Some(op)) = self.storage.operation(&id).await {
            let summary = match &failure {
                None => format!("relocation of {source} created {}", op.target),
                Some((c, m)) => format!("relocation of {source} failed: {c}: {m}"),
            };
            self.publish_op(op, summary).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use regatlas_app::model::{EncryptionView, Health, PrivateEndpointView};

    use super::*;

    fn source() -> RegistryView {
        RegistryView {
            id: "/r/contosowesteu".into(),
            name: "contosowesteu".into(),
            subscription_id: "s".into(),
            resource_group: "rg".into(),
            location: "westeurope".into(),
            sku: "Premium".into(),
            login_server: None,
            provisioning_state: None,
            zone_redundancy: false,
            health: Health::Healthy,
            replicas: vec![],
            children: vec![],
            changed_at: String::new(),
            confirmed_at: String::new(),
            gone: false,
            poll_error: None,
        }
    }

    fn settings() -> RegistrySettingsView {
        let doc = json!({ "properties": { "networkRuleSet": { "defaultAction": "Deny", "ipRules": [{ "value": "203.0.113.0/24" }], "virtualNetworkRules": [{ "id": "/x/subnets/build-agents" }] },
            "privateEndpointConnections": [{ "name": "pe1", "properties": { "privateLinkServiceConnectionState": { "status": "Approved" } } }] } });
        let mut s = super::super::settings::settings_from(&source(), &doc, chrono::Utc::now());
        s.encryption = EncryptionView { customer_managed_key: true, key_id: Some("https://kv/keys/k".into()), identity_client_id: None, key_rotation: false };
        s.private_endpoints =
            vec![PrivateEndpointView { name: "pe1".into(), endpoint: "/x/pe1".into(), status: "Approved".into(), description: String::new() }];
        s
    }

    #[test]
    fn without_a_registry_in_the_template_nothing_is_created() {
        let (p, steps) = preview_from(&source(), &settings(), &json!({ "resources": [] }), "contosowus", "westus");
        assert!(steps.is_empty());
        assert_eq!(p.cannot_carry[0].what, "registry");
    }

    #[test]
    fn only_settable_properties_and_checked_identities_are_carried() {
        let template = json!({ "resources": [
            { "type": "Microsoft.ContainerRegistry/registries", "name": "contosowesteu", "sku": { "name": "Premium" },
              "properties": { "adminUserEnabled": true, "loginServer": "evil.example", "privateEndpointConnections": [{}], "publicNetworkAccess": "Disabled" },
              "identity": { "type": "UserAssigned", "userAssignedIdentities": {
                  "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/cmk": { "principalId": "x" },
                  "/subscriptions/s/../../x?y": {} } } },
            { "type": "Microsoft.ContainerRegistry/registries/replications", "name": "contosowesteu/nowhere", "location": "atlantis", "properties": {} },
            { "type": "Microsoft.ContainerRegistry/registries/scopeMaps", "name": "contosowesteu/_repositories_pull", "properties": { "type": "SystemDefined" } }
        ]});
        let (p, steps) = preview_from(&source(), &settings(), &template, "contosowus", "westus");
        let body = &steps[0].body;
        assert_eq!(body["properties"]["publicNetworkAccess"], "Disabled");
        assert!(body["properties"].get("loginServer").is_none() && body["properties"].get("privateEndpointConnections").is_none());
        let ids = body["identity"]["userAssignedIdentities"].as_object().expect("ids");
        assert_eq!(ids.len(), 1);
        assert_eq!(ids.values().next(), Some(&json!({})));
        assert!(p.cannot_carry.iter().any(|c| c.what == "identity"));
        assert!(p.cannot_carry.iter().any(|c| c.what == "replica" && c.name == "atlantis"));
        assert!(!steps.iter().any(|s| s.name == "_repositories_pull"), "system scope maps exist everywhere");
        assert!(p.creates[0].detail.contains("admin user enabled"));
    }

    #[test]
    fn the_preview_names_what_is_created_and_what_cannot_be_carried() {
        let template = json!({ "resources": [
            { "type": "Microsoft.ContainerRegistry/registries", "name": "contosowesteu", "sku": { "name": "Premium" },
              "properties": { "zoneRedundancy": "Enabled", "networkRuleSet": { "defaultAction": "Deny", "ipRules": [{ "value": "203.0.113.0/24" }], "virtualNetworkRules": [{ "id": "/x/subnets/build-agents" }] } },
              "identity": { "type": "UserAssigned", "userAssignedIdentities": { "/ids/cmk": {} } } },
            { "type": "Microsoft.ContainerRegistry/registries/replications", "name": "contosowesteu/eastus", "location": "eastus", "properties": { "zoneRedundancy": "Enabled" } },
            { "type": "Microsoft.ContainerRegistry/registries/replications", "name": "contosowesteu/westus", "location": "westus", "properties": {} },
            { "type": "Microsoft.ContainerRegistry/registries/scopeMaps", "name": "contosowesteu/pull-only", "properties": { "actions": ["repositories/a/content/read"] } },
            { "type": "Microsoft.ContainerRegistry/registries/tokens", "name": "contosowesteu/ci-token", "properties": { "scopeMapId": "/x/scopeMaps/pull-only", "status": "enabled" } },
            { "type": "Microsoft.ContainerRegistry/registries/webhooks", "name": "contosowesteu/teamhook", "location": "westeurope", "properties": { "actions": ["push"] } },
            { "type": "Microsoft.ContainerRegistry/registries/webhooks", "name": "contosowesteu/regatlaswesteurope", "location": "westeurope", "properties": {} },
            { "type": "Microsoft.ContainerRegistry/registries/webhooks", "name": "contosowesteu/asiahook", "location": "japaneast", "properties": {} },
            { "type": "Microsoft.ContainerRegistry/registries/connectedRegistries", "name": "contosowesteu/edge01", "properties": {} },
            { "type": "Microsoft.ContainerRegistry/registries/tasks", "name": "contosowesteu/nightly", "properties": {} }
        ]});
        // To West US (no zones): the source's home becomes a replica, West US is the new home.
        let (p, steps) = preview_from(&source(), &settings(), &template, "contosowus", "westus");
        let created: Vec<(String, String)> = p.creates.iter().map(|c| (c.kind.clone(), c.name.clone())).collect();
        assert_eq!(created[0], ("registry".into(), "contosowus".into()));
        assert!(created.contains(&("replica".into(), "westeurope".into())), "{created:?}");
        assert!(created.contains(&("replica".into(), "eastus".into())));
        assert!(!created.contains(&("replica".into(), "westus".into())), "the new home is not a replica");
        assert!(created.contains(&("scope map".into(), "pull-only".into())));
        assert!(created.contains(&("token".into(), "ci-token".into())));
        let ranks: Vec<u8> = steps.iter().map(|s| step_rank(&s.kind)).collect();
        assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "steps in dependency order: {ranks:?}");
        assert!(created.contains(&("webhook".into(), "teamhook".into())), "a webhook in a region the target has is created");
        let cannot: Vec<(String, String)> = p.cannot_carry.iter().map(|c| (c.what.clone(), c.name.clone())).collect();
        for want in [
            ("zone redundancy", "contosowus"),
            ("virtual network rule", "build-agents"),
            ("private endpoint", "pe1"),
            ("customer-managed key", "https://kv/keys/k"),
            ("token credentials", "ci-token"),
            ("webhook", "regatlaswesteurope"),
            ("webhook", "asiahook"),
            ("connected registry", "edge01"),
            ("ACR task", "nightly"),
        ] {
            assert!(cannot.contains(&(want.0.to_string(), want.1.to_string())), "{want:?} in {cannot:?}");
        }
        let reg = &steps[0].body;
        assert_eq!(reg["location"], "westus");
        assert_eq!(reg["properties"]["zoneRedundancy"], "Disabled");
        assert!(reg["properties"]["networkRuleSet"].get("virtualNetworkRules").is_none(), "VNet rules are left out");
        assert_eq!(reg["properties"]["networkRuleSet"]["ipRules"][0]["value"], "203.0.113.0/24", "IP rules are carried");
        assert!(steps.iter().position(|s| s.kind == "scope map") < steps.iter().position(|s| s.kind == "token"), "scope maps before the tokens that use them");
        let hook = steps.iter().find(|s| s.kind == "webhook").expect("webhook step");
        assert_eq!(hook.body["properties"]["copySecretsFrom"], "teamhook");
        assert!(hook.body["properties"].get("serviceUri").is_none(), "no secret is in the plan");
    }
}
