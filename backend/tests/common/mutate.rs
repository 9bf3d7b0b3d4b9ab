//! Random mutation of real packets, for the fuzz harness
//! (`tests/fuzz_decoders.rs`) and the live-server fuzz bench
//! (`benches/fuzz_server.rs`, which includes this file by path).

use patchbay::osc::codec::{self, Arg, Message, Packet};

/// xorshift64*: small, fast, and repeatable from its seed.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    &[0],
    &[0xff],
    &[0x7f],
    &[0x80],
    &[0xff, 0xff, 0xff, 0xff],
    &[0x7f, 0xff, 0xff, 0xff],
    &[0, 0, 0, 0],
    &[0x80, 0, 0, 0],
    b"[",
    b"]",
    b"#bundle\0",
    b"*",
    b"{",
    b"/",
    &[0xc0],
    &[0xdb],
    &[0xff, 0xfa],
];

/// One mutation or a few of them, from `seeds`.
pub(crate) fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(8) {
            0 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] = rng.next() as u8;
            }
            2 => {
                let v = INTERESTING[rng.below(INTERESTING.len())];
                data.splice(at..at, v.iter().copied());
            }
            3 if !data.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at.min(end)..end);
            }
            4 if !data.is_empty() => {
                // A run repeated many times: deep nesting, long addresses.
                let start = at.min(data.len() - 1);
                let end = (start + 1 + rng.below(4)).min(data.len());
                let run = data[start..end].to_vec();
                let times = [2, 10, 100, 1000, 10_000][rng.below(5)];
                let repeated: Vec<u8> = run.iter().copied().cycle().take(run.len() * times).collect();
                data.splice(start..start, repeated);
            }
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                data.splice(at..at, other[from..].iter().copied());
            }
            6 => data.truncate(at),
            _ => {
                let n = rng.below(8);
                data.splice(at..at, (0..n).map(|_| rng.next() as u8));
            }
        }
    }
    data.truncate(1 << 20);
    data
}

/// Real OSC packets: every argument type, nested bundles, a `#split`
/// fragment, a pattern, and liblo's crash packet.
pub(crate) fn osc_seeds() -> Vec<Vec<u8>> {
    let every_type = Message::new(
        "/patch/sine0/freq",
        vec![
            Arg::Int(1),
            Arg::Float(2.5),
            Arg::Str("text".into()),
            Arg::Symbol("sym".into()),
            Arg::Blob(vec![1, 2, 3]),
            Arg::Long(-4),
            Arg::Double(0.5),
            Arg::Time(1),
            Arg::Char('c'),
            Arg::Color(0x11223344),
            Arg::Midi([1, 2, 3, 4]),
            Arg::True,
            Arg::False,
            Arg::Nil,
            Arg::Impulse,
            Arg::Array(vec![Arg::Int(1), Arg::Array(vec![Arg::Str("in".into())])]),
            Arg::Complex(1.0, -1.0),
            Arg::Samples(vec![0.25; 8]),
        ],
    );
    let bundle = Packet::Bundle {
        time: 1,
        content: vec![
            Packet::Message(Message::new("/a", vec![Arg::Int(1)])),
            Packet::Bundle { time: 2, content: vec![Packet::Message(Message::new("/*/b?", vec![]))] },
        ],
    };
    vec![
        codec::encode_message(&every_type),
        codec::encode(&bundle),
        codec::encode_message(&Message::new(
            "#split",
            vec![Arg::Int(0), Arg::Int(2), Arg::Blob(vec![7; 40])],
        )),
        codec::encode_message(&Message::new("/patch/{sine,saw}[0-9]/[!a-c]*", vec![])),
        b"/\0\0\0,bs\0,\x00\x0F\x42\x3F\0".to_vec(), // liblo's crash packet
    ]
}
