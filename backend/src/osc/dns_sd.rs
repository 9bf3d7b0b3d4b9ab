//! DNS-SD: the OSC service announced as `_osc._udp` by multicast DNS, and
//! OSCQuery as `_oscjson._tcp` beside it, so that OSC tools find the server
//! by name (mdns-sd does the protocol).
//!
//! Only where the server can be reached: on a loopback host the
//! announcement stays on the loopback interface (as OSCQuery tools expect),
//! on one address it goes out on that address's interface, on 0.0.0.0 on
//! all of them.

use std::net::IpAddr;

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};

pub(crate) const SERVICE_TYPE: &str = "_osc._udp.local.";
/// OSCQuery's service type.
pub(crate) const OSCQUERY_SERVICE_TYPE: &str = "_oscjson._tcp.local.";

/// The announcement; dropping it withdraws the services.
pub(crate) struct Announcement {
    daemon: ServiceDaemon,
    fullnames: Vec<String>,
}

/// Announces the OSC service on `port`, and OSCQuery on `oscquery_port`,
/// reachable at `host`.
pub(crate) fn announce(
    host: IpAddr,
    port: u16,
    oscquery_port: Option<u16>,
) -> Result<Announcement, mdns_sd::Error> {
    let daemon = ServiceDaemon::new()?;
    if !host.is_unspecified() {
        daemon.disable_interface(IfKind::All)?;
        let only = if host.is_loopback() { IfKind::LoopbackV4 } else { IfKind::Addr(host) };
        daemon.enable_interface(only)?;
    }
    let machine = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or_else(|| "patchbay".into());
    let properties = [("version", env!("CARGO_PKG_VERSION")), ("tcp", "slip,size")];
    let instance = format!("Patchbay on {machine}");
    let hostname = format!("{machine}.local.");
    let mut fullnames = vec![];
    let services =
        std::iter::once((SERVICE_TYPE, port)).chain(oscquery_port.map(|p| (OSCQUERY_SERVICE_TYPE, p)));
    for (service, port) in services {
        let info = if host.is_unspecified() {
            ServiceInfo::new(service, &instance, &hostname, "", port, &properties[..])?.enable_addr_auto()
        } else {
            ServiceInfo::new(service, &instance, &hostname, host, port, &properties[..])?
        };
        let fullname = info.get_fullname().to_owned();
        daemon.register(info)?;
        tracing::info!(%fullname, port, "announced by DNS-SD");
        fullnames.push(fullname);
    }
    Ok(Announcement { daemon, fullnames })
}

impl Drop for Announcement {
    fn drop(&mut self) {
        for fullname in &self.fullnames {
            let _ = self.daemon.unregister(fullname);
        }
        let _ = self.daemon.shutdown();
    }
}
