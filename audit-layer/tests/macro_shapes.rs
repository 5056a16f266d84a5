//! Every function shape `#[audited]` supports (the shapes `tracing-attributes`
//! tests for `#[instrument]`), sync and async, plus `audit_event!`.
//!
//! The crate-level `deny`s check that the expansion itself triggers no rustc
//! or clippy lint (clippy runs on all targets with `-D warnings`).
#![deny(clippy::pedantic, unused, unused_braces, unused_mut, unreachable_code)]
// The shapes below are deliberately unusual; these allowances concern the
// test code as written, not the expansion.
#![allow(clippy::unnecessary_wraps, clippy::needless_pass_by_value)]

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use audit_layer::audit_core::canonical::Value;
use audit_layer::audit_core::record::Outcome;
use audit_layer::testing::capture_records;
use audit_layer::{audit_event, audited};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Runs `f`, returning its result and the record bodies it produced.
fn records<R>(f: impl FnOnce() -> R) -> (R, Vec<Value>) {
    let (ret, records) = capture_records(f);
    (ret, records.into_iter().map(Value::Object).collect())
}

/// Runs `f`, which must produce exactly one record, and returns both.
fn one_record<R>(f: impl FnOnce() -> R) -> (R, Value) {
    let (ret, mut records) = records(f);
    assert_eq!(records.len(), 1, "expected one record, got {records:?}");
    (ret, records.pop().unwrap())
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
        .block_on(future)
}

fn get<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    record.get_path(path)
}

fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

/// The record's outcome (`success`, `failure`, `denied`, `cancelled`, `panicked`, `unknown`).
fn outcome(record: &Value) -> &'static str {
    let body = record.as_object().expect("a record body is an object");
    Outcome::from_body(body)
        .expect("the record has an outcome")
        .as_str()
}

/// The records' `event.action`s are `expected`, in that order.
#[track_caller]
fn assert_actions(records: &[Value], expected: &[&str]) {
    let actions: Vec<&Value> = records
        .iter()
        .map(|r| get(r, "event.action").unwrap())
        .collect();
    let expected: Vec<Value> = expected.iter().map(|a| string(a)).collect();
    assert_eq!(actions, expected.iter().collect::<Vec<_>>());
}

#[track_caller]
fn assert_event(record: &Value, action: &str, expected_outcome: &str) {
    assert_eq!(
        get(record, "event.action"),
        Some(&string(action)),
        "{record:?}"
    );
    assert_eq!(outcome(record), expected_outcome, "{record:?}");
}

/// Dotted field names are placed at their path in the record.
#[track_caller]
fn assert_path(record: &Value, path: &str, expected: &Value) {
    assert_eq!(get(record, path), Some(expected), "{path} in {record:?}");
}

#[track_caller]
fn assert_field(record: &Value, path: &str, expected: &Value) {
    let path = format!("fields.{path}");
    assert_eq!(get(record, &path), Some(expected), "{path} in {record:?}");
}

#[track_caller]
fn assert_no_field(record: &Value, path: &str) {
    let path = format!("fields.{path}");
    assert_eq!(get(record, &path), None, "{path} in {record:?}");
}

#[derive(Debug, Clone, PartialEq)]
struct AccountId(u32);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "acct-{}", self.0)
    }
}

/// Neither `Debug` nor `Display`: must be skipped.
struct Opaque;

// ---------------------------------------------------------------------------
// Plain functions, options
// ---------------------------------------------------------------------------

#[audited(
    event = "auth.login",
    actor = %email,
    skip(password),
    fields(method = "password", source.ip = %ip, "http.status" = 200_u16)
)]
fn login(email: &str, password: &str, ip: std::net::IpAddr, attempt: u64) -> Result<u64, String> {
    if password == "hunter2" {
        Ok(attempt)
    } else {
        Err("bad password".to_owned())
    }
}

