//! Bundle timing: how late a future bundle's reply arrives after its time
//! tag. 500 bundles at +10-500 ms (each a `current-value` query on a
//! transform of its own, so each reply names its bundle), over UDP and
//! over TCP (SLIP), idle and then with an OSC load of `current-value`
//! requests at `BENCH_LOAD` per second (default 20,000) from another socket.
//!
//! `cargo bench -p patchbay --bench bundles` (`BENCH_ROUNDS`, default 3;
//! rounds interleave the four phases). Lateness = arrival − time tag, on
//! the client's clock (the server shares it: same machine).
//!
//! Then engine-bound bundles: 500 set-values of a `Sig~` at +10-500 ms
//! (at least 0.48 ms apart, sent out of order), recorded by a FileRecorder
//! on the engine's own clock; the frame at which each level first appears,
//! against the frame its time tag names (relative to the first bundle's),
//! in samples.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use patchbay::osc::codec::{self, Message, Packet};
use patchbay::osc::{slip, time::ntp_now};

const BUNDLES: usize = 500;

fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let load: f64 = std::env::var("BENCH_LOAD").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000.0);
    let data = tempfile::tempdir().unwrap();
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = common::Server::start(data.path(), &["--no-audio".into(), format!("--osc-port={port}")]);
    server.load_values(BUNDLES);

    println!("\n{BUNDLES} bundles at +10-500 ms per phase, {rounds} rounds, load {load:.0} requests/s\n");
    println!("| round | transport | load | p50 late | p99 late | max late |");
    println!("|---|---|---|---|---|---|");
    let mut results: HashMap<(&str, bool), Vec<[f64; 3]>> = HashMap::new();
    for round in 1..=rounds {
        for loaded in [false, true] {
            for transport in ["UDP", "TCP"] {
                let mut late = under_load(port, loaded.then_some(load), || match transport {
                    "UDP" => udp_phase(port),
                    _ => tcp_phase(port),
                });
                late.sort_by(f64::total_cmp);
                let q = |p: f64| late[((late.len() - 1) as f64 * p) as usize];
                let row = [q(0.5), q(0.99), *late.last().unwrap()];
                println!(
                    "| {round} | {transport} | {} | {:.3} ms | {:.3} ms | {:.3} ms |",
                    if loaded { "yes" } else { "idle" },
                    row[0],
                    row[1],
                    row[2]
                );
                results.entry((transport, loaded)).or_default().push(row);
            }
        }
    }
    println!("\nEngine-bound bundles: frame each takes effect at minus the frame its time tag names\n");
    println!("| round | transport | load | bundles | within 1 sample | never heard | max error |");
    println!("|---|---|---|---|---|---|---|");
    let rate = sample_rate(port);
    for round in 1..=rounds {
        for loaded in [false, true] {
            for transport in ["UDP", "TCP"] {
                let errors = under_load(port, loaded.then_some(load), || {
                    engine_phase(port, data.path(), transport, rate)
                });
                let within = errors.iter().flatten().filter(|e| e.abs() <= 1.0).count();
                let unheard = errors.iter().filter(|e| e.is_none()).count();
                let max = errors.iter().flatten().fold(0.0f64, |m, e| m.max(e.abs()));
                println!(
                    "| {round} | {transport} | {} | {} | {within} | {unheard} | {max:.2} samples |",
                    if loaded { "yes" } else { "idle" },
                    errors.len()
                );
            }
        }
    }
    println!("\nMedians of rounds:\n");
    for transport in ["UDP", "TCP"] {
        for loaded in [false, true] {
            let rows = &results[&(transport, loaded)];
            let median = |i: usize| {
                let mut v: Vec<f64> = rows.iter().map(|r| r[i]).collect();
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            println!(
                "{transport} {}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                if loaded { "with load" } else { "idle" },
                median(0),
                median(1),
                median(2)
            );
        }
    }
}

/// The bundles to send: (index, the time they are for, the encoded bundle).
fn bundles() -> Vec<(usize, Instant, Vec<u8>)> {
    // A fixed spread over 10-500 ms (a linear congruential walk, the same every run).
    let mut x: u64 = 12345;
    (0..BUNDLES)
        .map(|i| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let ahead = Duration::from_micros(10_000 + (x >> 33) % 490_000);
            let (tag, at) = (ntp_now() + (ahead.as_secs_f64() * 4294967296.0) as u64, Instant::now() + ahead);
            let query = Message::new(format!("/patch/v{i}/value/current-value"), vec![]);
            (i, at, codec::encode(&Packet::Bundle { time: tag, content: vec![Packet::Message(query)] }))
        })
        .collect()
}

