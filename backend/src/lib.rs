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

pub mod access;
pub mod app;
pub mod cli;
pub mod engine;
pub mod engine_host;
pub mod fanout;
pub mod http;
pub mod lab;
pub mod limit_log;
pub mod logging;
pub mod memory;
pub mod model;
pub mod namespace;
pub mod notify;
pub mod osc;
pub mod server;
