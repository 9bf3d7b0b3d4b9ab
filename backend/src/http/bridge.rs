//! The OSC bridge: OSC over a WebSocket as JSON text frames. A client sends
//! [`OscJson`] messages and gets the same replies a UDP client would, as
//! `reply` frames; it also sees every OSC message the server receives and
//! sends (`in` and `out` frames).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{Message as WsMessage, WebSocket};
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use patchbay_shared::{OscArg, OscJson, OscTraffic};

use super::extract::Upgrade;
use super::Shared;
use crate::access::Role;
use crate::app::App;
use crate::fanout::Recv;
use crate::osc::codec::{Arg, Message};

/// Largest message a bridge client may send (JSON).
pub(crate) const MAX_MESSAGE: usize = 1024 * 1024;

pub(crate) async fn websocket(
    State(s): State<Shared>,
    Extension(role): Extension<Role>,
    Upgrade(ws): Upgrade<MAX_MESSAGE>,
) -> Response {
    ws.on_upgrade(move |socket: WebSocket| serve(socket, s.app.clone(), role))
}

/// Stands for the WebSocket client in traffic frames (it has no UDP address).
const PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// Generic over the socket so tests can drive it with channels. `role` is
/// the client's token's: a viewer's messages only query.
pub(crate) async fn serve<S, E>(mut socket: S, app: Arc<App>, role: Role)
where
    S: Sink<WsMessage> + Stream<Item = Result<WsMessage, E>> + Unpin,
{
    let mut traffic = app.traffic();
    let shutdown = app.shutdown.clone();
    loop {
        tokio::select! {
            t = traffic.recv() => match t {
                Recv::Item(t) => {
                    let peer = if t.peer == PEER { "websocket".to_owned() } else { format!("udp:{}", t.peer) };
                    let frame = OscTraffic { direction: if t.incoming { "in" } else { "out" }.into(), peer, message: to_json(&t.message) };
                    if !send_unless_closed(&mut socket, &frame, &traffic).await {
                        break;
                    }
                }
                Recv::Missed(_) => {} // a slow viewer misses traffic, never slows it
                Recv::Closed { bytes } => {
                    let reason = format!("This bridge fell {bytes} bytes behind the traffic and is closed: reconnect");
                    let frame = OscTraffic { direction: "reply".into(), peer: "websocket".into(), message: to_json(&crate::namespace::error("/bridge", reason)) };
                    let _ = send(&mut socket, &frame).await;
                    let _ = socket.send(WsMessage::Close(None)).await;
                    break;
                }
            },
            incoming = socket.next() => match incoming {
                Some(Ok(WsMessage::Text(text))) => {
                    let replies = match serde_json::from_str::<OscJson>(&text).map(from_json) {
                        Ok(m) => match crate::osc::codec::check_message(&m) {
                            Ok(()) => app.osc(PEER, m, role, None).await,
                            Err(reason) => vec![crate::namespace::error(&m.addr, reason)],
                        },
                        Err(e) => vec![crate::namespace::error("/bridge", format!("not an OSC message in JSON: {e}"))],
                    };
                    for r in replies {
                        let frame = OscTraffic { direction: "reply".into(), peer: "websocket".into(), message: to_json(&r) };
                        if !send_unless_closed(&mut socket, &frame, &traffic).await {
                            return;
                        }
                    }
                }
                Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = shutdown.cancelled() => {
                let _ = socket.send(WsMessage::Close(None)).await;
                break;
            }
        }
    }
}

/// Sends a frame; false when the client is gone, or stalls the send while
/// its traffic feed is closed for falling too far behind.
async fn send_unless_closed<S: Sink<WsMessage> + Unpin>(
    socket: &mut S,
    frame: &OscTraffic,
    traffic: &crate::fanout::Receiver<Arc<crate::app::Traffic>>,
) -> bool {
    tokio::select! {
        sent = send(socket, frame) => sent.is_ok(),
        () = traffic.closed() => false,
    }
}

async fn send<S: Sink<WsMessage> + Unpin>(socket: &mut S, frame: &OscTraffic) -> Result<(), S::Error> {
    let text = serde_json::to_string(frame).expect("frames serialize");
    socket.send(WsMessage::Text(text.into())).await
}

/// An OSC message as the bridge's JSON form (`{"address", "args": [{"type", "value"}]}`).
pub fn to_json(m: &Message) -> OscJson {
    fn arg(a: &Arg) -> OscArg {
        match a {
            Arg::Int(i) => OscArg::Int(*i),
            Arg::Float(f) => OscArg::Float(*f),
            Arg::Str(s) => OscArg::String(s.clone()),
            Arg::Symbol(s) => OscArg::Symbol(s.clone()),
            Arg::Blob(b) => OscArg::Blob(b.clone()),
            Arg::Time(t) => OscArg::Time(*t),
            Arg::Long(l) => OscArg::Long(*l),
            Arg::Double(d) => OscArg::Double(*d),
            Arg::Char(c) => OscArg::Char(*c),
            Arg::Color(c) => OscArg::Color(*c),
            Arg::Midi(m) => OscArg::Midi(*m),
            Arg::True => OscArg::True,
            Arg::False => OscArg::False,
            Arg::Nil => OscArg::Nil,
            Arg::Impulse => OscArg::Impulse,
            Arg::Array(a) => OscArg::Array(a.iter().map(arg).collect()),
            Arg::Complex(re, im) => OscArg::Complex([*re, *im]),
            Arg::Samples(s) => OscArg::Samples(s.clone()),
        }
    }
    OscJson { address: m.addr.clone(), args: m.args.iter().map(arg).collect() }
}

pub(crate) fn from_json(m: OscJson) -> Message {
    fn arg(a: OscArg) -> Arg {
        match a {
            OscArg::Int(i) => Arg::Int(i),
            OscArg::Float(f) => Arg::Float(f),
            OscArg::String(s) => Arg::Str(s),
            OscArg::Symbol(s) => Arg::Symbol(s),
            OscArg::Blob(b) => Arg::Blob(b),
            OscArg::Long(l) => Arg::Long(l),
            OscArg::Double(d) => Arg::Double(d),
            OscArg::Time(t) => Arg::Time(t),
            OscArg::Char(c) => Arg::Char(c),
            OscArg::Color(c) => Arg::Color(c),
            OscArg::Midi(m) => Arg::Midi(m),
            OscArg::True => Arg::True,
            OscArg::False => Arg::False,
            OscArg::Nil => Arg::Nil,
            OscArg::Impulse => Arg::Impulse,
            OscArg::Array(a) => Arg::Array(a.into_iter().map(arg).collect()),
            OscArg::Complex([re, im]) => Arg::Complex(re, im),
            OscArg::Samples(s) => Arg::Samples(s),
        }
    }
    Message { addr: m.address, args: m.args.into_iter().map(arg).collect() }
}
