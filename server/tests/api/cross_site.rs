//! Requests sent the way a browser on another site sends them, DNS
//! rebinding, the security headers, and the server's resource limits (event
//! streams, header-read timeout, page sizes, field lengths, file modes).

use std::time::Duration;

use crate::helpers::{discovered, session_client, spawn_app, spawn_app_with};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a cross-site form post from `https://evil.example` looks like.
fn cross_site(rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    rb.header("origin", "https://evil.example").header("sec-fetch-site", "cross-site").header("sec-fetch-mode", "no-cors")
}

#[tokio::test]
async fn cross_site_requests_change_nothing() {
    let app = spawn_app().await;
    discovered(&app).await;
    let ops_before = app.get_json("/api/v1/operations").await.as_array().map(Vec::len).unwrap_or(0);
    // A signed-in Admin's browser: its session cookie goes along (SameSite=Lax
    // keeps it off cross-site POSTs in real browsers; the Origin check does not rely on that).
    let browser = session_client(&app.sign_in("ada@contoso.example").await);

    let attempts: Vec<(&str, reqwest::RequestBuilder)> = vec![
        // A cross-site HTML form posting to a server function (urlencoded).
        (
            "form to a server function",
            cross_site(browser.post(app.url("/api/sfn/delete_replica")))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("registry=contoso&region=westus&actor=x"),
        ),
        // text/plain, which needs no CORS preflight.
        (
            "text/plain to a server function",
            cross_site(browser.post(app.url("/api/sfn/set_routing")))
                .header("content-type", "text/plain")
                .body("registry=contoso&region=westus&enabled=false&force=true"),
        ),
        // The JSON API's body-less POST.
        ("body-less POST", cross_site(app.client.post(app.url("/api/v1/refresh")))),
        ("DELETE from another origin", app.client.delete(app.url("/api/v1/registries/contoso/replicas/westus")).header("origin", "https://evil.example")),
        (
            "Force migration",
            cross_site(app.client.post(app.url("/api/v1/migrations")))
                .header("content-type", "text/plain")
                .body(json!({"source_registry": "contosowesteu", "target_registry": "contoso", "force": true}).to_string()),
        ),
        // Same site but another origin (a sibling subdomain) is not the console.
        ("same-site sibling", app.client.post(app.url("/api/v1/refresh")).header("origin", "http://127.0.0.1:1").header("sec-fetch-site", "same-site")),
        ("null origin", app.client.post(app.url("/api/v1/refresh")).header("origin", "null")),
    ];
    for (what, rb) in attempts {
        let r = rb.send().await.expect("send");
        assert_eq!(r.status(), 403, "{what}");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["code"], "CrossOriginRequest", "{what}");
    }
    // Nothing was done.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ops_after = app.get_json("/api/v1/operations").await.as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(ops_before, ops_after);
    assert_eq!(app.get_json("/api/v1/migrations").await.as_array().map(Vec::len), Some(0));

    // The console's own pages (same-origin fetch) and scripts without browser headers still work.
    let r = app.client.post(app.url("/api/v1/refresh")).header("sec-fetch-site", "same-origin").header("origin", &app.address).send().await.expect("send");
    assert_eq!(r.status(), 202);
    let r = app.client.post(app.url("/api/v1/refresh")).send().await.expect("send");
    assert_eq!(r.status(), 202);
    let browser = app.browser().await;
    let r = browser
        .post(app.url("/api/sfn/registries"))
        .header("origin", &app.address)
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("send");
    assert!(r.status().is_success(), "{}", r.status());
    // Server functions are POST-only.
    let r = browser.get(app.url("/api/sfn/registries")).send().await.expect("send");
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn other_host_names_are_refused_dns_rebinding() {
    let app = spawn_app_with(|a| a.public_url = Some("https://regatlas.example.com".into())).await;
    for host in ["attacker.example", "regatlas.example.com.attacker.example", "10.0.0.7"] {
        let r = app.client.get(app.url("/registries")).header("host", host).send().await.expect("send");
        assert_eq!(r.status(), 421, "{host}");
    }
    for host in ["regatlas.example.com", "localhost"] {
        let r = app.client.get(app.url("/healthz")).header("host", host).send().await.expect("send");
        assert_eq!(r.status(), 200, "{host}");
    }
    // A browser at the public URL is same-origin; a request claiming it from elsewhere is not.
    let r = app
        .client
        .post(app.url("/api/v1/refresh"))
        .header("origin", "https://regatlas.example.com")
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 202);
    // HSTS when the public URL is https.
    let r = app.client.get(app.url("/healthz")).send().await.expect("send");
    assert!(r.headers().get("strict-transport-security").is_some());
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_pages_a_nonce() {
    let app = spawn_app().await;
    discovered(&app).await;
    let browser = app.browser().await;
    for path in ["/registries", "/api/v1/registries", "/healthz", "/pkg/regatlas.css", "/no/such/page", "/auth/signed-out", "/auth/refused"] {
        let client = if path.starts_with("/api/") { &app.client } else { &browser };
        let r = client.get(app.url(path)).send().await.expect("send");
        let h = r.headers();
        assert_eq!(h.get("x-frame-options").map(|v| v.to_str().unwrap_or("")), Some("DENY"), "{path}");
        assert_eq!(h.get("x-content-type-options").map(|v| v.to_str().unwrap_or("")), Some("nosniff"), "{path}");
        assert!(h.get("referrer-policy").is_some(), "{path}");
        let csp = h.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.split(';').any(|d| d.trim().starts_with("script-src") && d.contains("'unsafe-inline'")), "{path}: {csp}");
        assert!(h.get("strict-transport-security").is_none(), "no HSTS over plain http");
    }
    let r = browser.get(app.url("/registries")).send().await.expect("send");
    let csp = r.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let html = r.text().await.expect("html");
    let nonce = csp.split("'nonce-").nth(1).and_then(|s| s.split('\'').next()).expect("a nonce in the page's CSP");
    assert!(nonce.len() >= 16);
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the hydration script carries the nonce");
    // Every inline script carries it.
    for script in html.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap_or("");
        assert!(tag.contains(&format!("nonce=\"{nonce}\"")), "an inline script without the nonce: <script{tag}>");
    }
    // A fresh nonce per response.
    let r = browser.get(app.url("/registries")).send().await.expect("send");
    let csp2 = r.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert_ne!(csp, csp2);
}

