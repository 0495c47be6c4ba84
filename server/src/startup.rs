//! Start-up: open storage, start the data source, bind the listener, serve
//! until a shutdown signal arrives.

use std::{net::SocketAddr, sync::Arc};

use leptos::prelude::LeptosOptions;
use regatlas_app::ShellInfo;
use tokio::net::TcpListener;

use crate::{
    actions::Console,
    config::{Config, DataSource},
    events::EventHub,
    http::{self, AppState},
    poller::Poller,
    storage::{Storage, StorageError},
};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot start the built-in emulator: {0}")]
    Emulator(#[from] regatlas_emulator::EmulatorError),
    #[error("cannot set up the ARM client: {0}")]
    Arm(#[from] regatlas_arm::ArmError),
    #[error("cannot start the migration engine: {0}")]
    Migration(#[from] crate::migration::MigrationError),
    #[error("cannot start the poller: {0}")]
    Poller(#[from] crate::poller::PollError),
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// A server whose listener is bound and whose dependencies are open.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    emulator: Option<regatlas_emulator::RunningEmulator>,
    poller: Option<Poller>,
    /// The migration engine, whose drivers finish before storage closes.
    engine: crate::migration::Engine,
    /// Stops the poller and the operation trackers.
    stop: tokio::sync::watch::Sender<bool>,
}

/// What the server and the `migrate` CLI share: the database, the data
/// source (the embedded emulator when configured) and the ARM client.
pub async fn connect(config: &Config) -> Result<(Storage, regatlas_arm::ArmClient, Option<regatlas_emulator::RunningEmulator>, ShellInfo), StartupError> {
    let storage = Storage::open(&config.database_url).await?;

    let (emulator, shell) = match config.source {
        DataSource::Emulator if config.emulator_url.is_some() => (
            None,
            ShellInfo {
                data_source: DataSource::Emulator.as_str().into(),
                data_source_detail: format!("emulator at {}", config.emulator_url.clone().unwrap_or_default()),
                version: env!("CARGO_PKG_VERSION").into(),
            },
        ),
        DataSource::Emulator => {
            let emu = regatlas_emulator::start(regatlas_emulator::EmulatorConfig {
                time_scale: config.emulator_time_scale,
                identity_secret: Some(regatlas_arm::credential::embedded_identity_secret().to_string()),
                ..regatlas_emulator::EmulatorConfig::demo()
            })
            .await?;
            let detail = format!("built-in emulator at {}", emu.info().arm_base_url);
            (Some(emu), ShellInfo { data_source: DataSource::Emulator.as_str().into(), data_source_detail: detail, version: env!("CARGO_PKG_VERSION").into() })
        }
        DataSource::Azure => (
            None,
            ShellInfo {
                data_source: DataSource::Azure.as_str().into(),
                data_source_detail: config.arm_endpoint.clone(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
        ),
    };

    // The ARM client: through the embedded emulator's managed-identity
    // endpoint, or the configured azure_identity credential.
    let arm = match (&emulator, &config.credential) {
        (None, _) if config.source == DataSource::Emulator => {
            let url = config.emulator_url.clone().unwrap_or_default();
            let url = url.trim_end_matches('/');
            let cred = regatlas_arm::credential::app_service_managed_identity(&format!("{url}/msi/token"))?;
            regatlas_arm::ArmClient::new(regatlas_arm::ArmClientConfig::new(url), cred)?
        }
        (Some(emu), _) => {
            let info = emu.info();
            let cred = regatlas_arm::credential::app_service_managed_identity(&info.token_endpoint)?;
            regatlas_arm::ArmClient::new(regatlas_arm::ArmClientConfig::new(&info.arm_base_url), cred)?
        }
        (None, Some(c)) => {
            let cred = regatlas_arm::credential::build(c, config.authority_host.as_deref())?;
            let mut cc = regatlas_arm::ArmClientConfig::new(&config.arm_endpoint);
            cc.scope = format!("{}/.default", config.arm_endpoint.trim_end_matches('/'));
            regatlas_arm::ArmClient::new(cc, cred)?
        }
        (None, None) => return Err(StartupError::Arm(regatlas_arm::ArmError::Config("no credential configured".into()))),
    };
    Ok((storage, arm, emulator, shell))
}

impl Application {
    /// Opens storage, starts the embedded emulator when configured and binds
    /// the listener (port 0 picks a free port; see [`Application::addr`]).
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        let (storage, arm, emulator, shell) = connect(&config).await?;
        let hub = EventHub::new(storage.clone(), 1024);
        let poller = Poller::new(arm.clone(), storage.clone(), hub.clone(), config.poller.clone()).await?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let engine =
            crate::migration::Engine::new(storage.clone(), hub.clone(), arm.clone(), crate::migration::EngineSettings::from_config(&config), stop_rx.clone())?;
        let console =
            Console::new(storage.clone(), arm.clone(), hub.clone(), poller.handle(), (config.poller.slow_interval.as_secs() * 3 + 30) as i64, stop_rx)
                .with_engine(engine.clone());
        let migrations = engine.resume_all().await?;
        if migrations > 0 {
            tracing::info!(migrations, "migrations resumed");
        }
        let resumed = console.resume().await?;
        if resumed > 0 {
            tracing::info!(resumed, "operations resumed");
        }
        let backend = crate::actions::shared(console);

        let listener = TcpListener::bind(config.listen).await.map_err(|source| StartupError::Bind { addr: config.listen, source })?;
        let addr = listener.local_addr().map_err(|source| StartupError::Bind { addr: config.listen, source })?;

        let leptos_options = LeptosOptions::builder()
            .output_name("regatlas")
            .site_root(config.site_root.to_string_lossy().to_string())
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .build();

        let sse_slots = Arc::new(tokio::sync::Semaphore::new(config.sse_max_connections));
        let state = AppState { leptos_options, storage, shell, config: Arc::new(config), backend, hub, sse_slots };
        Ok(Application { listener, addr, state, emulator, poller: Some(poller), engine, stop: stop_tx })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The embedded emulator, when the data source is the emulator.
    pub fn emulator(&self) -> Option<&regatlas_emulator::RunningEmulator> {
        self.emulator.as_ref()
    }

    /// Serves until `shutdown` completes, then drains connections and closes storage.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), StartupError> {
        let Application { listener, addr, state, emulator, poller, engine, stop: stop_tx } = self;
        let storage = state.storage.clone();
        let stop_rx = stop_tx.subscribe();
        let poller_task = poller.map(|p| tokio::spawn(p.run(stop_rx)));
        tracing::info!(%addr, source = %state.shell.data_source, "Regatlas listening on http://{addr}");
        let hub = state.hub.clone();
        let limits = http::serve::ServeLimits { header_read_timeout: state.config.header_read_timeout, max_connections: state.config.max_connections };
        let app = http::router(state);
        // Open event streams end first, or the graceful shutdown would wait on them.
        let shutdown = async move {
            shutdown.await;
            hub.close();
        };
        let result = http::serve::serve(listener, app, limits, shutdown).await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
        if let Some(t) = poller_task {
            let _ = t.await;
        }
        engine.wait_idle(std::time::Duration::from_secs(10)).await;
        if let Some(emu) = emulator {
            emu.shutdown().await;
        }
        storage.close().await;
        result.map_err(StartupError::Serve)
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}
