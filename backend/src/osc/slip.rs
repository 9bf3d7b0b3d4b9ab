//! SLIP framing for OSC over TCP (OSC 1.1): END (0xC0) ends a packet, ESC
//! (0xDB) escapes END and ESC inside it. Packets are also preceded by END,
//! which flushes any line noise before them.

const END: u8 = 0xC0;
const ESC: u8 = 0xDB;
const ESC_END: u8 = 0xDC;
const ESC_ESC: u8 = 0xDD;

/// One packet as a SLIP frame (RFC 1055, as OSC 1.1 frames TCP): END, the escaped bytes, END.
pub fn encode(packet: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(packet.len() + 8);
    out.push(END);
    for &b in packet {
        match b {
            END => out.extend_from_slice(&[ESC, ESC_END]),
            ESC => out.extend_from_slice(&[ESC, ESC_ESC]),
            b => out.push(b),
        }
    }
    out.push(END);
    out
}

/// Collects packets from a byte stream.
#[derive(Default)]
pub struct Decoder {
    packet: Vec<u8>,
    escaped: bool,
    /// The current packet grew past the limit: drop it up to the next END.
    overflow: bool,
}

impl Decoder {
    /// Bytes held for the unfinished packet.
    pub fn pending(&self) -> usize {
        self.packet.capacity()
    }

    /// Feeds bytes; returns complete packets, and how many oversized ones were dropped.
    pub fn feed(&mut self, bytes: &[u8], limit: usize) -> (Vec<Vec<u8>>, usize) {
        let (mut out, mut dropped) = (vec![], 0);
        for &b in bytes {
            if b == END {
                if self.overflow {
                    dropped += 1;
                } else if !self.packet.is_empty() {
                    out.push(std::mem::take(&mut self.packet));
                }
                self.packet.clear();
                self.overflow = false;
                self.escaped = false;
                continue;
            }
            let b = match (self.escaped, b) {
                (false, ESC) => {
                    self.escaped = true;
                    continue;
                }
                (true, ESC_END) => END,
                (true, ESC_ESC) => ESC,
                (_, b) => b,
            };
            self.escaped = false;
            if self.packet.len() >= limit {
                self.overflow = true;
                self.packet.clear();
            }
            if !self.overflow {
                self.packet.push(b);
            }
        }
        (out, dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_round_trip_through_any_chunking() {
        let packets = [vec![1, 2, END, 3], vec![ESC, ESC_END, 0], vec![7; 100]];
        let stream: Vec<u8> = packets.iter().flat_map(|p| encode(p)).collect();
        assert_eq!(&encode(&[END, ESC])[..], &[END, ESC, ESC_END, ESC, ESC_ESC, END]);
        for chunk in [1, 3, 7, stream.len()] {
            let mut d = Decoder::default();
            let got: Vec<Vec<u8>> = stream.chunks(chunk).flat_map(|c| d.feed(c, 1000).0).collect();
            assert_eq!(got, packets);
        }
    }

    #[test]
    fn oversized_packets_are_dropped_and_counted() {
        let mut d = Decoder::default();
        let mut stream = encode(&[9; 50]);
        stream.extend(encode(&[1, 2, 3, 4]));
        let (packets, dropped) = d.feed(&stream, 10);
        assert_eq!((packets, dropped), (vec![vec![1, 2, 3, 4]], 1));
    }
}
