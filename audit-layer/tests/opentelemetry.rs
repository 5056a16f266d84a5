//! The `opentelemetry` feature next to `tracing-opentelemetry`: records carry the
//! OpenTelemetry `trace.id` / `span.id` of the span they run in.
//!
//! Turning the feature on here would unify it into every workspace build (and change
//! rustc's diagnostics in the UI tests), so the check lives in the standalone crate
//! `examples/otel-trace-id`, which this test builds and runs (see `standalone/mod.rs`).
//! Its OpenTelemetry dependencies are not the workspace's, so this run may need the
//! registry the first time.

mod standalone;

#[test]
fn records_carry_the_opentelemetry_trace_id() {
    let stdout = standalone::run("otel-trace-id", false);
    assert_eq!(stdout.trim(), "4 audit records verified");
}
