//! Key material.
//!
//! Two kinds of key exist, both named by a key id (`kid`):
//!
//! - the writer's [`SealingKey`]: the key of the *current epoch* only. It evolves one way
//!   (`K[e+1] = HMAC-SHA256(K[e], "audit-log/v1/evolve")`) and the previous epoch key is
//!   erased, so a thief who copies it at epoch `e` cannot forge or re-seal records of any
//!   earlier epoch (forward integrity, as in Schneier–Kelsey and journald's Forward Secure
//!   Sealing). It lives in a state file (mode 0600) that the writer rewrites on each evolution.
//! - the auditor's [`VerificationKey`]: the initial key `K[0]` of a kid and the epoch length.
//!   From it the verifier derives every epoch key. Keep it offline.
//!
//! Every record's epoch is `seq / epoch_len`, computed from the record's position in the
//! chain and the key's `epoch_len`, never read from a field the record claims.
//!
//! Key bytes are zeroized on drop and never printed: `Debug` shows the kid only.
//!
//! ```
//! use audit_core::keys::{Keyring, SealingKey};
//! let (sealing, verification) = SealingKey::generate("k1", 1024)?;
//! assert_eq!(format!("{sealing:?}"), r#"SealingKey { kid: "k1", epoch_len: 1024, epoch: 0, .. }"#);
//! let text = verification.to_text();
//! let mut ring = Keyring::new();
//! ring.add(text.parse()?)?;
//! assert!(ring.get("k1").is_some());
//! # Ok::<(), audit_core::keys::KeyError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The least number of key bytes accepted.
///
/// ```
/// use audit_core::keys::{KeyError, VerificationKey, MIN_KEY_BYTES};
/// let short = [0u8; MIN_KEY_BYTES - 1];
/// let err = VerificationKey::from_bytes("k1", 1024, &short).unwrap_err();
/// assert!(matches!(err, KeyError::TooShort { len: 31, .. }));
/// ```
pub const MIN_KEY_BYTES: usize = 32;
/// The default number of records per epoch.
///
/// ```
/// use audit_core::keys::{SealingKey, DEFAULT_EPOCH_LEN};
/// let (sealing, _) = SealingKey::generate("k1", DEFAULT_EPOCH_LEN)?;
/// assert_eq!(sealing.epoch_of(DEFAULT_EPOCH_LEN - 1), 0);
/// assert_eq!(sealing.epoch_of(DEFAULT_EPOCH_LEN), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const DEFAULT_EPOCH_LEN: u64 = 1024;
/// Prefix of a verification key's text form.
///
/// ```
/// use audit_core::keys::{SealingKey, VERIFICATION_PREFIX};
/// let (_, verification) = SealingKey::generate("k1", 1024)?;
/// assert!(verification.to_text().starts_with(VERIFICATION_PREFIX));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const VERIFICATION_PREFIX: &str = "audit-vk-v1";
/// Prefix of a sealing key's text form (the writer's state file).
///
/// ```
/// use audit_core::keys::{KeyError, SealingKey, SEALING_PREFIX};
/// let (sealing, verification) = SealingKey::generate("k1", 1024)?;
/// assert!(sealing.to_text().starts_with(SEALING_PREFIX));
/// // A verification key's text cannot be read as a sealing key.
/// let err = verification.to_text().parse::<SealingKey>().unwrap_err();
/// assert!(matches!(err, KeyError::Malformed { what: "sealing key", .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const SEALING_PREFIX: &str = "audit-sk-v1";

const EVOLVE_LABEL: &[u8] = b"audit-log/v1/evolve";
const MAC_LABEL: &[u8] = b"audit-log/v1/mac";

type HmacSha256 = Hmac<Sha256>;

