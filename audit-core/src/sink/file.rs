//! The append-only file log: one file, one writer, one chain.
//!
//! [`FileLog::open`] creates the file (mode 0600, directory fsynced) or continues the chain
//! found at its tail, and takes an exclusive lock so a second writer fails with
//! [`SinkError::Locked`] instead of forking the chain. A new file starts with an
//! `audit.file.open` record that names the file (`file.name`), binding the name into what is
//! signed. A torn final line left by a crash is kept as evidence: the writer terminates it
//! and appends a signed `audit.log.recovered` record carrying its length and SHA-256, so the
//! verifier can report it precisely.
//!
//! ```
//! use audit_core::keys::SealingKey;
//! use audit_core::record::{Outcome, Record};
//! use audit_core::sink::file::{FileLog, FileLogOptions};
//! let dir = tempfile::tempdir()?;
//! let (sk, _vk) = SealingKey::generate("k1", 1024)?;
//! let mut log = FileLog::open(&dir.path().join("audit.log"), sk, FileLogOptions::default())?;
//! log.append(Record::new("deploy.release", Outcome::Success, std::time::SystemTime::now())?)?;
//! assert_eq!(log.sealer().next_seq(), 2); // the file header is seq 0
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::canonical;
use crate::keys::SealingKey;
use crate::record::{Outcome, Record};
use crate::seal::{ChainHead, SealError, Sealed, Sealer, Unsealed};

/// Action of the first record of every file.
///
/// ```
/// use audit_core::sink::file::{FileLog, FileLogOptions, FILE_OPEN_ACTION};
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
/// let text = std::fs::read_to_string(log.path())?;
/// assert!(text.lines().next().unwrap().contains(FILE_OPEN_ACTION));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const FILE_OPEN_ACTION: &str = "audit.file.open";
/// Action of the record that documents a torn line found at open.
///
/// ```
/// use std::io::Write;
/// use audit_core::sink::file::{FileLog, FileLogOptions, RECOVERED_ACTION};
/// # let dir = tempfile::tempdir()?;
/// # let (key, verification) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// let path = dir.path().join("audit.log");
/// drop(FileLog::open(&path, key, FileLogOptions::default())?);
/// std::fs::OpenOptions::new().append(true).open(&path)?.write_all(br#"{"interrupted"#)?; // a crash
/// drop(FileLog::open(&path, verification.to_sealing_key(), FileLogOptions::default())?);
/// assert!(std::fs::read_to_string(&path)?.lines().last().unwrap().contains(RECOVERED_ACTION));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const RECOVERED_ACTION: &str = "audit.log.recovered";

/// Which I/O operation a [`FaultHook`] is asked about.
///
/// ```
/// use std::sync::Arc;
/// use audit_core::sink::file::{FileLog, FileLogOptions, IoOp, SinkError};
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// let hook = Arc::new(|op: IoOp| (op == IoOp::Sync).then(|| std::io::Error::other("injected")));
/// let opts = FileLogOptions { fault_hook: Some(hook), ..FileLogOptions::default() };
/// let mut log = FileLog::open(&dir.path().join("audit.log"), key, opts)?;
/// assert!(matches!(log.sync(), Err(SinkError::Io { op: "fdatasync", .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoOp {
    /// Appending bytes.
    Write,
    /// `fdatasync`.
    Sync,
}

/// A fault injector for tests of failure handling: called before each write and sync; an
/// `Err` it returns is treated as if the OS had returned it (a write fails after writing
/// half of its bytes, as a full disk does).
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use audit_core::record::{Outcome, Record};
/// use audit_core::sink::file::{FaultHook, FileLog, FileLogOptions, IoOp};
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// let disk_full = Arc::new(AtomicBool::new(false));
/// let full = disk_full.clone();
/// let hook: FaultHook = Arc::new(move |op| {
///     (op == IoOp::Write && full.load(Ordering::Relaxed)).then(|| std::io::Error::other("disk full"))
/// });
/// let opts = FileLogOptions { fault_hook: Some(hook), ..FileLogOptions::default() };
/// let mut log = FileLog::open(&dir.path().join("audit.log"), key, opts)?;
/// let len = log.len();
/// disk_full.store(true, Ordering::Relaxed);
/// assert!(log.append(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?).is_err());
/// assert_eq!(log.len(), len); // the half-written line is not counted
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type FaultHook = Arc<dyn Fn(IoOp) -> Option<std::io::Error> + Send + Sync>;

