//! The benchmark runs end to end and prints its table (tiny N: this checks the harness, not
//! the numbers).

use std::process::Command;

#[test]
fn quick_run_prints_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_audit-bench"))
        .args([
            "--quick",
            "--runs",
            "1",
            "--records",
            "300",
            "--rows",
            "1,3,6",
        ])
        .args(["--sustained-records", "1000", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("| row | workload |"), "{stdout}");
    for row in [
        "| 1a |", "| 1b |", "| 3a |", "| 3b |", "| 3c |", "| 6a |", "| 6b |",
    ] {
        assert!(stdout.contains(row), "{row} missing:\n{stdout}");
    }
    assert!(stdout.contains("targets:"), "{stdout}");
}
