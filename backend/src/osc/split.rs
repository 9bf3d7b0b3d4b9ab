//! `#split`: messages larger than a datagram, cut into numbered fragments
//! (`#split i n blob`) and put together again per sender.
//!
//! Reassembly holds untrusted bytes for a while, so everything it holds is
//! counted: a fragment's count and size are checked before anything is
//! stored, fragments are stored as they come (not a slot per announced
//! fragment), each sender has one message in progress, all senders
//! together hold at most [`MAX_SPLIT_TOTAL`], and what is not finished
//! within [`SPLIT_EXPIRY`] is swept by the transport's clock.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::codec::{self, Arg, Message};

/// Replies larger than this travel as `#split` fragments.
pub const MAX_DATAGRAM: usize = 60_000;
/// Largest message reassembled from fragments (or taken in one TCP frame).
pub const MAX_SPLIT: usize = 4 * 1024 * 1024;
/// Most fragments one message may be announced in.
pub const MAX_FRAGMENTS: i64 = 4096;
/// Bytes of unfinished messages all senders together may hold.
pub const MAX_SPLIT_TOTAL: usize = 32 * 1024 * 1024;
/// An unfinished message older than this is dropped.
pub const SPLIT_EXPIRY: Duration = Duration::from_secs(5);
/// What one stored fragment costs besides its bytes (map node, vector header).
const FRAGMENT_OVERHEAD: usize = 64;

/// Splits an encoded message that is too large for one datagram (one
/// that fits is handed back as it is, not copied).
pub fn split(bytes: Vec<u8>) -> Vec<Vec<u8>> {
    if bytes.len() <= MAX_DATAGRAM {
        return vec![bytes];
    }
    let chunk = MAX_DATAGRAM - 64;
    let n = bytes.len().div_ceil(chunk);
    bytes
        .chunks(chunk)
        .enumerate()
        .map(|(i, c)| {
            codec::encode_message(&Message::new(
                "#split",
                vec![Arg::Int(i as i32), Arg::Int(n as i32), Arg::Blob(c.to_vec())],
            ))
        })
        .collect()
}

/// Fragments of one `#split` message from one sender, as they came.
struct Partial {
    count: usize,
    parts: BTreeMap<usize, Vec<u8>>,
    /// Bytes of the fragments' data.
    data: usize,
    since: Instant,
}

impl Partial {
    /// Bytes this message holds, overheads included.
    fn held(&self) -> usize {
        self.data + self.parts.len() * FRAGMENT_OVERHEAD
    }
}

/// Every sender's unfinished `#split` message, within the limits above.
#[derive(Default)]
pub struct Reassembly {
    partials: HashMap<SocketAddr, Partial>,
    held: usize,
}

impl Reassembly {
    /// Takes one `#split i n blob` fragment; returns the whole message when
    /// it is complete, or why the fragment was refused (the sender's
    /// unfinished message is then dropped, as it can no longer complete).
    pub fn fragment(
        &mut self,
        peer: SocketAddr,
        m: &Message,
        now: Instant,
    ) -> Result<Option<Vec<u8>>, String> {
        let (Some(i), Some(n), Some(Arg::Blob(data))) =
            (m.args.first().and_then(Arg::as_i64), m.args.get(1).and_then(Arg::as_i64), m.args.get(2))
        else {
            return Err("#split takes: fragment number, fragment count, blob".into());
        };
        if !(1..=MAX_FRAGMENTS).contains(&n) || !(0..n).contains(&i) {
            self.drop_peer(peer);
            return Err(format!("Bad fragment {i} of {n}: at most {MAX_FRAGMENTS} fragments"));
        }
        let (i, n) = (i as usize, n as usize);
        if self.partials.get(&peer).is_some_and(|p| p.count != n) {
            // A new message starts: the unfinished one is given up.
            self.drop_peer(peer);
        }
        let cost = data.len() + FRAGMENT_OVERHEAD;
        let mine = self.partials.get(&peer).map_or(0, |p| p.data);
        if mine + data.len() > MAX_SPLIT {
            self.drop_peer(peer);
            return Err(format!("A #split message may hold at most {MAX_SPLIT} bytes"));
        }
        if self.held + cost > MAX_SPLIT_TOTAL {
            self.expire(now);
        }
        if self.held + cost > MAX_SPLIT_TOTAL {
            self.drop_peer(peer);
            return Err(format!(
                "The server holds {MAX_SPLIT_TOTAL} bytes of unfinished #split messages: retry"
            ));
        }
        let p = self.partials.entry(peer).or_insert_with(|| Partial {
            count: n,
            parts: BTreeMap::new(),
            data: 0,
            since: now,
        });
        if let Some(old) = p.parts.insert(i, data.clone()) {
            // A repeated fragment replaces the first one.
            p.data -= old.len();
            self.held -= old.len() + FRAGMENT_OVERHEAD;
        }
        p.data += data.len();
        self.held += cost;
        if p.parts.len() < p.count {
            return Ok(None);
        }
        let p = self.partials.remove(&peer).expect("present");
        self.held -= p.held();
        Ok(Some(p.parts.into_values().flatten().collect()))
    }

