//! From a finished capture to the sink: finding the installed pipeline and handing it the
//! record, or reporting loudly that there is none.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};

use audit_core::canonical::Value;
use audit_core::flat::FlatRecord;
use audit_core::layout::LayoutCache;
use audit_core::sink::writer::{Durable, Metrics, SubmitError, Writer};
use tracing_subscriber::registry::LookupSpan;

use crate::context::{ContextFields, ContextValues};
use crate::layer::AuditLayer;

static LOST: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicU64 = AtomicU64::new(0);
static WARNED: AtomicBool = AtomicBool::new(false);
static FALLBACK: RwLock<Option<Weak<Pipeline>>> = RwLock::new(None);
static EVENT_IDS: AtomicU64 = AtomicU64::new(0);

/// Records that could not be delivered because no [`AuditLayer`] was reachable, since the
/// process started.
///
/// ```
/// let before = audit_layer::lost_records();
/// audit_layer::audit_event!(event = "config.reload");
/// assert_eq!(audit_layer::lost_records(), before + 1);
/// ```
pub fn lost_records() -> u64 {
    LOST.load(Ordering::Relaxed)
}

/// Records that reached the pipeline but could not be written (sink errors), since the
/// process started. Each failure is also printed to stderr.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
/// # let builder = audit_layer::AuditLayer::builder().log_file(dir.path().join("audit.log")).sealing_key(key);
/// let (_audit, guard) = builder.build()?;
/// audit_layer::audit_event!(event = "config.reload");
/// guard.flush()?;
/// assert_eq!(audit_layer::failed_records(), 0); // the disk took it
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn failed_records() -> u64 {
    FAILED.load(Ordering::Relaxed)
}

/// A new `event.id`, as a number (written as 16 hex digits by [`EventId::text`]).
pub(crate) fn next_event_id() -> EventId {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(|| {
        audit_core::keys::random_chain_id()
            .ok()
            .and_then(|id| u64::from_str_radix(&id[..16], 16).ok())
            .unwrap_or(0)
    });
    let n = EVENT_IDS.fetch_add(1, Ordering::Relaxed);
    EventId(base.wrapping_add(n))
}

/// An `event.id`: 64 bits, written as 16 lowercase hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EventId(pub(crate) u64);

impl EventId {
    /// `format!("{:016x}", id)` on the stack, without the formatting machinery.
    pub(crate) fn text(self) -> arrayvec::ArrayString<16> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = arrayvec::ArrayString::new();
        for k in (0..16).rev() {
            out.push(char::from(HEX[((self.0 >> (4 * k)) & 0xf) as usize]));
        }
        out
    }
}

/// The installed pipeline: the background writer of a sealed, locked log.
pub(crate) struct Pipeline {
    pub(crate) writer: Writer,
    pub(crate) context: ContextFields,
    /// Applied to every record before it is submitted (so before it is sealed).
    pub(crate) redaction: audit_core::redact::Policy,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("writer", &self.writer)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    pub(crate) fn flush(&self) -> Result<(), FlushError> {
        Ok(self.writer.flush()?)
    }

    pub(crate) fn metrics(&self) -> Metrics {
        self.writer.metrics()
    }

    pub(crate) fn set_fallback(self: &Arc<Self>) {
        *FALLBACK.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::downgrade(self));
    }
}

/// Flushing the log failed.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let (key, _) = audit_layer::audit_core::keys::SealingKey::generate("k1", 1024)?;
/// # let builder = audit_layer::AuditLayer::builder().log_file(dir.path().join("audit.log")).sealing_key(key);
/// let (_audit, guard) = builder.build()?;
/// match guard.flush() {
///     Ok(()) => {}
///     Err(audit_layer::FlushError::Submit(e)) => eprintln!("audit records not on disk: {e}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    /// The writer could not write or sync everything.
    #[error(transparent)]
    Submit(#[from] SubmitError),
}

/// Under the fail-closed policy, refuse to start an audited action once the log has
/// failed: the action must not run without its record.
pub(crate) fn check_open(event: &str) {
    if crate::testing::hook_active() {
        return;
    }
    if let Some(reason) = with_pipeline(|p| p.writer.failed()).flatten() {
        panic!("audit log failed closed ({reason}): refusing to run audited action {event}");
    }
}

/// `f` on the pipeline of the current subscriber's layer, else on the process-wide one;
/// `None` when there is neither. The current layer is asked in place: no `Arc` clone per
/// call (its count would be one more cache line that every calling thread writes).
fn with_pipeline<R>(f: impl FnOnce(&Pipeline) -> R) -> Option<R> {
    let mut f = Some(f);
    let found = tracing::dispatcher::get_default(|d| {
        let layer = d.downcast_ref::<AuditLayer>()?;
        Some(f.take()?(&layer.pipeline))
    });
    if found.is_some() {
        return found;
    }
    let fallback = FALLBACK
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(Weak::upgrade)?;
    Some(f.take()?(&fallback))
}

