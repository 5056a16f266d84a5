//! The record model: one audited action, before it is sealed.
//!
//! A [`Record`] is a JSON object shaped after Elastic Common Schema (ECS): `@timestamp`,
//! `event.action`, `event.outcome`, `user.id`, `source.ip`, ... The integrity fields (`audit.*`)
//! are not part of a `Record`: only the [sealer](crate::seal) adds them.
//!
//! ```
//! use audit_core::record::{Outcome, Record};
//! let mut r = Record::new("auth.login", Outcome::Denied, std::time::UNIX_EPOCH)?;
//! r.set_actor("alice@example.com");
//! r.set("source.ip", "192.0.2.7")?;
//! r.set_field("method", "password");
//! assert_eq!(r.body().get("user").unwrap().get_path("id").unwrap().as_str(), Some("alice@example.com"));
//! assert_eq!(Outcome::from_body(r.body()), Some(Outcome::Denied));
//! # Ok::<(), audit_core::record::RecordError>(())
//! ```

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::canonical::{Key, Object, Value, MAX_SAFE_INTEGER};

/// Name of the top-level object that holds captured arguments and custom fields that have no
/// ECS home.
///
/// ```
/// use audit_core::record::{Outcome, Record, FIELDS_KEY};
/// let mut record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
/// record.set_field("method", "password");
/// let fields = record.body().get(FIELDS_KEY).unwrap();
/// assert_eq!(fields.get_path("method").and_then(|v| v.as_str()), Some("password"));
/// # Ok::<(), audit_core::record::RecordError>(())
/// ```
pub const FIELDS_KEY: &str = "fields";

/// The result of an audited action.
///
/// ECS knows only `success`, `failure` and `unknown` for `event.outcome`; the finer outcomes
/// are written as ECS allows (see `docs/FORMAT.md`, "Outcome"):
///
/// | outcome | `event.outcome` | extra |
/// |---|---|---|
/// | `Success` | `success` | |
/// | `Failure` | `failure` | |
/// | `Denied` | `failure` | `event.type: ["denied"]` |
/// | `Cancelled` | `unknown` | `error.type: "cancelled"` |
/// | `Panicked` | `failure` | `error.type: "panic"` |
/// | `Unknown` | `unknown` | |
///
/// ```
/// use audit_core::record::Outcome;
/// assert_eq!(Outcome::Denied.as_str(), "denied");
/// assert_eq!("cancelled".parse::<Outcome>().unwrap(), Outcome::Cancelled);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The action completed as asked.
    Success,
    /// The action failed (an `Err`).
    Failure,
    /// The action was refused by an authorisation decision.
    Denied,
    /// The action never finished: its future was dropped before completion.
    Cancelled,
    /// The action panicked.
    Panicked,
    /// Nothing is known of the result.
    Unknown,
}

impl Outcome {
    /// All outcomes, in declaration order.
    ///
    /// ```
    /// use audit_core::record::Outcome;
    /// for outcome in Outcome::ALL {
    ///     assert_eq!(outcome.as_str().parse::<Outcome>()?, outcome);
    /// }
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub const ALL: [Outcome; 6] = [
        Outcome::Success,
        Outcome::Failure,
        Outcome::Denied,
        Outcome::Cancelled,
        Outcome::Panicked,
        Outcome::Unknown,
    ];

