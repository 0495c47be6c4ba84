//! What can be configured: the flags of `regatlas serve` (each with its
//! `REGATLAS_*` environment variable) and the TOML file's schema. Every
//! setting is documented once, on its clap argument, so `--help` is the
//! reference.

use std::{net::SocketAddr, path::PathBuf};

use clap::Args;
use serde::Deserialize;

use super::{ConfigError, DataSource, LogFormat};

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

    /// Database: a SQLite file (`sqlite://` URL or a path; created if missing,
    /// WAL mode) or PostgreSQL (`postgres://user:password@host/db`, which must
    /// exist; several instances may share it). Migrations are applied at
    /// start-up [default: sqlite://./regatlas.db].
    #[arg(long, env = "REGATLAS_DATABASE_URL", hide_env_values = true, value_name = "URL")]
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
    pub emulator_secret: Option<crate::outbound::Secret>,

    /// With an `https://` `--emulator-url` (`regatlas emulator --tls`): the
    /// emulator's CA certificate file (`ca_pem_path` in its info line), the
    /// only CA trusted for it besides the system's.
    #[arg(long, env = "REGATLAS_EMULATOR_CA_FILE", value_name = "PATH")]
    pub emulator_ca_file: Option<PathBuf>,

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

    /// The origin registries deliver webhook events to (presence tracking),
    /// e.g. `https://hooks.regatlas.example.com`: its receivers are
    /// `/hooks/acr/{registry}/{region}`. https unless it is a loopback
    /// address [default: the public URL].
    #[arg(long, env = "REGATLAS_HOOKS_URL", value_name = "URL")]
    pub hooks_url: Option<String>,

    /// Also serve `/metrics` without a token on this address (keep it on an
    /// internal network); on the main address it takes a bearer token.
    #[arg(long, env = "REGATLAS_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// Presence probes: the most HEAD requests per hour Regatlas sends to
    /// each replica's regional endpoint (ACR throttles per replica); 0 turns
    /// probing off [default: 3600].
    #[arg(long, env = "REGATLAS_PROBE_READS_PER_HOUR", value_name = "N")]
    pub probe_reads_per_hour: Option<u32>,

    /// The doctor calls a replica stuck when it has been Creating or
    /// Updating this many seconds; a stuck replica's running operation no
    /// longer blocks deleting it [default: 1800].
    #[arg(long, env = "REGATLAS_STUCK_AFTER_SECS", value_name = "SECS")]
    pub stuck_after_secs: Option<u64>,

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

    /// Data-plane reads per second the migration engine sends to one
    /// registry endpoint (each replica's is its own), with a burst of twice
    /// as many; a 429 lowers the pace and its Retry-After is waited out
    /// [default: 150, under ACR Premium's 10,000 reads per minute].
    #[arg(long, env = "REGATLAS_REGISTRY_READS_PER_SEC", value_name = "N")]
    pub registry_reads_per_sec: Option<f64>,

    /// Seconds a client may take, from connecting, to send a request's headers [default: 10].
    #[arg(long, env = "REGATLAS_HEADER_READ_TIMEOUT_SECS", value_name = "SECS")]
    pub header_read_timeout_secs: Option<u64>,

    /// Most client connections open at once; more wait to be accepted [default: 1024].
    #[arg(long, env = "REGATLAS_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// The OpenID Connect issuer people sign in with, e.g.
    /// `https://login.microsoftonline.com/{tenant}/v2.0` [default: the
    /// emulator's, with the emulator as data source; none with Azure, which
    /// then serves only loopback, to its local user]. The client secret is
    /// read from `REGATLAS_OIDC_CLIENT_SECRET`, or a federated credential
    /// from `AZURE_FEDERATED_TOKEN_FILE`.
    #[arg(long, env = "REGATLAS_OIDC_ISSUER", value_name = "URL")]
    pub oidc_issuer: Option<String>,

    /// The console's application (client) id at the issuer.
    #[arg(long, env = "REGATLAS_OIDC_CLIENT_ID", value_name = "ID")]
    pub oidc_client_id: Option<String>,

    /// Audiences accepted on API access tokens, comma-separated
    /// [default: `api://{client id}` and the client id].
    #[arg(long, env = "REGATLAS_OIDC_API_AUDIENCES", value_name = "LIST", value_delimiter = ',')]
    pub oidc_api_audiences: Option<Vec<String>>,

    /// Roles by group: `GROUP_OBJECT_ID=viewer|operator|admin`, comma-separated
    /// (for tenants that assign groups rather than app roles; the ID token
    /// must carry the `groups` claim).
    #[arg(long, env = "REGATLAS_OIDC_GROUP_ROLES", value_name = "LIST", value_delimiter = ',')]
    pub oidc_group_roles: Option<Vec<String>>,

    /// Instead of a client secret: a federated credential, the workload
    /// identity token in this file (AKS projects it and names it in
    /// `AZURE_FEDERATED_TOKEN_FILE`), sent as a client assertion.
    #[arg(long, env = "AZURE_FEDERATED_TOKEN_FILE", value_name = "PATH")]
    pub oidc_federated_token_file: Option<PathBuf>,

    /// A PEM file of a CA to trust for the identity provider besides the system's.
    #[arg(long, env = "REGATLAS_OIDC_CA_FILE", value_name = "PATH")]
    pub oidc_ca_file: Option<PathBuf>,

    /// Most missed events replayed to a live-event client that resumes; one
    /// further behind gets a `resync` message instead [default: 1000].
    #[arg(long, env = "REGATLAS_SSE_REPLAY_MAX", value_name = "N")]
    pub sse_replay_max: Option<i64>,
}

