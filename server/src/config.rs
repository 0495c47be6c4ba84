//! Configuration: command-line flags, `REGATLAS_*` environment variables and
//! an optional TOML file, in that order of precedence, then built-in defaults.
//!
//! Every setting is documented once, on its clap argument, so `--help` is the
//! reference; the README repeats the table.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};
use serde::Deserialize;

/// Errors that stop the server before it serves anything.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    ReadFile { path: PathBuf, source: std::io::Error },
    #[error("invalid configuration file {path}: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("invalid setting {name}: {message}")]
    Invalid { name: &'static str, message: String },
}

/// Where the dashboard reads registries from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    /// The built-in ACR emulator with the demo world, on loopback (no Azure account).
    Emulator,
    /// Azure Resource Manager, with credentials from the `azure` settings.
    Azure,
}

impl DataSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DataSource::Emulator => "emulator",
            DataSource::Azure => "azure",
        }
    }
}

/// Where ARM is and how this process signs in to it, resolved: only the
/// combinations that work can be written.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// The built-in emulator with the demo world, started in this process.
    EmbeddedEmulator { time_scale: f64 },
    /// An emulator already running (`regatlas emulator`), at its ARM base
    /// URL, with the secret it was started with.
    ExternalEmulator { url: String, secret: SecretString },
    /// Azure Resource Manager, with an `azure_identity` credential.
    Azure { endpoint: String, credential: regatlas_arm::CredentialConfig, authority_host: Option<String> },
}

impl Source {
    pub fn kind(&self) -> DataSource {
        match self {
            Source::EmbeddedEmulator { .. } | Source::ExternalEmulator { .. } => DataSource::Emulator,
            Source::Azure { .. } => DataSource::Azure,
        }
    }
}

