//! OSC over TCP in both framings, SLIP (OSC 1.1) and size-prefixed (OSC
//! 1.0), told apart per connection by its first byte: a task per
//! connection, whose future bundles wait in its own schedule while the
//! messages after them run at once.
//!
//! Connections are counted, and so are the bytes of their unfinished
//! frames, for all connections together: a client that opens many, or
//! sends frames that never end, meets a limit and is told, while the others
//! go on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::codec::{self, DecodeError, Message, Packet};
use super::schedule::Schedule;
use super::split::{Reassembly, MAX_SPLIT};
use super::time::bundle_wait;
use super::{size_prefix, slip};
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

/// How a connection frames its packets, told from its first byte. SLIP
/// packets start with END (or, from senders that only end them, with an
/// OSC packet's `/` or `#`); anything else is a size prefix. A size prefix
/// starting with one of those three bytes would announce hundreds of
/// megabytes, far past [`MAX_FRAME`], so the two cannot be confused.
enum Framing {
    Slip(slip::Decoder),
    SizePrefixed(size_prefix::Decoder),
}

impl Framing {
    fn detect(first: u8) -> Framing {
        match first {
            0xC0 | b'/' | b'#' => Framing::Slip(slip::Decoder::default()),
            _ => Framing::SizePrefixed(size_prefix::Decoder::default()),
        }
    }

    fn encode(&self, packet: &[u8]) -> Vec<u8> {
        match self {
            Framing::Slip(_) => slip::encode(packet),
            Framing::SizePrefixed(_) => size_prefix::encode(packet),
        }
    }

    fn pending(&self) -> usize {
        match self {
            Framing::Slip(d) => d.pending(),
            Framing::SizePrefixed(d) => d.pending(),
        }
    }

    /// The complete frames, and how many over the limit were dropped; an
    /// error when the stream cannot go on (a size prefix over the limit).
    fn feed(&mut self, bytes: &[u8]) -> Result<(Vec<Vec<u8>>, usize), size_prefix::Oversized> {
        match self {
            Framing::Slip(d) => Ok(d.feed(bytes, MAX_FRAME)),
            Framing::SizePrefixed(d) => d.feed(bytes, MAX_FRAME).map(|frames| (frames, 0)),
        }
    }
}

/// One connection: its framing, its future bundles and its unfinished
/// `#split` message, all counted in its [`Place`].
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    app: Arc<App>,
    place: Place,
    /// Known from the first byte; SLIP until then.
    framing: Option<Framing>,
    /// Future bundles wait here, so the messages after them run at once.
    schedule: Schedule,
    reassembly: Reassembly,
}

/// Accepts the connection if there is room, and serves it until it closes or the server stops.
pub async fn serve(mut stream: TcpStream, peer: SocketAddr, app: Arc<App>, all: Arc<Connections>) {
    let Some(place) = Place::take(&all) else {
        limit_hit("osc-tcp", format_args!("OSC connection from {peer} refused: {MAX_CONNECTIONS} are open"));
        let reason = format!("{MAX_CONNECTIONS} OSC connections are open: retry later");
        let _ = stream
            .write_all(&slip::encode(&codec::encode_message(&namespace::error("#connection", reason))))
            .await;
        return;
    };
    let mut connection = Connection {
        stream,
        peer,
        app,
        place,
        framing: None,
        schedule: Schedule::default(),
        reassembly: Reassembly::default(),
    };
    let _ = connection.serve().await;
}

