//! The authorization matrix: every route the server answers — the JSON API, the streams, raw
//! logs, the badge, sign-in, the webhook receiver, the pages and the pages' server functions —
//! asked by six people (anonymous, a GitHub user with no access, a reader, a pusher, the
//! repository's admin, a server admin) about a public and a private repository. Each cell
//! asserts the status, and a refused cell that nothing of the private repository is in the body.
//! The routes come from the router itself: a route added without a row here fails the test.

use std::collections::BTreeSet;

use fake_github::{CommitSpec, Permission, RepoSpec};
use reqwest::Method;
use serde_json::json;
use sicuro_types::routes::path;

use crate::common::web_app::{Browser, TestApp};

/// Printed by the private repository's build, and its commit message: in no refused answer.
const MARKER: &str = "PRIVATE-MARKER-7f3a";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Role {
    Anonymous,
    Stranger,
    Reader,
    Pusher,
    ServerAdmin,
    Owner,
}

const ROLES: [Role; 6] = [
    Role::Anonymous,
    Role::Stranger,
    Role::Reader,
    Role::Pusher,
    Role::ServerAdmin,
    Role::Owner,
];

impl Role {
    fn login(self) -> Option<&'static str> {
        match self {
            Role::Anonymous => None,
            Role::Stranger => Some("sam"),
            Role::Reader => Some("rita"),
            Role::Pusher => Some("paul"),
            Role::ServerAdmin => Some("root"),
            Role::Owner => Some("alice"),
        }
    }

    fn reads(self, private: bool) -> bool {
        !private || !matches!(self, Role::Anonymous | Role::Stranger)
    }

    fn pushes(self) -> bool {
        matches!(self, Role::Pusher | Role::ServerAdmin | Role::Owner)
    }

    fn administers(self) -> bool {
        matches!(self, Role::ServerAdmin | Role::Owner)
    }
}

/// What a route asks of the person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    /// Anyone, signed in or not.
    Anyone,
    /// Nobody here: a local-mode action (403 with GitHub settings, whoever asks).
    LocalModeOnly,
    /// Reading the repository (unreadable: the same 404 as a missing one).
    Read,
    /// Push access on GitHub or server admin (readable without it: 403; anonymous: 401).
    Push,
    /// Admin on GitHub or server admin.
    Admin,
    /// Admin on GitHub itself (creating the webhook takes the person's own token): a server
    /// admin without access on GitHub gets GitHub's answer.
    GithubAdmin,
    /// Not people: the webhook receiver wants GitHub's signature (401 without).
    Signature,
}

/// One row: a route (as the router spells it), a method, what it needs, and the body it sends.
struct Row {
    path: &'static str,
    method: Method,
    need: Need,
    body: Option<serde_json::Value>,
}

fn row(path: &'static str, method: Method, need: Need) -> Row {
    Row {
        path,
        method,
        need,
        body: None,
    }
}

fn api_rows() -> Vec<Row> {
    use Need::*;
    let mut rows = vec![
        row(path::ME, Method::GET, Anyone),
        row(path::REPOS, Method::GET, Anyone),
        // Adding a repository by URL is local mode's; with GitHub, subscribing is the way.
        Row {
            body: Some(json!({ "url": "https://github.com/alice/other" })),
            ..row(path::REPOS, Method::POST, LocalModeOnly)
        },
        row(path::REPO, Method::GET, Read),
        row(path::REPO_BUILDS, Method::GET, Read),
        Row {
            body: Some(json!({})),
            ..row(path::REPO_BUILDS, Method::POST, Push)
        },
        row(path::REPO_SUBSCRIBE, Method::POST, GithubAdmin),
        // Everyone who reads the repository sees its settings; only admins change them.
        row(path::REPO_SETTINGS, Method::GET, Read),
        // The body is filled in with the repository's own settings (a change of nothing).
        row(path::REPO_SETTINGS, Method::POST, Admin),
        row(path::REPO_SECRETS, Method::GET, Admin),
        Row {
            body: Some(json!({ "value": "a-value-of-the-matrix", "forks": false })),
            ..row(path::REPO_SECRET, Method::PUT, Admin)
        },
        row(path::REPO_SECRET, Method::DELETE, Admin),
        row(path::REPO_SECRETS_AUDIT, Method::GET, Admin),
        row(path::REPO_CACHES_CLEAR, Method::POST, Push),
        row(path::REPO_EVENTS, Method::GET, Read),
        row(path::EVENTS, Method::GET, Anyone),
        row(path::BUILD, Method::GET, Read),
        row(path::BUILD_LOG, Method::GET, Read),
        row(path::BUILD_LOG_TEXT, Method::GET, Read),
        row(path::BUILD_LOG_STREAM, Method::GET, Read),
        row(path::BUILD_LOG_SEARCH, Method::GET, Read),
        row(path::BUILD_TESTS, Method::GET, Read),
        row(path::BUILD_CANCEL, Method::POST, Push),
        row(path::BUILD_REBUILD, Method::POST, Push),
        row(path::BUILD_APPROVE, Method::POST, Push),
        row(path::BUILD_DECLINE, Method::POST, Push),
        row(path::SIGN_IN, Method::GET, Anyone),
        row(path::SIGN_IN_CALLBACK, Method::GET, Anyone),
        row(path::HEALTHZ, Method::GET, Anyone),
        row(path::GITHUB_WEBHOOK, Method::POST, Signature),
        row(path::BADGE, Method::GET, Read),
        // Last: it takes the hook away.
        row(path::REPO_UNSUBSCRIBE, Method::POST, Admin),
    ];
    // Sign-out ends the session the other cells use; it has a test of its own below.
    rows.push(row(path::SIGN_OUT, Method::POST, Anyone));
    rows
}

