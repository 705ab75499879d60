//! The JSON admin API under `/_admin/` for tests that cannot call [`FakeGithub`]'s methods (the
//! browser tests drive the `fake-github` binary). Each route maps to one method; README.md lists
//! them.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::FaultKind;
use crate::{CommitSpec, Error, FakeGithub, HookConfig, Permission, PullRequestSpec, RepoSpec};

pub(crate) fn router(fake: FakeGithub) -> Router {
    Router::new()
        .route("/_admin/users", post(add_user))
        .route("/_admin/users/{login}/tokens", post(issue_token))
        .route("/_admin/tokens/{token}", delete(revoke_token))
        .route("/_admin/repos", post(add_repo))
        .route("/_admin/repos/{owner}/{name}", get(get_repo))
        .route(
            "/_admin/repos/{owner}/{name}/collaborators/{login}",
            put(set_collaborator),
        )
        .route("/_admin/repos/{owner}/{name}/commits", post(commit))
        .route("/_admin/repos/{owner}/{name}/tags", post(tag))
        .route("/_admin/repos/{owner}/{name}/branches/{*branch}", delete(delete_branch))
        .route("/_admin/repos/{owner}/{name}/pulls", post(open_pull))
        .route(
            "/_admin/repos/{owner}/{name}/pulls/{number}/{action}",
            post(pull_action),
        )
        .route("/_admin/repos/{owner}/{name}/hooks", get(hooks).post(add_hook))
        .route("/_admin/repos/{owner}/{name}/statuses", get(statuses))
        .route("/_admin/hooks/{id}/pings", post(ping))
        .route("/_admin/deliveries", get(deliveries))
        .route("/_admin/deliveries/{guid}/redeliver", post(redeliver))
        .route("/_admin/requests", get(api_requests))
        .route("/_admin/git-requests", get(git_requests))
        .route("/_admin/faults", post(inject_fault).delete(clear_faults))
        .with_state(fake)
}

struct AdminError(Error);

