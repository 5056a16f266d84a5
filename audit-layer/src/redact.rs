//! The redaction policy applied to every record before it is sealed: a re-export of
//! [`audit_core::redact`], where the engine and its documentation live (and
//! `docs/REDACTION.md` of the repository for the defaults).
//!
//! The layer applies its policy ([`AuditLayerBuilder::redaction`](crate::AuditLayerBuilder::redaction),
//! [`Policy::default`] unless set) to the whole record — arguments, fields, context values,
//! the actor, the resource and the reason — on the calling thread, before the record is
//! queued for sealing. Parameters named in `#[audited(redact(...))]` are masked whatever the
//! policy says. [`testing`](crate::testing) captures use the default policy.
//!
//! ```
//! use audit_layer::redact::Policy;
//! let p = Policy::default();
//! assert!(p.is_sensitive_name("user_Password"));
//! assert!(p.is_sensitive_name("x-api-key"));
//! assert!(!p.is_sensitive_name("username"));
//! assert_eq!(p.redact_text("Authorization: Bearer abc.def"), "Authorization: Bearer [REDACTED]");
//!
//! #[audit_layer::audited(event = "auth.login", actor = %email)]
//! fn login(email: &str, password: &str, request: &str) -> Result<(), String> {
//!     Err(format!("no user for {request}"))
//! }
//! let (_, records) = audit_layer::testing::capture_records(|| {
//!     login("a@example.com", "hunter2", "POST /login?user=a&password=hunter2")
//! });
//! let text = audit_layer::audit_core::canonical::Value::from(records[0].clone()).to_canonical_string();
//! assert!(!text.contains("hunter2"), "{text}");
//! assert!(text.contains(r#""redaction":{"fields":["event.reason","fields.password","fields.request"]}"#), "{text}");
//! ```

pub use audit_core::redact::*;
