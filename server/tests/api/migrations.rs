//! The migration engine against the emulator over real HTTP: the demo's
//! `contosowesteu` consolidated into `contoso` (plan, copy, verify, report),
//! a NoForce conflict, injected 429s and 5xx, and the failure threshold.

use crate::helpers::{spawn_app, spawn_app_with};
use serde_json::{json, Value};

async fn emulator() -> regatlas_emulator::RunningEmulator {
    let mut cfg = regatlas_emulator::EmulatorConfig::demo();
    cfg.time_scale = 50.0;
    regatlas_emulator::start(cfg).await.expect("emulator")
}

async fn discovered(app: &crate::helpers::TestApp) {
    app.wait_until("/api/v1/registries", 30, |v| v.as_array().is_some_and(|a| a.len() >= 3)).await;
}

async fn create(app: &crate::helpers::TestApp, body: Value) -> Value {
    let r = app.client.post(app.url("/api/v1/migrations")).header("x-regatlas-actor", "erin").json(&body).send().await.expect("post");
    let status = r.status();
    let v: Value = r.json().await.expect("json");
    assert_eq!(status, 201, "{v}");
    v
}

async fn wait_state(app: &crate::helpers::TestApp, id: &str, states: &[&str]) -> Value {
    app.wait_migration(id, states, 120).await
}

async fn digest(emu: &regatlas_emulator::RunningEmulator, registry: &str, repo: &str, tag: &str) -> Option<String> {
    let info = emu.info();
    let ep = info.registries.get(registry)?.login_server.clone();
    let http = reqwest::Client::builder().no_proxy().build().ok()?;
    // A managed-identity token from the emulator, then an ACR token for the data plane.
    let mi = crate::helpers::emulator_arm_token(&info).await?;
    let tok: Value = http.get(format!("http://{ep}/oauth2/token")).bearer_auth(mi).send().await.ok()?.json().await.ok()?;
    let t = tok["access_token"].as_str()?.to_string();
    let r = http
        .head(format!("http://{ep}/v2/{repo}/manifests/{tag}"))
        .bearer_auth(t)
        .header("accept", regatlas_server::migration::oci::ACCEPT)
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_string)
}

