//! Sign-in, roles, bearer tokens and the audit trail, against the
//! emulator's Entra ID (discovery, its sign-in page, tokens signed with its
//! key) — the same code path as Entra.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{bearer_client, session_client, spawn_app, TestApp};

/// Every `/api/v1` route, with a request that reaches the back end and the
/// least role it needs. Names that do not exist keep the allowed requests
/// from changing anything (they end in 404/409 after the role check).
fn routes() -> Vec<(Method, &'static str, Option<Value>, &'static str)> {
    vec![
        (Method::GET, "/api/v1/registries", None, "viewer"),
        (Method::GET, "/api/v1/registries/nosuchregistry", None, "viewer"),
        (Method::POST, "/api/v1/registries/nosuchregistry/replicas", Some(json!({"region": "eastus"})), "operator"),
        (Method::DELETE, "/api/v1/registries/nosuchregistry/replicas/eastus", None, "admin"),
        (Method::PUT, "/api/v1/registries/nosuchregistry/replicas/eastus/routing", Some(json!({"enabled": true})), "operator"),
        (Method::PUT, "/api/v1/registries/nosuchregistry/replicas/eastus/routing", Some(json!({"enabled": false, "force": true})), "admin"),
        (Method::GET, "/api/v1/operations", None, "viewer"),
        (Method::GET, "/api/v1/history", None, "viewer"),
        (Method::POST, "/api/v1/refresh", None, "operator"),
        (Method::GET, "/api/v1/poller", None, "viewer"),
        (Method::GET, "/api/v1/people", None, "viewer"),
        (Method::GET, "/api/v1/migrations", None, "viewer"),
        (Method::POST, "/api/v1/migrations", Some(json!({"source_registry": "nosuchsource", "target_registry": "nosuchtarget"})), "operator"),
        (Method::POST, "/api/v1/migrations", Some(json!({"source_registry": "nosuchsource", "target_registry": "nosuchtarget", "force": true})), "admin"),
        (Method::GET, "/api/v1/migrations/nosuch", None, "viewer"),
        (Method::GET, "/api/v1/migrations/nosuch/items", None, "viewer"),
        (Method::GET, "/api/v1/migrations/nosuch/report.json", None, "viewer"),
        (Method::POST, "/api/v1/migrations/nosuch/pause", None, "operator"),
        (Method::PUT, "/api/v1/migrations/nosuch/checklist/update-clients", Some(json!({"done": true})), "operator"),
        (Method::GET, "/api/v1/tokens", None, "admin"),
        (Method::POST, "/api/v1/tokens", Some(json!({"name": "route walk", "role": "viewer"})), "admin"),
        (Method::DELETE, "/api/v1/tokens/nosuch", None, "admin"),
        (Method::GET, "/api/v1/events", None, "viewer"),
        (Method::GET, "/api/v1/registries/nosuchregistry/presence", None, "viewer"),
        (Method::PUT, "/api/v1/registries/nosuchregistry/presence/tracking", Some(json!({"enabled": true})), "operator"),
        (Method::PUT, "/api/v1/registries/nosuchregistry/replicas/eastus/routing", Some(json!({"enabled": true, "force": true})), "admin"),
        (Method::GET, "/metrics", None, "viewer"),
        (Method::GET, "/api/v1/registries/nosuchregistry/webhooks", None, "viewer"),
        (Method::GET, "/api/v1/registries/nosuchregistry/webhooks/nosuchhook/deliveries", None, "viewer"),
        (Method::POST, "/api/v1/registries/nosuchregistry/webhooks/nosuchhook/ping", None, "operator"),
        (Method::PUT, "/api/v1/registries/nosuchregistry/webhooks/nosuchhook", Some(json!({"enabled": false})), "operator"),
        (Method::DELETE, "/api/v1/registries/nosuchregistry/webhooks/nosuchhook", None, "operator"),
        (Method::GET, "/api/v1/registries/nosuchregistry/settings", None, "viewer"),
        (Method::GET, "/api/v1/registries/nosuchregistry/connected-registries", None, "viewer"),
        (Method::GET, "/api/v1/registries/nosuchregistry/transfers", None, "viewer"),
        (Method::GET, "/api/v1/registries/nosuchregistry/relocation/template", None, "viewer"),
        (Method::POST, "/api/v1/registries/nosuchregistry/relocation/preview", Some(json!({"target_name": "newplace", "location": "westus"})), "viewer"),
        (
            Method::POST,
            "/api/v1/registries/nosuchregistry/relocation",
            Some(json!({"target_name": "newplace", "location": "westus", "confirm": "newplace"})),
            "admin",
        ),
        (Method::POST, "/api/v1/registries/nosuchregistry/transfers", Some(json!({"pipeline": "nosuchpipe", "artifacts": ["a:1"]})), "operator"),
        (Method::POST, "/api/v1/registries/nosuchregistry/pipeline-runs/nosuchrun/rerun", None, "operator"),
        (Method::DELETE, "/api/v1/registries/nosuchregistry/pipeline-runs/nosuchrun", None, "operator"),
        (Method::PUT, "/api/v1/registries/nosuchregistry/connected-registries/nosuchedge", Some(json!({"schedule": "* * * * *"})), "operator"),
        (Method::POST, "/api/v1/registries/nosuchregistry/connected-registries/nosuchedge/deactivate", None, "admin"),
        (Method::POST, "/api/v1/registries/nosuchregistry/doctor/fix", Some(json!({"fix": "enable-data-endpoints", "confirm": "nosuchregistry"})), "admin"),
    ]
}

