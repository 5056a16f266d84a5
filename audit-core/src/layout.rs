//! Layouts: the canonical JSON of a record with its values left out, worked out once for a
//! list of member names and a redaction policy, and reused for every record with the same
//! names.
//!
//! Every call of one audited function sets the same members in the same order (`@timestamp`,
//! `event.action`, `user.id`, `source.ip`, ...): only the values change. A [`LayoutCache`]
//! works out, the first time it meets such a list, everything about the record that depends
//! on the names alone: the canonical order of the members, the JSON text around the values
//! (keys, nested objects, commas), where the sealer will splice in the `audit` object, and
//! what the policy's name rules decide for each value (left alone, allowed, or scanned).
//! Later records with the same names are written by copying that text and writing each value
//! in its place, after the value checks of the policy (the detectors, display safety, size).
//!
//! The result is **the same bytes** as the tree path ([`FlatRecord::into_unsealed`]): the
//! layout is computed *from* the tree path, by serializing a record whose values are unique
//! placeholders and cutting the text at them, and anything a layout cannot stand for takes
//! the tree path instead: a name the policy redacts whole (a `password` field), a value it
//! redacts (a card number in a string), an array or object value under a name the policy
//! looks into, two members at one path, or a member name that was not a `&'static str`.
//! `audit-core/tests/layout_props.rs` checks the equivalence on random records and policies.
//!
//! ```
//! use std::time::UNIX_EPOCH;
//! use audit_core::flat::FlatRecord;
//! use audit_core::layout::LayoutCache;
//! use audit_core::record::Outcome;
//! use audit_core::redact::Policy;
//!
//! let mut cache = LayoutCache::new();
//! for user in ["alice", "bob"] {
//!     let mut flat = FlatRecord::new("auth.login", Outcome::Success, UNIX_EPOCH)?;
//!     flat.set_actor(user);
//!     flat.set("source.ip", "192.0.2.7")?;
//!     let tree = flat.clone().into_unsealed(Policy::builtin());
//!     assert_eq!(cache.unsealed(flat, Policy::builtin()), tree);
//! }
//! assert_eq!(cache.stats().hits, 1);
//! # Ok::<(), audit_core::record::RecordError>(())
//! ```

use crate::canonical::{Key, Value};
use crate::flat::{FlatRecord, Member, Slot};
use crate::redact::{Policy, PolicyId, SlotRule};
use crate::seal::Unsealed;

/// Layouts a cache keeps; beyond it, the oldest is replaced.
const CAPACITY: usize = 32;

/// Records written (allocating) before asking for buffers again after none were given.
const ASK_AGAIN_AFTER: u32 = 16;

/// Members a layout takes at most (a record with more takes the tree path).
const MAX_MEMBERS: usize = 64;

/// Counters of a [`LayoutCache`].
///
/// ```
/// use audit_core::{flat::FlatRecord, layout::{LayoutCache, LayoutStats}};
/// use audit_core::{record::Outcome, redact::Policy};
/// let mut cache = LayoutCache::new();
/// for _ in 0..3 {
///     let flat = FlatRecord::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
///     cache.unsealed(flat, Policy::builtin());
/// }
/// assert_eq!(cache.stats(), LayoutStats { hits: 2, misses: 1, tree: 0 });
/// # Ok::<(), audit_core::record::RecordError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayoutStats {
    /// Records written from a cached layout.
    pub hits: u64,
    /// Records whose names had no layout yet (one was worked out).
    pub misses: u64,
    /// Records that took the tree path: names no layout can stand for, or a value the
    /// policy redacts.
    pub tree: u64,
}

