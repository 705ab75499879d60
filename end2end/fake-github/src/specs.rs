//! What tests ask the fake to create: a repository, a commit on a branch, a pull request.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::state::Permission;

/// A repository to create. `RepoSpec::new("alice/app")` is public, on `main`, with no language.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RepoSpec {
    /// `owner/name`; an owner that is no user becomes an organization.
    pub full_name: String,
    #[serde(default)]
    pub private: bool,
    #[serde(default = "main")]
    pub default_branch: String,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub collaborators: BTreeMap<String, Permission>,
    /// `owner/name` of the repository this is a fork of (its git history is copied).
    #[serde(default)]
    pub fork_of: Option<String>,
}

fn main() -> String {
    "main".into()
}

impl RepoSpec {
    pub fn new(full_name: &str) -> Self {
        RepoSpec {
            full_name: full_name.into(),
            private: false,
            default_branch: main(),
            language: None,
            description: None,
            collaborators: BTreeMap::new(),
            fork_of: None,
        }
    }

    pub fn private(mut self) -> Self {
        self.private = true;
        self
    }

    pub fn default_branch(mut self, branch: &str) -> Self {
        self.default_branch = branch.into();
        self
    }

    pub fn language(mut self, language: &str) -> Self {
        self.language = Some(language.into());
        self
    }

    pub fn description(mut self, description: &str) -> Self {
        self.description = Some(description.into());
        self
    }

    pub fn collaborator(mut self, login: &str, permission: Permission) -> Self {
        self.collaborators.insert(login.into(), permission);
        self
    }

    pub fn fork_of(mut self, full_name: &str) -> Self {
        self.fork_of = Some(full_name.into());
        self
    }
}

/// A commit to make on a branch: first `dir` replaces the tree (if given), then `files` are
/// written and `delete` removed. A new branch starts from `from`, else the default branch.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CommitSpec {
    pub branch: String,
    #[serde(default = "default_message")]
    pub message: String,
    /// Login of the author and pusher; the repository owner when `None`.
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub dir: Option<PathBuf>,
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    #[serde(default)]
    pub delete: Vec<String>,
    #[serde(default)]
    pub from: Option<String>,
}

fn default_message() -> String {
    "Update".into()
}

impl CommitSpec {
    pub fn new(branch: &str, message: &str) -> Self {
        CommitSpec {
            branch: branch.into(),
            message: message.into(),
            ..Default::default()
        }
    }

    pub fn file(mut self, path: &str, contents: &str) -> Self {
        self.files.insert(path.into(), contents.into());
        self
    }

    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    pub fn delete(mut self, path: &str) -> Self {
        self.delete.push(path.into());
        self
    }

    pub fn author(mut self, login: &str) -> Self {
        self.author = Some(login.into());
        self
    }

    pub fn from(mut self, start: &str) -> Self {
        self.from = Some(start.into());
        self
    }
}

/// A pull request into `repo`'s `base` from `head` of `head_repo` (a fork) or of `repo` itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PullRequestSpec {
    pub repo: String,
    pub base: String,
    #[serde(default)]
    pub head_repo: Option<String>,
    pub head: String,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    /// Login of the author.
    pub user: String,
}
