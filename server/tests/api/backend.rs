//! The back end against the embedded emulator over real HTTP: discovery,
//! replica actions through Creating → Syncing → Ready, routing, deletion,
//! refusals, conflicts, throttling and 5xx storms, and a restart in the
//! middle of a long-running operation.

use crate::helpers::{spawn_app, spawn_app_in, spawn_app_with, test_args, TestApp};
use serde_json::{json, Value};

fn contoso_replica<'a>(regs: &'a Value, region: &str) -> Option<&'a Value> {
    regs.as_array()?.iter().find(|r| r["name"] == "contoso")?["replicas"].as_array()?.iter().find(|p| p["location"] == region && p["gone"] == false)
}

async fn discovered(app: &TestApp) -> Value {
    app.wait_until("/api/v1/registries", 60, |v| v.as_array().is_some_and(|a| a.len() == 3) && contoso_replica(v, "westeurope").is_some()).await
}

async fn wait_op(app: &TestApp, id: &str) -> Value {
    let v = app
        .wait_until("/api/v1/operations?limit=1000", 60, |v| {
            v.as_array().into_iter().flatten().any(|o| o["id"] == id && o["state"] != "pending" && o["state"] != "running")
        })
        .await;
    v.as_array().into_iter().flatten().find(|o| o["id"] == id).cloned().unwrap_or_default()
}

#[tokio::test]
async fn discovery_finds_the_demo_world() {
    let app = spawn_app().await;
    let regs = discovered(&app).await;
    let contoso = regs.as_array().and_then(|a| a.iter().find(|r| r["name"] == "contoso")).expect("contoso");
    assert_eq!(contoso["sku"], "Premium");
    assert_eq!(contoso["location"], "westus");
    assert_eq!(contoso["resource_group"], "contoso-rg");
    let mut regions: Vec<&str> = contoso["replicas"].as_array().expect("replicas").iter().filter_map(|r| r["location"].as_str()).collect();
    regions.sort();
    assert_eq!(regions, vec!["canadacentral", "eastus", "westeurope", "westus"]);
    let home: Vec<&Value> = contoso["replicas"].as_array().expect("r").iter().filter(|r| r["home"] == true).collect();
    assert_eq!(home.len(), 1);
    assert_eq!(home[0]["location"], "westus");
    // The connected registry hangs off its parent.
    app.wait_until("/api/v1/registries/contoso", 30, |v| {
        v["children"].as_array().is_some_and(|c| c.iter().any(|x| x["kind"] == "connected-registry" && x["name"] == "contosoOnPrem"))
    })
    .await;
    // Every change is history.
    let hist = app.get_json("/api/v1/history?registry=contoso").await;
    assert!(hist.as_array().is_some_and(|h| h.iter().any(|e| e["kind"] == "registry.discovered")));
}

