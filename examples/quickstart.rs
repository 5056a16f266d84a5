//! The quickstart: a few audited functions write a signed log, which is then verified.
//!
//! Run it with `cargo run -p audit-examples --example quickstart`. It writes into
//! `target/quickstart/` and prints the records and the verifier's verdict.

use std::path::PathBuf;

use audit_layer::audit_core::keys::SealingKey;
use audit_layer::audit_core::verify::{Verdict, Verifier};
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
            AuthError::Forbidden => "forbidden",
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

#[audited(event = "auth.login", actor = %email, fields(method = "password"), skip(password))]
fn login(email: &str, password: &str) -> Result<u64, AuthError> {
    if password == "correct horse battery staple" {
        Ok(42)
    } else {
        Err(AuthError::BadPassword)
    }
}

#[audited(event = "auth.logout", actor = %email)]
fn logout(email: &str) {}

#[audited(event = "iam.role.grant", actor = %actor, resource = %role)]
fn grant_role(actor: &str, role: &str) -> Result<(), AuthError> {
    if actor == "admin@example.com" {
        Ok(())
    } else {
        Err(AuthError::Forbidden)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/quickstart");
    std::fs::create_dir_all(&dir)?;
    let log = dir.join("audit.log");
    let _ = std::fs::remove_file(&log);

    // `audit-log keygen` does this once: the writer keeps the evolving sealing key, the
    // auditor keeps the verification key offline.
    let (sealing, verification) = SealingKey::generate("quickstart", 1024)?;

    let (audit, guard) = AuditLayer::builder()
        .log_file(&log)
        .sealing_key(sealing)
        .build()?;
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_filter(tracing_subscriber::EnvFilter::new("warn")),
        )
        .with(audit);
    tracing::subscriber::with_default(subscriber, || {
        let _ = login("alice@example.com", "correct horse battery staple");
        let _ = login("alice@example.com", "hunter2");
        let _ = grant_role("alice@example.com", "admin");
        let _ = grant_role("admin@example.com", "auditor");
        logout("alice@example.com");
    });
    drop(guard); // flush

    println!("--- {} ---", log.display());
    print!("{}", std::fs::read_to_string(&log)?);
    let report = Verifier::new(verification.into()).verify_files(std::slice::from_ref(&log))?;
    println!("--- verify ---");
    for f in &report.findings {
        println!("{f}");
    }
    println!("{}: {} records verified", report.verdict(), report.verified);
    if report.verdict() != Verdict::Ok {
        std::process::exit(report.verdict().exit_code());
    }
    Ok(())
}
