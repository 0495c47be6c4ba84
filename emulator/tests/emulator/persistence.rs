//! `--state-dir` persistence across restarts, and ARM list paging (`nextLink`).

use crate::common::{push_image, Cred};
use regatlas_emulator::EmulatorConfig;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn the_world_survives_a_restart_with_a_state_dir() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = EmulatorConfig::demo();
    cfg.state_dir = Some(dir.path().to_path_buf());
    let emu = crate::common::start(cfg.clone()).await;
    let rg = emu.rg_path("contoso-rg");
    // A new replica, a pushed image, a webhook and a fault.
    let r = emu
        .call(
            Method::PUT,
            &format!("{rg}/registries/contoso/replications/japaneast"),
            Some(&json!({"location": "japaneast", "properties": {"regionEndpointEnabled": false}})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let op = r.headers()["azure-asyncoperation"].to_str().expect("h").to_string();
    assert_eq!(emu.wait_async(&op).await["status"], "Succeeded");
    let login = emu.emu.info().registries["contoso"].login_server.clone();
    let cred = Cred::Basic("contoso".into(), "demo-contoso-password".into());
    let digest = push_image(&emu.http, &login, &cred, "kept/app", "v7").await;
    let r = emu
        .call(
            Method::PUT,
            &format!("{rg}/registries/contoso/webhooks/keptHook"),
            Some(&json!({"location": "westus", "properties": {"serviceUri": "http://127.0.0.1:9/x", "actions": ["push"]}})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = emu.call(Method::DELETE, &format!("{rg}/registries/contosostd"), None).await;
    assert!(r.status() == 202 || r.status() == 200);
    if let Some(loc) = r.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string) {
        emu.wait_location(&loc).await;
    }
    emu.http.put(format!("{}/emulator-admin/faults", emu.base)).json(&json!({"regionOutages": ["eastus"]})).send().await.expect("faults");
    emu.emu.shutdown().await;

    // Second life: same directory.
    let emu = crate::common::start(cfg).await;
    let rg = emu.rg_path("contoso-rg");
    let list: Value = emu.call(Method::GET, &format!("{rg}/registries"), None).await.json().await.expect("json");
    let names: Vec<&str> = list["value"].as_array().expect("value").iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, vec!["contoso", "contosowesteu"], "the deleted registry stays deleted");
    let rep: Value = emu.call(Method::GET, &format!("{rg}/registries/contoso/replications/japaneast"), None).await.json().await.expect("json");
    assert_eq!(rep["properties"]["provisioningState"], "Succeeded");
    assert_eq!(rep["properties"]["regionEndpointEnabled"], false);
    let hook = emu.call(Method::GET, &format!("{rg}/registries/contoso/webhooks/keptHook"), None).await;
    assert_eq!(hook.status(), 200);
    let login = emu.emu.info().registries["contoso"].login_server.clone();
    let r = emu
        .http
        .head(format!("http://{login}/v2/kept/app/manifests/v7"))
        .basic_auth("contoso", Some("demo-contoso-password"))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"].to_str().expect("h"), digest);
    let faults: Value = emu.http.get(format!("{}/emulator-admin/faults", emu.base)).send().await.expect("get").json().await.expect("json");
    assert_eq!(faults["regionOutages"], json!(["eastus"]));
    emu.emu.shutdown().await;
}

#[tokio::test]
async fn a_corrupt_state_file_stops_start_up_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("world.json"), "{ not json").expect("write");
    let mut cfg = EmulatorConfig::demo();
    cfg.state_dir = Some(dir.path().to_path_buf());
    let err = regatlas_emulator::start(cfg).await.err().expect("refused");
    assert!(err.to_string().contains("world.json"), "{err}");
}

#[tokio::test]
async fn long_lists_are_paged_with_next_link() {
    let mut cfg = EmulatorConfig::demo();
    cfg.list_page_size = 3;
    let emu = crate::common::start(cfg).await;
    let rg = emu.rg_path("contoso-rg");
    // contoso has four replications: pages of 3 and 1.
    let first: Value = emu.call(Method::GET, &format!("{rg}/registries/contoso/replications"), None).await.json().await.expect("json");
    assert_eq!(first["value"].as_array().map(Vec::len), Some(3));
    let next = first["nextLink"].as_str().expect("nextLink on a full page").to_string();
    assert!(next.starts_with(&emu.base), "absolute URL: {next}");
    let second: Value = emu.call(Method::GET, &next, None).await.json().await.expect("json");
    assert_eq!(second["value"].as_array().map(Vec::len), Some(1));
    assert!(second.get("nextLink").is_none_or(Value::is_null), "last page has no nextLink");
    let mut names: Vec<String> =
        first["value"].as_array().into_iter().chain(second["value"].as_array()).flatten().filter_map(|r| r["name"].as_str().map(str::to_string)).collect();
    names.sort();
    assert_eq!(names, vec!["canadacentral", "eastus", "westeurope", "westus"]);
    // Exactly a page: no nextLink.
    let regs: Value =
        emu.call(Method::GET, &format!("/subscriptions/{}/providers/Microsoft.ContainerRegistry/registries", emu.sub), None).await.json().await.expect("json");
    assert_eq!(regs["value"].as_array().map(Vec::len), Some(3));
    assert!(regs.get("nextLink").is_none());
}