#[tokio::test]
async fn a_replica_is_created_observed_to_ready_rerouted_and_deleted() {
    // Slow enough (5×) that a 1 s poll sees Provisioning and Syncing.
    let app = spawn_app_with(|a| a.emulator_time_scale = Some(5.0)).await;
    discovered(&app).await;
    // An Operator application; a self-declared actor is ignored.
    let operator = app.as_app("ci-deployer").await;
    let r = operator
        .post(app.url("/api/v1/registries/contoso/replicas"))
        .header("x-regatlas-actor", "alice")
        .json(&json!({"region": "japaneast", "zone_redundancy": true, "routing": true}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 202);
    let op: Value = r.json().await.expect("json");
    assert_eq!(op["actor"], "ci-deployer", "the identity, not the name a request gave");
    assert_eq!(op["kind"], "replica.create");
    assert!(op["arm_operation_url"].as_str().is_some_and(|u| u.contains("operationStatuses")), "{op}");
    let done = wait_op(&app, op["id"].as_str().expect("id")).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    app.wait_until("/api/v1/registries", 30, |v| contoso_replica(v, "japaneast").is_some_and(|p| p["state"] == "ready")).await;
    // The history shows the way there, in order.
    let hist = app.get_json("/api/v1/history?registry=contoso&kind=replica.&limit=1000").await;
    let states: Vec<String> = hist
        .as_array()
        .expect("history")
        .iter()
        .rev()
        .filter(|e| e["summary"].as_str().is_some_and(|s| s.contains("/japaneast")))
        .filter_map(|e| serde_json::from_str::<Value>(e["data"].as_str().unwrap_or("{}")).ok())
        .filter_map(|d| d["state"].as_str().map(str::to_string))
        .collect();
    assert_eq!(states.first().map(String::as_str), Some("provisioning"), "{states:?}");
    assert_eq!(states.last().map(String::as_str), Some("ready"), "{states:?}");
    assert!(states.iter().any(|s| s == "syncing"), "Creating → Syncing → Ready: {states:?}");

    // Routing off, then on again.
    let r = operator
        .put(app.url("/api/v1/registries/contoso/replicas/japaneast/routing"))
        .json(&json!({"enabled": false, "actor": "bob"}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 202);
    let op: Value = r.json().await.expect("json");
    assert_eq!(wait_op(&app, op["id"].as_str().expect("id")).await["state"], "succeeded");
    app.wait_until("/api/v1/registries", 30, |v| contoso_replica(v, "japaneast").is_some_and(|p| p["routing"] == false)).await;
    let r = operator.put(app.url("/api/v1/registries/contoso/replicas/japaneast/routing")).json(&json!({"enabled": true})).send().await.expect("put");
    let op: Value = r.json().await.expect("json");
    assert_eq!(op["actor"], "ci-deployer");

    // Deleting needs Admin: the Operator is refused before ARM is called.
    let r = operator.delete(app.url("/api/v1/registries/contoso/replicas/japaneast")).send().await.expect("delete");
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "RoleRequired");
    assert_eq!(wait_op(&app, op["id"].as_str().expect("id")).await["state"], "succeeded");

    // Delete: the replica is marked gone, its history kept.
    let r = app.client.delete(app.url("/api/v1/registries/contoso/replicas/japaneast?actor=carol")).send().await.expect("delete");
    assert_eq!(r.status(), 202);
    let op: Value = r.json().await.expect("json");
    assert_eq!(wait_op(&app, op["id"].as_str().expect("id")).await["state"], "succeeded");
    let v = app
        .wait_until("/api/v1/registries/contoso", 30, |v| {
            v["replicas"].as_array().is_some_and(|r| r.iter().any(|p| p["location"] == "japaneast" && p["gone"] == true))
        })
        .await;
    assert!(v["replicas"].as_array().is_some_and(|r| r.iter().filter(|p| p["gone"] == false).count() == 4));
    let ops = app.get_json("/api/v1/operations?registry=contoso").await;
    let actors: Vec<&str> = ops.as_array().expect("ops").iter().filter_map(|o| o["actor"].as_str()).collect();
    assert_eq!(actors, vec!["ci-admin", "ci-deployer", "ci-deployer", "ci-deployer"], "every action recorded with who did it, newest first");
    // The operations' events name the principal, so Activity can filter by it.
    let people = app.get_json("/api/v1/people").await;
    let deployer = people.as_array().expect("people").iter().find(|p| p["name"] == "ci-deployer").expect("the deployer was seen");
    let key = deployer["key"].as_str().expect("key");
    let theirs =
        app.client.get(app.url("/api/v1/history")).query(&[("actor", key), ("limit", "1000")]).send().await.expect("get").json::<Value>().await.expect("json");
    let theirs = theirs.as_array().expect("events");
    assert!(!theirs.is_empty() && theirs.iter().all(|e| e["actor"] == key), "{theirs:?}");
    assert!(theirs.iter().any(|e| e["kind"] == "auth.denied"), "the refused delete is in their history");
}

async fn refused(app: &TestApp, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let r = app.client.request(method, app.url(path)).json(&body).send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn invalid_actions_are_refused_with_clear_codes_before_arm_is_called() {
    let app = spawn_app().await;
    discovered(&app).await;
    use reqwest::Method;
    let (s, e) = refused(&app, Method::DELETE, "/api/v1/registries/contoso/replicas/westus", json!({})).await;
    assert_eq!((s, e["code"].as_str()), (400, Some("HomeReplica")), "{e}");
    let (s, e) = refused(&app, Method::POST, "/api/v1/registries/contosostd/replicas", json!({"region": "eastus2"})).await;
    assert_eq!((s, e["code"].as_str()), (400, Some("SkuNotPremium")), "{e}");
    let (s, e) = refused(&app, Method::POST, "/api/v1/registries/contoso/replicas", json!({"region": "atlantis"})).await;
    assert_eq!((s, e["code"].as_str()), (400, Some("UnknownRegion")), "{e}");
    let (s, e) = refused(&app, Method::POST, "/api/v1/registries/contoso/replicas", json!({"region": "eastus"})).await;
    assert_eq!((s, e["code"].as_str()), (409, Some("ReplicaExists")), "{e}");
    let (s, e) = refused(&app, Method::POST, "/api/v1/registries/nosuchregistry/replicas", json!({"region": "eastus"})).await;
    assert_eq!((s, e["code"].as_str()), (404, Some("RegistryNotFound")), "{e}");
    // contosowesteu has one replica: disabling its routing would stop the global endpoint.
    let (s, e) = refused(&app, Method::PUT, "/api/v1/registries/contosowesteu/replicas/westeurope/routing", json!({"enabled": false})).await;
    assert_eq!((s, e["code"].as_str()), (409, Some("LastRoutedReplica")), "{e}");
    // Malformed input is a 4xx, never a crash.
    let r =
        app.client.post(app.url("/api/v1/registries/contoso/replicas")).header("content-type", "application/json").body("{nope").send().await.expect("post");
    assert!(r.status().is_client_error());
    // Nothing reached ARM: no operation rows.
    assert_eq!(app.get_json("/api/v1/operations").await.as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn two_operators_on_one_replica_get_one_call_and_one_conflict() {
    let app = spawn_app().await;
    discovered(&app).await;
    let post =
        |who: &'static str| app.client.post(app.url("/api/v1/registries/contoso/replicas")).json(&json!({"region": "australiaeast", "actor": who})).send();
    let (a, b) = tokio::join!(post("alice"), post("bob"));
    let mut statuses = vec![a.expect("a").status().as_u16(), b.expect("b").status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, vec![202, 409]);
    let ops = app.get_json("/api/v1/operations").await;
    assert_eq!(ops.as_array().map(Vec::len), Some(1), "exactly one ARM call recorded: {ops}");
}

#[tokio::test]
async fn arm_errors_reach_the_user_verbatim_with_their_code() {
    // An emulator run separately, so the test can change ARM behind Regatlas's back.
    let mut cfg = regatlas_emulator::EmulatorConfig::demo();
    cfg.time_scale = 20.0;
    let emu = regatlas_emulator::start(cfg).await.expect("emulator");
    let app = spawn_app_with(|a| crate::helpers::use_emulator(a, &emu)).await;
    discovered(&app).await;
    // Injected ARM failure on writes: Regatlas's checks pass, ARM refuses.
    reqwest::Client::new()
        .put(format!("{}/faults", emu.info().admin_url))
        .json(&json!({"stuckCreating": [], "errorRates": {"writes": 1.0}}))
        .send()
        .await
        .expect("faults");
    let r = app.client.post(app.url("/api/v1/registries/contoso/replicas")).json(&json!({"region": "brazilsouth"})).send().await.expect("post");
    assert!(r.status().is_server_error(), "{}", r.status());
    let e: Value = r.json().await.expect("json");
    let code = e["code"].as_str().unwrap_or_default();
    assert!(code == "InternalServerError" || code == "ServiceUnavailable", "ARM's code verbatim: {e}");
    let ops = app.get_json("/api/v1/operations").await;
    assert_eq!(ops[0]["state"], "failed");
    assert_eq!(ops[0]["error_code"], code);
    emu.shutdown().await;
}

#[tokio::test]
async fn the_poller_survives_429_storms_and_5xx_bursts() {
    let mut cfg = regatlas_emulator::EmulatorConfig::demo();
    cfg.time_scale = 20.0;
    cfg.throttle.reads = regatlas_emulator::throttle::BucketSpec { burst: 3.0, per_sec: 2.0 };
    cfg.faults.error_rates.insert("reads".into(), 0.2);
    let emu = regatlas_emulator::start(cfg).await.expect("emulator");
    let app = spawn_app_with(|a| crate::helpers::use_emulator(a, &emu)).await;
    discovered(&app).await;
    let status = app.wait_until("/api/v1/poller", 60, |v| v["cycles"].as_u64().unwrap_or(0) >= 3).await;
    assert!(status["throttled"].as_u64().unwrap_or(0) > 0, "the storm happened: {status}");
    let counters: Value = reqwest::get(format!("{}/counters", emu.info().admin_url)).await.expect("counters").json().await.expect("json");
    assert!(counters["throttled.reads"].as_u64().unwrap_or(0) > 0, "{counters}");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_restart_in_the_middle_of_an_operation_resumes_it_without_a_second_call() {
    let mut cfg = regatlas_emulator::EmulatorConfig::demo();
    cfg.time_scale = 5.0; // provisioning takes six real seconds
    let emu = regatlas_emulator::start(cfg).await.expect("emulator");
    let dir = tempfile::tempdir().expect("tmp");
    let db = crate::helpers::test_database(dir.path()).await;
    let mut args = test_args(&db);
    crate::helpers::use_emulator(&mut args, &emu);
    let app = spawn_app_in(dir, db.clone(), args.clone()).await;
    discovered(&app).await;
    let r =
        app.client.post(app.url("/api/v1/registries/contoso/replicas")).json(&json!({"region": "koreacentral", "actor": "dana"})).send().await.expect("post");
    assert_eq!(r.status(), 202);
    let op: Value = r.json().await.expect("json");
    let id = op["id"].as_str().expect("id").to_string();
    let dir = app.stop().await;

    let app = spawn_app_in(dir, db, args).await;
    let ops = app.get_json("/api/v1/operations").await;
    assert_eq!(ops[0]["id"], id.as_str());
    assert_eq!(ops[0]["state"], "running", "still running after the restart: {ops}");
    let done = wait_op(&app, &id).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let counters: Value = reqwest::get(format!("{}/counters", emu.info().admin_url)).await.expect("counters").json().await.expect("json");
    assert_eq!(counters["PUT replications"], 1, "ARM saw one create: {counters}");
    emu.shutdown().await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_api() {
    let app = spawn_app().await;
    let doc = app.get_json("/api/v1/openapi.json").await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in [
        "/api/v1/registries",
        "/api/v1/registries/{name}/replicas",
        "/api/v1/registries/{name}/replicas/{region}/routing",
        "/api/v1/operations",
        "/api/v1/history",
        "/api/v1/events",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    assert!(doc["components"]["schemas"]["RegistryView"].is_object());
}

#[tokio::test]
async fn server_sent_events_stream_changes_and_resume_after_last_event_id() {
    let app = spawn_app().await;
    discovered(&app).await;
    let hist = app.get_json("/api/v1/history?limit=1000").await;
    let events = hist.as_array().expect("history");
    assert!(events.len() >= 4);
    let resume_from = events[3]["id"].as_i64().expect("id");
    let expected_next: Vec<i64> = events.iter().filter_map(|e| e["id"].as_i64()).filter(|i| *i > resume_from).rev().collect();
    let mut resp = app.client.get(app.url("/api/v1/events")).header("last-event-id", resume_from.to_string()).send().await.expect("sse");
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        match tokio::time::timeout(std::time::Duration::from_secs(2), resp.chunk()).await {
            Ok(Ok(Some(c))) => text.push_str(&String::from_utf8_lossy(&c)),
            _ => break,
        }
        let ids: Vec<i64> = text.lines().filter_map(|l| l.strip_prefix("id: ")).filter_map(|v| v.trim().parse().ok()).collect();
        if ids.len() >= expected_next.len() {
            break;
        }
    }
    let ids: Vec<i64> = text.lines().filter_map(|l| l.strip_prefix("id: ")).filter_map(|v| v.trim().parse().ok()).collect();
    assert_eq!(&ids[..expected_next.len()], &expected_next[..], "the missed events, in order, from the database");
}

#[tokio::test]
async fn the_topology_page_is_server_rendered_from_the_stored_picture() {
    let app = spawn_app().await;
    discovered(&app).await;
    let html = app.browser().await.get(app.url("/topology")).send().await.expect("get").text().await.expect("text");
    assert!(html.contains("data-registry=\"contoso\""), "registries are in the HTML without JavaScript");
    assert!(html.contains("canadacentral") && html.contains("state-ready"), "replicas with their state");
    assert!(html.contains("on-prem: contosoOnPrem") || !html.contains("connected-registry"), "the connected registry hangs off its parent");
}

#[tokio::test]
async fn an_emulator_serving_arm_over_https_is_reached_with_its_ca_file() {
    let emu = regatlas_emulator::start(regatlas_emulator::EmulatorConfig { tls: true, time_scale: 20.0, ..regatlas_emulator::EmulatorConfig::demo() })
        .await
        .expect("emulator");
    let ca = std::path::PathBuf::from(emu.info().ca_pem_path.expect("CA file"));
    // Without the CA, the console cannot connect (and says so at start).
    let dir = tempfile::tempdir().expect("tmp");
    let mut args = crate::helpers::test_args(&crate::helpers::test_database(dir.path()).await);
    crate::helpers::use_emulator(&mut args, &emu);
    let config = regatlas_server::config::Config::resolve(&args).expect("config");
    let refused = regatlas_server::startup::Application::build(config).await.err().expect("an unknown CA is refused").to_string();
    assert!(refused.contains("login endpoint") && refused.contains(&emu.info().arm_base_url), "{refused}");
    // With it: discovery over https.
    let app = spawn_app_with(|a| {
        crate::helpers::use_emulator(a, &emu);
        a.emulator_ca_file = Some(ca.clone());
    })
    .await;
    discovered(&app).await;
    emu.shutdown().await;
}
