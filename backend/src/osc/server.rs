//! OSC transports: UDP (one blocking thread: receive, dispatch, reply, with
//! future bundles waiting in a priority queue on the same thread, so
//! bundles run atomically and in order), TCP with SLIP framing (a task per
//! connection), the discovery announcement, and the traffic feed the
//! WebSocket bridge shows.

use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::codec::{self, Arg, DecodeError, Message, Packet};
use super::slip;
use crate::http::Shared;
use crate::namespace::{self, After, Namespace, Powers};

/// Replies larger than this travel as `#split` fragments.
pub const MAX_DATAGRAM: usize = 60_000;
/// Largest message reassembled from fragments.
const MAX_SPLIT: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct OscConfig {
    pub host: IpAddr,
    /// UDP and TCP port (0: any free one).
    pub port: u16,
    /// Send replies to this port of the sender's host (OSW sent them to 7708).
    pub reply_port: Option<u16>,
    /// Where announcements go (port 7706); `None` turns them off.
    pub discovery: Option<SocketAddr>,
    /// Also announce the service by DNS-SD (`_osc._udp`).
    pub dns_sd: bool,
    pub powers: Powers,
}

/// One OSC message in or out, for the bridge.
#[derive(Debug, Clone)]
pub struct Traffic {
    pub incoming: bool,
    pub peer: SocketAddr,
    pub message: Message,
}

/// The running OSC service.
pub struct Osc {
    pub port: u16,
    pub traffic: broadcast::Sender<Traffic>,
    pub powers: Powers,
    /// Withdrawn when the server (and so this) goes.
    _dns_sd: Option<super::dns_sd::Announcement>,
}

impl Osc {
    /// Replies to one message as the UDP path would, for the WebSocket bridge.
    pub async fn dispatch(
        &self,
        state: &Shared,
        peer: SocketAddr,
        message: Message,
    ) -> (Vec<Message>, After) {
        publish(&self.traffic, true, peer, &message);
        let (replies, after) = Namespace { state, powers: &self.powers }.handle(&message).await;
        for r in &replies {
            publish(&self.traffic, false, peer, r);
        }
        (replies, after)
    }
}

fn publish(traffic: &broadcast::Sender<Traffic>, incoming: bool, peer: SocketAddr, message: &Message) {
    // Cloning messages costs: only when someone watches.
    if traffic.receiver_count() > 0 {
        let _ = traffic.send(Traffic { incoming, peer, message: message.clone() });
    }
}

/// UDP and TCP on one port number. With port 0 the system picks the UDP
/// port, whose TCP twin may be taken: then another pick is tried.
async fn bind_pair(host: IpAddr, port: u16) -> std::io::Result<(UdpSocket, tokio::net::TcpListener)> {
    let mut tries = if port == 0 { 20 } else { 1 };
    loop {
        let udp = UdpSocket::bind((host, port))?;
        let picked = udp.local_addr()?.port();
        match tokio::net::TcpListener::bind((host, picked)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if tries <= 1 => return Err(e),
            Err(_) => tries -= 1,
        }
    }
}

/// Binds UDP and TCP on the same port and starts serving.
pub async fn start(
    state: Shared,
    config: OscConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<Arc<Osc>> {
    let (udp, tcp) = bind_pair(config.host, config.port).await?;
    let port = udp.local_addr()?.port();
    let (traffic, _) = broadcast::channel(4096);
    let mut powers = config.powers.clone();
    powers.osc_port = port;
    // Discovery is a convenience: failing to announce leaves OSC serving.
    let dns_sd = config
        .dns_sd
        .then(|| super::dns_sd::announce(config.host, port))
        .and_then(|r| r.map_err(|e| tracing::warn!("cannot announce OSC by DNS-SD: {e}")).ok());
    let osc = Arc::new(Osc { port, traffic, powers, _dns_sd: dns_sd });

    let runtime = tokio::runtime::Handle::current();
    {
        let (state, osc, stop, reply_port) =
            (state.clone(), osc.clone(), shutdown.clone(), config.reply_port);
        std::thread::Builder::new()
            .name("patchbay-osc".into())
            .spawn(move || UdpLoop::new(udp, state, osc, stop, reply_port, runtime).run())?;
    }
    {
        let (state, osc, stop) = (state.clone(), osc.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    Ok((stream, peer)) = tcp.accept() => {
                        tokio::spawn(serve_tcp(stream, peer, state.clone(), osc.clone(), stop.clone()));
                    }
                    _ = stop.cancelled() => return,
                }
            }
        });
    }
    if let Some(target) = config.discovery {
        tokio::spawn(announce(state, osc.clone(), target, shutdown));
    }
    tracing::info!(port, "OSC on UDP and TCP");
    Ok(osc)
}