/// A secret from a flag or the environment; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(pub String);

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Flags of `regatlas serve` (also the default command).
#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// TOML configuration file. Keys are the long flag names with `_` for `-`
    /// (e.g. `listen = "0.0.0.0:3000"`). Flags and environment variables win over it.
    #[arg(long, env = "REGATLAS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address the dashboard listens on [default: 127.0.0.1:3000].
    #[arg(long, env = "REGATLAS_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// SQLite database: a `sqlite://` URL or a file path. Created if missing;
    /// opened in WAL mode; migrations are applied at start-up [default: sqlite://./regatlas.db].
    #[arg(long, env = "REGATLAS_DATABASE_URL", value_name = "URL")]
    pub database: Option<String>,

    /// Where registries come from: `emulator` (built-in ACR emulator with demo data)
    /// or `azure` (Azure Resource Manager) [default: emulator].
    #[arg(long, env = "REGATLAS_SOURCE", value_name = "SOURCE")]
    pub source: Option<DataSource>,

    /// ARM endpoint used with `--source azure` (sovereign clouds use their own)
    /// [default: https://management.azure.com].
    #[arg(long, env = "REGATLAS_ARM_ENDPOINT", value_name = "URL")]
    pub arm_endpoint: Option<String>,

    /// Directory holding the built front end (`pkg/regatlas.js`, `.wasm`, `.css`) and
    /// public files [default: target/site].
    #[arg(long, env = "REGATLAS_SITE_ROOT", value_name = "DIR")]
    pub site_root: Option<PathBuf>,

    /// Log format: `human` or `json` [default: human]. `RUST_LOG` sets the level filter.
    #[arg(long, env = "REGATLAS_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Shorthand for `--log-format json`.
    #[arg(long, env = "REGATLAS_LOG_JSON")]
    pub log_json: bool,

    /// Time limit for one HTTP request, in seconds (SSE streams excepted) [default: 30].
    #[arg(long, env = "REGATLAS_REQUEST_TIMEOUT_SECS", value_name = "SECS")]
    pub request_timeout_secs: Option<u64>,

    /// Largest accepted request body, in bytes [default: 1048576].
    #[arg(long, env = "REGATLAS_BODY_LIMIT_BYTES", value_name = "BYTES")]
    pub body_limit_bytes: Option<usize>,

    /// Emulator time scale with `--source emulator`: 1.0 is real time, 10.0 runs
    /// provisioning and syncing ten times faster [default: 1.0].
    #[arg(long, env = "REGATLAS_EMULATOR_TIME_SCALE", value_name = "FACTOR")]
    pub emulator_time_scale: Option<f64>,

    /// With `--source emulator`: use an already running emulator at this ARM
    /// base URL (`regatlas emulator`) instead of starting the built-in one.
    #[arg(long, env = "REGATLAS_EMULATOR_URL", value_name = "URL")]
    pub emulator_url: Option<String>,

    /// With `--emulator-url`: the secret that emulator was started with
    /// (its `--identity-secret`), the console's client secret there.
    /// Never read from the configuration file.
    #[arg(long, env = "REGATLAS_EMULATOR_IDENTITY_SECRET", value_name = "SECRET", hide_env_values = true)]
    pub emulator_secret: Option<String>,

    /// Credential with `--source azure` when it needs no parameters:
    /// `managed-identity`, `workload-identity` (from AZURE_* variables) or
    /// `azure-cli`. Client secret and certificate are set in the file's
    /// `[credential]` table (`kind = "client-secret"`, `tenant_id`, `client_id`, …).
    #[arg(long, env = "REGATLAS_CREDENTIAL", value_name = "KIND")]
    pub credential: Option<String>,

    /// Entra ID authority host for sovereign clouds [default: the public cloud's].
    #[arg(long, env = "REGATLAS_AUTHORITY_HOST", value_name = "URL")]
    pub authority_host: Option<String>,

    /// Subscriptions to watch, comma-separated [default: all the credential can see].
    #[arg(long, env = "REGATLAS_SUBSCRIPTIONS", value_name = "IDS", value_delimiter = ',')]
    pub subscriptions: Option<Vec<String>>,

    /// Seconds between replica polls while something is changing [default: 5].
    #[arg(long, env = "REGATLAS_POLL_FAST_SECS", value_name = "SECS")]
    pub poll_fast_secs: Option<u64>,

    /// Seconds between replica polls when everything is stable [default: 60].
    #[arg(long, env = "REGATLAS_POLL_SLOW_SECS", value_name = "SECS")]
    pub poll_slow_secs: Option<u64>,

    /// Seconds between registry discoveries per subscription [default: 300].
    #[arg(long, env = "REGATLAS_DISCOVERY_SECS", value_name = "SECS")]
    pub discovery_secs: Option<u64>,

    /// Seconds between polls of webhooks, connected registries and pipeline runs [default: 120].
    #[arg(long, env = "REGATLAS_CHILDREN_SECS", value_name = "SECS")]
    pub children_secs: Option<u64>,

    /// Registries polled at once [default: 16].
    #[arg(long, env = "REGATLAS_POLL_CONCURRENCY", value_name = "N")]
    pub poll_concurrency: Option<usize>,

    /// Days of history kept [default: 90].
    #[arg(long, env = "REGATLAS_HISTORY_RETENTION_DAYS", value_name = "DAYS")]
    pub history_retention_days: Option<u64>,

    /// The URL people and scripts reach the console at, e.g.
    /// `https://regatlas.example.com`. State-changing requests must come from
    /// this origin, and only its host (or a loopback address) is served.
    /// Required when listening on a non-loopback address [default: http://LISTEN].
    #[arg(long, env = "REGATLAS_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Hosts (`name`, `*.suffix`) and networks (CIDR) that request-driven
    /// fetches (migration sources, token realms) may reach even when they are
    /// private or loopback, comma-separated. Link-local, unspecified and
    /// multicast addresses are refused whatever this says.
    #[arg(long, env = "REGATLAS_OUTBOUND_ALLOW", value_name = "LIST", value_delimiter = ',')]
    pub outbound_allow: Option<Vec<String>>,

    /// Most Server-Sent Events streams open at once; beyond it, 503 with
    /// Retry-After [default: 256].
    #[arg(long, env = "REGATLAS_SSE_MAX_CONNECTIONS", value_name = "N")]
    pub sse_max_connections: Option<usize>,

    /// Most artifacts one migration may plan [default: 200000].
    #[arg(long, env = "REGATLAS_MAX_PLAN_ARTIFACTS", value_name = "N")]
    pub max_plan_artifacts: Option<usize>,

    /// Seconds a client may take, from connecting, to send a request's headers [default: 10].
    #[arg(long, env = "REGATLAS_HEADER_READ_TIMEOUT_SECS", value_name = "SECS")]
    pub header_read_timeout_secs: Option<u64>,

    /// Most client connections open at once; more wait to be accepted [default: 1024].
    #[arg(long, env = "REGATLAS_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Most missed events replayed to a live-event client that resumes; one
    /// further behind gets a `resync` message instead [default: 1000].
    #[arg(long, env = "REGATLAS_SSE_REPLAY_MAX", value_name = "N")]
    pub sse_replay_max: Option<i64>,
}

