//! OSC over TCP with SLIP framing (OSC 1.1): a task per connection, whose
//! future bundles wait in that task.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::codec::{self, DecodeError, Message, Packet};
use super::slip;
use super::split::MAX_SPLIT;
use super::time::{ntp_now, ntp_to_duration_from_now};
use crate::app::App;
use crate::namespace;

/// Serves one connection until it closes or the server stops.
pub async fn serve(mut stream: tokio::net::TcpStream, peer: SocketAddr, app: Arc<App>) {
    let stop = app.shutdown.clone();
    let mut decoder = slip::Decoder::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = tokio::select! {
            r = stream.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
            _ = stop.cancelled() => return,
        };
        let (packets, dropped) = decoder.feed(&buf[..n], MAX_SPLIT);
        if dropped > 0 {
            tracing::warn!(%peer, "dropped {dropped} oversized OSC packet(s) on TCP");
        }
        for bytes in packets {
            let replies = match codec::decode_unbounded(&bytes) {
                Ok(p) => run_packet(p, peer, &app).await,
                Err(DecodeError { addr: Some(addr), reason }) => vec![namespace::error(&addr, reason)],
                Err(e) => {
                    tracing::warn!(%peer, "refused an OSC packet on TCP: {e}");
                    vec![]
                }
            };
            for r in replies {
                if stream.write_all(&slip::encode(&codec::encode_message(&r))).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Runs a packet from TCP: future bundles wait in this connection's task.
async fn run_packet(p: Packet, peer: SocketAddr, app: &App) -> Vec<Message> {
    let mut stack = vec![p];
    let mut replies = vec![];
    while let Some(p) = stack.pop() {
        match p {
            Packet::Bundle { time, content } => {
                if time > ntp_now() {
                    tokio::time::sleep(ntp_to_duration_from_now(time)).await;
                }
                stack.extend(content.into_iter().rev());
            }
            Packet::Message(m) => {
                replies.extend(app.osc(peer, m).await);
            }
        }
    }
    replies
}
