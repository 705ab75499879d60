//! The running job: its task polled (state, node, exit code), its log followed into the job's
//! output, its timeout kept. The task's node is checked on every poll, because a node that dies
//! shows only in the node's state. While the manager is away the job goes on on its node; the
//! watch waits for the manager and resumes the log where it stopped.

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::TaskState;
use futures::{FutureExt, StreamExt};
use tokio::time::sleep_until;

use super::logs::{self, Cursor, LogStream};
use super::manager::Manager;
use super::nodes::{self, NodeInfo};
use super::placement::Placement;
use super::tasks;
use super::wrapper::{self, Marker};
use crate::engine::executor::docker::client::is_connection_error;
use crate::engine::executor::{JobEnd, JobOutput, JobSpec};

/// Log items handled before the output is flushed even if more are ready.
const FLUSH_EVERY: usize = 256;
/// Polls while the task is being placed and started, while it runs, and once its wrapper said
/// it is ending.
const POLL_STARTING: Duration = Duration::from_millis(100);
const POLL_RUNNING: Duration = Duration::from_millis(500);
const POLL_ENDING: Duration = Duration::from_millis(20);
const POLL_MANAGER_AWAY: Duration = Duration::from_secs(1);
/// A job still waiting for a node after this long says why in its log.
const SAY_WAITING_AFTER: Duration = Duration::from_secs(5);

pub struct Watch<'a> {
    pub docker: &'a Docker,
    pub manager: &'a Manager,
    pub placement: &'a Placement,
    pub service_id: &'a str,
    pub job: &'a JobSpec,
    pub nonce: &'a str,
    pub sha: &'a str,
    /// The clone's depth (0: all of the history), for the log.
    pub depth: u32,
    pub start_timeout: Duration,
}

/// What the job's wrapper said.
#[derive(Default)]
struct Said {
    source_ready: bool,
    source_failed: bool,
    pids_limit: bool,
    end: Option<(u64, u64)>,
}

/// Where the watch is.
struct State {
    created: Instant,
    running_since: Option<Instant>,
    node: Option<NodeInfo>,
    task_id: Option<String>,
    cursor: Cursor,
    logs: Option<LogStream>,
    said: Said,
    manager_away: bool,
    said_waiting: bool,
}

