//! The in-process event hub and its Server-Sent Events stream.
//!
//! Every state change, operation progress and poll error is first appended
//! to the `events` table (its row id is the event id), then published once
//! on a bounded broadcast channel. A browser subscribes over SSE; after a
//! reconnect it sends `Last-Event-ID` and gets what it missed from SQLite.
//! A subscriber that falls behind the channel is resynchronised from SQLite
//! too, so a slow browser never stalls the poller (publishing never waits).
//! On PostgreSQL the hub also relays: what it stores is announced to the
//! other instances, and what they store reaches its own streams
//! ([`crate::cluster::relay`]).

use std::{convert::Infallible, time::Duration};

use axum::{
    http::HeaderMap,
    response::sse::{Event, KeepAlive, Sse},
};
use futures::stream::{Stream, StreamExt};
use regatlas_app::model::EventView;
use tokio::sync::broadcast;

use regatlas_domain::record::{Event as Stored, EventQuery, NewEvent};

use crate::storage::{Storage, StorageError};

/// Publishes events. Cheap to clone.
#[derive(Clone, Debug)]
pub struct EventHub {
    tx: broadcast::Sender<EventView>,
    storage: Storage,
    /// Turns true when the server shuts down: every SSE stream ends, so a
    /// graceful shutdown does not wait on open browsers.
    closing: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    /// Several instances on PostgreSQL: announces and receives events.
    relay: Option<crate::cluster::relay::Relay>,
}

impl EventHub {
    pub fn new(storage: Storage, capacity: usize) -> EventHub {
        let (tx, _) = broadcast::channel(capacity.max(16));
        let (closing, _) = tokio::sync::watch::channel(false);
        let relay = storage.postgres().map(crate::cluster::relay::Relay::new);
        EventHub { tx, storage, closing: std::sync::Arc::new(closing), relay }
    }

    /// On PostgreSQL: receives the events other instances store, until
    /// `stop`. Nothing to do on SQLite.
    pub fn relay_from_others(&self, stop: tokio::sync::watch::Receiver<bool>) {
        if let Some(relay) = &self.relay {
            let tx = self.tx.clone();
            crate::cluster::relay::listen(
                relay.clone(),
                self.storage.clone(),
                move |e| {
                    let _ = tx.send(crate::views::event(e));
                },
                stop,
            );
        }
    }

    /// Announces stored events to the other instances (PostgreSQL).
    fn announce(&self, ids: Vec<i64>) {
        if let Some(relay) = &self.relay {
            for id in &ids {
                relay.first_time(*id);
            }
            let relay = relay.clone();
            tokio::spawn(async move { relay.notify(&ids).await });
        }
    }

    /// Publishes events already stored (e.g. by [`Storage::apply`]).
    pub fn publish(&self, events: Vec<Stored>) {
        self.announce(events.iter().map(|e| e.id).collect());
        for e in events {
            // No receivers is fine: nobody is watching.
            let _ = self.tx.send(crate::views::event(e));
        }
    }

    /// Stores and publishes one event.
    pub async fn record(&self, e: NewEvent) -> Result<EventView, StorageError> {
        let stored = self.storage.append_event(&e).await?;
        self.announce(vec![stored.id]);
        let v = crate::views::event(stored);
        let _ = self.tx.send(v.clone());
        Ok(v)
    }

    /// The newest stored event's id.
    async fn latest_id(&self) -> Option<i64> {
        self.storage.events(&EventQuery { limit: 1, ..Default::default() }).await.ok().and_then(|v| v.first().map(|e| e.id))
    }

    /// Ends every open stream (at shutdown).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EventView> {
        self.tx.subscribe()
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }
}

/// One stored event as SSE: the id is the resume point; the type is the
/// default `message` (the kind is inside the JSON), so a browser's
/// `onmessage` sees every kind.
fn sse_event(e: &EventView) -> Event {
    Event::default().id(e.id.to_string()).data(serde_json::to_string(e).unwrap_or_default())
}

/// How often the stream says it is alive. A browser that hears nothing for
/// a few of these shows the live feed as stale.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// What one stream has sent: the highest id, and the ids sent lately.
/// Events may arrive out of id order (two tasks publishing, events relayed
/// from other instances), so a lower id than the highest is still sent if
/// it was not sent before: a high-water mark alone would drop it.
#[derive(Debug, Default)]
struct Sent {
    /// The highest id sent (the resume point at the start).
    last: Option<i64>,
    /// Nothing at or below this is sent live (the client has it).
    floor: Option<i64>,
    /// Ids sent lately (the newest [`Sent::KEEP`]).
    recent: std::collections::BTreeSet<i64>,
}

impl Sent {
    const KEEP: usize = 4096;

    fn starting_at(after: Option<i64>) -> Sent {
        Sent { last: after, floor: after, recent: Default::default() }
    }

    /// Whether `id` is still to be sent.
    fn wants(&self, id: i64) -> bool {
        if self.floor.is_some_and(|f| id <= f) || self.recent.contains(&id) {
            return false;
        }
        // Below everything remembered, with the memory full: taken as sent.
        !(self.recent.len() >= Sent::KEEP && self.recent.first().is_some_and(|min| id < *min))
    }

    fn sent(&mut self, id: i64) {
        self.last = Some(self.last.map_or(id, |l| l.max(id)));
        self.recent.insert(id);
        while self.recent.len() > Sent::KEEP {
            self.recent.pop_first();
        }
    }

