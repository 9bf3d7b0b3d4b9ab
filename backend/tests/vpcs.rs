//! Virtual PCs end to end, in process: consoles under shared use, garbage
//! and Ctrl-C, floods, tunnels changed while running, a switch, the console
//! over a WebSocket. (Against real telnet, vpcs and tshark: `vpcs_peers.rs`.)

mod common;

use std::time::Duration;

use common::lab::Lab;
use common::{Console, TempServer};
use reqwest::Client;
use serde_json::{json, Value};

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
