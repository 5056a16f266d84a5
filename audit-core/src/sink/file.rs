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
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::canonical::{self, Value};
use crate::keys::SealingKey;
use crate::record::{Outcome, Record};
use crate::seal::{ChainHead, SealError, Sealed, Sealer};

/// Action of the first record of every file.
pub const FILE_OPEN_ACTION: &str = "audit.file.open";
/// Action of the record that documents a torn line found at open.
pub const RECOVERED_ACTION: &str = "audit.log.recovered";

/// Options for [`FileLog::open`].
#[derive(Clone, Debug, Default)]
pub struct FileLogOptions {
    /// Rewrite the sealing key's state file here whenever the key evolves.
    pub key_state_path: Option<PathBuf>,
    /// `fdatasync` after every record (the default is to leave it to the OS).
    pub sync_every_record: bool,
    /// The chain id of a new log (random when `None`).
    pub chain_id: Option<String>,
}

/// Errors of the file sink.
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
    #[error("audit log {path}: cannot continue the chain: last complete line {line} {reason}; run `audit-log verify` on it and start a new file")]
    BadTail {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// Sealing failed.
    #[error("audit log: {0}")]
    Seal(#[from] SealError),
}

/// An open, locked, append-only log file.
#[derive(Debug)]
pub struct FileLog {
    file: File,
    path: PathBuf,
    sealer: Sealer,
    sync_every_record: bool,
}

impl FileLog {
    /// Open (or create) the log at `path` and continue its chain.
    pub fn open(path: &Path, key: SealingKey, opts: FileLogOptions) -> Result<FileLog, SinkError> {
        let io = |op| {
            let path = path.to_owned();
            move |source| SinkError::Io { path, op, source }
        };
        let mut file = open_locked(path)?;
        let len = file.metadata().map_err(io("stat"))?.len();
        let tail = read_tail(&mut file, len).map_err(io("read tail"))?;
        let mut pending: Vec<Record> = Vec::new();
        let sealer = match tail.last_line {
            None => {
                crate::sink::sync_parent_dir(path).map_err(io("fsync directory"))?;
                let sealer = match &opts.chain_id {
                    Some(id) => Sealer::with_chain_id(key, id)?,
                    None => Sealer::new_chain(key)?,
                };
                pending.push(file_open_record(path)?);
                sealer
            }
            Some((line_no, line)) => {
                let head = parse_head(&line).map_err(|reason| SinkError::BadTail {
                    path: path.to_owned(),
                    line: line_no,
                    reason,
                })?;
                Sealer::resume(key, &head)?
            }
        };
        let sealer = match &opts.key_state_path {
            Some(p) => sealer.persist_key_to(p)?,
            None => sealer,
        };
        let mut log = FileLog {
            file,
            path: path.to_owned(),
            sealer,
            sync_every_record: opts.sync_every_record,
        };
        if let Some(torn) = tail.torn {
            log.write_raw(b"\n")?;
            let mut r = Record::new(RECOVERED_ACTION, Outcome::Success, SystemTime::now())
                .map_err(|e| SinkError::BadTail {
                    path: path.to_owned(),
                    line: 0,
                    reason: e.to_string(),
                })?;
            r.set_field("torn_bytes", torn.len as i64);
            r.set_field("torn_sha256", torn.sha256);
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

    /// The sealer (chain id, head, key).
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Seal and append one record (one `write`), then fsync if so configured.
    pub fn append(&mut self, record: Record) -> Result<Sealed, SinkError> {
        let sealed = self.sealer.seal(record)?;
        self.write_raw(sealed.line.as_bytes())?;
        if self.sync_every_record {
            self.sync()?;
        }
        Ok(sealed)
    }

    /// Continue the chain in a new file at `path` (which must not exist or be empty): the
    /// current file is synced and released, the new one is created 0600, locked, and starts
    /// with its `audit.file.open` header. Used for rotation.
    pub fn rotate_to(&mut self, path: &Path) -> Result<(), SinkError> {
        let io = |op| {
            let path = path.to_owned();
            move |source| SinkError::Io { path, op, source }
        };
        self.sync()?;
        let file = open_locked(path)?;
        if file.metadata().map_err(io("stat"))?.len() != 0 {
            return Err(SinkError::BadTail {
                path: path.to_owned(),
                line: 0,
                reason: "is not empty: rotation needs a new file".into(),
            });
        }
        crate::sink::sync_parent_dir(path).map_err(io("fsync directory"))?;
        self.file = file;
        self.path = path.to_owned();
        self.append(file_open_record(path)?)?;
        Ok(())
    }

    /// `fdatasync` the file.
    pub fn sync(&mut self) -> Result<(), SinkError> {
        self.file.sync_data().map_err(|source| SinkError::Io {
            path: self.path.clone(),
            op: "fdatasync",
            source,
        })
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        self.file.write_all(bytes).map_err(|source| SinkError::Io {
            path: self.path.clone(),
            op: "write",
            source,
        })
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
                line: 0,
                reason: e.to_string(),
            }
        })?;
    r.set("file.name", name).map_err(|e| SinkError::BadTail {
        path: path.to_owned(),
        line: 0,
        reason: e.to_string(),
    })?;
    Ok(r)
}

/// The chain head claimed by a sealed line.
pub(crate) fn parse_head(line: &str) -> Result<ChainHead, String> {
    let v = canonical::parse_canonical(line).map_err(|e| format!("is not canonical JSON ({e})"))?;
    let chain = v.get_path("audit.chain").and_then(Value::as_str);
    let seq = v
        .get_path("audit.seq")
        .and_then(Value::as_i64)
        .and_then(|s| u64::try_from(s).ok());
    let mac = v.get_path("audit.mac").and_then(Value::as_str);
    match (chain, seq, mac) {
        (Some(chain), Some(seq), Some(mac)) if crate::signing::decode_mac(mac).is_some() => {
            Ok(ChainHead {
                chain: chain.to_owned(),
                seq,
                mac: mac.to_owned(),
            })
        }
        _ => Err("is not a sealed record (audit.chain, audit.seq or audit.mac missing)".to_owned()),
    }
}

pub(crate) struct Torn {
    pub(crate) len: u64,
    pub(crate) sha256: String,
}

struct Tail {
    /// The last complete line (1-based number unknown: counted from the end, reported as 0
    /// when the whole file was not read).
    last_line: Option<(u64, String)>,
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
                    last_line: Some((0, line)),
                    torn,
                });
            }
            None if start == 0 => {
                let line = String::from_utf8_lossy(complete).into_owned();
                return Ok(Tail {
                    last_line: Some((1, line)),
                    torn,
                });
            }
            None => window *= 2,
        }
    }
}
