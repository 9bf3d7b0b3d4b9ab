//! Wall-clock times (a bundle's time tag) to engine frames, for value
//! changes that take effect on a given sample.
//!
//! One fixed line, `frame = anchor frame + (time - anchor time) x rate`,
//! plus a constant lead ([`LEAD`]): two bundles 10 ms apart take
//! effect exactly 480 frames apart at 48 kHz, however late each one was
//! dispatched, as long as each reaches the audio side within the lead. The
//! line is drawn again only when the engine's clock has left it by more
//! than [`TOLERANCE`] (a sound card's clock drifting from the system's, a
//! machine too busy to keep time, the system clock set).

use std::time::{Duration, SystemTime};

/// Between a timed bundle's time and the frame its value changes take
/// effect at: the time a change may take to reach the audio side after its
/// bundle's time (the scheduler's lateness under load, up to 4-5 ms on this
/// machine's benchmarks, and the hop to the audio side). The same for
/// every bundle, so the distance between two bundles is kept to the sample.
pub(crate) const LEAD: Duration = Duration::from_millis(10);

/// How far the clock may drift from the line before it is drawn again.
pub(crate) const TOLERANCE: Duration = Duration::from_millis(50);

#[derive(Debug, Default)]
pub(crate) struct Timeline {
    anchor: Option<(SystemTime, u64)>,
}

impl Timeline {
    /// The frame for wall-clock time `at`, given that it is `now` and the
    /// clock's next block starts at frame `frames`.
    pub(crate) fn frame_at(&mut self, at: SystemTime, now: SystemTime, frames: u64, rate: f64) -> u64 {
        let line = |(t0, f0): (SystemTime, u64), t: SystemTime| match t.duration_since(t0) {
            Ok(d) => f0 as f64 + d.as_secs_f64() * rate,
            Err(e) => f0 as f64 - e.duration().as_secs_f64() * rate,
        };
        let anchor = match self.anchor {
            Some(a) if (line(a, now) - frames as f64).abs() <= TOLERANCE.as_secs_f64() * rate => a,
            _ => {
                if self.anchor.is_some() {
                    tracing::debug!(frames, "the engine's clock left the bundle timeline: drawn again");
                }
                *self.anchor.insert((now, frames))
            }
        };
        (line(anchor, at).round().max(0.0) as u64) + lead_frames(rate)
    }
}

/// [`LEAD`] in frames at `rate`.
fn lead_frames(rate: f64) -> u64 {
    (LEAD.as_secs_f64() * rate).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = 48000.0;

    #[test]
    fn bundles_keep_their_distance_to_the_sample() {
        let mut line = Timeline::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let lead = lead_frames(RATE);
        assert_eq!(lead, 480);
        assert_eq!(line.frame_at(t0, t0, 6400, RATE), 6400 + lead);
        // Dispatched late or early by less than the tolerance: the same line.
        let at = t0 + Duration::from_micros(10_250); // 492 frames later
        let now = at + Duration::from_millis(3);
        assert_eq!(line.frame_at(at, now, 6400 + 640, RATE), 6400 + 492 + lead);
        assert_eq!(line.frame_at(t0 - Duration::from_millis(1), now, 7000, RATE), 6400 - 48 + lead);
    }

    #[test]
    fn a_clock_that_left_the_line_draws_it_again() {
        let mut line = Timeline::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        line.frame_at(t0, t0, 0, RATE);
        let now = t0 + Duration::from_secs(1);
        // A second later the clock has run only half a second: redrawn at now.
        assert_eq!(line.frame_at(now, now, 24000, RATE), 24000 + lead_frames(RATE));
    }
}
