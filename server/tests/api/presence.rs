//! Presence: regional webhooks made by the console, images pushed with
//! skopeo through the emulator's data plane, the matrix filling region by
//! region (the straggler last), an overwritten tag diverging then
//! converging, the routing readiness gate, refused deliveries, catch-up
//! from `listEvents` after downtime, and `/metrics` checked by promtool.

use std::path::Path;

use serde_json::{json, Value};

use crate::helpers::{spawn_app_in, spawn_app_with, test_args, use_emulator, TestApp};

use crate::migrations::oci_tools;

const STRAGGLER: &str = "canadacentral";

/// The demo world at 10× speed: a push reaches the other replicas after
/// 0.5 s, and canadacentral 8 s later than that.
async fn emulator() -> regatlas_emulator::RunningEmulator {
    let mut cfg = regatlas_emulator::EmulatorConfig::demo();
    cfg.time_scale = 10.0;
    cfg.timings.replication_delay = 5.0;
    cfg.timings.replication_jitter = 0.2;
    cfg.timings.straggler = Some((STRAGGLER.into(), 80.0));
    regatlas_emulator::start(cfg).await.expect("emulator")
}

async fn push(emu: &regatlas_emulator::RunningEmulator, home: &Path, reference: &str, arch: Option<&str>) {
    let login = emu.info().registries["contoso"].login_server.clone();
    let src = home.join(format!("src-{}", arch.unwrap_or("all")));
    if !src.exists() {
        oci_tools::write_layout(&src, "v1");
    }
    let from = format!("oci:{}:v1", src.display());
    let to = format!("docker://{login}/{reference}");
    let mut args = vec!["copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", "contoso:demo-contoso-password"];
    match arch {
        None => args.push("--all"),
        Some(a) => args.extend(["--override-os", "linux", "--override-arch", a]),
    }
    args.extend([from.as_str(), to.as_str()]);
    oci_tools::skopeo(home, &args).await;
}

fn row<'a>(v: &'a Value, tag: &str) -> Option<&'a Value> {
    v["rows"].as_array()?.iter().find(|r| format!("{}:{}", r["repository"].as_str().unwrap_or(""), r["tag"].as_str().unwrap_or("")) == tag)
}

fn cell<'a>(v: &'a Value, tag: &str, region: &str) -> Option<&'a Value> {
    row(v, tag)?["cells"].as_array()?.iter().find(|c| c["region"] == region)
}

async fn track(app: &TestApp) {
    let deployer = app.as_app("ci-deployer").await;
    let r =
        deployer.put(app.url("/api/v1/registries/contoso/presence/tracking")).json(&json!({"enabled": true, "objective_secs": 5})).send().await.expect("put");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    app.wait_until("/api/v1/registries/contoso/presence", 30, |v| {
        v["regions"].as_array().is_some_and(|a| a.len() == 4 && a.iter().all(|r| r["webhook"].is_string()))
    })
    .await;
}

