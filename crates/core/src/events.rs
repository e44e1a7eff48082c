//! Change notices: every change to a task is announced here, so that event streams
//! answer at once and idle workers wake when work arrives. The store stays the
//! source of truth; a notice only says "look again".

use std::sync::Arc;

use tokio::sync::{Notify, broadcast};

use crate::ids::TaskId;
use crate::task::TaskStatus;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskEvent {
    pub task_id: TaskId,
    pub status: TaskStatus,
}

/// In-process notices. On PostgreSQL a listener feeds notices from other processes in
/// here too.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<TaskEvent>,
    work: Arc<Notify>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(4096);
        Self { sender, work: Arc::new(Notify::new()) }
    }

    pub fn publish(&self, event: TaskEvent) {
        if matches!(event.status, TaskStatus::Pending | TaskStatus::Retrying) {
            self.work.notify_one();
        }
        // No subscriber is fine: nobody is watching.
        let _ = self.sender.send(event);
    }

    /// Wakes a worker without a task event (a remote task's poll is due).
    pub fn wake_workers(&self) {
        self.work.notify_one();
    }

    pub fn subscribe(&self) -> broadcast::Receiver<TaskEvent> {
        self.sender.subscribe()
    }

    /// Resolves when a notice about `task_id` arrives, or when notices were missed
    /// (lagged): either way, look again. Returns false once the bus is gone.
    pub async fn next_notice_for(receiver: &mut broadcast::Receiver<TaskEvent>, task_id: TaskId) -> bool {
        loop {
            match receiver.recv().await {
                Ok(event) if event.task_id == task_id => return true,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => return true,
                Err(broadcast::error::RecvError::Closed) => return false,
            }
        }
    }

    /// Resolves when work may have arrived.
    pub async fn work_arrived(&self) {
        self.work.notified().await;
    }
}
