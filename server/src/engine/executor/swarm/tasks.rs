//! A service's task as the manager reports it. The API has no task events, so tasks are polled;
//! a node that dies is seen only as the node's own state (its tasks keep their last one).

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{Task, TaskState};
use bollard::query_parameters::ListTasksOptions;
use sicuro_types::format_duration;

use super::manager::Manager;
use super::nodes::{self, NodeInfo};
use crate::engine::executor::JobEnd;

/// The newest task of a service, if it has one yet.
pub async fn current(docker: &Docker, service_id: &str) -> Result<Option<Task>, bollard::errors::Error> {
    let tasks = docker
        .list_tasks(Some(ListTasksOptions {
            filters: Some([("service".to_string(), vec![service_id.to_string()])].into()),
        }))
        .await?;
    Ok(tasks
        .into_iter()
        .max_by_key(|t| t.version.as_ref().and_then(|v| v.index)))
}

pub fn state(task: &Task) -> Option<TaskState> {
    task.status.as_ref().and_then(|s| s.state)
}

/// Before the container runs (placed, pulling, starting).
pub fn is_starting(state: Option<TaskState>) -> bool {
    use TaskState::*;
    matches!(
        state,
        None | Some(NEW | ALLOCATED | PENDING | ASSIGNED | ACCEPTED | PREPARING | READY | STARTING)
    )
}

/// "pending: no suitable node (scheduling constraints not satisfied on 3 nodes)".
pub fn describe(task: &Task) -> String {
    let status = task.status.clone().unwrap_or_default();
    let state = status.state.map_or("not yet created".into(), |s| s.to_string());
    let why = status
        .err
        .filter(|e| !e.is_empty())
        .or(status.message.filter(|m| !m.is_empty()));
    match why {
        Some(w) => format!("{state}: {w}"),
        None => state,
    }
}

pub fn exit_code(task: &Task) -> Option<i64> {
    task.status
        .as_ref()
        .and_then(|s| s.container_status.as_ref())
        .and_then(|c| c.exit_code)
}

/// The message of a build whose node stopped answering the manager.
pub fn node_lost(node: &NodeInfo) -> JobEnd {
    let why = if node.message.is_empty() {
        String::new()
    } else {
        format!(" ({})", node.message)
    };
    JobEnd::Failed(format!(
        "the swarm node {} that ran this build stopped answering the manager{why}, and the job was lost with it. \
         Sicuro does not rerun a build elsewhere by itself (its commands may have had effects); rebuild it",
        node.describe()
    ))
}

/// Waits until a sidecar service's task runs (its health check passed), for at most `limit`.
pub async fn wait_running(
    docker: &Docker,
    manager: &Manager,
    service_id: &str,
    what: &str,
    limit: Duration,
) -> Result<(Duration, Option<NodeInfo>), JobEnd> {
    let started = Instant::now();
    loop {
        let task = current(docker, service_id)
            .await
            .map_err(|e| manager.failed(&format!("watching {what}"), e))?;
        let node = match task.as_ref().and_then(|t| t.node_id.as_deref()) {
            Some(id) => nodes::inspect(docker, id).await.ok(),
            None => None,
        };
        if let Some(n) = node.as_ref().filter(|n| n.is_down()) {
            return Err(node_lost(n));
        }
        match task.as_ref().map(state) {
            Some(Some(TaskState::RUNNING)) => return Ok((started.elapsed(), node)),
            Some(s) if !is_starting(s) => {
                return Err(JobEnd::Failed(format!(
                    "{what} did not start: its task is {}",
                    task.as_ref().map(describe).unwrap_or_default()
                )));
            }
            _ if started.elapsed() > limit => {
                return Err(JobEnd::Failed(format!(
                    "{what} was not ready within {}: its task is {}",
                    format_duration(limit.as_millis() as i64),
                    task.as_ref().map_or("not yet created".into(), describe)
                )));
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
