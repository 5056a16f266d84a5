//! `audit-log verify`: check MACs, chain links, files, checkpoints and state.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use audit_core::checkpoint::{self, Checkpoint};
use audit_core::keys::{KeyError, Keyring, VerificationKey, SEALING_PREFIX};
use audit_core::verify::{
    self as core_verify, FindingKind, Report, Verdict, Verifier, VerifierState, VerifyOptions,
};

use crate::safe::escape_invisibles;
use crate::{fail, CliResult, Failure};

/// The environment variable read for verification keys when `--key` is not given.
pub const VERIFY_KEYS_ENV: &str = "AUDIT_LOG_VERIFY_KEYS";

/// Inputs at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 8 << 20;

const LONG_ABOUT: &str = "\
Verify audit logs: every record's MAC, the chain links, the files, and optionally signed
checkpoints and the state of an earlier run.

PATH is one or more log files, oldest first (a rotated log: audit.log.1 audit.log), or ONE
directory, whose files are read in name order (names starting with '.' or ending in .tmp,
.key, .state or .witness are skipped; keep keyrings elsewhere). Name order must be oldest
first: dated names (audit-2026-11-25.log) work, logrotate's audit.log.1 does not (list
such files explicitly instead).

The verification keys (`audit-vk-v1:...` lines printed by `audit-log keygen`; one per line,
'#' comments allowed) come from --key FILE, or else from the environment variable named by
--key-env (default AUDIT_LOG_VERIFY_KEYS; keys separated by newlines or commas).

A keyed chain proves every record it holds but not that none were cut off the end. Two
optional inputs close that gap:
  --witness FILE  signed checkpoints written by `audit-log emit --witness` (or the
                  library): records a checkpoint vouches for must be present.
  --state FILE    the verifier's own memory: the chain head verified last time is saved
                  here after an OK run; a log that later ends before it, or differs from it,
                  is ROLLED_BACK.

The verifier never stops at the first fault: it prints every finding with file:line and
seq, then a summary and the verdict. With --json, one JSON object on one line instead.

Exit status (the verdict; when several apply, the most severe wins):
  0  OK               every record verified; nothing a checkpoint or the state knows of is missing
  1  TAMPERED         a record was changed, removed, inserted, reordered, spliced or unsealed
  3  INCOMPLETE_TAIL  the last line was cut off mid-write (a crash); everything before verified
  4  TRUNCATED        records a signed checkpoint vouches for are missing at the end
  5  ROLLED_BACK      the log is older than (or differs from) the one verified before (--state)
  6  UNKNOWN_KEY      records were signed with a key id that is not in the keyring
  2  error            bad usage, missing or malformed key, unreadable file (nothing verified)";

/// Arguments of `audit-log verify`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Verify logs: MACs, chain, files, checkpoints; exit code is the verdict",
    long_about = LONG_ABOUT
)]
pub struct VerifyArgs {
    /// Log files in order (oldest first), or one directory.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,

    /// Keyring file: verification keys (audit-vk-v1:...), one per line.
    #[arg(long, value_name = "KEYRING_FILE", conflicts_with = "key_env")]
    key: Option<PathBuf>,

    /// Read the verification keys from this environment variable instead of a file
    /// (newline- or comma-separated).
    #[arg(long, value_name = "VAR", default_value = VERIFY_KEYS_ENV)]
    key_env: String,

    /// A witness file of signed checkpoints; repeatable.
    #[arg(long, value_name = "FILE")]
    witness: Vec<PathBuf>,

    /// The verifier's state file: checked against, and updated after an OK (or
    /// INCOMPLETE_TAIL) verdict. Created if missing.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,

    /// Print the report as one line of JSON.
    #[arg(long)]
    json: bool,

    /// The records went through a JSON re-serializer (a SIEM export, jq): accept
    /// non-canonical lines (they are checked after re-canonicalisation) and do not require
    /// per-file header records.
    #[arg(long)]
    reserialized: bool,

    /// Accept a log whose first record is not seq 0 (older files deleted by retention).
    #[arg(long)]
    allow_partial_head: bool,

    /// Never show a progress bar.
    #[arg(long)]
    no_progress: bool,
}

fn key_error_hint(e: &KeyError, line: &str) -> String {
    let mut msg = e.to_string();
    if line.starts_with(SEALING_PREFIX) {
        msg.push_str(
            "; this is a writer's sealing state, not a verification key: verify with the audit-vk-v1 line that `audit-log keygen` printed",
        );
    }
    msg
}

