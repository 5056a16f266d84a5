//! Checkpoints: signed statements of a chain's head, published to a second place (a
//! witness) so that a cut-off tail or a rollback to an older copy of the log is caught.
//!
//! A keyed chain proves every record it contains, but not that nothing is missing *after*
//! the last one. A checkpoint says "chain C had reached seq S with head MAC H (S+1 records)
//! at time T"; the verifier checks the log against every checkpoint it is given.
//!
//! Line form (canonical JSON, one per line in a witness file):
//!
//! ```text
//! {"@timestamp":"…","checkpoint":{"chain":"…","count":N,"epoch":E,"head":"<64 hex>","kid":"…","seq":S,"v":1},"mac":"<64 hex>"}
//! ```
//!
//! `mac` is HMAC-SHA256 under the MAC key of epoch `E` of `kid` over the canonical JSON of
//! the object without `mac`; `E` must be at least `S / epoch_len`.
//!
//! ```
//! use audit_core::checkpoint::Checkpoint;
//! use audit_core::keys::{Keyring, SealingKey};
//! use audit_core::record::{Outcome, Record};
//! use audit_core::seal::Sealer;
//! let (sk, vk) = SealingKey::generate("k1", 8)?;
//! let mut sealer = Sealer::new_chain(sk)?;
//! sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
//! let cp = sealer.checkpoint(std::time::UNIX_EPOCH).unwrap();
//! let back = Checkpoint::parse_line(&cp.to_line())?;
//! back.verify(&Keyring::from(vk))?;
//! assert_eq!(back.seq, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::canonical::{self, Object, Value};
use crate::keys::{EpochCache, Keyring, MacKey, SealingKey};
use crate::seal::ChainHead;
use crate::signing::{decode_mac, encode_mac, mac_matches};

/// A signed chain head.
///
/// ```
/// use audit_core::{keys::SealingKey, seal::Sealer};
/// # use audit_core::record::{Outcome, Record};
/// let mut sealer = Sealer::with_chain_id(SealingKey::generate("k1", 1024)?.0, "c1")?;
/// for _ in 0..3 {
///     sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
/// }
/// let cp = sealer.checkpoint(std::time::UNIX_EPOCH).unwrap();
/// assert_eq!((cp.chain.as_str(), cp.seq, cp.count), ("c1", 2, 3));
/// assert_eq!(cp.head, sealer.head().unwrap().mac);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The chain id.
    pub chain: String,
    /// The seq of the head record.
    pub seq: u64,
    /// The head record's MAC.
    pub head: String,
    /// Records in the chain up to the head (`seq + 1`).
    pub count: u64,
    /// The key id that signed the checkpoint.
    pub kid: String,
    /// The epoch of the signing key.
    pub epoch: u64,
    /// When the checkpoint was made (RFC 3339 UTC).
    pub timestamp: String,
    /// The checkpoint's MAC.
    pub mac: String,
}

