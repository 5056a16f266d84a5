//! Differential test: the Rust verifier against `tools/independent_verifier.py`, a verifier
//! written from `docs/FORMAT.md` alone.
//!
//! Logs are written by the real writer (`FileLog`, rotation, checkpoints, crash recovery),
//! then manipulated in many ways; for every case both verifiers run and must agree on the
//! verdict (exit code), neither may say OK for a manipulated log, and both must give the
//! verdict the format promises. `python3` is required: a missing interpreter is a failure,
//! not a skip.
//!
//! All cases go to the independent verifier in one `--batch` process (one JSON job per
//! line), which runs while the Rust verifier checks the same cases in this process.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use audit_core::canonical::{self, Object, Value};
use audit_core::checkpoint::{self, Checkpoint};
use audit_core::keys::{Keyring, SealingKey, VerificationKey};
use audit_core::record::{Outcome, Record};
use audit_core::seal::{ChainHead, Sealer};
use audit_core::sink::file::{FileLog, FileLogOptions, RECOVERED_ACTION};
use audit_core::verify::{Verdict, Verifier, VerifyOptions};
use sha2::{Digest, Sha256};

const EPOCH_LEN: u64 = 4;
const FILES: usize = 3;
const PER_FILE: u64 = 5;

// ------------------------------------------------------------------------------------------
// The two verifiers
// ------------------------------------------------------------------------------------------

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tools")
        .join("independent_verifier.py")
}

/// Fails (never skips) when python3 is missing.
fn python3() -> &'static str {
    match Command::new("python3").arg("--version").output() {
        Ok(out) if out.status.success() => "python3",
        Ok(out) => panic!(
            "python3 is required by this test (the independent verifier is a Python program) but \
             `python3 --version` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "python3 is required by this test (the independent verifier is a Python program) but \
             could not be run: {e}. Install Python 3.11+ and make sure `python3` is on PATH."
        ),
    }
}

#[derive(Clone, Debug)]
enum Input {
    Dir(PathBuf),
    Files(Vec<PathBuf>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// The verdict the format promises.
    Is(Verdict),
    /// A usage error (exit code 2), not a verdict.
    UsageError,
}

impl Expect {
    fn exit_code(self) -> i32 {
        match self {
            Expect::Is(v) => v.exit_code(),
            Expect::UsageError => 2,
        }
    }
}

impl From<Verdict> for Expect {
    fn from(v: Verdict) -> Expect {
        Expect::Is(v)
    }
}

struct Case {
    name: String,
    input: Input,
    keyring: PathBuf,
    witness: Option<PathBuf>,
    headers: bool,
    reserialized: bool,
    manipulated: bool,
    expect: Expect,
    _dir: tempfile::TempDir,
}

fn rust_exit(case: &Case) -> (i32, String) {
    let text = match fs::read_to_string(&case.keyring) {
        Ok(t) => t,
        Err(e) => return (2, format!("keyring: {e}")),
    };
    let ring = match Keyring::parse(&text) {
        Ok(r) => r,
        Err(e) => return (2, format!("keyring: {e}")),
    };
    let checkpoints = match &case.witness {
        Some(w) => match checkpoint::read_witness(w) {
            Ok(c) => c,
            Err(e) => return (2, format!("witness: {e}")),
        },
        None => Vec::new(),
    };
    let options = VerifyOptions {
        strict_canonical: !case.reserialized,
        check_file_headers: case.headers,
        ..VerifyOptions::default()
    };
    let mut v = Verifier::new(ring)
        .with_options(options)
        .with_checkpoints(checkpoints);
    let report = match &case.input {
        Input::Dir(d) => v.verify_dir(d),
        Input::Files(f) => v.verify_files(f),
    };
    match report {
        Ok(r) => {
            let mut s = String::new();
            for f in &r.findings {
                let _ = writeln!(s, "    rust: {f:?}");
            }
            (r.verdict().exit_code(), s)
        }
        Err(e) => (2, format!("    rust error: {e}\n")),
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// The job line of `case` for `independent_verifier.py --batch`.
fn batch_job(id: usize, case: &Case) -> String {
    let mut o = Object::new();
    o.insert("id", id as i64);
    o.insert("key", path_str(&case.keyring));
    let paths: Vec<Value> = match &case.input {
        Input::Dir(d) => vec![path_str(d).into()],
        Input::Files(f) => f.iter().map(|p| path_str(p).into()).collect(),
    };
    o.insert("paths", paths);
    o.insert("witness", case.witness.as_deref().map(path_str));
    o.insert("no_file_headers", !case.headers);
    o.insert("reserialized", case.reserialized);
    let mut line = Value::Object(o).to_canonical_string();
    line.push('\n');
    line
}

/// Starts the independent verifier on every case in one batch process (it runs while the
/// caller verifies with Rust); [`python_results`] collects its answers.
fn python_start(cases: &[Case], jobs_file: &Path) -> std::process::Child {
    let mut f = fs::File::create(jobs_file).unwrap();
    for (i, case) in cases.iter().enumerate() {
        f.write_all(batch_job(i, case).as_bytes()).unwrap();
    }
    drop(f);
    Command::new(python3())
        .arg(script())
        .arg("--batch")
        .arg(jobs_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3 tools/independent_verifier.py --batch")
}

/// (exit code, details) per case, in order.
fn python_results(child: std::process::Child, n: usize) -> Vec<(i32, String)> {
    let out = child
        .wait_with_output()
        .expect("wait for the independent verifier");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the independent verifier's batch failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut results = vec![None; n];
    for line in stdout.lines() {
        let v = canonical::parse(line)
            .unwrap_or_else(|e| panic!("batch output is not JSON ({e}): {line}"));
        let id = v.get_path("id").and_then(Value::as_i64).expect("id") as usize;
        let code = v.get_path("exit").and_then(Value::as_i64).expect("exit") as i32;
        let mut s = String::new();
        for f in v
            .get_path("findings")
            .and_then(Value::as_array)
            .unwrap_or(&[])
        {
            let _ = writeln!(s, "    python: {}", f.as_str().unwrap_or("?"));
        }
        if let Some(e) = v.get_path("error").and_then(Value::as_str) {
            let _ = writeln!(s, "    python error: {e}");
        }
        let _ = writeln!(
            s,
            "    python: VERDICT {}",
            v.get_path("verdict").and_then(Value::as_str).unwrap_or("?")
        );
        assert!(results[id].is_none(), "batch answered job {id} twice");
        results[id] = Some((code, s));
    }
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|| panic!("batch gave no answer for job {i}:\n{stdout}")))
        .collect()
}

fn verdict_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "TAMPERED",
        2 => "ERROR",
        3 => "INCOMPLETE_TAIL",
        4 => "TRUNCATED",
        5 => "ROLLED_BACK",
        6 => "UNKNOWN_KEY",
        _ => "?",
    }
}

// ------------------------------------------------------------------------------------------
// Building logs with the real writer
// ------------------------------------------------------------------------------------------

