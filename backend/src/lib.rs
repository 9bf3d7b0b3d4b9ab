//! Patchbay: a networked lab server for sound and networks.
//!
//! Layout, from the bottom up (each layer uses only the layers above it in
//! this list; `scripts/check-layers.sh` fails the build if one reaches down):
//! - [`access`]: who may reach the server and do what (Host, Origin, tokens, OSC sources);
//! - [`limit_log`]: one log line per limit a client hits, rate-limited;
//! - [`fanout`]: one publisher to many consumers, each bounded in events and bytes;
//! - [`engine`]: the OSW-style audio engine (graph, transforms, clocks); no tokio, no sockets;
//! - [`engine_host`]: the engine inside the server: its clock, and its one owner thread, which
//!   every view sends commands to (the OSC UDP loop runs on it) and which announces changes;
//! - [`lab`]: projects of virtual PCs and switches, ports, tunnels, persistence;
//! - [`notify`]: the hub every change is announced on;
//! - [`model`]: the one model under every view (lab, engine host, hub, powers); no axum, no sockets;
//! - [`namespace`]: the OSC address tree over the model (seed 001's semantics);
//! - [`app`]: one entry point for every view: dispatch, the traffic feed, quitting;
//! - [`osc`]: the OSC codec and patterns (used by the namespace) and its transports (UDP, TCP);
//! - [`http`]: the GNS3 API v1, notification streams, the bridge and the dashboard;
//! - [`server`]: configuration and start-up of all of it;
//! - [`cli`]: `patchbay osc`, a shell that drives any server over OSC;
//! - [`logging`]: tracing set-up that also feeds `log.*` notifications;
//! - [`memory`]: memory freed after a burst handed back to the system.
//!
//! The crate's public surface is what the binary, the integration tests and
//! the benchmarks use: [`server`], [`cli`], [`logging`], [`access::tokens`],
//! the [`engine`]'s offline API, the [`osc`] codec, and [`decoders`]. The rest
//! is `pub(crate)`, so the compiler finds dead code and every public item has
//! a doc (`missing_docs` and `unreachable_pub` are workspace lints).

// The layout above documents private modules too, for contributors
// (`cargo doc --document-private-items`).
#![allow(rustdoc::private_intra_doc_links)]

pub mod access;
pub(crate) mod app;
pub mod cli;
pub mod engine;
pub(crate) mod engine_host;
pub(crate) mod fanout;
pub(crate) mod http;
pub(crate) mod lab;
pub(crate) mod limit_log;
pub mod logging;
pub(crate) mod memory;
pub(crate) mod model;
pub(crate) mod namespace;
pub(crate) mod notify;
pub mod osc;
pub mod server;

/// The decoders of untrusted input (besides OSC's, in [`osc`]) that the fuzz
/// tests drive from outside the crate.
pub mod decoders {
    pub use crate::http::bridge::to_json;
    pub use crate::http::extract::parse_json;
    pub use crate::lab::vpc::{pc::Pc, telnet, wire};
}
