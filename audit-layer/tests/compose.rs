//! The audit layer next to the rest of a `tracing` stack: `fmt` (text and JSON), `EnvFilter`
//! turning the `audit` target off, a `reload`ed filter, a per-layer `Targets` filter, and
//! `#[tracing::instrument]` on the same function as `#[audited]`.
//!
//! Every test writes through a real `AuditLayer` into a temporary directory, verifies the
//! log with the `Verifier` and checks the records' content. The `fmt` output is captured
//! to check what the rest of the stack sees: the audit span (target `audit`, carrying only
//! `audit.event`) when its level is enabled, and never an audited argument.
//!
//! (A global `EnvFilter` at `warn` is covered in `layer.rs`; the audit layer inside
//! `reload` is in `compose_reload.rs`, because it relies on the process-wide fallback.)

mod common;

use std::io;
use std::sync::{Arc, Mutex};

use audit_layer::audit_core::canonical::Value;
use audit_layer::audited;
use common::{read, setup, str_at};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{reload, EnvFilter, Layer};

// Distinctive argument values: none of them may appear in the `fmt` output.
const USER: &str = "user-quokka";
const PASSWORD: &str = "pw-correct-horse";
const WRONG_PASSWORD: &str = "pw-wrong-horse";
const TENANT: &str = "tenant-xyzzy";
const ATTEMPT: u64 = 424_242;

/// `password` is skipped; `tenant` and `attempt` are captured into the record.
#[audited(event = "auth.login", actor = %user, skip(password))]
fn login(user: &str, password: &str, tenant: &str, attempt: u64) -> Result<u64, String> {
    tracing::info!("checking credentials");
    if password == PASSWORD {
        Ok(attempt)
    } else {
        Err("bad password".to_owned())
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A `MakeWriter` collecting everything `fmt` writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// Two `auth.login` records of [`USER`]: a success, then a "bad password" failure; no password.
#[track_caller]
fn assert_success_then_failure(records: &[Value]) {
    assert_eq!(records.len(), 2, "{records:?}");
    for r in records {
        assert_eq!(str_at(r, "event.action"), "auth.login");
        assert_eq!(str_at(r, "user.id"), USER);
        assert!(r.get_path("fields.password").is_none(), "{r:?}");
    }
    assert_eq!(str_at(&records[0], "event.outcome"), "success");
    assert_eq!(str_at(&records[1], "event.outcome"), "failure");
    assert_eq!(str_at(&records[1], "event.reason"), "bad password");
}

/// The two logins of [`run_logins`]: a success then a failure, arguments captured.
#[track_caller]
fn assert_logins(records: &[Value]) {
    assert_success_then_failure(records);
    for r in records {
        assert_eq!(str_at(r, "fields.tenant"), TENANT);
        assert_eq!(
            r.get_path("fields.attempt").and_then(Value::as_i64),
            Some(ATTEMPT as i64)
        );
    }
}

fn run_logins() {
    assert_eq!(login(USER, PASSWORD, TENANT, ATTEMPT), Ok(ATTEMPT));
    assert!(login(USER, WRONG_PASSWORD, TENANT, ATTEMPT).is_err());
}

/// No audited argument appears in `fmt`'s output.
#[track_caller]
fn assert_no_argument_leaks(out: &str) {
    for secret in [USER, PASSWORD, WRONG_PASSWORD, TENANT, &ATTEMPT.to_string()] {
        assert!(!out.contains(secret), "{secret:?} leaked into fmt: {out}");
    }
}

fn text_fmt<S>(out: &Captured) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE)
        .with_writer(out.clone())
}

/// Runs `calls` under `stack` topped with a fresh audit layer, and returns the records.
fn run_audited<S>(stack: S, calls: impl FnOnce()) -> Vec<Value>
where
    S: tracing::Subscriber
        + for<'a> tracing_subscriber::registry::LookupSpan<'a>
        + Send
        + Sync
        + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    let (audit, guard, vk) = setup(dir.path());
    tracing::subscriber::with_default(stack.with(audit), calls);
    drop(guard);
    read(dir.path(), vk)
}

// ---------------------------------------------------------------------------
// fmt
// ---------------------------------------------------------------------------

