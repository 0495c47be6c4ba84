//! One module per page. Each page is rendered on the server and hydrated.

pub mod activity;
pub mod migration;
pub mod migrations;
pub mod registries;
pub mod registry;
pub mod tokens;

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <Title text="Not found"/>
        <h1>"Page not found"</h1>
        <p>"There is no page at this address. Use the navigation above."</p>
    }
}
