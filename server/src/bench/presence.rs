//! `regatlas bench presence`: presence at scale on the built-in emulator.
//!
//! 1. Webhook ingest: deliveries posted to the receiver over HTTP, each push
//!    once per region and each delivery twice (deduplicated), as events
//!    per second with latency.
//! 2. The presence view with N tags × R regions (seeded through storage):
//!    server time (p50/p99) and HTML size of the page, and of the JSON API
//!    with and without "only incomplete".
//! 3. Probe reads: what backfilling and auditing N tags × R regions costs
//!    against the per-replica read budget (the limiter itself is checked by
//!    the test suite against the emulator's own count).

use std::time::{Duration, Instant};

use clap::Args;
use regatlas_domain::{
    presence::{Arrival, PresenceAction, PresenceSource},
    Digest, Region, Repository, Tag,
};
use serde_json::json;

use super::{gzip_len, load, percentile, BenchConsole, BenchError};
use crate::storage::Storage;

#[derive(Args, Debug, Clone)]
pub struct BenchPresenceArgs {
    /// Tags in the presence view.
    #[arg(long, default_value_t = 10_000)]
    pub tags: usize,
    /// Regions (replicas of `contoso`, the home included).
    #[arg(long, default_value_t = 10)]
    pub regions: usize,
    /// Webhook deliveries for the ingest run (half of them duplicates).
    #[arg(long, default_value_t = 20_000)]
    pub events: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Page requests per measured view.
    #[arg(long, default_value_t = 400)]
    pub requests: usize,
    /// The probe budget the read figures are computed for (reads per hour per replica).
    #[arg(long, default_value_t = 3600)]
    pub reads_per_hour: u32,
    /// Where the built front end is.
    #[arg(long, default_value = "target/site")]
    pub site_root: std::path::PathBuf,
}

fn digest_of(i: usize) -> Result<Digest, BenchError> {
    Digest::parse(format!("sha256:{i:064x}")).map_err(|e| BenchError::Setup(e.to_string()))
}

fn setup(e: impl std::fmt::Display) -> BenchError {
    BenchError::Setup(e.to_string())
}

