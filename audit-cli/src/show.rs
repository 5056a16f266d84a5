//! `audit-log show`: read, filter and print records (without verifying them).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, ErrorKind, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use audit_core::canonical::{self, Object, Value};
use audit_core::record::Outcome;
use audit_core::time::parse_timestamp;
use audit_core::verify::log_files_in;

use crate::emit::OutcomeArg;
use crate::fields::{parse_field, FieldArg};
use crate::safe::{token, value_token};
use crate::{fail, CliResult, Failure};

const LONG_ABOUT: &str = "\
Read audit records, filter them and print one line per record.

THIS DOES NOT VERIFY ANYTHING: a forged or altered record is printed like any other. Run
`audit-log verify` on the same files to know whether they can be trusted.

PATH is one or more log files, or directories (their log files are read in name order).
Lines that are not JSON objects are reported on standard error with file:line and skipped.

Every filter given must match (they combine with AND):
  --event auth.*        glob on event.action (* any characters, ? one character); without a
                        wildcard, the action itself or its dotted prefix (auth matches
                        auth.login and auth.mfa.verify, not authz.grant)
  --actor alice         user.id
  --outcome denied      the outcome as `emit` writes it (denied records have
                        event.outcome \"failure\" but match only --outcome denied)
  --session 8f3a        session.id
  --since / --until     @timestamp in [since, until): RFC 3339 in UTC
                        (2026-11-25T10:00:00Z, 2026-11-25 10:00:00) or a date (2026-11-25)
  --field k=v           the value at a path is the string v (or a number/boolean written so);
                        k:=json compares JSON values; a plain key means fields.<key>

Each record is printed as
  timestamp  seq  action  outcome  actor  source.ip  reason  other.path=value ...
with '-' for what is missing, integrity fields (audit.*) left out, and control characters
escaped so that a record cannot rewrite your terminal. --json prints the matching lines
unchanged instead (NDJSON, for jq or a SIEM).";

/// Arguments of `audit-log show`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Print records matching filters (does NOT verify them; use `verify` for that)",
    long_about = LONG_ABOUT
)]
pub struct ShowArgs {
    /// Log files, or directories of log files.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,

    /// Only records whose event.action matches this glob (auth.*) or dotted prefix (auth).
    #[arg(long, value_name = "GLOB")]
    event: Option<String>,

    /// Only records whose user.id is ID.
    #[arg(long, value_name = "ID")]
    actor: Option<String>,

    /// Only records with this outcome.
    #[arg(long, value_enum)]
    outcome: Option<OutcomeArg>,

    /// Only records whose session.id is ID.
    #[arg(long, value_name = "ID")]
    session: Option<String>,

    /// Only records at or after this time (RFC 3339, UTC).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    since: Option<SystemTime>,

    /// Only records before this time (RFC 3339, UTC).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    until: Option<SystemTime>,

    /// Only records where the value at PATH matches (path=text or path:=json); repeatable.
    #[arg(long = "field", value_name = "PATH=VALUE", value_parser = parse_field)]
    fields: Vec<FieldArg>,

    /// Print the matching lines unchanged (NDJSON).
    #[arg(long)]
    json: bool,
}

fn parse_time(s: &str) -> Result<SystemTime, String> {
    let t = s.trim();
    let parsed = if t.len() == 10 && t.as_bytes().get(4) == Some(&b'-') {
        parse_timestamp(&format!("{t}T00:00:00Z"))
    } else {
        parse_timestamp(t)
    };
    parsed.ok_or_else(|| format!("{s:?} is not an RFC 3339 UTC time such as 2026-11-25T10:00:00Z"))
}

/// Glob match with `*` (any run of characters) and `?` (one character).
fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn event_matches(pattern: &str, action: &str) -> bool {
    if pattern.contains(['*', '?']) {
        glob_match(pattern, action)
    } else {
        action == pattern
            || action
                .strip_prefix(pattern)
                .is_some_and(|rest| rest.starts_with('.'))
    }
}

