//! The `tracing_subscriber::Layer` and its builder.
//!
//! The layer has two jobs: it owns the pipeline (sealer and file log) that audited actions
//! deliver to, and it copies configured *context fields* (request id, client ip, user agent,
//! session id, trace id) from ordinary spans such as a tower-http request span, so that
//! audited handlers inside them carry those values without repeating them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use audit_core::checkpoint::Checkpoint;
use audit_core::keys::{KeyError, SealingKey};
use audit_core::sink::file::{FileLog, FileLogOptions, SinkError};
use audit_core::sink::writer::{
    AlertFn, Durability, FailurePolicy, Metrics, Witness, Writer, WriterConfig, WriterGuard,
};
use tracing::span;

use crate::context::{ContextFields, ContextValues, ContextVisitor};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::pipeline::{FlushError, Pipeline};

/// The default context fields: span field name → record path.
///
/// An audited call copies these fields from the spans it runs in (the innermost value
/// wins), so a request span opened by middleware gives every audited handler inside it the
/// request id and client address. [`AuditLayerBuilder::context_field`] replaces the set.
///
/// ```
/// use audit_layer::audit_core::canonical::{parse_canonical, Value};
/// use tracing_subscriber::prelude::*;
///
/// #[audit_layer::audited(event = "data.read", resource = %id)]
/// fn read_document(id: &str) {}
///
/// let dir = tempfile::tempdir()?;
/// let (sealing, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
/// let (audit, guard) = audit_layer::AuditLayer::builder()
///     .log_file(dir.path().join("audit.log"))
///     .sealing_key(sealing)
///     .build()?;
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(audit), || {
///     let request = tracing::info_span!("request", request_id = "req-1", user_agent = "curl/8");
///     let _entered = request.enter();
///     read_document("doc-9");
/// });
/// guard.shutdown()?;
///
/// let log = std::fs::read_to_string(dir.path().join("audit.log"))?;
/// let record = log
///     .lines()
///     .map(|line| parse_canonical(line).unwrap())
///     .find(|r| r.get_path("event.action").and_then(Value::as_str) == Some("data.read"))
///     .unwrap();
/// assert_eq!(record.get_path("http.request.id").and_then(Value::as_str), Some("req-1"));
/// assert_eq!(record.get_path("user_agent.original").and_then(Value::as_str), Some("curl/8"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const DEFAULT_CONTEXT_FIELDS: &[(&str, &str)] = &[
    ("request_id", "http.request.id"),
    ("http.request.id", "http.request.id"),
    ("client_ip", "source.ip"),
    ("source.ip", "source.ip"),
    ("user_agent", "user_agent.original"),
    ("user_agent.original", "user_agent.original"),
    ("session_id", "session.id"),
    ("session.id", "session.id"),
    ("trace_id", "trace.id"),
    ("trace.id", "trace.id"),
];

/// The audit layer. Build it with [`AuditLayer::builder`].
///
/// ```
/// use tracing_subscriber::prelude::*;
/// let dir = tempfile::tempdir()?;
/// let (sealing, _verification) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
/// let (audit, _guard) = audit_layer::AuditLayer::builder()
///     .log_file(dir.path().join("audit.log"))
///     .sealing_key(sealing)
///     .build()?;
/// let subscriber = tracing_subscriber::registry().with(audit);
/// # let _ = subscriber;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct AuditLayer {
    pub(crate) pipeline: Arc<Pipeline>,
}

