//! Kill the server (SIGKILL) in the middle of a 1,000-artifact migration and
//! start it again on the same database: the migration completes, nothing is
//! lost, and the emulator saw each digest imported once, except imports the
//! crash interrupted before their ARM answer was stored, which are sent again
//! (same digest, same tags: harmless) and are all counted as attempts.

use std::{process::Stdio, time::Duration};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

const SECRET: &str = "crash-test-identity-secret";

async fn emulator() -> (tokio::process::Child, Value) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_regatlas"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--time-scale", "50", "--seed-artifacts", "contosowesteu=1000"])
        .args(["--throttle", "writes=100000/100000", "--throttle", "reads=100000/100000", "--import-latency", "1"])
        .env("REGATLAS_EMULATOR_IDENTITY_SECRET", SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn emulator");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.expect("in time").expect("read").expect("line");
    (child, serde_json::from_str(&first).expect("json"))
}

fn server(dir: &std::path::Path, port: u16, emulator_url: &str) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_regatlas"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database"])
        .arg(dir.join("regatlas.db"))
        .arg("--site-root")
        .arg(crate::helpers::site_root())
        .args(["--emulator-url", emulator_url, "--poll-fast-secs", "1", "--poll-slow-secs", "2"])
        .env("REGATLAS_EMULATOR_IDENTITY_SECRET", SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn server")
}

/// An Admin application's client for the console's API, by the emulator's Entra ID.
pub async fn admin_client(arm: &str) -> reqwest::Client {
    let login = regatlas_server::startup::external_emulator_login(arm, SECRET, None).await.expect("login");
    let token = regatlas_server::auth::client::app_token(&login, "ci-admin").await.expect("token");
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(reqwest::header::AUTHORIZATION, reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("header"));
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).default_headers(h).build().expect("client")
}

async fn json(http: &reqwest::Client, url: &str) -> Option<Value> {
    http.get(url).send().await.ok()?.json().await.ok()
}

async fn wait(http: &reqwest::Client, url: &str, secs: u64, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = json(http, url).await {
            if ok(&v) {
                return v;
            }
        }
        assert!(std::time::Instant::now() < deadline, "{url} did not reach the expected state in {secs} s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_sigkill_in_the_middle_of_a_1000_artifact_migration_loses_nothing() {
    let (mut emu, info) = emulator().await;
    let arm = info["arm_base_url"].as_str().expect("arm").to_string();
    let admin = info["admin_url"].as_str().expect("admin").to_string();
    let dir = tempfile::tempdir().expect("dir");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let http = admin_client(&arm).await;

    let mut first = server(dir.path(), port, &arm);
    wait(&http, &format!("{base}/api/v1/registries"), 60, |v| v.as_array().is_some_and(|a| a.len() >= 3)).await;
    let r = http
        .post(format!("{base}/api/v1/migrations"))
        .json(&json!({"source_registry": "contosowesteu", "target_registry": "contoso", "include": ["load/*"], "max_concurrency": 32, "actor": "ci"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let url = format!("{base}/api/v1/migrations/{id}");

    // Kill it hard once a good part is copied (and imports are in flight).
    let mid = wait(&http, &url, 240, |v| v["migration"]["imported"].as_i64().unwrap_or(0) >= 300).await;
    assert_eq!(mid["migration"]["to_copy"], 1000, "{}", mid["migration"]);
    first.start_kill().expect("SIGKILL");
    let _ = first.wait().await;

    // Start again on the same database.
    let mut second = server(dir.path(), port, &arm);
    let done = wait(&http, &url, 300, |v| matches!(v["migration"]["state"].as_str(), Some("COMPLETE") | Some("FAILED"))).await;
    let m = &done["migration"];
    assert_eq!(m["state"], "COMPLETE", "{m}");
    assert_eq!(m["imported"], 1000);
    assert_eq!(m["verified"], 1000, "every artifact verified in the target");
    assert_eq!(m["failed"], 0);

    let items: Value = json(&http, &format!("{url}/items?limit=1000")).await.expect("items");
    let items = items.as_array().expect("array");
    assert_eq!(items.len(), 1000);
    let attempts: i64 = items.iter().filter_map(|i| i["attempts"].as_i64()).sum();
    let repeated = items.iter().filter(|i| i["attempts"].as_i64().unwrap_or(0) > 1).count() as i64;
    assert!(items.iter().all(|i| i["attempts"].as_i64().unwrap_or(0) >= 1));
    let counters: Value = json(&http, &format!("{admin}/counters")).await.expect("counters");
    let imports = counters["POST importimage"].as_i64().expect("import counter");
    // Every request the emulator processed is an attempt on record ...
    assert_eq!(imports, attempts, "{counters}");
    // ... and repeats are only the imports in flight at the kill (at most the window).
    assert!(imports - 1000 <= 32, "{} repeated imports for {repeated} items", imports - 1000);
    eprintln!("imports requested: {imports} for 1000 digests ({repeated} items sent twice after the crash)");

    second.start_kill().ok();
    let _ = second.wait().await;
    emu.start_kill().ok();
}
