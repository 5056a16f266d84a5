//! Canonical JSON: the value type, the strict parser and the RFC 8785 (JCS) serializer.
//!
//! Every audit record is a JSON object written on one line in the canonical form of
//! [RFC 8785](https://www.rfc-editor.org/rfc/rfc8785) and the MAC covers exactly those
//! bytes, so this module is the single definition of "canonical":
//!
//! * object members sorted by the UTF-16 code units of their keys, keys unique;
//! * no insignificant whitespace;
//! * strings escaped minimally (`\"`, `\\`, `\b`, `\t`, `\n`, `\f`, `\r`, other control
//!   characters as `\u00xx` with lowercase hex, everything else literal UTF-8);
//! * numbers are integers only, within ±(2<sup>53</sup>−1), in plain decimal.
//!
//! The parser is strict on top of RFC 8259: it rejects duplicate keys, fractions and
//! exponents, leading zeros and `-0`, integers outside the safe range, lone surrogates,
//! raw control characters in strings, nesting deeper than [`MAX_DEPTH`] and trailing
//! garbage. It never panics, whatever the input.
//!
//! ```
//! use audit_core::canonical::{self, Object, Value};
//!
//! let mut record = Object::new();
//! record.insert("seq", 7);
//! record.insert("event", "auth.login");
//! record.object_mut("actor").insert("id", "alice");
//! let line = Value::from(record).to_canonical_string();
//! assert_eq!(line, r#"{"actor":{"id":"alice"},"event":"auth.login","seq":7}"#);
//!
//! let parsed = canonical::parse_canonical(&line)?;
//! assert_eq!(parsed.get_path("actor.id").and_then(Value::as_str), Some("alice"));
//! # Ok::<(), canonical::ParseError>(())
//! ```

use std::cmp::Ordering;
use std::fmt;

/// The largest integer magnitude a [`Value::Int`] may carry: 2<sup>53</sup> − 1.
///
/// Integers beyond it cannot be represented exactly by every JSON consumer (IEEE-754
/// doubles), so the parser rejects them and [`int`] refuses them.
///
/// ```
/// use audit_core::canonical::{self, MAX_SAFE_INTEGER};
/// assert!(canonical::parse("9007199254740991").is_ok());
/// assert!(canonical::parse("9007199254740992").is_err());
/// assert_eq!(MAX_SAFE_INTEGER, (1 << 53) - 1);
/// ```
pub const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

/// The deepest nesting of arrays and objects that [`parse`] accepts.
///
/// The top-level container is level 1; a container at level `MAX_DEPTH + 1` is rejected
/// with [`ParseErrorKind::TooDeep`].
///
/// ```
/// use audit_core::canonical::{self, MAX_DEPTH};
/// let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
/// assert!(canonical::parse(&ok).is_ok());
/// let too_deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
/// assert!(canonical::parse(&too_deep).is_err());
/// ```
pub const MAX_DEPTH: usize = 64;

/// A JSON value restricted to what the audit format allows (no floating point).
///
/// ```
/// use audit_core::canonical::Value;
/// let v = Value::Array(vec![Value::Null, true.into(), 42.into(), "x".into()]);
/// assert_eq!(v.to_canonical_string(), r#"[null,true,42,"x"]"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// JSON `null`.
    Null,
    /// JSON `true` / `false`.
    Bool(bool),
    /// An integer. Values outside ±[`MAX_SAFE_INTEGER`] can be constructed directly but
    /// are not valid in the format: they are serialized as their decimal digits, which
    /// [`parse`] then rejects. Use [`int`] to construct a checked value.
    Int(i64),
    /// A string (any Unicode scalar values, including control characters).
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object, members always in canonical order.
    Object(Object),
}

/// A JSON object whose members are always kept sorted in JCS order (by UTF-16 code units
/// of the key) with unique keys.
///
/// ```
/// use audit_core::canonical::Object;
/// let mut o = Object::new();
/// o.insert("b", 2);
/// o.insert("a", 1);
/// assert_eq!(o.keys().collect::<Vec<_>>(), ["a", "b"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Object {
    /// Sorted by [`cmp_keys`], keys unique.
    members: Vec<(Key, Value)>,
}

/// An object member's name: borrowed when it is a `&'static str` (the names the library and
/// the macros write), owned otherwise (names read from a log or built at run time). Records
/// are built on every audited call, and most of their names are known at compile time:
/// borrowing them saves an allocation and a free per member.
///
/// ```
/// use audit_core::canonical::{Key, Object};
/// let mut o = Object::new();
/// o.insert("user", 1); // &'static str: borrowed
/// o.insert(format!("field{}", 2), 2); // String: owned
/// o.insert(Key::from("id"), 3);
/// assert_eq!(o.keys().collect::<Vec<_>>(), ["field2", "id", "user"]);
/// ```
pub type Key = std::borrow::Cow<'static, str>;

/// Compares two keys by their UTF-16 code-unit sequences (RFC 8785 §3.2.3) without
/// transcoding.
///
/// UTF-8 byte order equals code-point order; the two orders differ only where a
/// supplementary character (UTF-8 lead byte `F0..=F4`, UTF-16 high surrogate `D800..`)
/// meets a character in `U+E000..=U+FFFF` (lead byte `EE`/`EF`): in UTF-16 the former
/// sorts first.
pub(crate) fn cmp_keys(a: &str, b: &str) -> Ordering {
    cmp_key_bytes(a.as_bytes(), b.as_bytes())
}

/// [`cmp_keys`] on the UTF-8 bytes of two keys (which must be valid UTF-8).
pub(crate) fn cmp_key_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let Some(n) = a.iter().zip(b).position(|(x, y)| x != y) else {
        return a.len().cmp(&b.len());
    };
    match (a.get(n), b.get(n)) {
        // Two ASCII bytes (the usual case): code-unit order is byte order.
        (Some(&x), Some(&y)) if x < 0x80 && y < 0x80 => x.cmp(&y),
        (Some(&x), Some(&y)) => {
            // Both strings share a character boundary at the start of the differing
            // character; if that is before `n`, both characters have the same lead byte,
            // hence the same length and UTF-16 class, and byte order decides.
            if n > 0 && (x & 0xC0) == 0x80 {
                return x.cmp(&y);
            }
            fn class(lead: u8) -> u8 {
                match lead {
                    0xF0..=0xFF => 1, // U+10000.. (surrogate pair in UTF-16)
                    0xEE | 0xEF => 2, // U+E000..=U+FFFF
                    _ => 0,           // U+0000..=U+D7FF
                }
            }
            (class(x), x).cmp(&(class(y), y))
        }
        _ => a.len().cmp(&b.len()),
    }
}

impl Object {
    /// Creates an empty object.
    ///
    /// ```
    /// use audit_core::canonical::Object;
    /// assert!(Object::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates an empty object with room for `n` members.
    ///
    /// ```
    /// use audit_core::canonical::Object;
    /// let o = Object::with_capacity(8);
    /// assert_eq!(o.len(), 0);
    /// ```
    pub fn with_capacity(n: usize) -> Self {
        Self {
            members: Vec::with_capacity(n),
        }
    }

    /// Binary search in canonical order; appending in order is O(1).
    fn find(&self, key: &str) -> Result<usize, usize> {
        match self.members.last() {
            None => Err(0),
            Some((last, _)) => match cmp_keys(last, key) {
                Ordering::Less => Err(self.members.len()),
                Ordering::Equal => Ok(self.members.len() - 1),
                Ordering::Greater => self.members.binary_search_by(|(k, _)| cmp_keys(k, key)),
            },
        }
    }

