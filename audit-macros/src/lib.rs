//! Procedural macros of the audit-logging library: the [`#[audited]`](macro@audited)
//! attribute and the [`audit_event!`] macro.
//!
//! **Do not depend on this crate directly.** Use the macros through
//! `audit-layer`, which re-exports them (`audit_layer::audited`,
//! `audit_layer::audit_event!`) and provides the runtime they expand to (its
//! hidden `audit_layer::__private` module). The examples below are compiled and
//! run against that runtime (a dev-dependency of this crate); every function
//! shape is exercised by `audit-layer`'s `tests/macro_shapes.rs`, and misuse by
//! the compile-fail tests in `tests/ui/`.
//!
//! # `#[audited(...)]`
//!
//! Audits every call of a function, in the spirit of
//! `#[tracing::instrument]`: the call runs inside a `tracing` span with target
//! `"audit"` (carrying an `audit.event` field), and when it completes one audit
//! record is produced holding the event name, the actor, the resource, custom
//! fields, the function's arguments, and the outcome. The outcome is derived
//! by the runtime from the return value:
//!
//! * a returned `Err(e)` is a **failure** whose reason is `e`'s `Display`
//!   (or `Debug`), unless the error type implements
//!   `audit_layer::AuditOutcome`, which lets it say `Denied` (or anything else);
//! * anything else (`Ok(_)`, non-`Result` values) is a **success**, unless the
//!   value's type implements `AuditOutcome`;
//! * a panic is recorded as **panicked**, and an `async` call whose future is
//!   dropped before completing as **cancelled**.
//!
//! ```
//! use audit_layer::audited;
//! # #[derive(Debug)] struct Session; #[derive(Debug)] struct LoginError;
//! # impl std::fmt::Display for LoginError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("bad") } }
//! # struct Ctx { user: String } #[derive(Debug)] struct AccountId(u64); #[derive(Debug)] struct Error;
//!
//! #[audited(event = "auth.login", actor = %email, skip(password), fields(method = "password"))]
//! fn login(email: &str, password: &str) -> Result<Session, LoginError> {
//!     // ...
//! #   Ok(Session)
//! }
//!
//! #[audited(event = "account.delete", actor = %ctx.user, resource = ?id, skip(ctx))]
//! async fn delete_account(ctx: &Ctx, id: AccountId) -> Result<(), Error> {
//!     // ...
//! #   Ok(())
//! }
//! # let (_, records) = audit_layer::testing::capture_records(|| login("a@example.com", "pw"));
//! # assert_eq!(records.len(), 1);
//! ```
//!
//! ## Options
//!
//! Options are comma-separated, in any order, each at most once. Wherever
//! `tracing::instrument` has the same option, the spelling is the same.
//!
//! | option | meaning |
//! |---|---|
//! | `event = "auth.login"` | **Required.** The event name (`event.action` in the record): a string literal of at least two `.`-separated segments, each starting with a lowercase ASCII letter and made only of `a-z`, `0-9` and `_`. |
//! | `actor = %expr` / `?expr` / `expr` | Who performs the action (`user.id` in the record). `%` records the value with `Display`, `?` with `Debug`, no sigil with `AsAuditValue` (integers, `bool`, `char`, `str`, `String` and references to those). |
//! | `resource = %expr` / `?expr` / `expr` | What the action is performed on. Same sigils. |
//! | `fields(name = %expr, other = ?expr, k = expr, source.ip = %ip, "http.status" = code, user.id = Empty, bare)` | Extra fields, with the same sigils. A name is an identifier, a dotted name or a string literal; a dotted name (`source.ip`, `"http.status"`) is placed at that path in the record, other names under `fields`. `Empty` declares the field now, to be filled in later from inside the function with `audit_layer::record("user.id", value)`. A bare name `x` means `x = x` (and `%x` means `x = %x`). A field named like a parameter replaces that parameter's automatic capture. The expressions are evaluated when the function is called, before its body, and can use the parameters (including `self`). |
//! | `skip(a, b)` | Do not capture these parameters (each must exist). Needed for arguments that implement neither `Debug` nor `AsAuditValue`. |
//! | `skip_all` | Capture no parameter at all. Cannot be combined with `skip(...)`. |
//! | `redact(a, b)` | Capture these parameters but force them to be redacted in the record (each must be a parameter, and must not be skipped). |
//! | `level = "info"` | The span's level: `"trace"`, `"debug"`, `"info"` (default), `"warn"`, `"error"` (any case), an integer from `1` (trace) to `5` (error), `Level::INFO`, `tracing::Level::INFO`, or a path to a `Level` constant. |
//! | `name = "login"` | The span name (and the callsite name); defaults to the function's name. |
//! | `parent = expr` | The span's explicit parent (anything `tracing::span!` accepts as `parent:`); by default the current span. |
//! | `follows_from = expr` | Marks the span as following from `expr` (anything `Span::follows_from` accepts: a `&Span`, an `Id`, an `Option<Id>`). Unlike `instrument`, this is one cause, not an iterator of causes. |
//! | `crate = path` | The path of the runtime crate, for crates that re-export `audit_layer` under another name (e.g. `crate = ::my_platform::audit`). Defaults to `::audit_layer`. |
//!
//! `target`, `err` and `ret` (of `instrument`) do not exist: audit spans
//! always use the `audit` target, and the outcome is always derived from the
//! return value.
//!
//! ## Captured arguments
//!
//! Like `instrument`, every parameter is captured unless skipped, `self`
//! included. A parameter whose type is syntactically an integer type, `bool`,
//! `char`, `str` or `String` (or a shared reference to one) is recorded as a
//! value; any other is recorded with its `Debug` implementation — so an
//! argument that does not implement `Debug` causes a "doesn't implement
//! `Debug`" error pointing at the parameter: skip it, or give it a field
//! with `%` or a smaller expression. Destructured parameters (`(a, b): (u8, u8)`,
//! `Point { x, y }: Point`, `&n: &u32`) capture each bound identifier.
//!
//! ## Supported functions
//!
//! Free functions, methods (`self`, `&self`, `&mut self`, `mut self`,
//! `self: Pin<&mut Self>`), trait default methods, `unsafe fn`, `extern` fns,
//! generic functions (with `where` clauses, lifetimes, `impl Trait` arguments
//! and return types), functions returning `!`, and:
//!
//! * `async fn` (and `async unsafe fn`): the body's future is wrapped, so the
//!   span is entered on each poll and the outcome is recorded when it
//!   completes;
//! * non-async functions whose body *ends* with an async block, possibly
//!   `Box::pin`ned — `fn f() -> impl Future<Output = T> { async move {..} }`,
//!   `fn f(&self) -> Pin<Box<dyn Future<Output = T> + Send + '_>> { Box::pin(async move {..}) }`
//!   — which is also how methods written with `#[async_trait]` look when
//!   `#[audited]` sees them: the returned future is what gets audited. The
//!   arguments are captured when the function is called; statements before the
//!   async block run outside the span.
//!
//! The function's attributes (including `#[rustfmt::skip]`, docs, lint
//! attributes) and signature are kept unchanged, so `dead_code` and other lints
//! behave as without the attribute, and inner attributes (`#![allow(...)]`)
//! stay at the top of the body. The body of a non-async function runs in an
//! immediately-called `FnOnce` closure, so `return` and `?` behave as before.
//! The expansion uses absolute paths only, its own identifiers are hygienic
//! (a parameter named `__audit_capture` is fine), and it is free of rustc and
//! clippy warnings (including `clippy::pedantic`, `clippy::nursery` and
//! `clippy::restriction`).
//!
//! Limitations:
//!
//! * Because a sync body runs in a closure, `#[track_caller]` on an audited
//!   function does not reach `Location::caller()` calls in its body.
//! * For functions returning an async block, only that final block is
//!   audited: an early `return` of another future is not.
//! * Methods generated by `async-trait` versions before 0.1.44 (which used an
//!   inner `async fn`) are not recognized; current versions are.
//! * A parameter's type is classified syntactically: a type alias of `u64` is
//!   captured with `Debug`.
//!
//! `#[audited]` cannot be used on a `const fn` (auditing is a runtime side
//! effect), nor on anything but a function with a body.
//!
//! ## Errors
//!
//! All mistakes are reported at once, each at the offending tokens: unknown
//! options (with the list of valid ones), duplicate options, a missing
//! `event`, a malformed event name (with the rule), `skip`/`redact` of a
//! parameter that does not exist, a parameter both skipped and redacted,
//! `skip_all` with `skip`, `const fn`, and non-function items.
//!
//! # `audit_event!(...)`
//!
//! Records one audit event for an action that is not a function call (a
//! session timing out, a permission check denying access, ...). It expands to
//! a block expression of type `()`.
//!
//! ```
//! use audit_layer::audit_event;
//! # struct Session { user: String, id: u64 }
//! # let session = Session { user: "alice".into(), id: 7 };
//! # let idle = std::time::Duration::from_secs(900);
//!
//! audit_event!(
//!     event = "session.timeout",
//!     outcome = "cancelled",
//!     reason = "idle for too long",
//!     actor = %session.user,
//!     resource = ?session.id,
//!     fields(idle.secs = idle.as_secs()),
//! );
//! ```
//!
//! | option | meaning |
//! |---|---|
//! | `event = "..."` | **Required.** Same rules as for `#[audited]`. |
//! | `outcome = "success"` | One of `"success"` (default), `"failure"`, `"denied"`, `"cancelled"`, `"unknown"`. |
//! | `reason = expr` | Optional; any `Display` value, recorded as a string. |
//! | `actor = ...`, `resource = ...` | As for `#[audited]`. |
//! | `fields(...)` | As for `#[audited]`, except `Empty` (there is nothing to fill in later). |
//! | `crate = path` | As for `#[audited]`. |

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]

