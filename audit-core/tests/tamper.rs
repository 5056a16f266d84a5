//! The tamper matrix: every way of editing a log that the format promises to catch.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use audit_core::canonical::{parse, Value};
use audit_core::checkpoint::Checkpoint;
use audit_core::keys::{Keyring, SealingKey, VerificationKey};
use audit_core::record::{Outcome, Record};
use audit_core::seal::Sealer;
use audit_core::sink::file::{FileLog, FileLogOptions};
use audit_core::verify::{FindingKind, Verdict, Verifier, VerifierState, VerifyOptions};

const EPOCH_LEN: u64 = 4;

fn record(i: u64) -> Record {
    let t = UNIX_EPOCH + Duration::from_secs(1_764_064_800 + i);
    let outcome = if i.is_multiple_of(3) {
        Outcome::Denied
    } else {
        Outcome::Success
    };
    let mut r = Record::new("auth.login", outcome, t).unwrap();
    r.set_actor(format!("user{i}@example.com"));
    r.set("source.ip", "192.0.2.10").unwrap();
    r.set_field("attempt", i as i64);
    r.set_field("note", "naïve ☃ \u{1F600} \"quoted\"");
    r
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    vk: VerificationKey,
    checkpoint: Checkpoint,
}

/// A log of `files` files with `per_file` records each (plus headers), rotated in order.
fn fixture(files: usize, per_file: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (sk, vk) = SealingKey::generate("k1", EPOCH_LEN).unwrap();
    let path = |i: usize| dir.path().join(format!("audit-{i:04}.log"));
    let mut log = FileLog::open(&path(0), sk, FileLogOptions::default()).unwrap();
    let mut n = 0;
    for f in 0..files {
        if f > 0 {
            log.rotate_to(&path(f)).unwrap();
        }
        for _ in 0..per_file {
            log.append(record(n)).unwrap();
            n += 1;
        }
    }
    let checkpoint = log.sealer().checkpoint(UNIX_EPOCH).unwrap();
    Fixture {
        dir: dir.path().to_owned(),
        _dir: dir,
        vk,
        checkpoint,
    }
}

impl Fixture {
    fn files(&self) -> Vec<PathBuf> {
        audit_core::verify::log_files_in(&self.dir).unwrap()
    }
    fn one_file_text(&self) -> String {
        fs::read_to_string(&self.files()[0]).unwrap()
    }
    fn verifier(&self) -> Verifier {
        Verifier::new(self.vk.clone().into())
    }
    fn witnessed(&self) -> Verifier {
        self.verifier()
            .with_checkpoints(vec![self.checkpoint.clone()])
    }
}

fn verify_text(v: &mut Verifier, name: &str, text: &str) -> audit_core::verify::Report {
    v.verify_str(name, text)
}

fn name_of(f: &Fixture) -> String {
    f.files()[0].display().to_string()
}

fn lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_owned).collect()
}

/// A one-file log of `records` records, with its text and file name.
fn single_file(records: u64) -> (Fixture, String, String) {
    let f = fixture(1, records);
    let text = f.one_file_text();
    let name = name_of(&f);
    (f, text, name)
}

/// Verifies the lines `ls` after `edit` and asserts TAMPERED, naming the edit as `what`.
fn assert_edit_is_tampered(
    f: &Fixture,
    name: &str,
    ls: &[String],
    what: &str,
    edit: impl FnOnce(&mut Vec<String>),
) {
    let mut l = ls.to_vec();
    edit(&mut l);
    let r = verify_text(&mut f.verifier(), name, &l.concat());
    assert_eq!(r.verdict(), Verdict::Tampered, "{what}");
}

/// Writes records `range` to `path` with `key` (continuing any chain there), then closes it.
fn append_records(path: &Path, key: SealingKey, range: std::ops::Range<u64>) {
    let mut log = FileLog::open(path, key, FileLogOptions::default()).unwrap();
    for i in range {
        log.append(record(i)).unwrap();
    }
}

#[test]
fn valid_logs_raise_no_alarm() {
    let f = fixture(3, 7);
    let report = f.witnessed().verify_dir(&f.dir).unwrap();
    assert_eq!(report.findings, vec![]);
    assert_eq!(report.verdict(), Verdict::Ok);
    assert_eq!(report.verified, 3 * 7 + 3);
    let chain = report.chain.unwrap();
    assert_eq!((chain.first_seq, chain.last_seq), (0, 23));
}

