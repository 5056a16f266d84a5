//! The workloads, each run in a child process of its own (`audit-bench --child ROW`), with
//! its subscriber installed as the global default exactly as an application would.
//!
//! Every timed workload is a whole one: N calls, then the drain (everything written to the
//! file), measured end to end. A child prints one `RESULT key=value ...` line.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audit_layer::audit_core::keys::{Keyring, SealingKey, DEFAULT_EPOCH_LEN};
use audit_layer::audit_core::verify::{Verdict, Verifier};
use audit_layer::{audited, AuditGuard, AuditLayer, Durability};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// What a child reports: `key=value` pairs (`ns` and `ops` always).
pub type Measures = Vec<(&'static str, f64)>;

/// The inputs of the four-field call, varied call to call.
struct Inputs {
    users: Vec<String>,
    ips: Vec<String>,
    rids: Vec<String>,
    event_ids: Vec<String>,
}

const INPUTS: usize = 1024;

impl Inputs {
    fn new() -> Inputs {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut inputs = Inputs {
            users: Vec::new(),
            ips: Vec::new(),
            rids: Vec::new(),
            event_ids: Vec::new(),
        };
        for i in 0..INPUTS {
            let (a, b) = (next(), next());
            inputs.users.push(format!("u-{:06}", a % 1_000_000));
            inputs.ips.push(format!("203.0.113.{}", i % 251 + 1));
            inputs.event_ids.push(format!("{:016x}", a ^ b));
            inputs.rids.push(format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                a >> 32,
                a & 0xffff,
                b & 0xfff,
                (b >> 12) & 0xfff,
                b >> 16
            ));
        }
        inputs
    }

    #[inline]
    fn get(&self, i: u64) -> (&str, &str, &str) {
        let i = i as usize % INPUTS;
        (&self.users[i], &self.ips[i], &self.rids[i])
    }

    /// An event id (16 hex digits) for the records of the components.
    fn event_id(&self, i: u64) -> &str {
        &self.event_ids[i as usize % INPUTS]
    }
}

// ---------------------------------------------------------------------------------------
// The calls
// ---------------------------------------------------------------------------------------

/// The audited call of rows 3, 4 and 7: event, actor id, source ip, request id.
#[audited(
    event = "auth.login",
    actor = %user,
    fields(source.ip = %ip, http.request.id = %request_id),
    skip_all
)]
#[inline(never)]
fn login(user: &str, ip: &str, request_id: &str) -> Result<(), String> {
    black_box((user, ip, request_id));
    Ok(())
}

/// The same call, async (row 4 with tokio tasks).
#[audited(
    event = "auth.login",
    actor = %user,
    fields(source.ip = %ip, http.request.id = %request_id),
    skip_all
)]
async fn login_async(user: String, ip: String, request_id: String) -> Result<(), String> {
    black_box((&user, &ip, &request_id));
    Ok(())
}

/// The same four fields as a plain `tracing` span (rows 1 and 2a).
#[inline(never)]
fn span_call(user: &str, ip: &str, request_id: &str) {
    let span = tracing::info_span!(
        "auth.login",
        event = "auth.login",
        user.id = %user,
        source.ip = %ip,
        http.request.id = %request_id
    );
    let _entered = span.enter();
    black_box((user, ip, request_id));
}

/// The same four fields as a plain `info!` event (row 2b).
#[inline(never)]
fn event_call(user: &str, ip: &str, request_id: &str) {
    tracing::info!(
        event = "auth.login",
        user.id = %user,
        source.ip = %ip,
        http.request.id = %request_id,
        "login"
    );
}

/// Ordinary application tracing, not audited (row 5): a span and an event in it.
#[inline(never)]
fn app_call(user: &str, path: &str) {
    let span = tracing::info_span!(
        "handle",
        http.method = "POST",
        url.path = %path,
        user = %user,
        attempt = 1u64
    );
    let _entered = span.enter();
    tracing::info!(status = 200u64, "handled");
}

