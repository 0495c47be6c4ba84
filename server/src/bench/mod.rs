//! `regatlas bench poll`: the poller against an emulator holding N
//! registries × R replicas. Prints ARM reads per cycle (goal: one per
//! registry plus discovery), wall time of a full cycle, SQLite rows written
//! by a cycle that sees no change (goal: 0), and peak RSS.

pub mod presence;
pub mod takeover;

use std::time::Duration;

use clap::Args;

use crate::{
    events::EventHub,
    poller::{Poller, PollerConfig},
    storage::Storage,
};

#[derive(Args, Debug, Clone)]
pub struct BenchPollArgs {
    /// Registries in the emulated subscription.
    #[arg(long, default_value_t = 500)]
    pub registries: usize,
    /// Replicas per registry (the home replica included).
    #[arg(long, default_value_t = 5)]
    pub replicas: usize,
    /// Cycles after the first (which discovers and writes everything).
    #[arg(long, default_value_t = 5)]
    pub cycles: usize,
    /// Registries polled at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Keep the emulator's default ARM throttle (250 reads burst + 25/s) instead of lifting it.
    #[arg(long)]
    pub arm_throttle: bool,
    /// The database (an empty PostgreSQL database: `postgres://…`); a
    /// temporary SQLite file when not given.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
}

/// The benchmark's database: `url`, or a SQLite file in `dir`.
fn bench_database(url: Option<&str>, dir: &std::path::Path) -> String {
    url.map(str::to_string).unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()))
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Emulator(#[from] regatlas_emulator::EmulatorError),
    #[error(transparent)]
    Arm(#[from] regatlas_arm::ArmError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error(transparent)]
    Poll(#[from] crate::poller::PollError),
    #[error("cannot create a temporary directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("benchmark set-up failed: {0}")]
    Setup(String),
}

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

async fn emulator_reads(http: &reqwest::Client, admin: &str) -> u64 {
    let v: serde_json::Value = match http.get(format!("{admin}/counters")).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    };
    v.as_object().map(|m| m.iter().filter(|(k, _)| k.starts_with("GET ")).filter_map(|(_, v)| v.as_u64()).sum()).unwrap_or(0)
}

pub async fn poll(args: BenchPollArgs) -> Result<(), BenchError> {
    let started = std::time::Instant::now();
    let mut cfg = regatlas_emulator::EmulatorConfig::empty();
    cfg.bench_world = Some((args.registries, args.replicas));
    if !args.arm_throttle {
        let lifted = regatlas_emulator::throttle::BucketSpec { burst: 1e9, per_sec: 1e9 };
        cfg.throttle.reads = lifted;
        cfg.throttle.writes = lifted;
        cfg.throttle.deletes = lifted;
    }
    let emu = regatlas_emulator::start(cfg).await?;
    let info = emu.info();
    println!("emulator: {} registries x {} replicas ready in {:.1}s", args.registries, args.replicas, started.elapsed().as_secs_f64());

    let dir = tempfile::tempdir()?;
    let url = bench_database(args.database.as_deref(), dir.path());
    let storage = Storage::open(&url).await?;
    println!("database: {}", crate::storage::DatabaseUrl::new(url.as_str()));
    let cred = regatlas_arm::credential::emulator(&crate::startup::emulator_login(&info))?;
    let arm = regatlas_arm::ArmClient::new(regatlas_arm::ArmClientConfig::new(&info.arm_base_url), cred)?;
    let hub = EventHub::new(storage.clone(), 1024);
    let config = PollerConfig { subscriptions: vec![info.subscription_id.clone()], concurrency: args.concurrency, ..PollerConfig::default() };
    let poller = Poller::new(arm, storage.clone(), hub, config).await?;
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().map_err(|e| regatlas_arm::ArmError::Config(e.to_string()))?;

    println!("{:>5} {:>10} {:>10} {:>12} {:>12} {:>10}", "cycle", "ARM reads", "wall ms", "rows written", "table rows", "throttled");
    let mut quiet_reads = Vec::new();
    let mut quiet_ms = Vec::new();
    let mut quiet_rows = 0usize;
    for i in 0..=args.cycles {
        let before = emulator_reads(&http, &info.admin_url).await;
        let rows_before = storage.row_counts().await?;
        let report = poller.cycle(true, false).await?;
        let reads = emulator_reads(&http, &info.admin_url).await - before;
        let rows_after = storage.row_counts().await?;
        let table_delta = (rows_after.0 - rows_before.0) + (rows_after.1 - rows_before.1) + (rows_after.2 - rows_before.2) + (rows_after.3 - rows_before.3);
        let throttled = poller.handle().status().throttled;
        println!("{:>5} {:>10} {:>10} {:>12} {:>12} {:>10}", i, reads, report.elapsed.as_millis(), report.rows_written, table_delta, throttled);
        if i > 0 {
            quiet_reads.push(reads);
            quiet_ms.push(report.elapsed.as_millis() as u64);
            quiet_rows += report.rows_written + table_delta as usize;
        }
    }
    quiet_ms.sort_unstable();
    let median = quiet_ms.get(quiet_ms.len() / 2).copied().unwrap_or(0);
    println!();
    println!("registries x replicas      {} x {}", args.registries, args.replicas);
    println!("ARM reads per quiet cycle  {:?} (registries + discovery pages; goal {} + discovery)", quiet_reads, args.registries);
    println!("full cycle wall time       median {median} ms over {} quiet cycles", quiet_ms.len());
    println!("rows written, quiet cycles {quiet_rows} (goal 0)");
    println!("peak RSS                   {} MiB", peak_rss_kib().map(|k| k / 1024).unwrap_or(0));
    storage.close().await;
    emu.shutdown().await;
    Ok(())
}

/// `regatlas bench ui`: the topology page rendered on the server under
/// concurrent clients, and the size of what a browser downloads for it.
#[derive(Args, Debug, Clone)]
pub struct BenchUiArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 50)]
    pub clients: usize,
    /// Requests in total (after a warm-up of one per client).
    #[arg(long, default_value_t = 2000)]
    pub requests: usize,
    /// Replicas of the benchmarked registry (the demo's `contoso`), home included.
    #[arg(long, default_value_t = 10)]
    pub replicas: usize,
    /// Where the built front end is (for the bundle sizes).
    #[arg(long, default_value = "target/site")]
    pub site_root: std::path::PathBuf,
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(crate) fn gzip_len(bytes: &[u8]) -> usize {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = enc.write_all(bytes);
    enc.finish().map(|v| v.len()).unwrap_or(0)
}

