//! Redaction: no secret or personal datum reaches an audit record in the clear.
//!
//! A [`Policy`] is compiled once (normalised names in bucketed sets, detectors in a
//! first-byte dispatch table) and applied to every record body before it is sealed. It
//! rewrites values in place and returns the paths it redacted ([`Redactions`]), which the
//! record carries in `redaction.fields` (names, never values). Reasons and other free text go
//! through [`Policy::redact_text`], with the same rules.
//!
//! What is caught (the full list, with the defaults, is in `docs/REDACTION.md`):
//!
//! - **By field name**, at any depth and however it is spelled: names are normalised (case,
//!   `_`, `-`, `.`, spaces, `%XX` and camel case do not matter) and checked against suffix
//!   rules (`user_password`, `clientSecret`, `X-Api-Key`, `refresh-token`, `Set-Cookie`,
//!   `session_id`, `card_number` ...) and word rules (`pin`, `pan`, `ssn`, `cvv`, `pwd`,
//!   `password_hash` ...). An object member is also checked joined to its parent's name
//!   (`session.id`, `card.number`). See [`PolicyBuilder::sensitive_name`].
//! - **By value**, whatever the field is called: card numbers (issuer prefix and Luhn),
//!   JWTs, `Bearer`/`Basic` credentials, AWS access key ids, PEM private keys, passwords in
//!   URLs, GitHub, GitLab, Slack, Stripe, Google, OpenAI-style and npm tokens, US SSNs and
//!   IBANs, plus your own ([`ExtraDetector`]). See [`Detector`].
//! - **Inside `Debug` and `Display` text**: `User { password: "hunter2" }`,
//!   `{"password":"x"}`, `password=x&user=y`, `Authorization: Bearer ...`, XML, tuples.
//!
//! Then every string value is made safe to display: Unicode line and paragraph separators,
//! C1 control characters and bidirectional overrides become U+FFFD (C0 controls, `\n`
//! included, are escaped by the canonical JSON form, so no value can forge a second line —
//! CWE-117), and values longer than [`PolicyBuilder::max_value_bytes`] are cut with a marker.
//!
//! ```
//! use audit_core::canonical::Object;
//! use audit_core::redact::Policy;
//!
//! let policy = Policy::default();
//! let mut body = Object::new();
//! let fields = body.object_mut("fields");
//! fields.insert("userPassword", "hunter2");
//! fields.insert("request", r#"Login { user: "bob", api_key: "k-8f3a9" }"#);
//! fields.insert("note", "paid with 4111 1111 1111 1111");
//! fields.insert("order_id", "A-1042");
//! let redactions = policy.apply(&mut body);
//!
//! let fields = body.get("fields").unwrap();
//! assert_eq!(fields.get_path("userPassword").unwrap().as_str(), Some("[REDACTED]"));
//! assert_eq!(fields.get_path("request").unwrap().as_str(), Some(r#"Login { user: "bob", api_key: "[REDACTED]" }"#));
//! assert_eq!(fields.get_path("note").unwrap().as_str(), Some("paid with [REDACTED]...1111"));
//! assert_eq!(fields.get_path("order_id").unwrap().as_str(), Some("A-1042"));
//! assert_eq!(redactions.paths(), ["fields.note", "fields.request", "fields.userPassword"]);
//! ```

mod actions;
mod detectors;
mod names;
mod text;

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::canonical::{Object, Value};
use crate::record::Record;

pub use actions::{
    Action, PseudonymKey, MASK, MIN_PSEUDONYM_KEY_BYTES, PARTIAL_SEPARATOR, PSEUDONYM_PREFIX,
};
pub use detectors::{Charset, Detector, ExtraDetector};

use actions::{is_redacted_form, render, replacement};
use detectors::{Detectors, Hit, MIN_DIGITS};
use names::{normalize_rule, Class, NameRules, NameSet};

/// The default limit on the size of one string value, in bytes.
///
/// ```
/// use audit_core::redact::{Policy, DEFAULT_MAX_VALUE_BYTES};
/// let policy = Policy::default();
/// assert_eq!(policy.max_value_bytes(), DEFAULT_MAX_VALUE_BYTES);
/// let fits = "x".repeat(DEFAULT_MAX_VALUE_BYTES);
/// assert_eq!(policy.redact_text(&fits), fits);
/// assert_ne!(policy.redact_text(&format!("{fits}x")), format!("{fits}x"));
/// ```
pub const DEFAULT_MAX_VALUE_BYTES: usize = 4096;

/// The smallest limit [`PolicyBuilder::max_value_bytes`] accepts.
///
/// ```
/// use audit_core::redact::{Policy, PolicyError, MIN_MAX_VALUE_BYTES};
/// assert!(Policy::builder().max_value_bytes(MIN_MAX_VALUE_BYTES).build().is_ok());
/// let too_small = Policy::builder().max_value_bytes(MIN_MAX_VALUE_BYTES - 1).build();
/// assert!(matches!(too_small, Err(PolicyError::MaxValueTooSmall(63))));
/// ```
pub const MIN_MAX_VALUE_BYTES: usize = 64;

/// Written after a value cut at the size limit, followed by the number of bytes cut and
/// `]`: `…[TRUNCATED 5120 bytes]`.
///
/// ```
/// use audit_core::redact::{Policy, TRUNCATION_MARKER};
/// let policy = Policy::builder().max_value_bytes(64).build()?;
/// let long = "a".repeat(100);
/// let cut = policy.redact_text(&long);
/// assert_eq!(cut, format!("{}{TRUNCATION_MARKER}36 bytes]", &long[..64]));
/// # Ok::<(), audit_core::redact::PolicyError>(())
/// ```
pub const TRUNCATION_MARKER: &str = "…[TRUNCATED ";

/// The record path listing what was redacted.
///
/// ```
/// use audit_core::canonical::Value;
/// use audit_core::record::{Outcome, Record};
/// use audit_core::redact::{Policy, REDACTION_FIELDS};
/// let mut record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
/// record.set_field("token", "abc");
/// Policy::default().apply_record(&mut record);
/// let body = Value::from(record.into_body());
/// assert_eq!(body.get_path(REDACTION_FIELDS).unwrap().to_canonical_string(), r#"["fields.token"]"#);
/// # Ok::<(), audit_core::record::RecordError>(())
/// ```
pub const REDACTION_FIELDS: &str = "redaction.fields";

/// The deepest nesting the engine walks; anything deeper is masked whole (fail closed).
///
/// ```
/// use audit_core::canonical::{Object, Value};
/// use audit_core::redact::{Policy, MAX_WALK_DEPTH};
/// let nested = |depth: usize| {
///     (0..depth).fold(Value::from("plain"), |inner, _| {
///         let mut o = Object::new();
///         o.insert("a", inner);
///         Value::from(o)
///     })
/// };
/// let policy = Policy::default();
/// assert!(!policy.redact_value(&mut nested(10)));
/// assert!(policy.redact_value(&mut nested(MAX_WALK_DEPTH + 1)));
/// ```
pub const MAX_WALK_DEPTH: usize = 128;

/// Why a policy could not be built.
///
/// ```
/// use audit_core::redact::{Action, Policy, PolicyError};
/// let err = Policy::builder().field_action("user.email", Action::KeyedHash).build().unwrap_err();
/// assert!(matches!(err, PolicyError::KeyedHashWithoutKey(_)));
/// assert!(err.to_string().contains("call .pseudonym_key(key)"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A name that is empty once normalised (only separators).
    #[error("sensitive name {0:?} is empty once case and separators are removed")]
    EmptyName(String),
    /// A field path with an empty segment.
    #[error("invalid field path {0:?}: use dotted segments such as \"fields.order_id\" (`*` matches one segment)")]
    InvalidPath(String),
    /// [`Action::KeyedHash`] was asked for but no [`PseudonymKey`] was given.
    #[error(
        "{0} uses Action::KeyedHash but the policy has no pseudonym key: call .pseudonym_key(key)"
    )]
    KeyedHashWithoutKey(String),
    /// The pseudonymisation key is too short.
    #[error("a pseudonym key needs at least {MIN_PSEUDONYM_KEY_BYTES} bytes, got {0} (use 32 random bytes)")]
    KeyTooShort(usize),
    /// The pseudonymisation key is not hex.
    #[error("the pseudonym key is not hex")]
    KeyNotHex,
    /// No random bytes could be had for a key.
    #[error("no random bytes for a pseudonym key: {0}")]
    Random(String),
    /// An extra detector that cannot match anything sensible.
    #[error("extra detector {name:?}: {reason}")]
    InvalidDetector {
        /// The detector's name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The value size limit is too small to hold a redaction and the marker.
    #[error("max_value_bytes must be at least {MIN_MAX_VALUE_BYTES}, got {0}")]
    MaxValueTooSmall(usize),
}