const RANK: [&str; 3] = ["viewer", "operator", "admin"];

async fn call(client: &reqwest::Client, app: &TestApp, m: &Method, path: &str, body: &Option<Value>) -> (u16, Value) {
    let mut rb = client.request(m.clone(), app.url(path));
    if let Some(b) = body {
        rb = rb.json(b);
    }
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    // The event stream never ends: its status is the answer.
    let v = if path.ends_with("/events") { Value::Null } else { r.json().await.unwrap_or_default() };
    (status, v)
}

#[tokio::test]
async fn every_route_by_role() {
    let app = spawn_app().await;
    let clients = [("viewer", app.as_app("ci-reader").await), ("operator", app.as_app("ci-deployer").await), ("admin", app.as_app("ci-admin").await)];
    let nobody = reqwest::Client::builder().no_proxy().build().expect("client");
    for (m, path, body, need) in routes() {
        let (status, v) = call(&nobody, &app, &m, path, &body).await;
        assert_eq!(status, 401, "{m} {path} without a token: {v}");
        for (role, client) in &clients {
            let allowed = RANK.iter().position(|r| r == role) >= RANK.iter().position(|r| *r == need);
            let (status, v) = call(client, &app, &m, path, &body).await;
            if allowed {
                // It reached the back end: an answer, or the thing named is not there.
                assert!((200..300).contains(&status) || status == 404, "{role} may {m} {path}: {status} {v}");
            } else {
                assert_eq!((status, v["code"].as_str()), (403, Some("RoleRequired")), "{role} may not {m} {path}: {v}");
            }
        }
    }
    // The session cookie is never taken for the API.
    let browser = session_client(&app.sign_in("ada@contoso.example").await);
    let r = browser.get(app.url("/api/v1/registries")).send().await.expect("get");
    assert_eq!(r.status(), 401);
}

/// A token signed with the emulator's own key, with these claims over a valid set.
fn token_with(app: &TestApp, changes: Value) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": format!("{}/{}/v2.0", app.login.authority_host, app.login.tenant_id),
        "aud": format!("api://{}", app.login.client_id),
        "sub": "test-app", "oid": "test-app", "azp": "test-app", "app_displayname": "test-app",
        "roles": ["Regatlas.Admin"], "iat": now, "nbf": now, "exp": now + 600,
    });
    if let (Some(c), Some(d)) = (claims.as_object_mut(), changes.as_object()) {
        for (k, v) in d {
            c.insert(k.clone(), v.clone());
        }
    }
    regatlas_emulator::entra::sign(&claims).expect("sign")
}

