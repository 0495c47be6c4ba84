//! The Topology page: every registry's replicas, their provisioning and sync
//! state and routing, from the poller's stored picture (server-rendered, so
//! it reads without WASM). The world map and the replica actions' UI build
//! on this.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{api::list_registries, model::RegistryView};

#[component]
pub fn TopologyPage() -> impl IntoView {
    let registries = Resource::new_blocking(|| (), |_| list_registries());
    view! {
        <Title text="Topology"/>
        <section class="page page-topology">
            <h1>"Topology"</h1>
            <p class="lede">"Every registry's replicas: home region, provisioning and sync state, and whether the global endpoint routes traffic to each. The status poller keeps this current."</p>
            <Suspense fallback=|| view! { <p class="loading">"Loading registries…"</p> }>
                {move || Suspend::new(async move {
                    match registries.await {
                        Ok(list) if list.is_empty() => view! { <p class="empty">"No registries yet: the poller has not discovered any."</p> }.into_any(),
                        Ok(list) => view! { <RegistryTable registries=list/> }.into_any(),
                        Err(e) => {
                            let (code, message) = crate::api::split_error(&e);
                            view! { <p class="error" role="alert"><code>{code}</code>" "{message}</p> }.into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn RegistryTable(registries: Vec<RegistryView>) -> impl IntoView {
    view! {
        <table class="registries" aria-label="Registries and their replicas">
            <thead>
                <tr>
                    <th scope="col">"Registry"</th>
                    <th scope="col">"SKU"</th>
                    <th scope="col">"Resource group"</th>
                    <th scope="col">"Home"</th>
                    <th scope="col">"Replicas"</th>
                    <th scope="col">"Health"</th>
                    <th scope="col">"Last confirmed"</th>
                </tr>
            </thead>
            <tbody>
                {registries
                    .into_iter()
                    .filter(|r| !r.gone)
                    .map(|r| {
                        let health = r.health.as_str();
                        let replicas = r
                            .replicas
                            .iter()
                            .filter(|p| !p.gone)
                            .map(|p| {
                                let routing = match p.routing {
                                    Some(false) => " routing-off",
                                    _ => "",
                                };
                                let title = format!(
                                    "{}: {}{}{}",
                                    p.location,
                                    p.state.as_str(),
                                    if p.home { ", home" } else { "" },
                                    if p.routing == Some(false) { ", routing off" } else { "" }
                                );
                                view! {
                                    <li class=format!("replica state-{}{routing}", p.state.as_str()) title=title.clone() aria-label=title>
                                        {p.location.clone()}
                                        {p.home.then(|| view! { <span class="home-mark">" ⌂"</span> })}
                                    </li>
                                }
                                .into_any()
                            })
                            .collect_view();
                        let connected = r
                            .children
                            .iter()
                            .filter(|c| c.kind == "connected-registry" && !c.gone)
                            .map(|c| view! { <li class="connected">{format!("on-prem: {} ({})", c.name, c.state.clone().unwrap_or_default())}</li> })
                            .collect_view();
                        view! {
                            <tr data-registry=r.name.clone()>
                                <th scope="row">{r.name.clone()}</th>
                                <td>{r.sku.clone()}</td>
                                <td>{r.resource_group.clone()}</td>
                                <td>{r.location.clone()}</td>
                                <td><ul class="replicas">{replicas}{connected}</ul></td>
                                <td><span class=format!("badge health-{health}")>{health}</span>{r.poll_error.clone().map(|e| view! { <div class="poll-error">{e}</div> })}</td>
                                <td><time datetime=r.confirmed_at.clone()>{r.confirmed_at.clone()}</time></td>
                            </tr>
                        }
                        .into_any()
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
