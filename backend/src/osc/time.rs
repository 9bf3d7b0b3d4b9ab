//! OSC time tags (NTP: seconds since 1900, 32.32 fixed point) against the system clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An OSC time tag now (NTP: seconds since 1900, 32.32 fixed point).
pub fn ntp_now() -> u64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    ((d.as_secs() + 2_208_988_800) << 32) | (((d.subsec_nanos() as u64) << 32) / 1_000_000_000)
}

/// How long from now until the NTP time tag `tag`: zero if it is past.
pub fn ntp_to_duration_from_now(tag: u64) -> Duration {
    let now = ntp_now();
    let delta = tag.saturating_sub(now);
    Duration::from_nanos(((delta as u128 * 1_000_000_000) >> 32) as u64)
}

/// The system time an NTP time tag names (`1`, "immediately", has none).
pub fn ntp_to_system(tag: u64) -> Option<SystemTime> {
    let secs = (tag >> 32).checked_sub(2_208_988_800)?;
    let nanos = ((tag & 0xffff_ffff) * 1_000_000_000) >> 32;
    (tag != 1).then(|| UNIX_EPOCH + Duration::new(secs, nanos as u32))
}

/// How far ahead a bundle may be scheduled.
pub const MAX_BUNDLE_AHEAD: Duration = Duration::from_secs(60);

/// When a bundle with time tag `tag` runs: `Ok(None)` now (`1` means
/// immediately, and past times run at once), `Ok(Some(wait))` later, or an
/// error when that is further ahead than [`MAX_BUNDLE_AHEAD`].
pub fn bundle_wait(tag: u64) -> Result<Option<Duration>, String> {
    if tag <= ntp_now() {
        return Ok(None);
    }
    let wait = ntp_to_duration_from_now(tag);
    if wait > MAX_BUNDLE_AHEAD {
        return Err(format!(
            "A bundle may be scheduled at most {} s ahead; this one is {:.0} s ahead",
            MAX_BUNDLE_AHEAD.as_secs(),
            wait.as_secs_f64()
        ));
    }
    Ok(Some(wait))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_run_now_later_or_are_refused() {
        assert_eq!(bundle_wait(1), Ok(None), "immediately");
        assert_eq!(bundle_wait(ntp_now() - (5 << 32)), Ok(None), "late: at once");
        let wait = bundle_wait(ntp_now() + (2 << 32)).unwrap().expect("later");
        assert!(wait > Duration::from_millis(1900) && wait <= Duration::from_secs(2), "{wait:?}");
        let e = bundle_wait(ntp_now() + (3600 << 32)).unwrap_err();
        assert!(e.contains("at most 60 s ahead"), "{e}");
        assert!(bundle_wait(u64::MAX).is_err(), "the end of the NTP era too");
    }

    #[test]
    fn time_tags_name_system_times() {
        assert_eq!(ntp_to_system(1), None, "immediately");
        let t = ntp_to_system(((2_208_988_800 + 1_700_000_000) << 32) | (1 << 31)).unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::from_millis(1_700_000_000_500));
        let now = ntp_to_system(ntp_now()).unwrap();
        let error = SystemTime::now().duration_since(now).unwrap();
        assert!(error < Duration::from_millis(100), "{error:?}");
    }
}
