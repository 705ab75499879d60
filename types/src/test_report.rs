//! Test reports: what the JUnit XML files a job wrote say — counts, the failing tests with their
//! message and output, the slowest tests — and which tests are flaky (failed, then passed, on the
//! same commit).

use serde::{Deserialize, Serialize};

/// How a test case ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestOutcome {
    Passed,
    Failed,
    /// The test could not run to an assertion (JUnit's `<error>`); counted with the failures.
    Error,
    Skipped,
}

impl TestOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Error => "error",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Passed, Self::Failed, Self::Error, Self::Skipped]
            .into_iter()
            .find(|o| o.as_str() == s)
    }

    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Error)
    }
}

/// One test case of a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCaseResult {
    pub suite: String,
    pub classname: String,
    pub name: String,
    pub outcome: TestOutcome,
    pub duration_ms: i64,
    /// The failure's message (and for failures, its details and the test's output).
    pub message: Option<String>,
    pub output: Option<String>,
    /// It failed and passed on the same commit (in this build's history).
    #[serde(default)]
    pub flaky: bool,
}

/// How many tests passed, failed (errors included) and were skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCounts {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl TestCounts {
    pub fn total(&self) -> u64 {
        self.passed + self.failed + self.skipped
    }

    /// "212 passed, 3 failed" (", 2 skipped" when some were).
    pub fn describe(&self) -> String {
        let mut s = format!("{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            s.push_str(&format!(", {} skipped", self.skipped));
        }
        s
    }
}

/// A build's test report, as the build page shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReport {
    pub counts: TestCounts,
    pub failing: Vec<TestCaseResult>,
    pub slowest: Vec<TestCaseResult>,
    /// Tests of this build that failed and passed on its commit.
    pub flaky: Vec<TestCaseResult>,
    /// Report files that could not be read, and why.
    pub problems: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_like_a_status_line() {
        let c = TestCounts {
            passed: 212,
            failed: 3,
            skipped: 0,
        };
        assert_eq!(c.describe(), "212 passed, 3 failed");
        let c = TestCounts { skipped: 2, ..c };
        assert_eq!(c.describe(), "212 passed, 3 failed, 2 skipped");
        assert_eq!(TestOutcome::parse("error"), Some(TestOutcome::Error));
    }
}