fn str_at<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    v.get_path(path).and_then(Value::as_str)
}

/// Whether a record value equals a command-line id (strings as they are, other values in
/// their JSON form).
fn id_matches(found: Option<&Value>, want: &str) -> bool {
    match found {
        Some(Value::String(s)) => s == want,
        Some(v @ Value::Int(_)) => v.to_canonical_string() == want,
        _ => false,
    }
}

struct Filter<'a> {
    args: &'a ShowArgs,
}

impl Filter<'_> {
    fn matches(&self, v: &Value, body: &Object) -> bool {
        let a = self.args;
        if let Some(p) = &a.event {
            if !str_at(v, "event.action").is_some_and(|act| event_matches(p, act)) {
                return false;
            }
        }
        if let Some(actor) = &a.actor {
            if !id_matches(v.get_path("user.id"), actor) {
                return false;
            }
        }
        if let Some(o) = a.outcome {
            if Outcome::from_body(body) != Some(o.into()) {
                return false;
            }
        }
        if let Some(s) = &a.session {
            if !id_matches(v.get_path("session.id"), s) {
                return false;
            }
        }
        if a.since.is_some() || a.until.is_some() {
            let Some(t) = str_at(v, "@timestamp").and_then(parse_timestamp) else {
                return false;
            };
            if a.since.is_some_and(|since| t < since) || a.until.is_some_and(|until| t >= until) {
                return false;
            }
        }
        a.fields.iter().all(|f| {
            v.get_path(&f.path())
                .is_some_and(|found| f.value.matches(found))
        })
    }
}

fn flatten<'a>(prefix: &str, obj: &'a Object, out: &mut Vec<(String, &'a Value)>) {
    for (k, v) in obj.iter() {
        let path = if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Object(o) if !o.is_empty() => flatten(&path, o, out),
            _ => out.push((path, v)),
        }
    }
}

/// One record as a display line.
fn pretty(v: &Value, body: &Object) -> String {
    let dash = || "-".to_owned();
    let tok = |path: &str| v.get_path(path).map_or_else(dash, value_token);
    let outcome = Outcome::from_body(body);
    let outcome_text = match outcome {
        Some(o) => o.as_str().to_owned(),
        None => tok("event.outcome"),
    };
    let seq = v
        .get_path("audit.seq")
        .and_then(Value::as_i64)
        .map_or_else(dash, |s| s.to_string());
    let mut line = format!(
        "{}  {seq:>5}  {:<24}  {outcome_text:<9}  {}  {}  {}",
        tok("@timestamp"),
        tok("event.action"),
        tok("user.id"),
        tok("source.ip"),
        tok("event.reason"),
    );
    let mut rest = Vec::new();
    flatten("", body, &mut rest);
    for (path, value) in rest {
        let shown = matches!(
            path.as_str(),
            "@timestamp"
                | "event.action"
                | "event.outcome"
                | "user.id"
                | "source.ip"
                | "event.reason"
        ) || path == "audit"
            || path.starts_with("audit.");
        let implied = match (path.as_str(), outcome) {
            ("event.type", Some(Outcome::Denied)) => value
                .as_array()
                .is_some_and(|a| a.len() == 1 && a[0].as_str() == Some("denied")),
            ("error.type", Some(Outcome::Cancelled)) => value.as_str() == Some("cancelled"),
            ("error.type", Some(Outcome::Panicked)) => value.as_str() == Some("panic"),
            _ => false,
        };
        if shown || implied {
            continue;
        }
        line.push_str("  ");
        line.push_str(&token(&path));
        line.push('=');
        line.push_str(&value_token(value));
    }
    line.trim_end().to_owned()
}

fn expand(paths: &[PathBuf]) -> CliResult<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            files.extend(log_files_in(p).map_err(|e| Failure::new(e.to_string()))?);
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

