//! A job's output into its log: bytes become lines (`output::LineAssembler`), the script's
//! markers become sections and command echoes, and the executor's messages become notices.

use std::time::{Duration, Instant};

use sicuro_types::LineKind;

use super::executor::JobOutput;
use super::log_store::LogWriter;
use super::output::{LineAssembler, Piece};
use super::plan::{PHASES, Plan};

pub struct LogOutput<'a> {
    log: &'a mut LogWriter,
    commands: Vec<String>,
    stdout: LineAssembler,
    stderr: LineAssembler,
    last_command: Option<usize>,
    /// When the job printed first: the script's first marker, so when it began to run.
    started: Option<Instant>,
}

impl<'a> LogOutput<'a> {
    pub fn new(log: &'a mut LogWriter, plan: &Plan, nonce: &str) -> Self {
        Self {
            log,
            commands: plan.commands().map(str::to_string).collect(),
            stdout: LineAssembler::new(nonce),
            stderr: LineAssembler::new(nonce),
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
            commands,
            stdout,
            stderr,
            last_command,
            ..
        } = self;
        stdout.finish(&mut |p| handle(log, commands, last_command, p));
        stderr.finish(&mut |p| handle(log, commands, last_command, p));
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
        } = self;
        started.get_or_insert_with(Instant::now);
        let assembler = if from_stderr { stderr } else { stdout };
        assembler.push(bytes, &mut |p| handle(log, commands, last_command, p));
    }

    fn notice(&mut self, text: &str) {
        self.log.push(LineKind::Notice, text);
    }

    fn progress(&mut self, line: &str) {
        self.log.push(LineKind::Output, line);
    }

    fn flush(&mut self) {
        if let Err(e) = self.log.flush() {
            tracing::error!("a log could not be written: {e}");
        }
    }
}
