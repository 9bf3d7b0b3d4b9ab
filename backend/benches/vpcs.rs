//! Virtual PCs against real VPCS, side by side in one run.
//!
//! `cargo bench -p patchbay --bench vpcs` (needs Debian's `vpcs`).
//!
//! 1. Ping RTT between two PCs over loopback tunnels: two Patchbay PCs, then
//!    two real `vpcs` processes, each pinging 200 times; the RTTs each prints.
//!    Beside them, the floor: the same round trip by bare system calls.
//! 2. Flood: `ping -i 0` (next request as soon as the reply is in), frames/s
//!    and p99 RTT, both sides.
//! 3. Memory and idle CPU of 1,000 started idle PCs in one server, against
//!    20 real `vpcs` processes (one PC each, as GNS3 runs them).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PINGS: u32 = 200;
/// Rounds the pings are split into, each measuring all three pairs in turn,
/// so that a slow spell of the machine weighs on all of them alike.
const ROUNDS: u32 = 10;
/// The spacing of the measured pings (`ping -i`).
const PING_GAP_MS: u64 = 10;
const FLOOD: u32 = 2000;
const VPCS_FLOOD: u32 = 500;
const IDLE_VMS: usize = 1000;
const REAL_VPCS: usize = 20;
/// How long idle CPU is measured.
const IDLE_SECS: u64 = 10;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());

    // 1 and 2: two linked Patchbay PCs.
    let project =
        server.post("/v1/projects", r#"{"name": "bench"}"#)["project_id"].as_str().unwrap().to_owned();
    let mut consoles = vec![];
    let ports: Vec<u64> = (0..2)
        .map(|_| {
            server.post(&format!("/v1/projects/{project}/ports/udp"), "{}")["udp_port"].as_u64().unwrap()
        })
        .collect();
    for i in 0..2 {
        let vm = server.post(&format!("/v1/projects/{project}/vpcs/vms"), &format!(r#"{{"name": "PC{i}"}}"#));
        let id = vm["vm_id"].as_str().unwrap();
        let nio = format!(
            r#"{{"type": "nio_udp", "lport": {}, "rhost": "127.0.0.1", "rport": {}}}"#,
            ports[i],
            ports[1 - i]
        );
        server.post(&format!("/v1/projects/{project}/vpcs/vms/{id}/adapters/0/ports/0/nio"), &nio);
        server.post(&format!("/v1/projects/{project}/vpcs/vms/{id}/start"), "{}");
        consoles.push(vm["console"].as_u64().unwrap() as u16);
    }
    let mut a = Console::connect(consoles[0]);
    let mut b = Console::connect(consoles[1]);
    a.run("ip 10.0.0.1", "VPCS> ");
    b.run("ip 10.0.0.2", "VPCS> ");
    b.run("ping 10.0.0.1 -c 3", "VPCS> "); // warm the ARP caches

    // The same with two real vpcs.
    let base = 31000;
    let v1 = real_vpcs(5301, base, base + 100, 10);
    let v2 = real_vpcs(5302, base + 100, base, 20);
    let mut va = Console::connect(5301);
    let mut vb = Console::connect(5302);
    va.run("ip 10.0.0.1 24", "VPCS> ");
    vb.run("ip 10.0.0.2 24", "VPCS> ");
    vb.run("ping 10.0.0.1 -c 3", "VPCS> ");

    let (mut ours, mut theirs, mut floor, mut ratios) = (vec![], vec![], vec![], vec![]);
    let per_round = PINGS / ROUNDS;
    for _ in 0..ROUNDS {
        let mut o = rtts(&b.run(&format!("ping 10.0.0.1 -c {per_round} -i {PING_GAP_MS}"), "VPCS> "));
        let mut t = rtts(&vb.run(&format!("ping 10.0.0.1 -c {per_round} -i {PING_GAP_MS}"), "VPCS> "));
        let f = bare_round_trips(per_round);
        ratios.push(percentile(&mut o, 0.5) / percentile(&mut t, 0.5));
        ours.extend(o);
        theirs.extend(t);
        floor.extend(f);
    }
    let (m_ours, m_theirs) = (percentile(&mut ours, 0.5), percentile(&mut theirs, 0.5));
    let m_floor = percentile(&mut floor, 0.5);
    println!("\n## Ping RTT over loopback tunnels ({PINGS} pings each in {ROUNDS} rounds, {PING_GAP_MS} ms apart)\n");
    println!("| pair | median | p99 |\n|---|---|---|");
    println!("| two Patchbay PCs | {m_ours:.3} ms | {:.3} ms |", percentile(&mut ours, 0.99));
    println!("| two real vpcs 0.5b2 | {m_theirs:.3} ms | {:.3} ms |", percentile(&mut theirs, 0.99));
    println!(
        "| floor: bare send/recv/send/recv, one thread | {m_floor:.3} ms | {:.3} ms |",
        percentile(&mut floor, 0.99)
    );
    let m_ratio = percentile(&mut ratios, 0.5);
    println!(
        "\nPatchbay / vpcs median: {:.2} (target <= 0.33); per round: median {m_ratio:.2}, {:.2}-{:.2}; floor / vpcs: {:.2}",
        m_ours / m_theirs,
        ratios[0],
        ratios[ratios.len() - 1],
        m_floor / m_theirs
    );

    let started = Instant::now();
    let mut flood = rtts(&b.run(&format!("ping 10.0.0.1 -c {FLOOD} -i 0"), "VPCS> "));
    let ours_rate = 2.0 * flood.len() as f64 / started.elapsed().as_secs_f64();
    let ours_p99 = percentile(&mut flood, 0.99);
    let started = Instant::now();
    // vpcs 0.5b2 stalls with `-i 0` (two replies in four seconds here): give it its best, `-i 1`.
    let mut vflood = rtts(&vb.run(&format!("ping 10.0.0.1 -c {VPCS_FLOOD} -i 1"), "VPCS> "));
    let theirs_rate = 2.0 * vflood.len() as f64 / started.elapsed().as_secs_f64();
    let theirs_p99 = percentile(&mut vflood, 0.99);
    println!("\n## Flood: `ping -i 0 -c {FLOOD}` (vpcs: `-i 1 -c {VPCS_FLOOD}`); frames/s counts requests and replies\n");
    println!("| pair | frames/s | replies | p99 RTT |\n|---|---|---|---|");
    println!("| two Patchbay PCs | {ours_rate:.0} | {} | {ours_p99:.3} ms |", flood.len());
    println!("| two real vpcs 0.5b2 | {theirs_rate:.0} | {} | {theirs_p99:.3} ms |", vflood.len());
    drop((a, b, va, vb));

    // 3: a thousand idle PCs, beside the same server before they started.
    let before = server.usage();
    std::thread::sleep(Duration::from_secs(IDLE_SECS));
    let empty = server.usage();
    let empty_cpu = 100.0 * (empty.cpu_secs - before.cpu_secs) / IDLE_SECS as f64;
    let idle = server.post("/v1/projects", r#"{"name": "idle"}"#)["project_id"].as_str().unwrap().to_owned();
    for i in 0..IDLE_VMS {
        let vm = server.post(&format!("/v1/projects/{idle}/vpcs/vms"), &format!(r#"{{"name": "PC{i}"}}"#));
        let id = vm["vm_id"].as_str().unwrap();
        let lport =
            server.post(&format!("/v1/projects/{idle}/ports/udp"), "{}")["udp_port"].as_u64().unwrap();
        let nio = format!(r#"{{"type": "nio_udp", "lport": {lport}, "rhost": "127.0.0.1", "rport": 9}}"#);
        server.post(&format!("/v1/projects/{idle}/vpcs/vms/{id}/adapters/0/ports/0/nio"), &nio);
        server.post(&format!("/v1/projects/{idle}/vpcs/vms/{id}/start"), "{}");
    }
    std::thread::sleep(Duration::from_secs(2));
    let loaded = server.usage();
    std::thread::sleep(Duration::from_secs(IDLE_SECS));
    let after = server.usage();
    let per_vm_kb = (loaded.pss_kb - before.pss_kb) as f64 / IDLE_VMS as f64;
    let idle_cpu = 100.0 * (after.cpu_secs - loaded.cpu_secs) / IDLE_SECS as f64;
    let lab_cpu = 100.0 * (after.lab_secs - loaded.lab_secs) / IDLE_SECS as f64;

    // The real vpcs daemon is the child of the process we start.
    let daemon = |c: &Child| -> u32 {
        let out = Command::new("pgrep").args(["-P", &c.id().to_string()]).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(c.id())
    };
    let real: Vec<Child> = (0..REAL_VPCS as u16)
        .map(|i| real_vpcs(5400 + i, 32000 + i * 20, 33000 + i * 20, (i % 200) as u8))
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let pids: Vec<u32> = real.iter().map(daemon).collect();
    let start: Vec<Usage> = pids.iter().map(|p| usage(*p)).collect();
    std::thread::sleep(Duration::from_secs(IDLE_SECS));
    let end: Vec<Usage> = pids.iter().map(|p| usage(*p)).collect();
    let vpcs_pss = start.iter().map(|u| u.pss_kb).sum::<u64>() as f64 / REAL_VPCS as f64;
    let vpcs_cpu = start.iter().zip(&end).map(|(s, e)| e.cpu_secs - s.cpu_secs).sum::<f64>() * 100.0
        / IDLE_SECS as f64
        / REAL_VPCS as f64;
    println!("\n## {IDLE_VMS} started, idle PCs (each with a tunnel and a console)\n");
    println!("| | memory per PC (PSS) | idle CPU |\n|---|---|---|");
    println!("| Patchbay, {IDLE_VMS} PCs in one server | {per_vm_kb:.1} KB | {idle_cpu:.2} % of a core for the server, {lab_cpu:.2} % on the PCs' thread |");
    println!("| the same server before they started | | {empty_cpu:.2} % of a core |");
    println!("| real vpcs, one process per PC ({REAL_VPCS} measured) | {vpcs_pss:.0} KB | {vpcs_cpu:.2} % of a core each |");
    for c in real {
        kill_vpcs(c);
    }
    kill_vpcs(v1);
    kill_vpcs(v2);
}

/// The least any tunnel can cost: one thread passes a ping-sized datagram
/// over loopback from socket a to b and back, with the pings' spacing, and
/// nothing else (two sends, two blocking receives). Milliseconds.
fn bare_round_trips(n: u32) -> Vec<f64> {
    let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // Connected, as the tunnels' sockets are: the cheapest sends there are.
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    let mut buf = [0u8; 2048];
    (0..n)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(PING_GAP_MS));
            let started = Instant::now();
            a.send(&[0u8; 98]).unwrap();
            let len = b.recv(&mut buf).unwrap();
            b.send(&buf[..len]).unwrap();
            a.recv(&mut buf).unwrap();
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

/// vpcs with `-p` forks a daemon that outlives its parent: kill the children first.
fn kill_vpcs(mut child: Child) {
    let _ = Command::new("pkill").args(["-KILL", "-P", &child.id().to_string()]).status();
    let _ = child.kill();
    let _ = child.wait();
}

fn real_vpcs(console: u16, lport: u16, rport: u16, mac: u8) -> Child {
    let child = Command::new("vpcs")
        .args(["-p", &console.to_string(), "-m", &mac.to_string(), "-i", "1", "-F"])
        .args(["-s", &lport.to_string(), "-c", &rport.to_string(), "-t", "127.0.0.1"])
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("vpcs is installed");
    for _ in 0..50 {
        if TcpStream::connect(("127.0.0.1", console)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

/// Milliseconds of every `time=X ms` in a ping's output.
fn rtts(out: &str) -> Vec<f64> {
    out.lines().filter_map(|l| l.split("time=").nth(1)?.split_whitespace().next()?.parse().ok()).collect()
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

struct Usage {
    pss_kb: u64,
    cpu_secs: f64,
    /// CPU time of the thread every PC runs on (none in vpcs).
    lab_secs: f64,
}

/// User and system CPU seconds in a `/proc/.../stat` line.
fn stat_cpu_secs(stat: &str) -> f64 {
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / 100.0
}

fn usage(pid: u32) -> Usage {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    let pss_kb = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    let cpu_secs = stat_cpu_secs(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap());
    let lab_secs = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "patchbay-lab"))
        .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
        .map(|s| stat_cpu_secs(&s))
        .sum();
    Usage { pss_kb, cpu_secs, lab_secs }
}

struct Server {
    server: common::Server,
    client: reqwest::blocking::Client,
}

impl Server {
    fn start(dir: &std::path::Path) -> Server {
        let flags = ["--osc-port=0", "--console-ports=20000-21999", "--udp-ports=40000-42999"];
        let server = common::Server::start(dir, &flags.map(String::from));
        Server { server, client: reqwest::blocking::Client::new() }
    }

    fn post(&self, path: &str, body: &str) -> serde_json::Value {
        let res =
            self.client.post(format!("{}{path}", self.server.base)).body(body.to_owned()).send().unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().unwrap_or(serde_json::Value::Null)
    }

    fn usage(&self) -> Usage {
        usage(self.server.child.id())
    }
}

/// A blocking console client that waits for prompts.
struct Console {
    stream: TcpStream,
    text: String,
}

impl Console {
    fn connect(port: u16) -> Console {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let mut c = Console { stream, text: String::new() };
        c.until("VPCS> ");
        c
    }

    fn until(&mut self, marker: &str) -> String {
        let mut buf = [0u8; 65536];
        while !self.text.contains(marker) {
            let n = self.stream.read(&mut buf).unwrap();
            assert!(n > 0, "console closed");
            let clean: Vec<u8> = buf[..n].iter().copied().filter(|b| *b < 0x80 && *b != b'\r').collect();
            self.text.push_str(&String::from_utf8_lossy(&clean));
        }
        let at = self.text.find(marker).unwrap() + marker.len();
        let out = self.text[..at].to_owned();
        self.text.drain(..at);
        out
    }

    fn run(&mut self, line: &str, prompt: &str) -> String {
        self.stream.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        self.until(&format!("{line}\n"));
        self.until(prompt)
    }
}
