//! The route table: every path the server answers, in one place (the paths themselves are
//! defined once in `sicuro_types::routes`, shared with the browser).

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::routing::{MethodRouter, get, post, put};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use sicuro_types::routes::path;
use tower_http::set_header::SetResponseHeaderLayer;

use super::{
    AppState, api, auth, badge, csrf, events, healthz, host_check, logs, pages, session, test_reports, webhook,
};

/// A route table that remembers what it routes, so tests can enumerate every route (a route
/// added here without a row in the authorization matrix fails that test).
struct Table {
    router: Router<AppState>,
    listed: Vec<Listed>,
}

/// One routed path and the methods it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listed {
    pub path: &'static str,
    pub methods: &'static [&'static str],
}

impl Table {
    fn new() -> Self {
        Self {
            router: Router::new(),
            listed: Vec::new(),
        }
    }

    fn at(mut self, path: &'static str, methods: &'static [&'static str], route: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, route);
        self.listed.push(Listed { path, methods });
        self
    }
}

/// The JSON API, the streams, sign-in, the webhook receiver, the badge and the health check.
fn table() -> Table {
    Table::new()
        .at(path::ME, &["GET"], get(api::me))
        .at(
            path::REPOS,
            &["GET", "POST"],
            get(api::repos::list).post(api::repos::add),
        )
        .at(path::REPO, &["GET"], get(api::repos::show))
        .at(
            path::REPO_BUILDS,
            &["GET", "POST"],
            get(api::repos::builds).post(api::repos::trigger),
        )
        .at(path::REPO_SUBSCRIBE, &["POST"], post(api::repos::subscribe))
        .at(path::REPO_UNSUBSCRIBE, &["POST"], post(api::repos::unsubscribe))
        .at(
            path::REPO_SETTINGS,
            &["GET", "POST"],
            get(api::repos::settings).post(api::repos::update_settings),
        )
        .at(path::REPO_SECRETS, &["GET"], get(api::secrets::list))
        .at(
            path::REPO_SECRET,
            &["PUT", "DELETE"],
            put(api::secrets::put).delete(api::secrets::delete),
        )
        .at(path::REPO_SECRETS_AUDIT, &["GET"], get(api::secrets::audit))
        .at(path::REPO_CACHES_CLEAR, &["POST"], post(api::repos::clear_caches))
        .at(path::REPO_EVENTS, &["GET"], get(events::repo_events))
        .at(path::EVENTS, &["GET"], get(events::all_events))
        .at(path::BUILD, &["GET"], get(api::builds::show))
        .at(path::BUILD_LOG, &["GET"], get(logs::json))
        .at(path::BUILD_LOG_TEXT, &["GET"], get(logs::text))
        .at(path::BUILD_LOG_STREAM, &["GET"], get(logs::stream))
        .at(path::BUILD_LOG_SEARCH, &["GET"], get(logs::search))
        .at(path::BUILD_TESTS, &["GET"], get(test_reports::show))
        .at(path::BUILD_CANCEL, &["POST"], post(api::builds::cancel))
        .at(path::BUILD_REBUILD, &["POST"], post(api::builds::rebuild))
        .at(path::BUILD_APPROVE, &["POST"], post(api::builds::approve))
        .at(path::BUILD_DECLINE, &["POST"], post(api::builds::decline))
        .at(path::SIGN_IN, &["GET"], get(auth::start))
        .at(path::SIGN_IN_CALLBACK, &["GET"], get(auth::callback))
        .at(path::SIGN_OUT, &["POST"], post(auth::sign_out))
        .at(path::HEALTHZ, &["GET"], get(healthz::healthz))
        .at(
            path::GITHUB_WEBHOOK,
            &["POST"],
            post(webhook::receive).layer(DefaultBodyLimit::max(webhook::MAX_BODY)),
        )
        .at(path::BADGE, &["GET"], get(badge::badge))
}

/// Every route of the table (the pages and the pages' server functions come from Leptos).
pub fn listed() -> Vec<Listed> {
    table().listed
}

/// The whole application: pages, JSON API, streams, webhooks, sign-in, health and assets.
pub fn router(state: AppState) -> Router {
    let page_routes = generate_route_list(app::App);
    let page_data: app::page_data::SharedPageData = Arc::new(pages::PageSource(state.clone()));
    let context = move || provide_context(page_data.clone());
    let shell_options = state.leptos.clone();

    table()
        .router
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
