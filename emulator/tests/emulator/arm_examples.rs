//! Every example under `data/azure-specs/examples/` replayed against the
//! emulator: the status code is one the example lists, and the response
//! carries every property of the example's response with the same JSON type.

use reqwest::Method;
use serde_json::{json, Value};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/azure-specs/examples");

/// Every property path of `example` must exist in `actual` with the same JSON type.
fn shape_diff(path: &str, example: &Value, actual: &Value, out: &mut Vec<String>) {
    match (example, actual) {
        (Value::Null, _) => {}
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => shape_diff(&format!("{path}.{k}"), ev, av, out),
                    None => out.push(format!("{path}.{k} missing")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let (Some(e0), Some(a0)) = (e.first(), a.first()) {
                shape_diff(&format!("{path}[0]"), e0, a0, out);
            } else if !e.is_empty() && a.is_empty() {
                out.push(format!("{path} is empty, example has items"));
            }
        }
        (e, a) => {
            let same = matches!((e, a), (Value::String(_), Value::String(_)) | (Value::Number(_), Value::Number(_)) | (Value::Bool(_), Value::Bool(_)));
            if !same {
                out.push(format!("{path}: example {e} vs actual {a}"));
            }
        }
    }
}

struct Example {
    file: String,
    method: Method,
    path: String,
    body: Option<Value>,
    responses: Value,
}

fn load(version: &str, file: &str) -> Example {
    let text = std::fs::read_to_string(format!("{DIR}/{version}/{file}")).expect("example file");
    let v: Value = serde_json::from_str(&text).expect("example json");
    let p = &v["parameters"];
    let s = |k: &str| p[k].as_str().map(str::to_string);
    let mut path = format!("/subscriptions/{}", s("subscriptionId").expect("sub"));
    if let Some(rg) = s("resourceGroupName") {
        path.push_str(&format!("/resourceGroups/{rg}"));
    }
    path.push_str("/providers/Microsoft.ContainerRegistry/registries");
    if let Some(r) = s("registryName") {
        path.push_str(&format!("/{r}"));
    }
    let kinds = [
        ("replicationName", "replications", "Replication"),
        ("webhookName", "webhooks", "Webhook"),
        ("connectedRegistryName", "connectedRegistries", "ConnectedRegistry"),
        ("scopeMapName", "scopeMaps", "ScopeMap"),
        ("tokenName", "tokens", "Token"),
        ("exportPipelineName", "exportPipelines", "ExportPipeline"),
        ("importPipelineName", "importPipelines", "ImportPipeline"),
        ("pipelineRunName", "pipelineRuns", "PipelineRun"),
    ];
    let mut found = false;
    for (param, seg, _) in kinds {
        if let Some(n) = s(param) {
            path.push_str(&format!("/{seg}/{n}"));
            found = true;
        }
    }
    if !found {
        for (_, seg, prefix) in kinds {
            if file.starts_with(&format!("{prefix}List")) {
                path.push_str(&format!("/{seg}"));
            }
        }
    }
    let stem = file.trim_end_matches(".json");
    let method = if stem.starts_with("ImportImage") {
        path.push_str("/importImage");
        Method::POST
    } else if let Some(action) = ["ListEvents", "GetCallbackConfig", "Ping", "Deactivate"].iter().find(|a| stem.ends_with(**a)) {
        let mut a = action.to_string();
        a[..1].make_ascii_lowercase();
        path.push_str(&format!("/{a}"));
        Method::POST
    } else if stem.contains("Create") {
        Method::PUT
    } else if stem.contains("Update") {
        Method::PATCH
    } else if stem.contains("Delete") {
        Method::DELETE
    } else {
        Method::GET
    };
    let body = p.as_object().and_then(|o| o.values().find(|v| v.is_object()).cloned());
    Example { file: file.to_string(), method, path, body, responses: v["responses"].clone() }
}

