//! OSC over TCP with SLIP framing (OSC 1.1): a task per connection, whose
//! future bundles wait in that task.
//!
//! Connections are counted, and so are the bytes of their unfinished
//! frames, for all connections together: a client that opens many, or
//! sends frames that never end, meets a limit and is told, while the others
//! go on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::codec::{self, DecodeError, Message, Packet};
use super::slip;
use super::split::MAX_SPLIT;
use super::time::bundle_wait;
use crate::access::Role;
use crate::app::App;
use crate::limit_log::limit_hit;
use crate::namespace;

/// OSC connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Largest packet in one TCP frame.
pub const MAX_FRAME: usize = MAX_SPLIT;
/// Bytes of unfinished frames all connections together may hold.
pub const MAX_PENDING_BYTES: usize = 32 * 1024 * 1024;

/// What all connections share: their count and their unfinished bytes.
#[derive(Default)]
pub struct Connections {
    open: AtomicUsize,
    pending: AtomicUsize,
}

/// One connection's place among [`Connections`], given back when it ends.
struct Place {
    all: Arc<Connections>,
    pending: usize,
}

impl Place {
    fn take(all: &Arc<Connections>) -> Option<Place> {
        let open = all.open.fetch_add(1, Ordering::Relaxed);
        let place = Place { all: all.clone(), pending: 0 };
        (open < MAX_CONNECTIONS).then_some(place)
    }

    /// Counts this connection's unfinished bytes; false when all together pass the limit.
    fn hold(&mut self, bytes: usize) -> bool {
        // `before` includes what this connection held until now.
        let before = self.all.pending.fetch_add(bytes, Ordering::Relaxed);
        self.all.pending.fetch_sub(self.pending, Ordering::Relaxed);
        let total = before + bytes - self.pending;
        self.pending = bytes;
        bytes == 0 || total <= MAX_PENDING_BYTES
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.all.pending.fetch_sub(self.pending, Ordering::Relaxed);
        self.all.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accepts the connection if there is room, and serves it until it closes or the server stops.
pub async fn serve(mut stream: TcpStream, peer: SocketAddr, app: Arc<App>, all: Arc<Connections>) {
    let Some(mut place) = Place::take(&all) else {
        limit_hit("osc-tcp", format_args!("OSC connection from {peer} refused: {MAX_CONNECTIONS} are open"));
        let reason = format!("{MAX_CONNECTIONS} OSC connections are open: retry later");
        let _ = write(&mut stream, &[namespace::error("#connection", reason)]).await;
        return;
    };
    let stop = app.shutdown.clone();
    let mut decoder = slip::Decoder::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = tokio::select! {
            r = stream.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
            _ = stop.cancelled() => return,
        };
        let (packets, dropped) = decoder.feed(&buf[..n], MAX_FRAME);
        let mut replies = vec![];
        if dropped > 0 {
            limit_hit(
                "osc-tcp",
                format_args!("OSC over TCP from {peer}: dropped {dropped} frame(s) over {MAX_FRAME} bytes"),
            );
            replies
                .push(namespace::error("#frame", format!("A TCP frame may hold at most {MAX_FRAME} bytes")));
        }
        if !place.hold(decoder.pending()) {
            limit_hit(
                "osc-tcp",
                format_args!(
                    "OSC connection from {peer} closed: unfinished frames pass {MAX_PENDING_BYTES} bytes"
                ),
            );
            let reason =
                format!("The server holds {MAX_PENDING_BYTES} bytes of unfinished TCP frames: closing");
            let _ = write(&mut stream, &[namespace::error("#frame", reason)]).await;
            return;
        }
        for bytes in packets {
            match codec::decode_unbounded(&bytes) {
                Ok(p) => replies.extend(run_packet(p, peer, &app).await),
                Err(DecodeError { addr: Some(addr), reason }) => {
                    replies.push(namespace::error(&addr, reason))
                }
                Err(e) => super::refused_packet("TCP", peer, &e),
            };
        }
        if write(&mut stream, &replies).await.is_err() {
            return;
        }
    }
}

async fn write(stream: &mut TcpStream, replies: &[Message]) -> std::io::Result<()> {
    for r in replies {
        stream.write_all(&slip::encode(&codec::encode_message(r))).await?;
    }
    Ok(())
}

/// Runs a packet from TCP: future bundles wait in this connection's task.
async fn run_packet(p: Packet, peer: SocketAddr, app: &App) -> Vec<Message> {
    let mut stack = vec![p];
    let mut replies = vec![];
    while let Some(p) = stack.pop() {
        match p {
            Packet::Bundle { time, content } => {
                match bundle_wait(time) {
                    Ok(None) => {}
                    Ok(Some(wait)) => tokio::time::sleep(wait).await,
                    Err(reason) => {
                        limit_hit(
                            "osc-bundles",
                            format_args!("OSC bundle over TCP from {peer} refused: {reason}"),
                        );
                        if let Some(addr) = codec::first_address(&content) {
                            replies.push(namespace::error(addr, reason));
                        }
                        continue;
                    }
                }
                stack.extend(content.into_iter().rev());
            }
            Packet::Message(m) => {
                replies.extend(app.osc(peer, m, Role::Admin).await);
            }
        }
    }
    replies
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_count_connections_and_their_unfinished_bytes() {
        let all = Arc::new(Connections::default());
        let places: Vec<Place> = (0..MAX_CONNECTIONS).map(|_| Place::take(&all).expect("room")).collect();
        assert!(Place::take(&all).is_none(), "one too many");
        assert_eq!(all.open.load(Ordering::Relaxed), MAX_CONNECTIONS, "a refused one gives its place back");
        drop(places);
        let (mut a, mut b) = (Place::take(&all).unwrap(), Place::take(&all).unwrap());
        assert!(a.hold(MAX_PENDING_BYTES / 2));
        assert!(a.hold(MAX_PENDING_BYTES / 2 + 10), "growing is counted once, not again");
        assert!(!b.hold(MAX_PENDING_BYTES / 2), "together they pass");
        assert!(a.hold(0) && b.hold(MAX_PENDING_BYTES / 2), "a finished frame frees its bytes");
        drop((a, b));
        assert_eq!((all.open.load(Ordering::Relaxed), all.pending.load(Ordering::Relaxed)), (0, 0));
    }
}
