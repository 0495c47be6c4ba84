//! The demo world, after the ACR documentation's story: `contoso` (Premium,
//! westus, replicas in eastus, canadacentral and westeurope, a connected
//! registry on-prem), `contosowesteu` (Premium, westeurope) to be
//! consolidated into `contoso`, and `contosostd` (Standard, cannot
//! replicate). Each holds real small images: several repositories and tags,
//! a multi-platform index, an untagged manifest and a signature referrer.

use std::{collections::BTreeMap, collections::HashMap, sync::Arc, time::Instant};

use bytes::Bytes;
use serde_json::json;

use crate::{
    arm::registries::default_props,
    oci::store::{sha256_digest, RegistryContent},
    world::{Child, Registry, Replication},
    Shared,
};

const RG: &str = "contoso-rg";

pub async fn build(shared: &Arc<Shared>) {
    add(shared, "contoso", "westus", "Premium", &["eastus", "canadacentral", "westeurope"]).await;
    add(shared, "contosowesteu", "westeurope", "Premium", &[]).await;
    add(shared, "contosostd", "eastus", "Standard", &[]).await;

    let mut world = shared.world();
    let sub = world.subscription_id.clone();
    let regions_of = |r: &Registry| r.replications.values().map(|p| p.location.clone()).collect::<Vec<_>>();
    if let Some(r) = world.registries.get_mut("contoso") {
        r.props.insert("regionalEndpoints".into(), json!("Enabled"));
        r.props.insert("dataEndpointEnabled".into(), json!(true));
        if let Some(p) = r.replications.get_mut("westeurope") {
            p.zone_redundancy = "Enabled".into();
        }
        let regions = regions_of(r);
        fill(&mut r.content, &regions, &[("hello-world", &["latest", "v1"]), ("web/frontend", &["1.0.0", "1.1.0", "latest"]), ("tools/base", &["2024.10"])]);
        // Connected registries in several states and modes, each with the
        // sync token and scope map `az acr connected-registry create` makes.
        let now = chrono::Utc::now();
        let ago = |secs: i64| (now - chrono::Duration::seconds(secs)).to_rfc3339();
        connected(
            r,
            &sub,
            Connected {
                name: "contosoOnPrem",
                mode: "ReadOnly",
                state: "Online",
                active: true,
                last_sync: Some(ago(600)),
                schedule: "0 */2 * * *",
                window: Some("PT1H"),
                repos: &["hello-world", "web/frontend"],
                parent: None,
                client_tokens: &["onprem-pull"],
            },
        );
        connected(
            r,
            &sub,
            Connected {
                name: "contosoFactory",
                mode: "ReadWrite",
                state: "Offline",
                active: true,
                last_sync: Some(ago(2 * 86_400)),
                schedule: "0 * * * *",
                window: Some("PT30M"),
                repos: &["tools/base"],
                parent: None,
                client_tokens: &[],
            },
        );
        connected(
            r,
            &sub,
            Connected {
                name: "contosoFloor",
                mode: "ReadOnly",
                state: "Syncing",
                active: true,
                last_sync: Some(ago(120)),
                schedule: "* * * * *",
                window: None,
                repos: &["tools/base"],
                parent: Some("contosoFactory"),
                client_tokens: &[],
            },
        );
        connected(
            r,
            &sub,
            Connected {
                name: "contosoEdge",
                mode: "ReadOnly",
                state: "Offline",
                active: false,
                last_sync: None,
                schedule: "0 9 * * *",
                window: Some("PT3H"),
                repos: &["hello-world"],
                parent: None,
                client_tokens: &[],
            },
        );
    }
    transfer_demo(&mut world, &sub);
    relocation_demo(&mut world, &sub);
    if let Some(r) = world.registries.get_mut("contosowesteu") {
        locked_down(r, &sub);
        team_webhook(r);
        let regions = regions_of(r);
        fill(
            &mut r.content,
            &regions,
            &[
                ("hello-world", &["latest", "v1", "v2"]),
                ("payments/api", &["3.2.0", "3.3.0"]),
                ("payments/worker", &["3.3.0"]),
                ("web/frontend", &["1.1.0", "1.2.0"]),
            ],
        );
    }
    if let Some(r) = world.registries.get_mut("contosostd") {
        let regions = regions_of(r);
        fill(&mut r.content, &regions, &[("batch/job", &["1.0"])]);
    }
}

