//! One end of a UDP tunnel, as PCs and switch ports hold them: a socket on
//! the lab's thread (see [`super::network_thread`]), bound to `lport` and
//! connected to `rhost:rport` as GNS3's ubridge connects its own, with two
//! additions.
//!
//! - Delivery by the sender. A datagram sent over loopback is already in the
//!   receiving socket when `send` returns. When that socket is another
//!   endpoint of this server, the sender runs the receiver's handler at once,
//!   on its own stack ([`Endpoint::deliver_with`]): no scheduler lap and no
//!   `epoll_wait` per hop. A receiver that is busy (it is the one sending,
//!   say, or has no handler) has its task woken instead. Either way the
//!   frame travels through the kernel, where a capture on `lo` sees it.
//! - Arrival times. The kernel stamps each datagram as it takes it in
//!   (`SO_TIMESTAMPNS`), so a ping's round trip ends when the reply arrived,
//!   as iputils' ping measures it, not when this thread got round to it.
//!   Only a PC timing its probes reads the stamp, which costs a little.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::sys::socket::{
    recv, recvmsg, send, sendto, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage,
};
use nix::sys::time::TimeSpec;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::Notify;

/// Takes the datagram just sent to an endpoint, on the sender's stack.
/// False when it cannot now (its owner is busy): the owner's task is woken.
pub(crate) type Deliver = Box<dyn Fn() -> bool + Send + Sync>;

/// How deep deliveries may nest (a PC's reply to a PC behind a switch is
/// three); deeper, the receiver's task is woken instead.
const MAX_DEPTH: u32 = 8;

/// The receiving side of an endpoint, as senders find it.
#[derive(Default)]
struct Inbox {
    handed: Notify,
    deliver: OnceLock<Deliver>,
}

thread_local! {
    /// This thread's endpoints by their bound address, so that a sender can
    /// find the receiver. Weak: an endpoint's entry dies with it. Per thread,
    /// because a handler runs on the sender's thread and every endpoint
    /// lives on the lab's.
    static ENDPOINTS: RefCell<HashMap<SocketAddr, Weak<Inbox>>> = RefCell::new(HashMap::new());
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// Receive buffers, one per nesting level in use, rather than 64 KB per
    /// idle PC or port.
    static BUFFERS: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a 64 KB receive buffer of this thread's.
pub(crate) fn with_buffer<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    let mut buffer = BUFFERS.with_borrow_mut(Vec::pop).unwrap_or_else(|| vec![0; 65536].into_boxed_slice());
    let result = f(&mut buffer);
    BUFFERS.with_borrow_mut(|all| all.push(buffer));
    result
}

/// Why a task woke for its endpoint, which decides how to read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The reactor saw the socket readable.
    Reactor,
    /// Another endpoint of this server has just sent to it.
    HandOver,
}

pub(crate) struct Endpoint {
    socket: UdpSocket,
    addr: SocketAddr,
    /// Where frames go: `rhost:rport`, or nowhere when it does not resolve.
    peer: Option<SocketAddr>,
    /// Connected to the peer, as GNS3's ubridge and dynamips connect theirs.
    connected: bool,
    inbox: Arc<Inbox>,
}

impl Endpoint {
    /// Binds `host:lport` and connects it to the peer: the kernel then
    /// drops datagrams from anyone else, and each send skips the route
    /// lookup. Call it on the lab's thread: the socket belongs to the
    /// reactor of the runtime it is made on, and senders find it in the
    /// thread's registry.
    pub(crate) async fn bind(host: IpAddr, lport: u16, peer: Option<SocketAddr>) -> io::Result<Endpoint> {
        let socket = UdpSocket::bind((host, lport)).await?;
        setsockopt(&socket, sockopt::ReceiveTimestampns, &true)?;
        let addr = socket.local_addr()?;
        let connected = match peer {
            Some(peer) => socket
                .connect(peer)
                .await
                .map_err(|e| tracing::warn!("tunnel {addr} sends to {peer} unconnected: {e}"))
                .is_ok(),
            None => false,
        };
        let inbox = Arc::new(Inbox::default());
        let _ = ENDPOINTS.try_with(|all| all.borrow_mut().insert(addr, Arc::downgrade(&inbox)));
        Ok(Endpoint { socket, addr, peer, connected, inbox })
    }

    /// Lets senders of this thread deliver to this endpoint themselves; the
    /// first handler set stays. `deliver` must not block: it runs inside
    /// someone else's send.
    pub(crate) fn deliver_with(&self, deliver: Deliver) {
        let _ = self.inbox.deliver.set(deliver);
    }

