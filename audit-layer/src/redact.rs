//! A first, conservative redaction policy applied to every record before it is sealed.
//!
//! Field names are normalised (lowercase, `_`, `-`, `.` and spaces removed) and compared
//! against a list of sensitive names (`password`, `secret`, `token`, `apikey`,
//! `authorization`, `cookie`, `sessionid`, `privatekey`, `ssn`, `cardnumber`, `cvv`, ...);
//! a match masks the value as `[REDACTED]` and lists the field in `redaction.fields`.
//! Text values and reasons have `Bearer`/`Basic` credentials and `password=...`-style pairs
//! masked, and control characters escaped away by the canonical form (no forged lines).
//!
//! ```
//! use audit_layer::redact::Policy;
//! let p = Policy::default_policy();
//! assert!(p.is_sensitive_name("user_Password"));
//! assert!(p.is_sensitive_name("x-api-key"));
//! assert!(!p.is_sensitive_name("username"));
//! assert_eq!(p.redact_text("Authorization: Bearer abc.def"), "Authorization: Bearer [REDACTED]");
//! ```

use audit_core::canonical::Value;

/// The mask written in place of a redacted value.
pub const MASK: &str = "[REDACTED]";

/// Values longer than this many bytes are cut, with a marker.
pub const MAX_VALUE_BYTES: usize = 4096;

const SENSITIVE: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "authorization",
    "auth",
    "cookie",
    "setcookie",
    "sessionid",
    "session",
    "privatekey",
    "ssn",
    "cardnumber",
    "pan",
    "cvv",
    "cvc",
    "pin",
    "otp",
    "credential",
    "credentials",
    "signature",
];

const SENSITIVE_SUFFIXES: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "cookie",
    "sessionid",
];

/// A compiled redaction policy.
#[derive(Clone, Debug)]
pub struct Policy {
    names: Vec<String>,
    suffixes: Vec<String>,
}

impl Policy {
    /// The built-in policy.
    pub fn default_policy() -> &'static Policy {
        static POLICY: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
        POLICY.get_or_init(|| Policy {
            names: SENSITIVE.iter().map(|s| (*s).to_owned()).collect(),
            suffixes: SENSITIVE_SUFFIXES.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    /// Whether a field name (any spelling) names a secret.
    pub fn is_sensitive_name(&self, name: &str) -> bool {
        let last = name.rsplit('.').next().unwrap_or(name);
        let norm: String = last
            .chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        let norm = norm
            .strip_prefix('x')
            .filter(|n| n.starts_with("api"))
            .unwrap_or(&norm);
        self.names.iter().any(|n| n == norm)
            || self.suffixes.iter().any(|s| norm.ends_with(s.as_str()))
    }

    /// Redact inside a value: strings are scanned, objects by member name.
    pub fn redact_value(&self, value: Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.redact_text(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|v| self.redact_value(v)).collect()),
            Value::Object(o) => Value::Object(
                o.into_iter()
                    .map(|(k, v)| {
                        let v = if self.is_sensitive_name(&k) {
                            Value::from(MASK)
                        } else {
                            self.redact_value(v)
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            other => other,
        }
    }

    /// Mask credentials inside free text (Debug/Display output, error messages).
    pub fn redact_text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len().min(MAX_VALUE_BYTES + 16));
        let mut rest = text;
        while !rest.is_empty() {
            // Find the next `key=`, `key: `, `"key":` or `Bearer `/`Basic ` token.
            match self.next_secret(rest) {
                Some((value_start, value_end)) => {
                    out.push_str(&rest[..value_start]);
                    out.push_str(MASK);
                    rest = &rest[value_end..];
                }
                None => {
                    out.push_str(rest);
                    break;
                }
            }
        }
        if out.len() > MAX_VALUE_BYTES {
            let mut cut = MAX_VALUE_BYTES;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str("…[TRUNCATED]");
        }
        out
    }

    /// The byte range of the next secret value in `s`.
    fn next_secret(&self, s: &str) -> Option<(usize, usize)> {
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            for scheme in ["Bearer ", "Basic "] {
                if s[i..].starts_with(scheme) {
                    let start = i + scheme.len();
                    let end = value_end(s, start);
                    if end > start {
                        return Some((start, end));
                    }
                }
            }
            // A word followed by a separator: `name=`, `name: `, `"name":`.
            if bytes[i].is_ascii_alphabetic() && (i == 0 || !is_word(bytes[i - 1])) {
                let word_end = i + s[i..].bytes().take_while(|b| is_word(*b)).count();
                let mut j = word_end;
                if bytes.get(j) == Some(&b'"') {
                    j += 1;
                }
                let sep = matches!(bytes.get(j), Some(b'=' | b':'));
                if sep && self.is_sensitive_name(&s[i..word_end]) {
                    let mut start = j + 1;
                    while matches!(bytes.get(start), Some(b' ')) {
                        start += 1;
                    }
                    let quoted = matches!(bytes.get(start), Some(b'"'));
                    if quoted {
                        start += 1;
                    }
                    for scheme in ["Bearer ", "Basic ", "Digest ", "Token "] {
                        if s[start..].starts_with(scheme) {
                            start += scheme.len();
                        }
                    }
                    let end = if quoted {
                        start + s[start..].find('"').unwrap_or(s.len() - start)
                    } else {
                        value_end(s, start)
                    };
                    if end > start {
                        return Some((start, end));
                    }
                }
                i = word_end.max(i + 1);
                continue;
            }
            i += s[i..].chars().next().map_or(1, char::len_utf8);
        }
        None
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn value_end(s: &str, start: usize) -> usize {
    start
        + s[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '&' | ',' | ';' | '"' | '}' | ')'))
            .unwrap_or(s.len() - start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms() {
        let p = Policy::default_policy();
        assert_eq!(
            p.redact_text(r#"User { name: "a", password: "hunter2" }"#),
            r#"User { name: "a", password: "[REDACTED]" }"#
        );
        assert_eq!(
            p.redact_text(r#"{"password":"x","u":1}"#),
            r#"{"password":"[REDACTED]","u":1}"#
        );
        assert_eq!(
            p.redact_text("password=x&user=y"),
            "password=[REDACTED]&user=y"
        );
        assert_eq!(p.redact_text("user=y"), "user=y");
        assert_eq!(p.redact_text("Basic dXNlcjpwYXNz"), "Basic [REDACTED]");
    }
}
