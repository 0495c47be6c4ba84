//! The application shell: header with product name, navigation and the
//! display-preference control; footer with data source and version.

use leptos::prelude::*;
use leptos_router::components::A;
use serde::{Deserialize, Serialize};

/// What the footer shows about the running server. Provided by the server as
/// context and carried into the page as a `SharedValue`, so that the rendered
/// HTML and the hydrated view agree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShellInfo {
    /// "emulator" or "azure".
    pub data_source: String,
    /// Human description, e.g. the ARM endpoint in use.
    pub data_source_detail: String,
    /// Regatlas version.
    pub version: String,
}

#[component]
pub fn Header() -> impl IntoView {
    // Display density is a per-browser preference handled entirely client-side.
    let (compact, set_compact) = signal(false);
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                <span class="brand-name">"Regatlas"</span>
            </a>
            <nav class="mainnav" aria-label="Main">
                <A href="/registries">"Registries"</A>
                <A href="/migrations">"Migrations"</A>
                <A href="/activity">"Activity"</A>
                {crate::me::can(crate::model::Role::Admin).then(|| view! { <A href="/tokens">"API tokens"</A> })}
            </nav>
            <crate::live::LiveIndicator/>
            <crate::me::MeBadge/>
            <button
                id="density-toggle"
                class="density-toggle"
                type="button"
                aria-pressed=move || if compact.get() { "true" } else { "false" }
                on:click=move |_| {
                    set_compact.update(|c| *c = !*c);
                    #[cfg(feature = "hydrate")]
                    {
                        if let Some(body) = document().body() {
                            let _ = body.class_list().toggle("compact");
                        }
                    }
                }
            >
                {move || if compact.get() { "Comfortable view" } else { "Compact view" }}
            </button>
        </header>
    }
}

#[component]
pub fn Footer() -> impl IntoView {
    // Rendered in place on the server from context and carried to the browser
    // inside the page, so the footer is complete without JavaScript and
    // hydration sees the same value.
    let info = leptos::server::SharedValue::new(use_context::<ShellInfo>).into_inner();
    view! {
        <footer class="footer">
            {match info {
                Some(i) => {
                    view! {
                        <span class="datasource" data-source=i.data_source.clone()>
                            "Data source: "
                            <strong>{i.data_source.clone()}</strong>
                            " · "
                            <span class="detail">{i.data_source_detail.clone()}</span>
                        </span>
                        <span class="version">"Regatlas " {i.version.clone()}</span>
                    }
                        .into_any()
                }
                None => {
                    view! { <span class="datasource error">"Data source unknown"</span> }.into_any()
                }
            }}
        </footer>
    }
}
