//! Sign in with GitHub: the OAuth App web flow through the `oauth2` crate, against the
//! configured web base URL (github.com or GitHub Enterprise).

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, RedirectUrl, Scope,
    TokenResponse, TokenUrl,
};

use super::Github;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Why a sign-in did not complete, worded for the page that says so.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SignInError {
    #[error("You declined to let Sicuro use your GitHub account, so you are not signed in.")]
    Denied,
    #[error(
        "The sign-in link expired or did not start here (the state did not match). Start again from the sign-in page."
    )]
    StateMismatch,
    #[error("GitHub did not accept the sign-in code: {0}. Start again from the sign-in page.")]
    Exchange(String),
    #[error("GitHub could not be reached to finish the sign-in ({0}). Try again in a moment.")]
    Unavailable(String),
    #[error("The GitHub account {0} is not allowed to use this server.")]
    NotAllowed(String),
}

/// A token GitHub issued, with the scopes it granted.
pub struct IssuedToken {
    pub access_token: String,
    pub scopes: String,
}

impl Github {
    fn oauth_client(&self) -> Client {
        let web = &self.urls.web;
        BasicClient::new(ClientId::new(self.config.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.config.client_secret.clone()))
            .set_auth_uri(AuthUrl::from_url(web.join("login/oauth/authorize").expect("joins")))
            .set_token_uri(TokenUrl::from_url(web.join("login/oauth/access_token").expect("joins")))
            .set_redirect_uri(RedirectUrl::from_url(self.callback_url()))
    }

    pub fn callback_url(&self) -> url::Url {
        self.public_url.join("auth/github/callback").expect("joins")
    }

    /// The address to send the browser to, and the `state` to remember in its session.
    pub fn authorize_url(&self) -> (url::Url, String) {
        let (url, state) = self
            .oauth_client()
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.config.scopes.iter().cloned().map(Scope::new))
            .url();
        (url, state.secret().clone())
    }

    /// Exchanges the callback's code for a token.
    pub async fn exchange_code(&self, code: &str) -> Result<IssuedToken, SignInError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| SignInError::Unavailable(e.to_string()))?;
        let response = self
            .oauth_client()
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .request_async(&http)
            .await;
        match response {
            Ok(token) => Ok(IssuedToken {
                access_token: token.access_token().secret().clone(),
                scopes: token
                    .scopes()
                    .map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","))
                    .unwrap_or_default(),
            }),
            Err(oauth2::RequestTokenError::ServerResponse(e)) => Err(SignInError::Exchange(e.to_string())),
            // GitHub answers 200 with {"error": ...} for a bad code, which is not a token response.
            Err(oauth2::RequestTokenError::Parse(_, body)) => {
                let reason = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| {
                        let e = v.get("error")?.as_str()?.to_string();
                        let d = v.get("error_description").and_then(|d| d.as_str()).unwrap_or("");
                        Some(if d.is_empty() { e } else { format!("{e} ({d})") })
                    })
                    .unwrap_or_else(|| "an unexpected answer".into());
                Err(SignInError::Exchange(reason))
            }
            Err(oauth2::RequestTokenError::Request(e)) => Err(SignInError::Unavailable(e.to_string())),
            Err(oauth2::RequestTokenError::Other(e)) => Err(SignInError::Exchange(e)),
        }
    }
}
