//! Configuration: command-line flags, `REGATLAS_*` environment variables and
//! an optional TOML file, in that order of precedence, then built-in defaults.
//!
//! Every setting is documented once, on its clap argument, so `--help` is the
//! reference; the README repeats the table.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::ValueEnum;
use serde::Deserialize;

mod args;

pub use args::ServeArgs;
use args::{CredentialSetFile, FileConfig};

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
    /// URL, with the secret it was started with (needed to connect, not to
    /// read a local database: `regatlas migrate status` runs without it).
    ExternalEmulator { url: String, secret: Option<crate::outbound::Secret>, ca_pem: Option<String> },
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

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: crate::storage::DatabaseUrl,
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
    /// Each registry endpoint's data-plane read budget (the migration engine).
    pub registry_reads: crate::migration::oci::budget::ReadRate,
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub sse_replay_max: i64,
    /// How people sign in.
    pub identity: IdentitySetting,
    /// Where registries deliver webhook events.
    pub hooks_url: PublicUrl,
    /// A second listener for `/metrics` without a token.
    pub metrics_listen: Option<SocketAddr>,
    /// Presence probes' reads per hour per replica (0: none).
    pub probe_reads_per_hour: u32,
    /// Seconds in Creating or Updating after which a replica is stuck.
    pub stuck_after: std::time::Duration,
}

/// Who plays the identity provider.
#[derive(Clone, Debug)]
pub enum IdentitySetting {
    /// The data source's emulator (its emulated Entra ID).
    Emulator,
    /// A configured OpenID Connect provider.
    Oidc(crate::auth::oidc::OidcSettings),
    /// None: the console serves loopback only, to its local user.
    LocalOnly,
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
        let mut file = args::read_file(args.config.as_ref())?;

