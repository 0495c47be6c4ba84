//! `regatlas bench takeover`: two instances on one PostgreSQL database; the
//! leader is killed (SIGKILL) and the time until the other says it leads is
//! measured, round after round (the killed one is started again as the
//! follower). The instances are this binary's `serve`, on an emulator in
//! its own process.

use std::time::{Duration, Instant};

use clap::Args;
use tokio::io::AsyncBufReadExt;

use super::BenchError;

#[derive(Args, Debug, Clone)]
pub struct BenchTakeoverArgs {
    /// An empty PostgreSQL database both instances share.
    #[arg(long, value_name = "URL")]
    pub database: String,
    /// Kills of the leader.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// The front end (the instances check it is there).
    #[arg(long, default_value = "target/site")]
    pub site_root: std::path::PathBuf,
}

struct Instance {
    child: tokio::process::Child,
    port: u16,
}

fn free_port() -> Result<u16, BenchError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn start(args: &BenchTakeoverArgs, arm: &str, secret: &str, port: u16) -> Result<Instance, BenchError> {
    let child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database", &args.database, "--emulator-url", arm])
        .arg("--site-root")
        .arg(&args.site_root)
        .env("REGATLAS_EMULATOR_IDENTITY_SECRET", secret)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    Ok(Instance { child, port })
}

/// `Some(leads)` once the instance answers `/readyz`.
async fn leads(http: &reqwest::Client, port: u16) -> Option<bool> {
    let v: serde_json::Value = http.get(format!("http://127.0.0.1:{port}/readyz")).send().await.ok()?.json().await.ok()?;
    v["leader"].as_bool()
}

pub async fn takeover(args: BenchTakeoverArgs) -> Result<(), BenchError> {
    if crate::storage::Backend::of(&args.database) != crate::storage::Backend::Postgres {
        return Err(BenchError::Setup("--database must be a postgres:// URL".into()));
    }
    let mut emu = tokio::process::Command::new(std::env::current_exe()?)
        .args(["emulator", "--listen", "127.0.0.1:0", "--time-scale", "20"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let out = emu.stdout.take().ok_or_else(|| BenchError::Setup("the emulator has no stdout".into()))?;
    let line = tokio::io::BufReader::new(out)
        .lines()
        .next_line()
        .await?
        .ok_or_else(|| BenchError::Setup("the emulator stopped before printing its endpoints".into()))?;
    let info: regatlas_emulator::EmulatorInfo = serde_json::from_str(&line).map_err(|e| BenchError::Setup(format!("the emulator's info line: {e}")))?;
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(2)).build().map_err(|e| BenchError::Setup(e.to_string()))?;
    let mut pair =
        [start(&args, &info.arm_base_url, &info.token_header_value, free_port()?)?, start(&args, &info.arm_base_url, &info.token_header_value, free_port()?)?];
    let l = crate::cluster::LeaderSettings::default();
    println!(
        "two instances on {} (leadership proven every {:?}, {:?} timeout, {:?} settle)",
        crate::storage::DatabaseUrl::new(args.database.as_str()),
        l.every,
        l.timeout,
        l.settle()
    );
    let mut times = Vec::new();
    for round in 1..=args.rounds {
        // Wait for one leader and one follower.
        let deadline = Instant::now() + Duration::from_secs(120);
        let leader = loop {
            match (leads(&http, pair[0].port).await, leads(&http, pair[1].port).await) {
                (Some(true), Some(false)) => break 0,
                (Some(false), Some(true)) => break 1,
                _ if Instant::now() > deadline => return Err(BenchError::Setup("no leader and follower within 120 s".into())),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let other = 1 - leader;
        pair[leader].child.start_kill()?;
        let killed = Instant::now();
        let _ = pair[leader].child.wait().await;
        loop {
            if leads(&http, pair[other].port).await == Some(true) {
                break;
            }
            if killed.elapsed() > Duration::from_secs(60) {
                return Err(BenchError::Setup("no take-over within 60 s".into()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = killed.elapsed().as_secs_f64();
        println!("round {round}: the follower leads {took:.2} s after the leader's SIGKILL");
        times.push(took);
        let port = pair[leader].port;
        pair[leader] = start(&args, &info.arm_base_url, &info.token_header_value, port)?;
    }
    times.sort_by(|a, b| a.total_cmp(b));
    if let (Some(min), Some(max)) = (times.first(), times.last()) {
        println!("take-over                  median {:.2} s, min {min:.2} s, max {max:.2} s over {} kills", times[times.len() / 2], times.len());
    }
    for i in pair.iter_mut() {
        let _ = i.child.start_kill();
    }
    let _ = emu.start_kill();
    Ok(())
}
