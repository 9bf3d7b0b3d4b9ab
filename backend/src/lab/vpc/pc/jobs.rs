//! The long-running jobs, ping (ICMP, UDP, TCP) and trace: each step sends
//! a probe, waits for its answer or its deadline, and prints VPCS's line.

use super::*;

impl Pc {
    /// One deadline of a ping; false when the ping is over.
    pub(super) fn step_ping(&mut self, now: Instant, ping: &mut Ping) -> bool {
        match ping.phase {
            Phase::Resolving { tries, .. } => {
                if self.arp_lookup(now, ping.next_hop).is_some() {
                    ping.phase = Phase::Pausing { until: now };
                } else if tries >= ARP_TRIES {
                    self.print(format!("host ({}) not reachable\n", ping.next_hop));
                    return false;
                } else {
                    self.send_arp_request(ping.next_hop);
                    ping.phase = Phase::Resolving { tries: tries + 1, next: now + ARP_SPACING };
                }
                true
            }
            Phase::Pausing { .. } => {
                if self.is_own(ping.dst) {
                    self.print(format!(
                        "{} icmp_seq={} ttl={} time=0.001 ms\n",
                        ping.dst, ping.seq, ping.ttl
                    ));
                    return self.next_ping(now, ping);
                }
                let Some(mac) = self.arp_lookup(now, ping.next_hop) else {
                    ping.phase = Phase::Resolving { tries: 0, next: now };
                    return true;
                };
                self.send_probe(mac, ping);
                self.probe_unsent = true;
                ping.phase = Phase::Awaiting { sent: now, deadline: now + ping.wait };
                true
            }
            Phase::Awaiting { .. } => {
                match ping.tcp.take() {
                    Some(probe) => {
                        self.print(format!("{} {}@{} timeout\n", probe.step.label(), ping.port, ping.dst))
                    }
                    None => {
                        self.print(format!("{} {}={} timeout\n", ping.dst, ping.proto.seq_name(), ping.seq))
                    }
                }
                self.next_ping(now, ping)
            }
        }
    }

    pub(super) fn next_ping(&mut self, now: Instant, ping: &mut Ping) -> bool {
        if u32::from(ping.seq) >= ping.count {
            return false;
        }
        ping.seq = ping.seq.wrapping_add(1);
        ping.phase = Phase::Pausing { until: now + ping.interval };
        true
    }

    fn send_probe(&mut self, mac: EthernetAddress, ping: &mut Ping) {
        let src = self.ip.expect("pings need an address").addr;
        let data = ping.data();
        let frame = match ping.proto {
            Proto::Icmp => {
                let echo = Icmpv4Repr::EchoRequest { ident: self.ident, seq_no: ping.seq, data: &data };
                wire::icmp(self.mac, mac, src, ping.dst, ping.ttl, &echo)
            }
            Proto::Udp => {
                // 20 bytes of IP + 8 of UDP + data, the same 84 bytes as an ICMP ping by default.
                let data = &data[..ping.size.saturating_sub(0)];
                wire::udp(
                    self.mac,
                    mac,
                    src,
                    ping.dst,
                    ping.ttl,
                    UDP_PING_BASE.wrapping_add(ping.seq),
                    ECHO_PORT,
                    data,
                )
            }
            Proto::Tcp => {
                let (probe, syn) = Probe::connect(ping.src_port, ping.port, self.next_random(), ping.size);
                ping.tcp = Some(probe);
                return self.send_segment(mac, ping.dst, ping.ttl, syn, &[]);
            }
        };
        self.send(frame);
    }

    pub(super) fn send_segment(
        &mut self,
        mac: EthernetAddress,
        dst: Ipv4Addr,
        ttl: u8,
        segment: Segment,
        data: &[u8],
    ) {
        let src = self.ip.expect("TCP needs an address").addr;
        let frame = wire::tcp(self.mac, mac, src, dst, ttl, segment, data);
        self.send(frame);
    }

    pub(super) fn next_random(&mut self) -> u32 {
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.random = x;
        x
    }

