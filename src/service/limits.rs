//! Enforcing [`Limits`](super::Limits) that need state or a look inside the bytes: the JSON
//! shape of an item, the per-caller rate limit and open streams per caller. (The message size
//! limit the transport enforces is named in `status.rs`.)
//!
//! Each exceeded limit is a [`RequestError`] naming the `Limits` field, so an operator knows
//! which knob a client ran into; nothing is appended and no other caller is affected.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::{Limits, RequestError};

/// How deep an item's JSON nests and how long its longest string is, from one pass over the
/// bytes, so both limits are checked before the guard parses anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JsonShape {
    /// The most objects and arrays open at once.
    pub depth: usize,
    /// The longest string (key or value) in bytes as sent, escapes included.
    pub longest_string: usize,
}

/// Measures `bytes` as JSON without parsing it; garbage is measured too (the guard refuses it).
pub(crate) fn json_shape(bytes: &[u8]) -> JsonShape {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped, mut len, mut longest) = (false, false, 0usize, 0usize);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => {
                    in_string = false;
                    longest = longest.max(len);
                    continue;
                }
                _ => {}
            }
            len += 1;
            continue;
        }
        match b {
            b'"' => (in_string, len) = (true, 0),
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if in_string {
        longest = longest.max(len);
    }
    JsonShape {
        depth: deepest,
        longest_string: longest,
    }
}

/// Checks one item's JSON shape against the limits (before screening).
pub(crate) fn check_json(limits: &Limits, content: &[u8]) -> Result<(), RequestError> {
    let shape = json_shape(content);
    RequestError::check_limit(
        "an item's JSON nesting depth (max_json_depth)",
        shape.depth,
        limits.max_json_depth,
    )?;
    RequestError::check_limit(
        "an item's longest JSON string in bytes (max_json_string_bytes)",
        shape.longest_string,
        limits.max_json_string_bytes,
    )
}

/// Requests per second per authenticated caller. Keyed by party name, so its memory is bounded
/// by the parties in the genesis entry (unknown callers are refused before they count).
pub(crate) struct Rates {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    per_second: u32,
}

impl Rates {
    /// The limiter for `limits`; none when `rate_per_second` is 0.
    pub fn new(limits: &Limits) -> Self {
        let limiter = NonZeroU32::new(limits.rate_per_second).map(|rate| {
            let burst = NonZeroU32::new(limits.rate_burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Rates {
            limiter,
            per_second: limits.rate_per_second,
        }
    }

    /// Counts one request by `caller`; fails when it is over its rate.
    pub fn check(&self, caller: &str) -> Result<(), RequestError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&caller.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(limiter.clock()));
            RequestError::RateLimited {
                caller: caller.to_owned(),
                per_second: self.per_second,
                retry_after_ms: u64::try_from(wait.as_millis())
                    .unwrap_or(u64::MAX)
                    .saturating_add(1),
            }
        })
    }
}

/// Server streams each caller has open (ListEntries, Export): a follow stream lives as long as
/// its client wants, so without a bound one caller could hold any number of tasks.
#[derive(Clone, Default)]
pub(crate) struct StreamSlots(Arc<Mutex<HashMap<String, usize>>>);

/// One open stream; dropping it (when the stream's task ends) frees the slot.
pub(crate) struct StreamSlot {
    slots: StreamSlots,
    caller: String,
}

impl StreamSlots {
    /// Takes a slot for `caller`, or fails when it already has `max` streams open.
    pub fn acquire(&self, caller: &str, max: usize) -> Result<StreamSlot, RequestError> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(caller.to_owned()).or_default();
        RequestError::check_limit(
            "open streams of this caller (max_streams_per_caller)",
            *count + 1,
            max,
        )?;
        *count += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            caller: caller.to_owned(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.caller) {
            *count = count.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_counts_nesting_and_strings_outside_and_inside_quotes() {
        let shape = json_shape(br#"{"a": [[{"b": "x\"[[[["}]], "cd": "{{{{"}"#);
        assert_eq!(shape.depth, 4);
        assert_eq!(shape.longest_string, r#"x\"[[[["#.len());
        assert_eq!(json_shape(b"").depth, 0);
        assert_eq!(json_shape(b"\"unterminated").longest_string, 12);
        assert_eq!(json_shape(&[b'['; 1000]).depth, 1000);
    }
}