/// Everything that can go wrong with keys.
///
/// ```
/// use audit_core::keys::{KeyError, VerificationKey};
/// let err = "audit-vk-v1:k1:1024".parse::<VerificationKey>().unwrap_err();
/// assert!(matches!(err, KeyError::Malformed { reason: "the key bytes are missing", .. }));
/// assert!(err.to_string().contains("expected `audit-vk-v1:<kid>:<epoch_len>:"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Fewer than [`MIN_KEY_BYTES`] bytes of key.
    #[error("key {kid:?} has {len} bytes; at least {MIN_KEY_BYTES} random bytes are required (generate one with `audit-log keygen`)")]
    TooShort {
        /// The key id.
        kid: String,
        /// The number of bytes found.
        len: usize,
    },
    /// A kid with characters outside `A-Z a-z 0-9 . _ -` or longer than 64.
    #[error("invalid key id {0:?}: use 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'")]
    InvalidKid(String),
    /// The epoch length is zero or above 2^32.
    #[error("invalid epoch length {0}: it must be between 1 and 4294967296 records")]
    InvalidEpochLen(u64),
    /// The text form does not parse.
    #[error("malformed {what}: {reason} (expected `{expected}`)")]
    Malformed {
        /// Which kind of key text.
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
        /// The expected shape.
        expected: &'static str,
    },
    /// Reading or writing a key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A sealing key file readable by group or others.
    #[error("key file {path} has mode {mode:o}; a sealing key must be readable by its owner only (chmod 600)")]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The environment variable is not set or not UTF-8.
    #[error("environment variable {0} is not set (or not valid UTF-8)")]
    MissingEnv(String),
    /// The writer asked for an epoch before the one it holds: forward integrity forbids it.
    #[error("sealing key {kid:?} is at epoch {have} and cannot go back to epoch {want}; the log is behind its key (was it rolled back?)")]
    EpochBehind {
        /// The key id.
        kid: String,
        /// The epoch held.
        have: u64,
        /// The epoch asked for.
        want: u64,
    },
    /// Two verification keys with one kid and different bytes.
    #[error("keyring already holds a different key with id {0:?}")]
    DuplicateKid(String),
    /// No random bytes could be had from the OS.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

/// Check a key id.
///
/// ```
/// use audit_core::keys::{validate_kid, KeyError};
/// assert!(validate_kid("2024-q1.writer_a").is_ok());
/// assert!(matches!(validate_kid("k 1"), Err(KeyError::InvalidKid(_))));
/// assert!(matches!(validate_kid(""), Err(KeyError::InvalidKid(_))));
/// ```
pub fn validate_kid(kid: &str) -> Result<(), KeyError> {
    let ok = !kid.is_empty()
        && kid.len() <= 64
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(KeyError::InvalidKid(kid.to_owned()))
    }
}

fn validate_epoch_len(n: u64) -> Result<(), KeyError> {
    if n == 0 || n > 1 << 32 {
        return Err(KeyError::InvalidEpochLen(n));
    }
    Ok(())
}

fn hmac(key: &[u8], data: &[u8]) -> Zeroizing<Vec<u8>> {
    // new_from_slice accepts keys of any length.
    let mut m = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(data);
    Zeroizing::new(m.finalize().into_bytes().to_vec())
}

/// `K[e+1] = HMAC-SHA256(K[e], "audit-log/v1/evolve")`.
fn evolve(key: &[u8]) -> Zeroizing<Vec<u8>> {
    hmac(key, EVOLVE_LABEL)
}

/// A keyed HMAC-SHA256 state for one epoch, ready to MAC records (the key schedule is
/// computed once). Debug shows nothing of the key.
///
/// ```
/// use audit_core::keys::SealingKey;
/// let (sealing, _) = SealingKey::generate("k1", 1024)?;
/// let key = sealing.mac_key();
/// assert_eq!(format!("{key:?}"), "MacKey(..)");
/// # Ok::<(), audit_core::keys::KeyError>(())
/// ```
#[derive(Clone)]
pub struct MacKey {
    state: HmacSha256,
}

impl MacKey {
    /// `M[e] = HMAC-SHA256(K[e], "audit-log/v1/mac")`, keyed.
    fn for_epoch_key(epoch_key: &[u8]) -> MacKey {
        let m = hmac(epoch_key, MAC_LABEL);
        MacKey {
            state: HmacSha256::new_from_slice(&m).unwrap_or_else(|_| unreachable!()),
        }
    }

    /// HMAC-SHA256 of `data` under this key.
    ///
    /// ```
    /// # let (sealing, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let key = sealing.mac_key();
    /// assert_eq!(key.mac(b"record"), sealing.mac_key().mac(b"record"));
    /// assert_ne!(key.mac(b"record"), key.mac(b"other record"));
    /// # Ok::<(), audit_core::keys::KeyError>(())
    /// ```
    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        let mut m = self.state.clone();
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// HMAC-SHA256 of the concatenation of `parts` (no copy is made).
    pub(crate) fn mac_parts(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = self.state.clone();
        for part in parts {
            m.update(part);
        }
        m.finalize().into_bytes().into()
    }
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey(..)")
    }
}

fn random_bytes(n: usize) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let mut buf = Zeroizing::new(vec![0u8; n]);
    getrandom::fill(&mut buf).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(buf)
}

/// A fresh random chain id: 16 random bytes as 32 lowercase hex digits.
///
/// ```
/// use audit_core::keys::random_chain_id;
/// let chain = random_chain_id()?;
/// assert_eq!(chain.len(), 32);
/// assert!(chain.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
/// assert_ne!(chain, random_chain_id()?);
/// # Ok::<(), audit_core::keys::KeyError>(())
/// ```
pub fn random_chain_id() -> Result<String, KeyError> {
    Ok(hex::encode(&*random_bytes(16)?))
}

