//! `cargo run --release -p audit-bench`: the audit pipeline against plain `tracing` logging,
//! every row measured in the same run, printed as one table (see BENCHMARKS.md).
//!
//! Each measurement runs in a child process of its own (this binary with `--child`), with
//! its subscriber installed as the global default as an application would, so rows cannot
//! disturb each other. Runs are interleaved (run 1 of every row, then run 2, ...), and
//! ratios are taken between measurements of the same run, so that a busy machine slows
//! both sides of a ratio alike. The table shows the median of the runs and their spread.

mod workloads;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use clap::Parser;

/// Benchmarks of the audit pipeline against plain `tracing` logging.
#[derive(Parser, Debug)]
#[command(name = "audit-bench")]
struct Args {
    /// A short smoke run: small N, 2 runs, 100 k records for the sustained row.
    #[arg(long)]
    quick: bool,
    /// Only these rows (groups `1`..`7` or ids like `3a`), comma-separated.
    #[arg(long, value_delimiter = ',')]
    rows: Vec<String>,
    /// Runs per row (the table shows their median and spread).
    #[arg(long)]
    runs: Option<usize>,
    /// Calls per run of the per-call rows (1, 2, 3a, 3b, 5) and records of the verified log (6).
    #[arg(long)]
    records: Option<u64>,
    /// Records of the sustained RSS row (7).
    #[arg(long)]
    sustained_records: Option<u64>,
    /// Leave out the sustained row (7).
    #[arg(long)]
    no_sustained: bool,
    /// Also time the parts of one audited call alone (record building, redaction,
    /// serialization, sealing, HMAC) and list them after the table.
    #[arg(long)]
    components: bool,
    /// Where the logs are written (a real disk, so that fsync costs what it costs).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Internal: run one workload and print its result.
    #[arg(long, hide = true)]
    child: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// Time per call; lower is better; ratio = row time / baseline time.
    NsPerOp,
    /// Records per second; ratio = row rate / baseline rate.
    PerSec,
    /// MB/s of log verified or hashed; ratio = row rate / baseline rate.
    MBps,
}

#[derive(Clone, Copy)]
enum Check {
    /// At most this many ns per call.
    MaxNs(f64),
    /// Ratio against the baseline at most this.
    MaxRatio(f64),
    /// Ratio against the baseline at least this.
    MinRatio(f64),
    /// The last RSS sample within this fraction of the first.
    RssFlat(f64),
}

struct Row {
    id: &'static str,
    what: &'static str,
    n: u64,
    quick_n: u64,
    unit: Unit,
    baseline: Option<&'static str>,
    checks: &'static [Check],
    /// External command instead of a child workload (row 6 baselines).
    command: Option<&'static str>,
}

const PER_CALL_N: u64 = 200_000;
const VERIFY_N: u64 = 1_000_000;
const SUSTAINED_N: u64 = 10_000_000;

