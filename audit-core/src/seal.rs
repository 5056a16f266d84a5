//! The sealer: the only place that assigns `seq` and `prev` and seals records with a MAC.
//!
//! One sealer owns one chain. It adds the integrity object to each record,
//!
//! ```text
//! "audit": {"chain": <32 hex>, "kid": <key id>, "mac": <64 hex>, "prev": <64 hex>, "seq": <n>, "v": 1}
//! ```
//!
//! evolving its key at each epoch boundary (and rewriting the key's state file first, when
//! it has one), and returns the canonical line ready to append.
//!
//! ```
//! use audit_core::keys::SealingKey;
//! use audit_core::record::{Outcome, Record};
//! use audit_core::seal::Sealer;
//! let (sk, _vk) = SealingKey::generate("k1", 2)?;
//! let mut sealer = Sealer::with_chain_id(sk, "00112233445566778899aabbccddeeff")?;
//! for _ in 0..3 {
//!     let r = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
//!     sealer.seal(r)?;
//! }
//! let head = sealer.head().unwrap();
//! assert_eq!(head.seq, 2);
//! assert_eq!(sealer.key().epoch(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::canonical::{cmp_keys, write_int, write_string, Object, Value, MAX_SAFE_INTEGER};
use crate::checkpoint::Checkpoint;
use crate::key_state::StateFile;
pub use crate::key_state::DEFAULT_INTERVAL as DEFAULT_KEY_STATE_INTERVAL;
use crate::keys::{KeyError, MacKey, SealingKey};
use crate::record::Record;
use crate::signing::{decode_mac, encode_mac_bytes, ZERO_MAC};

/// The format version written in `audit.v`.
///
/// ```
/// use audit_core::{canonical::parse, keys::SealingKey, seal::{Sealer, FORMAT_VERSION}};
/// # use audit_core::record::{Outcome, Record};
/// let mut sealer = Sealer::new_chain(SealingKey::generate("k1", 1024)?.0)?;
/// let sealed = sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
/// let v = parse(sealed.line.trim_end())?.get_path("audit.v").and_then(|v| v.as_i64());
/// assert_eq!(v, Some(FORMAT_VERSION));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const FORMAT_VERSION: i64 = 1;

/// Where a chain stands: its id, the last sealed `seq` and that record's MAC.
///
/// ```
/// use audit_core::{keys::SealingKey, seal::{ChainHead, Sealer}};
/// # use audit_core::record::{Outcome, Record};
/// let mut sealer = Sealer::with_chain_id(SealingKey::generate("k1", 1024)?.0, "c1")?;
/// let sealed = sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
/// let head = ChainHead { chain: "c1".into(), seq: 0, mac: sealed.mac };
/// assert_eq!(sealer.head(), Some(head));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    /// The chain id.
    pub chain: String,
    /// The `seq` of the last record.
    pub seq: u64,
    /// The MAC of the last record (64 lowercase hex digits).
    pub mac: String,
}

/// A sealed record.
///
/// ```
/// # use audit_core::{keys::SealingKey, record::{Outcome, Record}, seal::Sealer};
/// # let mut sealer = Sealer::new_chain(SealingKey::generate("k1", 1024)?.0)?;
/// let sealed = sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
/// assert_eq!(sealed.seq, 0);
/// assert!(sealed.line.ends_with('\n'));
/// assert!(sealed.line.contains(&format!(r#""mac":"{}""#, sealed.mac)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// Its position in the chain.
    pub seq: u64,
    /// Its MAC (lowercase hex).
    pub mac: String,
    /// The canonical JSON line, newline-terminated.
    pub line: String,
}

/// A record serialized for sealing: the canonical JSON of its body without `audit`, and
/// the byte offset where the integrity object goes. Serializing is most of the cost of
/// sealing; [`Writer::submit`](crate::sink::writer::Writer::submit) does it on the caller's
/// thread, so the one writer thread only splices, MACs and writes (and the record's memory
/// is freed by the thread that allocated it).
///
/// ```
/// use audit_core::{record::{Outcome, Record}, seal::Unsealed};
/// let record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
/// let unsealed = Unsealed::from(record); // serialized once, sealed later
/// assert!(unsealed.json().contains(r#""action":"auth.login""#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsealed {
    json: String,
    /// After `{` or after the last member whose key sorts before `audit`.
    audit_at: usize,
}

impl Unsealed {
    /// Serialize a record body (any `audit` member is dropped: the sealer writes its own).
    ///
    /// ```
    /// use audit_core::{canonical::Object, seal::Unsealed};
    /// let mut body = Object::new();
    /// body.insert("b", 1);
    /// body.insert("audit", "forged");
    /// body.insert("a", "x");
    /// assert_eq!(Unsealed::from_body(body).json(), r#"{"a":"x","b":1}"#);
    /// ```
    pub fn from_body(mut body: Object) -> Unsealed {
        body.remove("audit");
        let mut json = String::with_capacity(128 + 80 * body.len());
        json.push('{');
        let mut audit_at = 1;
        for (key, value) in body.iter() {
            if json.len() > 1 {
                json.push(',');
            }
            write_string(&mut json, key);
            json.push(':');
            value.write_canonical(&mut json);
            if cmp_keys(key, "audit") == std::cmp::Ordering::Less {
                audit_at = json.len();
            }
        }
        json.push('}');
        Unsealed { json, audit_at }
    }

