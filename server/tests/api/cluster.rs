//! Two instances on one PostgreSQL database (each its own `regatlas serve`
//! process, one emulator process): one leads, both serve; a change made
//! through one reaches the other's live stream; when the leader is killed
//! the other finishes its migration; only the leader polls; a PostgreSQL
//! restart loses nothing. These run on the PostgreSQL pass of the test
//! command (`REGATLAS_TEST_POSTGRES`); on the SQLite pass there is nothing
//! to share, and they say so and return.

use std::{process::Stdio, time::Duration};

use serde_json::{json, Value};

use crate::migration_crash::{json, server_with, wait, Rig};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port()
}

/// One console process of the pair.
struct Instance {
    child: tokio::process::Child,
    base: String,
}

impl Instance {
    fn start(rig: &Rig) -> Instance {
        let port = free_port();
        // REGATLAS_TEST_LOG=1 shows the instances' logs.
        let log = if std::env::var_os("REGATLAS_TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() };
        Instance { child: server_with(&rig.db, port, &rig.arm, &[], log), base: format!("http://127.0.0.1:{port}") }
    }

    async fn readyz(&self, http: &reqwest::Client) -> Option<Value> {
        json(http, &format!("{}/readyz", self.base)).await
    }

    async fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL");
        let _ = self.child.wait().await;
    }

    /// `regatlas_poll_cycles_total` on this instance (0 when it never polled).
    async fn poll_cycles(&self, http: &reqwest::Client) -> f64 {
        let text = http.get(format!("{}/metrics", self.base)).send().await.expect("metrics").text().await.expect("text");
        text.lines().filter(|l| l.starts_with("regatlas_poll_cycles_total")).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
    }
}

/// Both instances up; returns (leader, follower) once exactly one leads.
async fn pair(rig: &Rig) -> (Instance, Instance) {
    let a = Instance::start(rig);
    let b = Instance::start(rig);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (ra, rb) = (a.readyz(&rig.http).await, b.readyz(&rig.http).await);
        if let (Some(ra), Some(rb)) = (&ra, &rb) {
            match (ra["leader"].as_bool(), rb["leader"].as_bool()) {
                (Some(true), Some(false)) => return (a, b),
                (Some(false), Some(true)) => return (b, a),
                (Some(true), Some(true)) => panic!("two leaders: {ra} {rb}"),
                _ => {}
            }
        }
        assert!(std::time::Instant::now() < deadline, "no leader in 60 s: {ra:?} {rb:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn skip_without_postgres() -> bool {
    if crate::helpers::test_postgres().is_none() {
        eprintln!("SQLite pass: several instances need PostgreSQL (the PostgreSQL pass runs this)");
        return true;
    }
    false
}

#[tokio::test]
async fn an_event_made_through_one_instance_reaches_the_other_instances_stream_within_a_second() {
    if skip_without_postgres() {
        return;
    }
    let rig = Rig::new(20, &[]).await;
    let (leader, follower) = pair(&rig).await;
    wait(&rig.http, &format!("{}/api/v1/registries", follower.base), 60, |v| v.as_array().is_some_and(|a| a.len() >= 3)).await;
    // A live stream on the leader; the change through the follower.
    let mut stream = rig.http.get(format!("{}/api/v1/events", leader.base)).send().await.expect("events");
    assert_eq!(stream.status(), 200);
    let r = rig
        .http
        .post(format!("{}/api/v1/migrations", follower.base))
        .json(&json!({"source_registry": "contosowesteu", "target_registry": "contoso", "include": ["load/*"], "dry_run": true}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let made = std::time::Instant::now();
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let mut seen = String::new();
    let arrived = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(chunk)) = stream.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(&id) {
                return made.elapsed();
            }
        }
        panic!("the stream ended: {seen}");
    })
    .await
    .expect("the follower's event on the leader's stream");
    eprintln!("event through the follower on the leader's stream after {arrived:?}");
    assert!(arrived < Duration::from_secs(1), "took {arrived:?} (NOTIFY, not the 5 s resync, should carry it)");
    // The leader drives the dry run the follower created: it is planned.
    wait(&rig.http, &format!("{}/api/v1/migrations/{id}", follower.base), 60, |v| v["migration"]["state"] == "PLANNED").await;
}

#[tokio::test]
async fn when_the_leader_is_killed_mid_migration_the_other_instance_completes_it() {
    if skip_without_postgres() {
        return;
    }
    let mut rig = Rig::new(1000, &[]).await;
    let (mut leader, follower) = pair(&rig).await;
    // Created through the follower: the leader adopts it.
    rig.base = follower.base.clone();
    let url = rig.migrate_load(32).await;
    wait(&rig.http, &url, 240, |v| v["migration"]["imported"].as_i64().unwrap_or(0) >= 150).await;
    leader.kill().await;
    let killed = std::time::Instant::now();
    wait(&rig.http, &format!("{}/readyz", follower.base), 60, |v| v["leader"] == true).await;
    eprintln!("take-over after the leader's SIGKILL: {:?}", killed.elapsed());
    rig.completes(&url, 1000).await;
    // One import per digest: what the dead leader had in flight was found
    // in the target (or followed by its stored operation), not sent again.
    let counters = json(&rig.http, &format!("{}/counters", rig.admin)).await.expect("counters");
    assert_eq!(counters["POST importimage"].as_i64(), Some(1000), "{counters}");
}

