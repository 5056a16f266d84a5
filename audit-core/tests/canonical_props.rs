//! Property tests for `audit_core::canonical`: round trips, idempotence, order- and
//! whitespace-independence of the canonical form, and robustness on arbitrary input.

use audit_core::canonical::{
    self, canonicalize, parse, parse_bytes, parse_canonical, Object, ParseErrorKind, Value,
    MAX_SAFE_INTEGER,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

fn arb_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        2 => prop::char::range('\u{0}', '\u{1f}'),
        2 => prop::sample::select(vec!['"', '\\', '/', 'a', 'z', '.', '\u{7f}', '\u{2028}', 'é']),
        1 => prop::char::range('\u{e000}', '\u{ffff}'),
        1 => prop::char::range('\u{10000}', '\u{10ffff}'),
    ]
}

fn arb_string() -> impl Strategy<Value = String> {
    prop::collection::vec(arb_char(), 0..12).prop_map(|cs| cs.into_iter().collect())
}

/// Keys from a small alphabet collide often; the odd ones exercise UTF-16 ordering.
fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::collection::vec(
            prop::sample::select(vec!['a', 'b', '\u{e000}', '\u{ffff}', '\u{1f600}', '\u{10000}', '\u{7f}', '\u{0}']),
            0..3
        )
        .prop_map(|cs| cs.into_iter().collect()),
        1 => arb_string(),
    ]
}

fn arb_int() -> impl Strategy<Value = i64> {
    prop_oneof![
        -MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER,
        -1000i64..1000,
        Just(MAX_SAFE_INTEGER),
        Just(-MAX_SAFE_INTEGER),
        Just(0),
    ]
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_int().prop_map(Value::Int),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..8)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

// ---------------------------------------------------------------------------------------
// A deliberately non-canonical printer: shuffled keys, random whitespace, gratuitous
// escapes (including surrogate pairs and uppercase hex).
// ---------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn ws(rng: &mut Rng, out: &mut String) {
    const WS: [&str; 6] = ["", "", " ", "\n  ", "\t", "\r\n"];
    out.push_str(WS[rng.below(WS.len() as u64) as usize]);
}

fn hex_unit(rng: &mut Rng, unit: u32, out: &mut String) {
    if rng.below(2) == 0 {
        out.push_str(&format!("\\u{unit:04x}"));
    } else {
        out.push_str(&format!("\\u{unit:04X}"));
    }
}

fn messy_string(rng: &mut Rng, s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        let must_escape = c < '\u{20}' || c == '"' || c == '\\';
        let short = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '/' => Some("\\/"),
            '\u{8}' => Some("\\b"),
            '\u{9}' => Some("\\t"),
            '\u{a}' => Some("\\n"),
            '\u{c}' => Some("\\f"),
            '\u{d}' => Some("\\r"),
            _ => None,
        };
        let choice = rng.below(4);
        match short {
            Some(esc) if choice < 2 => out.push_str(esc),
            _ if must_escape || choice == 2 => {
                let mut units = [0u16; 2];
                for &u in c.encode_utf16(&mut units).iter() {
                    hex_unit(rng, u32::from(u), out);
                }
            }
            _ => out.push(c),
        }
    }
    out.push('"');
}

fn messy(rng: &mut Rng, v: &Value, out: &mut String) {
    ws(rng, out);
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::String(s) => messy_string(rng, s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    ws(rng, out);
                    out.push(',');
                }
                messy(rng, item, out);
            }
            ws(rng, out);
            out.push(']');
        }
        Value::Object(o) => {
            let mut members: Vec<(&str, &Value)> = o.iter().collect();
            // Fisher-Yates shuffle.
            for i in (1..members.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                members.swap(i, j);
            }
            out.push('{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    ws(rng, out);
                    out.push(',');
                }
                ws(rng, out);
                messy_string(rng, k, out);
                ws(rng, out);
                out.push(':');
                messy(rng, v, out);
            }
            ws(rng, out);
            out.push('}');
        }
    }
    ws(rng, out);
}

