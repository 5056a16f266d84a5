//! `audit-log emit`: seal one record and append it to a log file.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use audit_core::checkpoint;
use audit_core::keys::SealingKey;
use audit_core::record::{Outcome, Record};
use audit_core::sink::file::{FileLog, FileLogOptions};

use crate::fields::{parse_field, FieldArg};
use crate::{fail, CliResult, Failure};

/// The environment variable that may hold a sealing key when `--state` is not given.
pub const SEALING_KEY_ENV: &str = "AUDIT_LOG_SEALING_KEY";

const LONG_ABOUT: &str = "\
Seal one audit record and append it to a log file.

The record says who (--actor, --source-ip) did what (--event, an action name of dotted
lowercase segments such as auth.login) with which result (--outcome) and why (--reason),
plus any custom fields. It is stamped with the current time, given the next sequence
number of the log's chain, linked to the previous record and sealed with an HMAC under the
writer's current epoch key; the line is written in one append and, by default, fsynced.

A new file starts with an `audit.file.open` header record that names the file; an existing
file is continued where its chain ends. Only one writer may hold a log: a second one fails
with a \"locked\" error instead of forking the chain.

The sealing key comes from --state (the file written by `audit-log keygen`; it is
rewritten whenever the key evolves, so earlier epoch keys are gone from disk) or, without
--state, from the environment variable AUDIT_LOG_SEALING_KEY (its `audit-sk-v1:...` text).
A key from the environment evolves in memory only and the variable keeps the old key, so
it gives NO forward integrity across runs: prefer --state.

--field adds custom fields: `key=text` stores a string, `key:=json` a strict JSON value
(integers, booleans, null, arrays, objects; no floats). A dotted key (source.port:=443)
sets that path of the record; a plain key (method=password) goes under `fields`.

With --witness, a signed checkpoint of the new chain head is appended to a second file
(ideally on another machine or append-only storage); `audit-log verify --witness` then
detects records cut off the end of the log.

Exit status: 0 when the record was sealed and written, 2 otherwise.";

/// The six outcomes, for the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutcomeArg {
    /// The action completed as asked.
    Success,
    /// The action failed.
    Failure,
    /// An authorisation decision refused the action.
    Denied,
    /// The action was cancelled before it finished.
    Cancelled,
    /// The action crashed.
    Panicked,
    /// The result is not known.
    Unknown,
}

impl From<OutcomeArg> for Outcome {
    fn from(o: OutcomeArg) -> Outcome {
        match o {
            OutcomeArg::Success => Outcome::Success,
            OutcomeArg::Failure => Outcome::Failure,
            OutcomeArg::Denied => Outcome::Denied,
            OutcomeArg::Cancelled => Outcome::Cancelled,
            OutcomeArg::Panicked => Outcome::Panicked,
            OutcomeArg::Unknown => Outcome::Unknown,
        }
    }
}

/// Arguments of `audit-log emit`.
#[derive(Debug, clap::Args)]
#[command(about = "Seal one record and append it to a log file", long_about = LONG_ABOUT)]
pub struct EmitArgs {
    /// The log file (created with mode 0600 if missing).
    #[arg(long, value_name = "FILE")]
    log: PathBuf,

    /// The writer's sealing state from `audit-log keygen` (must be mode 0600). Without it,
    /// the key is read from AUDIT_LOG_SEALING_KEY (no forward integrity across runs).
    #[arg(long, value_name = "KEYFILE")]
    state: Option<PathBuf>,

    /// The action (`event.action`): dotted lowercase segments, e.g. auth.login,
    /// iam.role.grant.
    #[arg(long, value_name = "ACTION")]
    event: String,

    /// The result of the action (`event.outcome`, refined as the format specifies).
    #[arg(long, value_enum, default_value_t = OutcomeArg::Success)]
    outcome: OutcomeArg,

    /// Who acted (`user.id`).
    #[arg(long, value_name = "ID")]
    actor: Option<String>,

    /// Why the outcome is what it is, in words (`event.reason`).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,

    /// Where the request came from (`source.ip`, an IPv4 or IPv6 address).
    #[arg(long, value_name = "IP")]
    source_ip: Option<IpAddr>,

    /// A custom field: key=text (a string) or key:=json (any strict JSON value). Dotted keys
    /// set that path (source.port:=443); plain keys go under `fields`. Repeatable.
    #[arg(long = "field", value_name = "KEY=VALUE", value_parser = parse_field)]
    fields: Vec<FieldArg>,