fn decode_key_hex(
    kid: &str,
    hex_text: &str,
    what: &'static str,
    expected: &'static str,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let bytes = Zeroizing::new(hex::decode(hex_text).map_err(|_| KeyError::Malformed {
        what,
        reason: "the key is not hex",
        expected,
    })?);
    if bytes.len() < MIN_KEY_BYTES {
        return Err(KeyError::TooShort {
            kid: kid.to_owned(),
            len: bytes.len(),
        });
    }
    Ok(bytes)
}

/// The auditor's key for one kid: `K[0]` and the epoch length. Derives every epoch's MAC key.
///
/// ```
/// use audit_core::keys::{SealingKey, VerificationKey};
/// let (_, verification) = SealingKey::generate("k1", 1024)?;
/// let read_back: VerificationKey = verification.to_text().parse()?;
/// // Debug shows the kid and epoch length, never the key.
/// assert_eq!(format!("{read_back:?}"), r#"VerificationKey { kid: "k1", epoch_len: 1024, .. }"#);
/// # Ok::<(), audit_core::keys::KeyError>(())
/// ```
#[derive(Clone)]
pub struct VerificationKey {
    kid: String,
    epoch_len: u64,
    initial: Zeroizing<Vec<u8>>,
}

const VK_EXPECTED: &str = "audit-vk-v1:<kid>:<epoch_len>:<hex key of 32+ bytes>";
const SK_EXPECTED: &str = "audit-sk-v1:<kid>:<epoch_len>:<epoch>:<hex key of 32+ bytes>";

impl VerificationKey {
    /// A verification key from raw bytes (at least 32).
    ///
    /// ```
    /// use audit_core::keys::{KeyError, VerificationKey};
    /// # let initial = [0x5a_u8; 32]; // a real key is random: see `SealingKey::generate`
    /// let key = VerificationKey::from_bytes("k1", 1024, &initial)?;
    /// assert_eq!(key.kid(), "k1");
    /// let err = VerificationKey::from_bytes("k1", 0, &initial).unwrap_err();
    /// assert!(matches!(err, KeyError::InvalidEpochLen(0)));
    /// # Ok::<(), KeyError>(())
    /// ```
    pub fn from_bytes(kid: &str, epoch_len: u64, initial: &[u8]) -> Result<Self, KeyError> {
        validate_kid(kid)?;
        validate_epoch_len(epoch_len)?;
        if initial.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort {
                kid: kid.to_owned(),
                len: initial.len(),
            });
        }
        Ok(VerificationKey {
            kid: kid.to_owned(),
            epoch_len,
            initial: Zeroizing::new(initial.to_vec()),
        })
    }

    /// The key id.
    ///
    /// ```
    /// use audit_core::keys::{Keyring, SealingKey};
    /// let (_, verification) = SealingKey::generate("auditor-1", 1024)?;
    /// assert_eq!(verification.kid(), "auditor-1");
    /// assert!(Keyring::from(verification).get("auditor-1").is_some()); // keyrings index by kid
    /// # Ok::<(), audit_core::keys::KeyError>(())
    /// ```
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Records per epoch.
    ///
    /// ```
    /// let (_, verification) = audit_core::keys::SealingKey::generate("k1", 16)?;
    /// assert_eq!(verification.epoch_len(), 16);
    /// # Ok::<(), audit_core::keys::KeyError>(())
    /// ```
    pub fn epoch_len(&self) -> u64 {
        self.epoch_len
    }

    /// The epoch of the record at `seq`.
    ///
    /// ```
    /// let (_, verification) = audit_core::keys::SealingKey::generate("k1", 16)?;
    /// assert_eq!(verification.epoch_of(15), 0);
    /// assert_eq!(verification.epoch_of(16), 1);
    /// # Ok::<(), audit_core::keys::KeyError>(())
    /// ```
    pub fn epoch_of(&self, seq: u64) -> u64 {
        seq / self.epoch_len
    }

    /// The epoch key `K[epoch]` (cost: `epoch` HMACs; the verifier caches).
    pub(crate) fn epoch_key(&self, epoch: u64) -> Zeroizing<Vec<u8>> {
        let mut k = self.initial.clone();
        for _ in 0..epoch {
            k = evolve(&k);
        }
        k
    }

    /// The sealing key a writer starts from (epoch 0).
    ///
    /// ```
    /// let (sealing, verification) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let restarted = verification.to_sealing_key();
    /// assert_eq!((restarted.kid(), restarted.epoch()), ("k1", 0));
    /// assert_eq!(restarted.mac_key().mac(b"record"), sealing.mac_key().mac(b"record"));
    /// # Ok::<(), audit_core::keys::KeyError>(())
    /// ```
    pub fn to_sealing_key(&self) -> SealingKey {
        SealingKey {
            kid: self.kid.clone(),
            epoch_len: self.epoch_len,
            epoch: 0,
            key: self.initial.clone(),
        }
    }

    /// The text form `audit-vk-v1:<kid>:<epoch_len>:<hex>`. Handle it as a secret.
    ///
    /// ```
    /// use audit_core::keys::{SealingKey, VerificationKey};
    /// let (_, verification) = SealingKey::generate("k1", 1024)?;
    /// let text = verification.to_text(); // a secret: store it offline, never log it
    /// assert!(text.starts_with("audit-vk-v1:k1:1024:"));
    /// let read_back: VerificationKey = text.parse()?;
    /// assert_eq!((read_back.kid(), read_back.epoch_len()), ("k1", 1024));
    /// # Ok::<(), audit_core::keys::KeyError>(())
    /// ```
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{VERIFICATION_PREFIX}:{}:{}:{}",
            self.kid,
            self.epoch_len,
            hex::encode(&*self.initial)
        ))
    }
}

