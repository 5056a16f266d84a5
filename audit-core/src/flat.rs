//! A record as the list of `(path, value)` members set on it, in order: what an audited
//! call builds.
//!
//! A [`Record`] is a tree of [`Object`]s, convenient to read and edit, but building one on
//! every audited call costs an ordered insert per member, a vector per nested object, and
//! freeing them all once serialized. A [`FlatRecord`] takes the same calls
//! ([`set`](FlatRecord::set), [`set_actor`](FlatRecord::set_actor), ...) into one vector.
//! [`into_record`](FlatRecord::into_record) replays them on a [`Record`], in their order, so
//! the tree is always exactly what the same calls on a `Record` give; and a
//! [`LayoutCache`](crate::layout::LayoutCache) turns records whose member names repeat (every
//! call of one audited function) into canonical JSON without the tree at all.
//!
//! ```
//! use std::time::UNIX_EPOCH;
//! use audit_core::flat::FlatRecord;
//! use audit_core::record::{Outcome, Record};
//!
//! let mut flat = FlatRecord::new("auth.login", Outcome::Success, UNIX_EPOCH)?;
//! flat.set_actor("alice");
//! flat.set("source.ip", "192.0.2.7")?;
//! flat.set_field("method", "password");
//!
//! let mut tree = Record::new("auth.login", Outcome::Success, UNIX_EPOCH)?;
//! tree.set_actor("alice");
//! tree.set("source.ip", "192.0.2.7")?;
//! tree.set_field("method", "password");
//! assert_eq!(flat.into_record(), tree);
//! # Ok::<(), audit_core::record::RecordError>(())
//! ```

use std::cell::Cell;
use std::time::{Duration, SystemTime};

use arrayvec::ArrayString;

use crate::canonical::{Key, Object, Value, MAX_SAFE_INTEGER};
use crate::record::{
    insert_path, validate_action, validate_path, Outcome, Record, RecordError, FIELDS_KEY,
};
use crate::redact::Policy;
use crate::seal::Unsealed;

/// One member as it was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Member {
    /// A dotted path; with `under_fields`, one name (dots included) under `fields`.
    pub(crate) path: Key,
    pub(crate) under_fields: bool,
    pub(crate) value: Slot,
}

/// The longest string a member keeps inline: a timestamp is 27 bytes, an event id 16, a
/// UUID 36, an IPv6 address (without a zone) at most 39. (A longer one would make a
/// record's members, 12 to start with, too big for the allocator's per-thread cache.)
const SHORT: usize = 39;

/// A member's value: a short string kept inline (the timestamp, action, outcome and ids
/// every record has: no allocation), or any [`Value`].
#[derive(Clone, Debug)]
pub(crate) enum Slot {
    Short(ArrayString<SHORT>),
    Value(Value),
}

impl Slot {
    /// `s` as a string value: inline when it is short.
    pub(crate) fn text(s: &str) -> Slot {
        match ArrayString::from(s) {
            Ok(short) => Slot::Short(short),
            Err(_) => Slot::Value(Value::from(s)),
        }
    }

    /// The string, when the value is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Slot::Short(s) => Some(s.as_str()),
            Slot::Value(v) => v.as_str(),
        }
    }

    pub(crate) fn into_value(self) -> Value {
        match self {
            Slot::Short(s) => Value::from(s.as_str()),
            Slot::Value(v) => v,
        }
    }
}

/// A value as a [`FlatRecord`] holds it: any [`Value`], or a short string (up to 39 bytes)
/// kept inline, which costs no allocation. Every `Into<Value>` converts into one.
///
/// ```
/// use audit_core::canonical::Value;
/// use audit_core::flat::FlatValue;
/// assert_eq!(FlatValue::text("192.0.2.7").as_str(), Some("192.0.2.7"));
/// assert_eq!(FlatValue::text("192.0.2.7"), FlatValue::from("192.0.2.7"));
/// assert_eq!(FlatValue::from(7).into_value(), Value::Int(7));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlatValue(pub(crate) Slot);