#[tokio::test]
async fn bad_bearer_tokens_are_refused() {
    let app = spawn_app().await;
    let now = chrono::Utc::now().timestamp();
    // The control: a valid token made the same way works.
    let r = bearer_client(&token_with(&app, json!({}))).get(app.url("/api/v1/registries")).send().await.expect("get");
    assert_eq!(r.status(), 200);
    let valid = token_with(&app, json!({}));
    let forged = {
        // The payload changed after signing (a role added): the signature no longer matches.
        use base64::Engine as _;
        let parts: Vec<&str> = valid.split('.').collect();
        let mut payload: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
        payload["app_displayname"] = json!("mallory");
        let p = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
        format!("{}.{p}.{}", parts[0], parts[2])
    };
    let cases = [
        ("expired", token_with(&app, json!({"exp": now - 3600, "iat": now - 7200, "nbf": now - 7200}))),
        ("not yet valid", token_with(&app, json!({"nbf": now + 3600}))),
        ("wrong audience", token_with(&app, json!({"aud": "api://someone-else"}))),
        ("wrong issuer", token_with(&app, json!({"iss": "https://login.microsoftonline.com/another-tenant/v2.0"}))),
        ("forged", forged),
        // An ID token (it carries a nonce) is not an API credential.
        ("an ID token", token_with(&app, json!({"aud": app.login.client_id, "nonce": "n"}))),
        ("garbage", "not.a.jwt".to_string()),
        ("unknown API token", format!("rgat_{}", "A".repeat(43))),
    ];
    for (what, token) in cases {
        let r = bearer_client(&token).get(app.url("/api/v1/registries")).send().await.expect("get");
        assert_eq!(r.status(), 401, "{what}");
        assert!(r.headers().get("www-authenticate").is_some(), "{what}");
    }
    // A valid token without a Regatlas role is not an identity with a role.
    let r = bearer_client(&token_with(&app, json!({"roles": ["Other.Role"]}))).get(app.url("/api/v1/registries")).send().await.expect("get");
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn an_api_token_works_until_it_is_revoked() {
    let app = spawn_app().await;
    let r =
        app.client.post(app.url("/api/v1/tokens")).json(&json!({"name": "nightly sync", "role": "operator", "expires_in_days": 7})).send().await.expect("post");
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.expect("json");
    let secret = created["secret"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("rgat_"), "a prefix secret scanners know");
    let id = created["token"]["id"].as_str().expect("id").to_string();
    // Lists never carry the secret.
    let list = app.client.get(app.url("/api/v1/tokens")).send().await.expect("get").text().await.expect("text");
    assert!(list.contains("nightly sync") && !list.contains(&secret));

    let token = bearer_client(&secret);
    assert_eq!(token.post(app.url("/api/v1/refresh")).send().await.expect("post").status(), 202, "Operator may refresh");
    let r = token.delete(app.url("/api/v1/registries/contoso/replicas/westus")).send().await.expect("delete");
    assert_eq!(r.status(), 403, "but not delete");
    let list: Value = app.client.get(app.url("/api/v1/tokens")).send().await.expect("get").json().await.expect("json");
    let t = list.as_array().expect("tokens").iter().find(|t| t["id"] == id.as_str()).cloned().expect("listed");
    assert!(t["last_used_at"].is_string(), "last use shown: {t}");
    // The audit names the token.
    let people: Value = app.get_json("/api/v1/people").await;
    assert!(people.as_array().expect("people").iter().any(|p| p["name"] == "nightly sync (API token)" && p["via"] == "api-token"), "{people}");

    let r = app.client.delete(app.url(&format!("/api/v1/tokens/{id}"))).send().await.expect("revoke");
    assert_eq!(r.status(), 200);
    assert_eq!(token.post(app.url("/api/v1/refresh")).send().await.expect("post").status(), 401, "revoked");
    assert_eq!(app.client.delete(app.url(&format!("/api/v1/tokens/{id}"))).send().await.expect("again").status(), 404);
    // An Operator cannot make tokens for itself.
    let r = token.post(app.url("/api/v1/tokens")).json(&json!({"name": "x", "role": "admin"})).send().await.expect("post");
    assert_eq!(r.status(), 401);
    let r = app.as_app("ci-deployer").await.post(app.url("/api/v1/tokens")).json(&json!({"name": "x", "role": "admin"})).send().await.expect("post");
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn a_browser_signs_in_gets_a_new_session_id_and_signs_out() {
    let app = spawn_app().await;
    let http = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    // Not signed in: pages send to sign-in, server functions say 401.
    let r = http.get(app.url("/registries")).send().await.expect("get");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/auth/sign-in?next=%2Fregistries");
    assert_eq!(http.post(app.url("/api/sfn/registries")).send().await.expect("post").status(), 401);

    // Reached by another name, sign-in starts over at the public URL (the
    // cookie must belong to the host the provider sends the browser back to).
    let port = app.address.rsplit(':').next().expect("port").to_string();
    let r = http.get(app.url("/auth/sign-in?next=/activity")).header("host", format!("localhost:{port}")).send().await.expect("sign-in");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"].to_str().expect("loc"), format!("{}/auth/sign-in?next=%2Factivity", app.address));
    assert!(regatlas_server::auth::client::session_cookie(&r).is_none(), "no session on the wrong host");

    // The flow, step by step.
    let r = http.get(app.url("/auth/sign-in?next=/activity")).send().await.expect("sign-in");
    let before = regatlas_server::auth::client::session_cookie(&r).expect("cookie");
    let authorize = reqwest::Url::parse(r.headers()["location"].to_str().expect("loc")).expect("url");
    let q: std::collections::HashMap<String, String> = authorize.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q.contains_key("state") && q.contains_key("nonce"));
    let page = http.get(authorize.clone()).send().await.expect("page").text().await.expect("html");
    assert!(page.contains("Oscar Operator") && page.contains("Regatlas.Operator"));
    let mut form: Vec<(String, String)> = q.clone().into_iter().collect();
    form.push(("person".into(), "1".into()));
    let mut post = authorize.clone();
    post.set_query(None);
    let r = http.post(post).form(&form).send().await.expect("choose");
    let callback = r.headers()["location"].to_str().expect("loc").to_string();
    // The callback in another browser (without the session that started it) signs nobody in.
    let r = http.get(&callback).send().await.expect("elsewhere");
    assert_eq!(r.status(), 400);
    // (The code is spent only when redeemed; this one was not.)
    let r = http.get(&callback).header("cookie", &before).send().await.expect("callback");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/activity");
    let after = regatlas_server::auth::client::session_cookie(&r).expect("renewed cookie");
    assert_ne!(before, after, "the session id changes at sign-in");
    let browser = session_client(&after);
    let page = browser.get(app.url("/registries")).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("Oscar Operator") && html.contains("data-role=\"operator\""), "the header names who signed in");
    // The old id is worth nothing.
    assert_eq!(session_client(&before).get(app.url("/registries")).send().await.expect("old").status(), 303);
    // The callback once more: the sign-in it answered is over, so it does
    // nothing (the emulator's own test shows the code is single-use too).
    let r = http.get(&callback).header("cookie", &after).send().await.expect("replay");
    assert_eq!(r.status(), 400);

    // Sign-out ends the session on the server.
    let browser = session_client(&app.sign_in("oscar@contoso.example").await);
    assert_eq!(browser.post(app.url("/api/sfn/registries")).send().await.expect("sfn").status(), 200);
    let r = browser.post(app.url("/auth/sign-out")).send().await.expect("sign out");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/auth/signed-out");
    assert_eq!(browser.post(app.url("/api/sfn/registries")).send().await.expect("sfn").status(), 401);
    assert_eq!(browser.get(app.url("/registries")).send().await.expect("page").status(), 303);
}