    /// Inserts a member, keeping canonical order; returns the value it replaced, if any.
    ///
    /// ```
    /// use audit_core::canonical::{Object, Value};
    /// let mut o = Object::new();
    /// assert_eq!(o.insert("k", 1), None);
    /// assert_eq!(o.insert("k", "two"), Some(Value::Int(1)));
    /// assert_eq!(o.get("k"), Some(&Value::from("two")));
    /// ```
    pub fn insert(&mut self, key: impl Into<Key>, value: impl Into<Value>) -> Option<Value> {
        let key = key.into();
        let value = value.into();
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.members[i].1, value)),
            Err(i) => {
                self.members.insert(i, (key, value));
                None
            }
        }
    }

    /// Returns the value of member `key`.
    ///
    /// ```
    /// use audit_core::canonical::{Object, Value};
    /// let mut o = Object::new();
    /// o.insert("seq", 3);
    /// assert_eq!(o.get("seq"), Some(&Value::Int(3)));
    /// assert_eq!(o.get("nope"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).ok().map(|i| &self.members[i].1)
    }

    /// Returns a mutable reference to the value of member `key`.
    ///
    /// ```
    /// use audit_core::canonical::{Object, Value};
    /// let mut o = Object::new();
    /// o.insert("n", 1);
    /// if let Some(v) = o.get_mut("n") { *v = Value::Int(2); }
    /// assert_eq!(o.get("n"), Some(&Value::Int(2)));
    /// ```
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        match self.find(key) {
            Ok(i) => Some(&mut self.members[i].1),
            Err(_) => None,
        }
    }

    /// Removes member `key`, returning its value.
    ///
    /// ```
    /// use audit_core::canonical::{Object, Value};
    /// let mut o = Object::new();
    /// o.insert("mac", "00ff");
    /// assert_eq!(o.remove("mac"), Some(Value::from("00ff")));
    /// assert!(o.is_empty());
    /// ```
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        match self.find(key) {
            Ok(i) => Some(self.members.remove(i).1),
            Err(_) => None,
        }
    }

    /// Whether the object has a member `key`.
    ///
    /// ```
    /// use audit_core::canonical::Object;
    /// let mut o = Object::new();
    /// o.insert("a", true);
    /// assert!(o.contains_key("a") && !o.contains_key("b"));
    /// ```
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// The number of members.
    ///
    /// ```
    /// use audit_core::canonical::Object;
    /// let mut o = Object::new();
    /// o.insert("a", 1);
    /// o.insert("a", 2);
    /// assert_eq!(o.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the object has no members.
    ///
    /// ```
    /// use audit_core::canonical::Object;
    /// assert!(Object::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Iterates over the members in canonical order.
    ///
    /// ```
    /// use audit_core::canonical::{Object, Value};
    /// let mut o = Object::new();
    /// o.insert("z", 1);
    /// o.insert("a", 2);
    /// let v: Vec<(&str, &Value)> = o.iter().collect();
    /// assert_eq!(v, [("a", &Value::Int(2)), ("z", &Value::Int(1))]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.members.iter().map(|(k, v)| (&**k, v))
    }

    /// Iterates over the members in canonical order, values mutable (keys are not, so the
    /// order cannot be broken). Used by the redaction engine to rewrite values in place.
    ///
    /// ```
    /// use audit_core::canonical::{Object, Value};
    /// let mut o = Object::new();
    /// o.insert("a", 1);
    /// o.insert("b", 2);
    /// for (_, v) in o.iter_mut() {
    ///     *v = Value::Null;
    /// }
    /// assert_eq!(Value::from(o).to_canonical_string(), r#"{"a":null,"b":null}"#);
    /// ```
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Value)> {
        self.members.iter_mut().map(|(k, v)| (&**k, v))
    }

    /// Keeps only the members for which `keep` returns `true`, in order.
    ///
    /// ```
    /// use audit_core::canonical::{Object, Value};
    /// let mut o = Object::new();
    /// o.insert("a", 1);
    /// o.insert("b", 2);
    /// o.retain(|k, _| k != "a");
    /// assert_eq!(Value::from(o).to_canonical_string(), r#"{"b":2}"#);
    /// ```
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &Value) -> bool) {
        self.members.retain(|(k, v)| keep(k, v));
    }

    /// Iterates over the keys in canonical order (UTF-16 code-unit order).
    ///
    /// ```
    /// use audit_core::canonical::Object;
    /// let mut o = Object::new();
    /// o.insert("\u{E000}", 1);
    /// o.insert("\u{1F600}", 2);
    /// o.insert("b", 3);
    /// assert_eq!(o.keys().collect::<Vec<_>>(), ["b", "\u{1F600}", "\u{E000}"]);
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|(k, _)| &**k)
    }

    /// Get or insert an empty object at `key` (replacing a non-object value), return it.
    ///
    /// ```
    /// use audit_core::canonical::{Object, Value};
    /// let mut o = Object::new();
    /// o.object_mut("audit").insert("seq", 1);
    /// o.object_mut("audit").insert("prev", "00");
    /// assert_eq!(Value::from(o).to_canonical_string(), r#"{"audit":{"prev":"00","seq":1}}"#);
    /// ```
    pub fn object_mut<K: AsRef<str> + Into<Key>>(&mut self, key: K) -> &mut Object {
        let i = match self.find(key.as_ref()) {
            Ok(i) => i,
            Err(i) => {
                self.members
                    .insert(i, (key.into(), Value::Object(Object::new())));
                i
            }
        };
        self.object_at(i)
    }

    /// [`object_mut`](Object::object_mut) for a key borrowed for a moment: it is copied
    /// only when the member is new.
    pub(crate) fn object_mut_copied(&mut self, key: &str) -> &mut Object {
        let i = match self.find(key) {
            Ok(i) => i,
            Err(i) => {
                self.members.insert(
                    i,
                    (Key::Owned(key.to_owned()), Value::Object(Object::new())),
                );
                i
            }
        };
        self.object_at(i)
    }

    /// The member at `i` as an object, replacing a non-object value.
    fn object_at(&mut self, i: usize) -> &mut Object {
        let slot = &mut self.members[i].1;
        if !matches!(slot, Value::Object(_)) {
            *slot = Value::Object(Object::new());
        }
        match slot {
            Value::Object(o) => o,
            _ => unreachable!("slot was just made an object"),
        }
    }
}

impl IntoIterator for Object {
    type Item = (String, Value);
    type IntoIter =
        std::iter::Map<std::vec::IntoIter<(Key, Value)>, fn((Key, Value)) -> (String, Value)>;

    /// Consumes the object, yielding its members in canonical order.
    ///
    /// ```
    /// use audit_core::canonical::{Object, Value};
    /// let mut o = Object::new();
    /// o.insert("b", 1);
    /// o.insert("a", 2);
    /// let keys: Vec<String> = o.into_iter().map(|(k, _)| k).collect();
    /// assert_eq!(keys, ["a", "b"]);
    /// ```
    fn into_iter(self) -> Self::IntoIter {
        self.members.into_iter().map(|(k, v)| (k.into_owned(), v))
    }
}

impl FromIterator<(String, Value)> for Object {
    /// Builds an object from members in any order; a later duplicate key replaces an
    /// earlier one.
    ///
    /// ```
    /// use audit_core::canonical::{Object, Value};
    /// let o: Object = [("b".to_string(), Value::Int(1)), ("a".into(), 2.into()), ("b".into(), 3.into())]
    ///     .into_iter()
    ///     .collect();
    /// assert_eq!(Value::from(o).to_canonical_string(), r#"{"a":2,"b":3}"#);
    /// ```
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        let mut members: Vec<(Key, Value)> =
            iter.into_iter().map(|(k, v)| (Key::Owned(k), v)).collect();
        let sorted = members
            .windows(2)
            .all(|w| cmp_keys(&w[0].0, &w[1].0) == Ordering::Less);
        if !sorted {
            // Stable: equal keys stay in input order; keep the value of the last one.
            members.sort_by(|a, b| cmp_keys(&a.0, &b.0));
            members.dedup_by(|later, kept| {
                if later.0 == kept.0 {
                    std::mem::swap(&mut later.1, &mut kept.1);
                    true
                } else {
                    false
                }
            });
        }
        Self { members }
    }
}

