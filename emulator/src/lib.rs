//! # regatlas-emulator
//!
//! A faithful Azure Container Registry emulator on loopback: the ARM control
//! plane ([`arm`]), Entra ID's token endpoint over TLS ([`login`]) and a
//! managed-identity token endpoint ([`auth`]), the OCI
//! data plane per registry and replica ([`oci`]), webhooks ([`webhooks`]),
//! throttling ([`throttle`]) and fault injection ([`admin`]). It is written
//! from the ARM contract in `data/azure-specs/` and shares no code with the
//! dashboard's ARM client, so that a wrong field on either side fails a test.
//!
//! [`start`] runs it in-process (the dashboard's default data source and
//! every test's world); `regatlas emulator` runs it standalone.

pub mod admin;
pub mod arm;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod entra;
pub mod login;
pub mod oci;
pub mod persist;
pub mod regions;
pub mod throttle;
pub mod webhooks;
pub mod world;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use serde::Serialize;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

use crate::{
    arm::ArmError,
    auth::Auth,
    clock::Clock,
    throttle::{OpKind, Throttle, ThrottleConfig},
    world::{Timings, World},
};

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    State(#[from] persist::PersistError),
    #[error("{0}")]
    Tls(String),
}

/// How to start the emulator.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// ARM endpoint address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Subscription id of the simulated world.
    pub subscription_id: String,
    /// Simulated seconds per real second.
    pub time_scale: f64,
    pub timings: Timings,
    pub throttle: ThrottleConfig,
    /// Build the demo world (registries with content) at start.
    pub demo: bool,
    /// Keep the world in this directory across restarts (restored at start
    /// when it holds a snapshot; the demo world is built only when it does not).
    pub state_dir: Option<std::path::PathBuf>,
    /// Items per page of ARM list responses; more items give a `nextLink`.
    pub list_page_size: usize,
    /// Faults active from the start.
    pub faults: world::Faults,
    /// The managed-identity endpoint's `X-IDENTITY-HEADER` secret (random when `None`).
    pub identity_secret: Option<String>,
    /// Instead of the demo world: (registries, replicas each) for benchmarks.
    pub bench_world: Option<(usize, usize)>,
    /// Serve the ARM endpoint over HTTPS (the official Azure SDKs send bearer
    /// tokens over https only), with a certificate from the emulator's own
    /// CA; the CA's PEM is written to a file named in `EmulatorInfo`.
    pub tls: bool,
    /// Extra single-platform images for load tests: (registry, count), added
    /// to the demo world as `load/appNN:vNN` (50 tags per repository).
    pub seed_artifacts: Option<(String, usize)>,
}

impl EmulatorConfig {
    /// The demo world on a free loopback port, at real time.
    pub fn demo() -> EmulatorConfig {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            subscription_id: "00000000-0000-4000-8000-00000000c0de".to_string(),
            time_scale: 1.0,
            timings: Timings::default(),
            throttle: ThrottleConfig::default(),
            demo: true,
            state_dir: None,
            list_page_size: 100,
            faults: world::Faults::default(),
            identity_secret: None,
            bench_world: None,
            seed_artifacts: None,
            tls: false,
        }
    }

    /// An empty world (no registries), for tests that build their own.
    pub fn empty() -> EmulatorConfig {
        EmulatorConfig { demo: false, ..EmulatorConfig::demo() }
    }
}

/// State shared by every listener.
pub struct Shared {
    world: Mutex<World>,
    pub auth: Auth,
    pub throttle: Throttle,
    pub subscription_id: String,
    /// The world's clock (a copy, readable without the world lock).
    pub clock: Clock,
    /// `http://127.0.0.1:PORT` of the ARM endpoint.
    pub base_url: String,
    /// Items per page of ARM list responses.
    pub list_page_size: usize,
    pub http: reqwest::Client,
    /// The emulated Entra ID token endpoint (set once it listens).
    pub login: std::sync::OnceLock<login::LoginEndpoint>,
    /// Emulated Entra ID's OpenID Connect provider (codes not yet redeemed).
    pub entra: entra::Entra,
    /// Where the CA certificate was written (with `--tls`).
    pub ca_pem_path: std::sync::OnceLock<Option<String>>,
    shutdown: watch::Receiver<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    /// Locks the world. A poisoned lock (a panic while holding it) is recovered:
    /// the world's invariants are re-established by `tick`.
    pub fn world(&self) -> MutexGuard<'_, World> {
        match self.world.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub fn count(&self, key: &str) {
        self.world().count(key);
    }

