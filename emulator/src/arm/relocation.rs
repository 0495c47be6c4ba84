//! What relocating a registry touches outside `Microsoft.ContainerRegistry`:
//! `exportTemplate` on a resource group (Microsoft.Resources), diagnostic
//! settings (Microsoft.Insights) and role assignments
//! (Microsoft.Authorization) at a registry's scope, and AKS clusters
//! (Microsoft.ContainerService) whose kubelet identities pull from it.
//! Shapes follow the public REST references; the data lives in the world.

use std::sync::Arc;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

use super::{list_page, registries, ArmError, Req};
use crate::Shared;

/// The built-in role `AcrPull`.
pub const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

const SCHEMA: &str = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#";

/// Settable registry properties a template carries (read-only ones are not deployable).
const TEMPLATE_PROPS: &[&str] = &[
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

/// `POST /subscriptions/{sub}/resourceGroups/{rg}/exportTemplate`: the
/// template of the resources named (a registry and its children), with
/// literal names (`SkipAllParameterization`).
pub fn export_template(shared: &Arc<Shared>, rg: &str, req: &Req) -> Result<Response, ArmError> {
    let wanted: Vec<String> = req.body["resources"].as_array().into_iter().flatten().filter_map(Value::as_str).map(|s| s.to_ascii_lowercase()).collect();
    if wanted.is_empty() {
        return Err(ArmError::bad_request("InvalidRequestContent", "resources must name at least one resource id (or '*')."));
    }
    let world = shared.world();
    let sub = world.subscription_id.clone();
    let mut resources = Vec::new();
    let mut details = Vec::new();
    for reg in world.registries.values().filter(|r| r.resource_group.eq_ignore_ascii_case(rg) && r.deleting_at.is_none()) {
        let id = reg.arm_id(&sub);
        let all = wanted.iter().any(|w| w == "*");
        let take = |child: &str| all || wanted.iter().any(|w| *w == child.to_ascii_lowercase() || *w == id.to_ascii_lowercase());
        if !take(&id) {
            continue;
        }
        let rendered = registries::render(&world, reg);
        let mut props = serde_json::Map::new();
        for k in TEMPLATE_PROPS {
            if let Some(v) = rendered["properties"].get(*k) {
                props.insert(k.to_string(), v.clone());
            }
        }
        let mut r = json!({
            "type": "Microsoft.ContainerRegistry/registries",
            "apiVersion": "2025-11-01",
            "name": reg.name,
            "location": reg.location,
            "sku": { "name": reg.sku },
            "properties": props,
        });
        if let Some(i) = &reg.identity {
            let mut i = i.clone();
            if let Some(u) = i.get_mut("userAssignedIdentities").and_then(Value::as_object_mut) {
                for v in u.values_mut() {
                    *v = json!({});
                }
            }
            r["identity"] = i;
        }
        resources.push(r);
        let depends = json!([format!("[resourceId('Microsoft.ContainerRegistry/registries', '{}')]", reg.name)]);
        for rep in reg.replications.values().filter(|p| !p.home && p.deleting_at.is_none()) {
            let cid = format!("{id}/replications/{}", rep.name);
            if take(&cid) {
                resources.push(json!({
                    "type": "Microsoft.ContainerRegistry/registries/replications",
                    "apiVersion": "2025-11-01",
                    "name": format!("{}/{}", reg.name, rep.name),
                    "location": rep.location,
                    "dependsOn": depends,
                    "properties": { "regionEndpointEnabled": rep.region_endpoint_enabled, "zoneRedundancy": rep.zone_redundancy },
                }));
            }
        }
        for c in reg.children.values().filter(|c| c.deleting_at.is_none()) {
            let (ty, version) = match c.kind.as_str() {
                "webhooks" => ("webhooks", "2025-11-01"),
                "scopemaps" => ("scopeMaps", "2025-11-01"),
                "tokens" => ("tokens", "2025-11-01"),
                "connectedregistries" => ("connectedRegistries", "2025-11-01"),
                "exportpipelines" => ("exportPipelines", "2025-06-01-preview"),
                "importpipelines" => ("importPipelines", "2025-06-01-preview"),
                "tasks" => ("tasks", "2019-06-01-preview"),
                _ => continue,
            };
            let cid = format!("{id}/{ty}/{}", c.name);
            if !take(&cid) {
                continue;
            }
            let mut body = c.body.clone();
            if let Some(p) = body["properties"].as_object_mut() {
                for ro in ["provisioningState", "creationDate", "lastSyncTime", "connectionState", "activation", "statusDetails", "loginServer", "version"] {
                    p.remove(ro);
                }
            }
            if c.kind == "webhooks" {
                // A webhook's service URI and headers are secrets: ARM does not export them.
                details.push(json!({ "code": "ExportTemplateProviderError", "target": cid,
                    "message": format!("The webhook '{}' was exported without its serviceUri and customHeaders (secrets).", c.name) }));
            }
            let mut r = json!({
                "type": format!("Microsoft.ContainerRegistry/registries/{ty}"),
                "apiVersion": version,
                "name": format!("{}/{}", reg.name, c.name),
                "dependsOn": depends,
                "properties": body["properties"].clone(),
            });
            if let Some(l) = body.get("location") {
                r["location"] = l.clone();
            }
            if let Some(i) = body.get("identity") {
                r["identity"] = i.clone();
            }
            resources.push(r);
        }
    }
    if resources.is_empty() {
        return Err(ArmError::not_found(format!("None of the resources named were found in resource group '{rg}'.")));
    }
    let mut out = json!({
        "template": { "$schema": SCHEMA, "contentVersion": "1.0.0.0", "parameters": {}, "variables": {}, "resources": resources },
    });
    if !details.is_empty() {
        out["error"] = json!({ "code": "ExportTemplateCompletedWithErrors", "message": "Export template operation completed with errors. Some resources were not exported.", "details": details });
    }
    Ok((StatusCode::OK, Json(out)).into_response())
}

/// `GET {registry}/providers/Microsoft.Insights/diagnosticSettings`.
pub fn diagnostic_settings(shared: &Arc<Shared>, name: &str, req: &Req) -> Result<Response, ArmError> {
    let world = shared.world();
    let reg = registries::find_any(&world, name).ok_or_else(|| ArmError::not_found(format!("Registry '{name}' was not found.")))?;
    let id = reg.arm_id(&world.subscription_id);
    let value: Vec<Value> = world
        .diagnostic_settings
        .get(&name.to_ascii_lowercase())
        .into_iter()
        .flatten()
        .map(|d| {
            let mut d = d.clone();
            let n = d["name"].as_str().unwrap_or("setting").to_string();
            d["id"] = json!(format!("{id}/providers/microsoft.insights/diagnosticSettings/{n}"));
            d["type"] = json!("Microsoft.Insights/diagnosticSettings");
            d
        })
        .collect();
    // diagnosticSettings lists are not paged.
    let _ = req;
    Ok(Json(json!({ "value": value })).into_response())
}

/// Role assignments at a registry's scope: `GET` lists them, `PUT
/// …/roleAssignments/{guid}` adds one.
pub fn role_assignments(shared: &Arc<Shared>, name: &str, assignment: Option<&str>, req: &Req) -> Result<Response, ArmError> {
    let mut world = shared.world();
    let reg = registries::find_any(&world, name).ok_or_else(|| ArmError::not_found(format!("Registry '{name}' was not found.")))?;
    let scope = reg.arm_id(&world.subscription_id);
    let sub = world.subscription_id.clone();
    match (assignment, &req.method) {
        (None, m) if m == axum::http::Method::GET => {
            let value: Vec<Value> =
                world.role_assignments.iter().filter(|a| a["properties"]["scope"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(&scope))).cloned().collect();
            drop(world);
            Ok(list_page(shared, req, value))
        }
        (Some(guid), m) if m == axum::http::Method::PUT => {
            if uuid::Uuid::parse_str(guid).is_err() {
                return Err(ArmError::bad_request(
                    "InvalidRoleAssignmentId",
                    format!("The role assignment ID '{guid}' is not valid. The role assignment ID must be a GUID."),
                ));
            }
            let role = req.body["properties"]["roleDefinitionId"].as_str().unwrap_or_default().to_string();
            let principal = req.body["properties"]["principalId"].as_str().unwrap_or_default().to_string();
            if role.is_empty() || principal.is_empty() {
                return Err(ArmError::bad_request("InvalidRequestContent", "properties.roleDefinitionId and properties.principalId are required."));
            }
            if world.role_assignments.iter().any(|a| {
                a["properties"]["scope"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(&scope))
                    && a["properties"]["principalId"] == json!(principal)
                    && a["properties"]["roleDefinitionId"].as_str().is_some_and(|r| r.eq_ignore_ascii_case(&role))
            }) {
                return Err(ArmError::conflict("RoleAssignmentExists", "The role assignment already exists."));
            }
            let a = assignment_doc(&sub, &scope, guid, &role, &principal);
            world.role_assignments.push(a.clone());
            Ok((StatusCode::CREATED, Json(a)).into_response())
        }
        _ => Err(ArmError::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "Method not allowed.")),
    }
}

pub fn assignment_doc(sub: &str, scope: &str, guid: &str, role: &str, principal: &str) -> Value {
    json!({
        "id": format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{guid}"),
        "name": guid,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "roleDefinitionId": if role.starts_with('/') { role.to_string() } else { format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}") },
            "principalId": principal,
            "principalType": "ServicePrincipal",
            "scope": scope,
        }
    })
}

/// `GET /subscriptions/{sub}/providers/Microsoft.ContainerService/managedClusters`.
pub fn managed_clusters(shared: &Arc<Shared>, req: &Req) -> Result<Response, ArmError> {
    let value = shared.world().aks_clusters.clone();
    Ok(list_page(shared, req, value))
}
