//! The route table: every path the server answers, in one place (the paths themselves are
//! defined once in `sicuro_types::routes`, shared with the browser).

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post, put};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use sicuro_types::routes::path;
use tower_http::set_header::SetResponseHeaderLayer;

use super::{
    AppState, api, auth, badge, csrf, events, healthz, host_check, logs, pages, session, test_reports, webhook,
};

/// The JSON API and the streams.
fn api_routes() -> Router<AppState> {
    Router::new()
        .route(path::ME, get(api::me))
        .route(path::REPOS, get(api::repos::list).post(api::repos::add))
        .route(path::REPO, get(api::repos::show))
        .route(path::REPO_BUILDS, get(api::repos::builds).post(api::repos::trigger))
        .route(path::REPO_SUBSCRIBE, post(api::repos::subscribe))
        .route(path::REPO_UNSUBSCRIBE, post(api::repos::unsubscribe))
        .route(
            path::REPO_SETTINGS,
            get(api::repos::settings).post(api::repos::update_settings),
        )
        .route(path::REPO_SECRETS, get(api::secrets::list))
        .route(path::REPO_SECRET, put(api::secrets::put).delete(api::secrets::delete))
        .route(path::REPO_SECRETS_AUDIT, get(api::secrets::audit))
        .route(path::REPO_CACHES_CLEAR, post(api::repos::clear_caches))
        .route(path::REPO_EVENTS, get(events::repo_events))
        .route(path::EVENTS, get(events::all_events))
        .route(path::BUILD, get(api::builds::show))
        .route(path::BUILD_LOG, get(logs::json))
        .route(path::BUILD_LOG_TEXT, get(logs::text))
        .route(path::BUILD_LOG_STREAM, get(logs::stream))
        .route(path::BUILD_LOG_SEARCH, get(logs::search))
        .route(path::BUILD_TESTS, get(test_reports::show))
        .route(path::BUILD_CANCEL, post(api::builds::cancel))
        .route(path::BUILD_REBUILD, post(api::builds::rebuild))
        .route(path::BUILD_APPROVE, post(api::builds::approve))
        .route(path::BUILD_DECLINE, post(api::builds::decline))
}

/// Sign-in and sign-out.
fn auth_routes() -> Router<AppState> {
    Router::new()
        .route(path::SIGN_IN, get(auth::start))
        .route(path::SIGN_IN_CALLBACK, get(auth::callback))
        .route(path::SIGN_OUT, post(auth::sign_out))
}

/// The whole application: pages, JSON API, streams, webhooks, sign-in, health and assets.
pub fn router(state: AppState) -> Router {
    let page_routes = generate_route_list(app::App);
    let page_data: app::page_data::SharedPageData = Arc::new(pages::PageSource(state.clone()));
    let context = move || provide_context(page_data.clone());
    let shell_options = state.leptos.clone();

    Router::new()
        .merge(api_routes())
        .merge(auth_routes())
        .route(path::HEALTHZ, get(healthz::healthz))
        .route(
            path::GITHUB_WEBHOOK,
            post(webhook::receive).layer(DefaultBodyLimit::max(webhook::MAX_BODY)),
        )
        .route(path::BADGE, get(badge::badge))
        .leptos_routes_with_context(&state, page_routes, context, move || app::shell(shell_options.clone()))
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(
            || {},
            app::shell,
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), csrf::protect))
        .layer(axum::middleware::from_fn_with_state(state.clone(), session::layer))
        .layer(axum::middleware::from_fn_with_state(state.clone(), host_check::check))
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
