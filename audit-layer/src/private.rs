//! What the macros expand to. Not a public API: it may change in any release.

use std::fmt;

use audit_core::canonical::Value;

pub use crate::capture::{enter, set_outcome, AuditFuture, Callsite, Capture, Guard};
pub use crate::outcome::{probe, OutcomeReport};
pub use audit_core::record::Outcome;
pub use tracing;

/// A value recorded through its `Display`.
pub fn display<T: ?Sized + fmt::Display>(v: &T) -> Value {
    Value::String(v.to_string())
}

/// A value recorded through its `Debug`.
pub fn debug<T: ?Sized + fmt::Debug>(v: &T) -> Value {
    Value::String(format!("{v:?}"))
}

/// A declared field with no value yet.
pub fn empty() -> Value {
    Value::Null
}

/// A primitive value recorded as itself.
pub fn value<T: ?Sized + AsAuditValue>(v: &T) -> Value {
    v.as_audit_value()
}

/// Types recorded as JSON values (integers, booleans, strings) rather than as `Debug` text.
///
/// ```
/// use audit_layer::AsAuditValue;
/// assert_eq!(7u8.as_audit_value().as_i64(), Some(7));
/// assert_eq!(u64::MAX.as_audit_value().as_str(), Some("18446744073709551615"));
/// ```
pub trait AsAuditValue {
    /// The value.
    fn as_audit_value(&self) -> Value;
}

macro_rules! small_ints {
    ($($t:ty),*) => {$(
        impl AsAuditValue for $t {
            fn as_audit_value(&self) -> Value { Value::Int(i64::from(*self)) }
        }
    )*};
}
small_ints!(i8, i16, i32, u8, u16, u32);

macro_rules! big_ints {
    ($($t:ty),*) => {$(
        impl AsAuditValue for $t {
            fn as_audit_value(&self) -> Value {
                match i64::try_from(*self) {
                    Ok(i) if i.unsigned_abs() <= audit_core::canonical::MAX_SAFE_INTEGER as u64 => Value::Int(i),
                    _ => Value::String(self.to_string()),
                }
            }
        }
    )*};
}
big_ints!(i64, u64, i128, u128, isize, usize);

macro_rules! as_text {
    ($($t:ty),*) => {$(
        impl AsAuditValue for $t {
            fn as_audit_value(&self) -> Value { Value::String(self.to_string()) }
        }
    )*};
}
as_text!(f32, f64, char, str, String);

impl AsAuditValue for Value {
    fn as_audit_value(&self) -> Value {
        self.clone()
    }
}

impl AsAuditValue for bool {
    fn as_audit_value(&self) -> Value {
        Value::Bool(*self)
    }
}

impl<T: ?Sized + AsAuditValue> AsAuditValue for &T {
    fn as_audit_value(&self) -> Value {
        (**self).as_audit_value()
    }
}

impl<T: ?Sized + AsAuditValue> AsAuditValue for &mut T {
    fn as_audit_value(&self) -> Value {
        (**self).as_audit_value()
    }
}

impl<T: AsAuditValue> AsAuditValue for Option<T> {
    fn as_audit_value(&self) -> Value {
        self.as_ref()
            .map_or(Value::Null, AsAuditValue::as_audit_value)
    }
}
