//! OSC, the OSW interface to the whole server.
//!
//! Layout:
//! - I/O-free, used by the namespace and the transports alike:
//!   [`codec`] (packets to and from bytes; rosc for standard messages),
//!   [`pattern`] (address patterns), [`slip`] (TCP framing), [`split`]
//!   (`#split` fragments and their reassembly), [`time`] (time tags),
//!   [`schedule`] (future bundles waiting for their time);
//! - transports over [`crate::app::App`]: [`udp`] (with scheduled bundles
//!   and [`batch`]ed system calls), [`tcp`], [`discovery`] and [`dns_sd`]
//!   (announcements); [`start`] binds and starts them all.
//!
//! What messages mean is [`crate::namespace`]'s business.

pub(crate) mod batch;
pub mod codec;
pub(crate) mod deadline;
pub(crate) mod discovery;
pub(crate) mod dns_sd;
pub mod pattern;
pub(crate) mod schedule;
pub(crate) mod session;
pub mod size_prefix;
pub mod slip;
pub mod split;
pub(crate) mod tcp;
pub mod time;
pub(crate) mod udp;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;

use crate::app::App;

/// A packet that could not be read at all, on any transport: one log line
/// (rate-limited), no reply, as there is no address to send it to.
pub fn refused_packet(transport: &str, peer: SocketAddr, e: &codec::DecodeError) {
    crate::limit_log::limit_hit(
        "osc-decode",
        format_args!("refused an OSC packet over {transport} from {peer}: {e}"),
    );
}

/// OSC from a source outside `--osc-allow`: dropped without a reply (it
/// is counted by [`crate::access::Sources`]), and one log line, rate-limited.
pub fn refused_source(transport: &str, peer: SocketAddr) {
    crate::limit_log::limit_hit(
        "osc-source",
        format_args!("dropped OSC over {transport} from {peer}: not in --osc-allow"),
    );
}

/// Where and how OSC is served.
#[derive(Debug, Clone)]
pub struct OscConfig {
    /// Send replies to this port of the sender's host (OSW sent them to 7708).
    pub reply_port: Option<u16>,
    /// Where announcements go (port 7706); `None` turns them off.
    pub discovery: Option<SocketAddr>,
    /// Also announce the service by DNS-SD (`_osc._udp`, and `_oscjson._tcp`
    /// for OSCQuery when it listens).
    pub dns_sd: bool,
    /// Where OSCQuery listens, to announce beside OSC.
    pub oscquery_port: Option<u16>,
}

/// The OSC sockets, bound before the model is built (it shows the port).
pub struct Sockets {
    udp: UdpSocket,
    tcp: tokio::net::TcpListener,
    /// The port both are bound to.
    pub port: u16,
}

/// UDP and TCP on one port number. With port 0 the system picks the UDP
/// port, whose TCP twin may be taken: then another pick is tried.
pub async fn bind(host: IpAddr, port: u16) -> std::io::Result<Sockets> {
    let mut tries = if port == 0 { 20 } else { 1 };
    loop {
        let udp = UdpSocket::bind((host, port))?;
        let picked = udp.local_addr()?.port();
        match tokio::net::TcpListener::bind((host, picked)).await {
            Ok(tcp) => return Ok(Sockets { udp, tcp, port: picked }),
            Err(e) if tries <= 1 => return Err(e),
            Err(_) => tries -= 1,
        }
    }
}

/// The running OSC service; dropping it withdraws the DNS-SD announcement.
pub struct Osc {
    /// The port it serves, UDP and TCP.
    pub port: u16,
    _dns_sd: Option<dns_sd::Announcement>,
}

/// Starts serving OSC on the bound sockets until the app shuts down.
pub fn start(sockets: Sockets, app: Arc<App>, config: &OscConfig) -> anyhow::Result<Osc> {
    let Sockets { udp, tcp, port } = sockets;
    let host = udp.local_addr()?.ip();
    let receive_buffer = udp::raise_receive_buffer(&udp);
    if receive_buffer < udp::RECEIVE_BUFFER {
        tracing::warn!(
            receive_buffer,
            "the OSC receive buffer is smaller than the {} asked: raise net.core.rmem_max for fewer losses in bursts",
            udp::RECEIVE_BUFFER
        );
    }
    // Discovery is a convenience: failing to announce leaves OSC serving.
    let dns_sd = config
        .dns_sd
        .then(|| dns_sd::announce(host, port, config.oscquery_port))
        .and_then(|r| r.map_err(|e| tracing::warn!("cannot announce OSC by DNS-SD: {e}")).ok());

    let runtime = tokio::runtime::Handle::current();
    {
        let (app, reply_port) = (app.clone(), config.reply_port);
        udp::serve_on_engine(udp, app, reply_port, runtime);
    }
    {
        let app = app.clone();
        let connections = Arc::new(tcp::sessions());
        tokio::spawn(async move {
            let stop = app.shutdown.clone();
            loop {
                tokio::select! {
                    Ok((stream, peer)) = tcp.accept() => {
                        if !app.model.powers.osc_sources.admit(peer.ip()) {
                            refused_source("TCP", peer);
                            continue; // dropping the stream closes it
                        }
                        tokio::spawn(tcp::serve(stream, peer, app.clone(), connections.clone()));
                    }
                    _ = stop.cancelled() => return,
                }
            }
        });
    }
    if let Some(target) = config.discovery {
        tokio::spawn(discovery::announce(app, port, target));
    }
    tracing::info!(port, receive_buffer, "OSC on UDP and TCP");
    Ok(Osc { port, _dns_sd: dns_sd })
}
