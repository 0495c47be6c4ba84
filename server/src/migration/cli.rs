//! `regatlas migrate plan|start|status|report`: migrations for pipelines
//! without a browser. With `--server URL` (and a token in
//! `REGATLAS_API_TOKEN`) they drive a running console through its API
//! ([`super::remote`]); without it they work on the same database and with
//! the same engine as the dashboard. `plan` and `start` connect to ARM like the server does (use
//! `--emulator-url` or `--source azure`; the built-in emulator would be a
//! fresh demo world), refresh the registry list once, then run the engine
//! in this process until the migration settles. `status` and `report` only
//! read the database.

use std::time::Duration;

use clap::{Args, Subcommand};
use regatlas_app::model::{MigrationRequest, MigrationView};

use super::{Engine, EngineSettings, MigrationError};
use crate::{
    config::{Config, ServeArgs},
    events::EventHub,
    poller::Poller,
    storage::Storage,
};

#[derive(Subcommand, Debug)]
pub enum MigrateCommand {
    /// Inventory and plan (a dry run): what would be copied, present, in conflict.
    Plan(PlanArgs),
    /// Create and run a migration (or start/resume one by --id) until it settles.
    Start(StartArgs),
    /// All migrations, or one with its repositories, failures and checklist.
    Status(StatusArgs),
    /// The report of a migration: every artifact, as JSON or CSV.
    Report(ReportArgs),
}

#[derive(Args, Debug, Clone)]
pub struct SpecArgs {
    /// Source: a registry Regatlas watches, by name.
    #[arg(long, value_name = "REGISTRY", conflicts_with = "from_url")]
    pub from: Option<String>,
    /// Source: any OCI registry by URL.
    #[arg(long, value_name = "URL")]
    pub from_url: Option<String>,
    /// A credential set from the configuration for `--from-url`.
    #[arg(long, value_name = "NAME", requires = "from_url")]
    pub from_credential_set: Option<String>,
    /// Target ACR, by name.
    #[arg(long, value_name = "REGISTRY")]
    pub to: Option<String>,
    /// Repository patterns to include (repeatable; `*` wildcard).
    #[arg(long)]
    pub include: Vec<String>,
    #[arg(long)]
    pub exclude: Vec<String>,
    /// Tag patterns (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Newest N tags per repository.
    #[arg(long)]
    pub latest: Option<u32>,
    /// Overwrite target tags (importImage mode Force).
    #[arg(long)]
    pub force: bool,
    /// Also copy untagged manifests (ACR sources).
    #[arg(long)]
    pub untagged: bool,
    #[arg(long)]
    pub max_concurrency: Option<u32>,
    #[arg(long)]
    pub failure_threshold: Option<f64>,
    #[arg(long)]
    pub name: Option<String>,
    /// Who runs it on this machine (recorded with every action as a local
    /// user: the command works on a local database, not through the server).
    #[arg(long, env = "USER")]
    pub actor: Option<String>,
}

