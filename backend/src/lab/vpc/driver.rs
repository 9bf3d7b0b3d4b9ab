//! The tokio task behind a started virtual PC: it owns the tunnel's
//! endpoint and the console's TCP listener, feeds the [`Pc`] and carries out
//! what it emits. It sleeps until a datagram, a keystroke, a command or the
//! PC's own deadline arrives, so an idle PC costs no CPU. It runs on the
//! lab's thread, with every other PC and switch.

use std::net::IpAddr;
use std::time::Instant;

use bytes::Bytes;
use patchbay_shared::Nio;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::pc::{ClientId, IpConfig, Output, Pc, TunnelInfo, BANNER};
use super::telnet::{self, Input, LineEditor};
use crate::lab::network_thread;
use crate::lab::tunnel::{self, Endpoint, Wake};

/// What the lab tells a running PC.
#[derive(Debug)]
pub enum Command {
    SetNio(Option<Nio>),
    SetScript(Option<String>),
    /// Writes every frame sent or received to this pcap file until stopped.
    StartCapture(std::fs::File),
    StopCapture,
}

/// Unbuffered, so a capture can be read while it is written.
type Capture = pcap_file::pcap::PcapWriter<std::fs::File>;

/// Appends one frame to the capture; a failing disk ends the capture, not the PC.
fn record(capture: &mut Option<Capture>, frame: &[u8]) {
    let Some(writer) = capture else { return };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let packet = pcap_file::pcap::PcapPacket::new(now, frame.len() as u32, frame);
    if let Err(e) = writer.write_packet(&packet) {
        tracing::error!("packet capture stopped: {e}");
        *capture = None;
    }
}

/// What a running PC tells the lab.
#[derive(Debug)]
pub enum Event {
    /// Its address changed: the lab announces `vm.updated`.
    IpChanged(Uuid),
    /// `save` on the console: the lab stores the script as `startup_script`.
    ScriptSaved(Uuid, String),
}

/// What a PC needs to start.
pub struct Spec {
    pub vm_id: Uuid,
    pub host: IpAddr,
    pub console: u16,
    pub mac: [u8; 6],
    pub nio: Option<Nio>,
    pub script: Option<String>,
    pub events: mpsc::UnboundedSender<Event>,
}

