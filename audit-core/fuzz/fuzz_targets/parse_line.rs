//! Fuzz the strict canonical-JSON parser with arbitrary bytes.
//!
//! Run with `cargo +nightly fuzz run parse_line` from `audit-core/`.
//!
//! Properties checked: parsing never panics; error offsets stay within the input; and
//! anything that parses re-serializes to a canonical string that is a fixed point of
//! `canonicalize`, passes `parse_canonical` and yields the same value again.
#![no_main]

use audit_core::canonical;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match canonical::parse_bytes(data) {
        Ok(value) => {
            let canonical_text = value.to_canonical_string();
            let again =
                canonical::canonicalize(&canonical_text).expect("canonical output must parse");
            assert_eq!(again, canonical_text, "canonicalize is not idempotent");
            let reparsed = canonical::parse_canonical(&canonical_text)
                .expect("canonical output must pass parse_canonical");
            assert_eq!(reparsed, value, "round trip changed the value");
            if let Ok(text) = std::str::from_utf8(data) {
                // The input was canonical exactly when it equals its canonical form.
                assert_eq!(
                    canonical::parse_canonical(text).is_ok(),
                    text == canonical_text
                );
            }
        }
        Err(e) => assert!(e.offset <= data.len(), "error offset past the end: {e}"),
    }
});
