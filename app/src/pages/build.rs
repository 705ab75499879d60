//! A build: status, commit, timings, a progress bar estimated from recent successful builds,
//! Cancel and Rebuild for people with push access, and the live log.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use leptos_router::params::ParamsMap;
use leptos_router::{LazyRoute, lazy_route};

use crate::ViewerResource;
use crate::client;
use crate::components::log_viewer::LogViewer;
use crate::components::status::StatusBadge;
use crate::components::test_report::TestReportPanel;
use crate::server_fns::get_build;
use crate::time::{format_utc, use_clock};
#[cfg(feature = "hydrate")]
use sicuro_types::routes::{event, fill_repo};
use sicuro_types::routes::{fill, path};
use sicuro_types::{BuildDetail, BuildStatus, BuildSummary, LogEnd, LogFailure, format_duration};

/// The build page's route. Its data (the build) loads beside its view's code: the page, the log
/// viewer and the test report are a WASM chunk of their own, fetched when a build page is first
/// opened, so the dashboard's first load does not carry them.
pub struct BuildRoute {
    params: Memo<ParamsMap>,
    detail: Resource<Result<BuildDetail, ServerFnError>>,
}

fn build_number(params: &ParamsMap) -> i64 {
    params.get("number").and_then(|n| n.parse::<i64>().ok()).unwrap_or(0)
}

#[lazy_route]
impl LazyRoute for BuildRoute {
    fn data() -> Self {
        let params = use_params_map();
        let key = move || {
            let p = params.read();
            (
                p.get("owner").unwrap_or_default(),
                p.get("name").unwrap_or_default(),
                build_number(&p),
            )
        };
        // Blocking: the answer waits for it, so that a hidden or missing build answers 404.
        let detail = Resource::new_blocking(key, |(o, n, num)| get_build(o, n, num));
        Self { params, detail }
    }

    fn view(this: Self) -> AnyView {
        let BuildRoute { params, detail } = this;
        let title = move || {
            let p = params.read();
            format!(
                "{}/{} #{}",
                p.get("owner").unwrap_or_default(),
                p.get("name").unwrap_or_default(),
                build_number(&p)
            )
        };
        view! {
            <Transition fallback=|| view! { <p class="muted">"Loading the build…"</p> }>
                {move || Suspend::new(async move {
                    match detail.await {
                        Ok(d) => view! { <BuildView detail=d/> }.into_any(),
                        Err(e) => view! {
                            <h1>{title()}</h1>
                            <p class="error" role="alert">{e.to_string()}</p>
                        }.into_any(),
                    }
                })}
            </Transition>
        }
        .into_any()
    }
}

