//! The state of one audited action in flight, and the thread-local stack of active ones.
//!
//! The macros create a [`Capture`] at function entry, fill it with the arguments and fields,
//! and hand it to a [`Guard`] (sync functions) or an [`AuditFuture`] (async ones). While the
//! function body runs (or the future is being polled) the capture sits on a thread-local
//! stack, so [`record`](crate::record) can add values learned in the body and nested audited
//! calls can link to their parent. When the body returns, panics, or the future is dropped
//! unfinished, the capture becomes one record and is delivered to the pipeline.
//!
//! Records do not travel through `tracing`'s span filtering: a global `EnvFilter` of `warn`
//! or `release_max_level_warn` cannot starve the audit log (see the crate docs).

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use audit_core::canonical::Value;
use audit_core::flat::{FlatRecord, FlatValue};
use audit_core::record::Outcome;
use audit_core::sink::writer::Durable;

use crate::outcome::OutcomeReport;
use crate::pipeline::EventId;

/// Where an audited action is declared. Emitted as a `static` by the macros.
#[doc(hidden)]
#[derive(Debug)]
pub struct Callsite {
    /// The event action, e.g. `auth.login` (validated at compile time).
    pub event: &'static str,
    /// The function (or span) name.
    pub name: &'static str,
    /// `module_path!()`.
    pub module_path: &'static str,
    /// `file!()`.
    pub file: &'static str,
    /// `line!()`.
    pub line: u32,
}

