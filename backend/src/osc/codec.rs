//! OSC packets: the full OSC 1.0 type set (`i f s b h t d S c r m T F N I [ ]`)
//! plus seed 001's `C` (complex: two floats) and `v` (a vector of floats:
//! an `i` count, then the floats).
//!
//! rosc decodes and encodes standard messages. It cannot read addresses
//! that do not start with `/` (`#split`, `*/documentation`), nor `S`, `C`
//! or `v`, so this module frames packets itself (strict: padding, the `,`,
//! known tags, nothing left over) and handles those cases with its own
//! argument reader. Bundles are framed here too, so their elements may be
//! any of the above.

use rosc::{OscMessage, OscPacket, OscType};

/// Larger packets are refused: the most a UDP datagram carries.
pub const MAX_PACKET: usize = 65507;
/// Deepest nesting of `[` arrays in one message; deeper is refused before
/// any reader (ours or rosc's, which recurses) sees the arguments.
pub const MAX_ARRAY_DEPTH: usize = 8;
/// Deepest nesting of bundles in one packet.
pub const MAX_BUNDLE_DEPTH: usize = 8;
/// Longest string or symbol argument, in bytes: what a patch file allows.
pub const MAX_STRING: usize = 4096;

#[derive(Debug, Clone, PartialEq)]
/// One OSC argument; each variant names its type tag.
pub enum Arg {
    /// `i`: 32-bit integer.
    Int(i32),
    /// `f`: 32-bit float.
    Float(f32),
    /// `s`: string.
    Str(String),
    /// `b`: blob of bytes.
    Blob(Vec<u8>),
    /// NTP format: seconds since 1900 in the high half, fraction in the low.
    Time(u64),
    /// `h`: 64-bit integer.
    Long(i64),
    /// `d`: 64-bit float.
    Double(f64),
    /// `S`: symbol (a string by another tag).
    Symbol(String),
    /// `c`: one character.
    Char(char),
    /// `r`: RGBA colour.
    Color(u32),
    /// `m`: MIDI message (port, status, data 1, data 2).
    Midi([u8; 4]),
    /// `T`: true, no data.
    True,
    /// `F`: false, no data.
    False,
    /// `N`: nil, no data.
    Nil,
    /// `I`: impulse (bang), no data.
    Impulse,
    /// `[` ... `]`: an array of arguments.
    Array(Vec<Arg>),
    /// `C`: complex number, real and imaginary (an OSW extension).
    Complex(f32, f32),
    /// `v`: a vector of samples (an OSW extension).
    Samples(Vec<f32>),
}

impl Arg {
    /// The type tag of this argument (`[` for an array).
    pub fn tag(&self) -> char {
        match self {
            Arg::Int(_) => 'i',
            Arg::Float(_) => 'f',
            Arg::Str(_) => 's',
            Arg::Blob(_) => 'b',
            Arg::Time(_) => 't',
            Arg::Long(_) => 'h',
            Arg::Double(_) => 'd',
            Arg::Symbol(_) => 'S',
            Arg::Char(_) => 'c',
            Arg::Color(_) => 'r',
            Arg::Midi(_) => 'm',
            Arg::True => 'T',
            Arg::False => 'F',
            Arg::Nil => 'N',
            Arg::Impulse => 'I',
            Arg::Array(_) => '[',
            Arg::Complex(..) => 'C',
            Arg::Samples(_) => 'v',
        }
    }

    /// The text of a string or symbol.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Arg::Str(s) | Arg::Symbol(s) => Some(s),
            _ => None,
        }
    }

    /// An integer, or a float with no fraction, as `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Arg::Int(i) => Some(i as i64),
            Arg::Long(i) => Some(i),
            Arg::Float(f) if f.fract() == 0.0 => Some(f as i64),
            Arg::Double(f) if f.fract() == 0.0 => Some(f as i64),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
/// An OSC message: an address (or pattern) and its arguments.
pub struct Message {
    /// Address or address pattern, starting with `/`.
    pub addr: String,
    /// Its arguments, in order.
    pub args: Vec<Arg>,
}

impl Message {
    /// A message to `addr` with `args`.
    pub fn new(addr: impl Into<String>, args: Vec<Arg>) -> Message {
        Message { addr: addr.into(), args }
    }
}