/// Options for [`FileLog::open`] and [`FileLog::open_dir`].
///
/// ```
/// use audit_core::sink::file::{FileLog, FileLogOptions};
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// let opts = FileLogOptions {
///     sync_every_record: true,
///     chain_id: Some("payments-1".into()),
///     ..FileLogOptions::default()
/// };
/// let log = FileLog::open(&dir.path().join("audit.log"), key, opts)?;
/// assert_eq!(log.sealer().chain_id(), "payments-1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct FileLogOptions {
    /// Rewrite the sealing key's state file here when the key evolves (in the background:
    /// see [`Sealer::persist_key_to`]).
    pub key_state_path: Option<PathBuf>,
    /// How often at most that file is rewritten; `None`:
    /// [`DEFAULT_KEY_STATE_INTERVAL`](crate::seal::DEFAULT_KEY_STATE_INTERVAL) (20 ms),
    /// `Some(Duration::ZERO)`: at every epoch.
    pub key_state_interval: Option<std::time::Duration>,
    /// `fdatasync` after every [`FileLog::append`] (the default is to leave it to the OS).
    pub sync_every_record: bool,
    /// The chain id of a new log (random when `None`).
    pub chain_id: Option<String>,
    /// Fault injection for tests (see [`FaultHook`]).
    pub fault_hook: Option<FaultHook>,
}

impl std::fmt::Debug for FileLogOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileLogOptions")
            .field("key_state_path", &self.key_state_path)
            .field("key_state_interval", &self.key_state_interval)
            .field("sync_every_record", &self.sync_every_record)
            .field("chain_id", &self.chain_id)
            .field("fault_hook", &self.fault_hook.is_some())
            .finish()
    }
}

/// Errors of the file sink.
///
/// ```
/// use audit_core::sink::file::{FileLog, FileLogOptions, SinkError};
/// # let dir = tempfile::tempdir()?;
/// # let (key, verification) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// let path = dir.path().join("audit.log");
/// let _first = FileLog::open(&path, key, FileLogOptions::default())?;
/// let second = FileLog::open(&path, verification.to_sealing_key(), FileLogOptions::default());
/// assert!(matches!(second, Err(SinkError::Locked(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// An I/O operation failed.
    #[error("audit log {path}: {op}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// Another writer holds the log.
    #[error("audit log {0} is locked by another writer; one writer per log keeps the chain whole (stop the other process or use another file)")]
    Locked(PathBuf),
    /// The last complete line is not a sealed record, so the chain cannot be continued.
    #[error("audit log {path}: cannot continue the chain: {reason}; run `audit-log verify` on it and start a new file")]
    BadTail {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Sealing failed.
    #[error("audit log: {0}")]
    Seal(#[from] SealError),
}

/// An open, locked, append-only log: one file, or a directory of rotated files.
///
/// ```
/// use audit_core::record::{Outcome, Record};
/// use audit_core::sink::file::{FileLog, FileLogOptions};
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// let mut log = FileLog::open_dir(dir.path(), "audit", key, FileLogOptions::default())?;
/// log.append(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
/// log.rotate()?;
/// assert_eq!(std::fs::read_dir(dir.path())?.count(), 2); // one chain, two files
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FileLog {
    file: File,
    path: PathBuf,
    dir: Option<(PathBuf, String)>,
    sealer: Sealer,
    sync_every_record: bool,
    /// Bytes known to be whole lines in the current file.
    len: u64,
    opened: std::time::Instant,
    fault: Option<FaultHook>,
    /// A rewrite of the key's state file failed (reported by
    /// [`take_key_state_error`](FileLog::take_key_state_error) or
    /// [`sync_key_state`](FileLog::sync_key_state)).
    key_state_error: Option<SealError>,
}

impl std::fmt::Debug for FileLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileLog")
            .field("path", &self.path)
            .field("len", &self.len)
            .field("sealer", &self.sealer)
            .finish_non_exhaustive()
    }
}

/// A file a log has rotated away from, still locked, whose `fdatasync` is owed
/// ([`FileLog::rotate_unsynced`]).
///
/// ```
/// use audit_core::sink::file::{FileLog, FileLogOptions};
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// let mut log = FileLog::open_dir(dir.path(), "audit", key, FileLogOptions::default())?;
/// let closed = log.rotate_unsynced()?;
/// assert_ne!(closed.path(), log.path());
/// closed.sync()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the file is not known to be on disk until it is synced"]
pub struct ClosedFile {
    file: File,
    path: PathBuf,
    fault: Option<FaultHook>,
}

