//! Building and reading the frames a virtual PC exchanges, with smoltcp's
//! wire types: Ethernet II, ARP, IPv4, ICMP echo and errors, UDP, and the
//! bare TCP segments of `ping -3`.
//!
//! Frames are raw Ethernet without FCS, one per tunnel datagram, as VPCS sends them.

use std::net::Ipv4Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr,
    Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr, TcpPacket, TcpSeqNumber, UdpPacket, UdpRepr,
};

/// Bytes of an Ethernet header (no VLAN tag: the lab's links carry none).
pub const ETH_HEADER: usize = 14;
/// Bytes of an IPv4 header without options, as the PCs send them.
pub const IP_HEADER: usize = 20;

/// What a received frame means to a PC.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// An ARP request or reply.
    Arp(ArpRepr),
    /// An ICMP message (echo, unreachable, time exceeded) to this PC.
    Icmp {
        /// Its IPv4 header.
        ip: Ipv4Repr,
        /// The sender's MAC, learnt for the reply.
        src_mac: EthernetAddress,
        /// The ICMP message.
        icmp: Icmpv4Repr<'a>,
    },
    /// A UDP datagram to this PC.
    Udp {
        /// Its IPv4 header.
        ip: Ipv4Repr,
        /// The sender's MAC, learnt for the reply.
        src_mac: EthernetAddress,
        /// UDP source port.
        src_port: u16,
        /// UDP destination port.
        dst_port: u16,
        /// The datagram's data.
        payload: &'a [u8],
    },
    /// A TCP segment to this PC.
    Tcp {
        /// Its IPv4 header.
        ip: Ipv4Repr,
        /// The sender's MAC, learnt for the reply.
        src_mac: EthernetAddress,
        /// Its TCP header.
        segment: Segment,
        /// The segment's data.
        payload: &'a [u8],
    },
    /// Something this PC neither answers nor needs (other protocols, other MACs).
    Ignored,
}

/// A TCP header as `ping -3` and its answerer use it: ports, numbers and
/// flags, no options. (smoltcp's `TcpRepr` holds one control flag, so it
/// cannot say FIN|PSH|ACK, which VPCS sends.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful with [`flags::ACK`]).
    pub ack: u32,
    /// The [`flags`] set.
    pub flags: u8,
}

/// TCP flag bits, as on the wire.
pub mod flags {
    /// No more data from the sender.
    pub const FIN: u8 = 0x01;
    /// Synchronise sequence numbers: opens a connection.
    pub const SYN: u8 = 0x02;
    /// Reset: no such connection.
    pub const RST: u8 = 0x04;
    /// Push the data to the application.
    pub const PSH: u8 = 0x08;
    /// The acknowledgement number is valid.
    pub const ACK: u8 = 0x10;
}

/// The receive window we announce (VPCS's: 1460 * 2).
const WINDOW: u16 = 0xb68;
const TCP_HEADER: usize = 20;

/// Reads a frame addressed to `mac` (or broadcast). Malformed frames are `Ignored`.
pub fn parse(frame: &[u8], mac: EthernetAddress) -> Received<'_> {
    parse_checked(frame, mac).unwrap_or(Received::Ignored)
}

fn parse_checked(frame: &[u8], mac: EthernetAddress) -> Option<Received<'_>> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let dst = eth.dst_addr();
    if dst != mac && !dst.is_broadcast() {
        return Some(Received::Ignored);
    }
    let src_mac = eth.src_addr();
    let payload = &frame[ETH_HEADER..];
    match eth.ethertype() {
        EthernetProtocol::Arp => {
            ArpRepr::parse(&ArpPacket::new_checked(payload).ok()?).ok().map(Received::Arp)
        }
        EthernetProtocol::Ipv4 => {
            let caps = ChecksumCapabilities::default();
            let packet = Ipv4Packet::new_checked(payload).ok()?;
            let ip = Ipv4Repr::parse(&packet, &caps).ok()?;
            let body = &payload[packet.header_len() as usize..packet.total_len() as usize];
            match ip.next_header {
                IpProtocol::Icmp => {
                    let icmp = Icmpv4Repr::parse(&Icmpv4Packet::new_checked(body).ok()?, &caps).ok()?;
                    Some(Received::Icmp { ip, src_mac, icmp })
                }
                IpProtocol::Tcp => {
                    // The TCP checksum is not checked: VPCS's own are wrong (it sums the
                    // header as if 34 bytes long), and VPCS does not check them either.
                    let tcp = TcpPacket::new_checked(body).ok()?;
                    // FIN to ACK, the low five bits of byte 13, as `flags` numbers them.
                    let flags = body[13] & 0x1f;
                    let segment = Segment {
                        src_port: tcp.src_port(),
                        dst_port: tcp.dst_port(),
                        seq: tcp.seq_number().0 as u32,
                        ack: tcp.ack_number().0 as u32,
                        flags,
                    };
                    Some(Received::Tcp { ip, src_mac, segment, payload: tcp.payload() })
                }
                IpProtocol::Udp => {
                    let udp = UdpPacket::new_checked(body).ok()?;
                    let (src_port, dst_port) = (udp.src_port(), udp.dst_port());
                    let payload = &body[8..udp.len() as usize];
                    Some(Received::Udp { ip, src_mac, src_port, dst_port, payload })
                }
                _ => Some(Received::Ignored),
            }
        }
        _ => Some(Received::Ignored),
    }
}