    /// Drops what has waited longer than [`SPLIT_EXPIRY`].
    pub fn expire(&mut self, now: Instant) {
        let held = &mut self.held;
        self.partials.retain(|_, p| {
            let keep = now.duration_since(p.since) < SPLIT_EXPIRY;
            if !keep {
                *held -= p.held();
            }
            keep
        });
    }

    /// Bytes held by unfinished messages.
    pub fn held(&self) -> usize {
        self.held
    }

    fn drop_peer(&mut self, peer: SocketAddr) {
        if let Some(p) = self.partials.remove(&peer) {
            self.held -= p.held();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragment(i: i32, n: i32, data: Vec<u8>) -> Message {
        Message::new("#split", vec![Arg::Int(i), Arg::Int(n), Arg::Blob(data)])
    }

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn fragments_in_any_order_make_the_message_again() {
        let message = codec::encode_message(&Message::new("/x", vec![Arg::Blob(vec![7; 150_000])]));
        let mut fragments: Vec<Message> = split(message.clone())
            .iter()
            .map(|d| match codec::decode(d).unwrap() {
                codec::Packet::Message(m) => m,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(fragments.len(), 3);
        fragments.reverse();
        let (mut r, now) = (Reassembly::default(), Instant::now());
        assert_eq!(r.fragment(peer(1), &fragments[0], now), Ok(None));
        assert_eq!(r.fragment(peer(1), &fragments[1], now), Ok(None));
        assert_eq!(r.fragment(peer(1), &fragments[2], now), Ok(Some(message)));
        assert_eq!(r.held(), 0, "nothing is left behind");
    }

    #[test]
    fn an_announced_count_costs_nothing_until_fragments_come() {
        let mut r = Reassembly::default();
        let now = Instant::now();
        for port in 0..6500 {
            assert_eq!(r.fragment(peer(port), &fragment(0, 4096, vec![1; 4]), now), Ok(None));
        }
        assert_eq!(
            r.held(),
            6500 * (4 + FRAGMENT_OVERHEAD),
            "a 36-byte datagram holds its bytes, not 4,096 slots"
        );
        let e = r.fragment(peer(1), &fragment(0, 1 << 20, vec![1; 4]), now).unwrap_err();
        assert!(e.contains("at most 4096 fragments"), "{e}");
    }

    #[test]
    fn one_message_and_all_senders_are_bounded_in_bytes() {
        let (mut r, now) = (Reassembly::default(), Instant::now());
        let big = vec![0u8; 60_000];
        let mut refused = None;
        for i in 0..100 {
            if let Err(e) = r.fragment(peer(1), &fragment(i, 4000, big.clone()), now) {
                refused = Some((i, e));
                break;
            }
        }
        let (i, e) = refused.expect("4 MiB reached");
        assert_eq!(i, (MAX_SPLIT / 60_000) as i32, "refused as soon as it passes the limit");
        assert!(e.contains("at most 4194304 bytes"), "{e}");
        assert_eq!(r.held(), 0, "the refused message is dropped whole");

        // Many senders, each within its own limit, meet the total.
        let mut refusals = 0;
        for port in 0..20 {
            for i in 0..60 {
                if r.fragment(peer(port), &fragment(i, 4000, big.clone()), now).is_err() {
                    refusals += 1;
                    break;
                }
            }
        }
        assert!(refusals > 0 && r.held() <= MAX_SPLIT_TOTAL, "{refusals} refused, {} held", r.held());
    }

    #[test]
    fn unfinished_messages_expire_by_the_clock() {
        let (mut r, t0) = (Reassembly::default(), Instant::now());
        r.fragment(peer(1), &fragment(0, 2, vec![1; 100]), t0).unwrap();
        r.fragment(peer(2), &fragment(0, 2, vec![1; 100]), t0 + SPLIT_EXPIRY / 2).unwrap();
        r.expire(t0 + SPLIT_EXPIRY);
        assert_eq!(r.held(), 100 + FRAGMENT_OVERHEAD, "the older one went");
        r.expire(t0 + SPLIT_EXPIRY * 2);
        assert_eq!(r.held(), 0);
    }

    #[test]
    fn a_new_count_starts_a_new_message_and_repeats_replace() {
        let (mut r, now) = (Reassembly::default(), Instant::now());
        r.fragment(peer(1), &fragment(0, 3, vec![1; 10]), now).unwrap();
        r.fragment(peer(1), &fragment(0, 3, vec![2; 10]), now).unwrap();
        assert_eq!(r.held(), 10 + FRAGMENT_OVERHEAD, "a repeat replaces");
        r.fragment(peer(1), &fragment(0, 2, vec![3; 1]), now).unwrap();
        assert_eq!(r.fragment(peer(1), &fragment(1, 2, vec![4; 1]), now), Ok(Some(vec![3, 4])));
        assert!(r.fragment(peer(1), &Message::new("#split", vec![Arg::Int(0)]), now).is_err());
    }
}
