//! The engine fetches a GitHub repository with the token of the person who subscribed it, so
//! webhook builds of private repositories work while nobody is signed in. The token is used on
//! the server only (see `engine::checkout`).

use std::sync::Arc;

use sicuro_types::RepoKind;

use crate::crypto::Keys;
use crate::db::{self, Db, repos::Repo};
use crate::engine::{CredentialSource, Credentials};

pub struct SubscriberTokens {
    pub db: Db,
    pub keys: Arc<Keys>,
}

#[async_trait::async_trait]
impl CredentialSource for SubscriberTokens {
    async fn for_repo(&self, repo: &Repo) -> Credentials {
        if repo.kind() != RepoKind::Github {
            return Credentials::default();
        }
        let Some(user_id) = repo.subscriber_id else {
            return Credentials::default();
        };
        let token = match db::users::get(&self.db, user_id).await {
            Ok(Some(u)) if u.token_revoked_at.is_none() => {
                u.token_ciphertext.as_deref().and_then(|c| self.keys.open(c))
            }
            _ => None,
        };
        Credentials { token }
    }
}