    /// Waits until a datagram may be waiting.
    pub(crate) async fn wake(&self) -> Wake {
        tokio::select! {
            biased;
            () = self.inbox.handed.notified() => Wake::HandOver,
            _ = self.socket.readable() => Wake::Reactor,
        }
    }

    /// Takes one waiting datagram into `buffer`: its length and when it
    /// was taken. `WouldBlock` when none is waiting.
    pub(crate) fn receive(&self, buffer: &mut [u8], wake: Wake) -> io::Result<(usize, Instant)> {
        self.take(buffer, wake, false)
    }

    /// As [`Endpoint::receive`], but with the kernel's arrival time, for a
    /// PC timing its probes. The stamp is dearer to read (measured: 6.8
    /// against 4.5 µs for the first receive after 10 ms idle), so a PC
    /// that only answers does without.
    pub(crate) fn receive_stamped(&self, buffer: &mut [u8], wake: Wake) -> io::Result<(usize, Instant)> {
        self.take(buffer, wake, true)
    }

    fn take(&self, buffer: &mut [u8], wake: Wake, stamped: bool) -> io::Result<(usize, Instant)> {
        let fd = self.socket.as_raw_fd();
        let mut receive = || match stamped {
            true => recv_stamped(fd, buffer),
            false => refused_once(|| recv(fd, buffer, MsgFlags::MSG_DONTWAIT))
                .map(|len| (len, Instant::now()))
                .map_err(io::Error::from),
        };
        match wake {
            // The reactor may not know yet: ask the socket itself.
            Wake::HandOver => receive(),
            // Through the reactor, so that an empty socket clears its readiness.
            Wake::Reactor => self.socket.try_io(Interest::READABLE, receive),
        }
    }

    /// Sends a frame to the peer, and delivers it when the peer is ours.
    /// A UDP send does not wait: when the socket's buffer is full the frame
    /// is dropped, as a busy link would. Straight to the socket, as nothing
    /// ever waits for it to be writable (tokio's `try_send_to` refuses until
    /// the reactor has seen the socket once).
    pub(crate) fn send(&self, frame: &[u8]) {
        let Some(peer) = self.peer else { return };
        let fd = self.socket.as_raw_fd();
        let send = || match self.connected {
            true => send(fd, frame, MsgFlags::MSG_DONTWAIT),
            false => sendto(fd, frame, &SockaddrStorage::from(peer), MsgFlags::MSG_DONTWAIT),
        };
        if refused_once(send).is_err() {
            return;
        }
        let Some(receiver) = ENDPOINTS.with_borrow(|all| all.get(&peer).and_then(Weak::upgrade)) else {
            return;
        };
        if !nested(|| receiver.deliver.get().is_some_and(|deliver| deliver())) {
            receiver.handed.notify_one();
        }
    }
}

/// Runs a delivery one level deeper, or returns false when too deep.
fn nested(deliver: impl FnOnce() -> bool) -> bool {
    let depth = DEPTH.get();
    if depth >= MAX_DEPTH {
        return false;
    }
    DEPTH.set(depth + 1);
    let delivered = deliver();
    DEPTH.set(depth);
    delivered
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = ENDPOINTS.try_with(|all| {
            let mut all = all.borrow_mut();
            // A newer endpoint may hold the address by now.
            if all.get(&self.addr).is_some_and(|w| w.ptr_eq(&Arc::downgrade(&self.inbox))) {
                all.remove(&self.addr);
            }
        });
    }
}

/// Runs a socket call again if it failed only to report an earlier send's
/// refusal: a connected socket reports a peer that was not listening (an
/// ICMP error) once, on its next call, and that is no reason to lose this one.
fn refused_once<T>(mut call: impl FnMut() -> nix::Result<T>) -> nix::Result<T> {
    match call() {
        Err(Errno::ECONNREFUSED) => call(),
        done => done,
    }
}

/// `recvmsg` with the kernel's arrival stamp, turned into an `Instant`.
fn recv_stamped(fd: i32, buffer: &mut [u8]) -> io::Result<(usize, Instant)> {
    let (len, stamp) = refused_once(|| recvmsg_once(fd, buffer))?;
    let (now, wall) = clock_pair();
    let age = stamp.and_then(|s| wall.duration_since(s).ok()).unwrap_or_default();
    Ok((len, now.checked_sub(age).unwrap_or(now)))
}

/// How far a converted stamp may be off: half the widest clock reading
/// `clock_pair` accepts.
pub(crate) const STAMP_SLACK: Duration = Duration::from_micros(2);

