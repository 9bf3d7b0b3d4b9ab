//! Objects and request bodies of the GNS3-style HTTP API v1.
//!
//! Request bodies deny unknown fields: a typo in a script must be a 400 that
//! names the field, not a silently ignored setting.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `GET /v1/version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// The GNS3 API level this server speaks (GNS3 clients refuse any other).
    pub version: String,
    /// Whether this is a GNS3 "local server" (`--local`): the GUI's local
    /// server must say true, a remote one false, or the GUI refuses it.
    pub local: bool,
    /// Patchbay's own version, for humans and bug reports.
    pub patchbay: String,
}

/// `POST /v1/version`: a client asking whether it speaks this server's version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionCheck {
    /// The client's API version; it must equal this server's.
    pub version: String,
    /// Whether the client wants a local server; GNS3 clients send it, and it is not checked.
    #[serde(default)]
    pub local: Option<bool>,
}

/// Every error the API returns, whatever the route: `{"status": N, "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The HTTP status, repeated for clients that only read bodies.
    pub status: u16,
    /// What went wrong, in words a user can act on.
    pub message: String,
}

/// A project as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// The project's id, stable across close and open.
    pub project_id: Uuid,
    /// Display name.
    pub name: String,
    /// Temporary projects are deleted, files and all, when closed.
    pub temporary: bool,
    /// Where the project's files live on the server.
    pub path: String,
    /// The directory projects are made in.
    pub location: String,
}

/// `POST /v1/projects`. Posting the `project_id` of a closed project opens it again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectCreate {
    /// Display name; `untitled` when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// The id to use (or to open again); a new one when absent.
    #[serde(default, deserialize_with = "crate::canonical_id::optional")]
    pub project_id: Option<Uuid>,
    /// Deleted with its files when closed; false when absent.
    #[serde(default)]
    pub temporary: Option<bool>,
    /// Accepted as GNS3 clients send it (the GUI sends its own projects
    /// folder, or null); projects stay in the data directory, and the
    /// answer's `path` says where, which the GUI adopts.
    #[serde(default)]
    pub path: Option<String>,
}

/// `PUT /v1/projects/{project_id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectUpdate {
    /// A new display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Make the project temporary, or keep it.
    #[serde(default)]
    pub temporary: Option<bool>,
    /// The GUI's "save as": accepted, and the project stays where it is
    /// (see [`ProjectCreate::path`]).
    #[serde(default)]
    pub path: Option<String>,
}

/// Whether a VM's runtime is running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VmStatus {
    /// Not running: no console, no traffic.
    #[default]
    Stopped,
    /// Running: console open, tunnels live.
    Started,
}

/// A VPCS VM as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vm {
    /// The VM's id.
    pub vm_id: Uuid,
    /// The project it belongs to.
    pub project_id: Uuid,
    /// Display name, unique in its project (the console prompt shows it).
    pub name: String,
    /// TCP port of the VM's telnet console.
    pub console: u16,
    /// Running or not.
    pub status: VmStatus,
    /// Shell commands run when the VM boots (VPCS's `startup.vpc`); `%h`
    /// in a script set through the API reads as the VM's name, as GNS3 does.
    pub startup_script: Option<String>,
    /// `startup.vpc` when the VM has a startup script, as GNS3 1.3 shows it.
    pub startup_script_path: Option<String>,
    /// The process GNS3 1.5 would run for it: none, the PC runs inside the
    /// server (always `""`, as 1.5 shows a VM that is not running).
    #[serde(default)]
    pub command_line: String,
    /// Where the VM's files are, as GNS3 1.5 shows it (its project's directory:
    /// everything of a PC is in `project.json`).
    #[serde(default)]
    pub vm_directory: String,
    /// The adapter's tunnel, if one is attached (VPCS has one adapter with one port).
    pub nio: Option<Nio>,
    /// `00:50:79:66:68:XX`, unique across the server.
    pub mac_address: String,
    /// The address set with `ip` on the console, as `ADDR/LEN`, while the VM runs.
    pub ip_address: Option<String>,
    /// The pcap file its traffic is written to, while a capture runs.
    #[serde(default)]
    pub capture_file_path: Option<String>,
    /// Where it is drawn, as GNS3 keeps it; 0, 0 until someone places it.
    #[serde(default)]
    pub x: i32,
    /// See [`Vm::x`].
    #[serde(default)]
    pub y: i32,
}

/// `POST /v1/projects/{project_id}/vpcs/vms`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmCreate {
    /// Display name, unique in its project.
    pub name: String,
    /// The id to use; a new one when absent.
    #[serde(default, deserialize_with = "crate::canonical_id::optional")]
    pub vm_id: Option<Uuid>,
    /// The console's TCP port; a free one when absent.
    #[serde(default)]
    pub console: Option<u16>,
    /// Commands to run at boot (see [`Vm::startup_script`]).
    #[serde(default)]
    pub startup_script: Option<String>,
}

