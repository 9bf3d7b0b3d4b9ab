//! Serde types that the Patchbay server and its dashboard both speak.
//!
//! The JSON shapes follow the GNS3 server API v1 (seed 000), so that GNS3-era
//! scripts and Patchbay's own dashboard read the same objects.
//!
//! Layout:
//! - [`api`]: the objects of `/v1/...` (projects, VMs, NIOs, errors) and their request bodies;
//! - [`canonical_id`]: ids in their one canonical spelling;
//! - [`notify`]: the notification stream's `{"action", "event"}` lines and action names;
//! - [`osc`]: OSC messages as JSON, for the WebSocket bridge;
//! - [`topology`]: which tunnels link which PCs and switches.
//!
//! No tokio, no leptos: this crate builds for wasm32 as well as for the host.

pub mod api;
pub mod canonical_id;
pub mod notify;
pub mod osc;
pub mod topology;

pub use api::*;
pub use notify::*;
pub use osc::*;
