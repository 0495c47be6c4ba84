//! The outbound policy: which addresses the server may fetch because a
//! request asked it to (a migration's source URL, a token realm, a redirect,
//! a `Link` page), and credential sets, the only secrets such a fetch may
//! carry.
//!
//! Names are resolved by [`PolicyResolver`] and every resolved address is
//! checked, so a name that resolves to a metadata or internal address is
//! refused at connect time (no DNS-rebinding gap between check and use).
//! IP literals never reach a resolver; [`OutboundPolicy::check_url`] checks
//! them before each request.

use std::{
    collections::BTreeMap,
    fmt,
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use ipnet::IpNet;
use reqwest::Url;

/// Why a fetch was refused before it was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("{0} is not an http(s) URL")]
    Scheme(String),
    #[error("{host} resolves to {ip}, which the outbound policy refuses ({why})")]
    Refused { host: String, ip: IpAddr, why: &'static str },
    #[error("cannot resolve {0}")]
    Unresolvable(String),
}

/// Which addresses request-driven fetches may reach.
#[derive(Clone, Debug)]
pub struct OutboundPolicy {
    /// Host names (exact, or `*.suffix`) an administrator allows even where
    /// they resolve to private or loopback addresses.
    allow_hosts: Vec<String>,
    /// Networks an administrator allows.
    allow_nets: Vec<IpNet>,
    /// Loopback addresses (the emulator and its tests).
    allow_loopback: bool,
    /// Public addresses not on the allow-list.
    allow_public: bool,
}

impl Default for OutboundPolicy {
    /// Azure mode's default: public addresses only.
    fn default() -> Self {
        OutboundPolicy { allow_hosts: Vec::new(), allow_nets: Vec::new(), allow_loopback: false, allow_public: true }
    }
}

impl OutboundPolicy {
    /// `allow` holds host names, `*.suffix` patterns and CIDRs (or single addresses).
    pub fn new(allow: &[String], allow_loopback: bool, allow_public: bool) -> Result<OutboundPolicy, String> {
        let mut p = OutboundPolicy { allow_loopback, allow_public, ..OutboundPolicy::default() };
        for entry in allow {
            let e = entry.trim().to_ascii_lowercase();
            if e.is_empty() {
                continue;
            }
            if let Ok(net) = e.parse::<IpNet>() {
                p.allow_nets.push(net);
            } else if let Ok(ip) = e.parse::<IpAddr>() {
                p.allow_nets.push(IpNet::from(ip));
            } else if e.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '*') && !e.contains("**") {
                p.allow_hosts.push(e);
            } else {
                return Err(format!("'{entry}' is neither a host name nor a CIDR"));
            }
        }
        Ok(p)
    }

    /// The emulator's default: loopback and public addresses.
    pub fn emulator() -> OutboundPolicy {
        OutboundPolicy { allow_loopback: true, ..OutboundPolicy::default() }
    }

    /// This policy, also allowing `host` (a login server or regional
    /// endpoint that ARM reported for a watched registry, which a private
    /// endpoint may resolve to a private address). Link-local, unspecified
    /// and multicast addresses stay refused.
    pub fn trusting(&self, login_server: &str) -> OutboundPolicy {
        let mut p = self.clone();
        let s = login_server.trim().trim_start_matches("https://").trim_start_matches("http://");
        let host = s.split('/').next().unwrap_or(s);
        let host = if host.starts_with('[') { host.trim_start_matches('[').split(']').next().unwrap_or(host) } else { host.split(':').next().unwrap_or(host) };
        if !host.is_empty() {
            p.allow_hosts.push(host.to_ascii_lowercase());
        }
        p
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allow_hosts.iter().any(|h| match h.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => *h == host,
        })
    }

    /// Checks one address that `host` resolved to (or is).
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), OutboundError> {
        let ip = ip.to_canonical();
        let refuse = |why| Err(OutboundError::Refused { host: host.to_string(), ip, why });
        // Never: cloud metadata (link-local), unspecified, multicast, broadcast.
        if ip.is_unspecified() {
            return refuse("unspecified address");
        }
        if ip.is_multicast() {
            return refuse("multicast address");
        }
        match ip {
            IpAddr::V4(v4) if v4.is_link_local() => return refuse("link-local address (cloud metadata)"),
            IpAddr::V4(v4) if v4.octets() == [168, 63, 129, 16] => return refuse("Azure platform endpoint (WireServer)"),
            IpAddr::V4(v4) if v4.is_broadcast() => return refuse("broadcast address"),
            IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => return refuse("link-local address"),
            _ => {}
        }
        if self.allow_nets.iter().any(|n| n.contains(&ip)) || self.host_allowed(host) {
            return Ok(());
        }
        if ip.is_loopback() {
            return if self.allow_loopback { Ok(()) } else { refuse("loopback address") };
        }
        if is_private(ip) {
            return refuse("private address; allow it in [outbound] allow");
        }
        if self.allow_public {
            Ok(())
        } else {
            refuse("not on the outbound allow-list")
        }
    }

    /// Checks a URL's scheme and, for an IP literal, its address. Names are
    /// checked when they resolve ([`PolicyResolver`]).
    pub fn check_url(&self, url: &Url) -> Result<(), OutboundError> {
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(OutboundError::Scheme(url.as_str().chars().take(200).collect()));
        }
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(&ip.to_string(), IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(&ip.to_string(), IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => Ok(()),
            None => Err(OutboundError::Scheme(url.as_str().chars().take(200).collect())),
        }
    }
}

