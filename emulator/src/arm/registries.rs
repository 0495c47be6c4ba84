//! `Microsoft.ContainerRegistry/registries`: list, get, create, update,
//! delete, checkNameAvailability, listCredentials, listUsages.

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use axum::{
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Map, Value};

use super::{async_op_response, list_page, location_response, merge, ArmError, Req};
use crate::{
    oci::store::RegistryContent,
    regions,
    world::{valid_arm_name, Outcome, PollStyle, Registry, Replication, World},
    Shared,
};

const SKUS: &[&str] = &["Basic", "Standard", "Premium"];

/// Settable properties with their defaults, as a new registry has them.
pub fn default_props() -> Map<String, Value> {
    let v = json!({
        "adminUserEnabled": false,
        "networkRuleSet": { "defaultAction": "Allow", "ipRules": [] },
        "policies": {
            "quarantinePolicy": { "status": "disabled" },
            "trustPolicy": { "type": "Notary", "status": "disabled" },
            "retentionPolicy": { "days": 7, "lastUpdatedTime": chrono::Utc::now().to_rfc3339(), "status": "disabled" },
            "exportPolicy": { "status": "enabled" },
            "azureADAuthenticationAsArmPolicy": { "status": "enabled" }
        },
        "encryption": { "status": "disabled" },
        "dataEndpointEnabled": false,
        "publicNetworkAccess": "Enabled",
        "networkRuleBypassOptions": "AzureServices",
        "networkRuleBypassAllowedForTasks": false,
        "zoneRedundancy": "Disabled",
        "anonymousPullEnabled": false,
        "roleAssignmentMode": "LegacyRegistryPermissions"
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Keys a PATCH may change (`RegistryPropertiesUpdateParameters`).
const UPDATABLE: &[&str] = &[
    "adminUserEnabled",
    "networkRuleSet",
    "policies",
    "encryption",
    "dataEndpointEnabled",
    "publicNetworkAccess",
    "networkRuleBypassOptions",
    "networkRuleBypassAllowedForTasks",
    "anonymousPullEnabled",
    "roleAssignmentMode",
    "regionalEndpoints",
];

/// Renders a registry as ARM returns it.
pub fn render(world: &World, reg: &Registry) -> Value {
    let now = Instant::now();
    let state = if reg.deleting_at.is_some() {
        "Deleting"
    } else if now < reg.ready_at {
        "Creating"
    } else {
        "Succeeded"
    };
    let mut props = Value::Object(reg.props.clone());
    props["loginServer"] = json!(reg.login_server);
    props["creationDate"] = json!(reg.created_at.to_rfc3339());
    props["provisioningState"] = json!(state);
    props["status"] = Value::Null;
    // Dedicated data endpoints are named `<registry>.<region>.data.azurecr.io`
    // (shown, not served: the emulator serves layers from its own endpoints).
    let data_endpoints: Vec<Value> = if props["dataEndpointEnabled"] == json!(true) {
        reg.replications.values().map(|r| json!(format!("{}.{}.data.azurecr.io", reg.name.to_ascii_lowercase(), r.location))).collect()
    } else {
        vec![]
    };
    props["dataEndpointHostNames"] = json!(data_endpoints);
    // Regional endpoints (2026-01-01-preview): one host per geo-replica when
    // the registry enables them.
    let regional = props["regionalEndpoints"] == json!("Enabled");
    if props["regionalEndpoints"].is_null() {
        props["regionalEndpoints"] = json!("Disabled");
    }
    props["regionalEndpointHostNames"] = json!(if regional { reg.replications.values().map(|r| json!(r.endpoint)).collect::<Vec<_>>() } else { vec![] });
    // Private endpoint connections are made on the network side; the demo
    // world sets them, and ARM returns them read-only.
    if !props["privateEndpointConnections"].is_array() {
        props["privateEndpointConnections"] = json!([]);
    }
    let mut v = json!({
        "id": reg.arm_id(&world.subscription_id),
        "name": reg.name,
        "type": "Microsoft.ContainerRegistry/registries",
        "location": reg.location,
        "tags": reg.tags,
        "sku": { "name": reg.sku, "tier": reg.sku },
        "properties": props,
        "systemData": {
            "createdAt": reg.created_at.to_rfc3339(),
            "createdByType": "Application",
            "lastModifiedAt": reg.created_at.to_rfc3339(),
            "lastModifiedByType": "Application"
        }
    });
    if let Some(id) = &reg.identity {
        v["identity"] = id.clone();
    }
    v
}

pub fn list(shared: &Arc<Shared>, rg: Option<&str>, req: &Req) -> Result<Response, ArmError> {
    let mut world = shared.world();
    world.tick();
    let value = world.registries.values().filter(|r| rg.is_none_or(|g| r.resource_group.eq_ignore_ascii_case(g))).map(|r| render(&world, r)).collect();
    Ok(list_page(shared, req, value))
}

pub fn check_name(shared: &Arc<Shared>, req: &Req) -> Result<Response, ArmError> {
    let name = req.body["name"].as_str().unwrap_or_default();
    let world = shared.world();
    let (ok, reason, msg) = if !valid_arm_name(name) {
        (false, Some("Invalid"), "The specified resource name must be 5-50 alphanumeric characters.".to_string())
    } else if world.registries.contains_key(&name.to_ascii_lowercase()) {
        (false, Some("AlreadyExists"), format!("The registry {name} is already in use."))
    } else {
        (true, None, String::new())
    };
    let mut v = json!({ "nameAvailable": ok });
    if let Some(r) = reason {
        v["reason"] = json!(r);
        v["message"] = json!(msg);
    }
    Ok(Json(v).into_response())
}

pub async fn handle(shared: &Arc<Shared>, rg: &str, name: &str, req: &Req) -> Result<Response, ArmError> {
    match req.method {
        Method::GET => {
            let mut world = shared.world();
            world.tick();
            let reg = find(&world, rg, name)?;
            Ok(Json(render(&world, reg)).into_response())
        }
        Method::PUT => create(shared, rg, name, req).await,
        Method::PATCH => update(shared, rg, name, req),
        Method::DELETE => delete(shared, rg, name, req),
        _ => Err(ArmError::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "Method not allowed.")),
    }
}

pub fn find<'a>(world: &'a World, rg: &str, name: &str) -> Result<&'a Registry, ArmError> {
    world
        .registries
        .get(&name.to_ascii_lowercase())
        .filter(|r| r.resource_group.eq_ignore_ascii_case(rg) && r.deleting_at.is_none())
        .ok_or_else(|| ArmError::not_found(format!("The Resource 'Microsoft.ContainerRegistry/registries/{name}' under resource group '{rg}' was not found.")))
}

