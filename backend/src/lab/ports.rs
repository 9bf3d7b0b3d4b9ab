//! Port allocation for consoles (TCP) and tunnels (UDP).
//!
//! The allocator only keeps the books; whether a port can really be bound is
//! asked of a probe, so the logic is tested without sockets and the server
//! skips ports that another program holds.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

/// Asks whether a port can be bound right now.
pub(crate) type Probe = Box<dyn Fn(u16) -> bool + Send + Sync>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortError {
    #[error("no free port left in {0:?}")]
    Exhausted(RangeInclusive<u16>),
    #[error("port {0} is already in use")]
    InUse(u16),
}

pub(crate) struct PortAllocator {
    range: RangeInclusive<u16>,
    taken: BTreeSet<u16>,
    probe: Probe,
}

impl PortAllocator {
    pub(crate) fn new(range: RangeInclusive<u16>, probe: Probe) -> Self {
        PortAllocator { range, taken: BTreeSet::new(), probe }
    }

    /// The lowest port of the range that is neither booked nor bound elsewhere.
    pub(crate) fn allocate(&mut self) -> Result<u16, PortError> {
        let port = self
            .range
            .clone()
            .find(|p| !self.taken.contains(p) && (self.probe)(*p))
            .ok_or_else(|| PortError::Exhausted(self.range.clone()))?;
        self.taken.insert(port);
        Ok(port)
    }

    /// The ports this allocator gives out.
    pub(crate) fn range(&self) -> &RangeInclusive<u16> {
        &self.range
    }

    /// Books a port the user chose. It may lie outside the range.
    pub(crate) fn reserve(&mut self, port: u16) -> Result<(), PortError> {
        if self.taken.contains(&port) || !(self.probe)(port) {
            return Err(PortError::InUse(port));
        }
        self.taken.insert(port);
        Ok(())
    }

    /// Books a port known to belong to us (a saved project being loaded),
    /// without probing: our own earlier run may still hold it a moment.
    pub(crate) fn reserve_unchecked(&mut self, port: u16) -> bool {
        self.taken.insert(port)
    }

    pub(crate) fn release(&mut self, port: u16) {
        self.taken.remove(&port);
    }
}

/// A probe that tries to bind a TCP listener on `host:port`.
pub(crate) fn tcp_probe(host: std::net::IpAddr) -> Probe {
    Box::new(move |port| std::net::TcpListener::bind((host, port)).is_ok())
}

/// A probe that tries to bind a UDP socket on `host:port`.
pub(crate) fn udp_probe(host: std::net::IpAddr) -> Probe {
    Box::new(move |port| std::net::UdpSocket::bind((host, port)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_free() -> Probe {
        Box::new(|_| true)
    }

    #[test]
    fn allocates_upwards_and_reuses_released_ports() {
        let mut ports = PortAllocator::new(2000..=2002, all_free());
        assert_eq!(ports.allocate(), Ok(2000));
        assert_eq!(ports.allocate(), Ok(2001));
        ports.release(2000);
        assert_eq!(ports.allocate(), Ok(2000));
        assert_eq!(ports.allocate(), Ok(2002));
        assert_eq!(ports.allocate(), Err(PortError::Exhausted(2000..=2002)));
    }

    #[test]
    fn skips_ports_that_do_not_bind() {
        let mut ports = PortAllocator::new(10000..=10010, Box::new(|p| p != 10000 && p != 10002));
        assert_eq!(ports.allocate(), Ok(10001));
        assert_eq!(ports.allocate(), Ok(10003));
    }

    #[test]
    fn reserving_a_taken_or_unbindable_port_is_a_conflict() {
        let mut ports = PortAllocator::new(2000..=2010, Box::new(|p| p != 2005));
        assert_eq!(ports.reserve(2003), Ok(()));
        assert_eq!(ports.reserve(2003), Err(PortError::InUse(2003)));
        assert_eq!(ports.reserve(2005), Err(PortError::InUse(2005)));
        assert_eq!(ports.allocate(), Ok(2000));
        assert!(ports.taken.contains(&2003));
    }

    #[test]
    fn real_probe_sees_a_bound_port() {
        let held = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let probe = udp_probe([127, 0, 0, 1].into());
        assert!(!probe(port));
        drop(held);
        assert!(probe(port));
    }
}
