//! Setup shared by the test binaries that write through a real `AuditLayer` into a
//! temporary directory (`compose.rs`, `compose_reload.rs`, `layer.rs`): building the layer
//! with a fresh key, and reading the log back once it is verified.

use std::path::Path;

use audit_layer::audit_core::canonical::{parse_canonical, Value};
use audit_layer::audit_core::keys::{SealingKey, VerificationKey};
use audit_layer::audit_core::verify::{Verdict, Verifier};
use audit_layer::{AuditGuard, AuditLayer, AuditLayerBuilder};

/// A builder writing to `dir/audit.log`, sealed with a fresh key, and that key's verifier.
pub fn builder(dir: &Path) -> (AuditLayerBuilder, VerificationKey) {
    let (sk, vk) = SealingKey::generate("k1", 16).unwrap();
    let builder = AuditLayer::builder()
        .log_file(dir.join("audit.log"))
        .sealing_key(sk);
    (builder, vk)
}

/// A layer writing to `dir/audit.log`, built without the process-wide fallback.
pub fn setup(dir: &Path) -> (AuditLayer, AuditGuard, VerificationKey) {
    let (builder, vk) = builder(dir);
    let (layer, guard) = builder.without_process_fallback().build().unwrap();
    (layer, guard, vk)
}

/// Verifies the log and returns the records of audited actions (not the log's own).
pub fn read(dir: &Path, vk: VerificationKey) -> Vec<Value> {
    let path = dir.join("audit.log");
    let report = Verifier::new(vk.into())
        .verify_files(std::slice::from_ref(&path))
        .unwrap();
    assert_eq!(report.verdict(), Verdict::Ok, "{:?}", report.findings);
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| parse_canonical(l).unwrap())
        // The log's own records: file header, writer start and stop.
        .filter(|v| !str_at(v, "event.action").starts_with("audit."))
        .collect()
}

/// The string at `path` in `v`; panics, naming the path, if there is none.
#[track_caller]
pub fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    v.get_path(path)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {path} in {v:?}"))
}