    /// This crate's name for the outcome (`success`, `failure`, `denied`, `cancelled`,
    /// `panicked`, `unknown`).
    ///
    /// ```
    /// use audit_core::record::Outcome;
    /// assert_eq!(Outcome::Panicked.as_str(), "panicked");
    /// assert_eq!(Outcome::Panicked.to_string(), "panicked"); // Display is the same
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
            Outcome::Cancelled => "cancelled",
            Outcome::Panicked => "panicked",
            Outcome::Unknown => "unknown",
        }
    }

    /// The ECS `event.outcome` value.
    ///
    /// ```
    /// use audit_core::record::{Outcome, Record};
    /// assert_eq!(Outcome::Denied.ecs_outcome(), "failure");
    /// let record = Record::new("auth.login", Outcome::Cancelled, std::time::UNIX_EPOCH)?;
    /// let event = record.body().get("event").unwrap();
    /// assert_eq!(event.get_path("outcome").and_then(|v| v.as_str()), Some("unknown"));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn ecs_outcome(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure | Outcome::Denied | Outcome::Panicked => "failure",
            Outcome::Cancelled | Outcome::Unknown => "unknown",
        }
    }

    /// Read the outcome back from a record body written by [`Record::new`].
    ///
    /// ```
    /// use audit_core::{canonical::Object, record::{Outcome, Record}};
    /// for outcome in Outcome::ALL {
    ///     let record = Record::new("auth.login", outcome, std::time::UNIX_EPOCH)?;
    ///     assert_eq!(Outcome::from_body(record.body()), Some(outcome));
    /// }
    /// assert_eq!(Outcome::from_body(&Object::new()), None);
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn from_body(body: &Object) -> Option<Outcome> {
        let event = body.get("event")?.as_object()?;
        let ecs = event.get("outcome")?.as_str()?;
        let denied = event
            .get("type")
            .and_then(Value::as_array)
            .is_some_and(|t| t.iter().any(|v| v.as_str() == Some("denied")));
        let error_type = body
            .get("error")
            .and_then(|e| e.get_path("type"))
            .and_then(Value::as_str);
        Some(match (ecs, denied, error_type) {
            ("success", _, _) => Outcome::Success,
            ("failure", true, _) => Outcome::Denied,
            ("failure", _, Some("panic")) => Outcome::Panicked,
            ("failure", _, _) => Outcome::Failure,
            ("unknown", _, Some("cancelled")) => Outcome::Cancelled,
            ("unknown", _, _) => Outcome::Unknown,
            _ => return None,
        })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Outcome {
    type Err = RecordError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| RecordError::UnknownOutcome(s.to_owned()))
    }
}

/// Why a record could not be built.
///
/// ```
/// use audit_core::record::{Outcome, Record, RecordError};
/// let at = std::time::UNIX_EPOCH;
/// let err = Record::new("Login", Outcome::Success, at).unwrap_err();
/// assert!(matches!(err, RecordError::InvalidAction { .. }));
/// let mut record = Record::new("auth.login", Outcome::Success, at)?;
/// assert!(matches!(record.set("a..b", 1), Err(RecordError::InvalidPath(_))));
/// assert!(matches!("ok".parse::<Outcome>(), Err(RecordError::UnknownOutcome(_))));
/// # Ok::<(), RecordError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The action name breaks the naming rule.
    #[error("invalid event action {action:?}: {reason} (expected dotted lowercase segments such as \"auth.login\")")]
    InvalidAction {
        /// The name given.
        action: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// The path names a field that only the record constructor or the sealer may set.
    #[error("field {0:?} is reserved: `@timestamp`, `event.action`, `event.outcome` and `audit.*` are set by the library")]
    ReservedField(String),
    /// The path is empty or has an empty segment.
    #[error("invalid field path {0:?}: segments must be non-empty and separated by single dots")]
    InvalidPath(String),
    /// An outcome name that is not one of the six.
    #[error(
        "unknown outcome {0:?}: expected success, failure, denied, cancelled, panicked or unknown"
    )]
    UnknownOutcome(String),
    /// The time lies outside what the format's timestamps can hold.
    #[error("time {0:?} is outside the years 1970 to 9999 that `@timestamp` can hold: check the system clock")]
    TimestampOutOfRange(SystemTime),
}

/// Check an action name: at most 128 bytes, at least two dot-separated segments, each
/// starting with `a-z` and made of `a-z`, `0-9`, `_`.
///
/// ```
/// use audit_core::record::validate_action;
/// assert!(validate_action("auth.login").is_ok());
/// assert!(validate_action("Auth.Login").is_err());
/// assert!(validate_action("login").is_err());
/// ```
pub fn validate_action(action: &str) -> Result<(), RecordError> {
    let err = |reason| {
        Err(RecordError::InvalidAction {
            action: action.to_owned(),
            reason,
        })
    };
    if action.len() > 128 {
        return err("longer than 128 bytes");
    }
    // One pass, reporting the first fault in reading order.
    let mut segments = 1;
    let mut at_start = true;
    for b in action.bytes() {
        match (b, at_start) {
            (b'.', true) => return err("empty segment"),
            (b'.', false) => {
                segments += 1;
                at_start = true;
            }
            (b'a'..=b'z', _) => at_start = false,
            (_, true) => return err("each segment must start with a lowercase letter"),
            (b'0'..=b'9' | b'_', false) => {}
            (_, false) => return err("segments may contain only a-z, 0-9 and _"),
        }
    }
    if at_start {
        return err("empty segment");
    }
    if segments < 2 {
        return err("at least two segments are needed");
    }
    Ok(())
}

