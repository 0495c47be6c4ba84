//! Who is acting. Until sign-in exists, each browser names its operator in
//! the header ("Acting as"); the name is kept in `localStorage` and sent with
//! every action, so the history says who did what.

use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct Actor(pub RwSignal<String>);

const KEY: &str = "regatlas.actor";

impl Actor {
    /// The name to send with an action (`None` lets the server record
    /// "anonymous").
    pub fn name(&self) -> Option<String> {
        let n = self.0.get_untracked();
        let n = n.trim();
        (!n.is_empty()).then(|| n.to_string())
    }
}

pub fn provide() -> Actor {
    let actor = Actor(RwSignal::new(String::new()));
    provide_context(actor);
    // Effects run only in the browser.
    Effect::new(move |done: Option<()>| {
        if done.is_none() {
            #[cfg(feature = "hydrate")]
            if let Some(v) = window().local_storage().ok().flatten().and_then(|s| s.get_item(KEY).ok().flatten()) {
                actor.0.set(v);
            }
        }
    });
    actor
}

pub fn use_actor() -> Actor {
    use_context::<Actor>().unwrap_or_else(provide)
}

/// The "Acting as" field in the header.
#[component]
pub fn ActorField() -> impl IntoView {
    let actor = use_actor();
    view! {
        <label class="actor">
            <span>"Acting as"</span>
            <input
                id="actor"
                type="text"
                maxlength="64"
                placeholder="your name"
                autocomplete="name"
                prop:value=move || actor.0.get()
                on:input=move |ev| {
                    let v = event_target_value(&ev);
                    actor.0.set(v.clone());
                    #[cfg(feature = "hydrate")]
                    if let Some(s) = window().local_storage().ok().flatten() {
                        let _ = s.set_item(KEY, v.trim());
                    }
                    #[cfg(not(feature = "hydrate"))]
                    let _ = (v, KEY);
                }
            />
        </label>
    }
}
