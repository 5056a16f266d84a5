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
//! ## Modules
//!
//! - [`testing`]: deterministic capture for tests and snapshots.
//! - [`redact`]: the redaction policy applied before sealing.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod capture;
mod layer;
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
