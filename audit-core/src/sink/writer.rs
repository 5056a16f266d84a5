//! The background writer: seals and appends records off the caller's thread, never lossy.
//!
//! Like `tracing_appender::non_blocking`, callers hand records to a worker thread through a
//! bounded queue; unlike it, a full queue makes the caller **wait** instead of dropping the
//! record. The worker owns the [`FileLog`] (so it is the only sealer of its chain), writes
//! each batch of queued records with one `write`, and applies the configured
//! [`Durability`]. With [`Durability::EveryRecord`] a caller returns only once its record is
//! on disk; concurrent callers share one `fdatasync` (group commit), so throughput grows
//! with the number of callers.
//!
//! Failures follow NIST 800-53 AU-5 ("response to audit logging process failures"): the
//! [`FailurePolicy`] chooses between blocking and retrying, failing closed, or continuing;
//! in every case the failure is counted in [`Metrics`], reported on stderr and passed to the
//! alert callback. No record is dropped without being counted and reported.
//!
//! Dropping the [`WriterGuard`] drains the queue, writes a final checkpoint and an
//! `audit.log.stop` record, and syncs. `std::process::exit` runs no destructors: call
//! [`WriterGuard::shutdown`] before it.
//!
//! ```
//! use audit_core::keys::SealingKey;
//! use audit_core::record::{Outcome, Record};
//! use audit_core::sink::file::{FileLog, FileLogOptions};
//! use audit_core::sink::writer::{Durability, Writer, WriterConfig};
//! let dir = tempfile::tempdir()?;
//! let (sk, _vk) = SealingKey::generate("k1", 1024)?;
//! let log = FileLog::open_dir(dir.path(), "audit", sk, FileLogOptions::default())?;
//! let config = WriterConfig { durability: Durability::EveryRecord, ..WriterConfig::default() };
//! let (writer, guard) = Writer::spawn(log, config)?;
//! writer.submit(Record::new("deploy.release", Outcome::Success, std::time::SystemTime::now())?)?;
//! assert_eq!(writer.metrics().records_written, 2); // audit.log.start and the record
//! guard.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::checkpoint::{append_witness, Checkpoint};
use crate::record::{Outcome, Record};
use crate::seal::Unsealed;
use crate::sink::buffers::{BufferPool, Spent};
use crate::sink::closer::Closer;
use crate::sink::file::{ClosedFile, FileLog, SinkError};

/// How long the worker lets records queue up after writing a batch (see `Worker::run`).
const LINGER: Duration = Duration::from_micros(100);

/// Action of the record written when a writer starts.
///
/// ```
/// # use audit_core::sink::file::{FileLog, FileLogOptions};
/// use audit_core::sink::writer::{Writer, WriterConfig, START_ACTION};
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
/// let (_writer, guard) = Writer::spawn(log, WriterConfig::default())?;
/// assert!(std::fs::read_to_string(dir.path().join("audit.log"))?.contains(START_ACTION));
/// # drop(guard);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const START_ACTION: &str = "audit.log.start";
/// Action of the record written when a writer stops cleanly.
///
/// ```
/// # use audit_core::sink::file::{FileLog, FileLogOptions};
/// use audit_core::sink::writer::{Writer, WriterConfig, STOP_ACTION};
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
/// let (_writer, guard) = Writer::spawn(log, WriterConfig::default())?;
/// guard.shutdown()?;
/// let text = std::fs::read_to_string(dir.path().join("audit.log"))?;
/// assert!(text.lines().last().unwrap().contains(STOP_ACTION)); // a clean stop, not a crash
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const STOP_ACTION: &str = "audit.log.stop";
/// Action of the record that documents records dropped under [`FailurePolicy::Continue`].
///
/// ```
/// # use audit_core::sink::file::{FileLog, FileLogOptions};
/// use audit_core::sink::writer::{Writer, WriterConfig, DROPPED_ACTION};
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
/// # let (_writer, guard) = Writer::spawn(log, WriterConfig::default())?;
/// # guard.shutdown()?;
/// // An audit of the log itself: were records dropped while it could not be written?
/// let text = std::fs::read_to_string(dir.path().join("audit.log"))?;
/// assert_eq!(text.lines().filter(|line| line.contains(DROPPED_ACTION)).count(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const DROPPED_ACTION: &str = "audit.log.dropped";

/// When records reach the disk.
///
/// ```
/// # use audit_core::record::{Outcome, Record};
/// # use audit_core::sink::file::{FileLog, FileLogOptions};
/// use audit_core::sink::writer::{Durability, Writer, WriterConfig};
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
/// let config = WriterConfig { durability: Durability::Batch(100), ..WriterConfig::default() };
/// let (writer, _guard) = Writer::spawn(log, config)?;
/// writer.submit(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Leave it to the OS page cache (fsync only on flush, rotation and shutdown; a file
    /// left by a rotation is synced on a thread of its own, so that the writer does not
    /// stop for it, and flush and shutdown wait for that). A power loss can lose the last
    /// seconds of records; a process crash loses none that were written.
    Os,
    /// fsync at most this often while records are pending.
    Interval(Duration),
    /// fsync after every this many records.
    Batch(u64),
    /// A caller returns only after its record is fsynced; concurrent callers share an
    /// fsync (group commit). An async audited call awaits the fsync ([`Durable`]) rather
    /// than blocking its executor's thread.
    EveryRecord,
}