/// Parse keyring text, naming the line (or entry) of any error.
fn parse_keyring<'a>(
    what: &str,
    unit: &str,
    entries: impl Iterator<Item = &'a str>,
) -> CliResult<Keyring> {
    let mut ring = Keyring::new();
    for (i, entry) in entries.enumerate() {
        let entry = entry.trim();
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        let key: VerificationKey = entry.parse().map_err(|e| {
            Failure::new(format!(
                "{what} {unit} {}: {}",
                i + 1,
                key_error_hint(&e, entry)
            ))
        })?;
        ring.add(key)
            .map_err(|e| Failure::new(format!("{what} {unit} {}: {e}", i + 1)))?;
    }
    if ring.is_empty() {
        return fail(format!("{what} holds no verification key (expected lines like audit-vk-v1:<kid>:<epoch_len>:<hex>)"));
    }
    Ok(ring)
}

fn load_keyring(args: &VerifyArgs) -> CliResult<Keyring> {
    match &args.key {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::new(format!("cannot read the keyring {}: {e}", path.display()))
            })?;
            let text = zeroize::Zeroizing::new(text);
            let what = format!("keyring {}", path.display());
            parse_keyring(&what, "line", text.lines())
        }
        None => {
            let var = &args.key_env;
            let Some(raw) = std::env::var_os(var) else {
                return fail(format!(
                    "no verification key: pass --key KEYRING_FILE or set {var} (the audit-vk-v1:... line printed by `audit-log keygen`)"
                ));
            };
            let Ok(text) = raw.into_string().map(zeroize::Zeroizing::new) else {
                return fail(format!("environment variable {var} is not valid UTF-8"));
            };
            let what = format!("environment variable {var}");
            parse_keyring(&what, "entry", text.split(['\n', ',']))
        }
    }
}

fn input_files(paths: &[PathBuf]) -> CliResult<Vec<PathBuf>> {
    let dirs: Vec<&PathBuf> = paths.iter().filter(|p| p.is_dir()).collect();
    if dirs.is_empty() {
        return Ok(paths.to_vec());
    }
    if paths.len() > 1 {
        return fail(format!(
            "{} is a directory: give either log files (in order) or exactly one directory",
            dirs[0].display()
        ));
    }
    core_verify::log_files_in(&paths[0]).map_err(|e| Failure::new(e.to_string()))
}

fn load_checkpoints(witnesses: &[PathBuf]) -> CliResult<Vec<Checkpoint>> {
    let mut all = Vec::new();
    for w in witnesses {
        let cps = checkpoint::read_witness(w).map_err(|e| match e {
            checkpoint::CheckpointError::Io { .. } => Failure::new(e.to_string()),
            other => Failure::new(format!("witness file {}: {other}", w.display())),
        })?;
        all.extend(cps);
    }
    Ok(all)
}

fn progress_bar(files: &[PathBuf], enabled: bool) -> CliResult<Option<indicatif::ProgressBar>> {
    if !enabled || !std::io::stderr().is_terminal() {
        return Ok(None);
    }
    let mut total = 0u64;
    for f in files {
        let meta = std::fs::metadata(f)
            .map_err(|e| Failure::new(format!("cannot read {}: {e}", f.display())))?;
        total += meta.len();
    }
    if total < PROGRESS_MIN_BYTES {
        return Ok(None);
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "verifying {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    Ok(Some(bar))
}

fn describe(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Ok => "every record verified",
        Verdict::Tampered => {
            "a record was changed, removed, inserted, reordered, spliced or unsealed"
        }
        Verdict::IncompleteTail => {
            "the last line was cut off mid-write (a crash); every record before it verified"
        }
        Verdict::Truncated => "records that a signed checkpoint vouches for are missing at the end",
        Verdict::RolledBack => "the log is older than, or differs from, the one verified before",
        Verdict::UnknownKey => "records were signed with a key id that is not in the keyring",
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn human_bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    match n {
        0..KIB => format!("{n} B"),
        KIB..0x10_0000 => format!("{:.1} KiB", n as f64 / KIB as f64),
        _ => format!("{:.1} MiB", n as f64 / (KIB * KIB) as f64),
    }
}

fn human_report(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        out.push_str(&escape_invisibles(&f.to_string()));
        out.push('\n');
    }
    let files = report.files.len() as u64;
    let mut summary = format!(
        "summary: {} verified in {} ({}, {})",
        plural(report.verified, "record", "records"),
        plural(files, "file", "files"),
        plural(report.lines, "line", "lines"),
        human_bytes(report.bytes),
    );
    match &report.chain {
        Some(c) => {
            summary.push_str(&format!(
                "; chain {} seq {}..{} ({}); key ids: {}",
                escape_invisibles(&c.chain),
                c.first_seq,
                c.last_seq,
                plural(c.records, "record", "records"),
                escape_invisibles(&c.kids.join(", ")),
            ));
        }
        None => summary.push_str("; no chain found"),
    }
    out.push_str(&summary);
    out.push('\n');
    let verdict = report.verdict();
    let recovered = report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Recovered)
        .count();
    out.push_str(&format!(
        "verdict: {verdict} (exit {}): {}",
        verdict.exit_code(),
        describe(verdict)
    ));
    if recovered > 0 && verdict == Verdict::Ok {
        out.push_str(&format!(" ({recovered} documented crash recovery)"));
    }
    out.push('\n');
    out
}

