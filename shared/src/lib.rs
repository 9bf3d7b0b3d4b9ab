//! Serde types that the Patchbay server and its dashboard both speak.
//!
//! The JSON shapes follow the GNS3 server API v1 (seed 000), so that GNS3-era
//! scripts and Patchbay's own dashboard read the same objects.
//!
//! Layout:
//! - [`api`]: the objects of `/v1/...` (projects, VMs, NIOs, errors) and their request bodies;
//! - [`canonical_id`]: ids in their one canonical spelling;
//! - [`engine`]: the engine's wire types (changes, patch files, transform types, status);
//! - [`lab_layout`]: where a canvas draws a lab's nodes and links;
//! - [`lab_delta`]: the lab as a client sees it, kept current by `project.*` and `vm.*` notifications;
//! - [`notify`]: the notification stream's `{"action", "event"}` lines and action names;
//! - [`osc`]: OSC messages as JSON, for the WebSocket bridge;
//! - [`palette_markup`]: the palette's transform types as markup;
//! - [`patch_delta`]: a patch file kept current by the engine's change events;
//! - [`patch_history`]: undo and redo of a page's own patch edits, as OSC messages;
//! - [`patch_layout`]: where a canvas draws a patch's boxes, ports and wires;
//! - [`patch_markup`]: a laid-out patch as SVG markup, names escaped;
//! - [`patch_ports`]: every transform's inlets and outlets, kept current the same way;
//! - [`resync`]: filling a store from a fetch while its deltas keep arriving;
//! - [`topology`]: which tunnels link which PCs and switches;
//! - [`value`]: the engine's values and their types (OSW's type set), with their casts;
//! - [`value_reading`]: a value read back with `current-value`, and whether it is news to a page.
//!
//! No tokio, no leptos: this crate builds for wasm32 as well as for the host.

pub mod api;
pub mod canonical_id;
pub mod engine;
#[cfg(test)]
mod fixtures;
pub mod lab_delta;
pub mod lab_layout;
pub mod notify;
pub mod number_drag;
pub mod osc;
pub mod palette_markup;
pub mod patch_delta;
pub mod patch_history;
pub mod patch_layout;
pub mod patch_markup;
pub mod patch_ports;
pub mod resync;
pub mod topology;
pub mod value;
pub mod value_reading;

pub use api::*;
pub use notify::*;
pub use osc::*;
