//! The wall clock in the log's unit, Unix milliseconds: one definition for the sequencer's
//! entry times, the server's skew check and clients' signing times.

/// Now, in Unix milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
