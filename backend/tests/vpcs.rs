//! Virtual PCs end to end: the seed's telnet session, a real `vpcs` on the
//! other end of a tunnel, and consoles under shared use, garbage and Ctrl-C.

mod common;

use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Console, TempServer};
use reqwest::Client;
use serde_json::{json, Value};

/// A project with two VPCS VMs linked by crossed tunnels, both started.
struct Lab {
    server: TempServer,
    project: String,
    vms: Vec<Value>,
}

impl Lab {
    async fn linked_pair() -> Lab {
        let server = TempServer::start(&[]).await;
        let c = Client::new();
        let post = |path: String, body: Value| {
            let c = c.clone();
            let url = server.url(&path);
            async move {
                let res = c.post(url).body(body.to_string()).send().await.unwrap();
                assert!(res.status().is_success(), "{}", res.status());
                res.json::<Value>().await.unwrap_or(Value::Null)
            }
        };
        let project = post("/v1/projects".into(), json!({"name": "test"})).await["project_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let vms_path = format!("/v1/projects/{project}/vpcs/vms");
        let mut vms = vec![];
        for name in ["VPCS 1", "VPCS 2"] {
            vms.push(post(vms_path.clone(), json!({ "name": name })).await);
        }
        let p1 = post(format!("/v1/projects/{project}/ports/udp"), json!({})).await["udp_port"].clone();
        let p2 = post(format!("/v1/projects/{project}/ports/udp"), json!({})).await["udp_port"].clone();
        for (vm, (l, r)) in vms.iter().zip([(&p1, &p2), (&p2, &p1)]) {
            let id = vm["vm_id"].as_str().unwrap();
            let nio = json!({"lport": l, "rhost": "127.0.0.1", "rport": r, "type": "nio_udp"});
            post(format!("{vms_path}/{id}/adapters/0/ports/0/nio"), nio).await;
            post(format!("{vms_path}/{id}/start"), json!({})).await;
        }
        Lab { server, project, vms }
    }

    /// A console on each PC, each PC given its address.
    async fn addressed_consoles(&self, one_ip: &str, two_ip: &str) -> (Console, Console) {
        let mut one = Console::connect(self.console(0)).await;
        let mut two = Console::connect(self.console(1)).await;
        one.expect("VPCS> ").await;
        two.expect("VPCS> ").await;
        one.run(&format!("ip {one_ip}"), "VPCS> ").await;
        two.run(&format!("ip {two_ip}"), "VPCS> ").await;
        (one, two)
    }

    fn console(&self, i: usize) -> u16 {
        self.vms[i]["console"].as_u64().unwrap() as u16
    }

    fn vm_url(&self, i: usize) -> String {
        self.server.url(&format!(
            "/v1/projects/{}/vpcs/vms/{}",
            self.project,
            self.vms[i]["vm_id"].as_str().unwrap()
        ))
    }

    async fn vm(&self, i: usize) -> Value {
        reqwest::get(self.vm_url(i)).await.unwrap().json().await.unwrap()
    }
}

/// The part of seed 000 after each `telnet`, as printed there (whitespace collapsed by the seed).
const SEED_CONSOLE_1: &str = "Welcome to Virtual PC Simulator, version 0.6 Dedicated to Daling. Build time: Dec 29 2014 12:51:46 Copyright (c) 2007-2014, Paul Meng (mirnshi@gmail.com) All rights reserved. VPCS is free software, distributed under the terms of the \"BSD\" licence. Source code and license can be found at vpcs.sf.net. For more information, please visit wiki.freecode.com.cn. Press '?' to get help. VPCS> ip 192.168.1.1 Checking for duplicate address... PC1 : 192.168.1.1 255.255.255.0 VPCS> disconnect Good-bye Connection closed by foreign host.";
const SEED_CONSOLE_2: &str = "Welcome to Virtual PC Simulator, version 0.6 Dedicated to Daling. Build time: Dec 29 2014 12:51:46 Copyright (c) 2007-2014, Paul Meng (mirnshi@gmail.com) All rights reserved. VPCS is free software, distributed under the terms of the \"BSD\" licence. Source code and license can be found at vpcs.sf.net. For more information, please visit wiki.freecode.com.cn. Press '?' to get help. VPCS> ip 192.168.1.2 Checking for duplicate address... PC1 : 192.168.1.2 255.255.255.0 VPCS> ping 192.168.1.1 84 bytes from 192.168.1.1 icmp_seq=1 ttl=64 time=0.179 ms 84 bytes from 192.168.1.1 icmp_seq=2 ttl=64 time=0.218 ms 84 bytes from 192.168.1.1 icmp_seq=3 ttl=64 time=0.190 ms 84 bytes from 192.168.1.1 icmp_seq=4 ttl=64 time=0.198 ms 84 bytes from 192.168.1.1 icmp_seq=5 ttl=64 time=0.185 ms VPCS> disconnect Good-bye Connection closed by foreign host.";

/// Whitespace collapsed and round-trip times masked, as the seed prints them.
fn normalize(text: &str) -> String {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| if w.starts_with("time=") { "time=T".to_owned() } else { w.to_owned() })
        .collect();
    words.join(" ")
}