/// Layouts for the member lists seen so far (see the [module docs](self)). Small and meant to
/// be kept per thread: it is not shared, and takes no lock.
///
/// ```
/// use audit_core::{flat::FlatRecord, layout::LayoutCache, record::Outcome, redact::Policy};
/// let mut cache = LayoutCache::new();
/// for user in ["alice", "bob"] {
///     let mut flat = FlatRecord::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
///     flat.set_actor(user);
///     // The same bytes as the tree path gives, the second time from the cached layout.
///     let expected = flat.clone().into_unsealed(Policy::builtin());
///     assert_eq!(cache.unsealed(flat, Policy::builtin()), expected);
/// }
/// assert_eq!((cache.stats().misses, cache.stats().hits), (1, 1));
/// # Ok::<(), audit_core::record::RecordError>(())
/// ```
#[derive(Debug, Default)]
pub struct LayoutCache {
    layouts: Vec<Layout>,
    next: usize,
    stats: LayoutStats,
    /// Empty buffers to write records into ([`add_buffers`](LayoutCache::add_buffers)).
    buffers: Vec<String>,
    /// Records to write before asking for buffers again, after asking found none.
    wait_for_buffers: u32,
}

/// The names of a record's members, in the order they were set: addresses and lengths of
/// `'static` paths (two equal lists come from the same code).
#[derive(Debug, PartialEq, Eq)]
struct Names(Vec<(usize, usize, bool)>);

/// The address, length and place of a `'static` member name.
fn name_of(m: &Member) -> Option<(usize, usize, bool)> {
    match m.path {
        Key::Borrowed(path) => Some((path.as_ptr() as usize, path.len(), m.under_fields)),
        Key::Owned(_) => None,
    }
}

impl Names {
    /// A hash of the record's names; `None` when one is not `'static` (or too many).
    fn hash(record: &FlatRecord) -> Option<u64> {
        if record.members.len() > MAX_MEMBERS {
            return None;
        }
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for m in &record.members {
            let (at, len, fields) = name_of(m)?;
            hash = (hash.rotate_left(5) ^ at as u64 ^ ((len as u64) << 1) ^ u64::from(fields))
                .wrapping_mul(0x0100_0000_01b3);
        }
        Some(hash)
    }

    fn of(record: &FlatRecord) -> Names {
        Names(record.members.iter().filter_map(name_of).collect())
    }

    fn matches(&self, record: &FlatRecord) -> bool {
        self.0.len() == record.members.len()
            && self
                .0
                .iter()
                .zip(&record.members)
                .all(|(n, m)| name_of(m) == Some(*n))
    }
}

#[derive(Debug)]
struct Layout {
    hash: u64,
    names: Names,
    /// The policy the rules were worked out for: its identity only, so that a cache that
    /// outlives the policy does not keep its pseudonym key alive.
    policy: PolicyId,
    /// `None`: the tree path, always, for these names.
    text: Option<Text>,
}

/// The JSON around the values: each piece's text followed by the value of its member; then
/// `last`, which closes the record.
#[derive(Debug)]
struct Text {
    pieces: Vec<Piece>,
    last: Box<str>,
    /// The length of all the text.
    len: usize,
    /// The member at `redaction.fields`, if any: the tree path rewrites its list sorted and
    /// without repeats, so the layout takes only lists that are so already.
    listed: Option<usize>,
    /// `audit` goes at this offset into this piece.
    audit_at: (usize, usize),
}

/// JSON text, then the value of a member (with what the name rules decided for it).
#[derive(Debug)]
struct Piece {
    text: Box<str>,
    member: usize,
    rule: SlotRule,
}

impl LayoutCache {
    /// An empty cache.
    ///
    /// ```
    /// let cache = audit_core::layout::LayoutCache::new();
    /// assert_eq!(cache.stats(), audit_core::layout::LayoutStats::default());
    /// ```
    pub fn new() -> LayoutCache {
        LayoutCache::default()
    }

    /// What the cache has done so far.
    ///
    /// ```
    /// use audit_core::{flat::FlatRecord, layout::LayoutCache, record::Outcome, redact::Policy};
    /// let mut cache = LayoutCache::new();
    /// let flat = FlatRecord::new("auth.logout", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// let _ = cache.unsealed(flat, Policy::builtin());
    /// assert_eq!(cache.stats().misses, 1); // a new list of names: a layout was worked out
    /// assert_eq!(cache.stats().hits, 0);
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn stats(&self) -> LayoutStats {
        self.stats
    }

