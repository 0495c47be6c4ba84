//! Start-up, the composition root: bind the listener, open storage, start
//! the data source, wire the poller, the engine and the back end, resume
//! what a previous process left running, serve until a shutdown signal.

use std::{net::SocketAddr, sync::Arc};

use leptos::prelude::LeptosOptions;
use regatlas_app::ShellInfo;
use tokio::net::TcpListener;

use crate::{
    actions::Console,
    config::{Config, Source},
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
    #[error("cannot set up sign-in: {0}")]
    Identity(String),
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
    /// Whether this instance leads (always, on SQLite).
    leadership: crate::cluster::Leadership,
    /// True while this instance must not do the leader's work.
    stand_down: tokio::sync::watch::Receiver<bool>,
    /// Resumes the replica operations a previous leader left running.
    console: Console,
    /// Stops the poller and the operation trackers.
    stop: tokio::sync::watch::Sender<bool>,
}

/// What the server and the `migrate` CLI share: the database, the data
/// source (the embedded emulator when configured) and the ARM client.
pub async fn connect(config: &Config) -> Result<(Storage, regatlas_arm::ArmClient, Option<regatlas_emulator::RunningEmulator>, ShellInfo), StartupError> {
    let (storage, arm, emulator, shell, _) = connect_with_login(config).await?;
    Ok((storage, arm, emulator, shell))
}

/// [`connect`], and how to sign in to the emulator when it is the source.
async fn connect_with_login(
    config: &Config,
) -> Result<(Storage, regatlas_arm::ArmClient, Option<regatlas_emulator::RunningEmulator>, ShellInfo, Option<EmulatorLogin>), StartupError> {
    let storage = Storage::open(&config.database_url).await?;
    let (arm, emulator, data_source_detail, login) = data_source(&config.source).await?;
    let shell = ShellInfo { data_source: config.source.kind().as_str().into(), data_source_detail, version: env!("CARGO_PKG_VERSION").into() };
    Ok((storage, arm, emulator, shell, login))
}

use regatlas_arm::credential::EmulatorLogin;

/// How people sign in, resolved now that the data source runs.
async fn identity(config: &Config, login: Option<&EmulatorLogin>, storage: &Storage, hub: &EventHub) -> Result<crate::auth::Auth, StartupError> {
    use crate::{
        auth::{bearer, oidc, Auth, Mode},
        config::IdentitySetting,
    };
    let settings = match &config.identity {
        IdentitySetting::LocalOnly => {
            tracing::warn!("no identity provider: the console serves its local user only (loopback)");
            return Ok(Auth::new(Mode::Local(crate::auth::local_identity()), None, storage.clone(), hub.clone(), config.public_url.clone()));
        }
        IdentitySetting::Oidc(s) => s.clone(),
        IdentitySetting::Emulator => {
            let l = login.ok_or_else(|| StartupError::Identity("the emulator's sign-in endpoint is not known".into()))?;
            oidc::OidcSettings {
                issuer: format!("{}/{}/v2.0", l.authority_host, l.tenant_id),
                client_id: l.client_id.clone(),
                auth: oidc::ClientAuth::Secret(crate::outbound::Secret::new(l.client_secret.clone())),
                group_roles: vec![],
                api_audiences: vec![format!("api://{}", l.client_id), l.client_id.clone()],
                ca_pem: Some(l.certificate_pem.clone()),
            }
        }
    };
    let redirect = format!("{}/auth/callback", config.public_url.origin);
    let provider = oidc::Provider::discover(settings.clone(), redirect).await.map_err(|e| StartupError::Identity(e.to_string()))?;
    let verifier =
        bearer::Verifier::new(provider.jwks_uri().await, provider.http().clone(), bearer::accepted_issuers(&settings.issuer), settings.api_audiences.clone());
    Ok(Auth::new(Mode::Oidc(Arc::new(provider)), Some(verifier), storage.clone(), hub.clone(), config.public_url.clone()))
}

