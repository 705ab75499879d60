//! A job's output into its log: bytes are masked (`mask`: the job's secrets become `***`),
//! become lines (`output::LineAssembler`), the script's markers become sections and command
//! echoes, the executor's messages become notices, and the test reports the script prints at its
//! end go to a `reports::Collector`, not into the log. Masking comes first, on the raw stream, so
//! no line, cut piece of a long line, notice or report reaches the log writer unmasked.

use std::time::{Duration, Instant};

use sicuro_types::LineKind;

use super::executor::JobOutput;
use super::log_store::LogWriter;
use super::mask::{MaskStream, Masker};
use super::output::{LineAssembler, Piece};
use super::plan::{PHASES, Plan};
use super::reports::Collector;

pub struct LogOutput<'a> {
    log: &'a mut LogWriter,
    reports: Collector,
    commands: Vec<String>,
    masker: Masker,
    stdout: (MaskStream, LineAssembler),
    stderr: (MaskStream, LineAssembler),
    last_command: Option<usize>,
    /// When the job printed first: the script's first marker, so when it began to run.
    started: Option<Instant>,
}

impl<'a> LogOutput<'a> {
    /// `masker` holds the secrets the job was given (none: output passes through as it is).
    pub fn new(log: &'a mut LogWriter, plan: &Plan, nonce: &str, masker: Masker) -> Self {
        Self {
            log,
            reports: Collector::default(),
            commands: plan.commands().map(|c| masker.mask(c).into_owned()).collect(),
            stdout: (masker.stream(), LineAssembler::new(nonce)),
            stderr: (masker.stream(), LineAssembler::new(nonce)),
            masker,
            last_command: None,
            started: None,
        }
    }

    /// How long the job's script has been running.
    pub fn ran_for(&self) -> Duration {
        self.started.map_or(Duration::ZERO, |s| s.elapsed())
    }

    /// The index (in the plan's order) of the command that ran last.
    pub fn last_command_index(&self) -> Option<usize> {
        self.last_command
    }

    /// The command that ran last (the one that failed, when the job failed).
    pub fn last_command(&self) -> Option<&str> {
        self.last_command.and_then(|i| self.commands.get(i)).map(String::as_str)
    }

    /// Ends both streams (a last line without a newline).
    pub fn finish(&mut self) {
        let Self {
            log,
            reports,
            commands,
            stdout,
            stderr,
            last_command,
            ..
        } = self;
        for (mask, lines) in [stdout, stderr] {
            let mut emit = |p| handle(log, reports, commands, last_command, p);
            mask.finish(&mut |b| lines.push(b, &mut emit));
            lines.finish(&mut emit);
        }
        let _ = log.flush();
    }

    /// The test reports the job printed.
    pub fn take_reports(&mut self) -> Collector {
        std::mem::take(&mut self.reports)
    }
}

fn handle(
    log: &mut LogWriter,
    reports: &mut Collector,
    commands: &[String],
    last_command: &mut Option<usize>,
    piece: Piece,
) {
    match piece {
        Piece::Report(r) => reports.take(r),
        Piece::Line(l) => log.push(LineKind::Output, &l),
        Piece::Marker('s', i) => {
            if let Some(name) = PHASES.get(i as usize) {
                log.push(LineKind::Section, name);
            }
        }
        Piece::Marker('c', i) => {
            if let Some(cmd) = commands.get(i as usize) {
                *last_command = Some(i as usize);
                log.push(LineKind::Command, cmd);
            }
        }
        Piece::Marker(_, _) => {}
    }
}

impl JobOutput for LogOutput<'_> {
    fn output(&mut self, bytes: &[u8], from_stderr: bool) {
        let Self {
            log,
            reports,
            commands,
            stdout,
            stderr,
            last_command,
            started,
            ..
        } = self;
        started.get_or_insert_with(Instant::now);
        let (mask, lines) = if from_stderr { stderr } else { stdout };
        let mut emit = |p| handle(log, reports, commands, last_command, p);
        mask.push(bytes, &mut |b| lines.push(b, &mut emit));
    }

    fn notice(&mut self, text: &str) {
        self.log.push(LineKind::Notice, &self.masker.mask(text));
    }

    fn progress(&mut self, line: &str) {
        self.log.push(LineKind::Output, &self.masker.mask(line));
    }

    fn flush(&mut self) {
        if let Err(e) = self.log.flush() {
            tracing::error!("a log could not be written: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use sicuro_types::BuildStatus;

    use super::*;
    use crate::engine::log_store::LogStore;
    use crate::engine::output::MAX_LINE_BYTES;

    /// What the log file holds after the job printed `chunks` (on stdout, or alternating with
    /// stderr) with `secrets`.
    fn logged(secrets: &[&str], chunks: &[(&[u8], bool)]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::new(dir.path()).unwrap();
        let mut log = store.create(1, 1 << 30).unwrap();
        let plan = Plan::new(&[], Some(r#"{"test": {"custom": ["print"]}}"#), None).unwrap();
        let masker = Masker::new(secrets, &["##sicuro:n0nce:"]);
        let mut out = LogOutput::new(&mut log, &plan, "n0nce", masker);
        for (bytes, stderr) in chunks {
            out.output(bytes, *stderr);
            out.flush();
        }
        out.notice(&format!("a notice naming {}", secrets.first().unwrap_or(&"")));
        out.finish();
        log.finish(BuildStatus::Success).unwrap();
        String::from_utf8_lossy(&std::fs::read(store.path(1)).unwrap()).into_owned()
    }

    #[test]
    fn a_secret_split_across_writes_and_streams_never_reaches_the_log() {
        let secret = "tok-0123456789abcdef";
        let file = logged(
            &[secret],
            &[
                (b"before tok-01234", false),
                (b"stderr tok-0123456789ab", true),
                (b"56789abcdef after\n", false),
                (b"cdef\n", true),
            ],
        );
        assert!(!file.contains("0123456789"), "{file}");
        assert!(file.contains("before *** after"), "{file}");
        assert!(file.contains("stderr ***"), "{file}");
        assert!(file.contains("a notice naming ***"), "{file}");
    }

    #[test]
    fn a_secret_across_the_cut_of_an_endless_line_is_masked() {
        let secret = "tok-0123456789abcdef";
        let mut line = vec![b'x'; MAX_LINE_BYTES - 5];
        line.extend_from_slice(secret.as_bytes());
        line.extend_from_slice(b"\n");
        let (a, b) = line.split_at(MAX_LINE_BYTES - 1);
        let file = logged(&[secret], &[(a, false), (b, false)]);
        assert!(!file.contains("0123456789"), "the secret straddled the 64 KiB cut");
        assert!(file.contains("***"));
    }

    #[test]
    fn markers_still_work_when_a_secret_looks_like_part_of_one() {
        let file = logged(
            &["sicuro"],
            &[(b"##sicuro:n0nce:s:2\n##sicuro:n0nce:c:0\nsicuro\n", false)],
        );
        assert!(file.contains("test"), "the section marker was read: {file}");
        assert!(file.contains("print"), "the command marker was read: {file}");
        assert!(!file.contains("n0nce"), "no marker shown as output: {file}");
    }
}
