//! What arrives for this PC: echo requests answered, UDP echo, port
//! unreachable, the TCP answerer, and the replies our jobs wait for.

use super::jobs::reply_line;
use super::*;

impl Pc {
    pub(super) fn on_icmp(
        &mut self,
        now: Instant,
        ip: smoltcp::wire::Ipv4Repr,
        src_mac: EthernetAddress,
        icmp: Icmpv4Repr<'_>,
    ) {
        let Some(config) = self.ip else { return };
        if ip.dst_addr != config.addr {
            return;
        }
        match icmp {
            Icmpv4Repr::EchoRequest { ident, seq_no, data } => {
                let reply = Icmpv4Repr::EchoReply { ident, seq_no, data };
                let frame = wire::icmp(self.mac, src_mac, config.addr, ip.src_addr, 64, &reply);
                self.send(frame);
            }
            Icmpv4Repr::EchoReply { ident, seq_no, data } if ident == self.ident => {
                if let Some(Job::Ping(ping)) = &mut self.job {
                    if let (Phase::Awaiting { sent, .. }, true, Proto::Icmp) =
                        (ping.phase, seq_no == ping.seq && ip.src_addr == ping.dst, ping.proto)
                    {
                        let bytes = data.len() + 28;
                        let line =
                            reply_line(bytes, ip.src_addr, "icmp_seq", seq_no, ip.hop_limit, now - sent);
                        let Some(Job::Ping(mut ping)) = self.job.take() else { return };
                        self.print(line);
                        let more = self.next_ping(now, &mut ping);
                        self.job = more.then_some(Job::Ping(ping));
                    }
                }
            }
            Icmpv4Repr::DstUnreachable { reason: Icmpv4DstUnreachable::PortUnreachable, header, .. } => {
                self.trace_answer(now, ip.src_addr, header.dst_addr, true);
            }
            Icmpv4Repr::TimeExceeded { reason: Icmpv4TimeExceeded::TtlExpired, header, .. } => {
                self.trace_answer(now, ip.src_addr, header.dst_addr, false);
            }
            _ => {}
        }
    }

    /// An ICMP error that answers a trace probe.
    fn trace_answer(&mut self, now: Instant, from: Ipv4Addr, probed: Ipv4Addr, arrived: bool) {
        let Some(Job::Trace(trace)) = &mut self.job else {
            return;
        };
        let Phase::Awaiting { sent, .. } = trace.phase else {
            return;
        };
        if probed != trace.dst {
            return;
        }
        let Some(Job::Trace(mut trace)) = self.job.take() else { return };
        if arrived {
            let line = format!(
                "{:2}   *{from}   {:.3} ms (ICMP type:3, code:3, Destination port unreachable)\n",
                trace.ttl,
                (now - sent).as_secs_f64() * 1000.0
            );
            self.print(line);
            self.job = None;
            return;
        }
        trace.hop.push(Some((from, now - sent)));
        let more = self.trace_probe_done(now, &mut trace);
        self.job = more.then_some(Job::Trace(trace));
    }

    /// A TCP segment: the next step of our TCP ping, or one to answer.
    pub(super) fn on_tcp(
        &mut self,
        now: Instant,
        ip: smoltcp::wire::Ipv4Repr,
        src_mac: EthernetAddress,
        segment: Segment,
        payload_len: usize,
    ) {
        let Some(config) = self.ip else { return };
        if ip.dst_addr != config.addr {
            return;
        }
        if let Some(Job::Ping(ping)) = &mut self.job {
            if let (Phase::Awaiting { sent, .. }, Some(probe)) = (ping.phase, &mut ping.tcp) {
                if ip.src_addr == ping.dst && probe.owns(&segment) {
                    let step = probe.step;
                    let progress = probe.on_segment(&segment, payload_len);
                    let Some(Job::Ping(mut ping)) = self.job.take() else { return };
                    let more = self.tcp_progress(now, &mut ping, step, progress, ip.hop_limit, src_mac, sent);
                    self.job = more.then_some(Job::Ping(ping));
                    return;
                }
            }
        }
        let isn = self.next_random();
        if let Some(reply) = self.answerer.answer(ip.src_addr, &segment, payload_len, isn) {
            self.send_segment(src_mac, ip.src_addr, 64, reply, &[]);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_udp(
        &mut self,
        now: Instant,
        ip: smoltcp::wire::Ipv4Repr,
        src_mac: EthernetAddress,
        src_port: u16,
        dst_port: u16,
        payload: &[u8],
        frame: &[u8],
    ) {
        let Some(config) = self.ip else { return };
        if ip.dst_addr != config.addr {
            return;
        }
        if dst_port == ECHO_PORT {
            let echo =
                wire::udp(self.mac, src_mac, config.addr, ip.src_addr, 64, ECHO_PORT, src_port, payload);
            return self.send(echo);
        }
        if src_port == ECHO_PORT {
            if let Some(Job::Ping(ping)) = &mut self.job {
                let seq = dst_port.wrapping_sub(UDP_PING_BASE);
                if let (Phase::Awaiting { sent, .. }, true) =
                    (ping.phase, seq == ping.seq && ip.src_addr == ping.dst)
                {
                    let bytes = payload.len() + 28;
                    let line = reply_line(bytes, ip.src_addr, "udp_seq", seq, ip.hop_limit, now - sent);
                    let Some(Job::Ping(mut ping)) = self.job.take() else { return };
                    self.print(line);
                    let more = self.next_ping(now, &mut ping);
                    self.job = more.then_some(Job::Ping(ping));
                }
            }
            return;
        }
        // Nobody listens: port unreachable, quoting the offending datagram (what trace waits for).
        let quoted = &frame[wire::ETH_HEADER..];
        let quoted = &quoted[..quoted.len().min(wire::IP_HEADER + 8)];
        let header = smoltcp::wire::Ipv4Repr { payload_len: 8.min(ip.payload_len), ..ip };
        let unreachable = Icmpv4Repr::DstUnreachable {
            reason: Icmpv4DstUnreachable::PortUnreachable,
            header,
            data: &quoted[wire::IP_HEADER.min(quoted.len())..],
        };
        let frame = wire::icmp(self.mac, src_mac, config.addr, ip.src_addr, 64, &unreachable);
        self.send(frame);
    }
}