/// The `event.action` of a record body (`""` when absent or not a string).
///
/// ```
/// let v = audit_core::canonical::parse(r#"{"event":{"action":"auth.login"}}"#).unwrap();
/// assert_eq!(audit_core::record::action_of(v.as_object().unwrap()), "auth.login");
/// ```
pub fn action_of(body: &Object) -> &str {
    body.get("event")
        .and_then(|e| e.get_path("action"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// One audited action, not yet sealed.
///
/// ```
/// use audit_core::{keys::SealingKey, record::{Outcome, Record}, seal::Sealer};
/// let mut record = Record::new("orders.cancel", Outcome::Denied, std::time::UNIX_EPOCH)?;
/// record.set_actor("alice");
/// let mut sealer = Sealer::new_chain(SealingKey::generate("k1", 1024)?.0)?;
/// let sealed = sealer.seal(record)?;
/// assert!(sealed.line.contains(r#""user":{"id":"alice"}"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    body: Object,
}

impl Record {
    /// A record for `action` with `outcome` at time `at`.
    ///
    /// ```
    /// use audit_core::record::{Outcome, Record, RecordError};
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let record = Record::new("auth.login", Outcome::Success, UNIX_EPOCH + Duration::from_secs(1))?;
    /// let at = record.body().get("@timestamp").and_then(|v| v.as_str());
    /// assert_eq!(at, Some("1970-01-01T00:00:01.000000Z"));
    /// let err = Record::new("auth.login", Outcome::Success, UNIX_EPOCH - Duration::from_secs(1));
    /// assert!(matches!(err, Err(RecordError::TimestampOutOfRange(_))));
    /// # Ok::<(), RecordError>(())
    /// ```
    pub fn new(action: &str, outcome: Outcome, at: SystemTime) -> Result<Record, RecordError> {
        // One definition of the members every record starts with: the flat record's.
        crate::flat::FlatRecord::new(action, outcome, at).map(crate::flat::FlatRecord::into_record)
    }

    /// Wrap an existing body (for example one read back from a log, with `audit` removed).
    ///
    /// ```
    /// use audit_core::{canonical::Object, record::Record};
    /// let mut body = Object::new();
    /// body.object_mut("event").insert("action", "auth.login");
    /// let record = Record::from_body(body);
    /// assert_eq!(record.action(), "auth.login");
    /// ```
    pub fn from_body(body: Object) -> Record {
        Record { body }
    }

    /// The action (`event.action`).
    ///
    /// ```
    /// use audit_core::{canonical::Object, record::{Outcome, Record}};
    /// let record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// assert_eq!(record.action(), "auth.login");
    /// assert_eq!(Record::from_body(Object::new()).action(), ""); // no event.action
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn action(&self) -> &str {
        action_of(&self.body)
    }

    /// The JSON body.
    ///
    /// ```
    /// use audit_core::record::{Outcome, Record};
    /// let record = Record::new("auth.login", Outcome::Denied, std::time::UNIX_EPOCH)?;
    /// let event = record.body().get("event").unwrap();
    /// let event_type = event.get_path("type").map(|t| t.to_canonical_string());
    /// assert_eq!(event_type.as_deref(), Some(r#"["denied"]"#));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn body(&self) -> &Object {
        &self.body
    }

    /// The JSON body, mutable (the redaction engine rewrites values in place).
    ///
    /// ```
    /// use audit_core::record::{Outcome, Record};
    /// let mut record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// record.set_field("token", "s3cr3t");
    /// record.body_mut().object_mut("fields").insert("token", "[REDACTED]");
    /// let fields = record.body().get("fields").unwrap();
    /// assert_eq!(fields.get_path("token").and_then(|v| v.as_str()), Some("[REDACTED]"));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn body_mut(&mut self) -> &mut Object {
        &mut self.body
    }

    /// Take the JSON body.
    ///
    /// ```
    /// use audit_core::record::{action_of, Outcome, Record};
    /// let record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// let body = record.into_body();
    /// assert_eq!(action_of(&body), "auth.login");
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn into_body(self) -> Object {
        self.body
    }

    /// Set the field at a dotted path (`source.ip`, `user_agent.original`), creating
    /// intermediate objects. Reserved paths are refused.
    ///
    /// A `&'static str` path (or `Cow::Borrowed`) is stored without copying its names.
    ///
    /// ```
    /// use audit_core::record::{Outcome, Record, RecordError};
    /// let mut record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// record.set("source.ip", "192.0.2.7")?;
    /// let source = record.body().get("source").unwrap();
    /// assert_eq!(source.get_path("ip").and_then(|v| v.as_str()), Some("192.0.2.7"));
    /// let err = record.set("event.outcome", "success").unwrap_err();
    /// assert!(matches!(err, RecordError::ReservedField(_)));
    /// # Ok::<(), RecordError>(())
    /// ```
    pub fn set(
        &mut self,
        path: impl Into<Key>,
        value: impl Into<Value>,
    ) -> Result<(), RecordError> {
        let path = validate_path(path.into())?;
        insert_path(&mut self.body, path, value.into());
        Ok(())
    }

    /// Set `user.id`, the actor.
    ///
    /// ```
    /// use audit_core::record::{Outcome, Record};
    /// let mut record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// record.set_actor("alice@example.com");
    /// let user = record.body().get("user").unwrap();
    /// assert_eq!(user.get_path("id").and_then(|v| v.as_str()), Some("alice@example.com"));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn set_actor(&mut self, id: impl Into<Value>) {
        self.body.object_mut("user").insert("id", id);
    }

    /// Set `event.reason`, the human-readable reason of the outcome (an error's message).
    ///
    /// ```
    /// use audit_core::record::{Outcome, Record};
    /// let mut record = Record::new("files.delete", Outcome::Failure, std::time::UNIX_EPOCH)?;
    /// record.set_reason("permission denied");
    /// let event = record.body().get("event").unwrap();
    /// assert_eq!(event.get_path("reason").and_then(|v| v.as_str()), Some("permission denied"));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn set_reason(&mut self, reason: impl Into<String>) {
        self.body
            .object_mut("event")
            .insert("reason", reason.into());
    }

    /// Set `event.duration` in nanoseconds (saturating at 2^53 - 1, about 104 days).
    ///
    /// ```
    /// use std::time::Duration;
    /// use audit_core::record::{Outcome, Record};
    /// let mut record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// record.set_duration(Duration::from_millis(3));
    /// let event = record.body().get("event").unwrap();
    /// assert_eq!(event.get_path("duration").and_then(|v| v.as_i64()), Some(3_000_000));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn set_duration(&mut self, d: Duration) {
        let ns = i64::try_from(d.as_nanos()).map_or(MAX_SAFE_INTEGER, |n| n.min(MAX_SAFE_INTEGER));
        self.body.object_mut("event").insert("duration", ns);
    }

    /// Set a custom field under the top-level `fields` object.
    ///
    /// ```
    /// use audit_core::record::{Outcome, Record};
    /// let mut record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// record.set_field("attempt", 2);
    /// let fields = record.body().get("fields").unwrap();
    /// assert_eq!(fields.get_path("attempt").and_then(|v| v.as_i64()), Some(2));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn set_field(&mut self, name: impl Into<Key>, value: impl Into<Value>) {
        self.body.object_mut(FIELDS_KEY).insert(name, value);
    }
}