/// Finds a registry by name in any resource group (data plane, import by name).
pub fn find_any<'a>(world: &'a World, name: &str) -> Option<&'a Registry> {
    world.registries.get(&name.to_ascii_lowercase()).filter(|r| r.deleting_at.is_none())
}

fn validate_sku(body: &Value) -> Result<String, ArmError> {
    let sku = body["sku"]["name"].as_str().ok_or_else(|| ArmError::bad_request("InvalidRequestContent", "The property 'sku.name' is required."))?;
    SKUS.iter()
        .find(|s| s.eq_ignore_ascii_case(sku))
        .map(|s| s.to_string())
        .ok_or_else(|| ArmError::bad_request("InvalidSku", format!("The SKU '{sku}' is not valid. Valid SKUs: Basic, Standard, Premium.")))
}

pub fn validate_location(loc: Option<&str>) -> Result<&'static regions::Region, ArmError> {
    let loc = loc.ok_or_else(|| ArmError::bad_request("LocationRequired", "The location property is required for this definition."))?;
    let region = regions::find(loc)
        .ok_or_else(|| ArmError::bad_request("InvalidResourceLocation", format!("The provided location '{loc}' is not a valid Azure region.")))?;
    if !region.can_host() {
        return Err(ArmError::bad_request(
            "LocationNotAvailableForResourceType",
            format!("The provided location '{loc}' is not available for resource type 'Microsoft.ContainerRegistry/registries'."),
        ));
    }
    Ok(region)
}

