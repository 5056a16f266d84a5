//! What happens to a sensitive value: the [`Action`]s, the pseudonymisation key, and the
//! exact text each action writes.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::PolicyError;

/// The text written in place of a masked value.
///
/// ```
/// use audit_core::redact::{Policy, MASK};
/// assert_eq!(Policy::default().redact_text("password=hunter2"), format!("password={MASK}"));
/// ```
pub const MASK: &str = "[REDACTED]";

/// The prefix of a pseudonym written by [`Action::KeyedHash`]; 32 lowercase hex digits
/// follow (the first 128 bits of the HMAC-SHA256).
///
/// ```
/// use audit_core::redact::{PseudonymKey, PSEUDONYM_PREFIX};
/// let pseudonym = PseudonymKey::new([7u8; 32])?.pseudonym(b"alice");
/// assert_eq!(pseudonym.len(), PSEUDONYM_PREFIX.len() + 32);
/// assert!(pseudonym.starts_with(PSEUDONYM_PREFIX));
/// # Ok::<(), audit_core::redact::PolicyError>(())
/// ```
pub const PSEUDONYM_PREFIX: &str = "hmac-sha256:";

/// Written between [`MASK`] and the four characters kept by [`Action::Partial`]:
/// `[REDACTED]...1111`.
///
/// ```
/// use audit_core::redact::{Policy, MASK, PARTIAL_SEPARATOR};
/// let text = Policy::default().redact_text("card 4111111111111111");
/// assert_eq!(text, format!("card {MASK}{PARTIAL_SEPARATOR}1111"));
/// ```
pub const PARTIAL_SEPARATOR: &str = "...";

/// The least number of bytes of a [`PseudonymKey`].
///
/// ```
/// use audit_core::redact::{PolicyError, PseudonymKey, MIN_PSEUDONYM_KEY_BYTES};
/// assert!(PseudonymKey::new(vec![9u8; MIN_PSEUDONYM_KEY_BYTES]).is_ok());
/// let short = PseudonymKey::new(vec![9u8; MIN_PSEUDONYM_KEY_BYTES - 1]);
/// assert!(matches!(short, Err(PolicyError::KeyTooShort(15))));
/// ```
pub const MIN_PSEUDONYM_KEY_BYTES: usize = 16;

/// What to do with a sensitive value.
///
/// | action | a field's value becomes | inside text |
/// |---|---|---|
/// | `Mask` | `"[REDACTED]"` | the secret becomes `[REDACTED]` |
/// | `Remove` | the member is removed from its object | as `Mask` (text has no members) |
/// | `Partial` | `"[REDACTED]...1111"`: the last four characters are kept when the value has at least 12 letters or digits (a card number keeps its last four digits, as PCI DSS 3.4 allows), otherwise as `Mask` | the same |
/// | `KeyedHash` | `"hmac-sha256:<32 hex>"`: HMAC-SHA256 of the value under the policy's [`PseudonymKey`], so equal values give equal pseudonyms without being readable | the same |
///
/// ```
/// use audit_core::redact::{Action, Policy, PseudonymKey};
/// let policy = Policy::builder()
///     .pseudonym_key(PseudonymKey::new([7u8; 32])?)
///     .field_action("user.email", Action::KeyedHash)
///     .build()?;
/// let mut a = audit_core::canonical::Object::new();
/// a.object_mut("user").insert("email", "alice@example.com");
/// let mut b = a.clone();
/// policy.apply(&mut a);
/// policy.apply(&mut b);
/// let pa = a.get("user").unwrap().get_path("email").unwrap().as_str().unwrap().to_owned();
/// assert!(pa.starts_with("hmac-sha256:") && pa.len() == 12 + 32);
/// assert_eq!(Some(pa.as_str()), b.get("user").unwrap().get_path("email").unwrap().as_str());
/// # Ok::<(), audit_core::redact::PolicyError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Replace the value by [`MASK`].
    Mask,
    /// Remove the field (inside text: as [`Action::Mask`]).
    Remove,
    /// Keep the last four characters of a long value (cards), mask the rest.
    Partial,
    /// Replace the value by its keyed hash (a pseudonym); needs a [`PseudonymKey`].
    KeyedHash,
}

