//! Timestamps in the one form the format allows: RFC 3339, UTC, microseconds, `Z`.
//!
//! ```
//! use audit_core::time::{format_timestamp, parse_timestamp};
//! let t = parse_timestamp("2026-11-25T10:00:00Z").unwrap();
//! assert_eq!(format_timestamp(t), "2026-11-25T10:00:00.000000Z");
//! ```

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrayvec::ArrayString;

thread_local! {
    /// The last second formatted on this thread, and its `YYYY-MM-DDTHH:MM:SS`. Records come
    /// many per second: only the microseconds change between them.
    static LAST_SECOND: Cell<(u64, ArrayString<19>)> = const { Cell::new((u64::MAX, ArrayString::new_const())) };
}

/// The first instant the format cannot write: 10000-01-01T00:00:00Z.
const END_SECS: u64 = 253_402_300_800;

/// Format `t` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`, or `None` when it lies outside the years
/// 1970 to 9999 (a clock that far off is broken; [`Record::new`](crate::record::Record::new)
/// refuses such a time with a clear error rather than write a wrong one).
///
/// The date and time of day come from `humantime`, once per second per thread; the
/// microseconds are appended here.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use audit_core::time::try_format_timestamp;
/// assert_eq!(try_format_timestamp(UNIX_EPOCH).as_deref(), Some("1970-01-01T00:00:00.000000Z"));
/// assert_eq!(try_format_timestamp(UNIX_EPOCH - Duration::from_secs(1)), None);
/// ```
pub fn try_format_timestamp(t: SystemTime) -> Option<String> {
    timestamp_text(t).map(|t| t.as_str().to_owned())
}

/// [`try_format_timestamp`] without the allocation.
pub(crate) fn timestamp_text(t: SystemTime) -> Option<ArrayString<27>> {
    let since = t.duration_since(UNIX_EPOCH).ok()?;
    let secs = since.as_secs();
    if secs >= END_SECS {
        return None;
    }
    let (cached, mut date) = LAST_SECOND.get();
    if cached != secs {
        let text =
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string();
        // `YYYY-MM-DDTHH:MM:SSZ`, always, for the years 1970 to 9999.
        date = ArrayString::from(text.get(..19)?).ok()?;
        LAST_SECOND.set((secs, date));
    }
    let mut out = ArrayString::<27>::new();
    out.push_str(&date);
    out.push('.');
    let mut digits = [0u8; 6];
    let mut n = since.subsec_micros();
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    for d in digits {
        out.push(char::from(d));
    }
    out.push('Z');
    Some(out)
}

/// [`try_format_timestamp`] for times the library takes from the system clock itself
/// (checkpoints, verifier state): a time before 1970 is written as
/// `1970-01-01T00:00:00.000000Z`, one after 9999 as `9999-12-31T23:59:59.999999Z`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use audit_core::time::format_timestamp;
/// assert_eq!(format_timestamp(UNIX_EPOCH + Duration::from_micros(1)), "1970-01-01T00:00:00.000001Z");
/// assert_eq!(format_timestamp(UNIX_EPOCH - Duration::from_secs(1)), "1970-01-01T00:00:00.000000Z");
/// ```
pub fn format_timestamp(t: SystemTime) -> String {
    let clamped = if t < UNIX_EPOCH {
        UNIX_EPOCH
    } else {
        t.min(UNIX_EPOCH + Duration::from_secs(END_SECS) - Duration::from_micros(1))
    };
    try_format_timestamp(clamped).unwrap_or_else(|| "1970-01-01T00:00:00.000000Z".to_owned())
}

/// Parse an RFC 3339 timestamp (any precision, `Z` or offset-free UTC).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use audit_core::time::parse_timestamp;
/// let t = UNIX_EPOCH + Duration::from_millis(1500);
/// assert_eq!(parse_timestamp("1970-01-01T00:00:01.5Z"), Some(t));
/// assert_eq!(parse_timestamp("1970-01-01T00:00:01.500000"), Some(t)); // no `Z`: UTC
/// assert_eq!(parse_timestamp("yesterday"), None);
/// ```
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

    #[test]
    fn cached_seconds_agree_with_humantime() {
        // Forwards, backwards, across second, day, month and year boundaries, before the
        // epoch and past year 9999 (neither cached).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut times = vec![
            UNIX_EPOCH,
            UNIX_EPOCH - Duration::from_micros(1),
            UNIX_EPOCH + Duration::from_secs(END_SECS), // 10000-01-01
            UNIX_EPOCH + Duration::from_secs(END_SECS) - Duration::from_micros(1),
            UNIX_EPOCH + Duration::from_micros(1_767_225_599_999_999), // 2025-12-31T23:59:59.999999
            UNIX_EPOCH + Duration::from_micros(1_767_225_600_000_000),
            UNIX_EPOCH + Duration::from_micros(1_767_225_599_000_001),
        ];
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            times.push(UNIX_EPOCH + Duration::from_micros(x % 4_000_000_000_000_000));
            let last = *times.last().unwrap();
            times.push(last + Duration::from_nanos(x % 3_000_000_000));
        }
        for t in times {
            let ours = try_format_timestamp(t);
            let in_range = t >= UNIX_EPOCH && t < UNIX_EPOCH + Duration::from_secs(END_SECS);
            assert_eq!(ours.is_some(), in_range, "{t:?}");
            if in_range {
                let theirs = humantime::format_rfc3339_micros(t).to_string();
                assert_eq!(ours.as_deref(), Some(&*theirs));
                assert_eq!(format_timestamp(t), theirs);
            }
        }
        assert_eq!(
            format_timestamp(UNIX_EPOCH + Duration::from_secs(END_SECS + 5)),
            "9999-12-31T23:59:59.999999Z"
        );
    }
}
