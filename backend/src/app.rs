//! One entry point for every view: a request from UDP, TCP or the WebSocket
//! bridge is dispatched here into the namespace over the model, its traffic
//! is published for whoever watches, and `/osw-quit` stops the server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;

use crate::access::Role;
use crate::fanout::{self, Fanout, Weigh};
use crate::model::Model;
use crate::namespace::{After, Namespace};
use crate::osc::codec::{Arg, Message};

/// What the traffic feed holds for a slow watcher: it loses the oldest
/// messages past this many, and is closed past this many bytes.
pub(crate) const TRAFFIC_LIMITS: fanout::Limits =
    fanout::Limits { events: 4096, bytes: 4 * 1024 * 1024, total_bytes: 32 * 1024 * 1024 };

/// One OSC message in or out, for the bridge's traffic view.
#[derive(Debug, Clone)]
pub struct Traffic {
    pub incoming: bool,
    pub peer: SocketAddr,
    pub message: Message,
}

impl Weigh for Arc<Traffic> {
    /// About what the message takes in memory, walked without recursion.
    fn bytes(&self) -> usize {
        const ARG: usize = std::mem::size_of::<Arg>();
        let mut bytes = std::mem::size_of::<Traffic>() + self.message.addr.len();
        let mut stack = vec![&self.message.args];
        while let Some(args) = stack.pop() {
            for a in args {
                bytes += ARG;
                match a {
                    Arg::Str(s) | Arg::Symbol(s) => bytes += s.len(),
                    Arg::Blob(b) => bytes += b.len(),
                    Arg::Samples(s) => bytes += 4 * s.len(),
                    Arg::Array(inner) => stack.push(inner),
                    _ => {}
                }
            }
        }
        bytes
    }
}

/// The model and what the views share besides it.
pub struct App {
    pub model: Model,
    traffic: Fanout<Arc<Traffic>>,
    /// Cancelled on shutdown (or by `/osw-quit`), so every view ends.
    pub shutdown: CancellationToken,
}

impl App {
    pub fn new(model: Model, shutdown: CancellationToken) -> App {
        App { model, traffic: Fanout::new("bridge", TRAFFIC_LIMITS), shutdown }
    }

    /// Every reply to one OSC message, whichever transport brought it.
    /// `role` is what the sender may do (OSC over UDP and TCP: admin, from
    /// an allowed source; the bridge: its token's role). `at` is the time
    /// of the timed bundle it came in, if it did.
    pub async fn osc(
        &self,
        peer: SocketAddr,
        message: Message,
        role: Role,
        at: Option<SystemTime>,
    ) -> Vec<Message> {
        self.publish(true, peer, &message);
        let (replies, after) = Namespace { model: &self.model, role, at }.handle(&message).await;
        for r in &replies {
            self.publish(false, peer, r);
        }
        if after == After::Quit {
            tracing::info!(%peer, "stopping: /osw-quit");
            self.shutdown.cancel();
        }
        replies
    }

    /// [`App::osc`] for the requests the namespace answers at once
    /// ([`Namespace::handle_at_once`]), with no future to build; `None`
    /// (and nothing published) for the rest.
    pub fn osc_at_once(
        &self,
        peer: SocketAddr,
        message: &Message,
        role: Role,
        at: Option<SystemTime>,
    ) -> Option<Message> {
        let reply = Namespace { model: &self.model, role, at }.handle_at_once(message)?;
        self.publish(true, peer, message);
        self.publish(false, peer, &reply);
        Some(reply)
    }

    /// A feed of the OSC traffic, in and out, from every transport.
    pub fn traffic(&self) -> fanout::Receiver<Arc<Traffic>> {
        self.traffic.subscribe()
    }

    fn publish(&self, incoming: bool, peer: SocketAddr, message: &Message) {
        // Cloning messages costs: only when someone watches.
        if self.traffic.receiver_count() > 0 {
            self.traffic.send(Arc::new(Traffic { incoming, peer, message: message.clone() }));
        }
    }
}