/// The same with a request span carrying context fields the audit layer copies (row 5).
#[inline(never)]
fn app_call_ctx(user: &str, ip: &str, request_id: &str) {
    let span = tracing::info_span!(
        "request",
        http.method = "POST",
        request_id = %request_id,
        client_ip = %ip,
        user = %user
    );
    let _entered = span.enter();
    tracing::info!(status = 200u64, "handled");
}

// ---------------------------------------------------------------------------------------
// Subscribers
// ---------------------------------------------------------------------------------------

/// A buffered file shared by the `fmt` layer (one `write` per 64 KiB).
#[derive(Clone)]
struct SharedFile(Arc<Mutex<BufWriter<File>>>);

impl SharedFile {
    fn create(path: &Path) -> SharedFile {
        let f = File::create(path).expect("create the fmt log");
        SharedFile(Arc::new(Mutex::new(BufWriter::with_capacity(64 << 10, f))))
    }
    fn flush(&self) {
        self.0.lock().unwrap().flush().expect("flush the fmt log");
    }
}

struct Locked<'a>(std::sync::MutexGuard<'a, BufWriter<File>>);

impl Write for Locked<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.write_all(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for SharedFile {
    type Writer = Locked<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        Locked(self.0.lock().unwrap())
    }
}

/// `fmt::layer().json()`, a line per closed span and per event, to a buffered file.
fn fmt_json<S>(file: &SharedFile) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .json()
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(file.clone())
}

/// A sealing key in a state file (as `audit-log keygen` makes it) and the verification keys.
fn keys(dir: &Path) -> PathBuf {
    let (sk, vk) = SealingKey::generate("bench", DEFAULT_EPOCH_LEN).expect("generate a key");
    let state = dir.join("writer.key");
    sk.store(&state).expect("store the sealing key");
    std::fs::write(dir.join("verify.keys"), format!("{}\n", &*vk.to_text()))
        .expect("write the verification key");
    state
}

fn audit_layer(
    dir: &Path,
    durability: Durability,
    rotate: Option<u64>,
) -> (AuditLayer, AuditGuard) {
    let state = keys(dir);
    let builder = AuditLayer::builder()
        .sealing_key_file(state)
        .durability(durability);
    let builder = match rotate {
        Some(bytes) => builder.log_dir(dir.join("log")).rotate_bytes(bytes),
        None => builder.log_file(dir.join("audit.log")),
    };
    builder.build().expect("build the audit layer")
}

/// Wait until the writer has written `target` records (to the page cache: no fsync, as the
/// `fmt` rows' final `flush` does not fsync either).
fn drain(guard: &AuditGuard, target: u64) {
    while guard.metrics().records_written < target {
        std::thread::yield_now();
    }
}

fn written(guard: &AuditGuard) -> u64 {
    guard.metrics().records_written
}

fn set_global(subscriber: impl tracing::Subscriber + Send + Sync + 'static) {
    tracing::subscriber::set_global_default(subscriber).expect("set the global subscriber");
}

fn warmup_count(n: u64) -> u64 {
    (n / 10).clamp(1, 20_000)
}

/// Time `n` calls of `f` (after a warmup), then `finish`: the whole workload.
fn timed_loop(
    n: u64,
    inputs: &Inputs,
    f: impl Fn(&str, &str, &str),
    warm_finish: impl Fn(),
    finish: impl FnOnce(),
) -> Measures {
    for i in 0..warmup_count(n) {
        let (u, ip, rid) = inputs.get(i);
        f(u, ip, rid);
    }
    warm_finish();
    let t0 = Instant::now();
    for i in 0..n {
        let (u, ip, rid) = inputs.get(i);
        f(u, ip, rid);
    }
    let caller = t0.elapsed();
    finish();
    let total = t0.elapsed();
    vec![
        ("ns", total.as_nanos() as f64),
        ("ops", n as f64),
        ("caller_ns", caller.as_nanos() as f64),
    ]
}

// ---------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------

