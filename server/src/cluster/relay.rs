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
/// Ids in one notification (a payload stays under PostgreSQL's 8000 bytes).
const IDS_PER_NOTIFY: usize = 400;

/// The event ids a notification carries: positive ids only, at most
/// [`IDS_PER_NOTIFY`] (anyone who may connect can `NOTIFY`: the payload is
/// only ids to look up).
fn ids_of(payload: &str) -> Vec<i64> {
    payload.split(',').take(IDS_PER_NOTIFY).filter_map(|p| p.trim().parse::<i64>().ok()).filter(|id| *id > 0).collect()
}

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

    /// Tells the other instances that events are stored (after the commit):
    /// their ids, comma-separated, a few hundred to a notification.
    pub async fn notify(&self, ids: &[i64]) {
        for chunk in ids.chunks(IDS_PER_NOTIFY) {
            let payload = chunk.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(",");
            if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(&payload).execute(&self.pool).await {
                // The others catch up at their next resync.
                tracing::warn!(error = %e, events = chunk.len(), "cannot notify the other instances of events");
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
                        let mut ids = ids_of(n.payload());
                        if let Ok(s) = relay.seen.lock() {
                            ids.retain(|id| !s.ids.contains(id) && *id > s.floor);
                        }
                        let (Some(&low), Some(&high)) = (ids.iter().min(), ids.iter().max()) else { continue };
                        // One read for the span (ids of one notification are close together).
                        let span = (high - low + 1).min(RESYNC_WINDOW * 4);
                        match storage.events_after(low - 1, span).await {
                            Ok(events) => {
                                for e in events.into_iter().filter(|e| ids.contains(&e.id)) {
                                    if relay.first_time(e.id) {
                                        publish(e);
                                    }
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, low, high, "cannot read notified events"),
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

#[cfg(test)]
mod tests {
    use super::{ids_of, IDS_PER_NOTIFY};

    #[test]
    fn a_notification_carries_positive_ids_only_and_a_bounded_number() {
        assert_eq!(ids_of("3,4, 9"), vec![3, 4, 9]);
        assert_eq!(ids_of("0,-5,x,-9223372036854775808,7"), vec![7]);
        assert!(ids_of("").is_empty());
        let many = (1..=1000).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        assert_eq!(ids_of(&many).len(), IDS_PER_NOTIFY);
        let payload = (9_000_000_000_000_000i64..).take(IDS_PER_NOTIFY).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        assert!(payload.len() < 8000, "{} bytes", payload.len());
    }
}