/// An Ethernet frame carrying an ARP packet.
pub fn arp(
    op: ArpOperation,
    src_mac: EthernetAddress,
    src_ip: Ipv4Addr,
    dst_mac: EthernetAddress,
    target_ip: Ipv4Addr,
) -> Vec<u8> {
    let repr = ArpRepr::EthernetIpv4 {
        operation: op,
        source_hardware_addr: src_mac,
        source_protocol_addr: src_ip,
        // Requests leave the target hardware address zero.
        target_hardware_addr: if op == ArpOperation::Request { EthernetAddress([0; 6]) } else { dst_mac },
        target_protocol_addr: target_ip,
    };
    let mut frame = vec![0; ETH_HEADER + repr.buffer_len()];
    let eth = EthernetRepr { src_addr: src_mac, dst_addr: dst_mac, ethertype: EthernetProtocol::Arp };
    eth.emit(&mut EthernetFrame::new_unchecked(&mut frame));
    repr.emit(&mut ArpPacket::new_unchecked(&mut frame[ETH_HEADER..]));
    frame
}

/// An IPv4 frame whose payload `fill` writes into the slice it is given.
fn ipv4(
    src_mac: EthernetAddress,
    dst_mac: EthernetAddress,
    ip: Ipv4Repr,
    fill: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    let mut frame = vec![0; ETH_HEADER + IP_HEADER + ip.payload_len];
    let eth = EthernetRepr { src_addr: src_mac, dst_addr: dst_mac, ethertype: EthernetProtocol::Ipv4 };
    eth.emit(&mut EthernetFrame::new_unchecked(&mut frame));
    let mut packet = Ipv4Packet::new_unchecked(&mut frame[ETH_HEADER..]);
    ip.emit(&mut packet, &ChecksumCapabilities::default());
    fill(&mut frame[ETH_HEADER + IP_HEADER..]);
    frame
}

/// An Ethernet frame carrying an IPv4 ICMP message.
pub fn icmp(
    src_mac: EthernetAddress,
    dst_mac: EthernetAddress,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    ttl: u8,
    icmp: &Icmpv4Repr<'_>,
) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: src_ip,
        dst_addr: dst_ip,
        next_header: IpProtocol::Icmp,
        payload_len: icmp.buffer_len(),
        hop_limit: ttl,
    };
    ipv4(src_mac, dst_mac, ip, |buf| {
        icmp.emit(&mut Icmpv4Packet::new_unchecked(buf), &ChecksumCapabilities::default())
    })
}