#[tokio::test]
async fn the_audit_names_people_and_refusals() {
    let app = spawn_app().await;
    // Someone with no role is refused, with a page that says why.
    let r = regatlas_server::auth::client::sign_in_as(&app.address, "nico@contoso.example").await;
    assert!(r.is_err(), "no session for a person without a role");
    let page = reqwest::get(app.url("/auth/refused?reason=no-role")).await.expect("page").text().await.expect("html");
    assert!(page.contains("no Regatlas role") && page.contains("Regatlas.Viewer"));

    // A Viewer's action is refused and recorded; an Operator's is done and recorded.
    let viewer = session_client(&app.sign_in("vera@contoso.example").await);
    let r = viewer.post(app.url("/api/sfn/refresh")).send().await.expect("sfn");
    assert_eq!(r.status(), 403);
    let operator = session_client(&app.sign_in("oscar@contoso.example").await);
    let r = operator.post(app.url("/api/sfn/refresh")).send().await.expect("sfn");
    assert_eq!(r.status(), 200);

    let people = app.get_json("/api/v1/people").await;
    let key = |name: &str| people.as_array().expect("people").iter().find(|p| p["name"] == name).map(|p| p["key"].as_str().unwrap_or("").to_string());
    let vera = key("Vera Viewer").expect("Vera was seen");
    assert!(key("Oscar Operator").is_some());
    let hist = app.get_json("/api/v1/history?kind=auth&limit=1000").await;
    let kinds: Vec<(String, Option<String>)> =
        hist.as_array().expect("events").iter().map(|e| (e["kind"].as_str().unwrap_or("").to_string(), e["actor"].as_str().map(str::to_string))).collect();
    assert!(kinds.iter().any(|(k, _)| k == "auth.refused"), "{kinds:?}");
    assert!(kinds.iter().any(|(k, a)| k == "auth.denied" && a.as_deref() == Some(vera.as_str())), "{kinds:?}");
    assert!(kinds.iter().filter(|(k, _)| k == "auth.sign-in").count() >= 2, "{kinds:?}");
    // Vera's own history: her sign-in and her refusal.
    let theirs = app.client.get(app.url("/api/v1/history")).query(&[("actor", vera.as_str())]).send().await.expect("get").json::<Value>().await.expect("json");
    let theirs: Vec<&str> = theirs.as_array().expect("events").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(theirs, vec!["auth.denied", "auth.sign-in"], "newest first");
}