use proc_macro::TokenStream;

mod attr;
mod ctxt;
mod event;
mod expand;

/// Audits every call of the function it is placed on.
///
/// See the [crate documentation](crate) for the options and what is captured.
/// Use it through `audit_layer::audited`.
///
/// ```
/// # #[derive(Debug)] struct Session; #[derive(Debug)] struct LoginError;
/// # impl std::fmt::Display for LoginError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("bad") } }
/// #[audit_layer::audited(event = "auth.login", actor = %email, skip(password))]
/// fn login(email: &str, password: &str) -> Result<Session, LoginError> {
///     // ...
/// #   Err(LoginError)
/// }
/// ```
#[proc_macro_attribute]
pub fn audited(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::audited(args.into(), item.into()).into()
}

/// Records one audit event; expands to a block expression of type `()`.
///
/// See the [crate documentation](crate#audit_event) for the options. Use it
/// through `audit_layer::audit_event!`.
///
/// ```
/// # struct User { id: u64 }
/// # let user = User { id: 7 };
/// # let path = "/admin";
/// audit_layer::audit_event!(
///     event = "access.check",
///     outcome = "denied",
///     reason = "missing role admin",
///     actor = %user.id,
///     resource = %path,
/// );
/// ```
#[proc_macro]
pub fn audit_event(input: TokenStream) -> TokenStream {
    event::audit_event(input.into()).into()
}
