//! OSC over UDP: one blocking thread receives, dispatches and replies, with
//! future bundles waiting in a priority queue on the same thread, so bundles
//! run atomically and in order.
//!
//! The thread never waits on the lab: a request whose dispatch cannot finish
//! at once (a lab operation, which waits for disk writes and PC tasks) goes
//! on as a task of its own and replies when done, while the engine's
//! queries keep answering here.

use std::collections::{BinaryHeap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use super::batch::Batch;
use super::codec::{self, DecodeError, Message, Packet};
use super::split::{reassemble, split, Partial};
use super::time::{ntp_now, ntp_to_duration_from_now};
use crate::app::App;
use crate::namespace;

/// The receive buffer asked of the kernel, so that a pause of the OSC
/// thread (the machine busy with HTTP clients, say) is a delay, not a loss:
/// 8 MiB holds about 100,000 small requests.
pub const RECEIVE_BUFFER: usize = 8 * 1024 * 1024;

/// Sets the socket's receive buffer to [`RECEIVE_BUFFER`] and returns what
/// the kernel granted. Beyond `net.core.rmem_max` only a privileged process
/// gets it (`SO_RCVBUFFORCE`); others get the maximum.
pub fn raise_receive_buffer(socket: &UdpSocket) -> usize {
    use nix::sys::socket::{getsockopt, setsockopt, sockopt};
    if setsockopt(socket, sockopt::RcvBufForce, &RECEIVE_BUFFER).is_err() {
        let _ = setsockopt(socket, sockopt::RcvBuf, &RECEIVE_BUFFER);
    }
    // Linux reports twice what it was asked (the doubling covers its bookkeeping).
    getsockopt(socket, sockopt::RcvBuf).map_or(0, |n| n / 2)
}

/// Sends replies from wherever they are ready: the loop or a lab task.
struct Replier {
    socket: UdpSocket,
    /// Send replies to this port of the sender's host instead of the sender's port.
    reply_port: Option<u16>,
}

impl Replier {
    fn destination(&self, peer: SocketAddr) -> SocketAddr {
        match self.reply_port {
            Some(port) => SocketAddr::new(peer.ip(), port),
            None => peer,
        }
    }

    /// Each reply as the datagrams that carry it.
    fn datagrams(m: &Message) -> Vec<Vec<u8>> {
        split(&codec::encode_message(m))
    }
}

/// The nice value the UDP thread asks for: above the rest of the server
/// (0) and far above its bulk work (10, see `server::yield_to_real_time`).
/// Only a privileged process gets it (root, or `RLIMIT_NICE`, as audio
/// users often have); others keep 0.
const NICENESS: i32 = -10;

/// Raises the calling thread's priority to [`NICENESS`] if allowed; says which it got.
fn raise_priority() -> i32 {
    use rustix::process::{getpriority_process, setpriority_process};
    let me = Some(rustix::thread::gettid());
    let _ = setpriority_process(me, NICENESS);
    getpriority_process(me).unwrap_or(0)
}

/// Runs the UDP side until the app shuts down.
pub fn run(socket: UdpSocket, app: Arc<App>, reply_port: Option<u16>, runtime: tokio::runtime::Handle) {
    let niceness = raise_priority();
    tracing::info!(niceness, "OSC over UDP: receiving");
    let replier = match socket.try_clone() {
        Ok(clone) => Arc::new(Replier { socket: clone, reply_port }),
        Err(e) => return tracing::error!("OSC over UDP stopped: cannot share its socket: {e}"),
    };
    UdpLoop {
        socket,
        app,
        replier,
        runtime,
        partials: HashMap::new(),
        queue: BinaryHeap::new(),
        seq: 0,
        out: vec![],
    }
    .run()
}

struct UdpLoop {
    socket: UdpSocket,
    app: Arc<App>,
    replier: Arc<Replier>,
    runtime: tokio::runtime::Handle,
    partials: HashMap<SocketAddr, Partial>,
    queue: BinaryHeap<Due>,
    seq: u64,
    /// Replies to send at the end of this batch.
    out: Vec<(Vec<u8>, SocketAddr)>,
}

impl UdpLoop {
    fn run(mut self) {
        // The namespace's futures may spawn tokio tasks: they need the runtime's context.
        let runtime = self.runtime.clone();
        let _context = runtime.enter();
        let stop = self.app.shutdown.clone();
        let mut batch = Batch::default();
        let mut timeout = Duration::ZERO;
        // Wait for one datagram; after any, drain without waiting until none is left.
        let mut wait_for_one = true;
        while !stop.is_cancelled() {
            let wait = self.queue.peek().map_or(Duration::from_millis(100), |d| {
                d.at.saturating_duration_since(Instant::now())
                    .clamp(Duration::from_micros(50), Duration::from_millis(100))
            });
            // A system call: only when the timeout changes (not once per packet).
            if wait != timeout {
                let _ = self.socket.set_read_timeout(Some(wait));
                timeout = wait;
            }
            let received = if wait_for_one {
                batch.wait_for_one(&self.socket)
            } else {
                batch.take_waiting(&self.socket)
            };
            match received {
                Ok(n) => {
                    for i in 0..n {
                        let (bytes, peer) = batch.datagram(i);
                        self.packet(bytes, peer);
                    }
                    wait_for_one = n == 0;
                }
                Err(e)
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    wait_for_one = true
                }
                Err(e) => {
                    tracing::debug!("OSC receive: {e}");
                    wait_for_one = true;
                }
            }
            while self.queue.peek().is_some_and(|d| d.at <= Instant::now()) {
                let due = self.queue.pop().expect("peeked");
                for p in due.content {
                    self.run_packet(p, due.peer);
                }
            }
            // All the replies to this batch in one system call.
            for (bytes, to) in self.out.drain(..) {
                batch.queue(bytes, to);
            }
            batch.flush(&self.socket);
        }
    }

    fn packet(&mut self, bytes: &[u8], peer: SocketAddr) {
        match codec::decode(bytes) {
            Ok(p) => self.run_packet(p, peer),
            Err(DecodeError { addr: Some(addr), reason }) => {
                self.send(&namespace::error(&addr, reason), peer)
            }
            Err(e) => tracing::warn!(%peer, "refused an OSC packet: {e}"),
        }
    }

    fn run_packet(&mut self, packet: Packet, peer: SocketAddr) {
        match packet {
            Packet::Bundle { time, content } if time > ntp_now() => {
                let at = Instant::now() + ntp_to_duration_from_now(time);
                self.seq += 1;
                self.queue.push(Due { at, seq: self.seq, peer, content });
            }
            // Immediately (1) or already past: now, in order.
            Packet::Bundle { content, .. } => content.into_iter().for_each(|p| self.run_packet(p, peer)),
            Packet::Message(m) if m.addr == "#split" => match reassemble(&mut self.partials, peer, &m) {
                Ok(Some(whole)) => match codec::decode_unbounded(&whole) {
                    Ok(p) => self.run_packet(p, peer),
                    Err(e) => {
                        self.send(&namespace::error(e.addr.as_deref().unwrap_or("#split"), e.reason), peer)
                    }
                },
                Ok(None) => {}
                Err(e) => self.send(&namespace::error("#split", e), peer),
            },
            Packet::Message(m) => self.message(m, peer),
        }
    }

    /// Dispatches one message. What finishes at once (the engine and the
    /// builtins) replies in this batch; what waits (the lab) becomes a task
    /// that replies when it is done.
    fn message(&mut self, m: Message, peer: SocketAddr) {
        let addr = m.addr.clone();
        let app = self.app.clone();
        // A bug must not take OSC down for everyone: report it and go on.
        let mut dispatch =
            Box::pin(std::panic::AssertUnwindSafe(async move { app.osc(peer, m).await }).catch_unwind());
        match (&mut dispatch).now_or_never() {
            Some(Ok(replies)) => replies.iter().for_each(|r| self.send(r, peer)),
            Some(Err(_)) => self.internal_error(&addr, peer),
            None => {
                let replier = self.replier.clone();
                self.runtime.spawn(async move {
                    let replies = dispatch.await.unwrap_or_else(|_| {
                        tracing::error!(%addr, "OSC handler panicked");
                        vec![namespace::error(&addr, "Internal error")]
                    });
                    let to = replier.destination(peer);
                    for datagram in replies.iter().flat_map(Replier::datagrams) {
                        if let Err(e) = replier.socket.send_to(&datagram, to) {
                            tracing::debug!(%to, "OSC reply not sent: {e}");
                        }
                    }
                });
            }
        }
    }

    fn internal_error(&mut self, addr: &str, peer: SocketAddr) {
        tracing::error!(%addr, "OSC handler panicked");
        self.send(&namespace::error(addr, "Internal error"), peer);
    }

    /// Queues a reply; the loop sends each batch's replies together.
    fn send(&mut self, m: &Message, peer: SocketAddr) {
        let to = self.replier.destination(peer);
        for datagram in Replier::datagrams(m) {
            self.out.push((datagram, to));
        }
    }
}

/// A bundle waiting for its time.
struct Due {
    at: Instant,
    seq: u64,
    peer: SocketAddr,
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
