//! The REST API under `/api/v3` (GitHub Enterprise's layout): who is calling, what they may see,
//! GitHub's error replies and pagination, and the user, repository, commit and rate-limit routes.
//! Hooks live in `hooks.rs`, commit statuses in `statuses.rs`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, OriginalUri, Path, Query, Request, State};
use axum::http::header::{AUTHORIZATION, LINK};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::state::{CredentialKind, Permission, Repo, Shared, World};
use crate::{Error, clock, faults, git_repo, hooks, recording, shapes, statuses};

pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/user", get(get_user))
        .route("/user/repos", get(list_user_repos))
        .route("/user/orgs", get(list_user_orgs))
        .route("/repositories/{id}", get(get_repo_by_id))
        .route("/repos/{owner}/{repo}", get(get_repo))
        .route("/repos/{owner}/{repo}/commits/{*rest}", get(get_commit_routes))
        .route("/rate_limit", get(rate_limit))
        .merge(hooks::router())
        .merge(statuses::router())
        .fallback(|| async { ApiError::NotFound })
        .layer(middleware::from_fn_with_state(shared.clone(), faults::inject))
        .layer(middleware::from_fn_with_state(shared.clone(), github_headers))
        .layer(middleware::from_fn_with_state(shared, recording::record))
}

/// The token of an `Authorization` header: `Bearer t`, `token t`, or Basic with the token as
/// password (or as user name with `x-oauth-basic`), as GitHub accepts for the API and for git.
pub(crate) fn credentials(headers: &HeaderMap) -> Option<(CredentialKind, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" | "token" => Some((CredentialKind::Bearer, rest.to_string())),
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (user, password) = decoded.split_once(':')?;
            let token = if password.is_empty() || password == "x-oauth-basic" {
                user
            } else {
                password
            };
            Some((CredentialKind::Basic, token.to_string()))
        }
        _ => None,
    }
}

pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<String> {
    credentials(headers).map(|(_, t)| t)
}

/// Who is calling: nobody, or the user of a live token and its scopes.
pub(crate) struct Caller {
    pub login: Option<String>,
    pub scopes: Vec<String>,
}

impl Caller {
    fn has_any_scope(&self, scopes: &[&str]) -> bool {
        self.scopes.iter().any(|s| scopes.contains(&s.as_str()))
    }

    pub(crate) fn require_login(&self) -> Result<&str, ApiError> {
        self.login.as_deref().ok_or(ApiError::RequiresAuthentication)
    }
}

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, ApiError> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            return Ok(Caller {
                login: None,
                scopes: vec![],
            });
        }
        let (_, token) = credentials(&parts.headers).ok_or(ApiError::BadCredentials)?;
        shared
            .read(|w| w.token(&token).cloned())
            .map(|t| Caller {
                login: Some(t.login),
                scopes: t.scopes,
            })
            .ok_or(ApiError::BadCredentials)
    }
}

/// What an operation needs: a role in the repository and one of some OAuth scopes.
pub(crate) struct Need {
    pub role: Permission,
    pub scopes: &'static [&'static str],
}

pub(crate) const READ: Need = Need {
    role: Permission::Pull,
    scopes: &[],
};

/// The repository if the caller may do `need` in it; 404 otherwise, as GitHub hides what a
/// caller may not touch.
pub(crate) fn repo_for(
    world: &World,
    caller: &Caller,
    owner: &str,
    name: &str,
    need: &Need,
) -> Result<(Repo, Permission), ApiError> {
    let repo = world.repo(owner, name).ok_or(ApiError::NotFound)?;
    let role = world
        .permission(repo, caller.login.as_deref())
        .ok_or(ApiError::NotFound)?;
    let scoped = |scopes: &[&str]| scopes.is_empty() || caller.has_any_scope(scopes);
    if (repo.private && !caller.has_any_scope(&["repo"])) || role < need.role || !scoped(need.scopes) {
        return Err(ApiError::NotFound);
    }
    Ok((repo.clone(), role))
}

#[derive(Debug)]
pub(crate) enum ApiError {
    BadCredentials,
    RequiresAuthentication,
    NotFound,
    BadJson,
    /// 422 "Validation Failed" with GitHub's `errors` array.
    Validation(Vec<Value>),
    /// 422 with its own message.
    Unprocessable(String),
    Internal(Error),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let docs = "https://docs.github.com/rest";
        let (status, body) = match self {
            ApiError::BadCredentials => (
                StatusCode::UNAUTHORIZED,
                json!({"message": "Bad credentials", "documentation_url": docs}),
            ),
            ApiError::RequiresAuthentication => (
                StatusCode::UNAUTHORIZED,
                json!({"message": "Requires authentication", "documentation_url": docs}),
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                json!({"message": "Not Found", "documentation_url": docs}),
            ),
            ApiError::BadJson => (
                StatusCode::BAD_REQUEST,
                json!({"message": "Problems parsing JSON", "documentation_url": docs}),
            ),
            ApiError::Validation(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"message": "Validation Failed", "errors": errors, "documentation_url": docs}),
            ),
            ApiError::Unprocessable(message) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"message": message, "documentation_url": docs}),
            ),
            ApiError::Internal(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": format!("fake-github: {e}")}),
            ),
        };
        let mut body = body;
        body["status"] = json!(status.as_u16().to_string());
        (status, axum::Json(body)).into_response()
    }
}

