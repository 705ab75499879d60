//! A repository's settings: limits and build behaviour (editable by admins, read-only for
//! others), and for admins its secrets — names, who changed each and when, forms to add,
//! replace and delete them — and their audit trail. Values are write-only: the page sends them
//! and never receives one, so none is ever in its HTML or hydration data.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use leptos_router::params::ParamsMap;
use leptos_router::{LazyRoute, lazy_route};

use crate::ViewerResource;
use crate::client::{self, Method};
use crate::server_fns::get_repo_settings;
use crate::time::format_utc;
use sicuro_types::routes::{fill, fill_repo, path};
use sicuro_types::{ForkPolicy, RepoSettings, SecretChange, SecretInfo, SettingsPage};

/// The settings page's route: its data loads beside its view's code, a WASM chunk of its own.
pub struct SettingsRoute {
    params: Memo<ParamsMap>,
    reload: RwSignal<u32>,
    data: Resource<Result<SettingsPage, ServerFnError>>,
}

#[lazy_route]
impl LazyRoute for SettingsRoute {
    fn data() -> Self {
        let params = use_params_map();
        let reload = RwSignal::new(0u32);
        let key = move || {
            let p = params.read();
            (
                p.get("owner").unwrap_or_default(),
                p.get("name").unwrap_or_default(),
                reload.get(),
            )
        };
        // Blocking: the answer waits for it, so that a hidden or missing repository answers 404.
        let data = Resource::new_blocking(key, |(o, n, _)| get_repo_settings(o, n));
        Self { params, reload, data }
    }