/// The ARM client for the configured source: through an emulator's
/// managed-identity endpoint, or with the configured `azure_identity`
/// credential. Also the embedded emulator, when that is the source, and a
/// line for the page footer.
async fn data_source(
    source: &Source,
) -> Result<(regatlas_arm::ArmClient, Option<regatlas_emulator::RunningEmulator>, String, Option<EmulatorLogin>), StartupError> {
    use regatlas_arm::{credential, ArmClient, ArmClientConfig};
    Ok(match source {
        Source::EmbeddedEmulator { time_scale } => {
            let emu =
                regatlas_emulator::start(regatlas_emulator::EmulatorConfig { time_scale: *time_scale, ..regatlas_emulator::EmulatorConfig::demo() }).await?;
            let info = emu.info();
            let login = emulator_login(&info);
            let arm = ArmClient::new(ArmClientConfig::new(&info.arm_base_url), credential::emulator(&login)?)?;
            let detail = format!("built-in emulator at {}", info.arm_base_url);
            (arm, Some(emu), detail, Some(login))
        }
        Source::ExternalEmulator { url, secret, ca_pem } => {
            let secret = secret.as_ref().ok_or_else(|| {
                StartupError::Arm(regatlas_arm::ArmError::Config(
                    "--emulator-url needs --emulator-secret (or REGATLAS_EMULATOR_IDENTITY_SECRET): the secret that emulator was started with".into(),
                ))
            })?;
            let login = external_emulator_login(url, secret.expose(), ca_pem.as_deref()).await?;
            let mut cc = ArmClientConfig::new(url);
            cc.extra_root_pem = ca_pem.clone();
            (ArmClient::new(cc, credential::emulator(&login)?)?, None, format!("emulator at {url}"), Some(login))
        }
        Source::Azure { endpoint, credential: c, authority_host } => {
            let cred = credential::build(c, authority_host.as_deref())?;
            let mut cc = ArmClientConfig::new(endpoint);
            cc.scope = format!("{}/.default", endpoint.trim_end_matches('/'));
            (ArmClient::new(cc, cred)?, None, endpoint.clone(), None)
        }
    })
}

/// How the console signs in to an emulator it started (or a test did).
pub fn emulator_login(info: &regatlas_emulator::EmulatorInfo) -> regatlas_arm::credential::EmulatorLogin {
    regatlas_arm::credential::EmulatorLogin {
        authority_host: info.login_url.clone(),
        tenant_id: info.tenant_id.clone(),
        client_id: info.client_id.clone(),
        client_secret: info.token_header_value.clone(),
        certificate_pem: info.login_certificate_pem.clone(),
    }
}

/// Asks an emulator at `url` (plain HTTP) where its Entra ID endpoint is
/// and which certificate it presents. The endpoint must be on the
/// emulator's own host: the answer cannot send the secret elsewhere.
pub async fn external_emulator_login(url: &str, secret: &str, ca_pem: Option<&str>) -> Result<regatlas_arm::credential::EmulatorLogin, StartupError> {
    #[derive(serde::Deserialize)]
    struct Login {
        login_url: String,
        certificate_pem: String,
        tenant_id: String,
        client_id: String,
    }
    let failed = |e: String| StartupError::Arm(regatlas_arm::ArmError::Config(format!("cannot learn the emulator's login endpoint from {url}: {e}")));
    let mut builder = reqwest::Client::builder().no_proxy().timeout(std::time::Duration::from_secs(10));
    if let Some(pem) = ca_pem {
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| failed(e.to_string()))?);
    }
    let http = builder.build().map_err(|e| failed(e.to_string()))?;
    let resp = http.get(format!("{url}/emulator-admin/login")).send().await.map_err(|e| failed(e.to_string()))?;
    let mut resp = resp.error_for_status().map_err(|e| failed(e.to_string()))?;
    // A certificate and three names: 64 KiB is plenty, and the most it reads.
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| failed(e.to_string()))? {
        if body.len() + chunk.len() > 64 * 1024 {
            return Err(failed("its answer is larger than 64 KiB".into()));
        }
        body.extend_from_slice(&chunk);
    }
    let l: Login = serde_json::from_slice(&body).map_err(|e| failed(e.to_string()))?;
    let host = |u: &str| reqwest::Url::parse(u).ok().and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    let login_https = reqwest::Url::parse(&l.login_url).is_ok_and(|u| u.scheme() == "https");
    if !login_https || host(&l.login_url).is_none() || host(&l.login_url) != host(url) {
        return Err(failed(format!("its login endpoint {:?} is not https on the emulator's own host", crate::outbound::clean_text(&l.login_url, 200))));
    }
    Ok(regatlas_arm::credential::EmulatorLogin {
        authority_host: l.login_url,
        tenant_id: l.tenant_id,
        client_id: l.client_id,
        client_secret: secret.to_string(),
        certificate_pem: l.certificate_pem,
    })
}

