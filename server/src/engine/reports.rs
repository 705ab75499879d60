//! Test reports: the JUnit XML files a job wrote, which its script prints at its end between
//! markers (base64 in lines, so on any executor they come with the output, also when a test
//! command failed), collected here instead of going into the log, and parsed with `junit-parser`
//! into counts and test cases.

use base64::Engine as _;
use sicuro_types::{TestCaseResult, TestCounts, TestOutcome};

use super::output::ReportPiece;

/// Most bytes of one report file (decoded) and of all of a job's reports.
pub const MAX_FILE_BYTES: usize = 8 << 20;
pub const MAX_TOTAL_BYTES: usize = 32 << 20;
/// The longest message or output kept for a test case.
const MAX_TEXT: usize = 16 * 1024;

/// One file the job reported.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportFile {
    pub path: String,
    pub xml: Vec<u8>,
}

/// Gathers report files from their pieces, within the size limits.
#[derive(Default)]
pub struct Collector {
    files: Vec<ReportFile>,
    current: Option<(String, String)>,
    total: usize,
    pub problems: Vec<String>,
}

impl Collector {
    pub fn take(&mut self, piece: ReportPiece) {
        match piece {
            ReportPiece::Begin(path) => {
                let path = base64::engine::general_purpose::STANDARD
                    .decode(path.as_bytes())
                    .map(|p| String::from_utf8_lossy(&p).into_owned())
                    .unwrap_or_else(|_| "(a report)".into());
                self.current = Some((path, String::new()));
            }
            ReportPiece::Data(chunk) => {
                if let Some((path, data)) = &mut self.current {
                    if data.len() + chunk.len() > MAX_FILE_BYTES / 3 * 4 + 4 {
                        self.problems
                            .push(format!("{path} is over {} MiB: not read", MAX_FILE_BYTES >> 20));
                        self.current = None;
                        return;
                    }
                    data.push_str(&chunk);
                }
            }
            ReportPiece::End => {
                let Some((path, data)) = self.current.take() else {
                    return;
                };
                match base64::engine::general_purpose::STANDARD.decode(data.as_bytes()) {
                    // Two globs may name one file: it counts once.
                    Ok(_) if self.files.iter().any(|f| f.path == path) => {}
                    Ok(xml) if self.total + xml.len() <= MAX_TOTAL_BYTES => {
                        self.total += xml.len();
                        self.files.push(ReportFile { path, xml });
                    }
                    Ok(_) => self.problems.push(format!(
                        "{path}: the job's reports are over {} MiB in all: not read",
                        MAX_TOTAL_BYTES >> 20
                    )),
                    Err(e) => self.problems.push(format!("{path} arrived damaged: {e}")),
                }
            }
        }
    }

    pub fn into_files(self) -> (Vec<ReportFile>, Vec<String>) {
        (self.files, self.problems)
    }
}

/// What a job's reports say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedReports {
    pub counts: TestCounts,
    pub cases: Vec<TestCaseResult>,
    /// Files that could not be parsed, and why.
    pub problems: Vec<String>,
}

/// Parses the files; a file that is not JUnit XML is named in `problems`, the others still count.
pub fn parse(files: &[ReportFile], mut problems: Vec<String>) -> ParsedReports {
    let mut cases = Vec::new();
    for f in files {
        match junit_parser::from_reader(std::io::Cursor::new(&f.xml)) {
            Ok(suites) => {
                for suite in &suites.suites {
                    collect_suite(suite, &mut cases);
                }
            }
            Err(e) => problems.push(format!("{} is not JUnit XML: {e}", f.path)),
        }
    }
    let mut counts = TestCounts::default();
    for c in &cases {
        match c.outcome {
            TestOutcome::Passed => counts.passed += 1,
            TestOutcome::Failed | TestOutcome::Error => counts.failed += 1,
            TestOutcome::Skipped => counts.skipped += 1,
        }
    }
    ParsedReports {
        counts,
        cases,
        problems,
    }
}