#[test]
fn every_flipped_byte_is_caught() {
    let (f, text, _) = single_file(8);
    let mut missed = Vec::new();
    for mask in [0x01u8, 0x20] {
        for i in 0..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[i] ^= mask;
            let mut v = f.verifier();
            let report = v
                .verify_files(&[write_tmp(&f.dir, "flipped", &bytes)])
                .unwrap();
            if report.verdict() == Verdict::Ok {
                missed.push((i, mask));
            }
        }
    }
    assert!(missed.is_empty(), "flips not caught: {missed:?}");
}

fn write_tmp(dir: &Path, stem: &str, bytes: &[u8]) -> PathBuf {
    // Keep the original file name so the header check passes: write beside it in a subdir.
    let sub = dir.join(stem);
    fs::create_dir_all(&sub).unwrap();
    let p = sub.join("audit-0000.log");
    fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn deleted_duplicated_swapped_inserted_records_are_caught() {
    let (f, text, name) = single_file(8);
    let ls = lines(&text);
    let n = ls.len();
    let tampered = |what: &str, edit: &dyn Fn(&mut Vec<String>)| {
        assert_edit_is_tampered(&f, &name, &ls, what, edit);
    };
    // Delete each record but the last (the last needs a checkpoint: see truncation).
    for i in 0..n - 1 {
        tampered(&format!("delete {i}"), &|l| {
            l.remove(i);
        });
    }
    // Duplicate each record.
    for (i, rec) in ls.iter().enumerate() {
        tampered(&format!("duplicate {i}"), &|l| l.insert(i, rec.clone()));
    }
    // Swap each adjacent pair.
    for i in 0..n - 1 {
        tampered(&format!("swap {i}"), &|l| l.swap(i, i + 1));
    }
    // Insert a record sealed by another key into every position.
    let (other, _) = SealingKey::generate("k1", EPOCH_LEN).unwrap();
    let mut forger = Sealer::new_chain(other).unwrap();
    let forged = forger.seal(record(99)).unwrap().line;
    for i in 0..=n {
        tampered(&format!("insert {i}"), &|l| l.insert(i, forged.clone()));
    }
    // Insert an unsealed record: fail closed.
    let unsealed = format!(
        "{}\n",
        Value::Object(record(5).into_body()).to_canonical_string()
    );
    let mut l = ls.clone();
    l.insert(3, unsealed);
    let r = verify_text(&mut f.verifier(), &name, &l.concat());
    assert_eq!(r.verdict(), Verdict::Tampered);
    assert!(
        r.findings.iter().any(|f| f.message.contains("unsealed")),
        "{:?}",
        r.findings
    );
}

#[test]
fn findings_name_the_place_and_keep_going() {
    let f = fixture(1, 8);
    let ls = lines(&f.one_file_text());
    let name = name_of(&f);
    let mut l = ls.clone();
    l[2] = l[2].replacen("user1@", "user7@", 1);
    l.remove(6);
    let r = verify_text(&mut f.verifier(), &name, &l.concat());
    assert_eq!(r.findings.len(), 2, "{:?}", r.findings);
    assert_eq!((r.findings[0].line, r.findings[0].seq), (3, Some(2)));
    assert!(r.findings[0].message.contains("MAC mismatch"));
    assert_eq!((r.findings[1].line, r.findings[1].seq), (7, Some(7)));
    assert!(
        r.findings[1].message.contains("seq 6 is missing"),
        "{}",
        r.findings[1].message
    );
}

#[test]
fn truncation_at_every_boundary_and_mid_line() {
    let (f, text, name) = single_file(8);
    let ls = lines(&text);
    let mut boundary = 0;
    for (i, l) in ls.iter().enumerate() {
        // Cut at the boundary before line i: with the witness, TRUNCATED.
        let r = verify_text(&mut f.witnessed(), &name, &text[..boundary]);
        assert_eq!(r.verdict(), Verdict::Truncated, "cut before line {i}");
        // Cut mid-line: the torn tail is reported as such, and the witness still sees the cut.
        let mid = boundary + l.len() / 2;
        let r = verify_text(&mut f.witnessed(), &name, &text[..mid]);
        assert_eq!(r.verdict(), Verdict::Truncated, "cut inside line {i}");
        assert!(r
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::IncompleteTail
                || i == 0 && f.kind == FindingKind::Truncated));
        // Without a witness a mid-line cut is still INCOMPLETE_TAIL, never OK.
        if i > 0 {
            let r = verify_text(&mut f.verifier(), &name, &text[..mid]);
            assert_eq!(r.verdict(), Verdict::IncompleteTail, "cut inside line {i}");
        }
        boundary += l.len();
    }
    assert_eq!(
        verify_text(&mut f.witnessed(), &name, &text).verdict(),
        Verdict::Ok
    );
}