/// One audited action in flight.
#[doc(hidden)]
#[derive(Debug)]
pub struct Capture {
    callsite: &'static Callsite,
    timestamp: SystemTime,
    started: Instant,
    deterministic: bool,
    event_id: EventId,
    parent_id: Option<EventId>,
    actor: Option<FlatValue>,
    resource: Option<FlatValue>,
    fields: Vec<(Cow<'static, str>, FlatValue)>,
    redact: Vec<&'static str>,
    context: Vec<(&'static str, Value)>,
    outcome: Option<OutcomeReport>,
}

/// A field vector is kept for the next capture on its thread while it has room for at most
/// this many fields.
const KEEP_FIELDS: usize = 32;

thread_local! {
    static STACK: RefCell<Vec<Capture>> = const { RefCell::new(Vec::new()) };
    /// The field vector of the last capture made into a record on this thread, emptied: the
    /// next capture fills it instead of allocating one.
    static SPARE_FIELDS: Cell<Vec<(Cow<'static, str>, FlatValue)>> = const { Cell::new(Vec::new()) };
}

impl Capture {
    /// Start capturing an action declared at `callsite`.
    pub fn start(callsite: &'static Callsite) -> Capture {
        crate::pipeline::check_open(callsite.event);
        let (timestamp, event_id, deterministic) = match crate::testing::hook_clock() {
            Some((t, id)) => (t, id, true),
            None => (SystemTime::now(), crate::pipeline::next_event_id(), false),
        };
        let parent_id = STACK.with(|s| s.borrow().last().map(|c| c.event_id));
        Capture {
            callsite,
            timestamp,
            started: Instant::now(),
            deterministic,
            event_id,
            parent_id,
            actor: None,
            resource: None,
            // `try_with`: during this thread's teardown, a capture allocates as before.
            fields: SPARE_FIELDS.try_with(Cell::take).unwrap_or_default(),
            redact: Vec::new(),
            context: crate::pipeline::collect_context(),
            outcome: None,
        }
    }

    /// Set the actor (`user.id`).
    pub fn actor(&mut self, value: impl Into<FlatValue>) {
        self.actor = Some(value.into());
    }

    /// Set the resource (`resource.id`).
    pub fn resource(&mut self, value: impl Into<FlatValue>) {
        self.resource = Some(value.into());
    }

    /// Record a field (an argument, or a `fields(...)` entry). Dotted names are placed at
    /// their path; others under `fields`. [`empty`](crate::__private::empty) declares a
    /// field to be filled later.
    pub fn field(&mut self, name: &'static str, value: impl Into<FlatValue>) {
        self.set_field(Cow::Borrowed(name), value.into());
    }

    fn set_field(&mut self, name: Cow<'static, str>, value: FlatValue) {
        match self.fields.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((name, value)),
        }
    }

    /// Force-redact this field whatever the policy says.
    pub fn redact(&mut self, name: &'static str) {
        self.redact.push(name);
    }

    /// Deliver now, as a standalone event (`audit_event!`).
    pub fn emit(mut self, outcome: Outcome, reason: Option<String>) {
        self.outcome = Some(OutcomeReport::new(outcome, reason));
        self.finish(None);
    }

    fn finish(mut self, fallback: Option<Outcome>) {
        deliver(self.take_record(fallback));
    }

    /// [`finish`](Self::finish), returning the wait for durability (with
    /// [`Durability::EveryRecord`](crate::Durability::EveryRecord)) instead of blocking.
    fn finish_nowait(mut self, fallback: Option<Outcome>) -> Option<Durable> {
        let record = self.take_record(fallback);
        crate::pipeline::deliver_nowait(record)
    }

    /// The record of this action, its outcome `fallback` unless one was set; what it holds is
    /// taken out (it is built where it lies: on the stack of captures, not moved first).
    fn take_record(&mut self, fallback: Option<Outcome>) -> Result<FlatRecord, String> {
        let report = self.outcome.take().unwrap_or(OutcomeReport {
            outcome: fallback.unwrap_or(Outcome::Unknown),
            reason: match fallback {
                Some(Outcome::Cancelled) => {
                    Some("the future was dropped before it completed".into())
                }
                Some(Outcome::Panicked) => Some("the function panicked".into()),
                _ => None,
            },
        });
        let duration = if self.deterministic {
            Duration::ZERO
        } else {
            self.started.elapsed()
        };
        self.take_flat(report, duration)
    }

    /// Build the record. Redaction by the policy happens at delivery, where the pipeline
    /// (and so its policy) is known; here only the fields forced with `redact(...)` are
    /// masked, and listed in `redaction.fields` for the policy to merge with its own.
    ///
    /// Built flat (see [`FlatRecord`]): the same calls as on a `Record`, kept in a list, so
    /// that the pipeline can write it from a cached layout (and tests get the same tree).
    fn take_flat(
        &mut self,
        report: OutcomeReport,
        duration: Duration,
    ) -> Result<FlatRecord, String> {
        let mut record = FlatRecord::new(self.callsite.event, report.outcome, self.timestamp)
            .map_err(|e| format!("{} ({}:{})", e, self.callsite.file, self.callsite.line))?;
        let mut forced: Vec<String> = Vec::new();
        if let Some(actor) = self.actor.take() {
            record.set_actor(as_text(actor));
        }
        if let Some(resource) = self.resource.take() {
            record.set_resource(as_text(resource));
        }
        for (path, value) in std::mem::take(&mut self.context) {
            let _ = record.set(path, value);
        }
        let mut fields = std::mem::take(&mut self.fields);
        for (name, value) in fields.drain(..) {
            if value.is_null() {
                continue; // declared Empty and never filled
            }
            let is_forced = self.redact.iter().any(|r| *r == name);
            let value = if is_forced {
                FlatValue::text(audit_core::redact::MASK)
            } else {
                value
            };
            let forced_name = is_forced.then(|| name.to_string());
            let placed = record.set_or_field(name, value);
            if let Some(name) = forced_name {
                forced.push(if placed {
                    name
                } else {
                    format!("{}.{name}", audit_core::record::FIELDS_KEY)
                });
            }
        }
        if fields.capacity() <= KEEP_FIELDS {
            let _ = SPARE_FIELDS.try_with(|spare| spare.set(fields));
        }
        if let Some(reason) = report.reason {
            record.set_reason(reason);
        }
        record.set_duration(duration);
        record.set_event_id(&self.event_id.text());
        if let Some(parent) = self.parent_id {
            record.set_parent_event_id(&parent.text());
        }
        if !forced.is_empty() {
            forced.sort();
            let _ = record.set(
                "redaction.fields",
                forced.into_iter().map(Value::from).collect::<Vec<_>>(),
            );
        }
        Ok(record)
    }
}

/// Deliver a record, and wait for it to be durable if the pipeline asks for that.
fn deliver(record: Result<FlatRecord, String>) {
    if let Some(durable) = crate::pipeline::deliver_nowait(record) {
        crate::pipeline::durable_result(durable.wait());
    }
}

fn as_text(v: FlatValue) -> FlatValue {
    match v.as_str() {
        Some(_) => v,
        None => FlatValue::from(v.into_value().to_canonical_string()),
    }
}

/// Record a value into the innermost audited action running on this thread (in an async
/// function: the one whose future is being polled). Returns `false` when no audited action
/// is active. Dotted names go to their path (`user.id`), others under `fields`.
///
/// ```
/// #[audit_layer::audited(event = "auth.login", fields(user.id = Empty), skip(password))]
/// fn login(email: &str, password: &str) -> Result<u64, String> {
///     let user_id = 42; // looked up
///     audit_layer::record("user.id", user_id);
///     Ok(user_id)
/// }
/// let (_, records) = audit_layer::testing::capture_records(|| login("a@example.com", "pw"));
/// assert_eq!(records[0].get("user").unwrap().get_path("id").unwrap().as_i64(), Some(42));
/// ```
pub fn record(name: impl Into<Cow<'static, str>>, value: impl crate::AsAuditValue) -> bool {
    let name = name.into();
    let value = value.as_audit_value();
    STACK.with(|s| match s.borrow_mut().last_mut() {
        Some(c) => {
            c.set_field(name, value.into());
            true
        }
        None => false,
    })
}

/// Set the outcome of the innermost active action (used by the async expansion).
#[doc(hidden)]
pub fn set_outcome(report: OutcomeReport) {
    STACK.with(|s| {
        if let Some(c) = s.borrow_mut().last_mut() {
            c.outcome = Some(report);
        }
    });
}

fn push(capture: Capture) -> usize {
    STACK.with(|s| {
        let mut s = s.borrow_mut();
        s.push(capture);
        s.len() - 1
    })
}

fn pop(depth: usize) -> Option<Capture> {
    STACK.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() > depth {
            // Anything above `depth` was leaked by a forgotten guard: deliver it as unknown.
            let mut above: Vec<Capture> = s.drain(depth + 1..).collect();
            let mine = s.pop();
            drop(s);
            for c in above.drain(..) {
                c.finish(None);
            }
            mine
        } else {
            None
        }
    })
}

