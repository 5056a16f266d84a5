//! The `tracing_subscriber::Layer` and its builder.
//!
//! The layer has two jobs: it owns the pipeline (sealer and file log) that audited actions
//! deliver to, and it copies configured *context fields* (request id, client ip, user agent,
//! session id, trace id) from ordinary spans such as a tower-http request span, so that
//! audited handlers inside them carry those values without repeating them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use audit_core::canonical::Value;
use audit_core::keys::{KeyError, SealingKey};
use audit_core::sink::file::{FileLog, FileLogOptions, SinkError};
use tracing::field::{Field, Visit};
use tracing::span;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::pipeline::{FlushError, Pipeline};

/// The default context fields: span field name → record path.
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
#[derive(Debug, Default)]
pub struct AuditLayerBuilder {
    log_file: Option<PathBuf>,
    key: Option<SealingKey>,
    key_file: Option<PathBuf>,
    witness: Option<PathBuf>,
    sync_every_record: bool,
    chain_id: Option<String>,
    context: Option<Vec<(String, &'static str)>>,
    no_fallback: bool,
}

/// Why the layer could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No log file was given.
    #[error("AuditLayer::builder(): call .log_file(path) to say where the audit log goes")]
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
    pub fn builder() -> AuditLayerBuilder {
        AuditLayerBuilder::default()
    }
}

impl AuditLayerBuilder {
    /// Where the log goes (created 0600; an existing log's chain is continued).
    pub fn log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.log_file = Some(path.into());
        self
    }

    /// The writer's sealing state file (from `audit-log keygen`); it is rewritten each time
    /// the key evolves, so the old epoch key is erased.
    pub fn sealing_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self
    }

    /// A sealing key held in memory (tests, or a key from a secret store). Its evolution is
    /// not persisted.
    pub fn sealing_key(mut self, key: SealingKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Append a signed checkpoint of the chain head to this witness file when the guard is
    /// dropped or [`AuditGuard::flush`] is called.
    pub fn witness_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.witness = Some(path.into());
        self
    }

    /// `fdatasync` after every record before the audited call returns.
    pub fn sync_every_record(mut self, on: bool) -> Self {
        self.sync_every_record = on;
        self
    }

    /// The chain id of a new log (random by default).
    pub fn chain_id(mut self, id: impl Into<String>) -> Self {
        self.chain_id = Some(id.into());
        self
    }

    /// Copy span field `span_field` of enclosing spans into record path `record_path`.
    /// The first call replaces the [default set](DEFAULT_CONTEXT_FIELDS).
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

    /// Do not register this layer as the process-wide fallback (used when the current
    /// subscriber does not expose the layer, e.g. inside `reload`).
    pub fn without_process_fallback(mut self) -> Self {
        self.no_fallback = true;
        self
    }

    /// Open the log and build the layer and its guard.
    pub fn build(self) -> Result<(AuditLayer, AuditGuard), BuildError> {
        let path = self.log_file.ok_or(BuildError::MissingLogFile)?;
        let key = match (self.key, &self.key_file) {
            (Some(k), _) => k,
            (None, Some(p)) => SealingKey::load(p)?,
            (None, None) => return Err(BuildError::MissingKey),
        };
        let log = FileLog::open(
            &path,
            key,
            FileLogOptions {
                key_state_path: self.key_file.clone(),
                sync_every_record: self.sync_every_record,
                chain_id: self.chain_id,
            },
        )?;
        let context = self.context.unwrap_or_else(|| {
            DEFAULT_CONTEXT_FIELDS
                .iter()
                .map(|(f, p)| ((*f).to_owned(), *p))
                .collect()
        });
        let pipeline = Arc::new(Pipeline {
            log: Mutex::new(log),
            witness: self.witness,
            context,
        });
        if !self.no_fallback {
            pipeline.set_fallback();
        }
        Ok((
            AuditLayer {
                pipeline: pipeline.clone(),
            },
            AuditGuard { pipeline, path },
        ))
    }
}

/// Flushes (fsync) the log and writes a checkpoint when dropped. `std::process::exit`
/// skips destructors: call [`AuditGuard::flush`] first.
#[derive(Debug)]
#[must_use = "dropping the guard flushes the log; keep it alive for as long as the program audits"]
pub struct AuditGuard {
    pipeline: Arc<Pipeline>,
    path: PathBuf,
}

impl AuditGuard {
    /// fsync the log and append a checkpoint to the witness, if one was configured.
    pub fn flush(&self) -> Result<(), FlushError> {
        self.pipeline.flush()
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AuditGuard {
    fn drop(&mut self) {
        if let Err(e) = self.pipeline.flush() {
            eprintln!("audit-layer: flushing the audit log failed: {e}");
        }
    }
}

/// Context values copied from a span, stored in its extensions.
#[derive(Debug, Default)]
pub(crate) struct ContextValues(pub(crate) Vec<(&'static str, Value)>);

struct ContextVisitor<'a> {
    wanted: &'a [(String, &'static str)],
    out: &'a mut ContextValues,
}

impl ContextVisitor<'_> {
    fn put(&mut self, field: &Field, v: Value) {
        if let Some((_, path)) = self.wanted.iter().find(|(n, _)| n == field.name()) {
            match self.out.0.iter_mut().find(|(p, _)| p == path) {
                Some(slot) => slot.1 = v,
                None => self.out.0.push((path, v)),
            }
        }
    }
}

impl Visit for ContextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value.to_string()));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

impl AuditLayer {
    fn wants(&self, meta: &tracing::Metadata<'_>) -> bool {
        meta.target() != "audit"
            && meta
                .fields()
                .iter()
                .any(|f| self.pipeline.context.iter().any(|(n, _)| n == f.name()))
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
