//! The Topology page.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn TopologyPage() -> impl IntoView {
    view! {
        <Title text="Topology"/>
        <section class="page page-topology">
            <h1>"Topology"</h1>
            <p class="lede">"Every registry's replicas on a world map: home region, replicas with their provisioning and sync state, and routing. The map arrives with the topology console; the status poller feeds it."</p>
        </section>
    }
}
