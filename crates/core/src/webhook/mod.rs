//! Webhooks (issue 17): users subscribe a URL to events (a task created, started,
//! progressing, completed, failed or cancelled; a pipeline's phase complete or its
//! wait for input), and a task may name a webhook of its own (Replicate's
//! `webhook` and `webhook_events_filter`). Messages are signed as Standard
//! Webhooks says (`signing.rs`), stored as delivery rows before they are sent
//! (`relay.rs`: live from events, and a sweep after a crash), sent by the
//! `Dispatcher` under leases with retries for about a day (`schedule.rs`), and
//! logged (status, latency, the answer's start). Delivery is at least once:
//! receivers deduplicate by `webhook-id`.

mod dispatcher;
mod model;
mod relay;
mod schedule;
mod service;
pub mod signing;

pub use dispatcher::{DispatchSettings, Dispatcher};
pub use model::{
    AttemptOutcome, Delivery, DeliveryPage, DeliveryStatus, Destination, EXCERPT_BYTES, EventType, MAX_SUBSCRIPTIONS,
    Subscription, TaskTarget, excerpt,
};
pub use relay::{PROGRESS_EVERY, Relay, TaskRenderer};
pub use schedule::RetrySchedule;
pub use service::{NewSubscription, SubscriptionChange, WebhookService};

#[cfg(test)]
mod tests;
