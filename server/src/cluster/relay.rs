//! Live events across instances: each event is stored first, then its id is
//! sent with `NOTIFY regatlas_events`; every instance `LISTEN`s, reads the
//! event by id and publishes it on its own hub. Notifications sent while a
//! listener was reconnecting are lost, so after a reconnect (and every few
//! seconds, as a safety net) an instance reads the events after the newest
//! it has seen, a window back: ids are taken in one order and committed in
//! another.

use std::{
    collections::{HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use sqlx::{postgres::PgListener, PgPool};
use tokio::sync::watch;

use regatlas_domain::record::Event;

/// The channel every instance listens on.
pub const CHANNEL: &str = "regatlas_events";
/// How many recent ids an instance remembers as published (and how far
/// back a resync looks).
const REMEMBER: usize = 4096;
const RESYNC_WINDOW: i64 = 256;

/// Which events this instance has published (bounded).
#[derive(Debug, Default)]
pub struct Seen {
    ids: HashSet<i64>,
    order: VecDeque<i64>,
    newest: i64,
    /// Events up to this were stored before this instance listened: history, never published live.
    floor: i64,
}

impl Seen {
    /// Marks `id` published; `false` if it already was.
    pub fn insert(&mut self, id: i64) -> bool {
        if id <= self.floor || !self.ids.insert(id) {
            return false;
        }
        self.order.push_back(id);
        self.newest = self.newest.max(id);
        while self.order.len() > REMEMBER {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        true
    }

    pub fn newest(&self) -> i64 {
        self.newest
    }
}

/// The PostgreSQL side of a hub: sends the ids it stores, remembers what
/// it published. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Relay {
    pool: PgPool,
    pub seen: Arc<Mutex<Seen>>,
}

impl Relay {
    pub fn new(pool: PgPool) -> Relay {
        Relay { pool, seen: Arc::new(Mutex::new(Seen::default())) }
    }

    /// Whether this instance should publish `id` now (and remembers it).
    pub fn first_time(&self, id: i64) -> bool {
        self.seen.lock().map(|mut s| s.insert(id)).unwrap_or(true)
    }

    /// Tells the other instances that events are stored (after the commit).
    pub async fn notify(&self, ids: &[i64]) {
        for id in ids {
            if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(id.to_string()).execute(&self.pool).await {
                // The others catch up at their next resync.
                tracing::warn!(error = %e, id, "cannot notify the other instances of an event");
            }
        }
    }
}

/// Listens until `stop`, handing each event another instance stored to
/// `publish` (once). Reconnects by itself, and resyncs after each reconnect.
pub fn listen(relay: Relay, storage: crate::storage::Storage, publish: impl Fn(Event) + Send + Sync + 'static, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let resync = |relay: &Relay| {
            let storage = storage.clone();
            let relay = relay.clone();
            async move {
                let from = relay.seen.lock().map(|s| s.newest()).unwrap_or(0).saturating_sub(RESYNC_WINDOW).max(0);
                match storage.events_after(from, 1000).await {
                    Ok(events) => events.into_iter().filter(|e| relay.first_time(e.id)).collect::<Vec<_>>(),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot resync live events from the database");
                        Vec::new()
                    }
                }
            }
        };
        // Start from the newest stored event: what came before is history.
        if let Ok(latest) = storage.events(&regatlas_domain::record::EventQuery { limit: 1, ..Default::default() }).await {
            if let Some(e) = latest.first() {
                if let Ok(mut s) = relay.seen.lock() {
                    s.newest = s.newest.max(e.id);
                    s.floor = e.id;
                }
            }
        }
        let mut listener: Option<PgListener> = None;
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            if *stop.borrow() {
                return;
            }
            if listener.is_none() {
                match PgListener::connect_with(&relay.pool).await {
                    Ok(mut l) => match l.listen(CHANNEL).await {
                        Ok(()) => {
                            listener = Some(l);
                            for e in resync(&relay).await {
                                publish(e);
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot LISTEN for live events"),
                    },
                    Err(e) => tracing::warn!(error = %e, "cannot connect to LISTEN for live events"),
                }
                if listener.is_none() {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = crate::cluster::until(&mut stop, true) => return,
                    }
                    continue;
                }
            }
            let Some(l) = listener.as_mut() else { continue };
            tokio::select! {
                n = l.try_recv() => match n {
                    Ok(Some(n)) => {
                        // Anyone who may connect can NOTIFY: the payload is only an id to look up.
                        let Some(before) = n.payload().parse::<i64>().ok().filter(|id| *id > 0).and_then(|id| id.checked_sub(1)) else { continue };
                        let id = before + 1;
                        if relay.seen.lock().map(|s| s.ids.contains(&id) || id <= s.floor).unwrap_or(false) {
                            continue;
                        }
                        match storage.events_after(before, 1).await {
                            Ok(events) => {
                                for e in events.into_iter().filter(|e| e.id == id) {
                                    if relay.first_time(e.id) {
                                        publish(e);
                                    }
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, id, "cannot read a notified event"),
                        }
                    }
                    // The connection was lost and made again: what was sent meanwhile is gone.
                    Ok(None) => {
                        tracing::info!("live-event listener reconnected; resyncing");
                        for e in resync(&relay).await {
                            publish(e);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "live-event listener failed; connecting again");
                        listener = None;
                    }
                },
                _ = tick.tick() => {
                    for e in resync(&relay).await {
                        publish(e);
                    }
                }
                _ = crate::cluster::until(&mut stop, true) => return,
            }
        }
    });
}