/// What to do when a write or fsync fails (disk full, I/O error, permission lost).
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use audit_core::record::{Outcome, Record};
/// use audit_core::sink::file::{FileLog, FileLogOptions, IoOp};
/// use audit_core::sink::writer::{Durability, FailurePolicy, SubmitError, Writer, WriterConfig};
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// let disk_full = Arc::new(AtomicBool::new(false));
/// let full = disk_full.clone();
/// let hook = Arc::new(move |op| (op == IoOp::Write && full.load(Ordering::Relaxed)).then(|| std::io::Error::other("disk full")));
/// let opts = FileLogOptions { fault_hook: Some(hook), ..FileLogOptions::default() };
/// let log = FileLog::open(&dir.path().join("audit.log"), key, opts)?;
/// let config = WriterConfig {
///     durability: Durability::EveryRecord,
///     failure: FailurePolicy::FailClosed,
///     ..WriterConfig::default()
/// };
/// let (writer, _guard) = Writer::spawn(log, config)?;
/// disk_full.store(true, Ordering::Relaxed);
/// let record = || Record::new("payment.refund", Outcome::Success, std::time::UNIX_EPOCH);
/// assert!(writer.submit(record()?).is_err()); // this record is lost, and reported
/// assert!(matches!(writer.submit(record()?), Err(SubmitError::FailedClosed(_)))); // refuse to act
/// assert!(writer.failed().is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Keep the records and retry every `retry_every`; the queue fills and callers wait.
    /// Nothing is lost, the application slows down or stalls until the disk recovers.
    Block {
        /// Delay between retries.
        retry_every: Duration,
    },
    /// Stop: the records of the failed batch are reported lost, and every later submit
    /// returns [`SubmitError::FailedClosed`] so the application can refuse to act.
    FailClosed,
    /// Keep going: sealed records wait in memory (up to `max_pending_bytes`) and are
    /// retried with the next batch; beyond that, new records are counted as dropped, and a
    /// signed `audit.log.dropped` record states how many once writing works again.
    Continue {
        /// Memory bound for records waiting to be written.
        max_pending_bytes: usize,
    },
}

/// A writer failure, as given to the alert callback.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use audit_core::sink::writer::{AlertFn, WriterConfig, WriterFailure};
/// let last_alert = Arc::new(Mutex::new(None));
/// let seen = last_alert.clone();
/// let alert: AlertFn = Arc::new(move |f: &WriterFailure<'_>| {
///     *seen.lock().unwrap() = Some(format!("{} record(s) at risk under {:?}: {}", f.records, f.policy, f.error));
/// });
/// let config = WriterConfig { on_failure: Some(alert), ..WriterConfig::default() };
/// # let _ = config;
/// assert!(last_alert.lock().unwrap().is_none()); // nothing has failed
/// ```
#[derive(Debug)]
pub struct WriterFailure<'a> {
    /// The error.
    pub error: &'a SinkError,
    /// The policy in force.
    pub policy: FailurePolicy,
    /// Records affected (not yet durable) at the time.
    pub records: u64,
}

/// The alert callback of [`WriterConfig::on_failure`].
///
/// ```
/// use std::sync::Arc;
/// use audit_core::sink::writer::{AlertFn, WriterConfig};
/// let page_oncall: AlertFn = Arc::new(|f| eprintln!("AUDIT LOG FAILING: {}", f.error));
/// let config = WriterConfig { on_failure: Some(page_oncall), ..WriterConfig::default() };
/// assert!(config.on_failure.is_some());
/// ```
pub type AlertFn = Arc<dyn Fn(&WriterFailure<'_>) + Send + Sync>;

/// Where checkpoints go.
///
/// ```
/// # use audit_core::sink::file::{FileLog, FileLogOptions};
/// use audit_core::sink::writer::{Witness, Writer, WriterConfig};
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
/// let witness = dir.path().join("witness.log"); // on other storage, in production
/// let config = WriterConfig { witness: Some(Witness::File(witness.clone())), ..WriterConfig::default() };
/// let (writer, guard) = Writer::spawn(log, config)?;
/// writer.flush()?; // publishes a checkpoint
/// assert_eq!(guard.writer().metrics().checkpoints, 1);
/// assert_eq!(std::fs::read_to_string(&witness)?.lines().count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub enum Witness {
    /// Appended to this file (created 0600, fsynced each time). Put it on other storage.
    File(PathBuf),
    /// Handed to this callback (send it to another system).
    Callback(Arc<dyn Fn(&Checkpoint) + Send + Sync>),
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Witness::File(p) => f.debug_tuple("File").field(p).finish(),
            Witness::Callback(_) => f.write_str("Callback(..)"),
        }
    }
}

/// The writer's configuration.
///
/// ```
/// use std::time::Duration;
/// use audit_core::sink::writer::{Durability, WriterConfig};
/// let config = WriterConfig {
///     durability: Durability::Interval(Duration::from_millis(200)),
///     rotate_bytes: Some(64 << 20),
///     queue_capacity: 1024,
///     ..WriterConfig::default()
/// };
/// assert!(config.lifecycle_records); // a default kept
/// ```
#[derive(Clone)]
pub struct WriterConfig {
    /// When records reach the disk.
    pub durability: Durability,
    /// What to do on write failures.
    pub failure: FailurePolicy,
    /// Called on every failure, whatever the policy.
    pub on_failure: Option<AlertFn>,
    /// Rotate when the current file reaches this size (directory logs only).
    pub rotate_bytes: Option<u64>,
    /// Rotate when the current file is this old (directory logs only).
    pub rotate_age: Option<Duration>,
    /// Where checkpoints go (none by default).
    pub witness: Option<Witness>,
    /// Checkpoint after this many records...
    pub checkpoint_records: u64,
    /// ...or this long after the last one when records were written since (also when idle).
    pub checkpoint_interval: Duration,
    /// Queue capacity, in records. A full queue makes callers wait.
    pub queue_capacity: usize,
    /// Write `audit.log.start` when the writer starts and `audit.log.stop` when it stops
    /// (PCI-DSS 10.2.1.6: initialisation and stopping of the audit logs).
    pub lifecycle_records: bool,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            durability: Durability::Os,
            failure: FailurePolicy::Block {
                retry_every: Duration::from_millis(500),
            },
            on_failure: None,
            rotate_bytes: None,
            rotate_age: None,
            witness: None,
            checkpoint_records: 10_000,
            checkpoint_interval: Duration::from_secs(60),
            queue_capacity: 8192,
            lifecycle_records: true,
        }
    }
}

