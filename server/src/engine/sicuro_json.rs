//! `sicuro.json`: the original schema (per phase `override` and `custom`) plus the extensions
//! users of other CI servers expect (`language`, `image`, `env`, `services`, `timeout`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

pub const FILE_NAME: &str = "sicuro.json";

pub const ALLOWED_KEYS: &[&str] = &[
    "dependencies",
    "setup",
    "test",
    "language",
    "image",
    "env",
    "services",
    "timeout",
    "reports",
    "secrets",
    "clone",
    "branches",
];
pub const PHASE_KEYS: &[&str] = &["override", "custom"];

/// The parsed file. Every key is optional.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SicuroJson {
    #[serde(default)]
    pub dependencies: Option<PhaseConfig>,
    #[serde(default)]
    pub setup: Option<PhaseConfig>,
    #[serde(default)]
    pub test: Option<PhaseConfig>,
    /// Picks the language defaults when detection picks the wrong one (or none).
    #[serde(default)]
    pub language: Option<String>,
    /// Runs the job in this image instead of the language's.
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub env: Option<BTreeMap<String, EnvValue>>,
    #[serde(default)]
    pub services: Option<Vec<String>>,
    /// "20m", "90s", "1h 30m".
    #[serde(default)]
    pub timeout: Option<String>,
    /// Where the job writes JUnit XML test reports: paths or globs under the workspace.
    #[serde(default)]
    pub reports: Option<Vec<String>>,
    /// The repository's secrets this job needs; only these are given to it.
    #[serde(default)]
    pub secrets: Option<Vec<String>>,
    /// How the job's git clone is made.
    #[serde(default)]
    pub clone: Option<CloneConfig>,
    /// Which branches' pushes build: names or globs (`release/*`; `*` stays within one path
    /// segment, `**` crosses them); a pattern starting with `!` excludes. Tags, pull requests,
    /// manual and scheduled builds are not filtered.
    #[serde(default)]
    pub branches: Option<Vec<String>>,
}

/// `"clone": {"depth": 200}`: how many commits of history the job's `.git` holds (0: all of it).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloneConfig {
    #[serde(default)]
    pub depth: Option<u32>,
}

pub const CLONE_KEYS: &[&str] = &["depth"];

/// One phase: skip the language's defaults (`override`) and/or add commands (`custom`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseConfig {
    #[serde(default, rename = "override")]
    pub override_defaults: Option<bool>,
    #[serde(default)]
    pub custom: Option<Vec<String>>,
}

/// Environment values may be written as strings, numbers or booleans.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum EnvValue {
    String(String),
    Number(serde_json::Number),
    Bool(bool),
}

impl fmt::Display for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(s) => f.write_str(s),
            Self::Number(n) => write!(f, "{n}"),
            Self::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A problem with the file, said the way a person fixes it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("sicuro.json{}: {message}", position(*line, *column))]
pub struct SicuroJsonError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

fn position(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" line {line}, column {column}")
    }
}

impl SicuroJson {
    pub fn parse(text: &str) -> Result<Self, SicuroJsonError> {
        let parsed: SicuroJson = serde_json::from_str(text).map_err(|e| SicuroJsonError {
            line: e.line(),
            column: e.column(),
            message: explain(&e),
        })?;
        parsed.validate()?;
        Ok(parsed)
    }

    fn validate(&self) -> Result<(), SicuroJsonError> {
        let whole_file = |message: String| SicuroJsonError {
            line: 0,
            column: 0,
            message,
        };
        if let Some(t) = &self.timeout {
            match humantime::parse_duration(t) {
                Ok(d) if !d.is_zero() => {}
                _ => {
                    return Err(whole_file(format!(
                        "`timeout` is \"{t}\", which is not a duration; write it like \"20m\", \"90s\" or \"1h 30m\""
                    )));
                }
            }
        }
        for s in self.services.iter().flatten() {
            if !super::service_kind::ServiceKind::NAMES.contains(&s.as_str()) {
                return Err(whole_file(format!(
                    "unknown service `{s}` in `services`; available services: {}",
                    super::service_kind::ServiceKind::NAMES.join(", ")
                )));
            }
        }
        if let Some(l) = &self.language
            && super::language::Language::parse(l).is_none()
        {
            return Err(whole_file(format!(
                "unknown language `{l}`; languages with defaults: {}",
                super::language::Language::NAMES.join(", ")
            )));
        }
        for pattern in self.reports.iter().flatten() {
            let allowed = |c: char| c.is_ascii_alphanumeric() || "._-/*?[]{},+@".contains(c);
            if pattern.is_empty()
                || pattern.starts_with('/')
                || pattern.split('/').any(|p| p == "..")
                || !pattern.chars().all(allowed)
            {
                return Err(whole_file(format!(
                    "`reports` entry \"{pattern}\" is not a path or glob inside the workspace (such as \"junit.xml\" or \"reports/**/*.xml\": letters, digits, . _ - / * ? [ ] {{ }} , + @, no ..)"
                )));
            }
        }
        for key in self.env.iter().flat_map(|e| e.keys()) {
            if !is_variable_name(key) {
                return Err(whole_file(format!(
                    "`env` key `{key}` is not a valid variable name (letters, digits and _, not starting with a digit)"
                )));
            }
        }
        for name in self.secrets.iter().flatten() {
            if !is_variable_name(name) {
                return Err(whole_file(format!(
                    "`secrets` lists `{name}`, which is not a secret's name (letters, digits and _, not starting with a digit)"
                )));
            }
        }
        if let Err(e) = self.branch_filter() {
            return Err(whole_file(e));
        }
        Ok(())
    }

