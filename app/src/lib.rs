//! Sicuro's user interface (Leptos, rendered on the server and hydrated in the browser) and the
//! types shared by the server and the browser.

pub mod ansi;
pub mod client;
pub mod components;
pub mod log_model;
#[cfg(feature = "ssr")]
pub mod page_data;
pub mod pages;
pub mod server_fns;
pub mod time;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{Lazy, path};

use components::header::Header;
use pages::{AuthErrorPage, BuildRoute, Dashboard, NotFound, RepoPage, SettingsRoute};

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The viewer (who is looking, their CSRF token), loaded once per page load.
#[derive(Clone, Copy)]
pub struct ViewerResource(pub Resource<Result<sicuro_types::Viewer, ServerFnError>>);

impl ViewerResource {
    /// The CSRF token for state-changing requests, once the viewer is known.
    pub fn csrf(&self) -> String {
        self.0
            .get_untracked()
            .and_then(|r| r.ok())
            .map(|v| v.csrf_token)
            .unwrap_or_default()
    }

    /// Who is looking, when signed in.
    pub fn login(&self) -> Option<String> {
        self.0.get_untracked().and_then(|r| r.ok()).and_then(|v| v.login)
    }
}

/// Marks the page as live once the calling component is hydrated (pages call it from the part
/// that renders their data), for people's tools and the browser tests.
pub fn mark_hydrated() {
    #[cfg(feature = "hydrate")]
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let viewer = Resource::new(|| (), |_| server_fns::get_viewer());
    provide_context(ViewerResource(viewer));
    let info = Resource::new(|| (), |_| server_fns::get_server_info());
    view! {
        <Stylesheet id="sicuro" href="/pkg/sicuro.css"/>
        <Title text="Sicuro"/>
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <Header viewer info/>
            <main id="main" tabindex="-1">
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=Dashboard/>
                    <Route path=path!("/auth/error") view=AuthErrorPage/>
                    <Route path=path!("/repos/:owner/:name") view=RepoPage/>
                    <Route path=path!("/repos/:owner/:name/builds/:number") view={Lazy::<BuildRoute>::new()}/>
                    <Route path=path!("/repos/:owner/:name/settings") view={Lazy::<SettingsRoute>::new()}/>
                </Routes>
            </main>
        </Router>
    }
}