/// The secret key of [`Action::KeyedHash`]: keep it apart from the sealing keys, and away
/// from whoever reads the log (with it, a guessed value can be confirmed). Zeroized on drop;
/// `Debug` shows nothing of it.
///
/// ```
/// use audit_core::redact::PseudonymKey;
/// let key = PseudonymKey::new(vec![1u8; 32])?;
/// assert_eq!(format!("{key:?}"), "PseudonymKey(..)");
/// assert!(PseudonymKey::new([1u8; 8]).is_err());
/// let from_hex = PseudonymKey::from_hex(&"ab".repeat(32))?;
/// # let _ = from_hex;
/// # Ok::<(), audit_core::redact::PolicyError>(())
/// ```
#[derive(Clone)]
pub struct PseudonymKey {
    bytes: Zeroizing<Vec<u8>>,
}

impl PseudonymKey {
    /// A key from raw bytes (at least [`MIN_PSEUDONYM_KEY_BYTES`]; 32 random bytes are
    /// recommended).
    ///
    /// ```
    /// use audit_core::redact::PseudonymKey;
    /// let key = PseudonymKey::new(vec![42u8; 32])?; // 32 random bytes, in practice
    /// assert_eq!(key.pseudonym(b"alice"), key.pseudonym(b"alice"));
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<PseudonymKey, PolicyError> {
        let bytes = Zeroizing::new(bytes.into());
        if bytes.len() < MIN_PSEUDONYM_KEY_BYTES {
            return Err(PolicyError::KeyTooShort(bytes.len()));
        }
        Ok(PseudonymKey { bytes })
    }

    /// A key from hex text (an environment variable, a secret store).
    ///
    /// ```
    /// use audit_core::redact::{PolicyError, PseudonymKey};
    /// let from_hex = PseudonymKey::from_hex(&"2a".repeat(32))?;
    /// let from_bytes = PseudonymKey::new([0x2a; 32])?;
    /// assert_eq!(from_hex.pseudonym(b"bob"), from_bytes.pseudonym(b"bob"));
    /// assert!(matches!(PseudonymKey::from_hex("not hex"), Err(PolicyError::KeyNotHex)));
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn from_hex(text: &str) -> Result<PseudonymKey, PolicyError> {
        let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| PolicyError::KeyNotHex)?);
        PseudonymKey::new(bytes.to_vec())
    }

    /// A fresh random 32-byte key. Pseudonyms only correlate records written under the same
    /// key: store it if pseudonyms must stay comparable across restarts.
    ///
    /// ```
    /// use audit_core::redact::PseudonymKey;
    /// let (first, second) = (PseudonymKey::generate()?, PseudonymKey::generate()?);
    /// // Each key gives its own pseudonyms: store the key to keep them comparable.
    /// assert_ne!(first.pseudonym(b"alice"), second.pseudonym(b"alice"));
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn generate() -> Result<PseudonymKey, PolicyError> {
        let mut bytes = Zeroizing::new(vec![0u8; 32]);
        getrandom::fill(&mut bytes).map_err(|e| PolicyError::Random(e.to_string()))?;
        Ok(PseudonymKey {
            bytes: Zeroizing::new(bytes.to_vec()),
        })
    }

    /// `hmac-sha256:` and the first 32 hex digits of HMAC-SHA256(key, `value`).
    ///
    /// ```
    /// use audit_core::redact::PseudonymKey;
    /// let key = PseudonymKey::new([7u8; 32])?;
    /// let alice = key.pseudonym(b"alice@example.com");
    /// assert_eq!(alice, key.pseudonym(b"alice@example.com"));
    /// assert_ne!(alice, key.pseudonym(b"bob@example.com"));
    /// assert!(alice.starts_with("hmac-sha256:") && alice.len() == 12 + 32);
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn pseudonym(&self, value: &[u8]) -> String {
        // new_from_slice accepts keys of any length.
        let mut m = Hmac::<Sha256>::new_from_slice(&self.bytes).unwrap_or_else(|_| unreachable!());
        m.update(value);
        let tag = m.finalize().into_bytes();
        let mut out = String::with_capacity(PSEUDONYM_PREFIX.len() + 32);
        out.push_str(PSEUDONYM_PREFIX);
        out.push_str(&hex::encode(&tag[..16]));
        out
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PseudonymKey(..)")
    }
}

