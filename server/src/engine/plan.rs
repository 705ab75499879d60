//! The pipeline plan: which image, which environment and which commands, from the language's
//! defaults and `sicuro.json`; and the one shell script that runs them in the container.

use std::time::Duration;

use super::language::{Language, requirements_files};
use super::node_package_manager;
use super::project_files::ProjectFiles;
use super::python_tests;
use super::service_kind::ServiceKind;
use super::sicuro_json::{PhaseConfig, SicuroJson, SicuroJsonError};

pub const PHASES: [&str; 3] = ["dependencies", "setup", "test"];

/// The image for repositories with a `sicuro.json` but no language.
pub const BASE_IMAGE: &str = "sicuro/base";

/// Where test tools write JUnit XML when asked to (README, "Test reports", says how for each);
/// `sicuro.json`'s `"reports"` replaces this list.
pub const DEFAULT_REPORTS: &[&str] = &[
    "junit.xml",
    "*.junit.xml",
    "test-results.xml",
    "test-results/*.xml",
    "test-reports/*.xml",
    "reports/*.xml",
    "target/nextest/*/junit.xml",
    "target/surefire-reports/TEST-*.xml",
    "build/test-results/*/TEST-*.xml",
];

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub language: Option<Language>,
    pub image: String,
    /// From `sicuro.json`'s `env`, set in the container's environment.
    pub env: Vec<(String, String)>,
    pub phases: Vec<Phase>,
    pub services: Vec<ServiceKind>,
    pub timeout: Option<Duration>,
    /// Globs of the JUnit XML files the job writes, relative to the workspace.
    pub reports: Vec<String>,
    /// From `sicuro.json`'s `secrets`: the only secrets the job gets; `None` gives it all the
    /// build may have.
    pub secrets: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    pub name: &'static str,
    pub commands: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    SicuroJson(#[from] SicuroJsonError),
    #[error(
        "Sicuro cannot tell this repository's language: none of Gemfile, package.json, pyproject.toml, setup.py, \
         requirements.txt, go.mod or Cargo.toml is at its root. Add a sicuro.json at the root that says what to run, \
         for example {{\"language\": \"node\"}} or {{\"test\": {{\"custom\": [\"make test\"]}}}}"
    )]
    NoLanguage,
    #[error(
        "sicuro.json gives no commands to run and the language is unknown: add commands under \"test\": {{\"custom\": [...]}} \
         or name a \"language\""
    )]
    NothingToRun,
}

impl Plan {
    /// Builds the plan from the repository's root file names, its `sicuro.json` (if any) and the
    /// language GitHub reports (used only when detection finds nothing).
    pub fn new(
        root_files: &[String],
        sicuro_json: Option<&str>,
        github_language: Option<&str>,
    ) -> Result<Plan, PlanError> {
        Self::for_project(root_files, &ProjectFiles::default(), sicuro_json, github_language)
    }

    /// As [`Plan::new`], with the contents of the root files the defaults depend on
    /// (`pyproject.toml`'s test extra and dependency group, `package.json`'s package manager).
    pub fn for_project(
        root_files: &[String],
        project_files: &ProjectFiles,
        sicuro_json: Option<&str>,
        github_language: Option<&str>,
    ) -> Result<Plan, PlanError> {
        let config = sicuro_json.map(SicuroJson::parse).transpose()?;
        let language = config
            .as_ref()
            .and_then(|c| c.language.as_deref())
            .and_then(Language::parse)
            .or_else(|| Language::detect(root_files))
            .or_else(|| github_language.and_then(Language::parse));
        let Some(config) = config else {
            let language = language.ok_or(PlanError::NoLanguage)?;
            return Ok(Self::from_parts(
                Some(language),
                root_files,
                project_files,
                &SicuroJson::default(),
            ));
        };
        let plan = Self::from_parts(language, root_files, project_files, &config);
        if plan.language.is_none() && plan.phases.iter().all(|p| p.commands.is_empty()) {
            return Err(PlanError::NothingToRun);
        }
        Ok(plan)
    }