    /// The `branches` patterns, compiled: `None` when every branch builds.
    fn branch_filter(&self) -> Result<Option<BranchFilter>, String> {
        let Some(patterns) = &self.branches else {
            return Ok(None);
        };
        let (mut include, mut exclude) = (globset::GlobSetBuilder::new(), globset::GlobSetBuilder::new());
        let mut includes = 0;
        for p in patterns {
            let (set, glob) = match p.strip_prefix('!') {
                Some(rest) => (&mut exclude, rest),
                None => {
                    includes += 1;
                    (&mut include, p.as_str())
                }
            };
            let compiled = globset::GlobBuilder::new(glob)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("`branches` entry \"{p}\" is not a branch name or glob: {e}"))?;
            set.add(compiled);
        }
        let build = |b: globset::GlobSetBuilder| b.build().map_err(|e| format!("`branches`: {e}"));
        Ok(Some(BranchFilter {
            include: (includes > 0).then(|| build(include)).transpose()?,
            exclude: build(exclude)?,
        }))
    }

    /// Whether a push to `branch` builds, by the `branches` filter (every branch when none).
    pub fn builds_branch(&self, branch: &str) -> bool {
        match self.branch_filter() {
            Ok(Some(f)) => f.include.as_ref().is_none_or(|i| i.is_match(branch)) && !f.exclude.is_match(branch),
            // No filter, or a broken one: build, and let the build say what is wrong.
            Ok(None) | Err(_) => true,
        }
    }

    /// The job clone's depth `sicuro.json` asks for: `Some(0)` for the whole history.
    pub fn clone_depth(&self) -> Option<u32> {
        self.clone.as_ref().and_then(|c| c.depth)
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.timeout.as_deref().and_then(|t| humantime::parse_duration(t).ok())
    }
}

struct BranchFilter {
    include: Option<globset::GlobSet>,
    exclude: globset::GlobSet,
}

