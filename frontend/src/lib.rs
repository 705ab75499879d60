//! The browser half: hydrates the server-rendered page. Everything else lives in `app`.
// The release build (wasm-release: one codegen unit, LTO) computes the layout of the whole
// view tree's hydration future here, deeper than the default limit of 128.
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy: a first page on a lazily loaded route (a build, the settings) waits for its chunk.
    leptos::mount::hydrate_lazy(app::App);
}
