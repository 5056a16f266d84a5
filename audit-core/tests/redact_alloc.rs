//! The redaction engine allocates nothing when nothing is redacted: applying the compiled
//! policy to a record without secrets, and redacting clean text, costs no heap allocation.
//! (A counting global allocator, per thread, so parallel tests do not interfere.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::cell::Cell;

use audit_core::canonical::{parse, Value};
use audit_core::redact::Policy;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

const CLEAN: &str = r#"{"@timestamp":"2026-01-01T00:00:00.000000Z","event":{"action":"order.checkout","duration":1234000,"id":"00000000000004d2","outcome":"success","reason":"stock reserved in 2 warehouses"},"fields":{"amount":4999,"currency":"EUR","items":[{"qty":1,"sku":"A-1"},{"qty":2,"sku":"B-7"}],"note":"customer asked for gift wrapping: yes","order_id":"ORD-2026-004211","request":"CheckoutRequest { cart: \"cart-7f3a9c\", coupon: Some(\"SPRING26\"), address: Address { city: \"Lyon\", zip: \"69002\" } }"},"http":{"request":{"id":"req-01HZX3K9Q4J2M8N5P7R6S"}},"resource":{"id":"cart-7f3a9c"},"source":{"ip":"203.0.113.42"},"trace":{"id":"4bf92f3577b34da6a3ce929d0e0e4736"},"user":{"id":"alice@example.com"},"user_agent":{"original":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 – “quoted” é"}}"#;

#[test]
fn nothing_redacted_nothing_allocated() {
    let policy = Policy::default(); // compiled here, not per record
    let Value::Object(mut body) = parse(CLEAN).unwrap() else {
        unreachable!()
    };
    let original = body.clone();
    let mut redactions = None;
    let n = allocations_during(|| redactions = Some(policy.apply(&mut body)));
    assert!(redactions.unwrap().is_empty());
    assert_eq!(body, original);
    assert_eq!(
        n, 0,
        "apply allocated {n} times on a record without secrets"
    );

    let text = "payment of 49.99 EUR for order ORD-2026-004211 failed: upstream timeout (503)";
    let mut out = None;
    let n = allocations_during(|| out = Some(policy.redact_text(text)));
    assert!(matches!(out, Some(Cow::Borrowed(_))));
    assert_eq!(n, 0, "redact_text allocated {n} times on clean text");
}

#[test]
fn redacting_does_allocate_and_the_counter_works() {
    let policy = Policy::default();
    let Value::Object(mut body) = parse(r#"{"fields":{"password":"hunter2"}}"#).unwrap() else {
        unreachable!()
    };
    let n = allocations_during(|| {
        policy.apply(&mut body);
    });
    assert!(n > 0);
}