impl ClosedFile {
    /// The file's path.
    /// (Example: see [`FileLog::rotate_unsynced`].)
    ///
    /// ```
    /// use audit_core::sink::file::{segment_name, FileLog, FileLogOptions};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let mut log = FileLog::open_dir(dir.path(), "audit", key, FileLogOptions::default())?;
    /// let closed = log.rotate_unsynced()?;
    /// assert_eq!(closed.path(), dir.path().join(segment_name("audit", 0)));
    /// # closed.sync()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `fdatasync` the file, then release it (its lock with it). A failure names the file:
    /// its last lines may not be on disk (keep the log's writer alerted, as for any sync).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use audit_core::sink::file::{FaultHook, FileLog, FileLogOptions, IoOp, SinkError};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let failing = Arc::new(AtomicBool::new(false));
    /// let fail = failing.clone();
    /// let hook: FaultHook = Arc::new(move |op| {
    ///     (op == IoOp::Sync && fail.load(Ordering::Relaxed)).then(|| std::io::Error::other("I/O error"))
    /// });
    /// let opts = FileLogOptions { fault_hook: Some(hook), ..FileLogOptions::default() };
    /// let mut log = FileLog::open_dir(dir.path(), "audit", key, opts)?;
    /// let closed = log.rotate_unsynced()?;
    /// let left = closed.path().to_path_buf();
    /// failing.store(true, Ordering::Relaxed);
    /// match closed.sync() {
    ///     Err(SinkError::Io { path, .. }) => assert_eq!(path, left),
    ///     other => panic!("expected the sync to fail: {other:?}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sync(self) -> Result<(), SinkError> {
        sync_data(&self.file, &self.path, self.fault.as_ref())
    }
}

impl std::fmt::Debug for ClosedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClosedFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// `fdatasync` (or the fault a test injects instead).
fn sync_data(file: &File, path: &Path, fault: Option<&FaultHook>) -> Result<(), SinkError> {
    let res = match fault.and_then(|f| f(IoOp::Sync)) {
        Some(e) => Err(e),
        None => file.sync_data(),
    };
    res.map_err(|source| SinkError::Io {
        path: path.to_owned(),
        op: "fdatasync",
        source,
    })
}

/// The name of the rotated file whose first record (its header) has `seq`.
///
/// ```
/// use audit_core::sink::file::segment_name;
/// assert_eq!(segment_name("audit", 42), "audit-00000000000000000042.log");
/// assert!(segment_name("audit", 9) < segment_name("audit", 10)); // names sort in chain order
/// ```
pub fn segment_name(prefix: &str, seq: u64) -> String {
    format!("{prefix}-{seq:020}.log")
}

