//! Several instances on one PostgreSQL database.
//!
//! Every instance serves pages, the API, webhooks and live events; exactly
//! one at a time *leads*: it runs the poller, the migration drivers and
//! presence upkeep ([`leader`]). Events any instance stores reach the live
//! streams of every instance ([`relay`]). On SQLite there is one instance,
//! and it always leads.

pub mod leader;
pub mod relay;

pub use leader::{elect, LeaderSettings, Leadership};

/// This process's name among the instances (host, process id and a random
/// part): what its claims on migration items carry.
pub fn instance_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let host: String = host.trim().chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.')).take(64).collect();
        format!("{}:{}:{:08x}", if host.is_empty() { "host" } else { &host }, std::process::id(), rand::random::<u32>())
    })
}

/// Completes once `rx` holds `want` (at once if it does; also when its
/// sender is gone). Its guard is dropped inside, so the future is `Send`.
/// Wait on this, not on `changed()`: a receiver cloned from one that never
/// looked sees every earlier send as a change.
pub async fn until(rx: &mut tokio::sync::watch::Receiver<bool>, want: bool) {
    let _ = rx.wait_for(|v| *v == want).await;
}