fn record(i: u64) -> Record {
    let t = UNIX_EPOCH + Duration::from_secs(1_764_064_800 + i) + Duration::from_micros(123_456);
    let outcome = Outcome::ALL[(i as usize) % Outcome::ALL.len()];
    let mut r = Record::new("auth.login", outcome, t).unwrap();
    r.set_actor(format!("user{i}@example.com"));
    r.set("source.ip", "192.0.2.10").unwrap();
    r.set(
        "user_agent.original",
        "curl/8.5.0 (x86_64) \"quoted\" \\ / back",
    )
    .unwrap();
    r.set_duration(Duration::from_nanos(1_500_000 + i));
    r.set_field("attempt", i as i64);
    r.set_field(
        "note",
        "naïve ☃ \u{1F600} \"q\" \u{7f} \u{2028}\u{2029} \t\n\r\u{8}\u{c}\u{1}\u{1f}",
    );
    // keys whose UTF-16 order differs from their UTF-8 byte order
    r.set_field("\u{e9}", 1i64);
    r.set_field("\u{1F600}", 2i64);
    r.set_field("\u{FB01}", 3i64);
    r.set_field(
        "e",
        Value::Array(vec![
            Value::Null,
            true.into(),
            false.into(),
            9_007_199_254_740_991i64.into(),
            (-9_007_199_254_740_991i64).into(),
            0i64.into(),
        ]),
    );
    let mut nested = Object::new();
    nested.insert("empty_obj", Object::new());
    nested.insert("empty_arr", Value::Array(vec![]));
    nested.insert("", "empty key");
    r.set_field("nested", nested);
    if i.is_multiple_of(2) {
        r.set_reason(format!("reason {i}: </script> & ü"));
    }
    r
}

struct Base {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    vk: VerificationKey,
    chain_id: String,
    next_record: u64,
}

fn file_name(i: usize) -> String {
    format!("audit-{i:04}.log")
}

/// `root/log/audit-000{0,1,2}.log` (a header + PER_FILE records each), checkpoints in
/// `root/log/chain.witness` (after file 0, and at the end), and `root/old.witness` holding
/// only the checkpoint taken after file 1.
fn base() -> Base {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_owned();
    let logdir = root.join("log");
    fs::create_dir(&logdir).unwrap();
    let (sk, vk) = SealingKey::generate("k-main.1", EPOCH_LEN).unwrap();
    let mut log = FileLog::open(&logdir.join(file_name(0)), sk, FileLogOptions::default()).unwrap();
    let witness = logdir.join("chain.witness");
    let mut n = 0;
    for f in 0..FILES {
        if f > 0 {
            log.rotate_to(&logdir.join(file_name(f))).unwrap();
        }
        for _ in 0..PER_FILE {
            log.append(record(n)).unwrap();
            n += 1;
        }
        let cp = log
            .sealer()
            .checkpoint(UNIX_EPOCH + Duration::from_secs(1_764_070_000))
            .unwrap();
        if f == 0 {
            checkpoint::append_witness(&witness, &cp).unwrap();
        }
        if f == 1 {
            checkpoint::append_witness(&root.join("old.witness"), &cp).unwrap();
        }
        if f == FILES - 1 {
            checkpoint::append_witness(&witness, &cp).unwrap();
        }
    }
    let chain_id = log.sealer().chain_id().to_owned();
    drop(log);
    fs::write(
        root.join("keys.key"),
        format!("# the auditor's keyring\n\n{}\n", &*vk.to_text()),
    )
    .unwrap();
    Base {
        _tmp: tmp,
        root,
        vk,
        chain_id,
        next_record: n,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let ty = e.file_type().unwrap();
        if ty.is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A fresh copy of the base log for one case.
struct Work {
    tmp: tempfile::TempDir,
}

impl Work {
    fn new(b: &Base) -> Work {
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(&b.root, tmp.path());
        Work { tmp }
    }
    fn root(&self) -> PathBuf {
        self.tmp.path().to_owned()
    }
    fn logdir(&self) -> PathBuf {
        self.root().join("log")
    }
    fn file(&self, i: usize) -> PathBuf {
        self.logdir().join(file_name(i))
    }
    fn keys(&self) -> PathBuf {
        self.root().join("keys.key")
    }
    fn witness(&self) -> PathBuf {
        self.logdir().join("chain.witness")
    }
    fn files(&self) -> Vec<PathBuf> {
        (0..FILES).map(|i| self.file(i)).collect()
    }
}

/// Replaces the keyring of `w` by one holding only `vk`.
fn set_keyring(w: &Work, vk: &VerificationKey) {
    fs::write(w.keys(), format!("{}\n", &*vk.to_text())).unwrap();
}

/// Lines of a file without their `\n` (and the final piece, if unterminated, last).
fn lines(p: &Path) -> Vec<Vec<u8>> {
    let data = fs::read(p).unwrap();
    let mut v: Vec<Vec<u8>> = data.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    if v.last().is_some_and(Vec::is_empty) {
        v.pop();
    }
    v
}

fn write_lines(p: &Path, lines: &[Vec<u8>]) {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    fs::write(p, out).unwrap();
}

/// Rewrites the lines of `p` through `f`.
fn edit_lines(p: &Path, f: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let mut l = lines(p);
    f(&mut l);
    write_lines(p, &l);
}

/// Cuts the last `n` bytes off `p`.
fn cut_end(p: &Path, n: usize) {
    let data = fs::read(p).unwrap();
    fs::write(p, &data[..data.len() - n]).unwrap();
}

/// Keeps only the first `n` bytes of `p`.
fn keep_start(p: &Path, n: usize) {
    let data = fs::read(p).unwrap();
    fs::write(p, &data[..n]).unwrap();
}

/// Appends `bytes` to `p` as they are (no newline is added).
fn append_bytes(p: &Path, bytes: &[u8]) {
    let mut data = fs::read(p).unwrap();
    data.extend_from_slice(bytes);
    fs::write(p, data).unwrap();
}

/// Flips the lowest bit of byte `pos` of `p`.
fn flip_byte(p: &Path, pos: usize) {
    let mut data = fs::read(p).unwrap();
    data[pos] ^= 0x01;
    fs::write(p, data).unwrap();
}

/// Ends every line of `p` with `\r\n` instead of `\n`.
fn use_crlf(p: &Path) {
    edit_lines(p, |l| {
        for x in l {
            x.push(b'\r');
        }
    });
}

/// Replaces the first `from` in `line` by `to`.
fn replace_first(line: &mut Vec<u8>, from: &str, to: &str) {
    let s = String::from_utf8(std::mem::take(line)).unwrap();
    *line = s.replacen(from, to, 1).into_bytes();
}

/// Changes the hex digit right after `key` (e.g. `"mac":"`) in `line`: `a` to `b`, else to `a`.
fn change_digit_after(line: &mut [u8], key: &[u8]) {
    let at = position(line, key) + key.len();
    line[at] = if line[at] == b'a' { b'b' } else { b'a' };
}

/// Uppercases the first lowercase hex digit of the `"mac"` value in `line`.
fn uppercase_a_mac_digit(line: &mut [u8]) {
    let start = position(line, b"\"mac\":\"") + 7;
    let at = (start..start + 64)
        .find(|&i| line[i].is_ascii_lowercase())
        .unwrap();
    line[at] = line[at].to_ascii_uppercase();
}

/// Takes the last record of `p` off, edits it, and puts it back without its newline.
fn unterminate_last_record(p: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut l = lines(p);
    let mut rec = l.pop().unwrap();
    edit(&mut rec);
    write_lines(p, &l);
    append_bytes(p, &rec);
}

fn position(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(needle)))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The chain head claimed by the last line of `p`.
fn last_head(p: &Path) -> ChainHead {
    let l = lines(p);
    let v = canonical::parse(std::str::from_utf8(l.last().unwrap()).unwrap()).unwrap();
    let get = |k: &str| v.get_path(k).unwrap();
    ChainHead {
        chain: get("audit.chain").as_str().unwrap().to_owned(),
        seq: get("audit.seq").as_i64().unwrap() as u64,
        mac: get("audit.mac").as_str().unwrap().to_owned(),
    }
}

/// A recovery record documenting `torn`, as a writer writes it (FORMAT.md 7.3).
fn recovery_record(torn: &[u8]) -> Record {
    let at = UNIX_EPOCH + Duration::from_secs(1_764_090_000);
    let mut r = Record::new(RECOVERED_ACTION, Outcome::Success, at).unwrap();
    r.set_field("torn_bytes", torn.len() as i64);
    let sha: String = Sha256::digest(torn)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    r.set_field("torn_sha256", sha);
    r
}

/// Reopen the log directory as a rotated log (`FileLog::open_dir`) and append a record.
fn reopen_dir_and_append(w: &Work, b: &Base, i: u64) {
    let mut log = FileLog::open_dir(
        &w.logdir(),
        "audit",
        b.vk.to_sealing_key(),
        FileLogOptions::default(),
    )
    .unwrap();
    log.append(record(i)).unwrap();
}

/// Opens the log file `p` with the base log's key (continuing the chain found there, if any).
fn open_with_base_key(b: &Base, p: &Path) -> FileLog {
    FileLog::open(p, b.vk.to_sealing_key(), FileLogOptions::default()).unwrap()
}

/// Opens the log file `p` with the base log's key and appends `record(i)` for each `i` of
/// `range`.
fn append_with_base_key(b: &Base, p: &Path, range: std::ops::Range<u64>) {
    let mut log = open_with_base_key(b, p);
    for i in range {
        log.append(record(i)).unwrap();
    }
}

/// A JSON re-serializer unlike the canonical one (what a SIEM or jq might emit): spaces,
/// reversed member order, `\uXXXX` for every non-ASCII character, `\/`, uppercase hex.
fn reserialize(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::String(s) => reserialize_str(s, out),
        Value::Array(a) => {
            out.push_str("[ ");
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(" , ");
                }
                reserialize(x, out);
            }
            out.push_str(" ]");
        }
        Value::Object(o) => {
            out.push_str("{ ");
            let members: Vec<(&str, &Value)> = o.iter().collect();
            for (i, (k, x)) in members.iter().rev().enumerate() {
                if i > 0 {
                    out.push_str(",\t");
                }
                reserialize_str(k, out);
                out.push_str(" : ");
                reserialize(x, out);
            }
            out.push_str(" }");
        }
    }
}

