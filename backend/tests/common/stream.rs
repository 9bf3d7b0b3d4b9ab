//! A reader of the server's chunked HTTP notification stream.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Client;
use serde_json::Value;
use tokio::time::timeout;

/// Reads JSON lines off a chunked HTTP notification stream.
pub(crate) struct Lines {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: Vec<u8>,
}

impl Lines {
    pub(crate) async fn open(url: &str) -> Lines {
        let res = Client::new().get(url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        Lines { body: Box::pin(res.bytes_stream()), buffer: vec![] }
    }

    pub(crate) async fn next(&mut self) -> Value {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return serde_json::from_slice(&line).unwrap();
            }
            let chunk = timeout(Duration::from_secs(10), self.body.next()).await.expect("a line in time");
            self.buffer.extend_from_slice(&chunk.expect("stream open").unwrap());
        }
    }

    /// The next notification that is not a ping.
    pub(crate) async fn event(&mut self) -> Value {
        self.find(|_| true).await
    }

    /// The next notification, other than a ping, that `wanted` accepts.
    pub(crate) async fn find(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        let search = async {
            loop {
                let line = self.next().await;
                if line["action"] != "ping" && wanted(&line) {
                    return line;
                }
            }
        };
        timeout(Duration::from_secs(15), search).await.expect("the awaited notification in time")
    }
}
