//! A virtual PC's network stack and VPCS shell, in one I/O-free state machine.
//!
//! The driver feeds it frames, command lines, interrupts and the time, and
//! collects what it emits: frames for the tunnel and text for the consoles.
//! Long-running commands (`ping`, `trace`, the duplicate check of `ip`) are
//! jobs that advance on frames and on the deadline the PC asks for; lines
//! typed meanwhile wait their turn, as on a real terminal.
//!
//! Layout: this file holds the machine (its state, clock and frame intake);
//! `shell` the commands, `neighbor` ARP, `jobs` ping and trace, `answer`
//! what other hosts send, `tests` the whole machine without sockets.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use smoltcp::wire::{
    ArpOperation, ArpRepr, EthernetAddress, Icmpv4DstUnreachable, Icmpv4Repr, Icmpv4TimeExceeded,
};

mod answer;
mod jobs;
mod neighbor;
mod shell;

use super::tcp::{self, Probe, Progress};
use super::wire::{self, Received, Segment};

pub(crate) const BANNER: &str = "\nWelcome to Virtual PC Simulator, version 0.6\n\
Dedicated to Daling.\n\
Build time: Dec 29 2014 12:51:46\n\
Copyright (c) 2007-2014, Paul Meng (mirnshi@gmail.com)\n\
All rights reserved.\n\n\
VPCS is free software, distributed under the terms of the \"BSD\" licence.\n\
Source code and license can be found at vpcs.sf.net.\n\
For more information, please visit wiki.freecode.com.cn.\n\n\
Press '?' to get help.\n";

/// How long `ip` listens for a defender of the address (VPCS waits 3 s).
const DUPLICATE_WAIT: Duration = Duration::from_millis(300);
/// ARP requests sent before a host is declared unreachable, and their spacing.
const ARP_TRIES: u32 = 3;
const ARP_SPACING: Duration = Duration::from_millis(300);
const ARP_LIFETIME: Duration = Duration::from_secs(120);
const ECHO_PORT: u16 = 7;
/// A UDP ping's source port is this plus its sequence number (wrapping), as VPCS numbers them.
const UDP_PING_BASE: u16 = 10000;
const TRACE_PORT: u16 = 33434;
const MAX_HISTORY: usize = 100;
const MAX_WAITING_LINES: usize = 64;

/// A console client, so `disconnect` closes only the one who typed it.
pub(crate) type ClientId = u64;

#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    Frame(Vec<u8>),
    Text(String),
    Disconnect(ClientId),
    /// `save` wrote the startup script: the lab stores it as `startup_script`.
    SaveScript(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpConfig {
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
}

impl IpConfig {
    fn mask(&self) -> Ipv4Addr {
        prefix_mask(self.prefix)
    }

    fn same_subnet(&self, other: Ipv4Addr) -> bool {
        let m = u32::from(self.mask());
        u32::from(self.addr) & m == u32::from(other) & m
    }
}

fn prefix_mask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(if prefix == 0 { 0 } else { u32::MAX << (32 - prefix as u32) })
}

/// What `show ip` tells about the tunnel.
#[derive(Debug, Clone, Default)]
pub struct TunnelInfo {
    pub lport: u16,
    pub rhost: String,
    pub rport: u16,
}

/// One virtual PC: VPCS's shell and a network stack over one Ethernet port, I/O-free (the caller brings frames, lines and the time).
pub struct Pc {
    mac: EthernetAddress,
    name: String,
    ip: Option<IpConfig>,
    arp: HashMap<Ipv4Addr, (EthernetAddress, Instant)>,
    history: VecDeque<String>,
    job: Option<Job>,
    waiting_lines: VecDeque<(ClientId, String)>,
    out: Vec<Output>,
    script: Option<String>,
    /// The UDP tunnel its port is bound to, shown by `show`.
    pub tunnel: Option<TunnelInfo>,
    ident: u16,
    /// A ping or trace probe was emitted and has not been reported as gone.
    probe_unsent: bool,
    /// The job waits: see [`Pc::hold`].
    held: bool,
    /// Where TCP sequence numbers and ports come from (xorshift; VPCS uses rand()).
    random: u32,
    /// Answers TCP segments, as VPCS does for any port.
    answerer: tcp::Answerer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Icmp,
    Udp,
    Tcp,
}

