//! What a Python project declares for its tests in `pyproject.toml`, so that the default setup
//! installs it the way the project's own CI does: the project with its test extra
//! (`pip install -e '.[tests]'`) and its PEP 735 test dependency group (`--group tests`) — or,
//! when it locks them in `uv.lock`, the locked versions (`uv sync --locked`).

use serde::Deserialize;

/// Extras (`[project.optional-dependencies]`) taken for the tests: each one present.
pub const TEST_EXTRAS: &[&str] = &["test", "tests", "testing"];
/// Dependency groups (`[dependency-groups]`): the first present. `dev` only when there is no
/// test group (it is uv's default group, and it usually includes the test dependencies).
pub const TEST_GROUPS: &[&str] = &["test", "tests", "testing", "dev"];

#[derive(Debug, Default, PartialEq)]
pub struct TestDeps {
    pub extras: Vec<String>,
    pub group: Option<String>,
}

#[derive(Deserialize)]
struct PyProject {
    #[serde(default)]
    project: Option<Project>,
    #[serde(default, rename = "dependency-groups")]
    dependency_groups: Option<toml::Table>,
}

#[derive(Deserialize)]
struct Project {
    #[serde(default, rename = "optional-dependencies")]
    optional_dependencies: Option<toml::Table>,
}

/// The test extras and group `pyproject.toml` declares. A file that does not parse declares
/// nothing here: pip reports its problem itself when it installs the project.
pub fn test_deps(pyproject: &str) -> TestDeps {
    let Ok(parsed) = toml::from_str::<PyProject>(pyproject) else {
        return TestDeps::default();
    };
    let extras = parsed
        .project
        .and_then(|p| p.optional_dependencies)
        .map(|table| {
            TEST_EXTRAS
                .iter()
                .filter(|name| table.contains_key(**name))
                .map(|name| name.to_string())
                .collect()
        })
        .unwrap_or_default();
    let group = parsed.dependency_groups.and_then(|groups| {
        TEST_GROUPS
            .iter()
            .find(|name| groups.contains_key(**name))
            .map(|name| name.to_string())
    });
    TestDeps { extras, group }
}

impl TestDeps {
    /// The install command for the project itself: `pip install -e .`, with the extras and the
    /// group when there are any (`pip install -e '.[tests]' --group tests`).
    pub fn install_command(&self) -> String {
        let target = if self.extras.is_empty() {
            ".".to_string()
        } else {
            // Quoted: `.[tests]` is a glob pattern to bash.
            format!("'.[{}]'", self.extras.join(","))
        };
        match &self.group {
            Some(group) => format!("pip install -e {target} --group {group}"),
            None => format!("pip install -e {target}"),
        }
    }
}

impl TestDeps {
    /// The install command for a project that locks its dependencies in `uv.lock`: the locked
    /// versions, into the image's virtual environment (`--active`), keeping what is already
    /// there (`--inexact`: pytest stays), with only the test group and extras.
    pub fn uv_sync_command(&self) -> String {
        let mut cmd = "uv sync --locked --active --inexact --no-default-groups".to_string();
        if let Some(group) = &self.group {
            cmd.push_str(&format!(" --group {group}"));
        }
        for extra in &self.extras {
            cmd.push_str(&format!(" --extra {extra}"));
        }
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_test_extra_and_group() {
        let deps = test_deps(
            r#"
            [project]
            name = "p"
            [project.optional-dependencies]
            docs = ["sphinx"]
            tests = ["pytest", "hypothesis"]
            [dependency-groups]
            dev = [{include-group = "tests"}, "ruff"]
            tests = ["pytest"]
            "#,
        );
        assert_eq!(
            deps,
            TestDeps {
                extras: vec!["tests".into()],
                group: Some("tests".into())
            }
        );
        assert_eq!(deps.install_command(), "pip install -e '.[tests]' --group tests");
    }

    #[test]
    fn a_uv_lock_is_installed_with_uv_sync() {
        let deps = TestDeps {
            extras: vec!["test".into(), "testing".into()],
            group: Some("tests".into()),
        };
        assert_eq!(
            deps.uv_sync_command(),
            "uv sync --locked --active --inexact --no-default-groups --group tests --extra test --extra testing"
        );
        assert_eq!(
            TestDeps::default().uv_sync_command(),
            "uv sync --locked --active --inexact --no-default-groups"
        );
    }

    #[test]
    fn testing_is_a_test_group_too() {
        // pluggy's: `dev` has only pre-commit and tox.
        let deps = test_deps("[dependency-groups]\ndev = [\"tox\"]\ntesting = [\"pytest\"]\n");
        assert_eq!(deps.group.as_deref(), Some("testing"));
    }

    #[test]
    fn dev_is_the_group_only_without_a_test_group() {
        let deps = test_deps("[dependency-groups]\ndev = [\"pytest\"]\ndocs = [\"sphinx\"]\n");
        assert_eq!(deps.group.as_deref(), Some("dev"));
        assert_eq!(deps.install_command(), "pip install -e . --group dev");
        let deps = test_deps("[project.optional-dependencies]\ntesting = [\"pytest\"]\ntest = [\"x\"]\n");
        assert_eq!(deps.install_command(), "pip install -e '.[test,testing]'");
    }

    #[test]
    fn nothing_declared_or_unreadable_is_the_plain_install() {
        for text in ["[project]\nname = \"p\"\n", "[tool.black]\n", "this is [not toml", ""] {
            assert_eq!(test_deps(text), TestDeps::default(), "{text}");
            assert_eq!(test_deps(text).install_command(), "pip install -e .");
        }
    }
}
