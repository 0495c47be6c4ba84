//! A hostile registry as a migration source: cyclic indexes, oversized
//! bodies, endless and looping `Link` chains, redirects, `Link` pages and
//! token realms that point at a second, "internal" server, and names outside
//! the OCI grammar. Both servers record every request and its headers, so
//! the tests can say what was (never) sent where.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::helpers::{discovered, spawn_app_with};
use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Router,
};
use serde_json::{json, Value};

#[derive(Clone, Debug)]
struct Seen {
    path: String,
    authorization: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// An index that lists itself (sha512, which the client cannot check by
    /// hashing), and a repository name outside the grammar.
    Cycle,
    /// Every index lists 100 further distinct indexes (sha512 digests, made up on demand).
    WideIndex,
    /// A 5 MiB catalog with a Content-Length.
    HugeCatalog,
    /// A 5 MiB catalog streamed without a length.
    HugeCatalogChunked,
    /// Every catalog page links to a new next page.
    EndlessLinks,
    /// The catalog's next page is itself.
    LinkLoop,
    /// The catalog's next page is on the internal server.
    ForeignLink,
    /// The catalog redirects to the internal server.
    Redirect,
    /// A Bearer challenge whose realm is the internal server.
    ForeignRealm,
}

#[derive(Clone)]
struct Server {
    mode: Mode,
    seen: Arc<Mutex<Vec<Seen>>>,
    internal: String,
    /// WideIndex: the level of each digest handed out.
    levels: Arc<Mutex<std::collections::HashMap<String, u8>>>,
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

const SELF_DIGEST: &str =
    "sha512:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

async fn handle(State(s): State<Server>, req: Request) -> Response {
    let path = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    s.seen
        .lock()
        .expect("lock")
        .push(Seen { path: path.clone(), authorization: req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string) });
    let json_page = |v: Value, link: Option<String>| {
        let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response();
        if let Some(l) = link {
            r.headers_mut().insert(header::LINK, HeaderValue::from_str(&l).expect("link"));
        }
        r
    };
    let huge = || format!("{{\"repositories\":[\"{}\"]}}", "a".repeat(5 * 1024 * 1024));
    match (s.mode, req.uri().path()) {
        (Mode::Cycle, "/v2/_catalog") => json_page(json!({"repositories": ["loop", "Not A Valid Name", "../../etc"]}), None),
        (Mode::Cycle, "/v2/loop/tags/list") => json_page(json!({"name": "loop", "tags": ["v1", "bad tag\nwith a newline"]}), None),
        (Mode::Cycle, p) if p.starts_with("/v2/loop/manifests/") => {
            let body = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [{"mediaType": INDEX, "digest": SELF_DIGEST, "size": 100}]}).to_string();
            let body = if req.method() == axum::http::Method::HEAD { String::new() } else { body };
            (StatusCode::OK, [(header::CONTENT_TYPE, INDEX), (header::HeaderName::from_static("docker-content-digest"), SELF_DIGEST)], body).into_response()
        }
        (Mode::WideIndex, "/v2/_catalog") => json_page(json!({"repositories": ["wide"]}), None),
        (Mode::WideIndex, "/v2/wide/tags/list") => json_page(json!({"name": "wide", "tags": ["v1"]}), None),
        (Mode::WideIndex, p) if p.starts_with("/v2/wide/manifests/") => {
            let reference = p.trim_start_matches("/v2/wide/manifests/").to_string();
            let digest = |seed: &str| {
                use sha2::Digest;
                format!("sha512:{}", hex::encode(sha2::Sha512::digest(seed.as_bytes())))
            };
            let own = if reference.starts_with("sha512:") { reference.clone() } else { digest(&reference) };
            let level = s.levels.lock().expect("lock").get(&own).copied().unwrap_or(0);
            // Two levels of indexes, 100 wide, then plain manifests: 10,100 manifests, depth 3.
            let body = if level >= 2 {
                json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {"size": 1}, "layers": []}).to_string()
            } else {
                let children: Vec<String> = (0..100).map(|i| digest(&format!("{own}/{i}"))).collect();
                let mut levels = s.levels.lock().expect("lock");
                for c in &children {
                    levels.insert(c.clone(), level + 1);
                }
                json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": children.iter().map(|d| json!({"mediaType": INDEX, "digest": d, "size": 100})).collect::<Vec<_>>()}).to_string()
            };
            let body = if req.method() == axum::http::Method::HEAD { String::new() } else { body };
            (StatusCode::OK, [(header::CONTENT_TYPE, INDEX.to_string()), (header::HeaderName::from_static("docker-content-digest"), own)], body).into_response()
        }
        (Mode::HugeCatalog, "/v2/_catalog") => json_page(serde_json::from_str(&huge()).expect("json"), None),
        (Mode::HugeCatalogChunked, "/v2/_catalog") => {
            let chunks: Vec<Result<String, std::io::Error>> = huge().as_bytes().chunks(64 * 1024).map(|c| Ok(String::from_utf8_lossy(c).to_string())).collect();
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(futures::stream::iter(chunks))).into_response()
        }
        (Mode::EndlessLinks, "/v2/_catalog") => {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let n: u64 = req.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("last="))).and_then(|v| v.parse().ok()).unwrap_or(0);
            json_page(json!({"repositories": []}), Some(format!("</v2/_catalog?n=100&last={}>; rel=\"next\"", n + 1)))
        }
        (Mode::LinkLoop, "/v2/_catalog") => json_page(json!({"repositories": []}), Some("</v2/_catalog?n=100>; rel=\"next\"".into())),
        (Mode::ForeignLink, "/v2/_catalog") => json_page(json!({"repositories": []}), Some(format!("<{}/v2/_catalog?n=100&last=x>; rel=\"next\"", s.internal))),
        (Mode::Redirect, "/v2/_catalog") => (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, format!("{}/v2/_catalog", s.internal))]).into_response(),
        (Mode::ForeignRealm, "/v2/_catalog") => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, format!("Bearer realm=\"{}/token\",service=\"hostile\",scope=\"registry:catalog:*\"", s.internal))],
        )
            .into_response(),
        _ => (StatusCode::NOT_FOUND, "{\"errors\":[{\"code\":\"NAME_UNKNOWN\"}]}").into_response(),
    }
}