/// Builds an [`AuditLayer`] and its [`AuditGuard`].
///
/// Defaults: the OS decides when records reach the disk ([`Durability::Os`]), failures
/// block and retry ([`FailurePolicy::Block`]), no rotation, no witness, `audit.log.start` and
/// `audit.log.stop` records on, the [default context fields](DEFAULT_CONTEXT_FIELDS).
///
/// A production setup might look like this:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use audit_layer::{AuditLayer, Durability, FailurePolicy, WriterFailure};
///
/// # let dir = tempfile::tempdir()?;
/// # let key_file = dir.path().join("audit-writer.key");
/// # audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?.0.store(&key_file)?;
/// let (audit, guard) = AuditLayer::builder()
///     .log_dir(dir.path().join("audit")) // audit-<first seq>.log files, one chain
///     .sealing_key_file(&key_file) // from `audit-log keygen`
///     .durability(Durability::Interval(Duration::from_millis(200)))
///     .failure_policy(FailurePolicy::FailClosed) // no audited action without its record
///     .on_failure(Arc::new(|f: &WriterFailure<'_>| eprintln!("AUDIT LOG FAILING: {}", f.error)))
///     .rotate_bytes(64 << 20)
///     .rotate_age(Duration::from_secs(24 * 3600))
///     .witness_file(dir.path().join("witness.log")) // on other storage, in production
///     .checkpoint_every(1_000, Duration::from_secs(30))
///     .build()?;
/// # drop(audit);
/// // ... install `audit` in the subscriber, run the program ...
/// guard.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct AuditLayerBuilder {
    log_file: Option<PathBuf>,
    log_dir: Option<PathBuf>,
    key: Option<SealingKey>,
    key_file: Option<PathBuf>,
    key_state_interval: Option<Duration>,
    chain_id: Option<String>,
    context: Option<Vec<(String, &'static str)>>,
    no_fallback: bool,
    writer: WriterConfig,
    redaction: Option<audit_core::redact::Policy>,
}

impl std::fmt::Debug for AuditLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLayerBuilder")
            .field("log_file", &self.log_file)
            .field("log_dir", &self.log_dir)
            .field("key_file", &self.key_file)
            .field("writer", &self.writer)
            .field("redaction", &self.redaction)
            .finish_non_exhaustive()
    }
}

/// Why the layer could not be built.
///
/// ```
/// use audit_layer::{AuditLayer, BuildError};
/// let err = AuditLayer::builder().log_file("audit.log").build().unwrap_err();
/// assert!(matches!(err, BuildError::MissingKey));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No log file was given.
    #[error("AuditLayer::builder(): call .log_dir(dir) (rotated files) or .log_file(path) to say where the audit log goes")]
    MissingLogFile,
    /// No key was given.
    #[error("AuditLayer::builder(): call .sealing_key_file(path) (see `audit-log keygen`) or .sealing_key(key)")]
    MissingKey,
    /// The key could not be loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The log could not be opened.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

impl AuditLayer {
    /// Start building a layer.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let builder = audit_layer::AuditLayer::builder();
    /// let (_audit, guard) = builder.log_file(dir.path().join("audit.log")).sealing_key(key).build()?;
    /// guard.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> AuditLayerBuilder {
        AuditLayerBuilder::default()
    }

    /// The writer's counters: records written, bytes, queue depth, fsyncs, failures,
    /// dropped, checkpoints, rotations.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let (sealing, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let (audit, guard) = audit_layer::AuditLayer::builder()
    ///     .log_file(dir.path().join("audit.log"))
    ///     .sealing_key(sealing)
    ///     .build()?;
    /// guard.flush()?;
    /// let metrics = audit.metrics();
    /// assert!(metrics.records_written >= 1); // the writer's own `audit.log.start`
    /// assert_eq!(metrics.failures, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.pipeline.metrics()
    }
}

