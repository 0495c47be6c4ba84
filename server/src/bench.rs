//! `regatlas bench poll`: the poller against an emulator holding N
//! registries × R replicas. Prints ARM reads per cycle (goal: one per
//! registry plus discovery), wall time of a full cycle, SQLite rows written
//! by a cycle that sees no change (goal: 0), and peak RSS.

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
    cfg.identity_secret = Some(regatlas_arm::credential::embedded_identity_secret().to_string());
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
    let cred = regatlas_arm::credential::app_service_managed_identity(&info.token_endpoint)?;
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
