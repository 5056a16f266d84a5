//! The verifier: the only place that checks MACs and chain links.
//!
//! It reads a log (one file, several rotated files in order, or a string) and checks every
//! line: canonical form, the integrity object, the MAC under the epoch key derived from the
//! record's `seq`, `seq` continuity, `prev` links, file headers, and — when given — signed
//! checkpoints from a witness and the state of an earlier verification. It fails closed: an
//! unsealed or unverifiable record is never reported as OK. It does not stop at the first
//! fault; the [`Report`] lists every finding with file, line and seq.
//!
//! | verdict | exit code | meaning |
//! |---|---|---|
//! | `OK` | 0 | every record verified, nothing missing that a checkpoint or state knows of |
//! | `TAMPERED` | 1 | a record was changed, removed, inserted, reordered, spliced or unsealed |
//! | `INCOMPLETE_TAIL` | 3 | the last line was cut off mid-write (a crash), the rest verified |
//! | `TRUNCATED` | 4 | records a checkpoint vouches for are missing at the end |
//! | `ROLLED_BACK` | 5 | the log is older than (or differs from) the one verified before (`--state`) |
//! | `UNKNOWN_KEY` | 6 | records signed with a key id not in the keyring |
//!
//! When several apply, the verdict is the most severe (TAMPERED first).
//!
//! ```
//! use audit_core::keys::SealingKey;
//! use audit_core::record::{Outcome, Record};
//! use audit_core::seal::Sealer;
//! use audit_core::verify::{Verdict, Verifier, VerifyOptions};
//! let (sk, vk) = SealingKey::generate("k1", 4)?;
//! let mut sealer = Sealer::new_chain(sk)?;
//! let mut log = String::new();
//! for _ in 0..3 {
//!     log += &sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
//! }
//! let tampered = log.replacen("success", "failure", 1);
//! let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
//! let report = Verifier::new(vk.into()).with_options(options).verify_str("mem", &tampered);
//! assert_eq!(report.verdict(), Verdict::Tampered);
//! assert_eq!(report.findings[0].seq, Some(0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Condvar, Mutex};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::canonical::{self, Object, ParseErrorKind, Value};
use crate::checkpoint::Checkpoint;
use crate::keys::{EpochCache, KeyError, Keyring, MacKey, VerificationKey};
use crate::scan::{scan_line, SealedLine};
use crate::seal::Integrity;
use crate::signing::{line_mac, mac_input, mac_matches_bytes, ZERO_MAC};
use crate::sink::file::{FILE_OPEN_ACTION, RECOVERED_ACTION};

/// The overall result of a verification.
///
/// ```
/// use audit_core::verify::{Report, Verdict};
/// assert_eq!(Report::default().verdict(), Verdict::Ok);
/// // Ordered by severity: a report's verdict is the greatest its findings imply.
/// assert!(Verdict::Ok < Verdict::IncompleteTail && Verdict::RolledBack < Verdict::Tampered);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Every record verified.
    Ok,
    /// The last line is incomplete (a crash mid-write); everything before it verified.
    IncompleteTail,
    /// Records that a key id not in the keyring signed could not be checked.
    UnknownKey,
    /// Records are missing at the end.
    Truncated,
    /// The log went backwards against the verifier's state.
    RolledBack,
    /// Something was changed, removed, inserted, reordered or spliced.
    Tampered,
}

impl Verdict {
    /// The verdict's name as printed (`OK`, `TAMPERED`, ...).
    ///
    /// ```
    /// use audit_core::verify::Verdict;
    /// assert_eq!(Verdict::IncompleteTail.as_str(), "INCOMPLETE_TAIL");
    /// assert_eq!(Verdict::RolledBack.to_string(), "ROLLED_BACK"); // `Display` prints the same
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::IncompleteTail => "INCOMPLETE_TAIL",
            Verdict::UnknownKey => "UNKNOWN_KEY",
            Verdict::Truncated => "TRUNCATED",
            Verdict::RolledBack => "ROLLED_BACK",
            Verdict::Tampered => "TAMPERED",
        }
    }

    /// The process exit code of `audit-log verify` for this verdict.
    ///
    /// ```
    /// use audit_core::verify::Verdict;
    /// assert_eq!(Verdict::Ok.exit_code(), 0);
    /// assert_eq!(Verdict::Tampered.exit_code(), 1);
    /// assert_eq!(Verdict::Truncated.exit_code(), 4);
    /// ```
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Ok => 0,
            Verdict::Tampered => 1,
            Verdict::IncompleteTail => 3,
            Verdict::Truncated => 4,
            Verdict::RolledBack => 5,
            Verdict::UnknownKey => 6,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a finding is about.
///
/// ```
/// use audit_core::verify::{FindingKind, Verdict, Verifier, VerifyOptions};
/// # use audit_core::keys::SealingKey;
/// # use audit_core::record::{Outcome, Record};
/// # use audit_core::seal::Sealer;
/// # let (sk, vk) = SealingKey::generate("k1", 1024)?;
/// # let mut sealer = Sealer::new_chain(sk)?;
/// # let mut log = String::new();
/// # for action in ["auth.login", "auth.logout", "auth.login"] {
/// #     log += &sealer.seal(Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
/// # }
/// // `log`: three records sealed by `sealer` (as in the module example); `vk` verifies them.
/// let torn = &log[..log.len() - 10]; // a crash cut the last line
/// let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
/// let report = Verifier::new(vk.into()).with_options(options).verify_str("mem", torn);
/// assert_eq!(report.findings[0].kind, FindingKind::IncompleteTail);
/// assert_eq!((report.findings[0].line, report.verdict()), (3, Verdict::IncompleteTail));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FindingKind {
    /// See [`Verdict::Tampered`].
    Tampered,
    /// See [`Verdict::Truncated`].
    Truncated,
    /// See [`Verdict::RolledBack`].
    RolledBack,
    /// See [`Verdict::UnknownKey`].
    UnknownKey,
    /// See [`Verdict::IncompleteTail`].
    IncompleteTail,
    /// A torn line that the writer documented with a signed recovery record: evidence of a
    /// crash, not of tampering. Does not change the verdict.
    Recovered,
}

impl FindingKind {
    /// The verdict this finding implies, if any.
    ///
    /// ```
    /// use audit_core::verify::{FindingKind, Verdict};
    /// assert_eq!(FindingKind::Tampered.verdict(), Some(Verdict::Tampered));
    /// assert_eq!(FindingKind::Recovered.verdict(), None); // a documented crash
    /// ```
    pub fn verdict(self) -> Option<Verdict> {
        match self {
            FindingKind::Tampered => Some(Verdict::Tampered),
            FindingKind::Truncated => Some(Verdict::Truncated),
            FindingKind::RolledBack => Some(Verdict::RolledBack),
            FindingKind::UnknownKey => Some(Verdict::UnknownKey),
            FindingKind::IncompleteTail => Some(Verdict::IncompleteTail),
            FindingKind::Recovered => None,
        }
    }

    /// The name as printed.
    ///
    /// ```
    /// use audit_core::verify::FindingKind;
    /// assert_eq!(FindingKind::UnknownKey.as_str(), "UNKNOWN_KEY");
    /// assert_eq!(FindingKind::Recovered.as_str(), "RECOVERED");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Recovered => "RECOVERED",
            other => other.verdict().map_or("", Verdict::as_str),
        }
    }
}

/// One fault (or note) found.
///
/// ```
/// use audit_core::verify::{FindingKind, Verifier, VerifyOptions};
/// # use audit_core::keys::SealingKey;
/// # use audit_core::record::{Outcome, Record};
/// # use audit_core::seal::Sealer;
/// # let (sk, vk) = SealingKey::generate("k1", 1024)?;
/// # let mut sealer = Sealer::new_chain(sk)?;
/// # let mut log = String::new();
/// # for action in ["auth.login", "auth.logout", "auth.login"] {
/// #     log += &sealer.seal(Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
/// # }
/// // `log`: three records sealed by `sealer` (as in the module example); `vk` verifies them.
/// let tampered = log.replacen("auth.logout", "auth.logoff", 1); // the second record
/// let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
/// let report = Verifier::new(vk.into()).with_options(options).verify_str("mem", &tampered);
/// let finding = &report.findings[0];
/// assert_eq!((finding.kind, finding.file.as_str()), (FindingKind::Tampered, "mem"));
/// assert_eq!((finding.line, finding.seq), (2, Some(1)));
/// assert!(finding.to_string().starts_with("TAMPERED mem:2 seq 1: "));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Its kind.
    pub kind: FindingKind,
    /// The file (as given), or the name passed to [`Verifier::verify_str`].
    pub file: String,
    /// The 1-based line, or 0 when the finding is about the log as a whole.
    pub line: u64,
    /// The seq concerned, when known.
    pub seq: Option<u64>,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(seq) = self.seq {
            write!(f, " seq {seq}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What was seen of one chain.
///
/// ```
/// use audit_core::verify::{Verifier, VerifyOptions};
/// # use audit_core::keys::SealingKey;
/// # use audit_core::record::{Outcome, Record};
/// # use audit_core::seal::Sealer;
/// # let (sk, vk) = SealingKey::generate("k1", 1024)?;
/// # let mut sealer = Sealer::new_chain(sk)?;
/// # let mut log = String::new();
/// # for action in ["auth.login", "auth.logout", "auth.login"] {
/// #     log += &sealer.seal(Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
/// # }
/// // `log`: three records sealed by `sealer` (as in the module example); `vk` verifies them.
/// let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
/// let report = Verifier::new(vk.into()).with_options(options).verify_str("mem", &log);
/// let chain = report.chain.unwrap();
/// let head = sealer.head().unwrap();
/// assert_eq!((chain.chain, chain.last_seq, chain.head), (head.chain, head.seq, head.mac));
/// assert_eq!((chain.first_seq, chain.records, chain.kids), (0, 3, vec!["k1".to_owned()]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSummary {
    /// The chain id.
    pub chain: String,
    /// The first seq seen.
    pub first_seq: u64,
    /// The last seq seen.
    pub last_seq: u64,
    /// The claimed MAC of the last record.
    pub head: String,
    /// Records seen.
    pub records: u64,
    /// Key ids seen.
    pub kids: Vec<String>,
}

/// The result of verifying a log.
///
/// ```
/// use audit_core::verify::{Verifier, VerifyOptions};
/// # use audit_core::keys::SealingKey;
/// # use audit_core::record::{Outcome, Record};
/// # use audit_core::seal::Sealer;
/// # let (sk, vk) = SealingKey::generate("k1", 1024)?;
/// # let mut sealer = Sealer::new_chain(sk)?;
/// # let mut log = String::new();
/// # for action in ["auth.login", "auth.logout", "auth.login"] {
/// #     log += &sealer.seal(Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
/// # }
/// // `log`: three records sealed by `sealer` (as in the module example); `vk` verifies them.
/// let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
/// let report = Verifier::new(vk.into()).with_options(options).verify_str("mem", &log);
/// assert_eq!((report.files, report.lines, report.verified), (vec!["mem".to_owned()], 3, 3));
/// assert_eq!(report.bytes, log.len() as u64);
/// assert!(report.findings.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Files (or names) read, in order.
    pub files: Vec<String>,
    /// Lines read.
    pub lines: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Records whose MAC verified.
    pub verified: u64,
    /// The chain (one per log), if any record was seen.
    pub chain: Option<ChainSummary>,
    /// Every finding, in order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The most severe verdict among the findings.
    ///
    /// ```
    /// use audit_core::verify::{FindingKind, Verdict, Verifier, VerifyOptions};
    /// # use audit_core::keys::SealingKey;
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::seal::Sealer;
    /// # let (sk, vk) = SealingKey::generate("k1", 1024)?;
    /// # let mut sealer = Sealer::new_chain(sk)?;
    /// # let mut log = String::new();
    /// # for action in ["auth.login", "auth.logout", "auth.login"] {
    /// #     log += &sealer.seal(Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
    /// # }
    /// // `log`: three records sealed by `sealer` (as in the module example); `vk` verifies them.
    /// // A changed first record and a torn last line: the changed record decides.
    /// let bad = log.replacen("auth.login", "auth.logon", 1);
    /// let bad = &bad[..bad.len() - 10];
    /// let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
    /// let report = Verifier::new(vk.into()).with_options(options).verify_str("mem", bad);
    /// assert!(report.findings.iter().any(|f| f.kind == FindingKind::IncompleteTail));
    /// assert_eq!(report.verdict(), Verdict::Tampered);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verdict(&self) -> Verdict {
        self.findings
            .iter()
            .filter_map(|f| f.kind.verdict())
            .max()
            .unwrap_or(Verdict::Ok)
    }

    /// The report as a JSON value (for `--json`).
    ///
    /// ```
    /// use audit_core::verify::{Verifier, VerifyOptions};
    /// # use audit_core::keys::SealingKey;
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::seal::Sealer;
    /// # let (sk, vk) = SealingKey::generate("k1", 1024)?;
    /// # let mut sealer = Sealer::new_chain(sk)?;
    /// # let mut log = String::new();
    /// # for action in ["auth.login", "auth.logout", "auth.login"] {
    /// #     log += &sealer.seal(Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
    /// # }
    /// // `log`: three records sealed by `sealer` (as in the module example); `vk` verifies them.
    /// let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
    /// let json = Verifier::new(vk.into()).with_options(options).verify_str("mem", &log).to_json();
    /// assert_eq!(json.get_path("verdict").unwrap().as_str(), Some("OK"));
    /// assert_eq!(json.get_path("exit_code").unwrap().as_i64(), Some(0));
    /// assert_eq!(json.get_path("chain.records").unwrap().as_i64(), Some(3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_json(&self) -> Value {
        let mut o = Object::new();
        o.insert("verdict", self.verdict().as_str());
        o.insert("exit_code", self.verdict().exit_code());
        o.insert(
            "files",
            self.files
                .iter()
                .map(|f| Value::from(f.as_str()))
                .collect::<Vec<_>>(),
        );
        o.insert("lines", self.lines as i64);
        o.insert("bytes", self.bytes as i64);
        o.insert("verified", self.verified as i64);
        if let Some(c) = &self.chain {
            let mut co = Object::new();
            co.insert("id", c.chain.as_str());
            co.insert("first_seq", c.first_seq as i64);
            co.insert("last_seq", c.last_seq as i64);
            co.insert("head", c.head.as_str());
            co.insert("records", c.records as i64);
            co.insert(
                "kids",
                c.kids
                    .iter()
                    .map(|k| Value::from(k.as_str()))
                    .collect::<Vec<_>>(),
            );
            o.insert("chain", co);
        }
        let findings: Vec<Value> = self
            .findings
            .iter()
            .map(|f| {
                let mut fo = Object::new();
                fo.insert("kind", f.kind.as_str());
                fo.insert("file", f.file.as_str());
                fo.insert("line", f.line as i64);
                fo.insert("seq", f.seq.map(|s| s as i64));
                fo.insert("message", f.message.as_str());
                Value::Object(fo)
            })
            .collect();
        o.insert("findings", findings);
        Value::Object(o)
    }
}