    /// `Retry-After` seconds for LROs: ARM's 10 s scaled by the time scale, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        let scale = self.clock.scale();
        ((10.0 / scale).round() as u64).clamp(1, 10)
    }

    /// Injected latency and failure for one ARM request.
    pub fn fault_roll(&self, kind: OpKind) -> (u64, Option<axum::http::StatusCode>) {
        let world = self.world();
        let rate = world.faults.error_rates.get(kind.name()).copied().unwrap_or(0.0);
        let fail = (rate > 0.0 && rand::random::<f64>() < rate).then(|| {
            if rand::random::<bool>() {
                axum::http::StatusCode::INTERNAL_SERVER_ERROR
            } else {
                axum::http::StatusCode::SERVICE_UNAVAILABLE
            }
        });
        (world.faults.latency_ms, fail)
    }

    /// Binds the global endpoint (if the registry has none yet) and one
    /// regional endpoint per region; returns (`global`, `regional…`) as `host:port`.
    pub async fn bind_endpoints(self: &Arc<Self>, registry: &str, regions: &[String]) -> Result<(String, Vec<String>), ArmError> {
        let key = registry.to_ascii_lowercase();
        let existing = self.world().registries.get(&key).map(|r| r.login_server.clone());
        let global = match existing {
            Some(g) => g,
            None => self.spawn_endpoint(&key, None).await?,
        };
        let mut regional = Vec::new();
        for r in regions {
            regional.push(self.spawn_endpoint(&key, Some(r.clone())).await?);
        }
        Ok((global, regional))
    }

    async fn spawn_endpoint(self: &Arc<Self>, registry: &str, region: Option<String>) -> Result<String, ArmError> {
        self.spawn_endpoint_on(registry, region, None).await
    }

    /// Binds an endpoint, on `port` when it is given and free, else on any free port.
    pub async fn spawn_endpoint_on(self: &Arc<Self>, registry: &str, region: Option<String>, port: Option<u16>) -> Result<String, ArmError> {
        let preferred = match port {
            Some(p) if p != 0 => TcpListener::bind(("127.0.0.1", p)).await.ok(),
            _ => None,
        };
        let listener = match preferred {
            Some(l) => l,
            None => TcpListener::bind(("127.0.0.1", 0))
                .await
                .map_err(|e| ArmError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", format!("cannot bind endpoint: {e}")))?,
        };
        let addr = listener.local_addr().map_err(|e| ArmError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", e.to_string()))?;
        let app = oci::router(oci::Endpoint { shared: self.clone(), registry: registry.to_string(), region });
        let mut rx = self.shutdown.clone();
        let h = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|v| *v).await;
                })
                .await;
        });
        if let Ok(mut t) = self.tasks.lock() {
            t.push(h);
        }
        Ok(addr.to_string())
    }
}

/// What a client needs to talk to the emulator; printed as the first stdout
/// line by `regatlas emulator`.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct EmulatorInfo {
    pub arm_base_url: String,
    /// App Service managed-identity endpoint (`IDENTITY_ENDPOINT`).
    pub token_endpoint: String,
    /// Header name and value (`IDENTITY_HEADER`) the token endpoint requires.
    pub token_header: String,
    pub token_header_value: String,
    /// Entra ID's authority host, emulated: `https://127.0.0.1:PORT`, serving
    /// `POST /{tenant}/oauth2/v2.0/token` (client credentials).
    pub login_url: String,
    /// The emulator's CA certificate (PEM): the only one to trust for its
    /// login endpoint, and for its ARM endpoint with `--tls`.
    pub login_certificate_pem: String,
    /// With `--tls`: the file holding that CA certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_pem_path: Option<String>,
    /// The console's client id in the emulated tenant; its client secret is `token_header_value`.
    pub client_id: String,
    /// The OpenID Connect issuer (`{login_url}/{tenant}/v2.0`): sign-in for
    /// the console (client `client_id`, secret `token_header_value`).
    pub oidc_issuer: String,
    pub subscription_id: String,
    pub tenant_id: String,
    pub admin_url: String,
    pub registries: BTreeMap<String, RegistryEndpoints>,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct RegistryEndpoints {
    pub login_server: String,
    /// Region → regional endpoint (`host:port`).
    pub regional_endpoints: BTreeMap<String, String>,
}

/// A running emulator.
pub struct RunningEmulator {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    main: JoinHandle<()>,
}

impl RunningEmulator {
    /// Current endpoints (registries and replicas created later included).
    pub fn info(&self) -> EmulatorInfo {
        let world = self.shared.world();
        EmulatorInfo {
            arm_base_url: self.shared.base_url.clone(),
            token_endpoint: format!("{}/msi/token", self.shared.base_url),
            token_header: "X-IDENTITY-HEADER".into(),
            token_header_value: self.shared.auth.identity_secret.clone(),
            login_url: self.shared.login.get().map(|l| l.url.clone()).unwrap_or_default(),
            login_certificate_pem: self.shared.login.get().map(|l| l.certificate_pem.clone()).unwrap_or_default(),
            client_id: login::CONSOLE_CLIENT_ID.to_string(),
            ca_pem_path: self.shared.ca_pem_path.get().cloned().flatten(),
            oidc_issuer: format!("{}/{}/v2.0", self.shared.login.get().map(|l| l.url.as_str()).unwrap_or_default(), world.tenant_id),
            subscription_id: self.shared.subscription_id.clone(),
            tenant_id: world.tenant_id.clone(),
            admin_url: format!("{}/emulator-admin", self.shared.base_url),
            registries: world
                .registries
                .values()
                .map(|r| {
                    (
                        r.name.clone(),
                        RegistryEndpoints {
                            login_server: r.login_server.clone(),
                            regional_endpoints: r.replications.values().map(|p| (p.location.clone(), p.endpoint.clone())).collect(),
                        },
                    )
                })
                .collect(),
        }
    }

