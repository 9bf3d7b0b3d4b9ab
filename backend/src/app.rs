//! One entry point for every view: a request from UDP, TCP or the WebSocket
//! bridge is dispatched here into the namespace over the model, its traffic
//! is published for whoever watches, and `/osw-quit` stops the server.

use std::net::SocketAddr;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::model::Model;
use crate::namespace::{After, Namespace};
use crate::osc::codec::Message;

/// OSC messages the traffic feed holds for a slow watcher before it loses the oldest.
const TRAFFIC_BUFFER: usize = 4096;

/// One OSC message in or out, for the bridge's traffic view.
#[derive(Debug, Clone)]
pub struct Traffic {
    pub incoming: bool,
    pub peer: SocketAddr,
    pub message: Message,
}

/// The model and what the views share besides it.
pub struct App {
    pub model: Model,
    traffic: broadcast::Sender<Traffic>,
    /// Cancelled on shutdown (or by `/osw-quit`), so every view ends.
    pub shutdown: CancellationToken,
}

impl App {
    pub fn new(model: Model, shutdown: CancellationToken) -> App {
        let (traffic, _) = broadcast::channel(TRAFFIC_BUFFER);
        App { model, traffic, shutdown }
    }

    /// Every reply to one OSC message, whichever transport brought it.
    pub async fn osc(&self, peer: SocketAddr, message: Message) -> Vec<Message> {
        self.publish(true, peer, &message);
        let (replies, after) = Namespace { model: &self.model }.handle(&message).await;
        for r in &replies {
            self.publish(false, peer, r);
        }
        if after == After::Quit {
            tracing::info!(%peer, "stopping: /osw-quit");
            self.shutdown.cancel();
        }
        replies
    }

    /// A feed of the OSC traffic, in and out, from every transport.
    pub fn traffic(&self) -> broadcast::Receiver<Traffic> {
        self.traffic.subscribe()
    }

    fn publish(&self, incoming: bool, peer: SocketAddr, message: &Message) {
        // Cloning messages costs: only when someone watches.
        if self.traffic.receiver_count() > 0 {
            let _ = self.traffic.send(Traffic { incoming, peer, message: message.clone() });
        }
    }
}