/// `PUT .../vms/{vm_id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmUpdate {
    /// A new display name.
    #[serde(default)]
    pub name: Option<String>,
    /// A new console port.
    #[serde(default)]
    pub console: Option<u16>,
    /// A new startup script.
    #[serde(default)]
    pub startup_script: Option<String>,
    /// Where to draw it (see [`Vm::x`]).
    #[serde(default)]
    pub x: Option<i32>,
    /// See [`Vm::x`].
    #[serde(default)]
    pub y: Option<i32>,
}

/// A network I/O attached to an adapter port: a UDP tunnel that carries one
/// Ethernet frame per datagram from `lport` to `rhost:rport`.
///
/// A plain struct rather than a serde-tagged enum, so that errors keep the
/// name of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nio {
    /// The tunnel's kind (`type` in JSON): always `nio_udp`.
    #[serde(rename = "type")]
    pub kind: NioKind,
    /// The local UDP port frames arrive on.
    pub lport: u16,
    /// The host frames are sent to.
    pub rhost: String,
    /// The UDP port frames are sent to.
    pub rport: u16,
}

impl Nio {
    /// A UDP tunnel from `lport` to `rhost:rport`.
    pub fn udp(lport: u16, rhost: impl Into<String>, rport: u16) -> Self {
        Nio { kind: NioKind::Udp, lport, rhost: rhost.into(), rport }
    }
}

/// GNS3 knows more kinds (TAP, Ethernet ...); Patchbay links everything with
/// UDP tunnels, as real VPCS does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NioKind {
    /// `nio_udp`: one Ethernet frame per UDP datagram.
    #[serde(rename = "nio_udp")]
    Udp,
}

/// A built-in Ethernet switch (`/v1/projects/{project_id}/switches/vms`):
/// each port a UDP tunnel; it learns MACs and floods unknown destinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switch {
    /// The switch's id (GNS3 calls every node a VM).
    pub vm_id: Uuid,
    /// The project it belongs to.
    pub project_id: Uuid,
    /// Display name, unique in its project.
    pub name: String,
    /// Always `"ethernet_switch"`: tells switches from PCs in notifications.
    pub node_type: String,
    /// Started while it forwards frames (after `start`), stopped otherwise.
    pub status: VmStatus,
    /// Every port, attached or not, by number.
    pub ports: Vec<SwitchPort>,
    /// Where it is drawn (see [`Vm::x`]).
    #[serde(default)]
    pub x: i32,
    /// See [`Vm::x`].
    #[serde(default)]
    pub y: i32,
}

/// One port of a [`Switch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchPort {
    /// Its number, from 0.
    pub port_number: u32,
    /// Its tunnel, if one is attached.
    pub nio: Option<Nio>,
}

/// `POST /v1/projects/{project_id}/switches/vms`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchCreate {
    /// Display name, unique in its project.
    pub name: String,
    /// The id to use; a new one when absent.
    #[serde(default, deserialize_with = "crate::canonical_id::optional")]
    pub vm_id: Option<Uuid>,
    /// How many ports (1 to 64, default 8).
    #[serde(default)]
    pub ports: Option<u32>,
}

/// `PUT /v1/projects/{project_id}/switches/vms/{vm_id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchUpdate {
    /// A new display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Where to draw it (see [`Vm::x`]).
    #[serde(default)]
    pub x: Option<i32>,
    /// See [`Vm::x`].
    #[serde(default)]
    pub y: Option<i32>,
}

/// `POST .../adapters/{a}/ports/{p}/start_capture`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureStart {
    /// A plain file name; the file goes to the project's `project-files/captures/`.
    pub capture_file_name: String,
    /// Only Ethernet (`DLT_EN10MB`), the default.
    #[serde(default)]
    pub data_link_type: Option<String>,
}

/// The answer to `start_capture`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureFile {
    /// The pcap file's full path on the server.
    pub pcap_file_path: String,
}

/// `POST /v1/projects/{project_id}/ports/udp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpPort {
    /// A free UDP port for a tunnel's local end, reserved for this project.
    pub udp_port: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nio_round_trips_in_gns3_shape() {
        let json = r#"{"lport": 10000, "rhost": "127.0.0.1", "rport": 10001, "type": "nio_udp"}"#;
        let nio: Nio = serde_json::from_str(json).unwrap();
        assert_eq!(nio, Nio::udp(10000, "127.0.0.1", 10001));
        let back: serde_json::Value = serde_json::to_value(&nio).unwrap();
        assert_eq!(back, serde_json::from_str::<serde_json::Value>(json).unwrap());
    }

    #[test]
    fn nio_refuses_unknown_fields_and_types() {
        let extra = r#"{"type": "nio_udp", "lport": 1, "rhost": "h", "rport": 2, "x": 1}"#;
        assert!(serde_json::from_str::<Nio>(extra).unwrap_err().to_string().contains("x"));
        let tap = r#"{"type": "nio_tap", "tap_device": "tap0"}"#;
        assert!(serde_json::from_str::<Nio>(tap).is_err());
    }

    #[test]
    fn requests_refuse_unknown_fields() {
        let err = serde_json::from_str::<VmCreate>(r#"{"name": "a", "colour": 1}"#).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }
}
