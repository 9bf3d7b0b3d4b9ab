//! DNS-SD: the OSC service announced as `_osc._udp` by multicast DNS, so
//! that OSC tools find the server by name (mdns-sd does the protocol).
//!
//! Only where the server can be reached: on a loopback host the
//! announcement stays on the loopback interface (as OSCQuery tools expect),
//! on one address it goes out on that address's interface, on 0.0.0.0 on
//! all of them.

use std::net::IpAddr;

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};

pub const SERVICE_TYPE: &str = "_osc._udp.local.";

/// The announcement; dropping it withdraws the service.
pub struct Announcement {
    daemon: ServiceDaemon,
    fullname: String,
}

/// Announces the OSC service on `port`, reachable at `host`.
pub fn announce(host: IpAddr, port: u16) -> Result<Announcement, mdns_sd::Error> {
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
    let properties = [("version", env!("CARGO_PKG_VERSION")), ("tcp", "slip")];
    let instance = format!("Patchbay on {machine}");
    let hostname = format!("{machine}.local.");
    let info = if host.is_unspecified() {
        ServiceInfo::new(SERVICE_TYPE, &instance, &hostname, "", port, &properties[..])?.enable_addr_auto()
    } else {
        ServiceInfo::new(SERVICE_TYPE, &instance, &hostname, host, port, &properties[..])?
    };
    let fullname = info.get_fullname().to_owned();
    daemon.register(info)?;
    tracing::info!(%fullname, port, "OSC announced by DNS-SD");
    Ok(Announcement { daemon, fullname })
}

impl Drop for Announcement {
    fn drop(&mut self) {
        let _ = self.daemon.unregister(&self.fullname);
        let _ = self.daemon.shutdown();
    }
}