/// The pages (GET, as a browser asks for them).
fn page_need(page: &str) -> Need {
    match page {
        "/" | "/auth/error" => Need::Anyone,
        p if p.starts_with("/repos/") => Need::Read,
        other => panic!("a page without a row in the authorization matrix: {other}"),
    }
}

/// The pages' server functions (GET), by name.
fn server_fn_need(name: &str) -> Need {
    match name {
        "get_server_info" | "get_viewer" | "get_repos" => Need::Anyone,
        "get_repo_builds" | "get_build" | "get_repo_settings" => Need::Read,
        other => panic!("a server function without a row in the authorization matrix: {other}"),
    }
}

/// The status a cell must answer, or `None` for "allowed" (any answer but 401, 403 and 404).
fn expected(need: Need, role: Role, private: bool) -> Option<u16> {
    let signed_in = role != Role::Anonymous;
    match need {
        Need::Anyone => None,
        Need::Signature => Some(401),
        Need::LocalModeOnly => Some(403),
        // Subscribing asks GitHub with the person's own token: sign-in first, then GitHub's view.
        Need::GithubAdmin if !signed_in => Some(401),
        // GitHub hides a private repository from those it gives no access: a server admin too.
        Need::GithubAdmin if private && matches!(role, Role::Stranger | Role::ServerAdmin) => Some(404),
        Need::GithubAdmin => (role != Role::Owner).then_some(403),
        _ if !role.reads(private) => Some(404),
        Need::Read => None,
        Need::Push | Need::Admin if !signed_in => Some(401),
        Need::Push => (!role.pushes()).then_some(403),
        Need::Admin => (!role.administers()).then_some(403),
    }
}

pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) people: Vec<(Role, Browser)>,
    /// (slug, a finished build's id and number) of the public and the private repository.
    pub(crate) repos: [(String, i64, i64); 2],
}

pub(crate) async fn world() -> World {
    let app = TestApp::start_with(false, &[("SICURO_ADMINS", "root")]).await;
    for login in ["alice", "sam", "rita", "paul", "root"] {
        app.fake.add_user(login).unwrap();
    }
    // A test report too, so that the report route has something to show.
    let json = json!({"test": {"custom": [
        format!("echo {MARKER}"),
        "printf '<testsuite name=\"s\" tests=\"1\"><testcase classname=\"c\" name=\"t\"/></testsuite>' > junit.xml",
    ]}})
    .to_string();
    for (slug, private) in [("alice/open", false), ("alice/closed", true)] {
        let marker = if private { MARKER } else { "public" };
        let json = json.replace(MARKER, marker);
        let mut spec = RepoSpec::new(slug)
            .collaborator("alice", Permission::Admin)
            .collaborator("rita", Permission::Pull)
            .collaborator("paul", Permission::Push);
        if private {
            spec = spec.private();
        }
        app.fake.add_repo(spec).await.unwrap();
        app.fake
            .commit(
                slug,
                CommitSpec::new("main", &format!("Initial {marker}")).file("sicuro.json", &json),
            )
            .await
            .unwrap();
    }
    let mut people = Vec::new();
    for role in ROLES {
        let mut b = match role.login() {
            Some(login) => app.signed_in(login).await,
            None => app.browser(),
        };
        if role != Role::Anonymous {
            b.refresh_csrf().await;
        }
        people.push((role, b));
    }
    let owner = &people.iter().find(|(r, _)| *r == Role::Owner).unwrap().1;
    let mut repos = Vec::new();
    for slug in ["alice/open", "alice/closed"] {
        let (code, body) = owner.post(&format!("/api/repos/{slug}/subscribe"), None).await;
        assert_eq!(code, 200, "{body}");
        let ping = app
            .wait_builds(slug, "the ping build", |b| {
                b.iter().find(|b| b.status().is_finished()).cloned()
            })
            .await;
        repos.push((slug.to_string(), ping.id, ping.number));
    }
    World {
        app,
        people,
        repos: [repos[0].clone(), repos[1].clone()],
    }
}

