//! The wall clock as OTLP timestamps want it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in nanoseconds since the Unix epoch (OTLP's `time_unix_nano`); 0 if the clock
/// reads before 1970.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Now, in seconds since the Unix epoch (the live page's time axis).
pub fn unix_seconds() -> f64 {
    unix_nanos() as f64 / 1e9
}