/// Private, shared, benchmarking and reserved IPv4 ranges (RFC 1918, 6598,
/// 2544, 1112), unique-local IPv6 (RFC 4193), and IPv6 forms that carry an
/// IPv4 address to somewhere else (NAT64, 6to4, IPv4-compatible).
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || o[0] == 0
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            (s[0] & 0xfe00) == 0xfc00
                || (s[0] == 0x64 && s[1] == 0xff9b)
                || s[0] == 0x2002
                || (s[..6].iter().all(|x| *x == 0) && !v6.is_loopback() && !v6.is_unspecified())
        }
    }
}

/// A DNS resolver for reqwest that drops every address the policy refuses.
pub struct PolicyResolver {
    pub policy: Arc<OutboundPolicy>,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| Box::new(OutboundError::Unresolvable(host.clone())) as Box<dyn std::error::Error + Send + Sync>)?
                .collect();
            let mut first_refusal = None;
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| match policy.check_ip(&host, a.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        first_refusal.get_or_insert(e);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let e = first_refusal.unwrap_or(OutboundError::Unresolvable(host));
                return Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A secret: never printed, logged or serialised.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret::new(s))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A named set of registry credentials, configured by an administrator,
/// bound to the hosts it may be sent to.
#[derive(Clone, Debug)]
pub struct CredentialSet {
    pub name: String,
    /// `host` (any port) or `host:port`, lower case.
    pub hosts: Vec<String>,
    pub username: String,
    pub password: Secret,
}

