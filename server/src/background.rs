//! The server's long-lived tasks — the queue, the reapers, the status poster, live log feeds —
//! run under one supervisor. Such a task ending in a panic is a fault the server cannot work
//! around (builds would queue for ever, statuses stop reaching GitHub), so the supervisor keeps
//! the first fault: `sicuro serve` exits on it with the task's name and message, for the service
//! manager to restart a clean process, and the test harness fails the test at once with it.

use std::future::Future;

use tokio::sync::watch;

/// A background task that panicked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub task: &'static str,
    pub message: String,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the {} task panicked: {}", self.task, self.message)
    }
}

/// Spawns the server's background tasks and keeps the first fault among them; cheap to clone.
#[derive(Clone)]
pub struct Background {
    fault: watch::Sender<Option<Fault>>,
}

impl Default for Background {
    fn default() -> Self {
        Self {
            fault: watch::Sender::new(None),
        }
    }
}

impl Background {
    /// Runs `task` on the runtime; its panic becomes this supervisor's fault. A task that
    /// returns, or is dropped with the runtime at shutdown, is not a fault. The handle ends
    /// when the task has ended and its fault, if any, is recorded.
    pub fn spawn<F>(&self, task: &'static str, future: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(future);
        let fault = self.fault.clone();
        tokio::spawn(async move {
            let Err(e) = handle.await else { return };
            if !e.is_panic() {
                return;
            }
            let message = panic_message(e.into_panic());
            tracing::error!(task, "a background task panicked: {message}");
            fault.send_if_modified(|f| {
                let first = f.is_none();
                if first {
                    *f = Some(Fault { task, message });
                }
                first
            });
        })
    }

    /// The first fault, if a task has panicked.
    pub fn fault(&self) -> Option<Fault> {
        self.fault.borrow().clone()
    }

    /// Waits for the first fault (for ever, while none happens).
    pub async fn failed(&self) -> Fault {
        let mut rx = self.fault.subscribe();
        let fault = rx.wait_for(Option::is_some).await.expect("the sender is ours").clone();
        fault.expect("waited for one")
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic without a message)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_the_fault_with_its_name_and_message() {
        let background = Background::default();
        background.spawn("quiet", async {});
        background.spawn("queue", async { panic!("the queue's index is corrupt: {}", 7) });
        let fault = background.failed().await;
        assert_eq!(
            fault,
            Fault {
                task: "queue",
                message: "the queue's index is corrupt: 7".into()
            }
        );
        assert_eq!(
            fault.to_string(),
            "the queue task panicked: the queue's index is corrupt: 7"
        );
        assert_eq!(background.fault(), Some(fault));
    }

    #[tokio::test]
    async fn only_the_first_fault_is_kept_and_a_finished_task_is_none() {
        let background = Background::default();
        background.spawn("returns", async {}).await.unwrap();
        assert_eq!(background.fault(), None);
        background.spawn("first", async { panic!("one") }).await.unwrap();
        assert_eq!(background.failed().await.task, "first");
        background.spawn("second", async { panic!("two") }).await.unwrap();
        assert_eq!(background.fault().unwrap().message, "one");
    }
}