async fn create(shared: &Arc<Shared>, rg: &str, name: &str, req: &Req) -> Result<Response, ArmError> {
    if !valid_arm_name(name) {
        return Err(ArmError::bad_request("InvalidResourceName", format!("Resource name '{name}' is invalid. It must be 5-50 alphanumeric characters.")));
    }
    let sku = validate_sku(&req.body)?;
    // An existing registry: PUT is an update of the mutable parts.
    {
        let world = shared.world();
        if let Some(existing) = world.registries.get(&name.to_ascii_lowercase()) {
            if !existing.resource_group.eq_ignore_ascii_case(rg) {
                return Err(ArmError::conflict("AlreadyInUse", format!("The registry {name} is already in use.")));
            }
        }
    }
    if shared.world().registries.contains_key(&name.to_ascii_lowercase()) {
        let mut world = shared.world();
        let reg = world.registries.get_mut(&name.to_ascii_lowercase()).ok_or_else(|| ArmError::not_found("registry vanished"))?;
        reg.sku = sku;
        if let Some(tags) = req.body.get("tags") {
            reg.tags = tags.clone();
        }
        if let Some(p) = req.body["properties"].as_object() {
            for k in UPDATABLE {
                if let Some(v) = p.get(*k) {
                    let mut cur = reg.props.get(*k).cloned().unwrap_or(Value::Null);
                    merge(&mut cur, v);
                    reg.props.insert(k.to_string(), cur);
                }
            }
        }
        let reg = find(&world, rg, name)?;
        return Ok((StatusCode::OK, Json(render(&world, reg))).into_response());
    }
    let region = validate_location(req.body["location"].as_str())?;
    let mut props = default_props();
    if let Some(p) = req.body["properties"].as_object() {
        for (k, v) in p {
            if UPDATABLE.contains(&k.as_str()) || k == "zoneRedundancy" {
                let mut cur = props.get(k).cloned().unwrap_or(Value::Null);
                merge(&mut cur, v);
                props.insert(k.clone(), cur);
            }
        }
    }
    let (global, regional) = shared.bind_endpoints(name, std::slice::from_ref(&region.name)).await?;
    let mut world = shared.world();
    let ready_at = world.clock.after(world.timings.registry_create);
    let op = world.new_operation("registries", PollStyle::AsyncOperation, Some(ready_at), Some(Outcome::Succeeded));
    let zr = props.get("zoneRedundancy").and_then(Value::as_str).unwrap_or("Disabled").to_string();
    let mut replications = BTreeMap::new();
    replications.insert(
        region.name.clone(),
        Replication {
            name: region.name.clone(),
            location: region.name.clone(),
            tags: json!({}),
            region_endpoint_enabled: true,
            zone_redundancy: zr,
            home: true,
            created_at: chrono::Utc::now(),
            provisioned_at: Some(ready_at),
            synced_at: Some(ready_at),
            updating_until: None,
            deleting_at: None,
            endpoint: regional.first().cloned().unwrap_or_default(),
        },
    );
    let reg = Registry {
        name: name.to_string(),
        resource_group: rg.to_string(),
        location: region.name.clone(),
        sku,
        tags: req.body.get("tags").cloned().unwrap_or(json!({})),
        identity: req.body.get("identity").cloned(),
        props,
        created_at: chrono::Utc::now(),
        ready_at,
        deleting_at: None,
        replications,
        children: BTreeMap::new(),
        content: RegistryContent::default(),
        login_server: global,
        admin_password: uuid::Uuid::new_v4().simple().to_string(),
    };
    let body = render(&world, &reg);
    let path = reg.arm_id(&world.subscription_id);
    world.registries.insert(name.to_ascii_lowercase(), reg);
    tracing::info!(registry = name, "registry created");
    Ok(async_op_response(shared, StatusCode::CREATED, &path, &op, &req.api_version, body))
}