impl std::str::FromStr for VerificationKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let malformed = |reason| KeyError::Malformed {
            what: "verification key",
            reason,
            expected: VK_EXPECTED,
        };
        let mut parts = s.trim().split(':');
        if parts.next() != Some(VERIFICATION_PREFIX) {
            return Err(malformed("it does not start with audit-vk-v1:"));
        }
        let kid = parts.next().ok_or(malformed("the key id is missing"))?;
        validate_kid(kid)?;
        let epoch_len: u64 = parts
            .next()
            .ok_or(malformed("the epoch length is missing"))?
            .parse()
            .map_err(|_| malformed("the epoch length is not a number"))?;
        let hex_text = parts.next().ok_or(malformed("the key bytes are missing"))?;
        if parts.next().is_some() {
            return Err(malformed("too many ':'-separated parts"));
        }
        let bytes = decode_key_hex(kid, hex_text, "verification key", VK_EXPECTED)?;
        VerificationKey::from_bytes(kid, epoch_len, &bytes)
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("epoch_len", &self.epoch_len)
            .finish_non_exhaustive()
    }
}

/// The writer's key: the current epoch key of one kid. Evolves forward only.
///
/// ```
/// use audit_core::keys::SealingKey;
/// let (sealing, _) = SealingKey::generate("k1", 1024)?;
/// let text = sealing.to_text();
/// let key_hex = text.rsplit(':').next().unwrap();
/// // Debug shows the kid, epoch length and epoch, never the key bytes.
/// assert!(!format!("{sealing:?}").contains(key_hex));
/// # Ok::<(), audit_core::keys::KeyError>(())
/// ```
pub struct SealingKey {
    kid: String,
    epoch_len: u64,
    epoch: u64,
    key: Zeroizing<Vec<u8>>,
}

impl SealingKey {
    /// Generate a new random 32-byte key: returns the writer's sealing key (epoch 0) and the
    /// auditor's verification key.
    ///
    /// ```
    /// use audit_core::keys::{KeyError, SealingKey};
    /// let (sealing, verification) = SealingKey::generate("k1", 1024)?;
    /// assert_eq!((sealing.kid(), sealing.epoch()), (verification.kid(), 0));
    /// assert!(matches!(SealingKey::generate("k 1", 1024), Err(KeyError::InvalidKid(_))));
    /// # Ok::<(), KeyError>(())
    /// ```
    pub fn generate(kid: &str, epoch_len: u64) -> Result<(SealingKey, VerificationKey), KeyError> {
        let bytes = random_bytes(32)?;
        let vk = VerificationKey::from_bytes(kid, epoch_len, &bytes)?;
        Ok((vk.to_sealing_key(), vk))
    }

    /// The key id.
    ///
    /// ```
    /// let (sealing, _) = audit_core::keys::SealingKey::generate("writer-1", 1024)?;
    /// assert_eq!(sealing.kid(), "writer-1");
    /// # Ok::<(), audit_core::keys::KeyError>(())
    /// ```
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Records per epoch.
    ///
    /// ```
    /// let (sealing, _) = audit_core::keys::SealingKey::generate("k1", 16)?;
    /// assert_eq!(sealing.epoch_len(), 16);
    /// # Ok::<(), audit_core::keys::KeyError>(())
    /// ```
    pub fn epoch_len(&self) -> u64 {
        self.epoch_len
    }

