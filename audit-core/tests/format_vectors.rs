//! The test vectors of docs/FORMAT.md, checked against the implementation.

use audit_core::canonical::{self, Value};
use audit_core::checkpoint::Checkpoint;
use audit_core::keys::{Keyring, VerificationKey};
use audit_core::seal::Sealer;
use audit_core::signing::mac_input;
use audit_core::verify::{Verdict, Verifier, VerifyOptions};
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn format_md() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/FORMAT.md")).unwrap()
}

/// The lines of the code block that follows `<!-- vector:NAME -->`.
fn vector(name: &str) -> Vec<String> {
    let md = format_md();
    let marker = format!("<!-- vector:{name} -->");
    let start = md
        .find(&marker)
        .unwrap_or_else(|| panic!("no vector {name}"));
    let rest = &md[start + marker.len()..];
    let open = rest.find("```").unwrap();
    let body = &rest[open..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let end = body.find("\n```").unwrap();
    body[..end].lines().map(str::to_owned).collect()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

#[test]
fn derived_keys() {
    let vk: VerificationKey = vector("verification-key")[0].parse().unwrap();
    assert_eq!((vk.kid(), vk.epoch_len()), ("test-k1", 2));
    let k0: Vec<u8> = (0u8..32).collect();
    let k1 = hmac(&k0, b"audit-log/v1/evolve");
    let m0 = hmac(&k0, b"audit-log/v1/mac");
    let m1 = hmac(&k1, b"audit-log/v1/mac");
    let derived = vector("derived");
    assert_eq!(derived[0], format!("K[1] = {}", hex::encode(&k1)));
    assert_eq!(derived[1], format!("M[0] = {}", hex::encode(&m0)));
    assert_eq!(derived[2], format!("M[1] = {}", hex::encode(&m1)));
    // The documented MAC input and MAC of record 0.
    let log = vector("log");
    let rec0 = canonical::parse_canonical(&log[0]).unwrap();
    let input = mac_input(rec0.as_object().unwrap());
    assert_eq!(input, vector("mac-input-0")[0]);
    let mac = hex::encode(hmac(&m0, input.as_bytes()));
    assert_eq!(
        rec0.get_path("audit.mac").unwrap().as_str(),
        Some(mac.as_str())
    );
    // seq 2 is in epoch 1.
    let rec2 = canonical::parse_canonical(&log[2]).unwrap();
    let mac2 = hex::encode(hmac(&m1, mac_input(rec2.as_object().unwrap()).as_bytes()));
    assert_eq!(
        rec2.get_path("audit.mac").unwrap().as_str(),
        Some(mac2.as_str())
    );
}

#[test]
fn the_log_verifies_and_the_sealer_reproduces_it() {
    let vk: VerificationKey = vector("verification-key")[0].parse().unwrap();
    let log = vector("log");
    let text: String = log.iter().map(|l| format!("{l}\n")).collect();
    let options = VerifyOptions {
        check_file_headers: false,
        ..VerifyOptions::default()
    };
    let report = Verifier::new(vk.clone().into())
        .with_options(options)
        .verify_str("vectors", &text);
    assert_eq!(report.verdict(), Verdict::Ok, "{:?}", report.findings);
    assert_eq!(report.verified, 3);
    let mut sealer =
        Sealer::with_chain_id(vk.to_sealing_key(), "0123456789abcdef0123456789abcdef").unwrap();
    for line in &log {
        let mut body = canonical::parse_canonical(line).unwrap();
        body.as_object_mut().unwrap().remove("audit");
        let Value::Object(body) = body else {
            unreachable!()
        };
        assert_eq!(sealer.seal_body(body).unwrap().line, format!("{line}\n"));
    }
    let cp = Checkpoint::parse_line(&vector("checkpoint")[0]).unwrap();
    cp.verify(&Keyring::from(vk)).unwrap();
    assert_eq!((cp.seq, cp.count, cp.epoch), (2, 3, 1));
    assert_eq!(cp.to_line(), vector("checkpoint")[0]);
}

#[test]
fn canonical_vectors() {
    let v = vector("canonical");
    assert_eq!(v.len(), 3);
    for line in v {
        let (input, output) = line.split_once("  →  ").unwrap();
        assert_eq!(canonical::canonicalize(input).unwrap(), output, "{input}");
        canonical::parse_canonical(output).unwrap();
    }
    let rejected = vector("rejected");
    assert_eq!(rejected.len(), 8);
    for input in rejected {
        assert!(canonical::parse(&input).is_err(), "accepted {input}");
    }
}