#[tokio::test]
async fn pushes_fill_the_matrix_region_by_region_and_gate_routing() {
    let emu = emulator().await;
    let app = spawn_app_with(|a| use_emulator(a, &emu)).await;
    app.wait_until("/api/v1/registries", 30, |v| v.as_array().is_some_and(|a| a.len() >= 3)).await;

    // A Viewer cannot turn tracking on; an Operator can, and the hooks appear.
    let reader = app.as_app("ci-reader").await;
    let r = reader.put(app.url("/api/v1/registries/contoso/presence/tracking")).json(&json!({"enabled": true})).send().await.expect("put");
    assert_eq!(r.status(), 403);
    let std = app.client.put(app.url("/api/v1/registries/contosostd/presence/tracking")).json(&json!({"enabled": true})).send().await.expect("put");
    assert_eq!(std.status(), 409, "a Standard registry has no replicas to track");
    track(&app).await;
    // The gate's hot set: every tag of one repository (and none of "the last N").
    let deployer = app.as_app("ci-deployer").await;
    let tracking = app.url("/api/v1/registries/contoso/presence/tracking");
    let r = deployer.put(&tracking).json(&json!({"enabled": true, "hot_repositories": ["Bad Repo"]})).send().await.expect("put");
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "InvalidHotSet");
    let r = deployer.put(&tracking).json(&json!({"enabled": true, "hot_last": 0, "hot_repositories": ["presence/app"]})).send().await.expect("put");
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.expect("json");
    assert_eq!((t["hot_last"].clone(), t["hot_repositories"].clone()), (json!(0), json!(["presence/app"])), "{t}");

    // Routing off in the straggler, so the gate has something to guard.
    let routing = app.url(&format!("/api/v1/registries/contoso/replicas/{STRAGGLER}/routing"));
    let r = deployer.put(&routing).json(&json!({"enabled": false})).send().await.expect("routing off");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    app.wait_until("/api/v1/registries/contoso", 60, |v| {
        v["replicas"].as_array().is_some_and(|a| a.iter().any(|r| r["location"] == STRAGGLER && r["routing"] == false))
    })
    .await;

    let home = tempfile::tempdir().expect("tmp");
    push(&emu, home.path(), "presence/app:v1", None).await;
    let tag = "presence/app:v1";
    // The receiving replica and the quick regions first; the straggler not yet.
    let early = app
        .wait_until("/api/v1/registries/contoso/presence?repository=presence/app", 20, |v| {
            cell(v, tag, "westus").is_some_and(|c| c["state"] == "present") && cell(v, tag, "eastus").is_some_and(|c| c["state"] == "present")
        })
        .await;
    assert_eq!(cell(&early, tag, STRAGGLER).expect("cell")["state"], "missing", "{early}");

    // The gate: routing on is refused while the hot set is missing there.
    let r = deployer.put(&routing).json(&json!({"enabled": true})).send().await.expect("routing on");
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], "HotSetMissing", "{body}");
    assert!(body["message"].as_str().unwrap_or("").contains(tag), "{body}");
    // Forcing it is an Admin's call.
    let r = deployer.put(&routing).json(&json!({"enabled": true, "force": true})).send().await.expect("force");
    assert_eq!(r.status(), 403);

    // Then it arrives everywhere, the straggler's lag showing.
    // (The regions' figures are shared by every viewer and at most two seconds old.)
    let done = app
        .wait_until("/api/v1/registries/contoso/presence?repository=presence/app", 40, |v| {
            row(v, tag).is_some_and(|r| r["present_in"] == 4)
                && v["regions"].as_array().is_some_and(|a| a.iter().any(|r| r["region"] == STRAGGLER && r["lag_count"].as_i64().unwrap_or(0) > 0))
        })
        .await;
    let lag_of = |region: &str| cell(&done, tag, region).and_then(|c| c["lag_secs"].as_f64()).expect("lag");
    assert!(lag_of(STRAGGLER) >= 7.0, "straggler lag {} in {done}", lag_of(STRAGGLER));
    assert!(lag_of("eastus") < 4.0, "eastus lag {}", lag_of("eastus"));
    let regions = done["regions"].as_array().expect("regions");
    let straggler = regions.iter().find(|r| r["region"] == STRAGGLER).expect("region");
    assert!(straggler["lag_max"].as_f64().unwrap_or(0.0) >= 7.0, "{straggler}");
    assert!(straggler["budget_spent"].as_f64().unwrap_or(0.0) > 1.0, "every arrival missed the 5 s objective: {straggler}");
    let r = deployer.put(&routing).json(&json!({"enabled": true})).send().await.expect("routing on");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let region_of = |v: &Value, name: &str| v["regions"].as_array().and_then(|a| a.iter().find(|r| r["region"] == name).cloned()).unwrap_or_default();
    app.wait_until("/api/v1/registries/contoso/presence?limit=1", 60, |v| region_of(v, STRAGGLER)["routing"] == true).await;
    // Someone turns it off outside Regatlas (the portal, the CLI): drift.
    let info = emu.info();
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    let mi = crate::helpers::emulator_arm_token(&info).await.expect("ARM token");
    let replica = format!(
        "{}/subscriptions/{}/resourceGroups/contoso-rg/providers/Microsoft.ContainerRegistry/registries/contoso/replications/{STRAGGLER}?api-version=2025-11-01",
        info.arm_base_url, info.subscription_id
    );
    // ARM answers 409 while the replica is still updating from the toggle above.
    let mut tries = 0;
    loop {
        let r = http.patch(&replica).bearer_auth(&mi).json(&json!({"properties": {"regionEndpointEnabled": false}})).send().await.expect("patch");
        if r.status().is_success() {
            break;
        }
        tries += 1;
        assert!(r.status() == 409 && tries < 100, "{}", r.status());
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let drifted = app.wait_until("/api/v1/registries/contoso/presence?limit=1", 60, |v| region_of(v, STRAGGLER)["routing_drift"] == true).await;
    assert_eq!(region_of(&drifted, STRAGGLER)["routing_set"], true);
    assert_eq!(region_of(&drifted, "eastus")["routing_drift"], false);

    // The tag overwritten: the straggler serves the old digest for a while.
    let first_digest = row(&done, tag).expect("row")["digest"].clone();
    push(&emu, home.path(), "presence/app:v1", Some("arm64")).await;
    let diverged = app
        .wait_until("/api/v1/registries/contoso/presence?repository=presence/app", 20, |v| {
            row(v, tag).is_some_and(|r| r["digest"] != first_digest) && cell(v, tag, STRAGGLER).is_some_and(|c| c["state"] == "diverged")
        })
        .await;
    assert_eq!(cell(&diverged, tag, STRAGGLER).expect("cell")["digest"], first_digest);
    let only_incomplete = app.get_json("/api/v1/registries/contoso/presence?incomplete=true").await;
    assert!(row(&only_incomplete, tag).is_some(), "{only_incomplete}");
    app.wait_until("/api/v1/registries/contoso/presence?repository=presence/app", 40, |v| row(v, tag).is_some_and(|r| r["present_in"] == 4)).await;
    let complete = app.get_json("/api/v1/registries/contoso/presence?incomplete=true&q=presence/app").await;
    assert!(row(&complete, tag).is_none(), "converged: {complete}");

    // Deliveries with a wrong secret, or to no hook, store nothing.
    let before = app.get_json("/api/v1/registries/contoso/presence").await["total_tags"].clone();
    let forged = json!({"action": "push", "target": {"repository": "forged/app", "tag": "x", "digest": format!("sha256:{}", "a".repeat(64))}});
    let anon = reqwest::Client::builder().no_proxy().build().expect("client");
    for (path, secret) in
        [("/hooks/acr/contoso/eastus", "wrong"), ("/hooks/acr/contoso/eastus", ""), ("/hooks/acr/contoso/japaneast", "x"), ("/hooks/acr/nosuch/eastus", "x")]
    {
        let r = anon.post(app.url(path)).header("x-regatlas-hook-secret", secret).json(&forged).send().await.expect("post");
        assert_eq!(r.status(), 401, "{path}");
    }
    let after = app.get_json("/api/v1/registries/contoso/presence?q=forged").await;
    assert_eq!(after["total_tags"], before);
    assert!(after["rows"].as_array().is_some_and(|a| a.is_empty()), "{after}");

    // The history says who turned tracking on; arrivals are one coalesced event kind.
    let history = app.get_json("/api/v1/history?kind=presence.tracking").await;
    assert!(history.as_array().is_some_and(|a| a.iter().any(|e| e["summary"].as_str().unwrap_or("").contains("turned presence tracking on"))), "{history}");

    // Metrics: a token is needed; the text passes promtool.
    let r = anon.get(app.url("/metrics")).send().await.expect("metrics");
    assert_eq!(r.status(), 401);
    let text = app.client.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    for name in [
        "regatlas_replication_lag_seconds_bucket{registry=\"contoso\",region=\"canadacentral\"",
        "regatlas_presence_ratio{registry=\"contoso\",region=\"eastus\"}",
        "regatlas_webhook_events_refused_total{reason=\"secret\"}",
        "regatlas_replica_state{",
        "regatlas_poll_cycle_duration_seconds_bucket",
        "regatlas_arm_requests_total{",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    promtool(&["check", "metrics"], Some(&text)).await;

    app.stop().await;
    emu.shutdown().await;
}

/// Runs Debian's promtool (from `scripts/install-deps.sh`), feeding `stdin`.
pub async fn promtool(args: &[&str], stdin: Option<&str>) {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(oci_tools::tool("promtool"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        input.write_all(text.as_bytes()).await.expect("feed promtool");
    }
    let out = child.wait_with_output().await.expect("promtool");
    assert!(out.status.success(), "promtool {args:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn the_sample_alert_rules_pass_promtool() {
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/prometheus/regatlas-alerts.yml");
    promtool(&["check", "rules", rules], None).await;
}

#[tokio::test]
async fn events_missed_while_the_console_was_down_come_back_from_list_events() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().expect("tmp");
    let db = crate::helpers::test_database(dir.path()).await;
    let mut args = test_args(&db);
    use_emulator(&mut args, &emu);
    // No probes: what comes back here comes from listEvents alone.
    args.probe_reads_per_hour = Some(0);
    // One port for both lives: the webhooks keep pointing at it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    args.listen = Some(format!("127.0.0.1:{port}").parse().expect("addr"));
    let app = spawn_app_in(tempfile::tempdir().expect("tmp"), db.clone(), args.clone()).await;
    app.wait_until("/api/v1/registries", 30, |v| v.as_array().is_some_and(|a| a.len() >= 3)).await;
    track(&app).await;
    app.stop().await;

    // Down: the pushes' deliveries fail, but each webhook keeps them.
    let home = tempfile::tempdir().expect("tmp");
    push(&emu, home.path(), "offline/app:v1", None).await;
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;

    let app = spawn_app_in(tempfile::tempdir().expect("tmp"), db, args).await;
    let v = app
        .wait_until("/api/v1/registries/contoso/presence?repository=offline/app", 30, |v| row(v, "offline/app:v1").is_some_and(|r| r["present_in"] == 4))
        .await;
    let sources: Vec<&str> = row(&v, "offline/app:v1").expect("row")["cells"].as_array().expect("cells").iter().filter_map(|c| c["source"].as_str()).collect();
    assert!(sources.iter().all(|s| *s == "catch-up"), "{sources:?}");
    app.stop().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn tags_pushed_before_tracking_are_backfilled_by_probes_within_the_budget() {
    let emu = emulator().await;
    let per_hour = 7200u32;
    let app = spawn_app_with(|a| {
        use_emulator(a, &emu);
        a.probe_reads_per_hour = Some(per_hour);
    })
    .await;
    app.wait_until("/api/v1/registries", 30, |v| v.as_array().is_some_and(|a| a.len() >= 3)).await;
    let started = std::time::Instant::now();
    track(&app).await;
    // The demo's images were there before tracking: probes of each region's endpoint find them.
    let v = app
        .wait_until("/api/v1/registries/contoso/presence?repository=hello-world", 30, |v| row(v, "hello-world:latest").is_some_and(|r| r["present_in"] == 4))
        .await;
    for c in row(&v, "hello-world:latest").expect("row")["cells"].as_array().expect("cells") {
        assert_eq!(c["source"], "probe", "{c}");
        assert!(c["lag_secs"].is_null(), "a probe says when it looked, not when it arrived: {c}");
    }
    let regions = v["regions"].as_array().expect("regions");
    assert!(regions.iter().all(|r| r["probe_budget_per_hour"] == per_hour && r["probe_reads_last_hour"].as_i64().unwrap_or(0) > 0), "{v}");
    // The emulator counted the reads per replica: within a minute's burst plus the rate since.
    let counters: Value = reqwest::get(format!("{}/counters", emu.info().admin_url)).await.expect("counters").json().await.expect("json");
    let allowed = (per_hour / 60) as f64 + started.elapsed().as_secs_f64() * per_hour as f64 / 3600.0 + 1.0;
    for region in ["westus", "eastus", "westeurope", STRAGGLER] {
        let reads = counters[format!("oci read {region}")].as_f64().unwrap_or(0.0);
        assert!(reads > 0.0 && reads <= allowed, "{region}: {reads} reads, at most {allowed} allowed");
    }
    app.stop().await;
    emu.shutdown().await;
}