    /// An already serialized body: `json` is canonical and has no `audit` member, and
    /// `audit_at` is where it belongs (after `{` or after the last member whose key sorts
    /// before `audit`).
    pub(crate) fn from_parts(json: String, audit_at: usize) -> Unsealed {
        debug_assert!(json.starts_with('{') && json.ends_with('}'));
        debug_assert!(json.is_char_boundary(audit_at) && audit_at < json.len());
        Unsealed { json, audit_at }
    }

    /// The JSON and where `audit` belongs in it.
    pub(crate) fn parts(&self) -> (&str, usize) {
        (&self.json, self.audit_at)
    }

    /// The canonical JSON of the body, without `audit`.
    ///
    /// ```
    /// use audit_core::{canonical::parse, record::{Outcome, Record}, seal::Unsealed};
    /// let record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// let unsealed = Unsealed::from(record.clone());
    /// assert_eq!(parse(unsealed.json())?.as_object(), Some(record.body()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The JSON's buffer, to be used again (see [`Writer::take_buffers`]).
    ///
    /// [`Writer::take_buffers`]: crate::sink::writer::Writer::take_buffers
    pub(crate) fn into_json(self) -> String {
        self.json
    }
}

impl From<Record> for Unsealed {
    fn from(record: Record) -> Unsealed {
        Unsealed::from_body(record.into_body())
    }
}

/// Why a record could not be sealed.
///
/// ```
/// use audit_core::{keys::SealingKey, seal::{ChainHead, SealError, Sealer}};
/// let (sealing, _) = SealingKey::generate("k1", 1024)?;
/// let head = ChainHead { chain: "c1".into(), seq: u64::MAX, mac: "00".repeat(32) };
/// assert!(matches!(Sealer::resume(sealing, &head), Err(SealError::ChainFull)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The key could not evolve or its state file could not be rewritten.
    #[error("sealing key: {0}")]
    Key(#[from] KeyError),
    /// The chain has reached 2^53 records.
    #[error("the chain is full: seq cannot exceed 2^53 - 1; start a new chain")]
    ChainFull,
    /// The chain id is not 1 to 64 characters of `0-9 a-z A-Z - _`.
    #[error("invalid chain id {0:?}: use 1 to 64 characters from 0-9, a-z, A-Z, '-', '_'")]
    InvalidChainId(String),
}

/// The integrity object of a sealed record, checked for form (section 9, step 3 of
/// `docs/FORMAT.md`): exactly the six members, `v` = 1, a valid chain id and kid, `seq` ≥ 0,
/// `prev` and `mac` 64 lowercase hex digits. Its MAC is not checked here.
///
/// ```
/// use audit_core::{canonical::parse, seal::Integrity, signing::ZERO_MAC};
/// # use audit_core::{keys::SealingKey, record::{Outcome, Record}, seal::Sealer};
/// # let mut sealer = Sealer::with_chain_id(SealingKey::generate("k1", 1024)?.0, "c1")?;
/// let sealed = sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
/// let record = parse(sealed.line.trim_end())?;
/// let integrity = Integrity::of(record.as_object().unwrap()).unwrap();
/// assert_eq!((integrity.chain.as_str(), integrity.seq, integrity.kid.as_str()), ("c1", 0, "k1"));
/// assert_eq!((integrity.prev.as_str(), integrity.mac), (ZERO_MAC, sealed.mac));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Integrity {
    /// `audit.chain`.
    pub chain: String,
    /// `audit.seq`.
    pub seq: u64,
    /// `audit.kid`.
    pub kid: String,
    /// `audit.prev`.
    pub prev: String,
    /// `audit.mac`.
    pub mac: String,
}

impl Integrity {
    /// Read and check the `audit` object of a record; `Err` says what is wrong, and the
    /// claimed seq when there is one.
    ///
    /// ```
    /// use audit_core::seal::Integrity;
    /// let v = audit_core::canonical::parse(r#"{"audit":{"v":1}}"#).unwrap();
    /// assert!(Integrity::of(v.as_object().unwrap()).is_err());
    /// ```
    pub fn of(record: &Object) -> Result<Integrity, (&'static str, Option<u64>)> {
        let Some(audit) = record.get("audit").and_then(Value::as_object) else {
            return Err(("unsealed record: there is no audit object", None));
        };
        let seq = audit
            .get("seq")
            .and_then(Value::as_i64)
            .and_then(|s| u64::try_from(s).ok());
        let text = |k: &str| audit.get(k).and_then(Value::as_str);
        let (Some(seq_v), Some(chain), Some(kid), Some(prev), Some(mac)) =
            (seq, text("chain"), text("kid"), text("prev"), text("mac"))
        else {
            return Err((
                "unsealed record: audit.chain, audit.seq, audit.kid, audit.prev or audit.mac is missing or mistyped",
                seq,
            ));
        };
        if audit.get("v").and_then(Value::as_i64) != Some(FORMAT_VERSION) {
            return Err(("unsupported format version: audit.v must be 1", seq));
        }
        if audit.len() != 6 {
            return Err(("the audit object must have exactly six members", seq));
        }
        if crate::keys::validate_kid(kid).is_err() || validate_chain_id(chain).is_err() {
            return Err((
                "audit.kid or audit.chain has characters or a length the format does not allow",
                seq,
            ));
        }
        if decode_mac(mac).is_none() || decode_mac(prev).is_none() {
            return Err((
                "audit.mac or audit.prev is not 64 lowercase hex digits",
                seq,
            ));
        }
        Ok(Integrity {
            chain: chain.to_owned(),
            seq: seq_v,
            kid: kid.to_owned(),
            prev: prev.to_owned(),
            mac: mac.to_owned(),
        })
    }
}

