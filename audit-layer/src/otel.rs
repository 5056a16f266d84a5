//! The OpenTelemetry trace context of an audited call (cargo feature `opentelemetry`).
//!
//! With the feature on, a record whose context spans set no `trace.id` field takes
//! `trace.id` and `span.id` from the current OpenTelemetry context
//! (`opentelemetry::Context::current()`), when it holds a valid span. `tracing-opentelemetry`
//! attaches that context whenever a span it tracks is entered, so an audited call inside
//! an instrumented request carries the request's trace id. The feature depends on
//! `opentelemetry` 0.31 (the version `tracing-opentelemetry` 0.32 uses): a context attached
//! by another major version of `opentelemetry` is invisible to it.

use audit_core::canonical::Value;

/// Add `trace.id` / `span.id` from the current OpenTelemetry context, unless the span
/// fields already gave a `trace.id`. Without the feature, does nothing.
pub(crate) fn add_trace_context(context: &mut Vec<(&'static str, Value)>) {
    #[cfg(feature = "opentelemetry")]
    {
        use opentelemetry::trace::TraceContextExt as _;
        if context.iter().any(|(path, _)| *path == "trace.id") {
            return;
        }
        let ids = opentelemetry::Context::map_current(|cx| {
            let span = cx.span();
            let sc = span.span_context();
            sc.is_valid()
                .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
        });
        if let Some((trace_id, span_id)) = ids {
            context.push(("trace.id", Value::from(trace_id)));
            context.push(("span.id", Value::from(span_id)));
        }
    }
    #[cfg(not(feature = "opentelemetry"))]
    let _ = context;
}