#[tokio::test]
async fn only_the_leader_polls() {
    if skip_without_postgres() {
        return;
    }
    let rig = Rig::new(5, &[]).await;
    let (leader, follower) = pair(&rig).await;
    wait(&rig.http, &format!("{}/api/v1/registries", follower.base), 60, |v| v.as_array().is_some_and(|a| a.len() >= 3)).await;
    let reads = |c: &Value| c["GET replications"].as_i64().unwrap_or(0);
    let before = json(&rig.http, &format!("{}/counters", rig.admin)).await.expect("counters");
    let (leader_before, follower_before) = (leader.poll_cycles(&rig.http).await, follower.poll_cycles(&rig.http).await);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = json(&rig.http, &format!("{}/counters", rig.admin)).await.expect("counters");
    let (leader_after, follower_after) = (leader.poll_cycles(&rig.http).await, follower.poll_cycles(&rig.http).await);
    let cycles = leader_after - leader_before;
    assert!(cycles >= 2.0, "the leader polls: {cycles} cycles in 6 s");
    assert_eq!(follower_after, 0.0, "the follower never polls ({follower_before} then {follower_after})");
    // Each cycle reads each registry's replications once: the emulator
    // counts the leader's cycles only (at most one cycle more, in flight).
    let replica_reads = reads(&after) - reads(&before);
    let registries = 3.0;
    assert!(replica_reads as f64 <= (cycles + 1.0) * registries, "{replica_reads} replica reads for {cycles} cycles of {registries} registries");
    // A local `regatlas migrate` would poll and drive beside the leader: refused.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_regatlas"))
        .args(["migrate", "plan", "--from", "contosowesteu", "--to", "contoso", "--database"])
        .arg(rig.db.url())
        .args(["--emulator-url", &rig.arm])
        .env("REGATLAS_EMULATOR_IDENTITY_SECRET", crate::migration_crash::SECRET)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("run regatlas migrate");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("ConsoleLeads"), "{err}");
}