/// Run `audit-log show`.
pub fn run(args: ShowArgs) -> CliResult<u8> {
    if let (Some(s), Some(u)) = (args.since, args.until) {
        if u <= s {
            return fail("--until must be later than --since");
        }
    }
    let files = expand(&args.paths)?;
    let filter = Filter { args: &args };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let (mut records, mut matched, mut skipped) = (0u64, 0u64, 0u64);
    for path in &files {
        let file = File::open(path)
            .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut buf = Vec::new();
        let mut line_no = 0u64;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let complete = buf.ends_with(b"\n");
            let mut content = buf.strip_suffix(b"\n").unwrap_or(&buf);
            content = content.strip_suffix(b"\r").unwrap_or(content);
            if content.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = match canonical::parse_bytes(content) {
                Ok(Value::Object(o)) => Ok(Value::Object(o)),
                Ok(_) => Err("not a JSON object".to_owned()),
                Err(e) => Err(format!("not valid JSON: {e}")),
            };
            let value = match parsed {
                Ok(v) => v,
                Err(reason) => {
                    skipped += 1;
                    let tail = if complete {
                        ""
                    } else {
                        " (the last line has no newline: an interrupted write?)"
                    };
                    eprintln!(
                        "audit-log: warning: {}:{line_no}: {reason}{tail}; skipped",
                        path.display()
                    );
                    continue;
                }
            };
            records += 1;
            let Some(body) = value.as_object() else {
                continue;
            };
            if !filter.matches(&value, body) {
                continue;
            }
            matched += 1;
            let written = if args.json {
                out.write_all(&buf).and_then(|()| {
                    if complete {
                        Ok(())
                    } else {
                        out.write_all(b"\n")
                    }
                })
            } else {
                writeln!(out, "{}", pretty(&value, body))
            };
            if let Err(e) = written {
                if e.kind() == ErrorKind::BrokenPipe {
                    return Ok(0); // the reader (head, less) has seen enough
                }
                return fail(format!("cannot write to standard output: {e}"));
            }
        }
    }
    match out.flush() {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(0),
        Err(e) => return fail(format!("cannot write to standard output: {e}")),
    }
    let skipped_note = if skipped > 0 {
        format!(", {skipped} malformed line(s) skipped")
    } else {
        String::new()
    };
    eprintln!(
        "audit-log: {matched} of {records} record(s) shown{skipped_note}. These records were NOT verified: run `audit-log verify` to check them."
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_prefixes() {
        assert!(event_matches("auth.*", "auth.login"));
        assert!(event_matches("auth.*", "auth.mfa.verify"));
        assert!(!event_matches("auth.*", "authz.grant"));
        assert!(event_matches("auth", "auth.login"));
        assert!(!event_matches("auth", "authz.grant"));
        assert!(event_matches("auth.login", "auth.login"));
        assert!(event_matches("*.login", "auth.login"));
        assert!(event_matches("auth.log?n", "auth.login"));
        assert!(!event_matches("auth.log?n", "auth.logn"));
        assert!(event_matches("*", "x.y"));
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(!glob_match("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn times() {
        assert!(parse_time("2026-11-25").is_ok());
        assert!(parse_time("2026-11-25T10:00:00Z").is_ok());
        assert!(parse_time("2026-11-25T10:00:00.123456Z").is_ok());
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn pretty_line_hides_integrity_and_implied_fields() {
        let v = canonical::parse(
            r#"{"@timestamp":"2026-01-01T00:00:00.000000Z","audit":{"seq":7,"mac":"x"},"event":{"action":"auth.login","outcome":"failure","reason":"bad password","type":["denied"]},"fields":{"method":"password"},"source":{"ip":"192.0.2.7","port":443},"user":{"id":"al\u001bice"}}"#,
        )
        .unwrap();
        let line = pretty(&v, v.as_object().unwrap());
        assert_eq!(
            line,
            "2026-01-01T00:00:00.000000Z      7  auth.login                denied     \"al\\u001bice\"  192.0.2.7  \"bad password\"  fields.method=password  source.port=443"
        );
    }
}