#[derive(Debug, Clone, PartialEq)]
/// What one datagram or frame carries.
pub enum Packet {
    /// A single message.
    Message(Message),
    /// A bundle: packets to run at the NTP time tag `time` (1 means now), in order.
    Bundle {
        /// When to run: NTP seconds since 1900 in the high half, fraction in the low.
        time: u64,
        /// The packets inside, messages and bundles.
        content: Vec<Packet>,
    },
}

/// Why a packet was refused; `addr` is set when it could be read, so the
/// sender can get a reply with a negative code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}")]
pub struct DecodeError {
    /// The address, when the packet got that far.
    pub addr: Option<String>,
    /// What is wrong, for the log and the reply.
    pub reason: String,
}

fn fail<T>(addr: Option<&str>, reason: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError { addr: addr.map(str::to_owned), reason: reason.into() })
}

/// Reads a zero-terminated, zero-padded OSC string.
fn read_str<'a>(b: &'a [u8], addr: Option<&str>) -> Result<(&'a str, &'a [u8]), DecodeError> {
    let Some(end) = b.iter().position(|&c| c == 0) else { return fail(addr, "unterminated string") };
    let padded = (end + 4) & !3;
    if padded > b.len() {
        return fail(addr, "string padding runs past the end");
    }
    if b[end..padded].iter().any(|&c| c != 0) {
        return fail(addr, "string padding is not zeros");
    }
    let s = std::str::from_utf8(&b[..end]).or_else(|_| fail(addr, "string is not UTF-8"))?;
    Ok((s, &b[padded..]))
}

fn take<'a>(b: &'a [u8], n: usize, addr: &str) -> Result<(&'a [u8], &'a [u8]), DecodeError> {
    if b.len() < n {
        return fail(Some(addr), "argument data is truncated");
    }
    Ok(b.split_at(n))
}

fn be32(b: &[u8]) -> [u8; 4] {
    [b[0], b[1], b[2], b[3]]
}

fn be64(b: &[u8]) -> [u8; 8] {
    [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// Tags rosc reads; anything else (`S`, `C`, `v`) takes the local reader.
fn rosc_reads(tags: &str) -> bool {
    tags.chars().all(|c| "ifsbhtdcrmTFNI[]".contains(c))
}

/// Decodes a datagram (at most [`MAX_PACKET`] bytes).
pub fn decode(bytes: &[u8]) -> Result<Packet, DecodeError> {
    decode_with_limit(bytes, MAX_PACKET)
}

/// Decodes a packet that did not come in one datagram (`#split`, TCP): up
/// to [`MAX_SPLIT`](super::split::MAX_SPLIT).
pub fn decode_unbounded(bytes: &[u8]) -> Result<Packet, DecodeError> {
    decode_with_limit(bytes, super::split::MAX_SPLIT)
}

fn decode_with_limit(bytes: &[u8], limit: usize) -> Result<Packet, DecodeError> {
    if bytes.len() > limit {
        return fail(None, format!("packet of {} bytes is larger than {limit}", bytes.len()));
    }
    decode_nested(bytes, 0)
}

fn decode_nested(bytes: &[u8], depth: usize) -> Result<Packet, DecodeError> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return fail(None, "packet size is not a multiple of 4");
    }
    if bytes.starts_with(b"#bundle\0") {
        if depth >= MAX_BUNDLE_DEPTH {
            return fail(None, format!("bundles nest deeper than {MAX_BUNDLE_DEPTH}"));
        }
        return decode_bundle(&bytes[8..], depth);
    }
    let (addr, rest) = read_str(bytes, None)?;
    if addr.is_empty() {
        return fail(None, "empty address");
    }
    let a = Some(addr);
    if rest.is_empty() || rest[0] != b',' {
        return fail(a, "missing type tag string (it must start with ',')");
    }
    let (tags, data) = read_str(rest, a)?;
    let tags = &tags[1..];
    if let Some(bad) = tags.chars().find(|c| !"ifsbhtdScrmTFNI[]Cv".contains(*c)) {
        return fail(a, format!("unknown type tag {bad:?}"));
    }
    check_arrays(tags).or_else(|reason| fail(a, reason))?;
    if addr.starts_with('/') && rosc_reads(tags) {
        return match rosc::decoder::decode_udp(bytes) {
            Ok((&[], OscPacket::Message(m))) => {
                let args: Vec<Arg> = m.args.into_iter().map(from_rosc).collect();
                check_strings(&args).or_else(|reason| fail(a, reason))?;
                Ok(Packet::Message(Message { addr: m.addr, args }))
            }
            Ok((rest, _)) if !rest.is_empty() => fail(a, "bytes left over after the arguments"),
            Ok(_) => fail(a, "not a message"),
            Err(e) => fail(a, e.to_string()),
        };
    }
    let mut chars = tags.chars().peekable();
    let (args, rest) = read_args(&mut chars, data, addr, false)?;
    if !rest.is_empty() {
        return fail(a, "bytes left over after the arguments");
    }
    check_strings(&args).or_else(|reason| fail(a, reason))?;
    Ok(Packet::Message(Message { addr: addr.to_owned(), args }))
}

