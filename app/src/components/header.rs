//! The page header: name, server and Docker versions (a `#[server]` round trip), the viewer and
//! sign-in / sign-out, and which features wait for GitHub settings.

use leptos::prelude::*;
use leptos_router::components::A;

use sicuro_types::{ServerInfo, Viewer};

#[component]
pub fn Header(
    viewer: Resource<Result<Viewer, ServerFnError>>,
    info: Resource<Result<ServerInfo, ServerFnError>>,
) -> impl IntoView {
    view! {
        <header class="top">
            <A href="/" attr:class="brand">
                <img src="/favicon.svg" alt="" width="22" height="22"/>
                " Sicuro"
            </A>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let info = info.await.ok();
                    info.map(|i| view! { <ServerLine info=i/> })
                })}
            </Transition>
            <nav class="account" aria-label="Account">
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match viewer.await {
                            Ok(v) => view! { <Account viewer=v/> }.into_any(),
                            Err(_) => ().into_any(),
                        }
                    })}
                </Transition>
            </nav>
        </header>
    }
}

#[component]
fn ServerLine(info: ServerInfo) -> impl IntoView {
    let docker = match &info.docker {
        Ok(v) => format!("Docker {v}"),
        Err(_) => "Docker unreachable".to_string(),
    };
    let docker_ok = info.docker.is_ok();
    let missing = info.features_needing_github.clone();
    view! {
        <span class="server-info" data-testid="server-info">
            <span>{format!("v{}", info.version)}</span>
            <span class:bad=!docker_ok title=info.docker.clone().err().unwrap_or_default()>{docker}</span>
            <span>{info.database.clone()}</span>
        </span>
        {(!missing.is_empty()).then(|| view! {
            <details class="github-off">
                <summary>"Local mode"</summary>
                <p>"These need GitHub settings:"</p>
                <ul>{missing.into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
            </details>
        })}
    }
}

#[component]
fn Account(viewer: Viewer) -> impl IntoView {
    match viewer.login.clone() {
        Some(login) => view! {
            <span class="who">
                {viewer.avatar_url.clone().map(|src| view! { <img class="avatar" src=src alt="" width="20" height="20"/> })}
                <span>{login}</span>
            </span>
            <form method="post" action="/auth/signout" class="inline">
                <input type="hidden" name="csrf" value=viewer.csrf_token.clone()/>
                <button type="submit" class="link">"Sign out"</button>
            </form>
        }
        .into_any(),
        None if viewer.local_mode => view! { <span class="who">"Local mode"</span> }.into_any(),
        None => view! { <a class="button" href="/auth/github" rel="external">"Sign in with GitHub"</a> }.into_any(),
    }
}