    fn view(this: Self) -> AnyView {
        let SettingsRoute { params, reload, data } = this;
        let title = move || {
            let p = params.read();
            format!(
                "{}/{} · settings",
                p.get("owner").unwrap_or_default(),
                p.get("name").unwrap_or_default()
            )
        };
        view! {
            <Transition fallback=|| view! { <p class="muted">"Loading the settings…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(p) => view! { <Settings page=p reload/> }.into_any(),
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
fn Settings(page: SettingsPage, reload: RwSignal<u32>) -> impl IntoView {
    crate::mark_hydrated();
    let slug = page.repo.slug.clone();
    view! {
        <div class="title-row">
            <h1>{format!("{slug} · settings")}</h1>
            <A href=format!("/repos/{slug}")>"← Builds"</A>
        </div>
        <BuildSettings slug=slug.clone() settings=page.settings.clone() can_edit=page.can_edit schedule_error=page.schedule_error.clone()/>
        {page.can_edit.then(|| view! {
            <Secrets slug=slug.clone() secrets=page.secrets.clone() reload/>
            <Audit audit=page.audit.clone()/>
        })}
    }
}

/// `""` → `None`; otherwise the number (an unreadable one is an error to show).
fn optional<T: std::str::FromStr>(text: &str, what: &str) -> Result<Option<T>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse()
        .map(Some)
        .map_err(|_| format!("{what} must be a number, or empty for the server's default"))
}

fn shown<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

#[component]
fn BuildSettings(
    slug: String,
    settings: RepoSettings,
    can_edit: bool,
    schedule_error: Option<String>,
) -> impl IntoView {
    // Why the last scheduled build could not start; saving the settings tries afresh.
    let schedule_error = RwSignal::new(schedule_error);
    let viewer = expect_context::<ViewerResource>();
    let max_concurrent = RwSignal::new(settings.max_concurrent.to_string());
    let supersede = RwSignal::new(settings.supersede);
    let timeout = RwSignal::new(shown(settings.timeout_secs));
    let memory = RwSignal::new(shown(settings.memory_bytes));
    let cpus = RwSignal::new(shown(settings.cpus));
    let pids = RwSignal::new(shown(settings.pids));
    let fork_policy = RwSignal::new(settings.fork_policy);
    let schedule = RwSignal::new(settings.schedule.clone().unwrap_or_default());
    let schedule_branch = RwSignal::new(settings.schedule_branch.clone().unwrap_or_default());
    let status = RwSignal::new(None::<Result<String, String>>);
    let busy = RwSignal::new(false);
    let slug = StoredValue::new(slug);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let read = || -> Result<RepoSettings, String> {
            Ok(RepoSettings {
                max_concurrent: max_concurrent
                    .get_untracked()
                    .trim()
                    .parse()
                    .map_err(|_| "builds at once must be a number".to_string())?,
                supersede: supersede.get_untracked(),
                timeout_secs: optional(&timeout.get_untracked(), "the timeout")?,
                memory_bytes: optional(&memory.get_untracked(), "memory")?,
                cpus: optional(&cpus.get_untracked(), "CPUs")?,
                pids: optional(&pids.get_untracked(), "processes")?,
                fork_policy: fork_policy.get_untracked(),
                // Blank is none; the server checks the expression and says what is wrong.
                schedule: Some(schedule.get_untracked()),
                schedule_branch: Some(schedule_branch.get_untracked()),
            })
        };
        let body = match read() {
            Ok(s) => serde_json::to_value(s).expect("settings serialize"),
            Err(e) => return status.set(Some(Err(e))),
        };
        let url = fill_repo(path::REPO_SETTINGS, &slug.get_value());
        let csrf = viewer.csrf();
        busy.set(true);
        leptos::task::spawn_local(async move {
            let r = client::post::<RepoSettings>(&url, &csrf, Some(body)).await;
            if r.is_ok() {
                schedule_error.set(None);
            }
            status.set(Some(r.map(|_| "Saved.".to_string())));
            busy.set(false);
        });
    };
    let field = move |id: &'static str, label: &'static str, hint: &'static str, value: RwSignal<String>| {
        view! {
            <label for=id>{label}</label>
            <input id=id type="text" inputmode="decimal" disabled=!can_edit
                prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
            <span class="muted">{hint}</span>
        }
    };
    let text_field = move |id: &'static str,
                           label: &'static str,
                           hint: &'static str,
                           placeholder: &'static str,
                           value: RwSignal<String>| {
        view! {
            <label for=id>{label}</label>
            <input id=id type="text" spellcheck="false" disabled=!can_edit placeholder=placeholder
                prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
            <span class="muted">{hint}</span>
        }
    };
    view! {
        <section class="panel" aria-labelledby="build-settings">
            <h2 id="build-settings">"Builds"</h2>
            {(!can_edit).then(|| view! { <p class="muted">"Admins of the repository can change these."</p> })}
            <form class="settings-form" data-testid="settings-form" on:submit=submit>
                {field("max-concurrent", "Builds at once", "1 to 64", max_concurrent)}
                <label for="supersede">"Supersede"</label>
                <input id="supersede" type="checkbox" disabled=!can_edit
                    prop:checked=move || supersede.get() on:change=move |ev| supersede.set(event_target_checked(&ev))/>
                <span class="muted">"a newer push to a branch or pull request cancels its older builds"</span>
                {field("timeout", "Timeout (seconds)", "empty: the server's default", timeout)}
                {field("memory", "Memory (bytes)", "empty: the server's default", memory)}
                {field("cpus", "CPUs", "empty: the server's default", cpus)}
                {field("pids", "Processes", "empty: the server's default", pids)}
                <label for="fork-policy">"Pull requests from forks"</label>
                <select id="fork-policy" disabled=!can_edit
                    on:change=move |ev| fork_policy.set(ForkPolicy::parse(&event_target_value(&ev)))>
                    {[(ForkPolicy::Approve, "wait for approval"), (ForkPolicy::Run, "run at once"), (ForkPolicy::Never, "never build")]
                        .into_iter()
                        .map(|(p, label)| view! {
                            <option value=p.as_str() selected=move || fork_policy.get() == p>{label}</option>
                        })
                        .collect_view()}
                </select>
                <span class="muted">"someone with push access approves each push of a fork's pull request before it runs"</span>
                {text_field("schedule", "Schedule", "cron, in UTC: minute hour day month weekday (0 3 * * * is 03:00 daily; @weekly); empty: none", "0 3 * * *", schedule)}
                {text_field("schedule-branch", "Scheduled branch", "empty: the default branch", "main", schedule_branch)}
                {move || schedule_error.get().map(|e| view! { <p class="error form-note" id="schedule-error" role="status">{e}</p> })}
                {can_edit.then(|| view! {
                    <div class="form-actions">
                        <button type="submit" class="primary" disabled=move || busy.get()>"Save settings"</button>
                        {move || status.get().map(|s| match s {
                            Ok(m) => view! { <span class="muted" role="status">{m}</span> }.into_any(),
                            Err(e) => view! { <span class="error" role="alert">{e}</span> }.into_any(),
                        })}
                    </div>
                })}
            </form>
        </section>
    }
}

#[component]
fn Secrets(slug: String, secrets: Vec<SecretInfo>, reload: RwSignal<u32>) -> impl IntoView {
    let viewer = expect_context::<ViewerResource>();
    let name = RwSignal::new(String::new());
    let value = RwSignal::new(String::new());
    let forks = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let slug = StoredValue::new(slug);
    let secret_url = move |secret: &str| {
        let (owner, repo) = slug
            .get_value()
            .split_once('/')
            .map(|(o, r)| (o.to_string(), r.to_string()))
            .unwrap_or_default();
        fill(path::REPO_SECRET, &[&owner, &repo, &secret])
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let url = secret_url(name.get_untracked().trim());
        let body = serde_json::json!({ "value": value.get_untracked(), "forks": forks.get_untracked() });
        let csrf = viewer.csrf();
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match client::send::<SecretInfo>(Method::Put, &url, &csrf, Some(body)).await {
                Ok(_) => {
                    // The value leaves the page's memory as soon as the server has it.
                    value.set(String::new());
                    name.set(String::new());
                    forks.set(false);
                    reload.update(|r| *r += 1);
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let delete = move |secret: String| {
        let url = secret_url(&secret);
        let csrf = viewer.csrf();
        error.set(None);
        leptos::task::spawn_local(async move {
            match client::send::<()>(Method::Delete, &url, &csrf, None).await {
                Ok(()) => reload.update(|r| *r += 1),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let empty = secrets.is_empty();
    view! {
        <section class="panel" aria-labelledby="secrets">
            <h2 id="secrets">"Secrets"</h2>
            <p class="muted">
                "Given to builds as environment variables: pushes, tags, manual and scheduled builds and pull requests \
                 from this repository's branches get them all; pull requests from forks only those marked for forks. \
                 Values are never shown again, and are masked as *** in logs."
            </p>
            <table class="secrets" data-testid="secrets">
                <caption class="visually-hidden">"Secrets"</caption>
                <thead>
                    <tr><th scope="col">"Name"</th><th scope="col">"Forks"</th><th scope="col">"Changed by"</th><th scope="col">"Changed"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr>
                </thead>
                <tbody>
                    {secrets.into_iter().map(|s| {
                        let n = s.name.clone();
                        view! {
                            <tr data-secret=s.name.clone()>
                                <td><code>{s.name.clone()}</code></td>
                                <td>{if s.forks { "yes" } else { "no" }}</td>
                                <td>{s.updated_by.clone()}</td>
                                <td>{format_utc(s.updated_at)}</td>
                                <td>
                                    <button type="button" class="danger" aria-label=format!("Delete {}", s.name)
                                        on:click=move |_| delete(n.clone())>"Delete"</button>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            {empty.then(|| view! { <p class="muted">"No secrets yet."</p> })}
            <form class="secret-form" data-testid="secret-form" on:submit=submit autocomplete="off">
                <h3>"Add or replace a secret"</h3>
                <label for="secret-name">"Name"</label>
                <input id="secret-name" type="text" required pattern="[A-Za-z_][A-Za-z0-9_]*" placeholder="NPM_TOKEN"
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                <label for="secret-value">"Value"</label>
                <textarea id="secret-value" required rows="3" spellcheck="false" autocomplete="off"
                    prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))></textarea>
                <label class="check">
                    <input id="secret-forks" type="checkbox"
                        prop:checked=move || forks.get() on:change=move |ev| forks.set(event_target_checked(&ev))/>
                    "Also give it to pull requests from forks (their code can read it)"
                </label>
                <div class="form-actions">
                    <button type="submit" class="primary" disabled=move || busy.get()>"Save secret"</button>
                    {move || error.get().map(|e| view! { <span class="error" role="alert">{e}</span> })}
                </div>
            </form>
        </section>
    }
}

#[component]
fn Audit(audit: Vec<SecretChange>) -> impl IntoView {
    let empty = audit.is_empty();
    view! {
        <section class="panel" aria-labelledby="audit">
            <h2 id="audit">"Changes to secrets"</h2>
            {empty.then(|| view! { <p class="muted">"None yet."</p> })}
            <ul class="audit" data-testid="audit">
                {audit.into_iter().map(|c| {
                    let forks = match c.forks {
                        Some(true) => " (for forks too)",
                        _ => "",
                    };
                    view! {
                        <li>{format!("{} · {} {} {}{forks}", format_utc(c.at), c.actor, c.action, c.name)}</li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}