/// Why a checkpoint is not usable.
///
/// ```
/// use audit_core::checkpoint::{Checkpoint, CheckpointError};
/// use audit_core::keys::{Keyring, SealingKey};
/// # use audit_core::{record::{Outcome, Record}, seal::Sealer};
/// # let mut sealer = Sealer::new_chain(SealingKey::generate("k1", 1024)?.0)?;
/// # sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
/// let cp = sealer.checkpoint(std::time::UNIX_EPOCH).unwrap(); // signed with kid k1
/// let (_, other) = SealingKey::generate("k2", 1024)?;
/// let err = cp.verify(&Keyring::from(other)).unwrap_err();
/// assert!(matches!(err, CheckpointError::UnknownKey(kid) if kid == "k1"));
/// assert!(matches!(Checkpoint::parse_line("{}"), Err(CheckpointError::Malformed(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Not a checkpoint line.
    #[error("not a checkpoint: {0}")]
    Malformed(String),
    /// The kid is not in the keyring.
    #[error("checkpoint signed with unknown key id {0:?}")]
    UnknownKey(String),
    /// The MAC does not match.
    #[error("checkpoint for chain {chain} seq {seq} has a bad MAC: forged or altered")]
    BadMac {
        /// The chain.
        chain: String,
        /// The seq.
        seq: u64,
    },
    /// A witness file could not be read or written.
    #[error("witness file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl Checkpoint {
    pub(crate) fn sign(
        head: &ChainHead,
        key: &SealingKey,
        mac_key: &MacKey,
        at: SystemTime,
    ) -> Checkpoint {
        let mut cp = Checkpoint {
            chain: head.chain.clone(),
            seq: head.seq,
            head: head.mac.clone(),
            count: head.seq + 1,
            kid: key.kid().to_owned(),
            epoch: key.epoch(),
            timestamp: crate::time::format_timestamp(at),
            mac: String::new(),
        };
        cp.mac = encode_mac(&mac_key.mac(cp.unsigned().as_bytes()));
        cp
    }

    fn body(&self) -> Object {
        let mut inner = Object::with_capacity(7);
        inner.insert("chain", self.chain.as_str());
        inner.insert("count", self.count as i64);
        inner.insert("epoch", self.epoch as i64);
        inner.insert("head", self.head.as_str());
        inner.insert("kid", self.kid.as_str());
        inner.insert("seq", self.seq as i64);
        inner.insert("v", 1);
        let mut outer = Object::with_capacity(3);
        outer.insert("@timestamp", self.timestamp.as_str());
        outer.insert("checkpoint", inner);
        outer
    }

    fn unsigned(&self) -> String {
        Value::Object(self.body()).to_canonical_string()
    }

    /// The canonical line (without newline).
    ///
    /// ```
    /// # use audit_core::{keys::SealingKey, record::{Outcome, Record}, seal::Sealer};
    /// # let mut sealer = Sealer::new_chain(SealingKey::generate("k1", 1024)?.0)?;
    /// # sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// let cp = sealer.checkpoint(std::time::UNIX_EPOCH).unwrap();
    /// let line = cp.to_line();
    /// assert!(line.starts_with(r#"{"@timestamp":"1970-01-01T00:00:00.000000Z","checkpoint":{"#));
    /// assert!(line.ends_with(&format!(r#""mac":"{}"}}"#, cp.mac)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_line(&self) -> String {
        let mut body = self.body();
        body.insert("mac", self.mac.as_str());
        Value::Object(body).to_canonical_string()
    }

    /// Parse one witness line (strict canonical JSON).
    ///
    /// ```
    /// use audit_core::checkpoint::{Checkpoint, CheckpointError};
    /// # use audit_core::{keys::SealingKey, record::{Outcome, Record}, seal::Sealer};
    /// # let mut sealer = Sealer::new_chain(SealingKey::generate("k1", 1024)?.0)?;
    /// # sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// # let cp = sealer.checkpoint(std::time::UNIX_EPOCH).unwrap();
    /// let line = cp.to_line();
    /// assert_eq!(Checkpoint::parse_line(&line)?, cp);
    /// // Not canonical (a space after the first `{`): refused.
    /// let loose = line.replacen('{', "{ ", 1);
    /// assert!(matches!(Checkpoint::parse_line(&loose), Err(CheckpointError::Malformed(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse_line(line: &str) -> Result<Checkpoint, CheckpointError> {
        let bad = |m: &str| CheckpointError::Malformed(m.to_owned());
        let v = canonical::parse_canonical(line)
            .map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        let get_str = |p: &str| v.get_path(p).and_then(Value::as_str).map(str::to_owned);
        let get_u64 = |p: &str| {
            v.get_path(p)
                .and_then(Value::as_i64)
                .and_then(|i| u64::try_from(i).ok())
        };
        if v.get_path("checkpoint.v").and_then(Value::as_i64) != Some(1) {
            return Err(bad("checkpoint.v is not 1"));
        }
        let obj = v.as_object().ok_or_else(|| bad("not an object"))?;
        if obj.len() != 3
            || v.get_path("checkpoint")
                .and_then(Value::as_object)
                .map(Object::len)
                != Some(7)
        {
            return Err(bad("unexpected members"));
        }
        let cp = Checkpoint {
            chain: get_str("checkpoint.chain").ok_or_else(|| bad("checkpoint.chain missing"))?,
            seq: get_u64("checkpoint.seq").ok_or_else(|| bad("checkpoint.seq missing"))?,
            head: get_str("checkpoint.head").ok_or_else(|| bad("checkpoint.head missing"))?,
            count: get_u64("checkpoint.count").ok_or_else(|| bad("checkpoint.count missing"))?,
            kid: get_str("checkpoint.kid").ok_or_else(|| bad("checkpoint.kid missing"))?,
            epoch: get_u64("checkpoint.epoch").ok_or_else(|| bad("checkpoint.epoch missing"))?,
            timestamp: get_str("@timestamp").ok_or_else(|| bad("@timestamp missing"))?,
            mac: get_str("mac").ok_or_else(|| bad("mac missing"))?,
        };
        if decode_mac(&cp.head).is_none() || decode_mac(&cp.mac).is_none() {
            return Err(bad("head or mac is not 64 lowercase hex digits"));
        }
        if cp.count != cp.seq + 1 {
            return Err(bad("count is not seq + 1"));
        }
        if crate::keys::validate_kid(&cp.kid).is_err()
            || crate::seal::validate_chain_id(&cp.chain).is_err()
        {
            return Err(bad("kid or chain has characters the format does not allow"));
        }
        Ok(cp)
    }

    /// Check the checkpoint's MAC against a keyring.
    ///
    /// ```
    /// use audit_core::{checkpoint::CheckpointError, keys::{Keyring, SealingKey}};
    /// use audit_core::{record::{Outcome, Record}, seal::Sealer};
    /// let (sealing, verification) = SealingKey::generate("k1", 1024)?;
    /// let mut sealer = Sealer::new_chain(sealing)?;
    /// sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// let mut cp = sealer.checkpoint(std::time::UNIX_EPOCH).unwrap();
    /// let keyring = Keyring::from(verification);
    /// cp.verify(&keyring)?;
    /// cp.count += 1; // a checkpoint altered after it was signed
    /// assert!(matches!(cp.verify(&keyring), Err(CheckpointError::BadMac { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify(&self, keyring: &Keyring) -> Result<(), CheckpointError> {
        self.verify_cached(keyring, &mut EpochCache::default(), u64::MAX)
    }

    pub(crate) fn verify_cached(
        &self,
        keyring: &Keyring,
        cache: &mut EpochCache,
        max_epoch: u64,
    ) -> Result<(), CheckpointError> {
        let vk = keyring
            .get(&self.kid)
            .ok_or_else(|| CheckpointError::UnknownKey(self.kid.clone()))?;
        let bad = CheckpointError::BadMac {
            chain: self.chain.clone(),
            seq: self.seq,
        };
        if self.epoch < vk.epoch_of(self.seq) {
            return Err(bad);
        }
        let Some(mk) = cache.mac_key(vk, self.epoch, max_epoch) else {
            return Err(bad);
        };
        if mac_matches(&mk.mac(self.unsigned().as_bytes()), &self.mac) {
            Ok(())
        } else {
            Err(bad)
        }
    }
}

