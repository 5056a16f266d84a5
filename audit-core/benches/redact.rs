//! The cost of redaction next to the cost of the record it protects.
//!
//! A typical record, as the layer builds one for an audited HTTP handler: actor, resource,
//! source ip, user agent, request and trace ids, a few captured arguments (one of them a
//! `Debug` request struct), and a reason. Measured, side by side:
//!
//! - `no_secrets/apply`: `Policy::apply` on that body (nothing to redact);
//! - `few_secrets/clone_apply` minus `few_secrets/clone`: `Policy::apply` on the body with a
//!   few secrets (a session id, a password argument, an API key inside the `Debug` text, a
//!   card number in a note, a database URL with a password in the reason);
//! - `*/build`: building the record as the layer does;
//! - `*/seal`: `Sealer::seal` of the record (canonical JSON and HMAC-SHA256);
//! - `*/total_without_redaction` and `*/total_with_redaction`: build, (redact,) seal — what
//!   one audited call costs the library, without and with the default policy;
//! - `compile_policy`: building a `Policy` (done once, never per record).
//!
//! Run: `cargo bench -p audit-core --bench redact -- --quick`.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use audit_core::keys::SealingKey;
use audit_core::record::{Outcome, Record};
use audit_core::redact::Policy;
use audit_core::seal::Sealer;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

fn record(secrets: bool) -> Record {
    let mut r = Record::new(
        "order.checkout",
        if secrets {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    )
    .unwrap();
    r.set_actor("alice@example.com");
    r.set("resource.id", "cart-7f3a9c").unwrap();
    r.set("source.ip", "203.0.113.42").unwrap();
    r.set(
        "user_agent.original",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0",
    )
    .unwrap();
    r.set("http.request.id", "req-01HZX3K9Q4J2M8N5P7R6S")
        .unwrap();
    r.set("trace.id", "4bf92f3577b34da6a3ce929d0e0e4736")
        .unwrap();
    r.set_field("order_id", "ORD-2026-004211");
    r.set_field("amount", 4_999);
    r.set_field("currency", "EUR");
    r.set_field("items", 3);
    r.set_field("express", true);
    if secrets {
        r.set("session.id", "9b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e")
            .unwrap();
        r.set_field("password", "correct horse battery staple");
        r.set_field(
            "request",
            r#"CheckoutRequest { cart: "cart-7f3a9c", coupon: Some("SPRING26"), api_key: "k_live_51HcA9dEf", address: Address { city: "Lyon", zip: "69002" } }"#,
        );
        r.set_field("note", "paid with 4111 1111 1111 1111");
        r.set_reason(
            "payment service unavailable: postgres://pay:s3cr3t-pw@db.internal:5432/pay timed out",
        );
    } else {
        r.set_field(
            "request",
            r#"CheckoutRequest { cart: "cart-7f3a9c", coupon: Some("SPRING26"), address: Address { city: "Lyon", zip: "69002" } }"#,
        );
        r.set_field("note", "customer asked for gift wrapping");
    }
    r.set_duration(Duration::from_micros(1_234));
    r.set("event.id", "00000000000004d2").unwrap();
    r
}

fn sealer() -> Sealer {
    // Epochs of 2^32 records: the key does not evolve during the run.
    let (key, _) = SealingKey::generate("bench", 1 << 32).unwrap();
    Sealer::with_chain_id(key, "bench").unwrap()
}

fn benches(c: &mut Criterion) {
    let policy = Policy::default();
    for (name, secrets) in [("no_secrets", false), ("few_secrets", true)] {
        let body = record(secrets).into_body();
        let redacted = {
            let mut b = body.clone();
            policy.apply(&mut b)
        };
        assert_eq!(redacted.is_empty(), !secrets, "{redacted:?}");

        let mut g = c.benchmark_group(name);
        if secrets {
            // The body changes when redacted: each iteration redacts a fresh copy, and the
            // copy alone is measured as the baseline to subtract.
            g.bench_function("clone", |b| b.iter(|| black_box(body.clone())));
            g.bench_function("clone_apply", |b| {
                b.iter(|| {
                    let mut copy = body.clone();
                    black_box(policy.apply(&mut copy));
                    copy
                })
            });
        } else {
            // Nothing to redact: the body is unchanged, the same one is reused (hot cache,
            // as right after the layer built it).
            let mut same = body.clone();
            g.bench_function("apply", |b| b.iter(|| black_box(policy.apply(&mut same))));
            assert_eq!(same, body);
        }
        g.bench_function("build", |b| b.iter(|| black_box(record(secrets))));
        let mut s = sealer();
        g.bench_function("seal", |b| {
            b.iter_batched(
                || record(secrets),
                |r| black_box(s.seal(r).unwrap()),
                BatchSize::SmallInput,
            )
        });
        // The record's total cost: build, (redact,) seal.
        let mut s = sealer();
        g.bench_function("total_without_redaction", |b| {
            b.iter(|| black_box(s.seal(record(secrets)).unwrap()))
        });
        let mut s = sealer();
        g.bench_function("total_with_redaction", |b| {
            b.iter(|| {
                let mut r = record(secrets);
                policy.apply_record(&mut r);
                black_box(s.seal(r).unwrap())
            })
        });
        g.finish();
    }
    c.bench_function("compile_policy", |b| {
        b.iter(|| black_box(Policy::builder().build().unwrap()))
    });
}

criterion_group!(redact, benches);
criterion_main!(redact);