fn reserialize_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            c if (c as u32) < 0x20 || (c as u32) >= 0x7f => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{u:04X}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn reserialize_line(line: &[u8]) -> Vec<u8> {
    let v = canonical::parse(std::str::from_utf8(line).unwrap()).unwrap();
    let mut s = String::from("  ");
    reserialize(&v, &mut s);
    s.push(' ');
    s.into_bytes()
}

// ------------------------------------------------------------------------------------------
// The matrix
// ------------------------------------------------------------------------------------------

struct Builder<'a> {
    base: &'a Base,
    cases: Vec<Case>,
}

impl Builder<'_> {
    fn push(
        &mut self,
        name: impl Into<String>,
        w: Work,
        input: Input,
        witness: Option<PathBuf>,
        manipulated: bool,
        expect: impl Into<Expect>,
    ) {
        let keyring = w.keys();
        self.cases.push(Case {
            name: name.into(),
            input,
            keyring,
            witness,
            headers: true,
            reserialized: false,
            manipulated,
            expect: expect.into(),
            _dir: w.tmp,
        });
    }

    /// Adds a case verifying the log directory of `w`, without a witness.
    fn push_dir(&mut self, name: &str, w: Work, manipulated: bool, expect: impl Into<Expect>) {
        let dir = w.logdir();
        self.push(name, w, Input::Dir(dir), None, manipulated, expect);
    }

    /// Adds a case verifying the base log's files in `w` against the witness in `w`.
    fn push_witnessed(
        &mut self,
        name: &str,
        w: Work,
        manipulated: bool,
        expect: impl Into<Expect>,
    ) {
        let (files, witness) = (w.files(), Some(w.witness()));
        self.push(name, w, Input::Files(files), witness, manipulated, expect);
    }

    /// Adds an unmanipulated case verifying `files` as OK with the file-header check off.
    fn push_without_header_check(&mut self, name: &str, w: Work, files: Vec<PathBuf>) {
        self.push(name, w, Input::Files(files), None, false, Verdict::Ok);
        self.cases.last_mut().unwrap().headers = false;
    }

    /// Adds a case verifying the base log's files in `w` as a re-serialized export.
    fn push_reserialized(
        &mut self,
        name: &str,
        w: Work,
        manipulated: bool,
        expect: impl Into<Expect>,
    ) {
        let files = w.files();
        self.push(name, w, Input::Files(files), None, manipulated, expect);
        self.cases.last_mut().unwrap().reserialized = true;
    }

    /// Edit the files of a fresh copy, then verify the directory (and, with the witness).
    fn edit(
        &mut self,
        name: &str,
        manipulated: bool,
        expect: impl Into<Expect>,
        expect_witnessed: impl Into<Expect>,
        f: impl Fn(&Work),
    ) {
        let w = Work::new(self.base);
        f(&w);
        self.push_dir(name, w, manipulated, expect);
        let w = Work::new(self.base);
        f(&w);
        let (files, witness) = (w.files_present(), Some(w.witness()));
        self.push(
            format!("{name} +witness"),
            w,
            Input::Files(files),
            witness,
            manipulated,
            expect_witnessed,
        );
    }

    /// An edit that both verifiers must call TAMPERED, with and without the witness.
    fn edit_tampered(&mut self, name: &str, f: impl Fn(&Work)) {
        self.edit(name, true, Verdict::Tampered, Verdict::Tampered, f);
    }
}

