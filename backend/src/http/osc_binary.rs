//! OSC over a WebSocket in binary frames, as osc.js's `WebSocketPort` and
//! other browser OSC libraries send it (`/v1/osc/binary`): each frame one
//! raw OSC packet, a message or a bundle; each reply one frame. Bundles and
//! `#split` behave as over TCP (a [`Session`] per socket), and all these
//! sockets together are bounded as TCP connections are. The JSON form, with
//! the traffic view, stays at `/v1/osc/ws` ([`super::bridge`]).

use std::sync::Arc;

use axum::extract::ws::{Message as WsMessage, WebSocket};
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use futures_util::StreamExt;

use super::extract::Upgrade;
use super::Shared;
use crate::access::Role;
use crate::app::App;
use crate::limit_log::limit_hit;
use crate::namespace::error;
use crate::osc::codec::{self, DecodeError, Message};
use crate::osc::session::{Place, Session, Sessions};
use crate::osc::split::MAX_SPLIT;

/// Largest frame a client may send: one packet, as large as one TCP frame.
pub(crate) const MAX_FRAME: usize = MAX_SPLIT;
/// Binary OSC sockets open at once.
pub(crate) const MAX_SOCKETS: usize = 256;
/// Bytes of future bundles and `#split` fragments all of them together may hold.
pub(crate) const MAX_HELD_BYTES: usize = 32 * 1024 * 1024;

/// The budget all binary OSC sockets share.
pub(crate) fn sessions() -> Sessions {
    Sessions::new(MAX_SOCKETS, MAX_HELD_BYTES)
}

pub(crate) async fn websocket(
    State(s): State<Shared>,
    Extension(role): Extension<Role>,
    Upgrade(ws): Upgrade<MAX_FRAME>,
) -> Response {
    let (app, all) = (s.app.clone(), s.osc_sockets.clone());
    ws.on_upgrade(move |socket: WebSocket| serve(socket, app, all, role))
}

/// Stands for a WebSocket client in the traffic view (it has no UDP address).
const PEER: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

async fn serve(mut socket: WebSocket, app: Arc<App>, all: Arc<Sessions>, role: Role) {
    let Some(mut place) = Place::take(&all) else {
        limit_hit("osc-ws", format_args!("binary OSC WebSocket refused: {MAX_SOCKETS} are open"));
        let reason = format!("{MAX_SOCKETS} binary OSC WebSockets are open: retry later");
        let _ = send(&mut socket, &[error("#connection", reason)]).await;
        return;
    };
    let shutdown = app.shutdown.clone();
    let mut session = Session::new(app, PEER, role, "WebSocket");
    loop {
        let due = session.next_due();
        let replies = tokio::select! {
            incoming = socket.next() => match incoming {
                Some(Ok(WsMessage::Binary(bytes))) => match codec::decode(&bytes) {
                    Ok(p) => session.run(p, bytes.len()).await,
                    Err(DecodeError { addr: Some(addr), reason }) => vec![error(&addr, reason)],
                    Err(DecodeError { addr: None, reason }) => vec![error("#packet", format!("Not an OSC packet: {reason}"))],
                },
                Some(Ok(WsMessage::Text(_))) => {
                    vec![error("#packet", "Send OSC packets in binary frames here; JSON goes to /v1/osc/ws")]
                }
                Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => continue,
            },
            _ = crate::osc::deadline::sleep_until(due.unwrap_or_else(std::time::Instant::now)), if due.is_some() => {
                session.run_due().await
            }
            _ = shutdown.cancelled() => {
                let _ = socket.send(WsMessage::Close(None)).await;
                return;
            }
        };
        if send(&mut socket, &replies).await.is_err() {
            return;
        }
        if !place.hold(session.held()) {
            limit_hit(
                "osc-ws",
                format_args!("binary OSC WebSocket closed: all hold over {MAX_HELD_BYTES} bytes"),
            );
            let reason = format!(
                "The server holds {MAX_HELD_BYTES} bytes of bundles and fragments from WebSockets: closing"
            );
            let _ = send(&mut socket, &[error("#connection", reason)]).await;
            return;
        }
    }
}

async fn send(socket: &mut WebSocket, replies: &[Message]) -> Result<(), axum::Error> {
    for r in replies {
        socket.send(WsMessage::Binary(codec::encode_message(r).into())).await?;
    }
    Ok(())
}