impl FlatValue {
    /// A string value: inline when it is short, allocated otherwise.
    ///
    /// ```
    /// let long = "x".repeat(100);
    /// assert_eq!(audit_core::flat::FlatValue::text(&long).as_str(), Some(long.as_str()));
    /// ```
    pub fn text(s: &str) -> FlatValue {
        FlatValue(Slot::text(s))
    }

    /// The string, when the value is one.
    ///
    /// ```
    /// use audit_core::flat::FlatValue;
    /// assert_eq!(FlatValue::from("a").as_str(), Some("a"));
    /// assert_eq!(FlatValue::from(1).as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_str()
    }

    /// Whether the value is `null` (a field declared and never filled).
    ///
    /// ```
    /// use audit_core::{canonical::Value, flat::FlatValue};
    /// assert!(FlatValue::from(Value::Null).is_null());
    /// assert!(!FlatValue::text("").is_null());
    /// ```
    pub fn is_null(&self) -> bool {
        matches!(self.0, Slot::Value(Value::Null))
    }

    /// The value as a [`Value`] (a short string is copied out).
    ///
    /// ```
    /// use audit_core::{canonical::Value, flat::FlatValue};
    /// assert_eq!(FlatValue::text("a").into_value(), Value::from("a"));
    /// ```
    pub fn into_value(self) -> Value {
        self.0.into_value()
    }
}

impl<T: Into<Value>> From<T> for FlatValue {
    /// The value as it is (a `String` is not copied).
    fn from(v: T) -> FlatValue {
        FlatValue(Slot::Value(v.into()))
    }
}

impl PartialEq for Slot {
    /// Equal as values: an inline string equals the same [`Value::String`].
    fn eq(&self, other: &Slot) -> bool {
        match (self, other) {
            (Slot::Value(a), Slot::Value(b)) => a == b,
            _ => self.as_str().is_some() && self.as_str() == other.as_str(),
        }
    }
}

impl Eq for Slot {}

/// Members a record starts with room for (a four-field audited call sets about ten).
const START_MEMBERS: usize = 12;
/// The most members a vector may hold room for and still be kept for the next record.
const KEEP_MEMBERS: usize = 64;

thread_local! {
    /// The member vector of the last record this thread turned into JSON, emptied: the next
    /// record on this thread is built in it, without the allocator (see
    /// [`FlatRecord::recycle`]).
    static SPARE_MEMBERS: Cell<Vec<Member>> = const { Cell::new(Vec::new()) };
}

/// One audited action, as the members set on it, in order (see the [module docs](self)).
///
/// ```
/// use audit_core::flat::FlatRecord;
/// use audit_core::record::Outcome;
/// let at = std::time::UNIX_EPOCH;
/// let mut a = FlatRecord::new("file.delete", Outcome::Success, at)?;
/// a.set_actor("alice");
/// a.set_resource("report.pdf");
/// let mut b = FlatRecord::new("file.delete", Outcome::Success, at)?;
/// b.set_resource("report.pdf");
/// b.set_actor("alice");
/// assert_ne!(a, b); // the members, in the order they were set
/// assert_eq!(a.into_record(), b.into_record()); // the same record
/// # Ok::<(), audit_core::record::RecordError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlatRecord {
    pub(crate) members: Vec<Member>,
}

