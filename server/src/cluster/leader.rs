//! Leader election with a PostgreSQL session advisory lock.
//!
//! Each instance keeps one dedicated connection (outside the pool) and
//! tries `pg_try_advisory_lock` on it every [`LeaderSettings::every`]. The
//! instance that gets it leads for as long as that session lives: every
//! `every` it proves the session with a round trip, and a round trip that
//! fails or takes longer than [`LeaderSettings::timeout`] makes it step
//! down at once (and drop the connection, which releases the lock if the
//! server still had it). A leader that dies (SIGKILL, a lost host) loses
//! its session, so PostgreSQL releases the lock and a follower takes it at
//! its next try. A new leader waits [`LeaderSettings::settle`] before it
//! acts, so that a leader which lost its session without knowing it yet has
//! stepped down by then.

use std::{sync::Arc, time::Duration};

use sqlx::{postgres::PgConnectOptions, Connection, PgConnection};
use tokio::sync::watch;

/// The advisory lock every instance of one database contends for.
pub const LEADER_KEY: i64 = 0x5247_4154_4c41_5301;

#[derive(Clone, Copy, Debug)]
pub struct LeaderSettings {
    /// How often a follower tries the lock, and the leader proves its session.
    pub every: Duration,
    /// A round trip slower than this counts as a lost session.
    pub timeout: Duration,
}

impl Default for LeaderSettings {
    fn default() -> LeaderSettings {
        LeaderSettings { every: Duration::from_secs(1), timeout: Duration::from_secs(2) }
    }
}

impl LeaderSettings {
    /// How long a new leader waits before acting: the longest a previous
    /// leader can go on without noticing that its session is gone, and a
    /// second more for its tasks to see it stand down.
    pub fn settle(&self) -> Duration {
        self.every + self.timeout + Duration::from_secs(1)
    }
}

/// The election session's keepalives, so that the server notices a leader
/// whose host or network is gone (and frees the lock) within seconds rather
/// than at the operating system's TCP timeout (hours).
fn with_keepalives(options: PgConnectOptions) -> PgConnectOptions {
    options.options([("tcp_keepalives_idle", "5"), ("tcp_keepalives_interval", "2"), ("tcp_keepalives_count", "3"), ("tcp_user_timeout", "10000")])
}

/// For a process that drives migrations by itself (`regatlas migrate` on
/// PostgreSQL): the leadership's lock, held on the returned session for as
/// long as it lives; `None` when an instance leads already.
pub async fn lead_alone(options: &PgConnectOptions) -> Result<Option<PgConnection>, sqlx::Error> {
    let mut c = PgConnection::connect_with(&with_keepalives(options.clone())).await?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(LEADER_KEY).fetch_one(&mut c).await?;
    Ok(got.then_some(c))
}

/// Whether this instance leads. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Leadership {
    rx: watch::Receiver<bool>,
    /// Keeps a sole instance's channel open.
    _sole: Option<Arc<watch::Sender<bool>>>,
}

impl Leadership {
    /// The only instance (SQLite): it always leads.
    pub fn sole() -> Leadership {
        let (tx, rx) = watch::channel(true);
        Leadership { rx, _sole: Some(Arc::new(tx)) }
    }

    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// Changes of leadership (true while leading).
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }
}

/// One try: the lock when following, a round trip when leading.
async fn step(conn: &mut Option<PgConnection>, options: &PgConnectOptions, leading: bool) -> Result<bool, sqlx::Error> {
    if conn.is_none() {
        *conn = Some(PgConnection::connect_with(options).await?);
    }
    let Some(c) = conn.as_mut() else { return Ok(false) };
    if leading {
        sqlx::query("SELECT 1").execute(&mut *c).await?;
        Ok(true)
    } else {
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(LEADER_KEY).fetch_one(&mut *c).await
    }
}

/// Contends for the leadership until `stop`; at `stop` a leader steps down
/// and closes its session, so a follower takes over at its next try.
pub fn elect(options: PgConnectOptions, settings: LeaderSettings, mut stop: watch::Receiver<bool>) -> Leadership {
    let (tx, rx) = watch::channel(false);
    let options = with_keepalives(options);
    tokio::spawn(async move {
        let mut conn: Option<PgConnection> = None;
        let mut leading = false;
        loop {
            if *stop.borrow() {
                break;
            }
            match tokio::time::timeout(settings.timeout, step(&mut conn, &options, leading)).await {
                Ok(Ok(true)) if !leading => {
                    leading = true;
                    tracing::info!(settle_ms = settings.settle().as_millis() as u64, "this instance holds the leadership; acting once it settles");
                    tokio::select! {
                        _ = tokio::time::sleep(settings.settle()) => {}
                        _ = crate::cluster::until(&mut stop, true) => break,
                    }
                    // The session may have died while settling: prove it before acting.
                    if !matches!(tokio::time::timeout(settings.timeout, step(&mut conn, &options, true)).await, Ok(Ok(true))) {
                        tracing::warn!("the leadership's session was lost while settling");
                        leading = false;
                        conn = None;
                        continue;
                    }
                    tx.send_if_modified(|old| !std::mem::replace(old, true));
                    metrics::gauge!("regatlas_leader").set(1.0);
                    continue;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    if leading {
                        tracing::error!(error = %e, "the leadership's database session failed: stepping down");
                    } else {
                        tracing::warn!(error = %e, "cannot reach the database to contend for the leadership");
                    }
                    leading = false;
                    tx.send_if_modified(|old| std::mem::replace(old, false));
                    metrics::gauge!("regatlas_leader").set(0.0);
                    conn = None;
                }
                Err(_) => {
                    if leading {
                        tracing::error!(
                            timeout_ms = settings.timeout.as_millis() as u64,
                            "the leadership's database session did not answer in time: stepping down"
                        );
                    }
                    leading = false;
                    tx.send_if_modified(|old| std::mem::replace(old, false));
                    metrics::gauge!("regatlas_leader").set(0.0);
                    conn = None;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(settings.every) => {}
                _ = crate::cluster::until(&mut stop, true) => break,
            }
        }
        tx.send_if_modified(|old| std::mem::replace(old, false));
        metrics::gauge!("regatlas_leader").set(0.0);
        if let Some(c) = conn {
            let _ = c.close().await;
        }
        tracing::info!("left the leadership election");
    });
    Leadership { rx, _sole: None }
}

/// True while this instance must not do the leader's work: it is shutting
/// down, or it does not lead.
pub fn stand_down(leadership: &Leadership, shutdown: watch::Receiver<bool>) -> watch::Receiver<bool> {
    let mut lead = leadership.watch();
    let mut shutdown = shutdown;
    let initial = *shutdown.borrow() || !*lead.borrow();
    let (tx, rx) = watch::channel(initial);
    tokio::spawn(async move {
        loop {
            // Only a real change is sent: a receiver's `changed()` means one.
            let v = *shutdown.borrow_and_update() || !*lead.borrow_and_update();
            tx.send_if_modified(|old| std::mem::replace(old, v) != v);
            if *shutdown.borrow() {
                return;
            }
            tokio::select! {
                r = lead.changed() => if r.is_err() { tx.send_if_modified(|old| !std::mem::replace(old, true)); return; },
                // The shutdown's sender gone: shutting down.
                r = shutdown.changed() => if r.is_err() { tx.send_if_modified(|old| !std::mem::replace(old, true)); return; },
            }
        }
    });
    rx
}
