//! `audit-log`: create keys, append sealed records, verify logs and read them.
//!
//! Every subcommand lives in its own module; this file holds the command line and the
//! error type that maps failures to exit codes.

#![forbid(unsafe_code)]

use std::fmt;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod emit;
mod fields;
mod keygen;
mod safe;
mod show;
mod verify;

/// Exit code for usage errors, unreadable or malformed input, and every failure that is not
/// a verification verdict (clap uses the same code for command-line errors).
pub const EXIT_ERROR: u8 = 2;

const ABOUT: &str =
    "Tamper-evident audit logs: generate keys, append sealed records, verify logs, read them.";

const LONG_ABOUT: &str = "\
Tamper-evident audit logs: generate keys, append sealed records, verify logs, read them.

An audit log is a file of newline-delimited JSON records (RFC 8785 canonical form). Each
record carries an HMAC-SHA256 `audit.mac` over the record and, through `audit.prev`, over
every record before it: changing, removing, inserting or reordering a record breaks the
chain. The writer's key evolves one way every N records (an epoch) and the old key is
erased, so whoever steals the writer's key later still cannot rewrite earlier records
(forward integrity, as in journald's Forward Secure Sealing).

Typical use:
  audit-log keygen --kid k1 --state /var/lib/app/audit.key > verification.key
  audit-log emit --log /var/log/app/audit.log --state /var/lib/app/audit.key \\
                 --event auth.login --outcome denied --actor alice --source-ip 192.0.2.7
  audit-log verify /var/log/app/audit.log --key verification.key
  audit-log show /var/log/app/audit.log --event 'auth.*' --since 2026-01-01T00:00:00Z

Exit status: 0 on success; 2 on usage errors, unreadable files or bad keys; `verify`
returns its verdict (0 OK, 1 TAMPERED, 3 INCOMPLETE_TAIL, 4 TRUNCATED, 5 ROLLED_BACK,
6 UNKNOWN_KEY).";

#[derive(Debug, Parser)]
#[command(name = "audit-log", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Keygen(keygen::KeygenArgs),
    Emit(emit::EmitArgs),
    Verify(verify::VerifyArgs),
    Show(show::ShowArgs),
}

/// A failure that ends the command: a message for stderr and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// The process exit code.
    pub code: u8,
    /// What went wrong (printed after `audit-log: error: `); empty prints nothing.
    pub message: String,
}

impl Failure {
    /// A failure with exit code [`EXIT_ERROR`].
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_ERROR,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result of a subcommand: its exit code, or a failure.
pub type CliResult<T> = Result<T, Failure>;

/// Shorthand: a [`Failure`] with exit code 2.
pub fn fail<T>(message: impl Into<String>) -> CliResult<T> {
    Err(Failure::new(message))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Emit(args) => emit::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Show(args) => show::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("audit-log: error: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
