//! Deterministic capture of audit records for tests and snapshots.
//!
//! Inside [`capture_records`] or [`capture_sealed`], audited actions on the current thread
//! are collected instead of written, with a deterministic clock (timestamps start at
//! `2026-01-01T00:00:00Z` and advance one second per action, durations are zero, event ids
//! count from 1) so that records — MACs included, with [`capture_sealed`] — are identical
//! run to run and machine to machine, ready for `insta::assert_json_snapshot!`.
//!
//! For async code, run the future on a current-thread runtime inside the closure (as
//! `#[tokio::test]` does by default).
//!
//! ```
//! #[audit_layer::audited(event = "auth.logout")]
//! fn logout(user: &str) {}
//!
//! let ((), records) = audit_layer::testing::capture_sealed(|| logout("alice"));
//! assert_eq!(records[0].get_path("event.action").unwrap().as_str(), Some("auth.logout"));
//! assert_eq!(records[0].get_path("@timestamp").unwrap().as_str(), Some("2026-01-01T00:00:00.000000Z"));
//! assert_eq!(records[0].get_path("audit.seq").unwrap().as_i64(), Some(0));
//! ```

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use audit_core::canonical::{parse_canonical, Object, Value};
use audit_core::flat::FlatRecord;
use audit_core::keys::VerificationKey;
use audit_core::record::Record;
use audit_core::seal::Sealer;

/// The kid of the fixed test key.
///
/// ```
/// assert_eq!(audit_layer::testing::verification_key().kid(), audit_layer::testing::TEST_KID);
/// ```
pub const TEST_KID: &str = "test";
/// The chain id used by [`capture_sealed`].
///
/// ```
/// #[audit_layer::audited(event = "auth.logout")]
/// fn logout() {}
/// let ((), records) = audit_layer::testing::capture_sealed(logout);
/// let chain = records[0].get_path("audit.chain").and_then(|v| v.as_str());
/// assert_eq!(chain, Some(audit_layer::testing::TEST_CHAIN));
/// ```
pub const TEST_CHAIN: &str = "test-chain";
/// 2026-01-01T00:00:00Z.
const START: u64 = 1_767_225_600;

struct Hook {
    records: Vec<Record>,
    n: u64,
}

thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// The fixed verification key of the test chain (32 bytes of 0x42, epoch length 1024).
///
/// ```
/// let vk = audit_layer::testing::verification_key();
/// assert_eq!((vk.kid(), vk.epoch_len()), ("test", 1024));
/// assert!(!format!("{vk:?}").contains("4242"), "Debug shows no key bytes");
/// ```
pub fn verification_key() -> VerificationKey {
    VerificationKey::from_bytes(TEST_KID, 1024, &[0x42; 32]).unwrap_or_else(|_| unreachable!())
}

pub(crate) fn hook_active() -> bool {
    HOOK.with(|h| h.borrow().is_some())
}

pub(crate) fn hook_clock() -> Option<(SystemTime, crate::pipeline::EventId)> {
    HOOK.with(|h| {
        h.borrow_mut().as_mut().map(|hook| {
            hook.n += 1;
            (
                UNIX_EPOCH + Duration::from_secs(START + hook.n - 1),
                crate::pipeline::EventId(hook.n),
            )
        })
    })
}

/// Take the record if a capture is active on this thread. Captured records go through the
/// default redaction policy ([`Policy::builtin`](audit_core::redact::Policy::builtin)), as a
/// layer without [`redaction`](crate::AuditLayerBuilder::redaction) would apply.
pub(crate) fn hook_deliver(record: FlatRecord) -> Option<FlatRecord> {
    HOOK.with(|h| match h.borrow_mut().as_mut() {
        Some(hook) => {
            let mut record = record.into_record();
            audit_core::redact::Policy::builtin().apply_record(&mut record);
            hook.records.push(record);
            None
        }
        None => Some(record),
    })
}

struct Restore(Option<Hook>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        HOOK.with(|h| *h.borrow_mut() = previous);
    }
}

fn run<R>(f: impl FnOnce() -> R) -> (R, Vec<Record>) {
    let previous = HOOK.with(|h| {
        h.borrow_mut().replace(Hook {
            records: Vec::new(),
            n: 0,
        })
    });
    let restore = Restore(previous);
    let out = f();
    let records = HOOK.with(|h| {
        h.borrow_mut()
            .as_mut()
            .map(|hk| std::mem::take(&mut hk.records))
    });
    drop(restore);
    (out, records.unwrap_or_default())
}

/// Run `f` and return the unsealed record bodies of the audited actions it performed on
/// this thread, in the order they finished.
///
/// ```
/// #[audit_layer::audited(event = "auth.login", actor = %email, skip(password))]
/// fn login(email: &str, password: &str) -> Result<(), String> { Err("bad password".into()) }
/// let (_, records) = audit_layer::testing::capture_records(|| login("a@example.com", "pw"));
/// let r = &records[0];
/// assert_eq!(r.get("event").unwrap().get_path("outcome").unwrap().as_str(), Some("failure"));
/// assert_eq!(r.get("event").unwrap().get_path("reason").unwrap().as_str(), Some("bad password"));
/// ```
pub fn capture_records<R>(f: impl FnOnce() -> R) -> (R, Vec<Object>) {
    let (out, records) = run(f);
    (out, records.into_iter().map(Record::into_body).collect())
}

/// Like [`capture_records`], but seals the records into a chain with the fixed test key
/// ([`verification_key`]) and chain id [`TEST_CHAIN`], returning the complete records.
///
/// The records form a chain, not a log file (there is no `audit.file.open` header), so a
/// verifier checks them with `check_file_headers` off. For snapshots, convert each record
/// with `serde_json::from_str(&record.to_canonical_string())` and use
/// `insta::assert_json_snapshot!` (see the `audit-examples` crate's `tests/login_snapshot.rs`).
///
/// ```
/// use audit_layer::audit_core::verify::{Verdict, Verifier, VerifyOptions};
/// use audit_layer::testing::{capture_sealed, verification_key};
///
/// #[audit_layer::audited(event = "auth.logout", actor = %user)]
/// fn logout(user: &str) {}
///
/// let ((), records) = capture_sealed(|| {
///     logout("alice");
///     logout("bob");
/// });
/// let chain: String = records.iter().map(|r| r.to_canonical_string() + "\n").collect();
/// let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
/// let report = Verifier::new(verification_key().into())
///     .with_options(options)
///     .verify_str("captured", &chain);
/// assert_eq!(report.verdict(), Verdict::Ok);
/// assert_eq!(records[1].get_path("audit.seq").unwrap().as_i64(), Some(1));
/// ```
pub fn capture_sealed<R>(f: impl FnOnce() -> R) -> (R, Vec<Value>) {
    let (out, records) = run(f);
    let mut sealer = Sealer::with_chain_id(verification_key().to_sealing_key(), TEST_CHAIN)
        .unwrap_or_else(|_| unreachable!());
    let sealed = records
        .into_iter()
        .filter_map(|r| sealer.seal(r).ok())
        .filter_map(|s| parse_canonical(s.line.trim_end()).ok())
        .collect();
    (out, sealed)
}
