//! Building and running the standalone crates under `examples/` that the workspace cannot
//! hold (they enable features that Cargo would unify into every member).
//!
//! They share one target directory, `<target>/standalone`, kept between runs: the first
//! build compiles their dependencies once more (about 20 s for the first crate, 10 s for the
//! next here), later runs only relink.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `<target>/debug/deps/<test>-<hash>` → `<target>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    match deps.parent().and_then(Path::parent) {
        Some(target) if deps.ends_with("deps") => target.to_path_buf(),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}

/// `cargo run` the crate `examples/<name>` with a fresh log directory as its argument;
/// panics unless it succeeds, and returns what it printed.
///
/// The crate's `Cargo.lock` (git-ignored) is first replaced by the workspace's, so that it
/// uses the same versions as the workspace — already downloaded, and mostly already built
/// for another crate in the shared target directory. `offline`: every dependency is also
/// one of the workspace's, so the registry is never needed.
pub fn run(name: &str, offline: bool) -> String {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = workspace.join("examples").join(name);
    let manifest = dir.join("Cargo.toml");
    std::fs::copy(workspace.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let log_dir = tempfile::tempdir().unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["run", "--quiet", "--manifest-path"])
        .arg(&manifest);
    if offline {
        command.arg("--offline");
    }
    let output = command
        .arg("--")
        .arg(log_dir.path())
        .env("CARGO_TARGET_DIR", target_dir().join("standalone"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{}: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        manifest.display(),
        output.status
    );
    stdout
}