fn first_difference(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// Whatever parses must re-serialize to a fixed point.
fn check_parsed(v: &Value) {
    let s = v.to_canonical_string();
    assert_eq!(canonicalize(&s).as_deref(), Ok(s.as_str()));
    assert_eq!(parse_canonical(&s).as_ref(), Ok(v));
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn canonical_string_round_trips(v in arb_value()) {
        let s = v.to_canonical_string();
        prop_assert_eq!(parse_canonical(&s), Ok(v.clone()));
        prop_assert_eq!(parse_bytes(s.as_bytes()), Ok(v.clone()));
        // No raw control characters, no insignificant whitespace outside strings.
        prop_assert!(!s.bytes().any(|b| b < 0x20));
        prop_assert_eq!(v.to_string(), s);
    }

    #[test]
    fn canonicalize_is_idempotent(v in arb_value(), seed in any::<u64>()) {
        let mut messy_text = String::new();
        messy(&mut Rng(seed), &v, &mut messy_text);
        let once = canonicalize(&messy_text).unwrap();
        let twice = canonicalize(&once).unwrap();
        prop_assert_eq!(&once, &twice);
        prop_assert_eq!(canonicalize(&v.to_canonical_string()).unwrap(), v.to_canonical_string());
    }

    #[test]
    fn messy_rendering_canonicalizes_to_the_same_string(v in arb_value(), seed in any::<u64>()) {
        let canonical = v.to_canonical_string();
        let mut messy_text = String::new();
        messy(&mut Rng(seed), &v, &mut messy_text);
        prop_assert_eq!(parse(&messy_text), Ok(v.clone()));
        prop_assert_eq!(canonicalize(&messy_text), Ok(canonical.clone()));
        match parse_canonical(&messy_text) {
            Ok(parsed) => {
                prop_assert_eq!(&messy_text, &canonical);
                prop_assert_eq!(parsed, v);
            }
            Err(e) => {
                prop_assert_eq!(e.kind, ParseErrorKind::NotCanonical);
                prop_assert_eq!(e.offset, first_difference(&messy_text, &canonical));
            }
        }
    }

    #[test]
    fn object_keys_are_in_utf16_order(keys in prop::collection::vec(arb_key(), 0..24)) {
        let mut o = Object::new();
        for (i, k) in keys.iter().enumerate() {
            o.insert(k.clone(), i as i64);
        }
        let got: Vec<&str> = o.keys().collect();
        for w in got.windows(2) {
            prop_assert!(w[0].encode_utf16().lt(w[1].encode_utf16()), "{:?}", w);
        }
        for (i, k) in keys.iter().enumerate() {
            // The last insert of each key wins.
            let last = keys.iter().rposition(|x| x == k).unwrap();
            prop_assert_eq!(o.get(k), Some(&Value::Int(last as i64)), "key #{}", i);
        }
        let collected: Object = keys.iter().enumerate().map(|(i, k)| (k.clone(), Value::Int(i as i64))).collect();
        prop_assert_eq!(&collected, &o);
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(o.len(), unique.len());
    }

    #[test]
    fn int_constructor_checks_range(i in any::<i64>()) {
        let ok = (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i);
        prop_assert_eq!(canonical::int(i).is_ok(), ok);
        let parsed = parse(&i.to_string());
        if ok {
            prop_assert_eq!(parsed, Ok(Value::Int(i)));
        } else {
            prop_assert_eq!(parsed.unwrap_err().kind, ParseErrorKind::IntegerOutOfRange);
        }
    }

    #[test]
    fn parse_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        match parse_bytes(&bytes) {
            Ok(v) => check_parsed(&v),
            Err(e) => prop_assert!(e.offset <= bytes.len()),
        }
    }

    #[test]
    fn parse_never_panics_on_json_like_noise(
        bytes in prop::collection::vec(
            prop::sample::select(b"{}[]\":,0123456789-+.eE \t\n\\u/bfnrtD8d0a\xc3\xa9\xf0\x9f\x98\x80".to_vec()),
            0..96,
        )
    ) {
        match parse_bytes(&bytes) {
            Ok(v) => check_parsed(&v),
            Err(e) => prop_assert!(e.offset <= bytes.len()),
        }
    }

    #[test]
    fn parse_never_panics_on_mutated_canonical_text(
        v in arb_value(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..6),
    ) {
        let mut bytes = v.to_canonical_string().into_bytes();
        for (at, op, byte) in edits {
            let len = bytes.len();
            match op {
                0 if len > 0 => bytes[at.index(len)] = byte,
                1 => bytes.insert(at.index(len + 1), byte),
                2 if len > 0 => { bytes.remove(at.index(len)); }
                3 if len > 0 => {
                    // Insert a structural character somewhere: the nastiest single edit.
                    let c = b"{}[],:\"\\"[usize::from(byte) % 8];
                    bytes.insert(at.index(len + 1), c);
                }
                _ => {}
            }
        }
        match parse_bytes(&bytes) {
            Ok(parsed) => check_parsed(&parsed),
            Err(e) => prop_assert!(e.offset <= bytes.len()),
        }
    }
}
