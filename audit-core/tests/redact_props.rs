//! Property tests of `audit_core::redact`: sensitive keys nested at random in JSON-like
//! values are always redacted, whatever their spelling; secrets embedded in random text are
//! always redacted; benign values and text are left untouched; applying a policy twice
//! changes nothing; arbitrary input never panics and never comes out display-unsafe.

use audit_core::canonical::{Object, Value};
use audit_core::redact::{Policy, MASK};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

const SENSITIVE_BASES: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "access_token",
    "refresh_token",
    "client_secret",
    "private_key",
    "session_id",
    "cookie",
    "authorization",
    "credentials",
    "card_number",
    "passphrase",
];

/// Keys that are not sensitive, alone or after one another.
const BENIGN_KEYS: &[&str] = &[
    "name", "id", "count", "items", "meta", "value", "note", "kind", "data", "list", "user",
    "order", "status",
];

/// Words for benign text: no separators, no digits runs, no scheme words.
const WORDS: &[&str] = &[
    "the", "order", "was", "shipped", "to", "alice", "and", "bob", "on", "monday", "after",
    "review", "ok", "done", "retry", "later", "report", "sent", "queue", "empty", "42", "2026",
    "v1", "x", "blue", "green",
];

/// A spelling of a sensitive name: random case, separators inside, a prefix, a digit.
fn sensitive_key() -> impl Strategy<Value = String> {
    spelled(vec!["", "_", "-", ".", " "])
}

/// The same, without spaces (unquoted names in text cannot have them).
fn sensitive_key_text() -> impl Strategy<Value = String> {
    spelled(vec!["", "_", "-", "."])
}

fn spelled(separators: Vec<&'static str>) -> impl Strategy<Value = String> {
    (
        prop::sample::select(SENSITIVE_BASES),
        prop::collection::vec(any::<bool>(), 32),
        prop::sample::select(separators),
        prop::sample::select(vec!["", "user_", "x-", "new", "My", "db.", "OLD-"]),
        prop::sample::select(vec!["", "2", "_1"]),
    )
        .prop_map(|(base, upper, sep, prefix, suffix)| {
            let mut out = String::from(prefix);
            for (i, c) in base.chars().enumerate() {
                if c == '_' {
                    out.push_str(if sep.is_empty() { "_" } else { sep });
                    continue;
                }
                out.push(if upper[i % upper.len()] {
                    c.to_ascii_uppercase()
                } else {
                    c
                });
            }
            out.push_str(suffix);
            out
        })
}

/// A secret: 12-24 random letters and digits with a distinctive start, so that it cannot
/// be confused with anything else in the output.
fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{12,24}".prop_map(|s| format!("Sx{s}"))
}

fn benign_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1000i64..1000).prop_map(Value::Int),
        prop::collection::vec(prop::sample::select(WORDS), 0..6)
            .prop_map(|w| Value::from(w.join(" "))),
    ]
}

/// A JSON-like tree; some members have sensitive names and a secret below them.
#[derive(Clone, Debug)]
enum Tree {
    Leaf(Value),
    Secret(String, String),
    SecretObject(String, Vec<(String, String)>),
    Array(Vec<Tree>),
    Object(Vec<(String, Tree)>),
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        3 => benign_leaf().prop_map(Tree::Leaf),
        2 => (sensitive_key(), secret()).prop_map(|(k, s)| Tree::Secret(k, s)),
        1 => (sensitive_key(), prop::collection::vec((prop::sample::select(BENIGN_KEYS).prop_map(str::to_owned), secret()), 1..3))
            .prop_map(|(k, m)| Tree::SecretObject(k, m)),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Tree::Array),
            prop::collection::vec(
                (
                    prop::sample::select(BENIGN_KEYS).prop_map(str::to_owned),
                    inner
                ),
                0..5
            )
            .prop_map(Tree::Object),
        ]
    })
}

/// Build the value; collect the secrets (which must disappear) and the benign strings
/// (which must stay).
fn build(t: &Tree, secrets: &mut Vec<String>, benign: &mut Vec<String>) -> Value {
    match t {
        Tree::Leaf(v) => {
            if let Value::String(s) = v {
                if !s.is_empty() {
                    benign.push(s.clone());
                }
            }
            v.clone()
        }
        Tree::Secret(k, s) => {
            secrets.push(s.clone());
            let mut o = Object::new();
            o.insert(k.clone(), s.as_str());
            Value::Object(o)
        }
        Tree::SecretObject(k, members) => {
            let mut inner = Object::new();
            for (i, (mk, s)) in members.iter().enumerate() {
                if members[i + 1..].iter().any(|(later, _)| later == mk) {
                    continue; // replaced by a later member of the same name
                }
                secrets.push(s.clone());
                inner.insert(mk.clone(), s.as_str());
            }
            let mut o = Object::new();
            o.insert(k.clone(), inner);
            Value::Object(o)
        }
        Tree::Array(items) => {
            Value::Array(items.iter().map(|i| build(i, secrets, benign)).collect())
        }
        Tree::Object(members) => {
            let mut o = Object::new();
            for (i, (k, v)) in members.iter().enumerate() {
                if members[i + 1..].iter().any(|(later, _)| later == k) {
                    continue; // replaced by a later member of the same name
                }
                o.insert(k.clone(), build(v, secrets, benign));
            }
            Value::Object(o)
        }
    }
}