async fn replay(emu: &crate::common::Emu, version: &str, file: &str, failures: &mut Vec<String>) -> Option<reqwest::Response> {
    let ex = load(version, file);
    let mut body = ex.body.clone();
    // Keep tests on loopback: no public registries or service URIs.
    if let Some(b) = body.as_mut() {
        if b["source"]["registryUri"].is_string() {
            b["source"]["registryUri"] = json!("127.0.0.1:9");
        }
        if b["properties"]["serviceUri"].is_string() {
            b["properties"]["serviceUri"] = json!("http://127.0.0.1:9/hook");
        }
    }
    let url = format!("{}{}?api-version={version}", emu.base, ex.path);
    let mut rb = emu.http.request(ex.method.clone(), url).bearer_auth(&emu.token);
    if let Some(b) = &body {
        rb = rb.json(b);
    }
    let resp = rb.send().await.expect("request");
    let status = resp.status().as_u16().to_string();
    let Some(expected) = ex.responses.get(&status) else {
        let text = resp.text().await.unwrap_or_default();
        failures.push(format!("{}: status {status} not among {:?}: {text}", ex.file, ex.responses.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>())));
        return None;
    };
    for h in expected["headers"].as_object().into_iter().flatten().map(|(k, _)| k.clone()) {
        if resp.headers().get(h.to_ascii_lowercase()).is_none() {
            failures.push(format!("{}: header {h} missing", ex.file));
        }
    }
    if expected.get("body").is_some() {
        let text = resp.text().await.unwrap_or_default();
        let actual: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let mut diffs = vec![];
        shape_diff("$", &expected["body"], &actual, &mut diffs);
        for d in diffs {
            failures.push(format!("{}: {d}", ex.file));
        }
        None
    } else {
        Some(resp)
    }
}

