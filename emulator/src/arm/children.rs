//! Child resources kept as their ARM JSON: webhooks (per replica location),
//! connected registries, scope maps, tokens, export/import pipelines and
//! pipeline runs, with their LROs and actions.

use std::{sync::Arc, time::Instant};

use axum::{
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

use super::{async_op_response, list_page, location_response, merge, registries, ArmError, Req};
use crate::{
    world::{valid_arm_name, valid_arm_name_with, Child, Outcome, PollStyle, Registry, World},
    Shared,
};

/// (path segment lower-case, ARM type suffix, operation prefix)
const KINDS: &[(&str, &str, &str)] = &[
    ("webhooks", "webhooks", "webhooks"),
    ("connectedregistries", "connectedRegistries", "connectedregistries"),
    ("scopemaps", "scopeMaps", "scopemaps"),
    ("tokens", "tokens", "tokens"),
    ("exportpipelines", "exportPipelines", "exportpipelines"),
    ("importpipelines", "importPipelines", "importpipelines"),
    ("pipelineruns", "pipelineRuns", "pipelineruns"),
    ("tasks", "tasks", "tasks"),
];

pub fn is_kind(seg: &str) -> bool {
    KINDS.iter().any(|(k, _, _)| *k == seg.to_ascii_lowercase())
}

fn type_name(kind: &str) -> &'static str {
    KINDS.iter().find(|(k, _, _)| *k == kind).map(|(_, t, _)| *t).unwrap_or("unknown")
}

fn name_ok(kind: &str, name: &str) -> bool {
    match kind {
        "scopemaps" => valid_arm_name_with(name, &['-', '_']),
        "tokens" => valid_arm_name_with(name, &['-']),
        "tasks" => valid_arm_name_with(name, &['-', '_']),
        _ => valid_arm_name(name),
    }
}

/// Renders a child as ARM returns it.
pub fn render(world: &World, reg: &Registry, c: &Child) -> Value {
    let now = Instant::now();
    let mut v = c.body.clone();
    v["id"] = json!(format!("{}/{}/{}", reg.arm_id(&world.subscription_id), type_name(&c.kind), c.name));
    v["name"] = json!(c.name);
    v["type"] = json!(format!("Microsoft.ContainerRegistry/registries/{}", type_name(&c.kind)));
    let state = if c.deleting_at.is_some() {
        "Deleting"
    } else if now < c.ready_at {
        "Creating"
    } else {
        "Succeeded"
    };
    v["properties"]["provisioningState"] = json!(state);
    match c.kind.as_str() {
        "connectedregistries" => {
            let p = &mut v["properties"];
            if p["activation"].is_null() {
                p["activation"] = json!({ "status": "Inactive" });
            }
            if p["connectionState"].is_null() {
                p["connectionState"] = json!("Offline");
            }
            if p["logging"].is_null() {
                p["logging"] = json!({ "logLevel": "Information", "auditLogStatus": "Disabled" });
            }
            if p["loginServer"].is_null() {
                p["loginServer"] = json!({ "host": format!("{}.{}.connected.local", c.name, reg.name), "tls": { "status": "Enabled" } });
            }
            p["version"] = json!("2.0.0");
            if !p["statusDetails"].is_array() {
                p["statusDetails"] = json!([]);
            }
        }
        "exportpipelines" | "importpipelines" => {
            let tenant = world.tenant_id.clone();
            if let Some(id) = v.get_mut("identity").and_then(Value::as_object_mut) {
                let t = id.get("type").and_then(Value::as_str).unwrap_or("").to_string();
                if t.contains("SystemAssigned") {
                    id.entry("principalId").or_insert(json!(format!("{}", uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, c.name.as_bytes()))));
                    id.entry("tenantId").or_insert(json!(tenant));
                }
                if let Some(u) = id.get_mut("userAssignedIdentities").and_then(Value::as_object_mut) {
                    for (k, ident) in u.iter_mut() {
                        let pid = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, k.as_bytes()).to_string();
                        if !ident.is_object() {
                            *ident = json!({});
                        }
                        ident["principalId"] = json!(pid);
                        ident["clientId"] = json!(pid);
                    }
                }
            }
            if c.kind == "importpipelines" && v["properties"]["trigger"].is_null() {
                v["properties"]["trigger"] = json!({ "sourceTrigger": { "status": "Enabled" } });
            }
        }
        "pipelineruns" => {
            v["properties"]["response"] = super::pipelines::response(world, reg, c);
        }
        "scopemaps" => {
            v["properties"]["type"] = json!("UserDefined");
            v["properties"]["creationDate"] = json!(c.created_at.to_rfc3339());
        }
        "tokens" => {
            v["properties"]["creationDate"] = json!(c.created_at.to_rfc3339());
            if v["properties"]["status"].is_null() {
                v["properties"]["status"] = json!("enabled");
            }
        }
        _ => {}
    }
    v
}