struct Connected<'a> {
    name: &'a str,
    mode: &'a str,
    state: &'a str,
    active: bool,
    last_sync: Option<String>,
    schedule: &'a str,
    window: Option<&'a str>,
    repos: &'a [&'a str],
    parent: Option<&'a str>,
    client_tokens: &'a [&'a str],
}

fn child(kind: &str, name: &str, body: serde_json::Value) -> ((String, String), Child) {
    (
        (kind.to_string(), name.to_ascii_lowercase()),
        Child {
            kind: kind.into(),
            name: name.into(),
            body,
            secrets: json!({}),
            created_at: chrono::Utc::now(),
            ready_at: Instant::now(),
            deleting_at: None,
            events: vec![],
        },
    )
}

/// A connected registry with its sync scope map and token (and client tokens).
fn connected(r: &mut Registry, sub: &str, c: Connected) {
    let id = r.arm_id(sub);
    let write = c.mode == "ReadWrite";
    let mut actions: Vec<String> = Vec::new();
    for repo in c.repos {
        actions.push(format!("repositories/{repo}/content/read"));
        actions.push(format!("repositories/{repo}/metadata/read"));
        if write {
            actions.extend([
                format!("repositories/{repo}/content/write"),
                format!("repositories/{repo}/metadata/write"),
                format!("repositories/{repo}/content/delete"),
            ]);
        }
    }
    for a in ["config/read", "config/write", "message/read", "message/write"] {
        actions.push(format!("gateway/{}/{a}", c.name));
    }
    let scope = format!("{}-sync-scope-map", c.name);
    let token = format!("{}-sync-token", c.name);
    let (k, v) = child("scopemaps", &scope, json!({ "properties": { "description": format!("Sync scope map of {}", c.name), "actions": actions } }));
    r.children.insert(k, v);
    let (k, v) = child("tokens", &token, json!({ "properties": { "scopeMapId": format!("{id}/scopeMaps/{scope}"), "status": "enabled" } }));
    r.children.insert(k, v);
    let mut client_ids = Vec::new();
    for t in c.client_tokens {
        let (k, v) = child("tokens", t, json!({ "properties": { "scopeMapId": format!("{id}/scopeMaps/_repositories_pull"), "status": "enabled" } }));
        r.children.insert(k, v);
        client_ids.push(format!("{id}/tokens/{t}"));
    }
    let mut sync = json!({ "tokenId": format!("{id}/tokens/{token}"), "schedule": c.schedule, "messageTtl": "P2D" });
    if let Some(w) = c.window {
        sync["syncWindow"] = json!(w);
    }
    if let Some(t) = &c.last_sync {
        sync["lastSyncTime"] = json!(t);
    }
    let mut parent = json!({ "syncProperties": sync });
    if let Some(p) = c.parent {
        parent["id"] = json!(format!("{id}/connectedRegistries/{p}"));
    }
    let mut status_details = json!([]);
    if c.state == "Offline" && c.active {
        status_details = json!([{ "type": "Connectivity", "code": "ParentUnreachable", "description": "The connected registry cannot reach its parent's data endpoint.",
            "timestamp": c.last_sync.clone().unwrap_or_default(), "correlationId": uuid::Uuid::new_v4().to_string() }]);
    }
    let mut props = json!({
        "mode": c.mode,
        "parent": parent,
        "activation": { "status": if c.active { "Active" } else { "Inactive" } },
        "connectionState": c.state,
        "clientTokenIds": client_ids,
        "notificationsList": c.repos.iter().map(|r| format!("{r}:*:*")).collect::<Vec<_>>(),
        "logging": { "logLevel": "Information", "auditLogStatus": if write { "Enabled" } else { "Disabled" } },
        "garbageCollection": { "enabled": true, "schedule": "0 5 * * *" },
        "statusDetails": status_details,
    });
    if let Some(t) = &c.last_sync {
        props["lastActivityTime"] = json!(t);
    }
    let (k, v) = child("connectedregistries", c.name, json!({ "properties": props }));
    r.children.insert(k, v);
}

