//! Records survive `tracing/max_level_warn`, which compiles INFO spans out entirely.
//!
//! Cargo unifies features across a workspace, so that feature cannot be turned on for a
//! test here without changing every crate's build: the check lives in the standalone crate
//! `examples/static-max-level` (excluded from the workspace), which this test builds and
//! runs (see `standalone/mod.rs`).

mod standalone;

#[test]
fn audited_calls_are_recorded_with_info_spans_compiled_out() {
    let stdout = standalone::run("static-max-level", true);
    assert_eq!(stdout.trim(), "5 audit records verified");
}