/// The monotonic clock and the wall clock read at one moment, as the
/// kernel stamps arrivals by the wall clock. The monotonic clock is read
/// on both sides of the wall clock and the midpoint taken; a reading the
/// thread was preempted in (this VM showed gaps of 5 ms) is read again,
/// since its error would move the stamp by as much (a CI run saw a stamp
/// earlier than its send).
fn clock_pair() -> (Instant, SystemTime) {
    let mut best = None;
    for _ in 0..8 {
        let before = Instant::now();
        let wall = SystemTime::now();
        let gap = before.elapsed();
        let now = before + gap / 2;
        if gap <= 2 * STAMP_SLACK {
            return (now, wall);
        }
        if best.is_none_or(|(_, _, widest)| gap < widest) {
            best = Some((now, wall, gap));
        }
    }
    best.map(|(now, wall, _)| (now, wall)).expect("eight readings")
}

fn recvmsg_once(fd: i32, buffer: &mut [u8]) -> nix::Result<(usize, Option<SystemTime>)> {
    let mut control = nix::cmsg_space!(TimeSpec);
    let mut iov = [io::IoSliceMut::new(buffer)];
    let msg = recvmsg::<SockaddrStorage>(fd, &mut iov, Some(&mut control), MsgFlags::MSG_DONTWAIT)?;
    let stamp = msg.cmsgs().into_iter().flatten().find_map(|c| match c {
        ControlMessageOwned::ScmTimestampns(ts) => Some(UNIX_EPOCH + Duration::from(ts)),
        _ => None,
    });
    Ok((msg.bytes, stamp))
}