/// Secret-shaped values and the text around them.
fn embedded_secret() -> impl Strategy<Value = (String, String)> {
    let alnum = "[A-Za-z0-9]{16,32}";
    prop_oneof![
        (sensitive_key_text(), secret()).prop_map(|(k, s)| (format!("{k}={s}"), s)),
        (sensitive_key(), secret()).prop_map(|(k, s)| (format!(r#"{{"{k}":"{s}"}}"#), s)),
        (sensitive_key_text(), secret()).prop_map(|(k, s)| (format!(r#"Req {{ {k}: "{s}" }}"#), s)),
        (sensitive_key_text(), secret()).prop_map(|(k, s)| (format!(r#"{{\"{k}\":\"{s}\"}}"#), s)),
        secret().prop_map(|s| (format!("Authorization: Bearer {s}9"), format!("{s}9"))),
        alnum.prop_map(|s| {
            let t = format!("ghp_{}", &(s.clone() + &s + &s)[..36]);
            (t.clone(), t)
        }),
        "[A-Z2-7]{16}".prop_map(|s| (format!("AKIA{s}"), format!("AKIA{s}"))),
        "[A-Za-z0-9]{24}".prop_map(|s| (format!("sk_live_{s}"), format!("sk_live_{s}"))),
        secret().prop_map(|s| (format!("postgres://app:{s}@db/x"), s)),
        (1u64..10_000_000_000_000u64).prop_map(|n| {
            // A Visa number with a valid check digit.
            let partial = format!("4{n:014}");
            let c = luhn_check_digit(&partial);
            let card = format!("{partial}{c}");
            (card.clone(), card[..12].to_owned())
        }),
    ]
}

fn luhn_check_digit(partial: &str) -> char {
    let sum: u32 = partial
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = u32::from(c - b'0');
            if i % 2 == 0 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

fn benign_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(WORDS).prop_map(str::to_owned),
            1 => prop::sample::select(vec![",", ".", "!", "(", ")", "-", "/", "'"]).prop_map(str::to_owned),
            // Up to 3 digits: runs of 4-digit groups can legitimately form a Luhn-valid,
            // card-formatted number ("4111 1111 1111 1111"), which is redacted on purpose.
            1 => "[0-9]{1,3}",
        ],
        0..20,
    )
    .prop_map(|p| p.join(" "))
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random nesting of sensitive keys in JSON-like values is always redacted, and the
    /// rest is untouched.
    #[test]
    fn nested_sensitive_keys_are_always_redacted(t in tree()) {
        let mut secrets = Vec::new();
        let mut benign = Vec::new();
        let value = build(&t, &mut secrets, &mut benign);
        let mut body = Object::new();
        body.insert("fields", value);
        let policy = Policy::default();
        let redactions = policy.apply(&mut body);
        let out = Value::from(body.clone()).to_canonical_string();
        for s in &secrets {
            prop_assert!(!out.contains(s.as_str()), "secret {s} in {out}");
        }
        for b in &benign {
            prop_assert!(out.contains(b.as_str()), "benign {b:?} lost in {out}");
        }
        prop_assert_eq!(redactions.is_empty(), secrets.is_empty(), "{}", out);
        for p in redactions.paths() {
            prop_assert!(p.starts_with("fields."), "{p}");
        }
        // Applying again changes nothing.
        let again = policy.apply(&mut body);
        prop_assert_eq!(Value::from(body).to_canonical_string(), out);
        for p in again.paths() {
            prop_assert!(redactions.contains(p));
        }
    }

    /// A secret written in text, wherever it sits in benign text, is redacted.
    #[test]
    fn secrets_in_text_are_always_redacted(
        before in benign_text(),
        (form, secret) in embedded_secret(),
        after in benign_text(),
    ) {
        let text = format!("{before} {form} {after}");
        let out = Policy::default().redact_text(&text);
        prop_assert!(!out.contains(secret.as_str()), "{secret} in {out}");
        prop_assert!(out.contains(MASK), "{}", out);
    }

    /// Benign text is returned as it is, borrowed.
    #[test]
    fn benign_text_is_untouched(text in benign_text()) {
        let out = Policy::default().redact_text(&text);
        prop_assert!(matches!(out, std::borrow::Cow::Borrowed(_)), "{text:?} -> {out:?}");
    }

    /// Whatever the input: no panic, nothing display-unsafe comes out, the size limit holds,
    /// and a second pass changes nothing (below the limit).
    #[test]
    fn arbitrary_text(text in any::<String>(), printable in "[ -~]{0,200}") {
        let policy = Policy::builder().max_value_bytes(128).build().unwrap();
        for input in [text.as_str(), printable.as_str()] {
            let out = policy.redact_text(input);
            let unsafe_char = out.chars().any(|c| {
                matches!(c, '\u{80}'..='\u{9f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
            });
            prop_assert!(!unsafe_char, "{:?}", out);
            prop_assert!(out.len() <= 128 + "…[TRUNCATED 18446744073709551615 bytes]".len());
            if input.len() <= 128 && out.len() <= 128 {
                let twice = policy.redact_text(&out);
                prop_assert_eq!(&twice, &out, "input {:?}", input);
            }
        }
    }
}
