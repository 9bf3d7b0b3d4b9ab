//! Filling a store from a fetch while its deltas keep arriving.
//!
//! The notification stream has no sequence numbers (GNS3's has none), so a
//! client cannot tell whether a delta that arrived while its fetch was in
//! flight is older or newer than the answer. Applying it could undo the
//! answer; dropping it could lose a change. So: deltas that arrive during a
//! fetch are held, and if any did, the store fetches once more, up to
//! [`MAX_ROUNDS`] times; a store that never gets a quiet moment then
//! applies what arrived during its last fetch (each delta carries the whole
//! object, so the next one about it corrects any that was stale).

/// Fetches per resync before the held deltas are applied anyway.
pub const MAX_ROUNDS: u8 = 3;

/// Whether a store is being filled, and what arrived meanwhile.
#[derive(Debug)]
pub struct Resync<D> {
    fetching: bool,
    rounds: u8,
    held: Vec<D>,
    /// Asked for while a fetch was in flight.
    again: bool,
}

/// What to do when a fetch has answered.
#[derive(Debug, PartialEq)]
pub enum Answered<D> {
    /// Keep the answer, then apply these deltas in order.
    Keep(Vec<D>),
    /// Things changed meanwhile: discard the answer and fetch again.
    FetchAgain,
}

impl<D> Default for Resync<D> {
    fn default() -> Self {
        Resync { fetching: false, rounds: 0, held: vec![], again: false }
    }
}

impl<D> Resync<D> {
    /// A fetch is wanted (a new connection, a delta that could not be
    /// applied). True when the caller should start one now; false when one
    /// is in flight, which will then be followed by another.
    pub fn want(&mut self) -> bool {
        if self.fetching {
            self.again = true;
            return false;
        }
        *self = Resync { fetching: true, rounds: 1, held: vec![], again: false };
        true
    }

    /// A delta arrived: returned to be applied now, or held (`None`)
    /// because a fetch is in flight.
    pub fn offer(&mut self, delta: D) -> Option<D> {
        if !self.fetching {
            return Some(delta);
        }
        self.held.push(delta);
        None
    }

    /// Whether a fetch is in flight.
    pub fn fetching(&self) -> bool {
        self.fetching
    }

    /// The fetch in flight answered.
    pub fn answered(&mut self) -> Answered<D> {
        let changed = !self.held.is_empty() || self.again;
        if changed && self.rounds < MAX_ROUNDS {
            self.rounds += 1;
            self.held.clear();
            self.again = false;
            return Answered::FetchAgain;
        }
        self.fetching = false;
        self.again = false;
        Answered::Keep(std::mem::take(&mut self.held))
    }

    /// The fetch in flight failed: nothing is held any more, and the next
    /// [`want`](Self::want) starts afresh.
    pub fn failed(&mut self) {
        *self = Resync::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_fetch_is_kept_and_later_deltas_apply_at_once() {
        let mut sync = Resync::default();
        assert_eq!(sync.offer(1), Some(1), "no fetch: apply now");
        assert!(sync.want());
        assert!(sync.fetching());
        assert_eq!(sync.answered(), Answered::Keep(vec![]));
        assert_eq!(sync.offer(2), Some(2));
    }

    #[test]
    fn deltas_during_a_fetch_are_held_and_the_store_fetches_again() {
        let mut sync = Resync::default();
        assert!(sync.want());
        assert_eq!(sync.offer(1), None);
        assert_eq!(sync.answered(), Answered::FetchAgain);
        // The second round was quiet: its answer stands, the first round's delta is gone.
        assert_eq!(sync.answered(), Answered::Keep(vec![]));
    }

    #[test]
    fn a_store_that_never_gets_quiet_applies_the_last_rounds_deltas() {
        let mut sync = Resync::default();
        assert!(sync.want());
        for round in 1..MAX_ROUNDS {
            assert_eq!(sync.offer(round), None);
            assert_eq!(sync.answered(), Answered::FetchAgain);
        }
        assert_eq!(sync.offer(10), None);
        assert_eq!(sync.offer(11), None);
        assert_eq!(sync.answered(), Answered::Keep(vec![10, 11]));
        assert!(!sync.fetching());
    }

    #[test]
    fn asking_during_a_fetch_fetches_once_more_not_twice_at_once() {
        let mut sync = Resync::<u8>::default();
        assert!(sync.want());
        assert!(!sync.want(), "one fetch at a time");
        assert_eq!(sync.answered(), Answered::FetchAgain);
        assert_eq!(sync.answered(), Answered::Keep(vec![]));
        sync.want();
        sync.offer(1);
        sync.failed();
        assert!(!sync.fetching());
        assert_eq!(sync.offer(2), Some(2));
    }
}