/// A console on the built-in emulator for a benchmark: its base URL, a
/// client signed in as a person (pages) and as an Admin application (API),
/// its database file, and how to stop it.
pub(crate) struct BenchConsole {
    pub base: String,
    pub http: reqwest::Client,
    pub db: std::path::PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), crate::startup::StartupError>>,
    _dir: tempfile::TempDir,
}

impl BenchConsole {
    pub(crate) async fn start(site_root: &std::path::Path, extra: &[&str]) -> Result<BenchConsole, BenchError> {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            serve: crate::config::ServeArgs,
        }
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("bench.db");
        let mut argv = vec![
            "regatlas".to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--database".into(),
            db.display().to_string(),
            "--site-root".into(),
            site_root.display().to_string(),
            "--emulator-time-scale".into(),
            "50".into(),
            "--poll-fast-secs".into(),
            "1".into(),
            "--poll-slow-secs".into(),
            "2".into(),
        ];
        argv.extend(extra.iter().map(|s| s.to_string()));
        let serve = Wrap::try_parse_from(argv).map_err(|e| BenchError::Setup(e.to_string()))?.serve;
        let config = crate::config::Config::resolve(&serve).map_err(|e| BenchError::Setup(e.to_string()))?;
        let app = crate::startup::Application::build(config).await.map_err(|e| BenchError::Setup(e.to_string()))?;
        let base = format!("http://{}", app.addr());
        let info = app.emulator().map(|e| e.info()).ok_or_else(|| BenchError::Setup("the benchmark needs the built-in emulator".into()))?;
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stop_rx.await;
        }));
        // Signed in as a person for the pages, and as an application for the API.
        let cookie = crate::auth::client::sign_in_as(&base, "ada@contoso.example").await.map_err(BenchError::Setup)?;
        let token = crate::auth::client::app_token(&crate::startup::emulator_login(&info), "ci-admin").await.map_err(BenchError::Setup)?;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::COOKIE, reqwest::header::HeaderValue::from_str(&cookie).map_err(|e| BenchError::Setup(e.to_string()))?);
        headers.insert(
            reqwest::header::AUTHORIZATION,
            reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| BenchError::Setup(e.to_string()))?,
        );
        let http = reqwest::Client::builder()
            .no_proxy()
            .default_headers(headers)
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        Ok(BenchConsole { base, http, db, stop, server, _dir: dir })
    }

    /// Grows the demo's `contoso` to `replicas` ready replicas through the API.
    pub(crate) async fn grow(&self, registry: &str, replicas: usize) -> Result<(), BenchError> {
        let (http, base) = (&self.http, &self.base);
        let current: regatlas_app::model::RegistryView = wait_for_registry(http, base, registry, |_| true).await?;
        let have: Vec<String> = current.replicas.iter().filter(|r| !r.gone).map(|r| r.location.clone()).collect();
        let candidates = regatlas_app::regions::all().iter().filter(|r| r.can_host() && !have.contains(&r.name)).map(|r| r.name.clone());
        for region in candidates.take(replicas.saturating_sub(have.len())) {
            let r = http
                .post(format!("{base}/api/v1/registries/{registry}/replicas"))
                .json(&serde_json::json!({ "region": region }))
                .send()
                .await
                .map_err(|e| BenchError::Setup(e.to_string()))?;
            if !r.status().is_success() {
                return Err(BenchError::Setup(format!("creating a replica in {region}: {}", r.status())));
            }
        }
        wait_for_registry(http, base, registry, |r| {
            r.replicas.iter().filter(|p| !p.gone && p.state == regatlas_app::model::ReplicaState::Ready).count() >= replicas
        })
        .await?;
        Ok(())
    }

    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
    }
}