/// Deliver a finished record: to the test hook, the current subscriber's layer, or the
/// process-wide layer; otherwise count it lost and say so on stderr. With
/// `Durability::EveryRecord`, returns the wait for the record to be on disk: the caller
/// blocks on it ([`Durable::wait`]) or, in an async audited call, awaits it; either way it
/// passes the result to [`durable_result`].
pub(crate) fn deliver_nowait(record: Result<FlatRecord, String>) -> Option<Durable> {
    let record = match record {
        Ok(r) => r,
        Err(e) => {
            FAILED.fetch_add(1, Ordering::Relaxed);
            eprintln!("audit-layer: an audit record could not be built and is LOST: {e}");
            return None;
        }
    };
    // `None`: a test capture took it.
    let record = crate::testing::hook_deliver(record)?;
    let mut record = Some(record);
    if let Some(wait) = with_pipeline(|p| deliver_to(p, record.take()?)) {
        return wait;
    }
    // No pipeline took it.
    let record = record?;
    LOST.fetch_add(1, Ordering::Relaxed);
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "audit-layer: an audited action ({}) ran but no AuditLayer is installed: its record is LOST. \
             Add the layer from AuditLayer::builder() to your subscriber before the first audited call \
             (audit_layer::lost_records() counts these).",
            record.action()
        );
    }
    None
}

/// Redact, serialize and submit `record` to pipeline `p`.
fn deliver_to(p: &Pipeline, record: FlatRecord) -> Option<Durable> {
    // Redacted and serialized here, on the caller's thread (the writer only seals), from
    // this thread's layouts: no lock, nothing shared.
    // Checked first, so that the record is never moved into a closure that cannot run: the
    // cache is gone while thread-locals are destroyed (an audited call in a thread-local's
    // destructor) and busy if this is re-entered; nothing on this thread runs between the
    // check and the use.
    let usable = LAYOUTS
        .try_with(|cache| cache.try_borrow_mut().is_ok())
        .unwrap_or(false);
    let unsealed = if usable {
        LAYOUTS.with(|cache| {
            let mut cache = cache.borrow_mut();
            if cache.wants_buffers() {
                // The buffers of records already written (allocated by callers, handed
                // back by the writer): no allocator traffic between threads.
                cache.add_buffers(p.writer.take_buffers(BUFFERS_PER_THREAD));
            }
            cache.unsealed(record, &p.redaction)
        })
    } else {
        record.into_unsealed(&p.redaction)
    };
    match p.writer.submit_unsealed_nowait(unsealed) {
        Ok(wait) => wait,
        Err(e) => {
            durable_result(Err(e));
            None
        }
    }
}

/// Record buffers a thread takes back from the writer at a time.
const BUFFERS_PER_THREAD: usize = 16;

thread_local! {
    /// Layouts of the records this thread has written (see `audit_core::layout`).
    static LAYOUTS: std::cell::RefCell<LayoutCache> = std::cell::RefCell::new(LayoutCache::new());
}

/// Count and report a record the writer could not store.
pub(crate) fn durable_result(result: Result<(), SubmitError>) {
    if let Err(e) = result {
        // The writer has already reported and counted it; count it here too so
        // `failed_records()` sees every record an audited call could not store.
        FAILED.fetch_add(1, Ordering::Relaxed);
        eprintln!("audit-layer: an audit record could not be written: {e}");
    }
}

/// Values of the configured context fields found on the current span and its ancestors
/// (the innermost wins).
pub(crate) fn collect_context() -> Vec<(&'static str, Value)> {
    let mut out = tracing::dispatcher::get_default(|d| {
        let mut out: Vec<(&'static str, Value)> = Vec::new();
        let Some(registry) = d.downcast_ref::<tracing_subscriber::Registry>() else {
            return out;
        };
        let Some(id) = d.current_span().id().cloned() else {
            return out;
        };
        let Some(span) = registry.span(&id) else {
            return out;
        };
        for s in span.scope() {
            if let Some(cv) = s.extensions().get::<ContextValues>() {
                for (path, v) in &cv.0 {
                    if !out.iter().any(|(p, _)| p == path) {
                        out.push((path, v.clone()));
                    }
                }
            }
        }
        out
    });
    // The OpenTelemetry trace context, with the `opentelemetry` feature.
    crate::otel::add_trace_context(&mut out);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_ids_are_sixteen_lowercase_hex_digits() {
        for v in [
            0,
            1,
            0xabc,
            0x0123_4567_89ab_cdef,
            u64::MAX,
            0x8000_0000_0000_0000,
        ] {
            assert_eq!(super::EventId(v).text().as_str(), format!("{v:016x}"));
        }
    }
}
