//! Value changes that take effect at a given sample frame (a timed OSC
//! bundle's set-values), on the audio side.
//!
//! They wait in a list sorted by frame. Each block takes those due in it;
//! a node that has one is run in pieces, split at each change's frame,
//! so the change lands on its sample and not on a block boundary (as in
//! scsynth). Nothing else in the block is split: the other nodes see the
//! full block as usual. Nothing here allocates: both lists are reserved
//! up front, and a change that finds the waiting list full takes effect at
//! the start of its block, counted in [`crate::engine::clock::ClockState`].

use super::program::contain;
use super::transform::DspNode;

/// Value changes that may wait on the audio side at once. They wait only
/// the engine's lead ([`super::timeline::LEAD`]) when they come from a live bundle,
/// so this is far more than a live flood fills.
pub(crate) const MAX_WAITING: usize = 4096;

/// A value for port `port` of the node in slot `slot`, from frame `frame`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Timed {
    pub frame: u64,
    pub slot: usize,
    pub port: usize,
    pub value: f64,
    /// Arrival order, which decides between two changes of one port at one frame.
    pub seq: u64,
}

/// The changes waiting for a later block, and those due in this one.
pub(crate) struct TimedQueue {
    /// Latest frame first, so that the next due is popped off the end.
    waiting: Vec<Timed>,
    /// This block's, by slot and then frame (the order the program meets them in).
    due: Vec<Timed>,
    seq: u64,
}

impl TimedQueue {
    pub(crate) fn new() -> TimedQueue {
        TimedQueue { waiting: Vec::with_capacity(MAX_WAITING), due: Vec::with_capacity(MAX_WAITING), seq: 0 }
    }

    /// Queues a change; gives it back when the list is full.
    pub(crate) fn add(&mut self, mut t: Timed) -> Result<(), Timed> {
        if self.waiting.len() == self.waiting.capacity() {
            return Err(t);
        }
        self.seq += 1;
        t.seq = self.seq;
        let at = self.waiting.partition_point(|w| w.frame > t.frame);
        self.waiting.insert(at, t); // within capacity: a move, not an allocation
        Ok(())
    }

    /// After a new program: each waiting change follows its node to the
    /// node's new slot (`renumber[old]`), or is dropped with a deleted node.
    pub(crate) fn renumber(&mut self, renumber: &[usize]) {
        self.waiting.retain_mut(|t| match renumber.get(t.slot) {
            Some(&slot) if slot != usize::MAX => {
                t.slot = slot;
                true
            }
            _ => false,
        });
    }

    /// Takes the changes due before frame `end`, sorted for [`TimedQueue::due`].
    pub(crate) fn take_due(&mut self, end: u64) {
        self.due.clear();
        while self.waiting.last().is_some_and(|t| t.frame < end) {
            self.due.push(self.waiting.pop().expect("looked"));
        }
        // Unstable sorts do not allocate; `seq` makes the order total.
        self.due.sort_unstable_by_key(|t| (t.slot, t.frame, t.seq));
    }