/// The paths a policy redacted in one record: sorted, unique, array indexes left out
/// (`fields.items.password` for any element of `fields.items`).
///
/// ```
/// use audit_core::canonical::Object;
/// use audit_core::redact::Policy;
/// let mut body = Object::new();
/// body.object_mut("fields").insert("token", "abc");
/// let r = Policy::default().apply(&mut body);
/// assert_eq!(r.paths(), ["fields.token"]);
/// r.write_to(&mut body);
/// let listed = body.get("redaction").unwrap().get_path("fields").unwrap();
/// assert_eq!(listed.as_array().unwrap()[0].as_str(), Some("fields.token"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redactions {
    paths: Vec<String>,
}

impl Redactions {
    /// Whether nothing was redacted.
    ///
    /// ```
    /// use audit_core::canonical::Object;
    /// use audit_core::redact::Policy;
    /// let mut body = Object::new();
    /// body.object_mut("fields").insert("order_id", "A-1042");
    /// assert!(Policy::default().apply(&mut body).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// How many paths were redacted.
    ///
    /// ```
    /// use audit_core::canonical::Object;
    /// use audit_core::redact::Policy;
    /// let mut body = Object::new();
    /// let fields = body.object_mut("fields");
    /// fields.insert("password", "hunter2");
    /// fields.insert("api_key", "k-8f3a9");
    /// fields.insert("user", "bob");
    /// assert_eq!(Policy::default().apply(&mut body).len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// The redacted paths, sorted.
    ///
    /// ```
    /// use audit_core::canonical::{Object, Value};
    /// use audit_core::redact::Policy;
    /// let item = |secret: &str| {
    ///     let mut o = Object::new();
    ///     o.insert("password", secret);
    ///     Value::from(o)
    /// };
    /// let mut body = Object::new();
    /// body.object_mut("fields").insert("items", vec![item("a"), item("b")]);
    /// body.object_mut("fields").insert("token", "t-1");
    /// // Sorted, one path for every element of an array.
    /// assert_eq!(Policy::default().apply(&mut body).paths(), ["fields.items.password", "fields.token"]);
    /// ```
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// Whether `path` was redacted.
    ///
    /// ```
    /// use audit_core::canonical::Object;
    /// use audit_core::redact::Policy;
    /// let mut body = Object::new();
    /// body.object_mut("fields").insert("password", "hunter2");
    /// body.object_mut("fields").insert("user", "bob");
    /// let redactions = Policy::default().apply(&mut body);
    /// assert!(redactions.contains("fields.password"));
    /// assert!(!redactions.contains("fields.user"));
    /// ```
    pub fn contains(&self, path: &str) -> bool {
        self.paths
            .binary_search_by(|p| p.as_str().cmp(path))
            .is_ok()
    }

    /// The paths.
    ///
    /// ```
    /// use audit_core::canonical::Object;
    /// use audit_core::redact::Policy;
    /// let mut body = Object::new();
    /// body.object_mut("fields").insert("client_secret", "s3cr3t");
    /// let paths: Vec<String> = Policy::default().apply(&mut body).into_paths();
    /// assert_eq!(paths, ["fields.client_secret"]);
    /// ```
    pub fn into_paths(self) -> Vec<String> {
        self.paths
    }

    /// Add these paths to the `redaction.fields` of `body` (merging with any already
    /// listed, sorted, unique). Writes nothing when both are empty.
    ///
    /// ```
    /// use audit_core::canonical::{Object, Value};
    /// use audit_core::redact::Policy;
    /// let mut body = Object::new();
    /// body.object_mut("redaction").insert("fields", vec![Value::from("fields.card")]);
    /// body.object_mut("fields").insert("password", "hunter2");
    /// let redactions = Policy::default().apply(&mut body);
    /// redactions.write_to(&mut body);
    /// let listed = Value::from(body).get_path("redaction.fields").unwrap().to_canonical_string();
    /// assert_eq!(listed, r#"["fields.card","fields.password"]"#);
    /// ```
    pub fn write_to(&self, body: &mut Object) {
        let existing: Vec<String> = body
            .get("redaction")
            .and_then(|r| r.get_path("fields"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if self.paths.is_empty() && existing.is_empty() {
            return;
        }
        let mut all = existing;
        all.extend(self.paths.iter().cloned());
        all.sort();
        all.dedup();
        body.object_mut("redaction").insert(
            "fields",
            all.into_iter().map(Value::from).collect::<Vec<_>>(),
        );
    }
}

#[derive(Clone, Debug)]
enum Seg {
    Lit(Box<str>),
    Any,
}

/// A per-field rule: an action, or `None` for "allowed: never redact".
#[derive(Clone, Debug)]
struct FieldRule {
    segs: Box<[Seg]>,
    action: Option<Action>,
}

fn parse_path(path: &str) -> Result<Box<[Seg]>, PolicyError> {
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(PolicyError::InvalidPath(path.to_owned()));
    }
    Ok(path
        .split('.')
        .map(|s| {
            if s == "*" {
                Seg::Any
            } else {
                Seg::Lit(s.into())
            }
        })
        .collect())
}

/// Where a value is in the record: a chain of member names on the stack (no allocation
/// until a path has to be written down).
struct Node<'a> {
    parent: Option<&'a Node<'a>>,
    key: &'a str,
    depth: usize,
}

impl Node<'_> {
    fn path(&self) -> String {
        let mut segs: Vec<&str> = Vec::with_capacity(self.depth + 1);
        let mut cur = Some(self);
        while let Some(n) = cur {
            segs.push(n.key);
            cur = n.parent;
        }
        segs.reverse();
        segs.join(".")
    }

    /// Fields the library itself writes, which the policy never touches.
    fn is_protected(&self) -> bool {
        match self.parent {
            None => matches!(self.key, "@timestamp" | "audit" | "redaction"),
            Some(p) if p.parent.is_none() => match p.key {
                "event" => matches!(
                    self.key,
                    "action" | "outcome" | "type" | "id" | "parent_id" | "duration"
                ),
                "error" => self.key == "type",
                _ => false,
            },
            Some(_) => false,
        }
    }
}

impl FieldRule {
    fn matches(&self, node: &Node<'_>) -> bool {
        if self.segs.len() != node.depth + 1 {
            return false;
        }
        let mut cur = Some(node);
        for seg in self.segs.iter().rev() {
            let Some(n) = cur else { return false };
            if let Seg::Lit(l) = seg {
                if **l != *n.key {
                    return false;
                }
            }
            cur = n.parent;
        }
        true
    }
}

/// Member names (with their parent's name) that records commonly carry: the library's
/// own (`user.id`, `resource.id`, `event.reason`) and frequent ECS fields. The name rules'
/// verdict on each is computed once, when the policy is built ([`Inner::known`]), by the
/// same [`NameSet::check_member`] used for every other name.
const KNOWN_MEMBERS: [(Option<&str>, &str); 24] = [
    (None, "user"),
    (None, "resource"),
    (None, "source"),
    (None, "destination"),
    (None, "client"),
    (None, "http"),
    (None, "url"),
    (None, "event"),
    (None, "error"),
    (None, "fields"),
    (None, "trace"),
    (None, "span"),
    (Some("user"), "id"),
    (Some("user"), "name"),
    (Some("resource"), "id"),
    (Some("source"), "ip"),
    (Some("destination"), "ip"),
    (Some("client"), "ip"),
    (Some("http"), "request"),
    (Some("request"), "id"),
    (Some("request"), "method"),
    (Some("event"), "reason"),
    (Some("trace"), "id"),
    (Some("span"), "id"),
];

