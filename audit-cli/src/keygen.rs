//! `audit-log keygen`: a new key pair, the writer's state file and the verification key.

use std::io::Write;
use std::path::{Path, PathBuf};

use audit_core::keys::{SealingKey, DEFAULT_EPOCH_LEN};

use crate::{fail, CliResult, Failure};

const LONG_ABOUT: &str = "\
Generate a new sealing key: the writer's state file and the auditor's verification key.

The key pair has two halves:

  * the SEALING STATE (--state), kept by the writer (mode 0600). It holds only the key of
    the current epoch. Every --epoch-len records the key evolves one way and the old one is
    erased (from the state file within about 20 ms, once the records are written), so an
    attacker who later steals the state file cannot forge or re-seal earlier records
    (forward integrity). Give it to `audit-log emit --state`.

  * the VERIFICATION KEY, printed once on standard output (and, with
    --verification-key-out, written to a 0600 file). It is the initial key: it derives
    every epoch's key, so it can check every record and also forge them. Keep it offline,
    away from the machine that writes the log, and give it to `audit-log verify --key`.
    It is never shown again.

Like `journalctl --setup-keys`, the explanation goes to standard error, so

    audit-log keygen --kid web1-2026 --state /var/lib/app/audit.key > web1-2026.vk

captures the verification key alone. Several keys, one per line, make a keyring.";

/// Arguments of `audit-log keygen`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Generate a key: writes the writer's sealing state, prints the verification key once",
    long_about = LONG_ABOUT
)]
pub struct KeygenArgs {
    /// Key id written into every record this key seals (1 to 64 of A-Z a-z 0-9 . _ -);
    /// name it after the host and date, e.g. web1-2026.
    #[arg(long, value_name = "KID")]
    kid: String,

    /// Where to write the writer's sealing state (created with mode 0600).
    #[arg(long, value_name = "FILE")]
    state: PathBuf,

    /// Records per epoch: the writer's key evolves (and the old one is erased) after this
    /// many records. Smaller means a stolen key exposes fewer recent records; verification
    /// of far records costs one HMAC per epoch.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_EPOCH_LEN)]
    epoch_len: u64,

    /// Overwrite an existing state file. The old key is lost: logs sealed with it can still
    /// be verified with its verification key, but not continued.
    #[arg(long)]
    force: bool,

    /// Also write the verification key to this file (mode 0600; never overwritten).
    #[arg(long, value_name = "FILE")]
    verification_key_out: Option<PathBuf>,
}

fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    let canon = |p: &Path| {
        let parent = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::canonicalize(parent)
            .ok()
            .map(|d| d.join(p.file_name().unwrap_or_default()))
    };
    matches!((canon(a), canon(b)), (Some(x), Some(y)) if x == y)
}

/// Run `audit-log keygen`.
pub fn run(args: KeygenArgs) -> CliResult<u8> {
    let state = &args.state;
    if let Some(out) = &args.verification_key_out {
        if same_file(out, state) {
            return fail("--state and --verification-key-out name the same file; the writer's state and the verification key must be kept apart");
        }
    }
    match std::fs::symlink_metadata(state) {
        Ok(meta) if meta.is_dir() => return fail(format!("{} is a directory; --state needs a file name", state.display())),
        Ok(_) if !args.force => {
            return fail(format!(
                "{} already exists; refusing to overwrite a sealing key (a writer using it could no longer continue its log). Pass --force to replace it",
                state.display()
            ))
        }
        _ => {}
    }
    let (sealing, verification) =
        SealingKey::generate(&args.kid, args.epoch_len).map_err(|e| Failure::new(e.to_string()))?;
    let vk_text = verification.to_text();

    // Reserve the verification key file first (create_new: never overwrite), so a failure
    // there leaves no new state file behind.
    let mut vk_file = match &args.verification_key_out {
        None => None,
        Some(out) => {
            let f = audit_core::sink::open_options_private()
                .write(true)
                .create_new(true)
                .open(out)
                .map_err(|e| {
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        Failure::new(format!(
                            "{} already exists; refusing to overwrite a verification key (older logs may need it). Choose another file",
                            out.display()
                        ))
                    } else {
                        Failure::new(format!("cannot create {}: {e}", out.display()))
                    }
                })?;
            Some((out, f))
        }
    };
    if let Err(e) = sealing.store(state) {
        if let Some((out, f)) = vk_file.take() {
            drop(f);
            let _ = std::fs::remove_file(out);
        }
        return fail(format!("cannot write the sealing state: {e}"));
    }
    if let Some((out, f)) = &mut vk_file {
        let written = f
            .write_all(vk_text.as_bytes())
            .and_then(|()| f.write_all(b"\n"))
            .and_then(|()| f.sync_all());
        if let Err(e) = written {
            // The state exists now: the key must still reach the user, on stdout below.
            eprintln!(
                "audit-log: warning: could not write {}: {e}; copy the key from standard output instead",
                out.display()
            );
        } else {
            let _ = audit_core::sink::sync_parent_dir(out);
        }
    }

    println!("{}", &*vk_text);
    let _ = std::io::stdout().flush();

    let also = match &args.verification_key_out {
        Some(out) => format!(" and written to {}", out.display()),
        None => String::new(),
    };
    eprintln!(
        "\
Generated key {kid:?} (epoch length {epoch_len} records).

The writer's sealing state was written to {state} (mode 0600). It holds only the
current epoch key, which evolves forward every {epoch_len} records and erases its
predecessor: a thief who copies it later cannot forge records sealed before.
Use it with: audit-log emit --log FILE --state {state} --event ...

The VERIFICATION KEY was printed on standard output{also}.
It is shown only this once. Keep it offline, away from the machine that writes
the log (a password manager, an HSM, paper): it derives every epoch key, so it
checks every record and could forge them too. Verify with:
    audit-log verify LOG --key FILE_WITH_THAT_LINE",
        kid = args.kid,
        epoch_len = args.epoch_len,
        state = state.display(),
    );
    Ok(0)
}