impl Application {
    /// Binds the listener (port 0 picks a free port; see
    /// [`Application::addr`]) before anything else, so a taken port fails
    /// at once and nothing resumes work it could not serve; then opens
    /// storage, starts the data source, and resumes migrations and
    /// operation trackers.
    pub async fn build(mut config: Config) -> Result<Application, StartupError> {
        let listener = TcpListener::bind(config.listen).await.map_err(|source| StartupError::Bind { addr: config.listen, source })?;
        let addr = listener.local_addr().map_err(|source| StartupError::Bind { addr: config.listen, source })?;
        // A default public URL names the bound port, not port 0 (sign-in
        // redirects back to it).
        if config.listen.port() == 0 && config.public_url.origin == format!("http://{}", config.listen) {
            let bound = crate::config::PublicUrl::parse(&format!("http://{addr}")).map_err(StartupError::Identity)?;
            if config.hooks_url == config.public_url {
                config.hooks_url = bound.clone();
            }
            config.public_url = bound;
        }
        let (storage, arm, emulator, shell, login) = connect_with_login(&config).await?;
        let hub = EventHub::new(storage.clone(), 1024);
        let auth = Arc::new(identity(&config, login.as_ref(), &storage, &hub).await?);
        {
            use tower_sessions::ExpiredDeletion as _;
            let sessions = storage.session_store();
            tokio::spawn(async move {
                if let Err(e) = sessions.continuously_delete_expired(std::time::Duration::from_secs(3600)).await {
                    tracing::warn!(error = %e, "expired-session cleanup stopped");
                }
            });
        }
        let poller = Poller::new(arm.clone(), storage.clone(), hub.clone(), config.poller.clone()).await?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        // On PostgreSQL, instances elect the one that polls, drives
        // migrations and keeps presence; on SQLite this one always does.
        let leadership = match storage.postgres() {
            Some(pool) => crate::cluster::elect((*pool.connect_options()).clone(), crate::cluster::LeaderSettings::default(), stop_rx.clone()),
            None => crate::cluster::Leadership::sole(),
        };
        let stand_down = crate::cluster::leader::stand_down(&leadership, stop_rx.clone());
        let engine = crate::migration::Engine::new(
            storage.clone(),
            hub.clone(),
            arm.clone(),
            crate::migration::EngineSettings::from_config(&config),
            stand_down.clone(),
        )?;
        let console =
            Console::new(storage.clone(), arm.clone(), hub.clone(), poller.handle(), (config.poller.slow_interval.as_secs() * 3 + 30) as i64, stop_rx)
                .with_engine(engine.clone())
                .with_stuck_after(config.stuck_after);
        let presence = crate::presence::Presence::new(
            storage.clone(),
            arm.clone(),
            hub.clone(),
            crate::presence::PresenceSettings {
                hooks_origin: Some(config.hooks_url.origin.clone()),
                reconcile_every: std::time::Duration::from_secs(30),
                catch_up_every: std::time::Duration::from_secs(600),
                probe: crate::presence::probe::ProbeSettings {
                    reads_per_hour: config.probe_reads_per_hour,
                    tick: std::time::Duration::from_secs(2),
                    relist_every: std::time::Duration::from_secs(3600),
                },
                outbound: config.outbound.clone(),
                emulator: config.source.kind() == crate::config::DataSource::Emulator,
            },
        );
        let console = console.with_presence(presence.clone());
        let backend = crate::actions::shared(console.clone());
        let scrape = crate::metrics::Scrape { storage: storage.clone(), arm: arm.clone() };
        let _ = crate::metrics::handle();

        let leptos_options = LeptosOptions::builder()
            .output_name("regatlas")
            .site_root(config.site_root.to_string_lossy().to_string())
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .build();

        let sse_slots = Arc::new(tokio::sync::Semaphore::new(config.sse_max_connections));
        let state = AppState {
            leptos_options,
            storage,
            shell,
            config: Arc::new(config),
            backend,
            hub,
            sse_slots,
            auth,
            presence,
            scrape,
            leadership: leadership.clone(),
        };
        Ok(Application { listener, addr, state, emulator, poller: Some(poller), engine, leadership, stand_down, console, stop: stop_tx })
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
        let Application { listener, addr, state, emulator, poller, engine, leadership, stand_down, console, stop: stop_tx } = self;
        let storage = state.storage.clone();
        let stop_rx = stop_tx.subscribe();
        state.hub.relay_from_others(stop_rx.clone());
        let announcer_task = tokio::spawn(state.presence.clone().announcer(stop_rx.clone()));
        let lead_task = tokio::spawn(lead(poller, state.presence.clone(), engine.clone(), console, stand_down, stop_rx.clone()));
        tracing::info!(leader = leadership.is_leader(), "leadership at start");
        if let Some(addr) = state.config.metrics_listen {
            let scrape = state.scrape.clone();
            let mut stop = stop_rx.clone();
            match TcpListener::bind(addr).await {
                Ok(l) => {
                    tracing::info!(%addr, "metrics listening on http://{addr}/metrics");
                    let app = axum::Router::new().route(
                        "/metrics",
                        axum::routing::get(move || {
                            let scrape = scrape.clone();
                            async move { http::render_metrics(&scrape).await }
                        }),
                    );
                    tokio::spawn(async move {
                        let _ = axum::serve(l, app)
                            .with_graceful_shutdown(async move {
                                let _ = stop.wait_for(|s| *s).await;
                            })
                            .await;
                    });
                }
                Err(e) => tracing::error!(%addr, error = %e, "cannot listen for metrics"),
            }
        }
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
        let _ = lead_task.await;
        let _ = announcer_task.await;
        engine.wait_idle(std::time::Duration::from_secs(10)).await;
        if let Some(emu) = emulator {
            emu.shutdown().await;
        }
        storage.close().await;
        result.map_err(StartupError::Serve)
    }
}