/// The index of `(parent, name)` in [`KNOWN_MEMBERS`].
fn known_member(name: &str, parent: Option<&str>) -> Option<usize> {
    // A match on the name first (compiled to a length switch and a comparison), then the
    // parent: this runs for every member of every record.
    let k = match (name, parent) {
        ("user", None) => 0,
        ("resource", None) => 1,
        ("source", None) => 2,
        ("destination", None) => 3,
        ("client", None) => 4,
        ("http", None) => 5,
        ("url", None) => 6,
        ("event", None) => 7,
        ("error", None) => 8,
        ("fields", None) => 9,
        ("trace", None) => 10,
        ("span", None) => 11,
        ("id", Some("user")) => 12,
        ("name", Some("user")) => 13,
        ("id", Some("resource")) => 14,
        ("ip", Some("source")) => 15,
        ("ip", Some("destination")) => 16,
        ("ip", Some("client")) => 17,
        ("request", Some("http")) => 18,
        ("id", Some("request")) => 19,
        ("method", Some("request")) => 20,
        ("reason", Some("event")) => 21,
        ("id", Some("trace")) => 22,
        ("id", Some("span")) => 23,
        _ => return None,
    };
    debug_assert_eq!(KNOWN_MEMBERS[k], (parent, name));
    Some(k)
}

/// Byte classes of [`Policy::prefilter`].
const PRE_PAIR: u8 = 1;
const PRE_KEY: u8 = 2;
const PRE_DIGIT: u8 = 4;
const PRE_JOIN: u8 = 8;
const PRE_SUSPECT: u8 = 16;

/// What [`Policy::prefilter`] found possible in a value.
struct Prefilter {
    pairs: bool,
    detectors: bool,
    suspect: bool,
}

/// The identity of a [`Policy`] (see [`Policy::id`]). While it exists the policy's
/// allocation is not reused, so no other policy can be taken for it; the policy itself (and
/// its key) is dropped, and zeroized, as soon as its last clone is.
#[derive(Debug)]
pub(crate) struct PolicyId(std::sync::Weak<Inner>);

impl PolicyId {
    /// Whether `policy` is the policy this id was taken from, still alive.
    pub(crate) fn is(&self, policy: &Policy) -> bool {
        std::ptr::eq(self.0.as_ptr(), Arc::as_ptr(&policy.inner))
    }

    /// Whether the policy still exists (some clone of it is alive).
    #[cfg(test)]
    pub(crate) fn alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

/// What the name rules leave of a value, for a [layout](crate::layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SlotRule {
    /// A library field: written as it is.
    Skip,
    /// Allowed: made safe to display and cut to size.
    Allow,
    /// Scanned by value: detectors, pairs, display safety, size.
    Scan,
}

/// Give every numbered value in `value` the rule `rule` (for [`Policy::slot_rules`]);
/// `false` on a value that is not numbered, or one deeper than the walk goes (`level`
/// counts as the walk does; `usize::MAX`: no limit, the walk does not look).
fn mark_slots(
    value: &Value,
    rule: SlotRule,
    slot_of: &dyn Fn(&Value) -> Option<usize>,
    rules: &mut [Option<SlotRule>],
    level: usize,
) -> bool {
    if level != usize::MAX && level > MAX_WALK_DEPTH {
        return false;
    }
    match value {
        Value::Object(o) => o
            .iter()
            .all(|(_, v)| mark_slots(v, rule, slot_of, rules, level.saturating_add(1))),
        leaf => match slot_of(leaf) {
            Some(k) => {
                rules[k] = Some(rule);
                true
            }
            None => false,
        },
    }
}

enum Decision {
    /// Library fields: untouched.
    Skip,
    /// Allowed: made safe to display and cut to size, never redacted.
    Allow,
    /// Sensitive as a whole.
    Act(Action),
    /// Look inside.
    Scan,
}

struct Inner {
    names: NameSet,
    fields: Vec<FieldRule>,
    detectors: Detectors,
    /// The name rules' verdict on each of [`KNOWN_MEMBERS`].
    known: [Option<names::NameMatch>; KNOWN_MEMBERS.len()],
    /// Per byte, the `PRE_*` classes of [`Policy::prefilter`].
    prefilter: [u8; 256],
    key: Option<PseudonymKey>,
    max_value_bytes: usize,
}

/// A compiled redaction policy. Build one with [`Policy::builder`], or use
/// [`Policy::default`] (the documented defaults, compiled once per process). Cloning is
/// cheap (the compiled tables are shared).
///
/// ```
/// use audit_core::redact::{Action, Policy, PseudonymKey};
/// let policy = Policy::builder()
///     .sensitive_name("acct_pin_hint")
///     .allow_field("fields.order_id")
///     .field_action("session.id", Action::KeyedHash)
///     .pseudonym_key(PseudonymKey::new([42u8; 32])?)
///     .max_value_bytes(1024)
///     .build()?;
/// assert!(policy.is_sensitive_name("AcctPinHint"));
/// assert_eq!(policy.redact_text("pwd=x1&page=2"), "pwd=[REDACTED]&page=2");
/// # Ok::<(), audit_core::redact::PolicyError>(())
/// ```
#[derive(Clone)]
pub struct Policy {
    inner: Arc<Inner>,
}

impl Default for Policy {
    /// The default policy: every default name and detector, no pseudonym key (session ids
    /// are masked), values cut at [`DEFAULT_MAX_VALUE_BYTES`]. Compiled once per process.
    fn default() -> Policy {
        Policy::builtin().clone()
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("field_rules", &self.inner.fields.len())
            .field("detectors", &self.inner.detectors)
            .field("pseudonym_key", &self.inner.key.is_some())
            .field("max_value_bytes", &self.inner.max_value_bytes)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// Start from the defaults and adjust.
    ///
    /// ```
    /// use audit_core::redact::Policy;
    /// let policy = Policy::builder().sensitive_name("recovery_phrase").build()?;
    /// assert!(policy.is_sensitive_name("walletRecoveryPhrase"));
    /// assert!(!Policy::default().is_sensitive_name("walletRecoveryPhrase"));
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::default()
    }

