//! The registry topology page (`/registries/{name}`): the world map, the
//! same replicas as a table (for keyboard and screen-reader users), and the
//! side panel for the region in `?region=` (so a selection is a link, and
//! the panel renders on the server too).

pub mod connected;
pub mod geo;
pub mod map;
pub mod panel;
pub mod presence;
pub mod relocate;
pub mod settings;
pub mod transfer;
pub mod webhooks;

use crate::Erase;
use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_params_map, use_query_map},
    NavigateOptions,
};

use crate::{
    api::{get_registry, list_operations, split_error},
    live::use_live,
    model::RegistryView,
    regions,
    time::ago,
};

/// A refusal or failure as its code and message (text only).
pub(crate) fn error_view(code: String, message: String) -> impl IntoView {
    view! { <p class="error" role="alert"><code class="error-code">{code}</code>" "{message}</p> }
}

/// Registries / {name} / {page}: the trail of a registry's sub-page.
#[component]
pub(crate) fn Crumbs(name: Memo<String>, page: &'static str) -> impl IntoView {
    view! {
        <p class="crumbs"><A href="/registries">"Registries"</A>" / "<A href=move || format!("/registries/{}", name.get())>{name}</A>" / "<span>{page}</span></p>
    }
}

#[component]
pub fn RegistryPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let live = use_live();
    let name = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    let selected = Memo::new(move |_| query.read().get("region").filter(|r| !r.is_empty()).map(|r| r.to_ascii_lowercase()));
    let registry = Resource::new_blocking(move || (name.get(), live.version.get()), |(n, _)| get_registry(n));
    let operations = Resource::new_blocking(move || (name.get(), live.version.get()), |(n, _)| list_operations(Some(n), None, None));
    let history = panel::history_resource(name, live.version);
    let reg = Memo::new(move |_| registry.get().and_then(Result::ok));
    let ops = Memo::new(move |_| operations.get().and_then(Result::ok).unwrap_or_default());
    let pending = RwSignal::new(Vec::<String>::new());
    // Forget this browser's own pending marks once the poller sees the replica.
    // Effects run only in the browser.
    Effect::new(move |_| {
        reg.with(|r| {
            if let Some(r) = r {
                if pending.with_untracked(|p| p.iter().any(|x| r.replica_in(x).is_some())) {
                    pending.update(|p| p.retain(|x| r.replica_in(x).is_none()));
                }
            }
        })
    });
    let navigate = use_navigate();
    let on_select = Callback::new(move |region: String| {
        navigate(&format!("?region={region}"), NavigateOptions { scroll: false, ..Default::default() });
    });

    view! {
        // A plain string: a reactive title can outlive the page's owner on
        // the server under load (leptos_meta reads it after rendering).
        <Title text=name.get_untracked()/>
        <section class="page page-registry">
            <p class="crumbs"><A href="/registries">"Registries"</A>" / "<span>{name}</span>
                " · "<A href=move || format!("/registries/{}/presence", name.get()) attr:id="presence-link">"Presence and lag"</A>
                " · "<A href=move || format!("/registries/{}/webhooks", name.get()) attr:id="webhooks-link">"Webhooks"</A>
                " · "<A href=move || format!("/registries/{}/settings", name.get()) attr:id="settings-link">"Settings and doctor"</A>
                " · "<A href=move || format!("/registries/{}/connected", name.get()) attr:id="connected-link">"Connected registries"</A>
                " · "<A href=move || format!("/registries/{}/transfer", name.get()) attr:id="transfer-link">"Transfer"</A>
                " · "<A href=move || format!("/registries/{}/relocate", name.get()) attr:id="relocate-link">"Relocate"</A></p>
            <Transition fallback=|| view! { <p class="loading">"Loading the registry…"</p> }>
                // Awaiting the resources makes the server render the page in
                // place (readable without JavaScript) instead of streaming
                // it; the views below follow the resources reactively, so a
                // live update never rebuilds the map.
                {move || Suspend::new(async move {
                    let _ = (registry.await, operations.await, history.await);
                })}
                {move || registry.get().map(|r| match r {
                    Ok(_) => Either::Left(view! { <Summary reg/> }),
                    Err(e) => {
                        let (code, message) = split_error(&e);
                        Either::Right(view! { <p class="error" role="alert"><code class="error-code">{code}</code>" "{message}</p> })
                    }
                })}
                <div class="topology-layout" class:hidden=move || reg.with(Option::is_none)>
                    <div class="map-column">
                        <map::WorldMap reg ops pending selected on_select/>
                        <map::Legend/>
                        <ReplicaTable reg/>
                    </div>
                    <panel::Panel name reg ops selected pending history/>
                </div>
            </Transition>
        </section>
    }
    .erased()
}

#[component]
fn Summary(reg: Memo<Option<RegistryView>>) -> impl IntoView {
    let live = use_live();
    move || {
        reg.with(|r| {
            r.as_ref().map(|r| {
                let confirmed = r.confirmed_at.clone();
                view! {
                    <header class="registry-head" data-registry=r.name.clone()>
                        <h1>{r.name.clone()}</h1>
                        <span class=format!("badge health-{}", r.health.as_str())>{r.health.as_str()}</span>
                        <dl class="facts inline">
                            <dt>"SKU"</dt><dd>{r.sku.clone()}</dd>
                            <dt>"Home"</dt><dd>{r.location.clone()}</dd>
                            <dt>"Resource group"</dt><dd>{r.resource_group.clone()}</dd>
                            <dt>"Subscription"</dt><dd>{r.subscription_id.clone()}</dd>
                            <dt>"Login server"</dt><dd>{r.login_server.clone().unwrap_or_default()}</dd>
                            <dt>"Last poll"</dt><dd>{move || ago(&confirmed, live.now.get())}</dd>
                        </dl>
                        {r.poll_error.clone().map(|e| view! { <p class="poll-error" role="alert">{e}</p> })}
                    </header>
                }
            })
        })
    }
}

/// The replicas as a table: the same information as the map, reachable by
/// keyboard and screen readers, and by links without JavaScript.
#[component]
fn ReplicaTable(reg: Memo<Option<RegistryView>>) -> impl IntoView {
    let live = use_live();
    let rows = move || {
        reg.with(|r| {
            let Some(r) = r else { return Vec::new() };
            r.replicas
                .iter()
                .filter(|p| !p.gone)
                .map(|p| {
                    let display = regions::find(&p.location).map(|x| x.display_name.clone()).unwrap_or_else(|| p.location.clone());
                    let routing = match p.routing {
                        Some(true) => "on",
                        Some(false) => "off",
                        None => "unknown",
                    };
                    let confirmed = p.confirmed_at.clone();
                    view! {
                        <tr data-replica=p.location.clone()>
                            <th scope="row"><A href=format!("?region={}", p.location)>{display}</A>{p.home.then_some(" (home)")}</th>
                            <td><span class=format!("replica state-{}", p.state.as_str())>{p.state.as_str()}</span></td>
                            <td class=format!("routing routing-{routing}")>{routing}</td>
                            <td>{if p.zone_redundancy { "yes" } else { "no" }}</td>
                            <td class="status-message">{p.status_message.clone().unwrap_or_default()}</td>
                            <td>{move || ago(&confirmed, live.now.get())}</td>
                        </tr>
                    }
                    .erased()
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <table class="replica-table" aria-label="Replicas">
            <thead><tr><th scope="col">"Region"</th><th scope="col">"State"</th><th scope="col">"Routing"</th><th scope="col">"Zones"</th><th scope="col">"Message"</th><th scope="col">"Confirmed"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .erased()
}
