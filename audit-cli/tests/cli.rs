//! End-to-end tests of the `audit-log` binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use audit_core::keys::{SealingKey, VerificationKey};
use audit_core::sink::file::{FileLog, FileLogOptions};

const BIN: &str = env!("CARGO_BIN_EXE_audit-log");

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The binary, with no key taken from the caller's environment.
fn cmd() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("AUDIT_LOG_VERIFY_KEYS")
        .env_remove("AUDIT_LOG_SEALING_KEY");
    c
}

fn run(c: &mut Command) -> Out {
    let o = c.output().expect("run audit-log");
    Out {
        code: o.status.code().expect("exit code"),
        stdout: String::from_utf8(o.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(o.stderr).expect("utf-8 stderr"),
    }
}

fn audit_log(args: &[&str]) -> Out {
    run(cmd().args(args))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A temporary directory with a key (state + keyring file) and a log path.
struct Setup {
    dir: tempfile::TempDir,
    state: PathBuf,
    keyring: PathBuf,
    log: PathBuf,
    witness: PathBuf,
}

impl Setup {
    fn new(kid: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("writer.key");
        let keyring = dir.path().join("auditor.vk");
        let out = audit_log(&[
            "keygen",
            "--kid",
            kid,
            "--state",
            s(&state),
            "--epoch-len",
            "2",
        ]);
        assert_eq!(out.code, 0, "{out:?}");
        fs::write(&keyring, &out.stdout).unwrap();
        Setup {
            log: dir.path().join("audit.log"),
            witness: dir.path().join("audit.witness"),
            dir,
            state,
            keyring,
        }
    }

    fn emit(&self, event: &str, extra: &[&str]) -> Out {
        let mut c = cmd();
        c.args([
            "emit",
            "--log",
            s(&self.log),
            "--state",
            s(&self.state),
            "--event",
            event,
        ]);
        c.args(extra);
        run(&mut c)
    }

    fn emit_ok(&self, event: &str, extra: &[&str]) {
        let out = self.emit(event, extra);
        assert_eq!(out.code, 0, "{out:?}");
    }

    fn verify(&self, extra: &[&str]) -> Out {
        let mut c = cmd();
        c.args([
            "verify",
            s(&self.log),
            "--key",
            s(&self.keyring),
            "--no-progress",
        ]);
        c.args(extra);
        run(&mut c)
    }

    fn lines(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn keygen_writes_a_private_state_and_prints_a_parseable_verification_key() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("w.key");
    let vk_out = dir.path().join("copy.vk");
    let out = audit_log(&[
        "keygen",
        "--kid",
        "web1-2026",
        "--state",
        s(&state),
        "--verification-key-out",
        s(&vk_out),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    let vk: VerificationKey = out.stdout.trim().parse().unwrap();
    assert_eq!(vk.kid(), "web1-2026");
    assert_eq!(vk.epoch_len(), 1024);
    assert!(out.stderr.contains("offline"), "{out:?}");
    assert!(
        !out.stderr.contains(out.stdout.trim()),
        "the key must be printed once"
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&state), 0o600);
        assert_eq!(mode(&vk_out), 0o600);
    }
    let sk = SealingKey::load(&state).unwrap();
    assert_eq!((sk.kid(), sk.epoch()), ("web1-2026", 0));
    assert_eq!(
        fs::read_to_string(&vk_out).unwrap().trim(),
        out.stdout.trim()
    );

    // The verification key file is never overwritten, and a failure leaves no new state.
    let state2 = dir.path().join("w2.key");
    let out = audit_log(&[
        "keygen",
        "--kid",
        "k2",
        "--state",
        s(&state2),
        "--verification-key-out",
        s(&vk_out),
    ]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("already exists"), "{out:?}");
    assert!(!state2.exists());
}

#[test]
fn keygen_refuses_to_overwrite_a_state_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("w.key");
    assert_eq!(
        audit_log(&["keygen", "--kid", "k1", "--state", s(&state)]).code,
        0
    );
    let before = fs::read_to_string(&state).unwrap();
    let out = audit_log(&["keygen", "--kid", "k1", "--state", s(&state)]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("already exists") && out.stderr.contains("--force"),
        "{out:?}"
    );
    assert!(out.stdout.is_empty(), "no key may be printed: {out:?}");
    assert_eq!(fs::read_to_string(&state).unwrap(), before);
    let out = audit_log(&["keygen", "--kid", "k1", "--state", s(&state), "--force"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_ne!(fs::read_to_string(&state).unwrap(), before);
}

#[test]
fn keygen_rejects_a_bad_kid_and_epoch_length() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("w.key");
    let out = audit_log(&["keygen", "--kid", "bad kid", "--state", s(&state)]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("invalid key id"), "{out:?}");
    let out = audit_log(&[
        "keygen",
        "--kid",
        "k1",
        "--state",
        s(&state),
        "--epoch-len",
        "0",
    ]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(!state.exists());
}

#[test]
fn emit_twice_then_verify_is_ok() {
    let t = Setup::new("k1");
    let out = t.emit(
        "auth.login",
        &[
            "--actor",
            "alice",
            "--outcome",
            "denied",
            "--reason",
            "bad password",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("sealed seq 1 mac "), "{out:?}");
    let out = t.emit("auth.logout", &["--actor", "alice", "-q", "--no-sync"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    let out = t.verify(&[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("verdict: OK"), "{out:?}");
    assert!(out.stdout.contains("3 records verified"), "{out:?}");
    assert!(out.stdout.contains("seq 0..2"), "{out:?}");
    assert!(out.stdout.contains("key ids: k1"), "{out:?}");
    #[cfg(unix)]
    assert_eq!(mode(&t.log), 0o600);
}

#[test]
fn emit_builds_the_record_from_its_options() {
    let t = Setup::new("k1");
    t.emit_ok(
        "iam.role.grant",
        &[
            "--actor",
            "alice",
            "--source-ip",
            "2001:db8::1",
            "--field",
            "role=admin",
            "--field",
            "source.port:=443",
            "--field",
            r#"target:={"user":"bob","mfa":true}"#,
            "--outcome",
            "failure",
        ],
    );
    let line = t.lines().pop().unwrap();
    let v = audit_core::canonical::parse(&line).unwrap();
    let get = |p: &str| v.get_path(p).map(|x| x.to_canonical_string());
    assert_eq!(get("event.action").as_deref(), Some(r#""iam.role.grant""#));
    assert_eq!(get("event.outcome").as_deref(), Some(r#""failure""#));
    assert_eq!(get("user.id").as_deref(), Some(r#""alice""#));
    assert_eq!(get("source.ip").as_deref(), Some(r#""2001:db8::1""#));
    assert_eq!(get("source.port").as_deref(), Some("443"));
    assert_eq!(get("fields.role").as_deref(), Some(r#""admin""#));
    assert_eq!(
        get("fields.target").as_deref(),
        Some(r#"{"mfa":true,"user":"bob"}"#)
    );

    // Bad arguments fail before the log is touched.
    let before = fs::read(&t.log).unwrap();
    for bad in [
        t.emit("Auth.Login", &[]),
        t.emit("auth.login", &["--field", "audit.seq:=1"]),
        t.emit("auth.login", &["--field", "x:=1.5"]),
        t.emit("auth.login", &["--source-ip", "not-an-ip"]),
    ] {
        assert_eq!(bad.code, 2, "{bad:?}");
    }
    assert_eq!(fs::read(&t.log).unwrap(), before);
}

#[test]
fn emit_takes_the_key_from_the_environment_without_state() {
    let t = Setup::new("k1");
    let sk = fs::read_to_string(&t.state).unwrap();
    let out = run(cmd()
        .args(["emit", "--log", s(&t.log), "--event", "auth.login"])
        .env("AUDIT_LOG_SEALING_KEY", sk.trim()));
    assert_eq!(out.code, 0, "{out:?}");
    let out = audit_log(&["emit", "--log", s(&t.log), "--event", "auth.login"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("AUDIT_LOG_SEALING_KEY"), "{out:?}");
    // The verification keys can come from the environment too.
    let vk = fs::read_to_string(&t.keyring).unwrap();
    let out = run(cmd()
        .args(["verify", s(&t.log)])
        .env("AUDIT_LOG_VERIFY_KEYS", vk.trim()));
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn an_edited_byte_is_tampered_with_file_line_and_seq() {
    let t = Setup::new("k1");
    t.emit_ok("auth.login", &["--actor", "alice"]);
    t.emit_ok("auth.login", &["--actor", "bob"]);
    let text = fs::read_to_string(&t.log).unwrap();
    fs::write(&t.log, text.replacen("\"alice\"", "\"alicf\"", 1)).unwrap();
    let out = t.verify(&[]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout
            .contains(&format!("TAMPERED {}:2 seq 1", t.log.display())),
        "{out:?}"
    );
    assert!(out.stdout.contains("MAC mismatch"), "{out:?}");
    assert!(out.stdout.contains("verdict: TAMPERED"), "{out:?}");
}

#[test]
fn a_cut_off_end_is_truncated_when_a_witness_vouches_for_it() {
    let t = Setup::new("k1");
    for _ in 0..3 {
        t.emit_ok("auth.login", &["--witness", s(&t.witness)]);
    }
    let witness = ["--witness", s(&t.witness)];
    assert_eq!(t.verify(&witness).code, 0);
    let mut lines = t.lines();
    lines.pop();
    fs::write(&t.log, lines.join("\n") + "\n").unwrap();
    // Without the witness nothing shows; with it, the cut is caught.
    assert_eq!(t.verify(&[]).code, 0);
    let out = t.verify(&witness);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stdout.contains("TRUNCATED"), "{out:?}");
}

#[test]
fn a_torn_last_line_is_an_incomplete_tail() {
    let t = Setup::new("k1");
    t.emit_ok("auth.login", &[]);
    let mut f = fs::OpenOptions::new().append(true).open(&t.log).unwrap();
    std::io::Write::write_all(&mut f, br#"{"@timestamp":"2026-"#).unwrap();
    drop(f);
    let out = t.verify(&[]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stdout.contains("INCOMPLETE_TAIL"), "{out:?}");
    // The next writer documents the torn line; the log verifies again.
    t.emit_ok("auth.login", &[]);
    let out = t.verify(&[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("RECOVERED"), "{out:?}");
}

#[test]
fn a_wrong_key_is_a_mac_mismatch_and_an_unknown_kid_is_unknown_key() {
    let t = Setup::new("k1");
    t.emit_ok("auth.login", &[]);
    let other = Setup::new("k1");
    let out = run(cmd().args(["verify", s(&t.log), "--key", s(&other.keyring)]));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("MAC mismatch"), "{out:?}");
    let stranger = Setup::new("k2");
    let out = run(cmd().args(["verify", s(&t.log), "--key", s(&stranger.keyring)]));
    assert_eq!(out.code, 6, "{out:?}");
    assert!(out.stdout.contains("UNKNOWN_KEY"), "{out:?}");
    // A keyring with both kids verifies.
    let both = t.dir.path().join("both.vk");
    let ring = fs::read_to_string(&stranger.keyring).unwrap()
        + "# comment\n\n"
        + &fs::read_to_string(&t.keyring).unwrap();
    fs::write(&both, ring).unwrap();
    assert_eq!(
        run(cmd().args(["verify", s(&t.log), "--key", s(&both)])).code,
        0
    );
}

#[test]
fn state_catches_a_rollback_to_an_older_copy() {
    let t = Setup::new("k1");
    let vstate = t.dir.path().join("verifier.state");
    t.emit_ok("auth.login", &[]);
    let old = fs::read(&t.log).unwrap();
    t.emit_ok("auth.login", &[]);
    t.emit_ok("auth.login", &[]);
    let out = t.verify(&["--state", s(&vstate)]);
    assert_eq!(out.code, 0, "{out:?}");
    let saved = fs::read_to_string(&vstate).unwrap();
    assert!(saved.contains("\"seq\":3"), "{saved}");
    fs::write(&t.log, old).unwrap();
    let out = t.verify(&["--state", s(&vstate)]);
    assert_eq!(out.code, 5, "{out:?}");
    assert!(out.stdout.contains("ROLLED_BACK"), "{out:?}");
    assert_eq!(
        fs::read_to_string(&vstate).unwrap(),
        saved,
        "a failed run must not move the state"
    );
}

#[test]
fn json_report_parses_and_has_the_verdict() {
    let t = Setup::new("k1");
    t.emit_ok("auth.login", &[]);
    let out = t.verify(&["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "OK");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["verified"], 2);
    fs::write(
        &t.log,
        fs::read_to_string(&t.log)
            .unwrap()
            .replacen("auth.login", "auth.logon", 1),
    )
    .unwrap();
    let out = t.verify(&["--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "TAMPERED");
    assert_eq!(v["findings"][0]["line"], 2);
    assert_eq!(v["findings"][0]["seq"], 1);
}

#[test]
fn key_problems_exit_2_with_a_clear_message() {
    let t = Setup::new("k1");
    t.emit_ok("auth.login", &[]);
    let missing = t.dir.path().join("nope.vk");
    let out = run(cmd().args(["verify", s(&t.log), "--key", s(&missing)]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("cannot read the keyring") && out.stderr.contains("nope.vk"),
        "{out:?}"
    );
    assert!(out.stdout.is_empty(), "{out:?}");

    let short = t.dir.path().join("short.vk");
    fs::write(&short, format!("audit-vk-v1:k1:2:{}\n", "ab".repeat(16))).unwrap();
    let out = run(cmd().args(["verify", s(&t.log), "--key", s(&short)]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("at least 32"), "{out:?}");

    let bad = t.dir.path().join("bad.vk");
    fs::write(
        &bad,
        format!(
            "# ring\n{}\ngarbage\n",
            fs::read_to_string(&t.keyring).unwrap().trim()
        ),
    )
    .unwrap();
    let out = run(cmd().args(["verify", s(&t.log), "--key", s(&bad)]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("line 3"), "{out:?}");

    // A sealing state given as a verification key gets a hint.
    let out = run(cmd().args(["verify", s(&t.log), "--key", s(&t.state)]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("sealing state"), "{out:?}");

    let out = run(cmd().args(["verify", s(&t.log)]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("AUDIT_LOG_VERIFY_KEYS"), "{out:?}");

    let out = run(cmd().args([
        "verify",
        s(&t.dir.path().join("absent.log")),
        "--key",
        s(&t.keyring),
    ]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("absent.log"), "{out:?}");
}

#[test]
fn verify_reads_a_directory_in_name_order_and_reserialized_exports() {
    let t = Setup::new("k1");
    t.emit_ok("auth.login", &[]);
    let logs = t.dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    fs::copy(&t.log, logs.join("audit.log")).unwrap();
    fs::write(logs.join("audit.witness"), "").unwrap();
    let out = run(cmd().args(["verify", s(&logs), "--key", s(&t.keyring)]));
    assert_eq!(out.code, 0, "{out:?}");
    let out = run(cmd().args(["verify", s(&logs), s(&t.log), "--key", s(&t.keyring)]));
    assert_eq!(out.code, 2, "{out:?}");

    // A SIEM export: same records, other whitespace, another file name.
    let export = t.dir.path().join("export.ndjson");
    let text: String = t
        .lines()
        .iter()
        .map(|l| l.replacen('{', "{ ", 1) + "\n")
        .collect();
    fs::write(&export, text).unwrap();
    assert_eq!(
        run(cmd().args(["verify", s(&export), "--key", s(&t.keyring)])).code,
        1
    );
    let out = run(cmd().args([
        "verify",
        s(&export),
        "--key",
        s(&t.keyring),
        "--reserialized",
    ]));
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn show_filters_by_event_actor_and_more() {
    let t = Setup::new("k1");
    t.emit_ok(
        "auth.login",
        &[
            "--actor",
            "alice",
            "--source-ip",
            "192.0.2.7",
            "--field",
            "session.id=s1",
        ],
    );
    t.emit_ok(
        "auth.login",
        &[
            "--actor",
            "bob",
            "--outcome",
            "denied",
            "--reason",
            "bad password",
        ],
    );
    t.emit_ok(
        "iam.role.grant",
        &["--actor", "alice", "--field", "role=admin"],
    );
    let show = |extra: &[&str]| {
        let out = run(cmd().arg("show").arg(&t.log).args(extra));
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stderr.contains("NOT verified"), "{out:?}");
        out
    };
    let out = show(&["--event", "auth.*"]);
    assert_eq!(out.stdout.lines().count(), 2, "{out:?}");
    assert!(
        out.stdout.lines().all(|l| l.contains("auth.login")),
        "{out:?}"
    );
    let out = show(&["--actor", "alice"]);
    assert_eq!(out.stdout.lines().count(), 2, "{out:?}");
    assert!(
        out.stdout.contains("iam.role.grant") && out.stdout.contains("192.0.2.7"),
        "{out:?}"
    );
    assert!(out.stdout.contains("fields.role=admin"), "{out:?}");
    let out = show(&["--event", "auth", "--actor", "alice"]);
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    let out = show(&["--outcome", "denied"]);
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    assert!(
        out.stdout.contains("bob") && out.stdout.contains("\"bad password\""),
        "{out:?}"
    );
    let out = show(&["--session", "s1"]);
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    let out = show(&["--field", "role=admin"]);
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    let out = show(&["--since", "2000-01-01", "--until", "2000-01-02"]);
    assert_eq!(out.stdout.lines().count(), 0, "{out:?}");
    let out = show(&["--since", "2000-01-01T00:00:00Z"]);
    assert_eq!(out.stdout.lines().count(), 4, "{out:?}");

    // --json prints the lines unchanged.
    let out = show(&["--actor", "bob", "--json"]);
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [t.lines()[2].as_str()]
    );
}

#[test]
fn show_warns_about_malformed_lines_and_goes_on() {
    let t = Setup::new("k1");
    t.emit_ok("auth.login", &["--actor", "alice"]);
    let mut text = fs::read_to_string(&t.log).unwrap();
    text.insert_str(0, "not json\n");
    text.push_str("{\"user\":{\"id\":\"x\\u001b[31m\u{9b}\"}}\n[1]\n");
    fs::write(&t.log, text).unwrap();
    let out = run(cmd().arg("show").arg(&t.log));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains(&format!("{}:1:", t.log.display())),
        "{out:?}"
    );
    assert!(
        out.stderr.contains(&format!("{}:5:", t.log.display())),
        "{out:?}"
    );
    assert_eq!(out.stdout.lines().count(), 3, "{out:?}");
    assert!(
        !out.stdout.contains('\u{1b}'),
        "control characters must be escaped: {out:?}"
    );
    assert!(out.stdout.contains("\\u001b"), "{out:?}");
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        &["--help"][..],
        &["help"],
        &["keygen", "--help"],
        &["emit", "--help"],
        &["verify", "--help"],
        &["show", "--help"],
        &["verify", "-h"],
    ] {
        let out = audit_log(args);
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert!(out.stdout.contains("Usage"), "{args:?}: {out:?}");
    }
    assert!(audit_log(&["verify", "--help"])
        .stdout
        .contains("ROLLED_BACK"));
    assert!(audit_log(&["show", "--help"])
        .stdout
        .contains("DOES NOT VERIFY"));
    assert_eq!(audit_log(&[]).code, 2);
    assert_eq!(audit_log(&["frobnicate"]).code, 2);
}

#[test]
fn a_second_writer_is_refused_while_the_log_is_locked() {
    let t = Setup::new("k1");
    t.emit_ok("auth.login", &[]);
    let before = fs::read(&t.log).unwrap();
    let held = FileLog::open(
        &t.log,
        SealingKey::load(&t.state).unwrap(),
        FileLogOptions::default(),
    )
    .unwrap();
    let out = t.emit("auth.login", &[]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("locked"), "{out:?}");
    assert_eq!(fs::read(&t.log).unwrap(), before);
    drop(held);
    t.emit_ok("auth.login", &[]);
    assert_eq!(t.verify(&[]).code, 0);
}

#[test]
fn a_log_restarted_as_a_new_chain_is_flagged_against_the_witness() {
    let t = Setup::new("k1");
    let epoch0 = t.dir.path().join("epoch0.key");
    fs::copy(&t.state, &epoch0).unwrap();
    t.emit_ok("auth.login", &["--witness", s(&t.witness)]);
    fs::remove_file(&t.log).unwrap();
    let out = run(cmd().args([
        "emit",
        "--log",
        s(&t.log),
        "--state",
        s(&epoch0),
        "--event",
        "auth.login",
    ]));
    assert_eq!(out.code, 0, "{out:?}");
    let out = t.verify(&["--witness", s(&t.witness)]);
    assert!(out.stderr.contains("not found in this log"), "{out:?}");
}

#[test]
fn emit_redacts_secrets_passed_as_fields() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("writer.key");
    let log = dir.path().join("audit.log");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_audit-log"))
        .args(["keygen", "--kid", "k1", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_audit-log"))
        .args(["emit", "--log"])
        .arg(&log)
        .arg("--state")
        .arg(&state)
        .args([
            "--event",
            "deploy.release",
            "--field",
            "api_token=ghp_0123456789abcdefghijABCDEFGHIJklmnopqr",
            "--field",
            "version=1.4.2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("ghp_0123456789"), "{text}");
    assert!(
        text.contains("1.4.2")
            && text.contains("\"redaction\":{\"fields\":[\"fields.api_token\"]}"),
        "{text}"
    );
}
