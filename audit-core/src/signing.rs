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
///
/// ```
/// use audit_core::{canonical::parse, keys::SealingKey, seal::Sealer, signing::ZERO_MAC};
/// # use audit_core::record::{Outcome, Record};
/// let mut sealer = Sealer::new_chain(SealingKey::generate("k1", 1024)?.0)?;
/// let first = sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
/// let record = parse(first.line.trim_end())?;
/// assert_eq!(record.get_path("audit.prev").and_then(|p| p.as_str()), Some(ZERO_MAC));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const ZERO_MAC: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The bytes a record's MAC covers: its canonical JSON without `audit.mac`.
///
/// ```
/// use audit_core::{canonical::parse, signing::mac_input};
/// let record = parse(r#"{"event":{"action":"a.b"},"audit":{"seq":0,"mac":"00"}}"#)?;
/// let input = mac_input(record.as_object().unwrap());
/// assert_eq!(input, r#"{"audit":{"seq":0},"event":{"action":"a.b"}}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn mac_input(record: &Object) -> String {
    let mut copy = record.clone();
    if let Some(audit) = copy.get_mut("audit").and_then(|a| a.as_object_mut()) {
        audit.remove("mac");
    }
    crate::canonical::Value::Object(copy).to_canonical_string()
}

/// The MAC of a canonical sealed line, whose `"mac":"<64 hex>",` member lies at `cut`: the
/// line without those bytes is exactly [`mac_input`] of the record it holds (see
/// `scan.rs`, which checks the line is canonical and finds `cut`). No copy is made.
pub(crate) fn line_mac(key: &MacKey, line: &[u8], cut: std::ops::Range<usize>) -> [u8; 32] {
    key.mac_parts(&[&line[..cut.start], &line[cut.end..]])
}

/// The MAC of a record (its `audit.mac`, if any, is ignored).
///
/// ```
/// use audit_core::{canonical::parse, keys::SealingKey, seal::Sealer};
/// use audit_core::signing::{mac_matches, record_mac};
/// # use audit_core::record::{Outcome, Record};
/// let (sealing, verification) = SealingKey::generate("k1", 1024)?;
/// let mut sealer = Sealer::new_chain(sealing)?;
/// let sealed = sealer.seal(Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH)?)?;
/// let record = parse(sealed.line.trim_end())?;
/// // Seq 0 is in epoch 0, whose key the verification key starts from.
/// let mac = record_mac(&verification.to_sealing_key().mac_key(), record.as_object().unwrap());
/// assert!(mac_matches(&mac, &sealed.mac));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn record_mac(key: &MacKey, record: &Object) -> [u8; 32] {
    key.mac(mac_input(record).as_bytes())
}

/// Compare a MAC with a claimed lowercase-hex MAC in constant time. A claim that is not
/// 64 lowercase hex digits never matches.
///
/// ```
/// use audit_core::signing::{encode_mac, mac_matches};
/// let mac = [0xab; 32];
/// let claimed = encode_mac(&mac);
/// assert!(mac_matches(&mac, &claimed));
/// assert!(!mac_matches(&mac, &claimed.to_uppercase()));
/// assert!(!mac_matches(&mac, &claimed[..62]));
/// ```
pub fn mac_matches(mac: &[u8; 32], claimed_hex: &str) -> bool {
    mac_matches_bytes(mac, claimed_hex.as_bytes())
}

/// [`mac_matches`] on the bytes of the claim.
pub(crate) fn mac_matches_bytes(mac: &[u8; 32], claimed_hex: &[u8]) -> bool {
    // Compare hex with hex: the claim matches exactly when it is the lowercase hex of `mac`
    // (anything else, uppercase included, differs somewhere). No early exit.
    let Ok(claimed) = <&[u8; 64]>::try_from(claimed_hex) else {
        return false;
    };
    let expected = encode_mac_bytes(mac);
    let diff = expected
        .iter()
        .zip(claimed)
        .fold(0u8, |diff, (a, b)| diff | (a ^ b));
    bool::from(diff.ct_eq(&0))
}

