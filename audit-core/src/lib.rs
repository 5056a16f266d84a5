//! # audit-core
//!
//! The evidence layer of the audit-log workspace: it knows nothing of `tracing`.
//!
//! An audit log is a file of newline-delimited JSON records, each already in RFC 8785
//! canonical form, each carrying an HMAC-SHA256 `mac` that covers the record and (through
//! `prev`) every record before it in the same chain. The modules, each with one job:
//!
//! | module | job |
//! |---|---|
//! | [`canonical`] | the JSON value type, the strict parser and the RFC 8785 serializer |
//! | [`record`] | the record model (who / what / when / where / outcome) before sealing |
//! | [`redact`] | the redaction engine: secrets and personal data out of records before sealing |
//! | [`keys`] | key material: the writer's evolving sealing key and the auditor's verification keys |
//! | [`signing`] | the MAC of one record (the only place that computes one) |
//! | [`seal`] | the sealer: assigns `seq`, `prev`, key id and MAC, one chain per writer |
//! | [`checkpoint`] | signed chain heads published to a witness to catch truncation and rollback |
//! | [`verify`] | the verifier: MACs, chain links, files, checkpoints, state |
//! | [`sink`] | where sealed lines go: the append-only file log |
//! | [`time`] | the one timestamp form records use |
//!
//! The wire format is specified in `docs/FORMAT.md` of the repository; that document, not
//! this code, is the contract.
//!
//! ```
//! use audit_core::keys::SealingKey;
//! use audit_core::record::{Outcome, Record};
//! use audit_core::seal::Sealer;
//! use audit_core::verify::{Verdict, Verifier, VerifyOptions};
//!
//! let (sealing, verification) = SealingKey::generate("k1", 1024)?;
//! let mut sealer = Sealer::new_chain(sealing)?;
//! let mut log = String::new();
//! let record = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?;
//! log.push_str(&sealer.seal(record)?.line);
//!
//! // Records in memory are not a file: skip the file-header check.
//! let options = VerifyOptions { check_file_headers: false, ..VerifyOptions::default() };
//! let mut verifier = Verifier::new(verification.into()).with_options(options);
//! let report = verifier.verify_str("memory", &log);
//! assert_eq!(report.verdict(), Verdict::Ok);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod canonical;
pub mod checkpoint;
pub mod flat;
mod key_state;
pub mod keys;
pub mod layout;
pub mod record;
pub mod redact;
mod scan;
pub mod seal;
pub mod signing;
pub mod sink;
pub mod time;
pub mod verify;
