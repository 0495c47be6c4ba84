//! `registries/{name}/replications`: geo-replicas as long-running operations.
//! A new replica goes Creating → Succeeded (displayStatus Provisioning →
//! Syncing → Ready); syncing lasts in proportion to the registry's bytes.

use std::{sync::Arc, time::Instant};

use axum::{
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

use super::{async_op_response, list_page, location_response, registries, ArmError, Req};
use crate::{
    world::{valid_arm_name, Outcome, PollStyle, Registry, ReplicaPhase, Replication, World},
    Shared,
};

/// Renders a replication as ARM returns it.
pub fn render(world: &World, reg: &Registry, rep: &Replication) -> Value {
    let now = Instant::now();
    let outage = world.faults.region_outages.contains(&rep.location);
    let phase = rep.phase(now, outage);
    let (state, display, message) = match phase {
        ReplicaPhase::Provisioning => ("Creating", "Provisioning", "The replication is provisioning.".to_string()),
        ReplicaPhase::Syncing => ("Succeeded", "Syncing", "The replication is syncing content from the home region.".to_string()),
        ReplicaPhase::Ready => ("Succeeded", "Ready", "The replication is ready.".to_string()),
        ReplicaPhase::Updating => ("Updating", "Ready", "The replication is being updated.".to_string()),
        ReplicaPhase::Deleting => ("Deleting", "Deleting", "The replication is being deleted.".to_string()),
        ReplicaPhase::Outage => {
            ("Succeeded", "Unavailable", format!("The region '{}' is experiencing an outage; the replica is not serving requests.", rep.location))
        }
    };
    let message = world.faults.status_messages.get(&rep.location).cloned().unwrap_or(message);
    json!({
        "id": format!("{}/replications/{}", reg.arm_id(&world.subscription_id), rep.name),
        "name": rep.name,
        "type": "Microsoft.ContainerRegistry/registries/replications",
        "location": rep.location,
        "tags": rep.tags,
        "properties": {
            "provisioningState": state,
            "status": {
                "displayStatus": display,
                "message": message,
                "timestamp": chrono::Utc::now().to_rfc3339(),
            },
            "regionEndpointEnabled": rep.region_endpoint_enabled,
            "zoneRedundancy": rep.zone_redundancy,
        },
        "systemData": {
            "createdAt": rep.created_at.to_rfc3339(),
            "createdByType": "Application",
            "lastModifiedAt": rep.created_at.to_rfc3339(),
            "lastModifiedByType": "Application"
        }
    })
}

pub fn list(shared: &Arc<Shared>, name: &str, req: &Req) -> Result<Response, ArmError> {
    let mut world = shared.world();
    world.tick();
    let reg = registries::find_any(&world, name)
        .ok_or_else(|| ArmError::not_found(format!("The Resource 'Microsoft.ContainerRegistry/registries/{name}' was not found.")))?;
    let value = reg.replications.values().map(|r| render(&world, reg, r)).collect();
    Ok(list_page(shared, req, value))
}

pub async fn handle(shared: &Arc<Shared>, rg: &str, name: &str, rep: &str, req: &Req) -> Result<Response, ArmError> {
    match req.method {
        Method::GET => {
            let mut world = shared.world();
            world.tick();
            let reg = registries::find(&world, rg, name)?;
            let r = reg.replications.get(&rep.to_ascii_lowercase()).ok_or_else(|| not_found(name, rep))?;
            Ok(Json(render(&world, reg, r)).into_response())
        }
        Method::PUT => create(shared, rg, name, rep, req).await,
        Method::PATCH => update(shared, rg, name, rep, req),
        Method::DELETE => delete(shared, rg, name, rep, req),
        _ => Err(ArmError::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "Method not allowed.")),
    }
}

fn not_found(reg: &str, rep: &str) -> ArmError {
    ArmError::not_found(format!("The Resource 'Microsoft.ContainerRegistry/registries/{reg}/replications/{rep}' was not found."))
}

fn busy(phase: ReplicaPhase) -> bool {
    matches!(phase, ReplicaPhase::Provisioning | ReplicaPhase::Updating | ReplicaPhase::Deleting)
}