/// Seals records into one chain.
///
/// ```
/// use audit_core::{keys::SealingKey, record::{Outcome, Record}, seal::Sealer};
/// let mut sealer = Sealer::new_chain(SealingKey::generate("k1", 1024)?.0)?;
/// let record = || Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH);
/// let first = sealer.seal(record()?)?;
/// let second = sealer.seal(record()?)?;
/// assert_eq!((first.seq, second.seq), (0, 1));
/// assert!(second.line.contains(&format!(r#""prev":"{}""#, first.mac)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Sealer {
    key: SealingKey,
    mac_key: MacKey,
    chain: String,
    next_seq: u64,
    prev: String,
    /// The key's state file, rewritten when the key evolves (off this thread).
    state: Option<StateFile>,
    /// The key evolved since the state file was last given it: given at the next
    /// [`lines_written`](Sealer::lines_written).
    state_due: bool,
    /// The first seq not known to be written to the log (the lines before it are): a key
    /// stored by [`rotate_key`](Sealer::rotate_key) is stored at this seq's epoch.
    unwritten_from: u64,
    /// `"audit":{"chain":<chain>,"kid":<kid>,`: the same in every line until the key is
    /// rotated ([`audit_head`]).
    head: String,
    /// The rest of the integrity object of the line being sealed (kept: no allocation per
    /// line).
    tail: String,
}

/// The start of the integrity object of every line sealed under `kid` in `chain`: its
/// members before `mac`, in canonical order.
fn audit_head(chain: &str, kid: &str) -> String {
    let mut head = String::with_capacity(32 + chain.len() + kid.len());
    head.push_str("\"audit\":{\"chain\":");
    write_string(&mut head, chain);
    head.push_str(",\"kid\":");
    write_string(&mut head, kid);
    head.push(',');
    head
}

/// Check a chain id: 1 to 64 characters from `0-9 a-z A-Z - _`.
///
/// ```
/// use audit_core::seal::{validate_chain_id, SealError};
/// assert!(validate_chain_id("00112233445566778899aabbccddeeff").is_ok());
/// assert!(matches!(validate_chain_id("a b"), Err(SealError::InvalidChainId(_))));
/// assert!(validate_chain_id(&"a".repeat(65)).is_err());
/// ```
pub fn validate_chain_id(chain: &str) -> Result<(), SealError> {
    let ok = !chain.is_empty()
        && chain.len() <= 64
        && chain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(SealError::InvalidChainId(chain.to_owned()))
    }
}

