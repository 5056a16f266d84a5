//! The MAC of one record: the only place that computes one.
//!
//! `mac = lowercase hex of HMAC-SHA256(M[e], canonical JSON of the record without audit.mac)`,
//! where `M[e]` is the MAC key of the record's epoch (see [`crate::keys`]).
//!
//! ```
//! use audit_core::canonical::parse;
//! use audit_core::keys::SealingKey;
//! use audit_core::signing::{record_mac, ZERO_MAC};
//! let (sk, _) = SealingKey::generate("k1", 1024)?;
//! let record = parse(r#"{"audit":{"mac":"00","prev":"x"},"event":{"action":"a.b"}}"#).unwrap();
//! let mac = record_mac(&sk.mac_key(), record.as_object().unwrap());
//! assert_eq!(mac.len(), 32);
//! assert_eq!(ZERO_MAC.len(), 64);
//! # Ok::<(), audit_core::keys::KeyError>(())
//! ```

use subtle::ConstantTimeEq;

use crate::canonical::Object;
use crate::keys::MacKey;

/// `prev` of the record at seq 0: 64 zeros.
pub const ZERO_MAC: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The bytes a record's MAC covers: its canonical JSON without `audit.mac`.
pub fn mac_input(record: &Object) -> String {
    let mut copy = record.clone();
    if let Some(audit) = copy.get_mut("audit").and_then(|a| a.as_object_mut()) {
        audit.remove("mac");
    }
    crate::canonical::Value::Object(copy).to_canonical_string()
}

/// The MAC of a record (its `audit.mac`, if any, is ignored).
pub fn record_mac(key: &MacKey, record: &Object) -> [u8; 32] {
    key.mac(mac_input(record).as_bytes())
}

/// Compare a MAC with a claimed lowercase-hex MAC in constant time. A claim that is not
/// 64 lowercase hex digits never matches.
pub fn mac_matches(mac: &[u8; 32], claimed_hex: &str) -> bool {
    match decode_mac(claimed_hex) {
        Some(claimed) => bool::from(mac.ct_eq(&claimed)),
        None => false,
    }
}

/// Decode 64 lowercase hex digits.
pub fn decode_mac(hex_text: &str) -> Option<[u8; 32]> {
    if hex_text.len() != 64 || hex_text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut out).ok()?;
    Some(out)
}

/// Lowercase hex of a MAC.
pub fn encode_mac(mac: &[u8; 32]) -> String {
    hex::encode(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_is_strict() {
        let m = [0xabu8; 32];
        let h = encode_mac(&m);
        assert!(mac_matches(&m, &h));
        assert!(!mac_matches(&m, &h.to_uppercase()));
        assert!(!mac_matches(&m, &h[..62]));
        assert!(!mac_matches(&[0u8; 32], &h));
        assert_eq!(decode_mac(ZERO_MAC), Some([0u8; 32]));
    }
}