/// Times `requests` GETs of `url` over `clients` connections: sorted milliseconds, failures, wall seconds.
pub(crate) async fn load(http: &reqwest::Client, url: &str, clients: usize, requests: usize) -> (Vec<f64>, usize, f64) {
    let per_client = requests.div_ceil(clients.max(1));
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let (http, url) = (http.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::with_capacity(per_client);
            let mut failures = 0usize;
            for _ in 0..per_client {
                let t = std::time::Instant::now();
                match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        times.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => failures += 1,
                }
            }
            (times, failures)
        }));
    }
    let mut all = Vec::new();
    let mut failures = 0;
    for t in tasks {
        if let Ok((times, f)) = t.await {
            all.extend(times);
            failures += f;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    (all, failures, wall)
}

pub async fn ui(args: BenchUiArgs) -> Result<(), BenchError> {
    let console = BenchConsole::start(&args.site_root, &[]).await?;
    let (http, base) = (console.http.clone(), console.base.clone());
    // The registry grows to the wanted replica count through the real API.
    let registry = "contoso";
    console.grow(registry, args.replicas).await?;
    let want = args.replicas;
    let url = format!("{base}/registries/{registry}?region=westeurope");
    println!("page: {url} ({} regions on the map, {want} replicas)", regatlas_app::regions::all().len());

    // Warm-up, then the measured run.
    let body = http.get(&url).send().await.map_err(|e| BenchError::Setup(e.to_string()))?.text().await.unwrap_or_default();
    let html_bytes = body.len();
    let per_client = args.requests.div_ceil(args.clients.max(1));
    let (all, failures, wall) = load(&http, &url, args.clients, args.requests).await;
    println!();
    println!("clients x requests         {} x {} ({} done, {failures} failed)", args.clients, per_client, all.len());
    println!(
        "topology page render       p50 {:.1} ms   p99 {:.1} ms   max {:.1} ms",
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or(0.0)
    );
    println!("throughput                 {:.0} pages/s ({:.1} s)", all.len() as f64 / wall, wall);
    println!("page HTML                  {} bytes ({} gzipped)", html_bytes, gzip_len(body.as_bytes()));

    // What the browser downloads for the page: WASM + JS + CSS (+ the map).
    let mut total_gz = 0;
    for (label, file) in [("WASM", "pkg/regatlas_bg.wasm"), ("JS", "pkg/regatlas.js"), ("CSS", "pkg/regatlas.css")] {
        match std::fs::read(args.site_root.join(file)) {
            Ok(b) => {
                let gz = gzip_len(&b);
                total_gz += gz;
                println!("{label:<26} {} bytes ({} KB gzipped)", b.len(), gz / 1024);
            }
            Err(e) => println!("{label:<26} not found under {} ({e}); run scripts/build-frontend.sh", args.site_root.display()),
        }
    }
    println!("WASM + JS + CSS gzipped    {} KB (goal 350 KB)", total_gz / 1024);
    if let Ok(b) = std::fs::read(args.site_root.join("map/land-110m.svg")) {
        println!("map land layer (image)     {} bytes ({} KB gzipped)", b.len(), gzip_len(&b) / 1024);
    }
    console.stop().await;
    Ok(())
}

async fn wait_for_registry(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    ok: impl Fn(&regatlas_app::model::RegistryView) -> bool,
) -> Result<regatlas_app::model::RegistryView, BenchError> {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = http.get(format!("{base}/api/v1/registries/{name}")).send().await {
            if let Ok(v) = r.json::<regatlas_app::model::RegistryView>().await {
                if ok(&v) {
                    return Ok(v);
                }
            }
        }
        if std::time::Instant::now() > deadline {
            return Err(BenchError::Setup(format!("registry {name} did not reach the wanted state in 120 s")));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `regatlas bench migrate`: a migration of N artifacts under a set import
/// latency, ARM write throttle and registry read throttle, against the
/// bounds those set; and against a sequential run (one import at a time,
/// like the documented `az acr import` loop) measured on a sample and scaled
/// to N. The emulator runs in its own process (`regatlas emulator`), so the
/// peak RSS measured is the engine's (with its storage and poller) alone.
#[derive(Args, Debug, Clone)]
pub struct BenchMigrateArgs {
    #[arg(long, default_value_t = 2000)]
    pub artifacts: usize,
    /// Real seconds one import takes in the emulator.
    #[arg(long, default_value_t = 0.8)]
    pub import_latency: f64,
    /// ARM write quota: tokens per second ...
    #[arg(long, default_value_t = 50.0)]
    pub write_rate: f64,
    /// ... and burst.
    #[arg(long, default_value_t = 50.0)]
    pub write_burst: f64,
    /// Upper bound of imports in flight.
    #[arg(long, default_value_t = 64)]
    pub max_concurrency: u32,
    /// Artifacts in the sequential sample.
    #[arg(long, default_value_t = 50)]
    pub sequential_sample: usize,
    /// Data-plane reads per second per registry replica: the emulator's
    /// limit (burst twice that) and the engine's budget.
    #[arg(long, default_value_t = 1000.0)]
    pub registry_reads: f64,
    /// Requests of each kind when the migration page's reads are timed.
    #[arg(long, default_value_t = 200)]
    pub page_requests: usize,
    /// The database (an empty PostgreSQL database: `postgres://…`); a
    /// temporary SQLite file when not given.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
}

/// A migration watched to its end: when each phase began, by polling its state.
struct Phases {
    id: String,
    plan_secs: f64,
    copy_secs: f64,
    verify_secs: f64,
    view: regatlas_app::model::MigrationView,
}

async fn timed_migration(engine: &crate::migration::Engine, storage: &Storage, req: regatlas_app::model::MigrationRequest) -> Result<Phases, BenchError> {
    use regatlas_app::model::MigrationState as S;
    let created = std::time::Instant::now();
    let m = engine.create(req, &crate::auth::local_principal(Some("bench"))).await.map_err(|e| BenchError::Setup(e.to_string()))?;
    let (mut copy_start, mut verify_start) = (None, None);
    loop {
        let v = storage.migration(&m.id).await?.ok_or_else(|| BenchError::Setup("the migration vanished".into()))?;
        let v = crate::views::migration(v, chrono::Utc::now());
        match v.state {
            S::InProgress if copy_start.is_none() => copy_start = Some(std::time::Instant::now()),
            S::Verifying if verify_start.is_none() => verify_start = Some(std::time::Instant::now()),
            _ => {}
        }
        if !v.is_active() {
            let end = std::time::Instant::now();
            let copy_start = copy_start.unwrap_or(end);
            let verify_start = verify_start.unwrap_or(end);
            return Ok(Phases {
                id: m.id,
                plan_secs: copy_start.duration_since(created).as_secs_f64(),
                copy_secs: verify_start.duration_since(copy_start).as_secs_f64(),
                verify_secs: end.duration_since(verify_start).as_secs_f64(),
                view: v,
            });
        }
        if std::env::var_os("REGATLAS_BENCH_TRACE").is_some() && created.elapsed().as_millis() % 1000 < 25 {
            eprintln!(
                "t={:>5.1}s {} imported={} in_flight={} window={:?} throttled={} rss={} MiB",
                created.elapsed().as_secs_f64(),
                v.state,
                v.imported,
                v.in_flight,
                v.concurrency,
                v.throttled,
                peak_rss_kib().unwrap_or(0) / 1024
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The emulator in its own process: `regatlas emulator` with the bench's
/// world and limits; its info line read from its stdout.
async fn emulator_process(args: &BenchMigrateArgs, scale: f64) -> Result<(tokio::process::Child, regatlas_emulator::EmulatorInfo), BenchError> {
    use tokio::io::AsyncBufReadExt;
    let exe = std::env::current_exe()?;
    let rr = args.registry_reads;
    let mut child = tokio::process::Command::new(exe)
        .arg("emulator")
        .args(["--time-scale", &scale.to_string()])
        .args(["--import-latency", &(args.import_latency * scale).to_string()])
        .args(["--seed-artifacts", &format!("contosowesteu={}", args.artifacts.max(args.sequential_sample))])
        .args(["--throttle", "reads=1000000000/1000000000"])
        .args(["--throttle", &format!("writes={}/{}", args.write_burst, args.write_rate)])
        .args(["--throttle", &format!("registry-reads={}/{}", rr * 2.0, rr)])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let out = child.stdout.take().ok_or_else(|| BenchError::Setup("the emulator has no stdout".into()))?;
    let mut lines = tokio::io::BufReader::new(out).lines();
    let line = tokio::time::timeout(Duration::from_secs(600), lines.next_line())
        .await
        .map_err(|_| BenchError::Setup("the emulator did not start within 10 minutes".into()))??
        .ok_or_else(|| BenchError::Setup("the emulator stopped before printing its endpoints".into()))?;
    let info = serde_json::from_str(&line).map_err(|e| BenchError::Setup(format!("the emulator's info line: {e}")))?;
    Ok((child, info))
}

/// p50 and p99 of `n` sequential runs of `f`, in milliseconds.
async fn timed<F, Fut, T, E>(n: usize, f: F) -> Result<(f64, f64), BenchError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let t = std::time::Instant::now();
        f().await.map_err(|e| BenchError::Setup(e.to_string()))?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    Ok((percentile(&ms, 0.5), percentile(&ms, 0.99)))
}

fn file_size(p: &std::path::Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

pub async fn migrate(args: BenchMigrateArgs) -> Result<(), BenchError> {
    let scale = 20.0;
    let started = std::time::Instant::now();
    let (mut child, info) = emulator_process(&args, scale).await?;
    println!("emulator (own process, pid {}): {} artifacts seeded in {:.1} s", child.id().unwrap_or(0), args.artifacts, started.elapsed().as_secs_f64());
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.db");
    let url = bench_database(args.database.as_deref(), dir.path());
    let storage = Storage::open(&url).await?;
    println!("database: {}", crate::storage::DatabaseUrl::new(url.as_str()));
    let cred = regatlas_arm::credential::emulator(&crate::startup::emulator_login(&info))?;
    let arm = regatlas_arm::ArmClient::new(regatlas_arm::ArmClientConfig::new(&info.arm_base_url), cred)?;
    let hub = EventHub::new(storage.clone(), 4096);
    let poller =
        Poller::new(arm.clone(), storage.clone(), hub.clone(), PollerConfig { subscriptions: vec![info.subscription_id.clone()], ..PollerConfig::default() })
            .await?;
    poller.cycle(true, false).await?;
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let budgets =
        crate::migration::oci::budget::Budgets::new(crate::migration::oci::budget::ReadRate { per_sec: args.registry_reads, burst: args.registry_reads * 2.0 });
    let engine = crate::migration::Engine::new(
        storage.clone(),
        hub,
        arm,
        crate::migration::EngineSettings {
            outbound: std::sync::Arc::new(crate::outbound::OutboundPolicy::emulator()),
            budgets: budgets.clone(),
            ..crate::migration::EngineSettings::default()
        },
        stop_rx,
    )
    .map_err(|e| BenchError::Setup(e.to_string()))?;
    let http = reqwest::Client::builder().no_proxy().build().map_err(|e| BenchError::Setup(e.to_string()))?;
    let counters = |http: reqwest::Client| {
        let url = format!("{}/counters", info.admin_url);
        async move { http.get(url).send().await.ok()?.json::<serde_json::Value>().await.ok() }
    };
    let n_of = |v: &Option<serde_json::Value>, k: &str| v.as_ref().and_then(|v| v[k].as_u64()).unwrap_or(0);

    println!(
        "artifacts {}, import latency {:.2} s, ARM writes {}/s (burst {}), window up to {}, registry reads {}/s per replica (burst {})",
        args.artifacts,
        args.import_latency,
        args.write_rate,
        args.write_burst,
        args.max_concurrency,
        args.registry_reads,
        args.registry_reads * 2.0
    );
    // Sequential sample into another registry (nothing present there).
    let sample = args.sequential_sample.min(args.artifacts).max(1);
    let seq_repos: Vec<String> = (0..sample.div_ceil(50)).map(|i| format!("load/app{i:02}")).collect();
    let seq = timed_migration(
        &engine,
        &storage,
        regatlas_app::model::MigrationRequest {
            source_registry: Some("contosowesteu".into()),
            target_registry: "contosostd".into(),
            include: seq_repos,
            latest: Some(50.min(sample as u32)),
            max_concurrency: Some(1),
            ..Default::default()
        },
    )
    .await?;
    let per_import = seq.copy_secs / seq.view.imported.max(1) as f64;
    println!("sequential sample          {} imports in {:.1} s ({:.2} s per import, state {})", seq.view.imported, seq.copy_secs, per_import, seq.view.state);

    let before = counters(http.clone()).await;
    let rss_before = peak_rss_kib().unwrap_or(0);
    let run = timed_migration(
        &engine,
        &storage,
        regatlas_app::model::MigrationRequest {
            source_registry: Some("contosowesteu".into()),
            target_registry: "contoso".into(),
            include: vec!["load/*".into()],
            max_concurrency: Some(args.max_concurrency),
            failure_threshold: Some(1.0),
            ..Default::default()
        },
    )
    .await?;
    let after = counters(http.clone()).await;
    let delta = |k: &str| n_of(&after, k).saturating_sub(n_of(&before, k));
    let m = &run.view;
    let n = m.imported as f64;
    // The last import sent under the quota still takes its own latency.
    let throttle_bound = ((n - args.write_burst).max(0.0)) / args.write_rate + per_import;
    let latency_bound = n * per_import / args.max_concurrency as f64;
    let bound = throttle_bound.max(latency_bound);
    let sequential = n * per_import;
    let source_reads = delta("oci reads contosowesteu");
    let target_reads = delta("oci reads contoso");
    let burst = args.registry_reads * 2.0;
    // Inventory: the source's reads and the target's comparisons go on side by side, each host at its own pace.
    println!();
    println!("migration                  {} planned, {} imported, {} failed, {} verified, state {}", m.planned, m.imported, m.failed, m.verified, m.state);
    println!(
        "inventory and plan         {:.1} s: {:.0} artifacts/s; source read {} times ({:.0}/s against {}/s)",
        run.plan_secs,
        m.planned as f64 / run.plan_secs.max(1e-9),
        source_reads,
        source_reads as f64 / run.plan_secs.max(1e-9),
        args.registry_reads
    );
    if source_reads as f64 > burst * 2.0 {
        // Past the burst, the source's reads should go at the budget's pace.
        let paced = (source_reads as f64 - burst) / run.plan_secs.max(1e-9);
        println!("  past the burst           {paced:.0} reads/s at the source: {:.0} % of its budget", paced / args.registry_reads * 100.0);
    }
    println!("copy wall time             {:.1} s", run.copy_secs);
    println!("lower bound                {bound:.1} s (write quota: (N - burst) / rate + one import = {throttle_bound:.1} s; latency x N / window = {latency_bound:.1} s)");
    println!("ratio to the bound         {:.2} (goal <= 1.2)", run.copy_secs / bound.max(1e-9));
    println!("sequential (scaled)        {sequential:.0} s; speed-up {:.1}x", sequential / run.copy_secs.max(1e-9));
    println!(
        "import requests            {} ({} throttled by ARM and retried, engine saw {})",
        delta("POST importimage"),
        delta("throttled.writes"),
        m.throttled
    );
    println!(
        "verification               {:.1} s: {:.0} artifacts/s; target read {} times in all (plan and verification)",
        run.verify_secs,
        m.verified as f64 / run.verify_secs.max(1e-9),
        target_reads
    );
    // The home replica serves the login server and its own regional endpoint: two reads per artifact at its pace.
    let verify_bound = ((2.0 * m.verified as f64 - burst).max(0.0)) / args.registry_reads;
    if verify_bound > 0.0 {
        println!(
            "  verification's read bound {verify_bound:.1} s (2 reads per artifact at the home replica, which serves the login server too); ratio {:.2}",
            run.verify_secs / verify_bound
        );
    }
    println!("registry 429s              {} (every one waited out and sent again)", delta("throttled.registry-reads"));
    for (host, st) in budgets.stats() {
        println!("  budget {host:<28} sent {:>7}, throttled {:>4}, rate now {:.0}/s", st.sent, st.throttled, st.rate);
    }
    let rss = peak_rss_kib().unwrap_or(0);
    println!("engine peak RSS            {} MiB (before the run: {} MiB; the emulator is another process)", rss / 1024, rss_before / 1024);
    match storage.size_bytes().await {
        Ok(Some(bytes)) => println!("database                   {:.1} MiB (PostgreSQL, pg_database_size)", bytes as f64 / 1048576.0),
        _ => {
            let wal = dir.path().join("bench.db-wal");
            println!("database                   {:.1} MiB (+ {:.1} MiB WAL)", file_size(&db) as f64 / 1048576.0, file_size(&wal) as f64 / 1048576.0);
        }
    }

    // The migration page's reads, as its server functions make them.
    let id = run.id.clone();
    let last_id = storage
        .migration_items(&id, &regatlas_domain::record::ItemFilter { limit: 1, after: Some((n as i64 * 9) / 10), ..Default::default() })
        .await?
        .first()
        .map(|i| i.id);
    let _ = engine.detail(&id).await; // the checklist's ARM reads, cached for 30 s
    let reqs = args.page_requests;
    let page = |f: regatlas_domain::record::ItemFilter| {
        let (storage, id) = (storage.clone(), id.clone());
        move || {
            let (storage, id, f) = (storage.clone(), id.clone(), f.clone());
            async move { storage.migration_items(&id, &f).await }
        }
    };
    use regatlas_domain::record::ItemFilter as F;
    let mut rows = vec![
        ("detail (counts, first repositories, failures, conflicts)", timed(reqs, || engine.detail(&id)).await?),
        ("list of migrations", timed(reqs, || storage.migrations(50, None)).await?),
        ("items, first page", timed(reqs, page(F { limit: 50, ..Default::default() })).await?),
        ("items, a page at 90 %", timed(reqs, page(F { limit: 50, after: last_id, ..Default::default() })).await?),
        ("items, state = failed", timed(reqs, page(F { limit: 50, state: Some(regatlas_app::model::ItemState::Failed), ..Default::default() })).await?),
        (
            "items, one repository",
            timed(reqs, page(F { limit: 50, repository: Some(format!("load/app{:02}", (n as usize / 50) / 2)), ..Default::default() })).await?,
        ),
        ("items, text (one tag)", timed(reqs, page(F { limit: 50, text: Some("v49\"".into()), ..Default::default() })).await?),
        ("items, text (no match)", timed(reqs, page(F { limit: 50, text: Some("nothing-matches".into()), ..Default::default() })).await?),
    ];
    let after_repo = format!("load/app{:02}", (n as usize / 50) / 2);
    rows.push(("repositories, a middle page", timed(reqs, || storage.migration_repositories(&id, Some(&after_repo), 50)).await?));
    println!("migration page reads ({reqs} each, one at a time): p50 / p99");
    for (what, (p50, p99)) in &rows {
        println!("  {what:<58} {p50:>7.2} / {p99:>7.2} ms");
    }
    let worst = rows.iter().map(|(_, (_, p99))| *p99).fold(0.0, f64::max);
    println!("slowest p99                {worst:.2} ms (goal < 100 ms)");
    storage.close().await;
    let _ = child.kill().await;
    Ok(())
}
