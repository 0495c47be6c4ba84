//! `regatlas emulator`: runs the emulator standalone and prints its
//! endpoints as one JSON line on stdout.
//!
//! Faults can be set at start with `--fault` (repeatable) and changed while
//! it runs through the admin API (`PUT {admin_url}/faults`), which the
//! printed info names.

use std::{io::Write, net::SocketAddr, path::PathBuf};

use clap::Args;

use crate::{throttle::BucketSpec, world::Faults, EmulatorConfig, EmulatorError};

#[derive(Args, Debug, Clone)]
pub struct EmulatorArgs {
    /// ARM endpoint address (port 0: any free port).
    #[arg(long, env = "REGATLAS_EMULATOR_LISTEN", default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Simulated seconds per real second (10 makes provisioning ten times faster).
    #[arg(long, env = "REGATLAS_EMULATOR_TIME_SCALE", default_value_t = 1.0, value_name = "FACTOR")]
    pub time_scale: f64,
    /// Start with no registries instead of the demo world.
    #[arg(long)]
    pub empty: bool,
    /// Keep the world in this directory across restarts (in memory when absent).
    #[arg(long, env = "REGATLAS_EMULATOR_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Simulated seconds before a push reaches the other replicas.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub replication_delay: f64,
    /// Random extra delay per region and push, as a share of the delay (0.5: up to +50 %).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub replication_jitter: f64,
    /// A region that receives every push later than the others: `REGION=SECS` (simulated seconds added).
    #[arg(long, value_name = "REGION=SECS", value_parser = parse_straggler)]
    pub straggler: Option<(String, f64)>,
    /// Items per page of ARM list responses (more items give a nextLink).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub list_page_size: usize,
    /// Inject a fault from the start; repeatable. One of:
    /// `outage=REGION`, `latency-ms=N`, `error-rate=reads|writes|deletes:P`,
    /// `stuck-creating=REGION`, `import-failure-rate=P` (P between 0 and 1).
    #[arg(long = "fault", value_name = "KIND=VALUE", value_parser = parse_fault)]
    pub faults: Vec<FaultArg>,
    /// ARM throttle bucket for one kind: `reads|writes|deletes=BURST/PER_SEC`; repeatable.
    /// `registry-reads=BURST/PER_SEC` throttles each registry endpoint's
    /// data-plane reads (per replica, as ACR does; off unless given).
    #[arg(long = "throttle", value_name = "KIND=BURST/RATE", value_parser = parse_throttle)]
    pub throttle: Vec<(String, BucketSpec)>,
    /// The managed-identity endpoint's `X-IDENTITY-HEADER` secret [default: random].
    /// Set the same value for `regatlas serve --emulator-url` to use this emulator.
    #[arg(long, env = "REGATLAS_EMULATOR_IDENTITY_SECRET", value_name = "SECRET")]
    pub identity_secret: Option<String>,
    /// Serve the ARM endpoint over HTTPS with a certificate from the
    /// emulator's own CA (made at start; its PEM file is `ca_pem_path` in the
    /// info line). The official Azure SDKs send bearer tokens over https only;
    /// with that CA trusted they run against the emulator unchanged.
    #[arg(long)]
    pub tls: bool,
    /// Log as JSON lines (on stderr).
    #[arg(long)]
    pub log_json: bool,
    /// Add N single-platform images to a registry for load tests (`REGISTRY=N`).
    #[arg(long, value_name = "REGISTRY=N", value_parser = parse_seed)]
    pub seed_artifacts: Option<(String, usize)>,
    /// Seconds an import takes before its bytes (scaled by --time-scale).
    #[arg(long, value_name = "SECS")]
    pub import_latency: Option<f64>,
}

/// One `--fault` flag.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultArg {
    Outage(String),
    LatencyMs(u64),
    ErrorRate(String, f64),
    StuckCreating(String),
    ImportFailureRate(f64),
}

fn parse_straggler(s: &str) -> Result<(String, f64), String> {
    let (region, secs) = s.split_once('=').ok_or_else(|| format!("'{s}' is not REGION=SECS"))?;
    let secs: f64 = secs.parse().map_err(|_| format!("'{secs}' is not a number of seconds"))?;
    if region.is_empty() || !region.chars().all(|c| c.is_ascii_alphanumeric()) || secs < 0.0 {
        return Err(format!("'{s}' is not REGION=SECS"));
    }
    Ok((region.to_ascii_lowercase(), secs))
}

fn probability(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("probability {p} is not between 0 and 1"))
    }
}

fn region(s: &str) -> Result<String, String> {
    crate::regions::find(s).map(|r| r.name.clone()).ok_or_else(|| format!("'{s}' is not an Azure region"))
}

fn kind(s: &str) -> Result<String, String> {
    match s {
        "reads" | "writes" | "deletes" => Ok(s.to_string()),
        _ => Err(format!("'{s}' is not one of reads, writes, deletes")),
    }
}

/// Parses `KIND=VALUE` for `--fault`.
pub fn parse_fault(s: &str) -> Result<FaultArg, String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("'{s}': expected KIND=VALUE"))?;
    match k {
        "outage" => Ok(FaultArg::Outage(region(v)?)),
        "latency-ms" => v.parse().map(FaultArg::LatencyMs).map_err(|_| format!("'{v}' is not a whole number of milliseconds")),
        "error-rate" => {
            let (kd, p) = v.split_once(':').ok_or_else(|| format!("'{v}': expected reads|writes|deletes:P"))?;
            Ok(FaultArg::ErrorRate(kind(kd)?, probability(p)?))
        }
        "stuck-creating" => Ok(FaultArg::StuckCreating(region(v)?)),
        "import-failure-rate" => Ok(FaultArg::ImportFailureRate(probability(v)?)),
        _ => Err(format!("unknown fault '{k}' (outage, latency-ms, error-rate, stuck-creating, import-failure-rate)")),
    }
}