/// Transfer: an export pipeline on `contoso` with runs that succeeded,
/// failed and are still running; an import pipeline on `contosowesteu`
/// reading the same container, whose run imported the first export's blob.
fn transfer_demo(world: &mut crate::world::World, sub: &str) {
    let container = "https://contosotransfer.blob.core.windows.net/transfer";
    // Finished runs take no time at all (their start is shown an hour ago).
    let long_ago = Instant::now();
    let started = chrono::Utc::now() - chrono::Duration::hours(1);
    let run = |name: &str, body: serde_json::Value, secrets: serde_json::Value, ready_at: Instant, created_at: chrono::DateTime<chrono::Utc>| {
        let (k, mut v) = child("pipelineruns", name, body);
        v.secrets = secrets;
        v.ready_at = ready_at;
        v.created_at = created_at;
        (k, v)
    };
    if let Some(r) = world.registries.get_mut("contoso") {
        let id = r.arm_id(sub);
        let (k, v) = child(
            "exportpipelines",
            "contosoexport",
            json!({
                "location": r.location,
                "identity": { "type": "SystemAssigned" },
                "properties": {
                    "target": { "type": "AzureStorageBlobContainer", "uri": container, "keyVaultUri": "https://contoso-kv.vault.azure.net/secrets/acrexportsas", "storageAccessMode": "SasToken" },
                    "options": ["OverwriteBlobs"]
                }
            }),
        );
        r.children.insert(k, v);
        let pipeline = format!("{id}/exportPipelines/contosoexport");
        let export = |artifacts: &[&str], blob: &str| json!({ "properties": { "request": { "pipelineResourceId": pipeline, "artifacts": artifacts, "target": { "type": "AzureStorageBlob", "name": blob } }, "forceUpdateTag": "demo" } });
        let done = ["hello-world:v1", "web/frontend:1.1.0"];
        let (k, v) = run("exportrun01", export(&done, "release-2026-11"), json!({ "failure": null, "artifacts": done, "duration": 0.001 }), long_ago, started);
        r.children.insert(k, v);
        let (k, v) = run(
            "exportrun02",
            export(&["legacy/app:0.9"], "legacy-2026-11"),
            json!({ "failure": "Artifact 'legacy/app:0.9' was not found in registry 'contoso'.", "artifacts": [], "duration": 0.001 }),
            long_ago,
            started,
        );
        r.children.insert(k, v);
        let (k, v) = run(
            "exportrun03",
            export(&["tools/base:2024.10"], "tools-nightly"),
            json!({ "failure": null, "artifacts": ["tools/base:2024.10"], "duration": 864_000.0 }),
            Instant::now(),
            chrono::Utc::now(),
        );
        r.children.insert(k, v);
    }
    world.transfer_blobs.insert(
        crate::arm::pipelines::blob_key(container, "release-2026-11"),
        crate::world::TransferBlob {
            source_registry: "contoso".into(),
            artifacts: vec!["hello-world:v1".into(), "web/frontend:1.1.0".into()],
            ready_at: long_ago,
        },
    );
    if let Some(r) = world.registries.get_mut("contosowesteu") {
        let id = r.arm_id(sub);
        let (k, v) = child(
            "importpipelines",
            "contosoimport",
            json!({
                "location": r.location,
                "identity": { "type": "UserAssigned", "userAssignedIdentities": { format!("/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/contoso-transfer"): {} } },
                "properties": {
                    "source": { "type": "AzureStorageBlobContainer", "uri": container, "keyVaultUri": "https://contoso-kv.vault.azure.net/secrets/acrimportsas", "storageAccessMode": "SasToken" },
                    "trigger": { "sourceTrigger": { "status": "Enabled" } },
                    "options": ["OverwriteTags", "DeleteSourceBlobOnSuccess", "ContinueOnErrors"]
                }
            }),
        );
        r.children.insert(k, v);
        let body = json!({ "properties": { "request": { "pipelineResourceId": format!("{id}/importPipelines/contosoimport"), "source": { "type": "AzureStorageBlob", "name": "release-2026-11" } }, "forceUpdateTag": "demo" } });
        let (k, v) =
            run("importrun01", body, json!({ "failure": null, "artifacts": ["hello-world:v1", "web/frontend:1.1.0"], "duration": 0.001 }), long_ago, started);
        r.children.insert(k, v);
    }
}