/// Starts a server on loopback that answers as `mode` and records what it gets.
async fn start(mode: Mode, internal: String) -> (String, Server) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let server = Server { mode, seen: Arc::new(Mutex::new(Vec::new())), internal, levels: Arc::default() };
    let app = Router::new().fallback(handle).with_state(server.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), server)
}

/// A hostile registry and the internal server it points at.
async fn pair(mode: Mode) -> (String, Server, Server) {
    // The internal server: answers everything with a "token" and records it.
    let (internal_url, internal) = start(Mode::Cycle, String::new()).await;
    let (url, hostile) = start(mode, internal_url).await;
    (url, hostile, internal)
}

async fn create(app: &crate::helpers::TestApp, body: Value) -> String {
    let r = app.client.post(app.url("/api/v1/migrations")).header("x-regatlas-actor", "mallory-test").json(&body).send().await.expect("post");
    let status = r.status();
    let v: Value = r.json().await.expect("json");
    assert_eq!(status, 201, "{v}");
    v["id"].as_str().expect("id").to_string()
}

async fn wait_state(app: &crate::helpers::TestApp, id: &str, states: &[&str], secs: u64) -> Value {
    app.wait_migration(id, states, secs).await
}

#[tokio::test]
async fn a_cyclic_index_and_invalid_names_are_findings_and_the_server_lives() {
    let (url, hostile, _) = pair(Mode::Cycle).await;
    let app = spawn_app_with(|_| {}).await;
    discovered(&app).await;
    let id = create(&app, json!({"source_url": url, "target_registry": "contoso", "dry_run": true})).await;
    let d = wait_state(&app, &id, &["PLANNED", "FAILED"], 60).await;
    assert_eq!(d["migration"]["state"], "PLANNED", "{d}");
    assert_eq!(d["migration"]["planned"], 0, "the cyclic index is not planned: {d}");
    let findings: Vec<String> = d["findings"].as_array().expect("findings").iter().filter_map(|f| f.as_str().map(str::to_string)).collect();
    assert!(findings.iter().any(|f| f.contains("cycle")), "{findings:?}");
    assert!(findings.iter().any(|f| f.contains("Not A Valid Name") && f.contains("not a valid OCI name")), "{findings:?}");
    assert!(findings.iter().any(|f| f.contains("../../etc")), "{findings:?}");
    assert!(findings.iter().any(|f| f.contains("bad tag with a newline")), "the newline is cleaned: {findings:?}");
    assert!(findings.iter().all(|f| !f.contains('\n')));
    // Invalid names were never requested.
    assert!(hostile.seen().iter().all(|s| !s.path.contains("Not%20A") && !s.path.contains("etc")), "{:?}", hostile.seen());
    // The server still answers.
    app.get_json("/api/v1/registries").await;
}

