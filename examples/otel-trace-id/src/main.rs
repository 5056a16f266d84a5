//! The audit layer next to `tracing-opentelemetry`: with audit-layer's `opentelemetry`
//! feature, a record takes `trace.id` and `span.id` from the OpenTelemetry context of the
//! span it runs in, so audit records can be joined with traces.
//!
//! Writes a log into the directory given as the first argument (or a temporary one),
//! verifies it, checks the records, prints `N audit records verified` and exits 0; prints
//! what went wrong and exits 1 otherwise.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use audit_layer::audit_core::canonical::{parse_canonical, Value};
use audit_layer::audit_core::keys::SealingKey;
use audit_layer::audit_core::verify::{Verdict, Verifier};
use audit_layer::{audited, AuditLayer};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt;

#[audited(event = "auth.login", actor = %user, skip(password))]
fn login(user: &str, password: &str) -> Result<(), String> {
    if password == "right" {
        Ok(())
    } else {
        Err("bad password".to_owned())
    }
}

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn str_at<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    v.get_path(path).and_then(Value::as_str)
}

fn run(dir: &Path) -> Result<usize, String> {
    let log = dir.join("audit.log");
    let (sealing, verification) = SealingKey::generate("k1", 16).map_err(|e| e.to_string())?;
    let (audit, guard) = AuditLayer::builder()
        .log_file(&log)
        .sealing_key(sealing)
        .without_process_fallback()
        .build()
        .map_err(|e| e.to_string())?;
    // No exporter: spans are sampled (so their contexts are valid) and dropped.
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("otel-trace-id"));
    let subscriber = tracing_subscriber::registry().with(otel).with(audit);

    let (trace_id, span_id) = tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("request", request_id = "req-1");
        let ids = request.in_scope(|| {
            let _ = login("alice", "right");
            let _ = login("alice", "wrong");
            let cx = request.context();
            let sc = cx.span().span_context().clone();
            (sc.trace_id().to_string(), sc.span_id().to_string())
        });
        // A `trace_id` span field (a context field) wins over the OpenTelemetry context.
        tracing::info_span!("job", trace_id = "from-a-field").in_scope(|| login("bob", "right"))?;
        // Outside any span there is no trace.
        login("carol", "right")?;
        Ok::<_, String>(ids)
    })?;
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
        if !str_at(&v, "event.action")
            .unwrap_or("")
            .starts_with("audit.")
        {
            records.push(v);
        }
    }
    check!(records.len() == 4, "{} records: {records:?}", records.len());
    check!(
        trace_id.len() == 32 && trace_id != "0".repeat(32),
        "no valid OpenTelemetry trace id: {trace_id}"
    );
    for r in &records[..2] {
        check!(str_at(r, "user.id") == Some("alice"), "actor: {r:?}");
        check!(
            str_at(r, "trace.id") == Some(trace_id.as_str())
                && str_at(r, "span.id") == Some(span_id.as_str()),
            "expected trace.id {trace_id} and span.id {span_id}: {r:?}"
        );
        check!(
            str_at(r, "http.request.id") == Some("req-1"),
            "context: {r:?}"
        );
    }
    check!(
        str_at(&records[1], "event.outcome") == Some("failure"),
        "outcome: {:?}",
        records[1]
    );
    check!(
        str_at(&records[2], "trace.id") == Some("from-a-field")
            && records[2].get_path("span.id").is_none(),
        "a trace_id span field must win: {:?}",
        records[2]
    );
    check!(
        records[3].get_path("trace.id").is_none() && records[3].get_path("span.id").is_none(),
        "a trace id outside any span: {:?}",
        records[3]
    );
    Ok(records.len())
}

fn main() -> ExitCode {
    let dir = match std::env::args_os().nth(1) {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("otel-trace-id-{}", std::process::id())),
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("otel-trace-id: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    match run(&dir) {
        Ok(n) => {
            println!("{n} audit records verified");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("otel-trace-id: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