impl Sealer {
    /// Start a new chain with a random id.
    ///
    /// ```
    /// use audit_core::{keys::SealingKey, seal::Sealer};
    /// let sealer = Sealer::new_chain(SealingKey::generate("k1", 1024)?.0)?;
    /// assert_eq!(sealer.chain_id().len(), 32); // 16 random bytes in hex
    /// assert_eq!((sealer.next_seq(), sealer.head()), (0, None));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new_chain(key: SealingKey) -> Result<Sealer, SealError> {
        let chain = crate::keys::random_chain_id()?;
        Sealer::with_chain_id(key, &chain)
    }

    /// Start a new chain with the given id (deterministic tests, snapshot helpers).
    ///
    /// ```
    /// use audit_core::{keys::SealingKey, seal::{SealError, Sealer}};
    /// let sealer = Sealer::with_chain_id(SealingKey::generate("k1", 1024)?.0, "orders-1")?;
    /// assert_eq!(sealer.chain_id(), "orders-1");
    /// let refused = Sealer::with_chain_id(SealingKey::generate("k1", 1024)?.0, "orders/1");
    /// assert!(matches!(refused, Err(SealError::InvalidChainId(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_chain_id(key: SealingKey, chain: &str) -> Result<Sealer, SealError> {
        validate_chain_id(chain)?;
        Sealer::at(key, chain.to_owned(), 0, ZERO_MAC.to_owned())
    }

    /// Continue an existing chain after `head` (read back from the log's tail).
    ///
    /// ```
    /// use audit_core::{keys::SealingKey, seal::Sealer};
    /// # use audit_core::record::{Outcome, Record};
    /// let (sealing, verification) = SealingKey::generate("k1", 2)?;
    /// let mut sealer = Sealer::new_chain(sealing)?;
    /// for _ in 0..3 {
    ///     sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// }
    /// let head = sealer.head().unwrap(); // as read back from the log's tail
    /// let resumed = Sealer::resume(verification.to_sealing_key(), &head)?;
    /// assert_eq!((resumed.chain_id(), resumed.next_seq()), (sealer.chain_id(), 3));
    /// assert_eq!(resumed.key().epoch(), 1); // evolved to the epoch of seq 3
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resume(key: SealingKey, head: &ChainHead) -> Result<Sealer, SealError> {
        validate_chain_id(&head.chain)?;
        let next = head.seq.checked_add(1).ok_or(SealError::ChainFull)?;
        Sealer::at(key, head.chain.clone(), next, head.mac.clone())
    }

    fn at(
        mut key: SealingKey,
        chain: String,
        next_seq: u64,
        prev: String,
    ) -> Result<Sealer, SealError> {
        key.advance_to(key.epoch_of(next_seq))?;
        let mac_key = key.mac_key();
        Ok(Sealer {
            head: audit_head(&chain, key.kid()),
            tail: String::with_capacity(112),
            key,
            mac_key,
            chain,
            next_seq,
            prev,
            state: None,
            state_due: false,
            unwritten_from: next_seq,
        })
    }

    /// Write the key's state to this file now (atomically, 0600), and rewrite it after the
    /// key evolves, so that the old epoch key is gone from disk too. A new state is given to
    /// the file once the lines sealed so far are written ([`lines_written`](Self::lines_written),
    /// which [`FileLog`](crate::sink::file::FileLog) calls once its lines are written or, with
    /// a durability that syncs, synced): the file is then never ahead of the log, so a writer
    /// that opens the log can always evolve the key forward from it to the epoch of the next
    /// record. The rewrites are made by a thread
    /// of the sealer's own, so sealing does not wait for their two `fsync`s, at most once per
    /// [`DEFAULT_KEY_STATE_INTERVAL`] (always with the newest key): the file lags the key in
    /// memory by at most that plus one rewrite. A rewrite that fails
    /// fails the next record sealed after it is known; [`sync_key_state`](Self::sync_key_state)
    /// waits for the rewrites, and dropping the sealer writes the last one.
    ///
    /// ```
    /// use audit_core::{keys::SealingKey, seal::Sealer};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("writer.key");
    /// let (key, _) = SealingKey::generate("k1", 1024)?;
    /// let sealer = Sealer::new_chain(key)?.persist_key_to(&path)?;
    /// assert_eq!(SealingKey::load(&path)?.kid(), sealer.key().kid()); // written at once
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn persist_key_to(self, path: impl Into<PathBuf>) -> Result<Sealer, SealError> {
        self.persist_key_every(path, DEFAULT_KEY_STATE_INTERVAL)
    }

    /// [`persist_key_to`](Self::persist_key_to), rewriting the file at most once per
    /// `interval` ([`Duration::ZERO`]: at every epoch) instead of
    /// [`DEFAULT_KEY_STATE_INTERVAL`] (20 ms). The file lags the key in memory by at most the
    /// interval plus one rewrite (each rewrite is two `fsync`s).
    ///
    /// ```
    /// use std::time::Duration;
    /// use audit_core::{keys::SealingKey, seal::Sealer};
    /// let dir = tempfile::tempdir()?;
    /// let (key, _) = SealingKey::generate("k1", 1024)?;
    /// let sealer = Sealer::new_chain(key)?
    ///     .persist_key_every(dir.path().join("writer.key"), Duration::ZERO)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn persist_key_every(
        mut self,
        path: impl Into<PathBuf>,
        interval: Duration,
    ) -> Result<Sealer, SealError> {
        self.state = Some(StateFile::create(path.into(), &self.key, interval)?);
        Ok(self)
    }

    /// Wait until the key's state file holds the current key (see
    /// [`persist_key_to`](Self::persist_key_to)); the error of a rewrite that failed.
    ///
    /// ```
    /// use audit_core::{keys::SealingKey, record::{Outcome, Record}, seal::Sealer};
    /// let dir = tempfile::tempdir()?;
    /// let (key, _) = SealingKey::generate("k1", 2)?;
    /// let mut sealer = Sealer::new_chain(key)?.persist_key_to(dir.path().join("writer.key"))?;
    /// for _ in 0..5 {
    ///     sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// }
    /// // (The lines are written to the log here.)
    /// sealer.lines_written()?;
    /// sealer.sync_key_state()?;
    /// assert_eq!(SealingKey::load(&dir.path().join("writer.key"))?.epoch(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sync_key_state(&self) -> Result<(), SealError> {
        match &self.state {
            Some(state) => Ok(state.wait()?),
            None => Ok(()),
        }
    }

    /// Every line sealed so far is written to the log: if the key has evolved, its state
    /// file may now be rewritten (in the background). The error of an earlier rewrite that
    /// failed is returned here (the new state is then given on the next call).
    ///
    /// ```
    /// use std::time::Duration;
    /// use audit_core::{keys::SealingKey, record::{Outcome, Record}, seal::Sealer};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("writer.key");
    /// let (key, _) = SealingKey::generate("k1", 2)?;
    /// let mut sealer = Sealer::new_chain(key)?.persist_key_every(&path, Duration::ZERO)?;
    /// for _ in 0..4 {
    ///     sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// }
    /// sealer.sync_key_state()?;
    /// assert_eq!(SealingKey::load(&path)?.epoch(), 0); // not ahead of a log that lacks them
    /// sealer.lines_written()?; // (the four lines are in the log now)
    /// sealer.sync_key_state()?;
    /// assert_eq!(SealingKey::load(&path)?.epoch(), 1); // the epoch of seq 2 and 3
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lines_written(&mut self) -> Result<(), SealError> {
        self.unwritten_from = self.next_seq;
        if let (true, Some(state)) = (self.state_due, &self.state) {
            state.submit(&self.key)?;
            self.state_due = false;
        }
        Ok(())
    }

    /// The chain id.
    ///
    /// ```
    /// # use audit_core::{keys::SealingKey, record::{Outcome, Record}, seal::Sealer};
    /// let mut sealer = Sealer::with_chain_id(SealingKey::generate("k1", 1024)?.0, "c1")?;
    /// let sealed = sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// assert_eq!(sealer.chain_id(), "c1");
    /// assert!(sealed.line.contains(r#""chain":"c1""#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn chain_id(&self) -> &str {
        &self.chain
    }

    /// The current sealing key (its Debug shows no key bytes).
    ///
    /// ```
    /// # use audit_core::{keys::SealingKey, record::{Outcome, Record}, seal::Sealer};
    /// let mut sealer = Sealer::new_chain(SealingKey::generate("k1", 2)?.0)?;
    /// for _ in 0..3 {
    ///     sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// }
    /// let debug = format!("{:?}", sealer.key());
    /// assert_eq!(debug, r#"SealingKey { kid: "k1", epoch_len: 2, epoch: 1, .. }"#);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn key(&self) -> &SealingKey {
        &self.key
    }

    /// The seq the next record will get.
    ///
    /// ```
    /// # use audit_core::{keys::SealingKey, record::{Outcome, Record}, seal::Sealer};
    /// let mut sealer = Sealer::new_chain(SealingKey::generate("k1", 1024)?.0)?;
    /// assert_eq!(sealer.next_seq(), 0);
    /// let sealed = sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// assert_eq!((sealed.seq, sealer.next_seq()), (0, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The head after the last sealed record, or `None` before the first.
    ///
    /// ```
    /// # use audit_core::{keys::SealingKey, record::{Outcome, Record}, seal::Sealer};
    /// let mut sealer = Sealer::new_chain(SealingKey::generate("k1", 1024)?.0)?;
    /// assert!(sealer.head().is_none());
    /// let sealed = sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// let head = sealer.head().unwrap();
    /// assert_eq!((head.seq, head.mac), (0, sealed.mac));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn head(&self) -> Option<ChainHead> {
        let seq = self.next_seq.checked_sub(1)?;
        Some(ChainHead {
            chain: self.chain.clone(),
            seq,
            mac: self.prev.clone(),
        })
    }

    /// Switch to a new key (a new kid) and continue the same chain with it.
    ///
    /// With a state file ([`persist_key_to`](Self::persist_key_to)), the new key is in the
    /// file before it seals anything (this waits for the rewrite), so a writer that restarts
    /// never goes back to the old key. It is stored at the epoch of the first line not yet
    /// known to be written ([`lines_written`](Self::lines_written)), not of the next one:
    /// were the lines sealed under the old key in between lost (a crash before they reach
    /// the log), the restarted writer continues after the last line the log holds, and
    /// the stored key can still evolve to that line's epoch. The state file follows the
    /// key's epoch once the lines are written, as it does after any epoch change.
    ///
    /// ```
    /// use audit_core::{keys::SealingKey, record::{Outcome, Record}, seal::Sealer};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("writer.key");
    /// let (old, _) = SealingKey::generate("k1", 2)?;
    /// let (new, _) = SealingKey::generate("k2", 2)?;
    /// let mut sealer = Sealer::new_chain(old)?.persist_key_to(&path)?;
    /// for _ in 0..5 {
    ///     sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// }
    /// sealer.rotate_key(new)?; // lines 0..=4 not written yet: stored at epoch 0
    /// assert_eq!((SealingKey::load(&path)?.kid(), SealingKey::load(&path)?.epoch()), ("k2", 0));
    /// sealer.lines_written()?;
    /// sealer.sync_key_state()?;
    /// assert_eq!(SealingKey::load(&path)?.epoch(), 2); // the epoch of seq 5
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rotate_key(&mut self, mut key: SealingKey) -> Result<(), SealError> {
        // (A key given already past that epoch is stored where it is: it cannot go back.)
        key.advance_to(key.epoch_of(self.unwritten_from).max(key.epoch()))?;
        if let Some(state) = &self.state {
            state.submit(&key)?;
            state.wait()?;
        }
        let evolved = key.advance_to(key.epoch_of(self.next_seq))?;
        self.state_due = evolved && self.state.is_some();
        self.mac_key = key.mac_key();
        self.head = audit_head(&self.chain, key.kid());
        self.key = key;
        Ok(())
    }

    /// Seal a record: assign the next seq, link it to the previous MAC, sign it.
    ///
    /// ```
    /// use audit_core::{canonical::parse, keys::SealingKey, seal::Sealer};
    /// use audit_core::record::{Outcome, Record};
    /// let mut sealer = Sealer::new_chain(SealingKey::generate("k1", 1024)?.0)?;
    /// let mut record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// record.set_actor("alice");
    /// let sealed = sealer.seal(record)?;
    /// let line = parse(sealed.line.trim_end())?;
    /// assert_eq!(line.get_path("user.id").and_then(|v| v.as_str()), Some("alice"));
    /// assert_eq!(line.get_path("audit.seq").and_then(|v| v.as_i64()), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seal(&mut self, record: Record) -> Result<Sealed, SealError> {
        self.seal_unsealed(&Unsealed::from(record))
    }

    /// Seal a record body (an object without `audit`; any `audit` member is replaced).
    ///
    /// ```
    /// use audit_core::{canonical::Object, keys::SealingKey, seal::Sealer};
    /// let mut sealer = Sealer::new_chain(SealingKey::generate("k1", 1024)?.0)?;
    /// let mut body = Object::new();
    /// body.insert("message", "hello");
    /// body.insert("audit", "forged");
    /// let sealed = sealer.seal_body(body)?;
    /// assert!(sealed.line.starts_with(r#"{"audit":{"chain":"#));
    /// assert!(!sealed.line.contains("forged"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seal_body(&mut self, body: Object) -> Result<Sealed, SealError> {
        self.seal_unsealed(&Unsealed::from_body(body))
    }

    /// Seal a record already serialized (see [`Unsealed`]).
    ///
    /// ```
    /// use audit_core::{keys::SealingKey, record::{Outcome, Record}, seal::{Sealer, Unsealed}};
    /// let (sealing, verification) = SealingKey::generate("k1", 1024)?;
    /// let mut a = Sealer::with_chain_id(sealing, "c1")?;
    /// let mut b = Sealer::with_chain_id(verification.to_sealing_key(), "c1")?;
    /// let record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// let unsealed = Unsealed::from(record.clone()); // e.g. on the caller's thread
    /// assert_eq!(a.seal_unsealed(&unsealed)?, b.seal(record)?); // the same line
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seal_unsealed(&mut self, record: &Unsealed) -> Result<Sealed, SealError> {
        let mut line = Vec::with_capacity(record.json.len() + 300);
        let seq = self.seal_unsealed_into(record, &mut line)?;
        // Every piece appended is a `str`: the line is UTF-8.
        let line = String::from_utf8(line).unwrap_or_default();
        Ok(Sealed {
            seq,
            mac: self.prev.clone(),
            line,
        })
    }

    /// Seal a record already serialized and append its newline-terminated line to `out`
    /// (the writer's batch), returning its `seq`: no line of its own is allocated, nothing
    /// is moved once written.
    ///
    /// ```
    /// use audit_core::{keys::SealingKey, record::{Outcome, Record}, seal::{Sealer, Unsealed}};
    /// let mut sealer = Sealer::new_chain(SealingKey::generate("k1", 1024)?.0)?;
    /// let unsealed = Unsealed::from(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?);
    /// let mut batch = Vec::new();
    /// assert_eq!(sealer.seal_unsealed_into(&unsealed, &mut batch)?, 0);
    /// assert_eq!(sealer.seal_unsealed_into(&unsealed, &mut batch)?, 1);
    /// assert_eq!(batch.iter().filter(|&&b| b == b'\n').count(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seal_unsealed_into(
        &mut self,
        record: &Unsealed,
        out: &mut Vec<u8>,
    ) -> Result<u64, SealError> {
        let seq = self.next_seq;
        if seq > MAX_SAFE_INTEGER as u64 {
            return Err(SealError::ChainFull);
        }
        let epoch = self.key.epoch_of(seq);
        if self.key.advance_to(epoch)? {
            self.mac_key = self.key.mac_key();
            // Given to the state file once this record's line is written.
            self.state_due = self.state.is_some();
        }
        // The MAC covers the canonical form of the body with the integrity object
        // `{"chain","kid","prev","seq","v"}` in its place; the line is the same with
        // `"mac":"<hex>",` before `"prev"` (the canonical place of `mac` among those keys).
        let (json, at) = (record.json.as_bytes(), record.audit_at);
        let (before, after) = json.split_at(at);
        let lead: &[u8] = if at > 1 { b"," } else { b"" };
        let trail: &[u8] = if at == 1 && json.len() > 2 { b"," } else { b"" };
        self.write_tail(seq);
        let (head, tail) = (self.head.as_bytes(), self.tail.as_bytes());
        let mac = encode_mac_bytes(
            &self
                .mac_key
                .mac_parts(&[before, lead, head, tail, trail, after]),
        );
        for part in [before, lead, head, b"\"mac\":\""] {
            out.extend_from_slice(part);
        }
        out.extend_from_slice(&mac);
        for part in [b"\",", tail, trail, after, b"\n"] {
            out.extend_from_slice(part);
        }
        self.next_seq = seq + 1;
        self.prev.clear();
        // Hex digits: always UTF-8.
        self.prev
            .push_str(std::str::from_utf8(&mac).unwrap_or_default());
        Ok(seq)
    }

    /// The integrity object without its `mac`: `"audit":{"chain":..,"kid":..,` into `head`,
    /// `"prev":..,"seq":..,"v":1}` into `tail` (`mac` goes between them).
    /// The integrity object's members after `mac`, for the line at `seq`, into `self.tail`.
    fn write_tail(&mut self, seq: u64) {
        let tail = &mut self.tail;
        tail.clear();
        tail.push_str("\"prev\":");
        write_string(tail, &self.prev);
        tail.push_str(",\"seq\":");
        write_int(tail, seq as i64);
        tail.push_str(",\"v\":");
        write_int(tail, FORMAT_VERSION);
        tail.push('}');
    }

    /// A signed checkpoint of the current head, to publish to a witness.
    ///
    /// ```
    /// use audit_core::{keys::{Keyring, SealingKey}, seal::Sealer};
    /// # use audit_core::record::{Outcome, Record};
    /// let (sealing, verification) = SealingKey::generate("k1", 1024)?;
    /// let mut sealer = Sealer::new_chain(sealing)?;
    /// assert!(sealer.checkpoint(std::time::UNIX_EPOCH).is_none()); // nothing sealed yet
    /// sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// let cp = sealer.checkpoint(std::time::UNIX_EPOCH).unwrap();
    /// cp.verify(&Keyring::from(verification))?;
    /// assert_eq!(cp.seq, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn checkpoint(&self, at: SystemTime) -> Option<Checkpoint> {
        let head = self.head()?;
        Some(Checkpoint::sign(&head, &self.key, &self.mac_key, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::parse_canonical;
    use crate::record::Outcome;
    use crate::signing::{mac_matches, record_mac};

    /// The key's state file follows the key only once the lines sealed under it are
    /// written: it is never ahead of the log, whatever the sealer has sealed.
    #[test]
    fn the_state_file_waits_for_the_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("writer.key");
        let (key, _) = SealingKey::generate("k1", 2).unwrap();
        let mut sealer = Sealer::new_chain(key)
            .unwrap()
            .persist_key_every(&path, Duration::ZERO)
            .unwrap();
        let record = || Record::new("auth.login", Outcome::Success, SystemTime::UNIX_EPOCH);
        for _ in 0..7 {
            sealer.seal(record().unwrap()).unwrap(); // seq 0..=6: epoch 3
        }
        sealer.sync_key_state().unwrap();
        assert_eq!(
            SealingKey::load(&path).unwrap().epoch(),
            0,
            "no line written yet"
        );
        sealer.lines_written().unwrap();
        sealer.sync_key_state().unwrap();
        assert_eq!(SealingKey::load(&path).unwrap().epoch(), 3);
        sealer.seal(record().unwrap()).unwrap(); // seq 7: still epoch 3
        sealer.lines_written().unwrap();
        sealer.seal(record().unwrap()).unwrap(); // seq 8: epoch 4
        drop(sealer); // not written: the file stays at epoch 3
        assert_eq!(SealingKey::load(&path).unwrap().epoch(), 3);
    }

    /// A key rotated in while lines sealed under the old one are not yet written is stored
    /// at the epoch of the first of them: if they are lost, a writer restarted from the log
    /// and the state file continues the chain with the new key (at a later epoch it could
    /// not go back, and the log could not be opened again).
    #[test]
    fn a_rotated_key_is_stored_where_the_log_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("writer.key");
        let (old, old_vk) = SealingKey::generate("k1", 2).unwrap();
        let (new, new_vk) = SealingKey::generate("k2", 2).unwrap();
        let mut sealer = Sealer::with_chain_id(old, "c1")
            .unwrap()
            .persist_key_every(&path, Duration::ZERO)
            .unwrap();
        let record = || Record::new("auth.login", Outcome::Success, SystemTime::UNIX_EPOCH);
        let mut log = Vec::new();
        for _ in 0..3 {
            log.push(sealer.seal(record().unwrap()).unwrap()); // seq 0..=2
        }
        sealer.lines_written().unwrap(); // seq 0..=2 are in the log
        for _ in 0..4 {
            sealer.seal(record().unwrap()).unwrap(); // seq 3..=6: never written (a crash)
        }
        sealer.rotate_key(new).unwrap();
        let stored = SealingKey::load(&path).unwrap();
        assert_eq!(
            (stored.kid(), stored.epoch()),
            ("k2", 1),
            "the epoch of seq 3"
        );
        // The writer restarts from the log (seq 0..=2) and the state file.
        let head = ChainHead {
            chain: "c1".into(),
            seq: 2,
            mac: log[2].mac.clone(),
        };
        let mut resumed = Sealer::resume(stored, &head).unwrap();
        for _ in 0..4 {
            log.push(resumed.seal(record().unwrap()).unwrap()); // seq 3..=6 under k2
        }
        let mut prev = ZERO_MAC.to_owned();
        for (seq, sealed) in (0u64..).zip(&log) {
            assert_eq!(sealed.seq, seq);
            let v = parse_canonical(sealed.line.trim_end()).unwrap();
            assert_eq!(
                v.get_path("audit.prev").unwrap().as_str(),
                Some(prev.as_str())
            );
            let vk = if seq < 3 { &old_vk } else { &new_vk };
            let mk = crate::keys::EpochCache::default()
                .mac_key(vk, seq / 2, 10)
                .unwrap();
            assert!(mac_matches(
                &record_mac(&mk, v.as_object().unwrap()),
                &sealed.mac
            ));
            prev = sealed.mac.clone();
        }
        // The sealer that rotated goes on under the new kid (seq 7, epoch 3).
        let mut sealer = sealer;
        let next = sealer.seal(record().unwrap()).unwrap();
        let v = parse_canonical(next.line.trim_end()).unwrap();
        assert_eq!(v.get_path("audit.kid").unwrap().as_str(), Some("k2"));
        let mk = crate::keys::EpochCache::default()
            .mac_key(&new_vk, 3, 10)
            .unwrap();
        assert!(mac_matches(
            &record_mac(&mk, v.as_object().unwrap()),
            &next.mac
        ));
        // Once written, the file follows the key to the epoch of the last line, as usual.
        sealer.lines_written().unwrap();
        sealer.sync_key_state().unwrap();
        assert_eq!(
            SealingKey::load(&path).unwrap().epoch(),
            3,
            "the epoch of seq 7"
        );
    }

    #[test]
    fn seal_links_and_signs() {
        let (sk, vk) = SealingKey::generate("k1", 2).unwrap();
        let mut s = Sealer::with_chain_id(sk, "c1").unwrap();
        let mut prev = ZERO_MAC.to_owned();
        for i in 0..5u64 {
            let r = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH).unwrap();
            let sealed = s.seal(r).unwrap();
            assert_eq!(sealed.seq, i);
            assert!(sealed.line.ends_with('\n'));
            let v = parse_canonical(sealed.line.trim_end()).unwrap();
            let obj = v.as_object().unwrap();
            assert_eq!(
                v.get_path("audit.prev").unwrap().as_str(),
                Some(prev.as_str())
            );
            let mk = crate::keys::EpochCache::default()
                .mac_key(&vk, i / 2, 10)
                .unwrap();
            assert!(mac_matches(&record_mac(&mk, obj), &sealed.mac));
            prev = sealed.mac;
        }
    }

    /// The sealer before it serialized once: the reference the single pass must match.
    fn reference_line(
        chain: &str,
        kid: &str,
        prev: &str,
        seq: u64,
        mk: &MacKey,
        mut body: Object,
    ) -> String {
        let mut audit = Object::with_capacity(6);
        audit.insert("chain", chain);
        audit.insert("kid", kid);
        audit.insert("prev", prev);
        audit.insert("seq", seq as i64);
        audit.insert("v", FORMAT_VERSION);
        body.insert("audit", audit);
        let mut value = Value::Object(body);
        let unsigned = value.to_canonical_string();
        let mac = crate::signing::encode_mac(&mk.mac(unsigned.as_bytes()));
        if let Some(audit) = value
            .as_object_mut()
            .and_then(|b| b.get_mut("audit"))
            .and_then(Value::as_object_mut)
        {
            audit.insert("mac", mac.as_str());
        }
        value.to_canonical_string() + "\n"
    }

    #[test]
    fn one_pass_sealing_matches_the_two_pass_reference() {
        let (sk, vk) = SealingKey::generate("k.1", 3).unwrap();
        let mut s = Sealer::with_chain_id(sk, "c-1").unwrap();
        let keys: &[&[&str]] = &[
            &[],
            &["a"],
            &["zz"],
            &["@timestamp", "event", "user"],
            &["aud", "audit", "auditx", "audit.x", "b"],
            &["audit"],
            &["Audit", "_", "AUDIT", "é", "\u{e000}", "😀", "au\"dit"],
            &["", "a\u{1}", "audit\u{0}", "audis", "audiu"],
        ];
        for (i, keys) in keys.iter().enumerate() {
            let mut body = Object::new();
            for (j, k) in keys.iter().enumerate() {
                body.insert(
                    *k,
                    if j % 2 == 0 {
                        Value::from("v\"\n")
                    } else {
                        Value::from(j as i64)
                    },
                );
            }
            if i == 5 {
                body.insert("audit", Value::from("replaced"));
            }
            let (chain, kid, prev, seq) = (
                s.chain.clone(),
                s.key.kid().to_owned(),
                s.prev.clone(),
                s.next_seq,
            );
            // The key the sealer will use for this seq.
            let mk = crate::keys::EpochCache::default()
                .mac_key(&vk, seq / 3, 100)
                .unwrap();
            let expected = reference_line(&chain, &kid, &prev, seq, &mk, body.clone());
            let sealed = s.seal_body(body).unwrap();
            assert_eq!(sealed.line, expected, "{keys:?}");
        }
    }

    #[test]
    fn resume_continues_and_refuses_bad_chain_ids() {
        let (sk, _) = SealingKey::generate("k1", 2).unwrap();
        let head = ChainHead {
            chain: "abc".into(),
            seq: 6,
            mac: "11".repeat(32),
        };
        let mut s = Sealer::resume(sk, &head).unwrap();
        assert_eq!(s.key().epoch(), 3);
        let sealed = s
            .seal(Record::new("a.b", Outcome::Success, std::time::UNIX_EPOCH).unwrap())
            .unwrap();
        assert_eq!(sealed.seq, 7);
        let (sk, _) = SealingKey::generate("k1", 2).unwrap();
        assert!(matches!(
            Sealer::with_chain_id(sk, "a b"),
            Err(SealError::InvalidChainId(_))
        ));
    }
}