fn update(shared: &Arc<Shared>, rg: &str, name: &str, req: &Req) -> Result<Response, ArmError> {
    let mut world = shared.world();
    find(&world, rg, name)?;
    if let Some(sku) = req.body["sku"]["name"].as_str() {
        let sku = validate_sku(&json!({"sku": {"name": sku}}))?;
        let reg = world.registries.get(&name.to_ascii_lowercase()).ok_or_else(|| ArmError::not_found(name.to_string()))?;
        if !sku.eq("Premium") && reg.replications.len() > 1 {
            return Err(ArmError::bad_request(
                "CannotDowngradeSku",
                "The registry has geo-replications; delete them before moving to a SKU without geo-replication.",
            ));
        }
    }
    if let Some(p) = req.body["properties"].as_object() {
        if let Some(k) = p.keys().find(|k| !UPDATABLE.contains(&k.as_str())) {
            return Err(ArmError::bad_request("InvalidRequestContent", format!("The property '{k}' cannot be updated.")));
        }
    }
    let done = world.clock.after(world.timings.replica_update);
    let op = world.new_operation("registries", PollStyle::AsyncOperation, Some(done), Some(Outcome::Succeeded));
    let sub = world.subscription_id.clone();
    let reg = world.registries.get_mut(&name.to_ascii_lowercase()).ok_or_else(|| ArmError::not_found(name.to_string()))?;
    if let Some(sku) = req.body["sku"]["name"].as_str() {
        reg.sku = validate_sku(&json!({"sku": {"name": sku}}))?;
    }
    if let Some(tags) = req.body.get("tags") {
        reg.tags = tags.clone();
    }
    if let Some(identity) = req.body.get("identity") {
        reg.identity = Some(identity.clone());
    }
    if let Some(p) = req.body["properties"].as_object() {
        for (k, v) in p {
            let mut cur = reg.props.get(k).cloned().unwrap_or(Value::Null);
            merge(&mut cur, v);
            reg.props.insert(k.clone(), cur);
        }
    }
    let path = reg.arm_id(&sub);
    let reg = find(&world, rg, name)?;
    let mut body = render(&world, reg);
    body["properties"]["provisioningState"] = json!("Updating");
    Ok(async_op_response(shared, StatusCode::CREATED, &path, &op, &req.api_version, body))
}

fn delete(shared: &Arc<Shared>, rg: &str, name: &str, req: &Req) -> Result<Response, ArmError> {
    let mut world = shared.world();
    world.tick();
    if find(&world, rg, name).is_err() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let done = world.clock.after(world.timings.registry_delete);
    let op = world.new_operation("registries", PollStyle::Location, Some(done), Some(Outcome::Succeeded));
    let sub = world.subscription_id.clone();
    let reg = world.registries.get_mut(&name.to_ascii_lowercase()).ok_or_else(|| ArmError::not_found(name.to_string()))?;
    reg.deleting_at = Some(done);
    let path = format!("{}/operationStatuses/{op}", reg.arm_id(&sub));
    Ok(location_response(shared, &path, &req.api_version))
}

pub fn list_credentials(shared: &Arc<Shared>, name: &str) -> Result<Response, ArmError> {
    let world = shared.world();
    let reg = find_any(&world, name).ok_or_else(|| ArmError::not_found(format!("Registry '{name}' was not found.")))?;
    if reg.props.get("adminUserEnabled") != Some(&json!(true)) {
        return Err(ArmError::bad_request("AdminUserDisabled", "The admin user is disabled for this registry. Enable it to list credentials."));
    }
    Ok(Json(json!({
        "username": reg.name,
        "passwords": [
            { "name": "password", "value": reg.admin_password },
            { "name": "password2", "value": format!("{}2", reg.admin_password) }
        ]
    }))
    .into_response())
}

pub fn list_usages(shared: &Arc<Shared>, name: &str) -> Result<Response, ArmError> {
    let world = shared.world();
    let reg = find_any(&world, name).ok_or_else(|| ArmError::not_found(format!("Registry '{name}' was not found.")))?;
    let storage_limit: i64 = match reg.sku.as_str() {
        "Basic" => 10 << 30,
        "Standard" => 100 << 30,
        _ => 500 << 30,
    };
    let webhooks = reg.children.keys().filter(|(k, _)| k == "webhooks").count();
    Ok(Json(json!({ "value": [
        { "name": "Size", "limit": storage_limit, "currentValue": reg.content.total_bytes(), "unit": "Bytes" },
        { "name": "Webhooks", "limit": if reg.is_premium() { 500 } else if reg.sku == "Standard" { 10 } else { 2 }, "currentValue": webhooks, "unit": "Count" },
        { "name": "Geo-replications", "limit": if reg.is_premium() { 60 } else { 0 }, "currentValue": reg.replications.len().saturating_sub(1), "unit": "Count" }
    ]}))
    .into_response())
}
