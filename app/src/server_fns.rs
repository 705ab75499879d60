//! Reads for the pages. They are GET requests (no state changes), served by `PageData`;
//! state changes go through the JSON API with a CSRF token (see `client`).

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

use sicuro_types::{BuildDetail, BuildPage, RepoSummary, ServerInfo, SettingsPage, Viewer};

#[cfg(feature = "ssr")]
async fn page_data() -> Result<(crate::page_data::SharedPageData, crate::page_data::Parts), ServerFnError> {
    let data = use_context::<crate::page_data::SharedPageData>()
        .ok_or_else(|| ServerFnError::new("the server is not set up (no page data in context)"))?;
    let parts = use_context::<crate::page_data::Parts>().ok_or_else(|| ServerFnError::new("no request in context"))?;
    Ok((data, parts))
}

#[cfg(feature = "ssr")]
fn to_error(e: crate::page_data::PageError) -> ServerFnError {
    if matches!(e, crate::page_data::PageError::NotFound(_)) {
        if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
            opts.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    ServerFnError::new(e.to_string())
}

#[server(input = GetUrl, prefix = "/api/fn")]
pub async fn get_server_info() -> Result<ServerInfo, ServerFnError> {
    let (b, _) = page_data().await?;
    Ok(b.server_info().await)
}

#[server(input = GetUrl, prefix = "/api/fn")]
pub async fn get_viewer() -> Result<Viewer, ServerFnError> {
    let (b, parts) = page_data().await?;
    Ok(b.viewer(&parts).await)
}

#[server(input = GetUrl, prefix = "/api/fn")]
pub async fn get_repos() -> Result<Vec<RepoSummary>, ServerFnError> {
    let (b, parts) = page_data().await?;
    b.repos(&parts).await.map_err(to_error)
}

#[server(input = GetUrl, prefix = "/api/fn")]
pub async fn get_repo_builds(owner: String, name: String, page: i64) -> Result<BuildPage, ServerFnError> {
    let (b, parts) = page_data().await?;
    b.builds(&parts, &owner, &name, page).await.map_err(to_error)
}

#[server(input = GetUrl, prefix = "/api/fn")]
pub async fn get_build(owner: String, name: String, number: i64) -> Result<BuildDetail, ServerFnError> {
    let (b, parts) = page_data().await?;
    b.build(&parts, &owner, &name, number).await.map_err(to_error)
}

#[server(input = GetUrl, prefix = "/api/fn")]
pub async fn get_repo_settings(owner: String, name: String) -> Result<SettingsPage, ServerFnError> {
    let (b, parts) = page_data().await?;
    b.settings(&parts, &owner, &name).await.map_err(to_error)
}