/// A JSON request body; an empty one is `{}` (GitHub treats it so), anything unparsable a 400.
pub(crate) fn json_body(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|_| ApiError::BadJson)?;
    if v.is_object() { Ok(v) } else { Err(ApiError::BadJson) }
}

/// Headers every API reply carries: media type, request id, rate limit (unless a fault set
/// them), and the token's scopes.
async fn github_headers(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let scopes = bearer_token(req.headers()).and_then(|t| shared.read(|w| w.token(&t).map(|t| t.scopes.join(", "))));
    let mut response = next.run(req).await;
    let used = shared.read(|w| w.api_requests.len()).min(4999) as u64 + 1;
    let h = response.headers_mut();
    h.insert(
        "x-github-media-type",
        HeaderValue::from_static("github.v3; format=json"),
    );
    h.insert("x-github-api-version-selected", HeaderValue::from_static("2022-11-28"));
    let id = format!("{:08X}:{:04X}", rand::random::<u32>(), rand::random::<u16>());
    h.insert(
        "x-github-request-id",
        HeaderValue::from_str(&id).expect("hex is a valid header"),
    );
    if !h.contains_key("x-ratelimit-remaining") {
        h.insert("x-ratelimit-limit", HeaderValue::from(5000u64));
        h.insert("x-ratelimit-remaining", HeaderValue::from(5000 - used));
        h.insert("x-ratelimit-used", HeaderValue::from(used));
        h.insert("x-ratelimit-reset", HeaderValue::from(clock::now() + 3600));
        h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    }
    if let Some(v) = scopes.and_then(|s| HeaderValue::from_str(&s).ok()) {
        h.insert("x-oauth-scopes", v);
    }
    response
}

async fn get_user(State(shared): State<Arc<Shared>>, caller: Caller) -> Result<Response, ApiError> {
    let login = caller.require_login()?;
    shared
        .read(|w| {
            let user = w.user(login)?;
            Some(axum::Json(shapes::private_user(&shared.urls, w, user)).into_response())
        })
        .ok_or(ApiError::NotFound)
}

#[derive(Deserialize, Default)]
pub(crate) struct PageParams {
    per_page: Option<String>,
    page: Option<String>,
}

impl PageParams {
    fn per_page(&self) -> usize {
        self.per_page
            .as_deref()
            .and_then(|p| p.parse().ok())
            .unwrap_or(30)
            .clamp(1, 100)
    }

    fn page(&self) -> usize {
        self.page.as_deref().and_then(|p| p.parse().ok()).unwrap_or(1).max(1)
    }
}

/// One page of `items` as JSON with GitHub's `Link` header (prev, next, last, first).
pub(crate) fn paginate(
    urls: &crate::state::Urls,
    uri: &axum::http::Uri,
    params: &PageParams,
    items: Vec<Value>,
) -> Response {
    let (per_page, page) = (params.per_page(), params.page());
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    let kept: Vec<(String, String)> = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k != "page" && k != "per_page")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let href = |n: usize| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.extend_pairs(&kept);
        q.append_pair("per_page", &per_page.to_string())
            .append_pair("page", &n.to_string());
        format!("<{}{}?{}>", urls.web, uri.path(), q.finish())
    };
    let mut links = vec![];
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", href((page - 1).min(last))));
    }
    if page < last {
        links.push(format!("{}; rel=\"next\"", href(page + 1)));
        links.push(format!("{}; rel=\"last\"", href(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", href(1)));
    }
    let mut response = axum::Json(slice).into_response();
    if !links.is_empty() {
        let value = HeaderValue::from_str(&links.join(", ")).expect("URLs are valid header text");
        response.headers_mut().insert(LINK, value);
    }
    response
}

#[derive(Deserialize)]
struct RepoListParams {
    #[serde(flatten)]
    page: PageParams,
    sort: Option<String>,
    direction: Option<String>,
    affiliation: Option<String>,
    visibility: Option<String>,
}

async fn list_user_repos(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    Query(params): Query<RepoListParams>,
) -> Result<Response, ApiError> {
    let login = caller.require_login()?.to_string();
    let affiliation = params
        .affiliation
        .as_deref()
        .unwrap_or("owner,collaborator,organization_member");
    let visibility = params.visibility.as_deref().unwrap_or("all");
    let sort = params.sort.as_deref().unwrap_or("full_name");
    let items = shared.read(|w| {
        let mut repos: Vec<(&Repo, Permission)> = w
            .repos
            .iter()
            .filter(|r| !r.private || caller.has_any_scope(&["repo"]))
            .filter(|r| match visibility {
                "public" => !r.private,
                "private" => r.private,
                _ => true,
            })
            .filter(|r| {
                let is_org = w
                    .account(&r.owner)
                    .is_some_and(|a| a.kind == crate::state::AccountKind::Organization);
                let collaborator = r.collaborators.keys().any(|c| c.eq_ignore_ascii_case(&login));
                affiliation.split(',').any(|a| match a.trim() {
                    "owner" => r.owner.eq_ignore_ascii_case(&login),
                    "collaborator" => collaborator && !is_org,
                    "organization_member" => collaborator && is_org,
                    _ => false,
                })
            })
            .filter_map(|r| Some((r, w.permission(r, Some(&login))?)))
            .collect();
        repos.sort_by(|(a, _), (b, _)| match sort {
            "created" => a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)),
            "updated" | "pushed" => a.pushed_at.cmp(&b.pushed_at).then(a.id.cmp(&b.id)),
            _ => a.full_name().to_lowercase().cmp(&b.full_name().to_lowercase()),
        });
        let ascending = sort == "full_name";
        if params.direction.as_deref().map_or(!ascending, |d| d == "desc") {
            repos.reverse();
        }
        repos
            .into_iter()
            .map(|(r, p)| shapes::repository(&shared.urls, w, r, Some(p)))
            .collect::<Vec<_>>()
    });
    Ok(paginate(&shared.urls, &uri, &params.page, items))
}

