//! The web app: people (sign-in, pages, live streams) and the forge (webhooks in). It turns
//! requests into build requests for the engine and the engine's changes into pages and streams.

pub mod access;
pub mod api;
pub mod auth;
pub mod backend;
pub mod badge;
pub mod csrf;
pub mod events;
pub mod healthz;
pub mod logs;
pub mod session;
pub mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::http::{HeaderValue, header};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::Config;
use crate::crypto::Keys;
use crate::db::Db;
use crate::engine::Engine;
use crate::github::Github;

/// Everything a handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub engine: Engine,
    pub keys: Arc<Keys>,
    /// `None` in local mode (no GitHub settings).
    pub github: Option<Arc<Github>>,
    pub access: Arc<access::PermissionCache>,
    pub leptos: LeptosOptions,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos.clone()
    }
}

impl FromRef<AppState> for axum_extra::extract::cookie::Key {
    fn from_ref(s: &AppState) -> Self {
        s.keys.cookie_key()
    }
}

/// The whole application: pages, JSON API, streams, webhooks, sign-in, health and assets.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let backend: app::backend::SharedBackend = Arc::new(backend::PageBackend(state.clone()));
    let context = move || provide_context(backend.clone());
    let shell_options = state.leptos.clone();

    Router::new()
        .merge(api::routes())
        .merge(auth::routes())
        .route("/healthz", axum::routing::get(healthz::healthz))
        .route(
            "/hooks/github",
            axum::routing::post(webhook::receive).layer(axum::extract::DefaultBodyLimit::max(webhook::MAX_BODY)),
        )
        .route("/badge/{owner}/{repo}", axum::routing::get(badge::badge))
        .leptos_routes_with_context(&state, routes, context, move || app::shell(shell_options.clone()))
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(
            || {},
            app::shell,
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), csrf::protect))
        .layer(axum::middleware::from_fn_with_state(state.clone(), session::layer))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
