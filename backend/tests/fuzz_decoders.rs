//! A stable fuzz harness for every decoder that reads untrusted bytes: the
//! OSC codec, address patterns, SLIP framing, `#split` reassembly, telnet (both ways), Ethernet
//! frames through the whole PC stack (ARP, IPv4, ICMP, UDP, TCP), the PC's
//! shell, HTTP JSON bodies and patch files.
//!
//! Each target starts from real frames and messages (the ones the other tests
//! use) and mutates them at random: bit flips, interesting bytes and sizes,
//! insertions, deletions, repeats (how deep nesting arises) and splices. A
//! target fails on a panic, or on one execution slower than [`SLOWEST`]
//! (a blow-up), and prints the input that did it.
//!
//! In the suite each target runs for `PATCHBAY_FUZZ_SECONDS` (default 2).
//! For a long run: `PATCHBAY_FUZZ_SECONDS=60 cargo test --release -p patchbay
//! --test fuzz_decoders -- --nocapture --test-threads 1` (BENCHMARKS.md).
//! `PATCHBAY_FUZZ_SEED` repeats a run.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

mod common;

use common::mutate::{mutate, osc_seeds, Rng};
use patchbay::decoders::parse_json;
use patchbay::decoders::telnet::{self, LineEditor, Screen};
use patchbay::decoders::wire::{self, Segment};
use patchbay::decoders::Pc;
use patchbay::engine::patch_file::{self, PatchFile};
use patchbay::osc::codec::{self, Arg, Message, Packet};
use patchbay::osc::split::{self, Reassembly, MAX_SPLIT_TOTAL};
use patchbay::osc::{size_prefix, slip};
use patchbay_shared::{Nio, ProjectCreate, SwitchCreate, VmCreate, VmUpdate};
use smoltcp::wire::{EthernetAddress, Icmpv4Repr, Ipv4Address};

/// One execution slower than this is a failure: decoding must stay polynomial.
const SLOWEST: Duration = Duration::from_millis(500);

fn seconds() -> f64 {
    std::env::var("PATCHBAY_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(2.0)
}

/// Runs `target` on mutated seeds for the configured time; fails on a panic or a slow input.
fn fuzz(name: &str, seeds: Vec<Vec<u8>>, mut target: impl FnMut(&[u8])) {
    let seed = std::env::var("PATCHBAY_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds());
    let (mut executions, mut slowest) = (0u64, Duration::ZERO);
    // The seeds themselves first, then mutations until the time is up.
    let mut inputs = seeds.clone().into_iter();
    while Instant::now() < deadline {
        let input = inputs.next().unwrap_or_else(|| mutate(&mut rng, &seeds));
        let t = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| target(&input)));
        let took = t.elapsed();
        executions += 1;
        slowest = slowest.max(took);
        let shown: String = input.iter().take(200).map(|b| format!("{b:02x}")).collect();
        assert!(
            outcome.is_ok(),
            "{name} panicked (PATCHBAY_FUZZ_SEED={seed}) on {} bytes: {shown}",
            input.len()
        );
        assert!(
            took < SLOWEST,
            "{name} took {took:?} (PATCHBAY_FUZZ_SEED={seed}) on {} bytes: {shown}",
            input.len()
        );
    }
    eprintln!("{name}: {executions} executions, 0 crashes, slowest {slowest:?} (seed {seed})");
    assert!(executions > seeds.len() as u64, "{name}: too few executions to mean anything");
}

#[test]
fn osc_codec() {
    fuzz("osc codec", osc_seeds(), |bytes| {
        if let Ok(p) = codec::decode_unbounded(bytes) {
            // What decodes encodes again, and decodes to the same.
            let again = codec::encode(&p);
            assert!(codec::decode_unbounded(&again).is_ok());
        }
        let _ = codec::decode(bytes);
    });
}

