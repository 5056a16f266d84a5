//! Compile-fail tests for `#[audited]` and `audit_event!`: each file under
//! `tests/ui/` is one misuse, and its `.stderr` shows the error(s) it must
//! produce, pointing at the offending tokens.
//!
//! Regenerate the expected output after an intended change with
//! `TRYBUILD=overwrite cargo test -p audit-layer --test ui`, then review every
//! changed `.stderr`. The output depends on the compiler version, so the test
//! only runs on the toolchain it was generated with (see `EXPECTED_RUSTC`).

/// The `rustc` minor version the `.stderr` files were generated with.
const EXPECTED_RUSTC: &str = "1.95";

#[test]
fn ui() {
    let version =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned()))
            .arg("--version")
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
            .unwrap_or_default();
    if !version.starts_with(&format!("rustc {EXPECTED_RUSTC}.")) {
        eprintln!(
            "skipping UI tests: they were generated with rustc {EXPECTED_RUSTC}, this is {version}"
        );
        return;
    }
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
