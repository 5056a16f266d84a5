//! Values of the string types are recorded without `to_string` (the macro picks them out at
//! compile time), and that must change nothing: every sigil records exactly what it did,
//! for every string type, every other type, and generic ones.
#![deny(clippy::pedantic, unused)]

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::rc::Rc;
use std::sync::Arc;

use audit_layer::audit_core::canonical::Value;
use audit_layer::audited;
use audit_layer::testing::capture_records;

/// A `Display` that is not the string it holds: must go through `Display`, not be read as
/// a string.
struct Quoted(&'static str);

impl fmt::Display for Quoted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.0)
    }
}

/// The value recorded at `path` by `f`, which makes one record.
fn recorded(f: impl FnOnce(), path: &str) -> Value {
    let ((), records) = capture_records(f);
    assert_eq!(records.len(), 1);
    let body = Value::Object(records.into_iter().next().expect("one record"));
    body.get_path(path)
        .unwrap_or_else(|| panic!("{path} in {body:?}"))
        .clone()
}

#[audited(
    event = "test.strings",
    actor = %actor,
    fields(a = %owned, b = %cow, c = %boxed, d = %arc, e = %rc, f = %nested),
    skip_all
)]
#[allow(
    clippy::needless_pass_by_value,
    clippy::too_many_arguments,
    clippy::trivially_copy_pass_by_ref
)]
fn displayed(
    actor: &str,
    owned: String,
    cow: Cow<'_, str>,
    boxed: Box<str>,
    arc: Arc<str>,
    rc: Rc<str>,
    nested: &&String,
) {
}

#[audited(event = "test.others", actor = %who, fields(ip = %ip, n = %n, q = %q), skip_all)]
fn others(who: &Quoted, ip: IpAddr, n: u64, q: Quoted) {
    let _ = (who, ip, n, q);
}

#[audited(event = "test.generic", fields(v = %v), skip_all)]
fn generic<T: fmt::Display>(v: T) {
    let _ = v;
}

#[audited(event = "test.values", actor = actor, fields(a = a, n = n, o = o, none = none), skip_all)]
#[allow(clippy::needless_pass_by_value)]
fn plain(actor: &str, a: String, n: i64, o: Option<&str>, none: Option<String>) {}

#[test]
fn string_types_record_their_text_short_or_long() {
    let long = "y".repeat(200);
    for text in [
        "",
        "alice",
        "550e8400-e29b-41d4-a716-446655440000",
        "é\u{1F600}",
        &long,
    ] {
        let s = String::from(text);
        let run = || {
            displayed(
                text,
                s.clone(),
                Cow::Borrowed(text),
                text.into(),
                Arc::from(text),
                Rc::from(text),
                &&s,
            );
        };
        for path in [
            "user.id", "fields.a", "fields.b", "fields.c", "fields.d", "fields.e", "fields.f",
        ] {
            assert_eq!(recorded(run, path), Value::from(text), "{path} of {text:?}");
        }
    }
}

#[test]
fn other_types_still_go_through_display() {
    let ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    let run = || others(&Quoted("bob"), ip, 42, Quoted("x"));
    assert_eq!(recorded(run, "user.id"), Value::from("<bob>"));
    assert_eq!(recorded(run, "fields.ip"), Value::from("2001:db8::1"));
    assert_eq!(recorded(run, "fields.n"), Value::from("42"));
    assert_eq!(recorded(run, "fields.q"), Value::from("<x>"));
    // Generic: the string path cannot be chosen for an unknown `T`, `Display` is used.
    assert_eq!(
        recorded(|| generic(Quoted("g")), "fields.v"),
        Value::from("<g>")
    );
    assert_eq!(
        recorded(|| generic("plain"), "fields.v"),
        Value::from("plain")
    );
    assert_eq!(recorded(|| generic(7), "fields.v"), Value::from("7"));
}

#[test]
fn values_without_a_sigil_are_unchanged() {
    let run = || plain("carol", "text".into(), -3, Some("some"), None);
    assert_eq!(recorded(run, "user.id"), Value::from("carol"));
    assert_eq!(recorded(run, "fields.a"), Value::from("text"));
    assert_eq!(recorded(run, "fields.n"), Value::Int(-3));
    assert_eq!(recorded(run, "fields.o"), Value::from("some"));
    // `None` is null, which is left out (as a field declared and never filled).
    let ((), records) = capture_records(run);
    assert!(Value::Object(records[0].clone())
        .get_path("fields.none")
        .is_none());
}
