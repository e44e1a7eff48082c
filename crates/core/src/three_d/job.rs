//! A job's state as seed 002 words it, from its task (and its picture step).

use crate::task::{Task, TaskError, TaskStatus, WAITING_FOR_PARENT};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    ImageTo3d,
    TextTo3d,
}

impl JobKind {
    /// Seed 002's `job_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImageTo3d => "image-to-3d",
            Self::TextTo3d => "text-to-3d",
        }
    }
}

/// A job's state.
#[derive(Debug, Clone, PartialEq)]
pub struct JobState {
    pub kind: JobKind,
    /// `pending`, `processing`, `completed` or `failed` (seed 002's four).
    pub status: &'static str,
    /// 0 to 100, over every step.
    pub progress: f64,
    /// Why it failed: the task's error, or its picture step's.
    pub error: Option<TaskError>,
}

/// The state of the job whose 3D task is `task`, with its picture step when it
/// has one (a text-to-3D chain).
pub fn job_state(task: &Task, picture: Option<&Task>) -> JobState {
    let kind = if picture.is_some() || task.after.is_some() || task.input.get("prompt").is_some() {
        JobKind::TextTo3d
    } else {
        JobKind::ImageTo3d
    };
    // A chain's picture is the first half of its progress.
    let (start, share) = if task.after.is_some() { (50.0, 0.5) } else { (0.0, 1.0) };
    let waiting = task.status == TaskStatus::Pending && task.run_after >= WAITING_FOR_PARENT;
    let (status, progress) = match task.status {
        TaskStatus::Completed => ("completed", 100.0),
        TaskStatus::Failed | TaskStatus::Cancelled | TaskStatus::Expired => {
            ("failed", f64::from(task.progress) * share + start)
        }
        TaskStatus::Processing | TaskStatus::WaitingInput => ("processing", start + f64::from(task.progress) * share),
        TaskStatus::Pending | TaskStatus::Retrying if waiting => match picture {
            Some(picture) if picture.status == TaskStatus::Processing || picture.status == TaskStatus::Completed => {
                ("processing", f64::from(picture.progress) * 0.5)
            }
            _ => ("pending", 0.0),
        },
        TaskStatus::Pending | TaskStatus::Retrying => ("pending", start),
    };
    let error = match task.status {
        TaskStatus::Failed | TaskStatus::Cancelled | TaskStatus::Expired => {
            Some(task.error.clone().unwrap_or_else(|| TaskError {
                code: task.status.to_string(),
                message: format!("the job was {}", task.status),
                retryable: false,
            }))
        }
        _ => None,
    };
    // A chain whose picture failed says why, though the 3D task has not failed yet.
    let error = error.or_else(|| {
        picture
            .filter(|picture| waiting && picture.status.is_terminal() && picture.status != TaskStatus::Completed)
            .map(|picture| {
                picture.error.clone().unwrap_or(TaskError {
                    code: picture.status.to_string(),
                    message: format!("the picture step was {}", picture.status),
                    retryable: false,
                })
            })
    });
    let status = if error.is_some() { "failed" } else { status };
    JobState { kind, status, progress: (progress * 10.0).round() / 10.0, error }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TaskId;
    use crate::task::NewTask;

    fn task(after: Option<TaskId>, input: serde_json::Value) -> Task {
        NewTask { max_attempts: 3, after, ..NewTask::new("local", "relief", input, 1) }.into_pending_task()
    }

    #[test]
    fn a_chain_counts_its_picture_as_the_first_half() {
        let mut picture = task(None, serde_json::json!({ "prompt": "a chair" }));
        let mut job = task(Some(picture.id), serde_json::json!({ "image": "task:x" }));
        let state = job_state(&job, Some(&picture));
        assert_eq!((state.kind, state.status, state.progress), (JobKind::TextTo3d, "pending", 0.0));
        picture.status = TaskStatus::Processing;
        picture.progress = 40;
        assert_eq!(job_state(&job, Some(&picture)).progress, 20.0);
        job.status = TaskStatus::Processing;
        job.run_after = 2;
        job.progress = 50;
        let state = job_state(&job, Some(&picture));
        assert_eq!((state.status, state.progress), ("processing", 75.0));
        job.status = TaskStatus::Completed;
        assert_eq!(job_state(&job, Some(&picture)).status, "completed");
    }

    #[test]
    fn a_failed_picture_fails_the_job_at_once() {
        let mut picture = task(None, serde_json::json!({ "prompt": "a chair" }));
        picture.status = TaskStatus::Failed;
        picture.error = Some(TaskError { code: "provider_error".into(), message: "down".into(), retryable: false });
        let job = task(Some(picture.id), serde_json::json!({ "image": "task:x" }));
        let state = job_state(&job, Some(&picture));
        assert_eq!(state.status, "failed");
        assert_eq!(state.error.map(|error| error.code), Some("provider_error".into()));
        let image = task(None, serde_json::json!({ "image": "https://e.com/a.png" }));
        assert_eq!(job_state(&image, None).kind, JobKind::ImageTo3d);
    }
}
