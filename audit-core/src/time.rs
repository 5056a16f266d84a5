//! Timestamps in the one form the format allows: RFC 3339, UTC, microseconds, `Z`.
//!
//! ```
//! use audit_core::time::{format_timestamp, parse_timestamp};
//! let t = parse_timestamp("2026-11-25T10:00:00Z").unwrap();
//! assert_eq!(format_timestamp(t), "2026-11-25T10:00:00.000000Z");
//! ```

use std::time::SystemTime;

/// Format `t` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn format_timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// Parse an RFC 3339 timestamp (any precision, `Z` or offset-free UTC).
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn micros_utc() {
        let t = UNIX_EPOCH + Duration::from_micros(1_764_064_800_123_456);
        let s = format_timestamp(t);
        assert_eq!(s, "2025-11-25T10:00:00.123456Z");
        assert_eq!(parse_timestamp(&s), Some(t));
    }
}