fn index_of(m: &Message) -> Option<usize> {
    m.addr.strip_prefix("/patch/v")?.split('/').next()?.parse().ok()
}

/// Milliseconds late of each bundle's reply.
fn lateness(targets: &HashMap<usize, Instant>, arrivals: Vec<(Message, Instant)>) -> Vec<f64> {
    let late: Vec<f64> = arrivals
        .into_iter()
        .filter_map(|(m, t)| Some(t.duration_since(*targets.get(&index_of(&m)?)?).as_secs_f64() * 1e3))
        .collect();
    assert_eq!(late.len(), BUNDLES, "every bundle answered once");
    late
}

fn udp_phase(port: u16) -> Vec<f64> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", port)).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut targets = HashMap::new();
    for (i, at, bytes) in bundles() {
        socket.send(&bytes).unwrap();
        targets.insert(i, at);
    }
    let mut arrivals = vec![];
    let mut buf = vec![0u8; 65536];
    while arrivals.len() < BUNDLES {
        let n = socket.recv(&mut buf).expect("every bundle answered within 2 s of the last");
        let t = Instant::now();
        if let Ok(Packet::Message(m)) = codec::decode(&buf[..n]) {
            arrivals.push((m, t));
        }
    }
    lateness(&targets, arrivals)
}

fn tcp_phase(port: u16) -> Vec<f64> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut targets = HashMap::new();
    let mut out = vec![];
    for (i, at, bytes) in bundles() {
        out.extend(slip::encode(&bytes));
        targets.insert(i, at);
    }
    stream.write_all(&out).unwrap();
    let mut decoder = slip::Decoder::default();
    let mut arrivals = vec![];
    let mut buf = vec![0u8; 65536];
    while arrivals.len() < BUNDLES {
        let n = stream.read(&mut buf).expect("every bundle answered within 2 s of the last");
        let t = Instant::now();
        for frame in decoder.feed(&buf[..n], 1 << 20).0 {
            if let Ok(Packet::Message(m)) = codec::decode(&frame) {
                arrivals.push((m, t));
            }
        }
    }
    lateness(&targets, arrivals)
}

/// Runs `phase`, with a flood of `load` requests per second running from
/// 300 ms before it until it ends, if `load` is given.
fn under_load<T>(port: u16, load: Option<f64>, phase: impl FnOnce() -> T) -> T {
    let stop = Arc::new(AtomicBool::new(false));
    let flood = load.map(|rate| {
        let stop = stop.clone();
        let flood = std::thread::spawn(move || flood(port, rate, &stop));
        std::thread::sleep(Duration::from_millis(300));
        flood
    });
    let out = phase();
    stop.store(true, Ordering::Relaxed);
    if let Some(f) = flood {
        f.join().unwrap();
    }
    out
}

/// `current-value` requests at `rate` per second until `stop`, replies drained.
fn flood(port: u16, rate: f64, stop: &AtomicBool) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", port)).unwrap();
    let reader = socket.try_clone().unwrap();
    reader.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let drain = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while !done.load(Ordering::Relaxed) {
                let _ = reader.recv(&mut buf);
            }
        })
    };
    let request = codec::encode_message(&Message::new("/patch/v0/value/current-value", vec![]));
    let (start, period) = (Instant::now(), Duration::from_secs_f64(1.0 / rate));
    let mut sent = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let due = start + period * sent;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let _ = socket.send(&request);
        sent += 1;
    }
    done.store(true, Ordering::Relaxed);
    drain.join().unwrap();
}

/// One request over UDP and its reply's arguments.
fn ask(port: u16, m: Message) -> Vec<codec::Arg> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    socket.send_to(&codec::encode_message(&m), ("127.0.0.1", port)).unwrap();
    let mut buf = vec![0u8; 65536];
    let n = socket.recv(&mut buf).unwrap();
    match codec::decode(&buf[..n]) {
        Ok(Packet::Message(r)) => r.args,
        other => panic!("{other:?}"),
    }
}