    /// fsync the log after writing (the default).
    #[arg(long, overrides_with = "no_sync")]
    sync: bool,

    /// Do not fsync: faster, but a crash may lose the record.
    #[arg(long, overrides_with = "sync")]
    no_sync: bool,

    /// Also append a signed checkpoint of the chain head to this witness file.
    #[arg(long, value_name = "FILE")]
    witness: Option<PathBuf>,

    /// Print nothing on success.
    #[arg(short, long)]
    quiet: bool,
}

fn build_record(args: &EmitArgs, now: SystemTime) -> CliResult<Record> {
    let mut record = Record::new(&args.event, args.outcome.into(), now)
        .map_err(|e| Failure::new(format!("--event: {e}")))?;
    for f in &args.fields {
        let value = f.value.to_value();
        if f.key.contains('.') {
            record
                .set(f.key.clone(), value)
                .map_err(|e| Failure::new(format!("--field {}: {e}", f.key)))?;
        } else {
            record.set_field(f.key.clone(), value);
        }
    }
    if let Some(actor) = &args.actor {
        record.set_actor(actor.as_str());
    }
    if let Some(reason) = &args.reason {
        record.set_reason(reason.as_str());
    }
    if let Some(ip) = &args.source_ip {
        record
            .set("source.ip", ip.to_string())
            .map_err(|e| Failure::new(format!("--source-ip: {e}")))?;
    }
    Ok(record)
}

/// Run `audit-log emit`.
pub fn run(args: EmitArgs) -> CliResult<u8> {
    // Check the arguments first: a bad one must not create or touch the log.
    build_record(&args, SystemTime::now())?;
    let key = match &args.state {
        Some(path) => SealingKey::load(path).map_err(|e| Failure::new(format!("cannot load the sealing state: {e}")))?,
        None => match std::env::var_os(SEALING_KEY_ENV) {
            Some(_) => SealingKey::from_env(SEALING_KEY_ENV)
                .map_err(|e| Failure::new(format!("{SEALING_KEY_ENV}: {e}")))?,
            None => {
                return fail(format!(
                    "no sealing key: pass --state FILE (from `audit-log keygen`) or set {SEALING_KEY_ENV}"
                ))
            }
        },
    };
    let opts = FileLogOptions {
        key_state_path: args.state.clone(),
        sync_every_record: args.sync || !args.no_sync,
        ..FileLogOptions::default()
    };
    let mut log = FileLog::open(&args.log, key, opts).map_err(|e| Failure::new(e.to_string()))?;
    // Stamped after the open, so a new file's header never postdates the record.
    let mut record = build_record(&args, SystemTime::now())?;
    // The built-in redaction the layer applies, so a token passed with --field never reaches
    // the log in the clear. A session id given with `--field session.id=..` stays readable:
    // without a pseudonym key, masking it would lose the "what did this session do?" trail.
    let policy = audit_core::redact::Policy::builder()
        .allow_field("session.id")
        .build()
        .map_err(|e| Failure::new(e.to_string()))?;
    policy.apply_record(&mut record);
    let sealed = log
        .append(record)
        .map_err(|e| Failure::new(e.to_string()))?;
    // The key's state file is rewritten in the background when the key evolves: done
    // before this command says it sealed anything.
    log.sync_key_state().map_err(|e| {
        Failure::new(format!(
            "the record was sealed (seq {}) but the key's state file could not be rewritten: {e}",
            sealed.seq
        ))
    })?;
    if !args.quiet {
        eprintln!(
            "{}: sealed seq {} mac {}",
            args.log.display(),
            sealed.seq,
            sealed.mac
        );
    }
    if let Some(witness) = &args.witness {
        let Some(cp) = log.sealer().checkpoint(SystemTime::now()) else {
            return fail("no chain head to checkpoint (this is a bug)");
        };
        checkpoint::append_witness(witness, &cp).map_err(|e| {
            Failure::new(format!(
                "the record was sealed (seq {}) but its checkpoint could not be written: {e}",
                sealed.seq
            ))
        })?;
        if !args.quiet {
            eprintln!(
                "{}: checkpoint of seq {} appended",
                witness.display(),
                cp.seq
            );
        }
    }
    Ok(0)
}
