//! What the page knows of the server, kept current by the notification
//! WebSocket: one store per resource (the projects, the selected project's
//! PCs and switches, the patch), each filled once and then changed by the
//! deltas the notifications carry (see `patchbay_shared::lab_delta` and
//! `patch_delta`). No view refetches because another resource changed; a
//! reconnect after a drop fills every store once again.
//!
//! - [`lab`]: the projects and the selected project's nodes;
//! - [`patch`]: the engine's patch;
//! - [`refill`]: how each store is fetched and refetched.

pub mod lab;
pub mod patch;
mod refill;

use futures::StreamExt;
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, State};
use leptos::prelude::*;
use leptos::task::spawn_local;
use patchbay_shared::engine::Change;
use patchbay_shared::lab_delta::LabDelta;
use patchbay_shared::{action, Notification};

/// How many events the log keeps.
const LOG_LENGTH: usize = 200;

#[derive(Clone, Copy)]
pub struct Live {
    pub connected: RwSignal<bool>,
    /// Newest first.
    pub log: RwSignal<Vec<(u64, Notification)>>,
    pub error: RwSignal<Option<String>>,
    pub lab: lab::LabStore,
    pub patch: patch::PatchStore,
}

impl Live {
    pub fn connect() -> Self {
        let error = RwSignal::new(None);
        let live = Live {
            connected: RwSignal::new(false),
            log: RwSignal::new(vec![]),
            error,
            lab: lab::LabStore::new(error),
            patch: patch::PatchStore::new(error),
        };
        let boot = crate::boot::socket();
        // The patch `boot.js` fetched, if it is in: the first render shows it.
        let filled = boot.as_ref().is_some_and(|b| {
            let open = b.socket.ready_state() == web_sys::WebSocket::OPEN;
            open && b.patch_now.as_ref().is_some_and(|(patch, ports)| live.patch.fill(patch, ports))
        });
        spawn_local(live.run(boot, filled));
        live
    }

    /// Runs an API call; its error, if any, goes to the banner. Its effect
    /// arrives as a notification; without the socket, the stores fetch.
    pub fn act<F>(self, call: F)
    where
        F: std::future::Future<Output = Result<(), String>> + 'static,
    {
        spawn_local(async move {
            if let Err(e) = call.await {
                self.error.set(Some(e));
            }
            if !self.connected.get_untracked() {
                self.resync();
            }
        });
    }

    fn resync(&self) {
        self.lab.resync();
        self.patch.resync();
    }

    /// Keeps a socket open, reconnecting after a pause whenever it drops;
    /// once it is open, the stores fill, so that no change falls between
    /// what they fetch and what the socket brings. The first socket is the
    /// one `boot.js` opened, if it did, with what it held meanwhile;
    /// `filled`: the patch store already has what `boot.js` fetched.
    async fn run(self, mut boot: Option<crate::boot::Socket>, mut filled: bool) {
        let mut seq = 0u64;
        loop {
            let (socket, held) = match boot.take() {
                Some(b) => (WebSocket::try_from(b.socket).map_err(|e| e.to_string()), b.held),
                None => (crate::auth::open_socket("/v1/notifications/ws"), vec![]),
            };
            if let Ok(socket) = socket {
                while matches!(socket.state(), State::Connecting) {
                    // Looked at often: the stores' first fill waits for it.
                    gloo_timers::future::TimeoutFuture::new(2).await;
                }
                if matches!(socket.state(), State::Open) {
                    self.connected.set(true);
                    self.lab.resync();
                    if !std::mem::take(&mut filled) {
                        self.patch.resync_from(crate::boot::patch());
                    }
                }
                let (_sink, mut stream) = socket.split();
                for text in held {
                    self.receive(&text, &mut seq);
                }
                while let Some(Ok(Message::Text(text))) = stream.next().await {
                    self.receive(&text, &mut seq);
                }
            }
            self.connected.set(false);
            gloo_timers::future::TimeoutFuture::new(1000).await;
        }
    }

    /// Takes in one notification: to its store, and to the log.
    fn receive(&self, text: &str, seq: &mut u64) {
        let Ok(note) = serde_json::from_str::<Notification>(text) else {
            return;
        };
        if note.action == action::PING {
            return;
        }
        self.dispatch(&note);
        *seq += 1;
        self.log.update(|log| {
            log.insert(0, (*seq, note));
            log.truncate(LOG_LENGTH);
        });
    }

    /// Hands a notification to the one store it concerns.
    fn dispatch(&self, note: &Notification) {
        if let Some(delta) = LabDelta::of(note) {
            self.lab.apply(delta);
        } else if note.action == action::ENGINE_CHANGED {
            match serde_json::from_value::<Change>(note.event.clone()) {
                Ok(change) => self.patch.apply(change),
                Err(_) => self.patch.resync(),
            }
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