/// `[outbound]` in the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboundFile {
    /// Host names, `*.suffix` patterns and CIDRs.
    #[serde(default)]
    allow: Vec<String>,
    /// Public addresses not on the list [default: true].
    allow_public: Option<bool>,
    /// Loopback addresses [default: true with the emulator, false with Azure].
    allow_loopback: Option<bool>,
}

/// `[credential_sets.NAME]` in the TOML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialSetFile {
    /// Registry hosts (`host` or `host:port`) the set may be sent to.
    hosts: Vec<String>,
    username: String,
    /// The environment variable holding the password (named here, by the
    /// administrator; never by a request).
    password_env: String,
}

/// The TOML file: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database: Option<String>,
    source: Option<DataSource>,
    arm_endpoint: Option<String>,
    site_root: Option<PathBuf>,
    log_format: Option<LogFormat>,
    request_timeout_secs: Option<u64>,
    body_limit_bytes: Option<usize>,
    emulator_time_scale: Option<f64>,
    credential: Option<regatlas_arm::CredentialConfig>,
    emulator_url: Option<String>,
    authority_host: Option<String>,
    subscriptions: Option<Vec<String>>,
    poll_fast_secs: Option<u64>,
    poll_slow_secs: Option<u64>,
    discovery_secs: Option<u64>,
    children_secs: Option<u64>,
    poll_concurrency: Option<usize>,
    history_retention_days: Option<u64>,
    public_url: Option<String>,
    sse_max_connections: Option<usize>,
    max_plan_artifacts: Option<usize>,
    header_read_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    sse_replay_max: Option<i64>,
    #[serde(default)]
    outbound: OutboundFile,
    #[serde(default)]
    credential_sets: std::collections::BTreeMap<String, CredentialSetFile>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub source: Source,
    pub site_root: PathBuf,
    pub log_format: LogFormat,
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    pub poller: crate::poller::PollerConfig,
    /// Where the console is reached; state-changing requests must come from it.
    pub public_url: PublicUrl,
    /// What request-driven fetches may reach.
    pub outbound: std::sync::Arc<crate::outbound::OutboundPolicy>,
    /// Registry credentials a migration may name.
    pub credential_sets: crate::outbound::CredentialSets,
    pub sse_max_connections: usize,
    pub max_plan_artifacts: usize,
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub sse_replay_max: i64,
}

/// The console's public origin, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `scheme://host[:port]`, as a browser sends it in `Origin`.
    pub origin: String,
    /// `host[:port]` as it appears in `Host`, lower case.
    pub host: String,
    pub https: bool,
}

impl PublicUrl {
    pub fn parse(s: &str) -> Result<PublicUrl, String> {
        let url = reqwest::Url::parse(s.trim()).map_err(|e| format!("{s:?} is not a URL ({e})"))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(format!("{s:?} is not an http(s) URL"));
        }
        if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{s:?} must be a bare origin like https://regatlas.example.com"));
        }
        let host = url.host_str().ok_or_else(|| format!("{s:?} has no host"))?.to_ascii_lowercase();
        let host = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        Ok(PublicUrl { origin: format!("{}://{host}", url.scheme()), host, https: url.scheme() == "https" })
    }
}