#[test]
fn sync_success_and_failure() {
    let ip = std::net::IpAddr::from([10, 0, 0, 1]);
    let (ret, record) = one_record(|| login("a@example.com", "hunter2", ip, 3));
    assert_eq!(ret, Ok(3));
    assert_event(&record, "auth.login", "success");
    assert_eq!(get(&record, "user.id"), Some(&string("a@example.com")));
    assert_field(&record, "email", &string("a@example.com"));
    assert_field(&record, "attempt", &Value::Int(3));
    assert_field(&record, "method", &string("password"));
    assert_path(&record, "source.ip", &string("10.0.0.1"));
    assert_path(&record, "http.status", &Value::Int(200));
    assert_no_field(&record, "password");
    // `ip` is replaced by nothing: it has no field of its own name, so it is captured too.
    assert_field(&record, "ip", &string("10.0.0.1"));

    let (ret, record) = one_record(|| login("a@example.com", "nope", ip, 4));
    assert_eq!(ret, Err("bad password".to_owned()));
    assert_event(&record, "auth.login", "failure");
    assert_path(&record, "event.reason", &string("bad password"));
}

#[audited(event = "number.parse", skip_all)]
fn parse_number(text: &str) -> Result<u32, std::num::ParseIntError> {
    // `?` leaves the body, not the function: the outcome is still recorded.
    let n: u32 = text.trim().parse()?;
    if n == 0 {
        return Ok(1);
    }
    Ok(n * 2)
}

#[test]
fn question_mark_and_early_return() {
    let (ret, record) = one_record(|| parse_number(" 21 "));
    assert_eq!(ret, Ok(42));
    assert_event(&record, "number.parse", "success");
    assert_no_field(&record, "text");

    let (ret, record) = one_record(|| parse_number("0"));
    assert_eq!(ret, Ok(1));
    assert_event(&record, "number.parse", "success");

    let (ret, record) = one_record(|| parse_number("x"));
    assert!(ret.is_err());
    assert_event(&record, "number.parse", "failure");
}

#[audited(
    event = "token.rotate",
    actor = user,
    resource = ?account,
    redact(token),
    skip(opaque),
    fields(reason = %reason_text, actor.kind = "human", later = Empty, bare_ok, %shown)
)]
fn rotate_token(
    user: &str,
    account: AccountId,
    token: String,
    opaque: Opaque,
    reason_text: &str,
    bare_ok: bool,
    shown: AccountId,
) -> usize {
    let _ = opaque;
    audit_layer::record("later", 5_u8);
    token.len() + reason_text.len() + usize::from(bare_ok) + shown.0 as usize
}

#[test]
fn fields_redact_and_skip() {
    let (ret, record) = one_record(|| {
        rotate_token(
            "alice",
            AccountId(7),
            "s3cr3t".to_owned(),
            Opaque,
            "expiry",
            true,
            AccountId(1),
        )
    });
    assert_eq!(ret, 6 + 6 + 1 + 1);
    assert_event(&record, "token.rotate", "success");
    assert_eq!(get(&record, "user.id"), Some(&string("alice")));
    assert_field(&record, "reason", &string("expiry"));
    assert_path(&record, "actor.kind", &string("human"));
    assert_field(&record, "bare_ok", &Value::Bool(true));
    // Declared `Empty`, filled in by the body.
    assert_field(&record, "later", &Value::Int(5));
    assert_field(&record, "shown", &string("acct-1"));
    assert_field(&record, "account", &string("AccountId(7)"));
    assert_path(&record, "resource.id", &string("AccountId(7)"));
    assert_no_field(&record, "opaque");
    // The redacted argument is captured, but never in clear.
    assert_ne!(get(&record, "fields.token"), Some(&string("s3cr3t")));
    let text = format!("{record:?}");
    assert!(!text.contains("s3cr3t"), "{text}");
}

#[audited(event = "level.string", level = "debug", name = "custom_name")]
fn level_string() -> u8 {
    1
}

#[audited(event = "level.int", level = 5)]
fn level_int() -> u8 {
    2
}

#[audited(event = "level.path", level = tracing::Level::WARN)]
fn level_path() -> u8 {
    3
}

#[audited(event = "level.short", level = Level::TRACE)]
fn level_short() -> u8 {
    4
}

const MY_LEVEL: tracing::Level = tracing::Level::DEBUG;

#[audited(event = "level.const", level = MY_LEVEL)]
fn level_const() -> u8 {
    6
}

