//! The request guard in front of every route:
//!
//! - **Host**: only the public URL's host or a loopback address is served,
//!   so a DNS-rebinding page cannot talk to the console through its own name.
//! - **Cross-origin protection** for every state-changing request (anything
//!   but GET, HEAD and OPTIONS), judged the way Go's
//!   `http.CrossOriginProtection` does: `Sec-Fetch-Site: same-origin|none`
//!   passes; otherwise an `Origin` must be the public URL's origin (or,
//!   without `Sec-Fetch-Site`, the loopback origin the request was sent to);
//!   a request with neither header is not from a browser and passes.
//! - **Security headers** on every response: a strict CSP whose script
//!   source is this response's nonce (the hydration script carries it),
//!   `frame-ancestors 'none'`, `X-Frame-Options`, `nosniff`, a
//!   Referrer-Policy, and HSTS when the public URL is https.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, Method},
    middleware::Next,
    response::Response,
};
use regatlas_app::{model::ErrorKind, CspNonce};

use crate::config::PublicUrl;

/// What the guard needs to know.
#[derive(Clone, Debug)]
pub struct Guard {
    pub public: PublicUrl,
    /// Where webhooks are delivered (its host is served for `/hooks/` only).
    pub hooks: Option<PublicUrl>,
}

fn refuse(kind: ErrorKind, code: &str, message: &str) -> Response {
    use axum::response::IntoResponse;
    super::error::Failure(regatlas_app::model::ApiError::new(kind, code, message)).into_response()
}

/// `host[:port]` without the port, lower case, brackets kept off.
fn host_name(authority: &str) -> String {
    let a = authority.trim().to_ascii_lowercase();
    if let Some(rest) = a.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_string();
    }
    a.split(':').next().unwrap_or("").to_string()
}

fn is_loopback_host(authority: &str) -> bool {
    let h = host_name(authority);
    h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The authority the request was sent to (`Host`, or the URI's for HTTP/2).
fn request_authority(req: &Request) -> Option<String> {
    req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_string).or_else(|| req.uri().authority().map(|a| a.to_string()))
}

/// `host[:port]` lower case, without a trailing dot or the scheme's default port.
pub(crate) fn normal_authority(authority: &str, https: bool) -> String {
    let a = authority.trim().to_ascii_lowercase();
    let (host, port) = match a.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (!h.contains(':') || h.ends_with(']')) => {
            (h.to_string(), Some(p.to_string()))
        }
        _ => (a.clone(), None),
    };
    let host = host.trim_end_matches('.').to_string();
    match port.as_deref() {
        None => host,
        Some("443") if https => host,
        Some("80") if !https => host,
        Some(p) => format!("{host}:{p}"),
    }
}

impl Guard {
    fn host_allowed(&self, authority: &str, path: &str) -> bool {
        normal_authority(authority, self.public.https) == self.public.host
            || is_loopback_host(authority)
            || (path.starts_with("/hooks/acr/") && self.hooks.as_ref().is_some_and(|h| normal_authority(authority, h.https) == h.host))
    }

    /// `Ok` when a state-changing request may go on.
    fn same_origin(&self, headers: &HeaderMap, authority: &str) -> Result<(), &'static str> {
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        let trusted = |o: &str| {
            o.eq_ignore_ascii_case(&self.public.origin)
                || (is_loopback_host(authority)
                    && (o.eq_ignore_ascii_case(&format!("http://{authority}")) || o.eq_ignore_ascii_case(&format!("https://{authority}"))))
        };
        match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            Some("same-origin") | Some("none") => Ok(()),
            Some(_) => match origin {
                Some(o) if o.eq_ignore_ascii_case(&self.public.origin) => Ok(()),
                _ => Err("cross-site request refused (Sec-Fetch-Site)"),
            },
            None => match origin {
                None => Ok(()),
                Some(o) if trusted(o) => Ok(()),
                Some(_) => Err("cross-origin request refused (Origin)"),
            },
        }
    }
}