#[tokio::test]
async fn a_wide_deep_index_tree_is_cut_off_at_the_fetch_budget() {
    let (url, hostile, _) = pair(Mode::WideIndex).await;
    let app = spawn_app_with(|_| {}).await;
    discovered(&app).await;
    let id = create(&app, json!({"source_url": url, "target_registry": "contoso", "dry_run": true})).await;
    let d = wait_state(&app, &id, &["PLANNED", "FAILED"], 120).await;
    assert_eq!(d["migration"]["state"], "PLANNED", "{d}");
    let findings = d["findings"].to_string();
    assert!(findings.contains("more than 2048 manifests"), "{findings}");
    let fetched = hostile.seen().iter().filter(|s| s.path.starts_with("/v2/wide/manifests/")).count();
    assert!(fetched <= 2048 + 3, "{fetched} manifest requests");
}

#[tokio::test]
async fn oversized_bodies_are_refused_and_errors_stay_short() {
    for mode in [Mode::HugeCatalog, Mode::HugeCatalogChunked] {
        let (url, _, _) = pair(mode).await;
        let app = spawn_app_with(|_| {}).await;
        discovered(&app).await;
        let id = create(&app, json!({"source_url": url, "target_registry": "contoso", "dry_run": true})).await;
        let d = wait_state(&app, &id, &["FAILED"], 60).await;
        let error = d["migration"]["error"].as_str().expect("error");
        assert!(error.contains("limit"), "{mode:?}: {error}");
        assert!(error.len() < 700, "{mode:?}: the stored error is short ({} bytes)", error.len());
        let list = app.client.get(app.url("/api/v1/migrations")).send().await.expect("list").text().await.expect("text");
        assert!(list.len() < 16 * 1024, "{mode:?}: the migration list stays small ({} bytes)", list.len());
    }
}

#[tokio::test]
async fn an_endless_link_chain_stops_when_cancelled() {
    let (url, hostile, _) = pair(Mode::EndlessLinks).await;
    let app = spawn_app_with(|_| {}).await;
    discovered(&app).await;
    let id = create(&app, json!({"source_url": url, "target_registry": "contoso", "dry_run": true})).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(hostile.seen().len() > 5, "the inventory is following the chain");
    let r = app.client.post(app.url(&format!("/api/v1/migrations/{id}/cancel"))).send().await.expect("cancel");
    assert_eq!(r.status(), 202);
    let d = wait_state(&app, &id, &["STOPPED"], 10).await;
    assert_eq!(d["migration"]["state"], "STOPPED");
    let after_stop = hostile.seen().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hostile.seen().len(), after_stop, "no request after the stop");
}

#[tokio::test]
async fn link_loops_foreign_links_and_redirects_are_not_followed() {
    for (mode, words) in [(Mode::LinkLoop, "loops"), (Mode::ForeignLink, "another origin"), (Mode::Redirect, "redirect")] {
        let (url, _, internal) = pair(mode).await;
        let app = spawn_app_with(|_| {}).await;
        discovered(&app).await;
        let id = create(&app, json!({"source_url": url, "target_registry": "contoso", "dry_run": true})).await;
        let d = wait_state(&app, &id, &["FAILED"], 60).await;
        let error = d["migration"]["error"].as_str().unwrap_or("");
        assert!(error.contains(words), "{mode:?}: {error}");
        assert!(internal.seen().is_empty(), "{mode:?}: the internal server was reached: {:?}", internal.seen());
    }
}