async fn get_repo(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((owner, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    shared.read(|w| {
        let (repo, role) = repo_for(w, &caller, &owner, &name, &READ)?;
        let viewer = caller.login.is_some().then_some(role);
        Ok(axum::Json(shapes::repository(&shared.urls, w, &repo, viewer)).into_response())
    })
}

/// `GET /repositories/{id}`: a repository by its id, whatever it is called now.
async fn get_repo_by_id(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    shared.read(|w| {
        let repo = w.repo_by_id(id).ok_or(ApiError::NotFound)?;
        let (repo, role) = repo_for(w, &caller, &repo.owner, &repo.name, &READ)?;
        let viewer = caller.login.is_some().then_some(role);
        Ok(axum::Json(shapes::repository(&shared.urls, w, &repo, viewer)).into_response())
    })
}

/// `GET /user/orgs`: the caller's organisations — private memberships only with `read:org`.
async fn list_user_orgs(State(shared): State<Arc<Shared>>, caller: Caller) -> Result<Response, ApiError> {
    let login = caller.require_login()?.to_string();
    let private_too = caller.has_any_scope(&["read:org", "admin:org", "user"]);
    shared.read(|w| {
        let orgs: Vec<Value> = w
            .memberships
            .iter()
            .filter(|m| m.login.eq_ignore_ascii_case(&login) && (m.public || private_too))
            .filter_map(|m| w.account(&m.org))
            .map(|a| shapes::simple_user(&shared.urls, a))
            .collect();
        Ok(axum::Json(orgs).into_response())
    })
}

/// `/commits/{ref}`, `/commits/{ref}/statuses` and `/commits/{ref}/status`: refs may hold
/// slashes, so one wildcard route serves all three.
async fn get_commit_routes(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    Path((owner, name, rest)): Path<(String, String, String)>,
    Query(page): Query<PageParams>,
) -> Result<Response, ApiError> {
    let (repo, _) = shared.read(|w| repo_for(w, &caller, &owner, &name, &READ))?;
    let bare = shared.bare_path(&repo);
    if let Some(r#ref) = rest.strip_suffix("/statuses") {
        let statuses = statuses::for_ref(&shared, &repo, r#ref).await;
        let items = shared.read(|w| {
            statuses
                .iter()
                .map(|s| shapes::status(&shared.urls, w, &repo, s))
                .collect()
        });
        return Ok(paginate(&shared.urls, &uri, &page, items));
    }
    if let Some(r#ref) = rest.strip_suffix("/status") {
        return Ok(statuses::combined(&shared, &repo, r#ref).await.into_response());
    }
    let sha = git_repo::resolve(&bare, &rest)
        .await
        .ok_or_else(|| ApiError::Unprocessable(format!("No commit found for SHA: {rest}")))?;
    let info = git_repo::commit_info(&bare, &sha).await?;
    Ok(shared.read(|w| axum::Json(shapes::commit(&shared.urls, w, &repo, &info)).into_response()))
}

async fn rate_limit(State(shared): State<Arc<Shared>>) -> axum::Json<Value> {
    let used = shared.read(|w| w.api_requests.len()).min(5000);
    let reset = clock::now() + 3600;
    let bucket =
        |limit: usize, used: usize| json!({"limit": limit, "used": used, "remaining": limit - used, "reset": reset});
    axum::Json(json!({
        "resources": {
            "core": bucket(5000, used),
            "search": bucket(30, 0),
            "graphql": bucket(5000, 0),
            "integration_manifest": bucket(5000, 0),
            "code_search": bucket(10, 0)
        },
        "rate": bucket(5000, used)
    }))
}
