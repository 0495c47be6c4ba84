//! Live updates in the browser: one `EventSource` on `/live/events` (the session's feed) per
//! page, a `version` signal that pages' resources depend on (bumped,
//! coalesced, when events arrive), a ticking clock for "… ago" labels, and
//! the connected / reconnecting / stale indicator.
//!
//! On the server nothing connects: the indicator renders as "connecting",
//! which is what a browser without JavaScript keeps showing ("live updates
//! need JavaScript" in its title).

use leptos::prelude::*;

/// The state of the live feed, as the indicator shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Connected,
    Reconnecting,
    /// Connected, but no event or heartbeat for [`STALE_AFTER_MS`].
    Stale,
}

impl Link {
    pub fn as_str(self) -> &'static str {
        match self {
            Link::Connecting => "connecting",
            Link::Connected => "connected",
            Link::Reconnecting => "reconnecting",
            Link::Stale => "stale",
        }
    }
}

/// Three missed heartbeats (the server sends one after 10 s of silence).
pub const STALE_AFTER_MS: i64 = 35_000;

/// The live context. Copyable; provided once by the application root.
#[derive(Clone, Copy)]
pub struct Live {
    /// Bumped when the server reports a change; resources refetch on it.
    pub version: RwSignal<u64>,
    pub link: RwSignal<Link>,
    /// Ticks every second in the browser (for ages and staleness).
    pub now: RwSignal<i64>,
    /// Id of the newest event seen.
    pub last_event_id: RwSignal<Option<i64>>,
}

impl Live {
    /// Refetch now (after an action of this browser's own, for instance).
    pub fn bump(&self) {
        self.version.update(|v| *v += 1);
    }
}

/// Provides the live context and, in the browser, connects it.
pub fn provide() -> Live {
    let live = Live {
        version: RwSignal::new(0),
        link: RwSignal::new(Link::Connecting),
        now: RwSignal::new(crate::time::now_ms()),
        last_event_id: RwSignal::new(None),
    };
    provide_context(live);
    // Effects run only in the browser, after hydration.
    Effect::new(move |started: Option<()>| {
        if started.is_none() {
            #[cfg(feature = "hydrate")]
            client::start(live);
        }
    });
    live
}

pub fn use_live() -> Live {
    use_context::<Live>().unwrap_or_else(provide)
}

/// The indicator in the header.
#[component]
pub fn LiveIndicator() -> impl IntoView {
    let live = use_live();
    let label = move || match live.link.get() {
        Link::Connecting => "Live: connecting",
        Link::Connected => "Live: connected",
        Link::Reconnecting => "Live: reconnecting",
        Link::Stale => "Live: stale",
    };
    view! {
        <span
            id="live-indicator"
            class=move || format!("live live-{}", live.link.get().as_str())
            data-link=move || live.link.get().as_str()
            role="status"
            aria-live="polite"
            title="Live updates from the server (they need JavaScript)"
        >
            <span class="dot" aria-hidden="true"></span>
            {label}
        </span>
    }
}

#[cfg(feature = "hydrate")]
mod client {
    use std::{cell::Cell, rc::Rc, time::Duration};

    use leptos::prelude::*;
    use wasm_bindgen::{closure::Closure, JsCast};
    use web_sys::{EventSource, MessageEvent};

    use super::{Link, Live, STALE_AFTER_MS};
    use crate::model::EventView;

    pub fn start(live: Live) {
        let last_heard = Rc::new(Cell::new(crate::time::now_ms()));
        let refetch_pending = Rc::new(Cell::new(false));
        connect(live, last_heard.clone(), refetch_pending);
        // The clock, and staleness.
        let _ = set_interval_with_handle(
            move || {
                let now = crate::time::now_ms();
                live.now.set(now);
                let link = live.link.get_untracked();
                if link == Link::Connected && now - last_heard.get() > STALE_AFTER_MS {
                    live.link.set(Link::Stale);
                }
            },
            Duration::from_secs(1),
        );
    }

    fn connect(live: Live, last_heard: Rc<Cell<i64>>, refetch_pending: Rc<Cell<bool>>) {
        let url = match live.last_event_id.get_untracked() {
            Some(id) => format!("/live/events?after={id}"),
            None => "/live/events".to_string(),
        };
        let Ok(source) = EventSource::new(&url) else {
            live.link.set(Link::Reconnecting);
            return;
        };

        let heard = last_heard.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || {
            heard.set(crate::time::now_ms());
            let was = live.link.get_untracked();
            live.link.set(Link::Connected);
            // Anything missed while away is re-read.
            if was != Link::Connecting {
                live.bump();
            }
        });
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        on_open.forget();

        let heard = last_heard.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            heard.set(crate::time::now_ms());
            if live.link.get_untracked() != Link::Connected {
                live.link.set(Link::Connected);
            }
            if let Some(text) = ev.data().as_string() {
                if let Ok(e) = serde_json::from_str::<EventView>(&text) {
                    live.last_event_id.set(Some(e.id));
                }
            }
            // Coalesce a burst of events into one refetch.
            if !refetch_pending.replace(true) {
                let pending = refetch_pending.clone();
                set_timeout(
                    move || {
                        pending.set(false);
                        live.bump();
                    },
                    Duration::from_millis(50),
                );
            }
        });
        source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();

        let heard = last_heard.clone();
        let on_heartbeat = Closure::<dyn FnMut(MessageEvent)>::new(move |_ev: MessageEvent| {
            heard.set(crate::time::now_ms());
            if live.link.get_untracked() == Link::Stale {
                live.link.set(Link::Connected);
            }
        });
        let _ = source.add_event_listener_with_callback("heartbeat", on_heartbeat.as_ref().unchecked_ref());
        on_heartbeat.forget();

        let src = source.clone();
        let on_error = Closure::<dyn FnMut()>::new(move || {
            live.link.set(Link::Reconnecting);
            // CLOSED (2): the browser gave up (e.g. the server answered with
            // an error); start a new source ourselves after a pause.
            if src.ready_state() == EventSource::CLOSED {
                let (heard, pending) = (last_heard.clone(), Rc::new(Cell::new(false)));
                set_timeout(move || connect(live, heard, pending), Duration::from_secs(3));
            }
        });
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
    }
}