#[tokio::test]
async fn event_streams_are_capped_and_replay_is_bounded() {
    let app = spawn_app_with(|a| {
        a.sse_max_connections = Some(2);
        a.sse_replay_max = Some(3);
    })
    .await;
    discovered(&app).await;
    // Far behind means more than 3 events after id 1: wait for them, since
    // the registries list can show before discovery has written them all.
    app.wait_until("/api/v1/history?limit=100", 30, |v| v.as_array().is_some_and(|a| a.len() >= 6)).await;
    let a = app.client.get(app.url("/api/v1/events")).send().await.expect("first");
    let b = app.client.get(app.url("/api/v1/events")).send().await.expect("second");
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let c = app.client.get(app.url("/api/v1/events")).send().await.expect("third");
    assert_eq!(c.status(), 503);
    assert!(c.headers().get("retry-after").is_some());
    drop((a, b));
    // A slot is free again once a stream ends.
    let mut again = None;
    for _ in 0..50 {
        let r = app.client.get(app.url("/api/v1/events")).header("last-event-id", "1").send().await.expect("again");
        if r.status() == 200 {
            again = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut r = again.expect("a slot came free");
    // Far behind the window (discovery wrote more than 3 events since id 1): a resync, not the whole history.
    let chunk = tokio::time::timeout(Duration::from_secs(5), r.chunk()).await.expect("in time").expect("chunk").expect("data");
    let text = String::from_utf8_lossy(&chunk).to_string();
    assert!(text.contains("\"kind\":\"resync\""), "{text}");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let app = spawn_app_with(|a| a.header_read_timeout_secs = Some(1)).await;
    let addr = app.address.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.expect("write");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closed the connection");
    // A client that connects and says nothing at all is cut off too.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closed the silent connection");
    // The server still serves.
    let r = app.client.get(app.url("/healthz")).send().await.expect("healthz");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn lists_page_with_cursors_and_inputs_are_bounded() {
    let app = spawn_app().await;
    discovered(&app).await;
    // Registries one per page, following Link headers to the end.
    let mut url = app.url("/api/v1/registries?limit=1");
    let mut names = Vec::new();
    for _ in 0..10 {
        let r = app.client.get(&url).send().await.expect("page");
        let link = r.headers().get("link").and_then(|v| v.to_str().ok()).map(str::to_string);
        let v: Value = r.json().await.expect("json");
        names.extend(v.as_array().expect("array").iter().filter_map(|r| r["name"].as_str().map(str::to_string)));
        match link {
            Some(l) => url = app.url(l.trim_start_matches('<').split('>').next().expect("target")),
            None => break,
        }
    }
    assert!(names.len() >= 3, "{names:?}");
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "each registry once, in order");
    for path in [
        "/api/v1/operations?limit=5000",
        "/api/v1/history?limit=0",
        "/api/v1/migrations?cursor=not-a-cursor",
        "/api/v1/operations?state=bogus",
        "/api/v1/operations?kind=replica.explode",
    ] {
        let r = app.client.get(app.url(path)).send().await.expect("send");
        assert_eq!(r.status(), 400, "{path}");
    }
    // Field lengths and log forging.
    let long = "x".repeat(400);
    let r = app.client.get(app.url(&format!("/api/v1/registries/{long}"))).send().await.expect("send");
    assert_eq!(r.status(), 400);
    let r = app
        .client
        .post(app.url("/api/v1/refresh"))
        .header("x-regatlas-actor", "alice")
        .query(&[("actor", "eve\n2026-11-23T00:00:00Z INFO forged line")])
        .send()
        .await
        .expect("send");
    // A self-declared actor is ignored: the caller is who its token says.
    assert_eq!(r.status(), 202);
    let r = app
        .client
        .post(app.url("/api/v1/registries/contoso/replicas"))
        .json(&json!({"region": "r".repeat(100), "zone_redundancy": false, "routing": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_and_its_wal_are_the_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    discovered(&app).await;
    // A SQLite file only: PostgreSQL keeps its own files.
    let crate::helpers::TestDb::Sqlite(db_path) = &app.db else { return };
    for suffix in ["", "-wal"] {
        let p = format!("{}{suffix}", db_path.display());
        let mode = std::fs::metadata(&p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{p}");
    }
}