/// Run one workload in this (child) process.
pub fn run(row: &str, n: u64, dir: &Path) -> Measures {
    let inputs = Inputs::new();
    match row {
        "1a" => timed_loop(n, &inputs, span_call, || {}, || {}),
        "1b" => {
            set_global(tracing_subscriber::registry());
            timed_loop(n, &inputs, span_call, || {}, || {})
        }
        "2a" | "2b" => {
            let file = SharedFile::create(&dir.join("fmt.log"));
            set_global(tracing_subscriber::registry().with(fmt_json(&file)));
            let call = if row == "2a" { span_call } else { event_call };
            timed_loop(n, &inputs, call, || file.flush(), || file.flush())
        }
        "3a" | "3b" | "3c" => {
            let durability = match row {
                "3a" => Durability::Os,
                "3b" => Durability::Batch(BATCH),
                _ => Durability::EveryRecord,
            };
            let (layer, guard) = audit_layer(dir, durability, None);
            set_global(tracing_subscriber::registry().with(layer));
            let call = |u: &str, ip: &str, rid: &str| login(u, ip, rid).expect("login");
            let warm = warmup_count(n);
            let base = written(&guard); // the start record
            let mut m = timed_loop(
                n,
                &inputs,
                call,
                || drain(&guard, base + warm),
                || drain(&guard, base + warm + n),
            );
            m.push(("fsyncs", guard.metrics().fsyncs as f64));
            guard.shutdown().expect("shutdown");
            m
        }
        "4a" => raw_fsync(n, dir),
        "4b" | "4c" | "4d" => {
            let callers = callers(row);
            let (layer, guard) = audit_layer(dir, Durability::EveryRecord, None);
            set_global(tracing_subscriber::registry().with(layer));
            let m = threads(n, callers, &inputs, &guard);
            guard.shutdown().expect("shutdown");
            m
        }
        "4e" | "4f" | "4g" => {
            let callers = callers(row);
            let (layer, guard) = audit_layer(dir, Durability::EveryRecord, None);
            set_global(tracing_subscriber::registry().with(layer));
            let m = tasks(n, callers, &inputs, &guard);
            guard.shutdown().expect("shutdown");
            m
        }
        "5a" | "5b" | "5c" | "5d" => {
            let file = SharedFile::create(&dir.join("fmt.log"));
            let with_audit = row == "5b" || row == "5d";
            let guard = if with_audit {
                let (layer, guard) = audit_layer(dir, Durability::Os, None);
                set_global(
                    tracing_subscriber::registry()
                        .with(fmt_json(&file))
                        .with(layer),
                );
                Some(guard)
            } else {
                set_global(tracing_subscriber::registry().with(fmt_json(&file)));
                None
            };
            let m = if row == "5a" || row == "5b" {
                let call = |u: &str, _ip: &str, _rid: &str| app_call(u, "/api/v1/orders");
                timed_loop(n, &inputs, call, || file.flush(), || file.flush())
            } else {
                timed_loop(n, &inputs, app_call_ctx, || file.flush(), || file.flush())
            };
            drop(guard);
            m
        }
        "6gen" => {
            let (layer, guard) = audit_layer(dir, Durability::Os, None);
            set_global(tracing_subscriber::registry().with(layer));
            let m = timed_loop(
                n,
                &inputs,
                |u, ip, rid| login(u, ip, rid).expect("login"),
                || {},
                || {},
            );
            guard.shutdown().expect("shutdown");
            m
        }
        "6a" | "6b" => verify(dir, if row == "6a" { 0 } else { 1 }),
        "7" => sustained(n, dir, &inputs),
        "components" => components(n),
        other => panic!("unknown row {other}"),
    }
}

/// Records per fsync of row 3b.
pub const BATCH: u64 = 1000;

fn callers(row: &str) -> u64 {
    match row {
        "4b" | "4e" => 1,
        "4c" | "4f" => 8,
        _ => 64,
    }
}

