//! The live connection to the server's notification WebSocket.
//!
//! Every notification bumps `version`, which the data views track, so the
//! page follows changes made by anyone (another browser, curl, OSC).

use futures::StreamExt;
use gloo_net::websocket::Message;
use leptos::prelude::*;
use leptos::task::spawn_local;
use patchbay_shared::Notification;

/// How many events the log keeps.
const LOG_LENGTH: usize = 200;

#[derive(Clone, Copy)]
pub struct Live {
    pub connected: RwSignal<bool>,
    /// Bumped on every change, by anyone.
    pub version: RwSignal<u64>,
    /// Newest first.
    pub log: RwSignal<Vec<(u64, Notification)>>,
    pub error: RwSignal<Option<String>>,
}

impl Live {
    pub fn connect() -> Self {
        let live = Live {
            connected: RwSignal::new(false),
            version: RwSignal::new(0),
            log: RwSignal::new(vec![]),
            error: RwSignal::new(None),
        };
        spawn_local(live.run());
        live
    }

    /// Re-fetches what the page shows (after our own actions, in case the socket is down).
    pub fn refresh(&self) {
        self.version.update(|v| *v += 1);
    }

    /// Runs an API call; its error, if any, goes to the banner.
    pub fn act<F>(self, call: F)
    where
        F: std::future::Future<Output = Result<(), String>> + 'static,
    {
        spawn_local(async move {
            if let Err(e) = call.await {
                self.error.set(Some(e));
            }
            self.refresh();
        });
    }

    /// Keeps a socket open, reconnecting after a pause whenever it drops.
    async fn run(self) {
        let mut seq = 0u64;
        loop {
            if let Ok(socket) = crate::auth::open_socket("/v1/notifications/ws") {
                let (_sink, mut stream) = socket.split();
                while let Some(Ok(Message::Text(text))) = stream.next().await {
                    self.connected.set(true);
                    let Ok(note) = serde_json::from_str::<Notification>(&text) else {
                        continue;
                    };
                    if note.action != "ping" {
                        seq += 1;
                        self.log.update(|log| {
                            log.insert(0, (seq, note));
                            log.truncate(LOG_LENGTH);
                        });
                        self.refresh();
                    }
                }
            }
            self.connected.set(false);
            gloo_timers::future::TimeoutFuture::new(1000).await;
        }
    }
}

/// The WebSocket URL of `path` on the server that served the page.
pub fn ws_url(path: &str) -> String {
    let location = web_sys::window().expect("a browser window").location();
    let scheme = if location.protocol().as_deref() == Ok("https:") { "wss" } else { "ws" };
    let host = location.host().unwrap_or_default();
    format!("{scheme}://{host}{path}")
}
