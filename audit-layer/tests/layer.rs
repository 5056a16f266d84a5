//! The layer end to end: real files, real subscribers, the filter setups that must not
//! starve the audit log, context from enclosing spans, and verification of what was written.

mod common;

use audit_layer::audit_core::canonical::Value;
use audit_layer::{audit_event, audited};
use common::{read, setup, str_at};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer};

#[audited(event = "auth.login", actor = %email, skip(password))]
fn login(email: &str, password: &str) -> Result<u32, String> {
    if password == "right" {
        audit_layer::record("user.id", 7u32);
        Ok(7)
    } else {
        Err(format!("bad password for {email}"))
    }
}

/// The record's `event.action`.
#[track_caller]
fn action(v: &Value) -> &str {
    str_at(v, "event.action")
}

#[test]
fn records_survive_a_global_warn_filter_and_per_layer_filters() {
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard, vk) = setup(dir.path());
    // EnvFilter("warn") added as a plain (global) layer disables every INFO span; the fmt
    // layer has its own filter too.
    let subscriber = tracing_subscriber::registry()
        .with(EnvFilter::new("warn"))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::sink)
                .with_filter(EnvFilter::new("error")),
        )
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        assert_eq!(login("a@example.com", "right"), Ok(7));
        assert!(login("a@example.com", "wrong").is_err());
        audit_event!(event = "config.reload", outcome = "success");
    });
    drop(guard);
    let records = read(dir.path(), vk);
    assert_eq!(records.len(), 3);
    assert_eq!(action(&records[0]), "auth.login");
    assert_eq!(records[0].get_path("user.id").unwrap().as_i64(), Some(7));
    assert_eq!(
        records[1].get_path("event.outcome").unwrap().as_str(),
        Some("failure")
    );
    assert_eq!(action(&records[2]), "config.reload");
}

#[test]
fn the_audit_layer_behind_its_own_filter_still_gets_records() {
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard, vk) = setup(dir.path());
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(EnvFilter::new("off")));
    tracing::subscriber::with_default(subscriber, || {
        login("b@example.com", "right").unwrap();
    });
    drop(guard);
    assert_eq!(read(dir.path(), vk).len(), 1);
}

#[test]
fn context_fields_come_from_enclosing_spans_and_nesting_links_parents() {
    #[audited(event = "data.read", resource = %id)]
    fn read_doc(id: &str) -> Result<(), String> {
        inner_check(id)
    }
    #[audited(event = "authz.check")]
    fn inner_check(id: &str) -> Result<(), String> {
        if id == "secret" {
            Err("nope".into())
        } else {
            Ok(())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard, vk) = setup(dir.path());
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!(
            "request",
            request_id = "req-1",
            client_ip = "192.0.2.9",
            user_agent = tracing::field::Empty
        );
        request.record("user_agent", "curl/8");
        let _g = request.enter();
        read_doc("doc-1").unwrap();
    });
    drop(guard);
    let records = read(dir.path(), vk);
    assert_eq!(records.len(), 2);
    let (inner, outer) = (&records[0], &records[1]);
    assert_eq!(action(inner), "authz.check");
    assert_eq!(action(outer), "data.read");
    for r in [inner, outer] {
        assert_eq!(
            r.get_path("http.request.id").unwrap().as_str(),
            Some("req-1")
        );
        assert_eq!(r.get_path("source.ip").unwrap().as_str(), Some("192.0.2.9"));
        assert_eq!(
            r.get_path("user_agent.original").unwrap().as_str(),
            Some("curl/8")
        );
    }
    assert_eq!(
        inner.get_path("event.parent_id"),
        outer.get_path("event.id")
    );
    assert_eq!(
        outer.get_path("resource.id").unwrap().as_str(),
        Some("doc-1")
    );
}

#[test]
fn panics_and_secrets() {
    #[audited(event = "payment.charge")]
    fn charge(card_number: &str, api_key: &str) -> u32 {
        let _ = (card_number, api_key);
        panic!("boom")
    }
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard, vk) = setup(dir.path());
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let r = std::panic::catch_unwind(|| charge("4111111111111111", "sk_live_abcdefgh12345678"));
        assert!(r.is_err());
    });
    drop(guard);
    let text = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    assert!(
        !text.contains("4111111111111111") && !text.contains("sk_live_abcdefgh"),
        "{text}"
    );
    let records = read(dir.path(), vk);
    assert_eq!(
        records[0].get_path("error.type").unwrap().as_str(),
        Some("panic")
    );
    assert_eq!(
        records[0]
            .get_path("redaction.fields")
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn without_a_layer_records_are_counted_lost() {
    let before = audit_layer::lost_records();
    tracing::subscriber::with_default(tracing_subscriber::registry(), || {
        // Every layer in this test binary is built without the process-wide fallback, so
        // nothing can receive this record.
        let _ = login("c@example.com", "right");
    });
    assert!(audit_layer::lost_records() > before);
}

/// Each thread keeps the vectors of its last record (members and fields) for the next one:
/// calls with different fields, nested calls, and values long and short, one after the
/// other, must each record exactly their own members, none left over from the call before.
#[test]
fn consecutive_calls_record_only_their_own_members() {
    #[audited(event = "test.wide", fields(a = %a, b = %b, c.d = %c), skip_all)]
    fn wide(a: &str, b: &str, c: &str) {
        narrow(7);
    }
    #[audited(event = "test.narrow")]
    fn narrow(n: u32) {}
    let long = "x".repeat(300);
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard, vk) = setup(dir.path());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..40 {
            let b = if i % 2 == 0 { long.as_str() } else { "short" };
            wide(&i.to_string(), b, "c");
            narrow(i);
        }
    });
    guard.shutdown().unwrap();
    let records = read(dir.path(), vk);
    assert_eq!(records.len(), 120);
    for (k, r) in records.iter().enumerate() {
        let Value::Object(o) = r else { panic!("{r:?}") };
        let names: Vec<&str> = o.iter().map(|(k, _)| k).collect();
        let fields = r.get_path("fields").expect("fields");
        let Value::Object(f) = fields else {
            panic!("{fields:?}")
        };
        let field_names: Vec<&str> = f.iter().map(|(k, _)| k).collect();
        let i = k / 3;
        if action(r) == "test.wide" {
            assert_eq!(field_names, ["a", "b"], "record {k}");
            assert_eq!(
                f.get("a").and_then(Value::as_str),
                Some(i.to_string().as_str())
            );
            let b = if i % 2 == 0 { long.as_str() } else { "short" };
            assert_eq!(f.get("b").and_then(Value::as_str), Some(b));
            assert_eq!(r.get_path("c.d").and_then(Value::as_str), Some("c"));
        } else {
            assert_eq!(action(r), "test.narrow");
            assert_eq!(field_names, ["n"], "record {k}");
            let n = if k % 3 == 0 { 7 } else { i as i64 };
            assert_eq!(f.get("n").and_then(Value::as_i64), Some(n), "record {k}");
            assert!(!names.contains(&"c"), "record {k}: {names:?}");
        }
    }
}