impl Proto {
    /// How its lines name the sequence number.
    fn seq_name(self) -> &'static str {
        match self {
            Proto::Icmp => "icmp_seq",
            Proto::Udp => "udp_seq",
            Proto::Tcp => "tcp_seq",
        }
    }
}

#[derive(Debug)]
enum Job {
    DuplicateCheck { config: IpConfig, until: Instant },
    Ping(Ping),
    Trace(Trace),
}

#[derive(Debug)]
struct Ping {
    dst: Ipv4Addr,
    next_hop: Ipv4Addr,
    proto: Proto,
    count: u32,
    interval: Duration,
    wait: Duration,
    size: usize,
    ttl: u8,
    seq: u16,
    /// `-p`: the port a TCP ping connects to.
    port: u16,
    /// The port a TCP ping connects from, the same for each of its
    /// connections, as VPCS does (its answerer keeps a session per port pair).
    src_port: u16,
    /// The connection of the TCP ping under way.
    tcp: Option<Probe>,
    phase: Phase,
}

impl Ping {
    /// What a probe carries: `size` bytes counting up.
    fn data(&self) -> Vec<u8> {
        (0..self.size).map(|i| i as u8).collect()
    }
}

#[derive(Debug)]
struct Trace {
    dst: Ipv4Addr,
    next_hop: Ipv4Addr,
    max_ttl: u8,
    ttl: u8,
    wait: Duration,
    probe: u8,
    /// Times of this hop's answered probes, and who answered.
    hop: Vec<Option<(Ipv4Addr, Duration)>>,
    phase: Phase,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Resolving { tries: u32, next: Instant },
    Awaiting { sent: Instant, deadline: Instant },
    Pausing { until: Instant },
}

