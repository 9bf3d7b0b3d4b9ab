//! MAC addresses of the lab's PCs, unique across the whole server.

use std::collections::BTreeSet;

/// MACs `00:50:79:66:XX:XX` as VPCS uses them, from `…:68:00` upwards,
/// unique across the whole server (GNS3 repeats them across projects).
#[derive(Default)]
pub(super) struct MacAllocator {
    taken: BTreeSet<u16>,
}

const MAC_PREFIX: [u8; 4] = [0x00, 0x50, 0x79, 0x66];
const MAC_FIRST: u16 = 0x6800;

impl MacAllocator {
    pub(super) fn allocate(&mut self) -> Option<[u8; 6]> {
        let n = (MAC_FIRST..=u16::MAX).find(|n| !self.taken.contains(n))?;
        self.taken.insert(n);
        Some(mac_bytes(n))
    }

    /// Books a saved MAC; false if it is not ours to give or already given.
    pub(super) fn reserve(&mut self, mac: [u8; 6]) -> bool {
        mac[..4] == MAC_PREFIX && self.taken.insert(u16::from_be_bytes([mac[4], mac[5]]))
    }

    pub(super) fn release(&mut self, mac: [u8; 6]) {
        self.taken.remove(&u16::from_be_bytes([mac[4], mac[5]]));
    }
}

fn mac_bytes(n: u16) -> [u8; 6] {
    let [hi, lo] = n.to_be_bytes();
    [MAC_PREFIX[0], MAC_PREFIX[1], MAC_PREFIX[2], MAC_PREFIX[3], hi, lo]
}

pub(super) fn mac_string(mac: [u8; 6]) -> String {
    super::vpc::pc::mac_text(smoltcp::wire::EthernetAddress(mac))
}

pub(super) fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}
