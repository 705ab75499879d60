//! A repository's build history, paged and live: new builds appear and statuses change without
//! reload, over the repository's server-sent-events stream. "Build now" starts a branch.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use crate::ViewerResource;
use crate::client;
use crate::components::status::StatusBadge;
use crate::server_fns::get_repo_builds;
use crate::time::{format_utc, use_clock};
#[cfg(feature = "hydrate")]
use sicuro_types::routes::{event, fill};
use sicuro_types::routes::{fill_repo, path};
use sicuro_types::{BuildPage, BuildSummary, Permission, format_duration};

#[component]
pub fn RepoPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let owner = move || params.read().get("owner").unwrap_or_default();
    let name = move || params.read().get("name").unwrap_or_default();
    let page = move || {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let reload = RwSignal::new(0u32);
    // Blocking: the answer waits for it, so that a hidden or missing repository answers 404.
    let data = Resource::new_blocking(
        move || (owner(), name(), page(), reload.get()),
        |(o, n, p, _)| get_repo_builds(o, n, p),
    );
    let live = RwSignal::new(Vec::<BuildSummary>::new());

    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let url = fill(path::REPO_EVENTS, &[&owner(), &name()]);
        live.set(Vec::new());
        let stream = crate::components::sse::Stream::open(
            &url,
            &[event::BUILD, event::RESYNC],
            move |name, data, _| match name {
                event::BUILD => {
                    if let Ok(e) = serde_json::from_str::<sicuro_types::BuildEvent>(&data) {
                        live.update(|l| {
                            l.retain(|b| b.id != e.build.id);
                            l.push(e.build);
                        });
                    }
                }
                _ => reload.update(|r| *r += 1),
            },
        );
        crate::components::sse::keep_for_component(stream);
    });

    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading builds…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(p) => view! { <History page=p live/> }.into_any(),
                    Err(e) => view! { <h1>{format!("{}/{}", owner(), name())}</h1><p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn History(page: BuildPage, live: RwSignal<Vec<BuildSummary>>) -> impl IntoView {
    crate::mark_hydrated();
    let slug = page.repo.slug.clone();
    let first_page = page.page == 0;
    let base = StoredValue::new(page.builds.clone());
    // Builds from the live stream replace their rows; new ones go on top of the first page.
    let builds = move || {
        let mut list = base.get_value();
        for b in live.get() {
            match list.iter_mut().find(|x| x.id == b.id) {
                Some(x) => *x = b,
                None if first_page => list.insert(0, b),
                None => {}
            }
        }
        list.sort_by(|a, b| b.number.cmp(&a.number));
        list
    };
    let pages = (page.total + page.per_page - 1) / page.per_page.max(1);
    let clock = use_clock();
    view! {
        <div class="title-row">
            <h1>{slug.clone()}</h1>
            {page.repo.private.then(|| view! { <span class="tag">"private"</span> })}
            <img class="badge" src=format!("/badge/{slug}.svg") alt="build status badge"/>
            {(page.repo.permission == Permission::Admin).then(|| view! {
                <A href=format!("/repos/{slug}/settings") attr:class="button">"Settings"</A>
            })}
        </div>
        {page.repo.token_problem.clone().map(|p| view! { <p class="warning" role="alert">{p}</p> })}
        {page.can_build.then(|| view! { <BuildNow slug=slug.clone() default_branch=page.repo.default_branch.clone()/> })}
        <table class="builds" data-testid="builds">
            <caption class="visually-hidden">"Build history"</caption>
            <thead>
                <tr>
                    <th scope="col">"#"</th><th scope="col">"Status"</th><th scope="col">"Event"</th>
                    <th scope="col">"Ref"</th><th scope="col">"Commit"</th><th scope="col">"Author"</th>
                    <th scope="col">"Message"</th><th scope="col">"Started"</th><th scope="col">"Duration"</th>
                </tr>
            </thead>
            <tbody>
                <For each=builds key=|b| (b.id, b.status, b.finished_at) let:b>
                    <BuildRow b=b.clone() slug=slug.clone() clock/>
                </For>
            </tbody>
        </table>
        {(page.total == 0).then(|| view! { <p class="muted">"No builds yet. They appear here as soon as one starts."</p> })}
        {(pages > 1).then(|| view! {
            <nav class="pager" aria-label="Pages">
                {(page.page > 0).then(|| view! { <A href=format!("?page={}", page.page - 1)>"← Newer"</A> })}
                <span>{format!("Page {} of {pages}", page.page + 1)}</span>
                {(page.page + 1 < pages).then(|| view! { <A href=format!("?page={}", page.page + 1)>"Older →"</A> })}
            </nav>
        })}
    }
}

#[component]
fn BuildRow(b: BuildSummary, slug: String, clock: ReadSignal<i64>) -> impl IntoView {
    let href = format!("/repos/{slug}/builds/{}", b.number);
    let short = b.short_sha().to_string();
    let commit = match b.commit_url.clone() {
        Some(url) => view! { <a href=url rel="external noopener" target="_blank"><code>{short}</code></a> }.into_any(),
        None => view! { <code>{short}</code> }.into_any(),
    };
    let started = b.started_at.or(Some(b.created_at)).map(format_utc).unwrap_or_default();
    let bb = b.clone();
    let duration = move || bb.duration_ms(clock.get()).map(format_duration).unwrap_or_default();
    view! {
        <tr data-build=b.number data-status=b.status.as_str()>
            <td><A href=href.clone()>{format!("#{}", b.number)}</A></td>
            <td><StatusBadge status=b.status/></td>
            <td>{b.event.as_str().replace('_', " ")}</td>
            <td>{b.ref_label()}</td>
            <td>{commit}</td>
            <td>{b.author.clone().unwrap_or_default()}</td>
            <td class="message"><A href=href>{b.title.clone().unwrap_or_default()}</A></td>
            <td>{started}</td>
            <td>{duration}</td>
        </tr>
    }
}

#[component]
fn BuildNow(slug: String, default_branch: String) -> impl IntoView {
    let viewer = expect_context::<ViewerResource>();
    let branch = RwSignal::new(default_branch);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    let slug = StoredValue::new(slug);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = serde_json::json!({ "branch": branch.get_untracked() });
        let csrf = viewer.csrf();
        let url = fill_repo(path::REPO_BUILDS, &slug.get_value());
        let navigate = navigate.clone();
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match client::post::<BuildSummary>(&url, &csrf, Some(body)).await {
                Ok(b) => navigate(&format!("/repos/{}/builds/{}", b.repo, b.number), Default::default()),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    view! {
        <form class="build-now" on:submit=submit>
            <label for="branch">"Branch"</label>
            <input id="branch" type="text" required prop:value=move || branch.get() on:input=move |ev| branch.set(event_target_value(&ev))/>
            <button type="submit" class="primary" disabled=move || busy.get()>
                {move || if busy.get() { "Starting…" } else { "Build now" }}
            </button>
            {move || error.get().map(|e| view! { <span class="error" role="alert">{e}</span> })}
        </form>
    }
}