impl FileLog {
    /// Open (or create) the single-file log at `path` and continue its chain.
    ///
    /// ```
    /// use audit_core::record::{Outcome, Record};
    /// use audit_core::sink::file::{FileLog, FileLogOptions};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, verification) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let path = dir.path().join("audit.log");
    /// let mut log = FileLog::open(&path, key, FileLogOptions::default())?;
    /// log.append(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// let chain = log.sealer().chain_id().to_owned();
    /// drop(log);
    /// let key = verification.to_sealing_key(); // a stored key state, in practice: SealingKey::load
    /// let log = FileLog::open(&path, key, FileLogOptions::default())?; // continues the chain
    /// assert_eq!((log.sealer().chain_id(), log.sealer().next_seq()), (chain.as_str(), 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: &Path, key: SealingKey, opts: FileLogOptions) -> Result<FileLog, SinkError> {
        FileLog::open_inner(path, None, key, opts, None)
    }

    /// Open (or create) a rotated log in directory `dir`: files named
    /// `<prefix>-<seq of their header, 20 digits>.log`, which sort in chain order. The newest
    /// file is continued; if it is empty (a crash right after rotation), the chain continues
    /// from the file before it.
    ///
    /// ```
    /// use audit_core::sink::file::{segment_name, FileLog, FileLogOptions};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let log = FileLog::open_dir(&dir.path().join("audit"), "audit", key, FileLogOptions::default())?;
    /// assert_eq!(log.path(), dir.path().join("audit").join(segment_name("audit", 0)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_dir(
        dir: &Path,
        prefix: &str,
        key: SealingKey,
        opts: FileLogOptions,
    ) -> Result<FileLog, SinkError> {
        let io = |op| {
            let path = dir.to_owned();
            move |source| SinkError::Io { path, op, source }
        };
        std::fs::create_dir_all(dir).map_err(io("create directory"))?;
        let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io("list directory"))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{prefix}-")) && n.ends_with(".log"))
            })
            .collect();
        segments.sort();
        let dir_info = Some((dir.to_owned(), prefix.to_owned()));
        match segments.len() {
            0 => {
                let path = dir.join(segment_name(prefix, 0));
                FileLog::open_inner(&path, dir_info, key, opts, None)
            }
            n => {
                let last = &segments[n - 1];
                let mut last_file = File::open(last).map_err(io("open"))?;
                let last_len = last_file.metadata().map_err(io("stat"))?.len();
                let no_whole_line = read_tail(&mut last_file, last_len)
                    .map_err(io("read tail"))?
                    .last_line
                    .is_none();
                let head = if no_whole_line && n > 1 {
                    let mut prev = File::open(&segments[n - 2]).map_err(io("open"))?;
                    let len = prev.metadata().map_err(io("stat"))?.len();
                    let tail = read_tail(&mut prev, len).map_err(io("read tail"))?;
                    match tail.last_line {
                        Some(line) => {
                            Some(parse_head(&line).map_err(|reason| SinkError::BadTail {
                                path: segments[n - 2].clone(),
                                reason: format!("its last line {reason}"),
                            })?)
                        }
                        None => None,
                    }
                } else {
                    None
                };
                FileLog::open_inner(last, dir_info, key, opts, head)
            }
        }
    }

    fn open_inner(
        path: &Path,
        dir: Option<(PathBuf, String)>,
        key: SealingKey,
        opts: FileLogOptions,
        continue_from: Option<ChainHead>,
    ) -> Result<FileLog, SinkError> {
        let io = |op| {
            let path = path.to_owned();
            move |source| SinkError::Io { path, op, source }
        };
        let mut file = open_locked(path)?;
        let mut len = file.metadata().map_err(io("stat"))?.len();
        let mut tail = read_tail(&mut file, len).map_err(io("read tail"))?;
        // A complete sealed record that lacks only its newline is not torn: finish it.
        let mut finish_line = false;
        if let Some(t) = &tail.torn {
            if let Ok(text) = std::str::from_utf8(&t.bytes) {
                if parse_head(text).is_ok() {
                    tail.last_line = Some(text.to_owned());
                    finish_line = true;
                }
            }
        }
        if finish_line {
            tail.torn = None;
        }
        // No whole line at all: the torn bytes are an interrupted file header. Nothing that
        // was acknowledged is in them; cut them so the file starts with its header, and
        // document them in the recovery record.
        let mut cut_torn = None;
        if tail.last_line.is_none() && tail.torn.is_some() {
            file.set_len(0).map_err(io("cut an interrupted header"))?;
            cut_torn = tail.torn.take();
            len = 0;
        }
        let mut pending: Vec<Record> = Vec::new();
        let sealer = match (tail.last_line, continue_from) {
            (None, head) => {
                crate::sink::sync_parent_dir(path).map_err(io("fsync directory"))?;
                let sealer = match (head, &opts.chain_id) {
                    (Some(head), _) => Sealer::resume(key, &head)?,
                    (None, Some(id)) => Sealer::with_chain_id(key, id)?,
                    (None, None) => Sealer::new_chain(key)?,
                };
                pending.push(file_open_record(path)?);
                sealer
            }
            (Some(line), _) => {
                let head = parse_head(&line).map_err(|reason| SinkError::BadTail {
                    path: path.to_owned(),
                    reason: format!("its last complete line {reason}"),
                })?;
                Sealer::resume(key, &head)?
            }
        };
        let sealer = match &opts.key_state_path {
            Some(p) => sealer.persist_key_every(
                p,
                opts.key_state_interval
                    .unwrap_or(crate::seal::DEFAULT_KEY_STATE_INTERVAL),
            )?,
            None => sealer,
        };
        let mut log = FileLog {
            file,
            path: path.to_owned(),
            dir,
            sealer,
            sync_every_record: opts.sync_every_record,
            len,
            opened: std::time::Instant::now(),
            fault: opts.fault_hook,
            key_state_error: None,
        };
        if finish_line {
            log.write_raw(b"\n")?;
        }
        if let Some(torn) = tail.torn.or(cut_torn.clone()) {
            // Keep the torn bytes as evidence: terminate them (unless cut), and document them.
            if cut_torn.is_none() {
                log.write_raw(b"\n")?;
            }
            let mut r = Record::new(RECOVERED_ACTION, Outcome::Success, SystemTime::now())
                .map_err(|e| SinkError::BadTail {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
            r.set_field("torn_bytes", torn.len as i64);
            r.set_field("torn_sha256", torn.sha256);
            if cut_torn.is_some() {
                r.set_field("torn_removed", true);
            }
            r.set_reason(
                "a torn final line (an interrupted write) was found when the log was reopened",
            );
            pending.push(r);
        }
        for r in pending {
            log.append(r)?;
        }
        Ok(log)
    }

    /// Wait until the sealing key's state file holds the newest key it has been given (it
    /// is rewritten in the background: see [`Sealer::persist_key_to`] and
    /// [`advance_key_state`](FileLog::advance_key_state)); the error of a rewrite that failed.
    ///
    /// ```
    /// use audit_core::{keys::SealingKey, record::{Outcome, Record}};
    /// use audit_core::sink::file::{FileLog, FileLogOptions};
    /// let dir = tempfile::tempdir()?;
    /// let state = dir.path().join("writer.key");
    /// let (key, _) = SealingKey::generate("k1", 2)?;
    /// let opts = FileLogOptions { key_state_path: Some(state.clone()), ..Default::default() };
    /// let mut log = FileLog::open(&dir.path().join("audit.log"), key, opts)?;
    /// for _ in 0..6 {
    ///     log.append(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// }
    /// log.sync_key_state()?; // the rewrites run in the background: wait for them
    /// assert_eq!(SealingKey::load(&state)?.epoch(), log.sealer().key().epoch());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sync_key_state(&mut self) -> Result<(), SinkError> {
        if let Some(e) = self.take_key_state_error() {
            return Err(e);
        }
        Ok(self.sealer.sync_key_state()?)
    }

    /// The sealer (chain id, head, key).
    ///
    /// ```
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// assert_eq!(log.sealer().next_seq(), 1); // after the file header
    /// assert_eq!(log.sealer().key().kid(), "k1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// The current file's path.
    ///
    /// ```
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// assert_eq!(log.path(), dir.path().join("audit.log"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of whole lines in the current file.
    ///
    /// ```
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let mut log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// let sealed = log.append(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// assert_eq!(log.len(), std::fs::metadata(log.path())?.len());
    /// assert!(log.len() > sealed.line.len() as u64); // the header is there too
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the current file holds no line (never true after open: the header is there).
    ///
    /// ```
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// assert!(!log.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How long the current file has been open.
    ///
    /// ```
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// let rotate_now = log.age() >= std::time::Duration::from_secs(24 * 3600);
    /// assert!(!rotate_now);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn age(&self) -> std::time::Duration {
        self.opened.elapsed()
    }

    /// Seal and append one record (one `write`), then fsync if so configured.
    ///
    /// ```
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let mut log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// let sealed = log.append(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// assert_eq!(sealed.seq, 1);
    /// assert!(std::fs::read_to_string(log.path())?.ends_with(&sealed.line));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn append(&mut self, record: Record) -> Result<Sealed, SinkError> {
        let sealed = self.sealer.seal(record)?;
        self.write_raw(sealed.line.as_bytes())?;
        if self.sync_every_record {
            self.sync()?;
        } else {
            self.advance_key_state();
        }
        Ok(sealed)
    }

    /// Seal a record without writing it (the batching writer writes many with
    /// [`FileLog::write_sealed`]). Sealed lines MUST then be written, in order.
    ///
    /// ```
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let mut log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// let len = log.len();
    /// let sealed = log.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// assert_eq!(log.len(), len); // sealed, not written yet
    /// log.write_sealed(sealed.line.as_bytes())?;
    /// assert_eq!(log.len(), len + sealed.line.len() as u64);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seal(&mut self, record: impl Into<Unsealed>) -> Result<Sealed, SinkError> {
        Ok(self.sealer.seal_unsealed(&record.into())?)
    }

    /// [`seal`](FileLog::seal) one record, appending its line to `out` (a batch to write
    /// with [`write_sealed`](FileLog::write_sealed)); returns its `seq`.
    ///
    /// ```
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let mut log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// let record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?.into();
    /// let mut batch = Vec::new();
    /// assert_eq!(log.seal_into(&record, &mut batch)?, 1);
    /// assert_eq!(log.seal_into(&record, &mut batch)?, 2);
    /// assert_eq!(batch.iter().filter(|&&b| b == b'\n').count(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seal_into(&mut self, record: &Unsealed, out: &mut Vec<u8>) -> Result<u64, SinkError> {
        Ok(self.sealer.seal_unsealed_into(record, out)?)
    }

    /// Append already sealed, newline-terminated lines with one `write`. On failure the
    /// file is cut back to its last whole line, so a later retry of the same bytes leaves no
    /// torn line; if even that fails, the error says so and the next write retries the cut.
    ///
    /// ```
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let mut log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// let mut batch = Vec::new();
    /// for action in ["auth.login", "auth.logout"] {
    ///     let record = Record::new(action, Outcome::Success, std::time::UNIX_EPOCH)?;
    ///     log.seal_into(&record.into(), &mut batch)?;
    /// }
    /// log.write_sealed(&batch)?; // one `write` for the batch
    /// assert_eq!(std::fs::read_to_string(log.path())?.lines().count(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_sealed(&mut self, lines: &[u8]) -> Result<(), SinkError> {
        self.write_raw(lines)
    }

    /// Let the key's state file follow the key (see [`Sealer::lines_written`]): call it once
    /// the lines written so far are as durable as the log is meant to be — after
    /// [`write_sealed`](FileLog::write_sealed) if nothing syncs them, otherwise
    /// [`sync`](FileLog::sync) does it — so that the file is never ahead of what a crash
    /// leaves of the log. A failed rewrite does not fail anything here: see
    /// [`take_key_state_error`](FileLog::take_key_state_error).
    ///
    /// ```
    /// use audit_core::{keys::SealingKey, record::{Outcome, Record}};
    /// use audit_core::sink::file::{FileLog, FileLogOptions};
    /// let dir = tempfile::tempdir()?;
    /// let state = dir.path().join("writer.key");
    /// let (key, _) = SealingKey::generate("k1", 2)?;
    /// let opts = FileLogOptions { key_state_path: Some(state.clone()), ..Default::default() };
    /// let mut log = FileLog::open(&dir.path().join("audit.log"), key, opts)?;
    /// let mut batch = Vec::new();
    /// for _ in 0..5 {
    ///     let record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    ///     log.seal_into(&record.into(), &mut batch)?;
    /// }
    /// log.write_sealed(&batch)?;
    /// log.advance_key_state(); // nothing syncs this log: written is as durable as it gets
    /// log.sync_key_state()?; // waits for the background rewrite
    /// assert!(log.take_key_state_error().is_none());
    /// assert_eq!(SealingKey::load(&state)?.epoch(), log.sealer().key().epoch());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn advance_key_state(&mut self) {
        if let Err(e) = self.sealer.lines_written() {
            self.key_state_error = Some(e);
        }
    }

    /// The failure of a rewrite of the key's state file since the last call, if one failed
    /// (the lines themselves were written). A writer reports it and goes on: the next
    /// rewrite carries the newest key anyway.
    ///
    /// ```
    /// use audit_core::{keys::SealingKey, record::{Outcome, Record}};
    /// use audit_core::sink::file::{FileLog, FileLogOptions};
    /// let dir = tempfile::tempdir()?;
    /// let (key, _) = SealingKey::generate("k1", 2)?;
    /// let opts = FileLogOptions {
    ///     key_state_path: Some(dir.path().join("writer.key")),
    ///     ..Default::default()
    /// };
    /// let mut log = FileLog::open(&dir.path().join("audit.log"), key, opts)?;
    /// log.append(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// log.sync_key_state()?;
    /// assert!(log.take_key_state_error().is_none(), "every rewrite succeeded");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take_key_state_error(&mut self) -> Option<SinkError> {
        self.key_state_error.take().map(SinkError::from)
    }

    /// Continue the chain in a new file at `path` (which must not exist or be empty): the
    /// current file is synced and released, the new one is created 0600, locked, and starts
    /// with its `audit.file.open` header.
    ///
    /// ```
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let mut log = FileLog::open(&dir.path().join("audit-1.log"), key, FileLogOptions::default())?;
    /// log.rotate_to(&dir.path().join("audit-2.log"))?;
    /// assert_eq!(log.path(), dir.path().join("audit-2.log"));
    /// assert_eq!(log.sealer().next_seq(), 2); // the chain goes on: the new header is seq 1
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rotate_to(&mut self, path: &Path) -> Result<(), SinkError> {
        self.sync()?;
        self.switch_to(path).map(drop)
    }

    /// Rotate a directory log to its next file (named after the next seq). A single-file
    /// log cannot rotate: [`SinkError::BadTail`] says so.
    ///
    /// ```
    /// use audit_core::sink::file::{FileLog, FileLogOptions, SinkError};
    /// # let dir = tempfile::tempdir()?;
    /// # let key = || audit_core::keys::SealingKey::generate("k1", 1024).map(|k| k.0);
    /// let mut single = FileLog::open(&dir.path().join("one.log"), key()?, FileLogOptions::default())?;
    /// assert!(matches!(single.rotate(), Err(SinkError::BadTail { .. })));
    /// let mut rotated = FileLog::open_dir(&dir.path().join("logs"), "audit", key()?, FileLogOptions::default())?;
    /// rotated.rotate()?;
    /// assert!(rotated.path().ends_with("audit-00000000000000000001.log"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rotate(&mut self) -> Result<(), SinkError> {
        let next = self.next_segment()?;
        self.rotate_to(&next)
    }

    /// [`rotate`](FileLog::rotate) without syncing the file it leaves: that is returned,
    /// still locked, for the caller to [`sync`](ClosedFile::sync) — on another thread, so
    /// the `fdatasync` of a large file (a tenth of a second for 256 MiB here) does not hold
    /// up the records that follow.
    ///
    /// ```
    /// use audit_core::{keys::SealingKey, record::{Outcome, Record}};
    /// use audit_core::sink::file::{FileLog, FileLogOptions};
    /// let dir = tempfile::tempdir()?;
    /// let (key, _) = SealingKey::generate("k1", 1024)?;
    /// let mut log = FileLog::open_dir(dir.path(), "audit", key, FileLogOptions::default())?;
    /// log.append(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// let closed = log.rotate_unsynced()?;
    /// let syncing = std::thread::spawn(move || closed.sync());
    /// log.append(Record::new("auth.logout", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// syncing.join().unwrap()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rotate_unsynced(&mut self) -> Result<ClosedFile, SinkError> {
        let next = self.next_segment()?;
        self.switch_to(&next)
    }

    /// The path of a directory log's next file.
    fn next_segment(&self) -> Result<PathBuf, SinkError> {
        let Some((dir, prefix)) = &self.dir else {
            return Err(SinkError::BadTail {
                path: self.path.clone(),
                reason: "a single-file log cannot rotate; open it with FileLog::open_dir".into(),
            });
        };
        Ok(dir.join(segment_name(prefix, self.sealer.next_seq())))
    }

    /// Make a new file at `path` the current one; the one it replaces is returned as it is.
    fn switch_to(&mut self, path: &Path) -> Result<ClosedFile, SinkError> {
        let io = |op| {
            let path = path.to_owned();
            move |source| SinkError::Io { path, op, source }
        };
        let file = open_locked(path)?;
        if file.metadata().map_err(io("stat"))?.len() != 0 {
            return Err(SinkError::BadTail {
                path: path.to_owned(),
                reason: "it is not empty: rotation needs a new file".into(),
            });
        }
        crate::sink::sync_parent_dir(path).map_err(io("fsync directory"))?;
        let closed = ClosedFile {
            file: std::mem::replace(&mut self.file, file),
            path: std::mem::replace(&mut self.path, path.to_owned()),
            fault: self.fault.clone(),
        };
        self.len = 0;
        self.opened = std::time::Instant::now();
        self.append(file_open_record(path)?)?;
        Ok(closed)
    }

    /// `fdatasync` the file (then the key's state file may follow the key: see
    /// [`advance_key_state`](FileLog::advance_key_state)).
    ///
    /// ```
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let mut log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// log.append(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// log.sync()?; // the record survives a power loss from here on
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sync(&mut self) -> Result<(), SinkError> {
        sync_data(&self.file, &self.path, self.fault.as_ref())?;
        self.advance_key_state();
        Ok(())
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        let err = |op, source| SinkError::Io {
            path: self.path.clone(),
            op,
            source,
        };
        // A failed earlier write may have left a partial line: cut it first.
        let actual = self.file.metadata().map(|m| m.len()).unwrap_or(self.len);
        if actual != self.len {
            self.file
                .set_len(self.len)
                .map_err(|e| err("cut a partial line left by a failed write", e))?;
        }
        let injected = self.fault.as_ref().and_then(|f| f(IoOp::Write));
        let res = match injected {
            Some(e) => {
                // Behave like a full disk: part of the bytes land, then the error.
                let _ = self.file.write_all(&bytes[..bytes.len() / 2]);
                Err(e)
            }
            None => self.file.write_all(bytes),
        };
        match res {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                Err(err("write", e))
            }
        }
    }
}