    /// The default policy, compiled on first use and shared.
    ///
    /// ```
    /// use audit_core::redact::Policy;
    /// let policy: &'static Policy = Policy::builtin();
    /// assert!(std::ptr::eq(policy, Policy::builtin())); // compiled once
    /// assert_eq!(policy.redact_text("password=hunter2"), "password=[REDACTED]");
    /// ```
    pub fn builtin() -> &'static Policy {
        static DEFAULT: OnceLock<Policy> = OnceLock::new();
        DEFAULT.get_or_init(|| {
            PolicyBuilder::default()
                .build()
                .unwrap_or_else(|_| unreachable!("the default policy is valid"))
        })
    }

    /// Whether a field name, on its own, is sensitive under this policy.
    ///
    /// ```
    /// let p = audit_core::redact::Policy::default();
    /// assert!(p.is_sensitive_name("x-api-key") && p.is_sensitive_name("userPIN"));
    /// assert!(!p.is_sensitive_name("username") && !p.is_sensitive_name("company"));
    /// ```
    pub fn is_sensitive_name(&self, name: &str) -> bool {
        self.inner.names.check(name).is_some()
    }

    /// The size limit of one string value.
    ///
    /// ```
    /// use audit_core::redact::{Policy, DEFAULT_MAX_VALUE_BYTES};
    /// assert_eq!(Policy::default().max_value_bytes(), DEFAULT_MAX_VALUE_BYTES);
    /// assert_eq!(Policy::builder().max_value_bytes(256).build()?.max_value_bytes(), 256);
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn max_value_bytes(&self) -> usize {
        self.inner.max_value_bytes
    }

    /// Redact a record body in place and return what was redacted. Fields the library
    /// writes itself (`@timestamp`, `event.action`, `event.outcome`, `event.type`,
    /// `event.id`, `event.parent_id`, `event.duration`, `error.type`, `audit`, `redaction`)
    /// are left alone. Allocates nothing when nothing is redacted.
    ///
    /// The caller writes the result into the record with [`Redactions::write_to`] (or uses
    /// [`Policy::apply_record`]).
    ///
    /// ```
    /// use audit_core::canonical::{Object, Value};
    /// use audit_core::redact::Policy;
    /// let mut body = Object::new();
    /// body.object_mut("user").insert("name", "bob");
    /// body.object_mut("fields").insert("api_key", "k-8f3a9");
    /// let redactions = Policy::default().apply(&mut body);
    /// assert_eq!(redactions.paths(), ["fields.api_key"]);
    /// let after = Value::from(body).to_canonical_string();
    /// assert_eq!(after, r#"{"fields":{"api_key":"[REDACTED]"},"user":{"name":"bob"}}"#);
    /// ```
    pub fn apply(&self, body: &mut Object) -> Redactions {
        let mut paths = Vec::new();
        self.walk_object(body, None, 0, &mut paths);
        paths.sort_unstable();
        paths.dedup();
        Redactions { paths }
    }

    /// [`apply`](Policy::apply) to a record and list the result in its
    /// `redaction.fields` (merged with paths already listed there).
    ///
    /// ```
    /// use audit_core::record::{Outcome, Record};
    /// let mut r = Record::new("auth.login", Outcome::Failure, std::time::UNIX_EPOCH)?;
    /// r.set_field("password", "hunter2");
    /// r.set_reason("login failed for postgres://app:s3cr3t@db/main");
    /// audit_core::redact::Policy::default().apply_record(&mut r);
    /// let body = audit_core::canonical::Value::from(r.into_body());
    /// assert_eq!(body.get_path("event.reason").unwrap().as_str(), Some("login failed for postgres://app:[REDACTED]@db/main"));
    /// assert_eq!(body.get_path("redaction.fields").unwrap().to_canonical_string(), r#"["event.reason","fields.password"]"#);
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn apply_record(&self, record: &mut Record) -> Redactions {
        let r = self.apply(record.body_mut());
        r.write_to(record.body_mut());
        r
    }

    /// Redact free text (an error message recorded as a reason, a formatted request):
    /// pairs with sensitive names, detected secrets, display-unsafe characters and the
    /// size limit. Borrows when nothing changes.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// let p = audit_core::redact::Policy::default();
    /// assert!(matches!(p.redact_text("user bob not found"), Cow::Borrowed(_)));
    /// assert_eq!(p.redact_text(r#"User { name: "a", password: "hunter2" }"#), r#"User { name: "a", password: "[REDACTED]" }"#);
    /// assert_eq!(p.redact_text("Authorization: Bearer 9f8e7d6c5b4a"), "Authorization: Bearer [REDACTED]");
    /// ```
    pub fn redact_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.process(text, true).0
    }

    /// Redact one value that has no name (an element, a message): strings and integers by
    /// value, objects by their members' names and values. Returns whether anything was
    /// redacted.
    ///
    /// ```
    /// use audit_core::canonical::Value;
    /// use audit_core::redact::Policy;
    /// let policy = Policy::default();
    /// let mut header = Value::from("Bearer 9f8e7d6c5b4a");
    /// assert!(policy.redact_value(&mut header));
    /// assert_eq!(header.as_str(), Some("Bearer [REDACTED]"));
    /// let mut plain = Value::from("hello");
    /// assert!(!policy.redact_value(&mut plain));
    /// assert_eq!(plain.as_str(), Some("hello"));
    /// ```
    pub fn redact_value(&self, value: &mut Value) -> bool {
        let mut paths = Vec::new();
        let root = Node {
            parent: None,
            key: "",
            depth: 0,
        };
        self.walk_value(value, &root, 1, false, &mut paths);
        !paths.is_empty()
    }

    /// A handle that tells this very policy (or a clone of it) from any other, without
    /// keeping it alive: a cache that outlives the policy does not keep its pseudonym key.
    pub(crate) fn id(&self) -> PolicyId {
        PolicyId(Arc::downgrade(&self.inner))
    }

    /// What the name rules decide for each value of `body` whose value `slot_of` numbers
    /// (every leaf must be one): the walk of [`apply`](Policy::apply) without the values.
    /// `false` when a name is redacted whole, or a value would be too deep: only the tree
    /// walk gives the result then.
    pub(crate) fn slot_rules(
        &self,
        body: &Object,
        slot_of: &dyn Fn(&Value) -> Option<usize>,
        rules: &mut [Option<SlotRule>],
    ) -> bool {
        self.rules_in(body, None, 0, slot_of, rules)
    }

    fn rules_in(
        &self,
        obj: &Object,
        parent: Option<&Node<'_>>,
        level: usize,
        slot_of: &dyn Fn(&Value) -> Option<usize>,
        rules: &mut [Option<SlotRule>],
    ) -> bool {
        let depth = parent.map_or(0, |p| p.depth + 1);
        for (key, value) in obj.iter() {
            let node = Node { parent, key, depth };
            // `walk_object` walks each member with `level + 1`.
            let ok = match self.decide(&node) {
                Decision::Skip => mark_slots(value, SlotRule::Skip, slot_of, rules, usize::MAX),
                Decision::Allow => mark_slots(value, SlotRule::Allow, slot_of, rules, level + 1),
                Decision::Act(_) => false,
                Decision::Scan if level + 1 > MAX_WALK_DEPTH => false,
                Decision::Scan => match value {
                    Value::Object(o) => self.rules_in(o, Some(&node), level + 1, slot_of, rules),
                    leaf => mark_slots(leaf, SlotRule::Scan, slot_of, rules, level + 1),
                },
            };
            if !ok {
                return false;
            }
        }
        true
    }

    /// Write one value the name rules left as `rule`, redacted as the tree walk would:
    /// `false` (nothing written that matters) when the walk would redact it, or the value is
    /// an array or object to be looked into.
    pub(crate) fn write_slot(&self, value: &Value, rule: SlotRule, out: &mut String) -> bool {
        match value {
            Value::String(s) => self.write_text_slot(s, rule, out),
            Value::Int(i) => {
                if matches!(rule, SlotRule::Scan) && self.inner.detectors.int_is_card(*i).is_some()
                {
                    return false;
                }
                crate::canonical::write_int(out, *i);
                true
            }
            Value::Null | Value::Bool(_) => {
                value.write_canonical(out);
                true
            }
            // Left alone whole, or looked into by the tree walk.
            Value::Array(_) | Value::Object(_) => {
                let skip = matches!(rule, SlotRule::Skip);
                if skip {
                    value.write_canonical(out);
                }
                skip
            }
        }
    }

    /// [`write_slot`](Policy::write_slot) for a string value.
    pub(crate) fn write_text_slot(&self, s: &str, rule: SlotRule, out: &mut String) -> bool {
        let scan = match rule {
            SlotRule::Skip => {
                crate::canonical::write_string(out, s);
                return true;
            }
            SlotRule::Allow => false,
            SlotRule::Scan => true,
        };
        let (new, redacted) = self.process(s, scan);
        if redacted {
            return false;
        }
        crate::canonical::write_string(out, &new);
        true
    }

    fn decide(&self, node: &Node<'_>) -> Decision {
        if node.is_protected() {
            return Decision::Skip;
        }
        if let Some(rule) = self.inner.fields.iter().rev().find(|r| r.matches(node)) {
            return rule.action.map_or(Decision::Allow, Decision::Act);
        }
        let parent = node.parent.map(|p| p.key);
        let checked = match known_member(node.key, parent) {
            Some(k) => self.inner.known[k],
            None => self.inner.names.check_member(node.key, parent),
        };
        match checked {
            Some(m) => Decision::Act(m.action),
            None => Decision::Scan,
        }
    }

    fn walk_object(
        &self,
        obj: &mut Object,
        parent: Option<&Node<'_>>,
        level: usize,
        out: &mut Vec<String>,
    ) {
        let depth = parent.map_or(0, |p| p.depth + 1);
        let mut removed: Vec<String> = Vec::new();
        for (key, value) in obj.iter_mut() {
            let node = Node { parent, key, depth };
            match self.decide(&node) {
                Decision::Skip => {}
                Decision::Allow => self.walk_value(value, &node, level + 1, true, out),
                Decision::Act(action) => {
                    if self.act(value, action) {
                        if action == Action::Remove {
                            removed.push(key.to_owned());
                        }
                        out.push(node.path());
                    }
                }
                Decision::Scan => self.walk_value(value, &node, level + 1, false, out),
            }
        }
        if !removed.is_empty() {
            obj.retain(|k, _| !removed.iter().any(|r| r == k));
        }
    }

    /// Apply a whole-value action. Returns whether the value was sensitive (and is now
    /// redacted, or is to be removed with [`Action::Remove`]). `null`, booleans, empty
    /// strings and empty containers hide nothing and are left as they are.
    fn act(&self, value: &mut Value, action: Action) -> bool {
        let key = self.inner.key.as_ref();
        let new = match value {
            Value::Null | Value::Bool(_) => return false,
            Value::String(s) if s.is_empty() => return false,
            Value::Array(a) if a.is_empty() => return false,
            Value::Object(o) if o.is_empty() => return false,
            // Already redacted (e.g. a field forced to `[REDACTED]`): keep it as it is.
            Value::String(s) if is_redacted_form(s) => return true,
            _ if action == Action::Remove => return true,
            Value::String(s) => replacement(action, s, key),
            Value::Int(i) => replacement(action, &i.to_string(), key),
            Value::Array(_) | Value::Object(_) => match action {
                Action::KeyedHash => replacement(action, &value.to_canonical_string(), key),
                _ => MASK.to_owned(),
            },
        };
        *value = Value::String(new);
        true
    }

    fn walk_value(
        &self,
        value: &mut Value,
        node: &Node<'_>,
        level: usize,
        allowed: bool,
        out: &mut Vec<String>,
    ) {
        if level > MAX_WALK_DEPTH {
            if !allowed && self.act(value, Action::Mask) {
                out.push(node.path());
            }
            return;
        }
        match value {
            Value::String(s) => {
                let (new, redacted) = self.process(s, !allowed);
                if let Cow::Owned(new) = new {
                    *s = new;
                }
                if redacted {
                    out.push(node.path());
                }
            }
            Value::Int(i) if !allowed => {
                if let Some(action) = self.inner.detectors.int_is_card(*i) {
                    let text = i.to_string();
                    *value = Value::String(replacement(action, &text, self.inner.key.as_ref()));
                    out.push(node.path());
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.walk_value(item, node, level + 1, allowed, out);
                }
            }
            Value::Object(o) if allowed => {
                for (k, v) in o.iter_mut() {
                    let child = Node {
                        parent: Some(node),
                        key: k,
                        depth: node.depth + 1,
                    };
                    self.walk_value(v, &child, level + 1, true, out);
                }
            }
            Value::Object(o) => self.walk_object(o, Some(node), level, out),
            _ => {}
        }
    }

    /// One pass over `s`: whether [`text::scan_pairs`] can find anything in it
    /// ([`text::may_have_pairs`]), whether [`Detectors::scan`] can
    /// ([`Detectors::may_match`]), and whether [`sanitize`] can change it (it has a 0xC2 or
    /// 0xE2 byte). Each is a necessary condition: when false, the scan finds nothing (or
    /// `sanitize` returns its input).
    fn prefilter(&self, s: &str) -> Prefilter {
        let table = &self.inner.prefilter;
        let mut all = 0u8;
        let mut run = 0usize;
        let mut longest = 0usize;
        for &c in s.as_bytes() {
            let class = table[usize::from(c)];
            all |= class;
            // Without branches (digits and the rest alternate in ids and addresses): a digit
            // lengthens the run, a joiner keeps it, anything else ends it.
            let digit = usize::from(class & PRE_DIGIT != 0);
            let keep = usize::from(class & (PRE_DIGIT | PRE_JOIN) != 0);
            run = (run + digit) * keep;
            longest = longest.max(run);
        }
        let long_run = longest >= MIN_DIGITS;
        Prefilter {
            pairs: all & PRE_PAIR != 0,
            detectors: all & PRE_KEY != 0 || (long_run && self.inner.detectors.needs_digit_runs()),
            suspect: all & PRE_SUSPECT != 0,
        }
    }

    /// Whether the scan a prefilter skipped finds nothing indeed (debug checks).
    fn skipped_finds_nothing(&self, s: &str, pairs: bool) -> bool {
        let mut hits = Vec::new();
        if pairs {
            text::scan_pairs(s, &self.inner.names, &mut hits);
        } else {
            self.inner.detectors.scan(s, &mut hits);
        }
        hits.is_empty()
    }

    /// Scan (unless `scan` is false), then make safe to display and cut to size.
    fn process<'a>(&self, s: &'a str, scan: bool) -> (Cow<'a, str>, bool) {
        let mut hits: Vec<Hit> = Vec::new();
        let mut suspect = true;
        if scan && s.len() >= 3 {
            // Necessary conditions for a hit: a value that fails them would be scanned for
            // nothing.
            let pre = self.prefilter(s);
            if pre.pairs {
                text::scan_pairs(s, &self.inner.names, &mut hits);
            }
            if pre.detectors {
                self.inner.detectors.scan(s, &mut hits);
            }
            // In debug builds (every test), check that nothing was skipped that would have
            // found something.
            debug_assert_eq!(pre.pairs, text::may_have_pairs(s));
            debug_assert_eq!(pre.detectors, self.inner.detectors.may_match(s));
            debug_assert!(pre.pairs || self.skipped_finds_nothing(s, true));
            debug_assert!(pre.detectors || self.skipped_finds_nothing(s, false));
            suspect = pre.suspect;
        }
        let redacted = !hits.is_empty();
        let out = if redacted {
            Cow::Owned(self.rewrite(s, &mut hits))
        } else {
            Cow::Borrowed(s)
        };
        // Unchanged and without a 0xC2 or 0xE2 byte: `sanitize` would return it as it is.
        let out = if redacted || suspect {
            sanitize(out)
        } else {
            out
        };
        let out = truncate(out, self.inner.max_value_bytes);
        (out, redacted)
    }

    /// Replace the hits (overlapping ones merged; differing actions merge to a mask).
    fn rewrite(&self, s: &str, hits: &mut [Hit]) -> String {
        hits.sort_unstable_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
        let key = self.inner.key.as_ref();
        let mut out = String::with_capacity(s.len() + 16);
        let mut pos = 0;
        let mut k = 0;
        while k < hits.len() {
            let mut cur = hits[k];
            k += 1;
            while k < hits.len() && hits[k].start < cur.end {
                cur.end = cur.end.max(hits[k].end);
                if hits[k].action != cur.action {
                    cur.action = Action::Mask;
                }
                k += 1;
            }
            let start = floor_boundary(s, cur.start.max(pos));
            let end = ceil_boundary(s, cur.end);
            out.push_str(&s[pos..start]);
            render(&mut out, cur.action, &s[start..end], key);
            pos = end;
        }
        out.push_str(&s[pos..]);
        out
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Characters that can fake a line break or reorder what a viewer shows: C1 controls
/// (U+0080..U+009F, including NEL), U+2028, U+2029, and the bidirectional embeddings,
/// overrides and isolates (U+202A..U+202E, U+2066..U+2069, "Trojan Source").
fn is_display_unsafe(c: char) -> bool {
    matches!(c, '\u{80}'..='\u{9f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn sanitize(s: Cow<'_, str>) -> Cow<'_, str> {
    // All of them start with byte 0xC2 or 0xE2 in UTF-8.
    let suspect = s.bytes().any(|b| b == 0xC2 || b == 0xE2);
    if !suspect || !s.chars().any(is_display_unsafe) {
        return s;
    }
    Cow::Owned(
        s.chars()
            .map(|c| if is_display_unsafe(c) { '\u{FFFD}' } else { c })
            .collect(),
    )
}

fn truncate(s: Cow<'_, str>, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return s;
    }
    let cut = floor_boundary(&s, max);
    let mut out = String::with_capacity(cut + TRUNCATION_MARKER.len() + 16);
    out.push_str(&s[..cut]);
    out.push_str(TRUNCATION_MARKER);
    out.push_str(&(s.len() - cut).to_string());
    out.push_str(" bytes]");
    Cow::Owned(out)
}