    /// Keep `buffers` (cleared) to write later records into, instead of allocating: the
    /// buffers of records already written, from
    /// [`Writer::take_buffers`](crate::sink::writer::Writer::take_buffers).
    ///
    /// ```
    /// let mut cache = audit_core::layout::LayoutCache::new();
    /// cache.add_buffers(vec![String::with_capacity(512); 4]);
    /// assert_eq!(cache.buffers(), 4);
    /// ```
    pub fn add_buffers(&mut self, mut buffers: Vec<String>) {
        if buffers.is_empty() {
            self.wait_for_buffers = ASK_AGAIN_AFTER;
            return;
        }
        buffers.iter_mut().for_each(String::clear);
        if self.buffers.is_empty() {
            self.buffers = buffers;
        } else {
            self.buffers.append(&mut buffers);
        }
    }

    /// How many buffers the cache holds for the next records.
    ///
    /// ```
    /// use audit_core::{flat::FlatRecord, layout::LayoutCache, record::Outcome, redact::Policy};
    /// let mut cache = LayoutCache::new();
    /// cache.add_buffers(vec![String::new(); 2]);
    /// let flat = FlatRecord::new("auth.logout", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// let _ = cache.unsealed(flat, Policy::builtin()); // written into one of them
    /// assert_eq!(cache.buffers(), 1);
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn buffers(&self) -> usize {
        self.buffers.len()
    }

    /// Whether to ask for buffers now: when it has none left, and the last time it was
    /// given none was a few records ago (asking takes a lock shared with the writer).
    ///
    /// ```
    /// let mut cache = audit_core::layout::LayoutCache::new();
    /// assert!(cache.wants_buffers());
    /// cache.add_buffers(Vec::new()); // none to be had
    /// assert!(!cache.wants_buffers());
    /// ```
    pub fn wants_buffers(&mut self) -> bool {
        if !self.buffers.is_empty() {
            return false;
        }
        match self.wait_for_buffers {
            0 => true,
            _ => {
                self.wait_for_buffers -= 1;
                false
            }
        }
    }

    /// Redact `record` with `policy` and serialize it: the same [`Unsealed`] as
    /// [`FlatRecord::into_unsealed`], from a layout when one stands for it.
    ///
    /// ```
    /// use audit_core::{flat::FlatRecord, layout::LayoutCache, record::Outcome, redact::Policy};
    /// let mut cache = LayoutCache::new();
    /// let record = || -> Result<FlatRecord, audit_core::record::RecordError> {
    ///     let mut flat = FlatRecord::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    ///     flat.set_field("password", "hunter2"); // redacted whole: the tree path, every time
    ///     Ok(flat)
    /// };
    /// for _ in 0..2 {
    ///     let unsealed = cache.unsealed(record()?, Policy::builtin());
    ///     assert_eq!(unsealed, record()?.into_unsealed(Policy::builtin()));
    /// }
    /// assert_eq!((cache.stats().hits, cache.stats().tree), (0, 2));
    /// # Ok::<(), audit_core::record::RecordError>(())
    /// ```
    pub fn unsealed(&mut self, record: FlatRecord, policy: &Policy) -> Unsealed {
        let Some(hash) = Names::hash(&record) else {
            self.stats.tree += 1;
            return record.into_unsealed(policy);
        };
        let found = self
            .layouts
            .iter()
            .position(|l| l.hash == hash && l.policy.is(policy) && l.names.matches(&record));
        let index = match found {
            Some(i) => {
                self.stats.hits += 1;
                i
            }
            None => {
                self.stats.misses += 1;
                let layout = Layout {
                    hash,
                    text: Text::work_out(&record, policy),
                    names: Names::of(&record),
                    policy: policy.id(),
                };
                if self.layouts.len() < CAPACITY {
                    self.layouts.push(layout);
                    self.layouts.len() - 1
                } else {
                    let i = self.next;
                    self.next = (self.next + 1) % CAPACITY;
                    self.layouts[i] = layout;
                    i
                }
            }
        };
        if let Some(text) = &self.layouts[index].text {
            let buffer = self.buffers.pop().unwrap_or_default();
            match text.fill(&record, policy, buffer) {
                Ok(unsealed) => {
                    record.recycle();
                    return unsealed;
                }
                Err(mut buffer) => {
                    buffer.clear();
                    self.buffers.push(buffer);
                }
            }
        }
        if found.is_some() {
            self.stats.hits -= 1;
        }
        self.stats.tree += 1;
        record.into_unsealed(policy)
    }
}