    pub(crate) fn due(&self) -> &[Timed] {
        &self.due
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

/// Runs `node` over one block of `b` frames starting at frame `start`, in
/// pieces split at each of `sets` (all for this node, sorted by frame):
/// each takes effect on its own frame. `ins` and `out` are the usual
/// blocks (`n_in` and `n_out` of them); `piece` is room for one piece's
/// inputs and outputs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_split(
    node: &mut dyn DspNode,
    ins: &[f32],
    out: &mut [f32],
    (n_in, n_out, b): (usize, usize, usize),
    start: u64,
    sets: &[Timed],
    piece: &mut [f32],
) {
    let offset = |t: &Timed| (t.frame.saturating_sub(start) as usize).min(b);
    let mut from = 0;
    let mut next = 0;
    while from < b {
        while let Some(t) = sets.get(next).filter(|t| offset(t) <= from) {
            node.set(t.port, t.value);
            next += 1;
        }
        let to = sets.get(next).map_or(b, offset);
        let n = to - from;
        let (piece_in, piece_out) = piece.split_at_mut(n_in * n);
        let piece_out = &mut piece_out[..n_out * n];
        for k in 0..n_in {
            piece_in[k * n..(k + 1) * n].copy_from_slice(&ins[k * b + from..k * b + to]);
        }
        node.process(piece_in, piece_out);
        contain(node, piece_out);
        for k in 0..n_out {
            out[k * b + from..k * b + to].copy_from_slice(&piece_out[k * n..(k + 1) * n]);
        }
        from = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(frame: u64, slot: usize, value: f64) -> Timed {
        Timed { frame, slot, port: 0, value, seq: 0 }
    }

    #[test]
    fn changes_come_due_by_block_sorted_by_slot_then_frame() {
        let mut q = TimedQueue::new();
        for t in [at(130, 1, 1.0), at(70, 2, 2.0), at(64, 1, 3.0), at(200, 0, 4.0), at(70, 2, 5.0)] {
            q.add(t).unwrap();
        }
        q.take_due(64);
        assert!(q.due().is_empty(), "nothing before frame 64");
        q.take_due(128);
        let got: Vec<_> = q.due().iter().map(|t| (t.slot, t.frame, t.value)).collect();
        assert_eq!(
            got,
            [(1, 64, 3.0), (2, 70, 2.0), (2, 70, 5.0)],
            "one frame's two changes in arrival order"
        );
        q.renumber(&[usize::MAX, 7]);
        q.take_due(1000);
        let got: Vec<_> = q.due().iter().map(|t| (t.slot, t.frame)).collect();
        assert_eq!(got, [(7, 130)], "slot 1 moved to 7; slot 0's node was deleted");
        assert!(q.is_empty());
    }

    #[test]
    fn a_full_list_gives_the_change_back() {
        let mut q = TimedQueue::new();
        for i in 0..MAX_WAITING {
            q.add(at(i as u64, 0, 0.0)).unwrap();
        }
        let capacity = q.waiting.capacity();
        assert_eq!(q.add(at(5, 0, 9.0)), Err(at(5, 0, 9.0)));
        assert_eq!(q.waiting.capacity(), capacity, "never grows");
    }

    /// Outputs the value it was last set to, on every frame.
    struct Level(f32);
    impl DspNode for Level {
        fn process(&mut self, _: &[f32], out: &mut [f32]) {
            out.fill(self.0);
        }
        fn set(&mut self, _: usize, v: f64) {
            self.0 = v as f32;
        }
    }

    #[test]
    fn each_change_lands_on_its_own_frame() {
        let (b, start) = (64, 6400);
        let mut out = vec![f32::NAN; b];
        let mut piece = vec![0.0; 2 * b];
        let sets = [at(6400 + 10, 0, 1.0), at(6400 + 10, 0, 2.0), at(6400 + 63, 0, 3.0)];
        run_split(&mut Level(0.5), &[], &mut out, (0, 1, b), start, &sets, &mut piece);
        let expect: Vec<f32> =
            (0..b).map(|i| [0.5, 2.0, 3.0][(i >= 10) as usize + (i >= 63) as usize]).collect();
        assert_eq!(out, expect);
        // A late change (before the block) takes effect on its first frame.
        run_split(&mut Level(0.5), &[], &mut out, (0, 1, b), start, &[at(100, 0, 4.0)], &mut piece);
        assert!(out.iter().all(|&x| x == 4.0));
    }

    /// Copies two inlets to two outlets, swapped.
    struct Swap;
    impl DspNode for Swap {
        fn process(&mut self, ins: &[f32], out: &mut [f32]) {
            let n = out.len() / 2;
            out[..n].copy_from_slice(&ins[n..]);
            out[n..].copy_from_slice(&ins[..n]);
        }
    }

    #[test]
    fn pieces_keep_every_inlet_and_outlet_in_place() {
        let b = 8;
        let ins: Vec<f32> = (0..2 * b).map(|i| i as f32).collect();
        let mut out = vec![0.0; 2 * b];
        let mut piece = vec![0.0; 4 * b];
        run_split(&mut Swap, &ins, &mut out, (2, 2, b), 0, &[at(3, 0, 0.0), at(5, 0, 0.0)], &mut piece);
        let expect: Vec<f32> = ins[b..].iter().chain(&ins[..b]).copied().collect();
        assert_eq!(out, expect);
    }
}