impl CredentialSet {
    /// May this set be sent to `url`? Only to a bound host, and only over
    /// https (or to a loopback address, where nothing crosses a network).
    pub fn bound_to(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else { return false };
        let host = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
        let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback());
        if url.scheme() != "https" && !loopback {
            return false;
        }
        let port = url.port_or_known_default();
        self.hosts.iter().any(|entry| {
            let (name, want_port) = split_host_port(entry);
            name == host && want_port.is_none_or(|p| Some(p) == port)
        })
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
fn split_host_port(entry: &str) -> (String, Option<u16>) {
    let e = entry.trim().to_ascii_lowercase();
    if let Some(rest) = e.strip_prefix('[') {
        let (name, tail) = rest.split_once(']').unwrap_or((rest, ""));
        return (name.to_string(), tail.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match e.split_once(':') {
        Some((name, port)) if !port.contains(':') => (name.to_string(), port.parse().ok()),
        _ => (e, None),
    }
}

/// Every configured credential set, by name.
#[derive(Clone, Debug, Default)]
pub struct CredentialSets(BTreeMap<String, Arc<CredentialSet>>);

impl CredentialSets {
    pub fn new(sets: Vec<CredentialSet>) -> CredentialSets {
        CredentialSets(sets.into_iter().map(|s| (s.name.clone(), Arc::new(s))).collect())
    }
    pub fn get(&self, name: &str) -> Option<Arc<CredentialSet>> {
        self.0.get(name).cloned()
    }
}

/// Text from outside made safe to store, log and show: control characters
/// become spaces and it is cut to `max` characters.
pub fn clean_text(s: &str, max: usize) -> String {
    let mut out: String = s.chars().map(|c| if is_unsafe_char(c) { ' ' } else { c }).take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// The text checks live with the names that use them (the domain crate).
pub use regatlas_domain::name::{is_plain_text, is_unsafe_char};

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn metadata_and_special_addresses_are_always_refused() {
        let p = OutboundPolicy::new(&["0.0.0.0/0".into(), "::/0".into()], true, true).expect("policy");
        for a in ["169.254.169.254", "0.0.0.0", "224.0.0.1", "255.255.255.255", "fe80::1", "::", "ff02::1", "::ffff:169.254.169.254"] {
            assert!(p.check_ip("x", ip(a)).is_err(), "{a} must be refused");
        }
    }

    #[test]
    fn loopback_and_private_follow_the_mode_and_the_allow_list() {
        let azure = OutboundPolicy::default();
        assert!(azure.check_ip("x", ip("127.0.0.1")).is_err());
        assert!(azure.check_ip("x", ip("10.1.2.3")).is_err());
        assert!(azure.check_ip("x", ip("192.168.1.1")).is_err());
        assert!(azure.check_ip("x", ip("fd00::1")).is_err());
        assert!(azure.check_ip("x", ip("100.64.0.1")).is_err());
        assert!(azure.check_ip("x", ip("20.1.2.3")).is_ok());
        for a in ["198.18.0.1", "240.0.0.1", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "::10.0.0.1", "192.0.0.8"] {
            assert!(azure.check_ip("x", ip(a)).is_err(), "{a}");
        }
        let open = OutboundPolicy::new(&["0.0.0.0/0".into()], true, true).expect("policy");
        assert!(open.check_ip("x", ip("168.63.129.16")).is_err(), "the Azure WireServer is never reachable");
        let emu = OutboundPolicy::emulator();
        assert!(emu.check_ip("x", ip("127.0.0.1")).is_ok());
        assert!(emu.check_ip("x", ip("::1")).is_ok());
        assert!(emu.check_ip("x", ip("10.1.2.3")).is_err());
        let allowed = OutboundPolicy::new(&["10.20.0.0/16".into(), "*.corp.example".into()], false, false).expect("policy");
        assert!(allowed.check_ip("x", ip("10.20.3.4")).is_ok());
        assert!(allowed.check_ip("x", ip("10.21.3.4")).is_err());
        assert!(allowed.check_ip("harbor.corp.example", ip("10.9.9.9")).is_ok());
        assert!(allowed.check_ip("x", ip("20.1.2.3")).is_err(), "public refused when only the allow-list is reachable");
        assert!(OutboundPolicy::new(&["not a host!".into()], false, true).is_err());
        let trusted = azure.trusting("contoso.azurecr.io");
        assert!(trusted.check_ip("contoso.azurecr.io", ip("10.1.0.4")).is_ok(), "a private endpoint of a watched registry");
        assert!(trusted.check_ip("contoso.azurecr.io", ip("169.254.169.254")).is_err());
        assert!(trusted.check_ip("other.example", ip("10.1.0.4")).is_err());
    }

    #[test]
    fn credential_sets_bind_to_hosts_and_ports() {
        let set =
            CredentialSet { name: "a".into(), hosts: vec!["reg.example".into(), "127.0.0.1:5000".into()], username: "u".into(), password: Secret::new("p") };
        let u = |s: &str| Url::parse(s).expect("url");
        assert!(set.bound_to(&u("https://reg.example/v2/")));
        assert!(set.bound_to(&u("https://REG.example:8443/v2/")));
        assert!(set.bound_to(&u("http://127.0.0.1:5000/v2/")));
        assert!(!set.bound_to(&u("http://reg.example/v2/")), "never in clear text over a network");
        assert!(!set.bound_to(&u("http://127.0.0.1:5001/v2/")));
        assert!(!set.bound_to(&u("https://evil.example/v2/")));
        assert!(!set.bound_to(&u("https://reg.example.evil/v2/")));
        assert_eq!(format!("{:?}", set.password), "Secret(***)");
        assert!(!format!("{set:?}").contains("\"p\""));
    }

    #[test]
    fn outside_text_is_cleaned_and_cut() {
        assert_eq!(clean_text("a\nb\u{1b}[31mc", 100), "a b [31mc");
        assert_eq!(clean_text("abcdef", 3), "abc…");
        assert_eq!(clean_text("a\u{202E}b\u{2028}c", 10), "a b c");
    }
}
