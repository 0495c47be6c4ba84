//! WASM entry point. The server renders every page; this crate hydrates the
//! rendered HTML so interactive controls are handled in the browser.
#![recursion_limit = "512"]

use leptos::prelude::document;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(regatlas_app::App);
    // A marker for tests and for CSS that should only apply once interactive.
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