impl Config {
    /// Resolves flags/env over the TOML file over defaults.
    pub fn resolve(args: &ServeArgs) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile { path: path.clone(), source })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::ParseFile {
                    path: path.clone(),
                    // toml's messages span lines; keep the report on one line.
                    message: e.message().replace('\n', " ").trim().to_string() + &e.span().map(|s| format!(" (at byte {})", s.start)).unwrap_or_default(),
                })?
            }
            None => FileConfig::default(),
        };

        let listen = match (args.listen, file.listen) {
            (Some(a), _) => a,
            (None, Some(s)) => {
                s.parse().map_err(|e| ConfigError::Invalid { name: "listen", message: format!("{s:?} is not an address like 127.0.0.1:3000 ({e})") })?
            }
            (None, None) => SocketAddr::from(([127, 0, 0, 1], 3000)),
        };
        let database_url = normalise_database_url(args.database.clone().or(file.database).unwrap_or_else(|| "sqlite://./regatlas.db".to_string()));
        let log_format = if args.log_json { LogFormat::Json } else { args.log_format.or(file.log_format).unwrap_or(LogFormat::Human) };
        let request_timeout_secs = args.request_timeout_secs.or(file.request_timeout_secs).unwrap_or(30);
        if request_timeout_secs == 0 {
            return Err(ConfigError::Invalid { name: "request_timeout_secs", message: "must be at least 1".into() });
        }
        let emulator_time_scale = args.emulator_time_scale.or(file.emulator_time_scale).unwrap_or(1.0);
        if !(emulator_time_scale.is_finite() && emulator_time_scale > 0.0) {
            return Err(ConfigError::Invalid { name: "emulator_time_scale", message: format!("{emulator_time_scale} must be a positive number") });
        }
        let source = args.source.or(file.source).unwrap_or(DataSource::Emulator);
        let credential = match (&args.credential, file.credential) {
            (Some(k), _) => Some(match k.as_str() {
                "managed-identity" => regatlas_arm::CredentialConfig::ManagedIdentity { client_id: std::env::var("AZURE_CLIENT_ID").ok() },
                "workload-identity" => regatlas_arm::CredentialConfig::WorkloadIdentity { tenant_id: None, client_id: None, token_file: None },
                "azure-cli" => regatlas_arm::CredentialConfig::AzureCli { tenant_id: None },
                other => {
                    return Err(ConfigError::Invalid {
                        name: "credential",
                        message: format!("'{other}' is not managed-identity, workload-identity or azure-cli (client-secret and client-certificate go in the file's [credential] table)"),
                    })
                }
            }),
            (None, c) => c,
        };
        let source = match (source, credential, args.emulator_url.clone().or(file.emulator_url)) {
            (DataSource::Emulator, _, Some(url)) => match args.emulator_secret.clone().filter(|s| !s.is_empty()) {
                Some(secret) => Source::ExternalEmulator { url: url.trim_end_matches('/').to_string(), secret: SecretString(secret) },
                None => {
                    return Err(ConfigError::Invalid {
                        name: "emulator_secret",
                        message: "--emulator-url needs --emulator-secret (or REGATLAS_EMULATOR_IDENTITY_SECRET): the secret that emulator was started with"
                            .into(),
                    })
                }
            },
            (DataSource::Emulator, _, None) => Source::EmbeddedEmulator { time_scale: emulator_time_scale },
            (DataSource::Azure, Some(credential), _) => Source::Azure {
                endpoint: args.arm_endpoint.clone().or(file.arm_endpoint).unwrap_or_else(|| "https://management.azure.com".to_string()),
                credential,
                authority_host: args.authority_host.clone().or(file.authority_host),
            },
            (DataSource::Azure, None, _) => {
                return Err(ConfigError::Invalid {
                    name: "credential",
                    message:
                        "--source azure needs a credential: --credential managed-identity|workload-identity|azure-cli, or a [credential] table in the file"
                            .into(),
                })
            }
        };
        let secs = |flag: Option<u64>, file: Option<u64>, default: u64, name: &'static str| -> Result<Duration, ConfigError> {
            let v = flag.or(file).unwrap_or(default);
            if v == 0 {
                return Err(ConfigError::Invalid { name, message: "must be at least 1".into() });
            }
            Ok(Duration::from_secs(v))
        };
        let poller = crate::poller::PollerConfig {
            subscriptions: args
                .subscriptions
                .clone()
                .or(file.subscriptions)
                .unwrap_or_default()
                .into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            fast_interval: secs(args.poll_fast_secs, file.poll_fast_secs, 5, "poll_fast_secs")?,
            slow_interval: secs(args.poll_slow_secs, file.poll_slow_secs, 60, "poll_slow_secs")?,
            discovery_interval: secs(args.discovery_secs, file.discovery_secs, 300, "discovery_secs")?,
            children_interval: secs(args.children_secs, file.children_secs, 120, "children_secs")?,
            concurrency: args.poll_concurrency.or(file.poll_concurrency).unwrap_or(16).max(1),
            retention: secs(
                args.history_retention_days.map(|d| d * 86400),
                file.history_retention_days.map(|d| d * 86400),
                90 * 86400,
                "history_retention_days",
            )?,
        };
        let public_url = match args.public_url.clone().or(file.public_url) {
            Some(u) => PublicUrl::parse(&u).map_err(|message| ConfigError::Invalid { name: "public_url", message })?,
            None if !listen.ip().is_loopback() => {
                return Err(ConfigError::Invalid {
                    name: "public_url",
                    message: format!("listening on {listen}, which is not a loopback address, needs --public-url (the URL people reach the console at)"),
                })
            }
            None => PublicUrl::parse(&format!("http://{listen}")).map_err(|message| ConfigError::Invalid { name: "public_url", message })?,
        };
        let outbound = {
            let allow = args.outbound_allow.clone().unwrap_or(file.outbound.allow);
            let loopback = file.outbound.allow_loopback.unwrap_or(source.kind() == DataSource::Emulator);
            crate::outbound::OutboundPolicy::new(&allow, loopback, file.outbound.allow_public.unwrap_or(true))
                .map_err(|message| ConfigError::Invalid { name: "outbound.allow", message })?
        };
        let credential_sets = credential_sets(file.credential_sets)?;
        let sse_max_connections = args.sse_max_connections.or(file.sse_max_connections).unwrap_or(256);
        let max_plan_artifacts = args.max_plan_artifacts.or(file.max_plan_artifacts).unwrap_or(200_000);
        if sse_max_connections == 0 || max_plan_artifacts == 0 {
            return Err(ConfigError::Invalid { name: "sse_max_connections / max_plan_artifacts", message: "must be at least 1".into() });
        }
        let header_read_timeout = secs(args.header_read_timeout_secs, file.header_read_timeout_secs, 10, "header_read_timeout_secs")?;
        let max_connections = args.max_connections.or(file.max_connections).unwrap_or(1024);
        let sse_replay_max = args.sse_replay_max.or(file.sse_replay_max).unwrap_or(1000);
        if max_connections == 0 || sse_replay_max < 0 {
            return Err(ConfigError::Invalid {
                name: "max_connections / sse_replay_max",
                message: "max_connections must be at least 1, sse_replay_max at least 0".into(),
            });
        }
        Ok(Config {
            max_connections,
            sse_replay_max,
            public_url,
            outbound: std::sync::Arc::new(outbound),
            credential_sets,
            sse_max_connections,
            max_plan_artifacts,
            header_read_timeout,
            poller,
            listen,
            database_url,
            source,
            site_root: args.site_root.clone().or(file.site_root).unwrap_or_else(|| PathBuf::from("target/site")),
            log_format,
            request_timeout: Duration::from_secs(request_timeout_secs),
            body_limit_bytes: args.body_limit_bytes.or(file.body_limit_bytes).unwrap_or(1024 * 1024),
        })
    }
}