#[audited(event = "span.parent", parent = tracing::Span::none().id(), follows_from = &cause)]
fn with_parent(cause: tracing::Span) -> u8 {
    drop(cause);
    5
}

mod reexport {
    //! A crate that re-exports the runtime under another path.
    pub use audit_layer::*;
}

#[audited(event = "crate.path", crate = crate::reexport)]
fn with_crate_path(n: i32) -> i32 {
    n + 1
}

#[test]
fn options() {
    let (ret, recs) = records(|| {
        level_string()
            + level_int()
            + level_path()
            + level_short()
            + level_const()
            + with_parent(tracing::Span::none())
    });
    assert_eq!(ret, 1 + 2 + 3 + 4 + 6 + 5);
    assert_eq!(recs.len(), 6);
    assert_event(&recs[0], "level.string", "success");
    let (ret, record) = one_record(|| with_crate_path(41));
    assert_eq!(ret, 42);
    assert_event(&record, "crate.path", "success");
    assert_field(&record, "n", &Value::Int(41));
}

// ---------------------------------------------------------------------------
// Methods
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Counter {
    count: u32,
    items: Vec<u32>,
}

impl Counter {
    #[audited(event = "counter.read")]
    fn get(&self) -> u32 {
        self.count
    }

    #[audited(event = "counter.bump", skip(self))]
    fn bump(&mut self, by: u32) -> &mut u32 {
        // Returning a borrow of `&mut self` from the body.
        self.count += by;
        &mut self.count
    }

    #[audited(event = "counter.consume")]
    fn into_count(self) -> u32 {
        self.count
    }

    #[audited(event = "counter.consume_mut")]
    fn into_incremented(mut self) -> u32 {
        self.count += 1;
        self.count
    }

    #[audited(event = "counter.pinned")]
    fn pinned(self: Pin<&mut Self>) -> u32 {
        self.get_mut().count
    }

    #[audited(event = "counter.iter")]
    fn iter(&self) -> impl Iterator<Item = &u32> + '_ {
        self.items.iter()
    }

    #[audited(event = "counter.associated")]
    fn associated(n: u32) -> Self {
        Self {
            count: n,
            items: Vec::new(),
        }
    }
}

#[test]
fn methods() {
    let (ret, recs) = records(|| {
        let mut counter = Counter::associated(1);
        *counter.bump(2) += 10;
        let read = counter.get();
        let pinned = Pin::new(&mut counter).pinned();
        let items: Vec<u32> = Counter {
            count: 0,
            items: vec![4, 5],
        }
        .iter()
        .copied()
        .collect();
        (
            read,
            pinned,
            items,
            counter.into_count(),
            Counter::default().into_incremented(),
        )
    });
    assert_eq!(ret, (13, 13, vec![4, 5], 13, 1));
    assert_actions(
        &recs,
        &[
            "counter.associated",
            "counter.bump",
            "counter.read",
            "counter.pinned",
            "counter.iter",
            "counter.consume",
            "counter.consume_mut",
        ],
    );
    // `self` is captured (with `Debug`) unless skipped.
    assert_field(
        &recs[2],
        "self",
        &string("Counter { count: 13, items: [] }"),
    );
    assert_no_field(&recs[1], "self");
    assert_field(&recs[1], "by", &Value::Int(2));
}

trait Greeter: fmt::Debug {
    fn name(&self) -> String;

    /// A default method.
    #[audited(event = "greeter.greet")]
    fn greet(&self, greeting: &str) -> String {
        format!("{greeting}, {}", self.name())
    }
}

#[derive(Debug)]
struct English;

impl Greeter for English {
    fn name(&self) -> String {
        "world".to_owned()
    }
}

#[test]
fn trait_default_method() {
    let (ret, record) = one_record(|| English.greet("hello"));
    assert_eq!(ret, "hello, world");
    assert_event(&record, "greeter.greet", "success");
    assert_field(&record, "greeting", &string("hello"));
    assert_field(&record, "self", &string("English"));
}

// ---------------------------------------------------------------------------
// Generics, lifetimes, impl Trait, destructuring, unsafe, never
// ---------------------------------------------------------------------------

