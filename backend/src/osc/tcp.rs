//! OSC over TCP in both framings, SLIP (OSC 1.1) and size-prefixed (OSC
//! 1.0), told apart per connection by its first byte: a task per
//! connection, whose bundles and fragments its [`Session`] keeps.
//!
//! Connections are counted, and so are the bytes they hold (unfinished
//! frames, future bundles, fragments), for all connections together: a
//! client that opens many, or sends frames that never end, meets a limit
//! and is told, while the others go on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::codec::{self, DecodeError, Message};
use super::deadline;
use super::session::{Place, Session, Sessions};
use super::split::MAX_SPLIT;
use super::{size_prefix, slip};
use crate::access::Role;
use crate::app::App;
use crate::limit_log::limit_hit;
use crate::namespace;

/// OSC connections served at once.
pub(crate) const MAX_CONNECTIONS: usize = 256;
/// Largest packet in one TCP frame.
pub(crate) const MAX_FRAME: usize = MAX_SPLIT;
/// Bytes of unfinished frames, future bundles and `#split` fragments all
/// connections together may hold.
pub(crate) const MAX_PENDING_BYTES: usize = 32 * 1024 * 1024;

/// The budget all OSC connections share.
pub(crate) fn sessions() -> Sessions {
    Sessions::new(MAX_CONNECTIONS, MAX_PENDING_BYTES)
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
    session: Session,
}

/// Accepts the connection if there is room, and serves it until it closes or the server stops.
pub(crate) async fn serve(mut stream: TcpStream, peer: SocketAddr, app: Arc<App>, all: Arc<Sessions>) {
    let Some(place) = Place::take(&all) else {
        limit_hit("osc-tcp", format_args!("OSC connection from {peer} refused: {MAX_CONNECTIONS} are open"));
        let reason = format!("{MAX_CONNECTIONS} OSC connections are open: retry later");
        let _ = stream
            .write_all(&slip::encode(&codec::encode_message(&namespace::error("#connection", reason))))
            .await;
        return;
    };
    let session = Session::new(app.clone(), peer, Role::Admin, "TCP");
    let mut connection = Connection { stream, peer, app, place, framing: None, session };
    let _ = connection.serve().await;
}

impl Connection {
    async fn serve(&mut self) -> std::io::Result<()> {
        let stop = self.app.shutdown.clone();
        let mut buf = vec![0u8; 65536];
        loop {
            let due = self.session.next_due();
            let n = tokio::select! {
                r = self.stream.read(&mut buf) => match r? { 0 => return Ok(()), n => n },
                _ = deadline::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    let replies = self.session.run_due().await;
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
                Ok(p) => replies.extend(self.session.run(p, bytes.len()).await),
                Err(DecodeError { addr: Some(addr), reason }) => {
                    replies.push(namespace::error(&addr, reason))
                }
                Err(e) => super::refused_packet("TCP", peer, &e),
            };
        }
        self.hold("unfinished frames, future bundles and #split fragments")?;
        Ok(replies)
    }

    /// Counts what this connection holds among all connections.
    fn hold(&mut self, what: &str) -> Result<(), String> {
        let held = self.framing.as_ref().map_or(0, Framing::pending) + self.session.held();
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
}
