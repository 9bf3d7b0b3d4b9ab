//! `ping -3`, VPCS's TCP ping, and the answers a PC gives to one.
//!
//! VPCS has no TCP stack: a TCP ping opens a connection (SYN, SYN|ACK, ACK),
//! sends one segment of data and waits for its ACK, then closes (FIN, FIN|ACK,
//! ACK), and prints a line for each of the three. Its answerer treats every
//! port as open. Both sides here are as small as VPCS's; the answerer
//! remembers a bounded number of connections, so a flood costs no memory.

use super::wire::{flags, Segment};

/// The three exchanges of one TCP ping, each printed on its own line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Connect,
    SendData,
    Close,
}

impl Step {
    /// The line's first word, padded as VPCS pads it.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Step::Connect => "Connect  ",
            Step::SendData => "SendData ",
            Step::Close => "Close    ",
        }
    }
}

/// One TCP ping's connection, from our side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probe {
    pub step: Step,
    pub src_port: u16,
    pub dst_port: u16,
    /// Our next sequence number.
    seq: u32,
    /// The next sequence number we expect from them.
    ack: u32,
    /// Bytes of data the SendData step carries.
    size: u32,
    /// Close: our FIN was acknowledged, their FIN is still to come.
    fin_acked: bool,
}

/// What a segment from the pinged host means to the probe.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Not for this step (a duplicate, another connection): keep waiting.
    Ignored,
    /// The step is done: send `ack` if any, then go on to the next step
    /// (`None` after Close).
    Done { ack: Option<Segment>, next: Option<Segment> },
    /// The host refused the connection.
    Refused,
}

impl Probe {
    /// A new connection from `src_port`; `isn` is our first sequence number.
    /// Returns the probe and its SYN.
    pub(crate) fn connect(src_port: u16, dst_port: u16, isn: u32, size: usize) -> (Probe, Segment) {
        let probe = Probe {
            step: Step::Connect,
            src_port,
            dst_port,
            seq: isn,
            ack: 0,
            size: size as u32,
            fin_acked: false,
        };
        (probe, probe.segment(flags::SYN))
    }

    fn segment(&self, flags: u8) -> Segment {
        Segment { src_port: self.src_port, dst_port: self.dst_port, seq: self.seq, ack: self.ack, flags }
    }

    /// Whether `s` belongs to this connection at all.
    pub(crate) fn owns(&self, s: &Segment) -> bool {
        s.src_port == self.dst_port && s.dst_port == self.src_port
    }

    /// Takes a segment of this connection; `payload_len` is its data.
    pub(crate) fn on_segment(&mut self, s: &Segment, payload_len: usize) -> Progress {
        if s.flags & flags::RST != 0 {
            return if self.step == Step::Connect { Progress::Refused } else { Progress::Ignored };
        }
        let acked = |expected: u32| s.flags & flags::ACK != 0 && s.ack == expected;
        match self.step {
            Step::Connect if s.flags & flags::SYN != 0 && acked(self.seq.wrapping_add(1)) => {
                self.seq = self.seq.wrapping_add(1);
                self.ack = s.seq.wrapping_add(1);
                self.step = Step::SendData;
                let ack = self.segment(flags::ACK);
                Progress::Done { ack: Some(ack), next: Some(self.segment(flags::ACK | flags::PSH)) }
            }
            Step::SendData if s.flags & flags::SYN == 0 && acked(self.seq.wrapping_add(self.size)) => {
                self.seq = self.seq.wrapping_add(self.size);
                self.ack = s.seq.wrapping_add(payload_len as u32);
                self.step = Step::Close;
                Progress::Done { ack: None, next: Some(self.segment(flags::FIN | flags::ACK)) }
            }
            Step::Close
                if acked(self.seq.wrapping_add(1)) || (self.fin_acked && s.flags & flags::FIN != 0) =>
            {
                if s.flags & flags::FIN == 0 {
                    // Their ACK came first; their FIN follows.
                    self.fin_acked = true;
                    return Progress::Ignored;
                }
                self.seq = self.seq.wrapping_add(1);
                self.ack = s.seq.wrapping_add(payload_len as u32 + 1);
                Progress::Done { ack: Some(self.segment(flags::ACK)), next: None }
            }
            _ => Progress::Ignored,
        }
    }
}

