//! What the macros expand to. Not a public API: it may change in any release.

use std::fmt;

use audit_core::canonical::Value;
use audit_core::flat::FlatValue;

pub use crate::capture::{enter, set_outcome, AuditFuture, Callsite, Capture, Guard};
pub use crate::outcome::{probe, OutcomeReport};
pub use audit_core::record::Outcome;
pub use tracing;

/// A value recorded through its `Display`.
pub fn display<T: ?Sized + fmt::Display>(v: &T) -> FlatValue {
    FlatValue::from(v.to_string())
}

/// A string value, recorded without an allocation when it is short: what [`display`] and
/// [`value`] give for the string types, chosen by [`Shown`].
pub fn text(s: &str) -> FlatValue {
    FlatValue::text(s)
}

/// The string types, whose `Display` (and [`AsAuditValue`]) is the string itself.
pub trait StrLike {
    /// The string.
    fn text(&self) -> &str;
}

macro_rules! str_like {
    ($($t:ty),*) => {$(
        impl StrLike for $t {
            fn text(&self) -> &str { self }
        }
    )*};
}
str_like!(
    str,
    String,
    std::borrow::Cow<'_, str>,
    Box<str>,
    std::sync::Arc<str>,
    std::rc::Rc<str>
);

impl<T: ?Sized + StrLike> StrLike for &T {
    fn text(&self) -> &str {
        (**self).text()
    }
}

impl<T: ?Sized + StrLike> StrLike for &mut T {
    fn text(&self) -> &str {
        (**self).text()
    }
}

/// A captured expression, for picking how to record it (autoref specialization): the
/// macros write `(&&Shown(&expr)).__audit_pick()`, which resolves to [`PickStr`] when the
/// type is one of the string types ([`StrLike`]) and to [`PickAny`] otherwise (generic
/// types included), so strings are copied as they are while everything else still goes
/// through [`display`] or [`value`] (and a type that cannot is reported there, as before).
pub struct Shown<'a, T: ?Sized>(pub &'a T);

/// What [`Shown`] picked.
pub enum Picked<'a, T: ?Sized> {
    /// A string type: its text.
    Str(&'a str),
    /// Anything else.
    Other(&'a T),
}

/// See [`Shown`].
pub trait PickStr<'a, T: ?Sized> {
    /// The text.
    fn __audit_pick(self) -> Picked<'a, T>;
}

impl<'a, T: ?Sized + StrLike> PickStr<'a, T> for &&Shown<'a, T> {
    fn __audit_pick(self) -> Picked<'a, T> {
        Picked::Str(self.0.text())
    }
}

/// See [`Shown`].
pub trait PickAny<'a, T: ?Sized> {
    /// The value itself.
    fn __audit_pick(self) -> Picked<'a, T>;
}

impl<'a, T: ?Sized> PickAny<'a, T> for &Shown<'a, T> {
    fn __audit_pick(self) -> Picked<'a, T> {
        Picked::Other(self.0)
    }
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
pub fn value<T: ?Sized + AsAuditValue>(v: &T) -> FlatValue {
    FlatValue::from(v.as_audit_value())
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