    /// One deadline of a trace; false when it is over.
    pub(super) fn step_trace(&mut self, now: Instant, trace: &mut Trace) -> bool {
        match trace.phase {
            Phase::Resolving { tries, .. } => {
                if self.arp_lookup(now, trace.next_hop).is_some() {
                    trace.phase = Phase::Pausing { until: now };
                } else if tries >= ARP_TRIES {
                    self.print(format!("host ({}) not reachable\n", trace.next_hop));
                    return false;
                } else {
                    self.send_arp_request(trace.next_hop);
                    trace.phase = Phase::Resolving { tries: tries + 1, next: now + ARP_SPACING };
                }
                true
            }
            Phase::Pausing { .. } => {
                let Some(mac) = self.arp_lookup(now, trace.next_hop) else {
                    trace.phase = Phase::Resolving { tries: 0, next: now };
                    return true;
                };
                let src = self.ip.expect("traces need an address").addr;
                let port = TRACE_PORT + u16::from(trace.ttl) * 3 + u16::from(trace.probe);
                let frame = wire::udp(self.mac, mac, src, trace.dst, trace.ttl, 40000, port, &[0; 32]);
                self.send(frame);
                self.probe_unsent = true;
                trace.phase = Phase::Awaiting { sent: now, deadline: now + trace.wait };
                true
            }
            Phase::Awaiting { .. } => {
                trace.hop.push(None);
                self.trace_probe_done(now, trace)
            }
        }
    }

    /// A probe was answered or timed out: print the hop when its three probes are in.
    pub(super) fn trace_probe_done(&mut self, now: Instant, trace: &mut Trace) -> bool {
        trace.probe += 1;
        if trace.probe < 3 {
            trace.phase = Phase::Pausing { until: now };
            return true;
        }
        let mut text = format!("{:2} ", trace.ttl);
        let from = trace.hop.iter().flatten().map(|(ip, _)| *ip).next();
        if let Some(ip) = from {
            let _ = write!(text, "  {ip}");
        }
        for probe in &trace.hop {
            match probe {
                Some((_, t)) => {
                    let _ = write!(text, "   {:.3} ms", t.as_secs_f64() * 1000.0);
                }
                None => text.push_str("  *"),
            }
        }
        text.push('\n');
        self.print(text);
        trace.hop.clear();
        trace.probe = 0;
        if trace.ttl >= trace.max_ttl {
            return false;
        }
        trace.ttl += 1;
        trace.phase = Phase::Pausing { until: now };
        true
    }

    // ----- frames -----

    /// Carries out what a segment meant to our TCP ping; false when the ping is over.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn tcp_progress(
        &mut self,
        now: Instant,
        ping: &mut Ping,
        step: tcp::Step,
        progress: Progress,
        ttl: u8,
        mac: EthernetAddress,
        sent: Instant,
    ) -> bool {
        // Formatted only for a line to print: a stray segment costs nothing.
        let at = |ping: &Ping| format!("{} {}@{}", step.label(), ping.port, ping.dst);
        match progress {
            Progress::Ignored => true,
            Progress::Refused => {
                self.print(format!("{} RST returned\n", at(ping)));
                ping.tcp = None;
                self.next_ping(now, ping)
            }
            Progress::Done { ack, next } => {
                let rtt = (now - sent).as_secs_f64() * 1000.0;
                self.print(format!("{} seq={} ttl={ttl} time={rtt:.3} ms\n", at(ping), ping.seq));
                if let Some(ack) = ack {
                    self.send_segment(mac, ping.dst, ping.ttl, ack, &[]);
                }
                let Some(next) = next else {
                    ping.tcp = None;
                    return self.next_ping(now, ping);
                };
                let data = match next.flags & wire::flags::PSH {
                    0 => vec![],
                    _ => ping.data(),
                };
                self.send_segment(mac, ping.dst, ping.ttl, next, &data);
                self.probe_unsent = true;
                ping.phase = Phase::Awaiting { sent: now, deadline: now + ping.wait };
                true
            }
        }
    }
}

pub(super) fn reply_line(
    bytes: usize,
    from: Ipv4Addr,
    kind: &str,
    seq: u16,
    ttl: u8,
    rtt: Duration,
) -> String {
    format!("{bytes} bytes from {from} {kind}={seq} ttl={ttl} time={:.3} ms\n", rtt.as_secs_f64() * 1000.0)
}
