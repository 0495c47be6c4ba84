//! `regatlas bench poll`: the poller against an emulator holding N
//! registries × R replicas. Prints ARM reads per cycle (goal: one per
//! registry plus discovery), wall time of a full cycle, SQLite rows written
//! by a cycle that sees no change (goal: 0), and peak RSS.

pub mod presence;

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
    let storage = Storage::open(&format!("sqlite://{}", dir.path().join("bench.db").display())).await?;
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
/// latency and ARM write throttle, against the lower bound those two set,
/// and against a sequential run (one import at a time, like the documented
/// `az acr import` loop) measured on a sample and scaled to N.
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
}

async fn timed_migration(
    engine: &crate::migration::Engine,
    storage: &Storage,
    req: regatlas_app::model::MigrationRequest,
) -> Result<(f64, regatlas_app::model::MigrationView), BenchError> {
    let m = engine.create(req, &crate::auth::local_principal(Some("bench"))).await.map_err(|e| BenchError::Setup(e.to_string()))?;
    let mut copy_start = None;
    loop {
        let v = storage.migration(&m.id).await?.ok_or_else(|| BenchError::Setup("the migration vanished".into()))?;
        let v = crate::views::migration(v, chrono::Utc::now());
        use regatlas_app::model::MigrationState as S;
        match v.state {
            S::InProgress if copy_start.is_none() => copy_start = Some(std::time::Instant::now()),
            S::Verifying | S::Complete | S::Failed | S::Stopped => {
                let secs = copy_start.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
                // Let verification finish for the final figures.
                loop {
                    let v = storage.migration(&m.id).await?.ok_or_else(|| BenchError::Setup("the migration vanished".into()))?;
                    let v = crate::views::migration(v, chrono::Utc::now());
                    if !v.is_active() {
                        return Ok((secs, v));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            _ => {}
        }
        if std::env::var_os("REGATLAS_BENCH_TRACE").is_some() && copy_start.is_some_and(|t: std::time::Instant| t.elapsed().as_millis() % 1000 < 25) {
            eprintln!(
                "t={:>5.1}s imported={} in_flight={} window={:?} throttled={}",
                copy_start.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0),
                v.imported,
                v.in_flight,
                v.concurrency,
                v.throttled
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn migrate(args: BenchMigrateArgs) -> Result<(), BenchError> {
    let scale = 20.0;
    let mut cfg = regatlas_emulator::EmulatorConfig::demo();
    cfg.time_scale = scale;
    cfg.timings.import_base = args.import_latency * scale;
    cfg.seed_artifacts = Some(("contosowesteu".into(), args.artifacts.max(args.sequential_sample)));
    cfg.throttle.reads = regatlas_emulator::throttle::BucketSpec { burst: 1e9, per_sec: 1e9 };
    cfg.throttle.writes = regatlas_emulator::throttle::BucketSpec { burst: args.write_burst, per_sec: args.write_rate };
    let emu = regatlas_emulator::start(cfg).await?;
    let info = emu.info();
    let dir = tempfile::tempdir()?;
    let storage = Storage::open(&format!("sqlite://{}", dir.path().join("bench.db").display())).await?;
    let cred = regatlas_arm::credential::emulator(&crate::startup::emulator_login(&info))?;
    let arm = regatlas_arm::ArmClient::new(regatlas_arm::ArmClientConfig::new(&info.arm_base_url), cred)?;
    let hub = EventHub::new(storage.clone(), 4096);
    let poller =
        Poller::new(arm.clone(), storage.clone(), hub.clone(), PollerConfig { subscriptions: vec![info.subscription_id.clone()], ..PollerConfig::default() })
            .await?;
    poller.cycle(true, false).await?;
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let engine = crate::migration::Engine::new(
        storage.clone(),
        hub,
        arm,
        crate::migration::EngineSettings {
            outbound: std::sync::Arc::new(crate::outbound::OutboundPolicy::emulator()),
            ..crate::migration::EngineSettings::default()
        },
        stop_rx,
    )
    .map_err(|e| BenchError::Setup(e.to_string()))?;
    let http = reqwest::Client::builder().no_proxy().build().map_err(|e| BenchError::Setup(e.to_string()))?;
    let imports = |http: reqwest::Client| {
        let url = format!("{}/counters", info.admin_url);
        async move {
            let v: serde_json::Value = http.get(url).send().await.ok()?.json().await.ok()?;
            Some((v["POST importimage"].as_u64().unwrap_or(0), v["throttled.writes"].as_u64().unwrap_or(0)))
        }
    };

    println!(
        "artifacts {}, import latency {:.2} s, ARM writes {}/s (burst {}), window up to {}",
        args.artifacts, args.import_latency, args.write_rate, args.write_burst, args.max_concurrency
    );
    // Sequential sample into another registry (nothing present there).
    let sample = args.sequential_sample.min(args.artifacts).max(1);
    let seq_repos: Vec<String> = (0..sample.div_ceil(50)).map(|i| format!("load/app{i:02}")).collect();
    let (seq_secs, seq) = timed_migration(
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
    let per_import = seq_secs / seq.imported.max(1) as f64;
    println!("sequential sample          {} imports in {:.1} s ({:.2} s per import, state {})", seq.imported, seq_secs, per_import, seq.state);

    let (before, throttled_before) = imports(http.clone()).await.unwrap_or((0, 0));
    let (secs, m) = timed_migration(
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
    let (after, throttled_after) = imports(http.clone()).await.unwrap_or((0, 0));
    let n = m.imported as f64;
    // The last import sent under the quota still takes its own latency.
    let throttle_bound = ((n - args.write_burst).max(0.0)) / args.write_rate + per_import;
    let latency_bound = n * per_import / args.max_concurrency as f64;
    let bound = throttle_bound.max(latency_bound);
    let sequential = n * per_import;
    println!();
    println!("migration                  {} imported, {} failed, {} verified, state {}", m.imported, m.failed, m.verified, m.state);
    println!("copy wall time             {secs:.1} s");
    println!("lower bound                {bound:.1} s (write quota: (N - burst) / rate + one import = {throttle_bound:.1} s; latency x N / window = {latency_bound:.1} s)");
    println!("ratio to the bound         {:.2} (goal <= 1.2)", secs / bound.max(1e-9));
    println!("sequential (scaled)        {sequential:.0} s; speed-up {:.1}x", sequential / secs.max(1e-9));
    println!("import requests            {} ({} throttled by ARM and retried, engine saw {})", after - before, throttled_after - throttled_before, m.throttled);
    storage.close().await;
    emu.shutdown().await;
    Ok(())
}