/// An OSC time tag now (NTP: seconds since 1900, 32.32 fixed point).
pub fn ntp_now() -> u64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    ((d.as_secs() + 2_208_988_800) << 32) | (((d.subsec_nanos() as u64) << 32) / 1_000_000_000)
}

fn ntp_to_duration_from_now(tag: u64) -> Duration {
    let now = ntp_now();
    let delta = tag.saturating_sub(now);
    Duration::from_nanos(((delta as u128 * 1_000_000_000) >> 32) as u64)
}

/// Splits an encoded message that is too large for one datagram.
pub fn split(bytes: &[u8]) -> Vec<Vec<u8>> {
    if bytes.len() <= MAX_DATAGRAM {
        return vec![bytes.to_vec()];
    }
    let chunk = MAX_DATAGRAM - 64;
    let n = bytes.len().div_ceil(chunk);
    bytes
        .chunks(chunk)
        .enumerate()
        .map(|(i, c)| {
            codec::encode_message(&Message::new(
                "#split",
                vec![Arg::Int(i as i32), Arg::Int(n as i32), Arg::Blob(c.to_vec())],
            ))
        })
        .collect()
}

/// Fragments of one `#split` message from one sender.
struct Partial {
    parts: Vec<Option<Vec<u8>>>,
    size: usize,
    since: Instant,
}

/// Collects `#split i n blob` fragments; returns the whole message when complete.
fn reassemble(
    partials: &mut HashMap<SocketAddr, Partial>,
    peer: SocketAddr,
    m: &Message,
) -> Result<Option<Vec<u8>>, String> {
    let (Some(i), Some(n), Some(Arg::Blob(data))) =
        (m.args.first().and_then(Arg::as_i64), m.args.get(1).and_then(Arg::as_i64), m.args.get(2))
    else {
        return Err("#split takes: fragment number, fragment count, blob".into());
    };
    if n < 1 || i < 0 || i >= n || n > (MAX_SPLIT / 1024) as i64 {
        return Err(format!("bad fragment {i} of {n}"));
    }
    partials.retain(|_, p| p.since.elapsed() < Duration::from_secs(10));
    let p = partials.entry(peer).or_insert_with(|| Partial {
        parts: vec![None; n as usize],
        size: 0,
        since: Instant::now(),
    });
    if p.parts.len() != n as usize {
        *p = Partial { parts: vec![None; n as usize], size: 0, since: Instant::now() };
    }
    p.size += data.len();
    if p.size > MAX_SPLIT {
        partials.remove(&peer);
        return Err("split message larger than 16 MiB".into());
    }
    p.parts[i as usize] = Some(data.clone());
    if p.parts.iter().all(Option::is_some) {
        let p = partials.remove(&peer).expect("present");
        return Ok(Some(p.parts.into_iter().flatten().flatten().collect()));
    }
    Ok(None)
}

/// A bundle waiting for its time.
struct Due {
    at: Instant,
    seq: u64,
    peer: SocketAddr,
    content: Vec<Packet>,
}
impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    /// Earliest first (the heap is a max-heap), then in arrival order.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

struct UdpLoop {
    socket: UdpSocket,
    state: Shared,
    osc: Arc<Osc>,
    stop: CancellationToken,
    reply_port: Option<u16>,
    runtime: tokio::runtime::Handle,
    partials: HashMap<SocketAddr, Partial>,
    queue: BinaryHeap<Due>,
    seq: u64,
    /// Replies to send at the end of this batch.
    out: Vec<(Vec<u8>, SocketAddr)>,
}

