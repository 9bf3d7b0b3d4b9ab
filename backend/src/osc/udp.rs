//! OSC over UDP: the engine's owner thread receives, dispatches and replies
//! (a [`Guest`] of it, so engine requests need no thread hop), with future
//! bundles waiting in a priority queue on the same thread, so bundles run
//! atomically and in order.
//!
//! The thread never waits on the lab: a request whose dispatch cannot finish
//! at once (a lab operation, which waits for disk writes and PC tasks) goes
//! on as a task of its own and replies when done, while the engine's
//! queries keep answering here. The sender's later messages wait in a
//! bounded lane behind it, so that each peer's requests still run in the
//! order it sent them.

use std::collections::HashMap;
use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::FutureExt;
use tokio::sync::mpsc::{self, error::TrySendError};

use super::batch::Batch;
use super::codec::{self, DecodeError, Message, Packet};
use super::schedule::Schedule;
use super::split::{split, Reassembly};
use super::time::{bundle_wait, ntp_to_system};
use crate::access::Role;
use crate::app::App;
use crate::engine_host::Guest;
use crate::namespace;

/// The receive buffer asked of the kernel, so that a pause of the OSC
/// thread (the machine busy with HTTP clients, say) is a delay, not a loss:
/// 8 MiB holds about 100,000 small requests.
pub(crate) const RECEIVE_BUFFER: usize = 8 * 1024 * 1024;

/// Sets the socket's receive buffer to [`RECEIVE_BUFFER`] and returns what
/// the kernel granted. Beyond `net.core.rmem_max` only a privileged process
/// gets it (`SO_RCVBUFFORCE`); others get the maximum.
pub(crate) fn raise_receive_buffer(socket: &UdpSocket) -> usize {
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
        split(codec::encode_message(m))
    }

    /// Sends what a task's dispatch gave, or says it failed.
    fn reply(&self, peer: SocketAddr, addr: &str, outcome: Outcome) {
        let replies = outcome.unwrap_or_else(|_| {
            tracing::error!(%addr, "OSC handler panicked");
            vec![namespace::error(addr, "Internal error")]
        });
        let to = self.destination(peer);
        for datagram in replies.iter().flat_map(Replier::datagrams) {
            if let Err(e) = self.socket.send_to(&datagram, to) {
                tracing::debug!(%to, "OSC reply not sent: {e}");
            }
        }
    }
}

/// Messages one peer may have waiting behind its unfinished request.
pub(crate) const LANE_MESSAGES: usize = 64;
/// Peers that may have unfinished requests at once.
pub(crate) const MAX_LANES: usize = 1024;
/// Bytes of messages waiting in all lanes together.
pub(crate) const MAX_WAITING_BYTES: usize = 16 * 1024 * 1024;

/// What one dispatch gives: the replies, or the panic it caught.
type Outcome = std::thread::Result<Vec<Message>>;
type Dispatch = Pin<Box<dyn Future<Output = Outcome> + Send>>;

fn dispatch(app: Arc<App>, peer: SocketAddr, m: Message, at: Option<SystemTime>) -> Dispatch {
    // A bug must not take OSC down for everyone: it is caught and reported.
    Box::pin(
        std::panic::AssertUnwindSafe(async move { app.osc(peer, m, Role::Admin, at).await }).catch_unwind(),
    )
}

/// A peer's unfinished request, run by `task`, and its messages that wait behind it.
struct Lane {
    waiting: mpsc::Sender<(Message, usize, Option<SystemTime>)>,
    task: tokio::task::JoinHandle<()>,
}

