//! How a function's return value becomes an outcome.
//!
//! `Ok` is success and `Err` is failure with the error's `Display` as the reason, unless the
//! error type implements [`AuditOutcome`], which lets it say `Denied` (or anything else).
//!
//! ```
//! use audit_layer::{AuditOutcome, Outcome};
//! enum AuthError { Forbidden, Db }
//! impl AuditOutcome for AuthError {
//!     fn audit_outcome(&self) -> Outcome {
//!         match self { AuthError::Forbidden => Outcome::Denied, AuthError::Db => Outcome::Failure }
//!     }
//!     fn audit_reason(&self) -> Option<String> {
//!         Some(match self { AuthError::Forbidden => "forbidden".into(), AuthError::Db => "database".into() })
//!     }
//! }
//! let r: Result<(), AuthError> = Err(AuthError::Forbidden);
//! assert_eq!(r.audit_outcome(), Outcome::Denied);
//! ```

use std::fmt;

pub use audit_core::record::Outcome;

/// Maps a value (usually an error type) to an audit outcome and reason.
///
/// `#[audited]` uses it for a function's return value: implement it for an error type to
/// record some errors as [`Outcome::Denied`] rather than failures, or to choose the reason.
///
/// ```
/// use audit_layer::{audited, AuditOutcome, Outcome};
///
/// #[derive(Debug)]
/// struct Forbidden(&'static str);
///
/// impl AuditOutcome for Forbidden {
///     fn audit_outcome(&self) -> Outcome {
///         Outcome::Denied
///     }
///     fn audit_reason(&self) -> Option<String> {
///         Some(format!("missing role {}", self.0))
///     }
/// }
///
/// #[audited(event = "iam.role.grant", actor = %actor, resource = %role)]
/// fn grant_role(actor: &str, role: &str) -> Result<(), Forbidden> {
///     Err(Forbidden("admin"))
/// }
///
/// let (_, records) = audit_layer::testing::capture_records(|| grant_role("alice", "auditor"));
/// assert_eq!(Outcome::from_body(&records[0]), Some(Outcome::Denied));
/// let event = records[0].get("event").unwrap();
/// assert_eq!(event.get_path("reason").unwrap().as_str(), Some("missing role admin"));
/// ```
pub trait AuditOutcome {
    /// The outcome this value stands for.
    fn audit_outcome(&self) -> Outcome;
    /// The reason recorded as `event.reason` (it goes through redaction).
    fn audit_reason(&self) -> Option<String> {
        None
    }
}

impl<T, E: AuditOutcome> AuditOutcome for Result<T, E> {
    fn audit_outcome(&self) -> Outcome {
        match self {
            Ok(_) => Outcome::Success,
            Err(e) => e.audit_outcome(),
        }
    }
    fn audit_reason(&self) -> Option<String> {
        self.as_ref().err().and_then(AuditOutcome::audit_reason)
    }
}

impl AuditOutcome for Outcome {
    fn audit_outcome(&self) -> Outcome {
        *self
    }
}

/// An outcome with its reason.
///
/// ```
/// use audit_layer::{Outcome, OutcomeReport};
/// let report = OutcomeReport { outcome: Outcome::Failure, reason: Some("disk full".into()) };
/// assert_eq!(report, OutcomeReport::new(Outcome::Failure, Some("disk full".into())));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutcomeReport {
    /// The outcome.
    pub outcome: Outcome,
    /// The reason, if any.
    pub reason: Option<String>,
}

impl OutcomeReport {
    /// A report from an outcome and an optional reason.
    ///
    /// ```
    /// use audit_layer::{Outcome, OutcomeReport};
    /// let report = OutcomeReport::new(Outcome::Denied, Some("missing role admin".into()));
    /// assert_eq!(report.outcome, Outcome::Denied);
    /// assert_eq!(report.reason.as_deref(), Some("missing role admin"));
    /// ```
    pub fn new(outcome: Outcome, reason: Option<String>) -> OutcomeReport {
        OutcomeReport { outcome, reason }
    }
}

/// Autoref-specialised probes used by `__audit_outcome!`: the most specific applicable impl
/// wins (AuditOutcome, then `Err: Display`, then `Err: Debug`, then any `Result`, then any
/// value as success).
#[doc(hidden)]
pub mod probe {
    use super::*;

