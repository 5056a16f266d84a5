//! Secrets inside text: `name = value` pairs in `Debug` and `Display` output, JSON, query
//! strings, HTTP headers and XML, where the name is sensitive.
//!
//! The scanner looks for separators (`:`, `=`, `=>`, `>` of an XML tag, and `,` inside a
//! `("name", "value")` tuple), reads the name written before it (skipping spaces and a
//! quote, `"`, `'` or the `\"` of JSON inside a `Debug` string) and, if the name is sensitive
//! under the policy's [name rules](super::names), replaces the value written after it:
//!
//! | text | value replaced |
//! |---|---|
//! | `User { name: "a", password: "hunter2" }` | `hunter2` (between the quotes) |
//! | `{"password":"x"}`, `{'password': 'x'}`, `"{\"password\":\"x\"}"` | `x` |
//! | `password=x&user=y`, `?api_key=x#f` | `x` |
//! | `Authorization: Bearer abc`, `authorization: "Basic abc"` | `abc` (the scheme stays) |
//! | `Cookie: a=1; b=2` | `a=1; b=2` (to the end of the line) |
//! | `token: Some("x")`, `secret: Secret([1, 2])`, `pin: [1, 2, 3, 4]` | what is inside the brackets |
//! | `<password>x</password>` | `x` |
//! | `[("password", "x")]` | `x` |
//!
//! `None`, `null`, `nil`, an empty value and a value that is already a redaction
//! (`[REDACTED]`) are left as they are.

use super::actions::{is_redacted_form, Action, MASK, PARTIAL_SEPARATOR};
use super::detectors::Hit;
use super::names::NameSet;

/// Bytes a name in text may be made of.
fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'[' | b']' | b'%')
}

/// Authorization schemes skipped before a credential; those whose credentials are a list of
/// parameters make the value run to the end of the line.
const SCHEMES: &[(&[u8], bool)] = &[
    (b"bearer", false),
    (b"basic", false),
    (b"token", false),
    (b"bot", false),
    (b"apikey", false),
    (b"negotiate", false),
    (b"ntlm", false),
    (b"dpop", false),
    (b"digest", true),
    (b"hoba", true),
    (b"mutual", true),
    (b"vapid", true),
    (b"signature", true),
    (b"aws4-hmac-sha256", true),
];

struct Key {
    start: usize,
    end: usize,
    quoted: bool,
    /// Where the opening quote would be (the byte before the name, or before its `\`).
    open: usize,
}

/// The name written right before the separator at `sep`.
fn key_before(b: &[u8], sep: usize) -> Option<Key> {
    let mut j = sep;
    let mut spaces = 0;
    while j > 0 && b[j - 1] == b' ' && spaces < 4 {
        j -= 1;
        spaces += 1;
    }
    let mut quote = None;
    if j > 0 && (b[j - 1] == b'"' || b[j - 1] == b'\'') {
        quote = Some(b[j - 1]);
        j -= 1;
        if j > 0 && b[j - 1] == b'\\' {
            j -= 1;
        }
    }
    let quoted = quote.is_some();
    let end = j;
    while j > 0 && is_key_byte(b[j - 1]) && end - j < 128 {
        j -= 1;
    }
    // A quoted name may have spaces (`"api key": ..`): take it up to its opening quote.
    if let Some(q) = quote {
        let mut k = j;
        while k > 0 && (is_key_byte(b[k - 1]) || b[k - 1] == b' ') && end - k < 128 {
            k -= 1;
        }
        if k > 0 && k < j && b[k - 1] == q {
            j = k;
        }
    }
    if j == end {
        return None;
    }
    let mut open = j;
    if quoted && open > 0 && b[open - 1] == b'\\' {
        open -= 1;
    }
    Some(Key {
        start: j,
        end,
        quoted,
        open,
    })
}

/// The end of a quoted string whose content starts at `from` (backslash escapes honoured),
/// or the end of the text.
fn quoted_end(b: &[u8], from: usize, quote: u8) -> usize {
    let mut k = from;
    while k < b.len() {
        match b[k] {
            b'\\' => k += 2,
            c if c == quote => return k,
            _ => k += 1,
        }
    }
    b.len()
}