/// Lowercase hex of a MAC, as bytes. Branch-free arithmetic instead of a table look-up,
/// so that the loop vectorizes.
#[inline]
pub(crate) fn encode_mac_bytes(mac: &[u8; 32]) -> [u8; 64] {
    /// `n` (below 16) as a lowercase hex digit: `'0' + n`, plus `'a' - '0' - 10` above 9.
    #[inline(always)]
    fn digit(n: u8) -> u8 {
        n + b'0' + u8::from(n > 9) * (b'a' - b'0' - 10)
    }
    let mut out = [0u8; 64];
    for (pair, &b) in out.chunks_exact_mut(2).zip(mac) {
        pair[0] = digit(b >> 4);
        pair[1] = digit(b & 0x0F);
    }
    out
}

/// Decode 64 lowercase hex digits.
///
/// ```
/// use audit_core::signing::{decode_mac, ZERO_MAC};
/// assert_eq!(decode_mac(ZERO_MAC), Some([0; 32]));
/// assert_eq!(decode_mac(&"AB".repeat(32)), None); // uppercase
/// assert_eq!(decode_mac("00"), None); // too short
/// ```
pub fn decode_mac(hex_text: &str) -> Option<[u8; 32]> {
    /// The value of a lowercase hex digit; 0xFF for any other byte.
    static NIBBLE: [u8; 256] = {
        let mut t = [0xFFu8; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            t[b'a' as usize + i] = 10 + i as u8;
            i += 1;
        }
        t
    };
    let digits: &[u8; 64] = hex_text.as_bytes().try_into().ok()?;
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let (hi, lo) = (NIBBLE[usize::from(pair[0])], NIBBLE[usize::from(pair[1])]);
        bad |= hi | lo;
        *o = hi << 4 | (lo & 0x0F);
    }
    // Valid nibbles are below 0x10; 0xFF marks anything else.
    (bad < 0x10).then_some(out)
}

/// Lowercase hex of a MAC.
///
/// ```
/// use audit_core::signing::{decode_mac, encode_mac};
/// let mac = [0xab; 32];
/// assert_eq!(encode_mac(&mac), "ab".repeat(32));
/// assert_eq!(decode_mac(&encode_mac(&mac)), Some(mac));
/// ```
pub fn encode_mac(mac: &[u8; 32]) -> String {
    encode_mac_str(&encode_mac_bytes(mac))
}

/// The hex digits of [`encode_mac_bytes`] as a `String`.
pub(crate) fn encode_mac_str(hex: &[u8; 64]) -> String {
    // Hex digits are ASCII, so this never falls back to the empty string.
    String::from_utf8(hex.to_vec()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_encoding_matches_the_hex_crate() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..2000 {
            let m: [u8; 32] = std::array::from_fn(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match round {
                    0 => 0,
                    1 => 0xFF,
                    2 => i as u8 * 8,
                    _ => x as u8,
                }
            });
            assert_eq!(encode_mac(&m), hex::encode(m));
        }
        for b in 0..=255u8 {
            assert_eq!(encode_mac(&[b; 32]), hex::encode([b; 32]));
        }
    }

    #[test]
    fn decode_is_strict() {
        let m = [0xabu8; 32];
        let h = encode_mac(&m);
        assert!(mac_matches(&m, &h));
        assert!(!mac_matches(&m, &h.to_uppercase()));
        assert!(!mac_matches(&m, &h[..62]));
        assert!(!mac_matches(&m, &format!("{h}00")));
        for i in 0..64 {
            let mut bad = h.clone().into_bytes();
            bad[i] = if bad[i] == b'a' { b'b' } else { b'a' };
            assert!(!mac_matches(&m, std::str::from_utf8(&bad).unwrap()));
        }
        assert!(!mac_matches(&[0u8; 32], &h));
        assert_eq!(decode_mac(ZERO_MAC), Some([0u8; 32]));
        let m: [u8; 32] = std::array::from_fn(|i| (i * 37 + 11) as u8);
        assert_eq!(encode_mac(&m), hex::encode(m));
        let mut all = String::new();
        for b in 0..=255u8 {
            let mut text = h.clone();
            text.replace_range(10..11, &char::from(b).to_string());
            let expected = (b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                .then(|| hex::decode(&text).unwrap());
            assert_eq!(decode_mac(&text).map(|m| m.to_vec()), expected, "{b}");
            all.push(char::from(b"0123456789abcdef"[usize::from(b % 16)]));
        }
        assert_eq!(
            decode_mac(&all[..64]).unwrap().to_vec(),
            hex::decode(&all[..64]).unwrap()
        );
    }
}