impl AuditLayerBuilder {
    /// Write a single log file (created 0600; an existing log's chain is continued). It
    /// never rotates; use [`log_dir`](Self::log_dir) for rotation.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let path = dir.path().join("audit.log");
    /// let (_audit, guard) = audit_layer::AuditLayer::builder().log_file(&path).sealing_key(key).build()?;
    /// assert_eq!(guard.path(), path);
    /// assert!(path.is_file());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.log_file = Some(path.into());
        self
    }

    /// Write a rotated log in this directory: files `audit-<first seq>.log`, one chain across
    /// them. Old files are never deleted: retention is the operator's decision.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let logs = dir.path().join("audit");
    /// let (_audit, guard) = audit_layer::AuditLayer::builder().log_dir(&logs).sealing_key(key).build()?;
    /// assert_eq!(guard.path(), logs);
    /// assert!(logs.join("audit-00000000000000000000.log").is_file());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.log_dir = Some(dir.into());
        self
    }

    /// The writer's sealing state file (from `audit-log keygen`); it is rewritten when the
    /// key evolves, so the old epoch key is erased — in the background and at most once per
    /// [`key_state_interval`](Self::key_state_interval), always with the newest key.
    ///
    /// ```
    /// use audit_layer::{AuditLayer, BuildError};
    /// # let dir = tempfile::tempdir()?;
    /// let key_file = dir.path().join("audit-writer.key");
    /// let missing = AuditLayer::builder().log_file(dir.path().join("a.log")).sealing_key_file(&key_file);
    /// assert!(matches!(missing.build(), Err(BuildError::Key(_)))); // no key there yet
    /// audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?.0.store(&key_file)?;
    /// let (_audit, guard) = AuditLayer::builder().log_file(dir.path().join("a.log")).sealing_key_file(&key_file).build()?;
    /// guard.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sealing_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self
    }

    /// How often at most the sealing state file is rewritten (default 20 ms;
    /// `Duration::ZERO`: at every epoch). Each rewrite is two `fsync`s; the file lags the key
    /// in memory by at most this plus one rewrite, and a thief who reads it can forge the
    /// records of the epochs in that lag as well as the current one.
    ///
    /// ```
    /// let builder = audit_layer::AuditLayer::builder()
    ///     .key_state_interval(std::time::Duration::ZERO);
    /// ```
    pub fn key_state_interval(mut self, interval: Duration) -> Self {
        self.key_state_interval = Some(interval);
        self
    }

    /// A sealing key held in memory (tests, or a key from a secret store). Its evolution is
    /// not persisted.
    ///
    /// ```
    /// use audit_layer::audit_core::keys::SealingKey;
    /// # let dir = tempfile::tempdir()?;
    /// let (key, _verification) = SealingKey::generate("k1", 1024)?; // keep `_verification` to verify
    /// let (_audit, guard) = audit_layer::AuditLayer::builder()
    ///     .log_file(dir.path().join("audit.log"))
    ///     .sealing_key(key)
    ///     .build()?;
    /// guard.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sealing_key(mut self, key: SealingKey) -> Self {
        self.key = Some(key);
        self
    }

    /// When records reach the disk (see [`Durability`]).
    ///
    /// ```
    /// use audit_layer::Durability;
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let builder = audit_layer::AuditLayer::builder().log_file(dir.path().join("audit.log")).sealing_key(key);
    /// let (_audit, guard) = builder.durability(Durability::EveryRecord).build()?;
    /// audit_layer::audit_event!(event = "config.reload"); // returns once the record is fsynced
    /// assert!(std::fs::read_to_string(guard.path())?.contains("config.reload"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn durability(mut self, durability: Durability) -> Self {
        self.writer.durability = durability;
        self
    }

    /// What a write failure does (see [`FailurePolicy`]). With
    /// [`FailurePolicy::FailClosed`], once the log has failed every audited call panics
    /// before its body runs, so no action happens without its record.
    ///
    /// ```
    /// use audit_layer::FailurePolicy;
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let builder = audit_layer::AuditLayer::builder().log_file(dir.path().join("audit.log")).sealing_key(key);
    /// // Keep serving if the disk fails, holding up to 1 MiB of records for when it recovers.
    /// let policy = FailurePolicy::Continue { max_pending_bytes: 1 << 20 };
    /// let (_audit, guard) = builder.failure_policy(policy).build()?;
    /// assert_eq!(guard.metrics().dropped, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.writer.failure = policy;
        self
    }

    /// Called on every write failure, whatever the policy (page someone).
    ///
    /// ```
    /// use std::sync::{atomic::{AtomicU64, Ordering}, Arc};
    /// use audit_layer::WriterFailure;
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let alerts = Arc::new(AtomicU64::new(0));
    /// let counter = alerts.clone();
    /// let (_audit, guard) = audit_layer::AuditLayer::builder()
    ///     .log_file(dir.path().join("audit.log"))
    ///     .sealing_key(key)
    ///     .on_failure(Arc::new(move |f: &WriterFailure<'_>| {
    ///         eprintln!("AUDIT LOG FAILING ({} records): {}", f.records, f.error);
    ///         counter.fetch_add(1, Ordering::Relaxed);
    ///     }))
    ///     .build()?;
    /// guard.flush()?;
    /// assert_eq!(alerts.load(Ordering::Relaxed), 0); // the disk is fine
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_failure(mut self, alert: AlertFn) -> Self {
        self.writer.on_failure = Some(alert);
        self
    }

    /// Rotate when the current file reaches this many bytes (directory logs).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let builder = audit_layer::AuditLayer::builder().log_dir(dir.path().join("audit")).sealing_key(key);
    /// let (_audit, guard) = builder.rotate_bytes(1024).build()?;
    /// for _ in 0..4 {
    ///     audit_layer::audit_event!(event = "config.reload");
    /// }
    /// guard.flush()?;
    /// assert!(guard.metrics().rotations >= 1);
    /// assert!(std::fs::read_dir(guard.path())?.count() >= 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rotate_bytes(mut self, bytes: u64) -> Self {
        self.writer.rotate_bytes = Some(bytes);
        self
    }

    /// Rotate when the current file is this old (directory logs).
    ///
    /// ```
    /// use std::time::Duration;
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let builder = audit_layer::AuditLayer::builder().log_dir(dir.path().join("audit")).sealing_key(key);
    /// let (_audit, guard) = builder.rotate_age(Duration::from_secs(24 * 3600)).build()?;
    /// guard.flush()?;
    /// assert_eq!(guard.metrics().rotations, 0); // the first file is a day away from rotating
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rotate_age(mut self, age: Duration) -> Self {
        self.writer.rotate_age = Some(age);
        self
    }

    /// Append signed checkpoints of the chain head to this witness file (put it on other
    /// storage), every [`checkpoint_every`](Self::checkpoint_every) and at shutdown.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let witness = dir.path().join("witness.log");
    /// let builder = audit_layer::AuditLayer::builder().log_file(dir.path().join("audit.log")).sealing_key(key);
    /// let (_audit, guard) = builder.witness_file(&witness).build()?;
    /// guard.flush()?; // publishes a checkpoint
    /// assert_eq!(std::fs::read_to_string(&witness)?.lines().count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn witness_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.writer.witness = Some(Witness::File(path.into()));
        self
    }

    /// Hand checkpoints to a callback instead (ship them to another system).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let heads = Arc::new(Mutex::new(Vec::new()));
    /// let sent = heads.clone();
    /// let (_audit, guard) = audit_layer::AuditLayer::builder()
    ///     .log_file(dir.path().join("audit.log"))
    ///     .sealing_key(key)
    ///     .witness_callback(move |cp| sent.lock().unwrap().push(cp.seq))
    ///     .build()?;
    /// guard.flush()?;
    /// assert_eq!(heads.lock().unwrap().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn witness_callback(mut self, f: impl Fn(&Checkpoint) + Send + Sync + 'static) -> Self {
        self.writer.witness = Some(Witness::Callback(Arc::new(f)));
        self
    }

    /// Checkpoint after this many records, or this long after the last checkpoint when
    /// records were written since (default 10 000 records / 60 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let witness = dir.path().join("witness.log");
    /// let (_audit, guard) = audit_layer::AuditLayer::builder()
    ///     .log_file(dir.path().join("audit.log"))
    ///     .sealing_key(key)
    ///     .durability(audit_layer::Durability::EveryRecord)
    ///     .witness_file(&witness)
    ///     .checkpoint_every(1, Duration::from_secs(3600))
    ///     .build()?;
    /// audit_layer::audit_event!(event = "config.reload");
    /// audit_layer::audit_event!(event = "config.reload");
    /// guard.shutdown()?; // adds a final checkpoint
    /// assert!(std::fs::read_to_string(&witness)?.lines().count() >= 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn checkpoint_every(mut self, records: u64, interval: Duration) -> Self {
        self.writer.checkpoint_records = records;
        self.writer.checkpoint_interval = interval;
        self
    }

    /// Capacity of the queue between audited calls and the writer thread (default 8192).
    /// A full queue makes callers wait; records are never dropped for lack of room.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let builder = audit_layer::AuditLayer::builder().log_file(dir.path().join("audit.log")).sealing_key(key);
    /// let (_audit, guard) = builder.queue_capacity(2).build()?;
    /// for _ in 0..5 {
    ///     audit_layer::audit_event!(event = "config.reload"); // waits for room, never dropped
    /// }
    /// guard.flush()?;
    /// assert_eq!(guard.metrics().records_written, 6); // with `audit.log.start`
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn queue_capacity(mut self, records: usize) -> Self {
        self.writer.queue_capacity = records;
        self
    }

    /// Write `audit.log.start` / `audit.log.stop` records (default on).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let builder = audit_layer::AuditLayer::builder().log_file(dir.path().join("audit.log")).sealing_key(key);
    /// let (_audit, guard) = builder.lifecycle_records(false).build()?;
    /// let path = guard.path().to_owned();
    /// guard.shutdown()?;
    /// assert!(!std::fs::read_to_string(path)?.contains("audit.log.stop"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lifecycle_records(mut self, on: bool) -> Self {
        self.writer.lifecycle_records = on;
        self
    }

    /// The chain id of a new log (random by default).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let builder = audit_layer::AuditLayer::builder().log_file(dir.path().join("audit.log")).sealing_key(key);
    /// let (_audit, guard) = builder.chain_id("orders-eu-1").build()?;
    /// guard.flush()?;
    /// assert!(std::fs::read_to_string(guard.path())?.contains(r#""chain":"orders-eu-1""#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn chain_id(mut self, id: impl Into<String>) -> Self {
        self.chain_id = Some(id.into());
        self
    }

    /// Copy span field `span_field` of enclosing spans into record path `record_path`.
    /// The first call replaces the [default set](DEFAULT_CONTEXT_FIELDS) (see there for how
    /// context reaches a record).
    ///
    /// ```
    /// use audit_layer::DEFAULT_CONTEXT_FIELDS;
    /// # let (sealing, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// # let dir = tempfile::tempdir()?;
    /// // Keep the defaults, and add the tenant of a `tenant` span field.
    /// let builder = DEFAULT_CONTEXT_FIELDS
    ///     .iter()
    ///     .fold(audit_layer::AuditLayer::builder(), |b, (field, path)| b.context_field(*field, path))
    ///     .context_field("tenant", "organization.id");
    /// let (audit, _guard) = builder
    ///     .log_file(dir.path().join("audit.log"))
    ///     .sealing_key(sealing)
    ///     .build()?;
    /// # drop(audit);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn context_field(
        mut self,
        span_field: impl Into<String>,
        record_path: &'static str,
    ) -> Self {
        self.context
            .get_or_insert_with(Vec::new)
            .push((span_field.into(), record_path));
        self
    }

    /// Do not register this layer as the process-wide fallback.
    ///
    /// Records find their layer through the current dispatcher. When that does not expose
    /// it — the layer wrapped in `tracing_subscriber::reload::Layer`, which refuses to
    /// downcast through its lock, or a record made on a thread with no subscriber — they
    /// go to the process-wide fallback: the most recently built layer that did not call
    /// this. Tests that build several layers call it so that one test's records cannot
    /// reach another's log.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let builder = audit_layer::AuditLayer::builder().log_file(dir.path().join("audit.log")).sealing_key(key);
    /// let (_audit, _guard) = builder.without_process_fallback().build()?;
    /// let before = audit_layer::lost_records();
    /// audit_layer::audit_event!(event = "config.reload"); // no subscriber holds the layer
    /// assert_eq!(audit_layer::lost_records(), before + 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn without_process_fallback(mut self) -> Self {
        self.no_fallback = true;
        self
    }

    /// The redaction policy applied to every record before it is sealed (default:
    /// [`Policy::default`](audit_core::redact::Policy::default), see
    /// [`redact`](crate::redact)).
    ///
    /// ```
    /// use audit_layer::redact::{Action, Policy, PseudonymKey};
    /// let policy = Policy::builder()
    ///     .allow_field("fields.order_id")
    ///     .pseudonym_key(PseudonymKey::generate()?)
    ///     .field_action("user.email", Action::KeyedHash)
    ///     .build()?;
    /// let builder = audit_layer::AuditLayer::builder().redaction(policy);
    /// # let _ = builder;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn redaction(mut self, policy: audit_core::redact::Policy) -> Self {
        self.redaction = Some(policy);
        self
    }

    /// Open the log, start the writer thread, and build the layer and its guard.
    ///
    /// ```
    /// use audit_layer::{AuditLayer, BuildError};
    /// # let dir = tempfile::tempdir()?;
    /// # let key = || audit_layer::audit_core::keys::SealingKey::generate("k1", 1024).map(|k| k.0);
    /// let no_log = AuditLayer::builder().sealing_key(key()?).build();
    /// assert!(matches!(no_log, Err(BuildError::MissingLogFile)));
    /// let (_audit, guard) = AuditLayer::builder().log_file(dir.path().join("audit.log")).sealing_key(key()?).build()?;
    /// guard.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<(AuditLayer, AuditGuard), BuildError> {
        let key = match (self.key, &self.key_file) {
            (Some(k), _) => k,
            (None, Some(p)) => SealingKey::load(p)?,
            (None, None) => return Err(BuildError::MissingKey),
        };
        let opts = FileLogOptions {
            key_state_path: self.key_file.clone(),
            key_state_interval: self.key_state_interval,
            chain_id: self.chain_id,
            ..FileLogOptions::default()
        };
        let (log, path) = match (self.log_dir, self.log_file) {
            (Some(dir), _) => (FileLog::open_dir(&dir, "audit", key, opts)?, dir),
            (None, Some(file)) => (FileLog::open(&file, key, opts)?, file),
            (None, None) => return Err(BuildError::MissingLogFile),
        };
        let (writer, writer_guard) = Writer::spawn(log, self.writer)?;
        let context = self.context.unwrap_or_else(|| {
            DEFAULT_CONTEXT_FIELDS
                .iter()
                .map(|(f, p)| ((*f).to_owned(), *p))
                .collect()
        });
        let pipeline = Arc::new(Pipeline {
            writer,
            context: ContextFields::new(context),
            redaction: self.redaction.unwrap_or_default(),
        });
        if !self.no_fallback {
            pipeline.set_fallback();
        }
        Ok((
            AuditLayer {
                pipeline: pipeline.clone(),
            },
            AuditGuard {
                pipeline,
                writer: Some(writer_guard),
                path,
            },
        ))
    }
}