#[audited(event = "generic.pick")]
fn pick<'a, T, U: fmt::Debug>(first: &'a T, second: U, flag: bool) -> &'a T
where
    T: fmt::Debug + ?Sized,
{
    let _ = (second, flag);
    first
}

#[audited(event = "generic.show")]
fn show(value: impl fmt::Display + fmt::Debug) -> impl fmt::Display {
    format!("<{value}>")
}

#[audited(event = "generic.evens")]
fn evens(limit: u32) -> Result<impl Iterator<Item = u32>, String> {
    if limit > 100 {
        return Err("too many".to_owned());
    }
    Ok((0..limit).filter(|n| n % 2 == 0))
}

struct Point {
    x: i32,
    y: i32,
}

struct Pair(u8, #[allow(dead_code)] u8);

#[allow(clippy::trivially_copy_pass_by_ref)] // the `&r` pattern is the point
#[audited(event = "destructure.all")]
fn destructure(
    (a, b): (u8, String),
    Point { x, y: renamed }: Point,
    Pair(p, _): Pair,
    &r: &u16,
) -> i64 {
    i64::from(a)
        + i64::try_from(b.len()).unwrap()
        + i64::from(x)
        + i64::from(renamed)
        + i64::from(p)
        + i64::from(r)
}

#[test]
fn generics_and_patterns() {
    let (ret, record) = one_record(|| pick("abc", 5_u8, true).to_owned());
    assert_eq!(ret, "abc");
    assert_field(&record, "first", &string("\"abc\""));
    assert_field(&record, "second", &string("5"));
    assert_field(&record, "flag", &Value::Bool(true));

    let (ret, record) = one_record(|| show(AccountId(2)).to_string());
    assert_eq!(ret, "<acct-2>");
    assert_field(&record, "value", &string("AccountId(2)"));

    let (ret, record) = one_record(|| evens(5).map(Iterator::count));
    assert_eq!(ret, Ok(3));
    assert_event(&record, "generic.evens", "success");
    let (ret, record) = one_record(|| evens(500).map(Iterator::count));
    assert!(ret.is_err());
    assert_event(&record, "generic.evens", "failure");

    let (ret, record) =
        one_record(|| destructure((1, "xy".to_owned()), Point { x: 3, y: 4 }, Pair(5, 6), &7));
    assert_eq!(ret, 1 + 2 + 3 + 4 + 5 + 7);
    assert_field(&record, "a", &Value::Int(1));
    assert_field(&record, "b", &string("xy"));
    assert_field(&record, "x", &string("3"));
    assert_field(&record, "renamed", &string("4"));
    assert_field(&record, "p", &string("5"));
    assert_field(&record, "r", &Value::Int(7));
}

/// # Safety
/// `ptr` must be valid for reads.
#[audited(event = "unsafe.read", skip(ptr))]
unsafe fn read_raw(ptr: *const u8) -> u8 {
    *ptr
}

#[audited(event = "never.diverge")]
fn diverge(message: &str) -> ! {
    panic!("{message}")
}

#[test]
fn unsafe_and_never() {
    let byte = 9_u8;
    // SAFETY: `&byte` is valid.
    let (ret, record) = one_record(|| unsafe { read_raw(&raw const byte) });
    assert_eq!(ret, 9);
    assert_event(&record, "unsafe.read", "success");

    let (ret, recs) = records(|| std::panic::catch_unwind(|| diverge("boom")));
    assert!(ret.is_err());
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_event(&recs[0], "never.diverge", "panicked");
}

#[audited(event = "panic.sync")]
fn panics(n: u8) -> u8 {
    assert!(n < 10, "too big");
    n
}

#[test]
fn panic_is_not_success() {
    let (ret, recs) = records(|| std::panic::catch_unwind(|| panics(11)));
    assert!(ret.is_err());
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_event(&recs[0], "panic.sync", "panicked");
}

// ---------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------

/// Doc comments, lint attributes, `#[rustfmt::skip]` and `#[must_use]` are
/// kept on the function.
#[audited(event = "attrs.outer")]
#[rustfmt::skip]
#[deny(clippy::suspicious_else_formatting)]
#[must_use]
fn outer_attrs(flag: bool) -> &'static str {
    if flag { "yes" } else { "no" }
}