    /// The epoch whose key this is.
    ///
    /// ```
    /// let (mut sealing, _) = audit_core::keys::SealingKey::generate("k1", 16)?;
    /// assert_eq!(sealing.epoch(), 0);
    /// sealing.advance_to(2)?;
    /// assert_eq!(sealing.epoch(), 2);
    /// # Ok::<(), audit_core::keys::KeyError>(())
    /// ```
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The epoch of the record at `seq`.
    ///
    /// ```
    /// let (sealing, _) = audit_core::keys::SealingKey::generate("k1", 4)?;
    /// assert_eq!(sealing.epoch_of(3), 0);
    /// assert_eq!(sealing.epoch_of(4), 1);
    /// # Ok::<(), audit_core::keys::KeyError>(())
    /// ```
    pub fn epoch_of(&self, seq: u64) -> u64 {
        seq / self.epoch_len
    }

    /// Evolve forward to `epoch`, erasing every earlier epoch key. Returns whether the key
    /// changed (then a persisted state file must be rewritten).
    ///
    /// ```
    /// use audit_core::keys::{KeyError, SealingKey};
    /// let (mut sealing, _) = SealingKey::generate("k1", 4)?;
    /// assert!(sealing.advance_to(3)?); // changed: rewrite the state file
    /// assert!(!sealing.advance_to(3)?);
    /// let err = sealing.advance_to(2).unwrap_err();
    /// assert!(matches!(err, KeyError::EpochBehind { have: 3, want: 2, .. }));
    /// # Ok::<(), KeyError>(())
    /// ```
    pub fn advance_to(&mut self, epoch: u64) -> Result<bool, KeyError> {
        if epoch < self.epoch {
            return Err(KeyError::EpochBehind {
                kid: self.kid.clone(),
                have: self.epoch,
                want: epoch,
            });
        }
        let changed = epoch > self.epoch;
        while self.epoch < epoch {
            self.key = evolve(&self.key); // the old Zeroizing buffer is wiped on drop
            self.epoch += 1;
        }
        Ok(changed)
    }

    /// The MAC key of the current epoch.
    ///
    /// ```
    /// let (mut sealing, verification) = audit_core::keys::SealingKey::generate("k1", 4)?;
    /// let epoch_0 = sealing.mac_key().mac(b"record");
    /// assert_eq!(verification.to_sealing_key().mac_key().mac(b"record"), epoch_0);
    /// sealing.advance_to(1)?;
    /// assert_ne!(sealing.mac_key().mac(b"record"), epoch_0);
    /// # Ok::<(), audit_core::keys::KeyError>(())
    /// ```
    pub fn mac_key(&self) -> MacKey {
        MacKey::for_epoch_key(&self.key)
    }

    /// The text form `audit-sk-v1:<kid>:<epoch_len>:<epoch>:<hex>`. Handle it as a secret.
    ///
    /// ```
    /// use audit_core::keys::SealingKey;
    /// let (mut sealing, _) = SealingKey::generate("k1", 1024)?;
    /// sealing.advance_to(3)?;
    /// let text = sealing.to_text(); // a secret: the writer's state file holds it
    /// assert!(text.starts_with("audit-sk-v1:k1:1024:3:"));
    /// let read_back: SealingKey = text.parse()?;
    /// assert_eq!(read_back.mac_key().mac(b"record"), sealing.mac_key().mac(b"record"));
    /// # Ok::<(), audit_core::keys::KeyError>(())
    /// ```
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{SEALING_PREFIX}:{}:{}:{}:{}",
            self.kid,
            self.epoch_len,
            self.epoch,
            hex::encode(&*self.key)
        ))
    }

    /// Read a sealing key from the environment variable `var` (its text form). A key from the
    /// environment evolves in memory only: the variable keeps the old key, so prefer a state
    /// file where forward integrity across restarts matters.
    ///
    /// ```
    /// use audit_core::keys::{KeyError, SealingKey};
    /// # let (key, _) = SealingKey::generate("k1", 1024)?;
    /// # std::env::set_var("DOC_AUDIT_SEALING_KEY", key.to_text().as_str());
    /// // DOC_AUDIT_SEALING_KEY holds a sealing key's text form.
    /// let sealing = SealingKey::from_env("DOC_AUDIT_SEALING_KEY")?;
    /// assert_eq!(sealing.kid(), "k1");
    /// let err = SealingKey::from_env("DOC_AUDIT_UNSET").unwrap_err();
    /// assert!(matches!(err, KeyError::MissingEnv(_)));
    /// # Ok::<(), KeyError>(())
    /// ```
    pub fn from_env(var: &str) -> Result<SealingKey, KeyError> {
        let text =
            Zeroizing::new(std::env::var(var).map_err(|_| KeyError::MissingEnv(var.to_owned()))?);
        text.parse()
    }

    /// Load the writer's state file. Refuses a file readable by group or others.
    ///
    /// ```
    /// use audit_core::keys::{KeyError, SealingKey};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("writer.key");
    /// # let (key, _) = SealingKey::generate("k1", 1024)?;
    /// # key.store(&path)?;
    /// assert_eq!(SealingKey::load(&path)?.kid(), "k1");
    /// #[cfg(unix)]
    /// {
    ///     use std::os::unix::fs::PermissionsExt;
    ///     std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
    ///     let err = SealingKey::load(&path).unwrap_err();
    ///     assert!(matches!(err, KeyError::InsecurePermissions { mode: 0o644, .. }));
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load(path: &Path) -> Result<SealingKey, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let meta = fs::metadata(path).map_err(io)?;
        check_private(path, &meta)?;
        let text = Zeroizing::new(fs::read_to_string(path).map_err(io)?);
        text.parse()
    }

    /// Write the state file atomically (temporary file, fsync, rename, fsync of the
    /// directory), mode 0600.
    ///
    /// ```
    /// use audit_core::keys::SealingKey;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("writer.key");
    /// let (mut sealing, _) = SealingKey::generate("k1", 1024)?;
    /// sealing.advance_to(1)?;
    /// sealing.store(&path)?;
    /// assert_eq!(SealingKey::load(&path)?.epoch(), 1);
    /// #[cfg(unix)]
    /// {
    ///     use std::os::unix::fs::PermissionsExt;
    ///     assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn store(&self, path: &Path) -> Result<(), KeyError> {
        write_private_atomic(path, self.to_text().as_bytes())
    }
}