/// Drives the real `telnet` client: waits for text, then types a line.
fn telnet_session(port: u16, script: &[(&str, &str)]) -> String {
    let mut child = Command::new("telnet")
        .args(["127.0.0.1", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("telnet is installed");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            let _ = tx.send(buf[..n].to_vec());
        }
    });
    let mut transcript = String::new();
    let mut seen = 0;
    let mut stdin = child.stdin.take().unwrap();
    for (wait_for, line) in script {
        // Only what arrived since the last line was typed counts.
        while !transcript[seen..].contains(wait_for) {
            let chunk = rx
                .recv_timeout(Duration::from_secs(15))
                .unwrap_or_else(|_| panic!("no {wait_for:?} in:\n{transcript}"));
            transcript.push_str(&String::from_utf8_lossy(&chunk).replace('\r', ""));
        }
        seen = transcript.len();
        writeln!(stdin, "{line}").unwrap();
    }
    while let Ok(chunk) = rx.recv_timeout(Duration::from_secs(15)) {
        transcript.push_str(&String::from_utf8_lossy(&chunk).replace('\r', ""));
    }
    let mut err = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .lines()
        .for_each(|l| err.push_str(&(l.unwrap() + "\n")));
    child.wait().unwrap();
    transcript + &err
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_telnet_session_with_exact_output() {
    let lab = Lab::linked_pair().await;
    let (c1, c2) = (lab.console(0), lab.console(1));
    let first = tokio::task::spawn_blocking(move || {
        telnet_session(c1, &[("VPCS> ", "ip 192.168.1.1"), ("VPCS> ", "disconnect")])
    })
    .await
    .unwrap();
    let from_banner = &first[first.find("Welcome").expect("banner")..];
    assert_eq!(normalize(from_banner), normalize(SEED_CONSOLE_1), "{first}");
    assert!(
        first.starts_with("Trying 127.0.0.1...\nConnected to 127.0.0.1.\nEscape character is '^]'.\n"),
        "{first}"
    );

    let second = tokio::task::spawn_blocking(move || {
        telnet_session(
            c2,
            &[("VPCS> ", "ip 192.168.1.2"), ("VPCS> ", "ping 192.168.1.1"), ("VPCS> ", "disconnect")],
        )
    })
    .await
    .unwrap();
    let from_banner = &second[second.find("Welcome").expect("banner")..];
    assert_eq!(normalize(from_banner), normalize(SEED_CONSOLE_2), "{second}");
    // Line by line, as a terminal shows it.
    let replies: Vec<&str> = second.lines().filter(|l| l.starts_with("84 bytes")).collect();
    assert_eq!(replies.len(), 5);
    for (i, line) in replies.iter().enumerate() {
        let (head, time) = line.split_once("time=").unwrap();
        assert_eq!(head, format!("84 bytes from 192.168.1.1 icmp_seq={} ttl=64 ", i + 1));
        let ms: f64 = time.strip_suffix(" ms").unwrap().parse().unwrap();
        assert!(ms > 0.0 && ms < 50.0, "{line}");
    }
    // The VMs kept running after their consoles said good-bye, and report their addresses.
    assert_eq!(lab.vm(0).await["ip_address"], "192.168.1.1/24");
    assert_eq!(lab.vm(1).await["status"], "started");
}