#[tokio::test]
async fn a_force_migration_is_started_resumed_or_retried_by_an_admin_only() {
    let app = spawn_app().await;
    crate::helpers::discovered(&app).await;
    let body = json!({"source_registry": "contosowesteu", "target_registry": "contoso", "force": true, "dry_run": true});
    let r = app.as_app("ci-deployer").await.post(app.url("/api/v1/migrations")).json(&body).send().await.expect("post");
    assert_eq!(r.status(), 403, "an Operator may not plan a Force migration");
    let r = app.client.post(app.url("/api/v1/migrations")).json(&body).send().await.expect("post");
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let operator = app.as_app("ci-deployer").await;
    for action in ["start", "resume", "retry-failed"] {
        let r = operator.post(app.url(&format!("/api/v1/migrations/{id}/{action}"))).send().await.expect("post");
        assert_eq!(r.status(), 403, "{action}");
    }
    // Pausing or cancelling it stays an Operator's.
    let r = operator.post(app.url(&format!("/api/v1/migrations/{id}/cancel"))).send().await.expect("post");
    assert_ne!(r.status(), 403);
}

#[tokio::test]
async fn a_federated_credential_signs_the_console_in_to_its_identity_provider() {
    let emu = regatlas_emulator::start(regatlas_emulator::EmulatorConfig::demo()).await.expect("emulator");
    let info = emu.info();
    let dir = tempfile::tempdir().expect("tmp");
    let ca = dir.path().join("idp-ca.pem");
    std::fs::write(&ca, &info.login_certificate_pem).expect("ca");
    // The workload-identity token AKS would project for the console's pod.
    let now = chrono::Utc::now().timestamp();
    let projected = |sub: &str| {
        regatlas_emulator::entra::sign(&json!({
            "iss": info.oidc_issuer, "sub": sub, "aud": regatlas_emulator::entra::FEDERATED_AUDIENCE, "iat": now, "exp": now + 600,
        }))
        .expect("sign")
    };
    let start = |file: std::path::PathBuf| {
        let (info, ca) = (info.clone(), ca.clone());
        let emu = &emu;
        crate::helpers::spawn_app_with(move |a| {
            crate::helpers::use_emulator(a, emu);
            a.oidc_issuer = Some(info.oidc_issuer.clone());
            a.oidc_client_id = Some(info.client_id.clone());
            a.oidc_ca_file = Some(ca);
            a.oidc_federated_token_file = Some(file);
        })
    };
    let good = dir.path().join("token");
    std::fs::write(&good, projected(regatlas_emulator::entra::FEDERATED_SUBJECT)).expect("token");
    let app = start(good).await;
    let cookie = app.sign_in("ada@contoso.example").await;
    assert_eq!(session_client(&cookie).get(app.url("/registries")).send().await.expect("page").status(), 200);
    drop(app);

    // A token for another service account is no credential: nobody signs in.
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, projected("system:serviceaccount:default:other")).expect("token");
    let app = start(wrong).await;
    let refused = regatlas_server::auth::client::sign_in_as(&app.address, "ada@contoso.example").await.expect_err("refused");
    assert!(refused.contains("/auth/refused"), "{refused}");
    drop(app);
    emu.shutdown().await;
}