impl From<Error> for AdminError {
    fn from(e: Error) -> Self {
        AdminError(e)
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = match self.0 {
            Error::UnknownUser(_)
            | Error::UnknownRepo(_)
            | Error::UnknownPullRequest(..)
            | Error::UnknownHook(_)
            | Error::UnknownDelivery(_)
            | Error::UnknownRef(_) => StatusCode::NOT_FOUND,
            Error::Exists(_) => StatusCode::CONFLICT,
            Error::InvalidName(_) | Error::UnknownAction(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(json!({"error": self.0.to_string()}))).into_response()
    }
}

type Answer = Result<Json<Value>, AdminError>;

fn to_json(v: impl serde::Serialize) -> Json<Value> {
    Json(serde_json::to_value(v).expect("records serialize"))
}

#[derive(Deserialize)]
struct NewUser {
    login: String,
}

async fn add_user(State(fake): State<FakeGithub>, Json(body): Json<NewUser>) -> Answer {
    let token = fake.add_user(&body.login)?;
    Ok(Json(json!({"login": body.login, "token": token})))
}

#[derive(Deserialize)]
struct NewToken {
    #[serde(default = "repo_scope")]
    scopes: Vec<String>,
}

fn repo_scope() -> Vec<String> {
    vec!["repo".into()]
}

async fn issue_token(State(fake): State<FakeGithub>, Path(login): Path<String>, Json(body): Json<NewToken>) -> Answer {
    let scopes: Vec<&str> = body.scopes.iter().map(String::as_str).collect();
    Ok(Json(json!({"token": fake.issue_token(&login, &scopes)?})))
}

async fn revoke_token(State(fake): State<FakeGithub>, Path(token): Path<String>) -> Answer {
    Ok(Json(json!({"revoked": fake.revoke_token(&token)})))
}

async fn add_repo(State(fake): State<FakeGithub>, Json(spec): Json<RepoSpec>) -> Answer {
    let repo = fake.add_repo(spec).await?;
    let clone_url = fake.clone_url(&repo.full_name());
    let mut v = serde_json::to_value(repo).expect("records serialize");
    v["clone_url"] = json!(clone_url);
    Ok(Json(v))
}

async fn get_repo(State(fake): State<FakeGithub>, Path((owner, name)): Path<(String, String)>) -> Answer {
    let full = format!("{owner}/{name}");
    Ok(to_json(fake.repo_named(&full)?))
}

#[derive(Deserialize)]
struct Role {
    permission: Permission,
}

async fn set_collaborator(
    State(fake): State<FakeGithub>,
    Path((owner, name, login)): Path<(String, String, String)>,
    Json(role): Json<Role>,
) -> Answer {
    let repo = format!("{owner}/{name}");
    fake.set_collaborator(&repo, &login, role.permission)?;
    Ok(to_json(fake.repo_named(&repo)?))
}

#[derive(Deserialize)]
struct NewCommit {
    #[serde(flatten)]
    spec: CommitSpec,
    /// Send the `push` webhook too (what a real push does).
    #[serde(default = "yes")]
    deliver: bool,
}

fn yes() -> bool {
    true
}

async fn commit(
    State(fake): State<FakeGithub>,
    Path((owner, name)): Path<(String, String)>,
    Json(body): Json<NewCommit>,
) -> Answer {
    let push = fake.commit(&format!("{owner}/{name}"), body.spec).await?;
    push_answer(&fake, push, body.deliver).await
}

async fn push_answer(fake: &FakeGithub, push: crate::Push, deliver: bool) -> Answer {
    let deliveries = if deliver {
        fake.deliver_push(&push).await?
    } else {
        vec![]
    };
    let mut v = serde_json::to_value(&push).expect("records serialize");
    v["deliveries"] = serde_json::to_value(deliveries).expect("records serialize");
    Ok(Json(v))
}

#[derive(Deserialize)]
struct NewTag {
    tag: String,
    target: String,
    #[serde(default = "yes")]
    deliver: bool,
}

async fn tag(
    State(fake): State<FakeGithub>,
    Path((owner, name)): Path<(String, String)>,
    Json(body): Json<NewTag>,
) -> Answer {
    let push = fake.tag(&format!("{owner}/{name}"), &body.tag, &body.target).await?;
    push_answer(&fake, push, body.deliver).await
}

#[derive(Deserialize)]
struct Deliver {
    #[serde(default = "yes")]
    deliver: bool,
}

async fn delete_branch(
    State(fake): State<FakeGithub>,
    Path((owner, name, branch)): Path<(String, String, String)>,
    Query(q): Query<Deliver>,
) -> Answer {
    let push = fake.delete_branch(&format!("{owner}/{name}"), &branch).await?;
    push_answer(&fake, push, q.deliver).await
}

#[derive(Deserialize)]
struct NewPull {
    base: String,
    #[serde(default)]
    head_repo: Option<String>,
    head: String,
    title: String,
    #[serde(default)]
    body: Option<String>,
    user: String,
    #[serde(default = "yes")]
    deliver: bool,
}

async fn open_pull(
    State(fake): State<FakeGithub>,
    Path((owner, name)): Path<(String, String)>,
    Json(b): Json<NewPull>,
) -> Answer {
    let repo = format!("{owner}/{name}");
    let spec = PullRequestSpec {
        repo: repo.clone(),
        base: b.base,
        head_repo: b.head_repo,
        head: b.head,
        title: b.title,
        body: b.body,
        user: b.user,
    };
    let number = fake.open_pull_request(spec).await?;
    let deliveries = if b.deliver {
        fake.deliver_pull_request(&repo, number, "opened").await?
    } else {
        vec![]
    };
    Ok(Json(json!({"number": number, "deliveries": deliveries})))
}

#[derive(Deserialize)]
struct PullAction {
    #[serde(default)]
    title: Option<String>,
    #[serde(default = "yes")]
    deliver: bool,
}

/// `synchronize`, `close`, `reopen`, `edit` (with `title`): change, then send the event.
async fn pull_action(
    State(fake): State<FakeGithub>,
    Path((owner, name, number, action)): Path<(String, String, u64, String)>,
    body: Option<Json<PullAction>>,
) -> Answer {
    let repo = format!("{owner}/{name}");
    let body = body.map(|Json(b)| b).unwrap_or(PullAction {
        title: None,
        deliver: true,
    });
    let event = match action.as_str() {
        "synchronize" => {
            fake.synchronize_pull_request(&repo, number).await?;
            "synchronize"
        }
        "close" => {
            fake.close_pull_request(&repo, number)?;
            "closed"
        }
        "reopen" => {
            fake.reopen_pull_request(&repo, number)?;
            "reopened"
        }
        "edit" => {
            let title = body.title.clone().unwrap_or_default();
            fake.edit_pull_request_title(&repo, number, &title)?;
            "edited"
        }
        other => return Err(Error::UnknownAction(other.into()).into()),
    };
    let deliveries = if body.deliver {
        fake.deliver_pull_request(&repo, number, event).await?
    } else {
        vec![]
    };
    Ok(Json(
        json!({"pull_request": fake.pull_request(&repo, number)?, "deliveries": deliveries}),
    ))
}

async fn hooks(State(fake): State<FakeGithub>, Path((owner, name)): Path<(String, String)>) -> Answer {
    let repo = format!("{owner}/{name}");
    fake.repo_named(&repo)?;
    Ok(to_json(fake.hooks(&repo)))
}

#[derive(Deserialize)]
struct NewHook {
    config: HookConfig,
    #[serde(default = "push_event")]
    events: Vec<String>,
}

fn push_event() -> Vec<String> {
    vec!["push".into()]
}

async fn add_hook(
    State(fake): State<FakeGithub>,
    Path((owner, name)): Path<(String, String)>,
    Json(b): Json<NewHook>,
) -> Answer {
    let events: Vec<&str> = b.events.iter().map(String::as_str).collect();
    Ok(to_json(fake.add_hook(&format!("{owner}/{name}"), b.config, &events)?))
}

/// `?sha=…` keeps that commit's statuses; `&until=STATE` (or `any`) first waits, without
/// polling, until one of them has that state (an error after the fake's wait limit).
#[derive(Deserialize)]
struct StatusQuery {
    sha: Option<String>,
    until: Option<String>,
}

async fn statuses(
    State(fake): State<FakeGithub>,
    Path((owner, name)): Path<(String, String)>,
    Query(q): Query<StatusQuery>,
) -> Answer {
    let repo = format!("{owner}/{name}");
    fake.repo_named(&repo)?;
    let of_commit = |f: &FakeGithub| -> Vec<crate::CommitStatus> {
        f.statuses(&repo)
            .into_iter()
            .filter(|s| q.sha.as_ref().is_none_or(|sha| &s.sha == sha))
            .collect()
    };
    let found = match &q.until {
        None => of_commit(&fake),
        Some(state) => {
            let what = format!("a {state} status on {repo}");
            fake.wait_for(&what, |f| {
                let s = of_commit(f);
                s.iter().any(|x| state == "any" || &x.state == state).then_some(s)
            })
            .await?
        }
    };
    Ok(to_json(found))
}

async fn ping(State(fake): State<FakeGithub>, Path(id): Path<u64>) -> Answer {
    Ok(to_json(fake.deliver_ping(id).await?))
}

async fn deliveries(State(fake): State<FakeGithub>) -> Json<Value> {
    to_json(fake.deliveries())
}

async fn redeliver(State(fake): State<FakeGithub>, Path(guid): Path<String>) -> Answer {
    Ok(to_json(fake.redeliver(&guid).await?))
}

#[derive(Deserialize)]
struct RequestFilter {
    path_contains: Option<String>,
}

async fn api_requests(State(fake): State<FakeGithub>, Query(f): Query<RequestFilter>) -> Json<Value> {
    let all = fake.api_requests();
    let wanted: Vec<_> = all
        .into_iter()
        .filter(|r| f.path_contains.as_deref().is_none_or(|p| r.path.contains(p)))
        .collect();
    to_json(wanted)
}

async fn git_requests(State(fake): State<FakeGithub>) -> Json<Value> {
    to_json(fake.git_requests())
}

#[derive(Deserialize)]
struct NewFault {
    kind: FaultKind,
    #[serde(default = "one")]
    count: u32,
    #[serde(default)]
    path_contains: Option<String>,
}

fn one() -> u32 {
    1
}

async fn inject_fault(State(fake): State<FakeGithub>, Json(f): Json<NewFault>) -> StatusCode {
    fake.inject_fault(f.kind, f.count, f.path_contains.as_deref());
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(fake): State<FakeGithub>) -> StatusCode {
    fake.clear_faults();
    StatusCode::NO_CONTENT
}
