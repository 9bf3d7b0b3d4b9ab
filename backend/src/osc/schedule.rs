//! Future bundles waiting for their time, in time order and then in arrival
//! order, bounded in count and bytes per sender and in bytes for all.

use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use super::codec::Packet;

/// Future bundles one sender may have waiting.
pub(crate) const MAX_BUNDLES_PER_PEER: usize = 1024;
/// Bytes of future bundles one sender may have waiting.
pub(crate) const MAX_BUNDLE_BYTES_PER_PEER: usize = 4 * 1024 * 1024;
/// Bytes of future bundles all senders together may have waiting.
pub(crate) const MAX_BUNDLE_BYTES: usize = 32 * 1024 * 1024;

/// A bundle that came due: who sent it, the time it names, what it holds
/// and the bytes it was counted as.
pub(crate) struct DueBundle {
    pub peer: SocketAddr,
    pub tag: Option<SystemTime>,
    pub content: Vec<Packet>,
    pub size: usize,
}

/// A bundle waiting for its time.
struct Due {
    at: Instant,
    seq: u64,
    peer: SocketAddr,
    /// What it is counted as: the bytes it arrived in.
    size: usize,
    /// Its time tag, which its value changes take effect at.
    tag: Option<SystemTime>,
    content: Vec<Packet>,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    /// Earliest first (the heap is a max-heap), then in arrival order.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Default)]
pub(crate) struct Schedule {
    heap: BinaryHeap<Due>,
    seq: u64,
    /// Bundles and bytes waiting, per sender.
    per_peer: HashMap<SocketAddr, (usize, usize)>,
    bytes: usize,
}

impl Schedule {
    /// Queues `content` to run at `at` (its time tag names `tag`); `size`
    /// is the bytes it arrived in.
    pub(crate) fn add(
        &mut self,
        (at, tag): (Instant, Option<SystemTime>),
        peer: SocketAddr,
        content: Vec<Packet>,
        size: usize,
    ) -> Result<(), String> {
        let (count, bytes) = self.per_peer.get(&peer).copied().unwrap_or_default();
        if count >= MAX_BUNDLES_PER_PEER {
            return Err(format!("{MAX_BUNDLES_PER_PEER} of your bundles already wait for their time"));
        }
        if bytes + size > MAX_BUNDLE_BYTES_PER_PEER {
            return Err(format!(
                "Your bundles waiting for their time would pass {MAX_BUNDLE_BYTES_PER_PEER} bytes"
            ));
        }
        if self.bytes + size > MAX_BUNDLE_BYTES {
            return Err(format!("The server holds {MAX_BUNDLE_BYTES} bytes of future bundles: retry"));
        }
        self.per_peer.insert(peer, (count + 1, bytes + size));
        self.bytes += size;
        self.seq += 1;
        self.heap.push(Due { at, seq: self.seq, peer, size, tag, content });
        Ok(())
    }

    /// When the earliest bundle is due.
    pub(crate) fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|d| d.at)
    }

    /// The earliest bundle if it is due by `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<DueBundle> {
        if self.heap.peek()?.at > now {
            return None;
        }
        let due = self.heap.pop().expect("peeked");
        self.bytes -= due.size;
        if let Some((count, bytes)) = self.per_peer.get_mut(&due.peer) {
            *count -= 1;
            *bytes -= due.size;
            if *count == 0 {
                self.per_peer.remove(&due.peer);
            }
        }
        Some(DueBundle { peer: due.peer, tag: due.tag, content: due.content, size: due.size })
    }

    /// Bytes waiting, all senders together.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::osc::codec::Message;

    fn bundle(tag: &str) -> Vec<Packet> {
        vec![Packet::Message(Message::new(tag, vec![]))]
    }

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn bundles_come_out_in_time_then_arrival_order() {
        let (mut s, t0) = (Schedule::default(), Instant::now());
        let later = t0 + Duration::from_millis(20);
        s.add((later, None), peer(1), bundle("/b"), 10).unwrap();
        s.add((t0, None), peer(2), bundle("/a"), 10).unwrap();
        s.add((later, None), peer(1), bundle("/c"), 10).unwrap();
        assert_eq!(s.next_at(), Some(t0));
        let order: Vec<_> = std::iter::from_fn(|| s.pop_due(later)).map(|d| d.content).collect();
        assert_eq!(order, vec![bundle("/a"), bundle("/b"), bundle("/c")]);
        assert!(s.pop_due(later).is_none());
        assert_eq!((s.bytes(), s.per_peer.len()), (0, 0), "all accounted back");
    }

    #[test]
    fn a_sender_and_all_senders_are_bounded() {
        let (mut s, at) = (Schedule::default(), Instant::now() + Duration::from_secs(1));
        for _ in 0..MAX_BUNDLES_PER_PEER {
            s.add((at, None), peer(1), bundle("/x"), 16).unwrap();
        }
        let e = s.add((at, None), peer(1), bundle("/x"), 16).unwrap_err();
        assert!(e.contains("1024 of your bundles"), "{e}");
        let e = s.add((at, None), peer(2), bundle("/x"), MAX_BUNDLE_BYTES_PER_PEER + 1).unwrap_err();
        assert!(e.contains("would pass 4194304 bytes"), "{e}");
        // 2,000 bundles of 64 KB from distinct senders: the total holds.
        let refused =
            (0..2000).filter(|&i| s.add((at, None), peer(10 + i), bundle("/x"), 65_000).is_err()).count();
        assert!(refused > 0 && s.bytes() <= MAX_BUNDLE_BYTES, "{refused} refused, {} held", s.bytes());
    }
}