/// Every server function the pages call, with arguments that reach the back
/// end, and the least role it needs (as the API's walk above).
fn server_functions() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        ("registries", "", "viewer"),
        ("registry", "name=nosuchregistry", "viewer"),
        ("create_replica", "registry=nosuchregistry&region=eastus&zone_redundancy=false&routing=true", "operator"),
        ("delete_replica", "registry=nosuchregistry&region=eastus", "admin"),
        ("set_routing", "registry=nosuchregistry&region=eastus&enabled=true&force=false", "operator"),
        ("set_routing", "registry=nosuchregistry&region=eastus&enabled=false&force=true", "admin"),
        ("operations", "", "viewer"),
        ("history", "", "viewer"),
        ("people", "", "viewer"),
        ("refresh", "", "operator"),
        ("migrations", "", "viewer"),
        ("migration", "id=nosuch", "viewer"),
        ("create_migration", "request[source_registry]=nosuchsource&request[target_registry]=nosuchtarget", "operator"),
        ("create_migration", "request[source_registry]=nosuchsource&request[target_registry]=nosuchtarget&request[force]=true", "admin"),
        ("migration_action", "id=nosuch&action=pause", "operator"),
        ("tick_checklist", "id=nosuch&key=update-clients&done=true", "operator"),
        ("api_tokens", "", "admin"),
        ("create_api_token", "request[name]=walk&request[role]=viewer", "admin"),
        ("revoke_api_token", "id=nosuch", "admin"),
        ("presence", "registry=nosuchregistry&query[incomplete]=false", "viewer"),
        ("set_tracking", "registry=nosuchregistry&request[enabled]=true", "operator"),
        ("set_routing", "registry=nosuchregistry&region=eastus&enabled=true&force=true", "admin"),
        ("webhooks", "registry=nosuchregistry", "viewer"),
        ("webhook_deliveries", "registry=nosuchregistry&webhook=nosuchhook", "viewer"),
        ("ping_webhook", "registry=nosuchregistry&webhook=nosuchhook", "operator"),
        ("put_webhook", "registry=nosuchregistry&webhook=nosuchhook&request[enabled]=false", "operator"),
        ("delete_webhook", "registry=nosuchregistry&webhook=nosuchhook", "operator"),
        ("registry_settings", "registry=nosuchregistry", "viewer"),
        ("connected_registries", "registry=nosuchregistry", "viewer"),
        ("transfers", "registry=nosuchregistry", "viewer"),
        ("relocation_template", "registry=nosuchregistry", "viewer"),
        ("relocation_preview", "registry=nosuchregistry&request[target_name]=newplace&request[location]=westus", "viewer"),
        ("relocate", "registry=nosuchregistry&request[target_name]=newplace&request[location]=westus&request[confirm]=newplace", "admin"),
        ("start_transfer", "registry=nosuchregistry&request[pipeline]=nosuchpipe&request[artifacts][0]=a:1", "operator"),
        ("rerun_pipeline_run", "registry=nosuchregistry&run=nosuchrun", "operator"),
        ("delete_pipeline_run", "registry=nosuchregistry&run=nosuchrun", "operator"),
        ("put_connected_registry", "registry=nosuchregistry&name=nosuchedge&request[schedule]=x", "operator"),
        ("deactivate_connected_registry", "registry=nosuchregistry&name=nosuchedge", "admin"),
        ("doctor_fix", "registry=nosuchregistry&request[fix]=enable-data-endpoints&request[confirm]=nosuchregistry", "admin"),
    ]
}

#[tokio::test]
async fn every_server_function_by_role() {
    let app = spawn_app().await;
    let browsers = [
        ("viewer", session_client(&app.sign_in("vera@contoso.example").await)),
        ("operator", session_client(&app.sign_in("oscar@contoso.example").await)),
        ("admin", session_client(&app.sign_in("ada@contoso.example").await)),
    ];
    let nobody = reqwest::Client::builder().no_proxy().build().expect("client");
    let call = |client: &reqwest::Client, name: &str, body: &str| {
        client.post(app.url(&format!("/api/sfn/{name}"))).header("content-type", "application/x-www-form-urlencoded").body(body.to_string()).send()
    };
    for (name, body, need) in server_functions() {
        let r = call(&nobody, name, body).await.expect("call");
        assert_eq!(r.status(), 401, "{name} signed out");
        for (role, browser) in &browsers {
            let allowed = RANK.iter().position(|r| r == role) >= RANK.iter().position(|r| *r == need);
            let r = call(browser, name, body).await.expect("call");
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            if allowed {
                // It reached the back end: an answer, or the thing named is not there.
                assert!(status == 200 || status == 404, "{role} may call {name}({body}): {status} {text}");
            } else {
                assert_eq!(status, 403, "{role} may not call {name}({body}): {text}");
                assert!(text.contains("RoleRequired"), "{name}: {text}");
            }
        }
    }
}
