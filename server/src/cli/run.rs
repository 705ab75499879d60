//! `sicuro run [PATH]`: the CI pipeline on a local working tree, uncommitted changes included,
//! with the log streamed to the terminal and the build's result as the exit code — so a
//! developer can reproduce the CI run on their own machine. Ctrl-C cancels it cleanly.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use sicuro_types::{BuildStatus, LineKind, LogLine};
use tokio_util::sync::CancellationToken;

use crate::config::EngineConfig;
use crate::engine::executor::{Source, SourceKind};
use crate::engine::job::{self, CacheOwner, JobInputs};
use crate::engine::log_store::{LogEvent, LogStore};
use crate::engine::plan::Plan;
use crate::engine::project_files::ProjectFiles;
use crate::engine::secrets;
use crate::engine::sicuro_json;
use crate::engine::verdict::{StopRequest, Verdict};
use crate::engine::working_tree::{working_tree_commit, working_tree_tar};

pub struct RunOptions {
    pub path: PathBuf,
    pub timeout: Option<Duration>,
    pub no_cache: bool,
    /// Secrets for the job (name, value), masked in its output as on the server.
    pub secrets: Vec<(String, String)>,
}

/// The instance label of `sicuro run`'s containers and caches (never a server's).
const INSTANCE: &str = "sicuro-run";

/// Runs the pipeline; returns the process exit code.
pub async fn run(options: RunOptions, engine: &EngineConfig) -> anyhow::Result<i32> {
    let path = options
        .path
        .canonicalize()
        .with_context(|| format!("{} does not exist", options.path.display()))?;
    let root_files = root_files(&path)?;
    let sicuro_json = match std::fs::read_to_string(path.join(sicuro_json::FILE_NAME)) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).context("sicuro.json could not be read"),
    };
    let executor = crate::engine::executor::from_config(INSTANCE, engine)
        .await
        .map_err(anyhow::Error::msg)?;
    // A job the executor runs elsewhere fetches a commit of the working tree instead.
    let snapshot = tempfile::tempdir()?;
    let source = match executor.source_kind() {
        SourceKind::Archive => Source::Archive(working_tree_tar(&path).await?),
        SourceKind::Commit => {
            let repo = snapshot.path().join("tree.git");
            let sha = working_tree_commit(&path, &repo).await?;
            Source::Commit {
                repo,
                sha,
                depth: crate::engine::checkout::CHECKOUT_DEPTH,
            }
        }
    };
    let project_files = ProjectFiles::read_dir(&path).context("the project's files could not be read")?;
    let logs_dir = tempfile::tempdir()?;
    let logs = LogStore::new(logs_dir.path())?;
    let mut log = logs.create(1, engine.log_limit_bytes)?;
    let printer = tokio::spawn(print_log(logs.clone()));

    let stop = CancellationToken::new();
    let ctrl_c = {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.cancel();
            }
        })
    };
    let verdict = match Plan::for_project(&root_files, &project_files, sicuro_json.as_deref(), None) {
        Err(e) => {
            let message = e.to_string();
            log.push(LineKind::Notice, &message);
            Verdict::error(message)
        }
        Ok(plan) => match chosen_secrets(&options.secrets, plan.secrets.as_deref()) {
            Err(message) => {
                log.push(LineKind::Notice, &message);
                Verdict::error(message)
            }
            Ok(secrets) => {
                let inputs = JobInputs {
                    key: format!("run-{}", std::process::id()),
                    source,
                    env: vec![("CI".into(), "true".into()), ("SICURO".into(), "true".into())],
                    secrets,
                    limits: engine.limits,
                    timeout: options.timeout.unwrap_or(engine.default_timeout),
                    // On a developer's own machine sicuro.json's timeout is not held to any ceiling.
                    max_timeout: Duration::MAX,
                    blocked_networks: engine.blocked_networks.clone(),
                    cache: (!options.no_cache).then_some(CacheOwner {
                        repo_id: tree_id(&path),
                        untrusted: false,
                    }),
                };
                let canceled = || StopRequest {
                    status: BuildStatus::Canceled,
                    message: "canceled with Ctrl-C".into(),
                };
                job::run(executor.as_ref(), &plan, inputs, &mut log, stop, canceled)
                    .await
                    .verdict
            }
        },
    };
    ctrl_c.abort();
    let summary = match (&verdict.status, &verdict.message) {
        (BuildStatus::Success, _) => "passed".to_string(),
        (s, Some(m)) => format!("{}: {m}", s.label()),
        (s, None) => s.label().to_string(),
    };
    log.push(LineKind::Notice, &format!("Result: {summary}"));
    log.finish(verdict.status)?;
    printer.await.ok();
    Ok(match verdict.status {
        BuildStatus::Success => 0,
        BuildStatus::Failure => verdict.exit_code.filter(|c| (1..=125).contains(c)).unwrap_or(1) as i32,
        BuildStatus::Canceled => 130,
        _ => 2,
    })
}

