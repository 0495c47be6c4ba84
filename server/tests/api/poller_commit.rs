//! A poll cycle whose database write fails must leave the poller's memory
//! as it was: a later cycle that writes nothing must not mark the failed
//! rows as stored, or they would never be written.

use std::time::Duration;

use regatlas_server::{
    events::EventHub,
    poller::{Poller, PollerConfig},
    storage::Storage,
};
use serde_json::json;

#[tokio::test]
async fn a_failed_write_is_not_remembered_as_written() {
    let cfg = regatlas_emulator::EmulatorConfig::demo();
    let emu = regatlas_emulator::start(cfg).await.expect("emulator");
    let info = emu.info().clone();
    let dir = tempfile::tempdir().expect("tmp");
    let db = crate::helpers::test_database(dir.path()).await;
    let storage = Storage::open(&db.url()).await.expect("storage");
    let cred = regatlas_arm::credential::emulator(&regatlas_server::startup::emulator_login(&info)).expect("credential");
    let arm = regatlas_arm::ArmClient::new(regatlas_arm::ArmClientConfig::new(&info.arm_base_url), cred).expect("arm");
    // One attempt per ARM call, so an injected failure is a failed read at once.
    let arm = arm.with_retry(regatlas_arm::client::RetryPolicy { max_attempts: 1, ..arm.retry_policy().clone() }).expect("retry");
    let hub = EventHub::new(storage.clone(), 64);
    let poller = Poller::new(arm, storage.clone(), hub, PollerConfig { subscriptions: vec![info.subscription_id.clone()], ..PollerConfig::default() })
        .await
        .expect("poller");

    // Cycle 1: the write fails. SQLite: another connection holds the
    // database's write lock past the busy timeout. PostgreSQL: the table
    // the write needs is away (renamed) for the cycle.
    match &db {
        crate::helpers::TestDb::Sqlite(path) => {
            let locker = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.expect("locker");
            let mut lock = locker.acquire().await.expect("conn");
            sqlx::query("BEGIN EXCLUSIVE").execute(&mut *lock).await.expect("lock");
            assert!(poller.cycle(true, false).await.is_err(), "the write must fail while the database is locked");
            sqlx::query("ROLLBACK").execute(&mut *lock).await.expect("unlock");
            drop(lock);
            locker.close().await;
        }
        crate::helpers::TestDb::Postgres(url) => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
            sqlx::query("ALTER TABLE registries RENAME TO registries_away").execute(&mut c).await.expect("rename");
            assert!(poller.cycle(true, false).await.is_err(), "the write must fail while its table is away");
            sqlx::query("ALTER TABLE registries_away RENAME TO registries").execute(&mut c).await.expect("rename back");
        }
    }

    // Cycle 2: ARM reads fail, so nothing is diffed and nothing written.
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    http.put(format!("{}/faults", info.admin_url)).json(&json!({"errorRates": {"reads": 1.0}})).send().await.expect("faults");
    let _ = poller.cycle(true, false).await;

    // Cycle 3: ARM answers again; the registries must now reach the database.
    http.put(format!("{}/faults", info.admin_url)).json(&json!({"errorRates": {}})).send().await.expect("faults");
    poller.cycle(true, false).await.expect("cycle");
    let mut stored = Vec::new();
    for _ in 0..20 {
        stored = storage.topology().await.expect("topology");
        if stored.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let names: Vec<String> = stored.iter().map(|r| r.registry.name.to_string()).collect();
    assert!(names.len() >= 3, "registries lost after a failed write: {names:?}");
    storage.close().await;
    emu.shutdown().await;
}
