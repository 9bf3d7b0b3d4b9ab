//! A virtual PC's network stack and VPCS shell, in one I/O-free state machine.
//!
//! The driver feeds it frames, command lines, interrupts and the time, and
//! collects what it emits: frames for the tunnel and text for the consoles.
//! Long-running commands (`ping`, `trace`, the duplicate check of `ip`) are
//! jobs that advance on frames and on the deadline the PC asks for; lines
//! typed meanwhile wait their turn, as on a real terminal.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use smoltcp::wire::{
    ArpOperation, ArpRepr, EthernetAddress, Icmpv4DstUnreachable, Icmpv4Repr, Icmpv4TimeExceeded,
};

use super::tcp::{self, Probe, Progress};
use super::wire::{self, Received, Segment};

pub const BANNER: &str = "\nWelcome to Virtual PC Simulator, version 0.6\n\
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
pub type ClientId = u64;

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

    pub fn prompt(&self) -> String {
        format!("{}> ", self.name)
    }

    pub fn busy(&self) -> bool {
        self.job.is_some()
    }

    pub fn ip(&self) -> Option<IpConfig> {
        self.ip
    }

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

    /// A line typed on a console.
    pub fn on_line(&mut self, now: Instant, client: ClientId, line: &str) {
        if self.waiting_lines.len() >= MAX_WAITING_LINES {
            return; // a flood while a job runs: what a terminal's type-ahead would lose too
        }
        self.waiting_lines.push_back((client, line.to_owned()));
        if self.job.is_none() {
            self.run_waiting(now);
        }
    }

    /// Ctrl-C: stops the running job and forgets lines typed during it.
    pub fn interrupt(&mut self, _now: Instant) {
        self.waiting_lines.clear();
        if self.job.take().is_some() {
            self.print(format!("\n{}", self.prompt()));
        }
    }

    fn run_waiting(&mut self, now: Instant) {
        while self.job.is_none() {
            let Some((client, line)) = self.waiting_lines.pop_front() else {
                return;
            };
            self.execute(now, client, &line);
            let disconnected = matches!(self.out.last(), Some(Output::Disconnect(_)));
            if self.job.is_none() && !disconnected {
                let prompt = self.prompt();
                self.print(prompt);
            }
        }
    }

    fn execute(&mut self, now: Instant, client: ClientId, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        if self.history.back().map(String::as_str) != Some(line) {
            self.history.push_back(line.to_owned());
            if self.history.len() > MAX_HISTORY {
                self.history.pop_front();
            }
        }
        let args: Vec<&str> = line.split_whitespace().collect();
        const COMMANDS: &[&str] = &[
            "?",
            "help",
            "arp",
            "clear",
            "disconnect",
            "echo",
            "history",
            "ip",
            "load",
            "ping",
            "save",
            "set",
            "show",
            "trace",
            "version",
        ];
        let Some(command) = unique_prefix(args[0], COMMANDS) else {
            // An ambiguous prefix lists what it could mean, as VPCS does.
            let candidates: String = prefix_matches(args[0], COMMANDS).map(|c| format!("{c}\n")).collect();
            return match candidates.is_empty() {
                true => self.print(format!("Bad command: \"{line}\". Use ? for help.\n")),
                false => self.print(candidates),
            };
        };
        let rest = &args[1..];
        // Alone or with a trailing `?`, these explain themselves, as in VPCS.
        let asks = rest.is_empty() || matches!(rest.last(), Some(&"?") | Some(&"help"));
        if let Some(help) = command_help(command).filter(|_| asks) {
            return self.print(help);
        }
        match command {
            "?" | "help" => self.print(HELP),
            "arp" => self.show_arp(now),
            "clear" => self.clear(line, rest),
            // The console says good-bye to that client alone; the session and the PC go on.
            "disconnect" => self.out.push(Output::Disconnect(client)),
            "echo" => self.print(format!("{}\n", rest.join(" "))),
            "history" => {
                // Unnumbered, as VPCS lists it.
                let text: String = self.history.iter().map(|h| format!("{h}\n")).collect();
                self.print(text);
            }
            "ip" => self.ip_command(now, rest),
            "load" => self.load(rest.first().copied()),
            "ping" => self.ping_command(now, rest),
            "save" => self.save(),
            "set" => self.set(line, rest),
            "show" => self.show(now, rest),
            "trace" => self.trace_command(now, rest),
            // VPCS answers with its banner, less the hint for help.
            "version" => {
                let welcome = BANNER.trim_end().trim_end_matches("Press '?' to get help.").trim_end();
                self.print(format!("{welcome}\n"))
            }
            _ => unreachable!("every command is handled"),
        }
    }

    fn clear(&mut self, line: &str, rest: &[&str]) {
        match rest.first().and_then(|w| unique_prefix(w, &["ip", "arp", "hist"])) {
            Some("ip") => {
                self.ip = None;
                self.print("IPv4 address/mask, gateway, DNS, and DHCP cleared\n");
            }
            Some("arp") => self.arp.clear(),
            Some("hist") => self.history.clear(),
            _ => self.print(format!("Bad command: \"{line}\". Use ? for help.\n")),
        }
    }

    fn set(&mut self, line: &str, rest: &[&str]) {
        match (rest.first().and_then(|w| unique_prefix(w, &["pcname"])), rest.get(1)) {
            (Some("pcname"), Some(name))
                if name.len() <= 20 && name.chars().all(|c| c.is_ascii_graphic()) =>
            {
                self.name = (*name).to_owned();
            }
            (Some("pcname"), _) => self.print("Invalid name\n"),
            _ => self.print(format!("Bad command: \"{line}\". Use ? for help.\n")),
        }
    }

    fn show(&mut self, now: Instant, rest: &[&str]) {
        match rest.first().map(|w| unique_prefix(w, &["ip", "arp"])) {
            None => self.show_table(),
            Some(Some("ip")) => self.show_ip(),
            Some(Some("arp")) => self.show_arp(now),
            _ => self.print("Invalid arguments\n"), // as VPCS answers
        }
    }

    /// `show` alone: a line per PC in VPCS's columns (this process has one).
    fn show_table(&mut self) {
        let (ip, gw) = match self.ip {
            Some(c) => (format!("{}/{}", c.addr, c.prefix), c.gateway.unwrap_or(Ipv4Addr::UNSPECIFIED)),
            None => ("0.0.0.0/0".into(), Ipv4Addr::UNSPECIFIED),
        };
        let tunnel = self.tunnel.clone().unwrap_or_default();
        let name = if self.name == "VPCS" { "VPCS1".to_owned() } else { self.name.clone() };
        let rhost = format!("{}:{}", tunnel.rhost, tunnel.rport);
        let mac = mac_text(self.mac);
        let head = format!(
            "{:<7}{:<21}{:<18}{:<19}{:<7}{}",
            "NAME", "IP/MASK", "GATEWAY", "MAC", "LPORT", "RHOST:PORT"
        );
        let row = format!("{name:<7}{ip:<21}{:<18}{mac:<19}{:<7}{rhost}", gw.to_string(), tunnel.lport);
        self.print(format!("\n{head}\n{row}\n"));
    }

    fn show_ip(&mut self) {
        let (ip, gw) = match self.ip {
            Some(c) => {
                (format!("{}/{}", c.addr, c.prefix), c.gateway.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string())
            }
            None => ("0.0.0.0/0".into(), "0.0.0.0".into()),
        };
        let tunnel = self.tunnel.clone().unwrap_or_default();
        let mut text = String::new();
        let _ = writeln!(text, "\nNAME        : {}[1]", self.name);
        let _ = writeln!(text, "IP/MASK     : {ip}");
        let _ = writeln!(text, "GATEWAY     : {gw}");
        let _ = writeln!(text, "DNS         : ");
        let _ = writeln!(text, "MAC         : {}", mac_text(self.mac));
        let _ = writeln!(text, "LPORT       : {}", tunnel.lport);
        let _ = writeln!(text, "RHOST:PORT  : {}:{}", tunnel.rhost, tunnel.rport);
        let _ = writeln!(text, "MTU:        : 1500\n");
        self.print(text);
    }

    fn show_arp(&mut self, now: Instant) {
        self.arp.retain(|_, (_, at)| now.duration_since(*at) < ARP_LIFETIME);
        if self.arp.is_empty() {
            return self.print("\narp table is empty\n\n");
        }
        let mut entries: Vec<_> = self.arp.iter().collect();
        entries.sort_by_key(|(ip, _)| **ip);
        let mut text = String::from("\n");
        for (ip, (mac, at)) in entries {
            let left = ARP_LIFETIME.saturating_sub(now.duration_since(*at)).as_secs();
            let _ = writeln!(text, "{}  {ip} expires in {left} seconds ", mac_text(*mac));
        }
        text.push('\n');
        self.print(text);
    }

    fn save(&mut self) {
        let mut script = String::new();
        if self.name != "VPCS" {
            let _ = writeln!(script, "set pcname {}", self.name);
        }
        if let Some(c) = self.ip {
            let _ = write!(script, "ip {} {}", c.addr, c.prefix);
            if let Some(gw) = c.gateway {
                let _ = write!(script, " {gw}");
            }
            script.push('\n');
        }
        self.print("Saving startup configuration to startup.vpc\n.  done\n");
        self.script = Some(script.clone());
        self.out.push(Output::SaveScript(script));
    }

    /// `load [FILE]`: the one file a PC has is its startup script.
    fn load(&mut self, file: Option<&str>) {
        let file = file.unwrap_or("startup.vpc");
        let script = self.script.clone().filter(|_| matches!(file, "startup.vpc" | "startup"));
        let Some(script) = script else {
            return self.print(format!("Can't open \"{file}\"\n"));
        };
        self.print("Executing the file \"startup.vpc\"\n");
        // Run before anything typed after `load`.
        for line in script.lines().rev() {
            self.waiting_lines.push_front((0, line.to_owned()));
        }
    }

    // ----- ip -----

    fn ip_command(&mut self, now: Instant, args: &[&str]) {
        match parse_ip_args(args) {
            Err(message) => self.print(format!("{message}\n")),
            Ok(config) => {
                self.print("Checking for duplicate address...\n");
                // A gratuitous ARP: whoever holds the address answers it.
                let probe = wire::arp(
                    ArpOperation::Request,
                    self.mac,
                    config.addr,
                    EthernetAddress::BROADCAST,
                    config.addr,
                );
                self.send(probe);
                self.job = Some(Job::DuplicateCheck { config, until: now + DUPLICATE_WAIT });
            }
        }
    }

    fn finish_ip(&mut self, config: IpConfig) {
        self.ip = Some(config);
        self.arp.clear();
        let mut text = format!("PC1 : {} {}", config.addr, config.mask());
        if let Some(gw) = config.gateway {
            let _ = write!(text, " gateway {gw}");
        }
        text.push('\n');
        self.print(text);
    }

    // ----- ping and trace -----

    fn ping_command(&mut self, now: Instant, args: &[&str]) {
        let mut ping = match parse_ping(args) {
            Ok(p) => p,
            Err(message) => return self.print(format!("{message}\n")),
        };
        let Some(next_hop) = self.next_hop(ping.dst) else {
            return self.print("No gateway found\n");
        };
        ping.next_hop = next_hop;
        if ping.src_port == 0 {
            ping.src_port = 1024 + (self.next_random() % 64000) as u16;
        }
        ping.phase = match self.is_own(ping.dst) {
            // Its own address: VPCS answers at once, a line a millisecond.
            true => {
                ping.interval = Duration::from_millis(1);
                Phase::Pausing { until: now }
            }
            false => self.start_resolving(now, next_hop),
        };
        self.job = Some(Job::Ping(ping));
    }

    fn is_own(&self, addr: Ipv4Addr) -> bool {
        self.ip.is_some_and(|c| c.addr == addr)
    }

    fn trace_command(&mut self, now: Instant, args: &[&str]) {
        let Some(dst) = args.first().and_then(|a| a.parse::<Ipv4Addr>().ok()) else {
            return self.print("Usage: trace HOST [-m max_ttl]\n");
        };
        let max_ttl = match args.iter().position(|a| *a == "-m") {
            Some(i) => match args.get(i + 1).and_then(|v| v.parse::<u8>().ok()).filter(|v| *v > 0) {
                Some(m) => m,
                None => return self.print("Invalid value for -m\n"),
            },
            // `trace HOST TTL`, VPCS's older form, or the default.
            None => match args.get(1).map(|v| v.parse::<u8>()) {
                Some(Ok(m)) if m > 0 => m,
                Some(_) => return self.print("Invalid value for the maximum TTL\n"),
                None => 8,
            },
        };
        let Some(next_hop) = self.next_hop(dst) else {
            return self.print("No gateway found\n");
        };
        self.print(format!("trace to {dst}, {max_ttl} hops max, press Ctrl+C to stop\n"));
        let phase = self.start_resolving(now, next_hop);
        let wait = Duration::from_secs(1);
        self.job =
            Some(Job::Trace(Trace { dst, next_hop, max_ttl, ttl: 1, wait, probe: 0, hop: vec![], phase }));
    }

    /// Where frames for `dst` go: the host itself on our subnet, else the gateway.
    fn next_hop(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        let config = self.ip?;
        if config.same_subnet(dst) {
            Some(dst)
        } else {
            config.gateway
        }
    }

    fn start_resolving(&mut self, now: Instant, next_hop: Ipv4Addr) -> Phase {
        if self.arp_lookup(now, next_hop).is_some() {
            Phase::Pausing { until: now }
        } else {
            Phase::Resolving { tries: 0, next: now }
        }
    }

    fn arp_lookup(&self, now: Instant, ip: Ipv4Addr) -> Option<EthernetAddress> {
        self.arp.get(&ip).filter(|(_, at)| now.duration_since(*at) < ARP_LIFETIME).map(|(mac, _)| *mac)
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

    /// One deadline of a ping; false when the ping is over.
    fn step_ping(&mut self, now: Instant, ping: &mut Ping) -> bool {
        match ping.phase {
            Phase::Resolving { tries, .. } => {
                if self.arp_lookup(now, ping.next_hop).is_some() {
                    ping.phase = Phase::Pausing { until: now };
                } else if tries >= ARP_TRIES {
                    self.print(format!("host ({}) not reachable\n", ping.next_hop));
                    return false;
                } else {
                    self.send_arp_request(ping.next_hop);
                    ping.phase = Phase::Resolving { tries: tries + 1, next: now + ARP_SPACING };
                }
                true
            }
            Phase::Pausing { .. } => {
                if self.is_own(ping.dst) {
                    self.print(format!(
                        "{} icmp_seq={} ttl={} time=0.001 ms\n",
                        ping.dst, ping.seq, ping.ttl
                    ));
                    return self.next_ping(now, ping);
                }
                let Some(mac) = self.arp_lookup(now, ping.next_hop) else {
                    ping.phase = Phase::Resolving { tries: 0, next: now };
                    return true;
                };
                self.send_probe(mac, ping);
                self.probe_unsent = true;
                ping.phase = Phase::Awaiting { sent: now, deadline: now + ping.wait };
                true
            }
            Phase::Awaiting { .. } => {
                match ping.tcp.take() {
                    Some(probe) => {
                        self.print(format!("{} {}@{} timeout\n", probe.step.label(), ping.port, ping.dst))
                    }
                    None => {
                        self.print(format!("{} {}={} timeout\n", ping.dst, ping.proto.seq_name(), ping.seq))
                    }
                }
                self.next_ping(now, ping)
            }
        }
    }

    fn next_ping(&mut self, now: Instant, ping: &mut Ping) -> bool {
        if u32::from(ping.seq) >= ping.count {
            return false;
        }
        ping.seq = ping.seq.wrapping_add(1);
        ping.phase = Phase::Pausing { until: now + ping.interval };
        true
    }

    fn send_probe(&mut self, mac: EthernetAddress, ping: &mut Ping) {
        let src = self.ip.expect("pings need an address").addr;
        let data = ping.data();
        let frame = match ping.proto {
            Proto::Icmp => {
                let echo = Icmpv4Repr::EchoRequest { ident: self.ident, seq_no: ping.seq, data: &data };
                wire::icmp(self.mac, mac, src, ping.dst, ping.ttl, &echo)
            }
            Proto::Udp => {
                // 20 bytes of IP + 8 of UDP + data, the same 84 bytes as an ICMP ping by default.
                let data = &data[..ping.size.saturating_sub(0)];
                wire::udp(
                    self.mac,
                    mac,
                    src,
                    ping.dst,
                    ping.ttl,
                    UDP_PING_BASE.wrapping_add(ping.seq),
                    ECHO_PORT,
                    data,
                )
            }
            Proto::Tcp => {
                let (probe, syn) = Probe::connect(ping.src_port, ping.port, self.next_random(), ping.size);
                ping.tcp = Some(probe);
                return self.send_segment(mac, ping.dst, ping.ttl, syn, &[]);
            }
        };
        self.send(frame);
    }

    fn send_segment(&mut self, mac: EthernetAddress, dst: Ipv4Addr, ttl: u8, segment: Segment, data: &[u8]) {
        let src = self.ip.expect("TCP needs an address").addr;
        let frame = wire::tcp(self.mac, mac, src, dst, ttl, segment, data);
        self.send(frame);
    }

    fn next_random(&mut self) -> u32 {
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.random = x;
        x
    }

    fn send_arp_request(&mut self, target: Ipv4Addr) {
        let src = self.ip.map_or(Ipv4Addr::UNSPECIFIED, |c| c.addr);
        let frame = wire::arp(ArpOperation::Request, self.mac, src, EthernetAddress::BROADCAST, target);
        self.send(frame);
    }

    /// One deadline of a trace; false when it is over.
    fn step_trace(&mut self, now: Instant, trace: &mut Trace) -> bool {
        match trace.phase {
            Phase::Resolving { tries, .. } => {
                if self.arp_lookup(now, trace.next_hop).is_some() {
                    trace.phase = Phase::Pausing { until: now };
                } else if tries >= ARP_TRIES {
                    self.print(format!("host ({}) not reachable\n", trace.next_hop));
                    return false;
                } else {
                    self.send_arp_request(trace.next_hop);
                    trace.phase = Phase::Resolving { tries: tries + 1, next: now + ARP_SPACING };
                }
                true
            }
            Phase::Pausing { .. } => {
                let Some(mac) = self.arp_lookup(now, trace.next_hop) else {
                    trace.phase = Phase::Resolving { tries: 0, next: now };
                    return true;
                };
                let src = self.ip.expect("traces need an address").addr;
                let port = TRACE_PORT + u16::from(trace.ttl) * 3 + u16::from(trace.probe);
                let frame = wire::udp(self.mac, mac, src, trace.dst, trace.ttl, 40000, port, &[0; 32]);
                self.send(frame);
                self.probe_unsent = true;
                trace.phase = Phase::Awaiting { sent: now, deadline: now + trace.wait };
                true
            }
            Phase::Awaiting { .. } => {
                trace.hop.push(None);
                self.trace_probe_done(now, trace)
            }
        }
    }

    /// A probe was answered or timed out: print the hop when its three probes are in.
    fn trace_probe_done(&mut self, now: Instant, trace: &mut Trace) -> bool {
        trace.probe += 1;
        if trace.probe < 3 {
            trace.phase = Phase::Pausing { until: now };
            return true;
        }
        let mut text = format!("{:2} ", trace.ttl);
        let from = trace.hop.iter().flatten().map(|(ip, _)| *ip).next();
        if let Some(ip) = from {
            let _ = write!(text, "  {ip}");
        }
        for probe in &trace.hop {
            match probe {
                Some((_, t)) => {
                    let _ = write!(text, "   {:.3} ms", t.as_secs_f64() * 1000.0);
                }
                None => text.push_str("  *"),
            }
        }
        text.push('\n');
        self.print(text);
        trace.hop.clear();
        trace.probe = 0;
        if trace.ttl >= trace.max_ttl {
            return false;
        }
        trace.ttl += 1;
        trace.phase = Phase::Pausing { until: now };
        true
    }

    // ----- frames -----

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

    fn on_arp(&mut self, now: Instant, arp: ArpRepr) {
        let ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr: smac,
            source_protocol_addr: sip,
            target_protocol_addr: tip,
            ..
        } = arp
        else {
            return;
        };
        if let Some(Job::DuplicateCheck { config, .. }) = &self.job {
            // Someone else answers for, or announces, the address we want.
            if sip == config.addr && smac != self.mac {
                self.job = None;
                self.print(format!("{sip} is being used by MAC {}\nAddress not changed\n", mac_text(smac)));
                return;
            }
        }
        let Some(config) = self.ip else { return };
        if sip != Ipv4Addr::UNSPECIFIED
            && smac != self.mac
            && (tip == config.addr || self.arp.contains_key(&sip))
        {
            self.arp.insert(sip, (smac, now));
        }
        if operation == ArpOperation::Request && tip == config.addr && smac != self.mac {
            let reply = wire::arp(ArpOperation::Reply, self.mac, config.addr, smac, sip);
            self.send(reply);
        }
        if operation == ArpOperation::Reply && tip == config.addr {
            self.arp.insert(sip, (smac, now));
        }
    }

    fn on_icmp(
        &mut self,
        now: Instant,
        ip: smoltcp::wire::Ipv4Repr,
        src_mac: EthernetAddress,
        icmp: Icmpv4Repr<'_>,
    ) {
        let Some(config) = self.ip else { return };
        if ip.dst_addr != config.addr {
            return;
        }
        match icmp {
            Icmpv4Repr::EchoRequest { ident, seq_no, data } => {
                let reply = Icmpv4Repr::EchoReply { ident, seq_no, data };
                let frame = wire::icmp(self.mac, src_mac, config.addr, ip.src_addr, 64, &reply);
                self.send(frame);
            }
            Icmpv4Repr::EchoReply { ident, seq_no, data } if ident == self.ident => {
                if let Some(Job::Ping(ping)) = &mut self.job {
                    if let (Phase::Awaiting { sent, .. }, true, Proto::Icmp) =
                        (ping.phase, seq_no == ping.seq && ip.src_addr == ping.dst, ping.proto)
                    {
                        let bytes = data.len() + 28;
                        let line =
                            reply_line(bytes, ip.src_addr, "icmp_seq", seq_no, ip.hop_limit, now - sent);
                        let Some(Job::Ping(mut ping)) = self.job.take() else { return };
                        self.print(line);
                        let more = self.next_ping(now, &mut ping);
                        self.job = more.then_some(Job::Ping(ping));
                    }
                }
            }
            Icmpv4Repr::DstUnreachable { reason: Icmpv4DstUnreachable::PortUnreachable, header, .. } => {
                self.trace_answer(now, ip.src_addr, header.dst_addr, true);
            }
            Icmpv4Repr::TimeExceeded { reason: Icmpv4TimeExceeded::TtlExpired, header, .. } => {
                self.trace_answer(now, ip.src_addr, header.dst_addr, false);
            }
            _ => {}
        }
    }

    /// An ICMP error that answers a trace probe.
    fn trace_answer(&mut self, now: Instant, from: Ipv4Addr, probed: Ipv4Addr, arrived: bool) {
        let Some(Job::Trace(trace)) = &mut self.job else {
            return;
        };
        let Phase::Awaiting { sent, .. } = trace.phase else {
            return;
        };
        if probed != trace.dst {
            return;
        }
        let Some(Job::Trace(mut trace)) = self.job.take() else { return };
        if arrived {
            let line = format!(
                "{:2}   *{from}   {:.3} ms (ICMP type:3, code:3, Destination port unreachable)\n",
                trace.ttl,
                (now - sent).as_secs_f64() * 1000.0
            );
            self.print(line);
            self.job = None;
            return;
        }
        trace.hop.push(Some((from, now - sent)));
        let more = self.trace_probe_done(now, &mut trace);
        self.job = more.then_some(Job::Trace(trace));
    }

    /// A TCP segment: the next step of our TCP ping, or one to answer.
    fn on_tcp(
        &mut self,
        now: Instant,
        ip: smoltcp::wire::Ipv4Repr,
        src_mac: EthernetAddress,
        segment: Segment,
        payload_len: usize,
    ) {
        let Some(config) = self.ip else { return };
        if ip.dst_addr != config.addr {
            return;
        }
        if let Some(Job::Ping(ping)) = &mut self.job {
            if let (Phase::Awaiting { sent, .. }, Some(probe)) = (ping.phase, &mut ping.tcp) {
                if ip.src_addr == ping.dst && probe.owns(&segment) {
                    let step = probe.step;
                    let progress = probe.on_segment(&segment, payload_len);
                    let Some(Job::Ping(mut ping)) = self.job.take() else { return };
                    let more = self.tcp_progress(now, &mut ping, step, progress, ip.hop_limit, src_mac, sent);
                    self.job = more.then_some(Job::Ping(ping));
                    return;
                }
            }
        }
        let isn = self.next_random();
        if let Some(reply) = self.answerer.answer(ip.src_addr, &segment, payload_len, isn) {
            self.send_segment(src_mac, ip.src_addr, 64, reply, &[]);
        }
    }

    /// Carries out what a segment meant to our TCP ping; false when the ping is over.
    #[allow(clippy::too_many_arguments)]
    fn tcp_progress(
        &mut self,
        now: Instant,
        ping: &mut Ping,
        step: tcp::Step,
        progress: Progress,
        ttl: u8,
        mac: EthernetAddress,
        sent: Instant,
    ) -> bool {
        // Formatted only for a line to print: a stray segment costs nothing.
        let at = |ping: &Ping| format!("{} {}@{}", step.label(), ping.port, ping.dst);
        match progress {
            Progress::Ignored => true,
            Progress::Refused => {
                self.print(format!("{} RST returned\n", at(ping)));
                ping.tcp = None;
                self.next_ping(now, ping)
            }
            Progress::Done { ack, next } => {
                let rtt = (now - sent).as_secs_f64() * 1000.0;
                self.print(format!("{} seq={} ttl={ttl} time={rtt:.3} ms\n", at(ping), ping.seq));
                if let Some(ack) = ack {
                    self.send_segment(mac, ping.dst, ping.ttl, ack, &[]);
                }
                let Some(next) = next else {
                    ping.tcp = None;
                    return self.next_ping(now, ping);
                };
                let data = match next.flags & wire::flags::PSH {
                    0 => vec![],
                    _ => ping.data(),
                };
                self.send_segment(mac, ping.dst, ping.ttl, next, &data);
                self.probe_unsent = true;
                ping.phase = Phase::Awaiting { sent: now, deadline: now + ping.wait };
                true
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_udp(
        &mut self,
        now: Instant,
        ip: smoltcp::wire::Ipv4Repr,
        src_mac: EthernetAddress,
        src_port: u16,
        dst_port: u16,
        payload: &[u8],
        frame: &[u8],
    ) {
        let Some(config) = self.ip else { return };
        if ip.dst_addr != config.addr {
            return;
        }
        if dst_port == ECHO_PORT {
            let echo =
                wire::udp(self.mac, src_mac, config.addr, ip.src_addr, 64, ECHO_PORT, src_port, payload);
            return self.send(echo);
        }
        if src_port == ECHO_PORT {
            if let Some(Job::Ping(ping)) = &mut self.job {
                let seq = dst_port.wrapping_sub(UDP_PING_BASE);
                if let (Phase::Awaiting { sent, .. }, true) =
                    (ping.phase, seq == ping.seq && ip.src_addr == ping.dst)
                {
                    let bytes = payload.len() + 28;
                    let line = reply_line(bytes, ip.src_addr, "udp_seq", seq, ip.hop_limit, now - sent);
                    let Some(Job::Ping(mut ping)) = self.job.take() else { return };
                    self.print(line);
                    let more = self.next_ping(now, &mut ping);
                    self.job = more.then_some(Job::Ping(ping));
                }
            }
            return;
        }
        // Nobody listens: port unreachable, quoting the offending datagram (what trace waits for).
        let quoted = &frame[wire::ETH_HEADER..];
        let quoted = &quoted[..quoted.len().min(wire::IP_HEADER + 8)];
        let header = smoltcp::wire::Ipv4Repr { payload_len: 8.min(ip.payload_len), ..ip };
        let unreachable = Icmpv4Repr::DstUnreachable {
            reason: Icmpv4DstUnreachable::PortUnreachable,
            header,
            data: &quoted[wire::IP_HEADER.min(quoted.len())..],
        };
        let frame = wire::icmp(self.mac, src_mac, config.addr, ip.src_addr, 64, &unreachable);
        self.send(frame);
    }
}

/// `00:50:79:66:68:00`, as VPCS writes MACs (smoltcp uses dashes).
pub fn mac_text(mac: EthernetAddress) -> String {
    let b = mac.0;
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
}

fn reply_line(bytes: usize, from: Ipv4Addr, kind: &str, seq: u16, ttl: u8, rtt: Duration) -> String {
    format!("{bytes} bytes from {from} {kind}={seq} ttl={ttl} time={:.3} ms\n", rtt.as_secs_f64() * 1000.0)
}

/// `ping`'s arguments, as a ping that has not started (no next hop yet).
fn parse_ping(args: &[&str]) -> Result<Ping, String> {
    let mut ping = blank_ping();
    let (mut host, mut interval, mut wait) = (None, 1000, 1000);
    (ping.count, ping.size, ping.ttl, ping.seq, ping.port) = (5, 56, 64, 1, ECHO_PORT);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            it.next().and_then(|v| v.parse().ok()).ok_or(format!("Invalid value for {name}"))
        };
        match *arg {
            "-1" => ping.proto = Proto::Icmp,
            "-2" => ping.proto = Proto::Udp,
            "-3" => ping.proto = Proto::Tcp,
            "-p" => ping.port = value("-p")?.clamp(1, 65535) as u16,
            "-s" => ping.src_port = value("-s")?.clamp(1, 65535) as u16,
            "-t" => ping.count = u32::MAX, // until Ctrl+C
            "-c" => ping.count = value("-c")?.clamp(1, 1_000_000) as u32,
            "-i" => interval = value("-i")?.min(60_000),
            "-w" => wait = value("-w")?.clamp(1, 60_000),
            "-l" => ping.size = value("-l")?.clamp(0, 1472) as usize,
            "-T" => ping.ttl = value("-T")?.clamp(1, 255) as u8,
            a if a.starts_with('-') => return Err(format!("Invalid option {a}")),
            a => host = Some(a),
        }
    }
    let host = host.ok_or(
        "Usage: ping HOST [-c count|-t] [-i ms] [-w ms] [-l size] [-T ttl] [-s port] [-p port] [-1|-2|-3]",
    )?;
    ping.dst = host.parse().map_err(|_| "Invalid address".to_owned())?;
    if ping.proto == Proto::Tcp {
        ping.size = ping.size.min(1460); // what fits in a 1500-byte packet after 40 bytes of headers
    }
    (ping.interval, ping.wait) = (Duration::from_millis(interval), Duration::from_millis(wait));
    Ok(ping)
}