/// Stops the writer when dropped: drains the queue, writes `audit.log.stop` and a final
/// checkpoint, and fsyncs. `std::process::exit` skips destructors: call
/// [`AuditGuard::shutdown`] first.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let (sealing, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
/// let (_audit, guard) = audit_layer::AuditLayer::builder()
///     .log_file(dir.path().join("audit.log"))
///     .sealing_key(sealing)
///     .build()?;
/// // ... audited calls ...
/// guard.flush()?; // everything so far is on disk
/// assert_eq!(guard.path(), dir.path().join("audit.log"));
/// assert_eq!(guard.metrics().queue_depth, 0);
/// guard.shutdown()?; // before `std::process::exit`, or let it drop
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the guard stops the audit log writer; keep it alive for as long as the program audits"]
pub struct AuditGuard {
    pipeline: Arc<Pipeline>,
    writer: Option<WriterGuard>,
    path: PathBuf,
}

impl std::fmt::Debug for AuditGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditGuard")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl AuditGuard {
    /// Write everything queued, fsync, and publish a checkpoint if a witness is set.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// # let builder = audit_layer::AuditLayer::builder().log_file(dir.path().join("audit.log")).sealing_key(key);
    /// let (_audit, guard) = builder.build()?;
    /// audit_layer::audit_event!(event = "config.reload");
    /// guard.flush()?;
    /// assert!(std::fs::read_to_string(guard.path())?.contains("config.reload"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&self) -> Result<(), FlushError> {
        self.pipeline.flush()
    }

    /// Stop the writer now (what dropping the guard does), reporting any failure.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// # let builder = audit_layer::AuditLayer::builder().log_file(dir.path().join("audit.log")).sealing_key(key);
    /// let (_audit, guard) = builder.build()?;
    /// let path = guard.path().to_owned();
    /// guard.shutdown()?;
    /// let log = std::fs::read_to_string(path)?;
    /// assert!(log.lines().last().unwrap().contains("audit.log.stop"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(mut self) -> Result<(), FlushError> {
        match self.writer.take() {
            Some(w) => Ok(w.shutdown()?),
            None => Ok(()),
        }
    }

    /// The log file, or the directory of a rotated log.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// let (_audit, guard) = audit_layer::AuditLayer::builder().log_dir(dir.path()).sealing_key(key).build()?;
    /// assert_eq!(guard.path(), dir.path()); // a rotated log: its directory
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The writer's counters.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
    /// # let builder = audit_layer::AuditLayer::builder().log_file(dir.path().join("audit.log")).sealing_key(key);
    /// let (_audit, guard) = builder.build()?;
    /// audit_layer::audit_event!(event = "config.reload");
    /// guard.flush()?;
    /// let metrics = guard.metrics();
    /// assert_eq!((metrics.records_written, metrics.queue_depth), (2, 0)); // with `audit.log.start`
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.pipeline.metrics()
    }
}

impl Drop for AuditGuard {
    fn drop(&mut self) {
        if let Some(w) = self.writer.take() {
            if let Err(e) = w.shutdown() {
                eprintln!("audit-layer: stopping the audit log writer failed: {e}");
            }
        }
    }
}

impl AuditLayer {
    /// Whether a span carries context fields to copy (most do not: see `context.rs`).
    fn wants(&self, meta: &tracing::Metadata<'_>) -> bool {
        meta.target() != "audit" && self.pipeline.context.any_in(meta.fields())
    }
}

impl<S> Layer<S> for AuditLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if !self.wants(attrs.metadata()) {
            return;
        }
        let mut values = ContextValues::default();
        attrs.record(&mut ContextVisitor {
            wanted: &self.pipeline.context,
            out: &mut values,
        });
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(values);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if !self.wants(span.metadata()) {
            return;
        }
        let mut ext = span.extensions_mut();
        if ext.get_mut::<ContextValues>().is_none() {
            ext.insert(ContextValues::default());
        }
        if let Some(cv) = ext.get_mut::<ContextValues>() {
            values.record(&mut ContextVisitor {
                wanted: &self.pipeline.context,
                out: cv,
            });
        }
    }
}
