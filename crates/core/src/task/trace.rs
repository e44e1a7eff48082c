//! A task's trace context: the W3C `traceparent` of the request that created it,
//! stored with the task ([`Task::trace_context`](super::Task::trace_context)) so
//! that the worker that runs it, in this process or another, continues the same
//! trace.
//!
//! Core keeps it as opaque text and depends on no tracing backend: the server
//! installs a [`TracePropagation`] when it exports traces (OpenTelemetry over OTLP).
//! Without one, nothing is saved and runs start traces of their own. The
//! propagation is process-wide, as the `tracing` subscriber it works with is.

use std::sync::OnceLock;

/// Reads and continues trace contexts; the server's OpenTelemetry setup implements it.
pub trait TracePropagation: Send + Sync + 'static {
    /// The current span's context as a `traceparent`; `None` when no span is being
    /// traced.
    fn current(&self) -> Option<String>;

    /// Makes `span`, not entered yet, a child of the context `traceparent` names
    /// (ignored when it names none).
    fn continue_in(&self, span: &tracing::Span, traceparent: &str);
}

static PROPAGATION: OnceLock<Box<dyn TracePropagation>> = OnceLock::new();

/// Installs the process's propagation; `false` when one was installed already (the
/// first stays).
pub fn install(propagation: Box<dyn TracePropagation>) -> bool {
    PROPAGATION.set(propagation).is_ok()
}

/// The current span's context, to store with a task created now.
pub fn current() -> Option<String> {
    PROPAGATION.get()?.current()
}

/// Makes `span` continue the trace a task was stored with, if any.
pub fn continue_in(span: &tracing::Span, traceparent: Option<&str>) {
    if let (Some(propagation), Some(traceparent)) = (PROPAGATION.get(), traceparent) {
        propagation.continue_in(span, traceparent);
    }
}