impl Watch<'_> {
    pub async fn run_to_end(&self, out: &mut dyn JobOutput) -> Result<JobEnd, JobEnd> {
        let mut st = State {
            created: Instant::now(),
            running_since: None,
            node: None,
            task_id: None,
            cursor: Cursor::default(),
            logs: None,
            said: Said::default(),
            manager_away: false,
            said_waiting: false,
        };
        let result = self.watch(&mut st, out).await;
        self.placement.finished(&self.job.key);
        result
    }

    async fn watch(&self, st: &mut State, out: &mut dyn JobOutput) -> Result<JobEnd, JobEnd> {
        let mut next_poll = tokio::time::Instant::now();
        loop {
            let deadline = st
                .running_since
                .map(|s| tokio::time::Instant::from_std(s + self.job.timeout));
            tokio::select! {
                item = next_item(&mut st.logs) => match item {
                    Some(Ok(first)) => {
                        self.take_ready(st, first, out);
                        if st.said.end.is_some() {
                            next_poll = tokio::time::Instant::now();
                        }
                    }
                    // The stream broke (the manager went away): reopened by the next poll.
                    Some(Err(_)) | None => st.logs = None,
                },
                _ = sleep_until(next_poll) => {
                    match self.poll(st, out).await? {
                        Poll::Ended(end) => return Ok(end),
                        Poll::Again(after) => next_poll = tokio::time::Instant::now() + after,
                    }
                }
                _ = sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {
                    return Ok(JobEnd::TimedOut { hit_pids_limit: st.said.pids_limit });
                }
            }
        }
    }

    async fn poll(&self, st: &mut State, out: &mut dyn JobOutput) -> Result<Poll, JobEnd> {
        let task = match tasks::current(self.docker, self.service_id).await {
            Ok(t) => t,
            Err(e) if is_connection_error(&e) => {
                if !st.manager_away {
                    st.manager_away = true;
                    out.notice(&format!(
                        "Lost the swarm manager ({}); the job goes on on its node, and its log resumes when the manager \
                         answers again",
                        self.manager.address
                    ));
                    out.flush();
                }
                return Ok(Poll::Again(POLL_MANAGER_AWAY));
            }
            Err(e) => return Err(self.manager.failed("reading the job's task", e)),
        };
        if std::mem::take(&mut st.manager_away) {
            out.notice("The swarm manager answers again");
        }
        let Some(task) = task else {
            return self.still_starting(st, "not yet created", out);
        };
        st.task_id = task.id.clone();
        self.check_node(st, task.node_id.as_deref(), out).await?;
        let state = tasks::state(&task);
        match state {
            s if tasks::is_starting(s) => self.still_starting(st, &tasks::describe(&task), out),
            Some(TaskState::RUNNING) => {
                st.running_since.get_or_insert_with(Instant::now);
                if st.logs.is_none()
                    && let Some(id) = &st.task_id
                {
                    st.cursor.reconnect();
                    st.logs = Some(logs::open(self.docker, id, &st.cursor, true));
                }
                Ok(Poll::Again(if st.said.end.is_some() {
                    POLL_ENDING
                } else {
                    POLL_RUNNING
                }))
            }
            Some(TaskState::COMPLETE | TaskState::FAILED) => {
                self.read_rest(st, out).await;
                if st.said.source_failed {
                    return Err(JobEnd::Failed(format!(
                        "the job could not fetch commit {} from Sicuro (git's message is in the log above). Check that \
                         the swarm's nodes reach SICURO_SWARM_SOURCE_URL",
                        short(self.sha)
                    )));
                }
                let code = tasks::exit_code(&task).ok_or_else(|| {
                    JobEnd::Failed(format!(
                        "the job's container did not run: its task is {}",
                        tasks::describe(&task)
                    ))
                })?;
                let (oom_kills, refused_forks) = st.said.end.unwrap_or((0, 0));
                Ok(Poll::Ended(JobEnd::Exited {
                    code,
                    oom_killed: oom_kills > 0,
                    hit_pids_limit: st.said.pids_limit || refused_forks > 0,
                }))
            }
            _ => Err(JobEnd::Failed(format!(
                "the swarm did not run the job{}: its task is {}",
                st.node
                    .as_ref()
                    .map(|n| format!(" on {}", n.describe()))
                    .unwrap_or_default(),
                tasks::describe(&task)
            ))),
        }
    }

    /// Learns the task's node, and fails the job when that node stopped answering.
    async fn check_node(&self, st: &mut State, node_id: Option<&str>, out: &mut dyn JobOutput) -> Result<(), JobEnd> {
        let Some(id) = node_id.filter(|id| !id.is_empty()) else {
            return Ok(());
        };
        let node = match nodes::inspect(self.docker, id).await {
            Ok(n) => n,
            // Polled again shortly; a manager that went away is noticed by the task poll.
            Err(_) => return Ok(()),
        };
        if st.node.as_ref().map(|n| n.id.as_str()) != Some(id) {
            out.notice(&format!("Running on {}", node.describe()));
            out.flush();
            self.placement.assigned(&self.job.key, &self.job.caches, id);
        }
        let down = node.is_down();
        st.node = Some(node);
        if down {
            return Err(tasks::node_lost(st.node.as_ref().expect("just set")));
        }
        Ok(())
    }

    fn still_starting(&self, st: &mut State, what: &str, out: &mut dyn JobOutput) -> Result<Poll, JobEnd> {
        let waited = st.created.elapsed();
        if waited > self.start_timeout {
            return Err(JobEnd::Failed(format!(
                "the job was not started within {}: its task is {what}",
                sicuro_types::format_duration(self.start_timeout.as_millis() as i64)
            )));
        }
        if waited > SAY_WAITING_AFTER && !st.said_waiting {
            st.said_waiting = true;
            out.notice(&format!("Waiting for the swarm to start the job: its task is {what}"));
            out.flush();
        }
        Ok(Poll::Again(POLL_STARTING))
    }

    /// After the task ended: the follow stream is dropped (it would not end by itself) and one
    /// plain read takes the lines it had not delivered.
    async fn read_rest(&self, st: &mut State, out: &mut dyn JobOutput) {
        st.logs = None;
        let Some(id) = st.task_id.clone() else {
            return;
        };
        st.cursor.reconnect();
        let mut rest = logs::open(self.docker, &id, &st.cursor, false);
        while let Some(Ok(item)) = rest.next().await {
            self.take(st, item, out);
        }
        out.flush();
    }

    /// Takes one log item and whatever else is ready at once, then flushes.
    fn take_ready(&self, st: &mut State, first: LogOutput, out: &mut dyn JobOutput) {
        self.take(st, first, out);
        for _ in 1..FLUSH_EVERY {
            let Some(logs) = st.logs.as_mut() else { break };
            match logs.next().now_or_never() {
                Some(Some(Ok(item))) => self.take(st, item, out),
                Some(Some(Err(_)) | None) => {
                    st.logs = None;
                    break;
                }
                None => break,
            }
        }
        out.flush();
    }

    fn take(&self, st: &mut State, item: LogOutput, out: &mut dyn JobOutput) {
        let (message, stderr) = match item {
            LogOutput::StdOut { message } | LogOutput::Console { message } => (message, false),
            LogOutput::StdErr { message } => (message, true),
            LogOutput::StdIn { .. } => return,
        };
        let Some((stamp, bytes)) = logs::split(&message) else {
            out.output(&message, stderr);
            return;
        };
        if !st.cursor.take(stamp) {
            return;
        }
        let Some((before, marker)) = wrapper::find(self.nonce, bytes) else {
            out.output(bytes, stderr);
            return;
        };
        if !before.is_empty() {
            out.output(before, stderr);
            out.output(b"\n", stderr);
        }
        match marker {
            Marker::SourceReady { git } => {
                st.said.source_ready = true;
                let how = if git {
                    match self.depth {
                        0 => "a git checkout with all of its history".to_string(),
                        n => format!("a git checkout with up to {n} commits of history"),
                    }
                } else {
                    "its files: the image has no git".to_string()
                };
                out.notice(&format!(
                    "Fetched {} from Sicuro into {} ({how})",
                    short(self.sha),
                    wrapper::WORKSPACE
                ));
            }
            Marker::SourceFailed => st.said.source_failed = true,
            Marker::PidsLimit => st.said.pids_limit = true,
            Marker::End {
                oom_kills,
                refused_forks,
                ..
            } => st.said.end = Some((oom_kills, refused_forks)),
        }
    }
}

enum Poll {
    Ended(JobEnd),
    Again(Duration),
}

async fn next_item(logs: &mut Option<LogStream>) -> Option<Result<LogOutput, bollard::errors::Error>> {
    match logs {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}
