//! Terminal-safe display of untrusted text.
//!
//! Everything in an audit record may come from an attacker (a user name, a reason, a
//! header). Printed raw, control characters could move the cursor, rewrite earlier lines
//! or hide text (ANSI escapes, carriage returns, bidirectional overrides). These helpers
//! escape them.

use audit_core::canonical::Value;

/// Characters that change how text is laid out or hide it: bidirectional controls,
/// zero-width characters and line/paragraph separators.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{061C}'
            | '\u{180E}'
    )
}

/// Whether `c` must be escaped before it reaches a terminal.
fn needs_escape(c: char) -> bool {
    c.is_control() || is_invisible(c)
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c => {
            use std::fmt::Write;
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        }
    }
}

/// Escape the characters of `s` that a terminal would interpret (already-escaped JSON
/// stays as it is).
pub fn escape_invisibles(s: &str) -> String {
    if !s.chars().any(needs_escape) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// A string as one shell-like token: bare when it is a plain word, otherwise in double
/// quotes with `"`, `\` and invisible characters escaped.
pub fn token(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            !c.is_whitespace() && !needs_escape(c) && !matches!(c, '"' | '\\' | '=' | '\'')
        });
    if plain {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' ' => out.push(' '),
            c if needs_escape(c) || c.is_whitespace() => push_escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON value as one token: strings as [`token`], everything else as compact canonical
/// JSON with invisible characters escaped.
pub fn value_token(v: &Value) -> String {
    match v {
        Value::String(s) => token(s),
        other => escape_invisibles(&other.to_canonical_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_bare_and_the_rest_is_quoted_and_escaped() {
        assert_eq!(token("alice@example.com"), "alice@example.com");
        assert_eq!(token("two words"), "\"two words\"");
        assert_eq!(token(""), "\"\"");
        assert_eq!(token("a\u{1b}[2Jb"), "\"a\\u001b[2Jb\"");
        assert_eq!(token("evil\u{202e}txt"), "\"evil\\u202etxt\"");
        assert_eq!(token("x\ny"), "\"x\\ny\"");
        assert_eq!(token("q\"b\\"), "\"q\\\"b\\\\\"");
        assert_eq!(escape_invisibles("[\"\u{9b}\"]"), "[\"\\u009b\"]");
        assert_eq!(value_token(&Value::Int(5)), "5");
    }
}
