//! Virtual PCs against outside peers: the real `telnet` client on the seed's
//! session, a real `vpcs` on the other end of a tunnel, and `tshark` reading
//! a capture. Each test says which tool it needs when it is missing
//! (`scripts/setup.sh` installs them all).

mod common;

use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::lab::Lab;
use common::{require, Console, TempServer};
use reqwest::Client;
use serde_json::{json, Value};

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
    require("telnet", "telnet");
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
    require("vpcs", "vpcs");
    let server = TempServer::start(&[]).await;
    let c = Client::new();
    let project = common::post_json(&c, server.url("/v1/projects"), r#"{"name": "interop"}"#).await;
    let p = project["project_id"].as_str().unwrap();
    let vm =
        common::post_json(&c, server.url(&format!("/v1/projects/{p}/vpcs/vms")), r#"{"name": "PC"}"#).await;
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
async fn captures_are_pcap_files_that_tshark_reads() {
    require("tshark", "tshark");
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
    // The VM shows its capture while it runs (the dashboard draws it), and not after.
    let capturing = |c: Client, url: String| async move {
        c.get(url).send().await.unwrap().json::<Value>().await.unwrap()["capture_file_path"].clone()
    };
    assert_eq!(capturing(c.clone(), lab.vm_url(0)).await, Value::String(path.clone()));
    let out = two.run("ping 10.0.0.1 -c 3 -i 20", "VPCS> ").await;
    assert_eq!(out.matches("84 bytes").count(), 3, "{out}");
    assert_eq!(c.post(format!("{port}/stop_capture")).send().await.unwrap().status(), 204);
    assert_eq!(capturing(c.clone(), lab.vm_url(0)).await, Value::Null);
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
