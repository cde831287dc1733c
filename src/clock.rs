//! The wall clock in the log's unit, Unix milliseconds: one definition for the sequencer's
//! entry times, the server's skew check and clients' signing times.

/// Now, in Unix milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The last millisecond of year 9999 (9999-12-31T23:59:59.999Z): the latest time RFC 3339
/// (four-digit years) can write, and so the latest a request may name.
pub const MAX_RFC3339_MS: i64 = 253_402_300_799_999;

/// True for the times [`format_rfc3339`] writes as a date: 1970 to the end of 9999.
pub fn in_rfc3339_range(ms: i64) -> bool {
    (0..=MAX_RFC3339_MS).contains(&ms)
}

/// Unix milliseconds as an RFC 3339 UTC time with milliseconds, for people and reports. A time
/// outside 1970..=9999 (which a client or a file may carry) is written as its number, never as
/// a wrong date, and never panics.
pub fn format_rfc3339(ms: i64) -> String {
    match u64::try_from(ms) {
        Ok(millis) if in_rfc3339_range(ms) => {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis);
            humantime::format_rfc3339_millis(t).to_string()
        }
        _ => format!("{ms} ms since 1970 (not a date from 1970 to 9999)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formatting() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(format_rfc3339(MAX_RFC3339_MS), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn times_outside_1970_to_9999_are_numbers_not_panics() {
        for ms in [MAX_RFC3339_MS + 1, i64::MAX, -1, i64::MIN] {
            let text = format_rfc3339(ms);
            assert!(text.starts_with(&ms.to_string()), "{text}");
            assert!(text.contains("not a date"), "{text}");
        }
    }
}