impl Value {
    /// The string, if this is a [`Value::String`].
    ///
    /// ```
    /// use audit_core::canonical::Value;
    /// assert_eq!(Value::from("hi").as_str(), Some("hi"));
    /// assert_eq!(Value::Null.as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is a [`Value::Int`].
    ///
    /// ```
    /// use audit_core::canonical::Value;
    /// assert_eq!(Value::from(-5).as_i64(), Some(-5));
    /// assert_eq!(Value::from("5").as_i64(), None);
    /// ```
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The boolean, if this is a [`Value::Bool`].
    ///
    /// ```
    /// use audit_core::canonical::Value;
    /// assert_eq!(Value::from(true).as_bool(), Some(true));
    /// assert_eq!(Value::Null.as_bool(), None);
    /// ```
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The object, if this is a [`Value::Object`].
    ///
    /// ```
    /// use audit_core::canonical::{self, Value};
    /// let v = canonical::parse(r#"{"a":1}"#)?;
    /// assert_eq!(v.as_object().map(|o| o.len()), Some(1));
    /// assert!(Value::Null.as_object().is_none());
    /// # Ok::<(), canonical::ParseError>(())
    /// ```
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The object, mutably, if this is a [`Value::Object`].
    ///
    /// ```
    /// use audit_core::canonical::{self, Value};
    /// let mut v = canonical::parse(r#"{"a":1}"#)?;
    /// v.as_object_mut().unwrap().insert("b", 2);
    /// assert_eq!(v.to_canonical_string(), r#"{"a":1,"b":2}"#);
    /// # Ok::<(), canonical::ParseError>(())
    /// ```
    pub fn as_object_mut(&mut self) -> Option<&mut Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The elements, if this is a [`Value::Array`].
    ///
    /// ```
    /// use audit_core::canonical::{self, Value};
    /// let v = canonical::parse("[1,2]")?;
    /// assert_eq!(v.as_array(), Some(&[Value::Int(1), Value::Int(2)][..]));
    /// # Ok::<(), canonical::ParseError>(())
    /// ```
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Whether this is [`Value::Null`].
    ///
    /// ```
    /// use audit_core::canonical::Value;
    /// assert!(Value::from(None::<i64>).is_null());
    /// assert!(!Value::from(0).is_null());
    /// ```
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Look up a dotted path through nested objects: `v.get_path("audit.seq")`.
    /// Segments split on `.` (so keys containing a dot cannot be reached this way); every
    /// segment must name a member of an object.
    ///
    /// ```
    /// use audit_core::canonical::{self, Value};
    /// let v = canonical::parse(r#"{"audit":{"seq":9},"n":[1]}"#)?;
    /// assert_eq!(v.get_path("audit.seq"), Some(&Value::Int(9)));
    /// assert_eq!(v.get_path("audit.nope"), None);
    /// assert_eq!(v.get_path("n.0"), None); // arrays are not traversed
    /// # Ok::<(), canonical::ParseError>(())
    /// ```
    pub fn get_path(&self, dotted: &str) -> Option<&Value> {
        dotted
            .split('.')
            .try_fold(self, |cur, seg| cur.as_object()?.get(seg))
    }

    /// Serializes to the RFC 8785 canonical form.
    ///
    /// ```
    /// use audit_core::canonical::{Object, Value};
    /// let mut o = Object::new();
    /// o.insert("msg", "line\nbreak \u{1}");
    /// o.insert("id", 1);
    /// assert_eq!(Value::from(o).to_canonical_string(), r#"{"id":1,"msg":"line\nbreak \u0001"}"#);
    /// ```
    pub fn to_canonical_string(&self) -> String {
        let hint = match self {
            Value::Object(o) => 16 + 24 * o.len(),
            Value::Array(a) => 16 + 8 * a.len(),
            Value::String(s) => s.len() + 2,
            _ => 8,
        };
        let mut out = String::with_capacity(hint);
        self.write_canonical(&mut out);
        out
    }

    /// Appends the RFC 8785 canonical form to `out`.
    ///
    /// Iterative, so arbitrarily deep values built in code cannot overflow the stack here.
    ///
    /// ```
    /// use audit_core::canonical::Value;
    /// let mut line = String::from("prefix:");
    /// Value::from(vec![Value::from(1), Value::Null]).write_canonical(&mut line);
    /// assert_eq!(line, "prefix:[1,null]");
    /// ```
    pub fn write_canonical(&self, out: &mut String) {
        self.write_shallow(out, 0);
    }

    /// [`write_canonical`](Value::write_canonical) by recursion for the first
    /// [`SHALLOW_DEPTH`] levels (no stack to allocate for the small containers of a
    /// record), then by [`write_deep`](Value::write_deep).
    fn write_shallow(&self, out: &mut String, depth: usize) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(true) => out.push_str("true"),
            Value::Bool(false) => out.push_str("false"),
            Value::Int(i) => write_int(out, *i),
            Value::String(s) => write_string(out, s),
            _ if depth >= SHALLOW_DEPTH => self.write_deep(out),
            Value::Array(a) => {
                out.push('[');
                for (k, v) in a.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    v.write_shallow(out, depth + 1);
                }
                out.push(']');
            }
            Value::Object(o) => {
                out.push('{');
                for (k, (key, v)) in o.members.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    write_string(out, key);
                    out.push(':');
                    v.write_shallow(out, depth + 1);
                }
                out.push('}');
            }
        }
    }

    /// The canonical form with an explicit stack (any depth, no recursion).
    fn write_deep(&self, out: &mut String) {
        enum Frame<'a> {
            Array(std::slice::Iter<'a, Value>, bool),
            Object(std::slice::Iter<'a, (Key, Value)>, bool),
        }
        let mut stack: Vec<Frame<'_>> = Vec::new();
        let mut cur = self;
        loop {
            match cur {
                Value::Null => out.push_str("null"),
                Value::Bool(true) => out.push_str("true"),
                Value::Bool(false) => out.push_str("false"),
                Value::Int(i) => write_int(out, *i),
                Value::String(s) => write_string(out, s),
                Value::Array(a) => {
                    out.push('[');
                    stack.push(Frame::Array(a.iter(), true));
                }
                Value::Object(o) => {
                    out.push('{');
                    stack.push(Frame::Object(o.members.iter(), true));
                }
            }
            // Find the next value to write, closing finished containers.
            loop {
                let Some(top) = stack.last_mut() else {
                    return;
                };
                match top {
                    Frame::Array(it, first) => match it.next() {
                        Some(v) => {
                            if !std::mem::replace(first, false) {
                                out.push(',');
                            }
                            cur = v;
                            break;
                        }
                        None => {
                            out.push(']');
                            stack.pop();
                        }
                    },
                    Frame::Object(it, first) => match it.next() {
                        Some((k, v)) => {
                            if !std::mem::replace(first, false) {
                                out.push(',');
                            }
                            write_string(out, k);
                            out.push(':');
                            cur = v;
                            break;
                        }
                        None => {
                            out.push('}');
                            stack.pop();
                        }
                    },
                }
            }
        }
    }
}

/// Levels of nesting [`Value::write_canonical`] writes by recursion.
const SHALLOW_DEPTH: usize = 8;

/// Writes an integer in plain decimal.
pub(crate) fn write_int(out: &mut String, i: i64) {
    let mut buf = [0u8; 20];
    let mut n = i.unsigned_abs();
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        out.push('-');
    }
    out.extend(buf[pos..].iter().map(|&b| char::from(b)));
}

/// For each byte: 0 = copy literally, `b'u'` = `\u00xx`, otherwise the short escape letter.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0A] = b'n';
    t[0x0C] = b'f';
    t[0x0D] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Writes a string literal with RFC 8785 minimal escaping.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    loop {
        let i = scan_plain(bytes, start);
        // `i` indexes an ASCII byte (or the end), so both slice ends are char boundaries.
        out.push_str(&s[start..i]);
        let Some(&b) = bytes.get(i) else {
            break;
        };
        let esc = ESCAPE[usize::from(b)];
        out.push('\\');
        if esc == b'u' {
            out.push_str("u00");
            out.push(char::from(HEX_LOWER[usize::from(b >> 4)]));
            out.push(char::from(HEX_LOWER[usize::from(b & 0xF)]));
        } else {
            out.push(char::from(esc));
        }
        start = i + 1;
    }
    out.push('"');
}

impl fmt::Display for Value {
    /// Formats as the canonical string.
    ///
    /// ```
    /// use audit_core::canonical::Value;
    /// assert_eq!(format!("{}", Value::from(vec![Value::from("a")])), r#"["a"]"#);
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_canonical_string())
    }
}