#[rustfmt::skip]
const ROWS: &[Row] = &[
    Row { id: "1a", what: "tracing span, 4 fields, no subscriber installed", n: 2_000_000, quick_n: 20_000, unit: Unit::NsPerOp, baseline: None, checks: &[], command: None },
    Row { id: "1b", what: "tracing span, 4 fields, bare Registry", n: 1_000_000, quick_n: 20_000, unit: Unit::NsPerOp, baseline: None, checks: &[], command: None },
    Row { id: "2a", what: "fmt JSON: one line per span (FmtSpan::CLOSE), buffered file", n: PER_CALL_N, quick_n: 5_000, unit: Unit::NsPerOp, baseline: None, checks: &[], command: None },
    Row { id: "2b", what: "fmt JSON: one info! event per call, buffered file", n: PER_CALL_N, quick_n: 5_000, unit: Unit::NsPerOp, baseline: Some("2a"), checks: &[], command: None },
    Row { id: "3a", what: "audit pipeline, Durability::Os (#[audited] -> redact -> seal -> file)", n: PER_CALL_N, quick_n: 5_000, unit: Unit::NsPerOp, baseline: Some("2a"), checks: &[Check::MaxNs(1000.0), Check::MaxRatio(0.5)], command: None },
    Row { id: "3b", what: "audit pipeline, Durability::Batch(1000)", n: PER_CALL_N, quick_n: 5_000, unit: Unit::NsPerOp, baseline: Some("2a"), checks: &[], command: None },
    Row { id: "3c", what: "audit pipeline, Durability::EveryRecord, 1 caller", n: 1_000, quick_n: 50, unit: Unit::NsPerOp, baseline: Some("2a"), checks: &[], command: None },
    Row { id: "4a", what: "one write + fdatasync per record, no pipeline (the disk's floor)", n: 1_000, quick_n: 50, unit: Unit::PerSec, baseline: Some("4b"), checks: &[], command: None },
    Row { id: "4b", what: "EveryRecord, 1 thread: one fsync per record", n: 1_000, quick_n: 50, unit: Unit::PerSec, baseline: None, checks: &[], command: None },
    Row { id: "4c", what: "EveryRecord, 8 threads", n: 4_000, quick_n: 200, unit: Unit::PerSec, baseline: Some("4b"), checks: &[], command: None },
    Row { id: "4d", what: "EveryRecord, 64 threads", n: 32_000, quick_n: 1_280, unit: Unit::PerSec, baseline: Some("4b"), checks: &[Check::MinRatio(20.0)], command: None },
    Row { id: "4e", what: "EveryRecord, 1 tokio task (2 workers)", n: 1_000, quick_n: 50, unit: Unit::PerSec, baseline: Some("4b"), checks: &[], command: None },
    Row { id: "4f", what: "EveryRecord, 8 tokio tasks (2 workers)", n: 4_000, quick_n: 200, unit: Unit::PerSec, baseline: Some("4b"), checks: &[], command: None },
    Row { id: "4g", what: "EveryRecord, 64 tokio tasks (2 workers)", n: 32_000, quick_n: 1_280, unit: Unit::PerSec, baseline: Some("4b"), checks: &[Check::MinRatio(20.0)], command: None },
    Row { id: "5a", what: "app span + event, fmt JSON alone", n: PER_CALL_N / 2, quick_n: 5_000, unit: Unit::NsPerOp, baseline: None, checks: &[], command: None },
    Row { id: "5b", what: "app span + event, fmt JSON + audit layer", n: PER_CALL_N / 2, quick_n: 5_000, unit: Unit::NsPerOp, baseline: Some("5a"), checks: &[Check::MaxRatio(1.02)], command: None },
    Row { id: "5c", what: "request span (request_id, client_ip) + event, fmt JSON alone", n: PER_CALL_N / 2, quick_n: 5_000, unit: Unit::NsPerOp, baseline: None, checks: &[], command: None },
    Row { id: "5d", what: "request span (request_id, client_ip) + event, fmt JSON + audit layer", n: PER_CALL_N / 2, quick_n: 5_000, unit: Unit::NsPerOp, baseline: Some("5c"), checks: &[], command: None },
    Row { id: "6a", what: "audit-log verify (Verifier, all cores)", n: VERIFY_N, quick_n: 20_000, unit: Unit::MBps, baseline: Some("6d"), checks: &[Check::MinRatio(1.0)], command: None },
    Row { id: "6b", what: "audit-log verify (Verifier, 1 thread)", n: VERIFY_N, quick_n: 20_000, unit: Unit::MBps, baseline: Some("6d"), checks: &[], command: None },
    Row { id: "6c", what: "sha256sum of the same file", n: VERIFY_N, quick_n: 20_000, unit: Unit::MBps, baseline: Some("6d"), checks: &[], command: Some("sha256sum") },
    Row { id: "6d", what: "openssl dgst -sha256 of the same file", n: VERIFY_N, quick_n: 20_000, unit: Unit::MBps, baseline: None, checks: &[], command: Some("openssl dgst -sha256") },
    Row { id: "7", what: "sustained run, full pipeline (Os): peak RSS, first -> last tenth", n: SUSTAINED_N, quick_n: 100_000, unit: Unit::NsPerOp, baseline: None, checks: &[Check::RssFlat(0.10)], command: None },
];

/// How many times the row-5 rows run per run: their target (2 %) is finer than the noise.
const ROW5_REPEATS: usize = 3;

type Sample = BTreeMap<String, f64>;

fn main() {
    let args = Args::parse();
    if let Some(row) = &args.child {
        let n = args.records.expect("--records");
        let dir = args.dir.clone().expect("--dir");
        let m = workloads::run(row, n, &dir);
        let mut line = String::from("RESULT");
        for (k, v) in m {
            line += &format!(" {k}={v}");
        }
        println!("{line}");
        return;
    }
    if let Err(e) = bench(&args) {
        eprintln!("audit-bench: {e}");
        std::process::exit(1);
    }
}

