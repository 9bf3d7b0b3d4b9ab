//! One stream client's OSC state, whatever carries it (a TCP connection, a
//! WebSocket): its future bundles, waiting in its own schedule so that the
//! messages after them run at once, and its unfinished `#split` message;
//! and the budget all sessions of one transport share ([`Sessions`]), so
//! that many clients together stay bounded too.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::codec::{self, Message, Packet};
use super::schedule::Schedule;
use super::split::Reassembly;
use super::time::{bundle_wait, ntp_to_system};
use crate::access::Role;
use crate::app::App;
use crate::limit_log::limit_hit;
use crate::namespace;

pub(crate) struct Session {
    app: Arc<App>,
    peer: SocketAddr,
    role: Role,
    /// Named in log lines: "TCP", "WebSocket".
    transport: &'static str,
    schedule: Schedule,
    reassembly: Reassembly,
}

impl Session {
    pub(crate) fn new(app: Arc<App>, peer: SocketAddr, role: Role, transport: &'static str) -> Session {
        Session {
            app,
            peer,
            role,
            transport,
            schedule: Schedule::default(),
            reassembly: Reassembly::default(),
        }
    }

    /// When the earliest waiting bundle is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.schedule.next_at()
    }

    /// Runs the bundles that are due, in time and then arrival order.
    pub(crate) async fn run_due(&mut self) -> Vec<Message> {
        let mut replies = vec![];
        while let Some(due) = self.schedule.pop_due(Instant::now()) {
            for p in due.content {
                replies.extend(self.run_at(p, due.size, due.tag).await);
            }
        }
        replies
    }

    /// Bytes held for this client: waiting bundles and unfinished fragments
    /// (after dropping fragments too old to finish).
    pub(crate) fn held(&mut self) -> usize {
        self.reassembly.expire(Instant::now());
        self.schedule.bytes() + self.reassembly.held()
    }

    /// Runs a packet that arrived in `size` bytes: bundles due now in
    /// order, future ones into the schedule, `#split` fragments into the
    /// reassembly.
    pub(crate) async fn run(&mut self, p: Packet, size: usize) -> Vec<Message> {
        self.run_at(p, size, None).await
    }

    /// [`Session::run`] for a packet inside a bundle timed `at`.
    async fn run_at(&mut self, p: Packet, size: usize, at: Option<SystemTime>) -> Vec<Message> {
        let (peer, transport) = (self.peer, self.transport);
        let mut stack = vec![(p, at)];
        let mut replies = vec![];
        while let Some((p, at)) = stack.pop() {
            match p {
                Packet::Bundle { time, content } => {
                    let tag = ntp_to_system(time).or(at);
                    let refused = match bundle_wait(time) {
                        Ok(None) => {
                            stack.extend(content.into_iter().rev().map(|p| (p, tag)));
                            continue;
                        }
                        Ok(Some(wait)) => {
                            let addr = codec::first_address(&content).map(str::to_owned);
                            self.schedule
                                .add((Instant::now() + wait, tag), peer, content, size)
                                .err()
                                .map(|e| (addr, e))
                        }
                        Err(reason) => Some((codec::first_address(&content).map(str::to_owned), reason)),
                    };
                    if let Some((addr, reason)) = refused {
                        limit_hit(
                            "osc-bundles",
                            format_args!("OSC bundle over {transport} from {peer} refused: {reason}"),
                        );
                        if let Some(addr) = addr {
                            replies.push(namespace::error(&addr, reason));
                        }
                    }
                }
                Packet::Message(m) if m.addr == "#split" => {
                    match self.reassembly.fragment(peer, &m, Instant::now()) {
                        Ok(Some(whole)) => match codec::decode_unbounded(&whole) {
                            Ok(p) => stack.push((p, at)),
                            Err(e) => replies
                                .push(namespace::error(e.addr.as_deref().unwrap_or("#split"), e.reason)),
                        },
                        Ok(None) => {}
                        Err(reason) => {
                            limit_hit(
                                "osc-split",
                                format_args!("#split over {transport} from {peer} refused: {reason}"),
                            );
                            replies.push(namespace::error("#split", reason));
                        }
                    }
                }
                Packet::Message(m) => replies.extend(self.app.osc(peer, m, self.role, at).await),
            }
        }
        replies
    }
}

/// What all sessions of one transport share: how many are open and the
/// bytes they hold, each under its limit.
pub(crate) struct Sessions {
    open: AtomicUsize,
    held: AtomicUsize,
    max_open: usize,
    max_held: usize,
}

impl Sessions {
    pub(crate) fn new(max_open: usize, max_held: usize) -> Sessions {
        Sessions { open: AtomicUsize::new(0), held: AtomicUsize::new(0), max_open, max_held }
    }

    pub(crate) fn max_open(&self) -> usize {
        self.max_open
    }

    pub(crate) fn max_held(&self) -> usize {
        self.max_held
    }
}

/// One session's place among [`Sessions`], given back when it ends.
pub(crate) struct Place {
    all: Arc<Sessions>,
    held: usize,
}

impl Place {
    /// A place, or `None` when `max_open` sessions are open.
    pub(crate) fn take(all: &Arc<Sessions>) -> Option<Place> {
        let open = all.open.fetch_add(1, Ordering::Relaxed);
        let place = Place { all: all.clone(), held: 0 };
        (open < all.max_open).then_some(place)
    }

    /// Counts what this session holds now; false when all together pass `max_held`.
    pub(crate) fn hold(&mut self, bytes: usize) -> bool {
        // One atomic step by the difference: adding the new count and then
        // taking the old one away would count this session twice for a
        // moment, and refuse another session that looked just then.
        let total = if bytes >= self.held {
            let grow = bytes - self.held;
            self.all.held.fetch_add(grow, Ordering::Relaxed) + grow
        } else {
            let shrink = self.held - bytes;
            self.all.held.fetch_sub(shrink, Ordering::Relaxed) - shrink
        };
        self.held = bytes;
        bytes == 0 || total <= self.all.max_held
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.all.held.fetch_sub(self.held, Ordering::Relaxed);
        self.all.open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_count_sessions_and_what_they_hold() {
        let (max_open, max_held) = (256, 1000);
        let all = Arc::new(Sessions::new(max_open, max_held));
        let places: Vec<Place> = (0..max_open).map(|_| Place::take(&all).expect("room")).collect();
        assert!(Place::take(&all).is_none(), "one too many");
        assert_eq!(all.open.load(Ordering::Relaxed), max_open, "a refused one gives its place back");
        drop(places);
        let (mut a, mut b) = (Place::take(&all).unwrap(), Place::take(&all).unwrap());
        assert!(a.hold(max_held / 2));
        assert!(a.hold(max_held / 2 + 10), "growing is counted once, not again");
        assert!(!b.hold(max_held / 2), "together they pass");
        assert!(a.hold(0) && b.hold(max_held / 2), "a finished frame frees its bytes");
        drop((a, b));
        assert_eq!((all.open.load(Ordering::Relaxed), all.held.load(Ordering::Relaxed)), (0, 0));
    }
}