/// Connections a PC answers for at once; a new one beyond this closes the oldest.
const MAX_OPEN: usize = 16;

/// How a PC answers segments it is not waiting for, as VPCS does: every
/// port is open, data is acknowledged, a FIN is answered with FIN|ACK.
/// It remembers which connections it accepted (a few, the oldest dropped
/// first), because answering a FIN of a connection it never had would let
/// two such answerers trade FIN|ACKs forever.
#[derive(Debug, Default)]
pub(crate) struct Answerer {
    /// (their address, their port, our port), oldest first.
    open: std::collections::VecDeque<(std::net::Ipv4Addr, u16, u16)>,
}

impl Answerer {
    /// The answer to `s` from `from`, if any; `isn` is where a SYN|ACK's
    /// sequence numbers start.
    pub(crate) fn answer(
        &mut self,
        from: std::net::Ipv4Addr,
        s: &Segment,
        payload_len: usize,
        isn: u32,
    ) -> Option<Segment> {
        let reply = |seq: u32, ack: u32, flags: u8| {
            Some(Segment { src_port: s.dst_port, dst_port: s.src_port, seq, ack, flags })
        };
        let key = (from, s.src_port, s.dst_port);
        let known = self.open.iter().position(|k| *k == key);
        let data = payload_len as u32;
        if s.flags & flags::RST != 0 {
            known.map(|i| self.open.remove(i));
            return None;
        }
        if s.flags & flags::SYN != 0 {
            if s.flags & flags::ACK != 0 {
                // A SYN|ACK nobody asked for gets a RST, as any stack answers one.
                return reply(s.ack, 0, flags::RST);
            }
            known.map(|i| self.open.remove(i));
            if self.open.len() >= MAX_OPEN {
                self.open.pop_front();
            }
            self.open.push_back(key);
            return reply(isn, s.seq.wrapping_add(1), flags::SYN | flags::ACK);
        }
        let i = known?; // not ours: dropped, as VPCS drops it
        if s.flags & flags::FIN != 0 {
            self.open.remove(i);
            return reply(s.ack, s.seq.wrapping_add(data + 1), flags::FIN | flags::ACK);
        }
        if data > 0 || s.flags & flags::PSH != 0 {
            return reply(s.ack, s.seq.wrapping_add(data), flags::ACK);
        }
        None // a bare ACK needs no answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flags::*;
    use std::net::Ipv4Addr;

    const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    /// Runs a whole TCP ping against our own answerer: every step completes.
    #[test]
    fn a_probe_completes_against_the_answerer() {
        let mut answerer = Answerer::default();
        let mut answer = |s: &Segment, len, isn| answerer.answer(PEER, s, len, isn);
        let (mut probe, syn) = Probe::connect(40000, 7, 1000, 64);
        assert_eq!((syn.flags, syn.seq, syn.dst_port), (SYN, 1000, 7));
        let syn_ack = answer(&syn, 0, 5000).unwrap();
        assert_eq!((syn_ack.flags, syn_ack.seq, syn_ack.ack), (SYN | ACK, 5000, 1001));
        let Progress::Done { ack: Some(ack), next: Some(data) } = probe.on_segment(&syn_ack, 0) else {
            panic!()
        };
        assert_eq!((ack.flags, ack.seq, ack.ack), (ACK, 1001, 5001));
        assert_eq!(answer(&ack, 0, 0), None, "a bare ACK is not answered");
        assert_eq!((probe.step, data.flags, data.seq), (Step::SendData, ACK | PSH, 1001));
        let data_ack = answer(&data, 64, 0).unwrap();
        assert_eq!((data_ack.flags, data_ack.seq, data_ack.ack), (ACK, 5001, 1065));
        let Progress::Done { ack: None, next: Some(fin) } = probe.on_segment(&data_ack, 0) else { panic!() };
        assert_eq!((probe.step, fin.flags, fin.seq, fin.ack), (Step::Close, FIN | ACK, 1065, 5001));
        let fin_ack = answer(&fin, 0, 0).unwrap();
        assert_eq!((fin_ack.flags, fin_ack.seq, fin_ack.ack), (FIN | ACK, 5001, 1066));
        let Progress::Done { ack: Some(last), next: None } = probe.on_segment(&fin_ack, 0) else { panic!() };
        assert_eq!((last.flags, last.seq, last.ack), (ACK, 1066, 5002));
        // Closed: a late FIN|ACK (VPCS sends two) gets no answer, so two
        // answerers cannot trade them forever.
        assert_eq!(answer(&last, 0, 0), None);
        assert_eq!(answer(&fin, 0, 0), None);
    }

    #[test]
    fn a_close_answered_with_ack_then_fin_completes_on_the_fin() {
        // VPCS answers a FIN|PSH|ACK with an ACK, then a FIN|ACK.
        let (mut probe, _) = Probe::connect(40000, 7, 0, 0);
        let syn_ack = Segment { src_port: 7, dst_port: 40000, seq: 10, ack: 1, flags: SYN | ACK };
        assert!(matches!(probe.on_segment(&syn_ack, 0), Progress::Done { .. }));
        let data_ack = Segment { seq: 11, ack: 1, flags: ACK, ..syn_ack };
        assert!(matches!(probe.on_segment(&data_ack, 0), Progress::Done { .. }));
        assert_eq!(probe.on_segment(&Segment { ack: 2, ..data_ack }, 0), Progress::Ignored);
        let fin = Segment { ack: 2, flags: FIN | ACK, ..data_ack };
        assert!(matches!(probe.on_segment(&fin, 0), Progress::Done { ack: Some(_), next: None }));
    }

    #[test]
    fn refusals_strays_and_wrong_numbers() {
        let (mut probe, _) = Probe::connect(40000, 7, 100, 8);
        let stray = Segment { src_port: 7, dst_port: 40000, seq: 1, ack: 999, flags: SYN | ACK };
        assert_eq!(probe.on_segment(&stray, 0), Progress::Ignored, "acknowledges something else");
        assert!(!probe.owns(&Segment { src_port: 8, ..stray }));
        assert_eq!(probe.on_segment(&Segment { flags: RST | ACK, ..stray }, 0), Progress::Refused);
        // Unasked-for segments to the answerer.
        let mut answerer = Answerer::default();
        assert_eq!(answerer.answer(PEER, &Segment { flags: RST, ..stray }, 0, 0), None);
        assert_eq!(answerer.answer(PEER, &stray, 0, 0).map(|s| s.flags), Some(RST), "an unasked-for SYN|ACK");
        let data = Segment { flags: PSH | ACK, ..stray };
        assert_eq!(answerer.answer(PEER, &data, 10, 0), None, "no connection, no answer");
    }

    #[test]
    fn the_answerer_remembers_a_bounded_number_of_connections() {
        let mut answerer = Answerer::default();
        let syn = |port| Segment { src_port: port, dst_port: 7, seq: 0, ack: 0, flags: SYN };
        for port in 0..1000 {
            assert!(answerer.answer(PEER, &syn(port), 0, 0).is_some());
        }
        assert_eq!(answerer.open.len(), MAX_OPEN);
        let data = |port| Segment { flags: PSH | ACK, ..syn(port) };
        assert!(answerer.answer(PEER, &data(999), 4, 0).is_some(), "the newest is open");
        assert!(answerer.answer(PEER, &data(0), 4, 0).is_none(), "the oldest was dropped");
        let other = Ipv4Addr::new(10, 0, 0, 9);
        assert!(answerer.answer(other, &data(999), 4, 0).is_none(), "another host's is not ours");
    }
}
