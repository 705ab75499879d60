//! The parts of GitHub's REST API objects Sicuro reads.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct GhUser {
    pub id: i64,
    pub login: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct GhOwner {
    pub login: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct GhPermissions {
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub maintain: bool,
    #[serde(default)]
    pub push: bool,
    #[serde(default)]
    pub pull: bool,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct GhRepo {
    pub id: i64,
    pub name: String,
    pub full_name: String,
    pub owner: GhOwner,
    #[serde(default)]
    pub private: bool,
    pub html_url: String,
    pub clone_url: String,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub permissions: Option<GhPermissions>,
}

impl GhRepo {
    pub fn permission(&self) -> sicuro_types::Permission {
        use sicuro_types::Permission;
        match &self.permissions {
            Some(p) if p.admin => Permission::Admin,
            Some(p) if p.push || p.maintain => Permission::Push,
            Some(p) if p.pull => Permission::Read,
            Some(_) => Permission::None,
            // Without a permissions object (anonymous reads), public means readable.
            None if !self.private => Permission::Read,
            None => Permission::None,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct GhHookConfig {
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct GhHook {
    pub id: i64,
    #[serde(default)]
    pub config: Option<GhHookConfig>,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub active: bool,
}