impl std::fmt::Debug for WriterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterConfig")
            .field("durability", &self.durability)
            .field("failure", &self.failure)
            .field("rotate_bytes", &self.rotate_bytes)
            .field("rotate_age", &self.rotate_age)
            .field("witness", &self.witness)
            .field("checkpoint_records", &self.checkpoint_records)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("queue_capacity", &self.queue_capacity)
            .finish_non_exhaustive()
    }
}

/// Why a record was not accepted or not made durable.
///
/// ```
/// # use audit_core::record::{Outcome, Record};
/// # use audit_core::sink::file::{FileLog, FileLogOptions};
/// use audit_core::sink::writer::{SubmitError, Writer, WriterConfig};
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
/// let (writer, guard) = Writer::spawn(log, WriterConfig::default())?;
/// guard.shutdown()?;
/// let late = writer.submit(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?);
/// assert_eq!(late, Err(SubmitError::Stopped));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The writer failed under [`FailurePolicy::FailClosed`] and accepts nothing more.
    #[error("the audit log failed and is closed (fail-closed policy): {0}")]
    FailedClosed(String),
    /// The record could not be written (it is counted and was reported).
    #[error("the audit record could not be written: {0}")]
    NotWritten(String),
    /// The writer has stopped.
    #[error("the audit log writer has stopped")]
    Stopped,
}

/// Counters of a writer (monotonic, since it started).
///
/// ```
/// # use audit_core::record::{Outcome, Record};
/// # use audit_core::sink::file::{FileLog, FileLogOptions};
/// use audit_core::sink::writer::{Metrics, Writer, WriterConfig};
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
/// let (writer, _guard) = Writer::spawn(log, WriterConfig::default())?;
/// writer.submit(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
/// writer.flush()?;
/// let Metrics { records_written, queue_depth, failures, .. } = writer.metrics();
/// assert_eq!((records_written, queue_depth, failures), (2, 0, 0)); // with `audit.log.start`
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Records written by the writer thread (including its own start, stop and rotation
    /// header records; not those written by `FileLog::open` before the writer started).
    pub records_written: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Records submitted but not yet written.
    pub queue_depth: u64,
    /// fsyncs done.
    pub fsyncs: u64,
    /// Write or fsync failures.
    pub failures: u64,
    /// Records dropped (each also reported).
    pub dropped: u64,
    /// Checkpoints published.
    pub checkpoints: u64,
    /// Files rotated to.
    pub rotations: u64,
}

#[derive(Default)]
struct Counters {
    /// Updated by callers, the rest by the worker: kept apart so that the two threads do
    /// not bounce one cache line on every record.
    submitted: CacheLine<AtomicU64>,
    written: CacheLine<AtomicU64>,
    bytes: AtomicU64,
    fsyncs: AtomicU64,
    failures: AtomicU64,
    dropped: AtomicU64,
    checkpoints: AtomicU64,
    rotations: AtomicU64,
}

/// A value alone on its cache line (128 bytes: adjacent-line prefetch pairs lines).
#[derive(Default)]
#[repr(align(128))]
struct CacheLine<T>(T);

impl<T> std::ops::Deref for CacheLine<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

struct Shared {
    counters: Counters,
    /// The JSON buffers of records already sealed, for callers to serialize into again
    /// ([`Writer::take_buffers`], `sink/buffers.rs`).
    spares: BufferPool,
    failed: Mutex<Option<String>>,
    /// Set (after `failed`) once the writer failed closed: lets the hot paths skip the lock.
    has_failed: AtomicBool,
    closed: AtomicBool,
    stopping: AtomicBool,
}

