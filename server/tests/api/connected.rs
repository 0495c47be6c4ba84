//! Connected registries: each one's state, sync and repositories as ARM
//! holds them; created (scope map, sync token, connected registry),
//! changed and deactivated by their roles; flagged in the registry list
//! when offline; ARM's refusals reach the user with their code.

use serde_json::{json, Value};

use crate::helpers::TestApp;

fn find<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array().and_then(|a| a.iter().find(|c| c["name"] == name)).unwrap_or(&Value::Null)
}

async fn list(app: &TestApp, registry: &str) -> Value {
    app.get_json(&format!("/api/v1/registries/{registry}/connected-registries")).await
}

#[tokio::test]
async fn connected_registries_are_shown_created_changed_and_deactivated_by_role() {
    let (emu, app) = crate::helpers::demo_world().await;

    let all = list(&app, "contoso").await;
    assert_eq!(all.as_array().map(Vec::len), Some(4), "{all}");
    let onprem = find(&all, "contosoOnPrem");
    assert_eq!(onprem["mode"], "ReadOnly");
    assert_eq!(onprem["activation"], "Active");
    assert_eq!(onprem["repositories"], json!(["hello-world", "web/frontend"]));
    assert_eq!(onprem["client_tokens"], json!(["onprem-pull"]));
    assert_eq!(onprem["sync"]["token"], "contosoOnPrem-sync-token");
    assert_eq!(onprem["sync"]["schedule"], "0 */2 * * *");
    assert!(onprem["flag"].is_null(), "{onprem}");
    let factory = find(&all, "contosoFactory");
    assert_eq!(factory["flag"], "offline");
    assert_eq!(factory["status_details"][0]["code"], "ParentUnreachable");
    assert_eq!(find(&all, "contosoFloor")["parent"], "contosoFactory");
    assert!(find(&all, "contosoEdge")["flag"].is_null(), "never activated: not flagged");
    // The registry list carries the flag (from what the poller stored).
    let regs = app
        .wait_until("/api/v1/registries", 30, |v| {
            v.as_array().into_iter().flatten().any(|r| r["children"].as_array().into_iter().flatten().any(|c| c["name"] == "contosoFactory"))
        })
        .await;
    let child =
        regs.as_array().into_iter().flatten().flat_map(|r| r["children"].as_array().into_iter().flatten()).find(|c| c["name"] == "contosoFactory").cloned();
    assert_eq!(child.map(|c| c["flag"].clone()), Some(json!("offline")));

    let reader = app.as_app("ci-reader").await;
    let deployer = app.as_app("ci-deployer").await;
    let admin = app.as_app("ci-admin").await;
    let url = app.url("/api/v1/registries/contoso/connected-registries/edge01");
    let create = json!({ "mode": "ReadOnly", "repositories": ["hello-world"], "schedule": "0 9 * * *" });
    assert_eq!(reader.put(&url).json(&create).send().await.expect("put").status(), 403);
    let r = deployer.put(&url).json(&create).send().await.expect("put");
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "InvalidSyncWindow");
    let mut create = create;
    create["sync_window"] = json!("PT3H");
    let r = deployer.put(&url).json(&create).send().await.expect("put");
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let all = list(&app, "contoso").await;
    let edge = find(&all, "edge01");
    assert_eq!(edge["repositories"], json!(["hello-world"]), "{edge}");
    assert_eq!(edge["sync"]["token"], "edge01-sync-token");
    assert_eq!(edge["sync"]["window"], "PT3H");
    assert_eq!(edge["activation"], "Inactive");

    // Changed: repositories (the sync scope map) and schedule; the mode is fixed.
    let r = deployer.put(&url).json(&json!({ "repositories": ["hello-world", "tools/base"], "schedule": "0 */6 * * *" })).send().await.expect("put");
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let all = list(&app, "contoso").await;
    let edge = find(&all, "edge01");
    assert_eq!(edge["repositories"], json!(["hello-world", "tools/base"]), "{edge}");
    assert_eq!(edge["sync"]["schedule"], "0 */6 * * *");
    let r = deployer.put(&url).json(&json!({ "mode": "ReadWrite" })).send().await.expect("put");
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "ModeFixed");

    // What ARM would refuse last is checked first, so nothing is left behind.
    let r = deployer.put(app.url("/api/v1/registries/contosostd/connected-registries/edge02")).json(&create).send().await.expect("put");
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "PremiumRequired");
    let r = deployer.put(app.url("/api/v1/registries/contosowesteu/connected-registries/edge03")).json(&create).send().await.expect("put");
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "DataEndpointRequired");
    assert!(list(&app, "contosowesteu").await.as_array().is_some_and(Vec::is_empty));
    // A token someone made by hand with the sync token's name is not taken over.
    let info = emu.info();
    let token = crate::helpers::emulator_arm_token(&info).await.expect("token");
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .put(format!(
            "{}/subscriptions/{}/resourceGroups/contoso-rg/providers/Microsoft.ContainerRegistry/registries/contoso/tokens/edge09-sync-token?api-version=2025-11-01",
            info.arm_base_url, info.subscription_id
        ))
        .bearer_auth(token)
        .json(&json!({ "properties": { "status": "enabled" } }))
        .send()
        .await
        .expect("put token");
    assert!(r.status().is_success());
    let r = deployer.put(app.url("/api/v1/registries/contoso/connected-registries/edge09")).json(&create).send().await.expect("put");
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "SyncResourceExists");
    // ARM's own refusal reaches the user with its code.
    let r = admin.post(app.url("/api/v1/registries/contoso/connected-registries/nosuchedge/deactivate")).send().await.expect("post");
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "ResourceNotFound");

    // Deactivate: Admins only.
    let deactivate = app.url("/api/v1/registries/contoso/connected-registries/contosoOnPrem/deactivate");
    assert_eq!(deployer.post(&deactivate).send().await.expect("post").status(), 403);
    assert_eq!(admin.post(&deactivate).send().await.expect("post").status(), 202);
    let all = list(&app, "contoso").await;
    assert_eq!(find(&all, "contosoOnPrem")["activation"], "Inactive");
    let audit = app.get_json("/api/v1/history?kind=child.action").await;
    let summaries: Vec<&str> = audit.as_array().into_iter().flatten().filter_map(|e| e["summary"].as_str()).collect();
    assert!(summaries.iter().any(|s| s.contains("ci-deployer created connected registry edge01")), "{summaries:?}");
    assert!(summaries.iter().any(|s| s.contains("ci-admin deactivated connected registry contosoOnPrem")), "{summaries:?}");
    app.stop().await;
    emu.shutdown().await;
}