/// The placeholder value of member `k`: control characters, so it is escaped in the JSON,
/// and no member name of a layout contains U+0000 (checked), so it cannot be faked.
fn placeholder(k: usize) -> String {
    format!("\u{0}\u{1}{k}\u{1}")
}

const OPEN: &str = "\"\\u0000\\u0001";
const CLOSE: &str = "\\u0001\"";

impl Text {
    /// The layout of `record`'s names under `policy`, or `None` when the tree path must
    /// take records with these names.
    fn work_out(record: &FlatRecord, policy: &Policy) -> Option<Text> {
        let n = record.members.len();
        if record.members.iter().any(|m| m.path.contains('\u{0}')) {
            return None;
        }
        let marked = FlatRecord {
            members: record
                .members
                .iter()
                .enumerate()
                .map(|(k, m)| Member {
                    path: m.path.clone(),
                    under_fields: m.under_fields,
                    value: Slot::Value(Value::from(placeholder(k))),
                })
                .collect(),
        };
        let tree = marked.into_record();
        let mut rules: Vec<Option<SlotRule>> = vec![None; n];
        let slot_of = |v: &Value| -> Option<usize> {
            let s = v
                .as_str()?
                .strip_prefix("\u{0}\u{1}")?
                .strip_suffix('\u{1}')?;
            s.parse()
                .ok()
                .filter(|&k: &usize| k < n && placeholder(k).len() == s.len() + 3)
        };
        if !policy.slot_rules(tree.body(), &slot_of, &mut rules) {
            return None;
        }
        let rules: Vec<SlotRule> = rules.into_iter().collect::<Option<_>>()?;
        // The tree path's own serialization, cut at the placeholders.
        let unsealed = Unsealed::from(tree);
        let (json, audit_at) = unsealed.parts();
        let mut pieces: Vec<Piece> = Vec::with_capacity(n);
        let mut seen = vec![false; n];
        let mut audit = None;
        let mut rest = json;
        let mut consumed = 0;
        while let Some(at) = rest.find(OPEN) {
            let after = &rest[at + OPEN.len()..];
            let end = after.find(CLOSE)?;
            let k: usize = after[..end].parse().ok()?;
            if k >= n || std::mem::replace(&mut seen[k], true) {
                return None;
            }
            // `audit` goes between members, never inside a value: in this piece or a later one.
            if audit.is_none() && audit_at <= consumed + at {
                audit = Some((pieces.len(), audit_at.checked_sub(consumed)?));
            }
            pieces.push(Piece {
                text: rest[..at].into(),
                member: k,
                rule: rules[k],
            });
            let skip = at + OPEN.len() + end + CLOSE.len();
            consumed += skip;
            rest = &rest[skip..];
        }
        if pieces.len() != n {
            return None;
        }
        if audit.is_none() {
            audit = Some((n, audit_at.checked_sub(consumed)?));
        }
        let len = pieces.iter().map(|p| p.text.len()).sum::<usize>() + rest.len();
        let listed = record
            .members
            .iter()
            .position(|m| !m.under_fields && m.path == crate::redact::REDACTION_FIELDS);
        Some(Text {
            pieces,
            last: rest.into(),
            len,
            listed,
            audit_at: audit?,
        })
    }

    /// Write `record` into this layout, in `json` (empty); the buffer back when a value
    /// needs the tree path.
    fn fill(
        &self,
        record: &FlatRecord,
        policy: &Policy,
        mut json: String,
    ) -> Result<Unsealed, String> {
        match self.fill_in(record, policy, &mut json) {
            Some(audit_at) => Ok(Unsealed::from_parts(json, audit_at)),
            None => Err(json),
        }
    }