#[deny(unused_variables)]
#[allow(clippy::mixed_attributes_style)]
#[audited(event = "attrs.inner")]
fn inner_attrs() -> u8 {
    #![allow(unused_variables)]
    let unused = 42;
    1
}

type Shadowed = ();
#[allow(dead_code)]
enum Shadowing {
    Shadowed,
}

/// The return type is resolved outside of the body's scope (tracing#3306).
#[audited(event = "attrs.shadowing")]
fn type_shadowing() -> Shadowed {
    #[allow(unused_imports, clippy::enum_glob_use)]
    use Shadowing::*;
}

#[test]
fn attributes() {
    let (ret, recs) = records(|| (outer_attrs(true), inner_attrs(), type_shadowing()));
    assert_eq!(ret, ("yes", 1, ()));
    assert_eq!(recs.len(), 3);
}

/// Parameters and generics named like the expansion's internals do not clash
/// with it.
#[allow(clippy::used_underscore_binding)]
#[audited(event = "hygiene.names", skip(f))]
fn clashing_names<R: fmt::Debug, F: FnOnce() -> R>(
    __audit_capture: u8,
    __audit_span: u8,
    __audit_ret: u8,
    f: F,
) -> (u8, R) {
    (__audit_capture + __audit_span + __audit_ret, f())
}

/// `extern "C"` functions, and `parent = None` (a root span).
#[audited(event = "abi.extern", parent = None)]
extern "C" fn extern_c(n: i32) -> i32 {
    n * 2
}

#[test]
fn hygiene_and_abi() {
    let (ret, record) = one_record(|| clashing_names(1, 2, 3, || "r"));
    assert_eq!(ret, (6, "r"));
    assert_field(&record, "__audit_capture", &Value::Int(1));
    assert_field(&record, "__audit_ret", &Value::Int(3));
    let (ret, record) = one_record(|| extern_c(21));
    assert_eq!(ret, 42);
    assert_event(&record, "abi.extern", "success");
}

/// Never called: only here to prove the expansion compiles (and that
/// `dead_code` can be silenced as usual).
#[allow(dead_code)]
#[audited(event = "dead.code")]
fn never_called() {}

// ---------------------------------------------------------------------------
// async
// ---------------------------------------------------------------------------

#[audited(event = "async.fetch", actor = %user, fields(size = Empty))]
async fn fetch(user: &str, id: AccountId) -> Result<String, String> {
    tokio::task::yield_now().await;
    if id.0 == 0 {
        return Err("no such account".to_owned());
    }
    let n: u32 = "12".parse().map_err(|_| "parse".to_owned())?;
    let text = format!("{user}:{}", id.0 + n);
    audit_layer::record("size", text.len());
    Ok(text)
}

#[audited(event = "async.empty")]
async fn async_empty() {}

/// # Safety
/// Trivially safe; `unsafe` for the shape.
#[audited(event = "async.unsafe")]
async unsafe fn async_unsafe(n: u8) -> u8 {
    n
}

#[audited(event = "async.impl_trait")]
async fn async_impl_trait(n: i32) -> Result<impl Iterator<Item = i32>, ()> {
    Ok((0..10).filter(move |x| *x < n))
}

#[audited(event = "async.nested")]
async fn async_outer() -> u8 {
    async_inner().await + 1
}

#[audited(event = "async.inner")]
async fn async_inner() -> u8 {
    1
}

#[deny(unused_variables)]
#[allow(clippy::mixed_attributes_style)]
#[audited(event = "async.inner_attrs")]
async fn async_inner_attrs() {
    #![allow(unused_variables)]
    let unused = 42;
}

#[audited(event = "async.rustfmt")]
#[rustfmt::skip]
#[deny(clippy::suspicious_else_formatting)]
async fn async_rustfmt(var: bool) -> &'static str {
    if var { "true" } else { "false" }
}