pub fn list(shared: &Arc<Shared>, name: &str, kind: &str, req: &Req) -> Result<Response, ArmError> {
    let kind = kind.to_ascii_lowercase();
    let mut world = shared.world();
    world.tick();
    let reg = registries::find_any(&world, name).ok_or_else(|| ArmError::not_found(format!("Registry '{name}' was not found.")))?;
    let value = reg.children.values().filter(|c| c.kind == kind).map(|c| render(&world, reg, c)).collect();
    Ok(list_page(shared, req, value))
}

/// One child resource a request names.
struct ChildRef<'a> {
    /// The registry's name as the request spells it, and as the world keys it.
    name: &'a str,
    reg_key: String,
    /// Lower-cased resource type segment (`webhooks`, …) and the child's name.
    kind: String,
    child: &'a str,
    key: (String, String),
}

impl ChildRef<'_> {
    fn not_found(&self) -> ArmError {
        ArmError::not_found(format!(
            "The Resource 'Microsoft.ContainerRegistry/registries/{}/{}/{}' was not found.",
            self.name,
            type_name(&self.kind),
            self.child
        ))
    }

    /// The prefix of this kind's operation ids.
    fn op_prefix(&self) -> &'static str {
        KINDS.iter().find(|(k, _, _)| *k == self.kind).map(|(_, _, p)| *p).unwrap_or("ops")
    }

    fn exists(&self, world: &World) -> bool {
        world.registries.get(&self.reg_key).is_some_and(|r| r.children.contains_key(&self.key))
    }

    /// The child as ARM returns it.
    fn rendered(&self, world: &World) -> Result<Value, ArmError> {
        let reg = registries::find_any(world, self.name).ok_or_else(|| self.not_found())?;
        let c = reg.children.get(&self.key).ok_or_else(|| self.not_found())?;
        Ok(render(world, reg, c))
    }

    /// The child's ARM path (under the registry's).
    fn path(&self, world: &World) -> Result<String, ArmError> {
        let reg = world.registries.get(&self.reg_key).ok_or_else(|| self.not_found())?;
        Ok(format!("{}/{}/{}", reg.arm_id(&world.subscription_id), type_name(&self.kind), self.child))
    }
}

pub async fn handle(shared: &Arc<Shared>, name: &str, kind: &str, child: &str, req: &Req) -> Result<Response, ArmError> {
    let kind = kind.to_ascii_lowercase();
    let r = ChildRef { name, reg_key: name.to_ascii_lowercase(), key: (kind.clone(), child.to_ascii_lowercase()), kind, child };
    let mut world = shared.world();
    world.tick();
    if registries::find_any(&world, name).is_none() {
        return Err(ArmError::not_found(format!("Registry '{name}' was not found.")));
    }
    match req.method {
        Method::GET => Ok(Json(r.rendered(&world)?).into_response()),
        Method::PUT => put(shared, &mut world, &r, req),
        Method::PATCH => patch(shared, &mut world, &r, req),
        Method::DELETE => delete(shared, &mut world, &r, req),
        _ => Err(ArmError::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "Method not allowed.")),
    }
}

/// A PUT body checked for its kind; what is secret (a webhook's service URI
/// and headers) is taken out of the body and returned apart.
fn checked_body(world: &World, r: &ChildRef, body: &Value) -> Result<(Value, Value), ArmError> {
    let mut body = body.clone();
    let mut secrets = json!({});
    match r.kind.as_str() {
        "webhooks" => {
            let loc = body["location"].as_str().unwrap_or_default().to_string();
            let region = registries::validate_location(Some(&loc))?;
            let reg = registries::find_any(world, r.name).ok_or_else(|| r.not_found())?;
            if reg.replication_in(&region.name).is_none() {
                return Err(ArmError::bad_request(
                    "InvalidWebhookLocation",
                    format!("Webhook location '{loc}' must be the location of one of the registry's replications."),
                ));
            }
            body["location"] = json!(region.name);
            let uri = body["properties"]["serviceUri"].as_str().unwrap_or_default().to_string();
            if uri.is_empty() {
                return Err(ArmError::bad_request("InvalidRequestContent", "properties.serviceUri is required."));
            }
            if body["properties"]["actions"].as_array().is_none_or(|a| a.is_empty()) {
                return Err(ArmError::bad_request("InvalidRequestContent", "properties.actions is required."));
            }
            secrets = json!({
                "serviceUri": uri,
                "customHeaders": body["properties"]["customHeaders"].clone(),
            });
            if let Some(p) = body["properties"].as_object_mut() {
                p.remove("serviceUri");
                p.remove("customHeaders");
                p.entry("status").or_insert(json!("enabled"));
                p.entry("scope").or_insert(json!(""));
            }
        }
        "connectedregistries" => {
            let mode = body["properties"]["mode"].as_str().unwrap_or_default();
            if !["ReadWrite", "ReadOnly", "Registry", "Mirror"].contains(&mode) {
                return Err(ArmError::bad_request("InvalidRequestContent", "properties.mode must be one of ReadWrite, ReadOnly, Registry, Mirror."));
            }
            let reg = registries::find_any(world, r.name).ok_or_else(|| r.not_found())?;
            if !reg.is_premium() {
                return Err(ArmError::bad_request(
                    "SkuNotSupported",
                    format!("Connected registries require the Premium SKU; registry '{}' is {}.", reg.name, reg.sku),
                ));
            }
            if reg.props.get("dataEndpointEnabled") != Some(&json!(true)) {
                return Err(ArmError::bad_request(
                    "DataEndpointNotEnabled",
                    format!("Connected registries require a dedicated data endpoint; enable dataEndpointEnabled on registry '{}'.", reg.name),
                ));
            }
            if body["properties"]["parent"]["syncProperties"].is_null() {
                return Err(ArmError::bad_request("InvalidRequestContent", "properties.parent.syncProperties is required."));
            }
        }
        _ => {}
    }
    if let Some(p) = body["properties"].as_object_mut() {
        p.remove("provisioningState");
    }
    Ok((body, secrets))
}