/// Keeps a sync function's capture active while its body runs.
#[doc(hidden)]
#[must_use]
pub struct Guard {
    depth: usize,
    _span: tracing::span::EnteredSpan,
}

/// Activate `capture` for a synchronous body and enter its span.
#[doc(hidden)]
pub fn enter(capture: Capture, span: tracing::Span) -> Guard {
    let entered = span.entered();
    Guard {
        depth: push(capture),
        _span: entered,
    }
}

impl Guard {
    /// The body returned: record its outcome and deliver.
    pub fn finish(self, report: OutcomeReport) {
        set_outcome_at(self.depth, report);
    }
}

fn set_outcome_at(depth: usize, report: OutcomeReport) {
    STACK.with(|s| {
        if let Some(c) = s.borrow_mut().get_mut(depth) {
            c.outcome = Some(report);
        }
    });
}

impl Drop for Guard {
    fn drop(&mut self) {
        let fallback = if std::thread::panicking() {
            Outcome::Panicked
        } else {
            Outcome::Unknown
        };
        // The record is built where the capture lies on the stack, which is then cut: the
        // capture (a few hundred bytes) is not moved out first.
        let taken = STACK.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() <= self.depth {
                return None;
            }
            // Anything above `depth` was leaked by a forgotten guard: delivered as unknown.
            let above: Vec<Capture> = s.drain(self.depth + 1..).collect();
            let record = s.last_mut().map(|c| c.take_record(Some(fallback)));
            s.truncate(self.depth);
            Some((above, record))
        });
        let Some((above, record)) = taken else {
            return;
        };
        for c in above {
            c.finish(None);
        }
        if let Some(record) = record {
            deliver(record);
        }
    }
}

/// Owns a capture between polls; delivers it as cancelled if dropped unfinished.
struct Slot(Option<Capture>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            let fallback = if std::thread::panicking() {
                Outcome::Panicked
            } else {
                Outcome::Cancelled
            };
            c.finish(Some(fallback));
        }
    }
}

pin_project_lite::pin_project! {
    /// An audited future: activates its capture and span on every poll.
    #[doc(hidden)]
    pub struct AuditFuture<F: Future> {
        #[pin]
        inner: F,
        slot: Slot,
        span: tracing::Span,
        // The output, held while the record is made durable (`Durability::EveryRecord`):
        // awaited, not blocked on, so the executor's thread serves other tasks meanwhile
        // and concurrent calls share fsyncs.
        durable: Option<(F::Output, Durable)>,
    }
}

impl<F: Future> AuditFuture<F> {
    /// Wrap `inner`.
    pub fn new(capture: Capture, span: tracing::Span, inner: F) -> AuditFuture<F> {
        AuditFuture {
            inner,
            slot: Slot(Some(capture)),
            span,
            durable: None,
        }
    }
}

/// Puts the capture back into its slot even if the poll unwinds.
struct Restore<'a> {
    slot: &'a mut Slot,
    depth: usize,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        self.slot.0 = pop(self.depth);
    }
}

impl<F: Future> Future for AuditFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if let Some((_, wait)) = this.durable.as_mut() {
            let result = std::task::ready!(Pin::new(wait).poll(cx));
            crate::pipeline::durable_result(result);
            return match this.durable.take() {
                Some((output, _)) => Poll::Ready(output),
                None => unreachable!("checked above"),
            };
        }
        let Some(capture) = this.slot.0.take() else {
            return this.inner.poll(cx);
        };
        let _entered = this.span.enter();
        let restore = Restore {
            depth: push(capture),
            slot: &mut *this.slot,
        };
        let poll = this.inner.poll(cx);
        drop(restore);
        let Poll::Ready(output) = poll else {
            return Poll::Pending;
        };
        if let Some(mut wait) = this.slot.0.take().and_then(|c| c.finish_nowait(None)) {
            match Pin::new(&mut wait).poll(cx) {
                Poll::Ready(result) => crate::pipeline::durable_result(result),
                Poll::Pending => {
                    *this.durable = Some((output, wait));
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(output)
    }
}