#[test]
fn async_fns() {
    let (ret, record) = one_record(|| block_on(fetch("bob", AccountId(30))));
    assert_eq!(ret, Ok("bob:42".to_owned()));
    assert_event(&record, "async.fetch", "success");
    assert_eq!(get(&record, "user.id"), Some(&string("bob")));
    assert_field(&record, "id", &string("AccountId(30)"));
    assert_field(&record, "size", &Value::Int(6));

    let (ret, record) = one_record(|| block_on(fetch("bob", AccountId(0))));
    assert!(ret.is_err());
    assert_event(&record, "async.fetch", "failure");

    let (ret, recs) = records(|| {
        block_on(async {
            async_empty().await;
            // SAFETY: trivially safe.
            let n = unsafe { async_unsafe(3) }.await;
            let evens = async_impl_trait(4).await.map(Iterator::count);
            let nested = async_outer().await;
            async_inner_attrs().await;
            let text = async_rustfmt(false).await;
            (n, evens, nested, text)
        })
    });
    assert_eq!(ret, (3, Ok(4), 2, "false"));
    assert_actions(
        &recs,
        &[
            "async.empty",
            "async.unsafe",
            "async.impl_trait",
            "async.inner",
            "async.nested",
            "async.inner_attrs",
            "async.rustfmt",
        ],
    );
    assert!(recs.iter().all(|r| outcome(r) == "success"), "{recs:?}");
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn async_futures_stay_send() {
    let ((), recs) = records(|| {
        assert_send(&fetch("eve", AccountId(1)));
        assert_send(&async_outer());
        assert_send(&manual_impl_future(1));
    });
    // Created but never polled.
    assert!(recs.iter().all(|r| outcome(r) != "success"), "{recs:?}");
}

#[test]
fn async_dropped_before_completion_is_not_success() {
    let (fut_dropped, recs) = records(|| {
        let fut = fetch("carol", AccountId(1));
        drop(fut);
        true
    });
    assert!(fut_dropped);
    // Never polled: the runtime may or may not record it, but never as a success.
    assert!(recs.iter().all(|r| outcome(r) != "success"), "{recs:?}");
}

// Functions returning a future built by an async block.

#[allow(clippy::manual_async_fn)]
#[audited(event = "future.impl")]
fn manual_impl_future(n: u8) -> impl Future<Output = Result<u8, String>> {
    async move {
        tokio::task::yield_now().await;
        let checked = n.checked_mul(2).ok_or_else(|| "overflow".to_owned())?;
        Ok(checked)
    }
}

#[derive(Debug)]
struct Service {
    prefix: String,
}

impl Service {
    #[audited(event = "future.boxed")]
    fn call(&self, n: u32) -> Pin<Box<dyn Future<Output = String> + Send + '_>> {
        let offset = 1;
        Box::pin(async move { format!("{}{}", self.prefix, n + offset) })
    }

    #[audited(event = "future.boxed_static", skip(self), fields(app_id = Empty))]
    fn call_static(&mut self, id: u32) -> Pin<Box<dyn Future<Output = u32> + Send + Sync>> {
        let len = u32::try_from(self.prefix.len()).unwrap_or(u32::MAX);
        Box::pin(async move { len + id })
    }
}

#[test]
fn functions_returning_futures() {
    let (ret, record) = one_record(|| block_on(manual_impl_future(21)));
    assert_eq!(ret, Ok(42));
    assert_event(&record, "future.impl", "success");
    assert_field(&record, "n", &Value::Int(21));

    let (ret, record) = one_record(|| block_on(manual_impl_future(200)));
    assert!(ret.is_err());
    assert_event(&record, "future.impl", "failure");

    let mut service = Service {
        prefix: "n=".to_owned(),
    };
    let (ret, record) = one_record(|| block_on(service.call(41)));
    assert_eq!(ret, "n=42");
    assert_event(&record, "future.boxed", "success");
    assert_field(&record, "self", &string("Service { prefix: \"n=\" }"));

    let (ret, record) = one_record(|| block_on(service.call_static(40)));
    assert_eq!(ret, 42);
    assert_event(&record, "future.boxed_static", "success");
}

// async-trait: `#[audited]` sees the desugared `fn ... -> Pin<Box<dyn Future>>`.

#[async_trait::async_trait]
trait Repository {
    async fn load(&self, id: u32) -> Result<String, String>;
    async fn store(&mut self, id: u32, value: String);
    async fn count() -> usize;
}

#[derive(Debug, Default)]
struct MemoryRepository {
    values: Vec<(u32, String)>,
}

