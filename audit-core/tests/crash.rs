//! Crash test: a child process writes audited records as fast as it can with
//! `Durability::EveryRecord` and is killed with SIGKILL at a random moment, many times in a
//! row on the same log. After each kill the log must verify (a torn tail reported as such),
//! the next start must continue the chain, and every record the child reported as durable
//! must be present.
//!
//! This test has its own `main` (harness = false): run without arguments it is the parent;
//! with `AUDIT_CRASH_CHILD` set it is the child writer.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use audit_core::keys::{SealingKey, VerificationKey};
use audit_core::record::{Outcome, Record};
use audit_core::sink::file::{FileLog, FileLogOptions};
use audit_core::sink::writer::{Durability, Writer, WriterConfig};
use audit_core::verify::{log_files_in, FindingKind, Verdict, Verifier};

const RUNS: u64 = 12;

fn main() {
    if let Ok(dir) = std::env::var("AUDIT_CRASH_CHILD") {
        child(
            Path::new(&dir),
            std::env::var("AUDIT_CRASH_RUN").unwrap().parse().unwrap(),
        );
        return;
    }
    parent();
}

/// Write records forever; print each record's id once `submit` returned (it is durable).
fn child(dir: &Path, run: u64) {
    let state = dir.join("writer.key");
    let key = SealingKey::load(&state).expect("writer key");
    let opts = FileLogOptions {
        key_state_path: Some(state),
        ..FileLogOptions::default()
    };
    let log = FileLog::open_dir(&dir.join("logs"), "audit", key, opts).expect("open log");
    let config = WriterConfig {
        durability: Durability::EveryRecord,
        rotate_bytes: Some(16 * 1024),
        ..WriterConfig::default()
    };
    let (writer, _guard) = Writer::spawn(log, config).expect("writer");
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let id = format!("{run}-{i}");
        let mut r = Record::new("data.update", Outcome::Success, SystemTime::now()).unwrap();
        r.set_field("id", id.as_str());
        writer.submit(r).expect("submit");
        writeln!(out, "{id}").unwrap();
        out.flush().unwrap();
    }
}

fn ids_in(logs: &Path) -> HashSet<String> {
    let mut ids = HashSet::new();
    for f in log_files_in(logs).unwrap() {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            if let Ok(v) = audit_core::canonical::parse(line) {
                if let Some(id) = v.get_path("fields.id").and_then(|x| x.as_str()) {
                    ids.insert(id.to_owned());
                }
            }
        }
    }
    ids
}

fn verify(logs: &Path, vk: &VerificationKey) -> audit_core::verify::Report {
    Verifier::new(vk.clone().into()).verify_dir(logs).unwrap()
}

/// xorshift: a reproducible sequence of kill points (the moment within the write is up to
/// the scheduler).
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn parent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().to_owned();
    let (sk, vk) = SealingKey::generate("k1", 32).unwrap();
    sk.store(&dir.join("writer.key")).unwrap();
    let logs = dir.join("logs");
    let exe = std::env::current_exe().unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut acked_total = 0usize;
    let mut torn_seen = 0;
    let mut failures = Vec::new();
    for run in 0..RUNS {
        let kill_after = 1 + next(&mut seed) % 150;
        let mut child = Command::new(&exe)
            .env("AUDIT_CRASH_CHILD", &dir)
            .env("AUDIT_CRASH_RUN", run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut acked = Vec::new();
        while (acked.len() as u64) < kill_after {
            match lines.next() {
                Some(Ok(id)) => acked.push(id),
                _ => break,
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Acknowledgements already in the pipe are durable too.
        acked.extend(lines.map_while(Result::ok));
        acked_total += acked.len();
        let report = verify(&logs, &vk);
        let verdict = report.verdict();
        if verdict == Verdict::IncompleteTail {
            torn_seen += 1;
        }
        if !matches!(verdict, Verdict::Ok | Verdict::IncompleteTail) {
            failures.push(format!("run {run}: {verdict}: {:?}", report.findings));
        }
        let present = ids_in(&logs);
        let missing: Vec<&String> = acked.iter().filter(|id| !present.contains(*id)).collect();
        if !missing.is_empty() {
            failures.push(format!(
                "run {run}: acknowledged records missing: {missing:?}"
            ));
        }
    }
    // One last clean start and stop: every torn tail is now documented.
    let key = SealingKey::load(&dir.join("writer.key")).unwrap();
    let log = FileLog::open_dir(&logs, "audit", key, FileLogOptions::default()).unwrap();
    let (_w, guard) = Writer::spawn(log, WriterConfig::default()).unwrap();
    guard.shutdown().unwrap();
    let report = verify(&logs, &vk);
    let recovered = report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Recovered)
        .count();
    if report.verdict() != Verdict::Ok {
        failures.push(format!(
            "final: {}: {:?}",
            report.verdict(),
            report.findings
        ));
    }
    let files = log_files_in(&logs).unwrap().len();
    println!(
        "crash test: {RUNS} SIGKILLs, {acked_total} acknowledged records all present, {torn_seen} torn tails seen, {recovered} documented, {files} files, {} records verified",
        report.verified
    );
    if failures.is_empty() {
        println!("crash: 1 passed, 0 failed");
    } else {
        for f in &failures {
            eprintln!("FAIL {f}");
        }
        println!("crash: 0 passed, 1 failed");
        std::process::exit(1);
    }
}
