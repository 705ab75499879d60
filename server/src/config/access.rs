//! Who may use this server once GitHub sign-in is on: the accounts and organisations its
//! operator lists, and its admins — or, explicitly, anyone with a GitHub account.

use std::collections::BTreeSet;

use super::problems::{Env, Problems};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccessPolicy {
    /// `SICURO_OPEN=true`: anyone with a GitHub account may sign in.
    pub open: bool,
    /// `SICURO_ALLOWED_USERS`: GitHub logins (lower case).
    pub users: BTreeSet<String>,
    /// `SICURO_ALLOWED_ORGS`: members of these organisations may sign in.
    pub orgs: BTreeSet<String>,
    /// `SICURO_ADMINS`: server admins — every repository, server-wide views and settings.
    pub admins: BTreeSet<String>,
}

impl AccessPolicy {
    /// Whether `login` is admitted by the lists alone; `None` when only its organisations can
    /// tell (ask GitHub, then [`AccessPolicy::admits`]).
    pub fn admits_by_name(&self, login: &str) -> Option<bool> {
        let login = login.to_ascii_lowercase();
        if self.open || self.users.contains(&login) || self.admins.contains(&login) {
            return Some(true);
        }
        if self.orgs.is_empty() { Some(false) } else { None }
    }

    /// Whether `login`, a member of `orgs`, may use this server.
    pub fn admits(&self, login: &str, orgs: &[String]) -> bool {
        self.admits_by_name(login)
            .unwrap_or_else(|| orgs.iter().any(|o| self.orgs.contains(&o.to_ascii_lowercase())))
    }

    pub fn is_admin(&self, login: &str) -> bool {
        self.admins.contains(&login.to_ascii_lowercase())
    }

    /// Whether membership of organisations must be asked of GitHub.
    pub fn needs_orgs(&self) -> bool {
        !self.open && !self.orgs.is_empty()
    }
}

pub(super) fn from_env(env: &Env, p: &mut Problems, github_configured: bool) -> AccessPolicy {
    let list = |var: &str| -> BTreeSet<String> {
        env.get(var)
            .unwrap_or_default()
            .split([',', ' '])
            .map(|s| s.trim().trim_start_matches('@').to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let open = p.parse_or(env, "SICURO_OPEN", false, "true or false", |s| match s {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    });
    let policy = AccessPolicy {
        open,
        users: list("SICURO_ALLOWED_USERS"),
        orgs: list("SICURO_ALLOWED_ORGS"),
        admins: list("SICURO_ADMINS"),
    };
    if github_configured && !open && policy.users.is_empty() && policy.orgs.is_empty() && policy.admins.is_empty() {
        p.add(
            "SICURO_ALLOWED_USERS",
            "GitHub sign-in is configured but nobody is allowed in (SICURO_ALLOWED_USERS, SICURO_ALLOWED_ORGS and \
             SICURO_ADMINS are all unset)",
            "list the GitHub logins (SICURO_ALLOWED_USERS, SICURO_ADMINS) or organisations (SICURO_ALLOWED_ORGS) \
             who may use this server, or set SICURO_OPEN=true to let anyone with a GitHub account in",
        );
    }
    policy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_admit_people_and_only_organisations_need_github() {
        let p = AccessPolicy {
            users: ["ann".to_string()].into(),
            orgs: ["acme".to_string()].into(),
            admins: ["root".to_string()].into(),
            ..Default::default()
        };
        assert_eq!(p.admits_by_name("Ann"), Some(true));
        assert_eq!(p.admits_by_name("root"), Some(true));
        assert_eq!(p.admits_by_name("bob"), None);
        assert!(p.admits("bob", &["ACME".into()]));
        assert!(!p.admits("bob", &["other".into()]));
        assert!(p.is_admin("Root") && !p.is_admin("ann"));
        let closed = AccessPolicy {
            users: ["ann".to_string()].into(),
            ..Default::default()
        };
        assert_eq!(closed.admits_by_name("bob"), Some(false));
        let open = AccessPolicy {
            open: true,
            ..Default::default()
        };
        assert!(open.admits("anyone", &[]));
    }
}