impl FlatRecord {
    /// A record for `action` with `outcome` at time `at`: the members [`Record::new`] writes.
    ///
    /// ```
    /// use audit_core::flat::FlatRecord;
    /// use audit_core::record::{Outcome, Record};
    /// let at = std::time::UNIX_EPOCH;
    /// let flat = FlatRecord::new("auth.login", Outcome::Denied, at)?;
    /// assert_eq!(flat.action(), "auth.login");
    /// assert_eq!(flat.into_record(), Record::new("auth.login", Outcome::Denied, at)?);
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn new(action: &str, outcome: Outcome, at: SystemTime) -> Result<FlatRecord, RecordError> {
        validate_action(action)?;
        let timestamp =
            crate::time::timestamp_text(at).ok_or(RecordError::TimestampOutOfRange(at))?;
        // `try_with`: a record built while this thread's locals are being destroyed
        // allocates, as it did before.
        let mut members = SPARE_MEMBERS.try_with(Cell::take).unwrap_or_default();
        members.reserve(START_MEMBERS);
        let mut flat = FlatRecord { members };
        flat.push_text("@timestamp", timestamp.as_str());
        flat.push_text("event.action", action);
        flat.push_text("event.outcome", outcome.ecs_outcome());
        match outcome {
            Outcome::Denied => flat.push("event.type", vec![Value::from("denied")]),
            Outcome::Cancelled => flat.push_text("error.type", "cancelled"),
            Outcome::Panicked => flat.push_text("error.type", "panic"),
            Outcome::Success | Outcome::Failure | Outcome::Unknown => {}
        }
        Ok(flat)
    }

    /// Drop the members, and keep their vector for the next record built on this thread.
    pub(crate) fn recycle(mut self) {
        if self.members.capacity() <= KEEP_MEMBERS {
            self.members.clear();
            let _ = SPARE_MEMBERS.try_with(|spare| spare.set(self.members));
        }
    }

    fn push(&mut self, path: &'static str, value: impl Into<FlatValue>) {
        self.members.push(Member {
            path: Key::Borrowed(path),
            under_fields: false,
            value: value.into().0,
        });
    }

    fn push_text(&mut self, path: &'static str, value: &str) {
        self.push(path, FlatValue::text(value));
    }

    /// The action (`event.action`).
    ///
    /// ```
    /// use audit_core::flat::FlatRecord;
    /// use audit_core::record::Outcome;
    /// let mut flat = FlatRecord::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// assert_eq!(flat.action(), "auth.login");
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn action(&self) -> &str {
        self.members
            .iter()
            .find(|m| !m.under_fields && m.path == "event.action")
            .and_then(|m| m.value.as_str())
            .unwrap_or("")
    }

