//! Tasks: the durable job every generation is.

mod admission;
mod files;
mod model;
mod report;
mod service;
mod status;
#[cfg(test)]
mod tests;
pub mod trace;

pub use admission::QueueScope;
pub(crate) use files::delete_unreferenced_blobs;
pub use model::{
    Asset, AssetFilter, AssetKind, AssetPage, MediaInfo, NewAsset, NewTask, OutputRole, Route, RouteSkip, StoredBlob,
    Task, TaskError, TaskFilter, TaskPage, TaskPlace, Upload, WAITING_FOR_PARENT,
};
pub use report::{QueueDepth, QuotaUse, ServiceReport};
pub(crate) use service::require_write;
pub use service::{CreateTask, TaskRules, TaskService};
pub use status::TaskStatus;
