//! The dashboard: the viewer's repositories (watched first) with their last build, a filter,
//! Subscribe / Unsubscribe with progress and errors inline, live status changes, and in local
//! mode a form to add a repository by URL or path.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::ViewerResource;
use crate::client;
use crate::components::status::StatusBadge;
use crate::server_fns::get_repos;
#[cfg(feature = "hydrate")]
use sicuro_types::routes::event;
use sicuro_types::routes::{fill_repo, path};
use sicuro_types::{BuildEvent, Permission, RepoKind, RepoSummary};

#[component]
pub fn Dashboard() -> impl IntoView {
    let viewer = expect_context::<ViewerResource>();
    let reload = RwSignal::new(0u32);
    let repos = Resource::new(move || reload.get(), |_| get_repos());
    let filter = RwSignal::new(String::new());
    // Live: build changes replace a repository's "last build".
    let live = RwSignal::new(Vec::<BuildEvent>::new());
    #[cfg(feature = "hydrate")]
    {
        let stream =
            crate::components::sse::Stream::open(path::EVENTS, &[event::BUILD, event::RESYNC], move |name, data, _| {
                match name {
                    event::BUILD => {
                        if let Ok(e) = serde_json::from_str::<BuildEvent>(&data) {
                            live.update(|l| {
                                l.retain(|x| x.build.repo != e.build.repo);
                                l.push(e);
                            });
                        }
                    }
                    _ => reload.update(|r| *r += 1),
                }
            });
        crate::components::sse::keep_for_component(stream);
    }

    view! {
        <h1>"Repositories"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading repositories…"</p> }>
            {move || Suspend::new(async move {
                let v = viewer.0.await.ok();
                let signed_out = v.as_ref().is_some_and(|v| !v.signed_in() && !v.local_mode);
                let local = v.as_ref().is_some_and(|v| v.local_mode);
                let list = repos.await;
                view! {
                    {signed_out.then(|| view! {
                        <div class="panel sign-in">
                            <p>"Sign in to see your repositories and subscribe them. Builds of public repositories are visible to everyone."</p>
                            <a class="button primary" href="/auth/github" rel="external">"Sign in with GitHub"</a>
                        </div>
                    })}
                    {local.then(|| view! { <AddRepo on_added=Callback::new(move |_| reload.update(|r| *r += 1))/> })}
                    {match list {
                        Ok(list) => view! { <RepoList repos=list filter live/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{format!("The repositories could not be loaded: {e}")}</p> }.into_any(),
                    }}
                }
            })}
        </Transition>
    }
}

#[component]
fn RepoList(repos: Vec<RepoSummary>, filter: RwSignal<String>, live: RwSignal<Vec<BuildEvent>>) -> impl IntoView {
    crate::mark_hydrated();
    let empty = repos.is_empty();
    let repos = StoredValue::new(repos);
    let shown = move || {
        let f = filter.get().to_lowercase();
        repos.with_value(|all| {
            all.iter()
                .filter(|r| f.is_empty() || r.slug.to_lowercase().contains(&f))
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    view! {
        <div class="filter">
            <label for="repo-filter">"Filter"</label>
            <input id="repo-filter" type="search" placeholder="owner/name" autocomplete="off"
                prop:value=move || filter.get()
                on:input=move |ev| filter.set(event_target_value(&ev))/>
        </div>
        {empty.then(|| view! { <p class="muted">"No repositories yet."</p> })}
        <ul class="repos" data-testid="repos">
            <For each=shown key=|r| r.slug.clone() let:repo>
                <RepoItem repo live/>
            </For>
        </ul>
    }
}

#[component]
fn RepoItem(repo: RepoSummary, live: RwSignal<Vec<BuildEvent>>) -> impl IntoView {
    let viewer = expect_context::<ViewerResource>();
    let state = RwSignal::new(repo.clone());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let slug = repo.slug.clone();
    let last = Memo::new(move |_| {
        let slug = state.with(|r| r.slug.clone());
        live.with(|l| l.iter().find(|e| e.build.repo == slug).map(|e| e.build.clone()))
            .or_else(|| state.with(|r| r.last_build.clone()))
    });
    let act = move |action: &'static str| {
        let slug = state.with_untracked(|r| r.slug.clone());
        busy.set(true);
        error.set(None);
        let csrf = viewer.csrf();
        leptos::task::spawn_local(async move {
            match client::post::<RepoSummary>(
                &fill_repo(
                    if action == "subscribe" {
                        path::REPO_SUBSCRIBE
                    } else {
                        path::REPO_UNSUBSCRIBE
                    },
                    &slug,
                ),
                &csrf,
                None,
            )
            .await
            {
                Ok(updated) => state.set(updated),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let can_admin = repo.permission >= Permission::Admin && repo.kind == RepoKind::Github;
    let href = format!("/repos/{slug}");
    let slug_text = StoredValue::new(slug.clone());
    view! {
        <li class="repo" class:watched=move || state.with(|r| r.watched) data-repo=slug.clone()>
            <div class="repo-main">
                {move || last.get().map(|b| view! { <StatusBadge status=b.status/> })}
                {move || if state.with(|r| r.watched || r.id.is_some()) {
                    view! { <A href=href.clone() attr:class="slug">{slug_text.get_value()}</A> }.into_any()
                } else {
                    view! { <span class="slug">{slug_text.get_value()}</span> }.into_any()
                }}
                {repo.private.then(|| view! { <span class="tag">"private"</span> })}
                {repo.description.clone().map(|d| view! { <span class="description">{d}</span> })}
            </div>
            {move || state.with(|r| r.token_problem.clone()).map(|p| view! { <p class="warning" role="alert">{p}</p> })}
            <div class="repo-actions">
                {can_admin.then(|| view! {
                    {move || if state.with(|r| r.watched) {
                        view! { <button type="button" disabled=move || busy.get() on:click=move |_| act("unsubscribe")>
                            {move || if busy.get() { "Unsubscribing…" } else { "Unsubscribe" }}
                        </button> }.into_any()
                    } else {
                        view! { <button type="button" class="primary" disabled=move || busy.get() on:click=move |_| act("subscribe")>
                            {move || if busy.get() { "Subscribing…" } else { "Subscribe" }}
                        </button> }.into_any()
                    }}
                })}
                {move || error.get().map(|e| view! { <span class="error" role="alert">{e}</span> })}
            </div>
        </li>
    }
}

#[component]
fn AddRepo(on_added: Callback<()>) -> impl IntoView {
    let viewer = expect_context::<ViewerResource>();
    let url = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = serde_json::json!({ "url": url.get_untracked() });
        let csrf = viewer.csrf();
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match client::post::<RepoSummary>(path::REPOS, &csrf, Some(body)).await {
                Ok(_) => {
                    url.set(String::new());
                    on_added.run(());
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    view! {
        <form class="panel add-repo" on:submit=submit>
            <label for="add-url">"Add a repository by URL or path"</label>
            <input id="add-url" type="text" required placeholder="/home/me/project or https://host/owner/repo.git"
                prop:value=move || url.get() on:input=move |ev| url.set(event_target_value(&ev))/>
            <button type="submit" class="primary" disabled=move || busy.get()>
                {move || if busy.get() { "Adding…" } else { "Add" }}
            </button>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </form>
    }
}