/// Create (201 and an operation) or replace (200).
fn put(shared: &Arc<Shared>, world: &mut World, r: &ChildRef, req: &Req) -> Result<Response, ArmError> {
    if !name_ok(&r.kind, r.child) {
        return Err(ArmError::bad_request("InvalidResourceName", format!("Resource name '{}' is invalid.", r.child)));
    }
    let (body, mut secrets) = checked_body(world, r, &req.body)?;
    let exists = r.exists(world);
    // A pipeline run starts when it is created, and again when its
    // forceUpdateTag changes; otherwise a PUT of the same run changes nothing.
    let mut import_job = None;
    let mut restart = false;
    if r.kind == "pipelineruns" {
        let old_tag = world.registries.get(&r.reg_key).and_then(|g| g.children.get(&r.key)).map(|c| c.body["properties"]["forceUpdateTag"].clone());
        restart = !exists || old_tag.as_ref() != Some(&body["properties"]["forceUpdateTag"]);
        if !restart {
            return Ok((StatusCode::OK, Json(r.rendered(world)?)).into_response());
        }
        let (run_secrets, job) = super::pipelines::start(world, &r.reg_key, &body)?;
        secrets = run_secrets;
        import_job = job;
    }
    let ready_at = if exists { Instant::now() } else { world.clock.after(world.timings.child_create) };
    let op = world.new_operation(r.op_prefix(), PollStyle::AsyncOperation, Some(ready_at), Some(Outcome::Succeeded));
    let path = r.path(world)?;
    let reg = world.registries.get_mut(&r.reg_key).ok_or_else(|| r.not_found())?;
    let entry = reg.children.entry(r.key.clone()).or_insert_with(|| Child {
        kind: r.kind.clone(),
        name: r.child.to_string(),
        body: json!({}),
        secrets: json!({}),
        created_at: chrono::Utc::now(),
        ready_at,
        deleting_at: None,
        events: Vec::new(),
    });
    entry.body = body;
    if !secrets.as_object().is_none_or(|o| o.is_empty()) {
        entry.secrets = secrets;
    }
    if restart && exists {
        entry.created_at = chrono::Utc::now();
        entry.ready_at = Instant::now();
    }
    let body = r.rendered(world)?;
    if let Some(job) = import_job {
        super::pipelines::spawn_import(shared.clone(), r.child.to_string(), job);
    }
    if exists {
        Ok((StatusCode::OK, Json(body)).into_response())
    } else {
        Ok(async_op_response(shared, StatusCode::CREATED, &path, &op, &req.api_version, body))
    }
}

