//! Engine time: frames the audio side has processed, which it advances and
//! the control side reads (timers, replies, `/main_clock`).
//!
//! A timer clock with nothing to play rests instead of ticking: an empty
//! program ticked 750 times a second took 1.4-2.2 % of a core on this
//! machine, more than a thousand idle PCs. While it rests, time is what
//! ticking would have made it, computed from the wall clock, so neither
//! readers nor timers can tell; a command for the audio side wakes it.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::OnceLock;
use std::thread::Thread;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct ClockState {
    pub rate: f64,
    pub block: usize,
    /// Samples processed so far (not counting a rest in progress).
    frames: AtomicU64,
    /// Odd while a rest begins or ends, so that a reader never mixes the
    /// frames of one state with the rest of the other (a seqlock).
    seq: AtomicU64,
    /// While resting: when the next tick would have been due, in
    /// nanoseconds after `epoch`, plus one. Zero otherwise.
    resting: AtomicU64,
    epoch: Instant,
    /// The thread of a timer clock, which commands wake from a rest.
    sleeper: OnceLock<Thread>,
    /// Timed value changes that found the audio side's waiting list full
    /// and took effect at the start of their block instead of their frame.
    crowded: AtomicU64,
    /// Timed value changes that reached the audio side after their frame
    /// (dispatched later than the lead) and took effect at their block's start.
    late_changes: AtomicU64,
}

impl ClockState {
    pub fn new(rate: f64, block: usize) -> ClockState {
        ClockState {
            rate,
            block,
            frames: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            resting: AtomicU64::new(0),
            epoch: Instant::now(),
            sleeper: OnceLock::new(),
            crowded: AtomicU64::new(0),
            late_changes: AtomicU64::new(0),
        }
    }

    /// One block's duration, as a timer clock paces them.
    pub fn period(&self) -> Duration {
        Duration::from_secs_f64(self.block as f64 / self.rate)
    }

    /// Frames processed by now, a rest included.
    pub fn frames(&self) -> u64 {
        loop {
            let before = self.seq.load(SeqCst);
            let (frames, resting) = (self.frames.load(SeqCst), self.resting.load(SeqCst));
            // Read the time inside the window too: taken after it, a rest
            // could have ended in between, counting fewer ticks than this
            // reader then would, and the next reader would see time go back.
            let now = self.now();
            if before.is_multiple_of(2) && self.seq.load(SeqCst) == before {
                return frames + self.block as u64 * self.ticks_due(resting, now);
            }
            std::hint::spin_loop();
        }
    }

    pub fn seconds(&self) -> f64 {
        self.frames() as f64 / self.rate
    }

    /// Frames ticked so far: where the audio side's next block starts (it
    /// is not resting while it ticks).
    pub(crate) fn ticked(&self) -> u64 {
        self.frames.load(SeqCst)
    }

    pub(crate) fn count_crowded(&self) {
        self.crowded.fetch_add(1, SeqCst);
    }

    /// Timed value changes that took effect at a block's start, not their
    /// frame, because too many waited at once.
    pub fn crowded(&self) -> u64 {
        self.crowded.load(SeqCst)
    }

    pub(crate) fn count_late_changes(&self, n: u64) {
        self.late_changes.fetch_add(n, SeqCst);
    }

    /// Timed value changes that arrived after their frame had been played.
    pub fn late_changes(&self) -> u64 {
        self.late_changes.load(SeqCst)
    }

    /// The audio side's tick: one block more.
    pub(crate) fn advance(&self) {
        self.frames.fetch_add(self.block as u64, SeqCst);
    }

    /// Called on the timer clock's thread, so that [`ClockState::wake`] reaches it.
    pub(crate) fn set_sleeper(&self) {
        let _ = self.sleeper.set(std::thread::current());
    }

    /// Wakes a resting timer clock: something is queued for the audio side.
    /// Cheap when it is not asleep (one atomic swap).
    pub fn wake(&self) {
        if let Some(thread) = self.sleeper.get() {
            thread.unpark();
        }
    }