impl UdpLoop {
    fn new(
        socket: UdpSocket,
        state: Shared,
        osc: Arc<Osc>,
        stop: CancellationToken,
        reply_port: Option<u16>,
        runtime: tokio::runtime::Handle,
    ) -> UdpLoop {
        UdpLoop {
            socket,
            state,
            osc,
            stop,
            reply_port,
            runtime,
            partials: HashMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            out: vec![],
        }
    }

    fn run(mut self) {
        // The lab's futures spawn tokio tasks: they need the runtime's context.
        let runtime = self.runtime.clone();
        let _context = runtime.enter();
        let mut batch = super::batch::Batch::default();
        let mut timeout = Duration::ZERO;
        // Wait for one datagram; after any, drain without waiting until none is left.
        let mut wait_for_one = true;
        while !self.stop.is_cancelled() {
            let wait = self.queue.peek().map_or(Duration::from_millis(100), |d| {
                d.at.saturating_duration_since(Instant::now())
                    .clamp(Duration::from_micros(50), Duration::from_millis(100))
            });
            // A system call: only when the timeout changes (not once per packet).
            if wait != timeout {
                let _ = self.socket.set_read_timeout(Some(wait));
                timeout = wait;
            }
            let received = if wait_for_one {
                batch.wait_for_one(&self.socket)
            } else {
                batch.take_waiting(&self.socket)
            };
            match received {
                Ok(n) => {
                    for i in 0..n {
                        let (bytes, peer) = batch.datagram(i);
                        self.packet(bytes, peer);
                    }
                    wait_for_one = n == 0;
                }
                Err(e)
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    wait_for_one = true
                }
                Err(e) => {
                    tracing::debug!("OSC receive: {e}");
                    wait_for_one = true;
                }
            }
            while self.queue.peek().is_some_and(|d| d.at <= Instant::now()) {
                let due = self.queue.pop().expect("peeked");
                for p in due.content {
                    self.run_packet(p, due.peer);
                }
            }
            // All the replies to this batch in one system call.
            for (bytes, to) in self.out.drain(..) {
                batch.queue(bytes, to);
            }
            batch.flush(&self.socket);
        }
    }

    fn packet(&mut self, bytes: &[u8], peer: SocketAddr) {
        match codec::decode(bytes) {
            Ok(p) => self.run_packet(p, peer),
            Err(DecodeError { addr: Some(addr), reason }) => {
                self.send(&namespace::error(&addr, reason), peer)
            }
            Err(e) => tracing::warn!(%peer, "refused an OSC packet: {e}"),
        }
    }

    fn run_packet(&mut self, packet: Packet, peer: SocketAddr) {
        match packet {
            Packet::Bundle { time, content } if time > ntp_now() => {
                let at = Instant::now() + ntp_to_duration_from_now(time);
                self.seq += 1;
                self.queue.push(Due { at, seq: self.seq, peer, content });
            }
            // Immediately (1) or already past: now, in order.
            Packet::Bundle { content, .. } => content.into_iter().for_each(|p| self.run_packet(p, peer)),
            Packet::Message(m) if m.addr == "#split" => match reassemble(&mut self.partials, peer, &m) {
                Ok(Some(whole)) => match codec::decode_unbounded(&whole) {
                    Ok(p) => self.run_packet(p, peer),
                    Err(e) => {
                        self.send(&namespace::error(e.addr.as_deref().unwrap_or("#split"), e.reason), peer)
                    }
                },
                Ok(None) => {}
                Err(e) => self.send(&namespace::error("#split", e), peer),
            },
            Packet::Message(m) => {
                // A bug must not take OSC down for everyone: report it and go on.
                let addr = m.addr.clone();
                let run = std::panic::AssertUnwindSafe(|| self.message(m, peer));
                if std::panic::catch_unwind(run).is_err() {
                    tracing::error!(%addr, "OSC handler panicked");
                    self.send(&namespace::error(&addr, "Internal error"), peer);
                }
            }
        }
    }

    fn message(&mut self, m: Message, peer: SocketAddr) {
        let (replies, after) = {
            let mut dispatch = Box::pin(self.osc.dispatch(&self.state, peer, m));
            // Engine and builtin addresses never wait: poll once. The lab's may: block on them.
            match (&mut dispatch).now_or_never() {
                Some(r) => r,
                None => self.runtime.block_on(dispatch),
            }
        };
        for r in &replies {
            self.send(r, peer);
        }
        if after == After::Quit {
            self.stop.cancel();
        }
    }

    /// Queues a reply; the loop sends each batch's replies together.
    fn send(&mut self, m: &Message, peer: SocketAddr) {
        let to = match self.reply_port {
            Some(port) => SocketAddr::new(peer.ip(), port),
            None => peer,
        };
        for datagram in split(&codec::encode_message(m)) {
            self.out.push((datagram, to));
        }
    }
}