impl Work {
    /// The log files present, in name order (as a directory listing would give them).
    fn files_present(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(self.logdir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        v.sort();
        v
    }
}

/// An edit of a fresh copy of the base log.
type WorkEdit<'a> = &'a dyn Fn(&Work);

fn build_matrix(b: &Base) -> Vec<Case> {
    use Verdict::*;
    let mut m = Builder {
        base: b,
        cases: Vec::new(),
    };
    let last = FILES - 1;

    // --- untouched -------------------------------------------------------------------------
    m.edit("untouched", false, Ok, Ok, |_| {});
    {
        let w = Work::new(b);
        let files = w.files();
        let witness = Some(w.root().join("old.witness"));
        m.push(
            "untouched, older checkpoint",
            w,
            Input::Files(files),
            witness,
            false,
            Ok,
        );
    }
    {
        let w = Work::new(b);
        let text = fs::read_to_string(w.keys()).unwrap();
        let (_, other) = SealingKey::generate("other-kid", 7).unwrap();
        fs::write(
            w.keys(),
            format!("{text}# an unrelated key\n{}\n", &*other.to_text()),
        )
        .unwrap();
        m.push_dir("untouched, keyring with an extra key", w, false, Ok);
    }

    // --- single-byte flips ------------------------------------------------------------------
    let middle = lines(&b.root.join("log").join(file_name(1)));
    let total: usize = middle.iter().map(|l| l.len() + 1).sum();
    // byte ranges of kid values: a flip there may give another well-formed kid, which is
    // UNKNOWN_KEY, not TAMPERED (see "kid changed to another well-formed kid")
    let mut kid_ranges = Vec::new();
    let mut off = 0;
    for l in &middle {
        let at = l.windows(7).position(|w| w == b"\"kid\":\"").unwrap() + 7;
        kid_ranges.push(off + at..off + at + b.vk.kid().len());
        off += l.len() + 1;
    }
    let sweep: Vec<usize> = (0..total)
        .step_by(total / 23)
        .filter(|p| !kid_ranges.iter().any(|r| r.contains(p)))
        .collect();
    for pos in sweep {
        m.edit_tampered(&format!("flip byte {pos} of file 1"), move |w| {
            flip_byte(&w.file(1), pos)
        });
    }
    // targeted positions in line 3 of the middle file
    let line3_start: usize = middle[..2].iter().map(|l| l.len() + 1).sum();
    let l3 = &middle[2];
    let find = |needle: &[u8], skip: usize| -> usize {
        l3.windows(needle.len()).position(|w| w == needle).unwrap() + skip
    };
    let mut targeted: Vec<(&str, usize)> = vec![
        ("in the mac", find(b"\"mac\":\"", 10)),
        ("in prev", find(b"\"prev\":\"", 20)),
        ("in seq", find(b"\"seq\":", 6)),
        ("in the kid ('-' becomes ',')", find(b"\"kid\":\"", 8)),
        ("in the chain id", find(b"\"chain\":\"", 12)),
        ("in a non-ASCII character", find("naïve".as_bytes(), 3)),
        ("in a member name", find(b"\"outcome\"", 3)),
        ("in audit.v", find(b"\"v\":1", 4)),
        ("in @timestamp", find(b"\"@timestamp\":\"", 20)),
        ("in an escape", find(b"\\\"q\\\"", 1)),
        ("in a number", find(b"9007199254740991", 15)),
    ];
    targeted.push(("in the closing brace", l3.len() - 1));
    targeted.push(("in the newline", l3.len()));
    for (what, at) in targeted {
        let pos = line3_start + at;
        m.edit_tampered(&format!("flip a byte {what}"), move |w| {
            flip_byte(&w.file(1), pos)
        });
    }
    m.edit_tampered("flip a byte of the last record's mac", |w| {
        edit_lines(&w.file(last), |l| {
            change_digit_after(l.last_mut().unwrap(), b"\"mac\":\"");
        });
    });
    m.edit_tampered("change a hex digit of a mac to uppercase", |w| {
        edit_lines(&w.file(1), |l| uppercase_a_mac_digit(&mut l[2]));
    });

    // --- records deleted, duplicated, swapped, inserted ---------------------------------------
    m.edit_tampered("delete a record", |w| {
        edit_lines(&w.file(1), |l| {
            l.remove(3);
        });
    });
    m.edit_tampered("delete the header of a file", |w| {
        edit_lines(&w.file(1), |l| {
            l.remove(0);
        });
    });
    m.edit_tampered("duplicate a record", |w| {
        edit_lines(&w.file(1), |l| {
            let dup = l[2].clone();
            l.insert(3, dup);
        });
    });
    m.edit_tampered("duplicate the last record", |w| {
        edit_lines(&w.file(last), |l| {
            let dup = l.last().unwrap().clone();
            l.push(dup);
        });
    });
    m.edit_tampered("swap two records", |w| {
        edit_lines(&w.file(1), |l| l.swap(2, 3));
    });
    m.edit_tampered("swap the last two records", |w| {
        edit_lines(&w.file(last), |l| {
            let n = l.len();
            l.swap(n - 2, n - 1);
        });
    });
    // a second writer holding the same key: a fork of the same chain id, and another chain
    let fork = {
        let dir = tempfile::tempdir().unwrap();
        let opts = FileLogOptions {
            chain_id: Some(b.chain_id.clone()),
            ..FileLogOptions::default()
        };
        let p = dir.path().join(file_name(0));
        let mut log = FileLog::open(&p, b.vk.to_sealing_key(), opts).unwrap();
        for i in 0..20 {
            log.append(record(100 + i)).unwrap();
        }
        drop(log);
        lines(&p)
    };
    let other_chain = {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(file_name(1));
        let mut log = open_with_base_key(b, &p);
        for i in 0..8 {
            log.append(record(200 + i)).unwrap();
        }
        drop(log);
        lines(&p)
    };
    {
        let fork = fork.clone();
        m.edit_tampered(
            "replace a record by its twin from a forked writer (same key, chain id, seq)",
            move |w| {
                edit_lines(&w.file(1), |l| {
                    // file 1 line 3 is seq PER_FILE + 1 + 2
                    let seq = (PER_FILE + 1 + 2) as usize;
                    l[2] = fork[seq].clone();
                });
            },
        );
    }
    {
        let fork = fork.clone();
        m.edit_tampered(
            "append the forked writer's record with the next seq",
            move |w| {
                edit_lines(&w.file(last), |l| {
                    let next = (FILES as u64 * (PER_FILE + 1)) as usize; // seq after the last record
                    l.push(fork[next].clone());
                });
            },
        );
    }
    {
        let oc = other_chain.clone();
        m.edit_tampered("insert a valid record of another chain", move |w| {
            edit_lines(&w.file(1), |l| l.insert(3, oc[3].clone()));
        });
    }
    {
        let oc = other_chain.clone();
        m.edit_tampered(
            "replace a whole file by another chain's file of the same name",
            move |w| {
                write_lines(&w.file(1), &oc);
            },
        );
    }
    m.edit_tampered("insert a forged unsealed record", |w| {
        edit_lines(&w.file(1), |l| l.insert(3, br#"{"@timestamp":"2025-11-25T10:00:00.000000Z","event":{"action":"auth.login","outcome":"success"}}"#.to_vec()));
    });
    m.edit_tampered("insert a blank line", |w| {
        edit_lines(&w.file(1), |l| l.insert(3, Vec::new()));
    });
    m.edit_tampered("CRLF line endings", |w| {
        use_crlf(&w.file(1));
    });
    m.edit_tampered("byte-order mark", |w| {
        let mut data = b"\xef\xbb\xbf".to_vec();
        data.extend(fs::read(w.file(0)).unwrap());
        fs::write(w.file(0), data).unwrap();
    });
    m.edit_tampered("a record re-serialized in a file", |w| {
        edit_lines(&w.file(1), |l| {
            l[2] = reserialize_line(&l[2]);
        });
    });
    m.edit_tampered("an extra member in the audit object", |w| {
        edit_lines(&w.file(1), |l| {
            replace_first(&mut l[2], "\"audit\":{", "\"audit\":{\"a\":1,");
        });
    });

    // --- truncation --------------------------------------------------------------------------
    m.edit(
        "drop the last record (at a record boundary)",
        true,
        Ok,
        Truncated,
        |w| {
            edit_lines(&w.file(last), |l| {
                l.pop();
            });
        },
    );
    m.edit("drop the last file", true, Ok, Truncated, |w| {
        fs::remove_file(w.file(last)).unwrap();
    });
    m.edit(
        "drop the last file and the last record of file 1",
        true,
        Ok,
        Truncated,
        |w| {
            fs::remove_file(w.file(last)).unwrap();
            edit_lines(&w.file(1), |l| {
                l.pop();
            });
        },
    );
    m.edit(
        "truncate the last file mid-line",
        true,
        IncompleteTail,
        Truncated,
        |w| {
            cut_end(&w.file(last), 40);
        },
    );
    m.edit(
        "truncate the last file just before the final newline",
        true,
        IncompleteTail,
        Truncated,
        |w| {
            cut_end(&w.file(last), 1);
        },
    );
    m.edit_tampered("truncate a middle file mid-line", |w| {
        cut_end(&w.file(1), 40);
    });
    // section 9, files as a whole: an empty last file may be a crash right after rotation
    m.edit(
        "empty the last file",
        true,
        IncompleteTail,
        Truncated,
        |w| {
            fs::write(w.file(last), b"").unwrap();
        },
    );
    m.edit_tampered("empty a middle file", |w| {
        fs::write(w.file(1), b"").unwrap();
    });

    // --- files renamed, dropped, concatenated ---------------------------------------------------
    m.edit_tampered("rename a rotated file (order kept)", |w| {
        fs::rename(w.file(1), w.logdir().join("audit-0001b.log")).unwrap();
    });
    m.edit_tampered("rename a rotated file (order changed)", |w| {
        fs::rename(w.file(1), w.logdir().join("audit-0009.log")).unwrap();
    });
    m.edit_tampered("swap the names of two files", |w| {
        let tmp = w.logdir().join("swap.tmp");
        fs::rename(w.file(1), &tmp).unwrap();
        fs::rename(w.file(2), w.file(1)).unwrap();
        fs::rename(&tmp, w.file(2)).unwrap();
    });
    m.edit_tampered("drop a middle file", |w| {
        fs::remove_file(w.file(1)).unwrap();
    });
    m.edit_tampered("drop the first file", |w| {
        fs::remove_file(w.file(0)).unwrap();
    });
    m.edit_tampered("concatenate files 1 and 2 into file 1", |w| {
        let mut data = fs::read(w.file(1)).unwrap();
        data.extend(fs::read(w.file(2)).unwrap());
        fs::write(w.file(1), data).unwrap();
        fs::remove_file(w.file(2)).unwrap();
    });

    // --- keys ---------------------------------------------------------------------------------
    {
        let w = Work::new(b);
        let (_, wrong) = SealingKey::generate(b.vk.kid(), EPOCH_LEN).unwrap();
        set_keyring(&w, &wrong);
        m.push_dir("wrong key (same kid, other bytes)", w, true, Tampered);
    }
    {
        let w = Work::new(b);
        let real = b.vk.to_text().to_string();
        let hex = real.rsplit(':').next().unwrap().to_owned();
        fs::write(
            w.keys(),
            format!("audit-vk-v1:{}:{}:{hex}\n", b.vk.kid(), EPOCH_LEN * 2),
        )
        .unwrap();
        m.push_dir("right key bytes, wrong epoch length", w, true, Tampered);
    }
    {
        let w = Work::new(b);
        let real = b.vk.to_text().to_string();
        let hex = real.rsplit(':').next().unwrap().to_uppercase();
        fs::write(
            w.keys(),
            format!("audit-vk-v1:{}:{}:{hex}\n", b.vk.kid(), EPOCH_LEN),
        )
        .unwrap();
        m.push_dir("keyring with uppercase hex", w, false, Ok);
    }
    {
        let w = Work::new(b);
        let (_, other) = SealingKey::generate("unrelated", EPOCH_LEN).unwrap();
        set_keyring(&w, &other);
        m.push_dir("unknown kid", w, true, UnknownKey);
    }
    {
        let w = Work::new(b);
        let (_, other) = SealingKey::generate("unrelated", EPOCH_LEN).unwrap();
        set_keyring(&w, &other);
        m.push_witnessed("unknown kid +witness", w, true, UnknownKey);
    }
    {
        // key rotation: the writer reopens the last file with a new kid
        let w = Work::new(b);
        let (sk2, vk2) = SealingKey::generate("k-second", 3).unwrap();
        let mut log = FileLog::open(&w.file(last), sk2, FileLogOptions::default()).unwrap();
        for i in 0..5 {
            log.append(record(b.next_record + i)).unwrap();
        }
        drop(log);
        let text = fs::read_to_string(w.keys()).unwrap();
        fs::write(
            w.root().join("both.key"),
            format!("{text}{}\n", &*vk2.to_text()),
        )
        .unwrap();
        let dir = w.logdir();
        let both = w.root().join("both.key");
        m.push(
            "key rotated mid-chain, keyring lacks the new kid",
            w,
            Input::Dir(dir.clone()),
            None,
            true,
            UnknownKey,
        );
        let w2 = Work::new(b);
        copy_dir(&dir, &w2.logdir());
        fs::copy(&both, w2.keys()).unwrap();
        let dir2 = w2.logdir();
        m.push(
            "key rotated mid-chain, keyring has both kids",
            w2,
            Input::Dir(dir2),
            None,
            false,
            Ok,
        );
    }

    // --- torn tails and crash recovery -----------------------------------------------------------
    let torn_then_reopen = |w: &Work, torn_len: usize| {
        let l = lines(&w.file(last));
        // a torn copy of a plausible next record: the start of the last line
        append_bytes(&w.file(last), &l.last().unwrap()[..torn_len]);
        append_with_base_key(b, &w.file(last), 500..502);
    };
    m.edit(
        "torn tail reopened by the writer (recovery record)",
        false,
        Ok,
        Ok,
        move |w| torn_then_reopen(w, 57),
    );
    m.edit(
        "torn tail of one byte reopened by the writer",
        false,
        Ok,
        Ok,
        move |w| torn_then_reopen(w, 1),
    );
    m.edit_tampered("torn tail reopened, then the torn line edited", move |w| {
        torn_then_reopen(w, 57);
        edit_lines(&w.file(last), |l| {
            let n = l.len();
            let torn = &mut l[n - 4];
            torn[10] ^= 0x01;
        });
    });
    m.edit_tampered(
        "torn tail reopened, then the recovery record deleted",
        move |w| {
            torn_then_reopen(w, 57);
            edit_lines(&w.file(last), |l| {
                let n = l.len();
                l.remove(n - 3);
            });
        },
    );
    m.edit(
        "torn tail reopened, then a record appended unterminated",
        true,
        IncompleteTail,
        IncompleteTail,
        move |w| {
            torn_then_reopen(w, 57);
            append_bytes(&w.file(last), b"{\"@timestamp\":\"2025");
        },
    );
    {
        // the witness was refreshed after the recovery: the log is whole again
        let w = Work::new(b);
        torn_then_reopen(&w, 57);
        let mut log = open_with_base_key(b, &w.file(last));
        log.append(record(502)).unwrap();
        let cp = log
            .sealer()
            .checkpoint(UNIX_EPOCH + Duration::from_secs(1_764_080_000))
            .unwrap();
        drop(log);
        checkpoint::append_witness(&w.witness(), &cp).unwrap();
        m.push_witnessed("torn tail reopened, fresh checkpoint", w, false, Ok);
    }

    // --- re-serialized export ------------------------------------------------------------------
    for (name, edit, manipulated, expect) in [
        ("re-serialized export", 0, false, Ok),
        ("re-serialized export, a value changed", 1, true, Tampered),
        ("re-serialized export, a record deleted", 2, true, Tampered),
    ] {
        let w = Work::new(b);
        for f in w.files() {
            let mut l: Vec<Vec<u8>> = lines(&f).iter().map(|x| reserialize_line(x)).collect();
            if f == w.file(1) {
                match edit {
                    1 => {
                        replace_first(&mut l[2], "192.0.2.10", "192.0.2.11");
                    }
                    2 => {
                        l.remove(2);
                    }
                    _ => {}
                }
            }
            write_lines(&f, &l);
        }
        let files = w.files();
        m.push_reserialized(&format!("{name} (--reserialized)"), w, manipulated, expect);
        if edit == 0 {
            // the same export verified as files: not canonical, so not the file form
            let w2 = Work::new(b);
            for (src, dst) in files.iter().zip(w2.files()) {
                fs::copy(src, dst).unwrap();
            }
            let files2 = w2.files();
            m.push(
                "re-serialized export verified as files (strict)",
                w2,
                Input::Files(files2),
                None,
                true,
                Tampered,
            );
        }
    }

    // --- checkpoints ----------------------------------------------------------------------------
    {
        let w = Work::new(b);
        edit_lines(&w.witness(), |l| {
            change_digit_after(&mut l[1], b"\"head\":\"")
        });
        m.push_witnessed("checkpoint head altered", w, true, Tampered);
    }
    {
        // a valid checkpoint of a chain the log does not contain: that log was deleted and
        // restarted, or replaced (9.7)
        let w = Work::new(b);
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_with_base_key(b, &dir.path().join("x.log"));
        log.append(record(1)).unwrap();
        let cp: Checkpoint = log.sealer().checkpoint(UNIX_EPOCH).unwrap();
        checkpoint::append_witness(&w.witness(), &cp).unwrap();
        m.push_witnessed(
            "witness also holds another chain's checkpoint",
            w,
            false,
            Truncated,
        );
    }
    {
        // rollback: the log replaced by an older copy (file 0 only) while the witness knows more
        let w = Work::new(b);
        let files = vec![w.file(0)];
        let witness = Some(w.root().join("old.witness"));
        m.push(
            "rolled back to an older copy (checkpoint from later)",
            w,
            Input::Files(files),
            witness,
            true,
            Truncated,
        );
    }

    // --- probes of corners FORMAT.md leaves open, or settles only recently ----------------------
    m.edit(
        "kid changed to another well-formed kid",
        true,
        UnknownKey,
        UnknownKey,
        |w| {
            // content edited and kid switched to one the auditor does not hold: only UNKNOWN_KEY
            edit_lines(&w.file(1), |l| {
                replace_first(&mut l[2], "\"kid\":\"k-main.1\"", "\"kid\":\"k-main.0\"");
                replace_first(&mut l[2], "192.0.2.10", "203.0.113.66");
            });
        },
    );
    // section 4: a kid or chain id breaking the character rules, or a negative seq, is unsealed
    for (what, from, to) in [
        (
            "a bad kid character",
            "\"kid\":\"k-main.1\"",
            "\"kid\":\"k main.1\"".to_owned(),
        ),
        (
            "a bad chain-id character",
            "\"chain\":\"",
            "\"chain\":\".".to_owned(),
        ),
        ("a negative seq", "\"seq\":", "\"seq\":-".to_owned()),
    ] {
        m.edit_tampered(&format!("a record with {what}"), move |w| {
            edit_lines(&w.file(1), |l| replace_first(&mut l[2], from, &to));
        });
    }

    // --- section 7.3: the two repairs without a recovery line, and torn headers -------------------
    m.edit(
        "a complete last record without its newline, reopened by the writer",
        false,
        Ok,
        Ok,
        |w| {
            cut_end(&w.file(last), 1);
            append_with_base_key(b, &w.file(last), 601..602);
            // the newline was added, nothing else
            let l = lines(&w.file(last));
            assert_eq!(l.len(), 1 + PER_FILE as usize + 1);
            assert!(!l.iter().any(|x| contains(x, RECOVERED_ACTION.as_bytes())));
        },
    );
    m.edit(
        "last file holds only a torn header",
        true,
        IncompleteTail,
        Truncated,
        |w| {
            keep_start(&w.file(last), 30);
        },
    );
    // the single-file API knows no earlier file: it starts a new chain (7.3, "first file")
    m.edit_tampered(
        "last file holds only a torn header, reopened by FileLog::open (a new chain)",
        |w| {
            keep_start(&w.file(last), 30);
            append_with_base_key(b, &w.file(last), 600..601);
        },
    );
    m.edit(
        "drop the last file's records but a torn header, reopened by FileLog::open_dir",
        true,
        Ok,
        Truncated,
        |w| {
            keep_start(&w.file(last), 30);
            reopen_dir_and_append(w, b, 603);
        },
    );
    // a crash during rotation: the new file holds nothing, or a torn header
    let rotate_then = |w: &Work, keep: Option<usize>| {
        let mut log = open_with_base_key(b, &w.file(last));
        log.rotate_to(&w.logdir().join(file_name(FILES))).unwrap();
        drop(log);
        let new = w.logdir().join(file_name(FILES));
        let data = fs::read(&new).unwrap();
        fs::write(&new, &data[..keep.unwrap_or(0)]).unwrap();
    };
    m.edit(
        "a rotated file created empty (crash right after rotation)",
        false,
        IncompleteTail,
        IncompleteTail,
        move |w| rotate_then(w, None),
    );
    m.edit(
        "a rotated file created empty, reopened by FileLog::open_dir",
        false,
        Ok,
        Ok,
        move |w| {
            rotate_then(w, None);
            reopen_dir_and_append(w, b, 604);
        },
    );
    m.edit(
        "a rotated file holding only a torn header (crash during rotation)",
        false,
        IncompleteTail,
        IncompleteTail,
        move |w| rotate_then(w, Some(30)),
    );
    m.edit(
        "a rotated file holding only a torn header, reopened by FileLog::open_dir",
        false,
        Ok,
        Ok,
        move |w| {
            rotate_then(w, Some(30));
            reopen_dir_and_append(w, b, 605);
            // cut to zero, the header continues the chain, the cut bytes are documented
            let new = lines(&w.logdir().join(file_name(FILES)));
            assert_eq!(new.len(), 3, "header, recovery record, record");
            assert!(contains(&new[1], RECOVERED_ACTION.as_bytes()));
            assert!(contains(&new[1], b"\"torn_bytes\":30,"));
            assert!(contains(&new[1], b"\"torn_removed\":true"));
            let seq = |l: &[u8]| -> i64 {
                let v = canonical::parse(std::str::from_utf8(l).unwrap()).unwrap();
                v.get_path("audit.seq").and_then(Value::as_i64).unwrap()
            };
            let before = lines(&w.file(last));
            assert_eq!(seq(&new[0]), seq(before.last().unwrap()) + 1);
        },
    );
    // 7.3 excuses a line failing step 2 *or 3* (here: mac not lowercase hex); the writer
    // documents it as torn because it is not a sealed record
    m.edit(
        "drop the last record as a torn line: a mac digit uppercased, newline cut, reopened by the writer",
        true,
        Ok,
        Tampered,
        |w| {
            unterminate_last_record(&w.file(last), |rec| uppercase_a_mac_digit(rec));
            append_with_base_key(b, &w.file(last), 606..607);
        },
    );
    // 7.3: only a *sealed* final piece is finished with a newline; anything else is torn
    m.edit(
        "drop the last record as a torn line: audit.v set to 2, newline cut, reopened by the writer",
        true,
        Ok,
        Tampered,
        |w| {
            unterminate_last_record(&w.file(last), |rec| {
                replace_first(rec, "\"v\":1}", "\"v\":2}");
            });
            append_with_base_key(b, &w.file(last), 608..609);
        },
    );
    // 7.3 + 9.2: a recovery record sealed with a kid the auditor lacks excuses the torn line
    // (its fields match) but is itself UNKNOWN_KEY, so the log is never OK
    m.edit(
        "torn tail reopened by a writer with a new kid the keyring lacks",
        false,
        UnknownKey,
        UnknownKey,
        |w| {
            append_bytes(&w.file(last), &lines(&w.file(last))[1][..57]);
            let (sk2, _) = SealingKey::generate("k-second", 3).unwrap();
            let mut log = FileLog::open(&w.file(last), sk2, FileLogOptions::default()).unwrap();
            log.append(record(609)).unwrap();
        },
    );
    // section 9 step 6: line 1 must be the header, even when it is a torn line that the
    // next record documents
    m.edit_tampered(
        "a rotated file whose line 1 is a torn line documented by a recovery record",
        |w| {
            let mut sealer =
                Sealer::resume(b.vk.to_sealing_key(), &last_head(&w.file(last))).unwrap();
            let torn = lines(&w.file(last))[0][..40].to_vec();
            let recovery = sealer.seal(recovery_record(&torn)).unwrap();
            let next = sealer.seal(record(607)).unwrap();
            let mut data = torn;
            data.push(b'\n');
            data.extend_from_slice(recovery.line.as_bytes());
            data.extend_from_slice(next.line.as_bytes());
            fs::write(w.logdir().join(file_name(FILES)), data).unwrap();
        },
    );

    // --- witness files (section 9 step 7) -------------------------------------------------------
    let witness_case =
        |m: &mut Builder<'_>, name: &str, expect: Expect, drop_last: bool, f: WorkEdit<'_>| {
            let w = Work::new(b);
            if drop_last {
                edit_lines(&w.file(last), |l| {
                    l.pop();
                });
            }
            f(&w);
            m.push_witnessed(name, w, drop_last, expect);
        };
    // a torn last witness line is ignored: the same verdict as without that line
    let cut_20 = |w: &Work| {
        cut_end(&w.witness(), 20);
    };
    let remove_last_line = |w: &Work| {
        edit_lines(&w.witness(), |l| {
            l.pop();
        });
    };
    let cut_newline = |w: &Work| {
        cut_end(&w.witness(), 1);
    };
    let torn_after = |w: &Work| {
        append_bytes(&w.witness(), b"{\"@timestamp\":\"2026-11-25T10:");
    };
    let torn_cases: &[(&str, bool, Verdict, WorkEdit)] = &[
        ("witness with a torn last line", false, Ok, &cut_20),
        (
            "witness without its last line",
            false,
            Ok,
            &remove_last_line,
        ),
        (
            "drop the last record, witness with a torn last line",
            true,
            Ok,
            &cut_20,
        ),
        (
            "drop the last record, witness without its last line",
            true,
            Ok,
            &remove_last_line,
        ),
        (
            "drop the last record, witness whose last line lacks only its newline",
            true,
            Ok,
            &cut_newline,
        ),
        (
            "drop the last record, witness with a torn line after its last checkpoint",
            true,
            Truncated,
            &torn_after,
        ),
    ];
    for &(name, drop_last, expect, f) in torn_cases {
        witness_case(&mut m, name, expect.into(), drop_last, f);
    }
    let line_cases: &[(&str, Expect, WorkEdit)] = &[
        (
            "witness whose torn last line is not UTF-8",
            Expect::Is(Ok),
            &|w: &Work| {
                append_bytes(&w.witness(), b"{\"@timestamp\":\"\xff\xfe");
            },
        ),
        ("witness with a blank line", Expect::Is(Ok), &|w: &Work| {
            edit_lines(&w.witness(), |l| l.insert(1, Vec::new()));
        }),
        (
            "witness with a line of spaces",
            Expect::Is(Ok),
            &|w: &Work| {
                edit_lines(&w.witness(), |l| l.insert(1, b"  \t ".to_vec()));
            },
        ),
        (
            "witness with a line that is not JSON",
            Expect::UsageError,
            &|w: &Work| {
                edit_lines(&w.witness(), |l| l.insert(1, b"checkpoint?".to_vec()));
            },
        ),
        (
            "witness with a malformed checkpoint (count is not seq + 1)",
            Expect::UsageError,
            &|w: &Work| {
                edit_lines(&w.witness(), |l| {
                    replace_first(&mut l[0], "\"count\":", "\"count\":1");
                });
            },
        ),
        (
            "witness with a non-canonical checkpoint line",
            Expect::UsageError,
            &|w: &Work| {
                edit_lines(&w.witness(), |l| {
                    l[0] = reserialize_line(&l[0]);
                });
            },
        ),
        (
            "witness with CRLF line endings",
            Expect::UsageError,
            &|w: &Work| use_crlf(&w.witness()),
        ),
        (
            "checkpoint with an uppercase hex digit in its mac",
            Expect::UsageError,
            &|w: &Work| {
                edit_lines(&w.witness(), |l| uppercase_a_mac_digit(&mut l[1]));
            },
        ),
    ];
    for &(name, expect, f) in line_cases {
        witness_case(&mut m, name, expect, false, f);
    }
    {
        let w = Work::new(b);
        fs::write(w.witness(), b"").unwrap();
        m.push_witnessed("empty witness", w, false, Ok);
    }
    // the log deleted and restarted: the witness knows a chain the log does not contain
    let restart = |w: &Work, corrupt_newest: bool| {
        for f in w.files() {
            fs::remove_file(f).unwrap();
        }
        let mut log = open_with_base_key(b, &w.file(0));
        for i in 0..3 {
            log.append(record(800 + i)).unwrap();
        }
        if corrupt_newest {
            // one lowercase hex digit of the newest checkpoint's mac changed: well-formed,
            // but its MAC no longer verifies; the older checkpoint is intact
            edit_lines(&w.witness(), |l| {
                change_digit_after(l.last_mut().unwrap(), b"\"mac\":\"");
            });
        }
    };
    for (name, corrupt) in [
        (
            "log deleted and restarted (witness of the old chain)",
            false,
        ),
        (
            "log deleted and restarted, the old chain's newest checkpoint corrupted",
            true,
        ),
    ] {
        let w = Work::new(b);
        restart(&w, corrupt);
        let (files, witness) = (w.files_present(), Some(w.witness()));
        m.push(name, w, Input::Files(files), witness, true, Truncated);
    }
    {
        let w = Work::new(b);
        let empty = w.root().join("empty");
        fs::create_dir(&empty).unwrap();
        fs::write(empty.join(".hidden.log"), b"").unwrap();
        fs::write(empty.join("a.witness"), b"").unwrap();
        m.push(
            "directory without log files",
            w,
            Input::Dir(empty),
            None,
            false,
            Expect::UsageError,
        );
    }
    {
        let w = Work::new(b);
        let mut files = w.files();
        files.swap(1, 2);
        m.push(
            "files given out of order",
            w,
            Input::Files(files),
            None,
            true,
            Tampered,
        );
    }
    {
        let w = Work::new(b);
        std::os::unix::fs::symlink(w.file(1), w.logdir().join("audit-0003.log")).unwrap();
        fs::create_dir(w.logdir().join("audit-0004.log")).unwrap();
        fs::write(w.logdir().join(".audit-0005.log"), b"junk\n").unwrap();
        fs::write(w.logdir().join("audit-0006.tmp"), b"junk\n").unwrap();
        fs::write(w.logdir().join("x.state"), b"junk\n").unwrap();
        m.push_dir(
            "directory with a symlink, a subdirectory and excluded names",
            w,
            false,
            Ok,
        );
    }
    for (depth, expect) in [(64usize, Ok), (65, Tampered)] {
        // a record nested `depth` deep (the record object is level 1)
        let w = Work::new(b);
        let dir = w.root().join("deep");
        fs::create_dir(&dir).unwrap();
        let mut log = open_with_base_key(b, &dir.join(file_name(0)));
        let mut v = Value::Array(vec![]);
        for _ in 0..depth - 3 {
            v = Value::Array(vec![v]);
        }
        // record (1) > fields (2) > "deep" array (3) > ... > innermost array (depth)
        let mut r = record(700);
        r.set_field("deep", v);
        let sealed = log.append(r);
        drop(log);
        if sealed.is_err() {
            continue; // the writer refuses it: nothing to compare
        }
        let manipulated = expect != Ok;
        m.push(
            format!("a record nested {depth} deep"),
            w,
            Input::Dir(dir),
            None,
            manipulated,
            expect,
        );
    }

    // --- file-header check off (records out of a file) --------------------------------------------
    {
        let w = Work::new(b);
        let files = w.files();
        m.push_without_header_check("untouched, file-header check off", w, files);
    }
    {
        let w = Work::new(b);
        fs::rename(w.file(1), w.logdir().join("audit-0001b.log")).unwrap();
        let files = w.files_present();
        m.push_without_header_check("renamed file, file-header check off", w, files);
    }

    m.cases
}

/// Cases where the Rust verifier (or writer) and the independent verifier's reading of
/// FORMAT.md are known to disagree: (case name, Rust exit code, Python exit code, why). Each
/// is pinned to the exact pair observed, so that a fix on either side makes the entry stale
/// and fails the test until the entry is removed.
const KNOWN_ISSUES: &[(&str, i32, i32, &str)] = &[
    // None: the two verifiers agree on every case.
];

#[test]
fn rust_and_independent_verifier_agree() {
    python3();
    assert!(script().is_file(), "missing {}", script().display());
    let b = base();
    let cases = build_matrix(&b);
    let jobs = tempfile::tempdir().unwrap();
    let child = python_start(&cases, &jobs.path().join("jobs.jsonl"));
    // the Rust verifier runs meanwhile
    let rust: Vec<(i32, String)> = cases.iter().map(rust_exit).collect();
    let python = python_results(child, cases.len());
    let mut problems = String::new();
    let mut table = String::new();
    let mut known_table = String::new();
    for name in KNOWN_ISSUES.iter().map(|k| k.0) {
        assert!(
            cases.iter().any(|c| c.name == name),
            "KNOWN_ISSUES names a case that does not exist: {name}"
        );
    }
    for (i, case) in cases.iter().enumerate() {
        let (r, r_detail) = rust[i].clone();
        let (p, p_detail) = &python[i];
        let p = *p;
        let expected = case.expect.exit_code();
        let mut issues = Vec::new();
        if r != p {
            issues.push(format!(
                "DISAGREE rust={} python={}",
                verdict_name(r),
                verdict_name(p)
            ));
        }
        if case.manipulated && (r == 0 || p == 0) && expected != 0 {
            issues.push(format!(
                "manipulated log verified OK (rust={} python={})",
                verdict_name(r),
                verdict_name(p)
            ));
        }
        if r != expected || p != expected {
            issues.push(format!(
                "expected {} (rust={} python={})",
                verdict_name(expected),
                verdict_name(r),
                verdict_name(p)
            ));
        }
        let known = KNOWN_ISSUES.iter().find(|k| k.0 == case.name);
        let status = match known {
            Some(&(_, kr, kp, why)) if kr == r && kp == p => {
                let _ = writeln!(
                    known_table,
                    "KNOWN rust={} python={} {}: {why}",
                    verdict_name(r),
                    verdict_name(p),
                    case.name
                );
                issues.clear();
                "KNOWN"
            }
            Some(&(_, kr, kp, _)) => {
                issues.push(format!(
                    "known-issue entry is stale: it says rust={} python={}",
                    verdict_name(kr),
                    verdict_name(kp)
                ));
                "FAIL"
            }
            None if issues.is_empty() => "ok",
            None => "FAIL",
        };
        let _ = writeln!(
            table,
            "{:<5} rust={:<15} python={:<15} {}",
            status,
            verdict_name(r),
            verdict_name(p),
            case.name
        );
        if !issues.is_empty() {
            let _ = writeln!(
                problems,
                "case `{}`: {}\n{r_detail}{p_detail}",
                case.name,
                issues.join("; ")
            );
        }
    }
    println!("{table}");
    println!("known issues (FORMAT.md gaps, Rust deviations, writer bugs):\n{known_table}");
    // Manipulations that the format cannot detect without a checkpoint are marked as such
    // (expected OK); every other manipulated case must be flagged by both.
    for case in &cases {
        if case.manipulated && case.expect == Expect::Is(Verdict::Ok) {
            assert!(
                case.name.starts_with("drop the last"),
                "only tail truncation without a witness may verify OK: {}",
                case.name
            );
        }
    }
    assert!(
        problems.is_empty(),
        "{} cases:\n{table}\nproblems:\n{problems}",
        cases.len()
    );
}

#[test]
fn independent_verifier_self_test_passes() {
    let out = Command::new(python3())
        .arg(script())
        .arg("--self-test")
        .output()
        .expect("run the self-test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "self-test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("SELF-TEST OK"), "{stdout}");
}

#[test]
fn independent_verifier_reports_usage_errors_as_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.key");
    let out = Command::new(python3())
        .arg(script())
        .arg("--key")
        .arg(&missing)
        .arg(dir.path().join("nope.log"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    fs::write(dir.path().join("bad.key"), "audit-vk-v1:k:0:00\n").unwrap();
    fs::write(dir.path().join("a.log"), "").unwrap();
    let out = Command::new(python3())
        .arg(script())
        .arg("--key")
        .arg(dir.path().join("bad.key"))
        .arg(dir.path().join("a.log"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(Keyring::parse("audit-vk-v1:k:0:00\n").is_err());
}

#[test]
fn independent_verifier_batch_answers_like_single_runs() {
    let b = base();
    let w = Work::new(&b);
    edit_lines(&w.file(1), |l| {
        l.remove(2);
    });
    let jobs = [
        (vec![w.logdir()], None, 1),
        (w.files(), Some(w.root().join("old.witness")), 1),
        (
            vec![b.root.join("log")],
            Some(b.root.join("log").join("chain.witness")),
            0,
        ),
        (vec![w.root().join("missing.log")], None, 2),
    ];
    let mut batch = String::new();
    for (i, (paths, witness, _)) in jobs.iter().enumerate() {
        let case = Case {
            name: String::new(),
            input: Input::Files(paths.clone()),
            keyring: w.keys(),
            witness: witness.clone(),
            headers: true,
            reserialized: false,
            manipulated: false,
            expect: Expect::UsageError,
            _dir: tempfile::tempdir().unwrap(),
        };
        batch += &batch_job(i, &case);
    }
    let mut child = Command::new(python3())
        .arg(script())
        .arg("--batch")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(batch.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let answers: Vec<i64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            canonical::parse(l)
                .unwrap()
                .get_path("exit")
                .and_then(Value::as_i64)
                .unwrap()
        })
        .collect();
    for (i, (paths, witness, expected)) in jobs.iter().enumerate() {
        let mut cmd = Command::new(python3());
        cmd.arg(script()).arg("--key").arg(w.keys());
        if let Some(wit) = witness {
            cmd.arg("--witness").arg(wit);
        }
        let single = cmd.args(paths).output().unwrap().status.code().unwrap();
        assert_eq!(single, *expected, "job {i}");
        assert_eq!(
            answers[i],
            i64::from(single),
            "job {i}: batch and single run differ"
        );
    }
}