/// Where a NIO's frames go: `rhost:rport`, its first IPv4 address.
pub(crate) async fn resolve(rhost: &str, rport: u16) -> io::Result<SocketAddr> {
    tokio::net::lookup_host((rhost, rport))
        .await?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| io::Error::other(format!("{rhost} has no IPv4 address")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use std::net::Ipv4Addr;

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// Two endpoints tunnelled to each other on free ports.
    async fn pair() -> (Endpoint, Endpoint) {
        let port = Endpoint::bind(LOOPBACK, 0, None).await.unwrap().addr.port();
        let b_addr = SocketAddr::new(LOOPBACK, port);
        let a = Endpoint::bind(LOOPBACK, 0, Some(b_addr)).await.unwrap();
        let b = Endpoint::bind(LOOPBACK, port, Some(a.addr)).await.unwrap();
        (a, b)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_frame_to_an_endpoint_of_ours_is_handed_over() {
        let (a, b) = pair().await;
        assert!(b.wake().now_or_never().is_none(), "nothing sent yet");
        let before = Instant::now();
        a.send(b"frame");
        let sent = Instant::now();
        // No turn of the reactor in between: the receiver is woken directly,
        // and the datagram is already in its socket.
        assert_eq!(b.wake().now_or_never(), Some(Wake::HandOver));
        // Read late, so that a stamp of the reading would show.
        std::thread::sleep(Duration::from_millis(20));
        let mut buffer = [0u8; 64];
        let (len, arrived) = b.receive_stamped(&mut buffer, Wake::HandOver).unwrap();
        assert_eq!(&buffer[..len], b"frame");
        assert!(before <= arrived + STAMP_SLACK, "{:?} before the send", before - arrived);
        assert!(arrived <= sent + STAMP_SLACK, "{:?} after the send", arrived - sent);
        let empty = b.receive(&mut buffer, Wake::HandOver).unwrap_err();
        assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_frame_from_elsewhere_comes_through_the_reactor() {
        let b = Endpoint::bind(LOOPBACK, 0, None).await.unwrap();
        let outside = std::net::UdpSocket::bind((LOOPBACK, 0)).unwrap();
        outside.send_to(b"frame", b.addr).unwrap();
        let wake = tokio::time::timeout(Duration::from_secs(5), b.wake()).await.unwrap();
        assert_eq!(wake, Wake::Reactor);
        let mut buffer = [0u8; 64];
        assert_eq!(b.receive(&mut buffer, wake).unwrap().0, 5);
        assert_eq!(b.receive(&mut buffer, wake).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_closed_endpoint_leaves_the_registry() {
        let (a, b) = pair().await;
        let addr = b.addr;
        drop(b);
        assert!(!registered(addr));
        a.send(b"to nobody"); // neither fails nor wakes anyone
                              // A new endpoint on the same port is not unregistered by the old one's drop.
        let (c, d) = (Endpoint::bind(LOOPBACK, addr.port(), None).await.unwrap(), a);
        drop(d);
        assert!(registered(c.addr));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_tunnel_hears_only_its_peer() {
        let (a, b) = pair().await;
        let stranger = std::net::UdpSocket::bind((LOOPBACK, 0)).unwrap();
        stranger.send_to(b"not for you", b.addr).unwrap();
        a.send(b"frame");
        let mut buffer = [0u8; 64];
        let (len, _) = b.receive(&mut buffer, Wake::HandOver).unwrap();
        assert_eq!(&buffer[..len], b"frame", "the stranger's datagram was dropped");
        assert_eq!(b.receive(&mut buffer, Wake::HandOver).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_peer_that_was_not_listening_yet_loses_no_later_frame() {
        let (a, b) = pair().await;
        let port = b.addr.port();
        drop(b);
        a.send(b"lost"); // refused: the kernel keeps the error for a's next call
        tokio::time::sleep(Duration::from_millis(20)).await;
        let b = Endpoint::bind(LOOPBACK, port, Some(a.addr)).await.unwrap();
        a.send(b"frame");
        let mut buffer = [0u8; 64];
        let (len, _) = b.receive(&mut buffer, Wake::HandOver).unwrap();
        assert_eq!(&buffer[..len], b"frame");
        // And the same on receiving, stamped or not: b's refused send must
        // not hide a's frame.
        let a_addr = a.addr;
        drop(a);
        for stamped in [true, false] {
            b.send(b"lost");
            tokio::time::sleep(Duration::from_millis(20)).await;
            let a = std::net::UdpSocket::bind(a_addr).unwrap();
            a.send_to(b"frame", b.addr).unwrap();
            drop(a);
            let received = match stamped {
                true => b.receive_stamped(&mut buffer, Wake::HandOver),
                false => b.receive(&mut buffer, Wake::HandOver),
            };
            assert_eq!(&buffer[..received.unwrap().0], b"frame", "stamped: {stamped}");
        }
    }

    fn registered(addr: SocketAddr) -> bool {
        ENDPOINTS.with_borrow(|all| all.get(&addr).is_some_and(|w| w.upgrade().is_some()))
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_receiver_with_a_handler_takes_the_frame_inside_the_send() {
        let (a, b) = pair().await;
        let b = Arc::new(b);
        let taken = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (receiver, log) = (Arc::downgrade(&b), taken.clone());
        b.deliver_with(Box::new(move || {
            let Some(b) = receiver.upgrade() else { return false };
            with_buffer(|buffer| {
                let (len, _) = b.receive(buffer, Wake::HandOver).unwrap();
                log.lock().unwrap().push(buffer[..len].to_vec());
            });
            true
        }));
        a.send(b"frame");
        assert_eq!(*taken.lock().unwrap(), [b"frame".to_vec()], "taken before send returned");
        assert!(b.wake().now_or_never().is_none(), "its task is not woken for it");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_busy_receiver_has_its_task_woken_instead() {
        let (a, b) = pair().await;
        b.deliver_with(Box::new(|| false));
        a.send(b"frame");
        assert_eq!(b.wake().now_or_never(), Some(Wake::HandOver));
        let mut buffer = [0u8; 64];
        assert_eq!(b.receive(&mut buffer, Wake::HandOver).unwrap().0, 5, "the frame still waits");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn deliveries_that_send_on_stop_nesting_at_the_depth_limit() {
        // Two endpoints that answer every frame: each delivery sends again,
        // so without a limit this would recurse until the stack overflowed.
        let (a, b) = pair().await;
        let (a, b) = (Arc::new(a), Arc::new(b));
        let depths = Arc::new(std::sync::Mutex::new(Vec::new()));
        for (me, other) in [(&a, &b), (&b, &a)] {
            let (me_weak, other, depths) = (Arc::downgrade(me), Arc::downgrade(other), depths.clone());
            me.deliver_with(Box::new(move || {
                let (Some(me), Some(other)) = (me_weak.upgrade(), other.upgrade()) else { return false };
                with_buffer(|buffer| me.receive(buffer, Wake::HandOver).unwrap());
                depths.lock().unwrap().push(DEPTH.get());
                other.send(b"again");
                true
            }));
        }
        a.send(b"start");
        assert_eq!(*depths.lock().unwrap(), (1..=MAX_DEPTH).collect::<Vec<_>>());
        assert_eq!(DEPTH.get(), 0);
        let woken: Vec<_> = [&a, &b].iter().filter_map(|e| e.wake().now_or_never()).collect();
        assert_eq!(woken, [Wake::HandOver], "the last frame waits for its task");
    }
}