impl Shared {
    /// The fail-closed reason, if the writer failed closed (a lock only after it did).
    fn failed_reason(&self) -> Option<String> {
        if !self.has_failed.load(Ordering::Acquire) {
            return None;
        }
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A one-shot completion slot for a caller that waits: blocking, or as a future.
struct Ack {
    state: Mutex<AckState>,
    cv: Condvar,
}

#[derive(Default)]
struct AckState {
    done: Option<Result<(), SubmitError>>,
    waker: Option<Waker>,
}

impl Ack {
    fn new() -> Arc<Ack> {
        Arc::new(Ack {
            state: Mutex::new(AckState::default()),
            cv: Condvar::new(),
        })
    }
    fn complete(&self, r: Result<(), SubmitError>) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.done = Some(r);
        let waker = st.waker.take();
        drop(st);
        // After unlocking, so the woken caller does not block again on the lock. No wake-up
        // is lost: a caller checks `done` and starts waiting under the lock.
        self.cv.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
    fn wait(&self) -> Result<(), SubmitError> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(r) = st.done.take() {
                return r;
            }
            st = self.cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
    fn poll_done(&self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), SubmitError>> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match st.done.take() {
            Some(r) => Poll::Ready(r),
            None => {
                // Under the lock `complete` takes: it cannot slip in between.
                match &mut st.waker {
                    Some(w) => w.clone_from(cx.waker()),
                    None => st.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

/// The wait for one record to be durable ([`Durability::EveryRecord`]), from
/// [`Writer::submit_nowait`]: [`wait`](Durable::wait) blocks, or `.await` it.
///
/// ```
/// # use audit_core::record::{Outcome, Record};
/// # use audit_core::sink::file::{FileLog, FileLogOptions};
/// use audit_core::sink::writer::{Durability, Writer, WriterConfig};
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
/// let config = WriterConfig { durability: Durability::EveryRecord, ..WriterConfig::default() };
/// let (writer, _guard) = Writer::spawn(log, config)?;
/// let record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
/// let durable = writer.submit_nowait(record)?.expect("EveryRecord hands back the wait");
/// // ... in async code: `durable.await?` ...
/// durable.wait()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the record is not known to be durable until the wait completes"]
pub struct Durable(Arc<Ack>);

impl Durable {
    /// Block until the record is on disk (or could not be written).
    ///
    /// ```
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// use audit_core::sink::writer::{Durability, Writer, WriterConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// let config = WriterConfig { durability: Durability::EveryRecord, ..WriterConfig::default() };
    /// let (writer, _guard) = Writer::spawn(log, config)?;
    /// let fsyncs = writer.metrics().fsyncs;
    /// let record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// writer.submit_nowait(record)?.unwrap().wait()?;
    /// assert!(writer.metrics().fsyncs > fsyncs);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait(self) -> Result<(), SubmitError> {
        self.0.wait()
    }
}

impl std::fmt::Debug for Durable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Durable(..)")
    }
}

impl Future for Durable {
    type Output = Result<(), SubmitError>;
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        self.0.poll_done(cx)
    }
}

enum Msg {
    Record(Unsealed, Option<Arc<Ack>>),
    Flush(Arc<Ack>),
    Shutdown(Arc<Ack>),
}

/// A handle to submit records; cheap to clone and share between threads.
///
/// ```
/// # use audit_core::record::{Outcome, Record};
/// # use audit_core::sink::file::{FileLog, FileLogOptions};
/// use audit_core::sink::writer::{Writer, WriterConfig};
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
/// let (writer, _guard) = Writer::spawn(log, WriterConfig::default())?;
/// let threads: Vec<_> = (0..2)
///     .map(|_| {
///         let writer = writer.clone();
///         std::thread::spawn(move || writer.submit(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH).unwrap()))
///     })
///     .collect();
/// for t in threads {
///     t.join().unwrap()?;
/// }
/// writer.flush()?;
/// assert_eq!(writer.metrics().records_written, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Writer {
    tx: SyncSender<Msg>,
    shared: Arc<Shared>,
    wait_durable: bool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// Owns the worker thread: dropping it (or [`WriterGuard::shutdown`]) drains, syncs and stops.
///
/// ```
/// # use audit_core::sink::file::{FileLog, FileLogOptions};
/// use audit_core::sink::writer::{Writer, WriterConfig};
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
/// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
/// let (writer, guard) = Writer::spawn(log, WriterConfig::default())?;
/// drop(guard); // drains, writes `audit.log.stop`, syncs, joins the thread
/// assert!(writer.flush().is_err()); // the writer has stopped
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the guard stops the writer"]
pub struct WriterGuard {
    writer: Writer,
    handle: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for WriterGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterGuard").finish_non_exhaustive()
    }
}

impl Writer {
    /// Start the worker thread for `log`.
    ///
    /// ```
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// use audit_core::sink::writer::{Writer, WriterConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// let config = WriterConfig { lifecycle_records: false, ..WriterConfig::default() };
    /// let (writer, guard) = Writer::spawn(log, config)?;
    /// assert_eq!(writer.metrics().records_written, 0);
    /// guard.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn(log: FileLog, config: WriterConfig) -> Result<(Writer, WriterGuard), SinkError> {
        let (tx, rx) = sync_channel(config.queue_capacity.max(1));
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            spares: BufferPool::default(),
            failed: Mutex::new(None),
            has_failed: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
        });
        let wait_durable = config.durability == Durability::EveryRecord;
        let writer = Writer {
            tx,
            shared: shared.clone(),
            wait_durable,
        };
        let mut worker = Worker::new(log, config, rx, shared);
        if worker.config.lifecycle_records {
            let mut r = lifecycle(START_ACTION);
            r.set_reason("the audit log writer started");
            worker.log.append(r)?;
            worker
                .shared
                .counters
                .written
                .fetch_add(1, Ordering::Relaxed);
            worker.sync_now()?;
        }
        let handle = std::thread::Builder::new()
            .name("audit-log-writer".into())
            .spawn(move || worker.run())
            .map_err(|source| SinkError::Io {
                path: PathBuf::new(),
                op: "spawn the writer thread",
                source,
            })?;
        Ok((
            writer.clone(),
            WriterGuard {
                writer,
                handle: Some(handle),
            },
        ))
    }

    /// Hand a record to the writer. Waits when the queue is full; with
    /// [`Durability::EveryRecord`], waits until the record is on disk.
    ///
    /// ```
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// use audit_core::sink::writer::{Writer, WriterConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// let (writer, guard) = Writer::spawn(log, WriterConfig::default())?;
    /// let mut record = Record::new("user.password.change", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// record.set_reason("expired");
    /// writer.submit(record)?;
    /// guard.shutdown()?;
    /// assert!(std::fs::read_to_string(dir.path().join("audit.log"))?.contains("user.password.change"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit(&self, record: Record) -> Result<(), SubmitError> {
        match self.submit_nowait(record)? {
            Some(durable) => durable.wait(),
            None => Ok(()),
        }
    }

    /// Hand a record to the writer without waiting for it to be durable: with
    /// [`Durability::EveryRecord`] the wait is returned (await it, or
    /// [`wait`](Durable::wait)), so that async callers do not block their executor's thread
    /// and share fsyncs with every other caller. Waits when the queue is full.
    ///
    /// ```
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// use audit_core::sink::writer::{Writer, WriterConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// let (writer, _guard) = Writer::spawn(log, WriterConfig::default())?; // `Durability::Os`
    /// let record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// assert!(writer.submit_nowait(record)?.is_none()); // nothing to wait for
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit_nowait(&self, record: Record) -> Result<Option<Durable>, SubmitError> {
        if let Some(reason) = self.failed() {
            return Err(SubmitError::FailedClosed(reason));
        }
        // Serialized here, on the caller's thread: see `Unsealed`.
        self.submit_unsealed_nowait(Unsealed::from(record))
    }

    /// [`submit_nowait`](Writer::submit_nowait) for a record already redacted and
    /// serialized (by [`FlatRecord::into_unsealed`](crate::flat::FlatRecord::into_unsealed)
    /// or a [`LayoutCache`](crate::layout::LayoutCache)), on the caller's thread.
    ///
    /// ```
    /// use audit_core::flat::FlatRecord;
    /// use audit_core::keys::SealingKey;
    /// use audit_core::record::Outcome;
    /// use audit_core::redact::Policy;
    /// use audit_core::sink::file::{FileLog, FileLogOptions};
    /// use audit_core::sink::writer::{Writer, WriterConfig};
    /// let dir = tempfile::tempdir()?;
    /// let (key, _vk) = SealingKey::generate("k1", 1024)?;
    /// let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// let (writer, guard) = Writer::spawn(log, WriterConfig::default())?;
    /// let flat = FlatRecord::new("auth.login", Outcome::Success, std::time::SystemTime::now())?;
    /// assert!(writer.submit_unsealed_nowait(flat.into_unsealed(Policy::builtin()))?.is_none());
    /// guard.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit_unsealed_nowait(
        &self,
        unsealed: Unsealed,
    ) -> Result<Option<Durable>, SubmitError> {
        if let Some(reason) = self.failed() {
            return Err(SubmitError::FailedClosed(reason));
        }
        self.shared
            .counters
            .submitted
            .fetch_add(1, Ordering::Relaxed);
        let ack = self.wait_durable.then(Ack::new);
        let msg = Msg::Record(unsealed, ack.clone());
        let sent = match self.tx.try_send(msg) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(msg)) => self.tx.send(msg).map_err(|_| ()),
            Err(TrySendError::Disconnected(_)) => Err(()),
        };
        if sent.is_err() {
            self.shared
                .counters
                .submitted
                .fetch_sub(1, Ordering::Relaxed);
            return Err(SubmitError::Stopped);
        }
        Ok(ack.map(Durable))
    }

    /// Write everything queued so far, fsync, and publish a checkpoint if a witness is set.
    ///
    /// ```
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// use audit_core::sink::writer::{Writer, WriterConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// let (writer, _guard) = Writer::spawn(log, WriterConfig::default())?;
    /// writer.submit(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
    /// writer.flush()?;
    /// assert!(std::fs::read_to_string(dir.path().join("audit.log"))?.contains("auth.login"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&self) -> Result<(), SubmitError> {
        let ack = Ack::new();
        self.tx
            .send(Msg::Flush(ack.clone()))
            .map_err(|_| SubmitError::Stopped)?;
        ack.wait()
    }

    /// Up to `max` buffers of records already written, cleared, for the caller to serialize
    /// its next records into (see [`LayoutCache::add_buffers`]); fewer, or none, when there
    /// are not so many or another thread is taking some. It never waits.
    ///
    /// A record's JSON is made by the calling thread and freed once the writer has sealed
    /// it; reusing the buffers keeps the two threads out of each other's allocator lock.
    ///
    /// ```no_run
    /// # fn demo(writer: &audit_core::sink::writer::Writer) {
    /// let buffers = writer.take_buffers(16);
    /// assert!(buffers.len() <= 16 && buffers.iter().all(String::is_empty));
    /// # }
    /// ```
    ///
    /// [`LayoutCache::add_buffers`]: crate::layout::LayoutCache::add_buffers
    pub fn take_buffers(&self, max: usize) -> Vec<String> {
        self.shared.spares.take(max)
    }

    /// `Some(reason)` once the writer failed closed.
    ///
    /// ```
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// use audit_core::sink::writer::{Writer, WriterConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// let (writer, _guard) = Writer::spawn(log, WriterConfig::default())?;
    /// if let Some(reason) = writer.failed() {
    ///     panic!("refusing to act without an audit record: {reason}");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn failed(&self) -> Option<String> {
        self.shared.failed_reason()
    }

    /// The writer's counters.
    ///
    /// ```
    /// # use audit_core::record::{Outcome, Record};
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// use audit_core::sink::writer::{Writer, WriterConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// let (writer, _guard) = Writer::spawn(log, WriterConfig::default())?;
    /// let record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
    /// writer.submit(record)?;
    /// writer.flush()?;
    /// let metrics = writer.metrics();
    /// assert!(metrics.fsyncs >= 1 && metrics.bytes_written > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metrics(&self) -> Metrics {
        let c = &self.shared.counters;
        let submitted = c.submitted.load(Ordering::Relaxed);
        let written = c.written.load(Ordering::Relaxed);
        let dropped = c.dropped.load(Ordering::Relaxed);
        Metrics {
            records_written: written,
            bytes_written: c.bytes.load(Ordering::Relaxed),
            queue_depth: submitted.saturating_sub(c_processed(c)),
            fsyncs: c.fsyncs.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            dropped,
            checkpoints: c.checkpoints.load(Ordering::Relaxed),
            rotations: c.rotations.load(Ordering::Relaxed),
        }
    }
}