/// Append the replacement of `secret` under `action` to `out`.
pub(crate) fn render(out: &mut String, action: Action, secret: &str, key: Option<&PseudonymKey>) {
    match action {
        Action::Mask | Action::Remove => out.push_str(MASK),
        Action::Partial => {
            let alnum = secret.bytes().filter(u8::is_ascii_alphanumeric).count();
            out.push_str(MASK);
            if alnum >= 12 {
                let mut last: Vec<u8> = secret
                    .bytes()
                    .rev()
                    .filter(u8::is_ascii_alphanumeric)
                    .take(4)
                    .collect();
                last.reverse();
                out.push_str(PARTIAL_SEPARATOR);
                out.extend(last.into_iter().map(char::from));
            }
        }
        Action::KeyedHash => match key {
            Some(k) => out.push_str(&k.pseudonym(secret.as_bytes())),
            // The builder refuses KeyedHash without a key; fail closed anyway.
            None => out.push_str(MASK),
        },
    }
}

/// The replacement of `secret` under `action`, as a new string.
pub(crate) fn replacement(action: Action, secret: &str, key: Option<&PseudonymKey>) -> String {
    let mut out = String::with_capacity(MASK.len() + 36);
    render(&mut out, action, secret, key);
    out
}

/// Whether `s` is exactly something an action writes (so applying a policy twice changes
/// nothing, and a value forced to `[REDACTED]` is not hashed). Only the exact forms count:
/// `"[REDACTED] hunter2"` is not one.
pub(crate) fn is_redacted_form(s: &str) -> bool {
    if s == MASK {
        return true;
    }
    if let Some(rest) = s.strip_prefix(MASK) {
        if let Some(last) = rest.strip_prefix(PARTIAL_SEPARATOR) {
            return last.len() == 4 && last.bytes().all(|b| b.is_ascii_alphanumeric());
        }
        return false;
    }
    if let Some(hex) = s.strip_prefix(PSEUDONYM_PREFIX) {
        return hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders() {
        let key = PseudonymKey::new([9u8; 32]).unwrap();
        assert_eq!(replacement(Action::Mask, "x", None), "[REDACTED]");
        assert_eq!(
            replacement(Action::Partial, "4111 1111 1111 1234", None),
            "[REDACTED]...1234"
        );
        assert_eq!(replacement(Action::Partial, "1234", None), "[REDACTED]");
        let h = replacement(Action::KeyedHash, "sess-1", Some(&key));
        assert!(is_redacted_form(&h), "{h}");
        assert_eq!(h, replacement(Action::KeyedHash, "sess-1", Some(&key)));
        assert_ne!(h, replacement(Action::KeyedHash, "sess-2", Some(&key)));
        let other = PseudonymKey::new([8u8; 32]).unwrap();
        assert_ne!(h, replacement(Action::KeyedHash, "sess-1", Some(&other)));
        assert_eq!(replacement(Action::KeyedHash, "x", None), MASK);
    }

    #[test]
    fn redacted_forms_are_exact() {
        assert!(is_redacted_form("[REDACTED]"));
        assert!(is_redacted_form("[REDACTED]...1111"));
        assert!(!is_redacted_form("[REDACTED]...hunter2"));
        assert!(!is_redacted_form("[REDACTED] hunter2"));
        assert!(!is_redacted_form("hmac-sha256:zz"));
        assert!(is_redacted_form(&format!("hmac-sha256:{}", "a".repeat(32))));
    }

    #[test]
    fn key_text_forms() {
        assert!(PseudonymKey::from_hex("zz").is_err());
        assert!(PseudonymKey::from_hex("abcd").is_err());
        assert!(PseudonymKey::generate().is_ok());
    }
}