impl Pc {
    /// A PC with this MAC address that runs `script` at boot.
    pub fn new(mac: [u8; 6], script: Option<String>) -> Self {
        Pc {
            mac: EthernetAddress(mac),
            name: "VPCS".into(),
            ip: None,
            arp: HashMap::new(),
            history: VecDeque::new(),
            job: None,
            waiting_lines: VecDeque::new(),
            out: vec![],
            script,
            tunnel: None,
            ident: u16::from_be_bytes([mac[4], mac[5]]),
            probe_unsent: false,
            held: false,
            random: u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]) | 1,
            answerer: tcp::Answerer::default(),
        }
    }

    /// Runs the startup script, as VPCS does at boot.
    pub fn boot(&mut self, now: Instant) {
        if let Some(script) = self.script.clone() {
            for line in script.lines() {
                self.waiting_lines.push_back((0, line.to_owned()));
            }
            self.run_waiting(now);
        }
    }

    /// The shell's prompt: `PC1> `.
    pub fn prompt(&self) -> String {
        format!("{}> ", self.name)
    }

    /// Whether a job (ping, trace, dhcp) holds the console.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }

    /// Its address, mask and gateway, once set.
    pub fn ip(&self) -> Option<IpConfig> {
        self.ip
    }

    /// The startup script to run on the next boot.
    pub fn set_script(&mut self, script: Option<String>) {
        self.script = script;
    }

    /// Everything emitted since the last call.
    pub fn take_output(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// Only the frames of the output, which the driver sends apart from the rest.
    pub fn take_frames(&mut self) -> Vec<Vec<u8>> {
        let mut frames = vec![];
        self.out.retain_mut(|o| match o {
            Output::Frame(f) => {
                frames.push(std::mem::take(f));
                false
            }
            _ => true,
        });
        frames
    }

    /// The frames taken last left at `at`. A probe's round trip starts
    /// there rather than when it was made, as iputils' ping stamps a request
    /// just before `sendmsg`.
    pub fn frames_left(&mut self, at: Instant) {
        if !std::mem::take(&mut self.probe_unsent) {
            return;
        }
        let phase = match &mut self.job {
            Some(Job::Ping(ping)) => &mut ping.phase,
            Some(Job::Trace(trace)) => &mut trace.phase,
            _ => return,
        };
        if let Phase::Awaiting { sent, .. } = phase {
            *sent = at;
        }
    }

    /// Holds the running job where it is, or lets it go on. The driver holds
    /// it while a console has fallen behind, so that a flood ping loses no
    /// line: what arrives is still answered and reported, but no new probe
    /// leaves and no timeout fires until then.
    pub fn hold(&mut self, held: bool) {
        self.held = held;
    }

    /// When the PC next needs [`Pc::on_timer`]; `None` when idle or held,
    /// so an idle PC costs nothing.
    pub fn deadline(&self) -> Option<Instant> {
        if self.held {
            return None;
        }
        match self.job.as_ref()? {
            Job::DuplicateCheck { until, .. } => Some(*until),
            Job::Ping(Ping { phase, .. }) | Job::Trace(Trace { phase, .. }) => Some(match *phase {
                Phase::Resolving { next, .. } => next,
                Phase::Awaiting { deadline, .. } => deadline,
                Phase::Pausing { until } => until,
            }),
        }
    }

    fn print(&mut self, text: impl Into<String>) {
        self.out.push(Output::Text(text.into()));
    }

    fn send(&mut self, frame: Vec<u8>) {
        self.out.push(Output::Frame(frame));
    }

    // ----- console -----

    /// Where frames for `dst` go: the host itself on our subnet, else the gateway.
    fn next_hop(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        let config = self.ip?;
        if config.same_subnet(dst) {
            Some(dst)
        } else {
            config.gateway
        }
    }

    /// Time passes.
    pub fn on_timer(&mut self, now: Instant) {
        let was_busy = self.busy();
        self.advance(now);
        self.settle(was_busy, now);
    }

    /// Moves the job along as far as `now` allows.
    fn advance(&mut self, now: Instant) {
        // `deadline` is `None` while held.
        while let Some(deadline) = self.deadline() {
            if deadline > now {
                break;
            }
            match self.job.take() {
                Some(Job::DuplicateCheck { config, .. }) => self.finish_ip(config),
                Some(Job::Ping(mut ping)) => {
                    if self.step_ping(now, &mut ping) {
                        self.job = Some(Job::Ping(ping));
                    }
                }
                Some(Job::Trace(mut trace)) => {
                    if self.step_trace(now, &mut trace) {
                        self.job = Some(Job::Trace(trace));
                    }
                }
                None => break,
            }
        }
    }

    /// After an event: if it ended the job, show the prompt and run what was typed meanwhile.
    fn settle(&mut self, was_busy: bool, now: Instant) {
        if was_busy && self.job.is_none() {
            let prompt = self.prompt();
            self.print(prompt);
            self.run_waiting(now);
        }
    }

    /// A frame arrived from the tunnel.
    pub fn on_frame(&mut self, now: Instant, frame: &[u8]) {
        let was_busy = self.busy();
        match wire::parse(frame, self.mac) {
            Received::Arp(arp) => self.on_arp(now, arp),
            Received::Icmp { ip, src_mac, icmp } => self.on_icmp(now, ip, src_mac, icmp),
            Received::Udp { ip, src_mac, src_port, dst_port, payload } => {
                self.on_udp(now, ip, src_mac, src_port, dst_port, payload, frame)
            }
            Received::Tcp { ip, src_mac, segment, payload } => {
                self.on_tcp(now, ip, src_mac, segment, payload.len())
            }
            Received::Ignored => {}
        }
        self.advance(now);
        self.settle(was_busy, now);
    }
}

/// `00:50:79:66:68:00`, as VPCS writes MACs (smoltcp uses dashes).
pub(crate) fn mac_text(mac: EthernetAddress) -> String {
    let b = mac.0;
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
}

#[cfg(test)]
mod tests;
