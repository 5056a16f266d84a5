//! # audit-layer
//!
//! Signed, hash-chained audit records from ordinary Rust functions: annotate them with
//! [`#[audited]`](audited), add one layer next to your `fmt` layer, and every audited call
//! becomes one record — who did what, when, from where, with what outcome — sealed with
//! HMAC-SHA256 into a chain that `audit-log verify` can prove untouched.
//!
//! ```no_run
//! use audit_layer::{audited, AuditLayer};
//! use tracing_subscriber::prelude::*;
//!
//! #[audited(event = "auth.login", actor = %email, skip(password))]
//! fn login(email: &str, password: &str) -> Result<(), String> {
//!     Ok(())
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (audit, _guard) = AuditLayer::builder()
//!     .log_file("audit.log")
//!     .sealing_key_file("audit-writer.key") // from `audit-log keygen`
//!     .build()?;
//! tracing_subscriber::registry()
//!     .with(tracing_subscriber::fmt::layer())
//!     .with(audit)
//!     .init();
//! login("alice@example.com", "hunter2")?;
//! # Ok(()) }
//! ```
//!
//! ## Never starved by filters
//!
//! Audit records do not depend on whether `tracing` enables the audit span: a global
//! `EnvFilter` of `warn`, `RUST_LOG=warn`, per-layer filters or
//! `tracing/release_max_level_warn` can hide the span from `fmt`, but the record is still
//! built and delivered. The record finds the pipeline through the current dispatcher (the
//! installed [`AuditLayer`]) or, failing that, through the process-wide layer registered at
//! [`build`](AuditLayerBuilder::build). If neither exists, the first lost record is reported
//! on stderr and [`lost_records`] counts every one.
//!
//! ## Next to other layers
//!
//! An audited call runs inside an ordinary `tracing` span named after the function, with
//! target `audit` and one field, `audit.event`: the rest of the stack (`fmt`, JSON logs,
//! OpenTelemetry) sees that span when its filters enable it, but never the call's arguments,
//! actor or fields — those go only into the sealed record. So:
//!
//! - `EnvFilter::new("info,audit=off")`, or a per-layer `Targets` filter turning the
//!   `audit` target off for `fmt`, keeps audit spans out of ordinary logs; the records are
//!   still written. (Context spans of other targets, such as a request span, still provide
//!   their [context fields](DEFAULT_CONTEXT_FIELDS) as long as they are enabled.)
//! - A filter behind `tracing_subscriber::reload` can be changed at runtime without
//!   affecting the audit log. The audit layer itself can also be wrapped in `reload`, but
//!   `reload` hides it from the dispatcher: records then reach it through the process-wide
//!   fallback, so do not build it
//!   [`without_process_fallback`](AuditLayerBuilder::without_process_fallback).
//! - `#[tracing::instrument]` and [`#[audited]`](audited) can be put on the same function, in
//!   either order. Each keeps the attributes written below it on the function it generates,
//!   so the attribute written first ends up as the *inner* span.
//! - With `tracing`'s `max_level_*` / `release_max_level_*` features, spans below the
//!   static maximum do not exist at all; audited calls still produce their records (and an
//!   audit span at a level above the maximum, `#[audited(level = "error", ...)]`, is still
//!   visible to the other layers). Context spans that were compiled out provide no context.
//!
//! ## Cargo features
//!
//! - `opentelemetry` (off by default): a record whose context spans set no `trace.id` field
//!   takes `trace.id` and `span.id` from the current OpenTelemetry context — the one
//!   `tracing-opentelemetry` attaches when one of its spans is entered — so audit records
//!   can be joined with traces. It uses `opentelemetry` 0.31 (that of `tracing-opentelemetry`
//!   0.32); a context attached through another major version is not seen.
//!
//! ## Modules
//!
//! - [`testing`]: deterministic capture for tests and snapshots.
//! - [`redact`]: the redaction policy applied before sealing.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod capture;
mod context;
mod layer;
mod otel;
mod outcome;
mod pipeline;
pub mod redact;
pub mod testing;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use __private::AsAuditValue;
pub use audit_core;
pub use audit_core::sink::writer::{AlertFn, Durability, FailurePolicy, Metrics, WriterFailure};
pub use audit_macros::{audit_event, audited};
pub use capture::record;
pub use layer::{AuditGuard, AuditLayer, AuditLayerBuilder, BuildError, DEFAULT_CONTEXT_FIELDS};
pub use outcome::{AuditOutcome, Outcome, OutcomeReport};
pub use pipeline::{failed_records, lost_records, FlushError};