    pub struct Probe<'a, T: ?Sized>(pub &'a T);

    pub trait ViaAuditOutcome {
        fn __audit_outcome(&self) -> OutcomeReport;
    }
    impl<T: AuditOutcome + ?Sized> ViaAuditOutcome for &&&&Probe<'_, T> {
        fn __audit_outcome(&self) -> OutcomeReport {
            OutcomeReport::new(self.0.audit_outcome(), self.0.audit_reason())
        }
    }

    pub trait ViaDisplayErr {
        fn __audit_outcome(&self) -> OutcomeReport;
    }
    impl<T, E: fmt::Display> ViaDisplayErr for &&&Probe<'_, Result<T, E>> {
        fn __audit_outcome(&self) -> OutcomeReport {
            match self.0 {
                Ok(_) => OutcomeReport::new(Outcome::Success, None),
                Err(e) => OutcomeReport::new(Outcome::Failure, Some(e.to_string())),
            }
        }
    }

    pub trait ViaDebugErr {
        fn __audit_outcome(&self) -> OutcomeReport;
    }
    impl<T, E: fmt::Debug> ViaDebugErr for &&Probe<'_, Result<T, E>> {
        fn __audit_outcome(&self) -> OutcomeReport {
            match self.0 {
                Ok(_) => OutcomeReport::new(Outcome::Success, None),
                Err(e) => OutcomeReport::new(Outcome::Failure, Some(format!("{e:?}"))),
            }
        }
    }

    pub trait ViaResult {
        fn __audit_outcome(&self) -> OutcomeReport;
    }
    impl<T, E> ViaResult for &Probe<'_, Result<T, E>> {
        fn __audit_outcome(&self) -> OutcomeReport {
            match self.0 {
                Ok(_) => OutcomeReport::new(Outcome::Success, None),
                Err(_) => OutcomeReport::new(Outcome::Failure, None),
            }
        }
    }

    pub trait ViaAny {
        fn __audit_outcome(&self) -> OutcomeReport;
    }
    impl<T: ?Sized> ViaAny for Probe<'_, T> {
        fn __audit_outcome(&self) -> OutcomeReport {
            OutcomeReport::new(Outcome::Success, None)
        }
    }
}

/// The outcome of a returned value, most specific rule first. Used by the macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __audit_outcome {
    ($e:expr) => {{
        #[allow(unused_imports)]
        use $crate::__private::probe::{
            ViaAny as _, ViaAuditOutcome as _, ViaDebugErr as _, ViaDisplayErr as _, ViaResult as _,
        };
        (&&&&&$crate::__private::probe::Probe($e)).__audit_outcome()
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct NoDisplay;
    struct Neither;
    struct Denies;
    impl AuditOutcome for Denies {
        fn audit_outcome(&self) -> Outcome {
            Outcome::Denied
        }
    }

    #[test]
    fn most_specific_rule_wins() {
        let r: Result<u8, Denies> = Err(Denies);
        assert_eq!(crate::__audit_outcome!(&r).outcome, Outcome::Denied);
        let r: Result<u8, std::fmt::Error> = Err(std::fmt::Error);
        assert_eq!(
            crate::__audit_outcome!(&r),
            OutcomeReport::new(
                Outcome::Failure,
                Some("an error occurred when formatting an argument".into())
            )
        );
        let r: Result<u8, NoDisplay> = Err(NoDisplay);
        assert_eq!(
            crate::__audit_outcome!(&r).reason.as_deref(),
            Some("NoDisplay")
        );
        let r: Result<u8, Neither> = Err(Neither);
        assert_eq!(
            crate::__audit_outcome!(&r),
            OutcomeReport::new(Outcome::Failure, None)
        );
        let r: Result<u8, Neither> = Ok(1);
        assert_eq!(crate::__audit_outcome!(&r).outcome, Outcome::Success);
        assert_eq!(crate::__audit_outcome!(&42u8).outcome, Outcome::Success);
        assert_eq!(
            crate::__audit_outcome!(&Outcome::Cancelled).outcome,
            Outcome::Cancelled
        );
    }
}
