//! The VPCS shell: a typed line becomes a command (`ip`, `ping`, `trace`,
//! `show`, `arp`, `save`, `load`, `set`, `clear`, `history`, `version` ...),
//! answered with VPCS's own wording; lines typed while a job runs wait.

use super::*;

impl Pc {
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

    pub(super) fn run_waiting(&mut self, now: Instant) {
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

    pub(super) fn clear(&mut self, line: &str, rest: &[&str]) {
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

    pub(super) fn set(&mut self, line: &str, rest: &[&str]) {
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

    pub(super) fn show(&mut self, now: Instant, rest: &[&str]) {
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

    pub(super) fn save(&mut self) {
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
    pub(super) fn load(&mut self, file: Option<&str>) {
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

    pub(super) fn finish_ip(&mut self, config: IpConfig) {
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

    pub(super) fn is_own(&self, addr: Ipv4Addr) -> bool {
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
}

/// `ping`'s arguments, as a ping that has not started (no next hop yet).
pub(super) fn parse_ping(args: &[&str]) -> Result<Ping, String> {
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
pub(super) fn parse_ip_args(args: &[&str]) -> Result<IpConfig, &'static str> {
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
pub(super) fn parse_prefix(s: &str) -> Option<u8> {
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