impl std::str::FromStr for SealingKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let malformed = |reason| KeyError::Malformed {
            what: "sealing key",
            reason,
            expected: SK_EXPECTED,
        };
        let mut parts = s.trim().split(':');
        if parts.next() != Some(SEALING_PREFIX) {
            return Err(malformed(
                "it does not start with audit-sk-v1: (a verification key cannot seal)",
            ));
        }
        let kid = parts.next().ok_or(malformed("the key id is missing"))?;
        validate_kid(kid)?;
        let epoch_len: u64 = parts
            .next()
            .ok_or(malformed("the epoch length is missing"))?
            .parse()
            .map_err(|_| malformed("the epoch length is not a number"))?;
        validate_epoch_len(epoch_len)?;
        let epoch: u64 = parts
            .next()
            .ok_or(malformed("the epoch is missing"))?
            .parse()
            .map_err(|_| malformed("the epoch is not a number"))?;
        let hex_text = parts.next().ok_or(malformed("the key bytes are missing"))?;
        if parts.next().is_some() {
            return Err(malformed("too many ':'-separated parts"));
        }
        let key = decode_key_hex(kid, hex_text, "sealing key", SK_EXPECTED)?;
        Ok(SealingKey {
            kid: kid.to_owned(),
            epoch_len,
            epoch,
            key,
        })
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKey")
            .field("kid", &self.kid)
            .field("epoch_len", &self.epoch_len)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &fs::Metadata) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::InsecurePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &fs::Metadata) -> Result<(), KeyError> {
    Ok(())
}

/// Create or replace `path` atomically with `bytes`, mode 0600.
pub(crate) fn write_private_atomic(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let mut tmp_name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    // Unique per process, so two processes replacing the same file never share a temp file.
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let _ = fs::remove_file(&tmp);
    let mut f = crate::sink::open_options_private()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.write_all(b"\n").map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    fs::rename(&tmp, path).map_err(io)?;
    crate::sink::sync_parent_dir(path).map_err(io)?;
    Ok(())
}

/// Verification keys by kid.
///
/// ```
/// use audit_core::keys::{Keyring, SealingKey};
/// let (_, verification) = SealingKey::generate("k1", 1024)?;
/// let ring = Keyring::from(verification);
/// assert!(ring.get("k1").is_some());
/// // Debug shows kids, never key bytes.
/// assert!(format!("{ring:?}").contains(r#"kid: "k1""#));
/// # Ok::<(), audit_core::keys::KeyError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    keys: BTreeMap<String, VerificationKey>,
}

impl Keyring {
    /// An empty keyring.
    ///
    /// ```
    /// let ring = audit_core::keys::Keyring::new();
    /// assert!(ring.is_empty());
    /// ```
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// Add a key; a second, different key with the same kid is refused.
    ///
    /// ```
    /// use audit_core::keys::{KeyError, Keyring, SealingKey};
    /// let (_, first) = SealingKey::generate("k1", 1024)?;
    /// let (_, other) = SealingKey::generate("k1", 1024)?;
    /// let mut ring = Keyring::new();
    /// ring.add(first.clone())?;
    /// ring.add(first)?; // the same key again: accepted
    /// assert!(matches!(ring.add(other), Err(KeyError::DuplicateKid(kid)) if kid == "k1"));
    /// # Ok::<(), KeyError>(())
    /// ```
    pub fn add(&mut self, key: VerificationKey) -> Result<(), KeyError> {
        if let Some(old) = self.keys.get(&key.kid) {
            if old.initial != key.initial || old.epoch_len != key.epoch_len {
                return Err(KeyError::DuplicateKid(key.kid));
            }
            return Ok(());
        }
        self.keys.insert(key.kid.clone(), key);
        Ok(())
    }