/// Read every checkpoint line of a witness file. Blank lines are skipped, and so is a
/// final line without its newline (an append interrupted by a crash); any other malformed
/// line is an error, since a witness someone edited cannot be trusted.
///
/// ```
/// use std::io::Write;
/// use audit_core::checkpoint::read_witness;
/// # use audit_core::{keys::SealingKey, record::{Outcome, Record}, seal::Sealer};
/// # let mut sealer = Sealer::new_chain(SealingKey::generate("k1", 1024)?.0)?;
/// # sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
/// # let cp = sealer.checkpoint(std::time::UNIX_EPOCH).unwrap();
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("witness.jsonl");
/// let mut file = std::fs::File::create(&path)?;
/// writeln!(file, "{}", cp.to_line())?;
/// write!(file, "{{\"@timestamp\":")?; // an append cut short by a crash
/// assert_eq!(read_witness(&path)?, [cp]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_witness(path: &Path) -> Result<Vec<Checkpoint>, CheckpointError> {
    let bytes = fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    })?;
    // A final line without its newline is an interrupted append (a crash): not a checkpoint.
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(i) => &bytes[..=i],
        None => &[][..],
    };
    let mut out = Vec::new();
    for (i, line) in complete.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            continue;
        }
        let text = std::str::from_utf8(line)
            .map_err(|_| CheckpointError::Malformed(format!("line {} is not UTF-8", i + 1)))?;
        let cp = Checkpoint::parse_line(text)
            .map_err(|e| CheckpointError::Malformed(format!("line {}: {e}", i + 1)))?;
        out.push(cp);
    }
    Ok(out)
}

/// Append one checkpoint to a witness file (created 0600), fsynced.
///
/// ```
/// use audit_core::checkpoint::{append_witness, read_witness};
/// # use audit_core::{keys::SealingKey, record::{Outcome, Record}, seal::Sealer};
/// # let mut sealer = Sealer::new_chain(SealingKey::generate("k1", 1024)?.0)?;
/// let dir = tempfile::tempdir()?;
/// let witness = dir.path().join("witness.jsonl");
/// for _ in 0..2 {
///     sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
///     append_witness(&witness, &sealer.checkpoint(std::time::UNIX_EPOCH).unwrap())?;
/// }
/// let seqs: Vec<u64> = read_witness(&witness)?.iter().map(|cp| cp.seq).collect();
/// assert_eq!(seqs, [0, 1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn append_witness(path: &Path, cp: &Checkpoint) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = crate::sink::open_options_private()
        .append(true)
        .create(true)
        .open(path)
        .map_err(io)?;
    let mut line = cp.to_line();
    line.push('\n');
    f.write_all(line.as_bytes()).map_err(io)?;
    f.sync_data().map_err(io)
}