/// Runs a lane: after the lane it replaced (if it was still finishing),
/// the first request, then every message queued behind it, in order.
async fn serve(
    previous: Option<tokio::task::JoinHandle<()>>,
    (first, addr): (Dispatch, String),
    mut waiting: mpsc::Receiver<(Message, usize, Option<SystemTime>)>,
    context: (Arc<App>, Arc<Replier>, Arc<AtomicUsize>),
    peer: SocketAddr,
) {
    let (app, replier, waiting_bytes) = context;
    if let Some(previous) = previous {
        let _ = previous.await;
    }
    replier.reply(peer, &addr, first.await);
    loop {
        let next = match waiting.try_recv() {
            Ok(next) => next,
            // Closed first, so that nothing can be queued after the last look.
            Err(_) => {
                waiting.close();
                match waiting.try_recv() {
                    Ok(next) => next,
                    Err(_) => return,
                }
            }
        };
        let (m, size, at) = next;
        waiting_bytes.fetch_sub(size, Ordering::Relaxed);
        let addr = m.addr.clone();
        let outcome = dispatch(app.clone(), peer, m, at).await;
        replier.reply(peer, &addr, outcome);
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

/// Serves OSC over UDP on the engine's owner thread until the app shuts
/// down: engine requests reach the engine there without a thread hop.
pub(crate) fn serve_on_engine(
    socket: UdpSocket,
    app: Arc<App>,
    reply_port: Option<u16>,
    runtime: tokio::runtime::Handle,
) {
    let replier = match socket.try_clone() {
        Ok(clone) => Arc::new(Replier { socket: clone, reply_port }),
        Err(e) => return tracing::error!("OSC over UDP stopped: cannot share its socket: {e}"),
    };
    let engine_app = app.clone();
    engine_app.model.engine.attach(move || {
        let niceness = raise_priority();
        tracing::info!(niceness, "OSC over UDP: receiving on the engine's thread");
        Box::new(UdpLoop {
            socket,
            app,
            replier,
            runtime,
            reassembly: Reassembly::default(),
            schedule: Schedule::default(),
            out: vec![],
            lanes: HashMap::new(),
            waiting_bytes: Arc::default(),
            batch: Some(Batch::default()),
            swept: Instant::now(),
        })
    });
}

struct UdpLoop {
    socket: UdpSocket,
    app: Arc<App>,
    replier: Arc<Replier>,
    runtime: tokio::runtime::Handle,
    reassembly: Reassembly,
    schedule: Schedule,
    /// Replies to send at the end of this batch.
    out: Vec<(Vec<u8>, SocketAddr)>,
    /// Peers with a request still running, and what waits behind it.
    lanes: HashMap<SocketAddr, Lane>,
    waiting_bytes: Arc<AtomicUsize>,
    /// The receive and send buffers (taken out while a batch is served).
    batch: Option<Batch>,
    /// When unfinished `#split` messages were last looked at for expiry.
    swept: Instant,
}

impl Guest for UdpLoop {
    fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// The next bundle's time, the next `#split` sweep, and a look at the
    /// shutdown flag at least every 100 ms.
    fn deadline(&self) -> Option<Instant> {
        let sweep = self.swept + SWEEP;
        let stop_check = Instant::now() + Duration::from_millis(100);
        Some(self.schedule.next_at().map_or(sweep, |at| at.min(sweep)).min(stop_check))
    }

    fn turn(&mut self, readable: bool) -> bool {
        if self.app.shutdown.is_cancelled() {
            return false;
        }
        // The namespace's futures may spawn tokio tasks: they need the runtime's context.
        let runtime = self.runtime.clone();
        let _context = runtime.enter();
        // A few batches a turn, so that other views' commands and the
        // engine's control step are not kept waiting by a flood.
        let Some(mut batch) = self.batch.take() else { return true };
        for _ in 0..if readable { BATCHES_PER_TURN } else { 0 } {
            match batch.take_waiting(&self.socket) {
                Ok(0) => break,
                Ok(n) => {
                    for i in 0..n {
                        let (bytes, peer) = batch.datagram(i);
                        self.packet(bytes, peer);
                    }
                    self.flush(&mut batch);
                }
                Err(e) => {
                    tracing::debug!("OSC receive: {e}");
                    break;
                }
            }
        }
        while let Some(due) = self.schedule.pop_due(Instant::now()) {
            for p in due.content {
                self.run_packet(p, due.peer, due.size, due.tag);
            }
        }
        // Unfinished `#split` messages expire by the clock, fragments or not.
        if self.swept.elapsed() >= SWEEP {
            self.swept = Instant::now();
            self.reassembly.expire(self.swept);
        }
        self.flush(&mut batch);
        self.batch = Some(batch);
        true
    }
}

impl UdpLoop {
    /// All the replies ready so far in one system call.
    fn flush(&mut self, batch: &mut Batch) {
        for (bytes, to) in self.out.drain(..) {
            batch.queue(bytes, to);
        }
        batch.flush(&self.socket);
    }

    fn packet(&mut self, bytes: &[u8], peer: SocketAddr) {
        if !self.app.model.powers.osc_sources.admit(peer.ip()) {
            return super::refused_source("UDP", peer);
        }
        match codec::decode(bytes) {
            Ok(p) => self.run_packet(p, peer, bytes.len(), None),
            Err(DecodeError { addr: Some(addr), reason }) => {
                self.send(&namespace::error(&addr, reason), peer)
            }
            Err(e) => super::refused_packet("UDP", peer, &e),
        }
    }

    /// Runs a packet that arrived in `size` bytes (what a bundle inside it
    /// that must wait is counted as), inside a bundle timed `at` if it was.
    fn run_packet(&mut self, packet: Packet, peer: SocketAddr, size: usize, at: Option<SystemTime>) {
        match packet {
            Packet::Bundle { time, content } => {
                let tag = ntp_to_system(time).or(at);
                let refused = match bundle_wait(time) {
                    // Immediately (1) or already past: now, in order.
                    Ok(None) => return content.into_iter().for_each(|p| self.run_packet(p, peer, size, tag)),
                    Ok(Some(wait)) => {
                        let addr = codec::first_address(&content).map(str::to_owned);
                        let when = (Instant::now() + wait, tag);
                        self.schedule.add(when, peer, content, size).err().map(|e| (addr, e))
                    }
                    Err(reason) => Some((codec::first_address(&content).map(str::to_owned), reason)),
                };
                if let Some((Some(addr), reason)) = refused {
                    self.refuse("osc-bundles", &addr, reason, peer);
                }
            }
            Packet::Message(m) if m.addr == "#split" => {
                match self.reassembly.fragment(peer, &m, Instant::now()) {
                    Ok(Some(whole)) => match codec::decode_unbounded(&whole) {
                        Ok(p) => self.run_packet(p, peer, whole.len(), at),
                        Err(e) => self
                            .send(&namespace::error(e.addr.as_deref().unwrap_or("#split"), e.reason), peer),
                    },
                    Ok(None) => {}
                    Err(reason) => self.refuse("osc-split", "#split", reason, peer),
                }
            }
            Packet::Message(m) => self.message(m, peer, at),
        }
    }

    /// Dispatches one message. What finishes at once (the engine and the
    /// builtins) replies in this batch; what waits (the lab, files) becomes
    /// a task that replies when it is done, and the peer's next messages
    /// queue behind it.
    fn message(&mut self, m: Message, peer: SocketAddr, at: Option<SystemTime>) {
        let mut previous = None;
        let m = match self.lanes.remove(&peer) {
            None => m,
            Some(lane) => {
                let size = codec::encode_message(&m).len();
                if self.waiting_bytes.load(Ordering::Relaxed) + size > MAX_WAITING_BYTES {
                    self.lanes.insert(peer, lane);
                    let reason =
                        format!("The server holds {MAX_WAITING_BYTES} bytes of waiting requests: retry");
                    return self.refuse("osc-udp-lanes", &m.addr, reason, peer);
                }
                match lane.waiting.try_send((m, size, at)) {
                    Ok(()) => {
                        self.waiting_bytes.fetch_add(size, Ordering::Relaxed);
                        self.lanes.insert(peer, lane);
                        return;
                    }
                    Err(TrySendError::Full((m, ..))) => {
                        self.lanes.insert(peer, lane);
                        let reason = format!(
                            "{LANE_MESSAGES} of your requests already wait behind an unfinished one: wait for its reply"
                        );
                        return self.refuse("osc-udp-lanes", &m.addr, reason, peer);
                    }
                    // The lane is finishing: a new one starts once it has.
                    Err(TrySendError::Closed((m, ..))) => {
                        previous = Some(lane.task);
                        m
                    }
                }
            }
        };
        if previous.is_none() && self.lanes.len() >= MAX_LANES {
            self.lanes.retain(|_, lane| !lane.task.is_finished());
            if self.lanes.len() >= MAX_LANES && namespace::may_wait(&m.addr) {
                let reason = format!("{MAX_LANES} clients have requests running: retry");
                return self.refuse("osc-udp-lanes", &m.addr, reason, peer);
            }
        }
        if previous.is_none() {
            // The commonest requests, answered without building a future
            // (measured: the boxed future and its polling were a tenth of
            // this thread's user time at 64 requests in flight).
            let app = &self.app;
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                app.osc_at_once(peer, &m, Role::Admin, at)
            })) {
                Ok(Some(reply)) => return self.send(&reply, peer),
                Ok(None) => {}
                Err(_) => return self.internal_error(&m.addr, peer),
            }
        }
        let addr = m.addr.clone();
        let mut job = dispatch(self.app.clone(), peer, m, at);
        if previous.is_none() {
            match (&mut job).now_or_never() {
                Some(Ok(replies)) => return replies.iter().for_each(|r| self.send(r, peer)),
                Some(Err(_)) => return self.internal_error(&addr, peer),
                None => {}
            }
        }
        let (waiting, rx) = mpsc::channel(LANE_MESSAGES);
        let context = (self.app.clone(), self.replier.clone(), self.waiting_bytes.clone());
        let task = self.runtime.spawn(serve(previous, (job, addr), rx, context, peer));
        self.lanes.insert(peer, Lane { waiting, task });
    }

    /// An error reply for a request the server did not take, and one log line.
    fn refuse(&mut self, limit: &'static str, addr: &str, reason: String, peer: SocketAddr) {
        crate::limit_log::limit_hit(
            limit,
            format_args!("OSC request from {peer} to {addr} refused: {reason}"),
        );
        self.send(&namespace::error(addr, reason), peer);
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

/// How often unfinished `#split` messages are looked at for expiry.
const SWEEP: Duration = Duration::from_millis(500);
/// Receive batches a turn of the engine's thread, at most.
const BATCHES_PER_TURN: usize = 4;
