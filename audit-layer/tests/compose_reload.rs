//! The audit layer itself inside `tracing_subscriber::reload::Layer`.
//!
//! `reload::Layer` refuses to downcast through its lock, so the record cannot find the
//! layer through the current dispatcher: it is delivered through the process-wide fallback
//! registered by `AuditLayerBuilder::build` (the most recently built layer). That fallback
//! is global state, which is why this test has a binary of its own (and one test function:
//! its phases must not run in parallel).

mod common;

use std::path::Path;

use audit_layer::audit_core::keys::VerificationKey;
use audit_layer::{audited, AuditGuard, AuditLayer};
use common::{read, setup, str_at};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;

#[audited(event = "auth.login", actor = %user, skip(password))]
fn login(user: &str, password: &str) -> Result<(), String> {
    if password == "right" {
        Ok(())
    } else {
        Err("bad password".to_owned())
    }
}

/// Built WITH the process-wide fallback (the default), unlike `common::setup`.
fn build(dir: &Path) -> (AuditLayer, AuditGuard, VerificationKey) {
    let (builder, vk) = common::builder(dir);
    let (layer, guard) = builder.build().unwrap();
    (layer, guard, vk)
}

#[test]
fn audit_layer_inside_reload_delivers_through_the_process_wide_fallback() {
    let lost_before = audit_layer::lost_records();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (layer_a, guard_a, vk_a) = build(dir_a.path());
    let (reloadable, handle) = reload::Layer::new(layer_a);
    let subscriber = tracing_subscriber::registry().with(reloadable);

    let guard_b = tracing::subscriber::with_default(subscriber, || {
        // The layer is not reachable through the dispatcher...
        assert!(tracing::dispatcher::get_default(|d| d
            .downcast_ref::<AuditLayer>()
            .is_none()));
        // ...but it still sees spans, so context fields are still copied...
        let request = tracing::info_span!("request", request_id = "req-1");
        let _entered = request.enter();
        // ...and the records reach it through the fallback.
        login("alice", "right").unwrap();
        login("alice", "wrong").unwrap_err();

        // Swapping in another layer: building it made it the fallback, so records follow.
        let (layer_b, guard_b, vk_b) = build(dir_b.path());
        handle.reload(layer_b).unwrap();
        login("bob", "right").unwrap();
        (guard_b, vk_b)
    });
    let (guard_b, vk_b) = guard_b;
    drop(guard_a);
    drop(guard_b);

    let a = read(dir_a.path(), vk_a);
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(str_at(&a[0], "event.outcome"), "success");
    assert_eq!(str_at(&a[1], "event.outcome"), "failure");
    for r in &a {
        assert_eq!(str_at(r, "user.id"), "alice");
        assert_eq!(str_at(r, "http.request.id"), "req-1");
    }
    let b = read(dir_b.path(), vk_b);
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(str_at(&b[0], "user.id"), "bob");
    assert_eq!(audit_layer::lost_records(), lost_before);

    // Built without the fallback (and with both earlier layers gone), a layer inside
    // `reload` is unreachable: the record is counted lost (and reported on stderr).
    let dir_c = tempfile::tempdir().unwrap();
    let (layer_c, _guard_c, _) = setup(dir_c.path());
    let subscriber = tracing_subscriber::registry().with(reload::Layer::new(layer_c).0);
    tracing::subscriber::with_default(subscriber, || login("carol", "right").unwrap());
    assert_eq!(audit_layer::lost_records(), lost_before + 1);
}