#[test]
fn rollback_to_an_older_copy_is_caught_with_state() {
    let (f, text, name) = single_file(8);
    let ls = lines(&text);
    let mut v = f.verifier();
    let report = v.verify_str(&name, &text);
    assert_eq!(report.verdict(), Verdict::Ok);
    let state_path = f.dir.join("verify.state");
    v.updated_state(&report).save(&state_path).unwrap();
    let state = VerifierState::load(&state_path).unwrap();
    // The same log again: fine. An older copy: ROLLED_BACK.
    let mut again = f.verifier().with_state(state.clone());
    assert_eq!(again.verify_str(&name, &text).verdict(), Verdict::Ok);
    let older = ls[..5].concat();
    let mut v = f.verifier().with_state(state.clone());
    let r = v.verify_str(&name, &older);
    assert_eq!(r.verdict(), Verdict::RolledBack, "{:?}", r.findings);
    // A log rebuilt with the same chain id and key but different content: ROLLED_BACK too.
    let mut l = ls.clone();
    let last = l.len() - 1;
    l[last] = l[last].replacen("user", "usEr", 1);
    let r = f
        .verifier()
        .with_state(state)
        .verify_str(&name, &l.concat());
    assert_ne!(r.verdict(), Verdict::Ok);
}

#[test]
fn rotated_files_renamed_dropped_reordered_duplicated_spliced() {
    let f = fixture(3, 4);
    let files = f.files();
    assert_eq!(files.len(), 3);
    let check = |paths: &[PathBuf]| f.witnessed().verify_files(paths).unwrap();
    assert_eq!(check(&files).verdict(), Verdict::Ok);
    // Dropped middle / first / last file.
    assert_eq!(
        check(&[files[0].clone(), files[2].clone()]).verdict(),
        Verdict::Tampered
    );
    assert_eq!(check(&files[1..]).verdict(), Verdict::Tampered);
    let partial = f
        .verifier()
        .with_options(VerifyOptions {
            allow_partial_head: true,
            ..VerifyOptions::default()
        })
        .verify_files(&files[1..])
        .unwrap();
    assert_eq!(
        partial.verdict(),
        Verdict::Ok,
        "retention may remove old files when asked"
    );
    assert_eq!(check(&files[..2]).verdict(), Verdict::Truncated);
    // Reordered.
    assert_eq!(
        check(&[files[1].clone(), files[0].clone(), files[2].clone()]).verdict(),
        Verdict::Tampered
    );
    // Duplicated under another name.
    let dup = f.dir.join("audit-0001b.log");
    fs::copy(&files[1], &dup).unwrap();
    let r = f.witnessed().verify_dir(&f.dir).unwrap();
    assert_eq!(r.verdict(), Verdict::Tampered);
    fs::remove_file(&dup).unwrap();
    // Renamed: the header binds the name.
    let renamed = f.dir.join("audit-0002-renamed.log");
    fs::rename(&files[2], &renamed).unwrap();
    let r = check(&[files[0].clone(), files[1].clone(), renamed.clone()]);
    assert_eq!(r.verdict(), Verdict::Tampered);
    assert!(
        r.findings.iter().any(|x| x.message.contains("renamed")),
        "{:?}",
        r.findings
    );
    fs::rename(&renamed, &files[2]).unwrap();
    // Spliced from another chain (same key, other log).
    let g = fixture(2, 4);
    let mut ring = Keyring::new();
    ring.add(f.vk.clone()).unwrap();
    ring.add(g.vk.clone()).unwrap_err(); // same kid, other bytes: refused
    let foreign = g.files()[1].clone();
    let target = f.dir.join("zz");
    fs::create_dir_all(&target).unwrap();
    let spliced = target.join("audit-0001.log");
    fs::copy(&foreign, &spliced).unwrap();
    let r = f
        .verifier()
        .verify_files(&[files[0].clone(), spliced])
        .unwrap();
    assert_eq!(r.verdict(), Verdict::Tampered);
}

