//! `regatlas emulator`: runs the emulator standalone and prints its
//! endpoints as one JSON line on stdout.

use std::{io::Write, net::SocketAddr};

use clap::Args;

use crate::{EmulatorConfig, EmulatorError};

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
    /// Simulated seconds before a push reaches the other replicas.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub replication_delay: f64,
    /// Log as JSON lines (on stderr).
    #[arg(long)]
    pub log_json: bool,
}

pub async fn run(args: EmulatorArgs, shutdown: impl std::future::Future<Output = ()>) -> Result<(), EmulatorError> {
    let mut config = if args.empty { EmulatorConfig::empty() } else { EmulatorConfig::demo() };
    config.listen = args.listen;
    config.time_scale = args.time_scale;
    config.timings.replication_delay = args.replication_delay;
    let emu = crate::start(config).await?;
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