/// Where the migration runs: a console's API, or this process.
#[derive(Args, Debug, Clone, Default)]
pub struct RemoteArgs {
    /// Drive the console at this URL through its API (the token in
    /// `REGATLAS_API_TOKEN`) instead of a local database.
    #[arg(long, env = "REGATLAS_SERVER", value_name = "URL")]
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub spec: SpecArgs,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Start (or resume) an existing migration instead of creating one.
    #[arg(long)]
    pub id: Option<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub spec: SpecArgs,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    pub id: Option<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    pub id: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// json or csv.
    #[arg(long, default_value = "json")]
    pub format: String,
    /// Write here instead of standard output.
    #[arg(long)]
    pub output: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Startup(#[from] crate::startup::StartupError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error(transparent)]
    Poll(#[from] crate::poller::PollError),
    #[error("{0}")]
    Migration(String),
    #[error("cannot write {path}: {source}")]
    Write { path: std::path::PathBuf, source: std::io::Error },
    #[error("the migration ended {0}")]
    NotComplete(String),
}

impl From<MigrationError> for CliError {
    fn from(e: MigrationError) -> CliError {
        let e = regatlas_app::model::ApiError::from(e);
        CliError::Migration(format!("{}: {}", e.code, e.message))
    }
}

fn request(spec: &SpecArgs, dry_run: bool) -> Result<MigrationRequest, CliError> {
    let target = spec.to.clone().ok_or_else(|| CliError::Migration("InvalidTarget: --to is required".into()))?;
    Ok(MigrationRequest {
        name: spec.name.clone(),
        source_registry: spec.from.clone(),
        source_url: spec.from_url.clone(),
        source_credential_set: spec.from_credential_set.clone(),
        source_username: None,
        source_password_env: None,
        target_registry: target,
        include: spec.include.clone(),
        exclude: spec.exclude.clone(),
        tags: spec.tags.clone(),
        latest: spec.latest,
        force: spec.force,
        untagged: spec.untagged,
        dry_run,
        max_concurrency: spec.max_concurrency,
        failure_threshold: spec.failure_threshold,
    })
}

/// What the engine of a local command keeps alive: the built-in emulator,
/// if any, and on PostgreSQL the leadership's session.
pub struct Held {
    _emulator: Option<regatlas_emulator::RunningEmulator>,
    _leading: Option<sqlx::PgConnection>,
}

/// Opens the database, connects to ARM, refreshes the registries once and
/// starts an engine (resuming what it owns).
/// On PostgreSQL it first takes the leadership (the poller and the
/// migrations are the leader's), and refuses when a console leads: drive
/// that one with `--server`.
async fn engine(serve: &ServeArgs) -> Result<(Engine, Storage, tokio::sync::watch::Sender<bool>, Held), CliError> {
    let config = Config::resolve(serve)?;
    let (storage, arm, emulator, _) = crate::startup::connect(&config).await?;
    let leading = match storage.postgres() {
        Some(pool) => match crate::cluster::leader::lead_alone(&pool.connect_options()).await {
            Ok(Some(session)) => Some(session),
            Ok(None) => {
                return Err(CliError::Migration(
                    "ConsoleLeads: a console instance leads on this database and drives its migrations: use --server URL with a token".into(),
                ))
            }
            Err(e) => return Err(CliError::Storage(e.into())),
        },
        None => None,
    };
    let hub = EventHub::new(storage.clone(), 1024);
    let poller = Poller::new(arm.clone(), storage.clone(), hub.clone(), config.poller.clone()).await?;
    poller.cycle(true, false).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let engine = Engine::new(storage.clone(), hub, arm, EngineSettings::from_config(&config), stop_rx)?;
    Ok((engine, storage, stop_tx, Held { _emulator: emulator, _leading: leading }))
}

pub(super) fn line(m: &MigrationView) -> String {
    format!(
        "{:<9} {:>5.1}%  {} → {}  planned {} (copy {}, present {}, conflicts {})  imported {}  failed {}  verified {}  mismatched {}{}{}",
        m.state,
        m.percent(),
        m.source,
        m.target,
        m.planned,
        m.to_copy,
        m.present,
        m.conflicts,
        m.imported,
        m.failed,
        m.verified,
        m.mismatched,
        m.rate_per_min.map(|r| format!("  {r:.0}/min")).unwrap_or_default(),
        m.eta_secs.map(|e| format!("  ETA {e}s")).unwrap_or_default(),
    )
}

async fn view_of(storage: &Storage, id: &str) -> Result<MigrationView, CliError> {
    let m = storage.migration(id).await?.ok_or_else(|| CliError::Migration(format!("MigrationNotFound: {id}")))?;
    Ok(crate::views::migration(m, chrono::Utc::now()))
}

/// Failed items, at most a thousand.
async fn failed_items(storage: &Storage, id: &str) -> Result<Vec<regatlas_app::model::MigrationItemView>, CliError> {
    let f = regatlas_domain::record::ItemFilter { state: Some(regatlas_app::model::ItemState::Failed), limit: 1000, ..Default::default() };
    Ok(storage.migration_items(id, &f).await?.into_iter().map(crate::views::item).collect())
}

/// Waits until the migration leaves the engine's hands, printing progress
/// as `view` reads it every `every`; Ctrl-C stops waiting with `interrupted`.
pub(super) async fn follow_with<F, Fut>(view: F, every: Duration, interrupted: &str) -> Result<MigrationView, CliError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<MigrationView, CliError>>,
{
    let mut last = String::new();
    loop {
        let m = view().await?;
        let l = line(&m);
        if l != last {
            eprintln!("{l}");
            last = l;
        }
        if !m.is_active() {
            return Ok(m);
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = tokio::signal::ctrl_c() => return Err(CliError::Migration(interrupted.into())),
        }
    }
}

async fn follow(storage: &Storage, id: &str) -> Result<MigrationView, CliError> {
    follow_with(|| view_of(storage, id), Duration::from_millis(500), "interrupted: the migration stays where it is; `regatlas migrate start --id` resumes it")
        .await
}

/// Migrations a line each, or as JSON.
fn print_list(all: &[MigrationView], json: bool) {
    if json {
        println!("{}", serde_json::to_string(all).unwrap_or_default());
    } else {
        for m in all {
            println!("{}  {}", m.id, line(m));
        }
    }
}

/// `Err` unless the migration settled in `want`.
fn settled_in(m: &MigrationView, want: regatlas_app::model::MigrationState) -> Result<(), CliError> {
    if m.state == want {
        Ok(())
    } else {
        Err(CliError::NotComplete(format!("{}: {}", m.state, m.error.clone().unwrap_or_default())))
    }
}

/// The commands through a console's API.
async fn run_remote(server: &str, cmd: MigrateCommand) -> Result<(), CliError> {
    use regatlas_app::model::MigrationState;
    let remote = super::remote::Remote::new(server)?;
    match cmd {
        MigrateCommand::Plan(a) => {
            let m = remote.create(&request(&a.spec, true)?).await?;
            let done = remote.follow(&m.id).await?;
            println!("{}", serde_json::to_string_pretty(&remote.detail(&m.id).await?).unwrap_or_default());
            settled_in(&done, MigrationState::Planned)?;
            eprintln!("plan {}: start it with `regatlas migrate start --server {server} --id {}`", m.id, m.id);
            Ok(())
        }
        MigrateCommand::Start(a) => {
            let id = match &a.id {
                Some(id) => {
                    if !remote.view(id).await?.is_active() {
                        remote.start(id).await?;
                    }
                    id.clone()
                }
                None => remote.create(&request(&a.spec, false)?).await?.id,
            };
            eprintln!("migration {id}");
            let done = remote.follow(&id).await?;
            println!("{}", serde_json::to_string_pretty(&done).unwrap_or_default());
            settled_in(&done, MigrationState::Complete)
        }
        MigrateCommand::Status(a) => {
            match a.id {
                Some(id) => {
                    let d = remote.detail(&id).await?;
                    if a.json {
                        println!("{d}");
                    } else {
                        let m: MigrationView = serde_json::from_value(d["migration"].clone()).map_err(|e| CliError::Migration(e.to_string()))?;
                        println!("{}  {}", m.id, line(&m));
                        let repos: Vec<regatlas_app::model::RepositoryProgress> = serde_json::from_value(d["repositories"].clone()).unwrap_or_default();
                        for r in repos {
                            println!("  {:<40} {:>4}/{:<4} copied  {} failed  {} conflicts", r.repository, r.done, r.to_copy, r.failed, r.conflicts);
                        }
                    }
                }
                None => {
                    print_list(&remote.list().await?, a.json);
                }
            }
            Ok(())
        }
        MigrateCommand::Report(a) => {
            if a.format != "json" && a.format != "csv" {
                return Err(CliError::Migration(format!("UnknownFormat: '{}' is not json or csv", a.format)));
            }
            let text = remote.report(&a.id, &a.format).await?;
            match a.output {
                Some(path) => std::fs::write(&path, text).map_err(|source| CliError::Write { path, source }),
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }
    }
}

pub async fn run(cmd: MigrateCommand) -> Result<(), CliError> {
    let server = match &cmd {
        MigrateCommand::Plan(a) => a.remote.server.clone(),
        MigrateCommand::Start(a) => a.remote.server.clone(),
        MigrateCommand::Status(a) => a.remote.server.clone(),
        MigrateCommand::Report(a) => a.remote.server.clone(),
    };
    if let Some(server) = server {
        return run_remote(&server, cmd).await;
    }
    match cmd {
        MigrateCommand::Plan(a) => {
            let (engine, storage, stop, _held) = engine(&a.serve).await?;
            let m = engine.create(request(&a.spec, true)?, &crate::auth::local_principal(a.spec.actor.as_deref())).await?;
            let done = follow(&storage, &m.id).await?;
            let detail = engine.detail(&m.id).await?;
            println!("{}", serde_json::to_string_pretty(&detail).unwrap_or_default());
            let _ = stop.send(true);
            if done.state != regatlas_app::model::MigrationState::Planned {
                return Err(CliError::NotComplete(format!("{}: {}", done.state, done.error.unwrap_or_default())));
            }
            eprintln!("plan {}: start it with `regatlas migrate start --id {}`", m.id, m.id);
            Ok(())
        }
        MigrateCommand::Start(a) => {
            let (engine, storage, stop, _held) = engine(&a.serve).await?;
            let id = match &a.id {
                Some(id) => {
                    let m = engine.view(id).await?;
                    if !m.is_active() {
                        engine.start(id, &crate::auth::local_principal(a.spec.actor.as_deref())).await?;
                    }
                    id.clone()
                }
                None => engine.create(request(&a.spec, false)?, &crate::auth::local_principal(a.spec.actor.as_deref())).await?.id,
            };
            eprintln!("migration {id}");
            let done = follow(&storage, &id).await?;
            let _ = stop.send(true);
            println!("{}", serde_json::to_string_pretty(&done).unwrap_or_default());
            if done.state != regatlas_app::model::MigrationState::Complete {
                return Err(CliError::NotComplete(format!("{}: {}", done.state, done.error.unwrap_or_default())));
            }
            Ok(())
        }
        MigrateCommand::Status(a) => {
            let config = Config::resolve(&a.serve)?;
            let storage = Storage::open(&config.database_url).await?;
            match a.id {
                Some(id) => {
                    let m = view_of(&storage, &id).await?;
                    let mut repos = Vec::new();
                    let mut after: Option<String> = None;
                    loop {
                        let page = storage.migration_repositories(&id, after.as_deref(), 1000).await?;
                        after = page.last().map(|r| r.repository.to_string());
                        let full = page.len() == 1000;
                        repos.extend(page.into_iter().map(crate::views::repository));
                        if !full {
                            break;
                        }
                    }
                    if a.json {
                        let failed = failed_items(&storage, &id).await?;
                        println!("{}", serde_json::json!({ "migration": m, "repositories": repos, "failed": failed }));
                    } else {
                        println!("{}  {}", m.id, line(&m));
                        for r in repos {
                            println!("  {:<40} {:>4}/{:<4} copied  {} failed  {} conflicts", r.repository, r.done, r.to_copy, r.failed, r.conflicts);
                        }
                        for f in failed_items(&storage, &id).await? {
                            println!(
                                "  FAILED {}@{} [{}]: {} {}",
                                f.repository,
                                f.digest,
                                f.tags.join(","),
                                f.error_code.unwrap_or_default(),
                                f.error_message.unwrap_or_default()
                            );
                        }
                    }
                }
                None => {
                    let now = chrono::Utc::now();
                    let all: Vec<MigrationView> = storage.migrations(100, None).await?.into_iter().map(|m| crate::views::migration(m, now)).collect();
                    print_list(&all, a.json);
                }
            }
            Ok(())
        }
        MigrateCommand::Report(a) => {
            let config = Config::resolve(&a.serve)?;
            let storage = Storage::open(&config.database_url).await?;
            let format = match a.format.as_str() {
                "csv" => super::ReportFormat::Csv,
                "json" => super::ReportFormat::Json,
                other => return Err(CliError::Migration(format!("UnknownFormat: '{other}' is not json or csv"))),
            };
            let m = view_of(&storage, &a.id).await?;
            let (st, id) = (storage.clone(), a.id.clone());
            let chunks = super::report_stream(m, format, move |q| {
                let (st, id) = (st.clone(), id.clone());
                async move {
                    let f = regatlas_domain::record::ItemFilter { limit: q.limit, after: q.after, ..Default::default() };
                    st.migration_items(&id, &f).await.map(|items| items.into_iter().map(crate::views::item).collect::<Vec<_>>())
                }
            });
            let write_err = |path: &std::path::Path, source| CliError::Write { path: path.to_path_buf(), source };
            let mut out: Box<dyn std::io::Write> = match &a.output {
                Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| write_err(path, e))?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let shown = a.output.clone().unwrap_or_else(|| std::path::PathBuf::from("-"));
            futures::pin_mut!(chunks);
            while let Some(chunk) = futures::StreamExt::next(&mut chunks).await {
                out.write_all(&chunk?).map_err(|e| write_err(&shown, e))?;
            }
            out.flush().map_err(|e| write_err(&shown, e))?;
            Ok(())
        }
    }
}