async fn create(shared: &Arc<Shared>, rg: &str, name: &str, rep: &str, req: &Req) -> Result<Response, ArmError> {
    if !valid_arm_name(rep) {
        return Err(ArmError::bad_request("InvalidResourceName", format!("Resource name '{rep}' is invalid. It must be 5-50 alphanumeric characters.")));
    }
    let region = registries::validate_location(req.body["location"].as_str())?;
    let zr = req.body["properties"]["zoneRedundancy"].as_str().unwrap_or("Disabled").to_string();
    if zr != "Enabled" && zr != "Disabled" {
        return Err(ArmError::bad_request("InvalidRequestContent", format!("zoneRedundancy '{zr}' must be Enabled or Disabled.")));
    }
    if zr == "Enabled" && !region.has_zones() {
        return Err(ArmError::bad_request("ZoneRedundancyNotSupported", format!("Zone redundancy is not supported in region '{}'.", region.name)));
    }
    let endpoint_enabled = req.body["properties"]["regionEndpointEnabled"].as_bool().unwrap_or(true);
    // Validate against current state before binding anything.
    {
        let mut world = shared.world();
        world.tick();
        let reg = registries::find(&world, rg, name)?;
        if !reg.is_premium() {
            return Err(ArmError::bad_request("SkuNotSupported", format!("Geo-replication requires the Premium SKU; registry '{}' is {}.", reg.name, reg.sku)));
        }
        if let Some(existing) = reg.replications.get(&rep.to_ascii_lowercase()) {
            if existing.location != region.name {
                return Err(ArmError::bad_request(
                    "InvalidReplicationLocationUpdate",
                    format!("The location of replication '{rep}' is '{}' and cannot be changed.", existing.location),
                ));
            }
            let phase = existing.phase(Instant::now(), false);
            if busy(phase) {
                return Err(ArmError::conflict("AnotherOperationInProgress", format!("Another operation is in progress on replication '{rep}'.")));
            }
            // Idempotent re-PUT.
            return Ok((StatusCode::OK, Json(render(&world, reg, existing))).into_response());
        }
        if let Some(other) = reg.replication_in(&region.name) {
            return Err(ArmError::conflict(
                "ReplicationAlreadyExistsInLocation",
                format!("Registry '{}' already has replication '{}' in location '{}'.", reg.name, other.name, region.name),
            ));
        }
    }
    let (_, endpoints) = shared.bind_endpoints(name, std::slice::from_ref(&region.name)).await?;
    let mut world = shared.world();
    let stuck = world.faults.stuck_creating.contains(&region.name);
    let provisioned = world.clock.after(world.timings.replica_provision);
    let reg_key = name.to_ascii_lowercase();
    let sync_secs = {
        let reg = world.registries.get(&reg_key).ok_or_else(|| not_found(name, rep))?;
        world.sync_secs_for(reg)
    };
    let synced = provisioned + world.clock.real(sync_secs);
    let op = world.new_operation(
        "replications",
        PollStyle::AsyncOperation,
        if stuck { None } else { Some(provisioned) },
        if stuck { None } else { Some(Outcome::Succeeded) },
    );
    let sub = world.subscription_id.clone();
    let reg = world.registries.get_mut(&reg_key).ok_or_else(|| not_found(name, rep))?;
    if reg.replication_in(&region.name).is_some() {
        return Err(ArmError::conflict("ReplicationAlreadyExistsInLocation", format!("A replication in '{}' already exists.", region.name)));
    }
    reg.content.seed_region(&region.name, synced);
    reg.replications.insert(
        rep.to_ascii_lowercase(),
        Replication {
            name: rep.to_string(),
            location: region.name.clone(),
            tags: req.body.get("tags").cloned().unwrap_or(json!({})),
            region_endpoint_enabled: endpoint_enabled,
            zone_redundancy: zr,
            home: false,
            created_at: chrono::Utc::now(),
            provisioned_at: if stuck { None } else { Some(provisioned) },
            synced_at: if stuck { None } else { Some(synced) },
            updating_until: None,
            deleting_at: None,
            endpoint: endpoints.first().cloned().unwrap_or_default(),
        },
    );
    let path = format!("{}/replications/{rep}", reg.arm_id(&sub));
    let reg = registries::find(&world, rg, name)?;
    let r = reg.replications.get(&rep.to_ascii_lowercase()).ok_or_else(|| not_found(name, rep))?;
    let body = render(&world, reg, r);
    tracing::info!(registry = name, replication = rep, region = %region.name, "replication creating");
    Ok(async_op_response(shared, StatusCode::CREATED, &path, &op, &req.api_version, body))
}

