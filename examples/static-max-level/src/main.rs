//! Audited calls in a program whose `tracing` has `max_level_warn`: INFO spans (the default
//! level of `#[audited]`) are compiled out entirely, yet every call must still produce its
//! record. Writes a log into the directory given as the first argument (or a temporary
//! one), verifies it, checks the records, prints `N audit records verified` and exits 0;
//! prints what went wrong and exits 1 otherwise.

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use audit_layer::audit_core::canonical::{parse_canonical, Value};
use audit_layer::audit_core::keys::SealingKey;
use audit_layer::audit_core::verify::{Verdict, Verifier};
use audit_layer::{audit_event, audited, AuditLayer};
use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;

#[audited(event = "auth.login", actor = %user, skip(password))]
fn login(user: &str, password: &str) -> Result<(), String> {
    if password == "right" {
        Ok(())
    } else {
        Err("bad password".to_owned())
    }
}

/// At ERROR, above the static maximum: this span exists.
#[audited(event = "iam.role.grant", actor = %actor, resource = %role, level = "error")]
fn grant_role(actor: &str, role: &str) -> Result<(), String> {
    Err(format!("{actor} may not grant {role}"))
}

/// At DEBUG, far below it.
#[audited(event = "auth.logout", actor = %user, level = "debug")]
fn logout(user: &str) {}

/// Collects what `fmt` writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    v.get_path(path).and_then(Value::as_str).unwrap_or("")
}

fn run(dir: &Path) -> Result<usize, String> {
    check!(
        STATIC_MAX_LEVEL == LevelFilter::WARN,
        "tracing's static max level is {STATIC_MAX_LEVEL}, not WARN: the feature did not apply"
    );
    let log = dir.join("audit.log");
    let (sealing, verification) = SealingKey::generate("k1", 16).map_err(|e| e.to_string())?;
    let (audit, guard) = AuditLayer::builder()
        .log_file(&log)
        .sealing_key(sealing)
        .without_process_fallback()
        .build()
        .map_err(|e| e.to_string())?;
    let out = Captured::default();
    let writer = out.clone();
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_span_events(FmtSpan::NEW)
        .with_writer(move || writer.clone());
    let subscriber = tracing_subscriber::registry().with(fmt).with(audit);

    let result = tracing::subscriber::with_default(subscriber, || {
        check!(!tracing::enabled!(tracing::Level::INFO), "INFO is enabled");
        // A WARN request span survives and provides context; an INFO one does not exist.
        let request = tracing::warn_span!("request", request_id = "req-w", client_ip = "192.0.2.1");
        let _request = request.enter();
        let session = tracing::info_span!("session", session_id = "compiled-out");
        check!(session.is_disabled(), "the INFO span exists");
        let _session = session.enter();

        check!(login("alice", "right").is_ok(), "login failed");
        check!(login("alice", "wrong").is_err(), "login succeeded");
        check!(grant_role("alice", "admin").is_err(), "grant succeeded");
        logout("alice");
        audit_event!(event = "config.reload", actor = "ops");
        Ok(())
    });
    result?;
    guard.shutdown().map_err(|e| e.to_string())?;

    let report = Verifier::new(verification.into())
        .verify_files(std::slice::from_ref(&log))
        .map_err(|e| e.to_string())?;
    check!(
        report.verdict() == Verdict::Ok,
        "the log does not verify: {:?}",
        report.findings
    );
    let text = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
    let mut records = Vec::new();
    for line in text.lines() {
        let v = parse_canonical(line).map_err(|e| e.to_string())?;
        if !str_at(&v, "event.action").starts_with("audit.") {
            records.push(v);
        }
    }
    let got: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|r| {
            (
                str_at(r, "event.action"),
                str_at(r, "event.outcome"),
                str_at(r, "user.id"),
            )
        })
        .collect();
    let expected = [
        ("auth.login", "success", "alice"),
        ("auth.login", "failure", "alice"),
        ("iam.role.grant", "failure", "alice"),
        ("auth.logout", "success", "alice"),
        ("config.reload", "success", "ops"),
    ];
    check!(got == expected, "records {got:?}, expected {expected:?}");
    for r in &records {
        check!(
            str_at(r, "http.request.id") == "req-w" && str_at(r, "source.ip") == "192.0.2.1",
            "the WARN request span's context is missing: {r:?}"
        );
        check!(
            r.get_path("session.id").is_none(),
            "context from a compiled-out span: {r:?}"
        );
    }
    check!(
        str_at(&records[2], "event.reason") == "alice may not grant admin",
        "reason: {:?}",
        records[2]
    );

    // fmt saw the ERROR audit span and the WARN request span, and nothing at INFO or below.
    let out = String::from_utf8(out.0.lock().unwrap().clone()).map_err(|e| e.to_string())?;
    check!(
        out.contains(r#"ERROR request{request_id="req-w" client_ip="192.0.2.1"}:grant_role{audit.event="iam.role.grant"}: audit: new"#),
        "fmt did not see the ERROR audit span: {out}"
    );
    check!(
        !out.contains("auth.login") && !out.contains("auth.logout") && !out.contains("INFO"),
        "fmt saw a compiled-out span: {out}"
    );
    Ok(records.len())
}

fn main() -> ExitCode {
    let dir = match std::env::args_os().nth(1) {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("static-max-level-{}", std::process::id())),
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("static-max-level: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    match run(&dir) {
        Ok(n) => {
            println!("{n} audit records verified");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("static-max-level: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