#[tokio::test]
async fn a_refresh_and_a_pause_then_resume_through_the_follower_reach_the_leader() {
    if skip_without_postgres() {
        return;
    }
    let mut rig = Rig::new(200, &[]).await;
    let (_leader, follower) = pair(&rig).await;
    wait(&rig.http, &format!("{}/api/v1/registries", follower.base), 60, |v| v.as_array().is_some_and(|a| a.len() >= 3)).await;
    // Discovery (the subscription list) runs every 5 minutes; "Refresh now"
    // through the follower makes the leader's poller discover at once.
    let listed = |c: &Value| c["GET subscriptions"].as_i64().unwrap_or(0);
    let before = listed(&json(&rig.http, &format!("{}/counters", rig.admin)).await.expect("counters"));
    let r = rig.http.post(format!("{}/api/v1/refresh", follower.base)).send().await.expect("refresh");
    assert_eq!(r.status(), 202);
    let asked = std::time::Instant::now();
    loop {
        let now = json(&rig.http, &format!("{}/counters", rig.admin)).await.expect("counters");
        if listed(&now) > before {
            eprintln!("the leader discovered {:?} after a refresh through the follower", asked.elapsed());
            break;
        }
        assert!(asked.elapsed() < Duration::from_secs(5), "no discovery within 5 s of the refresh: {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Paused through the follower (the leader's driver stops within a
    // second) and resumed there while the driver drains: the resume holds.
    rig.base = follower.base.clone();
    let url = rig.migrate_load(4).await;
    wait(&rig.http, &url, 120, |v| v["migration"]["imported"].as_i64().unwrap_or(0) >= 10).await;
    let r = rig.http.post(format!("{url}/pause")).send().await.expect("pause");
    assert_eq!(r.status(), 202);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = rig.http.post(format!("{url}/start")).send().await.expect("resume");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let done = wait(&rig.http, &url, 300, |v| matches!(v["migration"]["state"].as_str(), Some("COMPLETE") | Some("FAILED") | Some("PAUSED"))).await;
    assert_eq!(done["migration"]["state"], "COMPLETE", "{}", done["migration"]);
    assert_eq!(done["migration"]["imported"].as_i64(), Some(200));
}

#[tokio::test]
async fn a_postgresql_restart_under_load_loses_nothing() {
    if skip_without_postgres() {
        return;
    }
    // A cluster of its own: restarting the shared one would fail the other tests' work.
    let cluster = OwnCluster::start();
    let mut rig = Rig::new(1000, &[]).await;
    rig.db = crate::helpers::TestDb::Postgres(cluster.url.clone());
    let (leader, follower) = pair(&rig).await;
    rig.base = leader.base.clone();
    let url = rig.migrate_load(32).await;
    wait(&rig.http, &url, 240, |v| v["migration"]["imported"].as_i64().unwrap_or(0) >= 150).await;
    let status = tokio::process::Command::new("bash").arg(CLUSTER_SCRIPT).arg("restart").arg(cluster.dir.path()).status().await.expect("restart");
    assert!(status.success(), "the cluster restarts");
    // Both instances come back; one leads; the migration completes.
    for i in [&leader, &follower] {
        wait(&rig.http, &format!("{}/readyz", i.base), 60, |v| v["status"] == "ready").await;
    }
    rig.completes(&url, 1000).await;
    rig.imports_match_attempts(&url, 32).await;
}

const CLUSTER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg-test-cluster.sh");

/// A throwaway PostgreSQL cluster of one test's own, stopped when dropped.
struct OwnCluster {
    dir: tempfile::TempDir,
    /// Its admin URL (the `postgres` database, empty).
    url: String,
}

impl OwnCluster {
    fn start() -> OwnCluster {
        let dir = tempfile::tempdir().expect("cluster dir");
        let out = std::process::Command::new("bash").arg(CLUSTER_SCRIPT).arg("start").arg(dir.path()).output().expect("run pg-test-cluster.sh");
        assert!(out.status.success(), "the cluster starts: {}", String::from_utf8_lossy(&out.stderr));
        OwnCluster { dir, url: String::from_utf8_lossy(&out.stdout).trim().to_string() }
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash").arg(CLUSTER_SCRIPT).arg("stop").arg(self.dir.path()).status();
    }
}

#[tokio::test]
async fn db_copy_moves_an_installation_from_sqlite_to_postgresql() {
    if skip_without_postgres() {
        return;
    }
    use crate::helpers::{spawn_app_in, test_args, test_database, TestDb};
    // An installation on SQLite: discovered registries, a planned migration, history.
    let dir = tempfile::tempdir().expect("tmp");
    let sqlite = TestDb::Sqlite(dir.path().join("regatlas.db"));
    let app = spawn_app_in(dir, sqlite.clone(), test_args(&sqlite)).await;
    crate::helpers::discovered(&app).await;
    let r = app
        .client
        .post(app.url("/api/v1/migrations"))
        .json(&json!({"source_registry": "contosowesteu", "target_registry": "contoso", "dry_run": true}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let planned = app.wait_migration(&id, &["PLANNED"], 60).await;
    let history = app.get_json("/api/v1/history?limit=1000").await;
    let kept = app.stop().await;

    // Copied into a new PostgreSQL database.
    let pg = test_database(kept.path()).await;
    let copy = |to: String| {
        let from = sqlite.url();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_regatlas"))
                .args(["db", "copy", "--from", &from, "--to", &to])
                .env("RUST_LOG", "warn")
                .output()
                .await
                .expect("run db copy")
        }
    };
    let out = copy(pg.url()).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(printed.contains("migration_items") && printed.contains("events"), "{printed}");
    assert!(!printed.contains("regatlas@") || !printed.contains("password"), "no password printed: {printed}");
    // A second copy into the same (now full) database is refused.
    let again = copy(pg.url()).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"), "{}", String::from_utf8_lossy(&again.stderr));

    // The console on PostgreSQL shows the same installation.
    let app = spawn_app_in(kept, pg.clone(), test_args(&pg)).await;
    let m = app.get_json(&format!("/api/v1/migrations/{id}")).await;
    assert_eq!(m["migration"]["state"], "PLANNED");
    assert_eq!(m["migration"]["planned"], planned["migration"]["planned"], "{m}");
    assert_eq!(m["migration"]["to_copy"], planned["migration"]["to_copy"], "{m}");
    let moved = app.get_json("/api/v1/history?limit=1000").await;
    let ids = |h: &Value| h.as_array().expect("history").iter().filter_map(|e| e["id"].as_i64()).collect::<Vec<_>>();
    let (before, after) = (ids(&history), ids(&moved));
    assert!(before.iter().all(|i| after.contains(i)), "every event kept with its id");
    // New rows take ids after the copied ones (the identity columns moved on).
    let r = app
        .client
        .post(app.url("/api/v1/migrations"))
        .json(&json!({"source_registry": "contosowesteu", "target_registry": "contoso", "dry_run": true}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let newest = ids(&app.get_json("/api/v1/history?limit=1").await);
    assert!(newest.first().is_some_and(|n| n > before.iter().max().expect("events")), "{newest:?}");
}