/// What a relocation of `contosowesteu` touches outside the registry: a
/// diagnostic setting, an ACR task, and two AKS clusters whose kubelet
/// identities have AcrPull on it (and a CI identity with AcrPush).
fn relocation_demo(world: &mut crate::world::World, sub: &str) {
    let Some(r) = world.registries.get_mut("contosowesteu") else { return };
    let scope = r.arm_id(sub);
    let (k, v) = child(
        "tasks",
        "nightly-base-rebuild",
        json!({ "location": r.location, "properties": { "status": "Enabled", "platform": { "os": "Linux", "architecture": "amd64" },
            "step": { "type": "Docker", "dockerFilePath": "Dockerfile", "imageNames": ["payments/api:{{.Run.ID}}"], "contextPath": "https://github.com/contoso/payments.git" },
            "trigger": { "timerTriggers": [{ "name": "nightly", "schedule": "0 2 * * *", "status": "Enabled" }] } } }),
    );
    r.children.insert(k, v);
    world.diagnostic_settings.insert(
        "contosowesteu".into(),
        vec![json!({ "name": "send-to-law", "properties": {
            "workspaceId": format!("/subscriptions/{sub}/resourceGroups/monitoring-rg/providers/Microsoft.OperationalInsights/workspaces/contoso-law"),
            "logs": [{ "category": "ContainerRegistryRepositoryEvents", "enabled": true }, { "category": "ContainerRegistryLoginEvents", "enabled": true }],
            "metrics": [{ "category": "AllMetrics", "enabled": true }] } })],
    );
    let kubelet = |cluster: &str| uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("kubelet/{cluster}").as_bytes()).to_string();
    for cluster in ["aks-weu-prod", "aks-weu-batch"] {
        let object = kubelet(cluster);
        world.aks_clusters.push(json!({
            "id": format!("/subscriptions/{sub}/resourceGroups/aks-rg/providers/Microsoft.ContainerService/managedClusters/{cluster}"),
            "name": cluster,
            "type": "Microsoft.ContainerService/ManagedClusters",
            "location": "westeurope",
            "properties": { "provisioningState": "Succeeded", "kubernetesVersion": "1.31.2",
                "identityProfile": { "kubeletidentity": {
                    "resourceId": format!("/subscriptions/{sub}/resourceGroups/MC_aks-rg_{cluster}_westeurope/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{cluster}-agentpool"),
                    "clientId": object, "objectId": object } } }
        }));
        let guid = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("{scope}/{cluster}").as_bytes()).to_string();
        world.role_assignments.push(crate::arm::relocation::assignment_doc(sub, &scope, &guid, crate::arm::relocation::ACR_PULL, &object));
    }
    // A cluster elsewhere that pulls from contoso, not from the registry being moved.
    let object = kubelet("aks-wus-web");
    world.aks_clusters.push(json!({
        "id": format!("/subscriptions/{sub}/resourceGroups/aks-rg/providers/Microsoft.ContainerService/managedClusters/aks-wus-web"),
        "name": "aks-wus-web", "type": "Microsoft.ContainerService/ManagedClusters", "location": "westus",
        "properties": { "provisioningState": "Succeeded", "identityProfile": { "kubeletidentity": { "clientId": object, "objectId": object } } }
    }));
    let ci = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, b"ci-push").to_string();
    world.role_assignments.push(crate::arm::relocation::assignment_doc(
        sub,
        &scope,
        &uuid::Uuid::new_v4().to_string(),
        "8311e382-0749-4cb8-b61a-304f252e45ec",
        &ci,
    ));
    if let Some(c) = world.registries.get("contoso") {
        let scope = c.arm_id(sub);
        let guid = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("{scope}/aks-wus-web").as_bytes()).to_string();
        world.role_assignments.push(crate::arm::relocation::assignment_doc(sub, &scope, &guid, crate::arm::relocation::ACR_PULL, &object));
    }
}