    /// After a resync everything up to `latest` counts as sent.
    fn resynced(&mut self, latest: i64) {
        *self = Sent::starting_at(Some(latest));
    }
}

/// The stream behind `GET /api/v1/events`: missed events from SQLite
/// (after `Last-Event-ID` or `?after=`), then live ones. A client more than
/// `replay_max` events behind gets a `resync` message instead (reload what
/// you show) and continues live.
pub fn stream(hub: EventHub, after: Option<i64>, replay_max: i64) -> impl Stream<Item = Result<Event, Infallible>> {
    // Subscribe before reading the backlog so nothing falls in between.
    let rx = hub.subscribe();
    let resync_first = after.is_some();
    futures::stream::unfold(
        (hub, rx, Sent::starting_at(after), Vec::<EventView>::new(), true, resync_first),
        move |(hub, mut rx, mut sent, mut backlog, mut need_backlog, mut check_window)| async move {
            loop {
                if check_window {
                    check_window = false;
                    let latest = hub.latest_id().await;
                    if let (Some(a), Some(latest)) = (sent.last, latest) {
                        if latest.saturating_sub(a) > replay_max {
                            tracing::debug!(after = a, latest, "resume point outside the replay window; resync");
                            sent.resynced(latest);
                            need_backlog = false;
                            let resync = Event::default().id(latest.to_string()).data(serde_json::json!({ "kind": "resync", "latest_id": latest }).to_string());
                            return Some((Ok(resync), (hub, rx, sent, backlog, need_backlog, check_window)));
                        }
                    }
                }
                if need_backlog {
                    need_backlog = false;
                    if let Some(a) = sent.last {
                        // A little before the highest id sent: a lower id published late
                        // (and lost in a lag) is read again; `wants` skips what was sent.
                        let from = sent.recent.first().map_or(a, |low| (*low - 1).max(a.saturating_sub(256))).max(sent.floor.unwrap_or(0));
                        match hub.storage.events_after(from, 1000).await {
                            Ok(v) => {
                                if v.len() == 1000 {
                                    need_backlog = true;
                                }
                                backlog = v.into_iter().rev().map(crate::views::event).collect();
                            }
                            Err(e) => tracing::warn!(error = %e, "cannot read missed events"),
                        }
                    }
                }
                if let Some(e) = backlog.pop() {
                    if !sent.wants(e.id) {
                        continue;
                    }
                    sent.sent(e.id);
                    return Some((Ok(sse_event(&e)), (hub, rx, sent, backlog, need_backlog, check_window)));
                }
                let mut closing = hub.closing.subscribe();
                if *closing.borrow() {
                    return None;
                }
                let received = tokio::select! {
                    r = tokio::time::timeout(HEARTBEAT, rx.recv()) => r,
                    _ = closing.wait_for(|c| *c) => return None,
                };
                let received = match received {
                    Ok(r) => r,
                    Err(_) => {
                        let beat = Event::default().event("heartbeat").data(crate::storage::now());
                        return Some((Ok(beat), (hub, rx, sent, backlog, need_backlog, check_window)));
                    }
                };
                match received {
                    Ok(e) => {
                        if !sent.wants(e.id) {
                            continue;
                        }
                        sent.sent(e.id);
                        return Some((Ok(sse_event(&e)), (hub, rx, sent, backlog, need_backlog, check_window)));
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(skipped = n, "SSE subscriber lagged; resynchronising from the database");
                        if sent.last.is_none() {
                            sent.last = hub.latest_id().await.map(|id| id.saturating_sub(n as i64));
                        }
                        need_backlog = true;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    )
}

/// `Last-Event-ID` header, or `?after=`.
pub fn resume_point(headers: &HeaderMap, after: Option<i64>) -> Option<i64> {
    headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok()).or(after).map(|a| a.max(0))
}

/// SSE response: stored events, and a `heartbeat` event (no id, so it does
/// not move the resume point) after every [`HEARTBEAT`] of silence, which
/// browsers can see (unlike comment keep-alives) and use to tell a quiet
/// feed from a dead one. The stream holds `slot` (one of the capped
/// connections) until it ends.
pub fn sse(hub: EventHub, after: Option<i64>, replay_max: i64, slot: tokio::sync::OwnedSemaphorePermit) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = stream(hub, after, replay_max).map(move |e| {
        let _held = &slot;
        e
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    use super::Sent;

    #[test]
    fn a_lower_id_arriving_late_is_sent_once_and_the_resume_point_holds() {
        let mut s = Sent::starting_at(Some(10));
        assert!(!s.wants(10) && !s.wants(3), "the client has everything up to its resume point");
        assert!(s.wants(12));
        s.sent(12);
        // 11 was published after 12 (another task, another instance): still sent, once.
        assert!(s.wants(11));
        s.sent(11);
        assert!(!s.wants(11) && !s.wants(12));
        assert_eq!(s.last, Some(12), "the highest id stays the resume point");
        s.resynced(40);
        assert!(!s.wants(13) && s.wants(41));
    }

    #[test]
    fn the_memory_of_sent_ids_is_bounded() {
        let mut s = Sent::starting_at(None);
        for id in 1..=(Sent::KEEP as i64 + 100) {
            s.sent(id);
        }
        assert_eq!(s.recent.len(), Sent::KEEP);
        assert!(!s.wants(5), "below what is remembered, with the memory full: taken as sent");
        assert!(s.wants(Sent::KEEP as i64 + 101));
    }
}