/// Merge-patch; secrets of a webhook go to its secrets.
fn patch(shared: &Arc<Shared>, world: &mut World, r: &ChildRef, req: &Req) -> Result<Response, ArmError> {
    if matches!(r.kind.as_str(), "exportpipelines" | "importpipelines" | "pipelineruns") {
        return Err(ArmError::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "PATCH is not supported for this resource type."));
    }
    let done = world.clock.after(world.timings.child_create);
    let op = world.new_operation(r.op_prefix(), PollStyle::AsyncOperation, Some(done), Some(Outcome::Succeeded));
    let path = r.path(world)?;
    let reg = world.registries.get_mut(&r.reg_key).ok_or_else(|| r.not_found())?;
    let c = reg.children.get_mut(&r.key).ok_or_else(|| r.not_found())?;
    let mut patch = req.body.clone();
    if r.kind == "webhooks" {
        if let Some(p) = patch["properties"].as_object_mut() {
            if let Some(u) = p.remove("serviceUri") {
                c.secrets["serviceUri"] = u;
            }
            if let Some(h) = p.remove("customHeaders") {
                c.secrets["customHeaders"] = h;
            }
        }
    }
    if r.kind == "connectedregistries" {
        // syncProperties live under parent in the resource.
        if let Some(sp) = patch["properties"].as_object_mut().and_then(|p| p.remove("syncProperties")) {
            merge(&mut c.body["properties"]["parent"]["syncProperties"], &sp);
        }
    }
    merge(&mut c.body, &patch);
    Ok(async_op_response(shared, StatusCode::CREATED, &path, &op, &req.api_version, r.rendered(world)?))
}

/// 202 and a Location operation; 204 when there is nothing to delete.
fn delete(shared: &Arc<Shared>, world: &mut World, r: &ChildRef, req: &Req) -> Result<Response, ArmError> {
    if !r.exists(world) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let done = world.clock.after(world.timings.child_delete);
    let op = world.new_operation(r.op_prefix(), PollStyle::Location, Some(done), Some(Outcome::Succeeded));
    let path = format!("{}/operationStatuses/{op}", r.path(world)?);
    if let Some(c) = world.registries.get_mut(&r.reg_key).and_then(|reg| reg.children.get_mut(&r.key)) {
        c.deleting_at = Some(done);
    }
    Ok(location_response(shared, &path, &req.api_version))
}

/// POST actions: webhooks ping/listEvents/getCallbackConfig, connected registry deactivate.
pub async fn action(shared: &Arc<Shared>, name: &str, kind: &str, child: &str, action: &str, req: &Req) -> Result<Response, ArmError> {
    let kind = kind.to_ascii_lowercase();
    let key = (kind.clone(), child.to_ascii_lowercase());
    let nf = || ArmError::not_found(format!("The Resource 'Microsoft.ContainerRegistry/registries/{name}/{}/{child}' was not found.", type_name(&kind)));
    match (kind.as_str(), action) {
        ("webhooks", "getcallbackconfig") => {
            let world = shared.world();
            let reg = registries::find_any(&world, name).ok_or_else(nf)?;
            let c = reg.children.get(&key).ok_or_else(nf)?;
            Ok(Json(json!({
                "serviceUri": c.secrets["serviceUri"],
                "customHeaders": if c.secrets["customHeaders"].is_null() { json!({}) } else { c.secrets["customHeaders"].clone() },
            }))
            .into_response())
        }
        ("webhooks", "listevents") => {
            let world = shared.world();
            let reg = registries::find_any(&world, name).ok_or_else(nf)?;
            let c = reg.children.get(&key).ok_or_else(nf)?;
            let mut events = c.events.clone();
            events.reverse();
            Ok(list_page(shared, req, events))
        }
        ("webhooks", "ping") => {
            let (target, registry_login) = {
                let world = shared.world();
                let reg = registries::find_any(&world, name).ok_or_else(nf)?;
                let c = reg.children.get(&key).ok_or_else(nf)?;
                (c.secrets.clone(), reg.login_server.clone())
            };
            let id = uuid::Uuid::new_v4().to_string();
            let content = json!({
                "id": id,
                "timestamp": chrono::Utc::now().to_rfc3339(),
                "action": "ping",
                "request": { "id": uuid::Uuid::new_v4().to_string(), "host": registry_login, "method": "POST", "useragent": "regatlas-emulator" },
            });
            crate::webhooks::deliver(shared.clone(), name.to_string(), key, target, content).await;
            Ok(Json(json!({ "id": id })).into_response())
        }
        ("connectedregistries", "deactivate") => {
            let mut world = shared.world();
            let done = world.clock.after(world.timings.child_create);
            let op = world.new_operation("connectedregistries", PollStyle::Location, Some(done), Some(Outcome::Succeeded));
            let sub = world.subscription_id.clone();
            let reg = world.registries.get_mut(&name.to_ascii_lowercase()).ok_or_else(nf)?;
            let path = format!("{}/connectedRegistries/{child}/operationStatuses/{op}", reg.arm_id(&sub));
            let c = reg.children.get_mut(&key).ok_or_else(nf)?;
            c.body["properties"]["activation"] = json!({ "status": "Inactive" });
            c.body["properties"]["connectionState"] = json!("Offline");
            Ok(location_response(shared, &path, &req.api_version))
        }
        _ => Err(ArmError::bad_request("InvalidResourceType", format!("The action '{action}' is not supported on {kind}."))),
    }
}