/// A team's regional webhook with its delivery history: a push delivered,
/// one the endpoint refused, and a ping. Its service URI and header value
/// are secrets (never returned by GET); it scopes a repository nobody
/// pushes in the demo, so it sends nothing unless someone does.
fn team_webhook(r: &mut Registry) {
    let (k, mut v) = child(
        "webhooks",
        "paymentsdeploy",
        json!({ "location": r.location, "tags": {}, "properties": { "actions": ["push"], "scope": "payments/api:*", "status": "enabled" } }),
    );
    v.secrets =
        json!({ "serviceUri": "https://deploy.contoso.example/hooks/acr?code=demo-function-key", "customHeaders": { "X-Deploy-Token": "demo-deploy-token" } });
    let login = format!("{}.azurecr.io", r.name);
    let event = |minutes: i64, action: &str, tag: Option<&str>, status: &str, reason: &str| {
        let at = (chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339();
        let mut content = json!({ "id": uuid::Uuid::new_v4().to_string(), "timestamp": at, "action": action,
            "request": { "id": uuid::Uuid::new_v4().to_string(), "host": login, "method": "PUT", "useragent": "docker/27.3.1" } });
        if let Some(t) = tag {
            content["target"] = json!({ "mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "payments/api", "tag": t,
                "digest": sha256_digest(format!("payments/api:{t}").as_bytes()), "size": 1024 });
        }
        json!({
            "id": content["id"],
            "eventRequestMessage": { "content": content, "headers": { "Content-Type": "application/json", "X-Deploy-Token": "******" }, "method": "POST",
                "requestUri": "https://deploy.contoso.example/hooks/acr", "version": "1.1" },
            "eventResponseMessage": { "statusCode": status, "reasonPhrase": reason, "version": "1.1", "headers": { "Content-Length": "0" } },
        })
    };
    v.events = vec![
        event(180, "push", Some("3.2.0"), "200", "OK"),
        event(95, "push", Some("3.3.0"), "503", "Service Unavailable"),
        event(30, "ping", None, "200", "OK"),
    ];
    r.children.insert(k, v);
}

/// The settings a relocation must carry, on the registry to be moved: a
/// firewall with IP and virtual network rules, private endpoints (one
/// approved, one waiting), a customer-managed key with its identity,
/// retention and soft delete.
fn locked_down(r: &mut Registry, sub: &str) {
    let vnet = format!("/subscriptions/{sub}/resourceGroups/network-rg/providers/Microsoft.Network/virtualNetworks/contoso-weu-vnet");
    let identity = format!("/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/contoso-acr-cmk");
    let client_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, identity.as_bytes()).to_string();
    r.identity = Some(json!({ "type": "UserAssigned", "userAssignedIdentities": { identity.clone(): { "principalId": client_id, "clientId": client_id } } }));
    r.props.insert(
        "networkRuleSet".into(),
        json!({
            "defaultAction": "Deny",
            "ipRules": [{ "action": "Allow", "value": "203.0.113.0/24" }, { "action": "Allow", "value": "198.51.100.7" }],
            "virtualNetworkRules": [{ "action": "Allow", "id": format!("{vnet}/subnets/build-agents") }]
        }),
    );
    r.props.insert("networkRuleBypassOptions".into(), json!("AzureServices"));
    let pe = |name: &str, status: &str, description: &str| {
        json!({
            "id": format!("{}/privateEndpointConnections/{name}", r.arm_id(sub)),
            "name": name,
            "type": "Microsoft.ContainerRegistry/registries/privateEndpointConnections",
            "properties": {
                "privateEndpoint": { "id": format!("/subscriptions/{sub}/resourceGroups/network-rg/providers/Microsoft.Network/privateEndpoints/{name}") },
                "privateLinkServiceConnectionState": { "status": status, "description": description, "actionsRequired": "None" },
                "provisioningState": "Succeeded"
            }
        })
    };
    r.props.insert(
        "privateEndpointConnections".into(),
        json!([pe("contosoweu-pe-build", "Approved", "Auto-approved"), pe("contosoweu-pe-aks", "Pending", "Waiting for the network team")]),
    );
    r.props.insert(
        "encryption".into(),
        json!({ "status": "enabled", "keyVaultProperties": {
            "keyIdentifier": "https://contoso-kv.vault.azure.net/keys/acr-cmk",
            "versionedKeyIdentifier": "https://contoso-kv.vault.azure.net/keys/acr-cmk/0f6e3c5a1b2d4e7f",
            "identity": client_id,
            "keyRotationEnabled": true
        }}),
    );
    if let Some(p) = r.props.get_mut("policies") {
        p["retentionPolicy"] = json!({ "days": 30, "lastUpdatedTime": chrono::Utc::now().to_rfc3339(), "status": "enabled" });
        p["softDeletePolicy"] = json!({ "retentionDays": 7, "lastUpdatedTime": chrono::Utc::now().to_rfc3339(), "status": "enabled" });
    }
}