/// One `write` + `fdatasync` per record, no pipeline: the cost of "one fsync per record".
fn raw_fsync(n: u64, dir: &Path) -> Measures {
    let line = format!("{}\n", "x".repeat(480));
    let mut f = File::create(dir.join("raw.log")).expect("create");
    for _ in 0..warmup_count(n).min(20) {
        f.write_all(line.as_bytes()).expect("write");
        f.sync_data().expect("fdatasync");
    }
    let t0 = Instant::now();
    for _ in 0..n {
        f.write_all(line.as_bytes()).expect("write");
        f.sync_data().expect("fdatasync");
    }
    vec![
        ("ns", t0.elapsed().as_nanos() as f64),
        ("ops", n as f64),
        ("fsyncs", n as f64),
    ]
}

/// `callers` threads share `n` audited calls (EveryRecord: each returns once durable).
fn threads(n: u64, callers: u64, inputs: &Inputs, guard: &AuditGuard) -> Measures {
    let per = (n / callers).max(1);
    let fsyncs0 = guard.metrics().fsyncs;
    let barrier = std::sync::Barrier::new(callers as usize + 1);
    let t0 = std::thread::scope(|s| {
        for c in 0..callers {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for i in 0..per {
                    let (u, ip, rid) = inputs.get(c * per + i);
                    login(u, ip, rid).expect("login");
                }
            });
        }
        barrier.wait();
        Instant::now()
    });
    let elapsed = t0.elapsed();
    vec![
        ("ns", elapsed.as_nanos() as f64),
        ("ops", (per * callers) as f64),
        ("fsyncs", (guard.metrics().fsyncs - fsyncs0) as f64),
    ]
}

/// `callers` tokio tasks on a multi-thread runtime (one worker per core) share `n` calls.
fn tasks(n: u64, callers: u64, inputs: &Inputs, guard: &AuditGuard) -> Measures {
    let per = (n / callers).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .build()
        .expect("runtime");
    let args: Vec<Vec<(String, String, String)>> = (0..callers)
        .map(|c| {
            (0..per)
                .map(|i| {
                    let (u, ip, rid) = inputs.get(c * per + i);
                    (u.to_owned(), ip.to_owned(), rid.to_owned())
                })
                .collect()
        })
        .collect();
    let fsyncs0 = guard.metrics().fsyncs;
    let t0 = Instant::now();
    rt.block_on(async {
        let handles: Vec<_> = args
            .into_iter()
            .map(|calls| {
                tokio::spawn(async move {
                    for (u, ip, rid) in calls {
                        login_async(u, ip, rid).await.expect("login");
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("task");
        }
    });
    let elapsed = t0.elapsed();
    vec![
        ("ns", elapsed.as_nanos() as f64),
        ("ops", (per * callers) as f64),
        ("fsyncs", (guard.metrics().fsyncs - fsyncs0) as f64),
    ]
}

/// Verify the log written by `6gen` (`threads` 0: the default, all cores).
fn verify(dir: &Path, threads: usize) -> Measures {
    let text = std::fs::read_to_string(dir.join("verify.keys")).expect("read keys");
    let keyring = Keyring::parse(&text).expect("keyring");
    let log = dir.join("audit.log");
    let bytes = std::fs::metadata(&log).expect("log").len();
    let mut verifier = Verifier::new(keyring);
    if threads > 0 {
        verifier = verifier.with_threads(threads);
    }
    let t0 = Instant::now();
    let report = verifier.verify_files(&[log]).expect("verify");
    let elapsed = t0.elapsed();
    assert_eq!(report.verdict(), Verdict::Ok, "{:?}", report.findings);
    vec![
        ("ns", elapsed.as_nanos() as f64),
        ("ops", report.lines as f64),
        ("bytes", bytes as f64),
    ]
}

/// VmRSS and VmHWM in KiB.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Reset VmHWM to the current RSS (`echo 5 > /proc/self/clear_refs`), so that VmHWM is the
/// peak since then. Returns whether the kernel allowed it.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Row 7: `n` records through the full pipeline (Os): the peak RSS of each tenth of the run
/// (VmHWM, reset at the start of each tenth) and the RSS at its end.
/// The log rotates every 256 MiB and closed files are deleted (as log shipping would), so
/// the run does not fill the disk.
fn sustained(n: u64, dir: &Path, inputs: &Inputs) -> Measures {
    let (layer, guard) = audit_layer(dir, Durability::Os, Some(256 << 20));
    set_global(tracing_subscriber::registry().with(layer));
    let log_dir = dir.join("log");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cleaner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let mut files: Vec<PathBuf> = std::fs::read_dir(&log_dir)
                    .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                    .unwrap_or_default();
                files.retain(|p| p.extension().is_some_and(|e| e == "log"));
                files.sort();
                files.pop(); // the one being written
                for f in files {
                    let _ = std::fs::remove_file(f);
                }
            }
        })
    };
    let step = (n / 10).max(1);
    let mut m: Measures = Vec::new();
    let base = written(&guard);
    let mut reset = reset_peak_rss();
    let t0 = Instant::now();
    for i in 0..n {
        let (u, ip, rid) = inputs.get(i);
        login(u, ip, rid).expect("login");
        if (i + 1) % step == 0 {
            let (rss, peak) = rss();
            let tenth = ((i + 1) / step - 1).min(9) as usize;
            m.push((SAMPLE_KEYS[tenth], peak as f64));
            m.push((RSS_KEYS[tenth], rss as f64));
            reset &= reset_peak_rss();
        }
    }
    drain(&guard, base + n);
    let elapsed = t0.elapsed();
    let (_, hwm) = rss();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = cleaner.join();
    guard.shutdown().expect("shutdown");
    m.extend([
        ("ns", elapsed.as_nanos() as f64),
        ("ops", n as f64),
        ("hwm_kib", hwm as f64),
        ("peak_reset", if reset { 1.0 } else { 0.0 }),
    ]);
    m
}

