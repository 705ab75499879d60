//! Repository secrets: what may be set (names are variable names, values 4 characters to
//! 64 KiB), set and deleted with an audit trail, and which of them a build gets.
//!
//! A build gets secrets only when it is trusted with them: every build of the repository's own
//! code (pushes, tags, pull requests between its branches, manual, scheduled and ping builds —
//! the API lets only people with push access start builds); a pull request from a fork gets
//! only the secrets marked for forks, whoever approved it. Values are read when the build
//! starts, so a changed value applies to the next build. Only the main container gets them
//! (`job::spec`), and its output is masked (`mask`).

use sicuro_types::secret::MAX_VALUE_BYTES;

use super::mask::MIN_CHARS;
use super::sicuro_json::is_variable_name;
use super::verdict::Verdict;
use super::{Engine, EngineError};
use crate::db::builds::Build;
use crate::db::repos::Repo;
use crate::db::secrets::{self, SecretEvent, SecretRow};

/// Names Sicuro sets itself; a secret may not take them.
fn reserved(name: &str) -> bool {
    name == "CI" || name.starts_with("SICURO")
}

/// Why a name cannot be a secret's, said so it can be fixed.
pub fn check_name(name: &str) -> Result<(), String> {
    if !is_variable_name(name) || name.len() > 128 {
        return Err(format!(
            "`{}` is not a secret's name: use an environment variable's name (letters, digits and _, not starting with a digit, at most 128 characters), e.g. NPM_TOKEN",
            name.chars().take(140).collect::<String>()
        ));
    }
    if reserved(name) {
        return Err(format!(
            "`{name}` is a variable Sicuro sets itself (CI and SICURO…); choose another name"
        ));
    }
    Ok(())
}

/// Why a value cannot be stored. Never says the value.
pub fn check_value(value: &str) -> Result<(), String> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "the value is {} bytes; a secret may have at most {MAX_VALUE_BYTES} bytes (64 KiB)",
            value.len()
        ));
    }
    if value.chars().count() < MIN_CHARS {
        return Err(format!(
            "the value is shorter than {MIN_CHARS} characters: it could not be masked in logs without hiding ordinary output; use a longer value"
        ));
    }
    if value.contains('\0') {
        return Err("the value contains a NUL character, which no environment variable can hold".into());
    }
    let maskable = value
        .split('\n')
        .any(|l| l.trim_end_matches('\r').chars().count() >= MIN_CHARS);
    if !maskable {
        return Err(format!(
            "every line of the value is shorter than {MIN_CHARS} characters, so none of it could be masked in logs"
        ));
    }
    Ok(())
}

/// What a build is given.
#[derive(Debug, Default)]
pub struct Given {
    /// (name, value), in name order.
    pub secrets: Vec<(String, String)>,
    /// Secrets the build could have asked for but is not trusted with (a fork's build).
    pub withheld: Vec<String>,
}

impl Engine {
    /// Sets (creates or replaces) a secret; true when it is new.
    pub async fn set_secret(
        &self,
        repo_id: i64,
        name: &str,
        value: &str,
        forks: bool,
        actor: &str,
    ) -> Result<bool, EngineError> {
        check_name(name).map_err(EngineError::InvalidRequest)?;
        check_value(value).map_err(|why| EngineError::InvalidRequest(format!("secret {name}: {why}")))?;
        let sealed = self.0.secrets.seal(repo_id, name, value);
        Ok(secrets::put(&self.0.db, repo_id, name, &sealed, forks, actor).await?)
    }

    /// Deletes a secret; false when there was none.
    pub async fn delete_secret(&self, repo_id: i64, name: &str, actor: &str) -> Result<bool, EngineError> {
        Ok(secrets::delete(&self.0.db, repo_id, name, actor).await?)
    }

    /// The repository's secrets, without values.
    pub async fn secrets(&self, repo_id: i64) -> Result<Vec<SecretRow>, EngineError> {
        Ok(secrets::list(&self.0.db, repo_id).await?)
    }

    /// The newest changes to the repository's secrets.
    pub async fn secret_events(&self, repo_id: i64, limit: i64) -> Result<Vec<SecretEvent>, EngineError> {
        Ok(secrets::events(&self.0.db, repo_id, limit).await?)
    }

    /// The secrets this build gets: those it is trusted with, limited to `wanted` (sicuro.json's
    /// `secrets`) when given. A wanted secret the repository does not have ends the build.
    pub async fn secrets_for_build(
        &self,
        repo: &Repo,
        build: &Build,
        wanted: Option<&[String]>,
    ) -> Result<Given, Verdict> {
        let stored = secrets::sealed_for_repo(&self.0.db, repo.id)
            .await
            .map_err(|e| Verdict::error(format!("the repository's secrets could not be read: {e}")))?;
        if let Some(wanted) = wanted
            && let Some(missing) = wanted.iter().find(|w| !stored.iter().any(|s| &s.name == *w))
        {
            return Err(Verdict::error(format!(
                "sicuro.json lists the secret {missing}, which {} does not have: an admin of the repository adds it on its settings page (or PUT {}), or remove it from \"secrets\"",
                repo.slug(),
                sicuro_types::routes::fill(
                    sicuro_types::routes::path::REPO_SECRET,
                    &[&repo.owner, &repo.name, missing]
                ),
            )));
        }
        let mut given = Given::default();
        for s in stored {
            if wanted.is_some_and(|w| !w.contains(&s.name)) {
                continue;
            }
            if build.from_fork() && s.forks == 0 {
                given.withheld.push(s.name);
                continue;
            }
            let value = self.0.secrets.open(repo.id, &s.name, &s.ciphertext).ok_or_else(|| {
                Verdict::error(format!(
                    "the secret {} could not be opened: it was sealed with another server key (SICURO_SECRET_KEY changed); set it again",
                    s.name
                ))
            })?;
            given.secrets.push((s.name, value));
        }
        let names: Vec<String> = given.secrets.iter().map(|(n, _)| n.clone()).collect();
        secrets::record_given(&self.0.db, build.id, &names)
            .await
            .map_err(|e| Verdict::error(format!("the build's secrets could not be recorded: {e}")))?;
        Ok(given)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_variable_names_that_sicuro_does_not_set() {
        for ok in ["NPM_TOKEN", "_X", "deploy_key2"] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "1X", "NPM-TOKEN", "A B", "É"] {
            assert!(check_name(bad).unwrap_err().contains("not a secret's name"), "{bad}");
        }
        assert!(check_name("SICURO_COMMIT").unwrap_err().contains("Sicuro sets itself"));
        assert!(check_name("CI").is_err());
        assert!(check_name(&"A".repeat(129)).is_err());
    }

    #[test]
    fn values_are_long_enough_to_mask_and_small_enough_to_keep() {
        assert_eq!(check_value("abcd"), Ok(()));
        assert!(check_value("abc").unwrap_err().contains("shorter than 4"));
        assert!(check_value("ab\ncd\nef").unwrap_err().contains("every line"));
        assert_eq!(check_value("ab\ncdef"), Ok(()));
        assert!(
            check_value(&"x".repeat(MAX_VALUE_BYTES + 1))
                .unwrap_err()
                .contains("at most 65536")
        );
        assert_eq!(check_value(&"x".repeat(MAX_VALUE_BYTES)), Ok(()));
        assert!(check_value("abc\0def").unwrap_err().contains("NUL"));
    }
}