/// Strings and symbols, in arrays too, at most [`MAX_STRING`] bytes.
fn check_strings(args: &[Arg]) -> Result<(), String> {
    check_args(args, usize::MAX)
}

/// The address of the first message in a bundle's content, however deep:
/// where an error about the whole bundle is sent. (Not `#bundle`: a
/// message at that address reads as a bundle to every decoder.)
pub fn first_address(content: &[Packet]) -> Option<&str> {
    let mut stack: Vec<&Packet> = content.iter().rev().collect();
    while let Some(p) = stack.pop() {
        match p {
            Packet::Message(m) => return Some(&m.addr),
            Packet::Bundle { content, .. } => stack.extend(content.iter().rev()),
        }
    }
    None
}

/// What the decoder checks, for a message that did not come as OSC bytes
/// (the WebSocket bridge's JSON): arrays at most [`MAX_ARRAY_DEPTH`] deep,
/// strings at most [`MAX_STRING`] bytes.
pub fn check_message(m: &Message) -> Result<(), String> {
    check_args(&m.args, MAX_ARRAY_DEPTH)
}

fn check_args(args: &[Arg], max_depth: usize) -> Result<(), String> {
    let mut stack = vec![(args, 0)];
    while let Some((args, depth)) = stack.pop() {
        for a in args {
            match a {
                Arg::Str(s) | Arg::Symbol(s) if s.len() > MAX_STRING => {
                    return Err(format!(
                        "a string argument may hold at most {MAX_STRING} bytes, not {}",
                        s.len()
                    ))
                }
                Arg::Array(_) if depth == max_depth => {
                    return Err(format!("arrays nest deeper than {MAX_ARRAY_DEPTH}"))
                }
                Arg::Array(inner) => stack.push((inner, depth + 1)),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Arrays balanced and at most [`MAX_ARRAY_DEPTH`] deep, checked by counting.
fn check_arrays(tags: &str) -> Result<(), String> {
    let mut depth = 0usize;
    for c in tags.bytes() {
        match c {
            b'[' if depth == MAX_ARRAY_DEPTH => {
                return Err(format!("arrays nest deeper than {MAX_ARRAY_DEPTH}"))
            }
            b'[' => depth += 1,
            b']' if depth == 0 => return Err("']' without '['".into()),
            b']' => depth -= 1,
            _ => {}
        }
    }
    if depth != 0 {
        return Err("array without ']'".into());
    }
    Ok(())
}

fn decode_bundle(mut b: &[u8], depth: usize) -> Result<Packet, DecodeError> {
    if b.len() < 8 {
        return fail(None, "bundle without a time tag");
    }
    let time = u64::from_be_bytes(be64(b));
    b = &b[8..];
    let mut content = vec![];
    while !b.is_empty() {
        if b.len() < 4 {
            return fail(None, "truncated bundle element size");
        }
        let n = i32::from_be_bytes(be32(b));
        if n < 0 || n as usize > b.len() - 4 {
            return fail(None, "bundle element size runs past the end");
        }
        content.push(decode_nested(&b[4..4 + n as usize], depth + 1)?);
        b = &b[4 + n as usize..];
    }
    Ok(Packet::Bundle { time, content })
}

fn read_args<'a>(
    tags: &mut std::iter::Peekable<std::str::Chars>,
    mut b: &'a [u8],
    addr: &str,
    in_array: bool,
) -> Result<(Vec<Arg>, &'a [u8]), DecodeError> {
    let mut args = vec![];
    while let Some(t) = tags.next() {
        let (arg, rest) = match t {
            'i' | 'f' | 'c' | 'r' | 'm' => {
                let (x, rest) = take(b, 4, addr)?;
                let x = be32(x);
                let arg = match t {
                    'i' => Arg::Int(i32::from_be_bytes(x)),
                    'f' => Arg::Float(f32::from_be_bytes(x)),
                    'c' => Arg::Char(char::from_u32(u32::from_be_bytes(x)).unwrap_or('\u{fffd}')),
                    'r' => Arg::Color(u32::from_be_bytes(x)),
                    _ => Arg::Midi(x),
                };
                (arg, rest)
            }
            'h' | 't' | 'd' => {
                let (x, rest) = take(b, 8, addr)?;
                let x = be64(x);
                let arg = match t {
                    'h' => Arg::Long(i64::from_be_bytes(x)),
                    't' => Arg::Time(u64::from_be_bytes(x)),
                    _ => Arg::Double(f64::from_be_bytes(x)),
                };
                (arg, rest)
            }
            's' | 'S' => {
                let (s, rest) = read_str(b, Some(addr))?;
                (if t == 's' { Arg::Str(s.to_owned()) } else { Arg::Symbol(s.to_owned()) }, rest)
            }
            'b' => {
                let (n, rest) = take(b, 4, addr)?;
                let n = i32::from_be_bytes(be32(n));
                if n < 0 {
                    return fail(Some(addr), "negative blob size");
                }
                let padded = (n as usize + 3) & !3;
                let (data, rest) = take(rest, padded, addr)?;
                (Arg::Blob(data[..n as usize].to_vec()), rest)
            }
            'C' => {
                let (x, rest) = take(b, 8, addr)?;
                (Arg::Complex(f32::from_be_bytes(be32(x)), f32::from_be_bytes(be32(&x[4..]))), rest)
            }
            'v' => {
                let (n, rest) = take(b, 4, addr)?;
                let n = i32::from_be_bytes(be32(n));
                if n < 0 || n as usize > rest.len() / 4 {
                    return fail(Some(addr), "sample vector size runs past the end");
                }
                let (data, rest) = take(rest, 4 * n as usize, addr)?;
                (Arg::Samples(data.chunks_exact(4).map(|c| f32::from_be_bytes(be32(c))).collect()), rest)
            }
            'T' => (Arg::True, b),
            'F' => (Arg::False, b),
            'N' => (Arg::Nil, b),
            'I' => (Arg::Impulse, b),
            '[' => {
                let (inner, rest) = read_args(tags, b, addr, true)?;
                (Arg::Array(inner), rest)
            }
            ']' if in_array => return Ok((args, b)),
            c => return fail(Some(addr), format!("unexpected type tag {c:?}")),
        };
        args.push(arg);
        b = rest;
    }
    if in_array {
        return fail(Some(addr), "array without ']'");
    }
    Ok((args, b))
}

fn from_rosc(t: OscType) -> Arg {
    match t {
        OscType::Int(i) => Arg::Int(i),
        OscType::Float(f) => Arg::Float(f),
        OscType::String(s) => Arg::Str(s),
        OscType::Blob(b) => Arg::Blob(b),
        OscType::Time(t) => Arg::Time(((t.seconds as u64) << 32) | t.fractional as u64),
        OscType::Long(l) => Arg::Long(l),
        OscType::Double(d) => Arg::Double(d),
        OscType::Char(c) => Arg::Char(c),
        OscType::Color(c) => Arg::Color(u32::from_be_bytes([c.red, c.green, c.blue, c.alpha])),
        OscType::Midi(m) => Arg::Midi([m.port, m.status, m.data1, m.data2]),
        OscType::Bool(true) => Arg::True,
        OscType::Bool(false) => Arg::False,
        OscType::Array(a) => Arg::Array(a.content.into_iter().map(from_rosc).collect()),
        OscType::Nil => Arg::Nil,
        OscType::Inf => Arg::Impulse,
    }
}

/// The rosc form of an argument, if rosc has one.
fn to_rosc(a: &Arg) -> Option<OscType> {
    Some(match a {
        Arg::Int(i) => OscType::Int(*i),
        Arg::Float(f) => OscType::Float(*f),
        Arg::Str(s) => OscType::String(s.clone()),
        Arg::Blob(b) => OscType::Blob(b.clone()),
        Arg::Time(t) => OscType::Time(rosc::OscTime { seconds: (t >> 32) as u32, fractional: *t as u32 }),
        Arg::Long(l) => OscType::Long(*l),
        Arg::Double(d) => OscType::Double(*d),
        Arg::Char(c) => OscType::Char(*c),
        Arg::Color(c) => {
            let [red, green, blue, alpha] = c.to_be_bytes();
            OscType::Color(rosc::OscColor { red, green, blue, alpha })
        }
        Arg::Midi([port, status, data1, data2]) => {
            OscType::Midi(rosc::OscMidiMessage { port: *port, status: *status, data1: *data1, data2: *data2 })
        }
        Arg::True => OscType::Bool(true),
        Arg::False => OscType::Bool(false),
        Arg::Nil => OscType::Nil,
        Arg::Impulse => OscType::Inf,
        Arg::Array(a) => {
            OscType::Array(rosc::OscArray { content: a.iter().map(to_rosc).collect::<Option<_>>()? })
        }
        Arg::Symbol(_) | Arg::Complex(..) | Arg::Samples(_) => return None,
    })
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn push_tags(out: &mut String, args: &[Arg]) {
    for a in args {
        match a {
            Arg::Array(inner) => {
                out.push('[');
                push_tags(out, inner);
                out.push(']');
            }
            a => out.push(a.tag()),
        }
    }
}

fn push_data(out: &mut Vec<u8>, args: &[Arg]) {
    for a in args {
        match a {
            Arg::Int(i) => out.extend_from_slice(&i.to_be_bytes()),
            Arg::Float(f) => out.extend_from_slice(&f.to_be_bytes()),
            Arg::Str(s) | Arg::Symbol(s) => push_str(out, s),
            Arg::Blob(b) => {
                out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                out.extend_from_slice(b);
                while !out.len().is_multiple_of(4) {
                    out.push(0);
                }
            }
            Arg::Time(t) => out.extend_from_slice(&t.to_be_bytes()),
            Arg::Long(l) => out.extend_from_slice(&l.to_be_bytes()),
            Arg::Double(d) => out.extend_from_slice(&d.to_be_bytes()),
            Arg::Char(c) => out.extend_from_slice(&(*c as u32).to_be_bytes()),
            Arg::Color(c) => out.extend_from_slice(&c.to_be_bytes()),
            Arg::Midi(m) => out.extend_from_slice(m),
            Arg::True | Arg::False | Arg::Nil | Arg::Impulse => {}
            Arg::Array(inner) => push_data(out, inner),
            Arg::Complex(re, im) => {
                out.extend_from_slice(&re.to_be_bytes());
                out.extend_from_slice(&im.to_be_bytes());
            }
            Arg::Samples(v) => {
                out.extend_from_slice(&(v.len() as i32).to_be_bytes());
                v.iter().for_each(|x| out.extend_from_slice(&x.to_be_bytes()));
            }
        }
    }
}

/// One message as bytes (rosc's encoder where it can: it lacks `v`, `C` and non-`/` addresses).
pub fn encode_message(m: &Message) -> Vec<u8> {
    if m.addr.starts_with('/') {
        if let Some(args) = m.args.iter().map(to_rosc).collect::<Option<Vec<_>>>() {
            let packet = OscPacket::Message(OscMessage { addr: m.addr.clone(), args });
            if let Ok(bytes) = rosc::encoder::encode(&packet) {
                return bytes;
            }
        }
    }
    let mut out = Vec::with_capacity(64);
    push_str(&mut out, &m.addr);
    let mut tags = String::from(",");
    push_tags(&mut tags, &m.args);
    push_str(&mut out, &tags);
    push_data(&mut out, &m.args);
    out
}

/// A packet as bytes, bundles nested.
pub fn encode(p: &Packet) -> Vec<u8> {
    match p {
        Packet::Message(m) => encode_message(m),
        Packet::Bundle { time, content } => {
            let mut out = b"#bundle\0".to_vec();
            out.extend_from_slice(&time.to_be_bytes());
            for element in content {
                let bytes = encode(element);
                out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                out.extend_from_slice(&bytes);
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
    }

    #[test]
    fn the_osc_1_0_spec_examples_decode_and_encode_byte_for_byte() {
        // "/oscillator/4/frequency" ,f 440.0
        let a = hex("2f 6f 73 63 69 6c 6c 61 74 6f 72 2f 34 2f 66 72 65 71 75 65 6e 63 79 00 \
             2c 66 00 00 43 dc 00 00");
        let m = Message::new("/oscillator/4/frequency", vec![Arg::Float(440.0)]);
        assert_eq!(decode(&a).unwrap(), Packet::Message(m.clone()));
        assert_eq!(encode_message(&m), a);
        // "/foo" ,iisff 1000 -1 "hello" 1.234 5.678
        let b = hex("2f 66 6f 6f 00 00 00 00 2c 69 69 73 66 66 00 00 00 00 03 e8 ff ff ff ff \
             68 65 6c 6c 6f 00 00 00 3f 9d f3 b6 40 b5 b2 2d");
        let m = Message::new(
            "/foo",
            vec![
                Arg::Int(1000),
                Arg::Int(-1),
                Arg::Str("hello".into()),
                Arg::Float(1.234),
                Arg::Float(5.678),
            ],
        );
        assert_eq!(decode(&b).unwrap(), Packet::Message(m.clone()));
        assert_eq!(encode_message(&m), b);
    }

    #[test]
    fn seed_extensions_and_pattern_addresses_round_trip() {
        for m in [
            Message::new("#split", vec![Arg::Int(0), Arg::Int(3), Arg::Blob(vec![1, 2, 3, 4, 5])]),
            Message::new("*/documentation", vec![]),
            Message::new("/c", vec![Arg::Complex(1.5, -2.0), Arg::Samples(vec![0.5, -0.25, 1.0])]),
            Message::new("/s", vec![Arg::Symbol("sym".into()), Arg::Str("str".into())]),
            Message::new(
                "/all",
                vec![
                    Arg::Long(-5),
                    Arg::Double(0.1),
                    Arg::Time(1),
                    Arg::True,
                    Arg::False,
                    Arg::Nil,
                    Arg::Impulse,
                ],
            ),
            Message::new(
                "/arr",
                vec![
                    Arg::Array(vec![Arg::Int(1), Arg::Array(vec![])]),
                    Arg::Char('x'),
                    Arg::Midi([1, 2, 3, 4]),
                ],
            ),
        ] {
            let bytes = encode_message(&m);
            assert_eq!(bytes.len() % 4, 0);
            assert_eq!(decode(&bytes).unwrap(), Packet::Message(m));
        }
        // The `C` and `v` layouts: two floats; a count then floats.
        let c = encode_message(&Message::new("/c", vec![Arg::Complex(1.0, 2.0)]));
        assert_eq!(&c[4..], &hex("2c 43 00 00 3f 80 00 00 40 00 00 00")[..]);
        let v = encode_message(&Message::new("/v", vec![Arg::Samples(vec![1.0])]));
        assert_eq!(&v[4..], &hex("2c 76 00 00 00 00 00 01 3f 80 00 00")[..]);
    }

    #[test]
    fn nested_bundles_round_trip() {
        let inner =
            Packet::Bundle { time: 1, content: vec![Packet::Message(Message::new("/a", vec![Arg::Int(1)]))] };
        let outer = Packet::Bundle {
            time: 7 << 32,
            content: vec![inner, Packet::Message(Message::new("#split", vec![]))],
        };
        assert_eq!(decode(&encode(&outer)).unwrap(), outer);
    }

    #[test]
    fn malformed_packets_are_refused_with_the_address_when_it_is_readable() {
        let good = encode_message(&Message::new("/x", vec![Arg::Int(1)]));
        let err = |b: &[u8]| decode(b).unwrap_err();
        assert_eq!(err(&good[..good.len() - 4]).addr.as_deref(), Some("/x"), "truncated int");
        assert!(err(&good[..6]).reason.contains("multiple of 4"));
        let mut no_comma = good.clone();
        no_comma[4] = b'x';
        assert_eq!(err(&no_comma).addr.as_deref(), Some("/x"));
        let mut bad_tag = good.clone();
        bad_tag[5] = b'Q';
        assert!(err(&bad_tag).reason.contains("unknown type tag 'Q'"));
        let mut bad_pad = good.clone();
        bad_pad[3] = b'z';
        assert!(err(&bad_pad).reason.contains("padding"));
        let mut extra = good.clone();
        extra.extend_from_slice(&[0, 0, 0, 1]);
        assert!(err(&extra).reason.contains("left over"));
        assert!(err(&vec![0u8; MAX_PACKET + 1]).reason.contains("larger than"));
        assert!(err(b"/x\0\0").reason.contains("missing type tag"));
        // A bundle element that claims more bytes than there are.
        let mut bundle = b"#bundle\0".to_vec();
        bundle.extend_from_slice(&[0; 8]);
        bundle.extend_from_slice(&1000i32.to_be_bytes());
        assert!(err(&bundle).reason.contains("past the end"));
        // Hostile sizes: a negative blob length, a vector longer than the packet.
        let mut crash = b"/x\0\0,b\0\0".to_vec();
        crash.extend_from_slice(&[0xff, 0xff, 0xff, 0xf0]);
        assert!(decode(&crash).is_err());
        let mut huge = b"/x\0\0,v\0\0".to_vec();
        huge.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
        assert!(decode(&huge).is_err());
    }

    /// liblo's own vectors (src/testlo.c, `test_deserialise`): its 15-type
    /// message is 92 bytes and round-trips; each of its malformed messages
    /// is refused.
    #[test]
    fn liblos_deserialise_vectors() {
        let all = Message::new(
            "/foo",
            vec![
                Arg::Float(0.123_456_78),
                Arg::Int(123),
                Arg::Str("123".into()),
                Arg::Blob(b"ABCDE".to_vec()),
                Arg::Midi([0xff, 0xf7, 0xaa, 0x00]),
                Arg::Long(0x0123_4567_89ab_cdef),
                Arg::Time((1 << 32) | 0x8000_0000),
                Arg::Double(0.9999),
                Arg::Symbol("sym".into()),
                Arg::Char('X'),
                Arg::Char('Y'),
                Arg::True,
                Arg::False,
                Arg::Nil,
                Arg::Impulse,
            ],
        );
        let bytes = encode_message(&all);
        assert_eq!(bytes.len(), 92, "liblo serialises this message to 92 bytes");
        assert_eq!(decode(&bytes).unwrap(), Packet::Message(all));

        // Each case as liblo builds it in a zeroed buffer of this length.
        let case = |head: &[u8], len: usize| {
            let mut b = vec![0u8; len.max(head.len())];
            b[..head.len()].copy_from_slice(head);
            b.truncate(len);
            b
        };
        let mut long_blob = case(b"/t\0\0,bs\0", 256);
        long_blob[8..12].copy_from_slice(&99999u32.to_be_bytes());
        for (bytes, what) in [
            (case(b"", 0), "zero size"),
            (case(b"/foo", 4), "unterminated path"),
            (case(b"/f_o", 4), "non-zero in the padding"),
            (case(b"/t\0\0", 4), "types missing"),
            (case(b"/t\0\0", 8), "types empty"),
            (case(b"/t\0\0,f\0", 7), "short message"),
            (case(b"/t\0\0ifi\0", 8), "types missing the comma"),
            (case(b"/t\0\0,ifi", 8), "types unterminated"),
            (case(b"/t\0\0,ii\0", 12), "not enough argument data"),
            (case(b"/t\0\0,ii\0", 15), "not enough argument data again"),
            (case(b"/t\0\0,f\0\0", 16), "too much argument data"),
            (long_blob, "blob longer than the message"),
        ] {
            assert!(decode(&bytes).is_err(), "{what} must be refused");
        }
    }

    /// From liblo's src/testlo.c: `"/\0\0\0,bs\0,\x00\x0F\x42\x3F"` as sent,
    /// with the C string's final NUL (14 bytes).
    const LIBLO_CRASH_PACKET: &[u8] = b"/\0\0\0,bs\0,\x00\x0F\x42\x3F\0";

    /// liblo's `test_validation`: the packet crafted to crash a server that
    /// does not validate its input (a blob size far past the end).
    #[test]
    fn liblos_crash_packet_is_refused() {
        let e = decode(LIBLO_CRASH_PACKET).unwrap_err();
        assert!(e.reason.contains("multiple of 4"), "{}", e.reason);
        // Padded to a whole packet, the oversized blob itself is what is refused.
        let mut padded = LIBLO_CRASH_PACKET.to_vec();
        padded.resize(16, 0);
        assert_eq!(decode(&padded).unwrap_err().addr.as_deref(), Some("/"));
    }

    /// A message with these type tags and no data, padded as OSC wants.
    fn with_tags(tags: &str) -> Vec<u8> {
        let mut out = vec![];
        push_str(&mut out, "/x");
        push_str(&mut out, &format!(",{tags}"));
        out
    }

    /// The datagrams that overflowed the OSC thread's stack are refused
    /// with a reason, and arrays up to the limit still decode.
    #[test]
    fn deep_arrays_and_bundles_are_refused_before_anything_recurses() {
        for tags in ["[".repeat(10_000), format!("{}{}", "[".repeat(30_000), "]".repeat(30_000))] {
            let e = decode_unbounded(&with_tags(&tags)).unwrap_err();
            assert!(e.reason.contains("deeper than 8"), "{}", e.reason);
            assert_eq!(e.addr.as_deref(), Some("/x"));
        }
        let deepest = format!("{}{}", "[".repeat(MAX_ARRAY_DEPTH), "]".repeat(MAX_ARRAY_DEPTH));
        assert!(decode(&with_tags(&deepest)).is_ok());
        assert!(decode(&with_tags("]")).unwrap_err().reason.contains("without '['"));
        assert!(decode(&with_tags("[[i]")).unwrap_err().reason.contains("without ']'"));
        // Bundles inside bundles, one level past the limit.
        let mut packet = encode_message(&Message::new("/x", vec![]));
        for _ in 0..=MAX_BUNDLE_DEPTH {
            let mut bundle = b"#bundle\0\0\0\0\0\0\0\0\x01".to_vec();
            bundle.extend((packet.len() as u32).to_be_bytes());
            bundle.extend(&packet);
            packet = bundle;
        }
        assert!(decode(&packet).unwrap_err().reason.contains("deeper than"));
    }

    #[test]
    fn strings_are_capped_like_patch_file_arguments_in_either_reader() {
        let long = "x".repeat(MAX_STRING + 1);
        let plain = Message::new("/x", vec![Arg::Str(long.clone())]);
        // `S` takes the local reader, `s` in an array rosc's.
        let symbol = Message::new("/x", vec![Arg::Int(1), Arg::Symbol(long.clone())]);
        let nested = Message::new("/x", vec![Arg::Array(vec![Arg::Array(vec![Arg::Str(long)])])]);
        for m in [plain, symbol, nested] {
            let e = decode_unbounded(&encode_message(&m)).unwrap_err();
            assert!(e.reason.contains("at most 4096 bytes, not 4097"), "{}", e.reason);
            assert_eq!(e.addr.as_deref(), Some("/x"));
        }
        let mut deep = Arg::Int(1);
        for _ in 0..=MAX_ARRAY_DEPTH {
            deep = Arg::Array(vec![deep]);
        }
        let e = check_message(&Message::new("/x", vec![deep])).unwrap_err();
        assert!(e.contains("deeper than 8"), "{e}");
        let longest = Message::new("/x", vec![Arg::Str("x".repeat(MAX_STRING))]);
        assert_eq!(check_message(&longest), Ok(()));
        assert_eq!(decode(&encode_message(&longest)).unwrap(), Packet::Message(longest));
    }
}