    fn from_parts(
        language: Option<Language>,
        root_files: &[String],
        project_files: &ProjectFiles,
        config: &SicuroJson,
    ) -> Plan {
        let defaults = language
            .map(|l| defaults(l, root_files, project_files))
            .unwrap_or_default();
        let configs = [&config.dependencies, &config.setup, &config.test];
        let phases = PHASES
            .iter()
            .zip(configs)
            .zip(defaults.into_phases())
            .map(|((name, cfg), default_cmds)| Phase {
                name,
                commands: phase_commands(default_cmds, cfg.as_ref()),
            })
            .collect();
        Plan {
            language,
            image: config
                .image
                .clone()
                .unwrap_or_else(|| language.map_or(BASE_IMAGE, Language::image).to_string()),
            env: config
                .env
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
            phases,
            services: config
                .services
                .iter()
                .flatten()
                .filter_map(|s| ServiceKind::parse(s))
                .collect(),
            timeout: config.timeout(),
            reports: config
                .reports
                .clone()
                .unwrap_or_else(|| DEFAULT_REPORTS.iter().map(|r| r.to_string()).collect()),
            secrets: config.secrets.clone(),
        }
    }

    /// Every command in order, as numbered by the script's markers.
    pub fn commands(&self) -> impl Iterator<Item = &str> {
        self.phases.iter().flat_map(|p| p.commands.iter().map(String::as_str))
    }

    /// The phase of the command at `index` (as numbered by [`Plan::commands`]).
    pub fn phase_of(&self, index: usize) -> Option<&'static str> {
        let mut first = 0;
        for phase in &self.phases {
            if index < first + phase.commands.len() {
                return Some(phase.name);
            }
            first += phase.commands.len();
        }
        None
    }

    /// The bash script that runs every phase in one shell. Lines starting with
    /// `##sicuro:<nonce>:` are markers the log reader turns into sections and command echoes; the
    /// nonce is random per build so a job cannot forge them.
    pub fn script(&self, nonce: &str) -> String {
        let mut s = String::new();
        s.push_str("#!/usr/bin/env bash\n# Generated by Sicuro. All phases run in this one shell, in order.\n");
        s.push_str("exec 2>&1 </dev/null\nset -o pipefail\n");
        s.push_str(&format!(
            "__sicuro_mark() {{ printf '##sicuro:{nonce}:%s:%s\\n' \"$1\" \"$2\"; }}\n"
        ));
        // The command runs through eval inside this shell, so `export` and `cd` carry on to later
        // commands; the first failing command ends the script with its exit code.
        s.push_str(
            "__sicuro_run() {\n  __sicuro_mark c \"$1\"\n  __sicuro_cmd=$2\n  shift 2\n  eval \"$__sicuro_cmd\"\n  \
             __sicuro_rc=$?\n  if [ \"$__sicuro_rc\" -ne 0 ]; then __sicuro_mark x \"$__sicuro_rc\"; exit \"$__sicuro_rc\"; fi\n}\n",
        );
        s.push_str(&self.report_trap(nonce));
        let mut n = 0;
        for (i, phase) in self.phases.iter().enumerate() {
            s.push_str(&format!("__sicuro_mark s {i}\n"));
            for cmd in &phase.commands {
                s.push_str(&format!("__sicuro_run {n} {}\n", shell_quote(cmd)));
                n += 1;
            }
        }
        s.push_str("__sicuro_mark d 0\n");
        s
    }
}

impl Plan {
    /// When the script exits (also after a failing command), it prints each test report it
    /// finds, base64 between markers; the output reader collects them apart from the log.
    /// The globs were checked to be plain paths (`sicuro.json` validation).
    fn report_trap(&self, nonce: &str) -> String {
        let globs = self.reports.join(" ");
        format!(
            "__sicuro_root=$PWD\n__sicuro_reports() {{\n  local f n=0 size\n  cd \"$__sicuro_root\" 2>/dev/null || return 0\n  \
             shopt -s nullglob globstar\n  for f in {globs}; do\n    [ -f \"$f\" ] || continue\n    n=$((n + 1))\n    \
             [ \"$n\" -gt 100 ] && break\n    size=$(wc -c < \"$f\")\n    if [ \"$size\" -gt 8388608 ]; then \
             echo \"[sicuro] $f is over 8 MiB: not read as a test report\"; continue; fi\n    \
             __sicuro_mark rf \"$(printf %s \"$f\" | base64 -w 0)\"\n    base64 -w 3000 \"$f\" | sed 's/^/##sicuro:{nonce}:rd:/'\n    \
             __sicuro_mark re 0\n  done\n}}\ntrap '__sicuro_rc=$?; __sicuro_reports; exit $__sicuro_rc' EXIT\n"
        )
    }
}