        let listen = match (args.listen, file.listen.take()) {
            (Some(a), _) => a,
            (None, Some(s)) => {
                s.parse().map_err(|e| ConfigError::Invalid { name: "listen", message: format!("{s:?} is not an address like 127.0.0.1:3000 ({e})") })?
            }
            (None, None) => SocketAddr::from(([127, 0, 0, 1], 3000)),
        };
        let database_url = crate::storage::DatabaseUrl::new(normalise_database_url(
            args.database.clone().or(file.database.take()).unwrap_or_else(|| "sqlite://./regatlas.db".to_string()),
        )?);
        let log_format = if args.log_json { LogFormat::Json } else { args.log_format.or(file.log_format).unwrap_or(LogFormat::Human) };
        let request_timeout_secs = args.request_timeout_secs.or(file.request_timeout_secs).unwrap_or(30);
        if request_timeout_secs == 0 {
            return Err(ConfigError::Invalid { name: "request_timeout_secs", message: "must be at least 1".into() });
        }
        let source = source(args, &mut file)?;
        let identity = identity(args, &mut file, &source)?;
        let poller = poller(args, &mut file)?;
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
        let hooks_url = match args.hooks_url.clone().or(file.hooks_url.take()) {
            Some(u) => {
                let h = PublicUrl::parse(&u).map_err(|message| ConfigError::Invalid { name: "hooks_url", message })?;
                let host = h.host.rsplit_once(':').map(|(h, _)| h).unwrap_or(&h.host).trim_matches(|c| c == '[' || c == ']');
                let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
                if !h.https && !loopback {
                    return Err(ConfigError::Invalid { name: "hooks_url", message: format!("{u:?} must be https: webhook secrets travel in a header") });
                }
                h
            }
            None => public_url.clone(),
        };
        let metrics_listen = args.metrics_listen.or(file.metrics_listen);
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
        let reads = args.registry_reads_per_sec.or(file.registry_reads_per_sec).unwrap_or(150.0);
        if !(reads.is_finite() && reads >= 1.0) {
            return Err(ConfigError::Invalid { name: "registry_reads_per_sec", message: format!("{reads} is not a rate of at least 1 read per second") });
        }
        let registry_reads = crate::migration::oci::budget::ReadRate { per_sec: reads, burst: reads * 2.0 };
        let header_read_timeout = secs(args.header_read_timeout_secs, file.header_read_timeout_secs, 10, "header_read_timeout_secs")?;
        let max_connections = args.max_connections.or(file.max_connections).unwrap_or(1024);
        let sse_replay_max = args.sse_replay_max.or(file.sse_replay_max).unwrap_or(1000);
        if max_connections == 0 || sse_replay_max < 0 {
            return Err(ConfigError::Invalid {
                name: "max_connections / sse_replay_max",
                message: "max_connections must be at least 1, sse_replay_max at least 0".into(),
            });
        }
        if matches!(identity, IdentitySetting::LocalOnly) && !listen.ip().is_loopback() {
            return Err(ConfigError::Invalid {
                name: "oidc_issuer",
                message: format!(
                    "listening on {listen}, which is not a loopback address, needs an identity provider (--oidc-issuer and --oidc-client-id): \
                     without one anyone reaching the port would act as the local user"
                ),
            });
        }
        Ok(Config {
            probe_reads_per_hour: args.probe_reads_per_hour.or(file.probe_reads_per_hour).unwrap_or(3600),
            registry_reads,
            stuck_after: std::time::Duration::from_secs(args.stuck_after_secs.or(file.stuck_after_secs).unwrap_or(1800).max(1)),
            hooks_url,
            metrics_listen,
            identity,
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

/// How people sign in: a configured issuer, else the emulator's, else none.
fn identity(args: &ServeArgs, file: &mut FileConfig, source: &Source) -> Result<IdentitySetting, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid { name: "oidc", message };
    let Some(issuer) = args.oidc_issuer.clone().or(file.oidc_issuer.take()).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) else {
        return Ok(match source {
            Source::Azure { .. } => IdentitySetting::LocalOnly,
            _ => IdentitySetting::Emulator,
        });
    };
    let url = reqwest::Url::parse(&issuer).map_err(|e| invalid(format!("--oidc-issuer {issuer:?} is not a URL ({e})")))?;
    let loopback = url.host_str().is_some_and(|h| h == "localhost" || h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()));
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(invalid(format!("--oidc-issuer {issuer:?} must be https (plain http only on loopback, for tests)")));
    }
    let client_id = args
        .oidc_client_id
        .clone()
        .or(file.oidc_client_id.take())
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| invalid("--oidc-issuer needs --oidc-client-id (the console's application id)".into()))?;
    let auth = match (std::env::var("REGATLAS_OIDC_CLIENT_SECRET").ok().filter(|s| !s.is_empty()), args.oidc_federated_token_file.clone()) {
        (Some(secret), _) => crate::auth::oidc::ClientAuth::Secret(crate::outbound::Secret::new(secret)),
        (None, Some(path)) => crate::auth::oidc::ClientAuth::FederatedTokenFile(path),
        (None, None) => {
            return Err(invalid(
                "--oidc-issuer needs the client secret in REGATLAS_OIDC_CLIENT_SECRET, or a federated credential (--oidc-federated-token-file, AZURE_FEDERATED_TOKEN_FILE)".into(),
            ))
        }
    };
    let group_roles = args
        .oidc_group_roles
        .clone()
        .or(file.oidc_group_roles.take())
        .unwrap_or_default()
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .map(|pair| {
            let (group, role) = pair.split_once('=').ok_or_else(|| invalid(format!("group role {pair:?} is not GROUP_ID=ROLE")))?;
            let role = regatlas_domain::Role::parse(role.trim()).ok_or_else(|| invalid(format!("{role:?} is not viewer, operator or admin")))?;
            Ok((group.trim().to_string(), role))
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    let api_audiences = args
        .oidc_api_audiences
        .clone()
        .or(file.oidc_api_audiences.take())
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| vec![format!("api://{client_id}"), client_id.clone()]);
    let ca_pem = match args.oidc_ca_file.clone().or(file.oidc_ca_file.take()) {
        Some(path) => Some(std::fs::read_to_string(&path).map_err(|source| ConfigError::ReadFile { path, source })?),
        None => None,
    };
    Ok(IdentitySetting::Oidc(crate::auth::oidc::OidcSettings { issuer, client_id, auth, group_roles, api_audiences, ca_pem }))
}