#[allow(clippy::too_many_arguments)]
/// An Ethernet frame carrying an IPv4 UDP datagram, checksummed.
pub fn udp(
    src_mac: EthernetAddress,
    dst_mac: EthernetAddress,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    ttl: u8,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> Vec<u8> {
    let udp = UdpRepr { src_port, dst_port };
    let ip = Ipv4Repr {
        src_addr: src_ip,
        dst_addr: dst_ip,
        next_header: IpProtocol::Udp,
        payload_len: udp.header_len() + payload.len(),
        hop_limit: ttl,
    };
    ipv4(src_mac, dst_mac, ip, |buf| {
        let mut packet = UdpPacket::new_unchecked(buf);
        udp.emit(
            &mut packet,
            &src_ip.into(),
            &dst_ip.into(),
            payload.len(),
            |p| p.copy_from_slice(payload),
            &ChecksumCapabilities::default(),
        );
    })
}

#[allow(clippy::too_many_arguments)]
/// An Ethernet frame carrying an IPv4 TCP segment, checksummed.
pub fn tcp(
    src_mac: EthernetAddress,
    dst_mac: EthernetAddress,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    ttl: u8,
    segment: Segment,
    payload: &[u8],
) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: src_ip,
        dst_addr: dst_ip,
        next_header: IpProtocol::Tcp,
        payload_len: TCP_HEADER + payload.len(),
        hop_limit: ttl,
    };
    ipv4(src_mac, dst_mac, ip, |buf| {
        let mut packet = TcpPacket::new_unchecked(buf);
        packet.set_src_port(segment.src_port);
        packet.set_dst_port(segment.dst_port);
        packet.set_seq_number(TcpSeqNumber(segment.seq as i32));
        packet.set_ack_number(TcpSeqNumber(segment.ack as i32));
        packet.set_header_len(TCP_HEADER as u8);
        packet.set_fin(segment.flags & flags::FIN != 0);
        packet.set_syn(segment.flags & flags::SYN != 0);
        packet.set_rst(segment.flags & flags::RST != 0);
        packet.set_psh(segment.flags & flags::PSH != 0);
        packet.set_ack(segment.flags & flags::ACK != 0);
        packet.set_window_len(WINDOW);
        packet.set_urgent_at(0);
        packet.payload_mut().copy_from_slice(payload);
        packet.fill_checksum(&src_ip.into(), &dst_ip.into());
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::Icmpv4Repr;

    const A: EthernetAddress = EthernetAddress([0x00, 0x50, 0x79, 0x66, 0x68, 0x00]);
    const B: EthernetAddress = EthernetAddress([0x00, 0x50, 0x79, 0x66, 0x68, 0x01]);

    #[test]
    fn arp_request_golden_bytes() {
        let frame = arp(
            ArpOperation::Request,
            A,
            Ipv4Addr::new(192, 168, 1, 2),
            EthernetAddress::BROADCAST,
            Ipv4Addr::new(192, 168, 1, 1),
        );
        #[rustfmt::skip]
        let golden: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x50, 0x79, 0x66, 0x68, 0x00, 0x08, 0x06, // Ethernet
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // Ethernet/IPv4, request
            0x00, 0x50, 0x79, 0x66, 0x68, 0x00, 192, 168, 1, 2, // sender
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 192, 168, 1, 1, // target
        ];
        assert_eq!(frame, golden);
        let Received::Arp(ArpRepr::EthernetIpv4 { operation, target_protocol_addr, .. }) = parse(&frame, B)
        else {
            panic!("broadcast ARP must be read");
        };
        assert_eq!((operation, target_protocol_addr), (ArpOperation::Request, Ipv4Addr::new(192, 168, 1, 1)));
    }

    #[test]
    fn echo_request_golden_bytes_as_vpcs_sends_them() {
        let data = [0u8; 56];
        let echo = Icmpv4Repr::EchoRequest { ident: 0x1234, seq_no: 1, data: &data };
        let frame = icmp(A, B, Ipv4Addr::new(192, 168, 1, 2), Ipv4Addr::new(192, 168, 1, 1), 64, &echo);
        assert_eq!(frame.len(), 14 + 84, "84 bytes of IP, no FCS");
        #[rustfmt::skip]
        let head: [u8; 42] = [
            0x00, 0x50, 0x79, 0x66, 0x68, 0x01, 0x00, 0x50, 0x79, 0x66, 0x68, 0x00, 0x08, 0x00,
            0x45, 0x00, 0x00, 0x54, 0x00, 0x00, 0x40, 0x00, 0x40, 0x01, 0xb7, 0x55, // v4, len 84, DF, ttl 64, ICMP, checksum
            192, 168, 1, 2, 192, 168, 1, 1,
            0x08, 0x00, 0xe5, 0xca, 0x12, 0x34, 0x00, 0x01, // echo request, checksum, ident, seq
        ];
        assert_eq!(&frame[..42], &head);
        let Received::Icmp { ip, icmp, src_mac } = parse(&frame, B) else { panic!() };
        assert_eq!((ip.hop_limit, src_mac), (64, A));
        assert_eq!(icmp, echo);
    }

    #[test]
    fn frames_for_other_macs_and_garbage_are_ignored() {
        let data = [0u8; 8];
        let echo = Icmpv4Repr::EchoRequest { ident: 1, seq_no: 1, data: &data };
        let frame = icmp(A, B, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), 64, &echo);
        assert_eq!(parse(&frame, A), Received::Ignored);
        for garbage in [&[][..], &[0xff; 13], &[0xff; 60], &frame[..30]] {
            assert_eq!(parse(garbage, B), Received::Ignored);
        }
    }

    #[test]
    fn tcp_syn_golden_bytes_and_round_trip() {
        let syn = Segment { src_port: 40000, dst_port: 7, seq: 0x01020304, ack: 0, flags: flags::SYN };
        let frame = tcp(A, B, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), 64, syn, &[]);
        #[rustfmt::skip]
        let golden: [u8; 54] = [
            0x00, 0x50, 0x79, 0x66, 0x68, 0x01, 0x00, 0x50, 0x79, 0x66, 0x68, 0x00, 0x08, 0x00,
            0x45, 0x00, 0x00, 0x28, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x26, 0xce, // len 40, DF, ttl 64, TCP
            10, 0, 0, 1, 10, 0, 0, 2,
            0x9c, 0x40, 0x00, 0x07, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, // ports, seq, ack
            0x50, 0x02, 0x0b, 0x68, 0xf0, 0x2a, 0x00, 0x00, // 20-byte header, SYN, window, checksum, urgent
        ];
        assert_eq!(frame, golden);
        let Received::Tcp { segment, payload, ip, .. } = parse(&frame, B) else { panic!() };
        assert_eq!((segment, payload, ip.hop_limit), (syn, &[][..], 64));
        // FIN|PSH|ACK with data, which smoltcp's TcpRepr could not carry.
        let fin = Segment { src_port: 7, dst_port: 40000, seq: 9, ack: 0xfffffff0, flags: 0x19 };
        let frame = tcp(B, A, Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1), 64, fin, b"bye");
        let Received::Tcp { segment, payload, .. } = parse(&frame, A) else { panic!() };
        assert_eq!((segment, payload), (fin, &b"bye"[..]));
    }

    #[test]
    fn malformed_tcp_headers_are_ignored_not_trusted() {
        let syn = Segment { src_port: 1, dst_port: 7, seq: 0, ack: 0, flags: flags::SYN };
        let frame = tcp(A, B, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), 64, syn, b"data");
        let offset = ETH_HEADER + IP_HEADER + 12; // the data offset nibble
        for nibble in 0..16u8 {
            let mut bad = frame.clone();
            bad[offset] = nibble << 4;
            match parse(&bad, B) {
                // 5 words is the real header; up to 6 still fits in this segment.
                Received::Tcp { payload, .. } => assert!((5..=6).contains(&nibble), "{nibble}: {payload:?}"),
                other => assert_eq!(other, Received::Ignored, "{nibble}"),
            }
        }
        for len in 0..frame.len() {
            let _ = parse(&frame[..len], B); // truncated anywhere: no panic
        }
    }

    #[test]
    fn a_syn_ack_from_real_vpcs_is_read_despite_its_checksum() {
        // Captured from VPCS 0.5b2 answering our SYN: its TCP checksum is
        // 0x2862 where 0x2870 is right.
        #[rustfmt::skip]
        let frame: [u8; 54] = [
            0x00, 0x50, 0x79, 0x66, 0x68, 0x00, 0x00, 0x50, 0x79, 0x66, 0x68, 0xc8, 0x08, 0x00,
            0x45, 0x00, 0x00, 0x28, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x26, 0xbc,
            0x0a, 0x09, 0x00, 0x02, 0x0a, 0x09, 0x00, 0x01,
            0x00, 0x07, 0x93, 0xb3, 0x37, 0xcf, 0xeb, 0x62, 0x2d, 0x7c, 0x83, 0x7d,
            0x50, 0x12, 0x0b, 0x68, 0x28, 0x62, 0x00, 0x00,
        ];
        let Received::Tcp { segment, payload, .. } = parse(&frame, A) else { panic!() };
        let expected = Segment {
            src_port: 7,
            dst_port: 0x93b3,
            seq: 0x37cfeb62,
            ack: 0x2d7c837d,
            flags: flags::SYN | flags::ACK,
        };
        assert_eq!((segment, payload), (expected, &[][..]));
    }

    #[test]
    fn udp_round_trips() {
        let frame =
            udp(A, B, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), 1, 40000, 33434, b"probe");
        let Received::Udp { ip, src_port, dst_port, payload, .. } = parse(&frame, B) else { panic!() };
        assert_eq!((ip.hop_limit, src_port, dst_port, payload), (1, 40000, 33434, &b"probe"[..]));
    }
}
