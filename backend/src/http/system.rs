//! The server itself, as GNS3 1.x clients ask for it: its version (and the
//! check of a client's), the host's network interfaces, and, for a "local
//! server" (`--local`), reloading its configuration and shutting it down.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use patchbay_shared::{Version, VersionCheck};
use serde::Serialize;

use super::error::ApiError;
use super::extract::JsonBody;
use super::Shared;
use crate::lab::vpc::pc::mac_text;

pub(crate) async fn version(State(s): State<Shared>) -> Json<Version> {
    Json(Version {
        version: s.gns3_version.clone(),
        local: s.local,
        patchbay: env!("CARGO_PKG_VERSION").into(),
    })
}

/// `POST /v1/version`: 200 with the version when the client's is the same,
/// 409 in GNS3's words when not.
pub(crate) async fn check_version(
    State(s): State<Shared>,
    JsonBody(check): JsonBody<VersionCheck>,
) -> Result<Json<Version>, ApiError> {
    if check.version != s.gns3_version {
        let message =
            format!("Client version {} differs with server version {}", check.version, s.gns3_version);
        return Err(ApiError::new(StatusCode::CONFLICT, message));
    }
    Ok(version(State(s)).await)
}

/// One network interface of the host, as GNS3 lists them (for Cloud and
/// Host nodes; 1.5 adds the IPv4 and MAC addresses).
#[derive(Serialize, Default)]
pub(crate) struct Interface {
    id: String,
    name: String,
    ip_address: String,
    mac_address: String,
}

pub(crate) async fn interfaces() -> Result<Json<Vec<Interface>>, ApiError> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(|e| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("Cannot list interfaces: {e}"))
    })?;
    let mut found: std::collections::BTreeMap<String, Interface> = Default::default();
    for a in addrs {
        let name = a.interface_name.clone();
        let entry = found.entry(name.clone()).or_insert_with(|| Interface {
            id: name.clone(),
            name,
            ..Default::default()
        });
        let Some(address) = a.address else { continue };
        if let Some(v4) = address.as_sockaddr_in() {
            if entry.ip_address.is_empty() {
                entry.ip_address = v4.ip().to_string();
            }
        } else if let Some(mac) = address.as_link_addr().and_then(|l| l.addr()) {
            entry.mac_address = mac_text(smoltcp::wire::EthernetAddress(mac));
        }
    }
    Ok(Json(found.into_values().collect()))
}

/// `POST /v1/config/reload`: there is nothing to reload (the configuration
/// is the command line), so a local server says it did, as GNS3's does.
pub(crate) async fn reload_config(State(s): State<Shared>) -> Result<StatusCode, ApiError> {
    if !s.local {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "You can only reload the configuration for a local server",
        ));
    }
    Ok(StatusCode::CREATED)
}

/// `POST /v1/server/shutdown`: the GUI stops the local server it started
/// when it exits. Projects are on disk already; the server stops as on Ctrl-C.
pub(crate) async fn shutdown(State(s): State<Shared>) -> Result<StatusCode, ApiError> {
    if !s.local {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "You can only stop a local server"));
    }
    tracing::info!("stopping: POST /v1/server/shutdown");
    s.app.shutdown.cancel();
    Ok(StatusCode::CREATED)
}