    /// The key with this kid.
    ///
    /// ```
    /// use audit_core::keys::{Keyring, SealingKey};
    /// let (_, verification) = SealingKey::generate("k1", 16)?;
    /// let ring = Keyring::from(verification);
    /// assert_eq!(ring.get("k1").map(|k| k.epoch_len()), Some(16));
    /// assert!(ring.get("k2").is_none());
    /// # Ok::<(), audit_core::keys::KeyError>(())
    /// ```
    pub fn get(&self, kid: &str) -> Option<&VerificationKey> {
        self.keys.get(kid)
    }

    /// The kids held.
    ///
    /// ```
    /// use audit_core::keys::{Keyring, SealingKey};
    /// let mut ring = Keyring::new();
    /// for kid in ["k2", "k1"] {
    ///     ring.add(SealingKey::generate(kid, 1024)?.1)?;
    /// }
    /// assert_eq!(ring.kids().collect::<Vec<_>>(), ["k1", "k2"]);
    /// # Ok::<(), audit_core::keys::KeyError>(())
    /// ```
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Whether the ring is empty.
    ///
    /// ```
    /// use audit_core::keys::{Keyring, SealingKey};
    /// let mut ring = Keyring::new();
    /// assert!(ring.is_empty());
    /// ring.add(SealingKey::generate("k1", 1024)?.1)?;
    /// assert!(!ring.is_empty());
    /// # Ok::<(), audit_core::keys::KeyError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Parse a keyring text: one verification key per line; blank lines and lines starting
    /// with `#` are ignored.
    ///
    /// ```
    /// use audit_core::keys::{KeyError, Keyring, SealingKey};
    /// # let (_, verification) = SealingKey::generate("k1", 1024)?;
    /// let text = format!("# auditors' keys\n\n{}\n", verification.to_text().as_str());
    /// let ring = Keyring::parse(&text)?;
    /// assert_eq!(ring.kids().collect::<Vec<_>>(), ["k1"]);
    /// let err = Keyring::parse("audit-vk-v1:k1:1024:not-hex").unwrap_err();
    /// assert!(matches!(err, KeyError::Malformed { .. }));
    /// # Ok::<(), KeyError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Keyring, KeyError> {
        let mut ring = Keyring::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            ring.add(line.parse()?)?;
        }
        Ok(ring)
    }

    /// Load a keyring file (see [`Keyring::parse`]).
    ///
    /// ```
    /// use audit_core::keys::{KeyError, Keyring, SealingKey};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("auditors.keys");
    /// # let (_, verification) = SealingKey::generate("k1", 1024)?;
    /// # std::fs::write(&path, verification.to_text().as_bytes())?;
    /// assert!(Keyring::load(&path)?.get("k1").is_some());
    /// let err = Keyring::load(&dir.path().join("missing.keys")).unwrap_err();
    /// assert!(matches!(err, KeyError::Io { .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load(path: &Path) -> Result<Keyring, KeyError> {
        let text = Zeroizing::new(fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })?);
        Keyring::parse(&text)
    }

    /// Read a keyring from an environment variable (keys separated by newlines or `,`).
    ///
    /// ```
    /// use audit_core::keys::{Keyring, SealingKey};
    /// # let (_, k1) = SealingKey::generate("k1", 1024)?;
    /// # let (_, k2) = SealingKey::generate("k2", 1024)?;
    /// # let value = format!("{},{}", k1.to_text().as_str(), k2.to_text().as_str());
    /// # std::env::set_var("DOC_AUDIT_KEYRING", value);
    /// // DOC_AUDIT_KEYRING holds two verification keys, separated by a comma.
    /// let ring = Keyring::from_env("DOC_AUDIT_KEYRING")?;
    /// assert_eq!(ring.kids().collect::<Vec<_>>(), ["k1", "k2"]);
    /// # Ok::<(), audit_core::keys::KeyError>(())
    /// ```
    pub fn from_env(var: &str) -> Result<Keyring, KeyError> {
        let text =
            Zeroizing::new(std::env::var(var).map_err(|_| KeyError::MissingEnv(var.to_owned()))?);
        Keyring::parse(&text.replace(',', "\n"))
    }
}

