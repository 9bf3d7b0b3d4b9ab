//! One end of a UDP tunnel, as PCs and switch ports hold them: a socket on
//! the lab's thread (see [`super::network_thread`]) with two additions.
//!
//! - Hand-over. A datagram sent over loopback is already in the receiving
//!   socket when `sendto` returns. When that socket is another endpoint of
//!   this server, the sender wakes its task at once, rather than leaving it
//!   to the reactor's next turn (one more `epoll_wait` and a lap of the
//!   scheduler per hop). The frame still travels through the kernel.
//! - Arrival times. The kernel stamps each datagram as it takes it in
//!   (`SO_TIMESTAMPNS`), so a ping's round trip ends when the reply arrived,
//!   as iputils' ping measures it, not when this thread got round to it.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::socket::{
    recvmsg, sendto, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage,
};
use nix::sys::time::TimeSpec;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::Notify;

/// Every endpoint of this server by its bound address, so that a sender can
/// find the task to wake. Weak: an endpoint's entry dies with it.
static ENDPOINTS: Mutex<Option<HashMap<SocketAddr, Weak<Notify>>>> = Mutex::new(None);

fn endpoints<R>(f: impl FnOnce(&mut HashMap<SocketAddr, Weak<Notify>>) -> R) -> R {
    f(ENDPOINTS.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(HashMap::new))
}

/// Why a task woke for its endpoint, which decides how to read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The reactor saw the socket readable.
    Reactor,
    /// Another endpoint of this server has just sent to it.
    HandOver,
}

pub struct Endpoint {
    socket: UdpSocket,
    addr: SocketAddr,
    /// Where frames go: `rhost:rport`, or nowhere when it does not resolve.
    peer: Option<SocketAddr>,
    handed: Arc<Notify>,
}

impl Endpoint {
    /// Binds `host:lport`. Call it on the lab's thread: the socket belongs
    /// to the reactor of the runtime it is made on.
    pub async fn bind(host: IpAddr, lport: u16, peer: Option<SocketAddr>) -> io::Result<Endpoint> {
        let socket = UdpSocket::bind((host, lport)).await?;
        setsockopt(&socket, sockopt::ReceiveTimestampns, &true)?;
        let addr = socket.local_addr()?;
        let handed = Arc::new(Notify::new());
        endpoints(|all| all.insert(addr, Arc::downgrade(&handed)));
        Ok(Endpoint { socket, addr, peer, handed })
    }

    /// Waits until a datagram may be waiting.
    pub async fn wake(&self) -> Wake {
        tokio::select! {
            biased;
            () = self.handed.notified() => Wake::HandOver,
            _ = self.socket.readable() => Wake::Reactor,
        }
    }

    /// Takes one waiting datagram into `buffer`: its length and when it
    /// arrived. `WouldBlock` when none is waiting.
    pub fn receive(&self, buffer: &mut [u8], wake: Wake) -> io::Result<(usize, Instant)> {
        let mut receive = || receive_stamped(self.socket.as_raw_fd(), buffer);
        match wake {
            // The reactor may not know yet: ask the socket itself.
            Wake::HandOver => receive(),
            // Through the reactor, so that an empty socket clears its readiness.
            Wake::Reactor => self.socket.try_io(Interest::READABLE, receive),
        }
    }

    /// Sends a frame to the peer, and hands it over when the peer is ours.
    /// A UDP send does not wait: when the socket's buffer is full the frame
    /// is dropped, as a busy link would. Straight to the socket, as nothing
    /// ever waits for it to be writable (tokio's `try_send_to` refuses until
    /// the reactor has seen the socket once).
    pub fn send(&self, frame: &[u8]) {
        let Some(peer) = self.peer else { return };
        let to = SockaddrStorage::from(peer);
        if sendto(self.socket.as_raw_fd(), frame, &to, MsgFlags::MSG_DONTWAIT).is_ok() {
            if let Some(receiver) = endpoints(|all| all.get(&peer).and_then(Weak::upgrade)) {
                receiver.notify_one();
            }
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        endpoints(|all| {
            // A newer endpoint may hold the address by now.
            if all.get(&self.addr).is_some_and(|w| w.ptr_eq(&Arc::downgrade(&self.handed))) {
                all.remove(&self.addr);
            }
        });
    }
}

/// `recvmsg` with the kernel's arrival stamp, turned into an `Instant`.
fn receive_stamped(fd: i32, buffer: &mut [u8]) -> io::Result<(usize, Instant)> {
    let mut control = nix::cmsg_space!(TimeSpec);
    let mut iov = [io::IoSliceMut::new(buffer)];
    let msg = recvmsg::<SockaddrStorage>(fd, &mut iov, Some(&mut control), MsgFlags::MSG_DONTWAIT)?;
    let (now, wall) = (Instant::now(), SystemTime::now());
    let stamp = msg.cmsgs().into_iter().flatten().find_map(|c| match c {
        ControlMessageOwned::ScmTimestampns(ts) => Some(UNIX_EPOCH + Duration::from(ts)),
        _ => None,
    });
    let age = stamp.and_then(|s| wall.duration_since(s).ok()).unwrap_or_default();
    Ok((msg.bytes, now.checked_sub(age).unwrap_or(now)))
}

/// Where a NIO's frames go: `rhost:rport`, its first IPv4 address.
pub async fn resolve(rhost: &str, rport: u16) -> io::Result<SocketAddr> {
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
        let b = Endpoint::bind(LOOPBACK, 0, None).await.unwrap();
        let a = Endpoint::bind(LOOPBACK, 0, Some(b.addr)).await.unwrap();
        (a, b)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_frame_to_an_endpoint_of_ours_is_handed_over() {
        let (a, b) = pair().await;
        assert!(b.wake().now_or_never().is_none(), "nothing sent yet");
        let before = Instant::now();
        a.send(b"frame");
        // No turn of the reactor in between: the receiver is woken directly,
        // and the datagram is already in its socket.
        assert_eq!(b.wake().now_or_never(), Some(Wake::HandOver));
        let mut buffer = [0u8; 64];
        let (len, arrived) = b.receive(&mut buffer, Wake::HandOver).unwrap();
        assert_eq!(&buffer[..len], b"frame");
        assert!(before <= arrived && arrived <= Instant::now(), "stamped when the kernel took it in");
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
        assert!(endpoints(|all| !all.contains_key(&addr)));
        a.send(b"to nobody"); // neither fails nor wakes anyone
                              // A new endpoint on the same port is not unregistered by the old one's drop.
        let (c, d) = (Endpoint::bind(LOOPBACK, addr.port(), None).await.unwrap(), a);
        drop(d);
        assert!(endpoints(|all| all.contains_key(&c.addr)));
    }
}
