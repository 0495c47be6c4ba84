//! Relocation from template to cut-over: the exported template, a preview
//! that names what cannot be carried, the target created by an Admin who
//! types its name, and a migration's checklist that follows ARM as it
//! changes (an AKS cluster granted AcrPull on the target turns its row).

use serde_json::{json, Value};

use crate::helpers::emulator_arm_token;

fn has(list: &Value, key: &str, value: &str) -> bool {
    list.as_array().into_iter().flatten().any(|x| x[key].as_str().is_some_and(|v| v == value || v.ends_with(value)))
}

#[tokio::test]
async fn a_registry_is_relocated_from_its_template_and_the_checklist_follows_arm() {
    let (emu, app) = crate::helpers::demo_world().await;
    let reader = app.as_app("ci-reader").await;
    let deployer = app.as_app("ci-deployer").await;
    let admin = app.as_app("ci-admin").await;

    // The template: the registry and its children; the webhook-less export is said.
    let t: Value = reader.get(app.url("/api/v1/registries/contosowesteu/relocation/template")).send().await.expect("get").json().await.expect("json");
    assert!(has(&t["resources"], "kind", "Microsoft.ContainerRegistry/registries"), "{t}");
    assert!(has(&t["resources"], "name", "contosowesteu/nightly-base-rebuild"), "ACR task exported: {t}");
    assert!(has(&t["resources"], "name", "contosowesteu/contosoimport"), "import pipeline exported");
    assert!(t["template"].as_str().is_some_and(|j| j.contains("deploymentTemplate.json")));

    // The preview: what will be created, and what cannot be carried, named.
    let req = json!({ "target_name": "contosonorth", "location": "northeurope" });
    let p: Value =
        reader.post(app.url("/api/v1/registries/contosowesteu/relocation/preview")).json(&req).send().await.expect("post").json().await.expect("json");
    assert_eq!(p["name_available"], true, "{p}");
    let creates: Vec<(String, String)> = p["creates"]
        .as_array()
        .expect("creates")
        .iter()
        .map(|c| (c["kind"].as_str().unwrap_or_default().into(), c["name"].as_str().unwrap_or_default().into()))
        .collect();
    assert_eq!(creates[0], ("registry".to_string(), "contosonorth".to_string()));
    assert!(creates.contains(&("replica".into(), "westeurope".into())), "the old home becomes a replica: {creates:?}");
    assert!(creates.contains(&("webhook".into(), "paymentsdeploy".into())), "{creates:?}");
    let cannot: Vec<(String, String)> = p["cannot_carry"]
        .as_array()
        .expect("cannot")
        .iter()
        .map(|c| (c["what"].as_str().unwrap_or_default().into(), c["name"].as_str().unwrap_or_default().into()))
        .collect();
    for want in [
        ("virtual network rule", "build-agents"),
        ("private endpoint", "contosoweu-pe-build"),
        ("private endpoint", "contosoweu-pe-aks"),
        ("ACR task", "nightly-base-rebuild"),
        ("transfer pipeline", "contosoimport"),
    ] {
        assert!(cannot.contains(&(want.0.to_string(), want.1.to_string())), "{want:?} in {cannot:?}");
    }
    // A name in use is said before anything is made.
    let taken: Value = reader
        .post(app.url("/api/v1/registries/contosowesteu/relocation/preview"))
        .json(&json!({ "target_name": "contoso", "location": "northeurope" }))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(taken["name_available"], false);

    // Creating it: Admins only, the name typed again.
    let url = app.url("/api/v1/registries/contosowesteu/relocation");
    let mut go = req.clone();
    go["confirm"] = json!("contosonorth");
    assert_eq!(deployer.post(&url).json(&go).send().await.expect("post").status(), 403);
    let r = admin.post(&url).json(&json!({ "target_name": "contosonorth", "location": "northeurope", "confirm": "contosowesteu" })).send().await.expect("post");
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "ConfirmationMismatch");
    let r = admin.post(&url).json(&go).send().await.expect("post");
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let op: Value = r.json().await.expect("json");
    assert_eq!(op["kind"], "registry.relocate");
    app.wait_until("/api/v1/operations?kind=registry.relocate", 60, |v| v[0]["state"] == "succeeded").await;
    let north = app
        .wait_until("/api/v1/registries/contosonorth", 60, |r| {
            r["location"] == "northeurope" && r["replicas"].as_array().is_some_and(|a| a.iter().any(|p| p["location"] == "westeurope"))
        })
        .await;
    assert_eq!(north["sku"], "Premium");
    let s = app.get_json("/api/v1/registries/contosonorth/settings").await;
    assert_eq!(s["ip_rules"], json!(["203.0.113.0/24", "198.51.100.7"]), "IP rules carried");
    assert_eq!(s["virtual_network_rules"], json!([]), "VNet rules not carried");
    assert_eq!(s["encryption"]["customer_managed_key"], true);
    // The webhook came over with its service URI and header, which nobody saw on the way.
    let hooks = app.get_json("/api/v1/registries/contosonorth/webhooks").await;
    let hook = hooks.as_array().and_then(|h| h.iter().find(|w| w["name"] == "paymentsdeploy")).cloned().unwrap_or_default();
    assert_eq!(hook["service_uri"], "https://deploy.contoso.example/hooks/acr", "{hooks}");
    assert_eq!(hook["header_names"], json!(["X-Deploy-Token"]));
    assert_eq!(hook["location"], "westeurope");
    let history = app.get_json("/api/v1/history?kind=child.action").await;
    assert!(has(&history, "summary", "ci-admin started relocating contosowesteu to contosonorth in northeurope"), "{history}");

    // The migration's checklist compares the two as they are now.
    let r = admin
        .post(app.url("/api/v1/migrations"))
        .json(&json!({ "source_registry": "contosowesteu", "target_registry": "contosonorth", "dry_run": true }))
        .send()
        .await
        .expect("post");
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let m = app.wait_until(&format!("/api/v1/migrations/{id}"), 60, |m| m["migration"]["state"] == "PLANNED").await;
    let row = |m: &Value, key: &str| m["checklist"].as_array().and_then(|c| c.iter().find(|r| r["key"] == key)).cloned().unwrap_or_default();
    assert!(m["checklist_evaluated_at"].is_string(), "{m}");
    let aks = row(&m, "aks-pull");
    assert_eq!(aks["status"], "different", "{aks}");
    assert!(aks["source_value"].as_str().is_some_and(|v| v.contains("aks-weu-prod") && v.contains("aks-weu-batch")), "{aks}");
    assert_eq!(aks["target_value"], "no AKS cluster");
    assert_eq!(row(&m, "diagnostic-settings")["source_value"], "send-to-law");
    assert_eq!(row(&m, "tasks")["source_value"], "nightly-base-rebuild");
    assert_eq!(row(&m, "vnet-rules")["status"], "different");

    // Someone grants both clusters AcrPull on the target (az aks update --attach-acr): the row follows.
    let info = emu.info();
    let token = emulator_arm_token(&info).await.expect("token");
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    let target_id = format!("/subscriptions/{}/resourceGroups/contoso-rg/providers/Microsoft.ContainerRegistry/registries/contosonorth", info.subscription_id);
    let clusters: Value = http
        .get(format!(
            "{}/subscriptions/{}/providers/Microsoft.ContainerService/managedClusters?api-version=2024-05-01",
            info.arm_base_url, info.subscription_id
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("clusters")
        .json()
        .await
        .expect("json");
    for c in clusters["value"].as_array().expect("value").iter().filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("aks-weu-"))) {
        let object = c["properties"]["identityProfile"]["kubeletidentity"]["objectId"].as_str().expect("kubelet");
        let r = http
            .put(format!("{}{target_id}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01", info.arm_base_url, uuid::Uuid::new_v4()))
            .bearer_auth(&token)
            .json(&json!({ "properties": { "roleDefinitionId": "7f951dda-4ed3-4680-a7ca-43fe172d538d", "principalId": object } }))
            .send()
            .await
            .expect("assign");
        assert!(r.status().is_success(), "{:?}", r.text().await);
    }
    let m = app
        .wait_until(&format!("/api/v1/migrations/{id}"), 50, |m| row(m, "aks-pull")["target_value"].as_str().is_some_and(|v| v.contains("aks-weu-prod")))
        .await;
    assert_eq!(row(&m, "aks-pull")["status"], "same", "both clusters pull from both now (the CI identity's AcrPush is not AcrPull): {m}");
    app.stop().await;
    emu.shutdown().await;
}
