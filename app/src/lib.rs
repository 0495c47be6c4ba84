//! The Regatlas Leptos application: the shell (header, navigation, footer),
//! one module per page under [`pages`], and the server functions they call.
//!
//! Compiled twice: with `ssr` into the server binary (renders every page) and
//! with `hydrate` into the WASM bundle (takes over the rendered HTML).
#![recursion_limit = "512"]

pub mod api;
pub mod live;
pub mod me;
pub mod model;
pub mod pages;
pub mod regions;
pub mod shell;
pub mod time;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

pub use shell::ShellInfo;

/// Type erasure for big views, on the server only. SSR needs it (deeply
/// nested view types overflow the compiler's query depth); in the browser an
/// `AnyView`'s vtable would keep every view's async-hydration code alive and
/// roughly double the WASM bundle, so there the concrete type stays.
pub trait Erase: Sized {
    type Out;
    fn erased(self) -> Self::Out;
}

#[cfg(feature = "ssr")]
impl<T: leptos::tachys::view::any_view::IntoAny> Erase for T {
    type Out = AnyView;
    fn erased(self) -> AnyView {
        self.into_any()
    }
}

#[cfg(not(feature = "ssr"))]
impl<T> Erase for T {
    type Out = T;
    fn erased(self) -> T {
        self
    }
}

/// The Content-Security-Policy nonce of one response, set by the server's
/// request guard; the hydration script carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CspNonce(pub String);

/// The HTML document around the application. Only used on the server.
pub fn shell_document(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(n) = use_context::<http::request::Parts>().and_then(|p| p.extensions.get::<CspNonce>().cloned()) {
        provide_context(leptos::nonce::Nonce::from_value(n.0));
    }
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <leptos_meta::MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The application root: shell plus routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    live::provide();
    me::provide();
    view! {
        <Stylesheet id="regatlas" href="/pkg/regatlas.css"/>
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
        <Meta name="description" content="Regatlas: Azure Container Registry geo-replication and migration console"/>
        <Title formatter=|page: String| if page.is_empty() { "Regatlas".to_string() } else { format!("{page} · Regatlas") }/>
        <Router>
            <shell::Header/>
            <main id="main" class="content">
                <Routes fallback=|| view! { <pages::NotFound/> }>
                    <Route path=path!("") view=pages::registries::RegistriesPage ssr=SsrMode::Async/>
                    <Route path=path!("/registries") view=pages::registries::RegistriesPage ssr=SsrMode::Async/>
                    <Route path=path!("/topology") view=pages::registries::RegistriesPage ssr=SsrMode::Async/>
                    <Route path=path!("/registries/:name") view=pages::registry::RegistryPage ssr=SsrMode::Async/>
                    <Route path=path!("/registries/:name/presence") view=pages::registry::presence::PresencePage ssr=SsrMode::Async/>
                    <Route path=path!("/registries/:name/webhooks") view=pages::registry::webhooks::WebhooksPage ssr=SsrMode::Async/>
                    <Route path=path!("/registries/:name/settings") view=pages::registry::settings::SettingsPage ssr=SsrMode::Async/>
                    <Route path=path!("/registries/:name/connected") view=pages::registry::connected::ConnectedPage ssr=SsrMode::Async/>
                    <Route path=path!("/registries/:name/transfer") view=pages::registry::transfer::TransferPage ssr=SsrMode::Async/>
                    <Route path=path!("/registries/:name/relocate") view=pages::registry::relocate::RelocatePage ssr=SsrMode::Async/>
                    <Route path=path!("/migrations") view=pages::migrations::MigrationsPage ssr=SsrMode::Async/>
                    <Route path=path!("/migrations/:id") view=pages::migration::MigrationPage ssr=SsrMode::Async/>
                    <Route path=path!("/activity") view=pages::activity::ActivityPage ssr=SsrMode::Async/>
                    <Route path=path!("/tokens") view=pages::tokens::TokensPage ssr=SsrMode::Async/>
                </Routes>
            </main>
            <shell::Footer/>
        </Router>
    }
}