/// Builds a [`Policy`]. Starts from the defaults; every call adjusts them; nothing is
/// compiled until [`build`](PolicyBuilder::build).
///
/// ```
/// use audit_core::redact::{Detector, Policy};
/// let policy = Policy::builder()
///     .sensitive_word("badge")
///     .disable_detector(Detector::Iban)
///     .build()?;
/// assert!(policy.is_sensitive_name("employee_badge_no"));
/// assert_eq!(policy.redact_text("iban GB82 WEST 1234 5698 7654 32"), "iban GB82 WEST 1234 5698 7654 32");
/// # Ok::<(), audit_core::redact::PolicyError>(())
/// ```
#[derive(Clone, Debug)]
pub struct PolicyBuilder {
    names: NameRules,
    fields: Vec<(String, Option<Action>)>,
    detector_actions: Vec<(Detector, Action)>,
    disabled: Vec<Detector>,
    extras: Vec<ExtraDetector>,
    key: Option<PseudonymKey>,
    max_value_bytes: usize,
    errors: Vec<PolicyError>,
}

impl Default for PolicyBuilder {
    fn default() -> PolicyBuilder {
        PolicyBuilder {
            names: NameRules::defaults(),
            fields: Vec::new(),
            detector_actions: Vec::new(),
            disabled: Vec::new(),
            extras: Vec::new(),
            key: None,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            errors: Vec::new(),
        }
    }
}