/// A large world for benchmarks: `registries` Premium registries
/// (`benchNNNN`, resource group `bench-rg`), each with a home region and
/// `replicas - 1` more, no content.
pub async fn build_bench(shared: &Arc<Shared>, registries: usize, replicas: usize) {
    let hosts: Vec<&str> = crate::regions::all().iter().filter(|r| r.can_host()).map(|r| r.name.as_str()).collect();
    for i in 0..registries {
        let home = hosts[i % hosts.len()];
        let others: Vec<&str> = (1..replicas.max(1)).map(|k| hosts[(i + k * 7) % hosts.len()]).filter(|r| *r != home).collect();
        add_in(shared, &format!("bench{i:04}"), "bench-rg", home, "Premium", &others).await;
    }
}

async fn add(shared: &Arc<Shared>, name: &str, home: &str, sku: &str, replicas: &[&str]) {
    add_in(shared, name, RG, home, sku, replicas).await
}

async fn add_in(shared: &Arc<Shared>, name: &str, rg: &str, home: &str, sku: &str, replicas: &[&str]) {
    let mut regions = vec![home.to_string()];
    regions.extend(replicas.iter().map(|s| s.to_string()));
    let Ok((global, endpoints)) = shared.bind_endpoints(name, &regions).await else {
        tracing::error!(registry = name, "cannot bind demo endpoints");
        return;
    };
    let now = Instant::now();
    let mut reps = BTreeMap::new();
    for (i, region) in regions.iter().enumerate() {
        reps.insert(
            region.clone(),
            Replication {
                name: region.clone(),
                location: region.clone(),
                tags: json!({}),
                region_endpoint_enabled: true,
                zone_redundancy: "Disabled".into(),
                home: i == 0,
                created_at: chrono::Utc::now(),
                provisioned_at: Some(now),
                synced_at: Some(now),
                updating_until: None,
                deleting_at: None,
                endpoint: endpoints.get(i).cloned().unwrap_or_default(),
            },
        );
    }
    let mut props = default_props();
    props.insert("adminUserEnabled".into(), json!(true));
    let reg = Registry {
        name: name.to_string(),
        resource_group: rg.to_string(),
        location: home.to_string(),
        sku: sku.to_string(),
        tags: json!({ "env": "demo" }),
        identity: None,
        props,
        created_at: chrono::Utc::now(),
        ready_at: now,
        deleting_at: None,
        replications: reps,
        children: BTreeMap::new(),
        content: RegistryContent::default(),
        login_server: global,
        admin_password: format!("demo-{name}-password"),
    };
    shared.world().registries.insert(name.to_string(), reg);
}

