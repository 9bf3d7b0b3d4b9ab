//! A PC's console in the browser: a WebSocket that is one more telnet
//! client of the PC's console port, so it shares the session with every
//! other client, as they share it with each other. Text frames both ways:
//! the console's output without telnet negotiation, and lines to type.

use std::net::SocketAddr;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::error::ApiError;
use super::extract::{Params, Upgrade};
use super::{vms, Shared};
use crate::access::Role;
use crate::lab::vpc::telnet::{Screen, MAX_LINE};

/// Largest frame a console client may send: lines are cut at `MAX_LINE` anyway.
const MAX_TYPED: usize = 64 * 1024;

pub(crate) async fn websocket(
    State(s): State<Shared>,
    Extension(role): Extension<Role>,
    p: Params,
    Upgrade(ws): Upgrade<MAX_TYPED>,
) -> Result<Response, ApiError> {
    let (project, vm) = vms::ids(&p)?;
    let console = s.app.model.lab.console_addr(project, vm).await?;
    let shutdown = s.app.shutdown.clone();
    Ok(ws.on_upgrade(move |socket: WebSocket| async move {
        tokio::select! {
            () = serve(socket, console, role) => {}
            () = shutdown.cancelled() => {}
        }
    }))
}

/// Generic over the socket so tests can drive it with channels. A viewer
/// watches: what it types is not passed on, and it is told so once.
pub(crate) async fn serve<S, E>(mut socket: S, console: SocketAddr, role: Role)
where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + Unpin,
{
    let Ok(tcp) = TcpStream::connect(console).await else {
        let _ = socket.send(Message::Text("The console is not reachable\n".into())).await;
        return;
    };
    let (mut from_pc, mut to_pc) = tcp.into_split();
    let mut screen = Screen::default();
    let mut buffer = [0u8; 4096];
    let mut told = false;
    loop {
        tokio::select! {
            read = from_pc.read(&mut buffer) => {
                let Ok(n @ 1..) = read else { break }; // the PC stopped, or said good-bye
                let text = screen.feed(&buffer[..n]);
                if !text.is_empty() && socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            typed = socket.next() => match typed {
                Some(Ok(Message::Text(_))) if role == Role::Viewer => {
                    let note = "\r\n(a viewer watches this console: what it types is not sent)\r\n";
                    if !std::mem::replace(&mut told, true) && socket.send(Message::Text(note.into())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Text(line))) => {
                    // One line at most, as the console would cut it anyway.
                    let line: String = line.chars().filter(|c| !c.is_control()).take(MAX_LINE).collect();
                    if to_pc.write_all(format!("{line}\r\n").as_bytes()).await.is_err() {
                        break;
                    }
                }
                Some(Ok(_)) => {} // pings, pongs and binary frames mean nothing here
                _ => break,
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