impl From<bool> for Value {
    /// ```
    /// use audit_core::canonical::Value;
    /// assert_eq!(Value::from(true), Value::Bool(true));
    /// ```
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    /// Unchecked: see [`Value::Int`]; use [`int`] to reject values outside the safe range.
    ///
    /// ```
    /// use audit_core::canonical::Value;
    /// assert_eq!(Value::from(7_i64), Value::Int(7));
    /// ```
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<i32> for Value {
    /// ```
    /// use audit_core::canonical::Value;
    /// assert_eq!(Value::from(-7_i32), Value::Int(-7));
    /// ```
    fn from(i: i32) -> Self {
        Value::Int(i64::from(i))
    }
}

impl From<u32> for Value {
    /// ```
    /// use audit_core::canonical::Value;
    /// assert_eq!(Value::from(u32::MAX), Value::Int(4_294_967_295));
    /// ```
    fn from(i: u32) -> Self {
        Value::Int(i64::from(i))
    }
}

impl From<&str> for Value {
    /// ```
    /// use audit_core::canonical::Value;
    /// assert_eq!(Value::from("x"), Value::String("x".to_owned()));
    /// ```
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    /// ```
    /// use audit_core::canonical::Value;
    /// assert_eq!(Value::from(String::from("x")).as_str(), Some("x"));
    /// ```
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<Object> for Value {
    /// ```
    /// use audit_core::canonical::{Object, Value};
    /// assert_eq!(Value::from(Object::new()).to_canonical_string(), "{}");
    /// ```
    fn from(o: Object) -> Self {
        Value::Object(o)
    }
}

impl From<Vec<Value>> for Value {
    /// ```
    /// use audit_core::canonical::Value;
    /// assert_eq!(Value::from(vec![Value::Null]).to_canonical_string(), "[null]");
    /// ```
    fn from(a: Vec<Value>) -> Self {
        Value::Array(a)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` becomes [`Value::Null`].
    ///
    /// ```
    /// use audit_core::canonical::Value;
    /// assert_eq!(Value::from(Some("x")), Value::from("x"));
    /// assert_eq!(Value::from(None::<&str>), Value::Null);
    /// ```
    fn from(o: Option<T>) -> Self {
        o.map_or(Value::Null, Into::into)
    }
}

/// An integer outside ±[`MAX_SAFE_INTEGER`], refused by [`int`].
///
/// ```
/// use audit_core::canonical::{self, RangeError};
/// assert_eq!(canonical::int(1 << 53), Err(RangeError { value: 1 << 53 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("integer {value} outside ±(2^53-1)")]
pub struct RangeError {
    /// The rejected integer.
    pub value: i64,
}

/// Integers outside ±[`MAX_SAFE_INTEGER`] cannot be represented: constructor that checks.
///
/// ```
/// use audit_core::canonical::{self, Value, MAX_SAFE_INTEGER};
/// assert_eq!(canonical::int(-MAX_SAFE_INTEGER), Ok(Value::Int(-MAX_SAFE_INTEGER)));
/// assert!(canonical::int(MAX_SAFE_INTEGER + 1).is_err());
/// assert!(canonical::int(i64::MIN).is_err());
/// ```
pub fn int(i: i64) -> Result<Value, RangeError> {
    if i.unsigned_abs() <= MAX_SAFE_INTEGER as u64 {
        Ok(Value::Int(i))
    } else {
        Err(RangeError { value: i })
    }
}

/// Why and where parsing failed.
///
/// `offset` is a byte offset into the input: for token-level errors, the first byte of
/// the offending token (the number, the `\` of an escape, the opening quote of a
/// duplicate key, the unexpected character, the bracket that is one level too deep); for
/// [`ParseErrorKind::UnexpectedEnd`], the input length. When an input has several
/// problems, which one is reported is deterministic but otherwise unspecified.
///
/// ```
/// use audit_core::canonical::{self, ParseErrorKind};
/// let err = canonical::parse(r#"{"seq":1,"seq":2}"#).unwrap_err();
/// assert_eq!(err.offset, 9);
/// assert_eq!(err.kind, ParseErrorKind::DuplicateKey("seq".into()));
/// assert_eq!(err.to_string(), r#"duplicate key "seq" at byte 9"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset}")]
pub struct ParseError {
    /// Byte offset into the input.
    pub offset: usize,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

/// The kinds of [`ParseError`].
///
/// ```
/// use audit_core::canonical::{self, ParseErrorKind};
/// assert_eq!(canonical::parse("1.5").unwrap_err().kind, ParseErrorKind::Float);
/// assert_eq!(
///     ParseErrorKind::Float.to_string(),
///     "floating-point numbers are not allowed; use an integer or a string"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The input ended in the middle of a value (or was empty).
    #[error("unexpected end of input")]
    UnexpectedEnd,
    /// A character that cannot start or continue the expected token.
    #[error("unexpected character {0:?}")]
    UnexpectedChar(char),
    /// Non-whitespace after the complete top-level value.
    #[error("trailing characters after the JSON value")]
    TrailingCharacters,
    /// The same key (after unescaping) twice in one object.
    #[error("duplicate key {0:?}")]
    DuplicateKey(String),
    /// A number with a fraction or an exponent.
    #[error("floating-point numbers are not allowed; use an integer or a string")]
    Float,
    /// A number with a leading zero, or `-0`.
    #[error("non-canonical number (leading zero or negative zero)")]
    NonCanonicalNumber,
    /// An integer outside ±[`MAX_SAFE_INTEGER`].
    #[error("integer outside ±(2^53-1)")]
    IntegerOutOfRange,
    /// A `\u` escape of a surrogate that is not part of a valid pair.
    #[error("lone UTF-16 surrogate in \\u escape")]
    LoneSurrogate,
    /// A backslash followed by something other than a JSON escape.
    #[error("invalid escape sequence")]
    InvalidEscape,
    /// A raw U+0000..=U+001F inside a string (must be escaped).
    #[error("unescaped control character in string")]
    ControlCharacter,
    /// The input bytes are not UTF-8 ([`parse_bytes`] only).
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// Arrays/objects nested deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {max} levels", max = MAX_DEPTH)]
    TooDeep,
    /// Valid JSON, but not byte-for-byte canonical ([`parse_canonical`] only).
    #[error("not in canonical form (RFC 8785)")]
    NotCanonical,
}

/// Parses one JSON value: strict RFC 8259 plus the audit-format rules (see the
/// [module docs](self)). Insignificant whitespace (space, tab, LF, CR) is allowed, object
/// members may come in any order, and the top-level value may be of any type.
///
/// ```
/// use audit_core::canonical::{self, ParseErrorKind, Value};
/// let v = canonical::parse(" { \"b\" : [true, null], \"a\" : \"\\u00e9\" } ")?;
/// assert_eq!(v.to_canonical_string(), r#"{"a":"é","b":[true,null]}"#);
/// assert_eq!(canonical::parse("01").unwrap_err().kind, ParseErrorKind::NonCanonicalNumber);
/// # Ok::<(), canonical::ParseError>(())
/// ```
pub fn parse(input: &str) -> Result<Value, ParseError> {
    let mut p = Parser {
        src: input,
        bytes: input.as_bytes(),
        pos: 0,
    };
    let mut value = Value::Null;
    p.parse_into(0, &mut value).map_err(|e| *e)?;
    p.skip_ws();
    if p.pos < p.bytes.len() {
        return Err(*p.err(p.pos, ParseErrorKind::TrailingCharacters));
    }
    Ok(value)
}

/// Like [`parse`], but from bytes: validates UTF-8 first ([`ParseErrorKind::InvalidUtf8`]
/// at the offset of the first invalid byte).
///
/// ```
/// use audit_core::canonical::{self, ParseErrorKind};
/// assert!(canonical::parse_bytes(b"[1]").is_ok());
/// let err = canonical::parse_bytes(b"[\"\xff\"]").unwrap_err();
/// assert_eq!((err.offset, err.kind), (2, ParseErrorKind::InvalidUtf8));
/// ```
pub fn parse_bytes(input: &[u8]) -> Result<Value, ParseError> {
    match std::str::from_utf8(input) {
        Ok(s) => parse(s),
        Err(e) => Err(ParseError {
            offset: e.valid_up_to(),
            kind: ParseErrorKind::InvalidUtf8,
        }),
    }
}

/// Parse and require that the input is already byte-for-byte canonical (returns
/// [`ParseErrorKind::NotCanonical`] with the first differing offset otherwise).
///
/// A trailing newline is not canonical: strip line terminators first.
///
/// ```
/// use audit_core::canonical::{self, ParseErrorKind};
/// assert!(canonical::parse_canonical(r#"{"a":1,"b":2}"#).is_ok());
/// let err = canonical::parse_canonical(r#"{"b":2,"a":1}"#).unwrap_err();
/// assert_eq!((err.offset, err.kind), (2, ParseErrorKind::NotCanonical));
/// ```
pub fn parse_canonical(input: &str) -> Result<Value, ParseError> {
    let value = parse(input)?;
    let mut canonical = String::with_capacity(input.len());
    value.write_canonical(&mut canonical);
    if canonical == input {
        return Ok(value);
    }
    let offset = canonical
        .bytes()
        .zip(input.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    Err(ParseError {
        offset,
        kind: ParseErrorKind::NotCanonical,
    })
}

/// Parses `input` (see [`parse`]) and returns its canonical form.
///
/// ```
/// use audit_core::canonical;
/// assert_eq!(canonical::canonicalize("{ \"b\": 1, \"a\": [ 2 ] }\n")?, r#"{"a":[2],"b":1}"#);
/// # Ok::<(), canonical::ParseError>(())
/// ```
pub fn canonicalize(input: &str) -> Result<String, ParseError> {
    parse(input).map(|v| v.to_canonical_string())
}

// ---------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------

/// Bytes that end the fast scan of a string body: `"`, `\` and controls.
static STRING_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Above this many members, out-of-order keys are sorted once at the end instead of
/// being inserted in place (keeps adversarial inputs O(n log n)).
const EAGER_INSERT_LIMIT: usize = 32;

/// The position of the first byte at or after `p` that is `"`, `\\` or a control
/// character (the bytes a string body cannot contain literally), or `b.len()`.
#[inline]
pub(crate) fn scan_plain(b: &[u8], p: usize) -> usize {
    scan_string_bytes::<false>(b, p)
}

/// As [`scan_plain`], and with `NON_ASCII` also stopping at any byte ≥ 0x80.
///
/// Scans eight bytes at a time (SWAR): for each lane, `(x - 0x01..) & !x & 0x80..` flags
/// zero bytes and `(x - 0x20..) & !x & 0x80..` flags bytes below 0x20 (and `x & 0x80..`
/// flags non-ASCII lanes); borrows can only cause false flags above a true one, so the
/// lowest flag is exact.
#[inline]
pub(crate) fn scan_string_bytes<const NON_ASCII: bool>(b: &[u8], mut p: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(p..p + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let x = u64::from_le_bytes(chunk);
        let quote = x ^ (LO * u64::from(b'"'));
        let backslash = x ^ (LO * u64::from(b'\\'));
        let high = if NON_ASCII { x } else { 0 };
        let found = ((quote.wrapping_sub(LO) & !quote)
            | (backslash.wrapping_sub(LO) & !backslash)
            | (x.wrapping_sub(LO * 0x20) & !x)
            | high)
            & HI;
        if found != 0 {
            return p + (found.trailing_zeros() / 8) as usize;
        }
        p += 8;
    }
    while p < b.len() && !STRING_SPECIAL[usize::from(b[p])] && !(NON_ASCII && b[p] >= 0x80) {
        p += 1;
    }
    p
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

/// Boxed so that `Result<Value, _>` stays as small as `Value` (the error path is cold).
type PResult<T> = Result<T, Box<ParseError>>;

impl<'a> Parser<'a> {
    #[cold]
    #[inline(never)]
    fn err(&self, offset: usize, kind: ParseErrorKind) -> Box<ParseError> {
        Box::new(ParseError { offset, kind })
    }

    /// The error for whatever is at `at`: the character found there, or end of input.
    #[cold]
    #[inline(never)]
    fn unexpected(&self, at: usize) -> Box<ParseError> {
        match self.src.get(at..).and_then(|s| s.chars().next()) {
            Some(c) => self.err(at, ParseErrorKind::UnexpectedChar(c)),
            None => self.err(self.bytes.len(), ParseErrorKind::UnexpectedEnd),
        }
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Parses a value into `slot` (which holds `Null`); `depth` is the number of
    /// containers enclosing it.
    ///
    /// Writing in place rather than returning `Result<Value, _>` through every level
    /// avoids copying 32-byte enums around, which measurably dominated parse time.
    fn parse_into(&mut self, depth: usize, slot: &mut Value) -> PResult<()> {
        self.skip_ws();
        *slot = match self.bytes.get(self.pos) {
            None => return Err(self.err(self.pos, ParseErrorKind::UnexpectedEnd)),
            Some(b'"') => Value::String(self.parse_string()?),
            Some(b'{') => Value::Object(Object {
                members: self.parse_object(depth)?,
            }),
            Some(b'[') => Value::Array(self.parse_array(depth)?),
            Some(b'-' | b'0'..=b'9') => Value::Int(self.parse_number()?),
            Some(b't') => self.parse_literal(b"true", Value::Bool(true))?,
            Some(b'f') => self.parse_literal(b"false", Value::Bool(false))?,
            Some(b'n') => self.parse_literal(b"null", Value::Null)?,
            Some(_) => return Err(self.unexpected(self.pos)),
        };
        Ok(())
    }

    fn parse_literal(&mut self, word: &[u8], value: Value) -> PResult<Value> {
        for (i, &expected) in word.iter().enumerate() {
            if self.bytes.get(self.pos + i) != Some(&expected) {
                return Err(self.unexpected(self.pos + i));
            }
        }
        self.pos += word.len();
        Ok(value)
    }

    fn parse_number(&mut self) -> PResult<i64> {
        let b = self.bytes;
        let start = self.pos;
        let mut p = start;
        let negative = b.get(p) == Some(&b'-');
        if negative {
            p += 1;
        }
        let int_start = p;
        while let Some(b'0'..=b'9') = b.get(p) {
            p += 1;
        }
        if p == int_start {
            return Err(self.unexpected(p));
        }
        let int_end = p;
        let mut float = false;
        if b.get(p) == Some(&b'.') {
            p = self.digits_after(p + 1)?;
            float = true;
        }
        if let Some(b'e' | b'E') = b.get(p) {
            p += 1;
            if let Some(b'+' | b'-') = b.get(p) {
                p += 1;
            }
            p = self.digits_after(p)?;
            float = true;
        }
        if float {
            return Err(self.err(start, ParseErrorKind::Float));
        }
        let digits = &b[int_start..int_end];
        if (digits.len() > 1 && digits[0] == b'0') || (negative && digits == b"0") {
            return Err(self.err(start, ParseErrorKind::NonCanonicalNumber));
        }
        // 2^53 - 1 has 16 digits; 16 digits cannot overflow u64.
        if digits.len() > 16 {
            return Err(self.err(start, ParseErrorKind::IntegerOutOfRange));
        }
        let magnitude = digits
            .iter()
            .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        if magnitude > MAX_SAFE_INTEGER as u64 {
            return Err(self.err(start, ParseErrorKind::IntegerOutOfRange));
        }
        self.pos = p;
        let magnitude = magnitude as i64;
        Ok(if negative { -magnitude } else { magnitude })
    }

    /// Requires at least one digit at `p`; returns the position after the digit run.
    fn digits_after(&self, mut p: usize) -> PResult<usize> {
        let first = p;
        while let Some(b'0'..=b'9') = self.bytes.get(p) {
            p += 1;
        }
        if p == first {
            return Err(self.unexpected(p));
        }
        Ok(p)
    }

    /// Parses a string literal; `self.pos` is at the opening quote.
    fn parse_string(&mut self) -> PResult<String> {
        let b = self.bytes;
        let start = self.pos + 1;
        let p = scan_plain(b, start);
        match b.get(p) {
            // Fast path: no escapes. `p` is at an ASCII byte, so a char boundary.
            Some(b'"') => {
                self.pos = p + 1;
                Ok(self.src[start..p].to_owned())
            }
            None => Err(self.err(b.len(), ParseErrorKind::UnexpectedEnd)),
            Some(_) => {
                let mut out = String::with_capacity(p - start + 16);
                out.push_str(&self.src[start..p]);
                self.parse_string_slow(p, out)
            }
        }
    }

    /// Continues a string at `p` (at a special byte) after a prefix already copied.
    fn parse_string_slow(&mut self, mut p: usize, mut out: String) -> PResult<String> {
        let b = self.bytes;
        loop {
            match b.get(p) {
                None => return Err(self.err(b.len(), ParseErrorKind::UnexpectedEnd)),
                Some(b'"') => {
                    self.pos = p + 1;
                    return Ok(out);
                }
                Some(b'\\') => p = self.parse_escape(p, &mut out)?,
                Some(&c) if c < 0x20 => {
                    return Err(self.err(p, ParseErrorKind::ControlCharacter));
                }
                Some(_) => {
                    let run = p;
                    p = scan_plain(b, p);
                    out.push_str(&self.src[run..p]);
                }
            }
        }
    }

    /// Decodes the escape whose backslash is at `esc`; returns the position after it.
    fn parse_escape(&self, esc: usize, out: &mut String) -> PResult<usize> {
        let c = match self.bytes.get(esc + 1) {
            None => return Err(self.err(self.bytes.len(), ParseErrorKind::UnexpectedEnd)),
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => return self.parse_unicode_escape(esc, out),
            Some(_) => return Err(self.err(esc, ParseErrorKind::InvalidEscape)),
        };
        out.push(c);
        Ok(esc + 2)
    }

    fn parse_unicode_escape(&self, esc: usize, out: &mut String) -> PResult<usize> {
        let lone = || self.err(esc, ParseErrorKind::LoneSurrogate);
        let unit = self.hex4(esc)?;
        let mut end = esc + 6;
        let code = match unit {
            0xD800..=0xDBFF => {
                if self.bytes.get(end) != Some(&b'\\') || self.bytes.get(end + 1) != Some(&b'u') {
                    return Err(lone());
                }
                let low = self.hex4(end)?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(lone());
                }
                end += 6;
                0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(lone()),
            _ => unit,
        };
        out.push(char::from_u32(code).ok_or_else(lone)?);
        Ok(end)
    }

    /// The four hex digits of the `\uXXXX` escape whose backslash is at `esc`.
    fn hex4(&self, esc: usize) -> PResult<u32> {
        (esc + 2..esc + 6).try_fold(0u32, |acc, at| {
            let d = match self.bytes.get(at) {
                Some(&h @ b'0'..=b'9') => h - b'0',
                Some(&h @ b'a'..=b'f') => h - b'a' + 10,
                Some(&h @ b'A'..=b'F') => h - b'A' + 10,
                Some(_) => return Err(self.err(esc, ParseErrorKind::InvalidEscape)),
                None => return Err(self.err(self.bytes.len(), ParseErrorKind::UnexpectedEnd)),
            };
            Ok(acc << 4 | u32::from(d))
        })
    }

    fn enter(&self, depth: usize) -> PResult<()> {
        if depth >= MAX_DEPTH {
            Err(self.err(self.pos, ParseErrorKind::TooDeep))
        } else {
            Ok(())
        }
    }

    /// Parses an array; `self.pos` is at `[`.
    fn parse_array(&mut self, depth: usize) -> PResult<Vec<Value>> {
        self.enter(depth)?;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            let i = items.len();
            items.push(Value::Null);
            self.parse_into(depth + 1, &mut items[i])?;
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(items);
                }
                _ => return Err(self.unexpected(self.pos)),
            }
        }
    }

    /// Parses an object's members into canonical order; `self.pos` is at `{`.
    fn parse_object(&mut self, depth: usize) -> PResult<Vec<(Key, Value)>> {
        self.enter(depth)?;
        self.pos += 1;
        let mut members: Vec<(Key, Value)> = Vec::new();
        // Input offsets of the keys, kept only once keys arrive out of order in a large
        // object (entries for the sorted prefix are 0: they are never the duplicate).
        let mut offsets: Option<Vec<usize>> = None;
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(members);
        }
        members.reserve(8);
        loop {
            self.skip_ws();
            let key_at = self.pos;
            if self.bytes.get(key_at) != Some(&b'"') {
                return Err(self.unexpected(key_at));
            }
            let key = self.parse_string()?;
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b':') {
                return Err(self.unexpected(self.pos));
            }
            self.pos += 1;

            // Place the member (checking for a duplicate key) before parsing its value,
            // so that the value is parsed straight into its final slot.
            let slot = match offsets.as_mut() {
                Some(offsets) => {
                    offsets.push(key_at);
                    members.len()
                }
                None => {
                    let order = members
                        .last()
                        .map_or(Ordering::Greater, |(last, _)| cmp_keys(&key, last));
                    match order {
                        Ordering::Greater => members.len(),
                        Ordering::Equal => {
                            return Err(self.err(key_at, ParseErrorKind::DuplicateKey(key)));
                        }
                        Ordering::Less if members.len() < EAGER_INSERT_LIMIT => {
                            match members.binary_search_by(|(k, _)| cmp_keys(k, &key)) {
                                Ok(_) => {
                                    let kind = ParseErrorKind::DuplicateKey(key);
                                    return Err(self.err(key_at, kind));
                                }
                                Err(i) => i,
                            }
                        }
                        Ordering::Less => {
                            let mut o = vec![0; members.len()];
                            o.push(key_at);
                            offsets = Some(o);
                            members.len()
                        }
                    }
                }
            };
            members.insert(slot, (Key::Owned(key), Value::Null));
            self.parse_into(depth + 1, &mut members[slot].1)?;

            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.unexpected(self.pos)),
            }
        }
        match offsets {
            None => Ok(members),
            Some(offsets) => sort_members(members, offsets),
        }
    }
}