fn c_processed(c: &Counters) -> u64 {
    // Records taken off the queue: written by the worker for callers, or dropped.
    c.written.load(Ordering::Relaxed) + c.dropped.load(Ordering::Relaxed)
}

impl WriterGuard {
    /// The handle (also returned by [`Writer::spawn`]).
    ///
    /// ```
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// use audit_core::sink::writer::{Writer, WriterConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// let (_, guard) = Writer::spawn(log, WriterConfig::default())?;
    /// let writer = guard.writer().clone();
    /// writer.flush()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Drain the queue, write the stop record and a final checkpoint, fsync, and join the
    /// worker.
    ///
    /// ```
    /// # use audit_core::sink::file::{FileLog, FileLogOptions};
    /// use audit_core::sink::writer::{Writer, WriterConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// # let log = FileLog::open(&dir.path().join("audit.log"), key, FileLogOptions::default())?;
    /// let (writer, guard) = Writer::spawn(log, WriterConfig::default())?;
    /// guard.shutdown()?; // call before `std::process::exit`, which skips destructors
    /// assert_eq!(writer.metrics().records_written, 2); // `audit.log.start` and `audit.log.stop`
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(mut self) -> Result<(), SubmitError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), SubmitError> {
        let Some(handle) = self.handle.take() else {
            return Ok(());
        };
        self.writer.shared.stopping.store(true, Ordering::Relaxed);
        let ack = Ack::new();
        let res = match self.writer.tx.send(Msg::Shutdown(ack.clone())) {
            Ok(()) => ack.wait(),
            Err(_) => Err(SubmitError::Stopped),
        };
        let _ = handle.join();
        res
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("audit-core: stopping the audit log writer: {e}");
        }
    }
}

