//! Transfer pipelines: pipelines and runs as ARM reports them; a transfer
//! exported from one registry and imported into another, its content
//! pulled from the target with skopeo; more than 50 artifacts split into
//! runs tracked as one transfer; a run started again and deleted; a run
//! ARM never had created again from the stored plan; roles.

use serde_json::{json, Value};

use crate::{helpers::TestApp, migrations::oci_tools};

fn find<'a>(list: &'a Value, key: &str, name: &str) -> &'a Value {
    list.as_array().and_then(|a| a.iter().find(|c| c[key] == name)).unwrap_or(&Value::Null)
}

async fn overview(app: &TestApp, registry: &str) -> Value {
    app.get_json(&format!("/api/v1/registries/{registry}/transfers")).await
}

#[tokio::test]
async fn a_transfer_exports_from_one_registry_and_imports_into_another() {
    let (emu, app) = crate::helpers::demo_world().await;

    // What the demo world holds: an export pipeline with runs in three states, an import pipeline.
    let o = overview(&app, "contoso").await;
    let export = find(&o["pipelines"], "name", "contosoexport");
    assert_eq!(export["kind"], "export", "{o}");
    assert_eq!(export["storage_uri"], "https://contosotransfer.blob.core.windows.net/transfer");
    assert_eq!(export["key_vault_uri"], "https://contoso-kv.vault.azure.net/secrets/acrexportsas");
    assert_eq!(export["options"], json!(["OverwriteBlobs"]));
    assert_eq!(find(&o["runs"], "name", "exportrun01")["state"], "succeeded");
    assert_eq!(find(&o["runs"], "name", "exportrun01")["imported"].as_array().map(Vec::len), Some(2));
    let failed = find(&o["runs"], "name", "exportrun02");
    assert_eq!(failed["state"], "failed");
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("legacy/app:0.9")), "{failed}");
    assert_eq!(failed["failed"], json!(["legacy/app:0.9"]), "what did not arrive is listed");
    assert_eq!(find(&o["runs"], "name", "exportrun03")["state"], "running");
    let w = overview(&app, "contosowesteu").await;
    let import = find(&w["pipelines"], "name", "contosoimport");
    assert_eq!(import["source_trigger"], "Enabled");
    assert_eq!(import["identity"], "UserAssigned");

    // Roles and checks before ARM.
    let reader = app.as_app("ci-reader").await;
    let deployer = app.as_app("ci-deployer").await;
    let url = app.url("/api/v1/registries/contoso/transfers");
    let req = json!({ "pipeline": "contosoexport", "artifacts": ["tools/base:2024.10", "web/frontend:1.0.0", "web/frontend"], "blob_prefix": "weekly" });
    assert_eq!(reader.post(&url).json(&req).send().await.expect("post").status(), 403);
    let r = deployer.post(&url).json(&json!({ "pipeline": "contosoexport", "artifacts": ["Bad Repo:1"] })).send().await.expect("post");
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "InvalidArtifact");
    let r = deployer.post(&url).json(&json!({ "pipeline": "nosuchpipe1", "artifacts": ["a:1"] })).send().await.expect("post");
    assert_eq!(r.status(), 404);
    let r = deployer
        .post(app.url("/api/v1/registries/contosowesteu/transfers"))
        .json(&json!({ "pipeline": "contosoimport", "artifacts": ["a:1"] }))
        .send()
        .await
        .expect("post");
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "WrongPipelineKind");

    // Export three artifacts (a bare repository is every tag) ...
    let r = deployer.post(&url).json(&req).send().await.expect("post");
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let t: Value = r.json().await.expect("json");
    assert_eq!(t["runs"].as_array().map(Vec::len), Some(1));
    let id = t["id"].as_str().expect("id").to_string();
    let blob = format!("weekly-{id}-01");
    assert_eq!(t["runs"][0]["blob"], json!(blob), "blob names carry the transfer, so a prefix used twice overwrites nothing");
    let o = app.wait_until("/api/v1/registries/contoso/transfers", 30, |o| find(&o["transfers"], "id", &id)["state"] == "succeeded").await;
    let run = find(&o["runs"], "transfer", &id);
    assert_eq!(run["imported"].as_array().map(Vec::len), Some(4), "web/frontend has three tags: {run}");
    assert_eq!(find(&o["transfers"], "id", &id)["created_by"], "ci-deployer");

    // ... and import the blob into contosowesteu, where skopeo then finds it.
    let r = deployer
        .post(app.url("/api/v1/registries/contosowesteu/transfers"))
        .json(&json!({ "pipeline": "contosoimport", "blobs": [blob] }))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let imp: Value = r.json().await.expect("json");
    let imp_id = imp["id"].as_str().expect("id").to_string();
    app.wait_until("/api/v1/registries/contosowesteu/transfers", 30, |o| find(&o["transfers"], "id", &imp_id)["state"] == "succeeded").await;
    let login = emu.info().registries["contosowesteu"].login_server.clone();
    let home = tempfile::tempdir().expect("home");
    let mut found = String::new();
    for _ in 0..40 {
        let out = tokio::process::Command::new(oci_tools::tool("skopeo"))
            .args(["--insecure-policy", "inspect", "--raw", "--tls-verify=false", "--creds", "contosowesteu:demo-contosowesteu-password"])
            .arg(format!("docker://{login}/tools/base:2024.10"))
            .env("HOME", home.path())
            .env("XDG_RUNTIME_DIR", home.path())
            .output()
            .await
            .expect("skopeo");
        if out.status.success() {
            found = String::from_utf8_lossy(&out.stdout).into_owned();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(found.contains("schemaVersion"), "tools/base:2024.10 was imported into contosowesteu");

    // An import of a blob that is not there fails, with ARM's message.
    let r = deployer
        .post(app.url("/api/v1/registries/contosowesteu/transfers"))
        .json(&json!({ "pipeline": "contosoimport", "blobs": ["no-such-blob"] }))
        .send()
        .await
        .expect("post");
    let bad: Value = r.json().await.expect("json");
    let bad_id = bad["id"].as_str().expect("id").to_string();
    let w = app.wait_until("/api/v1/registries/contosowesteu/transfers", 30, |o| find(&o["transfers"], "id", &bad_id)["state"] == "failed").await;
    assert!(find(&w["runs"], "transfer", &bad_id)["error"].as_str().is_some_and(|e| e.contains("no-such-blob")));
    app.stop().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn more_than_fifty_artifacts_are_several_runs_tracked_as_one_and_runs_start_again() {
    let (emu, app) = crate::helpers::demo_world().await;
    let deployer = app.as_app("ci-deployer").await;
    // 120 artifacts (none of them in the registry): three runs, each failing with ARM's message.
    let artifacts: Vec<String> = (0..120).map(|i| format!("bulk/app{i:03}:1.0")).collect();
    let r = deployer
        .post(app.url("/api/v1/registries/contoso/transfers"))
        .json(&json!({ "pipeline": "contosoexport", "artifacts": artifacts }))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let t: Value = r.json().await.expect("json");
    let id = t["id"].as_str().expect("id").to_string();
    let sizes: Vec<u64> = t["runs"].as_array().expect("runs").iter().map(|r| r["artifacts"].as_u64().unwrap_or(0)).collect();
    assert_eq!(sizes, vec![50, 50, 20]);
    assert_eq!(t["artifacts"], 120);
    let o = app.wait_until("/api/v1/registries/contoso/transfers", 30, |o| find(&o["transfers"], "id", &id)["state"] == "failed").await;
    assert_eq!(find(&o["transfers"], "id", &id)["percent"], 100.0);
    let history = app.get_json("/api/v1/history?kind=child.action").await;
    assert!(history
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["summary"].as_str().is_some_and(|s| s.contains(&format!("started transfer {id}")) && s.contains("120 artifacts in 3 runs"))));

    // A run again: a new forceUpdateTag, and it runs.
    let before = find(&overview(&app, "contoso").await["runs"], "name", "exportrun02")["force_update_tag"].clone();
    let r = deployer.post(app.url("/api/v1/registries/contoso/pipeline-runs/exportrun02/rerun")).send().await.expect("post");
    assert_eq!(r.status(), 202);
    let after = find(&overview(&app, "contoso").await["runs"], "name", "exportrun02").clone();
    assert_ne!(after["force_update_tag"], before);
    assert_eq!(after["state"], "running", "{after}");

    // A transfer's run deleted in ARM is still part of the transfer, and is created again from the plan.
    let run = format!("t{id}002");
    let r = deployer.delete(app.url(&format!("/api/v1/registries/contoso/pipeline-runs/{run}"))).send().await.expect("delete");
    assert_eq!(r.status(), 202);
    let o = app
        .wait_until("/api/v1/registries/contoso/transfers", 30, |o| {
            find(&o["transfers"], "id", &id)["runs"].as_array().is_some_and(|rs| rs.iter().any(|r| r["run"] == run && r["state"] == "missing"))
        })
        .await;
    assert!(find(&o["runs"], "name", &run).is_null());
    let r = deployer.post(app.url(&format!("/api/v1/registries/contoso/pipeline-runs/{run}/rerun"))).send().await.expect("post");
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let o = overview(&app, "contoso").await;
    assert_eq!(find(&o["runs"], "name", &run)["artifacts"].as_array().map(Vec::len), Some(50));
    let r = deployer.post(app.url("/api/v1/registries/contoso/pipeline-runs/nosuchrun/rerun")).send().await.expect("post");
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "RunNotFound");
    app.stop().await;
    emu.shutdown().await;
}