#[test]
fn fmt_text_sees_the_audit_span_but_no_argument() {
    let out = Captured::default();
    let stack = tracing_subscriber::registry().with(text_fmt(&out));
    assert_logins(&run_audited(stack, run_logins));

    let out = out.text();
    // The span is there, with target `audit` and its one field, around the body's event.
    assert!(
        out.contains(r#"login{audit.event="auth.login"}: audit: new"#),
        "{out}"
    );
    assert!(
        out.contains(r#"login{audit.event="auth.login"}: compose: checking credentials"#),
        "{out}"
    );
    assert_eq!(out.matches("audit: close").count(), 2, "{out}");
    assert_no_argument_leaks(&out);
}

#[test]
fn fmt_json_sees_the_audit_span_with_only_its_event_field() {
    let out = Captured::default();
    let stack = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_span_events(FmtSpan::NEW)
            .with_writer(out.clone()),
    );
    assert_logins(&run_audited(stack, run_logins));

    let out = out.text();
    assert_no_argument_leaks(&out);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Per call: the span's `new` event, then the body's event.
    assert_eq!(lines.len(), 4, "{out}");
    let expected_span = serde_json::json!({ "name": "login", "audit.event": "auth.login" });
    for pair in lines.chunks(2) {
        let (new, body) = (&pair[0], &pair[1]);
        assert_eq!(new["target"], "audit");
        assert_eq!(new["fields"]["message"], "new");
        assert_eq!(new["span"], expected_span, "{new}");
        assert_eq!(body["target"], "compose");
        assert_eq!(body["fields"]["message"], "checking credentials");
        assert_eq!(body["span"], expected_span, "{body}");
        assert_eq!(body["spans"], serde_json::json!([expected_span]), "{body}");
    }
}

// ---------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------

#[test]
fn env_filter_with_audit_off_hides_the_span_not_the_record() {
    let out = Captured::default();
    // A global filter: the `audit` target is off for every layer, the audit layer included.
    let stack = tracing_subscriber::registry()
        .with(EnvFilter::new("info,audit=off"))
        .with(text_fmt(&out));
    let records = run_audited(stack, || {
        // Context spans of other targets are still enabled, and still reach the record.
        let request = tracing::info_span!("request", request_id = "req-42");
        let _entered = request.enter();
        run_logins();
    });
    assert_logins(&records);
    for r in &records {
        assert_eq!(str_at(r, "http.request.id"), "req-42");
    }

    let out = out.text();
    assert!(!out.contains("audit.event"), "{out}");
    assert!(!out.contains("auth.login"), "{out}");
    // The body's event is there, in the request span only.
    assert!(
        out.contains(r#"request{request_id="req-42"}: compose: checking credentials"#),
        "{out}"
    );
    assert_no_argument_leaks(&out);
}

#[test]
fn reloaded_env_filter_changes_what_fmt_sees_not_what_is_audited() {
    let out = Captured::default();
    let (filter, handle) = reload::Layer::new(EnvFilter::new("info"));
    let stack = tracing_subscriber::registry()
        .with(filter)
        .with(text_fmt(&out));
    let mut seen = Vec::new();
    let records = run_audited(stack, || {
        for directives in ["info", "warn", "off", "audit=info"] {
            handle.reload(EnvFilter::new(directives)).unwrap();
            let before = out.text().len();
            run_logins();
            seen.push(out.text()[before..].to_owned());
        }
    });
    assert_eq!(records.len(), 8);
    for pair in records.chunks(2) {
        assert_logins(pair);
    }

    // info: span and body event; warn / off: nothing; audit=info: the span only.
    assert_eq!(
        seen[0].matches("login{audit.event").count(),
        6,
        "{}",
        seen[0]
    );
    assert_eq!(seen[0].matches("checking credentials").count(), 2);
    assert_eq!(seen[1], "");
    assert_eq!(seen[2], "");
    assert_eq!(
        seen[3].matches("login{audit.event").count(),
        4,
        "{}",
        seen[3]
    );
    assert!(!seen[3].contains("checking credentials"), "{}", seen[3]);
    for s in &seen {
        assert_no_argument_leaks(s);
    }
}

#[test]
fn per_layer_targets_filter_on_fmt_hides_the_audit_span() {
    let out = Captured::default();
    let fmt_filter = Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("audit", LevelFilter::OFF);
    let stack = tracing_subscriber::registry().with(text_fmt(&out).with_filter(fmt_filter));
    assert_logins(&run_audited(stack, run_logins));

    let out = out.text();
    assert!(!out.contains("audit.event"), "{out}");
    // fmt still sees the body's event, outside any span it knows of.
    assert_eq!(
        out.lines()
            .filter(|l| l.ends_with(" INFO compose: checking credentials"))
            .count(),
        2,
        "{out}"
    );
    assert_no_argument_leaks(&out);
}

// ---------------------------------------------------------------------------
// #[tracing::instrument] and #[audited] on the same function
//
// Attribute macros expand outermost first, and each keeps the attributes below it on the
// function it generates: so the attribute written *first* ends up running *inside* the
// other one. Either way both spans exist and the record is written.
// ---------------------------------------------------------------------------

/// The body of the four functions below: an event inside their spans, then the check.
fn check_password(password: &str) -> Result<(), String> {
    tracing::info!("inside");
    if password == PASSWORD {
        Ok(())
    } else {
        Err("bad password".to_owned())
    }
}

#[tracing::instrument(skip(password), err)]
#[audited(event = "auth.login", actor = %user, skip(password))]
fn instrument_then_audited(user: &str, password: &str) -> Result<(), String> {
    check_password(password)
}

#[audited(event = "auth.login", actor = %user, skip(password))]
#[tracing::instrument(skip(password), err)]
fn audited_then_instrument(user: &str, password: &str) -> Result<(), String> {
    check_password(password)
}

#[tracing::instrument(skip(password), err)]
#[audited(event = "auth.login", actor = %user, skip(password))]
async fn async_instrument_then_audited(user: &str, password: &str) -> Result<(), String> {
    tokio::task::yield_now().await;
    check_password(password)
}

#[audited(event = "auth.login", actor = %user, skip(password))]
#[tracing::instrument(skip(password), err)]
async fn async_audited_then_instrument(user: &str, password: &str) -> Result<(), String> {
    tokio::task::yield_now().await;
    check_password(password)
}

/// Runs `calls` (which call `name` twice, succeeding then failing) and checks both the
/// records and what fmt saw: the `instrument` span with its `user` field, nested with the
/// audit span in the expected order (`audit_outside`: the audit span is the outer one),
/// `instrument`'s `err` event, and no password.
fn check_instrumented(name: &str, audit_outside: bool, calls: impl FnOnce()) {
    let out = Captured::default();
    let stack = tracing_subscriber::registry().with(text_fmt(&out));
    assert_success_then_failure(&run_audited(stack, calls));

    let out = out.text();
    let instrument_span = format!(r#"{name}{{user="{USER}"}}"#);
    let audit_span = format!(r#"{name}{{audit.event="auth.login"}}"#);
    let scope = if audit_outside {
        format!("{audit_span}:{instrument_span}")
    } else {
        format!("{instrument_span}:{audit_span}")
    };
    assert_eq!(
        out.matches(&format!("{scope}: compose: inside")).count(),
        2,
        "{out}"
    );
    assert_eq!(out.matches("error=bad password").count(), 1, "{out}");
    assert!(
        !out.contains(PASSWORD) && !out.contains(WRONG_PASSWORD),
        "{out}"
    );
}

#[test]
fn instrument_written_above_audited() {
    check_instrumented("instrument_then_audited", true, || {
        instrument_then_audited(USER, PASSWORD).unwrap();
        instrument_then_audited(USER, WRONG_PASSWORD).unwrap_err();
    });
}

#[test]
fn audited_written_above_instrument() {
    check_instrumented("audited_then_instrument", false, || {
        audited_then_instrument(USER, PASSWORD).unwrap();
        audited_then_instrument(USER, WRONG_PASSWORD).unwrap_err();
    });
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn async_instrument_written_above_audited() {
    check_instrumented("async_instrument_then_audited", true, || {
        block_on(async {
            async_instrument_then_audited(USER, PASSWORD).await.unwrap();
            async_instrument_then_audited(USER, WRONG_PASSWORD)
                .await
                .unwrap_err();
        });
    });
}

#[test]
fn async_audited_written_above_instrument() {
    check_instrumented("async_audited_then_instrument", false, || {
        block_on(async {
            async_audited_then_instrument(USER, PASSWORD).await.unwrap();
            async_audited_then_instrument(USER, WRONG_PASSWORD)
                .await
                .unwrap_err();
        });
    });
}