fn lifecycle(action: &str) -> Record {
    let mut r = Record::new(action, Outcome::Success, SystemTime::now())
        .unwrap_or_else(|_| unreachable!("library action names are valid"));
    r.set_field("pid", i64::from(std::process::id()));
    r
}

/// Count, print and signal a failure of the writer (or of a thread working for it).
fn report_failure(shared: &Shared, config: &WriterConfig, e: &SinkError, records: u64) {
    shared.counters.failures.fetch_add(1, Ordering::Relaxed);
    eprintln!(
        "audit-core: AUDIT LOG FAILURE ({:?}): {e}; {records} record(s) not yet durable",
        config.failure
    );
    if let Some(cb) = &config.on_failure {
        cb(&WriterFailure {
            error: e,
            policy: config.failure,
            records,
        });
    }
}

struct Worker {
    log: FileLog,
    config: WriterConfig,
    rx: Receiver<Msg>,
    shared: Arc<Shared>,
    /// Sealed lines not yet written.
    buf: Vec<u8>,
    buf_records: u64,
    /// Callers waiting for the lines in `buf` (or, after writing, for the fsync).
    waiting: Vec<Arc<Ack>>,
    unsynced_records: u64,
    last_sync: Instant,
    since_checkpoint: u64,
    last_checkpoint: Instant,
    dropped_unreported: u64,
    /// The last write or fsync failed and `buf` holds what it could not write.
    failing: bool,
    /// JSON buffers of the records sealed, on their way back to [`Shared::spares`].
    spent: Spent,
    /// Syncs the files left by rotations (`Durability::Os` with rotation).
    closer: Option<Closer>,
}

impl Worker {
    fn new(log: FileLog, config: WriterConfig, rx: Receiver<Msg>, shared: Arc<Shared>) -> Worker {
        let rotates = config.rotate_bytes.is_some() || config.rotate_age.is_some();
        let closer = (config.durability == Durability::Os && rotates)
            .then(|| {
                let (shared, config) = (shared.clone(), config.clone());
                Closer::spawn(Box::new(move |e| report_failure(&shared, &config, e, 0)))
            })
            // Without a thread, rotations sync the file they leave themselves.
            .and_then(Result::ok);
        Worker {
            log,
            config,
            rx,
            shared,
            buf: Vec::with_capacity(64 * 1024),
            buf_records: 0,
            waiting: Vec::new(),
            unsynced_records: 0,
            last_sync: Instant::now(),
            since_checkpoint: 0,
            last_checkpoint: Instant::now(),
            dropped_unreported: 0,
            failing: false,
            spent: Spent::default(),
            closer,
        }
    }