/// Where ARM is and how to sign in there: only combinations that work.
fn source(args: &ServeArgs, file: &mut FileConfig) -> Result<Source, ConfigError> {
    let emulator_time_scale = args.emulator_time_scale.or(file.emulator_time_scale).unwrap_or(1.0);
    if !(emulator_time_scale.is_finite() && emulator_time_scale > 0.0) {
        return Err(ConfigError::Invalid { name: "emulator_time_scale", message: format!("{emulator_time_scale} must be a positive number") });
    }
    let source = args.source.or(file.source).unwrap_or(DataSource::Emulator);
    let credential = match (&args.credential, &mut file.credential) {
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
        (None, c) => c.take(),
    };
    Ok(match (source, credential, args.emulator_url.clone().or(file.emulator_url.take())) {
        (DataSource::Emulator, _, Some(url)) => {
            let ca_pem = match &args.emulator_ca_file {
                Some(path) => Some(std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile { path: path.clone(), source })?),
                None => None,
            };
            Source::ExternalEmulator {
                url: url.trim_end_matches('/').to_string(),
                secret: args.emulator_secret.clone().filter(|s| !s.expose().is_empty()),
                ca_pem,
            }
        }
        (DataSource::Emulator, _, None) => Source::EmbeddedEmulator { time_scale: emulator_time_scale },
        (DataSource::Azure, Some(credential), _) => Source::Azure {
            endpoint: args.arm_endpoint.clone().or(file.arm_endpoint.take()).unwrap_or_else(|| "https://management.azure.com".to_string()),
            credential,
            authority_host: args.authority_host.clone().or(file.authority_host.take()),
        },
        (DataSource::Azure, None, _) => {
            return Err(ConfigError::Invalid {
                name: "credential",
                message: "--source azure needs a credential: --credential managed-identity|workload-identity|azure-cli, or a [credential] table in the file"
                    .into(),
            })
        }
    })
}

/// The poller's cadence, subscriptions and history retention.
fn poller(args: &ServeArgs, file: &mut FileConfig) -> Result<crate::poller::PollerConfig, ConfigError> {
    Ok(crate::poller::PollerConfig {
        subscriptions: args
            .subscriptions
            .clone()
            .or(file.subscriptions.take())
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
        retention: secs(args.history_retention_days.map(|d| d * 86400), file.history_retention_days.map(|d| d * 86400), 90 * 86400, "history_retention_days")?,
    })
}

/// Seconds from a flag, the file or a default; at least one.
fn secs(flag: Option<u64>, file: Option<u64>, default: u64, name: &'static str) -> Result<Duration, ConfigError> {
    let v = flag.or(file).unwrap_or(default);
    if v == 0 {
        return Err(ConfigError::Invalid { name, message: "must be at least 1".into() });
    }
    Ok(Duration::from_secs(v))
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

/// Accepts a bare path as well as a `sqlite:` URL; PostgreSQL URLs pass as they are.
/// `sqlite:…` and `postgres://…` as they are; a plain path is a SQLite
/// file. Any other `scheme://` is refused (a mistyped `postgres` URL must
/// not become a file name, nor its password a path in an error).
fn normalise_database_url(s: String) -> Result<String, ConfigError> {
    if s.starts_with("sqlite:") || crate::storage::Backend::of(&s) == crate::storage::Backend::Postgres {
        return Ok(s);
    }
    if let Some((scheme, _)) = s.split_once("://") {
        if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
            let shown: String = scheme.chars().take(32).collect();
            return Err(ConfigError::Invalid {
                name: "database",
                message: format!("unknown scheme {shown:?}: use sqlite://PATH, a file path, or postgres://…"),
            });
        }
    }
    Ok(format!("sqlite://{s}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_database_scheme_is_refused_without_showing_the_url() {
        let args = ServeArgs { database: Some("postgress://ada:s3cret@db.example/regatlas".into()), ..ServeArgs::default() };
        let e = Config::resolve(&args).expect_err("refused").to_string();
        assert!(e.contains("postgress") && !e.contains("s3cret"), "{e}");
        assert_eq!(normalise_database_url("/var/lib/regatlas/r.db".into()).expect("a path"), "sqlite:///var/lib/regatlas/r.db");
        assert_eq!(normalise_database_url("postgresql://h/db".into()).expect("postgres"), "postgresql://h/db");
    }

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