/// Credential sets from the file, then from `REGATLAS_CREDSET_<NAME>_HOSTS`,
/// `_USERNAME` and `_PASSWORD` (NAME upper case, `_` for `-`).
fn credential_sets(file: std::collections::BTreeMap<String, CredentialSetFile>) -> Result<crate::outbound::CredentialSets, ConfigError> {
    use crate::outbound::{CredentialSet, Secret};
    let invalid = |message: String| ConfigError::Invalid { name: "credential_sets", message };
    let valid_name = |n: &str| !n.is_empty() && n.len() <= 64 && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let check_hosts = |name: &str, hosts: &[String]| -> Result<Vec<String>, ConfigError> {
        if hosts.is_empty() {
            return Err(invalid(format!("set '{name}' is bound to no host")));
        }
        hosts
            .iter()
            .map(|h| {
                let h = h.trim().to_ascii_lowercase();
                let probe = format!("https://{h}/");
                match reqwest::Url::parse(&probe) {
                    Ok(u) if u.host_str().is_some() && u.path() == "/" && !h.contains('/') && !h.contains('@') => Ok(h),
                    _ => Err(invalid(format!("set '{name}': '{h}' is not a host or host:port"))),
                }
            })
            .collect()
    };
    let mut sets = Vec::new();
    for (name, f) in file {
        if !valid_name(&name) {
            return Err(invalid(format!("'{name}' is not a set name (lower-case letters, digits and '-')")));
        }
        let password = std::env::var(&f.password_env).map_err(|_| invalid(format!("set '{name}': the environment variable {} is not set", f.password_env)))?;
        sets.push(CredentialSet { hosts: check_hosts(&name, &f.hosts)?, name, username: f.username, password: Secret::new(password) });
    }
    let mut from_env: std::collections::BTreeMap<String, [Option<String>; 3]> = std::collections::BTreeMap::new();
    for (k, v) in std::env::vars() {
        let Some(rest) = k.strip_prefix("REGATLAS_CREDSET_") else { continue };
        for (i, suffix) in ["_HOSTS", "_USERNAME", "_PASSWORD"].iter().enumerate() {
            if let Some(n) = rest.strip_suffix(suffix) {
                from_env.entry(n.to_ascii_lowercase().replace('_', "-")).or_default()[i] = Some(v.clone());
            }
        }
    }
    for (name, [hosts, username, password]) in from_env {
        let (Some(hosts), Some(username), Some(password)) = (hosts, username, password) else {
            return Err(invalid(format!("set '{name}' from the environment needs _HOSTS, _USERNAME and _PASSWORD")));
        };
        if !valid_name(&name) || sets.iter().any(|s: &CredentialSet| s.name == name) {
            return Err(invalid(format!("set '{name}' from the environment is not a valid name or is defined twice")));
        }
        let hosts: Vec<String> = hosts.split(',').map(str::to_string).filter(|h| !h.trim().is_empty()).collect();
        sets.push(CredentialSet { hosts: check_hosts(&name, &hosts)?, name, username, password: Secret::new(password) });
    }
    Ok(crate::outbound::CredentialSets::new(sets))
}