/// The running PC, seen from the lab. Dropping it stops the PC: the task,
/// its sockets and its console clients all end.
pub struct Handle {
    commands: mpsc::UnboundedSender<Command>,
    ip: watch::Receiver<Option<IpConfig>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Handle {
    /// Binds the console and starts the PC. Fails if the console port is taken.
    pub fn start(spec: Spec) -> std::io::Result<Handle> {
        let listener = std::net::TcpListener::bind((spec.host, spec.console))?;
        listener.set_nonblocking(true)?;
        let (commands, rx) = mpsc::unbounded_channel();
        let (ip_tx, ip) = watch::channel(None);
        let task = network_thread::handle().spawn(run(spec, listener, rx, ip_tx));
        Ok(Handle { commands, ip, task: Some(task) })
    }

    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    pub fn ip(&self) -> Option<IpConfig> {
        *self.ip.borrow()
    }

    /// Stops the PC and waits until its task, and so its sockets, are gone.
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Console traffic: text for everyone, or the end of one client's session.
#[derive(Clone, Debug)]
enum ToConsole {
    Text(Bytes),
    Close(ClientId),
}

/// Keystrokes from a client, already assembled into lines.
enum FromConsole {
    Input(ClientId, Input),
}

const CONSOLE_BACKLOG: usize = 256;
/// Datagrams taken per wake-up, so a flood cannot starve the PC's console.
const BATCH: usize = 64;
/// Keystroke events a client may have queued before it is made to wait.
const INPUT_QUEUE: usize = 64;

async fn run(
    spec: Spec,
    listener: std::net::TcpListener,
    mut commands: mpsc::UnboundedReceiver<Command>,
    ip_tx: watch::Sender<Option<IpConfig>>,
) {
    // Registered here, with the reactor of the lab's thread.
    let Ok(listener) = TcpListener::from_std(listener) else {
        return tracing::error!(port = spec.console, "cannot listen on the console port");
    };
    let mut pc = Pc::new(spec.mac, spec.script.clone());
    // Made when the first client attaches and dropped with the last one: its
    // backlog is most of an idle PC's memory, and most consoles are never open.
    let mut to_console: Option<broadcast::Sender<ToConsole>> = None;
    let (input_tx, mut input_rx) = mpsc::channel::<FromConsole>(INPUT_QUEUE);
    let mut clients = JoinSet::new();
    let mut next_client: ClientId = 1;
    let mut tunnel = None;
    set_nio(&mut tunnel, &mut pc, spec.host, spec.nio.clone()).await;
    pc.boot(Instant::now());
    let mut shown_ip = None;
    let mut capture: Option<Capture> = None;

    // One timer for the PC's life, moved only when its deadline moves: a new
    // timer per wake-up costs a registration, and often a driver wake-up.
    let timer = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(timer);
    let mut armed: Option<tokio::time::Instant> = None;
    let mut deadline = None;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let id = next_client;
                    next_client += 1;
                    let output = to_console.get_or_insert_with(|| broadcast::channel(CONSOLE_BACKLOG).0).subscribe();
                    clients.spawn(serve_client(id, stream, pc.prompt(), output, input_tx.clone()));
                }
            }
            Some(FromConsole::Input(client, input)) = input_rx.recv() => match input {
                Input::Line(line) => pc.on_line(Instant::now(), client, &line),
                Input::Interrupt => pc.interrupt(Instant::now()),
            },
            wake = arrival(&tunnel) => receive_waiting(&tunnel, wake, &mut pc, &mut capture),
            Some(command) = commands.recv() => match command {
                Command::SetNio(nio) => set_nio(&mut tunnel, &mut pc, spec.host, nio).await,
                Command::SetScript(script) => pc.set_script(script),
                Command::StartCapture(file) => {
                    capture = pcap_file::pcap::PcapWriter::new(file)
                        .map_err(|e| tracing::error!("cannot start packet capture: {e}"))
                        .ok();
                }
                Command::StopCapture => capture = None,
            },
            () = &mut timer, if deadline.is_some() => {
                armed = None;
                pc.on_timer(Instant::now());
            }
            Some(_) = clients.join_next() => {
                if clients.is_empty() {
                    to_console = None;
                }
            }
        }
        // Frames leave last: a PC of ours receiving one runs as soon as this
        // task yields, with the bookkeeping already done.
        let frames = pc.take_frames();
        for output in pc.take_output() {
            match output {
                Output::Frame(_) => unreachable!("taken just above"),
                Output::Text(text) => {
                    if let Some(to_console) = &to_console {
                        let _ = to_console.send(ToConsole::Text(Bytes::from(telnet::encode(&text))));
                    }
                }
                Output::Disconnect(client) => {
                    if let Some(to_console) = &to_console {
                        let _ = to_console.send(ToConsole::Close(client));
                    }
                }
                Output::SaveScript(script) => {
                    let _ = spec.events.send(Event::ScriptSaved(spec.vm_id, script));
                }
            }
        }
        if pc.ip() != shown_ip {
            shown_ip = pc.ip();
            ip_tx.send_replace(shown_ip);
            let _ = spec.events.send(Event::IpChanged(spec.vm_id));
        }
        deadline = pc.deadline().map(tokio::time::Instant::from_std);
        if let Some(at) = deadline.filter(|at| armed != Some(*at)) {
            timer.as_mut().reset(at);
        }
        armed = deadline;
        send_frames(frames, &mut pc, &tunnel, &mut capture);
    }
}

/// Returns when a datagram may be waiting; never when there is no tunnel.
async fn arrival(tunnel: &Option<Endpoint>) -> Wake {
    match tunnel {
        Some(t) => t.wake().await,
        None => std::future::pending().await,
    }
}