#[async_trait::async_trait]
impl Repository for MemoryRepository {
    #[audited(event = "repo.load", actor = %"system", fields(table = "values"))]
    async fn load(&self, id: u32) -> Result<String, String> {
        tokio::task::yield_now().await;
        self.values
            .iter()
            .find(|(k, _)| *k == id)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("no value {id}"))
    }

    #[audited(event = "repo.store", skip(self), redact(value))]
    async fn store(&mut self, id: u32, value: String) {
        self.values.push((id, value));
    }

    #[audited(event = "repo.count")]
    async fn count() -> usize {
        0
    }
}

#[test]
fn async_trait_methods() {
    let mut repo = MemoryRepository::default();
    let (ret, recs) = records(|| {
        block_on(async {
            repo.store(1, "one".to_owned()).await;
            let found = repo.load(1).await;
            let missing = repo.load(2).await;
            let count = MemoryRepository::count().await;
            (found, missing, count)
        })
    });
    assert_eq!(ret, (Ok("one".to_owned()), Err("no value 2".to_owned()), 0));
    assert_eq!(recs.len(), 4, "{recs:?}");
    assert_event(&recs[0], "repo.store", "success");
    assert_field(&recs[0], "id", &Value::Int(1));
    assert_no_field(&recs[0], "self");
    assert_ne!(get(&recs[0], "fields.value"), Some(&string("one")));
    assert_event(&recs[1], "repo.load", "success");
    assert_eq!(get(&recs[1], "user.id"), Some(&string("system")));
    assert_field(&recs[1], "id", &Value::Int(1));
    assert_field(&recs[1], "table", &string("values"));
    assert_field(
        &recs[1],
        "self",
        &string("MemoryRepository { values: [(1, \"one\")] }"),
    );
    assert_event(&recs[2], "repo.load", "failure");
    assert_event(&recs[3], "repo.count", "success");
}

// Native `async fn` in traits.

trait NativeAsync {
    async fn double(&self, n: u32) -> u32;
}

#[derive(Debug)]
struct Doubler;

impl NativeAsync for Doubler {
    #[audited(event = "native.double")]
    async fn double(&self, n: u32) -> u32 {
        n * 2
    }
}

#[test]
fn native_async_trait_method() {
    let (ret, record) = one_record(|| block_on(Doubler.double(21)));
    assert_eq!(ret, 42);
    assert_event(&record, "native.double", "success");
}

// ---------------------------------------------------------------------------
// audit_event!
// ---------------------------------------------------------------------------

#[test]
fn audit_event_macro() {
    let user = "dave";
    let acct = AccountId(9);
    let idle_secs = 901_u64;
    let ((), recs) = records(|| {
        audit_event!(event = "session.start", actor = user);
        audit_event!(
            event = "session.timeout",
            outcome = "cancelled",
            reason = format_args!("idle for {idle_secs}s"),
            actor = %user,
            resource = ?acct,
            fields(idle.secs = idle_secs, kind = %"idle", ?acct),
        );
        audit_event!(
            event = "access.check",
            outcome = "denied",
            reason = "no role"
        );
        audit_event!(
            event = "access.other",
            outcome = "failure",
            crate = crate::reexport
        );
        audit_event!(event = "access.unknown", outcome = "unknown");
    });
    assert_eq!(recs.len(), 5, "{recs:?}");
    assert_event(&recs[0], "session.start", "success");
    assert_eq!(get(&recs[0], "user.id"), Some(&string("dave")));
    assert_event(&recs[1], "session.timeout", "cancelled");
    assert_path(&recs[1], "idle.secs", &Value::Int(901));
    assert_field(&recs[1], "kind", &string("idle"));
    assert_field(&recs[1], "acct", &string("AccountId(9)"));
    assert_path(&recs[1], "resource.id", &string("AccountId(9)"));
    assert_path(&recs[1], "event.reason", &string("idle for 901s"));
    assert_event(&recs[2], "access.check", "denied");
    assert_event(&recs[3], "access.other", "failure");
    assert_event(&recs[4], "access.unknown", "unknown");

    // It is an expression of type `()`.
    let () = audit_event!(event = "a.b");
}