impl Connection {
    async fn serve(&mut self) -> std::io::Result<()> {
        let stop = self.app.shutdown.clone();
        let mut buf = vec![0u8; 65536];
        loop {
            let due = self.schedule.next_at();
            let n = tokio::select! {
                r = self.stream.read(&mut buf) => match r? { 0 => return Ok(()), n => n },
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now).into()), if due.is_some() => {
                    let mut replies = vec![];
                    while let Some((_, content, size)) = self.schedule.pop_due(Instant::now()) {
                        for p in content {
                            replies.extend(self.run(p, size).await);
                        }
                    }
                    self.write(&replies).await?;
                    continue;
                }
                _ = stop.cancelled() => return Ok(()),
            };
            let replies = match self.frames(&buf[..n]).await {
                Ok(replies) => replies,
                Err(reason) => {
                    let _ = self.write(&[namespace::error("#frame", reason)]).await;
                    return Ok(());
                }
            };
            self.write(&replies).await?;
        }
    }

    /// Runs the packets completed by `bytes`; an error (to send before
    /// closing) when the connection cannot go on.
    async fn frames(&mut self, bytes: &[u8]) -> Result<Vec<Message>, String> {
        let peer = self.peer;
        let framing = self.framing.get_or_insert_with(|| Framing::detect(bytes[0]));
        let (frames, dropped) = framing.feed(bytes).map_err(|size_prefix::Oversized(len)| {
            limit_hit(
                "osc-tcp",
                format_args!("OSC connection from {peer} closed: a frame of {len} bytes passes {MAX_FRAME}"),
            );
            format!("A TCP frame may hold at most {MAX_FRAME} bytes; this one announced {len}: closing")
        })?;
        let mut replies = vec![];
        if dropped > 0 {
            limit_hit(
                "osc-tcp",
                format_args!("OSC over TCP from {peer}: dropped {dropped} frame(s) over {MAX_FRAME} bytes"),
            );
            replies
                .push(namespace::error("#frame", format!("A TCP frame may hold at most {MAX_FRAME} bytes")));
        }
        self.hold("unfinished frames")?;
        for bytes in frames {
            match codec::decode_unbounded(&bytes) {
                Ok(p) => replies.extend(self.run(p, bytes.len()).await),
                Err(DecodeError { addr: Some(addr), reason }) => {
                    replies.push(namespace::error(&addr, reason))
                }
                Err(e) => super::refused_packet("TCP", peer, &e),
            };
        }
        self.reassembly.expire(Instant::now());
        self.hold("unfinished frames, future bundles and #split fragments")?;
        Ok(replies)
    }

    /// Counts what this connection holds among all connections.
    fn hold(&mut self, what: &str) -> Result<(), String> {
        let held = self.framing.as_ref().map_or(0, Framing::pending)
            + self.schedule.bytes()
            + self.reassembly.held();
        if self.place.hold(held) {
            return Ok(());
        }
        let peer = self.peer;
        limit_hit(
            "osc-tcp",
            format_args!("OSC connection from {peer} closed: {what} pass {MAX_PENDING_BYTES} bytes"),
        );
        Err(format!("The server holds {MAX_PENDING_BYTES} bytes of {what} from TCP connections: closing"))
    }

    async fn write(&mut self, replies: &[Message]) -> std::io::Result<()> {
        for r in replies {
            let packet = codec::encode_message(r);
            let bytes = match &self.framing {
                Some(framing) => framing.encode(&packet),
                None => slip::encode(&packet),
            };
            self.stream.write_all(&bytes).await?;
        }
        Ok(())
    }

    /// Runs a packet that arrived in `size` bytes: bundles due now in
    /// order, future ones into this connection's schedule, `#split`
    /// fragments into its reassembly.
    async fn run(&mut self, p: Packet, size: usize) -> Vec<Message> {
        let peer = self.peer;
        let mut stack = vec![p];
        let mut replies = vec![];
        while let Some(p) = stack.pop() {
            match p {
                Packet::Bundle { time, content } => {
                    let refused = match bundle_wait(time) {
                        Ok(None) => {
                            stack.extend(content.into_iter().rev());
                            continue;
                        }
                        Ok(Some(wait)) => {
                            let addr = codec::first_address(&content).map(str::to_owned);
                            self.schedule
                                .add(Instant::now() + wait, peer, content, size)
                                .err()
                                .map(|e| (addr, e))
                        }
                        Err(reason) => Some((codec::first_address(&content).map(str::to_owned), reason)),
                    };
                    if let Some((addr, reason)) = refused {
                        limit_hit(
                            "osc-bundles",
                            format_args!("OSC bundle over TCP from {peer} refused: {reason}"),
                        );
                        if let Some(addr) = addr {
                            replies.push(namespace::error(&addr, reason));
                        }
                    }
                }
                Packet::Message(m) if m.addr == "#split" => {
                    match self.reassembly.fragment(peer, &m, Instant::now()) {
                        Ok(Some(whole)) => match codec::decode_unbounded(&whole) {
                            Ok(p) => stack.push(p),
                            Err(e) => replies
                                .push(namespace::error(e.addr.as_deref().unwrap_or("#split"), e.reason)),
                        },
                        Ok(None) => {}
                        Err(reason) => {
                            limit_hit(
                                "osc-split",
                                format_args!("#split over TCP from {peer} refused: {reason}"),
                            );
                            replies.push(namespace::error("#split", reason));
                        }
                    }
                }
                Packet::Message(m) => replies.extend(self.app.osc(peer, m, Role::Admin).await),
            }
        }
        replies
    }
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
