//! Checks of what clients send the lab, with the errors GNS3 gives.

use std::net::IpAddr;

use patchbay_shared::Nio;

use super::{LabError, Result};

pub(super) fn check_nio(nio: &Nio) -> Result<()> {
    if nio.lport == 0 || nio.rport == 0 {
        return Err(LabError::Invalid("lport and rport must be between 1 and 65535".into()));
    }
    if !valid_host(&nio.rhost) {
        return Err(LabError::Invalid(format!("rhost: {:?} is not a host name or IP address", nio.rhost)));
    }
    Ok(())
}

pub(super) fn console_taken(port: u16) -> LabError {
    LabError::Conflict(format!("Console port {port} is already in use"))
}

/// VPCS has one adapter with one port.
pub(super) fn check_adapter_port(adapter: u32, port: u32) -> Result<()> {
    if adapter != 0 {
        return Err(LabError::NotFound(format!(
            "Adapter {adapter} doesn't exist on VPCS (it has adapter 0)"
        )));
    }
    if port != 0 {
        return Err(LabError::NotFound(format!("Port {port} doesn't exist on adapter 0 (it has port 0)")));
    }
    Ok(())
}

pub(super) fn valid_name(field: &str, name: String) -> Result<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(LabError::Invalid(format!("{field}: must not be empty")));
    }
    if trimmed.chars().count() > 255 || trimmed.chars().any(char::is_control) {
        return Err(LabError::Invalid(format!("{field}: must be at most 255 printable characters")));
    }
    Ok(trimmed.to_owned())
}

/// An IP address, or a DNS name's syntax.
pub(super) fn valid_host(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok()
        || (!host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }))
}