fn sample_rate(port: u16) -> f64 {
    match ask(port, Message::new("/audio/sample_rate/current-value", vec![])).as_slice() {
        [codec::Arg::Int(0), codec::Arg::Int(r)] => *r as f64,
        [codec::Arg::Int(0), codec::Arg::Float(r)] => *r as f64,
        [codec::Arg::Int(0), codec::Arg::Double(r)] => *r,
        other => panic!("{other:?}"),
    }
}

/// Sends engine-bound bundles over `transport` and returns, for each, the
/// frame it took effect at minus the frame its time tag names (relative to
/// the others'), in samples; `None` for a change never heard.
fn engine_phase(port: u16, data: &std::path::Path, transport: &str, rate: f64) -> Vec<Option<f64>> {
    let name = format!("timed-{}.wav", ntp_now());
    let s = |x: &str| codec::Arg::Str(x.into());
    let _ = ask(port, Message::new("/patch/delete-transform", vec![s("level")]));
    let _ = ask(port, Message::new("/patch/delete-transform", vec![s("rec")]));
    for (addr, args) in [
        ("/patch/add-transform", vec![s("Sig~"), s("level"), s("0")]),
        ("/patch/add-transform", vec![s("FileRecorder"), s("rec")]),
        ("/patch/level/samplesOut/connect", vec![s("/patch/rec/samplesIn")]),
        ("/patch/rec/file", vec![s(&name)]),
        ("/patch/rec/record", vec![codec::Arg::True]),
    ] {
        assert_eq!(ask(port, Message::new(addr, args.clone())), vec![codec::Arg::Int(0)], "{addr} {args:?}");
    }
    // Bundle i sets level i + 1 at 10 ms + i x 0.98 ms + up to 0.5 ms, sent shuffled.
    let start = ntp_now() + (1u64 << 32) / 100;
    let mut x: u64 = 777;
    let mut order: Vec<usize> = (0..BUNDLES).collect();
    for i in (1..BUNDLES).rev() {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        order.swap(i, (x >> 33) as usize % (i + 1));
    }
    let tags: Vec<u64> = (0..BUNDLES)
        .map(|i| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let micros = 980 * i as u64 + (x >> 33) % 500;
            start + (micros << 32) / 1_000_000
        })
        .collect();
    let packets: Vec<Vec<u8>> = order
        .iter()
        .map(|&i| {
            let set = Message::new("/patch/level/value", vec![codec::Arg::Float(i as f32 + 1.0)]);
            codec::encode(&Packet::Bundle { time: tags[i], content: vec![Packet::Message(set)] })
        })
        .collect();
    match transport {
        "UDP" => {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.connect(("127.0.0.1", port)).unwrap();
            socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut buf = vec![0u8; 65536];
            for p in &packets {
                socket.send(p).unwrap();
            }
            for _ in 0..BUNDLES {
                socket.recv(&mut buf).expect("every set-value answered");
            }
        }
        _ => {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let out: Vec<u8> = packets.iter().flat_map(|p| slip::encode(p)).collect();
            stream.write_all(&out).unwrap();
            let (mut decoder, mut replies, mut buf) = (slip::Decoder::default(), 0, vec![0u8; 65536]);
            while replies < BUNDLES {
                let n = stream.read(&mut buf).expect("every set-value answered");
                replies += decoder.feed(&buf[..n], 1 << 20).0.len();
            }
        }
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        ask(port, Message::new("/patch/rec/record", vec![codec::Arg::False])),
        vec![codec::Arg::Int(0)]
    );
    let path = data.join("sounds").join(&name);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !path.exists() {
        assert!(Instant::now() < deadline, "no recording at {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    let samples: Vec<f32> =
        hound::WavReader::open(&path).unwrap().samples::<f32>().map(Result::unwrap).collect();
    let _ = std::fs::remove_file(&path);
    // Each level's first frame minus the frame its tag names (from the first
    // tag): one constant within rounding for changes on time, so each is
    // measured from the median. A level never heard (overwritten on its
    // frame by a later change that was late too) is None.
    let offsets: Vec<Option<f64>> = (0..BUNDLES)
        .map(|i| {
            let frame = samples.iter().position(|&v| v == i as f32 + 1.0)?;
            Some(frame as f64 - (tags[i] - tags[0]) as f64 / 4294967296.0 * rate)
        })
        .collect();
    let mut heard: Vec<f64> = offsets.iter().flatten().copied().collect();
    heard.sort_by(f64::total_cmp);
    let median = heard[heard.len() / 2];
    offsets.iter().map(|o| o.map(|o| o - median)).collect()
}