/// An environment variable's name: letters, digits and `_`, not starting with a digit.
pub fn is_variable_name(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// serde's message, reworded for people writing the file: "key" instead of "field", and the list
/// of allowed keys whenever a key is unknown.
fn explain(e: &serde_json::Error) -> String {
    let raw = e.to_string();
    // serde_json appends " at line L column C"; the position is reported separately.
    let msg = raw
        .rsplit_once(" at line ")
        .map_or(raw.as_str(), |(m, _)| m)
        .to_string();
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        let key = rest.split(',').next().unwrap_or(rest);
        let allowed = if rest.contains("`override`") {
            PHASE_KEYS
        } else if rest.contains("`depth`") {
            CLONE_KEYS
        } else {
            ALLOWED_KEYS
        };
        return format!("unknown key {key}; allowed keys: {}", allowed.join(", "));
    }
    if e.is_syntax() || e.is_eof() {
        return format!("invalid JSON: {msg}");
    }
    msg.replace("field", "key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_example_parses() {
        let j = SicuroJson::parse(
            r#"{
              "dependencies": { "override": false, "custom": ["apt-get install -y phantomjs"] },
              "setup":        { "override": false, "custom": ["npm install -g grunt-cli"] },
              "test":         { "override": true,  "custom": ["grunt test"] }
            }"#,
        )
        .unwrap();
        assert_eq!(j.test.unwrap().override_defaults, Some(true));
        assert_eq!(j.setup.unwrap().custom.unwrap(), ["npm install -g grunt-cli"]);
    }

    #[test]
    fn every_key_is_optional() {
        assert_eq!(SicuroJson::parse("{}").unwrap(), SicuroJson::default());
        let j = SicuroJson::parse(r#"{"test": {}}"#).unwrap();
        assert_eq!(j.test, Some(PhaseConfig::default()));
        // jq's `//` in the original treated null like a missing key.
        let j = SicuroJson::parse(r#"{"test": {"override": null, "custom": null}}"#).unwrap();
        assert_eq!(j.test, Some(PhaseConfig::default()));
    }

    #[test]
    fn unknown_top_level_key_names_line_column_and_allowed_keys() {
        let err = SicuroJson::parse("{\n  \"setup\": {},\n  \"tset\": {}\n}").unwrap_err();
        assert_eq!((err.line, err.column), (3, 8));
        assert_eq!(
            err.to_string(),
            "sicuro.json line 3, column 8: unknown key `tset`; allowed keys: dependencies, setup, test, language, image, env, services, timeout, reports, secrets, clone, branches"
        );
    }

    #[test]
    fn branches_filter_pushes_by_name_and_glob() {
        let j = SicuroJson::parse(r#"{"branches": ["main", "release/*", "!release/old-*"]}"#).unwrap();
        assert!(j.builds_branch("main"));
        assert!(j.builds_branch("release/1.2"));
        assert!(!j.builds_branch("release/old-1"), "excluded");
        assert!(!j.builds_branch("release/1.2/hotfix"), "`*` stays within one segment");
        assert!(!j.builds_branch("feature/x"));
        let j = SicuroJson::parse(r#"{"branches": ["feature/**"]}"#).unwrap();
        assert!(j.builds_branch("feature/a/b"));
        assert!(!j.builds_branch("main"));
        let j = SicuroJson::parse(r#"{"branches": ["!wip/*"]}"#).unwrap();
        assert!(j.builds_branch("main"), "only exclusions: everything else builds");
        assert!(!j.builds_branch("wip/x"));
        assert!(SicuroJson::parse("{}").unwrap().builds_branch("anything"));
        let err = SicuroJson::parse(r#"{"branches": ["release/[1-"]}"#).unwrap_err();
        assert!(
            err.message
                .contains("`branches` entry \"release/[1-\" is not a branch name or glob"),
            "{err}"
        );
    }

    #[test]
    fn clone_depth_is_a_number_of_commits() {
        assert_eq!(
            SicuroJson::parse(r#"{"clone": {"depth": 500}}"#).unwrap().clone_depth(),
            Some(500)
        );
        assert_eq!(
            SicuroJson::parse(r#"{"clone": {"depth": 0}}"#).unwrap().clone_depth(),
            Some(0)
        );
        assert_eq!(SicuroJson::parse("{}").unwrap().clone_depth(), None);
        let err = SicuroJson::parse(r#"{"clone": {"deep": 5}}"#).unwrap_err();
        assert!(err.message.contains("unknown key `deep`; allowed keys: depth"), "{err}");
        let err = SicuroJson::parse(r#"{"clone": {"depth": -1}}"#).unwrap_err();
        assert!(err.message.contains("invalid value"), "{err}");
    }

    #[test]
    fn unknown_phase_key_lists_phase_keys() {
        let err = SicuroJson::parse(r#"{"test": {"overide": true}}"#).unwrap_err();
        assert!(
            err.message
                .contains("unknown key `overide`; allowed keys: override, custom"),
            "{err}"
        );
    }

    #[test]
    fn invalid_json_and_wrong_types_say_where() {
        let err = SicuroJson::parse("{\n \"test\": { \"custom\": [\"a\",] }\n}").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.starts_with("invalid JSON"), "{err}");

        let err = SicuroJson::parse(r#"{"test": {"override": "yes"}}"#).unwrap_err();
        assert!(err.message.contains("expected a boolean"), "{err}");

        let err = SicuroJson::parse(r#"{"test": {"custom": "make test"}}"#).unwrap_err();
        assert!(err.message.contains("expected a sequence"), "{err}");
    }

    #[test]
    fn extensions_are_checked() {
        let j = SicuroJson::parse(
            r#"{"image": "sicuro/node", "env": {"A": "1", "PORT": 3000, "ON": true}, "services": ["postgres", "redis"], "timeout": "20m"}"#,
        )
        .unwrap();
        assert_eq!(j.timeout(), Some(Duration::from_secs(1200)));
        assert_eq!(j.env.unwrap()["PORT"].to_string(), "3000");

        let err = SicuroJson::parse(r#"{"services": ["mysql"]}"#).unwrap_err();
        assert!(err.message.contains("available services: postgres, redis"), "{err}");
        let err = SicuroJson::parse(r#"{"timeout": "soon"}"#).unwrap_err();
        assert!(err.message.contains("not a duration"), "{err}");
        let err = SicuroJson::parse(r#"{"env": {"1BAD": "x"}}"#).unwrap_err();
        assert!(err.message.contains("not a valid variable name"), "{err}");
        let j = SicuroJson::parse(r#"{"reports": ["junit.xml", "reports/**/*.xml"]}"#).unwrap();
        assert_eq!(j.reports.unwrap().len(), 2);
        for bad in [
            r#"["/etc/passwd"]"#,
            r#"["../x.xml"]"#,
            r#"["$(rm -rf /).xml"]"#,
            r#"["a b.xml"]"#,
        ] {
            let err = SicuroJson::parse(&format!(r#"{{"reports": {bad}}}"#)).unwrap_err();
            assert!(
                err.message.contains("is not a path or glob inside the workspace"),
                "{err}"
            );
        }
        let j = SicuroJson::parse(r#"{"secrets": ["NPM_TOKEN", "DEPLOY_KEY"]}"#).unwrap();
        assert_eq!(j.secrets.unwrap(), ["NPM_TOKEN", "DEPLOY_KEY"]);
        let err = SicuroJson::parse(r#"{"secrets": ["NPM-TOKEN"]}"#).unwrap_err();
        assert!(
            err.message.contains("`NPM-TOKEN`, which is not a secret's name"),
            "{err}"
        );
        let err = SicuroJson::parse(r#"{"language": "cobol"}"#).unwrap_err();
        assert!(err.message.contains("ruby, node, python, go, rust"), "{err}");
    }
}