impl World {
    pub(crate) fn owner(&self) -> &Browser {
        &self.people.iter().find(|(r, _)| *r == Role::Owner).unwrap().1
    }

    /// The route's path for the public (`private == false`) or the private repository.
    pub(crate) fn fill(&self, pattern: &str, private: bool) -> String {
        let (slug, id, number) = &self.repos[private as usize];
        let (owner, name) = slug.split_once('/').unwrap();
        pattern
            .replace("{owner}", owner)
            .replace(":owner", owner)
            .replace("{name}", name)
            .replace(":name", name)
            .replace("{id}", &id.to_string())
            .replace("{secret}", "MATRIX_TOKEN")
            .replace("{file}", &format!("{name}.svg"))
            .replace(":number", &number.to_string())
            .replace("{number}", &number.to_string())
    }

    /// Sends one cell's request; the status and (for answers that end) the body.
    async fn ask(&self, who: &Browser, method: Method, url: &str, body: Option<&serde_json::Value>) -> (u16, String) {
        let mut req = who
            .client
            .request(method.clone(), who.url(url))
            .header("accept", "application/json");
        if method != Method::GET {
            req = req.header("x-csrf-token", &who.csrf);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let streaming = resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/event-stream"));
        // Event streams do not end: their status is the answer (their contents have tests of
        // their own); a refused stream is an ordinary answer with a body.
        let text = if streaming {
            String::new()
        } else {
            resp.text().await.unwrap_or_default()
        };
        (status, text)
    }
}

/// Runs one cell and says what was wrong with it, if anything.
async fn cell(
    w: &World,
    what: &str,
    method: Method,
    url: &str,
    body: Option<&serde_json::Value>,
    need: Need,
    role: Role,
    private: bool,
    who: &Browser,
) -> Option<String> {
    let (status, text) = w.ask(who, method.clone(), url, body).await;
    let want = expected(need, role, private);
    let wrong = match want {
        Some(code) => status != code,
        None => matches!(status, 401 | 403 | 404) || status >= 500,
    };
    let leaked = !role.reads(private) && text.contains(MARKER);
    (wrong || leaked).then(|| {
        format!(
            "{what}: {method} {url} as {role:?} on the {} repository answered {status} (wanted {}){}: {}",
            if private { "private" } else { "public" },
            want.map_or("allowed".to_string(), |c| c.to_string()),
            if leaked {
                ", and the body holds private data"
            } else {
                ""
            },
            text.chars().take(200).collect::<String>()
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_answers_each_person_as_their_access_allows() {
    let w = world().await;

    // Every route the router has is in the matrix, with the methods it routes.
    let rows = api_rows();
    let in_matrix: BTreeSet<(&str, &str)> = rows.iter().map(|r| (r.path, r.method.as_str())).collect();
    let routed: BTreeSet<(&str, &str)> = sicuro::web::routes::listed()
        .into_iter()
        .flat_map(|l| l.methods.iter().map(move |m| (l.path, *m)))
        .collect();
    assert_eq!(
        routed.difference(&in_matrix).collect::<Vec<_>>(),
        Vec::<&(&str, &str)>::new(),
        "routes without a row in the authorization matrix"
    );
    assert_eq!(
        in_matrix.difference(&routed).collect::<Vec<_>>(),
        Vec::<&(&str, &str)>::new(),
        "rows for routes that do not exist"
    );

    let settings = w
        .owner()
        .get_json(&format!("/api/repos/{}/settings", w.repos[0].0))
        .await
        .1;
    let mut problems = Vec::new();
    for r in rows.iter().filter(|r| r.path != path::SIGN_OUT) {
        for private in [false, true] {
            let url = w.fill(r.path, private);
            let url = match r.path {
                path::BUILD_LOG_SEARCH => format!("{url}?q=echo"),
                path::SIGN_IN_CALLBACK => format!("{url}?code=nothing&state=nothing"),
                _ => url,
            };
            for (role, who) in &w.people {
                // A secret to delete, each time.
                if r.path == path::REPO_SECRET && r.method == Method::DELETE {
                    let (code, body) = w
                        .owner()
                        .send(
                            Method::PUT,
                            &url,
                            Some(json!({ "value": "a-value-to-delete", "forks": false })),
                        )
                        .await;
                    assert!(code == 200 || code == 201, "{body}");
                }
                let body = match r.path {
                    path::REPO_SETTINGS if r.method == Method::POST => Some(settings.clone()),
                    _ => r.body.clone(),
                };
                let what = format!("{} {}", r.method, r.path);
                if let Some(p) = cell(
                    &w,
                    &what,
                    r.method.clone(),
                    &url,
                    body.as_ref(),
                    r.need,
                    *role,
                    private,
                    who,
                )
                .await
                {
                    problems.push(p);
                }
            }
        }
    }

    // The pages, as a browser loads them.
    let pages: BTreeSet<String> = leptos_axum::generate_route_list(app::App)
        .into_iter()
        .map(|r| r.path().to_string())
        .collect();
    assert!(pages.len() >= 4, "{pages:?}");
    for page in &pages {
        let need = page_need(page);
        for private in [false, true] {
            let url = w.fill(page, private);
            for (role, who) in &w.people {
                let (status, text) = {
                    let resp = who.page(&url).await;
                    (resp.status().as_u16(), resp.text().await.unwrap_or_default())
                };
                let want = expected(need, *role, private);
                let wrong = match want {
                    Some(code) => status != code,
                    None => status != 200,
                };
                let leaked = !role.reads(private) && text.contains(MARKER);
                if wrong || leaked {
                    problems.push(format!(
                        "page {page} ({url}) as {role:?}: {status}, wanted {want:?}{}",
                        if leaked { ", with private data" } else { "" }
                    ));
                }
            }
        }
    }

    // The pages' server functions, as the browser calls them after hydration.
    let fns: Vec<(String, Method)> = leptos::server_fn::axum::server_fn_paths()
        .map(|(p, m)| (p.to_string(), m))
        .collect();
    assert!(fns.len() >= 6, "{fns:?}");
    for (fn_path, method) in &fns {
        let name = fn_path
            .trim_start_matches(path::SERVER_FNS)
            .trim_start_matches('/')
            .trim_end_matches(|c: char| c.is_ascii_digit());
        let need = server_fn_need(name);
        for private in [false, true] {
            let (slug, _, number) = &w.repos[private as usize];
            let (owner, repo) = slug.split_once('/').unwrap();
            let url = format!("{fn_path}?owner={owner}&name={repo}&page=0&number={number}");
            for (role, who) in &w.people {
                if let Some(p) = cell(&w, name, method.clone(), &url, None, need, *role, private, who).await {
                    problems.push(p);
                }
            }
        }
    }

    // The settings page shows secrets' names to admins only.
    for private in [false, true] {
        let slug = &w.repos[private as usize].0;
        let (code, body) = w
            .owner()
            .send(
                Method::PUT,
                &format!("/api/repos/{slug}/secrets/MATRIX_VISIBLE"),
                Some(json!({ "value": "a-visible-name", "forks": false })),
            )
            .await;
        assert_eq!(code, 201, "{body}");
        let settings_fn = fns
            .iter()
            .find(|(p, _)| p.contains("get_repo_settings"))
            .map(|(p, _)| p.clone())
            .unwrap();
        let (owner, name) = slug.split_once('/').unwrap();
        for (role, who) in &w.people {
            for url in [
                format!("/repos/{slug}/settings"),
                format!("{settings_fn}?owner={owner}&name={name}"),
            ] {
                let text = who.get_text(&url).await.1;
                if text.contains("MATRIX_VISIBLE") != role.administers() {
                    problems.push(format!(
                        "{url} as {role:?}: secret names shown: {}",
                        !role.administers()
                    ));
                }
            }
        }
    }

    assert!(
        problems.is_empty(),
        "{} cells are wrong:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