fn collect_suite(suite: &junit_parser::TestSuite, out: &mut Vec<TestCaseResult>) {
    for case in &suite.cases {
        let (outcome, message) = match &case.status {
            junit_parser::TestStatus::Success => (TestOutcome::Passed, None),
            junit_parser::TestStatus::Failure(f) => (TestOutcome::Failed, Some(join(&f.message, &f.text))),
            junit_parser::TestStatus::Error(e) => (TestOutcome::Error, Some(join(&e.message, &e.text))),
            junit_parser::TestStatus::Skipped(s) => {
                (TestOutcome::Skipped, Some(s.message.clone()).filter(|m| !m.is_empty()))
            }
        };
        let output = match (outcome.is_failure(), &case.system_out, &case.system_err) {
            (true, out, err) => {
                let both: Vec<&str> = [out, err]
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .collect();
                (!both.is_empty()).then(|| both.join("\n"))
            }
            _ => None,
        };
        out.push(TestCaseResult {
            suite: suite.name.clone(),
            classname: case.classname.clone().unwrap_or_default(),
            name: case.original_name.clone(),
            outcome,
            duration_ms: (case.time * 1000.0).round() as i64,
            message: message.map(|m| cut(&m)),
            output: output.map(|o| cut(&o)),
            flaky: false,
        });
    }
    for inner in &suite.suites {
        collect_suite(inner, out);
    }
}

fn join(message: &str, text: &str) -> String {
    match (message.trim(), text.trim()) {
        (m, "") => m.to_string(),
        ("", t) => t.to_string(),
        (m, t) => format!("{m}\n{t}"),
    }
}

fn cut(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_string();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… ({} more bytes)", &text[..end], text.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    /// What cargo-nextest writes (its JUnit output, shortened).
    const NEXTEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="3" failures="1" errors="0" uuid="x" timestamp="2026-01-01T00:00:00Z" time="0.5">
    <testsuite name="adder" tests="3" disabled="1" errors="0" failures="1">
        <testcase name="tests::adds" classname="adder" timestamp="2026-01-01T00:00:00Z" time="0.012"/>
        <testcase name="tests::subtracts" classname="adder" timestamp="2026-01-01T00:00:00Z" time="0.420">
            <failure type="test failure">thread 'tests::subtracts' panicked at src/lib.rs:9:9:
assertion `left == right` failed</failure>
            <system-out>running 1 test</system-out>
            <system-err>note: run with `RUST_BACKTRACE=1`</system-err>
        </testcase>
        <testcase name="tests::ignored" classname="adder" time="0">
            <skipped/>
        </testcase>
    </testsuite>
</testsuites>"#;

    #[test]
    fn reports_arrive_in_pieces_and_parse_into_counts_and_cases() {
        let mut c = Collector::default();
        c.take(ReportPiece::Begin(b64("target/nextest/default/junit.xml")));
        let data = b64(NEXTEST);
        for chunk in data.as_bytes().chunks(76) {
            c.take(ReportPiece::Data(String::from_utf8(chunk.to_vec()).unwrap()));
        }
        c.take(ReportPiece::End);
        c.take(ReportPiece::Begin(b64("junit.xml")));
        c.take(ReportPiece::Data(b64("not xml at all <")));
        c.take(ReportPiece::End);
        let (files, problems) = c.into_files();
        assert_eq!(files[0].path, "target/nextest/default/junit.xml");
        let parsed = parse(&files, problems);
        assert_eq!(
            parsed.counts,
            TestCounts {
                passed: 1,
                failed: 1,
                skipped: 1
            }
        );
        let failed = parsed.cases.iter().find(|c| c.outcome == TestOutcome::Failed).unwrap();
        assert_eq!(
            (failed.classname.as_str(), failed.name.as_str()),
            ("adder", "tests::subtracts")
        );
        assert_eq!(failed.duration_ms, 420);
        assert!(
            failed
                .message
                .as_deref()
                .unwrap()
                .contains("assertion `left == right` failed")
        );
        assert!(failed.output.as_deref().unwrap().contains("RUST_BACKTRACE"));
        assert_eq!(parsed.problems.len(), 1, "{:?}", parsed.problems);
        assert!(
            parsed.problems[0].starts_with("junit.xml is not JUnit XML"),
            "{:?}",
            parsed.problems
        );
    }

    #[test]
    fn oversized_reports_are_named_not_read() {
        let mut c = Collector::default();
        c.take(ReportPiece::Begin(b64("huge.xml")));
        let chunk = "A".repeat(64 * 1024);
        // Base64 is 4 characters for 3 bytes.
        for _ in 0..(MAX_FILE_BYTES / 3 * 4 / chunk.len() + 2) {
            c.take(ReportPiece::Data(chunk.clone()));
        }
        c.take(ReportPiece::End);
        let (files, problems) = c.into_files();
        assert!(files.is_empty());
        assert!(problems[0].contains("huge.xml is over 8 MiB"), "{problems:?}");
    }
}