#[tokio::test]
async fn every_example_replays_with_its_status_and_shape() {
    let mut cfg = regatlas_emulator::EmulatorConfig::empty();
    cfg.subscription_id = "00000000-0000-0000-0000-000000000000".into();
    let emu = crate::common::start(cfg).await;
    let mut failures = Vec::new();
    let s = "2025-11-01";
    let p = "2025-06-01-preview";
    let rg = emu.rg_path("myResourceGroup");

    // Registries.
    replay(&emu, s, "RegistryCreate.json", &mut failures).await;
    replay(&emu, s, "RegistryGet.json", &mut failures).await;
    replay(&emu, s, "RegistryList.json", &mut failures).await;
    replay(&emu, s, "RegistryListByResourceGroup.json", &mut failures).await;
    replay(&emu, s, "RegistryUpdate.json", &mut failures).await;
    // Geo-replication needs Premium; wait for the update to settle first.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = emu.call(Method::PATCH, &format!("{rg}/registries/myRegistry"), Some(&json!({"sku": {"name": "Premium"}}))).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());

    // Replications.
    replay(&emu, s, "ReplicationCreate.json", &mut failures).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    replay(&emu, s, "ReplicationGet.json", &mut failures).await;
    replay(&emu, s, "ReplicationList.json", &mut failures).await;
    replay(&emu, s, "ReplicationUpdate.json", &mut failures).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    replay(&emu, s, "ReplicationDelete.json", &mut failures).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    replay(&emu, s, "ReplicationCreateZoneRedundant.json", &mut failures).await;

    // Webhooks (location westus = the home region).
    replay(&emu, s, "WebhookCreate.json", &mut failures).await;
    replay(&emu, s, "WebhookGet.json", &mut failures).await;
    replay(&emu, s, "WebhookList.json", &mut failures).await;
    replay(&emu, s, "WebhookUpdate.json", &mut failures).await;
    replay(&emu, s, "WebhookGetCallbackConfig.json", &mut failures).await;
    replay(&emu, s, "WebhookPing.json", &mut failures).await;
    // A push into the webhook's scope produces a push event for listEvents.
    let login = emu.emu.info().registries["myRegistry"].login_server.clone();
    crate::common::push_image(&emu.http, &login, &crate::common::Cred::Bearer(emu.token.clone()), "myRepository", "latest").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    replay(&emu, s, "WebhookListEvents.json", &mut failures).await;
    replay(&emu, s, "WebhookDelete.json", &mut failures).await;

    // Scope maps, tokens, connected registries (which need the parent's dedicated data endpoints).
    let r = emu.call(Method::PATCH, &format!("{rg}/registries/myRegistry"), Some(&json!({"properties": {"dataEndpointEnabled": true}}))).await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    replay(&emu, s, "ScopeMapCreate.json", &mut failures).await;
    let r = emu
        .call(
            Method::PUT,
            &format!("{rg}/registries/myRegistry/tokens/myToken"),
            Some(&json!({"properties": {"scopeMapId": format!("{rg}/registries/myRegistry/scopeMaps/myScopeMap"), "status": "enabled"}})),
        )
        .await;
    assert!(r.status().is_success());
    replay(&emu, s, "TokenGet.json", &mut failures).await;
    replay(&emu, s, "ConnectedRegistryCreate.json", &mut failures).await;
    replay(&emu, s, "ConnectedRegistryGet.json", &mut failures).await;
    replay(&emu, s, "ConnectedRegistryList.json", &mut failures).await;
    // The update example names its connected registry "myScopeMap".
    let r = emu
        .call(
            Method::PUT,
            &format!("{rg}/registries/myRegistry/connectedRegistries/myScopeMap"),
            Some(&json!({"properties": {"mode": "ReadWrite", "parent": {"syncProperties": {"tokenId": "t", "messageTtl": "P2D"}}}})),
        )
        .await;
    assert!(r.status().is_success());
    replay(&emu, s, "ConnectedRegistryUpdate.json", &mut failures).await;
    replay(&emu, s, "ConnectedRegistryDeactivate.json", &mut failures).await;
    replay(&emu, s, "ConnectedRegistryDelete.json", &mut failures).await;

    // Imports (the source registry lives in the same emulated world).
    replay(&emu, s, "ImportImageByTag.json", &mut failures).await;
    replay(&emu, s, "ImportImageByManifestDigest.json", &mut failures).await;
    replay(&emu, s, "ImportImageFromPublicRegistry.json", &mut failures).await;

    // Transfer pipelines (preview api-version).
    replay(&emu, p, "ExportPipelineCreate.json", &mut failures).await;
    replay(&emu, p, "ExportPipelineGet.json", &mut failures).await;
    replay(&emu, p, "ImportPipelineCreate.json", &mut failures).await;
    replay(&emu, p, "ImportPipelineGet.json", &mut failures).await;
    replay(&emu, p, "PipelineRunCreate_Export.json", &mut failures).await;
    replay(&emu, p, "PipelineRunGet.json", &mut failures).await;
    replay(&emu, p, "PipelineRunList.json", &mut failures).await;
    replay(&emu, p, "PipelineRunDelete.json", &mut failures).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    replay(&emu, p, "PipelineRunCreate_Import.json", &mut failures).await;
    replay(&emu, p, "ExportPipelineDelete.json", &mut failures).await;
    replay(&emu, p, "ImportPipelineDelete.json", &mut failures).await;

    replay(&emu, s, "RegistryDelete.json", &mut failures).await;

    // Every example file was replayed.
    let mut count = 0;
    for v in [s, p] {
        count += std::fs::read_dir(format!("{DIR}/{v}")).expect("dir").count();
    }
    assert_eq!(count, 42, "examples on disk");
    // Known gap: the import-run example shows a finished run in its create
    // response; the emulator's new runs start at 0 % and finish over time.
    const KNOWN_GAPS: &[&str] = &[
        "PipelineRunCreate_Import.json: $.properties.response.finishTime missing",
        "PipelineRunCreate_Import.json: $.properties.response.importedArtifacts is empty, example has items",
    ];
    let unexpected: Vec<&String> = failures.iter().filter(|f| !KNOWN_GAPS.contains(&f.as_str())).collect();
    assert!(unexpected.is_empty(), "{} mismatches:\n{}", unexpected.len(), unexpected.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"));
}