#[tokio::test]
async fn credentials_go_only_to_the_hosts_their_set_is_bound_to() {
    let (url, hostile, internal) = pair(Mode::ForeignRealm).await;
    let host = url.trim_start_matches("http://").to_string();
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("regatlas.toml");
    let secret = "s3cr3t-hostile-test-password-7f1c";
    std::env::set_var("REGATLAS_TEST_HOSTILE_PASSWORD", secret);
    std::fs::write(
        &config,
        format!("[credential_sets.hostile]\nhosts = [\"{host}\"]\nusername = \"robot\"\npassword_env = \"REGATLAS_TEST_HOSTILE_PASSWORD\"\n"),
    )
    .expect("write");
    let app = spawn_app_with(|a| a.config = Some(config.clone())).await;
    discovered(&app).await;
    // A set bound to another host cannot be used for this source.
    let r = app
        .client
        .post(app.url("/api/v1/migrations"))
        .json(&json!({"source_url": hostile.internal.clone(), "source_credential_set": "hostile", "target_registry": "contoso"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["code"], "CredentialSetNotBound", "{v}");

    let id = create(&app, json!({"source_url": url, "source_credential_set": "hostile", "target_registry": "contoso", "dry_run": true})).await;
    let d = wait_state(&app, &id, &["FAILED"], 60).await;
    let error = d["migration"]["error"].as_str().unwrap_or("");
    assert!(error.contains("not bound to the token realm"), "{error}");
    // The registry itself got the Basic credentials; the realm on the internal server got nothing.
    assert!(hostile.seen().iter().any(|s| s.authorization.as_deref().is_some_and(|a| a.starts_with("Basic "))), "{:?}", hostile.seen());
    assert!(internal.seen().is_empty(), "{:?}", internal.seen());
    // The secret is nowhere a user or the database can see.
    let detail = app.client.get(app.url(&format!("/api/v1/migrations/{id}"))).send().await.expect("get").text().await.expect("text");
    let report = app.client.get(app.url(&format!("/api/v1/migrations/{id}/report.json"))).send().await.expect("get").text().await.expect("text");
    let history = app.client.get(app.url("/api/v1/history?limit=1000")).send().await.expect("get").text().await.expect("text");
    for text in [&detail, &report, &history] {
        assert!(!text.contains(secret));
    }
    let db = app.db.clone();
    drop(app.stop().await);
    assert!(!db.contains(secret).await, "the secret is in the database {db:?}");
}

/// The real binary on the embedded emulator, on `port`, with `db`.
fn server(db: &crate::helpers::TestDb, port: u16) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_regatlas"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database"])
        .arg(db.url())
        .arg("--site-root")
        .arg(crate::helpers::site_root())
        .args(["--emulator-time-scale", "20", "--poll-fast-secs", "1", "--poll-slow-secs", "2"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn server")
}

async fn until(http: &reqwest::Client, url: &str, secs: u64, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(r) = http.get(url).send().await {
            if let Ok(v) = r.json::<Value>().await {
                if ok(&v) {
                    return v;
                }
            }
        }
        assert!(std::time::Instant::now() < deadline, "{url} did not reach the expected state in {secs} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_migration_found_mid_phase_twice_is_failed_not_resumed_again() {
    let (url, hostile, _) = pair(Mode::EndlessLinks).await;
    let dir = tempfile::tempdir().expect("tmp");
    let db = crate::helpers::test_database(dir.path()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let base = format!("http://127.0.0.1:{port}");
    let registries = format!("{base}/api/v1/registries");

    // The first process starts the inventory and dies in it (SIGKILL).
    let mut a = server(&db, port);
    let plain = reqwest::Client::builder().no_proxy().build().expect("client");
    until(&plain, &format!("{base}/healthz"), 60, |_| true).await;
    // An API token lives in the database: it works across the restarts.
    let token = regatlas_server::auth::client::api_token_as_admin(&base, "crash test", "admin").await.expect("token");
    let http = crate::helpers::bearer_client(&token);
    until(&http, &registries, 60, |v| v.as_array().is_some_and(|r| r.len() >= 3)).await;
    let r = http
        .post(format!("{base}/api/v1/migrations"))
        .json(&json!({"source_url": url, "target_registry": "contoso", "dry_run": true}))
        .send()
        .await
        .expect("create");
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    until(&http, &format!("{base}/api/v1/migrations/{id}"), 10, |_| hostile.seen().len() > 3).await;
    a.kill().await.expect("kill");

    // The second finds it mid-phase and resumes it once; it dies too.
    let mut b = server(&db, port);
    until(&http, &registries, 60, |v| v.is_array()).await;
    let before = hostile.seen().len();
    until(&http, &format!("{base}/api/v1/migrations/{id}"), 10, |_| hostile.seen().len() > before + 3).await;
    b.kill().await.expect("kill");

    // The third finds it mid-phase again, with nothing finished since: FAILED, not resumed.
    let mut c = server(&db, port);
    let d = until(&http, &format!("{base}/api/v1/migrations/{id}"), 30, |v| v["migration"]["state"] == "FAILED").await;
    assert!(d["migration"]["error"].as_str().unwrap_or("").contains("repeated crashes"), "{d}");
    let quiet = hostile.seen().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hostile.seen().len(), quiet, "not resumed");
    // An operator can start it again once the cause is known.
    let r = http.post(format!("{base}/api/v1/migrations/{id}/start")).send().await.expect("start");
    assert_eq!(r.status(), 202);
    c.kill().await.expect("kill");
}
