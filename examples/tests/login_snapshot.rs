//! Snapshot of the sealed records of a small login flow: success, failure, denial and logout
//! inside a request span that provides `request_id` / `client_ip` context.
//!
//! `audit_layer::testing::capture_sealed` makes the records deterministic — fixed clock,
//! event ids, chain id and key — so the snapshot holds the complete records, MACs and chain
//! hashes included: any change to the record format, canonical JSON, redaction or sealing
//! shows up here as a diff to review (`cargo insta review`, or `INSTA_UPDATE=always`).

use audit_layer::audit_core::canonical::Value;
use audit_layer::audit_core::verify::{Verdict, Verifier, VerifyOptions};
use audit_layer::testing::{capture_sealed, verification_key};
use audit_layer::{audited, AuditLayer, AuditOutcome, Outcome};
use tracing_subscriber::prelude::*;

#[derive(Debug)]
enum AuthError {
    BadPassword,
    Forbidden,
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthError::BadPassword => "bad password",
            AuthError::Forbidden => "missing role admin",
        })
    }
}

impl AuditOutcome for AuthError {
    fn audit_outcome(&self) -> Outcome {
        match self {
            AuthError::BadPassword => Outcome::Failure,
            AuthError::Forbidden => Outcome::Denied,
        }
    }
    fn audit_reason(&self) -> Option<String> {
        Some(self.to_string())
    }
}

#[audited(event = "auth.login", actor = %user, fields(method = "password"), skip(password))]
fn login(user: &str, password: &str) -> Result<u64, AuthError> {
    if password == "correct horse battery staple" {
        audit_layer::record("session.id", "s-1");
        Ok(42)
    } else {
        Err(AuthError::BadPassword)
    }
}

#[audited(event = "iam.role.grant", actor = %actor, resource = %role)]
fn grant_role(actor: &str, role: &str) -> Result<(), AuthError> {
    if actor == "root" {
        Ok(())
    } else {
        Err(AuthError::Forbidden)
    }
}

#[audited(event = "auth.logout", actor = %user)]
fn logout(user: &str) {}

/// The flow, run inside a request span (as a tower-http `TraceLayer` span would be).
fn flow() {
    let request = tracing::info_span!("request", request_id = "req-7", client_ip = "192.0.2.10");
    let _entered = request.enter();
    let _ = login("alice", "hunter2");
    let _ = login("alice", "correct horse battery staple");
    let _ = grant_role("alice", "admin");
    logout("alice");
}

/// Runs the flow under a real subscriber (the audit layer copies the request span's context
/// fields) while `capture_sealed` collects the records instead of writing them.
fn sealed_flow() -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let (sealing, _) = audit_layer::audit_core::keys::SealingKey::generate("unused", 16).unwrap();
    let (audit, _guard) = AuditLayer::builder()
        .log_file(dir.path().join("audit.log"))
        .sealing_key(sealing)
        .lifecycle_records(false)
        .without_process_fallback()
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(audit);
    let ((), records) = capture_sealed(|| tracing::subscriber::with_default(subscriber, flow));
    records
}

fn to_json(records: &[Value]) -> serde_json::Value {
    serde_json::Value::Array(
        records
            .iter()
            .map(|r| serde_json::from_str(&r.to_canonical_string()).unwrap())
            .collect(),
    )
}

#[test]
fn login_flow_sealed_records() {
    let records = sealed_flow();
    assert_eq!(records.len(), 4);

    // The sealed chain verifies with the fixed test key (it is a chain, not a file: there
    // is no `audit.file.open` header)...
    let text: String = records
        .iter()
        .map(|r| r.to_canonical_string() + "\n")
        .collect();
    let options = VerifyOptions {
        check_file_headers: false,
        ..VerifyOptions::default()
    };
    let report = Verifier::new(verification_key().into())
        .with_options(options)
        .verify_str("snapshot", &text);
    assert_eq!(report.verdict(), Verdict::Ok, "{:?}", report.findings);
    assert_eq!(report.verified, 4);

    // ...the password never reaches a record...
    assert!(
        !text.contains("hunter2") && !text.contains("battery"),
        "{text}"
    );

    // ...and the same flow gives the same bytes, MACs included.
    assert_eq!(sealed_flow(), records);

    insta::assert_json_snapshot!("login_flow", to_json(&records));
}