/// The original semantics: defaults unless `override`, then the `custom` commands.
fn phase_commands(defaults: Vec<String>, cfg: Option<&PhaseConfig>) -> Vec<String> {
    let overridden = cfg.and_then(|c| c.override_defaults).unwrap_or(false);
    let mut cmds = if overridden { Vec::new() } else { defaults };
    cmds.extend(cfg.and_then(|c| c.custom.clone()).unwrap_or_default());
    cmds
}

#[derive(Default)]
struct Defaults {
    dependencies: Vec<String>,
    setup: Vec<String>,
    test: Vec<String>,
}

impl Defaults {
    fn into_phases(self) -> [Vec<String>; 3] {
        [self.dependencies, self.setup, self.test]
    }
}

/// Each language's defaults (REFERENCE.md §1), decided from the files the repository has.
fn defaults(language: Language, root_files: &[String], project_files: &ProjectFiles) -> Defaults {
    let has = |name: &str| root_files.iter().any(|f| f == name);
    let v = |cmds: &[&str]| cmds.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    match language {
        Language::Ruby => Defaults {
            dependencies: v(&["export RAILS_ENV=test RACK_ENV=test"]),
            setup: v(&["bundle install"]),
            test: v(&["bundle exec rake test"]),
        },
        Language::Node => {
            let manager = node_package_manager::detect(root_files, project_files.get("package.json"));
            Defaults {
                dependencies: v(&["export NODE_ENV=test"]),
                setup: manager.setup(root_files),
                test: vec![manager.test()],
            }
        }
        Language::Python => {
            let mut setup: Vec<String> = requirements_files(root_files)
                .into_iter()
                .map(|f| format!("pip install -r {f}"))
                .collect();
            if has("pyproject.toml") || has("setup.py") {
                // The project with what it declares for its tests (extra, dependency group).
                let tests = project_files
                    .get("pyproject.toml")
                    .map(python_tests::test_deps)
                    .unwrap_or_default();
                setup.push(if has("uv.lock") && has("pyproject.toml") {
                    tests.uv_sync_command()
                } else {
                    tests.install_command()
                });
            }
            Defaults {
                dependencies: Vec::new(),
                setup,
                test: v(&["pytest"]),
            }
        }
        Language::Go => Defaults {
            dependencies: Vec::new(),
            // A module that vendors its dependencies builds from `vendor/` (Go's default with
            // vendor/modules.txt); `go mod download` would fetch them all again, or fail offline.
            setup: if has("vendor") {
                Vec::new()
            } else {
                v(&["go mod download"])
            },
            test: v(&["go test ./..."]),
        },
        Language::Rust => Defaults {
            dependencies: Vec::new(),
            setup: v(&["cargo fetch"]),
            test: v(&["cargo test"]),
        },
    }
}