#[tokio::test]
async fn consolidating_contosowesteu_into_contoso_plans_copies_verifies_and_reports() {
    let emu = emulator().await;
    let app = spawn_app_with(|a| crate::helpers::use_emulator(a, &emu)).await;
    discovered(&app).await;

    // A dry run first: a plan and nothing imported.
    let dry = create(&app, json!({"source_registry": "contosowesteu", "target_registry": "contoso", "dry_run": true})).await;
    let id = dry["id"].as_str().expect("id").to_string();
    let planned = wait_state(&app, &id, &["PLANNED", "FAILED"]).await;
    let m = &planned["migration"];
    assert_eq!(m["state"], "PLANNED", "{planned}");
    assert!(m["planned"].as_i64().unwrap_or(0) >= 7, "{m}");
    assert!(m["to_copy"].as_i64().unwrap_or(0) >= 4, "{m}");
    assert!(m["present"].as_i64().unwrap_or(0) >= 1, "hello-world:latest is already in contoso: {m}");
    // web/frontend:1.1.0 is an index in contosowesteu and a single image in contoso.
    let conflicts = planned["conflicts"].as_array().expect("conflicts");
    assert!(conflicts.iter().any(|c| c["repository"] == "web/frontend" && c["tags"][0] == "1.1.0"), "{conflicts:?}");
    assert_eq!(m["imported"], 0);
    assert!(planned["checklist"].as_array().expect("checklist").iter().any(|c| c["key"] == "delete-source" && c["status"] == "unsafe"));
    let before = digest(&emu, "contoso", "payments/api", "3.2.0").await;
    assert_eq!(before, None, "a dry run imports nothing");

    // Start it: copy, verify.
    let r = app.client.post(app.url(&format!("/api/v1/migrations/{id}/start"))).header("x-regatlas-actor", "erin").send().await.expect("start");
    assert_eq!(r.status(), 202);
    let done = wait_state(&app, &id, &["COMPLETE", "FAILED"]).await;
    let m = &done["migration"];
    assert_eq!(m["state"], "COMPLETE", "{done}");
    assert_eq!(m["imported"], m["to_copy"]);
    assert_eq!(m["failed"], 0);
    assert_eq!(m["mismatched"], 0);
    assert_eq!(m["verified"].as_i64(), Some(m["to_copy"].as_i64().unwrap_or(0) + m["present"].as_i64().unwrap_or(0)));
    // The target resolves the source's digests.
    for (repo, tag) in [("payments/api", "3.2.0"), ("payments/api", "3.3.0"), ("hello-world", "v2"), ("web/frontend", "1.2.0")] {
        let s = digest(&emu, "contosowesteu", repo, tag).await;
        assert!(s.is_some());
        assert_eq!(digest(&emu, "contoso", repo, tag).await, s, "{repo}:{tag}");
    }
    // NoForce: the conflicting tag kept the target's digest.
    assert_ne!(digest(&emu, "contoso", "web/frontend", "1.1.0").await, digest(&emu, "contosowesteu", "web/frontend", "1.1.0").await);
    // Exactly one import request per copied digest.
    let counters: Value = reqwest::get(format!("{}/counters", emu.info().admin_url)).await.expect("counters").json().await.expect("json");
    assert_eq!(counters["POST importimage"].as_i64(), m["to_copy"].as_i64(), "{counters}");
    assert!(done["source_delete_safe"].as_bool().unwrap_or(false));
    // contoso is geo-replicated with regional endpoints: verified there too.
    let items: Value = app.get_json(&format!("/api/v1/migrations/{id}/items?state=verified")).await;
    let replicas = emu.info().registries["contoso"].regional_endpoints.len();
    assert!(replicas >= 4);
    assert!(
        items.as_array().expect("items").iter().all(|i| i["detail"].as_str().is_some_and(|d| d.contains(&format!("{replicas} regional endpoints")))),
        "{items}"
    );

    // The checklist: settings compared, a manual step ticked by whoever
    // holds the Operator role (a Viewer may not), recorded by identity.
    let tick_url = app.url(&format!("/api/v1/migrations/{id}/checklist/update-clients"));
    let r = app.as_app("ci-reader").await.put(&tick_url).json(&json!({"done": true})).send().await.expect("tick");
    assert_eq!(r.status(), 403);
    let r = app.as_app("ci-deployer").await.put(&tick_url).json(&json!({"done": true, "actor": "frank"})).send().await.expect("tick");
    assert_eq!(r.status(), 200);
    let d: Value = r.json().await.expect("json");
    let item = d["checklist"].as_array().expect("list").iter().find(|c| c["key"] == "update-clients").cloned().expect("item");
    assert_eq!(item["done_by"], "ci-deployer", "the identity, not the self-declared 'frank'");
    let sku = d["checklist"].as_array().expect("list").iter().find(|c| c["key"] == "sku").cloned().expect("sku");
    assert_eq!(sku["status"], "same");
    let reps = d["checklist"].as_array().expect("list").iter().find(|c| c["key"] == "replications").cloned().expect("replications");
    assert_eq!(reps["status"], "different", "{reps}");

    // Reports.
    let csv = app.client.get(app.url(&format!("/api/v1/migrations/{id}/report.csv"))).send().await.expect("csv").text().await.expect("text");
    assert!(csv.starts_with("repository,digest,tags,action,state"));
    assert!(csv.contains("payments/api"));
    let json_report: Value = app.client.get(app.url(&format!("/api/v1/migrations/{id}/report.json"))).send().await.expect("json").json().await.expect("json");
    assert_eq!(json_report["items"].as_array().map(|a| a.len() as i64), m["planned"].as_i64());
    // Every action is recorded with who did it.
    let history = app.get_json("/api/v1/history?kind=migration.").await;
    let summaries: Vec<String> = history.as_array().expect("history").iter().filter_map(|e| e["summary"].as_str().map(str::to_string)).collect();
    assert!(summaries.iter().any(|s| s.contains("ci-admin created")), "{summaries:?}");
    assert!(summaries.iter().any(|s| s.contains("ci-deployer ticked")), "{summaries:?}");
    assert!(!summaries.iter().any(|s| s.contains("erin") || s.contains("frank")), "self-declared names are ignored: {summaries:?}");
    app.stop().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn a_migration_survives_429s_and_5xx_and_force_overwrites_a_conflict() {
    let emu = emulator().await;
    let app = spawn_app_with(|a| crate::helpers::use_emulator(a, &emu)).await;
    discovered(&app).await;
    let http = reqwest::Client::new();
    // A tight write quota (ARM throttles importImage as a write) and 20 % 5xx (an item fails only after 6 failed attempts: p = 0.2^6).
    http.put(format!("{}/throttle", emu.info().admin_url))
        .json(&json!({"reads": {"burst": 1000000.0, "per_sec": 1000000.0}, "writes": {"burst": 2.0, "per_sec": 2.0}, "deletes": {"burst": 100.0, "per_sec": 100.0}}))
        .send()
        .await
        .expect("throttle")
        .error_for_status()
        .expect("throttle accepted");
    http.put(format!("{}/faults", emu.info().admin_url)).json(&json!({"errorRates": {"writes": 0.2}})).send().await.expect("faults");
    let m =
        create(&app, json!({"source_registry": "contosowesteu", "target_registry": "contoso", "force": true, "max_concurrency": 8, "failure_threshold": 1.0}))
            .await;
    let id = m["id"].as_str().expect("id").to_string();
    let done = wait_state(&app, &id, &["COMPLETE", "FAILED"]).await;
    let m = &done["migration"];
    assert_eq!(m["state"], "COMPLETE", "{done}");
    assert_eq!(m["conflicts"], 0, "Force turns conflicts into copies");
    assert!(m["throttled"].as_i64().unwrap_or(0) > 0, "the engine saw 429s: {m}");
    // Every request ARM processed is an attempt on some item.
    let items: Value = app.get_json(&format!("/api/v1/migrations/{id}/items")).await;
    let attempts: i64 = items.as_array().expect("items").iter().filter_map(|i| i["attempts"].as_i64()).sum();
    let counters: Value = reqwest::get(format!("{}/counters", emu.info().admin_url)).await.expect("counters").json().await.expect("json");
    assert_eq!(counters["POST importimage"].as_i64(), Some(attempts), "{counters}");
    assert_eq!(digest(&emu, "contoso", "web/frontend", "1.1.0").await, digest(&emu, "contosowesteu", "web/frontend", "1.1.0").await, "Force overwrote the tag");
    app.stop().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_code_and_failures_stop_at_the_threshold() {
    let emu = emulator().await;
    let app = spawn_app_with(|a| crate::helpers::use_emulator(a, &emu)).await;
    discovered(&app).await;
    for (body, code) in [
        (json!({"source_registry": "nosuch", "target_registry": "contoso"}), "RegistryNotFound"),
        (json!({"source_registry": "contoso", "target_registry": "contoso"}), "SameRegistry"),
        (json!({"target_registry": "contoso"}), "InvalidSource"),
        (json!({"source_url": "http://127.0.0.1:1", "source_username": "u", "target_registry": "contoso"}), "CredentialSetRequired"),
        (json!({"source_url": "http://127.0.0.1:1", "source_password_env": "HOME", "target_registry": "contoso"}), "CredentialSetRequired"),
        (json!({"source_url": "http://127.0.0.1:1", "source_credential_set": "nosuch", "target_registry": "contoso"}), "UnknownCredentialSet"),
        (json!({"source_url": "http://169.254.169.254", "target_registry": "contoso"}), "SourceNotAllowed"),
        (json!({"source_url": "http://user:pw@127.0.0.1:1", "target_registry": "contoso"}), "InvalidSourceUrl"),
        (json!({"source_registry": "contosowesteu", "target_registry": "contoso", "name": "x".repeat(201)}), "FieldTooLong"),
        (json!({"source_registry": "contosowesteu", "target_registry": "contoso", "failure_threshold": 3.0}), "InvalidThreshold"),
    ] {
        let r = app.client.post(app.url("/api/v1/migrations")).json(&body).send().await.expect("post");
        assert!(r.status().is_client_error(), "{body}: {}", r.status());
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["code"], code, "{body}");
    }
    // Every import fails after being accepted: the threshold stops the migration and each failure keeps ARM's error.
    reqwest::Client::new().put(format!("{}/faults", emu.info().admin_url)).json(&json!({"importFailureRate": 1.0})).send().await.expect("faults");
    let m = create(&app, json!({"source_registry": "contosowesteu", "target_registry": "contoso", "failure_threshold": 0.0})).await;
    let id = m["id"].as_str().expect("id").to_string();
    let done = wait_state(&app, &id, &["COMPLETE", "FAILED"]).await;
    assert_eq!(done["migration"]["state"], "FAILED", "{done}");
    let problems = done["problems"].as_array().expect("problems");
    assert!(!problems.is_empty());
    assert!(problems.iter().all(|p| p["error_code"].is_string()), "{problems:?}");
    // Retry failed items only, with imports working again.
    reqwest::Client::new().put(format!("{}/faults", emu.info().admin_url)).json(&json!({})).send().await.expect("faults");
    let r = app.client.post(app.url(&format!("/api/v1/migrations/{id}/retry-failed"))).send().await.expect("retry");
    assert_eq!(r.status(), 202);
    let done = wait_state(&app, &id, &["COMPLETE", "FAILED"]).await;
    assert_eq!(done["migration"]["state"], "COMPLETE", "{done}");
    app.stop().await;
    emu.shutdown().await;
}

#[path = "../../../emulator/tests/oci_tools/mod.rs"]
pub mod oci_tools;

#[tokio::test]
async fn a_plain_oci_registry_by_url_is_a_source() {
    let dist = oci_tools::Distribution::start().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    let (index_digest, _) = oci_tools::write_layout(&src, "2.0");
    oci_tools::skopeo(
        tmp.path(),
        &[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}:2.0", src.display()),
            &format!("docker://{}/library/app:2.0", dist.addr),
        ],
    )
    .await;
    oci_tools::skopeo(
        tmp.path(),
        &[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}:2.0", src.display()),
            &format!("docker://{}/library/app:stable", dist.addr),
        ],
    )
    .await;

    let emu = emulator().await;
    let app = spawn_app_with(|a| crate::helpers::use_emulator(a, &emu)).await;
    discovered(&app).await;
    let m = create(&app, json!({"source_url": format!("http://{}", dist.addr), "target_registry": "contoso"})).await;
    let id = m["id"].as_str().expect("id").to_string();
    let done = wait_state(&app, &id, &["COMPLETE", "FAILED"]).await;
    let m = &done["migration"];
    assert_eq!(m["state"], "COMPLETE", "{done}");
    // One digest, two tags: one import carrying both.
    assert_eq!(m["to_copy"], 1, "{m}");
    let counters: Value = reqwest::get(format!("{}/counters", emu.info().admin_url)).await.expect("counters").json().await.expect("json");
    assert_eq!(counters["POST importimage"], 1, "{counters}");
    assert_eq!(digest(&emu, "contoso", "library/app", "2.0").await.as_deref(), Some(index_digest.as_str()));
    assert_eq!(digest(&emu, "contoso", "library/app", "stable").await.as_deref(), Some(index_digest.as_str()));
    app.stop().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn the_cli_plans_starts_reports_and_shows_status_on_the_same_database() {
    let emu = emulator().await;
    let url = emu.info().arm_base_url.clone();
    let secret = emu.info().token_header_value.clone();
    let dir = tempfile::tempdir().expect("tmp");
    let db = crate::helpers::test_database(dir.path()).await.url();
    let run = |args: Vec<String>| {
        let url = url.clone();
        let secret = secret.clone();
        let db = db.clone();
        async move {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_regatlas"))
                .arg("migrate")
                .args(&args)
                .args(["--database", db.as_str(), "--emulator-url", url.as_str()])
                .env("REGATLAS_EMULATOR_IDENTITY_SECRET", &secret)
                .env("RUST_LOG", "warn")
                .output()
                .await
                .expect("run regatlas migrate");
            (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let (ok, out, err) = run(s(&["plan", "--from", "contosowesteu", "--to", "contoso", "--include", "payments/*", "--actor", "ci"])).await;
    assert!(ok, "{err}");
    let plan: Value = serde_json::from_str(&out).expect("plan JSON on stdout");
    assert_eq!(plan["migration"]["state"], "PLANNED");
    assert_eq!(plan["migration"]["to_copy"], 3, "payments/api has two digests, payments/worker one: {}", plan["migration"]);
    let id = plan["migration"]["id"].as_str().expect("id").to_string();

    let (ok, out, err) = run(s(&["start", "--id", &id, "--actor", "ci"])).await;
    assert!(ok, "{err}");
    let done: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(done["state"], "COMPLETE", "{done}");

    let (ok, out, _) = run(s(&["status"])).await;
    assert!(ok);
    assert!(out.contains(&id) && out.contains("COMPLETE"), "{out}");
    let (ok, out, _) = run(s(&["status", &id, "--json"])).await;
    assert!(ok);
    let st: Value = serde_json::from_str(&out).expect("status JSON");
    assert_eq!(st["repositories"].as_array().map(|a| a.len()), Some(2));
    let (ok, out, _) = run(s(&["report", &id, "--format", "csv"])).await;
    assert!(ok);
    assert!(out.lines().count() >= 4 && out.contains("payments/worker"), "{out}");
    // A refusal is one clear line and a failing exit code.
    let (ok, _, err) = run(s(&["plan", "--from", "nosuch", "--to", "contoso"])).await;
    assert!(!ok);
    assert!(err.contains("RegistryNotFound"), "{err}");
    emu.shutdown().await;
}

#[tokio::test]
async fn pause_resume_and_cancel_take_effect_and_a_stopped_migration_can_finish_later() {
    let mut cfg = regatlas_emulator::EmulatorConfig::demo();
    cfg.time_scale = 50.0;
    // Slow imports (1.2 s each) so the controls land mid-copy.
    cfg.timings.import_base = 60.0;
    let emu = regatlas_emulator::start(cfg).await.expect("emulator");
    let app = spawn_app_with(|a| crate::helpers::use_emulator(a, &emu)).await;
    discovered(&app).await;
    let m = create(&app, json!({"source_registry": "contosowesteu", "target_registry": "contoso", "max_concurrency": 1})).await;
    let id = m["id"].as_str().expect("id").to_string();
    let path = format!("/api/v1/migrations/{id}");
    app.wait_until(&path, 60, |v| v["migration"]["state"] == "IN_PROGRESS" && v["migration"]["imported"].as_i64().unwrap_or(0) >= 1).await;
    let act = |a: &'static str| app.client.post(app.url(&format!("{path}/{a}"))).header("x-regatlas-actor", "heidi").send();

    assert_eq!(act("pause").await.expect("pause").status(), 202);
    let paused = wait_state(&app, &id, &["PAUSED"]).await;
    let at_pause = paused["migration"]["imported"].as_i64().unwrap_or(0);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let still = app.get_json(&path).await;
    assert_eq!(still["migration"]["state"], "PAUSED");
    assert_eq!(still["migration"]["imported"].as_i64(), Some(at_pause), "nothing is imported while paused");
    // Pausing twice is refused with a reason.
    let r = act("pause").await.expect("pause again");
    assert_eq!(r.status(), 409);

    assert_eq!(act("start").await.expect("resume").status(), 202);
    app.wait_until(&path, 60, move |v| v["migration"]["imported"].as_i64().unwrap_or(0) > at_pause).await;
    assert_eq!(act("cancel").await.expect("cancel").status(), 202);
    let stopped = wait_state(&app, &id, &["STOPPED"]).await;
    let m = &stopped["migration"];
    assert!(m["imported"].as_i64().unwrap_or(0) < m["to_copy"].as_i64().unwrap_or(0), "cancelled before the end: {m}");

    // Started again, it finishes what is left, once per digest.
    assert_eq!(act("start").await.expect("start").status(), 202);
    let done = wait_state(&app, &id, &["COMPLETE", "FAILED"]).await;
    assert_eq!(done["migration"]["state"], "COMPLETE", "{done}");
    let counters: Value = reqwest::get(format!("{}/counters", emu.info().admin_url)).await.expect("counters").json().await.expect("json");
    assert_eq!(counters["POST importimage"].as_i64(), done["migration"]["to_copy"].as_i64(), "{counters}");
    let history = app.get_json("/api/v1/history?kind=migration.updated").await;
    let summaries: Vec<String> = history.as_array().expect("history").iter().filter_map(|e| e["summary"].as_str().map(str::to_string)).collect();
    for s in ["ci-admin asked to pause", "ci-admin cancelled it", "ci-admin started it"] {
        assert!(summaries.iter().any(|x| x.contains(s)), "{s}: {summaries:?}");
    }
    app.stop().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn untagged_manifests_are_copied_on_request_without_an_index_platforms() {
    let emu = emulator().await;
    let app = spawn_app_with(|a| crate::helpers::use_emulator(a, &emu)).await;
    discovered(&app).await;
    let m = create(
        &app,
        json!({"source_registry": "contosowesteu", "target_registry": "contoso", "include": ["payments/worker"], "untagged": true, "dry_run": true}),
    )
    .await;
    let id = m["id"].as_str().expect("id").to_string();
    wait_state(&app, &id, &["PLANNED"]).await;
    let items: Value = app.get_json(&format!("/api/v1/migrations/{id}/items")).await;
    let items = items.as_array().expect("items");
    // payments/worker: one tagged index, its signature and an untagged build; the index's two platforms are not separate items.
    assert_eq!(items.len(), 3, "{items:?}");
    let untagged: Vec<String> =
        items.iter().filter(|i| i["tags"].as_array().is_some_and(|t| t.is_empty())).filter_map(|i| i["digest"].as_str().map(str::to_string)).collect();
    assert_eq!(untagged.len(), 2);
    let r = app.client.post(app.url(&format!("/api/v1/migrations/{id}/start"))).send().await.expect("start");
    assert_eq!(r.status(), 202);
    let done = wait_state(&app, &id, &["COMPLETE", "FAILED"]).await;
    assert_eq!(done["migration"]["state"], "COMPLETE", "{done}");
    for d in &untagged {
        assert_eq!(digest(&emu, "contoso", "payments/worker", d).await.as_deref(), Some(d.as_str()), "untagged {d} is in the target");
    }
    app.stop().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn the_cli_drives_a_running_console_through_its_api_as_its_token() {
    let app = spawn_app().await;
    crate::helpers::discovered(&app).await;
    let r = app.client.post(app.url("/api/v1/tokens")).json(&json!({"name": "release pipeline", "role": "operator"})).send().await.expect("token");
    let token = r.json::<Value>().await.expect("json")["secret"].as_str().expect("secret").to_string();
    let run = |args: Vec<String>, token: Option<String>| {
        let server = app.address.clone();
        async move {
            let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_regatlas"));
            cmd.arg("migrate").args(&args).args(["--server", server.as_str()]).env("RUST_LOG", "warn").env_remove("REGATLAS_API_TOKEN");
            if let Some(t) = token {
                cmd.env("REGATLAS_API_TOKEN", t);
            }
            let out = cmd.output().await.expect("run regatlas migrate");
            (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // No token: a clear refusal before anything is sent.
    let (ok, _, err) = run(s(&["status"]), None).await;
    assert!(!ok);
    assert!(err.contains("REGATLAS_API_TOKEN"), "{err}");

    let (ok, out, err) =
        run(s(&["plan", "--from", "contosowesteu", "--to", "contoso", "--include", "payments/*", "--actor", "someone-else"]), Some(token.clone())).await;
    assert!(ok, "{err}");
    let plan: Value = serde_json::from_str(&out).expect("plan JSON on stdout");
    assert_eq!(plan["migration"]["state"], "PLANNED");
    assert_eq!(plan["migration"]["actor"], "release pipeline (API token)", "the token's identity, not --actor");
    let id = plan["migration"]["id"].as_str().expect("id").to_string();
    let (ok, out, err) = run(s(&["start", "--id", &id]), Some(token.clone())).await;
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).expect("JSON")["state"], "COMPLETE");
    let (ok, out, _) = run(s(&["status"]), Some(token.clone())).await;
    assert!(ok && out.contains(&id) && out.contains("COMPLETE"), "{out}");
    let (ok, out, _) = run(s(&["report", &id, "--format", "csv"]), Some(token.clone())).await;
    assert!(ok && out.contains("payments/worker"), "{out}");
    // The server's refusal comes back as its code.
    let (ok, _, err) = run(s(&["plan", "--from", "nosuch", "--to", "contoso"]), Some(token.clone())).await;
    assert!(!ok && err.contains("RegistryNotFound"), "{err}");
    // A revoked token is refused.
    let list: Value = app.get_json("/api/v1/tokens").await;
    let tid = list[0]["id"].as_str().expect("id");
    app.client.delete(app.url(&format!("/api/v1/tokens/{tid}"))).send().await.expect("revoke");
    let (ok, _, err) = run(s(&["status"]), Some(token)).await;
    assert!(!ok && err.contains("InvalidToken"), "{err}");
}
