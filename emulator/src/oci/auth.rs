//! The registry's token flow as ACR runs it: the `WWW-Authenticate`
//! challenge, `/oauth2/exchange` (an ARM token for a refresh token) and
//! `/oauth2/token` (a repository-scoped access token), Basic auth for
//! tokens and the admin user, and the check on every data-plane request.

use super::*;

pub(super) fn host_of(headers: &HeaderMap) -> String {
    headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_string()
}

pub(super) fn challenge(ep: &Endpoint, headers: &HeaderMap) -> Response {
    let host = host_of(headers);
    let mut r = (StatusCode::UNAUTHORIZED, Json(json!({"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}))).into_response();
    let v = format!("Bearer realm=\"http://{host}/oauth2/token\",service=\"{}\"", ep.registry);
    if let Ok(v) = HeaderValue::from_str(&v) {
        r.headers_mut().insert("www-authenticate", v);
    }
    r
}

/// Admin user (Basic) or an ACR access token (Bearer); anonymous pull when enabled.
// The error is the finished 401 response, returned once per request.
#[allow(clippy::result_large_err)]
pub(super) fn authorize(ep: &Endpoint, method: &Method, headers: &HeaderMap) -> Result<(), Response> {
    let (admin_ok, anonymous) = {
        let world = ep.shared.world();
        let Some(reg) = world.registries.get(&ep.registry) else {
            return Err(oci_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "registry not found"));
        };
        (reg.props.get("adminUserEnabled") == Some(&json!(true)), reg.props.get("anonymousPullEnabled") == Some(&json!(true)))
    };
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if let Some(b) = auth.strip_prefix("Basic ").or_else(|| auth.strip_prefix("basic ")) {
        if admin_ok && check_basic(ep, b) {
            return Ok(());
        }
        return Err(challenge(ep, headers));
    }
    if let Some(t) = auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("bearer ")) {
        if ep.shared.auth.validate(t.trim()).is_ok() {
            return Ok(());
        }
        return Err(challenge(ep, headers));
    }
    if anonymous && (*method == Method::GET || *method == Method::HEAD) {
        return Ok(());
    }
    Err(challenge(ep, headers))
}

pub(super) fn check_basic(ep: &Endpoint, b64: &str) -> bool {
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else { return false };
    let Ok(s) = String::from_utf8(raw) else { return false };
    let Some((user, pass)) = s.split_once(':') else { return false };
    let world = ep.shared.world();
    let Some(reg) = world.registries.get(&ep.registry) else { return false };
    user.eq_ignore_ascii_case(&reg.name) && (pass == reg.admin_password || pass == format!("{}2", reg.admin_password))
}

pub(super) fn token_endpoint(ep: &Endpoint, method: &Method, path: &str, headers: &HeaderMap, body: &Bytes) -> Response {
    let form: HashMap<String, String> = std::str::from_utf8(body)
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let issue = |kind: &str| {
        let t = ep.shared.auth.issue(&format!("acr:{}:{kind}", ep.registry), "acr", Duration::from_secs(3600));
        t.token
    };
    match (method, path) {
        (&Method::POST, "/oauth2/exchange") => {
            let Some(arm) = form.get("access_token") else {
                return oci_error(StatusCode::BAD_REQUEST, "UNSUPPORTED", "access_token is required");
            };
            if ep.shared.auth.validate(arm).is_err() {
                return oci_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "invalid AAD access token");
            }
            Json(json!({ "refresh_token": issue("refresh") })).into_response()
        }
        (&Method::POST, "/oauth2/token") => {
            let rt = form.get("refresh_token").cloned().unwrap_or_default();
            if ep.shared.auth.validate(&rt).is_err() {
                return oci_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "invalid refresh token");
            }
            Json(json!({ "access_token": issue("access") })).into_response()
        }
        (&Method::GET, "/oauth2/token") => {
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
            let ok = auth.strip_prefix("Basic ").is_some_and(|b| {
                let admin = ep.shared.world().registries.get(&ep.registry).is_some_and(|r| r.props.get("adminUserEnabled") == Some(&json!(true)));
                admin && check_basic(ep, b)
            }) || auth.strip_prefix("Bearer ").is_some_and(|t| ep.shared.auth.validate(t.trim()).is_ok());
            if !ok {
                return oci_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "authentication required");
            }
            let t = issue("access");
            Json(json!({ "access_token": t, "token": t })).into_response()
        }
        _ => oci_error(StatusCode::NOT_FOUND, "UNSUPPORTED", "unknown token endpoint"),
    }
}
