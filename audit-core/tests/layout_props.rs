//! Records written from a cached layout are byte for byte what the tree path writes
//! (`FlatRecord::into_record`, `Policy::apply_record`, `Unsealed::from`), for random records,
//! values and policies; and the layout is really used for records that repeat their names.

use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use audit_core::canonical::{Object, Value};
use audit_core::flat::FlatRecord;
use audit_core::layout::LayoutCache;
use audit_core::record::Outcome;
use audit_core::redact::{Action, Policy, PseudonymKey};
use proptest::prelude::*;

/// `'static` paths (the cache keys on their addresses), colliding ones included.
const PATHS: &[&str] = &[
    "user.id",
    "user.name",
    "user",
    "user.id.x",
    "source.ip",
    "http.request.id",
    "http.request.method",
    "session.id",
    "card.number",
    "event.reason",
    "event.id",
    "event.parent_id",
    "error.message",
    "redaction.fields",
    "redaction",
    "trace.id",
    "resource.id",
    "a",
    "a.b",
    "a.b.c",
    "a-b.c",
    "é.ü",
    "\u{1F600}.x",
    "\u{E000}",
    "A.B",
    "url.full",
    "destination.ip",
    "client.ip",
    "user_agent.original",
];

const FIELD_NAMES: &[&str] = &[
    "password",
    "x",
    "api_key",
    "a.b",
    "redaction",
    "method",
    "order_id",
    "token",
    "",
    "session.id",
    "card",
    "é.x",
    "count",
];

const STRINGS: &[&str] = &[
    "",
    "plain",
    "hunter2",
    "u-123456",
    "203.0.113.7",
    "4111 1111 1111 1111",
    "Bearer abcdefghijklmnopqrstuvwxyz",
    "password=secret&user=bob",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
    "[REDACTED]",
    "AKIAIOSFODNN7EXAMPLE",
    "postgres://app:s3cr3t@db/main",
    "line\nbreak \u{2028} \u{202E}x",
    "café 😀",
    "\u{0}\u{1}0\u{1}",
    "\"quoted\" \\ back",
];

fn arb_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![Just(4_111_111_111_111_111i64), -5i64..100_000].prop_map(Value::Int),
        prop::sample::select(STRINGS).prop_map(Value::from),
        "[a-z0-9 =:]{0,12}".prop_map(Value::from),
        Just(Value::from("x".repeat(5000))),
    ]
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => arb_scalar(),
        1 => prop::collection::vec(arb_scalar(), 0..3).prop_map(Value::Array),
        1 => prop::collection::vec((prop::sample::select(FIELD_NAMES), arb_scalar()), 0..3)
            .prop_map(|members| {
                let mut o = Object::new();
                for (k, v) in members {
                    o.insert(k, v);
                }
                Value::Object(o)
            }),
    ]
}

