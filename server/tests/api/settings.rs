//! A registry's settings and the doctor: what a relocation must carry, read
//! from ARM; findings with their fixes; a stuck replica that no longer
//! blocks its own delete; fixes applied by an Admin who types the region.

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, use_emulator, TestApp};

fn findings(s: &Value) -> Vec<(String, String, String)> {
    s["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["code"].as_str().unwrap_or_default().to_string(),
                f["region"].as_str().unwrap_or_default().to_string(),
                f["fix"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn has(s: &Value, code: &str, region: &str) -> bool {
    findings(s).iter().any(|(c, r, _)| c == code && r == region)
}

async fn replica(app: &TestApp, registry: &str, region: &str) -> Option<Value> {
    let r = app.get_json(&format!("/api/v1/registries/{registry}")).await;
    r["replicas"].as_array().into_iter().flatten().find(|p| p["location"] == region && p["gone"] == false).cloned()
}

#[tokio::test]
async fn settings_show_what_a_relocation_must_carry_and_the_doctor_names_its_findings() {
    let (emu, app) = crate::helpers::demo_world().await;

    let reader = app.as_app("ci-reader").await;
    let s: Value = reader.get(app.url("/api/v1/registries/contosowesteu/settings")).send().await.expect("get").json().await.expect("json");
    assert_eq!(s["default_action"], "Deny", "{s}");
    assert_eq!(s["ip_rules"], json!(["203.0.113.0/24", "198.51.100.7"]));
    assert_eq!(s["virtual_network_rules"].as_array().map(Vec::len), Some(1));
    assert_eq!(s["network_rule_bypass"], "AzureServices");
    let pes = s["private_endpoints"].as_array().expect("pes");
    assert_eq!(pes.len(), 2);
    assert!(pes.iter().any(|p| p["status"] == "Pending"));
    assert_eq!(s["encryption"]["customer_managed_key"], true);
    assert_eq!(s["identity_type"], "UserAssigned");
    assert_eq!(s["retention_days"], 30);
    assert_eq!(s["soft_delete_days"], 7);
    assert!(has(&s, "PrivateEndpointWithoutDataEndpoints", ""), "{:?}", findings(&s));
    assert!(has(&s, "PrivateEndpointNotApproved", ""));
    assert!(has(&s, "AdminUserEnabled", ""));

    let c = app.get_json("/api/v1/registries/contoso/settings").await;
    let hosts: Vec<(String, String)> = c["data_endpoints"]
        .as_array()
        .expect("data endpoints")
        .iter()
        .map(|e| (e["host"].as_str().unwrap_or_default().to_string(), e["region"].as_str().unwrap_or_default().to_string()))
        .collect();
    assert!(hosts.contains(&("contoso.eastus.data.azurecr.io".into(), "eastus".into())), "{hosts:?}");
    assert_eq!(c["regional_endpoints"].as_array().map(Vec::len), Some(4));
    // eastus and canadacentral have zones and no zone redundancy; westeurope has it.
    let f = findings(&c);
    assert!(f.contains(&("ZoneRedundancyMissing".into(), "eastus".into(), "recreate-with-zones".into())), "{f:?}");
    assert!(!has(&c, "ZoneRedundancyMissing", "westeurope"));
    assert!(!has(&c, "ZoneRedundancyMissing", "westus"), "West US has no availability zones: {f:?}");

    // Fixes are for Admins, typed, and only for what the doctor finds.
    let deployer = app.as_app("ci-deployer").await;
    let admin = app.as_app("ci-admin").await;
    let fix = |fix: &str, region: Option<&str>, confirm: &str| json!({ "fix": fix, "region": region, "confirm": confirm });
    let url = app.url("/api/v1/registries/contosowesteu/doctor/fix");
    assert_eq!(deployer.post(&url).json(&fix("enable-data-endpoints", None, "contosowesteu")).send().await.expect("post").status(), 403);
    let r = admin.post(&url).json(&fix("enable-data-endpoints", None, "contoso")).send().await.expect("post");
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "ConfirmationMismatch");
    let r = admin.post(&url).json(&fix("recreate-with-zones", Some("westeurope"), "westeurope")).send().await.expect("post");
    assert_eq!(r.status(), 409, "nothing to fix there");
    let r = admin.post(&url).json(&fix("enable-data-endpoints", None, "contosowesteu")).send().await.expect("post");
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let s = app.get_json("/api/v1/registries/contosowesteu/settings").await;
    assert_eq!(s["data_endpoint_enabled"], true);
    assert!(!has(&s, "PrivateEndpointWithoutDataEndpoints", ""));
    let audit = app.get_json("/api/v1/history?kind=child.action").await;
    assert!(
        audit.as_array().expect("events").iter().any(|e| e["summary"].as_str().is_some_and(|t| t.contains("ci-admin turned on dedicated data endpoints"))),
        "{audit}"
    );

    // Recreate with zones: the delete, then the create with zone redundancy, as the Admin.
    let r =
        admin.post(app.url("/api/v1/registries/contoso/doctor/fix")).json(&fix("recreate-with-zones", Some("eastus"), "eastus")).send().await.expect("post");
    assert_eq!(r.status(), 202);
    let op: Value = r.json().await.expect("json");
    assert_eq!(op["kind"], "replica.delete");
    app.wait_until("/api/v1/operations?registry=contoso&kind=replica.create", 60, |v| {
        v.as_array().is_some_and(|a| a.iter().any(|o| o["target"] == "eastus" && o["state"] == "succeeded" && o["actor"] == "ci-admin"))
    })
    .await;
    let mut zr = false;
    for _ in 0..60 {
        if replica(&app, "contoso", "eastus").await.is_some_and(|p| p["zone_redundancy"] == true) {
            zr = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(zr, "eastus was created again with zone redundancy");
    app.stop().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn a_stuck_replica_is_named_and_its_operation_does_not_block_the_delete() {
    let mut cfg = regatlas_emulator::EmulatorConfig::demo();
    cfg.time_scale = 20.0;
    cfg.faults.stuck_creating.insert("brazilsouth".into());
    cfg.faults.stuck_creating.insert("japaneast".into());
    let emu = regatlas_emulator::start(cfg).await.expect("emulator");
    let app = spawn_app_with(|a| {
        use_emulator(a, &emu);
        a.stuck_after_secs = Some(2);
    })
    .await;
    app.wait_until("/api/v1/registries", 30, |v| v.as_array().is_some_and(|a| a.len() >= 3)).await;
    let deployer = app.as_app("ci-deployer").await;
    let admin = app.as_app("ci-admin").await;
    for region in ["brazilsouth", "japaneast"] {
        let r = deployer.post(app.url("/api/v1/registries/contoso/replicas")).json(&json!({ "region": region })).send().await.expect("post");
        assert_eq!(r.status(), 202);
    }
    let s = app.wait_until("/api/v1/registries/contoso/settings", 30, |s| has(s, "ReplicaStuck", "brazilsouth") && has(s, "ReplicaStuck", "japaneast")).await;
    let stuck = s["findings"].as_array().expect("findings").iter().find(|f| f["code"] == "ReplicaStuck").cloned().expect("finding");
    assert_eq!(stuck["severity"], "critical");
    assert_eq!(stuck["fix"], "recreate-stuck");

    // A plain delete by an Admin is not refused by the stuck create.
    let r = admin.delete(app.url("/api/v1/registries/contoso/replicas/japaneast")).send().await.expect("delete");
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let ops = app.get_json("/api/v1/operations?registry=contoso&kind=replica.create").await;
    let given_up = ops.as_array().expect("ops").iter().find(|o| o["target"] == "japaneast").cloned().expect("create op");
    assert_eq!(given_up["state"], "failed");
    assert_eq!(given_up["error_code"], "Superseded");
    assert!(given_up["error_message"].as_str().is_some_and(|m| m.contains("ci-admin")), "{given_up}");
    app.wait_until("/api/v1/registries/contoso", 60, |r| {
        !r["replicas"].as_array().into_iter().flatten().any(|p| p["location"] == "japaneast" && p["gone"] == false)
    })
    .await;

    // The doctor's fix: the region typed, the create given up, the replica deleted and created again.
    reqwest::Client::new().put(format!("{}/faults", emu.info().admin_url)).json(&json!({})).send().await.expect("faults");
    let url = app.url("/api/v1/registries/contoso/doctor/fix");
    let r = admin.post(&url).json(&json!({ "fix": "recreate-stuck", "region": "brazilsouth", "confirm": "eastus" })).send().await.expect("post");
    assert_eq!(r.status(), 400);
    let r = admin.post(&url).json(&json!({ "fix": "recreate-stuck", "region": "brazilsouth", "confirm": "brazilsouth" })).send().await.expect("post");
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    app.wait_until("/api/v1/operations?registry=contoso&kind=replica.create", 90, |v| {
        v.as_array().is_some_and(|a| a.iter().any(|o| o["target"] == "brazilsouth" && o["state"] == "succeeded"))
    })
    .await;
    let mut ready = false;
    for _ in 0..90 {
        if replica(&app, "contoso", "brazilsouth").await.is_some_and(|p| p["state"] == "ready" || p["state"] == "syncing") {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(ready, "brazilsouth was created again and is no longer stuck");
    let s = app.get_json("/api/v1/registries/contoso/settings").await;
    assert!(!has(&s, "ReplicaStuck", "brazilsouth"), "{:?}", findings(&s));
    app.stop().await;
    emu.shutdown().await;
}