#[test]
fn wrong_unknown_and_missing_keys() {
    let (_f, text, name) = single_file(5);
    let (_, wrong) = SealingKey::generate("k1", EPOCH_LEN).unwrap();
    let r = Verifier::new(wrong.into()).verify_str(&name, &text);
    assert_eq!(r.verdict(), Verdict::Tampered);
    assert_eq!(r.verified, 0);
    let (_, other) = SealingKey::generate("k2", EPOCH_LEN).unwrap();
    let r = Verifier::new(other.into()).verify_str(&name, &text);
    assert_eq!(r.verdict(), Verdict::UnknownKey);
    let r = Verifier::new(Keyring::new()).verify_str(&name, &text);
    assert_eq!(r.verdict(), Verdict::UnknownKey);
    assert!(r.findings[0].message.contains("have: none"));
}

#[test]
fn key_rotation_continues_the_chain_and_needs_both_kids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let (sk1, vk1) = SealingKey::generate("k1", EPOCH_LEN).unwrap();
    let (sk2, vk2) = SealingKey::generate("k2", EPOCH_LEN).unwrap();
    append_records(&path, sk1, 0..6);
    append_records(&path, sk2, 6..11);
    let mut ring = Keyring::new();
    ring.add(vk1.clone()).unwrap();
    ring.add(vk2).unwrap();
    let r = Verifier::new(ring)
        .verify_files(std::slice::from_ref(&path))
        .unwrap();
    assert_eq!(r.verdict(), Verdict::Ok, "{:?}", r.findings);
    assert_eq!(r.chain.unwrap().kids, vec!["k1", "k2"]);
    let r = Verifier::new(vk1.into()).verify_files(&[path]).unwrap();
    assert_eq!(r.verdict(), Verdict::UnknownKey);
}

/// A thief who copies the writer's key at epoch 2 re-seals an epoch-0 record and every
/// link after it: the verifier derives the epoch-0 key from K[0] and refuses it.
#[test]
fn a_later_epoch_key_cannot_reseal_earlier_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let state = dir.path().join("writer.key");
    let (sk, vk) = SealingKey::generate("k1", EPOCH_LEN).unwrap();
    let mut log = FileLog::open(
        &path,
        sk,
        FileLogOptions {
            key_state_path: Some(state.clone()),
            ..FileLogOptions::default()
        },
    )
    .unwrap();
    for i in 0..10 {
        log.append(record(i)).unwrap();
    }
    drop(log);
    // The state file now holds only the epoch-2 key.
    let stolen = SealingKey::load(&state).unwrap();
    assert_eq!(stolen.epoch(), 2);
    // Rewrite the whole log from seq 1 with the stolen key (the best the thief can do).
    let text = fs::read_to_string(&path).unwrap();
    let ls = lines(&text);
    let header = parse(ls[0].trim_end()).unwrap();
    let chain = header
        .get_path("audit.chain")
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    let head = audit_core::seal::ChainHead {
        chain,
        seq: 0,
        mac: header
            .get_path("audit.mac")
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned(),
    };
    let stolen_text = stolen.to_text();
    let thief_key: SealingKey = stolen_text.parse().unwrap();
    // The sealer refuses to go back to epoch 0 with an epoch-2 key...
    assert!(Sealer::resume(thief_key, &head).is_err());
    // ...so the thief MACs by hand with the epoch-2 key, keeping seq and links intact.
    let thief_mac = stolen.mac_key();
    let mut forged = vec![ls[0].clone()];
    let mut prev = head.mac.clone();
    for l in &ls[1..] {
        let mut v = parse(l.trim_end()).unwrap();
        let obj = v.as_object_mut().unwrap();
        if obj.get("fields").is_some() {
            obj.object_mut("fields").insert("note", "rewritten");
        }
        let audit = obj.object_mut("audit");
        audit.insert("prev", prev.as_str());
        audit.remove("mac");
        let mac =
            hex_mac(&thief_mac.mac(Value::Object(obj.clone()).to_canonical_string().as_bytes()));
        obj.object_mut("audit").insert("mac", mac.as_str());
        prev = mac;
        forged.push(format!("{}\n", v.to_canonical_string()));
    }
    let r = Verifier::new(vk.into()).verify_str(&path.display().to_string(), &forged.concat());
    assert_eq!(r.verdict(), Verdict::Tampered);
    let bad: Vec<u64> = r.findings.iter().filter_map(|f| f.seq).collect();
    // Every record of epochs 0 and 1 (seq 1..=7) is caught; epoch-2 records verify (the
    // documented limit of forward integrity: the current epoch is the thief's).
    assert_eq!(bad, (1..8).collect::<Vec<_>>());
}