thread_local! {
    /// One receive buffer per runtime thread rather than 64 KB per idle PC:
    /// frames are handled synchronously, so nothing holds it across an await.
    static FRAME: std::cell::RefCell<Box<[u8]>> = std::cell::RefCell::new(vec![0; 65536].into_boxed_slice());
}

/// Feeds the PC the datagrams waiting on the tunnel. The frames each one
/// provokes (an echo reply) leave before the next receive is tried: the
/// last, empty receive is a system call a ping's round trip need not wait for.
fn receive_waiting(tunnel: &Option<Endpoint>, wake: Wake, pc: &mut Pc, capture: &mut Option<Capture>) {
    let Some(endpoint) = tunnel else { return };
    FRAME.with_borrow_mut(|buffer| {
        for _ in 0..BATCH {
            let Ok((len, arrived)) = endpoint.receive(buffer, wake) else { return };
            record(capture, &buffer[..len]);
            pc.on_frame(arrived, &buffer[..len]);
            send_frames(pc.take_frames(), pc, tunnel, capture);
        }
    });
}

/// Sends the frames the PC has emitted, and tells it when they left.
fn send_frames(frames: Vec<Vec<u8>>, pc: &mut Pc, tunnel: &Option<Endpoint>, capture: &mut Option<Capture>) {
    if frames.is_empty() {
        return;
    }
    let left = Instant::now();
    for frame in frames {
        if let Some(endpoint) = tunnel {
            endpoint.send(&frame);
        }
        record(capture, &frame);
    }
    pc.frames_left(left);
}

/// Takes effect at once: the old socket closes, the new one binds.
async fn set_nio(tunnel: &mut Option<Endpoint>, pc: &mut Pc, host: IpAddr, nio: Option<Nio>) {
    *tunnel = None;
    pc.tunnel = None;
    let Some(nio) = nio else { return };
    let peer = match tunnel::resolve(&nio.rhost, nio.rport).await {
        Ok(peer) => Some(peer),
        Err(e) => {
            tracing::warn!("cannot resolve tunnel peer {}: {e}", nio.rhost);
            None
        }
    };
    match Endpoint::bind(host, nio.lport, peer).await {
        Ok(endpoint) => *tunnel = Some(endpoint),
        Err(e) => return tracing::error!("cannot bind tunnel port {}: {e}", nio.lport),
    }
    pc.tunnel = Some(TunnelInfo { lport: nio.lport, rhost: nio.rhost.clone(), rport: nio.rport });
}

/// One telnet client: negotiation, banner, then keystrokes in and shared output out.
async fn serve_client(
    id: ClientId,
    stream: TcpStream,
    prompt: String,
    mut output: broadcast::Receiver<ToConsole>,
    input: mpsc::Sender<FromConsole>,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let mut greeting = telnet::NEGOTIATION.to_vec();
    greeting.extend(telnet::encode(BANNER));
    greeting.extend(telnet::encode(&format!("\n{prompt}")));
    if writer.write_all(&greeting).await.is_err() {
        return;
    }
    let mut editor = LineEditor::default();
    let mut buffer = [0u8; 1024];
    loop {
        tokio::select! {
            read = reader.read(&mut buffer) => {
                let Ok(n @ 1..) = read else { return };
                let (events, echo) = editor.feed(&buffer[..n]);
                if !echo.is_empty() && writer.write_all(&echo).await.is_err() {
                    return;
                }
                for event in events {
                    if input.send(FromConsole::Input(id, event)).await.is_err() {
                        return;
                    }
                }
            }
            message = output.recv() => match message {
                Ok(ToConsole::Text(text)) => {
                    if writer.write_all(&text).await.is_err() {
                        return;
                    }
                }
                Ok(ToConsole::Close(client)) if client == id => {
                    let _ = writer.write_all(b"Good-bye\r\n").await;
                    let _ = writer.shutdown().await;
                    return;
                }
                Ok(ToConsole::Close(_)) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}