/// Sorts members that arrived out of order, reporting the first (in input order) key
/// that repeats an earlier one.
fn sort_members(members: Vec<(Key, Value)>, offsets: Vec<usize>) -> PResult<Vec<(Key, Value)>> {
    let mut all: Vec<((Key, Value), usize)> = members.into_iter().zip(offsets).collect();
    // Stable, so within a run of equal keys input order is kept.
    all.sort_by(|a, b| cmp_keys(&a.0 .0, &b.0 .0));
    let duplicate = all
        .windows(2)
        .filter(|w| w[0].0 .0 == w[1].0 .0)
        .min_by_key(|w| w[1].1)
        .map(|w| (w[1].1, w[1].0 .0.clone().into_owned()));
    if let Some((offset, key)) = duplicate {
        return Err(Box::new(ParseError {
            offset,
            kind: ParseErrorKind::DuplicateKey(key),
        }));
    }
    Ok(all.into_iter().map(|(m, _)| m).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recursive writer of the first levels and the stack-based one agree, at every
    /// depth around the switch.
    #[test]
    fn shallow_and_deep_writers_agree() {
        for depth in 0..(2 * SHALLOW_DEPTH + 3) {
            let mut v = Value::from(vec![
                Value::Null,
                Value::Bool(true),
                Value::from(-42),
                Value::from("a\"\u{1}é"),
                Value::from(Object::new()),
                Value::from(Vec::<Value>::new()),
            ]);
            for level in 0..depth {
                let mut o = Object::new();
                o.insert("z", level as i64);
                o.insert("\u{e000}", vec![Value::from("x"), Value::Null]);
                o.insert("\u{1F600}", Value::Bool(false));
                o.insert("a", v);
                v = if level % 3 == 2 {
                    Value::from(vec![Value::from(o), Value::Null])
                } else {
                    Value::from(o)
                };
            }
            let mut deep = String::new();
            v.write_deep(&mut deep);
            assert_eq!(v.to_canonical_string(), deep, "depth {depth}");
            assert_eq!(parse(&deep).unwrap(), v);
        }
    }

    fn err(input: &str) -> (usize, ParseErrorKind) {
        let e = parse(input).expect_err(input);
        (e.offset, e.kind)
    }

    fn canon(input: &str) -> String {
        canonicalize(input).unwrap_or_else(|e| panic!("{input:?}: {e}"))
    }

    #[test]
    fn unexpected_end() {
        use ParseErrorKind::UnexpectedEnd as E;
        assert_eq!(err(""), (0, E));
        assert_eq!(err("   "), (3, E));
        assert_eq!(err("[1,"), (3, E));
        assert_eq!(err("[1"), (2, E));
        assert_eq!(err("{\"a\""), (4, E));
        assert_eq!(err("{\"a\":"), (5, E));
        assert_eq!(err("\"abc"), (4, E));
        assert_eq!(err("\"ab\\"), (4, E));
        assert_eq!(err("\"\\u12"), (5, E));
        assert_eq!(err("nul"), (3, E));
        assert_eq!(err("-"), (1, E));
        assert_eq!(err("1e"), (2, E));
    }

    #[test]
    fn unexpected_char() {
        use ParseErrorKind::UnexpectedChar as C;
        assert_eq!(err("x"), (0, C('x')));
        assert_eq!(err("[1,]"), (3, C(']')));
        assert_eq!(err("[1 2]"), (3, C('2')));
        assert_eq!(err("{a:1}"), (1, C('a')));
        assert_eq!(err("{\"a\" 1}"), (5, C('1')));
        assert_eq!(err("{\"a\":1,}"), (7, C('}')));
        assert_eq!(err("{\"a\":1]"), (6, C(']')));
        assert_eq!(err("nulx"), (3, C('x')));
        assert_eq!(err("-a"), (1, C('a')));
        assert_eq!(err("1.e5"), (2, C('e')));
        assert_eq!(err("é"), (0, C('é')));
        // Only space, tab, LF and CR are whitespace.
        assert_eq!(err("[\u{a0}1]"), (1, C('\u{a0}')));
        assert_eq!(err("\u{c}1"), (0, C('\u{c}')));
        assert_eq!(err("\u{feff}1"), (0, C('\u{feff}')));
        assert_eq!(err("'a'"), (0, C('\'')));
        assert_eq!(err("+1"), (0, C('+')));
    }

    #[test]
    fn trailing_characters() {
        use ParseErrorKind::TrailingCharacters as T;
        assert_eq!(err("1 2"), (2, T));
        assert_eq!(err("{} x"), (3, T));
        assert_eq!(err("truex"), (4, T));
        assert_eq!(err("[]]"), (2, T));
        assert_eq!(err("\"a\"\"b\""), (3, T));
        assert_eq!(parse(" \t\r\n1 \t\r\n"), Ok(Value::Int(1)));
    }

    #[test]
    fn duplicate_key() {
        use ParseErrorKind::DuplicateKey as D;
        assert_eq!(err(r#"{"a":1,"b":2,"a":3}"#), (13, D("a".into())));
        assert_eq!(err(r#"{"b":1,"a":2,"b":3}"#), (13, D("b".into())));
        // Detected after unescaping.
        assert_eq!(err(r#"{"a":1,"\u0061":2}"#), (7, D("a".into())));
        // Nested objects are independent; the same key at two levels is fine.
        assert!(parse(r#"{"a":{"a":1}}"#).is_ok());
        assert_eq!(err(r#"{"x":{"a":1, "a":2}}"#), (13, D("a".into())));
    }

    #[test]
    fn duplicate_key_in_large_unsorted_object() {
        // More than EAGER_INSERT_LIMIT keys in reverse order, then two duplicates: the
        // first duplicate in input order is reported.
        let mut s = String::from("{");
        for i in (0..100).rev() {
            s.push_str(&format!("\"k{i:03}\":{i},"));
        }
        let first_dup = s.len();
        s.push_str("\"k050\":0,\"k007\":0}");
        assert_eq!(
            err(&s),
            (first_dup, ParseErrorKind::DuplicateKey("k050".into()))
        );

        // Without the duplicates it parses and sorts.
        let ok = s[..first_dup - 1].to_string() + "}";
        let v = parse(&ok).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(keys.len(), 100);
        assert_eq!(v.get_path("k042"), Some(&Value::Int(42)));
    }

    #[test]
    fn float() {
        use ParseErrorKind::Float as F;
        assert_eq!(err("1.0"), (0, F));
        assert_eq!(err("1e2"), (0, F));
        assert_eq!(err("[0, 1E2]"), (4, F));
        assert_eq!(err("-1.5e-3"), (0, F));
        assert_eq!(err("1e400"), (0, F));
        assert_eq!(err("0.5"), (0, F));
        assert_eq!(err("-0.0"), (0, F));
        assert_eq!(err("{\"x\":2E+1}"), (5, F));
    }

    #[test]
    fn non_canonical_number() {
        use ParseErrorKind::NonCanonicalNumber as N;
        assert_eq!(err("01"), (0, N));
        assert_eq!(err("-0"), (0, N));
        assert_eq!(err("[-00]"), (1, N));
        assert_eq!(err("00"), (0, N));
        assert_eq!(err("-012"), (0, N));
        assert_eq!(parse("0"), Ok(Value::Int(0)));
        assert_eq!(parse("10"), Ok(Value::Int(10)));
    }

    #[test]
    fn integer_out_of_range() {
        use ParseErrorKind::IntegerOutOfRange as R;
        assert_eq!(err("9007199254740992"), (0, R));
        assert_eq!(err("[-9007199254740992]"), (1, R));
        assert_eq!(err("99999999999999999999999999999999999999"), (0, R));
        assert_eq!(err("18446744073709551616"), (0, R));
        assert_eq!(parse("9007199254740991"), Ok(Value::Int(MAX_SAFE_INTEGER)));
        assert_eq!(
            parse("-9007199254740991"),
            Ok(Value::Int(-MAX_SAFE_INTEGER))
        );
    }

    #[test]
    fn lone_surrogate() {
        use ParseErrorKind::LoneSurrogate as L;
        assert_eq!(err(r#""\ud800""#), (1, L));
        assert_eq!(err(r#""a\udc00""#), (2, L));
        assert_eq!(err(r#""\uDBFFx""#), (1, L));
        assert_eq!(err(r#""\ud800\u0041""#), (1, L));
        assert_eq!(err(r#""\ud800\ud800""#), (1, L));
        assert_eq!(err(r#""\ude00\ud83d""#), (1, L));
        assert_eq!(err(r#""\ud800\n""#), (1, L));
    }

    #[test]
    fn invalid_escape() {
        use ParseErrorKind::InvalidEscape as I;
        assert_eq!(err(r#""\x""#), (1, I));
        assert_eq!(err(r#""ab\'""#), (3, I));
        assert_eq!(err(r#""\U0041""#), (1, I));
        assert_eq!(err(r#""\u12g4""#), (1, I));
        assert_eq!(err(r#""\u12""#), (1, I));
        assert_eq!(err("\"\\é\""), (1, I));
        // The second half of a pair with bad hex points at its own backslash.
        assert_eq!(err(r#""\ud83d\uzzzz""#), (7, I));
    }

    #[test]
    fn control_character() {
        use ParseErrorKind::ControlCharacter as K;
        assert_eq!(err("\"a\u{1}b\""), (2, K));
        assert_eq!(err("\"\t\""), (1, K));
        assert_eq!(err("\"\n\""), (1, K));
        assert_eq!(err("\"\u{0}\""), (1, K));
        assert_eq!(err("\"\\n\u{1f}\""), (3, K));
        assert_eq!(err("{\"k\u{1f}\":1}"), (3, K));
        // DEL and U+2028 are not control characters in JSON.
        assert_eq!(
            parse("\"\u{7f}\u{2028}\""),
            Ok(Value::from("\u{7f}\u{2028}"))
        );
    }

    #[test]
    fn invalid_utf8() {
        let e = parse_bytes(b"{\"a\":\"\xc3\x28\"}").unwrap_err();
        assert_eq!((e.offset, e.kind), (6, ParseErrorKind::InvalidUtf8));
        let e = parse_bytes(b"\xff").unwrap_err();
        assert_eq!((e.offset, e.kind), (0, ParseErrorKind::InvalidUtf8));
        // Surrogates encoded in UTF-8 (CESU) are invalid UTF-8.
        let e = parse_bytes(b"\"\xed\xa0\x80\"").unwrap_err();
        assert_eq!((e.offset, e.kind), (1, ParseErrorKind::InvalidUtf8));
        assert_eq!(parse_bytes("\"é\"".as_bytes()), Ok(Value::from("é")));
        // UTF-8 errors take precedence over syntax errors.
        let e = parse_bytes(b"]\xff").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::InvalidUtf8);
    }

    #[test]
    fn too_deep() {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(err(&deep), (MAX_DEPTH, ParseErrorKind::TooDeep));
        let objects = "{\"a\":".repeat(MAX_DEPTH) + "1" + &"}".repeat(MAX_DEPTH);
        assert!(parse(&objects).is_ok());
        let objects = "{\"a\":".repeat(MAX_DEPTH) + "{}" + &"}".repeat(MAX_DEPTH);
        assert_eq!(err(&objects), (5 * MAX_DEPTH, ParseErrorKind::TooDeep));
        // Far too deep, unterminated: bounded, no stack overflow.
        let huge = "[".repeat(1_000_000);
        assert_eq!(err(&huge), (MAX_DEPTH, ParseErrorKind::TooDeep));
    }

    #[test]
    fn not_canonical() {
        let pretty = "{\n  \"a\": 1,\n  \"b\": [true, null]\n}";
        let e = parse_canonical(pretty).unwrap_err();
        assert_eq!(e.to_string(), "not in canonical form (RFC 8785) at byte 1");
        assert_eq!((e.offset, e.kind), (1, ParseErrorKind::NotCanonical));
        let cases = [
            (r#"{"a":1,"b":[true, null]}"#, 17),
            (r#"{"b":1,"a":2}"#, 2),
            (r#""\u0041""#, 1),
            (r#""\/""#, 1),
            (r#""\u001F""#, 6),
            ("[1]\n", 3),
            (" 1", 0),
        ];
        for (input, offset) in cases {
            let e = parse_canonical(input).unwrap_err();
            assert_eq!(
                (e.offset, e.kind),
                (offset, ParseErrorKind::NotCanonical),
                "{input:?}"
            );
        }
        // Errors of the plain parser come first.
        assert_eq!(
            parse_canonical("[1,]").unwrap_err().kind,
            ParseErrorKind::UnexpectedChar(']')
        );
        let canonical = r#"{"a":1,"b":[true,null],"c":"\u001f\n"}"#;
        assert_eq!(
            parse_canonical(canonical).unwrap().to_canonical_string(),
            canonical
        );
    }

    #[test]
    fn error_messages() {
        let msg = |k: ParseErrorKind| k.to_string();
        assert_eq!(
            msg(ParseErrorKind::DuplicateKey("seq".into())),
            "duplicate key \"seq\""
        );
        assert_eq!(
            msg(ParseErrorKind::IntegerOutOfRange),
            "integer outside ±(2^53-1)"
        );
        assert_eq!(
            msg(ParseErrorKind::LoneSurrogate),
            "lone UTF-16 surrogate in \\u escape"
        );
        assert_eq!(
            msg(ParseErrorKind::TooDeep),
            "nesting deeper than 64 levels"
        );
        assert_eq!(
            msg(ParseErrorKind::UnexpectedChar('\u{1}')),
            "unexpected character '\\u{1}'"
        );
        assert_eq!(
            parse("1.5").unwrap_err().to_string(),
            "floating-point numbers are not allowed; use an integer or a string at byte 0"
        );
        assert_eq!(
            int(1 << 60).unwrap_err().to_string(),
            format!("integer {} outside ±(2^53-1)", 1i64 << 60)
        );
    }

    #[test]
    fn jcs_key_order() {
        let mut o = Object::new();
        for k in [
            "\u{E000}",
            "b",
            "\u{1F600}",
            "a",
            "",
            "ab",
            "\u{FFFF}",
            "\u{D7FF}",
            "\u{10FFFF}",
            "\u{7F}",
            "\u{80}",
        ] {
            o.insert(k, k.chars().count() as i64);
        }
        let keys: Vec<&str> = o.keys().collect();
        assert_eq!(
            keys,
            [
                "",
                "a",
                "ab",
                "b",
                "\u{7F}",
                "\u{80}",
                "\u{D7FF}",
                "\u{1F600}",
                "\u{10FFFF}",
                "\u{E000}",
                "\u{FFFF}"
            ]
        );
        // Cross-check with a transcoding reference.
        for w in keys.windows(2) {
            assert!(w[0].encode_utf16().lt(w[1].encode_utf16()), "{w:?}");
        }
        assert_eq!(
            Value::from(o.clone()).to_canonical_string(),
            "{\"\":0,\"a\":1,\"ab\":2,\"b\":1,\"\u{7F}\":1,\"\u{80}\":1,\"\u{D7FF}\":1,\"\u{1F600}\":1,\"\u{10FFFF}\":1,\"\u{E000}\":1,\"\u{FFFF}\":1}"
        );
        // Parsing sorts the same way and finds members again.
        let v = parse(&Value::from(o.clone()).to_canonical_string()).unwrap();
        assert_eq!(v.as_object(), Some(&o));
        assert_eq!(o.get("\u{1F600}"), Some(&Value::Int(1)));
        assert_eq!(o.get("\u{E000}"), Some(&Value::Int(1)));
    }

    #[test]
    fn cmp_keys_matches_utf16_reference() {
        let samples = [
            "",
            "a",
            "b",
            "aa",
            "\u{0}",
            "\u{7F}",
            "\u{80}",
            "\u{7FF}",
            "\u{800}",
            "\u{D7FF}",
            "\u{E000}",
            "\u{FFFF}",
            "\u{10000}",
            "\u{1F600}",
            "\u{1F601}",
            "\u{10FFFF}",
            "a\u{E000}",
            "a\u{1F600}",
            "\u{1F600}a",
            "\u{E000}a",
            "é",
            "éa",
            "\u{20AC}",
            "\u{FB33}",
        ];
        for a in samples {
            for b in samples {
                assert_eq!(
                    cmp_keys(a, b),
                    a.encode_utf16().cmp(b.encode_utf16()),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }

    #[test]
    fn rfc8785_sorting_example() {
        // RFC 8785 §3.2.3.
        let input = r#"{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let v = parse(input).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["\r", "1", "\u{80}", "ö", "€", "😀", "\u{FB33}"]);
        assert!(canon(input).starts_with(r#"{"\r":"Carriage Return","1":"One","#));
    }

    #[test]
    fn rfc8785_strings_and_integers() {
        // RFC 8785 §3.2.2.2 string example.
        assert_eq!(
            canon(r#""\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/""#),
            "\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\""
        );
        for (input, out) in [
            ("0", "0"),
            ("-1", "-1"),
            ("  42 ", "42"),
            ("9007199254740991", "9007199254740991"),
            ("-9007199254740991", "-9007199254740991"),
            ("[ 1 , -2 ]", "[1,-2]"),
            ("{ }", "{}"),
            ("[ ]", "[]"),
            ("\"\\u00e9\"", "\"é\""),
            ("\"\\u2028\\u007f\"", "\"\u{2028}\u{7f}\""),
        ] {
            assert_eq!(canon(input), out);
        }
        assert_eq!(
            Value::Int(i64::MIN).to_canonical_string(),
            "-9223372036854775808"
        );
        assert_eq!(
            Value::Int(i64::MAX).to_canonical_string(),
            "9223372036854775807"
        );
    }

    #[test]
    fn escapes_every_control_character() {
        for c in 0u8..0x20 {
            let expected = match c {
                0x08 => "\\b".to_owned(),
                0x09 => "\\t".to_owned(),
                0x0A => "\\n".to_owned(),
                0x0C => "\\f".to_owned(),
                0x0D => "\\r".to_owned(),
                _ => format!("\\u{c:04x}"),
            };
            let s = Value::from(format!("a{}b", char::from(c))).to_canonical_string();
            assert_eq!(s, format!("\"a{expected}b\""));
            assert!(!s.bytes().any(|b| b < 0x20));
            assert_eq!(
                parse_canonical(&s),
                Ok(Value::from(format!("a{}b", char::from(c))))
            );
            // Uppercase hex in the input is accepted but not canonical.
            let upper = format!("\"a\\u{c:04X}b\"");
            assert_eq!(canon(&upper), s);
        }
        assert_eq!(Value::from("\"\\/").to_canonical_string(), r#""\"\\/""#);
        assert_eq!(
            Value::from("\u{7f}é\u{2028}😀").to_canonical_string(),
            "\"\u{7f}é\u{2028}😀\""
        );
        assert_eq!(Value::from("\u{1f}").to_canonical_string(), "\"\\u001f\"");
    }

    #[test]
    fn surrogate_pairs() {
        assert_eq!(parse(r#""\ud83d\ude00""#), Ok(Value::from("😀")));
        assert_eq!(parse(r#""\uD83D\uDE00""#), Ok(Value::from("😀")));
        assert_eq!(parse(r#""x\ud800\udc00y""#), Ok(Value::from("x\u{10000}y")));
        assert_eq!(parse(r#""\udbff\udfff""#), Ok(Value::from("\u{10FFFF}")));
        assert_eq!(canon(r#""\ud83d\ude00""#), "\"😀\"");
        assert_eq!(parse(r#""\u0000""#), Ok(Value::from("\u{0}")));
    }

    #[test]
    fn scan_plain_matches_naive_scan() {
        let naive = |b: &[u8], p: usize| {
            (p..b.len())
                .find(|&i| STRING_SPECIAL[usize::from(b[i])])
                .unwrap_or(b.len())
        };
        // Every special byte at every lane position, surrounded by bytes that are close
        // to the SWAR thresholds (0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xff).
        let fillers = [
            b'a', 0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xff, 0xa2, 0xdc,
        ];
        for special in (0u8..0x20).chain([b'"', b'\\']) {
            for filler in fillers {
                for len in 0..20 {
                    for at in 0..=len {
                        let mut buf = vec![filler; len];
                        if at < len {
                            buf[at] = special;
                        }
                        for start in 0..=len {
                            assert_eq!(
                                scan_plain(&buf, start),
                                naive(&buf, start),
                                "{buf:?} from {start}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn object_api() {
        let mut o: Object = vec![
            ("b".to_owned(), Value::Int(1)),
            ("a".to_owned(), Value::Int(2)),
            ("b".to_owned(), Value::Int(3)),
            ("b".to_owned(), Value::Int(4)),
        ]
        .into_iter()
        .collect();
        assert_eq!(o.len(), 2);
        assert_eq!(o.get("b"), Some(&Value::Int(4)));
        assert_eq!(o.insert("c", Some(5)), None);
        assert_eq!(o.insert("a", None::<i64>), Some(Value::Int(2)));
        assert!(o.contains_key("a"));
        assert_eq!(o.remove("a"), Some(Value::Null));
        assert_eq!(o.remove("a"), None);
        o.insert("x", 1);
        o.object_mut("x").insert("y", true); // replaces the non-object
        o.object_mut("x").insert("z", false);
        assert_eq!(
            Value::from(o.clone()).to_canonical_string(),
            r#"{"b":4,"c":5,"x":{"y":true,"z":false}}"#
        );
        let v = Value::from(o.clone());
        assert_eq!(v.get_path("x.y"), Some(&Value::Bool(true)));
        assert_eq!(v.get_path("x.y.z"), None);
        assert_eq!(v.get_path("x"), v.as_object().unwrap().get("x"));
        let owned: Vec<(String, Value)> = o.into_iter().collect();
        assert_eq!(owned[0], ("b".to_owned(), Value::Int(4)));
        assert_eq!(format!("{v}"), v.to_canonical_string());
    }

    #[test]
    fn deep_value_serializes_without_recursion() {
        let mut v = Value::Null;
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        let s = v.to_canonical_string();
        assert_eq!(s.len(), 200_000 + 4);
        // Tear down iteratively too (the derived Drop would recurse).
        while let Value::Array(mut a) = v {
            v = a.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn parse_literals_and_nesting() {
        assert_eq!(
            parse(r#"[true,false,null,"",[],{},{"a":[{"b":-1}]}]"#)
                .unwrap()
                .to_canonical_string(),
            r#"[true,false,null,"",[],{},{"a":[{"b":-1}]}]"#
        );
    }
}