/// Open `path` for appending (created 0600) and take the exclusive writer lock.
fn open_locked(path: &Path) -> Result<File, SinkError> {
    let io = |op| {
        let path = path.to_owned();
        move |source| SinkError::Io { path, op, source }
    };
    let file = crate::sink::open_options_private()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(io("open"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(SinkError::Locked(path.to_owned())),
        Err(std::fs::TryLockError::Error(e)) => Err(io("lock")(e)),
    }
}

fn file_open_record(path: &Path) -> Result<Record, SinkError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut r =
        Record::new(FILE_OPEN_ACTION, Outcome::Success, SystemTime::now()).map_err(|e| {
            SinkError::BadTail {
                path: path.to_owned(),
                reason: e.to_string(),
            }
        })?;
    r.set("file.name", name).map_err(|e| SinkError::BadTail {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(r)
}

/// The chain head claimed by a sealed line (its form checked as the verifier's step 3
/// does; its MAC is not, since the writer may no longer hold that epoch's key).
pub(crate) fn parse_head(line: &str) -> Result<ChainHead, String> {
    let v = canonical::parse_canonical(line).map_err(|e| format!("is not canonical JSON ({e})"))?;
    let obj = v.as_object().ok_or("is not a JSON object")?;
    let i = crate::seal::Integrity::of(obj)
        .map_err(|(reason, _)| format!("is not a sealed record: {reason}"))?;
    Ok(ChainHead {
        chain: i.chain,
        seq: i.seq,
        mac: i.mac,
    })
}

#[derive(Clone)]
pub(crate) struct Torn {
    pub(crate) len: u64,
    pub(crate) sha256: String,
    pub(crate) bytes: Vec<u8>,
}

struct Tail {
    /// The last complete line.
    last_line: Option<String>,
    torn: Option<Torn>,
}

/// Read the end of the file: the last complete line, and a torn line after it if any.
fn read_tail(file: &mut File, len: u64) -> std::io::Result<Tail> {
    if len == 0 {
        return Ok(Tail {
            last_line: None,
            torn: None,
        });
    }
    let mut window: u64 = 64 * 1024;
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        Read::by_ref(file).take(len - start).read_to_end(&mut buf)?;
        let ends_with_newline = buf.last() == Some(&b'\n');
        let (complete, torn_bytes): (&[u8], &[u8]) = if ends_with_newline {
            (&buf[..buf.len() - 1], &[])
        } else {
            match buf.iter().rposition(|&b| b == b'\n') {
                Some(i) => (&buf[..i], &buf[i + 1..]),
                None if start == 0 => (&[], &buf[..]),
                None => {
                    window *= 2;
                    continue;
                }
            }
        };
        let torn = (!torn_bytes.is_empty()).then(|| Torn {
            len: torn_bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(torn_bytes)),
            bytes: torn_bytes.to_vec(),
        });
        if complete.is_empty() && start == 0 {
            return Ok(Tail {
                last_line: None,
                torn,
            });
        }
        match complete.iter().rposition(|&b| b == b'\n') {
            Some(i) => {
                let line = String::from_utf8_lossy(&complete[i + 1..]).into_owned();
                return Ok(Tail {
                    last_line: Some(line),
                    torn,
                });
            }
            None if start == 0 => {
                let line = String::from_utf8_lossy(complete).into_owned();
                return Ok(Tail {
                    last_line: Some(line),
                    torn,
                });
            }
            None => window *= 2,
        }
    }
}
