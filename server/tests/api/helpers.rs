//! `spawn_app()`: the real server on port 0 with a database of its own (a
//! temporary SQLite file, or a fresh PostgreSQL database when the test
//! command gives a cluster in `REGATLAS_TEST_POSTGRES`), stopped when the
//! returned [`TestApp`] is dropped.

use std::path::{Path, PathBuf};

use regatlas_server::{
    config::{Config, ServeArgs},
    startup::Application,
};
use tokio::sync::oneshot;

pub struct TestApp {
    pub address: String,
    /// Signed in as the emulator's `ci-admin` application (an Entra access
    /// token with the Admin app role) for `/api/v1`.
    pub client: reqwest::Client,
    /// How to reach the emulator's Entra ID (tokens for other roles).
    pub login: regatlas_arm::credential::EmulatorLogin,
    pub db: TestDb,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let r = self.client.get(self.url(path)).send().await.expect("GET");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.expect("json")
    }

    /// Polls `path` until `check` holds (at most `secs` seconds).
    pub async fn wait_until(&self, path: &str, secs: u64, check: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        self.wait(path, secs, check, None).await
    }

    /// Like [`TestApp::wait_until`], but looks again when the server
    /// publishes an event (on its live stream) rather than on a timer; a
    /// quiet second still looks once, so a missed event costs a second,
    /// not the test. Takes one of the server's event-stream slots.
    pub async fn wait_for_event(&self, path: &str, secs: u64, check: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        // Subscribe first, then look: an event between the two is not lost.
        let events = match self.client.get(self.url("/api/v1/events")).send().await {
            Ok(r) if r.status().is_success() => Some(r),
            _ => None,
        };
        self.wait(path, secs, check, events).await
    }

    /// Looks at `path` until `check` holds: again after each chunk of the
    /// event stream (or a quiet second), or every 200 ms without one.
    async fn wait(&self, path: &str, secs: u64, check: impl Fn(&serde_json::Value) -> bool, events: Option<reqwest::Response>) -> serde_json::Value {
        use futures::StreamExt;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let mut events = events.map(|r| r.bytes_stream());
        loop {
            let v = self.get_json(path).await;
            if check(&v) {
                return v;
            }
            if std::time::Instant::now() > deadline {
                panic!("condition on {path} not reached in {secs}s; last: {v}");
            }
            match events.as_mut() {
                Some(stream) => match tokio::time::timeout(std::time::Duration::from_secs(1), stream.next()).await {
                    Ok(Some(Ok(_))) | Err(_) => {}
                    // The stream ended: fall back to looking on a timer.
                    Ok(_) => events = None,
                },
                None => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        }
    }

    /// Waits (on events) until a migration is in one of `states`; its detail.
    pub async fn wait_migration(&self, id: &str, states: &[&str], secs: u64) -> serde_json::Value {
        let states: Vec<String> = states.iter().map(|s| s.to_string()).collect();
        self.wait_for_event(&format!("/api/v1/migrations/{id}"), secs, move |v| v["migration"]["state"].as_str().is_some_and(|s| states.iter().any(|x| x == s)))
            .await
    }

    /// Stops the server and waits until it has shut down (the database closed).
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
        std::mem::replace(&mut self._dir, tempfile::tempdir().expect("tmp"))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The built front end, if the test command built it (`REGATLAS_SITE_ROOT`).
pub fn site_root() -> PathBuf {
    std::env::var_os("REGATLAS_SITE_ROOT").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/site")))
}

/// Waits until the poller has discovered the demo world's registries.
pub async fn discovered(app: &TestApp) {
    app.wait_until("/api/v1/registries", 30, |v| v.as_array().is_some_and(|a| a.len() >= 3)).await;
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A test's database.
#[derive(Clone, Debug)]
pub enum TestDb {
    /// A SQLite file (in the test's temporary directory).
    Sqlite(PathBuf),
    /// A PostgreSQL database made for this test on the test cluster.
    Postgres(String),
}

impl TestDb {
    /// What `--database` takes.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite(p) => p.to_string_lossy().to_string(),
            TestDb::Postgres(u) => u.clone(),
        }
    }

    /// Whether `needle` appears anywhere in what the database stores: the
    /// SQLite file and its WAL, or every row of every table on PostgreSQL.
    pub async fn contains(&self, needle: &str) -> bool {
        match self {
            TestDb::Sqlite(p) => ["", "-wal"]
                .iter()
                .any(|suffix| std::fs::read(format!("{}{suffix}", p.display())).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))),
            TestDb::Postgres(url) => {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
                let tables: Vec<(String, String)> = sqlx::query_as(
                    "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'",
                )
                .fetch_all(&mut c)
                .await
                .expect("tables");
                for (schema, table) in tables {
                    let text: Option<String> = sqlx::query_scalar(&format!("SELECT string_agg(t::text, ' ') FROM \"{schema}\".\"{table}\" t"))
                        .fetch_one(&mut c)
                        .await
                        .expect("rows as text");
                    if text.is_some_and(|t| t.contains(needle)) {
                        return true;
                    }
                }
                false
            }
        }
    }
}

/// The admin URL of the PostgreSQL cluster the tests run on, if any.
pub fn test_postgres() -> Option<String> {
    std::env::var("REGATLAS_TEST_POSTGRES").ok().filter(|s| !s.is_empty())
}

/// A database for one test: `dir/regatlas.db`, or on the PostgreSQL test
/// cluster a new database of its own.
pub async fn test_database(dir: &Path) -> TestDb {
    match test_postgres() {
        None => TestDb::Sqlite(dir.join("regatlas.db")),
        Some(admin) => {
            use sqlx::Connection;
            let name = format!("t_{}", uuid::Uuid::new_v4().simple());
            let mut c = sqlx::PgConnection::connect(&admin).await.expect("connect to the test cluster (REGATLAS_TEST_POSTGRES)");
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await.expect("create the test database");
            TestDb::Postgres(with_database(&admin, &name))
        }
    }
}

