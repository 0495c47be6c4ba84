//! Kill the server (SIGKILL) in the middle of a 1,000-artifact migration and
//! start it again on the same database: the migration completes, nothing is
//! lost, and the emulator saw each digest imported once, except imports the
//! crash interrupted before their ARM answer was stored, which are sent again
//! (same digest, same tags: harmless) and are all counted as attempts.
//! A second test kills it halfway through a batched item write (the group
//! commit's transaction, held open by a test failpoint), with the same
//! outcome.

use std::{process::Stdio, time::Duration};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

pub const SECRET: &str = "crash-test-identity-secret";

/// The emulator in its own process with `artifacts` seeded into contosowesteu (ARM unthrottled) and `extra` flags.
pub async fn emulator_with(artifacts: usize, extra: &[&str]) -> (tokio::process::Child, Value) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_regatlas"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--time-scale", "50", "--seed-artifacts", &format!("contosowesteu={artifacts}")])
        .args(["--throttle", "writes=100000/100000", "--throttle", "reads=100000/100000", "--import-latency", "1"])
        .args(extra)
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

/// The console in its own process on the emulator, with `env` set and its stderr as given.
pub fn server_with(db: &crate::helpers::TestDb, port: u16, emulator_url: &str, env: &[(&str, &str)], stderr: Stdio) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_regatlas"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database"])
        .arg(db.url())
        .arg("--site-root")
        .arg(crate::helpers::site_root())
        .args(["--emulator-url", emulator_url, "--poll-fast-secs", "1", "--poll-slow-secs", "2"])
        .env("REGATLAS_EMULATOR_IDENTITY_SECRET", SECRET)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
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

pub async fn json(http: &reqwest::Client, url: &str) -> Option<Value> {
    http.get(url).send().await.ok()?.json().await.ok()
}

pub async fn wait(http: &reqwest::Client, url: &str, secs: u64, ok: impl Fn(&Value) -> bool) -> Value {
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

/// An emulator process, the console's database directory and port, and an
/// Admin client: what the crash and scale tests share.
pub struct Rig {
    pub emu: tokio::process::Child,
    pub arm: String,
    pub admin: String,
    _dir: tempfile::TempDir,
    pub db: crate::helpers::TestDb,
    pub port: u16,
    pub base: String,
    pub http: reqwest::Client,
}

impl Rig {
    /// The emulator with `artifacts` seeded and `extra` flags, ready for a console.
    pub async fn new(artifacts: usize, extra: &[&str]) -> Rig {
        let (emu, info) = emulator_with(artifacts, extra).await;
        let arm = info["arm_base_url"].as_str().expect("arm").to_string();
        let admin = info["admin_url"].as_str().expect("admin").to_string();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
            l.local_addr().expect("addr").port()
        };
        let http = admin_client(&arm).await;
        let dir = tempfile::tempdir().expect("dir");
        let db = crate::helpers::test_database(dir.path()).await;
        Rig { emu, arm, admin, _dir: dir, db, port, base: format!("http://127.0.0.1:{port}"), http }
    }

    /// The console on the rig's database, with `env` and its stderr as given.
    pub fn console(&self, env: &[(&str, &str)], stderr: Stdio) -> tokio::process::Child {
        server_with(&self.db, self.port, &self.arm, env, stderr)
    }

    /// Once the console sees the registries: a migration of every `load/*` image into contoso; its URL.
    pub async fn migrate_load(&self, max_concurrency: u32) -> String {
        wait(&self.http, &format!("{}/api/v1/registries", self.base), 60, |v| v.as_array().is_some_and(|a| a.len() >= 3)).await;
        let r = self
            .http
            .post(format!("{}/api/v1/migrations", self.base))
            .json(&json!({"source_registry": "contosowesteu", "target_registry": "contoso", "include": ["load/*"], "max_concurrency": max_concurrency}))
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), 201);
        let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
        format!("{}/api/v1/migrations/{id}", self.base)
    }

    /// Waits for the migration to settle; it must be complete with every copy imported and verified.
    pub async fn completes(&self, url: &str, artifacts: i64) -> Value {
        let done = wait(&self.http, url, 300, |v| matches!(v["migration"]["state"].as_str(), Some("COMPLETE") | Some("FAILED"))).await;
        let m = &done["migration"];
        assert_eq!(m["state"], "COMPLETE", "{m}");
        assert_eq!((m["imported"].as_i64(), m["verified"].as_i64(), m["failed"].as_i64()), (Some(artifacts), Some(artifacts), Some(0)), "{m}");
        done
    }

    /// SIGKILLs `first`, starts the console again on the same database: the
    /// 1,000-artifact migration at `url` completes, imports matching
    /// attempts within the window of 32; then everything stops.
    pub async fn kill_and_finish(&mut self, mut first: tokio::process::Child, url: &str) {
        first.start_kill().expect("SIGKILL");
        let _ = first.wait().await;
        let mut second = self.console(&[], Stdio::null());
        self.completes(url, 1000).await;
        self.imports_match_attempts(url, 32).await;
        second.start_kill().ok();
        let _ = second.wait().await;
        self.emu.start_kill().ok();
    }

    /// Every item by following the `Link` header from `first` (a path).
    pub async fn all_pages(&self, first: &str) -> (Vec<Value>, usize) {
        let (mut out, mut pages) = (Vec::new(), 0);
        let mut next = Some(format!("{}{first}", self.base));
        while let Some(url) = next.take() {
            let r = self.http.get(&url).send().await.expect("page");
            assert_eq!(r.status(), 200, "{url}");
            next = r
                .headers()
                .get("link")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.split(';').next())
                .map(|u| u.trim().trim_start_matches('<').trim_end_matches('>').to_string())
                .map(|u| if u.starts_with("http") { u } else { format!("{}{u}", self.base) });
            let page: Value = r.json().await.expect("json");
            out.extend(page.as_array().expect("array").iter().cloned());
            pages += 1;
            assert!(pages < 100, "the cursor does not advance");
        }
        (out, pages)
    }

    /// Every item's attempts against the emulator's count of imports: each
    /// request it processed is an attempt on record (an attempt is written
    /// before its request is sent, so a kill between the two leaves one
    /// more attempt than imports), and only the imports in flight at the
    /// kill (at most the window) were sent twice.
    pub async fn imports_match_attempts(&self, url: &str, window: i64) {
        let path = url.strip_prefix(&self.base).expect("a console URL");
        let (items, _) = self.all_pages(&format!("{path}/items?limit=400")).await;
        assert_eq!(items.len(), 1000);
        assert!(items.iter().all(|i| i["attempts"].as_i64().unwrap_or(0) >= 1));
        let attempts: i64 = items.iter().filter_map(|i| i["attempts"].as_i64()).sum();
        let repeated = items.iter().filter(|i| i["attempts"].as_i64().unwrap_or(0) > 1).count();
        let counters: Value = json(&self.http, &format!("{}/counters", self.admin)).await.expect("counters");
        let imports = counters["POST importimage"].as_i64().expect("import counter");
        assert!(imports <= attempts && attempts - imports <= window, "{imports} imports, {attempts} attempts: {counters}");
        assert!(imports - 1000 <= window, "{} repeated imports for {repeated} items", imports - 1000);
        eprintln!("imports requested: {imports} for 1000 digests ({repeated} items sent twice after the crash)");
    }
}