impl PolicyBuilder {
    fn normalized(&mut self, name: &str) -> Option<Box<[u8]>> {
        let n = normalize_rule(name);
        if n.is_none() {
            self.errors.push(PolicyError::EmptyName(name.to_owned()));
        }
        n
    }

    /// Treat every name that ends with `name` (normalised: case, separators and camel case
    /// do not matter, so `acct_pin_hint` also catches `userAcctPinHint`) as sensitive;
    /// masked. A name already on the list keeps its action.
    ///
    /// ```
    /// use audit_core::redact::Policy;
    /// let policy = Policy::builder().sensitive_name("acct_pin_hint").build()?;
    /// assert!(policy.is_sensitive_name("userAcctPinHint"));
    /// assert_eq!(policy.redact_text("acct-pin-hint=blue"), "acct-pin-hint=[REDACTED]");
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn sensitive_name(mut self, name: &str) -> PolicyBuilder {
        if let Some(n) = self.normalized(name) {
            if !self.names.suffixes.iter().any(|(t, _, _)| *t == n) {
                self.names.suffixes.push((n, None, Class::Secret));
            }
        }
        self
    }

    /// Treat every name with `word` as one of its words as sensitive (`pin` catches
    /// `user_pin` and `pinCode` but not `spinner`); masked.
    ///
    /// ```
    /// use audit_core::redact::Policy;
    /// let policy = Policy::builder().sensitive_word("badge").build()?;
    /// assert!(policy.is_sensitive_name("badge_no") && policy.is_sensitive_name("oldBadgeId"));
    /// assert!(!policy.is_sensitive_name("badger"));
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn sensitive_word(mut self, word: &str) -> PolicyBuilder {
        if let Some(n) = self.normalized(word) {
            if !self.names.words.iter().any(|(t, _, _)| *t == n) {
                self.names.words.push((n, None, Class::Secret));
            }
        }
        self
    }

    /// Like [`sensitive_name`](Self::sensitive_name), with its own action (this also changes
    /// the action of a name already on the list, e.g. `name_action("card_number",
    /// Action::Mask)`).
    ///
    /// ```
    /// use audit_core::canonical::Object;
    /// use audit_core::redact::{Action, Policy};
    /// let policy = Policy::builder().name_action("card_number", Action::Mask).build()?;
    /// let mut body = Object::new();
    /// body.object_mut("fields").insert("card_number", "4111 1111 1111 1111");
    /// policy.apply(&mut body);
    /// let card = body.get("fields").unwrap().get_path("card_number").unwrap();
    /// assert_eq!(card.as_str(), Some("[REDACTED]")); // not even the last four digits
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn name_action(mut self, name: &str, action: Action) -> PolicyBuilder {
        if let Some(n) = self.normalized(name) {
            self.names.suffixes.push((n, Some(action), Class::Secret));
        }
        self
    }

    /// Take a name or word off the list (`remove_sensitive_name("signature")`).
    ///
    /// ```
    /// use audit_core::redact::Policy;
    /// assert!(Policy::default().is_sensitive_name("signature"));
    /// let policy = Policy::builder().remove_sensitive_name("signature").build()?;
    /// assert!(!policy.is_sensitive_name("signature"));
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn remove_sensitive_name(mut self, name: &str) -> PolicyBuilder {
        if let Some(n) = self.normalized(name) {
            self.names.remove(&n);
        }
        self
    }

    /// Start from an empty list of names (detectors stay on).
    ///
    /// ```
    /// use audit_core::redact::Policy;
    /// let policy = Policy::builder().clear_sensitive_names().sensitive_name("pin").build()?;
    /// assert!(policy.is_sensitive_name("pin") && !policy.is_sensitive_name("password"));
    /// assert_eq!(policy.redact_text("paid with 4111 1111 1111 1111"), "paid with [REDACTED]...1111");
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn clear_sensitive_names(mut self) -> PolicyBuilder {
        self.names.suffixes.clear();
        self.names.words.clear();
        self
    }

    /// Never treat a name equal to `name` (normalised) as sensitive, e.g.
    /// `password_changed_at`. Values under it are still scanned.
    ///
    /// ```
    /// use audit_core::redact::Policy;
    /// assert!(Policy::default().is_sensitive_name("password_changed_at"));
    /// let policy = Policy::builder().allow_name("password_changed_at").build()?;
    /// assert!(!policy.is_sensitive_name("passwordChangedAt"));
    /// assert!(policy.is_sensitive_name("password"));
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn allow_name(mut self, name: &str) -> PolicyBuilder {
        if let Some(n) = self.normalized(name) {
            self.names.allowed.push(n);
        }
        self
    }

    /// Never redact the field at this record path (`fields.order_id`; `*` matches one
    /// segment, `fields.*.sku`): no name rule, no detector. It is still made safe to display
    /// and cut to size. Later field rules win over earlier ones.
    ///
    /// ```
    /// use audit_core::canonical::Object;
    /// use audit_core::redact::Policy;
    /// let policy = Policy::builder().allow_field("fields.order_id").build()?;
    /// let mut body = Object::new();
    /// body.object_mut("fields").insert("order_id", "4111111111111111"); // looks like a card
    /// let mut by_default = body.clone();
    /// assert!(policy.apply(&mut body).is_empty());
    /// assert!(Policy::default().apply(&mut by_default).contains("fields.order_id"));
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn allow_field(mut self, path: &str) -> PolicyBuilder {
        match parse_path(path) {
            Ok(_) => self.fields.push((path.to_owned(), None)),
            Err(e) => self.errors.push(e),
        }
        self
    }

    /// Always apply `action` to the field at this record path, whatever its name and
    /// value (`session.id` → [`Action::KeyedHash`], `user.email` → [`Action::KeyedHash`],
    /// `fields.card` → [`Action::Partial`]). Wins over the name rules.
    ///
    /// ```
    /// use audit_core::canonical::{Object, Value};
    /// use audit_core::redact::{Action, Policy};
    /// let policy = Policy::builder().field_action("user.email", Action::Remove).build()?;
    /// let mut body = Object::new();
    /// body.object_mut("user").insert("email", "alice@example.com");
    /// body.object_mut("user").insert("id", "u-1");
    /// assert_eq!(policy.apply(&mut body).paths(), ["user.email"]);
    /// assert_eq!(Value::from(body).to_canonical_string(), r#"{"user":{"id":"u-1"}}"#);
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn field_action(mut self, path: &str, action: Action) -> PolicyBuilder {
        match parse_path(path) {
            Ok(_) => self.fields.push((path.to_owned(), Some(action))),
            Err(e) => self.errors.push(e),
        }
        self
    }

    /// The action of a built-in detector (default: [`Action::Partial`] for card numbers,
    /// [`Action::Mask`] otherwise). In text, [`Action::Remove`] masks.
    ///
    /// ```
    /// use audit_core::redact::{Action, Detector, Policy};
    /// let policy = Policy::builder().detector_action(Detector::CardNumber, Action::Mask).build()?;
    /// assert_eq!(policy.redact_text("card 4111 1111 1111 1111"), "card [REDACTED]");
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn detector_action(mut self, detector: Detector, action: Action) -> PolicyBuilder {
        self.detector_actions.push((detector, action));
        self
    }

    /// Turn a built-in detector off.
    ///
    /// ```
    /// use audit_core::redact::{Detector, Policy};
    /// let iban = "GB82 WEST 1234 5698 7654 32";
    /// assert_eq!(Policy::default().redact_text(iban), "[REDACTED]");
    /// let policy = Policy::builder().disable_detector(Detector::Iban).build()?;
    /// assert_eq!(policy.redact_text(iban), iban);
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn disable_detector(mut self, detector: Detector) -> PolicyBuilder {
        self.disabled.push(detector);
        self
    }

    /// Add a detector of your own.
    ///
    /// ```
    /// use audit_core::redact::{ExtraDetector, Policy};
    /// let policy = Policy::builder().extra_detector(ExtraDetector::new("acme-key", "acme_")).build()?;
    /// assert_eq!(policy.redact_text("acme_Zm9vYmFyYmF6cXV4"), "[REDACTED]");
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn extra_detector(mut self, detector: ExtraDetector) -> PolicyBuilder {
        self.extras.push(detector);
        self
    }