/// `url` naming database `name` instead of its own.
pub fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, query) = match rest.split_once('/') {
        Some((a, path)) => (a, path.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default()),
        None => match rest.split_once('?') {
            Some((a, q)) => (a, format!("?{q}")),
            None => (rest, String::new()),
        },
    };
    format!("{scheme}://{authority}/{name}{query}")
}

/// Test defaults: emulator at 20× speed, fast polling.
pub fn test_args(db: &TestDb) -> ServeArgs {
    ServeArgs {
        listen: Some("127.0.0.1:0".parse().expect("addr")),
        database: Some(db.url()),
        site_root: Some(site_root()),
        emulator_time_scale: Some(20.0),
        poll_fast_secs: Some(1),
        poll_slow_secs: Some(2),
        ..Default::default()
    }
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut ServeArgs)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = test_database(dir.path()).await;
    let mut args = test_args(&db);
    tweak(&mut args);
    spawn_app_in(dir, db, args).await
}

pub async fn spawn_app_in(dir: tempfile::TempDir, db: TestDb, args: ServeArgs) -> TestApp {
    // `REGATLAS_TEST_LOG=1`: the server's log on stderr (with `--nocapture`).
    if std::env::var_os("REGATLAS_TEST_LOG").is_some() {
        regatlas_server::telemetry::init(regatlas_server::config::LogFormat::Human);
    }
    let config = Config::resolve(&args).expect("config");
    let app = Application::build(config).await.expect("server builds");
    let address = format!("http://{}", app.addr());
    let login = match (app.emulator(), &args.emulator_url, &args.emulator_secret) {
        (Some(e), _, _) => regatlas_server::startup::emulator_login(&e.info()),
        (None, Some(url), Some(secret)) => {
            let ca = args.emulator_ca_file.as_ref().map(|p| std::fs::read_to_string(p).expect("CA file"));
            regatlas_server::startup::external_emulator_login(url, secret.expose(), ca.as_deref()).await.expect("emulator login")
        }
        _ => panic!("tests run against an emulator"),
    };
    let (tx, rx) = oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        let _ = app
            .run_until(async move {
                let _ = rx.await;
            })
            .await;
    });
    let client = bearer_client(&regatlas_server::auth::client::app_token(&login, "ci-admin").await.expect("admin token"));
    TestApp { address, client, login, db, _dir: dir, stop: Some(tx), done: Some(done) }
}

/// A client that sends `Authorization: Bearer {token}`.
pub fn bearer_client(token: &str) -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(reqwest::header::AUTHORIZATION, reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("header"));
    reqwest::Client::builder().no_proxy().default_headers(h).build().expect("client")
}

/// A client with a signed-in browser session (as the demo person
/// `username`), sending no bearer token and following no redirects.
pub fn session_client(cookie: &str) -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(reqwest::header::COOKIE, reqwest::header::HeaderValue::from_str(cookie).expect("cookie"));
    reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).default_headers(h).build().expect("client")
}

impl TestApp {
    /// A client for `/api/v1` as the emulator's demo application `app`
    /// (`ci-admin`, `ci-deployer`, `ci-reader`).
    pub async fn as_app(&self, app: &str) -> reqwest::Client {
        bearer_client(&regatlas_server::auth::client::app_token(&self.login, app).await.expect("app token"))
    }

    /// A browser signed in as the demo Admin (Ada): pages and server functions.
    pub async fn browser(&self) -> reqwest::Client {
        session_client(&self.sign_in("ada@contoso.example").await)
    }

    /// The session cookie of a new sign-in as the demo person `username`.
    pub async fn sign_in(&self, username: &str) -> String {
        regatlas_server::auth::client::sign_in_as(&self.address, username).await.expect("sign in")
    }
}

/// Points the console at an emulator this test started: its URL and the secret it signs in with.
pub fn use_emulator(args: &mut regatlas_server::config::ServeArgs, emu: &regatlas_emulator::RunningEmulator) {
    let info = emu.info();
    args.emulator_url = Some(info.arm_base_url.clone());
    args.emulator_secret = Some(regatlas_server::outbound::Secret::new(info.token_header_value.clone()));
}

/// A managed-identity token for the emulator's ARM (a caller outside Regatlas: the portal, the CLI).
pub async fn emulator_arm_token(info: &regatlas_emulator::EmulatorInfo) -> Option<String> {
    let http = reqwest::Client::builder().no_proxy().build().ok()?;
    let mi: serde_json::Value = http
        .get(&info.token_endpoint)
        .query(&[("resource", info.arm_base_url.as_str()), ("api-version", "2019-08-01")])
        .header(info.token_header.as_str(), info.token_header_value.as_str())
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    mi["access_token"].as_str().map(str::to_string)
}

/// The demo world in an emulator of its own (20× time) and a console on it,
/// once the console has discovered the three demo registries.
pub async fn demo_world() -> (regatlas_emulator::RunningEmulator, TestApp) {
    let mut cfg = regatlas_emulator::EmulatorConfig::demo();
    cfg.time_scale = 20.0;
    let emu = regatlas_emulator::start(cfg).await.expect("emulator");
    let app = spawn_app_with(|a| use_emulator(a, &emu)).await;
    app.wait_until("/api/v1/registries", 30, |v| v.as_array().is_some_and(|a| a.len() >= 3)).await;
    (emu, app)
}