/// The checks of [`Record::set`]: a well-formed path that is not reserved.
pub(crate) fn validate_path(path: Key) -> Result<Key, RecordError> {
    check_path(&path)?;
    if is_reserved(&path) {
        return Err(RecordError::ReservedField(path.into_owned()));
    }
    Ok(path)
}

fn check_path(path: &str) -> Result<(), RecordError> {
    // An empty segment: an empty path, a dot at either end, or two dots in a row.
    let b = path.as_bytes();
    if b.first().is_none_or(|&c| c == b'.')
        || b.last() == Some(&b'.')
        || b.windows(2).any(|w| w == b"..")
    {
        return Err(RecordError::InvalidPath(path.to_owned()));
    }
    Ok(())
}

/// Whether [`Record::set`] accepts `path`: a well-formed dotted path that is not reserved.
///
/// ```
/// use audit_core::record::can_set;
/// assert!(can_set("source.ip"));
/// assert!(!can_set("audit.seq"));
/// assert!(!can_set("a..b"));
/// ```
pub fn can_set(path: &str) -> bool {
    check_path(path).is_ok() && !is_reserved(path)
}

/// `@timestamp`, `event.action`, `event.outcome` and everything under `audit`.
///
/// ```
/// use audit_core::record::is_reserved;
/// assert!(is_reserved("@timestamp"));
/// assert!(is_reserved("audit.mac"));
/// assert!(!is_reserved("event.reason"));
/// assert!(!is_reserved("auditor.name"));
/// ```
pub fn is_reserved(path: &str) -> bool {
    path == "@timestamp"
        || path == "audit"
        || path.starts_with("audit.")
        || path == "event"
        || path == "event.action"
        || path == "event.outcome"
}

/// Insert `value` at a dotted path, creating (or replacing non-object) intermediates. The
/// names of a borrowed (`'static`) path are borrowed too.
pub(crate) fn insert_path(obj: &mut Object, path: Key, value: Value) {
    match path {
        Key::Borrowed(p) => insert_static_path(obj, p, value),
        Key::Owned(p) => insert_copied_path(obj, &p, value),
    }
}