    /// The key of [`Action::KeyedHash`]. With a key, session ids (`session_id`,
    /// `session.id`, `JSESSIONID`, ...) are pseudonymised by default instead of masked.
    ///
    /// ```
    /// use audit_core::canonical::Object;
    /// use audit_core::redact::{Policy, PseudonymKey};
    /// let key = PseudonymKey::new([7u8; 32])?;
    /// let expected = key.pseudonym(b"s-5f2c91");
    /// let policy = Policy::builder().pseudonym_key(key).build()?;
    /// let mut body = Object::new();
    /// body.object_mut("session").insert("id", "s-5f2c91");
    /// policy.apply(&mut body);
    /// let id = body.get("session").unwrap().get_path("id").unwrap();
    /// assert_eq!(id.as_str(), Some(expected.as_str())); // masked without a key
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn pseudonym_key(mut self, key: PseudonymKey) -> PolicyBuilder {
        self.key = Some(key);
        self
    }

    /// Cut string values longer than `bytes` (at a character boundary) and mark the cut
    /// (default [`DEFAULT_MAX_VALUE_BYTES`], at least [`MIN_MAX_VALUE_BYTES`]).
    ///
    /// ```
    /// use audit_core::redact::Policy;
    /// let policy = Policy::builder().max_value_bytes(64).build()?;
    /// let long = "é".repeat(40); // 80 bytes
    /// assert_eq!(policy.redact_text(&long), format!("{}…[TRUNCATED 16 bytes]", &long[..64]));
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn max_value_bytes(mut self, bytes: usize) -> PolicyBuilder {
        self.max_value_bytes = bytes;
        self
    }