/// A ping with nothing set, for [`parse_ping`] to fill in.
fn blank_ping() -> Ping {
    Ping {
        dst: Ipv4Addr::UNSPECIFIED,
        next_hop: Ipv4Addr::UNSPECIFIED,
        proto: Proto::Icmp,
        count: 0,
        interval: Duration::ZERO,
        wait: Duration::ZERO,
        size: 0,
        ttl: 0,
        seq: 0,
        port: 0,
        src_port: 0,
        tcp: None,
        phase: Phase::Pausing { until: Instant::now() },
    }
}

/// The commands `word` (in any case) is a prefix of.
fn prefix_matches<'a>(word: &str, commands: &'a [&'static str]) -> impl Iterator<Item = &'static str> + 'a {
    let word = word.to_ascii_lowercase();
    commands.iter().copied().filter(move |c| c.starts_with(&word))
}

/// The one command `word` is a prefix of, if exactly one (or an exact match).
fn unique_prefix(word: &str, commands: &[&'static str]) -> Option<&'static str> {
    let word = word.to_ascii_lowercase();
    if let Some(exact) = commands.iter().find(|c| **c == word) {
        return Some(exact);
    }
    let mut matches = prefix_matches(&word, commands);
    match (matches.next(), matches.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

/// `ADDR`, `ADDR/LEN [GW]`, `ADDR MASK [GW]`, `ADDR LEN [GW]` or `ADDR GW MASK|LEN`.
fn parse_ip_args(args: &[&str]) -> Result<IpConfig, &'static str> {
    let first = args.first().ok_or("Invalid address")?;
    let (addr, mut prefix) = match first.split_once('/') {
        Some((a, len)) => (a, Some(parse_prefix(len).ok_or("Invalid address")?)),
        None => (*first, None),
    };
    let addr: Ipv4Addr = addr.parse().map_err(|_| "Invalid address")?;
    if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() || addr.is_loopback() {
        return Err("Invalid address");
    }
    let mut gateway = None;
    for arg in &args[1..] {
        if prefix.is_none() {
            if let Some(p) = parse_prefix(arg) {
                prefix = Some(p);
                continue;
            }
        }
        if gateway.is_some() {
            return Err("Invalid gateway address");
        }
        gateway = Some(arg.parse::<Ipv4Addr>().map_err(|_| "Invalid gateway address")?);
    }
    let config = IpConfig { addr, prefix: prefix.unwrap_or(24), gateway };
    if config.prefix == 0 || config.prefix > 30 {
        return Err("Invalid address");
    }
    if let Some(gw) = gateway {
        if gw == addr || gw.is_unspecified() || gw.is_broadcast() {
            return Err("Invalid gateway address");
        }
        if !config.same_subnet(gw) {
            return Err("not same subnet");
        }
    }
    Ok(config)
}

/// `24` or `255.255.255.0`.
fn parse_prefix(s: &str) -> Option<u8> {
    if let Ok(len) = s.parse::<u8>() {
        return (len <= 32).then_some(len);
    }
    let mask = u32::from(s.parse::<Ipv4Addr>().ok()?);
    let len = mask.leading_ones();
    (mask.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

/// What `ping`, `ip` ... print alone or with `?`: VPCS's help for each,
/// cut to the options this PC has.
fn command_help(command: &str) -> Option<&'static str> {
    Some(match command {
        "clear" => "\nclear [ip|arp|hist]\n  Clear the IPv4 address, the arp table or the command history\n",
        "set" => "\nset pcname <name>\n  Set the hostname of the current VPC\n",
        "ip" => {
            "\nip [arguments]\n  Configure the current VPC's IP settings\n  arguments:\n\
             \x20   <address> [/<mask>] [<gateway>]\n\
             \x20   <address> [<gateway>] [/<mask>]\n\
             \x20                  Set the VPC's ip, default gateway ip and network mask\n\
             \x20                  Default IPv4 mask is /24.\n\
             \x20                  </mask> may be written as /26, 26 or 255.255.255.192\n"
        }
        "ping" => {
            "\nping <host> [-options]\n  Ping the network <host>, an IPv4 address\n    options:\n\
             \x20    -1             ICMP mode, default\n\
             \x20    -2             UDP mode\n\
             \x20    -3             TCP mode: connect, send data, close\n\
             \x20    -c <count>     packet count, default 5\n\
             \x20    -l <size>      data size\n\
             \x20    -T <ttl>       set TTL, default 64\n\
             \x20    -s <port>      source port (TCP mode)\n\
             \x20    -p <port>      destination port (TCP mode)\n\
             \x20    -t             send packets until interrupted by Ctrl+C\n\
             \x20    -i <ms>        wait <ms> milliseconds between sending each packet\n\
             \x20    -w <ms>        wait <ms> milliseconds to receive the response\n\n\
             \x20 Note: Use Ctrl+C to stop the command.\n"
        }
        "trace" => {
            "\ntrace <host> [-options]\n  Print the path packets take to network <host>, an IPv4 address.\n\
             \x20   options:\n\
             \x20     -m <ttl>       maximum TTL, default 8\n\
             \x20     <ttl>          Same as -m option, compatible with the old version\n\n\
             \x20 Note: Use Ctrl+C to stop the command.\n"
        }
        _ => return None,
    })
}

const HELP: &str = "
?                        Print help
arp                      Shortcut for: show arp. Show arp table
clear ARG                Clear IPv4/IPv6, arp/neighbor cache, command history
disconnect               Exit the telnet session (daemon mode)
echo TEXT                Display TEXT in output.
help                     Print help
history                  Shortcut for: show history. List the command history
ip ARG ... [OPTION]      Configure the current VPC's IP settings
                           ADDR[/LEN] [GATEWAY], ADDR MASK [GATEWAY]
load                     Load the configuration file startup.vpc
ping HOST [OPTION ...]   Ping the network HOST
                           -c count  -i ms  -w ms  -l size  -T ttl  -p port
                           -1 ICMP (default)  -2 UDP  -3 TCP (connect, send, close)
save                     Save the configuration to startup.vpc
set ARG ...              Set VPC name: set pcname NAME
show [ARG ...]           Print the information of VPCs: show ip, show arp
trace HOST [-m ttl]      Print the path packets take to network HOST
version                  Shortcut for: show version

";

#[cfg(test)]
mod tests {
    use super::*;

    const MAC_A: [u8; 6] = [0x00, 0x50, 0x79, 0x66, 0x68, 0x00];
    const MAC_B: [u8; 6] = [0x00, 0x50, 0x79, 0x66, 0x68, 0x01];

    fn text(pc: &mut Pc) -> String {
        pc.take_output()
            .into_iter()
            .filter_map(|o| match o {
                Output::Text(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    fn frames(out: &[Output]) -> Vec<Vec<u8>> {
        out.iter()
            .filter_map(|o| match o {
                Output::Frame(f) => Some(f.clone()),
                _ => None,
            })
            .collect()
    }

    /// Two PCs wired back to back; frames cross instantly, time advances by `step`.
    struct Wire {
        a: Pc,
        b: Pc,
        now: Instant,
        a_text: String,
    }

    impl Wire {
        fn new() -> Wire {
            Wire {
                a: Pc::new(MAC_A, None),
                b: Pc::new(MAC_B, None),
                now: Instant::now(),
                a_text: String::new(),
            }
        }

        /// Two PCs with addresses, past their duplicate checks, A's text cleared.
        fn addressed(b_ip: &str, a_ip: &str) -> Wire {
            let mut w = Wire::new();
            w.type_b(&format!("ip {b_ip}"));
            w.type_a(&format!("ip {a_ip}"));
            w.run_for(Duration::from_secs(1));
            w.a_text.clear();
            w
        }

        /// Delivers frames until both sides are quiet, then runs timers up to `until`.
        fn run_for(&mut self, span: Duration) {
            let end = self.now + span;
            loop {
                self.shuttle();
                let next = [self.a.deadline(), self.b.deadline()].into_iter().flatten().min();
                match next {
                    Some(t) if t <= end => {
                        self.now = self.now.max(t);
                        self.a.on_timer(self.now);
                        self.b.on_timer(self.now);
                    }
                    _ => break,
                }
            }
            self.now = end;
        }

        fn shuttle(&mut self) {
            loop {
                let from_a = self.a.take_output();
                let from_b = self.b.take_output();
                for o in &from_a {
                    if let Output::Text(t) = o {
                        self.a_text.push_str(t);
                    }
                }
                let (fa, fb) = (frames(&from_a), frames(&from_b));
                if fa.is_empty() && fb.is_empty() {
                    return;
                }
                self.now += Duration::from_micros(50);
                for f in fa {
                    self.b.on_frame(self.now, &f);
                }
                for f in fb {
                    self.a.on_frame(self.now, &f);
                }
            }
        }

        fn type_a(&mut self, line: &str) {
            self.a.on_line(self.now, 1, line);
        }

        fn type_b(&mut self, line: &str) {
            self.b.on_line(self.now, 1, line);
        }
    }

    #[test]
    fn the_seed_session_ip_then_ping() {
        let mut w = Wire::new();
        w.type_b("ip 192.168.1.1");
        w.run_for(Duration::from_secs(1));
        w.type_a("ip 192.168.1.2");
        w.run_for(Duration::from_secs(1));
        assert_eq!(w.a_text, "Checking for duplicate address...\nPC1 : 192.168.1.2 255.255.255.0\nVPCS> ");
        w.a_text.clear();
        w.type_a("ping 192.168.1.1");
        w.run_for(Duration::from_secs(6));
        let lines: Vec<&str> = w.a_text.lines().collect();
        assert_eq!(lines.len(), 6, "{}", w.a_text);
        for (i, line) in lines[..5].iter().enumerate() {
            let prefix = format!("84 bytes from 192.168.1.1 icmp_seq={} ttl=64 time=", i + 1);
            assert!(line.starts_with(&prefix) && line.ends_with(" ms"), "{line}");
        }
        assert_eq!(lines[5], "VPCS> ");
    }

    #[test]
    fn a_taken_address_is_refused() {
        let mut w = Wire::new();
        w.type_b("ip 10.0.0.1/8");
        w.run_for(Duration::from_secs(1));
        w.type_a("ip 10.0.0.1 255.0.0.0");
        w.run_for(Duration::from_secs(1));
        assert_eq!(
            w.a_text,
            "Checking for duplicate address...\n10.0.0.1 is being used by MAC 00:50:79:66:68:01\nAddress not changed\nVPCS> "
        );
        assert_eq!(w.a.ip(), None);
    }

    #[test]
    fn unreachable_hosts_timeouts_and_no_gateway() {
        let mut w = Wire::new();
        w.type_a("ip 192.168.1.2 24");
        w.run_for(Duration::from_secs(1));
        w.a_text.clear();
        w.type_a("ping 192.168.1.9");
        w.run_for(Duration::from_secs(3));
        assert_eq!(w.a_text, "host (192.168.1.9) not reachable\nVPCS> ");
        w.a_text.clear();
        w.type_a("ping 8.8.8.8");
        w.run_for(Duration::from_secs(1));
        assert_eq!(w.a_text, "No gateway found\nVPCS> ");
        // B answers ARP, then goes silent: timeouts.
        w.type_b("ip 192.168.1.1");
        w.run_for(Duration::from_secs(1));
        w.a_text.clear();
        w.type_a("ping 192.168.1.1 -c 1");
        w.run_for(Duration::from_secs(1));
        assert!(w.a_text.starts_with("84 bytes from 192.168.1.1 icmp_seq=1"), "{}", w.a_text);
        w.a_text.clear();
        w.b = Pc::new(MAC_B, None); // B loses its address; A still knows its MAC
        w.type_a("ping 192.168.1.1 -c 2 -w 200 -i 10");
        w.run_for(Duration::from_secs(2));
        assert_eq!(w.a_text, "192.168.1.1 icmp_seq=1 timeout\n192.168.1.1 icmp_seq=2 timeout\nVPCS> ");
    }

    #[test]
    fn udp_ping_and_trace_to_a_neighbour() {
        let mut w = Wire::addressed("10.1.1.1", "10.1.1.2");
        w.type_a("ping 10.1.1.1 -2 -c 2 -i 10");
        w.run_for(Duration::from_secs(1));
        let lines: Vec<&str> = w.a_text.lines().collect();
        assert!(lines[0].starts_with("84 bytes from 10.1.1.1 udp_seq=1 ttl=64 time="), "{}", w.a_text);
        assert!(lines[1].starts_with("84 bytes from 10.1.1.1 udp_seq=2 ttl=64 time="), "{}", w.a_text);
        w.a_text.clear();
        w.type_a("trace 10.1.1.1");
        w.run_for(Duration::from_secs(1));
        let lines: Vec<&str> = w.a_text.lines().collect();
        assert_eq!(lines[0], "trace to 10.1.1.1, 8 hops max, press Ctrl+C to stop");
        assert!(lines[1].starts_with(" 1   *10.1.1.1   "), "{}", w.a_text);
        assert!(lines[1].ends_with(" ms (ICMP type:3, code:3, Destination port unreachable)"));
        w.a_text.clear();
        w.type_a("trace 10.1.1.1 2"); // VPCS's older form of -m
        w.run_for(Duration::from_secs(1));
        assert!(w.a_text.starts_with("trace to 10.1.1.1, 2 hops max"), "{}", w.a_text);
    }

    #[test]
    fn a_ping_to_its_own_address_answers_at_once() {
        let mut w = Wire::addressed("10.1.1.1", "10.1.1.2");
        w.type_a("ping 10.1.1.2 -c 3");
        w.run_for(Duration::from_millis(10));
        let line = |n| format!("10.1.1.2 icmp_seq={n} ttl=64 time=0.001 ms\n");
        assert_eq!(w.a_text, format!("{}{}{}VPCS> ", line(1), line(2), line(3)));
    }

    #[test]
    fn tcp_ping_connects_sends_and_closes() {
        let mut w = Wire::addressed("10.1.1.1", "10.1.1.2");
        w.type_a("ping 10.1.1.1 -3 -c 2 -i 10");
        w.run_for(Duration::from_secs(1));
        let lines: Vec<&str> = w.a_text.lines().collect();
        for (i, step) in ["Connect  ", "SendData ", "Close    "].iter().cycle().take(6).enumerate() {
            let start = format!("{step} 7@10.1.1.1 seq={} ttl=64 time=", i / 3 + 1);
            assert!(lines[i].starts_with(&start) && lines[i].ends_with(" ms"), "{}", w.a_text);
        }
        assert_eq!(lines[6], "VPCS> ", "{}", w.a_text);
        w.a_text.clear();
        w.type_a("ping 10.1.1.1 -3 -c 1 -p 80 -l 0");
        w.run_for(Duration::from_secs(1));
        assert!(w.a_text.contains("Close     80@10.1.1.1 seq=1 ttl=64"), "{}", w.a_text);
        // Nobody there: each ping's connect times out.
        w.a_text.clear();
        w.type_a("ping 10.1.1.1 -3 -c 1 -w 50");
        w.b = Pc::new([0x00, 0x50, 0x79, 0x66, 0x68, 0x09], None); // B lost its address
        w.run_for(Duration::from_secs(1));
        assert!(w.a_text.starts_with("Connect   7@10.1.1.1 timeout\n"), "{}", w.a_text);
        w.a_text.clear();
        w.type_a("ping 10.1.1.1 -2 -c 1 -w 50");
        w.run_for(Duration::from_secs(1));
        assert_eq!(w.a_text, "10.1.1.1 udp_seq=1 timeout\nVPCS> ", "named as VPCS names it");
        // TCP data is cut to what fits in one 1500-byte packet; UDP keeps its 1472.
        assert_eq!(parse_ping(&["10.1.1.1", "-3", "-l", "1472"]).unwrap().size, 1460);
        assert_eq!(parse_ping(&["10.1.1.1", "-2", "-l", "1472"]).unwrap().size, 1472);
    }

    #[test]
    fn ip_argument_forms_and_errors() {
        let cfg = |a: &[&str]| parse_ip_args(a);
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(cfg(&["10.0.0.1"]), Ok(IpConfig { addr: ip("10.0.0.1"), prefix: 24, gateway: None }));
        assert_eq!(
            cfg(&["10.0.0.1/16", "10.0.9.9"]),
            Ok(IpConfig { addr: ip("10.0.0.1"), prefix: 16, gateway: Some(ip("10.0.9.9")) })
        );
        assert_eq!(cfg(&["10.0.0.1", "255.255.0.0", "10.0.9.9"]).unwrap().prefix, 16);
        assert_eq!(cfg(&["10.0.0.1", "10.0.0.254", "24"]).unwrap().gateway, Some(ip("10.0.0.254")));
        assert_eq!(cfg(&["10.0.0.300"]), Err("Invalid address"));
        assert_eq!(cfg(&["10.0.0.1", "255.255.255.0", "x"]), Err("Invalid gateway address"));
        assert_eq!(cfg(&["10.0.0.1", "24", "10.0.1.1"]), Err("not same subnet"));
        assert_eq!(parse_prefix("255.255.0.255"), None);
    }

    #[test]
    fn shell_commands() {
        let mut pc = Pc::new(MAC_A, None);
        let now = Instant::now();
        pc.on_line(now, 1, "set pcname PC7");
        assert_eq!(text(&mut pc), "PC7> ");
        pc.on_line(now, 1, "ech hello world");
        assert_eq!(text(&mut pc), "hello world\nPC7> ");
        pc.on_line(now, 1, "ping");
        let help = text(&mut pc);
        assert!(
            help.starts_with("\nping <host> [-options]\n") && help.contains("     -3             TCP mode"),
            "{help}"
        );
        assert_eq!(parse_ping(&["10.0.0.1", "-t"]).unwrap().count, u32::MAX, "until Ctrl+C");
        assert_eq!(parse_ping(&["10.0.0.1", "-3", "-s", "4000"]).unwrap().src_port, 4000);
        pc.on_line(now, 1, "ip ?");
        assert!(text(&mut pc).starts_with("\nip [arguments]\n"), "help, not an address error");
        pc.on_line(now, 1, "clear");
        assert!(text(&mut pc).starts_with("\nclear [ip|arp|hist]\n"));
        pc.on_line(now, 1, "show xyz");
        assert_eq!(text(&mut pc), "Invalid arguments\nPC7> ");
        pc.on_line(now, 1, "load other.vpc");
        assert_eq!(text(&mut pc), "Can't open \"other.vpc\"\nPC7> ");
        pc.on_line(now, 1, "s ip");
        assert_eq!(text(&mut pc), "save\nset\nshow\nPC7> ", "an ambiguous prefix lists its commands");
        pc.on_line(now, 1, "frobnicate");
        assert_eq!(text(&mut pc), "Bad command: \"frobnicate\". Use ? for help.\nPC7> ");
        pc.on_line(now, 1, "sh ip");
        let shown = text(&mut pc);
        assert!(
            shown.contains("NAME        : PC7[1]") && shown.contains("MAC         : 00:50:79:66:68:00"),
            "{shown}"
        );
        pc.on_line(now, 1, "arp");
        assert_eq!(text(&mut pc), "\narp table is empty\n\nPC7> ");
        pc.on_line(now, 1, "hist");
        let history = text(&mut pc);
        assert!(
            history
                .contains("\nech hello world\nping\nip ?\nclear\nshow xyz\nload other.vpc\ns ip\nfrobnicate\nsh ip\narp\nhist\nPC7> "),
            "{history}"
        );
        // `show` alone and `version`, in real VPCS's layout (compared side by side with vpcs 0.5b2).
        pc.on_line(now, 1, "show");
        assert_eq!(
            text(&mut pc),
            "\nNAME   IP/MASK              GATEWAY           MAC                LPORT  RHOST:PORT\n\
             PC7    0.0.0.0/0            0.0.0.0           00:50:79:66:68:00  0      :0\nPC7> "
        );
        pc.on_line(now, 1, "version");
        let version = text(&mut pc);
        assert!(version.starts_with("\nWelcome to Virtual PC Simulator, version 0.6\n"), "{version}");
        assert!(version.ends_with("wiki.freecode.com.cn.\nPC7> "), "{version}");
        pc.on_line(now, 9, "disconnect");
        assert_eq!(pc.take_output(), [Output::Disconnect(9)]);
        pc.on_line(now, 1, "!ls /");
        assert_eq!(text(&mut pc), "Bad command: \"!ls /\". Use ? for help.\nPC7> ", "never a host command");
    }

    #[test]
    fn save_load_and_boot_scripts() {
        let mut w = Wire::new();
        w.type_a("set pcname Alice");
        w.type_a("ip 10.0.0.5/16 10.0.0.1");
        w.run_for(Duration::from_secs(1));
        w.type_a("save");
        let saved = w.a.take_output().into_iter().find_map(|o| match o {
            Output::SaveScript(s) => Some(s),
            _ => None,
        });
        assert_eq!(saved.as_deref(), Some("set pcname Alice\nip 10.0.0.5 16 10.0.0.1\n"));
        let mut booted = Pc::new(MAC_B, saved);
        let now = Instant::now();
        booted.boot(now);
        booted.on_timer(now + Duration::from_secs(1));
        assert_eq!(booted.ip().map(|c| (c.addr, c.prefix)), Some((Ipv4Addr::new(10, 0, 0, 5), 16)));
        assert_eq!(booted.prompt(), "Alice> ");
    }

    #[test]
    fn a_ping_is_timed_from_when_its_request_left() {
        let mut w = Wire::addressed("192.168.1.1", "192.168.1.2");
        w.type_a("ping 192.168.1.1 -c 1"); // learns B's MAC
        w.run_for(Duration::from_secs(2));
        text(&mut w.a);

        w.type_a("ping 192.168.1.1 -c 1");
        let made = w.now;
        let request = loop {
            w.a.on_timer(made);
            if let Some(frame) = w.a.take_frames().pop() {
                break frame;
            }
        };
        // The driver got round to sending it 3 ms after it was made.
        w.a.frames_left(made + Duration::from_millis(3));
        w.b.on_frame(made + Duration::from_millis(4), &request);
        let reply = w.b.take_frames().pop().expect("an echo reply");
        w.a.on_frame(made + Duration::from_millis(5), &reply);
        assert!(text(&mut w.a).contains("icmp_seq=1 ttl=64 time=2.000 ms"));
    }

    #[test]
    fn a_held_ping_waits_while_the_pc_still_answers() {
        let mut w = Wire::addressed("10.0.0.1", "10.0.0.2");
        w.a.hold(true);
        w.type_a("ping 10.0.0.1 -c 3 -i 0");
        assert_eq!(w.a.deadline(), None, "no timer while held");
        w.run_for(Duration::from_secs(10));
        assert_eq!(w.a_text, "", "no probe, no timeout");
        assert!(w.a.busy());
        // Held, A still answers: B's ping ends well before its 1 s timeout.
        w.type_b("ping 10.0.0.2 -c 1");
        w.run_for(Duration::from_millis(500));
        assert!(!w.b.busy(), "B's ping was answered");
        w.a.hold(false);
        w.run_for(Duration::from_secs(1));
        assert_eq!(w.a_text.matches("time=").count(), 3, "{}", w.a_text);
        assert!(!w.a.busy());
    }

    #[test]
    fn ctrl_c_stops_a_ping_and_lines_wait_for_a_running_job() {
        let mut w = Wire::addressed("10.0.0.1", "10.0.0.2");
        w.type_a("ping 10.0.0.1 -c 100");
        w.type_a("echo after");
        w.run_for(Duration::from_millis(1500));
        assert!(w.a.busy());
        assert!(!w.a_text.contains("after"), "typed lines wait for the ping");
        w.a.interrupt(w.now);
        w.shuttle();
        assert!(!w.a.busy());
        assert!(w.a_text.ends_with("\nVPCS> "), "{}", w.a_text);
        assert_eq!(w.a_text.matches("icmp_seq").count(), 2);
    }
}