/// The end of a `\"`-quoted string (JSON inside a `Debug` string) starting at `from`.
fn escaped_quoted_end(b: &[u8], from: usize) -> usize {
    let mut k = from;
    while k < b.len() {
        if b[k] == b'\\' {
            match b.get(k + 1) {
                Some(b'"') => return k,
                // `\\\"` is an escaped quote of the inner JSON: part of the value.
                Some(b'\\') if b.get(k + 2) == Some(&b'\\') && b.get(k + 3) == Some(&b'"') => {
                    k += 4
                }
                _ => k += 2,
            }
        } else {
            k += 1;
        }
    }
    b.len()
}

/// The position of the bracket closing the one at `open`, or the end of the text.
fn group_end(b: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    let mut k = open;
    while k < b.len() {
        match b[k] {
            b'"' => {
                k = quoted_end(b, k + 1, b'"');
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
        k += 1;
    }
    b.len()
}

fn is_unquoted_end(c: u8) -> bool {
    c.is_ascii_whitespace()
        || matches!(
            c,
            b',' | b';' | b'&' | b'}' | b')' | b']' | b'"' | b'\'' | b'<' | b'>' | b'\\' | b'#'
        )
}

fn is_line_end(b: &[u8], k: usize) -> bool {
    match b[k] {
        b'\n' | b'\r' => true,
        // `\n` and `\r` as written by Debug.
        b'\\' => matches!(b.get(k + 1), Some(b'n' | b'r')),
        _ => false,
    }
}

/// Skip an authorization scheme and its spaces at `j`, if one is there and a credential
/// follows. Returns the new position and whether the credential runs to the line's end.
fn skip_scheme(b: &[u8], j: usize) -> (usize, bool) {
    for &(scheme, line) in SCHEMES {
        let Some(word) = b.get(j..j + scheme.len()) else {
            continue;
        };
        if !word.eq_ignore_ascii_case(scheme) {
            continue;
        }
        let k = j + scheme.len();
        let sp = b[k..].iter().take_while(|&&c| c == b' ').count();
        if sp > 0 && b.get(k + sp).is_some_and(|c| !is_unquoted_end(*c)) {
            return (k + sp, line);
        }
    }
    (j, false)
}

/// The span of the value written at `j` (after the separator).
fn value_at(b: &[u8], mut j: usize, line_valued: bool, xml: bool) -> Option<(usize, usize)> {
    let n = b.len();
    while j < n && (b[j] == b' ' || b[j] == b'\t') {
        j += 1;
    }
    if j >= n {
        return None;
    }
    // Already redacted (`[REDACTED]`, `[REDACTED]...1111`): nothing to do.
    if b[j..].starts_with(MASK.as_bytes()) {
        let mut k = j + MASK.len();
        let sep = PARTIAL_SEPARATOR.as_bytes();
        if b[k..].starts_with(sep)
            && b.get(k + sep.len()..k + sep.len() + 4)
                .is_some_and(|t| t.iter().all(u8::is_ascii_alphanumeric))
        {
            k += sep.len() + 4;
        }
        if ends_value(b, k) {
            return None;
        }
    }
    if xml {
        let end = b[j..].iter().position(|&c| c == b'<').map_or(n, |p| j + p);
        return Some((j, end));
    }
    match b[j] {
        b'\\' if b.get(j + 1) == Some(&b'"') => {
            let (start, _) = skip_scheme(b, j + 2);
            Some((start, escaped_quoted_end(b, j + 2)))
        }
        q @ (b'"' | b'\'') => {
            let (start, _) = skip_scheme(b, j + 1);
            Some((start, quoted_end(b, j + 1, q)))
        }
        b'(' | b'[' | b'{' => Some((j + 1, group_end(b, j))),
        c if c.is_ascii_alphabetic() => {
            // `Some(..)`, `Secret([..])`, `Token { .. }`: what is inside the brackets.
            let ident = b[j..]
                .iter()
                .take_while(|&&c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
                .count();
            let mut k = j + ident;
            if b.get(k) == Some(&b' ') && b.get(k + 1) == Some(&b'{') {
                k += 1;
            }
            if matches!(b.get(k), Some(b'(' | b'{')) {
                return Some((k + 1, group_end(b, k)));
            }
            let word = &b[j..j + ident];
            if [&b"None"[..], b"null", b"nil"].contains(&word) && ends_value(b, j + ident) {
                return None;
            }
            Some(unquoted(b, j, line_valued))
        }
        _ => Some(unquoted(b, j, line_valued)),
    }
}

fn ends_value(b: &[u8], k: usize) -> bool {
    b.get(k).is_none_or(|&c| is_unquoted_end(c))
}

fn unquoted(b: &[u8], j: usize, line_valued: bool) -> (usize, usize) {
    let (start, scheme_line) = skip_scheme(b, j);
    let line = line_valued || scheme_line;
    let mut k = start;
    while k < b.len()
        && !(if line {
            is_line_end(b, k)
        } else {
            is_unquoted_end(b[k])
        })
    {
        k += 1;
    }
    (start, k)
}

/// Whether `s` has a separator [`scan_pairs`] looks for (`=`, `:`, `>`, `,`): without one
/// it finds nothing, since it only reads a name and a value around such a byte.
pub(crate) fn may_have_pairs(s: &str) -> bool {
    s.bytes().any(is_pair_separator)
}

/// The bytes [`scan_pairs`] stops at.
pub(crate) fn is_pair_separator(c: u8) -> bool {
    matches!(c, b'=' | b':' | b'>' | b',')
}

/// Find the values of sensitive names in `s`, appending to `hits`.
pub(crate) fn scan_pairs(s: &str, names: &NameSet, hits: &mut Vec<Hit>) {
    let b = s.as_bytes();
    let n = b.len();
    let mut i = 0;
    while i < n {
        let (sep_len, xml, tuple) = match b[i] {
            b'=' => match b.get(i + 1) {
                Some(b'>') => (2, false, false),
                Some(b'=') => {
                    i += 2;
                    continue;
                }
                _ => (1, false, false),
            },
            b':' => match b.get(i + 1) {
                // `://` (URLs have their own detector) and `::` (paths).
                Some(b'/' | b':') => {
                    i += 2;
                    continue;
                }
                _ => (1, false, false),
            },
            b'>' => (1, true, false),
            b',' => (1, false, true),
            _ => {
                i += 1;
                continue;
            }
        };
        let Some(key) = key_before(b, i) else {
            i += sep_len;
            continue;
        };
        // XML needs `<name>`; a tuple needs `("name",` or `["name",`.
        let shape_ok = if xml {
            key.start > 0 && b[key.start - 1] == b'<' && key.end == i
        } else if tuple {
            key.quoted
                && b[..key.open]
                    .iter()
                    .rev()
                    .find(|&&c| c != b' ' && c != b'"' && c != b'\'')
                    .is_some_and(|&c| c == b'(' || c == b'[')
                && b[i + 1..]
                    .iter()
                    .find(|&&c| c != b' ')
                    .is_some_and(|&c| c == b'"' || c == b'\'')
        } else {
            true
        };
        if !shape_ok {
            i += sep_len;
            continue;
        }
        // Key bytes are ASCII, so the slice is on char boundaries.
        let Some(m) = names.check(&s[key.start..key.end]) else {
            i += sep_len;
            continue;
        };
        let Some((start, end)) = value_at(b, i + sep_len, m.line_valued, xml) else {
            i += sep_len;
            continue;
        };
        let value = &s[start..end];
        if start < end && !is_redacted_form(value) {
            let action = match m.action {
                Action::Remove => Action::Mask,
                a => a,
            };
            hits.push(Hit { start, end, action });
        }
        i = end.max(i + sep_len);
    }
}

#[cfg(test)]
mod tests {
    use super::super::names::{NameRules, NameSet};
    use super::*;

    fn found(s: &str) -> Vec<&str> {
        let names = NameSet::compile(&NameRules::defaults(), |_| Action::Mask);
        let mut hits = Vec::new();
        scan_pairs(s, &names, &mut hits);
        hits.iter().map(|h| &s[h.start..h.end]).collect()
    }

    #[test]
    fn debug_and_display() {
        assert_eq!(
            found(r#"User { name: "a", password: "hunter2" }"#),
            ["hunter2"]
        );
        assert_eq!(
            found("User {\n    name: \"a\",\n    password: \"hunter2\",\n}"),
            ["hunter2"]
        );
        assert_eq!(found(r#"Login { pin: 1234, user: 7 }"#), ["1234"]);
        assert_eq!(found(r#"Req { token: Some("abc"), x: None }"#), ["\"abc\""]);
        assert_eq!(found(r#"Req { api_key: None }"#), Vec::<&str>::new());
        assert_eq!(found(r#"K { secret: Secret([1, 2, 3]) }"#), ["[1, 2, 3]"]);
        assert_eq!(found(r#"K { pin: [1, 2, 3, 4] }"#), ["1, 2, 3, 4"]);
        assert_eq!(
            found(r#"K { private_key: Key { d: "x", n: "y" }, ok: 1 }"#),
            [r#" d: "x", n: "y" "#]
        );
        assert_eq!(found(r#"x { password: "a\"b" }"#), [r#"a\"b"#]);
    }

    #[test]
    fn json_forms() {
        assert_eq!(found(r#"{"password":"x","u":1}"#), ["x"]);
        assert_eq!(found(r#"{"user": {"apiKey": "k1"}}"#), ["k1"]);
        assert_eq!(found(r#"{'password': 'x'}"#), ["x"]);
        assert_eq!(found(r#"{"api key": "k1", "user name": "bob"}"#), ["k1"]);
        assert_eq!(found(r#"{"pin":1234}"#), ["1234"]);
        // JSON inside a Debug string.
        assert_eq!(
            found(r#"Body("{\"password\":\"hunter2\",\"u\":1}")"#),
            ["hunter2"]
        );
        assert_eq!(found(r#"[("password", "x"), ("user", "y")]"#), ["x"]);
        assert_eq!(found(r#"["user", "password"]"#), Vec::<&str>::new());
        assert_eq!(found("<user><password>x</password></user>"), ["x"]);
    }

    #[test]
    fn queries_and_headers() {
        assert_eq!(found("password=x&user=y"), ["x"]);
        assert_eq!(found("/cb?code=1&access_token=abc#f"), ["abc"]);
        assert_eq!(found("user%5Bpassword%5D=x&a=b"), ["x"]);
        assert_eq!(
            found("GET / HTTP/1.1\r\nAuthorization: Bearer abc.def\r\nHost: x"),
            ["abc.def"]
        );
        assert_eq!(
            found(r#"headers: {"authorization": "Basic dXNlcjpw"}"#),
            ["dXNlcjpw"]
        );
        assert_eq!(found("Cookie: a=1; sid=2\r\nHost: x"), ["a=1; sid=2"]);
        assert_eq!(found(r#"{"set-cookie": "id=a; Path=/"}"#), ["id=a; Path=/"]);
        assert_eq!(
            found("Authorization: Digest username=\"u\", response=\"r\"\nX: y"),
            ["username=\"u\", response=\"r\""]
        );
        assert_eq!(found("X-Api-Key: k-123 next"), ["k-123"]);
        assert_eq!(found("token => \"x\""), ["x"]);
    }

    #[test]
    fn leaves_the_rest() {
        for s in [
            "user=bob&page=2",
            "10:30:00",
            "a::b::password",
            "https://x/y",
            "password reset requested",
            "password:",
            "password: ",
            "password: [REDACTED]",
            "token_count: 5",
            "x == password",
            "<b>bold</b>",
        ] {
            assert!(found(s).is_empty(), "{s}: {:?}", found(s));
        }
    }
}