/// Starts real VPCS as GNS3 does. 0.5b2 also binds LPORT+9.
struct RealVpcs(std::process::Child);

impl Drop for RealVpcs {
    /// vpcs with `-p` forks its daemon, which outlives the process we started
    /// (and spins a core when orphaned): kill the children first.
    fn drop(&mut self) {
        let _ = Command::new("pkill").args(["-KILL", "-P", &self.0.id().to_string()]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_patchbay_pc_and_real_vpcs_ping_each_other() {
    let server = TempServer::start(&[]).await;
    let c = Client::new();
    let project: Value = c
        .post(server.url("/v1/projects"))
        .body(r#"{"name": "interop"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let p = project["project_id"].as_str().unwrap();
    let vm: Value = c
        .post(server.url(&format!("/v1/projects/{p}/vpcs/vms")))
        .body(r#"{"name": "PC"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let v = vm["vm_id"].as_str().unwrap();
    let lport = c
        .post(server.url(&format!("/v1/projects/{p}/ports/udp")))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["udp_port"]
        .as_u64()
        .unwrap();
    // The real VPCS's own tunnel port: a free one, with LPORT+9 free too.
    let vpcs_port = loop {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        if port < 65000 && std::net::UdpSocket::bind(("127.0.0.1", port + 9)).is_ok() {
            break port;
        }
    };
    let nio = json!({"type": "nio_udp", "lport": lport, "rhost": "127.0.0.1", "rport": vpcs_port});
    let vm_url = server.url(&format!("/v1/projects/{p}/vpcs/vms/{v}"));
    assert_eq!(
        c.post(format!("{vm_url}/adapters/0/ports/0/nio"))
            .body(nio.to_string())
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(c.post(format!("{vm_url}/start")).send().await.unwrap().status(), 204);

    let vpcs_console = free_tcp_port();
    let dir = tempfile::tempdir().unwrap();
    let _vpcs = RealVpcs(
        Command::new("vpcs")
            .args(["-p", &vpcs_console.to_string(), "-m", "200", "-i", "1", "-F"])
            .args(["-s", &vpcs_port.to_string(), "-c", &lport.to_string(), "-t", "127.0.0.1"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("vpcs is installed (apt-get install vpcs)"),
    );
    let mut theirs = loop {
        match tokio::net::TcpStream::connect(("127.0.0.1", vpcs_console)).await {
            Ok(_) => break Console::connect(vpcs_console).await,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    theirs.expect("VPCS> ").await;
    theirs.run("ip 10.9.0.2 24", "VPCS> ").await;

    let mut ours = Console::connect(vm["console"].as_u64().unwrap() as u16).await;
    ours.expect("VPCS> ").await;
    let set = ours.run("ip 10.9.0.1/24", "VPCS> ").await;
    assert_eq!(set, "Checking for duplicate address...\nPC1 : 10.9.0.1 255.255.255.0\n");
    let out = ours.run("ping 10.9.0.2 -c 3 -i 100", "VPCS> ").await;
    assert_eq!(out.matches("84 bytes from 10.9.0.2 icmp_seq=").count(), 3, "{out}");

    // VPCS 0.5b2 prints replies without the "84 bytes from" prefix.
    let out = theirs.run("ping 10.9.0.1", "VPCS> ").await;
    for seq in 1..=5 {
        assert!(out.contains(&format!("10.9.0.1 icmp_seq={seq} ttl=64 time=")), "{out}");
    }
    // TCP pings both ways: connect, send data, close, a line each. (Real
    // VPCS's TCP checksums are wrong; we read its segments all the same.)
    let tcp_lines = |out: &str, host: &str| {
        for seq in 1..=2 {
            for step in ["Connect  ", "SendData ", "Close    "] {
                let line = format!("{step} 7@{host} seq={seq} ttl=64 time=");
                assert!(out.contains(&line), "{line:?} missing in:\n{out}");
            }
        }
    };
    tcp_lines(&ours.run("ping 10.9.0.2 -3 -c 2 -i 100", "VPCS> ").await, "10.9.0.2");
    tcp_lines(&theirs.run("ping 10.9.0.1 -3 -c 2", "VPCS> ").await, "10.9.0.1");
    // A duplicate address is detected against the real VPCS too.
    let dup = ours.run("ip 10.9.0.2", "VPCS> ").await;
    assert!(dup.contains("10.9.0.2 is being used by MAC 00:50:79:66:68:c8\nAddress not changed"), "{dup}");
}

#[tokio::test]
async fn consoles_are_shared_and_disconnect_closes_one_client() {
    let lab = Lab::linked_pair().await;
    let mut a = Console::connect(lab.console(0)).await;
    let mut b = Console::connect(lab.console(0)).await;
    a.expect("VPCS> ").await;
    b.expect("VPCS> ").await;
    a.run("set pcname Alice", "Alice> ").await;
    b.expect("Alice> ").await; // the other client sees the session change
    assert_eq!(b.run("echo shared", "Alice> ").await, "shared\n");
    a.send(b"disconnect\r\n").await;
    a.expect("Good-bye\n").await;
    assert!(a.closed().await);
    assert_eq!(b.run("echo still here", "Alice> ").await, "still here\n");
    assert_eq!(lab.vm(0).await["status"], "started");
}

#[tokio::test]
async fn garbage_floods_and_ctrl_c_are_handled() {
    let lab = Lab::linked_pair().await;
    let mut other = Console::connect(lab.console(1)).await;
    other.expect("VPCS> ").await;
    other.run("ip 192.168.1.2", "VPCS> ").await;

    let mut noisy = Console::connect(lab.console(0)).await;
    noisy.expect("VPCS> ").await;
    let garbage: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    noisy.send(&garbage).await;
    noisy.send(&vec![b'x'; 100_000]).await;
    noisy.send(b"\r\n").await;
    noisy.send("ping 1.2.3.4\r\n".repeat(500).as_bytes()).await;
    noisy.send(b"\x03").await;
    // The console still works, and so does the other VM.
    noisy.send(b"\x03echo alive\r\n").await;
    // Keystrokes are echoed as they come, so this echo may arrive before
    // the output of the lines typed ahead of it; the output comes after.
    noisy.expect("echo alive\n").await;
    noisy.expect("alive\nVPCS> ").await;
    let out = noisy.run("ip 192.168.1.1", "VPCS> ").await;
    assert!(out.ends_with("PC1 : 192.168.1.1 255.255.255.0\n"), "{out}");
    let out = other.run("ping 192.168.1.1 -c 2 -i 50", "VPCS> ").await;
    assert_eq!(out.matches("84 bytes from 192.168.1.1").count(), 2, "{out}");

    // Ctrl-C stops a long ping at once.
    other.send(b"ping 192.168.1.1 -c 1000 -i 100\r\n").await;
    other.expect("icmp_seq=2 ").await;
    other.send(b"\x03").await;
    let rest = other.expect("VPCS> ").await;
    assert!(!rest.contains("icmp_seq=50"), "{rest}");
}

#[tokio::test]
async fn a_flood_ping_loses_no_line_on_the_console() {
    // The two PCs answer each other inside their own sends, far faster than
    // a console reads: the ping must wait for the console, not drop lines.
    let lab = Lab::linked_pair().await;
    let (_one, mut two) = lab.addressed_consoles("192.168.1.1", "192.168.1.2").await;
    const PINGS: usize = 3000;
    let out = two.run(&format!("ping 192.168.1.1 -c {PINGS} -i 0"), "VPCS> ").await;
    let seqs: Vec<usize> = out
        .lines()
        .filter_map(|l| {
            l.strip_prefix("84 bytes from 192.168.1.1 icmp_seq=")?.split(' ').next()?.parse().ok()
        })
        .collect();
    assert_eq!(seqs, (1..=PINGS).collect::<Vec<_>>(), "every reply, in order");
}

#[tokio::test]
async fn tunnels_change_while_running_and_scripts_persist() {
    let lab = Lab::linked_pair().await;
    let c = Client::new();
    let (mut one, mut two) = lab.addressed_consoles("10.0.0.1", "10.0.0.2").await;
    assert_eq!(two.run("ping 10.0.0.1 -c 1", "VPCS> ").await.matches("84 bytes").count(), 1);

    // Unplugged: pings time out at once.
    let nio_url = format!("{}/adapters/0/ports/0/nio", lab.vm_url(0));
    let saved = lab.vm(0).await["nio"].clone();
    assert_eq!(c.delete(&nio_url).send().await.unwrap().status(), 204);
    let out = two.run("ping 10.0.0.1 -c 1 -w 300", "VPCS> ").await;
    assert_eq!(out, "10.0.0.1 icmp_seq=1 timeout\n");
    // Plugged back: they talk again.
    assert_eq!(c.post(&nio_url).body(saved.to_string()).send().await.unwrap().status(), 201);
    let out = two.run("ping 10.0.0.1 -c 1", "VPCS> ").await;
    assert!(out.starts_with("84 bytes from 10.0.0.1 icmp_seq=1"), "{out}");

    // `save` on the console becomes the startup script, which runs at the next start.
    one.run("set pcname Router1", "Router1> ").await;
    one.run("save", "Router1> ").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while lab.vm(0).await["startup_script"].is_null() {
        assert!(std::time::Instant::now() < deadline, "save never reached the API");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(lab.vm(0).await["startup_script"], "set pcname Router1\nip 10.0.0.1 24\n");
    let reload = c.post(format!("{}/reload", lab.vm_url(0))).send().await.unwrap();
    assert_eq!(reload.status(), 204);
    let mut again = Console::connect(lab.console(0)).await;
    again.expect("Router1> ").await;
    while lab.vm(0).await["ip_address"].is_null() {
        assert!(
            std::time::Instant::now() < deadline + Duration::from_secs(5),
            "the script's ip never applied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(lab.vm(0).await["ip_address"], "10.0.0.1/24");
    // Another project's VM gets another MAC: unique per server, not per project.
    assert_ne!(lab.vm(0).await["mac_address"], lab.vm(1).await["mac_address"]);
}

#[tokio::test]
async fn three_pcs_ping_each_other_through_a_switch() {
    let server = TempServer::start(&[]).await;
    let c = Client::new();
    let call = |method: reqwest::Method, path: String, body: Value| {
        let (c, url) = (c.clone(), server.url(&path));
        async move {
            let res = c.request(method, url).body(body.to_string()).send().await.unwrap();
            let status = res.status();
            assert!(status.is_success(), "{status}");
            res.json::<Value>().await.unwrap_or(Value::Null)
        }
    };
    let post = |path: String, body: Value| call(reqwest::Method::POST, path, body);
    let p = post("/v1/projects".into(), json!({"name": "switched"})).await["project_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut events = reqwest::get(server.url(&format!("/v1/projects/{p}/notifications"))).await.unwrap();
    let sw = post(format!("/v1/projects/{p}/switches/vms"), json!({"name": "SW1", "ports": 4})).await;
    assert_eq!(
        (sw["node_type"].as_str(), sw["ports"].as_array().unwrap().len()),
        (Some("ethernet_switch"), 4)
    );
    let sw_path = format!("/v1/projects/{p}/switches/vms/{}", sw["vm_id"].as_str().unwrap());
    let mut consoles = vec![];
    for i in 0..3 {
        let vm = post(format!("/v1/projects/{p}/vpcs/vms"), json!({ "name": format!("PC{}", i + 1) })).await;
        let pc_port = post(format!("/v1/projects/{p}/ports/udp"), json!({})).await["udp_port"].clone();
        let sw_port = post(format!("/v1/projects/{p}/ports/udp"), json!({})).await["udp_port"].clone();
        let vm_path = format!("/v1/projects/{p}/vpcs/vms/{}", vm["vm_id"].as_str().unwrap());
        let to_switch = json!({"type": "nio_udp", "lport": pc_port, "rhost": "127.0.0.1", "rport": sw_port});
        post(format!("{vm_path}/adapters/0/ports/0/nio"), to_switch).await;
        let to_pc = json!({"type": "nio_udp", "lport": sw_port, "rhost": "127.0.0.1", "rport": pc_port});
        post(format!("{sw_path}/adapters/0/ports/{i}/nio"), to_pc).await;
        post(format!("{vm_path}/start"), json!({})).await;
        consoles.push(vm["console"].as_u64().unwrap() as u16);
    }
    post(format!("{sw_path}/start"), json!({})).await;
    assert_eq!(call(reqwest::Method::GET, sw_path.clone(), Value::Null).await["status"], "started");

    let mut pcs = vec![];
    for (i, port) in consoles.iter().enumerate() {
        let mut console = Console::connect(*port).await;
        console.expect("VPCS> ").await;
        console.run(&format!("ip 172.16.0.{}/24", i + 1), "VPCS> ").await;
        pcs.push(console);
    }
    for (from, to) in [(0, 1), (1, 2), (2, 0)] {
        let out = pcs[from].run(&format!("ping 172.16.0.{} -c 2 -i 50", to + 1), "VPCS> ").await;
        assert_eq!(
            out.matches(&format!("84 bytes from 172.16.0.{} icmp_seq=", to + 1)).count(),
            2,
            "{from}->{to}: {out}"
        );
    }
    // TCP pings cross the switch too, between two Patchbay PCs.
    let out = pcs[2].run("ping 172.16.0.1 -3 -c 1 -p 80", "VPCS> ").await;
    for step in ["Connect  ", "SendData ", "Close    "] {
        assert!(out.contains(&format!("{step} 80@172.16.0.1 seq=1 ttl=64 time=")), "{out}");
    }
    // Unplugging a port takes effect at once.
    call(reqwest::Method::DELETE, format!("{sw_path}/adapters/0/ports/1/nio"), Value::Null).await;
    let out = pcs[0].run("ping 172.16.0.2 -c 1 -w 300", "VPCS> ").await;
    assert!(out.contains("icmp_seq=1 timeout") || out.contains("not reachable"), "{out}");
    let out = pcs[0].run("ping 172.16.0.3 -c 1", "VPCS> ").await;
    assert!(out.starts_with("84 bytes from 172.16.0.3"), "{out}");

    // The switch appears in the project's notifications.
    let mut text = String::new();
    while !text.contains("\"node_type\":\"ethernet_switch\"") {
        let chunk =
            tokio::time::timeout(Duration::from_secs(5), events.chunk()).await.unwrap().unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("\"action\":\"vm.created\""));
}

#[tokio::test]
async fn captures_are_pcap_files_that_tshark_reads() {
    let lab = Lab::linked_pair().await;
    let c = Client::new();
    let (_one, mut two) = lab.addressed_consoles("10.0.0.1", "10.0.0.2").await;

    let port = format!("{}/adapters/0/ports/0", lab.vm_url(0));
    for bad in [r#"{"capture_file_name": "../escape.pcap"}"#, r#"{"capture_file_name": "/etc/x.pcap"}"#] {
        let res = c.post(format!("{port}/start_capture")).body(bad).send().await.unwrap();
        assert_eq!(res.status(), 400, "{bad}");
    }
    let res = c
        .post(format!("{port}/start_capture"))
        .body(r#"{"capture_file_name": "pc1.pcap"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let path = res.json::<Value>().await.unwrap()["pcap_file_path"].as_str().unwrap().to_owned();
    assert!(path.ends_with("project-files/captures/pc1.pcap"), "{path}");
    let out = two.run("ping 10.0.0.1 -c 3 -i 20", "VPCS> ").await;
    assert_eq!(out.matches("84 bytes").count(), 3, "{out}");
    assert_eq!(c.post(format!("{port}/stop_capture")).send().await.unwrap().status(), 204);
    // Complete as soon as stop_capture answers (the file is written off the lab's thread),
    // and what comes after is not captured.
    for _ in 0..2 {
        let tshark = Command::new("tshark")
            .args(["-r", &path, "-T", "fields", "-e", "icmp.type", "-e", "ip.src", "-Y", "icmp"])
            .output()
            .expect("tshark is installed (apt-get install tshark)");
        assert!(tshark.status.success(), "{}", String::from_utf8_lossy(&tshark.stderr));
        let lines: Vec<String> = String::from_utf8_lossy(&tshark.stdout).lines().map(str::to_owned).collect();
        assert_eq!(lines.iter().filter(|l| *l == "8\t10.0.0.2").count(), 3, "{lines:?}");
        assert_eq!(lines.iter().filter(|l| *l == "0\t10.0.0.1").count(), 3, "{lines:?}");
        two.run("ping 10.0.0.1 -c 1", "VPCS> ").await;
    }
}

#[tokio::test]
async fn a_console_opened_over_a_websocket_shares_the_session() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as Ws;

    let lab = Lab::linked_pair().await;
    let url = format!("{}/console/ws", lab.vm_url(0)).replacen("http://", "ws://", 1);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    // Reads text frames until `marker` has been seen; returns all of it.
    async fn until(
        ws: &mut (impl StreamExt<Item = tokio_tungstenite::tungstenite::Result<Ws>> + Unpin),
        marker: &str,
    ) -> String {
        let mut text = String::new();
        while !text.contains(marker) {
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap() {
                Some(Ok(Ws::Text(t))) => text.push_str(&t),
                Some(Ok(_)) => {}
                other => panic!("{other:?} before {marker:?} in {text:?}"),
            }
        }
        text
    }
    let banner = until(&mut ws, "VPCS> ").await;
    assert!(banner.contains("Welcome to Virtual PC Simulator"), "{banner:?}");
    assert!(!banner.contains('\u{ff}') && !banner.contains('\r'), "no telnet negotiation: {banner:?}");
    // A telnet client beside it sees what is typed in the browser.
    let mut telnet = Console::connect(lab.console(0)).await;
    telnet.expect("VPCS> ").await;
    ws.send(Ws::Text("ip 10.0.0.7".into())).await.unwrap();
    let out = until(&mut ws, "PC1 : 10.0.0.7 255.255.255.0\n").await;
    assert!(out.contains("Checking for duplicate address..."), "{out:?}");
    telnet.expect("PC1 : 10.0.0.7 255.255.255.0").await;
    assert_eq!(lab.vm(0).await["ip_address"], "10.0.0.7/24");

    // A stopped VM has no console to open: a JSON error, not an upgrade.
    let c = Client::new();
    assert_eq!(c.post(format!("{}/stop", lab.vm_url(1))).send().await.unwrap().status(), 204);
    let url = format!("{}/console/ws", lab.vm_url(1)).replacen("http://", "ws://", 1);
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 409),
        other => panic!("{:?}", other.map(|_| ())),
    }
}