/// Accepts a bare path as well as a `sqlite:` URL.
fn normalise_database_url(s: String) -> String {
    if s.starts_with("sqlite:") {
        s
    } else {
        format!("sqlite://{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_without_flags_or_file() {
        let c = Config::resolve(&ServeArgs::default()).expect("defaults are valid");
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.database_url, "sqlite://./regatlas.db");
        assert_eq!(c.source, Source::EmbeddedEmulator { time_scale: 1.0 });
        assert_eq!(c.log_format, LogFormat::Human);
    }

    #[test]
    fn flags_win_over_file_and_file_over_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:4000\"\ndatabase = \"/tmp/x.db\"\nlog_format = \"json\"\n").expect("write");
        let mut args = ServeArgs { config: Some(path), ..Default::default() };
        let c = Config::resolve(&args).expect("valid");
        assert_eq!(c.listen.to_string(), "127.0.0.1:4000");
        assert_eq!(c.database_url, "sqlite:///tmp/x.db");
        assert_eq!(c.log_format, LogFormat::Json);
        args.listen = Some("127.0.0.1:5000".parse().expect("addr"));
        let c = Config::resolve(&args).expect("valid");
        assert_eq!(c.listen.to_string(), "127.0.0.1:5000");
    }

    #[test]
    fn bad_toml_is_one_line_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "listen = [\n").expect("write");
        let err = Config::resolve(&ServeArgs { config: Some(path.clone()), ..Default::default() }).expect_err("must fail");
        let text = err.to_string();
        assert!(text.contains("bad.toml"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }

    #[test]
    fn unknown_key_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.toml");
        std::fs::write(&path, "lisen = \"127.0.0.1:1\"\n").expect("write");
        let err = Config::resolve(&ServeArgs { config: Some(path), ..Default::default() }).expect_err("must fail");
        assert!(err.to_string().contains("lisen"), "{err}");
    }
}
