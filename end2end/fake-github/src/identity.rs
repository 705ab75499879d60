//! What changes about accounts and repositories besides their content: organisation
//! membership, renames and transfers, visibility — the facts a CI server must follow.

use crate::state::{Account, AccountKind};
use crate::{Error, FakeGithub, clock};

/// One membership of a user in an organisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Membership {
    pub org: String,
    pub login: String,
    /// Public memberships are listed to any token; private ones only with `read:org`.
    pub public: bool,
}

impl FakeGithub {
    /// Makes `login` a member of `org` (created if it does not exist).
    pub fn add_org_member(&self, org: &str, login: &str, public: bool) -> Result<(), Error> {
        self.shared.write(|w| {
            let login = w
                .user(login)
                .ok_or_else(|| Error::UnknownUser(login.into()))?
                .login
                .clone();
            if w.account(org).is_none() {
                let account = Account {
                    id: w.next_id(),
                    login: org.into(),
                    name: org.into(),
                    email: format!("{org}@orgs.fake-github.test"),
                    kind: AccountKind::Organization,
                    created_at: clock::now(),
                };
                w.accounts.push(account);
            }
            w.memberships
                .retain(|m| !(m.org.eq_ignore_ascii_case(org) && m.login == login));
            w.memberships.push(Membership {
                org: org.into(),
                login,
                public,
            });
            Ok(())
        })
    }

    /// Ends `login`'s membership of `org`.
    pub fn remove_org_member(&self, org: &str, login: &str) {
        self.shared.write(|w| {
            w.memberships
                .retain(|m| !(m.org.eq_ignore_ascii_case(org) && m.login.eq_ignore_ascii_case(login)))
        });
    }

    /// Renames or transfers a repository (`owner/name` → `new_owner/new_name`); its id, code,
    /// hooks and statuses go with it, and the old name then belongs to nobody.
    pub fn rename_repo(&self, full_name: &str, new_full_name: &str) -> Result<(), Error> {
        let id = self.repo_named(full_name)?.id;
        let (owner, name) = new_full_name
            .split_once('/')
            .ok_or_else(|| Error::InvalidName(new_full_name.into()))?;
        self.shared.write(|w| {
            if w.repo(owner, name).is_some() {
                return Err(Error::Exists(new_full_name.into()));
            }
            let owner = w.account(owner).map_or(owner.to_string(), |a| a.login.clone());
            let repo = w.repos.iter_mut().find(|r| r.id == id).expect("looked up above");
            repo.owner = owner;
            repo.name = name.into();
            Ok(())
        })
    }

    /// Makes a repository private or public.
    pub fn set_private(&self, full_name: &str, private: bool) -> Result<(), Error> {
        let id = self.repo_named(full_name)?.id;
        self.shared.write(|w| {
            let repo = w.repos.iter_mut().find(|r| r.id == id).expect("looked up above");
            repo.private = private;
        });
        Ok(())
    }
}