/// A fresh CSP nonce: 16 random bytes, base64url.
fn nonce() -> String {
    use base64::Engine as _;
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The guard as an axum middleware (`from_fn_with_state`).
pub async fn guard(State(g): State<Arc<Guard>>, mut req: Request, next: Next) -> Response {
    let authority = request_authority(&req).unwrap_or_default();
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let cross_origin = if changes_state { g.same_origin(req.headers(), &authority).err() } else { None };
    let mut res = if !g.host_allowed(&authority, req.uri().path()) {
        tracing::warn!(host = %crate::outbound::clean_text(&authority, 100), "request for an unknown host refused");
        refuse(ErrorKind::Misdirected, "UnknownHost", "This console is not served under that host name; use its public URL.")
    } else if let Some(why) = cross_origin {
        tracing::warn!(method = %req.method(), path = %req.uri().path(), why, "cross-origin request refused");
        refuse(ErrorKind::Forbidden, "CrossOriginRequest", "State-changing requests must come from the console's own origin.")
    } else {
        let n = nonce();
        req.extensions_mut().insert(CspNonce(n.clone()));
        let mut res = next.run(req).await;
        res.extensions_mut().insert(CspNonce(n));
        res
    };
    headers(&g, &mut res);
    res
}

fn set(h: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// The security headers, chosen by what the response is.
fn headers(g: &Guard, res: &mut Response<Body>) {
    let html = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("text/html"));
    let csp = match (html, res.extensions().get::<CspNonce>()) {
        (true, Some(CspNonce(n))) => format!(
            "default-src 'self'; script-src 'self' 'nonce-{n}' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        ),
        _ => "default-src 'none'; img-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'".to_string(),
    };
    let h = res.headers_mut();
    set(h, header::CONTENT_SECURITY_POLICY, &csp);
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(h, HeaderName::from_static("cross-origin-resource-policy"), "same-origin");
    set(h, HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=(), payment=()");
    if g.public.https {
        set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=63072000; includeSubDomains");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(public: &str) -> Guard {
        Guard { public: PublicUrl::parse(public).expect("url"), hooks: None }
    }

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_str(v).expect("value"));
        }
        m
    }

    #[test]
    fn browsers_cross_site_requests_are_refused() {
        let g = guard("https://regatlas.example.com");
        let a = "regatlas.example.com";
        assert!(g.same_origin(&h(&[("sec-fetch-site", "same-origin")]), a).is_ok());
        assert!(g.same_origin(&h(&[("sec-fetch-site", "none")]), a).is_ok());
        assert!(g.same_origin(&h(&[("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")]), a).is_err());
        assert!(g.same_origin(&h(&[("sec-fetch-site", "same-site"), ("origin", "https://other.example.com")]), a).is_err());
        assert!(g.same_origin(&h(&[("origin", "https://evil.example")]), a).is_err());
        assert!(g.same_origin(&h(&[("origin", "null")]), a).is_err());
        assert!(g.same_origin(&h(&[("origin", "https://regatlas.example.com")]), a).is_ok());
        // Scripts and CLIs send neither header.
        assert!(g.same_origin(&h(&[]), a).is_ok());
        // Local access by loopback address, with the default public URL.
        let local = guard("http://127.0.0.1:3000");
        assert!(local.same_origin(&h(&[("origin", "http://localhost:3000")]), "localhost:3000").is_ok());
        assert!(local.same_origin(&h(&[("origin", "http://localhost:3001")]), "localhost:3000").is_err());
    }

    #[test]
    fn only_the_public_host_and_loopback_are_served() {
        let g = guard("https://regatlas.example.com");
        assert!(g.host_allowed("regatlas.example.com", "/"));
        assert!(g.host_allowed("REGATLAS.example.com", "/"));
        assert!(g.host_allowed("regatlas.example.com:443", "/"));
        assert!(g.host_allowed("regatlas.example.com.", "/"));
        assert!(!g.host_allowed("regatlas.example.com:8443", "/"));
        assert!(g.host_allowed("127.0.0.1:3000", "/"));
        assert!(g.host_allowed("[::1]:3000", "/"));
        assert!(g.host_allowed("localhost:3000", "/"));
        assert!(!g.host_allowed("attacker.example", "/"));
        assert!(!g.host_allowed("regatlas.example.com.attacker.example", "/"));
        assert!(!g.host_allowed("10.0.0.5:3000", "/"));
        assert!(!g.host_allowed("", "/"));
    }

    #[test]
    fn the_hooks_host_is_served_for_hooks_only() {
        let mut g = guard("https://regatlas.example.com");
        g.hooks = Some(PublicUrl::parse("https://hooks.example.com").expect("url"));
        assert!(g.host_allowed("hooks.example.com", "/hooks/acr/contoso/eastus"));
        assert!(!g.host_allowed("hooks.example.com", "/"));
        assert!(!g.host_allowed("hooks.example.com", "/api/v1/registries"));
        assert!(!g.host_allowed("other.example.com", "/hooks/acr/contoso/eastus"));
    }
}