impl From<VerificationKey> for Keyring {
    fn from(k: VerificationKey) -> Keyring {
        let mut ring = Keyring::new();
        ring.keys.insert(k.kid.clone(), k);
        ring
    }
}

/// Caches the newest derived epoch key per kid so that a verifier walking a chain forward
/// evolves each key once per epoch.
#[derive(Default)]
pub(crate) struct EpochCache {
    entries: BTreeMap<String, (u64, Zeroizing<Vec<u8>>, MacKey)>,
}

impl EpochCache {
    /// The MAC key of `epoch`, or `None` when `epoch` is above `max_epoch` (deriving it
    /// would take unbounded work: a forged seq or epoch must not hang the verifier).
    pub(crate) fn mac_key(
        &mut self,
        vk: &VerificationKey,
        epoch: u64,
        max_epoch: u64,
    ) -> Option<MacKey> {
        if epoch > max_epoch {
            return None;
        }
        if let Some((e, k, mk)) = self.entries.get_mut(&vk.kid) {
            if *e == epoch {
                return Some(mk.clone());
            }
            if *e < epoch {
                while *e < epoch {
                    *k = evolve(k);
                    *e += 1;
                }
                *mk = MacKey::for_epoch_key(k);
                return Some(mk.clone());
            }
        }
        let k = vk.epoch_key(epoch);
        let mk = MacKey::for_epoch_key(&k);
        self.entries.insert(vk.kid.clone(), (epoch, k, mk.clone()));
        Some(mk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_debug_hides_key() {
        let (sk, vk) = SealingKey::generate("k-1.a_b", 16).unwrap();
        let vk2: VerificationKey = vk.to_text().parse().unwrap();
        assert_eq!(vk2.initial, vk.initial);
        let sk2: SealingKey = sk.to_text().parse().unwrap();
        assert_eq!(sk2.key, sk.key);
        let hex_key = hex::encode(&*vk.initial);
        assert!(!format!("{vk:?}{sk:?}{:?}", sk.mac_key()).contains(&hex_key[..16]));
    }

    #[test]
    fn short_and_malformed_keys_are_refused_specifically() {
        let short = format!("audit-vk-v1:k1:16:{}", "ab".repeat(31));
        assert!(matches!(
            short.parse::<VerificationKey>(),
            Err(KeyError::TooShort { len: 31, .. })
        ));
        assert!(matches!(
            "audit-vk-v1:k 1:16:00".parse::<VerificationKey>(),
            Err(KeyError::InvalidKid(_))
        ));
        assert!(matches!(
            "nope".parse::<VerificationKey>(),
            Err(KeyError::Malformed { .. })
        ));
        let bad_hex = format!("audit-vk-v1:k1:16:{}", "zz".repeat(32));
        assert!(matches!(
            bad_hex.parse::<VerificationKey>(),
            Err(KeyError::Malformed { .. })
        ));
        let zero = format!("audit-vk-v1:k1:0:{}", "ab".repeat(32));
        assert!(matches!(
            zero.parse::<VerificationKey>(),
            Err(KeyError::InvalidEpochLen(0))
        ));
        let (_, vk) = SealingKey::generate("k1", 16).unwrap();
        assert!(matches!(
            vk.to_text().parse::<SealingKey>(),
            Err(KeyError::Malformed { .. })
        ));
    }

    #[test]
    fn evolution_is_forward_only_and_matches_the_verifier() {
        let (mut sk, vk) = SealingKey::generate("k1", 4).unwrap();
        assert!(sk.advance_to(3).unwrap());
        assert!(!sk.advance_to(3).unwrap());
        assert!(matches!(
            sk.advance_to(2),
            Err(KeyError::EpochBehind {
                have: 3,
                want: 2,
                ..
            })
        ));
        assert_eq!(
            sk.mac_key().mac(b"x"),
            MacKey::for_epoch_key(&vk.epoch_key(3)).mac(b"x")
        );
        assert_ne!(
            sk.mac_key().mac(b"x"),
            MacKey::for_epoch_key(&vk.epoch_key(2)).mac(b"x")
        );
        let mut cache = EpochCache::default();
        assert!(
            cache.mac_key(&vk, 11, 10).is_none(),
            "beyond the bound nothing is derived"
        );
        for e in [0, 1, 3, 2, 5] {
            assert_eq!(
                cache.mac_key(&vk, e, 10).unwrap().mac(b"y"),
                MacKey::for_epoch_key(&vk.epoch_key(e)).mac(b"y")
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn state_file_is_private_and_loose_files_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.key");
        let (sk, _) = SealingKey::generate("k1", 8).unwrap();
        sk.store(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(SealingKey::load(&path).unwrap().key, sk.key);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            SealingKey::load(&path),
            Err(KeyError::InsecurePermissions { mode: 0o644, .. })
        ));
    }
}