fn update(shared: &Arc<Shared>, rg: &str, name: &str, rep: &str, req: &Req) -> Result<Response, ArmError> {
    let mut world = shared.world();
    world.tick();
    {
        let reg = registries::find(&world, rg, name)?;
        let r = reg.replications.get(&rep.to_ascii_lowercase()).ok_or_else(|| not_found(name, rep))?;
        if busy(r.phase(Instant::now(), false)) {
            return Err(ArmError::conflict("AnotherOperationInProgress", format!("Another operation is in progress on replication '{rep}'.")));
        }
    }
    if let Some(p) = req.body["properties"].as_object() {
        if let Some(k) = p.keys().find(|k| k.as_str() != "regionEndpointEnabled") {
            return Err(ArmError::bad_request("InvalidRequestContent", format!("The property '{k}' cannot be updated.")));
        }
    }
    let done = world.clock.after(world.timings.replica_update);
    let op = world.new_operation("replications", PollStyle::AsyncOperation, Some(done), Some(Outcome::Succeeded));
    let sub = world.subscription_id.clone();
    let reg = world.registries.get_mut(&name.to_ascii_lowercase()).ok_or_else(|| not_found(name, rep))?;
    let path = format!("{}/replications/{rep}", reg.arm_id(&sub));
    let r = reg.replications.get_mut(&rep.to_ascii_lowercase()).ok_or_else(|| not_found(name, rep))?;
    if let Some(b) = req.body["properties"]["regionEndpointEnabled"].as_bool() {
        r.region_endpoint_enabled = b;
    }
    if let Some(t) = req.body.get("tags") {
        r.tags = t.clone();
    }
    r.updating_until = Some(done);
    let reg = registries::find(&world, rg, name)?;
    let r = reg.replications.get(&rep.to_ascii_lowercase()).ok_or_else(|| not_found(name, rep))?;
    let body = render(&world, reg, r);
    tracing::info!(registry = name, replication = rep, "replication updating");
    Ok(async_op_response(shared, StatusCode::CREATED, &path, &op, &req.api_version, body))
}

fn delete(shared: &Arc<Shared>, rg: &str, name: &str, rep: &str, req: &Req) -> Result<Response, ArmError> {
    let mut world = shared.world();
    world.tick();
    let (home, phase) = {
        let reg = registries::find(&world, rg, name)?;
        match reg.replications.get(&rep.to_ascii_lowercase()) {
            None => return Ok(StatusCode::NO_CONTENT.into_response()),
            Some(r) => (r.home, r.phase(Instant::now(), false)),
        }
    };
    if home {
        return Err(ArmError::bad_request(
            "CannotDeleteHomeReplication",
            format!("Replication '{rep}' represents the registry's home region and cannot be deleted."),
        ));
    }
    if phase == ReplicaPhase::Deleting || phase == ReplicaPhase::Updating {
        return Err(ArmError::conflict("AnotherOperationInProgress", format!("Another operation is in progress on replication '{rep}'.")));
    }
    let done = world.clock.after(world.timings.replica_delete);
    let op = world.new_operation("replications", PollStyle::Location, Some(done), Some(Outcome::Succeeded));
    let sub = world.subscription_id.clone();
    let reg = world.registries.get_mut(&name.to_ascii_lowercase()).ok_or_else(|| not_found(name, rep))?;
    let path = format!("{}/replications/{rep}/operationStatuses/{op}", reg.arm_id(&sub));
    let mut region = None;
    if let Some(r) = reg.replications.get_mut(&rep.to_ascii_lowercase()) {
        r.deleting_at = Some(done);
        region = Some(r.location.clone());
    }
    if let Some(region) = region {
        reg.content.drop_region(&region);
    }
    tracing::info!(registry = name, replication = rep, "replication deleting");
    Ok(location_response(shared, &path, &req.api_version))
}