fn insert_static_path(obj: &mut Object, path: &'static str, value: Value) {
    match path.bytes().position(|c| c == b'.') {
        None => {
            obj.insert(path, value);
        }
        // `.` is ASCII: both sides are on character boundaries.
        Some(dot) => insert_static_path(obj.object_mut(&path[..dot]), &path[dot + 1..], value),
    }
}

fn insert_copied_path(obj: &mut Object, path: &str, value: Value) {
    match path.bytes().position(|c| c == b'.') {
        None => {
            obj.insert(path.to_owned(), value);
        }
        Some(dot) => {
            insert_copied_path(obj.object_mut_copied(&path[..dot]), &path[dot + 1..], value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn actions() {
        for ok in [
            "auth.login",
            "a.b",
            "session.timeout_idle",
            "iam.role2.grant",
        ] {
            validate_action(ok).unwrap();
        }
        for bad in [
            "",
            "auth",
            "auth.",
            ".auth",
            "Auth.login",
            "auth.lo-gin",
            "auth.1x",
            "auth..x",
        ] {
            assert!(validate_action(bad).is_err(), "{bad}");
        }
    }

    /// The one-pass check gives the verdict and the reason of the plain definition (split
    /// at dots, check each segment in order) on every short string over a small alphabet.
    #[test]
    fn action_check_matches_its_definition() {
        fn by_definition(action: &str) -> Result<(), &'static str> {
            if action.len() > 128 {
                return Err("longer than 128 bytes");
            }
            let segments: Vec<&str> = action.split('.').collect();
            for seg in &segments {
                let mut bytes = seg.bytes();
                match bytes.next() {
                    None => return Err("empty segment"),
                    Some(b'a'..=b'z') => {}
                    Some(_) => return Err("each segment must start with a lowercase letter"),
                }
                if !bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_')) {
                    return Err("segments may contain only a-z, 0-9 and _");
                }
            }
            if segments.len() < 2 {
                return Err("at least two segments are needed");
            }
            Ok(())
        }
        let alphabet = ['a', 'z', '0', '9', '_', '.', 'A', '-', 'é'];
        let mut strings = vec![String::new()];
        for _ in 0..5 {
            strings = strings
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .chain(strings.iter().cloned())
                .collect();
            strings.dedup();
        }
        strings.push(format!("a.{}", "b".repeat(126)));
        strings.push(format!("a.{}", "b".repeat(127)));
        assert!(strings.len() > 60_000);
        for s in &strings {
            let got = validate_action(s).map_err(|e| match e {
                RecordError::InvalidAction { reason, .. } => reason,
                other => panic!("{other}"),
            });
            assert_eq!(got, by_definition(s), "{s:?}");
        }
    }

    #[test]
    fn times_the_format_cannot_hold_are_refused() {
        let before = UNIX_EPOCH - Duration::from_micros(1);
        assert_eq!(
            Record::new("auth.login", Outcome::Success, before),
            Err(RecordError::TimestampOutOfRange(before))
        );
        let after = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        assert!(matches!(
            Record::new("auth.login", Outcome::Success, after),
            Err(RecordError::TimestampOutOfRange(_))
        ));
    }

    #[test]
    fn outcomes_round_trip_through_the_body() {
        for o in Outcome::ALL {
            let r = Record::new("auth.login", o, UNIX_EPOCH).unwrap();
            assert_eq!(Outcome::from_body(r.body()), Some(o));
        }
    }

    #[test]
    fn reserved_fields_refused() {
        let mut r = Record::new("auth.login", Outcome::Success, UNIX_EPOCH).unwrap();
        for p in [
            "audit.seq",
            "audit",
            "@timestamp",
            "event.outcome",
            "event.action",
        ] {
            assert_eq!(r.set(p, 1), Err(RecordError::ReservedField(p.into())));
        }
        for bad in ["a..b", "", ".", "..", ".a", "a.", "a.b.", ".a.b", "a...b"] {
            assert_eq!(r.set(bad, 1), Err(RecordError::InvalidPath(bad.into())));
        }
        for good in ["a", "a.b", "a.b.c", "é.ü"] {
            assert!(can_set(good), "{good}");
        }
        r.set("source.ip", "10.0.0.1").unwrap();
        assert_eq!(
            r.body()
                .get("source")
                .unwrap()
                .get_path("ip")
                .unwrap()
                .as_str(),
            Some("10.0.0.1")
        );
    }
}
