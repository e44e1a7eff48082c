//! Spans exported over OTLP (HTTP, protobuf), when `telemetry.otlp_endpoint` is set.
//!
//! The `tracing` spans of Atelier's crates become OpenTelemetry spans: a request
//! (`atelier::router`), a task's run (`task.run`) and each provider call under it.
//! They are batched and sent by a task on the tokio runtime (the exporter's HTTP
//! client is the async reqwest already in the tree): no thread of its own. With no
//! endpoint nothing is built, and `tracing` runs as before.
//!
//! A task is stored with the W3C `traceparent` of the request that created it
//! ([`W3cTraceContext`], installed into core), and its run continues that trace,
//! in whichever process runs it.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, Tracer};
use tracing::{Level, Metadata, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;

use crate::config::TelemetryConfig;

/// The longest one send to the collector may take; the last one, at exit, too.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The trace export, running.
pub(super) struct Traces {
    provider: SdkTracerProvider,
    tracer: Tracer,
}

/// Starts the export for a process of `role`; `None` when no endpoint is set.
/// Runs inside the tokio runtime, which the batching task is spawned on. The batch
/// delay is OpenTelemetry's (5 s), or `OTEL_BSP_SCHEDULE_DELAY` (milliseconds).
pub(super) fn start(config: &TelemetryConfig, role: &str) -> anyhow::Result<Option<Traces>> {
    let Some(url) = config.traces_url()? else { return Ok(None) };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url.as_str())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .with_context(|| format!("telemetry.otlp_endpoint: cannot export to {url}"))?;
    let processor = BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .with_attribute(KeyValue::new("atelier.role", role.to_owned()))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio))))
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("atelier");
    Ok(Some(Traces { provider, tracer }))
}

impl Traces {
    /// The layer that turns spans into OpenTelemetry spans: Atelier's own spans
    /// down to debug (the request and task spans are at debug level, under the
    /// default log level), other crates' spans and every event (as span events)
    /// from info up.
    pub(super) fn layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.tracer.clone()).with_filter(filter_fn(exported))
    }

    /// Sends what is left and stops. Blocks until the last send is over (at most
    /// [`EXPORT_TIMEOUT`]); the runtime must be running on other threads.
    pub(super) fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "could not send the last spans to the OTLP collector");
        }
    }
}

fn exported(metadata: &Metadata<'_>) -> bool {
    let floor = if metadata.is_span() && metadata.target().starts_with("atelier") { Level::DEBUG } else { Level::INFO };
    *metadata.level() <= floor
}

/// The W3C `traceparent` of the current span, and the span that continues one.
pub(super) struct W3cTraceContext;

const TRACEPARENT: &str = "traceparent";

impl atelier_core::task::trace::TracePropagation for W3cTraceContext {
    fn current(&self) -> Option<String> {
        let context = tracing::Span::current().context();
        if !context.span().span_context().is_valid() {
            return None;
        }
        let mut carrier = HashMap::new();
        TraceContextPropagator::new().inject_context(&context, &mut carrier);
        carrier.remove(TRACEPARENT)
    }

    fn continue_in(&self, span: &tracing::Span, traceparent: &str) {
        let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
        let context = TraceContextPropagator::new().extract(&carrier);
        if context.span().span_context().is_valid() {
            // Fails only when the span is disabled or already started: it then
            // keeps a trace of its own.
            let _ = span.set_parent(context);
        }
    }
}

#[cfg(test)]
mod tests {
    use atelier_core::task::trace::TracePropagation as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    /// Without an endpoint nothing is built: no task joins the runtime. With one, the
    /// batching task does (which shows the count would see it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn no_endpoint_starts_no_export() {
        let metrics = tokio::runtime::Handle::current().metrics();
        let before = metrics.num_alive_tasks();
        let off = start(&TelemetryConfig::default(), "serve").expect("starts");
        assert!(off.is_none());
        assert_eq!(metrics.num_alive_tasks(), before, "no exporter task without an endpoint");

        let config = TelemetryConfig { otlp_endpoint: "http://127.0.0.1:9".into(), ..TelemetryConfig::default() };
        let on = start(&config, "serve").expect("starts").expect("an endpoint is set");
        assert_eq!(metrics.num_alive_tasks(), before + 1, "the batching task runs on the runtime");
        tokio::task::spawn_blocking(move || on.shutdown()).await.expect("shut down");
    }

    /// A traceparent taken inside a span is continued by another span: the same
    /// trace, a span of its own.
    #[test]
    fn a_stored_context_is_continued() {
        let provider = SdkTracerProvider::builder().build();
        let traces = Traces { tracer: provider.tracer("test"), provider };
        let subscriber = tracing_subscriber::registry().with(traces.layer());
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::debug_span!(target: "atelier::router", "request");
            let (traceparent, request_context) = {
                let _entered = request.enter();
                (W3cTraceContext.current().expect("a traced span"), tracing::Span::current().context())
            };
            let request_span = request_context.span().span_context().clone();
            assert_eq!(
                traceparent,
                format!("00-{}-{}-01", request_span.trace_id(), request_span.span_id()),
                "W3C: version, trace id, parent id, sampled"
            );

            let run = tracing::debug_span!(target: "atelier_core::worker::run", "task.run");
            W3cTraceContext.continue_in(&run, &traceparent);
            let run_context = run.context();
            assert_eq!(run_context.span().span_context().trace_id(), request_span.trace_id());
            assert_ne!(run_context.span().span_context().span_id(), request_span.span_id());

            // Outside any span there is nothing to store, and a malformed value is ignored.
            assert_eq!(W3cTraceContext.current(), None);
            let other = tracing::debug_span!(target: "atelier_core::worker::run", "task.run");
            W3cTraceContext.continue_in(&other, "00-not-a-traceparent");
            assert_ne!(other.context().span().span_context().trace_id(), request_span.trace_id());
        });
    }
}