/// Quotes a string for bash so that it is passed as one word, whatever it contains.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn commands(plan: &Plan) -> Vec<Vec<&str>> {
        plan.phases
            .iter()
            .map(|p| p.commands.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn language_defaults_follow_the_article() {
        let ruby = Plan::new(&files(&["Gemfile"]), None, None).unwrap();
        assert_eq!(ruby.image, "sicuro/ruby");
        assert_eq!(
            commands(&ruby),
            [
                vec!["export RAILS_ENV=test RACK_ENV=test"],
                vec!["bundle install"],
                vec!["bundle exec rake test"]
            ]
        );
        let node = Plan::new(&files(&["package.json", "package-lock.json"]), None, None).unwrap();
        assert_eq!(commands(&node)[1], ["npm ci"]);
        let node = Plan::new(&files(&["package.json"]), None, None).unwrap();
        assert_eq!(commands(&node)[1], ["npm install"]);
        let py = Plan::new(
            &files(&["requirements.txt", "requirements-dev.txt", "setup.py"]),
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            commands(&py)[1],
            [
                "pip install -r requirements-dev.txt",
                "pip install -r requirements.txt",
                "pip install -e ."
            ]
        );
        let go = Plan::new(&files(&["go.mod"]), None, None).unwrap();
        assert_eq!(commands(&go), [vec![], vec!["go mod download"], vec!["go test ./..."]]);
        let vendored = Plan::new(&files(&["go.mod", "vendor"]), None, None).unwrap();
        assert_eq!(commands(&vendored), [vec![], vec![], vec!["go test ./..."]]);
        let rust = Plan::new(&files(&["Cargo.toml"]), None, None).unwrap();
        assert_eq!(commands(&rust)[2], ["cargo test"]);
    }

    #[test]
    fn python_installs_the_test_extra_and_group_its_pyproject_declares() {
        let mut project = ProjectFiles::default();
        project.insert(
            "pyproject.toml",
            b"[project]\nname = \"p\"\n[project.optional-dependencies]\ntesting = [\"pytest\"]\n\
              [dependency-groups]\ntests = [\"pytest-cov\"]\n",
        );
        let py = Plan::for_project(&files(&["pyproject.toml", "requirements.txt"]), &project, None, None).unwrap();
        assert_eq!(
            commands(&py)[1],
            [
                "pip install -r requirements.txt",
                "pip install -e '.[testing]' --group tests"
            ]
        );
        // A uv.lock: its versions, with the same group.
        let py = Plan::for_project(&files(&["pyproject.toml", "uv.lock"]), &project, None, None).unwrap();
        assert_eq!(
            commands(&py)[1],
            ["uv sync --locked --active --inexact --no-default-groups --group tests --extra testing"]
        );
        // Without the contents, the plain install of before.
        let py = Plan::new(&files(&["pyproject.toml"]), None, None).unwrap();
        assert_eq!(commands(&py)[1], ["pip install -e ."]);
    }

    #[test]
    fn custom_commands_run_after_defaults_or_instead_of_them() {
        let plan = Plan::new(
            &files(&["package.json"]),
            Some(
                r#"{"dependencies": {"custom": ["apt-get install -y phantomjs"]},
                    "setup": {"override": false, "custom": ["npm install -g grunt-cli"]},
                    "test": {"override": true, "custom": ["grunt test"]}}"#,
            ),
            None,
        )
        .unwrap();
        assert_eq!(
            commands(&plan),
            [
                vec!["export NODE_ENV=test", "apt-get install -y phantomjs"],
                vec!["npm install", "npm install -g grunt-cli"],
                vec!["grunt test"]
            ]
        );
    }

    #[test]
    fn no_language_and_no_sicuro_json_says_how_to_add_one() {
        let err = Plan::new(&files(&["README.md"]), None, None).unwrap_err();
        assert_eq!(err, PlanError::NoLanguage);
        assert!(err.to_string().contains("Add a sicuro.json"));
    }

    #[test]
    fn github_language_is_the_fallback() {
        let plan = Plan::new(&files(&["README.md"]), None, Some("Ruby")).unwrap();
        assert_eq!(plan.language, Some(Language::Ruby));
        let plan = Plan::new(&files(&["Cargo.toml"]), None, Some("Ruby")).unwrap();
        assert_eq!(plan.language, Some(Language::Rust), "detection wins over GitHub");
    }

    #[test]
    fn sicuro_json_without_language_runs_its_commands_in_the_base_image() {
        let plan = Plan::new(
            &files(&["Makefile"]),
            Some(r#"{"test": {"custom": ["make test"]}}"#),
            None,
        )
        .unwrap();
        assert_eq!(plan.image, BASE_IMAGE);
        assert_eq!(commands(&plan), [vec![], vec![], vec!["make test"]]);
        let err = Plan::new(&files(&["Makefile"]), Some("{}"), None).unwrap_err();
        assert_eq!(err, PlanError::NothingToRun);
    }

    #[test]
    fn language_and_image_keys_choose_the_defaults_and_the_image() {
        let plan = Plan::new(
            &files(&["package.json", "Gemfile"]),
            Some(r#"{"language": "node", "image": "my/node:22"}"#),
            None,
        )
        .unwrap();
        assert_eq!(plan.language, Some(Language::Node));
        assert_eq!(plan.image, "my/node:22");
    }

    #[test]
    fn the_script_quotes_every_command_as_one_word() {
        let plan = Plan::new(
            &files(&[]),
            Some(r#"{"test": {"custom": ["echo 'it''s' \"$HOME\"; rm -rf /nope"]}}"#),
            None,
        )
        .unwrap();
        let script = plan.script("abc");
        assert!(
            script.contains(r#"__sicuro_run 0 'echo '\''it'\'''\''s'\'' "$HOME"; rm -rf /nope'"#),
            "{script}"
        );
        assert!(script.contains("##sicuro:abc:%s:%s"));
        assert!(script.ends_with("__sicuro_mark d 0\n"));
    }
}
