//! `GET /v1/files/stream` (GNS3 1.4 and 1.5): a capture file as it grows,
//! which the GUI opens in Wireshark while the capture runs. The body is
//! `{"location": PATH}` as the GUI sends it; only captures of this server's
//! projects are served (see [`crate::lab::Lab::capture_file`]).

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use tokio::io::AsyncReadExt;

use super::error::ApiError;
use super::extract::JsonBody;
use super::Shared;

/// How often a stream at the end of its file looks for more.
const POLL: Duration = Duration::from_millis(100);
/// Bytes read at a time: what one stream holds in memory.
const CHUNK: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamRequest {
    location: String,
}

pub(crate) async fn stream(
    State(s): State<Shared>,
    JsonBody(req): JsonBody<StreamRequest>,
) -> Result<Response, ApiError> {
    let path = s.app.model.lab.capture_file(&req.location)?;
    let file = tokio::fs::File::open(&path).await.map_err(|e| {
        ApiError::new(axum::http::StatusCode::CONFLICT, format!("Can't access to file {}: {e}", req.location))
    })?;
    let shutdown = s.app.shutdown.clone();
    // Follows the file like `tail -f` until the client goes or the server stops.
    let body = futures_util::stream::unfold((file, shutdown), |(mut file, shutdown)| async move {
        let mut buffer = vec![0u8; CHUNK];
        loop {
            match file.read(&mut buffer).await {
                Ok(0) => tokio::select! {
                    () = tokio::time::sleep(POLL) => {}
                    () = shutdown.cancelled() => return None,
                },
                Ok(n) => {
                    buffer.truncate(n);
                    return Some((Ok::<Bytes, std::io::Error>(Bytes::from(buffer)), (file, shutdown)));
                }
                Err(e) => return Some((Err(e), (file, shutdown))),
            }
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], Body::from_stream(body)).into_response())
}