/// Run `audit-log verify`.
pub fn run(args: VerifyArgs) -> CliResult<u8> {
    let keyring = load_keyring(&args)?;
    let files = input_files(&args.paths)?;
    let checkpoints = load_checkpoints(&args.witness)?;
    let witnessed_chains: BTreeSet<String> = checkpoints.iter().map(|c| c.chain.clone()).collect();
    let state = match &args.state {
        Some(p) => Some(VerifierState::load(p).map_err(|e| Failure::new(e.to_string()))?),
        None => None,
    };
    let options = VerifyOptions {
        strict_canonical: !args.reserialized,
        check_file_headers: !args.reserialized,
        allow_partial_head: args.allow_partial_head,
    };
    let mut verifier = Verifier::new(keyring)
        .with_options(options)
        .with_checkpoints(checkpoints);
    if let Some(s) = state {
        verifier = verifier.with_state(s);
    }
    let bar = progress_bar(&files, !args.no_progress)?;
    if let Some(bar) = &bar {
        let bar = bar.clone();
        let mut shown = 0u64;
        verifier = verifier.on_progress(move |bytes| {
            if bytes.saturating_sub(shown) >= 1 << 18 {
                bar.set_position(bytes);
                shown = bytes;
            }
        });
    }
    let result = verifier.verify_files(&files);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = result.map_err(|e| Failure::new(e.to_string()))?;
    let verdict = report.verdict();
    warn_unmatched_witness(&witnessed_chains, &report);

    let text = if args.json {
        let mut line = report.to_json().to_canonical_string();
        line.push('\n');
        line
    } else {
        human_report(&report)
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return fail(format!("cannot write the report: {e}"));
        }
    }

    if let Some(path) = &args.state {
        save_state(&verifier, &report, path)?;
    }
    Ok(u8::try_from(verdict.exit_code()).unwrap_or(crate::EXIT_ERROR))
}

/// The library checks only the checkpoints of the chain it finds in the log; one that
/// vouches for another chain is silently skipped. A log deleted and restarted as a new
/// chain would then pass, so say so.
fn warn_unmatched_witness(witnessed: &BTreeSet<String>, report: &Report) {
    let seen = report.chain.as_ref().map(|c| c.chain.as_str());
    let others: Vec<&str> = witnessed
        .iter()
        .map(String::as_str)
        .filter(|c| Some(*c) != seen)
        .collect();
    if others.is_empty() {
        return;
    }
    eprintln!(
        "audit-log: warning: the witness vouches for {} not found in this log ({}); if this log should continue {}, it was replaced",
        plural(others.len() as u64, "chain", "chains"),
        escape_invisibles(&others.join(", ")),
        if others.len() == 1 { "it" } else { "one of them" },
    );
}

fn save_state(verifier: &Verifier, report: &Report, path: &Path) -> CliResult<()> {
    let verdict = report.verdict();
    if matches!(verdict, Verdict::Ok | Verdict::IncompleteTail) {
        verifier.updated_state(report).save(path).map_err(|e| {
            Failure::new(format!(
                "the log verified, but the state file could not be saved: {e}"
            ))
        })?;
    } else {
        eprintln!(
            "audit-log: verifier state {} left unchanged (verdict {verdict})",
            path.display()
        );
    }
    Ok(())
}