#[component]
fn BuildView(detail: BuildDetail) -> impl IntoView {
    crate::mark_hydrated();
    let viewer = expect_context::<ViewerResource>();
    let b = detail.summary.clone();
    let status = RwSignal::new(b.status);
    let finished_at = RwSignal::new(b.finished_at);
    let exit_code = RwSignal::new(detail.exit_code);
    let verdict = RwSignal::new(detail.error.clone());
    let (owner_name, number) = (b.repo.clone(), b.number);
    let clock = use_clock();
    let busy = RwSignal::new(false);
    // Who approved a fork's build: from the page's data, or the viewer once they approve it.
    let approved_by = RwSignal::new(detail.approved_by.clone());
    let error = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    let repo_href = format!("/repos/{}", b.repo);
    let build_id = b.id;
    let started = RwSignal::new(b.started_at);
    let estimate = detail.estimate_ms;
    let failure = RwSignal::new(None::<LogFailure>);
    let on_failure = Callback::new(move |f: LogFailure| failure.set(Some(f)));

    let on_end = Callback::new(move |end: LogEnd| {
        status.set(end.status);
        // The verdict is final: read the build again for its timings and message (the log
        // viewer stays as it is).
        let (owner, name) = owner_name
            .split_once('/')
            .map(|(o, n)| (o.to_string(), n.to_string()))
            .unwrap_or_default();
        leptos::task::spawn_local(async move {
            if let Ok(d) = get_build(owner, name, number).await {
                status.set(d.summary.status);
                started.set(d.summary.started_at);
                finished_at.set(d.summary.finished_at);
                exit_code.set(d.exit_code);
                verdict.set(d.error);
            }
        });
    });
    let progress = move || {
        let start = started.get()?;
        let est = estimate?;
        (status.get() == BuildStatus::Running)
            .then(|| ((clock.get() - start) as f64 / est.max(1) as f64).clamp(0.0, 0.99))
    };
    let act = Callback::new(move |action: &'static str| {
        let csrf = viewer.csrf();
        let navigate = navigate.clone();
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let action_path = match action {
                "rebuild" => path::BUILD_REBUILD,
                "approve" => path::BUILD_APPROVE,
                "decline" => path::BUILD_DECLINE,
                _ => path::BUILD_CANCEL,
            };
            match client::post::<BuildSummary>(&fill(action_path, &[&build_id]), &csrf, None).await {
                Ok(nb) if action == "rebuild" => {
                    navigate(&format!("/repos/{}/builds/{}", nb.repo, nb.number), Default::default())
                }
                Ok(nb) => {
                    if action == "approve" {
                        approved_by.set(Some(viewer.login().unwrap_or_else(|| "you".into())));
                    }
                    status.set(nb.status)
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    });
    let may_push = detail.can_cancel || detail.can_rebuild || detail.can_approve;
    // The build's state changes (queued → running → …) arrive on the repository's event stream.
    #[cfg(feature = "hydrate")]
    {
        let url = fill_repo(path::REPO_EVENTS, &b.repo);
        let stream = crate::components::sse::Stream::open(&url, &[event::BUILD], move |_, data, _| {
            if let Ok(e) = serde_json::from_str::<sicuro_types::BuildEvent>(&data)
                && e.build.id == build_id
            {
                status.set(e.build.status);
                started.set(e.build.started_at);
                finished_at.set(e.build.finished_at);
            }
        });
        crate::components::sse::keep_for_component(stream);
    }
    let duration = {
        let b = b.clone();
        move || {
            let mut s = b.clone();
            s.started_at = started.get();
            s.finished_at = finished_at.get();
            s.duration_ms(clock.get())
                .map(format_duration)
                .unwrap_or_else(|| "not started".into())
        }
    };
    let (repo_name, title) = (b.repo.clone(), b.title.clone().unwrap_or_default());
    let commit = match b.commit_url.clone() {
        Some(url) => {
            view! { <a href=url rel="external noopener" target="_blank"><code>{b.short_sha().to_string()}</code></a> }
                .into_any()
        }
        None => view! { <code>{b.short_sha().to_string()}</code> }.into_any(),
    };
    view! {
        <div class="title-row">
            <h1><A href=repo_href>{repo_name}</A>{format!(" #{}", b.number)}</h1>
            <StatusBadge status=status/>
        </div>
        <dl class="facts" data-testid="build-facts">
            <dt>"Commit"</dt><dd>{commit}" "{title}</dd>
            <dt>"Ref"</dt><dd>{b.ref_label()}" · "{b.event.as_str().replace('_', " ")}</dd>
            <dt>"Author"</dt><dd>{b.author.clone().unwrap_or_else(|| "—".into())}</dd>
            <dt>"Queued"</dt><dd>{format_utc(b.created_at)}</dd>
            <dt>"Duration"</dt><dd>{duration}</dd>
            {move || exit_code.get().map(|c| view! { <dt>"Exit code"</dt><dd>{c}</dd> })}
        </dl>
        {move || verdict.get().map(|e| view! { <p class="verdict" class:error=move || status.get() == BuildStatus::Error role="status">{e}</p> })}
        {move || progress().map(|p| view! {
            <div class="progress" role="progressbar" aria-label="Estimated progress" aria-valuemin="0" aria-valuemax="100"
                aria-valuenow=((p * 100.0) as i64).to_string()>
                <div class="bar" style=format!("width:{:.1}%", p * 100.0)></div>
            </div>
        })}
        {move || (status.get() == BuildStatus::Waiting).then(|| view! {
            <p class="approval" role="status" data-testid="approval">
                "This pull request comes from a fork, so its build waits for approval: someone with push access "
                "reads the change, then lets it run."
            </p>
        })}
        {move || approved_by.get().map(|who| view! { <p class="approval-note">{format!("Approved by {who}.")}</p> })}
        <div class="actions">
            {move || (may_push && status.get() == BuildStatus::Waiting).then(|| view! {
                <button type="button" class="primary" disabled=move || busy.get() on:click=move |_| act.run("approve")>"Approve and run"</button>
                <button type="button" disabled=move || busy.get() on:click=move |_| act.run("decline")>"Decline"</button>
            })}
            {move || (may_push && !status.get().is_finished()).then(|| view! {
                <button type="button" class="danger" disabled=move || busy.get() on:click=move |_| act.run("cancel")>"Cancel"</button>
            })}
            {move || (may_push && status.get().is_finished()).then(|| view! {
                <button type="button" disabled=move || busy.get() on:click=move |_| act.run("rebuild")>"Rebuild"</button>
            })}
            {move || error.get().map(|e| view! { <span class="error" role="alert">{e}</span> })}
        </div>
        {move || failure.get().map(|f| view! { <FailurePanel failure=f exit_code=exit_code.get()/> })}
        <TestReportPanel build_id=build_id finished=Signal::derive(move || status.get().is_finished() && finished_at.get().is_some())/>
        <LogViewer build_id=build_id on_end=on_end on_failure=on_failure end_ts=Signal::derive(move || finished_at.get())/>
    }
}

/// What a failed build failed on, first: the command, its phase, its exit code and its last
/// lines, with a link to the command in the full log.
#[component]
fn FailurePanel(failure: LogFailure, exit_code: Option<i64>) -> impl IntoView {
    let phase = failure.section.clone().unwrap_or_else(|| "the job".into());
    let code = exit_code.map(|c| format!(" with exit code {c}")).unwrap_or_default();
    let link = format!("#L{}", failure.command_line);
    view! {
        <section class="failure" aria-label="Why the build failed" data-testid="failure">
            <h2>"Failed in "{phase}": "<code>{failure.command.clone()}</code></h2>
            <p class="muted">{format!("The command exited{code}. Its last lines:")}</p>
            <div class="failure-lines" role="log" aria-label="The failing command's last lines">
                {failure.lines.into_iter().map(|l| {
                    let n = l.number();
                    let text = match l.kind() {
                        sicuro_types::LineKind::Command => view! { <span class="cmd">"$ "{l.text().to_string()}</span> }.into_any(),
                        _ => crate::components::log_row::segments(crate::ansi::render(l.text())).into_any(),
                    };
                    view! { <div class="row" data-line=n><a class="ln" href=format!("#L{n}")>{n}</a><span class="txt">{text}</span></div> }
                }).collect_view()}
            </div>
            <a href=link class="to-log">"Show it in the full log"</a>
        </section>
    }
}
