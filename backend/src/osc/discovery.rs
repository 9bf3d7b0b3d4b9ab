//! The discovery announcement: every few seconds a datagram that says a
//! Patchbay server is here, on which port, how long it has run and how busy
//! its engine is.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::codec::{self, Arg, Message};
use crate::app::App;

/// Every few seconds: `/patchbay/announce "Patchbay x.y" port uptime activations-per-second`.
pub(crate) async fn announce(app: Arc<App>, port: u16, target: SocketAddr) {
    let stop = app.shutdown.clone();
    let socket = match tokio::net::UdpSocket::bind((if target.is_ipv4() { "0.0.0.0" } else { "::" }, 0)).await
    {
        Ok(s) => s,
        Err(e) => return tracing::warn!("discovery disabled: {e}"),
    };
    let _ = socket.set_broadcast(true);
    let started = Instant::now();
    let mut last = (Instant::now(), app.model.engine.with(|e| e.activations()));
    let mut tick = tokio::time::interval(Duration::from_secs(3));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        let activations = app.model.engine.with(|e| e.activations());
        let rate = (activations - last.1) as f64 / last.0.elapsed().as_secs_f64().max(1e-3);
        last = (Instant::now(), activations);
        let m = Message::new(
            "/patchbay/announce",
            vec![
                Arg::Str(format!("Patchbay {}", env!("CARGO_PKG_VERSION"))),
                Arg::Int(port as i32),
                Arg::Float(started.elapsed().as_secs_f32()),
                Arg::Float(rate as f32),
            ],
        );
        let _ = socket.send_to(&codec::encode_message(&m), target).await;
    }
}
