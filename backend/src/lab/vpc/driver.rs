//! The tokio task behind a started virtual PC: it owns the tunnel's
//! endpoint and the console's TCP listener, feeds the [`Pc`] and carries out
//! what it emits. It sleeps until a datagram, a keystroke, a command or the
//! PC's own deadline arrives, so an idle PC costs no CPU. It runs on the
//! lab's thread, with every other PC and switch.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use patchbay_shared::Nio;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch, Notify};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::capture::Capture;
use super::pc::{ClientId, IpConfig, Output, Pc, TunnelInfo, BANNER};
use super::telnet::{self, Input, LineEditor};
use crate::lab::network_thread;
use crate::lab::tunnel::{self, Endpoint, Wake};

/// What the lab tells a running PC.
#[derive(Debug)]
pub(crate) enum Command {
    SetNio(Option<Nio>),
    SetScript(Option<String>),
    /// Writes every frame sent or received to this pcap file until stopped.
    StartCapture(std::fs::File),
    /// Ends the capture; the sender hears when the file is complete.
    StopCapture(tokio::sync::oneshot::Sender<()>),
}

/// Queues one frame for the capture; a failing disk ends the capture, not the PC.
fn record(capture: &mut Option<Capture>, frame: &[u8]) {
    if capture.as_mut().is_some_and(|c| !c.record(frame)) {
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
pub(crate) struct Spec {
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
pub(crate) struct RunningPc {
    /// The pcap file being written since `start_capture`, as the API shows it.
    pub(crate) capture_path: Option<String>,
    commands: mpsc::UnboundedSender<Command>,
    ip: watch::Receiver<Option<IpConfig>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningPc {
    /// Binds the console and starts the PC. Fails if the console port is taken.
    pub(crate) fn start(spec: Spec) -> std::io::Result<RunningPc> {
        let listener = std::net::TcpListener::bind((spec.host, spec.console))?;
        listener.set_nonblocking(true)?;
        let (commands, rx) = mpsc::unbounded_channel();
        let (ip_tx, ip) = watch::channel(None);
        let task = network_thread::handle().spawn(run(spec, listener, rx, ip_tx));
        Ok(RunningPc { capture_path: None, commands, ip, task: Some(task) })
    }

    pub(crate) fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    pub(crate) fn ip(&self) -> Option<IpConfig> {
        *self.ip.borrow()
    }

    /// Stops the PC and waits until its task, and so its sockets, are gone.
    pub(crate) async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for RunningPc {
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

/// `text` in pieces of at most `max` bytes, cut at character boundaries.
fn chunks(mut text: &str, max: usize) -> impl Iterator<Item = &str> {
    std::iter::from_fn(move || {
        if text.is_empty() {
            return None;
        }
        let mut end = text.len().min(max);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if end == 0 {
            end = text.chars().next().map_or(0, char::len_utf8); // max below one character
        }
        let (piece, rest) = text.split_at(end);
        text = rest;
        Some(piece)
    })
}

/// Keystrokes from a client, already assembled into lines.
enum FromConsole {
    Input(ClientId, Input),
}

/// Console messages kept for the slowest client; older ones are skipped
/// (it is told nothing, as a terminal that scrolled).
const CONSOLE_BACKLOG: usize = 256;
/// Longest console message in bytes before telnet encoding (which at most
/// doubles it): longer text goes as several, so a PC's backlog holds at most
/// `CONSOLE_BACKLOG` × 2 × this (2 MiB), whatever it prints.
pub(crate) const CONSOLE_CHUNK: usize = 4096;
/// Console messages the slowest client may have unread before a running
/// ping or trace waits for it, so that no line is lost (a terminal's output
/// holds a VPCS process up the same way).
const CONSOLE_SLACK: usize = CONSOLE_BACKLOG / 2;
/// Datagrams taken per wake-up, so a flood cannot starve the PC's console.
const BATCH: usize = 64;
/// Keystroke events a client may have queued before it is made to wait.
const INPUT_QUEUE: usize = 64;

/// A started PC's state, shared by its task and by senders on the lab's
/// thread, which deliver frames to it themselves (see [`tunnel`]). Only the
/// lab's thread touches it, never across an await, so its lock is never
/// contended: a sender that finds it held is inside this PC's own send.
struct Station {
    pc: Pc,
    tunnel: Option<Arc<Endpoint>>,
    capture: Option<Capture>,
    /// Made when the first client attaches and dropped with the last one: its
    /// backlog is most of an idle PC's memory, and most consoles are never open.
    to_console: Option<broadcast::Sender<ToConsole>>,
    shown_ip: Option<IpConfig>,
    /// The deadline the task's timer is set for.
    armed: Option<Instant>,
    vm_id: Uuid,
    events: mpsc::UnboundedSender<Event>,
    ip_tx: watch::Sender<Option<IpConfig>>,
    /// Wakes the task to look again: a delivery moved the PC's deadline, or
    /// a console client caught up.
    nudge: Arc<Notify>,
}

type Shared = Arc<Mutex<Station>>;

fn lock(station: &Shared) -> MutexGuard<'_, Station> {
    station.lock().unwrap_or_else(|e| e.into_inner())
}

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
    let nudge = Arc::new(Notify::new());
    let station: Shared = Arc::new(Mutex::new(Station {
        pc: Pc::new(spec.mac, spec.script.clone()),
        tunnel: None,
        capture: None,
        to_console: None,
        shown_ip: None,
        armed: None,
        vm_id: spec.vm_id,
        events: spec.events.clone(),
        ip_tx,
        nudge: nudge.clone(),
    }));
    let (input_tx, mut input_rx) = mpsc::channel::<FromConsole>(INPUT_QUEUE);
    let mut clients = JoinSet::new();
    let mut next_client: ClientId = 1;
    set_nio(&station, spec.host, spec.nio.clone()).await;
    lock(&station).pc.boot(Instant::now());

    // One timer for the PC's life, moved only when its deadline moves: a new
    // timer per wake-up costs a registration, and often a driver wake-up.
    let timer = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(timer);
    loop {
        // A PC that always has work (a flood, answered inside its own sends)
        // would never wait, and so never let the lab's other tasks run.
        tokio::task::coop::consume_budget().await;
        let (tunnel, armed) = {
            let mut station = lock(&station);
            // Frames leave last: a PC of ours receiving one runs inside the
            // send, with this one's bookkeeping already done.
            let frames = station.pc.take_frames();
            station.settle();
            let deadline = station.pc.deadline();
            if deadline != station.armed {
                if let Some(at) = deadline {
                    timer.as_mut().reset(at.into());
                }
                station.armed = deadline;
            }
            station.send(frames);
            (station.tunnel.clone(), station.armed)
        };
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let id = next_client;
                    next_client += 1;
                    let mut station = lock(&station);
                    let prompt = station.pc.prompt();
                    let output = station.to_console.get_or_insert_with(|| broadcast::channel(CONSOLE_BACKLOG).0).subscribe();
                    clients.spawn(serve_client(id, stream, prompt, output, input_tx.clone(), nudge.clone()));
                }
            }
            Some(FromConsole::Input(client, input)) = input_rx.recv() => match input {
                Input::Line(line) => lock(&station).pc.on_line(Instant::now(), client, &line),
                Input::Interrupt => lock(&station).pc.interrupt(Instant::now()),
            },
            wake = arrival(tunnel.as_deref()) => lock(&station).receive_waiting(wake),
            () = nudge.notified() => {}
            Some(command) = commands.recv() => match command {
                Command::SetNio(nio) => set_nio(&station, spec.host, nio).await,
                Command::SetScript(script) => lock(&station).pc.set_script(script),
                Command::StartCapture(file) => {
                    lock(&station).capture = Capture::start(file)
                        .map_err(|e| tracing::error!("cannot start packet capture: {e}"))
                        .ok();
                }
                Command::StopCapture(done) => match lock(&station).capture.take() {
                    Some(capture) => capture.finish(done),
                    None => drop(done.send(())),
                },
            },
            () = &mut timer, if armed.is_some() => {
                let mut station = lock(&station);
                station.armed = None; // fired: set it again even for the same instant
                station.pc.on_timer(Instant::now());
            }
            Some(_) = clients.join_next() => {
                if clients.is_empty() {
                    lock(&station).to_console = None;
                }
            }
        }
    }
}

impl Station {
    /// Feeds the PC the datagrams waiting on the tunnel. The frames each one
    /// provokes (an echo reply) leave before the next receive is tried: the
    /// last, empty receive is a system call a ping's round trip need not
    /// wait for.
    fn receive_waiting(&mut self, wake: Wake) {
        for _ in 0..BATCH {
            if !self.receive_one(wake) {
                return;
            }
        }
    }

    /// Takes one datagram; false when none was waiting.
    fn receive_one(&mut self, wake: Wake) -> bool {
        let Station { tunnel: Some(endpoint), pc, capture, .. } = self else { return false };
        let received = tunnel::with_buffer(|buffer| {
            // Only a PC timing its own probes needs the kernel's stamp.
            let received = match pc.busy() {
                true => endpoint.receive_stamped(buffer, wake),
                false => endpoint.receive(buffer, wake),
            };
            let (len, arrived) = received.ok()?;
            record(capture, &buffer[..len]);
            pc.on_frame(arrived, &buffer[..len]);
            Some(())
        });
        let frames = self.pc.take_frames();
        self.send(frames);
        received.is_some()
    }

    /// A sender's delivery of one datagram. The task is woken only when the
    /// PC's deadline moved, as its timer is the one thing done there.
    fn deliver(&mut self) {
        self.receive_one(Wake::HandOver);
        self.settle();
        if self.pc.deadline() != self.armed {
            self.nudge.notify_one();
        }
    }

    /// Carries out what the PC asked for, except its frames and its timer,
    /// and holds its job while a console lags.
    fn settle(&mut self) {
        for output in self.pc.take_output() {
            match output {
                Output::Frame(frame) => self.send(vec![frame]),
                Output::Text(text) => {
                    if let Some(to_console) = &self.to_console {
                        for chunk in chunks(&text, CONSOLE_CHUNK) {
                            let _ = to_console.send(ToConsole::Text(Bytes::from(telnet::encode(chunk))));
                        }
                    }
                }
                Output::Disconnect(client) => {
                    if let Some(to_console) = &self.to_console {
                        let _ = to_console.send(ToConsole::Close(client));
                    }
                }
                Output::SaveScript(script) => {
                    let _ = self.events.send(Event::ScriptSaved(self.vm_id, script));
                }
            }
        }
        if self.pc.ip() != self.shown_ip {
            self.shown_ip = self.pc.ip();
            self.ip_tx.send_replace(self.shown_ip);
            let _ = self.events.send(Event::IpChanged(self.vm_id));
        }
        let lagging = self.to_console.as_ref().is_some_and(|c| c.len() >= CONSOLE_SLACK);
        self.pc.hold(lagging);
    }

    /// Sends the frames the PC has emitted, and tells it when they left.
    fn send(&mut self, frames: Vec<Vec<u8>>) {
        if frames.is_empty() {
            return;
        }
        let left = Instant::now();
        for frame in frames {
            if let Some(endpoint) = &self.tunnel {
                endpoint.send(&frame);
            }
            record(&mut self.capture, &frame);
        }
        self.pc.frames_left(left);
    }
}

/// Returns when a datagram may be waiting; never when there is no tunnel.
async fn arrival(tunnel: Option<&Endpoint>) -> Wake {
    match tunnel {
        Some(t) => t.wake().await,
        None => std::future::pending().await,
    }
}

/// Takes effect at once: the old socket closes, the new one binds.
async fn set_nio(station: &Shared, host: IpAddr, nio: Option<Nio>) {
    {
        let mut station = lock(station);
        station.tunnel = None;
        station.pc.tunnel = None;
    }
    let Some(nio) = nio else { return };
    let peer = match tunnel::resolve(&nio.rhost, nio.rport).await {
        Ok(peer) => Some(peer),
        Err(e) => {
            tracing::warn!("cannot resolve tunnel peer {}: {e}", nio.rhost);
            None
        }
    };
    let endpoint = match Endpoint::bind(host, nio.lport, peer).await {
        Ok(endpoint) => Arc::new(endpoint),
        Err(e) => return tracing::error!("cannot bind tunnel port {}: {e}", nio.lport),
    };
    let receiver = Arc::downgrade(station);
    endpoint.deliver_with(Box::new(move || {
        let Some(station) = receiver.upgrade() else { return false };
        // Held only by this PC's own send: its task takes the frame next.
        let Ok(mut station) = station.try_lock() else { return false };
        station.deliver();
        true
    }));
    let mut station = lock(station);
    station.tunnel = Some(endpoint);
    station.pc.tunnel = Some(TunnelInfo { lport: nio.lport, rhost: nio.rhost.clone(), rport: nio.rport });
}

/// One telnet client: negotiation, banner, then keystrokes in and shared output out.
async fn serve_client(
    id: ClientId,
    stream: TcpStream,
    prompt: String,
    mut output: broadcast::Receiver<ToConsole>,
    input: mpsc::Sender<FromConsole>,
    caught_up: Arc<Notify>,
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
                    if output.is_empty() {
                        caught_up.notify_one(); // a ping may be waiting for this client
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

#[cfg(test)]
mod tests {
    use super::chunks;

    #[test]
    fn console_text_is_cut_at_character_boundaries() {
        let text = "é".repeat(5000); // 10,000 bytes, two per character
        let pieces: Vec<&str> = chunks(&text, 4095).collect();
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|p| p.len() <= 4095 && !p.is_empty()));
        assert_eq!(pieces.concat(), text);
        assert_eq!(chunks("ab€", 1).collect::<Vec<_>>(), ["a", "b", "€"]);
        assert_eq!(chunks("", 10).count(), 0);
    }
}
