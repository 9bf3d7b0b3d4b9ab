//! ARP: the cache of neighbours, the one resolving step that ping and trace
//! share, and answering and learning from other hosts' ARP.

use super::*;

impl Pc {
    pub(super) fn start_resolving(&mut self, now: Instant, next_hop: Ipv4Addr) -> Phase {
        if self.arp_lookup(now, next_hop).is_some() {
            Phase::Pausing { until: now }
        } else {
            Phase::Resolving { tries: 0, next: now }
        }
    }

    pub(super) fn arp_lookup(&self, now: Instant, ip: Ipv4Addr) -> Option<EthernetAddress> {
        self.arp.get(&ip).filter(|(_, at)| now.duration_since(*at) < ARP_LIFETIME).map(|(mac, _)| *mac)
    }

    pub(super) fn send_arp_request(&mut self, target: Ipv4Addr) {
        let src = self.ip.map_or(Ipv4Addr::UNSPECIFIED, |c| c.addr);
        let frame = wire::arp(ArpOperation::Request, self.mac, src, EthernetAddress::BROADCAST, target);
        self.send(frame);
    }

    pub(super) fn on_arp(&mut self, now: Instant, arp: ArpRepr) {
        let ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr: smac,
            source_protocol_addr: sip,
            target_protocol_addr: tip,
            ..
        } = arp
        else {
            return;
        };
        if let Some(Job::DuplicateCheck { config, .. }) = &self.job {
            // Someone else answers for, or announces, the address we want.
            if sip == config.addr && smac != self.mac {
                self.job = None;
                self.print(format!("{sip} is being used by MAC {}\nAddress not changed\n", mac_text(smac)));
                return;
            }
        }
        let Some(config) = self.ip else { return };
        if sip != Ipv4Addr::UNSPECIFIED
            && smac != self.mac
            && (tip == config.addr || self.arp.contains_key(&sip))
        {
            self.arp.insert(sip, (smac, now));
        }
        if operation == ArpOperation::Request && tip == config.addr && smac != self.mac {
            let reply = wire::arp(ArpOperation::Reply, self.mac, config.addr, smac, sip);
            self.send(reply);
        }
        if operation == ArpOperation::Reply && tip == config.addr {
            self.arp.insert(sip, (smac, now));
        }
    }
}