    /// Shared state, for in-process tests and the admin API.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops every listener.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.main.await;
        let tasks: Vec<JoinHandle<()>> = self.shared.tasks.lock().map(|mut t| t.drain(..).collect()).unwrap_or_default();
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// Saves the world every two seconds (when it changed) and once at shutdown.
fn spawn_saver(shared: Arc<Shared>, dir: std::path::PathBuf, mut last: Option<Vec<u8>>, mut rx: watch::Receiver<bool>) {
    let s2 = shared.clone();
    let h = tokio::spawn(async move {
        loop {
            let stop = tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => false,
                _ = rx.wait_for(|v| *v) => true,
            };
            let (s, d, mut l) = (s2.clone(), dir.clone(), last.take());
            match tokio::task::spawn_blocking(move || persist::save(&s, &d, &mut l).map(|()| l)).await {
                Ok(Err(e)) => tracing::error!(error = %e, "cannot save emulator state"),
                Err(e) => tracing::error!(error = %e, "emulator state saver panicked"),
                Ok(Ok(l)) => last = l,
            }
            if stop {
                break;
            }
        }
    });
    if let Ok(mut t) = shared.tasks.lock() {
        t.push(h);
    }
}

/// Writes the CA certificate for clients to trust: into the state
/// directory when there is one, else the temporary directory.
fn write_ca(pem: &str, state_dir: Option<&std::path::Path>, port: u16) -> Result<String, EmulatorError> {
    let path = match state_dir {
        Some(d) => d.join("emulator-ca.pem"),
        None => std::env::temp_dir().join(format!("regatlas-emulator-{port}-ca.pem")),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| EmulatorError::Tls(format!("cannot write the CA certificate to {}: {e}", path.display())))?;
    }
    std::fs::write(&path, pem).map_err(|e| EmulatorError::Tls(format!("cannot write the CA certificate to {}: {e}", path.display())))?;
    Ok(path.display().to_string())
}

/// Starts the emulator in-process.
pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
    let listener = TcpListener::bind(config.listen).await.map_err(|source| EmulatorError::Bind { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| EmulatorError::Bind { addr: config.listen, source })?;
    let (stop, rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        world: Mutex::new(World::new(config.subscription_id.clone(), Clock::new(config.time_scale), config.timings.clone())),
        auth: match &config.identity_secret {
            Some(s) => Auth::with_secret(s.clone()),
            None => Auth::new(),
        },
        throttle: Throttle::new(config.throttle.clone()),
        subscription_id: config.subscription_id.clone(),
        clock: Clock::new(config.time_scale),
        base_url: format!("{}://{addr}", if config.tls { "https" } else { "http" }),
        list_page_size: config.list_page_size.max(1),
        http: reqwest::Client::builder().no_proxy().build()?,
        login: std::sync::OnceLock::new(),
        entra: entra::Entra::default(),
        ca_pem_path: std::sync::OnceLock::new(),
        shutdown: rx.clone(),
        tasks: Mutex::new(Vec::new()),
    });
    shared.world().faults = config.faults.clone();
    let tls = login::Tls::new(addr.ip())?;
    let ca_pem_path = if config.tls { Some(write_ca(&tls.ca_pem, config.state_dir.as_deref(), addr.port())?) } else { None };
    let _ = shared.ca_pem_path.set(ca_pem_path);
    let (endpoint, login_task) = login::serve(shared.clone(), addr.ip(), &tls, rx.clone()).await?;
    let _ = shared.login.set(endpoint);
    if let Ok(mut t) = shared.tasks.lock() {
        t.push(login_task);
    }
    match &config.state_dir {
        Some(dir) if persist::has_snapshot(dir) => persist::restore(&shared, dir).await?,
        _ if config.bench_world.is_some() => {
            let (n, r) = config.bench_world.unwrap_or((0, 0));
            world::demo::build_bench(&shared, n, r).await
        }
        _ if config.demo => world::demo::build(&shared).await,
        _ => {}
    }
    if let Some((registry, count)) = &config.seed_artifacts {
        world::demo::seed(&shared, registry, *count);
    }
    if let Some(dir) = config.state_dir.clone() {
        let mut last = None;
        persist::save(&shared, &dir, &mut last)?;
        spawn_saver(shared.clone(), dir, last, rx.clone());
    }
    let app = entra::browser_router(shared.clone()).merge(arm::router(shared.clone())).merge(admin::router(shared.clone()));
    let mut rx2 = rx;
    let main = if config.tls {
        login::serve_tls(listener, tls.acceptor.clone(), app, rx2)
    } else {
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx2.wait_for(|v| *v).await;
                })
                .await;
        })
    };
    tracing::info!(arm = %shared.base_url, "ACR emulator started");
    Ok(RunningEmulator { shared, stop, main })
}