fn selected(args: &Args) -> Vec<&'static Row> {
    ROWS.iter()
        .filter(|r| {
            args.rows.is_empty()
                || args
                    .rows
                    .iter()
                    .any(|s| s == r.id || r.id.starts_with(s.as_str()) && s.len() == 1)
        })
        .filter(|r| !(args.no_sustained && r.id == "7"))
        .collect()
}

fn row_n(args: &Args, row: &Row) -> u64 {
    if row.id == "7" {
        return args
            .sustained_records
            .unwrap_or(if args.quick { row.quick_n } else { row.n });
    }
    let scaled = matches!(
        row.id,
        "1a" | "1b" | "2a" | "2b" | "3a" | "3b" | "5a" | "5b" | "5c" | "5d"
    ) || row.id.starts_with('6');
    match args.records {
        Some(n) if scaled => n,
        _ if args.quick => row.quick_n,
        _ => row.n,
    }
}

fn bench(args: &Args) -> Result<(), String> {
    let rows = selected(args);
    if rows.is_empty() {
        return Err("no row selected (see --help)".into());
    }
    let runs = args.runs.unwrap_or(if args.quick { 2 } else { 5 }).max(1);
    let base = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/audit-bench"));
    // A directory of its own inside `base`, removed at the end (never `base` itself).
    let root = base.join(format!("run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let root = root.canonicalize().map_err(|e| e.to_string())?;
    let started = Instant::now();

    // The log that row 6 verifies, written once by the pipeline itself.
    let verify_dir = root.join("verify");
    if rows.iter().any(|r| r.id.starts_with('6')) {
        std::fs::create_dir_all(&verify_dir).map_err(|e| e.to_string())?;
        let n = row_n(args, rows.iter().find(|r| r.id.starts_with('6')).unwrap());
        eprintln!("writing the log to verify ({n} records)...");
        child("6gen", n, &verify_dir)?;
    }

    let mut samples: BTreeMap<&'static str, Vec<Sample>> = BTreeMap::new();
    let repeated: Vec<&Row> = rows.iter().copied().filter(|r| r.id != "7").collect();
    for run in 0..runs {
        eprint!("run {}/{runs}:", run + 1);
        let mut plan: Vec<&Row> = Vec::new();
        for r in &repeated {
            if r.id.starts_with('5') {
                if r.id == "5a" || (!plan.iter().any(|p| p.id.starts_with('5'))) {
                    let group: Vec<&Row> = repeated
                        .iter()
                        .copied()
                        .filter(|r| r.id.starts_with('5'))
                        .collect();
                    for _ in 0..ROW5_REPEATS {
                        plan.extend(group.iter().copied());
                    }
                }
            } else {
                plan.push(r);
            }
        }
        for row in plan {
            eprint!(" {}", row.id);
            let n = row_n(args, row);
            let s = match row.command {
                Some(cmd) => external(cmd, &verify_dir.join("audit.log"))?,
                None if row.id.starts_with('6') => child(row.id, n, &verify_dir)?,
                None => {
                    let dir = root.join(format!("r{run}-{}", row.id));
                    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                    let s = child(row.id, n, &dir)?;
                    let _ = std::fs::remove_dir_all(&dir);
                    s
                }
            };
            samples.entry(row.id).or_default().push(s);
        }
        eprintln!();
    }
    if let Some(row) = rows.iter().find(|r| r.id == "7") {
        let n = row_n(args, row);
        eprintln!("sustained run: {n} records...");
        let dir = root.join("sustained");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let s = child("7", n, &dir)?;
        let _ = std::fs::remove_dir_all(&dir);
        samples.entry("7").or_default().push(s);
    }
    let components = if args.components {
        eprintln!("components...");
        Some(child(
            "components",
            if args.quick { 20_000 } else { 200_000 },
            &root,
        )?)
    } else {
        None
    };
    let _ = std::fs::remove_dir_all(&root);
    print_table(args, &rows, &samples, runs, started.elapsed().as_secs_f64());
    if let Some(c) = components {
        println!("\nparts of one audited call, each timed alone (ns, median of 5 rounds):");
        for (k, v) in c {
            if k != "ns" && k != "ops" {
                println!("  {k:<18} {v:>8.1}");
            }
        }
    }
    Ok(())
}

fn child(row: &str, n: u64, dir: &Path) -> Result<Sample, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .args(["--child", row, "--records", &n.to_string(), "--dir"])
        .arg(dir)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("row {row}: {e}"))?;
    if !out.status.success() {
        return Err(format!("row {row} failed ({})", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT"))
        .ok_or_else(|| format!("row {row}: no result"))?;
    Ok(line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect())
}

/// Time an external hashing command over the log (its output discarded). A command that
/// is not installed gives an empty sample (shown as n/a), not an error.
fn external(cmd: &str, file: &Path) -> Result<Sample, String> {
    let mut parts = cmd.split_whitespace();
    let program = parts.next().unwrap_or_default();
    let bytes = std::fs::metadata(file).map_err(|e| e.to_string())?.len();
    let t0 = Instant::now();
    let status = match Command::new(program)
        .args(parts)
        .arg(file)
        .stdout(Stdio::null())
        .status()
    {
        Ok(status) => status,
        Err(e) => {
            eprintln!("\n{program}: {e} (not installed?): its row is left empty");
            return Ok(Sample::new());
        }
    };
    let ns = t0.elapsed().as_nanos() as f64;
    if !status.success() {
        return Err(format!("{cmd} failed ({status})"));
    }
    let mut s = Sample::new();
    s.insert("ns".into(), ns);
    s.insert("bytes".into(), bytes as f64);
    s.insert("ops".into(), 0.0);
    Ok(s)
}

/// The primary value of a sample in the row's unit.
fn value(row: &Row, s: &Sample) -> f64 {
    let ns = s.get("ns").copied().unwrap_or(f64::NAN);
    let ops = s.get("ops").copied().unwrap_or(f64::NAN);
    match row.unit {
        Unit::NsPerOp => ns / ops,
        Unit::PerSec => ops / (ns / 1e9),
        Unit::MBps => s.get("bytes").copied().unwrap_or(f64::NAN) / 1e6 / (ns / 1e9),
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn fmt_value(unit: Unit, v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    match unit {
        Unit::NsPerOp if v >= 100_000.0 => format!("{:.1} us", v / 1000.0),
        Unit::NsPerOp if v >= 10_000.0 => format!("{:.2} us", v / 1000.0),
        Unit::NsPerOp if v >= 1_000.0 => format!("{:.3} us", v / 1000.0),
        Unit::NsPerOp => format!("{v:.1} ns"),
        Unit::PerSec => format!("{v:.0} rec/s"),
        Unit::MBps => format!("{v:.0} MB/s"),
    }
}

fn print_table(
    args: &Args,
    rows: &[&Row],
    samples: &BTreeMap<&'static str, Vec<Sample>>,
    runs: usize,
    secs: f64,
) {
    println!("{}", machine());
    println!(
        "audit-bench: {runs} run(s) per row{}, interleaved; median [min - max]; ratios paired within a run; {:.0} s\n",
        if args.quick { " (--quick)" } else { "" },
        secs
    );
    println!("| row | workload | N | median | spread (min - max) | vs baseline | target | met |");
    println!("|---|---|---:|---:|---|---|---|---|");
    let mut verdicts: Vec<String> = Vec::new();
    for row in rows {
        let Some(ss) = samples.get(row.id) else {
            continue;
        };
        let mut vals: Vec<f64> = ss.iter().map(|s| value(row, s)).collect();
        let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let med = median(&mut vals);
        let n = ss
            .first()
            .and_then(|s| s.get("ops"))
            .copied()
            .unwrap_or(0.0);
        let ratio = row.baseline.and_then(|b| {
            let base_row = ROWS.iter().find(|r| r.id == b)?;
            let bs = samples.get(b)?;
            let mut rs: Vec<f64> = ss
                .iter()
                .zip(bs.iter())
                // Time over time for ns/call rows, rate over rate for the others.
                .map(|(s, t)| value(row, s) / value(base_row, t))
                .collect();
            Some(median(&mut rs))
        });
        let ratio_text = match (ratio, row.unit) {
            (Some(r), Unit::NsPerOp) => format!("{r:.2}x time of {}", row.baseline.unwrap()),
            (Some(r), _) => format!("{r:.2}x rate of {}", row.baseline.unwrap()),
            (None, _) => String::new(),
        };
        let mut targets = Vec::new();
        let mut met = Vec::new();
        let (mut median_text, mut spread_text) = (
            fmt_value(row.unit, med),
            format!("{} - {}", fmt_value(row.unit, lo), fmt_value(row.unit, hi)),
        );
        for c in row.checks {
            let (t, ok) = match *c {
                Check::MaxNs(max) => (format!("<= {}", fmt_value(Unit::NsPerOp, max)), med <= max),
                Check::MaxRatio(max) => (format!("<= {max}x"), ratio.is_some_and(|r| r <= max)),
                Check::MinRatio(min) => (format!(">= {min}x"), ratio.is_some_and(|r| r >= min)),
                Check::RssFlat(frac) => {
                    let s = &ss[0];
                    let first = s.get(workloads::SAMPLE_KEYS[0]).copied().unwrap_or(0.0);
                    let last = workloads::SAMPLE_KEYS
                        .iter()
                        .rev()
                        .find_map(|k| s.get(*k))
                        .copied()
                        .unwrap_or(0.0);
                    let change = (last - first) / first;
                    median_text = format!("{:.1} -> {:.1} MiB", first / 1024.0, last / 1024.0);
                    spread_text = format!(
                        "{:+.1} %; highest {:.1} MiB; {}/record; run once",
                        change * 100.0,
                        workloads::SAMPLE_KEYS
                            .iter()
                            .filter_map(|k| s.get(*k))
                            .fold(0.0f64, |a, b| a.max(*b))
                            / 1024.0,
                        fmt_value(Unit::NsPerOp, med)
                    );
                    (
                        format!("RSS within {:.0} %", frac * 100.0),
                        change.abs() <= frac,
                    )
                }
            };
            verdicts.push(format!(
                "{} {}: {} ({})",
                if ok { "MET   " } else { "MISSED" },
                row.id,
                t,
                row.what
            ));
            targets.push(t);
            met.push(if ok { "yes" } else { "**no**" });
        }
        let extra = match row.id {
            "3a" | "3b" | "3c" => ss
                .iter()
                .map(|s| s["caller_ns"] / s["ops"])
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        let mut what = row.what.to_owned();
        if !extra.is_empty() {
            let mut e = extra;
            what += &format!(" [caller {}]", fmt_value(Unit::NsPerOp, median(&mut e)));
        }
        if row.id.starts_with('4') && row.id != "4a" {
            let mut per: Vec<f64> = ss.iter().map(|s| s["ops"] / s["fsyncs"].max(1.0)).collect();
            what += &format!(" [{:.1} rec/fsync]", median(&mut per));
        }
        if row.id.starts_with('6') {
            let mut rps: Vec<f64> = ss
                .iter()
                .map(|s| s.get("ns").copied().unwrap_or(f64::NAN))
                .collect();
            let lines = samples
                .get("6a")
                .or(samples.get("6b"))
                .and_then(|v| v.first())
                .and_then(|s| s.get("ops").copied())
                .unwrap_or(0.0);
            if lines > 0.0 {
                what += &format!(" [{:.2} M rec/s]", lines / (median(&mut rps) / 1e9) / 1e6);
            }
        }
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            row.id,
            what,
            if n > 0.0 {
                format!("{n:.0}")
            } else {
                String::from("-")
            },
            median_text,
            spread_text,
            ratio_text,
            targets.join(", "),
            met.join(", ")
        );
    }
    if let Some(s) = samples.get("7").and_then(|v| v.first()) {
        let list = |keys: &[&str]| -> String {
            keys.iter()
                .filter_map(|k| s.get(*k))
                .map(|v| format!("{:.1}", v / 1024.0))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let how = if s.get("peak_reset") == Some(&1.0) {
            "VmHWM reset at the start of each tenth"
        } else {
            "VmHWM could not be reset: cumulative"
        };
        println!(
            "\nrow 7 peak RSS (MiB) of each tenth ({how}): {}",
            list(&workloads::SAMPLE_KEYS)
        );
        println!(
            "row 7 RSS (MiB) at the end of each tenth: {}",
            list(&workloads::RSS_KEYS)
        );
    }
    println!("\ntargets:");
    for v in verdicts {
        println!("  {v}");
    }
}

/// The machine, for the record.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    format!("machine: {cpu}, {cores} cores, Linux {kernel}, load average {load}")
}
