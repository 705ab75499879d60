use serde_json::{Value, json};

use crate::support::{client, fake, get};

const CALLBACK: &str = "http://127.0.0.1:9/gh/callback";

fn authorize_url(fake: &fake_github::FakeGithub, extra: &str) -> String {
    format!(
        "{}login/oauth/authorize?client_id={}&redirect_uri={}&scope=repo%20user:email&state=xyz{extra}",
        fake.web_url(),
        fake.client_id(),
        url::form_urlencoded::byte_serialize(CALLBACK.as_bytes()).collect::<String>()
    )
}

fn query_of(location: &str) -> Vec<(String, String)> {
    let url = url::Url::parse(location).unwrap();
    assert_eq!(
        format!("{}://{}{}", url.scheme(), url.authority(), url.path()),
        CALLBACK
    );
    url.query_pairs().into_owned().collect()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

async fn exchange(fake: &fake_github::FakeGithub, code: &str, secret: &str) -> Value {
    client()
        .post(format!("{}login/oauth/access_token", fake.web_url()))
        .header("accept", "application/json")
        .form(&[
            ("client_id", fake.client_id()),
            ("client_secret", secret),
            ("code", code),
            ("redirect_uri", CALLBACK),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_authorize_page_offers_each_user_and_deny() {
    let fake = fake().await;
    fake.add_user("alice").unwrap();
    fake.add_user("bob").unwrap();
    let page = client().get(authorize_url(&fake, "")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(">Sign in as alice</button>"), "{html}");
    assert!(html.contains(">Sign in as bob</button>"));
    assert!(html.contains(">Deny</button>"));
    assert!(html.contains("name=\"state\" value=\"xyz\""));
}

#[tokio::test]
async fn approving_gives_a_single_use_code_for_a_working_token() {
    let fake = fake().await;
    fake.add_user("alice").unwrap();
    // The page's button posts the form back.
    let form = [
        ("client_id", fake.client_id()),
        ("redirect_uri", CALLBACK),
        ("scope", "repo user:email"),
        ("state", "xyz"),
        ("login", "alice"),
    ];
    let resp = client()
        .post(format!("{}login/oauth/authorize", fake.web_url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let q = query_of(resp.headers()["location"].to_str().unwrap());
    assert_eq!(param(&q, "state"), Some("xyz"));
    let code = param(&q, "code").unwrap().to_string();

    let answer = exchange(&fake, &code, fake.client_secret()).await;
    let token = answer["access_token"].as_str().unwrap();
    assert!(token.starts_with("gho_"), "{answer}");
    assert_eq!(answer["token_type"], "bearer");
    assert_eq!(answer["scope"], "repo,user:email");
    let (status, user) = get(&fake, Some(token), "user").await;
    assert_eq!((status, user["login"].as_str()), (200, Some("alice")));

    let again = exchange(&fake, &code, fake.client_secret()).await;
    assert_eq!(again["error"], "bad_verification_code");
    assert!(again.get("access_token").is_none());
}

#[tokio::test]
async fn the_login_shortcut_approves_at_once() {
    let fake = fake().await;
    fake.add_user("alice").unwrap();
    let resp = client().get(authorize_url(&fake, "&login=alice")).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let q = query_of(resp.headers()["location"].to_str().unwrap());
    assert!(param(&q, "code").is_some_and(|c| c.len() == 20));
}

#[tokio::test]
async fn denying_redirects_with_access_denied() {
    let fake = fake().await;
    fake.add_user("alice").unwrap();
    let resp = client().get(authorize_url(&fake, "&deny=1")).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let q = query_of(resp.headers()["location"].to_str().unwrap());
    assert_eq!(param(&q, "error"), Some("access_denied"));
    assert!(param(&q, "error_description").is_some());
    assert_eq!(param(&q, "state"), Some("xyz"));
    assert_eq!(param(&q, "code"), None);
}

#[tokio::test]
async fn a_wrong_secret_or_client_is_refused_like_github() {
    let fake = fake().await;
    fake.add_user("alice").unwrap();
    let resp = client().get(authorize_url(&fake, "&login=alice")).send().await.unwrap();
    let q = query_of(resp.headers()["location"].to_str().unwrap());
    let code = param(&q, "code").unwrap().to_string();

    let resp = client()
        .post(format!("{}login/oauth/access_token", fake.web_url()))
        .header("accept", "application/json")
        .form(&[
            ("client_id", fake.client_id()),
            ("client_secret", "wrong"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "GitHub answers OAuth errors with 200");
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["error"], "incorrect_client_credentials");

    // The code was not spent by the failed attempt; credentials in Basic auth work too.
    let resp = client()
        .post(format!("{}login/oauth/access_token", fake.web_url()))
        .basic_auth(fake.client_id(), Some(fake.client_secret()))
        .form(&[("code", code.as_str()), ("grant_type", "authorization_code")])
        .send()
        .await
        .unwrap();
    // Without `Accept: application/json` GitHub answers form-encoded.
    let text = resp.text().await.unwrap();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(text.as_bytes()).into_owned().collect();
    assert!(
        param(&pairs, "access_token").is_some_and(|t| t.starts_with("gho_")),
        "{text}"
    );
    assert_eq!(param(&pairs, "scope"), Some("repo,user:email"));

    let unknown_client = client()
        .get(authorize_url(&fake, "").replace(fake.client_id(), "someone-else"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_client.status(), 404);
    assert_eq!(
        exchange(&fake, "not-a-code", fake.client_secret()).await,
        json!({
            "error": "bad_verification_code",
            "error_description": "The code passed is incorrect or expired.",
            "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"
        })
    );
}