fn image(content: &mut RegistryContent, landed: &HashMap<String, Instant>, repo: &str, seed: &str, arch: &str) -> (String, usize) {
    let layer = Bytes::from(format!("layer of {repo} {seed} {arch}\n").repeat(64));
    let config = Bytes::from(json!({ "architecture": arch, "os": "linux", "rootfs": { "type": "layers", "diff_ids": [sha256_digest(&layer)] } }).to_string());
    let cd = content.put_blob(config.clone());
    let ld = content.put_blob(layer.clone());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len() }]
    });
    let bytes = Bytes::from(manifest.to_string());
    let len = bytes.len();
    let d = content.put_manifest(repo, "application/vnd.oci.image.manifest.v1+json", bytes, None, landed.clone());
    (d, len)
}

fn fill(content: &mut RegistryContent, regions: &[String], repos: &[(&str, &[&str])]) {
    let now = Instant::now();
    let landed: HashMap<String, Instant> = regions.iter().map(|r| (r.clone(), now)).collect();
    for (repo, tags) in repos {
        for (i, tag) in tags.iter().enumerate() {
            if i == 0 {
                // First tag of each repository: a multi-platform index.
                let (a, al) = image(content, &landed, repo, tag, "amd64");
                let (b, bl) = image(content, &landed, repo, tag, "arm64");
                let index = json!({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [
                        { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": a, "size": al, "platform": { "architecture": "amd64", "os": "linux" } },
                        { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": b, "size": bl, "platform": { "architecture": "arm64", "os": "linux" } }
                    ]
                });
                let idx = content.put_manifest(repo, "application/vnd.oci.image.index.v1+json", Bytes::from(index.to_string()), Some(tag), landed.clone());
                // A signature attached to the index, as a referrer.
                let sig = Bytes::from(format!("signature over {idx}"));
                let sd = content.put_blob(sig.clone());
                let empty = Bytes::from_static(b"{}");
                let ed = content.put_blob(empty.clone());
                let sigm = json!({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "artifactType": "application/vnd.cncf.notary.signature",
                    "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": ed, "size": 2 },
                    "layers": [{ "mediaType": "application/jose+json", "digest": sd, "size": sig.len() }],
                    "subject": { "mediaType": "application/vnd.oci.image.index.v1+json", "digest": idx, "size": index.to_string().len() }
                });
                content.put_manifest(repo, "application/vnd.oci.image.manifest.v1+json", Bytes::from(sigm.to_string()), None, landed.clone());
            } else {
                let (d, _) = image(content, &landed, repo, tag, "amd64");
                if let Some(m) = content.repos.get(*repo).and_then(|r| r.manifests.get(&d)).cloned() {
                    content.put_manifest(repo, &m.media_type, m.bytes, Some(tag), landed.clone());
                }
            }
        }
        // An untagged manifest per repository.
        image(content, &landed, repo, "untagged-build", "amd64");
    }
}

/// Adds `count` small single-platform images to `registry` for load tests:
/// repositories `load/app00`, `load/app01`, … with tags `v00`…`v49`, each a
/// distinct digest, landed in every replica.
pub fn seed(shared: &Arc<Shared>, registry: &str, count: usize) {
    let mut world = shared.world();
    let Some(r) = world.registries.get_mut(&registry.to_ascii_lowercase()) else {
        tracing::warn!(registry, "cannot seed artifacts: no such registry");
        return;
    };
    let now = Instant::now();
    let landed: HashMap<String, Instant> = r.replications.values().map(|p| (p.location.clone(), now)).collect();
    for i in 0..count {
        let repo = format!("load/app{:02}", i / 50);
        let tag = format!("v{:02}", i % 50);
        let (d, _) = image(&mut r.content, &landed, &repo, &format!("seed-{i}"), "amd64");
        if let Some(m) = r.content.repos.get(&repo).and_then(|x| x.manifests.get(&d)).cloned() {
            r.content.put_manifest(&repo, &m.media_type, m.bytes, Some(&tag), landed.clone());
        }
    }
}