async fn serve_tcp(
    mut stream: tokio::net::TcpStream,
    peer: SocketAddr,
    state: Shared,
    osc: Arc<Osc>,
    stop: CancellationToken,
) {
    let mut decoder = slip::Decoder::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = tokio::select! {
            r = stream.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
            _ = stop.cancelled() => return,
        };
        let (packets, dropped) = decoder.feed(&buf[..n], MAX_SPLIT);
        if dropped > 0 {
            tracing::warn!(%peer, "dropped {dropped} oversized OSC packet(s) on TCP");
        }
        for bytes in packets {
            let replies = match codec::decode_unbounded(&bytes) {
                Ok(p) => run_tcp_packet(p, peer, &state, &osc, &stop).await,
                Err(DecodeError { addr: Some(addr), reason }) => vec![namespace::error(&addr, reason)],
                Err(e) => {
                    tracing::warn!(%peer, "refused an OSC packet on TCP: {e}");
                    vec![]
                }
            };
            for r in replies {
                if stream.write_all(&slip::encode(&codec::encode_message(&r))).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Runs a packet from TCP: future bundles wait in this connection's task.
async fn run_tcp_packet(
    p: Packet,
    peer: SocketAddr,
    state: &Shared,
    osc: &Osc,
    stop: &CancellationToken,
) -> Vec<Message> {
    let mut stack = vec![p];
    let mut replies = vec![];
    while let Some(p) = stack.pop() {
        match p {
            Packet::Bundle { time, content } => {
                if time > ntp_now() {
                    tokio::time::sleep(ntp_to_duration_from_now(time)).await;
                }
                stack.extend(content.into_iter().rev());
            }
            Packet::Message(m) => {
                let (r, after) = osc.dispatch(state, peer, m).await;
                replies.extend(r);
                if after == After::Quit {
                    stop.cancel();
                }
            }
        }
    }
    replies
}

/// Every few seconds: `/patchbay/announce "Patchbay x.y" port uptime activations-per-second`.
async fn announce(state: Shared, osc: Arc<Osc>, target: SocketAddr, stop: CancellationToken) {
    let socket = match tokio::net::UdpSocket::bind((if target.is_ipv4() { "0.0.0.0" } else { "::" }, 0)).await
    {
        Ok(s) => s,
        Err(e) => return tracing::warn!("discovery disabled: {e}"),
    };
    let _ = socket.set_broadcast(true);
    let started = Instant::now();
    let mut last = (Instant::now(), state.sound.with(|e| e.activations()));
    let mut tick = tokio::time::interval(Duration::from_secs(3));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        let activations = state.sound.with(|e| e.activations());
        let rate = (activations - last.1) as f64 / last.0.elapsed().as_secs_f64().max(1e-3);
        last = (Instant::now(), activations);
        let m = Message::new(
            "/patchbay/announce",
            vec![
                Arg::Str(format!("Patchbay {}", env!("CARGO_PKG_VERSION"))),
                Arg::Int(osc.port as i32),
                Arg::Float(started.elapsed().as_secs_f32()),
                Arg::Float(rate as f32),
            ],
        );
        let _ = socket.send_to(&codec::encode_message(&m), target).await;
    }
}