/// Keys of the peak RSS of each tenth of row 7 (KiB).
pub const SAMPLE_KEYS: [&str; 10] = [
    "peak1", "peak2", "peak3", "peak4", "peak5", "peak6", "peak7", "peak8", "peak9", "peak10",
];

/// Keys of the RSS at the end of each tenth of row 7 (KiB).
pub const RSS_KEYS: [&str; 10] = [
    "rss1", "rss2", "rss3", "rss4", "rss5", "rss6", "rss7", "rss8", "rss9", "rss10",
];

// ---------------------------------------------------------------------------------------
// Components (`--components`): what one audited call is made of, each timed alone
// ---------------------------------------------------------------------------------------

/// Time `f` over `n` iterations, in ns per iteration (median of 5 rounds).
fn per_iter(n: u64, mut f: impl FnMut(u64)) -> f64 {
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let t0 = Instant::now();
            for i in 0..n {
                f(i);
            }
            t0.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    rounds.sort_by(|a, b| a.total_cmp(b));
    rounds[2]
}

/// A record like the one `login` builds (before redaction).
fn sample_record(inputs: &Inputs, i: u64) -> audit_layer::audit_core::record::Record {
    use audit_layer::audit_core::record::{Outcome, Record};
    let (u, ip, rid) = inputs.get(i);
    let mut r =
        Record::new("auth.login", Outcome::Success, std::time::SystemTime::now()).expect("record");
    r.set_actor(u);
    let _ = r.set("source.ip", ip);
    let _ = r.set("http.request.id", rid);
    r.set_duration(Duration::from_nanos(1234));
    let _ = r.set("event.id", format!("{:016x}", i));
    r
}