    /// [`Record::set`]: the value at a dotted path; reserved paths are refused.
    ///
    /// ```
    /// use audit_core::flat::FlatRecord;
    /// use audit_core::record::{Outcome, RecordError};
    /// let mut flat = FlatRecord::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// flat.set("http.request.id", "r-1")?;
    /// assert!(matches!(flat.set("audit.seq", 1), Err(RecordError::ReservedField(_))));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn set(
        &mut self,
        path: impl Into<Key>,
        value: impl Into<FlatValue>,
    ) -> Result<(), RecordError> {
        let path = validate_path(path.into())?;
        self.members.push(Member {
            path,
            under_fields: false,
            value: value.into().0,
        });
        Ok(())
    }

    /// A named value as the macros record it: at its path when `name` is a dotted path that
    /// [`set`](FlatRecord::set) accepts (`source.ip`), otherwise under `fields` (`method`,
    /// `a..b`, `audit.seq`). Returns whether it went to its path. Checks the path once.
    ///
    /// ```
    /// use audit_core::flat::FlatRecord;
    /// use audit_core::record::Outcome;
    /// let mut flat = FlatRecord::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// assert!(flat.set_or_field("source.ip", "192.0.2.7"));
    /// assert!(!flat.set_or_field("method", "password"));
    /// assert!(!flat.set_or_field("audit.seq", 7));
    /// let body = flat.into_record().into_body();
    /// assert!(body.get("fields").unwrap().as_object().unwrap().contains_key("audit.seq"));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn set_or_field(&mut self, name: impl Into<Key>, value: impl Into<FlatValue>) -> bool {
        let name = name.into();
        let placed = name.contains('.') && crate::record::can_set(&name);
        self.members.push(Member {
            path: name,
            under_fields: !placed,
            value: value.into().0,
        });
        placed
    }

    /// [`Record::set_actor`]: `user.id`.
    ///
    /// ```
    /// use audit_core::flat::FlatRecord;
    /// use audit_core::record::Outcome;
    /// let mut flat = FlatRecord::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// flat.set_actor("alice@example.com");
    /// let body = flat.into_record().into_body();
    /// assert_eq!(body.get("user").unwrap().get_path("id").unwrap().as_str(), Some("alice@example.com"));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn set_actor(&mut self, id: impl Into<FlatValue>) {
        self.push("user.id", id);
    }

    /// `event.id`: this action's unique id.
    ///
    /// ```
    /// use audit_core::flat::FlatRecord;
    /// use audit_core::record::Outcome;
    /// let mut flat = FlatRecord::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// flat.set_event_id("00000000000000a1");
    /// flat.set_parent_event_id("00000000000000a0");
    /// let body = flat.into_record().into_body();
    /// let event = body.get("event").unwrap();
    /// assert_eq!(event.get_path("id").unwrap().as_str(), Some("00000000000000a1"));
    /// assert_eq!(event.get_path("parent_id").unwrap().as_str(), Some("00000000000000a0"));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn set_event_id(&mut self, id: &str) {
        self.push_text("event.id", id);
    }

    /// `event.parent_id`: the id of the action this one ran inside.
    ///
    /// ```
    /// use audit_core::flat::FlatRecord;
    /// use audit_core::record::Outcome;
    /// let mut flat = FlatRecord::new("payment.refund", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// flat.set_parent_event_id("00000000000000a0");
    /// let body = flat.into_record().into_body();
    /// let event = body.get("event").unwrap();
    /// assert_eq!(event.get_path("parent_id").unwrap().as_str(), Some("00000000000000a0"));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn set_parent_event_id(&mut self, id: &str) {
        self.push_text("event.parent_id", id);
    }

    /// `resource.id`: what the action was done to.
    ///
    /// ```
    /// use audit_core::flat::FlatRecord;
    /// use audit_core::record::Outcome;
    /// let mut flat = FlatRecord::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// flat.set_resource("invoice-42");
    /// let body = flat.into_record().into_body();
    /// assert_eq!(body.get("resource").unwrap().get_path("id").unwrap().as_str(), Some("invoice-42"));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn set_resource(&mut self, id: impl Into<FlatValue>) {
        self.push("resource.id", id);
    }

    /// [`Record::set_reason`]: `event.reason`.
    ///
    /// ```
    /// use audit_core::flat::FlatRecord;
    /// use audit_core::record::Outcome;
    /// let mut flat = FlatRecord::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// flat.set_reason("bad password");
    /// flat.set_duration(std::time::Duration::from_micros(3));
    /// let body = flat.into_record().into_body();
    /// let event = body.get("event").unwrap();
    /// assert_eq!(event.get_path("reason").unwrap().as_str(), Some("bad password"));
    /// assert_eq!(event.get_path("duration").unwrap().as_i64(), Some(3000));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn set_reason(&mut self, reason: impl Into<String>) {
        self.push("event.reason", reason.into());
    }

    /// [`Record::set_duration`]: `event.duration` in nanoseconds, saturating at 2^53 - 1.
    ///
    /// ```
    /// use std::time::Duration;
    /// use audit_core::flat::FlatRecord;
    /// use audit_core::record::Outcome;
    /// let mut flat = FlatRecord::new("report.export", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// flat.set_duration(Duration::from_secs(u64::MAX)); // far past 2^53 ns
    /// let body = flat.into_record().into_body();
    /// let event = body.get("event").unwrap();
    /// assert_eq!(event.get_path("duration").unwrap().as_i64(), Some((1 << 53) - 1));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn set_duration(&mut self, d: Duration) {
        let ns = i64::try_from(d.as_nanos()).map_or(MAX_SAFE_INTEGER, |n| n.min(MAX_SAFE_INTEGER));
        self.push("event.duration", ns);
    }

    /// [`Record::set_field`]: a member of the top-level `fields` object (the name is one
    /// member name, dots included).
    ///
    /// ```
    /// use audit_core::flat::FlatRecord;
    /// use audit_core::record::Outcome;
    /// let mut flat = FlatRecord::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// flat.set_field("order.no", 7);
    /// let body = flat.into_record().into_body();
    /// assert!(body.get("fields").unwrap().as_object().unwrap().contains_key("order.no"));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn set_field(&mut self, name: impl Into<Key>, value: impl Into<FlatValue>) {
        self.members.push(Member {
            path: name.into(),
            under_fields: true,
            value: value.into().0,
        });
    }

    /// The same record as a tree: the calls made on this record, replayed in their order on
    /// a [`Record`].
    ///
    /// ```
    /// use audit_core::flat::FlatRecord;
    /// use audit_core::record::Outcome;
    /// let mut flat = FlatRecord::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// flat.set("source.ip", "192.0.2.7")?;
    /// let mut tree = audit_core::record::Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// tree.set("source.ip", "192.0.2.7")?;
    /// assert_eq!(flat.into_record(), tree);
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn into_record(self) -> Record {
        let mut body = Object::with_capacity(8);
        for m in self.members {
            if m.under_fields {
                body.object_mut(FIELDS_KEY)
                    .insert(m.path, m.value.into_value());
            } else {
                insert_path(&mut body, m.path, m.value.into_value());
            }
        }
        Record::from_body(body)
    }

    /// Redact with `policy` and serialize, through the tree: `policy.apply_record` on
    /// [`into_record`](FlatRecord::into_record), then [`Unsealed::from`]. A
    /// [`LayoutCache`](crate::layout::LayoutCache) gives the same bytes, faster.
    ///
    /// ```
    /// use audit_core::flat::FlatRecord;
    /// use audit_core::record::Outcome;
    /// let mut flat = FlatRecord::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// flat.set_field("password", "hunter2");
    /// let unsealed = flat.into_unsealed(audit_core::redact::Policy::builtin());
    /// assert!(unsealed.json().contains(r#""password":"[REDACTED]""#));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn into_unsealed(self, policy: &Policy) -> Unsealed {
        let mut record = self.into_record();
        policy.apply_record(&mut record);
        Unsealed::from(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Short strings are kept inline, longer ones as values, and either way a slot is the
    /// string it was made from: equal to the same string as a value, and copied out whole.
    #[test]
    fn slots_hold_strings_inline_or_as_values() {
        for len in [0, 1, SHORT - 1, SHORT, SHORT + 1, 200] {
            for c in ["x", "é", "\u{1F600}"] {
                let s: String = c.repeat(len).chars().take(len).collect();
                let slot = Slot::text(&s);
                assert_eq!(
                    matches!(slot, Slot::Short(_)),
                    s.len() <= SHORT,
                    "{len} {c}"
                );
                assert_eq!(slot.as_str(), Some(s.as_str()));
                assert_eq!(slot, Slot::Value(Value::from(s.as_str())));
                assert_eq!(Slot::Value(Value::from(s.as_str())), slot);
                assert_ne!(slot, Slot::text(&format!("{s}y")));
                assert_eq!(slot.into_value(), Value::from(s.as_str()));
            }
        }
        assert_ne!(Slot::text("1"), Slot::Value(Value::Int(1)));
        assert_eq!(Slot::Value(Value::Int(1)), Slot::Value(Value::Int(1)));
    }

    /// A record with inline members is equal to, and becomes the same tree as, one whose
    /// members are all values.
    #[test]
    fn inline_members_make_the_same_record() {
        let mut flat = FlatRecord::new("auth.login", Outcome::Panicked, std::time::UNIX_EPOCH)
            .expect("record");
        flat.set_event_id("00000000000000a1");
        let as_values = FlatRecord {
            members: flat
                .members
                .iter()
                .cloned()
                .map(|m| Member {
                    value: Slot::Value(m.value.into_value()),
                    ..m
                })
                .collect(),
        };
        assert!(flat
            .members
            .iter()
            .all(|m| matches!(m.value, Slot::Short(_))));
        assert_eq!(flat, as_values);
        assert_eq!(flat.action(), "auth.login");
        assert_eq!(flat.into_record(), as_values.into_record());
    }
}
