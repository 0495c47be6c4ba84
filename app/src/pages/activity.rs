//! The Activity page.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn ActivityPage() -> impl IntoView {
    view! {
        <Title text="Activity"/>
        <section class="page page-activity">
            <h1>"Activity"</h1>
            <p class="lede">"Every operation and state change across registries, newest first, with who asked for it."</p>
        </section>
    }
}