/// Errors that stop a verification before it starts (unreadable input).
///
/// ```
/// use audit_core::keys::SealingKey;
/// use audit_core::verify::{Verifier, VerifyError};
/// let (_, vk) = SealingKey::generate("k1", 1024)?;
/// let dir = tempfile::tempdir()?;
/// let missing = dir.path().join("audit.log");
/// let err = Verifier::new(vk.into()).verify_files(&[missing]).unwrap_err();
/// assert!(matches!(err, VerifyError::Io { .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A directory held no log files.
    #[error("{0} holds no log files")]
    NoFiles(PathBuf),
    /// The state file is malformed.
    #[error("verifier state {path} line {line}: {reason}")]
    BadState {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The state file could not be written.
    #[error("writing verifier state: {0}")]
    StateWrite(#[from] KeyError),
}

/// The last verified head of each chain, remembered between verifications (`--state`).
///
/// ```
/// use audit_core::verify::{Verdict, Verifier, VerifierState, VerifyOptions};
/// # use audit_core::keys::SealingKey;
/// # use audit_core::record::{Outcome, Record};
/// # use audit_core::seal::Sealer;
/// # let (sk, vk) = SealingKey::generate("k1", 1024)?;
/// # let mut sealer = Sealer::new_chain(sk)?;
/// # let mut log = String::new();
/// # for action in ["auth.login", "auth.logout", "auth.login"] {
/// #     log += &sealer.seal(Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
/// # }
/// // `log`: three records sealed by `sealer` (as in the module example); `vk` verifies them.
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("verify.state");
/// let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
/// // Each run starts from the state the last one saved (none at first).
/// let state = VerifierState::load(&path)?;
/// let mut verifier = Verifier::new(vk.into()).with_options(options).with_state(state);
/// let report = verifier.verify_str("mem", &log);
/// verifier.updated_state(&report).save(&path)?;
/// assert_eq!(report.verdict(), Verdict::Ok);
/// assert_eq!(VerifierState::load(&path)?.head(sealer.chain_id()).map(|(seq, _)| seq), Some(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifierState {
    heads: BTreeMap<String, (u64, String, String)>,
}

impl VerifierState {
    /// Load a state file; a missing file is an empty state.
    ///
    /// ```
    /// use audit_core::verify::{VerifierState, VerifyError};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("verify.state");
    /// assert_eq!(VerifierState::load(&path)?, VerifierState::default()); // none yet
    /// std::fs::write(&path, "not json\n")?;
    /// assert!(matches!(VerifierState::load(&path), Err(VerifyError::BadState { line: 1, .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load(path: &Path) -> Result<VerifierState, VerifyError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(VerifierState::default())
            }
            Err(source) => {
                return Err(VerifyError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let mut state = VerifierState::default();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let bad = |reason: String| VerifyError::BadState {
                path: path.to_owned(),
                line: i + 1,
                reason,
            };
            let v = canonical::parse(line).map_err(|e| bad(e.to_string()))?;
            let chain = v.get_path("chain").and_then(Value::as_str);
            let seq = v
                .get_path("seq")
                .and_then(Value::as_i64)
                .and_then(|s| u64::try_from(s).ok());
            let head = v.get_path("head").and_then(Value::as_str);
            let at = v
                .get_path("verified_at")
                .and_then(Value::as_str)
                .unwrap_or("");
            match (chain, seq, head) {
                (Some(c), Some(s), Some(h)) => {
                    state
                        .heads
                        .insert(c.to_owned(), (s, h.to_owned(), at.to_owned()));
                }
                _ => {
                    return Err(bad(
                        "expected {\"chain\",\"head\",\"seq\",\"verified_at\"}".into()
                    ))
                }
            }
        }
        Ok(state)
    }

    /// Write the state file atomically (mode 0600).
    ///
    /// ```
    /// use audit_core::verify::{Verifier, VerifierState, VerifyOptions};
    /// # use audit_core::keys::SealingKey;
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::seal::Sealer;
    /// # let (sk, vk) = SealingKey::generate("k1", 1024)?;
    /// # let mut sealer = Sealer::new_chain(sk)?;
    /// # let mut log = String::new();
    /// # for action in ["auth.login", "auth.logout", "auth.login"] {
    /// #     log += &sealer.seal(Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
    /// # }
    /// // `log`: three records sealed by `sealer` (as in the module example); `vk` verifies them.
    /// let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
    /// let mut verifier = Verifier::new(vk.into()).with_options(options);
    /// let report = verifier.verify_str("mem", &log);
    /// let state = verifier.updated_state(&report);
    /// let dir = tempfile::tempdir()?;
    /// state.save(&dir.path().join("verify.state"))?;
    /// let text = std::fs::read_to_string(dir.path().join("verify.state"))?;
    /// assert!(text.contains(r#""seq":2"#));
    /// assert_eq!(VerifierState::load(&dir.path().join("verify.state"))?, state);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn save(&self, path: &Path) -> Result<(), VerifyError> {
        let mut text = String::new();
        for (chain, (seq, head, at)) in &self.heads {
            let mut o = Object::new();
            o.insert("chain", chain.as_str());
            o.insert("head", head.as_str());
            o.insert("seq", *seq as i64);
            o.insert("verified_at", at.as_str());
            text += &Value::Object(o).to_canonical_string();
            text.push('\n');
        }
        crate::keys::write_private_atomic(path, text.trim_end().as_bytes())?;
        Ok(())
    }

    /// The remembered head of a chain: (seq, mac).
    ///
    /// ```
    /// use audit_core::verify::{Verifier, VerifyOptions};
    /// # use audit_core::keys::SealingKey;
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::seal::Sealer;
    /// # let (sk, vk) = SealingKey::generate("k1", 1024)?;
    /// # let mut sealer = Sealer::new_chain(sk)?;
    /// # let mut log = String::new();
    /// # for action in ["auth.login", "auth.logout", "auth.login"] {
    /// #     log += &sealer.seal(Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
    /// # }
    /// // `log`: three records sealed by `sealer` (as in the module example); `vk` verifies them.
    /// let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
    /// let mut verifier = Verifier::new(vk.into()).with_options(options);
    /// let report = verifier.verify_str("mem", &log);
    /// let state = verifier.updated_state(&report);
    /// let head = sealer.head().unwrap();
    /// assert_eq!(state.head(&head.chain), Some((2, head.mac.as_str())));
    /// assert_eq!(state.head("another-chain"), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn head(&self, chain: &str) -> Option<(u64, &str)> {
        self.heads.get(chain).map(|(s, h, _)| (*s, h.as_str()))
    }
}

/// Options of a verification.
///
/// ```
/// use audit_core::verify::{Verdict, Verifier, VerifyOptions};
/// # use audit_core::keys::SealingKey;
/// # use audit_core::record::{Outcome, Record};
/// # use audit_core::seal::Sealer;
/// # let (sk, vk) = SealingKey::generate("k1", 1024)?;
/// # let mut sealer = Sealer::new_chain(sk)?;
/// # let mut log = String::new();
/// # for action in ["auth.login", "auth.logout", "auth.login"] {
/// #     log += &sealer.seal(Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
/// # }
/// // `log`: three records sealed by `sealer` (as in the module example); `vk` verifies them.
/// // Retention removed the oldest record.
/// let tail = log.split_inclusive('\n').skip(1).collect::<String>();
/// let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
/// let mut verifier = Verifier::new(vk.into()).with_options(options.clone());
/// assert_eq!(verifier.verify_str("mem", &tail).verdict(), Verdict::Tampered);
/// let mut verifier = verifier.with_options(VerifyOptions { allow_partial_head: true, ..options });
/// assert_eq!(verifier.verify_str("mem", &tail).verdict(), Verdict::Ok);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Require each line to be byte-for-byte canonical (true for log files). False accepts
    /// records that went through a JSON re-serializer and checks them after
    /// re-canonicalisation.
    pub strict_canonical: bool,
    /// Require every file to start with its `audit.file.open` header naming the file.
    pub check_file_headers: bool,
    /// Accept a log whose first record is not seq 0 (older files removed by retention).
    pub allow_partial_head: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            strict_canonical: true,
            check_file_headers: true,
            allow_partial_head: false,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Checkpoint,
    State,
}

struct Expectation {
    head: String,
    source: Source,
    matched: bool,
}