/// The same record, built flat as an audited call builds it.
/// The flat record `login` builds, as the capture builds it: the captured strings and the
/// event id inline (no allocation).
fn sample_flat(inputs: &Inputs, i: u64) -> audit_layer::audit_core::flat::FlatRecord {
    use audit_layer::audit_core::flat::{FlatRecord, FlatValue};
    use audit_layer::audit_core::record::Outcome;
    let (u, ip, rid) = inputs.get(i);
    let mut r = FlatRecord::new("auth.login", Outcome::Success, std::time::SystemTime::now())
        .expect("record");
    r.set_actor(FlatValue::text(u));
    let _ = r.set_or_field("source.ip", FlatValue::text(ip));
    let _ = r.set_or_field("http.request.id", FlatValue::text(rid));
    r.set_duration(Duration::from_nanos(1234));
    r.set_event_id(inputs.event_id(i));
    r
}

/// The components, each in ns per call.
pub fn components(n: u64) -> Measures {
    use audit_layer::audit_core::canonical::Value;
    use audit_layer::audit_core::redact::Policy;
    use audit_layer::audit_core::seal::Sealer;
    let inputs = Inputs::new();
    let policy = Policy::default();
    let mut m: Measures = Vec::new();
    m.push((
        "build_record",
        per_iter(n, |i| {
            black_box(sample_record(&inputs, i));
        }),
    ));
    m.push((
        "format_timestamp",
        per_iter(n, |_| {
            black_box(audit_layer::audit_core::time::format_timestamp(
                std::time::SystemTime::now(),
            ));
        }),
    ));
    m.push((
        "record_new",
        per_iter(n, |_| {
            black_box(
                audit_layer::audit_core::record::Record::new(
                    "auth.login",
                    audit_layer::audit_core::record::Outcome::Success,
                    std::time::SystemTime::now(),
                )
                .expect("record"),
            );
        }),
    ));
    let records: Vec<_> = (0..INPUTS as u64)
        .map(|i| sample_record(&inputs, i))
        .collect();
    m.push((
        "clone_record",
        per_iter(n, |i| {
            black_box(records[i as usize % INPUTS].clone());
        }),
    ));
    m.push((
        "clone_redact",
        per_iter(n, |i| {
            let mut r = records[i as usize % INPUTS].clone();
            policy.apply_record(&mut r);
            black_box(r);
        }),
    ));
    m.push((
        "clone_serialize",
        per_iter(n, |i| {
            let r = records[i as usize % INPUTS].clone();
            black_box(Value::Object(r.into_body()).to_canonical_string());
        }),
    ));
    m.push((
        "flat_build",
        per_iter(n, |i| {
            black_box(sample_flat(&inputs, i));
        }),
    ));
    let flats: Vec<_> = (0..INPUTS as u64)
        .map(|i| sample_flat(&inputs, i))
        .collect();
    m.push((
        "flat_clone",
        per_iter(n, |i| {
            black_box(flats[i as usize % INPUTS].clone());
        }),
    ));
    m.push((
        "flat_clone_tree",
        per_iter(n, |i| {
            let r = flats[i as usize % INPUTS].clone();
            black_box(r.into_unsealed(&policy));
        }),
    ));
    let mut layouts = audit_layer::audit_core::layout::LayoutCache::new();
    m.push((
        "flat_clone_layout",
        per_iter(n, |i| {
            let r = flats[i as usize % INPUTS].clone();
            black_box(layouts.unsealed(r, &policy));
        }),
    ));
    let (sk, _) = SealingKey::generate("bench", DEFAULT_EPOCH_LEN).expect("key");
    let mut sealer = Sealer::with_chain_id(sk, "0123456789abcdef0123456789abcdef").expect("sealer");
    m.push((
        "clone_seal",
        per_iter(n, |i| {
            let r = records[i as usize % INPUTS].clone();
            black_box(sealer.seal(r).expect("seal"));
        }),
    ));
    let line = sealer.seal(records[0].clone()).expect("seal").line;
    let mk = SealingKey::generate("bench", 1024)
        .expect("key")
        .0
        .mac_key();
    m.push((
        "hmac_line",
        per_iter(n, |_| {
            black_box(mk.mac(black_box(line.as_bytes())));
        }),
    ));
    m.push(("line_bytes", line.len() as f64));
    m.push(("ns", 0.0));
    m.push(("ops", n as f64));
    m
}
