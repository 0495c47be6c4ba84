//! The `regatlas` binary: `serve` (default) runs the dashboard; `emulator`
//! runs the standalone ACR emulator.

use clap::{Parser, Subcommand};
use regatlas_server::{
    config::{Config, LogFormat, ServeArgs},
    startup::{shutdown_signal, Application},
    telemetry,
};

/// Regatlas: an ops console for Azure Container Registry geo-replication and migrations.
///
/// Settings come from flags, then `REGATLAS_*` environment variables, then the
/// TOML file given by --config, then defaults.
#[derive(Parser, Debug)]
#[command(name = "regatlas", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
// Parsed once at start; the size difference does not matter.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Run the dashboard (the default when no subcommand is given).
    Serve(ServeArgs),
    /// Run the ACR emulator alone; prints its endpoints as one JSON line on stdout.
    Emulator(regatlas_emulator::cli::EmulatorArgs),
    /// Migrations without a browser: plan, start, status, report.
    #[command(subcommand)]
    Migrate(regatlas_server::migration::cli::MigrateCommand),
    /// Benchmarks (print figures; see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The database itself.
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(clap::Subcommand, Debug)]
enum DbCommand {
    /// Copies an installation's SQLite database into a new, empty PostgreSQL
    /// database (stop the server first; browser sessions are not copied).
    Copy {
        /// The SQLite database: a `sqlite://` URL or a file path.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The PostgreSQL database: `postgres://user:password@host/db` (must exist and be empty).
        #[arg(long, value_name = "URL", env = "REGATLAS_DATABASE_URL", hide_env_values = true)]
        to: String,
    },
}

#[derive(clap::Subcommand, Debug)]
enum BenchCommand {
    /// The poller against an emulator with many registries.
    Poll(regatlas_server::bench::BenchPollArgs),
    /// The topology page under concurrent clients, and the front-end bundle size.
    Ui(regatlas_server::bench::BenchUiArgs),
    /// A migration of N artifacts under import latency and ARM write throttling.
    Migrate(regatlas_server::bench::BenchMigrateArgs),
    /// Presence: webhook ingest, the presence view at N tags x R regions, probe reads against the budget.
    Presence(regatlas_server::bench::presence::BenchPresenceArgs),
    /// Two instances on PostgreSQL: time from the leader's SIGKILL to the other leading.
    Takeover(regatlas_server::bench::takeover::BenchTakeoverArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Some(Command::Emulator(args)) => run_emulator(args).await,
            Some(Command::Serve(args)) => serve(args).await,
            Some(Command::Migrate(cmd)) => {
                telemetry::init(LogFormat::Human);
                regatlas_server::migration::cli::run(cmd).await.map_err(anyhow::Error::from)
            }
            Some(Command::Bench(BenchCommand::Poll(args))) => regatlas_server::bench::poll(args).await.map_err(anyhow::Error::from),
            Some(Command::Bench(BenchCommand::Ui(args))) => regatlas_server::bench::ui(args).await.map_err(anyhow::Error::from),
            Some(Command::Bench(BenchCommand::Migrate(args))) => regatlas_server::bench::migrate(args).await.map_err(anyhow::Error::from),
            Some(Command::Bench(BenchCommand::Presence(args))) => regatlas_server::bench::presence::presence(args).await.map_err(anyhow::Error::from),
            Some(Command::Db(DbCommand::Copy { from, to })) => db_copy(&from, &to).await,
            Some(Command::Bench(BenchCommand::Takeover(args))) => regatlas_server::bench::takeover::takeover(args).await.map_err(anyhow::Error::from),
            None => serve(cli.serve).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line naming the problem; details are in the chain.
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::resolve(&args)?;
    telemetry::init(config.log_format);
    let app = Application::build(config).await?;
    app.run_until(shutdown_signal()).await?;
    Ok(())
}

async fn db_copy(from: &str, to: &str) -> anyhow::Result<()> {
    use regatlas_server::storage::{Backend, DatabaseUrl};
    telemetry::init(LogFormat::Human);
    let from = if from.starts_with("sqlite:") { from.to_string() } else { format!("sqlite://{from}") };
    if Backend::of(to) != Backend::Postgres {
        anyhow::bail!("--to must be a postgres:// URL (it is {})", DatabaseUrl::new(to));
    }
    let copied = regatlas_server::storage::copy::sqlite_to_postgres(&from, to).await?;
    println!("copied {} into {}:", from, DatabaseUrl::new(to));
    for (table, rows) in &copied.tables {
        println!("  {table:<22} {rows:>9} rows");
    }
    Ok(())
}

async fn run_emulator(args: regatlas_emulator::cli::EmulatorArgs) -> anyhow::Result<()> {
    telemetry::init(if args.log_json { LogFormat::Json } else { LogFormat::Human });
    regatlas_emulator::cli::run(args, shutdown_signal()).await?;
    Ok(())
}
