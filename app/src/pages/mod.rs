//! The routes' pages.

mod auth_error;
mod build;
mod dashboard;
mod repo;
mod settings;

pub use auth_error::AuthErrorPage;
pub use build::BuildRoute;
pub use dashboard::Dashboard;
pub use repo::RepoPage;
pub use settings::SettingsRoute;

use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn NotFound() -> impl IntoView {
    crate::mark_hydrated();
    #[cfg(feature = "ssr")]
    if let Some(r) = use_context::<leptos_axum::ResponseOptions>() {
        r.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <h1>"Not found"</h1>
        <p>"There is nothing here. "<A href="/">"Back to the repositories"</A></p>
    }
}