    /// [`fill`](Text::fill): where `audit` goes, or `None` for the tree path.
    fn fill_in(&self, record: &FlatRecord, policy: &Policy, json: &mut String) -> Option<usize> {
        if let Some(k) = self.listed {
            if let Slot::Value(Value::Array(items)) = &record.members[k].value {
                let mut previous: Option<&str> = None;
                for item in items {
                    let s = item.as_str()?;
                    if previous.is_some_and(|p| p >= s) {
                        return None;
                    }
                    previous = Some(s);
                }
            }
        }
        let values: usize = record
            .members
            .iter()
            .map(|m| m.value.as_str().map_or(20, |s| s.len() + 2))
            .sum();
        // Exact: a buffer used again keeps its capacity, and doubling would make every
        // buffer in circulation grow to twice the record size over time.
        json.reserve_exact(self.len + values + 8);
        let mut audit_at = 0;
        for (k, piece) in self.pieces.iter().enumerate() {
            if self.audit_at.0 == k {
                audit_at = json.len() + self.audit_at.1;
            }
            json.push_str(&piece.text);
            let written = match &record.members.get(piece.member)?.value {
                Slot::Value(v) => policy.write_slot(v, piece.rule, json),
                short => policy.write_text_slot(short.as_str()?, piece.rule, json),
            };
            if !written {
                return None;
            }
        }
        if self.audit_at.0 == self.pieces.len() {
            audit_at = json.len() + self.audit_at.1;
        }
        json.push_str(&self.last);
        Some(audit_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Outcome;

    fn login() -> FlatRecord {
        let mut flat =
            FlatRecord::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH).expect("record");
        flat.set_actor("alice");
        flat.set("source.ip", "192.0.2.7").expect("path");
        flat
    }

    /// A layout writes into a buffer given to the cache, and gives it back when a value
    /// sends the record down the tree path.
    #[test]
    fn records_are_written_into_given_buffers() {
        let mut cache = LayoutCache::new();
        let policy = Policy::builtin();
        let _ = cache.unsealed(login(), policy); // works the layout out
        cache.add_buffers(vec![String::from("left over"), String::with_capacity(1024)]);
        assert_eq!(cache.buffers(), 2);
        let unsealed = cache.unsealed(login(), policy);
        assert_eq!(unsealed, login().into_unsealed(policy));
        assert_eq!(cache.buffers(), 1);
        // A card number in a field: redacted, so the tree path; the buffer is kept.
        let mut card = login();
        card.set_field("note", "card 4111 1111 1111 1111");
        let _ = cache.unsealed(card.clone(), policy); // its own layout
        let unsealed = cache.unsealed(card.clone(), policy);
        assert_eq!(unsealed, card.into_unsealed(policy));
        assert!(unsealed.json().contains("[REDACTED"), "{}", unsealed.json());
        assert_eq!(cache.buffers(), 1);
        assert_eq!(cache.stats().tree, 2);
    }

    /// After being given no buffers, the cache asks again only some records later; while it
    /// holds buffers it does not ask.
    #[test]
    fn asking_for_buffers_backs_off_when_there_are_none() {
        let mut cache = LayoutCache::new();
        assert!(cache.wants_buffers());
        cache.add_buffers(Vec::new());
        let asked = (0..100).position(|_| cache.wants_buffers());
        assert_eq!(asked, Some(ASK_AGAIN_AFTER as usize));
        cache.add_buffers(vec![String::new()]);
        assert!(!cache.wants_buffers());
        let _ = cache.unsealed(login(), Policy::builtin());
        assert!(cache.wants_buffers());
    }

    /// A cached layout never stands in for another policy, even one made after the first
    /// was dropped (which could otherwise get the same address), and does not keep a
    /// dropped policy alive.
    #[test]
    fn layouts_belong_to_one_live_policy() {
        let mut cache = LayoutCache::new();
        let lenient = Policy::builder().allow_name("ip").build().expect("policy");
        assert_eq!(
            cache.unsealed(login(), &lenient),
            login().into_unsealed(&lenient)
        );
        let id = lenient.id();
        drop(lenient);
        assert!(!id.alive(), "the cache keeps no clone of the policy");
        for _ in 0..3 {
            let strict = Policy::builder()
                .sensitive_name("ip")
                .build()
                .expect("policy");
            let expected = login().into_unsealed(&strict);
            assert!(
                expected.json().contains(r#""ip":"[REDACTED]""#),
                "{}",
                expected.json()
            );
            assert_eq!(cache.unsealed(login(), &strict), expected);
        }
        assert_eq!(cache.stats().hits, 0);
    }
}