    /// The timer clock stops ticking; `next` is when its next tick was due.
    pub(crate) fn begin_rest(&self, next: Instant) {
        let due = next.saturating_duration_since(self.epoch).as_nanos() as u64 + 1;
        self.write(|| self.resting.store(due, SeqCst));
    }

    /// The rest is over: the ticks it stood for are counted as done.
    /// Returns how many, by which the clock moves its next tick on.
    pub(crate) fn end_rest(&self) -> u32 {
        let mut ticks = 0;
        self.write(|| {
            ticks = self.ticks_due(self.resting.load(SeqCst), self.now());
            self.frames.fetch_add(self.block as u64 * ticks, SeqCst);
            self.resting.store(0, SeqCst);
        });
        ticks as u32
    }

    fn write(&self, change: impl FnOnce()) {
        self.seq.fetch_add(1, SeqCst);
        change();
        self.seq.fetch_add(1, SeqCst);
    }

    /// Nanoseconds since `epoch`.
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Ticks a rest with this `resting` value stands for at `now`.
    fn ticks_due(&self, resting: u64, now: u64) -> u64 {
        let Some(due) = resting.checked_sub(1) else { return 0 };
        match now.checked_sub(due) {
            Some(late) => late / self.period().as_nanos().max(1) as u64 + 1,
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rest_counts_the_ticks_it_stands_for() {
        let clock = ClockState::new(1000.0, 10); // a tick every 10 ms
        clock.advance();
        assert_eq!(clock.frames(), 10);
        let next = Instant::now() + clock.period();
        clock.begin_rest(next);
        // Due at `next`, then every 10 ms: the ticks due by a moment.
        let due_by = |at: Instant| match at.checked_duration_since(next) {
            Some(late) => late.as_millis() as u64 / 10 + 1,
            None => 0,
        };
        let read = || {
            let (early, seen, late) = (Instant::now(), clock.frames(), Instant::now());
            let due = 10 * due_by(early)..=10 * due_by(late);
            assert!(due.contains(&(seen - 10)), "{seen} frames, 10 and {due:?} due");
            seen
        };
        read(); // most likely before the next tick: 10
        std::thread::sleep(Duration::from_millis(55));
        let seen = read();
        assert!(seen >= 60, "five ticks were due by 55 ms");
        let ticks = clock.end_rest();
        assert!(clock.frames() >= seen, "time never goes back");
        assert_eq!(clock.frames(), 10 + 10 * ticks as u64);
        clock.advance();
        assert_eq!(clock.frames(), 20 + 10 * ticks as u64, "ticking goes on from there");
    }

    #[test]
    fn readers_see_time_move_forward_across_rests() {
        // A real clock's pace, and one that ticks every microsecond so that
        // a rest ending while a reader computes is all but certain.
        for (rate, block, rest) in [(48000.0, 64, 3000), (1e6, 1, 2)] {
            readers_see_time_move_forward(ClockState::new(rate, block), Duration::from_micros(rest));
        }
    }

    fn readers_see_time_move_forward(clock: ClockState, rest: Duration) {
        let clock = std::sync::Arc::new(clock);
        let reader = {
            let clock = clock.clone();
            std::thread::spawn(move || {
                let mut last = 0;
                let until = Instant::now() + Duration::from_millis(200);
                while Instant::now() < until {
                    let now = clock.frames();
                    assert!(now >= last, "{now} < {last}");
                    last = now;
                }
                last
            })
        };
        let mut next = Instant::now();
        let until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < until {
            clock.advance();
            next += clock.period();
            clock.begin_rest(next);
            match rest < Duration::from_micros(100) {
                true => while next.elapsed() < rest {}, // shorter than a sleep can be
                false => std::thread::sleep(rest),
            }
            next += clock.period() * clock.end_rest();
        }
        assert!(reader.join().unwrap() > 0);
    }
}