pub async fn presence(args: BenchPresenceArgs) -> Result<(), BenchError> {
    let console = BenchConsole::start(&args.site_root, &["--probe-reads-per-hour", "0"]).await?;
    let (http, base) = (console.http.clone(), console.base.clone());
    console.grow("contoso", args.regions).await?;
    let r = http.put(format!("{base}/api/v1/registries/contoso/presence/tracking")).json(&json!({"enabled": true})).send().await.map_err(setup)?;
    if !r.status().is_success() {
        return Err(setup(format!("tracking not turned on: {}", r.status())));
    }
    // Every region's hook, with a secret this benchmark knows (only its hash is stored).
    let storage = Storage::open(&console.db.display().to_string()).await?;
    let registry_id = storage.registry_id_by_name("contoso").await?.ok_or_else(|| setup("contoso is not known"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let hooks = loop {
        let hooks = storage.presence_hooks(&registry_id).await?;
        if hooks.len() >= args.regions {
            break hooks;
        }
        if Instant::now() > deadline {
            return Err(setup(format!("{} of {} hooks after 60 s", hooks.len(), args.regions)));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let regions: Vec<Region> = hooks.iter().map(|h| h.region.clone()).collect();
    for h in &hooks {
        let mut h = h.clone();
        h.secret_sha256 = crate::presence::secret_hash(&format!("bench-{}", h.region));
        storage.put_presence_hook(&h).await?;
    }
    println!("registry contoso: {} regions, hooks with known secrets", regions.len());

    // 1. Webhook ingest over HTTP.
    let pushes = (args.events / (2 * regions.len())).max(1);
    let deliveries: Vec<(Region, serde_json::Value)> = (0..pushes)
        .flat_map(|p| {
            let event = json!({
                "id": format!("e{p}"), "timestamp": crate::storage::now(), "action": "push",
                "target": { "repository": format!("ingest/app{}", p % 50), "tag": format!("v{p}"), "digest": format!("sha256:{p:064x}"), "size": 1024 },
            });
            regions.iter().flat_map(move |r| [(r.clone(), event.clone()), (r.clone(), event.clone())]).collect::<Vec<_>>()
        })
        .collect();
    let total = deliveries.len();
    let chunks: Vec<Vec<(Region, serde_json::Value)>> = deliveries.chunks(total.div_ceil(args.clients.max(1))).map(|c| c.to_vec()).collect();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder().no_proxy().build().ok();
            let mut times = Vec::new();
            let (mut new, mut failed) = (0usize, 0usize);
            let Some(http) = http else { return (times, new, chunk.len()) };
            for (region, event) in chunk {
                let t = Instant::now();
                let r = http
                    .post(format!("{base}/hooks/acr/contoso/{region}"))
                    .header(crate::presence::SECRET_HEADER, format!("bench-{region}"))
                    .json(&event)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        let v: serde_json::Value = r.json().await.unwrap_or_default();
                        if v["new"] == true {
                            new += 1;
                        }
                        times.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => failed += 1,
                }
            }
            (times, new, failed)
        }));
    }
    let (mut times, mut new, mut failed) = (Vec::new(), 0, 0);
    for t in tasks {
        if let Ok((ts, n, f)) = t.await {
            times.extend(ts);
            new += n;
            failed += f;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    times.sort_by(|a, b| a.total_cmp(b));
    println!();
    println!("webhook deliveries         {total} ({pushes} pushes x {} regions x 2), {} clients", regions.len(), args.clients);
    println!(
        "ingested                   {:.0} events/s over HTTP ({wall:.1} s); {new} new, {} duplicates, {failed} failed",
        total as f64 / wall,
        total - new - failed
    );
    println!("receiver latency           p50 {:.1} ms   p99 {:.1} ms", percentile(&times, 0.5), percentile(&times, 0.99));

    // 2. The view at N tags x R regions, seeded through storage.
    let started = Instant::now();
    let now = crate::storage::now();
    let mut batch = Vec::with_capacity(1000);
    for i in 0..args.tags {
        let repository = Repository::parse(format!("scale/app{}", i % 100)).map_err(setup)?;
        let tag = Tag::parse(format!("t{i:06}")).map_err(setup)?;
        let digest = digest_of(1_000_000 + i)?;
        // One region in ten misses every seventh tag: "only incomplete" has work to do.
        for (k, region) in regions.iter().enumerate() {
            if i % 7 == 0 && k == regions.len() - 1 {
                continue;
            }
            batch.push(Arrival {
                registry_id: registry_id.clone(),
                region: region.clone(),
                action: PresenceAction::Push,
                repository: repository.clone(),
                tag: Some(tag.clone()),
                digest: digest.clone(),
                size: Some(4096),
                at: now.clone(),
                source: PresenceSource::Webhook,
            });
            if batch.len() >= 1000 {
                storage.record_arrivals(&batch).await?;
                batch.clear();
            }
        }
    }
    storage.record_arrivals(&batch).await?;
    let seeded = started.elapsed().as_secs_f64();
    let arrivals = args.tags * regions.len();
    println!();
    println!(
        "seeded                     {} tags x {} regions ({arrivals} arrivals) in {seeded:.1} s: {:.0} arrivals/s through storage",
        args.tags,
        regions.len(),
        arrivals as f64 / seeded
    );
    for (label, path) in [
        ("presence page (HTML)", "/registries/contoso/presence".to_string()),
        ("presence API, 100 tags", "/api/v1/registries/contoso/presence?limit=100".to_string()),
        ("API, only incomplete", "/api/v1/registries/contoso/presence?limit=100&incomplete=true".to_string()),
        ("API, text search", "/api/v1/registries/contoso/presence?limit=100&q=t00999".to_string()),
    ] {
        let url = format!("{base}{path}");
        let body = http.get(&url).send().await.map_err(setup)?.text().await.unwrap_or_default();
        let (all, failures, wall) = load(&http, &url, args.clients, args.requests).await;
        println!(
            "{label:<26} p50 {:.1} ms   p99 {:.1} ms   {:.0}/s   {} bytes ({} gzipped){}",
            percentile(&all, 0.5),
            percentile(&all, 0.99),
            all.len() as f64 / wall,
            body.len(),
            gzip_len(body.as_bytes()),
            if failures > 0 { format!("   {failures} failed") } else { String::new() }
        );
    }

    // 3. Probe reads against the budget (computed from the limiter's rate).
    println!();
    println!("probe budget               {} reads/h per replica (a minute's burst)", args.reads_per_hour);
    for n in [1_000usize, 10_000, 100_000] {
        let per_replica = n as f64;
        let hours = per_replica / args.reads_per_hour.max(1) as f64;
        println!(
            "{n:>7} tags x {} regions    backfill: {} reads per replica, {} per registry; {hours:.1} h per full pass (backfill or audit) at the budget",
            regions.len(),
            n,
            n * regions.len()
        );
    }
    storage.close().await;
    console.stop().await;
    Ok(())
}