/// `[outbound]` in the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OutboundFile {
    /// Host names, `*.suffix` patterns and CIDRs.
    #[serde(default)]
    pub(super) allow: Vec<String>,
    /// Public addresses not on the list [default: true].
    pub(super) allow_public: Option<bool>,
    /// Loopback addresses [default: true with the emulator, false with Azure].
    pub(super) allow_loopback: Option<bool>,
}

/// `[credential_sets.NAME]` in the TOML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CredentialSetFile {
    /// Registry hosts (`host` or `host:port`) the set may be sent to.
    pub(super) hosts: Vec<String>,
    pub(super) username: String,
    /// The environment variable holding the password (named here, by the
    /// administrator; never by a request).
    pub(super) password_env: String,
}

/// The TOML file: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) listen: Option<String>,
    pub(super) database: Option<String>,
    pub(super) source: Option<DataSource>,
    pub(super) arm_endpoint: Option<String>,
    pub(super) site_root: Option<PathBuf>,
    pub(super) log_format: Option<LogFormat>,
    pub(super) request_timeout_secs: Option<u64>,
    pub(super) body_limit_bytes: Option<usize>,
    pub(super) emulator_time_scale: Option<f64>,
    pub(super) credential: Option<regatlas_arm::CredentialConfig>,
    pub(super) emulator_url: Option<String>,
    pub(super) authority_host: Option<String>,
    pub(super) subscriptions: Option<Vec<String>>,
    pub(super) poll_fast_secs: Option<u64>,
    pub(super) poll_slow_secs: Option<u64>,
    pub(super) discovery_secs: Option<u64>,
    pub(super) children_secs: Option<u64>,
    pub(super) poll_concurrency: Option<usize>,
    pub(super) history_retention_days: Option<u64>,
    pub(super) public_url: Option<String>,
    pub(super) hooks_url: Option<String>,
    pub(super) metrics_listen: Option<std::net::SocketAddr>,
    pub(super) probe_reads_per_hour: Option<u32>,
    pub(super) stuck_after_secs: Option<u64>,
    pub(super) sse_max_connections: Option<usize>,
    pub(super) max_plan_artifacts: Option<usize>,
    pub(super) registry_reads_per_sec: Option<f64>,
    pub(super) header_read_timeout_secs: Option<u64>,
    pub(super) max_connections: Option<usize>,
    pub(super) sse_replay_max: Option<i64>,
    pub(super) oidc_issuer: Option<String>,
    pub(super) oidc_client_id: Option<String>,
    pub(super) oidc_api_audiences: Option<Vec<String>>,
    pub(super) oidc_group_roles: Option<Vec<String>>,
    pub(super) oidc_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) outbound: OutboundFile,
    #[serde(default)]
    pub(super) credential_sets: std::collections::BTreeMap<String, CredentialSetFile>,
}

/// The TOML file, if one is named (every key optional).
pub(super) fn read_file(path: Option<&PathBuf>) -> Result<FileConfig, ConfigError> {
    let Some(path) = path else { return Ok(FileConfig::default()) };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile { path: path.clone(), source })?;
    toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::ParseFile {
        path: path.clone(),
        // toml's messages span lines; keep the report on one line.
        message: e.message().replace('\n', " ").trim().to_string() + &e.span().map(|s| format!(" (at byte {})", s.start)).unwrap_or_default(),
    })
}