/// The leader's work, for each term this instance leads, until shutdown:
/// the poller (its memory loaded again: another instance may have polled),
/// the migrations (resumed as after a restart, then adopted as they are
/// started anywhere), presence upkeep, and on the first term the replica
/// operations a previous process left running.
async fn lead(
    poller: Option<Poller>,
    presence: crate::presence::Presence,
    engine: crate::migration::Engine,
    console: Console,
    stand_down: tokio::sync::watch::Receiver<bool>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let poller = poller.map(Arc::new);
    let mut term = 0u32;
    loop {
        let mut waiting = stand_down.clone();
        // Not leading: show what the leader's poller knows (PostgreSQL).
        let mirror = poller.clone().map(|p| {
            let sd = stand_down.clone();
            tokio::spawn(async move { p.mirror(sd).await })
        });
        tokio::select! {
            _ = crate::cluster::until(&mut waiting, false) => {}
            _ = crate::cluster::until(&mut stop, true) => {
                if let Some(m) = mirror { m.abort(); }
                return;
            }
        }
        if let Some(m) = mirror {
            let _ = m.await;
        }
        if *stop.borrow() {
            return;
        }
        term += 1;
        tracing::info!(term, "leading: the poller, migrations and presence upkeep run here");
        if let Some(p) = &poller {
            if let Err(e) = p.reload().await {
                tracing::error!(error = %e, "cannot load the stored topology for the poller");
            }
        }
        match engine.resume_all().await {
            Ok(n) if n > 0 => tracing::info!(migrations = n, "migrations resumed"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot resume migrations"),
        }
        if term == 1 {
            match console.resume().await {
                Ok(n) if n > 0 => tracing::info!(resumed = n, "operations resumed"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot resume operations"),
            }
        }
        let poller_task = poller.clone().map(|p| {
            let sd = stand_down.clone();
            tokio::spawn(async move { p.run(sd).await })
        });
        let presence_task = tokio::spawn(presence.clone().run(stand_down.clone()));
        let operations_task = tokio::spawn(console.clone().watch_operations(stand_down.clone()));
        let adopt_task = tokio::spawn(engine.clone().adopt(stand_down.clone()));
        if let Some(t) = poller_task {
            let _ = t.await;
        }
        let _ = presence_task.await;
        let _ = operations_task.await;
        let _ = adopt_task.await;
        if !*stop.borrow() {
            tracing::warn!(term, "no longer leading: the poller, migrations and presence upkeep stopped here");
        }
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
