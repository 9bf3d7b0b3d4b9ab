//! Size-prefixed framing for OSC over TCP (OSC 1.0, what liblo's
//! `osc.tcp://` and python-osc's 1.0 mode send): each packet is preceded
//! by its length as a 4-byte big-endian integer.

/// A packet with its length in front.
pub fn encode(packet: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(packet.len() + 4);
    out.extend_from_slice(&(packet.len() as u32).to_be_bytes());
    out.extend_from_slice(packet);
    out
}

/// A length over the limit: the stream cannot be resynchronised after it,
/// so the connection ends.
#[derive(Debug, PartialEq, Eq)]
pub struct Oversized(pub usize);

/// Collects packets from a byte stream.
#[derive(Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// Bytes held for the unfinished packet.
    pub fn pending(&self) -> usize {
        self.buf.capacity()
    }

    /// Feeds bytes; returns the complete packets, or the announced length
    /// that passes `limit`. Nothing is reserved ahead of the bytes that
    /// came, so a large announced length costs only what was sent.
    pub fn feed(&mut self, bytes: &[u8], limit: usize) -> Result<Vec<Vec<u8>>, Oversized> {
        self.buf.extend_from_slice(bytes);
        let (mut out, mut at) = (vec![], 0);
        while let Some(head) = self.buf.get(at..at + 4) {
            let len = u32::from_be_bytes(head.try_into().expect("four bytes")) as usize;
            if len > limit {
                self.buf = vec![];
                return Err(Oversized(len));
            }
            let Some(packet) = self.buf.get(at + 4..at + 4 + len) else { break };
            if len > 0 {
                out.push(packet.to_vec());
            }
            at += 4 + len;
        }
        self.buf.drain(..at);
        if self.buf.is_empty() {
            // Give back what a large packet left behind.
            self.buf = vec![];
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_come_out_whole_however_the_stream_is_cut() {
        let stream: Vec<u8> = [encode(b"/a\0\0,\0\0\0"), encode(b""), encode(&[7u8; 300])].concat();
        for cut in [1, 3, 4, 5, 17, stream.len()] {
            let mut d = Decoder::default();
            let packets: Vec<Vec<u8>> =
                stream.chunks(cut).flat_map(|c| d.feed(c, 1000).expect("within the limit")).collect();
            assert_eq!(packets, vec![b"/a\0\0,\0\0\0".to_vec(), vec![7u8; 300]], "cut every {cut}");
            assert_eq!(d.pending(), 0, "nothing held after the last packet");
        }
    }

    #[test]
    fn a_length_over_the_limit_is_refused_before_anything_is_stored() {
        let mut d = Decoder::default();
        assert_eq!(d.feed(&[0x7f, 0xff, 0xff, 0xff, 1, 2], 1000), Err(Oversized(0x7fff_ffff)));
        assert_eq!(d.pending(), 0);
        assert_eq!(d.feed(&1000u32.to_be_bytes(), 1000), Ok(vec![]), "at the limit is allowed");
    }
}
