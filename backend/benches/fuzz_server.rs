//! Random packets at the running server over UDP, TCP (SLIP) and the
//! WebSocket bridge, with a well-behaved probe (an OSC query and an HTTP
//! request) after every 10,000 packets.
//!
//! `cargo bench -p patchbay --bench fuzz_server` sends `BENCH_PACKETS`
//! (default 1,000,000) packets, mutated from real ones as the fuzz harness
//! does (`tests/common/mutate.rs`): 70 % over UDP, 20 % over one TCP
//! connection (reopened if the server closes it, or holds it for a future
//! bundle), 10 % as JSON over the
//! bridge. It fails if the server dies or a probe goes unanswered; it
//! prints the probes' latencies and the server's memory.

mod common;
#[path = "../tests/common/mutate.rs"]
#[allow(dead_code)]
mod mutate;
#[path = "../tests/common/watch.rs"]
mod watch;

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use mutate::{mutate, osc_seeds, Rng};
use patchbay::decoders::to_json;
use patchbay::osc::codec::{self, Packet};
use patchbay::osc::slip;
use watch::{free_osc_port, quantile, rss};

/// An OSC query and an HTTP request; their latencies.
fn probe(osc: &UdpSocket, server: SocketAddr, http: &reqwest::blocking::Client, base: &str) -> [Duration; 2] {
    let t = Instant::now();
    osc.send_to(&codec::encode_message(&codec::Message::new("/documentation", vec![])), server).unwrap();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, _) = osc.recv_from(&mut buf).expect("the OSC probe is answered");
        if matches!(codec::decode(&buf[..n]), Ok(Packet::Message(m)) if m.addr == "/documentation") {
            break;
        }
    }
    let osc_took = t.elapsed();
    let t = Instant::now();
    assert!(http.get(format!("{base}/v1/version")).send().expect("HTTP answers").status().is_success());
    [osc_took, t.elapsed()]
}

fn main() {
    let packets: u64 = std::env::var("BENCH_PACKETS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let data = tempfile::tempdir().unwrap();
    let osc_port = free_osc_port();
    let flags = [format!("--osc-port={osc_port}"), "--no-audio".into(), "--osc-no-quit".into()];
    let server = common::Server::start(data.path(), &flags);
    let pid = server.child.id();
    let target: SocketAddr = ([127, 0, 0, 1], osc_port).into();
    std::thread::sleep(Duration::from_millis(300));

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let bridge_url = format!("{}/v1/osc/ws", server.base.replace("http://", "ws://"));
    let mut bridge = runtime.block_on(tokio_tungstenite::connect_async(&bridge_url)).unwrap().0;
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let prober = UdpSocket::bind("127.0.0.1:0").unwrap();
    prober.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    // A future bundle holds its connection until its time (up to 60 s, in that
    // connection's order): a write that cannot go on moves to a new connection.
    let connect = || {
        let tcp = TcpStream::connect(target).expect("TCP still accepts");
        tcp.set_write_timeout(Some(Duration::from_millis(200))).unwrap();
        tcp
    };
    let mut tcp = connect();
    let (mut rng, seeds) = (Rng(seed), osc_seeds());
    let (start_rss, mut peak) = (rss(pid), 0);
    let (mut sent, mut reconnects, mut latencies) = ([0u64; 3], 0, vec![]);
    let started = Instant::now();
    for i in 0..packets {
        let packet = mutate(&mut rng, &seeds);
        match rng.below(10) {
            0..=6 => {
                if packet.len() <= codec::MAX_PACKET {
                    let _ = udp.send_to(&packet, target);
                }
                sent[0] += 1;
            }
            7 | 8 => {
                if tcp.write_all(&slip::encode(&packet)).is_err() {
                    tcp = connect();
                    reconnects += 1;
                }
                sent[1] += 1;
            }
            _ => {
                // What decodes goes over as the bridge's JSON; the rest as the raw text it is.
                let text = match codec::decode_unbounded(&packet) {
                    Ok(Packet::Message(m)) => serde_json::to_string(&to_json(&m)).unwrap(),
                    _ => String::from_utf8_lossy(&packet).into_owned(),
                };
                let frame = tokio_tungstenite::tungstenite::Message::Text(text.into());
                // The bridge also sends the traffic it sees: a client that
                // never reads fills its own socket until the server's writes
                // to it, and so its reads from it, stall (for that client only).
                let delivered = runtime.block_on(async {
                    let delivered =
                        tokio::time::timeout(Duration::from_millis(200), bridge.send(frame)).await;
                    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::ZERO, bridge.next()).await {}
                    delivered
                });
                if !matches!(delivered, Ok(Ok(()))) {
                    bridge = runtime.block_on(tokio_tungstenite::connect_async(&bridge_url)).unwrap().0;
                    reconnects += 1;
                }
                sent[2] += 1;
            }
        }
        if i % 10_000 == 9_999 {
            latencies.extend(probe(&prober, target, &http, &server.base));
            peak = peak.max(rss(pid));
        }
    }
    let took = started.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    latencies.extend(probe(&prober, target, &http, &server.base));
    let end_rss = rss(pid);
    latencies.sort();
    let q = |x: f64| quantile(&latencies, x);
    println!(
        "{packets} packets in {:.0} s (UDP {}, TCP {}, bridge {}; {reconnects} reconnects), seed {seed}",
        took.as_secs_f64(),
        sent[0],
        sent[1],
        sent[2]
    );
    println!(
        "probes: {} answered, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; RSS start {} MB, peak {} MB, end {} MB; the server lives",
        latencies.len(),
        q(0.5).as_secs_f64() * 1e3,
        q(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
        start_rss >> 20,
        peak >> 20,
        end_rss >> 20
    );
}
