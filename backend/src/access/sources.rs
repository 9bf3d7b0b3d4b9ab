//! The networks OSC is accepted from (`--osc-allow`). UDP cannot tell who
//! really sent a datagram, but it can refuse everyone off the list: by
//! default only loopback, whatever address the server is bound to.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use ipnet::IpNet;

/// The allowed networks, and how many datagrams and connections came from elsewhere.
#[derive(Debug)]
pub struct Sources {
    allowed: Vec<IpNet>,
    refused: AtomicU64,
}

impl Default for Sources {
    fn default() -> Sources {
        Sources::new(&[])
    }
}

impl Sources {
    /// `allow` is `--osc-allow`; empty means loopback only.
    pub fn new(allow: &[IpNet]) -> Sources {
        let allowed = if allow.is_empty() {
            vec!["127.0.0.0/8".parse().expect("a network"), "::1/128".parse().expect("a network")]
        } else {
            allow.to_vec()
        };
        Sources { allowed, refused: AtomicU64::new(0) }
    }

    /// Whether `ip` may send OSC; a refusal is counted.
    pub fn admit(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let ok = self.allowed.iter().any(|net| net.contains(&ip));
        if !ok {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Datagrams and connections refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// The allowed networks, as given.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    /// Whether these networks reach beyond this machine.
    pub fn beyond_loopback(&self) -> bool {
        self.allowed.iter().any(|net| !net.network().is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only_by_default_and_refusals_are_counted() {
        let sources = Sources::new(&[]);
        assert!(sources.admit("127.0.0.1".parse().unwrap()));
        assert!(sources.admit("127.0.0.2".parse().unwrap()));
        assert!(sources.admit("::1".parse().unwrap()));
        assert!(sources.admit("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!sources.admit("10.0.0.5".parse().unwrap()));
        assert!(!sources.admit("192.168.1.2".parse().unwrap()));
        assert_eq!(sources.refused(), 2);
        assert!(!sources.beyond_loopback());
    }

    #[test]
    fn given_networks_replace_the_default() {
        let sources = Sources::new(&["127.0.0.1/32".parse().unwrap(), "10.0.0.0/24".parse().unwrap()]);
        assert!(sources.admit("127.0.0.1".parse().unwrap()));
        assert!(!sources.admit("127.0.0.2".parse().unwrap()));
        assert!(sources.admit("10.0.0.200".parse().unwrap()));
        assert!(!sources.admit("10.0.1.1".parse().unwrap()));
        assert!(sources.beyond_loopback());
    }
}