fn hex_mac(m: &[u8; 32]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn reserialized_records_verify_after_recanonicalisation() {
    let (f, text, name) = single_file(6);
    let pretty: String = lines(&text)
        .iter()
        .map(|l| {
            let v = parse(l.trim_end()).unwrap();
            format!("{}\n", reserialize(&v))
        })
        .collect();
    assert_ne!(pretty, text);
    let strict = verify_text(&mut f.verifier(), &name, &pretty);
    assert_eq!(
        strict.verdict(),
        Verdict::Tampered,
        "a log file must be canonical byte for byte"
    );
    let mut lenient = f.verifier().with_options(VerifyOptions {
        strict_canonical: false,
        check_file_headers: false,
        allow_partial_head: false,
    });
    let r = lenient.verify_str("export.ndjson", &pretty);
    assert_eq!(r.verdict(), Verdict::Ok, "{:?}", r.findings);
    // And a change survives no re-serialization.
    let changed = pretty.replacen("192.0.2.10", "192.0.2.11", 1);
    assert_eq!(
        lenient.verify_str("export.ndjson", &changed).verdict(),
        Verdict::Tampered
    );
}

/// What a SIEM or `jq` does: reverse key order, add spaces, escape non-ASCII.
fn reserialize(v: &Value) -> String {
    match v {
        Value::Object(o) => {
            let members: Vec<String> = o
                .iter()
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .map(|(k, v)| format!("{} : {}", escape(k), reserialize(v)))
                .collect();
            format!("{{ {} }}", members.join(" , "))
        }
        Value::Array(a) => format!(
            "[ {} ]",
            a.iter().map(reserialize).collect::<Vec<_>>().join(", ")
        ),
        Value::String(s) => escape(s),
        other => other.to_canonical_string(),
    }
}

fn escape(s: &str) -> String {
    let mut out = String::from("\"");
    for unit in s.encode_utf16() {
        match unit {
            0x22 => out += "\\\"",
            0x5c => out += "\\\\",
            0x20..=0x7e => out.push(unit as u8 as char),
            _ => out += &format!("\\u{unit:04X}"),
        }
    }
    out.push('"');
    out
}

#[test]
fn torn_tail_is_reported_then_documented_by_the_next_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let (sk, vk) = SealingKey::generate("k1", EPOCH_LEN).unwrap();
    let mut log = FileLog::open(&path, sk, FileLogOptions::default()).unwrap();
    for i in 0..3 {
        log.append(record(i)).unwrap();
    }
    let sealed = log.append(record(3)).unwrap();
    drop(log);
    // Simulate a crash mid-write: half of another record.
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(&sealed.line.as_bytes()[..40]);
    fs::write(&path, &bytes).unwrap();
    let r = Verifier::new(vk.clone().into())
        .verify_files(std::slice::from_ref(&path))
        .unwrap();
    assert_eq!(r.verdict(), Verdict::IncompleteTail);
    // The next writer continues the chain and documents the torn line.
    append_records(&path, vk.to_sealing_key(), 4..5);
    let r = Verifier::new(vk.into()).verify_files(&[path]).unwrap();
    assert_eq!(r.verdict(), Verdict::Ok, "{:?}", r.findings);
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.findings[0].kind, FindingKind::Recovered);
    assert_eq!(r.findings[0].line, 6);
}

#[test]
fn a_second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let (sk, vk) = SealingKey::generate("k1", EPOCH_LEN).unwrap();
    let _first = FileLog::open(&path, sk, FileLogOptions::default()).unwrap();
    let err = FileLog::open(&path, vk.to_sealing_key(), FileLogOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("locked by another writer"),
        "{err}"
    );
}

#[test]
fn forged_checkpoints_are_refused() {
    let f = fixture(1, 4);
    let mut cp = f.checkpoint.clone();
    cp.seq += 5;
    cp.count += 5;
    let text = f.one_file_text();
    let r = f
        .verifier()
        .with_checkpoints(vec![cp])
        .verify_str(&name_of(&f), &text);
    assert_eq!(r.verdict(), Verdict::Tampered);
    assert!(r.findings[0].message.contains("bad MAC"));
}

#[test]
fn a_restarted_log_is_caught_by_the_witness_of_the_old_chain() {
    let f = fixture(1, 4);
    // The log is deleted and the same key starts a new chain in its place.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit-0000.log");
    append_records(&path, f.vk.to_sealing_key(), 0..1);
    let r = f.witnessed().verify_files(&[path]).unwrap();
    assert_eq!(r.verdict(), Verdict::Truncated, "{:?}", r.findings);
    assert!(r.findings[0].message.contains("does not contain"));
}