/// The secrets for `--secret NAME` (the value from the environment) and `--secrets-file`
/// (`NAME=value` lines, `#` comments), checked as the server checks them.
pub fn load_secrets(
    names: &[String],
    file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    if let Some(file) = file {
        let text = std::fs::read_to_string(file).with_context(|| format!("{} cannot be read", file.display()))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let Some((name, value)) = line.split_once('=') else {
                anyhow::bail!(
                    "{} line {}: expected NAME=value (the line is not shown: it may hold a secret)",
                    file.display(),
                    i + 1
                );
            };
            out.push((name.trim().to_string(), value.to_string()));
        }
    }
    for name in names {
        let value = env(name).with_context(|| {
            format!("--secret {name}: the environment has no {name}; set it (e.g. `{name}=… sicuro run --secret {name}`) or use --secrets-file")
        })?;
        out.push((name.clone(), value));
    }
    for (name, value) in &out {
        secrets::check_name(name).map_err(|e| anyhow::anyhow!("secret {e}"))?;
        secrets::check_value(value).map_err(|e| anyhow::anyhow!("secret {name}: {e}"))?;
    }
    // A name given twice: the last one counts, as in a shell.
    let mut seen = std::collections::HashSet::new();
    out.reverse();
    out.retain(|(n, _)| seen.insert(n.clone()));
    out.sort();
    Ok(out)
}

/// The secrets the job gets: all that were given, or only those sicuro.json lists.
fn chosen_secrets(given: &[(String, String)], wanted: Option<&[String]>) -> Result<Vec<(String, String)>, String> {
    let Some(wanted) = wanted else {
        return Ok(given.to_vec());
    };
    if let Some(missing) = wanted.iter().find(|w| !given.iter().any(|(n, _)| n == *w)) {
        return Err(format!(
            "sicuro.json lists the secret {missing}, which was not given: pass --secret {missing} (its value from the environment) or put it in a --secrets-file"
        ));
    }
    Ok(given.iter().filter(|(n, _)| wanted.contains(n)).cloned().collect())
}

fn root_files(path: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path).with_context(|| format!("{} cannot be read", path.display()))? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

/// Caches of `sicuro run` are per working tree: a number from the tree's path stands in for
/// the repository id (under the `sicuro-run` instance label, never a server's).
fn tree_id(path: &Path) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(path.to_string_lossy().as_bytes());
    i64::from_le_bytes(digest[..8].try_into().expect("8 bytes")) & i64::MAX
}

/// Prints lines as they arrive; Sicuro's own lines are styled when stdout is a terminal.
async fn print_log(logs: Arc<LogStore>) {
    let color = std::io::stdout().is_terminal();
    let mut lines = std::pin::pin!(logs.read(1, 0));
    while let Some(Ok(LogEvent::Lines(batch))) = lines.next().await {
        let mut out = std::io::stdout().lock();
        for line in &batch {
            let _ = writeln!(out, "{}", styled(line, color));
        }
        let _ = out.flush();
    }
}

fn styled(line: &LogLine, color: bool) -> String {
    let text = line.plain_text();
    if !color {
        return text;
    }
    match line.kind() {
        LineKind::Output => text,
        LineKind::Section => format!("\x1b[1;36m{text}\x1b[0m"),
        LineKind::Command => format!("\x1b[1m{text}\x1b[0m"),
        LineKind::Notice => format!("\x1b[33m{text}\x1b[0m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secrets_file_is_read_and_checked_without_repeating_its_values() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.env");
        std::fs::write(&file, "A_KEY=value=1234\r\n# note\nB_KEY=abcd\nA_KEY=later-value\n").unwrap();
        let got = load_secrets(&["C_KEY".into()], Some(&file), |n| {
            (n == "C_KEY").then(|| "from-env".into())
        })
        .unwrap();
        let want = [("A_KEY", "later-value"), ("B_KEY", "abcd"), ("C_KEY", "from-env")];
        assert_eq!(got, want.map(|(n, v)| (n.to_string(), v.to_string())));

        std::fs::write(&file, "A_KEY=fine-value\nhunter2-without-a-name\n").unwrap();
        let err = load_secrets(&[], Some(&file), |_| None).unwrap_err().to_string();
        assert!(
            err.contains("line 2: expected NAME=value") && !err.contains("hunter2"),
            "{err}"
        );
        std::fs::write(&file, "SHORT=abc\n").unwrap();
        let err = load_secrets(&[], Some(&file), |_| None).unwrap_err().to_string();
        assert!(err.contains("secret SHORT: the value is shorter than 4"), "{err}");
        std::fs::write(&file, "BAD-NAME=abcdef\n").unwrap();
        let err = load_secrets(&[], Some(&file), |_| None).unwrap_err().to_string();
        assert!(err.contains("not a secret's name"), "{err}");
    }

    #[test]
    fn sicuro_json_picks_among_the_given_secrets() {
        let given = vec![
            ("A".to_string(), "aaaa".to_string()),
            ("B".to_string(), "bbbb".to_string()),
        ];
        assert_eq!(chosen_secrets(&given, None).unwrap(), given);
        assert_eq!(chosen_secrets(&given, Some(&["B".into()])).unwrap(), given[1..]);
        assert!(
            chosen_secrets(&given, Some(&["C".into()]))
                .unwrap_err()
                .contains("--secret C")
        );
    }
}
