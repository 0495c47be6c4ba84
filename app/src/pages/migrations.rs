//! The Migrations page.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn MigrationsPage() -> impl IntoView {
    view! {
        <Title text="Migrations"/>
        <section class="page page-migrations">
            <h1>"Migrations"</h1>
            <p class="lede">"Relocations and consolidations of registries: inventory, plan, copy, verify and cut-over, with progress visible to the whole team."</p>
        </section>
    }
}