/// Where a member goes; its value is drawn separately, twice.
#[derive(Clone, Debug)]
enum Name {
    Set(&'static str),
    /// A path built at run time (never cached).
    SetOwned(&'static str),
    Field(&'static str),
    Actor,
    Reason,
    Duration,
}

fn arb_name() -> impl Strategy<Value = Name> {
    prop_oneof![
        5 => prop::sample::select(PATHS).prop_map(Name::Set),
        1 => prop::sample::select(PATHS).prop_map(Name::SetOwned),
        3 => prop::sample::select(FIELD_NAMES).prop_map(Name::Field),
        1 => Just(Name::Actor),
        1 => Just(Name::Reason),
        1 => Just(Name::Duration),
    ]
}

fn build(outcome: Outcome, names: &[Name], values: &[Value]) -> FlatRecord {
    let at = UNIX_EPOCH + Duration::from_micros(1_764_064_800_123_456);
    let mut flat = FlatRecord::new("auth.login", outcome, at).unwrap();
    for (name, value) in names.iter().zip(values) {
        let value = value.clone();
        match name {
            Name::Set(p) => {
                let _ = flat.set(*p, value); // reserved paths are refused, as on a Record
            }
            Name::SetOwned(p) => {
                let _ = flat.set(p.to_string(), value);
            }
            Name::Field(n) => flat.set_field(*n, value),
            Name::Actor => flat.set_actor(value),
            Name::Reason => flat.set_reason(value.as_str().unwrap_or("reason").to_owned()),
            Name::Duration => flat.set_duration(Duration::from_nanos(
                value.as_i64().map_or(7, |i| i.unsigned_abs()),
            )),
        }
    }
    flat
}

fn policies() -> &'static [Policy] {
    static POLICIES: OnceLock<Vec<Policy>> = OnceLock::new();
    POLICIES.get_or_init(|| {
        vec![
            Policy::builtin().clone(),
            Policy::builder()
                .allow_field("fields.*")
                .field_action("fields.token", Action::Remove)
                .name_action("password", Action::Remove)
                .build()
                .unwrap(),
            Policy::builder()
                .sensitive_name("http")
                .sensitive_name("card")
                .allow_name("session")
                .allow_field("user")
                .build()
                .unwrap(),
            Policy::builder()
                .pseudonym_key(PseudonymKey::new([7u8; 32]).unwrap())
                .name_action("token", Action::KeyedHash)
                .name_action("number", Action::Partial)
                .field_action("*.id", Action::Remove)
                .max_value_bytes(64)
                .build()
                .unwrap(),
        ]
    })
}

thread_local! {
    static CACHE: RefCell<LayoutCache> = RefCell::new(LayoutCache::new());
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop::sample::select(Outcome::ALL.to_vec())
}

fn case() -> impl Strategy<Value = (Outcome, Vec<Name>, Vec<Value>, Vec<Value>)> {
    (outcome(), prop::collection::vec(arb_name(), 0..10)).prop_flat_map(|(o, names)| {
        let n = names.len();
        (
            Just(o),
            Just(names),
            prop::collection::vec(arb_value(), n),
            prop::collection::vec(arb_value(), n),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn layouts_write_what_the_tree_writes((outcome, names, first, second) in case()) {
        for policy in policies() {
            for values in [&first, &second, &first] {
                let flat = build(outcome, &names, values);
                let tree = flat.clone().into_unsealed(policy);
                let cached = CACHE.with(|c| c.borrow_mut().unsealed(flat, policy));
                prop_assert_eq!(cached, tree);
            }
        }
    }

}

/// Random records too are written from layouts when their second set of values comes,
/// unless their names collide or the policy redacts a name or a value.
#[test]
fn random_records_use_layouts() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = case();
    let (mut hits, mut cases) = (0, 0);
    for _ in 0..2000 {
        let (outcome, names, first, second) = strategy.new_tree(&mut runner).unwrap().current();
        let mut cache = LayoutCache::new();
        for values in [&first, &second] {
            let flat = build(outcome, &names, values);
            let tree = flat.clone().into_unsealed(Policy::builtin());
            assert_eq!(cache.unsealed(flat, Policy::builtin()), tree);
        }
        hits += cache.stats().hits;
        cases += 1;
    }
    assert!(
        hits * 5 > cases,
        "{hits} of {cases} second records from a layout"
    );
}

/// The records an audited call builds (clean values, the same names each time) are
/// written from the layout after the first, and agree with the tree.
#[test]
fn repeated_names_are_written_from_the_layout() {
    let mut cache = LayoutCache::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..500u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        for o in [Outcome::Success, Outcome::Failure] {
            let mut flat = FlatRecord::new(
                "auth.login",
                o,
                UNIX_EPOCH + Duration::from_micros(x % 1_000_000_000),
            )
            .unwrap();
            flat.set_actor(format!("user-{}@example.com", x % 1000));
            flat.set("source.ip", format!("203.0.113.{}", x % 256))
                .unwrap();
            flat.set("http.request.id", format!("{x:016x}-4bf9"))
                .unwrap();
            flat.set_field("attempt", (i % 7) as i64);
            flat.set_duration(Duration::from_nanos(x % 10_000_000));
            flat.set("event.id", format!("{:016x}", i)).unwrap();
            let tree = flat.clone().into_unsealed(Policy::builtin());
            assert_eq!(cache.unsealed(flat, Policy::builtin()), tree);
        }
    }
    let stats = cache.stats();
    // Success and failure set the same names (only `event.outcome`'s value differs).
    assert_eq!(stats.misses, 1, "{stats:?}");
    assert_eq!(stats.hits, 999, "{stats:?}");
    assert_eq!(stats.tree, 0, "{stats:?}");

    // A secret in a value: the policy redacts it, which only the tree path does.
    let mut flat = FlatRecord::new("auth.login", Outcome::Success, UNIX_EPOCH).unwrap();
    flat.set_actor("user-1@example.com");
    flat.set("source.ip", "4111 1111 1111 1111").unwrap();
    flat.set("http.request.id", "r").unwrap();
    flat.set_field("attempt", 1);
    flat.set_duration(Duration::from_nanos(5));
    flat.set("event.id", "00").unwrap();
    let tree = flat.clone().into_unsealed(Policy::builtin());
    assert!(
        tree.json()
            .contains("\"redaction\":{\"fields\":[\"source.ip\"]}"),
        "{}",
        tree.json()
    );
    assert_eq!(cache.unsealed(flat, Policy::builtin()), tree);
    assert_eq!(cache.stats().tree, 1);
}