    fn run(mut self) {
        let mut stop: Option<Arc<Ack>> = None;
        loop {
            if let (true, FailurePolicy::Block { retry_every }) =
                (self.failing, self.config.failure)
            {
                // Blocking policy: take nothing new (the queue fills and callers wait) until
                // the disk takes the backlog again.
                if self.shared.stopping.load(Ordering::Relaxed) {
                    self.give_up_backlog("the writer is stopping while the disk still fails");
                } else {
                    std::thread::sleep(retry_every);
                    self.write_and_sync(false);
                    continue;
                }
            }
            let first = match self.next_deadline() {
                Some(deadline) => match self
                    .rx
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match self.rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => break,
                },
            };
            let mut flushes = Vec::new();
            let mut drained = false;
            if let Some(m) = first {
                self.take(m, &mut flushes, &mut stop);
                // Group commit: take everything that queued up meanwhile.
                while self.buf.len() < self.batch_limit() && stop.is_none() {
                    match self.rx.try_recv() {
                        Ok(m) => self.take(m, &mut flushes, &mut stop),
                        Err(_) => {
                            drained = true;
                            break;
                        }
                    }
                }
            }
            // Linger after a batch of records nobody waits for: callers queue more without
            // waking this thread (a futex wake costs each caller microseconds), so a
            // steady stream is taken a batch per wake-up, not a record per wake-up. Flushes
            // and shutdown wait at most this long more.
            let linger = drained
                && flushes.is_empty()
                && self.waiting.is_empty()
                && self.config.durability != Durability::EveryRecord;
            self.write_and_sync(!flushes.is_empty() || stop.is_some());
            self.spent.hand_back(&self.shared.spares);
            let flush_result = self.flush_result();
            if !flushes.is_empty() {
                self.checkpoint();
            }
            for f in flushes {
                f.complete(flush_result.clone());
            }
            self.maybe_checkpoint();
            self.maybe_rotate();
            if stop.is_some() {
                break;
            }
            if linger {
                std::thread::sleep(LINGER);
            }
        }
        // Shutdown: stop record, final checkpoint, sync.
        if self.config.lifecycle_records && self.failed_reason().is_none() {
            let mut r = lifecycle(STOP_ACTION);
            r.set_reason("the audit log writer stopped cleanly");
            self.seal_into_buf(r.into(), None);
        }
        self.write_and_sync(true);
        if self.buf.is_empty() {
            self.checkpoint();
        }
        let result = self.flush_result();
        if let Some(ack) = stop {
            ack.complete(result);
        }
        self.shared.closed.store(true, Ordering::Relaxed);
    }

    /// Bytes to gather before writing: up to 1 MiB (one `write` of that is as cheap per byte
    /// as a bigger one, and the batch buffer is kept), less when the file is about to rotate.
    fn batch_limit(&self) -> usize {
        let limit = 1usize << 20;
        match self.config.rotate_bytes {
            Some(b) => limit.min(b.saturating_sub(self.log.len()) as usize),
            None => limit,
        }
    }

    fn flush_result(&self) -> Result<(), SubmitError> {
        if let Some(r) = self.failed_reason() {
            return Err(SubmitError::FailedClosed(r));
        }
        if !self.buf.is_empty() {
            return Err(SubmitError::NotWritten(format!(
                "{} record(s) are waiting in memory for the disk to recover",
                self.buf_records
            )));
        }
        Ok(())
    }

    fn failed_reason(&self) -> Option<String> {
        self.shared.failed_reason()
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut d: Option<Instant> = None;
        let mut consider = |t: Instant| d = Some(d.map_or(t, |x: Instant| x.min(t)));
        if let Durability::Interval(i) = self.config.durability {
            if self.unsynced_records > 0 {
                consider(self.last_sync + i);
            }
        }
        if self.config.witness.is_some() && self.since_checkpoint > 0 {
            consider(self.last_checkpoint + self.config.checkpoint_interval);
        }
        if let Some(age) = self.config.rotate_age {
            consider(Instant::now() + age.saturating_sub(self.log.age()));
        }
        if !self.buf.is_empty() {
            if let FailurePolicy::Block { retry_every } = self.config.failure {
                consider(Instant::now() + retry_every);
            }
            if let FailurePolicy::Continue { .. } = self.config.failure {
                consider(Instant::now() + Duration::from_millis(500));
            }
        }
        d
    }

    fn take(&mut self, m: Msg, flushes: &mut Vec<Arc<Ack>>, stop: &mut Option<Arc<Ack>>) {
        match m {
            Msg::Record(r, ack) => self.seal_into_buf(r, ack),
            Msg::Flush(a) => flushes.push(a),
            Msg::Shutdown(a) => *stop = Some(a),
        }
    }

    fn seal_into_buf(&mut self, record: Unsealed, ack: Option<Arc<Ack>>) {
        if let Some(reason) = self.failed_reason() {
            self.drop_record(ack, SubmitError::FailedClosed(reason));
            return;
        }
        if let FailurePolicy::Continue { max_pending_bytes } = self.config.failure {
            if self.buf.len() >= max_pending_bytes {
                self.dropped_unreported += 1;
                self.drop_record(
                    ack,
                    SubmitError::NotWritten(
                        "the disk is failing and the in-memory backlog is full".into(),
                    ),
                );
                return;
            }
        }
        // The key evolves when this record starts a new epoch; its state file follows once
        // the batch is written or synced (see `write_and_sync`), so it is never ahead of the
        // log and a batch need not be cut at an epoch's end.
        match self.log.seal_into(&record, &mut self.buf) {
            Ok(_) => {
                self.buf_records += 1;
                if let Some(a) = ack {
                    self.waiting.push(a);
                }
            }
            Err(e) => {
                self.report(&e, 1);
                self.drop_record(ack, SubmitError::NotWritten(e.to_string()));
            }
        }
        self.spent.keep(record.into_json(), &self.shared.spares);
    }

    fn drop_record(&mut self, ack: Option<Arc<Ack>>, err: SubmitError) {
        self.shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
        if let Some(a) = ack {
            a.complete(Err(err));
        }
    }

    fn report(&self, e: &SinkError, records: u64) {
        report_failure(&self.shared, &self.config, e, records);
    }

    /// Write the buffered lines (one write), then fsync if durability asks for it (or
    /// `force`), then wake the callers waiting for durability.
    fn write_and_sync(&mut self, force_sync: bool) {
        if !self.buf.is_empty() {
            match self.log.write_sealed(&self.buf) {
                Ok(()) => {
                    // The key's state file follows what a crash would leave of the log:
                    // the lines written, or with a durability that syncs, the lines synced
                    // (`FileLog::sync` advances it).
                    if self.config.durability == Durability::Os {
                        self.log.advance_key_state();
                    }
                    if let Some(e) = self.log.take_key_state_error() {
                        self.report(&e, 0);
                    }
                    let c = &self.shared.counters;
                    c.written.fetch_add(self.buf_records, Ordering::Relaxed);
                    c.bytes.fetch_add(self.buf.len() as u64, Ordering::Relaxed);
                    self.unsynced_records += self.buf_records;
                    self.since_checkpoint += self.buf_records;
                    self.buf.clear();
                    self.buf_records = 0;
                }
                Err(e) => {
                    self.fail(&e);
                    return;
                }
            }
        }
        self.failing = false;
        if self.dropped_unreported > 0 {
            // Writing works again: document the drop inside the chain.
            let n = std::mem::take(&mut self.dropped_unreported);
            let mut r = lifecycle(DROPPED_ACTION);
            r.set_field("dropped_records", n as i64);
            r.set_reason(
                "records were dropped while the audit log could not be written (continue policy)",
            );
            if let Ok(sealed) = self.log.seal(r) {
                self.buf.extend_from_slice(sealed.line.as_bytes());
                self.buf_records += 1;
                return self.write_and_sync(force_sync);
            }
        }
        let due = match self.config.durability {
            Durability::Os => false,
            Durability::Interval(i) => self.last_sync.elapsed() >= i,
            Durability::Batch(n) => self.unsynced_records >= n,
            Durability::EveryRecord => !self.waiting.is_empty(),
        };
        if (due || force_sync) && (self.unsynced_records > 0 || !self.waiting.is_empty()) {
            if let Err(e) = self.sync_now() {
                self.fail(&e);
                return;
            }
        }
        if force_sync {
            self.join_closing();
            // A flush or shutdown also waits for the key's state file (rewritten in the
            // background when the key evolves). Its failure is reported; the records are
            // written, so it does not fail them.
            if let Err(e) = self.log.sync_key_state() {
                self.report(&e, 0);
            }
        }
        if self.unsynced_records == 0 || self.config.durability != Durability::EveryRecord {
            for a in self.waiting.drain(..) {
                a.complete(Ok(()));
            }
        }
    }

    fn sync_now(&mut self) -> Result<(), SinkError> {
        self.log.sync()?;
        self.shared.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.unsynced_records = 0;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Count and report the backlog as lost, and fail its waiting callers.
    fn give_up_backlog(&mut self, why: &str) {
        let lost = self.buf_records;
        self.shared
            .counters
            .dropped
            .fetch_add(lost, Ordering::Relaxed);
        eprintln!(
            "audit-core: AUDIT RECORDS LOST: {lost} sealed record(s) were never written: {why}"
        );
        self.buf.clear();
        self.buf_records = 0;
        self.failing = false;
        for a in self.waiting.drain(..) {
            a.complete(Err(SubmitError::NotWritten(why.to_owned())));
        }
    }

    fn fail(&mut self, e: &SinkError) {
        self.failing = true;
        let pending = self.buf_records + self.unsynced_records;
        self.report(e, pending);
        match self.config.failure {
            // Keep the buffer: the deadline wakes the worker to retry. Blocked callers go on
            // waiting for durability.
            FailurePolicy::Block { .. } => {}
            FailurePolicy::Continue { .. } => {
                for a in self.waiting.drain(..) {
                    a.complete(Err(SubmitError::NotWritten(format!(
                        "{e} (kept in memory and retried)"
                    ))));
                }
            }
            FailurePolicy::FailClosed => {
                let reason = e.to_string();
                *self.shared.failed.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(reason.clone());
                self.shared.has_failed.store(true, Ordering::Release);
                let lost = self.buf_records;
                self.shared
                    .counters
                    .dropped
                    .fetch_add(lost, Ordering::Relaxed);
                if lost > 0 {
                    eprintln!("audit-core: fail-closed: {lost} sealed record(s) could not be written and are lost");
                }
                self.buf.clear();
                self.buf_records = 0;
                for a in self.waiting.drain(..) {
                    a.complete(Err(SubmitError::FailedClosed(reason.clone())));
                }
                self.failing = false;
            }
        }
    }

    fn maybe_checkpoint(&mut self) {
        if self.config.witness.is_none() || self.since_checkpoint == 0 {
            return;
        }
        if self.since_checkpoint >= self.config.checkpoint_records
            || self.last_checkpoint.elapsed() >= self.config.checkpoint_interval
        {
            if self.unsynced_records > 0 {
                // A checkpoint must never vouch for records a crash could still take away.
                if let Err(e) = self.sync_now() {
                    self.fail(&e);
                    return;
                }
            }
            self.checkpoint();
        }
    }

    fn checkpoint(&mut self) {
        let Some(witness) = self.config.witness.clone() else {
            return;
        };
        if self.failed_reason().is_some() {
            // Failed closed: the chain head may be a record that was sealed but never
            // written (reported as lost); a checkpoint must not vouch for it.
            return;
        }
        let Some(cp) = self.log.sealer().checkpoint(SystemTime::now()) else {
            return;
        };
        match witness {
            Witness::File(path) => {
                if let Err(e) = append_witness(&path, &cp) {
                    self.shared
                        .counters
                        .failures
                        .fetch_add(1, Ordering::Relaxed);
                    eprintln!("audit-core: AUDIT CHECKPOINT FAILURE: {e}");
                    return;
                }
            }
            Witness::Callback(cb) => cb(&cp),
        }
        self.shared
            .counters
            .checkpoints
            .fetch_add(1, Ordering::Relaxed);
        self.since_checkpoint = 0;
        self.last_checkpoint = Instant::now();
    }

    /// Sync a file left by a rotation on the closer's thread (here if there is none).
    fn sync_in_background(&mut self, closed: ClosedFile) {
        let closed = match &self.closer {
            Some(closer) => match closer.sync(closed) {
                Ok(()) => return,
                Err(closed) => closed,
            },
            None => closed,
        };
        if let Err(e) = closed.sync() {
            self.report(&e, 0);
        }
    }

    /// Wait for the files left by rotations to be synced.
    fn join_closing(&mut self) {
        if let Some(closer) = &self.closer {
            closer.wait();
        }
    }

    fn maybe_rotate(&mut self) {
        if !self.buf.is_empty() {
            return;
        }
        let by_size = self
            .config
            .rotate_bytes
            .is_some_and(|b| self.log.len() >= b);
        let by_age = self
            .config
            .rotate_age
            .is_some_and(|a| self.log.age() >= a && !self.log.is_empty());
        if !(by_size || by_age) {
            return;
        }
        // With `Durability::Os` the file left behind is synced on a thread of its own: the
        // `fdatasync` of a whole file (a tenth of a second for 256 MiB here) would stop the
        // writer while callers fill the queue and wait. Flush and shutdown wait for it.
        let rotated = match self.config.durability {
            Durability::Os => self
                .log
                .rotate_unsynced()
                .map(|closed| self.sync_in_background(closed)),
            _ => self.log.rotate(),
        };
        match rotated {
            Ok(()) => {
                self.shared
                    .counters
                    .rotations
                    .fetch_add(1, Ordering::Relaxed);
                self.shared.counters.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => self.report(&e, 0),
        }
    }
}
