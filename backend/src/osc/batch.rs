//! Datagrams in batches: one `recvmmsg` brings everything that is waiting
//! (up to [`BATCH`]), one `sendmmsg` sends all the replies to it. With many
//! requests in flight this halves the system calls per request, which is
//! where an OSC server's time goes (measured: BENCHMARKS.md, OSC section).
//! nix wraps both calls safely.
//!
//! Waiting, though, is for one datagram with a plain receive: `recvmmsg`
//! costs more per call (perf: its message-header copies and second pass),
//! which a lone request in flight pays in full. The caller waits for one,
//! then takes what else is waiting without waiting.

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use nix::sys::socket::{recvmmsg, sendmmsg, MsgFlags, MultiHeaders, SockaddrStorage};

/// Datagrams per system call.
pub(crate) const BATCH: usize = 32;
const SIZE: usize = 65536;

pub(crate) struct Batch {
    bufs: Vec<Vec<u8>>,
    rx: MultiHeaders<SockaddrStorage>,
    tx: MultiHeaders<SockaddrStorage>,
    /// Length and sender of each datagram of the last receive.
    got: Vec<(usize, SocketAddr)>,
    /// Replies waiting for [`Batch::flush`].
    out: Vec<(Vec<u8>, SocketAddr)>,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            bufs: vec![vec![0u8; SIZE]; BATCH],
            rx: MultiHeaders::preallocate(BATCH, None),
            tx: MultiHeaders::preallocate(BATCH, None),
            got: Vec::with_capacity(BATCH),
            out: Vec::with_capacity(BATCH),
        }
    }
}

fn to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

impl Batch {
    /// Takes the datagrams already waiting, without waiting: 0 when none.
    pub(crate) fn take_waiting(&mut self, socket: &UdpSocket) -> std::io::Result<usize> {
        self.got.clear();
        let mut slices: Vec<[IoSliceMut; 1]> = self.bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
        let results =
            match recvmmsg(socket.as_raw_fd(), &mut self.rx, slices.iter_mut(), MsgFlags::MSG_DONTWAIT, None)
            {
                Err(nix::errno::Errno::EAGAIN) => return Ok(0),
                r => r.map_err(std::io::Error::from)?,
            };
        for r in results {
            if let Some(addr) = r.address.as_ref().and_then(to_std) {
                self.got.push((r.bytes, addr));
            }
        }
        Ok(self.got.len())
    }

    /// Datagram `i` of the last receive.
    pub(crate) fn datagram(&self, i: usize) -> (&[u8], SocketAddr) {
        let (n, addr) = self.got[i];
        (&self.bufs[i][..n], addr)
    }

    pub(crate) fn queue(&mut self, bytes: Vec<u8>, to: SocketAddr) {
        self.out.push((bytes, to));
    }

    /// Sends the queued replies, [`BATCH`] per system call.
    pub(crate) fn flush(&mut self, socket: &UdpSocket) {
        for chunk in self.out.chunks(BATCH) {
            let slices: Vec<[IoSlice; 1]> = chunk.iter().map(|(b, _)| [IoSlice::new(b)]).collect();
            let addrs: Vec<Option<SockaddrStorage>> =
                chunk.iter().map(|(_, a)| Some(SockaddrStorage::from(*a))).collect();
            if let Err(e) =
                sendmmsg(socket.as_raw_fd(), &mut self.tx, slices.iter(), &addrs, [], MsgFlags::empty())
            {
                tracing::debug!("OSC replies: {e}");
                // One by one, so a bad address costs only its own reply.
                for (b, a) in chunk {
                    let _ = socket.send_to(b, a);
                }
            }
        }
        self.out.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_receives_what_is_waiting_and_sends_replies_back() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..5u8 {
            client.send_to(&[i; 8], server.local_addr().unwrap()).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut batch = Batch::default();
        let n = batch.take_waiting(&server).unwrap();
        assert_eq!(n, 5, "all five in one call");
        for i in 0..n {
            let (data, from) = batch.datagram(i);
            assert_eq!((data, from), (&[i as u8; 8][..], client.local_addr().unwrap()));
            let reply = data.iter().map(|b| b + 100).collect();
            batch.queue(reply, from);
        }
        batch.flush(&server);
        let mut buf = [0u8; 16];
        for i in 0..5u8 {
            let (n, _) = client.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[i + 100; 8]);
        }
    }
}