    /// Check and compile the policy.
    ///
    /// ```
    /// use audit_core::redact::{Policy, PolicyError};
    /// assert!(Policy::builder().build().is_ok());
    /// let empty = Policy::builder().sensitive_name("--").build();
    /// assert!(matches!(empty, Err(PolicyError::EmptyName(_))));
    /// let bad_path = Policy::builder().allow_field("fields..id").build();
    /// assert!(matches!(bad_path, Err(PolicyError::InvalidPath(_))));
    /// ```
    pub fn build(self) -> Result<Policy, PolicyError> {
        if let Some(e) = self.errors.into_iter().next() {
            return Err(e);
        }
        if self.max_value_bytes < MIN_MAX_VALUE_BYTES {
            return Err(PolicyError::MaxValueTooSmall(self.max_value_bytes));
        }
        let has_key = self.key.is_some();
        let need_key = |what: String, action: Option<Action>| {
            if action == Some(Action::KeyedHash) && !has_key {
                Err(PolicyError::KeyedHashWithoutKey(what))
            } else {
                Ok(())
            }
        };
        for (text, action, _) in self.names.suffixes.iter().chain(&self.names.words) {
            need_key(format!("name {:?}", String::from_utf8_lossy(text)), *action)?;
        }
        for (path, action) in &self.fields {
            need_key(format!("field {path:?}"), *action)?;
        }
        for (d, action) in &self.detector_actions {
            need_key(format!("detector {}", d.name()), Some(*action))?;
        }
        for e in &self.extras {
            need_key(format!("extra detector {:?}", e.name()), Some(e.action))?;
            let invalid = |reason| PolicyError::InvalidDetector {
                name: e.name().to_owned(),
                reason,
            };
            if e.prefix.is_empty() {
                return Err(invalid("the prefix is empty"));
            }
            if e.min == 0 || e.min > e.max {
                return Err(invalid(
                    "the length range must be non-empty and start at 1 or more",
                ));
            }
        }
        let names = NameSet::compile(&self.names, |class| match class {
            Class::Secret => Action::Mask,
            Class::Card => Action::Partial,
            Class::Session if has_key => Action::KeyedHash,
            Class::Session => Action::Mask,
        });
        let enabled: Vec<(Detector, Action)> = Detector::ALL
            .iter()
            .filter(|d| !self.disabled.contains(d))
            .map(|&d| {
                let action = self
                    .detector_actions
                    .iter()
                    .rev()
                    .find(|(x, _)| *x == d)
                    .map_or(d.default_action(), |(_, a)| *a);
                (d, action)
            })
            .collect();
        let detectors = Detectors::compile(&enabled, &self.extras);
        let fields = self
            .fields
            .iter()
            .map(|(path, action)| {
                Ok(FieldRule {
                    segs: parse_path(path)?,
                    action: *action,
                })
            })
            .collect::<Result<Vec<_>, PolicyError>>()?;
        let known = KNOWN_MEMBERS.map(|(parent, name)| names.check_member(name, parent));
        let mut prefilter = [0u8; 256];
        for (b, class) in (0..=255u8).zip(prefilter.iter_mut()) {
            if text::is_pair_separator(b) {
                *class |= PRE_PAIR;
            }
            if detectors.is_key(b) {
                *class |= PRE_KEY;
            }
            if b.is_ascii_digit() {
                *class |= PRE_DIGIT;
            }
            if b == b' ' || b == b'-' {
                *class |= PRE_JOIN;
            }
            if b == 0xC2 || b == 0xE2 {
                *class |= PRE_SUSPECT;
            }
        }
        Ok(Policy {
            inner: Arc::new(Inner {
                names,
                fields,
                detectors,
                known,
                prefilter,
                key: self.key,
                max_value_bytes: self.max_value_bytes,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::parse;

    fn body(json: &str) -> Object {
        match parse(json).unwrap() {
            Value::Object(o) => o,
            _ => panic!("not an object"),
        }
    }

    fn applied(policy: &Policy, json: &str) -> (String, Vec<String>) {
        let mut b = body(json);
        let r = policy.apply(&mut b);
        (Value::from(b).to_canonical_string(), r.into_paths())
    }

    #[test]
    fn names_at_any_depth() {
        let (out, paths) = applied(
            &Policy::default(),
            r#"{"fields":{"a":{"b":[{"Password":"x1"},{"ok":"y"}]},"client_secret":"s","n":1}}"#,
        );
        assert_eq!(
            out,
            r#"{"fields":{"a":{"b":[{"Password":"[REDACTED]"},{"ok":"y"}]},"client_secret":"[REDACTED]","n":1}}"#
        );
        assert_eq!(paths, ["fields.a.b.Password", "fields.client_secret"]);
    }

    #[test]
    fn library_fields_are_untouched() {
        let json = r#"{"@timestamp":"2026-01-01T00:00:00.000000Z","event":{"action":"auth.login","duration":4111111111111111,"id":"4111111111111111","outcome":"success"}}"#;
        let (out, paths) = applied(&Policy::default(), json);
        assert_eq!(out, json);
        assert!(paths.is_empty());
    }

    #[test]
    fn sessions_cards_and_ints() {
        let key = PseudonymKey::new([1u8; 32]).unwrap();
        let p = Policy::builder().pseudonym_key(key).build().unwrap();
        let (out, paths) = applied(
            &p,
            r#"{"fields":{"card":4111111111111111,"card_number":"5555 5555 5555 4444","cvv":123},"session":{"id":"s-1"}}"#,
        );
        let v = parse(&out).unwrap();
        assert_eq!(
            v.get_path("fields.card").unwrap().as_str(),
            Some("[REDACTED]...1111")
        );
        assert_eq!(
            v.get_path("fields.card_number").unwrap().as_str(),
            Some("[REDACTED]...4444")
        );
        assert_eq!(
            v.get_path("fields.cvv").unwrap().as_str(),
            Some("[REDACTED]")
        );
        let sid = v.get_path("session.id").unwrap().as_str().unwrap();
        assert!(sid.starts_with(PSEUDONYM_PREFIX), "{sid}");
        assert_eq!(
            paths,
            [
                "fields.card",
                "fields.card_number",
                "fields.cvv",
                "session.id"
            ]
        );
        // Without a key, session ids are masked.
        let (out, _) = applied(&Policy::default(), r#"{"session":{"id":"s-1"}}"#);
        assert_eq!(out, r#"{"session":{"id":"[REDACTED]"}}"#);
    }

    #[test]
    fn field_rules() {
        let p = Policy::builder()
            .allow_field("fields.token")
            .allow_field("fields.*.note")
            .field_action("fields.email", Action::Remove)
            .field_action("fields.ref", Action::Partial)
            .build()
            .unwrap();
        let (out, paths) = applied(
            &p,
            r#"{"fields":{"email":"a@b.c","ref":"ABCDEFGH12345678","token":"public-token","x":{"note":"Bearer abcdef123456"}}}"#,
        );
        assert_eq!(
            out,
            r#"{"fields":{"ref":"[REDACTED]...5678","token":"public-token","x":{"note":"Bearer abcdef123456"}}}"#
        );
        assert_eq!(paths, ["fields.email", "fields.ref"]);
    }

    #[test]
    fn keyed_hash_needs_a_key() {
        let e = Policy::builder()
            .field_action("user.email", Action::KeyedHash)
            .build()
            .unwrap_err();
        assert!(matches!(e, PolicyError::KeyedHashWithoutKey(_)), "{e}");
        assert!(Policy::builder()
            .detector_action(Detector::Jwt, Action::KeyedHash)
            .build()
            .is_err());
        assert!(matches!(
            Policy::builder().sensitive_name("--").build(),
            Err(PolicyError::EmptyName(_))
        ));
        assert!(matches!(
            Policy::builder().allow_field("a..b").build(),
            Err(PolicyError::InvalidPath(_))
        ));
        assert!(matches!(
            Policy::builder().max_value_bytes(10).build(),
            Err(PolicyError::MaxValueTooSmall(10))
        ));
        assert!(Policy::builder()
            .extra_detector(ExtraDetector::new("x", ""))
            .build()
            .is_err());
    }

    #[test]
    fn names_can_be_added_removed_and_allowed() {
        let p = Policy::builder()
            .sensitive_name("acct_hint")
            .sensitive_word("mmn")
            .remove_sensitive_name("signature")
            .allow_name("password_changed_at")
            .name_action("card_number", Action::Mask)
            .build()
            .unwrap();
        assert!(p.is_sensitive_name("userAcctHint"));
        assert!(p.is_sensitive_name("mother_mmn"));
        assert!(!p.is_sensitive_name("signature"));
        assert!(!p.is_sensitive_name("passwordChangedAt"));
        let (out, _) = applied(&p, r#"{"card_number":"4111111111111111"}"#);
        assert_eq!(out, r#"{"card_number":"[REDACTED]"}"#);
        let empty = Policy::builder().clear_sensitive_names().build().unwrap();
        assert!(!empty.is_sensitive_name("password"));
    }

    #[test]
    fn remove_action_and_disabled_detectors() {
        let p = Policy::builder()
            .name_action("password", Action::Remove)
            .disable_detector(Detector::CardNumber)
            .build()
            .unwrap();
        let (out, paths) = applied(
            &p,
            r#"{"fields":{"password":"x","note":"4111111111111111 and password=y"}}"#,
        );
        assert_eq!(
            out,
            r#"{"fields":{"note":"4111111111111111 and password=[REDACTED]"}}"#
        );
        assert_eq!(paths, ["fields.note", "fields.password"]);
    }

    #[test]
    fn idempotent_and_forced_values_are_kept() {
        let p = Policy::default();
        let json = r#"{"fields":{"card_no":"[REDACTED]...1111","password":"[REDACTED]","s":"a [REDACTED] b"}}"#;
        let (out, paths) = applied(&p, json);
        assert_eq!(out, json);
        assert_eq!(paths, ["fields.card_no", "fields.password"]);
        let (again, _) = applied(&p, &out);
        assert_eq!(again, out);
    }

    #[test]
    fn display_safety_and_size() {
        let p = Policy::builder().max_value_bytes(64).build().unwrap();
        assert_eq!(
            p.redact_text("a\u{2028}b\u{202e}c\u{85}d"),
            "a\u{fffd}b\u{fffd}c\u{fffd}d"
        );
        assert!(matches!(p.redact_text("é ü — “ok”"), Cow::Borrowed(_)));
        let long = "é".repeat(100);
        let cut = p.redact_text(&long);
        assert!(cut.starts_with(&"é".repeat(32)));
        assert!(cut.ends_with("…[TRUNCATED 136 bytes]"), "{cut}");
        // A secret across the cut is redacted before cutting.
        let text = format!("{} Bearer 0123456789abcdef0123456789", "x".repeat(50));
        assert!(!p.redact_text(&text).contains("0123456"));
    }

    /// The one-pass prefilter of `process` says exactly what the separate checks say.
    #[test]
    fn prefilter_agrees_with_the_scanners_own_checks() {
        let alphabet = "0123456789 -.:/@=>,eyJBbaskAIZG_\t\u{85}\u{2028}é";
        let chars: Vec<char> = alphabet.chars().collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let policies = [
            Policy::default(),
            Policy::builder()
                .disable_detector(Detector::CardNumber)
                .disable_detector(Detector::UsSsn)
                .build()
                .unwrap(),
            Policy::builder()
                .extra_detector(ExtraDetector::new("x", "4").length(1..=4))
                .build()
                .unwrap(),
        ];
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let t: String = (0..len)
                .map(|_| chars[(next() % chars.len() as u64) as usize])
                .collect();
            for p in &policies {
                let pre = p.prefilter(&t);
                assert_eq!(pre.pairs, text::may_have_pairs(&t), "{t:?}");
                assert_eq!(pre.detectors, p.inner.detectors.may_match(&t), "{t:?}");
                assert_eq!(pre.suspect, t.bytes().any(|b| b == 0xC2 || b == 0xE2));
            }
        }
    }

    /// The verdicts on the known member names are the policy's own.
    #[test]
    fn known_members_follow_the_policy() {
        for p in [
            Policy::default(),
            Policy::builder()
                .sensitive_name("ip")
                .sensitive_word("user")
                .name_action("requestid", Action::Partial)
                .build()
                .unwrap(),
        ] {
            for (k, (parent, name)) in KNOWN_MEMBERS.iter().enumerate() {
                assert_eq!(known_member(name, *parent), Some(k));
                assert_eq!(p.inner.known[k], p.inner.names.check_member(name, *parent));
            }
        }
        let p = Policy::builder().sensitive_name("ip").build().unwrap();
        let (out, paths) = applied(&p, r#"{"source":{"ip":"203.0.113.7"},"user":{"id":"u-1"}}"#);
        assert_eq!(out, r#"{"source":{"ip":"[REDACTED]"},"user":{"id":"u-1"}}"#);
        assert_eq!(paths, ["source.ip"]);
        assert_eq!(known_member("id", None), None);
        assert_eq!(known_member("ip", Some("user")), None);
    }

    #[test]
    fn deep_values_fail_closed() {
        let mut v = Value::from("secret-free");
        for _ in 0..(MAX_WALK_DEPTH + 10) {
            let mut o = Object::new();
            o.insert("k", v);
            v = Value::Object(o);
        }
        let mut body = Object::new();
        body.insert("fields", v);
        let r = Policy::default().apply(&mut body);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn redactions_merge_into_the_record() {
        let mut b = body(r#"{"redaction":{"fields":["fields.z"]},"fields":{"token":"t"}}"#);
        let r = Policy::default().apply(&mut b);
        r.write_to(&mut b);
        assert_eq!(
            Value::from(b).to_canonical_string(),
            r#"{"fields":{"token":"[REDACTED]"},"redaction":{"fields":["fields.token","fields.z"]}}"#
        );
        let mut nothing = body(r#"{"a":1}"#);
        Redactions::default().write_to(&mut nothing);
        assert_eq!(Value::from(nothing).to_canonical_string(), r#"{"a":1}"#);
    }

    #[test]
    fn redact_value_without_a_name() {
        let p = Policy::default();
        let mut v = Value::from("key AKIAIOSFODNN7EXAMPLE");
        assert!(p.redact_value(&mut v));
        assert_eq!(v.as_str(), Some("key [REDACTED]"));
        let mut n = Value::from(42);
        assert!(!p.redact_value(&mut n));
    }

    #[test]
    fn debug_hides_the_key() {
        let p = Policy::builder()
            .pseudonym_key(PseudonymKey::new([0xAB; 32]).unwrap())
            .build()
            .unwrap();
        let d = format!("{p:?}");
        assert!(
            d.contains("pseudonym_key: true") && !d.contains("171"),
            "{d}"
        );
    }
}
