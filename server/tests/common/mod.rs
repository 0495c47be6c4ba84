//! `spawn_app()`: the real server on port 0 with a temporary SQLite file,
//! stopped when the returned [`TestApp`] is dropped.

#![allow(dead_code)]

use std::path::PathBuf;

use regatlas_server::{
    config::{Config, ServeArgs},
    startup::Application,
};
use tokio::sync::oneshot;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db_path: PathBuf,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The built front end, if the test command built it (`REGATLAS_SITE_ROOT`).
pub fn site_root() -> PathBuf {
    std::env::var_os("REGATLAS_SITE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/site")))
}

pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("regatlas.db");
    let args = ServeArgs {
        listen: Some("127.0.0.1:0".parse().expect("addr")),
        database: Some(db_path.to_string_lossy().to_string()),
        site_root: Some(site_root()),
        emulator_time_scale: Some(20.0),
        ..Default::default()
    };
    let config = Config::resolve(&args).expect("config");
    let app = Application::build(config).await.expect("server builds");
    let address = format!("http://{}", app.addr());
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = app.run_until(async move {
            let _ = rx.await;
        })
        .await;
    });
    TestApp {
        address,
        client: reqwest::Client::builder().no_proxy().build().expect("client"),
        db_path,
        _dir: dir,
        stop: Some(tx),
    }
}
