//! The client side of signing in, as a browser or a CI pipeline does it,
//! against a console whose identity provider is the emulator: the
//! benchmarks and the integration tests use it. Nothing here is a way
//! around sign-in; it walks the same redirects a browser walks.

use regatlas_arm::credential::EmulatorLogin;

fn no_redirects() -> Result<reqwest::Client, String> {
    reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().map_err(|e| e.to_string())
}

fn location(r: &reqwest::Response) -> Result<String, String> {
    r.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| format!("HTTP {} without a Location", r.status()))
}

/// The session cookie (`name=value`) of a new session made by signing in
/// at `base` as the emulator's demo person with `username`
/// (`ada@contoso.example`, …): sign-in, the emulator's page, the choice,
/// the callback.
pub async fn sign_in_as(base: &str, username: &str) -> Result<String, String> {
    let person = regatlas_emulator::entra::PEOPLE.iter().position(|p| p.username == username).ok_or_else(|| format!("no demo person {username}"))?;
    let http = no_redirects()?;
    let r = http.get(format!("{base}/auth/sign-in")).send().await.map_err(|e| e.to_string())?;
    let cookie = session_cookie(&r).ok_or("no session cookie at sign-in")?;
    let authorize = reqwest::Url::parse(&location(&r)?).map_err(|e| e.to_string())?;
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("person".into(), person.to_string()));
    let mut post = authorize.clone();
    post.set_query(None);
    let r = http.post(post).form(&form).send().await.map_err(|e| e.to_string())?;
    let callback = location(&r)?;
    let r = http.get(callback).header(reqwest::header::COOKIE, &cookie).send().await.map_err(|e| e.to_string())?;
    let to = location(&r)?;
    if to.starts_with("/auth/refused") {
        return Err(format!("the console refused the sign-in ({to})"));
    }
    let renewed = session_cookie(&r).ok_or_else(|| format!("no new session cookie after the callback (HTTP {}, to {:?})", r.status(), location(&r)))?;
    Ok(renewed)
}

/// `name=value` of the session cookie a response sets.
pub fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("regatlas_session=") || c.starts_with("__Host-regatlas="))
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
}

/// An access token for the console's API, from the emulator's Entra ID by
/// client credentials, for one of its demo applications (`ci-admin`,
/// `ci-deployer`, `ci-reader`).
pub async fn app_token(login: &EmulatorLogin, app: &str) -> Result<String, String> {
    let a = regatlas_emulator::entra::APPS.iter().find(|a| a.name == app).ok_or_else(|| format!("no demo application {app}"))?;
    let cert = reqwest::Certificate::from_pem(login.certificate_pem.as_bytes()).map_err(|e| e.to_string())?;
    let http = reqwest::Client::builder().no_proxy().add_root_certificate(cert).build().map_err(|e| e.to_string())?;
    let v: serde_json::Value = http
        .post(format!("{}/{}/oauth2/v2.0/token", login.authority_host, login.tenant_id))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", a.client_id),
            ("client_secret", login.client_secret.as_str()),
            ("scope", &format!("api://{}/.default", login.client_id)),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    v["access_token"].as_str().map(str::to_string).ok_or_else(|| format!("no access token: {v}"))
}

/// Signs in at `base` as the demo Admin and creates an API token with
/// `role` through the page's own server function; the token's secret. An
/// API token is kept in the console's database, so it outlives restarts of
/// a console whose emulator (and so whose signing key) is new each time.
pub async fn api_token_as_admin(base: &str, name: &str, role: &str) -> Result<String, String> {
    let cookie = sign_in_as(base, "ada@contoso.example").await?;
    let http = no_redirects()?;
    let r = http
        .post(format!("{base}/api/sfn/create_api_token"))
        .header(reqwest::header::COOKIE, cookie)
        .form(&[("request[name]", name), ("request[role]", role)])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    v["secret"].as_str().map(str::to_string).ok_or_else(|| format!("HTTP {status}: {v}"))
}
