//! The PC without sockets: frames in, frames and text out.

use super::shell::{parse_ip_args, parse_ping, parse_prefix};
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
        Wire { a: Pc::new(MAC_A, None), b: Pc::new(MAC_B, None), now: Instant::now(), a_text: String::new() }
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
