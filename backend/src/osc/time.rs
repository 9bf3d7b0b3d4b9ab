//! OSC time tags (NTP: seconds since 1900, 32.32 fixed point) against the system clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An OSC time tag now (NTP: seconds since 1900, 32.32 fixed point).
pub fn ntp_now() -> u64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    ((d.as_secs() + 2_208_988_800) << 32) | (((d.subsec_nanos() as u64) << 32) / 1_000_000_000)
}

pub fn ntp_to_duration_from_now(tag: u64) -> Duration {
    let now = ntp_now();
    let delta = tag.saturating_sub(now);
    Duration::from_nanos(((delta as u128 * 1_000_000_000) >> 32) as u64)
}