#[test]
fn address_patterns() {
    let seeds: Vec<Vec<u8>> =
        ["/patch/*a*a*a*a*a*a*b/bang", "/{sine,saw}?/[!a-c]*/f[0-9]", "//x", "/*/*", "/a/b/c"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
    let names = ["/patch/".to_owned() + &"a".repeat(64) + "/bang", "/sine0/x/f1".into(), "/a/b/c".into()];
    fuzz("address patterns", seeds, |bytes| {
        let pattern = String::from_utf8_lossy(bytes);
        for name in &names {
            let _ = patchbay::osc::pattern::matches(&pattern, name);
            let _ = patchbay::osc::pattern::matches(name, &pattern);
        }
    });
}

#[test]
fn slip_framing() {
    let seeds = osc_seeds().iter().map(|p| slip::encode(p)).collect();
    let mut decoder = slip::Decoder::default();
    let mut chunk = 1;
    fuzz("slip", seeds, |bytes| {
        chunk = chunk % 97 + 1;
        for part in bytes.chunks(chunk) {
            let (packets, _) = decoder.feed(part, 4096);
            assert!(packets.iter().all(|p| p.len() <= 4096));
            assert!(decoder.pending() <= 2 * 4096 + 64, "unfinished frames stay bounded");
        }
    });
}

#[test]
fn size_prefixed_framing() {
    let seeds = osc_seeds().iter().map(|p| size_prefix::encode(p)).collect();
    let mut decoder = size_prefix::Decoder::default();
    let mut chunk = 1;
    fuzz("size-prefix", seeds, |bytes| {
        chunk = chunk % 97 + 1;
        for part in bytes.chunks(chunk) {
            match decoder.feed(part, 4096) {
                Ok(packets) => assert!(packets.iter().all(|p| p.len() <= 4096)),
                // The connection would end here: start a new one.
                Err(_) => decoder = size_prefix::Decoder::default(),
            }
            assert!(decoder.pending() <= 2 * (4096 + 4) + 97, "unfinished frames stay bounded");
        }
    });
}

#[test]
fn split_reassembly() {
    let seeds: Vec<Vec<u8>> =
        split::split(codec::encode_message(&Message::new("/x", vec![Arg::Blob(vec![3; 130_000])])))
            .into_iter()
            .chain([codec::encode_message(&Message::new(
                "#split",
                vec![Arg::Int(0), Arg::Int(4096), Arg::Blob(vec![1; 4])],
            ))])
            .collect();
    let mut reassembly = Reassembly::default();
    let start = Instant::now();
    fuzz("#split", seeds, |bytes| {
        let Ok(Packet::Message(m)) = codec::decode(bytes) else { return };
        // A handful of senders, chosen by the input itself.
        let port = 1000 + bytes.iter().fold(0u16, |s, &b| s.wrapping_add(b as u16)) % 8;
        let now = start + Duration::from_millis(bytes.len() as u64);
        if let Ok(Some(whole)) = reassembly.fragment(([127, 0, 0, 1], port).into(), &m, now) {
            let _ = codec::decode_unbounded(&whole);
        }
        assert!(reassembly.held() <= MAX_SPLIT_TOTAL);
    });
}

#[test]
fn telnet_both_ways() {
    let mut negotiation = telnet::NEGOTIATION.to_vec();
    negotiation.extend(b"ping 10.0.0.2\r\n\x7f\x08\x03\xff\xf4\xff\xfa\x18\x01\xff\xf0show\r\0\n");
    let seeds = vec![negotiation, telnet::encode("PC1> ip 10.0.0.1/24\nChecking for duplicate address...\n")];
    let (mut editor, mut screen) = (LineEditor::default(), Screen::default());
    fuzz("telnet", seeds, |bytes| {
        let (events, _echo) = editor.feed(bytes);
        for e in events {
            if let telnet::Input::Line(line) = e {
                assert!(line.len() <= 4 * telnet::MAX_LINE);
            }
        }
        let _ = screen.feed(bytes);
    });
}

const MAC: [u8; 6] = [0x00, 0x50, 0x79, 0x66, 0x68, 0x00];
const PEER_MAC: [u8; 6] = [0x00, 0x50, 0x79, 0x66, 0x68, 0x01];

fn frame_seeds() -> Vec<Vec<u8>> {
    let (me, peer) = (EthernetAddress(MAC), EthernetAddress(PEER_MAC));
    let (my_ip, peer_ip) = (Ipv4Address::new(10, 0, 0, 1), Ipv4Address::new(10, 0, 0, 2));
    let echo = Icmpv4Repr::EchoRequest { ident: 1, seq_no: 2, data: b"abcdefgh" };
    let syn = Segment { src_port: 4000, dst_port: 7, seq: 1, ack: 0, flags: wire::flags::SYN };
    let data =
        Segment { src_port: 4000, dst_port: 7, seq: 2, ack: 1, flags: wire::flags::ACK | wire::flags::PSH };
    vec![
        wire::arp(smoltcp::wire::ArpOperation::Request, peer, peer_ip, EthernetAddress([0; 6]), my_ip),
        wire::arp(smoltcp::wire::ArpOperation::Reply, peer, peer_ip, me, my_ip),
        wire::icmp(peer, me, peer_ip, my_ip, 64, &echo),
        wire::udp(peer, me, peer_ip, my_ip, 64, 5000, 7, b"echo me"),
        wire::tcp(peer, me, peer_ip, my_ip, 64, syn, b""),
        wire::tcp(peer, me, peer_ip, my_ip, 64, data, b"hello"),
    ]
}

#[test]
fn frames_through_the_pc_stack() {
    let mut pc = Pc::new(MAC, None);
    let t0 = Instant::now();
    pc.boot(t0);
    pc.on_line(t0, 1, "ip 10.0.0.1/24 10.0.0.254");
    let mut now = t0 + Duration::from_secs(3);
    pc.on_timer(now);
    fuzz("ethernet/arp/ipv4/icmp/udp/tcp", frame_seeds(), |frame| {
        let _ = wire::parse(frame, EthernetAddress(MAC));
        now += Duration::from_millis(1);
        pc.on_frame(now, frame);
        pc.on_timer(now);
        let _ = (pc.take_output(), pc.take_frames());
    });
}

#[test]
fn pc_shell_lines() {
    let lines = [
        "ip 10.0.0.5/24 10.0.0.1",
        "ip dhcp",
        "ping 10.0.0.2 -c 2 -i 1",
        "trace 10.0.0.9 -m 4",
        "set pcname PC7",
        "show ip all",
        "clear arp",
        "save",
        "load x.vpc",
        "? ping",
    ];
    let seeds = lines.iter().map(|l| l.as_bytes().to_vec()).collect();
    let mut pc = Pc::new(MAC, None);
    let mut now = Instant::now();
    pc.boot(now);
    fuzz("pc shell", seeds, |bytes| {
        let line: String = String::from_utf8_lossy(bytes).chars().take(telnet::MAX_LINE).collect();
        now += Duration::from_millis(50);
        pc.on_line(now, 1, &line);
        pc.interrupt(now);
        pc.on_timer(now + Duration::from_secs(10));
        let _ = (pc.take_output(), pc.take_frames());
    });
}

#[test]
fn http_json_bodies() {
    let seeds = [
        r#"{"name": "lab", "project_id": "67e55044-10b1-426f-9247-bb680e5fe0c8", "temporary": false}"#,
        r#"{"name": "PC1", "console": 5000, "startup_script": "ip 10.0.0.1/24\n"}"#,
        r#"{"type": "nio_udp", "lport": 10000, "rhost": "127.0.0.1", "rport": 10001}"#,
        r#"{"name": "SW", "ports": 8}"#,
        r#"{"a": [[[[{"b": [1, 2.5e300, -0, null, true, "\u0000\ud83d\ude00"]}]]]]}"#,
    ];
    let seeds = seeds.iter().map(|s| s.as_bytes().to_vec()).collect();
    fuzz("http json", seeds, |bytes| {
        let _ = parse_json::<ProjectCreate>(bytes);
        let _ = parse_json::<VmCreate>(bytes);
        let _ = parse_json::<VmUpdate>(bytes);
        let _ = parse_json::<Nio>(bytes);
        let _ = parse_json::<SwitchCreate>(bytes);
    });
}

#[test]
fn patch_files() {
    let seeds = [r#"{"format": "patchbay-patch", "version": 1,
        "transforms": [{"name": "sine0", "type": "Sinewave", "args": "440", "values": {"freq": 220.0}},
                       {"name": "sub", "type": "Patch", "patch": {"transforms": [{"name": "f", "type": "FanOut", "args": "2"}],
                        "connections": [{"from": "f/out0", "to": "f/in"}]}},
                       {"name": "out", "type": "AudioOutput"}],
        "connections": [{"from": "sine0/samplesOut", "to": "out/mix"}]}"#];
    let seeds = seeds.iter().map(|s| s.as_bytes().to_vec()).collect();
    fuzz("patch files", seeds, |bytes| {
        let Ok(text) = std::str::from_utf8(bytes) else { return };
        if let Ok(file) = PatchFile::parse(text) {
            let (mut engine, _audio) =
                patchbay::engine::Engine::new(patchbay::engine::Setup { rate: 48000.0, block: 64 });
            let _ = patch_file::load(&mut engine, &file);
        }
    });
}
