//! Notification streams: chunked JSON lines over HTTP, or JSON text frames
//! over a WebSocket. Both read a [`Feed`] of the hub and end on shutdown.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::extract::{Params, Upgrade};
use super::Shared;
use crate::notify::Feed;

pub(crate) async fn stream_all(State(s): State<Shared>) -> Response {
    chunked(s.app.model.hub.subscribe(None), s.app.shutdown.clone())
}

pub(crate) async fn stream_project(State(s): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let project = p.uuid("project_id")?;
    s.app.model.lab.get_project(project)?;
    Ok(chunked(s.app.model.hub.subscribe(Some(project)), s.app.shutdown.clone()))
}

fn chunked(feed: Feed, shutdown: CancellationToken) -> Response {
    let lines = futures_util::stream::unfold(feed, |mut feed| async move {
        let line = feed.next().await?;
        Some((Ok::<_, Infallible>(format!("{line}\n")), feed))
    })
    .take_until(shutdown.cancelled_owned());
    ([(header::CONTENT_TYPE, "application/json")], Body::from_stream(lines)).into_response()
}

/// The stream is one-way: what a client sends is read and dropped, and may not be large.
const MAX_INCOMING: usize = 64 * 1024;

pub(crate) async fn websocket(State(s): State<Shared>, Upgrade(ws): Upgrade<MAX_INCOMING>) -> Response {
    let feed = s.app.model.hub.subscribe(None);
    let shutdown = s.app.shutdown.clone();
    ws.on_upgrade(move |socket: WebSocket| pump(socket, feed, shutdown))
}

/// Forwards the feed to a WebSocket until either side ends. Generic over the
/// socket so tests can drive it with channels.
pub(crate) async fn pump<S, E>(mut socket: S, mut feed: Feed, shutdown: CancellationToken)
where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + Unpin,
{
    loop {
        tokio::select! {
            line = feed.next() => {
                // None: the feed fell too far behind and said so; it ends here.
                let Some(line) = line else {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                };
                // A client that does not read stalls this send: it ends once its feed is closed.
                tokio::select! {
                    sent = socket.send(Message::Text(line.into())) => if sent.is_err() { break },
                    () = feed.closed() => break,
                }
            }
            incoming = socket.next() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {} // the stream is one-way for now
            },
            _ = shutdown.cancelled() => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
        }
    }
}