/// Parses `KIND=BURST/RATE` for `--throttle`.
pub fn parse_throttle(s: &str) -> Result<(String, BucketSpec), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("'{s}': expected KIND=BURST/RATE"))?;
    let (b, r) = v.split_once('/').ok_or_else(|| format!("'{v}': expected BURST/RATE"))?;
    let burst: f64 = b.parse().map_err(|_| format!("'{b}' is not a number"))?;
    let per_sec: f64 = r.parse().map_err(|_| format!("'{r}' is not a number"))?;
    if !(burst >= 1.0 && per_sec > 0.0) {
        return Err("burst must be at least 1 and rate above 0".into());
    }
    let k = if k == "registry-reads" { k.to_string() } else { kind(k)? };
    Ok((k, BucketSpec { burst, per_sec }))
}

/// Applies `--fault` flags to a fault set.
pub fn apply_faults(faults: &mut Faults, args: &[FaultArg]) {
    for f in args {
        match f {
            FaultArg::Outage(r) => {
                faults.region_outages.insert(r.clone());
            }
            FaultArg::LatencyMs(ms) => faults.latency_ms = *ms,
            FaultArg::ErrorRate(k, p) => {
                faults.error_rates.insert(k.clone(), *p);
            }
            FaultArg::StuckCreating(r) => {
                faults.stuck_creating.insert(r.clone());
            }
            FaultArg::ImportFailureRate(p) => faults.import_failure_rate = *p,
        }
    }
}

impl EmulatorArgs {
    /// The emulator configuration these flags describe.
    pub fn config(&self) -> EmulatorConfig {
        let mut config = if self.empty { EmulatorConfig::empty() } else { EmulatorConfig::demo() };
        config.listen = self.listen;
        config.time_scale = self.time_scale;
        config.timings.replication_delay = self.replication_delay;
        config.timings.replication_jitter = self.replication_jitter.max(0.0);
        config.timings.straggler = self.straggler.clone();
        if let Some(s) = self.import_latency {
            config.timings.import_base = s.max(0.0);
        }
        config.seed_artifacts = self.seed_artifacts.clone();
        config.state_dir = self.state_dir.clone();
        config.list_page_size = self.list_page_size;
        config.identity_secret = self.identity_secret.clone();
        config.tls = self.tls;
        apply_faults(&mut config.faults, &self.faults);
        for (k, spec) in &self.throttle {
            match k.as_str() {
                "reads" => config.throttle.reads = *spec,
                "writes" => config.throttle.writes = *spec,
                "registry-reads" => config.throttle.registry_reads = Some(*spec),
                _ => config.throttle.deletes = *spec,
            }
        }
        config
    }
}

pub async fn run(args: EmulatorArgs, shutdown: impl std::future::Future<Output = ()>) -> Result<(), EmulatorError> {
    let emu = crate::start(args.config()).await?;
    let line = serde_json::to_string(&emu.info()).unwrap_or_else(|_| "{}".into());
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    shutdown.await;
    emu.shutdown().await;
    Ok(())
}

fn parse_seed(s: &str) -> Result<(String, usize), String> {
    let (r, n) = s.split_once('=').ok_or_else(|| format!("'{s}' is not REGISTRY=N"))?;
    let n: usize = n.parse().map_err(|_| format!("'{n}' is not a count"))?;
    if r.is_empty() || n > 100_000 {
        return Err(format!("'{s}': a registry name and a count up to 100000"));
    }
    Ok((r.to_string(), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_and_apply() {
        let args: Vec<FaultArg> = ["outage=eastus", "latency-ms=150", "error-rate=writes:0.25", "stuck-creating=westeurope", "import-failure-rate=1"]
            .iter()
            .map(|s| parse_fault(s).expect("valid fault"))
            .collect();
        let mut f = Faults::default();
        apply_faults(&mut f, &args);
        assert!(f.region_outages.contains("eastus"));
        assert_eq!(f.latency_ms, 150);
        assert_eq!(f.error_rates.get("writes"), Some(&0.25));
        assert!(f.stuck_creating.contains("westeurope"));
        assert_eq!(f.import_failure_rate, 1.0);
    }

    #[test]
    fn bad_faults_are_refused_with_reasons() {
        assert!(parse_fault("outage=atlantis").unwrap_err().contains("not an Azure region"));
        assert!(parse_fault("error-rate=writes:2").unwrap_err().contains("between 0 and 1"));
        assert!(parse_fault("error-rate=pushes:0.1").unwrap_err().contains("reads, writes, deletes"));
        assert!(parse_fault("meteor=1").unwrap_err().contains("unknown fault"));
        assert!(parse_fault("latency-ms").unwrap_err().contains("KIND=VALUE"));
        assert!(parse_throttle("writes=0/1").is_err());
        assert_eq!(parse_throttle("writes=5/0.5").map(|(k, s)| (k, s.burst)), Ok(("writes".to_string(), 5.0)));
    }
}
