//! The real server over HTTP: health, readiness, the rendered shell.

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let r = app.client.get(format!("{}/healthz", app.address)).send().await.expect("request");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_checks_the_database_and_the_bundle() {
    let app = spawn_app().await;
    let r = app.client.get(format!("{}/readyz", app.address)).send().await.expect("request");
    let status = r.status();
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["checks"]["database"]["ok"], true, "{body}");
    // The test command builds the front end first; without it readiness must say so.
    let bundle = crate::helpers::site_root().join("pkg/regatlas.js").is_file();
    assert_eq!(body["checks"]["assets"]["ok"], bundle, "{body}");
    assert_eq!(status == 200, bundle, "{body}");
}

#[tokio::test]
async fn the_database_file_is_created_in_wal_mode_with_migrations() {
    let app = spawn_app().await;
    use regatlas_server::storage::Store as _;
    match &app.db {
        crate::helpers::TestDb::Sqlite(path) => {
            assert!(path.is_file(), "database file created");
            let storage = regatlas_server::storage::SqliteStore::open(&format!("sqlite://{}", path.display())).await.expect("reopen");
            assert_eq!(storage.journal_mode().await.expect("pragma"), "wal");
            assert!(storage.schema_version().await.expect("version") >= 20261122000001);
        }
        crate::helpers::TestDb::Postgres(url) => {
            let storage = regatlas_server::storage::PgStore::open(url).await.expect("reopen");
            assert!(storage.schema_version().await.expect("version") >= 20261127000001);
        }
    }
}

#[tokio::test]
async fn pages_render_the_shell_on_the_server() {
    let app = spawn_app().await;
    let browser = app.browser().await;
    for path in ["/", "/registries", "/topology", "/migrations", "/activity"] {
        let r = browser.get(format!("{}{path}", app.address)).send().await.expect("request");
        assert_eq!(r.status(), 200, "{path}");
        let html = r.text().await.expect("text");
        assert!(html.contains("Regatlas"), "{path}: product name");
        for nav in ["href=\"/registries\"", "href=\"/migrations\"", "href=\"/activity\""] {
            assert!(html.contains(nav), "{path}: nav link {nav}");
        }
        assert!(html.contains("Data source:"), "{path}: footer data source");
        assert!(html.contains("emulator"), "{path}: footer names the emulator");
        assert!(html.contains(env!("CARGO_PKG_VERSION")), "{path}: footer version");
        assert!(html.contains("/pkg/regatlas.js"), "{path}: hydration script");
    }
}

#[tokio::test]
async fn an_unknown_page_is_a_404_with_the_shell() {
    let app = spawn_app().await;
    let browser = app.browser().await;
    let r = browser.get(format!("{}/no-such-page", app.address)).send().await.expect("request");
    assert_eq!(r.status(), 404);
    assert!(r.text().await.expect("text").contains("Page not found"));
}

#[tokio::test]
async fn responses_are_compressed_when_asked() {
    let app = spawn_app().await;
    let browser = app.browser().await;
    let r = browser.get(format!("{}/topology", app.address)).header("accept-encoding", "gzip").send().await.expect("request");
    assert_eq!(r.headers().get("content-encoding").map(|v| v.to_str().unwrap_or("")), Some("gzip"));
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = spawn_app().await;
    let browser = app.browser().await;
    let r = browser.post(format!("{}/api/sfn/any_function", app.address)).body(vec![b'x'; 2 * 1024 * 1024]).send().await.expect("request");
    assert_eq!(r.status(), 413);
}
