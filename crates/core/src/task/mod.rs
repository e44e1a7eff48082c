//! Tasks: the durable job every generation is.

mod model;
mod service;
mod status;

pub use model::{Asset, NewAsset, NewTask, Task, TaskError, TaskFilter, TaskPage};
pub use service::{CreateTask, TaskRules, TaskService};
pub use status::TaskStatus;