struct BadLine {
    file: String,
    line: u64,
    len: u64,
    sha256: String,
    reason: String,
    seq: Option<u64>,
}

/// Verifies logs against a keyring.
///
/// ```
/// use audit_core::keys::SealingKey;
/// use audit_core::record::{Outcome, Record};
/// use audit_core::sink::file::{FileLog, FileLogOptions};
/// use audit_core::verify::{Verdict, Verifier};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("audit.log");
/// let (sk, vk) = SealingKey::generate("k1", 1024)?;
/// let mut log = FileLog::open(&path, sk, FileLogOptions::default())?;
/// log.append(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
/// drop(log);
/// let report = Verifier::new(vk.into()).verify_files(&[path])?;
/// assert_eq!(report.verdict(), Verdict::Ok);
/// assert_eq!(report.verified, 2); // the file header and the record
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Verifier {
    keyring: Keyring,
    cache: EpochCache,
    options: VerifyOptions,
    checkpoints: Vec<Checkpoint>,
    state: Option<VerifierState>,
    progress: Option<Box<dyn FnMut(u64) + Send>>,
    threads: usize,
    chunk_bytes: usize,
    /// Try the allocation-free path first (off only in tests, to compare the two paths).
    fast_path: bool,
    // walk state
    report: Report,
    chain: Option<String>,
    next_seq: u64,
    /// The claimed MAC of the last record (ASCII).
    last_mac: Vec<u8>,
    first_seq: u64,
    kids: BTreeSet<String>,
    /// The key id of the last record (in `kids`).
    last_kid: String,
    pending_bad: Option<BadLine>,
    expectations: BTreeMap<u64, Vec<Expectation>>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("kids", &self.keyring.kids().collect::<Vec<_>>())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier with default options (strict, file headers checked, chain from seq 0).
    ///
    /// ```
    /// use audit_core::keys::{Keyring, SealingKey};
    /// use audit_core::verify::{Verdict, Verifier, VerifyOptions};
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::seal::Sealer;
    /// # let (sk, vk) = SealingKey::generate("k1", 1024)?;
    /// # let mut sealer = Sealer::new_chain(sk)?;
    /// # let mut log = String::new();
    /// # for action in ["auth.login", "auth.logout", "auth.login"] {
    /// #     log += &sealer.seal(Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
    /// # }
    /// // `log`: three records sealed by `sealer` (as in the module example); `vk` verifies them.
    /// let (_, other) = SealingKey::generate("k2", 1024)?;
    /// let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
    /// let mut keyring = Keyring::from(other);
    /// let mut verifier = Verifier::new(keyring.clone()).with_options(options.clone());
    /// assert_eq!(verifier.verify_str("mem", &log).verdict(), Verdict::UnknownKey);
    /// keyring.add(vk)?;
    /// let mut verifier = Verifier::new(keyring).with_options(options);
    /// assert_eq!(verifier.verify_str("mem", &log).verdict(), Verdict::Ok);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(keyring: Keyring) -> Verifier {
        Verifier {
            keyring,
            cache: EpochCache::default(),
            options: VerifyOptions::default(),
            checkpoints: Vec::new(),
            state: None,
            progress: None,
            threads: 0,
            chunk_bytes: CHUNK_BYTES,
            fast_path: true,
            report: Report::default(),
            chain: None,
            next_seq: 0,
            last_mac: Vec::new(),
            first_seq: 0,
            kids: BTreeSet::new(),
            last_kid: String::new(),
            pending_bad: None,
            expectations: BTreeMap::new(),
        }
    }

    /// Set the options.
    ///
    /// ```
    /// use audit_core::verify::{Verdict, Verifier, VerifyOptions};
    /// # use audit_core::keys::SealingKey;
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::seal::Sealer;
    /// # let (sk, vk) = SealingKey::generate("k1", 1024)?;
    /// # let mut sealer = Sealer::new_chain(sk)?;
    /// # let mut log = String::new();
    /// # for action in ["auth.login", "auth.logout", "auth.login"] {
    /// #     log += &sealer.seal(Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
    /// # }
    /// // `log`: three records sealed by `sealer` (as in the module example); `vk` verifies them.
    /// // The same records after a JSON re-serializer added a space.
    /// let reserialized = log.replacen('{', "{ ", 1);
    /// let lax = VerifyOptions { strict_canonical: false, check_file_headers: false, ..VerifyOptions::default() };
    /// let mut verifier = Verifier::new(vk.into()).with_options(lax);
    /// assert_eq!(verifier.verify_str("mem", &reserialized).verdict(), Verdict::Ok);
    /// let strict = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
    /// let mut verifier = verifier.with_options(strict);
    /// assert_eq!(verifier.verify_str("mem", &reserialized).verdict(), Verdict::Tampered);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_options(mut self, options: VerifyOptions) -> Verifier {
        self.options = options;
        self
    }

    /// Check the log against these checkpoints (from a witness).
    ///
    /// ```
    /// use audit_core::verify::{Verdict, Verifier, VerifyOptions};
    /// # use audit_core::keys::SealingKey;
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::seal::Sealer;
    /// # let (sk, vk) = SealingKey::generate("k1", 1024)?;
    /// # let mut sealer = Sealer::new_chain(sk)?;
    /// # let mut log = String::new();
    /// # for action in ["auth.login", "auth.logout", "auth.login"] {
    /// #     log += &sealer.seal(Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
    /// # }
    /// // `log`: three records sealed by `sealer` (as in the module example); `vk` verifies them.
    /// let checkpoint = sealer.checkpoint(std::time::UNIX_EPOCH).unwrap(); // vouches for 3 records
    /// let cut: String = log.split_inclusive('\n').take(2).collect();
    /// let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
    /// let mut verifier = Verifier::new(vk.into()).with_options(options);
    /// assert_eq!(verifier.verify_str("mem", &cut).verdict(), Verdict::Ok);
    /// let mut verifier = verifier.with_checkpoints(vec![checkpoint]);
    /// assert_eq!(verifier.verify_str("mem", &cut).verdict(), Verdict::Truncated);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_checkpoints(mut self, checkpoints: Vec<Checkpoint>) -> Verifier {
        self.checkpoints = checkpoints;
        self
    }

    /// Check the log against the state of an earlier verification.
    ///
    /// ```
    /// use audit_core::verify::{Verdict, Verifier, VerifyOptions};
    /// # use audit_core::keys::SealingKey;
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::seal::Sealer;
    /// # let (sk, vk) = SealingKey::generate("k1", 1024)?;
    /// # let mut sealer = Sealer::new_chain(sk)?;
    /// # let mut log = String::new();
    /// # for action in ["auth.login", "auth.logout", "auth.login"] {
    /// #     log += &sealer.seal(Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
    /// # }
    /// // `log`: three records sealed by `sealer` (as in the module example); `vk` verifies them.
    /// let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
    /// let mut verifier = Verifier::new(vk.into()).with_options(options);
    /// let report = verifier.verify_str("mem", &log);
    /// let state = verifier.updated_state(&report);
    /// // Later, an older copy of the log (two records of three) is presented.
    /// let older: String = log.split_inclusive('\n').take(2).collect();
    /// let mut verifier = verifier.with_state(state);
    /// assert_eq!(verifier.verify_str("mem", &older).verdict(), Verdict::RolledBack);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_state(mut self, state: VerifierState) -> Verifier {
        self.state = Some(state);
        self
    }

    /// Examine lines (parse, check canonical form and MAC) on this many threads; the chain
    /// is always walked in order on the calling thread, and the report is the same whatever
    /// the number. `0` (the default) uses every available core; inputs under 2 MiB use one.
    ///
    /// ```
    /// use audit_core::verify::{Verifier, VerifyOptions};
    /// # use audit_core::keys::SealingKey;
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::seal::Sealer;
    /// # let (sk, vk) = SealingKey::generate("k1", 1024)?;
    /// # let mut sealer = Sealer::new_chain(sk)?;
    /// # let mut log = String::new();
    /// # for action in ["auth.login", "auth.logout", "auth.login"] {
    /// #     log += &sealer.seal(Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
    /// # }
    /// // `log`: three records sealed by `sealer` (as in the module example); `vk` verifies them.
    /// let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
    /// let keyring = audit_core::keys::Keyring::from(vk);
    /// let mut one = Verifier::new(keyring.clone()).with_options(options.clone()).with_threads(1);
    /// let mut two = Verifier::new(keyring).with_options(options).with_threads(2);
    /// assert_eq!(one.verify_str("mem", &log), two.verify_str("mem", &log));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_threads(mut self, threads: usize) -> Verifier {
        self.threads = threads;
        self
    }

    /// Call `f` with the number of bytes read so far, after each line.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use audit_core::verify::{Verifier, VerifyOptions};
    /// # use audit_core::keys::SealingKey;
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::seal::Sealer;
    /// # let (sk, vk) = SealingKey::generate("k1", 1024)?;
    /// # let mut sealer = Sealer::new_chain(sk)?;
    /// # let mut log = String::new();
    /// # for action in ["auth.login", "auth.logout", "auth.login"] {
    /// #     log += &sealer.seal(Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
    /// # }
    /// // `log`: three records sealed by `sealer` (as in the module example); `vk` verifies them.
    /// let read = Arc::new(AtomicU64::new(0));
    /// let counter = Arc::clone(&read);
    /// let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
    /// let mut verifier = Verifier::new(vk.into())
    ///     .with_options(options)
    ///     .on_progress(move |bytes| counter.store(bytes, Ordering::Relaxed));
    /// verifier.verify_str("mem", &log);
    /// assert_eq!(read.load(Ordering::Relaxed), log.len() as u64);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_progress(mut self, f: impl FnMut(u64) + Send + 'static) -> Verifier {
        self.progress = Some(Box::new(f));
        self
    }

    /// The state after a verification: the previous state with this log's head, when the
    /// verdict was OK or INCOMPLETE_TAIL. Save it with [`VerifierState::save`].
    ///
    /// ```
    /// use audit_core::verify::{Verifier, VerifyOptions};
    /// # use audit_core::keys::SealingKey;
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::seal::Sealer;
    /// # let (sk, vk) = SealingKey::generate("k1", 1024)?;
    /// # let mut sealer = Sealer::new_chain(sk)?;
    /// # let mut log = String::new();
    /// # for action in ["auth.login", "auth.logout", "auth.login"] {
    /// #     log += &sealer.seal(Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?)?.line;
    /// # }
    /// // `log`: three records sealed by `sealer` (as in the module example); `vk` verifies them.
    /// let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
    /// let mut verifier = Verifier::new(vk.into()).with_options(options);
    /// let tampered = verifier.verify_str("mem", &log.replacen("auth.login", "auth.logon", 1));
    /// assert_eq!(verifier.updated_state(&tampered).head(sealer.chain_id()), None);
    /// let ok = verifier.verify_str("mem", &log);
    /// assert_eq!(verifier.updated_state(&ok).head(sealer.chain_id()).map(|(seq, _)| seq), Some(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn updated_state(&self, report: &Report) -> VerifierState {
        let mut state = self.state.clone().unwrap_or_default();
        if matches!(report.verdict(), Verdict::Ok | Verdict::IncompleteTail) {
            if let Some(c) = &report.chain {
                let at = crate::time::format_timestamp(SystemTime::now());
                state
                    .heads
                    .insert(c.chain.clone(), (c.last_seq, c.head.clone(), at));
            }
        }
        state
    }

    /// Verify a log held in memory. `name` labels the findings and, unless
    /// [`VerifyOptions::check_file_headers`] is off, must be the file name the first
    /// record's header names.
    ///
    /// ```
    /// use audit_core::keys::SealingKey;
    /// use audit_core::record::{Outcome, Record};
    /// use audit_core::sink::file::{FileLog, FileLogOptions};
    /// use audit_core::verify::{Verdict, Verifier};
    /// let dir = tempfile::tempdir()?;
    /// let (sk, vk) = SealingKey::generate("k1", 1024)?;
    /// # let mut log = FileLog::open(&dir.path().join("audit.log"), sk, FileLogOptions::default())?;
    /// # log.append(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// # drop(log);
    /// let text = std::fs::read_to_string(dir.path().join("audit.log"))?;
    /// let mut verifier = Verifier::new(vk.into());
    /// assert_eq!(verifier.verify_str("audit.log", &text).verdict(), Verdict::Ok);
    /// // The header binds the file's name: the same lines under another name do not verify.
    /// assert_eq!(verifier.verify_str("renamed.log", &text).verdict(), Verdict::Tampered);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify_str(&mut self, name: &str, text: &str) -> Report {
        self.begin();
        let mut input = text.as_bytes();
        // Reading from memory cannot fail.
        let _ = self.walk(name, &mut input, text.len() as u64, true);
        self.finish()
    }

    /// Verify files in order (a rotated log: oldest first).
    ///
    /// ```
    /// use audit_core::keys::SealingKey;
    /// use audit_core::record::{Outcome, Record};
    /// use audit_core::sink::file::{FileLog, FileLogOptions};
    /// use audit_core::verify::{log_files_in, Verdict, Verifier};
    /// let dir = tempfile::tempdir()?;
    /// let (sk, vk) = SealingKey::generate("k1", 1024)?;
    /// let mut log = FileLog::open_dir(dir.path(), "audit", sk, FileLogOptions::default())?;
    /// log.append(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// log.rotate()?;
    /// log.append(Record::new("auth.logout", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// drop(log);
    /// let mut files = log_files_in(dir.path())?;
    /// let mut verifier = Verifier::new(vk.into());
    /// assert_eq!(verifier.verify_files(&files)?.verdict(), Verdict::Ok);
    /// files.reverse(); // newest first: the chain does not link
    /// assert_eq!(verifier.verify_files(&files)?.verdict(), Verdict::Tampered);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify_files(&mut self, paths: &[PathBuf]) -> Result<Report, VerifyError> {
        let mut files = Vec::with_capacity(paths.len());
        for p in paths {
            let io = |source| VerifyError::Io {
                path: p.clone(),
                source,
            };
            let f = File::open(p).map_err(io)?;
            let size = f.metadata().map_err(io)?.len();
            files.push((p.display().to_string(), f, size));
        }
        self.begin();
        let n = files.len();
        for (i, (name, mut file, size)) in files.into_iter().enumerate() {
            self.walk(&name, &mut file, size, i + 1 == n)
                .map_err(|source| VerifyError::Io {
                    path: PathBuf::from(&name),
                    source,
                })?;
        }
        Ok(self.finish())
    }

    /// Verify every log file of a directory, in name order (see [`log_files_in`]).
    ///
    /// ```
    /// use audit_core::keys::SealingKey;
    /// use audit_core::record::{Outcome, Record};
    /// use audit_core::sink::file::{FileLog, FileLogOptions};
    /// use audit_core::verify::{Verdict, Verifier};
    /// let dir = tempfile::tempdir()?;
    /// let (sk, vk) = SealingKey::generate("k1", 1024)?;
    /// # let mut log = FileLog::open_dir(dir.path(), "audit", sk, FileLogOptions::default())?;
    /// # log.append(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// # drop(log);
    /// std::fs::write(dir.path().join("verify.state"), "")?; // not a log file: skipped
    /// let report = Verifier::new(vk.into()).verify_dir(dir.path())?;
    /// assert_eq!(report.verdict(), Verdict::Ok);
    /// assert_eq!(report.files.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify_dir(&mut self, dir: &Path) -> Result<Report, VerifyError> {
        let files = log_files_in(dir)?;
        self.verify_files(&files)
    }

    fn begin(&mut self) {
        self.report = Report::default();
        self.chain = None;
        self.next_seq = 0;
        self.last_mac.clear();
        self.kids.clear();
        self.last_kid.clear();
        self.pending_bad = None;
        self.expectations.clear();
    }

    /// Read one file (or string) in chunks of whole lines, examine every line — on
    /// `threads` worker threads when there is enough to share — and apply the results to
    /// the walk in order. The report is the same whatever the number of threads: examining
    /// a line depends on nothing but the line (see [`Examiner`]).
    fn walk(
        &mut self,
        name: &str,
        input: &mut (dyn Read + Send),
        size: u64,
        last_file: bool,
    ) -> std::io::Result<()> {
        self.report.files.push(name.to_owned());
        let mut chunks = Chunker::new(input, self.chunk_bytes);
        let mut line_no = 0u64;
        let threads = self.threads_for(size);
        if threads <= 1 {
            let keyring = self.keyring.clone();
            let mut examiner =
                Examiner::new(&keyring, self.options.strict_canonical, self.fast_path);
            let mut examined = Vec::new();
            while let Some(chunk) = chunks.next_chunk()? {
                examiner.examine_chunk(&chunk, &mut examined);
                self.apply_chunk(name, &mut line_no, &chunk, examined.drain(..), last_file);
                chunks.recycle(chunk);
            }
        } else {
            self.walk_parallel(name, chunks, threads, &mut line_no, last_file)?;
        }
        self.end_file(name, line_no, last_file);
        Ok(())
    }

    /// Worker threads for an input of `size` bytes: one unless there are two chunks or more.
    fn threads_for(&self, size: u64) -> usize {
        if size < 2 * self.chunk_bytes as u64 {
            return 1;
        }
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// [`walk`](Self::walk) on `threads` threads: `threads - 1` workers and this one each
    /// take the next chunk from the shared reader (so a chunk is read on the core that
    /// examines it, and stays in its cache) and examine it; this thread also applies the
    /// examined chunks in order. At most [`in_flight`] chunks are read and not yet applied.
    fn walk_parallel(
        &mut self,
        name: &str,
        chunks: Chunker<'_>,
        threads: usize,
        line_no: &mut u64,
        last_file: bool,
    ) -> std::io::Result<()> {
        let keyring = self.keyring.clone();
        let (strict, fast) = (self.options.strict_canonical, self.fast_path);
        let limit = in_flight(threads);
        let feed = Mutex::new(Feed {
            chunks,
            sent: 0,
            applied: 0,
            done: false,
            error: None,
        });
        let turn = Condvar::new();
        // Emptied result vectors, reused.
        let pool: Mutex<Vec<Vec<Item>>> = Mutex::new(Vec::new());
        let take = |pool: &Mutex<Vec<Vec<Item>>>| lock(pool).pop().unwrap_or_default();
        type Done = (u64, Vec<u8>, Vec<Item>);
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        std::thread::scope(|scope| {
            for _ in 1..threads {
                let (feed, turn, done_tx, keyring, pool) =
                    (&feed, &turn, done_tx.clone(), &keyring, &pool);
                scope.spawn(move || {
                    // A worker that panics stops the others, so that the walk sees every
                    // sender gone instead of waiting for the lost chunk.
                    let _stop = StopOnPanic(feed, turn);
                    let mut examiner = Examiner::new(keyring, strict, fast);
                    while let Some((index, chunk)) = next_job(feed, turn, limit, true) {
                        let mut items = take(pool);
                        examiner.examine_chunk(&chunk, &mut items);
                        if done_tx.send((index, chunk, items)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(done_tx);
            let _stop = StopOnPanic(&feed, &turn);
            let mut examiner = Examiner::new(&keyring, strict, fast);
            let mut ready: Ready = BTreeMap::new();
            let mut applied = 0u64;
            let mut spent = Vec::new();
            loop {
                while let Ok((index, chunk, items)) = done_rx.try_recv() {
                    ready.insert(index, (chunk, items));
                }
                while let Some((chunk, mut items)) = ready.remove(&applied) {
                    self.apply_chunk(name, line_no, &chunk, items.drain(..), last_file);
                    lock(&pool).push(items);
                    spent.push(chunk);
                    applied += 1;
                }
                {
                    let mut f = lock(&feed);
                    if !spent.is_empty() || f.applied != applied {
                        for buf in spent.drain(..) {
                            f.chunks.recycle(buf);
                        }
                        f.applied = applied;
                        turn.notify_all();
                    }
                    if f.done && f.sent == applied {
                        break;
                    }
                }
                // This thread examines the next chunk itself when it may be read now;
                // otherwise it waits for a worker's.
                if let Some((index, chunk)) = next_job(&feed, &turn, limit, false) {
                    let mut items = take(&pool);
                    examiner.examine_chunk(&chunk, &mut items);
                    ready.insert(index, (chunk, items));
                } else if !ready.contains_key(&applied) {
                    let Ok((index, chunk, items)) = done_rx.recv() else {
                        break; // a worker panicked; the scope re-raises it
                    };
                    ready.insert(index, (chunk, items));
                }
            }
            let mut f = lock(&feed);
            f.done = true;
            turn.notify_all();
        });
        let error = lock(&feed).error.take();
        error.map_or(Ok(()), Err)
    }

    fn apply_chunk(
        &mut self,
        file: &str,
        line_no: &mut u64,
        chunk: &[u8],
        items: impl Iterator<Item = Item>,
        last_file: bool,
    ) {
        let mut at = 0;
        for item in items {
            match item {
                Item::Line(len, ex) => {
                    *line_no += 1;
                    self.line(file, *line_no, &chunk[at..at + len], ex, last_file);
                    at += len;
                }
                Item::Run(run) => {
                    at = run.bytes.end;
                    self.run(file, line_no, chunk, run, last_file);
                }
            }
        }
    }

    /// Apply a [`Run`]: when the walk is where the run's first line expects it (the same
    /// chain and key id, the next seq, the last MAC as `prev`, no pending bad line, no
    /// expectation on the way), every line of it verifies and links without a finding, and
    /// this applies them at once. Otherwise the lines are examined again one by one and
    /// applied as single lines, so the report is the same either way.
    fn run(&mut self, file: &str, line_no: &mut u64, chunk: &[u8], run: Run, last_file: bool) {
        let at_once = *line_no > 0
            && self.pending_bad.is_none()
            && self.chain.as_ref().map(String::as_bytes) == Some(&chunk[run.chain.clone()])
            && self.last_kid.as_bytes() == &chunk[run.kid.clone()]
            && self.next_seq == run.first_seq
            && self.last_mac.as_slice() == &chunk[run.first_prev.clone()]
            && self
                .expectations
                .range(run.first_seq..=run.last_seq)
                .next()
                .is_none();
        if !at_once {
            let keyring = self.keyring.clone();
            let mut examiner =
                Examiner::new(&keyring, self.options.strict_canonical, self.fast_path);
            examiner.runs = false;
            let mut items = Vec::new();
            examiner.examine_chunk(&chunk[run.bytes.clone()], &mut items);
            self.apply_chunk(
                file,
                line_no,
                &chunk[run.bytes],
                items.into_iter(),
                last_file,
            );
            return;
        }
        *line_no += run.lines;
        self.report.lines += run.lines;
        self.report.verified += run.lines;
        let base = self.report.bytes;
        self.report.bytes += run.bytes.len() as u64;
        if let Some(p) = self.progress.as_mut() {
            // After each line, as for single lines (every line of a run ends in a newline).
            for nl in memchr::memchr_iter(b'\n', &chunk[run.bytes.clone()]) {
                p(base + nl as u64 + 1);
            }
        }
        self.next_seq = run.last_seq.saturating_add(1);
        self.last_mac.clear();
        self.last_mac.extend_from_slice(&chunk[run.last_mac]);
    }

    fn end_file(&mut self, name: &str, lines: u64, last_file: bool) {
        if lines == 0 && last_file {
            self.finding(
                FindingKind::IncompleteTail,
                name,
                0,
                None,
                "the last file is empty: it was created but its header never written (a crash right after rotation)".into(),
            );
        } else if lines == 0 {
            self.finding(
                FindingKind::Tampered,
                name,
                0,
                None,
                "the file is empty: a log file always starts with its header record, so its content was removed".into(),
            );
        }
        self.flush_bad();
    }

    fn finding(
        &mut self,
        kind: FindingKind,
        file: &str,
        line: u64,
        seq: Option<u64>,
        message: String,
    ) {
        self.report.findings.push(Finding {
            kind,
            file: file.to_owned(),
            line,
            seq,
            message,
        });
    }

    fn flush_bad(&mut self) {
        if let Some(bad) = self.pending_bad.take() {
            self.finding(
                FindingKind::Tampered,
                &bad.file,
                bad.line,
                bad.seq,
                bad.reason,
            );
        }
    }

    fn line(&mut self, file: &str, line_no: u64, raw: &[u8], examined: Examined, last_file: bool) {
        self.report.lines += 1;
        self.report.bytes += raw.len() as u64;
        if let Some(p) = self.progress.as_mut() {
            p(self.report.bytes);
        }
        match examined {
            Examined::Torn => {
                // No newline: the final piece of a file.
                self.flush_bad();
                if last_file {
                    self.finding(
                        FindingKind::IncompleteTail,
                        file,
                        line_no,
                        None,
                        format!(
                            "the last line ({} bytes) has no newline: a write was cut off (crash or full disk); every record before it verified",
                            raw.len()
                        ),
                    );
                } else {
                    self.finding(
                        FindingKind::Tampered,
                        file,
                        line_no,
                        None,
                        "a file before the last ends in the middle of a line: it was cut or spliced"
                            .into(),
                    );
                }
            }
            Examined::Bad {
                reason,
                seq,
                sha256,
            } => self.hold_bad(file, line_no, raw.len() as u64 - 1, reason, seq, sha256),
            Examined::Sealed { facts, mac } => {
                let content = &raw[..raw.len() - 1];
                self.record(file, line_no, content, facts, mac);
            }
        }
    }

    /// Hold a line that is not a valid sealed record: it is `TAMPERED` unless the next line
    /// is a recovery record documenting it. Line 1 of a file must be its header, which a
    /// bad line is not.
    fn hold_bad(
        &mut self,
        file: &str,
        line_no: u64,
        len: u64,
        reason: String,
        seq: Option<u64>,
        sha256: String,
    ) {
        self.flush_bad();
        if line_no == 1 && self.options.check_file_headers {
            self.finding(
                FindingKind::Tampered,
                file,
                1,
                seq,
                format!("the file does not start with its {FILE_OPEN_ACTION} header: its beginning was cut, or records were spliced in"),
            );
        }
        self.pending_bad = Some(BadLine {
            file: file.to_owned(),
            line: line_no,
            len,
            sha256,
            reason,
            seq,
        });
    }

    fn record(
        &mut self,
        file: &str,
        line_no: u64,
        content: &[u8],
        facts: Facts,
        mac_check: MacCheck,
    ) {
        let (chain, seq, kid, prev, mac, action, obj) = match &facts {
            Facts::Fast(s) => {
                // The chain id and the MACs are compared as bytes (the scanner checked they
                // are ASCII); only the short key id and action are needed as text.
                let text =
                    |r: &Range<usize>| std::str::from_utf8(&content[r.clone()]).unwrap_or("");
                (
                    &content[s.chain.clone()],
                    s.seq,
                    text(&s.kid),
                    &content[s.prev.clone()],
                    &content[s.mac.clone()],
                    s.action.as_ref().map_or("", text),
                    None,
                )
            }
            Facts::General(g) => {
                let GeneralFacts {
                    integrity: i,
                    action,
                    obj,
                } = &**g;
                (
                    i.chain.as_bytes(),
                    i.seq,
                    i.kid.as_str(),
                    i.prev.as_bytes(),
                    i.mac.as_bytes(),
                    action.as_str(),
                    Some(obj),
                )
            }
        };
        // The value tree, for the rare checks that look further than the fast path (a fast
        // line is canonical, so it parses).
        let tree = |obj: Option<&Object>| -> Object {
            obj.cloned()
                .or_else(|| parse_record(true, content).ok())
                .unwrap_or_default()
        };

        // A bad line just before: excused only by a matching recovery record.
        if let Some(bad) = self.pending_bad.take() {
            let obj = tree(obj);
            let fields = obj.get("fields");
            let torn_len = fields
                .and_then(|f| f.get_path("torn_bytes"))
                .and_then(Value::as_i64);
            let torn_sha = fields
                .and_then(|f| f.get_path("torn_sha256"))
                .and_then(Value::as_str);
            if action == RECOVERED_ACTION
                && torn_len == Some(bad.len as i64)
                && torn_sha == Some(bad.sha256.as_str())
            {
                self.finding(
                    FindingKind::Recovered,
                    &bad.file,
                    bad.line,
                    None,
                    format!("a torn line of {} bytes (an interrupted write) is documented by the signed recovery record at line {line_no}", bad.len),
                );
            } else {
                self.finding(
                    FindingKind::Tampered,
                    &bad.file,
                    bad.line,
                    bad.seq,
                    bad.reason,
                );
            }
        }

        // The MAC (checked by the examiner, or here when it needed the walk's line count).
        let mac_check = match mac_check {
            MacCheck::Deferred => {
                let input = match &facts {
                    Facts::Fast(s) => MacInput::Cut(content, s.mac_cut.clone()),
                    Facts::General(g) => MacInput::Tree(&g.obj),
                };
                let max_epoch = self.max_epoch();
                check_mac(
                    &self.keyring,
                    &mut self.cache,
                    kid,
                    seq,
                    mac,
                    Some(max_epoch),
                    input,
                )
            }
            other => other,
        };
        let mut mac_ok = false;
        match mac_check {
            MacCheck::Verified => {
                mac_ok = true;
                self.report.verified += 1;
            }
            MacCheck::TooFar => {
                let epoch = self.keyring.get(kid).map_or(0, |vk| vk.epoch_of(seq));
                self.finding(
                    FindingKind::Tampered,
                    file,
                    line_no,
                    Some(seq),
                    format!("seq {seq} is implausibly far ahead for a log of {} lines (epoch {epoch} of kid {kid:?}): not derived", self.report.lines),
                );
                self.next_seq = seq.saturating_add(1);
                self.last_mac.clear();
                self.last_mac.extend_from_slice(mac);
                return;
            }
            MacCheck::Mismatch => {
                let epoch = self.keyring.get(kid).map_or(0, |vk| vk.epoch_of(seq));
                self.finding(
                    FindingKind::Tampered,
                    file,
                    line_no,
                    Some(seq),
                    format!("MAC mismatch: the record was altered, or sealed with another key or epoch than kid {kid:?} at epoch {epoch} derives"),
                );
            }
            MacCheck::UnknownKid | MacCheck::Deferred => {
                let have: Vec<&str> = self.keyring.kids().collect();
                self.finding(
                    FindingKind::UnknownKey,
                    file,
                    line_no,
                    Some(seq),
                    format!(
                        "signed with key id {kid:?}, which is not in the keyring (have: {})",
                        if have.is_empty() {
                            "none".into()
                        } else {
                            have.join(", ")
                        }
                    ),
                );
            }
        }
        // Most records repeat the key id seen last.
        if self.last_kid.is_empty() || self.last_kid != kid {
            if !self.kids.contains(kid) {
                self.kids.insert(kid.to_owned());
            }
            kid.clone_into(&mut self.last_kid);
        }

        // The chain.
        match &self.chain {
            None => {
                // Both paths checked the chain id is ASCII.
                let chain = String::from_utf8_lossy(chain).into_owned();
                self.load_expectations(&chain);
                self.chain = Some(chain);
                self.first_seq = seq;
                if seq != 0 && !self.options.allow_partial_head {
                    self.finding(
                        FindingKind::Tampered,
                        file,
                        line_no,
                        Some(seq),
                        format!("the chain starts at seq {seq}: records 0..{} are missing (head of the log removed)", seq - 1),
                    );
                } else if seq == 0 && prev != ZERO_MAC.as_bytes() {
                    self.finding(
                        FindingKind::Tampered,
                        file,
                        line_no,
                        Some(0),
                        "the first record's prev is not 64 zeros".into(),
                    );
                }
            }
            Some(c) if c.as_bytes() != chain => {
                let chain = String::from_utf8_lossy(chain);
                self.finding(
                    FindingKind::Tampered,
                    file,
                    line_no,
                    Some(seq),
                    format!("this record belongs to chain {chain}, not {c}: spliced in from another log"),
                );
                self.check_header(file, line_no, action, || tree(obj));
                return;
            }
            Some(_) => {
                let expected = self.next_seq;
                if seq > expected {
                    let what = if seq - 1 == expected {
                        format!("record seq {expected} is missing (deleted)")
                    } else {
                        format!("records seq {expected}..{} are missing (deleted)", seq - 1)
                    };
                    self.finding(FindingKind::Tampered, file, line_no, Some(seq), what);
                } else if seq < expected {
                    self.finding(
                        FindingKind::Tampered,
                        file,
                        line_no,
                        Some(seq),
                        format!("seq {seq} comes after seq {}: a duplicated, inserted or reordered record", expected - 1),
                    );
                } else if prev != self.last_mac.as_slice() {
                    self.finding(
                        FindingKind::Tampered,
                        file,
                        line_no,
                        Some(seq),
                        format!("prev does not match the MAC of seq {}: the record before it was replaced, or this one was inserted", seq.wrapping_sub(1)),
                    );
                }
            }
        }
        self.check_header(file, line_no, action, || tree(obj));
        if mac_ok {
            if let Some(exps) = self.expectations.get_mut(&seq) {
                for e in exps.iter_mut() {
                    e.matched = e.head.as_bytes() == mac;
                    if !e.matched {
                        let (kind, what) = match e.source {
                            Source::Checkpoint => (FindingKind::Tampered, "a signed checkpoint vouches for another record at this seq: the log was rewritten from here"),
                            Source::State => (FindingKind::RolledBack, "the verifier's state remembers another record at this seq: the log was replaced"),
                        };
                        let message =
                            format!("{what} (expected MAC {}…)", &e.head[..e.head.len().min(16)]);
                        self.report.findings.push(Finding {
                            kind,
                            file: file.to_owned(),
                            line: line_no,
                            seq: Some(seq),
                            message,
                        });
                        e.matched = true; // reported
                    }
                }
            }
        }
        self.next_seq = seq.saturating_add(1);
        self.last_mac.clear();
        self.last_mac.extend_from_slice(mac);
    }

    fn check_header(
        &mut self,
        file: &str,
        line_no: u64,
        action: &str,
        obj: impl FnOnce() -> Object,
    ) {
        if !self.options.check_file_headers || (line_no != 1 && action != FILE_OPEN_ACTION) {
            return;
        }
        let obj = obj();
        let base = Path::new(file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let named = obj
            .get("file")
            .and_then(|f| f.get_path("name"))
            .and_then(Value::as_str);
        let seq = obj
            .get("audit")
            .and_then(|a| a.get_path("seq"))
            .and_then(Value::as_i64)
            .map(|s| s as u64);
        if line_no == 1 {
            if action != FILE_OPEN_ACTION {
                self.finding(FindingKind::Tampered, file, 1, seq, format!("the file does not start with its {FILE_OPEN_ACTION} header: its beginning was cut, or records were spliced in"));
            } else if named != Some(base.as_str()) {
                self.finding(
                    FindingKind::Tampered,
                    file,
                    1,
                    seq,
                    format!(
                        "the file's header names it {:?}: the file was renamed or copied",
                        named.unwrap_or("")
                    ),
                );
            }
        } else if action == FILE_OPEN_ACTION {
            self.finding(FindingKind::Tampered, file, line_no, seq, format!("a file header for {:?} in the middle of a file: files were concatenated or spliced", named.unwrap_or("")));
        }
    }

    /// A witness vouching for a chain this log does not contain means the log was deleted
    /// and restarted, or replaced: the vouched-for records are missing.
    fn check_foreign_checkpoints(&mut self, last_file: &str) {
        // Per absent chain, the newest checkpoint whose MAC verifies (a corrupted newest one
        // must not hide the older valid ones).
        let mut newest: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let max_epoch = self.max_epoch();
        for cp in &self.checkpoints {
            if Some(&cp.chain) == self.chain.as_ref() {
                continue;
            }
            if cp
                .verify_cached(&self.keyring, &mut self.cache, max_epoch)
                .is_ok()
            {
                let slot = newest.entry(cp.chain.clone()).or_insert((cp.seq, cp.count));
                if cp.seq > slot.0 {
                    *slot = (cp.seq, cp.count);
                }
            }
        }
        for (chain, (seq, count)) in newest {
            self.report.findings.push(Finding {
                kind: FindingKind::Truncated,
                file: last_file.to_owned(),
                line: 0,
                seq: Some(seq),
                message: format!(
                    "the witness vouches for {count} record(s) of chain {chain}, which this log does not contain: the log was deleted and restarted, or replaced"
                ),
            });
        }
    }

    /// The most epochs a verifier derives: a seq or checkpoint epoch beyond this is
    /// implausible for the log read so far (and would cost unbounded work).
    fn max_epoch(&self) -> u64 {
        max_epoch_for(self.report.lines)
    }

    fn load_expectations(&mut self, chain: &str) {
        let max_epoch = self.max_epoch();
        let mut cache = std::mem::take(&mut self.cache);
        for cp in &self.checkpoints {
            if cp.chain != chain {
                continue;
            }
            match cp.verify_cached(&self.keyring, &mut cache, max_epoch) {
                Ok(()) => self
                    .expectations
                    .entry(cp.seq)
                    .or_default()
                    .push(Expectation {
                        head: cp.head.clone(),
                        source: Source::Checkpoint,
                        matched: false,
                    }),
                Err(e) => self.report.findings.push(Finding {
                    kind: match e {
                        crate::checkpoint::CheckpointError::UnknownKey(_) => {
                            FindingKind::UnknownKey
                        }
                        _ => FindingKind::Tampered,
                    },
                    file: "(witness)".into(),
                    line: 0,
                    seq: Some(cp.seq),
                    message: e.to_string(),
                }),
            }
        }
        self.cache = cache;
        if let Some((seq, head)) = self.state.as_ref().and_then(|s| s.head(chain)) {
            self.expectations.entry(seq).or_default().push(Expectation {
                head: head.to_owned(),
                source: Source::State,
                matched: false,
            });
        }
    }

    fn finish(&mut self) -> Report {
        self.flush_bad();
        let last_file = self.report.files.last().cloned().unwrap_or_default();
        self.check_foreign_checkpoints(&last_file);
        match self.chain.clone() {
            None => {
                self.finding(
                    FindingKind::Truncated,
                    &last_file,
                    0,
                    None,
                    "the log holds no sealed record at all".into(),
                );
            }
            Some(chain) => {
                let last_seq = self.next_seq.saturating_sub(1);
                let unmatched: Vec<(u64, Source)> = self
                    .expectations
                    .iter()
                    .flat_map(|(seq, es)| {
                        es.iter()
                            .filter(|e| !e.matched)
                            .map(move |e| (*seq, e.source))
                    })
                    .collect();
                for (seq, source) in unmatched {
                    let (kind, message) = match source {
                        Source::Checkpoint if seq > last_seq => (
                            FindingKind::Truncated,
                            format!("a signed checkpoint vouches for seq {seq} but the log ends at seq {last_seq}: {} record(s) cut off the end", seq - last_seq),
                        ),
                        Source::State if seq > last_seq => (
                            FindingKind::RolledBack,
                            format!("seq {seq} was verified before but the log now ends at seq {last_seq}: it was rolled back to an older copy or truncated"),
                        ),
                        Source::Checkpoint => (FindingKind::Tampered, format!("a signed checkpoint vouches for seq {seq}, which is not a verified record of this log")),
                        Source::State => (FindingKind::RolledBack, format!("seq {seq} was verified before and is not a verified record of this log now")),
                    };
                    self.finding(kind, &last_file, 0, Some(seq), message);
                }
                self.report.chain = Some(ChainSummary {
                    chain,
                    first_seq: self.first_seq,
                    last_seq,
                    head: String::from_utf8_lossy(&self.last_mac).into_owned(),
                    records: self.next_seq.saturating_sub(self.first_seq),
                    kids: self.kids.iter().cloned().collect(),
                });
            }
        }
        std::mem::take(&mut self.report)
    }
}

/// Examined chunks waiting to be applied, by index: the chunk and what was found in it.
type Ready = BTreeMap<u64, (Vec<u8>, Vec<Item>)>;

/// The shared reader of a parallel walk.
struct Feed<'a> {
    chunks: Chunker<'a>,
    /// Chunks read.
    sent: u64,
    /// Chunks applied to the walk.
    applied: u64,
    /// Nothing more to read: the end of the input, a read error, or a stopped walk.
    done: bool,
    error: Option<std::io::Error>,
}

/// Chunks read and not yet applied, at most, on `threads` threads.
fn in_flight(threads: usize) -> u64 {
    2 * threads as u64 + 2
}

/// Lock, ignoring poisoning (the data stays consistent: nothing panics while holding it).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Read the next chunk and number it, when fewer than `limit` are in flight: waiting for
/// room when `wait`, else returning `None` at once. `None` also at the end.
fn next_job(
    feed: &Mutex<Feed<'_>>,
    turn: &Condvar,
    limit: u64,
    wait: bool,
) -> Option<(u64, Vec<u8>)> {
    let mut f = lock(feed);
    loop {
        if f.done {
            return None;
        }
        if f.sent - f.applied < limit {
            break;
        }
        if !wait {
            return None;
        }
        f = turn.wait(f).unwrap_or_else(|p| p.into_inner());
    }
    match f.chunks.next_chunk() {
        Ok(Some(chunk)) => {
            let index = f.sent;
            f.sent += 1;
            Some((index, chunk))
        }
        Ok(None) => {
            f.done = true;
            turn.notify_all();
            None
        }
        Err(e) => {
            f.error = Some(e);
            f.done = true;
            turn.notify_all();
            None
        }
    }
}

/// Ends the walk's reading when dropped during a panic.
struct StopOnPanic<'f, 'a>(&'f Mutex<Feed<'a>>, &'f Condvar);

impl Drop for StopOnPanic<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            lock(self.0).done = true;
            self.1.notify_all();
        }
    }
}

/// Bytes of whole lines handed to a worker at a time.
const CHUNK_BYTES: usize = 1 << 20;

/// The most epochs a verifier derives after reading `lines` lines: a seq or checkpoint
/// epoch beyond this is implausible for the log read so far (and would cost unbounded work).
fn max_epoch_for(lines: u64) -> u64 {
    (1u64 << 20).max(2 * lines + 16)
}

/// What examining one line found. It depends on the line alone (and the keyring), so lines
/// are examined on any thread, in any order, and the results applied to the walk in order.
enum Examined {
    /// The final piece of a file, without a newline.
    Torn,
    /// Not a valid sealed record: why, its claimed seq, and the SHA-256 of the line (which a
    /// recovery record on the next line must name).
    Bad {
        reason: String,
        seq: Option<u64>,
        sha256: String,
    },
    /// A sealed record whose integrity object is valid.
    Sealed { facts: Facts, mac: MacCheck },
}

/// What examining a chunk found, in order.
enum Item {
    /// One line: its length (with its newline) and what was found.
    Line(usize, Examined),
    /// Consecutive lines that each extend the chain of the line before them.
    Run(Run),
}

/// Consecutive lines of a chunk, each of which took the fast path, has a MAC that verified,
/// and extends the chain of the line before it (also such a line): the same chain id and
/// key id, the next seq, `prev` equal to its MAC, and an action other than the file
/// header's. A run never starts a chunk: the line it extends comes first, as an
/// [`Item::Line`]. Ranges are positions in the chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Run {
    /// The lines, with their newlines.
    bytes: Range<usize>,
    /// How many.
    lines: u64,
    /// The chain id of every line.
    chain: Range<usize>,
    /// The key id of every line.
    kid: Range<usize>,
    /// The seq of the first line.
    first_seq: u64,
    /// The `prev` of the first line.
    first_prev: Range<usize>,
    /// The seq of the last line.
    last_seq: u64,
    /// The MAC of the last line.
    last_mac: Range<usize>,
}

/// The line before, while examining a chunk, when it took the fast path and its MAC
/// verified: what the next line must match to extend a [`Run`].
struct Tail {
    chain: Range<usize>,
    kid: Range<usize>,
    seq: u64,
    mac: Range<usize>,
}

/// A sealed record's integrity object and action.
enum Facts {
    /// From the fast path (a canonical line): positions in the line.
    Fast(SealedLine),
    /// From the value tree (the general path; boxed: it is rare and large).
    General(Box<GeneralFacts>),
}

struct GeneralFacts {
    integrity: Integrity,
    action: String,
    obj: Object,
}

/// The outcome of the MAC check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MacCheck {
    Verified,
    Mismatch,
    /// The kid is not in the keyring.
    UnknownKid,
    /// The epoch is beyond what the log's length makes plausible: not derived.
    TooFar,
    /// The epoch is above 2^20: whether it is plausible depends on the number of lines read
    /// so far, which only the walk knows; it checks the MAC itself.
    Deferred,
}

/// The bytes a MAC covers.
enum MacInput<'a> {
    /// A canonical line without the bytes `"mac":"<64 hex>",` in this range.
    Cut(&'a [u8], Range<usize>),
    /// The canonical form of a record without `audit.mac`.
    Tree(&'a Object),
}

/// Check a MAC; `max_epoch` `None` defers epochs above 2^20 to the walk.
fn check_mac(
    keyring: &Keyring,
    cache: &mut EpochCache,
    kid: &str,
    seq: u64,
    claimed: &[u8],
    max_epoch: Option<u64>,
    input: MacInput<'_>,
) -> MacCheck {
    let Some(vk) = keyring.get(kid) else {
        return MacCheck::UnknownKid;
    };
    let epoch = vk.epoch_of(seq);
    let max_epoch = match max_epoch {
        Some(m) => m,
        None if epoch > max_epoch_for(0) => return MacCheck::Deferred,
        None => max_epoch_for(0),
    };
    let Some(mk) = cache.mac_key(vk, epoch, max_epoch) else {
        return MacCheck::TooFar;
    };
    mac_outcome(&mk, claimed, input)
}

/// Compute the MAC of `input` and compare it with the claimed one.
fn mac_outcome(mk: &MacKey, claimed: &[u8], input: MacInput<'_>) -> MacCheck {
    let mac = match input {
        MacInput::Cut(line, cut) => line_mac(mk, line, cut),
        MacInput::Tree(obj) => mk.mac(mac_input(obj).as_bytes()),
    };
    if mac_matches_bytes(&mac, claimed) {
        MacCheck::Verified
    } else {
        MacCheck::Mismatch
    }
}

/// Examines lines: parses them (the fast path first), checks their integrity object and
/// their MAC. One per thread (each with its own cache of derived epoch keys).
struct Examiner<'a> {
    keyring: &'a Keyring,
    strict: bool,
    fast: bool,
    cache: EpochCache,
    /// The key and epoch of the last fast-path MAC check, with its MAC key: most lines of
    /// a log share them, and this skips the keyring and cache look-ups.
    hot: Option<(&'a VerificationKey, u64, MacKey)>,
    /// Gather lines that extend the chain into [`Run`]s (off when the walk re-examines a
    /// run line by line).
    runs: bool,
}

impl<'a> Examiner<'a> {
    fn new(keyring: &'a Keyring, strict: bool, fast: bool) -> Examiner<'a> {
        Examiner {
            keyring,
            strict,
            fast,
            cache: EpochCache::default(),
            hot: None,
            runs: true,
        }
    }

    /// Examine every line of `chunk`, pushing what was found: per line its length (with its
    /// newline) and what was found, except that consecutive fast-path lines that extend the
    /// chain of the line before them are pushed together as one [`Run`].
    fn examine_chunk(&mut self, chunk: &[u8], out: &mut Vec<Item>) {
        let mut at = 0;
        // The previous line of the chunk, when it took the fast path and its MAC verified.
        let mut tail: Option<Tail> = None;
        while at < chunk.len() {
            let rest = &chunk[at..];
            let Some((s, content_len, mac)) = self.examine_fast(rest) else {
                let len = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
                out.push(Item::Line(len, self.examine(&rest[..len])));
                tail = None;
                at += len;
                continue;
            };
            let len = content_len + 1;
            let line = &rest[..content_len];
            let verified = mac == MacCheck::Verified;
            let links = verified
                && self.runs
                && tail.as_ref().is_some_and(|t| {
                    s.seq == t.seq + 1
                        && line[s.prev.clone()] == chunk[t.mac.clone()]
                        && line[s.chain.clone()] == chunk[t.chain.clone()]
                        && line[s.kid.clone()] == chunk[t.kid.clone()]
                        && s.action
                            .as_ref()
                            .is_none_or(|a| &line[a.clone()] != FILE_OPEN_ACTION.as_bytes())
                });
            let shift = |r: &Range<usize>| r.start + at..r.end + at;
            if links {
                match out.last_mut() {
                    Some(Item::Run(run)) if run.bytes.end == at => {
                        run.bytes.end += len;
                        run.lines += 1;
                        run.last_seq = s.seq;
                        run.last_mac = shift(&s.mac);
                    }
                    _ => out.push(Item::Run(Run {
                        bytes: at..at + len,
                        lines: 1,
                        chain: shift(&s.chain),
                        kid: shift(&s.kid),
                        first_seq: s.seq,
                        first_prev: shift(&s.prev),
                        last_seq: s.seq,
                        last_mac: shift(&s.mac),
                    })),
                }
            }
            tail = verified.then(|| Tail {
                chain: shift(&s.chain),
                kid: shift(&s.kid),
                seq: s.seq,
                mac: shift(&s.mac),
            });
            if !links {
                out.push(Item::Line(
                    len,
                    Examined::Sealed {
                        facts: Facts::Fast(s),
                        mac,
                    },
                ));
            }
            at += len;
        }
    }

    /// The fast path on the line at the start of `rest` (see [`scan_line`]): what it
    /// found, the line's length without its newline, and the MAC check.
    fn examine_fast(&mut self, rest: &[u8]) -> Option<(SealedLine, usize, MacCheck)> {
        if !(self.strict && self.fast) {
            return None;
        }
        let (s, len) = scan_line(rest)?;
        let content = &rest[..len];
        let kid = &content[s.kid.clone()];
        let claimed = &content[s.mac.clone()];
        let input = MacInput::Cut(content, s.mac_cut.clone());
        let mac = match &self.hot {
            Some((vk, epoch, mk)) if vk.kid().as_bytes() == kid && vk.epoch_of(s.seq) == *epoch => {
                // The same outcome as `check_mac`, whose look-ups gave `mk` for this kid
                // and epoch before.
                mac_outcome(mk, claimed, input)
            }
            _ => {
                // The scanner checked the key id is ASCII.
                let kid = std::str::from_utf8(kid).unwrap_or("");
                let mac = check_mac(
                    self.keyring,
                    &mut self.cache,
                    kid,
                    s.seq,
                    claimed,
                    None,
                    input,
                );
                if matches!(mac, MacCheck::Verified | MacCheck::Mismatch) {
                    // The key was found and its epoch derived: remember them.
                    if let Some(vk) = self.keyring.get(kid) {
                        let epoch = vk.epoch_of(s.seq);
                        if let Some(mk) = self.cache.mac_key(vk, epoch, max_epoch_for(0)) {
                            self.hot = Some((vk, epoch, mk));
                        }
                    }
                }
                mac
            }
        };
        Some((s, len, mac))
    }

    /// The general path: parse the line into a value tree.
    fn examine(&mut self, raw: &[u8]) -> Examined {
        let Some(content) = raw.strip_suffix(b"\n") else {
            return Examined::Torn;
        };
        let bad = |reason: String, seq: Option<u64>| Examined::Bad {
            reason,
            seq,
            sha256: hex::encode(Sha256::digest(content)),
        };
        let obj = match parse_record(self.strict, content) {
            Ok(obj) => obj,
            Err((reason, seq)) => return bad(reason, seq),
        };
        let action = crate::record::action_of(&obj).to_owned();
        let integrity = match Integrity::of(&obj) {
            Ok(i) => i,
            Err((reason, seq)) => return bad(reason.to_owned(), seq),
        };
        let mac = check_mac(
            self.keyring,
            &mut self.cache,
            &integrity.kid,
            integrity.seq,
            integrity.mac.as_bytes(),
            None,
            MacInput::Tree(&obj),
        );
        Examined::Sealed {
            facts: Facts::General(Box::new(GeneralFacts {
                integrity,
                action,
                obj,
            })),
            mac,
        }
    }
}

/// Parse a line into an object: in strict mode it must be byte-for-byte canonical.
fn parse_record(strict: bool, content: &[u8]) -> Result<Object, (String, Option<u64>)> {
    let parsed = if strict {
        match canonical::parse_bytes(content) {
            Ok(v) => {
                let canon = v.to_canonical_string();
                if canon.as_bytes() != content {
                    let at = canon
                        .bytes()
                        .zip(content.iter())
                        .position(|(a, b)| a != *b)
                        .unwrap_or(canon.len().min(content.len()));
                    let seq = v
                        .get_path("audit.seq")
                        .and_then(Value::as_i64)
                        .map(|s| s as u64);
                    return Err((format!("the line is not in canonical form (first difference at byte {at}): it was edited or re-serialized"), seq));
                }
                v
            }
            Err(e) => return Err((describe_parse_error(&e), None)),
        }
    } else {
        canonical::parse_bytes(content).map_err(|e| (describe_parse_error(&e), None))?
    };
    match parsed {
        Value::Object(o) => Ok(o),
        _ => Err(("the line is not a JSON object".into(), None)),
    }
}

/// Cuts an input into chunks of whole lines (the last one may lack its newline).
struct Chunker<'a> {
    input: &'a mut (dyn Read + Send),
    size: usize,
    carry: Vec<u8>,
    spare: Vec<Vec<u8>>,
    eof: bool,
}

impl<'a> Chunker<'a> {
    fn new(input: &'a mut (dyn Read + Send), size: usize) -> Chunker<'a> {
        Chunker {
            input,
            size: size.max(1),
            carry: Vec::new(),
            spare: Vec::new(),
            eof: false,
        }
    }

    /// Give back a chunk's buffer for reuse.
    fn recycle(&mut self, buf: Vec<u8>) {
        self.spare.push(buf);
    }

    /// The next chunk: whole lines of about `size` bytes, or what is left at the end.
    fn next_chunk(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.append(&mut self.carry);
        loop {
            if buf.len() >= self.size {
                if let Some(nl) = buf.iter().rposition(|&b| b == b'\n') {
                    self.carry.extend_from_slice(&buf[nl + 1..]);
                    buf.truncate(nl + 1);
                    return Ok(Some(buf));
                }
            }
            if self.eof {
                return Ok((!buf.is_empty()).then_some(buf));
            }
            let want = self.size.saturating_sub(buf.len()).max(64 << 10);
            buf.reserve(want);
            // `read_to_end` fills the spare capacity without zeroing it first.
            if (&mut *self.input).take(want as u64).read_to_end(&mut buf)? == 0 {
                self.eof = true;
            }
        }
    }
}

fn describe_parse_error(e: &canonical::ParseError) -> String {
    match e.kind {
        ParseErrorKind::InvalidUtf8 => format!("the line is not valid UTF-8 (byte {})", e.offset),
        _ => format!("the line is not valid strict JSON: {e}"),
    }
}

/// The log files of a directory, in name order: regular files whose names do not start
/// with `.` and do not end in `.tmp`, `.key`, `.state` or `.witness`.
///
/// ```
/// use audit_core::verify::{log_files_in, VerifyError};
/// let dir = tempfile::tempdir()?;
/// assert!(matches!(log_files_in(dir.path()), Err(VerifyError::NoFiles(_))));
/// for name in ["audit-1.log", "audit-0.log", "writer.key", "audit.log.tmp", ".lock"] {
///     std::fs::write(dir.path().join(name), "")?;
/// }
/// let names: Vec<_> = log_files_in(dir.path())?.iter().map(|p| p.file_name().unwrap().to_owned()).collect();
/// assert_eq!(names, ["audit-0.log", "audit-1.log"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn log_files_in(dir: &Path) -> Result<Vec<PathBuf>, VerifyError> {
    let io = |source| VerifyError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let skip = name.starts_with('.')
            || [".tmp", ".key", ".state", ".witness"]
                .iter()
                .any(|s| name.ends_with(s));
        if !skip && entry.file_type().map_err(io)?.is_file() {
            files.push(entry.path());
        }
    }
    if files.is_empty() {
        return Err(VerifyError::NoFiles(dir.to_owned()));
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SealingKey;
    use crate::record::{Outcome, Record};
    use crate::sink::file::{FileLog, FileLogOptions};

    /// A real log file of 300 records (short epochs, varied content: escapes, non-ASCII,
    /// deep values take the general path) and its keyring.
    fn sample_log(dir: &Path) -> (PathBuf, String, Keyring) {
        let (sk, vk) = SealingKey::generate("k1", 8).unwrap();
        let path = dir.join("audit.log");
        let mut log = FileLog::open(&path, sk, FileLogOptions::default()).unwrap();
        for i in 0..300i64 {
            let outcome = if i % 5 == 0 {
                Outcome::Denied
            } else {
                Outcome::Success
            };
            let mut r = Record::new("auth.login", outcome, std::time::UNIX_EPOCH).unwrap();
            r.set_actor(format!("user-{i}"));
            r.set_field("n", i);
            match i % 7 {
                0 => r.set_reason("quote \" and \\ and \n and \u{1}"),
                1 => r.set_reason("unicode é 中文 😀"),
                2 => r.set_field("deep", Value::Array(vec![Value::Array(vec![]); 3])),
                3 => r.set_field("needs \"escape\"", true),
                _ => {}
            }
            log.append(r).unwrap();
        }
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut keyring = Keyring::new();
        keyring.add(vk).unwrap();
        (path, text, keyring)
    }

    /// Verify `text` every way: 1 thread and several, tiny chunks and large ones, with and
    /// without the fast path; every report must be the same.
    fn every_way(name: &str, text: &str, keyring: &Keyring) -> Report {
        let mut reports = Vec::new();
        for (threads, chunk, fast) in [
            (1, CHUNK_BYTES, true),
            (1, CHUNK_BYTES, false),
            (1, 97, true),
            (2, 1, true),
            (2, 700, true),
            (3, 4096, true),
            (2, 700, false),
        ] {
            let mut v = Verifier::new(keyring.clone()).with_threads(threads);
            v.chunk_bytes = chunk;
            v.fast_path = fast;
            reports.push(((threads, chunk, fast), v.verify_str(name, text)));
        }
        let first = reports[0].1.clone();
        for (how, r) in &reports {
            assert_eq!(r, &first, "{how:?} differs from 1 thread, fast path");
        }
        first
    }

    #[test]
    fn parallel_and_fast_paths_report_exactly_what_the_sequential_path_does() {
        let dir = tempfile::tempdir().unwrap();
        let (path, text, keyring) = sample_log(dir.path());
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let join = |ls: &[&str]| ls.concat();
        let other = {
            let dir2 = tempfile::tempdir().unwrap();
            sample_log(dir2.path()).1
        };
        let mut variants: Vec<(&str, String)> = vec![("untouched", text.clone())];
        let mut v = lines.clone();
        let changed = v[100].replacen("user-", "usr-", 1);
        v[100] = &changed;
        variants.push(("value changed", join(&v)));
        let mut v = lines.clone();
        v.remove(50);
        variants.push(("line deleted", join(&v)));
        let mut v = lines.clone();
        v.swap(60, 61);
        variants.push(("lines swapped", join(&v)));
        let mut v = lines.clone();
        v.insert(70, lines[70]);
        variants.push(("line duplicated", join(&v)));
        let mut v = lines.clone();
        let spaced = lines[80].replacen(',', ", ", 1);
        v[80] = &spaced;
        variants.push(("not canonical", join(&v)));
        let mut v = lines.clone();
        let torn = format!("{}\n", &lines[90][..40]);
        v[90] = &torn;
        variants.push(("torn in the middle", join(&v)));
        variants.push(("torn tail", text[..text.len() - 30].to_owned()));
        variants.push(("header removed", join(&lines[1..])));
        let mut v = lines.clone();
        let foreign: Vec<&str> = other.split_inclusive('\n').collect();
        v[120] = foreign[120];
        variants.push(("spliced", join(&v)));
        let mut v = lines.clone();
        let mac = lines[130].replacen("\"mac\":\"", "\"mac\":\"0", 1);
        v[130] = &mac;
        variants.push(("mac mangled", join(&v)));
        let mut v = lines.clone();
        let far = lines[140].replacen("\"seq\":", "\"seq\":9000000000", 1);
        v[140] = &far;
        variants.push(("seq far ahead", join(&v)));
        variants.push(("empty", String::new()));
        let mut verdicts = Vec::new();
        for (what, t) in &variants {
            let report = every_way("audit.log", t, &keyring);
            verdicts.push((*what, report.verdict()));
        }
        assert_eq!(verdicts[0], ("untouched", Verdict::Ok));
        assert!(
            verdicts[1..].iter().all(|(_, v)| *v != Verdict::Ok),
            "{verdicts:?}"
        );
        // Unknown key: the same with an empty keyring.
        every_way("audit.log", &variants[2].1, &Keyring::new());

        // Files: the parallel walk of a real file gives the sequential report.
        let seq = Verifier::new(keyring.clone())
            .with_threads(1)
            .verify_files(std::slice::from_ref(&path))
            .unwrap();
        let mut par = Verifier::new(keyring.clone()).with_threads(2);
        par.chunk_bytes = 1000;
        assert_eq!(par.verify_files(std::slice::from_ref(&path)).unwrap(), seq);
        assert_eq!(seq.verdict(), Verdict::Ok);
        assert_eq!(seq.verified, 301);
    }

    /// The record lines of a plain log (no escapes: every line takes the fast path) and
    /// its keyring.
    fn plain_log(records: i64) -> (String, Keyring) {
        let (sk, vk) = SealingKey::generate("k1", 16).unwrap();
        let mut keyring = Keyring::new();
        keyring.add(vk).unwrap();
        (plain_chain(sk, records), keyring)
    }

    /// A new chain of `records` plain records sealed with `sk`.
    fn plain_chain(sk: SealingKey, records: i64) -> String {
        let mut sealer = crate::seal::Sealer::new_chain(sk).unwrap();
        let mut text = String::new();
        for i in 0..records {
            let mut r = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH).unwrap();
            r.set_actor(format!("user-{i}"));
            text += &sealer.seal(r).unwrap().line;
        }
        text
    }

    #[test]
    fn runs_gather_linked_fast_lines_and_match_single_lines() {
        let (text, keyring) = plain_log(50);
        let mut examiner = Examiner::new(&keyring, true, true);
        let mut items = Vec::new();
        examiner.examine_chunk(text.as_bytes(), &mut items);
        // The first line stands alone (nothing before it in the chunk); the rest is one run.
        assert_eq!(items.len(), 2);
        let Item::Run(run) = &items[1] else {
            panic!("no run")
        };
        let first_len = text.find('\n').unwrap() + 1;
        assert_eq!(run.bytes, first_len..text.len());
        assert_eq!((run.lines, run.first_seq, run.last_seq), (49, 1, 49));
        // Without runs: one item per line, each what the run stands for.
        let mut single = Examiner::new(&keyring, true, true);
        single.runs = false;
        let mut lines = Vec::new();
        single.examine_chunk(text.as_bytes(), &mut lines);
        assert_eq!(lines.len(), 50);
        let macs: Vec<&[u8]> = lines
            .iter()
            .zip(text.split_inclusive('\n'))
            .map(|(item, line)| match item {
                Item::Line(
                    len,
                    Examined::Sealed {
                        facts: Facts::Fast(s),
                        mac,
                    },
                ) => {
                    assert_eq!(*len, line.len());
                    assert_eq!(*mac, MacCheck::Verified);
                    &line.as_bytes()[s.mac.clone()]
                }
                _ => panic!("not a fast sealed line"),
            })
            .collect();
        let b = text.as_bytes();
        assert_eq!(&b[run.first_prev.clone()], macs[0]);
        assert_eq!(&b[run.last_mac.clone()], macs[49]);

        // A line whose MAC does not verify breaks the run, and so does the line after it
        // (its prev is a MAC that did not verify).
        let mangled = text.replacen("user-20", "user-2O", 1);
        let mut items = Vec::new();
        examiner.examine_chunk(mangled.as_bytes(), &mut items);
        let kinds: Vec<u64> = items
            .iter()
            .map(|i| match i {
                Item::Line(..) => 0,
                Item::Run(r) => r.lines,
            })
            .collect();
        assert_eq!(kinds, [0, 19, 0, 0, 28]);
        every_way("audit.log", &mangled, &keyring);
    }

    #[test]
    fn runs_report_what_single_lines_do_at_once_or_line_by_line() {
        // Two chains sealed with the same key: the other chain's lines verify, and link
        // into runs of their own.
        let (sk, vk) = SealingKey::generate("k1", 16).unwrap();
        let same_key: SealingKey = sk.to_text().parse().unwrap();
        let (text, other) = (plain_chain(sk, 120), plain_chain(same_key, 120));
        let mut keyring = Keyring::new();
        keyring.add(vk).unwrap();
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let foreign: Vec<&str> = other.split_inclusive('\n').collect();
        let join = |ls: &[&str]| ls.concat();
        let options = VerifyOptions {
            check_file_headers: false,
            ..VerifyOptions::default()
        };
        let mut cases: Vec<(&str, String)> = Vec::new();
        // Consecutive lines of another chain: a run, after a line the walk rejects as
        // spliced (so it never becomes the chain's last MAC).
        let mut v = lines.clone();
        v.splice(40..40, foreign[60..66].iter().copied());
        cases.push(("foreign run", join(&v)));
        {
            // The spliced lines do form a run (of the other chain), which the walk must
            // then apply line by line.
            let b = cases[0].1.as_bytes();
            let mut items = Vec::new();
            Examiner::new(&keyring, true, true).examine_chunk(b, &mut items);
            let at = other.find("\"chain\":\"").unwrap() + 9;
            let foreign_chain = &other.as_bytes()[at..at + 32];
            let foreign_run = |i: &Item| match i {
                Item::Run(r) => r.lines == 5 && &b[r.chain.clone()] == foreign_chain,
                Item::Line(..) => false,
            };
            assert!(items.iter().any(foreign_run));
        }
        // A block of lines repeated: the first repeated line is reported, and the run
        // after it extends it, as line by line.
        let mut v = lines.clone();
        v.splice(80..80, lines[70..76].iter().copied());
        cases.push(("repeated run", join(&v)));
        // A block moved ahead: runs that skip and go back.
        let mut v = lines.clone();
        let moved: Vec<&str> = v.drain(30..36).collect();
        v.splice(50..50, moved);
        cases.push(("moved run", join(&v)));
        // A bad line before a run.
        let mut v = lines.clone();
        let torn = format!("{}\n", &lines[90][..50]);
        v[90] = &torn;
        cases.push(("bad line before a run", join(&v)));
        for (what, t) in &cases {
            let mut reports = Vec::new();
            for (fast, chunk, threads) in [
                (false, CHUNK_BYTES, 1),
                (true, CHUNK_BYTES, 1),
                (true, 3000, 2),
            ] {
                let mut v = Verifier::new(keyring.clone())
                    .with_options(options.clone())
                    .with_threads(threads);
                v.fast_path = fast;
                v.chunk_bytes = chunk;
                reports.push(v.verify_str("mem", t));
            }
            assert_ne!(reports[0].verdict(), Verdict::Ok, "{what}");
            assert_eq!(reports[1], reports[0], "{what}");
            assert_eq!(reports[2], reports[0], "{what}");
        }

        // An expectation (a state's head) inside a run: checked line by line, matched or not.
        let head = |seq: usize, mac: &str| {
            let mut state = VerifierState::default();
            let chain = lines[0].split("\"chain\":\"").nth(1).unwrap()[..32].to_owned();
            state.heads.insert(
                chain,
                (seq as u64, mac.to_owned(), "2026-01-01T00:00:00Z".into()),
            );
            state
        };
        let mac_of = |line: &str| line.split("\"mac\":\"").nth(1).unwrap()[..64].to_owned();
        for state in [
            head(57, &mac_of(lines[57])),
            head(57, &mac_of(lines[58])),
            head(500, ZERO_MAC),
        ] {
            let mut reports = Vec::new();
            for fast in [false, true] {
                let mut v = Verifier::new(keyring.clone())
                    .with_options(options.clone())
                    .with_state(state.clone());
                v.fast_path = fast;
                reports.push(v.verify_str("mem", &text));
            }
            assert_eq!(reports[1], reports[0]);
        }
    }

    #[test]
    fn progress_is_reported_after_every_line_of_a_run() {
        let (text, keyring) = plain_log(60);
        let seen = |fast: bool| {
            let bytes = std::sync::Arc::new(Mutex::new(Vec::new()));
            let sink = bytes.clone();
            let mut v = Verifier::new(keyring.clone())
                .with_options(VerifyOptions {
                    check_file_headers: false,
                    ..VerifyOptions::default()
                })
                .on_progress(move |b| sink.lock().unwrap().push(b));
            v.fast_path = fast;
            assert_eq!(v.verify_str("mem", &text).verdict(), Verdict::Ok);
            let out = bytes.lock().unwrap().clone();
            out
        };
        let expected: Vec<u64> = text
            .match_indices('\n')
            .map(|(i, _)| i as u64 + 1)
            .collect();
        assert_eq!(seen(true), expected);
        assert_eq!(seen(false), expected);
    }
}