#[tokio::test]
async fn a_sigkill_in_the_middle_of_a_batched_item_write_loses_nothing() {
    let mut rig = Rig::new(1000, &[]).await;
    // The 5th batch of the copy's item writes (of two or more) stops halfway through its transaction.
    let mut first = rig.console(&[("REGATLAS_FAILPOINT", "item-batch-pause:5")], Stdio::piped());
    let stderr = first.stderr.take().expect("stderr");
    let url = rig.migrate_load(32).await;
    let mut lines = BufReader::new(stderr).lines();
    let reached = tokio::time::timeout(Duration::from_secs(240), async {
        while let Ok(Some(l)) = lines.next_line().await {
            if l.contains("failpoint item-batch-pause reached") {
                return true;
            }
        }
        false
    })
    .await
    .expect("the failpoint in time");
    assert!(reached, "the server ended before the failpoint");
    // The copy is under way (reads go on beside the open write transaction in WAL mode).
    let mid = json(&rig.http, &url).await.expect("the migration while paused");
    assert_eq!(mid["migration"]["state"], "IN_PROGRESS", "paused mid-copy: {}", mid["migration"]);
    assert!(mid["migration"]["imported"].as_i64().unwrap_or(0) < 1000, "{}", mid["migration"]);
    // Half a transaction of item writes is open: kill the process there.
    rig.kill_and_finish(first, &url).await;
}

#[tokio::test]
async fn a_sigkill_in_the_middle_of_a_1000_artifact_migration_loses_nothing() {
    let mut rig = Rig::new(1000, &[]).await;
    let first = rig.console(&[], Stdio::null());
    let url = rig.migrate_load(32).await;

    // Kill it hard once a good part is copied (and imports are in flight).
    let mid = wait(&rig.http, &url, 240, |v| v["migration"]["imported"].as_i64().unwrap_or(0) >= 300).await;
    assert_eq!(mid["migration"]["to_copy"], 1000, "{}", mid["migration"]);
    rig.kill_and_finish(first, &url).await;
}
