//! A job's output into its log: bytes are masked (`mask`: the job's secrets become `***`),
//! become lines (`output::LineAssembler`), the script's markers become sections and command
//! echoes, and the executor's messages become notices. Masking comes first, on the raw stream,
//! so no line, cut piece of a long line or notice reaches the log writer unmasked.

use std::time::{Duration, Instant};

use sicuro_types::LineKind;

use super::executor::JobOutput;
use super::log_store::LogWriter;
use super::mask::{MaskStream, Masker};
use super::output::{LineAssembler, Piece};
use super::plan::{PHASES, Plan};

pub struct LogOutput<'a> {
    log: &'a mut LogWriter,
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

    /// The command that ran last (the one that failed, when the job failed).
    pub fn last_command(&self) -> Option<&str> {
        self.last_command.and_then(|i| self.commands.get(i)).map(String::as_str)
    }

    /// Ends both streams (a last line without a newline).
    pub fn finish(&mut self) {
        let Self {
            log,
            commands,
            stdout,
            stderr,
            last_command,
            ..
        } = self;
        for (mask, lines) in [stdout, stderr] {
            let mut emit = |p| handle(log, commands, last_command, p);
            mask.finish(&mut |b| lines.push(b, &mut emit));
            lines.finish(&mut emit);
        }
        let _ = log.flush();
    }
}

fn handle(log: &mut LogWriter, commands: &[String], last_command: &mut Option<usize>, piece: Piece) {
    match piece {
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
            commands,
            stdout,
            stderr,
            last_command,
            started,
            ..
        } = self;
        started.get_or_insert_with(Instant::now);
        let (mask, lines) = if from_stderr { stderr } else { stdout };
        let mut emit = |p| handle(log, commands, last_command, p);
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
